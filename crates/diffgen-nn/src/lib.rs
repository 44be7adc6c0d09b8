//! Network layers that more than one modality uses, kept once here so that no modality
//! copies another's. The core keeps the diffusion maths and training; the modalities keep
//! their own architectures.

#![warn(missing_docs)]

pub mod embedding;

pub use embedding::sinusoidal_embedding;
