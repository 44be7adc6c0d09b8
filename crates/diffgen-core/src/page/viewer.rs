//! Where the page's 3-D viewer library comes from: 3Dmol.js (BSD-3-Clause; chosen for its
//! small single-file build, SDF/PDB readers, ball-and-stick and cartoon styles with
//! secondary-structure colouring, and a `pngURI` that lets the page check what it drew).
//! It is never committed here: `--viewer-js FILE` (or `DIFFGEN_VIEWER_JS`) inlines a local
//! copy, so the page works offline; otherwise the page loads the pinned version from its
//! CDN with a subresource-integrity hash and says so.

use std::path::Path;

use crate::CoreError;

/// The pinned 3Dmol.js release (npm package `3dmol`).
pub const VIEWER_VERSION: &str = "2.5.5";
/// Its minified build on jsDelivr, which serves the npm package's files unchanged.
pub const VIEWER_CDN: &str = "https://cdn.jsdelivr.net/npm/3dmol@2.5.5/build/3Dmol-min.js";
/// sha384 of `build/3Dmol-min.js` of that npm release.
pub const VIEWER_INTEGRITY: &str =
    "sha384-OsczYbldvrHgslr9fFp/i4GiLSeuw9l+QIlv99ITw8soOwXcoGeflFMLg+CU/X1d";
/// The environment variable naming a local copy of `3Dmol-min.js`.
pub const VIEWER_ENV: &str = "DIFFGEN_VIEWER_JS";

/// The viewer library's source for one page.
#[derive(Debug, Clone, PartialEq)]
pub enum Viewer {
    /// The library's text, inlined into the page.
    Inline(String),
    /// The pinned CDN address with its integrity hash.
    Cdn,
}

impl Viewer {
    /// `file` if given, else `$DIFFGEN_VIEWER_JS` if set, else the CDN.
    pub fn choose(file: Option<&Path>) -> Result<Self, CoreError> {
        let from_env = std::env::var_os(VIEWER_ENV).map(std::path::PathBuf::from);
        match file.map(Path::to_path_buf).or(from_env) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    CoreError::setting("viewer-js", format!("{}: {e}", path.display()))
                })?;
                if !text.contains("$3Dmol") {
                    return Err(CoreError::setting(
                        "viewer-js",
                        format!("{} is not a build of 3Dmol.js", path.display()),
                    ));
                }
                Ok(Viewer::Inline(text))
            }
            None => Ok(Viewer::Cdn),
        }
    }

    pub(crate) fn script_tag(&self) -> String {
        match self {
            // A classic script: `</script` cannot occur in 3Dmol's build, but be safe.
            Viewer::Inline(text) => format!("<script>{}</script>", super::script_text(text)),
            Viewer::Cdn => format!(
                "<script src=\"{VIEWER_CDN}\" integrity=\"{VIEWER_INTEGRITY}\" \
                 crossorigin=\"anonymous\"></script>"
            ),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Viewer::Inline(_) => {
                "3-D viewers: 3Dmol.js, inlined from a local copy (works offline).".into()
            }
            Viewer::Cdn => format!(
                "3-D viewers: 3Dmol.js {VIEWER_VERSION} from {VIEWER_CDN} (needs the network; \
                 pass --viewer-js FILE or set {VIEWER_ENV} to inline a local copy)."
            ),
        }
    }
}
