//! Embeddings of the noise level.

use burn::tensor::Tensor;

/// The transformer-style sinusoidal embedding of the noise level `t ∈ [0, 1]`, `[B]` →
/// `[B, features]`: `sin(1000·t·ωᵢ)` then `cos(1000·t·ωᵢ)` with `ωᵢ = 10000^(−i/half)`.
/// `t` is scaled to [0, 1000] so that the highest frequency resolves single steps of a
/// 1000-level schedule. An odd `features` drops the last cosine.
pub fn sinusoidal_embedding(t: Tensor<1>, features: usize) -> Tensor<2> {
    // Rounded up, so an odd size has a cosine to drop (rounding down panicked there).
    let half = features.div_ceil(2).max(1);
    let device = t.device();
    let b = t.dims()[0];
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10_000f64.ln()) * i as f64 / half as f64).exp() as f32)
        .collect();
    let freqs = Tensor::<1>::from_floats(freqs.as_slice(), &device).reshape([1, half]);
    let angles = t.mul_scalar(1000.0).reshape([b, 1]) * freqs; // [B, half]
    let emb = Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1); // [B, 2·half]
    if 2 * half == features {
        emb
    } else {
        emb.narrow(1, 0, features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn matches_the_closed_form() {
        let device = Device::flex();
        let t = Tensor::<1>::from_floats([0.0, 0.25, 1.0], &device);
        let emb = sinusoidal_embedding(t, 8)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (row, t) in [0.0f64, 0.25, 1.0].iter().enumerate() {
            for i in 0..4 {
                let angle = 1000.0 * t * (-(10_000f64.ln()) * i as f64 / 4.0).exp();
                let (s, c) = (emb[row * 8 + i], emb[row * 8 + 4 + i]);
                assert!((s as f64 - angle.sin()).abs() < 2e-3, "sin row {row} i {i}");
                assert!((c as f64 - angle.cos()).abs() < 2e-3, "cos row {row} i {i}");
            }
        }
        let odd = sinusoidal_embedding(Tensor::<1>::zeros([2], &device), 5);
        assert_eq!(odd.dims(), [2, 5]);
    }
}
