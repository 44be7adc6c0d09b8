//! Ancestral DDPM: a draw from the exact Gaussian posterior q(x_s | x_t, x̂_0) (Ho et al.
//! 2020; EDM's sampler when every level is visited). Fits any Gaussian path.

use burn::tensor::Tensor;

use super::{no_argument, Memory, Sampler, SamplerEntry, Step, StepOps};

/// `ddpm`.
pub(super) const ENTRY: SamplerEntry = SamplerEntry {
    name: "ddpm",
    aliases: &[],
    usage: "ddpm",
    help: "ancestral sampling from the exact Gaussian posterior (stochastic)",
    build: |arg| no_argument(arg, Ddpm),
};

/// Ancestral DDPM (no settings).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ddpm;

impl Sampler for Ddpm {
    fn spec(&self) -> String {
        "ddpm".into()
    }

    fn step(&self, step: &Step<'_>, _memory: &mut Memory, ops: &mut dyn StepOps) -> Tensor<2> {
        let ((alpha_t, sigma_t), (alpha_s, sigma_s)) = (step.at_t(), step.at_s());
        let alpha_ts = alpha_t / alpha_s;
        let var_ts = sigma_t * sigma_t - alpha_ts * alpha_ts * sigma_s * sigma_s;
        let mean = step
            .x
            .clone()
            .mul_scalar(alpha_ts * sigma_s * sigma_s / (sigma_t * sigma_t))
            + step
                .x0
                .clone()
                .mul_scalar(alpha_s * var_ts / (sigma_t * sigma_t));
        let std = (var_ts * sigma_s * sigma_s / (sigma_t * sigma_t))
            .max(0.0)
            .sqrt();
        if std > 0.0 {
            mean + ops.noise().mul_scalar(std)
        } else {
            mean
        }
    }
}
