//! Readers on the shared data and on broken files: errors name the file.

mod common;

use std::io::Write;
use std::path::Path;

use common::shared;
use diffgen_image::data::{read_digits_csv, read_folder, read_mnist, read_mnist_dir, DataSource};

#[test]
fn mnist_test_split_reads_with_the_documented_label_counts() {
    let Some(dir) = shared("datasets/images/mnist") else {
        return;
    };
    let set = read_mnist_dir(&dir).unwrap();
    assert_eq!(set.len(), 10_000);
    assert_eq!(set.shape(), [1, 28, 28]);
    let mut counts = [0usize; 10];
    for l in set.labels.iter().flatten() {
        counts[*l] += 1;
    }
    assert_eq!(
        counts,
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let (lo, hi) = set
        .pixels
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((lo, hi), (-1.0, 1.0));
}

#[test]
fn digits_read_as_8x8_in_range() {
    let Some(path) = shared("datasets/images/sklearn_digits/digits.csv.gz") else {
        return;
    };
    let set = read_digits_csv(&path).unwrap();
    assert_eq!(set.len(), 1797);
    assert_eq!(set.shape(), [1, 8, 8]);
    assert!(set.pixels.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert_eq!(set.num_classes(), 10);
}

#[test]
fn a_folder_of_photos_resizes_to_grey_or_rgb() {
    let Some(dir) = shared("datasets/images/rgb_samples") else {
        return;
    };
    let rgb = read_folder(&dir, [3, 36, 28]).unwrap();
    assert_eq!(rgb.len(), 5);
    assert_eq!(rgb.pixels.len(), 5 * 3 * 36 * 28);
    let grey = read_folder(&dir, [1, 16, 16]).unwrap();
    assert_eq!(grey.pixels.len(), 5 * 256);
    // Colour photos: the channels differ somewhere.
    let plane = 36 * 28;
    assert!((0..plane).any(|p| (rgb.pixels[p] - rgb.pixels[plane + p]).abs() > 0.05));
}

#[test]
fn a_truncated_idx_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("t10k-images-idx3-ubyte.gz");
    let labels = dir.path().join("t10k-labels-idx1-ubyte.gz");
    // A header for 10 images of 28×28 but only 100 pixel bytes, gzip-compressed.
    let mut raw = 0x803u32.to_be_bytes().to_vec();
    for d in [10u32, 28, 28] {
        raw.extend(d.to_be_bytes());
    }
    raw.extend([0u8; 100]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    std::fs::write(&images, gz.finish().unwrap()).unwrap();
    let mut l = 0x801u32.to_be_bytes().to_vec();
    l.extend(10u32.to_be_bytes());
    l.extend([1u8; 10]);
    std::fs::write(&labels, &l).unwrap();
    let err = read_mnist(&images, &labels).unwrap_err().to_string();
    assert!(
        err.contains("t10k-images-idx3-ubyte.gz") && err.contains("truncated"),
        "{err}"
    );

    // A gzip stream cut in the middle.
    let full = std::fs::read(&images).unwrap();
    std::fs::write(&images, &full[..full.len() / 2]).unwrap();
    let err = read_mnist(&images, &labels).unwrap_err().to_string();
    assert!(err.contains("t10k-images-idx3-ubyte.gz"), "{err}");

    // Labels swapped for images: wrong magic.
    let err = read_mnist(&labels, &labels).unwrap_err().to_string();
    assert!(
        err.contains("magic") && err.contains("t10k-labels"),
        "{err}"
    );
    // No such folder.
    assert!(read_mnist_dir(&dir.path().join("nope")).is_err());
}

#[test]
fn a_garbage_png_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a-broken.png"),
        b"\x89PNG\r\n\x1a\n garbage",
    )
    .unwrap();
    let err = read_folder(dir.path(), [1, 8, 8]).unwrap_err().to_string();
    assert!(err.contains("a-broken.png"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = read_folder(empty.path(), [1, 8, 8])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no .png"), "{err}");
}

#[test]
fn a_bad_digits_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digits.csv");
    let mut good: Vec<String> = (0..64).map(|_| "0".to_string()).collect();
    good.push("5".into());
    let mut bad = good.clone();
    bad[10] = "17".into();
    std::fs::write(&path, format!("{}\n{}\n", good.join(","), bad.join(","))).unwrap();
    let err = read_digits_csv(&path).unwrap_err().to_string();
    assert!(
        err.contains("digits.csv") && err.contains("line 2") && err.contains("pixel 11"),
        "{err}"
    );
}

#[test]
fn the_model_size_must_match_the_data() {
    let Some(root) = shared("datasets") else {
        return;
    };
    let err = DataSource::Digits { path: None }
        .load(Some(&root), Path::new("."), Some([1, 28, 28]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("8×8") || err.contains("1×8×8"), "{err}");
    let err = DataSource::Mnist { dir: None }
        .load(None, Path::new("."), Some([1, 28, 28]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--data"), "{err}");
}
