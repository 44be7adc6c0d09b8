//! Softmax over the last dimension and its backward pass, one pass over each row each way.
//!
//! Composed of tensor operations, softmax is five passes over the tensor (max, subtract, exp,
//! sum, divide), each allocating its result, and its backward about as many again; over an
//! attention's `[B, H, N, N]` weights those passes are what it costs.
//! `y = e^(x − max x) / Σ e^(x − max x)`, `dx = y ∘ (dy − ⟨dy, y⟩)` per row.

use rayon::prelude::*;

use crate::cpu::{dot, exp, max, sum};
use crate::with_best_isa;

/// Elements per rayon task (whole rows, at least one).
const CHUNK: usize = 1 << 14;

fn rows_per_task(width: usize) -> usize {
    (CHUNK / width.max(1)).max(1)
}

#[inline(always)]
fn forward_rows(x: &[f32], out: &mut [f32], width: usize) {
    for (row, y) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        let top = max(row);
        for (y, &v) in y.iter_mut().zip(row) {
            *y = exp(v - top);
        }
        let scale = 1.0 / sum(y);
        for y in y.iter_mut() {
            *y *= scale;
        }
    }
}

#[inline(always)]
fn backward_rows(y: &[f32], d_out: &[f32], dx: &mut [f32], width: usize) {
    for ((y, dy), dx) in y
        .chunks_exact(width)
        .zip(d_out.chunks_exact(width))
        .zip(dx.chunks_exact_mut(width))
    {
        let inner = dot(dy, y);
        for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
            *dx = y * (dy - inner);
        }
    }
}

/// Softmax of each `width`-long row of `x`.
pub fn forward(x: &[f32], width: usize) -> Vec<f32> {
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "softmax: {} values are not rows of {width}",
        x.len()
    );
    let mut out = vec![0.0f32; x.len()];
    let step = rows_per_task(width) * width;
    out.par_chunks_mut(step)
        .zip(x.par_chunks(step))
        .for_each(|(o, x)| with_best_isa!(forward_rows(x, o, width)));
    out
}

/// The input gradient from the forward pass's output `y` and the output gradient `d_out`.
pub fn backward(y: &[f32], d_out: &[f32], width: usize) -> Vec<f32> {
    assert_eq!(y.len(), d_out.len(), "gradient and output differ in size");
    let mut dx = vec![0.0f32; y.len()];
    let step = rows_per_task(width) * width;
    dx.par_chunks_mut(step)
        .zip(y.par_chunks(step).zip(d_out.par_chunks(step)))
        .for_each(|(g, (y, d))| with_best_isa!(backward_rows(y, d, g, width)));
    dx
}
