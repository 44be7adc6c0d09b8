//! Access to the shared protein data for the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use diffgen_protein::io::{load_split, read_structure};
use diffgen_protein::structure::Backbone;

/// `../shared/<sub>` beside the checkout (or under `$DIFFGEN_SHARED`). Missing data fails the
/// test unless `DIFFGEN_ALLOW_MISSING_DATA=1`, in which case the test returns early.
pub fn shared(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("DIFFGEN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let path = root.join(sub);
    if path.exists() {
        Some(path)
    } else if std::env::var_os("DIFFGEN_ALLOW_MISSING_DATA").is_some() {
        eprintln!("skipped: {} is missing", path.display());
        None
    } else {
        panic!(
            "{} is missing (set DIFFGEN_SHARED, or DIFFGEN_ALLOW_MISSING_DATA=1 to skip)",
            path.display()
        );
    }
}

/// The data root holding `proteins/` (what `--data` points at).
pub fn data_root() -> Option<PathBuf> {
    shared("datasets/proteins").map(|p| p.parent().unwrap().to_path_buf())
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
