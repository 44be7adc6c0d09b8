//! Paged, filterable grids of 3-D viewers (the page's script brings them to life): the one
//! layout every modality with 3-D samples uses.

use std::fmt::Write as _;

use super::{escape, raw_text};

/// One sample of a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct GridRecord {
    /// The sample in the viewer's format (an SDF record, a PDB file).
    pub text: String,
    /// The caption's text (formula, length).
    pub caption: String,
    /// Named yes/no marks shown in the caption and offered as filters (`valid`, `stable`).
    pub marks: Vec<(&'static str, bool)>,
    /// Why the record could not be read, if it could not: shown instead of a viewer.
    pub broken: Option<String>,
}

/// A grid of `records` in `format` (`sdf`, `pdb`), `per_page` viewers at a time, with a
/// filter per mark name in `filters`.
pub fn viewer_grid(
    format: &str,
    records: &[GridRecord],
    per_page: usize,
    filters: &[&str],
) -> String {
    let mut html = format!(
        "<div class=\"viewer-grid\" data-format=\"{}\" data-per-page=\"{per_page}\">\n<div class=\"controls\">",
        escape(format)
    );
    if !filters.is_empty() {
        html.push_str("<select class=\"filter\"><option value=\"all\">all</option>");
        for f in filters {
            write!(
                html,
                "<option value=\"{f}\">{f} only</option>",
                f = escape(f)
            )
            .expect("String write");
        }
        html.push_str("</select>");
    }
    html.push_str(
        "<button data-step=\"-1\">previous</button><button data-step=\"1\">next</button>\
         <span class=\"page note\"></span></div>\n<div class=\"grid\"></div>\n",
    );
    for r in records {
        let mut caption = escape(&r.caption);
        for (name, ok) in &r.marks {
            let (class, sign) = if *ok {
                ("mark-ok", "✓")
            } else {
                ("mark-bad", "✗")
            };
            write!(
                caption,
                " · <span class=\"{class}\">{} {sign}</span>",
                escape(name)
            )
            .expect("String write");
        }
        if let Some(why) = &r.broken {
            write!(
                caption,
                " · <span class=\"mark-bad\">unreadable: {}</span>",
                escape(why)
            )
            .expect("String write");
        }
        write!(
            html,
            "<pre hidden class=\"record\" data-caption=\"{}\" data-broken=\"{}\"",
            escape(&caption),
            u8::from(r.broken.is_some())
        )
        .expect("String write");
        for (name, ok) in &r.marks {
            write!(html, " data-{}=\"{}\"", escape(name), u8::from(*ok)).expect("String write");
        }
        writeln!(html, ">{}</pre>", raw_text(&r.text)).expect("String write");
    }
    html.push_str("</div>");
    html
}

/// Animated viewers of denoising trajectories, one per `(caption, frames)` in `format`
/// (`xyz` with one frame per block, multi-model `pdb`). Kept to a few: each is a WebGL
/// context, and browsers allow about sixteen.
pub fn trajectory_viewers(format: &str, trajectories: &[(String, String)]) -> String {
    let mut html = String::from("<div class=\"grid\">\n");
    for (caption, frames) in trajectories.iter().take(MAX_TRAJECTORIES) {
        writeln!(
            html,
            "<div class=\"cell trajectory\" data-format=\"{}\"><div class=\"viewer\"></div>\
             <div class=\"caption\">{}</div><pre hidden class=\"frames\">{}</pre></div>",
            escape(format),
            escape(caption),
            raw_text(frames)
        )
        .expect("String write");
    }
    html.push_str("</div>");
    html
}

/// The most trajectories a page animates.
pub const MAX_TRAJECTORIES: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_their_marks_and_broken_ones_say_why() {
        let html = viewer_grid(
            "sdf",
            &[
                GridRecord {
                    text: "water\n</script>".into(),
                    caption: "H2O".into(),
                    marks: vec![("valid", true), ("stable", false)],
                    broken: None,
                },
                GridRecord {
                    text: String::new(),
                    caption: "#1".into(),
                    marks: vec![],
                    broken: Some("line 4: bad count".into()),
                },
            ],
            12,
            &["valid", "stable"],
        );
        assert_eq!(html.matches("class=\"record\"").count(), 2);
        assert!(html.contains("data-valid=\"1\" data-stable=\"0\""));
        assert!(html.contains("data-broken=\"1\"") && html.contains("unreadable: line 4"));
        assert!(!html.contains("water\n</script>"));
    }
}
