//! Malformed molecule files, written to a temp dir and read by the real readers: each is an
//! error naming the file and the line (or the tensor), never a panic, an abort or an empty
//! success.

use std::io::Write;
use std::path::{Path, PathBuf};

use diffgen_molecule::import::{read_edm_safetensors, read_tensors};
use diffgen_molecule::sdf::read_sdf;
use diffgen_molecule::xyz::read_xyz;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn write_gz(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    path
}

fn assert_names(msg: &str, path: &Path, parts: &[&str]) {
    assert!(
        msg.contains(&path.display().to_string()) && parts.iter().all(|p| msg.contains(p)),
        "expected {} and {parts:?} in: {msg}",
        path.display()
    );
}

#[test]
fn an_xyz_header_claiming_enormous_counts_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "huge.xyz",
            "99999999999999999\ncomment\nC 0 0 0\n".to_string(),
        ),
        ("max.xyz", format!("{}\nc\nC 0 0 0\n", usize::MAX)),
        // The second frame lies.
        (
            "second.xyz",
            "1\nc\nC 0 0 0\n4000000000000\nc\nH 0 0 0\n".to_string(),
        ),
    ] {
        for path in [
            write(dir.path(), name, &text),
            write_gz(dir.path(), &format!("{name}.gz"), &text),
        ] {
            let msg = read_xyz(&path).unwrap_err().to_string();
            assert_names(
                &msg,
                &path,
                &["line", "declares", "atoms, but the file ends after"],
            );
        }
    }
    let path = write(
        dir.path(),
        "second2.xyz",
        "1\nc\nC 0 0 0\n4000000000000\nc\nH 0 0 0\n",
    );
    let msg = read_xyz(&path).unwrap_err().to_string();
    assert_names(
        &msg,
        &path,
        &["frame 2, line 4", "declares 4000000000000 atoms"],
    );
    // A count that overflows usize is not a count.
    let path = write(dir.path(), "overflow.xyz", "1000000000000000000000000\nc\n");
    let msg = read_xyz(&path).unwrap_err().to_string();
    assert_names(&msg, &path, &["line 1", "atom count"]);
}

#[test]
fn empty_xyz_and_sdf_files_hold_no_molecules() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("empty", ""), ("blank", "\n\n   \n")] {
        for path in [
            write(dir.path(), &format!("{name}.xyz"), text),
            write_gz(dir.path(), &format!("{name}.xyz.gz"), text),
        ] {
            let msg = read_xyz(&path).unwrap_err().to_string();
            assert_eq!(msg, format!("{}: no molecules", path.display()));
        }
        let path = write(dir.path(), &format!("{name}.sdf"), text);
        let msg = read_sdf(&path).unwrap_err().to_string();
        assert_eq!(msg, format!("{}: no molecules", path.display()));
    }
}

#[test]
fn non_finite_coordinates_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["nan", "NaN", "inf", "-inf", "infinity", "1e999", "1*^999"] {
        let path = write(
            dir.path(),
            "c.xyz",
            &format!("2\nc\nC 0 0 0\nH 0 {value} 0\n"),
        );
        let msg = read_xyz(&path).unwrap_err().to_string();
        assert_names(&msg, &path, &["line 4", value, "not a finite number"]);
    }
    let good = water_sdf();
    for value in ["       nan", "       inf", "     1e999"] {
        let text = good.replacen("    0.7572", value, 1);
        let path = write(dir.path(), "c.sdf", &text);
        let msg = read_sdf(&path).unwrap_err().to_string();
        assert_names(
            &msg,
            &path,
            &["record 1, line 6", value.trim(), "not a finite number"],
        );
    }
}

/// Water as our writer writes it: 3 atoms (lines 5–7), 2 bonds (8–9), `M  END` (10).
fn water_sdf() -> String {
    "water\n  diffgen 3D\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n\
     \x20   0.0000    0.0000    0.1173 O   0  0  0  0  0  0  0  0  0  0  0  0\n\
     \x20   0.0000    0.7572   -0.4692 H   0  0  0  0  0  0  0  0  0  0  0  0\n\
     \x20   0.0000   -0.7572   -0.4692 H   0  0  0  0  0  0  0  0  0  0  0  0\n\
     \x20 1  2  1  0\n  1  3  1  0\nM  END\n$$$$\n"
        .to_string()
}

#[test]
fn the_water_fixture_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "w.sdf", &water_sdf());
    let records = read_sdf(&path).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].molecule.atoms, vec![8, 1, 1]);
    assert_eq!(records[0].bonds, vec![(0, 1, 1), (0, 2, 1)]);
    // With valid property lines, data items and a second record.
    let rich = water_sdf().replace(
        "M  END\n$$$$\n",
        "M  CHG  2   1  -1   2   1\nM  ISO  1   3   2\nM  RAD  1   1   2\nA    2\nHa\nV    1 value\nM  STY  1   1 SUP\nS  SKP  1\nanything at all\nM  END\n> <energy>\n-76.4\n\n> <name>\nwater\n\n$$$$\n",
    ) + &water_sdf();
    let path = write(dir.path(), "rich.sdf", &rich);
    let records = read_sdf(&path).unwrap();
    assert_eq!(records.len(), 2);
    // A MOL file: one record, no `$$$$`.
    let mol = water_sdf().replace("$$$$\n", "");
    let path = write(dir.path(), "w.mol", &mol);
    assert_eq!(read_sdf(&path).unwrap().len(), 1);
}

#[test]
fn garbled_sdf_lines_are_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = water_sdf();
    let with_props = |props: &str| good.replace("M  END\n", &format!("{props}\nM  END\n"));
    let cases: Vec<(String, &str, &str)> = vec![
        // Property lines (line 10, before `M  END`).
        (
            with_props("M  CHG  1   1  x"),
            "line 10",
            "`M  CHG` value `x`",
        ),
        (
            with_props("M  CHG  2   1  -1"),
            "line 10",
            "declares 2 entries",
        ),
        (
            with_props("M  CHG  a   1  -1"),
            "line 10",
            "entry count of 1..8",
        ),
        (with_props("M  CHG  0"), "line 10", "entry count of 1..8"),
        (
            with_props("M  CHG  1   9   1"),
            "line 10",
            "`9` is not an atom of the 3",
        ),
        (
            with_props("M  CHG  1   1  99"),
            "line 10",
            "`M  CHG` value `99`",
        ),
        (
            with_props("M  RAD  1   1   7"),
            "line 10",
            "`M  RAD` value `7`",
        ),
        (
            with_props("M  ISO  1   1  -2"),
            "line 10",
            "`M  ISO` value `-2`",
        ),
        (with_props("M  CH"), "line 10", "not a V2000 property line"),
        (with_props("M   !!"), "line 10", "not a V2000 property line"),
        (
            with_props("garbage"),
            "line 10",
            "`garbage` is not a V2000 property line",
        ),
        (with_props(""), "line 10", "not a V2000 property line"),
        (with_props("A    7\nalias"), "line 10", "`7` is not an atom"),
        (with_props("S  SKP999"), "line 10", "skips 999 lines"),
        // No `M  END`.
        (good.replace("M  END\n", ""), "line 10", "no `M  END` line"),
        (
            good.replace("M  END\n$$$$\n", ""),
            "line 10",
            "ends before the record's `M  END`",
        ),
        // Data items.
        (
            good.replace("M  END\n", "M  END\nnot a header\n"),
            "line 11",
            "expected a data header",
        ),
        (
            good.replace("M  END\n$$$$\n", "M  END\n> <e>\n1\n"),
            "line 13",
            "no `$$$$` terminator",
        ),
        // Atom and bond blocks.
        (
            good.replacen(" O   0  0", " O   x  0", 1),
            "line 5",
            "mass difference `x`",
        ),
        (
            good.replacen(" O   0  0", " O   0  9", 1),
            "line 5",
            "charge code `9`",
        ),
        (
            good.replacen(" O  ", " Qq ", 1),
            "line 5",
            "unknown element `Qq`",
        ),
        (
            good.replacen("  1  2  1  0", "  1  2  4  0", 1),
            "line 8",
            "bond order 4",
        ),
        (
            good.replacen("  1  2  1  0", "  1  x  1  0", 1),
            "line 8",
            "bad second atom",
        ),
        (
            good.replacen("  1  2  1  0", "  1  1  1  0", 1),
            "line 8",
            "does not join",
        ),
        // Counts line.
        (
            good.replacen("  3  2", "999999", 1),
            "line 4",
            "declares 999 atoms and 999 bonds",
        ),
        (good.replacen("  3  2", "  0  0", 1), "line 4", "0 atoms"),
        (
            good.replacen("  3  2", "  x  2", 1),
            "line 4",
            "bad atom count `x`",
        ),
        (good.replace("V2000", "V3000"), "line 4", "only V2000"),
        (
            "just a name\n".to_string(),
            "line 2",
            "ends before its counts line",
        ),
    ];
    for (text, place, what) in cases {
        let path = write(dir.path(), "bad.sdf", &text);
        let msg = read_sdf(&path).unwrap_err().to_string();
        assert_names(&msg, &path, &["record 1", place, what]);
    }
    // A bad second record names record 2 and its own line.
    let text = good.clone() + &good.replacen(" O  ", " Qq ", 1);
    let path = write(dir.path(), "two.sdf", &text);
    let msg = read_sdf(&path).unwrap_err().to_string();
    assert_names(&msg, &path, &["record 2, line 16", "Qq"]);
}

/// A safetensors file of F32 tensors `(name, shape, values)`.
fn safetensors_bytes(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, shape, _), bytes)| {
            (
                name.to_string(),
                safetensors::tensor::TensorView::new(
                    safetensors::tensor::Dtype::F32,
                    shape.clone(),
                    bytes,
                )
                .unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn edm_weights_with_nan_or_impossible_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edm.safetensors");
    let bytes = safetensors_bytes(&[("a", vec![2], vec![1.0, f32::NAN])]);
    std::fs::write(&path, &bytes).unwrap();
    let msg = read_tensors(&std::fs::read(&path).unwrap(), &path).unwrap_err();
    assert_names(&msg, &path, &["tensor `a` holds NaN/inf values"]);

    // The embedding sets the hidden size: a 1-D one, and one whose hidden size no layer has.
    let emb = "dynamics.egnn.embedding.weight";
    let edge = "dynamics.egnn.e_block_0.gcl_0.edge_mlp.0.weight";
    let bytes = safetensors_bytes(&[(emb, vec![8], vec![0.5; 8])]);
    let msg = read_edm_safetensors(&bytes, &path).err().unwrap();
    assert_names(
        &msg,
        &path,
        &["`dynamics.egnn.embedding.weight` has shape [8]"],
    );
    let bytes = safetensors_bytes(&[
        (emb, vec![1_000_000, 2], vec![0.5; 2_000_000]),
        (edge, vec![2, 6], vec![0.5; 12]),
    ]);
    let msg = read_edm_safetensors(&bytes, &path).err().unwrap();
    assert_names(
        &msg,
        &path,
        &[edge, "has shape [2, 6]", "needs [1000000, 2000002]"],
    );
    // Consistent sizes pass this check.
    let bytes = safetensors_bytes(&[
        (emb, vec![2, 7], vec![0.5; 14]),
        (edge, vec![2, 6], vec![0.5; 12]),
    ]);
    let w = read_edm_safetensors(&bytes, &path).ok().unwrap();
    assert_eq!((w.config.hidden, w.config.layers, w.features), (2, 1, 6));
    // Not a safetensors file at all, or one claiming an enormous header.
    let msg = read_tensors(&[0xff; 16], &path).unwrap_err();
    assert_names(&msg, &path, &["not a safetensors file"]);
    let msg = read_tensors(&u64::MAX.to_le_bytes(), &path).unwrap_err();
    assert_names(&msg, &path, &["not a safetensors file"]);
}

#[test]
fn an_atom_count_histogram_sampling_cannot_use_is_refused() {
    use diffgen_molecule::data::{MoleculeStats, MAX_ATOMS};
    let stats = |counts: serde_json::Value| {
        serde_json::from_value::<MoleculeStats>(serde_json::json!({
            "atom_counts": counts, "bond_lengths": [0, 1], "dataset": "x"
        }))
    };
    for (counts, what) in [
        (
            serde_json::json!({"1000000000000": 5}),
            "molecules of 1000000000000 atoms",
        ),
        (
            serde_json::json!({(MAX_ATOMS + 1).to_string(): 1}),
            "1..=1000",
        ),
        (serde_json::json!({"0": 3}), "molecules of 0 atoms"),
        (serde_json::json!({}), "empty"),
        (serde_json::json!({"9": 0}), "empty"),
        (serde_json::json!({"9": u64::MAX, "10": 1}), "overflow"),
    ] {
        let msg = stats(counts).unwrap_err().to_string();
        assert!(msg.contains(what), "{what}: {msg}");
    }
    assert!(stats(serde_json::json!({"9": 3, "29": 1})).is_ok());
    // The bundled checkpoint's statistics pass.
    let loaded = diffgen_molecule::load_molecule(None, &burn::tensor::Device::flex())
        .ok()
        .unwrap();
    assert!(loaded.stats.atom_counts.keys().all(|&n| n <= 29));
}
