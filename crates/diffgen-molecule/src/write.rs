//! The files `diffgen run --modality molecule` writes.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use diffgen_core::checkpoint::write_atomic;
use diffgen_core::plot::line_plot;
use diffgen_core::CoreError;

use crate::data::{
    bond_length_histogram, MoleculeStats, BOND_BINS, BOND_BIN_START, BOND_BIN_WIDTH,
};
use crate::metrics::{Analysis, Summary};
use crate::xyz::{to_xyz, Molecule};

fn save(path: &Path, text: &str) -> Result<PathBuf, CoreError> {
    write_atomic(path, |f| f.write_all(text.as_bytes()))?;
    Ok(path.to_path_buf())
}

/// `<stem>.xyz` (all frames), `<stem>.sdf` (all records) and `pdb/<stem>_<index>.pdb`.
pub fn write_molecules(
    dir: &Path,
    stem: &str,
    molecules: &[(usize, Molecule)],
    analyses: &[Analysis],
) -> Result<Vec<PathBuf>, CoreError> {
    let all: Vec<Molecule> = molecules.iter().map(|(_, m)| m.clone()).collect();
    let mut files = vec![save(&dir.join(format!("{stem}.xyz")), &to_xyz(&all))?];
    let mut sdf = String::new();
    for ((i, m), a) in molecules.iter().zip(analyses) {
        sdf.push_str(&crate::sdf::to_sdf_record(
            m,
            &a.bonds,
            &format!("diffgen molecule {i}"),
        ));
    }
    files.push(save(&dir.join(format!("{stem}.sdf")), &sdf)?);
    let pdb_dir = dir.join("pdb");
    for ((i, m), a) in molecules.iter().zip(analyses) {
        let text = crate::pdb::to_pdb(m, &a.bonds, &format!("diffgen molecule {i}"))
            .map_err(|e| CoreError::Other(format!("molecule {i}: {e}")))?;
        save(&pdb_dir.join(format!("{stem}_{i:05}.pdb")), &text)?;
    }
    files.push(pdb_dir);
    Ok(files)
}

/// One multi-frame XYZ per molecule: `trajectories/<stem>_<index>.xyz`.
pub fn write_trajectories(
    dir: &Path,
    stem: &str,
    trajectories: &BTreeMap<usize, Vec<Molecule>>,
) -> Result<Vec<PathBuf>, CoreError> {
    let folder = dir.join("trajectories");
    for (i, frames) in trajectories {
        let frames: Vec<Molecule> = frames
            .iter()
            .enumerate()
            .map(|(k, m)| Molecule {
                comment: format!("molecule {i} frame {k}"),
                ..m.clone()
            })
            .collect();
        save(&folder.join(format!("{stem}_{i:05}.xyz")), &to_xyz(&frames))?;
    }
    Ok(vec![folder])
}

/// `<stem>.metrics.json` and two PNGs comparing samples with the training data: atoms per
/// molecule and bond lengths.
pub fn write_summary(
    dir: &Path,
    stem: &str,
    summary: &Summary,
    molecules: &[&Molecule],
    stats: &MoleculeStats,
) -> Result<Vec<PathBuf>, CoreError> {
    let json = serde_json::json!({
        "molecules": summary.molecules,
        "atom_stability": summary.atom_stability,
        "molecule_stability": summary.molecule_stability,
        "validity": summary.validity,
        "uniqueness": summary.uniqueness,
        "valid_and_unique": summary.valid_and_unique,
        "novelty": summary.novelty,
    });
    let mut files = vec![save(
        &dir.join(format!("{stem}.metrics.json")),
        &serde_json::to_string_pretty(&json).expect("json"),
    )?];

    let normalise = |counts: &[(f64, f64)]| {
        let total: f64 = counts.iter().map(|c| c.1).sum::<f64>().max(1.0);
        counts
            .iter()
            .map(|&(x, c)| (x, c / total))
            .collect::<Vec<_>>()
    };
    let max_n = stats
        .atom_counts
        .keys()
        .copied()
        .chain(molecules.iter().map(|m| m.len()))
        .max()
        .unwrap_or(1);
    let mut sample_counts = vec![0f64; max_n + 1];
    for m in molecules {
        sample_counts[m.len()] += 1.0;
    }
    let samples: Vec<(f64, f64)> = (0..=max_n).map(|n| (n as f64, sample_counts[n])).collect();
    let data: Vec<(f64, f64)> = (0..=max_n)
        .map(|n| (n as f64, *stats.atom_counts.get(&n).unwrap_or(&0) as f64))
        .collect();
    let atoms_png = dir.join(format!("{stem}.atoms.png"));
    line_plot(
        &atoms_png,
        "atoms per molecule",
        "atoms",
        "share of molecules",
        &[
            ("samples", &normalise(&samples)),
            (&format!("data ({})", stats.dataset), &normalise(&data)),
        ],
        false,
    )?;
    files.push(atoms_png);

    let sample_bonds = bond_length_histogram(molecules.iter().copied());
    let bin = |k: usize| BOND_BIN_START + (k as f64 + 0.5) * BOND_BIN_WIDTH;
    let samples: Vec<(f64, f64)> = (0..BOND_BINS)
        .map(|k| (bin(k), sample_bonds[k] as f64))
        .collect();
    let data: Vec<(f64, f64)> = (0..BOND_BINS)
        .map(|k| (bin(k), *stats.bond_lengths.get(k).unwrap_or(&0) as f64))
        .collect();
    let bonds_png = dir.join(format!("{stem}.bond_lengths.png"));
    line_plot(
        &bonds_png,
        "perceived bond lengths",
        "distance (Å)",
        "share of bonds",
        &[
            ("samples", &normalise(&samples)),
            (&format!("data ({})", stats.dataset), &normalise(&data)),
        ],
        false,
    )?;
    files.push(bonds_png);
    Ok(files)
}
