//! Table tests of the planner: one test per pattern of (far listed, near
//! listed, record), each named for what it proves.

use super::*;

const S: Flags = Flags::SEEN;
const F: Flags = Flags::FLAGGED;
const R: Flags = Flags::ANSWERED;
const T: Flags = Flags::DELETED;
const NONE: Flags = Flags::EMPTY;

fn msg(id: &str, flags: Flags) -> MessageInfo {
    MessageInfo {
        id: id.to_string(),
        flags,
        size: 100,
    }
}

fn pair(far: &str, near: &str, flags: Flags) -> Record {
    Record {
        ids: ids(Some(far), Some(near)),
        flags,
    }
}

fn ids(far: Option<&str>, near: Option<&str>) -> Pair<Option<MsgId>> {
    Pair::new(far.map(str::to_string), near.map(str::to_string))
}

fn state(records: Vec<Record>) -> FolderState {
    FolderState {
        records: records.into(),
        ..FolderState::default()
    }
}

fn run(state: &FolderState, far: &[MessageInfo], near: &[MessageInfo], policy: &Policy) -> Plan {
    plan(state, Pair::new(far, near), policy).expect("plan refused")
}

fn set_flags(add: Flags, remove: Flags) -> Option<Op> {
    Some(Op::SetFlags { add, remove })
}

fn pull_only() -> Policy {
    Policy {
        copy_new: Pair::new(false, true),
        copy_flags: Pair::new(false, true),
        propagate_delete: Pair::new(false, true),
        ..Policy::default()
    }
}

#[test]
fn empty_sides_and_empty_state_plan_nothing() {
    assert!(run(&state(vec![]), &[], &[], &Policy::default()).is_empty());
}

#[test]
fn far_only_unrecorded_message_is_copied_to_near() {
    let plan = run(&state(vec![]), &[msg("1", S)], &[], &Policy::default());
    assert_eq!(
        plan.copies,
        vec![Copy {
            to: Side::Near,
            source: "1".into(),
            flags: S,
            size: 100
        }]
    );
    assert!(plan.updates.is_empty());
}

#[test]
fn near_only_unrecorded_message_is_copied_to_far() {
    let plan = run(&state(vec![]), &[], &[msg("a", F)], &Policy::default());
    assert_eq!(plan.copies.len(), 1);
    assert_eq!(plan.copies[0].to, Side::Far);
    assert_eq!(plan.copies[0].source, "a");
}

#[test]
fn pull_policy_does_not_copy_near_messages_to_far() {
    let plan = run(
        &state(vec![]),
        &[msg("1", S)],
        &[msg("a", NONE)],
        &pull_only(),
    );
    assert_eq!(plan.copies.len(), 1);
    assert_eq!(plan.copies[0].to, Side::Near);
}

#[test]
fn paired_unchanged_message_plans_nothing() {
    let st = state(vec![pair("1", "a", S)]);
    assert!(run(&st, &[msg("1", S)], &[msg("a", S)], &Policy::default()).is_empty());
}

#[test]
fn flag_added_on_far_is_added_on_near() {
    let st = state(vec![pair("1", "a", NONE)]);
    let plan = run(&st, &[msg("1", S)], &[msg("a", NONE)], &Policy::default());
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(plan.updates[0].ops, Pair::new(None, set_flags(S, NONE)));
    assert_eq!(
        plan.updates[0].after,
        RecordAfter::Keep {
            ids: ids(Some("1"), Some("a")),
            flags: S
        }
    );
}

#[test]
fn flag_removed_on_near_is_removed_on_far() {
    let st = state(vec![pair("1", "a", S.union(F))]);
    let plan = run(
        &st,
        &[msg("1", S.union(F))],
        &[msg("a", S)],
        &Policy::default(),
    );
    assert_eq!(plan.updates[0].ops, Pair::new(set_flags(NONE, F), None));
}

#[test]
fn flags_changed_on_both_sides_are_merged_per_flag() {
    // Far marks read, near flags it and removes answered: both end S F.
    let st = state(vec![pair("1", "a", R)]);
    let plan = run(
        &st,
        &[msg("1", R.union(S))],
        &[msg("a", F)],
        &Policy::default(),
    );
    assert_eq!(
        plan.updates[0].ops,
        Pair::new(set_flags(F, R), set_flags(S, NONE))
    );
    assert_eq!(
        plan.updates[0].after,
        RecordAfter::Keep {
            ids: ids(Some("1"), Some("a")),
            flags: S.union(F)
        }
    );
}

#[test]
fn pull_policy_keeps_near_flag_changes_local() {
    let st = state(vec![pair("1", "a", NONE)]);
    let plan = run(&st, &[msg("1", NONE)], &[msg("a", F)], &pull_only());
    assert!(plan.is_empty(), "{plan}");
}

#[test]
fn message_deleted_on_near_is_deleted_on_far() {
    let st = state(vec![pair("1", "a", S)]);
    let plan = run(&st, &[msg("1", S)], &[], &Policy::default());
    assert_eq!(plan.updates[0].ops, Pair::new(Some(Op::Delete), None));
    assert_eq!(plan.updates[0].after, RecordAfter::Drop);
    assert!(plan.copies.is_empty());
}

#[test]
fn message_expunged_on_far_is_deleted_on_near() {
    let st = state(vec![pair("1", "a", S)]);
    let plan = run(&st, &[], &[msg("a", S)], &Policy::default());
    assert_eq!(plan.updates[0].ops, Pair::new(None, Some(Op::Delete)));
    assert_eq!(plan.updates[0].after, RecordAfter::Drop);
}

#[test]
fn deletion_without_far_expunge_flags_far_and_leaves_tombstone() {
    let policy = Policy {
        expunge: Pair::new(false, true),
        ..Policy::default()
    };
    let st = state(vec![pair("1", "a", S)]);
    let plan = run(&st, &[msg("1", S)], &[], &policy);
    assert_eq!(plan.updates[0].ops, Pair::new(set_flags(T, NONE), None));
    assert_eq!(
        plan.updates[0].after,
        RecordAfter::Keep {
            ids: ids(Some("1"), None),
            flags: S.union(T)
        }
    );
}

#[test]
fn tombstone_stops_the_kept_copy_from_being_copied_back() {
    let policy = Policy {
        expunge: Pair::new(false, true),
        ..Policy::default()
    };
    let st = state(vec![Record {
        ids: ids(Some("1"), None),
        flags: S.union(T),
    }]);
    let plan = run(&st, &[msg("1", S.union(T))], &[], &policy);
    assert!(plan.is_empty(), "{plan}");
}

#[test]
fn tombstone_is_expunged_once_its_side_expunges() {
    let st = state(vec![Record {
        ids: ids(Some("1"), None),
        flags: T,
    }]);
    let plan = run(&st, &[msg("1", T)], &[], &Policy::default());
    assert_eq!(plan.updates[0].ops, Pair::new(Some(Op::Delete), None));
    assert_eq!(plan.updates[0].after, RecordAfter::Drop);
}

#[test]
fn tombstone_whose_survivor_vanished_is_dropped() {
    let st = state(vec![Record {
        ids: ids(None, Some("a")),
        flags: T,
    }]);
    let plan = run(&st, &[], &[], &Policy::default());
    assert_eq!(plan.updates[0].after, RecordAfter::Drop);
    assert_eq!(plan.updates[0].ops, Pair::default());
}

#[test]
fn message_gone_from_both_sides_drops_its_record() {
    let st = state(vec![pair("1", "a", S)]);
    let plan = run(&st, &[], &[], &Policy::default());
    assert_eq!(plan.updates[0].ops, Pair::default());
    assert_eq!(plan.updates[0].after, RecordAfter::Drop);
}

#[test]
fn deleted_flag_set_on_near_expunges_both_sides() {
    let st = state(vec![pair("1", "a", S)]);
    let plan = run(
        &st,
        &[msg("1", S)],
        &[msg("a", S.union(T))],
        &Policy::default(),
    );
    assert_eq!(
        plan.updates[0].ops,
        Pair::new(Some(Op::Delete), Some(Op::Delete))
    );
    assert_eq!(plan.updates[0].after, RecordAfter::Drop);
}

#[test]
fn deleted_flag_with_near_only_expunge_keeps_far_flagged() {
    let policy = Policy {
        expunge: Pair::new(false, true),
        ..Policy::default()
    };
    let st = state(vec![pair("1", "a", NONE)]);
    let plan = run(&st, &[msg("1", NONE)], &[msg("a", T)], &policy);
    assert_eq!(
        plan.updates[0].ops,
        Pair::new(set_flags(T, NONE), Some(Op::Delete))
    );
    assert_eq!(
        plan.updates[0].after,
        RecordAfter::Keep {
            ids: ids(Some("1"), None),
            flags: T
        }
    );
}

#[test]
fn deleted_flag_travels_as_a_flag_when_nobody_expunges() {
    let policy = Policy {
        expunge: Pair::new(false, false),
        ..Policy::default()
    };
    let st = state(vec![pair("1", "a", NONE)]);
    let plan = run(&st, &[msg("1", T)], &[msg("a", NONE)], &policy);
    assert_eq!(plan.updates[0].ops, Pair::new(None, set_flags(T, NONE)));
}

#[test]
fn new_message_flagged_deleted_is_expunged_not_copied() {
    let plan = run(&state(vec![]), &[msg("1", T)], &[], &Policy::default());
    assert!(plan.copies.is_empty());
    assert_eq!(plan.updates[0].ops, Pair::new(Some(Op::Delete), None));
    assert_eq!(plan.updates[0].after, RecordAfter::Unpaired);
}

#[test]
fn message_over_max_size_is_skipped_with_a_reason() {
    let policy = Policy {
        max_size: Some(50),
        ..Policy::default()
    };
    let plan = run(&state(vec![]), &[msg("1", NONE)], &[], &policy);
    assert!(plan.copies.is_empty());
    assert_eq!(plan.skipped.len(), 1);
    assert!(plan.skipped[0].reason.contains("max_size"));
}

fn many(prefix: &str, n: usize) -> Vec<MessageInfo> {
    (0..n).map(|i| msg(&format!("{prefix}{i}"), S)).collect()
}

fn paired_state(n: usize) -> FolderState {
    state(
        (0..n)
            .map(|i| pair(&format!("{i}"), &format!("n{i}"), S))
            .collect(),
    )
}

#[test]
fn far_suddenly_empty_is_refused_by_the_deletion_guard() {
    let st = paired_state(30);
    let err = plan(&st, Pair::new(&[], &many("n", 30)), &Policy::default()).unwrap_err();
    assert_eq!(err.side, Side::Near);
    assert_eq!(err.deletions, 30);
    assert!(err.to_string().contains("--force"));
}

#[test]
fn force_overrides_the_deletion_guard() {
    let st = paired_state(30);
    let policy = Policy {
        force: true,
        ..Policy::default()
    };
    let plan = plan(&st, Pair::new(&[], &many("n", 30)), &policy).unwrap();
    assert_eq!(plan.deletions_on(Side::Near), 30);
}

#[test]
fn small_folders_are_not_guarded() {
    let st = paired_state(20);
    let plan = plan(&st, Pair::new(&[], &many("n", 20)), &Policy::default()).unwrap();
    assert_eq!(plan.deletions_on(Side::Near), 20);
}

#[test]
fn deleting_half_or_less_passes_the_guard() {
    let st = paired_state(30);
    let far: Vec<MessageInfo> = (0..15).map(|i| msg(&format!("{i}"), S)).collect();
    let plan = plan(&st, Pair::new(&far, &many("n", 30)), &Policy::default()).unwrap();
    assert_eq!(plan.deletions_on(Side::Near), 15);
}

#[test]
fn dry_run_text_names_each_action() {
    let st = state(vec![pair("1", "a", NONE), pair("2", "b", NONE)]);
    let plan = run(
        &st,
        &[msg("1", S), msg("3", NONE)],
        &[msg("a", NONE), msg("b", NONE)],
        &Policy::default(),
    );
    let text = plan.to_string();
    assert!(text.contains("flags  near a +S"), "{text}");
    assert!(text.contains("copy   far -> near 3"), "{text}");
    assert!(text.contains("delete near b"), "{text}");
}

#[test]
fn max_messages_copies_only_the_newest() {
    let policy = Policy {
        max_messages: Some(2),
        ..Policy::default()
    };
    let far = [msg("9", NONE), msg("10", NONE), msg("11", NONE)];
    let plan = run(&state(vec![]), &far, &[], &policy);
    let copied: Vec<&str> = plan.copies.iter().map(|c| c.source.as_str()).collect();
    assert_eq!(copied, vec!["10", "11"]);
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].id, "9");
}

fn with_trash(near: Option<&str>, far: Option<&str>) -> Policy {
    Policy {
        trash: Pair::new(far.map(str::to_string), near.map(str::to_string)),
        ..Policy::default()
    }
}

fn trash_op(folder: &str) -> Option<Op> {
    Some(Op::Trash {
        folder: folder.to_string(),
    })
}

#[test]
fn deleted_on_one_side_is_trashed_on_the_other_where_it_has_a_trash_folder() {
    let st = state(vec![pair("1", "a", S), pair("2", "b", S)]);
    let policy = with_trash(Some("Trash"), None);
    // 1 gone from the far side: trashed near; b gone near: deleted far
    // (no far trash).
    let p = run(&st, &[msg("2", S)], &[msg("a", S)], &policy);
    assert_eq!(p.updates.len(), 2, "{p:?}");
    assert_eq!(p.updates[0].ops, Pair::new(None, trash_op("Trash")));
    assert_eq!(p.updates[0].after, RecordAfter::Drop);
    assert_eq!(p.updates[1].ops, Pair::new(Some(Op::Delete), None));
    assert!(p.to_string().contains("trash  near a -> Trash"), "{p}");
}

#[test]
fn expunged_on_both_sides_is_trashed_on_each_side_that_has_a_trash_folder() {
    let st = state(vec![pair("1", "a", S)]);
    let policy = with_trash(Some("Trash"), Some("Deleted"));
    let p = run(&st, &[msg("1", S.union(T))], &[msg("a", S)], &policy);
    assert_eq!(
        p.updates[0].ops,
        Pair::new(trash_op("Deleted"), trash_op("Trash"))
    );
}

#[test]
fn trash_new_only_trashes_only_what_was_never_synced() {
    let st = state(vec![pair("1", "a", S)]);
    let policy = Policy {
        trash_new_only: true,
        ..with_trash(Some("Trash"), None)
    };
    let p = run(&st, &[], &[msg("a", S), msg("new", T)], &policy);
    let ops: Vec<_> = p.updates.iter().map(|u| u.ops.clone()).collect();
    assert!(ops.contains(&Pair::new(None, Some(Op::Delete))), "{p:?}");
    assert!(ops.contains(&Pair::new(None, trash_op("Trash"))), "{p:?}");
    assert_eq!(p.updates.len(), 2, "{p:?}");
}

#[test]
fn the_trash_folder_itself_deletes_instead_of_trashing_into_itself() {
    let policy = with_trash(Some("Trash"), Some("Trash"));
    let in_trash = policy.for_folder(Pair::new("Trash", "Trash"));
    assert_eq!(in_trash.trash, Pair::default());
    let elsewhere = policy.for_folder(Pair::new("INBOX", "INBOX"));
    assert_eq!(elsewhere.trash, policy.trash);
    let st = state(vec![pair("1", "a", S)]);
    let p = run(&st, &[], &[msg("a", S)], &in_trash);
    assert_eq!(p.updates[0].ops, Pair::new(None, Some(Op::Delete)));
}

#[test]
fn trashing_counts_against_the_deletion_guard() {
    let st = paired_state(30);
    let err = plan(
        &st,
        Pair::new(&[], &many("n", 30)),
        &with_trash(Some("Trash"), None),
    )
    .unwrap_err();
    assert_eq!(err.side, Side::Near);
    assert_eq!(err.deletions, 30);
}

fn old_ids(far: &[&str], near: &[&str]) -> Pair<std::collections::HashSet<MsgId>> {
    Pair::new(
        far.iter().map(|id| id.to_string()).collect(),
        near.iter().map(|id| id.to_string()).collect(),
    )
}

fn run_windowed(
    st: &FolderState,
    far: &[MessageInfo],
    near: &[MessageInfo],
    old: &Pair<std::collections::HashSet<MsgId>>,
    policy: &Policy,
) -> Plan {
    plan_with_window(st, Pair::new(far, near), &[], old, policy).expect("plan refused")
}

#[test]
fn messages_before_the_window_are_not_copied_either_way_nor_expunged() {
    let st = state(vec![]);
    let p = run_windowed(
        &st,
        &[msg("1", S), msg("2", S)],
        &[msg("a", NONE), msg("b", T)],
        &old_ids(&["1"], &["a", "b"]),
        &Policy::default(),
    );
    assert_eq!(p.copies.len(), 1, "{p:?}");
    assert_eq!(p.copies[0].source, "2");
    assert!(p.updates.is_empty(), "{p:?}");
}

#[test]
fn a_paired_message_that_aged_out_is_not_deleted_when_the_other_side_lost_it() {
    let st = state(vec![
        pair("1", "a", S),
        pair("2", "b", S),
        pair("3", "c", S),
    ]);
    // 1 gone from the near side, b gone from the far side, 3 flagged on
    // the far side: all three outside the window.
    let p = run_windowed(
        &st,
        &[msg("2", S), msg("3", S.union(F))],
        &[msg("a", S), msg("c", S)],
        &old_ids(&["2", "3"], &["a", "c"]),
        &Policy::default(),
    );
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn prune_local_deletes_the_near_copy_of_an_old_message_the_far_side_holds_and_keeps_a_tombstone() {
    let st = state(vec![pair("1", "a", S), pair("2", "b", S)]);
    let policy = Policy {
        prune_local: true,
        ..Policy::default()
    };
    // 1 is old and on both sides; b is old and gone from the far side.
    let p = run_windowed(
        &st,
        &[msg("1", S)],
        &[msg("a", S), msg("b", S)],
        &old_ids(&["1"], &["a", "b"]),
        &policy,
    );
    assert_eq!(p.updates.len(), 1, "{p:?}");
    assert_eq!(p.updates[0].ops, Pair::new(None, Some(Op::Delete)));
    assert_eq!(
        p.updates[0].after,
        RecordAfter::Keep {
            ids: ids(Some("1"), None),
            flags: S
        }
    );
    // The next sync: the tombstone keeps the far copy from being copied
    // back, and nothing is deleted on the far side.
    let pruned = state(vec![Record {
        ids: ids(Some("1"), None),
        flags: S,
    }]);
    let next = run_windowed(&pruned, &[msg("1", S)], &[], &old_ids(&["1"], &[]), &policy);
    assert!(next.is_empty(), "{next:?}");
}

#[test]
fn remote_new_uploads_a_message_never_synced_to_the_other_sides_trash_and_deletes_it_here() {
    let st = state(vec![]);
    let policy = Policy {
        trash_remote_new: true,
        ..with_trash(Some("Near Trash"), Some("Trash"))
    };
    let p = run(&st, &[], &[msg("new", T)], &policy);
    assert_eq!(p.updates.len(), 1, "{p:?}");
    assert_eq!(
        p.updates[0].ops,
        Pair::new(
            Some(Op::UploadToTrash {
                folder: "Trash".to_string()
            }),
            Some(Op::Delete)
        )
    );
    assert!(p.copies.is_empty());
    assert!(
        p.to_string().contains("copy   near -> far new -> Trash"),
        "{p}"
    );
    // Without a trash folder on the other side it is trashed here.
    let here_only = Policy {
        trash_remote_new: true,
        ..with_trash(Some("Near Trash"), None)
    };
    let p = run(&st, &[], &[msg("new", T)], &here_only);
    assert_eq!(p.updates[0].ops, Pair::new(None, trash_op("Near Trash")));
}
