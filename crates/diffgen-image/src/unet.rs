//! The course's UNet (diffusers' `UNet2DModel` layout), written in burn.
//!
//! ```text
//! x [B,C,H,W] ─ pad to a multiple of 2^(levels−1) ─ conv_in 3×3 ─┐ skip
//!   level 0: (resnet [+attn]) × layers_per_block, each a skip ─ strided conv ↓2, a skip
//!   level 1: … (the last level does not downsample)
//!   mid: resnet ─ attention ─ resnet
//!   up level L−1 … 0: (concat skip ─ resnet [+attn]) × (layers_per_block + 1) ─ nearest ↑2 + conv
//!   GroupNorm ─ SiLU ─ conv_out 3×3 ─ crop back to H×W → ε̂ [B,C,H,W]
//! ```
//!
//! Time `t/T` enters through a sinusoidal embedding (of `1000·t/T`) and a two-layer MLP
//! (width `4·block_out_channels[0]`); a class embedding with one extra "null" row (index
//! `num_classes`) is added to it for classifier-free guidance. Every residual block adds a
//! projection of the embedding to its feature maps.
//!
//! Odd sizes: the input is zero-padded on the bottom/right to a multiple of 2^(levels−1)
//! and the output cropped back, so every down- and up-sampling divides evenly. The course's
//! sizes need no padding (28×28 and 36×28 divide by 4 with three levels).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor};
use diffgen_core::{CoreError, Denoiser, Objective};
use diffgen_nn::{
    attention, Conv2d, Conv2dConfig, GroupNorm, GroupNormConfig, LabelEmbedding,
    LabelEmbeddingConfig,
};
use serde::{Deserialize, Serialize};

pub use diffgen_nn::sinusoidal_embedding;

/// Per-batch context: class labels when the model is conditional; label `num_classes` is
/// the null label (unconditional).
#[derive(Debug, Clone)]
pub struct ImageContext {
    /// `[B]` class indices, or None for unconditional models.
    pub labels: Option<Tensor<1, Int>>,
}

/// The largest image side, in pixels, a model may be configured for.
pub const MAX_SIDE: usize = 4096;

/// The `[model]` table: the image shape and the UNet's architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetConfig {
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Image height, in pixels (at most [`MAX_SIDE`]).
    pub height: usize,
    /// Image width, in pixels (at most [`MAX_SIDE`]).
    pub width: usize,
    /// Output channels per resolution level (course: [64, 128, 128]).
    pub block_out_channels: Vec<usize>,
    /// Self-attention after every residual block of a level, one flag per level (course:
    /// [false, true, true]); default: every level but the first.
    #[serde(default)]
    pub attention: Option<Vec<bool>>,
    /// Residual blocks per down level (up levels have one more).
    #[serde(default = "default_layers")]
    pub layers_per_block: usize,
    /// GroupNorm groups: at most this many, the largest number dividing the channels.
    #[serde(default = "default_groups")]
    pub norm_groups: usize,
    /// Channels per attention head (diffusers' `attention_head_dim`).
    #[serde(default = "default_head_dim")]
    pub attention_head_dim: usize,
    /// Condition on class labels (with a learned null label for guidance).
    #[serde(default)]
    pub conditional: bool,
}

fn default_layers() -> usize {
    2
}
fn default_groups() -> usize {
    32
}
fn default_head_dim() -> usize {
    8
}

/// The largest group count ≤ `max` that divides `channels`.
pub fn group_count(channels: usize, max: usize) -> usize {
    (1..=max.max(1).min(channels))
        .rev()
        .find(|g| channels.is_multiple_of(*g))
        .unwrap_or(1)
}

impl UNetConfig {
    /// Resolution levels: one per entry of `block_out_channels`.
    pub fn levels(&self) -> usize {
        self.block_out_channels.len()
    }

    /// Whether each level has self-attention: `attention`, else every level but the first.
    pub fn attention_flags(&self) -> Vec<bool> {
        self.attention
            .clone()
            .unwrap_or_else(|| (0..self.levels()).map(|i| i > 0).collect())
    }

    /// Sizes are padded up to a multiple of this.
    pub fn size_multiple(&self) -> usize {
        1 << self.levels().saturating_sub(1)
    }

    /// Checks the shape and the architecture; errors name the setting.
    pub fn validate(&self) -> Result<(), CoreError> {
        if !matches!(self.channels, 1 | 3) {
            return Err(CoreError::setting(
                "model.channels",
                format!("must be 1 (grey) or 3 (RGB), got {}", self.channels),
            ));
        }
        if self.height == 0 || self.width == 0 {
            return Err(CoreError::setting("model.height/width", "must be positive"));
        }
        // The convolution weights do not depend on the image size, so a checkpoint's tensors
        // cannot bound it: without a limit, a config claiming 10^6 × 10^6 pixels would abort
        // on the first noise allocation.
        if self.height > MAX_SIDE || self.width > MAX_SIDE {
            return Err(CoreError::setting(
                "model.height/width",
                format!(
                    "{}×{} is larger than {MAX_SIDE}×{MAX_SIDE} pixels",
                    self.height, self.width
                ),
            ));
        }
        if self.block_out_channels.is_empty() || self.block_out_channels.contains(&0) {
            return Err(CoreError::setting(
                "model.block_out_channels",
                "needs at least one level, all positive",
            ));
        }
        if self.levels() > 6 {
            return Err(CoreError::setting(
                "model.block_out_channels",
                "at most 6 levels",
            ));
        }
        if let Some(flags) = &self.attention {
            if flags.len() != self.levels() {
                return Err(CoreError::setting(
                    "model.attention",
                    format!(
                        "needs one flag per level ({}), got {}",
                        self.levels(),
                        flags.len()
                    ),
                ));
            }
        }
        if self.layers_per_block == 0 {
            return Err(CoreError::setting(
                "model.layers_per_block",
                "must be positive",
            ));
        }
        if self.norm_groups == 0 || self.attention_head_dim == 0 {
            return Err(CoreError::setting(
                "model.norm_groups/attention_head_dim",
                "must be positive",
            ));
        }
        for (i, (&c, &attn)) in self
            .block_out_channels
            .iter()
            .zip(&self.attention_flags())
            .enumerate()
        {
            if attn && !c.is_multiple_of(self.attention_head_dim.min(c)) {
                return Err(CoreError::setting(
                    "model.attention_head_dim",
                    format!("must divide the channels of level {i} ({c})"),
                ));
            }
        }
        Ok(())
    }

    /// `num_classes` is ignored unless the config is conditional.
    pub fn init(&self, objective: Objective, num_classes: usize, device: &Device) -> UNet {
        let channels = &self.block_out_channels;
        let attention = self.attention_flags();
        let levels = channels.len();
        let c0 = channels[0];
        let temb = 4 * c0;
        let g = self.norm_groups;
        let resnet = |cin: usize, cout: usize| ResnetBlock::new(cin, cout, temb, g, device);
        let attn = |c: usize| {
            let head_dim = self.attention_head_dim.min(c);
            AttentionBlock::new(c, c / head_dim, g, device)
        };
        let conv3 = |cin: usize, cout: usize, stride: usize| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };

        let mut skips = vec![c0];
        let mut down = Vec::with_capacity(levels);
        let mut current = c0;
        for (i, &c) in channels.iter().enumerate() {
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for _ in 0..self.layers_per_block {
                resnets.push(resnet(current, c));
                if attention[i] {
                    attentions.push(attn(c));
                }
                current = c;
                skips.push(c);
            }
            let downsample = (i + 1 < levels).then(|| {
                skips.push(c);
                conv3(c, c, 2)
            });
            down.push(DownLevel {
                resnets,
                attentions,
                downsample,
            });
        }
        let last = channels[levels - 1];
        let mid1 = resnet(last, last);
        let mid_attn = attn(last);
        let mid2 = resnet(last, last);

        let mut up = Vec::with_capacity(levels);
        for i in (0..levels).rev() {
            let c = channels[i];
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for _ in 0..=self.layers_per_block {
                let skip = skips.pop().expect("one skip per up-path resnet");
                resnets.push(resnet(current + skip, c));
                if attention[i] {
                    attentions.push(attn(c));
                }
                current = c;
            }
            let upsample = (i > 0).then(|| conv3(c, c, 1));
            up.push(UpLevel {
                resnets,
                attentions,
                upsample,
            });
        }
        debug_assert!(skips.is_empty());
        let classes = if self.conditional { num_classes } else { 0 };
        UNet {
            conv_in: conv3(self.channels, c0, 1),
            time1: LinearConfig::new(c0, temb).init(device),
            time2: LinearConfig::new(temb, temb).init(device),
            label: (classes > 0).then(|| LabelEmbeddingConfig::new(classes, temb).init(device)),
            down,
            mid1,
            mid_attn,
            mid2,
            up,
            norm_out: GroupNormConfig::new(group_count(c0, g), c0).init(device),
            conv_out: conv3(c0, self.channels, 1),
            time_features: c0,
            num_classes: classes,
            multiple: self.size_multiple(),
            objective,
        }
    }
}

/// GroupNorm → SiLU → conv, + projection of the time embedding, GroupNorm → SiLU → conv,
/// plus a 1×1 shortcut when the channel count changes.
#[derive(Module, Debug)]
pub struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    fn new(cin: usize, cout: usize, temb: usize, groups: usize, device: &Device) -> Self {
        let conv = |a: usize, b: usize| {
            Conv2dConfig::new([a, b], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            norm1: GroupNormConfig::new(group_count(cin, groups), cin).init(device),
            conv1: conv(cin, cout),
            time: LinearConfig::new(temb, cout).init(device),
            norm2: GroupNormConfig::new(group_count(cout, groups), cout).init(device),
            conv2: conv(cout, cout),
            shortcut: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
        }
    }

    /// `x` [B,Cin,H,W], `temb` [B,E] (already through SiLU) → [B,Cout,H,W].
    pub fn forward(&self, x: Tensor<4>, temb: Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(self.norm1.forward_silu(x.clone())); // [B,Cout,H,W]
        let [b, c, _, _] = h.dims();
        let h = h + self.time.forward(temb).reshape([b, c, 1, 1]); // broadcast over H,W
        let h = self.conv2.forward(self.norm2.forward_silu(h));
        let skip = match &self.shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        h + skip
    }
}

/// Multi-head self-attention over the H·W positions, with a residual connection.
#[derive(Module, Debug)]
pub struct AttentionBlock {
    norm: GroupNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    heads: usize,
}

impl AttentionBlock {
    /// `heads` heads of `channels / heads` channels each, after a GroupNorm of at most
    /// `groups` groups ([`group_count`]).
    pub fn new(channels: usize, heads: usize, groups: usize, device: &Device) -> Self {
        let lin = || LinearConfig::new(channels, channels).init(device);
        Self {
            norm: GroupNormConfig::new(group_count(channels, groups), channels).init(device),
            query: lin(),
            key: lin(),
            value: lin(),
            out: lin(),
            heads,
        }
    }

    /// [B,C,H,W] → [B,C,H,W].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let (n, heads) = (h * w, self.heads);
        let d = c / heads;
        let tokens = self
            .norm
            .forward(x.clone())
            .reshape([b, c, n])
            .swap_dims(1, 2); // [B,N,C]
        let split = |t: Tensor<3>| t.reshape([b, n, heads, d]).swap_dims(1, 2); // [B,h,N,d]
        let q = split(self.query.forward(tokens.clone()));
        let k = split(self.key.forward(tokens.clone()));
        let v = split(self.value.forward(tokens));
        let mixed = attention(q, k, v, None, None, 1.0 / (d as f64).sqrt()); // [B,h,N,d]
        let mixed = mixed.swap_dims(1, 2).reshape([b, n, c]); // [B,N,C]
        let out = self
            .out
            .forward(mixed)
            .swap_dims(1, 2)
            .reshape([b, c, h, w]);
        out + x
    }
}

/// One level of the down path: residual blocks (each followed by attention on levels that
/// have it), then a stride-2 3×3 convolution on every level but the last.
#[derive(Module, Debug)]
pub struct DownLevel {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<AttentionBlock>,
    downsample: Option<Conv2d>,
}

/// One level of the up path: residual blocks on the state concatenated with a skip (each
/// followed by attention on levels that have it), then nearest ×2 upsampling and a 3×3
/// convolution on every level but level 0.
#[derive(Module, Debug)]
pub struct UpLevel {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<AttentionBlock>,
    upsample: Option<Conv2d>,
}

/// The image modality's denoiser (see the module docs): `[B, C, H, W]` and times in, the
/// objective's target (the noise, for the course) out. Built by [`UNetConfig::init`].
#[derive(Module, Debug)]
pub struct UNet {
    conv_in: Conv2d,
    time1: Linear,
    time2: Linear,
    label: Option<LabelEmbedding>,
    down: Vec<DownLevel>,
    mid1: ResnetBlock,
    mid_attn: AttentionBlock,
    mid2: ResnetBlock,
    up: Vec<UpLevel>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    time_features: usize,
    num_classes: usize,
    multiple: usize,
    #[module(skip)]
    objective: Objective,
}

/// Nearest-neighbour ×2: [B,C,H,W] → [B,C,2H,2W].
fn upsample_nearest(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([b, c, 2 * h, 2 * w])
}

/// Zero-pads bottom/right so H and W become multiples of `m`.
fn pad_to_multiple(x: Tensor<4>, m: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let (ph, pw) = (h.next_multiple_of(m) - h, w.next_multiple_of(m) - w);
    let device = x.device();
    let mut x = x;
    if ph > 0 {
        x = Tensor::cat(vec![x, Tensor::zeros([b, c, ph, w], &device)], 2);
    }
    if pw > 0 {
        x = Tensor::cat(vec![x, Tensor::zeros([b, c, h + ph, pw], &device)], 3);
    }
    x
}

impl UNet {
    /// Classes of its label embedding (0: unconditional).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The time (+ class) embedding, through SiLU as every residual block uses it: [B,E].
    fn embedding(&self, t: Tensor<1>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        let e = self.time2.forward(silu(
            self.time1
                .forward(sinusoidal_embedding(t, self.time_features)),
        )); // [B,E]
        let e = match (&self.label, labels) {
            (Some(embedding), Some(labels)) => e + embedding.forward(labels),
            _ => e,
        };
        silu(e)
    }

    /// `x` [B,C,H,W] in [−1, 1]-ish, `t` [B] = t/T, `labels` [B] (conditional models; the
    /// null label `num_classes` for unconditional) → prediction [B,C,H,W].
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, labels: Option<Tensor<1, Int>>) -> Tensor<4> {
        let [_, _, height, width] = x.dims();
        let temb = self.embedding(t, labels); // [B,E]
        let x = pad_to_multiple(x, self.multiple); // [B,C,H',W']
        let mut h = self.conv_in.forward(x); // [B,c0,H',W']
        let mut skips = vec![h.clone()];
        for level in &self.down {
            for (i, resnet) in level.resnets.iter().enumerate() {
                h = resnet.forward(h, temb.clone()); // [B,c_l,H_l,W_l]
                if let Some(attn) = level.attentions.get(i) {
                    h = attn.forward(h);
                }
                skips.push(h.clone());
            }
            if let Some(down) = &level.downsample {
                h = down.forward(h); // [B,c_l,H_l/2,W_l/2]
                skips.push(h.clone());
            }
        }
        h = self.mid1.forward(h, temb.clone());
        h = self.mid_attn.forward(h);
        h = self.mid2.forward(h, temb.clone()); // [B,c_last,H_last,W_last]
        for level in &self.up {
            for (i, resnet) in level.resnets.iter().enumerate() {
                let skip = skips.pop().expect("a skip per up-path resnet");
                h = resnet.forward(Tensor::cat(vec![h, skip], 1), temb.clone()); // [B,c_l,…]
                if let Some(attn) = level.attentions.get(i) {
                    h = attn.forward(h);
                }
            }
            if let Some(up) = &level.upsample {
                h = up.forward(upsample_nearest(h)); // [B,c_l,2H_l,2W_l]
            }
        }
        let out = self.conv_out.forward(self.norm_out.forward_silu(h)); // [B,C,H',W']
        out.narrow(2, 0, height).narrow(3, 0, width) // [B,C,H,W]
    }
}

impl Denoiser<4> for UNet {
    type Context = ImageContext;

    fn objective(&self) -> Objective {
        self.objective
    }

    fn predict(&self, x_t: Tensor<4>, t: Tensor<1>, context: &ImageContext) -> Tensor<4> {
        self.forward(x_t, t, context.labels.clone())
    }

    fn unconditional(&self, context: &ImageContext) -> Option<ImageContext> {
        let labels = context.labels.as_ref()?;
        let embedding = self.label.as_ref()?;
        Some(ImageContext {
            labels: Some(embedding.null_like(labels)),
        })
    }
}

/// Number of scalar parameters of a module.
pub fn parameter_count<M: Module>(module: &M) -> usize {
    module.num_params()
}
