//! Chemistry metrics under two conventions, each with a built-in valence check and a
//! canonical graph key (no RDKit needed):
//! - this module: EDM's, with bonds inferred from interatomic distances;
//! - [`structure`]: with a molecule's own bonds and formal charges (the model's, or a file's);
//! - [`geometry`]: bond lengths and angles of the latter against QM9's;
//! - [`reference`]: the figures printed beside them.

use std::collections::HashSet;

use petgraph::visit::EdgeRef;

use crate::bonds::{allowed_valences, graph, perceive_bonds, valences, MolGraph};
use crate::xyz::Molecule;

pub mod geometry;
pub mod reference;
pub mod structure;

/// What the metrics need to know about one molecule.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Atom count.
    pub atoms: usize,
    /// Atoms whose bond-order sum is one their element allows ([`allowed_valences`]).
    pub stable_atoms: usize,
    /// All atoms stable (EDM's molecule stability).
    pub stable: bool,
    /// Passes the valence check (RDKit's sanitisation for molecules without charges,
    /// including its nitro-group clean-up).
    pub valid: bool,
    /// Canonical key of the largest fragment, for valid molecules.
    pub key: Option<String>,
    /// The bonds inferred from distances, `(i, j, order)` with i < j.
    pub bonds: Vec<(usize, usize, u8)>,
}

/// The largest valence RDKit accepts for a neutral atom, per element.
pub fn max_valence(z: u8) -> Option<u32> {
    Some(match z {
        1 => 1,
        5 => 3,
        6 => 4,
        7 => 3,
        8 => 2,
        9 => 1,
        14 => 4,
        15 => 5,
        16 => 6,
        17 | 35 | 53 => 1,
        _ => return None,
    })
}

/// A pentavalent N with two double bonds to terminal oxygens: RDKit's sanitisation rewrites
/// this nitro group as `[N+](=O)[O-]` and accepts it.
fn is_nitro_nitrogen(
    molecule: &Molecule,
    bonds: &[(usize, usize, u8)],
    valence: &[u32],
    i: usize,
) -> bool {
    if molecule.atoms[i] != 7 || valence[i] != 5 {
        return false;
    }
    let terminal_oxo = bonds
        .iter()
        .filter(|&&(a, b, order)| order == 2 && (a == i || b == i))
        .map(|&(a, b, _)| if a == i { b } else { a })
        .filter(|&o| molecule.atoms[o] == 8 && valence[o] == 2)
        .count();
    terminal_oxo >= 2
}

/// EDM's convention: stability and validity of `molecule` with bonds inferred from its
/// distances ([`perceive_bonds`]).
pub fn analyse(molecule: &Molecule) -> Analysis {
    let bonds = perceive_bonds(molecule);
    let v = valences(molecule.len(), &bonds);
    let stable_atoms = molecule
        .atoms
        .iter()
        .zip(&v)
        .filter(|(&z, &val)| allowed_valences(z).iter().any(|&a| a as u32 == val))
        .count();
    let valid = (0..molecule.len()).all(|i| {
        let z = molecule.atoms[i];
        max_valence(z).is_some_and(|m| v[i] <= m) || is_nitro_nitrogen(molecule, &bonds, &v, i)
    });
    let key = valid.then(|| canonical_key(&largest_fragment(&graph(molecule, &bonds))));
    Analysis {
        atoms: molecule.len(),
        stable_atoms,
        stable: stable_atoms == molecule.len(),
        valid,
        key,
        bonds,
    }
}

/// The number of connected fragments of `n` atoms joined by `bonds` (union–find).
pub fn fragments(n: usize, bonds: &[(usize, usize, u8)]) -> usize {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut count = n;
    for &(i, j, _) in bonds {
        let (a, b) = (root(&mut parent, i), root(&mut parent, j));
        if a != b {
            parent[a] = b;
            count -= 1;
        }
    }
    count
}

/// The connected component with the most atoms (the first such, as RDKit's `max`).
pub fn largest_fragment(g: &MolGraph) -> MolGraph {
    let n = g.node_count();
    let mut component = vec![usize::MAX; n];
    let mut sizes = Vec::new();
    for start in 0..n {
        if component[start] != usize::MAX {
            continue;
        }
        let id = sizes.len();
        let mut stack = vec![start];
        component[start] = id;
        let mut size = 0;
        while let Some(v) = stack.pop() {
            size += 1;
            for u in g.neighbors(petgraph::graph::NodeIndex::new(v)) {
                if component[u.index()] == usize::MAX {
                    component[u.index()] = id;
                    stack.push(u.index());
                }
            }
        }
        sizes.push(size);
    }
    let best = (0..sizes.len()).fold(0, |b, c| if sizes[c] > sizes[b] { c } else { b });
    g.filter_map(
        |i, &z| (component[i.index()] == best).then_some(z),
        |_, &order| Some(order),
    )
}

/// FNV-1a: a stable 64-bit hash (the same in every build and run).
fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A canonical key of a labelled graph: Weisfeiler–Lehman colour refinement over element and
/// bond-order labels until the partition is stable, then the sorted colours and the sorted
/// bond list in colours. Isomorphic graphs get the same key; non-isomorphic molecules share
/// one only in WL's blind spots (regular graphs with identical local views), which small
/// organic molecules practically never hit.
pub fn canonical_key(g: &MolGraph) -> String {
    let atoms: Vec<u8> = g.node_indices().map(|i| g[i]).collect();
    let labels: Vec<u64> = atoms.iter().map(|&z| z as u64).collect();
    let edges: Vec<(usize, usize, u8)> = g
        .edge_references()
        .map(|e| (e.source().index(), e.target().index(), *e.weight()))
        .collect();
    labelled_key(&atoms, labels, &edges)
}

/// [`canonical_key`] of atoms with starting colours `labels` joined by `edges`.
pub(crate) fn labelled_key(atoms: &[u8], labels: Vec<u64>, edges: &[(usize, usize, u8)]) -> String {
    let n = atoms.len();
    let mut around_of: Vec<Vec<(usize, u8)>> = vec![Vec::new(); n];
    for &(i, j, order) in edges {
        around_of[i].push((j, order));
        around_of[j].push((i, order));
    }
    let mut colour = labels;
    let mut classes = colour.iter().collect::<HashSet<_>>().len();
    for _ in 0..n.max(1) {
        let next: Vec<u64> = (0..n)
            .map(|i| {
                let mut around: Vec<(u8, u64)> = around_of[i]
                    .iter()
                    .map(|&(other, order)| (order, colour[other]))
                    .collect();
                around.sort_unstable();
                let mut bytes = colour[i].to_le_bytes().to_vec();
                for (order, c) in around {
                    bytes.push(order);
                    bytes.extend(c.to_le_bytes());
                }
                fnv(bytes)
            })
            .collect();
        let new_classes = next.iter().collect::<HashSet<_>>().len();
        colour = next;
        if new_classes == classes {
            break;
        }
        classes = new_classes;
    }
    let mut nodes: Vec<(u8, u64)> = atoms.iter().zip(&colour).map(|(&z, &c)| (z, c)).collect();
    nodes.sort_unstable();
    let mut sorted_edges: Vec<(u64, u64, u8)> = edges
        .iter()
        .map(|&(i, j, order)| {
            let (a, b) = (colour[i], colour[j]);
            (a.min(b), a.max(b), order)
        })
        .collect();
    sorted_edges.sort_unstable();
    let mut formula = std::collections::BTreeMap::new();
    for (z, _) in &nodes {
        *formula.entry(*z).or_insert(0) += 1;
    }
    let formula: String = formula
        .iter()
        .map(|(z, n)| format!("{}{n}", crate::elements::symbol(*z)))
        .collect();
    let digest = fnv(nodes
        .iter()
        .flat_map(|(z, c)| std::iter::once(*z).chain(c.to_le_bytes()))
        .chain(sorted_edges.iter().flat_map(|(a, b, o)| {
            a.to_le_bytes()
                .into_iter()
                .chain(b.to_le_bytes())
                .chain([*o])
        }))
        .collect::<Vec<_>>());
    format!("{formula}-{digest:016x}")
}

/// The 64-bit hash of a canonical key, the form in which training sets are kept for novelty.
pub fn key_hash(key: &str) -> u64 {
    fnv(key.bytes())
}

/// The summary table of a set of molecules.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Molecules analysed.
    pub molecules: usize,
    /// Stable atoms / all atoms.
    pub atom_stability: f64,
    /// Molecules with every atom stable / all.
    pub molecule_stability: f64,
    /// Valid / all.
    pub validity: f64,
    /// Unique valid / valid.
    pub uniqueness: f64,
    /// Unique valid / all (EDM's "valid × unique").
    pub valid_and_unique: f64,
    /// Unique valid not in the training set / unique valid.
    pub novelty: Option<f64>,
}

/// `training_keys`: [`key_hash`]es of the training molecules' keys, for novelty.
pub fn summarise(analyses: &[Analysis], training_keys: Option<&HashSet<u64>>) -> Summary {
    let n = analyses.len().max(1) as f64;
    let atoms: usize = analyses.iter().map(|a| a.atoms).sum();
    let stable_atoms: usize = analyses.iter().map(|a| a.stable_atoms).sum();
    let valid: Vec<&String> = analyses.iter().filter_map(|a| a.key.as_ref()).collect();
    let unique: HashSet<&String> = valid.iter().copied().collect();
    let novelty = training_keys.map(|train| {
        let novel = unique
            .iter()
            .filter(|k| !train.contains(&key_hash(k)))
            .count();
        novel as f64 / unique.len().max(1) as f64
    });
    Summary {
        molecules: analyses.len(),
        atom_stability: stable_atoms as f64 / atoms.max(1) as f64,
        molecule_stability: analyses.iter().filter(|a| a.stable).count() as f64 / n,
        validity: valid.len() as f64 / n,
        uniqueness: unique.len() as f64 / valid.len().max(1) as f64,
        valid_and_unique: unique.len() as f64 / n,
        novelty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ethanol() -> Molecule {
        Molecule {
            atoms: vec![6, 6, 8, 1, 1, 1, 1, 1, 1],
            positions: vec![
                [-0.0013, 1.5155, 0.0000],
                [0.0007, 0.0000, 0.0000],
                [-1.3379, -0.4839, 0.0000],
                [1.0278, 1.8922, 0.0000],
                [-0.5168, 1.8972, 0.8824],
                [-0.5168, 1.8972, -0.8824],
                [0.5203, -0.3790, 0.8862],
                [0.5203, -0.3790, -0.8862],
                [-1.3195, -1.4507, 0.0000],
            ],
            comment: "ethanol".into(),
        }
    }

    #[test]
    fn ethanol_is_stable_and_valid() {
        let a = analyse(&ethanol());
        assert_eq!(a.bonds.len(), 8);
        assert!(a.stable && a.valid);
        assert!(a.key.as_ref().unwrap().starts_with("H6C2O1-"));
    }

    #[test]
    fn the_key_ignores_atom_order_and_position() {
        let m = ethanol();
        let mut shuffled = m.clone();
        let order = [4, 0, 8, 2, 6, 1, 3, 7, 5];
        shuffled.atoms = order.iter().map(|&i| m.atoms[i]).collect();
        shuffled.positions = order
            .iter()
            .map(|&i| {
                let p = m.positions[i];
                [p[1] + 3.0, -p[0], p[2] - 1.0] // rotated by 90° and shifted
            })
            .collect();
        assert_eq!(analyse(&m).key, analyse(&shuffled).key);
        // Dimethyl ether has the same formula but another graph.
        let ether = Molecule {
            atoms: vec![6, 8, 6, 1, 1, 1, 1, 1, 1],
            positions: vec![
                [-1.16, 0.0, 0.0],
                [0.0, 0.55, 0.0],
                [1.16, 0.0, 0.0],
                [-1.9, 0.79, 0.0],
                [-1.26, -0.63, 0.89],
                [-1.26, -0.63, -0.89],
                [1.9, 0.79, 0.0],
                [1.26, -0.63, 0.89],
                [1.26, -0.63, -0.89],
            ],
            comment: String::new(),
        };
        let e = analyse(&ether);
        assert!(e.valid, "{:?}", e.bonds);
        assert_ne!(e.key, analyse(&m).key);
    }

    #[test]
    fn overbonded_atoms_are_invalid_and_unstable() {
        // H squeezed between two carbons: valence 2.
        let m = Molecule {
            atoms: vec![6, 1, 6],
            positions: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]],
            comment: String::new(),
        };
        let a = analyse(&m);
        assert!(!a.valid && !a.stable);
        let s = summarise(&[a, analyse(&ethanol()), analyse(&ethanol())], None);
        assert!((s.validity - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.uniqueness - 0.5).abs() < 1e-12);
        assert!((s.valid_and_unique - 1.0 / 3.0).abs() < 1e-12);
    }
}
