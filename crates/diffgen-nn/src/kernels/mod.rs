//! The fused operations behind this crate's layers, as one burn backend extension for Flex
//! (burn's CPU backend) and autodiff over Flex, with hand-written backward passes: attention,
//! GELU, softmax, layer norm, convolution (im2col) and group norm (optionally fused with the SiLU that
//! follows it). The submodules hold the kernels proper, on row-major f32 slices; this module
//! registers them with burn.
//!
//! Models do not call these: they call the layers ([`LayerNorm`](crate::LayerNorm),
//! [`GroupNorm`](crate::GroupNorm), [`Conv2d`](crate::Conv2d)) and functions
//! ([`attention()`](crate::attention()), [`gelu()`](crate::gelu())), which take the kernels
//! where [`takes_fused_path`](crate::cpu::takes_fused_path) says so and the composed tensor
//! formulation elsewhere (other backends, other element types), which tests compare the
//! kernels against.

pub mod attention;
pub mod conv;
pub mod gelu;
pub mod group_norm;
pub mod layer_norm;
pub mod softmax;

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Flex};

use crate::cpu::{dims, flex, host};
use attention::{AttentionShape, Biases};
use conv::ConvShape;
use group_norm::NormShape;

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

/// Strides and (symmetric) padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Stride `[y, x]`.
    pub stride: [usize; 2],
    /// Zero padding `[y, x]`, the same on both sides.
    pub padding: [usize; 2],
}

/// Groups, ε and whether SiLU follows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormSpec {
    /// Channel groups; they must divide the channels.
    pub groups: usize,
    /// Added to the variance.
    pub epsilon: f32,
    /// Apply SiLU after the affine map.
    pub silu: bool,
}

/// The fused kernels as a burn backend extension: Flex runs them forward, autodiff over Flex
/// adds their hand-written backward passes. The crate's layers and functions dispatch to it.
#[backend_extension(Flex, Autodiff)]
pub trait KernelOps: Backend {
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

    /// Softmax over the last dimension.
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Layer norm over the last dimension: `x` `[…, D]`, `gamma`, `beta` `[D]`.
    fn layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
    ) -> FloatTensor<Self>;

    /// `x` `[B, Cin, H, W]`, `weight` `[Cout, Cin, kh, kw]`, `bias` `[Cout]`.
    fn conv2d_im2col(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;

    /// `x` `[B, C, …]`, `gamma`, `beta` `[C]`.
    fn group_norm_silu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        spec: NormSpec,
    ) -> FloatTensor<Self>;
}

fn attention_shape(q: &FlexTensor, spec: AttentionSpec) -> AttentionShape {
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

fn attention_forward(inputs: &[FlexTensor; 5], spec: AttentionSpec) -> (FlexTensor, Vec<f32>) {
    let s = attention_shape(&inputs[0], spec);
    let [q, k, v, hb, kb] = inputs.each_ref().map(host);
    let biases = Biases {
        head: spec.head_bias.then_some(&*hb),
        head_per_item: head_per_item(inputs, spec),
        key: spec.key_bias.then_some(&*kb),
    };
    let (out, lse) = attention::forward(&s, &q, &k, &v, &biases);
    (flex(out, dims(&inputs[0])), lse)
}

fn conv_shape(x: &FlexTensor, weight: &FlexTensor, spec: ConvSpec) -> ConvShape {
    let (x, w) = (dims(x), dims(weight));
    assert!(
        x.len() == 4 && w.len() == 4 && x[1] == w[1],
        "conv2d: x {x:?}, weight {w:?}"
    );
    ConvShape {
        batch: x[0],
        cin: x[1],
        height: x[2],
        width: x[3],
        cout: w[0],
        kernel: [w[2], w[3]],
        stride: spec.stride,
        padding: spec.padding,
    }
}

/// Any rank of at least 2: the dimensions after the channels are the pixels.
fn norm_shape(x: &FlexTensor, spec: NormSpec) -> NormShape {
    let x = dims(x);
    assert!(x.len() >= 2, "group norm: x {x:?} is not [B, C, …]");
    NormShape {
        batch: x[0],
        channels: x[1],
        pixels: x[2..].iter().product(),
        groups: spec.groups,
        epsilon: spec.epsilon,
        silu: spec.silu,
    }
}

fn conv_forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor, spec: ConvSpec) -> FlexTensor {
    let s = conv_shape(x, w, spec);
    let out = conv::forward(&s, &host(x), &host(w), &host(b));
    let [ho, wo] = s.out_hw();
    flex(out, vec![s.batch, s.cout, ho, wo])
}

fn norm_forward(
    x: &FlexTensor,
    g: &FlexTensor,
    b: &FlexTensor,
    spec: NormSpec,
) -> (FlexTensor, Vec<f32>) {
    let s = norm_shape(x, spec);
    let (out, stats) = group_norm::forward(&s, &host(x), &host(g), &host(b));
    (flex(out, dims(x)), stats)
}

impl KernelOps for Flex {
    fn attention(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        head_bias: FlexTensor,
        key_bias: FlexTensor,
        spec: AttentionSpec,
    ) -> FlexTensor {
        attention_forward(&[q, k, v, head_bias, key_bias], spec).0
    }

    fn gelu(x: FlexTensor) -> FlexTensor {
        flex(gelu::forward(&host(&x)), dims(&x))
    }

    fn softmax_last(x: FlexTensor) -> FlexTensor {
        let shape = dims(&x);
        let width = shape.last().copied().unwrap_or(1);
        flex(softmax::forward(&host(&x), width), shape)
    }

    fn layer_norm(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f32) -> FlexTensor {
        let out = layer_norm::forward(&host(&x), &host(&gamma), &host(&beta), epsilon);
        flex(out, dims(&x))
    }

    fn conv2d_im2col(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        spec: ConvSpec,
    ) -> FlexTensor {
        conv_forward(&x, &weight, &bias, spec)
    }

    fn group_norm_silu(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        spec: NormSpec,
    ) -> FlexTensor {
        norm_forward(&x, &gamma, &beta, spec).0
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
struct SoftmaxBackward;

impl Backward<Flex, 1> for SoftmaxBackward {
    /// The forward pass's output: the backward pass needs nothing else.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_out = grads.consume::<Flex>(&ops.node);
        let shape = dims(&ops.state);
        let width = shape.last().copied().unwrap_or(1);
        let dx = softmax::backward(&host(&ops.state), &host(&d_out), width);
        crate::register_gradients!(grads, ops.parents, [flex(dx, shape)]);
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
        let s = attention_shape(&inputs[0], *spec);
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

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = Arc<([FlexTensor; 3], ConvSpec)>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let ([x, w, b], spec) = &*ops.state;
        let s = conv_shape(x, w, *spec);
        let (dx, dw, db) = conv::backward(&s, &host(x), &host(w), &host(b), &host(&dy));
        let values = [flex(dx, dims(x)), flex(dw, dims(w)), flex(db, dims(b))];
        crate::register_gradients!(grads, ops.parents, values);
    }
}

#[derive(Debug)]
struct GroupNormBackward;

impl Backward<Flex, 3> for GroupNormBackward {
    type State = Arc<([FlexTensor; 3], NormSpec, Vec<f32>)>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dout = grads.consume::<Flex>(&ops.node);
        let ([x, g, b], spec, stats) = &*ops.state;
        let s = norm_shape(x, *spec);
        let (dx, dg, db) =
            group_norm::backward(&s, &host(x), &host(g), &host(b), stats, &host(&dout));
        let values = [flex(dx, dims(x)), flex(dg, dims(g)), flex(db, dims(b))];
        crate::register_gradients!(grads, ops.parents, values);
    }
}

impl<C: CheckpointStrategy> KernelOps for Autodiff<Flex, C> {
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
        let (out, lse) = attention_forward(&inputs, spec);
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
        let out = <Flex as KernelOps>::gelu(x.clone());
        match GeluBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(x, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let out = <Flex as KernelOps>::softmax_last(x.into_primitive());
        match SoftmaxBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(out.clone(), out),
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
        let out = <Flex as KernelOps>::layer_norm(
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

    fn conv2d_im2col(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let inputs = [
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        ];
        let out = conv_forward(&inputs[0], &inputs[1], &inputs[2], spec);
        match ConvBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(Arc::new((inputs, spec)), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn group_norm_silu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        spec: NormSpec,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), gamma.node(), beta.node()];
        let inputs = [
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        ];
        let (out, stats) = norm_forward(&inputs[0], &inputs[1], &inputs[2], spec);
        match GroupNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(Arc::new((inputs, spec, stats)), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
