//! Bonds and charges perceived from the geometries of QM9 test against the SMILES of the
//! QM9 index: the same heavy-atom graph with element, formal charge and hydrogen count on
//! every atom, and (where the SMILES is not aromatic) the same bond orders.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use diffgen_molecule::perceive::{perceive_with, PerceiveOptions, Perceived, DEFAULT_TOLERANCE};
use diffgen_molecule::smiles::{parse_smiles, Smiles, SmilesBond};
use diffgen_molecule::xyz::{read_xyz, Molecule};
use diffgen_test_support::shared;
use petgraph::algo::is_isomorphic_matching;
use petgraph::graph::UnGraph;

/// Element, formal charge and hydrogen count of a heavy atom.
type Label = (u8, i8, u8);
/// Heavy atoms; bonds carry their order, None for an aromatic SMILES bond.
type Heavy = UnGraph<Label, Option<u8>>;

fn heavy_graph(atoms: &[Label], hydrogen: &[bool], bonds: &[(usize, usize, Option<u8>)]) -> Heavy {
    let mut labels = atoms.to_vec();
    for &(i, j, _) in bonds {
        if hydrogen[j] && !hydrogen[i] {
            labels[i].2 += 1;
        }
        if hydrogen[i] && !hydrogen[j] {
            labels[j].2 += 1;
        }
    }
    let mut g = Heavy::default();
    let mut node = vec![None; atoms.len()];
    for (k, label) in labels.iter().enumerate() {
        if !hydrogen[k] {
            node[k] = Some(g.add_node(*label));
        }
    }
    for &(i, j, order) in bonds {
        if let (Some(a), Some(b)) = (node[i], node[j]) {
            g.add_edge(a, b, order);
        }
    }
    g
}

/// A neutral pentavalent nitrogen doubly bonded to a terminal oxygen (GDB writes nitro
/// groups as `N(=O)=O`) becomes `[N+][O-]`, as RDKit's sanitisation rewrites it.
fn separate_nitro_charges(s: &mut Smiles) {
    let valence = |s: &Smiles, a: usize| -> u8 {
        let bonds: u8 = s
            .bonds
            .iter()
            .filter(|b| b.0 == a || b.1 == a)
            .map(|b| b.2.order().unwrap_or(1))
            .sum();
        bonds + s.atoms[a].hydrogens
    };
    for n in 0..s.atoms.len() {
        if s.atoms[n].element != 7 || s.atoms[n].charge != 0 || valence(s, n) != 5 {
            continue;
        }
        let oxo = s.bonds.iter().position(|&(i, j, b)| {
            let o = if i == n {
                j
            } else if j == n {
                i
            } else {
                return false;
            };
            b == SmilesBond::Double
                && s.atoms[o].element == 8
                && s.atoms[o].charge == 0
                && s.bonds.iter().filter(|x| x.0 == o || x.1 == o).count() == 1
        });
        if let Some(k) = oxo {
            let (i, j, _) = s.bonds[k];
            let o = if i == n { j } else { i };
            s.bonds[k].2 = SmilesBond::Single;
            s.atoms[n].charge = 1;
            s.atoms[o].charge = -1;
        }
    }
}

fn from_smiles(s: &Smiles) -> Heavy {
    let atoms: Vec<Label> = s
        .atoms
        .iter()
        .map(|a| (a.element, a.charge, a.hydrogens))
        .collect();
    let hydrogen: Vec<bool> = s.atoms.iter().map(|a| a.element == 1).collect();
    let bonds: Vec<_> = s.bonds.iter().map(|&(i, j, b)| (i, j, b.order())).collect();
    heavy_graph(&atoms, &hydrogen, &bonds)
}

fn from_perceived(m: &Molecule, p: &Perceived) -> Heavy {
    let atoms: Vec<Label> = m
        .atoms
        .iter()
        .zip(&p.charges)
        .map(|(&z, &q)| (z, q, 0))
        .collect();
    let hydrogen: Vec<bool> = m.atoms.iter().map(|&z| z == 1).collect();
    let bonds: Vec<_> = p.bonds.iter().map(|&(i, j, o)| (i, j, Some(o))).collect();
    heavy_graph(&atoms, &hydrogen, &bonds)
}

/// A compact rendering of a perceived structure for the report: heavy atoms with charge
/// and H count, and the bonds with their orders.
fn describe(g: &Heavy) -> String {
    let atoms: Vec<String> = g
        .node_indices()
        .map(|i| {
            let (z, q, h) = g[i];
            let sign = match q {
                0 => String::new(),
                1 => "+".into(),
                -1 => "-".into(),
                q => format!("{q:+}"),
            };
            let hs = match h {
                0 => String::new(),
                1 => "H".into(),
                h => format!("H{h}"),
            };
            format!(
                "{}{}{hs}{sign}",
                diffgen_molecule::elements::symbol(z),
                i.index()
            )
        })
        .collect();
    let bonds: Vec<String> = g
        .edge_indices()
        .filter_map(|e| {
            let (a, b) = g.edge_endpoints(e)?;
            let symbol = match g[e] {
                Some(2) => "=",
                Some(3) => "#",
                _ => "-",
            };
            Some(format!("{}{symbol}{}", a.index(), b.index()))
        })
        .collect();
    format!("{} | {}", atoms.join(" "), bonds.join(" "))
}

/// The index's SMILES by GDB index.
fn index_smiles(path: &Path) -> HashMap<u32, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, smiles) = (column("gdb_index"), column("smiles"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[id].parse().unwrap(), fields[smiles].to_string())
        })
        .collect()
}

fn gdb_index(m: &Molecule) -> u32 {
    let mut words = m.comment.split_whitespace();
    assert_eq!(words.next(), Some("gdb"), "{}", m.comment);
    words.next().unwrap().parse().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Agrees,
    /// No valence-satisfying structure for the perceived connectivity.
    NoStructure,
    /// Another heavy-atom skeleton (bonds made or broken in the relaxation, or a distance
    /// outside the tolerance).
    Connectivity,
    /// The same skeleton, another placement of hydrogens (a tautomer).
    Hydrogens,
    /// Same skeleton and hydrogens, other formal charges (the SMILES a charge-separated
    /// resonance form where a neutral one exists).
    Charges,
}

fn judge(reference: &Heavy, perceived: Option<&Heavy>) -> Verdict {
    let Some(perceived) = perceived else {
        return Verdict::NoStructure;
    };
    let any = |_: &Option<u8>, _: &Option<u8>| true;
    if is_isomorphic_matching(reference, perceived, |a, b| a == b, any) {
        return Verdict::Agrees;
    }
    if !is_isomorphic_matching(reference, perceived, |a, b| a.0 == b.0, any) {
        return Verdict::Connectivity;
    }
    match is_isomorphic_matching(reference, perceived, |a, b| (a.0, a.2) == (b.0, b.2), any) {
        true => Verdict::Charges,
        false => Verdict::Hydrogens,
    }
}

#[test]
fn perceived_qm9_test_molecules_match_the_index_smiles() {
    let (Some(xyz), Some(tsv)) = (
        shared("datasets/qm9/qm9_test.xyz.gz"),
        shared("datasets/qm9/qm9_index.tsv.gz"),
    ) else {
        return;
    };
    let molecules = read_xyz(&xyz).unwrap();
    assert_eq!(molecules.len(), 13_083);
    let smiles = index_smiles(&tsv);
    let references: Vec<(String, Heavy)> = molecules
        .iter()
        .map(|m| {
            let s = &smiles[&gdb_index(m)];
            let mut parsed = parse_smiles(s).unwrap();
            separate_nitro_charges(&mut parsed);
            (s.clone(), from_smiles(&parsed))
        })
        .collect();

    // The tolerance scan: agreement of connectivity, charges and hydrogens.
    let mut scan = Vec::new();
    for tolerance in [1.10, 1.15, 1.20, 1.25, 1.30] {
        let options = PerceiveOptions {
            tolerance,
            ..Default::default()
        };
        let agree = molecules
            .iter()
            .zip(&references)
            .filter(|(m, (_, r))| {
                let p = perceive_with(m, &options).ok();
                let g = p.map(|p| from_perceived(m, &p));
                judge(r, g.as_ref()) == Verdict::Agrees
            })
            .count();
        scan.push(format!("{tolerance:.2}: {agree}"));
    }
    println!("agreement by tolerance: {}", scan.join(", "));

    let options = PerceiveOptions {
        tolerance: DEFAULT_TOLERANCE,
        ..Default::default()
    };
    // Timed for the log only (speed belongs in benchmarks, not in assertions).
    let start = Instant::now();
    let perceived: Vec<_> = molecules
        .iter()
        .map(|m| perceive_with(m, &options))
        .collect();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "perceived {} molecules in {seconds:.2} s (tolerance {DEFAULT_TOLERANCE})",
        molecules.len()
    );

    let mut verdicts: BTreeMap<Verdict, usize> = BTreeMap::new();
    let mut same_orders = 0;
    let mut comparable_orders = 0;
    let mut shown = 0;
    for ((m, p), (s, reference)) in molecules.iter().zip(&perceived).zip(&references) {
        // Every perceived structure satisfies its own valences and is neutral.
        if let Ok(p) = p {
            assert_eq!(p.charges.iter().map(|&q| q as i32).sum::<i32>(), 0);
        }
        let graph = p.as_ref().ok().map(|p| from_perceived(m, p));
        let verdict = judge(reference, graph.as_ref());
        *verdicts.entry(verdict).or_default() += 1;
        if verdict == Verdict::Agrees && reference.edge_weights().all(Option::is_some) {
            comparable_orders += 1;
            let graph = graph.as_ref().unwrap();
            if is_isomorphic_matching(reference, graph, |a, b| a == b, |a, b| a == b) {
                same_orders += 1;
            }
        }
        if verdict != Verdict::Agrees && shown < 20 {
            shown += 1;
            let what = match (p, &graph) {
                (Err(e), _) => e.to_string(),
                (_, Some(g)) => describe(g),
                _ => unreachable!(),
            };
            println!("gdb {} {verdict:?}: {s} | perceived {what}", gdb_index(m));
        }
    }
    let agree = verdicts.get(&Verdict::Agrees).copied().unwrap_or(0);
    println!("verdicts: {verdicts:?}");
    println!(
        "agreement {agree}/{} ({:.2} %); bond orders identical in {same_orders}/{comparable_orders} of those with a Kekulé SMILES",
        molecules.len(),
        100.0 * agree as f64 / molecules.len() as f64
    );
    assert!(
        agree as f64 >= 0.99 * molecules.len() as f64,
        "agreement {agree}/{}",
        molecules.len()
    );
    // Bond orders differ only where another Kekulé structure fits the same labels.
    assert!(same_orders as f64 >= 0.97 * comparable_orders as f64);
}

/// The comparison itself, without the data.
#[test]
fn the_comparison_tells_charges_hydrogens_and_skeletons_apart() {
    let g = |s: &str| from_smiles(&parse_smiles(s).unwrap());
    assert_eq!(judge(&g("CC(=O)O"), Some(&g("OC(C)=O"))), Verdict::Agrees);
    assert_eq!(judge(&g("CC(=O)O"), None), Verdict::NoStructure);
    assert_eq!(
        judge(&g("CC(=O)O"), Some(&g("COC=O"))),
        Verdict::Connectivity
    );
    assert_eq!(
        judge(&g("CC(=O)N"), Some(&g("CC(O)=N"))),
        Verdict::Hydrogens
    );
    assert_eq!(
        judge(&g("NC(=[NH2+])[C-](C#N)C#N"), Some(&g("NC(N)=C(C#N)C#N"))),
        Verdict::Charges
    );
    // Two Kekulé structures of 2-fluorotoluene: the same labels, other bond orders.
    let (a, b) = (g("FC1=C(C)C=CC=C1"), g("FC1C(C)=CC=CC=1"));
    assert_eq!(judge(&a, Some(&b)), Verdict::Agrees);
    assert!(!is_isomorphic_matching(
        &a,
        &b,
        |x, y| x == y,
        |x, y| x == y
    ));
    assert!(is_isomorphic_matching(
        &a,
        &g("CC1=C(F)C=CC=C1"),
        |x, y| x == y,
        |x, y| x == y
    ));
}

/// RDKit sanitises the SDF records of our structures and writes canonical SMILES.
const RDKIT_SCRIPT: &str = r#"
import json, sys
from rdkit import Chem, RDLogger
RDLogger.DisableLog("rdApp.*")
references = json.load(open(sys.argv[2]))
out = []
for mol, ref in zip(Chem.SDMolSupplier(sys.argv[1], sanitize=True, removeHs=False), references):
    ours = None
    if mol is not None:
        # Without stereo first: RDKit keeps an imine's H when it defines the bond's stereo.
        Chem.RemoveStereochemistry(mol)
        ours = Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False)
    theirs = Chem.MolToSmiles(Chem.MolFromSmiles(ref), isomericSmiles=False)
    out.append([ours, theirs])
print(json.dumps(out))
"#;

fn rdkit_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import rdkit"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn rdkit_sanitises_perceived_molecules_and_agrees_on_canonical_smiles() {
    if !diffgen_test_support::prerequisite_under(
        "DIFFGEN_REQUIRE_RDKIT",
        rdkit_available(),
        "python3 with RDKit",
        "pip install rdkit",
    ) {
        return;
    }
    let (Some(xyz), Some(tsv)) = (
        shared("datasets/qm9/qm9_test.xyz.gz"),
        shared("datasets/qm9/qm9_index.tsv.gz"),
    ) else {
        return;
    };
    let smiles = index_smiles(&tsv);
    let molecules: Vec<Molecule> = read_xyz(&xyz).unwrap().into_iter().step_by(10).collect();
    let mut sdf = String::new();
    let mut references = Vec::new();
    for m in &molecules {
        let p = diffgen_molecule::perceive::perceive(m).unwrap();
        // The writer's own bonds and charges (atom block codes and `M  CHG`).
        sdf.push_str(&diffgen_molecule::sdf::to_sdf_record(
            m,
            &diffgen_molecule::sdf::SdfContents {
                bonds: &p.bonds,
                charges: &p.charges,
                name: &m.comment,
                fields: &[],
            },
        ));
        references.push(smiles[&gdb_index(m)].clone());
    }
    let dir = tempfile::tempdir().unwrap();
    let (sdf_path, ref_path) = (
        dir.path().join("perceived.sdf"),
        dir.path().join("ref.json"),
    );
    std::fs::write(&sdf_path, sdf).unwrap();
    std::fs::write(&ref_path, serde_json::to_string(&references).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(RDKIT_SCRIPT)
        .arg(&sdf_path)
        .arg(&ref_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pairs: Vec<(Option<String>, String)> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pairs.len(), molecules.len());
    let rejected = pairs.iter().filter(|p| p.0.is_none()).count();
    let agree = pairs.iter().filter(|p| p.0.as_ref() == Some(&p.1)).count();
    for (m, (ours, theirs)) in molecules.iter().zip(&pairs) {
        if ours.as_ref() != Some(theirs) {
            println!("gdb {}: RDKit {theirs} | ours {ours:?}", gdb_index(m));
        }
    }
    println!(
        "RDKit: {agree}/{} canonical SMILES agree, {rejected} rejected by sanitisation",
        molecules.len()
    );
    // Every perceived structure is a valid molecule for RDKit.
    assert_eq!(rejected, 0);
    assert!(agree as f64 >= 0.99 * molecules.len() as f64);
}
