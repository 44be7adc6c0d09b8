//! Figures of molecules with their own bonds and formal charges: what the joint model
//! generates, or what a file's bond block says. This is MiDi's convention (stability with
//! charges allowed, connected validity), with validity decided by RDKit's sanitisation rules.

use std::collections::HashSet;

use crate::bonds::valences;
use crate::metrics::{fragments, key_hash, labelled_key, max_valence};
use crate::perceive::{allowed_states, Perceived};
use crate::xyz::Molecule;

/// The largest explicit valence RDKit's sanitisation accepts for an atom of element `z` with
/// formal charge `charge`: that of the neutral element with as many electrons (N⁺ as C: 4,
/// O⁻ as F: 1, C⁻ as N: 3, H⁻ and F⁻ as noble gases: 0), except that RDKit lets H⁺ keep one
/// bond (measured against RDKit in `tests/rdkit.rs`). Fewer bonds are always accepted:
/// RDKit fills the rest with implicit hydrogens.
pub fn rdkit_max_valence(z: u8, charge: i8) -> Option<u32> {
    if (z, charge) == (1, 1) {
        return Some(1);
    }
    match z as i32 - charge as i32 {
        0 | 2 | 10 | 18 | 36 | 54 => Some(0),
        3 | 11 => Some(1),
        4 | 12 => Some(2),
        13 => Some(3),
        e if (1..=u8::MAX as i32).contains(&e) => max_valence(e as u8),
        _ => None,
    }
}

/// What the figures need to know about one molecule with its own bonds.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureAnalysis {
    /// Atom count.
    pub atoms: usize,
    /// Atoms whose (charge, bond-order sum) is an allowed state of their element.
    pub stable_atoms: usize,
    /// Every atom stable.
    pub stable: bool,
    /// RDKit's sanitisation would accept the whole molecule (every fragment).
    pub valid: bool,
    /// Connected fragments.
    pub fragments: usize,
    /// [`structure_key`] of the largest fragment, for valid molecules.
    pub key: Option<String>,
}

impl StructureAnalysis {
    /// Valid and one fragment: what a chemist keeps.
    pub fn valid_and_connected(&self) -> bool {
        self.valid && self.fragments == 1
    }
}

/// A pentavalent neutral N with double bonds to two terminal neutral oxygens: RDKit's
/// clean-up rewrites it as `[N+](=O)[O-]` before checking valences, and accepts it.
fn is_neutral_nitro(molecule: &Molecule, structure: &Perceived, valence: &[u32], i: usize) -> bool {
    let charge = |k: usize| structure.charges.get(k).copied().unwrap_or(0);
    if molecule.atoms[i] != 7 || valence[i] != 5 || charge(i) != 0 {
        return false;
    }
    let terminal_oxo = structure
        .bonds
        .iter()
        .filter(|&&(a, b, order)| order == 2 && (a == i || b == i))
        .map(|&(a, b, _)| if a == i { b } else { a })
        .filter(|&o| molecule.atoms[o] == 8 && valence[o] == 2 && charge(o) == 0)
        .count();
    terminal_oxo >= 2
}

/// Stability, validity, fragments and key of `molecule` with its own bonds and charges.
pub fn analyse_structure(molecule: &Molecule, structure: &Perceived) -> StructureAnalysis {
    let n = molecule.len();
    let valence = valences(n, &structure.bonds);
    let charge = |i: usize| structure.charges.get(i).copied().unwrap_or(0);
    let stable_atoms = (0..n)
        .filter(|&i| {
            allowed_states(molecule.atoms[i]).is_some_and(|states| {
                states
                    .iter()
                    .any(|s| s.charge == charge(i) && s.valence as u32 == valence[i])
            })
        })
        .count();
    let valid = (0..n).all(|i| {
        rdkit_max_valence(molecule.atoms[i], charge(i)).is_some_and(|m| valence[i] <= m)
            || is_neutral_nitro(molecule, structure, &valence, i)
    });
    let fragment_count = fragments(n, &structure.bonds);
    let key = valid.then(|| {
        let keep = largest_component(n, &structure.bonds);
        // One molecule, one key: a neutral nitro group as RDKit's clean-up writes it.
        let normal = charge_separated_nitro(molecule, structure, &valence);
        structure_key(molecule, &normal, &keep)
    });
    StructureAnalysis {
        atoms: n,
        stable_atoms,
        stable: stable_atoms == n,
        valid,
        fragments: fragment_count,
        key,
    }
}

/// `structure` with every neutral pentavalent nitro N rewritten as `[N+](=O)[O-]`, as
/// RDKit's clean-up does, so that both spellings of a nitro group give one key.
fn charge_separated_nitro(
    molecule: &Molecule,
    structure: &Perceived,
    valence: &[u32],
) -> Perceived {
    let mut out = structure.clone();
    out.charges.resize(molecule.len(), 0);
    for i in 0..molecule.len() {
        if !is_neutral_nitro(molecule, structure, valence, i) {
            continue;
        }
        let oxygen = out.bonds.iter().position(|&(a, b, order)| {
            let other = if a == i { b } else { a };
            order == 2 && (a == i || b == i) && molecule.atoms[other] == 8 && valence[other] == 2
        });
        if let Some(k) = oxygen {
            let (a, b, _) = out.bonds[k];
            out.bonds[k].2 = 1;
            out.charges[i] = 1;
            out.charges[if a == i { b } else { a }] = -1;
        }
    }
    out
}

/// The atoms of the largest connected fragment (the first such, as RDKit's `max`), sorted.
fn largest_component(n: usize, bonds: &[(usize, usize, u8)]) -> Vec<usize> {
    let mut neighbours = vec![Vec::new(); n];
    for &(i, j, _) in bonds {
        neighbours[i].push(j);
        neighbours[j].push(i);
    }
    let mut seen = vec![false; n];
    let mut best: Vec<usize> = Vec::new();
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut component = vec![start];
        let mut k = 0;
        while k < component.len() {
            for &u in &neighbours[component[k]] {
                if !seen[u] {
                    seen[u] = true;
                    component.push(u);
                }
            }
            k += 1;
        }
        if component.len() > best.len() {
            best = component;
        }
    }
    best.sort_unstable();
    best
}

/// A canonical key of the atoms `keep` of a molecule with its bonds and charges, the same
/// for every Kekulé structure of one molecule: atoms are labelled by element, charge and
/// bond-order sum, bonds by connectivity only (the orders are then fixed up to resonance).
pub fn structure_key(molecule: &Molecule, structure: &Perceived, keep: &[usize]) -> String {
    let valence = valences(molecule.len(), &structure.bonds);
    let mut index = vec![usize::MAX; molecule.len()];
    for (k, &i) in keep.iter().enumerate() {
        index[i] = k;
    }
    let atoms: Vec<u8> = keep.iter().map(|&i| molecule.atoms[i]).collect();
    let labels: Vec<u64> = keep
        .iter()
        .map(|&i| {
            let charge = structure.charges.get(i).copied().unwrap_or(0) as i64 + 8;
            molecule.atoms[i] as u64 | (charge as u64) << 8 | (valence[i] as u64) << 16
        })
        .collect();
    let edges: Vec<(usize, usize, u8)> = structure
        .bonds
        .iter()
        .filter(|&&(i, j, _)| index[i] != usize::MAX && index[j] != usize::MAX)
        .map(|&(i, j, _)| (index[i], index[j], 1))
        .collect();
    labelled_key(&atoms, labels, &edges)
}

/// The figures of a set of molecules with their own bonds.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureSummary {
    /// Molecules analysed.
    pub molecules: usize,
    /// Stable atoms / all atoms.
    pub atom_stability: f64,
    /// Molecules with every atom stable / all.
    pub molecule_stability: f64,
    /// Share that RDKit's sanitisation accepts, fragments and all.
    pub validity: f64,
    /// Share that is one fragment.
    pub connected: f64,
    /// Share that is valid and one fragment.
    pub valid_and_connected: f64,
    /// Unique valid / valid (largest fragments' keys).
    pub uniqueness: f64,
    /// Unique valid / all.
    pub valid_and_unique: f64,
    /// Unique valid not among the training keys / unique valid.
    pub novelty: Option<f64>,
}

/// `training_keys`: [`key_hash`]es of the training molecules' [`structure_key`]s.
pub fn summarise_structures(
    analyses: &[StructureAnalysis],
    training_keys: Option<&HashSet<u64>>,
) -> StructureSummary {
    let n = analyses.len().max(1) as f64;
    let share = |f: &dyn Fn(&StructureAnalysis) -> bool| {
        analyses.iter().filter(|a| f(a)).count() as f64 / n
    };
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
    StructureSummary {
        molecules: analyses.len(),
        atom_stability: stable_atoms as f64 / atoms.max(1) as f64,
        molecule_stability: share(&|a| a.stable),
        validity: share(&|a| a.valid),
        connected: share(&|a| a.fragments == 1),
        valid_and_connected: share(&|a| a.valid_and_connected()),
        uniqueness: unique.len() as f64 / valid.len().max(1) as f64,
        valid_and_unique: unique.len() as f64 / n,
        novelty,
    }
}

/// Key hashes of molecules with their own bonds, the form in which training sets are kept.
pub fn structure_key_hashes<'a>(
    structures: impl Iterator<Item = (&'a Molecule, &'a Perceived)>,
) -> HashSet<u64> {
    structures
        .filter_map(|(m, s)| analyse_structure(m, s).key)
        .map(|k| key_hash(&k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn molecule(atoms: &[u8]) -> Molecule {
        Molecule {
            atoms: atoms.to_vec(),
            positions: vec![[0.0; 3]; atoms.len()],
            comment: String::new(),
        }
    }

    fn structure(bonds: &[(usize, usize, u8)], charges: &[i8]) -> Perceived {
        Perceived {
            bonds: bonds.to_vec(),
            charges: charges.to_vec(),
        }
    }

    #[test]
    fn charged_atoms_take_the_isoelectronic_valence() {
        assert_eq!(rdkit_max_valence(7, 1), Some(4));
        assert_eq!(rdkit_max_valence(8, -1), Some(1));
        assert_eq!(rdkit_max_valence(6, -1), Some(3));
        assert_eq!(rdkit_max_valence(1, -1), Some(0));
        assert_eq!(rdkit_max_valence(9, -1), Some(0));
        assert_eq!(rdkit_max_valence(6, 0), Some(4));
    }

    #[test]
    fn under_bonded_atoms_are_valid_but_not_stable() {
        // CH3 radical: RDKit adds an implicit H; EDM's stability counts the carbon unstable.
        let m = molecule(&[6, 1, 1, 1]);
        let a = analyse_structure(&m, &structure(&[(0, 1, 1), (0, 2, 1), (0, 3, 1)], &[0; 4]));
        assert!(a.valid && !a.stable);
        assert_eq!(a.stable_atoms, 3);
    }

    #[test]
    fn ammonium_needs_its_charge() {
        let m = molecule(&[7, 1, 1, 1, 1]);
        let bonds = [(0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 4, 1)];
        let neutral = analyse_structure(&m, &structure(&bonds, &[0; 5]));
        assert!(!neutral.valid && !neutral.stable);
        let charged = analyse_structure(&m, &structure(&bonds, &[1, 0, 0, 0, 0]));
        assert!(charged.valid && charged.stable);
    }

    #[test]
    fn the_key_ignores_the_kekule_structure_and_atom_order() {
        // Benzene's ring carbons 0..6, each with one H (6..12); its two Kekulé structures.
        let m = molecule(&[6, 6, 6, 6, 6, 6, 1, 1, 1, 1, 1, 1]);
        let ring = |first: u8| -> Vec<(usize, usize, u8)> {
            let mut bonds: Vec<_> = (0..6)
                .map(|i| {
                    let order = if i % 2 == 0 { first } else { 3 - first };
                    let (a, b) = (i, (i + 1) % 6);
                    (a.min(b), a.max(b), order)
                })
                .collect();
            bonds.extend((0..6).map(|i| (i, i + 6, 1)));
            bonds
        };
        let one = analyse_structure(&m, &structure(&ring(1), &[0; 12]));
        let other = analyse_structure(&m, &structure(&ring(2), &[0; 12]));
        assert!(one.stable && one.valid);
        assert_eq!(one.key, other.key);
        // The same graph with a charge on one carbon is another molecule.
        let all: Vec<usize> = (0..12).collect();
        let mut charges = [0i8; 12];
        charges[0] = -1;
        assert_eq!(
            structure_key(&m, &structure(&ring(1), &[0; 12]), &all),
            one.key.clone().unwrap()
        );
        assert_ne!(
            structure_key(&m, &structure(&ring(1), &charges), &all),
            one.key.unwrap()
        );
    }

    #[test]
    fn both_spellings_of_a_nitro_group_are_one_molecule() {
        // Nitromethane: C0 with H 1–3, N4, O5, O6.
        let m = molecule(&[6, 1, 1, 1, 7, 8, 8]);
        let common = [(0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 4, 1)];
        let neutral: Vec<_> = common
            .iter()
            .copied()
            .chain([(4, 5, 2), (4, 6, 2)])
            .collect();
        let separated: Vec<_> = common
            .iter()
            .copied()
            .chain([(4, 5, 2), (4, 6, 1)])
            .collect();
        let a = analyse_structure(&m, &structure(&neutral, &[0; 7]));
        let b = analyse_structure(&m, &structure(&separated, &[0, 0, 0, 0, 1, 0, -1]));
        assert!(a.valid && b.valid && b.stable);
        assert_eq!(a.key, b.key);
    }

    #[test]
    fn the_summary_counts_fragments_and_duplicates() {
        let water = molecule(&[8, 1, 1]);
        let bonded = structure(&[(0, 1, 1), (0, 2, 1)], &[0; 3]);
        let split = structure(&[(0, 1, 1)], &[0; 3]);
        let a = [
            analyse_structure(&water, &bonded),
            analyse_structure(&water, &bonded),
            analyse_structure(&water, &split),
        ];
        let s = summarise_structures(&a, None);
        assert!((s.validity - 1.0).abs() < 1e-12);
        assert!((s.connected - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.molecule_stability - 2.0 / 3.0).abs() < 1e-12);
        // Two distinct largest fragments: water and OH.
        assert!((s.valid_and_unique - 2.0 / 3.0).abs() < 1e-12);
    }
}
