//! Small inline SVG line charts for a training run's curves (no plotting library needed in
//! the page, and no image files beside it).

use std::fmt::Write as _;

use super::escape;

const WIDTH: f64 = 460.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 62.0;
const BOTTOM: f64 = 34.0;
const COLOURS: [&str; 4] = ["#1f6fb4", "#d2691e", "#2a9d4b", "#8e44ad"];

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

/// A chart of `series` (name, points) with a logarithmic y axis when `log_y` (points ≤ 0
/// are left out there). Empty series are skipped; with no points at all, a note.
pub fn line_chart(
    title: &str,
    x_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    log_y: bool,
) -> String {
    let map_y = |y: f64| if log_y { y.log10() } else { y };
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .filter(|&(x, y)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0))
        .collect();
    if points.is_empty() {
        return format!("<p class=\"note\">{}: no values logged.</p>", escape(title));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &points {
        let y = map_y(y);
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let (pw, ph) = (WIDTH - LEFT - 10.0, HEIGHT - BOTTOM - 24.0);
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| 24.0 + (1.0 - (map_y(y) - y0) / (y1 - y0)) * ph;
    let mut svg = String::new();
    write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         role=\"img\" aria-label=\"{t}\"><text x=\"{LEFT}\" y=\"15\" font-size=\"13\">{t}</text>\
         <rect x=\"{LEFT}\" y=\"24\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#bbb\"/>",
        t = escape(title)
    )
    .expect("String write");
    let unmap = |y: f64| if log_y { 10f64.powf(y) } else { y };
    for (frac, anchor) in [(0.0, "end"), (1.0, "end")] {
        let y = y0 + frac * (y1 - y0);
        write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"{anchor}\">{}</text>",
            LEFT - 4.0,
            24.0 + (1.0 - frac) * ph + 4.0,
            label(unmap(y))
        )
        .expect("String write");
    }
    write!(
        svg,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"11\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
        HEIGHT - BOTTOM + 14.0,
        label(x0),
        LEFT + pw,
        HEIGHT - BOTTOM + 14.0,
        label(x1),
        LEFT + pw / 2.0,
        HEIGHT - 6.0,
        escape(x_label)
    )
    .expect("String write");
    for (k, (name, pts)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let path: Vec<String> = pts
            .iter()
            .filter(|&&(x, y)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0))
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        if path.is_empty() {
            continue;
        }
        write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{colour}\">{}</text>",
            path.join(" "),
            LEFT + pw - 4.0,
            38.0 + 14.0 * k as f64,
            escape(name)
        )
        .expect("String write");
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_each_series_and_survives_no_data() {
        let svg = line_chart(
            "loss",
            "step",
            &[
                ("train", vec![(0.0, 2.0), (10.0, 1.0)]),
                ("val", vec![(10.0, 1.5)]),
            ],
            true,
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(line_chart("lr", "step", &[("lr", vec![])], false).contains("no values"));
    }
}
