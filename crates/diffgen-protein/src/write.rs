//! Writing backbones as PDB and mmCIF through pdbtbx, in a shape the usual tools accept:
//! chain `A`, residues 1..L, atoms N CA C O, a HEADER and a CRYST1 line (mkdssp 4 reads a PDB
//! file without HEADER as mmCIF and fails), standard atom-name columns (TMalign matches
//! `" CA "` in columns 13–16; pdbtbx 0.12 left-justifies every field, so the text it writes
//! is put back into the standard columns).

use std::io::{BufWriter, Write};
use std::path::Path;

use diffgen_core::checkpoint::write_atomic;
use pdbtbx::{Atom, Model, StrictnessLevel, Symmetry, UnitCell, PDB};

use crate::error::ProteinError;
use crate::structure::{Backbone, Vec3};

const ATOMS: [(&str, &str); 4] = [("N", "N"), ("CA", "C"), ("C", "C"), ("O", "O")];

/// The largest |coordinate| the fixed-width PDB columns (`%8.3f`) hold.
const PDB_COORD_MIN: f64 = -999.999;
const PDB_COORD_MAX: f64 = 9999.999;

/// Refuses a residue name that is not 1–3 upper-case letters or digits (e.g. `GLY`); the
/// error names `residue_name`.
pub fn check_residue_name(name: &str) -> Result<(), ProteinError> {
    let ok = (1..=3).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ProteinError::setting(
            "residue_name",
            format!("`{name}` must be 1 to 3 upper-case letters or digits, e.g. GLY"),
        ))
    }
}

/// The pdbtbx structure: one model per backbone, serial numbers running over the file.
fn build(
    path: &Path,
    models: &[Backbone],
    residue_name: &str,
    pdb_ranges: bool,
) -> Result<PDB, ProteinError> {
    check_residue_name(residue_name)?;
    if models.is_empty() {
        return Err(ProteinError::structure(
            path,
            "nothing to write (no backbone)",
        ));
    }
    let mut pdb = PDB::new();
    pdb.identifier = Some("DGEN".to_string());
    pdb.unit_cell = Some(UnitCell::new(1.0, 1.0, 1.0, 90.0, 90.0, 90.0));
    pdb.symmetry = Symmetry::new("P 1");
    // A multi-model file is one structure in several states (NMR ensembles, our denoising
    // trajectories): readers, pdbtbx among them, insist on the same atoms in every model.
    if let Some(other) = models.iter().find(|b| b.len() != models[0].len()) {
        return Err(ProteinError::setting(
            "models",
            format!(
                "{}: all models of one file need the same length ({} has {} residues, {} has {})",
                path.display(),
                models[0].id,
                models[0].len(),
                other.id,
                other.len()
            ),
        ));
    }
    for (m, backbone) in models.iter().enumerate() {
        let mut model = Model::new(m + 1);
        // Serial numbers restart in every model, as in NMR entries.
        let mut serial = 0;
        for i in 0..backbone.len() {
            let positions: [&Vec3; 4] = [
                &backbone.n[i],
                &backbone.ca[i],
                &backbone.c[i],
                &backbone.o[i],
            ];
            for ((name, element), p) in ATOMS.iter().zip(positions) {
                let residue_error = |reason: String| ProteinError::Residue {
                    path: path.to_path_buf(),
                    chain: "A".into(),
                    residue: format!("{} (model {}, {})", i + 1, m + 1, backbone.id),
                    reason,
                };
                let in_range = p.iter().all(|x| {
                    x.is_finite() && (!pdb_ranges || (PDB_COORD_MIN..=PDB_COORD_MAX).contains(x))
                });
                if !in_range {
                    return Err(residue_error(format!(
                        "atom {name} at ({:.3}, {:.3}, {:.3}) cannot be written (non-finite or beyond the PDB columns)",
                        p.x, p.y, p.z
                    )));
                }
                serial += 1;
                let atom = Atom::new(false, serial, *name, p.x, p.y, p.z, 1.0, 0.0, *element, 0)
                    .ok_or_else(|| residue_error(format!("pdbtbx rejects atom {name}")))?;
                model.add_atom(atom, "A", (i as isize + 1, None), (residue_name, None));
            }
        }
        pdb.add_model(model);
    }
    Ok(pdb)
}

/// Puts pdbtbx's PDB text into the fixed columns other programs read. pdbtbx 0.12
/// left-justifies every field, so serial numbers, residue numbers and elements sit at the wrong
/// end of their columns, atom names start in column 13 (TMalign matches `" CA "` in 13–16),
/// MODEL serials drift past column 14 and TER records lose their spacing (mkdssp drops them).
fn standard_columns(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut last_atom: Option<(usize, String, String, String)> = None;
    for line in text.lines() {
        if (line.starts_with("ATOM") || line.starts_with("HETATM")) && line.len() >= 54 {
            let field = |a: usize, b: usize| line.get(a..b.min(line.len())).unwrap_or("").trim();
            let serial = field(6, 11);
            let name = field(12, 16);
            let name = if name.len() < 4 {
                format!(" {name:<3}")
            } else {
                name.to_string()
            };
            let (res_name, chain, res_seq) = (field(17, 20), field(21, 22), field(22, 26));
            let fixed = format!(
                "{:<6}{serial:>5} {name}{}{res_name:>3} {chain:1}{res_seq:>4}{}{}{:>2}{}",
                field(0, 6),
                line.get(16..17).unwrap_or(" "),
                line.get(26..54).unwrap_or(""),
                line.get(54..76).unwrap_or(""),
                field(76, 78),
                line.get(78..).unwrap_or(""),
            );
            last_atom = Some((
                serial.parse().unwrap_or(0),
                res_name.to_string(),
                chain.to_string(),
                res_seq.to_string(),
            ));
            out.push_str(fixed.trim_end());
        } else if line.starts_with("TER") {
            match &last_atom {
                Some((serial, res_name, chain, res_seq)) => out.push_str(&format!(
                    "TER   {:>5}      {res_name:>3} {chain:1}{res_seq:>4}",
                    serial + 1
                )),
                None => out.push_str("TER"),
            }
        } else if let Some(n) = line.strip_prefix("MODEL") {
            out.push_str(&format!("MODEL     {:>4}", n.trim()));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// PDB through pdbtbx: chain A, residues named `residue_name` (e.g. `GLY`), atoms N CA C O,
/// HEADER and CRYST1 present; more than one backbone makes a multi-model file (MODEL/ENDMDL),
/// which is how denoising trajectories are written (all models must have the same length). Written atomically (temp file + rename).
pub fn write_pdb(path: &Path, models: &[Backbone], residue_name: &str) -> Result<(), ProteinError> {
    let text = pdb_text(path, models, residue_name)?;
    write_atomic(path, |f| f.write_all(text.as_bytes()))?;
    Ok(())
}

/// The PDB text [`write_pdb`] writes (`path` only names the file in errors).
pub fn pdb_text(
    path: &Path,
    models: &[Backbone],
    residue_name: &str,
) -> Result<String, ProteinError> {
    let pdb = build(path, models, residue_name, true)?;
    let mut buffer = Vec::new();
    pdbtbx::save_pdb_raw(&pdb, BufWriter::new(&mut buffer), StrictnessLevel::Loose);
    let text = String::from_utf8(buffer)
        .map_err(|e| ProteinError::structure(path, format!("pdbtbx wrote invalid UTF-8: {e}")))?;
    Ok(standard_columns(&text))
}

/// mmCIF through pdbtbx, one model, same naming as [`write_pdb`]. Written atomically.
pub fn write_mmcif(
    path: &Path,
    backbone: &Backbone,
    residue_name: &str,
) -> Result<(), ProteinError> {
    let pdb = build(path, std::slice::from_ref(backbone), residue_name, false)?;
    let mut buffer = Vec::new();
    pdbtbx::save_mmcif_raw(&pdb, BufWriter::new(&mut buffer));
    write_atomic(path, |f| f.write_all(&buffer))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_standard() {
        let b = crate::geometry::backbone_from_angles("t", &[[0.0, 2.0, 3.1, 1.9, 2.0, 2.1]; 3]);
        let text = pdb_text(Path::new("t.pdb"), std::slice::from_ref(&b), "GLY").unwrap();
        let ca = text
            .lines()
            .find(|l| l.starts_with("ATOM") && l.contains("CA"))
            .unwrap();
        assert_eq!(&ca[..27], "ATOM      2  CA  GLY A   1 ", "{text}");
        assert_eq!(&ca[76..78], " C", "{text}");
        assert!(text.contains("\nTER      13      GLY A   3\n"), "{text}");
        let two = pdb_text(Path::new("t.pdb"), &[b.clone(), b.clone()], "GLY").unwrap();
        assert!(two.contains("\nMODEL        2\n"), "{two}");
        assert!(text.starts_with("HEADER"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("CRYST1")), "{text}");
        assert!(check_residue_name("gly").is_err());
        assert!(check_residue_name("GLYX").is_err());
    }
}
