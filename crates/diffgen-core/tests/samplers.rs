//! Samplers driven by the exact denoiser of Gaussian data must reproduce that Gaussian.
//!
//! For data x_0 ~ N(μ, s²) (per coordinate), x_t ~ N(α μ, α² s² + σ²) and the optimal
//! ε-prediction is E[ε | x_t] = σ (x_t − α μ) / (α² s² + σ²). A sampler with a wrong update
//! (a wrong posterior variance, a missing √ᾱ, a bad multistep coefficient) moves the mean or
//! the variance of its output away from (μ, s²).

use burn::tensor::{Device, Tensor};
use diffgen_core::sampler::{sample, SamplerConfig, SamplerKind};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::{
    Denoiser, EuclideanSpace, NoiseSchedule, Objective, PerSampleStreams, ScheduleConfig,
};

struct GaussianOracle {
    mean: f64,
    std: f64,
    schedule: NoiseSchedule,
    objective: Objective,
}

impl Denoiser<2> for GaussianOracle {
    type Context = ();

    fn objective(&self) -> Objective {
        self.objective
    }

    fn predict(&self, x_t: Tensor<2>, t: Tensor<1>, _: &()) -> Tensor<2> {
        // Every sample of a batch shares t here.
        let frac = to_vec(t)[0] as f64;
        let level = (frac * self.schedule.steps() as f64).round() as usize;
        let (a, s) = (self.schedule.alpha(level), self.schedule.sigma(level));
        let var = a * a * self.std * self.std + s * s;
        let eps = (x_t.clone() - a * self.mean).mul_scalar(s / var);
        let x0 = (x_t.clone() - eps.clone().mul_scalar(s)).div_scalar(a);
        match self.objective {
            Objective::Epsilon => eps,
            Objective::Sample => x0,
            Objective::Velocity => eps.mul_scalar(a) - x0.mul_scalar(s),
            Objective::FlowVelocity => unreachable!("flow matching has its own tests (flow.rs)"),
        }
    }
}

/// DDPM's own schedule (T = 1000, ᾱ_T ≈ 4e-5): its prior N(0, I) matches the marginal at T.
/// (The course's T = 400 leaves ᾱ_T ≈ 0.018, a prior mismatch every sampler inherits.)
fn ddpm_linear() -> ScheduleConfig {
    ScheduleConfig::Linear {
        steps: 1000,
        beta_start: 1e-4,
        beta_end: 0.02,
    }
}

fn moments(values: &[f32]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

fn run(
    schedule: ScheduleConfig,
    kind: SamplerKind,
    steps: usize,
    objective: Objective,
) -> (f64, f64) {
    let device = Device::flex();
    let schedule = schedule.build().unwrap();
    let oracle = GaussianOracle {
        mean: 1.5,
        std: 0.5,
        schedule: schedule.clone(),
        objective,
    };
    let n = 4000;
    let mut noise = PerSampleStreams::new(11, 0..n as u64);
    let out = sample(
        &SamplerConfig::new(kind.clone(), Some(steps)),
        &diffgen_core::Process::from(schedule.clone()),
        &EuclideanSpace::<()>::new(),
        &oracle,
        &(),
        [n, 4],
        &mut noise,
        &device,
        &mut |_| {},
    )
    .unwrap();
    moments(&to_vec(out))
}

fn assert_gaussian(label: &str, (mean, std): (f64, f64), tolerance: f64) {
    // 16 000 draws: the standard error of the mean is 0.004, of the std ~0.003.
    assert!(
        (mean - 1.5).abs() < tolerance,
        "{label}: mean {mean}, expected 1.5"
    );
    assert!(
        (std - 0.5).abs() < tolerance,
        "{label}: std {std}, expected 0.5"
    );
}

// With finitely many steps every sampler shrinks the variance a little (its last step maps
// a noisy level to the posterior mean); the error falls with the step count, fast for the
// second-order solver. The tolerances are set where a correct sampler lands; a wrong update
// misses them by far more (see `a_wrong_posterior_is_detected`).

#[test]
fn ddpm_converges_with_steps() {
    assert_gaussian(
        "ddpm 1000",
        run(ddpm_linear(), SamplerKind::ddpm(), 1000, Objective::Epsilon),
        0.015,
    );
    let error = |steps| {
        (run(
            ddpm_linear(),
            SamplerKind::ddpm(),
            steps,
            Objective::Epsilon,
        )
        .1 - 0.5)
            .abs()
    };
    let (e50, e250, e1000) = (error(50), error(250), error(1000));
    assert!(
        e50 > e250 && e250 > e1000,
        "std errors {e50} {e250} {e1000} should fall"
    );
}

#[test]
fn ddim_deterministic_matches_data() {
    assert_gaussian(
        "ddim 1000",
        run(
            ddpm_linear(),
            SamplerKind::ddim(0.0),
            1000,
            Objective::Epsilon,
        ),
        0.015,
    );
    assert_gaussian(
        "ddim 100 (edm)",
        run(
            ScheduleConfig::edm_polynomial(),
            SamplerKind::ddim(0.0),
            100,
            Objective::Epsilon,
        ),
        0.015,
    );
}

#[test]
fn ddim_with_eta_one_is_ddpm() {
    for steps in [10, 100] {
        let ddpm = run(
            ddpm_linear(),
            SamplerKind::ddpm(),
            steps,
            Objective::Epsilon,
        );
        let ddim = run(
            ddpm_linear(),
            SamplerKind::ddim(1.0),
            steps,
            Objective::Epsilon,
        );
        assert!(
            (ddpm.0 - ddim.0).abs() < 1e-5 && (ddpm.1 - ddim.1).abs() < 1e-5,
            "{ddpm:?} vs {ddim:?}"
        );
    }
}

#[test]
fn dpm_solver_in_few_steps() {
    assert_gaussian(
        "dpm++2m 50",
        run(
            ddpm_linear(),
            SamplerKind::dpm_solver_2m(),
            50,
            Objective::Epsilon,
        ),
        0.01,
    );
    assert_gaussian(
        "dpm++2m 20 (edm)",
        run(
            ScheduleConfig::edm_polynomial(),
            SamplerKind::dpm_solver_2m(),
            20,
            Objective::Epsilon,
        ),
        0.01,
    );
    // Second order beats first order at the same budget.
    let dpm = run(
        ddpm_linear(),
        SamplerKind::dpm_solver_2m(),
        20,
        Objective::Epsilon,
    )
    .1;
    let ddim = run(
        ddpm_linear(),
        SamplerKind::ddim(0.0),
        20,
        Objective::Epsilon,
    )
    .1;
    assert!(
        (dpm - 0.5).abs() < 0.5 * (ddim - 0.5).abs(),
        "dpm {dpm} vs ddim {ddim}"
    );
}

#[test]
fn other_objectives_and_schedules() {
    let edm = ScheduleConfig::edm_polynomial();
    assert_gaussian(
        "edm ddpm 1000",
        run(edm.clone(), SamplerKind::ddpm(), 1000, Objective::Epsilon),
        0.015,
    );
    assert_gaussian(
        "edm ddpm 1000 (v)",
        run(edm.clone(), SamplerKind::ddpm(), 1000, Objective::Velocity),
        0.015,
    );
    assert_gaussian(
        "edm dpm++ 50 (x0)",
        run(edm, SamplerKind::dpm_solver_2m(), 50, Objective::Sample),
        0.01,
    );
    let cosine = ScheduleConfig::Cosine {
        steps: 1000,
        offset: 0.008,
    };
    assert_gaussian(
        "cosine dpm++ 50",
        run(cosine, SamplerKind::dpm_solver_2m(), 50, Objective::Epsilon),
        0.01,
    );
}

#[test]
fn a_wrong_posterior_is_detected() {
    // The oracle of a different Gaussian must fail the same check: the test can fail.
    let device = Device::flex();
    let schedule = ScheduleConfig::course_linear().build().unwrap();
    let wrong = GaussianOracle {
        mean: 1.5,
        std: 0.8,
        schedule: schedule.clone(),
        objective: Objective::Epsilon,
    };
    let mut noise = PerSampleStreams::new(11, 0..2000);
    let out = sample(
        &SamplerConfig::new(SamplerKind::ddpm(), Some(50)),
        &diffgen_core::Process::from(schedule.clone()),
        &EuclideanSpace::<()>::new(),
        &wrong,
        &(),
        [2000, 4],
        &mut noise,
        &device,
        &mut |_| {},
    )
    .unwrap();
    let (_, std) = moments(&to_vec(out));
    assert!((std - 0.5).abs() > 0.1);
}

#[test]
fn observer_sees_every_step() {
    let device = Device::flex();
    let schedule = ScheduleConfig::edm_polynomial().build().unwrap();
    let oracle = GaussianOracle {
        mean: 0.0,
        std: 1.0,
        schedule: schedule.clone(),
        objective: Objective::Epsilon,
    };
    let mut seen = Vec::new();
    let mut noise = PerSampleStreams::new(0, 0..3);
    sample(
        &SamplerConfig::new(SamplerKind::ddpm(), Some(10)),
        &diffgen_core::Process::from(schedule.clone()),
        &EuclideanSpace::<()>::new(),
        &oracle,
        &(),
        [3, 2],
        &mut noise,
        &device,
        &mut |e| seen.push((e.step, e.total, e.t)),
    )
    .unwrap();
    // 10 steps plus EDM's final denoising call at t = 0.
    assert_eq!(seen.len(), 11);
    assert_eq!(seen[0], (1, 11, 0.9));
    assert_eq!(seen[10], (11, 11, 0.0));
}
