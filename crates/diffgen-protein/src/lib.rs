//! The protein modality of diffgen (under construction: the lead's full lib.rs lands once the
//! structure modules exist).

pub mod config;
pub mod data;
pub mod dssp;
pub mod error;
pub mod geometry;
pub mod io;
pub mod model;
pub mod space;
pub mod structure;
pub mod tmscore;
pub mod write;

use std::path::{Path, PathBuf};

use diffgen_core::error::BoxError;
use diffgen_core::modality::{BenchRequest, Modality, Report, SampleRequest, TrainRequest};

pub const NAME: &str = "protein";

/// The protein modality as the CLI's registry holds it.
pub struct ProteinModality;

fn not_built() -> BoxError {
    "the protein modality is not built yet".into()
}

impl Modality for ProteinModality {
    fn name(&self) -> &'static str {
        NAME
    }
    fn summary(&self) -> &'static str {
        "(under construction)"
    }
    fn writers(&self) -> &'static [&'static str] {
        &[]
    }
    fn train(&self, _request: &TrainRequest) -> Result<Report, BoxError> {
        Err(not_built())
    }
    fn sample(&self, _request: &SampleRequest) -> Result<Report, BoxError> {
        Err(not_built())
    }
    fn eval(&self, _files: &[PathBuf], _data_dir: Option<&Path>) -> Result<Report, BoxError> {
        Err(not_built())
    }
    fn bench(&self, _request: &BenchRequest) -> Result<Report, BoxError> {
        Err(not_built())
    }
}
