//! The sampling loop: walk the time grid from the prior to data, stepping the continuous
//! columns with the chosen [`Sampler`] and the categorical ones with
//! [`CategoricalAncestral`], projecting onto the space after every update and reporting each
//! step. When the least noisy level is still noisy (EDM's schedules), one last network call
//! maps it to x̂_0.

use burn::tensor::{Device, Tensor};

use super::categorical::CategoricalAncestral;
use super::{Memory, SamplerConfig, Step, StepOps};
use crate::denoiser::Denoiser;
use crate::forward::Objective;
use crate::process::categorical::denoiser_probabilities;
use crate::process::{as_groups, Process};
use crate::rng::NoiseSource;
use crate::space::NoiseSpace;
use crate::CoreError;

/// What an observer sees after each step.
pub struct StepEvent<'a, const D: usize> {
    /// 1-based index of the network call.
    pub step: usize,
    /// Total number of network calls of this run (Heun's second calls not counted).
    pub total: usize,
    /// The time reached by this step (0 = the end).
    pub t: f64,
    /// The state after this step.
    pub x: &'a Tensor<D>,
    /// This step's estimate of the clean state (x̂_0; categorical parts: p̂).
    pub x0_hat: &'a Tensor<D>,
}

/// The network's reading of one state, part by part (a few per step, so boxing the larger
/// variant would buy nothing).
#[allow(clippy::large_enum_variant)]
enum PartEstimate<const D: usize> {
    Continuous { x0: Tensor<D>, eps: Tensor<D> },
    Categorical { p0: Tensor<D> },
}

/// Everything a step needs besides the state.
struct Walk<'a, const D: usize, S: NoiseSpace<D>, M> {
    process: &'a Process,
    space: &'a S,
    model: &'a M,
    context: &'a S::Context,
    objective: Objective,
    shape: [usize; D],
    device: &'a Device,
}

impl<const D: usize, S, M> Walk<'_, D, S, M>
where
    S: NoiseSpace<D>,
    M: Denoiser<D, Context = S::Context>,
{
    fn batch(&self) -> usize {
        self.shape[0]
    }

    fn model_time(&self, t: f64) -> Tensor<1> {
        Tensor::<1>::full([self.batch()], self.process.path.model_time(t), self.device)
    }

    /// Each part's estimate from a prediction at time `t`, and the whole estimate; a
    /// constraint of the space on x̂_0 re-derives ε̂ from the constrained x̂_0.
    fn read(
        &self,
        x: &Tensor<D>,
        prediction: Tensor<D>,
        t: f64,
    ) -> (Vec<PartEstimate<D>>, Tensor<D>) {
        let (alpha, sigma) = (self.process.path.alpha(t), self.process.path.sigma(t));
        let xs = self.process.split(x);
        let mut parts: Vec<PartEstimate<D>> = xs
            .iter()
            .zip(self.process.split(&prediction))
            .enumerate()
            .map(|(i, (x, p))| match self.process.prior(i) {
                None => {
                    let (x0, eps) = self.objective.split(x.clone(), p, alpha, sigma);
                    PartEstimate::Continuous { x0, eps }
                }
                Some(prior) => {
                    let dims = p.dims();
                    let p0 = denoiser_probabilities(as_groups(p, prior.classes()), prior);
                    PartEstimate::Categorical {
                        p0: p0.reshape(dims),
                    }
                }
            })
            .collect();
        let estimate = self.process.join(parts.iter().map(value).collect());
        let Some(constrained) = self.space.constrain_prediction(&estimate, t, self.context) else {
            return (parts, estimate);
        };
        for (i, (part, c)) in parts
            .iter_mut()
            .zip(self.process.split(&constrained))
            .enumerate()
        {
            if let PartEstimate::Continuous { x0, eps } = part {
                // At σ = 0 (a sampler's call at the data end) x_t is x̂₀: ε̂ stays as it was.
                if sigma > 0.0 {
                    *eps = (xs[i].clone() - c.clone().mul_scalar(alpha)).div_scalar(sigma);
                }
                *x0 = c;
            }
        }
        (parts, constrained)
    }

    /// The continuous columns of `parts`, flattened to `[B, F]`.
    fn flatten(&self, parts: impl Iterator<Item = Tensor<D>>) -> Tensor<2> {
        let b = self.batch() as i32;
        let mut flat: Vec<Tensor<2>> = parts.map(|p| p.reshape([b, -1])).collect();
        match flat.len() {
            1 => flat.remove(0),
            _ => Tensor::cat(flat, 1),
        }
    }

    /// The continuous columns of a state.
    fn continuous(&self, x: &Tensor<D>) -> Tensor<2> {
        let parts = self.process.split(x);
        self.flatten(
            parts
                .into_iter()
                .enumerate()
                .filter(|(i, _)| self.process.is_continuous(*i))
                .map(|(_, p)| p),
        )
    }

    /// The state whose continuous columns are `flat` and whose categorical parts are
    /// `categorical` (in layout order, None at continuous parts).
    fn assemble(&self, flat: Tensor<2>, categorical: &[Option<Tensor<D>>]) -> Tensor<D> {
        if self.process.layout.parts().is_empty() {
            return flat.reshape(self.shape);
        }
        let rows: usize = self.shape[1..D - 1].iter().product();
        let mut offset = 0;
        let parts = self
            .process
            .layout
            .parts()
            .iter()
            .zip(categorical)
            .map(|(part, cat)| match cat {
                Some(c) => c.clone(),
                None => {
                    let size = rows * part.width;
                    let mut dims = self.shape;
                    dims[D - 1] = part.width;
                    let piece = flat.clone().narrow(1, offset, size).reshape(dims);
                    offset += size;
                    piece
                }
            })
            .collect();
        self.process.join(parts)
    }
}

fn value<const D: usize>(part: &PartEstimate<D>) -> Tensor<D> {
    match part {
        PartEstimate::Continuous { x0, .. } => x0.clone(),
        PartEstimate::Categorical { p0 } => p0.clone(),
    }
}

/// The driver's side of a step, for samplers that draw noise or call the network again.
struct Ops<'w, 'a, const D: usize, S: NoiseSpace<D>, M, N> {
    walk: &'w Walk<'a, D, S, M>,
    noise: &'w mut N,
    categorical: &'w [Option<Tensor<D>>],
    previous: Option<Tensor<D>>,
}

impl<const D: usize, S, M, N> StepOps for Ops<'_, '_, D, S, M, N>
where
    S: NoiseSpace<D>,
    M: Denoiser<D, Context = S::Context>,
    N: NoiseSource,
{
    fn noise(&mut self) -> Tensor<2> {
        let w = self.walk;
        let eps = w.space.noise(w.shape, w.context, self.noise, w.device);
        w.continuous(&eps)
    }

    fn predict(&mut self, x: Tensor<2>, t: f64) -> (Tensor<2>, Tensor<2>) {
        let w = self.walk;
        let state = w.space.project(w.assemble(x, self.categorical), w.context);
        let prediction = w.model.predict_with(
            state.clone(),
            w.model_time(t),
            w.context,
            self.previous.clone(),
        );
        let (parts, _) = w.read(&state, prediction, t);
        let (x0s, epss): (Vec<_>, Vec<_>) = parts
            .into_iter()
            .filter_map(|p| match p {
                PartEstimate::Continuous { x0, eps } => Some((x0, eps)),
                PartEstimate::Categorical { .. } => None,
            })
            .unzip();
        (w.flatten(x0s.into_iter()), w.flatten(epss.into_iter()))
    }

    fn predicts_at(&self, t: f64) -> bool {
        self.walk.objective != Objective::Sample || self.walk.process.path.sigma(t) > 0.0
    }
}

/// Draws a batch of `shape` from the model with `config`'s sampler on `process`.
#[allow(clippy::too_many_arguments)]
pub fn sample<const D: usize, S, M, N>(
    config: &SamplerConfig,
    process: &Process,
    space: &S,
    model: &M,
    context: &S::Context,
    shape: [usize; D],
    noise: &mut N,
    device: &Device,
    observer: &mut dyn FnMut(&StepEvent<'_, D>),
) -> Result<Tensor<D>, CoreError>
where
    S: NoiseSpace<D>,
    M: Denoiser<D, Context = S::Context>,
    N: NoiseSource,
{
    let path = &process.path;
    config.kind.check(path)?;
    if process.layout.width() > 0 && process.layout.width() != shape[D - 1] {
        return Err(CoreError::Other(format!(
            "the state's last axis has {} columns, its layout {}",
            shape[D - 1],
            process.layout.width()
        )));
    }
    let grid = config.grid(path)?;
    let total = grid.len() - 1 + usize::from(path.needs_final_denoise());
    let walk = Walk {
        process,
        space,
        model,
        context,
        objective: model.objective(),
        shape,
        device,
    };
    let sampler = config.kind.sampler();
    let categorical = CategoricalAncestral::default();
    let has_categorical = process.layout.has_categorical();

    // The start is projected like every later state (a torus wraps its noise).
    let mut x = space.noise(shape, context, noise, device);
    if has_categorical {
        let normals = process.split(&noise.standard_normal(shape, device));
        let parts = process
            .split(&x)
            .into_iter()
            .zip(normals)
            .enumerate()
            .map(|(i, (part, z))| match process.prior(i) {
                None => part,
                Some(prior) => categorical
                    .start(prior, as_groups(z, prior.classes()))
                    .reshape(part.dims()),
            })
            .collect();
        x = process.join(parts);
    }
    let mut x = space.project(x, context);
    let mut memory = Memory::default();
    let mut previous: Option<Tensor<D>> = None;

    for (k, pair) in grid.windows(2).enumerate() {
        let (t, s) = (pair[0], pair[1]);
        let prediction =
            model.predict_with(x.clone(), walk.model_time(t), context, previous.clone());
        let (parts, estimate) = walk.read(&x, prediction, t);

        // Categorical parts first, so that a sampler's extra network calls see them at s.
        let normals = has_categorical.then(|| process.split(&noise.standard_normal(shape, device)));
        let current = process.split(&x);
        let mut stepped: Vec<Option<Tensor<D>>> = Vec::with_capacity(parts.len());
        let (mut x0s, mut epss) = (Vec::new(), Vec::new());
        for (i, part) in parts.into_iter().enumerate() {
            match part {
                PartEstimate::Continuous { x0, eps } => {
                    x0s.push(x0);
                    epss.push(eps);
                    stepped.push(None);
                }
                PartEstimate::Categorical { p0 } => {
                    let prior = process.prior(i).expect("a categorical part has a prior");
                    let k = prior.classes();
                    let z = normals.as_ref().expect("drawn for categorical parts")[i].clone();
                    let next = categorical.step(
                        as_groups(current[i].clone(), k),
                        as_groups(p0, k),
                        t,
                        s,
                        prior,
                        as_groups(z, k),
                    );
                    stepped.push(Some(next.reshape(current[i].dims())));
                }
            }
        }
        let step = Step {
            path,
            t,
            s,
            x: &walk.continuous(&x),
            x0: &walk.flatten(x0s.into_iter()),
            eps: &walk.flatten(epss.into_iter()),
            last: s == 0.0,
        };
        let self_conditioning = model.self_conditioned().then(|| estimate.clone());
        let mut ops = Ops {
            walk: &walk,
            noise: &mut *noise,
            categorical: &stepped,
            previous: self_conditioning.clone(),
        };
        let next = sampler.step(&step, &mut memory, &mut ops);
        x = space.project(walk.assemble(next, &stepped), context);
        previous = self_conditioning;
        observer(&StepEvent {
            step: k + 1,
            total,
            t: s,
            x: &x,
            x0_hat: &estimate,
        });
    }

    if path.needs_final_denoise() {
        let prediction = model.predict_with(x.clone(), walk.model_time(0.0), context, previous);
        let (parts, _) = walk.read(&x, prediction, 0.0);
        let current = process.split(&x);
        let clean = parts
            .into_iter()
            .zip(current)
            .map(|(part, now)| match part {
                PartEstimate::Continuous { x0, .. } => x0,
                PartEstimate::Categorical { .. } => now,
            })
            .collect();
        x = space.project(process.join(clean), context);
        observer(&StepEvent {
            step: total,
            total,
            t: 0.0,
            x: &x,
            x0_hat: &x,
        });
    }
    Ok(x)
}
