//! Fused operations shared by the modalities, as burn backend extensions for Flex (burn's
//! CPU backend) and autodiff over Flex, with hand-written backward passes. Other backends
//! take the composed tensor formulation, which tests compare the kernels against.

pub mod attention;

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch, Flex};
use burn::tensor::activation::softmax;
use burn::tensor::{DType, Device, Tensor};

use crate::cpu::{dims, flex, host};
use attention::{AttentionShape, Biases};

/// Whether `device` is Flex, the backend the fused kernels are written for.
pub fn is_supported(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// Whether `tensor` takes the fused kernels: on Flex and in f32, their element type; other
/// tensors (another backend, half precision, f64) take the composed tensor formulation.
pub fn runs_fused<const D: usize>(tensor: &Tensor<D>) -> bool {
    is_supported(&tensor.device()) && tensor.dtype() == DType::F32
}

/// The scale and which biases are present (absent ones are passed as placeholders).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionSpec {
    pub scale: f32,
    pub head_bias: bool,
    pub key_bias: bool,
}

#[backend_extension(Flex, Autodiff)]
pub trait AttentionOps: Backend {
    /// `q`, `k`, `v` `[B, H, N, d]`; `head_bias` `[H, N, N]`, `key_bias` `[B, N]`.
    fn attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        head_bias: FloatTensor<Self>,
        key_bias: FloatTensor<Self>,
        spec: AttentionSpec,
    ) -> FloatTensor<Self>;
}

/// `softmax(scale·q·kᵀ + head_bias + key_bias)·v` for `q`, `k`, `v` `[B, H, N, d]`, with an
/// optional `head_bias` `[H, N, N]` (broadcast over the batch) and `key_bias` `[B, N]`
/// (broadcast over heads and queries). Fused on Flex devices.
pub fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    head_bias: Option<Tensor<3>>,
    key_bias: Option<Tensor<2>>,
    scale: f64,
) -> Tensor<4> {
    let device = q.device();
    if !runs_fused(&q) {
        return attention_composed(q, k, v, head_bias, key_bias, scale);
    }
    let spec = AttentionSpec {
        scale: scale as f32,
        head_bias: head_bias.is_some(),
        key_bias: key_bias.is_some(),
    };
    let placeholder = || Tensor::<1>::zeros([1], &device).into_dispatch();
    Tensor::from_dispatch(<Dispatch as AttentionOps>::attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        head_bias.map_or_else(placeholder, Tensor::into_dispatch),
        key_bias.map_or_else(placeholder, Tensor::into_dispatch),
        spec,
    ))
}

/// [`attention`] as burn tensor ops: what other backends run, and what tests compare the
/// kernel against.
pub fn attention_composed(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    head_bias: Option<Tensor<3>>,
    key_bias: Option<Tensor<2>>,
    scale: f64,
) -> Tensor<4> {
    let [b, _, n, _] = q.dims();
    let mut logits = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale); // [B, H, N, N]
    if let Some(bias) = head_bias {
        logits = logits + bias.unsqueeze_dim(0);
    }
    if let Some(bias) = key_bias {
        logits = logits + bias.reshape([b, 1, 1, n]);
    }
    softmax(logits, 3).matmul(v)
}

fn shape(q: &FlexTensor, spec: AttentionSpec) -> AttentionShape {
    let q = dims(q);
    assert_eq!(q.len(), 4, "attention: q {q:?} is not [B, H, N, d]");
    AttentionShape {
        batch: q[0],
        heads: q[1],
        tokens: q[2],
        dim: q[3],
        scale: spec.scale,
    }
}

fn forward(inputs: &[FlexTensor; 5], spec: AttentionSpec) -> (FlexTensor, Vec<f32>) {
    let s = shape(&inputs[0], spec);
    let [q, k, v, hb, kb] = inputs.each_ref().map(host);
    let biases = Biases {
        head: spec.head_bias.then_some(&*hb),
        key: spec.key_bias.then_some(&*kb),
    };
    let (out, lse) = attention::forward(&s, &q, &k, &v, &biases);
    (flex(out, dims(&inputs[0])), lse)
}

impl AttentionOps for Flex {
    fn attention(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        head_bias: FlexTensor,
        key_bias: FlexTensor,
        spec: AttentionSpec,
    ) -> FlexTensor {
        forward(&[q, k, v, head_bias, key_bias], spec).0
    }
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 5> for AttentionBackward {
    type State = Arc<([FlexTensor; 5], AttentionSpec, Vec<f32>)>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_out = grads.consume::<Flex>(&ops.node);
        let (inputs, spec, lse) = &*ops.state;
        let s = shape(&inputs[0], *spec);
        let [q, k, v, hb, kb] = inputs.each_ref().map(host);
        let biases = Biases {
            head: spec.head_bias.then_some(&*hb),
            key: spec.key_bias.then_some(&*kb),
        };
        let g = attention::backward(&s, &q, &k, &v, &biases, lse, &host(&d_out));
        let values = [g.q, g.k, g.v, g.head_bias, g.key_bias];
        for ((parent, value), input) in ops.parents.into_iter().zip(values).zip(inputs) {
            // A placeholder bias is a constant: it has no parent to take a gradient.
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, flex(value, dims(input)));
            }
        }
    }
}

impl<C: CheckpointStrategy> AttentionOps for Autodiff<Flex, C> {
    fn attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        head_bias: FloatTensor<Self>,
        key_bias: FloatTensor<Self>,
        spec: AttentionSpec,
    ) -> FloatTensor<Self> {
        let nodes = [
            q.node(),
            k.node(),
            v.node(),
            head_bias.node(),
            key_bias.node(),
        ];
        let inputs = [
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            head_bias.into_primitive(),
            key_bias.into_primitive(),
        ];
        let (out, lse) = forward(&inputs, spec);
        match AttentionBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(Arc::new((inputs, spec, lse)), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
