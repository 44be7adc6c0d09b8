//! The built-in DSSP against the labels mkdssp 4.2 stored in the data set.

mod common;

use diffgen_protein::dssp::{agreement, dssp, three_state};

#[test]
fn agrees_with_stored_labels_on_the_test_split() {
    let Some(split) = common::test_split() else {
        return;
    };
    assert_eq!(split.len(), 298);
    let (mut same8, mut same3, mut total) = (0, 0, 0);
    let mut worst = (1.0, String::new());
    for b in split {
        let ours = dssp(b);
        let stored = b.dssp.as_ref().expect("stored dssp");
        assert_eq!(ours.len(), b.len());
        let (s8, t) = agreement(&ours, stored, false);
        let (s3, _) = agreement(&ours, stored, true);
        same8 += s8;
        same3 += s3;
        total += t;
        let f = s8 as f64 / t as f64;
        if f < worst.0 {
            worst = (f, b.id.clone());
        }
    }
    let (a8, a3) = (same8 as f64 / total as f64, same3 as f64 / total as f64);
    eprintln!(
        "DSSP agreement over {total} residues: 8-state {:.4}, 3-state {:.4}; worst domain {} at {:.3}",
        a8, a3, worst.1, worst.0
    );
    // The issue asks for 95 %; the rules follow mkdssp 4.2 closely enough to match it exactly
    // here, so hold the line well above that.
    assert!(a8 >= 0.995, "8-state agreement {a8}");
    assert!(a3 >= 0.995, "3-state agreement {a3}");
}

#[test]
fn agrees_on_the_sample_pdbs() {
    let Some(samples) = common::sample_pdbs() else {
        return;
    };
    let Some(split) = common::test_split() else {
        return;
    };
    for (path, b) in samples {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let stored = split
            .iter()
            .find(|d| d.id == stem)
            .and_then(|d| d.dssp.clone())
            .expect("sample is a test-split domain");
        let ours = dssp(&b);
        let (same, total) = agreement(&ours, &stored, false);
        assert!(
            same as f64 / total as f64 >= 0.98,
            "{stem}: {same}/{total}\nours   {ours}\nstored {stored}"
        );
    }
}

#[test]
fn three_state_mapping() {
    let map: String = "HGIEBTS-P".chars().map(three_state).collect();
    assert_eq!(map, "HHHEECCCC");
}

#[test]
fn ideal_helix_and_extended_chain() {
    use diffgen_protein::geometry::backbone_from_angles;
    let deg = f64::to_radians;
    let helix = [
        deg(-57.0),
        deg(-47.0),
        deg(180.0),
        deg(111.0),
        deg(116.0),
        deg(122.0),
    ];
    let ss = dssp(&backbone_from_angles("helix", &[helix; 20]));
    // i→i+4 bonds from residue 0 to 15: minimal helices cover residues 1..=18.
    assert_eq!(ss, format!("-{}-", "H".repeat(18)));
    // A fully extended single chain has no H-bond partner: no secondary structure at all.
    let extended = [
        deg(-180.0),
        deg(180.0),
        deg(180.0),
        deg(111.0),
        deg(116.0),
        deg(122.0),
    ];
    let ss = dssp(&backbone_from_angles("extended", &[extended; 20]));
    assert!(ss.chars().all(|c| c == '-'), "{ss}");
}
