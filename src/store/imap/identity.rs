//! Content identities from the server without downloading bodies: one
//! `UID FETCH (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID X-TUID)])` per batch
//! gives what [`Identity::from_header`] needs. Only messages without a
//! Message-ID are fetched whole, as their identity is a hash of the content.

use super::client::response::Fetch;
use super::protocol::{parse_uid, uid_set};
use super::ImapStore;
use crate::mail::identity::{Identity, HEADER_FIELDS};
use crate::mail::MsgId;
use crate::store::Store;
use anyhow::Result;
use std::collections::HashSet;

/// UIDs per header fetch: each answer is a few dozen bytes, so this keeps
/// commands and responses small without many round trips.
const HEADER_BATCH: usize = 500;

impl ImapStore {
    /// The identities of `ids` in the open folder; see [`Store::identities`].
    pub(super) fn identities_from_headers(
        &mut self,
        ids: &[MsgId],
    ) -> Result<Vec<(MsgId, Identity)>> {
        self.open_folder_state()?;
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        let mut found = Vec::with_capacity(uids.len());
        let mut without_message_id: Vec<MsgId> = Vec::new();
        for batch in uids.chunks(HEADER_BATCH) {
            for (uid, header, size) in self.fetch_message_id_headers(batch)? {
                match Identity::from_header(&header, size) {
                    Some(identity) => found.push((uid.to_string(), identity)),
                    None => without_message_id.push(uid.to_string()),
                }
            }
        }
        if !without_message_id.is_empty() {
            self.fetch_messages(&without_message_id, &mut |id, message| {
                found.push((id.clone(), Identity::of(&message.content)));
                Ok(())
            })?;
        }
        Ok(found)
    }

    /// `(uid, Message-ID and X-TUID header fields, RFC822.SIZE)` for each of `uids`
    /// that still exists. Unsolicited FETCH responses are left out.
    fn fetch_message_id_headers(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>, u64)>> {
        let folder = self.open_name();
        let doing = format!("fetching Message-IDs from folder {folder:?} failed");
        let command = format!(
            "UID FETCH {} (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS {HEADER_FIELDS}])",
            uid_set(uids)
        );
        let answer = self.fetch_command(&command, &doing)?;
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut result = Vec::with_capacity(uids.len());
        for items in super::fetched_items(&answer) {
            let fetch = Fetch::parse(items)
                .map_err(|e| anyhow::anyhow!("{doing}: {} sent {e}", self.host))?;
            let Some(uid) = fetch.uid.filter(|uid| wanted.contains(uid)) else {
                continue;
            };
            // A server that answers without the size cannot be matched by
            // it; such a message stays unpaired (and is copied) rather than
            // paired on a guess.
            let Some(size) = fetch.size else { continue };
            let header = fetch.header.map(|h| h.into_owned()).unwrap_or_default();
            result.push((uid, header, size));
        }
        Ok(result)
    }
}
