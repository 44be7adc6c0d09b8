//! The image modality: the course's DDPM on pixels.
//!
//! Pixels scaled to [−1, 1] diffuse in a Euclidean space ([`space::PixelSpace`], optionally
//! clamping x̂₀); a UNet after diffusers' `UNet2DModel` ([`unet`]) predicts the noise, with an
//! optional class embedding and label dropout for classifier-free guidance. Data: MNIST IDX,
//! scikit-learn's digits CSV, folders of PNG/JPEG ([`data`]). Outputs: a PNG grid, single
//! PNGs, and a GIF of the denoising trajectory ([`io`]). Metrics: a small CNN classifier
//! trained inside the project labels samples and gives penultimate-layer features for a
//! Fréchet distance ([`classifier`], [`metrics`]); its verdict on every image goes to
//! `samples.verdicts.jsonl`, which the run's page shows beside each image ([`page`]).

#![warn(missing_docs)]

pub mod classifier;
pub mod config;
pub mod data;
pub mod io;
pub mod metrics;
pub mod page;
pub mod space;
pub mod unet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::checkpoint::Checkpoint;
use diffgen_core::config::parse_toml;
use diffgen_core::modality::{BenchRequest, Report, SampleRequest, TrainRequest};
pub use diffgen_core::pipeline::Generation;
use diffgen_core::pipeline::{
    self, BenchCase, DataRequest, EvalContext, FramePolicy, Generated, Loaded, ModalityInfo,
    OptionKind, OptionSpec, OptionValues, Pipeline, Planned, Registered, RunOutput, TrainSets,
};
use diffgen_core::rng::SeededRng;
use diffgen_core::sampler::{SamplerConfig, SamplerKind};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use classifier::{LoadedClassifier, Predictions};
pub use config::{ClassifierFile, ImageConfig, Task, TaskProbe};
use data::{ImageData, ImageSet};
use io::Batch;
use metrics::{frechet_distance, Gaussian};
use space::PixelSpace;
use unet::{ImageContext, UNet};

/// The registration: one line in the CLI's registry names it.
pub static MODALITY: Registered<ImagePipeline, 4> = Registered(ImagePipeline);

/// The modality's name: `--modality image`, and the `modality` its checkpoints record.
pub const NAME: &str = "image";

/// The bundled diffusion model (see the crate README for what it was trained on). The
/// loader reads its size from the checkpoint's metadata, so any UNet config can replace it.
static BUNDLED: &[u8] = include_bytes!("../weights/image-mnist.safetensors");
/// The bundled MNIST classifier with the held-out feature statistics.
static BUNDLED_CLASSIFIER: &[u8] = include_bytes!("../weights/mnist-classifier.safetensors");

/// The course config (for `bench`).
pub const COURSE_CONFIG: &str = include_str!("../../../configs/image-mnist.toml");

static INFO: ModalityInfo = ModalityInfo {
    name: NAME,
    former_names: &[],
    summary: "images (MNIST, sklearn digits, PNG/JPEG folders) with the course's DDPM UNet; PNG grid, singles, GIF; classifier share + Fréchet distance",
    writers: &["png grid", "png singles", "gif trajectory", "json summary"],
    noun: "images",
    bundled: BUNDLED,
    bundled_summary: "class-conditional UNet trained on MNIST on CPU (configs/image-mnist-cpu.toml)",
    variants: &[],
    default_config: (COURSE_CONFIG, "configs/image-mnist.toml"),
    options: &[
        OptionSpec {
            name: "class",
            kind: OptionKind::Count { min: 0, max: 1 << 20 },
            default: "sample i gets class i mod classes (conditional models)",
            help: "condition every image on this class",
        },
        OptionSpec {
            name: "singles",
            kind: OptionKind::Flag,
            default: "false",
            help: "also write one PNG per image under samples/",
        },
        OptionSpec {
            name: "gif",
            kind: OptionKind::Flag,
            default: "true",
            help: "write the denoising GIF",
        },
        OptionSpec {
            name: "gif_every",
            kind: OptionKind::Count { min: 1, max: 1 << 20 },
            default: "every step with --trajectory, else a twentieth of the steps",
            help: "steps between GIF frames",
        },
        OptionSpec {
            name: "nrow",
            kind: OptionKind::Count { min: 1, max: 1 << 16 },
            default: "the class count when classes are cycled, else about √n",
            help: "images per grid row",
        },
    ],
};

/// The image modality's errors; messages name the file (and line) where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading or writing the named file or folder failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A file that cannot be read or written in its format: a damaged gzip stream, a bad IDX
    /// header, an image that does not decode or fits no grid of the model's size, a failed
    /// PNG or GIF encoding, ….
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad line of a text file.
    #[error("{path}, line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line, 1-based.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Data that cannot serve the request: no data root, unlabelled images for a conditional
    /// model, too few held-out images, ….
    #[error("{0}")]
    Data(String),
    /// An error of the core: settings, checkpoints, training.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// What an image checkpoint stores besides the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageStats {
    /// Classes the model is conditioned on (0: unconditional).
    pub num_classes: usize,
    /// The data source's name ([`data::DataSource::name`]).
    pub dataset: String,
    /// Images it was trained on.
    pub train_images: usize,
    /// Images held out for the validation loss.
    pub held_out_images: usize,
}

/// The image modality.
pub struct ImagePipeline;

/// An image diffusion model ready to sample.
pub type LoadedImage = Loaded<ImagePipeline, 4>;

/// The `[C, H, W]` of a loaded model's images.
pub fn shape_of(loaded: &LoadedImage) -> [usize; 3] {
    loaded.config.shape()
}

/// One generated image: pixels `[C, H, W]` in [−1, 1] and the class it was conditioned on.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSample {
    /// Flat `[C, H, W]` pixels.
    pub pixels: Vec<f32>,
    /// The condition (None: unconditional).
    pub class: Option<usize>,
}

/// The image modality's typed sampling options.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    /// Every image's class (None: cycled over the classes).
    pub class: Option<usize>,
    /// One PNG per image too.
    pub singles: bool,
    /// Write the denoising GIF.
    pub gif: bool,
    /// Steps between GIF frames.
    pub gif_every: Option<usize>,
    /// Images per grid row.
    pub nrow: Option<usize>,
}

diffgen_core::modality_config!(ImageConfig);

/// Loads an image diffusion checkpoint (file, or the bundled bytes when `path` is None).
pub fn load_image(path: Option<&Path>, device: &Device) -> Result<LoadedImage, ImageError> {
    pipeline::load(&ImagePipeline, path, device)
}

/// Draws the global samples `indices`; sample `i` uses noise stream `i` of the seed, so the
/// result does not depend on the batch size or the shard.
pub fn generate(
    loaded: &LoadedImage,
    options: &ImageOptions,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated<ImageSample>, ImageError> {
    pipeline::generate(&ImagePipeline, loaded, options, indices, how, device)
}

/// All pixels of `images`, flat `[N, C, H, W]`.
pub fn flat_pixels<'a>(images: impl IntoIterator<Item = &'a ImageSample>) -> Vec<f32> {
    images
        .into_iter()
        .flat_map(|s| s.pixels.iter().copied())
        .collect()
}

/// The bundled MNIST classifier, if this build carries one.
pub fn bundled_classifier(device: &Device) -> Option<LoadedClassifier> {
    if BUNDLED_CLASSIFIER.is_empty() {
        return None;
    }
    classifier::load_classifier(None, BUNDLED_CLASSIFIER, device).ok()
}

/// The class sample `index` is conditioned on.
pub fn class_of(index: usize, class: Option<usize>, num_classes: usize) -> Option<usize> {
    (num_classes > 0).then(|| class.unwrap_or(index % num_classes))
}

/// Classifier scores of a set of samples.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// Images scored.
    pub samples: usize,
    /// The classifier's label of each image.
    pub predicted: Vec<usize>,
    /// The classifier's softmax probability of each predicted class.
    pub confidence: Vec<f64>,
    /// Share labelled as the class each sample was conditioned on.
    pub share_requested: Option<f64>,
    /// Fréchet distance of the samples' features to the held-out reference.
    pub frechet: Option<f64>,
    /// What held-out real images score against the same reference at this sample size
    /// ([`LoadedClassifier::floor_at`]): the value to read `frechet` against.
    pub frechet_floor: f64,
    /// Held-out images per set behind `frechet_floor`: the sample count, capped at half the
    /// held-out set.
    pub frechet_floor_n: usize,
    /// Size of the held-out half the floor compares against.
    pub reference_half: usize,
    /// Width of the classifier features the Fréchet distances use.
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
    let Predictions {
        labels: predicted,
        confidence,
        features,
    } = classifier.predict(set, device);
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
        confidence,
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
        report.share(format!("{label}share labelled as the requested class"), s);
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

/// Images per grid row: the class count when classes are cycled (one column per class),
/// else about √n.
fn default_nrow(n: usize, num_classes: usize, class: Option<usize>) -> usize {
    if num_classes > 0 && class.is_none() {
        num_classes
    } else {
        ((n as f64).sqrt().ceil() as usize).max(1)
    }
}

/// The summary written beside a grid (`<stem>.json`), which `eval` reads for the classes.
#[derive(Debug, Serialize, Deserialize)]
pub struct SampleSummary {
    /// The checkpoint's path, or `bundled`.
    pub model: String,
    /// The sampler's name (DDPM unless another was asked for).
    pub sampler: String,
    /// Sampler steps asked for (None: the sampler's default).
    pub steps: Option<usize>,
    /// Classifier-free guidance scale asked for (None: no guidance).
    pub guidance: Option<f64>,
    /// The run's seed.
    pub seed: u64,
    /// `[C, H, W]` of each image.
    pub shape: [usize; 3],
    /// Images per grid row.
    pub nrow: usize,
    /// The global sample index of each image, in grid order.
    pub indices: Vec<usize>,
    /// The class each image was conditioned on (None: unconditional).
    pub classes: Vec<Option<usize>>,
    /// The sampler step (1-based) of each GIF frame; empty without a GIF.
    #[serde(default)]
    pub gif_steps: Vec<usize>,
    /// The classifier's label of each image, when the run scored them.
    #[serde(default)]
    pub predicted: Option<Vec<usize>>,
    /// The run's scores by name (`share_requested`, `frechet`, `frechet_floor`,
    /// `frechet_floor_n`); empty when unscored.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

impl Pipeline<4> for ImagePipeline {
    type Config = ImageConfig;
    type Stats = ImageStats;
    type Space = PixelSpace;
    type Model = UNet;
    type Data = ImageData;
    type Options = ImageOptions;
    type Condition = Option<usize>;
    type Sample = ImageSample;
    type Error = ImageError;

    fn info(&self) -> &'static ModalityInfo {
        &INFO
    }

    fn init_model(&self, config: &ImageConfig, stats: &ImageStats, device: &Device) -> UNet {
        config
            .model
            .init(config.diffusion.objective, stats.num_classes, device)
    }

    fn space(&self, config: &ImageConfig, _: &ImageStats) -> PixelSpace {
        PixelSpace::new(config.sampling.clamp_x0)
    }

    fn check_checkpoint(&self, checkpoint: &Checkpoint, origin: &Path) -> Result<(), ImageError> {
        if classifier::is_classifier(checkpoint) {
            return Err(CoreError::checkpoint(
                origin,
                "holds the image classifier, not a diffusion model",
            )
            .into());
        }
        Ok(())
    }

    fn train_other(&self, request: &TrainRequest) -> Option<Result<Report, ImageError>> {
        match parse_toml::<TaskProbe>(&request.config_text, &request.config_origin) {
            Err(e) => Some(Err(e.into())),
            Ok(probe) => match probe.task {
                Task::Diffusion => None,
                Task::Classifier => Some(train_classifier(request)),
            },
        }
    }

    fn load_data(
        &self,
        config: &ImageConfig,
        request: &DataRequest<'_>,
    ) -> Result<TrainSets<ImageData, ImageStats>, ImageError> {
        let base = request.config_origin.parent().unwrap_or(Path::new("."));
        let set = config
            .data
            .source
            .load(request.data_dir, base, Some(config.shape()))?;
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
        let validation = (!val_set.is_empty()).then_some(ImageData {
            set: val_set,
            num_classes,
            label_dropout: 0.0,
        });
        let train = ImageData {
            set: train_set,
            num_classes,
            label_dropout: config.data.label_dropout,
        };
        Ok(TrainSets {
            train,
            validation,
            stats,
            summary: Vec::new(),
            notes: Vec::new(),
        })
    }

    /// The parameter count, a preview grid from the averaged model and, for MNIST-shaped
    /// models, the classifier's scores of it.
    fn after_training(
        &self,
        loaded: &LoadedImage,
        _data: &DataRequest<'_>,
        out_dir: &Path,
        device: &Device,
        report: &mut Report,
    ) -> Result<(), ImageError> {
        report
            .metrics
            .insert(0, ("parameters".into(), loaded.model.num_params() as f64));
        let sampling = &loaded.config.sampling;
        let n = sampling.preview_samples;
        if n == 0 {
            return Ok(());
        }
        let indices: Vec<usize> = (0..n).collect();
        let sampler =
            SamplerConfig::new(SamplerKind::dpm_solver_2m(), Some(sampling.preview_steps));
        let how = Generation::new(sampler, 0);
        let generated = generate(loaded, &ImageOptions::default(), &indices, &how, device)?;
        let shape = shape_of(loaded);
        let pixels = flat_pixels(&generated.samples);
        let path = out_dir.join("samples.png");
        let nrow = default_nrow(n, loaded.stats.num_classes, None);
        io::write_grid_png(
            &path,
            Batch {
                pixels: &pixels,
                shape,
            },
            nrow,
        )?;
        report.files.push(path);
        if let Some(classifier) = bundled_classifier(device)
            .filter(|c| c.shape() == shape && loaded.stats.dataset == "mnist")
        {
            let classes: Vec<Option<usize>> = generated.samples.iter().map(|s| s.class).collect();
            let scores = score(&classifier, &samples_set(&pixels, shape), &classes, device);
            let label = format!("preview (dpm++2m {} steps): ", sampling.preview_steps);
            push_scores(report, &scores, &label);
        }
        Ok(())
    }

    fn options(
        &self,
        loaded: &LoadedImage,
        values: &OptionValues,
        request: &SampleRequest,
        _warnings: &mut Vec<String>,
    ) -> Result<ImageOptions, ImageError> {
        let num_classes = loaded.stats.num_classes;
        let bad = |key: &str, reason: String| CoreError::setting(key, reason);
        let class = values.count("class");
        if let Some(c) = class {
            if num_classes == 0 {
                return Err(bad("class", "the model is unconditional".into()).into());
            }
            if c >= num_classes {
                let reason = format!("the model knows {num_classes} classes (0..{num_classes})");
                return Err(bad("class", reason).into());
            }
        }
        if request.guidance.is_some() && num_classes == 0 {
            return Err(bad("guidance", "the model is unconditional".into()).into());
        }
        Ok(ImageOptions {
            class,
            singles: values.flag("singles").unwrap_or(false),
            gif: values.flag("gif").unwrap_or(true),
            gif_every: values.count("gif_every"),
            nrow: values.count("nrow"),
        })
    }

    fn plan(
        &self,
        loaded: &LoadedImage,
        options: &ImageOptions,
        index: usize,
        _: u64,
    ) -> Planned<Option<usize>> {
        Planned {
            index,
            size: shape_of(loaded)[0],
            condition: class_of(index, options.class, loaded.stats.num_classes),
        }
    }

    fn batch(
        &self,
        loaded: &LoadedImage,
        items: &[Planned<Option<usize>>],
        device: &Device,
    ) -> Result<([usize; 4], ImageContext), ImageError> {
        let n = items.len();
        let [c, h, w] = shape_of(loaded);
        let labels = (loaded.stats.num_classes > 0).then(|| {
            let ids: Vec<i64> = items
                .iter()
                .map(|p| p.condition.unwrap_or(0) as i64)
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), device)
        });
        Ok(([n, c, h, w], ImageContext { labels }))
    }

    fn decode(
        &self,
        loaded: &LoadedImage,
        state: Tensor<4>,
        items: &[Planned<Option<usize>>],
    ) -> Vec<ImageSample> {
        let per: usize = shape_of(loaded).iter().product();
        let values = to_vec(state);
        items
            .iter()
            .zip(values.chunks_exact(per))
            .map(|(p, pixels)| ImageSample {
                pixels: pixels.to_vec(),
                class: p.condition,
            })
            .collect()
    }

    /// GIF frames: the first, every `gif_every`-th and the last step.
    fn frames(
        &self,
        options: &ImageOptions,
        trajectory: bool,
        total: usize,
    ) -> Option<FramePolicy> {
        let every = options
            .gif_every
            .unwrap_or(if trajectory { 1 } else { (total / 20).max(1) });
        options.gif.then_some(FramePolicy {
            every,
            include_first: true,
        })
    }

    fn write(
        &self,
        loaded: &LoadedImage,
        options: &ImageOptions,
        generated: &Generated<ImageSample>,
        request: &SampleRequest,
        out: &mut RunOutput,
    ) -> Result<(), ImageError> {
        let shape = shape_of(loaded);
        let n = generated.samples.len();
        let nrow = grid_rows(loaded, options, n);
        let pixels = flat_pixels(&generated.samples);
        let batch = Batch {
            pixels: &pixels,
            shape,
        };
        io::write_grid_png(&out.collection("png"), batch, nrow)?;
        if options.gif && !generated.frames.is_empty() {
            let rasters: Vec<io::Raster> = generated
                .frames
                .iter()
                .map(|f| {
                    io::grid(
                        Batch {
                            pixels: &flat_pixels(&f.samples),
                            shape,
                        },
                        nrow,
                    )
                })
                .collect();
            io::write_gif(&out.collection("denoising.gif"), &rasters, 10)?;
        }
        if options.singles {
            let dir = out.dir().join("samples");
            std::fs::create_dir_all(&dir).map_err(|e| ImageError::Io(dir.clone(), e))?;
            for file in io::write_singles(&dir, batch, &generated.indices)? {
                out.record(file);
            }
        }
        write_summary(&summary_of(loaded, options, generated, request), out)
    }

    fn evaluate(
        &self,
        loaded: &LoadedImage,
        options: &ImageOptions,
        generated: &Generated<ImageSample>,
        context: EvalContext<'_>,
        out: &mut RunOutput,
        report: &mut Report,
    ) -> Result<(), ImageError> {
        let shape = shape_of(loaded);
        let device = context.request.backend.device()?;
        let Some(classifier) = bundled_classifier(&device).filter(|c| c.shape() == shape) else {
            report
                .notes
                .push("no metrics: the bundled classifier scores 28×28 grey images only".into());
            return Ok(());
        };
        let set = samples_set(&flat_pixels(&generated.samples), shape);
        let classes: Vec<Option<usize>> = generated.samples.iter().map(|s| s.class).collect();
        let scores = score(&classifier, &set, &classes, &device);
        push_scores(report, &scores, "");
        let verdicts: Vec<page::Verdict> = generated
            .indices
            .iter()
            .zip(&classes)
            .zip(scores.predicted.iter().zip(&scores.confidence))
            .map(
                |((&index, &requested), (&predicted, &confidence))| page::Verdict {
                    index,
                    requested,
                    predicted,
                    confidence,
                },
            )
            .collect();
        page::write_verdicts(&out.collection(page::VERDICTS_SUFFIX), &verdicts)?;
        let mut summary = summary_of(loaded, options, generated, context.request);
        summary.predicted = Some(scores.predicted.clone());
        if let Some(s) = scores.share_requested {
            summary.metrics.insert("share_requested".into(), s);
        }
        if let Some(fd) = scores.frechet {
            summary.metrics.insert("frechet".into(), fd);
            summary
                .metrics
                .insert("frechet_floor".into(), scores.frechet_floor);
            let n = scores.frechet_floor_n as f64;
            summary.metrics.insert("frechet_floor_n".into(), n);
        }
        write_summary(&summary, out)
    }

    fn describe(&self, loaded: &LoadedImage, options: &ImageOptions) -> String {
        let classes = match (loaded.stats.num_classes, options.class) {
            (0, _) => String::new(),
            (_, Some(c)) => format!(", class {c}"),
            (k, None) => format!(", classes 0–{} cycled", k - 1),
        };
        format!(", {} parameters{classes}", loaded.model.num_params())
    }

    /// Every image with the class asked for and the bundled classifier's verdict.
    fn page_sections(
        &self,
        run: &diffgen_core::page::RunDir,
    ) -> Result<Vec<diffgen_core::page::PageSection>, ImageError> {
        page::sections(run)
    }

    fn eval_files(
        &self,
        files: &[PathBuf],
        _data_dir: Option<&Path>,
    ) -> Result<Report, ImageError> {
        eval_files_impl(files)
    }

    /// The course UNet (6.8 M parameters, class-conditional) on random images: speed does
    /// not depend on the pixels.
    fn bench_cases(&self, request: &BenchRequest) -> Result<Vec<BenchCase<Self, 4>>, ImageError> {
        let config: ImageConfig = parse_toml(COURSE_CONFIG, Path::new(INFO.default_config.1))?;
        let [c, h, w] = config.shape();
        let n = 4 * request.batch_size.max(1);
        let mut rng = SeededRng::new(0);
        let pixels = (0..n * c * h * w)
            .map(|_| (rng.uniform() * 2.0 - 1.0) as f32)
            .collect();
        let set = ImageSet {
            channels: c,
            height: h,
            width: w,
            pixels,
            labels: (0..n).map(|i| Some(i % 10)).collect(),
        };
        let stats = ImageStats {
            num_classes: 10,
            dataset: "random".into(),
            train_images: n,
            held_out_images: 0,
        };
        let label = format!(
            "course UNet {:?}, {c}×{h}×{w}, class-conditional",
            config.model.block_out_channels
        );
        let data = ImageData {
            set,
            num_classes: 10,
            label_dropout: config.data.label_dropout,
        };
        Ok(vec![BenchCase {
            label,
            config,
            data,
            stats,
        }])
    }

    /// The bundled UNet is smaller than the course's, which the PyTorch reference runs.
    fn bench_samples_bundled(&self) -> bool {
        false
    }
}

/// Images per grid row: the option, else [`default_nrow`].
fn grid_rows(loaded: &LoadedImage, options: &ImageOptions, n: usize) -> usize {
    options
        .nrow
        .unwrap_or_else(|| default_nrow(n, loaded.stats.num_classes, options.class))
}

/// The summary written beside a grid, without scores.
fn summary_of(
    loaded: &LoadedImage,
    options: &ImageOptions,
    generated: &Generated<ImageSample>,
    request: &SampleRequest,
) -> SampleSummary {
    let model = match &request.checkpoint {
        Some(p) => p.display().to_string(),
        None => "bundled".to_string(),
    };
    SampleSummary {
        model,
        // The image models are all diffusion models, whose default is DDPM.
        sampler: request
            .sampler
            .clone()
            .unwrap_or_else(diffgen_core::SamplerKind::ddpm)
            .to_string(),
        steps: request.steps,
        guidance: request.guidance,
        seed: request.seed,
        shape: shape_of(loaded),
        nrow: grid_rows(loaded, options, generated.samples.len()),
        indices: generated.indices.clone(),
        classes: generated.samples.iter().map(|s| s.class).collect(),
        gif_steps: match options.gif {
            true => generated.frames.iter().map(|f| f.step).collect(),
            false => Vec::new(),
        },
        predicted: None,
        metrics: BTreeMap::new(),
    }
}

/// `samples.json`, which `eval` reads for the requested classes.
fn write_summary(summary: &SampleSummary, out: &mut RunOutput) -> Result<(), ImageError> {
    let text = serde_json::to_string_pretty(summary)
        .map_err(|e| CoreError::Other(format!("serialising the summary: {e}")))?;
    diffgen_core::checkpoint::write_atomic(&out.collection("json"), |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })?;
    Ok(())
}

/// Trains the MNIST classifier the metrics use (`task = "classifier"`).
fn train_classifier(request: &TrainRequest) -> Result<Report, ImageError> {
    if request.init_from.is_some() || request.resume {
        return Err(ImageError::Data(
            "the classifier trains in one go: --init and --resume are for diffusion models".into(),
        ));
    }
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

/// `diffgen eval` of PNG grids or singles with the bundled classifier.
fn eval_files_impl(files: &[PathBuf]) -> Result<Report, ImageError> {
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
