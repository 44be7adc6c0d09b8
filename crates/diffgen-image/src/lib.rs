//! The image modality of diffgen (under construction).

use std::path::{Path, PathBuf};

use diffgen_core::error::BoxError;
use diffgen_core::modality::{BenchRequest, Modality, Report, SampleRequest, TrainRequest};

pub const NAME: &str = "image";

/// The image modality as the CLI's registry holds it.
pub struct ImageModality;

fn not_built() -> BoxError {
    "the image modality is not built yet".into()
}

impl Modality for ImageModality {
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
