//! The `diffgen` binary as a user runs it.

use std::process::Command;

use diffgen_test_support::shared;

fn diffgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diffgen"))
}

/// Fails the test with the command's stderr unless it exited with status 0.
fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert_success(&status);
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
    assert_success(&eval);
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
        assert_success(&out);
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
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("registered: molecule, protein, protein-angles, image, toy"));

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

    // `--init` starts a new run: it cannot also resume one, and its file must exist.
    let toy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/toy-ring.toml");
    let train = |extra: &[&str]| {
        diffgen()
            .args([
                "train",
                "--modality",
                "toy",
                "--config",
                toy,
                "--steps",
                "2",
            ])
            .args(extra)
            .arg("--out")
            .arg(dir.path().join("init"))
            .output()
            .unwrap()
    };
    let missing = dir.path().join("missing.safetensors");
    let missing = missing.to_str().unwrap();
    let out = train(&["--init", missing, "--resume"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--init"));
    let out = train(&["--init", missing]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.safetensors"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn modalities_lists_every_registered_modality() {
    let out = diffgen().arg("modalities").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    // One line per modality; indented lines under it list its other bundled models.
    let names: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        ["molecule", "protein", "protein-angles", "image", "toy"]
    );
    assert!(stdout.contains("--checkpoint bundled:joint"), "{stdout}");
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

#[test]
fn edm_weights_import_and_sample_into_xyz_sdf_and_pdb() {
    let Some(weights) = shared("parity/edm/egnn_small_L2_nf32.safetensors") else {
        return;
    };
    let Some(data) = shared("datasets") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("edm-small.safetensors");
    let out = diffgen()
        .arg("import-edm")
        .arg(&weights)
        .arg("--out")
        .arg(&ckpt)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert_success(&out);

    let out_dir = dir.path().join("samples");
    let run = |extra: &[&str]| {
        let out = diffgen()
            .args([
                "sample",
                "--num-samples",
                "6",
                "--steps",
                "10",
                "--seed",
                "2",
                "--data",
            ])
            .arg(&data)
            .arg("--checkpoint")
            .arg(&ckpt)
            .args(extra)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let stdout = run(&["--trajectory"]);
    assert!(
        stdout.contains("atom stability") && stdout.contains("novelty"),
        "{stdout}"
    );
    let xyz = diffgen_molecule::xyz::read_xyz(&out_dir.join("samples.xyz")).unwrap();
    assert_eq!(xyz.len(), 6);
    let sdf_text = std::fs::read_to_string(out_dir.join("samples.sdf")).unwrap();
    let sdf =
        diffgen_molecule::sdf::parse_sdf(&sdf_text, std::path::Path::new("samples.sdf")).unwrap();
    assert_eq!(sdf.len(), 6);
    for (record, x) in sdf.iter().zip(&xyz) {
        assert_eq!(record.molecule.atoms, x.atoms);
        assert_eq!(record.bonds, diffgen_molecule::bonds::perceive_bonds(x));
    }
    let pdbs: Vec<_> = std::fs::read_dir(out_dir.join("samples"))
        .unwrap()
        .collect();
    assert_eq!(pdbs.len(), 6);
    for (k, x) in xyz.iter().enumerate() {
        let path = out_dir.join(format!("samples/sample-{k:05}.pdb"));
        let (pdb, _) = pdbtbx::ReadOptions::new()
            .set_format(pdbtbx::Format::Pdb)
            .set_level(pdbtbx::StrictnessLevel::Loose)
            .read(path.to_str().unwrap())
            .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert_eq!(pdb.atom_count(), x.len());
    }
    for f in [
        "samples.metrics.json",
        "samples.atoms.png",
        "samples.bond_lengths.png",
    ] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }
    // One trajectory per molecule, 10 steps + the final denoising call.
    let trajectory =
        diffgen_molecule::xyz::read_xyz(&out_dir.join("trajectories/sample-00000.xyz")).unwrap();
    assert_eq!(trajectory.len(), 11);

    // Shards reproduce the unsharded molecules.
    run(&["--shard", "0/2", "--no-eval"]);
    run(&["--shard", "1/2", "--no-eval", "--batch-size", "1"]);
    let mut union =
        diffgen_molecule::xyz::read_xyz(&out_dir.join("samples.shard-0-of-2.xyz")).unwrap();
    union.extend(
        diffgen_molecule::xyz::read_xyz(&out_dir.join("samples.shard-1-of-2.xyz")).unwrap(),
    );
    assert_eq!(union.len(), 6);
    for (a, b) in union.iter().zip(&xyz) {
        assert_eq!(a.atoms, b.atoms);
        for (p, q) in a.positions.iter().zip(&b.positions) {
            for k in 0..3 {
                assert!((p[k] - q[k]).abs() < 1e-4, "{p:?} vs {q:?}");
            }
        }
    }

    // eval reads the files back and agrees.
    let out = diffgen()
        .args(["eval", "--modality", "molecule"])
        .arg(out_dir.join("samples.sdf"))
        .output()
        .unwrap();
    assert_success(&out);
}

#[test]
fn a_toy_checkpoint_is_refused_by_the_molecule_modality() {
    let dir = tempfile::tempdir().unwrap();
    let out = diffgen()
        .args(["run", "--modality", "molecule", "--checkpoint"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../diffgen-toy/weights/toy-ring.safetensors"
        ))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`toy` checkpoint") && err.contains("--modality toy"),
        "{err}"
    );
}

#[test]
fn run_molecule_writes_its_files_with_the_bundled_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = diffgen()
        .args([
            "run",
            "--modality",
            "molecule",
            "--num-samples",
            "5",
            "--steps",
            "20",
            "--seed",
            "1",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for metric in [
        "atom stability",
        "molecule stability",
        "validity",
        "uniqueness",
        "novelty",
    ] {
        assert!(stdout.contains(metric), "{metric} missing in {stdout}");
    }
    let xyz = diffgen_molecule::xyz::read_xyz(&dir.path().join("samples.xyz")).unwrap();
    assert_eq!(xyz.len(), 5);
    for m in &xyz {
        assert!((3..=29).contains(&m.len()), "{} atoms", m.len());
    }
    assert!(dir.path().join("samples.sdf").is_file());
    assert_eq!(
        std::fs::read_dir(dir.path().join("samples"))
            .unwrap()
            .count(),
        5
    );
}

/// `diffgen run --modality <modality> --seed 0 --num-samples <n>` at its other defaults: the
/// figures of its manifest, by name.
fn figures_at_defaults(modality: &str, samples: &str) -> impl Fn(&str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let out = diffgen()
        .args(["run", "--modality", modality, "--num-samples", samples])
        .args(["--seed", "0", "--no-report", "--quiet", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_success(&out);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    move |key: &str| {
        manifest["metrics"][key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}"))
    }
}

/// The bundled molecule model at `run`'s defaults (100 Euler steps on the model's time grid)
/// keeps its quality: on 64 molecules, well below what 1,000 give (≈ 96 % stable, 98 %
/// valid on its own bonds) and above what the previous bundle gave on a uniform grid (73 %,
/// 84 %).
#[test]
fn the_bundled_molecule_model_makes_stable_valid_molecules_at_its_defaults() {
    let figure = figures_at_defaults("molecule", "64");
    let stable = figure("own bonds: molecule stability");
    let valid = figure("own bonds: validity");
    assert!(stable >= 0.8, "molecule stability {stable}");
    assert!(valid >= 0.85, "validity {valid}");
}

/// The bundled protein (Cα) model at `run`'s defaults (100 Euler steps on its power:6 grid,
/// steric push on) keeps its bond geometry, compactness and helices: 64 chains at lengths
/// from the training set give consecutive CA–CA 3.81 ± 0.040 Å, Rg ratio 0.99 and helix 26 %
/// (the radial model); the step-15,000 model on a uniform grid spread them by 0.125 Å.
#[test]
fn the_bundled_protein_model_makes_compact_helical_chains_with_true_bonds_at_its_defaults() {
    let figure = figures_at_defaults("protein", "16");
    let (mean, sd) = (figure("ca_ca_mean_A"), figure("ca_ca_sd_A"));
    assert!((3.75..=3.85).contains(&mean), "CA–CA mean {mean}");
    assert!(sd <= 0.08, "CA–CA spread {sd}");
    let rg = figure("rg_ratio_mean");
    assert!((0.85..=1.15).contains(&rg), "Rg ratio {rg}");
    // Its default steric push (3.8 Å to the last step) leaves no non-local pair below 3 Å
    // by construction (the network alone leaves one in most chains): this checks that the
    // default stays on.
    let clashing = figure("clash_rate_structures");
    assert_eq!(clashing, 0.0, "chains with a clash");
    // Helices: 24 % of these 16 chains' residues (26 % on 64); a model or sampler that loses
    // them falls below this floor.
    let helix = figure("ss_helix");
    assert!(helix >= 0.15, "helix share {helix}");
}

/// An angle model saved before the rename says `protein`, now the Cα model's name: `sample`
/// finds `protein-angles` by its content, and `run --modality protein` names that modality.
#[test]
fn an_angle_checkpoint_from_before_the_rename_finds_its_modality() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../diffgen-protein/weights/protein-cath.safetensors");
    let mut checkpoint = diffgen_core::checkpoint::Checkpoint::load(&bundled).unwrap();
    checkpoint.meta.modality = "protein".into();
    let old = dir.path().join("old-angles.safetensors");
    checkpoint.save(&old).unwrap();

    let out = diffgen()
        .args(["run", "--modality", "protein", "--checkpoint"])
        .arg(&old)
        .args(["--out"])
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--modality protein-angles"), "{err}");

    let out = diffgen()
        .args(["sample", "--checkpoint"])
        .arg(&old)
        .args(["--num-samples", "1", "--length", "20", "--steps", "5"])
        .args(["--quiet", "--no-report", "--out"])
        .arg(dir.path().join("sample"))
        .output()
        .unwrap();
    assert_success(&out);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("sample").join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["modality"], "protein-angles");

    // Resuming it as the Cα model is refused before anything is read or written.
    let run = dir.path().join("resume");
    std::fs::create_dir(&run).unwrap();
    std::fs::copy(&old, run.join("checkpoint.safetensors")).unwrap();
    let out = diffgen()
        .args(["train", "--modality", "protein", "--resume", "--config"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/protein-cath-ca.toml"
        ))
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--modality protein-angles"), "{err}");
}

#[test]
fn ca_options_are_checked_and_belong_to_the_ca_model() {
    let dir = tempfile::tempdir().unwrap();
    let run = |modality: &str, opt: &str| {
        diffgen()
            .args(["run", "--modality", modality, "--num-samples", "1"])
            .args(["--length", "20", "--steps", "2", "--quiet", "--no-report"])
            .args(["--opt", opt, "--out"])
            .arg(dir.path().join(modality))
            .output()
            .unwrap()
    };
    for opt in [
        "steric=9",
        "steric=nan",
        "steric_until=2",
        "fold_class=sheet",
    ] {
        let out = run("protein", opt);
        assert!(!out.status.success(), "{opt} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let name = opt.split('=').next().unwrap();
        assert!(err.contains(name), "{opt}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    for opt in ["steric=3.8", "fold_class=mainly_beta"] {
        let out = run("protein-angles", opt);
        assert!(!out.status.success(), "{opt} accepted");
        let name = opt.split('=').next().unwrap();
        assert!(String::from_utf8_lossy(&out.stderr).contains(name));
    }
    let out = run("protein-angles", "format=pdb");
    assert_success(&out);
    let out = run("protein", "steric=0");
    assert_success(&out);
}

#[test]
fn run_protein_writes_pdb_files_and_metrics_with_no_data_present() {
    let dir = tempfile::tempdir().unwrap();
    // A data root without the protein data in it.
    std::fs::create_dir(dir.path().join("no-data-here")).unwrap();
    let out = diffgen()
        .env("DIFFGEN_DATA", dir.path().join("no-data-here"))
        .current_dir(dir.path())
        .args([
            "run",
            "--modality",
            "protein",
            "--length",
            "40",
            "--num-samples",
            "2",
            "--steps",
            "20",
            "--opt",
            "format=both",
        ])
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for metric in [
        "ca_ca_mean_A",
        "clash_rate_pairs",
        "ss_helix",
        "rama_js",
        "tm_diversity",
    ] {
        assert!(stdout.contains(metric), "{metric} missing in {stdout}");
    }
    for i in 0..2 {
        for ext in ["pdb", "cif"] {
            let path = dir.path().join(format!("out/samples/sample-{i:05}.{ext}"));
            let (pdb, _) = pdbtbx::ReadOptions::new()
                .set_level(pdbtbx::StrictnessLevel::Loose)
                .read(path.to_str().unwrap())
                .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert_eq!(pdb.residue_count(), 40, "{}", path.display());
            assert_eq!(pdb.atom_count(), 160, "{}", path.display());
        }
    }
    assert!(dir.path().join("out/samples.metrics.json").is_file());
    assert!(dir.path().join("out/samples.ramachandran.png").is_file());
}

/// `eval` of any file a molecule run wrote, of its samples' folder, or of the run directory
/// gives the run's own figures (coordinates are rounded to what every format holds).
#[test]
fn eval_of_every_file_a_molecule_run_wrote_gives_the_run_figures() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = diffgen()
        .args([
            "run",
            "--modality",
            "molecule",
            "--num-samples",
            "12",
            "--steps",
            "20",
            "--seed",
            "3",
        ])
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert_success(&out);
    let read_json = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let figures = |json: &serde_json::Value, prefix: &str| -> Vec<(String, f64)> {
        json["figures"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
            .collect()
    };
    let ran = read_json(&run.join("samples.metrics.json"));
    let ran_distances = figures(&ran, "distances:");
    assert!(ran_distances.len() >= 5, "{ran}");
    let mut own_bonds = Vec::new();
    for (k, input) in [
        run.join("samples.sdf"),
        run.join("samples.xyz"),
        run.join("samples"),
        run.clone(),
    ]
    .iter()
    .enumerate()
    {
        let json_path = dir.path().join(format!("eval-{k}.json"));
        let out = diffgen()
            .args(["eval", "--modality", "molecule", "--json"])
            .arg(&json_path)
            .arg(input)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            input.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("12 molecules"), "{stdout}");
        let evaluated = read_json(&json_path);
        assert_eq!(
            figures(&evaluated, "distances:"),
            ran_distances,
            "{}",
            input.display()
        );
        own_bonds.push(figures(&evaluated, "own bonds:"));
    }
    // The SDF, the PDBs and the run directory (its SDF) carry the model's bonds; XYZ none.
    assert!(!own_bonds[0].is_empty() && own_bonds[1].is_empty());
    assert_eq!(own_bonds[0], figures(&ran, "own bonds:"));
    assert_eq!(own_bonds[0], own_bonds[2]);
    assert_eq!(own_bonds[0], own_bonds[3]);
}

/// The joint molecule model's samples (atoms, bonds, charges, coordinates) do not depend on
/// the batch size or on sharding: each molecule's noise comes from its own stream.
#[test]
fn molecule_shards_and_batches_reproduce_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = diffgen()
            .args([
                "run",
                "--modality",
                "molecule",
                "--num-samples",
                "10",
                "--steps",
                "8",
                "--seed",
                "5",
                "--no-eval",
                "--no-report",
            ])
            .args(extra)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        assert_success(&out);
    };
    run(&[]);
    run(&["--shard", "0/2", "--batch-size", "3"]);
    run(&["--shard", "1/2", "--batch-size", "2"]);
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let whole = read("samples.sdf");
    assert_eq!(whole.matches("$$$$").count(), 10);
    let union = read("samples.shard-0-of-2.sdf") + &read("samples.shard-1-of-2.sdf");
    assert_eq!(whole, union);
    assert!(whole.contains("M  END"));
    // `eval` of the folder reads the whole run once, not its shards beside it.
    let out = diffgen()
        .args(["eval", "--modality", "molecule"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("10 molecules from 1 file"), "{stdout}");
}
