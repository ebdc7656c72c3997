//! The IMAP store's optional abilities (see [`crate::store::abilities`]):
//! incremental listing with CONDSTORE/QRESYNC, MULTIAPPEND batches,
//! SELECTs sent ahead, folder versions from STATUS and SELECT, and the
//! trash folder (MOVE, or COPY and a removal).

use super::client::Command;
use super::protocol::{self, parse_uid, quote, uid_set};
use super::{ok_or_refusal, select_command, ticket_uid, ImapStore, SentAhead, MAX_AHEAD};
use crate::mail::{FolderStatus, Message, MessageInfo, MsgId};
use crate::store::{
    Changes, CommitOutcome, CommitWork, FolderVersions, IncrementalListing, OpenAhead, Staged,
    Staging, Store, Trash, TrashUploads, Trashed,
};
use anyhow::{anyhow, Result};

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

    /// The batch goes out (MULTIAPPEND) at once: it needs the connection,
    /// which stays with the caller's thread.
    fn begin_commit(&mut self) -> Result<CommitWork> {
        Ok(CommitWork::done(self.finish_uploads()))
    }

    fn commit_done(&mut self, _outcome: &CommitOutcome) {}
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

impl Trash for ImapStore {
    fn prepare_trash(&mut self, trash: &str) -> Result<Option<String>> {
        self.open_folder_state()?;
        self.create_folder(trash)?;
        if self.has_capability("MOVE") {
            return Ok(None);
        }
        // COPY, then expunge: the trash's UIDNEXT before the COPY lets the
        // next run find a copy made by a run that died in between.
        let server_name = self.server_name(trash)?;
        let uidnext = self
            .status_uidnext(
                &server_name,
                &format!("STATUS of trash folder {trash:?} failed"),
            )?
            .ok_or_else(|| anyhow!("the server gives no UIDNEXT for trash folder {trash:?}"))?;
        Ok(Some(uidnext.to_string()))
    }

    fn trash_messages(&mut self, ids: &[MsgId], trash: &str) -> Result<Trashed> {
        self.open_folder_state()?;
        if ids.is_empty() {
            return Ok(Trashed::Moved);
        }
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        let set = uid_set(&uids);
        let server_name = self.server_name(trash)?;
        let folder = self.open_name();
        let trashed = if self.has_capability("MOVE") {
            self.command(
                &Command::text(&format!("UID MOVE {set}")).string(server_name.as_bytes()),
                &format!("moving messages of {folder:?} to the trash folder {trash:?} failed"),
            )?;
            if let Some(open) = self.open.as_mut() {
                for uid in &uids {
                    open.sizes.remove(uid);
                }
            }
            Trashed::Moved
        } else {
            self.command(
                &Command::text(&format!("UID COPY {set}")).string(server_name.as_bytes()),
                &format!("copying messages of {folder:?} to the trash folder {trash:?} failed"),
            )?;
            Trashed::Copied
        };
        Ok(trashed)
    }

    fn find_trashed(&mut self, trash: &str, ticket: &str, size: u64, sha256: &str) -> Result<bool> {
        let first = ticket_uid(ticket)?;
        let server_name = self.server_name(trash)?;
        // The trash is looked at read-only; the open folder is selected
        // again before its next use, as after folders opened ahead.
        let command = Command::text(&format!("EXAMINE {}", quote(&server_name)?));
        if let Some(open) = self.open.as_mut() {
            open.selected_elsewhere = true;
        }
        let doing = format!("cannot open trash folder {trash:?}");
        let answer = self.command_any(&command, &doing)?;
        ok_or_refusal(answer, &doing, false)?;
        let candidates = self.uids_since(first, None)?;
        Ok(self
            .same_size_with_hash(&candidates, size, sha256)?
            .into_iter()
            .any(|(_, identical)| identical))
    }
}

impl TrashUploads for ImapStore {
    fn prepare_trash_upload(&mut self, trash: &str) -> Result<String> {
        self.open_folder_state()?;
        self.create_folder(trash)?;
        let server_name = self.server_name(trash)?;
        self.status_uidnext(
            &server_name,
            &format!("STATUS of trash folder {trash:?} failed"),
        )?
        .map(|uidnext| uidnext.to_string())
        .ok_or_else(|| anyhow!("the server gives no UIDNEXT for trash folder {trash:?}"))
    }

    fn append_to_trash(&mut self, trash: &str, message: &Message) -> Result<()> {
        self.append_to_folder(trash, message)
    }
}
