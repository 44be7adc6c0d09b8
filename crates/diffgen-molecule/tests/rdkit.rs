//! Our SDF files read by RDKit, when Python with RDKit is installed (`.ci/run` installs it).

mod common;

use std::process::Command;

use common::shared;
use diffgen_molecule::metrics::analyse;
use diffgen_molecule::sdf::{to_sdf_record, SdfContents};
use diffgen_molecule::xyz::read_xyz;

const SCRIPT: &str = r#"
import json, sys
from rdkit import Chem, RDLogger
RDLogger.DisableLog("rdApp.*")
out = []
for mol in Chem.SDMolSupplier(sys.argv[1], sanitize=False, removeHs=False):
    bonds = sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), int(b.GetBondTypeAsDouble())) for b in mol.GetBonds())
    atoms = [a.GetAtomicNum() for a in mol.GetAtoms()]
    try:
        Chem.SanitizeMol(mol)
        valid = True
    except Exception:
        valid = False
    out.append({"atoms": atoms, "bonds": bonds, "valid": valid})
print(json.dumps(out))
"#;

fn rdkit_available() -> bool {
    Command::new("python3")
        .args(["-c", "import rdkit"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn rdkit_reads_our_sdf_and_agrees_on_validity() {
    // `.ci/run` sets DIFFGEN_REQUIRE_RDKIT=1 when its `pip install rdkit` succeeded.
    if !diffgen_test_support::prerequisite_under(
        "DIFFGEN_REQUIRE_RDKIT",
        rdkit_available(),
        "python3 with RDKit",
        "pip install rdkit",
    ) {
        return;
    }
    let Some(path) = shared("datasets/qm9/qm9_test.xyz.gz") else {
        return;
    };
    let molecules: Vec<_> = read_xyz(&path)
        .unwrap()
        .into_iter()
        .step_by(40)
        .take(300)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let sdf_path = dir.path().join("test.sdf");
    let analyses: Vec<_> = molecules.iter().map(analyse).collect();
    let text: String = molecules
        .iter()
        .zip(&analyses)
        .map(|(m, a)| {
            to_sdf_record(
                m,
                &SdfContents {
                    bonds: &a.bonds,
                    name: &m.comment,
                    ..SdfContents::default()
                },
            )
        })
        .collect();
    std::fs::write(&sdf_path, text).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&sdf_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read.len(), molecules.len());
    let mut agree = 0;
    for ((m, a), r) in molecules.iter().zip(&analyses).zip(&read) {
        let atoms: Vec<u8> = r["atoms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(atoms, m.atoms);
        let bonds: Vec<(usize, usize, u8)> = r["bonds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let b = b.as_array().unwrap();
                (
                    b[0].as_u64().unwrap() as usize,
                    b[1].as_u64().unwrap() as usize,
                    b[2].as_u64().unwrap() as u8,
                )
            })
            .collect();
        assert_eq!(bonds, a.bonds);
        if r["valid"].as_bool().unwrap() == a.valid {
            agree += 1;
        }
    }
    assert!(
        agree as f64 >= 0.99 * molecules.len() as f64,
        "validity agrees on {agree}/{}",
        molecules.len()
    );
}

const STRUCTURE_SCRIPT: &str = r#"
import json, sys
from rdkit import Chem, RDLogger
RDLogger.DisableLog("rdApp.*")
out = []
for mol in Chem.SDMolSupplier(sys.argv[1], sanitize=False, removeHs=False):
    bonds = sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), int(b.GetBondTypeAsDouble())) for b in mol.GetBonds())
    atoms = [a.GetAtomicNum() for a in mol.GetAtoms()]
    charges = [a.GetFormalCharge() for a in mol.GetAtoms()]
    try:
        Chem.SanitizeMol(mol)
        valid = True
    except Exception:
        valid = False
    out.append({"atoms": atoms, "bonds": bonds, "charges": charges, "valid": valid})
print(json.dumps(out))
"#;

/// Our validity of molecules with their own bonds and charges is RDKit's sanitisation: QM9
/// test molecules with perceived structures (nitro groups and zwitterions among them), and
/// copies with random bond orders and charges, written as SDF, read back by RDKit with the
/// same atoms, bonds and charges, and judged the same.
#[test]
fn rdkit_reads_structures_back_and_sanitises_as_our_validity() {
    use diffgen_core::SeededRng;
    use diffgen_molecule::metrics::structure::analyse_structure;
    use diffgen_molecule::perceive::{perceive, Perceived};

    if !diffgen_test_support::prerequisite_under(
        "DIFFGEN_REQUIRE_RDKIT",
        rdkit_available(),
        "python3 with RDKit",
        "pip install rdkit",
    ) {
        return;
    }
    let Some(path) = shared("datasets/qm9/qm9_test.xyz.gz") else {
        return;
    };
    let mut rng = SeededRng::new(13);
    let mut cases: Vec<(diffgen_molecule::xyz::Molecule, Perceived)> = Vec::new();
    for m in read_xyz(&path).unwrap().into_iter().step_by(25).take(500) {
        let Ok(p) = perceive(&m) else { continue };
        let mut changed = p.clone();
        for _ in 0..rng.int_inclusive(0, 2) {
            if changed.bonds.is_empty() {
                break;
            }
            let k = rng.int_inclusive(0, changed.bonds.len() - 1);
            changed.bonds[k].2 = rng.int_inclusive(1, 3) as u8;
        }
        for _ in 0..rng.int_inclusive(0, 2) {
            let i = rng.int_inclusive(0, m.len() - 1);
            changed.charges[i] = rng.int_inclusive(0, 2) as i8 - 1;
        }
        cases.push((m.clone(), p));
        cases.push((m, changed));
    }
    let dir = tempfile::tempdir().unwrap();
    let sdf_path = dir.path().join("structures.sdf");
    let text: String = cases
        .iter()
        .map(|(m, p)| {
            to_sdf_record(
                m,
                &SdfContents {
                    bonds: &p.bonds,
                    charges: &p.charges,
                    name: &m.comment,
                    ..SdfContents::default()
                },
            )
        })
        .collect();
    std::fs::write(&sdf_path, text).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(STRUCTURE_SCRIPT)
        .arg(&sdf_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read.len(), cases.len());
    let mut disagreements = Vec::new();
    let mut invalid = 0;
    for (k, ((m, p), r)) in cases.iter().zip(&read).enumerate() {
        let ints = |key: &str| -> Vec<i64> {
            r[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        };
        let atoms: Vec<i64> = m.atoms.iter().map(|&z| z as i64).collect();
        assert_eq!(ints("atoms"), atoms, "case {k}");
        let charges: Vec<i64> = p.charges.iter().map(|&c| c as i64).collect();
        assert_eq!(ints("charges"), charges, "case {k}");
        let bonds: Vec<(usize, usize, u8)> = r["bonds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let b = b.as_array().unwrap();
                let n = |i: usize| b[i].as_u64().unwrap();
                (n(0) as usize, n(1) as usize, n(2) as u8)
            })
            .collect();
        assert_eq!(bonds, p.bonds, "case {k}");
        let ours = analyse_structure(m, p).valid;
        invalid += usize::from(!ours);
        if r["valid"].as_bool().unwrap() != ours {
            let valence = diffgen_molecule::bonds::valences(m.len(), &p.bonds);
            let over: Vec<String> = (0..m.len())
                .filter(|&i| {
                    diffgen_molecule::metrics::structure::rdkit_max_valence(
                        m.atoms[i],
                        p.charges[i],
                    )
                    .is_none_or(|v| valence[i] > v)
                })
                .map(|i| {
                    format!(
                        "Z{} charge {} valence {}",
                        m.atoms[i], p.charges[i], valence[i]
                    )
                })
                .collect();
            disagreements.push(format!("case {k}: ours {ours}, over: {over:?}"));
        }
    }
    // The perturbed copies must reach both verdicts, or the comparison proves little.
    assert!(
        invalid > 50 && invalid < cases.len() - 50,
        "{invalid} invalid"
    );
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
