//! Writes `weights/test-split-reference.json`: the metrics' figures for the test split, which
//! `metrics::evaluate` uses when no data is at hand, the test split's novelty (max
//! TM-score to the fixed train subset), the novelty figure's reference column (several
//! minutes: 298 × 48 alignments), and the Ramachandran JS natural train chains get against
//! it by set size (`rama_floor.rs`). Run after changing a metric:
//!
//! ```sh
//! cargo run --release -p diffgen-protein --example reference_stats -- [DATA_ROOT]
//! ```
//!
//! `DATA_ROOT` holds `proteins/` (default: `$DIFFGEN_DATA`, else `../shared/datasets`).

use std::path::PathBuf;

use diffgen_protein::io::{load_split, SHARED_FILE};
use diffgen_protein::metrics::{BundledReference, SetStats};
use diffgen_protein::novelty::{load_subset, novelty};
use diffgen_protein::rama_floor::measure_table;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("DIFFGEN_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/datasets"));
    let test = load_split(&root, "test")?;
    let train = load_subset(&root)?;
    let start = std::time::Instant::now();
    let novel = novelty(&test, &train);
    let seconds = start.elapsed().as_secs_f64();
    let pairs = test.len() * train.len();
    println!(
        "novelty: {pairs} alignments in {seconds:.1} s ({:.1}/s on all cores), mean max TM {:.4}",
        pairs as f64 / seconds,
        novel.mean_max_tm
    );
    let stats = SetStats::compute(&test);
    let pool = load_split(&root, "train")?;
    let rama_js_floor = measure_table(&pool, &stats.rama_hist);
    for f in &rama_js_floor {
        println!(
            "rama JS of {} natural train residues: {:.4} (rebuilt from CA {:.4})",
            f.residues, f.natural, f.rebuilt
        );
    }
    let bundled = BundledReference {
        source: format!(
            "test split of {SHARED_FILE} ({} domains), by examples/reference_stats.rs",
            test.len()
        ),
        stats,
        novelty_max_tm: Some(novel.mean_max_tm),
        rama_js_floor,
    };
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weights/test-split-reference.json");
    let mut json = serde_json::to_string(&bundled)?;
    json.push('\n');
    std::fs::write(&out, json)?;
    let s = &bundled.stats;
    println!(
        "{}: {} domains, CA-CA {:.4} ± {:.4} Å, clashes {:.4}/{:.2e}, Rg ratio {:.4}, H/E/C {:.4}/{:.4}/{:.4}, TM diversity {:.4} ({} pairs), rama JS halves {:.4}",
        out.display(), s.structures, s.ca_ca_mean, s.ca_ca_sd, s.clash_structures, s.clash_pairs,
        s.rg_ratio_mean, s.ss_helix, s.ss_strand, s.ss_coil, s.tm_diversity, s.tm_pairs, s.rama_js_halves
    );
    Ok(())
}
