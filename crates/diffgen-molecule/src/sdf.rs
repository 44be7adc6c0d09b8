//! SDF (MDL V2000) writing and reading: atoms, coordinates and perceived bond orders.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::elements::{atomic_number, symbol};
use crate::xyz::Molecule;

/// One SDF record.
pub fn to_sdf_record(molecule: &Molecule, bonds: &[(usize, usize, u8)], name: &str) -> String {
    let mut out = String::new();
    writeln!(out, "{}", name.replace('\n', " ")).expect("String write");
    writeln!(out, "  diffgen 3D").expect("String write");
    writeln!(out).expect("String write");
    writeln!(
        out,
        "{:>3}{:>3}  0  0  0  0  0  0  0  0999 V2000",
        molecule.len(),
        bonds.len()
    )
    .expect("String write");
    for (&z, p) in molecule.atoms.iter().zip(&molecule.positions) {
        writeln!(
            out,
            "{:>10.4}{:>10.4}{:>10.4} {:<3} 0  0  0  0  0  0  0  0  0  0  0  0",
            p[0],
            p[1],
            p[2],
            symbol(z)
        )
        .expect("String write");
    }
    for &(i, j, order) in bonds {
        writeln!(out, "{:>3}{:>3}{:>3}  0", i + 1, j + 1, order).expect("String write");
    }
    out.push_str("M  END\n$$$$\n");
    out
}

#[derive(Debug, thiserror::Error)]
#[error("{path}, record {record}, line {line}: {reason}")]
pub struct SdfError {
    pub path: PathBuf,
    pub record: usize,
    pub line: usize,
    pub reason: String,
}

/// Columns `a..b` of a fixed-width line, trimmed (empty past its end).
fn field(s: &str, a: usize, b: usize) -> &str {
    s.get(a..b.min(s.len())).map(str::trim).unwrap_or("")
}

/// A parsed record: the molecule and its bonds.
pub type SdfRecord = (Molecule, Vec<(usize, usize, u8)>);

/// Reads V2000 records (atoms, coordinates, bonds; properties are skipped).
pub fn parse_sdf(text: &str, path: &Path) -> Result<Vec<SdfRecord>, SdfError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i..].iter().all(|l| l.trim().is_empty()) {
            break;
        }
        let record = records.len() + 1;
        let err = |line: usize, reason: String| SdfError {
            path: path.to_path_buf(),
            record,
            line,
            reason,
        };
        let name = lines[i].trim().to_string();
        let counts_at = i + 3;
        let counts = lines.get(counts_at).ok_or_else(|| {
            err(
                counts_at + 1,
                "the record ends before its counts line".into(),
            )
        })?;
        if !counts.contains("V2000") {
            return Err(err(
                counts_at + 1,
                "only V2000 records are supported (no `V2000` on the counts line)".into(),
            ));
        }
        let n_atoms: usize = field(counts, 0, 3).parse().map_err(|_| {
            err(
                counts_at + 1,
                format!("bad atom count `{}`", field(counts, 0, 3)),
            )
        })?;
        let n_bonds: usize = field(counts, 3, 6).parse().map_err(|_| {
            err(
                counts_at + 1,
                format!("bad bond count `{}`", field(counts, 3, 6)),
            )
        })?;
        let mut molecule = Molecule {
            atoms: Vec::with_capacity(n_atoms),
            positions: Vec::with_capacity(n_atoms),
            comment: name,
        };
        for k in 0..n_atoms {
            let at = counts_at + 1 + k;
            let line = lines.get(at).ok_or_else(|| {
                err(
                    at + 1,
                    format!("the record ends after {k} of {n_atoms} atoms"),
                )
            })?;
            let mut p = [0.0; 3];
            for (c, slot) in p.iter_mut().enumerate() {
                let s = field(line, 10 * c, 10 * c + 10);
                *slot = s
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| err(at + 1, format!("coordinate `{s}` is not a number")))?;
            }
            let sym = field(line, 31, 34);
            let z = atomic_number(sym)
                .ok_or_else(|| err(at + 1, format!("unknown element `{sym}`")))?;
            molecule.atoms.push(z);
            molecule.positions.push(p);
        }
        let mut bonds = Vec::with_capacity(n_bonds);
        for k in 0..n_bonds {
            let at = counts_at + 1 + n_atoms + k;
            let line = lines.get(at).ok_or_else(|| {
                err(
                    at + 1,
                    format!("the record ends after {k} of {n_bonds} bonds"),
                )
            })?;
            let a: usize = field(line, 0, 3)
                .parse()
                .map_err(|_| err(at + 1, "bad first atom of a bond".into()))?;
            let b: usize = field(line, 3, 6)
                .parse()
                .map_err(|_| err(at + 1, "bad second atom of a bond".into()))?;
            let order: u8 = field(line, 6, 9)
                .parse()
                .map_err(|_| err(at + 1, "bad bond order".into()))?;
            if a == 0 || b == 0 || a > n_atoms || b > n_atoms || a == b {
                return Err(err(
                    at + 1,
                    format!("bond {a}–{b} does not join two of the {n_atoms} atoms"),
                ));
            }
            if !(1..=3).contains(&order) {
                return Err(err(at + 1, format!("bond order {order} is not 1, 2 or 3")));
            }
            bonds.push(((a - 1).min(b - 1), (a - 1).max(b - 1), order));
        }
        // Skip properties up to the record separator.
        i = counts_at + 1 + n_atoms + n_bonds;
        while i < lines.len() && lines[i].trim() != "$$$$" {
            i += 1;
        }
        if i >= lines.len() && !text.trim_end().ends_with("M  END") {
            return Err(err(i, "the record has no `$$$$` terminator".into()));
        }
        i += 1;
        records.push((molecule, bonds));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn water() -> Molecule {
        Molecule {
            atoms: vec![8, 1, 1],
            positions: vec![
                [0.0, 0.0, 0.1173],
                [0.0, 0.7572, -0.4692],
                [0.0, -0.7572, -0.4692],
            ],
            comment: "water".into(),
        }
    }

    #[test]
    fn round_trip_through_the_reader() {
        let w = water();
        let bonds = crate::bonds::perceive_bonds(&w);
        let text = to_sdf_record(&w, &bonds, "water") + &to_sdf_record(&w, &bonds, "water 2");
        let back = parse_sdf(&text, Path::new("w.sdf")).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0.atoms, w.atoms);
        assert_eq!(back[0].1, bonds);
        assert_eq!(back[1].0.comment, "water 2");
        for (p, q) in back[0].0.positions.iter().zip(&w.positions) {
            for k in 0..3 {
                assert!((p[k] - q[k]).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn malformed_records_name_the_line() {
        let w = water();
        let good = to_sdf_record(&w, &crate::bonds::perceive_bonds(&w), "water");
        let cases = [
            (good.replace(" O  ", " Qq "), "line 5", "unknown element"),
            (
                good.replace("  1  2  1  0", "  1  9  1  0"),
                "line 8",
                "does not join",
            ),
            (good.replace("V2000", "V3000"), "line 4", "V2000"),
            (
                good.lines().take(5).collect::<Vec<_>>().join("\n"),
                "line 6",
                "ends after 1 of 3 atoms",
            ),
        ];
        for (text, place, what) in cases {
            let msg = parse_sdf(&text, Path::new("bad.sdf"))
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains("bad.sdf") && msg.contains(place) && msg.contains(what),
                "{msg}"
            );
        }
    }
}
