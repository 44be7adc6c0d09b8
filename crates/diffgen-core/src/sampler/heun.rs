//! Heun's method (second order) on the probability-flow ODE: an Euler step, a second network
//! call at its end, and the average of both slopes. Two network calls per step. Where the
//! network cannot be read at the data end (an x_0-predicting model has no ε̂ at σ = 0) the
//! last step is Euler's, as in Karras et al. 2022. Continuous time only.

use burn::tensor::Tensor;

use super::euler::velocity;
use super::{needs_continuous_time, no_argument, Memory, Sampler, SamplerEntry, Step, StepOps};
use crate::process::GaussianPath;

/// `heun`.
pub(super) const ENTRY: SamplerEntry = SamplerEntry {
    name: "heun",
    aliases: &[],
    usage: "heun",
    help: "Heun steps of the flow ODE (second order, 2 calls a step; flow matching)",
    build: |arg| no_argument(arg, Heun),
};

/// Heun (no settings).
#[derive(Debug, Clone, Copy, Default)]
pub struct Heun;

impl Sampler for Heun {
    fn spec(&self) -> String {
        "heun".into()
    }

    fn unfit(&self, path: &GaussianPath) -> Option<String> {
        needs_continuous_time(path)
    }

    fn step(&self, step: &Step<'_>, _memory: &mut Memory, ops: &mut dyn StepOps) -> Tensor<2> {
        let dt = step.s - step.t;
        let u_t = velocity(step.path, step.t, step.x0, step.eps);
        let euler = step.x.clone() + u_t.clone().mul_scalar(dt);
        if !ops.predicts_at(step.s) {
            return euler;
        }
        let (x0_s, eps_s) = ops.predict(euler, step.s);
        let u_s = velocity(step.path, step.s, &x0_s, &eps_s);
        step.x.clone() + (u_t + u_s).mul_scalar(0.5 * dt)
    }
}
