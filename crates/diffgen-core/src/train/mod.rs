//! The generic trainer: batches → denoising loss → AdamW(+AMSGrad) step with clipping and an
//! LR schedule → EMA → metrics, validation and atomic checkpoints; exact resume.

mod clip;
mod config;
mod ema;
mod log;
mod loss;
mod order;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};

pub use clip::{ClipReport, Clipper};
pub use config::{
    EmaConfig, GradClip, LrDecay, LrSchedule, OptimizerConfig, OptimizerKind, TrainConfig,
};
pub use ema::update_ema;
pub use log::{MetricsLog, MetricsRecord};
pub use loss::denoising_loss;
use order::BatchOrder;
pub use order::Batching;

use crate::checkpoint::{
    Checkpoint, CheckpointMeta, ResumeState, EMA_PREFIX, FORMAT_VERSION, MODEL_PREFIX,
};
use crate::denoiser::Denoiser;
use crate::error::BoxError;
use crate::process::{process_loss, DiffusionConfig, Process, StateLayout};
use crate::rng::SeededRng;
use crate::space::NoiseSpace;
use crate::tensor_util::scalar;
use crate::CoreError;

/// A modality's examples, addressable by index so that batch order is a pure function of the
/// seed and the step (which is what makes resume exact without saving an iterator).
pub trait TrainData<const D: usize> {
    /// What a batch carries for the denoiser besides x_0 (labels, masks).
    type Context;

    /// The number of examples.
    fn len(&self) -> usize;

    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The size of example `index` (atoms, residues), for [`Batching::BySize`].
    fn size(&self, _index: usize) -> usize {
        1
    }

    /// Stacks the examples `indices` into a batch on `device`. `rng` serves per-batch
    /// randomness (label dropout, crops, augmentation), so it too is seeded and resumable.
    fn batch(
        &self,
        indices: &[usize],
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Tensor<D>, Self::Context), BoxError>;
}

/// Everything about a run that is not the model or the data.
pub struct Trainer<'a, S> {
    /// The `[training]` table.
    pub config: &'a TrainConfig,
    /// The `[diffusion]` table: the process, objective, weighting and per-part settings.
    pub diffusion: &'a DiffusionConfig,
    /// The parts of the modality's state ([`StateLayout::single`] for one tensor).
    pub layout: StateLayout,
    /// The state space: its noise and its per-sample loss reduction.
    pub space: &'a S,
    /// Where `checkpoint.safetensors`, `model.safetensors`, `metrics.jsonl` and `loss.png` go.
    pub out_dir: PathBuf,
    /// The training device (autodiff is enabled on it by the trainer).
    pub device: Device,
    /// The modality's name, stored in checkpoints.
    pub modality: String,
    /// Its former names: a run started under one of them resumes.
    pub former_modalities: &'static [&'static str],
    /// The modality's full config, stored in checkpoints.
    pub modality_config: serde_json::Value,
    /// Data statistics stored in checkpoints.
    pub data_stats: serde_json::Value,
    /// Draw a progress bar (on a terminal).
    pub show_progress: bool,
    /// Stop (with a checkpoint) on reaching this step, as a job with a time limit would; a
    /// later `--resume` continues the same run. None: train to `config.steps`.
    pub stop_at: Option<u64>,
    /// The length of the learning-rate schedule (None: `config.steps`); a resumed run that
    /// trains longer keeps its original schedule.
    pub lr_horizon: Option<u64>,
    /// Whether the run writes checkpoints, the metrics log and plots.
    pub persistence: Persistence,
}

/// What a run writes to its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Checkpoints, `metrics.jsonl` and `loss.png`: a run to keep.
    Checkpoints,
    /// Nothing: a measurement (`bench`), whose timings then hold the steps only.
    Nothing,
}

/// Everything of a run in progress that a resumable checkpoint stores.
struct TrainingState<'a, M> {
    model: &'a M,
    ema: &'a M,
    optimizer: &'a burn::optim::ModuleOptimizer,
    rng: &'a SeededRng,
    clipper: &'a Clipper,
    best_val_loss: Option<f64>,
}

/// The result of a run.
pub struct TrainOutcome<M> {
    /// The raw trained weights.
    pub model: M,
    /// The EMA weights, which sampling uses.
    pub ema: M,
    /// Optimiser steps taken in total, those before a resume included.
    pub steps: u64,
    /// The loss of this run's last step (None: no step ran).
    pub last_train_loss: Option<f64>,
    /// The lowest validation loss of the EMA weights (None: never validated).
    pub best_val_loss: Option<f64>,
    /// Where the resumable checkpoint is (`checkpoint.safetensors`).
    pub checkpoint: PathBuf,
    /// Where the EMA-only checkpoint for sampling is (`model.safetensors`).
    pub inference_checkpoint: PathBuf,
    /// Seconds of each optimiser step of this run (batch, forward, backward, update, EMA),
    /// without validation, logging or checkpoint writes.
    pub step_seconds: Vec<f64>,
}

impl<S> Trainer<'_, S> {
    /// `checkpoint.safetensors` in the run directory: the resumable checkpoint.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.out_dir.join("checkpoint.safetensors")
    }

    /// `model.safetensors` in the run directory: the EMA weights only, for sampling.
    pub fn inference_path(&self) -> PathBuf {
        self.out_dir.join("model.safetensors")
    }

    /// The checkpoint `--resume` continues from, if asked: an error when there is none.
    pub fn resume_from(&self, resume: bool) -> Result<Option<PathBuf>, CoreError> {
        let path = self.checkpoint_path();
        match resume {
            false => Ok(None),
            true if path.exists() => Ok(Some(path)),
            true => Err(CoreError::checkpoint(
                &path,
                "does not exist; nothing to resume",
            )),
        }
    }

    /// Trains `model` (freshly initialised) or, with `resume`, the state in that checkpoint.
    pub fn run<const D: usize, M, T, V>(
        &self,
        model: M,
        train: &T,
        validation: Option<&V>,
        resume: Option<&Path>,
    ) -> Result<TrainOutcome<M>, CoreError>
    where
        S: NoiseSpace<D>,
        M: Module + Denoiser<D, Context = S::Context>,
        T: TrainData<D, Context = S::Context>,
        V: TrainData<D, Context = S::Context>,
    {
        let cfg = self.config;
        cfg.validate()?;
        if train.is_empty() {
            return Err(CoreError::Other("the training set is empty".into()));
        }
        let process = self.diffusion.process(self.layout.clone())?;
        let device = self.device.clone().autodiff();
        let plain = self.device.clone();
        if self.persistence == Persistence::Checkpoints {
            std::fs::create_dir_all(&self.out_dir).map_err(|e| CoreError::io(&self.out_dir, e))?;
        }

        let o = &cfg.optimizer;
        let mut optimizer = AdamWConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_epsilon(o.epsilon as f32)
            .with_weight_decay(o.weight_decay as f32)
            .with_amsgrad(o.amsgrad)
            .init();

        let mut model = model.to_device(&device).train();
        let mut ema;
        let mut rng;
        let mut clipper;
        let mut step;
        let mut best_val;
        if let Some(path) = resume {
            let ckpt = Checkpoint::load(path)?;
            ckpt.expect_modality(&self.modality, self.former_modalities, path)?;
            let state = ckpt.meta.resume.clone().ok_or_else(|| {
                CoreError::checkpoint(
                    path,
                    "holds no training state (an inference checkpoint); cannot resume",
                )
            })?;
            model = ckpt.load_module(MODEL_PREFIX, model, Some(&state.param_ids), &device, path)?;
            ema = ckpt.load_module(EMA_PREFIX, model.valid(), None, &plain, path)?;
            let bytes = ckpt
                .optimizer
                .clone()
                .ok_or_else(|| CoreError::checkpoint(path, "has no optimizer state"))?;
            optimizer = optimizer
                .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
                .map_err(|e| CoreError::checkpoint(path, format!("bad optimizer state: {e:?}")))?;
            rng = state.rng;
            clipper = Clipper::restore(cfg.grad_clip.clone(), state.clip_history);
            step = ckpt.meta.step;
            best_val = state.best_val_loss;
        } else {
            ema = model.valid();
            rng = SeededRng::new(cfg.seed);
            clipper = Clipper::new(cfg.grad_clip.clone());
            step = 0;
            best_val = None;
        }
        let persist = self.persistence == Persistence::Checkpoints;
        let mut log = if persist {
            Some(MetricsLog::open(&self.out_dir, resume.map(|_| step))?)
        } else {
            None
        };
        let horizon = self.lr_horizon.unwrap_or(cfg.steps);
        let mut step_seconds = Vec::new();
        let sizes = match cfg.batching {
            Batching::BySize => (0..train.len()).map(|i| train.size(i)).collect(),
            Batching::Shuffled => Vec::new(),
        };
        let mut order = BatchOrder::new(cfg.seed, train.len(), cfg.batch_size, cfg.batching, sizes);

        let progress = if self.show_progress {
            let bar = ProgressBar::new(cfg.steps);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}",
                )
                .expect("valid template"),
            );
            bar.set_position(step);
            bar
        } else {
            ProgressBar::hidden()
        };

        let mut window_loss = 0.0;
        let mut window_steps = 0u64;
        let mut window_start = Instant::now();
        let mut last_loss = None;
        let end = self.stop_at.map_or(cfg.steps, |s| s.min(cfg.steps));
        while step < end {
            let step_started = Instant::now();
            let lr = cfg.lr_schedule.rate(o.lr, step, horizon);
            let indices = order.batch(step);
            let (x0, context) = train.batch(&indices, &mut rng, &device).map_err(|e| {
                CoreError::Other(format!("loading batch at step {}: {e}", step + 1))
            })?;
            let t = process.draw_times(indices.len(), &mut rng);
            let loss =
                process_loss(&process, &model, self.space, x0, &context, &t, &mut rng).mean();
            let value = scalar(loss.clone());
            if !value.is_finite() {
                progress.abandon();
                return Err(CoreError::NonFiniteLoss {
                    step: step + 1,
                    value,
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let (grads, report) = clipper.clip(&model, grads);
            model = optimizer.step(lr, model, grads);
            ema = update_ema(ema, &model, cfg.ema.decay_at(step));
            step += 1;
            step_seconds.push(step_started.elapsed().as_secs_f64());

            window_loss += value;
            window_steps += 1;
            last_loss = Some(value);
            progress.set_position(step);
            progress.set_message(format!("loss {value:.4}"));

            let val_due = cfg.val_every > 0 && step % cfg.val_every == 0;
            let val_loss = match (validation, val_due) {
                (Some(v), true) => Some(self.validation_loss(&ema, v, &process, &plain)?),
                _ => None,
            };
            let log_due = step % cfg.log_every == 0 || val_loss.is_some() || step == end;
            if let (Some(log), true) = (log.as_mut(), log_due) {
                let elapsed = window_start.elapsed().as_secs_f64();
                log.push(MetricsRecord {
                    step,
                    train_loss: (window_steps > 0).then(|| window_loss / window_steps as f64),
                    val_loss,
                    lr: Some(lr),
                    grad_norm: Some(report.norm),
                    steps_per_sec: (elapsed > 0.0 && window_steps > 0)
                        .then(|| window_steps as f64 / elapsed),
                })?;
                window_loss = 0.0;
                window_steps = 0;
                window_start = Instant::now();
                log.plot(&self.out_dir.join("loss.png"))?;
            }
            if let (Some(v), true) = (val_loss, persist) {
                if best_val.is_none_or(|b| v < b) {
                    best_val = Some(v);
                    let mut best = Checkpoint::new(self.meta(step, None));
                    best.insert_module(EMA_PREFIX, &ema);
                    best.save(&self.out_dir.join("best.safetensors"))?;
                }
            }
            let ckpt_due = cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0;
            // SIGINT/SIGTERM: checkpoint this step, then stop.
            let interrupted = crate::interrupt::requested();
            if persist && (ckpt_due || step == end || interrupted) {
                let state = TrainingState {
                    model: &model,
                    ema: &ema,
                    optimizer: &optimizer,
                    rng: &rng,
                    clipper: &clipper,
                    best_val_loss: best_val,
                };
                let ckpt = self.resumable_checkpoint(step, horizon, state)?;
                ckpt.save(&self.checkpoint_path())?;
                ckpt.for_inference().save(&self.inference_path())?;
            }
            if interrupted {
                progress.abandon();
                let saved = match persist {
                    true => format!(
                        "saved {} (continue with --resume)",
                        self.checkpoint_path().display()
                    ),
                    false => "nothing saved".to_string(),
                };
                return Err(CoreError::Interrupted(format!(
                    "training stopped at step {step}; {saved}"
                )));
            }
        }
        progress.finish_and_clear();
        Ok(TrainOutcome {
            model,
            ema,
            steps: step,
            last_train_loss: last_loss,
            best_val_loss: best_val,
            checkpoint: self.checkpoint_path(),
            inference_checkpoint: self.inference_path(),
            step_seconds,
        })
    }

    /// The metadata a checkpoint of this run carries (also for modality-written files).
    pub fn meta(&self, step: u64, resume: Option<ResumeState>) -> CheckpointMeta {
        CheckpointMeta {
            format: FORMAT_VERSION,
            diffgen_version: crate::VERSION.to_string(),
            modality: self.modality.clone(),
            config: self.modality_config.clone(),
            schedule: self.diffusion.schedule.clone(),
            data: self.data_stats.clone(),
            step,
            resume,
        }
    }

    /// A checkpoint that training can resume from.
    fn resumable_checkpoint<M: Module>(
        &self,
        step: u64,
        lr_horizon: u64,
        state: TrainingState<'_, M>,
    ) -> Result<Checkpoint, CoreError> {
        let mut ckpt = Checkpoint::new(self.meta(step, None));
        let param_ids = ckpt.insert_module(MODEL_PREFIX, state.model);
        ckpt.insert_module(EMA_PREFIX, state.ema);
        ckpt.optimizer = Some(
            state
                .optimizer
                .into_bytes()
                .map_err(|e| CoreError::Other(format!("serialising optimizer state: {e:?}")))?
                .to_vec(),
        );
        ckpt.meta.resume = Some(ResumeState {
            rng: state.rng.clone(),
            clip_history: state.clipper.history(),
            param_ids,
            best_val_loss: state.best_val_loss,
            lr_horizon: Some(lr_horizon),
        });
        Ok(ckpt)
    }

    /// Mean loss of the EMA model over the first `val_batches` batches of the validation set,
    /// with time steps and noise from a fixed stream so values compare across steps.
    fn validation_loss<const D: usize, M, V>(
        &self,
        ema: &M,
        data: &V,
        process: &Process,
        device: &Device,
    ) -> Result<f64, CoreError>
    where
        S: NoiseSpace<D>,
        M: Module + Denoiser<D, Context = S::Context>,
        V: TrainData<D, Context = S::Context>,
    {
        let mut rng = SeededRng::stream(self.config.seed, 7);
        let bs = self.config.batch_size;
        let mut total = 0.0;
        let mut count = 0usize;
        for b in 0..self.config.val_batches {
            let indices: Vec<usize> = (b * bs..((b + 1) * bs).min(data.len())).collect();
            if indices.is_empty() {
                break;
            }
            let (x0, context) = data
                .batch(&indices, &mut rng, device)
                .map_err(|e| CoreError::Other(format!("loading validation batch: {e}")))?;
            let t = process.draw_times(indices.len(), &mut rng);
            let losses = process_loss(process, ema, self.space, x0, &context, &t, &mut rng);
            total += scalar(losses.sum());
            count += indices.len();
        }
        Ok(if count > 0 {
            total / count as f64
        } else {
            f64::NAN
        })
    }
}
