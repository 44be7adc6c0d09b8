//! The pipeline every modality runs through.
//!
//! A modality implements [`Pipeline`]: it names what it owns (config, data, space, network,
//! decoded sample, checkpoint statistics, sampling options) and supplies the few steps only
//! it can do — load its data, build its network, lay out a batch, decode a state, write its
//! files, score its samples. The core does the rest once for every modality: config parsing
//! and overrides, the trainer and resume, the batched sampling driver (per-sample noise
//! streams, batches by size, trajectories, guidance, progress), output directories with a
//! manifest, and one benchmark protocol. [`Registered`] turns a pipeline into the object-safe
//! [`crate::modality::Modality`] the CLI's registry holds.

mod adapter;
mod bench;
mod options;
mod output;
mod sample;
mod train;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use adapter::{Registered, WithCommands};
pub use bench::{bench, BenchCase};
pub use options::{OptionKind, OptionSpec, OptionValues};
pub use output::{Manifest, RunOutput};
pub use sample::{
    generate, sample_command, Batching, Frame, FramePolicy, Generated, Generation, Planned,
};
pub use train::{train_command, TrainSets};

use crate::checkpoint::{Checkpoint, CheckpointMeta, EMA_PREFIX};
use crate::config::DiffusionConfig;
use crate::denoiser::Denoiser;
use crate::modality::{BenchRequest, Report, SampleRequest, TrainRequest};
use crate::process::{Process, StateLayout};
use crate::space::NoiseSpace;
use crate::train::{TrainConfig, TrainData};
use crate::CoreError;

/// The parts of a modality's config the core reads: every config has a `[diffusion]` and a
/// `[training]` table beside its own.
pub trait ModalityConfig: Serialize + DeserializeOwned + Clone {
    /// The `[diffusion]` table.
    fn diffusion(&self) -> &DiffusionConfig;
    /// The `[training]` table.
    fn training(&self) -> &TrainConfig;
    /// The `[training]` table, for overrides (`--steps`).
    fn training_mut(&mut self) -> &mut TrainConfig;
    /// Checks every setting; the error names the setting.
    fn validate(&self) -> Result<(), CoreError>;
}

/// Implements [`ModalityConfig`] for a config struct with `diffusion` and `training` fields
/// and an inherent `validate(&self) -> Result<(), CoreError>`.
#[macro_export]
macro_rules! modality_config {
    ($config:ty) => {
        impl $crate::pipeline::ModalityConfig for $config {
            fn diffusion(&self) -> &$crate::config::DiffusionConfig {
                &self.diffusion
            }
            fn training(&self) -> &$crate::train::TrainConfig {
                &self.training
            }
            fn training_mut(&mut self) -> &mut $crate::train::TrainConfig {
                &mut self.training
            }
            fn validate(&self) -> Result<(), $crate::CoreError> {
                <$config>::validate(self)
            }
        }
    };
}

/// The context a modality's space and network share (masks, labels).
pub type ContextOf<P, const D: usize> = <<P as Pipeline<D>>::Space as NoiseSpace<D>>::Context;

/// What the registry and the CLI show of a modality, and what it bundles.
#[derive(Debug, Clone, Copy)]
pub struct ModalityInfo {
    /// `--modality <name>`.
    pub name: &'static str,
    /// Names it had before: checkpoints written under them still load here.
    pub former_names: &'static [&'static str],
    /// One line for `diffgen modalities`.
    pub summary: &'static str,
    /// The file formats `run` writes.
    pub writers: &'static [&'static str],
    /// What one sample is called, plural (`"molecules"`): the report's counts and rates.
    pub noun: &'static str,
    /// The bundled model's checkpoint bytes (empty: none).
    pub bundled: &'static [u8],
    /// What the bundled model is, in one line.
    pub bundled_summary: &'static str,
    /// Other bundled models, chosen with `--checkpoint bundled:<name>`.
    pub variants: &'static [BundledModel],
    /// The config `bench` measures, and its name for messages.
    pub default_config: (&'static str, &'static str),
    /// The sampling options it takes.
    pub options: &'static [OptionSpec],
}

/// A bundled model besides the default one.
#[derive(Debug, Clone, Copy)]
pub struct BundledModel {
    /// `--checkpoint bundled:<name>`.
    pub name: &'static str,
    /// Its checkpoint bytes.
    pub bytes: &'static [u8],
    /// What it is, in one line.
    pub summary: &'static str,
}

/// The prefix of `--checkpoint` values that name a bundled model instead of a file.
pub const BUNDLED_PREFIX: &str = "bundled:";

/// A model ready to sample, with what its checkpoint says about it.
pub struct Loaded<P: Pipeline<D>, const D: usize> {
    /// The averaged (EMA) weights.
    pub model: P::Model,
    /// The config it was trained with.
    pub config: P::Config,
    /// The data statistics stored with it.
    pub stats: P::Stats,
    /// The checkpoint's metadata (step, version).
    pub meta: CheckpointMeta,
    /// The file it came from, or `<bundled … model>`.
    pub origin: PathBuf,
    /// Whether it is the bundled model.
    pub bundled: bool,
}

/// Where a training run reads its data.
#[derive(Debug, Clone)]
pub struct DataRequest<'a> {
    /// The data root (`--data`, `DIFFGEN_DATA`, or `../shared/datasets`).
    pub data_dir: Option<&'a Path>,
    /// The config file, against which relative paths in it resolve.
    pub config_origin: &'a Path,
}

/// Where `evaluate` finds reference data.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// The data root, when known.
    pub data_dir: Option<&'a Path>,
    /// The request being served.
    pub request: &'a SampleRequest,
}

/// A modality: what it owns, as associated types, and the steps only it can do. The core
/// supplies train, sample, eval's frame and bench around these (see the module docs and
/// `docs/adding-a-modality.md`).
pub trait Pipeline<const D: usize>: Send + Sync + Sized + 'static {
    /// The TOML config (`[data]`, `[model]`, `[diffusion]`, `[training]`), stored in
    /// checkpoints.
    type Config: ModalityConfig;
    /// What a checkpoint stores besides the config: normalisation, size histograms.
    type Stats: Serialize + DeserializeOwned + Clone;
    /// Where states live and which constraints they keep.
    type Space: NoiseSpace<D>;
    /// The denoising network.
    type Model: Module + Denoiser<D, Context = ContextOf<Self, D>>;
    /// Training examples, addressable by index.
    type Data: TrainData<D, Context = ContextOf<Self, D>>;
    /// The sampling options, typed (parsed from the declared [`OptionSpec`]s).
    type Options;
    /// What each sample is conditioned on (a class label; `()` for none).
    type Condition: Clone;
    /// One decoded sample: a molecule, a backbone, an image, a point.
    type Sample;
    /// The modality's error; core errors convert into it.
    type Error: From<CoreError> + std::error::Error + Send + Sync + 'static;

    /// Name, summary, bundled model, declared options.
    fn info(&self) -> &'static ModalityInfo;

    // --- models ---

    /// A freshly initialised network for `config` (weights are loaded over it).
    fn init_model(
        &self,
        config: &Self::Config,
        stats: &Self::Stats,
        device: &Device,
    ) -> Self::Model;

    /// The space of `config`'s states.
    fn space(&self, config: &Self::Config, stats: &Self::Stats) -> Self::Space;

    /// The space a loaded model samples in, which sampling options may adjust (a
    /// constraint on x̂₀, say); by default the training space.
    fn sampling_space(&self, loaded: &Loaded<Self, D>, _options: &Self::Options) -> Self::Space {
        self.space(&loaded.config, &loaded.stats)
    }

    /// The classifier-free guidance scale a loaded model samples with when the request
    /// names none (a conditional model's config may set one); `None`: the plain model.
    fn default_guidance(&self, _loaded: &Loaded<Self, D>) -> Option<f64> {
        None
    }

    /// The parts of `config`'s state (default: one continuous tensor). A product state
    /// names its parts here, with widths from `stats` and settings from `[diffusion.parts]`.
    fn layout(
        &self,
        _config: &Self::Config,
        _stats: &Self::Stats,
    ) -> Result<StateLayout, Self::Error> {
        Ok(StateLayout::single())
    }

    /// The process of a loaded model.
    fn process(&self, loaded: &Loaded<Self, D>) -> Result<Process, Self::Error> {
        let layout = self.layout(&loaded.config, &loaded.stats)?;
        Ok(loaded.config.diffusion().process(layout)?)
    }

    /// Whether a checkpoint carrying this modality's (current or former) name is one it can
    /// load: two modalities may have carried one name at different times, and `sample`
    /// picks by this. Default: every one.
    fn recognises(&self, _meta: &CheckpointMeta) -> bool {
        true
    }

    /// Refuses checkpoints of this modality that are not diffusion models of it (the image
    /// classifier, say).
    fn check_checkpoint(
        &self,
        _checkpoint: &Checkpoint,
        _origin: &Path,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    // --- training ---

    /// Reads the training and validation sets of `config` and their statistics.
    fn load_data(
        &self,
        config: &Self::Config,
        request: &DataRequest<'_>,
    ) -> Result<TrainSets<Self::Data, Self::Stats>, Self::Error>;

    /// Adds what a finished run reports beyond the loss (a preview, a metric of samples).
    fn after_training(
        &self,
        _loaded: &Loaded<Self, D>,
        _data: &DataRequest<'_>,
        _out_dir: &Path,
        _device: &Device,
        _report: &mut Report,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Trains something that is not this modality's diffusion model from `request` (the
    /// image classifier), or `None` to train the diffusion model.
    fn train_other(&self, _request: &TrainRequest) -> Option<Result<Report, Self::Error>> {
        None
    }

    // --- sampling ---

    /// The typed options of a request, checked against the model; requests outside what the
    /// model was trained on add a line to `warnings`.
    fn options(
        &self,
        loaded: &Loaded<Self, D>,
        values: &OptionValues,
        request: &SampleRequest,
        warnings: &mut Vec<String>,
    ) -> Result<Self::Options, Self::Error>;

    /// The size (real rows along axis 1: atoms, residues; the whole axis for fixed-size
    /// states) and condition of sample `index`. Random draws (a size from the training
    /// histogram) come from a stream of `seed` and `index` alone, so they do not depend on
    /// batching or shards.
    fn plan(
        &self,
        loaded: &Loaded<Self, D>,
        options: &Self::Options,
        index: usize,
        seed: u64,
    ) -> Planned<Self::Condition>;

    /// The state shape and context of a batch of planned samples (sorted by size).
    fn batch(
        &self,
        loaded: &Loaded<Self, D>,
        items: &[Planned<Self::Condition>],
        device: &Device,
    ) -> Result<([usize; D], ContextOf<Self, D>), Self::Error>;

    /// The samples of a batch's state (in the order of `items`).
    fn decode(
        &self,
        loaded: &Loaded<Self, D>,
        state: Tensor<D>,
        items: &[Planned<Self::Condition>],
    ) -> Vec<Self::Sample>;

    /// How samples are cut into batches.
    fn batching(&self, _loaded: &Loaded<Self, D>, _device: &Device) -> Batching {
        Batching::SimilarSize
    }

    /// Which steps' states are kept as trajectory frames (`None`: none).
    fn frames(
        &self,
        _options: &Self::Options,
        trajectory: bool,
        total_steps: usize,
    ) -> Option<FramePolicy> {
        trajectory.then(|| FramePolicy::at_most(total_steps, 100))
    }

    /// Writes the samples (and frames) into `out`.
    fn write(
        &self,
        loaded: &Loaded<Self, D>,
        options: &Self::Options,
        generated: &Generated<Self::Sample>,
        request: &SampleRequest,
        out: &mut RunOutput,
    ) -> Result<(), Self::Error>;

    /// Scores the samples (against reference data when known), adding to `report`; files it
    /// writes go through `out`.
    fn evaluate(
        &self,
        loaded: &Loaded<Self, D>,
        options: &Self::Options,
        generated: &Generated<Self::Sample>,
        context: EvalContext<'_>,
        out: &mut RunOutput,
        report: &mut Report,
    ) -> Result<(), Self::Error>;

    /// Words added to the report's "model: …" line (class, guidance, size).
    fn describe(&self, _loaded: &Loaded<Self, D>, _options: &Self::Options) -> String {
        String::new()
    }

    /// `diffgen report`: the modality's own sections of a run directory's page (its samples
    /// as people look at them); the core adds what ran, the figures and the plots.
    fn page_sections(
        &self,
        _run: &crate::page::RunDir,
    ) -> Result<Vec<crate::page::PageSection>, Self::Error> {
        Ok(Vec::new())
    }

    /// `diffgen eval`: metrics of sample files.
    fn eval_files(&self, files: &[PathBuf], data_dir: Option<&Path>)
        -> Result<Report, Self::Error>;

    // --- bench ---

    /// The training cases `bench` times (models and data of the bench's size).
    fn bench_cases(&self, request: &BenchRequest) -> Result<Vec<BenchCase<Self, D>>, Self::Error>;

    /// Whether `bench` times sampling with the bundled model (else with the first case's
    /// model, when the bundled one is not the size the bench compares).
    fn bench_samples_bundled(&self) -> bool {
        true
    }

    /// Options for the timed sampling (`length=128`, say).
    fn bench_options(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// Loads a checkpoint of `pipeline` (the file at `path`, or the bundled model) onto `device`.
pub fn load<P: Pipeline<D>, const D: usize>(
    pipeline: &P,
    path: Option<&Path>,
    device: &Device,
) -> Result<Loaded<P, D>, P::Error> {
    let info = pipeline.info();
    let variant = path
        .and_then(|p| p.to_str())
        .and_then(|p| p.strip_prefix(BUNDLED_PREFIX));
    let (checkpoint, origin) = match variant {
        Some(name) => {
            let model = info
                .variants
                .iter()
                .find(|v| v.name == name)
                .ok_or_else(|| {
                    let known: Vec<String> = info
                        .variants
                        .iter()
                        .map(|v| format!("{BUNDLED_PREFIX}{}", v.name))
                        .collect();
                    CoreError::setting(
                        "checkpoint",
                        format!(
                            "no bundled {} model `{name}`; bundled besides the default: {}",
                            info.name,
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    )
                })?;
            let origin = PathBuf::from(format!("<bundled {} model {name}>", info.name));
            let checkpoint = Checkpoint::from_bytes(model.bytes, &origin)?;
            checkpoint.expect_modality(info.name, info.former_names, &origin)?;
            (checkpoint, origin)
        }
        None => Checkpoint::open_for(info.name, info.former_names, path, info.bundled)?,
    };
    pipeline.check_checkpoint(&checkpoint, &origin)?;
    let config: P::Config = checkpoint.config(&origin)?;
    config
        .validate()
        .map_err(|e| CoreError::checkpoint(&origin, e.to_string()))?;
    let stats: P::Stats = checkpoint.data_stats(&origin)?;
    let model = pipeline.init_model(&config, &stats, device);
    let model = checkpoint.load_module(EMA_PREFIX, model, None, device, &origin)?;
    Ok(Loaded {
        model,
        config,
        stats,
        meta: checkpoint.meta,
        origin,
        bundled: path.is_none() || variant.is_some(),
    })
}

/// `serde_json::to_value` with the core's error.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, CoreError> {
    serde_json::to_value(value).map_err(|e| CoreError::Other(format!("serialising: {e}")))
}
