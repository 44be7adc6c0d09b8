//! Diagnostic for the Cα design: noise test-split traces to time t (x_t = (1 − t)·x₀ + t·ε),
//! ask the network once for x̂₀, and report how far consecutive Cα of x̂₀ lie apart and the
//! RMSD to x₀ — whether the network is precise near the data, separately from the sampler —
//! and the helix and strand shares DSSP finds on x̂₀ rebuilt (beside the real traces rebuilt).
//! With `DENOISE_CHAINS=beta` it takes chains with at least 20 % strand, to see whether the
//! network keeps β-ladders it is given. `DENOISE_COUNT` sets how many chains (default 16).
//!   cargo run --release -p diffgen-protein --example ca_denoise_check -- CHECKPOINT [t …]

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use diffgen_core::pipeline::{load, Pipeline};
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::{Denoiser, NoiseSpace, SeededRng};
use diffgen_protein::ca::data::NM_PER_ANGSTROM;
use diffgen_protein::ca::CaPipeline;
use diffgen_protein::dssp::{dssp, three_state};
use diffgen_protein::io;
use diffgen_protein::rebuild::backbone_from_ca;
use diffgen_protein::space::ProteinContext;
use diffgen_protein::structure::Vec3;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let checkpoint = PathBuf::from(args.get(1).expect("usage: CHECKPOINT [t …]"));
    let times: Vec<f64> = match args.len() > 2 {
        true => args[2..].iter().map(|s| s.parse().expect("t")).collect(),
        false => vec![0.02, 0.05, 0.1, 0.2, 0.4],
    };
    let data = std::env::var("DIFFGEN_DATA").unwrap_or_else(|_| "../shared/datasets".into());
    let beta = std::env::var("DENOISE_CHAINS").is_ok_and(|v| v == "beta");
    let count: usize = std::env::var("DENOISE_COUNT")
        .map(|v| v.parse().expect("DENOISE_COUNT"))
        .unwrap_or(16)
        .max(1);
    let device = Device::flex();
    let loaded = load(&CaPipeline, Some(&checkpoint), &device).expect("checkpoint");
    let chains: Vec<_> = io::load_split(Path::new(&data), "test")
        .expect("test split")
        .into_iter()
        .filter(|b| (60..=128).contains(&b.len()))
        .filter(|b| !beta || strand_share(b.dssp.as_deref().unwrap_or("")) >= 0.2)
        .take(count)
        .collect();
    let lengths: Vec<usize> = chains.iter().map(|b| b.len()).collect();
    let l = *lengths.iter().max().unwrap();
    let mut values = vec![0f32; chains.len() * l * 3];
    for (r, chain) in chains.iter().enumerate() {
        let centre = chain
            .ca
            .iter()
            .fold(nalgebra::Vector3::zeros(), |a, p| a + p)
            / chain.len() as f64;
        for (k, p) in chain.ca.iter().enumerate() {
            for c in 0..3 {
                values[(r * l + k) * 3 + c] = ((p[c] - centre[c]) * NM_PER_ANGSTROM) as f32;
            }
        }
    }
    let x0: Tensor<3> = tensor_from_vec(values.clone(), [chains.len(), l, 3], &device);
    let context = ProteinContext::new(&lengths, &device);
    let space = CaPipeline.space(&loaded.config, &loaded.stats);
    let (helix, strand) = secondary(&values, &lengths, l);
    println!(
        "{} test chains, real Cα rebuilt: helix/strand {:.1}/{:.1} %",
        chains.len(),
        100.0 * helix,
        100.0 * strand
    );
    let mut rng = SeededRng::new(0);
    let objective = loaded.model.objective();
    for &t in &times {
        let eps = space.noise([chains.len(), l, 3], &context, &mut rng, &device);
        let x_t = x0.clone().mul_scalar(1.0 - t) + eps.mul_scalar(t);
        let time = Tensor::<1>::from_floats(vec![t as f32; chains.len()].as_slice(), &device);
        let prediction = loaded.model.predict(x_t.clone(), time, &context);
        let (x0_hat, _) = objective.split(x_t.clone(), prediction, 1.0 - t, t);
        let (hat, noisy) = (to_vec(x0_hat), to_vec(x_t));
        let stats = |v: &[f32]| {
            let mut d = Vec::new();
            let mut sq = 0f64;
            let mut n = 0usize;
            for (r, &len) in lengths.iter().enumerate() {
                let at = |k: usize| {
                    let i = (r * l + k) * 3;
                    [v[i] as f64, v[i + 1] as f64, v[i + 2] as f64]
                };
                for k in 0..len {
                    let (p, q) = (at(k), values[(r * l + k) * 3..(r * l + k) * 3 + 3].to_vec());
                    sq += (0..3).map(|c| (p[c] - q[c] as f64).powi(2)).sum::<f64>();
                    n += 1;
                    if k + 1 < len {
                        let s = at(k + 1);
                        let dist = (0..3).map(|c| (p[c] - s[c]).powi(2)).sum::<f64>().sqrt();
                        d.push(dist / NM_PER_ANGSTROM);
                    }
                }
            }
            let mean = d.iter().sum::<f64>() / d.len() as f64;
            let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
            let within =
                d.iter().filter(|x| (3.6..=4.0).contains(*x)).count() as f64 / d.len() as f64;
            (mean, sd, within, (sq / n as f64).sqrt() / NM_PER_ANGSTROM)
        };
        let (m0, s0, w0, r0) = stats(&noisy);
        let (m, s, w, r) = stats(&hat);
        let (helix, strand) = secondary(&hat, &lengths, l);
        println!(
            "t = {t:.2}: x_t CA–CA {m0:.2} ± {s0:.2} Å ({:.0} % in 3.6–4.0), RMSD {r0:.2} Å → x̂₀ CA–CA {m:.2} ± {s:.2} Å ({:.0} %), RMSD {r:.2} Å, helix/strand {:.1}/{:.1} %",
            100.0 * w0,
            100.0 * w,
            100.0 * helix,
            100.0 * strand
        );
    }

    // Sampling from the noised chains (t₀ → 0, 50 Euler steps on t = t₀·(k/50)³, the estimate
    // fed back): whether the sampler finishes the ladders that one call blurs.
    for &t0 in &times {
        let eps = space.noise([chains.len(), l, 3], &context, &mut rng, &device);
        let mut x = x0.clone().mul_scalar(1.0 - t0) + eps.mul_scalar(t0);
        let mut previous: Option<Tensor<3>> = None;
        let steps = 50;
        let grid: Vec<f64> = (0..=steps)
            .rev()
            .map(|k| t0 * (k as f64 / steps as f64).powi(3))
            .collect();
        for pair in grid.windows(2) {
            let (t, next) = (pair[0], pair[1]);
            let time = Tensor::<1>::from_floats(vec![t as f32; chains.len()].as_slice(), &device);
            let prediction = loaded
                .model
                .predict_with(x.clone(), time, &context, previous.clone());
            let (x0_hat, _) = objective.split(x.clone(), prediction, 1.0 - t, t);
            // x_t = (1 − t)·x̂₀ + t·ε̂ on the line: dx/dt = ε̂ − x̂₀ = (x − x̂₀)/t.
            let velocity = (x.clone() - x0_hat.clone()).div_scalar(t);
            x = space.project(x + velocity.mul_scalar(next - t), &context);
            previous = Some(x0_hat);
        }
        let (helix, strand) = secondary(&to_vec(x), &lengths, l);
        println!(
            "sampled from t = {t0:.2} (50 Euler steps): helix/strand {:.1}/{:.1} %",
            100.0 * helix,
            100.0 * strand
        );
    }
}

/// Strand share (E, B) of a DSSP string.
fn strand_share(dssp: &str) -> f64 {
    let strands = dssp.chars().filter(|&c| three_state(c) == 'E').count();
    strands as f64 / dssp.len().max(1) as f64
}

/// Helix and strand shares of the traces `values` (`[B, l, 3]`, nm), rebuilt and run
/// through DSSP.
fn secondary(values: &[f32], lengths: &[usize], l: usize) -> (f64, f64) {
    let (mut helix, mut strand, mut all) = (0usize, 0usize, 0usize);
    for (r, &len) in lengths.iter().enumerate() {
        let trace: Vec<Vec3> = (0..len)
            .map(|k| {
                let i = (r * l + k) * 3;
                Vec3::new(values[i] as f64, values[i + 1] as f64, values[i + 2] as f64)
                    / NM_PER_ANGSTROM
            })
            .collect();
        for c in dssp(&backbone_from_ca("check", &trace)).chars() {
            match three_state(c) {
                'H' => helix += 1,
                'E' => strand += 1,
                _ => {}
            }
            all += 1;
        }
    }
    (
        helix as f64 / all.max(1) as f64,
        strand as f64 / all.max(1) as f64,
    )
}
