//! A SMILES reader for the constitution of small organic molecules (OpenSMILES syntax):
//! enough for the QM9 index and for comparing perceived structures with reference SMILES.
//! It lives in the library, not in test code, so that data loaders can use it too.
//!
//! Read: the organic subset `B C N O P S F Cl Br I` and aromatic `b c n o p s`, bracket atoms
//! (isotope, element, chirality, H count, charge, atom class), branches, ring closures (`1`,
//! `%12`), bonds `- = # : / \` and `.`. Stereo marks (`/ \ @`) and isotopes are read and
//! dropped; implicit hydrogens follow the standard valences (B 3, C 4, N 3 or 5, O 2, P 3
//! or 5, S 2, 4 or 6, halogens 1; an aromatic atom counts one extra bond).

use std::collections::HashMap;

use crate::elements::atomic_number;

/// A bond as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmilesBond {
    /// `-`, `/`, `\`, or no symbol between atoms that are not both aromatic.
    Single,
    /// `=`.
    Double,
    /// `#`.
    Triple,
    /// `:`, or no symbol between two aromatic atoms.
    Aromatic,
}

impl SmilesBond {
    /// The integer order; None for aromatic bonds, which have none in a Kekulé sense.
    pub fn order(self) -> Option<u8> {
        match self {
            SmilesBond::Single => Some(1),
            SmilesBond::Double => Some(2),
            SmilesBond::Triple => Some(3),
            SmilesBond::Aromatic => None,
        }
    }

    /// What the bond counts towards an atom's valence for implicit hydrogens.
    fn valence(self) -> u8 {
        self.order().unwrap_or(1)
    }
}

/// An atom as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmilesAtom {
    /// Atomic number.
    pub element: u8,
    /// Written in lower case (`c`, `[nH]`).
    pub aromatic: bool,
    /// Formal charge (bracket atoms only; 0 otherwise).
    pub charge: i8,
    /// Implicit or bracket hydrogens (not counting `[H]` atoms written as atoms).
    pub hydrogens: u8,
}

/// A parsed SMILES: atoms in the order written and bonds `(i, j, bond)` with i < j.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Smiles {
    /// The atoms; hydrogens written as atoms (`[H]`) are among them.
    pub atoms: Vec<SmilesAtom>,
    /// `(i, j, bond)` with i < j, indices into `atoms`.
    pub bonds: Vec<(usize, usize, SmilesBond)>,
}

/// A SMILES that does not parse; `position` is the 1-based character it fails at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SMILES `{smiles}`, character {position}: {reason}")]
pub struct SmilesError {
    /// The whole SMILES.
    pub smiles: String,
    /// The 1-based character it fails at.
    pub position: usize,
    /// What is wrong there.
    pub reason: String,
}

/// The valences an organic-subset atom may have, for implicit hydrogens.
fn default_valences(z: u8) -> &'static [u8] {
    match z {
        5 => &[3],
        6 => &[4],
        7 | 15 => &[3, 5],
        8 => &[2],
        16 => &[2, 4, 6],
        9 | 17 | 35 | 53 => &[1],
        _ => &[],
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    out: Smiles,
    /// Bracket atoms keep their written H count; the others get implicit ones at the end.
    bracket: Vec<bool>,
}

/// Parses a SMILES string (see the module docs for what is read).
pub fn parse_smiles(text: &str) -> Result<Smiles, SmilesError> {
    Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
        out: Smiles::default(),
        bracket: Vec::new(),
    }
    .run()
}

impl Parser<'_> {
    fn error(&self, at: usize, reason: impl Into<String>) -> SmilesError {
        SmilesError {
            smiles: self.text.to_string(),
            position: at + 1,
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn run(mut self) -> Result<Smiles, SmilesError> {
        if self.bytes.is_empty() {
            return Err(self.error(0, "empty SMILES"));
        }
        // The atom the next one bonds to, the bond symbol waiting for it (with its position),
        // open branches and open rings.
        let mut previous: Option<usize> = None;
        let mut pending: Option<(SmilesBond, usize)> = None;
        let mut branches: Vec<(usize, usize)> = Vec::new();
        let mut rings: HashMap<u32, (usize, Option<SmilesBond>, usize)> = HashMap::new();
        while let Some(c) = self.peek() {
            let start = self.at;
            match c {
                b'(' => {
                    let Some(p) = previous else {
                        return Err(self.error(start, "a branch must follow an atom"));
                    };
                    if pending.is_some() {
                        return Err(self.error(start, "a bond symbol before `(`"));
                    }
                    branches.push((p, start));
                    self.at += 1;
                }
                b')' => {
                    let Some((p, _)) = branches.pop() else {
                        return Err(self.error(start, "`)` without `(`"));
                    };
                    if pending.is_some() {
                        return Err(self.error(start, "a bond symbol without an atom after it"));
                    }
                    previous = Some(p);
                    self.at += 1;
                }
                b'-' | b'=' | b'#' | b':' | b'/' | b'\\' => {
                    if previous.is_none() {
                        return Err(self.error(start, "a bond must follow an atom"));
                    }
                    if pending.is_some() {
                        return Err(self.error(start, "two bond symbols in a row"));
                    }
                    let bond = match c {
                        b'=' => SmilesBond::Double,
                        b'#' => SmilesBond::Triple,
                        b':' => SmilesBond::Aromatic,
                        _ => SmilesBond::Single,
                    };
                    pending = Some((bond, start));
                    self.at += 1;
                }
                b'$' => return Err(self.error(start, "quadruple bonds are not supported")),
                b'.' => {
                    if pending.is_some() {
                        return Err(self.error(start, "a bond symbol before `.`"));
                    }
                    if previous.is_none() {
                        return Err(self.error(start, "`.` must follow an atom"));
                    }
                    previous = None;
                    self.at += 1;
                }
                b'0'..=b'9' | b'%' => {
                    let number = self.ring_number()?;
                    let Some(p) = previous else {
                        return Err(self.error(start, "a ring closure must follow an atom"));
                    };
                    let written = pending.take().map(|(b, _)| b);
                    match rings.remove(&number) {
                        None => {
                            rings.insert(number, (p, written, start));
                        }
                        Some((other, opened, _)) => {
                            let bond = match (opened, written) {
                                (Some(a), Some(b)) if a != b => {
                                    return Err(self.error(
                                        start,
                                        format!(
                                        "ring {number} is opened and closed with different bonds"
                                    ),
                                    ))
                                }
                                (Some(a), _) | (None, Some(a)) => a,
                                (None, None) => self.default_bond(other, p),
                            };
                            self.add_bond(other, p, bond, start)?;
                        }
                    }
                }
                _ => {
                    let atom = self.atom()?;
                    if let Some(p) = previous {
                        let bond = match pending.take() {
                            Some((b, _)) => b,
                            None => self.default_bond(p, atom),
                        };
                        self.add_bond(p, atom, bond, start)?;
                    }
                    previous = Some(atom);
                }
            }
        }
        if let Some((_, at)) = pending {
            return Err(self.error(at, "a bond symbol without an atom after it"));
        }
        if let Some(&(_, at)) = branches.last() {
            return Err(self.error(at, "`(` is never closed"));
        }
        if let Some((number, &(_, _, at))) = rings.iter().min_by_key(|(_, r)| r.2) {
            return Err(self.error(at, format!("ring {number} is never closed")));
        }
        self.implicit_hydrogens();
        Ok(self.out)
    }

    /// `d` or `%dd`.
    fn ring_number(&mut self) -> Result<u32, SmilesError> {
        let start = self.at;
        if self.peek() == Some(b'%') {
            let digits = self.bytes.get(start + 1..start + 3);
            match digits {
                Some(d) if d.iter().all(u8::is_ascii_digit) => {
                    self.at += 3;
                    Ok(((d[0] - b'0') * 10 + (d[1] - b'0')) as u32)
                }
                _ => Err(self.error(start, "`%` must be followed by two digits")),
            }
        } else {
            self.at += 1;
            Ok((self.bytes[start] - b'0') as u32)
        }
    }

    fn default_bond(&self, a: usize, b: usize) -> SmilesBond {
        match self.out.atoms[a].aromatic && self.out.atoms[b].aromatic {
            true => SmilesBond::Aromatic,
            false => SmilesBond::Single,
        }
    }

    fn add_bond(
        &mut self,
        a: usize,
        b: usize,
        bond: SmilesBond,
        at: usize,
    ) -> Result<(), SmilesError> {
        let (i, j) = (a.min(b), a.max(b));
        if i == j {
            return Err(self.error(at, "an atom bonded to itself"));
        }
        if self.out.bonds.iter().any(|&(x, y, _)| (x, y) == (i, j)) {
            return Err(self.error(at, "two bonds between the same atoms"));
        }
        self.out.bonds.push((i, j, bond));
        Ok(())
    }

    fn push_atom(&mut self, atom: SmilesAtom, bracket: bool) -> usize {
        self.out.atoms.push(atom);
        self.bracket.push(bracket);
        self.out.atoms.len() - 1
    }

    /// An organic-subset or bracket atom at the cursor.
    fn atom(&mut self) -> Result<usize, SmilesError> {
        let start = self.at;
        let c = self.bytes[start];
        if c == b'[' {
            return self.bracket_atom();
        }
        let two = self.bytes.get(start..start + 2);
        let (element, aromatic, len) = match (c, two) {
            (b'C', Some(b"Cl")) => (17, false, 2),
            (b'B', Some(b"Br")) => (35, false, 2),
            (b'B', _) => (5, false, 1),
            (b'C', _) => (6, false, 1),
            (b'N', _) => (7, false, 1),
            (b'O', _) => (8, false, 1),
            (b'F', _) => (9, false, 1),
            (b'P', _) => (15, false, 1),
            (b'S', _) => (16, false, 1),
            (b'I', _) => (53, false, 1),
            (b'b', _) => (5, true, 1),
            (b'c', _) => (6, true, 1),
            (b'n', _) => (7, true, 1),
            (b'o', _) => (8, true, 1),
            (b'p', _) => (15, true, 1),
            (b's', _) => (16, true, 1),
            _ => {
                let shown = self.text[start..].chars().next().unwrap_or('?');
                return Err(self.error(start, format!("unexpected `{shown}`")));
            }
        };
        self.at += len;
        Ok(self.push_atom(
            SmilesAtom {
                element,
                aromatic,
                charge: 0,
                hydrogens: 0,
            },
            false,
        ))
    }

    fn digits(&mut self) -> Option<u32> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start).then(|| {
            self.text[start..self.at].bytes().fold(0u32, |n, d| {
                n.saturating_mul(10).saturating_add((d - b'0') as u32)
            })
        })
    }

    /// `[` isotope? symbol chirality? hcount? charge? class? `]`.
    fn bracket_atom(&mut self) -> Result<usize, SmilesError> {
        let open = self.at;
        self.at += 1;
        self.digits(); // isotope: dropped
        let start = self.at;
        let (element, aromatic) = self.bracket_symbol()?;
        if element == 0 {
            return Err(self.error(start, "an element symbol was expected"));
        }
        // Chirality: `@`, `@@`, `@TH1`, `@OH12` …
        while self.peek() == Some(b'@') {
            self.at += 1;
        }
        if self.at > start && self.bytes[self.at - 1] == b'@' {
            let class = self.bytes.get(self.at..self.at + 2);
            if matches!(class, Some(b"TH" | b"AL" | b"SP" | b"TB" | b"OH")) {
                self.at += 2;
                self.digits();
            }
        }
        let mut hydrogens = 0;
        if self.peek() == Some(b'H') {
            self.at += 1;
            hydrogens = self.digits().unwrap_or(1);
        }
        let mut charge: i32 = 0;
        if let Some(sign @ (b'+' | b'-')) = self.peek() {
            let unit = if sign == b'+' { 1 } else { -1 };
            self.at += 1;
            charge = unit;
            if let Some(n) = self.digits() {
                charge = unit * n.min(99) as i32;
            } else {
                while self.peek() == Some(sign) {
                    self.at += 1;
                    charge += unit;
                }
            }
        }
        if self.peek() == Some(b':') {
            self.at += 1;
            if self.digits().is_none() {
                return Err(self.error(self.at, "an atom class needs digits after `:`"));
            }
        }
        if self.peek() != Some(b']') {
            return Err(self.error(
                self.at,
                format!("`]` expected to close the `[` at {}", open + 1),
            ));
        }
        self.at += 1;
        if hydrogens > 9 || !(-15..=15).contains(&charge) {
            return Err(self.error(open, "hydrogen count or charge out of range"));
        }
        Ok(self.push_atom(
            SmilesAtom {
                element,
                aromatic,
                charge: charge as i8,
                hydrogens: hydrogens as u8,
            },
            true,
        ))
    }

    /// An element symbol in brackets; lowercase means aromatic (`c`, `n`, `se`, `as` …).
    fn bracket_symbol(&mut self) -> Result<(u8, bool), SmilesError> {
        let start = self.at;
        let Some(c) = self.peek() else {
            return Err(self.error(start, "the SMILES ends inside `[`"));
        };
        for (text, z) in [("se", 34), ("as", 33)] {
            if self.bytes[start..].starts_with(text.as_bytes()) {
                self.at += 2;
                return Ok((z, true));
            }
        }
        if matches!(c, b'b' | b'c' | b'n' | b'o' | b'p' | b's') {
            self.at += 1;
            let upper = (c.to_ascii_uppercase() as char).to_string();
            return Ok((atomic_number(&upper).unwrap_or(0), true));
        }
        if !c.is_ascii_uppercase() {
            return Err(self.error(start, "an element symbol was expected"));
        }
        // The longest symbol that is an element: `Cl` before `C`.
        if let Some(&next) = self.bytes.get(start + 1) {
            if next.is_ascii_lowercase() {
                if let Some(z) = atomic_number(&self.text[start..start + 2]) {
                    self.at += 2;
                    return Ok((z, false));
                }
            }
        }
        match atomic_number(&self.text[start..start + 1]) {
            Some(z) => {
                self.at += 1;
                Ok((z, false))
            }
            None => Err(self.error(start, "unknown element")),
        }
    }

    /// Organic-subset atoms get hydrogens up to the smallest standard valence that covers
    /// their bonds (aromatic atoms count one more bond).
    fn implicit_hydrogens(&mut self) {
        let mut bonded = vec![0u8; self.out.atoms.len()];
        for &(i, j, b) in &self.out.bonds {
            bonded[i] += b.valence();
            bonded[j] += b.valence();
        }
        for (k, atom) in self.out.atoms.iter_mut().enumerate() {
            if self.bracket[k] {
                continue;
            }
            let used = bonded[k] + atom.aromatic as u8;
            atom.hydrogens = default_valences(atom.element)
                .iter()
                .find(|&&v| v >= used)
                .map_or(0, |&v| v - used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hydrogens(s: &str) -> Vec<u8> {
        parse_smiles(s)
            .unwrap()
            .atoms
            .iter()
            .map(|a| a.hydrogens)
            .collect()
    }

    #[test]
    fn implicit_hydrogens_follow_the_standard_valences() {
        assert_eq!(hydrogens("C"), vec![4]);
        assert_eq!(hydrogens("CC=O"), vec![3, 1, 0]);
        assert_eq!(hydrogens("C#N"), vec![1, 0]);
        assert_eq!(hydrogens("NC(=O)O"), vec![2, 0, 0, 1]);
        assert_eq!(hydrogens("FC(F)F"), vec![0, 1, 0, 0]);
        assert_eq!(hydrogens("CN(=O)=O"), vec![3, 0, 0, 0]); // N at valence 5
        assert_eq!(hydrogens("c1ccccc1"), vec![1; 6]);
        assert_eq!(hydrogens("c1cc[nH]c1"), vec![1, 1, 1, 1, 1]);
        assert_eq!(hydrogens("c1ccoc1"), vec![1, 1, 1, 0, 1]);
        assert_eq!(hydrogens("ClCBr"), vec![0, 2, 0]);
    }

    #[test]
    fn brackets_branches_and_rings() {
        let s = parse_smiles("[NH3+]CC([O-])=O").unwrap();
        let charges: Vec<i8> = s.atoms.iter().map(|a| a.charge).collect();
        assert_eq!(charges, vec![1, 0, 0, -1, 0]);
        assert_eq!(s.atoms[0].hydrogens, 3);
        assert_eq!(s.atoms[3].hydrogens, 0);
        assert_eq!(
            s.bonds,
            vec![
                (0, 1, SmilesBond::Single),
                (1, 2, SmilesBond::Single),
                (2, 3, SmilesBond::Single),
                (2, 4, SmilesBond::Double),
            ]
        );
        // Ring closures, %nn, a bond on the closure and the isocyanide.
        let s = parse_smiles("C1CC%12C1C=%12").unwrap();
        assert!(s.bonds.contains(&(0, 3, SmilesBond::Single)));
        assert!(s.bonds.contains(&(2, 4, SmilesBond::Double)));
        let s = parse_smiles("C[N+]#[C-]").unwrap();
        assert_eq!(s.atoms[2].charge, -1);
        assert_eq!(s.atoms[2].hydrogens, 0);
        assert_eq!(s.bonds[1], (1, 2, SmilesBond::Triple));
        let s = parse_smiles("[CH-]1C=C1").unwrap();
        assert_eq!((s.atoms[0].charge, s.atoms[0].hydrogens), (-1, 1));
        // Charges in every spelling; aromatic bonds by default between aromatic atoms.
        for (text, q) in [("[N++]", 2), ("[O--]", -2), ("[Fe+3]", 3), ("[13CH4]", 0)] {
            assert_eq!(parse_smiles(text).unwrap().atoms[0].charge, q, "{text}");
        }
        let s = parse_smiles("c1ccccc1C").unwrap();
        assert_eq!(s.bonds[0].2, SmilesBond::Aromatic);
        assert_eq!(s.bonds.last().unwrap().2, SmilesBond::Single);
    }

    #[test]
    fn stereo_is_read_and_dropped() {
        let plain = parse_smiles("FC=CF").unwrap();
        assert_eq!(parse_smiles("F/C=C\\F").unwrap(), plain);
        let chiral = parse_smiles("N[C@@H](C)C(=O)O").unwrap();
        assert_eq!(chiral, parse_smiles("N[CH](C)C(=O)O").unwrap());
        assert_eq!(chiral.atoms[1].hydrogens, 1);
        assert_eq!(
            parse_smiles("[C@TH1H](F)(Cl)Br").unwrap().atoms[0].hydrogens,
            1
        );
        // Disconnected parts.
        let s = parse_smiles("[Na+].[Cl-]").unwrap();
        assert_eq!(s.atoms.len(), 2);
        assert!(s.bonds.is_empty());
    }

    #[test]
    fn errors_name_the_position() {
        let cases = [
            ("", 1, "empty"),
            ("C(C", 2, "never closed"),
            ("CC)", 3, "without `(`"),
            ("C1CC", 2, "ring 1 is never closed"),
            ("C=", 2, "without an atom"),
            ("CX", 2, "unexpected `X`"),
            ("C[NH3", 6, "`]` expected"),
            ("C[Xx]", 3, "unknown element"),
            ("C==C", 3, "two bond symbols"),
            ("C=1CC-1", 7, "different bonds"),
            ("C11", 3, "bonded to itself"),
            ("C%1C", 2, "two digits"),
            ("(C)", 1, "must follow an atom"),
            ("Cé", 2, "unexpected `é`"),
            ("[Cé]", 3, "`]` expected"),
        ];
        for (text, position, what) in cases {
            let err = parse_smiles(text).unwrap_err();
            assert_eq!(err.position, position, "{text}: {err}");
            assert!(err.to_string().contains(what), "{text}: {err}");
        }
    }
}
