//! The files `eval` reads: XYZ, SDF and PDB, and directories of them. A run directory (one
//! with a `manifest.json`) stands for its samples, read once from the fullest file it holds.

use std::path::{Path, PathBuf};

use crate::{pdb, perceive, sdf, xyz, MoleculeError, MoleculeSample};

/// The formats by file name; `None`: not a molecule file.
fn format_of(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    [".sdf", ".xyz", ".xyz.gz", ".pdb"]
        .into_iter()
        .find(|ext| name.ends_with(ext))
}

/// The files `paths` name: files as given, run directories by their samples, other
/// directories by every molecule file under them (sorted).
pub fn eval_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, MoleculeError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let found = if path.join("manifest.json").is_file() {
            run_samples(path)?
        } else {
            let mut found = Vec::new();
            collect(path, &mut found)?;
            found
        };
        if found.is_empty() {
            return Err(MoleculeError::Data(format!(
                "{}: no XYZ, SDF or PDB files in this directory",
                path.display()
            )));
        }
        files.extend(found);
    }
    Ok(files)
}

fn listing(dir: &Path) -> Result<Vec<PathBuf>, MoleculeError> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| MoleculeError::Data(format!("{}: {e}", dir.display())))?;
    let mut entries: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    Ok(entries)
}

/// A run's samples: its SDF collections (shards included, the valid-only file left out, as
/// its records are in the full one), else its XYZ collections.
fn run_samples(dir: &Path) -> Result<Vec<PathBuf>, MoleculeError> {
    let collections: Vec<PathBuf> = listing(dir)?
        .into_iter()
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("samples") && !n.contains(".valid."))
        })
        .collect();
    for ext in [".sdf", ".xyz"] {
        let chosen: Vec<PathBuf> = collections
            .iter()
            .filter(|p| format_of(p) == Some(ext))
            .cloned()
            .collect();
        if !chosen.is_empty() {
            return Ok(chosen);
        }
    }
    Ok(Vec::new())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), MoleculeError> {
    for entry in listing(dir)? {
        if entry.is_dir() {
            collect(&entry, out)?;
        } else if format_of(&entry).is_some() {
            out.push(entry);
        }
    }
    Ok(())
}

/// The molecules of one file, with their bonds and charges where the format has them.
pub fn read_samples(file: &Path) -> Result<Vec<MoleculeSample>, MoleculeError> {
    let text = || {
        std::fs::read_to_string(file)
            .map_err(|e| MoleculeError::Data(format!("{}: {e}", file.display())))
    };
    Ok(match format_of(file) {
        Some(".sdf") => sdf::parse_sdf(&text()?, file)?
            .into_iter()
            .map(|r| MoleculeSample {
                molecule: r.molecule,
                structure: Some(perceive::Perceived {
                    bonds: r.bonds,
                    charges: r.charges,
                }),
            })
            .collect(),
        Some(".pdb") => {
            let (molecule, structure) = pdb::parse_pdb(&text()?, file)?;
            vec![MoleculeSample {
                molecule,
                structure: Some(structure),
            }]
        }
        _ => xyz::read_xyz(file)?
            .into_iter()
            .map(|molecule| MoleculeSample {
                molecule,
                structure: None,
            })
            .collect(),
    })
}
