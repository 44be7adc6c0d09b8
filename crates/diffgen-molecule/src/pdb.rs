//! PDB files of small molecules, in the wwPDB format's fixed columns: one HETATM residue
//! `MOL` per molecule, formal charges in columns 79–80, and CONECT records (one per
//! neighbour, repeated for double and triple bonds as Open Babel and PyMOL read them).
//! The reader takes what the writer writes (and ATOM lines), so `eval` reads `run`'s PDBs.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::elements::{atomic_number, symbol};
use crate::perceive::Perceived;
use crate::xyz::Molecule;

/// A PDB file that cannot be read as one molecule: the file, the line and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map_or(String::new(), |l| format!(":{l}")))]
pub struct PdbError {
    /// The file's path, as displayed.
    pub file: String,
    /// The 1-based line (None: the file as a whole).
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// The range a PDB coordinate field (`%8.3f`) holds; farther atoms are written at its bound
/// and a REMARK says so.
pub const COORDINATE_RANGE: (f64, f64) = (-999.999, 9999.999);

/// The most atoms a PDB file numbers (serials have 5 columns).
pub const MAX_ATOMS: usize = 99_999;

/// PDB text of a molecule with its bonds `(i, j, order)` and formal charges (empty: none).
pub fn to_pdb(
    molecule: &Molecule,
    bonds: &[(usize, usize, u8)],
    charges: &[i8],
    title: &str,
) -> Result<String, String> {
    if molecule.len() > MAX_ATOMS {
        return Err(format!(
            "{} atoms: a PDB file numbers at most {MAX_ATOMS}",
            molecule.len()
        ));
    }
    let mut out = String::new();
    let title: String = title.replace(['\n', '\r'], " ").chars().take(70).collect();
    writeln!(out, "COMPND    {title}").expect("String write");
    let (low, high) = COORDINATE_RANGE;
    let clamped = molecule
        .positions
        .iter()
        .flatten()
        .filter(|v| !(low..=high).contains(*v))
        .count();
    if clamped > 0 {
        writeln!(
            out,
            "REMARK   1 {clamped} COORDINATE(S) OUTSIDE THE PDB FIELD WRITTEN AT ITS BOUND"
        )
        .expect("String write");
    }
    let mut counts = std::collections::HashMap::new();
    for (i, (&z, p)) in molecule.atoms.iter().zip(&molecule.positions).enumerate() {
        let element = symbol(z);
        let k = counts.entry(element).or_insert(0usize);
        *k += 1;
        // Names like C1, H12 (at most 4 characters); a one-letter element starts in column
        // 14, as the format aligns element symbols.
        let number = (*k % 1000).to_string();
        let name = if element.len() == 1 && number.len() < 3 {
            format!(" {element}{number}")
        } else {
            format!("{element}{number}")
        };
        let c = p.map(|v| {
            if v.is_finite() {
                v.clamp(low, high)
            } else {
                0.0
            }
        });
        let charge = match charges.get(i).copied().unwrap_or(0) {
            0 => "  ".to_string(),
            q if q > 0 => format!("{q}+"),
            q => format!("{}-", -q),
        };
        writeln!(
            out,
            "HETATM{:>5} {:<4} MOL A   1    {:>8.3}{:>8.3}{:>8.3}{:>6.2}{:>6.2}          {:>2}{}",
            i + 1,
            name,
            c[0],
            c[1],
            c[2],
            1.0,
            0.0,
            element.to_uppercase(),
            charge
        )
        .expect("String write");
    }
    let mut neighbours = vec![Vec::new(); molecule.len()];
    for &(i, j, order) in bonds {
        for _ in 0..order {
            neighbours[i].push(j + 1);
            neighbours[j].push(i + 1);
        }
    }
    for (i, list) in neighbours.iter().enumerate() {
        for chunk in list.chunks(4) {
            let mut line = format!("CONECT{:>5}", i + 1);
            for n in chunk {
                write!(line, "{n:>5}").expect("String write");
            }
            writeln!(out, "{line}").expect("String write");
        }
    }
    out.push_str("END\n");
    Ok(out)
}

/// Reads one molecule with its CONECT bonds (an order per repetition) and formal charges.
pub fn parse_pdb(text: &str, path: &Path) -> Result<(Molecule, Perceived), PdbError> {
    let error = |line: Option<usize>, message: String| PdbError {
        file: path.display().to_string(),
        line,
        message,
    };
    let mut molecule = Molecule {
        atoms: Vec::new(),
        positions: Vec::new(),
        comment: String::new(),
    };
    let mut charges = Vec::new();
    let mut serials: HashMap<u32, usize> = HashMap::new();
    // Times each atom's records list each neighbour: (from, to) → count.
    let mut listed: HashMap<(usize, usize), u8> = HashMap::new();
    for (k, line) in text.lines().enumerate() {
        let n = k + 1;
        let field = |a: usize, b: usize| line.get(a..b.min(line.len())).unwrap_or("").trim();
        match line.get(..6).unwrap_or(line).trim_end() {
            "COMPND" | "TITLE" if molecule.comment.is_empty() => {
                molecule.comment = field(10, 80).to_string();
            }
            "ATOM" | "HETATM" => {
                let serial: u32 = field(6, 11)
                    .parse()
                    .map_err(|_| error(Some(n), format!("bad atom serial `{}`", field(6, 11))))?;
                let mut xyz = [0.0; 3];
                for (d, v) in xyz.iter_mut().enumerate() {
                    let text = field(30 + 8 * d, 38 + 8 * d);
                    *v = text
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| error(Some(n), format!("bad coordinate `{text}`")))?;
                }
                // The element from columns 77–78, else from the atom name: its columns
                // 13–14 hold the symbol right-justified (`CL1 ` is chlorine, ` C1 ` carbon).
                let element = match field(76, 78) {
                    "" => {
                        let head: String = line
                            .get(12..14)
                            .unwrap_or("")
                            .chars()
                            .filter(|c| c.is_ascii_alphabetic())
                            .collect();
                        match atomic_number(&head) {
                            Some(_) => head,
                            None => head.chars().take(1).collect(),
                        }
                    }
                    e => e.to_string(),
                };
                let z = atomic_number(&element)
                    .ok_or_else(|| error(Some(n), format!("unknown element `{element}`")))?;
                let charge = match field(78, 80) {
                    "" => 0,
                    c if !c.is_ascii() => {
                        return Err(error(Some(n), format!("bad charge `{c}` in columns 79–80")))
                    }
                    c => {
                        let (digit, sign) = c.split_at(c.len() - 1);
                        let magnitude: i8 = digit.parse().map_err(|_| {
                            error(Some(n), format!("bad charge `{c}` in columns 79–80"))
                        })?;
                        match sign {
                            "+" => magnitude,
                            "-" => -magnitude,
                            _ => {
                                return Err(error(
                                    Some(n),
                                    format!("bad charge `{c}` in columns 79–80"),
                                ))
                            }
                        }
                    }
                };
                if serials.insert(serial, molecule.len()).is_some() {
                    return Err(error(
                        Some(n),
                        format!("atom serial {serial} appears twice"),
                    ));
                }
                molecule.atoms.push(z);
                molecule.positions.push(xyz);
                charges.push(charge);
            }
            "CONECT" => {
                let atom = |a: usize| -> Result<Option<usize>, PdbError> {
                    let text = field(a, a + 5);
                    if text.is_empty() {
                        return Ok(None);
                    }
                    let serial: u32 = text
                        .parse()
                        .map_err(|_| error(Some(n), format!("bad serial `{text}` in CONECT")))?;
                    serials.get(&serial).copied().map(Some).ok_or_else(|| {
                        error(
                            Some(n),
                            format!("CONECT names atom {serial}, which is not in the file"),
                        )
                    })
                };
                let Some(from) = atom(6)? else {
                    return Err(error(Some(n), "CONECT without an atom".into()));
                };
                for a in [11, 16, 21, 26] {
                    if let Some(to) = atom(a)? {
                        if to == from {
                            return Err(error(Some(n), "an atom bonded to itself".into()));
                        }
                        *listed.entry((from, to)).or_insert(0) += 1;
                    }
                }
            }
            "END" | "ENDMDL" => break,
            _ => {}
        }
    }
    if molecule.is_empty() {
        return Err(error(None, "no ATOM or HETATM records".into()));
    }
    // Each side lists the bond once per order; a file may list it on one side only.
    let mut orders: HashMap<(usize, usize), u8> = HashMap::new();
    for (&(from, to), &count) in &listed {
        let key = (from.min(to), from.max(to));
        let order = orders.entry(key).or_insert(0);
        *order = (*order).max(count);
    }
    let mut bonds = Vec::with_capacity(orders.len());
    for ((i, j), order) in orders {
        if order > 3 {
            return Err(error(
                None,
                format!(
                    "atoms {} and {} are listed {order} times in CONECT",
                    i + 1,
                    j + 1
                ),
            ));
        }
        bonds.push((i, j, order));
    }
    bonds.sort_unstable();
    Ok((molecule, Perceived { bonds, charges }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdbtbx::StrictnessLevel;

    #[test]
    fn pdbtbx_reads_the_file_back() {
        let m = Molecule {
            atoms: vec![6, 8, 1, 1],
            positions: vec![
                [0.0, 0.0, 0.0],
                [1.21, 0.0, 0.0],
                [-0.55, 0.94, 0.0],
                [-0.55, -0.94, 0.0],
            ],
            comment: "formaldehyde".into(),
        };
        let bonds = crate::bonds::perceive_bonds(&m);
        assert_eq!(bonds.len(), 3);
        let text = to_pdb(&m, &bonds, &[], "formaldehyde").unwrap();
        // Standard columns: serial right-aligned in 7–11, name from 13, residue number in
        // 23–26, coordinates from 31, element right-aligned in 77–78.
        let first = text.lines().find(|l| l.starts_with("HETATM")).unwrap();
        assert_eq!(&first[6..11], "    1", "{first}");
        assert_eq!(&first[12..16], " C1 ", "{first}");
        assert_eq!(&first[17..20], "MOL", "{first}");
        assert_eq!(&first[22..26], "   1", "{first}");
        assert_eq!(&first[30..38], "   0.000", "{first}");
        assert_eq!(&first[76..78], " C", "{first}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("CONECT    1    2    2    3")),
            "{text}"
        );
        let mut options = pdbtbx::ReadOptions::new();
        options
            .set_format(pdbtbx::Format::Pdb)
            .set_level(StrictnessLevel::Loose);
        let (pdb, _warnings) = options
            .read_raw(std::io::BufReader::new(text.as_bytes()))
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        assert_eq!(pdb.atom_count(), 4);
        let atoms: Vec<_> = pdb.atoms().collect();
        assert_eq!(atoms[1].element().map(|e| e.symbol()), Some("O"));
        assert!((atoms[1].x() - 1.21).abs() < 1e-3);
        // And our reader gets the molecule, its double bond and its charges back.
        let (read, structure) = parse_pdb(&text, Path::new("formaldehyde.pdb")).unwrap();
        assert_eq!(read.atoms, m.atoms);
        assert_eq!(structure.bonds, bonds);
        assert_eq!(structure.charges, vec![0; 4]);
        assert_eq!(read.comment, "formaldehyde");
    }

    #[test]
    fn bad_pdbs_name_the_line() {
        let path = Path::new("bad.pdb");
        let good = to_pdb(
            &Molecule {
                atoms: vec![8, 1],
                positions: vec![[0.0; 3], [0.96, 0.0, 0.0]],
                comment: String::new(),
            },
            &[(0, 1, 1)],
            &[-1, 0],
            "hydroxide",
        )
        .unwrap();
        let (_, s) = parse_pdb(&good, path).unwrap();
        assert_eq!(s.charges, vec![-1, 0]);
        let missing = good.replace("CONECT    1    2", "CONECT    1    7");
        let e = parse_pdb(&missing, path).unwrap_err().to_string();
        assert!(e.starts_with("bad.pdb:") && e.contains("atom 7"), "{e}");
        // A bond listed on one side only is still a bond.
        let one_sided: String = good
            .lines()
            .filter(|l| !l.starts_with("CONECT    2"))
            .map(|l| format!("{l}\n"))
            .collect();
        let (_, s) = parse_pdb(&one_sided, path).unwrap();
        assert_eq!(s.bonds, vec![(0, 1, 1)]);
        // Two-letter elements from the atom name; a non-ASCII charge is an error, not a panic.
        let chlorine = "HETATM    1 CL1  MOL A   1       0.000   0.000   0.000  1.00  0.00\nEND\n";
        let (m, _) = parse_pdb(chlorine, path).unwrap();
        assert_eq!(m.atoms, vec![17]);
        let odd = "HETATM    1  O1  MOL A   1       0.000   0.000   0.000  1.00  0.00           O\u{e9}\nEND\n";
        assert!(parse_pdb(odd, path)
            .unwrap_err()
            .to_string()
            .contains("bad charge"));
        let nan = good.replacen("   0.000", "     nan", 1);
        let e = parse_pdb(&nan, path).unwrap_err().to_string();
        assert!(e.contains("bad coordinate"), "{e}");
        assert!(parse_pdb("REMARK nothing\n", path).is_err());
    }
}

#[cfg(test)]
mod charge_tests {
    use super::*;

    #[test]
    fn charges_go_to_columns_79_80_and_far_atoms_are_flagged() {
        let m = Molecule {
            atoms: vec![8, 1],
            positions: vec![[0.0, 0.0, 0.0], [12345.0, 0.0, 0.0]],
            comment: String::new(),
        };
        let text = to_pdb(&m, &[(0, 1, 1)], &[-1, 0], "hydroxide").unwrap();
        let atoms: Vec<&str> = text.lines().filter(|l| l.starts_with("HETATM")).collect();
        assert_eq!(&atoms[0][78..80], "1-", "{}", atoms[0]);
        assert_eq!(&atoms[1][30..38], "9999.999", "{}", atoms[1]);
        assert!(text.contains("REMARK   1 1 COORDINATE"), "{text}");
    }
}
