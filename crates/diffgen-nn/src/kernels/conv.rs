//! 2-D convolution (groups 1, no dilation) as im2col + one matrix product per image, in
//! NCHW throughout, with its hand-written backward.
//!
//! Per image b: `col_b [Cin·kh·kw, Ho·Wo]` gathers the input patches, then
//! `out_b = W [Cout, Cin·kh·kw] · col_b` (+ bias). Backward: `dW += dY_b · col_bᵀ`,
//! `dcol = Wᵀ · dY_b` scattered back onto `dx_b` (col2im), `db += Σ dY_b`. Images run on
//! rayon's threads, each with its own column buffers and weight-gradient partials.

use crate::cpu::matmul;
use rayon::prelude::*;

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Images (B).
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height, in pixels.
    pub height: usize,
    /// Input width, in pixels.
    pub width: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[y, x]`.
    pub stride: [usize; 2],
    /// Zero padding `[y, x]`, the same on both sides.
    pub padding: [usize; 2],
}

impl ConvShape {
    /// Output height and width.
    pub fn out_hw(&self) -> [usize; 2] {
        let out = |size: usize, k: usize, s: usize, p: usize| (size + 2 * p - k) / s + 1;
        [
            out(self.height, self.kernel[0], self.stride[0], self.padding[0]),
            out(self.width, self.kernel[1], self.stride[1], self.padding[1]),
        ]
    }

    /// Rows of the column matrix: `Cin·kh·kw`.
    fn patch(&self) -> usize {
        self.cin * self.kernel[0] * self.kernel[1]
    }

    fn positions(&self) -> usize {
        let [ho, wo] = self.out_hw();
        ho * wo
    }
}

/// Output columns `ox` whose input column `ox·s + kx − p` lies inside `[0, w)`.
fn valid_columns(wo: usize, w: usize, kx: usize, s: usize, p: usize) -> (usize, usize) {
    let first = p.saturating_sub(kx).div_ceil(s);
    let end = (w + p).saturating_sub(kx).div_ceil(s).min(wo);
    (first.min(end), end)
}

/// Calls `f(c, ky, kx, oy, iy)` for every patch row whose input row `iy` is on the image.
fn patch_rows(s: &ConvShape, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
    let [ho, _] = s.out_hw();
    let [kh, kw] = s.kernel;
    for c in 0..s.cin {
        for ky in 0..kh {
            for kx in 0..kw {
                for oy in 0..ho {
                    let iy = (oy * s.stride[0] + ky) as isize - s.padding[0] as isize;
                    if (0..s.height as isize).contains(&iy) {
                        f(c, ky, kx, oy, iy as usize);
                    }
                }
            }
        }
    }
}

/// Gathers image `x_b` `[Cin, H, W]` into `col` `[Cin·kh·kw, Ho·Wo]` (zeros off the image).
/// Every element is written once: no separate clearing pass.
fn im2col(x_b: &[f32], s: &ConvShape, col: &mut [f32]) {
    let [ho, wo] = s.out_hw();
    let (w, [kh, kw]) = (s.width, s.kernel);
    let mut rows = col.chunks_exact_mut(wo);
    for c in 0..s.cin {
        for ky in 0..kh {
            for kx in 0..kw {
                let (first, end) = valid_columns(wo, w, kx, s.stride[1], s.padding[1]);
                for oy in 0..ho {
                    let dst = rows.next().expect("col holds Cin·kh·kw·Ho rows");
                    let iy = (oy * s.stride[0] + ky) as isize - s.padding[0] as isize;
                    if !(0..s.height as isize).contains(&iy) {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &x_b[(c * s.height + iy as usize) * w..][..w];
                    dst[..first].fill(0.0);
                    dst[end..].fill(0.0);
                    if s.stride[1] == 1 {
                        let shift = first + kx - s.padding[1];
                        dst[first..end].copy_from_slice(&src[shift..shift + end - first]);
                    } else {
                        for ox in first..end {
                            dst[ox] = src[ox * s.stride[1] + kx - s.padding[1]];
                        }
                    }
                }
            }
        }
    }
}

/// Adds `col` `[Cin·kh·kw, Ho·Wo]` back onto image gradient `dx_b` `[Cin, H, W]`.
fn col2im(col: &[f32], s: &ConvShape, dx_b: &mut [f32]) {
    let [_, wo] = s.out_hw();
    let (n, w, [_, kw]) = (s.positions(), s.width, s.kernel);
    patch_rows(s, |c, ky, kx, oy, iy| {
        let row = ((c * s.kernel[0] + ky) * kw + kx) * n + oy * wo;
        let dst = &mut dx_b[(c * s.height + iy) * w..][..w];
        let (first, end) = valid_columns(wo, w, kx, s.stride[1], s.padding[1]);
        let src = &col[row..][..wo];
        for ox in first..end {
            dst[ox * s.stride[1] + kx - s.padding[1]] += src[ox];
        }
    });
}

fn check(s: &ConvShape, x: &[f32], weight: &[f32], bias: &[f32]) {
    assert_eq!(
        x.len(),
        s.batch * s.cin * s.height * s.width,
        "x is not [B, Cin, H, W]"
    );
    assert_eq!(
        weight.len(),
        s.cout * s.patch(),
        "weight is not [Cout, Cin, kh, kw]"
    );
    assert_eq!(bias.len(), s.cout, "bias is not [Cout]");
    assert!(
        s.height + 2 * s.padding[0] >= s.kernel[0] && s.width + 2 * s.padding[1] >= s.kernel[1],
        "kernel larger than the padded image"
    );
}

/// `[B, Cout, Ho, Wo]` from `x` `[B, Cin, H, W]`, `weight` `[Cout, Cin, kh, kw]`, `bias` `[Cout]`.
pub fn forward(s: &ConvShape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    check(s, x, weight, bias);
    let (k, n) = (s.patch(), s.positions());
    let mut out = vec![0.0f32; s.batch * s.cout * n];
    if out.is_empty() || x.is_empty() {
        return out; // nothing to do, and no zero-sized chunks for rayon
    }
    out.par_chunks_mut(s.cout * n)
        .zip(x.par_chunks(s.cin * s.height * s.width))
        .for_each_init(
            || vec![0.0f32; k * n],
            |col, (out_b, x_b)| {
                im2col(x_b, s, col);
                matmul(out_b, weight, false, col, false, s.cout, n, k, false);
                for (row, &b) in out_b.chunks_exact_mut(n).zip(bias) {
                    row.iter_mut().for_each(|v| *v += b);
                }
            },
        );
    out
}

/// Gradients `(dx, dweight, dbias)` given the output gradient `dy` `[B, Cout, Ho, Wo]`.
pub fn backward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    check(s, x, weight, bias);
    let (k, n) = (s.patch(), s.positions());
    assert_eq!(
        dy.len(),
        s.batch * s.cout * n,
        "output gradient is not [B, Cout, Ho, Wo]"
    );
    let image = s.cin * s.height * s.width;
    let mut dx = vec![0.0f32; s.batch * image];
    if dx.is_empty() || dy.is_empty() {
        return (dx, vec![0.0; s.cout * k], vec![0.0; s.cout]);
    }
    struct Partial {
        dw: Vec<f32>,
        db: Vec<f32>,
        col: Vec<f32>,
        dcol: Vec<f32>,
    }
    let (dw, db) = dx
        .par_chunks_mut(image)
        .zip(x.par_chunks(image))
        .zip(dy.par_chunks(s.cout * n))
        .fold(
            || Partial {
                dw: vec![0.0; s.cout * k],
                db: vec![0.0; s.cout],
                col: vec![0.0; k * n],
                dcol: vec![0.0; k * n],
            },
            |mut p, ((dx_b, x_b), dy_b)| {
                im2col(x_b, s, &mut p.col);
                matmul(&mut p.dw, dy_b, false, &p.col, true, s.cout, k, n, true);
                matmul(&mut p.dcol, weight, true, dy_b, false, k, n, s.cout, false);
                col2im(&p.dcol, s, dx_b);
                for (db, row) in p.db.iter_mut().zip(dy_b.chunks_exact(n)) {
                    *db += row.iter().sum::<f32>();
                }
                p
            },
        )
        .map(|p| (p.dw, p.db))
        .reduce(
            || (vec![0.0; s.cout * k], vec![0.0; s.cout]),
            |(mut dw, mut db), (dw2, db2)| {
                dw.iter_mut().zip(&dw2).for_each(|(a, b)| *a += b);
                db.iter_mut().zip(&db2).for_each(|(a, b)| *a += b);
                (dw, db)
            },
        );
    (dx, dw, db)
}
