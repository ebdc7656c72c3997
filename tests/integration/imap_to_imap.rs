//! A channel between two IMAP accounts (mbsync's IMAP-to-IMAP, imapsync
//! both ways): alice's account is the far side, bob's the near side, on one
//! Dovecot. New messages, folders, flags and deletions go both ways, and a
//! second sync has nothing to do; a sync of two devices' worth of changes
//! killed (as by kill -9) after any journaled step resumes to the
//! uninterrupted result; folders left settled are skipped with both sides
//! on a server, and a change on either side is still noticed.

use super::common::{env, run_ok, server_view, stderr};
use crate::support::dovecot::Dovecot;
use crate::support::mail::{message_with, sample_date, sample_message};

#[test]
fn two_imap_accounts_are_kept_in_step_both_ways() {
    let dovecot = Dovecot::start();
    let mut alice = dovecot.client("alice");
    let mut bob = dovecot.client("bob");
    alice.create("Work");
    for seed in 0..5u64 {
        let folder = if seed < 3 { "INBOX" } else { "Work" };
        let flags: &[&str] = if seed == 0 { &["\\Seen"] } else { &[] };
        alice.append(
            folder,
            &sample_message(seed),
            flags,
            Some(sample_date(seed)),
        );
    }
    bob.append(
        "INBOX",
        &message_with("filed by bob", "hello"),
        &["\\Flagged"],
        None,
    );

    let mut device = env();
    let yaml = format!(
        "stores:\n{far}{near}channels:\n  mail:\n    far: alice\n    near: bob\n\
         state_dir: {state}\n",
        far = dovecot.imap_store_yaml("alice", "alice", "implicit"),
        near = dovecot.imap_store_yaml("bob", "bob", "implicit"),
        state = device.root().join("state").display(),
    );
    device.write_config(&yaml);
    let in_step = |alice: &mut _, bob: &mut _| {
        for folder in ["INBOX", "Work"] {
            assert_eq!(
                server_view(alice, folder),
                server_view(bob, folder),
                "{folder} differs"
            );
        }
    };

    run_ok(&device, &["sync", "mail"]);
    in_step(&mut alice, &mut bob);
    assert_eq!(server_view(&mut bob, "INBOX").len(), 4);
    assert_eq!(server_view(&mut bob, "Work").len(), 2);

    // Flags changed on bob's side, a message deleted on alice's.
    let bob_first = bob.messages("INBOX")[0].uid;
    bob.add_flags("INBOX", bob_first, &["\\Answered"]);
    let alice_first = alice.messages("Work")[0].uid;
    alice.expunge_uid("Work", alice_first);
    run_ok(&device, &["sync", "mail"]);
    in_step(&mut alice, &mut bob);
    assert_eq!(server_view(&mut bob, "Work").len(), 1);

    let dry = run_ok(&device, &["sync", "mail", "--dry-run"]);
    let plan = String::from_utf8_lossy(&dry.stdout);
    assert!(
        plan.lines().all(|line| line.ends_with("nothing to do")),
        "{plan}\n{}",
        stderr(&dry)
    );
}

/// The environment variable of mailferry's crash hook.
const ABORT_AFTER: &str = "MAILFERRY_TEST_ABORT_AFTER_STEPS";
const MAX_POINTS: usize = 60;
const FOLDERS: [&str; 2] = ["INBOX", "Work"];

/// A device syncing account `far` (far side) with account `near` (near
/// side) on one Dovecot.
fn two_account_device(dovecot: &Dovecot, far: &str, near: &str) -> crate::support::env::TestEnv {
    let mut device = env();
    let yaml = format!(
        "stores:\n{far_store}{near_store}channels:\n  mail:\n    far: far\n    near: near\n\
         state_dir: {state}\n",
        far_store = dovecot.imap_store_yaml("far", far, "implicit"),
        near_store = dovecot.imap_store_yaml("near", near, "implicit"),
        state = device.root().join("state").display(),
    );
    device.write_config(&yaml);
    device
}

/// Both accounts' folders, as a user compares them.
fn both_views(
    far: &mut crate::support::imap_client::ImapTestClient,
    near: &mut crate::support::imap_client::ImapTestClient,
) -> Vec<Vec<(String, String)>> {
    let mut all = Vec::new();
    for folder in FOLDERS {
        let on_far = server_view(far, folder);
        let on_near = server_view(near, folder);
        super::common::assert_no_duplicates(&on_far, folder);
        assert_eq!(on_far, on_near, "{folder}: the two accounts differ");
        all.push(on_far);
    }
    all
}

/// A message with a Message-ID of its own that is the same in every
/// scenario, so that views of two scenarios compare.
fn fixed_message(name: &str) -> Vec<u8> {
    format!(
        "From: bob@mailferry.test\r\nMessage-ID: <{name}@mailferry.test>\r\n\
         Subject: {name}\r\n\r\nwritten by bob\r\n"
    )
    .into_bytes()
}

/// After a first sync of the two accounts: on each, a new message, a flag
/// set and a message expunged, waiting for the next sync.
fn two_device_changes(
    dovecot: &Dovecot,
    k: &str,
) -> (
    crate::support::env::TestEnv,
    crate::support::imap_client::ImapTestClient,
    crate::support::imap_client::ImapTestClient,
) {
    let (far_user, near_user) = (format!("far{k}"), format!("near{k}"));
    let mut far = dovecot.client(&far_user);
    let mut near = dovecot.client(&near_user);
    far.create("Work");
    for seed in 0..6u64 {
        let folder = if seed < 4 { "INBOX" } else { "Work" };
        far.append(folder, &sample_message(seed), &[], Some(sample_date(seed)));
    }
    near.append("INBOX", &fixed_message("filed-on-near"), &[], None);
    let device = two_account_device(dovecot, &far_user, &near_user);
    run_ok(&device, &["sync", "mail"]);

    let far_inbox = far.messages("INBOX");
    far.add_flags("INBOX", far_inbox[0].uid, &["\\Flagged"]);
    far.expunge_uid("INBOX", far_inbox[1].uid);
    far.append(
        "Work",
        &sample_message(20),
        &["\\Seen"],
        Some(sample_date(20)),
    );
    let uid_of = |near: &mut crate::support::imap_client::ImapTestClient, folder, seed| {
        near.messages(folder)
            .into_iter()
            .find(|m| m.message_id == Some(format!("<sample.{seed}@mailferry.test>")))
            .unwrap()
            .uid
    };
    let answered = uid_of(&mut near, "INBOX", 2);
    near.add_flags("INBOX", answered, &["\\Seen", "\\Answered"]);
    let expunged = uid_of(&mut near, "INBOX", 3);
    near.expunge_uid("INBOX", expunged);
    near.append("INBOX", &fixed_message("written-on-near"), &[], None);
    let deleted = uid_of(&mut near, "Work", 4);
    near.add_flags("Work", deleted, &["\\Deleted"]);
    (device, far, near)
}

#[test]
fn an_imap_to_imap_sync_killed_after_any_step_resumes_to_the_uninterrupted_result() {
    let users = std::iter::once("ref".to_string())
        .chain((0..MAX_POINTS).map(|k| k.to_string()))
        .flat_map(|k| [format!("far{k}"), format!("near{k}")])
        .map(|user| (user.clone(), format!("{user}-pw")))
        .collect();
    let dovecot = Dovecot::start_with(crate::support::dovecot::DovecotOptions {
        users,
        ..Default::default()
    });
    let (device, mut far, mut near) = two_device_changes(&dovecot, "ref");
    run_ok(&device, &["sync", "mail"]);
    let expected = both_views(&mut far, &mut near);
    // 5 - 1 expunged on far - 1 expunged on near + 1 new on near; Work:
    // 2 + 1 new on far - 1 flagged deleted and expunged.
    assert_eq!(expected[0].len(), 4, "{:?}", expected[0]);
    assert_eq!(expected[1].len(), 2, "{:?}", expected[1]);

    let mut points = 0;
    for k in 0..MAX_POINTS {
        let (device, mut far, mut near) = two_device_changes(&dovecot, &k.to_string());
        let output = device
            .command()
            .env(ABORT_AFTER, k.to_string())
            .args(["sync", "mail"])
            .output()
            .unwrap();
        if output.status.success() {
            break;
        }
        assert_eq!(output.status.code(), None, "step {k}: {output:?}");
        points += 1;
        run_ok(&device, &["sync", "mail"]);
        assert_eq!(
            both_views(&mut far, &mut near),
            expected,
            "killed after step {k}"
        );
    }
    assert!(points < MAX_POINTS, "raise MAX_POINTS");
    assert!(points >= 6, "only {points} interruption points");
    eprintln!("IMAP to IMAP: killed after each of {points} steps, resumed to the same result");
}

#[test]
fn settled_folders_are_skipped_when_both_sides_are_imap_and_changes_still_get_through() {
    let dovecot = Dovecot::start();
    let mut alice = dovecot.client("alice");
    let mut bob = dovecot.client("bob");
    alice.create("Work");
    for seed in 0..4u64 {
        let folder = if seed < 3 { "INBOX" } else { "Work" };
        alice.append(folder, &sample_message(seed), &[], Some(sample_date(seed)));
    }
    let device = two_account_device(&dovecot, "alice", "bob");
    run_ok(&device, &["sync", "mail"]);
    run_ok(&device, &["sync", "mail"]);
    let log = stderr(&run_ok(&device, &["-v", "sync", "mail"]));
    for folder in FOLDERS {
        assert!(
            log.contains(&format!(
                "folder {folder}: unchanged since the last sync, skipped"
            )),
            "{folder} was not skipped:\n{log}"
        );
    }
    // A change on the near account is noticed: that folder is synced, the
    // other still skipped.
    let bob_work = bob.messages("Work");
    bob.add_flags("Work", bob_work[0].uid, &["\\Flagged"]);
    let log = stderr(&run_ok(&device, &["-v", "sync", "mail"]));
    assert!(
        !log.contains("folder Work: unchanged since the last sync, skipped"),
        "{log}"
    );
    assert!(
        log.contains("folder INBOX: unchanged since the last sync, skipped"),
        "{log}"
    );
    assert_eq!(
        server_view(&mut alice, "Work"),
        server_view(&mut bob, "Work")
    );
    assert!(server_view(&mut alice, "Work")[0].1.contains('F'));
}
