//! Propagation: carries out a plan through the store trait, recording each
//! step in the ledger (journal plus in-memory state) in an order that keeps
//! an interrupted run recoverable: a copy is journaled as pending before it
//! is stored, every other change is journaled once it is done.

use super::group_commit::GroupCommit;
use super::ledger::Ledger;
use super::plan::{Copy, Op, Plan, RecordAfter, Update};
use super::progress::Progress;
use super::split_fetch::{self, SecondFetch};
use crate::mail::identity::message_label;
use crate::mail::{Flags, Message, MsgId, Pair, Side};
use crate::state::{PendingCopy, Trashing, UnconfirmedUpload};
use crate::store::error::{StoreError, StoreErrorKind};
use crate::store::{FoundCopy, Removed, Staged, Store, Trash, TrashUploads, Trashed};
use anyhow::Result;
use serde::Serialize;
use std::collections::HashSet;

/// After this many failed copies in a row the connection is taken for dead
/// and the rest of the folder is left for the next run.
const MAX_CONSECUTIVE_FAILURES: usize = 10;

/// What was done to one folder pair, for the summary and `--json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Messages copied to each side.
    pub copied: Pair<usize>,
    /// Messages whose flags were changed on each side.
    pub flagged: Pair<usize>,
    /// Messages removed from each side.
    pub deleted: Pair<usize>,
    /// Messages the policy kept from being copied.
    pub skipped: usize,
    /// Problems that did not stop the folder, one line each.
    pub failures: Vec<String>,
    /// Things worth knowing that are not failures (a UIDVALIDITY change
    /// that was recovered from), one line each.
    pub notes: Vec<String>,
}

impl Report {
    pub fn add(&mut self, other: &Report) {
        for side in Side::BOTH {
            self.copied[side] += other.copied[side];
            self.flagged[side] += other.flagged[side];
            self.deleted[side] += other.deleted[side];
        }
        self.skipped += other.skipped;
        self.failures.extend(other.failures.iter().cloned());
        self.notes.extend(other.notes.iter().cloned());
    }

    pub fn is_quiet(&self) -> bool {
        *self == Report::default()
    }
}

/// Both stores of a folder pair, far first.
pub struct Stores<'a> {
    pub far: &'a mut dyn Store,
    pub near: &'a mut dyn Store,
}

impl Stores<'_> {
    pub fn side(&mut self, side: Side) -> &mut dyn Store {
        match side {
            Side::Far => &mut *self.far,
            Side::Near => &mut *self.near,
        }
    }

    /// The side a copy goes to, and the side it comes from.
    fn target_and_source(&mut self, target: Side) -> (&mut dyn Store, &mut dyn Store) {
        match target {
            Side::Far => (&mut *self.far, &mut *self.near),
            Side::Near => (&mut *self.near, &mut *self.far),
        }
    }
}

/// Settles copies that an earlier run started but never recorded: if the
/// target has the message, the pair is recorded; either way the pending
/// entry is cleared, so the planner sees the truth. A copy not found on a
/// target where it may still land (a server finishing a dead session's
/// upload) is kept as an unconfirmed upload, journaled before the pending
/// entry is cleared, so that a late copy is recognised (see
/// [`super::late`]). Moves into a trash folder that a run left unfinished
/// are finished first ([`resolve_trashing`]).
pub fn resolve_pending(stores: &mut Stores<'_>, ledger: &mut Ledger) -> Result<()> {
    resolve_trashing(stores, ledger)?;
    let pending: Vec<PendingCopy> = ledger.state().pending.clone();
    if pending.is_empty() {
        return Ok(());
    }
    for copy in pending {
        // The pair was recorded before the run stopped short of clearing
        // the pending entry: nothing is in doubt.
        if ledger.is_paired(copy.target.other(), &copy.source_id) {
            ledger.resolved(copy.target, &copy.source_id)?;
            continue;
        }
        let found = stores
            .side(copy.target)
            .find_appended(&copy.ticket, copy.size, &copy.sha256)?
            .into_iter()
            .find(|id| !ledger.is_paired(copy.target, id));
        match found {
            Some(target_id) => ledger.pair_copy(&copy, &target_id)?,
            None if stores.side(copy.target).appends_may_land_late() => {
                let upload = unconfirmed_upload(stores, &copy)?;
                ledger.unconfirmed(&upload)?;
            }
            None => {}
        }
        ledger.resolved(copy.target, &copy.source_id)?;
    }
    Ok(())
}

/// Finishes the moves into a trash folder that an earlier run journaled
/// but did not see through (see [`run_trash`]), so that each message ends
/// up once in the trash and not in its folder:
/// - the copy in the trash is known to be made: the message is removed
///   from its folder (gone already is as good);
/// - a one-step move (IMAP MOVE, a Maildir rename): the message is in its
///   folder or in the trash, never both; if it is still in its folder the
///   plan moves it again;
/// - a two-step move cut short (IMAP COPY then expunge): if the message is
///   still in its folder, the trash is searched for a copy made since the
///   ticket, byte for byte; one found means only the removal is left,
///   none means the plan moves it again.
///
/// The entry is dropped once that is done.
pub fn resolve_trashing(stores: &mut Stores<'_>, ledger: &mut Ledger) -> Result<()> {
    let trashing: Vec<Trashing> = ledger.state().trashing.clone();
    for entry in trashing {
        let only = std::slice::from_ref(&entry.id);
        let copy_in_trash = match (&entry.ticket, entry.copied) {
            (_, true) => true,
            (None, false) => false,
            (Some(ticket), false) => {
                let mut content = None;
                stores
                    .side(entry.side)
                    .fetch_messages(only, &mut |_, message| {
                        content = Some(message.content);
                        Ok(())
                    })?;
                match content {
                    Some(content) => {
                        // In the form the trash's store holds it (an
                        // upload to a server ends its lines with CRLF).
                        let trash_store = stores.side(entry.trash_side());
                        let (size, sha256) = trash_store.held_size_and_hash(&content);
                        // A ticket came from the store's trash: one that has
                        // none now holds no copy there.
                        match trash_store.trash() {
                            Some(trash) => {
                                trash.find_trashed(&entry.folder, ticket, size, &sha256)?
                            }
                            None => false,
                        }
                    }
                    // Out of its folder: nothing is left to do.
                    None => false,
                }
            }
        };
        if copy_in_trash {
            stores.side(entry.side).delete_messages(only)?;
        }
        ledger.trashed(entry.side, &entry.id)?;
    }
    Ok(())
}

/// The unconfirmed upload that `copy` stands for, with the size and hash
/// of the message as its target holds it (line ends and all; see
/// [`Store::held_form`]), read from the source; as sent if the source is
/// gone meanwhile.
fn unconfirmed_upload(stores: &mut Stores<'_>, copy: &PendingCopy) -> Result<UnconfirmedUpload> {
    let mut upload = UnconfirmedUpload::of(copy, unix_now());
    let (to, from) = stores.target_and_source(copy.target);
    from.fetch_messages(std::slice::from_ref(&copy.source_id), &mut |_, message| {
        let (size, sha256) = to.held_size_and_hash(&message.content);
        if sha256 != copy.sha256 {
            // Not what was sent (it cannot change; be sure anyway).
            return Ok(());
        }
        upload.size = size;
        upload.sha256 = sha256;
        Ok(())
    })?;
    Ok(upload)
}

/// Seconds since the Unix epoch (0 for a clock set before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Carries out a plan. Store errors on single messages are reported in the
/// result and leave the state as it was for those messages; an error
/// returned means the folder could not continue (the ledger still holds
/// every step done so far). With `second`, a long fetch from the far side
/// may be shared with a second connection (see [`split_fetch`]).
pub fn execute(
    plan: &Plan,
    stores: &mut Stores<'_>,
    ledger: &mut Ledger,
    progress: &dyn Progress,
    second: Option<&SecondFetch<'_>>,
) -> Result<Report> {
    let mut report = Report {
        skipped: plan.skipped.len(),
        ..Report::default()
    };
    run_updates(&plan.updates, stores, ledger, &mut report)?;
    for target in Side::BOTH {
        let copies: Vec<&Copy> = plan.copies.iter().filter(|c| c.to == target).collect();
        if !copies.is_empty() {
            // A second connection is one to the far store: it serves only
            // copies from there.
            let second = second.filter(|_| target == Side::Near);
            run_copies(
                target,
                &copies,
                stores,
                ledger,
                progress,
                second,
                &mut report,
            )?;
        }
    }
    Ok(report)
}

/// Flag changes message by message, then deletions in one batch per side,
/// then the record changes of every update whose operations all succeeded.
fn run_updates(
    updates: &[Update],
    stores: &mut Stores<'_>,
    ledger: &mut Ledger,
    report: &mut Report,
) -> Result<()> {
    let mut failed: HashSet<usize> = HashSet::new();
    // Copies into the other side's trash come before the deletions they
    // save a message from.
    run_remote_trash(updates, stores, ledger, report, &mut failed)?;
    // The same change on many messages (a folder marked read, flags from
    // another device) is one command per side and change.
    let mut changes: Vec<((Side, Flags, Flags), Vec<usize>)> = Vec::new();
    for (index, update) in updates.iter().enumerate() {
        for side in Side::BOTH {
            let (Some(Op::SetFlags { add, remove }), Some(_)) =
                (&update.ops[side], &update.ids[side])
            else {
                continue;
            };
            let key = (side, *add, *remove);
            match changes.iter_mut().find(|(k, _)| *k == key) {
                Some((_, indexes)) => indexes.push(index),
                None => changes.push((key, vec![index])),
            }
        }
    }
    for ((side, add, remove), indexes) in changes {
        let ids: Vec<MsgId> = indexes
            .iter()
            .filter_map(|&index| updates[index].ids[side].clone())
            .collect();
        match stores.side(side).set_flags_many(&ids, add, remove) {
            Ok(()) => report.flagged[side] += ids.len(),
            // The connection is gone: so is every later change. The
            // folder is tried again on a new one; changes made but not
            // recorded are found agreeing on both sides then.
            Err(err) if connection_lost(&err) => {
                return Err(err.context(format!("setting flags on {} {side} message(s)", ids.len())))
            }
            Err(err) => {
                report.failures.push(format!(
                    "setting flags on {} {side} message(s): {err:#}",
                    ids.len()
                ));
                failed.extend(indexes);
            }
        }
    }
    for side in Side::BOTH {
        let batch: Vec<(usize, MsgId)> = updates
            .iter()
            .enumerate()
            .filter(|(index, u)| u.ops[side] == Some(Op::Delete) && !failed.contains(index))
            .filter_map(|(index, u)| u.ids[side].clone().map(|id| (index, id)))
            .collect();
        if batch.is_empty() {
            continue;
        }
        let ids: Vec<MsgId> = batch.iter().map(|(_, id)| id.clone()).collect();
        match stores.side(side).delete_messages(&ids) {
            Ok(()) => report.deleted[side] += ids.len(),
            Err(err) if connection_lost(&err) => {
                return Err(err.context(format!(
                    "deleting {} message(s) on the {side} side",
                    ids.len()
                )))
            }
            Err(err) => {
                report.failures.push(format!(
                    "deleting {} message(s) on the {side} side: {err:#}",
                    ids.len()
                ));
                failed.extend(batch.iter().map(|(index, _)| *index));
            }
        }
    }
    run_trash(updates, stores, ledger, report, &mut failed)?;
    remove_late_copies(updates, stores, report, &mut failed)?;
    for (index, update) in updates.iter().enumerate() {
        if failed.contains(&index) {
            continue;
        }
        for to in Side::BOTH {
            if let (Some(Op::UploadToTrash { .. }), Some(id)) =
                (&update.ops[to], &update.ids[to.other()])
            {
                ledger.trashed(to.other(), id)?;
            }
        }
        match &update.after {
            RecordAfter::Keep { ids, flags } => ledger.keep(&update.ids, ids, *flags)?,
            RecordAfter::Drop => ledger.forget(&update.ids)?,
            RecordAfter::Unpaired => {}
            RecordAfter::LateCopyRemoved { upload } => ledger.accounted(upload)?,
        }
    }
    Ok(())
}

/// Moves messages into their side's trash folder, one batch per side; the
/// indexes of updates that failed go into `failed`. Each message is
/// journaled `trashing` before it moves, `trashcopied` once a copy made by
/// a two-step move is in the trash, and `trashed` once it is out of its
/// folder, so that [`resolve_trashing`] can finish what a crash cut short
/// without a second copy in the trash.
fn run_trash(
    updates: &[Update],
    stores: &mut Stores<'_>,
    ledger: &mut Ledger,
    report: &mut Report,
    failed: &mut HashSet<usize>,
) -> Result<()> {
    for side in Side::BOTH {
        let batches = by_trash_folder(
            updates
                .iter()
                .enumerate()
                .filter(|(index, _)| !failed.contains(index))
                .filter_map(|(index, u)| match (&u.ops[side], &u.ids[side]) {
                    (Some(Op::Trash { folder }), Some(id)) => {
                        Some((index, id.clone(), folder.as_str()))
                    }
                    _ => None,
                }),
        );
        for (folder, entries) in batches {
            let (indexes, ids): (Vec<usize>, Vec<MsgId>) = entries.into_iter().unzip();
            match trash_batch(side, &ids, folder, stores.side(side), ledger)? {
                Ok(()) => report.deleted[side] += ids.len(),
                Err(err) if connection_lost(&err) => {
                    return Err(err.context(format!(
                        "moving {} message(s) to the trash folder {folder:?} on the {side} side",
                        ids.len()
                    )))
                }
                Err(err) => {
                    report.failures.push(format!(
                        "moving {} message(s) to the trash folder {folder:?} on the {side} side: \
                         {err:#}",
                        ids.len()
                    ));
                    failed.extend(indexes);
                }
            }
        }
    }
    Ok(())
}

/// Messages bound for a trash folder (update index, id, folder), grouped
/// by folder in folder order. A policy names one trash folder per side;
/// grouping keeps a plan that ever names more right.
fn by_trash_folder<'a>(
    messages: impl Iterator<Item = (usize, MsgId, &'a str)>,
) -> std::collections::BTreeMap<&'a str, Vec<(usize, MsgId)>> {
    let mut folders: std::collections::BTreeMap<&str, Vec<(usize, MsgId)>> = Default::default();
    for (index, id, folder) in messages {
        folders.entry(folder).or_default().push((index, id));
    }
    folders
}

/// Uploads messages that one side never had into its trash folder before
/// the other side deletes them (`trash: {remote_new: true}`, mbsync's
/// TrashRemoteNew). Each is journaled `trashing` (uploading, with the
/// trash's UIDNEXT) before it is sent and `trashcopied` once it is there;
/// `trashed` follows the deletion at its source. A message that could not
/// be uploaded is not deleted: its index goes into `failed`, and what a
/// crash left is finished by [`resolve_trashing`], which looks for the
/// upload in the trash by its bytes.
fn run_remote_trash(
    updates: &[Update],
    stores: &mut Stores<'_>,
    ledger: &mut Ledger,
    report: &mut Report,
    failed: &mut HashSet<usize>,
) -> Result<()> {
    for to in Side::BOTH {
        let from = to.other();
        let batches = by_trash_folder(updates.iter().enumerate().filter_map(|(index, u)| {
            match (&u.ops[to], &u.ids[from]) {
                (Some(Op::UploadToTrash { folder }), Some(id)) => {
                    Some((index, id.clone(), folder.as_str()))
                }
                _ => None,
            }
        }));
        for (folder, entries) in batches {
            let what = format!(
                "copying {} message(s) never synced to the {to} side's trash folder {folder:?}",
                entries.len()
            );
            let ticket = match trash_uploads_of(stores.side(to), folder)
                .and_then(|uploads| uploads.prepare_trash_upload(folder))
            {
                Ok(ticket) => ticket,
                Err(err) if connection_lost(&err) => return Err(err.context(what)),
                Err(err) => {
                    report.failures.push(format!("{what}: {err:#}"));
                    failed.extend(entries.iter().map(|(index, _)| *index));
                    continue;
                }
            };
            for (_, id) in &entries {
                ledger.trashing(&Trashing {
                    side: from,
                    id: id.clone(),
                    folder: folder.to_string(),
                    ticket: Some(ticket.clone()),
                    copied: false,
                    remote: true,
                })?;
            }
            let ids: Vec<MsgId> = entries.iter().map(|(_, id)| id.clone()).collect();
            let mut uploaded: HashSet<MsgId> = HashSet::new();
            let mut errors: Vec<anyhow::Error> = Vec::new();
            let (target, source) = stores.target_and_source(to);
            source.fetch_messages(&ids, &mut |id, mut message| {
                // Kept in the trash, not on its way out there too.
                message.flags = message.flags.difference(Flags::DELETED);
                match trash_uploads_of(&mut *target, folder)
                    .and_then(|uploads| uploads.append_to_trash(folder, &message))
                {
                    Ok(()) => {
                        ledger.trash_copied(from, id)?;
                        uploaded.insert(id.clone());
                    }
                    Err(err) => errors.push(err),
                }
                Ok(())
            })?;
            if let Some(err) = errors.iter().find(|err| connection_lost(err)) {
                return Err(anyhow::anyhow!("{what}: {err:#}"));
            }
            for err in &errors {
                report.failures.push(format!("{what}: {err:#}"));
            }
            failed.extend(
                entries
                    .iter()
                    .filter(|(_, id)| !uploaded.contains(id))
                    .map(|(index, _)| *index),
            );
        }
    }
    Ok(())
}

/// The trash of `store`, or the error saying it has none (asked for
/// `folder`).
fn trash_of<'a>(store: &'a mut dyn Store, folder: &str) -> Result<&'a mut dyn Trash> {
    let described = store.describe();
    store
        .trash()
        .ok_or_else(|| anyhow::anyhow!("{described} has no trash folder (asked for {folder:?})"))
}

/// How `store` takes the other side's messages into its trash folder
/// `folder`, or the error saying it cannot.
fn trash_uploads_of<'a>(
    store: &'a mut dyn Store,
    folder: &str,
) -> Result<&'a mut dyn TrashUploads> {
    let described = store.describe();
    store.trash_uploads().ok_or_else(|| {
        anyhow::anyhow!("{described} cannot take messages into the trash folder {folder:?}")
    })
}

/// Moves `ids` of `side` into `folder`, journaling each step (see
/// [`run_trash`]). The outer error is the ledger's (fatal), the inner one
/// the store's: the entries it leaves are finished by the next run.
fn trash_batch(
    side: Side,
    ids: &[MsgId],
    folder: &str,
    store: &mut dyn Store,
    ledger: &mut Ledger,
) -> Result<Result<()>> {
    let ticket = match trash_of(store, folder).and_then(|trash| trash.prepare_trash(folder)) {
        Ok(ticket) => ticket,
        Err(err) => return Ok(Err(err)),
    };
    for id in ids {
        ledger.trashing(&Trashing {
            side,
            id: id.clone(),
            folder: folder.to_string(),
            ticket: ticket.clone(),
            copied: false,
            remote: false,
        })?;
    }
    match trash_of(store, folder).and_then(|trash| trash.trash_messages(ids, folder)) {
        Ok(Trashed::Moved) => {}
        Ok(Trashed::Copied) => {
            for id in ids {
                ledger.trash_copied(side, id)?;
            }
            if let Err(err) = store.delete_messages(ids) {
                return Ok(Err(err));
            }
        }
        Err(err) => return Ok(Err(err)),
    }
    for id in ids {
        ledger.trashed(side, id)?;
    }
    Ok(Ok(()))
}

/// Removes the second copies of uploads (see [`super::late`]), one batch
/// per side; the indexes of updates that failed go into `failed`.
fn remove_late_copies(
    updates: &[Update],
    stores: &mut Stores<'_>,
    report: &mut Report,
    failed: &mut HashSet<usize>,
) -> Result<()> {
    for side in Side::BOTH {
        let batch: Vec<(usize, MsgId)> = updates
            .iter()
            .enumerate()
            .filter(|(_, u)| u.ops[side] == Some(Op::DeleteLateCopy))
            .filter_map(|(index, u)| u.ids[side].clone().map(|id| (index, id)))
            .collect();
        if batch.is_empty() {
            continue;
        }
        let ids: Vec<MsgId> = batch.iter().map(|(_, id)| id.clone()).collect();
        let what = format!(
            "{} second cop{} of messages uploaded by an interrupted run (stored by the \
             server after the next run had looked for them and uploaded them again)",
            ids.len(),
            if ids.len() == 1 { "y" } else { "ies" }
        );
        match stores.side(side).remove_own_copies(&ids) {
            Ok(Removed::Expunged) => {
                report.deleted[side] += ids.len();
                report
                    .notes
                    .push(format!("removed from the {side} side: {what}"));
            }
            Ok(Removed::FlaggedDeleted) => report.notes.push(format!(
                "flagged deleted on the {side} side but not expunged: {what}; the server lacks \
                 UIDPLUS and other messages there are flagged deleted, which an expunge now \
                 would remove too"
            )),
            Err(err) if connection_lost(&err) => {
                return Err(err.context(format!("removing {what} on the {side} side")))
            }
            Err(err) => {
                report
                    .failures
                    .push(format!("removing {what} on the {side} side: {err:#}"));
                failed.extend(batch.iter().map(|(index, _)| *index));
            }
        }
    }
    Ok(())
}

/// Copies messages to `target`, streaming them from the other side (over
/// `second` too, when it is given and the copies are many).
fn run_copies(
    target: Side,
    copies: &[&Copy],
    stores: &mut Stores<'_>,
    ledger: &mut Ledger,
    progress: &dyn Progress,
    second: Option<&SecondFetch<'_>>,
    report: &mut Report,
) -> Result<()> {
    let ids: Vec<MsgId> = copies.iter().map(|c| c.source.clone()).collect();
    let (to, from) = stores.target_and_source(target);
    let mut consecutive_failures = 0;
    // Ids not yet handed over, borrowed from `ids`: a second copy of every
    // id of a big folder would cost as much as the list itself.
    let mut not_handed_over: HashSet<&str> = ids.iter().map(String::as_str).collect();
    // Scoped: the thread committing a batch is waited for however the
    // fetch ends, so nothing is written after the folder is left.
    std::thread::scope(|scope| {
        let mut group = GroupCommit::new(scope);
        split_fetch::fetch(from, &ids, second, &mut |source_id, message| {
            not_handed_over.remove(source_id.as_str());
            // A ledger error (the journal cannot be written) stops the folder
            // at once; a store error fails this message only.
            let outcome = match store_copy(target, source_id, &message, to, ledger, report)? {
                Ok(Some(pending)) => {
                    group.add(pending);
                    if group.is_full() {
                        group.send(to, ledger, progress, report)?;
                    }
                    Ok(())
                }
                Ok(None) => {
                    report.copied[target] += 1;
                    progress.message_copied(message.content.len() as u64);
                    Ok(())
                }
                Err(err) => Err(err),
            };
            match outcome {
                Ok(()) => consecutive_failures = 0,
                // Every later copy would fail the same way: stop, so the
                // folder is tried again on a new connection (the copy in
                // flight stays pending and is looked for then).
                Err(err) if connection_lost(&err) => {
                    return Err(err.context(format!(
                        "copying {} message {source_id} to the {target} side",
                        target.other()
                    )))
                }
                Err(err) => {
                    let reason = format!(
                        "copying {} message {source_id} to the {target} side: {err:#}",
                        target.other()
                    );
                    consecutive_failures += 1;
                    if consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
                        anyhow::bail!(
                            "{consecutive_failures} copies in a row failed, the last {reason}; \
                             giving up on this folder for now"
                        );
                    }
                    report.failures.push(reason);
                }
            }
            Ok(())
        })?;
        group.finish(to, ledger, progress, report)
    })?;
    // A message that vanished between listing and fetching (another
    // client expunged it) is simply not copied, and nothing is recorded of
    // it, so nothing can be deleted because of it: the next run sees it
    // gone. Not a failure: concurrent clients are normal.
    if !not_handed_over.is_empty() {
        report
            .notes
            .push(vanished_note(target.other(), &not_handed_over));
    }
    Ok(())
}

/// Most ids a note names one by one.
const IDS_NAMED: usize = 10;

/// The note on messages of `side` that vanished before they could be
/// copied, naming them by id (their content, and so their Message-ID, is
/// gone with them).
fn vanished_note(side: Side, ids: &HashSet<&str>) -> String {
    let mut ids: Vec<&str> = ids.iter().copied().collect();
    ids.sort_by_key(|id| (id.len(), *id));
    let mut named = ids
        .iter()
        .take(IDS_NAMED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > IDS_NAMED {
        named.push_str(&format!(" and {} more", ids.len() - IDS_NAMED));
    }
    format!(
        "{} message(s) vanished from the {side} side between listing and fetching (removed by \
         another client meanwhile), so they were not copied; the next run sees them gone: id(s) \
         {named}",
        ids.len()
    )
}

/// Settles a copy its target refused (an IMAP server's NO to the APPEND:
/// too large, over quota): the target holds nothing of it, so there is
/// nothing for the next run to look for, and its source, in no record,
/// is simply copied again then (once the server takes it).
pub(super) fn refused_copy(pending: &PendingCopy, ledger: &mut Ledger) -> Result<()> {
    ledger.resolved(pending.target, &pending.source_id)
}

/// Whether a store error means the connection is gone (or must be
/// replaced) rather than that this one message failed.
pub(super) fn connection_lost(err: &anyhow::Error) -> bool {
    StoreError::kind_of(err).is_some_and(StoreErrorKind::connection_unusable)
}

/// Whether the target refused to store a message, and so holds nothing of
/// it.
pub(super) fn was_refused(err: &anyhow::Error) -> bool {
    StoreError::kind_of(err) == Some(StoreErrorKind::Refused)
}

/// Stores one message on `target`: journal the intent, append, record the
/// pair. If the store cannot say the new id, it is found again (by
/// Message-ID where the message has one, else by content); a copy the
/// store rewrote is paired with a note. A store that defers the append
/// (group commit) gets the pending copy back to finish with its batch. The
/// outer error is the ledger's (fatal), the inner one the store's.
fn store_copy(
    target: Side,
    source_id: &MsgId,
    message: &Message,
    to: &mut dyn Store,
    ledger: &mut Ledger,
    report: &mut Report,
) -> Result<Result<Option<PendingCopy>>> {
    let ticket = match to.prepare_append() {
        Ok(ticket) => ticket,
        Err(err) => return Ok(Err(err)),
    };
    // Size and hash of the message as the target will hold it (line ends
    // and all), so that finding it there after a crash compares like with
    // like.
    let (size, sha256) = to.held_size_and_hash(&message.content);
    let pending = PendingCopy {
        target,
        source_id: source_id.clone(),
        ticket,
        size,
        sha256,
        flags: message.flags,
    };
    ledger.pending(&pending)?;
    let staged = match to.staging() {
        Some(staging) => staging.stage_append(&pending.ticket, message),
        None => to.append(&pending.ticket, message).map(Staged::Stored),
    };
    let stored = match staged {
        Ok(Staged::Deferred) => return Ok(Ok(Some(pending))),
        Ok(Staged::Stored(id)) => Ok(id),
        Err(err) if was_refused(&err) => {
            refused_copy(&pending, ledger)?;
            return Ok(Err(err));
        }
        Err(err) => Err(err),
    };
    let stored = stored.and_then(|id| match id {
        Some(id) => Ok(id),
        None => find_stored(target, &pending, message, to, ledger, report),
    });
    // On a store error the pending entry stays: the next run asks the
    // target whether the message arrived after all.
    let new_id = match stored {
        Ok(id) => id,
        Err(err) => return Ok(Err(err)),
    };
    ledger.pair_copy(&pending, &new_id)?;
    ledger.resolved(target, source_id)?;
    Ok(Ok(None))
}

/// The id of a message just stored on `to`, which did not name it.
fn find_stored(
    target: Side,
    pending: &PendingCopy,
    message: &Message,
    to: &mut dyn Store,
    ledger: &Ledger,
    report: &mut Report,
) -> Result<MsgId> {
    // A copy with the bytes sent comes first: a look-alike uploaded in the
    // same batch (one Message-ID and size, other bytes) is found too.
    let candidates: Vec<FoundCopy> = to
        .find_stored(&pending.ticket, message)?
        .into_iter()
        .filter(|found| !ledger.is_paired(target, &found.id))
        .collect();
    let found = candidates
        .iter()
        .find(|found| found.identical)
        .or(candidates.first())
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} was stored but could not be found again",
                message_label(&message.content)
            )
        })?;
    if !found.identical {
        report.notes.push(format!(
            "{} was stored on the {target} side with other bytes than were sent (same \
             Message-ID and size: the server rewrote part of it); paired with the stored copy",
            message_label(&message.content)
        ));
    }
    Ok(found.id)
}
