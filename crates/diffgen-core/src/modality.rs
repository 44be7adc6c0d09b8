//! The object-safe face of a modality, which the CLI's registry holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::device::Backend;
use crate::error::BoxError;
use crate::sampler::SamplerKind;

/// `diffgen train`.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// The TOML config text and where it came from (for error messages).
    pub config_text: String,
    /// The config file's path.
    pub config_origin: PathBuf,
    /// The data root (`--data`, `DIFFGEN_DATA`, or `../shared/datasets`).
    pub data_dir: Option<PathBuf>,
    /// The run directory: checkpoints, metrics and plots go here.
    pub out_dir: PathBuf,
    /// Continue the run in `out_dir` from its `checkpoint.safetensors` (`--resume`).
    pub resume: bool,
    /// Replace a run already in `out_dir` (without it, training there is refused).
    pub overwrite: bool,
    /// With `resume`: take the config's `training.lr_schedule` and step count instead of
    /// the checkpoint's, applied from the resume step on (e.g. to cool a run down).
    pub reschedule: bool,
    /// The device to train on.
    pub backend: Backend,
    /// Start a new run from this checkpoint's (EMA) weights where the model has the same
    /// parameters (`--init`, fine-tuning); new parameters keep their fresh values.
    pub init_from: Option<PathBuf>,
    /// Overrides the config's step count.
    pub steps: Option<u64>,
    /// Stop at this step with a checkpoint (resume later with `resume`).
    pub stop_at: Option<u64>,
    /// Draw a progress bar (on a terminal).
    pub show_progress: bool,
}

/// `diffgen run` / `diffgen sample`.
#[derive(Debug, Clone)]
pub struct SampleRequest {
    /// `None`: the bundled model.
    pub checkpoint: Option<PathBuf>,
    /// Samples in total, over all shards.
    pub num_samples: usize,
    /// `None`: every level of the schedule.
    pub steps: Option<usize>,
    /// The update rule (None: the model's process's default — DDPM for diffusion, Euler
    /// for flow matching).
    pub sampler: Option<SamplerKind>,
    /// Where the sampler's steps fall along the path (flow matching; `None`: the model's).
    pub time_grid: Option<crate::process::TimeGrid>,
    /// Seeds every sample's noise stream (sample i draws from stream i).
    pub seed: u64,
    /// Where the sample files go.
    pub out_dir: PathBuf,
    /// Process `index` of `count` (0-based): it draws only its share of the samples.
    pub shard: Shard,
    /// Samples per batch at most.
    pub batch_size: usize,
    /// The device to sample on.
    pub backend: Backend,
    /// Write the denoising trajectory too.
    pub trajectory: bool,
    /// Classifier-free guidance scale, for conditional models.
    pub guidance: Option<f64>,
    /// Modality-specific options (`--opt key=value`).
    pub options: BTreeMap<String, String>,
    /// Compute metrics on the samples when the modality has reference data for them.
    pub evaluate: bool,
    /// The data root, for metrics against the training data (novelty).
    pub data_dir: Option<PathBuf>,
    /// Draw a progress bar (on a terminal).
    pub show_progress: bool,
}

/// A deterministic split of sample indices `0..n` across processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's share, 0-based (< `count`).
    pub index: usize,
    /// The number of processes, at least 1.
    pub count: usize,
}

impl Shard {
    /// The whole run in one process (`0/1`).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The global sample indices this shard draws: a contiguous block, so the union over
    /// shards is `0..n` and each index's noise stream is the same as in the unsharded run.
    pub fn range(&self, n: usize) -> std::ops::Range<usize> {
        let start = n * self.index / self.count;
        let end = n * (self.index + 1) / self.count;
        start..end
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `i/n` with 0 ≤ i < n.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected i/n, got `{s}`"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("bad shard index `{i}`"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("bad shard count `{n}`"))?;
        if count == 0 || index >= count {
            return Err(format!("shard `{s}`: need 0 ≤ i < n"));
        }
        Ok(Shard { index, count })
    }
}

/// What a command produced, for the CLI to print.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Named figures (metrics), in display order.
    pub metrics: Vec<(String, f64)>,
    /// Free-form lines.
    pub notes: Vec<String>,
    /// Figures that are shares of a whole: kept as fractions, printed as percentages.
    pub shares: BTreeSet<String>,
    /// Columns printed beside the figures (the data's own, the best published model's), so
    /// that a figure is never read without something to compare it with.
    pub references: Vec<ReferenceColumn>,
}

impl Report {
    /// Appends a figure.
    pub fn figure(&mut self, name: impl Into<String>, value: f64) {
        self.metrics.push((name.into(), value));
    }

    /// The figures as JSON, the one form every `metrics.json` and `eval --json` share:
    /// `{"figures": {name: value}, "shares": [name], "references": [column]}`.
    pub fn figures_json(&self) -> serde_json::Value {
        let figures: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::json!(value)))
            .collect();
        serde_json::json!({
            "figures": figures,
            "shares": self.shares,
            "references": self.references,
        })
    }

    /// Appends a share of a whole (a fraction in [0, 1], printed as a percentage).
    pub fn share(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        self.shares.insert(name.clone());
        self.metrics.push((name, value));
    }
}

/// Reference figures printed beside a report's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceColumn {
    /// The column's heading ("QM9 test", "GeoLDM").
    pub name: String,
    /// Where the figures come from (a paper's table, a command that measured them).
    pub source: String,
    /// Figure name → value, in the report's units (fractions for shares).
    pub values: BTreeMap<String, f64>,
}

/// `diffgen bench`.
#[derive(Debug, Clone)]
pub struct BenchRequest {
    /// The device to time.
    pub backend: Backend,
    /// The data root, for modalities whose bench reads real data.
    pub data_dir: Option<PathBuf>,
    /// Examples per training batch (the sampling batch is `num_samples`).
    pub batch_size: usize,
    /// Training steps timed after a warm-up (0: none timed).
    pub train_steps: usize,
    /// Sampler steps of the timed sampling run (0: no sampling timed).
    pub sample_steps: usize,
    /// Samples drawn, as one batch, in the timed sampling run (0: no sampling timed).
    pub num_samples: usize,
}

/// A command a modality adds to the CLI (`diffgen import-edm …`): it parses its own
/// arguments, so the CLI names none of them.
#[derive(Clone, Copy)]
pub struct ModalityCommand {
    /// The subcommand's name.
    pub name: &'static str,
    /// One line for `diffgen --help`.
    pub about: &'static str,
    /// Runs it on the arguments after the name (`--help` included).
    pub run: fn(args: &[String]) -> Result<Report, BoxError>,
}

impl std::fmt::Debug for ModalityCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModalityCommand")
            .field("name", &self.name)
            .finish()
    }
}

/// A data modality as the CLI sees it. Modality crates implement
/// [`crate::pipeline::Pipeline`] and register it as [`crate::pipeline::Registered`], which
/// implements this; the binary's registry lists them.
pub trait Modality: Send + Sync {
    /// The modality's name, as the CLI and checkpoints spell it.
    fn name(&self) -> &'static str;
    /// One line for `diffgen modalities`.
    fn summary(&self) -> &'static str;
    /// The file formats `sample` writes.
    fn writers(&self) -> &'static [&'static str];
    /// Runs `diffgen train`.
    fn train(&self, request: &TrainRequest) -> Result<Report, BoxError>;
    /// Runs `diffgen sample` (and `run`).
    fn sample(&self, request: &SampleRequest) -> Result<Report, BoxError>;
    /// Metrics of sample files (as written by `sample`), against reference data when known.
    fn eval(
        &self,
        files: &[PathBuf],
        data_dir: Option<&std::path::Path>,
    ) -> Result<Report, BoxError>;
    /// Runs `diffgen bench`.
    fn bench(&self, request: &BenchRequest) -> Result<Report, BoxError>;
    /// The modality's sections of a run directory's HTML page (`diffgen report`).
    fn page_sections(
        &self,
        run: &crate::page::RunDir,
    ) -> Result<Vec<crate::page::PageSection>, BoxError> {
        let _ = run;
        Ok(Vec::new())
    }
    /// Names it had before, whose checkpoints it still loads.
    fn former_names(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether it loads a checkpoint with this metadata (its name or a former one on the
    /// label, and a config it recognises).
    fn loads(&self, meta: &crate::checkpoint::CheckpointMeta) -> bool {
        meta.modality == self.name() || self.former_names().contains(&meta.modality.as_str())
    }
    /// Summary of the bundled model, if any.
    fn bundled(&self) -> Option<&'static str> {
        None
    }
    /// Its other bundled models (`--checkpoint bundled:<name>`).
    fn variants(&self) -> &'static [crate::pipeline::BundledModel] {
        &[]
    }
    /// The sampling options it declares.
    fn options(&self) -> &'static [crate::pipeline::OptionSpec] {
        &[]
    }
    /// Commands of its own.
    fn commands(&self) -> &'static [ModalityCommand] {
        &[]
    }
    /// The process of a model (the checkpoint, or the bundled model) and which samplers fit
    /// it (`--sampler help`).
    fn samplers(&self, checkpoint: Option<&std::path::Path>) -> Result<SamplerFit, BoxError>;
}

/// What `--sampler help` shows: a model's process and every sampler with why it does not
/// fit (None: it fits).
#[derive(Debug, Clone)]
pub struct SamplerFit {
    /// The model's process, in words.
    pub process: String,
    /// The sampler a run uses when it names none.
    pub default: String,
    /// `(usage, help, why it does not fit)` for every sampler.
    pub samplers: Vec<(&'static str, &'static str, Option<String>)>,
}

/// Shared data root: `explicit`, else `DIFFGEN_DATA`, else `../shared/datasets` if present.
/// A root given explicitly (flag or variable) that is not a directory is an error.
pub fn resolve_data_dir(explicit: Option<PathBuf>) -> Result<Option<PathBuf>, crate::CoreError> {
    let given = explicit
        .map(|p| ("--data", p))
        .or_else(|| std::env::var_os("DIFFGEN_DATA").map(|p| ("DIFFGEN_DATA", PathBuf::from(p))));
    match given {
        Some((_, p)) if p.is_dir() => Ok(Some(p)),
        Some((key, p)) => Err(crate::CoreError::setting(
            key,
            format!("{} is not a directory", p.display()),
        )),
        None => {
            let p = PathBuf::from("../shared/datasets");
            Ok(p.is_dir().then_some(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_indices() {
        for n in [0usize, 1, 7, 100] {
            for count in 1..5 {
                let mut all = Vec::new();
                for index in 0..count {
                    all.extend(Shard { index, count }.range(n));
                }
                assert_eq!(all, (0..n).collect::<Vec<_>>());
            }
        }
        assert!("2/2".parse::<Shard>().is_err());
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
    }
}
