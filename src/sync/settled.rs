//! Skipping folders that did not change: a resync of an idle mailbox costs
//! what changed, not what the mailbox holds.
//!
//! A sync that finds a folder pair already in sync and changes neither side
//! records both sides' versions in the state (see
//! [`crate::store::Store::folder_version`]: IMAP's UIDVALIDITY, UIDNEXT,
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
use crate::state::{Pair, Settled, Side, StateFile};
use anyhow::Result;

/// The empty result of a folder skipped as unchanged, when it is one.
/// `versions` are the sides' versions now, when known.
pub fn skip_if_unchanged(
    state_file: &StateFile,
    versions: &Pair<Option<String>>,
    policy: &Policy,
    near_name: &str,
) -> Option<FolderResult> {
    let (Some(far), Some(near)) = (&versions[Side::Far], &versions[Side::Near]) else {
        return None;
    };
    let settled = state_file.load_settled()?;
    let unchanged = settled.versions[Side::Far] == *far
        && settled.versions[Side::Near] == *near
        && settled.policy == policy_digest(policy)
        && !state_file.journal_path().exists();
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

/// Both sides' versions now, for the folder `names` (far, near names).
pub fn versions_of(stores: &mut Stores<'_>, names: Pair<&str>) -> Result<Pair<Option<String>>> {
    Ok(Pair::new(
        stores.far.folder_version(names[Side::Far])?,
        stores.near.folder_version(names[Side::Near])?,
    ))
}

/// What to record after a sync: the versions read before the folder was
/// listed, when the sync then found nothing to do on either side and
/// nothing stands in the way (see the module's list).
pub fn settled_after(
    versions_before: &Pair<Option<String>>,
    plan: &Plan,
    clean: bool,
    policy: &Policy,
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
    crate::store::sha256_hex(text.as_bytes())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Flags;
    use crate::sync::plan::{Copy, Op, RecordAfter, Update};

    fn versions() -> Pair<Option<String>> {
        Pair::new(Some("far-1".to_string()), Some("near-1".to_string()))
    }

    #[test]
    fn a_plan_with_nothing_to_do_settles_with_the_versions_read_before() {
        let settled = settled_after(&versions(), &Plan::default(), true, &Policy::default());
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
        assert_eq!(
            settled_after(&versions(), &copy, true, &Policy::default()),
            None
        );
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
        assert_eq!(
            settled_after(&versions(), &flag, true, &Policy::default()),
            None
        );
        assert_eq!(
            settled_after(&versions(), &Plan::default(), false, &Policy::default()),
            None,
            "not clean"
        );
        let unknown = Pair::new(Some("far-1".to_string()), None);
        assert_eq!(
            settled_after(&unknown, &Plan::default(), true, &Policy::default()),
            None
        );
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
        assert!(settled_after(&versions(), &forget, true, &Policy::default()).is_some());
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
