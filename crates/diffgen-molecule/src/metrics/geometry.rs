//! Whether coordinates agree with their own bonds: bond-length distributions per bond kind
//! (elements and order) and bond-angle distributions per central element, against QM9's,
//! as Wasserstein-1 distances; and the share of bonds whose length is one QM9 gives their kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::elements::symbol;
use crate::perceive::Perceived;
use crate::xyz::Molecule;

/// Lower edge of the first bond-length bin, in Å. Bond-length bins span 0.6 Å to 2.6 Å in
/// 0.005 Å; lengths outside land in the end bins.
pub const LENGTH_START: f64 = 0.6;
/// Width of a bond-length bin, in Å.
pub const LENGTH_WIDTH: f64 = 0.005;
/// Number of bond-length bins.
pub const LENGTH_BINS: usize = 400;
/// Bond-angle bins: 0° to 180° in 1°.
pub const ANGLE_BINS: usize = 180;

/// The share of a kind's QM9 lengths left outside the range counted as fitting, per side.
const FIT_TAIL: f64 = 0.005;

/// Histograms of bond lengths by kind (`C-H 1`, `C-C 2`) and bond angles by central element.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeometryHistograms {
    /// [`LENGTH_BINS`] counts per bond kind ([`bond_kind`]).
    pub lengths: BTreeMap<String, Vec<u64>>,
    /// [`ANGLE_BINS`] counts per central element's symbol.
    pub angles: BTreeMap<String, Vec<u64>>,
}

/// `C-H 1`: the two elements in alphabetical order and the bond order.
pub fn bond_kind(a: u8, b: u8, order: u8) -> String {
    let (x, y) = (symbol(a), symbol(b));
    let (x, y) = if x <= y { (x, y) } else { (y, x) };
    format!("{x}-{y} {order}")
}

fn distance(p: [f64; 3], q: [f64; 3]) -> f64 {
    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
}

fn length_bin(d: f64) -> usize {
    (((d - LENGTH_START) / LENGTH_WIDTH).floor().max(0.0) as usize).min(LENGTH_BINS - 1)
}

impl GeometryHistograms {
    /// Adds one molecule's bonds and the angles between every two bonds of an atom.
    pub fn add(&mut self, molecule: &Molecule, structure: &Perceived) {
        let p = &molecule.positions;
        let mut neighbours = vec![Vec::new(); molecule.len()];
        for &(i, j, order) in &structure.bonds {
            let kind = bond_kind(molecule.atoms[i], molecule.atoms[j], order);
            let bins = self
                .lengths
                .entry(kind)
                .or_insert_with(|| vec![0; LENGTH_BINS]);
            bins[length_bin(distance(p[i], p[j]))] += 1;
            neighbours[i].push(j);
            neighbours[j].push(i);
        }
        for (centre, around) in neighbours.iter().enumerate() {
            for (k, &a) in around.iter().enumerate() {
                for &b in &around[k + 1..] {
                    let u: Vec<f64> = (0..3).map(|d| p[a][d] - p[centre][d]).collect();
                    let v: Vec<f64> = (0..3).map(|d| p[b][d] - p[centre][d]).collect();
                    let norms = (u.iter().map(|x| x * x).sum::<f64>()
                        * v.iter().map(|x| x * x).sum::<f64>())
                    .sqrt();
                    if norms <= 0.0 || !norms.is_finite() {
                        continue;
                    }
                    let cos = (u.iter().zip(&v).map(|(x, y)| x * y).sum::<f64>() / norms)
                        .clamp(-1.0, 1.0);
                    let bin = (cos.acos().to_degrees().floor() as usize).min(ANGLE_BINS - 1);
                    let bins = self
                        .angles
                        .entry(symbol(molecule.atoms[centre]).to_string())
                        .or_insert_with(|| vec![0; ANGLE_BINS]);
                    bins[bin] += 1;
                }
            }
        }
    }

    /// The histograms of every molecule with its structure.
    pub fn from_structures<'a>(
        structures: impl Iterator<Item = (&'a Molecule, &'a Perceived)>,
    ) -> Self {
        let mut h = Self::default();
        for (m, s) in structures {
            h.add(m, s);
        }
        h
    }
}

/// Wasserstein-1 distance between two histograms on the same bins, in bin widths.
fn w1_bins(a: &[u64], b: &[u64]) -> f64 {
    let (ta, tb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    if ta == 0.0 || tb == 0.0 {
        return 0.0;
    }
    let (mut ca, mut cb, mut w) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ca += *x as f64 / ta;
        cb += *y as f64 / tb;
        w += (ca - cb).abs();
    }
    w
}

/// The mean over kinds of W1, weighted by the generated count of each kind that the
/// reference has (a kind QM9 never shows has no distribution to compare with; it counts
/// against [`GeometrySummary::bonds_fitting_order`] instead).
fn weighted_w1(
    generated: &BTreeMap<String, Vec<u64>>,
    reference: &BTreeMap<String, Vec<u64>>,
    width: f64,
) -> Option<f64> {
    let (mut sum, mut weight) = (0.0, 0.0);
    for (kind, bins) in generated {
        let Some(r) = reference.get(kind) else {
            continue;
        };
        let count = bins.iter().sum::<u64>() as f64;
        sum += count * w1_bins(bins, r) * width;
        weight += count;
    }
    (weight > 0.0).then(|| sum / weight)
}

/// The bins of a histogram between its `FIT_TAIL` and `1 − FIT_TAIL` quantiles.
fn central_range(bins: &[u64]) -> (usize, usize) {
    let total = bins.iter().sum::<u64>() as f64;
    let (mut low, mut high, mut seen) = (None, 0, 0.0);
    for (k, &c) in bins.iter().enumerate() {
        let before = seen;
        seen += c as f64;
        if low.is_none() && seen / total > FIT_TAIL {
            low = Some(k);
        }
        if before / total < 1.0 - FIT_TAIL {
            high = k;
        }
    }
    (low.unwrap_or(0), high)
}

/// Geometry figures of generated molecules against a reference.
#[derive(Debug, Clone, PartialEq)]
pub struct GeometrySummary {
    /// Mean W1 of bond lengths per kind, in Å (None: no bond of a kind QM9 has).
    pub bond_length_w1: Option<f64>,
    /// Mean W1 of bond angles per central element, in degrees.
    pub bond_angle_w1: Option<f64>,
    /// Share of bonds whose length lies within the central 99 % of QM9's for their kind.
    pub bonds_fitting_order: f64,
}

/// Generated histograms against reference (QM9's) ones.
pub fn compare(generated: &GeometryHistograms, reference: &GeometryHistograms) -> GeometrySummary {
    let (mut fitting, mut bonds) = (0u64, 0u64);
    for (kind, bins) in &generated.lengths {
        bonds += bins.iter().sum::<u64>();
        if let Some(r) = reference.lengths.get(kind) {
            let (low, high) = central_range(r);
            fitting += bins[low..=high].iter().sum::<u64>();
        }
    }
    GeometrySummary {
        bond_length_w1: weighted_w1(&generated.lengths, &reference.lengths, LENGTH_WIDTH),
        bond_angle_w1: weighted_w1(&generated.angles, &reference.angles, 1.0),
        bonds_fitting_order: fitting as f64 / bonds.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn water(angle_degrees: f64, length: f64) -> (Molecule, Perceived) {
        let half = angle_degrees.to_radians() / 2.0;
        let m = Molecule {
            atoms: vec![8, 1, 1],
            positions: vec![
                [0.0, 0.0, 0.0],
                [length * half.sin(), length * half.cos(), 0.0],
                [-length * half.sin(), length * half.cos(), 0.0],
            ],
            comment: String::new(),
        };
        let s = Perceived {
            bonds: vec![(0, 1, 1), (0, 2, 1)],
            charges: vec![0; 3],
        };
        (m, s)
    }

    #[test]
    fn histograms_see_lengths_and_angles() {
        let (m, s) = water(104.5, 0.96);
        let h = GeometryHistograms::from_structures(std::iter::once((&m, &s)));
        assert_eq!(h.lengths["H-O 1"][length_bin(0.96)], 2);
        assert_eq!(h.angles["O"][104], 1);
        assert_eq!(h.angles.len(), 1, "hydrogens have one bond: no angle");
    }

    #[test]
    fn w1_is_the_shift_between_equal_shapes() {
        let (a, sa) = water(104.5, 0.96);
        let (b, sb) = water(114.5, 1.06);
        let ha = GeometryHistograms::from_structures(std::iter::once((&a, &sa)));
        let hb = GeometryHistograms::from_structures(std::iter::once((&b, &sb)));
        let same = compare(&ha, &ha);
        assert_eq!(same.bond_length_w1, Some(0.0));
        assert_eq!(same.bonds_fitting_order, 1.0);
        let moved = compare(&hb, &ha);
        assert!((moved.bond_length_w1.unwrap() - 0.1).abs() <= LENGTH_WIDTH + 1e-9);
        assert!((moved.bond_angle_w1.unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(moved.bonds_fitting_order, 0.0);
    }
}
