//! Scaled dot-product attention, one head at a time in cache, with its hand-written
//! backward.
//!
//! Per head (`Q`, `K`, `V` `[N, d]`): `P = softmax(c·Q·Kᵀ)` row-wise, `O = P·V`. Only the
//! row log-sum-exps are kept; the backward pass recomputes `P` from them and takes
//! `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P ∘ (dP − rowsum(P ∘ dP))`, `dQ = c·dS·K`,
//! `dK = c·dSᵀ·Q`. The `[N, N]` scores never leave a thread's scratch buffer, so nothing of
//! size `B·H·N²` is written to memory, and heads run on rayon's threads.

use diffgen_core::cpu::{exp, matmul};
use diffgen_core::with_best_isa;
use rayon::prelude::*;

/// Sizes of one call: `heads` independent `[tokens, dim]` problems (batch × heads).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionShape {
    pub heads: usize,
    pub tokens: usize,
    pub dim: usize,
    /// c, usually 1/√d.
    pub scale: f32,
}

fn check(s: &AttentionShape, q: &[f32], k: &[f32], v: &[f32]) {
    let len = s.heads * s.tokens * s.dim;
    assert!(
        q.len() == len && k.len() == len && v.len() == len,
        "q, k, v are not [B·H, N, d]"
    );
}

/// Scores of one head turned into probabilities in place; returns the rows' log-sum-exp.
#[inline(always)]
fn softmax_rows(scores: &mut [f32], n: usize, scale: f32, lse: &mut [f32]) {
    for (row, lse) in scores.chunks_exact_mut(n).zip(lse) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) * scale;
        let mut sum = 0.0f32;
        for x in row.iter_mut() {
            *x = exp(*x * scale - max);
            sum += *x;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|x| *x *= inv);
        *lse = max + sum.ln();
    }
}

#[inline(always)]
fn forward_head(
    s: &AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    lse: &mut [f32],
    scores: &mut [f32],
) {
    let (n, d) = (s.tokens, s.dim);
    matmul(scores, q, false, k, true, n, n, d, false);
    softmax_rows(scores, n, s.scale, lse);
    matmul(out, scores, false, v, false, n, d, n, false);
}

/// `(out, lse)`: `out` `[B·H, N, d]` and the row log-sum-exps for [`backward`].
pub fn forward(s: &AttentionShape, q: &[f32], k: &[f32], v: &[f32]) -> (Vec<f32>, Vec<f32>) {
    check(s, q, k, v);
    let (n, d) = (s.tokens, s.dim);
    let mut out = vec![0.0f32; q.len()];
    let mut lse = vec![0.0f32; s.heads * n];
    out.par_chunks_mut(n * d)
        .zip(lse.par_chunks_mut(n))
        .zip(
            q.par_chunks(n * d)
                .zip(k.par_chunks(n * d))
                .zip(v.par_chunks(n * d)),
        )
        .for_each_init(
            || vec![0.0f32; n * n],
            |scores, ((o, l), ((q, k), v))| with_best_isa!(forward_head(s, q, k, v, o, l, scores)),
        );
    (out, lse)
}

struct HeadGrads<'a> {
    dq: &'a mut [f32],
    dk: &'a mut [f32],
    dv: &'a mut [f32],
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_head(
    s: &AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    lse: &[f32],
    d_out: &[f32],
    grads: HeadGrads,
    scratch: &mut (Vec<f32>, Vec<f32>),
) {
    let (n, d) = (s.tokens, s.dim);
    let (p, dp) = (&mut scratch.0[..n * n], &mut scratch.1[..n * n]);
    // P from the kept log-sum-exps.
    matmul(p, q, false, k, true, n, n, d, false);
    for (row, &l) in p.chunks_exact_mut(n).zip(lse) {
        row.iter_mut().for_each(|x| *x = exp(*x * s.scale - l));
    }
    matmul(grads.dv, p, true, d_out, false, n, d, n, false);
    matmul(dp, d_out, false, v, true, n, n, d, false);
    // dS = P ∘ (dP − rowsum(P ∘ dP)), times c for the scores' scale.
    for (prow, dprow) in p.chunks_exact(n).zip(dp.chunks_exact_mut(n)) {
        let inner: f32 = prow.iter().zip(dprow.iter()).map(|(a, b)| a * b).sum();
        for (g, &pv) in dprow.iter_mut().zip(prow) {
            *g = s.scale * pv * (*g - inner);
        }
    }
    matmul(grads.dq, dp, false, k, false, n, d, n, false);
    matmul(grads.dk, dp, true, q, false, n, d, n, false);
}

/// `(dq, dk, dv)` given the output gradient `d_out` `[B·H, N, d]` and the forward's `lse`.
pub fn backward(
    s: &AttentionShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    lse: &[f32],
    d_out: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    check(s, q, k, v);
    let (n, d) = (s.tokens, s.dim);
    assert_eq!(d_out.len(), q.len(), "output gradient is not [B·H, N, d]");
    assert_eq!(lse.len(), s.heads * n, "log-sum-exps of another shape");
    let (mut dq, mut dk, mut dv) = (
        vec![0.0f32; q.len()],
        vec![0.0f32; q.len()],
        vec![0.0f32; q.len()],
    );
    let inputs = q
        .par_chunks(n * d)
        .zip(k.par_chunks(n * d))
        .zip(v.par_chunks(n * d))
        .zip(lse.par_chunks(n))
        .zip(d_out.par_chunks(n * d));
    let outputs = dq
        .par_chunks_mut(n * d)
        .zip(dk.par_chunks_mut(n * d))
        .zip(dv.par_chunks_mut(n * d));
    inputs.zip(outputs).for_each_init(
        || (vec![0.0f32; n * n], vec![0.0f32; n * n]),
        |scratch, (((((q, k), v), l), g), ((dq, dk), dv))| {
            let grads = HeadGrads { dq, dk, dv };
            with_best_isa!(backward_head(s, q, k, v, l, g, grads, scratch))
        },
    );
    (dq, dk, dv)
}
