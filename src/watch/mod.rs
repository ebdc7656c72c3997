//! `mailferry watch`: keep a channel in step as changes happen.
//!
//! One loop per channel, on the caller's thread, does every sync; it holds
//! the channel's lock (taken by the caller) for the whole watch, so cron's
//! `sync` and `watch` never run at once. Around it:
//! - [`server`]: a thread per watched IMAP folder in IDLE, sending a
//!   [`Notice`] when the server reports a change;
//! - [`local`]: the Maildir's `cur/` and `new/` times, polled every
//!   [`LOCAL_POLL`];
//! - a full sync of every folder first and then every `interval`.
//!
//! A sync round opens fresh connections, syncs through [`sync_stores`] (so
//! the state, journal and folder planning work exactly as in `sync`), and
//! closes them: after a server restart nothing stale is left to trip over.
//! A failed round is retried with bounded exponential backoff. The stop
//! flag (SIGINT, SIGTERM) is checked between folders of a round of changed
//! folders and after a full round, so what is being synced is finished and
//! its state saved before the loop returns.

pub mod local;
pub mod server;

use crate::config::{ChannelConfig, Config};
use crate::mail::Side;
use crate::output::Output;
use crate::store::maildir::MaildirTree;
use crate::store::StoreOpener;
use crate::sync::channel::sync_stores;
use crate::sync::exec::Report;
use crate::sync::folder::{FolderResult, RunOptions};
use crate::sync::patterns::selects;
use anyhow::Result;
use local::MaildirPoller;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the Maildir directories are looked at.
pub const LOCAL_POLL: Duration = Duration::from_secs(2);
/// Longest the loop waits before looking at the stop flag and the clocks.
const TICK: Duration = Duration::from_millis(200);
/// First wait before a failed sync is tried again; doubled after each
/// failure up to [`RETRY_MAX`].
const RETRY_START: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// A folder that keeps failing is left for the next full sync after this
/// many attempts.
const FOLDER_ATTEMPTS: u32 = 3;

/// What the watcher threads tell the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The server reported a change in this folder.
    Changed { folder: String },
    /// A watcher connection is back after a failure; the folder may have
    /// changed meanwhile.
    Reconnected { store: String, folder: String },
    /// A watcher lost its connection or cannot connect; one line.
    Trouble(String),
}

/// What is waiting to be synced.
#[derive(Debug, Default)]
struct Pending {
    full: bool,
    /// Folder name and the failed attempts so far.
    folders: BTreeMap<String, u32>,
}

/// Watches `channel` until `stop` is set. The caller holds the channel's
/// lock. Errors are only those that make watching impossible (a store that
/// cannot be used); sync failures are reported and retried.
pub fn watch_channel(
    config: &Config,
    channel: &ChannelConfig,
    stop: &Arc<AtomicBool>,
    out: &Output,
) -> Result<()> {
    let openers = [
        StoreOpener::new_except_pop3(config, &channel.far, "watch")?,
        StoreOpener::new_except_pop3(config, &channel.near, "watch")?,
    ];
    let (notices, received) = mpsc::channel();
    let mut pollers = Vec::new();
    let mut idled = Vec::new();
    let mut polled = Vec::new();
    let poll_every = Duration::from_secs(channel.poll_secs);
    for (side, opener) in [Side::Far, Side::Near].into_iter().zip(&openers) {
        match opener.maildir_config() {
            Some(maildir) => pollers.push((side, MaildirPoller::new(MaildirTree::of(maildir)))),
            None => {
                let idle = offers_idle(opener);
                for folder in watched_folders(channel, out) {
                    let on_server = name_on(channel, side, &folder);
                    server::spawn_idle_watcher(
                        opener.clone(),
                        on_server.clone(),
                        folder,
                        poll_every,
                        notices.clone(),
                        Arc::clone(stop),
                    )?;
                    let watched = format!("{}:{on_server}", opener.name());
                    match idle {
                        Some(false) => polled.push(watched),
                        _ => idled.push(watched),
                    }
                }
            }
        }
    }
    drop(notices);
    let mut server_side = Vec::new();
    if !idled.is_empty() {
        server_side.push(format!("IDLE on {}", idled.join(", ")));
    }
    if !polled.is_empty() {
        server_side.push(format!(
            "{} polled every {} (the server offers no IDLE)",
            polled.join(", "),
            describe_interval(channel.poll_secs)
        ));
    }
    if server_side.is_empty() {
        server_side.push("IDLE on nothing".to_string());
    }
    out.result(&format!(
        "{} watching {}: {}; Maildir checked every {}s; full sync every {}",
        timestamp(),
        channel.name,
        server_side.join("; "),
        LOCAL_POLL.as_secs(),
        describe_interval(channel.interval_secs),
    ));

    let interval = Duration::from_secs(channel.interval_secs);
    let mut pending = Pending {
        full: true,
        ..Pending::default()
    };
    let mut next_full = Instant::now() + interval;
    let mut next_poll = Instant::now() + LOCAL_POLL;
    let mut retry_at: Option<Instant> = None;
    let mut retry_delay = RETRY_START;

    while !stop.load(Ordering::Relaxed) {
        let first = match received.recv_timeout(TICK) {
            Ok(notice) => Some(notice),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        };
        for notice in first.into_iter().chain(received.try_iter()) {
            match notice {
                Notice::Changed { folder } => {
                    pending.folders.entry(folder).or_insert(0);
                }
                Notice::Reconnected { store, folder } => {
                    out.result(&format!(
                        "{} {}: watching {store}:{folder} again",
                        timestamp(),
                        channel.name
                    ));
                    pending.folders.entry(folder).or_insert(0);
                }
                Notice::Trouble(line) => out.error(&line),
            }
        }
        let now = Instant::now();
        if now >= next_poll {
            for (side, poller) in &mut pollers {
                for folder in poller.changed() {
                    let folder = channel_name(channel, *side, &folder);
                    if selects(&channel.folders, &folder) {
                        pending.folders.entry(folder).or_insert(0);
                    }
                }
            }
            next_poll = now + LOCAL_POLL;
        }
        if now >= next_full {
            pending.full = true;
        }
        let nothing_to_do = !pending.full && pending.folders.is_empty();
        if nothing_to_do || retry_at.is_some_and(|at| now < at) {
            continue;
        }

        let full = pending.full;
        let asked: Option<BTreeSet<String>> =
            (!full).then(|| pending.folders.keys().cloned().collect());
        let outcome = run_round(config, channel, &openers, asked.as_ref(), stop);
        record_round(config, channel, &outcome, out);
        match outcome {
            Err(error) => {
                out.error(&format!(
                    "{}: sync failed: {error:#}; trying again in {}s",
                    channel.name,
                    retry_delay.as_secs()
                ));
                retry_at = Some(Instant::now() + retry_delay);
                retry_delay = (retry_delay * 2).min(RETRY_MAX);
            }
            Ok(round) => {
                report_round(channel, &round, out);
                run_on_new_mail(config, channel, &round, out);
                for folder in &round.synced {
                    pending.folders.remove(&folder.folder);
                }
                let mut retry = false;
                for (folder, _) in &round.failed {
                    let Some(folder) = folder else { continue };
                    if full {
                        // The next full sync tries again.
                        pending.folders.remove(folder);
                    } else if let Some(attempts) = pending.folders.get_mut(folder) {
                        *attempts += 1;
                        if *attempts >= FOLDER_ATTEMPTS {
                            out.error(&format!(
                                "{}: folder {folder} failed {FOLDER_ATTEMPTS} times; it is \
                                 synced again by the next full sync",
                                channel.name
                            ));
                            pending.folders.remove(folder);
                        } else {
                            retry = true;
                        }
                    }
                }
                if full && !round.stopped {
                    pending.full = false;
                    next_full = Instant::now() + interval;
                }
                if retry {
                    retry_at = Some(Instant::now() + retry_delay);
                    retry_delay = (retry_delay * 2).min(RETRY_MAX);
                } else {
                    retry_at = None;
                    retry_delay = RETRY_START;
                }
            }
        }
    }
    out.result(&format!(
        "{} {}: stopped; the state is saved",
        timestamp(),
        channel.name
    ));
    Ok(())
}

/// INBOX and the channel's `watch:` folders that its patterns select.
fn watched_folders(channel: &ChannelConfig, out: &Output) -> Vec<String> {
    let mut folders = vec!["INBOX".to_string()];
    for folder in &channel.watch {
        if !folders.contains(folder) {
            folders.push(folder.clone());
        }
    }
    folders.retain(|folder| {
        let selected = selects(&channel.folders, folder);
        if !selected {
            out.error(&format!(
                "{}: not watching folder {folder}: the channel's folders patterns exclude it",
                channel.name
            ));
        }
        selected
    });
    folders
}

/// What one round did.
#[derive(Debug, Default)]
struct Round {
    synced: Vec<FolderResult>,
    /// Folder-level decisions (created, renamed, ...), in words.
    actions: Vec<String>,
    /// Folder (`None` in a full round) and reason.
    failed: Vec<(Option<String>, String)>,
    /// The stop flag ended the round before every folder was synced.
    stopped: bool,
}

/// Syncs `folders` (by the channel's names), or the whole channel when
/// `None`, over fresh connections. An error means nothing could be synced
/// (a store could not be opened or listed).
///
/// A full round is one [`sync_stores`] call, so folder renames and
/// deletions are planned over the whole channel as `sync` plans them; the
/// stop flag is honoured after it. Single folders are synced one by one,
/// with the stop flag checked between them.
fn run_round(
    config: &Config,
    channel: &ChannelConfig,
    openers: &[StoreOpener; 2],
    folders: Option<&BTreeSet<String>>,
    stop: &AtomicBool,
) -> Result<Round> {
    // Each round learns the servers afresh: it may come hours after the last.
    let mut far = openers[0].relearning().open()?;
    let mut near = openers[1].relearning().open()?;
    let mut round = Round::default();
    let mut sync = |only: Option<&str>| {
        sync_stores(
            &config.state_dir,
            channel,
            &mut *far,
            &mut *near,
            only,
            &RunOptions::default(),
        )
    };
    let Some(folders) = folders else {
        let result = sync(None)?;
        round.synced = result.folders;
        round.actions = result.folder_actions;
        round.failed = result.errors.into_iter().map(|e| (None, e)).collect();
        return Ok(round);
    };
    for name in folders {
        if stop.load(Ordering::Relaxed) {
            round.stopped = true;
            break;
        }
        match sync(Some(name)) {
            Ok(result) => {
                round.synced.extend(result.folders);
                round.actions.extend(result.folder_actions);
                for error in result.errors {
                    round.failed.push((Some(name.clone()), error));
                }
            }
            Err(error) => round
                .failed
                .push((Some(name.clone()), format!("{error:#}"))),
        }
    }
    Ok(round)
}

/// A folder's name on `side`: the channel speaks of folders by their near
/// names, and `folder_map` (far name to near name) renames some far ones.
fn name_on(channel: &ChannelConfig, side: Side, name: &str) -> String {
    match side {
        Side::Near => name.to_string(),
        Side::Far => channel
            .folder_map
            .iter()
            .find(|(_, near)| near.as_str() == name)
            .map(|(far, _)| far.clone())
            .unwrap_or_else(|| name.to_string()),
    }
}

/// The channel's name of a folder as `side` spells it.
fn channel_name(channel: &ChannelConfig, side: Side, name: &str) -> String {
    match side {
        Side::Near => name.to_string(),
        Side::Far => channel
            .folder_map
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string()),
    }
}

fn report_round(channel: &ChannelConfig, round: &Round, out: &Output) {
    for folder in &round.synced {
        if !folder.report.is_quiet() {
            out.result(&format!(
                "{} {}:{}: {}",
                timestamp(),
                channel.name,
                folder.folder,
                describe(&folder.report)
            ));
        }
        for failure in &folder.report.failures {
            out.error(&format!("{}:{}: {failure}", channel.name, folder.folder));
        }
    }
    for action in &round.actions {
        out.result(&format!("{} {}: {action}", timestamp(), channel.name));
    }
    for (_, reason) in &round.failed {
        out.error(reason);
    }
}

/// What `mailferry status` shows: a round of `watch` is a sync of the
/// channel (or of its changed folders) like one from cron.
fn record_round(config: &Config, channel: &ChannelConfig, outcome: &Result<Round>, out: &Output) {
    let (status, errors): (i32, Vec<String>) = match outcome {
        Err(error) => (crate::error::exit::FAILED, vec![format!("{error:#}")]),
        Ok(round) => {
            let mut errors: Vec<String> = round.failed.iter().map(|(_, e)| e.clone()).collect();
            for folder in &round.synced {
                for failure in &folder.report.failures {
                    errors.push(format!("folder {}: {failure}", folder.folder));
                }
            }
            let status = if errors.is_empty() {
                crate::error::exit::OK
            } else {
                crate::error::exit::FAILED
            };
            (status, errors)
        }
    };
    let now = crate::state::epoch_seconds();
    if let Err(error) =
        crate::state::LastRun::record(&config.state_dir, &channel.name, now, status, &errors)
    {
        out.warning(&format!("{}: {error:#}", channel.name));
    }
}

/// The channel's `on_new_mail` hook, when the round copied messages to
/// the near side (what the hook is told: see [`crate::hooks`]).
fn run_on_new_mail(config: &Config, channel: &ChannelConfig, round: &Round, out: &Output) {
    let Some(line) = channel.on_new_mail.as_deref() else {
        return;
    };
    if round
        .synced
        .iter()
        .all(|f| f.report.copied[Side::Near] == 0)
    {
        return;
    }
    let status = if round.failed.is_empty() { 0 } else { 1 };
    let env = crate::hooks::folders_environment(&channel.name, status, &round.synced);
    let what = format!("on_new_mail of channel {}", channel.name);
    let limit = std::time::Duration::from_secs(config.hook_timeout_secs);
    crate::hooks::run_reported(&what, line, &env, limit, out);
}

/// The non-zero counts of a report: "1 new to near, 2 flag changes to far".
fn describe(report: &Report) -> String {
    let mut parts = Vec::new();
    for side in [Side::Near, Side::Far] {
        for (count, what) in [
            (report.copied[side], "new"),
            (report.flagged[side], "flag changes"),
            (report.deleted[side], "deleted"),
        ] {
            if count > 0 {
                parts.push(format!("{count} {what} to {side}"));
            }
        }
    }
    if report.skipped > 0 {
        parts.push(format!("{} skipped", report.skipped));
    }
    if parts.is_empty() {
        parts.push("checked".to_string());
    }
    parts.join(", ")
}

/// Whether the IMAP server behind `opener` offers IDLE, asked on a
/// connection of its own before the watchers start, so the first line
/// can say whether folders are watched or polled; `None` when it cannot be
/// reached now (its watchers keep trying, and use IDLE if it is there).
fn offers_idle(opener: &StoreOpener) -> Option<bool> {
    match opener.connect_imap()? {
        Ok(store) => {
            let idle = store.supports_idle();
            if let Err(error) = store.logout() {
                log::debug!("{error:#}");
            }
            Some(idle)
        }
        Err(error) => {
            log::info!(
                "{}: cannot ask whether it offers IDLE: {error:#}",
                opener.name()
            );
            None
        }
    }
}

fn describe_interval(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The time of day in UTC, to start activity lines.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(now, 0)
        .map(|d| d.format("%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Pair;

    #[test]
    fn reports_name_only_what_happened() {
        let mut report = Report::default();
        assert_eq!(describe(&report), "checked");
        report.copied = Pair::new(0, 2);
        report.flagged = Pair::new(1, 0);
        assert_eq!(describe(&report), "2 new to near, 1 flag changes to far");
    }

    #[test]
    fn intervals_read_in_their_largest_unit() {
        assert_eq!(describe_interval(900), "15m");
        assert_eq!(describe_interval(7200), "2h");
        assert_eq!(describe_interval(45), "45s");
    }
}
