//! `diffgen`: train, sample and evaluate diffusion models for science.

mod registry;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use diffgen_core::checkpoint::Checkpoint;
use diffgen_core::modality::{
    resolve_data_dir, BenchRequest, Modality, Report, SampleRequest, Shard, TrainRequest,
};
use diffgen_core::{Backend, SamplerKind};

#[derive(Parser)]
#[command(
    name = "diffgen",
    version,
    about = "Diffusion models for science: molecules, proteins, images and more"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the registered modalities.
    Modalities,
    /// Generate with a modality's bundled model (or --checkpoint) and write files.
    Run {
        #[arg(long)]
        modality: String,
        #[command(flatten)]
        sampling: SamplingArgs,
    },
    /// Generate from a checkpoint file; the modality is read from the checkpoint.
    Sample {
        #[command(flatten)]
        sampling: SamplingArgs,
    },
    /// Train a model from a TOML config.
    Train {
        #[arg(long)]
        modality: String,
        #[arg(long)]
        config: PathBuf,
        /// Data root (default: $DIFFGEN_DATA, else ../shared/datasets when present).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output directory for checkpoints, metrics and plots.
        #[arg(long, default_value = "runs/latest")]
        out: PathBuf,
        /// Continue from <out>/checkpoint.safetensors exactly where it stopped.
        #[arg(long)]
        resume: bool,
        /// Override the config's training steps.
        #[arg(long)]
        steps: Option<u64>,
        /// Stop at this step with a checkpoint; `--resume` continues the same run.
        #[arg(long)]
        stop_at: Option<u64>,
        #[arg(long, default_value = "cpu")]
        device: Backend,
        /// Do not draw a progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Compute a modality's metrics on sample files.
    Eval {
        #[arg(long)]
        modality: String,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Convert EDM's PyTorch weights (a state_dict saved as safetensors) into a diffgen
    /// molecule checkpoint; the atom-count histogram comes from QM9 train.
    ImportEdm {
        /// EDM's `generative_model_ema` state dict, as safetensors.
        weights: PathBuf,
        #[arg(long, default_value = "edm.safetensors")]
        out: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Print train steps/s and samples/s.
    Bench {
        /// One modality (default: all).
        #[arg(long)]
        modality: Option<String>,
        #[arg(long, default_value = "cpu")]
        device: Backend,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        #[arg(long, default_value_t = 20)]
        train_steps: usize,
        #[arg(long, default_value_t = 100)]
        sample_steps: usize,
        #[arg(long, default_value_t = 256)]
        num_samples: usize,
    },
}

#[derive(Args)]
struct SamplingArgs {
    /// Checkpoint to sample from (`run`: default is the bundled model).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    num_samples: usize,
    /// Sampler steps (default: every level of the schedule).
    #[arg(long)]
    steps: Option<usize>,
    /// ddpm, ddim, ddim:<eta> or dpm++2m.
    #[arg(long, default_value = "ddpm")]
    sampler: SamplerKind,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (default: out/<modality>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Draw only shard i of n (0-based) of the samples; the n shards together equal one run.
    #[arg(long, default_value = "0/1")]
    shard: Shard,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    #[arg(long, default_value = "cpu")]
    device: Backend,
    /// Also write the denoising trajectory.
    #[arg(long)]
    trajectory: bool,
    /// Classifier-free guidance scale (conditional models).
    #[arg(long)]
    guidance: Option<f64>,
    /// Atoms per molecule (molecule modality; default: drawn from the training histogram).
    #[arg(long)]
    atoms: Option<usize>,
    /// Residues per backbone (protein modality).
    #[arg(long)]
    length: Option<usize>,
    /// Class label to condition on (conditional models).
    #[arg(long)]
    class: Option<usize>,
    /// Modality-specific option, `key=value` (repeatable), e.g. `--opt class=3`.
    #[arg(long = "opt", value_parser = parse_key_value)]
    options: Vec<(String, String)>,
    /// Skip the metrics after sampling.
    #[arg(long)]
    no_eval: bool,
    /// Data root for metrics against the training data (default: $DIFFGEN_DATA, else
    /// ../shared/datasets when present).
    #[arg(long)]
    data: Option<PathBuf>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected key=value, got `{s}`"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

impl SamplingArgs {
    fn request(&self, modality: &str) -> Result<SampleRequest> {
        if self.num_samples == 0 {
            bail!("--num-samples must be positive");
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be positive");
        }
        Ok(SampleRequest {
            checkpoint: self.checkpoint.clone(),
            num_samples: self.num_samples,
            steps: self.steps,
            sampler: self.sampler,
            seed: self.seed,
            out_dir: self
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("out").join(modality)),
            shard: self.shard,
            batch_size: self.batch_size,
            backend: self.device,
            trajectory: self.trajectory,
            guidance: self.guidance,
            options: self
                .options
                .iter()
                .cloned()
                .chain(self.atoms.map(|n| ("atoms".to_string(), n.to_string())))
                .chain(self.length.map(|n| ("length".to_string(), n.to_string())))
                .chain(self.class.map(|n| ("class".to_string(), n.to_string())))
                .collect::<BTreeMap<_, _>>(),
            evaluate: !self.no_eval,
            data_dir: resolve_data_dir(self.data.clone()),
        })
    }
}

fn find(name: &str) -> Result<&'static dyn Modality> {
    registry::find(name).ok_or_else(|| {
        let known: Vec<_> = registry::all().iter().map(|m| m.name()).collect();
        anyhow!(
            "unknown modality `{name}`; registered: {}",
            known.join(", ")
        )
    })
}

fn print_report(report: &Report) {
    for note in &report.notes {
        println!("{note}");
    }
    if !report.metrics.is_empty() {
        let width = report
            .metrics
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (name, value) in &report.metrics {
            println!("  {name:<width$}  {}", format_value(*value));
        }
    }
    for file in &report.files {
        println!("wrote {}", file.display());
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else if v.abs() >= 0.01 && v.abs() < 1e5 {
        format!("{v:.4}")
    } else {
        format!("{v:.4e}")
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Modalities => {
            for m in registry::all() {
                let bundled = if m.bundled().is_some() {
                    "bundled model"
                } else {
                    "no bundled model"
                };
                println!(
                    "{:<10} {} [{}; writes {}]",
                    m.name(),
                    m.summary(),
                    bundled,
                    m.writers().join(", ")
                );
            }
        }
        Command::Run { modality, sampling } => {
            let m = find(&modality)?;
            let report = m
                .sample(&sampling.request(m.name())?)
                .map_err(|e| anyhow!(e))?;
            print_report(&report);
        }
        Command::Sample { sampling } => {
            let path = sampling
                .checkpoint
                .clone()
                .ok_or_else(|| anyhow!("`diffgen sample` needs --checkpoint FILE"))?;
            let meta = Checkpoint::read_meta(&path)?;
            let m =
                find(&meta.modality).with_context(|| format!("checkpoint {}", path.display()))?;
            let report = m
                .sample(&sampling.request(m.name())?)
                .map_err(|e| anyhow!(e))?;
            print_report(&report);
        }
        Command::Train {
            modality,
            config,
            data,
            out,
            resume,
            steps,
            stop_at,
            device,
            quiet,
        } => {
            let m = find(&modality)?;
            let config_text = std::fs::read_to_string(&config)
                .with_context(|| format!("reading config {}", config.display()))?;
            let request = TrainRequest {
                config_text,
                config_origin: config,
                data_dir: resolve_data_dir(data),
                out_dir: out,
                resume,
                backend: device,
                steps,
                stop_at,
                show_progress: !quiet,
            };
            let report = m.train(&request).map_err(|e| anyhow!(e))?;
            print_report(&report);
        }
        Command::Eval {
            modality,
            data,
            files,
        } => {
            let m = find(&modality)?;
            let data = resolve_data_dir(data);
            let report = m.eval(&files, data.as_deref()).map_err(|e| anyhow!(e))?;
            print_report(&report);
        }
        Command::ImportEdm { weights, out, data } => {
            let data = resolve_data_dir(data).ok_or_else(|| {
                anyhow!("QM9 is needed for the atom-count histogram: pass --data DIR")
            })?;
            let train = data.join("qm9").join("qm9_train.xyz.gz");
            let molecules = diffgen_molecule::xyz::read_xyz(&train)?;
            let stats = diffgen_molecule::data::MoleculeStats::from_molecules(&molecules, "qm9");
            diffgen_molecule::import_edm(&weights, stats, &out)?;
            println!("wrote {}", out.display());
        }
        Command::Bench {
            modality,
            device,
            batch_size,
            train_steps,
            sample_steps,
            num_samples,
        } => {
            let request = BenchRequest {
                backend: device,
                batch_size,
                train_steps,
                sample_steps,
                num_samples,
            };
            let chosen: Vec<&dyn Modality> = match modality {
                Some(name) => vec![find(&name)?],
                None => registry::all().to_vec(),
            };
            println!(
                "device: {device}; {} threads",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            );
            for m in chosen {
                println!("[{}]", m.name());
                print_report(&m.bench(&request).map_err(|e| anyhow!(e))?);
            }
        }
    }
    Ok(())
}

/// Freed tensor buffers are reused instead of returned to the kernel (see the module).
#[global_allocator]
static ALLOCATOR: diffgen_core::allocator::ReuseLargeBlocks =
    diffgen_core::allocator::ReuseLargeBlocks;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
