//! IMAP IDLE (RFC 2177) on the open folder, for `mailferry watch`: IDLE,
//! the server's `+`, then untagged responses as things change, until we
//! send DONE and the server answers IDLE's tag. The wait uses its own read
//! timeout; the connection's own comes back for DONE and after.

use super::client::response::{self, Data, Response};
use super::client::Command;
use super::{client_err, ok_or_refusal, ImapStore};
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// How an IDLE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleOutcome {
    /// The server reported a change (new message, expunge, flags).
    Changed,
    /// Nothing happened within the timeout.
    TimedOut,
}

/// Whether an untagged response tells of a change in the folder (a
/// keepalive `* OK Still here` does not).
fn tells_of_change(frame: &[u8]) -> bool {
    matches!(
        response::parse(frame),
        Ok(Response::Untagged(
            Data::Exists(_)
                | Data::Expunge(_)
                | Data::Recent(_)
                | Data::Fetch { .. }
                | Data::Vanished { .. }
        ))
    )
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
    /// A change the server told of outside IDLE (in the answer to another
    /// command, or between the DONE that ended the last IDLE and its
    /// tagged answer) is reported at once, as IDLE would not tell of it
    /// again.
    pub fn idle_wait(&mut self, timeout: Duration) -> Result<IdleOutcome> {
        self.open_folder_state()?;
        if std::mem::take(&mut self.news) {
            return Ok(IdleOutcome::Changed);
        }
        let folder = self.open_name();
        let doing = format!("waiting for changes (IDLE) in folder {folder:?}");
        self.forget_ahead();
        let tag = self
            .connection
            .send(&Command::text("IDLE"))
            .map_err(|e| client_err(e, &doing))?;
        let mut changed = false;
        let continued = self
            .connection
            .continuation(&tag, &mut |frame| {
                changed |= tells_of_change(frame);
                false
            })
            .map_err(|e| client_err(e, &doing))?;
        if continued.is_none() {
            let answer = self
                .connection
                .answer(&tag)
                .map_err(|e| client_err(e, &doing))?;
            ok_or_refusal(answer, &doing, false)?;
            bail!(
                "the server {} ended IDLE in folder {folder:?} before it began",
                self.host
            );
        }
        let deadline = Instant::now() + timeout;
        while !changed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut news = false;
            let mut exists = None;
            let mut expunged = 0u32;
            let heard = self
                .connection
                .wait_untagged(left, &mut |frame| {
                    news = tells_of_change(frame);
                    match response::parse(frame) {
                        Ok(Response::Untagged(Data::Exists(count))) => exists = Some(count),
                        Ok(Response::Untagged(Data::Expunge(_))) => expunged += 1,
                        _ => {}
                    }
                })
                .map_err(|e| client_err(e, &doing))?;
            if !heard {
                break;
            }
            changed |= news;
            if let Some(open) = self.open.as_mut() {
                open.exists = exists.unwrap_or(open.exists).saturating_sub(expunged);
            }
        }
        self.connection
            .send_line(b"DONE", "DONE")
            .map_err(|e| client_err(e, &doing))?;
        let answer = self
            .connection
            .answer(&tag)
            .map_err(|e| client_err(e, &doing))?;
        self.note_news(&answer, true);
        ok_or_refusal(answer, &doing, false)?;
        if changed {
            // Told now; what the DONE's answer added is part of it.
            self.news = false;
        }
        Ok(if changed {
            IdleOutcome::Changed
        } else {
            IdleOutcome::TimedOut
        })
    }
}
