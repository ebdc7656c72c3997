//! Uploads of one message: an APPEND with the message as a literal
//! (synchronizing unless the server offers LITERAL+), so that a server
//! refusing the message before it is sent (too large, over quota) is heard
//! in its own words. And the reading of an APPEND's answer (APPENDUID,
//! EXISTS, EXPUNGE), which batches ([`super::multiappend`]) share.

use super::client::response::{Code, Data, Response};
use super::client::Command;
use super::protocol::responses;
use super::{flag_list, internal_date, ok_or_refusal, ImapStore};
use crate::mail::identity::message_label;
use crate::mail::{Message, MsgId};
use anyhow::{bail, Result};

impl ImapStore {
    /// [`crate::store::Store::append`] for IMAP: the new message's UID
    /// when the server names it (APPENDUID, with UIDPLUS advertised). A
    /// refusal names the message (Message-ID and subject) and carries the
    /// server's words, as a [`crate::store::error::StoreErrorKind::Refused`].
    pub(super) fn append_one(&mut self, message: &Message) -> Result<Option<MsgId>> {
        let open = self.open_folder_state()?;
        let server_name = open.server_name.clone();
        let folder = open.name.clone();
        // The message is named, so a user can find the one a server
        // refuses.
        let doing = format!(
            "uploading {} to folder {folder:?} failed",
            message_label(&message.content)
        );
        let answer = self.send_append(&server_name, message, &doing)?;
        let mut exists = self.open.as_ref().map_or(0, |open| open.exists);
        let uids = read_append_answer(&answer, 1, &mut exists)?;
        // Dovecot sends APPENDUID even with UIDPLUS removed from its
        // capabilities; we follow what the server advertises, so such a
        // server is handled by find_appended like any other without it.
        let uid = match uids.as_deref() {
            Some(&[uid]) if self.has_capability("UIDPLUS") => Some(uid),
            _ => None,
        };
        if let Some(open) = self.open.as_mut() {
            open.exists = exists;
            if let Some(uid) = uid {
                // Later tickets can start after this message.
                open.uidnext = Some(open.uidnext.unwrap_or(0).max(uid.saturating_add(1)));
            }
        }
        Ok(uid.map(|uid| uid.to_string()))
    }

    /// Uploads `message` into folder `folder` (not the open one), as a
    /// trash folder takes a message that never reached this side (see
    /// [`crate::store::Store::append_to_trash`]). The open folder stays
    /// open.
    pub(super) fn append_to_folder(&mut self, folder: &str, message: &Message) -> Result<()> {
        self.open_folder_state()?;
        let server_name = self.server_name(folder)?;
        let doing = format!(
            "uploading {} to the trash folder {folder:?} failed",
            message_label(&message.content)
        );
        self.send_append(&server_name, message, &doing)?;
        Ok(())
    }

    /// Sends one APPEND of `message` (with its flags and date) into the
    /// folder the server calls `server_name`, and returns the answer once
    /// it is a tagged OK; `doing` says what failed otherwise.
    fn send_append(
        &mut self,
        server_name: &str,
        message: &Message,
        doing: &str,
    ) -> Result<Vec<u8>> {
        super::protocol::quote(server_name)?;
        // Bare LF (Maildir files written by MDAs, mail readers, mailferry
        // itself) becomes CRLF: servers such as Cyrus refuse bare newlines.
        let content = crate::mail::with_crlf(&message.content);
        let mut command = Command::new("APPEND")
            .string(server_name.as_bytes())
            .atom(&flag_list(message.flags));
        if let Some(date) = message.date.and_then(internal_date) {
            command = command.atom(&format!("\"{}\"", date.format("%d-%h-%Y %T %z")));
        }
        let command = command.literal(content);
        let answer = self.command_any(&command, doing)?;
        ok_or_refusal(answer, doing, true).map(|answer| answer.whole())
    }
}

/// Reads the answer to an APPEND of `sent` messages: the UIDs its
/// APPENDUID names, in the order of the messages (`None` without one),
/// while `exists` follows the EXISTS and EXPUNGE responses in it.
pub(super) fn read_append_answer(
    lines: &[u8],
    sent: usize,
    exists: &mut u32,
) -> Result<Option<Vec<u32>>> {
    let mut named = None;
    for response in responses(lines, "answer to APPEND") {
        match response? {
            Response::Untagged(Data::Exists(count)) => *exists = count,
            Response::Untagged(Data::Expunge(_)) => *exists = exists.saturating_sub(1),
            Response::Tagged { status, .. } => {
                let Some(Code::AppendUid { uids: set, .. }) = status.code else {
                    continue;
                };
                let Some(ranges) = super::protocol::set_ranges(set) else {
                    bail!("the server named the new UIDs as {set:?}, which is no UID set");
                };
                let mut uids = Vec::new();
                for range in ranges {
                    if (range.end() - range.start()) as usize >= sent {
                        bail!("the server named more UIDs than messages were sent");
                    }
                    uids.extend(range);
                }
                named = Some(uids);
            }
            _ => {}
        }
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appenduid_ranges_name_each_message_in_order() {
        let lines = b"* 12 EXISTS\r\na9 OK [APPENDUID 1700000000 7:9,12] Append completed.\r\n";
        let mut exists = 3;
        assert_eq!(
            read_append_answer(lines, 4, &mut exists).unwrap(),
            Some(vec![7, 8, 9, 12])
        );
        assert_eq!(exists, 12);
    }

    #[test]
    fn an_answer_without_appenduid_names_no_uid() {
        let mut exists = 3;
        let lines = b"* 2 EXPUNGE\r\n* 3 EXISTS\r\n* 1 EXPUNGE\r\na9 OK Append completed.\r\n";
        assert_eq!(read_append_answer(lines, 1, &mut exists).unwrap(), None);
        assert_eq!(exists, 2, "the EXPUNGE after the EXISTS counts");
    }

    #[test]
    fn a_range_wider_than_the_batch_is_an_error() {
        let lines = b"a9 OK [APPENDUID 1 7:20] done\r\n";
        assert!(read_append_answer(lines, 3, &mut 0).is_err());
    }
}
