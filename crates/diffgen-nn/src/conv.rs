//! 2-D convolution that owns its parameters and takes the fused im2col kernel on Flex.

use burn::backend::Dispatch;
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use crate::cpu::takes_fused_path;
use crate::kernels::{ConvSpec, KernelOps};

/// Configuration of a [`Conv2d`], built with [`init`](Conv2dConfig::init): the settings of
/// burn's [`Conv2dConfig`](burn::nn::conv::Conv2dConfig), with the same defaults.
#[derive(Config, Debug)]
pub struct Conv2dConfig {
    /// Input and output channels `[Cin, Cout]`.
    pub channels: [usize; 2],
    /// Kernel size `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Stride `[y, x]`.
    #[config(default = "[1, 1]")]
    pub stride: [usize; 2],
    /// Spacing between kernel elements.
    #[config(default = "[1, 1]")]
    pub dilation: [usize; 2],
    /// Channel groups.
    #[config(default = "1")]
    pub groups: usize,
    /// Padding.
    #[config(default = "PaddingConfig2d::Valid")]
    pub padding: PaddingConfig2d,
    /// Whether a bias is added to the output.
    #[config(default = true)]
    pub bias: bool,
    /// How the weights and bias are initialised (burn's default: Kaiming uniform, gain 1/√3).
    #[config(default = "Initializer::KaimingUniform{gain:1.0/3.0f64.sqrt(),fan_out_only:false}")]
    pub initializer: Initializer,
}

/// A 2-D convolution over `[B, Cin, H, W]`: burn's [`Conv2d`](burn::nn::conv::Conv2d),
/// parameters (`weight` `[Cout, Cin/groups, kh, kw]`, `bias` `[Cout]`) and settings alike.
/// On Flex in f32, without groups or dilation and with symmetric explicit (or no) padding,
/// it runs as im2col and one matrix product per image, with a hand-written backward; burn's
/// convolution otherwise.
#[derive(Module, Debug)]
pub struct Conv2d {
    /// `[Cout, Cin/groups, kh, kw]`.
    pub weight: Param<Tensor<4>>,
    /// `[Cout]`, if any.
    pub bias: Option<Param<Tensor<1>>>,
    /// Stride `[y, x]`.
    pub stride: [usize; 2],
    /// Kernel size `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Spacing between kernel elements.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    /// Padding.
    #[module(skip)]
    pub padding: PaddingConfig2d,
}

impl Conv2dConfig {
    /// A convolution initialised exactly as burn initialises its own (same random draws).
    ///
    /// # Panics
    /// If the groups do not divide both channel counts.
    pub fn init(&self, device: &Device) -> Conv2d {
        burn::nn::conv::Conv2dConfig::new(self.channels, self.kernel_size)
            .with_stride(self.stride)
            .with_dilation(self.dilation)
            .with_groups(self.groups)
            .with_padding(self.padding.clone())
            .with_bias(self.bias)
            .with_initializer(self.initializer.clone())
            .init(device)
            .into()
    }
}

impl From<burn::nn::conv::Conv2d> for Conv2d {
    /// The same layer, its parameters (and their ids) kept.
    fn from(conv: burn::nn::conv::Conv2d) -> Self {
        Conv2d {
            weight: conv.weight,
            bias: conv.bias,
            stride: conv.stride,
            kernel_size: conv.kernel_size,
            dilation: conv.dilation,
            groups: conv.groups,
            padding: conv.padding,
        }
    }
}

impl Conv2d {
    /// `x` `[B, Cin, H, W]` → `[B, Cout, H', W']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let padding = match self.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right)
                if top == bottom && left == right =>
            {
                Some([top, left])
            }
            PaddingConfig2d::Valid => Some([0, 0]),
            _ => None,
        };
        let (Some(padding), true) = (
            padding,
            self.groups == 1 && self.dilation == [1, 1] && takes_fused_path(&x.device(), x.dtype()),
        ) else {
            return self.composed(x);
        };
        let weight = self.weight.val();
        let bias = match &self.bias {
            Some(b) => b.val(),
            None => Tensor::zeros([weight.dims()[0]], &x.device()),
        };
        let spec = ConvSpec {
            stride: self.stride,
            padding,
        };
        Tensor::from_dispatch(<Dispatch as KernelOps>::conv2d_im2col(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            spec,
        ))
    }

    /// burn's own convolution over the same parameters.
    fn composed(&self, x: Tensor<4>) -> Tensor<4> {
        burn::nn::conv::Conv2d {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            stride: self.stride,
            kernel_size: self.kernel_size,
            dilation: self.dilation,
            groups: self.groups,
            padding: self.padding.clone(),
        }
        .forward(x)
    }
}
