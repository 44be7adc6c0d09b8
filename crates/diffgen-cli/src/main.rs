//! `diffgen`: train, sample and evaluate diffusion models for science.
//!
//! The CLI names no modality: each registered modality declares its sampling options (they
//! become flags of `run`/`sample`, listed by `run --modality X --help`) and its own commands
//! (`import-edm`), and the registry (`registry.rs`) is one line per modality.

mod registry;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use diffgen_core::checkpoint::Checkpoint;
use diffgen_core::modality::{
    resolve_data_dir, BenchRequest, Modality, Report, SampleRequest, Shard, TrainRequest,
};
use diffgen_core::page;
use diffgen_core::pipeline::{OptionKind, OptionSpec};
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
    Modalities {
        /// Also list each modality's sampling options.
        #[arg(long)]
        options: bool,
    },
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
        #[arg(long, conflicts_with = "overwrite")]
        resume: bool,
        /// Replace a run already in <out> (without it, training there is refused).
        #[arg(long)]
        overwrite: bool,
        /// With --resume: apply the config's `training.lr_schedule` and `steps` from the
        /// resume step on (e.g. a cool-down with `lr_schedule.decay_start`); without it the
        /// checkpoint's schedule is kept.
        #[arg(long, requires = "resume")]
        reschedule: bool,
        /// Start a new run from this checkpoint's weights (fine-tuning): parameters the
        /// config adds keep their fresh values; optimizer and step start anew.
        #[arg(long, conflicts_with = "resume")]
        init: Option<PathBuf>,
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
        /// Also write the figures as JSON (the schema of a run's `metrics.json`).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Sample files, or directories of them (a run directory: its samples).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write one self-contained HTML page for run directories: what ran, the figures beside
    /// their references, the plots, the samples in 3-D viewers, a training run's curves.
    Report {
        /// Run directories (`run`/`sample` outputs or `train` directories).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The page (default: report.html in the first directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A local copy of 3Dmol.js (`3Dmol-min.js`) to inline, so the page works offline
        /// (default: $DIFFGEN_VIEWER_JS, else the pinned CDN copy).
        #[arg(long)]
        viewer_js: Option<PathBuf>,
    },
    /// Time train steps/s and samples/s (one protocol for every modality).
    Bench {
        /// One modality (default: all).
        #[arg(long)]
        modality: Option<String>,
        #[arg(long, default_value = "cpu")]
        device: Backend,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Timed train steps (after two untimed ones); 0 times sampling alone.
        #[arg(long, default_value_t = 20)]
        train_steps: usize,
        #[arg(long, default_value_t = 100)]
        sample_steps: usize,
        #[arg(long, default_value_t = 64)]
        num_samples: usize,
        /// Data root (default: $DIFFGEN_DATA, else ../shared/datasets when present).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

#[derive(Args)]
struct SamplingArgs {
    /// Checkpoint to sample from: a file, or `bundled:<name>` for one of the other bundled
    /// models `diffgen modalities` lists (`run`: default is the bundled model).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    num_samples: usize,
    /// Sampler steps (default: every level of the schedule).
    #[arg(long)]
    steps: Option<usize>,
    /// The update rule: ddpm, ddim[:<eta>], dpm++2m, euler, heun, euler-maruyama[:<gamma>[:<eta>]]
    /// (default: the model's — ddpm for diffusion, euler for flow matching); `--sampler help`
    /// lists which fit the model.
    #[arg(long)]
    sampler: Option<String>,
    /// Where a flow-matching sampler's steps fall: `uniform`, or `power:<p>` for t = (k/N)^p,
    /// denser near the data (p = 2 puts a quarter of the steps below t = 0.0625); default:
    /// the model's (`[diffusion] flow.time_grid`, else uniform).
    #[arg(long)]
    time_grid: Option<diffgen_core::process::TimeGrid>,
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
    /// A modality option as `key=value` (repeatable); the same as its own flag.
    #[arg(long = "opt", value_parser = parse_key_value)]
    options: Vec<(String, String)>,
    /// Skip the metrics after sampling.
    #[arg(long)]
    no_eval: bool,
    /// Do not write the run's HTML page (`report.html`; see `diffgen report`).
    #[arg(long)]
    no_report: bool,
    /// Do not draw a progress bar.
    #[arg(long)]
    quiet: bool,
    /// Data root for metrics against the training data (default: $DIFFGEN_DATA, else
    /// ../shared/datasets when present).
    #[arg(long)]
    data: Option<PathBuf>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    if s.trim() == "help" {
        return Ok(("help".to_string(), String::new()));
    }
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected key=value, got `{s}`"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

impl SamplingArgs {
    fn request(&self, modality: &str, flags: BTreeMap<String, String>) -> Result<SampleRequest> {
        if self.num_samples == 0 {
            bail!("--num-samples must be positive");
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be positive");
        }
        if let Some(g) = self.guidance.filter(|g| !g.is_finite()) {
            bail!("--guidance {g}: expected a finite number");
        }
        let mut options: BTreeMap<String, String> = self.options.iter().cloned().collect();
        options.extend(flags);
        Ok(SampleRequest {
            checkpoint: self.checkpoint.clone(),
            num_samples: self.num_samples,
            steps: self.steps,
            sampler: self
                .sampler
                .as_deref()
                .map(str::parse::<SamplerKind>)
                .transpose()?,
            time_grid: self.time_grid,
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
            options,
            evaluate: !self.no_eval,
            data_dir: resolve_data_dir(self.data.clone())?,
            show_progress: !self.quiet,
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

/// The page of a run just written (whole runs only: a shard's page would show a part).
fn page_after_sampling(sampling: &SamplingArgs, request: &SampleRequest) {
    if sampling.no_report || request.shard != Shard::WHOLE {
        return;
    }
    let out = request.out_dir.join(page::REPORT_FILE);
    // The samples are written: a page that cannot be made is a warning, not a failure.
    match page::Viewer::choose(None)
        .map_err(anyhow::Error::from)
        .and_then(|viewer| write_page(std::slice::from_ref(&request.out_dir), &out, &viewer))
    {
        Ok(()) => println!("wrote {}", out.display()),
        Err(e) => eprintln!("warning: no page written ({e:#})"),
    }
}

/// One page for `dirs`, written atomically to `out`.
fn write_page(dirs: &[PathBuf], out: &std::path::Path, viewer: &page::Viewer) -> Result<()> {
    let mut sections = Vec::new();
    for dir in dirs {
        let run = page::RunDir::open(dir)?;
        let mut own = page::run_sections(&run)?;
        if let page::RunDir::Samples { manifest, .. } = &run {
            let m = find(&manifest.modality)?;
            own.extend(
                m.page_sections(&run)
                    .map_err(|e| anyhow!(e))
                    .with_context(|| format!("{}", dir.display()))?,
            );
        }
        if dirs.len() > 1 {
            for s in &mut own {
                s.title = format!("{} — {}", dir.display(), s.title);
            }
        }
        sections.extend(own);
    }
    let title = match dirs {
        [one] => format!("diffgen: {}", one.display()),
        many => format!("diffgen: {} runs", many.len()),
    };
    let html = page::render(&title, &sections, viewer);
    diffgen_core::checkpoint::write_atomic(out, |f| std::io::Write::write_all(f, html.as_bytes()))
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn print_report(report: &Report) {
    for note in &report.notes {
        println!("{note}");
    }
    print_figures(report);
    // Folders of one file per sample are summarised, not listed.
    let mut by_dir: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for file in &report.files {
        *by_dir
            .entry(file.parent().unwrap_or(file).to_path_buf())
            .or_default() += 1;
    }
    // The run's own folder is the manifest's, which comes last.
    let top = report.files.last().and_then(|f| f.parent());
    let mut summarised = std::collections::BTreeSet::new();
    for file in &report.files {
        let dir = file.parent().unwrap_or(file);
        match by_dir[dir] {
            n if n > 4 && Some(dir) != top => {
                if summarised.insert(dir.to_path_buf()) {
                    println!("wrote {n} files under {}", dir.display());
                }
            }
            _ => println!("wrote {}", file.display()),
        }
    }
}

/// The figures, with a column per reference beside them where the modality gives some.
fn print_figures(report: &Report) {
    if report.metrics.is_empty() {
        return;
    }
    let show = |name: &str, v: f64| page::format_figure(v, report.shares.contains(name));
    // Only the columns with a figure of this report.
    let references: Vec<_> = report
        .references
        .iter()
        .filter(|c| report.metrics.iter().any(|(k, _)| c.values.contains_key(k)))
        .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    if !references.is_empty() {
        let mut head = vec![String::new(), "this run".to_string()];
        head.extend(references.iter().map(|c| c.name.clone()));
        rows.push(head);
    }
    for (name, value) in &report.metrics {
        let mut row = vec![name.clone(), show(name, *value)];
        row.extend(references.iter().map(|c| {
            c.values
                .get(name)
                .map_or_else(|| "–".to_string(), |&v| show(name, v))
        }));
        rows.push(row);
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = format!("  {:<w$}", row[0], w = widths[0]);
        for (cell, w) in row.iter().zip(&widths).skip(1) {
            line.push_str(&format!("  {cell:>w$}"));
        }
        println!("{}", line.trim_end());
    }
    for column in references {
        println!("  {}: {}", column.name, column.source);
    }
}

/// The flag a declared option becomes: `gif_every` → `--gif-every`.
fn flag_name(spec: &OptionSpec) -> String {
    spec.name.replace('_', "-")
}

/// Refuses a checkpoint file that another registered modality loads, naming that one by
/// its current name (a checkpoint's label may be a former name, or now another model's).
fn check_checkpoint_modality(chosen: &dyn Modality, path: Option<&std::path::Path>) -> Result<()> {
    let Some(path) = path.filter(|p| p.is_file()) else {
        return Ok(());
    };
    // Unreadable metadata is the loader's to report, with its reasons.
    let Ok(meta) = Checkpoint::read_meta(path) else {
        return Ok(());
    };
    match registry::for_checkpoint(&meta) {
        Some(owner) if owner.name() != chosen.name() => bail!(
            "{} is a `{}` checkpoint, not `{}`; use `--modality {}` (or `diffgen sample --checkpoint`)",
            path.display(),
            owner.name(),
            chosen.name(),
            owner.name()
        ),
        _ => Ok(()),
    }
}

/// The modality a `run`/`sample` command line is about, read before clap parses it so
/// that its options can be added as flags.
fn modality_of(args: &[String]) -> Option<&'static dyn Modality> {
    let value_of = |flag: &str| {
        args.iter().enumerate().find_map(|(k, a)| {
            a.strip_prefix(&format!("{flag}="))
                .map(str::to_string)
                .or_else(|| (a == flag).then(|| args.get(k + 1).cloned()).flatten())
        })
    };
    match args.get(1).map(String::as_str) {
        Some("run") => value_of("--modality").and_then(|m| registry::find(&m)),
        Some("sample") => {
            let path = value_of("--checkpoint")?;
            let meta = Checkpoint::read_meta(std::path::Path::new(&path)).ok()?;
            registry::for_checkpoint(&meta).or_else(|| registry::find(&meta.modality))
        }
        _ => None,
    }
}

/// The clap command, with `modality`'s declared options as flags of `run` and `sample`.
fn command(modality: Option<&'static dyn Modality>) -> clap::Command {
    let commands: Vec<String> = registry::all()
        .iter()
        .flat_map(|m| m.commands())
        .map(|c| format!("  {:<12} {}", c.name, c.about))
        .collect();
    let mut cmd = Cli::command();
    if !commands.is_empty() {
        cmd = cmd.after_help(format!(
            "Modality commands (`diffgen <command> --help`):\n{}",
            commands.join("\n")
        ));
    }
    let Some(m) = modality else {
        return cmd.mut_subcommand("run", |sc| {
            sc.after_help("`diffgen run --modality X --help` lists X's own options.")
        });
    };
    let add = |mut sc: clap::Command| {
        for spec in m.options() {
            let long = flag_name(spec);
            if sc
                .get_arguments()
                .any(|a| a.get_long() == Some(long.as_str()))
            {
                continue;
            }
            let mut arg = Arg::new(spec.name.to_string())
                .long(long)
                .help(spec.describe())
                .help_heading(format!("Options of the {} modality", m.name()))
                .action(ArgAction::Set);
            if spec.kind == OptionKind::Flag {
                arg = arg.num_args(0..=1).default_missing_value("true");
            }
            sc = sc.arg(arg);
        }
        sc
    };
    cmd.mut_subcommand("run", add).mut_subcommand("sample", add)
}

/// The values of `modality`'s own flags in a subcommand's matches.
fn modality_flags(modality: &dyn Modality, matches: &ArgMatches) -> BTreeMap<String, String> {
    modality
        .options()
        .iter()
        .filter_map(|spec| {
            matches
                .try_get_one::<String>(spec.name)
                .ok()
                .flatten()
                .map(|v| (spec.name.to_string(), v.clone()))
        })
        .collect()
}

fn list_modalities(options: bool) {
    let width = registry::all()
        .iter()
        .map(|m| m.name().len())
        .max()
        .unwrap_or(0);
    for m in registry::all() {
        let bundled = if m.bundled().is_some() {
            "bundled model"
        } else {
            "no bundled model"
        };
        println!(
            "{:<width$} {} [{}; writes {}]",
            m.name(),
            m.summary(),
            bundled,
            m.writers().join(", ")
        );
        for v in m.variants() {
            println!("    --checkpoint bundled:{:<10} {}", v.name, v.summary);
        }
        if options {
            for spec in m.options() {
                println!("    --{:<12} {}", flag_name(spec), spec.describe());
            }
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    // Modality commands parse their own arguments.
    if let Some(name) = args.get(1) {
        for m in registry::all() {
            if let Some(c) = m.commands().iter().find(|c| c.name == name) {
                let report = (c.run)(&args[2..]).map_err(|e| anyhow!(e))?;
                print_report(&report);
                return Ok(());
            }
        }
    }
    let modality = modality_of(&args);
    let matches = command(modality).get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).map_err(|e| anyhow!(e))?;
    let sub_matches = matches.subcommand().map(|(_, m)| m);
    let flags = |m: &dyn Modality| sub_matches.map_or_else(BTreeMap::new, |s| modality_flags(m, s));
    // `--opt help`: the modality's options, as `run --modality X --help` lists them.
    if let (Command::Run { sampling, .. } | Command::Sample { sampling }, Some(m)) =
        (&cli.command, modality)
    {
        if sampling.sampler.as_deref() == Some("help") {
            let fit = m
                .samplers(sampling.checkpoint.as_deref())
                .map_err(|e| anyhow!(e))?;
            println!("this model: {}", fit.process);
            println!("samplers (default: {}):", fit.default);
            for (usage, help, why) in fit.samplers {
                match why {
                    None => println!("  {usage:<26} {help}"),
                    Some(why) => println!("  {usage:<26} does not fit: {why}"),
                }
            }
            return Ok(());
        }
        if sampling.options.iter().any(|(k, _)| k == "help") {
            println!("options of the {} modality:", m.name());
            for spec in m.options() {
                println!("  --{:<12} {}", flag_name(spec), spec.describe());
            }
            return Ok(());
        }
    }
    match cli.command {
        Command::Modalities { options } => list_modalities(options),
        Command::Run { modality, sampling } => {
            let m = find(&modality)?;
            check_checkpoint_modality(m, sampling.checkpoint.as_deref())?;
            let request = sampling.request(m.name(), flags(m))?;
            print_report(&m.sample(&request).map_err(|e| anyhow!(e))?);
            page_after_sampling(&sampling, &request);
        }
        Command::Sample { sampling } => {
            let path = sampling
                .checkpoint
                .clone()
                .ok_or_else(|| anyhow!("`diffgen sample` needs --checkpoint FILE"))?;
            let meta = Checkpoint::read_meta(&path)?;
            // The modality that recognises it; else its label's, which says why not.
            let m = match registry::for_checkpoint(&meta) {
                Some(m) => m,
                None => find(&meta.modality)
                    .with_context(|| format!("checkpoint {}", path.display()))?,
            };
            let request = sampling.request(m.name(), flags(m))?;
            print_report(&m.sample(&request).map_err(|e| anyhow!(e))?);
            page_after_sampling(&sampling, &request);
        }
        Command::Report {
            dirs,
            out,
            viewer_js,
        } => {
            let viewer = page::Viewer::choose(viewer_js.as_deref())?;
            let out = out.unwrap_or_else(|| dirs[0].join(page::REPORT_FILE));
            write_page(&dirs, &out, &viewer)?;
            println!("wrote {}", out.display());
        }
        Command::Train {
            modality,
            config,
            data,
            out,
            resume,
            overwrite,
            reschedule,
            init,
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
                data_dir: resolve_data_dir(data)?,
                out_dir: out,
                resume,
                overwrite,
                reschedule,
                backend: device,
                init_from: init,
                steps,
                stop_at,
                show_progress: !quiet,
            };
            print_report(&m.train(&request).map_err(|e| anyhow!(e))?);
        }
        Command::Eval {
            modality,
            data,
            json,
            files,
        } => {
            let m = find(&modality)?;
            let data = resolve_data_dir(data)?;
            let report = m.eval(&files, data.as_deref()).map_err(|e| anyhow!(e))?;
            print_report(&report);
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report.figures_json())?;
                diffgen_core::checkpoint::write_atomic(&path, |f| {
                    std::io::Write::write_all(f, text.as_bytes())
                })
                .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
        Command::Bench {
            modality,
            device,
            batch_size,
            train_steps,
            sample_steps,
            num_samples,
            data,
        } => {
            let request = BenchRequest {
                backend: device,
                data_dir: resolve_data_dir(data)?,
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

/// SIGINT/SIGTERM ask running loops to stop at the next step (training saves a checkpoint
/// first); a second signal ends the process at once.
fn install_signal_handler() {
    let result = ctrlc::set_handler(|| {
        if diffgen_core::interrupt::requested() {
            eprintln!("\nstopping now");
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next step (press Ctrl-C again to stop at once)");
        diffgen_core::interrupt::request();
    });
    if let Err(e) = result {
        eprintln!("warning: no signal handler: {e}");
    }
}

/// A panic is a bug: the user sees one line saying so, not a dependency's panic text and
/// backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let first_line = payload.lines().next().unwrap_or("");
        eprintln!("error: internal error ({first_line}); please report it");
    }));
}

/// Freed tensor buffers are reused instead of returned to the kernel (see the module).
#[global_allocator]
static ALLOCATOR: diffgen_core::allocator::ReuseLargeBlocks =
    diffgen_core::allocator::ReuseLargeBlocks;

fn main() -> ExitCode {
    install_panic_hook();
    install_signal_handler();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match std::panic::catch_unwind(|| run(args)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            if e.to_string().starts_with("interrupted") {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
        Err(_) => ExitCode::from(101),
    }
}
