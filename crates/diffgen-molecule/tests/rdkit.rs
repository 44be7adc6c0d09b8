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
