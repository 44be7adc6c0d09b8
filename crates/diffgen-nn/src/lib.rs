//! Network layers that more than one modality uses, kept once here so that no modality
//! copies another's. The core keeps the diffusion maths and training; the modalities keep
//! their own architectures.
//!
//! The layers follow burn's style (a `Config`, a `Module` that owns its parameters, `init`)
//! and keep burn's parameter names, so they read burn's records; the functions take no
//! parameters. Each picks its own path: hand-written fused CPU kernels with hand-written
//! backward passes on Flex (burn's CPU backend) in f32 ([`kernels`], built from [`cpu`]),
//! burn's composed tensor formulation on every other backend and element type. No model asks
//! which backend it runs on.
//!
//! | item | what |
//! |---|---|
//! | [`LayerNorm`] | layer norm over the last dimension, owning γ, β and ε |
//! | [`GroupNorm`] | group norm, and [`GroupNorm::forward_silu`] with the SiLU after it fused in |
//! | [`Conv2d`] | 2-D convolution (im2col + one matrix product per image on Flex) |
//! | [`attention()`] | scaled dot-product attention with a head bias and a key bias |
//! | [`gelu()`] | GELU, erf form |
//! | [`softmax()`] | softmax (over the last dimension fused: one pass per row each way) |
//! | [`LabelEmbedding`] | class labels with a learned null label (classifier-free guidance) |
//! | [`sinusoidal_embedding`] | the transformer-style embedding of the noise level |

#![warn(missing_docs)]

pub mod activation;
pub mod attention;
pub mod conv;
pub mod cpu;
pub mod embedding;
pub mod kernels;
pub mod label;
pub mod norm;

pub use activation::{gelu, softmax};
pub use attention::{attention, attention_composed};
pub use conv::{Conv2d, Conv2dConfig};
pub use embedding::sinusoidal_embedding;
pub use label::{LabelEmbedding, LabelEmbeddingConfig};
pub use norm::{GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig};
