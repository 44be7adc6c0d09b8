//! Normalisation layers that own their parameters and ε and take the fused kernels on Flex.
//!
//! Their parameters carry the names and shapes of burn's [`LayerNorm`](burn::nn::LayerNorm)
//! and [`GroupNorm`](burn::nn::GroupNorm) (`gamma`, `beta`), so a model that swaps burn's
//! layer for one of these reads and writes the same records.

use burn::backend::Dispatch;
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::activation::silu;
use burn::tensor::{DType, Device, FloatDType, Tensor};

use crate::cpu::takes_fused_path;
use crate::kernels::{KernelOps, NormSpec};

/// Configuration of a [`LayerNorm`], built with [`init`](LayerNormConfig::init); the same
/// settings as burn's [`LayerNormConfig`](burn::nn::LayerNormConfig).
#[derive(Debug, Config)]
pub struct LayerNormConfig {
    /// The size of the normalised (last) dimension.
    pub d_model: usize,
    /// Added to the variance. Default: 1e-5.
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Whether a learnable bias (β) is added. Default: true.
    #[config(default = true)]
    pub bias: bool,
}

/// Layer normalisation over the last dimension, `y = γ ∘ (x − μ)/√(σ² + ε) + β` (biased
/// variance): burn's [`LayerNorm`](burn::nn::LayerNorm), parameters and all, with the fused
/// kernel (forward and backward) on Flex in f32 and burn's formulation elsewhere.
#[derive(Module, Debug)]
pub struct LayerNorm {
    /// The learnable scale γ `[d_model]`.
    pub gamma: Param<Tensor<1>>,
    /// The learnable bias β `[d_model]`, if any.
    pub beta: Option<Param<Tensor<1>>>,
    /// Added to the variance.
    pub epsilon: f64,
}

impl LayerNormConfig {
    /// A layer norm with γ = 1 and β = 0, as burn initialises its own.
    pub fn init(&self, device: &Device) -> LayerNorm {
        LayerNorm {
            gamma: Initializer::Ones.init([self.d_model], device),
            beta: self
                .bias
                .then(|| Initializer::Zeros.init([self.d_model], device)),
            epsilon: self.epsilon,
        }
    }
}

impl LayerNorm {
    /// `x` `[…, d_model]` → `[…, d_model]`, normalised over the last dimension.
    ///
    /// # Panics
    /// If the last dimension of `x` is not `d_model`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let gamma = self.gamma.val();
        let [d_model] = gamma.dims();
        assert_eq!(
            x.dims()[D - 1],
            d_model,
            "layer norm: the last dimension of {:?} is not d_model = {d_model}",
            x.dims()
        );
        let beta = self.beta.as_ref().map(Param::val);
        if !takes_fused_path(&x.device(), x.dtype()) {
            return composed_layer_norm(x, gamma, beta, self.epsilon);
        }
        let beta = beta.unwrap_or_else(|| gamma.zeros_like());
        Tensor::from_dispatch(<Dispatch as KernelOps>::layer_norm(
            x.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            self.epsilon as f32,
        ))
    }
}

/// What burn's `LayerNorm::forward` computes: its layer-norm operation, widened to f32 for an
/// f16 input, whose sum of squares f16 cannot hold.
fn composed_layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    epsilon: f64,
) -> Tensor<D> {
    use burn::tensor::module::layer_norm;
    match x.dtype() {
        DType::F16 => layer_norm(
            x.cast(FloatDType::F32),
            gamma.cast(FloatDType::F32),
            beta.map(|b| b.cast(FloatDType::F32)),
            epsilon,
        )
        .cast(FloatDType::F16),
        _ => layer_norm(x, gamma, beta, epsilon),
    }
}

/// Configuration of a [`GroupNorm`], built with [`init`](GroupNormConfig::init); the same
/// settings as burn's [`GroupNormConfig`](burn::nn::GroupNormConfig).
#[derive(Debug, Config)]
pub struct GroupNormConfig {
    /// Channel groups; they must divide the channels.
    pub num_groups: usize,
    /// Channels of the input (its second dimension).
    pub num_channels: usize,
    /// Added to the variance. Default: 1e-5.
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Whether the layer has a learnable per-channel scale and bias. Default: true.
    #[config(default = true)]
    pub affine: bool,
}

/// Group normalisation of `[B, C, …]` inputs: burn's [`GroupNorm`](burn::nn::GroupNorm),
/// parameters and all, with [`forward_silu`](Self::forward_silu) for the SiLU that usually
/// follows it. With affine parameters, on Flex in f32, both run one fused kernel (forward and
/// backward); elsewhere burn's formulation.
#[derive(Module, Debug)]
pub struct GroupNorm {
    /// The learnable per-channel scale γ `[C]` (affine layers only).
    pub gamma: Option<Param<Tensor<1>>>,
    /// The learnable per-channel bias β `[C]` (affine layers only).
    pub beta: Option<Param<Tensor<1>>>,
    /// Channel groups.
    pub num_groups: usize,
    /// Channels of the input.
    pub num_channels: usize,
    /// Added to the variance.
    pub epsilon: f64,
    /// Whether γ and β exist.
    pub affine: bool,
}

impl GroupNormConfig {
    /// A group norm with γ = 1 and β = 0 (when affine), as burn initialises its own.
    ///
    /// # Panics
    /// If the groups do not divide the channels.
    pub fn init(&self, device: &Device) -> GroupNorm {
        assert!(
            self.num_groups > 0 && self.num_channels.is_multiple_of(self.num_groups),
            "group norm: {} channels do not split into {} groups",
            self.num_channels,
            self.num_groups
        );
        let (gamma, beta) = match self.affine {
            true => (
                Some(Initializer::Ones.init([self.num_channels], device)),
                Some(Initializer::Zeros.init([self.num_channels], device)),
            ),
            false => (None, None),
        };
        GroupNorm {
            gamma,
            beta,
            num_groups: self.num_groups,
            num_channels: self.num_channels,
            epsilon: self.epsilon,
            affine: self.affine,
        }
    }
}

impl From<burn::nn::GroupNorm> for GroupNorm {
    /// The same layer, its parameters (and their ids) kept.
    fn from(norm: burn::nn::GroupNorm) -> Self {
        GroupNorm {
            gamma: norm.gamma,
            beta: norm.beta,
            num_groups: norm.num_groups,
            num_channels: norm.num_channels,
            epsilon: norm.epsilon,
            affine: norm.affine,
        }
    }
}

impl GroupNorm {
    /// `x` `[B, C, …]` → `[B, C, …]`, normalised over each group of channels of each item.
    ///
    /// # Panics
    /// If `x`'s second dimension is not `num_channels`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.apply(x, false)
    }

    /// `silu(self.forward(x))`, in one fused pass where the kernel applies.
    ///
    /// # Panics
    /// If `x`'s second dimension is not `num_channels`.
    pub fn forward_silu<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.apply(x, true)
    }

    fn apply<const D: usize>(&self, x: Tensor<D>, then_silu: bool) -> Tensor<D> {
        assert!(
            D >= 2 && x.dims()[1] == self.num_channels,
            "group norm: {:?} is not [B, {}, …]",
            x.dims(),
            self.num_channels
        );
        let fused = takes_fused_path(&x.device(), x.dtype());
        let (Some(gamma), Some(beta), true) = (&self.gamma, &self.beta, fused) else {
            let y = self.composed(x);
            return if then_silu { silu(y) } else { y };
        };
        let spec = NormSpec {
            groups: self.num_groups,
            epsilon: self.epsilon as f32,
            silu: then_silu,
        };
        Tensor::from_dispatch(<Dispatch as KernelOps>::group_norm_silu(
            x.into_dispatch(),
            gamma.val().into_dispatch(),
            beta.val().into_dispatch(),
            spec,
        ))
    }

    /// burn's own group norm over the same parameters.
    fn composed<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        burn::nn::GroupNorm {
            gamma: self.gamma.clone(),
            beta: self.beta.clone(),
            num_groups: self.num_groups,
            num_channels: self.num_channels,
            epsilon: self.epsilon,
            affine: self.affine,
        }
        .forward(x)
    }
}
