//! Training chains as Cα traces in nm, and what a Cα checkpoint keeps about them.

use burn::tensor::{Device, Tensor, TensorData};
use diffgen_core::error::BoxError;
use diffgen_core::train::TrainData;
use diffgen_core::SeededRng;
use nalgebra::{Quaternion, Rotation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::model::FoldClassConditioning;
use crate::fold_class::{FoldClass, FOLD_CLASSES};
use crate::space::ProteinContext;
use crate::structure::Backbone;

/// Coordinates are modelled in nm (Å / 10): a chain of 100 residues then spans a few units,
/// the scale of the unit Gaussian prior, as in Proteina.
pub const NM_PER_ANGSTROM: f64 = 0.1;

/// Sampling's needs: the chain lengths to draw from. Read through [`StoredCaStats`] so that
/// a histogram sampling cannot use is refused on reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredCaStats")]
pub struct CaStats {
    /// `(length, count)` of the training chains after cropping, ascending.
    pub lengths: Vec<(usize, u64)>,
    /// Which data set the model saw.
    pub dataset: String,
    /// Training chains per fold class, by label index (fold-class models only): sampling
    /// draws each chain's class from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold_classes: Option<Vec<u64>>,
}

/// [`CaStats`] as stored, before its checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCaStats {
    lengths: Vec<(usize, u64)>,
    dataset: String,
    #[serde(default)]
    fold_classes: Option<Vec<u64>>,
}

impl TryFrom<StoredCaStats> for CaStats {
    type Error = String;

    fn try_from(s: StoredCaStats) -> Result<Self, String> {
        crate::lengths::check(&s.lengths)?;
        if let Some(counts) = &s.fold_classes {
            if counts.len() != FOLD_CLASSES || counts.iter().sum::<u64>() == 0 {
                return Err(format!(
                    "fold_classes must hold {FOLD_CLASSES} counts, not all zero; got {counts:?}"
                ));
            }
        }
        Ok(Self {
            lengths: s.lengths,
            dataset: s.dataset,
            fold_classes: s.fold_classes,
        })
    }
}

/// Cα traces (Å) of chains, each at most `max_length` residues per example (longer ones
/// give a random window per batch).
pub struct CaData {
    chains: Vec<Vec<[f32; 3]>>,
    max_length: usize,
    classes: Option<FoldClasses>,
}

/// What a fold-class model's data keeps: each chain's DSSP string, whose window gives the
/// label of a crop, and the share of labels dropped.
struct FoldClasses {
    dssp: Vec<String>,
    dropout: f64,
}

impl CaData {
    /// The Cα traces of `backbones` with at least `min_length` residues.
    pub fn new(backbones: &[Backbone], min_length: usize, max_length: usize) -> Self {
        Self::labelled(backbones, min_length, max_length, None)
    }

    /// As [`new`](Self::new), each crop labelled with its fold class when `conditioning`
    /// is set (the stored DSSP string, else this crate's DSSP of the chain).
    pub fn labelled(
        backbones: &[Backbone],
        min_length: usize,
        max_length: usize,
        conditioning: Option<FoldClassConditioning>,
    ) -> Self {
        let kept: Vec<&Backbone> = backbones.iter().filter(|b| b.len() >= min_length).collect();
        let chains = kept
            .iter()
            .map(|b| {
                b.ca.iter()
                    .map(|p| [p.x as f32, p.y as f32, p.z as f32])
                    .collect()
            })
            .collect();
        let classes = conditioning.map(|c| FoldClasses {
            dssp: kept
                .iter()
                .map(|b| b.dssp.clone().unwrap_or_else(|| crate::dssp::dssp(b)))
                .collect(),
            dropout: c.dropout,
        });
        Self {
            chains,
            max_length,
            classes,
        }
    }

    /// The statistics a checkpoint keeps.
    pub fn stats(&self, dataset: &str) -> CaStats {
        let fold_classes = self.classes.as_ref().map(|c| {
            let mut counts = vec![0u64; FOLD_CLASSES];
            for dssp in &c.dssp {
                counts[FoldClass::of_dssp(dssp).index()] += 1;
            }
            counts
        });
        CaStats {
            lengths: crate::lengths::histogram(self.chains.iter().map(Vec::len), self.max_length),
            dataset: dataset.to_string(),
            fold_classes,
        }
    }
}

/// A rotation drawn uniformly from SO(3) (a normalised Gaussian quaternion): the network is
/// not equivariant, so it sees every chain in every orientation.
fn random_rotation(rng: &mut SeededRng) -> Rotation3<f64> {
    let q = Quaternion::new(rng.normal(), rng.normal(), rng.normal(), rng.normal());
    UnitQuaternion::from_quaternion(q).to_rotation_matrix()
}

impl TrainData<3> for CaData {
    type Context = ProteinContext;

    fn len(&self) -> usize {
        self.chains.len()
    }

    fn size(&self, index: usize) -> usize {
        self.chains[index].len().min(self.max_length)
    }

    /// A random window of each chain, centred, randomly rotated, in nm.
    fn batch(
        &self,
        indices: &[usize],
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Tensor<3>, ProteinContext), BoxError> {
        let lengths: Vec<usize> = indices.iter().map(|&i| self.size(i)).collect();
        let l = lengths.iter().copied().max().unwrap_or(0);
        let mut values = vec![0f32; indices.len() * l * 3];
        let mut labels = Vec::with_capacity(indices.len());
        for (row, (&i, &len)) in indices.iter().zip(&lengths).enumerate() {
            let start = crate::data::window_start(self.chains[i].len(), len, rng);
            let window = &self.chains[i][start..start + len];
            let mut centre = Vector3::zeros();
            for p in window {
                centre += Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64);
            }
            centre /= len.max(1) as f64;
            let rotation = random_rotation(rng);
            for (r, p) in window.iter().enumerate() {
                let v = Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64) - centre;
                let v = rotation * v * NM_PER_ANGSTROM;
                let at = (row * l + r) * 3;
                for k in 0..3 {
                    values[at + k] = v[k] as f32;
                }
            }
            if let Some(classes) = &self.classes {
                let dropped = classes.dropout > 0.0 && rng.uniform() < classes.dropout;
                labels.push(if dropped {
                    FOLD_CLASSES
                } else {
                    // The crop's own class (the whole chain's if the string is not ASCII).
                    let dssp = &classes.dssp[i];
                    FoldClass::of_dssp(dssp.get(start..start + len).unwrap_or(dssp)).index()
                });
            }
        }
        let x = Tensor::from_data(TensorData::new(values, [indices.len(), l, 3]), device);
        let context = ProteinContext::new(&lengths, device);
        let context = match self.classes {
            Some(_) => context.with_labels(&labels, device),
            None => context,
        };
        Ok((x, context))
    }
}
