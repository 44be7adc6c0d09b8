//! Access to the shared protein data for the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use diffgen_protein::io::{self, load_split, read_structure};
use diffgen_protein::structure::Backbone;

// The shared data (`$DIFFGEN_SHARED` or `../shared`); `None` means skip the test.
pub use diffgen_test_support::shared;

/// The data root holding [`io::SHARED_FILE`] (what `--data` points at).
pub fn data_root() -> Option<PathBuf> {
    shared(&format!("datasets/{}", io::SHARED_FILE))?;
    Some(diffgen_test_support::shared_root().join("datasets"))
}

/// The test split, loaded once per test binary.
pub fn test_split() -> Option<&'static [Backbone]> {
    static SPLIT: OnceLock<Vec<Backbone>> = OnceLock::new();
    let root = data_root()?;
    Some(SPLIT.get_or_init(|| load_split(&root, "test").expect("test split")))
}

/// The 12 sample PDB files, sorted, with their single segment each.
pub fn sample_pdbs() -> Option<Vec<(PathBuf, Backbone)>> {
    let dir = shared("datasets/proteins/sample_pdb")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdb"))
        .collect();
    files.sort();
    Some(
        files
            .into_iter()
            .map(|f| {
                let (mut b, w) = read_structure(&f, None).unwrap();
                assert!(w.is_empty(), "{w:?}");
                assert_eq!(b.len(), 1, "{}", f.display());
                (f, b.remove(0))
            })
            .collect(),
    )
}

/// The Cα recipe shrunk for tests (2 × 64 wide, chains ≤ 64, 600 of them, batches of 16, no
/// validation or checkpoints on the way, a fast schedule), with `model_extra` added to
/// `[model]`.
pub fn small_ca_config(model_extra: &str) -> String {
    include_str!("../../../../configs/protein-cath-ca.toml")
        .replace("hidden = 128", &format!("hidden = 64{model_extra}"))
        .replace("layers = 4", "layers = 2")
        .replace("feed_forward = 256", "feed_forward = 128")
        .replace(
            "max_length = 128",
            "max_length = 64\nmax_train_chains = 600",
        )
        .replace("batch_size = 32", "batch_size = 16")
        .replace("log_every = 50", "log_every = 10")
        .replace("val_every = 500", "val_every = 0")
        .replace("checkpoint_every = 500", "checkpoint_every = 0")
        .replace("warmup_steps = 500", "warmup_steps = 10")
        .replace("lr = 5e-4", "lr = 2e-3")
}
