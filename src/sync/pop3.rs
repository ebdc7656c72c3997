//! After a channel with a POP3 far side has synced: removing downloaded
//! mail from the server, as the store's `leave_on_server` and
//! `delete_after_days` say.
//!
//! Only messages whose pair is recorded in the saved state are removed:
//! their file is in the Maildir, and the state on disk says so. The state
//! is loaded from disk for that reason, after the folder sync saved it.
//!
//! When was a message downloaded? The near id of its pair is the Maildir
//! unique name of the local copy, and Maildir unique names begin with the
//! Unix seconds of the delivery (mailferry's own, see
//! `MaildirStore::prepare_append`, and every delivery agent's). So the
//! download time needs no record of its own: it survives crashes exactly
//! as the pair does, and a message that was already in the Maildir before
//! mailferry (paired by content) counts from its own delivery. A name that
//! does not begin with a time is kept on the server: its age is unknown.
//! A message whose local copy has been deleted (its record kept only the
//! server's id) has been read and thrown away: it is removed from the
//! server at the next run.

use super::channel::ChannelResult;
use crate::config::Pop3Config;
use crate::mail::{MsgId, Side};
use crate::state::{state_path, FolderState, StateFile};
use crate::store::pop3::store::INBOX;
use crate::store::Store;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// Removes from the server what the store's settings say should go, and
/// adds the count to the INBOX's report (or an error to the channel's).
/// Does nothing unless the INBOX synced in this run.
pub fn remove_from_server(
    state_dir: &Path,
    config: &Pop3Config,
    far: &mut dyn Store,
    result: &mut ChannelResult,
) {
    if config.leave_on_server && config.delete_after_days.is_none() {
        return;
    }
    let Some(inbox) = result.folders.iter_mut().find(|f| f.folder == INBOX) else {
        return;
    };
    let state_file = StateFile::new(state_path(state_dir, &result.channel, INBOX));
    let outcome = (|| -> Result<usize> {
        let state = state_file.load()?;
        far.open_folder(INBOX)?;
        let listed: HashSet<MsgId> = far.list_messages()?.into_iter().map(|m| m.id).collect();
        let doomed = server_deletions(&state, &listed, config, unix_now());
        if !doomed.is_empty() {
            far.delete_messages(&doomed).with_context(|| {
                format!(
                    "deleting {} downloaded message(s) from {}",
                    doomed.len(),
                    far.describe()
                )
            })?;
        }
        Ok(doomed.len())
    })();
    match outcome {
        Ok(count) => inbox.report.deleted[Side::Far] += count,
        Err(error) => inbox.report.failures.push(format!(
            "removing downloaded mail from the server: {error:#}"
        )),
    }
}

/// The server ids to delete: those the server still lists whose pair is
/// recorded, all of them with `leave_on_server: false`, else those
/// downloaded at least `delete_after_days` ago (see the module doc).
pub fn server_deletions(
    state: &FolderState,
    listed: &HashSet<MsgId>,
    config: &Pop3Config,
    now: i64,
) -> Vec<MsgId> {
    let max_age = match (config.leave_on_server, config.delete_after_days) {
        (false, _) => Some(0),
        (true, Some(days)) => Some(i64::from(days) * SECONDS_PER_DAY),
        (true, None) => None,
    };
    let Some(max_age) = max_age else {
        return Vec::new();
    };
    let mut doomed: Vec<MsgId> = state
        .records
        .iter()
        .filter_map(|record| {
            let far = record.ids[Side::Far].as_ref()?;
            if !listed.contains(far) {
                return None;
            }
            let old_enough = match &record.ids[Side::Near] {
                // The local copy was deleted: done with.
                None => true,
                Some(near) => {
                    max_age == 0 || delivered_at(near).is_some_and(|at| now - at >= max_age)
                }
            };
            old_enough.then(|| far.clone())
        })
        .collect();
    doomed.sort();
    doomed.dedup();
    doomed
}

/// The delivery time a Maildir unique name begins with: its digits up to
/// the first dot.
pub fn delivered_at(unique_name: &str) -> Option<i64> {
    let (seconds, _) = unique_name.split_once('.')?;
    if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seconds.parse().ok()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PasswordSource, Pop3Identity, TlsMode};
    use crate::mail::Flags;
    use crate::mail::Pair;
    use crate::state::Record;

    fn config(leave_on_server: bool, delete_after_days: Option<u32>) -> Pop3Config {
        Pop3Config {
            host: "pop.test".into(),
            port: 995,
            tls: TlsMode::Implicit,
            ca_file: Vec::new(),
            tls_fingerprint: None,
            tls_min_version: Default::default(),
            user: "u".into(),
            password: PasswordSource::Env("P".into()),
            command_timeout_secs: 60,
            timeout_secs: 60,
            auth: None,
            uidl: Pop3Identity::Server,
            leave_on_server,
            delete_after_days,
        }
    }

    fn record(far: Option<&str>, near: Option<&str>) -> Record {
        Record {
            ids: Pair::new(far.map(String::from), near.map(String::from)),
            flags: Flags::EMPTY,
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn state() -> FolderState {
        let day = SECONDS_PER_DAY;
        FolderState {
            records: vec![
                record(
                    Some("old"),
                    Some(&format!("{}.M1P2Q3.host", NOW - 40 * day)),
                ),
                record(Some("new"), Some(&format!("{}.M1P2Q4.host", NOW - day))),
                record(Some("odd"), Some("not-a-time.host")),
                record(Some("thrown-away"), None),
                record(Some("gone-from-server"), Some("1.x.host")),
                record(None, Some("2.y.host")),
            ]
            .into(),
            ..FolderState::default()
        }
    }

    fn listed() -> HashSet<MsgId> {
        ["old", "new", "odd", "thrown-away", "unrecorded"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn leave_on_server_without_days_deletes_nothing() {
        assert!(server_deletions(&state(), &listed(), &config(true, None), NOW).is_empty());
    }

    #[test]
    fn leave_on_server_false_deletes_every_recorded_message_still_listed() {
        assert_eq!(
            server_deletions(&state(), &listed(), &config(false, None), NOW),
            ["new", "odd", "old", "thrown-away"]
        );
    }

    #[test]
    fn delete_after_days_deletes_only_older_downloads_and_locally_deleted_ones() {
        assert_eq!(
            server_deletions(&state(), &listed(), &config(true, Some(30)), NOW),
            ["old", "thrown-away"]
        );
        assert_eq!(
            server_deletions(&state(), &listed(), &config(true, Some(1)), NOW),
            ["new", "old", "thrown-away"]
        );
    }

    #[test]
    fn delivery_time_is_read_from_the_unique_name() {
        assert_eq!(delivered_at("1700000000.M5P6Q7.host"), Some(1_700_000_000));
        assert_eq!(delivered_at("1700000000"), None);
        assert_eq!(delivered_at("abc.def"), None);
        assert_eq!(delivered_at(".x"), None);
    }
}
