//! Writes the QM9 reference the molecule figures are printed beside:
//! - `weights/qm9-reference.json`: bond-length and bond-angle histograms of QM9 test with
//!   its perceived bonds, and every figure measured on QM9 valid;
//! - `weights/qm9-train-structure-keys.bin`: the sorted hashes of QM9 train's structure keys
//!   (perceived bonds and charges), for the novelty of generated structures.
//!
//! cargo run --release -p diffgen-molecule --example qm9_reference -- ../shared/datasets

use std::collections::BTreeMap;
use std::path::PathBuf;

use diffgen_molecule::metrics::geometry::{compare, GeometryHistograms};
use diffgen_molecule::metrics::reference::{MoleculeFigures, Qm9Reference};
use diffgen_molecule::metrics::structure::{
    analyse_structure, structure_key_hashes, summarise_structures,
};
use diffgen_molecule::metrics::{analyse, summarise};
use diffgen_molecule::perceive::{perceive, Perceived};
use diffgen_molecule::xyz::{read_xyz, Molecule};
use rayon::prelude::*;

/// Every molecule with its perceived structure; those perception cannot settle are left out.
fn perceived(molecules: Vec<Molecule>) -> (Vec<(Molecule, Perceived)>, usize) {
    let total = molecules.len();
    let kept: Vec<(Molecule, Perceived)> = molecules
        .into_par_iter()
        .filter_map(|m| perceive(&m).ok().map(|p| (m, p)))
        .collect();
    let left_out = total - kept.len();
    (kept, left_out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "../shared/datasets".into()),
    );
    let weights = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weights");
    let split = |name: &str| read_xyz(&root.join(format!("qm9/qm9_{name}.xyz.gz")));

    let train = split("train")?;
    let distance_keys = diffgen_molecule::qm9_key_hashes(&train);
    let (train, train_left_out) = perceived(train);
    let mut keys: Vec<u64> = structure_key_hashes(train.iter().map(|(m, p)| (m, p)))
        .into_iter()
        .collect();
    keys.sort_unstable();
    let bytes: Vec<u8> = keys.iter().flat_map(|h| h.to_le_bytes()).collect();
    std::fs::write(weights.join("qm9-train-structure-keys.bin"), bytes)?;
    println!(
        "{} structure keys from {} train molecules ({train_left_out} not perceived)",
        keys.len(),
        train.len()
    );
    let train_keys: std::collections::HashSet<u64> = keys.into_iter().collect();

    let (test, test_left_out) = perceived(split("test")?);
    let geometry = GeometryHistograms::from_structures(test.iter().map(|(m, p)| (m, p)));

    let valid = split("valid")?;
    let analyses: Vec<_> = valid.iter().map(analyse).collect();
    let distances = summarise(&analyses, Some(&distance_keys));
    let valid_count = valid.len();
    let (valid, valid_left_out) = perceived(valid);
    let structures: Vec<_> = valid.iter().map(|(m, p)| analyse_structure(m, p)).collect();
    let summary = summarise_structures(&structures, Some(&train_keys));
    let valid_geometry = GeometryHistograms::from_structures(valid.iter().map(|(m, p)| (m, p)));
    let figures = MoleculeFigures {
        distances,
        own_bonds: Some((summary, Some(compare(&valid_geometry, &geometry)))),
    };
    let figures: BTreeMap<String, f64> = figures
        .figures()
        .into_iter()
        .map(|(name, value, _)| (name, value))
        .collect();
    let reference = Qm9Reference {
        source: format!(
            "QM9 valid ({valid_count} molecules; own bonds: the {} whose bonds and charges \
             this crate perceives, {valid_left_out} left out) measured by this crate's \
             metrics, novelty against QM9 train, geometry against QM9 test ({} molecules, \
             {test_left_out} left out); examples/qm9_reference.rs",
            valid.len(),
            test.len()
        ),
        geometry,
        figures,
    };
    let path = weights.join("qm9-reference.json");
    std::fs::write(&path, serde_json::to_string(&reference)?)?;
    println!("{}: {}", path.display(), reference.source);
    for (name, value) in &reference.figures {
        println!("  {name}: {value:.4}");
    }
    Ok(())
}
