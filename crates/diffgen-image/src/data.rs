//! Image readers (MNIST IDX, scikit-learn's digits CSV, folders of PNG/JPEG) and the
//! training data built from them. Pixels are stored scaled to [−1, 1].

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use diffgen_core::error::BoxError;
use diffgen_core::rng::SeededRng;
use diffgen_core::tensor_util::tensor_from_vec;
use diffgen_core::train::TrainData;
use serde::{Deserialize, Serialize};

use crate::unet::ImageContext;
use crate::ImageError;

/// Where training images come from (`[data] source = { kind = … }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataSource {
    /// MNIST in IDX format (gzip or plain): `t10k-images-idx3-ubyte[.gz]` and
    /// `t10k-labels-idx1-ubyte[.gz]` in `dir` (default `<data>/images/mnist`). Only the test
    /// split (10,000) ships offline: the first `train_size` (9,000) train, the rest is held out.
    Mnist {
        /// The folder of the IDX files (relative paths: from the config's folder).
        #[serde(default)]
        dir: Option<PathBuf>,
    },
    /// scikit-learn's 8×8 digits, `digits.csv.gz` (default
    /// `<data>/images/sklearn_digits/digits.csv.gz`): 64 intensities 0..16, then the label.
    Digits {
        /// The CSV file, gzipped or plain (relative paths: from the config's folder).
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// Every `.png`/`.jpg`/`.jpeg` in a folder (sorted by name), resized to the model's size
    /// and converted to its channels. Unlabelled.
    Folder {
        /// The folder (relative paths: from the config's folder).
        path: PathBuf,
    },
}

impl DataSource {
    /// Its name in messages and checkpoint stats: `mnist`, `digits` or `folder <path>`.
    pub fn name(&self) -> String {
        match self {
            DataSource::Mnist { .. } => "mnist".into(),
            DataSource::Digits { .. } => "digits".into(),
            DataSource::Folder { path } => format!("folder {}", path.display()),
        }
    }

    /// Resolves relative paths against `base` (the config's folder) and defaults against
    /// the data root.
    pub fn load(
        &self,
        data_root: Option<&Path>,
        base: &Path,
        shape: Option<[usize; 3]>,
    ) -> Result<ImageSet, ImageError> {
        let resolve = |p: &Path| {
            if p.is_relative() {
                base.join(p)
            } else {
                p.to_path_buf()
            }
        };
        let root = || {
            data_root.map(Path::to_path_buf).ok_or_else(|| {
                ImageError::Data(format!(
                    "{}: no data root (pass --data DIR, set DIFFGEN_DATA, or give a path in the config)",
                    self.name()
                ))
            })
        };
        let set = match self {
            DataSource::Mnist { dir } => {
                let dir = match dir {
                    Some(d) => resolve(d),
                    None => root()?.join("images").join("mnist"),
                };
                read_mnist_dir(&dir)?
            }
            DataSource::Digits { path } => {
                let path = match path {
                    Some(p) => resolve(p),
                    None => root()?
                        .join("images")
                        .join("sklearn_digits")
                        .join("digits.csv.gz"),
                };
                read_digits_csv(&path)?
            }
            DataSource::Folder { path } => {
                let shape = shape.ok_or_else(|| {
                    ImageError::Data(format!(
                        "{}: a folder source needs the image size from [model]",
                        path.display()
                    ))
                })?;
                read_folder(&resolve(path), shape)?
            }
        };
        let Some(shape) = shape else {
            return Ok(set);
        };
        if set.shape() != shape {
            return Err(ImageError::Data(format!(
                "{} images are {}×{}×{} (channels×height×width) but the model is configured for {}×{}×{}; set [model] channels/height/width to match",
                self.name(),
                set.channels,
                set.height,
                set.width,
                shape[0],
                shape[1],
                shape[2]
            )));
        }
        Ok(set)
    }
}

/// Images in [−1, 1], row-major `[N, C, H, W]`, with optional labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSet {
    /// Channels per image (1: grey, 3: RGB).
    pub channels: usize,
    /// Image height, in pixels.
    pub height: usize,
    /// Image width, in pixels.
    pub width: usize,
    /// Every image, flat `[N, C, H, W]`.
    pub pixels: Vec<f32>,
    /// One per image (None: unlabelled); its length is the number of images.
    pub labels: Vec<Option<usize>>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[C, H, W]` of every image.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Values per image: `C·H·W`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels `[C, H, W]` of image `i` (panics when out of range).
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Images `range` as a new set.
    pub fn slice(&self, range: std::ops::Range<usize>) -> ImageSet {
        let n = self.image_len();
        ImageSet {
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels: self.pixels[range.start * n..range.end * n].to_vec(),
            labels: self.labels[range].to_vec(),
        }
    }

    /// Classes the labels take (0 when unlabelled).
    pub fn num_classes(&self) -> usize {
        self.labels.iter().flatten().max().map_or(0, |m| m + 1)
    }

    /// A batch tensor `[n, C, H, W]` of images `indices`.
    pub fn tensor(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let mut values = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            values.extend_from_slice(self.image(i));
        }
        tensor_from_vec(
            values,
            [indices.len(), self.channels, self.height, self.width],
            device,
        )
    }
}

/// u8 intensity 0..=255 → [−1, 1].
pub fn from_u8(v: u8) -> f32 {
    v as f32 / 127.5 - 1.0
}

/// Reads a whole file, un-gzipping it when it starts with the gzip magic. Errors name it.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, ImageError> {
    let raw = std::fs::read(path).map_err(|e| ImageError::Io(path.to_path_buf(), e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| ImageError::Format {
                path: path.to_path_buf(),
                reason: format!("gzip stream is damaged or truncated ({e})"),
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// An IDX file of unsigned bytes: its dimensions and payload. `rank` is the expected number
/// of dimensions; errors name `path`.
pub fn parse_idx(
    bytes: &[u8],
    rank: usize,
    path: &Path,
) -> Result<(Vec<usize>, Vec<u8>), ImageError> {
    let bad = |reason: String| ImageError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "too short for an IDX header ({} bytes, need {header})",
            bytes.len()
        )));
    }
    let magic = be_u32(bytes, 0);
    let expected = 0x0800 | rank as u32;
    if magic != expected {
        return Err(bad(format!(
            "magic number {magic:#010x}, expected {expected:#010x} (IDX, unsigned bytes, {rank} dimensions)"
        )));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| be_u32(bytes, 4 + 4 * i) as usize)
        .collect();
    if dims[0] == 0 {
        return Err(bad(format!(
            "no images or labels: the header declares {dims:?} (0 items)"
        )));
    }
    if dims.contains(&0) {
        return Err(bad(format!(
            "the header declares dimensions {dims:?}; an item of size 0 holds nothing"
        )));
    }
    // The declared sizes are checked against the bytes the file holds before anything is
    // allocated for them (the payload below is a copy of bytes that exist).
    let payload = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let body = &bytes[header..];
    if body.len() != payload {
        return Err(bad(format!(
            "dimensions {dims:?} need {payload} data bytes, the file has {} ({})",
            body.len(),
            if body.len() < payload {
                "truncated"
            } else {
                "trailing data"
            }
        )));
    }
    Ok((dims, body.to_vec()))
}

/// MNIST images (`idx3`) and labels (`idx1`).
pub fn read_mnist(images: &Path, labels: &Path) -> Result<ImageSet, ImageError> {
    let (dims, pixels) = parse_idx(&read_maybe_gz(images)?, 3, images)?;
    let (ldims, label_bytes) = parse_idx(&read_maybe_gz(labels)?, 1, labels)?;
    if ldims[0] != dims[0] {
        return Err(ImageError::Format {
            path: labels.to_path_buf(),
            reason: format!(
                "{} labels for {} images in {}",
                ldims[0],
                dims[0],
                images.display()
            ),
        });
    }
    if let Some(pos) = label_bytes.iter().position(|&l| l > 9) {
        return Err(ImageError::Format {
            path: labels.to_path_buf(),
            reason: format!(
                "label {} of item {pos} is not a digit 0..9",
                label_bytes[pos]
            ),
        });
    }
    Ok(ImageSet {
        channels: 1,
        height: dims[1],
        width: dims[2],
        pixels: pixels.into_iter().map(from_u8).collect(),
        labels: label_bytes.into_iter().map(|l| Some(l as usize)).collect(),
    })
}

/// The MNIST files of a folder: `*-images-idx3-ubyte[.gz]` and `*-labels-idx1-ubyte[.gz]`
/// (the test split `t10k-…` is preferred when several are present).
pub fn read_mnist_dir(dir: &Path) -> Result<ImageSet, ImageError> {
    let find = |kind: &str| -> Result<PathBuf, ImageError> {
        for prefix in ["t10k", "train"] {
            for ext in ["-ubyte.gz", "-ubyte"] {
                let p = dir.join(format!("{prefix}-{kind}{ext}"));
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        Err(ImageError::Data(format!(
            "{}: no MNIST {kind} file (t10k-{kind}-ubyte.gz or train-{kind}-ubyte.gz)",
            dir.display()
        )))
    };
    read_mnist(&find("images-idx3")?, &find("labels-idx1")?)
}

/// scikit-learn's `digits.csv(.gz)`: 64 intensities 0..16 (8×8, row-major) and a label per
/// line. Errors name the file and line.
pub fn read_digits_csv(path: &Path) -> Result<ImageSet, ImageError> {
    let bytes = read_maybe_gz(path)?;
    let text = String::from_utf8(bytes).map_err(|_| ImageError::Format {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })?;
    parse_digits_csv(&text, path)
}

/// The text of a digits CSV (see [`read_digits_csv`]); blank lines are skipped, and `path`
/// only names the file in errors, with the 1-based line.
pub fn parse_digits_csv(text: &str, path: &Path) -> Result<ImageSet, ImageError> {
    let mut set = ImageSet {
        channels: 1,
        height: 8,
        width: 8,
        ..ImageSet::default()
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: String| ImageError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 65 {
            return Err(bad(format!(
                "expected 65 comma-separated values (64 pixels and a label), found {}",
                fields.len()
            )));
        }
        for (k, f) in fields[..64].iter().enumerate() {
            let v: f64 = f
                .parse()
                .ok()
                .filter(|v: &f64| (0.0..=16.0).contains(v))
                .ok_or_else(|| bad(format!("pixel {} (`{f}`) is not a number in 0..16", k + 1)))?;
            set.pixels.push((v / 8.0 - 1.0) as f32);
        }
        let label: f64 = fields[64]
            .parse()
            .ok()
            .filter(|v: &f64| v.fract() == 0.0 && (0.0..=9.0).contains(v))
            .ok_or_else(|| bad(format!("label `{}` is not a digit 0..9", fields[64])))?;
        set.labels.push(Some(label as usize));
    }
    if set.is_empty() {
        return Err(ImageError::Format {
            path: path.to_path_buf(),
            reason: "no images (no data rows)".into(),
        });
    }
    Ok(set)
}

/// Decodes one image file and converts it to `shape` = [channels, height, width]
/// (resized with a triangle filter when the size differs), in [−1, 1].
pub fn read_image_file(path: &Path, shape: [usize; 3]) -> Result<Vec<f32>, ImageError> {
    let img = image::ImageReader::open(path)
        .map_err(|e| ImageError::Io(path.to_path_buf(), e))?
        .with_guessed_format()
        .map_err(|e| ImageError::Io(path.to_path_buf(), e))?
        .decode()
        .map_err(|e| ImageError::Format {
            path: path.to_path_buf(),
            reason: format!("cannot decode the image ({e})"),
        })?;
    Ok(image_to_pixels(img, shape))
}

/// A decoded image → `[C,H,W]` in [−1, 1] (resized when needed).
pub fn image_to_pixels(img: image::DynamicImage, shape: [usize; 3]) -> Vec<f32> {
    let [c, h, w] = shape;
    let img = if img.width() as usize != w || img.height() as usize != h {
        img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    if c == 1 {
        img.to_luma8().into_raw().into_iter().map(from_u8).collect()
    } else {
        // interleaved RGB → planar [3,H,W]
        let rgb = img.to_rgb8().into_raw();
        let mut out = vec![0.0; 3 * h * w];
        for (p, px) in rgb.chunks_exact(3).enumerate() {
            for k in 0..3 {
                out[k * h * w + p] = from_u8(px[k]);
            }
        }
        out
    }
}

/// Every `.png`, `.jpg`, `.jpeg` in `dir`, sorted by name, as `shape` images.
pub fn read_folder(dir: &Path, shape: [usize; 3]) -> Result<ImageSet, ImageError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ImageError::Io(dir.to_path_buf(), e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ImageError::Data(format!(
            "{}: no .png/.jpg/.jpeg images",
            dir.display()
        )));
    }
    let mut set = ImageSet {
        channels: shape[0],
        height: shape[1],
        width: shape[2],
        ..ImageSet::default()
    };
    for file in &files {
        set.pixels.extend(read_image_file(file, shape)?);
        set.labels.push(None);
    }
    Ok(set)
}

/// Images ready for the trainer, with label dropout for classifier-free guidance.
pub struct ImageData {
    /// The images and their labels.
    pub set: ImageSet,
    /// Classes of a conditional model, whose null label is `num_classes` (0: unconditional,
    /// no labels are passed).
    pub num_classes: usize,
    /// Share of labels replaced by the null label per batch.
    pub label_dropout: f64,
}

impl TrainData<4> for ImageData {
    type Context = ImageContext;

    fn len(&self) -> usize {
        self.set.len()
    }

    fn batch(
        &self,
        indices: &[usize],
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<(Tensor<4>, ImageContext), BoxError> {
        let x = self.set.tensor(indices, device);
        let labels = (self.num_classes > 0).then(|| {
            let null = self.num_classes as i64;
            let ids: Vec<i64> = indices
                .iter()
                .map(|&i| {
                    let dropped = self.label_dropout > 0.0 && rng.uniform() < self.label_dropout;
                    match self.set.labels[i] {
                        Some(l) if !dropped => l as i64,
                        _ => null,
                    }
                })
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(ids, [indices.len()]), device)
        });
        Ok((x, ImageContext { labels }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend(d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn idx_round_trip_and_errors() {
        let p = Path::new("x.idx");
        let (dims, body) = parse_idx(&idx(0x803, &[2, 2, 3], &[7; 12]), 3, p).unwrap();
        assert_eq!(dims, vec![2, 2, 3]);
        assert_eq!(body.len(), 12);
        let err = parse_idx(&idx(0x803, &[2, 2, 3], &[7; 11]), 3, p).unwrap_err();
        assert!(err.to_string().contains("x.idx") && err.to_string().contains("truncated"));
        let err = parse_idx(&idx(0x801, &[2, 2, 3], &[7; 12]), 3, p).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
        assert!(parse_idx(&[0, 0], 1, p).is_err());
        assert!(parse_idx(&idx(0x803, &[2, 2, 3], &[7; 13]), 3, p).is_err());
    }

    #[test]
    fn digits_parse_and_errors_name_the_line() {
        let row = |label: &str| {
            let mut f: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
            f.push(label.into());
            f.join(",")
        };
        let text = format!("{}\n{}\n", row("3"), row("9"));
        let set = parse_digits_csv(&text, Path::new("d.csv")).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.labels, vec![Some(3), Some(9)]);
        assert_eq!(set.pixels[0], -1.0);
        assert_eq!(set.pixels[16], 1.0);
        let err = parse_digits_csv(&format!("{}\n{}\n", row("3"), row("x")), Path::new("d.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("d.csv") && err.contains("line 2"), "{err}");
        let err = parse_digits_csv("1,2,3\n", Path::new("d.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("65"), "{err}");
    }
}
