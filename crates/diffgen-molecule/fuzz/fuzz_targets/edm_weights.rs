//! The EDM weight importer (safetensors) on arbitrary bytes: an error naming the file, or
//! finite tensors whose sizes the file held, never a panic or an abort.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    match diffgen_molecule::import::read_edm_safetensors(data, path) {
        Ok(w) => {
            for t in w.tensors.values() {
                assert_eq!(t.values.len(), t.shape.iter().product::<usize>());
                assert!(t.values.iter().all(|v| v.is_finite()));
            }
            // The sizes the model would be built with are bounded by the file.
            assert!(w.config.hidden * w.config.hidden <= data.len());
        }
        Err(e) => assert!(e.starts_with("fuzz.safetensors"), "{e}"),
    }
});
