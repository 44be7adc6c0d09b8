//! The layers are drop-in replacements for burn's: the same parameter paths and shapes (so
//! records and checkpoints written with burn's layers load into them), the same
//! initialisation, and burn's own results where the fused kernels do not apply.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::PaddingConfig2d;
use burn::tensor::{DType, Device, Distribution, Tensor};
use diffgen_nn::{Conv2dConfig, GroupNormConfig, LayerNormConfig};

mod common;
use common::to_vec;

/// burn's generator is process-wide and the tests of this file run in parallel: each holds
/// this lock so that a seeded draw cannot interleave with another test's.
static GLOBAL_GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn hold_generator() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_GENERATOR.lock().unwrap_or_else(|e| e.into_inner())
}

/// `(path, shape)` of every float parameter, in visiting order.
#[derive(Default)]
struct Paths {
    stack: Vec<String>,
    params: Vec<(String, Vec<usize>)>,
}

impl ModuleVisitor for Paths {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.params
            .push((self.stack.join("."), param.lazy_shape().to_vec()));
    }
}

fn paths<M: Module>(module: &M) -> Vec<(String, Vec<usize>)> {
    let mut visitor = Paths::default();
    module.visit(&mut visitor);
    visitor.params
}

/// Modules holding burn's layers and ours under the same field names.
#[derive(Module, Debug)]
struct Burns {
    norm: burn::nn::LayerNorm,
    norm_no_bias: burn::nn::LayerNorm,
    group: burn::nn::GroupNorm,
    conv: burn::nn::conv::Conv2d,
    conv_no_bias: burn::nn::conv::Conv2d,
    label: burn::nn::Embedding,
}

#[derive(Module, Debug)]
struct Ours {
    norm: diffgen_nn::LayerNorm,
    norm_no_bias: diffgen_nn::LayerNorm,
    group: diffgen_nn::GroupNorm,
    conv: diffgen_nn::Conv2d,
    conv_no_bias: diffgen_nn::Conv2d,
    label: diffgen_nn::LabelEmbedding,
}

#[test]
fn parameter_paths_and_shapes_match_burn() {
    let _generator = hold_generator();
    let device = Device::flex();
    let burns = Burns {
        norm: burn::nn::LayerNormConfig::new(12).init(&device),
        norm_no_bias: burn::nn::LayerNormConfig::new(5)
            .with_bias(false)
            .init(&device),
        group: burn::nn::GroupNormConfig::new(4, 16).init(&device),
        conv: burn::nn::conv::Conv2dConfig::new([3, 8], [3, 3]).init(&device),
        conv_no_bias: burn::nn::conv::Conv2dConfig::new([8, 4], [1, 1])
            .with_bias(false)
            .init(&device),
        label: burn::nn::EmbeddingConfig::new(11, 6).init(&device),
    };
    let ours = Ours {
        norm: LayerNormConfig::new(12).init(&device),
        norm_no_bias: LayerNormConfig::new(5).with_bias(false).init(&device),
        group: GroupNormConfig::new(4, 16).init(&device),
        conv: Conv2dConfig::new([3, 8], [3, 3]).init(&device),
        conv_no_bias: Conv2dConfig::new([8, 4], [1, 1])
            .with_bias(false)
            .init(&device),
        label: diffgen_nn::LabelEmbeddingConfig::new(10, 6).init(&device),
    };
    let expected = paths(&burns);
    assert_eq!(expected.len(), 9, "{expected:?}");
    assert_eq!(paths(&ours), expected);
}

#[test]
fn initialisation_matches_burn() {
    let _generator = hold_generator();
    let device = Device::flex();
    let padding = PaddingConfig2d::Explicit(1, 1, 1, 1);
    let theirs = burn::nn::conv::Conv2dConfig::new([4, 6], [3, 3])
        .with_stride([2, 1])
        .with_padding(padding.clone());
    let ours = Conv2dConfig::new([4, 6], [3, 3])
        .with_stride([2, 1])
        .with_padding(padding);
    // Parameters may initialise lazily: read each layer's right after seeding.
    let bias = |b: &Option<Param<Tensor<1>>>| to_vec(b.as_ref().expect("a bias").val());
    device.seed(11);
    let theirs = theirs.init(&device);
    let theirs_values = (to_vec(theirs.weight.val()), bias(&theirs.bias));
    device.seed(11);
    let ours = ours.init(&device);
    let ours_values = (to_vec(ours.weight.val()), bias(&ours.bias));
    assert_eq!(ours_values, theirs_values);
    assert_eq!(
        (ours.stride, ours.kernel_size, ours.dilation, ours.groups),
        (
            theirs.stride,
            theirs.kernel_size,
            theirs.dilation,
            theirs.groups
        )
    );

    let norm = LayerNormConfig::new(7).with_epsilon(1e-3).init(&device);
    let burns = burn::nn::LayerNormConfig::new(7).init(&device);
    assert_eq!(norm.epsilon, 1e-3);
    assert_eq!(to_vec(norm.gamma.val()), to_vec(burns.gamma.val()));
    let group = GroupNormConfig::new(2, 6).init(&device);
    let burns = burn::nn::GroupNormConfig::new(2, 6).init(&device);
    assert_eq!(
        to_vec(group.gamma.as_ref().unwrap().val()),
        to_vec(burns.gamma.as_ref().unwrap().val())
    );
    assert_eq!(
        to_vec(group.beta.as_ref().unwrap().val()),
        to_vec(burns.beta.as_ref().unwrap().val())
    );
}

/// Outside the kernels' reach (here: f64) the layers run burn's own formulation, bit for bit.
#[test]
fn composed_path_is_burns_own() {
    let _generator = hold_generator();
    let device = Device::flex();
    device.seed(12);
    let x =
        Tensor::<4>::random([2, 6, 5, 4], Distribution::Normal(0.5, 2.0), &device).cast(DType::F64);

    let mut burns = burn::nn::GroupNormConfig::new(3, 6).init(&device);
    burns.gamma = Some(Param::from_tensor(
        Tensor::<1>::random([6], Distribution::Normal(1.0, 0.5), &device).cast(DType::F64),
    ));
    burns.beta = Some(Param::from_tensor(
        Tensor::<1>::random([6], Distribution::Normal(0.0, 0.5), &device).cast(DType::F64),
    ));
    let ours = diffgen_nn::GroupNorm::from(burns.clone());
    assert_eq!(
        to_vec(ours.forward(x.clone())),
        to_vec(burns.forward(x.clone()))
    );
    assert_eq!(
        to_vec(ours.forward_silu(x.clone())),
        to_vec(burn::tensor::activation::silu(burns.forward(x.clone())))
    );

    let burns = burn::nn::conv::Conv2dConfig::new([6, 3], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let burns = burn::nn::conv::Conv2d {
        weight: Param::from_tensor(burns.weight.val().cast(DType::F64)),
        bias: burns
            .bias
            .map(|b| Param::from_tensor(b.val().cast(DType::F64))),
        ..burns
    };
    let ours = diffgen_nn::Conv2d::from(burns.clone());
    assert_eq!(
        to_vec(ours.forward(x.clone())),
        to_vec(burns.forward(x.clone()))
    );

    let mut norm = LayerNormConfig::new(4).init(&device);
    let mut burns = burn::nn::LayerNormConfig::new(4).init(&device);
    norm.gamma = Param::from_tensor(
        Tensor::<1>::random([4], Distribution::Normal(1.0, 0.5), &device).cast(DType::F64),
    );
    norm.beta = Some(Param::from_tensor(
        Tensor::<1>::random([4], Distribution::Normal(0.0, 0.5), &device).cast(DType::F64),
    ));
    burns.gamma = norm.gamma.clone();
    burns.beta = norm.beta.clone();
    assert_eq!(to_vec(norm.forward(x.clone())), to_vec(burns.forward(x)));
}
