//! Structure metrics of generated backbones, each beside the same figure for natural
//! structures (the test split, or figures bundled from it when no data is at hand).
//!
//! None of these needs ESMFold or ProteinMPNN, so none measures designability; they are the
//! offline proxies of the reference notes: local geometry (CA–CA), packing (clashes, Rg against
//! length), secondary structure (built-in DSSP), the Ramachandran distribution, and diversity
//! (pairwise TM-score with the built-in TM-align).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use serde::{Deserialize, Serialize};

use crate::dssp::{dssp, three_state};
use crate::error::ProteinError;
use crate::geometry::{angles_from_backbone, radius_of_gyration};
use crate::novelty::{novelty, NOVELTY_CHAINS, NOVELTY_MAX_SAMPLES};
use crate::rama_floor::{floor_at, RamaFloor};
use crate::structure::Backbone;
use crate::tmscore::tm_align;

/// Bins per axis of the (φ, ψ) histogram: 10° bins.
pub const RAMA_BINS: usize = 36;
/// Non-local CA pairs (|i − j| ≥ 3) closer than this (Å) clash.
pub const CLASH_DISTANCE: f64 = 3.0;
/// Smallest sequence separation |i − j| of a CA pair checked for clashes.
pub const CLASH_MIN_SEPARATION: usize = 3;

/// Consecutive CA–CA distances counted as a true peptide link (Å): trans 3.80 ± 0.2.
pub const CA_CA_RANGE: std::ops::RangeInclusive<f64> = 3.6..=4.0;
/// Rg(CA) ≈ 4.29·L^0.255 Å: the log-log fit over our data set (reference notes §3).
pub const RG_PREFACTOR: f64 = 4.29;
/// Exponent of that fit.
pub const RG_EXPONENT: f64 = 0.255;
/// Pairwise TM-scores use at most this many structures, evenly spaced through the set
/// (32 → 496 pairs, seconds on two cores).
pub const DIVERSITY_MAX: usize = 32;

/// The bundled figures of the test split (made by `examples/reference_stats.rs`).
const BUNDLED: &str = include_str!("../weights/test-split-reference.json");

/// One figure of the samples beside the same figure of the reference.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricRow {
    /// Metric key, e.g. `ca_ca_mean_A` (an `_A` suffix: Å).
    pub name: String,
    /// The samples' value.
    pub samples: f64,
    /// The reference's value; `None` when there is none (novelty without a bundled figure).
    /// For `rama_js` it is what natural chains of the samples' residue count get against
    /// the test split (no generator's set of that size can expect less), or else the
    /// reference's even-vs-odd divergence.
    pub reference: Option<f64>,
}

/// What [`evaluate_into`] produced; serialised as the metrics JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The figures, in report order.
    pub rows: Vec<MetricRow>,
    /// The files written: the metrics JSON and the Ramachandran PNG.
    pub files: Vec<PathBuf>,
    /// What each figure means and what the reference column is (or why a row is missing).
    pub notes: Vec<String>,
}

impl Evaluation {
    /// The row called `name`, if present.
    pub fn row(&self, name: &str) -> Option<&MetricRow> {
        self.rows.iter().find(|r| r.name == name)
    }
}

/// Every figure of one set of backbones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetStats {
    /// Number of backbones.
    pub structures: usize,
    /// Residues over all backbones.
    pub residues: usize,
    /// Mean residues per backbone.
    pub length_mean: f64,
    /// Mean distance of consecutive CAs (Å).
    pub ca_ca_mean: f64,
    /// Standard deviation of those distances (Å).
    pub ca_ca_sd: f64,
    /// Fraction of those distances within [`CA_CA_RANGE`] (figures made before it existed
    /// have none).
    #[serde(default)]
    pub ca_ca_in_range: Option<f64>,
    /// Fraction of structures with at least one clash.
    pub clash_structures: f64,
    /// Fraction of non-local CA pairs that clash.
    pub clash_pairs: f64,
    /// Mean of Rg(CA) / (4.29·L^0.255).
    pub rg_ratio_mean: f64,
    /// Fraction of all residues in a helix (DSSP H, G, I; the built-in DSSP).
    pub ss_helix: f64,
    /// Fraction of all residues in a strand or bridge (DSSP E, B).
    pub ss_strand: f64,
    /// Fraction of all residues in neither.
    pub ss_coil: f64,
    /// Mean pairwise TM-score (mean of both normalisations); NaN with fewer than two
    /// structures.
    pub tm_diversity: f64,
    /// The pairs that mean averages (at most 496, see [`DIVERSITY_MAX`]).
    pub tm_pairs: usize,
    /// (φ, ψ) counts, `RAMA_BINS`² bins, φ-major, from −180°; residues with both angles.
    pub rama_hist: Vec<u64>,
    /// JS divergence between the histograms of even- and odd-numbered structures: how far
    /// apart two halves of this very set are (the floor for `rama_js`).
    pub rama_js_halves: f64,
}

/// The bundled file: where the figures came from, and the figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundledReference {
    /// Which structures the figures describe.
    pub source: String,
    /// The figures.
    pub stats: SetStats,
    /// Mean max TM-score of the test split to the novelty train subset (`novelty.rs`).
    #[serde(default)]
    pub novelty_max_tm: Option<f64>,
    /// The Ramachandran JS natural train chains get against these figures, by set size
    /// (`rama_floor.rs`).
    #[serde(default)]
    pub rama_js_floor: Vec<RamaFloor>,
}

/// The bundled test-split figures.
pub fn bundled_reference() -> Result<BundledReference, ProteinError> {
    serde_json::from_str(BUNDLED).map_err(|e| {
        ProteinError::structure(
            "crates/diffgen-protein/weights/test-split-reference.json",
            format!("bundled reference figures do not parse: {e}"),
        )
    })
}

fn rama_bin(angle: f64) -> usize {
    let deg = angle.to_degrees();
    (((deg + 180.0) / (360.0 / RAMA_BINS as f64)).floor() as isize).clamp(0, RAMA_BINS as isize - 1)
        as usize
}

/// (φ, ψ) histogram of residues 1..L−1 (both angles defined).
pub fn ramachandran_histogram<'a>(set: impl IntoIterator<Item = &'a Backbone>) -> Vec<u64> {
    let mut hist = vec![0u64; RAMA_BINS * RAMA_BINS];
    for b in set {
        let angles = angles_from_backbone(b);
        for a in angles.iter().take(b.len().saturating_sub(1)).skip(1) {
            hist[rama_bin(a[0]) * RAMA_BINS + rama_bin(a[1])] += 1;
        }
    }
    hist
}

/// Jensen–Shannon divergence (base 2, in [0, 1]) of two count histograms; 1 if one is empty.
pub fn js_divergence(p: &[u64], q: &[u64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<u64>() as f64, q.iter().sum::<u64>() as f64);
    if sp == 0.0 || sq == 0.0 {
        return 1.0;
    }
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a as f64 / sp, b as f64 / sq);
        let m = 0.5 * (a + b);
        if a > 0.0 {
            js += 0.5 * a * (a / m).log2();
        }
        if b > 0.0 {
            js += 0.5 * b * (b / m).log2();
        }
    }
    js.max(0.0)
}

/// Mean pairwise TM-score over at most [`DIVERSITY_MAX`] evenly spaced structures, on the
/// available cores; the per-pair scores are summed in a fixed order, so the mean does not
/// depend on the thread count.
fn tm_diversity(set: &[Backbone]) -> (f64, usize) {
    let m = set.len().min(DIVERSITY_MAX);
    let picked: Vec<&Backbone> = (0..m).map(|k| &set[k * set.len() / m.max(1)]).collect();
    let pairs: Vec<(usize, usize)> = (0..m)
        .flat_map(|i| (i + 1..m).map(move |j| (i, j)))
        .collect();
    if pairs.is_empty() {
        return (f64::NAN, 0);
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(pairs.len());
    let mut scores = vec![0.0; pairs.len()];
    let chunk = pairs.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (out, work) in scores.chunks_mut(chunk).zip(pairs.chunks(chunk)) {
            let picked = &picked;
            s.spawn(move || {
                for (o, &(i, j)) in out.iter_mut().zip(work) {
                    *o = tm_align(&picked[i].ca, &picked[j].ca).mean();
                }
            });
        }
    });
    (scores.iter().sum::<f64>() / pairs.len() as f64, pairs.len())
}

impl SetStats {
    /// Every figure of `set`; the TM diversity aligns up to [`DIVERSITY_MAX`] structures
    /// pairwise on all cores (seconds).
    pub fn compute(set: &[Backbone]) -> SetStats {
        let residues: usize = set.iter().map(Backbone::len).sum();
        let mut bonds = Vec::new();
        let (mut clashing_structures, mut clash_pairs, mut nonlocal_pairs) =
            (0usize, 0usize, 0usize);
        let (mut rg_ratio, mut ss_counts) = (0.0, [0usize; 3]);
        for b in set {
            bonds.extend(b.ca.windows(2).map(|w| (w[1] - w[0]).norm()));
            let mut clashes = 0;
            for i in 0..b.len() {
                for j in i + CLASH_MIN_SEPARATION..b.len() {
                    nonlocal_pairs += 1;
                    if (b.ca[i] - b.ca[j]).norm() < CLASH_DISTANCE {
                        clashes += 1;
                    }
                }
            }
            clash_pairs += clashes;
            clashing_structures += usize::from(clashes > 0);
            if !b.is_empty() {
                let expected = RG_PREFACTOR * (b.len() as f64).powf(RG_EXPONENT);
                rg_ratio += radius_of_gyration(&b.ca) / expected;
            }
            for c in dssp(b).chars() {
                ss_counts[match three_state(c) {
                    'H' => 0,
                    'E' => 1,
                    _ => 2,
                }] += 1;
            }
        }
        let n = set.len().max(1) as f64;
        let ca_ca_mean = bonds.iter().sum::<f64>() / bonds.len().max(1) as f64;
        let ca_ca_sd = (bonds.iter().map(|d| (d - ca_ca_mean).powi(2)).sum::<f64>()
            / bonds.len().max(1) as f64)
            .sqrt();
        let res = residues.max(1) as f64;
        let (tm_diversity, tm_pairs) = tm_diversity(set);
        let even = ramachandran_histogram(set.iter().step_by(2));
        let odd = ramachandran_histogram(set.iter().skip(1).step_by(2));
        SetStats {
            structures: set.len(),
            residues,
            length_mean: residues as f64 / n,
            ca_ca_mean,
            ca_ca_sd,
            ca_ca_in_range: Some(
                bonds.iter().filter(|d| CA_CA_RANGE.contains(d)).count() as f64
                    / bonds.len().max(1) as f64,
            ),
            clash_structures: clashing_structures as f64 / n,
            clash_pairs: clash_pairs as f64 / nonlocal_pairs.max(1) as f64,
            rg_ratio_mean: rg_ratio / n,
            ss_helix: ss_counts[0] as f64 / res,
            ss_strand: ss_counts[1] as f64 / res,
            ss_coil: ss_counts[2] as f64 / res,
            tm_diversity,
            tm_pairs,
            rama_hist: ramachandran_histogram(set),
            rama_js_halves: js_divergence(&even, &odd),
        }
    }

    fn rows(&self, reference: &SetStats) -> Vec<MetricRow> {
        let row = |name: &str, s: f64, r: f64| MetricRow {
            name: name.to_string(),
            samples: s,
            reference: Some(r),
        };
        vec![
            row(
                "structures",
                self.structures as f64,
                reference.structures as f64,
            ),
            row("length_mean", self.length_mean, reference.length_mean),
            row("ca_ca_mean_A", self.ca_ca_mean, reference.ca_ca_mean),
            row("ca_ca_sd_A", self.ca_ca_sd, reference.ca_ca_sd),
            MetricRow {
                name: "ca_ca_in_3.6_4.0".to_string(),
                samples: self.ca_ca_in_range.unwrap_or(f64::NAN),
                reference: reference.ca_ca_in_range,
            },
            row(
                "clash_rate_structures",
                self.clash_structures,
                reference.clash_structures,
            ),
            row("clash_rate_pairs", self.clash_pairs, reference.clash_pairs),
            row("rg_ratio_mean", self.rg_ratio_mean, reference.rg_ratio_mean),
            row("ss_helix", self.ss_helix, reference.ss_helix),
            row("ss_strand", self.ss_strand, reference.ss_strand),
            row("ss_coil", self.ss_coil, reference.ss_coil),
            row(
                "rama_js",
                js_divergence(&self.rama_hist, &reference.rama_hist),
                reference.rama_js_halves,
            ),
            row("tm_diversity", self.tm_diversity, reference.tm_diversity),
        ]
    }
}

/// Where [`evaluate_into`] writes.
#[derive(Debug, Clone)]
pub struct EvalFiles {
    /// The figures, as JSON.
    pub json: PathBuf,
    /// The (φ, ψ) histograms of samples and reference, as PNG.
    pub ramachandran: PathBuf,
}

/// [`evaluate_into`] writing `<out_dir>/metrics.json` and `<out_dir>/ramachandran.png`.
pub fn evaluate(
    samples: &[Backbone],
    reference: Option<&[Backbone]>,
    train: Option<&[Backbone]>,
    out_dir: &Path,
) -> Result<Evaluation, ProteinError> {
    std::fs::create_dir_all(out_dir).map_err(|e| ProteinError::io(out_dir, e))?;
    let files = EvalFiles {
        json: out_dir.join("metrics.json"),
        ramachandran: out_dir.join("ramachandran.png"),
    };
    evaluate_into(samples, reference, train, &files)
}

/// Metrics of `samples`, each beside the same figure for `reference` (the test split) — or,
/// when `reference` is `None`, beside the bundled test-split figures. With `train` (the
/// novelty subset, `novelty::load_subset`) adds novelty, beside the test split's bundled
/// value. Writes the figures as JSON and a Ramachandran plot (samples beside the data) to
/// `files`.
pub fn evaluate_into(
    samples: &[Backbone],
    reference: Option<&[Backbone]>,
    train: Option<&[Backbone]>,
    files: &EvalFiles,
) -> Result<Evaluation, ProteinError> {
    if samples.is_empty() {
        return Err(ProteinError::setting(
            "samples",
            "no structures to evaluate",
        ));
    }
    let ours = SetStats::compute(samples);
    // The bundled figures: the reference when none is given (then they must parse), and
    // where the reference is the test split, the Ramachandran floor table.
    let bundled = bundled_reference();
    let (theirs, source, bundled) = match reference {
        // Samples evaluated against themselves (a check of the metrics): compute once.
        Some(r) if std::ptr::eq(r, samples) => (
            ours.clone(),
            format!("the samples themselves ({} structures)", r.len()),
            bundled.ok(),
        ),
        Some(r) => (
            SetStats::compute(r),
            format!(
                "the given reference set ({} structures, computed now)",
                r.len()
            ),
            bundled.ok(),
        ),
        None => {
            let b = bundled?;
            let source = format!("bundled figures: {}", b.source);
            (b.stats.clone(), source, Some(b))
        }
    };
    let mut rows = ours.rows(&theirs);
    // The floor table was measured against the test split: it applies where that is the
    // reference (the same histogram).
    let floor = bundled
        .filter(|b| b.stats.rama_hist == theirs.rama_hist)
        .and_then(|b| floor_at(&b.rama_js_floor, ours.residues));
    let rama_note = match floor {
        Some(f) => {
            if let Some(row) = rows.iter_mut().find(|r| r.name == "rama_js") {
                row.reference = Some(f.natural);
            }
            format!(
                "rama_js: Jensen-Shannon divergence (base 2, 0..1) of {RAMA_BINS}x{RAMA_BINS} (phi, psi) histograms, samples vs reference; a histogram of few residues is noisy, so the reference column is what natural train chains of the samples' {} residues get ({:.3}; with N, C, O rebuilt from their CA, the floor of a CA model: {:.3}); the reference's even vs odd halves differ by {:.3}",
                ours.residues, f.natural, f.rebuilt, theirs.rama_js_halves
            )
        }
        None => format!("rama_js: Jensen-Shannon divergence (base 2, 0..1) of {RAMA_BINS}x{RAMA_BINS} (phi, psi) histograms, samples vs reference; the reference column is the divergence between its even and odd structures (the sampling floor)"),
    };
    let mut notes = vec![
        format!("reference column: {source}"),
        format!(
            "tm_diversity: mean pairwise TM-score (mean of both normalisations) from the built-in TM-align (not the TMalign program), over {} pairs of at most {DIVERSITY_MAX} evenly spaced structures; reference over {} pairs",
            ours.tm_pairs, theirs.tm_pairs
        ),
        "ss_*: 3-state fractions (H,G,I / E,B / rest) from the built-in DSSP, which follows mkdssp 4.2".to_string(),
        format!("rg_ratio_mean: mean Rg(CA) / ({RG_PREFACTOR}·L^{RG_EXPONENT}), the data set's fit; 1 = as compact as natural domains of that length"),
        format!("clash_rate_*: CA pairs with |i-j| >= {CLASH_MIN_SEPARATION} closer than {CLASH_DISTANCE} Å; per structure (any clash) and per pair"),
        rama_note,
        "designability (ProteinMPNN + ESMFold) is not computed: these are offline proxies".to_string(),
    ];
    notes.push(novelty_row(samples, train, &mut rows));
    let json_path = files.json.clone();
    let png_path = files.ramachandran.clone();
    let files = vec![json_path.clone(), png_path.clone()];
    let evaluation = Evaluation { rows, files, notes };
    let json = serde_json::to_string_pretty(&evaluation)
        .map_err(|e| ProteinError::structure(&json_path, e.to_string()))?;
    diffgen_core::checkpoint::write_atomic(&json_path, |f| f.write_all(json.as_bytes()))?;
    ramachandran_png(
        &png_path,
        (
            &format!("samples ({} residues)", ours.residues),
            &ours.rama_hist,
        ),
        (
            &format!("reference ({} residues)", theirs.residues),
            &theirs.rama_hist,
        ),
    )?;
    Ok(evaluation)
}

/// Adds the `novelty_max_tm` row when the train subset is at hand; the note says what it is,
/// or why it is missing.
fn novelty_row(
    samples: &[Backbone],
    train: Option<&[Backbone]>,
    rows: &mut Vec<MetricRow>,
) -> String {
    let Some(train) = train.filter(|t| !t.is_empty()) else {
        return "novelty_max_tm: not computed: the CATH train split was not found (pass --data or set DIFFGEN_DATA)".to_string();
    };
    let m = samples.len().min(NOVELTY_MAX_SAMPLES);
    let picked: Vec<Backbone> = (0..m)
        .map(|k| samples[k * samples.len() / m].clone())
        .collect();
    let n = novelty(&picked, train);
    let reference = bundled_reference().ok().and_then(|b| b.novelty_max_tm);
    rows.push(MetricRow {
        name: "novelty_max_tm".to_string(),
        samples: n.mean_max_tm,
        reference,
    });
    format!(
        "novelty_max_tm: mean over {m} evenly spaced samples (at most {NOVELTY_MAX_SAMPLES}) of the highest TM-score (built-in TM-align, normalised by the sample) to {} fixed train domains (of {NOVELTY_CHAINS}, seeded); lower = more novel, 1 = a copy; reference column: the test split against the same domains (bundled)",
        n.train_chains
    )
}

/// Registers a TrueType font once (as diffgen-core's plots do); whether text can be drawn.
fn has_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = std::env::var("DIFFGEN_FONT").into_iter().chain(
            [
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/TTF/DejaVuSans.ttf",
                "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
                "/System/Library/Fonts/Supplemental/Arial.ttf",
                "C:\\Windows\\Fonts\\arial.ttf",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Two (φ, ψ) density panels side by side, log colour scale, each normalised to its maximum.
pub fn ramachandran_png(
    out: &Path,
    left: (&str, &[u64]),
    right: (&str, &[u64]),
) -> Result<(), ProteinError> {
    let text = has_font();
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ProteinError::io(dir, e))?;
    let tmp = dir.join(".ramachandran.tmp.png");
    let draw = || -> Result<(), String> {
        let root = BitMapBackend::new(&tmp, (1200, 620)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (a, b) = root.split_horizontally(600);
        for (area, (title, hist)) in [(a, left), (b, right)] {
            let mut builder = ChartBuilder::on(&area);
            builder.margin(15);
            if text {
                builder
                    .caption(title, ("sans-serif", 22))
                    .x_label_area_size(35)
                    .y_label_area_size(45);
            }
            let mut chart = builder
                .build_cartesian_2d(-180f64..180f64, -180f64..180f64)
                .map_err(|e| e.to_string())?;
            let mut mesh = chart.configure_mesh();
            mesh.disable_mesh();
            if text {
                mesh.x_desc("phi (deg)")
                    .y_desc("psi (deg)")
                    .x_labels(7)
                    .y_labels(7)
                    .x_label_formatter(&|v| format!("{v:.0}"))
                    .y_label_formatter(&|v| format!("{v:.0}"));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|e| e.to_string())?;
            let max = hist.iter().copied().max().unwrap_or(0).max(1) as f64;
            let width = 360.0 / RAMA_BINS as f64;
            let cells = hist
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(k, &c)| {
                    let (i, j) = (k / RAMA_BINS, k % RAMA_BINS);
                    let (x0, y0) = (-180.0 + i as f64 * width, -180.0 + j as f64 * width);
                    // Log scale: 1 count is pale, the densest bin dark blue.
                    let t = ((c as f64).ln_1p() / max.ln_1p()).clamp(0.0, 1.0);
                    let shade = |lo: f64, hi: f64| (lo + (hi - lo) * t) as u8;
                    let color =
                        RGBColor(shade(225.0, 8.0), shade(235.0, 48.0), shade(250.0, 107.0));
                    Rectangle::new([(x0, y0), (x0 + width, y0 + width)], color.filled())
                });
            chart.draw_series(cells).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    };
    if let Err(e) = draw() {
        let _ = std::fs::remove_file(&tmp);
        return Err(ProteinError::structure(
            out,
            format!("cannot draw plot: {e}"),
        ));
    }
    std::fs::rename(&tmp, out).map_err(|e| ProteinError::io(out, e))
}
