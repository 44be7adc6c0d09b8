//! Training chains as Cα traces in nm, and what a Cα checkpoint keeps about them.

use burn::tensor::{Device, Tensor, TensorData};
use diffgen_core::error::BoxError;
use diffgen_core::train::TrainData;
use diffgen_core::SeededRng;
use nalgebra::{Quaternion, Rotation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

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
}

/// [`CaStats`] as stored, before its checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCaStats {
    lengths: Vec<(usize, u64)>,
    dataset: String,
}

impl TryFrom<StoredCaStats> for CaStats {
    type Error = String;

    fn try_from(s: StoredCaStats) -> Result<Self, String> {
        crate::lengths::check(&s.lengths)?;
        Ok(Self {
            lengths: s.lengths,
            dataset: s.dataset,
        })
    }
}

/// Cα traces (Å) of chains, each at most `max_length` residues per example (longer ones
/// give a random window per batch).
pub struct CaData {
    chains: Vec<Vec<[f32; 3]>>,
    max_length: usize,
}

impl CaData {
    /// The Cα traces of `backbones` with at least `min_length` residues.
    pub fn new(backbones: &[Backbone], min_length: usize, max_length: usize) -> Self {
        let chains = backbones
            .iter()
            .filter(|b| b.len() >= min_length)
            .map(|b| {
                b.ca.iter()
                    .map(|p| [p.x as f32, p.y as f32, p.z as f32])
                    .collect()
            })
            .collect();
        Self { chains, max_length }
    }

    /// The statistics a checkpoint keeps.
    pub fn stats(&self, dataset: &str) -> CaStats {
        CaStats {
            lengths: crate::lengths::histogram(self.chains.iter().map(Vec::len), self.max_length),
            dataset: dataset.to_string(),
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
        for (row, (&i, &len)) in indices.iter().zip(&lengths).enumerate() {
            let window = crate::data::crop_window(&self.chains[i], len, rng);
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
        }
        let x = Tensor::from_data(TensorData::new(values, [indices.len(), l, 3]), device);
        Ok((x, ProteinContext::new(&lengths, device)))
    }
}
