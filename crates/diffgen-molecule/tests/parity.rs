//! Parity with EDM's own code: `../shared/parity/edm/` holds outputs of EDM's Python on fixed
//! inputs (see its README).

mod common;

use std::io::Read;

use burn::tensor::{Device, Tensor};
use common::{edm_model, shared, tensor, tensors};
use diffgen_core::rng::NoiseSource;
use diffgen_core::tensor_util::to_vec;
use diffgen_core::train::denoising_loss;
use diffgen_core::{LossWeighting, ScheduleConfig};
use diffgen_molecule::egnn::GraphMasks;
use diffgen_molecule::metrics::analyse;
use diffgen_molecule::space::{MolContext, MoleculeSpace};
use diffgen_molecule::xyz::parse_xyz;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn egnn_matches_edm_on_every_parity_batch() {
    let Some(io) = shared("parity/edm/egnn_forward_io.safetensors") else {
        return;
    };
    let io = tensors(&io);
    let device = Device::flex();
    for (model_name, file) in [
        ("small", "egnn_small_L2_nf32.safetensors"),
        ("large", "egnn_large_L9_nf256.safetensors"),
    ] {
        let model = edm_model(file, &device);
        for b in 0..3 {
            let get = |k: &str| {
                io.get(&format!("b{b}.{k}"))
                    .unwrap_or_else(|| panic!("b{b}.{k}"))
            };
            let xh: Tensor<3> = tensor(get("xh_f32"), &device);
            let [batch, n, _] = xh.dims();
            let t: Tensor<1> = tensor::<2>(get("t_f32"), &device).reshape([batch]);
            // No pair lists: the kernel reads them off EDM's node mask.
            let masks = GraphMasks {
                pairs: None,
                node: tensor(get("node_mask"), &device),
                edge: tensor::<3>(get("edge_mask"), &device).reshape([batch, n, n, 1]),
            };
            let out = to_vec(model.forward(xh, t, &masks));
            let expected = &io[&format!("{model_name}.b{b}.out_f32")].values;
            let diff = max_abs_diff(&out, expected);
            eprintln!("{model_name} b{b}: max |ours − EDM| = {diff:.2e}");
            assert!(diff <= 1e-4, "{model_name} b{b}: max |ours − EDM| = {diff}");
        }
    }
}

#[test]
fn schedules_match_edm_tables() {
    let Some(path) = shared("parity/edm/schedules.safetensors") else {
        return;
    };
    // f32 copies would lose precision; read the f64 tables directly.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let table = |name: &str| -> Vec<f64> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    for (name, config) in [
        ("polynomial_2", ScheduleConfig::edm_polynomial()),
        (
            "cosine",
            ScheduleConfig::Cosine {
                steps: 1000,
                offset: 0.008,
            },
        ),
    ] {
        let ours = config.build().unwrap();
        let gamma = table(&format!("{name}.gamma_f64"));
        let alpha2 = table(&format!("{name}.alphas2_f64"));
        assert_eq!(gamma.len(), 1001);
        for t in 0..=1000 {
            let g = ours.gamma(t);
            assert!(
                (g - gamma[t]).abs() <= 1e-6 * gamma[t].abs().max(1.0),
                "{name} γ[{t}]: {g} vs {}",
                gamma[t]
            );
            let a = ours.alpha_bar(t);
            assert!(
                (a - alpha2[t]).abs() <= 1e-6 * alpha2[t],
                "{name} α²[{t}]: {a} vs {}",
                alpha2[t]
            );
        }
    }
}

/// Replays recorded noise.
struct Recorded(Option<Tensor<3>>);

impl NoiseSource for Recorded {
    fn standard_normal<const D: usize>(
        &mut self,
        shape: [usize; D],
        _device: &Device,
    ) -> Tensor<D> {
        let t = self.0.take().expect("one draw");
        assert_eq!(t.dims().as_slice(), shape.as_slice());
        t.reshape(shape)
    }
}

#[test]
fn training_loss_matches_edm_per_molecule() {
    let Some(path) = shared("parity/edm/loss_small.safetensors") else {
        return;
    };
    let rec = tensors(&path);
    let device = Device::flex();
    let model = edm_model("egnn_small_L2_nf32.safetensors", &device);
    let schedule = ScheduleConfig::edm_polynomial().build().unwrap();
    // x (centred Å), one-hot / 4, Z / 10, as EDM scales them.
    let x: Tensor<3> = tensor(&rec["input.x_f32"], &device);
    let onehot: Tensor<3> = tensor::<3>(&rec["input.one_hot"], &device).div_scalar(4.0);
    let charges: Tensor<3> = tensor::<3>(&rec["input.charges"], &device).div_scalar(10.0);
    let x0 = Tensor::cat(vec![x, onehot, charges], 2);
    let [b, n, _] = x0.dims();
    let node = tensor::<3>(&rec["input.node_mask"], &device);
    let counts: Vec<usize> = to_vec(node.clone().sum_dim(1))
        .iter()
        .map(|&c| c as usize)
        .collect();
    let context = MolContext::new(&counts, &device);
    assert_eq!(context.max_atoms(), n);
    for case in ["A_seeded", "B_fed_t"] {
        let t: Vec<usize> = rec[&format!("{case}.f32.t_int")]
            .values
            .iter()
            .map(|&v| v as usize)
            .collect();
        let eps: Tensor<3> = tensor(&rec[&format!("{case}.f32.eps")], &device);
        let mut noise = Recorded(Some(eps));
        let ours = to_vec(denoising_loss(
            &model,
            &MoleculeSpace::EDM,
            &schedule,
            LossWeighting::Uniform,
            x0.clone(),
            &context,
            &t,
            &mut noise,
        ));
        let edm = &rec[&format!("{case}.f32.loss_t_larger_than_zero")].values;
        for m in 0..b {
            // At t = 0 EDM uses its decoder likelihood instead (1 draw in 1001); we keep the
            // ε loss there, so only t > 0 is compared.
            if t[m] == 0 {
                continue;
            }
            let rel = (ours[m] - edm[m]).abs() / edm[m].abs().max(1e-6);
            assert!(
                rel < 1e-4,
                "{case} molecule {m} (t={}): ours {} EDM {}",
                t[m],
                ours[m],
                edm[m]
            );
        }
    }
}

fn read_gz(path: &std::path::Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn stability_and_validity_agree_with_edm_on_the_parity_molecules() {
    let Some(xyz) = shared("parity/edm/molecules_xyz.gz") else {
        return;
    };
    let Some(results) = shared("parity/edm/molecules_results.tsv") else {
        return;
    };
    let molecules = parse_xyz(&read_gz(&xyz), &xyz).unwrap();
    let table = std::fs::read_to_string(results).unwrap();
    let mut rows = table.lines();
    let header: Vec<&str> = rows.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (c_stable, c_atoms, c_valid) = (col("mol_stable"), col("n_stable_atoms"), col("valid"));
    let mut disagreements = Vec::new();
    let mut n = 0;
    for (row, m) in rows.zip(&molecules) {
        let f: Vec<&str> = row.split('\t').collect();
        let a = analyse(m);
        assert_eq!(a.stable, f[c_stable] == "1", "molecule {}: stability", f[0]);
        assert_eq!(
            a.stable_atoms.to_string(),
            f[c_atoms],
            "molecule {}: stable atoms",
            f[0]
        );
        if a.valid != (f[c_valid] == "1") {
            disagreements.push(format!("{} (ours {}, RDKit {})", f[0], a.valid, f[c_valid]));
        }
        n += 1;
    }
    assert_eq!(n, 3000);
    let agreement = 1.0 - disagreements.len() as f64 / n as f64;
    eprintln!(
        "validity agreement {:.4}; disagreements: {}",
        agreement,
        disagreements.join(", ")
    );
    assert!(agreement >= 0.99, "validity agrees on {agreement}");
}

#[test]
fn data_stability_matches_edm_on_the_qm9_splits() {
    let Some(dir) = shared("datasets/qm9") else {
        return;
    };
    for (split, atom, mol) in [("train", 99.36, 95.29), ("test", 99.34, 95.22)] {
        let path = dir.join(format!("qm9_{split}.xyz.gz"));
        let molecules = parse_xyz(&read_gz(&path), &path).unwrap();
        let analyses: Vec<_> = molecules.iter().map(analyse).collect();
        let s = diffgen_molecule::metrics::summarise(&analyses, None);
        assert!(
            (100.0 * s.atom_stability - atom).abs() < 0.005,
            "{split}: atom {}",
            100.0 * s.atom_stability
        );
        assert!(
            (100.0 * s.molecule_stability - mol).abs() < 0.005,
            "{split}: mol {}",
            100.0 * s.molecule_stability
        );
    }
}

#[test]
fn the_bundled_training_keys_are_those_of_qm9_train() {
    let Some(path) = shared("datasets/qm9/qm9_train.xyz.gz") else {
        return;
    };
    let Some(test) = shared("datasets/qm9/qm9_test.xyz.gz") else {
        return;
    };
    let molecules = parse_xyz(&read_gz(&path), &path).unwrap();
    let from_data = diffgen_molecule::qm9_key_hashes(&molecules);
    let bundled = diffgen_molecule::training_keys(None).expect("bundled keys");
    assert_eq!(
        bundled, from_data,
        "regenerate with the qm9_train_keys example"
    );
    // QM9's test molecules are almost all absent from train: novelty is near 1, not 0.
    let test: Vec<_> = parse_xyz(&read_gz(&test), &test)
        .unwrap()
        .into_iter()
        .take(2000)
        .collect();
    let analyses: Vec<_> = test.iter().map(analyse).collect();
    let s = diffgen_molecule::metrics::summarise(&analyses, Some(&bundled));
    let novelty = s.novelty.unwrap();
    eprintln!("novelty of 2000 QM9 test molecules against train: {novelty:.4}");
    assert!(novelty > 0.5, "{novelty}");
    // And train molecules against train: not novel.
    let train_part: Vec<_> = molecules.iter().take(2000).map(analyse).collect();
    assert!(
        diffgen_molecule::metrics::summarise(&train_part, Some(&bundled))
            .novelty
            .unwrap()
            < 0.001
    );
}
