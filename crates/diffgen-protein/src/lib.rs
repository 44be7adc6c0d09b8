//! The protein modality: backbones as six angles per residue, diffused on a torus.
//!
//! After FoldingDiff (Wu et al. 2022): each residue is described by φ, ψ, ω and the bond
//! angles N-CA-C, CA-C-N, C-N-CA; the angles are centred by their training means, noised with
//! a wrapped normal and denoised by a transformer over residues. NeRF rebuilds N, CA, C (and
//! O in the peptide plane) from sampled angles; writers, DSSP, TM-score and the structure
//! metrics live in this crate too.

pub mod config;
pub mod data;
pub mod dssp;
pub mod error;
pub mod geometry;
pub mod io;
pub mod metrics;
pub mod model;
pub mod space;
pub mod structure;
pub mod tmscore;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use diffgen_core::batching::similar_size_batches;
use diffgen_core::checkpoint::{Checkpoint, EMA_PREFIX};
use diffgen_core::config::parse_toml;
use diffgen_core::error::BoxError;
use diffgen_core::modality::{BenchRequest, Modality, Report, SampleRequest, TrainRequest};
use diffgen_core::rng::{PaddedNoise, SeededRng};
use diffgen_core::sampler::{sample, SamplerConfig, SamplerKind, StepEvent};
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::train::{TrainData, Trainer};
use diffgen_core::{CoreError, Denoiser, NoiseSpace};

pub use config::{ProteinConfig, ProteinSource};
use data::{angles_of, ProteinData, ProteinStats};
pub use error::ProteinError;
use geometry::backbone_from_angles;
use model::{ProteinDenoiser, FEATURES};
use space::{ProteinContext, TorusSpace};
use structure::Backbone;

pub const NAME: &str = "protein";

/// The bundled model: trained by `diffgen train --modality protein --config
/// configs/protein-cath.toml` (empty until one is trained).
static BUNDLED: &[u8] = include_bytes!("../weights/protein-cath.safetensors");

/// The config the bundled model was trained with (and `bench` measures).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/protein-cath.toml");

/// Seed salt of the per-sample streams that draw chain lengths (noise uses the seed itself).
const LENGTH_STREAM: u64 = 0x4c45_4e47_5448;

/// A model ready to sample.
pub struct LoadedProtein {
    pub model: ProteinDenoiser,
    pub config: ProteinConfig,
    pub stats: ProteinStats,
    pub checkpoint: Checkpoint,
}

/// Loads a protein checkpoint (file, or the bundled bytes when `path` is None).
pub fn load_protein(path: Option<&Path>, device: &Device) -> Result<LoadedProtein, ProteinError> {
    let (checkpoint, origin) = Checkpoint::open_for(NAME, path, BUNDLED)?;
    let config: ProteinConfig = checkpoint.config(&origin)?;
    let stats: ProteinStats = checkpoint.data_stats(&origin)?;
    let model = config.model.init(config.diffusion.objective, device);
    let model = checkpoint.load_module(EMA_PREFIX, model, None, device, &origin)?;
    Ok(LoadedProtein {
        model,
        config,
        stats,
        checkpoint,
    })
}

/// How to draw backbones.
#[derive(Debug, Clone, Copy)]
pub struct Generation {
    pub sampler: SamplerConfig,
    pub seed: u64,
    /// Residues per chain; None: drawn from the training lengths.
    pub length: Option<usize>,
    pub batch_size: usize,
    /// Record the denoising path (at most ~50 frames per chain).
    pub trajectory: bool,
}

/// Backbones by global sample index, and their trajectories when asked.
pub struct Generated {
    pub backbones: Vec<(usize, Backbone)>,
    pub trajectories: BTreeMap<usize, Vec<Backbone>>,
}

/// Draws the global samples `indices`, batched in order of length so that padding is small.
/// Each chain's noise depends only on the seed, its index and its length, so batch size and
/// shards do not change it.
pub fn generate(
    loaded: &LoadedProtein,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated, ProteinError> {
    let schedule = loaded.config.diffusion.schedule.build()?;
    let stats = &loaded.stats;
    let mut order: Vec<(usize, usize)> = indices
        .iter()
        .map(|&i| {
            let n = how.length.unwrap_or_else(|| {
                stats.draw_length(&mut SeededRng::stream(how.seed ^ LENGTH_STREAM, i as u64))
            });
            (n, i)
        })
        .collect();
    order.sort_unstable();
    let total_steps = how.sampler.steps.unwrap_or(schedule.steps());
    let stride = total_steps.div_ceil(50).max(1);
    let to_backbones = |x: Tensor<3>, lengths: &[usize], rows: &[usize]| -> Vec<Backbone> {
        let l = x.dims()[1];
        let values = to_vec(x);
        rows.iter()
            .zip(lengths)
            .enumerate()
            .map(|(r, (&i, &n))| {
                let angles: Vec<_> = (0..n)
                    .map(|k| stats.uncentre(&values[(r * l + k) * FEATURES..][..FEATURES]))
                    .collect();
                backbone_from_angles(&format!("sample_{i:04}"), &angles)
            })
            .collect()
    };
    let mut backbones = Vec::with_capacity(indices.len());
    let mut trajectories: BTreeMap<usize, Vec<Backbone>> = BTreeMap::new();
    for chunk in similar_size_batches(&order, how.batch_size) {
        let lengths: Vec<usize> = chunk.iter().map(|&(n, _)| n).collect();
        let rows: Vec<usize> = chunk.iter().map(|&(_, i)| i).collect();
        let l = lengths.iter().copied().max().unwrap_or(1);
        let context = ProteinContext::new(&lengths, device);
        let mut noise = PaddedNoise::new(how.seed, rows.iter().map(|&i| i as u64), lengths.clone());
        let mut observe = |e: &StepEvent<'_, 3>| {
            if how.trajectory && (e.step.is_multiple_of(stride) || e.step == e.total) {
                for (row, b) in rows.iter().zip(to_backbones(e.x.clone(), &lengths, &rows)) {
                    trajectories.entry(*row).or_default().push(b);
                }
            }
        };
        let state = sample(
            &how.sampler,
            &schedule,
            &TorusSpace,
            &loaded.model,
            &context,
            [rows.len(), l, FEATURES],
            &mut noise,
            device,
            &mut observe,
        )?;
        backbones.extend(
            rows.iter()
                .copied()
                .zip(to_backbones(state, &lengths, &rows)),
        );
    }
    backbones.sort_by_key(|(i, _)| *i);
    Ok(Generated {
        backbones,
        trajectories,
    })
}

/// Noises real `backbones` to level `t0` and walks back to 0 with deterministic DDIM steps
/// of `stride` levels: what a model keeps of real structures at a given noise level (helices
/// survive a good model from t0 = 500). Chains are padded into one batch.
pub fn renoise_and_denoise(
    loaded: &LoadedProtein,
    backbones: &[Backbone],
    t0: usize,
    stride: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<Backbone>, ProteinError> {
    let schedule = loaded.config.diffusion.schedule.build()?;
    let t0 = t0.min(schedule.steps());
    let lengths: Vec<usize> = backbones.iter().map(Backbone::len).collect();
    let l = lengths.iter().copied().max().unwrap_or(0);
    let b = backbones.len();
    let mut values = vec![0f32; b * l * FEATURES];
    for (row, backbone) in backbones.iter().enumerate() {
        for (k, angles) in geometry::angles_from_backbone(backbone).iter().enumerate() {
            let at = (row * l + k) * FEATURES;
            for (f, v) in loaded.stats.centre(angles).iter().enumerate() {
                values[at + f] = *v as f32;
            }
        }
    }
    let context = ProteinContext::new(&lengths, device);
    let x0: Tensor<3> = tensor_from_vec(values, [b, l, FEATURES], device);
    let mut noise = SeededRng::new(seed);
    let eps = TorusSpace.noise([b, l, FEATURES], &context, &mut noise, device);
    let mut x = TorusSpace.project(
        x0.mul_scalar(schedule.alpha(t0)) + eps.mul_scalar(schedule.sigma(t0)),
        &context,
    );
    let objective = loaded.model.objective();
    let mut t = t0;
    while t > 0 {
        let s = t.saturating_sub(stride.max(1));
        let t_frac = Tensor::<1>::full([b], t as f64 / schedule.steps() as f64, device);
        let prediction = loaded.model.predict(x.clone(), t_frac, &context);
        let (x0_hat, eps_hat) =
            objective.split(x.clone(), prediction, schedule.alpha(t), schedule.sigma(t));
        x = TorusSpace.project(
            x0_hat.mul_scalar(schedule.alpha(s)) + eps_hat.mul_scalar(schedule.sigma(s)),
            &context,
        );
        t = s;
    }
    if schedule.needs_final_denoise() {
        // Level 0 is still noisy: one more call maps it to x̂₀, as the samplers do.
        let t_frac = Tensor::<1>::zeros([b], device);
        let prediction = loaded.model.predict(x.clone(), t_frac, &context);
        let (x0_hat, _) =
            objective.split(x.clone(), prediction, schedule.alpha(0), schedule.sigma(0));
        x = TorusSpace.project(x0_hat, &context);
    }
    let values = to_vec(x);
    Ok(backbones
        .iter()
        .enumerate()
        .map(|(row, backbone)| {
            let angles: Vec<_> = (0..backbone.len())
                .map(|k| {
                    loaded
                        .stats
                        .uncentre(&values[(row * l + k) * FEATURES..][..FEATURES])
                })
                .collect();
            backbone_from_angles(&format!("{}:denoised", backbone.id), &angles)
        })
        .collect())
}

/// Training and validation backbones of a config's source, with the readers' warnings.
struct SourceSets {
    train: Vec<Backbone>,
    valid: Vec<Backbone>,
    warnings: Vec<String>,
}

fn load_source(
    config: &ProteinConfig,
    origin: &Path,
    data_dir: Option<&Path>,
) -> Result<SourceSets, ProteinError> {
    match &config.data.source {
        ProteinSource::CathS40 => {
            let root = shared_root(data_dir)?;
            Ok(SourceSets {
                train: io::load_split(root, "train")?,
                valid: io::load_split(root, "valid")?,
                warnings: Vec::new(),
            })
        }
        ProteinSource::Directory { path, chains } => {
            let dir = if path.is_relative() {
                origin.parent().unwrap_or(Path::new(".")).join(path)
            } else {
                path.clone()
            };
            let (all, warnings) =
                io::read_structure_dir(&dir, chains.as_deref(), config.data.min_length)?;
            let (mut train, mut valid) = (Vec::new(), Vec::new());
            for (k, b) in all.into_iter().enumerate() {
                if k % 20 == 19 {
                    valid.push(b);
                } else {
                    train.push(b);
                }
            }
            Ok(SourceSets {
                train,
                valid,
                warnings,
            })
        }
    }
}

/// The data root holding `proteins/`, or an error saying how to get it.
fn shared_root(data_dir: Option<&Path>) -> Result<&Path, ProteinError> {
    let root = data_dir.ok_or_else(|| {
        ProteinError::setting(
            "data",
            "no data root: pass --data DIR or set DIFFGEN_DATA (see datasets/proteins/README.md)",
        )
    })?;
    let file = root.join(io::SHARED_FILE);
    if !file.is_file() {
        return Err(ProteinError::setting(
            "data",
            format!(
                "{} not found (see datasets/proteins/README.md)",
                file.display()
            ),
        ));
    }
    Ok(root)
}

/// The test split as reference data, when the shared data is present.
fn reference_set(data_dir: Option<&Path>) -> Option<Vec<Backbone>> {
    let root = shared_root(data_dir).ok()?;
    io::load_split(root, "test").ok()
}

/// Options of the request that only the protein modality reads.
struct ProteinOptions {
    length: Option<usize>,
    residue_name: Option<String>,
    mmcif: bool,
}

fn parse_options(request: &SampleRequest) -> Result<ProteinOptions, ProteinError> {
    let mut options = ProteinOptions {
        length: None,
        residue_name: None,
        mmcif: false,
    };
    let bad = |key: &str, reason: String| ProteinError::setting(key, reason);
    for (key, value) in &request.options {
        match key.as_str() {
            "length" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| bad(key, format!("`{value}` is not a residue count")))?;
                if !(3..=1024).contains(&n) {
                    return Err(bad(key, format!("{n} residues: expected 3 to 1024")));
                }
                options.length = Some(n);
            }
            "residue" => {
                let name = value.trim().to_ascii_uppercase();
                write::check_residue_name(&name)?;
                options.residue_name = Some(name);
            }
            "format" => {
                options.mmcif = match value.as_str() {
                    "pdb" => false,
                    "cif" | "mmcif" | "both" => true,
                    _ => return Err(bad(key, format!("`{value}`: expected pdb, cif or both"))),
                }
            }
            _ => {
                return Err(bad(
                    key,
                    "unknown for the protein modality (known: length, residue, format)".into(),
                ))
            }
        }
    }
    if request.guidance.is_some() {
        return Err(bad(
            "guidance",
            "the protein model is unconditional; drop --guidance".into(),
        ));
    }
    Ok(options)
}

/// Metric rows as report lines: `name: samples (reference)`.
fn push_evaluation(report: &mut Report, evaluation: &metrics::Evaluation) {
    for row in &evaluation.rows {
        report.metrics.push((row.name.clone(), row.samples));
        if let Some(reference) = row.reference {
            report
                .metrics
                .push((format!("{} (test split)", row.name), reference));
        }
    }
    report.files.extend(evaluation.files.iter().cloned());
    report.notes.extend(evaluation.notes.iter().cloned());
}

pub struct ProteinModality;

impl ProteinModality {
    fn train_impl(&self, request: &TrainRequest) -> Result<Report, ProteinError> {
        let mut config: ProteinConfig = parse_toml(&request.config_text, &request.config_origin)?;
        if let Some(steps) = request.steps {
            config.training.steps = steps;
        }
        config.validate()?;
        let SourceSets {
            train: train_set,
            valid: valid_set,
            warnings,
        } = load_source(&config, &request.config_origin, request.data_dir.as_deref())?;
        let mut train_angles = angles_of(&train_set, config.data.min_length);
        if let Some(max) = config.data.max_train_chains {
            train_angles.truncate(max);
        }
        let valid_angles = angles_of(&valid_set, config.data.min_length);
        if train_angles.is_empty() {
            return Err(ProteinError::setting(
                "data",
                format!(
                    "no training chain has ≥ {} residues{}",
                    config.data.min_length,
                    warnings
                        .iter()
                        .take(5)
                        .map(|w| format!("\n  {w}"))
                        .collect::<String>()
                ),
            ));
        }
        let dataset = match &config.data.source {
            ProteinSource::CathS40 => "cath_s40".to_string(),
            ProteinSource::Directory { path, .. } => path.display().to_string(),
        };
        let stats = ProteinStats::from_chains(&train_angles, config.data.max_length, &dataset);
        let train = ProteinData::new(&train_angles, &stats, config.data.max_length);
        let valid = ProteinData::new(&valid_angles, &stats, config.data.max_length);

        let device = request.backend.device()?;
        device.seed(config.training.seed);
        let model = config
            .model
            .init(config.diffusion.objective, &device.clone().autodiff());
        let trainer = Trainer {
            config: &config.training,
            schedule_config: &config.diffusion.schedule,
            space: &TorusSpace,
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
        let validation = (!valid.is_empty()).then_some(&valid);
        let outcome =
            trainer.run::<3, _, _, ProteinData>(model, &train, validation, resume.as_deref())?;
        let seconds = started.elapsed().as_secs_f64();
        let mut report = outcome.report(seconds);
        report
            .metrics
            .insert(0, ("training chains".into(), train_angles.len() as f64));
        report.notes.extend(warnings);
        Ok(report)
    }

    fn sample_impl(&self, request: &SampleRequest) -> Result<Report, ProteinError> {
        let options = parse_options(request)?;
        let device = request.backend.device()?;
        let loaded = load_protein(request.checkpoint.as_deref(), &device)?;
        let residue_name = options
            .residue_name
            .clone()
            .unwrap_or_else(|| loaded.config.data.residue_name.clone());
        let indices: Vec<usize> = request.shard.range(request.num_samples).collect();
        let how = Generation {
            sampler: SamplerConfig::new(request.sampler, request.steps),
            seed: request.seed,
            length: options.length,
            batch_size: request.batch_size,
            trajectory: request.trajectory,
        };
        let started = Instant::now();
        let Generated {
            backbones,
            trajectories,
        } = generate(&loaded, &indices, &how, &device)?;
        let seconds = started.elapsed().as_secs_f64();

        let mut report = Report::default();
        for (i, backbone) in &backbones {
            let pdb = request.out_dir.join(format!("sample_{i:04}.pdb"));
            write::write_pdb(&pdb, std::slice::from_ref(backbone), &residue_name)?;
            report.files.push(pdb);
            if options.mmcif {
                let cif = request.out_dir.join(format!("sample_{i:04}.cif"));
                write::write_mmcif(&cif, backbone, &residue_name)?;
                report.files.push(cif);
            }
        }
        for (i, frames) in &trajectories {
            let path = request.out_dir.join(format!("trajectory_{i:04}.pdb"));
            write::write_pdb(&path, frames, &residue_name)?;
            report.files.push(path);
        }
        report
            .metrics
            .push(("backbones".into(), backbones.len() as f64));
        report.metrics.push((
            "backbones/s".into(),
            backbones.len() as f64 / seconds.max(1e-9),
        ));
        if request.evaluate && request.shard.count == 1 && !backbones.is_empty() {
            let samples: Vec<Backbone> = backbones.into_iter().map(|(_, b)| b).collect();
            let reference = reference_set(request.data_dir.as_deref());
            let evaluation = metrics::evaluate(&samples, reference.as_deref(), &request.out_dir)?;
            push_evaluation(&mut report, &evaluation);
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

    fn eval_impl(
        &self,
        files: &[PathBuf],
        data_dir: Option<&Path>,
    ) -> Result<Report, ProteinError> {
        let mut samples = Vec::new();
        let mut report = Report::default();
        for file in files {
            let (backbones, warnings) = io::read_structure(file, None)?;
            samples.extend(backbones);
            report.notes.extend(warnings);
        }
        if samples.is_empty() {
            return Err(ProteinError::setting(
                "data",
                "no backbone found in the given files",
            ));
        }
        let out_dir = files[0].parent().unwrap_or(Path::new(".")).join("eval");
        let reference = reference_set(data_dir);
        let evaluation = metrics::evaluate(&samples, reference.as_deref(), &out_dir)?;
        push_evaluation(&mut report, &evaluation);
        Ok(report)
    }

    fn bench_impl(&self, request: &BenchRequest) -> Result<Report, ProteinError> {
        const LENGTH: usize = 128;
        let device = request.backend.device()?;
        let mut config: ProteinConfig =
            parse_toml(DEFAULT_CONFIG, Path::new("configs/protein-cath.toml"))?;
        config.training.batch_size = request.batch_size;
        config.training.steps = request.train_steps as u64;
        config.training.log_every = u64::MAX;
        config.training.val_every = u64::MAX;
        config.training.checkpoint_every = u64::MAX;
        // Random angles: speed does not depend on the data.
        let mut rng = SeededRng::new(0);
        let chains: Vec<Vec<geometry::Angles>> = (0..256)
            .map(|_| {
                (0..LENGTH)
                    .map(|_| {
                        std::array::from_fn(|_| (rng.uniform() * 2.0 - 1.0) * std::f64::consts::PI)
                    })
                    .collect()
            })
            .collect();
        let stats = ProteinStats::from_chains(&chains, LENGTH, "random");
        let data = ProteinData::new(&chains, &stats, LENGTH);
        let model = config
            .model
            .init(config.diffusion.objective, &device.clone().autodiff());
        let dir =
            std::env::temp_dir().join(format!("diffgen-bench-protein-{}", std::process::id()));
        let trainer = Trainer {
            config: &config.training,
            schedule_config: &config.diffusion.schedule,
            space: &TorusSpace,
            weighting: config.diffusion.weighting,
            out_dir: dir.clone(),
            device: device.clone(),
            modality: NAME.into(),
            modality_config: serde_json::to_value(&config)
                .map_err(|e| CoreError::Other(e.to_string()))?,
            data_stats: serde_json::to_value(&stats)
                .map_err(|e| CoreError::Other(e.to_string()))?,
            show_progress: false,
            stop_at: None,
        };
        let started = Instant::now();
        trainer.run::<3, _, _, ProteinData>(model, &data, None, None)?;
        let train_seconds = started.elapsed().as_secs_f64();

        let loaded = load_protein(Some(&dir.join("model.safetensors")), &device)?;
        let _ = std::fs::remove_dir_all(&dir);
        let indices: Vec<usize> = (0..request.num_samples).collect();
        let how = Generation {
            sampler: SamplerConfig::new(SamplerKind::Ddpm, Some(request.sample_steps)),
            seed: 0,
            length: Some(LENGTH),
            batch_size: request.num_samples,
            trajectory: false,
        };
        let started = Instant::now();
        generate(&loaded, &indices, &how, &device)?;
        let sample_seconds = started.elapsed().as_secs_f64();
        let mut report = Report::default();
        report.metrics.push((
            format!(
                "train steps/s (batch {}, length {LENGTH}, {} layers × {}, incl. checkpoint write)",
                request.batch_size, config.model.layers, config.model.hidden
            ),
            request.train_steps as f64 / train_seconds,
        ));
        report.metrics.push((
            format!(
                "backbones/s (length {LENGTH}, {} DDPM steps, batch {})",
                request.sample_steps, request.num_samples
            ),
            request.num_samples as f64 / sample_seconds,
        ));
        Ok(report)
    }
}

impl Modality for ProteinModality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "protein backbones as φ/ψ/ω and bond angles on a torus (FoldingDiff); transformer; PDB, mmCIF; DSSP, TM-score"
    }

    fn writers(&self) -> &'static [&'static str] {
        &["pdb", "mmcif", "trajectory pdb (multi-model)"]
    }

    fn train(&self, request: &TrainRequest) -> Result<Report, BoxError> {
        Ok(self.train_impl(request)?)
    }

    fn sample(&self, request: &SampleRequest) -> Result<Report, BoxError> {
        Ok(self.sample_impl(request)?)
    }

    fn eval(&self, files: &[PathBuf], data_dir: Option<&Path>) -> Result<Report, BoxError> {
        Ok(self.eval_impl(files, data_dir)?)
    }

    fn bench(&self, request: &BenchRequest) -> Result<Report, BoxError> {
        Ok(self.bench_impl(request)?)
    }

    fn bundled(&self) -> Option<&'static str> {
        (!BUNDLED.is_empty()).then_some(
            "FoldingDiff-style angle diffusion trained on CATH S40 train (configs/protein-cath.toml)",
        )
    }
}
