//! `diffgen bench`: one protocol for every modality.
//!
//! Training: each case runs [`WARMUP_STEPS`] untimed steps (lazy initialisation, optimizer
//! state, allocator warm-up) and then `--train-steps` timed ones; only the steps themselves
//! are timed (batch, forward, backward, update, EMA), never validation, logging or
//! checkpoint writes, because the trainer writes nothing here. Sampling: one untimed
//! two-step draw of one sample, then `--num-samples` samples in one batch with
//! `--sample-steps` steps of the process's default sampler (DDPM for diffusion, Euler for
//! flow matching), timed whole — for the bundled model, or for every case's model when the
//! bundled one is not what the bench compares.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{
    generate, load, to_json, Generation, Loaded, ModalityConfig, OptionValues, Pipeline,
    BUNDLED_PREFIX,
};
use crate::modality::{BenchRequest, Report, SampleRequest, Shard};
use crate::sampler::SamplerConfig;
use crate::train::{Persistence, Trainer};

/// Untimed steps before the timed ones.
pub const WARMUP_STEPS: u64 = 2;

/// One model and data set whose train step `bench` times.
pub struct BenchCase<P: Pipeline<D>, const D: usize> {
    /// What is measured, in words (`EGNN 4×128, shuffled batches of QM9`).
    pub label: String,
    /// The config (its `[training]` table is set by the bench).
    pub config: P::Config,
    /// The examples batches are drawn from.
    pub data: P::Data,
    /// Their statistics.
    pub stats: P::Stats,
}

/// Times `pipeline` as `request` says.
pub fn bench<P: Pipeline<D>, const D: usize>(
    pipeline: &P,
    request: &BenchRequest,
) -> Result<Report, P::Error> {
    let info = pipeline.info();
    let device = request.backend.device()?;
    let mut report = Report::default();
    let mut trained: Vec<(String, Loaded<P, D>)> = Vec::new();
    let bundled = !info.bundled.is_empty() && pipeline.bench_samples_bundled();
    let cases = if request.train_steps > 0 || !bundled {
        pipeline.bench_cases(request)?
    } else {
        Vec::new()
    };
    for case in cases {
        let mut config = case.config.clone();
        let training = config.training_mut();
        // `--train-steps 0`: only a model to sample with (a modality whose bundled model is
        // not the bench's size), nothing reported.
        let timed = request.train_steps as u64;
        training.steps = WARMUP_STEPS + timed;
        training.batch_size = request.batch_size;
        training.log_every = u64::MAX;
        training.val_every = 0;
        training.checkpoint_every = 0;
        let model = crate::rng::init_seeded(&device, 0, || {
            pipeline.init_model(&config, &case.stats, &device)
        });
        let space = pipeline.space(&config, &case.stats);
        let trainer = Trainer {
            config: config.training(),
            diffusion: config.diffusion(),
            layout: pipeline.layout(&config, &case.stats)?,
            space: &space,
            out_dir: PathBuf::from("<bench: nothing is written>"),
            device: device.clone(),
            modality: info.name.to_string(),
            former_modalities: info.former_names,
            modality_config: to_json(&config)?,
            data_stats: to_json(&case.stats)?,
            show_progress: false,
            stop_at: None,
            lr_horizon: None,
            persistence: Persistence::Nothing,
        };
        let outcome = trainer.run(model, &case.data, None::<&P::Data>, None)?;
        if timed > 0 {
            let seconds: f64 = outcome.step_seconds[WARMUP_STEPS as usize..].iter().sum();
            let what = format!("{} (batch {})", case.label, request.batch_size);
            report
                .metrics
                .push((format!("s per train step — {what}"), seconds / timed as f64));
            report
                .metrics
                .push((format!("train steps/s — {what}"), timed as f64 / seconds));
        }
        if !bundled {
            let loaded = Loaded {
                meta: trainer.meta(outcome.steps, None),
                model: outcome.ema,
                config,
                stats: case.stats,
                origin: PathBuf::from("<bench model>"),
                bundled: false,
            };
            trained.push((case.label, loaded));
        }
    }
    if request.num_samples == 0 || request.sample_steps == 0 {
        return Ok(report);
    }
    let models = match bundled {
        // The default and every variant, each under its `--checkpoint` name.
        true => {
            let mut models = vec![("bundled model".to_string(), load(pipeline, None, &device)?)];
            for variant in info.variants {
                let name = format!("{BUNDLED_PREFIX}{}", variant.name);
                let loaded = load(pipeline, Some(Path::new(&name)), &device)?;
                models.push((name, loaded));
            }
            models
        }
        false => trained,
    };
    for (label, loaded) in &models {
        time_sampling(pipeline, loaded, label, request, &device, &mut report)?;
    }
    Ok(report)
}

/// Times `--num-samples` samples of `loaded` in one batch (after an untimed warm-up).
fn time_sampling<P: Pipeline<D>, const D: usize>(
    pipeline: &P,
    loaded: &Loaded<P, D>,
    label: &str,
    request: &BenchRequest,
    device: &burn::tensor::Device,
    report: &mut Report,
) -> Result<(), P::Error> {
    let info = pipeline.info();
    let process = pipeline.process(loaded)?;
    let sampler = process.path.default_sampler();
    let sample_request = SampleRequest {
        checkpoint: None,
        num_samples: request.num_samples,
        steps: Some(request.sample_steps),
        sampler: Some(sampler.clone()),
        time_grid: None,
        seed: 0,
        out_dir: PathBuf::new(),
        shard: Shard::WHOLE,
        batch_size: request.num_samples,
        backend: request.backend,
        trajectory: false,
        guidance: None,
        options: pipeline.bench_options(),
        evaluate: false,
        data_dir: None,
        show_progress: false,
    };
    let values = OptionValues::parse(info.name, info.options, &sample_request.options)?;
    let options = pipeline.options(loaded, &values, &sample_request, &mut Vec::new())?;
    let warm = Generation::new(SamplerConfig::new(sampler.clone(), Some(2)), 0);
    generate(pipeline, loaded, &options, &[0], &warm, device)?;
    let mut how = Generation::new(
        SamplerConfig::new(sampler.clone(), Some(request.sample_steps)),
        0,
    );
    how.batch_size = request.num_samples;
    let indices: Vec<usize> = (0..request.num_samples).collect();
    let started = Instant::now();
    generate(pipeline, loaded, &options, &indices, &how, device)?;
    let seconds = started.elapsed().as_secs_f64();
    report.metrics.push((
        format!(
            "{}/s ({} {}, {} {} steps, {label})",
            info.noun,
            request.num_samples,
            info.noun,
            request.sample_steps,
            sampler.name()
        ),
        request.num_samples as f64 / seconds,
    ));
    Ok(())
}
