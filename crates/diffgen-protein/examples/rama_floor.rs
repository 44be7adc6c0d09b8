//! How low the Ramachandran JS of a sample set can go: the divergence that *natural* chains
//! get against the bundled test-split histogram when there are as few of them as a sample
//! set has, as they are and with N, C, O rebuilt from their Cα (the Cα models' path). Sets
//! are drawn from the train split (disjoint from the reference): `64` chains cropped to at
//! most 128 residues (the sampled lengths), `16` windows of 100 (`--length 100`), and every
//! train chain (the floor without finite-sample noise).
//!
//! ```sh
//! cargo run --release -p diffgen-protein --example rama_floor -- [DATA_ROOT] [DRAWS]
//! ```

use std::path::PathBuf;

use diffgen_core::SeededRng;
use diffgen_protein::io::load_split;
use diffgen_protein::metrics::{bundled_reference, js_divergence, ramachandran_histogram};
use diffgen_protein::rebuild::backbone_from_ca;
use diffgen_protein::structure::Backbone;

/// A protocol: how many chains, and each one's window.
struct Protocol {
    name: &'static str,
    chains: usize,
    /// Window length: `Some(n)` exactly n (chains shorter are not drawn), `None` up to 128.
    window: Option<usize>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args
        .next()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("DIFFGEN_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/datasets"));
    let draws: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let train: Vec<Backbone> = load_split(&root, "train")?
        .into_iter()
        .filter(|b| b.len() >= 40)
        .collect();
    let reference = bundled_reference()?.stats.rama_hist;
    let rebuilt = |set: &[Backbone]| -> Vec<Backbone> {
        set.iter().map(|b| backbone_from_ca(&b.id, &b.ca)).collect()
    };
    let js = |set: &[Backbone]| js_divergence(&ramachandran_histogram(set), &reference);
    let mut rng = SeededRng::new(0);
    for protocol in [
        Protocol {
            name: "64 chains, up to 128 residues",
            chains: 64,
            window: None,
        },
        Protocol {
            name: "16 windows of 100",
            chains: 16,
            window: Some(100),
        },
    ] {
        let pool: Vec<&Backbone> = train
            .iter()
            .filter(|b| protocol.window.is_none_or(|n| b.len() >= n))
            .collect();
        let (mut natural, mut from_ca) = (Vec::new(), Vec::new());
        for _ in 0..draws {
            let set: Vec<Backbone> = (0..protocol.chains)
                .map(|_| {
                    let chain = pool[rng.int_inclusive(0, pool.len() - 1)];
                    let n = protocol.window.unwrap_or(chain.len().min(128));
                    let start = rng.int_inclusive(0, chain.len() - n);
                    chain.slice(start..start + n)
                })
                .collect();
            natural.push(js(&set));
            from_ca.push(js(&rebuilt(&set)));
        }
        let residues: usize = protocol.window.unwrap_or(0) * protocol.chains;
        println!(
            "{} ({draws} draws{}): natural {}, rebuilt from Cα {}",
            protocol.name,
            if residues > 0 {
                format!(", {residues} residues")
            } else {
                String::new()
            },
            mean_sd(&natural),
            mean_sd(&from_ca)
        );
    }
    println!(
        "all {} train chains: natural {:.4}, rebuilt from Cα {:.4}",
        train.len(),
        js(&train),
        js(&rebuilt(&train))
    );
    Ok(())
}

fn mean_sd(values: &[f64]) -> String {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    format!("{mean:.4} ± {:.4}", var.sqrt())
}
