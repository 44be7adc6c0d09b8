//! PNG plots with plotters: loss curves and scatter plots.
//!
//! Text needs a TrueType font. plotters is built without system font lookup (no fontconfig
//! at build time), so one is loaded at run time from `DIFFGEN_FONT` or the usual system
//! paths; without one, plots are drawn without text rather than failing.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::CoreError;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font once; whether text can be drawn.
fn has_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = std::env::var("DIFFGEN_FONT")
            .into_iter()
            .chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn plot_error(path: &Path, e: impl std::fmt::Display) -> CoreError {
    CoreError::Other(format!("{}: cannot draw plot: {e}", path.display()))
}

/// Renders into a temp file beside `out` and renames it, like every other output.
fn render(out: &Path, draw: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), CoreError> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{}.tmp.png", name.trim_end_matches(".png")));
    if let Err(e) = draw(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(plot_error(out, e));
    }
    std::fs::rename(&tmp, out).map_err(|e| CoreError::io(out, e))
}

fn bounds(series: &[&[(f64, f64)]]) -> Option<((f64, f64), (f64, f64))> {
    let pts: Vec<&(f64, f64)> = series
        .iter()
        .flat_map(|s| s.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if pts.is_empty() {
        return None;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 * 1.1 + 1e-9;
    }
    Some(((x0, x1), (y0, y1)))
}

fn format_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.1e}")
    }
}

/// Lines of `(x, y)` series; `log_y` for losses.
pub fn line_plot(
    out: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, &[(f64, f64)])],
    log_y: bool,
) -> Result<(), CoreError> {
    // Log scale as log10 of the values on a linear axis: plotters' log axes label nothing
    // inside a single decade, which is where losses live.
    let transformed: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, pts)| {
            let pts = pts
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0))
                .map(|&(x, y)| (x, if log_y { y.log10() } else { y }))
                .collect();
            (*name, pts)
        })
        .collect();
    let Some(((x0, x1), (y0, y1))) = bounds(
        &transformed
            .iter()
            .map(|s| s.1.as_slice())
            .collect::<Vec<_>>(),
    ) else {
        return Ok(());
    };
    let text = has_font();
    let pad = 0.05 * (y1 - y0);
    let y_tick = move |v: &f64| format_tick(if log_y { 10f64.powf(*v) } else { *v });
    render(out, |path| {
        let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15);
        if text {
            builder
                .caption(title, ("sans-serif", 24))
                .x_label_area_size(40)
                .y_label_area_size(70);
        }
        let mut chart = builder
            .build_cartesian_2d(x0..x1, y0 - pad..y1 + pad)
            .map_err(|e| e.to_string())?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc(x_label)
                .y_desc(y_label)
                .x_labels(8)
                .y_labels(10)
                .x_label_formatter(&|v| format_tick(*v))
                .y_label_formatter(&y_tick);
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| e.to_string())?;
        for (i, (name, pts)) in transformed.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let drawn = chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            if text {
                drawn
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    })
}

/// Scatter plot of point sets, each in its own colour, on a square, equal-axis canvas.
pub fn scatter_plot(
    out: &Path,
    title: &str,
    series: &[(&str, &[(f64, f64)])],
) -> Result<(), CoreError> {
    let Some(((x0, x1), (y0, y1))) = bounds(&series.iter().map(|s| s.1).collect::<Vec<_>>()) else {
        return Ok(());
    };
    let half = 0.55 * (x1 - x0).max(y1 - y0);
    let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
    let text = has_font();
    render(out, |path| {
        let root = BitMapBackend::new(path, (700, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15);
        if text {
            builder
                .caption(title, ("sans-serif", 24))
                .x_label_area_size(30)
                .y_label_area_size(40);
        }
        let mut chart = builder
            .build_cartesian_2d(cx - half..cx + half, cy - half..cy + half)
            .map_err(|e| e.to_string())?;
        let mut mesh = chart.configure_mesh();
        if !text {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| e.to_string())?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let drawn = chart
                .draw_series(
                    pts.iter()
                        .map(|&(x, y)| Circle::new((x, y), 2, color.mix(0.6).filled())),
                )
                .map_err(|e| e.to_string())?;
            if text {
                drawn
                    .label(*name)
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
            }
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    })
}
