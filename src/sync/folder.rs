//! One folder pair from start to end, as stages: detect (open both sides,
//! their versions, the state; or skip), list, pair, plan, then execute and
//! commit.

use super::detect::{detect, Detected, Detection};
use super::exec::{execute, resolve_pending, unix_now, Report, Stores};
use super::incremental::far_listing;
use super::late::{self, Removal};
use super::ledger::{Interrupt, Ledger};
use super::pairing::{pair_unrecorded, Evidence, Pairing};
use super::plan::{plan_with_window, Plan, Policy};
use super::progress::Progress;
use super::renumbered::{self, re_pair, uidls_renumbered, Renumbering};
use super::settled;
use super::split_fetch::{SecondFetch, SpareConnections};
use crate::mail::{FolderStatus, MessageInfo, MsgId, Pair, Side};
use crate::state::{SaveNow, SaveState, StateFile, StateHead};
use crate::store::unavailable::Unavailable;
use crate::store::Store;
use anyhow::{Context, Result};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

pub use super::detect::NEAR_AS_RECORDED;

/// How a run behaves beyond the channel's policy.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Plan and print, change nothing.
    pub dry_run: bool,
    /// Skip the deletion guard.
    pub force: bool,
    /// Wait for another run's lock instead of failing.
    pub wait_for_lock: bool,
    /// Test hook: stop after this many journaled steps (of each folder,
    /// and of a folder rename).
    pub interrupt: Option<(usize, Interrupt)>,
    /// Whether a SIGINT or SIGTERM (see [`crate::interrupt`]) stops the
    /// run at its next journal step and before its next folder, with
    /// every folder's state saved; without it (`watch`) the caller looks
    /// at the signal between folders.
    pub stop_on_signal: bool,
    /// Where progress is reported (progress bars on a terminal).
    pub progress: Arc<dyn Progress>,
    /// Whether each folder's result keeps its plan once it is carried out
    /// (for `--json` and `--dry-run`); without it only the report is kept,
    /// as a channel's results live until its last folder is done and the
    /// plans of a big first pull hold every message's id.
    pub keep_plans: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            dry_run: false,
            force: false,
            wait_for_lock: false,
            interrupt: None,
            stop_on_signal: false,
            progress: super::progress::silent(),
            keep_plans: true,
        }
    }
}

/// What happened to one folder pair.
#[derive(Debug, Clone, Serialize)]
pub struct FolderResult {
    pub folder: String,
    /// The plan that was (or, with --dry-run, would be) carried out.
    pub plan: Plan,
    pub report: Report,
}

/// Syncs one folder pair, which must exist on both sides. `names` are the
/// folder's names on each side (they differ where the channel maps them);
/// the near name is the one reported. The new state is saved before it
/// returns.
pub fn sync_folder(
    stores: &mut Stores<'_>,
    names: Pair<&str>,
    state_file: &StateFile,
    policy: &Policy,
    options: &RunOptions,
) -> Result<FolderResult> {
    let worker = Worker {
        saver: &SaveNow,
        ahead: &|_| Vec::new(),
        hand_off: false,
        spare_far: None,
    };
    sync_folder_with(stores, names, state_file, policy, options, &worker)?.finish(options, &SaveNow)
}

/// A folder a worker syncs after the one in hand, with the state file
/// that tells what its far side's SELECT may ask.
pub struct NextFolder {
    pub far_name: String,
    pub state_file: StateFile,
}

/// The worker's later folders to open ahead (see
/// [`crate::store::OpenAhead::open_ahead`]), in the order it will sync them,
/// each given once. Asked once the folder in hand is open on the far side
/// (with `false`: folders the worker expects to need nothing but their
/// opening from the far store, when it expects that of this one too), and
/// again when its plan turned out to need nothing more from the far store
/// (`true`: at least the next folder).
pub type OpenAhead<'a> = &'a dyn Fn(bool) -> Vec<NextFolder>;

/// What a worker gives each folder's sync besides its stores.
pub struct Worker<'a> {
    /// Takes the new state (and may put off making it durable, to commit
    /// several folders' states together).
    pub saver: &'a dyn SaveState,
    /// The worker's later folders, opened ahead once this one is done
    /// with the far store (or is expected to be).
    pub ahead: OpenAhead<'a>,
    /// Whether a plan that needs only the near store is handed back to be
    /// carried out apart (see [`Synced::NearOnly`]).
    pub hand_off: bool,
    /// Connections to the far store the worker may open to share a long
    /// fetch (see [`super::split_fetch`]).
    pub spare_far: Option<&'a SpareConnections<'a>>,
}

/// How far [`sync_folder_with`] went.
pub enum Synced {
    /// The folder is synced and its state saved.
    Done(FolderResult),
    /// Planned, with nothing left for the far store: the rest needs only
    /// the near store, which comes with it, so it may be carried out on
    /// another thread while the far store goes on with the next folder.
    NearOnly(Box<NearWork>),
}

impl Synced {
    /// The folder's result, carrying out what is left here.
    pub fn finish(self, options: &RunOptions, saver: &dyn SaveState) -> Result<FolderResult> {
        match self {
            Synced::Done(result) => Ok(result),
            Synced::NearOnly(work) => work.finish(options, saver),
        }
    }
}

/// A folder's plan that needs only the near store, with that store.
pub struct NearWork {
    near: Box<dyn Store>,
    state_file: StateFile,
    planned: Planned,
}

impl NearWork {
    /// Carries the plan out and saves the state through `saver`.
    pub fn finish(mut self, options: &RunOptions, saver: &dyn SaveState) -> Result<FolderResult> {
        // The far side's part is over: nothing reaches for it.
        let mut far = Unavailable;
        let mut stores = Stores {
            far: &mut far,
            near: &mut *self.near,
        };
        self.planned
            .carry_out(&mut stores, &self.state_file, options, saver, None)
    }
}

/// A folder between planning and carrying the plan out.
struct Planned {
    name: String,
    plan: Plan,
    ledger: Ledger,
    policy: Policy,
    status: Pair<FolderStatus>,
    versions: Pair<Option<String>>,
    listings: Pair<Vec<MessageInfo>>,
    /// Messages left out of the listings as held more than once.
    ambiguous: usize,
    /// A journal of an interrupted run, to be folded into the state.
    unsaved_journal: bool,
    report: Report,
}

/// [`sync_folder`] for a worker (see [`Worker`]): the state goes to its
/// saver, its next folder is opened ahead when it can be, and with
/// `hand_off` a plan that needs only the near store comes back unfinished.
///
/// The stages, each a function with its inputs and outputs in sight:
/// [`detect`] (open both sides, versions, the state; or skip), [`list`]
/// (catch up with the last run, read what each side holds), [`pair`]
/// (pair by content what no record holds), [`plan`] (pure), then
/// [`Planned::carry_out`] (execute, commit).
pub fn sync_folder_with(
    stores: &mut Stores<'_>,
    names: Pair<&str>,
    state_file: &StateFile,
    policy: &Policy,
    options: &RunOptions,
    worker: &Worker<'_>,
) -> Result<Synced> {
    let policy = &*policy.for_folder(names);
    let name = names[Side::Near];
    let Detected {
        status,
        versions,
        state,
        journal_left,
        near_listing,
    } = match detect(stores, names, state_file, policy)? {
        Detection::Unchanged(skipped) => return Ok(Synced::Done(skipped)),
        Detection::Changed(detected) => *detected,
    };
    let mut ledger = if options.dry_run {
        Ledger::new(state, None)
    } else {
        Ledger::with_journal_of(state, state_file)
    };
    if let Some((steps, how)) = options.interrupt {
        ledger.interrupt_after(steps, how);
    }
    if options.stop_on_signal {
        ledger.stop_on_signal();
    }
    let listed = list(stores, &mut ledger, &status, near_listing, policy, options)?;
    log::info!(
        "folder {name}: {} message(s) on the far side, {} on the near side",
        listed.listings[Side::Far].len(),
        listed.listings[Side::Near].len()
    );
    // The far side is listed: if this folder looks done with the far store
    // (see `settled::far_changes_only`), the server may open the next ones.
    open_ahead(stores, (worker.ahead)(false));
    let paired = pair(stores, &mut ledger, listed, name)?;
    let policy = Policy {
        force: options.force || policy.force,
        ..policy.clone()
    };
    let plan = plan(stores, &ledger, &paired, &policy).with_context(|| format!("folder {name}"))?;

    // The far side's part is over: the server may open the next folder
    // while this one's changes are made here.
    let far_done = !plan.uses(Side::Far);
    if far_done {
        open_ahead(stores, (worker.ahead)(true));
    }
    let mut report = Report {
        notes: paired.notes,
        ..Report::default()
    };
    report.failures.extend(stores.far.take_warnings());
    let planned = Planned {
        name: name.to_string(),
        plan,
        ledger,
        policy,
        status,
        versions,
        listings: paired.listings,
        ambiguous: paired.ambiguous,
        // A journal left by an interrupted run is folded into the state
        // file even when this run changes nothing.
        unsaved_journal: !options.dry_run && journal_left,
        report,
    };
    if worker.hand_off && far_done && !options.dry_run && !planned.plan.is_empty() {
        if let Some(near) = stores.near.detach_open() {
            return Ok(Synced::NearOnly(Box::new(NearWork {
                near,
                state_file: state_file.clone(),
                planned,
            })));
        }
    }
    let second = worker.spare_far.map(|spare| SecondFetch {
        spare,
        folder: names[Side::Far].to_string(),
        uidvalidity: planned.status[Side::Far].uidvalidity,
    });
    planned
        .carry_out(stores, state_file, options, worker.saver, second.as_ref())
        .map(Synced::Done)
}

/// What each side holds, read once the ledger has caught up with the last
/// run: UIDVALIDITY changes noticed, copies left pending resolved.
struct Listed {
    listings: Pair<Vec<MessageInfo>>,
    /// The sides whose ids changed meaning since the last sync.
    renumbered: Pair<Option<Renumbering>>,
    /// No state yet: the sides are adopted by their headers.
    first_sync: bool,
}

/// The listing stage: the far side from the state and the server's
/// changes where it can tell them, else in full; the near side as the
/// detection read it from the state, else in full.
fn list(
    stores: &mut Stores<'_>,
    ledger: &mut Ledger,
    status: &Pair<FolderStatus>,
    near_listing: Option<Vec<MessageInfo>>,
    policy: &Policy,
    options: &RunOptions,
) -> Result<Listed> {
    let mut renumbered: Pair<Option<Renumbering>> = Pair::default();
    for side in Side::BOTH {
        renumbered[side] = uidvalidity_change(ledger, side, &status[side])?;
    }
    if !options.dry_run {
        resolve_pending(stores, ledger)?;
    }
    let listings = Pair::new(
        far_listing(&mut *stores.far, ledger.state(), &status[Side::Far], policy)?,
        match near_listing {
            Some(listing) => listing,
            None => stores.near.list_messages()?,
        },
    );
    if renumbered[Side::Far].is_none()
        && status[Side::Far].uidvalidity.is_none()
        && uidls_renumbered(&ledger.state().records, &listings[Side::Far])
    {
        renumbered[Side::Far] = Some(Renumbering::Uidls);
    }
    Ok(Listed {
        listings,
        renumbered,
        first_sync: ledger.state().generation == 0 && ledger.state().records.is_empty(),
    })
}

/// The listings once every message that can be paired is: what the
/// planner starts from.
struct Paired {
    /// Without the messages left out as ambiguous.
    listings: Pair<Vec<MessageInfo>>,
    /// Second copies of mailferry's own uploads, to be removed.
    late_copies: Vec<Removal>,
    /// Messages left out as held more than once.
    ambiguous: usize,
    notes: Vec<String>,
}

/// The pairing stage: renumbered sides paired again, late copies of
/// uploads settled, then the messages no record holds paired by content.
fn pair(
    stores: &mut Stores<'_>,
    ledger: &mut Ledger,
    listed: Listed,
    name: &str,
) -> Result<Paired> {
    let Listed {
        mut listings,
        renumbered,
        first_sync,
    } = listed;
    let mut notes = Vec::new();
    let mut left_out: Pair<Vec<MsgId>> = Pair::default();
    for side in Side::BOTH {
        let Some(how) = renumbered[side] else {
            continue;
        };
        let done = re_pair(
            ledger,
            side,
            how,
            Pair::new(&listings[Side::Far][..], &listings[Side::Near][..]),
            Pair::new(&mut *stores.far, &mut *stores.near),
        )?;
        notes.push(renumbered::note(name, side, how, &done));
        for each in Side::BOTH {
            left_out[each].extend(done.ambiguous_ids[each].iter().cloned());
        }
    }
    // Late copies are settled before content identity pairs anything: a
    // message uploaded by two interrupted runs whose batches both landed
    // is on the server twice, byte for byte, which content identity can
    // only call ambiguous and leave; the journal knows both copies are
    // mailferry's own, so one is paired and the other removed here.
    let late_copies = settle_late_copies(stores, ledger, &listings, name, &mut notes)?;
    let found = {
        let unsettled =
            Side::BOTH.map(|side| without(&listings[side], &late_copies_on(&late_copies, side)));
        // Adopting reads no bodies; later, the few messages in no record
        // on both sides are compared whole (see identity's module doc).
        let evidence = if first_sync {
            Evidence::HeadersWhereUnique
        } else {
            Evidence::Content
        };
        pair_unrecorded(
            ledger.state(),
            Pair::new(&unsettled[0][..], &unsettled[1][..]),
            Pair::new(&mut *stores.far, &mut *stores.near),
            evidence,
        )?
    };
    for record in &found.pairs {
        ledger.pair(record.ids.clone(), record.flags)?;
    }
    if first_sync && !listings[Side::Near].is_empty() {
        notes.push(adopting_note(name, &listings, &found));
    }
    if found.ambiguous > 0 {
        notes.push(format!(
            "{} message(s) are held more than once on a side and could not be paired by content; \
             they are left untouched (neither copied nor deleted) until only one copy is left",
            found.ambiguous
        ));
    }
    for side in Side::BOTH {
        left_out[side].extend(found.ambiguous_ids[side].iter().cloned());
    }
    let ambiguous = left_out[Side::Far].len() + left_out[Side::Near].len();
    if ambiguous > 0 {
        // Out of the listings, the planner neither copies nor deletes them.
        for side in Side::BOTH {
            let ambiguous: HashSet<&MsgId> = left_out[side].iter().collect();
            listings[side].retain(|m| !ambiguous.contains(&m.id));
        }
    }
    Ok(Paired {
        listings,
        late_copies,
        ambiguous,
        notes,
    })
}

/// The planning stage: which messages are outside the date window (the
/// one question it asks the stores), then the pure planner.
fn plan(
    stores: &mut Stores<'_>,
    ledger: &Ledger,
    paired: &Paired,
    policy: &Policy,
) -> Result<Plan> {
    let listings = Pair::new(
        &paired.listings[Side::Far][..],
        &paired.listings[Side::Near][..],
    );
    let old = super::window::arrived_before(stores, policy.window_start, listings)?;
    Ok(plan_with_window(
        ledger.state(),
        listings,
        &paired.late_copies,
        &old,
        policy,
    )?)
}

/// Looks for late copies of uploads among the messages no record holds
/// (see [`late`]): pairs those whose source was never paired again,
/// forgets unconfirmed uploads past their time, and returns the second
/// copies for the plan to remove.
fn settle_late_copies(
    stores: &mut Stores<'_>,
    ledger: &mut Ledger,
    listings: &Pair<Vec<MessageInfo>>,
    folder: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Removal>> {
    let found = late::find(
        ledger.state(),
        Pair::new(&listings[Side::Far][..], &listings[Side::Near][..]),
        Pair::new(&mut *stores.far, &mut *stores.near),
    )?;
    let settlement = late::settle(ledger.state(), &found, unix_now());
    for (record, upload) in &settlement.pairs {
        ledger.pair(record.ids.clone(), record.flags)?;
        ledger.accounted(upload)?;
    }
    if !settlement.pairs.is_empty() {
        notes.push(format!(
            "{} message(s) uploaded by an interrupted run were stored by the server late; \
             paired with their originals",
            settlement.pairs.len()
        ));
    }
    for upload in &settlement.expired {
        ledger.accounted(upload)?;
    }
    for removal in &settlement.removals {
        log::info!(
            "folder {folder}: {} on the {} side is a second copy of an upload made by an \
             interrupted run; removing it",
            removal.label,
            removal.side
        );
    }
    Ok(settlement.removals)
}

/// The ids of the late copies to remove from `side`.
fn late_copies_on(removals: &[Removal], side: Side) -> HashSet<&MsgId> {
    removals
        .iter()
        .filter(|removal| removal.side == side)
        .map(|removal| &removal.id)
        .collect()
}

/// A listing without the messages `left_out` (borrowed when there are
/// none, as in almost every sync).
fn without<'a>(listing: &'a [MessageInfo], left_out: &HashSet<&MsgId>) -> Cow<'a, [MessageInfo]> {
    if left_out.is_empty() {
        return Cow::Borrowed(listing);
    }
    Cow::Owned(
        listing
            .iter()
            .filter(|m| !left_out.contains(&m.id))
            .cloned()
            .collect(),
    )
}

/// Sends the SELECTs of `folders` ahead, with what their states say the
/// last sync saw.
fn open_ahead(stores: &mut Stores<'_>, folders: Vec<NextFolder>) {
    for next in folders {
        let known = next
            .state_file
            .load_head()
            .as_ref()
            .and_then(StateHead::far_known);
        if let Some(far) = stores.far.opening_ahead() {
            far.open_ahead(&next.far_name, known);
        }
    }
}

impl Planned {
    /// Carries the plan out (unless --dry-run), records what was done and
    /// saves the new state through `saver`; `second` may share a long
    /// fetch from the far side.
    fn carry_out(
        self,
        stores: &mut Stores<'_>,
        state_file: &StateFile,
        options: &RunOptions,
        saver: &dyn SaveState,
        second: Option<&SecondFetch<'_>>,
    ) -> Result<FolderResult> {
        let Planned {
            name,
            plan,
            mut ledger,
            policy,
            status,
            versions,
            listings,
            ambiguous,
            unsaved_journal,
            mut report,
        } = self;
        if !options.dry_run {
            let bytes = plan.copies.iter().map(|c| c.size).sum();
            options
                .progress
                .folder_started(&name, plan.copies.len(), bytes);
            let done = execute(
                &plan,
                stores,
                &mut ledger,
                options.progress.as_ref(),
                second,
            );
            options.progress.folder_finished(&name);
            let done = match done {
                Ok(done) => done,
                Err(err) if crate::interrupt::is_interrupted(&err) => {
                    // Stopped by a signal between two steps: what was done
                    // is saved now rather than replayed from the journal
                    // by the next run.
                    saver.save(state_file, ledger.state())?;
                    return Err(err);
                }
                Err(err) => return Err(err),
            };
            report.add(&done);
            for side in Side::BOTH {
                ledger.set_uidvalidity(side, status[side].uidvalidity)?;
            }
            // Messages left out as ambiguous are in no record: the next run
            // must list them again.
            let modseq = (ambiguous == 0
                && highest_modseq_to_keep(&ledger, &listings[Side::Far], &done, &policy))
            .then_some(status[Side::Far].highest_modseq)
            .flatten();
            ledger.set_far_highest_modseq(modseq)?;
            for side in Side::BOTH {
                report.failures.extend(stores.side(side).take_warnings());
            }
            let clean = report.failures.is_empty()
                && ambiguous == 0
                && ledger.state().pending.is_empty()
                && ledger.state().trashing.is_empty();
            let settled = settled::settled_after(
                &versions,
                &plan,
                clean,
                &policy,
                ledger.state(),
                Pair::new(&listings[Side::Far][..], &listings[Side::Near][..]),
            );
            let settled_changed = ledger.set_settled(settled);
            if (ledger.changed() || unsaved_journal || settled_changed)
                && !ledger.commit_by_journal(saver)?
            {
                saver.save(state_file, ledger.state())?;
            }
        }
        for side in Side::BOTH {
            report.failures.extend(stores.side(side).take_warnings());
        }
        Ok(FolderResult {
            folder: name,
            plan: if options.keep_plans || options.dry_run {
                plan
            } else {
                Plan::default()
            },
            report,
        })
    }
}

/// Whether the next run may list the far side from the state plus the
/// changes since this run's HIGHESTMODSEQ (see [`super::incremental`]):
/// only when the state now holds every far message with the far side's
/// flags, i.e. flags flow far to near, nothing failed, nothing is pending
/// and every far message listed is recorded.
fn highest_modseq_to_keep(
    ledger: &Ledger,
    far_listing: &[MessageInfo],
    done: &Report,
    policy: &Policy,
) -> bool {
    if !policy.copy_flags[Side::Near] || !done.failures.is_empty() {
        return false;
    }
    let state = ledger.state();
    if !state.pending.is_empty() {
        return false;
    }
    far_listing
        .iter()
        .all(|m| state.records.holds(Side::Far, &m.id))
}

/// The line a first sync prints when the Maildir already has mail: it is
/// adopted by content identity instead of being copied again.
fn adopting_note(folder: &str, listings: &Pair<Vec<MessageInfo>>, found: &Pairing) -> String {
    let mut note = format!(
        "first sync of {folder}: the Maildir already holds {} message(s); adopting them by \
         content (Message-ID and size, from the server's headers only): {} paired with the \
         server's copy",
        listings[Side::Near].len(),
        found.pairs.len()
    );
    if found.hashed[Side::Far] > 0 {
        note.push_str(&format!(
            "; {} server message(s) without Message-ID were fetched to compare their content",
            found.hashed[Side::Far]
        ));
    }
    note
}

/// A changed UIDVALIDITY means every UID of that side now names another
/// message (or none): acting on the old ids could delete the wrong mail.
/// The side's copies in flight are settled as not made and its HIGHESTMODSEQ
/// forgotten here; the records keep what the other side held and the flags
/// of the last sync, and only this side's ids are established again by
/// content once both sides are listed ([`renumbered`]). The new
/// UIDVALIDITY is recorded only then, so a run killed before does it again.
fn uidvalidity_change(
    ledger: &mut Ledger,
    side: Side,
    status: &FolderStatus,
) -> Result<Option<Renumbering>> {
    let (Some(old), Some(new)) = (ledger.state().uidvalidity[side], status.uidvalidity) else {
        return Ok(None);
    };
    if old == new {
        return Ok(None);
    }
    if side == Side::Far {
        // Changes since a HIGHESTMODSEQ of the old numbering mean nothing.
        ledger.set_far_highest_modseq(None)?;
    }
    let pending: Vec<_> = ledger
        .state()
        .pending
        .iter()
        .map(|p| (p.target, p.source_id.clone()))
        .collect();
    for (target, source) in &pending {
        ledger.resolved(*target, source)?;
    }
    // Their tickets (uploads to this side) or their sources (uploads from
    // it) are UIDs of the old numbering: they say nothing now.
    let unconfirmed: Vec<_> = ledger.state().unconfirmed.clone();
    for upload in &unconfirmed {
        ledger.accounted(upload)?;
    }
    Ok(Some(Renumbering::UidValidity { old, new }))
}
