//! Checkpoints: one safetensors file holding the weights and, in its header metadata, a JSON
//! description of everything needed to sample from it or to resume training.
//!
//! Tensors are stored under prefixes: `ema.<path>` (the weights used for sampling),
//! `model.<path>` (the raw training weights) and `optimizer` (burn's optimizer record, as
//! bytes) — the last two only in training checkpoints. The file is readable from Python
//! (`safetensors.safe_open`), and written atomically: a temp file beside the target, synced,
//! then renamed over it, so a crash leaves the previous checkpoint intact.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;
use crate::schedule::ScheduleConfig;
use crate::CoreError;

/// Bumped when the layout of checkpoints changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
const METADATA_KEY: &str = "diffgen";
/// Prefix of the EMA weights, the ones sampling uses.
pub const EMA_PREFIX: &str = "ema";
/// Prefix of the raw training weights (training checkpoints only).
pub const MODEL_PREFIX: &str = "model";
const OPTIMIZER_KEY: &str = "optimizer";

/// What a checkpoint says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// The layout version it was written in ([`FORMAT_VERSION`]); others are refused on load.
    pub format: u32,
    /// The diffgen version that wrote it.
    pub diffgen_version: String,
    /// The name of the modality that trained it; another modality refuses to load it.
    pub modality: String,
    /// The modality's full configuration, as it was trained.
    pub config: serde_json::Value,
    /// The noise schedule it was trained with (diffusion models; flow models have none —
    /// the config's `[diffusion]` table describes the whole process either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
    /// Normalisation and data statistics the modality needs to sample (e.g. atom-count
    /// histograms, angle means).
    pub data: serde_json::Value,
    /// Optimiser steps taken.
    pub step: u64,
    /// Present in checkpoints that training can resume from.
    pub resume: Option<ResumeState>,
}

/// The state besides weights that exact resumption needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeState {
    /// The training RNG, mid-stream, so time steps, noise and batches continue exactly.
    pub rng: SeededRng,
    /// Recent gradient norms of the adaptive clipper.
    pub clip_history: Vec<f64>,
    /// Parameter ids by path, so the optimizer record matches the reloaded parameters.
    pub param_ids: BTreeMap<String, u64>,
    /// The lowest validation loss so far, which decides when `best.safetensors` is rewritten.
    pub best_val_loss: Option<f64>,
    /// The learning-rate schedule's length (older checkpoints: the config's steps).
    #[serde(default)]
    pub lr_horizon: Option<u64>,
}

/// A float tensor read from a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values, row-major (finite: NaN/inf are refused on load).
    pub values: Vec<f32>,
}

/// A checkpoint in memory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// What the safetensors header says.
    pub meta: CheckpointMeta,
    /// Float tensors by full name (`ema.layers.0.weight`, …).
    pub tensors: BTreeMap<String, StoredTensor>,
    /// burn's optimizer record (burnpack bytes), in training checkpoints.
    pub optimizer: Option<Vec<u8>>,
}

/// What [`Checkpoint::load_module_matching`] took from a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialLoad {
    /// Parameters read from the checkpoint.
    pub loaded: usize,
    /// The model's parameters the checkpoint lacks (they keep their fresh values).
    pub fresh: Vec<String>,
    /// Stored tensors the model has no parameter for.
    pub unused: Vec<String>,
}

impl Checkpoint {
    /// An empty checkpoint (no tensors, no optimizer record) described by `meta`.
    pub fn new(meta: CheckpointMeta) -> Self {
        Self {
            meta,
            tensors: BTreeMap::new(),
            optimizer: None,
        }
    }

    /// Stores every float parameter of `module` under `prefix`, returning the ids by path.
    pub fn insert_module<M: Module>(&mut self, prefix: &str, module: &M) -> BTreeMap<String, u64> {
        let mut collector = ParamCollector::default();
        module.visit(&mut collector);
        let mut ids = BTreeMap::new();
        for (path, id, tensor) in collector.params {
            ids.insert(path.clone(), id);
            self.tensors.insert(format!("{prefix}.{path}"), tensor);
        }
        ids
    }

    /// Loads the parameters stored under `prefix` into `module`. Every parameter must be
    /// present with its shape; `ids` (from [`ResumeState::param_ids`]) restores parameter ids.
    pub fn load_module<M: Module>(
        &self,
        prefix: &str,
        module: M,
        ids: Option<&BTreeMap<String, u64>>,
        device: &Device,
        origin: &Path,
    ) -> Result<M, CoreError> {
        let (module, outcome) =
            self.map_params(prefix, module, ids, device, origin, Missing::Refused)?;
        let stored = self.stored_under(prefix).count();
        if stored != outcome.used {
            return Err(CoreError::checkpoint(
                origin,
                format!(
                    "does not fit this model: it stores {stored} `{prefix}` tensors, the model has {}",
                    outcome.used
                ),
            ));
        }
        Ok(module)
    }

    /// Loads the parameters stored under `prefix` into `module` where the model has them,
    /// to start a new run from another run's weights (`train --init`): parameters the
    /// checkpoint lacks keep their fresh values and are listed in the outcome, stored
    /// tensors the model lacks are listed too; a shape that differs is an error.
    pub fn load_module_matching<M: Module>(
        &self,
        prefix: &str,
        module: M,
        device: &Device,
        origin: &Path,
    ) -> Result<(M, PartialLoad), CoreError> {
        let (module, outcome) =
            self.map_params(prefix, module, None, device, origin, Missing::KeptFresh)?;
        let unused = self
            .stored_under(prefix)
            .map(|k| &k[prefix.len() + 1..])
            .filter(|path| !outcome.seen.contains(*path))
            .map(str::to_string)
            .collect();
        Ok((
            module,
            PartialLoad {
                loaded: outcome.used,
                fresh: outcome.fresh,
                unused,
            },
        ))
    }

    /// The stored tensor names under `prefix`.
    fn stored_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.tensors
            .keys()
            .filter(move |k| k.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')))
    }

    /// `module` with every parameter stored under `prefix` put in; a shape that differs is
    /// an error (the first five named), a missing parameter as `missing` says.
    fn map_params<M: Module>(
        &self,
        prefix: &str,
        module: M,
        ids: Option<&BTreeMap<String, u64>>,
        device: &Device,
        origin: &Path,
        missing: Missing,
    ) -> Result<(M, LoadOutcome), CoreError> {
        let mut loader = ParamLoader {
            source: &self.tensors,
            prefix,
            ids,
            device,
            stack: Vec::new(),
            problems: Vec::new(),
            fresh: (missing == Missing::KeptFresh).then(Vec::new),
            seen: std::collections::BTreeSet::new(),
            used: 0,
        };
        let module = module.map(&mut loader);
        if !loader.problems.is_empty() {
            let shown: Vec<_> = loader.problems.iter().take(5).cloned().collect();
            let more = loader.problems.len().saturating_sub(5);
            let suffix = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            return Err(CoreError::checkpoint(
                origin,
                format!("does not fit this model: {}{suffix}", shown.join("; ")),
            ));
        }
        Ok((
            module,
            LoadOutcome {
                used: loader.used,
                fresh: loader.fresh.unwrap_or_default(),
                seen: loader.seen,
            },
        ))
    }

    /// Whether any tensor is stored under `prefix` (e.g. `model`: a training checkpoint).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.tensors
            .keys()
            .any(|k| k.starts_with(&format!("{prefix}.")))
    }

    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CoreError> {
        let meta =
            serde_json::to_string(&self.meta).map_err(|e| CoreError::Other(e.to_string()))?;
        let raw: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let bytes = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name.clone(), t.shape.clone(), bytes, Dtype::F32)
            })
            .chain(self.optimizer.iter().map(|b| {
                (
                    OPTIMIZER_KEY.to_string(),
                    vec![b.len()],
                    b.clone(),
                    Dtype::U8,
                )
            }))
            .collect();
        let views = raw
            .iter()
            .map(|(name, shape, bytes, dtype)| {
                TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CoreError::Other(format!("safetensors: {e}")))?;
        let info = HashMap::from([(METADATA_KEY.to_string(), meta)]);
        safetensors::serialize(views, Some(info))
            .map_err(|e| CoreError::Other(format!("safetensors: {e}")))
    }

    /// Parses safetensors bytes; `origin` names the file in errors.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self, CoreError> {
        let bad = |reason: String| CoreError::checkpoint(origin, reason);
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let meta_json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| bad("has no diffgen metadata (not a diffgen checkpoint)".into()))?;
        let meta: CheckpointMeta = serde_json::from_str(meta_json)
            .map_err(|e| bad(format!("unreadable diffgen metadata: {e}")))?;
        if meta.format != FORMAT_VERSION {
            return Err(bad(format!(
                "checkpoint format {} is not supported by this build (format {FORMAT_VERSION})",
                meta.format
            )));
        }
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| bad(format!("corrupt tensors ({e})")))?;
        let mut tensors = BTreeMap::new();
        let mut optimizer = None;
        for (name, view) in st.iter() {
            match (name, view.dtype()) {
                (OPTIMIZER_KEY, Dtype::U8) => optimizer = Some(view.data().to_vec()),
                (_, Dtype::F32) => {
                    let values: Vec<f32> = view
                        .data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    // A NaN weight would only show up later as NaN samples.
                    let bad = values.iter().filter(|v| !v.is_finite()).count();
                    if bad > 0 {
                        return Err(CoreError::checkpoint(
                            origin,
                            format!(
                                "tensor `{name}` holds NaN/inf values ({bad} of {})",
                                values.len()
                            ),
                        ));
                    }
                    tensors.insert(
                        name.to_string(),
                        StoredTensor {
                            shape: view.shape().to_vec(),
                            values,
                        },
                    );
                }
                (_, dtype) => {
                    return Err(bad(format!(
                        "tensor `{name}` has dtype {dtype:?}; expected F32"
                    )))
                }
            }
        }
        Ok(Self {
            meta,
            tensors,
            optimizer,
        })
    }

    /// Writes it to `path` atomically (temp file, sync, rename).
    pub fn save(&self, path: &Path) -> Result<(), CoreError> {
        let bytes = self.to_bytes()?;
        write_atomic(path, |file| file.write_all(&bytes))
    }

    /// Reads only the metadata of a checkpoint file.
    pub fn read_meta(path: &Path) -> Result<CheckpointMeta, CoreError> {
        Ok(Self::load(path)?.meta)
    }

    /// Reads and checks the checkpoint file at `path`.
    pub fn load(path: &Path) -> Result<Self, CoreError> {
        let bytes = fs::read(path).map_err(|e| CoreError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Opens the checkpoint a modality samples from: the file at `path`, or the modality's
    /// bundled bytes when `path` is None. Returns it with the name to use in messages;
    /// a checkpoint of another modality is refused (one written under a `former` name of
    /// this one is not).
    pub fn open_for(
        modality: &str,
        former: &[&str],
        path: Option<&Path>,
        bundled: &[u8],
    ) -> Result<(Self, PathBuf), CoreError> {
        let (checkpoint, origin) = match path {
            Some(p) => (Self::load(p)?, p.to_path_buf()),
            None => {
                let origin = PathBuf::from(format!("<bundled {modality} model>"));
                if bundled.is_empty() {
                    return Err(CoreError::checkpoint(
                        &origin,
                        format!(
                            "this build carries no bundled {modality} model; pass --checkpoint"
                        ),
                    ));
                }
                (Self::from_bytes(bundled, &origin)?, origin)
            }
        };
        checkpoint.expect_modality(modality, former, &origin)?;
        Ok((checkpoint, origin))
    }

    /// The modality's config as stored in the metadata.
    pub fn config<T: serde::de::DeserializeOwned>(&self, origin: &Path) -> Result<T, CoreError> {
        serde_json::from_value(self.meta.config.clone()).map_err(|e| {
            CoreError::checkpoint(origin, format!("bad {} config: {e}", self.meta.modality))
        })
    }

    /// The data statistics as stored in the metadata.
    pub fn data_stats<T: serde::de::DeserializeOwned>(
        &self,
        origin: &Path,
    ) -> Result<T, CoreError> {
        serde_json::from_value(self.meta.data.clone()).map_err(|e| {
            CoreError::checkpoint(
                origin,
                format!("bad {} data statistics: {e}", self.meta.modality),
            )
        })
    }

    /// Refuses a checkpoint of another modality: one whose label is neither `modality` nor
    /// one of its `former` names (a renamed modality keeps loading its old checkpoints).
    pub fn expect_modality(
        &self,
        modality: &str,
        former: &[&str],
        origin: &Path,
    ) -> Result<(), CoreError> {
        let label = self.meta.modality.as_str();
        if label == modality || former.contains(&label) {
            Ok(())
        } else {
            Err(CoreError::checkpoint(
                origin,
                format!("is a `{label}` checkpoint, not `{modality}`; use `--modality {label}`"),
            ))
        }
    }

    /// A copy without training state: the sampling weights only (for bundling).
    pub fn for_inference(&self) -> Self {
        let mut meta = self.meta.clone();
        meta.resume = None;
        Self {
            meta,
            tensors: self
                .tensors
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{EMA_PREFIX}.")))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            optimizer: None,
        }
    }
}

/// Writes `path` through a temp file in the same directory and a rename, so readers see the
/// old file or the new one, never a part. On error the temp file is removed.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> Result<(), CoreError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(CoreError::io(path, e));
    }
    Ok(())
}

#[derive(Default)]
struct ParamCollector {
    stack: Vec<String>,
    params: Vec<(String, u64, StoredTensor)>,
}

impl ModuleVisitor for ParamCollector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // `transform_for_save` applies a parameter's save mapper (none of ours has one), the
        // mirror of the `transform_for_load` in [`ParamLoader`].
        let value = param.transform_for_save().val();
        let shape = value.dims().to_vec();
        let values = crate::tensor_util::to_vec(value);
        self.params.push((
            self.stack.join("."),
            param.id.val(),
            StoredTensor { shape, values },
        ));
    }
}

struct ParamLoader<'a> {
    source: &'a BTreeMap<String, StoredTensor>,
    prefix: &'a str,
    ids: Option<&'a BTreeMap<String, u64>>,
    device: &'a Device,
    stack: Vec<String>,
    problems: Vec<String>,
    /// `Some`: a missing parameter keeps its value and is listed here (partial loads).
    fresh: Option<Vec<String>>,
    /// Every parameter path of the module.
    seen: std::collections::BTreeSet<String>,
    used: usize,
}

/// What a load does with a parameter the checkpoint lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// An error: the checkpoint must hold the whole model.
    Refused,
    /// The parameter keeps its fresh value and is listed (starting from another model).
    KeptFresh,
}

/// What [`Checkpoint::map_params`] did besides the module.
struct LoadOutcome {
    used: usize,
    fresh: Vec<String>,
    seen: std::collections::BTreeSet<String>,
}

impl ModuleMapper for ParamLoader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        // Shapes are compared with `lazy_shape` and values put in with `transform_for_load`,
        // so a parameter that is not initialized yet never is: a checkpoint whose config
        // declares an enormous model (sizes its tensors do not have) is refused here, before
        // that model is allocated, instead of aborting on the allocation.
        let path = self.stack.join(".");
        self.seen.insert(path.clone());
        let Some(stored) = self.source.get(&format!("{}.{path}", self.prefix)) else {
            match &mut self.fresh {
                Some(fresh) => fresh.push(path),
                None => self.problems.push(format!("`{path}` is missing")),
            }
            return param;
        };
        self.used += 1;
        let expected = param.lazy_shape().to_vec();
        if stored.shape != expected {
            self.problems.push(format!(
                "`{path}` has shape {:?}, the model expects {expected:?}",
                stored.shape
            ));
            return param;
        }
        let value = Tensor::<D>::from_data(
            TensorData::new(stored.values.clone(), stored.shape.clone()),
            self.device,
        );
        let id = self
            .ids
            .and_then(|ids| ids.get(&path))
            .map(|&v| ParamId::from(v))
            .unwrap_or(param.id);
        param.transform_for_load(value, id)
    }
}
