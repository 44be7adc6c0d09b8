//! The toy modality: 2-D point clouds.
//!
//! The smallest complete modality — a plain Euclidean space, an MLP denoiser with a time
//! embedding (and optional labels for classifier-free guidance), CSV and PNG writers, an MMD
//! metric and a bundled model — and the worked example of `docs/adding-a-modality.md`.
//! Everything here is what only the toy knows; the core's [`Pipeline`] does the rest.

#![warn(missing_docs)]

pub mod config;
pub mod data;
pub mod io;
pub mod metrics;
pub mod model;
mod reference;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::modality::{BenchRequest, Report, SampleRequest};
use diffgen_core::pipeline::{
    self, BenchCase, BundledModel, DataRequest, EvalContext, FramePolicy, Generated, Loaded,
    ModalityInfo, OptionKind, OptionSpec, OptionValues, Pipeline, Planned, Registered, RunOutput,
    TrainSets,
};
use diffgen_core::rng::SeededRng;
use diffgen_core::sampler::{SamplerConfig, SamplerKind};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::{CoreError, EuclideanSpace};
use serde::{Deserialize, Serialize};

pub use config::ToyConfig;
use data::{DataSource, PointSet, ToyData};
pub use diffgen_core::pipeline::Generation;
use diffgen_core::process::StateLayout;
use io::ToySample;
use model::{ToyContext, ToyDenoiser, ToyShape};
use reference::{
    label_agreement, mmd_to, points_of, reference_points, reference_set, REFERENCE_POINTS,
};

/// The registration: one line in the CLI's registry names it.
pub static MODALITY: Registered<ToyPipeline, 2> = Registered(ToyPipeline);

/// The bundled model: trained by `diffgen train --modality toy --config configs/toy-ring.toml`.
static BUNDLED: &[u8] = include_bytes!("../weights/toy-ring.safetensors");

/// The joint model: trained by `diffgen train --modality toy --config configs/toy-ring-joint.toml`.
static BUNDLED_JOINT: &[u8] = include_bytes!("../weights/toy-ring-joint.safetensors");

/// The config the bundled model was trained with.
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/toy-ring.toml");

/// The joint toy: the point and its component label generated together.
pub const JOINT_CONFIG: &str = include_str!("../../../configs/toy-ring-joint.toml");
const JOINT_CONFIG_PATH: &str = "configs/toy-ring-joint.toml";

static INFO: ModalityInfo = ModalityInfo {
    name: "toy",
    former_names: &[],
    summary:
        "2-D point clouds (ring of 8 Gaussians, two moons, your CSV); MLP denoiser; CSV + PNG; MMD",
    writers: &["csv", "png", "trajectory csv"],
    noun: "samples",
    bundled: BUNDLED,
    bundled_summary: "ring of 8 Gaussians, conditional on the component (configs/toy-ring.toml)",
    variants: &[BundledModel {
        name: "joint",
        bytes: BUNDLED_JOINT,
        summary: "point and component label generated together: flow matching + categorical (configs/toy-ring-joint.toml)",
    }],
    default_config: (DEFAULT_CONFIG, "configs/toy-ring.toml"),
    options: &[OptionSpec {
        name: "class",
        kind: OptionKind::Count {
            min: 0,
            max: 1 << 20,
        },
        default: "none (unconditional)",
        help: "condition every sample on this component (conditional models)",
    }],
};

/// Errors of the toy modality.
#[derive(Debug, thiserror::Error)]
pub enum ToyError {
    /// A file could not be read.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A file's line could not be parsed.
    #[error("{path}, line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A core error.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// What a toy checkpoint stores besides the config: the standardisation of the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToyStats {
    /// Per-axis mean of the training points.
    pub mean: [f64; 2],
    /// Per-axis standard deviation.
    pub std: [f64; 2],
    /// Labels the model knows: the classes a conditional model embeds or a joint model
    /// generates (0: neither).
    pub num_classes: usize,
    /// The training labels' frequencies (joint models: the marginal prior).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_frequencies: Vec<f64>,
    /// `ring`, `moons` or the CSV's path.
    pub dataset: String,
}

/// The toy's typed sampling options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToyOptions {
    /// The component every sample is conditioned on (None: the null label).
    pub class: Option<usize>,
}

/// The toy modality.
pub struct ToyPipeline;

/// A toy model ready to sample.
pub type LoadedToy = Loaded<ToyPipeline, 2>;

diffgen_core::modality_config!(ToyConfig);

/// Loads a toy checkpoint (file, or the bundled model when `path` is None) onto `device`.
pub fn load_toy(path: Option<&Path>, device: &Device) -> Result<LoadedToy, ToyError> {
    pipeline::load(&ToyPipeline, path, device)
}

/// Draws the global samples `indices`, unconditionally (the null label).
pub fn generate(
    loaded: &LoadedToy,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated<ToySample>, ToyError> {
    generate_with(loaded, &ToyOptions::default(), indices, how, device)
}

/// Draws the global samples `indices` with `options` (a class to condition on).
pub fn generate_with(
    loaded: &LoadedToy,
    options: &ToyOptions,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated<ToySample>, ToyError> {
    pipeline::generate(&ToyPipeline, loaded, options, indices, how, device)
}

/// Training and validation points of `config` (synthetic, or split from a CSV).
fn point_sets(config: &ToyConfig, origin: &Path) -> Result<(PointSet, PointSet), ToyError> {
    let seed = config.training.seed;
    Ok(match &config.data.source {
        DataSource::Csv { path } => {
            let path = origin.parent().unwrap_or(Path::new(".")).join(path);
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
    })
}

/// The columns of a model's state: the point, and a joint model's label one-hot.
fn state_width(config: &ToyConfig, stats: &ToyStats) -> Result<usize, ToyError> {
    let layout = ToyPipeline.layout(config, stats)?;
    Ok(match layout.parts().is_empty() {
        true => 2,
        false => layout.width(),
    })
}

impl Pipeline<2> for ToyPipeline {
    type Config = ToyConfig;
    type Stats = ToyStats;
    type Space = EuclideanSpace<ToyContext>;
    type Model = ToyDenoiser;
    type Data = ToyData;
    type Options = ToyOptions;
    type Condition = Option<usize>;
    type Sample = ToySample;
    type Error = ToyError;

    fn info(&self) -> &'static ModalityInfo {
        &INFO
    }

    fn init_model(&self, config: &ToyConfig, stats: &ToyStats, device: &Device) -> ToyDenoiser {
        // A checkpoint's layout was checked when it was loaded; a bad one falls back to the
        // point alone, and its weights then fail to load with a clear shape error.
        let shape = ToyShape {
            width: state_width(config, stats).unwrap_or(2),
            num_classes: stats.num_classes,
            self_conditioning: config.diffusion.self_conditioning,
        };
        config.model.init(config.diffusion.objective, shape, device)
    }

    /// A joint model's state is the point and the label's one-hot.
    fn layout(&self, config: &ToyConfig, stats: &ToyStats) -> Result<StateLayout, ToyError> {
        if !config.model.joint {
            return Ok(StateLayout::single());
        }
        let frequencies =
            (!stats.class_frequencies.is_empty()).then(|| stats.class_frequencies.clone());
        Ok(StateLayout::builder()
            .continuous("point", 2)
            .categorical("label", 1, stats.num_classes, frequencies)
            .settings(&config.diffusion.parts)?)
    }

    fn space(&self, _config: &ToyConfig, _stats: &ToyStats) -> Self::Space {
        EuclideanSpace::new()
    }

    fn load_data(
        &self,
        config: &ToyConfig,
        request: &DataRequest<'_>,
    ) -> Result<TrainSets<ToyData, ToyStats>, ToyError> {
        let (train_set, val_set) = point_sets(config, request.config_origin)?;
        if train_set.is_empty() {
            return Err(CoreError::Other("the training set is empty".into()).into());
        }
        let (mean, std) = train_set.moments();
        let model = &config.model;
        let num_classes = match model.conditional || model.joint {
            true => config.data.source.num_classes(&train_set),
            false => 0,
        };
        let mut class_frequencies = Vec::new();
        if model.joint {
            if num_classes < 2 || train_set.labels.iter().any(Option::is_none) {
                return Err(CoreError::setting(
                    "model.joint",
                    "a joint model needs a label (of at least 2 classes) on every training point",
                )
                .into());
            }
            class_frequencies = vec![0.0; num_classes];
            for label in train_set.labels.iter().flatten() {
                class_frequencies[*label] += 1.0 / train_set.len() as f64;
            }
        }
        let stats = ToyStats {
            mean,
            std,
            num_classes,
            class_frequencies,
            dataset: config.data.source.name(),
        };
        let conditioning = if model.conditional { num_classes } else { 0 };
        let dropout = config.data.label_dropout;
        let mut train = ToyData::new(&train_set, mean, std, conditioning, dropout);
        let mut validation = ToyData::new(&val_set, mean, std, conditioning, 0.0);
        if model.joint {
            let columns = state_width(config, &stats)? - 2;
            train = train.with_label_columns(columns);
            validation = validation.with_label_columns(columns);
        }
        Ok(TrainSets {
            train,
            validation: Some(validation),
            stats,
            summary: Vec::new(),
            notes: Vec::new(),
        })
    }

    /// Scores the averaged model on the validation points and plots its samples over them.
    fn after_training(
        &self,
        loaded: &LoadedToy,
        data: &DataRequest<'_>,
        out_dir: &Path,
        device: &Device,
        report: &mut Report,
    ) -> Result<(), ToyError> {
        let (_, val_set) = point_sets(&loaded.config, data.config_origin)?;
        let indices: Vec<usize> = (0..REFERENCE_POINTS).collect();
        let how = Generation::new(
            SamplerConfig::new(SamplerKind::dpm_solver_2m(), Some(50)),
            0,
        );
        let samples = generate(loaded, &indices, &how, device)?.samples;
        let points = points_of(&samples);
        let mmd = mmd_to(&points, &val_set.points);
        let plot = out_dir.join("samples.png");
        io::write_scatter_png(&plot, &points, Some(&val_set.points))?;
        report.files.push(plot);
        report
            .metrics
            .push(("MMD² to validation (dpm++2m, 50 steps)".into(), mmd));
        if loaded.config.model.joint {
            report.metrics.push((
                "label agreement with the nearest validation point (dpm++2m, 50 steps)".into(),
                label_agreement(&samples, &val_set),
            ));
        }
        Ok(())
    }

    fn options(
        &self,
        loaded: &LoadedToy,
        values: &OptionValues,
        request: &SampleRequest,
        _warnings: &mut Vec<String>,
    ) -> Result<ToyOptions, ToyError> {
        let num_classes = loaded.stats.num_classes;
        let class = values.count("class");
        if loaded.config.model.joint && class.is_some() {
            return Err(CoreError::setting(
                "class",
                "this model generates each point's label itself; --class needs a conditional model",
            )
            .into());
        }
        if let Some(c) = class.filter(|&c| c >= num_classes) {
            return Err(CoreError::setting(
                "class",
                format!("{c}: the model knows {num_classes} classes (0..{num_classes})"),
            )
            .into());
        }
        if request.guidance.is_some() && class.is_none() {
            return Err(
                CoreError::setting("guidance", "needs a condition: add `--class K`").into(),
            );
        }
        Ok(ToyOptions { class })
    }

    fn plan(
        &self,
        loaded: &LoadedToy,
        options: &ToyOptions,
        index: usize,
        _seed: u64,
    ) -> Planned<Option<usize>> {
        Planned {
            index,
            // The whole state is real: every column draws noise.
            size: state_width(&loaded.config, &loaded.stats).unwrap_or(2),
            condition: options.class,
        }
    }

    fn batch(
        &self,
        loaded: &LoadedToy,
        items: &[Planned<Option<usize>>],
        device: &Device,
    ) -> Result<([usize; 2], ToyContext), ToyError> {
        let n = items.len();
        let null = loaded.stats.num_classes;
        let width = state_width(&loaded.config, &loaded.stats)?;
        let labels = (loaded.config.model.conditional && null > 0).then(|| {
            let ids = items
                .iter()
                .map(|p| p.condition.unwrap_or(null) as i64)
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), device)
        });
        Ok(([n, width], ToyContext { labels }))
    }

    fn decode(
        &self,
        loaded: &LoadedToy,
        state: Tensor<2>,
        items: &[Planned<Option<usize>>],
    ) -> Vec<ToySample> {
        let (mean, std) = (loaded.stats.mean, loaded.stats.std);
        let width = state_width(&loaded.config, &loaded.stats).unwrap_or(2);
        let classes = loaded.stats.num_classes;
        let v = to_vec(state);
        items
            .iter()
            .enumerate()
            .map(|(r, p)| {
                let row = &v[width * r..width * (r + 1)];
                // A joint model's label: the one-hot's class (the sampler ends one-hot).
                let generated = (width > 2)
                    .then(|| (0..classes).max_by(|&a, &b| row[2 + a].total_cmp(&row[2 + b])))
                    .flatten();
                ToySample {
                    index: p.index,
                    point: [
                        row[0] as f64 * std[0] + mean[0],
                        row[1] as f64 * std[1] + mean[1],
                    ],
                    label: generated.or(p.condition),
                }
            })
            .collect()
    }

    /// Every step: the trajectory of 2-D points is small.
    fn frames(&self, _: &ToyOptions, trajectory: bool, _total: usize) -> Option<FramePolicy> {
        trajectory.then_some(FramePolicy {
            every: 1,
            include_first: false,
        })
    }

    fn write(
        &self,
        loaded: &LoadedToy,
        _options: &ToyOptions,
        generated: &Generated<ToySample>,
        _request: &SampleRequest,
        out: &mut RunOutput,
    ) -> Result<(), ToyError> {
        io::write_samples_csv(
            &out.collection("csv"),
            &loaded.stats.dataset,
            &generated.samples,
        )?;
        let reference = reference_points(&loaded.stats.dataset);
        let points = points_of(&generated.samples);
        io::write_scatter_png(&out.collection("png"), &points, reference.as_deref())?;
        if !generated.frames.is_empty() {
            io::write_trajectory_csv(&out.collection("trajectory.csv"), &generated.frames)?;
        }
        Ok(())
    }

    fn evaluate(
        &self,
        loaded: &LoadedToy,
        options: &ToyOptions,
        generated: &Generated<ToySample>,
        _context: EvalContext<'_>,
        _out: &mut RunOutput,
        report: &mut Report,
    ) -> Result<(), ToyError> {
        let dataset = &loaded.stats.dataset;
        if let (Some(reference), None) = (reference_set(dataset), options.class) {
            let points = points_of(&generated.samples);
            if points.len() >= 2 {
                let mmd = mmd_to(&points, &reference.points);
                report
                    .metrics
                    .push((format!("MMD² to {dataset} reference"), mmd));
            }
            if loaded.config.model.joint {
                report.metrics.push((
                    "label agreement (label = nearest reference point's)".into(),
                    label_agreement(&generated.samples, &reference),
                ));
            }
        }
        Ok(())
    }

    fn eval_files(&self, files: &[PathBuf], _data_dir: Option<&Path>) -> Result<Report, ToyError> {
        let mut report = Report::default();
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|e| ToyError::Io(file.clone(), e))?;
            let set = data::parse_points_csv(&text, file)?;
            let dataset = io::dataset_of(&text).unwrap_or_else(|| "ring".into());
            let reference = reference_points(&dataset).ok_or_else(|| ToyError::Parse {
                path: file.clone(),
                line: 1,
                reason: format!("no reference data for dataset `{dataset}` (known: ring, moons)"),
            })?;
            let mmd = mmd_to(&set.points, &reference);
            let what = format!(
                "{}: MMD² to {dataset} ({} points)",
                file.display(),
                set.len()
            );
            report.metrics.push((what, mmd));
        }
        Ok(report)
    }

    /// The Gaussian conditional toy and the joint (flow matching + categorical) toy, side by
    /// side: both are timed training and sampling.
    fn bench_cases(&self, _: &BenchRequest) -> Result<Vec<BenchCase<Self, 2>>, ToyError> {
        let mut cases = Vec::new();
        for (text, origin, what) in [
            (
                DEFAULT_CONFIG,
                INFO.default_config.1,
                "diffusion, conditional",
            ),
            (
                JOINT_CONFIG,
                JOINT_CONFIG_PATH,
                "flow matching, point + label jointly",
            ),
        ] {
            let config: ToyConfig = diffgen_core::config::parse_toml(text, Path::new(origin))?;
            config.validate()?;
            let request = DataRequest {
                data_dir: None,
                config_origin: Path::new(origin),
            };
            let sets = self.load_data(&config, &request)?;
            let label = format!(
                "MLP {}×{}, ring of 8 Gaussians, {what}",
                config.model.layers, config.model.hidden
            );
            cases.push(BenchCase {
                label,
                config,
                data: sets.train,
                stats: sets.stats,
            });
        }
        Ok(cases)
    }

    /// Both cases' models are sampled: the bundled model is only one of them.
    fn bench_samples_bundled(&self) -> bool {
        false
    }
}
