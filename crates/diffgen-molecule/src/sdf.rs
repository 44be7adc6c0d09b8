//! SDF (MDL V2000) writing and reading: atoms, coordinates and perceived bond orders.

use std::path::{Path, PathBuf};

use crate::elements::{atomic_number, symbol};
use crate::xyz::Molecule;

/// The largest magnitude a V2000 coordinate field (`%10.4f`) holds; farther atoms are
/// written at this bound, and their record says so in its `clamped_coordinates` field.
pub const MAX_COORDINATE: f64 = 9999.9999;

/// What one SDF record holds besides its atoms: bonds, formal charges, a name, data items.
#[derive(Debug, Clone, Default)]
pub struct SdfContents<'a> {
    /// Bonds `(i, j, order)`, 0-based, order 1–3.
    pub bonds: &'a [(usize, usize, u8)],
    /// One formal charge per atom (empty: all neutral).
    pub charges: &'a [i8],
    /// The record's first line.
    pub name: &'a str,
    /// Data items `> <key>` and their values, for a chemist to filter on.
    pub fields: &'a [(String, String)],
}

/// V2000's atom-block charge code: 0 uncharged, 1 = +3, 2 = +2, 3 = +1, 5 = −1, 6 = −2,
/// 7 = −3 (others: 0, with `M  CHG` carrying the charge).
fn charge_code(charge: i8) -> u8 {
    match charge {
        3 => 1,
        2 => 2,
        1 => 3,
        -1 => 5,
        -2 => 6,
        -3 => 7,
        _ => 0,
    }
}

/// One SDF (MDL V2000) record to the CTfile specification: header with the `3D` code in
/// columns 21–22, atom block with charge codes, bond block, `M  CHG` lines, `M  END`, data
/// items, `$$$$`. A coordinate beyond the field's width is written at ±[`MAX_COORDINATE`]
/// and flagged, never overflowing into its neighbour.
pub fn to_sdf_record(molecule: &Molecule, contents: &SdfContents<'_>) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(
        contents
            .name
            .replace(['\n', '\r'], " ")
            .chars()
            .take(80)
            .collect(),
    );
    // IIPPPPPPPPMMDDYYHHmmddSSssssssssssEEEEEEEEEEEERRRRRR: no user initials, program
    // `diffgen`, a fixed (zero) date so that the same seed writes the same bytes, `3D`.
    line(format!("  {:<8}{}3D", "diffgen", "0".repeat(10)));
    line(String::new());
    line(format!(
        "{:>3}{:>3}  0  0  0  0  0  0  0  0999 V2000",
        molecule.len(),
        contents.bonds.len()
    ));
    let mut clamped = 0usize;
    for (k, (&z, p)) in molecule.atoms.iter().zip(&molecule.positions).enumerate() {
        let mut c = [0.0; 3];
        for (slot, &v) in c.iter_mut().zip(p) {
            let bounded = if v.is_finite() {
                v.clamp(-MAX_COORDINATE, MAX_COORDINATE)
            } else {
                0.0
            };
            if bounded != v {
                clamped += 1;
            }
            *slot = bounded;
        }
        let charge = contents.charges.get(k).copied().unwrap_or(0);
        line(format!(
            "{:>10.4}{:>10.4}{:>10.4} {:<3} 0{:>3}  0  0  0  0  0  0  0  0  0  0",
            c[0],
            c[1],
            c[2],
            symbol(z),
            charge_code(charge)
        ));
    }
    for &(i, j, order) in contents.bonds {
        line(format!("{:>3}{:>3}{:>3}  0", i + 1, j + 1, order));
    }
    let charged: Vec<(usize, i8)> = contents
        .charges
        .iter()
        .enumerate()
        .filter(|(_, &c)| c != 0)
        .map(|(i, &c)| (i + 1, c))
        .collect();
    for chunk in charged.chunks(8) {
        let mut text = format!("M  CHG{:>3}", chunk.len());
        for (atom, charge) in chunk {
            text.push_str(&format!(" {atom:>3} {charge:>3}"));
        }
        line(text);
    }
    line("M  END".into());
    let mut fields = contents.fields.to_vec();
    if clamped > 0 {
        fields.push((
            "clamped_coordinates".into(),
            format!("{clamped} coordinate(s) beyond ±{MAX_COORDINATE} Å written at that bound"),
        ));
    }
    for (key, value) in &fields {
        line(format!("> <{key}>"));
        line(value.replace(['\n', '\r'], " "));
        line(String::new());
    }
    line("$$$$".into());
    out
}

/// A malformed SDF file: the file, the record (1-based; 0 for the file as a whole) and the
/// line (1-based, of the file).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct SdfError {
    /// The file.
    pub path: PathBuf,
    /// The record, 1-based (0: the file as a whole).
    pub record: usize,
    /// The line of the file, 1-based (not shown when `record` is 0).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl SdfError {
    fn describe(&self) -> String {
        if self.record == 0 {
            format!("{}: {}", self.path.display(), self.reason)
        } else {
            format!(
                "{}, record {}, line {}: {}",
                self.path.display(),
                self.record,
                self.line,
                self.reason
            )
        }
    }
}

/// Columns `a..b` of a fixed-width line, trimmed (empty past its end).
fn field(s: &str, a: usize, b: usize) -> &str {
    s.get(a..b.min(s.len())).map(str::trim).unwrap_or("")
}

/// A parsed record: the molecule, its bonds and its formal charges.
#[derive(Debug, Clone, PartialEq)]
pub struct SdfRecord {
    /// Atoms and coordinates; the record's name as the comment.
    pub molecule: Molecule,
    /// Bonds `(i, j, order)`, i < j, 0-based.
    pub bonds: Vec<(usize, usize, u8)>,
    /// One formal charge per atom: `M  CHG` where the record has it (it supersedes the
    /// atom block, as the specification says), else the atom block's charge codes.
    pub charges: Vec<i8>,
}

/// Reads V2000 records: atoms, coordinates, bonds and formal charges are kept; the rest of
/// the properties block and the data items are checked but not kept. Every line of a record is accounted for: a line that
/// does not parse is an error naming the file, record and line, never skipped in silence.
/// A file without any record is an error (`<file>: no molecules`).
pub fn parse_sdf(text: &str, path: &Path) -> Result<Vec<SdfRecord>, SdfError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i..].iter().all(|l| l.trim().is_empty()) {
            break;
        }
        let record = records.len() + 1;
        let (parsed, next) = parse_record(&lines, i, |line: usize, reason: String| SdfError {
            path: path.to_path_buf(),
            record,
            line,
            reason,
        })?;
        records.push(parsed);
        i = next;
    }
    if records.is_empty() {
        return Err(SdfError {
            path: path.to_path_buf(),
            record: 0,
            line: 0,
            reason: "no molecules".into(),
        });
    }
    Ok(records)
}

/// Reads an SDF file (see [`parse_sdf`]); errors name the file.
pub fn read_sdf(path: &Path) -> Result<Vec<SdfRecord>, SdfError> {
    let text = std::fs::read_to_string(path).map_err(|e| SdfError {
        path: path.to_path_buf(),
        record: 0,
        line: 0,
        reason: e.to_string(),
    })?;
    parse_sdf(&text, path)
}

/// One record starting at line index `start`: the record and the index of the line after it.
fn parse_record(
    lines: &[&str],
    start: usize,
    err: impl Fn(usize, String) -> SdfError,
) -> Result<(SdfRecord, usize), SdfError> {
    let name = lines[start].trim().to_string();
    let counts_at = start + 3;
    let counts = lines.get(counts_at).ok_or_else(|| {
        err(
            lines.len() + 1,
            "the record ends before its counts line (line 4 of the record)".into(),
        )
    })?;
    if !counts.contains("V2000") {
        return Err(err(
            counts_at + 1,
            "only V2000 records are supported (no `V2000` on the counts line)".into(),
        ));
    }
    let count = |a: usize, what: &str| -> Result<usize, SdfError> {
        field(counts, a, a + 3).parse().map_err(|_| {
            err(
                counts_at + 1,
                format!("bad {what} count `{}`", field(counts, a, a + 3)),
            )
        })
    };
    let n_atoms = count(0, "atom")?;
    let n_bonds = count(3, "bond")?;
    if n_atoms == 0 {
        return Err(err(counts_at + 1, "a record with 0 atoms".into()));
    }
    // The counts are the file's claim: check them against the lines it holds before
    // allocating for them.
    let available = lines.len() - (counts_at + 1);
    if n_atoms + n_bonds > available {
        return Err(err(
            counts_at + 1,
            format!(
                "the counts line declares {n_atoms} atoms and {n_bonds} bonds, but the file ends after {available} more line(s)"
            ),
        ));
    }
    let mut molecule = Molecule {
        atoms: Vec::with_capacity(n_atoms),
        positions: Vec::with_capacity(n_atoms),
        comment: name,
    };
    let mut charges = Vec::with_capacity(n_atoms);
    for k in 0..n_atoms {
        let at = counts_at + 1 + k;
        let line = lines[at];
        let mut p = [0.0; 3];
        for (c, slot) in p.iter_mut().enumerate() {
            let s = field(line, 10 * c, 10 * c + 10);
            *slot = s
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| err(at + 1, format!("coordinate `{s}` is not a finite number")))?;
        }
        let sym = field(line, 31, 34);
        let z =
            atomic_number(sym).ok_or_else(|| err(at + 1, format!("unknown element `{sym}`")))?;
        // Mass difference (-3..+4) and charge code (0..7), when present.
        let mass = field(line, 34, 36);
        if !mass.is_empty() && mass.parse::<i8>().is_err() {
            return Err(err(
                at + 1,
                format!("mass difference `{mass}` is not an integer"),
            ));
        }
        let charge = field(line, 36, 39);
        let code = match charge {
            "" => 0,
            c => match c.parse::<u8>() {
                Ok(code @ 0..=7) => code,
                _ => return Err(err(at + 1, format!("charge code `{charge}` is not 0..7"))),
            },
        };
        // 4 is a doublet radical, not a charge.
        charges.push(match code {
            1 => 3,
            2 => 2,
            3 => 1,
            5 => -1,
            6 => -2,
            7 => -3,
            _ => 0,
        });
        molecule.atoms.push(z);
        molecule.positions.push(p);
    }
    let mut bonds = Vec::with_capacity(n_bonds);
    for k in 0..n_bonds {
        let at = counts_at + 1 + n_atoms + k;
        let line = lines[at];
        let a: usize = field(line, 0, 3).parse().map_err(|_| {
            err(
                at + 1,
                format!("bad first atom of a bond in `{}`", line.trim()),
            )
        })?;
        let b: usize = field(line, 3, 6).parse().map_err(|_| {
            err(
                at + 1,
                format!("bad second atom of a bond in `{}`", line.trim()),
            )
        })?;
        let order: u8 = field(line, 6, 9)
            .parse()
            .map_err(|_| err(at + 1, format!("bad bond order in `{}`", line.trim())))?;
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
    let (after, listed) = properties(lines, counts_at + 1 + n_atoms + n_bonds, n_atoms, &err)?;
    if let Some(listed) = listed {
        charges = vec![0; n_atoms];
        for (atom, charge) in listed {
            charges[atom - 1] = charge;
        }
    }
    let next = data_items(lines, after, &err)?;
    Ok((
        SdfRecord {
            molecule,
            bonds,
            charges,
        },
        next,
    ))
}

/// `M  CHG` entries: (1-based atom, charge).
type ListedCharges = Vec<(usize, i8)>;

/// The properties block from line index `i` through `M  END`; returns the index after it
/// and the `M  CHG` entries `(atom, charge)` (1-based atoms), if there were any lines.
///
/// `M  CHG`, `M  RAD` and `M  ISO` are parsed (an entry count of 1..8, then that many
/// atom/value pairs, atoms in range); charges are kept, radicals and isotopes are not;
/// the V2000 forms `A  ` (alias, two lines), `V  ` (atom value), `G  ` (group abbreviation,
/// two lines) and `S  SKPnnn` (skip `nnn` lines) are recognised. Other `M  XXX` lines are
/// ignored once they have that shape: the CTfile spec defines several dozen property types
/// (Sgroups, R-groups, query, polymer and 3-D features, `M  ZZC` …) and vendors add their
/// own; they annotate the structure but never change its atoms, coordinates or bonds, which
/// is all this reader returns, and readers such as RDKit and Open Babel likewise pass over the
/// types they do not know. Anything else — a line that is not a property line, a malformed
/// `CHG`/`RAD`/`ISO`, or a record without `M  END` — is an error.
fn properties(
    lines: &[&str],
    mut i: usize,
    n_atoms: usize,
    err: &impl Fn(usize, String) -> SdfError,
) -> Result<(usize, Option<ListedCharges>), SdfError> {
    let mut charges: Option<ListedCharges> = None;
    loop {
        let Some(&line) = lines.get(i) else {
            return Err(err(
                lines.len() + 1,
                "the file ends before the record's `M  END` line".into(),
            ));
        };
        let at = i + 1;
        let atom_index = |s: &str| -> Result<usize, SdfError> {
            s.parse::<usize>()
                .ok()
                .filter(|&a| (1..=n_atoms).contains(&a))
                .ok_or_else(|| {
                    err(
                        at,
                        format!("`{s}` is not an atom of the {n_atoms} in the record"),
                    )
                })
        };
        if line.trim_end() == "M  END" {
            return Ok((i + 1, charges));
        }
        if line.trim() == "$$$$" {
            return Err(err(at, "the record has no `M  END` line".into()));
        }
        if let Some(kind) = ["CHG", "RAD", "ISO"]
            .into_iter()
            .find(|k| line.starts_with(&format!("M  {k}")))
        {
            let tokens: Vec<&str> = line[6..].split_whitespace().collect();
            let n = tokens
                .first()
                .and_then(|t| t.parse::<usize>().ok())
                .filter(|n| (1..=8).contains(n))
                .ok_or_else(|| {
                    err(
                        at,
                        format!(
                            "`M  {kind}` needs an entry count of 1..8, found `{}`",
                            line.trim_end()
                        ),
                    )
                })?;
            if tokens.len() != 1 + 2 * n {
                return Err(err(
                    at,
                    format!(
                        "`M  {kind}` declares {n} entries (atom, value pairs), the line holds {} value(s): `{}`",
                        tokens.len() - 1,
                        line.trim_end()
                    ),
                ));
            }
            for pair in tokens[1..].chunks(2) {
                let atom = atom_index(pair[0])?;
                if let ("CHG", Ok(v @ -15..=15)) = (kind, pair[1].parse::<i32>()) {
                    charges.get_or_insert_with(Vec::new).push((atom, v as i8));
                }
                let ok = match (kind, pair[1].parse::<i32>()) {
                    ("CHG", Ok(v)) => (-15..=15).contains(&v),
                    ("RAD", Ok(v)) => (0..=3).contains(&v),
                    ("ISO", Ok(v)) => v > 0,
                    _ => false,
                };
                if !ok {
                    return Err(err(
                        at,
                        format!(
                            "`M  {kind}` value `{}` for atom {} is not valid",
                            pair[1], pair[0]
                        ),
                    ));
                }
            }
            i += 1;
        } else if line.starts_with("M  ") {
            let tag = line.get(3..6).unwrap_or("");
            if tag.len() != 3 || !tag.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(err(
                    at,
                    format!(
                        "`{}` is not a V2000 property line (`M  XXX …`)",
                        line.trim_end()
                    ),
                ));
            }
            // Documented above: a property type we do not model.
            i += 1;
        } else if line.starts_with("A  ") || line.starts_with("G  ") {
            atom_index(field(line, 3, 6))?;
            if i + 1 >= lines.len() {
                return Err(err(
                    at,
                    "the file ends before the second line of this entry".into(),
                ));
            }
            i += 2;
        } else if line.starts_with("V  ") {
            atom_index(field(line, 3, 6))?;
            i += 1;
        } else if line.starts_with("S  SKP") {
            let n: usize = field(line, 6, 9).parse().map_err(|_| {
                err(
                    at,
                    format!("bad `S  SKP` line count in `{}`", line.trim_end()),
                )
            })?;
            if n > lines.len() - i - 1 {
                return Err(err(
                    at,
                    format!(
                        "`S  SKP` skips {n} lines, but the file ends after {}",
                        lines.len() - i - 1
                    ),
                ));
            }
            i += 1 + n;
        } else {
            return Err(err(
                at,
                format!(
                    "`{}` is not a V2000 property line (expected `M  XXX …`, `A  `, `V  `, `G  `, `S  SKP` or `M  END`)",
                    line.trim_end()
                ),
            ));
        }
    }
}

/// The SD data items after `M  END` (`> <name>` header, value lines, a blank line) up to the
/// `$$$$` separator; returns the index after it. The last record may end with the file
/// instead, when nothing but blank lines follows its `M  END` (a MOL file).
fn data_items(
    lines: &[&str],
    mut i: usize,
    err: &impl Fn(usize, String) -> SdfError,
) -> Result<usize, SdfError> {
    let mut in_item = false;
    let mut any_item = false;
    while let Some(&line) = lines.get(i) {
        if line.trim_end() == "$$$$" {
            return Ok(i + 1);
        }
        if in_item {
            in_item = !line.trim().is_empty();
        } else if line.starts_with('>') {
            in_item = true;
            any_item = true;
        } else if !line.trim().is_empty() {
            return Err(err(
                i + 1,
                format!(
                    "expected a data header (`> <name>`) or `$$$$` after `M  END`, found `{}`",
                    line.trim_end()
                ),
            ));
        }
        i += 1;
    }
    if any_item {
        return Err(err(
            lines.len() + 1,
            "the record has no `$$$$` terminator".into(),
        ));
    }
    Ok(i)
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

    fn plain<'a>(bonds: &'a [(usize, usize, u8)], name: &'a str) -> SdfContents<'a> {
        SdfContents {
            bonds,
            name,
            ..SdfContents::default()
        }
    }

    #[test]
    fn round_trip_through_the_reader() {
        let w = water();
        let bonds = crate::bonds::perceive_bonds(&w);
        let text = to_sdf_record(&w, &plain(&bonds, "water"))
            + &to_sdf_record(&w, &plain(&bonds, "water 2"));
        let back = parse_sdf(&text, Path::new("w.sdf")).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].molecule.atoms, w.atoms);
        assert_eq!(back[0].bonds, bonds);
        assert_eq!(back[0].charges, vec![0, 0, 0]);
        assert_eq!(back[1].molecule.comment, "water 2");
        for (p, q) in back[0].molecule.positions.iter().zip(&w.positions) {
            for k in 0..3 {
                assert!((p[k] - q[k]).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn the_header_charges_and_data_items_follow_the_specification() {
        // Hydroxide: O− and H, with a data item.
        let m = Molecule {
            atoms: vec![8, 1],
            positions: vec![[0.0, 0.0, 0.0], [0.97, 0.0, 0.0]],
            comment: String::new(),
        };
        let fields = vec![("formula".to_string(), "HO".to_string())];
        let text = to_sdf_record(
            &m,
            &SdfContents {
                bonds: &[(0, 1, 1)],
                charges: &[-1, 0],
                name: "hydroxide",
                fields: &fields,
            },
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            &lines[1][20..22],
            "3D",
            "columns 21–22 of the header: {:?}",
            lines[1]
        );
        assert_eq!(
            &lines[4][36..39],
            "  5",
            "atom-block charge code of O−: {:?}",
            lines[4]
        );
        assert!(lines.contains(&"M  CHG  1   1  -1"), "{text}");
        assert!(text.contains("> <formula>\nHO\n\n$$$$"), "{text}");
        let back = parse_sdf(&text, Path::new("oh.sdf")).unwrap();
        assert_eq!(back[0].charges, vec![-1, 0]);
        // M  CHG supersedes the atom block.
        let edited = text.replace("M  CHG  1   1  -1", "M  CHG  1   2   1");
        assert_eq!(
            parse_sdf(&edited, Path::new("oh.sdf")).unwrap()[0].charges,
            vec![0, 1]
        );
    }

    #[test]
    fn far_atoms_are_clamped_and_flagged_not_overflowed() {
        let mut w = water();
        w.positions[2] = [51365.1, -0.5, 3.0];
        let text = to_sdf_record(&w, &plain(&[], "exploded"));
        let atom = text.lines().nth(6).unwrap();
        assert_eq!(&atom[0..10], " 9999.9999", "{atom}");
        assert_eq!(&atom[10..20], "   -0.5000", "{atom}");
        assert!(text.contains("> <clamped_coordinates>"), "{text}");
        assert_eq!(
            parse_sdf(&text, Path::new("x.sdf")).unwrap()[0]
                .molecule
                .len(),
            3
        );
    }

    #[test]
    fn malformed_records_name_the_line() {
        let w = water();
        let good = to_sdf_record(&w, &plain(&crate::bonds::perceive_bonds(&w), "water"));
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
                "line 4",
                "declares 3 atoms and 2 bonds, but the file ends after 1 more line",
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
