//! The SDF (V2000) reader on arbitrary text: an error naming the file, or records that keep
//! the reader's promises, never a panic or an abort.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match diffgen_molecule::sdf::parse_sdf(text, Path::new("fuzz.sdf")) {
        Ok(records) => {
            assert!(!records.is_empty(), "Ok with no records");
            for (m, bonds) in &records {
                assert!(!m.is_empty() && m.atoms.len() == m.positions.len());
                assert!(m.positions.iter().flatten().all(|v| v.is_finite()));
                for &(i, j, order) in bonds {
                    assert!(i < j && j < m.len() && (1..=3).contains(&order));
                }
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.sdf"), "{e}"),
    }
});
