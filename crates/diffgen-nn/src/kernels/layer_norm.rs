//! Layer normalisation over the last dimension, one pass per row, with its hand-written
//! backward.
//!
//! Per row of D values: `x̂ = (x − μ)/√(σ² + ε)` (biased variance), `y = γ ∘ x̂ + β`.
//! Backward with `g = γ ∘ dy`: `dx = (g − mean(g) − x̂·mean(g ∘ x̂))/√(σ² + ε)`,
//! `dγ = Σ_rows dy ∘ x̂`, `dβ = Σ_rows dy`. Rows run on rayon's threads.

use rayon::prelude::*;

use crate::cpu::{dot, sum};
use crate::with_best_isa;

/// Rows per rayon task.
const ROWS: usize = 64;

fn check(x: &[f32], gamma: &[f32], beta: &[f32]) -> usize {
    let d = gamma.len();
    assert!(d > 0 && beta.len() == d, "gamma and beta are not [D]");
    assert!(x.len().is_multiple_of(d), "x is not [rows, D]");
    d
}

/// Mean and 1/√(σ² + ε) of one row.
#[inline(always)]
fn stats(row: &[f32], epsilon: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let mut acc = [0.0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    for c in chunks {
        for k in 0..8 {
            acc[k] += (c[k] - mean) * (c[k] - mean);
        }
    }
    let var = (acc.iter().sum::<f32>() + tail) / n;
    (mean, 1.0 / (var + epsilon).sqrt())
}

#[inline(always)]
fn forward_rows(x: &[f32], out: &mut [f32], gamma: &[f32], beta: &[f32], epsilon: f32) {
    let d = gamma.len();
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let (mean, rstd) = stats(row, epsilon);
        for k in 0..d {
            o[k] = (row[k] - mean) * rstd * gamma[k] + beta[k];
        }
    }
}

/// `γ ∘ x̂ + β` per row of `x` `[rows, D]`, with `gamma`, `beta` `[D]`.
pub fn forward(x: &[f32], gamma: &[f32], beta: &[f32], epsilon: f32) -> Vec<f32> {
    let d = check(x, gamma, beta);
    let mut out = vec![0.0f32; x.len()];
    if x.is_empty() {
        return out;
    }
    out.par_chunks_mut(ROWS * d)
        .zip(x.par_chunks(ROWS * d))
        .for_each(|(o, x)| with_best_isa!(forward_rows(x, o, gamma, beta, epsilon)));
    out
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_rows(
    x: &[f32],
    d_out: &[f32],
    dx: &mut [f32],
    gamma: &[f32],
    epsilon: f32,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    xhat: &mut [f32],
) {
    let d = gamma.len();
    let n = d as f32;
    for ((row, dy), g) in x
        .chunks_exact(d)
        .zip(d_out.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d))
    {
        let (mean, rstd) = stats(row, epsilon);
        for k in 0..d {
            xhat[k] = (row[k] - mean) * rstd;
            g[k] = dy[k] * gamma[k];
            dgamma[k] += dy[k] * xhat[k];
            dbeta[k] += dy[k];
        }
        let (m1, m2) = (sum(g) / n, dot(g, xhat) / n);
        for k in 0..d {
            g[k] = rstd * (g[k] - m1 - xhat[k] * m2);
        }
    }
}

/// `(dx, dgamma, dbeta)` given `d_out` `[rows, D]`.
pub fn backward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    d_out: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = check(x, gamma, beta);
    assert_eq!(d_out.len(), x.len(), "output gradient is not [rows, D]");
    let mut dx = vec![0.0f32; x.len()];
    if x.is_empty() {
        return (dx, vec![0.0; d], vec![0.0; d]);
    }
    let (dgamma, dbeta, _) = dx
        .par_chunks_mut(ROWS * d)
        .zip(x.par_chunks(ROWS * d).zip(d_out.par_chunks(ROWS * d)))
        .fold(
            || (vec![0.0f32; d], vec![0.0f32; d], vec![0.0f32; d]),
            |(mut dg, mut db, mut xhat), (g, (x, dy))| {
                with_best_isa!(backward_rows(
                    x, dy, g, gamma, epsilon, &mut dg, &mut db, &mut xhat
                ));
                (dg, db, xhat)
            },
        )
        .reduce(
            || (vec![0.0f32; d], vec![0.0f32; d], Vec::new()),
            |(mut a, mut b, x), (a2, b2, _)| {
                a.iter_mut().zip(&a2).for_each(|(p, q)| *p += q);
                b.iter_mut().zip(&b2).for_each(|(p, q)| *p += q);
                (a, b, x)
            },
        );
    (dx, dgamma, dbeta)
}
