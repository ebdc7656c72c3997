//! Listing a folder's messages (UID, flags, size) in UID slices, so the
//! memory of a listing does not grow with the folder.
//!
//! Each FETCH response is read into a [`MessageInfo`] as it comes off the
//! wire (see [`super::client::Connection::answer_with`]), never kept as
//! bytes or a tree for the whole answer; and a slice of UIDs per command
//! bounds the answer itself. UID ranges, unlike sequence numbers, never shift when another
//! client expunges between two slices, so the slices together list exactly
//! what one `1:*` would have (a message expunged meanwhile is simply
//! absent, as if it had gone before the listing); the last slice is open
//! (`lo:*`) so that mail arriving after SELECT is listed too.

use super::client::response::{self, Data, Fetch, Response};
use super::client::Command;
use super::protocol::parse_uid;
use super::{client_err, ok_or_refusal, ImapStore};
use crate::mail::Flags;
use crate::mail::MessageInfo;
use anyhow::Result;
use std::collections::HashMap;

/// About how many messages one slice lists.
const SLICE_MESSAGES: u64 = 2000;

/// The UID ranges that list a folder of `exists` messages whose UIDs lie
/// below `uidnext`, each with about [`SLICE_MESSAGES`] messages if the
/// UIDs are spread evenly; the last range is open-ended (`lo:*`). Without
/// a UIDNEXT the whole folder is one range.
fn uid_slices(exists: u32, uidnext: Option<u32>) -> Vec<String> {
    let Some(uidnext) = uidnext.filter(|&next| next > 1 && exists > 0) else {
        return vec!["1:*".to_string()];
    };
    let span = u64::from(uidnext - 1);
    // Sparse UIDs (many expunged) make each range wider, so a range still
    // holds about a slice's worth of messages.
    let width = (SLICE_MESSAGES * span / u64::from(exists)).max(SLICE_MESSAGES);
    let mut slices = Vec::new();
    let mut low = 1u64;
    while low + width <= span {
        slices.push(format!("{low}:{}", low + width - 1));
        low += width;
    }
    slices.push(format!("{low}:*"));
    slices
}

impl ImapStore {
    /// [`crate::store::Store::list_messages`] for IMAP: every message of
    /// the open folder, in UID order, and the sizes kept for fetching.
    pub(super) fn list_in_slices(&mut self) -> Result<Vec<MessageInfo>> {
        let open = self.open_folder_state()?;
        // Some servers answer "1:*" in an empty folder with BAD; the count
        // is kept current from EXISTS and EXPUNGE responses.
        if open.exists == 0 {
            open.sizes.clear();
            return Ok(Vec::new());
        }
        let folder = open.name.clone();
        let slices = uid_slices(open.exists, open.uidnext);
        // Grown as answers come, not sized by the EXISTS count, which a
        // hostile server can make as large as it likes.
        let mut messages = Vec::new();
        let mut sizes = HashMap::new();
        let doing = format!("listing messages of folder {folder:?} failed");
        for slice in &slices {
            let command = Command::text(&format!("UID FETCH {slice} (UID FLAGS RFC822.SIZE)"));
            self.forget_ahead();
            let tag = self
                .connection
                .send(&command)
                .map_err(|e| client_err(e, &doing))?;
            let mut unreadable = None;
            let answer = self
                .connection
                .answer_with(&tag, &mut |frame| {
                    let Ok(Response::Untagged(Data::Fetch { items, .. })) = response::parse(frame)
                    else {
                        return false;
                    };
                    match Fetch::parse(items) {
                        Ok(fetch) => {
                            if let Some(uid) = fetch.uid {
                                let names = fetch.flags.unwrap_or_default();
                                let flags =
                                    Flags::from_imap_names(names.iter().map(ToString::to_string));
                                let size = fetch.size.unwrap_or(0);
                                sizes.insert(uid, size);
                                messages.push(MessageInfo {
                                    id: uid.to_string(),
                                    flags,
                                    size,
                                });
                            }
                        }
                        Err(e) => {
                            unreadable.get_or_insert(e);
                        }
                    }
                    true
                })
                .map_err(|e| client_err(e, &doing))?;
            self.note_news(&answer, false);
            ok_or_refusal(answer, &doing, false)?;
            if let Some(e) = unreadable {
                anyhow::bail!("{doing}: {} sent {e}", self.host);
            }
        }
        // `lo:*` names the highest UID even when it is below `lo`, and a
        // server may answer a UID twice: each message once, in UID order.
        messages.sort_by_key(|m| parse_uid(&m.id).unwrap_or(0));
        messages.dedup_by(|a, b| a.id == b.id);
        sizes.shrink_to_fit();
        self.open_folder_state()?.sizes = sizes;
        Ok(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_folder_is_one_open_slice() {
        assert_eq!(uid_slices(10, Some(11)), ["1:*"]);
        assert_eq!(uid_slices(2000, Some(2001)), ["1:*"]);
    }

    #[test]
    fn without_uidnext_the_folder_is_one_slice() {
        assert_eq!(uid_slices(10_000, None), ["1:*"]);
    }

    #[test]
    fn a_dense_folder_is_cut_into_slices_of_about_two_thousand() {
        assert_eq!(
            uid_slices(10_000, Some(10_001)),
            ["1:2000", "2001:4000", "4001:6000", "6001:8000", "8001:*"]
        );
        // The last slice also takes the UIDs above UIDNEXT (new mail).
        assert_eq!(
            uid_slices(4001, Some(4002)),
            ["1:2000", "2001:4000", "4001:*"]
        );
    }

    #[test]
    fn sparse_uids_make_wider_slices() {
        // 4,000 messages left of 40,000 UIDs: ten UIDs per message.
        assert_eq!(uid_slices(4000, Some(40_001)), ["1:20000", "20001:*"]);
    }

    #[test]
    fn the_slices_cover_every_uid_once() {
        for (exists, uidnext) in [(1, 2), (7, 9000), (4999, 5000), (12_345, 99_999)] {
            let slices = uid_slices(exists, Some(uidnext));
            let mut next = 1u64;
            for slice in &slices {
                let (low, high) = slice.split_once(':').unwrap();
                assert_eq!(low.parse::<u64>().unwrap(), next, "{slices:?}");
                if high == "*" {
                    next = u64::MAX;
                } else {
                    next = high.parse::<u64>().unwrap() + 1;
                }
            }
            assert_eq!(next, u64::MAX, "{slices:?} ends open");
        }
    }
}
