//! A channel between two IMAP accounts (mbsync's IMAP-to-IMAP, imapsync
//! both ways): alice's account is the far side, bob's the near side, on one
//! Dovecot. New messages, folders, flags and deletions go both ways, and a
//! second sync has nothing to do.

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
