//! TM-score and a TM-align-style structural alignment of CA traces (Zhang & Skolnick,
//! Proteins 57:702, 2004; Nucleic Acids Res 33:2302, 2005), written from the papers' recipe:
//!
//! 1. initial alignments: gapless threading, secondary structure (assigned from CA distances),
//!    superposition of fragment pairs followed by dynamic programming, and secondary structure
//!    plus the best superposition so far;
//! 2. each refined by iterating dynamic programming on the matrix 1/(1 + d²/d0²) (gap opening
//!    −0.6, then 0) with the superposition that maximises the TM-score of the alignment;
//! 3. the superposition search of TM-score: superpose fragments of the alignment (lengths L,
//!    L/2, L/4, … ≥ 4), then repeatedly re-superpose on the pairs closer than d0_search.
//!
//! The search normalises by the shorter chain, as TM-align does; the result carries the score
//! normalised by each chain (`tm_norm_a` by `a`'s length = TMalign's "normalized by Chain_1"
//! when `a` is its first argument). It is a close heuristic, not a port: scores agree with
//! TMalign to a few hundredths (see the crate's tests), not bit for bit.

use std::path::Path;

use crate::geometry::{kabsch, Superposition};
use crate::structure::Vec3;

/// What [`tm_align`] finds for chains `a` and `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TmResult {
    /// TM-score normalised by the length of `a`.
    pub tm_norm_a: f64,
    /// TM-score normalised by the length of `b`.
    pub tm_norm_b: f64,
    /// RMSD (Å) over the aligned pairs within the TM-align distance cutoff.
    pub rmsd: f64,
    /// Number of those pairs.
    pub aligned: usize,
}

impl TmResult {
    /// The mean of both normalisations: symmetric, used for pairwise diversity.
    pub fn mean(&self) -> f64 {
        0.5 * (self.tm_norm_a + self.tm_norm_b)
    }
}

/// TM-score's length-dependent distance scale d0(L) (Å), at least 0.5.
pub fn d0(length: usize) -> f64 {
    if length > 21 {
        (1.24 * ((length - 15) as f64).cbrt() - 1.8).max(0.5)
    } else {
        0.5
    }
}

/// TM-score of a fixed pairing `a[k] ↔ b[k]` (same length, e.g. a structure and its
/// reconstruction), normalised by that length, with TM-score's superposition search.
pub fn tm_score_fixed(a: &[Vec3], b: &[Vec3]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let pairs: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
    let params = Params::new(n);
    search(a, b, &pairs, &params, 1, None).0
}

/// Distance scales of one normalisation length.
struct Params {
    lnorm: f64,
    d0: f64,
    d0_search: f64,
    /// Pairs further apart than this do not count while searching (TM-align's `score_d8`).
    d8: f64,
}

impl Params {
    fn new(lnorm: usize) -> Self {
        let d0 = d0(lnorm);
        Params {
            lnorm: lnorm as f64,
            d0,
            d0_search: d0.clamp(4.5, 8.0),
            d8: 1.5 * (lnorm as f64).powf(0.3) + 3.5,
        }
    }
}

/// TM-score of `pairs` under `sup`, and the distances of the pairs.
fn score(
    x: &[Vec3],
    y: &[Vec3],
    pairs: &[(usize, usize)],
    sup: &Superposition,
    p: &Params,
    cutoff: Option<f64>,
    dist: &mut Vec<f64>,
) -> f64 {
    dist.clear();
    let mut sum = 0.0;
    for &(i, j) in pairs {
        let d = (sup.apply(&x[i]) - y[j]).norm();
        dist.push(d);
        if cutoff.is_none_or(|c| d <= c) {
            sum += 1.0 / (1.0 + (d / p.d0).powi(2));
        }
    }
    sum / p.lnorm
}

/// Pairs (indices into `dist`) closer than d0_search, loosened by 0.5 Å until at least three.
fn close_pairs(dist: &[f64], p: &Params, out: &mut Vec<usize>) {
    let mut cut = p.d0_search;
    loop {
        out.clear();
        out.extend((0..dist.len()).filter(|&k| dist[k] < cut));
        if out.len() >= 3 || out.len() == dist.len() {
            return;
        }
        cut += 0.5;
    }
}

fn superpose_subset(
    x: &[Vec3],
    y: &[Vec3],
    pairs: &[(usize, usize)],
    subset: &[usize],
) -> Superposition {
    let xs: Vec<Vec3> = subset.iter().map(|&k| x[pairs[k].0]).collect();
    let ys: Vec<Vec3> = subset.iter().map(|&k| y[pairs[k].1]).collect();
    kabsch(&xs, &ys)
}

/// TM-score's superposition search over an alignment: best score and its superposition.
/// `step` is the stride of fragment starts (1 = exhaustive; TM-align uses 40 while searching).
fn search(
    x: &[Vec3],
    y: &[Vec3],
    pairs: &[(usize, usize)],
    p: &Params,
    step: usize,
    cutoff: Option<f64>,
) -> (f64, Superposition) {
    let n = pairs.len();
    let mut best = (0.0, Superposition::identity());
    if n == 0 {
        return best;
    }
    let l_min = n.min(4);
    let mut l_frag = n;
    let (mut dist, mut selected, mut next) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let last = n - l_frag;
        let mut starts: Vec<usize> = (0..=last).step_by(step.max(1)).collect();
        if starts.last() != Some(&last) {
            starts.push(last);
        }
        for start in starts {
            selected.clear();
            selected.extend(start..start + l_frag);
            for _ in 0..20 {
                let sup = superpose_subset(x, y, pairs, &selected);
                let tm = score(x, y, pairs, &sup, p, cutoff, &mut dist);
                if tm > best.0 {
                    best = (tm, sup);
                }
                close_pairs(&dist, p, &mut next);
                if next == selected {
                    break;
                }
                std::mem::swap(&mut selected, &mut next);
            }
        }
        if l_frag == l_min {
            return best;
        }
        l_frag = (l_frag / 2).max(l_min);
    }
}

/// A quick estimate for ranking initial alignments: superpose all pairs, then twice more on
/// the close ones.
fn quick_score(x: &[Vec3], y: &[Vec3], pairs: &[(usize, usize)], p: &Params) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    let mut selected: Vec<usize> = (0..pairs.len()).collect();
    let (mut dist, mut best) = (Vec::new(), 0.0f64);
    for _ in 0..3 {
        let sup = superpose_subset(x, y, pairs, &selected);
        best = best.max(score(x, y, pairs, &sup, p, Some(p.d8), &mut dist));
        let mut next = Vec::new();
        close_pairs(&dist, p, &mut next);
        selected = next;
    }
    best
}

/// Needleman–Wunsch as TM-align does it: a gap costs `gap` when it opens (after a match),
/// nothing to extend, end gaps free. Returns the aligned pairs in order.
fn dp(la: usize, lb: usize, s: impl Fn(usize, usize) -> f64, gap: f64) -> Vec<(usize, usize)> {
    let w = lb + 1;
    let mut val = vec![0.0f64; (la + 1) * w];
    let mut diag = vec![false; (la + 1) * w];
    for i in 1..=la {
        for j in 1..=lb {
            let d = val[(i - 1) * w + j - 1] + s(i - 1, j - 1);
            let up = (i - 1) * w + j;
            let h = val[up] + if diag[up] { gap } else { 0.0 };
            let left = i * w + j - 1;
            let v = val[left] + if diag[left] { gap } else { 0.0 };
            let k = i * w + j;
            if d >= h && d >= v {
                val[k] = d;
                diag[k] = true;
            } else {
                val[k] = h.max(v);
            }
        }
    }
    let (mut i, mut j) = (la, lb);
    let mut pairs = Vec::new();
    while i > 0 && j > 0 {
        let k = i * w + j;
        if diag[k] {
            pairs.push((i - 1, j - 1));
            i -= 1;
            j -= 1;
        } else {
            let up = (i - 1) * w + j;
            let left = i * w + j - 1;
            let h = val[up] + if diag[up] { gap } else { 0.0 };
            let v = val[left] + if diag[left] { gap } else { 0.0 };
            if v >= h {
                j -= 1;
            } else {
                i -= 1;
            }
        }
    }
    pairs.reverse();
    pairs
}

/// DP on the TM-score matrix of `x` under `sup` against `y`.
fn dp_superposed(
    x: &[Vec3],
    y: &[Vec3],
    sup: &Superposition,
    p: &Params,
    gap: f64,
) -> Vec<(usize, usize)> {
    let xt: Vec<Vec3> = x.iter().map(|v| sup.apply(v)).collect();
    let d02 = p.d0 * p.d0;
    dp(
        x.len(),
        y.len(),
        |i, j| 1.0 / (1.0 + (xt[i] - y[j]).norm_squared() / d02),
        gap,
    )
}

/// Secondary structure from CA distances alone (TM-align's assignment): 2 helix, 4 strand,
/// 3 turn, 1 coil.
fn ca_secondary_structure(ca: &[Vec3]) -> Vec<u8> {
    let n = ca.len();
    (0..n)
        .map(|i| {
            if i < 2 || i + 2 >= n {
                return 1;
            }
            let d = |a: usize, b: usize| (ca[a] - ca[b]).norm();
            let (d13, d14, d15) = (d(i - 2, i), d(i - 2, i + 1), d(i - 2, i + 2));
            let (d24, d25, d35) = (d(i - 1, i + 1), d(i - 1, i + 2), d(i, i + 2));
            let near = |v: f64, target: f64, delta: f64| (v - target).abs() < delta;
            if near(d15, 6.37, 2.1)
                && near(d14, 5.18, 2.1)
                && near(d25, 5.18, 2.1)
                && near(d13, 5.45, 2.1)
                && near(d24, 5.45, 2.1)
                && near(d35, 5.45, 2.1)
            {
                2
            } else if near(d15, 13.0, 1.42)
                && near(d14, 10.4, 1.42)
                && near(d25, 10.4, 1.42)
                && near(d13, 6.1, 1.42)
                && near(d24, 6.1, 1.42)
                && near(d35, 6.1, 1.42)
            {
                4
            } else if d15 < 8.0 {
                3
            } else {
                1
            }
        })
        .collect()
}

/// The search state: the best alignment seen, by the (searching) TM-score.
struct Best {
    tm: f64,
    pairs: Vec<(usize, usize)>,
    sup: Superposition,
}

/// Refines an alignment by iterated DP under the superposition it implies.
fn refine(x: &[Vec3], y: &[Vec3], start: &[(usize, usize)], p: &Params, best: &mut Best) {
    if start.len() < 3 {
        return;
    }
    let (tm0, sup0) = search(x, y, start, p, 40, Some(p.d8));
    if tm0 > best.tm {
        *best = Best {
            tm: tm0,
            pairs: start.to_vec(),
            sup: sup0,
        };
    }
    for gap in [-0.6, 0.0] {
        let mut sup = sup0;
        let mut previous = f64::NAN;
        for _ in 0..30 {
            let pairs = dp_superposed(x, y, &sup, p, gap);
            if pairs.len() < 3 {
                break;
            }
            let (tm, next) = search(x, y, &pairs, p, 40, Some(p.d8));
            if tm > best.tm {
                *best = Best {
                    tm,
                    pairs,
                    sup: next,
                };
            }
            if (tm - previous).abs() < 1e-6 {
                break;
            }
            previous = tm;
            sup = next;
        }
    }
}

/// TM-score of `a` against `b` after a TM-align-style structural alignment (module docs).
/// Both normalisations are returned; they are computed from one alignment, found while
/// normalising by the shorter chain.
pub fn tm_align(a: &[Vec3], b: &[Vec3]) -> TmResult {
    let (x, y) = (a, b);
    let (la, lb) = (x.len(), y.len());
    let empty = TmResult {
        tm_norm_a: 0.0,
        tm_norm_b: 0.0,
        rmsd: 0.0,
        aligned: 0,
    };
    if la < 3 || lb < 3 {
        return empty;
    }
    let p = Params::new(la.min(lb));
    let mut best = Best {
        tm: -1.0,
        pairs: Vec::new(),
        sup: Superposition::identity(),
    };

    // 1. Gapless threading: every shift with a reasonable overlap.
    let min_overlap = (la.min(lb) / 2).max(5).min(la.min(lb));
    let mut threading: (f64, Vec<(usize, usize)>) = (-1.0, Vec::new());
    for shift in -(lb as isize - min_overlap as isize)..=(la as isize - min_overlap as isize) {
        let pairs: Vec<(usize, usize)> = (0..la)
            .filter_map(|i| {
                let j = i as isize - shift;
                (0..lb as isize).contains(&j).then_some((i, j as usize))
            })
            .collect();
        let tm = quick_score(x, y, &pairs, &p);
        if tm > threading.0 {
            threading = (tm, pairs);
        }
    }
    refine(x, y, &threading.1, &p, &mut best);

    // 2. Secondary structure.
    let (ssx, ssy) = (ca_secondary_structure(x), ca_secondary_structure(y));
    let ss_pairs = dp(
        la,
        lb,
        |i, j| if ssx[i] == ssy[j] { 1.0 } else { 0.0 },
        -1.0,
    );
    refine(x, y, &ss_pairs, &p, &mut best);

    // 3. Fragment pairs superposed, then DP: a local structural match seeds the alignment.
    let min_len = la.min(lb);
    let mut fragment: (f64, Vec<(usize, usize)>) = (-1.0, Vec::new());
    let mut lengths = vec![20.min(min_len / 3), 100.min(min_len / 2)];
    lengths.dedup();
    for f in lengths.into_iter().filter(|&f| f >= 4) {
        let positions = |l: usize| -> Vec<usize> {
            let last = l - f;
            let step = (last / 7).max(1);
            let mut v: Vec<usize> = (0..=last).step_by(step).collect();
            if v.last() != Some(&last) {
                v.push(last);
            }
            v
        };
        for &i in &positions(la) {
            for &j in &positions(lb) {
                let sup = kabsch(&x[i..i + f], &y[j..j + f]);
                let pairs = dp_superposed(x, y, &sup, &p, -0.6);
                let tm = quick_score(x, y, &pairs, &p);
                if tm > fragment.0 {
                    fragment = (tm, pairs);
                }
            }
        }
    }
    refine(x, y, &fragment.1, &p, &mut best);

    // 4. Secondary structure plus the best superposition so far.
    let xt: Vec<Vec3> = x.iter().map(|v| best.sup.apply(v)).collect();
    let d02 = p.d0 * p.d0;
    let mixed = dp(
        la,
        lb,
        |i, j| {
            let ss = if ssx[i] == ssy[j] { 0.5 } else { 0.0 };
            ss + 1.0 / (1.0 + (xt[i] - y[j]).norm_squared() / d02)
        },
        -1.0,
    );
    refine(x, y, &mixed, &p, &mut best);

    // Final scores: the aligned pairs within d8 under the best superposition, then an
    // exhaustive superposition search for each normalisation.
    let close: Vec<(usize, usize)> = best
        .pairs
        .iter()
        .copied()
        .filter(|&(i, j)| (best.sup.apply(&x[i]) - y[j]).norm() <= p.d8)
        .collect();
    if close.is_empty() {
        return empty;
    }
    let xs: Vec<Vec3> = close.iter().map(|&(i, _)| x[i]).collect();
    let ys: Vec<Vec3> = close.iter().map(|&(_, j)| y[j]).collect();
    let rmsd = crate::geometry::kabsch_rmsd(&xs, &ys);
    let tm_norm_a = search(x, y, &close, &Params::new(la), 1, None).0;
    let tm_norm_b = search(x, y, &close, &Params::new(lb), 1, None).0;
    TmResult {
        tm_norm_a,
        tm_norm_b,
        rmsd,
        aligned: close.len(),
    }
}

/// What the external TMalign program reports for one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExternalTm {
    /// "TM-score normalized by length of Chain_1" (the first file).
    pub tm_norm_a: f64,
    /// "… of Chain_2".
    pub tm_norm_b: f64,
    /// RMSD (Å) over the aligned residues, as TMalign reports it.
    pub rmsd: f64,
    /// TMalign's aligned length.
    pub aligned: usize,
}

/// Runs `TMalign a b` when the program is on PATH; `None` when it is missing or its output
/// cannot be parsed (the built-in [`tm_align`] is the fallback, and results say which ran).
pub fn tmalign_external(a: &Path, b: &Path) -> Option<ExternalTm> {
    let out = std::process::Command::new("TMalign")
        .arg(a)
        .arg(b)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_tmalign(&String::from_utf8_lossy(&out.stdout))
}

/// Parses TMalign's report (the "Aligned length=…" line and the two "TM-score=" lines).
pub fn parse_tmalign(text: &str) -> Option<ExternalTm> {
    let mut tms = Vec::new();
    let (mut rmsd, mut aligned) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Aligned length=") {
            let mut parts = rest.split(',');
            aligned = parts.next().and_then(|s| s.trim().parse().ok());
            rmsd = parts
                .next()
                .and_then(|s| s.trim().strip_prefix("RMSD="))
                .and_then(|s| s.trim().parse().ok());
        } else if let Some(rest) = line.strip_prefix("TM-score=") {
            tms.push(rest.split_whitespace().next()?.parse::<f64>().ok()?);
        }
    }
    Some(ExternalTm {
        tm_norm_a: *tms.first()?,
        tm_norm_b: *tms.get(1)?,
        rmsd: rmsd?,
        aligned: aligned?,
    })
}
