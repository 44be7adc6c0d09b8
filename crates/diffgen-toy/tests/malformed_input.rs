//! Malformed point CSVs, written to a temp dir and read by the real reader: each is an error
//! naming the file and line, never a panic or an empty success.

use std::path::{Path, PathBuf};

use diffgen_toy::data::{read_points_csv, MAX_CLASSES};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn non_finite_values_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["nan", "NaN", "inf", "-inf", "infinity", "1e999", "-1e400"] {
        for (row, field) in [
            (format!("{value},1"), 1),
            (format!("0,{value},1"), 2),
            (format!("3,0,{value},1"), 3),
        ] {
            let path = write(dir.path(), "pts.csv", &format!("x,y\n1,2\n{row}\n"));
            let msg = read_points_csv(&path).unwrap_err().to_string();
            assert!(
                msg.starts_with(&format!(
                    "{}, line 3: field {field} (`{value}`)",
                    path.display()
                )) && msg.contains("not a finite number"),
                "{msg}"
            );
        }
    }
}

#[test]
fn an_empty_csv_holds_no_points() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("empty.csv", ""),
        ("blank.csv", "\n \n"),
        ("header.csv", "x,y,label\n"),
        ("comments.csv", "# dataset=ring\n# nothing else\n"),
    ] {
        let path = write(dir.path(), name, text);
        let msg = read_points_csv(&path).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!("{}: no points (the file has no data rows)", path.display())
        );
    }
}

#[test]
fn a_label_that_would_declare_enormous_classes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for label in [
        MAX_CLASSES.to_string(),
        "1000000000000".to_string(),
        usize::MAX.to_string(),
    ] {
        let path = write(dir.path(), "labels.csv", &format!("0,0,1\n1,1,{label}\n"));
        let msg = read_points_csv(&path).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!(
                "{}, line 2: label {label} is too large",
                path.display()
            )),
            "{msg}"
        );
    }
    let path = write(dir.path(), "labels.csv", "0,0,-1\n");
    let msg = read_points_csv(&path).unwrap_err().to_string();
    assert!(msg.contains("line 1: label `-1`"), "{msg}");
    let path = write(
        dir.path(),
        "labels.csv",
        &format!("0,0,{}\n", MAX_CLASSES - 1),
    );
    assert_eq!(
        read_points_csv(&path).unwrap().labels,
        vec![Some(MAX_CLASSES - 1)]
    );
}

#[test]
fn garbled_rows_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, what) in [
        (
            "1,2\n1,2,3,4,5\n",
            2,
            "expected 2–4 comma-separated fields, found 5",
        ),
        ("1,2\n7\n", 2, "found 1"),
        ("1,2\n,\n", 2, "field 1 (``)"),
        ("x,y\n1,2\nx,y\n", 3, "field 1 (`x`)"),
        ("1,2\n\u{0}\u{1},2\n", 2, "field 1"),
    ] {
        let path = write(dir.path(), "g.csv", text);
        let msg = read_points_csv(&path).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}, line {line}: ", path.display())) && msg.contains(what),
            "{msg}"
        );
    }
    let path = dir.path().join("latin1.csv");
    std::fs::write(&path, b"1,2\n\xe9,3\n").unwrap();
    let msg = read_points_csv(&path).unwrap_err().to_string();
    assert!(msg.contains("latin1.csv"), "{msg}");
}
