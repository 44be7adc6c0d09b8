//! The molecule modality: E(3)-equivariant diffusion on 3-D molecules, after EDM
//! (Hoogeboom et al., ICML 2022).
//!
//! Positions diffuse in the zero-centre-of-mass subspace and atom types as scaled Gaussian
//! features; EDM's EGNN predicts the noise. Outputs are XYZ, SDF (bonds perceived with
//! EDM's tables) and PDB files, with EDM's stability and built-in validity, uniqueness and
//! novelty.

pub mod bonds;
pub mod config;
pub mod data;
pub mod egnn;
pub mod elements;
pub mod import;
pub mod metrics;
pub mod pdb;
pub mod sdf;
pub mod space;
pub mod write;
pub mod xyz;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use diffgen_core::batching::similar_size_batches;
use diffgen_core::checkpoint::{Checkpoint, CheckpointMeta, EMA_PREFIX, FORMAT_VERSION};
use diffgen_core::config::parse_toml;
use diffgen_core::error::BoxError;
use diffgen_core::modality::{BenchRequest, Modality, Report, SampleRequest, TrainRequest};
use diffgen_core::rng::{PaddedNoise, SeededRng};
use diffgen_core::sampler::{sample, SamplerConfig, SamplerKind};
use diffgen_core::train::Trainer;
use diffgen_core::{CoreError, Denoiser, Objective};

pub use config::MoleculeConfig;
use config::MoleculeSource;
use data::{Encoding, MoleculeData, MoleculeStats};
use egnn::EgnnDynamics;
use space::{MolContext, MoleculeSpace};
use xyz::Molecule;

pub const NAME: &str = "molecule";

/// The bundled model (see README: what it was trained on and what it reaches).
static BUNDLED: &[u8] = include_bytes!("../weights/molecule-qm9.safetensors");

/// Salt of the streams that draw atom counts, apart from the noise streams.
const COUNT_STREAM: u64 = 0x6174_6f6d_7321;

#[derive(Debug, thiserror::Error)]
pub enum MoleculeError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Xyz(#[from] xyz::XyzError),
    #[error(transparent)]
    Sdf(#[from] sdf::SdfError),
    #[error("{0}")]
    Data(String),
    #[error("option `{key}`: {reason}")]
    Option { key: String, reason: String },
}

impl Denoiser<3> for EgnnDynamics {
    type Context = MolContext;

    fn objective(&self) -> Objective {
        Objective::Epsilon
    }

    fn predict(&self, x_t: Tensor<3>, t: Tensor<1>, context: &MolContext) -> Tensor<3> {
        self.forward(x_t, t, &context.masks)
    }
}

/// A model ready to sample.
pub struct LoadedMolecule {
    pub model: EgnnDynamics,
    pub config: MoleculeConfig,
    pub stats: MoleculeStats,
    pub meta: CheckpointMeta,
}

/// Loads a molecule checkpoint (or the bundled model when `path` is None).
pub fn load_molecule(
    path: Option<&Path>,
    device: &Device,
) -> Result<LoadedMolecule, MoleculeError> {
    let (checkpoint, origin) = Checkpoint::open_for(NAME, path, BUNDLED)?;
    let config: MoleculeConfig = checkpoint.config(&origin)?;
    let stats: MoleculeStats = checkpoint.data_stats(&origin)?;
    let model = config.model.init(config.encoding.features(), device);
    let model = checkpoint.load_module(EMA_PREFIX, model, None, device, &origin)?;
    Ok(LoadedMolecule {
        model,
        config,
        stats,
        meta: checkpoint.meta,
    })
}

/// How to draw molecules.
#[derive(Debug, Clone, Copy)]
pub struct Generation {
    pub sampler: SamplerConfig,
    pub seed: u64,
    /// Atoms per molecule; None: drawn from the training histogram.
    pub atoms: Option<usize>,
    pub batch_size: usize,
    /// Record the denoising path (at most ~100 frames per molecule).
    pub trajectory: bool,
}

/// Molecules by global sample index, and their trajectories when asked.
pub struct Generated {
    pub molecules: Vec<(usize, Molecule)>,
    pub trajectories: BTreeMap<usize, Vec<Molecule>>,
}

/// Draws the global samples `indices`, batched in order of atom count so that padding is
/// small. Each molecule's noise depends only on the seed, its index and its atom count
/// ([`PaddedNoise`]), so batch size and shards do not change it.
pub fn generate(
    loaded: &LoadedMolecule,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated, MoleculeError> {
    let schedule = loaded.config.diffusion.schedule.build()?;
    let encoding = &loaded.config.encoding;
    // Sorted by atom count, batches hold molecules of similar sizes: little padding.
    let mut order: Vec<(usize, usize)> = indices
        .iter()
        .map(|&i| {
            let n = how.atoms.unwrap_or_else(|| {
                loaded
                    .stats
                    .draw_count(&mut SeededRng::stream(how.seed ^ COUNT_STREAM, i as u64))
            });
            (n, i)
        })
        .collect();
    order.sort_unstable();
    let total_steps = how.sampler.steps.unwrap_or(schedule.steps());
    let stride = total_steps.div_ceil(100).max(1);
    let mut molecules = Vec::with_capacity(indices.len());
    let mut trajectories: BTreeMap<usize, Vec<Molecule>> = BTreeMap::new();
    // The fused edge kernel skips padded pairs, so on Flex full batches cost no padded edge
    // work; the tensor path (other backends) cuts batches to bound it.
    let batches: Vec<&[(usize, usize)]> = if diffgen_core::kernels::is_supported(device) {
        order.chunks(how.batch_size.max(1)).collect()
    } else {
        similar_size_batches(&order, how.batch_size)
    };
    for chunk in batches {
        let counts: Vec<usize> = chunk.iter().map(|&(n, _)| n).collect();
        let rows: Vec<usize> = chunk.iter().map(|&(_, i)| i).collect();
        let n_max = counts.iter().copied().max().unwrap_or(1);
        let context = MolContext::new(&counts, device);
        let mut noise = PaddedNoise::new(how.seed, rows.iter().map(|&i| i as u64), counts.clone());
        let mut observe = |e: &diffgen_core::sampler::StepEvent<'_, 3>| {
            if how.trajectory && (e.step.is_multiple_of(stride) || e.step == e.total) {
                for (row, m) in rows.iter().zip(encoding.decode(e.x.clone(), &counts)) {
                    trajectories.entry(*row).or_default().push(m);
                }
            }
        };
        let state = sample(
            &how.sampler,
            &schedule,
            &MoleculeSpace,
            &loaded.model,
            &context,
            [rows.len(), n_max, encoding.channels()],
            &mut noise,
            device,
            &mut observe,
        )?;
        for (&i, mut m) in rows.iter().zip(encoding.decode(state, &counts)) {
            m.comment = format!("diffgen molecule {i}");
            molecules.push((i, m));
        }
    }
    molecules.sort_by_key(|(i, _)| *i);
    Ok(Generated {
        molecules,
        trajectories,
    })
}

/// Where the QM9 files are, with a clear error when they are not.
fn qm9_file(data_dir: Option<&Path>, split: &str) -> Result<PathBuf, MoleculeError> {
    let root = data_dir.ok_or_else(|| {
        MoleculeError::Data(
            "no data root: pass --data DIR or set DIFFGEN_DATA (see datasets/qm9/README.md)".into(),
        )
    })?;
    let path = root.join("qm9").join(format!("qm9_{split}.xyz.gz"));
    if !path.is_file() {
        return Err(MoleculeError::Data(format!(
            "{} not found (see datasets/qm9/README.md to fetch QM9)",
            path.display()
        )));
    }
    Ok(path)
}

/// Hashes of the canonical keys of QM9 train's valid molecules, bundled so that novelty
/// needs no data (`examples/qm9_train_keys.rs` writes the file).
static QM9_TRAIN_KEYS: &[u8] = include_bytes!("../weights/qm9-train-keys.bin");

/// The QM9 training split's key hashes, for novelty: from the data when present, else the
/// bundled copy.
pub fn training_keys(data_dir: Option<&Path>) -> Option<HashSet<u64>> {
    if let Ok(path) = qm9_file(data_dir, "train") {
        if let Ok(molecules) = xyz::read_xyz(&path) {
            return Some(qm9_key_hashes(&molecules));
        }
    }
    (!QM9_TRAIN_KEYS.is_empty()).then(|| {
        QM9_TRAIN_KEYS
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    })
}

/// Key hashes of the valid molecules of a set.
pub fn qm9_key_hashes(molecules: &[Molecule]) -> HashSet<u64> {
    molecules
        .iter()
        .filter_map(|m| metrics::analyse(m).key)
        .map(|k| metrics::key_hash(&k))
        .collect()
}

pub struct MoleculeModality;

impl MoleculeModality {
    fn load_sets(
        &self,
        config: &MoleculeConfig,
        request: &TrainRequest,
    ) -> Result<(Vec<Molecule>, Vec<Molecule>, String), MoleculeError> {
        let (train, valid, name) = match &config.data.source {
            MoleculeSource::Qm9 => {
                let dir = request.data_dir.as_deref();
                let train = xyz::read_xyz(&qm9_file(dir, "train")?)?;
                let valid = xyz::read_xyz(&qm9_file(dir, "valid")?)?;
                (train, valid, "qm9".to_string())
            }
            MoleculeSource::Xyz { train, valid } => {
                let base = request.config_origin.parent().unwrap_or(Path::new("."));
                let train_path = base.join(train);
                let mut all = xyz::read_xyz(&train_path)?;
                let valid = match valid {
                    Some(v) => xyz::read_xyz(&base.join(v))?,
                    None => {
                        let n = (all.len() / 10).max(1).min(all.len().saturating_sub(1));
                        all.split_off(all.len() - n)
                    }
                };
                (all, valid, train_path.display().to_string())
            }
        };
        let mut train = train;
        if let Some(limit) = config.data.max_train_molecules {
            let order = SeededRng::new(config.training.seed).permutation(train.len());
            let keep: Vec<Molecule> = order
                .iter()
                .take(limit)
                .map(|&i| train[i].clone())
                .collect();
            train = keep;
        }
        let valid: Vec<Molecule> = valid
            .into_iter()
            .take(config.data.max_valid_molecules)
            .collect();
        if train.is_empty() {
            return Err(MoleculeError::Data("the training set is empty".into()));
        }
        Ok((train, valid, name))
    }

    fn train_impl(&self, request: &TrainRequest) -> Result<Report, MoleculeError> {
        let mut config: MoleculeConfig = parse_toml(&request.config_text, &request.config_origin)?;
        if let Some(steps) = request.steps {
            config.training.steps = steps;
        }
        config.validate()?;
        let (train_set, valid_set, dataset) = self.load_sets(&config, request)?;
        let stats = MoleculeStats::from_molecules(&train_set, &dataset);
        let train = MoleculeData::new(&train_set, &config.encoding).map_err(MoleculeError::Data)?;
        let valid = MoleculeData::new(&valid_set, &config.encoding).map_err(MoleculeError::Data)?;

        let device = request.backend.device()?;
        device.seed(config.training.seed);
        let model = config
            .model
            .init(config.encoding.features(), &device.clone().autodiff());
        let trainer = Trainer {
            config: &config.training,
            schedule_config: &config.diffusion.schedule,
            space: &MoleculeSpace,
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
            trainer.run::<3, _, _, MoleculeData>(model, &train, Some(&valid), resume.as_deref())?;
        let seconds = started.elapsed().as_secs_f64();
        let mut report = outcome.report(seconds);
        report
            .metrics
            .insert(2, ("training molecules".into(), train_set.len() as f64));
        Ok(report)
    }

    fn sample_impl(&self, request: &SampleRequest) -> Result<Report, MoleculeError> {
        let device = request.backend.device()?;
        let loaded = load_molecule(request.checkpoint.as_deref(), &device)?;
        let mut atoms = None;
        for (key, value) in &request.options {
            match key.as_str() {
                "atoms" => {
                    let n: usize = value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        MoleculeError::Option {
                            key: key.clone(),
                            reason: format!("`{value}` is not a positive atom count"),
                        }
                    })?;
                    atoms = Some(n);
                }
                _ => {
                    return Err(MoleculeError::Option {
                        key: key.clone(),
                        reason: "unknown for the molecule modality (known: atoms)".into(),
                    })
                }
            }
        }
        if request.guidance.is_some() {
            return Err(MoleculeError::Option {
                key: "guidance".into(),
                reason: "the molecule model is unconditional".into(),
            });
        }
        let indices: Vec<usize> = request.shard.range(request.num_samples).collect();
        let how = Generation {
            sampler: SamplerConfig::new(request.sampler, request.steps),
            seed: request.seed,
            atoms,
            batch_size: request.batch_size,
            trajectory: request.trajectory,
        };
        let started = Instant::now();
        let generated = generate(&loaded, &indices, &how, &device)?;
        let seconds = started.elapsed().as_secs_f64();

        let stem = if request.shard.count == 1 {
            "molecules".to_string()
        } else {
            format!(
                "molecules.shard-{}-of-{}",
                request.shard.index, request.shard.count
            )
        };
        let molecules: Vec<&Molecule> = generated.molecules.iter().map(|(_, m)| m).collect();
        let analyses: Vec<metrics::Analysis> =
            molecules.iter().map(|m| metrics::analyse(m)).collect();
        let mut report = Report::default();
        report.files.extend(write::write_molecules(
            &request.out_dir,
            &stem,
            &generated.molecules,
            &analyses,
        )?);
        if request.trajectory {
            report.files.extend(write::write_trajectories(
                &request.out_dir,
                &stem,
                &generated.trajectories,
            )?);
        }
        report
            .metrics
            .push(("molecules".into(), molecules.len() as f64));
        report.metrics.push((
            "molecules/s".into(),
            molecules.len() as f64 / seconds.max(1e-9),
        ));
        if request.evaluate {
            let train_keys = training_keys(request.data_dir.as_deref());
            let summary = metrics::summarise(&analyses, train_keys.as_ref());
            report.files.extend(write::write_summary(
                &request.out_dir,
                &stem,
                &summary,
                &molecules,
                &loaded.stats,
            )?);
            push_summary(&mut report, &summary);
        }
        report.notes.push(format!(
            "model: {} (step {}), sampler {} with {} steps",
            request
                .checkpoint
                .as_ref()
                .map_or("bundled".to_string(), |p| p.display().to_string()),
            loaded.meta.step,
            request.sampler,
            request.steps.map_or("all".to_string(), |s| s.to_string()),
        ));
        Ok(report)
    }

    fn eval_impl(
        &self,
        files: &[PathBuf],
        data_dir: Option<&Path>,
    ) -> Result<Report, MoleculeError> {
        let mut molecules = Vec::new();
        for file in files {
            let is_sdf = file.extension().is_some_and(|e| e == "sdf");
            if is_sdf {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| MoleculeError::Data(format!("{}: {e}", file.display())))?;
                molecules.extend(sdf::parse_sdf(&text, file)?.into_iter().map(|(m, _)| m));
            } else {
                molecules.extend(xyz::read_xyz(file)?);
            }
        }
        let analyses: Vec<metrics::Analysis> = molecules.iter().map(metrics::analyse).collect();
        let keys = training_keys(data_dir);
        let summary = metrics::summarise(&analyses, keys.as_ref());
        let mut report = Report::default();
        push_summary(&mut report, &summary);
        if keys.is_none() {
            report
                .notes
                .push("novelty needs the QM9 training split (--data DIR)".into());
        } else if qm9_file(data_dir, "train").is_err() {
            report
                .notes
                .push("novelty against the bundled QM9-train key hashes".into());
        }
        Ok(report)
    }

    fn bench_impl(&self, request: &BenchRequest) -> Result<Report, MoleculeError> {
        let device = request.backend.device()?;
        let data_dir = diffgen_core::modality::resolve_data_dir(None);
        let molecules = match qm9_file(data_dir.as_deref(), "valid") {
            Ok(path) => xyz::read_xyz(&path)?,
            Err(_) => {
                return Err(MoleculeError::Data(
                    "bench needs QM9 (--data or DIFFGEN_DATA)".into(),
                ))
            }
        };
        let encoding = Encoding::qm9();
        let data = MoleculeData::new(&molecules, &encoding).map_err(MoleculeError::Data)?;
        let schedule = diffgen_core::ScheduleConfig::edm_polynomial();
        let mut report = Report::default();
        use diffgen_core::train::Batching;
        // Random batches, as EDM and the PyTorch reference draw them: the fused kernel does
        // the edge work of real atoms only, so size bucketing no longer pays. `--train-steps 0`
        // times sampling alone.
        let shapes: &[(usize, usize, Batching)] = if request.train_steps == 0 {
            &[]
        } else {
            &[
                (4, 128, Batching::Shuffled),
                (4, 128, Batching::BySize),
                (9, 256, Batching::Shuffled),
            ]
        };
        for &(layers, hidden, batching) in shapes {
            let steps = request.train_steps;
            let config = egnn::EgnnConfig {
                layers,
                hidden,
                coords_range: 15.0,
                norm_constant: 1.0,
                normalization_factor: 1.0,
            };
            let training = diffgen_core::train::TrainConfig {
                steps: steps as u64,
                batch_size: request.batch_size,
                batching,
                seed: 0,
                optimizer: Default::default(),
                lr_schedule: Default::default(),
                grad_clip: diffgen_core::train::GradClip::Adaptive {
                    window: 50,
                    initial: 3000.0,
                },
                ema: Default::default(),
                log_every: u64::MAX,
                val_every: 0,
                val_batches: 0,
                checkpoint_every: 0,
            };
            let dir =
                std::env::temp_dir().join(format!("diffgen-bench-mol-{}", std::process::id()));
            let trainer = Trainer {
                config: &training,
                schedule_config: &schedule,
                space: &MoleculeSpace,
                weighting: Default::default(),
                out_dir: dir.clone(),
                device: device.clone(),
                modality: NAME.into(),
                modality_config: serde_json::Value::Null,
                data_stats: serde_json::Value::Null,
                show_progress: false,
                stop_at: None,
            };
            // One step first: parameters initialise lazily.
            let warm = diffgen_core::train::TrainConfig {
                steps: 1,
                ..training.clone()
            };
            let warm_trainer = Trainer {
                config: &warm,
                ..trainer
            };
            let model = config.init(encoding.features(), &device.clone().autodiff());
            warm_trainer.run::<3, _, _, MoleculeData>(model, &data, None, None)?;
            let trainer = Trainer {
                config: &training,
                ..warm_trainer
            };
            let model = config.init(encoding.features(), &device.clone().autodiff());
            let started = Instant::now();
            trainer.run::<3, _, _, MoleculeData>(model, &data, None, None)?;
            let per_step = started.elapsed().as_secs_f64() / steps as f64;
            let _ = std::fs::remove_dir_all(&dir);
            report.metrics.push((
                format!(
                    "EGNN {layers}×{hidden} train step, batch {} of QM9, {batching:?} batches (s)",
                    request.batch_size
                ),
                per_step,
            ));
        }
        if let Ok(loaded) = load_molecule(None, &device) {
            let how = Generation {
                sampler: SamplerConfig::new(SamplerKind::Ddpm, Some(request.sample_steps)),
                seed: 0,
                atoms: None,
                batch_size: request.num_samples,
                trajectory: false,
            };
            let indices: Vec<usize> = (0..request.num_samples.min(256)).collect();
            let started = Instant::now();
            generate(&loaded, &indices, &how, &device)?;
            report.metrics.push((
                format!(
                    "bundled model ({}×{}) molecules/s, {} DDPM steps",
                    loaded.config.model.layers, loaded.config.model.hidden, request.sample_steps
                ),
                indices.len() as f64 / started.elapsed().as_secs_f64(),
            ));
        }
        Ok(report)
    }
}

fn push_summary(report: &mut Report, s: &metrics::Summary) {
    report
        .metrics
        .push(("atom stability".into(), s.atom_stability));
    report
        .metrics
        .push(("molecule stability".into(), s.molecule_stability));
    report.metrics.push(("validity".into(), s.validity));
    report
        .metrics
        .push(("uniqueness (of valid)".into(), s.uniqueness));
    report
        .metrics
        .push(("valid × unique".into(), s.valid_and_unique));
    if let Some(n) = s.novelty {
        report.metrics.push(("novelty (of unique valid)".into(), n));
    }
}

/// The config the bundled model was trained with.
pub const SMALL_CONFIG: &str = include_str!("../../../configs/molecule-qm9-small.toml");

impl Modality for MoleculeModality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "3-D molecules (QM9 or your XYZ) with EDM's E(3)-equivariant EGNN; XYZ, SDF, PDB; stability, validity, uniqueness, novelty"
    }

    fn writers(&self) -> &'static [&'static str] {
        &["xyz", "sdf", "pdb", "trajectory xyz", "metrics json/png"]
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
        (!BUNDLED.is_empty())
            .then_some("EGNN trained on QM9 train on CPU (configs/molecule-qm9-small.toml)")
    }
}

/// Builds an inference checkpoint from EDM's weights (QM9 with hydrogens and charges).
pub fn import_edm(weights: &Path, stats: MoleculeStats, out: &Path) -> Result<(), MoleculeError> {
    let bytes = std::fs::read(weights)
        .map_err(|e| MoleculeError::Data(format!("{}: {e}", weights.display())))?;
    let edm = import::read_edm_safetensors(&bytes, weights).map_err(MoleculeError::Data)?;
    let encoding = Encoding::qm9();
    if edm.features != encoding.features() {
        return Err(MoleculeError::Data(format!(
            "{}: the EGNN takes {} features; QM9 with charges has {}",
            weights.display(),
            edm.features,
            encoding.features()
        )));
    }
    let mut config: MoleculeConfig =
        parse_toml(SMALL_CONFIG, Path::new("configs/molecule-qm9-small.toml"))?;
    config.model = edm.config.clone();
    let device = Device::flex();
    let model = config.model.init(encoding.features(), &device);
    let mut probe = Checkpoint::new(CheckpointMeta {
        format: FORMAT_VERSION,
        diffgen_version: diffgen_core::VERSION.to_string(),
        modality: NAME.to_string(),
        config: serde_json::to_value(&config).map_err(|e| CoreError::Other(e.to_string()))?,
        schedule: config.diffusion.schedule.clone(),
        data: serde_json::to_value(&stats).map_err(|e| CoreError::Other(e.to_string()))?,
        step: 0,
        resume: None,
    });
    let paths: Vec<String> = probe
        .insert_module(EMA_PREFIX, &model)
        .into_keys()
        .collect();
    probe.tensors = edm
        .to_ours(&paths, EMA_PREFIX)
        .map_err(MoleculeError::Data)?;
    // Loading checks every shape before anything is written.
    probe.load_module(EMA_PREFIX, model, None, &device, weights)?;
    probe.save(out)?;
    Ok(())
}
