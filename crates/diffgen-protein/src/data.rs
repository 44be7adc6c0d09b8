//! Training examples as centred angles, and the statistics a checkpoint keeps.

use burn::tensor::{Device, Tensor, TensorData};
use diffgen_core::error::BoxError;
use diffgen_core::train::TrainData;
use diffgen_core::SeededRng;
use serde::{Deserialize, Serialize};

use crate::geometry::{angles_from_backbone, wrap_angle, Angles};
use crate::model::FEATURES;
use crate::space::ProteinContext;
use crate::structure::Backbone;

/// What sampling needs from the training data: the angle means (to undo the centring) and
/// the chain lengths (to draw lengths when none is asked for). Read through [`StoredStats`],
/// so that lengths sampling cannot use are refused on reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredStats")]
pub struct ProteinStats {
    /// Circular mean of each angle over the training residues where it is defined.
    pub angle_means: Angles,
    /// `(length, count)` of the training chains after cropping, ascending.
    pub lengths: Vec<(usize, u64)>,
    /// Which data set the model saw: `cath_s40`, or the directory as the config names it.
    pub dataset: String,
}

/// The longest chain a checkpoint's length histogram may give. Sampling allocates by the
/// drawn length (attention by its square), and the model's tensors do not bound it (the
/// position bias is relative); the shared data set's chains have 40–256 residues.
pub const MAX_LENGTH: usize = 4096;

/// [`ProteinStats`] as stored, before its checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredStats {
    angle_means: Angles,
    lengths: Vec<(usize, u64)>,
    dataset: String,
}

impl TryFrom<StoredStats> for ProteinStats {
    type Error = String;

    fn try_from(s: StoredStats) -> Result<Self, String> {
        crate::lengths::check(&s.lengths)?;
        if s.angle_means.iter().any(|v| !v.is_finite()) {
            return Err("the angle means are not finite".into());
        }
        Ok(Self {
            angle_means: s.angle_means,
            lengths: s.lengths,
            dataset: s.dataset,
        })
    }
}

impl ProteinStats {
    /// The statistics of raw (uncentred) training angles: circular means over the residues
    /// where each angle is defined, and the length histogram with lengths cropped to
    /// `max_length`.
    pub fn from_chains(chains: &[Vec<Angles>], max_length: usize, dataset: &str) -> Self {
        let mut sin = [0f64; FEATURES];
        let mut cos = [0f64; FEATURES];
        for chain in chains {
            let n = chain.len();
            for (i, angles) in chain.iter().enumerate() {
                for (f, &a) in angles.iter().enumerate() {
                    if defined(f, i, n) {
                        sin[f] += a.sin();
                        cos[f] += a.cos();
                    }
                }
            }
        }
        let mut angle_means = [0.0; FEATURES];
        for f in 0..FEATURES {
            angle_means[f] = sin[f].atan2(cos[f]);
        }
        Self {
            angle_means,
            lengths: crate::lengths::histogram(chains.iter().map(Vec::len), max_length),
            dataset: dataset.to_string(),
        }
    }

    /// A chain length drawn from the training lengths.
    pub fn draw_length(&self, rng: &mut SeededRng) -> usize {
        crate::lengths::draw(&self.lengths, rng)
    }

    /// Raw angles → centred angles in [−π, π).
    pub fn centre(&self, angles: &Angles) -> Angles {
        let mut out = [0.0; FEATURES];
        for f in 0..FEATURES {
            out[f] = wrap_angle(angles[f] - self.angle_means[f]);
        }
        out
    }

    /// Centred angles → raw angles in [−π, π).
    pub fn uncentre(&self, centred: &[f32]) -> Angles {
        let mut out = [0.0; FEATURES];
        for f in 0..FEATURES {
            out[f] = wrap_angle(centred[f] as f64 + self.angle_means[f]);
        }
        out
    }
}

/// Whether angle `f` of residue `i` in a chain of `n` exists: φ needs a previous residue; ψ,
/// ω and the two angles across the peptide bond need a next one.
pub fn defined(f: usize, i: usize, n: usize) -> bool {
    match f {
        0 => i > 0,
        1 | 2 | 4 | 5 => i + 1 < n,
        _ => true,
    }
}

/// The angles of every chain, centred.
pub struct ProteinData {
    chains: Vec<Vec<[f32; FEATURES]>>,
    max_length: usize,
}

impl ProteinData {
    /// `chains` (raw angles) centred by `stats`; batches crop longer chains to a random
    /// window of `max_length` residues.
    pub fn new(chains: &[Vec<Angles>], stats: &ProteinStats, max_length: usize) -> Self {
        let chains = chains
            .iter()
            .map(|chain| {
                chain
                    .iter()
                    .map(|a| stats.centre(a).map(|v| v as f32))
                    .collect()
            })
            .collect();
        Self { chains, max_length }
    }
}

/// Angles of backbones, dropping chains shorter than `min_length`.
pub fn angles_of(backbones: &[Backbone], min_length: usize) -> Vec<Vec<Angles>> {
    backbones
        .iter()
        .filter(|b| b.len() >= min_length)
        .map(angles_from_backbone)
        .collect()
}

/// The first `len` residues of `chain`, or a random window of them when the chain is longer
/// (one draw from the seeded batch stream, none otherwise).
pub(crate) fn crop_window<'a, T>(chain: &'a [T], len: usize, rng: &mut SeededRng) -> &'a [T] {
    let start = window_start(chain.len(), len, rng);
    &chain[start..start + len]
}

/// Where [`crop_window`] starts a window of `len` in a chain of `total` (one draw when
/// the chain is longer, none otherwise).
pub(crate) fn window_start(total: usize, len: usize, rng: &mut SeededRng) -> usize {
    if total > len {
        rng.int_inclusive(0, total - len)
    } else {
        0
    }
}

impl TrainData<3> for ProteinData {
    type Context = ProteinContext;

    fn len(&self) -> usize {
        self.chains.len()
    }

    fn size(&self, index: usize) -> usize {
        self.chains[index].len().min(self.max_length)
    }

    fn batch(
        &self,
        indices: &[usize],
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Tensor<3>, ProteinContext), BoxError> {
        let lengths: Vec<usize> = indices.iter().map(|&i| self.size(i)).collect();
        let l = lengths.iter().copied().max().unwrap_or(0);
        let mut values = vec![0f32; indices.len() * l * FEATURES];
        for (row, (&i, &len)) in indices.iter().zip(&lengths).enumerate() {
            for (r, angles) in crop_window(&self.chains[i], len, rng).iter().enumerate() {
                let at = (row * l + r) * FEATURES;
                values[at..at + FEATURES].copy_from_slice(angles);
            }
            // A cropped window's end angles point at residues outside it; they are kept, as
            // FoldingDiff keeps them, and matter little against the window's interior.
        }
        let x = Tensor::from_data(
            TensorData::new(values, [indices.len(), l, FEATURES]),
            device,
        );
        Ok((x, ProteinContext::new(&lengths, device)))
    }
}
