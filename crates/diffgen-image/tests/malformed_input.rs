//! Malformed image inputs, written to a temp dir and read by the real readers: declared sizes
//! are checked against the bytes before anything is allocated, and empty inputs are errors
//! naming the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use diffgen_image::data::{read_digits_csv, read_folder, read_mnist};
use diffgen_image::io::read_samples;

fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn an_idx_header_claiming_enormous_sizes_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let labels = write(dir.path(), "labels-idx1-ubyte", &idx(0x801, &[2], &[1, 2]));
    for (dims, name) in [
        (vec![u32::MAX, u32::MAX, u32::MAX], "max"),
        (vec![4_000_000_000, 28, 28], "many"),
        (vec![2, 1 << 31, 1 << 31], "wide"),
    ] {
        for (bytes, file) in [
            (
                idx(0x803, &dims, &[0; 64]),
                format!("{name}-images-idx3-ubyte"),
            ),
            (
                gz(&idx(0x803, &dims, &[0; 64])),
                format!("{name}-images-idx3-ubyte.gz"),
            ),
        ] {
            let path = write(dir.path(), &file, &bytes);
            let msg = read_mnist(&path, &labels).unwrap_err().to_string();
            assert!(
                msg.starts_with(&path.display().to_string())
                    && msg.contains(&format!("dimensions {dims:?}"))
                    && (msg.contains("the file has 64 (truncated)") || msg.ends_with("overflow")),
                "{msg}"
            );
        }
    }
    let images = write(
        dir.path(),
        "i-images-idx3-ubyte",
        &idx(0x803, &[2, 2, 2], &[0; 8]),
    );
    let path = write(
        dir.path(),
        "huge-labels-idx1-ubyte",
        &idx(0x801, &[u32::MAX], &[1, 2]),
    );
    let msg = read_mnist(&images, &path).unwrap_err().to_string();
    assert!(
        msg.contains("huge-labels-idx1-ubyte") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn empty_image_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let labels = write(dir.path(), "l-idx1", &idx(0x801, &[0], &[]));
    let images = write(dir.path(), "i-idx3", &idx(0x803, &[0, 28, 28], &[]));
    let msg = read_mnist(&images, &labels).unwrap_err().to_string();
    assert!(
        msg.starts_with(&images.display().to_string()) && msg.contains("no images"),
        "{msg}"
    );
    let images = write(dir.path(), "z-idx3", &idx(0x803, &[3, 0, 28], &[]));
    let msg = read_mnist(&images, &labels).unwrap_err().to_string();
    assert!(msg.contains("z-idx3") && msg.contains("size 0"), "{msg}");
    for (name, bytes) in [("e-idx3", Vec::new()), ("e-idx3.gz", gz(&[]))] {
        let images = write(dir.path(), name, &bytes);
        let msg = read_mnist(&images, &labels).unwrap_err().to_string();
        assert!(msg.contains(name) && msg.contains("too short"), "{msg}");
    }
    for (name, bytes) in [("d.csv", Vec::new()), ("d.csv.gz", gz(b"\n\n"))] {
        let path = write(dir.path(), name, &bytes);
        let msg = read_digits_csv(&path).unwrap_err().to_string();
        assert_eq!(msg, format!("{}: no images (no data rows)", path.display()));
    }
    let empty = dir.path().join("folder");
    std::fs::create_dir(&empty).unwrap();
    let msg = read_folder(&empty, [1, 8, 8]).unwrap_err().to_string();
    assert!(msg.contains("folder") && msg.contains("no .png"), "{msg}");
    // An empty or garbage PNG.
    for (name, bytes) in [
        ("e.png", Vec::new()),
        ("g.png", b"\x89PNG\r\n\x1a\nxx".to_vec()),
    ] {
        let path = write(dir.path(), name, &bytes);
        let msg = read_samples(&path, [1, 8, 8]).unwrap_err().to_string();
        assert!(msg.contains(name), "{msg}");
        let msg = read_folder(dir.path(), [1, 8, 8]).unwrap_err().to_string();
        assert!(msg.contains(".png"), "{msg}");
    }
}

#[test]
fn a_png_header_claiming_an_enormous_image_is_an_error() {
    // A PNG whose IHDR declares 1,000,000 × 1,000,000 pixels and holds no image data.
    let dir = tempfile::tempdir().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(1_000_000u32.to_be_bytes());
    ihdr.extend(1_000_000u32.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    let path = write(dir.path(), "big.png", &png);
    let msg = read_samples(&path, [1, 8, 8]).unwrap_err().to_string();
    assert!(msg.contains("big.png"), "{msg}");
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn an_enormous_image_size_is_a_setting_error() {
    // What a checkpoint's config could claim; its tensors do not bound the image size.
    let config: diffgen_image::unet::UNetConfig = serde_json::from_value(serde_json::json!({
        "channels": 1, "height": 1_000_000, "width": 28, "block_out_channels": [8]
    }))
    .unwrap();
    let msg = config.validate().unwrap_err().to_string();
    assert!(
        msg.contains("`model.height/width`") && msg.contains("1000000×28"),
        "{msg}"
    );
}
