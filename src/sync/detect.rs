//! Detection, the first stage of a folder's sync: open both sides, read
//! their versions, load the state, and tell whether the folder can be
//! skipped as unchanged; otherwise hand the next stages what each side
//! holds.
//!
//! The near side's part (loading the state, reading a maildir of 100,000
//! names) and the far side's SELECT are independent, and on a big folder
//! each costs a good part of a second (the server's SELECT of a changed
//! folder is its own work, not ours). When the near side changed since
//! the last settled sync (so the folder cannot be skipped and the near
//! side must be read anyway), the two run at once, the near side's part
//! on a thread of its own. Otherwise (the common case of an idle folder)
//! nothing is loaded before the far side's version says whether the
//! folder is skipped.

use super::exec::Stores;
use super::folder::FolderResult;
use super::plan::Policy;
use super::settled;
use crate::mail::{FolderStatus, MessageInfo, Pair, Side};
use crate::state::{FolderState, StateFile, StateHead};
use crate::store::Store;
use anyhow::{Context, Result};

/// Logged (-v) when the near side's listing is taken from the state.
pub const NEAR_AS_RECORDED: &str = "the near side did not change since the last sync: its \
    messages are the state's";

/// What detection found.
pub enum Detection {
    /// Neither side changed since a sync that left them in sync: nothing
    /// was loaded or listed, and this is the folder's (empty) result.
    Unchanged(FolderResult),
    /// The folder is open on both sides, with its state loaded.
    Changed(Box<Detected>),
}

/// A folder open on both sides, for the stages after detection.
pub struct Detected {
    /// What each side's opening reported.
    pub status: Pair<FolderStatus>,
    /// Each side's version, read before the side was listed (see
    /// [`settled`]).
    pub versions: Pair<Option<String>>,
    /// The state of the last sync, with any journal of an interrupted run
    /// replayed.
    pub state: FolderState,
    /// Whether an interrupted run left a journal.
    pub journal_left: bool,
    /// The near side's messages when they are the state's records (see
    /// [`settled::near_listing_from_state`]); else the near store lists
    /// them.
    pub near_listing: Option<Vec<MessageInfo>>,
}

/// Opens the folder `names` (far, near) on both sides and loads its state.
pub fn detect(
    stores: &mut Stores<'_>,
    names: Pair<&str>,
    state_file: &StateFile,
    policy: &Policy,
) -> Result<Detection> {
    // What the last sync saw of the far folder, so that its changes since
    // can come with the SELECT.
    let head = state_file.load_head();
    // Read before the near side is listed: a change made after this is
    // either in the listing or makes the next run's version differ.
    let near_version = folder_version(stores.near, names[Side::Near])?;
    if near_may_be_as_recorded(head.as_ref(), near_version.as_deref(), policy) {
        detect_in_turn(stores, names, state_file, policy, head, near_version)
    } else {
        detect_both_at_once(stores, names, state_file, head, near_version)
    }
}

/// Whether the near side may be as the last settled sync left it, so that
/// the folder may be skipped or the near side taken from the state.
fn near_may_be_as_recorded(
    head: Option<&StateHead>,
    near_version: Option<&str>,
    policy: &Policy,
) -> bool {
    let Some(settled) = head.and_then(|head| head.settled.as_ref()) else {
        return false;
    };
    near_version == Some(settled.versions[Side::Near].as_str())
        && settled.policy == settled::policy_digest(policy)
}

/// The far side first: its version may say the folder is skipped, and
/// then nothing else is read.
fn detect_in_turn(
    stores: &mut Stores<'_>,
    names: Pair<&str>,
    state_file: &StateFile,
    policy: &Policy,
    head: Option<StateHead>,
    near_version: Option<String>,
) -> Result<Detection> {
    let far_status = open_far(stores.far, names[Side::Far], head.as_ref())?;
    // Read before the far side is listed (its listing comes after the
    // opening, from the changes since or in full).
    let versions = Pair::new(folder_version(stores.far, names[Side::Far])?, near_version);
    if let Some(skipped) = settled::skip_if_unchanged(
        state_file,
        head.as_ref(),
        &versions,
        policy,
        names[Side::Near],
    ) {
        return Ok(Detection::Unchanged(skipped));
    }
    let state = state_file.load()?;
    let journal_left = state_file.journal_interrupted();
    // A near side unchanged since it listed exactly the records is not
    // read again: the records are its listing (see `settled`). The journal
    // of an interrupted run would have changed the records since.
    let near_as_recorded =
        settled::near_listing_from_state(&state, &versions, policy).filter(|_| !journal_left);
    let opened_as_recorded = match (&near_as_recorded, stores.near.versions()) {
        (Some(listing), Some(versions)) => {
            versions.open_folder_as_listed(names[Side::Near], listing)?
        }
        _ => None,
    };
    let (near_status, near_listing) = match opened_as_recorded {
        Some(status) => {
            log::info!("folder {}: {NEAR_AS_RECORDED}", names[Side::Near]);
            (status, near_as_recorded)
        }
        None => (open_near(stores.near, names[Side::Near])?, None),
    };
    Ok(Detection::Changed(Box::new(Detected {
        status: Pair::new(far_status, near_status),
        versions,
        state,
        journal_left,
        near_listing,
    })))
}

/// The near side changed since the last settled sync (or there was none):
/// the folder cannot be skipped and the near side must be read, so its
/// state is loaded and its side opened on a thread of its own while the
/// server answers the far side's SELECT.
fn detect_both_at_once(
    stores: &mut Stores<'_>,
    names: Pair<&str>,
    state_file: &StateFile,
    head: Option<StateHead>,
    near_version: Option<String>,
) -> Result<Detection> {
    let Stores { far, near } = stores;
    let (far_opened, near_opened) = std::thread::scope(|scope| {
        let near_side = scope.spawn(|| -> Result<(FolderState, bool, FolderStatus)> {
            let state = state_file.load()?;
            let journal_left = state_file.journal_interrupted();
            let status = open_near(&mut **near, names[Side::Near])?;
            Ok((state, journal_left, status))
        });
        let far_side = open_far(&mut **far, names[Side::Far], head.as_ref()).and_then(|status| {
            let version = folder_version(&mut **far, names[Side::Far])?;
            Ok((status, version))
        });
        let near_side = near_side
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("reading the near side failed unexpectedly")));
        (far_side, near_side)
    });
    let (far_status, far_version) = far_opened?;
    let (state, journal_left, near_status) = near_opened?;
    Ok(Detection::Changed(Box::new(Detected {
        status: Pair::new(far_status, near_status),
        versions: Pair::new(far_version, near_version),
        state,
        journal_left,
        near_listing: None,
    })))
}

/// Opens the far folder, telling a store that lists incrementally what
/// the last sync saw, so that its changes since can come with the opening.
fn open_far(far: &mut dyn Store, name: &str, head: Option<&StateHead>) -> Result<FolderStatus> {
    let known = head.and_then(StateHead::far_known);
    match far.incremental() {
        Some(incremental) => incremental.open_folder_knowing(name, known),
        None => far.open_folder(name),
    }
    .with_context(|| format!("opening far folder {name}"))
}

/// The folder's version (see [`crate::store::FolderVersions`]); `None`
/// from a store that has none.
pub(super) fn folder_version(store: &mut dyn Store, name: &str) -> Result<Option<String>> {
    match store.versions() {
        Some(versions) => versions.folder_version(name),
        None => Ok(None),
    }
}

fn open_near(near: &mut dyn Store, name: &str) -> Result<FolderStatus> {
    near.open_folder(name)
        .with_context(|| format!("opening near folder {name}"))
}
