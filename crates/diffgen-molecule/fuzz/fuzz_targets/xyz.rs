//! The XYZ reader on arbitrary text: an error or molecules that keep the reader's promises,
//! never a panic or an abort.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.xyz");
    match diffgen_molecule::xyz::parse_xyz(text, path) {
        Ok(molecules) => {
            assert!(!molecules.is_empty(), "Ok with no molecules");
            for m in &molecules {
                assert!(!m.is_empty() && m.atoms.len() == m.positions.len());
                assert!(m.positions.iter().flatten().all(|v| v.is_finite()));
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.xyz"), "{e}"),
    }
});
