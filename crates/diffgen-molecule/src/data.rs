//! Molecules as model input: feature encoding, padded batches, dataset statistics.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use diffgen_core::error::BoxError;
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::{tensor_from_vec, to_vec};
use diffgen_core::train::TrainData;
use serde::{Deserialize, Serialize};

use crate::elements::Vocabulary;
use crate::joint::{JointShape, BOND_CLASSES, CHARGES};
use crate::space::MolContext;
use crate::xyz::Molecule;

/// How atoms become features: EDM's `[x, one-hot / 4, Z / 10]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encoding {
    /// The elements of the one-hot channels.
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
    /// EDM's QM9 encoding: H, C, N, O, F, factors [1, 4, 10], with Z.
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

    /// Channels of a state row: 3 coordinates and the features.
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
    /// `qm9`, or the path of the training XYZ file.
    pub dataset: String,
    /// The class frequencies of a joint model's training data (its marginal priors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint: Option<JointStats>,
}

/// Class frequencies of the joint model's categorical parts in its training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointStats {
    /// Per element of the vocabulary, over atoms.
    pub types: Vec<f64>,
    /// Charges −1, 0, +1, over atoms.
    pub charges: Vec<f64>,
    /// None, single, double, triple, over ordered pairs of different atoms.
    pub bonds: Vec<f64>,
    /// Training molecules left out because no valence-satisfying structure was found.
    pub skipped: usize,
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
    #[serde(default)]
    joint: Option<JointStats>,
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
        if let Some(j) = &s.joint {
            let ok = |v: &[f64], n: usize| {
                v.len() == n
                    && v.iter().all(|p| p.is_finite() && *p >= 0.0)
                    && v.iter().sum::<f64>() > 0.0
            };
            if !(ok(&j.charges, 3)
                && ok(&j.bonds, 4)
                && !j.types.is_empty()
                && ok(&j.types, j.types.len()))
            {
                return Err("the joint model's class frequencies are malformed".into());
            }
        }
        Ok(Self {
            atom_counts: s.atom_counts,
            bond_lengths: s.bond_lengths,
            dataset: s.dataset,
            joint: s.joint,
        })
    }
}

/// Lower edge of the first bin of [`MoleculeStats::bond_lengths`], in Å.
pub const BOND_BIN_START: f64 = 0.5;
/// Width of a bond-length bin, in Å.
pub const BOND_BIN_WIDTH: f64 = 0.01;
/// Bond-length bins (0.5 Å to 2.0 Å); longer or shorter bonds are not counted.
pub const BOND_BINS: usize = 150;

impl MoleculeStats {
    /// The atom-count histogram of `molecules` and the bond-length histogram of an evenly
    /// spaced 5,000 to 10,000 of them (all, when fewer than 10,000); no joint statistics.
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
            joint: None,
        }
    }

    /// The most atoms of a training molecule.
    pub fn max_atoms(&self) -> usize {
        self.atom_counts.keys().copied().max().unwrap_or(1)
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

/// Histogram of the lengths of EDM-perceived bonds ([`crate::bonds::perceive_bonds`]) in
/// [`BOND_BINS`] bins of [`BOND_BIN_WIDTH`] from [`BOND_BIN_START`].
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
    /// The joint model's molecules (then `rows` is empty).
    joint: Option<(Vec<JointMolecule>, JointShape)>,
}

/// One training molecule of the joint model, compactly: a batch lays it out as a state.
#[derive(Debug, Clone)]
pub struct JointMolecule {
    /// Centred positions in Å.
    pub positions: Vec<[f32; 3]>,
    /// Vocabulary index of every atom.
    pub types: Vec<u8>,
    /// Charge class (index into [`CHARGES`]) of every atom.
    pub charges: Vec<u8>,
    /// `(i, j, order)`, i < j, order 1–3.
    pub bonds: Vec<(u16, u16, u8)>,
}

impl JointMolecule {
    /// The molecule with its perceived structure, or why it cannot be one of the state's.
    pub fn new(
        molecule: &Molecule,
        structure: &crate::perceive::Perceived,
        encoding: &Encoding,
    ) -> Result<Self, String> {
        let centred = molecule.clone().centered();
        let types = molecule
            .atoms
            .iter()
            .map(|&z| {
                encoding
                    .elements
                    .index_of(z)
                    .map(|k| k as u8)
                    .ok_or_else(|| {
                        format!(
                            "element {} is not in the model's elements",
                            crate::elements::symbol(z)
                        )
                    })
            })
            .collect::<Result<Vec<u8>, String>>()?;
        let charges = structure
            .charges
            .iter()
            .map(|q| {
                CHARGES
                    .iter()
                    .position(|c| c == q)
                    .map(|k| k as u8)
                    .ok_or_else(|| format!("formal charge {q} is outside the model's −1, 0, +1"))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        Ok(Self {
            positions: centred
                .positions
                .iter()
                .map(|p| [p[0] as f32, p[1] as f32, p[2] as f32])
                .collect(),
            types,
            charges,
            bonds: structure
                .bonds
                .iter()
                .map(|&(i, j, o)| (i as u16, j as u16, o))
                .collect(),
        })
    }

    /// Rows `[n, width]` of the state, for a batch padded to `n` atoms.
    fn write_rows(&self, shape: &JointShape, rows: &mut [f32]) {
        let w = shape.width();
        let count = self.types.len();
        for i in 0..count {
            let row = &mut rows[i * w..(i + 1) * w];
            row[..3].copy_from_slice(&self.positions[i]);
            row[shape.type_offset() + self.types[i] as usize] = 1.0;
            row[shape.charge_offset() + self.charges[i] as usize] = 1.0;
            for j in 0..count {
                if j != i {
                    row[shape.bond_offset() + j * BOND_CLASSES] = 1.0; // none, unless bonded
                }
            }
        }
        for &(i, j, order) in &self.bonds {
            for (a, b) in [(i as usize, j as usize), (j as usize, i as usize)] {
                let at = a * w + shape.bond_offset() + b * BOND_CLASSES;
                rows[at] = 0.0;
                rows[at + order as usize] = 1.0;
            }
        }
    }
}

/// Class frequencies of joint training molecules.
pub fn joint_frequencies(molecules: &[JointMolecule], types: usize, skipped: usize) -> JointStats {
    let mut t = vec![0.0; types];
    let mut c = vec![0.0; CHARGES.len()];
    let mut b = vec![0.0; BOND_CLASSES];
    for m in molecules {
        let n = m.types.len();
        for &k in &m.types {
            t[k as usize] += 1.0;
        }
        for &k in &m.charges {
            c[k as usize] += 1.0;
        }
        let pairs = (n * n.saturating_sub(1)) as f64;
        b[0] += pairs - 2.0 * m.bonds.len() as f64;
        for &(_, _, order) in &m.bonds {
            b[order as usize] += 2.0;
        }
    }
    let normalise = |v: Vec<f64>| {
        let total: f64 = v.iter().sum::<f64>().max(1.0);
        v.into_iter().map(|x| x / total).collect()
    };
    JointStats {
        types: normalise(t),
        charges: normalise(c),
        bonds: normalise(b),
        skipped,
    }
}

impl MoleculeData {
    /// EDM's model's training molecules, encoded; errors name the molecule (1-based) that
    /// does not encode.
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
            joint: None,
        })
    }

    /// The joint model's training molecules, laid out as states of `shape`.
    pub fn joint(molecules: Vec<JointMolecule>, shape: JointShape) -> Self {
        Self {
            rows: Vec::new(),
            counts: molecules.iter().map(|m| m.types.len()).collect(),
            channels: shape.width(),
            joint: Some((molecules, shape)),
        }
    }

    /// A padded batch of the molecules `indices`.
    pub fn padded(&self, indices: &[usize], device: &Device) -> (Tensor<3>, MolContext) {
        let counts: Vec<usize> = indices.iter().map(|&i| self.counts[i]).collect();
        let n = counts.iter().copied().max().unwrap_or(1);
        let c = self.channels;
        let mut values = vec![0f32; indices.len() * n * c];
        for (b, &i) in indices.iter().enumerate() {
            let rows = &mut values[b * n * c..(b + 1) * n * c];
            match &self.joint {
                Some((molecules, shape)) => molecules[i].write_rows(shape, rows),
                None => rows[..self.rows[i].len()].copy_from_slice(&self.rows[i]),
            }
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
        self.counts.len()
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
