//! Cα trace → full backbone (N, Cα, C, O), so that a model of Cα coordinates can write whole
//! backbones and be measured with DSSP and the other backbone metrics.
//!
//! Data-driven, after BBQ (Gront, Kmiecik & Kolinski, J Comput Chem 28:1593, 2007): each
//! peptide unit C_k, O_k, N_{k+1} sits in a frame on its virtual bond Cα_k → Cα_{k+1}, at the
//! mean position CATH train shows for the same local Cα geometry — the virtual angles at both
//! ends and the virtual torsion across it (they separate helix, strand and loop), corrected by
//! the two neighbouring torsions. Means shrink toward the virtual bond where the peptide's
//! rotation is uncertain, so each atom is then pushed out to its distance from that bond in a
//! rigid trans peptide (this restores C–N ≈ 1.33 Å), and positions along the bond scale with
//! its actual length. Cis peptides (Cα–Cα < 3.3 Å) have their own table; the first N and the
//! last C and O come from frames on the end residues.
//!
//! The table is `weights/ca-rebuild.json`, built by `examples/ca_rebuild_table.rs` from the
//! train split and bundled, so rebuilding needs no data.

mod grid;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::ProteinError;
use crate::geometry::{angle, dihedral};
use crate::structure::{Backbone, Vec3};
use grid::{Axis, Grid, GridFile};

/// Peptides with a shorter virtual bond (Å) are cis (trans ≈ 3.80, cis ≈ 2.9).
pub const CIS_BELOW: f64 = 3.3;

const TABLE_PATH: &str = "crates/diffgen-protein/weights/ca-rebuild.json";
static BUNDLED: &str = include_str!("../weights/ca-rebuild.json");

/// Per peptide unit k: virtual angles at Cα_k and Cα_{k+1}, then the virtual torsions across
/// bond k (Cα_{k-1..k+2}), bond k−1 and bond k+1; degrees, NaN where the chain ends.
type Features = [f64; 5];

/// A right-handed orthonormal frame; `x` along a virtual bond.
struct Frame {
    origin: Vec3,
    axes: [Vec3; 3],
}

impl Frame {
    /// `x` along `along`, `y` toward `hint` (perpendicular part). Degenerate input (zero or
    /// parallel vectors) gets a fixed perpendicular instead, so every trace gives a frame.
    fn new(origin: Vec3, along: Vec3, hint: Vec3) -> Frame {
        let x = along.try_normalize(1e-9).unwrap_or_else(Vec3::x);
        let perp = |v: Vec3| (v - x * v.dot(&x)).try_normalize(1e-6);
        let y = perp(hint)
            .or_else(|| perp(Vec3::z()))
            .or_else(|| perp(Vec3::y()))
            .unwrap_or_else(Vec3::y);
        Frame {
            origin,
            axes: [x, y, x.cross(&y)],
        }
    }

    fn local(&self, p: &Vec3) -> Vec3 {
        let d = p - self.origin;
        Vec3::new(
            d.dot(&self.axes[0]),
            d.dot(&self.axes[1]),
            d.dot(&self.axes[2]),
        )
    }

    fn global(&self, l: &Vec3) -> Vec3 {
        self.origin + self.axes[0] * l.x + self.axes[1] * l.y + self.axes[2] * l.z
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Both neighbours Cα_{k-1} and Cα_{k+2} exist.
    Interior,
    /// First peptide: no Cα_{k-1}.
    Start,
    /// Last peptide: no Cα_{k+2}.
    End,
    Cis,
    /// A two-residue trace: nothing but the bond itself.
    Lone,
}

struct Unit {
    kind: Kind,
    frame: Frame,
    features: Features,
    length: f64,
}

/// The peptide units of a trace, with their frames (origin at the bond's midpoint, `y` toward
/// Cα_{k-1}, or toward Cα_{k+2} for the first) and features.
fn units(ca: &[Vec3]) -> Vec<Unit> {
    let l = ca.len();
    let tau = |j: Option<usize>| match j {
        Some(j) if j + 3 < l => dihedral(&ca[j], &ca[j + 1], &ca[j + 2], &ca[j + 3]).to_degrees(),
        _ => f64::NAN,
    };
    (0..l.saturating_sub(1))
        .map(|k| {
            let (a, b) = (ca[k], ca[k + 1]);
            let p = k.checked_sub(1).map(|i| ca[i]);
            let q = ca.get(k + 2).copied();
            let features = [
                p.map_or(f64::NAN, |p| angle(&p, &a, &b).to_degrees()),
                q.map_or(f64::NAN, |q| angle(&a, &b, &q).to_degrees()),
                tau(k.checked_sub(1)),
                tau(k.checked_sub(2)),
                tau(Some(k)),
            ];
            let length = (b - a).norm();
            let kind = match (p.is_some(), q.is_some()) {
                (true, _) if length < CIS_BELOW => Kind::Cis,
                (true, true) => Kind::Interior,
                (false, true) => Kind::Start,
                (true, false) => Kind::End,
                (false, false) => Kind::Lone,
            };
            let hint = match (p, q) {
                (Some(p), _) => p - a,
                (None, Some(q)) => q - b,
                (None, None) => Vec3::zeros(),
            };
            Unit {
                kind,
                frame: Frame::new((a + b) * 0.5, b - a, hint),
                features,
                length,
            }
        })
        .collect()
}

/// The frame of an end residue: origin on it, `x` toward its neighbour, `y` toward the next
/// one; the feature is the virtual angle at the neighbour. `reverse` takes the chain's end.
fn terminus(ca: &[Vec3], reverse: bool) -> (Frame, [f64; 1]) {
    let l = ca.len();
    let at = |i: usize| ca.get(if reverse { l.wrapping_sub(1 + i) } else { i });
    let (Some(&a), b, c) = (at(0), at(1), at(2)) else {
        return (Frame::new(Vec3::zeros(), Vec3::x(), Vec3::y()), [f64::NAN]);
    };
    let along = b.map_or(Vec3::zeros(), |b| b - a);
    let hint = match (b, c) {
        (Some(b), Some(c)) => c - b,
        _ => Vec3::zeros(),
    };
    let theta = match (b, c) {
        (Some(b), Some(c)) => angle(&a, b, c).to_degrees(),
        _ => f64::NAN,
    };
    (Frame::new(a, along, hint), [theta])
}

/// The learned positions: mean local atoms per bin of local Cα geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildTable {
    /// What it was fitted on.
    pub source: String,
    /// Mean Cα–Cα of trans and cis peptides in the data (Å).
    ca_ca: [f64; 2],
    /// Distances of C, O, N from the virtual bond in a trans peptide (Å).
    radius: [f64; 3],
    /// Tried in order until one has data near the features.
    interior: Vec<Grid>,
    /// Additive corrections from the torsions before and after (interior peptides).
    context: Vec<Grid>,
    start: Vec<Grid>,
    end: Vec<Grid>,
    cis: Vec<Grid>,
    /// N of the first residue; C and O of the last.
    n_term: Vec<Grid>,
    c_term: Vec<Grid>,
}

#[derive(Serialize, Deserialize)]
struct TableFile {
    source: String,
    ca_ca: [f64; 2],
    radius: [f64; 3],
    interior: Vec<GridFile>,
    context: Vec<GridFile>,
    start: Vec<GridFile>,
    end: Vec<GridFile>,
    cis: Vec<GridFile>,
    n_term: Vec<GridFile>,
    c_term: Vec<GridFile>,
}

/// The first level with data near `features`.
fn lookup(levels: &[Grid], features: &[f64]) -> Option<Vec<Vec3>> {
    levels.iter().find_map(|g| g.lookup(features))
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

impl RebuildTable {
    /// The grids, empty: interior peptides in 5° bins of the angles and 10° of the torsion
    /// (then 10°/20° and coarser where a cell is sparse), their context corrections in 10°,
    /// the rest in 10° angles and 30° torsions (the rarer cis). The finer first level took
    /// the Ramachandran divergence of rebuilt test chains from 0.061 to 0.054.
    fn empty(source: &str) -> RebuildTable {
        let (angle, torsion) = (Axis::angle, Axis::torsion);
        let one = |axis: Axis, atoms| vec![Grid::new(vec![axis], atoms), Grid::new(vec![], atoms)];
        RebuildTable {
            source: source.to_string(),
            ca_ca: [0.0; 2],
            radius: [0.0; 3],
            interior: vec![
                Grid::new(vec![angle(0, 5.0), angle(1, 5.0), torsion(2, 10.0)], 3),
                Grid::new(vec![angle(0, 10.0), angle(1, 10.0), torsion(2, 20.0)], 3),
                Grid::new(vec![torsion(2, 10.0)], 3),
                Grid::new(vec![], 3),
            ],
            context: vec![
                Grid::new(vec![torsion(2, 10.0), torsion(3, 10.0)], 3),
                Grid::new(vec![torsion(2, 10.0), torsion(4, 10.0)], 3),
            ],
            start: one(angle(1, 10.0), 3),
            end: one(angle(0, 10.0), 3),
            cis: one(torsion(2, 30.0), 3),
            n_term: one(angle(0, 10.0), 1),
            c_term: one(angle(0, 10.0), 2),
        }
    }

    fn levels(&self, kind: Kind) -> &[Grid] {
        match kind {
            Kind::Interior => &self.interior,
            Kind::Start | Kind::Lone => &self.start,
            Kind::End => &self.end,
            Kind::Cis => &self.cis,
        }
    }

    fn levels_mut(&mut self, kind: Kind) -> &mut [Grid] {
        match kind {
            Kind::Interior => &mut self.interior,
            Kind::Start | Kind::Lone => &mut self.start,
            Kind::End => &mut self.end,
            Kind::Cis => &mut self.cis,
        }
    }

    /// C_k, O_k, N_{k+1} of a peptide in its frame, before the radial and axial adjustment.
    fn raw(&self, unit: &Unit, context: usize) -> [Vec3; 3] {
        let mut local = lookup(self.levels(unit.kind), &unit.features)
            .or_else(|| lookup(&self.interior, &[]))
            .unwrap_or_else(|| vec![Vec3::zeros(); 3]);
        if unit.kind == Kind::Interior {
            for grid in &self.context[..context] {
                if let Some(c) = grid.lookup(&unit.features) {
                    local.iter_mut().zip(c).for_each(|(l, c)| *l += c);
                }
            }
        }
        [local[0], local[1], local[2]]
    }

    /// C_k, O_k, N_{k+1} of a peptide in world coordinates.
    fn place(&self, unit: &Unit) -> [Vec3; 3] {
        let cis = unit.kind == Kind::Cis;
        let scale = unit.length / self.ca_ca[usize::from(cis)];
        let mut local = self.raw(unit, self.context.len());
        for (l, r) in local.iter_mut().zip(self.radius) {
            let now = l.y.hypot(l.z);
            if !cis && now > 1e-6 {
                l.y *= r / now;
                l.z *= r / now;
            }
            l.x *= if scale.is_finite() { scale } else { 1.0 };
        }
        local.map(|l| unit.frame.global(&l))
    }

    /// N, C and O rebuilt around `ca` (Å). Never fails: traces shorter than 3 residues or with
    /// degenerate geometry get fixed fallback frames, non-finite coordinates give NaN atoms.
    pub fn rebuild(&self, id: &str, ca: &[Vec3]) -> Backbone {
        let l = ca.len();
        let mut b = Backbone {
            id: id.to_string(),
            n: ca.to_vec(),
            ca: ca.to_vec(),
            c: ca.to_vec(),
            o: ca.to_vec(),
            sequence: None,
            dssp: None,
        };
        if l == 0 {
            return b;
        }
        for (k, unit) in units(ca).iter().enumerate() {
            [b.c[k], b.o[k], b.n[k + 1]] = self.place(unit);
        }
        let (frame, theta) = terminus(ca, false);
        if let Some(n) = lookup(&self.n_term, &theta) {
            b.n[0] = frame.global(&n[0]);
        }
        let (frame, theta) = terminus(ca, true);
        if let Some(co) = lookup(&self.c_term, &theta) {
            b.c[l - 1] = frame.global(&co[0]);
            b.o[l - 1] = frame.global(&co[1]);
        }
        b
    }

    /// Fits the table on real backbones (the train split): first the mean bond lengths and
    /// radii, then the grids, then each context correction on what is left.
    pub fn fit(set: &[Backbone], source: &str) -> RebuildTable {
        let mut t = RebuildTable::empty(source);
        let all: Vec<(&Backbone, Vec<Unit>)> = set.iter().map(|b| (b, units(&b.ca))).collect();
        let peptide = |b: &Backbone, k: usize, u: &Unit| {
            [b.c[k], b.o[k], b.n[k + 1]].map(|p| u.frame.local(&p))
        };
        let (mut sums, mut counts) = ([0.0; 2], [0usize; 2]);
        let mut radius = [0.0; 3];
        for (b, units) in &all {
            for (k, u) in units.iter().enumerate() {
                let cis = usize::from(u.length < CIS_BELOW);
                sums[cis] += u.length;
                counts[cis] += 1;
                if cis == 0 {
                    for (r, l) in radius.iter_mut().zip(peptide(b, k, u)) {
                        *r += l.y.hypot(l.z);
                    }
                }
            }
        }
        t.ca_ca = [0, 1].map(|i| round4(sums[i] / counts[i].max(1) as f64));
        t.radius = radius.map(|r| round4(r / counts[0].max(1) as f64));
        // Positions along the bond are stored for a bond of the mean length.
        let normalised = |t: &RebuildTable, b: &Backbone, k: usize, u: &Unit| {
            let scale = t.ca_ca[usize::from(u.kind == Kind::Cis)] / u.length.max(1e-9);
            peptide(b, k, u).map(|l| Vec3::new(l.x * scale, l.y, l.z))
        };
        for (b, units) in &all {
            for (k, u) in units.iter().enumerate() {
                let atoms = normalised(&t, b, k, u);
                for g in t.levels_mut(u.kind) {
                    g.add(&u.features, &atoms);
                }
            }
            let (frame, theta) = terminus(&b.ca, false);
            for g in &mut t.n_term {
                g.add(&theta, &[frame.local(&b.n[0])]);
            }
            let (frame, theta) = terminus(&b.ca, true);
            let l = b.len();
            for g in &mut t.c_term {
                g.add(
                    &theta,
                    &[frame.local(&b.c[l - 1]), frame.local(&b.o[l - 1])],
                );
            }
        }
        for g in [
            &mut t.interior,
            &mut t.start,
            &mut t.end,
            &mut t.cis,
            &mut t.n_term,
            &mut t.c_term,
        ]
        .into_iter()
        .flatten()
        {
            g.finish();
        }
        for c in 0..t.context.len() {
            let mut grid = t.context[c].clone();
            for (b, units) in &all {
                for (k, u) in units.iter().enumerate() {
                    if u.kind == Kind::Interior {
                        let (atoms, now) = (normalised(&t, b, k, u), t.raw(u, c));
                        let rest: Vec<Vec3> = atoms.iter().zip(now).map(|(a, p)| a - p).collect();
                        grid.add(&u.features, &rest);
                    }
                }
            }
            grid.finish();
            t.context[c] = grid;
        }
        t
    }

    /// Reads the stored form ([`to_json`](Self::to_json)), checking every grid and the Cα–Cα
    /// means; errors name the bundled table's path, whatever `text` came from.
    pub fn from_json(text: &str) -> Result<RebuildTable, ProteinError> {
        let bad = |e: String| ProteinError::structure(TABLE_PATH, format!("rebuild table: {e}"));
        let f: TableFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let grids = |v: Vec<GridFile>, atoms: usize| -> Result<Vec<Grid>, ProteinError> {
            let mut out = Vec::new();
            for g in v {
                let g = Grid::from_file(g).map_err(bad)?;
                if g.atoms != atoms {
                    return Err(bad(format!("{} atoms per cell, expected {atoms}", g.atoms)));
                }
                out.push(g);
            }
            Ok(out)
        };
        if f.ca_ca.iter().any(|&d| !(d > 0.0 && d.is_finite())) {
            return Err(bad(format!("Cα–Cα {:?}", f.ca_ca)));
        }
        Ok(RebuildTable {
            source: f.source,
            ca_ca: f.ca_ca,
            radius: f.radius,
            interior: grids(f.interior, 3)?,
            context: grids(f.context, 3)?,
            start: grids(f.start, 3)?,
            end: grids(f.end, 3)?,
            cis: grids(f.cis, 3)?,
            n_term: grids(f.n_term, 1)?,
            c_term: grids(f.c_term, 2)?,
        })
    }

    /// The stored form: one grid per line, positions in integer mÅ.
    pub fn to_json(&self) -> String {
        let files = |v: &[Grid]| v.iter().map(Grid::to_file).collect::<Vec<_>>();
        let f = TableFile {
            source: self.source.clone(),
            ca_ca: self.ca_ca,
            radius: self.radius,
            interior: files(&self.interior),
            context: files(&self.context),
            start: files(&self.start),
            end: files(&self.end),
            cis: files(&self.cis),
            n_term: files(&self.n_term),
            c_term: files(&self.c_term),
        };
        let mut s = serde_json::to_string(&f).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The bundled table (`weights/ca-rebuild.json`), parsed once.
pub fn bundled_table() -> Result<&'static RebuildTable, ProteinError> {
    static TABLE: OnceLock<Result<RebuildTable, String>> = OnceLock::new();
    TABLE
        .get_or_init(|| RebuildTable::from_json(BUNDLED).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| ProteinError::structure(TABLE_PATH, e.clone()))
}

/// N, C and O rebuilt around a Cα trace (Å) with the bundled table; never fails (see
/// [`RebuildTable::rebuild`]). [`try_backbone_from_ca`] checks the trace first.
pub fn backbone_from_ca(id: &str, ca: &[Vec3]) -> Backbone {
    match bundled_table() {
        Ok(t) => t.rebuild(id, ca),
        // Unreachable while the crate's tests pass (they parse the bundled file): degrade to
        // an empty table rather than fail a sampling run.
        Err(_) => RebuildTable::empty("").rebuild(id, ca),
    }
}

/// [`backbone_from_ca`] for a trace that must be usable: at least 3 residues, every
/// coordinate finite.
pub fn try_backbone_from_ca(id: &str, ca: &[Vec3]) -> Result<Backbone, ProteinError> {
    if ca.len() < 3 {
        return Err(ProteinError::setting(
            "ca",
            format!("{id}: {} Cα atoms; a backbone needs at least 3", ca.len()),
        ));
    }
    if let Some(i) = ca.iter().position(|p| !p.iter().all(|x| x.is_finite())) {
        return Err(ProteinError::setting(
            "ca",
            format!("{id}: residue {i}: non-finite Cα coordinate"),
        ));
    }
    Ok(bundled_table()?.rebuild(id, ca))
}
