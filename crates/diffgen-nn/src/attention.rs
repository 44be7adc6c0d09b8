//! Scaled dot-product attention with additive biases: the fused kernel on Flex, the composed
//! tensor formulation elsewhere.

use burn::backend::Dispatch;
use burn::tensor::activation::softmax;
use burn::tensor::Tensor;

use crate::cpu::takes_fused_path;
use crate::kernels::{AttentionSpec, KernelOps};

/// `softmax(scale·q·kᵀ + head_bias + key_bias)·v` for `q`, `k`, `v` `[B, H, N, d]`, with an
/// optional `head_bias` `[Bh, H, N, N]` — Bh = 1: one bias per head, broadcast over the batch
/// (its gradient summed over the batch); Bh = B: each item's own pair bias — and an optional
/// `key_bias` `[B, N]` (broadcast over heads and queries). The fused kernel runs where
/// [`takes_fused_path`] says so (Flex, f32), [`attention_composed`] elsewhere.
///
/// # Panics
/// If a bias's shape disagrees with `q`'s (a head bias of a batch size other than 1 or B
/// included).
pub fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    head_bias: Option<Tensor<4>>,
    key_bias: Option<Tensor<2>>,
    scale: f64,
) -> Tensor<4> {
    let device = q.device();
    check_bias_shapes(&q, head_bias.as_ref(), key_bias.as_ref());
    if !takes_fused_path(&device, q.dtype()) {
        return attention_composed(q, k, v, head_bias, key_bias, scale);
    }
    let spec = AttentionSpec {
        scale: scale as f32,
        head_bias: head_bias.is_some(),
        key_bias: key_bias.is_some(),
    };
    let placeholder = || Tensor::<1>::zeros([1], &device).into_dispatch();
    Tensor::from_dispatch(<Dispatch as KernelOps>::attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        head_bias.map_or_else(placeholder, Tensor::into_dispatch),
        key_bias.map_or_else(placeholder, Tensor::into_dispatch),
        spec,
    ))
}

/// [`attention()`] as burn tensor ops: what other backends run, and what tests compare the
/// kernel against.
pub fn attention_composed(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    head_bias: Option<Tensor<4>>,
    key_bias: Option<Tensor<2>>,
    scale: f64,
) -> Tensor<4> {
    check_bias_shapes(&q, head_bias.as_ref(), key_bias.as_ref());
    let [b, _, n, _] = q.dims();
    let mut logits = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale); // [B, H, N, N]
    if let Some(bias) = head_bias {
        logits = logits + bias; // [Bh, H, N, N], broadcast where Bh = 1
    }
    if let Some(bias) = key_bias {
        logits = logits + bias.reshape([b, 1, 1, n]);
    }
    softmax(logits, 3).matmul(v)
}

/// The biases' shapes for `q` `[B, H, N, d]`: `head_bias` `[1 or B, H, N, N]`, `key_bias`
/// `[B, N]`.
fn check_bias_shapes(q: &Tensor<4>, head_bias: Option<&Tensor<4>>, key_bias: Option<&Tensor<2>>) {
    let [b, h, n, _] = q.dims();
    if let Some(bias) = head_bias {
        let [bh, rest @ ..] = bias.dims();
        assert!(
            (bh == 1 || bh == b) && rest == [h, n, n],
            "attention: head bias {:?} is not [1, H, N, N] or [B, H, N, N] for B, H, N = {b}, {h}, {n}",
            bias.dims()
        );
    }
    if let Some(bias) = key_bias {
        assert_eq!(
            bias.dims(),
            [b, n],
            "attention: key bias is not [B, N] for B, N = {b}, {n}"
        );
    }
}
