//! A stop request (SIGINT/SIGTERM) that long loops check between steps.
//!
//! The binary installs the signal handler and calls [`request`]; the trainer then writes a
//! resumable checkpoint at the next step boundary and returns
//! [`crate::CoreError::Interrupted`], and sampling stops before its next batch. Libraries
//! never install handlers themselves.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks running loops to stop at their next step boundary.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
