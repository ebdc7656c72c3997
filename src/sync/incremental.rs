//! The far listing of a resync from what changed (CONDSTORE/QRESYNC): the
//! records' far ids with their flags at the last sync, updated by the
//! messages the server reports changed since the HIGHESTMODSEQ the last
//! sync saw, minus the UIDs it reports expunged. An unchanged folder then
//! costs the SELECT alone.
//!
//! Where the server offers QRESYNC the changes come with the SELECT (see
//! [`crate::store::Store::open_folder_knowing`]), so a changed folder costs
//! one round trip, unless new messages need their sizes listed.
//!
//! When it is safe to use, in plain words:
//! - the last sync recorded a HIGHESTMODSEQ, which it does only when it left
//!   every far message recorded with the far side's flags (no failure, no
//!   message skipped, flags flowing far to near so the record's flags are
//!   the far flags);
//! - UIDVALIDITY is unchanged (a change forgets the HIGHESTMODSEQ);
//! - the result has exactly as many messages as SELECT reported: anything
//!   else (an expunge a CONDSTORE-only server did not report) falls back to
//!   the full listing.

use super::plan::Policy;
use crate::state::{FolderState, Side};
use crate::store::{FolderStatus, MessageInfo, Store};
use anyhow::Result;
use std::collections::BTreeMap;

/// The far side's messages: from the state and the changes where the
/// server can tell them, else listed in full.
pub fn far_listing(
    far: &mut dyn Store,
    state: &FolderState,
    status: &FolderStatus,
    policy: &Policy,
) -> Result<Vec<MessageInfo>> {
    match from_changes(far, state, status, policy)? {
        Some(listing) => Ok(listing),
        None => far.list_messages(),
    }
}

fn from_changes(
    far: &mut dyn Store,
    state: &FolderState,
    status: &FolderStatus,
    policy: &Policy,
) -> Result<Option<Vec<MessageInfo>>> {
    let (Some(known), Some(now)) = (state.far_highest_modseq, status.highest_modseq) else {
        return Ok(None);
    };
    let usable = policy.copy_flags[Side::Near]
        && state.uidvalidity[Side::Far].is_some()
        && state.uidvalidity[Side::Far] == status.uidvalidity
        && state.pending.is_empty()
        && now >= known;
    if !usable {
        return Ok(None);
    }
    let mut listing: BTreeMap<u32, MessageInfo> = BTreeMap::new();
    for record in &state.records {
        let Some(id) = &record.ids[Side::Far] else {
            continue;
        };
        let Ok(uid) = id.parse::<u32>() else {
            return Ok(None);
        };
        // The size of a paired message is never used: only unpaired
        // messages are copied, and those come from the changes.
        listing.insert(
            uid,
            MessageInfo {
                id: id.clone(),
                flags: record.flags,
                size: 0,
            },
        );
    }
    if now > known {
        // The changes the SELECT brought (QRESYNC) serve when they name no
        // message new since then: those need their sizes, which only the
        // listing of changes gives.
        let at_open = far.changes_at_open(known).filter(|changes| {
            changes.changed.iter().all(|message| {
                message
                    .id
                    .parse::<u32>()
                    .is_ok_and(|uid| listing.contains_key(&uid))
            })
        });
        let changes = match at_open {
            Some(changes) => changes,
            None => match far.list_changes(known)? {
                Some(changes) => changes,
                None => return Ok(None),
            },
        };
        for message in changes.changed {
            let Ok(uid) = message.id.parse::<u32>() else {
                return Ok(None);
            };
            listing.insert(uid, message);
        }
        for range in &changes.vanished {
            let gone: Vec<u32> = listing.range(range.clone()).map(|(&uid, _)| uid).collect();
            for uid in gone {
                listing.remove(&uid);
            }
        }
    }
    if listing.len() != status.exists as usize {
        return Ok(None);
    }
    Ok(Some(listing.into_values().collect()))
}
