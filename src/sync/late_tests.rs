//! Tests of the late-copy rule: which unrecorded messages are second
//! copies of mailferry's own uploads, and what the plan does with them.

use super::*;
use crate::mail::{Flags, Message};
use crate::store::memory::{MemoryData, MemoryStore};
use crate::sync::plan::{plan_with_late_copies, Copy, Op, Policy, RecordAfter};
use std::sync::{Arc, Mutex};

const NOW: u64 = 1_800_000_000;

fn content(n: u8) -> Vec<u8> {
    format!("Message-ID: <{n}@test>\r\nSubject: upload {n}\r\n\r\nbody {n}\r\n").into_bytes()
}

/// Same size as `content(n)`, other bytes.
fn look_alike(n: u8) -> Vec<u8> {
    format!("Message-ID: <{n}@test>\r\nSubject: upload {n}\r\n\r\nBODY {n}\r\n").into_bytes()
}

fn upload(source: &str, ticket: u32, bytes: &[u8]) -> UnconfirmedUpload {
    UnconfirmedUpload {
        target: Side::Far,
        source_id: source.to_string(),
        ticket: ticket.to_string(),
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        flags: Flags::SEEN,
        since: NOW - 60,
    }
}

fn pair(far: &str, near: &str) -> Record {
    Record {
        ids: Pair::new(Some(far.to_string()), Some(near.to_string())),
        flags: Flags::SEEN,
    }
}

/// A far "server" holding `messages` as UIDs 1, 2, ... and an empty near.
fn stores(messages: &[Vec<u8>]) -> (MemoryStore, MemoryStore) {
    let far_data = Arc::new(Mutex::new(MemoryData::default()));
    let near_data = Arc::new(Mutex::new(MemoryData::default()));
    let mut far = MemoryStore::new(far_data);
    let mut near = MemoryStore::new(near_data);
    for store in [&mut far, &mut near] {
        store.create_folder("INBOX").unwrap();
        store.open_folder("INBOX").unwrap();
    }
    for bytes in messages {
        let ticket = far.prepare_append().unwrap();
        far.append(
            &ticket,
            &Message {
                flags: Flags::SEEN,
                date: None,
                content: bytes.clone(),
            },
        )
        .unwrap();
    }
    (far, near)
}

fn listing(store: &mut MemoryStore) -> Vec<MessageInfo> {
    store.list_messages().unwrap()
}

fn find_in(state: &FolderState, far: &mut MemoryStore, near: &mut MemoryStore) -> Vec<LateCopy> {
    let far_listing = listing(far);
    let near_listing = listing(near);
    find(
        state,
        Pair::new(&far_listing[..], &near_listing[..]),
        Pair::new(far as &mut dyn Store, near as &mut dyn Store),
    )
    .unwrap()
}

#[test]
fn a_byte_identical_late_copy_is_found_and_a_look_alike_is_not() {
    // UID 1: the upload made again (paired), 2: the late copy of the first
    // upload, 3: another message of the same size.
    let (mut far, mut near) = stores(&[content(1), content(1), look_alike(1)]);
    let state = FolderState {
        records: vec![pair("1", "n1")].into(),
        unconfirmed: vec![upload("n1", 1, &content(1))],
        ..FolderState::default()
    };
    let found = find_in(&state, &mut far, &mut near);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].side, found[0].id.as_str()), (Side::Far, "2"));
    assert_eq!(found[0].label, "message <1@test> (\"upload 1\")");
}

#[test]
fn a_message_stored_before_the_ticket_is_no_late_copy() {
    let (mut far, mut near) = stores(&[content(1), content(1)]);
    let state = FolderState {
        records: vec![pair("2", "n1")].into(),
        unconfirmed: vec![upload("n1", 2, &content(1))],
        ..FolderState::default()
    };
    assert!(find_in(&state, &mut far, &mut near).is_empty());
}

#[test]
fn each_unconfirmed_upload_accounts_for_one_copy() {
    let (mut far, mut near) = stores(&[content(1), content(1), content(1)]);
    let state = FolderState {
        records: vec![pair("1", "n1")].into(),
        unconfirmed: vec![upload("n1", 1, &content(1))],
        ..FolderState::default()
    };
    let found = find_in(&state, &mut far, &mut near);
    let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["2"],
        "the third copy is not accounted for by one upload"
    );
}

fn late(id: &str, upload: usize) -> LateCopy {
    LateCopy {
        side: Side::Far,
        id: id.to_string(),
        upload,
        label: format!("message <{id}>"),
    }
}

#[test]
fn a_late_copy_of_a_source_paired_again_is_removed() {
    let state = FolderState {
        records: vec![pair("1", "n1")].into(),
        unconfirmed: vec![upload("n1", 1, &content(1))],
        ..FolderState::default()
    };
    let settlement = settle(&state, &[late("2", 0)], NOW);
    assert!(settlement.pairs.is_empty());
    assert_eq!(settlement.removals.len(), 1);
    assert_eq!(settlement.removals[0].id, "2");
    assert_eq!(settlement.removals[0].upload, state.unconfirmed[0]);
    assert!(settlement.expired.is_empty());
}

#[test]
fn a_late_copy_of_a_source_never_paired_again_is_paired_and_a_second_one_removed() {
    let state = FolderState {
        unconfirmed: vec![upload("n1", 1, &content(1)), upload("n1", 1, &content(1))],
        ..FolderState::default()
    };
    let settlement = settle(&state, &[late("2", 0), late("3", 1)], NOW);
    assert_eq!(settlement.pairs.len(), 1);
    let (record, accounted) = &settlement.pairs[0];
    assert_eq!(
        record.ids,
        Pair::new(Some("2".to_string()), Some("n1".to_string()))
    );
    assert_eq!(record.flags, Flags::SEEN);
    assert_eq!(accounted, &state.unconfirmed[0]);
    let removed: Vec<&str> = settlement.removals.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(removed, ["3"]);
}

#[test]
fn unconfirmed_uploads_expire_after_their_time_unless_a_copy_turned_up() {
    let mut old = upload("n1", 1, &content(1));
    old.since = NOW - UNCONFIRMED_FOR;
    let mut old_with_copy = upload("n2", 1, &content(2));
    old_with_copy.since = NOW - UNCONFIRMED_FOR - 1;
    let recent = upload("n3", 1, &content(3));
    let state = FolderState {
        records: vec![pair("1", "n2")].into(),
        unconfirmed: vec![old.clone(), old_with_copy, recent],
        ..FolderState::default()
    };
    let settlement = settle(&state, &[late("5", 1)], NOW);
    assert_eq!(settlement.expired, [old]);
    assert_eq!(settlement.removals.len(), 1);
}

#[test]
fn the_plan_removes_a_late_copy_and_downloads_a_look_alike() {
    let (mut far, mut near) = stores(&[content(1), content(1), look_alike(1)]);
    let state = FolderState {
        records: vec![pair("1", "n1")].into(),
        unconfirmed: vec![upload("n1", 1, &content(1))],
        ..FolderState::default()
    };
    let found = find_in(&state, &mut far, &mut near);
    let settlement = settle(&state, &found, NOW);
    let far_listing = listing(&mut far);
    let near_listing = [MessageInfo {
        id: "n1".to_string(),
        flags: Flags::SEEN,
        size: content(1).len() as u64,
    }];
    let plan = plan_with_late_copies(
        &state,
        Pair::new(&far_listing[..], &near_listing[..]),
        &settlement.removals,
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(plan.updates.len(), 1, "{plan}");
    let update = &plan.updates[0];
    assert_eq!(update.ids[Side::Far].as_deref(), Some("2"));
    assert_eq!(update.ops[Side::Far], Some(Op::DeleteLateCopy));
    assert_eq!(update.ops[Side::Near], None);
    assert_eq!(
        update.after,
        RecordAfter::LateCopyRemoved {
            upload: state.unconfirmed[0].clone()
        }
    );
    assert_eq!(
        plan.copies,
        [Copy {
            to: Side::Near,
            source: "3".to_string(),
            flags: Flags::SEEN,
            size: look_alike(1).len() as u64,
        }]
    );
}
