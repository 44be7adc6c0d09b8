//! Internal coordinates of a backbone and back: the six angles per residue that FoldingDiff
//! diffuses, NeRF to rebuild N, CA, C (and O) from them, and the small geometric helpers the
//! metrics need (dihedrals, Kabsch superposition, radius of gyration).
//!
//! Bond *lengths* are not part of the representation: rebuilding uses the ideal values below,
//! so coordinates → angles → coordinates is not exact on real structures (their bonds scatter
//! by about 0.01 Å), while angles → coordinates → angles is exact to rounding.

use std::f64::consts::PI;

use nalgebra::Matrix3;

use crate::structure::{Backbone, Vec3};

/// The six angles per residue, in feature order (see [`Angles`]).
pub const ANGLE_NAMES: [&str; 6] = ["phi", "psi", "omega", "n_ca_c", "ca_c_n", "c_n_ca"];

/// φ, ψ, ω, N-CA-C, CA-C-N, C-N-CA of one residue, radians in [-π, π).
pub type Angles = [f64; 6];

/// Ideal N–CA bond length (Å). The ideal lengths are Engh & Huber's; they equal our data's
/// means to 0.002 Å.
pub const N_CA: f64 = 1.458;
/// Ideal CA–C bond length (Å).
pub const CA_C: f64 = 1.525;
/// Ideal peptide C–N bond length (Å).
pub const C_N: f64 = 1.329;
/// Ideal carbonyl C=O bond length (Å), used to place O.
pub const C_O: f64 = 1.231;
/// CA-C-O bond angle used to place the carbonyl O (degrees).
pub const CA_C_O_DEG: f64 = 120.5;

/// `x` wrapped to [-π, π).
pub fn wrap_angle(x: f64) -> f64 {
    let y = (x + PI).rem_euclid(2.0 * PI) - PI;
    // rem_euclid can return 2π itself for inputs just below a multiple of 2π.
    if y >= PI {
        y - 2.0 * PI
    } else {
        y
    }
}

/// Signed torsion a-b-c-d in radians (IUPAC sign: clockwise looking down b→c is positive).
pub fn dihedral(a: &Vec3, b: &Vec3, c: &Vec3, d: &Vec3) -> f64 {
    let b0 = a - b;
    let b1 = c - b;
    let b2 = d - c;
    let b1n = b1.normalize();
    // Components of b0 and b2 perpendicular to the axis b1.
    let v = b0 - b1n * b0.dot(&b1n);
    let w = b2 - b1n * b2.dot(&b1n);
    let x = v.dot(&w);
    let y = b1n.cross(&v).dot(&w);
    wrap_angle(y.atan2(x))
}

/// Bond angle a-b-c in radians, in [0, π].
pub fn angle(a: &Vec3, b: &Vec3, c: &Vec3) -> f64 {
    let u = a - b;
    let v = c - b;
    u.cross(&v).norm().atan2(u.dot(&v))
}

/// The six angles of every residue (see [`ANGLE_NAMES`]):
/// phi_i = dihedral(C_{i-1}, N_i, CA_i, C_i); psi_i = dihedral(N_i, CA_i, C_i, N_{i+1});
/// omega_i = dihedral(CA_i, C_i, N_{i+1}, CA_{i+1}); n_ca_c_i = angle(N_i, CA_i, C_i);
/// ca_c_n_i = angle(CA_i, C_i, N_{i+1}); c_n_ca_i = angle(C_i, N_{i+1}, CA_{i+1}).
/// Undefined entries (phi_0; psi, omega, ca_c_n, c_n_ca of the last residue) are 0.0.
pub fn angles_from_backbone(b: &Backbone) -> Vec<Angles> {
    let n = b.len();
    (0..n)
        .map(|i| {
            let mut a = [0.0; 6];
            if i > 0 {
                a[0] = dihedral(&b.c[i - 1], &b.n[i], &b.ca[i], &b.c[i]);
            }
            a[3] = wrap_angle(angle(&b.n[i], &b.ca[i], &b.c[i]));
            if i + 1 < n {
                a[1] = dihedral(&b.n[i], &b.ca[i], &b.c[i], &b.n[i + 1]);
                a[2] = dihedral(&b.ca[i], &b.c[i], &b.n[i + 1], &b.ca[i + 1]);
                a[4] = wrap_angle(angle(&b.ca[i], &b.c[i], &b.n[i + 1]));
                a[5] = wrap_angle(angle(&b.c[i], &b.n[i + 1], &b.ca[i + 1]));
            }
            a
        })
        .collect()
}

/// NeRF (Parsons et al. 2005): the atom `d` bonded to `c` at `length`, with bond angle b-c-d
/// `theta` and torsion a-b-c-d `torsion`.
pub fn place(a: &Vec3, b: &Vec3, c: &Vec3, length: f64, theta: f64, torsion: f64) -> Vec3 {
    let bc = (c - b).normalize();
    let n = (b - a).cross(&bc).normalize();
    let m = n.cross(&bc);
    let d2 = [
        -length * theta.cos(),
        length * theta.sin() * torsion.cos(),
        length * theta.sin() * torsion.sin(),
    ];
    c + bc * d2[0] + m * d2[1] + n * d2[2]
}

/// Rebuilds N, CA, C with NeRF from the angles and the ideal bond lengths N–CA 1.458,
/// CA–C 1.525, C–N 1.329 Å. Residue 0 sits in a fixed frame: N at the origin, CA on +x, C in
/// the xy plane (its φ is not used). O_i is placed in the peptide plane, trans to N_{i+1}:
/// torsion N_i-CA_i-C_i-O_i = ψ_i + π, CA-C-O 120.5°, C=O 1.231 Å. The last residue's ψ is
/// undefined (0.0 by convention), so its O lands at N-CA-C-O = 180°; the real one differs,
/// which is why round-trip checks compare N, CA, C (and O of all but the last residue).
pub fn backbone_from_angles(id: &str, angles: &[Angles]) -> Backbone {
    let len = angles.len();
    let mut n = Vec::with_capacity(len);
    let mut ca = Vec::with_capacity(len);
    let mut c = Vec::with_capacity(len);
    if len > 0 {
        let theta = angles[0][3];
        n.push(Vec3::zeros());
        ca.push(Vec3::new(N_CA, 0.0, 0.0));
        c.push(Vec3::new(
            N_CA - CA_C * theta.cos(),
            CA_C * theta.sin(),
            0.0,
        ));
    }
    for i in 1..len {
        let (prev, cur) = (&angles[i - 1], &angles[i]);
        let ni = place(&n[i - 1], &ca[i - 1], &c[i - 1], C_N, prev[4], prev[1]);
        let cai = place(&ca[i - 1], &c[i - 1], &ni, N_CA, prev[5], prev[2]);
        let ci = place(&c[i - 1], &ni, &cai, CA_C, cur[3], cur[0]);
        n.push(ni);
        ca.push(cai);
        c.push(ci);
    }
    let theta_o = CA_C_O_DEG.to_radians();
    let o = (0..len)
        .map(|i| place(&n[i], &ca[i], &c[i], C_O, theta_o, angles[i][1] + PI))
        .collect();
    Backbone {
        id: id.to_string(),
        n,
        ca,
        c,
        o,
        sequence: None,
        dssp: None,
    }
}

/// The rigid motion that best maps one point set onto another (least squares).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Superposition {
    /// Proper rotation (determinant +1), applied first.
    pub rotation: Matrix3<f64>,
    /// Translation (Å), applied after the rotation.
    pub translation: Vec3,
}

impl Superposition {
    /// No motion.
    pub fn identity() -> Self {
        Superposition {
            rotation: Matrix3::identity(),
            translation: Vec3::zeros(),
        }
    }

    /// `p` moved: rotation · p + translation.
    pub fn apply(&self, p: &Vec3) -> Vec3 {
        self.rotation * p + self.translation
    }
}

/// Unweighted mean of the points (the origin for none).
pub fn centroid(points: &[Vec3]) -> Vec3 {
    if points.is_empty() {
        return Vec3::zeros();
    }
    points.iter().sum::<Vec3>() / points.len() as f64
}

/// Kabsch: the proper rotation (no reflection) and translation taking `a[k]` onto `b[k]`.
/// Only the first `min(a.len(), b.len())` points are paired.
pub fn kabsch(a: &[Vec3], b: &[Vec3]) -> Superposition {
    let k = a.len().min(b.len());
    if k == 0 {
        return Superposition::identity();
    }
    let (a, b) = (&a[..k], &b[..k]);
    let (ca, cb) = (centroid(a), centroid(b));
    let mut h = Matrix3::zeros();
    for (p, q) in a.iter().zip(b) {
        h += (p - ca) * (q - cb).transpose();
    }
    let svd = h.svd(true, true);
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return Superposition::identity();
    };
    let v = v_t.transpose();
    let d = (v * u.transpose()).determinant().signum();
    let mut correction = Matrix3::identity();
    correction[(2, 2)] = if d == 0.0 { 1.0 } else { d };
    let rotation = v * correction * u.transpose();
    Superposition {
        rotation,
        translation: cb - rotation * ca,
    }
}

/// RMSD between paired points after optimal superposition (0.0 for empty input).
pub fn kabsch_rmsd(a: &[Vec3], b: &[Vec3]) -> f64 {
    let k = a.len().min(b.len());
    if k == 0 {
        return 0.0;
    }
    let s = kabsch(a, b);
    let sum: f64 = a[..k]
        .iter()
        .zip(&b[..k])
        .map(|(p, q)| (s.apply(p) - q).norm_squared())
        .sum();
    (sum / k as f64).sqrt()
}

/// Radius of gyration (unweighted) of a point set, Å.
pub fn radius_of_gyration(points: &[Vec3]) -> f64 {
    if points.is_empty() {
        return 0.0;
    }
    let c = centroid(points);
    let sum: f64 = points.iter().map(|p| (p - c).norm_squared()).sum();
    (sum / points.len() as f64).sqrt()
}

/// N, CA, C (and O except the last residue's) of a backbone, in that order per residue: the
/// atoms whose positions the angles determine.
pub fn determined_atoms(b: &Backbone) -> Vec<Vec3> {
    let mut out = Vec::with_capacity(4 * b.len());
    for i in 0..b.len() {
        out.extend([b.n[i], b.ca[i], b.c[i]]);
        if i + 1 < b.len() {
            out.push(b.o[i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_stays_in_range() {
        for x in [-7.0, -PI, -1.0, 0.0, 1.0, PI, 7.0, 2.0 * PI - 1e-17] {
            let y = wrap_angle(x);
            assert!((-PI..PI).contains(&y), "{x} -> {y}");
            assert!(((x - y) / (2.0 * PI)).round() * 2.0 * PI - (x - y) < 1e-12);
        }
    }

    #[test]
    fn dihedral_sign_and_nerf_agree() {
        let a = Vec3::new(1.0, 0.3, -0.2);
        let b = Vec3::new(0.0, 0.0, 0.0);
        let c = Vec3::new(0.2, 1.4, 0.1);
        for t in [-2.5, -1.0, 0.0, 0.7, 3.0] {
            let d = place(&a, &b, &c, 1.5, 1.9, t);
            assert!((dihedral(&a, &b, &c, &d) - t).abs() < 1e-12);
            assert!((angle(&b, &c, &d) - 1.9).abs() < 1e-12);
            assert!(((d - c).norm() - 1.5).abs() < 1e-12);
        }
    }
}
