//! The point CSV reader on arbitrary text: an error naming the file or finite points with
//! bounded labels, never a panic or an abort.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match diffgen_toy::data::parse_points_csv(text, Path::new("fuzz.csv")) {
        Ok(set) => {
            assert!(!set.is_empty() && set.points.len() == set.labels.len());
            assert!(set.points.iter().flatten().all(|v| v.is_finite()));
            assert!(set
                .labels
                .iter()
                .flatten()
                .all(|&l| l < diffgen_toy::data::MAX_CLASSES));
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.csv"), "{e}"),
    }
});
