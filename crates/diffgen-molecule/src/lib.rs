//! The molecule modality: E(3)-equivariant diffusion on 3-D molecules, after EDM
//! (Hoogeboom et al., ICML 2022).
//!
//! Positions diffuse in the zero-centre-of-mass subspace and atom types as scaled Gaussian
//! features; EDM's EGNN predicts the noise. Outputs are XYZ, SDF (bonds perceived with
//! EDM's tables) and PDB files, with EDM's stability and built-in validity, uniqueness and
//! novelty.

#![warn(missing_docs)]

pub mod bonds;
pub mod config;
pub mod data;
pub mod egnn;
pub mod elements;
pub mod import;
pub mod joint;
pub mod metrics;
pub mod page;
pub mod pdb;
pub mod perceive;
pub mod read;
pub mod sdf;
pub mod smiles;
pub mod space;
pub mod write;
pub mod xyz;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use diffgen_core::checkpoint::{Checkpoint, CheckpointMeta, EMA_PREFIX, FORMAT_VERSION};
use diffgen_core::config::parse_toml;
use diffgen_core::modality::{BenchRequest, ModalityCommand, Report, SampleRequest};
pub use diffgen_core::pipeline::Generation;
use diffgen_core::pipeline::{
    self, Batching, BenchCase, BundledModel, DataRequest, EvalContext, Generated, Loaded,
    ModalityInfo, OptionKind, OptionSpec, OptionValues, Pipeline, Planned, Registered, RunOutput,
    TrainSets, WithCommands,
};
use diffgen_core::process::StateLayout;
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::to_vec;
use diffgen_core::train::{Batching as TrainBatching, GradClip};
use diffgen_core::{CoreError, Denoiser, Objective};

pub use config::MoleculeConfig;
use config::MoleculeSource;
use data::{Encoding, MoleculeData, MoleculeStats};
use egnn::EgnnDynamics;
use space::{MolContext, MoleculeSpace};
use xyz::Molecule;

/// The registration, with the `import-edm` command: one line in the CLI's registry.
pub static MODALITY: WithCommands<MoleculePipeline, 3> =
    Registered::with_commands(MoleculePipeline, COMMANDS);

static COMMANDS: &[ModalityCommand] = &[ModalityCommand {
    name: "import-edm",
    about: "convert EDM's released PyTorch weights into a molecule checkpoint",
    run: import::import_edm_command,
}];

/// The modality's name: `--modality molecule`, and the `modality` its checkpoints record.
pub const NAME: &str = "molecule";

/// The bundled default: the joint model's EMA weights at the end of the CPU campaign's
/// cool-down, `runs/mol-joint-cooldown` (step 14,035; see its README: what it was trained on
/// and what it reaches).
static BUNDLED_JOINT: &[u8] = include_bytes!("../weights/molecule-qm9-joint.safetensors");

/// EDM's formulation (coordinates and atom types, bonds inferred from distances), trained
/// on CPU with `configs/molecule-qm9-small.toml`: `--checkpoint bundled:edm`.
static BUNDLED_EDM: &[u8] = include_bytes!("../weights/molecule-qm9-edm.safetensors");

/// The joint model's config (types, charges and bonds with the coordinates).
pub const JOINT_CONFIG: &str = include_str!("../../../configs/molecule-qm9-joint.toml");
const JOINT_CONFIG_PATH: &str = "configs/molecule-qm9-joint.toml";

/// The config `bundled:edm` was trained with.
pub const SMALL_CONFIG: &str = include_str!("../../../configs/molecule-qm9-small.toml");
const SMALL_CONFIG_PATH: &str = "configs/molecule-qm9-small.toml";

/// Salt of the streams that draw atom counts, apart from the noise streams.
const COUNT_STREAM: u64 = 0x6174_6f6d_7321;

static INFO: ModalityInfo = ModalityInfo {
    name: NAME,
    former_names: &[],
    summary: "3-D molecules (QM9 or your XYZ): atoms, charges, bonds and coordinates generated together by an E(3)-equivariant EGNN with pair features, or EDM's EGNN; XYZ, SDF, PDB; stability, validity, uniqueness, novelty, geometry under both conventions",
    writers: &["xyz", "sdf", "pdb", "trajectory xyz", "metrics json/png"],
    noun: "molecules",
    bundled: BUNDLED_JOINT,
    bundled_summary: "joint model (types, charges, bonds and coordinates) trained on QM9 train on CPU (configs/molecule-qm9-joint.toml, runs/mol-joint and its cool-down runs/mol-joint-cooldown, step 14,035)",
    variants: &[BundledModel {
        name: "edm",
        bytes: BUNDLED_EDM,
        summary: "EDM's EGNN (coordinates and types; bonds inferred from distances) trained on QM9 train on CPU (configs/molecule-qm9-small.toml)",
    }],
    default_config: (JOINT_CONFIG, JOINT_CONFIG_PATH),
    options: &[OptionSpec {
        name: "atoms",
        kind: OptionKind::Count { min: 1, max: 1000 },
        default: "drawn from the training histogram",
        help: "atoms per molecule",
    }],
};

/// The molecule modality's errors; the file readers' name the file and line.
#[derive(Debug, thiserror::Error)]
pub enum MoleculeError {
    /// An error of the core: settings, checkpoints, training.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// An XYZ file that cannot be read.
    #[error(transparent)]
    Xyz(#[from] xyz::XyzError),
    /// An SDF file that cannot be read.
    #[error(transparent)]
    Sdf(#[from] sdf::SdfError),
    /// A PDB file that cannot be read.
    #[error(transparent)]
    Pdb(#[from] pdb::PdbError),
    /// Missing or unusable data: no data root, no QM9 files, a molecule the encoding lacks
    /// an element for, EDM weights of the wrong layout, ….
    #[error("{0}")]
    Data(String),
}

impl Denoiser<3> for EgnnDynamics {
    type Context = MolContext;

    /// EDM's EGNN predicts ε; the joint model the clean state.
    fn objective(&self) -> Objective {
        match self.joint {
            None => Objective::Epsilon,
            Some(_) => Objective::Sample,
        }
    }

    fn predict(&self, x_t: Tensor<3>, t: Tensor<1>, context: &MolContext) -> Tensor<3> {
        self.predict_with(x_t, t, context, None)
    }

    fn self_conditioned(&self) -> bool {
        self.joint
            .as_ref()
            .is_some_and(|j| j.shape().self_conditioning)
    }

    fn predict_with(
        &self,
        x_t: Tensor<3>,
        t: Tensor<1>,
        context: &MolContext,
        previous: Option<Tensor<3>>,
    ) -> Tensor<3> {
        match self.joint {
            None => self.forward(x_t, t, &context.masks),
            Some(_) => {
                let path = egnn::EdgePath::best_for(&x_t);
                self.forward_joint(x_t, t, &context.masks, previous, path)
            }
        }
    }
}

diffgen_core::modality_config!(MoleculeConfig);

/// The molecule modality.
pub struct MoleculePipeline;

/// One generated molecule, with the bonds and formal charges the model generated (joint
/// models; EDM's EGNN generates atoms only, and its bonds are inferred from distances).
#[derive(Debug, Clone, PartialEq)]
pub struct MoleculeSample {
    /// Atoms and coordinates.
    pub molecule: Molecule,
    /// The generated bonds and charges.
    pub structure: Option<perceive::Perceived>,
}

impl std::ops::Deref for MoleculeSample {
    type Target = Molecule;

    fn deref(&self) -> &Molecule {
        &self.molecule
    }
}

/// The joint layout of a config's states, from its data statistics.
fn joint_shape(config: &MoleculeConfig, stats: &MoleculeStats) -> Option<joint::JointShape> {
    config.joint.as_ref().map(|_| joint::JointShape {
        types: config.encoding.elements.len(),
        max_atoms: stats.max_atoms(),
        self_conditioning: config.diffusion.self_conditioning,
    })
}

/// Molecules, bonds and charges of joint states `[B, N, W]`: the most likely class of
/// every one-hot (the sampler ends one-hot), bonds read above the diagonal.
fn decode_joint(
    encoding: &Encoding,
    shape: &joint::JointShape,
    state: Tensor<3>,
    counts: &[usize],
) -> Vec<MoleculeSample> {
    let [_, n, w] = state.dims();
    let v = to_vec(state);
    let argmax =
        |row: &[f32]| (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best });
    counts
        .iter()
        .enumerate()
        .map(|(b, &count)| {
            let row = |i: usize| &v[(b * n + i) * w..(b * n + i + 1) * w];
            let mut molecule = Molecule {
                atoms: Vec::with_capacity(count),
                positions: Vec::with_capacity(count),
                comment: String::new(),
            };
            let mut charges = Vec::with_capacity(count);
            let mut bonds = Vec::new();
            for i in 0..count {
                let r = row(i);
                molecule
                    .positions
                    .push([r[0] as f64, r[1] as f64, r[2] as f64]);
                let t = argmax(&r[shape.type_offset()..shape.charge_offset()]);
                molecule.atoms.push(encoding.elements.number(t));
                charges
                    .push(joint::CHARGES[argmax(&r[shape.charge_offset()..shape.bond_offset()])]);
                for j in (i + 1)..count {
                    let at = shape.bond_offset() + j * joint::BOND_CLASSES;
                    let order = argmax(&r[at..at + joint::BOND_CLASSES]);
                    if order > 0 {
                        bonds.push((i, j, order as u8));
                    }
                }
            }
            MoleculeSample {
                molecule,
                structure: Some(perceive::Perceived { bonds, charges }),
            }
        })
        .collect()
}

/// The precision of the coarsest format a run writes (PDB's 0.001 Å).
const WRITTEN_PRECISION: f64 = 1e-3;

/// Rounds coordinates to what every file holds, so that `eval` of any file `run` wrote
/// gives `run`'s own figures (a bond at a threshold would otherwise flip on re-reading).
fn round_positions(molecule: &mut Molecule) {
    for p in &mut molecule.positions {
        for v in p {
            *v = (*v / WRITTEN_PRECISION).round() * WRITTEN_PRECISION;
        }
    }
}

/// Every figure of a set of molecules: EDM's convention on all of them, and the own-bond
/// convention on those that carry bonds.
pub fn molecule_figures(
    samples: &[MoleculeSample],
    data_dir: Option<&Path>,
) -> metrics::reference::MoleculeFigures {
    let analyses: Vec<metrics::Analysis> = samples.iter().map(|s| metrics::analyse(s)).collect();
    let distances = metrics::summarise(&analyses, training_keys(data_dir).as_ref());
    let with_bonds: Vec<(&Molecule, &perceive::Perceived)> = samples
        .iter()
        .filter_map(|s| s.structure.as_ref().map(|p| (&s.molecule, p)))
        .collect();
    let own_bonds = (!with_bonds.is_empty()).then(|| {
        let analyses: Vec<_> = with_bonds
            .iter()
            .map(|(m, s)| metrics::structure::analyse_structure(m, s))
            .collect();
        let keys = training_structure_keys();
        let summary = metrics::structure::summarise_structures(&analyses, keys.as_ref());
        let geometry = metrics::reference::qm9().map(|q| {
            let generated =
                metrics::geometry::GeometryHistograms::from_structures(with_bonds.iter().copied());
            metrics::geometry::compare(&generated, &q.geometry)
        });
        (summary, geometry)
    });
    metrics::reference::MoleculeFigures {
        distances,
        own_bonds,
    }
}

/// A molecule model ready to sample.
pub type LoadedMolecule = Loaded<MoleculePipeline, 3>;

/// The molecule modality's typed sampling options.
#[derive(Debug, Clone, Copy, Default)]
pub struct MoleculeOptions {
    /// Atoms per molecule; None: drawn from the training histogram.
    pub atoms: Option<usize>,
}

/// Loads a molecule checkpoint (or the bundled model when `path` is None).
pub fn load_molecule(
    path: Option<&Path>,
    device: &Device,
) -> Result<LoadedMolecule, MoleculeError> {
    pipeline::load(&MoleculePipeline, path, device)
}

/// Draws the global samples `indices` (each molecule's noise depends only on the seed, its
/// index and its atom count, so batch size and shards do not change it).
pub fn generate(
    loaded: &LoadedMolecule,
    options: &MoleculeOptions,
    indices: &[usize],
    how: &Generation,
    device: &Device,
) -> Result<Generated<MoleculeSample>, MoleculeError> {
    pipeline::generate(&MoleculePipeline, loaded, options, indices, how, device)
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

/// Hashes of the [`metrics::structure::structure_key`]s of QM9 train's molecules with their
/// perceived bonds and charges (`examples/qm9_reference.rs` writes the file).
static QM9_TRAIN_STRUCTURE_KEYS: &[u8] = include_bytes!("../weights/qm9-train-structure-keys.bin");

/// The QM9 training split's structure-key hashes, for the novelty of molecules with their
/// own bonds: always the bundled copy (perceiving 100,000 molecules per `eval` is not worth
/// its minute).
pub fn training_structure_keys() -> Option<HashSet<u64>> {
    (!QM9_TRAIN_STRUCTURE_KEYS.is_empty()).then(|| {
        QM9_TRAIN_STRUCTURE_KEYS
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    })
}

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

/// The training and validation molecules of `config`, and the data set's name.
fn load_sets(
    config: &MoleculeConfig,
    request: &DataRequest<'_>,
) -> Result<(Vec<Molecule>, Vec<Molecule>, String), MoleculeError> {
    let (train, valid, name) = match &config.data.source {
        MoleculeSource::Qm9 => {
            let dir = request.data_dir;
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

impl Pipeline<3> for MoleculePipeline {
    type Config = MoleculeConfig;
    type Stats = MoleculeStats;
    type Space = MoleculeSpace;
    type Model = EgnnDynamics;
    type Data = MoleculeData;
    type Options = MoleculeOptions;
    type Condition = ();
    type Sample = MoleculeSample;
    type Error = MoleculeError;

    fn info(&self) -> &'static ModalityInfo {
        &INFO
    }

    fn init_model(
        &self,
        config: &MoleculeConfig,
        stats: &MoleculeStats,
        device: &Device,
    ) -> EgnnDynamics {
        match (&config.joint, joint_shape(config, stats)) {
            (Some(joint), Some(shape)) => joint.init(shape, device),
            _ => config.model.init(config.encoding.features(), device),
        }
    }

    fn space(&self, config: &MoleculeConfig, stats: &MoleculeStats) -> MoleculeSpace {
        MoleculeSpace {
            joint: joint_shape(config, stats),
        }
    }

    /// The joint model's product state: positions, types, charges, bonds.
    fn layout(
        &self,
        config: &MoleculeConfig,
        stats: &MoleculeStats,
    ) -> Result<StateLayout, MoleculeError> {
        let Some(shape) = joint_shape(config, stats) else {
            return Ok(StateLayout::single());
        };
        let frequencies = stats.joint.as_ref();
        Ok(StateLayout::builder()
            .continuous("positions", 3)
            .categorical(
                "types",
                1,
                shape.types,
                frequencies.map(|f| f.types.clone()),
            )
            .categorical(
                "charges",
                1,
                joint::CHARGES.len(),
                frequencies.map(|f| f.charges.clone()),
            )
            .categorical(
                "bonds",
                shape.max_atoms,
                joint::BOND_CLASSES,
                frequencies.map(|f| f.bonds.clone()),
            )
            .settings(&config.diffusion.parts)?)
    }

    fn load_data(
        &self,
        config: &MoleculeConfig,
        request: &DataRequest<'_>,
    ) -> Result<TrainSets<MoleculeData, MoleculeStats>, MoleculeError> {
        let (train_set, valid_set, dataset) = load_sets(config, request)?;
        let mut stats = MoleculeStats::from_molecules(&train_set, &dataset);
        if config.joint.is_none() {
            let train =
                MoleculeData::new(&train_set, &config.encoding).map_err(MoleculeError::Data)?;
            let valid =
                MoleculeData::new(&valid_set, &config.encoding).map_err(MoleculeError::Data)?;
            return Ok(TrainSets {
                train,
                validation: Some(valid),
                stats,
                summary: vec![("training molecules".into(), train_set.len() as f64)],
                notes: Vec::new(),
            });
        }
        // The joint model learns bonds and charges perceived from the geometry.
        let structures = |set: &[Molecule]| {
            let mut kept = Vec::with_capacity(set.len());
            let mut skipped = Vec::new();
            for m in set {
                match perceive::perceive(m)
                    .map_err(|e| e.to_string())
                    .and_then(|p| data::JointMolecule::new(m, &p, &config.encoding))
                {
                    Ok(j) => kept.push(j),
                    Err(e) => skipped.push(format!(
                        "{}: {e}",
                        m.comment.split('\t').next().unwrap_or("")
                    )),
                }
            }
            (kept, skipped)
        };
        let (train, skipped) = structures(&train_set);
        let (valid, _) = structures(&valid_set);
        stats.joint = Some(data::joint_frequencies(
            &train,
            config.encoding.elements.len(),
            skipped.len(),
        ));
        let shape = joint_shape(config, &stats).expect("a joint config");
        let mut notes = Vec::new();
        if !skipped.is_empty() {
            notes.push(format!(
                "{} training molecules have no valence-satisfying structure and are left out (first: {})",
                skipped.len(),
                skipped[0]
            ));
        }
        Ok(TrainSets {
            summary: vec![
                ("training molecules".into(), train.len() as f64),
                ("left out (no structure)".into(), skipped.len() as f64),
            ],
            train: MoleculeData::joint(train, shape),
            validation: Some(MoleculeData::joint(valid, shape)),
            stats,
            notes,
        })
    }

    fn options(
        &self,
        loaded: &LoadedMolecule,
        values: &OptionValues,
        request: &SampleRequest,
        warnings: &mut Vec<String>,
    ) -> Result<MoleculeOptions, MoleculeError> {
        if request.guidance.is_some() {
            return Err(
                CoreError::setting("guidance", "the molecule model is unconditional").into(),
            );
        }
        let atoms = values.count("atoms");
        let known = loaded.stats.atom_counts.keys();
        if let (Some(n), Some(&low), Some(&high)) = (atoms, known.clone().min(), known.max()) {
            if let Some(shape) = joint_shape(&loaded.config, &loaded.stats) {
                if n > shape.max_atoms {
                    return Err(CoreError::setting(
                        "atoms",
                        format!(
                            "{n}: this model's state holds bonds among at most {} atoms",
                            shape.max_atoms
                        ),
                    )
                    .into());
                }
            }
            if !(low..=high).contains(&n) {
                warnings.push(format!(
                    "--atoms {n}: the model was trained on molecules of {low} to {high} atoms \
                     ({}); expect broken molecules",
                    loaded.stats.dataset
                ));
            }
        }
        Ok(MoleculeOptions { atoms })
    }

    fn plan(
        &self,
        loaded: &LoadedMolecule,
        options: &MoleculeOptions,
        index: usize,
        seed: u64,
    ) -> Planned<()> {
        Planned::sized(index, options.atoms, seed, COUNT_STREAM, |rng| {
            loaded.stats.draw_count(rng)
        })
    }

    fn batch(
        &self,
        loaded: &LoadedMolecule,
        items: &[Planned<()>],
        device: &Device,
    ) -> Result<([usize; 3], MolContext), MoleculeError> {
        let counts: Vec<usize> = items.iter().map(|p| p.size).collect();
        let n_max = counts.iter().copied().max().unwrap_or(1);
        let channels = match joint_shape(&loaded.config, &loaded.stats) {
            Some(shape) => {
                if n_max > shape.max_atoms {
                    return Err(CoreError::setting(
                        "atoms",
                        format!(
                            "{n_max}: this joint model's states hold at most {} atoms",
                            shape.max_atoms
                        ),
                    )
                    .into());
                }
                shape.width()
            }
            None => loaded.config.encoding.channels(),
        };
        Ok((
            [items.len(), n_max, channels],
            MolContext::new(&counts, device),
        ))
    }

    fn decode(
        &self,
        loaded: &LoadedMolecule,
        state: Tensor<3>,
        items: &[Planned<()>],
    ) -> Vec<MoleculeSample> {
        let counts: Vec<usize> = items.iter().map(|p| p.size).collect();
        let samples = match joint_shape(&loaded.config, &loaded.stats) {
            Some(shape) => decode_joint(&loaded.config.encoding, &shape, state, &counts),
            None => loaded
                .config
                .encoding
                .decode(state, &counts)
                .into_iter()
                .map(|molecule| MoleculeSample {
                    molecule,
                    structure: None,
                })
                .collect(),
        };
        items
            .iter()
            .zip(samples)
            .map(|(p, mut s)| {
                s.molecule.comment = format!("diffgen molecule {}", p.index);
                round_positions(&mut s.molecule);
                s
            })
            .collect()
    }

    fn batching(&self, loaded: &LoadedMolecule, device: &Device) -> Batching {
        match loaded.model.padding_is_free(device) {
            true => Batching::Full,
            false => Batching::SimilarSize,
        }
    }

    fn write(
        &self,
        _: &LoadedMolecule,
        _: &MoleculeOptions,
        generated: &Generated<MoleculeSample>,
        _request: &SampleRequest,
        out: &mut RunOutput,
    ) -> Result<(), MoleculeError> {
        let analyses: Vec<metrics::Analysis> = generated
            .samples
            .iter()
            .map(|s| metrics::analyse(s))
            .collect();
        write::write_molecules(out, generated, &analyses)?;
        if !generated.frames.is_empty() {
            write::write_trajectories(out, generated)?;
        }
        Ok(())
    }

    fn evaluate(
        &self,
        loaded: &LoadedMolecule,
        _: &MoleculeOptions,
        generated: &Generated<MoleculeSample>,
        context: EvalContext<'_>,
        out: &mut RunOutput,
        report: &mut Report,
    ) -> Result<(), MoleculeError> {
        let figures = molecule_figures(&generated.samples, context.data_dir);
        figures.push(report);
        let molecules: Vec<Molecule> = generated
            .samples
            .iter()
            .map(|s| s.molecule.clone())
            .collect();
        write::write_summary(out, report, &molecules, &loaded.stats)?;
        Ok(())
    }

    fn page_sections(
        &self,
        run: &diffgen_core::page::RunDir,
    ) -> Result<Vec<diffgen_core::page::PageSection>, MoleculeError> {
        page::sections(run)
    }

    fn eval_files(
        &self,
        files: &[PathBuf],
        data_dir: Option<&Path>,
    ) -> Result<Report, MoleculeError> {
        let files = read::eval_inputs(files)?;
        let mut samples = Vec::new();
        for file in &files {
            samples.extend(read::read_samples(file)?);
        }
        if samples.is_empty() {
            return Err(MoleculeError::Data(format!(
                "no molecules in {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let carrying = samples.iter().filter(|s| s.structure.is_some()).count();
        let figures = molecule_figures(&samples, data_dir);
        let mut report = Report::default();
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        report.notes.push(format!(
            "{} from {}; {carrying} with their own bonds and charges",
            plural(samples.len(), "molecule", "molecules"),
            plural(files.len(), "file", "files"),
        ));
        report.figure("molecules", samples.len() as f64);
        figures.push(&mut report);
        if figures.distances.novelty.is_none() {
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

    /// EGNNs of the bundled and of EDM's size on random batches of QM9 valid, as EDM and the
    /// PyTorch reference draw them (the fused kernel does the edge work of real atoms only,
    /// so size bucketing no longer pays), and bucketed batches for comparison.
    fn bench_cases(
        &self,
        request: &BenchRequest,
    ) -> Result<Vec<BenchCase<Self, 3>>, MoleculeError> {
        let path = qm9_file(request.data_dir.as_deref(), "valid")
            .map_err(|_| MoleculeError::Data("bench needs QM9 (--data or DIFFGEN_DATA)".into()))?;
        // Absolute, as the joint case's config resolves relative paths from its own folder.
        let path = path.canonicalize().unwrap_or(path);
        let molecules = xyz::read_xyz(&path)?;
        let mut base: MoleculeConfig = parse_toml(SMALL_CONFIG, Path::new(SMALL_CONFIG_PATH))?;
        base.encoding = Encoding::qm9();
        base.diffusion.schedule = Some(diffgen_core::ScheduleConfig::edm_polynomial());
        base.diffusion.weighting = Default::default();
        let t = &mut base.training;
        t.seed = 0;
        t.optimizer = Default::default();
        t.lr_schedule = Default::default();
        t.ema = Default::default();
        t.grad_clip = GradClip::Adaptive {
            window: 50,
            initial: 3000.0,
        };
        let stats = MoleculeStats::from_molecules(&molecules, "qm9 valid");
        let mut cases = Vec::new();
        for (layers, hidden, batching) in [
            (4, 128, TrainBatching::Shuffled),
            (4, 128, TrainBatching::BySize),
            (9, 256, TrainBatching::Shuffled),
        ] {
            let mut config = base.clone();
            config.model = egnn::EgnnConfig {
                layers,
                hidden,
                coords_range: 15.0,
                norm_constant: 1.0,
                normalization_factor: 1.0,
            };
            config.training.batching = batching;
            cases.push(BenchCase {
                label: format!("EGNN {layers}×{hidden}, {batching:?} batches of QM9"),
                data: MoleculeData::new(&molecules, &config.encoding)
                    .map_err(MoleculeError::Data)?,
                config,
                stats: stats.clone(),
            });
        }
        // The joint model as configured, on perceived QM9-valid structures.
        let mut joint: MoleculeConfig = parse_toml(JOINT_CONFIG, Path::new(JOINT_CONFIG_PATH))?;
        joint.data.source = MoleculeSource::Xyz {
            train: path.clone(),
            valid: None,
        };
        joint.data.max_train_molecules = Some(5000);
        let request = DataRequest {
            data_dir: None,
            config_origin: Path::new(JOINT_CONFIG_PATH),
        };
        let sets = self.load_data(&joint, &request)?;
        let j = joint.joint.as_ref().expect("the joint config has [joint]");
        cases.push(BenchCase {
            label: format!(
                "joint EGNN {}×{} + pair features {}, shuffled batches of QM9",
                j.layers, j.hidden, j.edge_hidden
            ),
            data: sets.train,
            config: joint,
            stats: sets.stats,
        });
        Ok(cases)
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
    let mut config: MoleculeConfig = parse_toml(SMALL_CONFIG, Path::new(SMALL_CONFIG_PATH))?;
    config.model = edm.config.clone();
    let device = Device::flex();
    let model = config.model.init(encoding.features(), &device);
    let mut probe = Checkpoint::new(CheckpointMeta {
        format: FORMAT_VERSION,
        diffgen_version: diffgen_core::VERSION.to_string(),
        modality: NAME.to_string(),
        config: serde_json::to_value(&config)
            .map_err(|e| CoreError::Other(format!("serialising: {e}")))?,
        schedule: config.diffusion.schedule.clone(),
        data: serde_json::to_value(&stats)
            .map_err(|e| CoreError::Other(format!("serialising: {e}")))?,
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
