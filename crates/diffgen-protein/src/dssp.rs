//! Secondary structure by the Kabsch–Sander DSSP rules (Biopolymers 22:2577, 1983), following
//! the conventions of mkdssp (which made the stored labels): the electrostatic H-bond energy
//! with amide H placed 1.0 Å from N along the previous C=O direction, the two best partners
//! kept per residue, π-helices taking precedence over α-helices (DSSP ≥ 2.2), and bends from
//! the CA κ angle, and mkdssp 4's polyproline state `P` (runs of three in the PPII region).
//!
//! Tools older than mkdssp 4 have no `P`; [`agreement`] can read `P` as `-` for them.

use crate::structure::{Backbone, Vec3};

/// q1·q2·f of the Kabsch–Sander energy, kcal/mol·Å (0.42 e · 0.20 e · 332).
const COUPLING: f64 = 27.888;
/// Bonds weaker than this (kcal/mol) are not H-bonds.
const MAX_HBOND_ENERGY: f64 = -0.5;
/// Energies are clamped here, and atoms closer than `MIN_DISTANCE` give it outright.
const MIN_HBOND_ENERGY: f64 = -9.9;
const MIN_DISTANCE: f64 = 0.5;
/// Residue pairs with CA further apart than this cannot H-bond; skipped for speed (as mkdssp).
const MAX_CA_DISTANCE: f64 = 9.0;
/// κ above this (degrees) is a bend.
const BEND_KAPPA: f64 = 70.0;
/// Polyproline II region (mkdssp 4): φ, ψ within `PP_EPSILON` degrees of (−75°, 145°).
const PP_PHI: f64 = -75.0;
const PP_PSI: f64 = 145.0;
const PP_EPSILON: f64 = 29.0;

#[derive(Clone, Copy)]
struct Partner {
    other: usize,
    energy: f64,
}

const NONE: Partner = Partner {
    other: usize::MAX,
    energy: 0.0,
};

/// Keeps the two lowest energies, the way mkdssp does: only these count as bonds.
fn keep_best(slots: &mut [Partner; 2], other: usize, energy: f64) {
    if energy < slots[0].energy {
        slots[1] = slots[0];
        slots[0] = Partner { other, energy };
    } else if energy < slots[1].energy {
        slots[1] = Partner { other, energy };
    }
}

/// H-bond table: for each residue, its NH's two best acceptors (C=O partners).
struct HBonds {
    acceptors: Vec<[Partner; 2]>,
}

impl HBonds {
    fn new(b: &Backbone) -> Self {
        let n = b.len();
        let is_proline = |i: usize| {
            b.sequence
                .as_ref()
                .and_then(|s| s.chars().nth(i))
                .is_some_and(|c| c == 'P')
        };
        // Amide H: N plus the unit vector C=O of the previous residue; none on residue 0
        // (mkdssp puts it on N, which makes every energy 0) and none on prolines.
        let h: Vec<Option<Vec3>> = (0..n)
            .map(|i| {
                (i > 0 && !is_proline(i)).then(|| {
                    let co = b.c[i - 1] - b.o[i - 1];
                    b.n[i] + co / co.norm()
                })
            })
            .collect();
        let mut acceptors = vec![[NONE; 2]; n];
        let mut donors = vec![[NONE; 2]; n];
        let energy = |d: usize, a: usize| -> Option<f64> {
            let h = h[d]?;
            let (n_d, o_a, c_a) = (&b.n[d], &b.o[a], &b.c[a]);
            let (r_ho, r_hc, r_nc, r_no) = (
                (h - o_a).norm(),
                (h - c_a).norm(),
                (n_d - c_a).norm(),
                (n_d - o_a).norm(),
            );
            let e = if r_ho < MIN_DISTANCE
                || r_hc < MIN_DISTANCE
                || r_nc < MIN_DISTANCE
                || r_no < MIN_DISTANCE
            {
                MIN_HBOND_ENERGY
            } else {
                COUPLING * (1.0 / r_no + 1.0 / r_hc - 1.0 / r_ho - 1.0 / r_nc)
            };
            // mkdssp rounds to 0.001 kcal/mol; matching it keeps threshold cases identical.
            Some(((e * 1000.0).round() / 1000.0).max(MIN_HBOND_ENERGY))
        };
        for i in 0..n {
            for j in i + 1..n {
                if (b.ca[i] - b.ca[j]).norm() >= MAX_CA_DISTANCE {
                    continue;
                }
                // NH(i) → O(j), and NH(j) → O(i) unless j is i's direct successor.
                if let Some(e) = energy(i, j) {
                    keep_best(&mut acceptors[i], j, e);
                    keep_best(&mut donors[j], i, e);
                }
                if j != i + 1 {
                    if let Some(e) = energy(j, i) {
                        keep_best(&mut acceptors[j], i, e);
                        keep_best(&mut donors[i], j, e);
                    }
                }
            }
        }
        HBonds { acceptors }
    }

    /// NH of `donor` bonds to C=O of `acceptor` (Kabsch–Sander's Hbond(acceptor, donor)).
    fn bond(&self, donor: usize, acceptor: usize) -> bool {
        self.acceptors[donor]
            .iter()
            .any(|p| p.other == acceptor && p.energy < MAX_HBOND_ENERGY)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BridgeKind {
    Parallel,
    Antiparallel,
}

/// A ladder: runs of bridge partners, `i` ascending, `j` ascending (parallel) or descending.
struct Ladder {
    kind: BridgeKind,
    i: Vec<usize>,
    j: Vec<usize>,
}

fn bridge(hb: &HBonds, i: usize, j: usize) -> Option<BridgeKind> {
    let (a, b, c) = (i - 1, i, i + 1);
    let (d, e, f) = (j - 1, j, j + 1);
    if (hb.bond(c, e) && hb.bond(e, a)) || (hb.bond(f, b) && hb.bond(b, d)) {
        Some(BridgeKind::Parallel)
    } else if (hb.bond(c, d) && hb.bond(f, a)) || (hb.bond(e, b) && hb.bond(b, e)) {
        Some(BridgeKind::Antiparallel)
    } else {
        None
    }
}

fn ladders(hb: &HBonds, n: usize) -> Vec<Ladder> {
    let mut ladders: Vec<Ladder> = Vec::new();
    for i in 1..n.saturating_sub(4) {
        for j in i + 3..n - 1 {
            let Some(kind) = bridge(hb, i, j) else {
                continue;
            };
            let extend = ladders.iter_mut().find(|l| {
                l.kind == kind
                    && *l.i.last().unwrap() + 1 == i
                    && match kind {
                        BridgeKind::Parallel => *l.j.last().unwrap() + 1 == j,
                        BridgeKind::Antiparallel => l.j[0] == j + 1,
                    }
            });
            match extend {
                Some(l) => {
                    l.i.push(i);
                    match kind {
                        BridgeKind::Parallel => l.j.push(j),
                        BridgeKind::Antiparallel => l.j.insert(0, j),
                    }
                }
                None => ladders.push(Ladder {
                    kind,
                    i: vec![i],
                    j: vec![j],
                }),
            }
        }
    }
    // Join ladders of one kind separated by a β-bulge: a gap of at most one residue on one
    // strand and four on the other (mkdssp's test, including its unsigned arithmetic).
    ladders.sort_by_key(|l| (l.i[0], l.j[0]));
    let mut a = 0;
    while a < ladders.len() {
        let mut b = a + 1;
        while b < ladders.len() {
            let (x, y) = (&ladders[a], &ladders[b]);
            let gap = |hi: usize, lo: usize| hi.checked_sub(lo);
            let (ibi, iei) = (x.i[0], *x.i.last().unwrap());
            let (jbi, jei) = (x.j[0], *x.j.last().unwrap());
            let (ibj, iej) = (y.i[0], *y.i.last().unwrap());
            let (jbj, jej) = (y.j[0], *y.j.last().unwrap());
            let within = |g: Option<usize>, limit: usize| g.is_some_and(|g| g < limit);
            let skip = x.kind != y.kind || !within(gap(ibj, iei), 6) || (iei >= ibj && ibi <= iej);
            let bulge = !skip
                && match x.kind {
                    BridgeKind::Parallel => {
                        (within(gap(jbj, jei), 6) && within(gap(ibj, iei), 3))
                            || within(gap(jbj, jei), 3)
                    }
                    BridgeKind::Antiparallel => {
                        (within(gap(jbi, jej), 6) && within(gap(ibj, iei), 3))
                            || within(gap(jbi, jej), 3)
                    }
                };
            if bulge {
                let y = ladders.remove(b);
                let x = &mut ladders[a];
                x.i.extend(y.i);
                match x.kind {
                    BridgeKind::Parallel => x.j.extend(y.j),
                    BridgeKind::Antiparallel => {
                        let mut j = y.j;
                        j.extend(x.j.iter().copied());
                        x.j = j;
                    }
                }
            } else {
                b += 1;
            }
        }
        a += 1;
    }
    ladders
}

/// κ at residue i: the angle between CA(i−2)→CA(i) and CA(i)→CA(i+2), degrees.
fn kappa(ca: &[Vec3], i: usize) -> Option<f64> {
    if i < 2 || i + 2 >= ca.len() {
        return None;
    }
    let u = ca[i] - ca[i - 2];
    let v = ca[i + 2] - ca[i];
    let (nu, nv) = (u.norm(), v.norm());
    if nu == 0.0 || nv == 0.0 {
        return None;
    }
    Some((u.dot(&v) / (nu * nv)).clamp(-1.0, 1.0).acos().to_degrees())
}

/// DSSP 8-state string of a backbone: `H` α-helix, `G` 3₁₀, `I` π, `E` strand, `B` isolated
/// bridge, `T` turn, `S` bend, `P` polyproline II, `-` other.
pub fn dssp(b: &Backbone) -> String {
    let n = b.len();
    let mut ss = vec!['-'; n];
    if n == 0 {
        return String::new();
    }
    let hb = HBonds::new(b);

    for ladder in ladders(&hb, n) {
        let state = if ladder.i.len() > 1 { 'E' } else { 'B' };
        for range in [
            ladder.i[0]..=*ladder.i.last().unwrap(),
            ladder.j[0]..=*ladder.j.last().unwrap(),
        ] {
            for k in range {
                if ss[k] != 'E' {
                    ss[k] = state;
                }
            }
        }
    }

    // turn[s][i]: an s-turn starts at i, i.e. NH(i+s) bonds to C=O(i).
    let mut turn = [vec![false; n], vec![false; n], vec![false; n]];
    for (s, starts) in (3..=5).zip(turn.iter_mut()) {
        for (i, t) in starts.iter_mut().enumerate().take(n.saturating_sub(s)) {
            *t = hb.bond(i + s, i);
        }
    }
    let starts = |s: usize, i: usize| turn[s - 3][i];

    // Minimal helices: two consecutive s-turns at i−1 and i make residues i..i+s−1 helical.
    for i in 1..n.saturating_sub(4) {
        if starts(4, i) && starts(4, i - 1) {
            ss[i..=i + 3].fill('H');
        }
    }
    for i in 1..n.saturating_sub(3) {
        if starts(3, i) && starts(3, i - 1) && ss[i..=i + 2].iter().all(|&c| c == '-' || c == 'G') {
            ss[i..=i + 2].fill('G');
        }
    }
    for i in 1..n.saturating_sub(5) {
        if starts(5, i)
            && starts(5, i - 1)
            && ss[i..=i + 4].iter().all(|&c| matches!(c, '-' | 'I' | 'H'))
        {
            ss[i..=i + 4].fill('I');
        }
    }
    for (i, state) in ss.iter_mut().enumerate().take(n - 1).skip(1) {
        if *state != '-' {
            continue;
        }
        let is_turn = (3..=5).any(|s| (1..s).any(|k| i >= k && starts(s, i - k)));
        if is_turn {
            *state = 'T';
        } else if kappa(&b.ca, i).is_some_and(|k| k > BEND_KAPPA) {
            *state = 'S';
        }
    }
    // Polyproline II (mkdssp 4, minimal stretch 3): three consecutive residues with φ and ψ
    // within 29° of (−75°, 145°); only residues still `-` become `P`. Residue 0 and the last
    // residue have no φ or ψ and never start or join a stretch.
    let angles = crate::geometry::angles_from_backbone(b);
    let in_region = |i: usize| {
        let (phi, psi) = (angles[i][0].to_degrees(), angles[i][1].to_degrees());
        (phi - PP_PHI).abs() <= PP_EPSILON && (psi - PP_PSI).abs() <= PP_EPSILON
    };
    for i in 1..n.saturating_sub(3) {
        if (i..i + 3).all(in_region) {
            for c in &mut ss[i..i + 3] {
                if *c == '-' {
                    *c = 'P';
                }
            }
        }
    }
    ss.into_iter().collect()
}

/// 8-state to 3-state: H, G, I → `H`; E, B → `E`; anything else → `C`.
pub fn three_state(ss8: char) -> char {
    match ss8 {
        'H' | 'G' | 'I' => 'H',
        'E' | 'B' => 'E',
        _ => 'C',
    }
}

/// (matching positions, positions) of two DSSP strings; with `three` both sides are reduced
/// to 3 states first. Unequal lengths count the surplus as mismatches.
pub fn agreement(ours: &str, reference: &str, three: bool) -> (usize, usize) {
    let map = |c: char| {
        if three {
            three_state(c)
        } else {
            c
        }
    };
    let same = ours
        .chars()
        .zip(reference.chars())
        .filter(|(a, b)| map(*a) == map(*b))
        .count();
    (same, ours.chars().count().max(reference.chars().count()))
}
