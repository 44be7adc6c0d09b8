//! Product states: a continuous part and a categorical part sampled together.
//!
//! The data: a class c ~ p (4 classes) and a point x | c ~ N(m_c, s²). The exact joint
//! denoiser at time t, for a state (x_t, c_t), weighs every class by
//! p(c)·q(c_t | c)·N(x_t; (1 − t)m_c, (1 − t)²s² + t²) and returns the posterior's x̂_0
//! (as a flow model predicting x_0) and its class probabilities (as logits). Driven by it,
//! the sampler must recover the class marginals, keep the point with its class, and keep
//! every state one-hot — for every prior and step count.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use diffgen_core::process::categorical::{self, CategoricalPrior};
use diffgen_core::process::{
    DiffusionConfig, FlowConfig, PartSettings, PriorKind, Process, StateLayout,
};
use diffgen_core::sampler::{sample, SamplerConfig};
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::{
    Denoiser, EuclideanSpace, NoiseSpace, Objective, PerSampleStreams, SamplerKind,
};

const P: [f64; 4] = [0.1, 0.2, 0.3, 0.4];
const CENTRES: [f64; 4] = [-3.0, -1.0, 1.0, 3.0];
const S: f64 = 0.3;

struct JointOracle {
    prior: CategoricalPrior,
}

impl Denoiser<2> for JointOracle {
    type Context = ();

    fn objective(&self) -> Objective {
        Objective::Sample
    }

    fn predict(&self, x_t: Tensor<2>, t: Tensor<1>, _: &()) -> Tensor<2> {
        let device = x_t.device();
        let [b, f] = x_t.dims();
        let t = to_vec(t)[0] as f64;
        let kappa = 1.0 - t;
        let pi = self.prior.probabilities();
        let k = pi.len();
        let values = to_vec(x_t);
        let var = (1.0 - t).powi(2) * S * S + t * t;
        let mut out = vec![0f32; b * f];
        for row in 0..b {
            let x = values[row * f] as f64;
            let c_t = (0..k).find(|&j| values[row * f + 1 + j] > 0.5).unwrap();
            let weights: Vec<f64> = (0..P.len())
                .map(|c| {
                    let q = kappa * f64::from(u8::from(c_t == c)) + (1.0 - kappa) * pi[c_t];
                    let d = x - (1.0 - t) * CENTRES[c];
                    P[c] * q * (-d * d / (2.0 * var)).exp()
                })
                .collect();
            let total: f64 = weights.iter().sum::<f64>().max(1e-300);
            let mut x0 = 0.0;
            for c in 0..P.len() {
                let w = weights[c] / total;
                // E[x_0 | x_t, c] for x_0 ~ N(m_c, s²).
                let mean_c = CENTRES[c] + (1.0 - t) * S * S / var * (x - (1.0 - t) * CENTRES[c]);
                x0 += w * mean_c;
                out[row * f + 1 + c] = (w.max(1e-30)).ln() as f32;
            }
            if k > P.len() {
                out[row * f + 1 + P.len()] = -30.0; // the mask: never predicted
            }
            out[row * f] = x0 as f32;
        }
        tensor_from_vec(out, [b, f], &device)
    }
}

fn process(prior: PriorKind) -> Process {
    let mut config = DiffusionConfig::gaussian(
        diffgen_core::ScheduleConfig::course_linear(),
        Objective::Sample,
    );
    config.schedule = None;
    config.flow = Some(FlowConfig::default());
    config.parts = BTreeMap::from([("class".to_string(), PartSettings { weight: 1.0, prior })]);
    let layout = StateLayout::builder()
        .continuous("point", 1)
        .categorical("class", 1, 4, Some(P.to_vec()))
        .settings(&config.parts)
        .unwrap();
    config.process(layout).unwrap()
}

/// Draws `indices` in batches of `batch`; checks every state on the way.
fn draw(process: &Process, sampler: &str, steps: usize, indices: &[u64], batch: usize) -> Vec<f32> {
    let device = Device::flex();
    let prior = process.prior(1).unwrap().clone();
    let width = 1 + prior.classes();
    let mut all = Vec::new();
    for chunk in indices.chunks(batch) {
        let mut noise = PerSampleStreams::new(3, chunk.iter().copied());
        let check = |x: &Tensor<2>| {
            let v = to_vec(x.clone());
            for row in v.chunks(width) {
                let ones = row[1..].iter().filter(|&&e| e == 1.0).count();
                let zeros = row[1..].iter().filter(|&&e| e == 0.0).count();
                assert!(ones == 1 && zeros == width - 2, "not one-hot: {row:?}");
            }
        };
        let out = sample(
            &SamplerConfig::new(sampler.parse::<SamplerKind>().unwrap(), Some(steps)),
            process,
            &EuclideanSpace::<()>::new(),
            &JointOracle {
                prior: prior.clone(),
            },
            &(),
            [chunk.len(), width],
            &mut noise,
            &device,
            &mut |e| check(e.x),
        )
        .unwrap();
        check(&out);
        all.extend(to_vec(out));
    }
    all
}

/// Pearson's χ² of the class counts against P (3 degrees of freedom).
fn chi_square(values: &[f32], width: usize) -> f64 {
    let mut counts = [0f64; 4];
    for row in values.chunks(width) {
        let c = (0..4)
            .find(|&j| row[1 + j] == 1.0)
            .expect("a data class, not the mask");
        counts[c] += 1.0;
    }
    let n: f64 = counts.iter().sum();
    counts
        .iter()
        .zip(P)
        .map(|(o, p)| (o - n * p).powi(2) / (n * p))
        .sum()
}

/// Share of samples whose class is the one whose centre is nearest their point.
fn agreement(values: &[f32], width: usize) -> f64 {
    let rows: Vec<&[f32]> = values.chunks(width).collect();
    let agree = rows
        .iter()
        .filter(|row| {
            let c = (0..4).find(|&j| row[1 + j] == 1.0).unwrap();
            let nearest = (0..4)
                .min_by(|&a, &b| {
                    let da = (row[0] as f64 - CENTRES[a]).abs();
                    let db = (row[0] as f64 - CENTRES[b]).abs();
                    da.total_cmp(&db)
                })
                .unwrap();
            c == nearest
        })
        .count();
    agree as f64 / rows.len() as f64
}

#[test]
fn the_exact_denoiser_recovers_the_class_marginals_and_the_joint() {
    let indices: Vec<u64> = (0..3000).collect();
    for prior in [PriorKind::Uniform, PriorKind::Marginal, PriorKind::Masked] {
        let process = process(prior);
        let width = process.layout.width();
        for (sampler, steps) in [("euler", 50), ("dpm++2m", 10), ("heun", 20)] {
            let values = draw(&process, sampler, steps, &indices, 3000);
            // χ²(3) exceeds 16.27 with probability 0.001.
            let chi2 = chi_square(&values, width);
            assert!(chi2 < 16.27, "{prior:?}, {sampler} {steps}: χ² = {chi2}");
            // Centres 2 apart at s = 0.3: a correct joint sample is nearest its own
            // centre 99.9 % of the time; independent parts would agree ~30 %.
            let agree = agreement(&values, width);
            assert!(
                agree > 0.98,
                "{prior:?}, {sampler} {steps}: agreement {agree}"
            );
        }
    }
}

#[test]
fn batches_and_shards_do_not_change_samples() {
    let process = process(PriorKind::Uniform);
    let indices: Vec<u64> = (0..12).collect();
    let whole = draw(&process, "euler-maruyama:1", 15, &indices, 12);
    let split = draw(&process, "euler-maruyama:1", 15, &indices, 5);
    assert_eq!(whole, split);
    // A shard: samples 6..12 alone equal the second half.
    let shard = draw(&process, "euler-maruyama:1", 15, &indices[6..], 4);
    assert_eq!(&whole[6 * 5..], &shard[..]);
}

#[test]
fn the_posterior_is_a_distribution_and_ends_at_the_denoiser() {
    let device = Device::flex();
    let p0 = tensor_from_vec(
        vec![0.7, 0.1, 0.15, 0.05, 0.0, 0.25, 0.25, 0.5],
        [2, 1, 4],
        &device,
    );
    for prior in [
        CategoricalPrior::Uniform { classes: 4 },
        CategoricalPrior::Marginal(P.to_vec()),
    ] {
        for j in 0..4 {
            let mut onehot = vec![0f32; 8];
            onehot[j] = 1.0;
            onehot[4 + j] = 1.0;
            let x_t = tensor_from_vec(onehot, [2, 1, 4], &device);
            for (kt, ks) in [(0.0, 0.3), (0.2, 0.5), (0.9, 0.95), (0.5, 1.0)] {
                let p = to_vec(categorical::posterior(
                    x_t.clone(),
                    p0.clone(),
                    kt,
                    ks,
                    &prior,
                ));
                for row in p.chunks(4) {
                    let total: f32 = row.iter().sum();
                    assert!((total - 1.0).abs() < 1e-5, "{prior:?} {kt}→{ks}: {row:?}");
                    assert!(row.iter().all(|&v| v >= 0.0));
                }
                if ks == 1.0 {
                    // At data the step draws from p̂ itself.
                    for (a, b) in p.iter().zip(to_vec(p0.clone())) {
                        assert!((a - b).abs() < 1e-5, "{prior:?}: {a} vs {b}");
                    }
                }
            }
        }
    }
    // The masked prior: an unmasked entry stays; a masked one unmasks into p̂ or stays.
    let prior = CategoricalPrior::Masked { data_classes: 3 };
    let p0 = tensor_from_vec(vec![0.2, 0.3, 0.5, 0.0], [1, 1, 4], &device);
    let kept = tensor_from_vec(vec![0.0, 1.0, 0.0, 0.0], [1, 1, 4], &device);
    let p = to_vec(categorical::posterior(kept, p0.clone(), 0.4, 0.6, &prior));
    assert!((p[1] - 1.0).abs() < 1e-5, "{p:?}");
    let masked = tensor_from_vec(vec![0.0, 0.0, 0.0, 1.0], [1, 1, 4], &device);
    let p = to_vec(categorical::posterior(masked, p0, 0.4, 0.6, &prior));
    // Unmasking probability (κ_s − κ_t)/(1 − κ_t) = 1/3, spread as p̂.
    let expected = [0.2 / 3.0, 0.3 / 3.0, 0.5 / 3.0, 2.0 / 3.0];
    for (a, b) in p.iter().zip(expected) {
        assert!((*a as f64 - b).abs() < 1e-5, "{p:?}");
    }
}

/// A state of rows: positions (3 columns, zero mean over the rows), a torus angle, and a
/// 3-class categorical part. The space removes the positions' mean and wraps the angle.
struct MixedSpace;

impl NoiseSpace<3> for MixedSpace {
    type Context = ();

    fn noise<N: diffgen_core::NoiseSource>(
        &self,
        shape: [usize; 3],
        _: &(),
        source: &mut N,
        device: &Device,
    ) -> Tensor<3> {
        self.project(source.standard_normal(shape, device), &())
    }

    fn project(&self, x: Tensor<3>, _: &()) -> Tensor<3> {
        let positions = x.clone().narrow(2, 0, 3);
        let centred = positions.clone() - positions.mean_dim(1);
        let angle = x.clone().narrow(2, 3, 1);
        let pi = std::f64::consts::PI;
        let wrapped = angle.clone()
            - (angle.add_scalar(pi).div_scalar(2.0 * pi))
                .floor()
                .mul_scalar(2.0 * pi);
        Tensor::cat(vec![centred, wrapped, x.narrow(2, 4, 3)], 2)
    }
}

/// Any network: a fixed mixing of its input (the constraints must hold whatever it says).
struct Scrambler;

impl Denoiser<3> for Scrambler {
    type Context = ();

    fn objective(&self) -> Objective {
        Objective::FlowVelocity
    }

    fn predict(&self, x_t: Tensor<3>, t: Tensor<1>, _: &()) -> Tensor<3> {
        let [b, n, f] = x_t.dims();
        let shifted = x_t.clone().mul_scalar(1.7).add_scalar(0.4);
        let t = t.reshape([b, 1, 1]);
        (shifted * t.add_scalar(0.5))
            .reshape([b, n, f])
            .sin()
            .mul_scalar(3.0)
    }
}

#[test]
fn every_part_stays_in_its_space_at_every_step() {
    let settings = BTreeMap::new();
    let layout = StateLayout::builder()
        .continuous("positions", 3)
        .continuous("angle", 1)
        .categorical("types", 1, 3, None)
        .settings(&settings)
        .unwrap();
    let mut config = DiffusionConfig::gaussian(
        diffgen_core::ScheduleConfig::course_linear(),
        Objective::FlowVelocity,
    );
    config.schedule = None;
    config.flow = Some(FlowConfig::default());
    let process = config.process(layout).unwrap();
    let device = Device::flex();
    for sampler in ["euler", "heun", "euler-maruyama:2", "ddpm", "dpm++2m"] {
        let mut noise = PerSampleStreams::new(1, 0..4);
        let mut steps = 0;
        let mut check = |x: &Tensor<3>| {
            let v = to_vec(x.clone());
            for sample in v.chunks(5 * 7) {
                for axis in 0..3 {
                    let mean: f32 = sample.chunks(7).map(|r| r[axis]).sum::<f32>() / 5.0;
                    assert!(mean.abs() < 1e-4, "{sampler}: centre of mass {mean}");
                }
                for row in sample.chunks(7) {
                    let pi = std::f32::consts::PI;
                    assert!(
                        (-pi..pi + 1e-5).contains(&row[3]),
                        "{sampler}: angle {}",
                        row[3]
                    );
                    let ones = row[4..].iter().filter(|&&e| e == 1.0).count();
                    let zeros = row[4..].iter().filter(|&&e| e == 0.0).count();
                    assert!(ones == 1 && zeros == 2, "{sampler}: not one-hot {row:?}");
                }
            }
            steps += 1;
        };
        sample(
            &SamplerConfig::new(sampler.parse::<SamplerKind>().unwrap(), Some(12)),
            &process,
            &MixedSpace,
            &Scrambler,
            &(),
            [4, 5, 7],
            &mut noise,
            &device,
            &mut |e| check(e.x),
        )
        .unwrap();
        assert_eq!(steps, 12, "{sampler}");
    }
}
