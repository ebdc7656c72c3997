//! The far listing of a resync from what changed (CONDSTORE/QRESYNC): the
//! records' far ids with their flags at the last sync, updated by the
//! messages the server reports changed since the HIGHESTMODSEQ the last
//! sync saw, minus the UIDs it reports expunged. An unchanged folder then
//! costs the SELECT alone.
//!
//! Where the server offers QRESYNC the changes come with the SELECT (see
//! [`crate::store::IncrementalListing::open_folder_knowing`]), so a changed folder costs
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
use crate::mail::{FolderStatus, MessageInfo, Pair, Side};
use crate::state::{FolderState, Record};
use crate::store::Store;
use anyhow::Result;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

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
    // Each far UID with the place of its record, in UID order (the records
    // are nearly so already, in the order they were paired, which the sort
    // makes cheap): 8 bytes a message, where copies of the records' ids
    // would take ten times that while the changes are merged in.
    let mut held: Vec<(u32, u32)> = Vec::with_capacity(state.records.len());
    for (place, record) in state.records.iter_placed() {
        let Some(id) = &record.ids[Side::Far] else {
            continue;
        };
        let (Ok(uid), Ok(place)) = (id.parse::<u32>(), u32::try_from(place)) else {
            return Ok(None);
        };
        held.push((uid, place));
    }
    held.sort_unstable();
    let recorded =
        |held: &[(u32, u32)], uid: u32| held.binary_search_by_key(&uid, |(uid, _)| *uid).is_ok();
    // What the changes say of a message, new or recorded (the last report
    // of a UID wins); the rest keep their recorded flags.
    let mut changed: BTreeMap<u32, MessageInfo> = BTreeMap::new();
    if now > known {
        // The changes the SELECT brought (QRESYNC) serve when they name no
        // message new since then: those need their sizes, which only the
        // listing of changes gives.
        let Some(far) = far.incremental() else {
            return Ok(None);
        };
        let at_open = far.changes_at_open(known).filter(|changes| {
            changes.changed.iter().all(|message| {
                message
                    .id
                    .parse::<u32>()
                    .is_ok_and(|uid| recorded(&held, uid))
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
            changed.insert(uid, message);
        }
        let new: Vec<u32> = changed
            .keys()
            .filter(|&&uid| !recorded(&held, uid))
            .copied()
            .collect();
        if !new.is_empty() {
            held.extend(new.into_iter().map(|uid| (uid, NEW)));
            held.sort_unstable();
        }
        remove_vanished(&mut held, &changes.vanished);
    }
    if held.len() != status.exists as usize {
        return Ok(None);
    }
    let mut listing = Vec::with_capacity(held.len());
    for (uid, place) in held {
        let message = match changed.remove(&uid) {
            Some(message) => message,
            None => {
                let Some(Record {
                    ids: Pair([Some(id), _]),
                    flags,
                }) = state.records.at(place as usize)
                else {
                    return Ok(None);
                };
                // The size of a paired message is never used: only
                // unpaired messages are copied, and those come from the
                // changes.
                MessageInfo {
                    id: id.clone(),
                    flags: *flags,
                    size: 0,
                }
            }
        };
        listing.push(message);
    }
    Ok(Some(listing))
}

/// The place of a message new since the last sync: it has no record.
const NEW: u32 = u32::MAX;

/// Removes from `listing` (in UID order) the UIDs in `vanished`: a search
/// for each range's start, then its UIDs, so a few expunges cost no pass
/// over every range for every message.
fn remove_vanished<T>(listing: &mut Vec<(u32, T)>, vanished: &[RangeInclusive<u32>]) {
    if vanished.is_empty() {
        return;
    }
    let mut gone = vec![false; listing.len()];
    for range in vanished {
        let from = listing.partition_point(|(uid, _)| uid < range.start());
        for (at, (uid, _)) in listing.iter().enumerate().skip(from) {
            if uid > range.end() {
                break;
            }
            gone[at] = true;
        }
    }
    let mut at = 0;
    listing.retain(|_| {
        let keep = !gone[at];
        at += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Flags;

    fn listing(uids: &[u32]) -> Vec<(u32, MessageInfo)> {
        uids.iter()
            .map(|&uid| {
                (
                    uid,
                    MessageInfo {
                        id: uid.to_string(),
                        flags: Flags::default(),
                        size: 0,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn vanished_ranges_remove_exactly_their_uids() {
        let mut held = listing(&[1, 2, 3, 5, 8, 9, 10, 20]);
        remove_vanished(&mut held, &[2..=3, 4..=4, 9..=15, 30..=40]);
        let left: Vec<u32> = held.iter().map(|(uid, _)| *uid).collect();
        assert_eq!(left, [1, 5, 8, 20]);
        remove_vanished(&mut held, &[]);
        assert_eq!(held.len(), 4);
    }
}
