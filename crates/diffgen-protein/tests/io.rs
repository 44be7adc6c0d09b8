//! Readers and writers: the JSONL data set, PDB/mmCIF through pdbtbx, and what goes wrong.

mod common;

use std::io::Write;
use std::path::Path;

use diffgen_protein::error::ProteinError;
use diffgen_protein::io::{load_split, read_structure, read_structure_dir};
use diffgen_protein::structure::Backbone;
use diffgen_protein::write::{write_mmcif, write_pdb};

fn read_back_pdbtbx(path: &Path) -> pdbtbx::PDB {
    let path = path.to_str().unwrap();
    let (pdb, _warnings) = pdbtbx::ReadOptions::new()
        .set_level(pdbtbx::StrictnessLevel::Loose)
        .read(path)
        .unwrap_or_else(|e| panic!("{path}: {e:?}"));
    pdb
}

fn assert_same_coords(a: &Backbone, b: &Backbone) {
    assert_eq!(a.len(), b.len());
    for (p, q) in [(&a.n, &b.n), (&a.ca, &b.ca), (&a.c, &b.c), (&a.o, &b.o)] {
        for (x, y) in p.iter().zip(q.iter()) {
            assert!((x - y).abs().max() <= 1e-3 + 1e-9, "{x} vs {y}");
        }
    }
}

#[test]
fn splits_are_complete_and_disjoint() {
    let Some(root) = common::data_root() else {
        return;
    };
    let Some(test) = common::test_split() else {
        return;
    };
    let valid = load_split(&root, "valid").unwrap();
    assert_eq!((test.len(), valid.len()), (298, 298));
    let ids: std::collections::HashSet<&str> = test.iter().map(|b| b.id.as_str()).collect();
    assert!(valid.iter().all(|b| !ids.contains(b.id.as_str())));
    // The split file agrees with the records' split fields.
    let splits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("proteins/splits.json")).unwrap())
            .unwrap();
    let listed: Vec<&str> = splits["test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 298);
    assert!(listed.iter().all(|id| ids.contains(id)));
    for b in test {
        assert!((40..=256).contains(&b.len()));
        assert_eq!(b.sequence.as_ref().unwrap().len(), b.len());
        assert_eq!(b.dssp.as_ref().unwrap().len(), b.len());
    }
    let err = load_split(&root, "training").unwrap_err();
    assert!(err.to_string().contains("split"), "{err}");
}

#[test]
fn malformed_jsonl_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proteins")).unwrap();
    let path = dir.path().join(diffgen_protein::io::SHARED_FILE);
    let good = r#"{"id":"x","split":"test","sequence":"GG","dssp":"--","coords":{"N":[[0,0,0],[3,0,0]],"CA":[[1,0,0],[4,0,0]],"C":[[2,0,0],[5,0,0]],"O":[[2,1,0],[5,1,0]]}}"#;
    let short = r#"{"id":"y","split":"test","coords":{"N":[[0,0,0]],"CA":[[1,0,0],[4,0,0]],"C":[[2,0,0],[5,0,0]],"O":[[2,1,0],[5,1,0]]}}"#;
    for (body, line, what) in [
        (format!("{good}\n{{\"id\": \n"), 2, "EOF"),
        (format!("{good}\n{good}\n{short}\n"), 3, "1 N atoms"),
    ] {
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(body.as_bytes()).unwrap();
        gz.finish().unwrap();
        let err = load_split(dir.path(), "test").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ProteinError::Parse { line: l, .. } if l == line),
            "{text}"
        );
        assert!(
            text.contains("cath_s40_bb_40-256.jsonl.gz") && text.contains(what),
            "{text}"
        );
    }
    let err = load_split(Path::new("/nonexistent"), "test").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/proteins"), "{err}");
}

#[test]
fn pdb_writer_reads_back() {
    let Some(samples) = common::sample_pdbs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, a) = &samples[0];
    let (_, b) = &samples[1];
    let path = dir.path().join("one.pdb");
    write_pdb(&path, std::slice::from_ref(a), "GLY").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("HEADER") && text.contains("\nCRYST1"),
        "{text}"
    );
    let pdb = read_back_pdbtbx(&path);
    assert_eq!(pdb.model_count(), 1);
    assert_eq!(pdb.residue_count(), a.len());
    assert_eq!(pdb.atom_count(), 4 * a.len());
    let names: Vec<&str> = pdb.atoms().take(4).map(|x| x.name()).collect();
    assert_eq!(names, ["N", "CA", "C", "O"]);
    assert!(pdb.residues().all(|r| r.name() == Some("GLY")));
    let (back, warnings) = read_structure(&path, None).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(back.len(), 1);
    assert_same_coords(&back[0], a);
    assert_eq!(back[0].id, "one:A:0");

    // A trajectory: several models of different structures.
    let path = dir.path().join("trajectory.pdb");
    let mut moved = a.clone();
    for p in moved.ca.iter_mut() {
        p.x += 1.5;
    }
    write_pdb(&path, &[a.clone(), moved.clone(), a.clone()], "ALA").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("\nMODEL").count(), 3);
    assert_eq!(text.matches("\nENDMDL").count(), 3);
    let pdb = read_back_pdbtbx(&path);
    assert_eq!(pdb.model_count(), 3);
    let second: Vec<f64> = pdb
        .models()
        .nth(1)
        .unwrap()
        .atoms()
        .map(|x| x.x())
        .collect();
    assert_eq!(second.len(), 4 * a.len());
    assert!(
        (second[1] - moved.ca[0].x).abs() < 1e-3,
        "model 2 holds the second backbone"
    );
    let err = write_pdb(
        &dir.path().join("mixed.pdb"),
        &[a.clone(), b.clone()],
        "GLY",
    )
    .unwrap_err();
    assert!(err.to_string().contains("same length"), "{err}");
    // Our reader takes the first model.
    let (back, _) = read_structure(&path, None).unwrap();
    assert_same_coords(&back[0], a);

    assert!(matches!(
        write_pdb(
            &dir.path().join("bad.pdb"),
            std::slice::from_ref(a),
            "glycine"
        ),
        Err(ProteinError::Setting { .. })
    ));
    let mut broken = a.clone();
    broken.ca[3].x = f64::NAN;
    let err = write_pdb(&dir.path().join("nan.pdb"), &[broken], "GLY").unwrap_err();
    assert!(err.to_string().contains("residue 4"), "{err}");
    assert!(!dir.path().join("nan.pdb").exists());
}

#[test]
fn mmcif_writer_reads_back() {
    let Some(samples) = common::sample_pdbs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (_, b) in samples.iter().take(3) {
        let path = dir.path().join(format!("{}.cif", b.id.replace(':', "_")));
        write_mmcif(&path, b, "GLY").unwrap();
        let pdb = read_back_pdbtbx(&path);
        assert_eq!(pdb.atom_count(), 4 * b.len());
        assert_eq!(pdb.residue_count(), b.len());
        let (back, warnings) = read_structure(&path, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_same_coords(&back[0], b);
    }
}

/// A small PDB text: residues 1..=n of a β-strand-like chain, with a few edits applied.
fn pdb_lines(n: usize) -> Vec<String> {
    let mut lines = vec![
        "HEADER    TEST                                    01-JAN-00   TEST              "
            .to_string(),
    ];
    let mut serial = 1;
    for r in 0..n {
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
    lines
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\nEND\n").unwrap();
    path
}

#[test]
fn chain_breaks_and_missing_atoms_give_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write_lines(dir.path(), "clean.pdb", &pdb_lines(10));
    let (b, w) = read_structure(&clean, None).unwrap();
    assert_eq!((b.len(), b[0].len()), (1, 10), "{w:?}");
    assert_eq!(b[0].sequence.as_deref(), Some("AAAAAAAAAA"));

    // Residue 6 lacks its O: skipped, and the gap splits the chain.
    let mut lines = pdb_lines(10);
    lines.retain(|l| !(l.contains(" O   ALA A   6")));
    let path = write_lines(dir.path(), "missing_o.pdb", &lines);
    let (b, w) = read_structure(&path, None).unwrap();
    assert_eq!(b.iter().map(Backbone::len).collect::<Vec<_>>(), [5, 4]);
    assert!(
        w.iter()
            .any(|w| w.contains("missing_o.pdb") && w.contains("ALA6") && w.contains("O")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("chain break") && w.contains("ALA5") && w.contains("ALA7")),
        "{w:?}"
    );

    // Residues 4..=10 shifted 5 Å: a break between 3 and 4.
    let mut lines = pdb_lines(10);
    for l in lines.iter_mut().skip(1 + 3 * 4) {
        let x: f64 = l[30..38].trim().parse().unwrap();
        l.replace_range(30..38, &format!("{:>8.3}", x + 5.0));
    }
    let path = write_lines(dir.path(), "break.pdb", &lines);
    let (b, w) = read_structure(&path, None).unwrap();
    assert_eq!(b.iter().map(Backbone::len).collect::<Vec<_>>(), [3, 7]);
    assert_eq!(
        (b[0].id.as_str(), b[1].id.as_str()),
        ("break:A:0", "break:A:1")
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("break.pdb")
            && w[0].contains("chain A")
            && w[0].contains("ALA3")
            && w[0].contains("ALA4"),
        "{w:?}"
    );

    // Chain selection.
    let err = read_structure(&clean, Some(&["B".to_string()])).unwrap_err();
    assert!(
        err.to_string().contains("clean.pdb") && err.to_string().contains("\"A\""),
        "{err}"
    );
    assert!(read_structure(&clean, Some(&["A".to_string()])).is_ok());

    // Directory: sorted, short segments dropped with a warning, a bad file skipped.
    std::fs::write(dir.path().join("zz_bad.pdb"), "this is not a structure\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let (all, w) = read_structure_dir(dir.path(), None, 5).unwrap();
    let ids: Vec<&str> = all.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["break:A:1", "clean:A:0", "missing_o:A:0"], "{w:?}");
    assert!(
        w.iter()
            .any(|w| w.contains("break:A:0") && w.contains("dropped")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("zz_bad.pdb")), "{w:?}");
}

#[test]
fn malformed_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let lines = pdb_lines(6);
    // Truncated in the middle of an ATOM line.
    let text = lines.join("\n");
    let cut = &text[..text.len() - 40];
    let cases: Vec<(&str, String)> = vec![
        ("truncated.pdb", cut.to_string()),
        ("garbage.pdb", "ATOM      1  N   ALA A   1      xx.xxx  yy.yyy\n".to_string()),
        ("empty.pdb", String::new()),
        ("waters.pdb", "HETATM    1  O   HOH A   1      10.000  10.000  10.000  1.00  0.00           O\nEND\n".to_string()),
        ("truncated.cif", "data_x\nloop_\n_atom_site.group_PDB\n_atom_site.id\n_atom_site.type_symbol\n_atom_site.label_atom_id\n_atom_site.Cartn_x\nATOM 1 N N\n".to_string()),
        ("binary.cif", "\u{0}\u{1}\u{2}garbage".to_string()),
    ];
    for (name, body) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        match read_structure(&path, None) {
            Err(e) => {
                eprintln!("{e}");
                assert!(e.to_string().contains(name), "{name}: {e}")
            }
            Ok((b, w)) => panic!("{name}: read {} segments, warnings {w:?}", b.len()),
        }
    }
    let gz = dir.path().join("bad.pdb.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 0x08, 0x00, 0x01]).unwrap();
    let err = read_structure(&gz, None).unwrap_err();
    assert!(err.to_string().contains("bad.pdb.gz"), "{err}");
    let err = read_structure(&dir.path().join("absent.pdb"), None).unwrap_err();
    assert!(matches!(err, ProteinError::Io(..)) && err.to_string().contains("absent.pdb"));
}

#[test]
fn gzip_and_sample_files_read() {
    let Some(samples) = common::sample_pdbs() else {
        return;
    };
    let Some(split) = common::test_split() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (path, b) in &samples {
        let stem = path.file_stem().unwrap().to_string_lossy();
        let domain = split.iter().find(|d| d.id == *stem).unwrap();
        assert_same_coords(b, domain);
        assert_eq!(b.sequence, domain.sequence);
    }
    let (path, b) = &samples[2];
    let gz = dir.path().join("copy.pdb.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(path).unwrap()).unwrap();
    enc.finish().unwrap();
    let (back, _) = read_structure(&gz, None).unwrap();
    assert_same_coords(&back[0], b);
    assert_eq!(back[0].id, "copy:A:0");
}
