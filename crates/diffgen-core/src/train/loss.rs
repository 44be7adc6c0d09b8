//! The denoising loss, shared by every modality.

use burn::tensor::{Device, Tensor};

use crate::denoiser::Denoiser;
use crate::forward::{add_noise, LossWeighting};
use crate::rng::NoiseSource;
use crate::schedule::NoiseSchedule;
use crate::space::NoiseSpace;
use crate::tensor_util::{coefficients, per_sample};

/// Per-sample losses `[B]` at the levels `t` (one per sample): draw ε in the space, form
/// `x_t`, predict, and compare with the objective's target under the weighting.
#[allow(clippy::too_many_arguments)]
pub fn denoising_loss<const D: usize, S, M, N>(
    model: &M,
    space: &S,
    schedule: &NoiseSchedule,
    weighting: LossWeighting,
    x0: Tensor<D>,
    context: &S::Context,
    t: &[usize],
    noise: &mut N,
) -> Tensor<1>
where
    S: NoiseSpace<D>,
    M: Denoiser<D, Context = S::Context>,
    N: NoiseSource,
{
    let device: Device = x0.device();
    let shape: [usize; D] = x0.dims();
    let objective = model.objective();
    let eps = space.noise(shape, context, noise, &device);
    let alpha: Vec<f64> = t.iter().map(|&t| schedule.alpha(t)).collect();
    let sigma: Vec<f64> = t.iter().map(|&t| schedule.sigma(t)).collect();
    let weights: Vec<f64> = alpha
        .iter()
        .zip(&sigma)
        .map(|(a, s)| weighting.weight(objective, (a * a) / (s * s)))
        .collect();
    let alpha = per_sample::<D>(coefficients(&alpha, &device));
    let sigma = per_sample::<D>(coefficients(&sigma, &device));
    let x_t = space.project(
        add_noise(x0.clone(), eps.clone(), alpha.clone(), sigma.clone()),
        context,
    );
    let t_frac: Vec<f64> = t
        .iter()
        .map(|&t| t as f64 / schedule.steps() as f64)
        .collect();
    let prediction = model.predict(x_t, coefficients(&t_frac, &device), context);
    let target = objective.target(x0, eps, alpha, sigma);
    let per_sample_loss = space.reduce((prediction - target).square(), context);
    if weights.iter().all(|&w| w == 1.0) {
        per_sample_loss
    } else {
        per_sample_loss * coefficients(&weights, &device)
    }
}
