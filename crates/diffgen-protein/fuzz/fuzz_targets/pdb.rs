//! The PDB reader (our checks, then pdbtbx) on arbitrary bytes: an error naming the file or
//! finite backbones, never a panic that escapes or an abort. A pdbtbx panic caught by the
//! reader is an error, not a crash; set DIFFGEN_FUZZ_SHOW=1 to print those and
//! DIFFGEN_FUZZ_SAVE=DIR to keep them (to learn what the reader's own checks could refuse
//! earlier, with a clearer message).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(Path::new("fuzz.pdb"), data);
});

fn check(path: &Path, data: &[u8]) {
    match diffgen_protein::io::read_structure_bytes(path, data, None) {
        Ok((backbones, _)) => {
            assert!(!backbones.is_empty());
            for b in &backbones {
                for p in b.n.iter().chain(&b.ca).chain(&b.c).chain(&b.o) {
                    assert!(p.iter().all(|v| v.is_finite()));
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&path.display().to_string()), "{msg}");
            if msg.contains("(pdbtbx) failed") {
                if std::env::var_os("DIFFGEN_FUZZ_SHOW").is_some() {
                    eprintln!("caught: {msg}");
                }
                // DIFFGEN_FUZZ_SAVE=DIR keeps such inputs, to study them.
                if let Some(dir) = std::env::var_os("DIFFGEN_FUZZ_SAVE") {
                    let name = format!("{:016x}", fxhash(data));
                    let _ = std::fs::write(Path::new(&dir).join(name), data);
                }
            }
        }
    }
}

fn fxhash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
