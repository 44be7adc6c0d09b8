//! Bond perception from distances with EDM's tables, and the molecular graph.
//!
//! The tables (pm) and margins are EDM's (`qm9/bond_analyze.py`, which cites wiredchemist.com
//! and chemistry-reference.com), restricted to the QM9 elements: a pair of other elements
//! gets no bond.

use petgraph::graph::{NodeIndex, UnGraph};

use crate::xyz::Molecule;

/// Margins added to the single, double and triple bond lengths (pm), tuned by EDM to maximise
/// the stability of real QM9 molecules.
pub const MARGINS: [f64; 3] = [10.0, 5.0, 3.0];

fn key(a: u8, b: u8) -> (u8, u8) {
    (a.min(b), a.max(b))
}

/// Typical single-bond length between elements `a` and `b` (atomic numbers), in pm; None
/// for a pair outside the table (no bond).
pub fn single_length(a: u8, b: u8) -> Option<f64> {
    Some(match key(a, b) {
        (1, 1) => 74.0,
        (1, 6) => 109.0,
        (1, 7) => 101.0,
        (1, 8) => 96.0,
        (1, 9) => 92.0,
        (6, 6) => 154.0,
        (6, 7) => 147.0,
        (6, 8) => 143.0,
        (6, 9) => 135.0,
        (7, 7) => 145.0,
        (7, 8) => 140.0,
        (7, 9) => 136.0,
        (8, 8) => 148.0,
        (8, 9) => 142.0,
        (9, 9) => 142.0,
        _ => return None,
    })
}

/// Typical double-bond length between elements `a` and `b`, in pm; None where the table has
/// no double bond for the pair.
pub fn double_length(a: u8, b: u8) -> Option<f64> {
    Some(match key(a, b) {
        (6, 6) => 134.0,
        (6, 7) => 129.0,
        (6, 8) => 120.0,
        (7, 7) => 125.0,
        (7, 8) => 121.0,
        (8, 8) => 121.0,
        _ => return None,
    })
}

/// Typical triple-bond length between elements `a` and `b`, in pm; None where the table has
/// no triple bond for the pair.
pub fn triple_length(a: u8, b: u8) -> Option<f64> {
    Some(match key(a, b) {
        (6, 6) => 120.0,
        (6, 7) => 116.0,
        (6, 8) => 113.0,
        (7, 7) => 110.0,
        _ => return None,
    })
}

/// EDM's `get_bond_order`: 0 (no bond) to 3 from a distance in Å.
pub fn bond_order(a: u8, b: u8, distance_angstrom: f64) -> u8 {
    let d = 100.0 * distance_angstrom;
    let Some(single) = single_length(a, b) else {
        return 0;
    };
    if d >= single + MARGINS[0] {
        return 0;
    }
    match double_length(a, b) {
        Some(double) if d < double + MARGINS[1] => match triple_length(a, b) {
            Some(triple) if d < triple + MARGINS[2] => 3,
            _ => 2,
        },
        _ => 1,
    }
}

/// The valences an atom may have to count as stable (EDM's `allowed_bonds`).
pub fn allowed_valences(z: u8) -> &'static [u8] {
    match z {
        1 => &[1],
        5 => &[3],
        6 => &[4],
        7 => &[3],
        8 => &[2],
        9 => &[1],
        13 => &[3],
        14 => &[4],
        15 => &[3, 5],
        16 => &[4],
        17 => &[1],
        33 => &[3],
        35 => &[1],
        53 => &[1],
        80 => &[1, 2],
        83 => &[3, 5],
        _ => &[],
    }
}

/// A molecule as a graph: atomic numbers on nodes, bond orders on edges.
pub type MolGraph = UnGraph<u8, u8>;

/// Bonds `(i, j, order)` with i < j, from every pair's distance.
pub fn perceive_bonds(molecule: &Molecule) -> Vec<(usize, usize, u8)> {
    let n = molecule.len();
    let mut bonds = Vec::new();
    for i in 0..n {
        for j in (i + 1)..n {
            let (p, q) = (molecule.positions[i], molecule.positions[j]);
            let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
            let order = bond_order(molecule.atoms[i], molecule.atoms[j], d);
            if order > 0 {
                bonds.push((i, j, order));
            }
        }
    }
    bonds
}

/// The graph of `molecule` with `bonds` `(i, j, order)`: node `i` is atom `i`.
pub fn graph(molecule: &Molecule, bonds: &[(usize, usize, u8)]) -> MolGraph {
    let mut g = MolGraph::with_capacity(molecule.len(), bonds.len());
    for &z in &molecule.atoms {
        g.add_node(z);
    }
    for &(i, j, order) in bonds {
        g.add_edge(NodeIndex::new(i), NodeIndex::new(j), order);
    }
    g
}

/// Sum of bond orders per atom.
pub fn valences(n: usize, bonds: &[(usize, usize, u8)]) -> Vec<u32> {
    let mut v = vec![0u32; n];
    for &(i, j, order) in bonds {
        v[i] += order as u32;
        v[j] += order as u32;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_follow_the_thresholds() {
        // C–C: single below 164 pm, double below 139, triple below 123.
        assert_eq!(bond_order(6, 6, 1.54), 1);
        assert_eq!(bond_order(6, 6, 1.639), 1);
        assert_eq!(bond_order(6, 6, 1.641), 0);
        assert_eq!(bond_order(6, 6, 1.38), 2);
        assert_eq!(bond_order(6, 6, 1.20), 3);
        // C–H has no double bond.
        assert_eq!(bond_order(1, 6, 0.5), 1);
        // Symmetric.
        assert_eq!(bond_order(8, 6, 1.21), bond_order(6, 8, 1.21));
        // Unknown pair: no bond.
        assert_eq!(bond_order(6, 16, 1.8), 0);
    }
}
