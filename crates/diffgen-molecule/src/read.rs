//! The files `eval` reads: XYZ, SDF and PDB, and directories of them. A run directory (one
//! with a manifest) stands for the samples its manifests list, read once from the fullest
//! file that holds them.

use std::path::{Path, PathBuf};

use crate::{pdb, perceive, sdf, xyz, MoleculeError, MoleculeSample};

/// The formats by file name; `None`: not a molecule file.
fn format_of(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    [".sdf", ".xyz", ".xyz.gz", ".pdb"]
        .into_iter()
        .find(|ext| name.ends_with(ext))
}

/// The files `paths` name: files as given, run directories (any `manifest*.json`) by the
/// samples their manifests list, other directories by every molecule file under them.
pub fn eval_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, MoleculeError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let manifests = manifests(path)?;
        let found = if manifests.is_empty() {
            let mut found = Vec::new();
            collect(path, &mut found)?;
            found
        } else {
            run_samples(path, &manifests)?
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

/// The run manifests of a directory: the whole run's alone when there is one (its shards'
/// samples would repeat it), else every shard's.
fn manifests(dir: &Path) -> Result<Vec<PathBuf>, MoleculeError> {
    let whole = dir.join("manifest.json");
    if whole.is_file() {
        return Ok(vec![whole]);
    }
    Ok(listing(dir)?
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("manifest.shard-") && n.ends_with(".json"))
        })
        .collect())
}

/// The sample collections `manifests` list: their SDF files (the valid-only file left out,
/// as its records are in the full one), else their XYZ files.
fn run_samples(dir: &Path, manifests: &[PathBuf]) -> Result<Vec<PathBuf>, MoleculeError> {
    let mut collections = Vec::new();
    for path in manifests {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MoleculeError::Data(format!("{}: {e}", path.display())))?;
        let manifest: diffgen_core::pipeline::Manifest =
            serde_json::from_str(&text).map_err(|e| {
                MoleculeError::Data(format!("{}: not a diffgen manifest: {e}", path.display()))
            })?;
        collections.extend(
            manifest
                .files
                .iter()
                .filter(|f| f.components().count() == 1)
                .filter(|f| {
                    f.to_str()
                        .is_some_and(|n| n.starts_with("samples") && !n.contains(".valid."))
                })
                .map(|f| dir.join(f)),
        );
    }
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
