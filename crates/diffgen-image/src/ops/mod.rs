//! Hand-written CPU kernels for the UNet's hot layers, registered with burn as a Flex
//! backend extension with hand-written backward passes: convolution as im2col + one matrix
//! product per image ([`conv`]), group normalisation fused with the SiLU that follows it
//! ([`group_norm`]); attention is the core's (`diffgen_core::kernels::attention`).
//!
//! Why: burn's Flex convolution backward and its composed group norm and SiLU were 3–25×
//! slower than PyTorch's at the course UNet's shapes (`examples/unet_layers.rs`). The wrappers
//! [`conv2d`] and [`group_norm`] take burn's own modules, so parameters, checkpoints
//! and other backends are untouched; on devices other than Flex, or for settings the
//! kernels do not cover, they call the module's own `forward`.

pub mod conv;
pub mod group_norm;

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch, Flex};
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::Tensor;
use diffgen_core::cpu::{dims, flex, host};
use diffgen_core::kernels::runs_fused;
use diffgen_core::register_gradients;

use conv::ConvShape;
use group_norm::NormShape;

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

/// The kernels as a burn backend extension: Flex runs them forward, Autodiff over Flex adds
/// their hand-written backward passes. Call them through [`conv2d`] and [`group_norm()`].
#[backend_extension(Flex, Autodiff)]
pub trait ImageKernelOps: Backend {
    /// `x` `[B, Cin, H, W]`, `weight` `[Cout, Cin, kh, kw]`, `bias` `[Cout]`.
    fn conv2d_im2col(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;

    /// `x` `[B, C, H, W]`, `gamma`, `beta` `[C]`.
    fn group_norm_silu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        spec: NormSpec,
    ) -> FloatTensor<Self>;
}

/// `conv.forward(x)`, through the im2col kernel where it applies.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([top, left])
        }
        PaddingConfig2d::Valid => Some([0, 0]),
        _ => None,
    };
    let (Some(padding), true) = (
        padding,
        conv.groups == 1 && conv.dilation == [1, 1] && runs_fused(&x),
    ) else {
        return conv.forward(x);
    };
    let weight = conv.weight.val();
    let bias = match &conv.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([weight.dims()[0]], &x.device()),
    };
    let spec = ConvSpec {
        stride: conv.stride,
        padding,
    };
    Tensor::from_dispatch(<Dispatch as ImageKernelOps>::conv2d_im2col(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        spec,
    ))
}

/// `norm.forward(x)`, then SiLU when `then_silu`, fused where the kernel applies.
pub fn group_norm(norm: &GroupNorm, x: Tensor<4>, then_silu: bool) -> Tensor<4> {
    let (Some(gamma), Some(beta), true) = (&norm.gamma, &norm.beta, runs_fused(&x)) else {
        let y = norm.forward(x);
        return if then_silu { silu(y) } else { y };
    };
    let spec = NormSpec {
        groups: norm.num_groups,
        epsilon: norm.epsilon as f32,
        silu: then_silu,
    };
    Tensor::from_dispatch(<Dispatch as ImageKernelOps>::group_norm_silu(
        x.into_dispatch(),
        gamma.val().into_dispatch(),
        beta.val().into_dispatch(),
        spec,
    ))
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

fn norm_shape(x: &FlexTensor, spec: NormSpec) -> NormShape {
    let x = dims(x);
    assert_eq!(x.len(), 4, "group norm: x {x:?} is not [B, C, H, W]");
    NormShape {
        batch: x[0],
        channels: x[1],
        pixels: x[2] * x[3],
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

impl ImageKernelOps for Flex {
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
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = Arc<([FlexTensor; 3], ConvSpec)>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let ([x, w, b], spec) = &*ops.state;
        let s = conv_shape(x, w, *spec);
        let (dx, dw, db) = conv::backward(&s, &host(x), &host(w), &host(b), &host(&dy));
        let values = [flex(dx, dims(x)), flex(dw, dims(w)), flex(db, dims(b))];
        register_gradients!(grads, ops.parents, values);
    }
}

#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 3> for NormBackward {
    type State = Arc<([FlexTensor; 3], NormSpec, Vec<f32>)>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dout = grads.consume::<Flex>(&ops.node);
        let ([x, g, b], spec, stats) = &*ops.state;
        let s = norm_shape(x, *spec);
        let (dx, dg, db) =
            group_norm::backward(&s, &host(x), &host(g), &host(b), stats, &host(&dout));
        let values = [flex(dx, dims(x)), flex(dg, dims(g)), flex(db, dims(b))];
        register_gradients!(grads, ops.parents, values);
    }
}

impl<C: CheckpointStrategy> ImageKernelOps for Autodiff<Flex, C> {
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
        match NormBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(Arc::new((inputs, spec, stats)), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
