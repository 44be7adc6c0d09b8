//! Group normalisation, optionally followed by SiLU, in one pass per group, with its
//! hand-written backward (NCHW).
//!
//! Per image and group of `C/G` channels: `x̂ = (x − μ)/√(σ² + ε)` (biased variance),
//! `y = γ_c x̂ + β_c`, `out = y` or `silu(y)`. Backward, with `g = d out/d y · d_out` and
//! `L` elements per group: `dx = (γ_c g − mean(γ g) − x̂ mean(γ g x̂)) / √(σ² + ε)`,
//! `dγ_c = Σ g x̂`, `dβ_c = Σ g`. Images run on rayon's threads.

use crate::cpu::{sigmoid, silu_grad};
use crate::with_best_isa;
use rayon::prelude::*;

/// The sizes and settings of one normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormShape {
    /// Images (B).
    pub batch: usize,
    /// Channels (C).
    pub channels: usize,
    /// H·W.
    pub pixels: usize,
    /// Groups (G); they must divide C.
    pub groups: usize,
    /// Added to the variance.
    pub epsilon: f32,
    /// Apply SiLU after the affine map.
    pub silu: bool,
}

impl NormShape {
    fn image(&self) -> usize {
        self.channels * self.pixels
    }

    fn group_len(&self) -> usize {
        self.channels / self.groups * self.pixels
    }
}

fn check(s: &NormShape, x: &[f32], gamma: &[f32], beta: &[f32]) {
    assert!(
        s.groups > 0 && s.channels.is_multiple_of(s.groups),
        "{} channels do not split into {} groups",
        s.channels,
        s.groups
    );
    assert_eq!(x.len(), s.batch * s.image(), "x is not [B, C, H, W]");
    assert_eq!(gamma.len(), s.channels, "gamma is not [C]");
    assert_eq!(beta.len(), s.channels, "beta is not [C]");
}

#[inline(always)]
fn sum8(v: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for c in chunks {
        for k in 0..8 {
            acc[k] += f(c[k]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Mean and 1/√(σ² + ε) of each group of one image, two passes for accuracy.
#[inline(always)]
fn group_stats(x_b: &[f32], s: &NormShape, stats: &mut [f32]) {
    let len = s.group_len();
    for (g, st) in stats.chunks_exact_mut(2).enumerate() {
        let xg = &x_b[g * len..][..len];
        let mean = sum8(xg, |v| v) / len as f32;
        let var = sum8(xg, |v| (v - mean) * (v - mean)) / len as f32;
        st[0] = mean;
        st[1] = 1.0 / (var + s.epsilon).sqrt();
    }
}

#[inline(always)]
fn forward_image(
    x_b: &[f32],
    out_b: &mut [f32],
    stats: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    s: &NormShape,
) {
    group_stats(x_b, s, stats);
    let per_group = s.channels / s.groups;
    for c in 0..s.channels {
        let (mean, rstd) = (stats[2 * (c / per_group)], stats[2 * (c / per_group) + 1]);
        let a = rstd * gamma[c];
        let b = beta[c] - mean * a;
        let (xc, oc) = (
            &x_b[c * s.pixels..][..s.pixels],
            &mut out_b[c * s.pixels..][..s.pixels],
        );
        if s.silu {
            for (o, &v) in oc.iter_mut().zip(xc) {
                let y = v * a + b;
                *o = y * sigmoid(y);
            }
        } else {
            for (o, &v) in oc.iter_mut().zip(xc) {
                *o = v * a + b;
            }
        }
    }
}

/// `(out, stats)`: the output `[B, C, H, W]` and each group's mean and 1/σ for [`backward`].
pub fn forward(s: &NormShape, x: &[f32], gamma: &[f32], beta: &[f32]) -> (Vec<f32>, Vec<f32>) {
    check(s, x, gamma, beta);
    let mut out = vec![0.0f32; x.len()];
    let mut stats = vec![0.0f32; s.batch * s.groups * 2];
    if x.is_empty() {
        return (out, stats);
    }
    out.par_chunks_mut(s.image())
        .zip(x.par_chunks(s.image()))
        .zip(stats.par_chunks_mut(2 * s.groups))
        .for_each(|((out_b, x_b), st)| {
            with_best_isa!(forward_image(x_b, out_b, st, gamma, beta, s))
        });
    (out, stats)
}

/// Writes `dx_b` and adds to the per-channel `dgamma`, `dbeta`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_image(
    x_b: &[f32],
    dout_b: &[f32],
    stats: &[f32],
    gamma: &[f32],
    beta: &[f32],
    s: &NormShape,
    dx_b: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let per_group = s.channels / s.groups;
    let len = s.group_len() as f32;
    for g in 0..s.groups {
        let (mean, rstd) = (stats[2 * g], stats[2 * g + 1]);
        // Pass 1: g = d out/d y · d_out into dx, and the group's sums.
        let (mut sum_g, mut sum_gx) = (0.0f32, 0.0f32);
        for c in g * per_group..(g + 1) * per_group {
            let a = rstd * gamma[c];
            let b = beta[c] - mean * a;
            let xc = &x_b[c * s.pixels..][..s.pixels];
            let dc = &dout_b[c * s.pixels..][..s.pixels];
            let gc = &mut dx_b[c * s.pixels..][..s.pixels];
            if s.silu {
                for ((gv, &v), &d) in gc.iter_mut().zip(xc).zip(dc) {
                    let y = v * a + b;
                    *gv = d * silu_grad(y, sigmoid(y));
                }
            } else {
                gc.copy_from_slice(dc);
            }
            let gc = &*gc;
            let dbeta_c = sum8(gc, |v| v);
            let mut acc = [0.0f32; 8];
            let (gch, xch) = (gc.chunks_exact(8), xc.chunks_exact(8));
            let tail: f32 = gch
                .remainder()
                .iter()
                .zip(xch.remainder())
                .map(|(&gv, &v)| gv * (v - mean) * rstd)
                .sum();
            for (gk, xk) in gch.zip(xch) {
                for k in 0..8 {
                    acc[k] += gk[k] * (xk[k] - mean) * rstd;
                }
            }
            let dgamma_c = acc.iter().sum::<f32>() + tail;
            dgamma[c] += dgamma_c;
            dbeta[c] += dbeta_c;
            sum_g += gamma[c] * dbeta_c;
            sum_gx += gamma[c] * dgamma_c;
        }
        // Pass 2: dx = (γ g − mean(γ g) − x̂ mean(γ g x̂)) / σ.
        let (m1, m2) = (sum_g / len, sum_gx / len);
        for c in g * per_group..(g + 1) * per_group {
            let xc = &x_b[c * s.pixels..][..s.pixels];
            let gc = &mut dx_b[c * s.pixels..][..s.pixels];
            for (gv, &v) in gc.iter_mut().zip(xc) {
                let xhat = (v - mean) * rstd;
                *gv = rstd * (gamma[c] * *gv - m1 - xhat * m2);
            }
        }
    }
}

/// Gradients `(dx, dgamma, dbeta)` given `dout` `[B, C, H, W]` and the forward's `stats`.
pub fn backward(
    s: &NormShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    stats: &[f32],
    dout: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    check(s, x, gamma, beta);
    assert_eq!(dout.len(), x.len(), "output gradient is not [B, C, H, W]");
    assert_eq!(
        stats.len(),
        s.batch * s.groups * 2,
        "statistics of another shape"
    );
    let mut dx = vec![0.0f32; x.len()];
    let c = s.channels;
    if x.is_empty() {
        return (dx, vec![0.0; c], vec![0.0; c]);
    }
    let (dgamma, dbeta) = dx
        .par_chunks_mut(s.image())
        .zip(x.par_chunks(s.image()))
        .zip(dout.par_chunks(s.image()))
        .zip(stats.par_chunks(2 * s.groups))
        .fold(
            || (vec![0.0f32; c], vec![0.0f32; c]),
            |(mut dg, mut db), (((dx_b, x_b), d_b), st)| {
                with_best_isa!(backward_image(
                    x_b, d_b, st, gamma, beta, s, dx_b, &mut dg, &mut db
                ));
                (dg, db)
            },
        )
        .reduce(
            || (vec![0.0f32; c], vec![0.0f32; c]),
            |(mut a, mut b), (a2, b2)| {
                a.iter_mut().zip(&a2).for_each(|(x, y)| *x += y);
                b.iter_mut().zip(&b2).for_each(|(x, y)| *x += y);
                (a, b)
            },
        );
    (dx, dgamma, dbeta)
}
