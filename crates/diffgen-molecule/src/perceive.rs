//! Bonds, bond orders and formal charges perceived from 3-D geometry, in the manner of
//! xyz2mol (Kim & Kim, Bull. Korean Chem. Soc. 2015; J. H. Jensen's implementation) and
//! RDKit's `rdDetermineBonds`: every valence is satisfied, with as few charged atoms as
//! possible. [`crate::bonds::perceive_bonds`] (EDM's distance rule) stays as it is for EDM's
//! metrics; this is what a model that generates bond orders and charges trains on.
//!
//! Step 1 joins atoms closer than `tolerance × (r_a + r_b)` with the covalent radii of
//! [`covalent_radius`]; a hydrogen joins only its nearest such atom, and atoms with more
//! neighbours than valence lose their relatively longest bonds. Step 2 chooses a bond
//! order (1..=3) for every bond and a formal charge for every atom by an exact search, so
//! that each atom's bond-order sum is a valence its element allows at its charge
//! ([`allowed_states`]), the charges add up to the target, and the number of charged atoms
//! is the smallest possible. Ties are broken by where the charges sit
//! ([`charge_penalty`]: N⁺ and O⁻ first, as in nitro groups and zwitterions) and then by the
//! bond lengths: the Kekulé structure whose orders fit the distances best (lengths of
//! [`crate::bonds`]) wins.

use crate::bonds::{double_length, single_length, triple_length};
use crate::elements::symbol;
use crate::xyz::Molecule;

/// Covalent radii (Å) of Cordero et al., "Covalent radii revisited", Dalton Trans. 2008,
/// 2832 (carbon: the sp³ value, 0.76; sp² 0.73 and sp 0.69 are within the tolerance).
pub fn covalent_radius(z: u8) -> Option<f64> {
    Some(match z {
        1 => 0.31,
        6 => 0.76,
        7 => 0.71,
        8 => 0.66,
        9 => 0.57,
        _ => return None,
    })
}

/// The factor on the sum of covalent radii below which two atoms are bonded, 1.25: on QM9
/// test (`tests/perceive_qm9.rs`, structures equal to the index SMILES) 1.10 gives 13,033
/// of 13,083, 1.15 13,057, 1.20 13,060, 1.25 and 1.30 (RDKit's and xyz2mol's factor)
/// 13,061. Without removing the bonds of crowded atoms (see [`connectivity`]) 1.25 would
/// give only 12,548 (the bridgeheads of bicyclo[1.1.1]pentanes and oxetane cages bond).
pub const DEFAULT_TOLERANCE: f64 = 1.25;

/// Search steps allowed per molecule: QM9 needs at most a few thousand; the limit turns a
/// pathological input (dozens of heavy atoms, many charge choices) into an error, not a hang.
pub const STEP_LIMIT: u64 = 5_000_000;

/// One allowed state of an atom: its formal charge and the bond-order sum it then has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Formal charge.
    pub charge: i8,
    /// Bond-order sum.
    pub valence: u8,
}

const fn state(charge: i8, valence: u8) -> State {
    State { charge, valence }
}

/// The states an element may take, the neutral one first: H 1; C 4, C⁻ 3 (isocyanides,
/// `[C-]#[N+]`); N 3, N⁺ 4, N⁻ 2; O 2, O⁻ 1, O⁺ 3; F 1. Carbocations are left out: no QM9
/// molecule needs one, and allowing C⁺ would let it tie with N⁺ for the same charge count.
pub fn allowed_states(z: u8) -> Option<&'static [State]> {
    const H: [State; 1] = [state(0, 1)];
    const C: [State; 2] = [state(0, 4), state(-1, 3)];
    const N: [State; 3] = [state(0, 3), state(1, 4), state(-1, 2)];
    const O: [State; 3] = [state(0, 2), state(-1, 1), state(1, 3)];
    const F: [State; 1] = [state(0, 1)];
    Some(match z {
        1 => &H,
        6 => &C,
        7 => &N,
        8 => &O,
        9 => &F,
        _ => return None,
    })
}

/// How much a charged state is disfavoured against another with the same number of charges:
/// positive charge on N, negative on O (nitro, zwitterions, N-oxides) cost nothing, N⁻
/// costs 1, C⁻ and O⁺ cost 2.
pub fn charge_penalty(z: u8, charge: i8) -> u32 {
    match (z, charge) {
        (_, 0) | (7, 1) | (8, -1) => 0,
        (7, -1) => 1,
        _ => 2,
    }
}

/// Bonds and formal charges of a molecule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perceived {
    /// `(i, j, order)` with i < j, sorted, orders 1..=3 (a Kekulé structure).
    pub bonds: Vec<(usize, usize, u8)>,
    /// The formal charge of every atom.
    pub charges: Vec<i8>,
}

impl Perceived {
    /// Each atom's number of bonded hydrogens.
    pub fn hydrogen_counts(&self, atoms: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; atoms.len()];
        for &(i, j, _) in &self.bonds {
            if atoms[j] == 1 {
                h[i] += 1;
            }
            if atoms[i] == 1 {
                h[j] += 1;
            }
        }
        h
    }
}

/// Settings of [`perceive_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerceiveOptions {
    /// See [`DEFAULT_TOLERANCE`].
    pub tolerance: f64,
    /// The charges must sum to this (QM9 molecules are neutral).
    pub net_charge: i32,
}

impl Default for PerceiveOptions {
    fn default() -> Self {
        Self {
            tolerance: DEFAULT_TOLERANCE,
            net_charge: 0,
        }
    }
}

/// Why a molecule's bonds and charges cannot be perceived; atom indices are 0-based.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PerceiveError {
    /// An element outside H, C, N, O, F.
    #[error("atom {index} is {symbol}: bond perception supports H, C, N, O and F")]
    UnsupportedElement {
        /// The atom.
        index: usize,
        /// Its element.
        symbol: &'static str,
    },
    /// A hydrogen with no atom within `tolerance × (r_a + r_b)`.
    #[error("hydrogen {index} has no atom within bonding distance")]
    IsolatedHydrogen {
        /// The hydrogen.
        index: usize,
    },
    /// No assignment exists; `atoms` are the ones that cannot be satisfied (0-based).
    #[error("no bond orders and charges satisfy every valence: {detail}")]
    NoAssignment {
        /// The atoms (0-based).
        atoms: Vec<usize>,
        /// Why, atom by atom or fragment by fragment (`C3 has 5 bonds`).
        detail: String,
    },
    /// Every valence can be satisfied, but no assignment has the requested net charge.
    #[error("every valence can be satisfied, but not with a net charge of {net_charge}")]
    NetCharge {
        /// The requested net charge.
        net_charge: i32,
    },
    /// The search passed [`STEP_LIMIT`] steps.
    #[error("the search for bond orders took more than {STEP_LIMIT} steps ({atoms} atoms)")]
    TooLarge {
        /// The molecule's atom count.
        atoms: usize,
    },
    /// The molecule has not one position per atom.
    #[error("{atoms} atoms but {positions} positions")]
    Positions {
        /// Atom count.
        atoms: usize,
        /// Position count.
        positions: usize,
    },
    /// A bond given to [`assign`] joins an atom to itself or names an atom that does not exist.
    #[error("bond {i}–{j} does not join two different atoms of the {atoms}")]
    InvalidBond {
        /// Its first atom.
        i: usize,
        /// Its second atom.
        j: usize,
        /// The molecule's atom count.
        atoms: usize,
    },
}

/// [`perceive_with`] with the default tolerance and a net charge of 0.
pub fn perceive(molecule: &Molecule) -> Result<Perceived, PerceiveError> {
    perceive_with(molecule, &PerceiveOptions::default())
}

/// Connectivity from distances, then bond orders and charges (see the module docs).
pub fn perceive_with(
    molecule: &Molecule,
    options: &PerceiveOptions,
) -> Result<Perceived, PerceiveError> {
    let edges = connectivity(molecule, options.tolerance)?;
    assign(molecule, &edges, options.net_charge)
}

fn check_positions(molecule: &Molecule) -> Result<(), PerceiveError> {
    match molecule.positions.len() == molecule.len() {
        true => Ok(()),
        false => Err(PerceiveError::Positions {
            atoms: molecule.len(),
            positions: molecule.positions.len(),
        }),
    }
}

fn distance(p: [f64; 3], q: [f64; 3]) -> f64 {
    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
}

fn radius(molecule: &Molecule, i: usize) -> Result<f64, PerceiveError> {
    covalent_radius(molecule.atoms[i]).ok_or(PerceiveError::UnsupportedElement {
        index: i,
        symbol: symbol(molecule.atoms[i]),
    })
}

/// Step 1: bonded pairs `(i, j)`, i < j, sorted. Heavy atoms bond to every heavy atom closer
/// than `tolerance × (r_i + r_j)`; a hydrogen bonds only to the atom with the smallest
/// distance relative to that cutoff, so that it never gets two bonds from geometry alone.
/// Then, while an atom has more bonds than its largest allowed valence, the heavy-atom bond
/// of such an atom that is longest relative to its cutoff goes.
pub fn connectivity(
    molecule: &Molecule,
    tolerance: f64,
) -> Result<Vec<(usize, usize)>, PerceiveError> {
    let n = molecule.len();
    check_positions(molecule)?;
    let radii = (0..n)
        .map(|i| radius(molecule, i))
        .collect::<Result<Vec<_>, _>>()?;
    let ratio = |i: usize, j: usize| {
        distance(molecule.positions[i], molecule.positions[j]) / (radii[i] + radii[j])
    };
    let mut edges = Vec::new();
    for i in 0..n {
        if molecule.atoms[i] == 1 {
            let nearest = (0..n)
                .filter(|&j| j != i)
                .map(|j| (ratio(i, j), j))
                .filter(|&(r, _)| r <= tolerance)
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let Some((_, j)) = nearest else {
                return Err(PerceiveError::IsolatedHydrogen { index: i });
            };
            edges.push((i.min(j), i.max(j)));
        } else {
            for j in (i + 1)..n {
                if molecule.atoms[j] != 1 && ratio(i, j) <= tolerance {
                    edges.push((i, j));
                }
            }
        }
    }
    edges.sort_unstable();
    // Two hydrogens that chose each other (H₂) give one bond.
    edges.dedup();
    // An atom with more neighbours than its largest valence loses its relatively longest
    // heavy-atom bonds: the 1,3 contacts across small rings and cages.
    loop {
        let mut degree = vec![0usize; n];
        for &(i, j) in &edges {
            degree[i] += 1;
            degree[j] += 1;
        }
        let crowded = |a: usize| {
            let top = allowed_states(molecule.atoms[a])
                .map_or(0, |s| s.iter().map(|s| s.valence).max().unwrap_or(0));
            degree[a] > top as usize
        };
        let longest = (0..edges.len())
            .filter(|&e| {
                let (i, j) = edges[e];
                molecule.atoms[i] != 1 && molecule.atoms[j] != 1 && (crowded(i) || crowded(j))
            })
            .max_by(|&a, &b| {
                ratio(edges[a].0, edges[a].1).total_cmp(&ratio(edges[b].0, edges[b].1))
            });
        match longest {
            Some(e) => {
                edges.remove(e);
            }
            None => break,
        }
    }
    Ok(edges)
}

/// Step 2 on given bonds: orders and charges with every valence satisfied and the charges
/// summing to `net_charge`, with as few charged atoms as possible.
pub fn assign(
    molecule: &Molecule,
    edges: &[(usize, usize)],
    net_charge: i32,
) -> Result<Perceived, PerceiveError> {
    let n = molecule.len();
    check_positions(molecule)?;
    if let Some(&(i, j)) = edges.iter().find(|&&(i, j)| i == j || i >= n || j >= n) {
        return Err(PerceiveError::InvalidBond { i, j, atoms: n });
    }
    let states = (0..n)
        .map(|i| {
            allowed_states(molecule.atoms[i]).ok_or(PerceiveError::UnsupportedElement {
                index: i,
                symbol: symbol(molecule.atoms[i]),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let all: Vec<usize> = (0..n).collect();
    let mut steps = 0;
    if let Some(found) = search(molecule, edges, &states, &all, Some(net_charge), &mut steps)? {
        return Ok(found);
    }
    Err(diagnose(molecule, edges, &states, net_charge))
}

/// Why no assignment exists: atoms with too many or too few possible bonds, else the
/// fragments that cannot be satisfied at any charge, else the net charge.
fn diagnose(
    molecule: &Molecule,
    edges: &[(usize, usize)],
    states: &[&'static [State]],
    net_charge: i32,
) -> PerceiveError {
    let n = molecule.len();
    let caps = edge_caps(molecule, edges, states);
    let mut degree = vec![0u32; n];
    let mut most = vec![0u32; n];
    for (&(i, j), &cap) in edges.iter().zip(&caps) {
        for a in [i, j] {
            degree[a] += 1;
            most[a] += cap as u32;
        }
    }
    let max_valence = |a: usize| {
        states[a]
            .iter()
            .map(|s| s.valence as u32)
            .max()
            .unwrap_or(0)
    };
    let min_valence = |a: usize| {
        states[a]
            .iter()
            .map(|s| s.valence as u32)
            .min()
            .unwrap_or(0)
    };
    let mut problems = Vec::new();
    let mut details = Vec::new();
    for a in 0..n {
        let name = format!("{}{a}", symbol(molecule.atoms[a]));
        if degree[a] > max_valence(a) {
            problems.push(a);
            details.push(format!("{name} has {} bonds", degree[a]));
        } else if most[a] < min_valence(a) {
            problems.push(a);
            details.push(format!("{name} can reach a valence of only {}", most[a]));
        }
    }
    if problems.is_empty() {
        for fragment in fragments(n, edges) {
            let mut steps = 0;
            if let Ok(None) = search(molecule, edges, states, &fragment, None, &mut steps) {
                let names: Vec<String> = fragment
                    .iter()
                    .map(|&a| format!("{}{a}", symbol(molecule.atoms[a])))
                    .collect();
                details.push(format!("no valid structure for {}", names.join(" ")));
                problems.extend(fragment);
            }
        }
    }
    if problems.is_empty() {
        return PerceiveError::NetCharge { net_charge };
    }
    PerceiveError::NoAssignment {
        atoms: problems,
        detail: details.join("; "),
    }
}

/// The connected components, each sorted.
fn fragments(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut adjacency = vec![Vec::new(); n];
    for &(i, j) in edges {
        adjacency[i].push(j);
        adjacency[j].push(i);
    }
    let mut seen = vec![false; n];
    let mut out = Vec::new();
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let mut fragment = Vec::new();
        while let Some(a) = stack.pop() {
            fragment.push(a);
            for &b in &adjacency[a] {
                if !seen[b] {
                    seen[b] = true;
                    stack.push(b);
                }
            }
        }
        fragment.sort_unstable();
        out.push(fragment);
    }
    out
}

/// The highest order each bond may take: 1 at H and F, else up to 3.
fn edge_caps(molecule: &Molecule, edges: &[(usize, usize)], states: &[&[State]]) -> Vec<u8> {
    edges
        .iter()
        .map(|&(i, j)| {
            let top = |a: usize| states[a].iter().map(|s| s.valence).max().unwrap_or(0);
            match molecule.atoms[i] == 1 || molecule.atoms[j] == 1 {
                true => 1,
                false => top(i).min(top(j)).clamp(1, 3),
            }
        })
        .collect()
}

/// How far each order of a bond is from its typical length (Å), for the tie-break.
fn misfits(molecule: &Molecule, i: usize, j: usize) -> [f64; 3] {
    let (a, b) = (molecule.atoms[i], molecule.atoms[j]);
    let d = distance(molecule.positions[i], molecule.positions[j]);
    // An order without a tabulated length is possible only in odd cases: count it as far.
    let fit = |pm: Option<f64>| pm.map_or(1.0, |l| (d - l / 100.0).abs());
    [
        fit(single_length(a, b)),
        fit(double_length(a, b)),
        fit(triple_length(a, b)),
    ]
}

/// The best structure over the atoms `members` (with the bonds among them), or None when
/// there is none. `net_charge: None` accepts any net charge.
fn search(
    molecule: &Molecule,
    edges: &[(usize, usize)],
    states: &[&'static [State]],
    members: &[usize],
    net_charge: Option<i32>,
    steps: &mut u64,
) -> Result<Option<Perceived>, PerceiveError> {
    let n = molecule.len();
    let mut member = vec![false; n];
    for &a in members {
        member[a] = true;
    }
    let local: Vec<usize> = (0..edges.len())
        .filter(|&e| member[edges[e].0] && member[edges[e].1])
        .collect();
    let caps_all = edge_caps(molecule, edges, states);
    let mut s = Search {
        atoms: &molecule.atoms,
        states,
        edges: local.iter().map(|&e| edges[e]).collect(),
        caps: local.iter().map(|&e| caps_all[e]).collect(),
        misfit: local
            .iter()
            .map(|&e| misfits(molecule, edges[e].0, edges[e].1))
            .collect(),
        incident: vec![Vec::new(); n],
        order: Vec::new(),
        orders: vec![0; local.len()],
        used: vec![0; n],
        pending: vec![0; n],
        charges: vec![0; n],
        negative_after: Vec::new(),
        positive_after: Vec::new(),
        budget: 0,
        target: net_charge,
        steps: *steps,
        best: None,
    };
    // Bonds that can only be single are fixed before the search.
    for e in 0..s.edges.len() {
        let (i, j) = s.edges[e];
        s.incident[i].push(e);
        s.incident[j].push(e);
        if s.caps[e] == 1 {
            s.orders[e] = 1;
            s.used[i] += 1;
            s.used[j] += 1;
        } else {
            s.pending[i] += 1;
            s.pending[j] += 1;
        }
    }
    // Atoms whose bonds are all fixed first (a failure shows at once), then the others in
    // breadth-first order, so that most bonds are decided next to decided ones.
    let mut placed = vec![false; n];
    for &a in members {
        if s.pending[a] == 0 {
            s.order.push(a);
            placed[a] = true;
        }
    }
    for &start in members {
        if placed[start] {
            continue;
        }
        placed[start] = true;
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(a) = queue.pop_front() {
            s.order.push(a);
            for &e in &s.incident[a] {
                let (i, j) = s.edges[e];
                let b = if i == a { j } else { i };
                if !placed[b] {
                    placed[b] = true;
                    queue.push_back(b);
                }
            }
        }
    }
    let m = s.order.len();
    s.negative_after = vec![0; m + 1];
    s.positive_after = vec![0; m + 1];
    for p in (0..m).rev() {
        let a = s.order[p];
        let can = |f: fn(i8) -> bool| states[a].iter().any(|st| f(st.charge)) as u32;
        s.negative_after[p] = s.negative_after[p + 1] + can(|q| q < 0);
        s.positive_after[p] = s.positive_after[p + 1] + can(|q| q > 0);
    }
    // Every charged state's valence differs from the neutral one by an odd amount (tested),
    // so the parity of the valence sum fixes the parity of the number of charged atoms.
    let parity: u32 = members
        .iter()
        .map(|&a| states[a][0].valence as u32)
        .sum::<u32>()
        % 2;
    let mut budget = parity;
    while budget as usize <= m {
        s.budget = budget;
        s.dfs(0, 0, 0, 0);
        *steps = s.steps;
        if s.steps > STEP_LIMIT {
            return Err(PerceiveError::TooLarge { atoms: n });
        }
        if let Some(best) = s.best.take() {
            let mut bonds: Vec<(usize, usize, u8)> = s
                .edges
                .iter()
                .zip(&best.orders)
                .map(|(&(i, j), &o)| (i, j, o))
                .collect();
            bonds.sort_unstable();
            return Ok(Some(Perceived {
                bonds,
                charges: best.charges,
            }));
        }
        budget += 2;
    }
    Ok(None)
}

struct Solution {
    penalty: u32,
    misfit: f64,
    orders: Vec<u8>,
    charges: Vec<i8>,
}

/// The state of the depth-first search: atoms are visited in `order`; at each, a charge state
/// is chosen and the orders of its still open bonds are set so that its valence comes out
/// exactly. Bonds to later atoms are bounded by what those atoms can still take.
struct Search<'a> {
    atoms: &'a [u8],
    states: &'a [&'static [State]],
    edges: Vec<(usize, usize)>,
    caps: Vec<u8>,
    misfit: Vec<[f64; 3]>,
    incident: Vec<Vec<usize>>,
    order: Vec<usize>,
    /// Per bond; 0 while open.
    orders: Vec<u8>,
    /// Per atom: the sum of its set orders, and how many of its bonds are open.
    used: Vec<u8>,
    pending: Vec<u8>,
    charges: Vec<i8>,
    /// How many atoms from position p on can be negative / positive.
    negative_after: Vec<u32>,
    positive_after: Vec<u32>,
    /// The number of charged atoms allowed.
    budget: u32,
    target: Option<i32>,
    steps: u64,
    best: Option<Solution>,
}

impl Search<'_> {
    fn max_valence(&self, a: usize) -> u8 {
        self.states[a].iter().map(|s| s.valence).max().unwrap_or(0)
    }

    fn dfs(&mut self, p: usize, charged: u32, net: i32, penalty: u32) {
        self.steps += 1;
        if self.steps > STEP_LIMIT {
            return;
        }
        if p == self.order.len() {
            if self.target.is_none_or(|t| t == net) {
                self.record(penalty);
            }
            return;
        }
        let a = self.order[p];
        for st in self.states[a] {
            let charged = charged + (st.charge != 0) as u32;
            let penalty = penalty + charge_penalty(self.atoms[a], st.charge);
            let net = net + st.charge as i32;
            if charged > self.budget || self.best.as_ref().is_some_and(|b| penalty > b.penalty) {
                continue;
            }
            if let Some(target) = self.target {
                let left = self.budget - charged;
                let low = net - left.min(self.negative_after[p + 1]) as i32;
                let high = net + left.min(self.positive_after[p + 1]) as i32;
                if target < low || target > high {
                    continue;
                }
            }
            let Some(need) = st.valence.checked_sub(self.used[a]) else {
                continue;
            };
            let open: Vec<usize> = self.incident[a]
                .iter()
                .copied()
                .filter(|&e| self.orders[e] == 0)
                .collect();
            if (need as usize) < open.len() {
                continue;
            }
            self.charges[a] = st.charge;
            self.distribute(&open, 0, need, a, p, charged, net, penalty);
            self.charges[a] = 0;
        }
    }

    /// Sets the open bonds `open[k..]` of atom `a` to orders summing to `need`.
    #[allow(clippy::too_many_arguments)]
    fn distribute(
        &mut self,
        open: &[usize],
        k: usize,
        need: u8,
        a: usize,
        p: usize,
        charged: u32,
        net: i32,
        penalty: u32,
    ) {
        if k == open.len() {
            if need == 0 {
                self.dfs(p + 1, charged, net, penalty);
            }
            return;
        }
        let e = open[k];
        let (i, j) = self.edges[e];
        let b = if i == a { j } else { i };
        let rest = (open.len() - k - 1) as u8;
        // b keeps one order at least for each of its other open bonds.
        let room = self
            .max_valence(b)
            .saturating_sub(self.used[b] + self.pending[b] - 1);
        let top = self.caps[e].min(room).min(need.saturating_sub(rest));
        for order in 1..=top {
            // The remaining bonds can take at most 3 each.
            if need - order > 3 * rest {
                continue;
            }
            self.orders[e] = order;
            for x in [a, b] {
                self.used[x] += order;
                self.pending[x] -= 1;
            }
            self.distribute(open, k + 1, need - order, a, p, charged, net, penalty);
            for x in [a, b] {
                self.used[x] -= order;
                self.pending[x] += 1;
            }
            self.orders[e] = 0;
        }
    }

    fn record(&mut self, penalty: u32) {
        let misfit: f64 = self
            .orders
            .iter()
            .zip(&self.misfit)
            .zip(&self.caps)
            .filter(|(_, &cap)| cap > 1)
            .map(|((&o, m), _)| m[o as usize - 1])
            .sum();
        let better = match &self.best {
            None => true,
            Some(b) => penalty < b.penalty || (penalty == b.penalty && misfit < b.misfit - 1e-9),
        };
        if better {
            self.best = Some(Solution {
                penalty,
                misfit,
                orders: self.orders.clone(),
                charges: self.charges.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn molecule(atoms: &[(u8, [f64; 3])]) -> Molecule {
        Molecule {
            atoms: atoms.iter().map(|a| a.0).collect(),
            positions: atoms.iter().map(|a| a.1).collect(),
            comment: String::new(),
        }
    }

    /// Three hydrogens 1.09 Å from `at`, tetrahedral around the axis pointing to `-x`.
    fn methyl(at: [f64; 3]) -> Vec<(u8, [f64; 3])> {
        (0..3)
            .map(|k| {
                let phi = k as f64 * 2.0 * std::f64::consts::PI / 3.0;
                let d = [-1.0 / 3.0, 0.9428 * phi.cos(), 0.9428 * phi.sin()];
                (
                    1,
                    [
                        at[0] + 1.09 * d[0],
                        at[1] + 1.09 * d[1],
                        at[2] + 1.09 * d[2],
                    ],
                )
            })
            .collect()
    }

    fn orders(p: &Perceived, atoms: &[u8]) -> Vec<u8> {
        p.bonds
            .iter()
            .filter(|&&(i, j, _)| atoms[i] != 1 && atoms[j] != 1)
            .map(|b| b.2)
            .collect()
    }

    #[test]
    fn methane_has_four_single_bonds_and_no_charge() {
        let s = 1.09 / 3f64.sqrt();
        let m = molecule(&[
            (6, [0.0; 3]),
            (1, [s, s, s]),
            (1, [s, -s, -s]),
            (1, [-s, s, -s]),
            (1, [-s, -s, s]),
        ]);
        let p = perceive(&m).unwrap();
        assert_eq!(p.bonds, vec![(0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 4, 1)]);
        assert_eq!(p.charges, vec![0; 5]);
        assert_eq!(p.hydrogen_counts(&m.atoms), vec![4, 0, 0, 0, 0]);
    }

    #[test]
    fn ethylene_has_a_double_bond() {
        let m = molecule(&[
            (6, [-0.665, 0.0, 0.0]),
            (6, [0.665, 0.0, 0.0]),
            (1, [-1.2085, 0.9414, 0.0]),
            (1, [-1.2085, -0.9414, 0.0]),
            (1, [1.2085, 0.9414, 0.0]),
            (1, [1.2085, -0.9414, 0.0]),
        ]);
        let p = perceive(&m).unwrap();
        assert_eq!(orders(&p, &m.atoms), vec![2]);
        assert_eq!(p.bonds.len(), 5);
        assert!(p.charges.iter().all(|&q| q == 0));
    }

    #[test]
    fn acetylene_and_hcn_have_triple_bonds() {
        let acetylene = molecule(&[
            (1, [-1.66, 0.0, 0.0]),
            (6, [-0.60, 0.0, 0.0]),
            (6, [0.60, 0.0, 0.0]),
            (1, [1.66, 0.0, 0.0]),
        ]);
        let p = perceive(&acetylene).unwrap();
        assert_eq!(p.bonds, vec![(0, 1, 1), (1, 2, 3), (2, 3, 1)]);
        let hcn = molecule(&[
            (1, [0.0, 0.0, 0.0]),
            (6, [1.066, 0.0, 0.0]),
            (7, [2.222, 0.0, 0.0]),
        ]);
        let p = perceive(&hcn).unwrap();
        assert_eq!(p.bonds, vec![(0, 1, 1), (1, 2, 3)]);
        assert_eq!(p.charges, vec![0, 0, 0]);
    }

    /// A six-ring of carbons with hydrogens; sides alternate between the two lengths.
    fn ring(angle_short_deg: f64) -> Molecule {
        let mut atoms = Vec::new();
        let mut hydrogens = Vec::new();
        for k in 0..6 {
            let theta = ((k / 2) as f64 * 120.0 + (k % 2) as f64 * angle_short_deg).to_radians();
            let (c, s) = (theta.cos(), theta.sin());
            atoms.push((6, [1.40 * c, 1.40 * s, 0.0]));
            hydrogens.push((1, [2.48 * c, 2.48 * s, 0.0]));
        }
        atoms.extend(hydrogens);
        molecule(&atoms)
    }

    #[test]
    fn benzene_gets_alternating_bonds_with_the_short_ones_double() {
        for short in [60.0, 57.2] {
            let m = ring(short);
            let p = perceive(&m).unwrap();
            let ring_bonds: Vec<_> = p.bonds.iter().filter(|b| b.1 < 6).copied().collect();
            assert_eq!(ring_bonds.len(), 6);
            let mut per_atom = [0; 6];
            for &(i, j, o) in &ring_bonds {
                if o == 2 {
                    per_atom[i] += 1;
                    per_atom[j] += 1;
                }
            }
            assert_eq!(per_atom, [1; 6], "{ring_bonds:?}");
            assert!(p.charges.iter().all(|&q| q == 0));
            if short < 60.0 {
                // Atoms 0–1, 2–3 and 4–5 are 1.34 Å apart, the others 1.46 Å.
                for &(i, j, o) in &ring_bonds {
                    let is_short = j == i + 1 && i % 2 == 0;
                    assert_eq!(o == 2, is_short, "{ring_bonds:?}");
                }
            }
        }
    }

    #[test]
    fn nitromethane_is_a_charge_separated_nitro_group() {
        let mut atoms = vec![
            (6, [0.0, 0.0, 0.0]),
            (7, [1.49, 0.0, 0.0]),
            (8, [2.053, 1.082, 0.0]),
            (8, [2.053, -1.082, 0.0]),
        ];
        atoms.extend(methyl([0.0; 3]));
        let m = molecule(&atoms);
        let p = perceive(&m).unwrap();
        assert_eq!(p.charges[0], 0);
        assert_eq!(p.charges[1], 1);
        let mut oxygen = [p.charges[2], p.charges[3]];
        oxygen.sort_unstable();
        assert_eq!(oxygen, [-1, 0]);
        assert_eq!(p.charges.iter().map(|&q| q as i32).sum::<i32>(), 0);
        let no: Vec<u8> = p.bonds.iter().filter(|b| b.0 == 1).map(|b| b.2).collect();
        let mut no_sorted = no.clone();
        no_sorted.sort_unstable();
        assert_eq!(no_sorted, vec![1, 2], "{:?}", p.bonds);
        // The double bond goes to the neutral oxygen.
        for &(i, j, o) in &p.bonds {
            if i == 1 && m.atoms[j] == 8 {
                assert_eq!(o == 2, p.charges[j] == 0);
            }
        }
    }

    #[test]
    fn methyl_isocyanide_is_c_minus_triple_n_plus() {
        let mut atoms = vec![
            (6, [0.0, 0.0, 0.0]),
            (7, [1.42, 0.0, 0.0]),
            (6, [2.59, 0.0, 0.0]),
        ];
        atoms.extend(methyl([0.0; 3]));
        let m = molecule(&atoms);
        let p = perceive(&m).unwrap();
        assert_eq!(&p.charges[..3], &[0, 1, -1]);
        assert!(p.bonds.contains(&(0, 1, 1)) && p.bonds.contains(&(1, 2, 3)));
    }

    #[test]
    fn the_net_charge_is_a_parameter() {
        // A planar CH3 fragment: no neutral structure, a carbanion with net charge −1.
        let m = molecule(&[
            (6, [0.0, 0.0, 0.0]),
            (1, [1.08, 0.0, 0.0]),
            (1, [-0.54, 0.935, 0.0]),
            (1, [-0.54, -0.935, 0.0]),
        ]);
        assert_eq!(
            perceive(&m).unwrap_err(),
            PerceiveError::NetCharge { net_charge: 0 }
        );
        let options = PerceiveOptions {
            net_charge: -1,
            ..Default::default()
        };
        let p = perceive_with(&m, &options).unwrap();
        assert_eq!(p.charges, vec![-1, 0, 0, 0]);
    }

    #[test]
    fn impossible_valences_name_their_atoms() {
        // Hydronium-like OH3 with a methyl carbon and a hydrogen 3 Å away.
        let m = molecule(&[
            (1, [0.0, 0.0, 3.0]),
            (8, [0.0, 0.0, 0.0]),
            (1, [0.96, 0.0, 0.0]),
            (1, [-0.48, 0.83, 0.0]),
            (1, [-0.48, -0.83, 0.0]),
            (6, [0.0, 0.0, -1.43]),
        ]);
        // The far hydrogen has no partner within bonding distance.
        assert_eq!(
            perceive(&m).unwrap_err(),
            PerceiveError::IsolatedHydrogen { index: 0 }
        );
        // CH5: bonds to hydrogens are never dropped, so the carbon keeps five.
        let d = 1.09;
        let m = molecule(&[
            (6, [0.0; 3]),
            (1, [0.0, 0.0, d]),
            (1, [0.0, 0.0, -d]),
            (1, [d, 0.0, 0.0]),
            (1, [-0.5 * d, 0.866 * d, 0.0]),
            (1, [-0.5 * d, -0.866 * d, 0.0]),
        ]);
        match perceive(&m).unwrap_err() {
            PerceiveError::NoAssignment { atoms, detail } => {
                assert_eq!(atoms, vec![0], "{detail}");
                assert!(detail.contains("C0 has 5 bonds"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // Difluoroacetylene (valid) beside a lone fluorine atom: only the lone atom is named.
        let m = molecule(&[
            (9, [-1.87, 0.0, 0.0]),
            (6, [-0.6, 0.0, 0.0]),
            (6, [0.6, 0.0, 0.0]),
            (9, [1.87, 0.0, 0.0]),
            (9, [0.0, 0.0, 5.0]),
        ]);
        match perceive(&m).unwrap_err() {
            PerceiveError::NoAssignment { atoms, detail } => {
                assert_eq!(atoms, vec![4], "{detail}");
                assert!(detail.contains("F4"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn crowded_bridgeheads_lose_the_transannular_contact() {
        // Bicyclo[1.1.1]pentane: the bridgeheads are 1.87 Å apart, inside the C–C cutoff
        // (1.25 × 1.52 Å), which would give each five bonds.
        let mut atoms = vec![(6, [0.0, 0.0, 0.935]), (6, [0.0, 0.0, -0.935])];
        atoms.push((1, [0.0, 0.0, 2.025]));
        atoms.push((1, [0.0, 0.0, -2.025]));
        for k in 0..3 {
            let phi = (k as f64 * 120.0f64).to_radians();
            let (c, s) = (phi.cos(), phi.sin());
            atoms.push((6, [1.23 * c, 1.23 * s, 0.0]));
            for z in [0.893, -0.893] {
                atoms.push((1, [1.855 * c, 1.855 * s, z]));
            }
        }
        let m = molecule(&atoms);
        let p = perceive(&m).unwrap();
        let cc: Vec<_> = p
            .bonds
            .iter()
            .filter(|b| m.atoms[b.0] == 6 && m.atoms[b.1] == 6)
            .copied()
            .collect();
        assert_eq!(cc.len(), 6, "{cc:?}");
        assert!(cc.iter().all(|&(i, j, o)| o == 1 && (i, j) != (0, 1)));
        assert!(p.charges.iter().all(|&q| q == 0));
        assert_eq!(&p.hydrogen_counts(&m.atoms)[..2], &[1, 1]);
    }

    #[test]
    fn malformed_input_is_an_error() {
        let mut m = molecule(&[(8, [0.0; 3]), (1, [0.96, 0.0, 0.0])]);
        assert_eq!(
            assign(&m, &[(0, 2)], 0).unwrap_err(),
            PerceiveError::InvalidBond {
                i: 0,
                j: 2,
                atoms: 2
            }
        );
        m.positions.pop();
        assert_eq!(
            perceive(&m).unwrap_err(),
            PerceiveError::Positions {
                atoms: 2,
                positions: 1
            }
        );
    }

    #[test]
    fn unsupported_elements_are_named() {
        let m = molecule(&[(5, [0.0; 3]), (1, [1.19, 0.0, 0.0])]);
        let err = perceive(&m).unwrap_err();
        assert_eq!(
            err,
            PerceiveError::UnsupportedElement {
                index: 0,
                symbol: "B"
            }
        );
        assert!(err.to_string().contains("atom 0 is B"));
    }

    #[test]
    fn charged_states_change_the_valence_parity() {
        for z in [1, 6, 7, 8, 9] {
            let states = allowed_states(z).unwrap();
            assert_eq!(states[0].charge, 0);
            for s in &states[1..] {
                assert_ne!(s.charge, 0);
                assert_eq!((s.valence as i32 - states[0].valence as i32).abs() % 2, 1);
            }
        }
    }

    #[test]
    fn atom_order_does_not_change_the_structure() {
        let mut atoms = vec![
            (6, [0.0, 0.0, 0.0]),
            (7, [1.49, 0.0, 0.0]),
            (8, [2.053, 1.082, 0.0]),
            (8, [2.053, -1.082, 0.0]),
        ];
        atoms.extend(methyl([0.0; 3]));
        let m = molecule(&atoms);
        let order = [5, 3, 0, 6, 2, 4, 1];
        let shuffled = molecule(&order.iter().map(|&i| atoms[i]).collect::<Vec<_>>());
        let p = perceive(&m).unwrap();
        let q = perceive(&shuffled).unwrap();
        for (new, &old) in order.iter().enumerate() {
            assert_eq!(q.charges[new], p.charges[old]);
        }
        let mut mapped: Vec<_> = q
            .bonds
            .iter()
            .map(|&(i, j, o)| (order[i].min(order[j]), order[i].max(order[j]), o))
            .collect();
        mapped.sort_unstable();
        assert_eq!(mapped, p.bonds);
    }
}
