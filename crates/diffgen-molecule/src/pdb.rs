//! PDB output through pdbtbx: one HETATM residue `MOL` per molecule, plus CONECT records
//! (pdbtbx writes none), one per neighbour and repeated for double and triple bonds as
//! Open Babel and PyMOL read them.

use std::io::BufWriter;

use pdbtbx::{Atom, Model, StrictnessLevel, PDB};

use crate::elements::symbol;
use crate::xyz::Molecule;

/// PDB text of a molecule with its bonds `(i, j, order)`.
pub fn to_pdb(
    molecule: &Molecule,
    bonds: &[(usize, usize, u8)],
    title: &str,
) -> Result<String, String> {
    let mut pdb = PDB::new();
    pdb.identifier = Some("DGEN".to_string());
    pdb.add_remark(2, title.to_string())
        .map_err(|e| e.to_string())?;
    let mut model = Model::new(1);
    let mut counts = std::collections::HashMap::new();
    for (i, (&z, p)) in molecule.atoms.iter().zip(&molecule.positions).enumerate() {
        let element = symbol(z);
        let k = counts.entry(element).or_insert(0usize);
        *k += 1;
        // Names like C1, H12: element plus its running number, at most 4 characters.
        let name = format!("{element}{}", *k % 1000);
        let atom = Atom::new(true, i + 1, name, p[0], p[1], p[2], 1.0, 0.0, element, 0)
            .ok_or_else(|| format!("atom {} cannot be written to PDB", i + 1))?;
        model.add_atom(atom, "A", (1, None), ("MOL", None));
    }
    pdb.add_model(model);
    let mut buffer = Vec::new();
    pdbtbx::save_pdb_raw(&pdb, BufWriter::new(&mut buffer), StrictnessLevel::Loose);
    let text = String::from_utf8(buffer).map_err(|e| e.to_string())?;
    let body = text
        .trim_end()
        .strip_suffix("END")
        .unwrap_or(text.trim_end())
        .trim_end();
    let mut out = String::from(body);
    out.push('\n');
    let mut neighbours = vec![Vec::new(); molecule.len()];
    for &(i, j, order) in bonds {
        for _ in 0..order {
            neighbours[i].push(j + 1);
            neighbours[j].push(i + 1);
        }
    }
    for (i, list) in neighbours.iter().enumerate() {
        for chunk in list.chunks(4) {
            out.push_str(&format!("CONECT{:>5}", i + 1));
            for n in chunk {
                out.push_str(&format!("{n:>5}"));
            }
            out.push('\n');
        }
    }
    out.push_str("END\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = to_pdb(&m, &bonds, "formaldehyde").unwrap();
        assert!(text.contains("HETATM"));
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
    }
}
