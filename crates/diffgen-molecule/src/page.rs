//! The molecule sections of `diffgen report`: every sample in a ball-and-stick viewer from
//! its SDF record's own bonds, with formula and validity, stability and connectivity marks,
//! filterable, a page of the grid at a time.

use std::path::{Path, PathBuf};

use diffgen_core::page::{trajectory_viewers, viewer_grid, GridRecord, PageSection, RunDir};

use crate::metrics::structure::analyse_structure;
use crate::perceive::Perceived;
use crate::{sdf, MoleculeError};

/// At most this many records go into the page; the figures cover all of them.
pub const MAX_SHOWN: usize = 1000;
/// Viewers per page of the grid.
const PER_PAGE: usize = 12;

/// The run's SDF collections (shards included, the valid-only file left out).
fn sdf_files(run: &RunDir) -> Vec<PathBuf> {
    run.files()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("samples")
                && name.ends_with(".sdf")
                && !name.contains(".valid.")
                && p.parent() == Some(run.dir())
        })
        .collect()
}

/// One record's text per `$$$$`, each read on its own so a broken one is marked, not fatal.
fn records_of(path: &Path) -> Result<Vec<GridRecord>, MoleculeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| MoleculeError::Data(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    let mut current = String::new();
    let mut index = 0;
    let mut flush = |record: &str, index: usize| {
        let shown = format!("#{index}");
        match sdf::parse_sdf(record, path) {
            Ok(parsed) if parsed.len() == 1 => {
                let r = &parsed[0];
                let structure = Perceived {
                    bonds: r.bonds.clone(),
                    charges: r.charges.clone(),
                };
                let a = analyse_structure(&r.molecule, &structure);
                out.push(GridRecord {
                    text: record.to_string(),
                    caption: format!("{shown} {}", r.molecule.formula()),
                    marks: vec![
                        ("valid", a.valid),
                        ("stable", a.stable),
                        ("connected", a.fragments == 1),
                    ],
                    broken: None,
                });
            }
            Ok(_) => out.push(GridRecord {
                text: String::new(),
                caption: shown,
                marks: Vec::new(),
                broken: Some("not one record".into()),
            }),
            Err(e) => out.push(GridRecord {
                text: String::new(),
                caption: shown,
                marks: Vec::new(),
                broken: Some(e.to_string()),
            }),
        }
    };
    for line in text.lines() {
        current.push_str(line);
        current.push('\n');
        if line.trim_end() == "$$$$" {
            flush(&current, index);
            index += 1;
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        // A file cut short: its last record has no terminator.
        flush(&current, index);
    }
    Ok(out)
}

/// The grid of a sampling run's molecules (nothing for a training run).
pub fn sections(run: &RunDir) -> Result<Vec<PageSection>, MoleculeError> {
    if matches!(run, RunDir::Training { .. }) {
        return Ok(Vec::new());
    }
    let files = sdf_files(run);
    if files.is_empty() {
        return Err(MoleculeError::Data(format!(
            "{}: the run lists no samples SDF file to show",
            run.dir().display()
        )));
    }
    let mut records = Vec::new();
    for file in &files {
        records.extend(records_of(file)?);
    }
    if records.is_empty() {
        return Err(MoleculeError::Data(format!(
            "{}: no molecules in the run's SDF files",
            run.dir().display()
        )));
    }
    let total = records.len();
    let broken = records.iter().filter(|r| r.broken.is_some()).count();
    let count = |name: &str| {
        records
            .iter()
            .filter(|r| r.marks.iter().any(|&(k, ok)| k == name && ok))
            .count()
    };
    let summary = format!(
        "<p class=\"note\">{total} molecules: {} valid, {} stable, {} one fragment (on the \
         records' own bonds and charges){}{}</p>",
        count("valid"),
        count("stable"),
        count("connected"),
        if broken > 0 {
            format!("; {broken} records could not be read (marked below)")
        } else {
            String::new()
        },
        if total > MAX_SHOWN {
            format!("; the grid holds the first {MAX_SHOWN}")
        } else {
            String::new()
        }
    );
    records.truncate(MAX_SHOWN);
    let mut sections = vec![PageSection {
        title: "Molecules".into(),
        html: summary + &viewer_grid("sdf", &records, PER_PAGE, &["valid", "stable", "connected"]),
    }];
    let trajectories = run.trajectories("xyz");
    if !trajectories.is_empty() {
        sections.push(PageSection {
            title: "Denoising trajectories".into(),
            html: trajectory_viewers("xyz", &trajectories),
        });
    }
    Ok(sections)
}
