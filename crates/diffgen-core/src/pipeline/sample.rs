//! The batched sampling driver, written once for every modality.
//!
//! Samples are planned one by one (size and condition from the seed and the sample's global
//! index), sorted by size, cut into batches, and drawn with [`PaddedNoise`]: sample `i`'s
//! noise comes from stream `i` of the seed and ignores padding, so neither the batch size nor
//! `--shard` changes a sample.

use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};

use super::{load, EvalContext, Loaded, Manifest, OptionValues, Pipeline, RunOutput};
use crate::batching::similar_size_batches;
use crate::denoiser::Guided;
use crate::modality::{Report, SampleRequest};
use crate::rng::PaddedNoise;
use crate::sampler::{sample, SamplerConfig, StepEvent};
use crate::CoreError;

/// One sample to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned<C> {
    /// Its global index (its noise stream).
    pub index: usize,
    /// Real rows along axis 1 of the state (atoms, residues; the whole axis for fixed-size
    /// states).
    pub size: usize,
    /// What it is conditioned on.
    pub condition: C,
}

impl Planned<()> {
    /// An unconditioned sample of `fixed` rows, or of a size drawn by `draw` from stream
    /// `index` of `seed ^ salt` (the salt keeps size draws apart from the noise streams).
    pub fn sized(
        index: usize,
        fixed: Option<usize>,
        seed: u64,
        salt: u64,
        draw: impl FnOnce(&mut crate::rng::SeededRng) -> usize,
    ) -> Self {
        let size = fixed.unwrap_or_else(|| {
            draw(&mut crate::rng::SeededRng::stream(
                seed ^ salt,
                index as u64,
            ))
        });
        Self {
            index,
            size,
            condition: (),
        }
    }
}

/// How planned samples (sorted by size) are cut into batches of at most `--batch-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Cut also where padding would add more than 15 % pairwise work (attention, all-pairs
    /// messages over padded rows).
    SimilarSize,
    /// Full batches: the network does no work on padding.
    Full,
}

/// Which steps are kept as trajectory frames: every `every`-th, the last, and the first
/// when `include_first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePolicy {
    /// Keep every this many steps.
    pub every: usize,
    /// Keep the first step too.
    pub include_first: bool,
}

impl FramePolicy {
    /// At most about `frames` frames of a run of `total_steps` steps (the last included).
    pub fn at_most(total_steps: usize, frames: usize) -> Self {
        Self {
            every: total_steps.div_ceil(frames.max(1)).max(1),
            include_first: false,
        }
    }

    /// Whether step `step` (1-based) of `total` is kept.
    pub fn keeps(&self, step: usize, total: usize) -> bool {
        (self.include_first && step == 1) || step.is_multiple_of(self.every.max(1)) || step == total
    }
}

/// How to draw.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Update rule and step count.
    pub sampler: SamplerConfig,
    /// Seeds every sample's streams.
    pub seed: u64,
    /// Classifier-free guidance scale (conditional models).
    pub guidance: Option<f64>,
    /// Samples per batch at most.
    pub batch_size: usize,
    /// Trajectory frames to keep.
    pub frames: Option<FramePolicy>,
    /// Draw a progress bar (on a terminal only).
    pub progress: bool,
}

impl Generation {
    /// `sampler` at `seed`, batches of 256, no guidance, no frames, no progress bar.
    pub fn new(sampler: SamplerConfig, seed: u64) -> Self {
        Self {
            sampler,
            seed,
            guidance: None,
            batch_size: 256,
            frames: None,
            progress: false,
        }
    }
}

/// The states of every sample after one kept step, in index order.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<S> {
    /// 1-based step.
    pub step: usize,
    /// The time reached (0: the end).
    pub t: f64,
    /// One state per sample, in the order of [`Generated::indices`].
    pub samples: Vec<S>,
}

/// Samples in index order, and the kept frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated<S> {
    /// Global indices, ascending.
    pub indices: Vec<usize>,
    /// One per index.
    pub samples: Vec<S>,
    /// Kept frames, in step order.
    pub frames: Vec<Frame<S>>,
}

impl<S> Generated<S> {
    /// `(index, sample)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &S)> {
        self.indices.iter().copied().zip(&self.samples)
    }

    /// The frames of sample number `k` (position in `indices`), in step order.
    pub fn trajectory(&self, k: usize) -> impl Iterator<Item = &S> {
        self.frames.iter().map(move |f| &f.samples[k])
    }
}

/// Draws the global samples `indices` of `loaded`.
pub fn generate<P: Pipeline<D>, const D: usize>(
    pipeline: &P,
    loaded: &Loaded<P, D>,
    options: &P::Options,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated<P::Sample>, P::Error> {
    let process = pipeline.process(loaded)?;
    let space = pipeline.sampling_space(loaded, options);
    let mut plan: Vec<_> = indices
        .iter()
        .map(|&i| pipeline.plan(loaded, options, i, how.seed))
        .collect();
    plan.sort_by_key(|p| (p.size, p.index));
    let batches: Vec<&[Planned<P::Condition>]> = match pipeline.batching(loaded, device) {
        Batching::Full => plan.chunks(how.batch_size.max(1)).collect(),
        Batching::SimilarSize => similar_size_batches(&plan, |p| p.size, how.batch_size),
    };
    let path = &process.path;
    how.sampler.kind.check(path)?;
    let grid = how.sampler.grid(path)?;
    let calls = grid.len() - 1 + usize::from(path.needs_final_denoise());
    let progress = progress_bar(how.progress, indices.len(), calls);

    // Samples and frames as (index, sample), sorted at the end.
    let mut samples: Vec<(usize, P::Sample)> = Vec::with_capacity(indices.len());
    let mut frames: Vec<Frame<(usize, P::Sample)>> = Vec::new();
    for (b, items) in batches.iter().enumerate() {
        if crate::interrupt::requested() {
            progress.abandon();
            return Err(CoreError::Interrupted(format!(
                "sampling stopped after {} of {} samples; nothing was written",
                samples.len(),
                indices.len()
            ))
            .into());
        }
        let (shape, context) = pipeline.batch(loaded, items, device)?;
        let counts = items.iter().map(|p| p.size).collect();
        let mut noise = PaddedNoise::new(how.seed, items.iter().map(|p| p.index as u64), counts);
        let mut kept = 0usize;
        let mut observe = |e: &StepEvent<'_, D>| {
            progress.inc(items.len() as u64);
            progress.set_message(format!("batch {}/{}", b + 1, batches.len()));
            let Some(policy) = how.frames else { return };
            if !policy.keeps(e.step, e.total) {
                return;
            }
            let decoded = pipeline.decode(loaded, e.x.clone(), items);
            let pairs = items.iter().map(|p| p.index).zip(decoded);
            if b == 0 {
                frames.push(Frame {
                    step: e.step,
                    t: e.t,
                    samples: pairs.collect(),
                });
            } else if let Some(frame) = frames.get_mut(kept) {
                frame.samples.extend(pairs);
            }
            kept += 1;
        };
        // Scale 1 is the plain conditional model: one network call, as without guidance.
        let model = Guided::new(&loaded.model, how.guidance.unwrap_or(1.0));
        let state = sample(
            &how.sampler,
            &process,
            &space,
            &model,
            &context,
            shape,
            &mut noise,
            device,
            &mut observe,
        )?;
        let decoded = pipeline.decode(loaded, state, items);
        samples.extend(items.iter().map(|p| p.index).zip(decoded));
    }
    progress.finish_and_clear();
    samples.sort_by_key(|(i, _)| *i);
    let (indices, samples) = samples.into_iter().unzip();
    let frames = frames
        .into_iter()
        .map(|mut frame| {
            frame.samples.sort_by_key(|(i, _)| *i);
            Frame {
                step: frame.step,
                t: frame.t,
                samples: frame.samples.into_iter().map(|(_, s)| s).collect(),
            }
        })
        .collect();
    Ok(Generated {
        indices,
        samples,
        frames,
    })
}

/// A bar over samples × network calls, drawn only on a terminal (indicatif hides it when
/// stderr is not one).
fn progress_bar(show: bool, samples: usize, calls: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new((samples * calls) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "sampling {bar:30} {percent:>3}% of {prefix} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .expect("a valid template"),
    );
    bar.set_prefix(format!("{samples} samples × {calls} steps"));
    bar
}

/// `diffgen run` / `diffgen sample` for any modality.
pub fn sample_command<P: Pipeline<D>, const D: usize>(
    pipeline: &P,
    request: &SampleRequest,
) -> Result<Report, P::Error> {
    let info = pipeline.info();
    if let Some(g) = request.guidance {
        if !g.is_finite() {
            return Err(
                CoreError::setting("guidance", format!("{g} is not a finite number")).into(),
            );
        }
    }
    let device = request.backend.device()?;
    let loaded = load(pipeline, request.checkpoint.as_deref(), &device)?;
    let values = OptionValues::parse(info.name, info.options, &request.options)?;
    let mut warnings = Vec::new();
    let options = pipeline.options(&loaded, &values, request, &mut warnings)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    // The model's own default scale (from its config) unless the request sets one.
    let guidance = request.guidance.or(pipeline.default_guidance(&loaded));
    let process = pipeline.process(&loaded)?;
    let sampler = request
        .sampler
        .clone()
        .unwrap_or_else(|| process.path.default_sampler());
    sampler.check(&process.path)?;
    let total_steps = request.steps.unwrap_or(process.path.default_steps());
    let how = Generation {
        sampler: SamplerConfig::new(sampler.clone(), request.steps)
            .with_time_grid(request.time_grid),
        seed: request.seed,
        guidance,
        batch_size: request.batch_size,
        frames: pipeline.frames(&options, request.trajectory, total_steps),
        progress: request.show_progress,
    };
    // Checked before the (long) sampling, so a bad --out fails at once.
    let mut out = RunOutput::prepare(&request.out_dir, request.shard)?;
    let indices: Vec<usize> = request.shard.range(request.num_samples).collect();
    let started = Instant::now();
    let generated = generate(pipeline, &loaded, &options, &indices, &how, &device)?;
    let seconds = started.elapsed().as_secs_f64();

    pipeline.write(&loaded, &options, &generated, request, &mut out)?;
    let mut report = Report::default();
    let n = generated.samples.len() as f64;
    report.metrics.push((info.noun.to_string(), n));
    report
        .metrics
        .push((format!("{}/s", info.noun), n / seconds.max(1e-9)));
    if request.evaluate {
        let context = EvalContext {
            data_dir: request.data_dir.as_deref(),
            request,
        };
        pipeline.evaluate(
            &loaded,
            &options,
            &generated,
            context,
            &mut out,
            &mut report,
        )?;
    }
    let time_grid = Some(how.sampler.time_grid_on(&process.path))
        .filter(|g| !g.is_uniform())
        .map(|g| g.to_string());
    // `bundled`, `bundled:<name>` or the file.
    let model = match &request.checkpoint {
        None => "bundled".to_string(),
        Some(path) => path.display().to_string(),
    };
    report.notes.push(format!(
        "model: {model} (step {}), sampler {} with {} steps{}{}{}",
        loaded.meta.step,
        sampler,
        match (request.steps, process.path.is_continuous()) {
            (Some(s), _) => s.to_string(),
            (None, false) => "all".to_string(),
            (None, true) => total_steps.to_string(),
        },
        time_grid
            .as_ref()
            .map_or(String::new(), |g| format!(" on a {g} time grid")),
        pipeline.describe(&loaded, &options),
        guidance.map_or(String::new(), |g| format!(", guidance {g}")),
    ));
    report
        .notes
        .extend(warnings.into_iter().map(|w| format!("warning: {w}")));
    let manifest = Manifest {
        time_grid,
        modality: info.name.to_string(),
        diffgen_version: crate::VERSION.to_string(),
        model,
        model_step: loaded.meta.step,
        sampler: sampler.to_string(),
        steps: request.steps,
        seed: request.seed,
        num_samples: request.num_samples,
        shard: format!("{}/{}", request.shard.index, request.shard.count),
        guidance,
        options: values.given().clone(),
        metrics: report.metrics.iter().cloned().collect(),
        shares: report.shares.iter().cloned().collect(),
        references: report.references.clone(),
        files: Vec::new(),
    };
    report.files = out.finish(manifest)?;
    Ok(report)
}
