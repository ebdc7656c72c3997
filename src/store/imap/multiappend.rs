//! Uploads in batches: MULTIAPPEND (RFC 3502) with LITERAL+ (RFC 7888),
//! many messages in one APPEND command and one round trip, which the server
//! stores in one transaction (Dovecot: one fsync for the batch), and
//! APPENDUID (UIDPLUS) naming the UIDs they got, in order.
//!
//! Messages of any bytes go in a batch, each as a literal. Without
//! MULTIAPPEND, LITERAL+ or UIDPLUS every message is uploaded alone.

use super::append::read_append_answer;
use super::client::response::StatusKind;
use super::client::Command;
use super::{flag_list, internal_date, ImapStore};
use crate::mail::{Message, MsgId};
use crate::store::{Staged, Store};
use anyhow::{anyhow, Result};

/// Bytes of messages held before they are sent: the command is built in
/// memory (and copied once more when encoded), so this bounds memory.
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Messages held before they are sent.
const BATCH_MESSAGES: usize = 100;

/// Why a batch upload failed.
enum Upload {
    /// The server said NO or BAD: it stored none of the batch.
    Refused,
    /// Anything else: some or all of it may have arrived.
    Failed(anyhow::Error),
}

/// Messages staged for upload and the outcomes of those already sent.
#[derive(Default)]
pub(super) struct Uploads {
    waiting: Vec<(String, Message)>,
    bytes: usize,
    sent: Vec<(String, Result<MsgId>)>,
}

impl ImapStore {
    fn batch_uploads(&self) -> bool {
        ["MULTIAPPEND", "LITERAL+", "UIDPLUS"]
            .iter()
            .all(|name| self.has_capability(name))
    }

    /// [`crate::store::Staging::stage_append`] for IMAP.
    pub(super) fn stage_upload(&mut self, ticket: &str, message: &Message) -> Result<Staged> {
        if !self.batch_uploads() {
            return Store::append(self, ticket, message).map(Staged::Stored);
        }
        // Sent with CRLF line ends, as a single APPEND sends it.
        let message = Message {
            content: crate::mail::with_crlf(&message.content).into_owned(),
            ..message.clone()
        };
        self.uploads.bytes += message.content.len();
        self.uploads.waiting.push((ticket.to_string(), message));
        if self.uploads.bytes >= BATCH_BYTES || self.uploads.waiting.len() >= BATCH_MESSAGES {
            self.send_uploads();
        }
        Ok(Staged::Deferred)
    }

    /// [`crate::store::Staging::begin_commit`] for IMAP: sends what waits and
    /// reports every staged message.
    pub(super) fn finish_uploads(&mut self) -> Vec<(String, Result<MsgId>)> {
        self.send_uploads();
        std::mem::take(&mut self.uploads.sent)
    }

    /// Forgets staged uploads (a new folder is opened): those never sent
    /// are pending in the journal, found missing and copied again.
    pub(super) fn drop_uploads(&mut self) {
        *self.uploads = Uploads::default();
    }

    fn send_uploads(&mut self) {
        let batch = std::mem::take(&mut self.uploads.waiting);
        self.uploads.bytes = 0;
        if batch.is_empty() {
            return;
        }
        match self.multiappend(&batch) {
            Ok(uids) => {
                for ((ticket, _), uid) in batch.into_iter().zip(uids) {
                    self.uploads.sent.push((ticket, Ok(uid.to_string())));
                }
            }
            // The server refused the batch, and so stored none of it
            // (MULTIAPPEND is all or nothing): one bad message (an empty
            // one, say) must not fail the others, so each goes alone.
            Err(Upload::Refused) => {
                for (ticket, message) in batch {
                    let outcome = Store::append(self, &ticket, &message).and_then(|uid| {
                        uid.ok_or_else(|| anyhow!("the server did not name the new UID"))
                    });
                    self.uploads.sent.push((ticket, outcome));
                }
            }
            // Whether anything arrived is unknown: the pending entries
            // make the next sync look.
            Err(Upload::Failed(err)) => {
                // The first message carries the error itself, so that a
                // lost connection is recognised as one.
                let reason = format!("{err:#}");
                let mut error = Some(err);
                for (ticket, _) in batch {
                    let outcome = error.take().unwrap_or_else(|| anyhow!("{reason}"));
                    self.uploads.sent.push((ticket, Err(outcome)));
                }
            }
        }
    }

    /// Sends one MULTIAPPEND; returns the UIDs the messages got, in order.
    fn multiappend(&mut self, batch: &[(String, Message)]) -> Result<Vec<u32>, Upload> {
        let open = self.open_folder_state().map_err(Upload::Failed)?;
        let folder = open.name.clone();
        let server_name = open.server_name.clone();
        super::protocol::quote(&server_name).map_err(Upload::Failed)?;
        let mut command = Command::new("APPEND").string(server_name.as_bytes());
        for (_, message) in batch {
            command = command.atom(&flag_list(message.flags));
            if let Some(date) = message.date.and_then(internal_date) {
                command = command.atom(&format!("\"{}\"", date.format("%d-%h-%Y %T %z")));
            }
            command = command.literal(&message.content[..]);
        }
        let doing = format!("uploading to folder {folder:?} failed");
        let answer = self.command_any(&command, &doing).map_err(Upload::Failed)?;
        drop(command);
        let status = answer.status();
        if matches!(status.kind, StatusKind::No | StatusKind::Bad) {
            log::info!(
                "{doing}: the server said {}; uploading the batch message by message",
                status.describe()
            );
            return Err(Upload::Refused);
        }
        drop(status);
        let lines = answer.whole();
        let mut exists = self.open.as_ref().map_or(0, |open| open.exists);
        let uids = read_append_answer(&lines, batch.len(), &mut exists)
            .map_err(Upload::Failed)?
            .ok_or_else(|| {
                Upload::Failed(anyhow!(
                    "the server stored the messages without naming their UIDs (no APPENDUID)"
                ))
            })?;
        if let Some(open) = self.open.as_mut() {
            // `run()` leaves the untagged EXISTS and EXPUNGE to us.
            open.exists = exists;
        }
        if uids.len() != batch.len() {
            return Err(Upload::Failed(anyhow!(
                "the server stored {} message(s) but named {} UID(s)",
                batch.len(),
                uids.len()
            )));
        }
        if let (Some(&last), Some(open)) = (uids.iter().max(), self.open.as_mut()) {
            // Later tickets can start after these messages.
            open.uidnext = Some(open.uidnext.unwrap_or(0).max(last.saturating_add(1)));
        }
        Ok(uids)
    }
}
