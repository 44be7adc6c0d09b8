//! Flow matching's samplers against the exact velocity field of Gaussian data.
//!
//! For data x_0 ~ N(μ, s²) on the line x_t = (1 − t)·x_0 + t·ε, x_t ~ N((1 − t)μ, v_t) with
//! v_t = (1 − t)²s² + t², and E[ε | x_t] = t·(x_t − (1 − t)μ)/v_t,
//! E[x_0 | x_t] = μ + (1 − t)s²·(x_t − (1 − t)μ)/v_t. Integrating the exact velocity from
//! the prior must return the data's mean and standard deviation; a wrong velocity must not.

use burn::tensor::{Device, Tensor};
use diffgen_core::process::{DiffusionConfig, FlowConfig, Process, StateLayout};
use diffgen_core::sampler::{sample, SamplerConfig};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::{Denoiser, EuclideanSpace, Objective, PerSampleStreams, SamplerKind};

const MEAN: f64 = 1.5;
const STD: f64 = 0.5;

struct FlowOracle {
    objective: Objective,
    /// Scales the velocity: 1 is exact.
    error: f64,
}

impl Denoiser<2> for FlowOracle {
    type Context = ();

    fn objective(&self) -> Objective {
        self.objective
    }

    fn predict(&self, x_t: Tensor<2>, t: Tensor<1>, _: &()) -> Tensor<2> {
        let t = to_vec(t)[0] as f64;
        let var = (1.0 - t).powi(2) * STD * STD + t * t;
        let centred = x_t.sub_scalar((1.0 - t) * MEAN);
        let eps = centred.clone().mul_scalar(t / var);
        let x0 = centred
            .mul_scalar((1.0 - t) * STD * STD / var)
            .add_scalar(MEAN);
        match self.objective {
            Objective::Sample => x0,
            Objective::FlowVelocity => (eps - x0).mul_scalar(self.error),
            other => unreachable!("{other:?} is not a flow objective"),
        }
    }
}

fn flow_process() -> Process {
    let mut config = DiffusionConfig::gaussian(
        diffgen_core::ScheduleConfig::course_linear(),
        Objective::FlowVelocity,
    );
    config.schedule = None;
    config.flow = Some(FlowConfig::default());
    config.process(StateLayout::single()).unwrap()
}

fn run(sampler: &str, steps: usize, objective: Objective, error: f64) -> (f64, f64) {
    let device = Device::flex();
    let n = 4000;
    let mut noise = PerSampleStreams::new(5, 0..n as u64);
    let out = sample(
        &SamplerConfig::new(sampler.parse::<SamplerKind>().unwrap(), Some(steps)),
        &flow_process(),
        &EuclideanSpace::<()>::new(),
        &FlowOracle { objective, error },
        &(),
        [n, 4],
        &mut noise,
        &device,
        &mut |_| {},
    )
    .unwrap();
    let values = to_vec(out);
    let m = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / values.len() as f64;
    (m, var.sqrt())
}

/// 16 000 draws: standard errors about 0.004 (mean) and 0.003 (std).
fn assert_data(label: &str, (mean, std): (f64, f64), tolerance: f64) {
    assert!((mean - MEAN).abs() < tolerance, "{label}: mean {mean}");
    assert!((std - STD).abs() < tolerance, "{label}: std {std}");
}

#[test]
fn euler_with_many_steps_returns_the_data_distribution() {
    assert_data(
        "euler 500",
        run("euler", 500, Objective::FlowVelocity, 1.0),
        0.015,
    );
    // Predicting x_0 is the same field read another way.
    assert_data(
        "euler 500 (x0)",
        run("euler", 500, Objective::Sample, 1.0),
        0.015,
    );
}

#[test]
fn heun_with_few_steps_returns_the_data_distribution() {
    assert_data(
        "heun 8",
        run("heun", 8, Objective::FlowVelocity, 1.0),
        0.015,
    );
    // Euler at the same step count is visibly worse: the second order matters.
    let (_, euler_std) = run("euler", 8, Objective::FlowVelocity, 1.0);
    let (_, heun_std) = run("heun", 8, Objective::FlowVelocity, 1.0);
    assert!(
        (heun_std - STD).abs() < (euler_std - STD).abs(),
        "heun {heun_std} vs euler {euler_std}"
    );
}

#[test]
fn the_stochastic_sampler_keeps_the_marginals() {
    assert_data(
        "euler-maruyama:1 500",
        run("euler-maruyama:1", 500, Objective::FlowVelocity, 1.0),
        0.02,
    );
}

#[test]
fn a_noise_scale_below_one_sharpens_the_samples() {
    // The score's pull without all of its noise: same centre, a clearly narrower spread.
    let (mean, std) = run("euler-maruyama:1:0.3", 500, Objective::FlowVelocity, 1.0);
    assert!((mean - MEAN).abs() < 0.02, "mean {mean}");
    assert!(
        std < STD - 0.1,
        "η = 0.3 left the spread at {std} (data {STD})"
    );
    // η = 1 is the plain sampler, draw for draw.
    assert_eq!(
        run("euler-maruyama:1:1", 50, Objective::FlowVelocity, 1.0),
        run("euler-maruyama:1", 50, Objective::FlowVelocity, 1.0)
    );
    assert!("euler-maruyama:1:1.5".parse::<SamplerKind>().is_err());
    assert!("euler-maruyama:1:nan".parse::<SamplerKind>().is_err());
}

#[test]
fn gaussian_path_samplers_run_on_the_line_too() {
    assert_data("ddpm 200", run("ddpm", 200, Objective::Sample, 1.0), 0.02);
    assert_data("ddim 200", run("ddim", 200, Objective::Sample, 1.0), 0.02);
    assert_data(
        "dpm++2m 20",
        run("dpm++2m", 20, Objective::Sample, 1.0),
        0.02,
    );
}

#[test]
fn a_wrong_velocity_is_detected() {
    let (mean, std) = run("euler", 500, Objective::FlowVelocity, 0.8);
    assert!(
        (mean - MEAN).abs() > 0.1 || (std - STD).abs() > 0.1,
        "a velocity 20 % short still gave mean {mean}, std {std}"
    );
}

#[test]
fn ode_samplers_refuse_a_discrete_schedule() {
    let process = Process::from(
        diffgen_core::ScheduleConfig::course_linear()
            .build()
            .unwrap(),
    );
    for name in ["euler", "heun", "euler-maruyama"] {
        let kind: SamplerKind = name.parse().unwrap();
        let err = kind.check(&process.path).unwrap_err().to_string();
        assert!(
            err.contains("continuous time") && err.contains("ddpm"),
            "{err}"
        );
    }
    assert!(SamplerKind::ddpm().check(&process.path).is_ok());
    assert!("ddim:2".parse::<SamplerKind>().is_err());
    assert!("heun:3".parse::<SamplerKind>().is_err());
    assert!("nope".parse::<SamplerKind>().is_err());
}

#[test]
fn a_flow_model_refuses_an_epsilon_objective() {
    let mut config = DiffusionConfig::gaussian(
        diffgen_core::ScheduleConfig::course_linear(),
        Objective::Epsilon,
    );
    config.schedule = None;
    config.flow = Some(FlowConfig::default());
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("diffusion.objective"), "{err}");
    config.objective = Objective::FlowVelocity;
    assert!(config.validate().is_ok());
    config.schedule = Some(diffgen_core::ScheduleConfig::course_linear());
    assert!(
        config.validate().is_err(),
        "both a schedule and a flow table"
    );
}
