//! `quiet_catch_unwind` keeps a caught panic's text off the terminal: the panic hook (which
//! prints "panicked at" and a backtrace) is not reached for it, but is for panics elsewhere,
//! and is restored afterwards. One test in its own binary: it replaces the process's hook.

use std::sync::atomic::{AtomicUsize, Ordering};

use diffgen_core::error::quiet_catch_unwind;

static SEEN: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_quiet_panic_never_reaches_the_hook_and_others_still_do() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {
        SEEN.fetch_add(1, Ordering::SeqCst);
    }));

    let caught = quiet_catch_unwind(|| -> u8 { panic!("inside {}", 1) });
    assert_eq!(caught.unwrap_err(), "inside 1");
    assert_eq!(
        SEEN.load(Ordering::SeqCst),
        0,
        "the quiet panic reached the hook"
    );

    // A panic on another thread meanwhile is printed as usual.
    let joined = quiet_catch_unwind(|| std::thread::spawn(|| panic!("elsewhere")).join().is_err());
    assert_eq!(joined, Ok(true));
    assert_eq!(SEEN.load(Ordering::SeqCst), 1);

    // Afterwards the hook is the one installed before.
    let _ = std::panic::catch_unwind(|| panic!("after"));
    assert_eq!(SEEN.load(Ordering::SeqCst), 2);

    std::panic::set_hook(default);
}
