//! Late copies: an upload that a killed run sent whole may be stored by
//! the server after the next run looked for it and, not finding it,
//! uploaded the message again (a MULTIAPPEND batch Dovecot or Cyrus was
//! still committing). The first copy then turns up as a message no record
//! knows. Taken for new mail, it would be downloaded: a duplicate on both
//! sides.
//!
//! So an upload that was not found is not forgotten: it is kept as an
//! [`UnconfirmedUpload`] (see [`super::exec::resolve_pending`]) with its
//! size and SHA-256, and every message that later turns up on its target
//! in no record, with that size and stored since the upload's ticket, is
//! read and hashed before anything is planned for it ([`find`]). One
//! whose bytes are the upload's is that upload ([`settle`]):
//! - if its source is paired already (with the copy uploaded again, or a
//!   tombstone), it is the second copy of a message mailferry uploaded:
//!   it is removed from the target ([`Removal`], carried out like any
//!   deletion and journaled once done), never downloaded;
//! - if its source is in no record (it was never uploaded again), it is
//!   the upload: it is paired with its source.
//!
//! This runs before content identity ([`super::pairing`]) pairs the
//! messages no record holds: when several killed runs' batches all land,
//! the server holds byte-identical copies of one message, which content
//! identity can only call ambiguous and leave untouched for good, while
//! the entries here say they are mailferry's own copies (one per entry).
//!
//! A look-alike (same size, other bytes) is left to the planner as new
//! mail. Each unconfirmed upload accounts for at most one copy, and it is
//! forgotten after [`UNCONFIRMED_FOR`]: a dead session's commit lands
//! within seconds, and the entry is checked against every listing of its
//! target made in between, the last one taken after that time.

use crate::mail::{sha256_hex, MessageInfo, MsgId, Pair, Side};
use crate::state::{FolderState, Record, UnconfirmedUpload};
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// How long an unconfirmed upload is kept, in seconds (7 days).
pub const UNCONFIRMED_FOR: u64 = 7 * 24 * 60 * 60;

/// A message in no record whose bytes are those of an unconfirmed upload
/// to its side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateCopy {
    pub side: Side,
    pub id: MsgId,
    /// Which entry of the state's unconfirmed uploads it is.
    pub upload: usize,
    /// The message as users are told of it (Message-ID and subject).
    pub label: String,
}

/// A late copy to remove: its source is paired with another copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    pub side: Side,
    pub id: MsgId,
    /// The upload it is a copy of, accounted for once it is removed.
    pub upload: UnconfirmedUpload,
    pub label: String,
}

/// What becomes of the late copies found and of the unconfirmed uploads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Late copies whose source is in no record: the pair to record, and
    /// the upload it accounts for.
    pub pairs: Vec<(Record, UnconfirmedUpload)>,
    /// Late copies of a source paired with another copy.
    pub removals: Vec<Removal>,
    /// Unconfirmed uploads past [`UNCONFIRMED_FOR`] that no late copy
    /// accounts for: forgotten.
    pub expired: Vec<UnconfirmedUpload>,
}

/// Finds the late copies among the messages each side lists that no
/// record holds: those with the size of an unconfirmed upload to that side
/// and stored since its ticket are read and hashed. Nothing is read when
/// there are no unconfirmed uploads.
pub fn find(
    state: &FolderState,
    listings: Pair<&[MessageInfo]>,
    stores: Pair<&mut dyn Store>,
) -> Result<Vec<LateCopy>> {
    let mut found = Vec::new();
    if state.unconfirmed.is_empty() {
        return Ok(found);
    }
    let mut used: HashSet<usize> = HashSet::new();
    let Pair(stores) = stores;
    for (side, store) in Side::BOTH.into_iter().zip(stores) {
        let uploads: Vec<(usize, &UnconfirmedUpload)> = state
            .unconfirmed
            .iter()
            .enumerate()
            .filter(|(_, upload)| upload.target == side)
            .collect();
        if uploads.is_empty() {
            continue;
        }
        let candidates: Vec<MsgId> = listings[side]
            .iter()
            .filter(|m| !state.records.holds(side, &m.id))
            .filter(|m| {
                uploads
                    .iter()
                    .any(|(_, u)| u.size == m.size && store.stored_since(&u.ticket, &m.id))
            })
            .map(|m| m.id.clone())
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let mut hashes: HashMap<MsgId, (String, u64, String)> = HashMap::new();
        store.fetch_messages(&candidates, &mut |id, message| {
            hashes.insert(
                id.clone(),
                (
                    sha256_hex(&message.content),
                    message.content.len() as u64,
                    crate::mail::identity::message_label(&message.content),
                ),
            );
            Ok(())
        })?;
        // In listing order, each copy takes the first upload it matches
        // that no copy took yet.
        for id in candidates {
            let Some((sha256, size, label)) = hashes.remove(&id) else {
                continue;
            };
            let upload = uploads.iter().find(|(index, u)| {
                !used.contains(index)
                    && u.size == size
                    && u.sha256.eq_ignore_ascii_case(&sha256)
                    && store.stored_since(&u.ticket, &id)
            });
            if let Some(&(index, _)) = upload {
                used.insert(index);
                found.push(LateCopy {
                    side,
                    id,
                    upload: index,
                    label,
                });
            }
        }
    }
    Ok(found)
}

/// Decides what becomes of the late copies `found` in `state` (pure), and
/// which unconfirmed uploads expire at `now` (seconds since the epoch).
pub fn settle(state: &FolderState, found: &[LateCopy], now: u64) -> Settlement {
    let mut settlement = Settlement::default();
    // A source in a record, or paired here with its first late copy,
    // makes any further copy a second one.
    let mut paired_here: Pair<HashSet<&str>> = Pair::default();
    for copy in found {
        let Some(upload) = state.unconfirmed.get(copy.upload) else {
            continue;
        };
        let source_side = upload.target.other();
        let source = upload.source_id.as_str();
        if state.records.holds(source_side, source) || paired_here[source_side].contains(source) {
            settlement.removals.push(Removal {
                side: copy.side,
                id: copy.id.clone(),
                upload: upload.clone(),
                label: copy.label.clone(),
            });
        } else {
            paired_here[source_side].insert(source);
            let mut ids = Pair::default();
            ids[copy.side] = Some(copy.id.clone());
            ids[source_side] = Some(upload.source_id.clone());
            settlement.pairs.push((
                Record {
                    ids,
                    flags: upload.flags,
                },
                upload.clone(),
            ));
        }
    }
    let taken: HashSet<usize> = found.iter().map(|copy| copy.upload).collect();
    settlement.expired = state
        .unconfirmed
        .iter()
        .enumerate()
        .filter(|(index, upload)| {
            !taken.contains(index) && now >= upload.since.saturating_add(UNCONFIRMED_FOR)
        })
        .map(|(_, upload)| upload.clone())
        .collect();
    settlement
}

#[cfg(test)]
#[path = "late_tests.rs"]
mod tests;
