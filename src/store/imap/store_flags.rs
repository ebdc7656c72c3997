//! Flag changes for many messages at once: one UID STORE per distinct
//! change and up to [`UIDS_PER_STORE`] messages, instead of one command
//! (one round trip) per message.

use super::protocol::{parse_uid, uid_set};
use super::{flag_list, ImapStore};
use crate::mail::Flags;
use crate::mail::MsgId;
use anyhow::Result;

/// Keeps a command line well under the lengths servers accept (Dovecot
/// allows 64 KB; UID sets of scattered messages are long).
const UIDS_PER_STORE: usize = 1000;

impl ImapStore {
    /// [`crate::store::Store::set_flags_many`] for IMAP.
    pub(super) fn store_flags(&mut self, ids: &[MsgId], add: Flags, remove: Flags) -> Result<()> {
        self.open_folder_state()?;
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        for chunk in uids.chunks(UIDS_PER_STORE) {
            let set = uid_set(chunk);
            if !add.is_empty() {
                self.uid_store(&set, &format!("+FLAGS.SILENT {}", flag_list(add)))?;
            }
            if !remove.is_empty() {
                self.uid_store(&set, &format!("-FLAGS.SILENT {}", flag_list(remove)))?;
            }
        }
        Ok(())
    }
}
