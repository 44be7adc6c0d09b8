//! The training loss of any process: every part corrupted at one time, one network call,
//! each part's error weighted and summed.

use burn::tensor::{Device, Tensor};

use super::categorical::{self, keep_probability};
use super::{as_groups, GaussianPath, Process};
use crate::denoiser::Denoiser;
use crate::forward::add_noise;
use crate::rng::{NoiseSource, SeededRng};
use crate::space::NoiseSpace;
use crate::tensor_util::{coefficients, per_sample};
use crate::train::denoising_loss;

/// Per-sample losses `[B]` of data `x0` at times `t` (one per sample, 0 clean … 1 prior).
///
/// Continuous parts: `x_t = α·x_0 + σ·ε` with ε from the space, squared error of the
/// objective's target under the weighting. Categorical parts: entries corrupted towards the
/// prior with keep probability 1 − t, cross-entropy of the network's logits against x_0.
/// Each part's per-sample mean (the space's [`NoiseSpace::reduce_part`]) is multiplied by its
/// weight. A single-part model on a schedule is exactly [`denoising_loss`] (EDM's loss).
/// A self-conditioned network sees its own detached estimate in half the samples' steps.
#[allow(clippy::too_many_arguments)]
pub fn process_loss<const D: usize, S, M>(
    process: &Process,
    model: &M,
    space: &S,
    x0: Tensor<D>,
    context: &S::Context,
    t: &[f64],
    rng: &mut SeededRng,
) -> Tensor<1>
where
    S: NoiseSpace<D>,
    M: Denoiser<D, Context = S::Context>,
{
    if let (GaussianPath::Schedule(schedule), true, false) = (
        &process.path,
        process.layout.is_single(),
        model.self_conditioned(),
    ) {
        let levels: Vec<usize> = t
            .iter()
            .map(|&t| (t * schedule.steps() as f64).round() as usize)
            .collect();
        return denoising_loss(
            model,
            space,
            schedule,
            process.weighting,
            x0,
            context,
            &levels,
            rng,
        );
    }

    let device: Device = x0.device();
    let shape: [usize; D] = x0.dims();
    let objective = model.objective();
    let path = &process.path;
    let mut eps = space.noise(shape, context, rng, &device);
    if process.align_prior {
        eps = space.align_prior(eps, &x0, context);
    }
    let alpha: Vec<f64> = t.iter().map(|&t| path.alpha(t)).collect();
    let sigma: Vec<f64> = t.iter().map(|&t| path.sigma(t)).collect();
    let kappa: Vec<f64> = t.iter().map(|&t| keep_probability(t)).collect();
    let snr_weights: Vec<f64> = alpha
        .iter()
        .zip(&sigma)
        .map(|(a, s)| process.weighting.weight(objective, (a * a) / (s * s)))
        .collect();
    let alpha_d = per_sample::<D>(coefficients(&alpha, &device));
    let sigma_d = per_sample::<D>(coefficients(&sigma, &device));
    let kappa_3 = per_sample::<3>(coefficients(&kappa, &device));
    let needs_normals = process.layout.has_categorical();
    let normals = needs_normals.then(|| rng.standard_normal(shape, &device));

    let data = process.split(&x0);
    let noises = process.split(&eps);
    let normal_parts = normals.as_ref().map(|n| process.split(n));
    let noisy: Vec<Tensor<D>> = data
        .iter()
        .enumerate()
        .map(|(i, x)| match process.prior(i) {
            None => add_noise(
                x.clone(),
                noises[i].clone(),
                alpha_d.clone(),
                sigma_d.clone(),
            ),
            Some(prior) => {
                let k = prior.classes();
                let z = normal_parts.as_ref().expect("drawn for categorical parts")[i].clone();
                let corrupted = categorical::corrupt(
                    as_groups(x.clone(), k),
                    kappa_3.clone(),
                    prior,
                    as_groups(z, k),
                );
                corrupted.reshape(x.dims())
            }
        })
        .collect();
    let x_t = space.project(process.join(noisy), context);
    let model_t: Vec<f64> = t.iter().map(|&t| path.model_time(t)).collect();
    let model_t = coefficients(&model_t, &device);

    let previous = (model.self_conditioned() && rng.uniform() < 0.5).then(|| {
        let first = model.predict_with(x_t.clone(), model_t.clone(), context, None);
        estimate(process, objective, x_t.clone(), first, &alpha, &sigma).detach()
    });
    let prediction = model.predict_with(x_t.clone(), model_t, context, previous);
    let clean = || {
        estimate(
            process,
            objective,
            x_t.clone(),
            prediction.clone(),
            &alpha,
            &sigma,
        )
    };
    let auxiliary = space.auxiliary_loss(&clean, &x0, t, context);
    let predictions = process.split(&prediction);

    let parts = process.layout.parts();
    let reduce = |i: usize, elementwise: Tensor<D>| match parts.get(i) {
        Some(part) => space.reduce_part(part, elementwise, context),
        None => space.reduce(elementwise, context),
    };
    let mut total: Option<Tensor<1>> = None;
    for (i, (x, p)) in data.into_iter().zip(predictions).enumerate() {
        let weight = process.weight(i);
        let per_sample_loss = match process.prior(i) {
            None => {
                let target =
                    objective.target(x, noises[i].clone(), alpha_d.clone(), sigma_d.clone());
                reduce(i, (p - target).square()) * coefficients(&snr_weights, &device)
            }
            Some(prior) => {
                let dims = x.dims();
                let k = prior.classes();
                let ce = categorical::cross_entropy(as_groups(p, k), as_groups(x, k), prior);
                reduce(i, ce.reshape(dims))
            }
        };
        let term = per_sample_loss.mul_scalar(weight);
        total = Some(match total {
            None => term,
            Some(sum) => sum + term,
        });
    }
    let total = total.expect("a state has at least one part");
    match auxiliary {
        Some(extra) => total + extra,
        None => total,
    }
}

/// The clean-state estimate of a prediction: x̂_0 for continuous parts, p̂(x_0) for
/// categorical ones (what self-conditioning feeds back, and what observers see).
pub(crate) fn estimate<const D: usize>(
    process: &Process,
    objective: crate::forward::Objective,
    x_t: Tensor<D>,
    prediction: Tensor<D>,
    alpha: &[f64],
    sigma: &[f64],
) -> Tensor<D> {
    let device = x_t.device();
    let xs = process.split(&x_t);
    let ps = process.split(&prediction);
    let parts = xs
        .into_iter()
        .zip(ps)
        .enumerate()
        .map(|(i, (x, p))| match process.prior(i) {
            None => per_sample_split(objective, x, p, alpha, sigma, &device),
            Some(prior) => {
                let dims = p.dims();
                categorical::denoiser_probabilities(as_groups(p, prior.classes()), prior)
                    .reshape(dims)
            }
        })
        .collect();
    process.join(parts)
}

/// x̂_0 of a continuous part with per-sample (α, σ).
fn per_sample_split<const D: usize>(
    objective: crate::forward::Objective,
    x_t: Tensor<D>,
    prediction: Tensor<D>,
    alpha: &[f64],
    sigma: &[f64],
    device: &Device,
) -> Tensor<D> {
    use crate::forward::Objective;
    let a = per_sample::<D>(coefficients(alpha, device));
    let s = per_sample::<D>(coefficients(sigma, device));
    match objective {
        Objective::Epsilon => (x_t - prediction * s) / a,
        Objective::Sample => prediction,
        Objective::Velocity => x_t * a - prediction * s,
        Objective::FlowVelocity => x_t - prediction * s,
    }
}
