//! Building blocks of hand-written CPU kernels: vectorisable `exp`/sigmoid, a row-major
//! matrix product on the `gemm` crate, host views of burn Flex tensors,
//! [`with_best_isa!`](crate::with_best_isa) to compile a kernel body for AVX2 + FMA while the
//! binary still runs on any x86-64, [`register_gradients!`](crate::register_gradients) for
//! hand-written backward passes, and [`takes_fused_path`], the one question a kernel's
//! caller asks. This crate's layers are built from them; they are public for kernels that
//! belong to one model (the molecule EGNN's pair kernel).

use std::borrow::Cow;

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Device, TensorData};

/// Whether tensors of `dtype` on `device` take the hand-written kernels: on Flex (burn's CPU
/// backend, with or without autodiff) and in f32, their element type. Other tensors (another
/// backend, half precision, f64) take the composed tensor formulation. This crate's layers
/// ask it themselves; a kernel of one model's own asks it to choose its path.
pub fn takes_fused_path(device: &Device, dtype: DType) -> bool {
    dtype == DType::F32 && device.clone().inner() == Device::flex()
}

/// Registers each of `values` (Flex tensors) as the gradient of its parent, for the parents
/// autodiff tracks: the end of a hand-written backward pass. A macro, not a function: burn's
/// node type is private, so only its field can be named.
#[macro_export]
macro_rules! register_gradients {
    ($grads:expr, $parents:expr, $values:expr) => {
        for (parent, value) in $parents.into_iter().zip($values) {
            if let Some(node) = parent {
                $grads.register::<burn::backend::Flex>(node.id, value);
            }
        }
    };
}

/// Runs a call with AVX2 and FMA enabled where the CPU has them: the call's body (marked
/// `#[inline(always)]`, as must be everything it calls in hot loops) is then compiled for
/// 8-wide vectors. Elsewhere, or without the features, the call runs as compiled.
#[macro_export]
macro_rules! with_best_isa {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn wide<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the enabled features (checked just above).
                unsafe { wide(#[inline(always)] || $f($($arg),*)) }
            } else {
                $f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $f($($arg),*)
        }
    }};
}

/// `e^x` within 5e-7 relative (a few ulp), branch-free so that loops over it vectorise:
/// 2^n · P(r) with `x = n·ln 2 + r`, |r| ≤ ln2/2, P the degree-6 Taylor polynomial. The
/// argument is clamped to [−87, 88], so the result stays a normal, finite f32.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n_bits = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n_bits + 127) << 23) as u32)
}

/// σ(z) = 1 / (1 + e^−z).
#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

/// d silu(z)/dz from z and s = σ(z).
#[inline(always)]
pub fn silu_grad(z: f32, s: f32) -> f32 {
    s * (1.0 + z * (1.0 - s))
}

/// Σ a_k b_k with eight partial sums, so the loop vectorises.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ v_k with eight partial sums, so the loop vectorises.
#[inline(always)]
pub fn sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The largest element (−∞ for none), eight lanes at a time.
#[inline(always)]
pub fn max(v: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = v.chunks_exact(8);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for c in chunks {
        for k in 0..8 {
            acc[k] = if c[k] > acc[k] { c[k] } else { acc[k] };
        }
    }
    acc.iter().fold(tail, |m, &x| m.max(x))
}

/// `dst[m×n] = (dst if accumulate) + lhs·rhs`, row-major; `lhs_t`/`rhs_t` say the operand is
/// stored transposed (`[k×m]`, `[n×k]`). Single-threaded: callers parallelise around it.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    dst: &mut [f32],
    lhs: &[f32],
    lhs_t: bool,
    rhs: &[f32],
    rhs_t: bool,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
) {
    let size = |a: usize, b: usize| a.checked_mul(b).expect("matrix size overflows usize");
    assert!(dst.len() >= size(m, n) && lhs.len() >= size(m, k) && rhs.len() >= size(k, n));
    if m == 0 || n == 0 {
        return;
    }
    let (lhs_cs, lhs_rs) = if lhs_t { (m, 1) } else { (1, k) };
    let (rhs_cs, rhs_rs) = if rhs_t { (k, 1) } else { (1, n) };
    // SAFETY: the strides describe matrices inside the slices, whose lengths were checked
    // above; `dst` does not alias the operands (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The values of an f32 Flex tensor in row-major order: borrowed when contiguous.
pub fn host(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.clone()
                .into_data()
                .try_to_vec::<f32>()
                .expect("the fused kernels run in f32"),
        ),
    }
}

/// A Flex tensor of `shape` from row-major values.
pub fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The dimensions of a Flex tensor.
pub fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_to_a_few_ulp() {
        let mut worst = 0.0f32;
        for i in -8700..=8800 {
            let x = i as f32 * 0.01;
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn matmul_handles_every_transpose() {
        let (m, n, k) = (3, 4, 5);
        let a: Vec<f32> = (0..m * k).map(|v| v as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|v| 1.0 - v as f32 * 0.25).collect();
        let mut want = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        let at: Vec<f32> = (0..k * m).map(|v| a[(v % m) * k + v / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|v| b[(v % k) * n + v / k]).collect();
        for (lhs, lt, rhs, rt) in [
            (&a, false, &b, false),
            (&at, true, &b, false),
            (&a, false, &bt, true),
            (&at, true, &bt, true),
        ] {
            let mut got = vec![0.0f32; m * n];
            matmul(&mut got, lhs, lt, rhs, rt, m, n, k, false);
            assert_eq!(got, want, "lhs_t {lt}, rhs_t {rt}");
        }
    }
}
