//! `diffgen report`: one self-contained HTML page per set of run directories.
//!
//! The core lays the page out — what ran, the figures beside their references, the plots a
//! run wrote, a training run's curves — and each modality adds its own sections (molecules
//! in 3-D viewers, backbones as cartoons) through [`crate::pipeline::Pipeline::page_sections`].
//! Everything the page shows is inside the file (plots as data URIs); the 3-D viewer library
//! is inlined from a local copy when one is given, else loaded from a pinned CDN address
//! with its integrity hash ([`Viewer`]).

mod grid;
mod run;
mod svg;
mod viewer;

pub use grid::{trajectory_viewers, viewer_grid, GridRecord, MAX_TRAJECTORIES};
pub use run::{format_figure, run_sections, RunDir};
pub use viewer::{Viewer, VIEWER_CDN, VIEWER_ENV, VIEWER_INTEGRITY, VIEWER_VERSION};

use std::path::Path;

use base64::Engine as _;

use crate::CoreError;

/// The page `diffgen report` (and `run`/`sample`) writes into a run directory by default.
pub const REPORT_FILE: &str = "report.html";

/// One titled part of the page; `html` is trusted markup built with [`escape`].
#[derive(Debug, Clone, PartialEq)]
pub struct PageSection {
    /// The section's heading.
    pub title: String,
    /// Its markup.
    pub html: String,
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A file as a `data:` URI (PNG, GIF), so the page needs nothing beside it.
pub fn data_uri(path: &Path) -> Result<String, CoreError> {
    let bytes =
        std::fs::read(path).map_err(|e| CoreError::Other(format!("{}: {e}", path.display())))?;
    let mime = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    Ok(bytes_uri(mime, &bytes))
}

/// Bytes of type `mime` (`image/png`) as a `data:` URI.
pub fn bytes_uri(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Text inside a hidden `<pre>` that the page's script reads back exactly with
/// `textContent`: escaped, and led by the newline a `<pre>` drops (a record may itself
/// start with one: an SDF record with an empty name).
pub fn raw_text(text: &str) -> String {
    format!("\n{}", escape(text))
}

/// Text safe inside a classic `<script>` element (no closing tag can occur).
fn script_text(text: &str) -> String {
    text.replace("</", "<\\/")
}

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
td, th { padding: .2rem .6rem; border-bottom: 1px solid #eee; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.note { color: #666; font-size: .85rem; }
.plots img { max-width: 32rem; min-width: 20rem; margin: .3rem; border: 1px solid #eee; image-rendering: pixelated; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: .6rem; }
.cell { border: 1px solid #ddd; border-radius: 4px; padding: .3rem; font-size: .8rem; }
.viewer { position: relative; width: 100%; height: 14rem; }
.mark-ok { color: #187a2f; } .mark-bad { color: #b3261e; }
.controls button, .controls select { margin-right: .4rem; }
.broken { background: #fff4f4; }
.thumbs { display: flex; flex-wrap: wrap; gap: .4rem; align-items: flex-start; }
.thumbs figure { margin: 0; padding: .2rem; min-width: 5.5rem; text-align: center; font-size: .75rem; border: 1px solid #eee; border-radius: 4px; }
.thumbs img { image-rendering: pixelated; display: block; margin: 0 auto .2rem; }
.thumbs figure.disagree { background: #fff4f4; border-color: #e6b8b4; }
"#;

/// The page's own script: paging and filtering of viewer grids, viewers created lazily for
/// the page shown (browsers allow few WebGL contexts), each checked to have drawn something;
/// the counts of drawn and blank viewers go to `<body data-viewers-…>`, script errors to
/// `<html data-errors>`, for tests.
const SCRIPT: &str = include_str!("page.js");

/// Renders the whole page.
pub fn render(title: &str, sections: &[PageSection], viewer: &Viewer) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    out.push_str(&format!("<title>{}</title>\n", escape(title)));
    out.push_str(&format!("<style>{STYLE}</style>\n"));
    // Errors are caught before anything else runs, the viewer library's own included.
    out.push_str(
        "<script>window.diffgenErrors=[];window.addEventListener('error',function(e){\
         window.diffgenErrors.push(String(e.message));document.documentElement\
         .setAttribute('data-errors',window.diffgenErrors.join(' | '));});</script>\n",
    );
    // The viewer library only where there is something to view in 3-D.
    let viewers = sections.iter().any(|s| {
        s.html.contains("<div class=\"viewer-grid\"")
            || s.html.contains("<div class=\"cell trajectory\"")
    });
    if viewers {
        out.push_str(&viewer.script_tag());
    }
    out.push_str("\n</head><body data-viewers-drawn=\"0\">\n");
    out.push_str(&format!("<h1>{}</h1>\n", escape(title)));
    out.push_str(&format!(
        "<p class=\"note\">Written by diffgen {}.{}</p>\n",
        crate::VERSION,
        match viewers {
            true => format!(" {}", escape(&viewer.describe())),
            false => String::new(),
        }
    ));
    for section in sections {
        out.push_str(&format!(
            "<section><h2>{}</h2>\n{}\n</section>\n",
            escape(&section.title),
            section.html
        ));
    }
    out.push_str(&format!("<script>{SCRIPT}</script>\n</body></html>\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_scripts_cannot_close() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(!script_text("M  END</script><script>").contains("</script"));
        assert_eq!(raw_text("\nx <!--<script>"), "\n\nx &lt;!--&lt;script&gt;");
    }

    #[test]
    fn a_page_has_its_sections_and_the_viewer_source() {
        let grid = PageSection {
            title: "molecules".into(),
            html: "<div class=\"viewer-grid\"></div>".into(),
        };
        let page = render(
            "t <1>",
            &[
                PageSection {
                    title: "figures".into(),
                    html: "<p>x</p>".into(),
                },
                grid.clone(),
            ],
            &Viewer::Cdn,
        );
        assert!(page.contains("<title>t &lt;1&gt;</title>"));
        assert!(page.contains("<h2>figures</h2>\n<p>x</p>"));
        assert!(page.contains(VIEWER_INTEGRITY) && page.contains(VIEWER_CDN));
        let inline = render("t", &[grid], &Viewer::Inline("var $3Dmol = {};".into()));
        assert!(inline.contains("var $3Dmol = {};") && !inline.contains(VIEWER_CDN));
        // A page with nothing in 3-D loads no viewer library.
        let plain = render("t", &[], &Viewer::Cdn);
        assert!(!plain.contains(VIEWER_CDN) && !plain.contains("<script src="));
    }
}
