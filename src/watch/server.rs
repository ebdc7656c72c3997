//! One thread per watched IMAP folder: a connection of its own in IDLE,
//! telling the watch loop when the server reports a change, reconnecting
//! with bounded exponential backoff when the connection drops.
//!
//! The threads only notify; they never sync and hold no state, so the watch
//! loop can exit without waiting for them (a thread blocked in IDLE ends
//! with the process).

use super::Notice;
use crate::store::imap::idle::IdleOutcome;
use crate::store::Store;
use crate::store::StoreOpener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

/// IDLE is renewed (DONE, then IDLE again) after this long without news.
/// RFC 2177 servers may end an IDLE after 30 minutes, so it must stay below
/// 29; it is much shorter because it also bounds every read on the
/// connection, so a server that vanished without closing the connection is
/// noticed within two of these.
pub const IDLE_RENEW: Duration = Duration::from_secs(5 * 60);
/// First wait before reconnecting; doubled after each failure.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest wait between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Starts the watcher thread for `folder` of the IMAP store `opener`;
/// notices name it `channel_folder`, the channel's name for it.
pub fn spawn_idle_watcher(
    opener: StoreOpener,
    folder: String,
    channel_folder: String,
    poll_every: Duration,
    notices: Sender<Notice>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("idle {folder}"))
        .spawn(move || {
            let watched = Watched {
                opener: &opener,
                folder: &folder,
                channel_folder: &channel_folder,
                poll_every,
            };
            watch_folder(&watched, &notices, &stop)
        })
        .map(|_| ())
}

/// The folder a watcher keeps in IDLE.
struct Watched<'a> {
    opener: &'a StoreOpener,
    /// As the store names it.
    folder: &'a str,
    /// As the channel names it, for notices.
    channel_folder: &'a str,
    /// How often to ask for a sync when the server has no IDLE.
    poll_every: Duration,
}

fn watch_folder(watched: &Watched<'_>, notices: &Sender<Notice>, stop: &AtomicBool) {
    let Watched {
        opener,
        folder,
        channel_folder,
        poll_every,
    } = *watched;
    let mut backoff = BACKOFF_START;
    let mut had_trouble = false;
    while !stop.load(Ordering::Relaxed) {
        let connected = match opener.connect_imap() {
            Some(result) => result,
            None => return,
        };
        let mut store = match connected.and_then(|mut store| {
            store.open_folder(folder)?;
            Ok(store)
        }) {
            Ok(store) => store,
            Err(error) => {
                if !had_trouble {
                    let message = format!(
                        "{}: watching folder {folder}: {error:#}; retrying",
                        opener.name()
                    );
                    if notices.send(Notice::Trouble(message)).is_err() {
                        return;
                    }
                }
                had_trouble = true;
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if had_trouble {
            // Changes made while we were away are only seen by a sync.
            let back = Notice::Reconnected {
                store: opener.name().to_string(),
                folder: channel_folder.to_string(),
            };
            if notices.send(back).is_err() {
                return;
            }
        }
        backoff = BACKOFF_START;

        let reason = if store.supports_idle() {
            idle_until_error(&mut store, channel_folder, notices, stop)
        } else {
            poll_without_idle(channel_folder, poll_every, notices, stop)
        };
        match reason {
            None => return,
            Some(error) => {
                let message = format!(
                    "{}: watching folder {folder}: {error:#}; reconnecting",
                    opener.name()
                );
                if notices.send(Notice::Trouble(message)).is_err() {
                    return;
                }
                had_trouble = true;
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// IDLEs until an error (returned) or until the loop is gone or stopping
/// (`None`).
fn idle_until_error(
    store: &mut crate::store::imap::ImapStore,
    folder: &str,
    notices: &Sender<Notice>,
    stop: &AtomicBool,
) -> Option<anyhow::Error> {
    while !stop.load(Ordering::Relaxed) {
        match store.idle_wait(IDLE_RENEW) {
            Ok(IdleOutcome::Changed) => {
                let changed = Notice::Changed {
                    folder: folder.to_string(),
                };
                if notices.send(changed).is_err() {
                    return None;
                }
            }
            Ok(IdleOutcome::TimedOut) => {}
            Err(error) => return Some(error),
        }
    }
    None
}

/// For servers without IDLE: ask for a sync of the folder every
/// `poll_every` (the channel's `poll_interval`).
fn poll_without_idle(
    folder: &str,
    poll_every: Duration,
    notices: &Sender<Notice>,
    stop: &AtomicBool,
) -> Option<anyhow::Error> {
    loop {
        sleep_unless_stopped(poll_every, stop);
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let changed = Notice::Changed {
            folder: folder.to_string(),
        };
        if notices.send(changed).is_err() {
            return None;
        }
    }
}

/// Sleeps in short steps so a stop request is noticed quickly.
pub fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) {
    const STEP: Duration = Duration::from_millis(100);
    let deadline = std::time::Instant::now() + duration;
    while !stop.load(Ordering::Relaxed) {
        let now = std::time::Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep(STEP.min(deadline - now));
    }
}
