//! GELU (the exact, erf form) and its derivative, vectorisable.
//!
//! `gelu(x) = x·Φ(x)`, `gelu'(x) = Φ(x) + x·φ(x)`, with Φ the standard normal CDF through
//! erf (Abramowitz & Stegun 7.1.26: |error| < 1.5e-7) and φ its density.

use rayon::prelude::*;

use crate::cpu::exp;
use crate::with_best_isa;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

/// (Φ(x), φ(x)).
#[inline(always)]
fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152,
        1.061_405_4,
    ];
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z.abs());
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let gauss = exp(-z * z);
    let erf_abs = 1.0 - poly * gauss;
    let erf = if z < 0.0 { -erf_abs } else { erf_abs };
    // φ(x) = e^{−x²/2}/√(2π) = gauss/√(2π).
    (0.5 * (1.0 + erf), gauss * 0.398_942_3)
}

#[inline(always)]
fn forward_chunk(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v * normal_cdf_pdf(v).0;
    }
}

#[inline(always)]
fn backward_chunk(x: &[f32], d_out: &[f32], dx: &mut [f32]) {
    for ((g, &v), &d) in dx.iter_mut().zip(x).zip(d_out) {
        let (cdf, pdf) = normal_cdf_pdf(v);
        *g = d * (cdf + v * pdf);
    }
}

/// `gelu(x)` elementwise.
pub fn forward(x: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| with_best_isa!(forward_chunk(x, o)));
    out
}

/// The input gradient `d_out ∘ gelu'(x)`, elementwise.
pub fn backward(x: &[f32], d_out: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), d_out.len(), "gradient and input differ in size");
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(d_out.par_chunks(CHUNK)))
        .for_each(|(g, (x, d))| with_best_isa!(backward_chunk(x, d, g)));
    dx
}
