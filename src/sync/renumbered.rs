//! A side whose ids were renumbered: the server changed a folder's
//! UIDVALIDITY, or a POP3 server's UIDLs changed (a server migration, a
//! rebuilt index). The records still know what the other side held and
//! which flags both sides agreed on at the last sync; only the renumbered
//! side's ids say nothing now. So the records are kept and only those ids
//! are established again, by content identity
//! ([`super::pairing::match_by_content`]): each record's message on the
//! other side is matched with a message the renumbered side lists, in one
//! matching with the other side's messages no record holds (a look-alike
//! new there must compete for the renumbered copies, or it could take a
//! record that is not its own). A
//! record found again keeps its flags, so the three-way merge sees the
//! changes either side made since the last sync (a `+F` or an unread
//! mark made in the Maildir reaches the server instead of being reverted).
//!
//! What cannot be found again:
//! - a record whose message on the other side is gone (deleted there since
//!   the last sync) or was never there (a tombstone): its content is not at
//!   hand to compare. After a UIDVALIDITY change it is forgotten, as its
//!   old id could name another message now: the message, if the
//!   renumbered side still has it, is then new to the plan and copied
//!   back (nothing is lost; the deletion is not carried over). After a
//!   UIDL change the record stays: an id the server does not list is taken
//!   as gone, as on any run;
//! - a record whose content occurs more than once on a side (true copies):
//!   forgotten, and its messages are left out of this run's plan, neither
//!   copied nor deleted (as [`super::pairing`] does for any ambiguity).
//!
//! When are UIDLs taken as renumbered? A POP3 server has no UIDVALIDITY:
//! when more than half of the records' far ids are no longer listed while
//! the server lists messages no record holds. On an ordinary run the
//! server lists nearly every recorded id (only messages deleted since are
//! missing), so this costs nothing there.
//!
//! Crash safety: each record found again is journaled (unpaired, then
//! paired with its new id), and the new UIDVALIDITY is journaled only
//! after the last of them; a run killed half-way leaves the old
//! UIDVALIDITY, so the next run matches again, from the records as they
//! were left (a record already given its new id is found again by the same
//! content).

use super::ledger::Ledger;
use super::pairing::{match_by_content, Evidence};
use crate::mail::{Flags, MessageInfo, MsgId, Pair, Side};
use crate::state::{Record, Records};
use crate::store::Store;
use anyhow::Result;
use std::collections::{HashMap, HashSet};

/// Why a side's ids are taken as renumbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renumbering {
    /// UIDVALIDITY changed: every id of the side's records is stale.
    UidValidity { old: u32, new: u32 },
    /// A POP3 server's UIDLs changed: the ids it no longer lists are stale.
    Uidls,
}

/// What re-establishing a side's ids did, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renumbered {
    /// Records given their new id.
    pub found_again: usize,
    /// Records forgotten (see the module doc).
    pub forgotten: usize,
    /// Messages left out of the plan, per side: their content is held
    /// more than once.
    pub ambiguous_ids: Pair<Vec<MsgId>>,
}

/// Whether the UIDLs of a far side without UIDVALIDITY look renumbered
/// (see the module doc).
pub fn uidls_renumbered(records: &Records, far_listing: &[MessageInfo]) -> bool {
    let listed: HashSet<&str> = far_listing.iter().map(|m| m.id.as_str()).collect();
    let recorded: HashSet<&str> = records
        .iter()
        .filter_map(|r| r.ids[Side::Far].as_deref())
        .collect();
    let missing = recorded.iter().filter(|id| !listed.contains(*id)).count();
    let new = listed.iter().filter(|id| !recorded.contains(*id)).count();
    new > 0 && missing * 2 > recorded.len()
}

/// Re-establishes the ids of `side` in the ledger's records from the
/// listings, as `how` says they were renumbered.
pub fn re_pair(
    ledger: &mut Ledger,
    side: Side,
    how: Renumbering,
    listings: Pair<&[MessageInfo]>,
    stores: Pair<&mut dyn Store>,
) -> Result<Renumbered> {
    let other = side.other();
    let listed_here: HashSet<&str> = listings[side].iter().map(|m| m.id.as_str()).collect();
    let listed_there: HashSet<&str> = listings[other].iter().map(|m| m.id.as_str()).collect();
    let is_stale = |record: &Record| match (how, &record.ids[side]) {
        (_, None) => false,
        (Renumbering::UidValidity { .. }, Some(_)) => true,
        (Renumbering::Uidls, Some(id)) => !listed_here.contains(id.as_str()),
    };
    let stale: Vec<Record> = ledger
        .state()
        .records
        .iter()
        .filter(|r| is_stale(r))
        .cloned()
        .collect();
    // This side's messages that no record still holds by a valid id.
    let held: HashSet<&str> = ledger
        .state()
        .records
        .iter()
        .filter(|r| !is_stale(r))
        .filter_map(|r| r.ids[side].as_deref())
        .collect();
    let unheld: Vec<MsgId> = listings[side]
        .iter()
        .filter(|m| !held.contains(m.id.as_str()))
        .map(|m| m.id.clone())
        .collect();
    // The stale records' messages on the other side, still listed there.
    let by_other_id: HashMap<MsgId, &Record> = stale
        .iter()
        .filter_map(|r| {
            let id = r.ids[other].as_ref()?;
            listed_there.contains(id.as_str()).then(|| (id.clone(), r))
        })
        .collect();
    // And the other side's messages no record holds: a look-alike of a
    // record's message (one Message-ID and size, other bytes) that turned
    // up since must be a rival for the renumbered copies, or a message
    // it is not would take its record.
    let recorded_there: HashSet<&str> = ledger
        .state()
        .records
        .iter()
        .filter_map(|r| r.ids[other].as_deref())
        .collect();
    let new_there: Vec<MsgId> = listings[other]
        .iter()
        .filter(|m| !recorded_there.contains(m.id.as_str()))
        .map(|m| m.id.clone())
        .collect();
    let mut there: Vec<MsgId> = by_other_id.keys().cloned().chain(new_there).collect();
    there.sort();
    let mut candidates: Pair<&[MsgId]> = Pair::new(&[], &[]);
    candidates[side] = &unheld;
    candidates[other] = &there;
    let matched = match_by_content(candidates, stores, Evidence::HeadersWhereUnique)?;

    let mut result = Renumbered {
        ambiguous_ids: matched.ambiguous_ids,
        ..Renumbered::default()
    };
    let found_again: Vec<(&Record, Pair<Option<MsgId>>)> = matched
        .pairs
        .iter()
        .filter_map(|ids| {
            let record = *by_other_id.get(&ids[other])?;
            let mut new_ids = record.ids.clone();
            new_ids[side] = Some(ids[side].clone());
            Some((record, new_ids))
        })
        .collect();
    // Pairs of two messages no record held: recorded as identity pairing
    // records them, with the near side's flags.
    let near_flags: HashMap<&str, Flags> = listings[Side::Near]
        .iter()
        .map(|m| (m.id.as_str(), m.flags))
        .collect();
    let newly_paired: Vec<Record> = matched
        .pairs
        .iter()
        .filter(|ids| !by_other_id.contains_key(&ids[other]))
        .map(|ids| Record {
            ids: Pair::new(Some(ids[Side::Far].clone()), Some(ids[Side::Near].clone())),
            flags: near_flags
                .get(ids[Side::Near].as_str())
                .copied()
                .unwrap_or(Flags::EMPTY),
        })
        .collect();
    let found: HashSet<&[Option<MsgId>; 2]> = found_again
        .iter()
        .map(|(record, _)| &record.ids.0)
        .collect();
    let ambiguous_there: HashSet<&MsgId> = result.ambiguous_ids[other].iter().collect();
    let lost: Vec<&Record> = stale
        .iter()
        .filter(|record| !found.contains(&record.ids.0))
        .filter(|record| {
            matches!(how, Renumbering::UidValidity { .. })
                || record.ids[other]
                    .as_ref()
                    .is_some_and(|id| ambiguous_there.contains(id))
        })
        .collect();
    // All old ids go before any new one comes: a new UID may be another
    // record's old one, and a pair replaces any record sharing an id.
    for record in found_again
        .iter()
        .map(|(record, _)| *record)
        .chain(lost.iter().copied())
    {
        ledger.forget(&record.ids)?;
    }
    for (record, new_ids) in &found_again {
        ledger.pair(new_ids.clone(), record.flags)?;
    }
    for record in &newly_paired {
        ledger.pair(record.ids.clone(), record.flags)?;
    }
    result.found_again = found_again.len();
    result.forgotten = lost.len();
    if let Renumbering::UidValidity { new, .. } = how {
        ledger.set_uidvalidity(side, Some(new))?;
    }
    Ok(result)
}

/// The line that tells the user what happened.
pub fn note(folder: &str, side: Side, how: Renumbering, done: &Renumbered) -> String {
    let what = match how {
        Renumbering::UidValidity { old, new } => {
            format!("UIDVALIDITY of the {side} folder {folder} changed from {old} to {new}")
        }
        Renumbering::Uidls => format!(
            "the {side} side of {folder} no longer lists most of the message ids (UIDLs) it \
             had; they were renumbered"
        ),
    };
    let mut note = format!(
        "{what}: {} pair(s) re-established by content, keeping the flags of the last sync",
        done.found_again
    );
    if done.forgotten > 0 {
        note.push_str(&format!(
            "; {} pair(s) could not be found again and were forgotten",
            done.forgotten
        ));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(far: Option<&str>, near: Option<&str>) -> Record {
        Record {
            ids: Pair::new(far.map(String::from), near.map(String::from)),
            flags: Flags::SEEN,
        }
    }

    fn listed(ids: &[&str]) -> Vec<MessageInfo> {
        ids.iter()
            .map(|id| MessageInfo {
                id: id.to_string(),
                flags: Flags::EMPTY,
                size: 10,
            })
            .collect()
    }

    #[test]
    fn uidls_are_renumbered_when_most_recorded_ids_are_gone_and_new_ones_listed() {
        let records: Records = [
            record(Some("a"), Some("1")),
            record(Some("b"), Some("2")),
            record(Some("c"), Some("3")),
            record(None, Some("4")),
        ]
        .into_iter()
        .collect();
        assert!(uidls_renumbered(&records, &listed(&["x", "y", "z"])));
        assert!(uidls_renumbered(&records, &listed(&["a", "y", "z"])));
        // Half gone is ordinary deletion; gone with nothing new is too.
        assert!(!uidls_renumbered(&records, &listed(&["a", "b", "z"])));
        assert!(!uidls_renumbered(&records, &listed(&[])));
        assert!(!uidls_renumbered(&Records::default(), &listed(&["x"])));
    }
}
