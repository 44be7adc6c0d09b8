//! Chemical elements and a model's element vocabulary.

use serde::{Deserialize, Serialize};

/// Symbols by atomic number (index = Z), up to iodine: enough for QM9 and GEOM-Drugs.
const SYMBOLS: [&str; 54] = [
    "", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S",
    "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge",
    "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd",
    "In", "Sn", "Sb", "Te", "I",
];

/// The atomic number of an element symbol (case-insensitive: `CL` and `cl` are chlorine).
pub fn atomic_number(symbol: &str) -> Option<u8> {
    SYMBOLS
        .iter()
        .position(|s| !s.is_empty() && s.eq_ignore_ascii_case(symbol))
        .map(|z| z as u8)
}

/// The symbol of atomic number `z`: `X` beyond iodine (53), empty for 0.
pub fn symbol(z: u8) -> &'static str {
    SYMBOLS.get(z as usize).copied().unwrap_or("X")
}

/// The elements a model knows, in one-hot order (sorted by atomic number, as EDM does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Vocabulary {
    numbers: Vec<u8>,
}

impl Vocabulary {
    /// QM9 with hydrogens: H, C, N, O, F.
    pub fn qm9() -> Self {
        Self {
            numbers: vec![1, 6, 7, 8, 9],
        }
    }

    /// Number of elements: the width of the one-hot.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether it has no element (a vocabulary read from a config never is).
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// The one-hot index of atomic number `z`.
    pub fn index_of(&self, z: u8) -> Option<usize> {
        self.numbers.iter().position(|&n| n == z)
    }

    /// The atomic number at one-hot index `index` (panics when out of range).
    pub fn number(&self, index: usize) -> u8 {
        self.numbers[index]
    }

    /// The atomic numbers, in one-hot order.
    pub fn numbers(&self) -> &[u8] {
        &self.numbers
    }

    /// The element symbols, in one-hot order.
    pub fn symbols(&self) -> Vec<&'static str> {
        self.numbers.iter().map(|&z| symbol(z)).collect()
    }
}

impl TryFrom<Vec<String>> for Vocabulary {
    type Error = String;

    fn try_from(symbols: Vec<String>) -> Result<Self, String> {
        let mut numbers = Vec::with_capacity(symbols.len());
        for s in &symbols {
            let z = atomic_number(s).ok_or_else(|| format!("unknown element `{s}`"))?;
            if numbers.contains(&z) {
                return Err(format!("element `{s}` listed twice"));
            }
            numbers.push(z);
        }
        if numbers.is_empty() {
            return Err("the element list is empty".into());
        }
        numbers.sort_unstable();
        Ok(Self { numbers })
    }
}

impl From<Vocabulary> for Vec<String> {
    fn from(v: Vocabulary) -> Self {
        v.symbols().into_iter().map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_round_trip() {
        for z in 1..SYMBOLS.len() as u8 {
            assert_eq!(atomic_number(symbol(z)), Some(z));
        }
        assert_eq!(atomic_number("cl"), Some(17));
        assert_eq!(atomic_number("Xx"), None);
        assert_eq!(atomic_number(""), None);
    }

    #[test]
    fn vocabulary_is_sorted_by_atomic_number() {
        let v = Vocabulary::try_from(vec!["O".to_string(), "H".into(), "C".into()]).unwrap();
        assert_eq!(v.numbers(), &[1, 6, 8]);
        assert!(Vocabulary::try_from(vec!["Q".to_string()]).is_err());
        assert!(Vocabulary::try_from(vec!["H".to_string(), "H".into()]).is_err());
    }
}
