//! One folder pair from start to end: detect (open both sides, load the
//! state, list), plan, execute, commit.

use super::exec::{execute, resolve_pending, Report, Stores};
use super::ledger::{Interrupt, Ledger};
use super::plan::{plan, Plan, Policy};
use crate::state::StateFile;
use crate::state::{Pair, Side};
use crate::store::{FolderStatus, MessageInfo};
use anyhow::{bail, Context, Result};
use serde::Serialize;

/// How a run behaves beyond the channel's policy.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Plan and print, change nothing.
    pub dry_run: bool,
    /// Skip the deletion guard.
    pub force: bool,
    /// Wait for another run's lock instead of failing.
    pub wait_for_lock: bool,
    /// Test hook: stop after this many journaled steps.
    pub interrupt: Option<(usize, Interrupt)>,
}

/// What happened to one folder pair.
#[derive(Debug, Clone, Serialize)]
pub struct FolderResult {
    pub folder: String,
    /// The plan that was (or, with --dry-run, would be) carried out.
    pub plan: Plan,
    pub report: Report,
}

/// Syncs the folder `name`, which must exist on both sides.
pub fn sync_folder(
    stores: &mut Stores<'_>,
    name: &str,
    state_file: &StateFile,
    policy: &Policy,
    options: &RunOptions,
) -> Result<FolderResult> {
    let status = Pair::new(
        stores
            .far
            .open_folder(name)
            .with_context(|| format!("opening far folder {name}"))?,
        stores
            .near
            .open_folder(name)
            .with_context(|| format!("opening near folder {name}"))?,
    );
    let state = state_file.load()?;
    for side in Side::BOTH {
        check_uidvalidity(side, name, state.uidvalidity[side], &status[side])?;
    }

    let mut ledger = if options.dry_run {
        Ledger::new(state, None)
    } else {
        Ledger::new(state, Some(state_file.journal()?))
    };
    if let Some((steps, how)) = options.interrupt {
        ledger.interrupt_after(steps, how);
    }
    if !options.dry_run {
        resolve_pending(stores, &mut ledger)?;
    }

    let listings: Pair<Vec<MessageInfo>> =
        Pair::new(stores.far.list_messages()?, stores.near.list_messages()?);
    let policy = Policy {
        force: options.force || policy.force,
        ..policy.clone()
    };
    let plan = plan(
        ledger.state(),
        Pair::new(&listings[Side::Far][..], &listings[Side::Near][..]),
        &policy,
    )
    .with_context(|| format!("folder {name}"))?;

    let mut report = Report::default();
    if !options.dry_run {
        report = execute(&plan, stores, &mut ledger)?;
        for side in Side::BOTH {
            ledger.set_uidvalidity(side, status[side].uidvalidity)?;
        }
        state_file.save(ledger.state())?;
    }
    for side in Side::BOTH {
        report.failures.extend(stores.side(side).take_warnings());
    }
    Ok(FolderResult {
        folder: name.to_string(),
        plan,
        report,
    })
}

/// A changed UIDVALIDITY means every UID of that side now names another
/// message (or none); acting on the old pairs could delete the wrong mail.
fn check_uidvalidity(
    side: Side,
    folder: &str,
    remembered: Option<u32>,
    status: &FolderStatus,
) -> Result<()> {
    if let (Some(old), Some(new)) = (remembered, status.uidvalidity) {
        if old != new {
            bail!(
                "UIDVALIDITY of the {side} folder {folder} changed from {old} to {new}: \
                 its messages were renumbered, so mailferry will not act on the old pairing"
            );
        }
    }
    Ok(())
}
