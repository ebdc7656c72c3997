//! IMAP IDLE (RFC 2177) on the open folder, for `mailferry watch`.
//!
//! The imap crate's `Session::idle()` handle fits our `NetStream` (it sets
//! the read timeout through `SetReadTimeout`, which `tls.rs` implements), so
//! it is used rather than a second protocol implementation. Two quirks of
//! that handle are contained here:
//! - it panics (`unreachable!`) when the server answers IDLE with anything
//!   but a continuation; the panic is caught and reported as an error, and
//!   the caller drops the connection;
//! - after waiting it clears the socket's read timeout; `NetStream`
//!   ignores that (see `tls.rs`), so the closing `DONE` and later reads
//!   stay bounded by the IDLE timeout. A connection that has been in IDLE
//!   is meant for nothing but more IDLE: the watcher reconnects after any
//!   error.

use super::{imap_err, ImapStore};
use anyhow::{bail, Result};
use imap::extensions::idle::{stop_on_any, WaitOutcome};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// How an IDLE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleOutcome {
    /// The server reported a change (new message, expunge, flags).
    Changed,
    /// Nothing happened within the timeout.
    TimedOut,
}

impl ImapStore {
    /// Whether the server advertises IDLE.
    pub fn supports_idle(&self) -> bool {
        self.has_capability("IDLE")
    }

    /// Waits in IDLE on the open folder until the server reports any
    /// change or `timeout` passes, then ends the IDLE with DONE. Servers
    /// may drop an IDLE after 30 minutes (RFC 2177), so callers keep
    /// `timeout` below 29 minutes and call again.
    ///
    /// A change the server told of outside IDLE (between the DONE that
    /// ended the last IDLE and its tagged answer, or with a reselect) sits
    /// among the unsolicited responses; it is reported at once, as IDLE
    /// would not tell of it again.
    pub fn idle_wait(&mut self, timeout: Duration) -> Result<IdleOutcome> {
        self.open_folder_state()?;
        if self.drain_unsolicited() {
            return Ok(IdleOutcome::Changed);
        }
        let folder = self.open_name();
        let session = &mut self.session;
        let waited = catch_unwind(AssertUnwindSafe(|| {
            let mut handle = session.idle();
            handle.timeout(timeout).keepalive(false);
            handle.wait_while(stop_on_any)
            // The handle's drop sends DONE and reads the tagged answer.
        }));
        match waited {
            Ok(Ok(WaitOutcome::MailboxChanged)) => Ok(IdleOutcome::Changed),
            Ok(Ok(WaitOutcome::TimedOut)) => Ok(IdleOutcome::TimedOut),
            Ok(Err(error)) => Err(imap_err(
                error,
                format!("waiting for changes (IDLE) in folder {folder:?}"),
            )),
            Err(_) => bail!(
                "the server {} answered IDLE in folder {folder:?} in a way that cannot be \
                 followed",
                self.host
            ),
        }
    }
}
