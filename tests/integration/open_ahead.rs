//! A folder opened ahead (`OpenAhead::open_ahead`: its SELECT sent before the
//! folder's turn, the answer read when it is opened) against a real
//! Dovecot: the folder then opened is always the one asked for, whatever
//! came between, and what is meant for a folder reaches that folder even
//! when the server has selected one opened ahead since.

use crate::imap_store::config;
use crate::support::dovecot::Dovecot;
use mailferry::config::{Secret, TlsMode};
use mailferry::mail::{Flags, Message};
use mailferry::store::imap::ImapStore;
use mailferry::store::{IncrementalListing, OpenAhead, Store};

const USER: &str = "alice";

fn connect(dovecot: &Dovecot, tls: TlsMode) -> ImapStore {
    ImapStore::connect(&config(dovecot, tls), &Secret::new(dovecot.password(USER))).unwrap()
}

/// Folders A, B and C holding 1, 2 and 3 messages, so that a listing tells
/// which folder is open.
fn three_folders(store: &mut ImapStore) {
    for (folder, count) in [("A", 1), ("B", 2), ("C", 3)] {
        store.create_folder(folder).unwrap();
        store.open_folder(folder).unwrap();
        for n in 0..count {
            let message = Message {
                flags: Flags::EMPTY,
                date: None,
                content: format!("Subject: {folder} {n}\r\n\r\nbody\r\n").into_bytes(),
            };
            let ticket = store.prepare_append().unwrap();
            store.append(&ticket, &message).unwrap();
        }
    }
}

#[test]
fn a_folder_used_after_the_next_was_opened_ahead_is_selected_again() {
    let dovecot = Dovecot::start();
    // Over TLS: the answers to the SELECTs sent ahead come through the
    // same TLS stream as every other answer.
    let mut store = connect(&dovecot, TlsMode::Implicit);
    three_folders(&mut store);
    store.open_folder("A").unwrap();
    let in_a = store.list_messages().unwrap();
    assert_eq!(in_a.len(), 1);

    store.open_ahead("B", None);
    // The server has B selected by now; a change meant for A lands in A.
    store
        .set_flags(&in_a[0].id, Flags::FLAGGED, Flags::EMPTY)
        .unwrap();
    let status = store.open_folder("B").unwrap();
    assert_eq!(status.exists, 2);
    let in_b = store.list_messages().unwrap();
    assert_eq!(in_b.len(), 2);
    assert!(in_b.iter().all(|m| m.flags.is_empty()), "{in_b:?}");

    store.open_folder("A").unwrap();
    assert_eq!(store.list_messages().unwrap()[0].flags, Flags::FLAGGED);
    store.logout().unwrap();
}

#[test]
fn several_folders_opened_ahead_are_answered_in_turn() {
    let dovecot = Dovecot::start();
    let mut store = connect(&dovecot, TlsMode::Implicit);
    three_folders(&mut store);
    store.open_folder("A").unwrap();
    store.open_ahead("B", None);
    store.open_ahead("C", None);
    // B from its answer; listing it selects it again, as C came after.
    assert_eq!(store.open_folder("B").unwrap().exists, 2);
    assert_eq!(store.list_messages().unwrap().len(), 2);
    assert_eq!(store.open_folder("C").unwrap().exists, 3);
    assert_eq!(store.list_messages().unwrap().len(), 3);

    // A folder sent ahead may be passed over.
    store.open_ahead("A", None);
    store.open_ahead("B", None);
    assert_eq!(store.open_folder("B").unwrap().exists, 2);
    assert_eq!(store.list_messages().unwrap().len(), 2);
    store.logout().unwrap();
}

#[test]
fn other_commands_and_another_folder_may_come_between() {
    let dovecot = Dovecot::start();
    let mut store = connect(&dovecot, TlsMode::None);
    three_folders(&mut store);

    // A command of another kind before the opening: the answer sent ahead
    // is read out of its way, and the opening asks again.
    store.open_ahead("B", None);
    assert!(store.list_folders().unwrap().iter().any(|f| f.name == "C"));
    assert_eq!(store.open_folder("B").unwrap().exists, 2);
    assert_eq!(store.list_messages().unwrap().len(), 2);

    // Another folder opened than the one sent ahead: that folder it is.
    store.open_ahead("B", None);
    assert_eq!(store.open_folder("C").unwrap().exists, 3);
    assert_eq!(store.list_messages().unwrap().len(), 3);

    // A missing folder sent ahead fails when opened, naming it.
    store.open_ahead("Nowhere", None);
    let error = store.open_folder("Nowhere").unwrap_err().to_string();
    assert!(error.contains("\"Nowhere\""), "{error}");
    // The connection is still in step.
    assert_eq!(store.open_folder("A").unwrap().exists, 1);
    store.logout().unwrap();
}

#[test]
fn changes_since_the_last_sync_come_with_a_folder_opened_ahead() {
    let dovecot = Dovecot::start();
    let mut store = connect(&dovecot, TlsMode::None);
    three_folders(&mut store);
    let status = store.open_folder("B").unwrap();
    let listed = store.list_messages().unwrap();
    let known = (
        status.uidvalidity.unwrap(),
        status.highest_modseq.expect("Dovecot has CONDSTORE"),
    );

    // Another client flags a message of B.
    let mut other = connect(&dovecot, TlsMode::None);
    other.open_folder("B").unwrap();
    other
        .set_flags(&listed[1].id, Flags::SEEN, Flags::EMPTY)
        .unwrap();
    other.logout().unwrap();

    store.open_folder("A").unwrap();
    store.open_ahead("B", Some(known));
    store.open_folder_knowing("B", Some(known)).unwrap();
    let changes = store.changes_at_open(known.1).expect("QRESYNC changes");
    assert_eq!(changes.changed.len(), 1);
    assert_eq!(changes.changed[0].id, listed[1].id);
    assert_eq!(changes.changed[0].flags, Flags::SEEN);
    store.logout().unwrap();
}
