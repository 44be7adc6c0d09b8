//! Writes `weights/qm9-train-keys.bin`: the sorted 64-bit hashes of the canonical keys of
//! QM9 train's valid molecules, which novelty uses when the data is not present.
//!
//! cargo run --release -p diffgen-molecule --example qm9_train_keys -- ../shared/datasets

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "../shared/datasets".into()),
    );
    let molecules = diffgen_molecule::xyz::read_xyz(&root.join("qm9/qm9_train.xyz.gz"))?;
    let mut hashes: Vec<u64> = diffgen_molecule::qm9_key_hashes(&molecules)
        .into_iter()
        .collect();
    hashes.sort_unstable();
    let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weights/qm9-train-keys.bin");
    std::fs::write(&out, bytes)?;
    println!(
        "{}: {} keys from {} molecules",
        out.display(),
        hashes.len(),
        molecules.len()
    );
    Ok(())
}
