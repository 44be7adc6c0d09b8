//! The `diffgen` binary as a user runs it.

use std::process::Command;

fn diffgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diffgen"))
}

#[test]
fn run_toy_writes_its_files_into_out() {
    let out = tempfile::tempdir().unwrap();
    let status = diffgen()
        .args([
            "run",
            "--modality",
            "toy",
            "--num-samples",
            "64",
            "--steps",
            "20",
            "--sampler",
            "dpm++2m",
            "--trajectory",
        ])
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let csv = std::fs::read_to_string(out.path().join("samples.csv")).unwrap();
    assert_eq!(
        csv.lines().filter(|l| !l.starts_with('#')).count(),
        65,
        "header + 64 rows"
    );
    let png = image_size(&out.path().join("samples.png"));
    assert_eq!(png, (700, 700));
    let trajectory = std::fs::read_to_string(out.path().join("samples.trajectory.csv")).unwrap();
    // 20 steps of 64 samples, plus the final denoising call (level 0 of the cosine schedule
    // is slightly noisy).
    assert_eq!(trajectory.lines().count(), 1 + 21 * 64);
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.contains("MMD²"), "{stdout}");

    // `eval` reads the file back.
    let eval = diffgen()
        .args(["eval", "--modality", "toy"])
        .arg(out.path().join("samples.csv"))
        .output()
        .unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
}

fn image_size(path: &std::path::Path) -> (u32, u32) {
    // PNG: the IHDR chunk holds width and height at bytes 16..24.
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    )
}

#[test]
fn shards_reproduce_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = diffgen()
            .args([
                "run",
                "--modality",
                "toy",
                "--num-samples",
                "30",
                "--steps",
                "10",
                "--seed",
                "4",
                "--no-eval",
            ])
            .args(extra)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[]);
    run(&["--shard", "0/2", "--batch-size", "4"]);
    run(&["--shard", "1/2"]);
    let rows = |name: &str| -> Vec<String> {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("index"))
            .map(str::to_string)
            .collect()
    };
    let whole = rows("samples.csv");
    let mut union = rows("samples.shard-0-of-2.csv");
    union.extend(rows("samples.shard-1-of-2.csv"));
    assert_eq!(whole, union);
}

#[test]
fn bad_input_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[data]\nsource = { kind = \"ring\", radius = 2.0, std = 0.1 }\nsize = 3\n",
    )
    .unwrap();
    let out = diffgen()
        .args(["train", "--modality", "toy", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("size"), "{err}");

    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ").unwrap();
    let out = diffgen()
        .args(["sample", "--checkpoint"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("junk.safetensors"), "{err}");

    let out = diffgen()
        .args(["run", "--modality", "nonesuch"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("registered: toy"));

    let out = diffgen()
        .args([
            "run",
            "--modality",
            "toy",
            "--opt",
            "class=99",
            "--num-samples",
            "2",
            "--steps",
            "2",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("class"));
}

#[test]
fn modalities_lists_the_toy() {
    let out = diffgen().arg("modalities").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("toy"));
}

#[test]
fn a_backend_not_compiled_in_is_an_error_not_a_fallback() {
    if cfg!(feature = "cuda") {
        return;
    }
    let out = diffgen()
        .args([
            "run",
            "--modality",
            "toy",
            "--device",
            "cuda",
            "--num-samples",
            "2",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features cuda"));
}
