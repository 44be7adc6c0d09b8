//! The torus space: wrapped-normal noise and samplers that stay on [−π, π).

use std::f64::consts::PI;

use burn::tensor::{Device, Tensor};
use diffgen_core::rng::SeededRng;
use diffgen_core::sampler::{sample, SamplerConfig, SamplerKind};
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::{Denoiser, NoiseSpace, Objective, ScheduleConfig};
use diffgen_protein::space::{wrap, ProteinContext, TorusSpace};

#[test]
fn wrap_lands_in_the_half_open_interval_and_keeps_the_angle() {
    let device = Device::flex();
    let raw = [-7.0, -PI, -3.0, 0.0, 3.0, PI, 7.5, 40.0, -40.0];
    let wrapped = to_vec(wrap(Tensor::<1>::from_floats(
        raw.map(|v| v as f32).as_slice(),
        &device,
    )));
    for (&r, &w) in raw.iter().zip(&wrapped) {
        let w = w as f64;
        assert!((-PI - 1e-6..PI + 1e-6).contains(&w), "{r} → {w}");
        // Same point on the circle.
        assert!((r.sin() - w.sin()).abs() < 1e-4 && (r.cos() - w.cos()).abs() < 1e-4);
    }
}

/// A noisy state `wrap(α·x0 + σ·ε)` is a wrapped normal: its first circular moment is
/// `E[e^{iθ}] = e^{iα·x0} · e^{−σ²/2}`, whatever the wrapping did.
#[test]
fn noisy_states_follow_the_wrapped_normal() {
    let device = Device::flex();
    let n = 20_000;
    let context = ProteinContext::new(&[n], &device);
    let mut rng = SeededRng::new(7);
    for (alpha, sigma, x0) in [(0.9f64, 0.5f64, 2.5f64), (0.6, 1.5, -3.0), (0.1, 3.0, 1.0)] {
        let eps = TorusSpace.noise([1, n, 6], &context, &mut rng, &device);
        let x0_t = Tensor::<3>::full([1, n, 6], x0, &device);
        let x_t = TorusSpace.project(x0_t.mul_scalar(alpha) + eps.mul_scalar(sigma), &context);
        let values = to_vec(x_t);
        assert!(values.iter().all(|&v| (-PI as f32..PI as f32).contains(&v)));
        let m = values.len() as f64;
        let (c, s) = values.iter().fold((0.0, 0.0), |(c, s), &v| {
            (c + (v as f64).cos(), s + (v as f64).sin())
        });
        let decay = (-sigma * sigma / 2.0f64).exp();
        let (ec, es) = ((alpha * x0).cos() * decay, (alpha * x0).sin() * decay);
        assert!(
            (c / m - ec).abs() < 0.02 && (s / m - es).abs() < 0.02,
            "σ={sigma}: moment ({:.3}, {:.3}), expected ({ec:.3}, {es:.3})",
            c / m,
            s / m
        );
    }
}

/// A network that predicts large noise, so unwrapped updates would leave the torus. It
/// checks every state it is shown — the first one too, which samplers project from noise.
struct Wild {
    lengths: Vec<usize>,
}

impl Denoiser<3> for Wild {
    type Context = ProteinContext;
    fn objective(&self) -> Objective {
        Objective::Epsilon
    }
    fn predict(&self, x_t: Tensor<3>, t: Tensor<1>, _context: &ProteinContext) -> Tensor<3> {
        let [b, l, f] = x_t.dims();
        let v = to_vec(x_t.clone());
        for (row, &n) in self.lengths.iter().enumerate() {
            for k in 0..l {
                for a in &v[(row * l + k) * f..][..f] {
                    if k < n {
                        assert!(
                            (-PI as f32..PI as f32).contains(a),
                            "input {a} off the torus"
                        );
                    } else {
                        assert_eq!(*a, 0.0, "padding in the network's input");
                    }
                }
            }
        }
        x_t.mul_scalar(3.0) + t.reshape([b, 1, 1]).expand([b, l, f]).mul_scalar(5.0)
    }
}

/// Noise four times wider than standard: most draws start off the torus, so the samplers'
/// projection of their starting state is what keeps the network's first input on it.
struct WideNoise(SeededRng);

impl diffgen_core::NoiseSource for WideNoise {
    fn standard_normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        self.0.standard_normal(shape, device).mul_scalar(4.0)
    }
}

#[test]
fn every_sampler_step_stays_on_the_torus_with_zero_padding() {
    let device = Device::flex();
    let schedule = ScheduleConfig::Cosine {
        steps: 200,
        offset: 0.008,
    }
    .build()
    .unwrap();
    let lengths = [5, 9, 3];
    let context = ProteinContext::new(&lengths, &device);
    for kind in [
        SamplerKind::ddpm(),
        SamplerKind::ddim(0.0),
        SamplerKind::dpm_solver_2m(),
    ] {
        let mut seen = 0;
        let check = |x: &Tensor<3>| {
            let v = to_vec(x.clone());
            for (row, &n) in lengths.iter().enumerate() {
                for k in 0..9 {
                    for f in 0..6 {
                        let a = v[(row * 9 + k) * 6 + f];
                        if k < n {
                            assert!((-PI as f32..PI as f32).contains(&a), "{kind}: {a}");
                        } else {
                            assert_eq!(a, 0.0, "{kind}: padding moved");
                        }
                    }
                }
            }
        };
        let out = sample(
            &SamplerConfig::new(kind.clone(), Some(25)),
            &diffgen_core::Process::from(schedule.clone()),
            &TorusSpace,
            &Wild {
                lengths: lengths.to_vec(),
            },
            &context,
            [3, 9, 6],
            &mut WideNoise(SeededRng::new(1)),
            &device,
            &mut |e| {
                seen += 1;
                check(e.x);
            },
        )
        .unwrap();
        check(&out);
        assert!(seen >= 25, "{kind}: observer saw {seen} steps");
    }
}

#[test]
fn the_loss_reduction_ignores_padding() {
    let device = Device::flex();
    let context = ProteinContext::new(&[2, 1], &device);
    // Row 0: two residues of error 1; row 1: one residue of error 3 and padding of 100.
    let mut v = vec![0f32; 2 * 2 * 6];
    v[..12].fill(1.0);
    v[12..18].fill(3.0);
    v[18..].fill(100.0);
    let loss = to_vec(TorusSpace.reduce(tensor_from_vec(v, [2, 2, 6], &device), &context));
    assert_eq!(loss, vec![1.0, 3.0]);
}

/// Padding does not reach real residues: a chain gives the same output alone and in a batch
/// beside a longer one (attention masks its keys).
#[test]
fn the_denoiser_ignores_padding() {
    use diffgen_protein::model::ProteinDenoiserConfig;
    let device = Device::flex();
    let config = ProteinDenoiserConfig {
        hidden: 32,
        layers: 2,
        heads: 4,
        feed_forward: 64,
        time_features: 16,
        max_relative: 4,
    };
    let model =
        diffgen_core::rng::init_seeded(&device, 3, || config.init(Objective::Velocity, &device));
    let mut rng = SeededRng::new(5);
    let short = rng.normal_vec(5 * 6);
    let long = rng.normal_vec(9 * 6);
    let t = |b: usize| Tensor::<1>::full([b], 0.3, &device);
    let alone = to_vec(model.forward(
        tensor_from_vec(short.clone(), [1, 5, 6], &device),
        t(1),
        ProteinContext::new(&[5], &device).mask,
    ));
    let mut padded = short.clone();
    padded.extend(std::iter::repeat_n(0.0, 4 * 6));
    padded.extend(long);
    let batched = to_vec(model.forward(
        tensor_from_vec(padded, [2, 9, 6], &device),
        t(2),
        ProteinContext::new(&[5, 9], &device).mask,
    ));
    for (k, (a, b)) in alone.iter().zip(&batched[..5 * 6]).enumerate() {
        assert!((a - b).abs() < 1e-5, "entry {k}: alone {a}, batched {b}");
    }
    assert!(
        batched[5 * 6..9 * 6].iter().all(|&v| v == 0.0),
        "padded outputs"
    );
}
