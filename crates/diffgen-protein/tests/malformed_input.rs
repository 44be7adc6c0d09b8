//! Malformed PDB/mmCIF files, written to a temp dir and read by the real reader: each is an
//! error naming the file (and the line where one can be named); no panic, and no panic text
//! on the terminal when pdbtbx itself panics.

use std::path::{Path, PathBuf};

use diffgen_protein::io::read_structure;

/// Four residues of ALA, each N, CA, C, O; the first CA is line 3 (after HEADER, N).
fn pdb_text() -> String {
    let mut lines = vec![
        "HEADER    TEST                                    01-JAN-00   TEST              "
            .to_string(),
    ];
    let mut serial = 1;
    for r in 0..4 {
        let x = 3.8 * r as f64;
        for (name, dx, dy, element) in [
            ("N", -0.6, 0.5, "N"),
            ("CA", 0.0, 0.0, "C"),
            ("C", 1.5, 0.6, "C"),
            ("O", 1.3, 1.8, "O"),
        ] {
            lines.push(format!(
                "ATOM  {serial:>5} {:<4} ALA A{:>4}    {:>8.3}{:>8.3}{:>8.3}  1.00  0.00          {element:>2}",
                format!(" {name}"),
                r + 1,
                x + dx,
                dy,
                0.0
            ));
            serial += 1;
        }
    }
    lines.join("\n") + "\nEND\n"
}

/// The same residues as mmCIF; the atom rows are lines 15.. (the first CA is line 16).
fn cif_text() -> String {
    let mut s = String::from(
        "data_test\nloop_\n_atom_site.group_PDB\n_atom_site.id\n_atom_site.type_symbol\n\
         _atom_site.label_atom_id\n_atom_site.label_comp_id\n_atom_site.label_asym_id\n\
         _atom_site.label_seq_id\n_atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\n\
         _atom_site.occupancy\n_atom_site.B_iso_or_equiv\n",
    );
    let mut serial = 1;
    for r in 0..4 {
        let x = 3.8 * r as f64;
        for (name, dx, dy, element) in [
            ("N", -0.6, 0.5, "N"),
            ("CA", 0.0, 0.0, "C"),
            ("C", 1.5, 0.6, "C"),
            ("O", 1.3, 1.8, "O"),
        ] {
            s.push_str(&format!(
                "ATOM {serial} {element} {name} ALA A {} {:.3} {dy:.3} 0.000 1.00 0.00\n",
                r + 1,
                x + dx
            ));
            serial += 1;
        }
    }
    s + "#\n"
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_fixtures_read() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("ok.pdb", pdb_text()), ("ok.cif", cif_text())] {
        let (b, w) = read_structure(&write(dir.path(), name, &text), None).unwrap();
        assert_eq!((b.len(), b[0].len()), (1, 4), "{name}: {w:?}");
    }
}

#[test]
fn non_finite_pdb_numbers_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = pdb_text();
    let ca = good.lines().nth(2).unwrap().to_string();
    assert!(ca.contains(" CA "));
    for (field, range, value) in [
        ("x coordinate", 30..38, "     nan"),
        ("y coordinate", 38..46, "     inf"),
        ("z coordinate", 46..54, "-inf    "),
        ("x coordinate", 30..38, "   1e999"),
        ("occupancy", 54..60, "   NaN"),
        ("B-factor", 60..66, "   inf"),
    ] {
        let mut bad = ca.clone();
        bad.replace_range(range, value);
        let path = write(dir.path(), "nan.pdb", &good.replacen(&ca, &bad, 1));
        let msg = read_structure(&path, None).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}:3: {field} `{}`", path.display(), value.trim()))
                && msg.contains("not a finite number"),
            "{msg}"
        );
    }
}

#[test]
fn non_ascii_pdb_lines_are_refused_before_pdbtbx_slices_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = pdb_text();
    let ca = good.lines().nth(2).unwrap().to_string();
    // A multi-byte character where pdbtbx cuts the record name (bytes 0..6) and the fields.
    for bad in [
        ca.replacen("ATOM  ", "ATOMé", 1),
        ca.replacen(" CA ", " Cé", 1),
        ca.replacen("ALA", "ÅLA", 1),
    ] {
        let path = write(dir.path(), "utf8.pdb", &good.replacen(&ca, &bad, 1));
        let msg = read_structure(&path, None).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}:3: non-ASCII character", path.display())),
            "{msg}"
        );
    }
    let path = dir.path().join("latin1.pdb");
    let mut bytes = good.into_bytes();
    bytes[200] = 0xe9;
    std::fs::write(&path, bytes).unwrap();
    let msg = read_structure(&path, None).unwrap_err().to_string();
    assert!(msg.contains("latin1.pdb:3: not UTF-8"), "{msg}");
}

#[test]
fn bad_mmcif_atom_values_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = cif_text();
    let row = good.lines().nth(15).unwrap().to_string();
    assert!(row.starts_with("ATOM 2 C CA"), "{row}");
    // The row with field `k` (0 group, 1 id, 2 type, 3 atom, 4 residue, 5 chain, 6 seq,
    // 7–9 x y z, 10 occupancy, 11 B) replaced.
    let with = |k: usize, to: &str| {
        let mut fields: Vec<&str> = row.split_whitespace().collect();
        fields[k] = to;
        good.replacen(&row, &fields.join(" "), 1)
    };
    let cases = [
        (with(7, "nan"), "Cartn_x` value `nan`"),
        (with(8, "inf"), "Cartn_y` value `inf`"),
        (with(8, "1e999"), "Cartn_y` value `1e999`"),
        (with(9, "?"), "Cartn_z` value `?`"),
        (with(7, "0.000(3)"), "Cartn_x` value `0.000(3)`"),
        (with(10, "NaN"), "occupancy` value `NaN`"),
        (with(11, "-inf"), "B_iso_or_equiv` value `-inf`"),
        (with(1, "-2"), "id` value `-2`"),
        (with(2, "?"), "type_symbol` value `?` is missing"),
        (with(3, "."), "label_atom_id` value `.` is missing"),
        (with(4, "?"), "label_comp_id` value `?` is missing"),
        (with(5, "."), "no chain id"),
    ];
    for (text, what) in cases {
        let path = write(dir.path(), "bad.cif", &text);
        let msg = read_structure(&path, None).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}:16: `_atom_site.", path.display())) && msg.contains(what),
            "{what}: {msg}"
        );
    }
    // A row cut short.
    let path = write(
        dir.path(),
        "short.cif",
        &good.replacen(&row, "ATOM 2 C CA", 1),
    );
    let msg = read_structure(&path, None).unwrap_err().to_string();
    assert!(
        msg.contains("short.cif:2: the `_atom_site` table has"),
        "{msg}"
    );
    // Quoted values are read as such; an unclosed quote is an error.
    let path = write(dir.path(), "quoted.cif", &with(3, "'CA'"));
    assert!(read_structure(&path, None).is_ok());
    // An unclosed quote ends the table's values there (as pdbtbx lexes it).
    let path = write(dir.path(), "open.cif", &with(3, "'CA"));
    let msg = read_structure(&path, None).unwrap_err().to_string();
    assert!(
        msg.contains("open.cif:2: the `_atom_site` table has 15 values for 12 columns"),
        "{msg}"
    );
    // Values pdbtbx would panic on, or lex differently from CIF 1.1.
    let cases = [
        (with(3, ";CA"), 2, "the `_atom_site` table has 15 values"),
        (
            with(4, "'AL\tA'"),
            16,
            "label_comp_id` value `'AL\tA'` is missing, blank or not printable",
        ),
        (with(4, "' '"), 16, "label_comp_id` value `' '`"),
        (
            with(1, "99999999999"),
            16,
            "the value `99999999999` holds a run of digits too long",
        ),
        (
            with(3, "1e99999999999"),
            16,
            "the value `1e99999999999` holds a run of digits",
        ),
        (
            with(4, "3333333333333A"),
            16,
            "the value `3333333333333A` holds a run of digits",
        ),
        (with(7, ".5x"), 2, "the `_atom_site` table has 193 values"),
        (with(7, "?x"), 2, "the `_atom_site` table has 193 values"),
        (with(10, "-0.5"), 16, "occupancy` value `-0.5` is negative"),
        (
            good.replacen("loop_\n_atom_site.group_PDB", "loop_\n", 1),
            2,
            "192 values for 11 columns",
        ),
        (
            good.replace("_atom_site.Cartn_y\n", "_atom_site.cartn_y\n"),
            2,
            "no `_atom_site.Cartn_y` column",
        ),
        (
            format!("{good}loop_\n1 2\n"),
            32,
            "a `loop_` without column names",
        ),
        (format!("{good}data_second\n"), 32, "not an mmCIF data item"),
        (
            format!("{good}save_frame\n_x.y 1\n"),
            32,
            "a `save_` frame that is not closed",
        ),
        (
            good.replacen("data_test", "test", 1),
            1,
            "starts with a `data_` line",
        ),
        (
            good.replacen("ALA A 1", "ALA\u{b} A 1", 1),
            15,
            "control character at column 15",
        ),
        (
            good.replacen("ALA A 1", "ÅLA A 1", 1),
            15,
            "non-ASCII character at column 12",
        ),
    ];
    for (text, line, what) in cases {
        let path = write(dir.path(), "lex.cif", &text);
        let msg = read_structure(&path, None).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}:{line}: ", path.display())) && msg.contains(what),
            "{what}: {msg}"
        );
    }
    // Other categories are not passed to pdbtbx: an unknown unit cell (which pdbtbx 0.12
    // `expect`s) or a closed save frame does not matter.
    for extra in [
        "_cell.length_a ?\n",
        "save_f\n_x.y 1\nsave_\n",
        "_symmetry.Int_Tables_number .\n",
    ] {
        let text = format!("data_x\n{extra}{}", &good["data_test\n".len()..]);
        let path = write(dir.path(), "extra.cif", &text);
        let (b, _) = read_structure(&path, None).unwrap();
        assert_eq!(b[0].len(), 4);
    }
}

#[test]
fn empty_structure_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("empty.pdb", ""),
        ("blank.pdb", "\n\n"),
        ("end.pdb", "END\n"),
        ("empty.cif", ""),
        ("header.cif", "data_x\n#\n"),
    ] {
        let path = write(dir.path(), name, text);
        let msg = read_structure(&path, None).unwrap_err().to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains("no atoms") || msg.contains("no residue"),
            "{msg}"
        );
    }
}

#[test]
fn pdb_records_pdbtbx_would_panic_on_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = pdb_text();
    let ca = good.lines().nth(2).unwrap().to_string();
    let mut blank_residue = ca.clone();
    blank_residue.replace_range(17..20, "   ");
    let mut negative = ca.clone();
    negative.replace_range(54..60, " -0.50");
    for (bad, what) in [
        (
            ca.replacen(" CA ", " C\u{7} ", 1),
            "control character at column 15",
        ),
        (
            ca.replacen("ALA", "A\tA", 1),
            "control character at column 19",
        ),
        (blank_residue, "no residue name (columns 18-20)"),
        ("ATOM      2  CA".to_string(), "no residue name"),
        (negative, "occupancy `-0.50` (columns 55-60) is negative"),
    ] {
        let path = write(dir.path(), "rec.pdb", &good.replacen(&ca, &bad, 1));
        let msg = read_structure(&path, None).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}:3: ", path.display())) && msg.contains(what),
            "{what}: {msg}"
        );
    }
}

#[test]
fn a_length_histogram_sampling_cannot_use_is_refused() {
    use diffgen_protein::data::{ProteinStats, MAX_LENGTH};
    let stats = |lengths: serde_json::Value| {
        serde_json::from_value::<ProteinStats>(serde_json::json!({
            "angle_means": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "lengths": lengths, "dataset": "x"
        }))
    };
    for (lengths, what) in [
        (
            serde_json::json!([[1_000_000_000_000u64, 3]]),
            "chains of 1000000000000 residues",
        ),
        (serde_json::json!([[MAX_LENGTH + 1, 1]]), "1..=4096"),
        (serde_json::json!([[0, 1]]), "chains of 0 residues"),
        (serde_json::json!([[50, u64::MAX], [60, 1]]), "overflow"),
    ] {
        let msg = stats(lengths).unwrap_err().to_string();
        assert!(msg.contains(what), "{what}: {msg}");
    }
    assert!(stats(serde_json::json!([[40, 3], [256, 1]])).is_ok());
}
