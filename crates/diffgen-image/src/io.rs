//! Writers: a PNG grid of samples, single PNGs, and an animated GIF of the denoising
//! trajectory; and the reader `eval` uses to cut grids back into images.
//!
//! Pixels map from [−1, 1] to 0..=255 (clamped). A grid has `nrow` images per row with a
//! 2-pixel border of grey 128 around and between the images; empty cells of the last row are
//! border-coloured. So an image of `H×W` in a grid of `R` rows and `nrow` columns gives a PNG
//! of `(2 + nrow·(W+2)) × (2 + R·(H+2))` pixels.

use std::io::Write;
use std::path::{Path, PathBuf};

use diffgen_core::checkpoint::write_atomic;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use crate::data::{image_to_pixels, ImageSet};
use crate::ImageError;

/// Border width of grids, in pixels.
pub const BORDER: usize = 2;
/// Border colour (grey).
pub const BORDER_VALUE: u8 = 128;

/// [−1, 1] → 0..=255.
pub fn to_u8(v: f32) -> u8 {
    (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8
}

/// Images `[N, C, H, W]` (flat, in [−1, 1]) of one shape.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Every image, flat `[N, C, H, W]`.
    pub pixels: &'a [f32],
    /// `[C, H, W]` of each image.
    pub shape: [usize; 3],
}

impl Batch<'_> {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.shape.iter().product::<usize>().max(1)
    }

    /// Whether it holds no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An 8-bit raster, grey (1 channel) or RGB (3, interleaved).
#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    /// Width, in pixels.
    pub width: usize,
    /// Height, in pixels.
    pub height: usize,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Row-major pixels with the channels interleaved: `height·width·channels` bytes.
    pub data: Vec<u8>,
}

impl Raster {
    fn color(&self) -> ExtendedColorType {
        if self.channels == 1 {
            ExtendedColorType::L8
        } else {
            ExtendedColorType::Rgb8
        }
    }
}

impl Raster {
    /// The `width × height` part at `(x0, y0)` (which must lie inside).
    pub fn crop(&self, x0: usize, y0: usize, width: usize, height: usize) -> Raster {
        let c = self.channels;
        let mut data = Vec::with_capacity(width * height * c);
        for y in y0..y0 + height {
            let start = (y * self.width + x0) * c;
            data.extend_from_slice(&self.data[start..start + width * c]);
        }
        Raster {
            width,
            height,
            channels: c,
            data,
        }
    }
}

/// Where the images of a grid lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridLayout {
    /// Images per row.
    pub cols: usize,
    /// Rows.
    pub rows: usize,
    /// The raster's width, in pixels.
    pub width: usize,
    /// The raster's height, in pixels.
    pub height: usize,
}

impl GridLayout {
    /// The layout of `n` images of `[C, H, W]` with `nrow` per row.
    pub fn new(n: usize, nrow: usize, shape: [usize; 3]) -> Self {
        let [_, h, w] = shape;
        let cols = nrow.max(1).min(n.max(1));
        let rows = n.div_ceil(cols).max(1);
        GridLayout {
            cols,
            rows,
            width: BORDER + cols * (w + BORDER),
            height: BORDER + rows * (h + BORDER),
        }
    }

    /// The top-left pixel of image `i`.
    pub fn origin(&self, i: usize, shape: [usize; 3]) -> (usize, usize) {
        let [_, h, w] = shape;
        (
            BORDER + (i % self.cols) * (w + BORDER),
            BORDER + (i / self.cols) * (h + BORDER),
        )
    }
}

/// The grid raster of a batch with `nrow` images per row.
pub fn grid(batch: Batch<'_>, nrow: usize) -> Raster {
    let [c, h, w] = batch.shape;
    let n = batch.len();
    let layout = GridLayout::new(n, nrow, batch.shape);
    let (width, height) = (layout.width, layout.height);
    let mut data = vec![BORDER_VALUE; width * height * c];
    let plane = h * w;
    for i in 0..n {
        let img = &batch.pixels[i * c * plane..(i + 1) * c * plane];
        let (x0, y0) = layout.origin(i, batch.shape);
        for y in 0..h {
            for x in 0..w {
                for k in 0..c {
                    data[((y0 + y) * width + x0 + x) * c + k] = to_u8(img[k * plane + y * w + x]);
                }
            }
        }
    }
    Raster {
        width,
        height,
        channels: c,
        data,
    }
}

fn encode_png(raster: &Raster, out: &mut impl Write) -> image::ImageResult<()> {
    PngEncoder::new(out).write_image(
        &raster.data,
        raster.width as u32,
        raster.height as u32,
        raster.color(),
    )
}

/// A raster's PNG encoding.
pub fn png_bytes(raster: &Raster) -> image::ImageResult<Vec<u8>> {
    let mut bytes = Vec::new();
    encode_png(raster, &mut bytes)?;
    Ok(bytes)
}

/// Writes a raster as PNG (atomically).
pub fn write_png(path: &Path, raster: &Raster) -> Result<(), ImageError> {
    let mut bytes = Vec::new();
    encode_png(raster, &mut bytes).map_err(|e| ImageError::Format {
        path: path.to_path_buf(),
        reason: format!("PNG encoding failed ({e})"),
    })?;
    Ok(write_atomic(path, |f| f.write_all(&bytes))?)
}

/// A PNG grid of the batch.
pub fn write_grid_png(path: &Path, batch: Batch<'_>, nrow: usize) -> Result<(), ImageError> {
    write_png(path, &grid(batch, nrow))
}

/// One PNG per image, `dir/sample-<index>.png` (indices are the global sample indices).
pub fn write_singles(
    dir: &Path,
    batch: Batch<'_>,
    indices: &[usize],
) -> Result<Vec<PathBuf>, ImageError> {
    let [c, h, w] = batch.shape;
    let per = c * h * w;
    let mut files = Vec::with_capacity(indices.len());
    for (i, &index) in indices.iter().enumerate() {
        let img = &batch.pixels[i * per..(i + 1) * per];
        let mut data = vec![0u8; per];
        for y in 0..h {
            for x in 0..w {
                for k in 0..c {
                    data[(y * w + x) * c + k] = to_u8(img[k * h * w + y * w + x]);
                }
            }
        }
        let path = dir.join(format!("sample-{index:05}.png"));
        write_png(
            &path,
            &Raster {
                width: w,
                height: h,
                channels: c,
                data,
            },
        )?;
        files.push(path);
    }
    Ok(files)
}

/// Which sampler steps (1-based, of `total`) the GIF shows: the first step, every
/// `every`-th, and the last. For 400 steps every 20th: 1, 20, 40, …, 400 = 21 frames;
/// in general `|{1} ∪ {k·every} ∪ {total}|`.
pub fn gif_steps(total: usize, every: usize) -> Vec<usize> {
    (1..=total)
        .filter(|&s| is_frame_step(s, total, every))
        .collect()
}

/// Whether step `step` (1-based) of `total` is a GIF frame.
pub fn is_frame_step(step: usize, total: usize, every: usize) -> bool {
    step == 1 || step.is_multiple_of(every.max(1)) || step == total
}

/// An animated GIF (looping) of grids, `delay_cs` hundredths of a second per frame and the
/// last frame held for 2 s. Grey grids use a 256-grey palette (exact); RGB grids are
/// quantised per frame by the `gif` crate.
pub fn write_gif(path: &Path, frames: &[Raster], delay_cs: u16) -> Result<(), ImageError> {
    let bad = |e: String| ImageError::Format {
        path: path.to_path_buf(),
        reason: format!("GIF encoding failed ({e})"),
    };
    let first = frames.first().ok_or_else(|| bad("no frames".into()))?;
    let (w, h) = (first.width, first.height);
    if w > u16::MAX as usize || h > u16::MAX as usize {
        return Err(bad(format!("{w}×{h} is too large for a GIF")));
    }
    let mut bytes = Vec::new();
    {
        let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        let global: &[u8] = if first.channels == 1 { &palette } else { &[] };
        let mut encoder = gif::Encoder::new(&mut bytes, w as u16, h as u16, global)
            .map_err(|e| bad(e.to_string()))?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(|e| bad(e.to_string()))?;
        for (i, raster) in frames.iter().enumerate() {
            let mut frame = if raster.channels == 1 {
                gif::Frame {
                    width: w as u16,
                    height: h as u16,
                    buffer: std::borrow::Cow::Borrowed(&raster.data),
                    ..gif::Frame::default()
                }
            } else {
                gif::Frame::from_rgb_speed(w as u16, h as u16, &raster.data, 10)
            };
            frame.delay = if i + 1 == frames.len() { 200 } else { delay_cs };
            encoder
                .write_frame(&frame)
                .map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(write_atomic(path, |f| f.write_all(&bytes))?)
}

/// Reads the images of a PNG/JPEG written by `sample`: a single image of `shape`, or a grid
/// of such images with this module's border (cells entirely border-coloured are skipped).
/// Any other size is an error naming the file.
pub fn read_samples(path: &Path, shape: [usize; 3]) -> Result<ImageSet, ImageError> {
    let img = image::ImageReader::open(path)
        .map_err(|e| ImageError::Io(path.to_path_buf(), e))?
        .with_guessed_format()
        .map_err(|e| ImageError::Io(path.to_path_buf(), e))?
        .decode()
        .map_err(|e| ImageError::Format {
            path: path.to_path_buf(),
            reason: format!("cannot decode the image ({e})"),
        })?;
    let [c, h, w] = shape;
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let mut set = ImageSet {
        channels: c,
        height: h,
        width: w,
        ..ImageSet::default()
    };
    if iw == w && ih == h {
        set.pixels = image_to_pixels(img, shape);
        set.labels.push(None);
        return Ok(set);
    }
    let fits = |total: usize, cell: usize| {
        total > BORDER && (total - BORDER).is_multiple_of(cell + BORDER)
    };
    if !(fits(iw, w) && fits(ih, h)) {
        return Err(ImageError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "{iw}×{ih} pixels is neither one {w}×{h} image nor a grid of them with a {BORDER}-pixel border"
            ),
        });
    }
    let (cols, rows) = ((iw - BORDER) / (w + BORDER), (ih - BORDER) / (h + BORDER));
    let raster: Vec<u8> = if c == 1 {
        img.to_luma8().into_raw()
    } else {
        img.to_rgb8().into_raw()
    };
    for r in 0..rows {
        for col in 0..cols {
            let (x0, y0) = (BORDER + col * (w + BORDER), BORDER + r * (h + BORDER));
            let mut cell = vec![0u8; c * h * w];
            for y in 0..h {
                for x in 0..w {
                    for k in 0..c {
                        cell[k * h * w + y * w + x] = raster[((y0 + y) * iw + x0 + x) * c + k];
                    }
                }
            }
            if cell.iter().all(|&v| v == BORDER_VALUE) {
                continue;
            }
            set.pixels
                .extend(cell.into_iter().map(crate::data::from_u8));
            set.labels.push(None);
        }
    }
    if set.is_empty() {
        return Err(ImageError::Format {
            path: path.to_path_buf(),
            reason: "the grid holds no images".into(),
        });
    }
    Ok(set)
}
