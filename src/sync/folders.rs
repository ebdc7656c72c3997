//! Folders are planned like messages, one level up: a pure function of
//! which folders each side lists now and which folders were synced before
//! decides what to create, sync, remove, recreate or forget.
//!
//! Renames are recognised afterwards, whole trees at a time, by
//! [`super::renames`], because telling a rename from a delete plus a create
//! needs the folders' contents.

use crate::mail::{Pair, Side};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// What the channel allows for whole folders, per side: what may be done
/// *to* that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderPolicy {
    /// A folder only the other side has may be created here.
    pub create: Pair<bool>,
    /// A folder the other side deleted may be deleted here.
    pub remove: Pair<bool>,
}

/// The decision for one folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FolderAction {
    /// Both sides have it: sync its messages.
    Sync,
    /// New on the other side since the last sync: create it on `side`,
    /// then sync.
    Create { side: Side },
    /// Deleted on `deleted_on` since the last sync, and the policy lets
    /// the deletion reach the other side: delete it there, provided it
    /// holds nothing the deleting side never saw (checked when carried
    /// out; otherwise it is recreated).
    Remove { deleted_on: Side },
    /// Deleted on `deleted_on`, but the policy keeps the other copy:
    /// create it again there and copy its messages back.
    Recreate { deleted_on: Side },
    /// Gone from both sides: forget its state.
    Forget,
    /// Only `only_on` has it, and the policy does not allow creating it on
    /// the other side.
    Skip { only_on: Side },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderPlanItem {
    pub name: String,
    #[serde(flatten)]
    pub action: FolderAction,
}

/// A folder plan refused because it would delete too many folders at
/// once: the sign of a Maildir on a disk that is not mounted, or a server
/// answering for the wrong account. `--force` overrides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderGuard {
    /// The side the folders would be deleted from.
    pub side: Side,
    pub deletions: usize,
    pub known: usize,
}

impl fmt::Display for FolderGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing to delete {} of {} synced folders on the {} side because the {} side no \
             longer lists them (is its disk mounted, is it the right account?); if that is really \
             wanted, run again with --force",
            self.deletions,
            self.known,
            self.side,
            self.side.other()
        )
    }
}

impl std::error::Error for FolderGuard {}

/// Refuses plans that delete more than half of the synced folders of a
/// side (when more than one would go).
pub fn check_folder_guard(items: &[FolderPlanItem], known: usize) -> Result<(), FolderGuard> {
    for side in Side::BOTH {
        let deletions = items
            .iter()
            .filter(|item| {
                item.action
                    == (FolderAction::Remove {
                        deleted_on: side.other(),
                    })
            })
            .count();
        if deletions > 1 && deletions * 2 > known {
            return Err(FolderGuard {
                side,
                deletions,
                known,
            });
        }
    }
    Ok(())
}

/// Plans every folder that either side lists or that was synced before.
/// `listed` and `known` must already be limited to the channel's patterns.
pub fn plan_folders(
    listed: &Pair<BTreeSet<String>>,
    known: &BTreeSet<String>,
    policy: &FolderPolicy,
) -> Vec<FolderPlanItem> {
    let mut names: BTreeSet<&String> = listed[Side::Far].iter().collect();
    names.extend(listed[Side::Near].iter());
    names.extend(known.iter());
    names
        .into_iter()
        .map(|name| FolderPlanItem {
            name: name.clone(),
            action: plan_folder(
                Pair::new(
                    listed[Side::Far].contains(name),
                    listed[Side::Near].contains(name),
                ),
                known.contains(name),
                name == "INBOX",
                policy,
            ),
        })
        .collect()
}

fn plan_folder(
    present: Pair<bool>,
    known: bool,
    is_inbox: bool,
    policy: &FolderPolicy,
) -> FolderAction {
    match (present[Side::Far], present[Side::Near], known) {
        // On both sides: sync, whether or not it was synced before.
        (true, true, _) => FolderAction::Sync,
        // On neither side: a folder synced before is gone everywhere.
        (false, false, _) => FolderAction::Forget,
        // Every account has an INBOX: it is made wherever it is missing
        // whatever `create` says, as mbsync does (its default is to
        // create nothing, and its users expect their INBOX all the same).
        (far, _, false) if is_inbox => FolderAction::Create {
            side: if far { Side::Near } else { Side::Far },
        },
        // On one side, never synced: new there.
        (true, false, false) => create_or_skip(Side::Near, policy),
        (false, true, false) => create_or_skip(Side::Far, policy),
        // On one side, synced before: deleted on the other side.
        (true, false, true) => deleted(Side::Near, policy),
        (false, true, true) => deleted(Side::Far, policy),
    }
}

fn create_or_skip(missing_on: Side, policy: &FolderPolicy) -> FolderAction {
    if policy.create[missing_on] {
        FolderAction::Create { side: missing_on }
    } else {
        FolderAction::Skip {
            only_on: missing_on.other(),
        }
    }
}

fn deleted(deleted_on: Side, policy: &FolderPolicy) -> FolderAction {
    if policy.remove[deleted_on.other()] {
        FolderAction::Remove { deleted_on }
    } else {
        FolderAction::Recreate { deleted_on }
    }
}

impl fmt::Display for FolderPlanItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match self.action {
            FolderAction::Sync => write!(f, "sync folder {name}"),
            FolderAction::Create { side } => write!(f, "create folder {name} on the {side} side"),
            FolderAction::Remove { deleted_on } => write!(
                f,
                "delete folder {name} on the {} side (deleted on the {deleted_on} side)",
                deleted_on.other()
            ),
            FolderAction::Recreate { deleted_on } => write!(
                f,
                "recreate folder {name} on the {deleted_on} side (deleted there; `remove` keeps it)"
            ),
            FolderAction::Forget => write!(f, "forget folder {name} (gone from both sides)"),
            FolderAction::Skip { only_on } => write!(
                f,
                "skip folder {name}: only on the {only_on} side and `create` does not allow creating it on the {} side",
                only_on.other()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn both() -> FolderPolicy {
        FolderPolicy {
            create: Pair::new(true, true),
            remove: Pair::new(false, false),
        }
    }

    fn action(
        far: &[&str],
        near: &[&str],
        known: &[&str],
        policy: &FolderPolicy,
    ) -> Vec<(String, FolderAction)> {
        plan_folders(&Pair::new(set(far), set(near)), &set(known), policy)
            .into_iter()
            .map(|item| (item.name, item.action))
            .collect()
    }

    #[test]
    fn folder_on_both_sides_is_synced() {
        assert_eq!(
            action(&["A"], &["A"], &[], &both()),
            vec![("A".into(), FolderAction::Sync)]
        );
    }

    #[test]
    fn new_far_folder_is_created_near_and_new_near_folder_far() {
        assert_eq!(
            action(&["F"], &["N"], &[], &both()),
            vec![
                ("F".into(), FolderAction::Create { side: Side::Near }),
                ("N".into(), FolderAction::Create { side: Side::Far }),
            ]
        );
    }

    #[test]
    fn create_policy_far_only_skips_new_far_folders() {
        let policy = FolderPolicy {
            create: Pair::new(true, false),
            ..both()
        };
        assert_eq!(
            action(&["F"], &[], &[], &policy),
            vec![("F".into(), FolderAction::Skip { only_on: Side::Far })]
        );
    }

    #[test]
    fn inbox_is_created_whatever_create_says_other_folders_are_not() {
        let policy = FolderPolicy {
            create: Pair::new(false, false),
            ..both()
        };
        assert_eq!(
            action(&["INBOX", "Work"], &[], &[], &policy),
            vec![
                ("INBOX".into(), FolderAction::Create { side: Side::Near }),
                ("Work".into(), FolderAction::Skip { only_on: Side::Far }),
            ]
        );
        // Once synced, an INBOX deleted on one side follows `remove`.
        assert_eq!(
            action(&["INBOX"], &[], &["INBOX"], &policy),
            action(&["Work"], &[], &["Work"], &policy)
                .into_iter()
                .map(|(_, a)| ("INBOX".to_string(), a))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn folder_deleted_locally_is_recreated_under_remove_none() {
        assert_eq!(
            action(&["A"], &[], &["A"], &both()),
            vec![(
                "A".into(),
                FolderAction::Recreate {
                    deleted_on: Side::Near
                }
            )]
        );
    }

    #[test]
    fn folder_deleted_locally_is_removed_on_the_server_under_remove_far() {
        let policy = FolderPolicy {
            remove: Pair::new(true, false),
            ..both()
        };
        assert_eq!(
            action(&["A"], &[], &["A"], &policy),
            vec![(
                "A".into(),
                FolderAction::Remove {
                    deleted_on: Side::Near
                }
            )]
        );
        // The same policy does not let a server deletion reach the Maildir.
        assert_eq!(
            action(&[], &["B"], &["B"], &policy),
            vec![(
                "B".into(),
                FolderAction::Recreate {
                    deleted_on: Side::Far
                }
            )]
        );
    }

    #[test]
    fn a_side_that_lists_nothing_does_not_delete_every_folder_on_the_other() {
        let policy = FolderPolicy {
            remove: Pair::new(true, true),
            ..both()
        };
        let known = set(&["A", "B", "C", "INBOX"]);
        let items = plan_folders(&Pair::new(known.clone(), set(&[])), &known, &policy);
        let guard = check_folder_guard(&items, known.len()).unwrap_err();
        assert_eq!(guard.side, Side::Far);
        assert_eq!(guard.deletions, 4);
        assert!(guard.to_string().contains("--force"));
        // One folder deleted out of four is an ordinary deletion.
        let items = plan_folders(
            &Pair::new(known.clone(), set(&["A", "B", "C"])),
            &known,
            &policy,
        );
        assert!(check_folder_guard(&items, known.len()).is_ok());
    }

    #[test]
    fn folder_gone_from_both_sides_is_forgotten() {
        assert_eq!(
            action(&[], &[], &["A"], &both()),
            vec![("A".into(), FolderAction::Forget)]
        );
    }
}
