//! The one implementation of the object-safe [`Modality`] for every [`Pipeline`].

use std::path::{Path, PathBuf};

use super::{bench, sample_command, train_command, OptionSpec, Pipeline};
use crate::error::BoxError;
use crate::modality::{
    BenchRequest, Modality, ModalityCommand, Report, SampleRequest, SamplerFit, TrainRequest,
};
use crate::sampler::SAMPLERS;

/// A pipeline as the registry holds it: `static MODALITY: Registered<MyPipeline, 2> =
/// Registered(MyPipeline);` in the modality's crate, and one line in the CLI's registry.
pub struct Registered<P, const D: usize>(pub P);

impl<P: Pipeline<D>, const D: usize> Registered<P, D> {
    /// Adds modality commands (`import-edm`) to the registration.
    pub const fn with_commands(
        pipeline: P,
        commands: &'static [ModalityCommand],
    ) -> WithCommands<P, D> {
        WithCommands {
            inner: Registered(pipeline),
            commands,
        }
    }
}

/// A registered pipeline that also provides commands of its own.
pub struct WithCommands<P, const D: usize> {
    inner: Registered<P, D>,
    commands: &'static [ModalityCommand],
}

impl<P: Pipeline<D>, const D: usize> Modality for Registered<P, D> {
    fn name(&self) -> &'static str {
        self.0.info().name
    }

    fn former_names(&self) -> &'static [&'static str] {
        self.0.info().former_names
    }

    fn loads(&self, meta: &crate::checkpoint::CheckpointMeta) -> bool {
        let info = self.0.info();
        let label = meta.modality.as_str();
        (label == info.name || info.former_names.contains(&label)) && self.0.recognises(meta)
    }

    fn summary(&self) -> &'static str {
        self.0.info().summary
    }

    fn writers(&self) -> &'static [&'static str] {
        self.0.info().writers
    }

    fn options(&self) -> &'static [OptionSpec] {
        self.0.info().options
    }

    fn variants(&self) -> &'static [super::BundledModel] {
        self.0.info().variants
    }

    fn train(&self, request: &TrainRequest) -> Result<Report, BoxError> {
        Ok(train_command(&self.0, request)?)
    }

    fn sample(&self, request: &SampleRequest) -> Result<Report, BoxError> {
        Ok(sample_command(&self.0, request)?)
    }

    fn eval(&self, files: &[PathBuf], data_dir: Option<&Path>) -> Result<Report, BoxError> {
        Ok(self.0.eval_files(files, data_dir)?)
    }

    fn bench(&self, request: &BenchRequest) -> Result<Report, BoxError> {
        Ok(bench(&self.0, request)?)
    }

    fn page_sections(
        &self,
        run: &crate::page::RunDir,
    ) -> Result<Vec<crate::page::PageSection>, BoxError> {
        Ok(self.0.page_sections(run)?)
    }

    fn bundled(&self) -> Option<&'static str> {
        let info = self.0.info();
        (!info.bundled.is_empty()).then_some(info.bundled_summary)
    }

    fn samplers(&self, checkpoint: Option<&Path>) -> Result<SamplerFit, BoxError> {
        let loaded = super::load(&self.0, checkpoint, &burn::tensor::Device::flex())?;
        let process = self.0.process(&loaded)?;
        let samplers = SAMPLERS
            .iter()
            .map(|entry| {
                let why = match (entry.build)(None) {
                    Ok(sampler) => sampler.unfit(&process.path),
                    Err(e) => Some(e),
                };
                (entry.usage, entry.help, why)
            })
            .collect();
        Ok(SamplerFit {
            process: process.describe(),
            default: process.path.default_sampler().to_string(),
            samplers,
        })
    }
}

impl<P: Pipeline<D>, const D: usize> Modality for WithCommands<P, D> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn summary(&self) -> &'static str {
        self.inner.summary()
    }

    fn writers(&self) -> &'static [&'static str] {
        self.inner.writers()
    }

    fn options(&self) -> &'static [OptionSpec] {
        self.inner.options()
    }

    fn variants(&self) -> &'static [super::BundledModel] {
        self.inner.variants()
    }

    fn train(&self, request: &TrainRequest) -> Result<Report, BoxError> {
        self.inner.train(request)
    }

    fn sample(&self, request: &SampleRequest) -> Result<Report, BoxError> {
        self.inner.sample(request)
    }

    fn eval(&self, files: &[PathBuf], data_dir: Option<&Path>) -> Result<Report, BoxError> {
        self.inner.eval(files, data_dir)
    }

    fn bench(&self, request: &BenchRequest) -> Result<Report, BoxError> {
        self.inner.bench(request)
    }

    fn page_sections(
        &self,
        run: &crate::page::RunDir,
    ) -> Result<Vec<crate::page::PageSection>, BoxError> {
        self.inner.page_sections(run)
    }

    fn bundled(&self) -> Option<&'static str> {
        self.inner.bundled()
    }

    fn commands(&self) -> &'static [ModalityCommand] {
        self.commands
    }

    fn samplers(&self, checkpoint: Option<&Path>) -> Result<SamplerFit, BoxError> {
        self.inner.samplers(checkpoint)
    }
}
