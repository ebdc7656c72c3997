//! Fetching message bodies with flat memory: UID FETCH in batches bounded by
//! count and bytes (sizes from the last listing), each message handed on as
//! soon as its batch is parsed, and large messages fetched alone in partial
//! pieces (`BODY.PEEK[]<offset.length>`) into a buffer of their exact size,
//! so no message is ever held twice.

use super::protocol::{parse_uid, uid_set};
use super::{imap_err, logged, ImapStore};
use crate::flags::Flags;
use crate::store::{Message, MsgId};
use anyhow::{bail, Result};
use std::collections::{HashMap, HashSet};

/// Most messages fetched in one UID FETCH. Mail of typical size (10-20 KB)
/// fills a batch's bytes first: each batch costs a round trip, so against
/// a distant server the fewer the better.
const BATCH_COUNT: usize = 400;
/// Most bytes (by RFC822.SIZE) fetched in one UID FETCH. The imap crate
/// reads a whole response before parsing it, so this bounds the memory of
/// a batch (per connection).
const BATCH_BYTES: u64 = 2 * 1024 * 1024;
/// Messages larger than this are fetched alone, in pieces.
const LARGE_MESSAGE: u64 = 2 * 1024 * 1024;
/// The size of one piece of a large message.
const PIECE: usize = 1024 * 1024;

/// One UID FETCH: several whole messages, or one large message in pieces.
#[derive(Debug, PartialEq, Eq)]
enum Batch {
    Whole(Vec<u32>),
    Large { uid: u32, size: u64 },
}

/// Splits UIDs into batches by count and known size; a UID of unknown size
/// counts as small.
fn plan_batches(uids: &[u32], sizes: &HashMap<u32, u64>) -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    let mut batch_bytes = 0u64;
    for &uid in uids {
        let size = sizes.get(&uid).copied().unwrap_or(0);
        if size > LARGE_MESSAGE {
            batches.push(Batch::Large { uid, size });
            continue;
        }
        if !batch.is_empty() && (batch.len() >= BATCH_COUNT || batch_bytes + size > BATCH_BYTES) {
            batches.push(Batch::Whole(std::mem::take(&mut batch)));
            batch_bytes = 0;
        }
        batch.push(uid);
        batch_bytes += size;
    }
    if !batch.is_empty() {
        batches.push(Batch::Whole(batch));
    }
    batches
}

fn flags_of(fetch: &imap::types::Fetch<'_>) -> Flags {
    let mut flags = Flags::EMPTY;
    for flag in fetch.flags() {
        if let Some(f) = Flags::from_imap_name(&flag.to_string()) {
            flags = flags.union(f);
        }
    }
    flags
}

impl ImapStore {
    /// [`crate::store::Store::fetch_messages`] for IMAP.
    pub(super) fn fetch_streamed(
        &mut self,
        ids: &[MsgId],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        let open = self.open_folder_state()?;
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        for batch in plan_batches(&uids, &open.sizes) {
            match batch {
                Batch::Whole(uids) => self.fetch_whole(&uids, sink)?,
                Batch::Large { uid, size } => self.fetch_in_pieces(uid, size, sink)?,
            }
        }
        Ok(())
    }

    fn fetch_whole(
        &mut self,
        uids: &[u32],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        let folder = self.open_name();
        let set = uid_set(uids);
        let items = "(UID FLAGS INTERNALDATE BODY.PEEK[])";
        let fetches = logged(&format!("UID FETCH {set} {items}"), || {
            self.session.uid_fetch(&set, items)
        })
        .map_err(|e| imap_err(e, format!("fetching from folder {folder:?} failed")))?;
        // Only what was asked for, once: a server that answers a UID twice
        // must not make a message be stored twice. The first answer counts.
        let mut wanted: HashSet<u32> = uids.iter().copied().collect();
        for fetch in fetches.iter() {
            // Unsolicited FETCH responses (flag changes of other messages)
            // carry no body and are not asked for.
            let Some(uid) = fetch.uid.filter(|uid| wanted.remove(uid)) else {
                continue;
            };
            let Some(body) = fetch.body() else {
                bail!("the server sent no content for UID {uid} in folder {folder:?}");
            };
            let message = Message {
                flags: flags_of(fetch),
                date: fetch.internal_date().map(|d| d.timestamp()),
                content: body.to_vec(),
            };
            sink(&uid.to_string(), message)?;
        }
        drop(fetches);
        self.drain_unsolicited();
        Ok(())
    }

    /// Fetches one large message piece by piece into a buffer of its size.
    fn fetch_in_pieces(
        &mut self,
        uid: u32,
        size: u64,
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        let folder = self.open_name();
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut flags = Flags::EMPTY;
        let mut date = None;
        loop {
            let offset = content.len();
            let items = if offset == 0 {
                format!("(UID FLAGS INTERNALDATE BODY.PEEK[]<0.{PIECE}>)")
            } else {
                format!("(UID BODY.PEEK[]<{offset}.{PIECE}>)")
            };
            let fetches = logged(&format!("UID FETCH {uid} {items}"), || {
                self.session.uid_fetch(uid.to_string(), &items)
            })
            .map_err(|e| imap_err(e, format!("fetching from folder {folder:?} failed")))?;
            let Some(fetch) = fetches.iter().find(|f| f.uid == Some(uid)) else {
                if offset == 0 {
                    // Gone since the listing: the caller notices.
                    return Ok(());
                }
                bail!("UID {uid} vanished from folder {folder:?} while it was being fetched");
            };
            if offset == 0 {
                flags = flags_of(fetch);
                date = fetch.internal_date().map(|d| d.timestamp());
            }
            let piece = fetch.body().unwrap_or_default();
            content.extend_from_slice(piece);
            let last = piece.len() < PIECE;
            drop(fetches);
            self.drain_unsolicited();
            if last {
                break;
            }
        }
        sink(
            &uid.to_string(),
            Message {
                flags,
                date,
                content,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let uids: Vec<u32> = (1..=1200).collect();
        let batches = plan_batches(&uids, &HashMap::new());
        let lengths: Vec<usize> = batches
            .iter()
            .map(|b| match b {
                Batch::Whole(uids) => uids.len(),
                Batch::Large { .. } => 0,
            })
            .collect();
        assert_eq!(lengths, vec![400; 3]);

        let sizes: HashMap<u32, u64> = (1..=10).map(|uid| (uid, 1024 * 1024)).collect();
        let batches = plan_batches(&(1..=10).collect::<Vec<_>>(), &sizes);
        assert_eq!(batches.len(), 5, "{batches:?}");
        assert_eq!(batches[0], Batch::Whole(vec![1, 2]));
    }

    #[test]
    fn large_messages_go_alone() {
        let sizes = HashMap::from([(2, 50 * 1024 * 1024), (1, 10), (3, 10)]);
        assert_eq!(
            plan_batches(&[1, 2, 3], &sizes),
            vec![
                Batch::Large {
                    uid: 2,
                    size: 50 * 1024 * 1024
                },
                Batch::Whole(vec![1, 3]),
            ]
        );
    }
}
