//! Backbones as Cα traces: positions flow from a Gaussian to the data (zero centre of mass,
//! in nm), denoised by a transformer whose attention each chain's pairwise distances bias;
//! N, C and O are rebuilt from the trace. The coordinate alternative to the angle model
//! (issue 14's comparison): errors do not add up along the chain, so compactness and
//! clashes are seen by the loss directly.

pub mod chirality;
pub mod config;
pub mod data;
pub mod features;
pub mod model;
pub mod pair_track;
pub mod readout;
pub mod space;
pub mod steric;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use diffgen_core::checkpoint::{Checkpoint, CheckpointMeta};
use diffgen_core::config::parse_toml;
use diffgen_core::modality::{BenchRequest, Report, SampleRequest};
use diffgen_core::pipeline::{
    BenchCase, DataRequest, EvalContext, FramePolicy, Generated, Loaded, ModalityInfo,
    OptionValues, Pipeline, Planned, Registered, RunOutput, TrainSets,
};
use diffgen_core::tensor_util::to_vec;
use diffgen_core::CoreError;
use diffgen_core::SeededRng;

use crate::fold_class::FoldClass;
use crate::space::ProteinContext;
use crate::structure::{Backbone, Vec3};
use crate::{ProteinError, ProteinOptions, ProteinSource};
use config::CaConfig;
use data::{CaData, CaStats, NM_PER_ANGSTROM};
use model::CaDenoiser;
use space::CaSpace;
use steric::StericRepulsion;

/// The registration (`diffgen … --modality protein`).
pub static MODALITY: Registered<CaPipeline, 3> = Registered(CaPipeline);

/// Salt of the streams fold classes are drawn from (apart from lengths and noise).
const FOLD_CLASS_STREAM: u64 = 0xf01d_c1a5;

/// A class drawn in proportion to `counts` (by label index).
fn draw_class(counts: &[u64], rng: &mut SeededRng) -> FoldClass {
    let total: u64 = counts.iter().sum();
    let mut left = rng.uniform() * total as f64;
    for (class, &count) in FoldClass::ALL.into_iter().zip(counts) {
        left -= count as f64;
        if left < 0.0 && count > 0 {
            return class;
        }
    }
    FoldClass::ALL[counts.iter().rposition(|&c| c > 0).unwrap_or(0)]
}

/// The modality's name: proteins' default design (it was `protein-ca` while under comparison).
pub const NAME: &str = "protein";

/// The bundled model: `runs/protein-ca-fold`'s EMA weights (fold classes; sampling on a power:6 grid
/// with the steric push).
static BUNDLED: &[u8] = include_bytes!("../../weights/protein-cath-ca.safetensors");

/// The config `bench` measures.
pub const DEFAULT_CONFIG: &str = include_str!("../../../../configs/protein-cath-ca.toml");
const DEFAULT_CONFIG_PATH: &str = "configs/protein-cath-ca.toml";

static INFO: ModalityInfo = ModalityInfo {
    name: NAME,
    former_names: &["protein-ca"],
    summary: "protein backbones as Cα traces (flow matching, zero centre of mass) with a distance-biased transformer; N, C, O rebuilt; PDB, mmCIF; DSSP, TM-score",
    writers: &["pdb", "mmcif", "trajectory pdb (multi-model)"],
    noun: "backbones",
    bundled: BUNDLED,
    bundled_summary: "Cα flow matching with a distance-biased transformer, with fold-class labels, trained on CATH S40 train (configs/protein-cath-ca.toml; runs/protein-ca-chiral, then runs/protein-ca-fold)",
    variants: &[],
    default_config: (DEFAULT_CONFIG, DEFAULT_CONFIG_PATH),
    options: crate::CA_OPTIONS,
};

diffgen_core::modality_config!(CaConfig);

/// The Cα modality.
pub struct CaPipeline;

/// A Cα model ready to sample.
pub type LoadedCa = Loaded<CaPipeline, 3>;

impl Pipeline<3> for CaPipeline {
    type Config = CaConfig;
    type Stats = CaStats;
    type Space = CaSpace;
    type Model = CaDenoiser;
    type Data = CaData;
    type Options = ProteinOptions;
    type Condition = Option<FoldClass>;
    type Sample = Backbone;
    type Error = ProteinError;

    fn info(&self) -> &'static ModalityInfo {
        &INFO
    }

    fn recognises(&self, meta: &CheckpointMeta) -> bool {
        crate::holds_ca_model(meta)
    }

    /// An angle-model checkpoint written when `protein` was the angle model carries this
    /// modality's name: it is sent to `protein-angles`, not misread.
    fn check_checkpoint(&self, checkpoint: &Checkpoint, origin: &Path) -> Result<(), ProteinError> {
        if !crate::holds_ca_model(&checkpoint.meta) {
            return Err(CoreError::checkpoint(
                origin,
                format!(
                    "holds an angle (torus) model, written when `protein` was that model; \
                     use `--modality {}`",
                    crate::NAME
                ),
            )
            .into());
        }
        Ok(())
    }

    fn init_model(&self, config: &CaConfig, _: &CaStats, device: &Device) -> CaDenoiser {
        config.model.init(config.diffusion.objective, device)
    }

    fn space(&self, config: &CaConfig, _: &CaStats) -> CaSpace {
        CaSpace {
            loss: config.loss,
            steric: config.sampling.steric,
        }
    }

    /// The options' steric push over the model's `[sampling] steric`.
    fn sampling_space(&self, loaded: &LoadedCa, options: &ProteinOptions) -> CaSpace {
        let model = loaded.config.sampling.steric;
        let distance = options.steric.or(model.map(|s| s.distance)).unwrap_or(0.0);
        let until = options
            .steric_until
            .or(model.map(|s| s.until))
            .unwrap_or(0.0);
        let steric = (distance > 0.0).then(|| StericRepulsion {
            distance,
            until,
            rounds: model.map_or(steric::DEFAULT_ROUNDS, |s| s.rounds),
        });
        CaSpace {
            loss: loaded.config.loss,
            steric,
        }
    }

    fn load_data(
        &self,
        config: &CaConfig,
        request: &DataRequest<'_>,
    ) -> Result<TrainSets<CaData, CaStats>, ProteinError> {
        let sets = crate::load_source(&config.data, request.config_origin, request.data_dir)?;
        let d = &config.data;
        let mut train = sets.train;
        if let Some(max) = d.max_train_chains {
            train.truncate(max);
        }
        let classes = config.model.fold_class;
        let train = CaData::labelled(&train, d.min_length, d.max_length, classes);
        let valid = CaData::labelled(&sets.valid, d.min_length, d.max_length, classes);
        if diffgen_core::train::TrainData::is_empty(&train) {
            return Err(ProteinError::setting(
                "data",
                format!("no training chain has ≥ {} residues", d.min_length),
            ));
        }
        let dataset = match &d.source {
            ProteinSource::CathS40 => "cath_s40".to_string(),
            ProteinSource::Directory { path, .. } => path.display().to_string(),
        };
        let stats = train.stats(&dataset);
        let chains = diffgen_core::train::TrainData::len(&train) as f64;
        let has_valid = !diffgen_core::train::TrainData::is_empty(&valid);
        Ok(TrainSets {
            train,
            validation: has_valid.then_some(valid),
            stats,
            summary: vec![("training chains".into(), chains)],
            notes: sets.warnings,
        })
    }

    fn options(
        &self,
        loaded: &LoadedCa,
        values: &OptionValues,
        request: &SampleRequest,
        warnings: &mut Vec<String>,
    ) -> Result<ProteinOptions, ProteinError> {
        let conditional = loaded.config.model.fold_class.is_some();
        let options = crate::protein_options(
            values,
            request,
            &loaded.stats.lengths,
            conditional,
            warnings,
        )?;
        let steric = options
            .steric
            .or(loaded.config.sampling.steric.map(|s| s.distance));
        if options.steric_until.is_some() && steric.unwrap_or(0.0) <= 0.0 {
            warnings.push(
                "--opt steric_until has no effect: the steric push is off (set --opt steric=Å)"
                    .into(),
            );
        }
        Ok(options)
    }

    fn plan(
        &self,
        loaded: &LoadedCa,
        options: &ProteinOptions,
        index: usize,
        seed: u64,
    ) -> Planned<Option<FoldClass>> {
        let sized = Planned::sized(index, options.length, seed, crate::LENGTH_STREAM, |rng| {
            crate::lengths::draw(&loaded.stats.lengths, rng)
        });
        // A fold-class model draws each chain's class from the training counts (uniformly
        // if the checkpoint has none), from a stream of its own so that lengths and noise do
        // not change with the class.
        let condition = loaded.config.model.fold_class.map(|_| {
            options.fold_class.unwrap_or_else(|| {
                let mut rng = SeededRng::stream(seed ^ FOLD_CLASS_STREAM, index as u64);
                let uniform = [1; crate::fold_class::FOLD_CLASSES];
                let counts = loaded.stats.fold_classes.as_deref().unwrap_or(&uniform);
                draw_class(counts, &mut rng)
            })
        });
        Planned {
            index: sized.index,
            size: sized.size,
            condition,
        }
    }

    fn batch(
        &self,
        _: &LoadedCa,
        items: &[Planned<Option<FoldClass>>],
        device: &Device,
    ) -> Result<([usize; 3], ProteinContext), ProteinError> {
        let lengths: Vec<usize> = items.iter().map(|p| p.size).collect();
        let l = lengths.iter().copied().max().unwrap_or(1);
        let context = ProteinContext::new(&lengths, device);
        let labels: Option<Vec<usize>> = items
            .iter()
            .map(|p| p.condition.map(FoldClass::index))
            .collect();
        let context = match labels {
            Some(labels) => context.with_labels(&labels, device),
            None => context,
        };
        Ok(([items.len(), l, 3], context))
    }

    fn default_guidance(&self, loaded: &LoadedCa) -> Option<f64> {
        loaded.config.sampling.guidance
    }

    /// The trace back in Å, N, C and O rebuilt around it.
    fn decode(
        &self,
        _: &LoadedCa,
        state: Tensor<3>,
        items: &[Planned<Option<FoldClass>>],
    ) -> Vec<Backbone> {
        let l = state.dims()[1];
        let values = to_vec(state);
        items
            .iter()
            .enumerate()
            .map(|(r, p)| {
                let trace: Vec<Vec3> = (0..p.size)
                    .map(|k| {
                        let at = (r * l + k) * 3;
                        Vec3::new(
                            values[at] as f64,
                            values[at + 1] as f64,
                            values[at + 2] as f64,
                        ) / NM_PER_ANGSTROM
                    })
                    .collect();
                crate::rebuild::backbone_from_ca(&format!("sample_{:04}", p.index), &trace)
            })
            .collect()
    }

    fn frames(&self, _: &ProteinOptions, trajectory: bool, total: usize) -> Option<FramePolicy> {
        trajectory.then(|| FramePolicy::at_most(total, 50))
    }

    fn write(
        &self,
        loaded: &LoadedCa,
        options: &ProteinOptions,
        generated: &Generated<Backbone>,
        _request: &SampleRequest,
        out: &mut RunOutput,
    ) -> Result<(), ProteinError> {
        let residue = options
            .residue_name
            .clone()
            .unwrap_or_else(|| loaded.config.data.residue_name.clone());
        crate::write_backbones(generated, &residue, options.mmcif, out)
    }

    fn evaluate(
        &self,
        _: &LoadedCa,
        _: &ProteinOptions,
        generated: &Generated<Backbone>,
        context: EvalContext<'_>,
        out: &mut RunOutput,
        report: &mut Report,
    ) -> Result<(), ProteinError> {
        crate::evaluate_backbones(generated, context, out, report)
    }

    fn page_sections(
        &self,
        run: &diffgen_core::page::RunDir,
    ) -> Result<Vec<diffgen_core::page::PageSection>, ProteinError> {
        crate::page::sections(run)
    }

    fn eval_files(
        &self,
        files: &[PathBuf],
        data_dir: Option<&Path>,
    ) -> Result<Report, ProteinError> {
        crate::eval_backbone_files(files, data_dir)
    }

    /// The default config's network on random compact traces at the bench length.
    fn bench_cases(&self, _: &BenchRequest) -> Result<Vec<BenchCase<Self, 3>>, ProteinError> {
        let config: CaConfig = parse_toml(DEFAULT_CONFIG, Path::new(DEFAULT_CONFIG_PATH))?;
        let length = crate::BENCH_LENGTH;
        let mut rng = SeededRng::new(0);
        let chains: Vec<Backbone> = (0..256)
            .map(|k| {
                let ca: Vec<Vec3> = (0..length)
                    .map(|_| Vec3::new(rng.normal(), rng.normal(), rng.normal()) * 10.0)
                    .collect();
                Backbone {
                    id: format!("random_{k}"),
                    n: ca.clone(),
                    ca: ca.clone(),
                    c: ca.clone(),
                    o: ca,
                    sequence: None,
                    dssp: None,
                }
            })
            .collect();
        let data = CaData::new(&chains, 1, length);
        let stats = data.stats("random");
        let label = format!(
            "Cα transformer {}×{} with distance bias, length {length}",
            config.model.layers, config.model.hidden
        );
        Ok(vec![BenchCase {
            label,
            config,
            data,
            stats,
        }])
    }

    /// The bench length, and the network alone (the PyTorch reference has no steric push).
    fn bench_options(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("length".to_string(), crate::BENCH_LENGTH.to_string()),
            ("steric".to_string(), "0".to_string()),
        ]
        .into()
    }
}
