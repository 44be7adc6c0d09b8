//! Run-time choice of the compute backend.
//!
//! burn 0.22 tensors carry no backend type; the [`Device`] decides. Each backend other than
//! the pure-Rust `flex` CPU backend is a cargo feature, and choosing one that was not compiled
//! in is an error rather than a silent fallback.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A compute backend, as `--device` and configs name it (lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust `flex` backend: always available.
    #[default]
    Cpu,
    /// CUDA through CubeCL (feature `cuda`).
    Cuda,
    /// wgpu (Vulkan/Metal/DX12) through CubeCL (feature `wgpu`).
    Wgpu,
    /// LibTorch through burn's tch backend (feature `tch`), on the CPU.
    Tch,
}

impl Backend {
    /// Every backend, compiled in or not.
    pub const ALL: [Backend; 4] = [Backend::Cpu, Backend::Cuda, Backend::Wgpu, Backend::Tch];

    /// The lowercase name (`cpu`, `cuda`, …) used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
            Backend::Wgpu => "wgpu",
            Backend::Tch => "tch",
        }
    }

    /// Whether this binary was built with the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Cpu => true,
            Backend::Cuda => cfg!(feature = "cuda"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Tch => cfg!(feature = "tch"),
        }
    }

    /// The inference device (no autodiff). Call `.autodiff()` on it to train.
    pub fn device(self) -> Result<Device, CoreError> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Backend::Tch => Ok(Device::libtorch()),
            #[allow(unreachable_patterns)]
            other => Err(CoreError::BackendNotCompiled(other.name().to_string())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                CoreError::setting(
                    "device",
                    format!("unknown device `{s}`; expected one of cpu, cuda, wgpu, tch"),
                )
            })
    }
}
