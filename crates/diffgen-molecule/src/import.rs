//! Importing EDM's PyTorch weights (a `state_dict` saved as safetensors).
//!
//! EDM stores its model as a torch pickle (`generative_model_ema.npy`); convert it once with
//! `python -c "import torch, safetensors.torch as st; st.save_file({k: v.contiguous() for k, v
//! in torch.load('generative_model_ema.npy', map_location='cpu').items()}, 'edm.safetensors')"`.

use std::collections::BTreeMap;
use std::path::Path;

use diffgen_core::checkpoint::StoredTensor;
use safetensors::tensor::{Dtype, SafeTensors};

use crate::egnn::EgnnConfig;

/// EDM's name of one of our parameter paths (`egnn.e_blocks.3.gcl_0.edge_mlp_0.weight` →
/// `dynamics.egnn.e_block_3.gcl_0.edge_mlp.0.weight`).
pub fn edm_key(path: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = path.split('.').peekable();
    while let Some(part) = iter.next() {
        if part == "e_blocks" {
            let index = iter.next().unwrap_or("0");
            parts.push(format!("e_block_{index}"));
        } else if let Some((stem, k)) = part
            .rsplit_once('_')
            .filter(|(stem, k)| stem.ends_with("_mlp") && k.chars().all(|c| c.is_ascii_digit()))
        {
            parts.push(format!("{stem}.{k}"));
        } else {
            parts.push(part.to_string());
        }
    }
    format!("dynamics.{}", parts.join("."))
}

/// The EGNN shape of an EDM state dict, and its tensors as f32 by EDM name.
pub struct EdmWeights {
    /// Layers and width as the tensors say; EDM's QM9 constants (15, 1, 1) for the rest.
    pub config: EgnnConfig,
    /// Node features besides coordinates (QM9 with charges: 6).
    pub features: usize,
    /// Every tensor of the file, by EDM's name (`dynamics.egnn.…`, see [`edm_key`]).
    pub tensors: BTreeMap<String, StoredTensor>,
}

/// Every tensor of a safetensors file as f32 (from F32, F64 or I64), by name.
pub fn read_tensors(bytes: &[u8], origin: &Path) -> Result<BTreeMap<String, StoredTensor>, String> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| format!("{}: not a safetensors file ({e})", origin.display()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.iter() {
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            Dtype::I64 => view
                .data()
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(format!(
                    "{}: tensor `{name}` has dtype {other:?}",
                    origin.display()
                ))
            }
        };
        // F64 values beyond f32's range become inf here, so check after the conversion.
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(format!(
                "{}: tensor `{name}` holds NaN/inf values ({bad} of {}, as f32)",
                origin.display(),
                values.len()
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
    Ok(tensors)
}

/// An EDM EGNN state dict from safetensors bytes: the layer count and width are read from
/// the tensors, whose shapes are checked against them; errors name `origin`.
pub fn read_edm_safetensors(bytes: &[u8], origin: &Path) -> Result<EdmWeights, String> {
    let tensors = read_tensors(bytes, origin)?;
    let embedding = tensors
        .get("dynamics.egnn.embedding.weight")
        .ok_or_else(|| {
            format!(
                "{}: no `dynamics.egnn.embedding.weight`; not an EDM EGNN state dict",
                origin.display()
            )
        })?;
    // The model is built from these sizes: they must be those of a tensor the file holds.
    let [hidden, inputs] = embedding.shape[..] else {
        return Err(format!(
            "{}: `dynamics.egnn.embedding.weight` has shape {:?}; expected [hidden, inputs]",
            origin.display(),
            embedding.shape
        ));
    };
    if hidden == 0 {
        return Err(format!(
            "{}: `dynamics.egnn.embedding.weight` has shape {:?}; expected [hidden, inputs] with hidden > 0",
            origin.display(),
            embedding.shape
        ));
    }
    let layers = (0..)
        .take_while(|l| {
            tensors.contains_key(&format!(
                "dynamics.egnn.e_block_{l}.gcl_0.edge_mlp.0.weight"
            ))
        })
        .count();
    if layers == 0 || inputs < 2 {
        return Err(format!("{}: unexpected EGNN layout", origin.display()));
    }
    // Each layer's first edge MLP holds hidden × (2·hidden + 2) values; requiring them of
    // every layer bounds the model built from `hidden` and `layers` by what the file holds.
    for l in 0..layers {
        let key = format!("dynamics.egnn.e_block_{l}.gcl_0.edge_mlp.0.weight");
        let shape = &tensors[&key].shape;
        if shape[..] != [hidden, 2 * hidden + 2] {
            return Err(format!(
                "{}: `{key}` has shape {shape:?}; an EGNN of hidden size {hidden} (from the embedding) needs [{hidden}, {}]",
                origin.display(),
                2 * hidden + 2
            ));
        }
    }
    Ok(EdmWeights {
        config: EgnnConfig {
            layers,
            hidden,
            coords_range: 15.0,
            norm_constant: 1.0,
            normalization_factor: 1.0,
        },
        features: inputs - 1,
        tensors,
    })
}

impl EdmWeights {
    /// Our tensors (paths under `prefix`), with torch's `[out, in]` weights transposed to
    /// burn's `[in, out]`.
    pub fn to_ours(
        &self,
        our_paths: &[String],
        prefix: &str,
    ) -> Result<BTreeMap<String, StoredTensor>, String> {
        let mut out = BTreeMap::new();
        for path in our_paths {
            let key = edm_key(path);
            let t = self
                .tensors
                .get(&key)
                .ok_or_else(|| format!("EDM weights lack `{key}`"))?;
            let converted = if t.shape.len() == 2 {
                let (rows, cols) = (t.shape[0], t.shape[1]);
                let mut values = vec![0f32; rows * cols];
                for r in 0..rows {
                    for c in 0..cols {
                        values[c * rows + r] = t.values[r * cols + c];
                    }
                }
                StoredTensor {
                    shape: vec![cols, rows],
                    values,
                }
            } else {
                t.clone()
            };
            out.insert(format!("{prefix}.{path}"), converted);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_edm_names() {
        assert_eq!(
            edm_key("egnn.embedding.weight"),
            "dynamics.egnn.embedding.weight"
        );
        assert_eq!(
            edm_key("egnn.e_blocks.3.gcl_0.edge_mlp_0.weight"),
            "dynamics.egnn.e_block_3.gcl_0.edge_mlp.0.weight"
        );
        assert_eq!(
            edm_key("egnn.e_blocks.0.gcl_equiv.coord_mlp_4.weight"),
            "dynamics.egnn.e_block_0.gcl_equiv.coord_mlp.4.weight"
        );
        assert_eq!(
            edm_key("egnn.e_blocks.1.gcl_0.att_mlp_0.bias"),
            "dynamics.egnn.e_block_1.gcl_0.att_mlp.0.bias"
        );
    }
}

/// `diffgen import-edm WEIGHTS [--out FILE] [--data DIR]`.
#[derive(clap::Parser)]
#[command(
    name = "diffgen import-edm",
    about = "Convert EDM's PyTorch weights (a state_dict saved as safetensors) into a diffgen molecule checkpoint; the atom-count histogram comes from QM9 train."
)]
struct ImportArgs {
    /// EDM's `generative_model_ema` state dict, as safetensors.
    weights: std::path::PathBuf,
    #[arg(long, default_value = "edm.safetensors")]
    out: std::path::PathBuf,
    /// Data root (default: $DIFFGEN_DATA, else ../shared/datasets when present).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

/// The `import-edm` command (the molecule modality's own; the CLI names none of its
/// arguments).
pub fn import_edm_command(
    args: &[String],
) -> Result<diffgen_core::modality::Report, diffgen_core::BoxError> {
    use clap::Parser;
    let argv = std::iter::once("diffgen import-edm".to_string()).chain(args.iter().cloned());
    let parsed = match ImportArgs::try_parse_from(argv) {
        Ok(p) => p,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Ok(Default::default());
        }
        Err(e) => return Err(e.render().to_string().into()),
    };
    let data = diffgen_core::modality::resolve_data_dir(parsed.data)?
        .ok_or("QM9 is needed for the atom-count histogram: pass --data DIR")?;
    let train = data.join("qm9").join("qm9_train.xyz.gz");
    let molecules = crate::xyz::read_xyz(&train)?;
    let stats = crate::data::MoleculeStats::from_molecules(&molecules, "qm9");
    crate::import_edm(&parsed.weights, stats, &parsed.out)?;
    Ok(diffgen_core::modality::Report {
        files: vec![parsed.out],
        ..Default::default()
    })
}
