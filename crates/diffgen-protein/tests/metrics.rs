//! Structure metrics: the test split against itself, the bundled figures, and samples that
//! are visibly wrong.

mod common;

use diffgen_protein::geometry::backbone_from_angles;
use diffgen_protein::io::load_split;
use diffgen_protein::metrics::{bundled_reference, evaluate, js_divergence, SetStats};
use diffgen_protein::rama_floor::{floor_at, measure_table, FLOOR_RESIDUES};
use diffgen_protein::structure::Backbone;

#[test]
fn test_split_against_itself() {
    let Some(split) = common::test_split() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let e = evaluate(split, Some(split), None, dir.path()).unwrap();
    let get = |name: &str| e.row(name).unwrap_or_else(|| panic!("no row {name}"));
    assert_eq!(get("rama_js").samples, 0.0);
    assert_eq!(get("clash_rate_structures").samples, 0.0);
    assert_eq!(get("clash_rate_pairs").samples, 0.0);
    let ca = get("ca_ca_mean_A").samples;
    assert!((ca - 3.803).abs() < 0.005, "{ca}");
    // Natural peptide links: nearly all within 3.6–4.0 Å (cis peptides are the exception).
    let linked = get("ca_ca_in_3.6_4.0").samples;
    assert!(linked > 0.99 && linked < 1.0, "{linked}");
    let helix = get("ss_helix").samples;
    assert!((helix - 0.361).abs() < 0.03, "{helix}");
    let rg = get("rg_ratio_mean").samples;
    assert!((rg - 1.0).abs() < 0.05, "{rg}");
    // Natural CATH S40 domains are structurally diverse: low mean pairwise TM.
    let tm = get("tm_diversity").samples;
    assert!(tm > 0.2 && tm < 0.4, "{tm}");
    // The halves of the test split differ a little: the floor rama_js is read against.
    let floor = get("rama_js").reference.unwrap();
    assert!(floor > 0.0 && floor < 0.05, "{floor}");
    for row in &e.rows {
        if row.name != "rama_js" {
            assert_eq!(Some(row.samples), row.reference, "{}", row.name);
        }
    }
    assert_eq!(e.files.len(), 2);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&e.files[0]).unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), e.rows.len());
    let png = std::fs::read(&e.files[1]).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5000,
        "{}",
        png.len()
    );
}

/// The bundled figures are what `examples/reference_stats.rs` computes from the data.
#[test]
fn bundled_reference_matches_the_data() {
    let bundled = bundled_reference().unwrap();
    let Some(split) = common::test_split() else {
        return;
    };
    let now = SetStats::compute(split);
    let (b, n) = (&bundled.stats, &now);
    assert_eq!(
        (b.structures, b.residues, b.tm_pairs),
        (n.structures, n.residues, n.tm_pairs)
    );
    assert_eq!(
        b.rama_hist, n.rama_hist,
        "rerun examples/reference_stats.rs"
    );
    assert_eq!(
        b.ca_ca_in_range, n.ca_ca_in_range,
        "rerun examples/reference_stats.rs"
    );
    for (name, x, y) in [
        ("length_mean", b.length_mean, n.length_mean),
        ("ca_ca_mean", b.ca_ca_mean, n.ca_ca_mean),
        ("ca_ca_sd", b.ca_ca_sd, n.ca_ca_sd),
        ("clash_structures", b.clash_structures, n.clash_structures),
        ("clash_pairs", b.clash_pairs, n.clash_pairs),
        ("rg_ratio_mean", b.rg_ratio_mean, n.rg_ratio_mean),
        ("ss_helix", b.ss_helix, n.ss_helix),
        ("ss_strand", b.ss_strand, n.ss_strand),
        ("ss_coil", b.ss_coil, n.ss_coil),
        ("tm_diversity", b.tm_diversity, n.tm_diversity),
        ("rama_js_halves", b.rama_js_halves, n.rama_js_halves),
    ] {
        assert!(
            (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            "{name}: bundled {x}, data {y}; rerun examples/reference_stats.rs"
        );
    }
}

/// The bundled Ramachandran floor is what the train split gives (the same draws), and it
/// says what it is for: it falls as sets grow, rebuilding from Cα costs more than it, and
/// 1,600 natural residues (16 chains at `--length 100`) sit above 0.05 against the test split.
#[test]
fn bundled_rama_floor_matches_the_train_split() {
    let bundled = bundled_reference().unwrap();
    let table = &bundled.rama_js_floor;
    assert_eq!(
        table.iter().map(|f| f.residues).collect::<Vec<_>>(),
        FLOOR_RESIDUES,
        "rerun examples/reference_stats.rs"
    );
    for pair in table.windows(2) {
        assert!(pair[1].natural < pair[0].natural, "{pair:?}");
    }
    assert!(table.iter().all(|f| f.rebuilt > f.natural), "{table:?}");
    assert!(floor_at(table, 1600).unwrap().natural > 0.05, "{table:?}");
    let Some(root) = common::data_root() else {
        return;
    };
    let pool = load_split(&root, "train").unwrap();
    let measured = measure_table(&pool, &bundled.stats.rama_hist);
    assert_eq!(measured.len(), table.len());
    for (f, now) in table.iter().zip(&measured) {
        assert!(
            (now.natural - f.natural).abs() < 1e-12 && (now.rebuilt - f.rebuilt).abs() < 1e-12,
            "bundled {f:?}, data {now:?}; rerun examples/reference_stats.rs"
        );
    }
}

/// Backbones from made-up angles: a tight, clashing coil and a random walk in angle space.
fn bad_samples() -> Vec<Backbone> {
    let mut state = 12345u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..6)
        .map(|k| {
            let angles: Vec<[f64; 6]> = (0..60)
                .map(|_| {
                    let pi = std::f64::consts::PI;
                    [
                        (uniform() * 2.0 - 1.0) * pi,
                        (uniform() * 2.0 - 1.0) * pi,
                        pi - 0.01,
                        1.94,
                        2.03,
                        2.12,
                    ]
                })
                .collect();
            backbone_from_angles(&format!("bad_{k}"), &angles)
        })
        .collect()
}

#[test]
fn bad_samples_against_the_bundled_figures() {
    let dir = tempfile::tempdir().unwrap();
    let e = evaluate(&bad_samples(), None, None, dir.path()).unwrap();
    let row = |name: &str| e.row(name).unwrap().clone();
    let js = row("rama_js");
    assert!(js.samples > 0.3, "{js:?}");
    // Read against what natural chains of as many residues get: far below the samples.
    assert!(js.samples > js.reference.unwrap() + 0.2, "{js:?}");
    assert!(
        e.notes.iter().any(|n| n.contains("natural train chains")),
        "{:?}",
        e.notes
    );
    // Uniform (phi, psi) is not protein-like: little regular secondary structure.
    assert!(row("ss_helix").samples < 0.2);
    assert_eq!(row("structures").reference, Some(298.0));
    assert!(
        e.notes.iter().any(|n| n.contains("bundled")),
        "{:?}",
        e.notes
    );
    // No train split given: no novelty row, and a note saying so.
    assert!(e.row("novelty_max_tm").is_none());
    assert!(e
        .notes
        .iter()
        .any(|n| n.starts_with("novelty_max_tm: not computed")));
    assert!(e.files.iter().all(|f| f.exists()));

    // A structure squeezed to 60 % clashes.
    let mut squeezed = bad_samples().remove(0);
    for p in squeezed.ca.iter_mut() {
        *p *= 0.6;
    }
    let e = evaluate(&[squeezed], None, None, dir.path()).unwrap();
    assert_eq!(e.row("clash_rate_structures").unwrap().samples, 1.0);
    assert_eq!(e.row("ca_ca_in_3.6_4.0").unwrap().samples, 0.0);
    assert!(e.row("clash_rate_pairs").unwrap().samples > 0.0);
    assert!(evaluate(&[], None, None, dir.path()).is_err());
}

#[test]
fn js_divergence_bounds() {
    let p = [3, 0, 1, 0];
    assert_eq!(js_divergence(&p, &p), 0.0);
    assert!((js_divergence(&[1, 0], &[0, 1]) - 1.0).abs() < 1e-12);
    let d = js_divergence(&[2, 1, 1], &[1, 1, 2]);
    assert!(d > 0.0 && d < 1.0 && (d - js_divergence(&[1, 1, 2], &[2, 1, 1])).abs() < 1e-15);
}
