//! The IMAP store's optional abilities (see [`crate::store::abilities`]):
//! incremental listing with CONDSTORE/QRESYNC, MULTIAPPEND batches,
//! SELECTs sent ahead, and folder versions from STATUS and SELECT.

use super::{protocol, select_command, ImapStore, SentAhead, MAX_AHEAD};
use crate::mail::{FolderStatus, Message, MessageInfo, MsgId};
use crate::store::{Changes, FolderVersions, IncrementalListing, OpenAhead, Staged, Staging};
use anyhow::Result;

impl IncrementalListing for ImapStore {
    /// With QRESYNC, the SELECT carries what the last sync saw, and the
    /// server answers it with the flag changes and expunges since then:
    /// one round trip instead of two for a folder that changed.
    fn open_folder_knowing(
        &mut self,
        name: &str,
        known: Option<(u32, u64)>,
    ) -> Result<FolderStatus> {
        self.enable_qresync()?;
        match known.filter(|_| self.qresync) {
            // A server that refuses the parameters (a HIGHESTMODSEQ it no
            // longer knows, say) is asked plainly.
            Some(known) => self
                .select(name, Some(known))
                .or_else(|_| self.select(name, None)),
            None => self.select(name, None),
        }
    }

    fn changes_at_open(&mut self, since: u64) -> Option<Changes> {
        let open = self.open.as_mut()?;
        match open.changes_at_open.take() {
            Some((at, changes)) if at == since => Some(changes),
            _ => None,
        }
    }

    fn list_changes(&mut self, since: u64) -> Result<Option<Changes>> {
        self.changes_since(since)
    }
}

impl Staging for ImapStore {
    fn stage_append(&mut self, ticket: &str, message: &Message) -> Result<Staged> {
        self.stage_upload(ticket, message)
    }

    fn commit_staged(&mut self) -> Result<Vec<(String, Result<MsgId>)>> {
        Ok(self.finish_uploads())
    }
}

impl OpenAhead for ImapStore {
    /// Sends a later folder's SELECT now (after ENABLE, so it is the same
    /// command the opening would send), behind any sent before; the open
    /// folder is selected again before its next operation, so nothing
    /// meant for it can reach another.
    fn open_ahead(&mut self, name: &str, known: Option<(u32, u64)>) {
        if !self.enabled
            || self.ahead.len() >= MAX_AHEAD
            || self.ahead.iter().any(|ahead| ahead.name == name)
        {
            return;
        }
        let known = known.filter(|_| self.qresync);
        let Ok(command) = self
            .server_name(name)
            .and_then(|server_name| select_command(&server_name, known))
        else {
            return;
        };
        match self.send_ahead(&command, "sending ahead") {
            Ok(tag) => {
                if let Some(open) = self.open.as_mut() {
                    open.selected_elsewhere = true;
                }
                self.ahead.push_back(SentAhead {
                    name: name.to_string(),
                    known,
                    tag,
                });
            }
            // The next command finds the connection broken and says so.
            Err(e) => log::debug!("{e:#}"),
        }
    }
}

impl FolderVersions for ImapStore {
    fn folder_version(&mut self, name: &str) -> Result<Option<String>> {
        if let Some(open) = self.open.as_ref().filter(|open| open.name == name) {
            return Ok(open.version.clone());
        }
        Ok(self.listed_versions.get(name).cloned())
    }

    fn nothing_added_between(&self, before: &str, now: &str) -> bool {
        protocol::nothing_added_between(before, now)
    }

    fn open_folder_as_listed(
        &mut self,
        _name: &str,
        _listing: &[MessageInfo],
    ) -> Result<Option<FolderStatus>> {
        // The server's folder must be selected to act on its messages.
        Ok(None)
    }
}
