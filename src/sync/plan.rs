//! Reconciliation: the pure function that compares both listings with the
//! state and decides what to do. No I/O happens here; the plan is a value
//! that `--dry-run` prints, `--json` serialises and the executor carries out.
//!
//! For each message the planner looks at three things: whether the far side
//! lists it, whether the near side lists it, and the record of the last
//! sync (which pairs a far id with a near id and remembers their flags).
//! Every combination is handled by one arm of [`plan_record`] or by
//! [`plan_unpaired`], each commented with its pattern.

use super::late::Removal;
use crate::mail::{Flags, MessageInfo, MsgId, Pair, Side};
use crate::state::{FolderState, Record, UnconfirmedUpload};
use foldhash::{HashMap, HashSet, HashSetExt};
use serde::Serialize;
use std::fmt;

/// What the channel allows, per side. `copy_new[Near]` means "messages new
/// on the far side may be copied to the near side", and so on: each field
/// says what may be done *to* that side.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Messages new on the other side are copied here.
    pub copy_new: Pair<bool>,
    /// Flag changes made on the other side are applied here.
    pub copy_flags: Pair<bool>,
    /// Messages deleted on the other side are deleted (or flagged deleted) here.
    pub propagate_delete: Pair<bool>,
    /// Messages flagged deleted here are removed for good.
    pub expunge: Pair<bool>,
    /// Messages larger than this are not copied.
    pub max_size: Option<u64>,
    /// Only the newest this many messages of a side are copied.
    pub max_messages: Option<usize>,
    /// The share of a folder a plan may delete before it is refused.
    pub max_delete_ratio: f64,
    /// Folders with at most this many messages are not guarded.
    pub guard_min_messages: usize,
    /// Skip the deletion guard.
    pub force: bool,
    /// The trash folder of each side (`trash:`): a message removed from
    /// that side is moved there instead of being deleted.
    pub trash: Pair<Option<String>>,
    /// Only messages that were never paired go to the trash (mbsync's
    /// TrashNewOnly): a paired message is still on the other side, or was
    /// deleted there on purpose.
    pub trash_new_only: bool,
    /// A message never synced that one side expunges is first uploaded to
    /// the other side's trash folder (mbsync's TrashRemoteNew).
    pub trash_remote_new: bool,
    /// The first day of the date window (`max_age`, `since`): messages
    /// that arrived before it are left alone on both sides.
    pub window_start: Option<chrono::NaiveDate>,
    /// Local copies of messages outside the window that the far side still
    /// holds are deleted (`prune_local`).
    pub prune_local: bool,
}

impl Default for Policy {
    /// The channel defaults: everything in both directions.
    fn default() -> Policy {
        Policy {
            copy_new: Pair::new(true, true),
            copy_flags: Pair::new(true, true),
            propagate_delete: Pair::new(true, true),
            expunge: Pair::new(true, true),
            max_size: None,
            max_messages: None,
            max_delete_ratio: 0.5,
            guard_min_messages: 20,
            force: false,
            trash: Pair::default(),
            trash_new_only: false,
            trash_remote_new: false,
            window_start: None,
            prune_local: false,
        }
    }
}

impl Policy {
    /// The policy for the folder pair `names`: a folder that is its side's
    /// trash folder is not trashed into itself; what leaves it is deleted.
    pub fn for_folder(&self, names: Pair<&str>) -> std::borrow::Cow<'_, Policy> {
        let is_trash = |side: Side| self.trash[side].as_deref() == Some(names[side]);
        if !Side::BOTH.into_iter().any(is_trash) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut policy = self.clone();
        for side in Side::BOTH {
            if is_trash(side) {
                policy.trash[side] = None;
            }
        }
        std::borrow::Cow::Owned(policy)
    }
}

/// Copy a message that only one side has to the other side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    /// The side that receives the message.
    pub to: Side,
    /// The message's id on the other side.
    pub source: MsgId,
    pub flags: Flags,
    pub size: u64,
}

/// What to do to one side's copy of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    SetFlags {
        add: Flags,
        remove: Flags,
    },
    Delete,
    /// Move the message into the side's trash folder (`trash:`), which
    /// takes it out of this folder as a deletion would.
    Trash {
        folder: String,
    },
    /// Upload the other side's message, which this side never had, into
    /// this side's trash folder before it is deleted there
    /// (`trash: {remote_new: true}`).
    UploadToTrash {
        folder: String,
    },
    /// Remove a second copy that mailferry itself uploaded (see
    /// [`super::late`]); where that cannot be done alone it is flagged
    /// deleted instead.
    DeleteLateCopy,
}

/// How the record of a message pair changes once its operations succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum RecordAfter {
    /// The pair stays (or becomes a tombstone) with these ids and flags.
    Keep {
        ids: Pair<Option<MsgId>>,
        flags: Flags,
    },
    /// The pair is forgotten: the message is gone from both sides.
    Drop,
    /// Nothing to record (a message that was never paired).
    Unpaired,
    /// A late copy is gone: the unconfirmed upload it was a copy of is
    /// accounted for.
    LateCopyRemoved { upload: UnconfirmedUpload },
}

/// Changes to a message that at least one side already has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Update {
    /// The message's ids now (from the record, or the one listing that has it).
    pub ids: Pair<Option<MsgId>>,
    /// What to do on each side.
    pub ops: Pair<Option<Op>>,
    /// The record once the ops are done.
    pub after: RecordAfter,
    /// Why, in words, for `--dry-run`.
    pub reason: &'static str,
}

/// A message that the policy keeps from being copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub side: Side,
    pub id: MsgId,
    pub reason: String,
}

/// Everything one folder pair needs, in the order the executor runs it:
/// updates (flags, deletions), then copies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub updates: Vec<Update>,
    pub copies: Vec<Copy>,
    pub skipped: Vec<Skipped>,
}

/// A plan refused because it would delete too much of a folder: the sign
/// of a server that suddenly reports a folder empty, or a Maildir that was
/// moved away. `--force` overrides it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionGuard {
    pub side: Side,
    pub deletions: usize,
    pub total: usize,
    pub ratio: f64,
}

impl fmt::Display for DeletionGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing to delete {} of {} messages on the {} side (more than {:.0}%); \
             if that is really wanted, run again with --force",
            self.deletions,
            self.total,
            self.side,
            self.ratio * 100.0
        )
    }
}

impl std::error::Error for DeletionGuard {}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.copies.is_empty()
    }

    /// Whether carrying the plan out needs the store of `side`: a copy
    /// reads one side and writes the other, an update acts on the sides
    /// it has an operation for.
    pub fn uses(&self, side: Side) -> bool {
        !self.copies.is_empty() || self.updates.iter().any(|u| u.ops[side].is_some())
    }

    /// How many messages the plan takes out of a side's folder, deleted
    /// or moved to the trash.
    pub fn deletions_on(&self, side: Side) -> usize {
        self.updates
            .iter()
            .filter(|u| matches!(u.ops[side], Some(Op::Delete | Op::Trash { .. })))
            .count()
    }
}

/// Plans one folder pair. `listings` are the current messages of each side;
/// the state must already have its pending copies resolved.
pub fn plan(
    state: &FolderState,
    listings: Pair<&[MessageInfo]>,
    policy: &Policy,
) -> Result<Plan, DeletionGuard> {
    plan_with_late_copies(state, listings, &[], policy)
}

/// [`plan`], told which unrecorded messages are second copies of uploads
/// mailferry made (see [`super::late`]): those are removed, never copied.
pub fn plan_with_late_copies(
    state: &FolderState,
    listings: Pair<&[MessageInfo]>,
    late_copies: &[Removal],
    policy: &Policy,
) -> Result<Plan, DeletionGuard> {
    plan_with_window(state, listings, late_copies, &Pair::default(), policy)
}

/// [`plan_with_late_copies`], told which listed messages of each side
/// arrived before the date window (`old`, see [`super::window`]): those
/// are left alone on both sides. Not copied, not deleted, not flagged,
/// whatever the other side did, so a message that ages out stays where it
/// is; only `prune_local` removes the near copy of one the far side still
/// holds, leaving a tombstone so that its absence is not taken for a
/// deletion to propagate.
pub fn plan_with_window(
    state: &FolderState,
    listings: Pair<&[MessageInfo]>,
    late_copies: &[Removal],
    old: &Pair<std::collections::HashSet<MsgId>>,
    policy: &Policy,
) -> Result<Plan, DeletionGuard> {
    let late: HashMap<(Side, &str), &Removal> = late_copies
        .iter()
        .map(|removal| ((removal.side, removal.id.as_str()), removal))
        .collect();
    // The records pair an id at most once, and know which ids they hold
    // (an index of the state, not one built here: one lookup a message):
    // a listed message is new where no record holds its id.
    let mut present: Vec<Pair<Option<&MessageInfo>>> =
        vec![Pair::default(); state.records.places()];
    let mut unrecorded: Pair<Vec<&MessageInfo>> = Pair::default();
    for side in Side::BOTH {
        for message in listings[side] {
            match state.records.place_of(side, &message.id) {
                Some(place) => present[place][side] = Some(message),
                None => unrecorded[side].push(message),
            }
        }
    }
    let mut plan = Plan::default();
    for (place, record) in state.records.iter_placed() {
        let present = present[place];
        let outside_window = !old[Side::Far].is_empty() || !old[Side::Near].is_empty();
        let outside_window = outside_window
            && Side::BOTH
                .into_iter()
                .any(|side| present[side].is_some_and(|m| old[side].contains(&m.id)));
        if outside_window {
            plan.updates.extend(prune_local(record, present, policy));
            continue;
        }
        if let Some(update) = plan_record(record, present, policy) {
            plan.updates.push(update);
        }
    }

    for side in Side::BOTH {
        let too_old = older_than_newest(listings[side], policy.max_messages);
        for &message in &unrecorded[side] {
            if let Some(removal) = late.get(&(side, message.id.as_str())) {
                plan.updates.push(remove_late_copy(removal));
                continue;
            }
            if old[side].contains(&message.id) {
                // Before the date window: neither copied nor expunged.
                continue;
            }
            if too_old.contains(message.id.as_str()) && policy.copy_new[side.other()] {
                plan.skipped.push(Skipped {
                    side,
                    id: message.id.clone(),
                    reason: "older than the newest max_messages".to_string(),
                });
                continue;
            }
            plan_unpaired(side, message, policy, &mut plan);
        }
    }

    if !policy.force {
        for side in Side::BOTH {
            let total = listings[side].len();
            let deletions = plan.deletions_on(side);
            if total > policy.guard_min_messages
                && deletions as f64 > policy.max_delete_ratio * total as f64
            {
                return Err(DeletionGuard {
                    side,
                    deletions,
                    total,
                    ratio: policy.max_delete_ratio,
                });
            }
        }
    }
    Ok(plan)
}

/// The ids of a listing that are not among its newest `keep` messages.
/// Newest means highest UID, or for Maildir the latest unique name (they
/// begin with the delivery time).
fn older_than_newest(listing: &[MessageInfo], keep: Option<usize>) -> HashSet<&str> {
    let Some(keep) = keep else {
        return HashSet::new();
    };
    let mut ids: Vec<&str> = listing.iter().map(|m| m.id.as_str()).collect();
    // Numeric ids (UIDs) sort by value, others by text.
    ids.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    let cut = ids.len().saturating_sub(keep);
    ids[..cut].iter().copied().collect()
}

/// Plans one record of the state against what each side lists now.
fn plan_record(
    record: &Record,
    present: Pair<Option<&MessageInfo>>,
    policy: &Policy,
) -> Option<Update> {
    let far = present[Side::Far];
    let near = present[Side::Near];
    match (
        record.ids[Side::Far].is_some(),
        far,
        record.ids[Side::Near].is_some(),
        near,
    ) {
        // Paired, both sides still have it: merge flags, maybe expunge.
        (true, Some(far), true, Some(near)) => plan_flags(record, Pair::new(far, near), policy),
        // Paired and gone from both sides: forget it.
        (true, None, true, None) => Some(Update {
            ids: record.ids.clone(),
            ops: Pair::default(),
            after: RecordAfter::Drop,
            reason: "gone from both sides",
        }),
        // Paired, gone from one side since the last sync: a deletion there.
        (true, Some(_), true, None) => Some(propagate_deletion(record, Side::Near, policy)),
        (true, None, true, Some(_)) => Some(propagate_deletion(record, Side::Far, policy)),
        // Tombstone (only one side ever kept it after a deletion on the
        // other) whose survivor has gone too: forget it.
        (true, None, false, _) | (false, _, true, None) => Some(Update {
            ids: record.ids.clone(),
            ops: Pair::default(),
            after: RecordAfter::Drop,
            reason: "deleted message gone from the side that kept it",
        }),
        // Tombstone whose survivor is still there: leave it be, unless it
        // is flagged deleted on a side that now expunges.
        (true, Some(survivor), false, _) => plan_tombstone(record, Side::Far, survivor, policy),
        (false, _, true, Some(survivor)) => plan_tombstone(record, Side::Near, survivor, policy),
        // A record with no ids at all carries nothing: drop it.
        (false, _, false, _) => Some(Update {
            ids: record.ids.clone(),
            ops: Pair::default(),
            after: RecordAfter::Drop,
            reason: "empty record",
        }),
    }
}

/// A paired message outside the date window: left alone, except that
/// with `prune_local` the near copy of a message both sides hold is
/// deleted and the record becomes a tombstone holding the far id.
fn prune_local(
    record: &Record,
    present: Pair<Option<&MessageInfo>>,
    policy: &Policy,
) -> Option<Update> {
    if !policy.prune_local || present[Side::Far].is_none() || present[Side::Near].is_none() {
        return None;
    }
    let mut ops = Pair::default();
    ops[Side::Near] = Some(Op::Delete);
    let mut after_ids = record.ids.clone();
    after_ids[Side::Near] = None;
    Some(Update {
        ids: record.ids.clone(),
        ops,
        after: RecordAfter::Keep {
            ids: after_ids,
            flags: record.flags,
        },
        reason: "older than the date window: local copy pruned (prune_local)",
    })
}

/// Both sides hold the message: per-flag three-way merge against the
/// record, then expunge where the merged flags say deleted.
fn plan_flags(record: &Record, current: Pair<&MessageInfo>, policy: &Policy) -> Option<Update> {
    let base = record.flags;
    let added = Pair::new(
        current[Side::Far].flags.difference(base),
        current[Side::Near].flags.difference(base),
    );
    let removed = Pair::new(
        base.difference(current[Side::Far].flags),
        base.difference(current[Side::Near].flags),
    );
    let mut target = Pair::new(current[Side::Far].flags, current[Side::Near].flags);
    for side in Side::BOTH {
        if policy.copy_flags[side] {
            let other = side.other();
            target[side] = target[side].union(added[other]).difference(removed[other]);
        }
    }
    // The new baseline is what the sides agree on when flags flow both
    // ways; with one-way flags it is the sending side's flags, so that its
    // next changes are measured from what the receiving side was given.
    let new_base = match (policy.copy_flags[Side::Far], policy.copy_flags[Side::Near]) {
        (true, true) | (false, true) => target[Side::Far],
        (true, false) => target[Side::Near],
        (false, false) => base,
    };

    let expunged = Pair::new(
        policy.expunge[Side::Far] && target[Side::Far].contains(Flags::DELETED),
        policy.expunge[Side::Near] && target[Side::Near].contains(Flags::DELETED),
    );
    let ids = record.ids.clone();
    match (expunged[Side::Far], expunged[Side::Near]) {
        (true, true) => Some(Update {
            ids,
            ops: Pair::new(
                Some(removal(Side::Far, true, policy)),
                Some(removal(Side::Near, true, policy)),
            ),
            after: RecordAfter::Drop,
            reason: "flagged deleted, expunged on both sides",
        }),
        (false, false) => {
            let ops = Pair::new(
                flag_op(current[Side::Far].flags, target[Side::Far]),
                flag_op(current[Side::Near].flags, target[Side::Near]),
            );
            if ops == Pair::default() && new_base == base {
                return None;
            }
            Some(Update {
                ids,
                ops,
                after: RecordAfter::Keep {
                    ids: record.ids.clone(),
                    flags: new_base,
                },
                reason: "flags changed",
            })
        }
        // Expunged on one side only: the other side keeps it flagged
        // deleted, and the record becomes a tombstone so it is not copied
        // back.
        (far_expunged, _) => {
            let gone = if far_expunged { Side::Far } else { Side::Near };
            let kept = gone.other();
            let mut ops = Pair::default();
            ops[gone] = Some(removal(gone, true, policy));
            ops[kept] = flag_op(current[kept].flags, target[kept]);
            let mut after_ids = record.ids.clone();
            after_ids[gone] = None;
            Some(Update {
                ids,
                ops,
                after: RecordAfter::Keep {
                    ids: after_ids,
                    flags: target[kept],
                },
                reason: "flagged deleted, expunged on one side",
            })
        }
    }
}

/// The message is paired but `gone` no longer lists it: it was deleted
/// there. Delete it on the other side too, as the policy allows.
fn propagate_deletion(record: &Record, gone: Side, policy: &Policy) -> Update {
    let kept = gone.other();
    let mut ops = Pair::default();
    let mut after_ids = record.ids.clone();
    after_ids[gone] = None;
    if !policy.propagate_delete[kept] {
        return Update {
            ids: record.ids.clone(),
            ops,
            after: RecordAfter::Keep {
                ids: after_ids,
                flags: record.flags,
            },
            reason: "deleted on one side; the policy keeps the other copy",
        };
    }
    if policy.expunge[kept] {
        ops[kept] = Some(removal(kept, true, policy));
        return Update {
            ids: record.ids.clone(),
            ops,
            after: RecordAfter::Drop,
            reason: "deleted on the other side",
        };
    }
    let flags = record.flags.union(Flags::DELETED);
    if !record.flags.contains(Flags::DELETED) {
        ops[kept] = Some(Op::SetFlags {
            add: Flags::DELETED,
            remove: Flags::EMPTY,
        });
    }
    Update {
        ids: record.ids.clone(),
        ops,
        after: RecordAfter::Keep {
            ids: after_ids,
            flags,
        },
        reason: "deleted on the other side; flagged deleted here (no expunge)",
    }
}

/// A tombstone whose survivor on `side` is still there.
fn plan_tombstone(
    record: &Record,
    side: Side,
    survivor: &MessageInfo,
    policy: &Policy,
) -> Option<Update> {
    if policy.expunge[side] && survivor.flags.contains(Flags::DELETED) {
        let mut ops = Pair::default();
        ops[side] = Some(removal(side, true, policy));
        return Some(Update {
            ids: record.ids.clone(),
            ops,
            after: RecordAfter::Drop,
            reason: "flagged deleted, expunged",
        });
    }
    None
}

/// A second copy of an upload: whatever its flags and the policy, it is
/// mailferry's own mistake to undo, not mail to copy or keep.
fn remove_late_copy(removal: &Removal) -> Update {
    let mut ids = Pair::default();
    ids[removal.side] = Some(removal.id.clone());
    let mut ops = Pair::default();
    ops[removal.side] = Some(Op::DeleteLateCopy);
    Update {
        ids,
        ops,
        after: RecordAfter::LateCopyRemoved {
            upload: removal.upload.clone(),
        },
        reason: "late copy of an interrupted upload; the message was uploaded again",
    }
}

/// A message that `side` lists and no record knows: new since the last
/// sync, to be copied to the other side.
fn plan_unpaired(side: Side, message: &MessageInfo, policy: &Policy, plan: &mut Plan) {
    let to = side.other();
    if message.flags.contains(Flags::DELETED) {
        // Copying a message that is on its way out would only resurrect it
        // elsewhere; expunge it where that is allowed, else leave it.
        if policy.expunge[side] {
            let mut ids = Pair::default();
            ids[side] = Some(message.id.clone());
            let mut ops = Pair::default();
            let remote = policy.trash[to]
                .as_ref()
                .filter(|_| policy.trash_remote_new && policy.copy_new[to]);
            let reason = match remote {
                // Kept in the other side's trash: deleted here, not also
                // trashed here.
                Some(folder) => {
                    ops[to] = Some(Op::UploadToTrash {
                        folder: folder.clone(),
                    });
                    ops[side] = Some(Op::Delete);
                    "new but flagged deleted: copied to the other side's trash, expunged here"
                }
                None => {
                    ops[side] = Some(removal(side, false, policy));
                    "new but flagged deleted, expunged"
                }
            };
            plan.updates.push(Update {
                ids,
                ops,
                after: RecordAfter::Unpaired,
                reason,
            });
        }
        return;
    }
    if !policy.copy_new[to] {
        return;
    }
    if let Some(limit) = policy.max_size {
        if message.size > limit {
            plan.skipped.push(Skipped {
                side,
                id: message.id.clone(),
                reason: format!("{} bytes is over max_size {limit}", message.size),
            });
            return;
        }
    }
    plan.copies.push(Copy {
        to,
        source: message.id.clone(),
        flags: message.flags,
        size: message.size,
    });
}

/// How a message leaves `side`'s folder: into the side's trash folder
/// where the channel has one (with `trash_new_only`, only a message that
/// was never `paired`), else deleted.
fn removal(side: Side, paired: bool, policy: &Policy) -> Op {
    match &policy.trash[side] {
        Some(folder) if !(paired && policy.trash_new_only) => Op::Trash {
            folder: folder.clone(),
        },
        _ => Op::Delete,
    }
}

fn flag_op(current: Flags, target: Flags) -> Option<Op> {
    if current == target {
        return None;
    }
    Some(Op::SetFlags {
        add: target.difference(current),
        remove: current.difference(target),
    })
}

impl fmt::Display for Plan {
    /// One line per action, as `--dry-run` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for update in &self.updates {
            for side in Side::BOTH {
                let id = update.ids[side].as_deref().unwrap_or("-");
                match &update.ops[side] {
                    Some(Op::Delete | Op::DeleteLateCopy) => {
                        writeln!(f, "delete {side} {id} ({})", update.reason)?;
                    }
                    Some(Op::Trash { folder }) => {
                        writeln!(f, "trash  {side} {id} -> {folder} ({})", update.reason)?;
                    }
                    Some(Op::UploadToTrash { folder }) => {
                        let source = update.ids[side.other()].as_deref().unwrap_or("-");
                        writeln!(
                            f,
                            "copy   {} -> {side} {source} -> {folder} ({})",
                            side.other(),
                            update.reason
                        )?;
                    }
                    Some(Op::SetFlags { add, remove }) => {
                        write!(f, "flags  {side} {id}")?;
                        if !add.is_empty() {
                            write!(f, " +{add}")?;
                        }
                        if !remove.is_empty() {
                            write!(f, " -{remove}")?;
                        }
                        writeln!(f, " ({})", update.reason)?;
                    }
                    None => {}
                }
            }
        }
        for copy in &self.copies {
            writeln!(
                f,
                "copy   {} -> {} {} ({} bytes, flags {})",
                copy.to.other(),
                copy.to,
                copy.source,
                copy.size,
                copy.flags
            )?;
        }
        for skipped in &self.skipped {
            writeln!(
                f,
                "skip   {} {} ({})",
                skipped.side, skipped.id, skipped.reason
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
