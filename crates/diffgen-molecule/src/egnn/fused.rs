//! The pair kernel as a burn operation: a backend extension for Flex (burn's CPU backend) and
//! for autodiff over Flex, whose backward is [`pair_kernel::backward`].
//!
//! Other backends (wgpu, …) and element types keep the tensor formulation in `mod.rs`;
//! [`EdgePath::best_for`](super::EdgePath::best_for) says which path a tensor takes.

use std::borrow::Cow;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch, ExtensionType, Flex};
use burn::tensor::Tensor;
use diffgen_nn::cpu;

use super::pair_kernel::{self, Head, NodeInputs, PairFeatures, PairGraph, PairParams, Saved};

/// The tensors of one pair-MLP layer, in the shapes of [`pair_kernel`]'s slices:
/// `p`, `q` `[rows, H]`; `x`, `x0` `[rows, 3]`; `w_r`, `w_d`, `b2`, `head_w` `[H]`;
/// `w2` `[H, H]`; `head_b` `[1]`; pair features `pair` `[rows · N, F]` and their projection
/// `pair_weight` `[F, H]` (`[1, 1]` placeholders when the spec says there are none).
#[derive(ExtensionType)]
pub struct PairInputs<B: Backend> {
    /// `h·W_i + b1`, the first layer's per-node product for atom i.
    pub p: FloatTensor<B>,
    /// `h·W_j`, the first layer's per-node product for atom j.
    pub q: FloatTensor<B>,
    /// The block's input coordinates.
    pub x: FloatTensor<B>,
    /// The network's input coordinates.
    pub x0: FloatTensor<B>,
    /// First-layer weight of `r_ij`.
    pub w_r: FloatTensor<B>,
    /// First-layer weight of `d_ij`.
    pub w_d: FloatTensor<B>,
    /// Second-layer weight.
    pub w2: FloatTensor<B>,
    /// Second-layer bias.
    pub b2: FloatTensor<B>,
    /// The head's weight.
    pub head_w: FloatTensor<B>,
    /// The head's bias.
    pub head_b: FloatTensor<B>,
    /// Pair features, or a placeholder.
    pub pair: FloatTensor<B>,
    /// Their projection into the first layer, or a placeholder.
    pub pair_weight: FloatTensor<B>,
}

/// The non-tensor half of a call: the graph and the head.
#[derive(Debug, Clone)]
pub struct PairSpec {
    /// The batch's real pairs and their cut into chunks.
    pub graph: Arc<PairGraph>,
    /// What the MLP's output feeds.
    pub head: Head,
    /// ν, dividing the neighbour sums (EDM's `normalization_factor`).
    pub normalization: f32,
    /// Whether `pair` and `pair_weight` hold pair features (else they are placeholders).
    pub pair: bool,
}

/// The pair kernel as a burn backend extension: Flex runs [`pair_kernel::forward`], autodiff
/// over Flex adds [`pair_kernel::backward`]. Call it through [`pair_messages`].
#[backend_extension(Flex, Autodiff)]
pub trait PairMessageOps: Backend {
    /// Neighbour sums `[rows, width]` of the pair MLP (see [`pair_kernel`]).
    fn pair_messages(
        #[extension_type] inputs: PairInputs<Self>,
        spec: PairSpec,
    ) -> FloatTensor<Self>;
}

/// Calls the fused kernel on high-level tensors (any Flex device, with or without autodiff).
pub fn pair_messages(inputs: [Tensor<2>; 10], spec: PairSpec) -> Tensor<2> {
    let placeholder = || Tensor::zeros([1, 1], &inputs[0].device());
    let (features, weight) = (placeholder(), placeholder());
    pair_messages_with(
        inputs,
        features,
        weight,
        PairSpec {
            pair: false,
            ..spec
        },
    )
}

/// [`pair_messages`] with pair features `features` `[rows · N, F]` projected by `weight`
/// `[F, H]` into the first layer (inside the kernel, on real pairs only).
pub fn pair_messages_with_features(
    inputs: [Tensor<2>; 10],
    features: Tensor<2>,
    weight: Tensor<2>,
    spec: PairSpec,
) -> Tensor<2> {
    pair_messages_with(inputs, features, weight, PairSpec { pair: true, ..spec })
}

fn pair_messages_with(
    inputs: [Tensor<2>; 10],
    pair: Tensor<2>,
    pair_weight: Tensor<2>,
    spec: PairSpec,
) -> Tensor<2> {
    let (pair, pair_weight) = (pair.into_dispatch(), pair_weight.into_dispatch());
    let [p, q, x, x0, w_r, w_d, w2, b2, head_w, head_b] = inputs.map(Tensor::into_dispatch);
    let inputs = PairInputs {
        p,
        q,
        x,
        x0,
        w_r,
        w_d,
        w2,
        b2,
        head_w,
        head_b,
        pair,
        pair_weight,
    };
    Tensor::from_dispatch(<Dispatch as PairMessageOps>::pair_messages(inputs, spec))
}

/// The kernel's inputs.
const INPUTS: usize = 12;

/// Host copies (or borrows) of the inputs.
struct Host<'a> {
    values: [Cow<'a, [f32]>; INPUTS],
}

impl<'a> Host<'a> {
    fn read(tensors: &'a [FlexTensor; INPUTS]) -> Self {
        Self {
            values: tensors.each_ref().map(cpu::host),
        }
    }

    fn nodes(&self, spec: &PairSpec) -> NodeInputs<'_> {
        let v = &self.values;
        NodeInputs {
            p: &v[0],
            q: &v[1],
            x: &v[2],
            x0: &v[3],
            pair: spec.pair.then_some(PairFeatures {
                features: &v[10],
                weight: &v[11],
            }),
        }
    }

    fn params(&self, spec: &PairSpec) -> PairParams<'_> {
        let v = &self.values;
        PairParams {
            hidden: v[4].len(),
            w_r: &v[4],
            w_d: &v[5],
            w2: &v[6],
            b2: &v[7],
            head_w: &v[8],
            head_b: v[9][0],
            head: spec.head,
            normalization: spec.normalization,
        }
    }
}

fn run_forward(
    tensors: &[FlexTensor; INPUTS],
    spec: &PairSpec,
    keep: bool,
) -> (FlexTensor, Option<Saved>) {
    let host = Host::read(tensors);
    let params = host.params(spec);
    let width = spec.head.width(params.hidden);
    let (out, saved) = pair_kernel::forward(&spec.graph, &host.nodes(spec), &params, keep);
    (cpu::flex(out, vec![spec.graph.rows(), width]), saved)
}

fn into_array(inputs: PairInputs<Flex>) -> [FlexTensor; INPUTS] {
    [
        inputs.p,
        inputs.q,
        inputs.x,
        inputs.x0,
        inputs.w_r,
        inputs.w_d,
        inputs.w2,
        inputs.b2,
        inputs.head_w,
        inputs.head_b,
        inputs.pair,
        inputs.pair_weight,
    ]
}

impl PairMessageOps for Flex {
    fn pair_messages(inputs: PairInputs<Self>, spec: PairSpec) -> FlexTensor {
        run_forward(&into_array(inputs), &spec, false).0
    }
}

/// What the backward pass needs: the inputs, the graph and the kept activations.
struct PairState {
    inputs: [FlexTensor; INPUTS],
    spec: PairSpec,
    saved: Saved,
}

impl std::fmt::Debug for PairState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairState")
            .field("edges", &self.spec.graph.edges())
            .field("head", &self.spec.head)
            .finish()
    }
}

#[derive(Debug)]
struct PairBackward;

impl Backward<Flex, INPUTS> for PairBackward {
    type State = Arc<PairState>;

    fn backward(self, ops: Ops<Self::State, INPUTS>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_out = grads.consume::<Flex>(&ops.node);
        let state = ops.state;
        let host = Host::read(&state.inputs);
        let params = host.params(&state.spec);
        let d_out = cpu::host(&d_out);
        let g = pair_kernel::backward(
            &state.spec.graph,
            &host.nodes(&state.spec),
            &params,
            &state.saved,
            &d_out,
        );
        let shapes: Vec<Vec<usize>> = state.inputs.iter().map(cpu::dims).collect();
        let values = [
            g.p,
            g.q,
            g.x,
            g.x0,
            g.w_r,
            g.w_d,
            g.w2,
            g.b2,
            g.head_w,
            vec![g.head_b],
            // A placeholder's gradient is its one zero.
            g.pair.unwrap_or_else(|| vec![0.0]),
            match g.pair_weight.is_empty() {
                // No pair visited (or a placeholder): zeros of the input's size.
                true => vec![0.0; shapes[11].iter().product()],
                false => g.pair_weight,
            },
        ];
        let values = values
            .into_iter()
            .zip(shapes)
            .map(|(values, shape)| cpu::flex(values, shape));
        diffgen_nn::register_gradients!(grads, ops.parents, values);
    }
}

impl<C: CheckpointStrategy> PairMessageOps for Autodiff<Flex, C> {
    fn pair_messages(inputs: PairInputs<Self>, spec: PairSpec) -> FloatTensor<Self> {
        let nodes = [
            inputs.p.node(),
            inputs.q.node(),
            inputs.x.node(),
            inputs.x0.node(),
            inputs.w_r.node(),
            inputs.w_d.node(),
            inputs.w2.node(),
            inputs.b2.node(),
            inputs.head_w.node(),
            inputs.head_b.node(),
            inputs.pair.node(),
            inputs.pair_weight.node(),
        ];
        let tensors = [
            inputs.p.into_primitive(),
            inputs.q.into_primitive(),
            inputs.x.into_primitive(),
            inputs.x0.into_primitive(),
            inputs.w_r.into_primitive(),
            inputs.w_d.into_primitive(),
            inputs.w2.into_primitive(),
            inputs.b2.into_primitive(),
            inputs.head_w.into_primitive(),
            inputs.head_b.into_primitive(),
            inputs.pair.into_primitive(),
            inputs.pair_weight.into_primitive(),
        ];
        match PairBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, saved) = run_forward(&tensors, &spec, true);
                let state = PairState {
                    inputs: tensors,
                    spec,
                    saved: saved.unwrap_or_default(),
                };
                prep.finish(Arc::new(state), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(run_forward(&tensors, &spec, false).0),
        }
    }
}
