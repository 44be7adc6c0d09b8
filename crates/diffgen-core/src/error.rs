//! Errors of the core. Modalities wrap theirs in [`BoxError`].

use std::path::PathBuf;

/// Any error a modality returns through the object-safe [`crate::modality::Modality`] trait.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the core.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A config value or option is malformed or out of range.
    #[error("invalid setting `{key}`: {reason}")]
    InvalidSetting {
        /// The offending key, dotted (`training.optimizer.lr`) or a flag (`--data`).
        key: String,
        /// What is wrong with its value.
        reason: String,
    },

    /// A backend was chosen that this binary was built without; holds its name.
    #[error("backend `{0}` is not compiled into this binary; rebuild with `--features {0}`")]
    BackendNotCompiled(String),

    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        // Part of the message; not named `source`, so not repeated by error chains.
        error: std::io::Error,
    },

    /// A checkpoint is missing, unreadable, of another format or modality, or does not fit
    /// the model.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file, or `<bundled … model>`.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The training loss became NaN or infinite; training stops and the last checkpoint
    /// written stays as it was.
    #[error("training stopped at step {step}: the loss is {value} (not finite); the last good checkpoint is kept")]
    NonFiniteLoss {
        /// The 1-based step whose loss it was.
        step: u64,
        /// The loss (NaN or ±inf).
        value: f64,
    },

    /// SIGINT/SIGTERM: the run stopped, saving what it could.
    #[error("interrupted: {0}")]
    Interrupted(String),

    /// Anything else, as its message (TOML syntax, a batch that failed to load, an empty
    /// training set, serialisation).
    #[error("{0}")]
    Other(String),
}

impl CoreError {
    /// A [`CoreError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            error: source,
        }
    }

    /// A [`CoreError::InvalidSetting`] for `key`.
    pub fn setting(key: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::InvalidSetting {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// A [`CoreError::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        CoreError::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Runs `f`, turning a panic into `Err(message)` without letting the default panic hook print
/// "panicked at …" and a backtrace to the user's terminal. For calls into dependencies that
/// are not promised panic-free on arbitrary input (pdbtbx); our own code returns errors.
///
/// The panic hook is process-global, so the swap is guarded by a mutex and the hook installed
/// for the duration only silences panics of *this* thread: a panic elsewhere meanwhile (another
/// test, a worker thread) still reaches the previous hook and is printed as usual. Nested calls
/// on one thread run inside the outer call's silence (no second swap, no deadlock).
pub fn quiet_catch_unwind<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    use std::cell::Cell;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::{Arc, Mutex};

    static SWAP: Mutex<()> = Mutex::new(());
    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }

    fn run<R>(f: impl FnOnce() -> R) -> Result<R, String> {
        panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "a panic without a message".to_string()
            }
        })
    }
    if QUIET.with(Cell::get) {
        return run(f);
    }
    let _guard = SWAP.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    type Hook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;
    let previous: Arc<Hook> = Arc::new(panic::take_hook());
    let delegate = Arc::clone(&previous);
    panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            delegate(info);
        }
    }));
    QUIET.with(|q| q.set(true));
    let result = run(f);
    QUIET.with(|q| q.set(false));
    // Dropping our hook drops its clone of `previous`, which is then ours alone again.
    drop(panic::take_hook());
    match Arc::try_unwrap(previous) {
        Ok(hook) => panic::set_hook(hook),
        // Unreachable: no other clone exists. Fall back to a hook that forwards.
        Err(shared) => panic::set_hook(Box::new(move |info| shared(info))),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::quiet_catch_unwind;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        assert_eq!(quiet_catch_unwind(|| 7), Ok(7));
        let err = quiet_catch_unwind(|| -> u8 { panic!("bad {}", 42) }).unwrap_err();
        assert_eq!(err, "bad 42");
        let err = quiet_catch_unwind(|| -> u8 { panic!("static") }).unwrap_err();
        assert_eq!(err, "static");
        // Nested: the inner call neither deadlocks nor restores the hook early.
        let inner = quiet_catch_unwind(|| quiet_catch_unwind(|| -> u8 { panic!("inner") }));
        assert_eq!(inner, Ok(Err("inner".to_string())));
    }

    #[test]
    fn parallel_calls_are_safe() {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                std::thread::spawn(move || {
                    for k in 0..50 {
                        let r = quiet_catch_unwind(|| {
                            if (i + k) % 2 == 0 {
                                panic!("p{i}")
                            }
                            k
                        });
                        assert_eq!(r.is_err(), (i + k) % 2 == 0);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
