//! Angles ↔ coordinates on real structures, and the geometric helpers.

mod common;

use diffgen_protein::geometry::{
    angles_from_backbone, backbone_from_angles, determined_atoms, dihedral, kabsch, kabsch_rmsd,
    radius_of_gyration, wrap_angle, Angles, ANGLE_NAMES,
};
use diffgen_protein::structure::{Backbone, Vec3};
use nalgebra::{Rotation3, Vector3};

fn max_angle_error(a: &[Angles], b: &[Angles]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| wrap_angle(p - q).abs()))
        .fold(0.0, f64::max)
}

/// (all determined atoms RMSD, CA RMSD) of the NeRF rebuild from a structure's own angles.
fn rebuild_rmsd(b: &Backbone) -> (f64, f64, f64) {
    let angles = angles_from_backbone(b);
    let rebuilt = backbone_from_angles(&b.id, &angles);
    let again = angles_from_backbone(&rebuilt);
    (
        kabsch_rmsd(&determined_atoms(&rebuilt), &determined_atoms(b)),
        kabsch_rmsd(&rebuilt.ca, &b.ca),
        max_angle_error(&angles, &again),
    )
}

#[test]
fn round_trip_on_the_test_split() {
    let Some(split) = common::test_split() else {
        return;
    };
    let (mut sum, mut sum_ca, mut max, mut max_ca, mut max_short) =
        (0.0, 0.0, 0.0f64, 0.0f64, 0.0f64);
    let mut worst_angle = 0.0f64;
    for b in split {
        let (all, ca, angle_error) = rebuild_rmsd(b);
        sum += all;
        sum_ca += ca;
        max = max.max(all);
        max_ca = max_ca.max(ca);
        if b.len() <= 128 {
            max_short = max_short.max(all);
        }
        worst_angle = worst_angle.max(angle_error);
    }
    let n = split.len() as f64;
    eprintln!(
        "NeRF rebuild over {} test domains: backbone RMSD mean {:.3} max {:.3} (max {:.3} for L<=128), CA mean {:.3} max {:.3}; angles->NeRF->angles max error {:.2e} rad",
        split.len(), sum / n, max, max_short, sum_ca / n, max_ca, worst_angle
    );
    // angles -> coordinates -> angles is exact up to rounding.
    assert!(worst_angle < 1e-9, "{worst_angle}");
    // coordinates -> angles -> coordinates only loses the bond lengths. Measured: mean
    // 0.092 Å, max 0.654 Å (0.470 Å for L <= 128), CA max 0.656 Å. Bounds with headroom.
    assert!(sum / n < 0.15, "mean {}", sum / n);
    assert!(max < 1.0, "max {max}");
    assert!(max_short < 0.7, "max for L <= 128: {max_short}");
    assert!(
        sum_ca / n < 0.15 && max_ca < 1.0,
        "CA mean {} max {max_ca}",
        sum_ca / n
    );
}

#[test]
fn round_trip_on_the_sample_pdbs() {
    let Some(samples) = common::sample_pdbs() else {
        return;
    };
    for (path, b) in samples {
        let (all, ca, angle_error) = rebuild_rmsd(&b);
        assert!(angle_error < 1e-9, "{}: {angle_error}", path.display());
        assert!(all < 1.0 && ca < 1.0, "{}: {all} {ca}", path.display());
    }
}

#[test]
fn ideal_geometry_rebuilds_exactly() {
    // A backbone with the ideal bond lengths goes through coordinates -> angles -> coordinates
    // without loss (N, CA, C and all O but the last).
    let mut angles = Vec::new();
    for i in 0..40 {
        let t = i as f64 * 0.37;
        angles.push([
            if i == 0 {
                0.0
            } else {
                wrap_angle(-1.2 + t.sin())
            },
            if i == 39 {
                0.0
            } else {
                wrap_angle(2.3 + t.cos())
            },
            if i == 39 {
                0.0
            } else {
                wrap_angle(3.1 + 0.05 * t.sin())
            },
            1.92 + 0.03 * t.cos(),
            if i == 39 { 0.0 } else { 2.03 },
            if i == 39 { 0.0 } else { 2.12 },
        ]);
    }
    let b = backbone_from_angles("ideal", &angles);
    let back = angles_from_backbone(&b);
    assert!(max_angle_error(&angles, &back) < 1e-9);
    let rebuilt = backbone_from_angles("again", &back);
    let rmsd = kabsch_rmsd(&determined_atoms(&rebuilt), &determined_atoms(&b));
    assert!(rmsd < 1e-9, "{rmsd}");
    // Bond lengths are the ideal ones and the O sits 1.231 Å from C.
    for i in 0..b.len() {
        assert!(((b.ca[i] - b.n[i]).norm() - 1.458).abs() < 1e-9);
        assert!(((b.c[i] - b.ca[i]).norm() - 1.525).abs() < 1e-9);
        assert!(((b.o[i] - b.c[i]).norm() - 1.231).abs() < 1e-9);
        if i + 1 < b.len() {
            assert!(((b.n[i + 1] - b.c[i]).norm() - 1.329).abs() < 1e-9);
            // O lies in the peptide plane CA(i), C(i), N(i+1), on the far side from N(i+1).
            let plane = dihedral(&b.ca[i], &b.n[i + 1], &b.c[i], &b.o[i]);
            assert!(wrap_angle(plane.abs() - std::f64::consts::PI).abs() < 1e-9);
        }
    }
    assert_eq!(ANGLE_NAMES.len(), 6);
}

#[test]
fn kabsch_and_rg() {
    let pts: Vec<Vec3> = (0..30)
        .map(|i| {
            let t = i as f64;
            Vector3::new(t.sin() * 5.0, t.cos() * 3.0, t * 0.4)
        })
        .collect();
    let r = Rotation3::from_euler_angles(0.3, -1.1, 2.0);
    let moved: Vec<Vec3> = pts
        .iter()
        .map(|p| r * p + Vector3::new(4.0, -2.0, 9.0))
        .collect();
    assert!(kabsch_rmsd(&pts, &moved) < 1e-9);
    let s = kabsch(&pts, &moved);
    assert!((s.rotation.determinant() - 1.0).abs() < 1e-9);
    // A mirror image is not superposable: RMSD stays large.
    let mirror: Vec<Vec3> = pts.iter().map(|p| Vector3::new(-p.x, p.y, p.z)).collect();
    assert!(kabsch_rmsd(&pts, &mirror) > 0.5);
    assert!((radius_of_gyration(&pts) - radius_of_gyration(&moved)).abs() < 1e-9);
    let two = [Vector3::new(0.0, 0.0, 0.0), Vector3::new(2.0, 0.0, 0.0)];
    assert!((radius_of_gyration(&two) - 1.0).abs() < 1e-12);
}
