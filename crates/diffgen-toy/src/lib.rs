//! The toy modality: 2-D point clouds.
//!
//! The smallest complete modality — a plain Euclidean space, an MLP denoiser with a time
//! embedding (and optional labels for classifier-free guidance), CSV and PNG writers, an MMD
//! metric and a bundled model — and the worked example of `docs/adding-a-modality.md`.

pub mod config;
pub mod data;
pub mod io;
pub mod metrics;
pub mod model;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::checkpoint::{Checkpoint, EMA_PREFIX};
use diffgen_core::config::parse_toml;
use diffgen_core::error::BoxError;
use diffgen_core::modality::{BenchRequest, Modality, Report, SampleRequest, TrainRequest};
use diffgen_core::rng::{PerSampleStreams, SeededRng};
use diffgen_core::sampler::{sample, SamplerConfig, SamplerKind};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::train::Trainer;
use diffgen_core::{CoreError, EuclideanSpace, Guided};
use serde::{Deserialize, Serialize};

pub use config::ToyConfig;
use data::{DataSource, PointSet, ToyData};
use io::ToySample;
use model::{ToyContext, ToyDenoiser};

pub const NAME: &str = "toy";

/// The bundled model: trained by `diffgen train --modality toy --config configs/toy-ring.toml`.
static BUNDLED: &[u8] = include_bytes!("../weights/toy-ring.safetensors");

/// Points held out for metrics in `run` and `eval`.
const REFERENCE_POINTS: usize = 1000;
/// The stream of the data seed reserved for reference points (train 0, validation 1).
const REFERENCE_STREAM: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ToyError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{path}, line {line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("option `{key}`: {reason}")]
    Option { key: String, reason: String },
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// What a toy checkpoint stores besides the config: the standardisation of the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToyStats {
    pub mean: [f64; 2],
    pub std: [f64; 2],
    pub num_classes: usize,
    pub dataset: String,
}

pub struct ToyModality;

/// A model ready to sample, with what it needs to undo the standardisation.
pub struct LoadedToy {
    pub model: ToyDenoiser,
    pub config: ToyConfig,
    pub stats: ToyStats,
    pub checkpoint: Checkpoint,
}

/// Loads a toy checkpoint (file, or the bundled bytes when `path` is None) onto `device`.
pub fn load_toy(path: Option<&Path>, device: &Device) -> Result<LoadedToy, ToyError> {
    let (checkpoint, origin) = Checkpoint::open_for(NAME, path, BUNDLED)?;
    let config: ToyConfig = checkpoint.config(&origin)?;
    let stats: ToyStats = checkpoint.data_stats(&origin)?;
    let model = config
        .model
        .init(config.diffusion.objective, stats.num_classes, device);
    let model = checkpoint.load_module(EMA_PREFIX, model, None, device, &origin)?;
    Ok(LoadedToy {
        model,
        config,
        stats,
        checkpoint,
    })
}

/// Reference points of a synthetic source (independent of training and validation data).
fn reference_points(source: &DataSource, seed: u64) -> Option<Vec<[f64; 2]>> {
    match source {
        DataSource::Csv { .. } => None,
        _ => source
            .points(REFERENCE_POINTS, seed, REFERENCE_STREAM)
            .ok()
            .map(|s| s.points),
    }
}

fn source_by_name(name: &str) -> Option<DataSource> {
    match name {
        "ring" => Some(default_ring()),
        "moons" => Some(DataSource::Moons { noise: 0.05 }),
        _ => None,
    }
}

fn default_ring() -> DataSource {
    DataSource::Ring {
        radius: 2.0,
        std: 0.1,
    }
}

/// Scale of a point set for the MMD bandwidths: the mean per-axis standard deviation.
fn scale_of(points: &[[f64; 2]]) -> f64 {
    let set = PointSet {
        points: points.to_vec(),
        labels: vec![None; points.len()],
    };
    let (_, std) = set.moments();
    0.5 * (std[0] + std[1])
}

/// Options of the request that only the toy modality reads.
struct ToyOptions {
    class: Option<usize>,
}

fn parse_options(request: &SampleRequest, num_classes: usize) -> Result<ToyOptions, ToyError> {
    let mut class = None;
    for (key, value) in &request.options {
        match key.as_str() {
            "class" => {
                let c: usize = value.parse().map_err(|_| ToyError::Option {
                    key: key.clone(),
                    reason: format!("`{value}` is not a class index"),
                })?;
                if c >= num_classes {
                    return Err(ToyError::Option {
                        key: key.clone(),
                        reason: format!("the model knows {num_classes} classes (0..{num_classes})"),
                    });
                }
                class = Some(c);
            }
            _ => {
                return Err(ToyError::Option {
                    key: key.clone(),
                    reason: "unknown for the toy modality (known: class)".into(),
                })
            }
        }
    }
    if request.guidance.is_some() && class.is_none() {
        return Err(ToyError::Option {
            key: "guidance".into(),
            reason: "needs a condition: add `--opt class=K`".into(),
        });
    }
    Ok(ToyOptions { class })
}

/// How to draw samples.
#[derive(Debug, Clone, Copy)]
pub struct Generation {
    pub sampler: SamplerConfig,
    pub seed: u64,
    /// Condition every sample on this label (None: the null label, unconditional).
    pub class: Option<usize>,
    /// Classifier-free guidance scale (with `class`).
    pub guidance: Option<f64>,
    pub batch_size: usize,
    /// Record every step's state.
    pub trajectory: bool,
}

impl Generation {
    pub fn new(sampler: SamplerConfig, seed: u64) -> Self {
        Self {
            sampler,
            seed,
            class: None,
            guidance: None,
            batch_size: 256,
            trajectory: false,
        }
    }
}

/// The states of all samples after one sampler step.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub step: usize,
    pub t: usize,
    pub samples: Vec<ToySample>,
}

/// Samples (unstandardised) and, when asked, the trajectory.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub samples: Vec<ToySample>,
    pub frames: Vec<Frame>,
}

/// Draws the global samples `indices` in batches.
pub fn generate(
    loaded: &LoadedToy,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated, ToyError> {
    let Generation {
        sampler,
        seed,
        class,
        guidance,
        batch_size,
        trajectory,
    } = *how;
    let schedule = loaded.config.diffusion.schedule.build()?;
    let space = EuclideanSpace::<ToyContext>::new();
    let stats = &loaded.stats;
    let unstandardise = |v: &[f32], rows: &[usize]| -> Vec<ToySample> {
        rows.iter()
            .enumerate()
            .map(|(r, &index)| ToySample {
                index,
                point: [
                    v[2 * r] as f64 * stats.std[0] + stats.mean[0],
                    v[2 * r + 1] as f64 * stats.std[1] + stats.mean[1],
                ],
                label: class,
            })
            .collect()
    };
    let mut out = Vec::with_capacity(indices.len());
    let mut frames: Vec<Frame> = Vec::new();
    for (b, rows) in indices.chunks(batch_size.max(1)).enumerate() {
        let n = rows.len();
        let labels = (stats.num_classes > 0).then(|| {
            let label = class.unwrap_or(stats.num_classes) as i64;
            Tensor::<1, Int>::from_data(TensorData::new(vec![label; n], [n]), device)
        });
        let context = ToyContext { labels };
        let mut noise = PerSampleStreams::new(seed, rows.iter().map(|&i| i as u64));
        let mut record = |e: &diffgen_core::sampler::StepEvent<'_, 2>| {
            if trajectory {
                let points = unstandardise(&to_vec(e.x.clone()), rows);
                if b == 0 {
                    frames.push(Frame {
                        step: e.step,
                        t: e.t,
                        samples: points,
                    });
                } else if let Some(frame) = frames.get_mut(e.step - 1) {
                    frame.samples.extend(points);
                }
            }
        };
        let x = match guidance {
            Some(scale) => sample(
                &sampler,
                &schedule,
                &space,
                &Guided::new(&loaded.model, scale),
                &context,
                [n, 2],
                &mut noise,
                device,
                &mut record,
            )?,
            None => sample(
                &sampler,
                &schedule,
                &space,
                &loaded.model,
                &context,
                [n, 2],
                &mut noise,
                device,
                &mut record,
            )?,
        };
        out.extend(unstandardise(&to_vec(x), rows));
    }
    Ok(Generated {
        samples: out,
        frames,
    })
}

impl ToyModality {
    fn train_impl(&self, request: &TrainRequest) -> Result<Report, ToyError> {
        let mut config: ToyConfig = parse_toml(&request.config_text, &request.config_origin)?;
        if let Some(steps) = request.steps {
            config.training.steps = steps;
        }
        config.validate()?;
        let seed = config.training.seed;
        let (train_set, val_set) = match &config.data.source {
            DataSource::Csv { path } => {
                let path = if path.is_relative() {
                    request
                        .config_origin
                        .parent()
                        .unwrap_or(Path::new("."))
                        .join(path)
                } else {
                    path.clone()
                };
                let all = data::read_points_csv(&path)?;
                let order = SeededRng::new(seed).permutation(all.len());
                let n_val = config.data.val_size.min(all.len() / 10).max(1);
                let pick = |ids: &[usize]| PointSet {
                    points: ids.iter().map(|&i| all.points[i]).collect(),
                    labels: ids.iter().map(|&i| all.labels[i]).collect(),
                };
                (pick(&order[n_val..]), pick(&order[..n_val]))
            }
            source => (
                source.points(config.data.train_size, seed, 0)?,
                source.points(config.data.val_size, seed, 1)?,
            ),
        };
        if train_set.is_empty() {
            return Err(CoreError::Other("the training set is empty".into()).into());
        }
        let (mean, std) = train_set.moments();
        let num_classes = if config.model.conditional {
            config.data.source.num_classes(&train_set)
        } else {
            0
        };
        let stats = ToyStats {
            mean,
            std,
            num_classes,
            dataset: config.data.source.name(),
        };
        let train = ToyData::new(
            &train_set,
            mean,
            std,
            num_classes,
            config.data.label_dropout,
        );
        let val = ToyData::new(&val_set, mean, std, num_classes, 0.0);

        let device = request.backend.device()?;
        device.seed(seed);
        let model = config.model.init(
            config.diffusion.objective,
            num_classes,
            &device.clone().autodiff(),
        );
        let space = EuclideanSpace::<ToyContext>::new();
        let trainer = Trainer {
            config: &config.training,
            schedule_config: &config.diffusion.schedule,
            space: &space,
            weighting: config.diffusion.weighting,
            out_dir: request.out_dir.clone(),
            device: device.clone(),
            modality: NAME.to_string(),
            modality_config: serde_json::to_value(&config)
                .map_err(|e| CoreError::Other(e.to_string()))?,
            data_stats: serde_json::to_value(&stats)
                .map_err(|e| CoreError::Other(e.to_string()))?,
            show_progress: request.show_progress,
            stop_at: request.stop_at,
        };
        let resume = trainer.resume_from(request.resume)?;
        let started = Instant::now();
        let outcome =
            trainer.run::<2, _, _, ToyData>(model, &train, Some(&val), resume.as_deref())?;
        let seconds = started.elapsed().as_secs_f64();

        // Score the averaged model on held-out points.
        let loaded = load_toy(Some(&outcome.inference_checkpoint), &device)?;
        let indices: Vec<usize> = (0..REFERENCE_POINTS).collect();
        let how = Generation::new(SamplerConfig::new(SamplerKind::DpmSolver2M, Some(50)), 0);
        let samples = generate(&loaded, &indices, &how, &device)?.samples;
        let points: Vec<[f64; 2]> = samples.iter().map(|s| s.point).collect();
        let reference = &val_set.points;
        let mmd = metrics::mmd2(&points, reference, scale_of(reference));
        let plot = request.out_dir.join("samples.png");
        io::write_scatter_png(&plot, &points, Some(reference))?;

        let mut report = outcome.report(seconds);
        report.files.push(plot);
        report
            .metrics
            .push(("MMD² to validation (dpm++2m, 50 steps)".into(), mmd));
        Ok(report)
    }

    fn sample_impl(&self, request: &SampleRequest) -> Result<Report, ToyError> {
        let device = request.backend.device()?;
        let loaded = load_toy(request.checkpoint.as_deref(), &device)?;
        let options = parse_options(request, loaded.stats.num_classes)?;
        let indices: Vec<usize> = request.shard.range(request.num_samples).collect();
        let sampler = SamplerConfig::new(request.sampler, request.steps);
        let started = Instant::now();
        let how = Generation {
            sampler,
            seed: request.seed,
            class: options.class,
            guidance: request.guidance,
            batch_size: request.batch_size,
            trajectory: request.trajectory,
        };
        let Generated { samples, frames } = generate(&loaded, &indices, &how, &device)?;
        let seconds = started.elapsed().as_secs_f64();

        let stem = if request.shard.count == 1 {
            "samples".to_string()
        } else {
            format!(
                "samples.shard-{}-of-{}",
                request.shard.index, request.shard.count
            )
        };
        let mut report = Report::default();
        let csv = request.out_dir.join(format!("{stem}.csv"));
        io::write_samples_csv(&csv, &loaded.stats.dataset, &samples)?;
        report.files.push(csv);
        let points: Vec<[f64; 2]> = samples.iter().map(|s| s.point).collect();
        let source = source_by_name(&loaded.stats.dataset);
        let reference = source.as_ref().and_then(|s| reference_points(s, 12345));
        let png = request.out_dir.join(format!("{stem}.png"));
        io::write_scatter_png(&png, &points, reference.as_deref())?;
        report.files.push(png);
        if request.trajectory {
            let path = request.out_dir.join(format!("{stem}.trajectory.csv"));
            io::write_trajectory_csv(&path, &frames)?;
            report.files.push(path);
        }
        report
            .metrics
            .push(("samples".into(), samples.len() as f64));
        report
            .metrics
            .push(("samples/s".into(), samples.len() as f64 / seconds.max(1e-9)));
        if let (Some(reference), true, None) = (&reference, request.evaluate, options.class) {
            if points.len() >= 2 {
                let mmd = metrics::mmd2(&points, reference, scale_of(reference));
                report
                    .metrics
                    .push((format!("MMD² to {} reference", loaded.stats.dataset), mmd));
            }
        }
        report.notes.push(format!(
            "model: {} (step {}), sampler {} with {} steps",
            request
                .checkpoint
                .as_ref()
                .map_or("bundled".to_string(), |p| p.display().to_string()),
            loaded.checkpoint.meta.step,
            request.sampler,
            request.steps.map_or("all".to_string(), |s| s.to_string()),
        ));
        Ok(report)
    }

    fn eval_impl(&self, files: &[PathBuf]) -> Result<Report, ToyError> {
        let mut report = Report::default();
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|e| ToyError::Io(file.clone(), e))?;
            let set = data::parse_points_csv(&text, file)?;
            let dataset = io::dataset_of(&text).unwrap_or_else(|| "ring".into());
            let source = source_by_name(&dataset).ok_or_else(|| ToyError::Parse {
                path: file.clone(),
                line: 1,
                reason: format!("no reference data for dataset `{dataset}` (known: ring, moons)"),
            })?;
            let reference =
                reference_points(&source, 12345).expect("synthetic sources have references");
            let mmd = metrics::mmd2(&set.points, &reference, scale_of(&reference));
            report.metrics.push((
                format!(
                    "{}: MMD² to {dataset} ({} points)",
                    file.display(),
                    set.len()
                ),
                mmd,
            ));
        }
        Ok(report)
    }

    fn bench_impl(&self, request: &BenchRequest) -> Result<Report, ToyError> {
        let device = request.backend.device()?;
        let mut config: ToyConfig = parse_toml(DEFAULT_CONFIG, Path::new("configs/toy-ring.toml"))?;
        config.training.batch_size = request.batch_size;
        config.training.steps = request.train_steps as u64;
        config.training.log_every = u64::MAX;
        let set = config.data.source.points(config.data.train_size, 0, 0)?;
        let (mean, std) = set.moments();
        let num_classes = config.data.source.num_classes(&set);
        let data = ToyData::new(&set, mean, std, num_classes, config.data.label_dropout);
        let ad = device.clone().autodiff();
        let model = config
            .model
            .init(config.diffusion.objective, num_classes, &ad);
        let dir = std::env::temp_dir().join(format!("diffgen-bench-{}", std::process::id()));
        let space = EuclideanSpace::<ToyContext>::new();
        let trainer = Trainer {
            config: &config.training,
            schedule_config: &config.diffusion.schedule,
            space: &space,
            weighting: config.diffusion.weighting,
            out_dir: dir.clone(),
            device: device.clone(),
            modality: NAME.into(),
            modality_config: serde_json::to_value(&config)
                .map_err(|e| CoreError::Other(e.to_string()))?,
            data_stats: serde_json::Value::Null,
            show_progress: false,
            stop_at: None,
        };
        // One warm-up step initialises the lazy parameters outside the timing.
        let started = Instant::now();
        trainer.run::<2, _, _, ToyData>(model, &data, None, None)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let _ = std::fs::remove_dir_all(&dir);

        let loaded = match load_toy(None, &device) {
            Ok(l) => l,
            Err(_) => return Ok(Report::default()),
        };
        let indices: Vec<usize> = (0..request.num_samples).collect();
        let mut how = Generation::new(
            SamplerConfig::new(SamplerKind::Ddpm, Some(request.sample_steps)),
            0,
        );
        how.batch_size = request.num_samples;
        let started = Instant::now();
        generate(&loaded, &indices, &how, &device)?;
        let sample_seconds = started.elapsed().as_secs_f64();
        let mut report = Report::default();
        report.metrics.push((
            format!(
                "train steps/s (batch {}, incl. checkpoint write)",
                request.batch_size
            ),
            request.train_steps as f64 / train_seconds,
        ));
        report.metrics.push((
            format!(
                "samples/s ({} steps, batch {})",
                request.sample_steps, request.num_samples
            ),
            request.num_samples as f64 / sample_seconds,
        ));
        Ok(report)
    }
}

/// The config the bundled model was trained with.
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/toy-ring.toml");

impl Modality for ToyModality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "2-D point clouds (ring of 8 Gaussians, two moons, your CSV); MLP denoiser; CSV + PNG; MMD"
    }

    fn writers(&self) -> &'static [&'static str] {
        &["csv", "png", "trajectory csv"]
    }

    fn train(&self, request: &TrainRequest) -> Result<Report, BoxError> {
        Ok(self.train_impl(request)?)
    }

    fn sample(&self, request: &SampleRequest) -> Result<Report, BoxError> {
        Ok(self.sample_impl(request)?)
    }

    fn eval(&self, files: &[PathBuf], _data_dir: Option<&Path>) -> Result<Report, BoxError> {
        Ok(self.eval_impl(files)?)
    }

    fn bench(&self, request: &BenchRequest) -> Result<Report, BoxError> {
        Ok(self.bench_impl(request)?)
    }

    fn bundled(&self) -> Option<&'static str> {
        (!BUNDLED.is_empty())
            .then_some("ring of 8 Gaussians, conditional on the component (configs/toy-ring.toml)")
    }
}
