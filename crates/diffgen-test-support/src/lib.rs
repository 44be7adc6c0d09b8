//! Where diffgen's tests find what does not ship with the repository: the shared data
//! (`parity/`, `datasets/`) and optional tools such as Python with RDKit.
//!
//! The data lives in `$DIFFGEN_SHARED`, else in `shared/` beside the checkout
//! (`<workspace>/../shared`). A test whose data is missing is skipped: it returns early and
//! passes, after writing a `skipped: <test>: <what> not found (…)` line to the terminal.
//! With `DIFFGEN_REQUIRE_DATA=1` (as `.ci/run` sets) a missing prerequisite fails the test
//! instead.
//!
//! ```no_run
//! # fn main() {}
//! #[test]
//! fn reads_qm9() {
//!     let Some(path) = diffgen_test_support::shared("datasets/qm9/qm9_test.xyz.gz") else {
//!         return;
//!     };
//!     // … use `path` …
//! }
//! ```

#![warn(missing_docs)]

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable naming the shared data folder.
pub const SHARED_VAR: &str = "DIFFGEN_SHARED";
/// The variable that turns skips into failures.
pub const REQUIRE_VAR: &str = "DIFFGEN_REQUIRE_DATA";

/// The shared data folder: `$DIFFGEN_SHARED`, else `shared/` beside the workspace.
pub fn shared_root() -> PathBuf {
    root_from(std::env::var_os(SHARED_VAR))
}

/// `<shared root>/<sub>` if it exists. If not, the calling test should return early:
/// this writes the visible skip line and gives `None`, or panics under
/// `DIFFGEN_REQUIRE_DATA=1`.
pub fn shared(sub: &str) -> Option<PathBuf> {
    let path = shared_root().join(sub);
    let found = path.exists();
    prerequisite(
        found,
        &path.display().to_string(),
        &format!("set {SHARED_VAR}"),
    )
    .then_some(path)
}

/// A prerequisite that is not a shared file (a program, a Python package): `true` if
/// `present`. Otherwise like [`shared`]: writes `skipped: <test>: <what> not found (<how>, or
/// DIFFGEN_REQUIRE_DATA=1 …)` and gives `false`, or panics under `DIFFGEN_REQUIRE_DATA=1`.
/// `how` says how to provide it, e.g. `"pip install rdkit"`.
pub fn prerequisite(present: bool, what: &str, how: &str) -> bool {
    prerequisite_under(REQUIRE_VAR, present, what, how)
}

/// [`prerequisite`] made mandatory by the variable `require_var` instead of
/// `DIFFGEN_REQUIRE_DATA`: for tools that CI installs when it can (RDKit from PyPI), so that
/// CI fails only when the tool was installed and the test still cannot use it.
pub fn prerequisite_under(require_var: &str, present: bool, what: &str, how: &str) -> bool {
    if present {
        return true;
    }
    let test = test_name();
    if required(std::env::var_os(require_var)) {
        panic!("{test}: {what} not found and {require_var} is set ({how}, or unset {require_var} to skip)");
    }
    // Straight to the stderr handle: libtest captures `eprintln!` of passing tests, not this.
    // One write, so that the line does not interleave with libtest's own output.
    let line = format!(
        "skipped: {test}: {what} not found ({how}, or {require_var}=1 to make this a failure)\n"
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    false
}

/// Whether `DIFFGEN_REQUIRE_DATA` is set to something other than empty or `0`.
pub fn data_required() -> bool {
    required(std::env::var_os(REQUIRE_VAR))
}

/// The running test: libtest names each test's thread after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "<unknown test>".to_string(),
    }
}

fn required(value: Option<OsString>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

fn root_from(var: Option<OsString>) -> PathBuf {
    match var {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let workspace = workspace_dir();
            workspace.parent().unwrap_or(&workspace).join("shared")
        }
    }
}

/// The checkout: the nearest folder above the running test's package with a `[workspace]`
/// manifest. The package is read at run time (cargo sets `CARGO_MANIFEST_DIR` for each test
/// it runs): the compile-time value is where this crate was built, and cargo reuses that
/// build in another checkout when a `target/` folder is copied there.
fn workspace_dir() -> PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let is_workspace = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
    };
    match package.ancestors().find(|d| is_workspace(d)) {
        Some(dir) => dir.to_path_buf(),
        // crates/<name> → the workspace.
        None => package.ancestors().nth(2).unwrap_or(&package).to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_variable_else_shared_beside_the_workspace() {
        assert_eq!(root_from(Some("/data/x".into())), PathBuf::from("/data/x"));
        let package = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo");
        let workspace = Path::new(&package).join("../..");
        let workspace = workspace.canonicalize().unwrap();
        let beside = root_from(None);
        assert_eq!(beside.file_name().unwrap(), "shared");
        assert_eq!(
            beside.parent().unwrap().canonicalize().unwrap(),
            workspace.parent().unwrap()
        );
        assert_eq!(root_from(Some("".into())), beside);
    }

    #[test]
    fn require_means_set_and_not_zero() {
        assert!(!required(None));
        assert!(!required(Some("".into())));
        assert!(!required(Some("0".into())));
        assert!(required(Some("1".into())));
        assert!(required(Some("yes".into())));
    }

    #[test]
    fn the_test_name_is_the_thread_name() {
        assert!(test_name().ends_with("the_test_name_is_the_thread_name"));
    }

    #[test]
    fn a_present_prerequisite_is_true() {
        assert!(prerequisite(true, "anything", "nothing to do"));
    }
}
