//! Euler's method on the probability-flow ODE `dx/dt = α'(t)·x̂_0 + σ'(t)·ε̂` (on flow
//! matching's line, the velocity ε̂ − x̂_0). Continuous time only.

use burn::tensor::Tensor;

use super::{needs_continuous_time, no_argument, Memory, Sampler, SamplerEntry, Step, StepOps};
use crate::process::GaussianPath;

/// `euler`.
pub(super) const ENTRY: SamplerEntry = SamplerEntry {
    name: "euler",
    aliases: &[],
    usage: "euler",
    help: "Euler steps of the flow ODE (deterministic; flow matching)",
    build: |arg| no_argument(arg, Euler),
};

/// Euler (no settings).
#[derive(Debug, Clone, Copy, Default)]
pub struct Euler;

/// The ODE's velocity at a point with estimates (x̂_0, ε̂) at time `t`.
pub(super) fn velocity(path: &GaussianPath, t: f64, x0: &Tensor<2>, eps: &Tensor<2>) -> Tensor<2> {
    let (da, ds) = path
        .derivatives(t)
        .expect("checked: continuous-time samplers run on continuous paths only");
    x0.clone().mul_scalar(da) + eps.clone().mul_scalar(ds)
}

impl Sampler for Euler {
    fn spec(&self) -> String {
        "euler".into()
    }

    fn unfit(&self, path: &GaussianPath) -> Option<String> {
        needs_continuous_time(path)
    }

    fn step(&self, step: &Step<'_>, _memory: &mut Memory, _ops: &mut dyn StepOps) -> Tensor<2> {
        let u = velocity(step.path, step.t, step.x0, step.eps);
        step.x.clone() + u.mul_scalar(step.s - step.t)
    }
}
