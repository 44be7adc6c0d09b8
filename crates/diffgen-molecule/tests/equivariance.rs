//! Symmetries of the EGNN and of the noising space.

use burn::tensor::{Device, Tensor};
use diffgen_core::rng::{PerSampleStreams, SeededRng};
use diffgen_core::sampler::{sample, SamplerConfig, SamplerKind};
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::{NoiseSpace, ScheduleConfig};
use diffgen_molecule::egnn::{EgnnConfig, EgnnDynamics};
use diffgen_molecule::space::{MolContext, MoleculeSpace};

/// The device's random stream is shared: tests that seed it and then draw run one at a time,
/// so each sees the same model.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn model(device: &Device) -> EgnnDynamics {
    device.seed(3);
    let config = EgnnConfig {
        layers: 3,
        hidden: 32,
        coords_range: 15.0,
        norm_constant: 1.0,
        normalization_factor: 1.0,
    };
    let m = config.init(6, device);
    // Make the coordinate head non-trivial (its init is ~0), as EDM's parity files do.
    use burn::module::{Module, ModuleMapper, Param};
    struct Scale;
    impl ModuleMapper for Scale {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            // Only the 1-wide heads (coordinate and gate), whose init is ~0 or weak.
            p.map(|t| {
                let dims = t.dims();
                if D == 2 && dims[1] == 1 {
                    let noise = t.random_like(burn::tensor::Distribution::Normal(
                        0.0,
                        0.3 / (dims[0] as f64).sqrt(),
                    ));
                    t + noise
                } else {
                    t
                }
            })
        }
    }
    m.map(&mut Scale)
}

/// A random rotation (or reflection when `reflect`) from a seeded QR-free construction:
/// a unit quaternion's matrix, optionally times diag(1, 1, −1).
fn orthogonal(seed: u64, reflect: bool) -> [[f64; 3]; 3] {
    let q = SeededRng::new(seed).normal_vec(4);
    let n = q.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let (w, x, y, z) = (
        q[0] as f64 / n,
        q[1] as f64 / n,
        q[2] as f64 / n,
        q[3] as f64 / n,
    );
    let mut r = [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ];
    if reflect {
        for row in &mut r {
            row[2] = -row[2];
        }
    }
    r
}

/// Applies `r` and a translation to the position channels of `[B, N, 9]` values.
fn transform(values: &[f32], r: &[[f64; 3]; 3], shift: [f64; 3], n_rows: usize) -> Vec<f32> {
    let mut out = values.to_vec();
    for row in 0..n_rows {
        let p = &values[row * 9..row * 9 + 3];
        for (i, r_i) in r.iter().enumerate() {
            out[row * 9 + i] =
                (r_i[0] * p[0] as f64 + r_i[1] * p[1] as f64 + r_i[2] * p[2] as f64 + shift[i])
                    as f32;
        }
    }
    out
}

fn batch(device: &Device) -> (Vec<f32>, MolContext) {
    let counts = [7usize, 5, 9];
    let context = MolContext::new(&counts, device);
    let mut rng = SeededRng::new(9);
    let n = 9;
    let mut values = vec![0f32; counts.len() * n * 9];
    for (b, &c) in counts.iter().enumerate() {
        for i in 0..c {
            let row = &mut values[(b * n + i) * 9..(b * n + i + 1) * 9];
            let pos = rng.normal_vec(3);
            row[..3].copy_from_slice(&[pos[0] * 1.5, pos[1] * 1.5, pos[2] * 1.5]);
            let k = rng.int_inclusive(0, 4);
            row[3 + k] = 0.25;
            row[8] = [0.1, 0.6, 0.7, 0.8, 0.9][k];
        }
    }
    (values, context)
}

#[test]
fn egnn_is_e3_equivariant() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let model = model(&device);
    let (values, context) = batch(&device);
    let t = Tensor::<1>::from_floats([0.3, 0.7, 0.05], &device);
    let shape = [3, 9, 9];
    let out = to_vec(model.forward(
        tensor_from_vec(values.clone(), shape, &device),
        t.clone(),
        &context.masks,
    ));
    assert!(
        out.iter().any(|v| v.abs() > 1e-2),
        "a trivial output proves nothing"
    );
    for (seed, reflect) in [(1, false), (2, true), (3, false)] {
        let r = orthogonal(seed, reflect);
        let moved = transform(&values, &r, [3.0, -2.0, 0.5], 27);
        // Padding rows must stay zero.
        let node = to_vec(context.masks.node.clone());
        let moved: Vec<f32> = moved
            .iter()
            .enumerate()
            .map(|(k, v)| v * node[k / 9])
            .collect();
        let out_moved = to_vec(model.forward(
            tensor_from_vec(moved, shape, &device),
            t.clone(),
            &context.masks,
        ));
        // ε̂_x rotates (no translation: it is a displacement); ε̂_h is invariant.
        let expected = transform(&out, &r, [0.0; 3], 27);
        let diff = out_moved
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        // f32 round-off grows with the outputs' size: compare relative to it.
        let size = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            diff < 1e-5 * size.max(1.0),
            "seed {seed} reflect {reflect}: max deviation {diff} (outputs up to {size})"
        );
    }
}

#[test]
fn egnn_is_permutation_equivariant() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let model = model(&device);
    let (values, context) = batch(&device);
    let t = Tensor::<1>::from_floats([0.3, 0.7, 0.05], &device);
    let out = to_vec(model.forward(
        tensor_from_vec(values.clone(), [3, 9, 9], &device),
        t.clone(),
        &context.masks,
    ));
    // Permute the 7 real atoms of molecule 0.
    let perm = [3usize, 0, 6, 1, 5, 2, 4];
    let mut permuted = values.clone();
    for (to, &from) in perm.iter().enumerate() {
        permuted[to * 9..to * 9 + 9].copy_from_slice(&values[from * 9..from * 9 + 9]);
    }
    let out_p = to_vec(model.forward(
        tensor_from_vec(permuted, [3, 9, 9], &device),
        t,
        &context.masks,
    ));
    for (to, &from) in perm.iter().enumerate() {
        for c in 0..9 {
            let (a, b) = (out_p[to * 9 + c], out[from * 9 + c]);
            assert!(
                (a - b).abs() < 1e-4,
                "atom {from}→{to} channel {c}: {a} vs {b}"
            );
        }
    }
    // Other molecules are untouched by the permutation.
    assert!(
        (out_p[81..]
            .iter()
            .zip(&out[81..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max))
            < 1e-5
    );
}

#[test]
fn every_sampler_step_stays_in_the_zero_com_subspace() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let model = model(&device);
    let schedule = ScheduleConfig::edm_polynomial().build().unwrap();
    let counts = [6usize, 4, 9];
    let context = MolContext::new(&counts, &device);
    let node = to_vec(context.masks.node.clone());
    for kind in [
        SamplerKind::ddpm(),
        SamplerKind::ddim(0.5),
        SamplerKind::dpm_solver_2m(),
    ] {
        let mut noise = PerSampleStreams::new(1, 0..3);
        let mut worst = 0f32;
        let mut padding = 0f32;
        let mut steps = 0;
        sample(
            &SamplerConfig::new(kind.clone(), Some(20)),
            &diffgen_core::Process::from(schedule.clone()),
            &MoleculeSpace::EDM,
            &model,
            &context,
            [3, 9, 9],
            &mut noise,
            &device,
            &mut |e| {
                steps += 1;
                let v = to_vec(e.x.clone());
                let scale = v.iter().map(|x| x.abs()).fold(0.0, f32::max).max(1.0);
                for b in 0..3 {
                    for c in 0..3 {
                        let s: f32 = (0..9).map(|i| v[(b * 9 + i) * 9 + c]).sum();
                        // Relative to the state's size: f32 sums of 9 terms.
                        worst = worst.max(s.abs() / scale);
                    }
                }
                for (row, m) in node.iter().enumerate() {
                    if *m == 0.0 {
                        padding = padding.max(
                            v[row * 9..row * 9 + 9]
                                .iter()
                                .map(|x| x.abs())
                                .fold(0.0, f32::max),
                        );
                    }
                }
            },
        )
        .unwrap();
        assert_eq!(steps, 21);
        assert!(worst < 1e-5, "{kind}: |Σ x| / max|x| reached {worst}");
        assert_eq!(padding, 0.0, "{kind}: padding became non-zero");
    }
    // The prior itself.
    let eps = MoleculeSpace::EDM.noise([3, 9, 9], &context, &mut SeededRng::new(4), &device);
    let v = to_vec(eps);
    let sum: f32 = (0..6).map(|i| v[i * 9]).sum();
    assert!(sum.abs() < 1e-5);
}
