//! Novelty (max TM-score to a fixed train subset): a copy of a training chain is not novel, a
//! random coil is.

mod common;

use diffgen_protein::geometry::backbone_from_angles;
use diffgen_protein::metrics::evaluate;
use diffgen_protein::novelty::{load_subset, novelty, NOVELTY_CHAINS};
use diffgen_protein::structure::{Backbone, Vec3};
use nalgebra::Rotation3;

/// A chain from uniformly random (φ, ψ): no protein fold.
fn coil(seed: u64, length: usize) -> Backbone {
    let mut state = seed;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let pi = std::f64::consts::PI;
    let angles: Vec<[f64; 6]> = (0..length)
        .map(|_| {
            let (phi, psi) = ((uniform() * 2.0 - 1.0) * pi, (uniform() * 2.0 - 1.0) * pi);
            [phi, psi, pi - 0.01, 1.94, 2.03, 2.12]
        })
        .collect();
    backbone_from_angles(&format!("coil_{seed}"), &angles)
}

/// The same chain, rotated and moved: TM-align must find it anyway.
fn moved(b: &Backbone) -> Backbone {
    let r = Rotation3::from_euler_angles(0.7, -1.1, 2.0);
    let t = Vec3::new(12.0, -40.0, 3.5);
    let f = |v: &Vec<Vec3>| v.iter().map(|p| r * p + t).collect();
    Backbone {
        id: format!("{} moved", b.id),
        n: f(&b.n),
        ca: f(&b.ca),
        c: f(&b.c),
        o: f(&b.o),
        sequence: None,
        dssp: None,
    }
}

#[test]
fn a_copy_scores_one_and_a_coil_low_without_data() {
    let train: Vec<Backbone> = (1..=4).map(|s| coil(s, 80)).collect();
    let samples = [moved(&train[2]), coil(99, 80)];
    let n = novelty(&samples, &train);
    assert_eq!(n.train_chains, 4);
    assert!(n.max_tm[0] >= 0.99, "{:?}", n.max_tm);
    assert!(n.max_tm[1] < 0.4, "{:?}", n.max_tm);
    assert!((n.mean_max_tm - 0.5 * (n.max_tm[0] + n.max_tm[1])).abs() < 1e-12);
    assert_eq!(novelty(&[], &train).max_tm.len(), 0);
}

#[test]
fn a_training_chain_is_not_novel_and_a_coil_is() {
    let Some(root) = common::data_root() else {
        return;
    };
    let train = load_subset(&root).unwrap();
    assert_eq!(train.len(), NOVELTY_CHAINS);
    // The subset is fixed: the same domains every time, all of them from train.
    let again = load_subset(&root).unwrap();
    assert!(train.iter().zip(&again).all(|(a, b)| a.id == b.id));
    let samples = [moved(&train[7]), coil(7, 100)];
    let start = std::time::Instant::now();
    let n = novelty(&samples, &train);
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "max TM {:?}; {} alignments in {seconds:.2} s",
        n.max_tm,
        samples.len() * train.len()
    );
    assert!(n.max_tm[0] >= 0.99, "{:?}", n.max_tm);
    assert!(n.max_tm[1] < 0.4, "{:?}", n.max_tm);

    // Through the metrics: a row beside the test split's bundled value.
    let dir = tempfile::tempdir().unwrap();
    let e = evaluate(&samples, None, Some(&train), dir.path()).unwrap();
    let row = e.row("novelty_max_tm").unwrap();
    assert!((row.samples - n.mean_max_tm).abs() < 1e-12, "{row:?}");
    let reference = row.reference.unwrap();
    assert!(reference > 0.3 && reference < 0.9, "{reference}");
    assert!(e
        .notes
        .iter()
        .any(|n| n.starts_with("novelty_max_tm: mean")));
}
