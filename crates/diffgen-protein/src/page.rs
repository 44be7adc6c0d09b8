//! The protein sections of `diffgen report`: every backbone as a cartoon coloured by the
//! viewer's secondary-structure assignment, with its length, radius-of-gyration ratio and
//! clash flag, a page of the grid at a time.

use diffgen_core::page::{trajectory_viewers, viewer_grid, GridRecord, PageSection, RunDir};

use crate::io::read_structure_bytes;
use crate::metrics::SetStats;
use crate::ProteinError;

/// Backbones per page of the grid.
const PER_PAGE: usize = 8;
/// At most this many backbones go into the page.
pub const MAX_SHOWN: usize = 500;

/// The grid of a sampling run's backbones (nothing for a training run).
pub fn sections(run: &RunDir) -> Result<Vec<PageSection>, ProteinError> {
    if matches!(run, RunDir::Training { .. }) {
        return Ok(Vec::new());
    }
    let files: Vec<_> = run
        .files()
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "pdb")
                && p.parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|d| d == "samples")
        })
        .collect();
    if files.is_empty() {
        return Err(ProteinError::Structure {
            path: run.dir().to_path_buf(),
            reason: "the run lists no sample PDB files to show".into(),
        });
    }
    let total = files.len();
    let mut records = Vec::new();
    for (k, path) in files.iter().take(MAX_SHOWN).enumerate() {
        let shown = format!("#{k}");
        let record = match std::fs::read(path) {
            Err(e) => GridRecord {
                text: String::new(),
                caption: shown,
                marks: Vec::new(),
                broken: Some(format!("{}: {e}", path.display())),
            },
            Ok(bytes) => match read_structure_bytes(path, &bytes, None) {
                Ok((chains, _)) if !chains.is_empty() => {
                    let stats = SetStats::compute(&chains);
                    let length: usize = chains.iter().map(|c| c.len()).sum();
                    GridRecord {
                        text: String::from_utf8_lossy(&bytes).into_owned(),
                        caption: format!(
                            "{shown} · {length} residues · Rg/expected {:.2}",
                            stats.rg_ratio_mean
                        ),
                        marks: vec![("clash-free", stats.clash_structures == 0.0)],
                        broken: None,
                    }
                }
                Ok(_) => GridRecord {
                    text: String::new(),
                    caption: shown,
                    marks: Vec::new(),
                    broken: Some("no complete backbone residues".into()),
                },
                Err(e) => GridRecord {
                    text: String::new(),
                    caption: shown,
                    marks: Vec::new(),
                    broken: Some(e.to_string()),
                },
            },
        };
        records.push(record);
    }
    let broken = records.iter().filter(|r| r.broken.is_some()).count();
    let summary = format!(
        "<p class=\"note\">{total} backbones{}{}; cartoons coloured by the viewer's own \
         secondary-structure assignment (helix magenta, strand yellow).</p>",
        if broken > 0 {
            format!(", {broken} unreadable (marked below)")
        } else {
            String::new()
        },
        if total > MAX_SHOWN {
            format!(", the first {MAX_SHOWN} in the grid")
        } else {
            String::new()
        }
    );
    let mut sections = vec![PageSection {
        title: "Backbones".into(),
        html: summary + &viewer_grid("pdb", &records, PER_PAGE, &["clash-free"]),
    }];
    let trajectories = run.trajectories("pdb");
    if !trajectories.is_empty() {
        sections.push(PageSection {
            title: "Denoising trajectories".into(),
            html: trajectory_viewers("pdb", &trajectories),
        });
    }
    Ok(sections)
}
