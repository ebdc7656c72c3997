//! Ctrl-C (SIGINT) and SIGTERM: the first asks the run to stop at its next
//! safe point, the second ends the process at once.
//!
//! One process-wide flag, set by signal-hook's handlers, is looked at by
//! whoever can stop safely: the sync's ledger before each journal step (so
//! what was done is in the journal and nothing half-recorded is left), the
//! workers before each folder, `watch` between folders, `dedupe` between
//! folders, and a password command being waited for (see
//! [`crate::command`]), which is killed with its process group. The
//! command then exits with 128 plus the signal's number (130 for SIGINT,
//! 143 for SIGTERM), as a shell reports a process a signal ended.
//!
//! A second signal while the first is being honoured exits at once, with
//! the same status: the journal keeps even that safe.

use anyhow::{Context, Result};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Exit status after SIGINT (128 + 2).
pub const SIGINT_STATUS: i32 = 128 + libc::SIGINT;
/// Exit status after SIGTERM (128 + 15).
pub const SIGTERM_STATUS: i32 = 128 + libc::SIGTERM;

/// The flags the handlers set.
struct Flags {
    /// Any of the signals came.
    stop: Arc<AtomicBool>,
    sigint: Arc<AtomicBool>,
    sigterm: Arc<AtomicBool>,
}

fn flags() -> &'static Flags {
    static FLAGS: OnceLock<Flags> = OnceLock::new();
    FLAGS.get_or_init(|| Flags {
        stop: Arc::new(AtomicBool::new(false)),
        sigint: Arc::new(AtomicBool::new(false)),
        sigterm: Arc::new(AtomicBool::new(false)),
    })
}

/// Installs the handlers of SIGINT and SIGTERM (once per process; later
/// calls do nothing).
pub fn install() -> Result<()> {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED
        .lock()
        .map_err(|_| anyhow::anyhow!("cannot install the SIGINT/SIGTERM handlers"))?;
    if *installed {
        return Ok(());
    }
    let flags = flags();
    for (signal, seen, status) in [
        (libc::SIGINT, &flags.sigint, SIGINT_STATUS),
        (libc::SIGTERM, &flags.sigterm, SIGTERM_STATUS),
    ] {
        // Registered first, so it sees the flag as the earlier signal left
        // it: set means this is the second signal.
        signal_hook::flag::register_conditional_shutdown(signal, status, Arc::clone(&flags.stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(seen)))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flags.stop)))
            .context("cannot install the SIGINT/SIGTERM handlers")?;
    }
    *installed = true;
    Ok(())
}

/// Whether a signal asked the run to stop.
pub fn requested() -> bool {
    flags().stop.load(Ordering::Relaxed)
}

/// The flag a signal sets, for loops that take one (`watch`).
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::clone(&flags().stop)
}

/// The exit status a signal asks for (`None`: no signal came). SIGINT
/// wins when both came.
pub fn exit_status() -> Option<i32> {
    let flags = flags();
    if flags.sigint.load(Ordering::Relaxed) {
        Some(SIGINT_STATUS)
    } else if flags.sigterm.load(Ordering::Relaxed) {
        Some(SIGTERM_STATUS)
    } else if flags.stop.load(Ordering::Relaxed) {
        // Not reached: the flag is set together with one of the others.
        Some(SIGINT_STATUS)
    } else {
        None
    }
}

/// The name of the signal that came, for messages.
pub fn signal_name() -> &'static str {
    if exit_status() == Some(SIGTERM_STATUS) {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

/// `Err(Interrupted)` once a signal asked the run to stop.
pub fn check() -> Result<()> {
    if requested() {
        return Err(Interrupted.into());
    }
    Ok(())
}

/// The run stopped because a signal asked it to: not a failure of what it
/// was doing, and never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stopped by {}", signal_name())
    }
}

impl std::error::Error for Interrupted {}

/// Whether `error` (anywhere in its chain) is an [`Interrupted`].
pub fn is_interrupted(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<Interrupted>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn interrupted_is_found_under_context() {
        let error = Err::<(), _>(anyhow::Error::new(Interrupted))
            .context("folder INBOX")
            .unwrap_err();
        assert!(is_interrupted(&error));
        assert!(!is_interrupted(&anyhow::anyhow!("cannot open folder")));
    }

    #[test]
    fn statuses_are_128_plus_the_signal() {
        assert_eq!(SIGINT_STATUS, 130);
        assert_eq!(SIGTERM_STATUS, 143);
    }
}
