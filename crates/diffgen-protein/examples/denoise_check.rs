//! Diagnostic: noise test-split backbones to level t0, denoise them with DDIM (stride 10),
//! and compare angles and secondary structure with the originals.
//!   cargo run --release -p diffgen-protein --example denoise_check -- [checkpoint|-] [t0]

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use diffgen_protein::geometry::{angles_from_backbone, wrap_angle, ANGLE_NAMES};
use diffgen_protein::{dssp, io, load_protein, renoise_and_denoise};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let checkpoint = args.get(1).filter(|s| *s != "-").map(PathBuf::from);
    let t0: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(500);
    let data = std::env::var("DIFFGEN_DATA").unwrap_or_else(|_| "../shared/datasets".into());
    let device = Device::flex();
    let loaded = load_protein(checkpoint.as_deref(), &device).expect("checkpoint");
    let test: Vec<_> = io::load_split(Path::new(&data), "test")
        .expect("test split")
        .into_iter()
        .filter(|b| b.len() <= 128)
        .take(16)
        .collect();
    let denoised = renoise_and_denoise(&loaded, &test, t0, 10, 1, &device).expect("denoise");
    let mut error = [0f64; 6];
    let mut residues = 0usize;
    let mut counts = [[0usize; 2]; 2]; // [original, denoised] × [helix, strand]
    for (original, new) in test.iter().zip(&denoised) {
        let (a, b) = (angles_from_backbone(original), angles_from_backbone(new));
        for k in 1..original.len() - 1 {
            for f in 0..6 {
                error[f] += wrap_angle(a[k][f] - b[k][f]).abs();
            }
            residues += 1;
        }
        for (side, structure) in [original, new].into_iter().enumerate() {
            for c in dssp::dssp(structure).chars() {
                match dssp::three_state(c) {
                    'H' => counts[side][0] += 1,
                    'E' => counts[side][1] += 1,
                    _ => {}
                }
            }
        }
    }
    let total: usize = test.iter().map(|b| b.len()).sum();
    let share = |n: usize| n as f64 / total as f64;
    println!(
        "t0 = {t0}: mean |angle error| (deg): {}",
        ANGLE_NAMES
            .iter()
            .zip(error)
            .map(|(n, e)| format!("{n} {:.1}", (e / residues as f64).to_degrees()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "helix {:.3} → {:.3}, strand {:.3} → {:.3}",
        share(counts[0][0]),
        share(counts[1][0]),
        share(counts[0][1]),
        share(counts[1][1])
    );
}
