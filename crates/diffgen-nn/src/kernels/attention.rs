//! Scaled dot-product attention with additive biases, one head at a time in cache, and its
//! hand-written backward.
//!
//! Per batch item b and head h (`Q`, `K`, `V` `[N, d]`):
//! `P = softmax(c·Q·Kᵀ + B_bh + k_b)` row-wise, with an optional pair bias `B_bh` `[N, N]`
//! per head, either shared over the batch (`B_bh = B_h`, a `[1, H, N, N]` bias: relative
//! positions) or each item's own (a `[B, H, N, N]` bias: pairwise distances), and an
//! optional per-key bias `k_b` `[N]` (shared over heads and queries: padding masks);
//! `O = P·V`. Only the rows' log-sum-exps are kept; the backward pass recomputes `P` from
//! them and takes `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `G = P ∘ (dP − rowsum(P ∘ dP))`,
//! `dQ = c·G·K`, `dK = c·Gᵀ·Q`, `dB_h = Σ_b G` for a shared bias or `dB_bh = G` for a
//! per-item one, and `dk_b = Σ_h Σ_i G`. The `[N, N]` scores never leave a thread's scratch
//! buffer, and heads run on rayon's threads; a per-item bias's gradient is written straight
//! into each (item, head)'s slice of the result, with no per-thread partial sums.

use rayon::iter::Either;
use rayon::prelude::*;

use crate::cpu::{dot, exp, matmul, max, sum};
use crate::with_best_isa;

/// Sizes of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionShape {
    /// B, batch items.
    pub batch: usize,
    /// H, heads per item.
    pub heads: usize,
    /// N, tokens: queries and keys per head.
    pub tokens: usize,
    /// d, the width of a head.
    pub dim: usize,
    /// c, usually 1/√d.
    pub scale: f32,
}

/// The optional additive biases, row-major.
#[derive(Debug, Clone, Copy, Default)]
pub struct Biases<'a> {
    /// `[Bh, H, N, N]`: `[1, H, N, N]` (shared over the batch) or, with `head_per_item`,
    /// `[B, H, N, N]` (each item's own).
    pub head: Option<&'a [f32]>,
    /// Whether `head` is `[B, H, N, N]`, one bias per batch item, rather than shared.
    pub head_per_item: bool,
    /// `[B, N]`.
    pub key: Option<&'a [f32]>,
}

/// Gradients of [`backward`]; the bias gradients are empty where there was no bias.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionGrads {
    /// dQ `[B, H, N, d]`.
    pub q: Vec<f32>,
    /// dK `[B, H, N, d]`.
    pub k: Vec<f32>,
    /// dV `[B, H, N, d]`.
    pub v: Vec<f32>,
    /// dB `[Bh, H, N, N]`, the head bias's shape: summed over the batch for a shared bias,
    /// per item otherwise (empty without a head bias).
    pub head_bias: Vec<f32>,
    /// dk_b `[B, N]` (empty without a key bias).
    pub key_bias: Vec<f32>,
}

impl AttentionShape {
    fn head_len(&self) -> usize {
        self.tokens * self.dim
    }

    /// Keys and values have the queries' count and width (self-attention).
    fn check(&self, q: &[f32], k: &[f32], v: &[f32], biases: &Biases) {
        let len = self.batch * self.heads * self.head_len();
        assert!(
            q.len() == len && k.len() == len && v.len() == len,
            "q, k, v are not [B, H, N, d]"
        );
        if let Some(b) = biases.head {
            let (len, what) = match biases.head_per_item {
                true => (self.batch, "head bias is not [B, H, N, N]"),
                false => (1, "head bias is not [1, H, N, N]"),
            };
            assert_eq!(
                b.len(),
                len * self.heads * self.tokens * self.tokens,
                "{what}"
            );
        }
        if let Some(b) = biases.key {
            assert_eq!(b.len(), self.batch * self.tokens, "key bias is not [B, N]");
        }
    }
}

/// The logits `c·s + B_bh + k_b` of one head's raw scores `s`, in place.
#[inline(always)]
fn add_biases(scores: &mut [f32], s: &AttentionShape, biases: &Biases, b: usize, h: usize) {
    let n = s.tokens;
    let slot = match biases.head_per_item {
        true => b * s.heads + h,
        false => h,
    };
    let head = biases.head.map(|hb| &hb[slot * n * n..][..n * n]);
    let key = biases.key.map(|kb| &kb[b * n..][..n]);
    for (i, row) in scores.chunks_exact_mut(n).enumerate() {
        row.iter_mut().for_each(|x| *x *= s.scale);
        if let Some(hb) = head {
            row.iter_mut()
                .zip(&hb[i * n..][..n])
                .for_each(|(x, y)| *x += y);
        }
        if let Some(kb) = key {
            row.iter_mut().zip(kb).for_each(|(x, y)| *x += y);
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_head(
    s: &AttentionShape,
    biases: &Biases,
    index: usize,
    (q, k, v): (&[f32], &[f32], &[f32]),
    out: &mut [f32],
    lse: &mut [f32],
    scores: &mut [f32],
) {
    let (n, d) = (s.tokens, s.dim);
    matmul(scores, q, false, k, true, n, n, d, false);
    add_biases(scores, s, biases, index / s.heads, index % s.heads);
    for (row, lse) in scores.chunks_exact_mut(n).zip(lse) {
        // Separate passes, each of which vectorises (a running sum would not).
        let top = max(row);
        row.iter_mut().for_each(|x| *x = exp(*x - top));
        let total = sum(row);
        let inv = 1.0 / total;
        row.iter_mut().for_each(|x| *x *= inv);
        *lse = top + total.ln();
    }
    matmul(out, scores, false, v, false, n, d, n, false);
}

/// `(out, lse)`: `out` `[B, H, N, d]` and the row log-sum-exps for [`backward`].
pub fn forward(
    s: &AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    biases: &Biases,
) -> (Vec<f32>, Vec<f32>) {
    s.check(q, k, v, biases);
    let (n, len) = (s.tokens, s.head_len());
    let mut out = vec![0.0f32; q.len()];
    let mut lse = vec![0.0f32; s.batch * s.heads * n];
    if out.is_empty() {
        return (out, lse); // nothing to do, and no zero-sized chunks for rayon
    }
    out.par_chunks_mut(len)
        .zip(lse.par_chunks_mut(n))
        .zip(
            q.par_chunks(len)
                .zip(k.par_chunks(len))
                .zip(v.par_chunks(len)),
        )
        .enumerate()
        .for_each_init(
            || vec![0.0f32; n * n],
            |scores, (index, ((o, l), ((q, k), v)))| {
                with_best_isa!(forward_head(s, biases, index, (q, k, v), o, l, scores))
            },
        );
    (out, lse)
}

/// Per-thread scratch and bias-gradient partials.
struct Scratch {
    p: Vec<f32>,
    g: Vec<f32>,
    head_bias: Vec<f32>,
    key_bias: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_head(
    s: &AttentionShape,
    biases: &Biases,
    index: usize,
    (q, k, v): (&[f32], &[f32], &[f32]),
    lse: &[f32],
    d_out: &[f32],
    (dq, dk, dv): (&mut [f32], &mut [f32], &mut [f32]),
    d_head_bias: Option<&mut [f32]>,
    scratch: &mut Scratch,
) {
    let (n, d) = (s.tokens, s.dim);
    let (b, h) = (index / s.heads, index % s.heads);
    let (p, g) = (&mut scratch.p[..n * n], &mut scratch.g[..n * n]);
    // P from the kept log-sum-exps.
    matmul(p, q, false, k, true, n, n, d, false);
    add_biases(p, s, biases, b, h);
    for (row, &l) in p.chunks_exact_mut(n).zip(lse) {
        row.iter_mut().for_each(|x| *x = exp(*x - l));
    }
    matmul(dv, p, true, d_out, false, n, d, n, false);
    matmul(g, d_out, false, v, true, n, n, d, false);
    // G = P ∘ (dP − rowsum(P ∘ dP)): the logits' gradient.
    for (prow, grow) in p.chunks_exact(n).zip(g.chunks_exact_mut(n)) {
        let inner = dot(prow, grow);
        for (gv, &pv) in grow.iter_mut().zip(prow) {
            *gv = pv * (*gv - inner);
        }
    }
    match d_head_bias {
        // A per-item bias: this task owns its slice of the gradient.
        Some(own) => own.copy_from_slice(g),
        None if biases.head.is_some() => {
            let hb = &mut scratch.head_bias[h * n * n..][..n * n];
            hb.iter_mut().zip(g.iter()).for_each(|(a, b)| *a += b);
        }
        None => {}
    }
    if biases.key.is_some() {
        let kb = &mut scratch.key_bias[b * n..][..n];
        for grow in g.chunks_exact(n) {
            kb.iter_mut().zip(grow).for_each(|(a, b)| *a += b);
        }
    }
    g.iter_mut().for_each(|x| *x *= s.scale);
    matmul(dq, g, false, k, false, n, d, n, false);
    matmul(dk, g, true, q, false, n, d, n, false);
}

/// Gradients given the output gradient `d_out` `[B, H, N, d]` and the forward's `lse`.
pub fn backward(
    s: &AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    biases: &Biases,
    lse: &[f32],
    d_out: &[f32],
) -> AttentionGrads {
    s.check(q, k, v, biases);
    let (n, len) = (s.tokens, s.head_len());
    assert_eq!(d_out.len(), q.len(), "output gradient is not [B, H, N, d]");
    assert_eq!(
        lse.len(),
        s.batch * s.heads * n,
        "log-sum-exps of another shape"
    );
    let per_item = biases.head.is_some() && biases.head_per_item;
    // Per-thread partials only for a shared head bias; a per-item one is written in place.
    let head_len = if biases.head.is_some() && !per_item {
        s.heads * n * n
    } else {
        0
    };
    let per_item_len = if per_item {
        s.batch * s.heads * n * n
    } else {
        0
    };
    let mut d_per_item = vec![0.0f32; per_item_len];
    let key_len = if biases.key.is_some() { s.batch * n } else { 0 };
    let zeros = || vec![0.0f32; q.len()];
    let (mut dq, mut dk, mut dv) = (zeros(), zeros(), zeros());
    if q.is_empty() {
        let head_bias = match per_item {
            true => d_per_item,
            false => vec![0.0; head_len],
        };
        let key_bias = vec![0.0; key_len];
        return AttentionGrads {
            q: dq,
            k: dk,
            v: dv,
            head_bias,
            key_bias,
        };
    }
    let inputs = q
        .par_chunks(len)
        .zip(k.par_chunks(len))
        .zip(v.par_chunks(len))
        .zip(lse.par_chunks(n))
        .zip(d_out.par_chunks(len));
    // One (item, head)'s `[N, N]` slice of a per-item bias's gradient, or `None`.
    let d_head_bias = match per_item {
        true => Either::Left(d_per_item.par_chunks_mut(n * n).map(Some)),
        false => Either::Right((0..s.batch * s.heads).into_par_iter().map(|_| None)),
    };
    let outputs = dq
        .par_chunks_mut(len)
        .zip(dk.par_chunks_mut(len))
        .zip(dv.par_chunks_mut(len))
        .zip(d_head_bias);
    let (head_bias, key_bias) = inputs
        .zip(outputs)
        .enumerate()
        .fold(
            || Scratch {
                p: vec![0.0; n * n],
                g: vec![0.0; n * n],
                head_bias: vec![0.0; head_len],
                key_bias: vec![0.0; key_len],
            },
            |mut scratch, (index, (((((q, k), v), l), g), (((dq, dk), dv), dhb)))| {
                with_best_isa!(backward_head(
                    s,
                    biases,
                    index,
                    (q, k, v),
                    l,
                    g,
                    (dq, dk, dv),
                    dhb,
                    &mut scratch
                ));
                scratch
            },
        )
        .map(|scratch| (scratch.head_bias, scratch.key_bias))
        .reduce(
            || (vec![0.0; head_len], vec![0.0; key_len]),
            |(mut a, mut b), (a2, b2)| {
                a.iter_mut().zip(&a2).for_each(|(x, y)| *x += y);
                b.iter_mut().zip(&b2).for_each(|(x, y)| *x += y);
                (a, b)
            },
        );
    let head_bias = match per_item {
        true => d_per_item,
        false => head_bias,
    };
    AttentionGrads {
        q: dq,
        k: dk,
        v: dv,
        head_bias,
        key_bias,
    }
}
