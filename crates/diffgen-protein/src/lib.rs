//! The protein modality: backbones as six angles per residue, diffused on a torus.
//!
//! After FoldingDiff (Wu et al. 2022): each residue is described by φ, ψ, ω and the bond
//! angles N-CA-C, CA-C-N, C-N-CA; the angles are centred by their training means, noised with
//! a wrapped normal and denoised by a transformer over residues. NeRF rebuilds N, CA, C (and
//! O in the peptide plane) from sampled angles; writers, DSSP, TM-score and the structure
//! metrics live in this crate too.

#![warn(missing_docs)]

pub mod ca;
pub mod config;
pub mod data;
pub mod dssp;
pub mod error;
pub mod fold_class;
pub mod geometry;
pub mod io;
pub mod lengths;
pub mod metrics;
pub mod model;
pub mod novelty;
pub mod page;
pub mod rama_floor;
pub mod rebuild;
pub mod space;
pub mod structure;
pub mod tmscore;
pub mod write;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use diffgen_core::checkpoint::{Checkpoint, CheckpointMeta};
use diffgen_core::config::parse_toml;
use diffgen_core::modality::{BenchRequest, Report, SampleRequest};
pub use diffgen_core::pipeline::Generation;
use diffgen_core::pipeline::{
    self, BenchCase, DataRequest, EvalContext, FramePolicy, Generated, Loaded, ModalityInfo,
    OptionKind, OptionSpec, OptionValues, Pipeline, Planned, Registered, RunOutput, TrainSets,
};
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::{CoreError, Denoiser, NoiseSpace};

pub use config::{ProteinConfig, ProteinSource};
use data::{angles_of, ProteinData, ProteinStats};
pub use error::ProteinError;
use geometry::backbone_from_angles;
use model::{ProteinDenoiser, FEATURES};
use space::{ProteinContext, TorusSpace};
use structure::Backbone;

/// The registration: one line in the CLI's registry names it.
pub static MODALITY: Registered<ProteinPipeline, 3> = Registered(ProteinPipeline);

/// The modality's name (`--modality protein-angles`; it was `protein` until the Cα model
/// won issue 14's comparison and took that name).
pub const NAME: &str = "protein-angles";

/// The bundled model: trained by `diffgen train --modality protein-angles --config
/// configs/protein-cath.toml` (as `protein`, before the rename).
static BUNDLED: &[u8] = include_bytes!("../weights/protein-cath.safetensors");

/// The config the bundled model was trained with (and `bench` measures).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/protein-cath.toml");

/// Seed salt of the per-sample streams that draw chain lengths (noise uses the seed itself).
pub(crate) const LENGTH_STREAM: u64 = 0x4c45_4e47_5448;

/// Chain length of the bench.
pub(crate) const BENCH_LENGTH: usize = 128;

const LENGTH_OPTION: OptionSpec = OptionSpec {
    name: "length",
    kind: OptionKind::Count { min: 3, max: 1024 },
    default: "drawn from the training lengths",
    help: "residues per chain",
};
const RESIDUE_OPTION: OptionSpec = OptionSpec {
    name: "residue",
    kind: OptionKind::Text,
    default: "the model's (GLY)",
    help: "three-letter residue name written for every residue",
};
const FORMAT_OPTION: OptionSpec = OptionSpec {
    name: "format",
    kind: OptionKind::Choice(&["pdb", "cif", "mmcif", "both"]),
    default: "pdb",
    help: "structure files to write (cif/mmcif/both add mmCIF beside the PDB)",
};

/// The sampling options of every protein model.
pub(crate) const INFO_OPTIONS: &[OptionSpec] = &[LENGTH_OPTION, RESIDUE_OPTION, FORMAT_OPTION];

/// The Cα model's: every protein model's, and its steric repulsion.
pub(crate) const CA_OPTIONS: &[OptionSpec] = &[
    LENGTH_OPTION,
    RESIDUE_OPTION,
    FORMAT_OPTION,
    OptionSpec {
        name: "steric",
        kind: OptionKind::Number {
            min: 0.0,
            max: ca::steric::MAX_DISTANCE,
        },
        default: "the model's [sampling] steric (bundled: 3.8)",
        help: "push non-local Cα pairs of each step's estimate apart to this distance (Å; 0: off)",
    },
    OptionSpec {
        name: "fold_class",
        kind: OptionKind::Choice(&["mainly_alpha", "mainly_beta", "alpha_beta", "few_ss"]),
        default: "each chain's class drawn from the training set's (fold-class models)",
        help: "condition every chain on this class (models trained with [model] fold_class; --guidance w > 1 pushes further)",
    },
    OptionSpec {
        name: "steric_until",
        kind: OptionKind::Number { min: 0.0, max: 1.0 },
        default: "the model's, else 0",
        help: "the time below which the steric push stops (the last steps are the network's)",
    },
];

static INFO: ModalityInfo = ModalityInfo {
    name: NAME,
    former_names: &["protein"],
    summary: "protein backbones as φ/ψ/ω and bond angles on a torus (FoldingDiff); transformer; PDB, mmCIF; DSSP, TM-score",
    writers: &["pdb", "mmcif", "trajectory pdb (multi-model)"],
    noun: "backbones",
    bundled: BUNDLED,
    bundled_summary: "FoldingDiff-style angle diffusion trained on CATH S40 train (configs/protein-cath.toml)",
    variants: &[],
    default_config: (DEFAULT_CONFIG, "configs/protein-cath.toml"),
    options: INFO_OPTIONS,
};

diffgen_core::modality_config!(ProteinConfig);

/// The protein modality.
pub struct ProteinPipeline;

/// A protein model ready to sample.
pub type LoadedProtein = Loaded<ProteinPipeline, 3>;

/// The protein modality's typed sampling options.
#[derive(Debug, Clone, Default)]
pub struct ProteinOptions {
    /// Residues per chain; None: drawn from the training lengths.
    pub length: Option<usize>,
    /// Residue name written (None: the model's).
    pub residue_name: Option<String>,
    /// Write mmCIF beside the PDB.
    pub mmcif: bool,
    /// Cα model: the steric push's distance (Å; 0 off), None: the model's.
    pub steric: Option<f64>,
    /// Cα model: the time below which it stops, None: the model's.
    pub steric_until: Option<f64>,
    /// Cα model with fold classes: every chain's class (None: drawn per chain).
    pub fold_class: Option<fold_class::FoldClass>,
}

/// Whether a checkpoint holds a Cα model rather than an angle model (both were labelled
/// `protein` in their time): its stored config sets the radial bases of pairwise distances,
/// which only the Cα network reads (`model.rbf`, required in Cα configs).
pub(crate) fn holds_ca_model(meta: &CheckpointMeta) -> bool {
    let model = meta.config.get("model");
    model.and_then(|m| m.get("rbf")).is_some()
}

/// Loads a protein checkpoint (file, or the bundled model when `path` is None).
pub fn load_protein(path: Option<&Path>, device: &Device) -> Result<LoadedProtein, ProteinError> {
    pipeline::load(&ProteinPipeline, path, device)
}

/// Draws the global samples `indices`; each chain's noise depends only on the seed, its
/// index and its length, so batch size and shards do not change it.
pub fn generate(
    loaded: &LoadedProtein,
    options: &ProteinOptions,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated<Backbone>, ProteinError> {
    pipeline::generate(&ProteinPipeline, loaded, options, indices, how, device)
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
    let schedule = loaded
        .config
        .diffusion
        .schedule
        .as_ref()
        .ok_or_else(|| {
            diffgen_core::CoreError::Other("re-noising needs a diffusion schedule".into())
        })?
        .build()?;
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
pub(crate) struct SourceSets {
    pub(crate) train: Vec<Backbone>,
    pub(crate) valid: Vec<Backbone>,
    pub(crate) warnings: Vec<String>,
}

pub(crate) fn load_source(
    data: &config::ProteinDataConfig,
    origin: &Path,
    data_dir: Option<&Path>,
) -> Result<SourceSets, ProteinError> {
    match &data.source {
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
            let (all, warnings) = io::read_structure_dir(&dir, chains.as_deref(), data.min_length)?;
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

/// The fixed train subset the novelty figure is measured against, when the data is present.
fn novelty_set(data_dir: Option<&Path>) -> Option<Vec<Backbone>> {
    novelty::load_subset(shared_root(data_dir).ok()?).ok()
}

/// Metric rows as report figures, the test split's in a reference column beside them.
fn push_evaluation(report: &mut Report, evaluation: &metrics::Evaluation) {
    let mut test = diffgen_core::modality::ReferenceColumn {
        name: "test split".into(),
        source: "CATH S40 test split (../shared/datasets, or the figures bundled from it)".into(),
        values: Default::default(),
    };
    for row in &evaluation.rows {
        // Fractions of residues or structures print as percentages.
        let share = ["ss_", "clash_rate_", "ca_ca_in_"];
        match share.iter().any(|prefix| row.name.starts_with(prefix)) {
            true => report.share(row.name.clone(), row.samples),
            false => report.figure(row.name.clone(), row.samples),
        }
        if let Some(reference) = row.reference {
            test.values.insert(row.name.clone(), reference);
        }
    }
    if !test.values.is_empty() {
        report.references.push(test);
    }
    report.notes.extend(evaluation.notes.iter().cloned());
}

/// Each backbone as `samples/sample-NNNNN.pdb` (and `.cif`), trajectories as multi-model
/// PDBs: what every protein model writes.
pub(crate) fn write_backbones(
    generated: &Generated<Backbone>,
    residue: &str,
    mmcif: bool,
    out: &mut RunOutput,
) -> Result<(), ProteinError> {
    for (i, backbone) in generated.iter() {
        write::write_pdb(
            &out.sample_file(i, "pdb")?,
            std::slice::from_ref(backbone),
            residue,
        )?;
        if mmcif {
            write::write_mmcif(&out.sample_file(i, "cif")?, backbone, residue)?;
        }
    }
    if !generated.frames.is_empty() {
        for (k, &i) in generated.indices.iter().enumerate() {
            let frames: Vec<Backbone> = generated.trajectory(k).cloned().collect();
            write::write_pdb(&out.trajectory_file(i, "pdb")?, &frames, residue)?;
        }
    }
    Ok(())
}

/// Metrics beside the test split's (a whole run only: a shard is not a sample of the
/// model's distribution).
pub(crate) fn evaluate_backbones(
    generated: &Generated<Backbone>,
    context: EvalContext<'_>,
    out: &mut RunOutput,
    report: &mut Report,
) -> Result<(), ProteinError> {
    if context.request.shard.count != 1 || generated.samples.is_empty() {
        return Ok(());
    }
    let reference = reference_set(context.data_dir);
    let files = metrics::EvalFiles {
        json: out.collection("metrics.json"),
        ramachandran: out.collection("ramachandran.png"),
    };
    let evaluation = metrics::evaluate_into(
        &generated.samples,
        reference.as_deref(),
        novelty_set(context.data_dir).as_deref(),
        &files,
    )?;
    push_evaluation(report, &evaluation);
    Ok(())
}

/// `diffgen eval` of PDB/mmCIF files: every chain in them, beside the test split.
pub(crate) fn eval_backbone_files(
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
    let evaluation = metrics::evaluate(
        &samples,
        reference.as_deref(),
        novelty_set(data_dir).as_deref(),
        &out_dir,
    )?;
    push_evaluation(&mut report, &evaluation);
    report.files.extend(evaluation.files.iter().cloned());
    Ok(report)
}

/// The sampling options every protein model takes (`--length`, `--residue`, `--format`).
pub(crate) fn protein_options(
    values: &OptionValues,
    request: &SampleRequest,
    trained: &[(usize, u64)],
    conditional: bool,
    warnings: &mut Vec<String>,
) -> Result<ProteinOptions, ProteinError> {
    if !conditional && request.guidance.is_some() {
        return Err(ProteinError::setting(
            "guidance",
            "this protein model is unconditional; drop --guidance",
        ));
    }
    let fold_class = values
        .text("fold_class")
        .and_then(fold_class::FoldClass::parse);
    if !conditional && fold_class.is_some() {
        return Err(ProteinError::setting(
            "fold_class",
            "this protein model was trained without fold classes",
        ));
    }
    let residue_name = match values.text("residue") {
        Some(name) => {
            let name = name.to_ascii_uppercase();
            write::check_residue_name(&name)?;
            Some(name)
        }
        None => None,
    };
    let length = values.count("length");
    warnings.extend(lengths::outside_training(trained, length));
    Ok(ProteinOptions {
        length,
        residue_name,
        mmcif: values.text("format").is_some_and(|f| f != "pdb"),
        steric: values.number("steric"),
        steric_until: values.number("steric_until"),
        fold_class,
    })
}

impl Pipeline<3> for ProteinPipeline {
    type Config = ProteinConfig;
    type Stats = ProteinStats;
    type Space = TorusSpace;
    type Model = ProteinDenoiser;
    type Data = ProteinData;
    type Options = ProteinOptions;
    type Condition = ();
    type Sample = Backbone;
    type Error = ProteinError;

    fn info(&self) -> &'static ModalityInfo {
        &INFO
    }

    fn recognises(&self, meta: &CheckpointMeta) -> bool {
        !holds_ca_model(meta)
    }

    /// A Cα checkpoint labelled `protein` is sent to that modality, not misread.
    fn check_checkpoint(&self, checkpoint: &Checkpoint, origin: &Path) -> Result<(), ProteinError> {
        if holds_ca_model(&checkpoint.meta) {
            return Err(CoreError::checkpoint(
                origin,
                format!("holds a Cα model; use `--modality {}`", ca::NAME),
            )
            .into());
        }
        Ok(())
    }

    fn init_model(
        &self,
        config: &ProteinConfig,
        _: &ProteinStats,
        device: &Device,
    ) -> ProteinDenoiser {
        config.model.init(config.diffusion.objective, device)
    }

    fn space(&self, _: &ProteinConfig, _: &ProteinStats) -> TorusSpace {
        TorusSpace
    }

    fn load_data(
        &self,
        config: &ProteinConfig,
        request: &DataRequest<'_>,
    ) -> Result<TrainSets<ProteinData, ProteinStats>, ProteinError> {
        let SourceSets {
            train: train_set,
            valid: valid_set,
            warnings,
        } = load_source(&config.data, request.config_origin, request.data_dir)?;
        let mut train_angles = angles_of(&train_set, config.data.min_length);
        if let Some(max) = config.data.max_train_chains {
            train_angles.truncate(max);
        }
        let valid_angles = angles_of(&valid_set, config.data.min_length);
        if train_angles.is_empty() {
            let shown: String = warnings
                .iter()
                .take(5)
                .map(|w| format!("\n  {w}"))
                .collect();
            return Err(ProteinError::setting(
                "data",
                format!(
                    "no training chain has ≥ {} residues{shown}",
                    config.data.min_length
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
        Ok(TrainSets {
            train,
            validation: (!valid_angles.is_empty()).then_some(valid),
            stats,
            summary: vec![("training chains".into(), train_angles.len() as f64)],
            notes: warnings,
        })
    }

    fn options(
        &self,
        loaded: &LoadedProtein,
        values: &OptionValues,
        request: &SampleRequest,
        warnings: &mut Vec<String>,
    ) -> Result<ProteinOptions, ProteinError> {
        protein_options(values, request, &loaded.stats.lengths, false, warnings)
    }

    fn plan(
        &self,
        loaded: &LoadedProtein,
        options: &ProteinOptions,
        index: usize,
        seed: u64,
    ) -> Planned<()> {
        Planned::sized(index, options.length, seed, LENGTH_STREAM, |rng| {
            loaded.stats.draw_length(rng)
        })
    }

    fn batch(
        &self,
        _: &LoadedProtein,
        items: &[Planned<()>],
        device: &Device,
    ) -> Result<([usize; 3], ProteinContext), ProteinError> {
        let lengths: Vec<usize> = items.iter().map(|p| p.size).collect();
        let l = lengths.iter().copied().max().unwrap_or(1);
        Ok((
            [items.len(), l, FEATURES],
            ProteinContext::new(&lengths, device),
        ))
    }

    fn decode(
        &self,
        loaded: &LoadedProtein,
        state: Tensor<3>,
        items: &[Planned<()>],
    ) -> Vec<Backbone> {
        let l = state.dims()[1];
        let values = to_vec(state);
        items
            .iter()
            .enumerate()
            .map(|(r, p)| {
                let angles: Vec<_> = (0..p.size)
                    .map(|k| {
                        loaded
                            .stats
                            .uncentre(&values[(r * l + k) * FEATURES..][..FEATURES])
                    })
                    .collect();
                backbone_from_angles(&format!("sample_{:04}", p.index), &angles)
            })
            .collect()
    }

    fn frames(&self, _: &ProteinOptions, trajectory: bool, total: usize) -> Option<FramePolicy> {
        trajectory.then(|| FramePolicy::at_most(total, 50))
    }

    fn write(
        &self,
        loaded: &LoadedProtein,
        options: &ProteinOptions,
        generated: &Generated<Backbone>,
        _request: &SampleRequest,
        out: &mut RunOutput,
    ) -> Result<(), ProteinError> {
        let residue = options
            .residue_name
            .clone()
            .unwrap_or_else(|| loaded.config.data.residue_name.clone());
        write_backbones(generated, &residue, options.mmcif, out)
    }

    /// Metrics beside the test split's (a whole run only: a shard is not a sample of the
    /// model's distribution).
    fn evaluate(
        &self,
        _: &LoadedProtein,
        _: &ProteinOptions,
        generated: &Generated<Backbone>,
        context: EvalContext<'_>,
        out: &mut RunOutput,
        report: &mut Report,
    ) -> Result<(), ProteinError> {
        evaluate_backbones(generated, context, out, report)
    }

    fn page_sections(
        &self,
        run: &diffgen_core::page::RunDir,
    ) -> Result<Vec<diffgen_core::page::PageSection>, ProteinError> {
        page::sections(run)
    }

    fn eval_files(
        &self,
        files: &[PathBuf],
        data_dir: Option<&Path>,
    ) -> Result<Report, ProteinError> {
        eval_backbone_files(files, data_dir)
    }

    /// The bundled transformer's size on random angles at length 128 (speed does not depend
    /// on the data).
    fn bench_cases(&self, _: &BenchRequest) -> Result<Vec<BenchCase<Self, 3>>, ProteinError> {
        let config: ProteinConfig = parse_toml(DEFAULT_CONFIG, Path::new(INFO.default_config.1))?;
        let mut rng = SeededRng::new(0);
        let chains: Vec<Vec<geometry::Angles>> = (0..256)
            .map(|_| {
                (0..BENCH_LENGTH)
                    .map(|_| {
                        std::array::from_fn(|_| (rng.uniform() * 2.0 - 1.0) * std::f64::consts::PI)
                    })
                    .collect()
            })
            .collect();
        let stats = ProteinStats::from_chains(&chains, BENCH_LENGTH, "random");
        let data = ProteinData::new(&chains, &stats, BENCH_LENGTH);
        let label = format!(
            "transformer {}×{}, length {BENCH_LENGTH}",
            config.model.layers, config.model.hidden
        );
        Ok(vec![BenchCase {
            label,
            config,
            data,
            stats,
        }])
    }

    fn bench_options(&self) -> std::collections::BTreeMap<String, String> {
        [("length".to_string(), BENCH_LENGTH.to_string())].into()
    }
}
