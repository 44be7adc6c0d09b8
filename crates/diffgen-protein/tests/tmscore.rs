//! The built-in TM-align: exact cases, known TMalign values, symmetry.

mod common;

use diffgen_protein::structure::{Backbone, Vec3};
use diffgen_protein::tmscore::{parse_tmalign, tm_align, tm_score_fixed, tmalign_external};
use nalgebra::{Rotation3, Vector3};

fn sample(samples: &[(std::path::PathBuf, Backbone)], stem: &str) -> Backbone {
    samples
        .iter()
        .find(|(p, _)| p.file_stem().unwrap() == stem)
        .map(|(_, b)| b.clone())
        .unwrap()
}

#[test]
fn identical_and_moved_copies_score_one() {
    let Some(samples) = common::sample_pdbs() else {
        return;
    };
    let r = Rotation3::from_euler_angles(1.0, -0.4, 2.5);
    for (_, b) in samples.iter().take(4) {
        let same = tm_align(&b.ca, &b.ca);
        assert!(
            (same.tm_norm_a - 1.0).abs() < 1e-9 && (same.tm_norm_b - 1.0).abs() < 1e-9,
            "{same:?}"
        );
        assert_eq!(same.aligned, b.len());
        assert!(same.rmsd < 1e-9);
        let moved: Vec<Vec3> =
            b.ca.iter()
                .map(|p| r * p + Vector3::new(30.0, -12.0, 7.5))
                .collect();
        let m = tm_align(&moved, &b.ca);
        assert!(
            (m.tm_norm_a - 1.0).abs() < 1e-9 && (m.tm_norm_b - 1.0).abs() < 1e-9,
            "{m:?}"
        );
        assert!((tm_score_fixed(&moved, &b.ca) - 1.0).abs() < 1e-9);
    }
}

#[test]
fn a_crop_is_found_inside_its_parent() {
    let Some(samples) = common::sample_pdbs() else {
        return;
    };
    let parent = sample(&samples, "1n45A00");
    let crop = parent.slice(70..150);
    let r = tm_align(&crop.ca, &parent.ca);
    assert!(r.tm_norm_a > 0.99, "{r:?}");
    assert!(r.tm_norm_b < 0.6 && r.tm_norm_b > 0.3, "{r:?}");
    assert_eq!(r.aligned, 80);
}

/// TMalign 20190822 (Debian `tm-align`) on the sample PDBs, "normalized by Chain_1".
const KNOWN: [(&str, &str, f64, f64); 5] = [
    // The pair the reference notes quote: 81 vs 214 residues → 0.363.
    ("1iqzA00", "1n45A00", 0.3631, 0.1839),
    ("3b76A00", "3eg3A00", 0.2649, 0.3643),
    ("3bg5B07", "1n45A00", 0.4502, 0.1376),
    ("3eg3A00", "1zarA01", 0.2806, 0.2245),
    ("3bg5B07", "3b76A00", 0.3989, 0.2469),
];

#[test]
fn agrees_with_tmalign_and_different_folds_score_low() {
    let Some(samples) = common::sample_pdbs() else {
        return;
    };
    for (a, b, tm_a, tm_b) in KNOWN {
        let (x, y) = (sample(&samples, a), sample(&samples, b));
        let r = tm_align(&x.ca, &y.ca);
        eprintln!(
            "{a} vs {b}: built-in {:.4} / {:.4}, TMalign {tm_a} / {tm_b}",
            r.tm_norm_a, r.tm_norm_b
        );
        assert!(
            (r.tm_norm_a - tm_a).abs() < 0.03,
            "{a} {b}: {r:?} vs TMalign {tm_a}"
        );
        assert!(
            (r.tm_norm_b - tm_b).abs() < 0.03,
            "{a} {b}: {r:?} vs TMalign {tm_b}"
        );
        // Unrelated CATH S40 domains: well below the same-fold line of 0.5.
        assert!(r.tm_norm_a < 0.5 && r.tm_norm_b < 0.5);
        // Swapping the arguments swaps the normalisations.
        let s = tm_align(&y.ca, &x.ca);
        assert!((s.tm_norm_b - r.tm_norm_a).abs() < 0.02, "{r:?} vs {s:?}");
        assert!((s.tm_norm_a - r.tm_norm_b).abs() < 0.02, "{r:?} vs {s:?}");
    }
}

#[test]
fn external_tmalign_when_present() {
    let text = "\
Aligned length=   56, RMSD=   4.36, Seq_ID=n_identical/n_aligned= 0.036
TM-score= 0.36314 (if normalized by length of Chain_1, i.e., LN=81, d0=3.04)
TM-score= 0.18389 (if normalized by length of Chain_2, i.e., LN=214, d0=5.44)
";
    let e = parse_tmalign(text).unwrap();
    assert_eq!(
        (e.aligned, e.rmsd, e.tm_norm_a, e.tm_norm_b),
        (56, 4.36, 0.36314, 0.18389)
    );
    assert!(parse_tmalign("no scores here").is_none());
    let Some(dir) = common::shared("datasets/proteins/sample_pdb") else {
        return;
    };
    match tmalign_external(&dir.join("1iqzA00.pdb"), &dir.join("1n45A00.pdb")) {
        None => eprintln!("TMalign not on PATH: external check skipped"),
        Some(e) => assert!((e.tm_norm_a - 0.3631).abs() < 1e-3, "{e:?}"),
    }
}
