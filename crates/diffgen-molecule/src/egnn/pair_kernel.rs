//! The edge work of one EGNN layer as a single CPU kernel, forward and hand-written backward.
//!
//! For every ordered pair (i, j), i ≠ j, of real atoms of a molecule:
//!
//! ```text
//! z1 = p_i + q_j + w_r·r_ij + w_d·d_ij (+ e_ij·G)   p = h·W_i + b1, q = h·W_j (per-node products)
//! m  = silu(silu(z1)·W2 + b2)
//! Gate:          out_i += σ(m·w + b) · m / ν
//! Displacement:  out_i += tanh(m·w) · range · (x_i − x_j)/(√(r_ij + 1e-8) + κ) / ν
//! ```
//!
//! with `r_ij = |x_i − x_j|²`, `d_ij = |x0_i − x0_j|²` and, where given, pair features `e_ij`
//! (F wide) and their projection `G` `[F, H]` (none for EDM's EGNN): the projection runs here,
//! per chunk of real pairs, so the `[pairs, H]` product never exists as a padded tensor. Only
//! real pairs are visited, so a
//! padded batch costs the edge work of its real atoms. Molecules are cut into chunks of
//! similar edge counts and the chunks run on rayon's threads; each chunk owns its molecules'
//! rows, so per-row outputs need no locks, and per-parameter gradients are summed at the end.

use std::ops::Range;

use diffgen_nn::cpu::{dot, matmul, sigmoid};
use diffgen_nn::with_best_isa;
use rayon::prelude::*;

/// What the pair MLP's output feeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Head {
    /// EDM's GCL: messages gated by a sigmoid attention weight, summed per atom (`[rows, H]`).
    Gate,
    /// EDM's equivariant update: a bounded scalar per pair times the normalised coordinate
    /// difference, summed per atom (`[rows, 3]`).
    Displacement {
        /// `range`, the bound of the per-pair scalar (EDM's `coords_range`).
        coords_range: f32,
        /// κ, added to the distance the difference is divided by (EDM's `norm_constant`).
        norm_constant: f32,
    },
}

impl Head {
    /// Output channels per atom.
    pub fn width(&self, hidden: usize) -> usize {
        match self {
            Head::Gate => hidden,
            Head::Displacement { .. } => 3,
        }
    }
}

/// The fully connected graphs of a padded batch `[B, N]`: the rows (of the flattened `B·N`
/// node axis) of each molecule's real atoms, and the cut into work chunks.
#[derive(Debug, Clone)]
pub struct PairGraph {
    rows: usize,
    max_atoms: usize,
    atoms: Vec<Vec<usize>>,
    chunks: Vec<Chunk>,
}

#[derive(Debug, Clone)]
struct Chunk {
    molecules: Range<usize>,
    rows: Range<usize>,
    edges: usize,
}

impl PairGraph {
    /// From a node mask `[B, N]` (1 for real atoms) read to the host.
    pub fn from_node_mask(mask: &[f32], batch: usize, max_atoms: usize) -> Self {
        assert_eq!(mask.len(), batch * max_atoms, "node mask is not [B, N]");
        let atoms: Vec<Vec<usize>> = (0..batch)
            .map(|m| {
                (m * max_atoms..(m + 1) * max_atoms)
                    .filter(|&row| mask[row] > 0.5)
                    .collect()
            })
            .collect();
        let edges: Vec<usize> = atoms
            .iter()
            .map(|a| a.len() * a.len().saturating_sub(1))
            .collect();
        let total: usize = edges.iter().sum();
        // A few chunks per thread balance uneven molecules; fewer than ~512 edges per chunk
        // would make the inner matrix products too small to run at full speed.
        let target = (total / (4 * rayon::current_num_threads())).max(512);
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut acc = 0;
        for (m, &e) in edges.iter().enumerate() {
            acc += e;
            if acc >= target || m + 1 == batch {
                chunks.push(Chunk {
                    molecules: start..m + 1,
                    rows: start * max_atoms..(m + 1) * max_atoms,
                    edges: acc,
                });
                start = m + 1;
                acc = 0;
            }
        }
        Self {
            rows: batch * max_atoms,
            max_atoms,
            atoms,
            chunks,
        }
    }

    /// Rows of the node axis, padding included.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// N, the padded atoms per molecule (a per-pair input has `rows · N` rows).
    pub fn max_atoms(&self) -> usize {
        self.max_atoms
    }

    /// The row of pair (row_i, row_j) in a `[rows · N, ·]` per-pair tensor.
    #[inline(always)]
    fn pair_row(&self, ri: usize, rj: usize) -> usize {
        ri * self.max_atoms + rj % self.max_atoms
    }

    /// Ordered pairs of real atoms.
    pub fn edges(&self) -> usize {
        self.chunks.iter().map(|c| c.edges).sum()
    }

    /// Calls `f(edge, row_i, row_j)` for every pair of the chunk, in storage order.
    #[inline(always)]
    fn for_each_pair(&self, chunk: &Chunk, mut f: impl FnMut(usize, usize, usize)) {
        let mut e = 0;
        for atoms in &self.atoms[chunk.molecules.clone()] {
            for &ri in atoms {
                for &rj in atoms {
                    if ri != rj {
                        f(e, ri, rj);
                        e += 1;
                    }
                }
            }
        }
    }
}

/// Per-node inputs, row-major over the flattened node axis.
#[derive(Debug, Clone, Copy)]
pub struct NodeInputs<'a> {
    /// `[rows, H]`: `h·W_i + b1`.
    pub p: &'a [f32],
    /// `[rows, H]`: `h·W_j`.
    pub q: &'a [f32],
    /// `[rows, 3]`: current coordinates (the block's input).
    pub x: &'a [f32],
    /// `[rows, 3]`: the network's input coordinates, for the second edge attribute.
    pub x0: &'a [f32],
    /// Pair features projected into the first layer (`None`: no per-pair input).
    pub pair: Option<PairFeatures<'a>>,
}

/// Pair features and the projection that makes them a per-pair input of the first layer.
#[derive(Debug, Clone, Copy)]
pub struct PairFeatures<'a> {
    /// `[rows · N, F]`: the features of pair (i, j) in row `i·N + j` of its molecule's block.
    pub features: &'a [f32],
    /// `[F, H]` (input-major, burn's layout).
    pub weight: &'a [f32],
}

impl PairFeatures<'_> {
    fn width(&self, hidden: usize) -> usize {
        self.weight.len() / hidden
    }
}

/// The pair MLP's parameters past the per-node products.
#[derive(Debug, Clone, Copy)]
pub struct PairParams<'a> {
    /// H, the MLP's width.
    pub hidden: usize,
    /// `[H]`: first-layer weight of `r_ij`.
    pub w_r: &'a [f32],
    /// `[H]`: first-layer weight of `d_ij`.
    pub w_d: &'a [f32],
    /// `[H, H]` (input-major, burn's layout): second-layer weight.
    pub w2: &'a [f32],
    /// `[H]`: second-layer bias.
    pub b2: &'a [f32],
    /// `[H]`: the head's weight.
    pub head_w: &'a [f32],
    /// The head's bias (zero for the displacement head, which has none).
    pub head_b: f32,
    /// What the MLP's output feeds.
    pub head: Head,
    /// ν, dividing the neighbour sums.
    pub normalization: f32,
}

/// Activations kept by a forward pass for its backward pass.
#[derive(Debug, Default)]
pub struct Saved {
    chunks: Vec<ChunkSaved>,
}

#[derive(Debug, Default)]
struct ChunkSaved {
    /// `[E, H]` pre-activations and their sigmoids, for both layers.
    z1: Vec<f32>,
    s1: Vec<f32>,
    z2: Vec<f32>,
    s2: Vec<f32>,
    /// `[E]`: the gate σ(·) or the displacement's tanh(·).
    head: Vec<f32>,
}

/// Gradients of every input of the kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct PairGrads {
    /// `[rows · N, F]` when the call had pair features (zero on pairs not visited).
    pub pair: Option<Vec<f32>>,
    /// `[F, H]`: the projection's gradient (empty without pair features).
    pub pair_weight: Vec<f32>,
    /// `[rows, H]`, of [`NodeInputs::p`].
    pub p: Vec<f32>,
    /// `[rows, H]`, of [`NodeInputs::q`].
    pub q: Vec<f32>,
    /// `[rows, 3]`, of [`NodeInputs::x`].
    pub x: Vec<f32>,
    /// `[rows, 3]`, of [`NodeInputs::x0`].
    pub x0: Vec<f32>,
    /// `[H]`, of [`PairParams::w_r`].
    pub w_r: Vec<f32>,
    /// `[H]`, of [`PairParams::w_d`].
    pub w_d: Vec<f32>,
    /// `[H, H]`, of [`PairParams::w2`].
    pub w2: Vec<f32>,
    /// `[H]`, of [`PairParams::b2`].
    pub b2: Vec<f32>,
    /// `[H]`, of [`PairParams::head_w`].
    pub head_w: Vec<f32>,
    /// Of [`PairParams::head_b`].
    pub head_b: f32,
}

impl PairGrads {
    fn zeros_params(h: usize) -> Self {
        Self {
            pair: None,
            pair_weight: Vec::new(),
            p: Vec::new(),
            q: Vec::new(),
            x: Vec::new(),
            x0: Vec::new(),
            w_r: vec![0.0; h],
            w_d: vec![0.0; h],
            w2: vec![0.0; h * h],
            b2: vec![0.0; h],
            head_w: vec![0.0; h],
            head_b: 0.0,
        }
    }

    fn add_params(mut self, other: Self) -> Self {
        for (a, b) in [
            (&mut self.w_r, &other.w_r),
            (&mut self.w_d, &other.w_d),
            (&mut self.w2, &other.w2),
            (&mut self.b2, &other.b2),
            (&mut self.head_w, &other.head_w),
        ] {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        self.head_b += other.head_b;
        match (self.pair_weight.is_empty(), other.pair_weight.is_empty()) {
            (_, true) => {}
            (true, false) => self.pair_weight = other.pair_weight,
            (false, false) => self
                .pair_weight
                .iter_mut()
                .zip(&other.pair_weight)
                .for_each(|(a, b)| *a += b),
        }
        self
    }
}

fn check_shapes(graph: &PairGraph, nodes: &NodeInputs, params: &PairParams) {
    let (rows, h) = (graph.rows, params.hidden);
    assert_eq!(nodes.p.len(), rows * h, "p is not [rows, H]");
    assert_eq!(nodes.q.len(), rows * h, "q is not [rows, H]");
    assert_eq!(nodes.x.len(), rows * 3, "x is not [rows, 3]");
    assert_eq!(nodes.x0.len(), rows * 3, "x0 is not [rows, 3]");
    if let Some(pair) = nodes.pair {
        let f = pair.width(h);
        assert_eq!(pair.weight.len(), f * h, "pair weight is not [F, H]");
        assert_eq!(
            pair.features.len(),
            rows * graph.max_atoms * f,
            "pair features are not [rows · N, F]"
        );
    }
    for (name, len, want) in [
        ("w_r", params.w_r.len(), h),
        ("w_d", params.w_d.len(), h),
        ("w2", params.w2.len(), h * h),
        ("b2", params.b2.len(), h),
        ("head_w", params.head_w.len(), h),
    ] {
        assert_eq!(len, want, "{name} has {len} values, expected {want}");
    }
}

/// `out` `[rows, width]`, and the activations for [`backward`] when `keep`.
pub fn forward(
    graph: &PairGraph,
    nodes: &NodeInputs,
    params: &PairParams,
    keep: bool,
) -> (Vec<f32>, Option<Saved>) {
    check_shapes(graph, nodes, params);
    let width = params.head.width(params.hidden);
    let mut out = vec![0.0f32; graph.rows * width];
    let parts = split_rows(&mut out, &graph.chunks, width);
    let saved: Vec<ChunkSaved> = graph
        .chunks
        .par_iter()
        .zip(parts)
        .map(|(chunk, out)| with_best_isa!(forward_chunk(graph, chunk, nodes, params, out, keep)))
        .collect();
    (out, keep.then_some(Saved { chunks: saved }))
}

/// Gradients of all inputs given `d_out` `[rows, width]`.
pub fn backward(
    graph: &PairGraph,
    nodes: &NodeInputs,
    params: &PairParams,
    saved: &Saved,
    d_out: &[f32],
) -> PairGrads {
    check_shapes(graph, nodes, params);
    let (rows, h) = (graph.rows, params.hidden);
    let width = params.head.width(h);
    assert_eq!(
        d_out.len(),
        rows * width,
        "output gradient is not [rows, width]"
    );
    assert_eq!(
        saved.chunks.len(),
        graph.chunks.len(),
        "saved state of another graph"
    );
    let mut dp = vec![0.0f32; rows * h];
    let mut dq = vec![0.0f32; rows * h];
    let mut dx = vec![0.0f32; rows * 3];
    let mut dx0 = vec![0.0f32; rows * 3];
    let n = graph.max_atoms;
    let f = nodes.pair.map_or(0, |pair| pair.width(h));
    let mut dpair = nodes.pair.map(|_| vec![0.0f32; rows * n * f]);
    let mut pair_parts: Vec<Option<&mut [f32]>> = match dpair.as_mut() {
        Some(buf) => split_rows(buf, &graph.chunks, n * f)
            .into_iter()
            .map(Some)
            .collect(),
        None => graph.chunks.iter().map(|_| None).collect(),
    };
    let rows_grads: Vec<RowGrads> = split_rows(&mut dp, &graph.chunks, h)
        .into_iter()
        .zip(split_rows(&mut dq, &graph.chunks, h))
        .zip(split_rows(&mut dx, &graph.chunks, 3))
        .zip(split_rows(&mut dx0, &graph.chunks, 3))
        .zip(pair_parts.drain(..))
        .map(|((((p, q), x), x0), pair)| RowGrads { p, q, x, x0, pair })
        .collect();
    let params_grads = graph
        .chunks
        .par_iter()
        .zip(&saved.chunks)
        .zip(rows_grads)
        .map(|((chunk, saved), row_grads)| {
            let d_out = &d_out[chunk.rows.start * width..chunk.rows.end * width];
            with_best_isa!(backward_chunk(
                graph, chunk, nodes, params, saved, d_out, row_grads
            ))
        })
        .reduce(|| PairGrads::zeros_params(h), PairGrads::add_params);
    PairGrads {
        pair: dpair,
        p: dp,
        q: dq,
        x: dx,
        x0: dx0,
        ..params_grads
    }
}

struct RowGrads<'a> {
    p: &'a mut [f32],
    q: &'a mut [f32],
    x: &'a mut [f32],
    x0: &'a mut [f32],
    /// The chunk's rows of the pair features' gradient, `[rows · N, F]`.
    pair: Option<&'a mut [f32]>,
}

/// Cuts a `[rows, width]` buffer into the chunks' disjoint row ranges.
fn split_rows<'a>(mut buf: &'a mut [f32], chunks: &[Chunk], width: usize) -> Vec<&'a mut [f32]> {
    let mut parts = Vec::with_capacity(chunks.len());
    let mut at = 0;
    for chunk in chunks {
        let (skip, rest) = buf.split_at_mut((chunk.rows.start - at) * width);
        let _ = skip;
        let (part, rest) = rest.split_at_mut(chunk.rows.len() * width);
        parts.push(part);
        buf = rest;
        at = chunk.rows.end;
    }
    parts
}

#[inline(always)]
fn diff(x: &[f32], i: usize, j: usize) -> [f32; 3] {
    [
        x[3 * i] - x[3 * j],
        x[3 * i + 1] - x[3 * j + 1],
        x[3 * i + 2] - x[3 * j + 2],
    ]
}

#[inline(always)]
fn norm2(d: [f32; 3]) -> f32 {
    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
}

#[inline(always)]
fn forward_chunk(
    graph: &PairGraph,
    chunk: &Chunk,
    nodes: &NodeInputs,
    params: &PairParams,
    out: &mut [f32],
    keep: bool,
) -> ChunkSaved {
    let h = params.hidden;
    let e_count = chunk.edges;
    let base = chunk.rows.start;
    let width = params.head.width(h);
    let mut saved = ChunkSaved::default();
    if keep {
        saved.z1 = vec![0.0f32; e_count * h];
        saved.s1 = vec![0.0f32; e_count * h];
        saved.s2 = vec![0.0f32; e_count * h];
        saved.head = vec![0.0f32; e_count];
    }

    // Layer 1 from the per-node products: a1 = silu(p_i + q_j + w_r r + w_d d (+ e·G)).
    let mut a = vec![0.0f32; e_count * h];
    if let (Some(pair), true) = (nodes.pair, e_count > 0) {
        let f = pair.width(h);
        let features = gather_pairs(graph, chunk, pair.features, f);
        matmul(
            &mut a,
            &features,
            false,
            pair.weight,
            false,
            e_count,
            h,
            f,
            false,
        );
    }
    graph.for_each_pair(
        chunk,
        #[inline(always)]
        |e, ri, rj| {
            let r = norm2(diff(nodes.x, ri, rj));
            let d = norm2(diff(nodes.x0, ri, rj));
            let (pi, qj) = (&nodes.p[ri * h..][..h], &nodes.q[rj * h..][..h]);
            // Every slice cut to `h` here, so the loops below need no bounds checks and vectorise.
            let (w_r, w_d) = (&params.w_r[..h], &params.w_d[..h]);
            // `a` holds the pair features' projection (or zeros) here.
            let ae = &mut a[e * h..][..h];
            if keep {
                let (z1, s1) = (&mut saved.z1[e * h..][..h], &mut saved.s1[e * h..][..h]);
                for k in 0..h {
                    let z = pi[k] + qj[k] + r * w_r[k] + d * w_d[k] + ae[k];
                    let s = sigmoid(z);
                    (z1[k], s1[k], ae[k]) = (z, s, z * s);
                }
            } else {
                for k in 0..h {
                    let z = pi[k] + qj[k] + r * w_r[k] + d * w_d[k] + ae[k];
                    ae[k] = z * sigmoid(z);
                }
            }
        },
    );

    // Layer 2: z2 = a1·W2 + b2.
    let mut z2 = Vec::with_capacity(e_count * h);
    for _ in 0..e_count {
        z2.extend_from_slice(params.b2);
    }
    matmul(&mut z2, &a, false, params.w2, false, e_count, h, h, true);

    // m = silu(z2), the head and the neighbour sum, one pair at a time.
    let inv_nu = 1.0 / params.normalization;
    let mut m = vec![0.0f32; h];
    graph.for_each_pair(
        chunk,
        #[inline(always)]
        |e, ri, rj| {
            let z = &z2[e * h..][..h];
            let m = &mut m[..h];
            if keep {
                let s2 = &mut saved.s2[e * h..][..h];
                for k in 0..h {
                    s2[k] = sigmoid(z[k]);
                    m[k] = z[k] * s2[k];
                }
            } else {
                for k in 0..h {
                    m[k] = z[k] * sigmoid(z[k]);
                }
            }
            let o = &mut out[(ri - base) * width..][..width];
            let value = match params.head {
                Head::Gate => {
                    let g = sigmoid(dot(m, params.head_w) + params.head_b);
                    let c = g * inv_nu;
                    let o = &mut o[..h];
                    for k in 0..h {
                        o[k] += c * m[k];
                    }
                    g
                }
                Head::Displacement {
                    coords_range,
                    norm_constant,
                } => {
                    let t = dot(m, params.head_w).tanh();
                    let dv = diff(nodes.x, ri, rj);
                    let denom = (norm2(dv) + 1e-8).sqrt() + norm_constant;
                    let c = t * coords_range * inv_nu / denom;
                    for k in 0..3 {
                        o[k] += c * dv[k];
                    }
                    t
                }
            };
            if keep {
                saved.head[e] = value;
            }
        },
    );
    if keep {
        saved.z2 = z2;
    }
    saved
}

#[inline(always)]
fn backward_chunk(
    graph: &PairGraph,
    chunk: &Chunk,
    nodes: &NodeInputs,
    params: &PairParams,
    saved: &ChunkSaved,
    d_out: &[f32],
    mut rows: RowGrads,
) -> PairGrads {
    let h = params.hidden;
    let e_count = chunk.edges;
    let base = chunk.rows.start;
    let width = params.head.width(h);
    let inv_nu = 1.0 / params.normalization;
    let mut grads = PairGrads::zeros_params(h);

    // Through the head to dz2 = dm · silu'(z2).
    let mut dz = vec![0.0f32; e_count * h];
    let mut m = vec![0.0f32; h];
    graph.for_each_pair(
        chunk,
        #[inline(always)]
        |e, ri, rj| {
            let (z2, s2) = (&saved.z2[e * h..][..h], &saved.s2[e * h..][..h]);
            let (m, head_w, head_w_grad) =
                (&mut m[..h], &params.head_w[..h], &mut grads.head_w[..h]);
            for k in 0..h {
                m[k] = z2[k] * s2[k];
            }
            let go = &d_out[(ri - base) * width..][..width];
            let dze = &mut dz[e * h..][..h];
            // dm = a·go + b·head_w, then dz2 = dm · silu'(z2).
            let (a, b) = match params.head {
                Head::Gate => {
                    let g = saved.head[e];
                    let a = g * inv_nu;
                    let dg = dot(go, m) * inv_nu * g * (1.0 - g);
                    for k in 0..h {
                        head_w_grad[k] += dg * m[k];
                    }
                    grads.head_b += dg;
                    (a, dg)
                }
                Head::Displacement {
                    coords_range,
                    norm_constant,
                } => {
                    let t = saved.head[e];
                    let dv = diff(nodes.x, ri, rj);
                    let norm = (norm2(dv) + 1e-8).sqrt();
                    let denom = norm + norm_constant;
                    let cd = [dv[0] / denom, dv[1] / denom, dv[2] / denom];
                    let g = [go[0] * inv_nu, go[1] * inv_nu, go[2] * inv_nu];
                    let d_phi = g[0] * cd[0] + g[1] * cd[1] + g[2] * cd[2];
                    // d cd / d diff: δ/D − diff·diffᵀ/(D² |diff|).
                    let phi = t * coords_range;
                    let dcd = [g[0] * phi, g[1] * phi, g[2] * phi];
                    let along =
                        (dcd[0] * dv[0] + dcd[1] * dv[1] + dcd[2] * dv[2]) / (denom * denom * norm);
                    for k in 0..3 {
                        let dd = dcd[k] / denom - along * dv[k];
                        rows.x[(ri - base) * 3 + k] += dd;
                        rows.x[(rj - base) * 3 + k] -= dd;
                    }
                    let dpre = d_phi * coords_range * (1.0 - t * t);
                    for k in 0..h {
                        head_w_grad[k] += dpre * m[k];
                    }
                    (0.0, dpre)
                }
            };
            let silu_grad = |k: usize| s2[k] * (1.0 + z2[k] * (1.0 - s2[k]));
            if params.head == Head::Gate {
                let go = &go[..h];
                for k in 0..h {
                    dze[k] = (a * go[k] + b * head_w[k]) * silu_grad(k);
                }
            } else {
                for k in 0..h {
                    dze[k] = b * head_w[k] * silu_grad(k);
                }
            }
        },
    );
    let b2_grad = &mut grads.b2[..h];
    for row in dz.chunks_exact(h) {
        for k in 0..h {
            b2_grad[k] += row[k];
        }
    }

    // Layer 2's matrix products: dW2 = a1ᵀ·dz2 and da1 = dz2·W2ᵀ.
    let mut a1 = vec![0.0f32; e_count * h];
    for ((a, z), s) in a1.iter_mut().zip(&saved.z1).zip(&saved.s1) {
        *a = z * s;
    }
    matmul(&mut grads.w2, &a1, true, &dz, false, h, h, e_count, false);
    let mut da = a1;
    matmul(&mut da, &dz, false, params.w2, true, e_count, h, h, false);

    // Layer 1: dz1 = da1 · silu'(z1), spread to both atoms and the two edge attributes.
    graph.for_each_pair(
        chunk,
        #[inline(always)]
        |e, ri, rj| {
            let (z1, s1) = (&saved.z1[e * h..][..h], &saved.s1[e * h..][..h]);
            let dae = &mut da[e * h..][..h];
            for k in 0..h {
                dae[k] *= s1[k] * (1.0 + z1[k] * (1.0 - s1[k]));
            }
            let dz1 = &*dae;
            let dv = diff(nodes.x, ri, rj);
            let dv0 = diff(nodes.x0, ri, rj);
            let (r, d) = (norm2(dv), norm2(dv0));
            let dpi = &mut rows.p[(ri - base) * h..][..h];
            for k in 0..h {
                dpi[k] += dz1[k];
            }
            let dqj = &mut rows.q[(rj - base) * h..][..h];
            for k in 0..h {
                dqj[k] += dz1[k];
            }
            let (w_r_grad, w_d_grad) = (&mut grads.w_r[..h], &mut grads.w_d[..h]);
            for k in 0..h {
                w_r_grad[k] += dz1[k] * r;
                w_d_grad[k] += dz1[k] * d;
            }
            let dr = 2.0 * dot(dz1, params.w_r);
            let dd = 2.0 * dot(dz1, params.w_d);
            for k in 0..3 {
                rows.x[(ri - base) * 3 + k] += dr * dv[k];
                rows.x[(rj - base) * 3 + k] -= dr * dv[k];
                rows.x0[(ri - base) * 3 + k] += dd * dv0[k];
                rows.x0[(rj - base) * 3 + k] -= dd * dv0[k];
            }
        },
    );
    // The projection of the pair features: dG = featuresᵀ·dz1, d features = dz1·Gᵀ.
    if let (Some(pair), Some(dpair)) = (nodes.pair, rows.pair.as_deref_mut()) {
        let f = pair.width(h);
        grads.pair_weight = vec![0.0f32; f * h];
        if e_count == 0 {
            return grads;
        }
        let features = gather_pairs(graph, chunk, pair.features, f);
        matmul(
            &mut grads.pair_weight,
            &features,
            true,
            &da,
            false,
            f,
            h,
            e_count,
            false,
        );
        let mut d_features = features;
        matmul(
            &mut d_features,
            &da,
            false,
            pair.weight,
            true,
            e_count,
            f,
            h,
            false,
        );
        graph.for_each_pair(
            chunk,
            #[inline(always)]
            |e, ri, rj| {
                let at = graph.pair_row(ri, rj) - base * graph.max_atoms;
                dpair[at * f..][..f].copy_from_slice(&d_features[e * f..][..f]);
            },
        );
    }
    grads
}

/// The chunk's pair rows of a `[rows · N, F]` tensor, in the chunk's pair order: `[E, F]`.
#[inline(always)]
fn gather_pairs(graph: &PairGraph, chunk: &Chunk, values: &[f32], f: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; chunk.edges * f];
    graph.for_each_pair(
        chunk,
        #[inline(always)]
        |e, ri, rj| {
            let at = graph.pair_row(ri, rj);
            out[e * f..][..f].copy_from_slice(&values[at * f..][..f]);
        },
    );
    out
}
