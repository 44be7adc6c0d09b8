//! The checkpoint reader on arbitrary bytes: an error naming the file, or a checkpoint whose
//! tensors are finite and hold the values their shapes declare, never a panic or an abort.
#![no_main]

use std::path::Path;

use diffgen_core::checkpoint::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Checkpoint::from_bytes(data, Path::new("fuzz.safetensors")) {
        Ok(ckpt) => {
            for t in ckpt.tensors.values() {
                assert_eq!(t.values.len(), t.shape.iter().product::<usize>());
                assert!(t.values.iter().all(|v| v.is_finite()));
            }
        }
        Err(e) => assert!(
            e.to_string().starts_with("checkpoint fuzz.safetensors"),
            "{e}"
        ),
    }
});
