//! Fused operations shared by the modalities (attention, GELU, layer norm), as burn backend
//! extensions for Flex (burn's
//! CPU backend) and autodiff over Flex, with hand-written backward passes. Other backends
//! take the composed tensor formulation, which tests compare the kernels against.

pub mod attention;
pub mod gelu;
pub mod layer_norm;

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch, Flex};
use burn::nn::LayerNorm;
use burn::tensor::activation::softmax;
use burn::tensor::{DType, Device, Tensor};

use crate::cpu::{dims, flex, host};
use attention::{AttentionShape, Biases};

/// Registers each of `values` (Flex tensors) as the gradient of its parent, for the parents
/// autodiff tracks. A macro, not a function: burn's node type is private, so only its field
/// can be named.
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
    /// c, the logits' factor (usually 1/√d).
    pub scale: f32,
    /// Whether a real head bias `[Bh, H, N, N]` (Bh = 1 or B) is passed.
    pub head_bias: bool,
    /// Whether a real per-key bias `[B, N]` is passed.
    pub key_bias: bool,
}

/// The fused kernels as a burn backend extension, for Flex and autodiff over Flex; this
/// module's `attention`, `gelu` and `layer_norm` dispatch to it.
#[backend_extension(Flex, Autodiff)]
pub trait CoreKernelOps: Backend {
    /// `q`, `k`, `v` `[B, H, N, d]`; `head_bias` `[Bh, H, N, N]` with Bh = 1 (shared over the
    /// batch) or B (per item), `key_bias` `[B, N]`.
    fn attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        head_bias: FloatTensor<Self>,
        key_bias: FloatTensor<Self>,
        spec: AttentionSpec,
    ) -> FloatTensor<Self>;

    /// GELU, erf form, elementwise.
    fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Layer norm over the last dimension: `x` `[…, D]`, `gamma`, `beta` `[D]`.
    fn layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
    ) -> FloatTensor<Self>;
}

/// `gelu(x)` (erf form), fused on Flex.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !runs_fused(&x) {
        return burn::tensor::activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as CoreKernelOps>::gelu(x.into_dispatch()))
}

/// `norm.forward(x)`, fused on Flex. burn keeps a layer norm's ε private: pass the one it
/// was built with.
pub fn layer_norm<const D: usize>(norm: &LayerNorm, x: Tensor<D>, epsilon: f64) -> Tensor<D> {
    if !runs_fused(&x) {
        return norm.forward(x);
    }
    let gamma = norm.gamma.val();
    let beta = match &norm.beta {
        Some(b) => b.val(),
        None => gamma.zeros_like(),
    };
    Tensor::from_dispatch(<Dispatch as CoreKernelOps>::layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon as f32,
    ))
}

/// `softmax(scale·q·kᵀ + head_bias + key_bias)·v` for `q`, `k`, `v` `[B, H, N, d]`, with an
/// optional `head_bias` `[Bh, H, N, N]` — Bh = 1: one bias per head, broadcast over the batch
/// (its gradient summed over the batch); Bh = B: each item's own pair bias — and an optional
/// `key_bias` `[B, N]` (broadcast over heads and queries). Fused on Flex devices.
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
    if !runs_fused(&q) {
        return attention_composed(q, k, v, head_bias, key_bias, scale);
    }
    let spec = AttentionSpec {
        scale: scale as f32,
        head_bias: head_bias.is_some(),
        key_bias: key_bias.is_some(),
    };
    let placeholder = || Tensor::<1>::zeros([1], &device).into_dispatch();
    Tensor::from_dispatch(<Dispatch as CoreKernelOps>::attention(
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

/// Whether the head bias (a real one) is `[B, H, N, N]` rather than `[1, H, N, N]`; the
/// kernel checks its length against the answer.
fn head_per_item(inputs: &[FlexTensor; 5], spec: AttentionSpec) -> bool {
    spec.head_bias && dims(&inputs[3]).first().is_some_and(|&bh| bh != 1)
}

fn forward(inputs: &[FlexTensor; 5], spec: AttentionSpec) -> (FlexTensor, Vec<f32>) {
    let s = shape(&inputs[0], spec);
    let [q, k, v, hb, kb] = inputs.each_ref().map(host);
    let biases = Biases {
        head: spec.head_bias.then_some(&*hb),
        head_per_item: head_per_item(inputs, spec),
        key: spec.key_bias.then_some(&*kb),
    };
    let (out, lse) = attention::forward(&s, &q, &k, &v, &biases);
    (flex(out, dims(&inputs[0])), lse)
}

impl CoreKernelOps for Flex {
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

    fn gelu(x: FlexTensor) -> FlexTensor {
        flex(gelu::forward(&host(&x)), dims(&x))
    }

    fn layer_norm(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f32) -> FlexTensor {
        let out = layer_norm::forward(&host(&x), &host(&gamma), &host(&beta), epsilon);
        flex(out, dims(&x))
    }
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_out = grads.consume::<Flex>(&ops.node);
        let dx = gelu::backward(&host(&ops.state), &host(&d_out));
        crate::register_gradients!(grads, ops.parents, [flex(dx, dims(&ops.state))]);
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = Arc<([FlexTensor; 3], f32)>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_out = grads.consume::<Flex>(&ops.node);
        let ([x, gamma, beta], epsilon) = &*ops.state;
        let (dx, dg, db) =
            layer_norm::backward(&host(x), &host(gamma), &host(beta), *epsilon, &host(&d_out));
        let values = [
            flex(dx, dims(x)),
            flex(dg, dims(gamma)),
            flex(db, dims(beta)),
        ];
        crate::register_gradients!(grads, ops.parents, values);
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
            head_per_item: head_per_item(inputs, *spec),
            key: spec.key_bias.then_some(&*kb),
        };
        let g = attention::backward(&s, &q, &k, &v, &biases, lse, &host(&d_out));
        // An absent bias has an empty gradient; its placeholder is a constant (no parent), so
        // the zeros standing in for it are never registered.
        let values = [g.q, g.k, g.v, g.head_bias, g.key_bias]
            .into_iter()
            .zip(inputs)
            .map(|(value, input)| {
                let shape = dims(input);
                let value = match value.is_empty() {
                    true => vec![0.0; shape.iter().product()],
                    false => value,
                };
                flex(value, shape)
            });
        crate::register_gradients!(grads, ops.parents, values);
    }
}

impl<C: CheckpointStrategy> CoreKernelOps for Autodiff<Flex, C> {
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

    fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let x = x.into_primitive();
        let out = <Flex as CoreKernelOps>::gelu(x.clone());
        match GeluBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(x, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), gamma.node(), beta.node()];
        let inputs = [
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        ];
        let out = <Flex as CoreKernelOps>::layer_norm(
            inputs[0].clone(),
            inputs[1].clone(),
            inputs[2].clone(),
            epsilon,
        );
        match LayerNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(Arc::new((inputs, epsilon)), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
