//! The generic diffusion core of diffgen.
//!
//! It knows nothing about pixels, atoms or residues: a modality brings a [`NoiseSpace`]
//! (its state and constraints), a [`Denoiser`] (a burn module) and its writers; the core
//! brings the maths — schedules, the forward process, objectives, samplers, guidance —
//! and the machinery around it: the trainer, EMA, checkpoints and one seeded RNG.

#![warn(missing_docs)]

pub mod allocator;
pub mod batching;
pub mod checkpoint;
pub mod config;
pub mod denoiser;
pub mod device;
pub mod error;
pub mod forward;
pub mod interrupt;
pub mod modality;
pub mod page;
pub mod pipeline;
pub mod plot;
pub mod process;
pub mod rng;
pub mod sampler;
pub mod schedule;
pub mod space;
pub mod tensor_util;
pub mod train;

pub use denoiser::{Denoiser, Guided};
pub use device::Backend;
pub use error::{BoxError, CoreError};
pub use forward::{LossWeighting, Objective};
pub use process::{DiffusionConfig, Process};
pub use rng::{NoiseSource, PaddedNoise, PerSampleStreams, SeededRng};
pub use sampler::{SamplerConfig, SamplerKind};
pub use schedule::{NoiseSchedule, ScheduleConfig};
pub use space::{EuclideanSpace, NoiseSpace};

/// The crate version written into every checkpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
