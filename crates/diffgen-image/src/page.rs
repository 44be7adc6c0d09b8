//! The image sections of `diffgen report`: every generated image, scaled up, with the class
//! it was asked for and the bundled classifier's verdict on it (the class it sees and that
//! class's probability); disagreements are marked, shaded and counted.
//!
//! The images are cut from the run's grid (`samples.png`, laid out as its summary
//! `samples.json` says); the verdicts come from `samples.verdicts.jsonl`, which `evaluate`
//! writes: one JSON object per line and image,
//! `{"index":3,"requested":3,"predicted":3,"confidence":0.98}` (`requested` is null for an
//! unconditional image).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use diffgen_core::checkpoint::write_atomic;
use diffgen_core::page::{bytes_uri, escape, format_figure, PageSection, RunDir};
use diffgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::io::{self, GridLayout, Raster};
use crate::{ImageError, SampleSummary};

/// `samples.<this>`: the classifier's verdicts, one line per image.
pub const VERDICTS_SUFFIX: &str = "verdicts.jsonl";
/// At most this many images go into the page; the summary line covers all of them.
pub const MAX_SHOWN: usize = 1000;
/// Images are drawn at a whole multiple of their size, about this many CSS pixels across.
const SHOWN_PX: usize = 84;
/// Disagreements named one by one in the summary line.
const MAX_LISTED: usize = 20;

/// The classifier's verdict on one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// The sample's global index.
    pub index: usize,
    /// The class it was conditioned on (None: unconditional).
    pub requested: Option<usize>,
    /// The class the classifier sees.
    pub predicted: usize,
    /// The classifier's softmax probability of that class.
    pub confidence: f64,
}

impl Verdict {
    /// Whether the classifier sees the class asked for (None: nothing was asked).
    pub fn agrees(&self) -> Option<bool> {
        self.requested.map(|r| r == self.predicted)
    }
}

/// Writes `verdicts` as JSON lines (atomically).
pub fn write_verdicts(path: &Path, verdicts: &[Verdict]) -> Result<(), ImageError> {
    let mut text = String::new();
    for v in verdicts {
        let line = serde_json::to_string(v)
            .map_err(|e| CoreError::Other(format!("serialising a verdict: {e}")))?;
        text.push_str(&line);
        text.push('\n');
    }
    write_atomic(path, |f| std::io::Write::write_all(f, text.as_bytes()))?;
    Ok(())
}

/// Reads a verdicts file; a line that is not a verdict is an error naming the file and line.
pub fn read_verdicts(path: &Path) -> Result<Vec<Verdict>, ImageError> {
    let text = std::fs::read_to_string(path).map_err(|e| ImageError::Io(path.to_path_buf(), e))?;
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| ImageError::Parse {
            path: path.to_path_buf(),
            line: k + 1,
            reason,
        };
        let v: Verdict = serde_json::from_str(line)
            .map_err(|e| bad(format!("not a classifier verdict ({e})")))?;
        if !(v.confidence.is_finite() && (0.0..=1.0).contains(&v.confidence)) {
            return Err(bad(format!(
                "confidence {} is not a probability",
                v.confidence
            )));
        }
        out.push(v);
    }
    Ok(out)
}

/// The stems (`samples`, `samples.shard-0-of-2`) of the run's image collections: those
/// whose summary `<stem>.json` the manifest lists.
fn collections(run: &RunDir) -> Vec<String> {
    run.files()
        .iter()
        .filter(|p| p.parent() == Some(run.dir()))
        .filter_map(|p| {
            p.file_name()?
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .filter(|stem| stem == "samples" || stem.starts_with("samples.shard-"))
        .collect()
}

/// The image sections of a sampling run (nothing for a training run).
pub fn sections(run: &RunDir) -> Result<Vec<PageSection>, ImageError> {
    if matches!(run, RunDir::Training { .. }) {
        return Ok(Vec::new());
    }
    let stems = collections(run);
    if stems.is_empty() {
        return Err(ImageError::Format {
            path: run.dir().to_path_buf(),
            reason: "the run lists no samples.json (the grid's summary) to show".into(),
        });
    }
    let listed = run.files();
    stems
        .iter()
        .map(|stem| -> Result<PageSection, ImageError> {
            let mut section = collection_section(run.dir(), stem, &listed)?;
            if stems.len() > 1 {
                section.title = format!("{} ({stem})", section.title);
            }
            Ok(section)
        })
        .collect()
}

/// One collection's images: cut from `<stem>.png`, captioned from `<stem>.verdicts.jsonl`
/// when the run lists it.
fn collection_section(
    dir: &Path,
    stem: &str,
    listed: &[PathBuf],
) -> Result<PageSection, ImageError> {
    let summary_path = dir.join(format!("{stem}.json"));
    let text = std::fs::read_to_string(&summary_path)
        .map_err(|e| ImageError::Io(summary_path.clone(), e))?;
    let summary: SampleSummary = serde_json::from_str(&text).map_err(|e| ImageError::Format {
        path: summary_path.clone(),
        reason: format!("not an image run's summary ({e})"),
    })?;
    let n = summary.indices.len();
    if summary.classes.len() != n {
        return Err(ImageError::Format {
            path: summary_path,
            reason: format!("{} classes for {n} images", summary.classes.len()),
        });
    }
    let grid_path = dir.join(format!("{stem}.png"));
    let images = cut_grid(&grid_path, &summary, &summary_path)?;

    let verdicts_path = dir.join(format!("{stem}.{VERDICTS_SUFFIX}"));
    let verdicts = if listed.contains(&verdicts_path) {
        let verdicts = read_verdicts(&verdicts_path)?;
        check_verdicts(&verdicts, &summary, &verdicts_path, &summary_path)?;
        Some(verdicts)
    } else {
        None
    };

    let mut html = summary_line(&summary, verdicts.as_deref(), stem);
    html.push_str("<div class=\"thumbs\">\n");
    let [_, h, w] = summary.shape;
    let scale = (SHOWN_PX / h.max(w).max(1)).max(1);
    for (k, image) in images.iter().enumerate().take(MAX_SHOWN) {
        let index = summary.indices[k];
        let asked = summary.classes[k];
        let png = io::png_bytes(image).map_err(|e| ImageError::Format {
            path: grid_path.clone(),
            reason: format!("PNG encoding of image {index} failed ({e})"),
        })?;
        let verdict = verdicts.as_ref().map(|v| &v[k]);
        figure(
            &mut html,
            index,
            asked,
            verdict,
            &png,
            (w * scale, h * scale),
        );
    }
    html.push_str("</div>");
    Ok(PageSection {
        title: "Images".into(),
        html,
    })
}

/// The grid's images, in sample order; a grid not laid out as the summary says is an error.
fn cut_grid(
    grid_path: &Path,
    summary: &SampleSummary,
    summary_path: &Path,
) -> Result<Vec<Raster>, ImageError> {
    let bytes = std::fs::read(grid_path).map_err(|e| ImageError::Io(grid_path.to_path_buf(), e))?;
    let bad = |reason: String| ImageError::Format {
        path: grid_path.to_path_buf(),
        reason,
    };
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| bad(format!("cannot decode the PNG ({e})")))?;
    let shape = summary.shape;
    let [c, h, w] = shape;
    let n = summary.indices.len();
    let layout = GridLayout::new(n, summary.nrow, shape);
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    if (iw, ih) != (layout.width, layout.height) {
        return Err(bad(format!(
            "{iw}×{ih} pixels, but {n} images of {w}×{h} at {} per row make a {}×{} grid (as {} says)",
            summary.nrow,
            layout.width,
            layout.height,
            summary_path.display()
        )));
    }
    let data = match c {
        1 => img.to_luma8().into_raw(),
        3 => img.to_rgb8().into_raw(),
        _ => {
            return Err(bad(format!(
                "{c} channels: the page shows grey or RGB images"
            )))
        }
    };
    let raster = Raster {
        width: iw,
        height: ih,
        channels: c,
        data,
    };
    Ok((0..n)
        .map(|i| {
            let (x0, y0) = layout.origin(i, shape);
            raster.crop(x0, y0, w, h)
        })
        .collect())
}

/// The verdicts must be the summary's images, in its order, asked for the same classes.
fn check_verdicts(
    verdicts: &[Verdict],
    summary: &SampleSummary,
    verdicts_path: &Path,
    summary_path: &Path,
) -> Result<(), ImageError> {
    let bad = |reason: String| ImageError::Format {
        path: verdicts_path.to_path_buf(),
        reason,
    };
    if verdicts.len() != summary.indices.len() {
        return Err(bad(format!(
            "{} verdicts for the {} images of {}",
            verdicts.len(),
            summary.indices.len(),
            summary_path.display()
        )));
    }
    for (k, v) in verdicts.iter().enumerate() {
        let (index, asked) = (summary.indices[k], summary.classes[k]);
        if v.index != index || v.requested != asked {
            return Err(bad(format!(
                "verdict {} is of image {} asked {}, but image {} of {} is {index} asked {}",
                k + 1,
                v.index,
                asked_text(v.requested),
                k + 1,
                summary_path.display(),
                asked_text(asked)
            )));
        }
    }
    Ok(())
}

fn asked_text(class: Option<usize>) -> String {
    class.map_or_else(|| "unconditional".into(), |c| c.to_string())
}

/// The line above the images: how many, what was asked, how often the classifier agrees,
/// and which disagree.
fn summary_line(summary: &SampleSummary, verdicts: Option<&[Verdict]>, stem: &str) -> String {
    let n = summary.indices.len();
    let mut classes: Vec<usize> = summary.classes.iter().flatten().copied().collect();
    classes.sort_unstable();
    classes.dedup();
    let asked = summary.classes.iter().flatten().count();
    let what = match (asked, classes.as_slice()) {
        (0, _) => "unconditional".to_string(),
        (a, [one]) if a == n => format!("all asked for class {one}"),
        (a, many) if a == n => format!("asked for classes {}", join(many)),
        (a, many) => format!(
            "{a} asked for classes {}, {} unconditional",
            join(many),
            n - a
        ),
    };
    let mut html = format!("<p class=\"note images-summary\">{n} images, {what}. ");
    match verdicts {
        None => write!(
            html,
            "No classifier verdicts: the run lists no {} (the bundled classifier scores \
             28×28 grey images only, and a run with --no-eval does not score).",
            escape(&format!("{stem}.{VERDICTS_SUFFIX}"))
        ),
        Some(verdicts) => {
            let judged: Vec<&Verdict> = verdicts.iter().filter(|v| v.requested.is_some()).collect();
            let wrong: Vec<&Verdict> = judged
                .iter()
                .copied()
                .filter(|v| v.agrees() == Some(false))
                .collect();
            let mean = verdicts.iter().map(|v| v.confidence).sum::<f64>() / n.max(1) as f64;
            write!(
                html,
                "Captions: the class asked for · the class the bundled classifier sees (its \
                 probability; mean {mean:.2})."
            )
            .expect("String write");
            if judged.is_empty() {
                let mut counts = std::collections::BTreeMap::<usize, usize>::new();
                for v in verdicts {
                    *counts.entry(v.predicted).or_default() += 1;
                }
                let counts: Vec<String> = counts.iter().map(|(c, k)| format!("{c} ×{k}")).collect();
                write!(html, " Classes seen: {}.", counts.join(", "))
            } else {
                let agree = judged.len() - wrong.len();
                write!(
                    html,
                    " <span class=\"agreement\" data-agree=\"{agree}\" data-judged=\"{}\">The \
                     classifier sees the requested class in {agree} of {} \
                     ({})</span>",
                    judged.len(),
                    judged.len(),
                    format_figure(agree as f64 / judged.len() as f64, true)
                )
                .expect("String write");
                if wrong.is_empty() {
                    write!(html, "; no disagreements.")
                } else {
                    let named: Vec<String> = wrong
                        .iter()
                        .take(MAX_LISTED)
                        .map(|v| {
                            format!(
                                "#{} (asked {}, seen {})",
                                v.index,
                                asked_text(v.requested),
                                v.predicted
                            )
                        })
                        .collect();
                    write!(
                        html,
                        "; <span class=\"mark-bad\">{} disagree</span> (marked ✗ and shaded): \
                         {}{}.",
                        wrong.len(),
                        named.join(", "),
                        if wrong.len() > MAX_LISTED {
                            ", …"
                        } else {
                            ""
                        }
                    )
                }
            }
        }
    }
    .expect("String write");
    if n > MAX_SHOWN {
        write!(html, " The page shows the first {MAX_SHOWN}.").expect("String write");
    }
    html.push_str("</p>\n");
    html
}

/// `0–9` for a run of consecutive classes, else `1, 4, 7`.
fn join(classes: &[usize]) -> String {
    match classes {
        [first, .., last] if last - first + 1 == classes.len() => format!("{first}–{last}"),
        _ => classes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One image with its caption (`#3 · asked 3`, then `seen 3 (0.98) ✓`).
fn figure(
    html: &mut String,
    index: usize,
    asked: Option<usize>,
    verdict: Option<&Verdict>,
    png: &[u8],
    (width, height): (usize, usize),
) {
    let agrees = verdict.and_then(Verdict::agrees);
    let asked_caption = match asked {
        Some(c) => format!("asked {c}"),
        None => "unconditional".into(),
    };
    write!(
        html,
        "<figure class=\"digit{}\" data-index=\"{index}\" data-asked=\"{}\"",
        if agrees == Some(false) {
            " disagree"
        } else {
            ""
        },
        asked_text(asked)
    )
    .expect("String write");
    if let Some(v) = verdict {
        write!(
            html,
            " data-seen=\"{}\" data-confidence=\"{}\" title=\"sample {index}: {asked_caption}; \
             the classifier sees {} with probability {:.4}\"",
            v.predicted, v.confidence, v.predicted, v.confidence
        )
        .expect("String write");
    }
    write!(
        html,
        "><img src=\"{}\" width=\"{width}\" height=\"{height}\" alt=\"sample {index}\">\
         <figcaption>#{index} · {asked_caption}",
        bytes_uri("image/png", png)
    )
    .expect("String write");
    if let Some(v) = verdict {
        write!(html, "<br>seen {} ({:.2})", v.predicted, v.confidence).expect("String write");
        match agrees {
            Some(true) => html.push_str(" <span class=\"mark-ok\">✓</span>"),
            Some(false) => html.push_str(" <span class=\"mark-bad\">✗</span>"),
            None => {}
        }
    }
    html.push_str("</figcaption></figure>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(index: usize, requested: Option<usize>, predicted: usize) -> Verdict {
        Verdict {
            index,
            requested,
            predicted,
            confidence: 0.5,
        }
    }

    #[test]
    fn verdicts_round_trip_and_a_garbled_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.verdicts.jsonl");
        let written = vec![verdict(0, Some(0), 0), verdict(1, None, 7)];
        write_verdicts(&path, &written).unwrap();
        assert_eq!(read_verdicts(&path).unwrap(), written);
        for (text, says) in [
            (
                "{\"index\":0,\"requested\":0,\"predicted\":0,\"confidence\":0.5}\n{\"index\":1,",
                "line 2",
            ),
            (
                "{\"index\":0,\"requested\":0,\"predicted\":0,\"confidence\":1.5}\n",
                "line 1: confidence 1.5",
            ),
            (
                "{\"index\":0,\"requested\":0,\"predicted\":0,\"confidence\":0.5,\"x\":1}\n",
                "line 1",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = read_verdicts(&path).unwrap_err().to_string();
            assert!(
                err.contains("samples.verdicts.jsonl") && err.contains(says),
                "{err}"
            );
        }
    }

    fn summary(shape: [usize; 3], nrow: usize, n: usize) -> SampleSummary {
        SampleSummary {
            model: "bundled".into(),
            sampler: "ddpm".into(),
            steps: None,
            guidance: None,
            seed: 0,
            shape,
            nrow,
            indices: (0..n).collect(),
            classes: (0..n).map(Some).collect(),
            gif_steps: Vec::new(),
            predicted: None,
            metrics: Default::default(),
        }
    }

    #[test]
    fn the_images_cut_from_a_grid_are_the_images_written() {
        let dir = tempfile::tempdir().unwrap();
        let shape = [1, 3, 2];
        // Five images of distinct constant greys, three per row: the last row half empty.
        let pixels: Vec<f32> = (0..5)
            .flat_map(|i| std::iter::repeat_n(-0.8 + 0.4 * i as f32, 6))
            .collect();
        let path = dir.path().join("samples.png");
        io::write_grid_png(
            &path,
            io::Batch {
                pixels: &pixels,
                shape,
            },
            3,
        )
        .unwrap();
        let images = cut_grid(&path, &summary(shape, 3, 5), Path::new("samples.json")).unwrap();
        assert_eq!(images.len(), 5);
        for (i, image) in images.iter().enumerate() {
            assert_eq!((image.width, image.height), (2, 3));
            let grey = io::to_u8(-0.8 + 0.4 * i as f32);
            assert!(
                image.data.iter().all(|&v| v == grey),
                "image {i}: {:?}",
                image.data
            );
        }
        // A grid not laid out as its summary says is an error naming both.
        let err = cut_grid(&path, &summary(shape, 2, 5), Path::new("samples.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("samples.png") && err.contains("as samples.json says"),
            "{err}"
        );
    }

    #[test]
    fn disagreements_are_marked_and_counted() {
        let summary = summary([1, 2, 2], 2, 2);
        let verdicts = [verdict(0, Some(0), 0), verdict(1, Some(1), 4)];
        let line = summary_line(&summary, Some(&verdicts[..]), "samples");
        assert!(line.contains("asked for classes 0–1"), "{line}");
        assert!(
            line.contains("1 of 2 (50.0 %)") && line.contains("#1 (asked 1, seen 4)"),
            "{line}"
        );
        let mut html = String::new();
        figure(&mut html, 1, Some(1), Some(&verdicts[1]), &[], (6, 6));
        assert!(html.contains("class=\"digit disagree\"") && html.contains("seen 4 (0.50)"));
        assert!(html.contains("mark-bad"));
        let none = summary_line(&summary, None, "samples");
        assert!(none.contains("no samples.verdicts.jsonl"), "{none}");
        assert_eq!(join(&[1, 4, 7]), "1, 4, 7");
    }
}
