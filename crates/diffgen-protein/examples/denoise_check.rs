//! Diagnostic: noise test-split backbones to level t0, denoise them with DDIM, and compare
//! secondary structure and angle errors with the originals.
//!   cargo run --release -p diffgen-protein --example denoise_check -- [checkpoint] [t0]

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::to_vec;
use diffgen_core::{Denoiser, NoiseSpace};
use diffgen_protein::geometry::{angles_from_backbone, backbone_from_angles, wrap_angle};
use diffgen_protein::space::{ProteinContext, TorusSpace};
use diffgen_protein::{dssp, io, load_protein};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ckpt = args.get(1).filter(|s| *s != "-").map(PathBuf::from);
    let t0: usize = args.get(2).map_or(100, |s| s.parse().unwrap());
    let device = Device::flex();
    let loaded = load_protein(ckpt.as_deref(), &device).unwrap();
    let schedule = loaded.config.diffusion.schedule.build().unwrap();
    let test: Vec<_> = io::load_split(Path::new("../shared/datasets"), "test")
        .unwrap()
        .into_iter()
        .filter(|b| b.len() <= 128)
        .take(16)
        .collect();
    let l = 128;
    let lengths: Vec<usize> = test.iter().map(|b| b.len()).collect();
    let mut values = vec![0f32; test.len() * l * 6];
    for (r, b) in test.iter().enumerate() {
        for (k, a) in angles_from_backbone(b).iter().enumerate() {
            let c = loaded.stats.centre(a);
            for f in 0..6 {
                values[(r * l + k) * 6 + f] = c[f] as f32;
            }
        }
    }
    let x0 = Tensor::<3>::from_data(TensorData::new(values.clone(), [test.len(), l, 6]), &device);
    let context = ProteinContext::new(&lengths, &device);
    let eps = TorusSpace.noise(
        [test.len(), l, 6],
        &context,
        &mut SeededRng::new(1),
        &device,
    );
    let (a, s) = (schedule.alpha(t0), schedule.sigma(t0));
    let mut x = TorusSpace.project(
        x0.clone().mul_scalar(a) + eps.clone().mul_scalar(s),
        &context,
    );
    let t_frac =
        |t: usize| Tensor::<1>::full([test.len()], t as f64 / schedule.steps() as f64, &device);
    // One-shot x̂0 error.
    let pred = loaded.model.predict(x.clone(), t_frac(t0), &context);
    let (_, eps_hat) = loaded.model.objective().split(x.clone(), pred, a, s);
    let eps_err: f32 = to_vec((eps_hat - eps.clone()).square()).iter().sum::<f32>()
        / (lengths.iter().sum::<usize>() * 6) as f32;
    println!("t0={t0} α={a:.3} σ={s:.3}: ε MSE {eps_err:.4}");
    let mut t = t0;
    while t > 0 {
        let sn = t.saturating_sub(10);
        let pred = loaded.model.predict(x.clone(), t_frac(t), &context);
        let (x0h, eps_hat) =
            loaded
                .model
                .objective()
                .split(x.clone(), pred, schedule.alpha(t), schedule.sigma(t));
        x = TorusSpace.project(
            x0h.mul_scalar(schedule.alpha(sn)) + eps_hat.mul_scalar(schedule.sigma(sn)),
            &context,
        );
        t = sn;
    }
    let out = to_vec(x);
    let mut total_err = [0f64; 6];
    let mut n = 0usize;
    let (mut h0, mut h1, mut e0, mut e1, mut tot) = (0, 0, 0, 0, 0);
    for (r, b) in test.iter().enumerate() {
        let angles: Vec<_> = (0..b.len())
            .map(|k| loaded.stats.uncentre(&out[(r * l + k) * 6..][..6]))
            .collect();
        let truth = angles_from_backbone(b);
        for k in 1..b.len() - 1 {
            for f in 0..6 {
                total_err[f] += wrap_angle(angles[k][f] - truth[k][f]).abs();
            }
            n += 1;
        }
        let rebuilt = backbone_from_angles("x", &angles);
        let s0 = dssp::dssp(b);
        let s1 = dssp::dssp(&rebuilt);
        for (c0, c1) in s0.chars().zip(s1.chars()) {
            tot += 1;
            h0 += (dssp::three_state(c0) == 'H') as usize;
            h1 += (dssp::three_state(c1) == 'H') as usize;
            e0 += (dssp::three_state(c0) == 'E') as usize;
            e1 += (dssp::three_state(c1) == 'E') as usize;
        }
    }
    let deg: Vec<String> = total_err
        .iter()
        .map(|e| format!("{:.1}", e / n as f64 * 180.0 / std::f64::consts::PI))
        .collect();
    println!(
        "mean |angle error| (deg) φ ψ ω NCaC CaCN CNCa: {}",
        deg.join(" ")
    );
    println!(
        "helix {:.3} → {:.3}, strand {:.3} → {:.3}",
        h0 as f64 / tot as f64,
        h1 as f64 / tot as f64,
        e0 as f64 / tot as f64,
        e1 as f64 / tot as f64
    );
}
