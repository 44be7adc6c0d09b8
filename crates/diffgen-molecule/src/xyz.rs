//! XYZ files: plain and multi-frame XYZ, the original per-molecule QM9 files (a Mulliken
//! column, Mathematica `*^` exponents, three trailing lines), and gzip-compressed versions.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::elements::{atomic_number, symbol};

/// One molecule: atomic numbers and positions in Å.
#[derive(Debug, Clone, PartialEq)]
pub struct Molecule {
    /// Atomic number of every atom.
    pub atoms: Vec<u8>,
    /// Position of every atom, in Å.
    pub positions: Vec<[f64; 3]>,
    /// The comment line (QM9: `gdb <idx>` and the properties).
    pub comment: String,
}

impl Molecule {
    /// Number of atoms.
    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    /// Whether it has no atoms.
    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }

    /// The unweighted mean position (EDM centres on it, not on the mass).
    pub fn centroid(&self) -> [f64; 3] {
        let n = self.len().max(1) as f64;
        let mut c = [0.0; 3];
        for p in &self.positions {
            for k in 0..3 {
                c[k] += p[k] / n;
            }
        }
        c
    }

    /// The molecule moved so that its [`centroid`](Self::centroid) is the origin.
    pub fn centered(mut self) -> Self {
        let c = self.centroid();
        for p in &mut self.positions {
            for k in 0..3 {
                p[k] -= c[k];
            }
        }
        self
    }

    /// Hill-order formula, e.g. `C2H6O`.
    pub fn formula(&self) -> String {
        let mut counts = std::collections::BTreeMap::new();
        for &z in &self.atoms {
            *counts.entry(symbol(z)).or_insert(0usize) += 1;
        }
        let mut out = String::new();
        for key in ["C", "H"] {
            if let Some(n) = counts.remove(key) {
                out.push_str(key);
                if n > 1 {
                    out.push_str(&n.to_string());
                }
            }
        }
        for (key, n) in counts {
            out.push_str(key);
            if n > 1 {
                out.push_str(&n.to_string());
            }
        }
        out
    }
}

/// An XYZ file that cannot be read; messages name the file (and frame and line).
#[derive(Debug, thiserror::Error)]
pub enum XyzError {
    /// Reading the file failed, or its gzip stream or UTF-8 text is damaged.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        // Part of the message; not named `source`, so not repeated by error chains.
        error: std::io::Error,
    },
    /// A frame that does not parse.
    #[error("{path}, frame {frame}, line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The frame, 1-based.
        frame: usize,
        /// The line, 1-based.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// The file holds no frame at all (empty, or only blank lines).
    #[error("{path}: no molecules")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a (multi-)XYZ file, gunzipping `*.gz`.
pub fn read_xyz(path: &Path) -> Result<Vec<Molecule>, XyzError> {
    let io = |source| XyzError::Io {
        path: path.to_path_buf(),
        error: source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut s)
            .map_err(io)?;
        s
    } else {
        String::from_utf8(bytes)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?
    };
    parse_xyz(&text, path)
}

/// Parses `N`, a comment line and `N` atom lines per frame. An atom line is an element
/// symbol (or atomic number) and three coordinates, optionally followed by more columns
/// (QM9's Mulliken charge). After a QM9 frame (`gdb …` comment) up to three trailing lines
/// (frequencies, SMILES, InChI) are skipped.
pub fn parse_xyz(text: &str, path: &Path) -> Result<Vec<Molecule>, XyzError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut molecules = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let frame = molecules.len() + 1;
        let err = |line: usize, reason: String| XyzError::Parse {
            path: path.to_path_buf(),
            frame,
            line,
            reason,
        };
        let head = lines[i].trim();
        if head.is_empty() {
            i += 1;
            continue;
        }
        let n: usize = match head.parse() {
            Ok(n) => n,
            Err(_) => {
                return Err(err(
                    i + 1,
                    format!("expected the atom count of a frame, found `{head}`"),
                ));
            }
        };
        if n == 0 {
            return Err(err(i + 1, "a frame with 0 atoms".into()));
        }
        let comment = lines
            .get(i + 1)
            .map(|s| s.trim().to_string())
            .ok_or_else(|| err(i + 2, "the file ends before the comment line".into()))?;
        // The count is the file's claim: check it against the lines that follow before
        // anything is allocated for them (a header of 10^18 atoms must not abort).
        let available = lines.len() - (i + 2);
        if n > available {
            return Err(err(
                i + 1,
                format!("the frame declares {n} atoms, but the file ends after {available} of {n} atoms"),
            ));
        }
        let mut atoms = Vec::with_capacity(n);
        let mut positions = Vec::with_capacity(n);
        for k in 0..n {
            let line_no = i + 3 + k;
            let line = lines
                .get(i + 2 + k)
                .ok_or_else(|| err(line_no, format!("the file ends after {k} of {n} atoms")))?;
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 4 {
                return Err(err(
                    line_no,
                    format!("expected `element x y z`, found `{}`", line.trim()),
                ));
            }
            let z = atomic_number(fields[0])
                .or_else(|| {
                    fields[0]
                        .parse::<u8>()
                        .ok()
                        .filter(|&z| z > 0 && (z as usize) < 54)
                })
                .ok_or_else(|| err(line_no, format!("unknown element `{}`", fields[0])))?;
            let mut p = [0.0; 3];
            for (c, field) in fields[1..4].iter().enumerate() {
                p[c] = parse_number(field)
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        err(
                            line_no,
                            format!("coordinate `{field}` is not a finite number"),
                        )
                    })?;
            }
            atoms.push(z);
            positions.push(p);
        }
        i += 2 + n;
        if comment.starts_with("gdb") {
            // The original QM9 files end with frequencies, SMILES and InChI lines.
            let mut skipped = 0;
            while skipped < 3 && i < lines.len() && lines[i].trim().parse::<usize>().is_err() {
                i += 1;
                skipped += 1;
            }
        }
        molecules.push(Molecule {
            atoms,
            positions,
            comment,
        });
    }
    if molecules.is_empty() {
        return Err(XyzError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(molecules)
}

/// A float, accepting Mathematica's `1.2*^-5`.
fn parse_number(s: &str) -> Option<f64> {
    if s.contains("*^") {
        s.replace("*^", "e").parse().ok()
    } else {
        s.parse().ok()
    }
}

/// Multi-frame XYZ text.
pub fn to_xyz(molecules: &[Molecule]) -> String {
    let mut out = String::new();
    for m in molecules {
        writeln!(out, "{}", m.len()).expect("String write");
        writeln!(out, "{}", m.comment.replace('\n', " ")).expect("String write");
        for (z, p) in m.atoms.iter().zip(&m.positions) {
            writeln!(
                out,
                "{:<2} {:>12.6} {:>12.6} {:>12.6}",
                symbol(*z),
                p[0],
                p[1],
                p[2]
            )
            .expect("String write");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const QM9_ORIGINAL: &str = "5\ngdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\t\nC\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689\nH\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921\nH\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922\nH\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923\nH\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923\n1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078\nC\tC\t\nInChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4\n";

    #[test]
    fn reads_an_original_qm9_file() {
        let text = QM9_ORIGINAL.replace("0.133921", "1.33921*^-1");
        let mols = parse_xyz(&text, Path::new("dsgdb9nsd_000001.xyz")).unwrap();
        assert_eq!(mols.len(), 1);
        assert_eq!(mols[0].atoms, vec![6, 1, 1, 1, 1]);
        assert!((mols[0].positions[0][1] - 1.0858041578).abs() < 1e-12);
        assert_eq!(mols[0].formula(), "CH4");
    }

    #[test]
    fn multi_frame_round_trip() {
        let a = Molecule {
            atoms: vec![8, 1, 1],
            positions: vec![
                [0.0, 0.0, 0.1173],
                [0.0, 0.7572, -0.4692],
                [0.0, -0.7572, -0.4692],
            ],
            comment: "water".into(),
        };
        let b = Molecule {
            atoms: vec![6, 8],
            positions: vec![[0.0, 0.0, 0.0], [1.128, 0.0, 0.0]],
            comment: "carbon monoxide".into(),
        };
        let text = to_xyz(&[a.clone(), b.clone()]);
        let back = parse_xyz(&text, Path::new("x.xyz")).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].atoms, a.atoms);
        assert_eq!(back[1].comment, b.comment);
        for (p, q) in back[0].positions.iter().zip(&a.positions) {
            for k in 0..3 {
                assert!((p[k] - q[k]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn malformed_files_name_frame_and_line() {
        let path = Path::new("bad.xyz");
        let cases = [
            (
                "2\nc\nC 0 0 0\nXx 1 0 0\n",
                "line 4",
                "unknown element `Xx`",
            ),
            (
                "2\nc\nC 0 0 0\n",
                "line 1",
                "declares 2 atoms, but the file ends after 1 of 2 atoms",
            ),
            ("1\nc\nC 0 zero 0\n", "line 3", "`zero`"),
            ("1\nc\nC 0 0\n", "line 3", "expected `element x y z`"),
            (
                "1\nc\nC 0 0 0\nnot a count\n",
                "frame 2, line 4",
                "atom count",
            ),
            ("1\nc\nC 0 0 nan\n", "line 3", "finite"),
            ("0\nc\n", "line 1", "0 atoms"),
        ];
        for (text, place, what) in cases {
            let msg = parse_xyz(text, path).unwrap_err().to_string();
            assert!(
                msg.contains("bad.xyz") && msg.contains(place) && msg.contains(what),
                "{msg}"
            );
        }
    }
}
