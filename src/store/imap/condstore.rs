//! CONDSTORE and QRESYNC (RFC 7162): with them a resync asks only for what
//! changed since the HIGHESTMODSEQ the last sync saw, so its cost grows
//! with the changes, not with the folder.
//!
//! `ENABLE QRESYNC` (else `ENABLE CONDSTORE`) is sent once per connection
//! when offered. The changes are read with `UID FETCH 1:* (UID FLAGS
//! RFC822.SIZE) (CHANGEDSINCE m VANISHED)` and parsed here.

use super::client::response::{Data, Fetch, Response};
use super::client::Command;
use super::{client_err, ok_or_refusal, protocol, ImapStore};
use crate::mail::Flags;
use crate::mail::MessageInfo;
use crate::store::Changes;
use anyhow::Result;

impl ImapStore {
    /// Turns QRESYNC on when the server offers it, else CONDSTORE (so
    /// that SELECT reports HIGHESTMODSEQ). With CONDSTORE alone expunges
    /// are not reported; the caller finds them by counting.
    ///
    /// ENABLE is only sent here: the SELECT sent next goes in the same
    /// round trip, and [`ImapStore::finish_enable`] reads the answer
    /// before any answer that depends on it. QRESYNC counts as on from
    /// now, since the server offered it; a refusal turns it off again.
    pub(super) fn enable_qresync(&mut self) -> Result<()> {
        let Some(extension) = self.extension_to_enable() else {
            return Ok(());
        };
        let command = Command::text(&format!("ENABLE {extension}"));
        let doing = format!("ENABLE {extension} on {} failed", self.host);
        let tag = self.send_ahead(&command, &doing)?;
        self.enabling = Some((tag, extension));
        self.qresync = extension == "QRESYNC";
        Ok(())
    }

    /// Reads the answer to the ENABLE [`ImapStore::enable_qresync`] sent,
    /// if it is still unread.
    pub(super) fn finish_enable(&mut self) -> Result<()> {
        let Some((tag, extension)) = self.enabling.take() else {
            return Ok(());
        };
        let doing = format!("ENABLE {extension} on {} failed", self.host);
        let answer = self
            .connection
            .answer(&tag)
            .map_err(|e| client_err(e, &doing))?;
        self.note_news(&answer, true);
        if let Err(refused) = ok_or_refusal(answer, &doing, false) {
            self.qresync = false;
            return Err(refused);
        }
        Ok(())
    }

    /// The extension to ENABLE, when ENABLE is still to be sent (from now
    /// on it counts as sent): QRESYNC where offered, else CONDSTORE.
    fn extension_to_enable(&mut self) -> Option<&'static str> {
        if std::mem::replace(&mut self.enabled, true) || !self.has_capability("ENABLE") {
            return None;
        }
        if self.has_capability("QRESYNC") {
            Some("QRESYNC")
        } else if self.has_capability("CONDSTORE") {
            Some("CONDSTORE")
        } else {
            None
        }
    }

    /// The messages of the open folder changed since `since`; `None` when
    /// the server cannot say (no CONDSTORE) or the folder is empty.
    pub(super) fn changes_since(&mut self, since: u64) -> Result<Option<Changes>> {
        if !self.has_capability("CONDSTORE") && !self.qresync {
            return Ok(None);
        }
        let open = self.open_folder_state()?;
        if open.exists == 0 {
            return Ok(None);
        }
        let folder = open.name.clone();
        let modifiers = if self.qresync {
            format!("(CHANGEDSINCE {since} VANISHED)")
        } else {
            format!("(CHANGEDSINCE {since})")
        };
        let command = Command::text(&format!(
            "UID FETCH 1:* (UID FLAGS RFC822.SIZE) {modifiers}"
        ));
        let doing = format!("listing changes of folder {folder:?} failed");
        let answer = self.command_any(&command, &doing)?;
        let answer = ok_or_refusal(answer, &doing, false)?;
        let lines = answer.untagged_bytes();
        let mut changes = parse_changes(lines, true)?;
        changes.vanished_known = self.qresync;
        let open = self.open_folder_state()?;
        if let Some(exists) = last_exists(lines) {
            open.exists = exists;
        }
        for message in &changes.changed {
            if let Ok(uid) = protocol::parse_uid(&message.id) {
                open.sizes.insert(uid, message.size);
            }
        }
        Ok(Some(changes))
    }
}

/// Reads the FETCH and VANISHED responses of a CHANGEDSINCE fetch (with
/// `with_sizes`) or of a SELECT with QRESYNC parameters (which gives UID,
/// FLAGS and MODSEQ: sizes are left 0). Other untagged data is ignored;
/// bytes that do not parse are an error.
pub fn parse_changes(lines: &[u8], with_sizes: bool) -> Result<Changes> {
    let mut changes = Changes::default();
    for response in protocol::responses(lines, "list of changes") {
        match response? {
            Response::Untagged(Data::Fetch { items, .. }) => {
                let fetch = Fetch::parse(items)
                    .map_err(|e| anyhow::anyhow!("the server's list of changes has {e}"))?;
                let (uid, size) = (fetch.uid, fetch.size);
                let has_flags = fetch.flags.is_some();
                let names = fetch.flags.unwrap_or_default();
                let flags = Flags::from_imap_names(names.iter().map(ToString::to_string));
                // A FETCH without UID or size (or, at a SELECT, flags) is
                // another client's flag change reported in passing; a
                // later sync sees it.
                let size = if with_sizes {
                    size
                } else {
                    has_flags.then_some(0)
                };
                if let (Some(uid), Some(size)) = (uid, size) {
                    changes.changed.push(MessageInfo {
                        id: uid.to_string(),
                        flags,
                        size,
                    });
                }
            }
            Response::Untagged(Data::Vanished { uids, .. }) => {
                let ranges = protocol::set_ranges(uids).ok_or_else(|| {
                    anyhow::anyhow!("the server's list of changes has a VANISHED of {uids:?}")
                })?;
                changes.vanished.extend(ranges);
            }
            _ => {}
        }
    }
    Ok(changes)
}

/// The message count of the last EXISTS response among `lines`.
fn last_exists(lines: &[u8]) -> Option<u32> {
    let mut exists = None;
    for response in protocol::responses(lines, "list of changes") {
        match response {
            Ok(Response::Untagged(Data::Exists(count))) => exists = Some(count),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    exists
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_flags_and_vanished_uids_are_read() {
        let lines = b"* VANISHED (EARLIER) 3:5,9\r\n\
            * 1 FETCH (UID 2 FLAGS (\\Seen \\Flagged) RFC822.SIZE 120 MODSEQ (17))\r\n\
            * 4 FETCH (UID 12 FLAGS () RFC822.SIZE 99 MODSEQ (18))\r\n\
            a7 OK Fetch completed.\r\n";
        let changes = parse_changes(lines, true).unwrap();
        assert_eq!(
            changes.changed,
            vec![
                MessageInfo {
                    id: "2".into(),
                    flags: Flags::SEEN.union(Flags::FLAGGED),
                    size: 120
                },
                MessageInfo {
                    id: "12".into(),
                    flags: Flags::EMPTY,
                    size: 99
                },
            ]
        );
        assert_eq!(changes.vanished, vec![3..=5, 9..=9]);
    }

    #[test]
    fn a_flag_update_without_uid_is_not_taken_for_a_message() {
        let lines = b"* 3 FETCH (FLAGS (\\Seen) MODSEQ (20))\r\na1 OK done\r\n";
        assert!(parse_changes(lines, true).unwrap().changed.is_empty());
    }

    #[test]
    fn a_select_with_qresync_gives_flags_and_vanished_without_sizes() {
        let lines = b"* OK [UIDVALIDITY 7] Ok\r\n\
            * VANISHED (EARLIER) 3:4\r\n\
            * 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (12))\r\n\
            * 2 FETCH (UID 5 MODSEQ (13))\r\n\
            a5 OK [READ-WRITE] Select completed\r\n";
        let changes = parse_changes(lines, false).unwrap();
        assert_eq!(
            changes.changed,
            vec![MessageInfo {
                id: "2".to_string(),
                flags: Flags::SEEN,
                size: 0,
            }]
        );
        assert_eq!(changes.vanished, vec![3..=4]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_changes(b"* 1 FETCH (UID\r\n))\r\n", true).is_err());
    }
}
