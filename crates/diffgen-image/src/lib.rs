//! The image modality: the course's DDPM on pixels.
//!
//! Pixels scaled to [−1, 1] diffuse in a Euclidean space ([`space::PixelSpace`], optionally
//! clamping x̂₀); a UNet after diffusers' `UNet2DModel` ([`unet`]) predicts the noise, with an
//! optional class embedding and label dropout for classifier-free guidance. Data: MNIST IDX,
//! scikit-learn's digits CSV, folders of PNG/JPEG ([`data`]). Outputs: a PNG grid, single
//! PNGs, and a GIF of the denoising trajectory ([`io`]). Metrics: a small CNN classifier
//! trained inside the project labels samples and gives penultimate-layer features for a
//! Fréchet distance ([`classifier`], [`metrics`]).

pub mod classifier;
pub mod config;
pub mod data;
pub mod io;
pub mod metrics;
pub mod ops;
pub mod space;
pub mod unet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::checkpoint::{Checkpoint, EMA_PREFIX};
use diffgen_core::config::parse_toml;
use diffgen_core::error::BoxError;
use diffgen_core::modality::{BenchRequest, Modality, Report, SampleRequest, TrainRequest};
use diffgen_core::rng::{PerSampleStreams, SeededRng};
use diffgen_core::sampler::{sample, SamplerConfig, SamplerKind, StepEvent};
use diffgen_core::tensor_util::{scalar, to_vec};
use diffgen_core::train::{denoising_loss, Trainer};
use diffgen_core::{CoreError, Guided};
use serde::{Deserialize, Serialize};

use classifier::LoadedClassifier;
pub use config::{ClassifierFile, ImageConfig, Task, TaskProbe};
use data::{ImageData, ImageSet};
use io::Batch;
use metrics::{frechet_distance, Gaussian};
use space::PixelSpace;
use unet::{ImageContext, UNet};

pub const NAME: &str = "image";

/// The bundled diffusion model (see the crate README for what it was trained on). The
/// loader reads its size from the checkpoint's metadata, so any UNet config can replace it.
static BUNDLED: &[u8] = include_bytes!("../weights/image-mnist.safetensors");
/// The bundled MNIST classifier with the held-out feature statistics.
static BUNDLED_CLASSIFIER: &[u8] = include_bytes!("../weights/mnist-classifier.safetensors");

/// The course config (for `bench`).
pub const COURSE_CONFIG: &str = include_str!("../../../configs/image-mnist.toml");

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}, line {line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Data(String),
    #[error("option `{key}`: {reason}")]
    Option { key: String, reason: String },
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// What an image checkpoint stores besides the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageStats {
    pub num_classes: usize,
    pub dataset: String,
    pub train_images: usize,
    pub held_out_images: usize,
}

pub struct ImageModality;

/// A diffusion model ready to sample.
pub struct LoadedImage {
    pub model: UNet,
    pub config: ImageConfig,
    pub stats: ImageStats,
    pub checkpoint: Checkpoint,
}

impl LoadedImage {
    pub fn shape(&self) -> [usize; 3] {
        self.config.shape()
    }
}

fn json<T: Serialize>(v: &T) -> Result<serde_json::Value, CoreError> {
    serde_json::to_value(v).map_err(|e| CoreError::Other(e.to_string()))
}

/// Loads an image diffusion checkpoint (file, or the bundled bytes when `path` is None).
pub fn load_image(path: Option<&Path>, device: &Device) -> Result<LoadedImage, ImageError> {
    let (checkpoint, origin) = Checkpoint::open_for(NAME, path, BUNDLED)?;
    if classifier::is_classifier(&checkpoint) {
        return Err(CoreError::checkpoint(
            &origin,
            "holds the image classifier, not a diffusion model",
        )
        .into());
    }
    let config: ImageConfig = checkpoint.config(&origin)?;
    config
        .model
        .validate()
        .map_err(|e| CoreError::checkpoint(&origin, e.to_string()))?;
    let stats: ImageStats = checkpoint.data_stats(&origin)?;
    let model = config
        .model
        .init(config.diffusion.objective, stats.num_classes, device);
    let model = checkpoint.load_module(EMA_PREFIX, model, None, device, &origin)?;
    Ok(LoadedImage {
        model,
        config,
        stats,
        checkpoint,
    })
}

/// The bundled MNIST classifier, if this build carries one.
pub fn bundled_classifier(device: &Device) -> Option<LoadedClassifier> {
    if BUNDLED_CLASSIFIER.is_empty() {
        return None;
    }
    classifier::load_classifier(None, BUNDLED_CLASSIFIER, device).ok()
}

/// How to draw samples.
#[derive(Debug, Clone, Copy)]
pub struct Generation {
    pub sampler: SamplerConfig,
    pub seed: u64,
    /// Condition every sample on this class; None: sample `i` gets class `i mod classes`
    /// (conditional models) or no label (unconditional ones).
    pub class: Option<usize>,
    /// Classifier-free guidance scale.
    pub guidance: Option<f64>,
    pub batch_size: usize,
    /// Record a GIF frame every this many steps (plus the first and the last); None: none.
    pub frames_every: Option<usize>,
}

impl Generation {
    pub fn new(sampler: SamplerConfig, seed: u64) -> Self {
        Self {
            sampler,
            seed,
            class: None,
            guidance: None,
            batch_size: 64,
            frames_every: None,
        }
    }
}

/// Samples (flat `[N,C,H,W]`, in [−1, 1]), their classes and, when asked, trajectory frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub pixels: Vec<f32>,
    pub classes: Vec<Option<usize>>,
    /// `(step, pixels of every sample after that step)`.
    pub frames: Vec<(usize, Vec<f32>)>,
}

/// The class sample `index` is conditioned on.
pub fn class_of(index: usize, class: Option<usize>, num_classes: usize) -> Option<usize> {
    (num_classes > 0).then(|| class.unwrap_or(index % num_classes))
}

/// Draws the global samples `indices` in batches; sample `i` uses noise stream `i` of the
/// seed, so the result does not depend on the batch size or the shard.
pub fn generate(
    loaded: &LoadedImage,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated, ImageError> {
    let schedule = loaded.config.diffusion.schedule.build()?;
    let space = PixelSpace::new(loaded.config.sampling.clamp_x0);
    let [c, h, w] = loaded.shape();
    let num_classes = loaded.stats.num_classes;
    let mut pixels = Vec::with_capacity(indices.len() * c * h * w);
    let mut classes = Vec::with_capacity(indices.len());
    let mut frames: Vec<(usize, Vec<f32>)> = Vec::new();
    for (b, rows) in indices.chunks(how.batch_size.max(1)).enumerate() {
        let n = rows.len();
        let batch_classes: Vec<Option<usize>> = rows
            .iter()
            .map(|&i| class_of(i, how.class, num_classes))
            .collect();
        let labels = (num_classes > 0).then(|| {
            let ids: Vec<i64> = batch_classes
                .iter()
                .map(|l| l.unwrap_or(0) as i64)
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), device)
        });
        let context = ImageContext { labels };
        let mut noise = PerSampleStreams::new(how.seed, rows.iter().map(|&i| i as u64));
        let mut frame = 0usize;
        let mut record = |e: &StepEvent<'_, 4>| {
            let Some(every) = how.frames_every else {
                return;
            };
            if !io::is_frame_step(e.step, e.total, every) {
                return;
            }
            let values = to_vec(e.x.clone());
            if b == 0 {
                frames.push((e.step, values));
            } else if let Some((_, f)) = frames.get_mut(frame) {
                f.extend(values);
            }
            frame += 1;
        };
        let shape = [n, c, h, w];
        let x = match how.guidance {
            Some(scale) => sample(
                &how.sampler,
                &schedule,
                &space,
                &Guided::new(&loaded.model, scale),
                &context,
                shape,
                &mut noise,
                device,
                &mut record,
            )?,
            None => sample(
                &how.sampler,
                &schedule,
                &space,
                &loaded.model,
                &context,
                shape,
                &mut noise,
                device,
                &mut record,
            )?,
        };
        pixels.extend(to_vec(x));
        classes.extend(batch_classes);
    }
    Ok(Generated {
        pixels,
        classes,
        frames,
    })
}

/// Classifier scores of a set of samples.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub samples: usize,
    pub predicted: Vec<usize>,
    /// Share labelled as the class each sample was conditioned on.
    pub share_requested: Option<f64>,
    /// Fréchet distance of the samples' features to the held-out reference.
    pub frechet: Option<f64>,
    pub frechet_floor: f64,
    pub frechet_floor_n: usize,
    /// Size of the held-out half the floor compares against.
    pub reference_half: usize,
    pub feature_dim: usize,
    /// How many samples the classifier puts in each class.
    pub histogram: Vec<usize>,
}

/// Labels and Fréchet distance of `set` under the classifier; `requested` are the classes
/// the samples were conditioned on (None where unconditional).
pub fn score(
    classifier: &LoadedClassifier,
    set: &ImageSet,
    requested: &[Option<usize>],
    device: &Device,
) -> Scores {
    let (predicted, features) = classifier.score(set, device);
    let pairs: Vec<(usize, usize)> = predicted
        .iter()
        .zip(requested)
        .filter_map(|(&p, r)| r.map(|r| (p, r)))
        .collect();
    let share_requested = (!pairs.is_empty())
        .then(|| pairs.iter().filter(|(p, r)| p == r).count() as f64 / pairs.len() as f64);
    let frechet = (features.len() >= 2)
        .then(|| frechet_distance(&Gaussian::fit(&features), &classifier.sample_reference()));
    let (frechet_floor, frechet_floor_n) = classifier.floor_at(features.len());
    let mut histogram = vec![0; classifier.stats.num_classes];
    for &p in &predicted {
        if let Some(h) = histogram.get_mut(p) {
            *h += 1;
        }
    }
    Scores {
        samples: set.len(),
        predicted,
        share_requested,
        frechet,
        frechet_floor,
        frechet_floor_n,
        reference_half: match &classifier.held_out_features {
            Some(f) if f.len() >= 4 => f.len() / 2,
            _ => classifier.stats.held_out_images,
        },
        feature_dim: classifier.stats.feature_dim,
        histogram,
    }
}

fn push_scores(report: &mut Report, scores: &Scores, label: &str) {
    if let Some(s) = scores.share_requested {
        report
            .metrics
            .push((format!("{label}share labelled as the requested class"), s));
    }
    if let Some(fd) = scores.frechet {
        report.metrics.push((
            format!(
                "{label}Fréchet distance to {} held-out MNIST images ({} samples, {}-d classifier features)",
                scores.reference_half, scores.samples, scores.feature_dim
            ),
            fd,
        ));
        report.metrics.push((
            format!(
                "{label}Fréchet floor: {} held-out images vs {} others",
                scores.frechet_floor_n, scores.reference_half
            ),
            scores.frechet_floor,
        ));
    }
}

/// Options of the request that only the image modality reads.
#[derive(Debug, Clone, Default)]
struct ImageOptions {
    class: Option<usize>,
    singles: bool,
    gif: bool,
    gif_every: Option<usize>,
    nrow: Option<usize>,
}

const KNOWN_OPTIONS: &str = "class, singles, gif, gif_every, nrow";

fn parse_options(
    options: &BTreeMap<String, String>,
    num_classes: usize,
) -> Result<ImageOptions, ImageError> {
    let mut out = ImageOptions {
        gif: true,
        ..ImageOptions::default()
    };
    let bad = |key: &str, reason: String| ImageError::Option {
        key: key.to_string(),
        reason,
    };
    let boolean = |key: &str, v: &str| match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(key, format!("`{v}` is not true/false"))),
    };
    let positive = |key: &str, v: &str| {
        v.parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| bad(key, format!("`{v}` is not a positive integer")))
    };
    for (key, value) in options {
        match key.as_str() {
            "class" => {
                let c: usize = value
                    .parse()
                    .map_err(|_| bad(key, format!("`{value}` is not a class index")))?;
                if num_classes == 0 {
                    return Err(bad(key, "the model is unconditional".into()));
                }
                if c >= num_classes {
                    return Err(bad(
                        key,
                        format!("the model knows {num_classes} classes (0..{num_classes})"),
                    ));
                }
                out.class = Some(c);
            }
            "singles" => out.singles = boolean(key, value)?,
            "gif" => out.gif = boolean(key, value)?,
            "gif_every" => out.gif_every = Some(positive(key, value)?),
            "nrow" => out.nrow = Some(positive(key, value)?),
            _ => {
                return Err(bad(
                    key,
                    format!("unknown for the image modality (known: {KNOWN_OPTIONS})"),
                ))
            }
        }
    }
    Ok(out)
}

/// Images per grid row: the class count when classes are cycled (one column per class),
/// else about √n.
fn default_nrow(n: usize, num_classes: usize, class: Option<usize>) -> usize {
    if num_classes > 0 && class.is_none() {
        num_classes
    } else {
        ((n as f64).sqrt().ceil() as usize).max(1)
    }
}

/// The rasters of recorded frames.
fn frame_rasters(frames: &[(usize, Vec<f32>)], shape: [usize; 3], nrow: usize) -> Vec<io::Raster> {
    frames
        .iter()
        .map(|(_, pixels)| io::grid(Batch { pixels, shape }, nrow))
        .collect()
}

/// The summary written beside a grid (`<stem>.json`), which `eval` reads for the classes.
#[derive(Debug, Serialize, Deserialize)]
pub struct SampleSummary {
    pub model: String,
    pub sampler: String,
    pub steps: Option<usize>,
    pub guidance: Option<f64>,
    pub seed: u64,
    pub shape: [usize; 3],
    pub nrow: usize,
    pub indices: Vec<usize>,
    pub classes: Vec<Option<usize>>,
    #[serde(default)]
    pub gif_steps: Vec<usize>,
    #[serde(default)]
    pub predicted: Option<Vec<usize>>,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

impl ImageModality {
    fn train_impl(&self, request: &TrainRequest) -> Result<Report, ImageError> {
        let probe: TaskProbe = parse_toml(&request.config_text, &request.config_origin)?;
        match probe.task {
            Task::Diffusion => self.train_diffusion(request),
            Task::Classifier => self.train_classifier(request),
        }
    }

    fn train_diffusion(&self, request: &TrainRequest) -> Result<Report, ImageError> {
        let mut config: ImageConfig = parse_toml(&request.config_text, &request.config_origin)?;
        if let Some(steps) = request.steps {
            config.training.steps = steps;
        }
        config.validate()?;
        let base = request.config_origin.parent().unwrap_or(Path::new("."));
        let set =
            config
                .data
                .source
                .load(request.data_dir.as_deref(), base, Some(config.shape()))?;
        let n_train = config.data.train_count(set.len());
        let (train_set, val_set) = (set.slice(0..n_train), set.slice(n_train..set.len()));
        let num_classes = if config.model.conditional {
            let k = train_set.num_classes();
            if k == 0 || train_set.labels.iter().any(Option::is_none) {
                return Err(ImageError::Data(format!(
                    "{}: a conditional model needs labelled images (set [model] conditional = false)",
                    config.data.source.name()
                )));
            }
            k
        } else {
            0
        };
        let stats = ImageStats {
            num_classes,
            dataset: config.data.source.name(),
            train_images: train_set.len(),
            held_out_images: val_set.len(),
        };
        let train = ImageData {
            set: train_set,
            num_classes,
            label_dropout: config.data.label_dropout,
        };
        let val = ImageData {
            set: val_set,
            num_classes,
            label_dropout: 0.0,
        };

        let device = request.backend.device()?;
        device.seed(config.training.seed);
        let model = config.model.init(
            config.diffusion.objective,
            num_classes,
            &device.clone().autodiff(),
        );
        let parameters = model.num_params();
        let space = PixelSpace::new(config.sampling.clamp_x0);
        let trainer = Trainer {
            config: &config.training,
            schedule_config: &config.diffusion.schedule,
            space: &space,
            weighting: config.diffusion.weighting,
            out_dir: request.out_dir.clone(),
            device: device.clone(),
            modality: NAME.to_string(),
            modality_config: json(&config)?,
            data_stats: json(&stats)?,
            show_progress: request.show_progress,
            stop_at: request.stop_at,
        };
        let resume = trainer.resume_from(request.resume)?;
        let started = Instant::now();
        let validation = (!val.set.is_empty()).then_some(&val);
        let outcome =
            trainer.run::<4, _, _, ImageData>(model, &train, validation, resume.as_deref())?;
        let seconds = started.elapsed().as_secs_f64();

        let mut report = outcome.report(seconds);
        report
            .metrics
            .insert(0, ("parameters".into(), parameters as f64));

        // A preview grid from the averaged model (and metrics, for MNIST-shaped models).
        let n = config.sampling.preview_samples;
        if n > 0 && outcome.steps >= config.training.steps {
            let loaded = load_image(Some(&outcome.inference_checkpoint), &device)?;
            let indices: Vec<usize> = (0..n).collect();
            let sampler = SamplerConfig::new(
                SamplerKind::DpmSolver2M,
                Some(config.sampling.preview_steps),
            );
            let generated = generate(&loaded, &indices, &Generation::new(sampler, 0), &device)?;
            let shape = loaded.shape();
            let path = request.out_dir.join("samples.png");
            let nrow = default_nrow(n, num_classes, None);
            io::write_grid_png(
                &path,
                Batch {
                    pixels: &generated.pixels,
                    shape,
                },
                nrow,
            )?;
            report.files.push(path);
            if let Some(classifier) = bundled_classifier(&device)
                .filter(|c| c.shape() == shape && loaded.stats.dataset == "mnist")
            {
                let set = samples_set(&generated.pixels, shape);
                let scores = score(&classifier, &set, &generated.classes, &device);
                push_scores(
                    &mut report,
                    &scores,
                    &format!(
                        "preview (dpm++2m {} steps): ",
                        config.sampling.preview_steps
                    ),
                );
            }
        }
        Ok(report)
    }

    fn train_classifier(&self, request: &TrainRequest) -> Result<Report, ImageError> {
        let mut file: ClassifierFile = parse_toml(&request.config_text, &request.config_origin)?;
        if let Some(steps) = request.steps {
            file.training.steps = steps;
        }
        file.validate()?;
        if request.resume {
            return Err(ImageError::Data(
                "the classifier trains in one go; --resume is not supported".into(),
            ));
        }
        let base = request.config_origin.parent().unwrap_or(Path::new("."));
        let set = file
            .data
            .source
            .load(request.data_dir.as_deref(), base, None)?;
        let n_train = file.data.train_count(set.len());
        let (train_set, held) = (set.slice(0..n_train), set.slice(n_train..set.len()));
        if held.len() < 4 {
            return Err(ImageError::Data(
                "the classifier needs at least 4 held-out images (lower data.train_size)".into(),
            ));
        }
        let device = request.backend.device()?;
        let started = Instant::now();
        let (model, log) =
            classifier::train_classifier(&file, &train_set, &device, request.show_progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let accuracy = classifier::accuracy(&model, &held, &device);
        let (_, features) = classifier::predict_and_features(&model, &held, &device);
        let reference = Gaussian::fit(&features);
        let half = features.len() / 2;
        let floor = frechet_distance(
            &Gaussian::fit(&features[..half]),
            &Gaussian::fit(&features[half..2 * half]),
        );
        let stats = classifier::ClassifierStats {
            channels: set.channels,
            height: set.height,
            width: set.width,
            num_classes: train_set.num_classes(),
            dataset: file.data.source.name(),
            train_images: train_set.len(),
            held_out_images: held.len(),
            held_out_accuracy: accuracy,
            feature_dim: file.classifier.hidden,
            frechet_floor: floor,
            frechet_floor_n: half,
        };
        let ckpt = classifier::classifier_checkpoint(
            &file,
            &model,
            &stats,
            &reference,
            &features,
            file.training.steps,
        )?;
        let path = request.out_dir.join("model.safetensors");
        ckpt.save(&path)?;
        let log_path = request.out_dir.join("classifier-log.jsonl");
        let lines: Vec<String> = log
            .iter()
            .map(|l| serde_json::to_string(l).unwrap_or_default())
            .collect();
        diffgen_core::checkpoint::write_atomic(&log_path, |f| {
            std::io::Write::write_all(f, (lines.join("\n") + "\n").as_bytes())
        })?;
        let mut report = Report {
            files: vec![path, log_path],
            ..Report::default()
        };
        report
            .metrics
            .push(("parameters".into(), model.num_params() as f64));
        report.metrics.push(("seconds".into(), seconds));
        if let Some(l) = log.last() {
            report.metrics.push(("final train loss".into(), l.loss));
        }
        report.metrics.push((
            format!("held-out accuracy ({} images)", held.len()),
            accuracy,
        ));
        report.metrics.push((
            format!(
                "Fréchet floor: two held-out halves of {half} ({}-d features)",
                stats.feature_dim
            ),
            floor,
        ));
        Ok(report)
    }

    fn sample_impl(&self, request: &SampleRequest) -> Result<Report, ImageError> {
        let device = request.backend.device()?;
        let loaded = load_image(request.checkpoint.as_deref(), &device)?;
        let num_classes = loaded.stats.num_classes;
        let options = parse_options(&request.options, num_classes)?;
        if request.guidance.is_some() && num_classes == 0 {
            return Err(ImageError::Option {
                key: "guidance".into(),
                reason: "the model is unconditional".into(),
            });
        }
        let indices: Vec<usize> = request.shard.range(request.num_samples).collect();
        let sampler = SamplerConfig::new(request.sampler, request.steps);
        let total_steps = request
            .steps
            .unwrap_or(loaded.config.diffusion.schedule.build()?.steps());
        let every = options.gif_every.unwrap_or(if request.trajectory {
            1
        } else {
            (total_steps / 20).max(1)
        });
        let how = Generation {
            sampler,
            seed: request.seed,
            class: options.class,
            guidance: request.guidance,
            batch_size: request.batch_size,
            frames_every: options.gif.then_some(every),
        };
        let started = Instant::now();
        let generated = generate(&loaded, &indices, &how, &device)?;
        let seconds = started.elapsed().as_secs_f64();
        let shape = loaded.shape();

        let stem = if request.shard.count == 1 {
            "samples".to_string()
        } else {
            format!(
                "samples.shard-{}-of-{}",
                request.shard.index, request.shard.count
            )
        };
        let nrow = options
            .nrow
            .unwrap_or_else(|| default_nrow(indices.len(), num_classes, options.class));
        let batch = Batch {
            pixels: &generated.pixels,
            shape,
        };
        let mut report = Report::default();
        let png = request.out_dir.join(format!("{stem}.png"));
        io::write_grid_png(&png, batch, nrow)?;
        report.files.push(png);
        if options.gif && !generated.frames.is_empty() {
            let gif_stem = if request.shard.count == 1 {
                "denoising".to_string()
            } else {
                format!(
                    "denoising.shard-{}-of-{}",
                    request.shard.index, request.shard.count
                )
            };
            let path = request.out_dir.join(format!("{gif_stem}.gif"));
            io::write_gif(&path, &frame_rasters(&generated.frames, shape, nrow), 10)?;
            report.files.push(path);
        }
        if options.singles {
            let dir = request.out_dir.join(format!("{stem}-singles"));
            let files = io::write_singles(&dir, batch, &indices)?;
            report.notes.push(format!(
                "wrote {} single PNGs under {}",
                files.len(),
                dir.display()
            ));
        }
        report
            .metrics
            .push(("samples".into(), indices.len() as f64));
        report
            .metrics
            .push(("images/s".into(), indices.len() as f64 / seconds.max(1e-9)));

        let model_name = request
            .checkpoint
            .as_ref()
            .map_or("bundled".to_string(), |p| p.display().to_string());
        let mut summary = SampleSummary {
            model: model_name.clone(),
            sampler: request.sampler.to_string(),
            steps: request.steps,
            guidance: request.guidance,
            seed: request.seed,
            shape,
            nrow,
            indices: indices.clone(),
            classes: generated.classes.clone(),
            gif_steps: generated.frames.iter().map(|(s, _)| *s).collect(),
            predicted: None,
            metrics: BTreeMap::new(),
        };
        if request.evaluate {
            match bundled_classifier(&device).filter(|c| c.shape() == shape) {
                Some(classifier) => {
                    let set = samples_set(&generated.pixels, shape);
                    let scores = score(&classifier, &set, &generated.classes, &device);
                    push_scores(&mut report, &scores, "");
                    summary.predicted = Some(scores.predicted.clone());
                    if let Some(s) = scores.share_requested {
                        summary.metrics.insert("share_requested".into(), s);
                    }
                    if let Some(fd) = scores.frechet {
                        summary.metrics.insert("frechet".into(), fd);
                        summary
                            .metrics
                            .insert("frechet_floor".into(), scores.frechet_floor);
                        summary
                            .metrics
                            .insert("frechet_floor_n".into(), scores.frechet_floor_n as f64);
                    }
                }
                None => report.notes.push(
                    "no metrics: the bundled classifier scores 28×28 grey images only".into(),
                ),
            }
        }
        let summary_path = request.out_dir.join(format!("{stem}.json"));
        let text =
            serde_json::to_string_pretty(&summary).map_err(|e| CoreError::Other(e.to_string()))?;
        diffgen_core::checkpoint::write_atomic(&summary_path, |f| {
            std::io::Write::write_all(f, text.as_bytes())
        })?;
        report.files.push(summary_path);
        report.notes.push(format!(
            "model: {model_name} (step {}, {} parameters), sampler {} with {} steps{}{}",
            loaded.checkpoint.meta.step,
            loaded.model.num_params(),
            request.sampler,
            request.steps.map_or("all".to_string(), |s| s.to_string()),
            match (num_classes, options.class) {
                (0, _) => String::new(),
                (_, Some(c)) => format!(", class {c}"),
                (k, None) => format!(", classes 0–{} cycled", k - 1),
            },
            request
                .guidance
                .map_or(String::new(), |g| format!(", guidance {g}")),
        ));
        Ok(report)
    }

    fn eval_impl(&self, files: &[PathBuf]) -> Result<Report, ImageError> {
        let device = Device::flex();
        let classifier = bundled_classifier(&device).ok_or_else(|| {
            ImageError::Data("this build carries no bundled classifier; eval needs one".into())
        })?;
        let shape = classifier.shape();
        let mut report = Report::default();
        report.notes.push(format!(
            "scoring {}×{} grey images (singles, or grids with a {}-pixel border) with the bundled classifier (held-out accuracy {:.4})",
            shape[1], shape[2], io::BORDER, classifier.stats.held_out_accuracy
        ));
        for file in files {
            let set = io::read_samples(file, shape)?;
            // Classes from the summary `sample` wrote beside the grid, when present.
            let summary_path = file.with_extension("json");
            let requested: Vec<Option<usize>> = std::fs::read_to_string(&summary_path)
                .ok()
                .and_then(|t| serde_json::from_str::<SampleSummary>(&t).ok())
                .map(|s| s.classes)
                .filter(|c| c.len() == set.len())
                .unwrap_or_else(|| vec![None; set.len()]);
            let scores = score(&classifier, &set, &requested, &device);
            report
                .metrics
                .push((format!("{}: images", file.display()), set.len() as f64));
            push_scores(&mut report, &scores, &format!("{}: ", file.display()));
            report.notes.push(format!(
                "{}: predicted class counts {:?}",
                file.display(),
                scores.histogram
            ));
        }
        Ok(report)
    }

    fn bench_impl(&self, request: &BenchRequest) -> Result<Report, ImageError> {
        let device = request.backend.device()?;
        let config: ImageConfig = parse_toml(COURSE_CONFIG, Path::new("configs/image-mnist.toml"))?;
        let schedule = config.diffusion.schedule.build()?;
        let space = PixelSpace::new(config.sampling.clamp_x0);
        let [c, h, w] = config.shape();
        let bs = request.batch_size.max(1);
        let ad = device.clone().autodiff();
        device.seed(0);
        let mut model = config
            .model
            .init(config.diffusion.objective, 10, &ad)
            .train();
        let parameters = model.num_params();
        let mut optim = AdamWConfig::new()
            .with_weight_decay(0.0)
            .with_epsilon(1e-8)
            .init();
        let mut rng = SeededRng::new(0);
        let labels: Vec<i64> = (0..bs as i64).map(|i| i % 11).collect();
        let mut step = |model: UNet, rng: &mut SeededRng| -> UNet {
            let x0 = Tensor::<4>::random(
                [bs, c, h, w],
                burn::tensor::Distribution::Uniform(-1.0, 1.0),
                &ad,
            );
            let context = ImageContext {
                labels: Some(Tensor::<1, Int>::from_data(
                    TensorData::new(labels.clone(), [bs]),
                    &ad,
                )),
            };
            let t: Vec<usize> = (0..bs)
                .map(|_| rng.int_inclusive(1, schedule.steps()))
                .collect();
            let loss = denoising_loss(
                &model,
                &space,
                &schedule,
                config.diffusion.weighting,
                x0,
                &context,
                &t,
                rng,
            )
            .mean();
            let _ = scalar(loss.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            optim.step(2e-4, model, grads)
        };
        // One untimed step initialises the lazy parameters and the optimizer state.
        model = step(model, &mut rng);
        let steps = request.train_steps.max(1);
        let started = Instant::now();
        for _ in 0..steps {
            model = step(model, &mut rng);
        }
        let train_seconds = started.elapsed().as_secs_f64();

        // Sampling speed of the same UNet (random weights: the cost does not depend on
        // them): a few DDPM network calls on a batch of `num_samples`, extrapolated to
        // `sample_steps` calls per image.
        let plain = model.valid().to_device(&device);
        let loaded = LoadedImage {
            model: plain,
            config: config.clone(),
            stats: ImageStats {
                num_classes: 10,
                dataset: "bench".into(),
                train_images: 0,
                held_out_images: 0,
            },
            checkpoint: Checkpoint::new(diffgen_core::checkpoint::CheckpointMeta {
                format: diffgen_core::checkpoint::FORMAT_VERSION,
                diffgen_version: diffgen_core::VERSION.into(),
                modality: NAME.into(),
                config: serde_json::Value::Null,
                schedule: config.diffusion.schedule.clone(),
                data: serde_json::Value::Null,
                step: 0,
                resume: None,
            }),
        };
        let timed = request.sample_steps.clamp(1, 5);
        let indices: Vec<usize> = (0..request.num_samples.max(1)).collect();
        let mut how = Generation::new(SamplerConfig::new(SamplerKind::Ddpm, Some(timed)), 0);
        how.batch_size = indices.len();
        let started = Instant::now();
        generate(&loaded, &indices, &how, &device)?;
        let per_call = started.elapsed().as_secs_f64() / timed as f64;
        let images_per_s = indices.len() as f64 / (per_call * request.sample_steps.max(1) as f64);

        let mut report = Report::default();
        report.notes.push(format!(
            "course UNet {:?}, {} parameters, {c}×{h}×{w}, class-conditional",
            config.model.block_out_channels, parameters
        ));
        report.metrics.push((
            format!("train steps/s (batch {bs}, forward + backward + Adam, {steps} timed)"),
            steps as f64 / train_seconds,
        ));
        report.metrics.push((
            format!(
                "images/s ({} DDPM steps, batch {}; {timed} network calls timed)",
                request.sample_steps,
                indices.len()
            ),
            images_per_s,
        ));
        Ok(report)
    }
}

/// Flat sample pixels as an [`ImageSet`] (unlabelled).
pub fn samples_set(pixels: &[f32], shape: [usize; 3]) -> ImageSet {
    let per: usize = shape.iter().product();
    ImageSet {
        channels: shape[0],
        height: shape[1],
        width: shape[2],
        pixels: pixels.to_vec(),
        labels: vec![None; pixels.len() / per.max(1)],
    }
}

impl Modality for ImageModality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "images (MNIST IDX, digits CSV, PNG/JPEG folders); the course's UNet DDPM with class guidance; PNG grid + GIF; classifier accuracy and Fréchet distance"
    }

    fn writers(&self) -> &'static [&'static str] {
        &["png grid", "gif", "single png", "json summary"]
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
        (!BUNDLED.is_empty()).then_some(
            "MNIST 28×28, class-conditional (placeholder trained on CPU; see the crate README)",
        )
    }
}
