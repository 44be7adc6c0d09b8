//! Molecules as model input: feature encoding, padded batches, dataset statistics.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use diffgen_core::error::BoxError;
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::train::TrainData;
use serde::{Deserialize, Serialize};

use crate::elements::Vocabulary;
use crate::space::MolContext;
use crate::xyz::Molecule;

/// How atoms become features: EDM's `[x, one-hot / 4, Z / 10]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encoding {
    pub elements: Vocabulary,
    /// Divisors of positions, one-hot and atomic number (EDM: [1, 4, 10]).
    #[serde(default = "default_factors")]
    pub normalize_factors: [f64; 3],
    /// Append Z as a feature (EDM QM9: yes).
    #[serde(default = "yes")]
    pub include_charges: bool,
}

fn default_factors() -> [f64; 3] {
    [1.0, 4.0, 10.0]
}

fn yes() -> bool {
    true
}

impl Encoding {
    pub fn qm9() -> Self {
        Self {
            elements: Vocabulary::qm9(),
            normalize_factors: default_factors(),
            include_charges: true,
        }
    }

    /// Feature channels besides the coordinates.
    pub fn features(&self) -> usize {
        self.elements.len() + usize::from(self.include_charges)
    }

    pub fn channels(&self) -> usize {
        3 + self.features()
    }

    /// One molecule's rows of `[x, onehot/f1, Z/f2]`, centred on its centroid.
    pub fn encode(&self, molecule: &Molecule) -> Result<Vec<f32>, String> {
        let centred = molecule.clone().centered();
        let [f0, f1, f2] = self.normalize_factors;
        let mut rows = Vec::with_capacity(molecule.len() * self.channels());
        for (&z, p) in centred.atoms.iter().zip(&centred.positions) {
            let k = self.elements.index_of(z).ok_or_else(|| {
                format!(
                    "element {} is not in the model's elements ({})",
                    crate::elements::symbol(z),
                    self.elements.symbols().join(", ")
                )
            })?;
            rows.extend(p.iter().map(|v| (v / f0) as f32));
            rows.extend(
                (0..self.elements.len()).map(|c| if c == k { (1.0 / f1) as f32 } else { 0.0 }),
            );
            if self.include_charges {
                rows.push((z as f64 / f2) as f32);
            }
        }
        Ok(rows)
    }

    /// Molecules from a `[B, N, channels]` state: positions rescaled, the element by argmax of
    /// the one-hot channels, only the first `counts[b]` atoms.
    pub fn decode(&self, state: Tensor<3>, counts: &[usize]) -> Vec<Molecule> {
        let [_, n, c] = state.dims();
        let values = to_vec(state);
        let k = self.elements.len();
        counts
            .iter()
            .enumerate()
            .map(|(b, &count)| {
                let mut m = Molecule {
                    atoms: Vec::with_capacity(count),
                    positions: Vec::with_capacity(count),
                    comment: String::new(),
                };
                for i in 0..count {
                    let row = &values[(b * n + i) * c..(b * n + i + 1) * c];
                    let onehot = &row[3..3 + k];
                    let best =
                        (0..k).fold(0, |best, j| if onehot[j] > onehot[best] { j } else { best });
                    m.atoms.push(self.elements.number(best));
                    m.positions.push([
                        row[0] as f64 * self.normalize_factors[0],
                        row[1] as f64 * self.normalize_factors[0],
                        row[2] as f64 * self.normalize_factors[0],
                    ]);
                }
                m
            })
            .collect()
    }
}

/// What a checkpoint keeps of its training data: enough to sample and to compare. Read
/// through [`StoredStats`], so that a histogram sampling cannot use is refused on reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredStats")]
pub struct MoleculeStats {
    /// Atoms per molecule → molecules (EDM's `n_nodes`).
    pub atom_counts: BTreeMap<usize, u64>,
    /// Histogram of perceived bond lengths, 0.01 Å bins from 0.5 Å.
    pub bond_lengths: Vec<u64>,
    pub dataset: String,
}

/// The most atoms the atom-count histogram may give a molecule. Sampling allocates by the
/// drawn count (and the EGNN by its square), and nothing else in a checkpoint bounds it; QM9
/// has at most 29 atoms, GEOM-drugs 181.
pub const MAX_ATOMS: usize = 1000;

/// [`MoleculeStats`] as stored, before its checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredStats {
    atom_counts: BTreeMap<usize, u64>,
    bond_lengths: Vec<u64>,
    dataset: String,
}

impl TryFrom<StoredStats> for MoleculeStats {
    type Error = String;

    fn try_from(s: StoredStats) -> Result<Self, String> {
        if let Some((&n, _)) = s.atom_counts.iter().find(|(&n, _)| n == 0 || n > MAX_ATOMS) {
            return Err(format!(
                "the atom-count histogram has molecules of {n} atoms; sampling needs 1..={MAX_ATOMS}"
            ));
        }
        let total = s
            .atom_counts
            .values()
            .try_fold(0u64, |a, &c| a.checked_add(c))
            .ok_or("the atom-count histogram's counts overflow")?;
        if total == 0 {
            return Err(
                "the atom-count histogram is empty (no molecule to draw a size from)".into(),
            );
        }
        Ok(Self {
            atom_counts: s.atom_counts,
            bond_lengths: s.bond_lengths,
            dataset: s.dataset,
        })
    }
}

pub const BOND_BIN_START: f64 = 0.5;
pub const BOND_BIN_WIDTH: f64 = 0.01;
pub const BOND_BINS: usize = 150;

impl MoleculeStats {
    pub fn from_molecules(molecules: &[Molecule], dataset: &str) -> Self {
        let mut atom_counts = BTreeMap::new();
        for m in molecules {
            *atom_counts.entry(m.len()).or_insert(0) += 1;
        }
        // Bond lengths from a fixed subset keep this fast on 100k molecules.
        let step = (molecules.len() / 5000).max(1);
        Self {
            atom_counts,
            bond_lengths: bond_length_histogram(molecules.iter().step_by(step)),
            dataset: dataset.to_string(),
        }
    }

    /// Draws an atom count from the histogram.
    pub fn draw_count(&self, rng: &mut SeededRng) -> usize {
        let total: u64 = self.atom_counts.values().sum();
        let mut r = (rng.uniform() * total as f64) as u64;
        for (&n, &c) in &self.atom_counts {
            if r < c {
                return n;
            }
            r -= c;
        }
        *self
            .atom_counts
            .keys()
            .last()
            .expect("a non-empty histogram")
    }
}

pub fn bond_length_histogram<'a>(molecules: impl Iterator<Item = &'a Molecule>) -> Vec<u64> {
    let mut bins = vec![0u64; BOND_BINS];
    for m in molecules {
        for (i, j, _) in crate::bonds::perceive_bonds(m) {
            let (p, q) = (m.positions[i], m.positions[j]);
            let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
            let bin = ((d - BOND_BIN_START) / BOND_BIN_WIDTH).floor();
            if bin >= 0.0 && (bin as usize) < BOND_BINS {
                bins[bin as usize] += 1;
            }
        }
    }
    bins
}

/// Encoded molecules, batched with padding to the largest in each batch (as EDM collates).
pub struct MoleculeData {
    rows: Vec<Vec<f32>>,
    counts: Vec<usize>,
    channels: usize,
}

impl MoleculeData {
    pub fn new(molecules: &[Molecule], encoding: &Encoding) -> Result<Self, String> {
        let mut rows = Vec::with_capacity(molecules.len());
        for (i, m) in molecules.iter().enumerate() {
            rows.push(
                encoding
                    .encode(m)
                    .map_err(|e| format!("molecule {} ({}): {e}", i + 1, m.comment))?,
            );
        }
        Ok(Self {
            rows,
            counts: molecules.iter().map(Molecule::len).collect(),
            channels: encoding.channels(),
        })
    }

    /// A padded batch of the molecules `indices`.
    pub fn padded(&self, indices: &[usize], device: &Device) -> (Tensor<3>, MolContext) {
        let counts: Vec<usize> = indices.iter().map(|&i| self.counts[i]).collect();
        let n = counts.iter().copied().max().unwrap_or(1);
        let c = self.channels;
        let mut values = vec![0f32; indices.len() * n * c];
        for (b, &i) in indices.iter().enumerate() {
            values[b * n * c..b * n * c + self.rows[i].len()].copy_from_slice(&self.rows[i]);
        }
        (
            tensor_from_vec(values, [indices.len(), n, c], device),
            MolContext::new(&counts, device),
        )
    }
}

impl TrainData<3> for MoleculeData {
    type Context = MolContext;

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn size(&self, index: usize) -> usize {
        self.counts[index]
    }

    fn batch(
        &self,
        indices: &[usize],
        _rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Tensor<3>, MolContext), BoxError> {
        Ok(self.padded(indices, device))
    }
}
