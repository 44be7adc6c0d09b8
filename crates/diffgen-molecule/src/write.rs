//! The files `diffgen run --modality molecule` writes.

use std::io::Write as _;
use std::path::Path;

use diffgen_core::checkpoint::write_atomic;
use diffgen_core::pipeline::{Generated, RunOutput};
use diffgen_core::plot::line_plot;
use diffgen_core::CoreError;

use crate::data::{
    bond_length_histogram, MoleculeStats, BOND_BINS, BOND_BIN_START, BOND_BIN_WIDTH,
};
use crate::metrics::Analysis;
use crate::xyz::{to_xyz, Molecule};
use crate::MoleculeSample;

fn save(path: &Path, text: &str) -> Result<(), CoreError> {
    write_atomic(path, |f| f.write_all(text.as_bytes()))
}

/// The data items of a molecule's SDF record: what a chemist filters on.
fn sdf_fields(molecule: &Molecule, analysis: &Analysis) -> Vec<(String, String)> {
    let flag = |b: bool| u8::from(b).to_string();
    let fragments = crate::metrics::fragments(molecule.len(), &analysis.bonds);
    vec![
        ("formula".into(), molecule.formula()),
        ("valid".into(), flag(analysis.valid)),
        ("stable".into(), flag(analysis.stable)),
        ("connected".into(), flag(fragments == 1)),
        (
            "valid_and_connected".into(),
            flag(analysis.valid && fragments == 1),
        ),
        ("fragments".into(), fragments.to_string()),
        (
            "bonds_from".into(),
            "interatomic distances (EDM's bond tables)".into(),
        ),
    ]
}

/// `samples.xyz` (all frames), `samples.sdf` (all records, with data items),
/// `samples.valid.sdf` (the valid and connected ones) and `samples/sample-<index>.pdb`.
pub fn write_molecules(
    out: &mut RunOutput,
    molecules: &Generated<MoleculeSample>,
    analyses: &[Analysis],
) -> Result<(), CoreError> {
    let plain: Vec<Molecule> = molecules
        .samples
        .iter()
        .map(|s| s.molecule.clone())
        .collect();
    save(&out.collection("xyz"), &to_xyz(&plain))?;
    let mut sdf = String::new();
    let mut valid = String::new();
    for ((i, s), a) in molecules.iter().zip(analyses) {
        let m = &s.molecule;
        // The model's own bonds and charges where it generates them, else EDM's inference.
        let (bonds, charges, fields) = match &s.structure {
            Some(p) => (&p.bonds, p.charges.as_slice(), structure_fields(m, p)),
            None => (&a.bonds, &[][..], sdf_fields(m, a)),
        };
        let name = format!("diffgen molecule {i}");
        let record = crate::sdf::to_sdf_record(
            m,
            &crate::sdf::SdfContents {
                bonds,
                charges,
                name: &name,
                fields: &fields,
            },
        );
        if fields
            .iter()
            .any(|(k, v)| k == "valid_and_connected" && v == "1")
        {
            valid.push_str(&record);
        }
        sdf.push_str(&record);
        let text = crate::pdb::to_pdb(m, bonds, charges, &name)
            .map_err(|e| CoreError::Other(format!("molecule {i}: {e}")))?;
        save(&out.sample_file(i, "pdb")?, &text)?;
    }
    save(&out.collection("sdf"), &sdf)?;
    save(&out.collection("valid.sdf"), &valid)?;
    Ok(())
}

/// The data items of a molecule with its generated bonds and charges.
fn structure_fields(
    molecule: &Molecule,
    structure: &crate::perceive::Perceived,
) -> Vec<(String, String)> {
    let flag = |b: bool| u8::from(b).to_string();
    let a = crate::metrics::structure::analyse_structure(molecule, structure);
    vec![
        ("formula".into(), molecule.formula()),
        ("valid".into(), flag(a.valid)),
        ("stable".into(), flag(a.stable)),
        ("connected".into(), flag(a.fragments == 1)),
        ("valid_and_connected".into(), flag(a.valid_and_connected())),
        ("fragments".into(), a.fragments.to_string()),
        (
            "bonds_from".into(),
            "the model (generated with the coordinates)".into(),
        ),
    ]
}

/// One multi-frame XYZ per molecule: `trajectories/sample-<index>.xyz`.
pub fn write_trajectories(
    out: &mut RunOutput,
    molecules: &Generated<MoleculeSample>,
) -> Result<(), CoreError> {
    for (k, &i) in molecules.indices.iter().enumerate() {
        let frames: Vec<Molecule> = molecules
            .trajectory(k)
            .enumerate()
            .map(|(f, s)| Molecule {
                comment: format!("molecule {i} frame {f}"),
                ..s.molecule.clone()
            })
            .collect();
        save(&out.trajectory_file(i, "xyz")?, &to_xyz(&frames))?;
    }
    Ok(())
}

/// `samples.metrics.json` and two PNGs comparing samples with the training data: atoms per
/// molecule and bond lengths.
pub fn write_summary(
    out: &mut RunOutput,
    report: &diffgen_core::modality::Report,
    molecules: &[Molecule],
    stats: &MoleculeStats,
) -> Result<(), CoreError> {
    let json = report.figures_json();
    save(
        &out.collection("metrics.json"),
        &serde_json::to_string_pretty(&json).expect("json"),
    )?;

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
    let atoms_png = out.collection("atoms.png");
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

    let sample_bonds = bond_length_histogram(molecules.iter());
    let bin = |k: usize| BOND_BIN_START + (k as f64 + 0.5) * BOND_BIN_WIDTH;
    let samples: Vec<(f64, f64)> = (0..BOND_BINS)
        .map(|k| (bin(k), sample_bonds[k] as f64))
        .collect();
    let data: Vec<(f64, f64)> = (0..BOND_BINS)
        .map(|k| (bin(k), *stats.bond_lengths.get(k).unwrap_or(&0) as f64))
        .collect();
    let bonds_png = out.collection("bond_lengths.png");
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
    Ok(())
}
