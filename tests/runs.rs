//! Runs that never lose work and say what they do: the rules of `train` and `run` output
//! directories, SIGINT, resume with changed settings, declared options, bad numbers.

use std::path::Path;
use std::process::{Command, Output};

fn diffgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diffgen"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A small toy config: `steps` steps, a log line every 10, a checkpoint only at the end.
fn toy_config(dir: &Path, steps: u64, lr: f64) -> std::path::PathBuf {
    let text = format!(
        "[data]\nsource = {{ kind = \"ring\", radius = 2.0, std = 0.1 }}\ntrain_size = 2000\nval_size = 200\n\
         [model]\nhidden = 32\nlayers = 2\n\
         [diffusion]\nschedule = {{ kind = \"cosine\", steps = 100 }}\n\
         [training]\nsteps = {steps}\nbatch_size = 64\nlog_every = 10\n\
         optimizer = {{ kind = \"adamw\", lr = {lr} }}\n\
         lr_schedule = {{ warmup_steps = 0, decay = \"cosine\", final_factor = 0.1 }}\n"
    );
    let path = dir.join(format!("toy-{steps}-{lr}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn train(config: &Path, out: &Path, extra: &[&str]) -> Output {
    diffgen()
        .args(["train", "--modality", "toy", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn lrs(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v["lr"].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn train_refuses_a_folder_with_a_run_and_resume_keeps_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = toy_config(dir.path(), 40, 1e-3);
    assert!(train(&config, &out, &[]).status.success());
    let before = std::fs::read(out.join("checkpoint.safetensors")).unwrap();

    // A second run into the same folder is refused, and the first is intact.
    let again = train(&config, &out, &[]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--resume"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read(out.join("checkpoint.safetensors")).unwrap(),
        before
    );

    // Resuming for longer with a changed rate: the change is named and not applied, and the
    // learning rate continues the original schedule (at its final value) instead of
    // jumping back up.
    let changed = toy_config(dir.path(), 60, 5e-3);
    let resumed = train(&changed, &out, &["--resume"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let said = String::from_utf8_lossy(&resumed.stdout).to_string() + &stderr(&resumed);
    assert!(said.contains("training.optimizer.lr"), "{said}");
    assert!(said.contains("training.steps 40 → 60"), "{said}");
    let lr = lrs(&out);
    let at_40 = lr.iter().find(|(s, _)| *s == 40).unwrap().1;
    let after: Vec<f64> = lr
        .iter()
        .filter(|(s, _)| *s > 40)
        .map(|(_, r)| *r)
        .collect();
    assert_eq!(after.len(), 2);
    for r in after {
        assert!(
            r <= at_40 * 1.0001 && (r - 1e-4).abs() < 1e-9,
            "lr {r} after step 40 ({at_40} at 40)"
        );
    }

    // --overwrite replaces it.
    let fresh = train(&config, &out, &["--overwrite"]);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(lrs(&out).last().unwrap().0, 40);
}

#[cfg(unix)]
#[test]
fn sigint_writes_a_checkpoint_that_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = toy_config(dir.path(), 1_000_000, 1e-3);
    let child = diffgen()
        .args(["train", "--modality", "toy", "--quiet", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first log line: training is under way.
    let log = out.join("metrics.jsonl");
    for _ in 0..600 {
        if std::fs::metadata(&log).is_ok_and(|m| m.len() > 0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert!(stderr(&output).contains("--resume"), "{}", stderr(&output));
    let meta = diffgen_core::checkpoint::Checkpoint::read_meta(&out.join("checkpoint.safetensors"))
        .unwrap();
    assert!(
        meta.step >= 10 && meta.resume.is_some(),
        "step {}",
        meta.step
    );

    // It continues from there.
    let target = meta.step + 5;
    let resumed = train(&config, &out, &["--resume", "--steps", &target.to_string()]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let meta = diffgen_core::checkpoint::Checkpoint::read_meta(&out.join("checkpoint.safetensors"))
        .unwrap();
    assert_eq!(meta.step, target);
}

fn run_toy(out: &Path, extra: &[&str]) -> Output {
    diffgen()
        .args([
            "run",
            "--modality",
            "toy",
            "--num-samples",
            "8",
            "--steps",
            "5",
        ])
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_second_run_replaces_the_first_and_a_foreign_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert!(run_toy(&out, &["--trajectory"]).status.success());
    assert!(out.join("samples.trajectory.csv").is_file());
    assert!(run_toy(&out, &[]).status.success());
    assert!(
        !out.join("samples.trajectory.csv").exists(),
        "the old run's file is gone"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"].as_array().unwrap().len(), 2);

    std::fs::write(dir.path().join("mine.txt"), "keep").unwrap();
    let refused = run_toy(dir.path(), &[]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("mine.txt"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn options_are_declared_listed_and_checked() {
    let help = diffgen()
        .args(["run", "--modality", "protein", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--length") && text.contains("3–1024"),
        "{text}"
    );
    let listed = diffgen()
        .args(["modalities", "--options"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    for flag in ["--atoms", "--length", "--format", "--gif-every", "--class"] {
        assert!(text.contains(flag), "{flag} in {text}");
    }
    let opt_help = diffgen()
        .args(["run", "--modality", "image", "--opt", "help"])
        .output()
        .unwrap();
    assert!(opt_help.status.success());
    assert!(String::from_utf8_lossy(&opt_help.stdout).contains("--gif-every"));
    // Another modality's option is not this one's.
    let dir = tempfile::tempdir().unwrap();
    let wrong = run_toy(dir.path(), &["--atoms", "3"]);
    assert!(!wrong.status.success());
    let bad_opt = run_toy(dir.path(), &["--opt", "atoms=3"]);
    assert!(
        stderr(&bad_opt).contains("known: class"),
        "{}",
        stderr(&bad_opt)
    );
}

#[test]
fn non_finite_numbers_and_missing_data_roots_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for g in ["nan", "inf"] {
        let out = run_toy(dir.path(), &["--class", "2", "--guidance", g]);
        assert!(!out.status.success(), "--guidance {g} ran");
        assert!(stderr(&out).contains("guidance"), "{}", stderr(&out));
    }
    let out = run_toy(dir.path(), &["--data", "/nonexistent/data"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/data"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));
}
