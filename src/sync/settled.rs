//! Skipping folders that did not change: a resync of an idle mailbox costs
//! what changed, not what the mailbox holds.
//!
//! A sync that finds a folder pair already in sync and changes neither side
//! records both sides' versions in the state (see
//! [`crate::store::FolderVersions::folder_version`]: IMAP's UIDVALIDITY, UIDNEXT,
//! message count and HIGHESTMODSEQ; a maildir's new/ and cur/ times). The
//! next run asks for the versions again (for IMAP, all folders' in the one
//! LIST answer where the server offers LIST-STATUS) and, when both are
//! unchanged, skips the folder without selecting it, reading the maildir
//! or loading the state: nothing it could plan would differ.
//!
//! When a folder may not be skipped, in plain words:
//! - a side cannot give a version (no CONDSTORE; a maildir changed within
//!   the current clock step), or it differs from the recorded one;
//! - the last sync changed something, left something failed, pending or
//!   ambiguous, or was interrupted (a journal is there);
//! - the policy (or mailferry's version) is not the one recorded.

use super::exec::Stores;
use super::folder::FolderResult;
use super::plan::{Plan, Policy};
use crate::mail::{MessageInfo, Pair, Side};
use crate::state::{FolderState, Settled, StateFile, StateHead};
use crate::store::Store;
use anyhow::Result;

/// The empty result of a folder skipped as unchanged, when it is one.
/// `head` is what the state file's first lines say (see
/// [`StateFile::load_head`]), `versions` the sides' versions now.
pub fn skip_if_unchanged(
    state_file: &StateFile,
    head: Option<&StateHead>,
    versions: &Pair<Option<String>>,
    policy: &Policy,
    near_name: &str,
) -> Option<FolderResult> {
    let (Some(far), Some(near)) = (&versions[Side::Far], &versions[Side::Near]) else {
        return None;
    };
    let settled = head?.settled.as_ref()?;
    let unchanged = settled.versions[Side::Far] == *far
        && settled.versions[Side::Near] == *near
        && settled.policy == policy_digest(policy)
        && !state_file.journal_interrupted();
    if !unchanged {
        return None;
    }
    log::info!("folder {near_name}: unchanged since the last sync, skipped");
    Some(FolderResult {
        folder: near_name.to_string(),
        plan: Plan::default(),
        report: Default::default(),
    })
}

/// Whether a folder that is not skipped looks changed on the far side
/// alone, with no message added there: its near side is as a settled sync
/// left it. Its plan will then most likely need nothing from the far store
/// but what the folder's opening reports (flag changes, expunges), so the
/// folders after it may be opened ahead at once. A guess: when wrong, the
/// folder is selected a second time.
pub fn far_changes_only(
    head: Option<&StateHead>,
    versions: &Pair<Option<String>>,
    far: &mut dyn Store,
) -> bool {
    let (Some(settled), Some(far_now), Some(near_now)) = (
        head.and_then(|head| head.settled.as_ref()),
        &versions[Side::Far],
        &versions[Side::Near],
    ) else {
        return false;
    };
    settled.versions[Side::Near] == *near_now
        && far.versions().is_some_and(|versions| {
            versions.nothing_added_between(&settled.versions[Side::Far], far_now)
        })
}

/// Both sides' versions now, for the folder `names` (far, near names).
pub fn versions_of(stores: &mut Stores<'_>, names: Pair<&str>) -> Result<Pair<Option<String>>> {
    Ok(Pair::new(
        super::detect::folder_version(stores.far, names[Side::Far])?,
        super::detect::folder_version(stores.near, names[Side::Near])?,
    ))
}

/// What to record after a sync: the versions read before the folder was
/// listed, when the sync then found nothing to do on either side and
/// nothing stands in the way (see the module's list). `state` is the state
/// after the sync, `listings` what the sides listed.
pub fn settled_after(
    versions_before: &Pair<Option<String>>,
    plan: &Plan,
    clean: bool,
    policy: &Policy,
    state: &FolderState,
    listings: Pair<&[MessageInfo]>,
) -> Option<Settled> {
    if !clean || touches_a_side(plan) {
        return None;
    }
    Some(Settled {
        versions: Pair::new(
            versions_before[Side::Far].clone()?,
            versions_before[Side::Near].clone()?,
        ),
        policy: policy_digest(policy),
        listed_as_recorded: Pair::new(
            listed_as_recorded(state, Side::Far, listings[Side::Far]),
            listed_as_recorded(state, Side::Near, listings[Side::Near]),
        ),
    })
}

/// The near side's listing taken from the state, when the near side did
/// not change since a sync that found it listing exactly the records: a
/// resync after changes on the far side alone then need not read the near
/// side (for a maildir, a directory of thousands of names).
pub fn near_listing_from_state(
    state: &FolderState,
    versions: &Pair<Option<String>>,
    policy: &Policy,
) -> Option<Vec<MessageInfo>> {
    let settled = state.settled.as_ref()?;
    let unchanged = settled.listed_as_recorded[Side::Near]
        && versions[Side::Near].as_deref() == Some(settled.versions[Side::Near].as_str())
        && settled.policy == policy_digest(policy)
        && state.pending.is_empty();
    unchanged.then(|| {
        state
            .records
            .iter()
            .filter_map(|record| {
                // The size of a paired message is never used: only
                // unpaired messages are copied or compared by content.
                record.ids[Side::Near].as_ref().map(|id| MessageInfo {
                    id: id.clone(),
                    flags: record.flags,
                    size: 0,
                })
            })
            .collect()
    })
}

/// Whether `listing` holds exactly the records' ids of `side`, each with
/// the record's flags.
fn listed_as_recorded(state: &FolderState, side: Side, listing: &[MessageInfo]) -> bool {
    state.records.count_on(side) == listing.len()
        && listing.iter().all(|message| {
            state
                .records
                .by_id(side, &message.id)
                .is_some_and(|record| record.flags == message.flags)
        })
}

/// Whether carrying out `plan` changes a store (records alone do not).
fn touches_a_side(plan: &Plan) -> bool {
    !plan.copies.is_empty()
        || plan
            .updates
            .iter()
            .any(|u| u.ops.0.iter().any(Option::is_some))
}

/// A digest of everything besides the two sides that decides a plan: the
/// policy (without `--force`, which only lifts a guard) and the planner's
/// version.
pub fn policy_digest(policy: &Policy) -> String {
    let policy = Policy {
        force: false,
        ..policy.clone()
    };
    let text = format!("mailferry {} {policy:?}", env!("CARGO_PKG_VERSION"));
    crate::mail::sha256_hex(text.as_bytes())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Flags;
    use crate::sync::plan::{Copy, Op, RecordAfter, Update};

    /// [`settled_after`] for an empty folder under the default policy.
    fn settle(versions: &Pair<Option<String>>, plan: &Plan, clean: bool) -> Option<Settled> {
        let empty: &[MessageInfo] = &[];
        settled_after(
            versions,
            plan,
            clean,
            &Policy::default(),
            &FolderState::default(),
            Pair::new(empty, empty),
        )
    }

    fn versions() -> Pair<Option<String>> {
        Pair::new(Some("far-1".to_string()), Some("near-1".to_string()))
    }

    #[test]
    fn a_plan_with_nothing_to_do_settles_with_the_versions_read_before() {
        let settled = settle(&versions(), &Plan::default(), true);
        let settled = settled.expect("settled");
        assert_eq!(
            settled.versions,
            Pair::new("far-1".to_string(), "near-1".to_string())
        );
        assert_eq!(settled.policy, policy_digest(&Policy::default()));
    }

    #[test]
    fn work_done_a_failure_or_an_unknown_version_settles_nothing() {
        let copy = Plan {
            copies: vec![Copy {
                to: Side::Near,
                source: "1".into(),
                flags: Flags::EMPTY,
                size: 1,
            }],
            ..Plan::default()
        };
        assert_eq!(settle(&versions(), &copy, true), None);
        let flag = Plan {
            updates: vec![Update {
                ids: Pair::new(Some("1".into()), Some("a".into())),
                ops: Pair::new(
                    None,
                    Some(Op::SetFlags {
                        add: Flags::SEEN,
                        remove: Flags::EMPTY,
                    }),
                ),
                after: RecordAfter::Unpaired,
                reason: "test",
            }],
            ..Plan::default()
        };
        assert_eq!(settle(&versions(), &flag, true), None);
        assert_eq!(
            settle(&versions(), &Plan::default(), false),
            None,
            "not clean"
        );
        let unknown = Pair::new(Some("far-1".to_string()), None);
        assert_eq!(settle(&unknown, &Plan::default(), true), None);
    }

    #[test]
    fn a_record_only_update_still_settles() {
        let forget = Plan {
            updates: vec![Update {
                ids: Pair::new(None, Some("a".into())),
                ops: Pair::new(None, None),
                after: RecordAfter::Drop,
                reason: "test",
            }],
            ..Plan::default()
        };
        assert!(settle(&versions(), &forget, true).is_some());
    }

    fn record(far: &str, near: &str, flags: Flags) -> crate::state::Record {
        crate::state::Record {
            ids: Pair::new(Some(far.to_string()), Some(near.to_string())),
            flags,
        }
    }

    fn info(id: &str, flags: Flags) -> MessageInfo {
        MessageInfo {
            id: id.to_string(),
            flags,
            size: 10,
        }
    }

    #[test]
    fn the_near_listing_comes_from_the_state_only_while_it_is_exactly_the_records() {
        let state = FolderState {
            records: vec![
                record("1", "a", Flags::SEEN),
                record("2", "b", Flags::EMPTY),
            ]
            .into(),
            ..FolderState::default()
        };
        let near = vec![info("a", Flags::SEEN), info("b", Flags::EMPTY)];
        let far = [info("1", Flags::SEEN), info("2", Flags::EMPTY)];
        let settled_state = |near: &[MessageInfo]| FolderState {
            settled: settled_after(
                &versions(),
                &Plan::default(),
                true,
                &Policy::default(),
                &state,
                Pair::new(&far[..], near),
            ),
            ..state.clone()
        };

        let exact = settled_state(&near);
        let listing = near_listing_from_state(&exact, &versions(), &Policy::default())
            .expect("listed as recorded");
        let ids: Vec<(&str, Flags)> = listing.iter().map(|m| (m.id.as_str(), m.flags)).collect();
        assert_eq!(ids, [("a", Flags::SEEN), ("b", Flags::EMPTY)]);

        let moved = Pair::new(Some("far-1".to_string()), Some("near-2".to_string()));
        assert_eq!(
            near_listing_from_state(&exact, &moved, &Policy::default()),
            None,
            "the near side changed since"
        );
        let other_policy = Policy {
            max_size: Some(5),
            ..Policy::default()
        };
        assert_eq!(
            near_listing_from_state(&exact, &versions(), &other_policy),
            None
        );

        // A message the policy kept from being copied, or flags that differ
        // from the record: the records are not the listing.
        let mut extra = near.clone();
        extra.push(info("c", Flags::EMPTY));
        assert_eq!(
            near_listing_from_state(&settled_state(&extra), &versions(), &Policy::default()),
            None
        );
        let reflagged = vec![info("a", Flags::SEEN), info("b", Flags::FLAGGED)];
        assert_eq!(
            near_listing_from_state(&settled_state(&reflagged), &versions(), &Policy::default()),
            None
        );
    }

    #[test]
    fn the_policy_digest_ignores_force_and_sees_everything_else() {
        let base = Policy::default();
        let forced = Policy {
            force: true,
            ..base.clone()
        };
        assert_eq!(policy_digest(&base), policy_digest(&forced));
        let no_flags = Policy {
            copy_flags: Pair::new(false, true),
            ..base.clone()
        };
        assert_ne!(policy_digest(&base), policy_digest(&no_flags));
        let max_size = Policy {
            max_size: Some(1000),
            ..base
        };
        assert_ne!(policy_digest(&Policy::default()), policy_digest(&max_size));
    }
}
