//! Writes `weights/ca-rebuild.json`, the table `rebuild` places N, C and O from, fitted on
//! the train split, then measures it on the valid split. Run after changing the rebuild:
//!
//! ```sh
//! cargo run --release -p diffgen-protein --example ca_rebuild_table -- [DATA_ROOT]
//! ```
//!
//! `DATA_ROOT` holds `proteins/` (default: `$DIFFGEN_DATA`, else `../shared/datasets`).

use std::path::PathBuf;

use diffgen_protein::dssp::{agreement, dssp};
use diffgen_protein::io::{load_split, SHARED_FILE};
use diffgen_protein::metrics::{js_divergence, ramachandran_histogram};
use diffgen_protein::rebuild::RebuildTable;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("DIFFGEN_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/datasets"));
    let train = load_split(&root, "train")?;
    let source = format!(
        "train split of {SHARED_FILE} ({} domains), by examples/ca_rebuild_table.rs",
        train.len()
    );
    let table = RebuildTable::fit(&train, &source);
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weights/ca-rebuild.json");
    let json = table.to_json();
    std::fs::write(&out, &json)?;
    println!("{}: {} bytes", out.display(), json.len());

    // The valid split: RMSD of the rebuilt atoms (no superposition: Cα are the real ones).
    let valid = load_split(&root, "valid")?;
    let (mut se, mut atoms, mut chains) = ([0.0; 3], 0usize, 0.0);
    let (mut c_n, mut bonds) = (0.0, 0usize);
    let (mut ss3, mut ss8, mut residues) = (0usize, 0usize, 0usize);
    let mut rebuilt = Vec::with_capacity(valid.len());
    for b in &valid {
        let r = table.rebuild(&b.id, &b.ca);
        rebuilt.push(r.clone());
        let mut chain = 0.0;
        for i in 0..b.len() {
            let e = [
                (r.n[i] - b.n[i]).norm_squared(),
                (r.c[i] - b.c[i]).norm_squared(),
                (r.o[i] - b.o[i]).norm_squared(),
            ];
            se.iter_mut().zip(e).for_each(|(s, e)| *s += e);
            chain += e.iter().sum::<f64>();
        }
        atoms += b.len();
        chains += (chain / (3 * b.len()) as f64).sqrt();
        for i in 1..b.len() {
            c_n += (r.n[i] - r.c[i - 1]).norm();
            bonds += 1;
        }
        let (ours, theirs) = (dssp(&r), dssp(b));
        ss3 += agreement(&ours, &theirs, true).0;
        ss8 += agreement(&ours, &theirs, false).0;
        residues += b.len();
    }
    let rmsd = se.map(|s| (s / atoms as f64).sqrt());
    println!(
        "valid ({} domains): RMSD N {:.3} C {:.3} O {:.3} Å, per-chain N/C/O RMSD mean {:.3} Å; C–N {:.3} Å; DSSP agreement 3-state {:.2} %, 8-state {:.2} %",
        valid.len(),
        rmsd[0],
        rmsd[1],
        rmsd[2],
        chains / valid.len() as f64,
        c_n / bonds as f64,
        100.0 * ss3 as f64 / residues as f64,
        100.0 * ss8 as f64 / residues as f64,
    );
    // The floor the rebuild puts under a Cα model's Ramachandran figure: the JS divergence
    // of rebuilt valid chains from the test split, beside that of the real valid chains.
    let test = ramachandran_histogram(&load_split(&root, "test")?);
    println!(
        "Ramachandran JS to the test split: valid chains {:.4}, rebuilt from their Cα {:.4}",
        js_divergence(&ramachandran_histogram(&valid), &test),
        js_divergence(&ramachandran_histogram(&rebuilt), &test),
    );
    Ok(())
}
