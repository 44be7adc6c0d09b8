//! The image modality's configs (`configs/image-*.toml`): a diffusion model (the default
//! task) or the MNIST classifier used for metrics (`task = "classifier"`).

use diffgen_core::config::DiffusionConfig;
use diffgen_core::train::TrainConfig;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::classifier::ClassifierConfig;
use crate::data::DataSource;
use crate::unet::UNetConfig;

/// What `diffgen train --modality image` trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A diffusion model (UNet denoiser).
    #[default]
    Diffusion,
    /// The small CNN whose predictions and penultimate features score samples.
    Classifier,
}

/// Reads only the top-level `task` of a config (everything else is ignored here).
#[derive(Debug, Deserialize)]
pub struct TaskProbe {
    /// The config's task (default: diffusion).
    #[serde(default)]
    pub task: Task,
}

/// A diffusion model's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Must be [`Task::Diffusion`] (the default).
    #[serde(default)]
    pub task: Task,
    /// Where the images come from and how many are held out.
    pub data: DataConfig,
    /// The image shape and the UNet's architecture.
    pub model: UNetConfig,
    /// The process (schedule or flow, objective).
    pub diffusion: DiffusionConfig,
    /// The trainer's settings.
    pub training: TrainConfig,
    /// Sampling settings stored with the model.
    #[serde(default)]
    pub sampling: SamplingConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// The `[data]` table, of diffusion and classifier configs alike.
pub struct DataConfig {
    /// The image source.
    pub source: DataSource,
    /// Images used for training, from the start of the set; the rest is held out
    /// (validation loss, metrics). Default: 90 % (MNIST's test split: 9,000 / 1,000).
    #[serde(default)]
    pub train_size: Option<usize>,
    /// Share of training labels replaced by the null label (classifier-free guidance).
    #[serde(default = "default_label_dropout")]
    pub label_dropout: f64,
}

fn default_label_dropout() -> f64 {
    0.1
}

impl DataConfig {
    /// The number of training images of a set of `n`.
    pub fn train_count(&self, n: usize) -> usize {
        self.train_size.unwrap_or(n * 9 / 10).min(n)
    }
}

/// Sampling settings stored with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// Clamp the predicted clean image x̂₀ to [−1, 1] at every sampler step.
    pub clamp_x0: bool,
    /// Images drawn after training for the preview grid (and metrics).
    pub preview_samples: usize,
    /// DPM-Solver++(2M) steps of that preview.
    pub preview_steps: usize,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            clamp_x0: true,
            preview_samples: 20,
            preview_steps: 50,
        }
    }
}

impl ImageConfig {
    /// The `[C, H, W]` of the model's images.
    pub fn shape(&self) -> [usize; 3] {
        [self.model.channels, self.model.height, self.model.width]
    }

    /// Checks every setting; errors name it.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.task != Task::Diffusion {
            return Err(CoreError::setting(
                "task",
                "a diffusion config has task = \"diffusion\" (or none)",
            ));
        }
        self.training.validate()?;
        self.model.validate()?;
        if !(0.0..1.0).contains(&self.data.label_dropout) {
            return Err(CoreError::setting(
                "data.label_dropout",
                "must lie in [0, 1)",
            ));
        }
        if self.data.train_size == Some(0) {
            return Err(CoreError::setting("data.train_size", "must be positive"));
        }
        self.diffusion.validate()?;
        Ok(())
    }
}

/// The classifier's config file (`task = "classifier"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierFile {
    /// Must be [`Task::Classifier`].
    pub task: Task,
    /// The images and the held-out split (`label_dropout` is not used).
    pub data: DataConfig,
    /// The CNN's widths.
    #[serde(default)]
    pub classifier: ClassifierConfig,
    /// The optimiser's settings.
    pub training: ClassifierTraining,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// The classifier's `[training]` table: AdamW without weight decay on cross-entropy, the
/// rate decaying linearly to 10 % of `lr` over the steps.
pub struct ClassifierTraining {
    /// Optimiser steps.
    pub steps: u64,
    /// Images per step.
    pub batch_size: usize,
    /// Initial learning rate (default 1e-3).
    #[serde(default = "default_classifier_lr")]
    pub lr: f64,
    /// Seed of the initial weights and the batch order.
    #[serde(default)]
    pub seed: u64,
    /// Steps averaged into each line of the training log (default 50).
    #[serde(default = "default_log_every")]
    pub log_every: u64,
}

fn default_classifier_lr() -> f64 {
    1e-3
}

fn default_log_every() -> u64 {
    50
}

impl ClassifierFile {
    /// Checks every setting; errors name it.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.task != Task::Classifier {
            return Err(CoreError::setting("task", "must be \"classifier\""));
        }
        if self.training.steps == 0 || self.training.batch_size == 0 || self.training.log_every == 0
        {
            return Err(CoreError::setting(
                "training.steps/batch_size/log_every",
                "must be positive",
            ));
        }
        if !(self.training.lr.is_finite() && self.training.lr > 0.0) {
            return Err(CoreError::setting("training.lr", "must be positive"));
        }
        self.classifier.validate()
    }
}
