//! Crash safety against the real server: a two-way sync with copies, flag
//! changes and deletions on both sides is aborted (as by `kill -9`) after
//! its k-th journaled step, for every k, then run again. Every time, the
//! result equals the uninterrupted one: nothing lost, nothing twice. The
//! same for a sync of changes made on the server alone, whose plans need
//! only the Maildir and are carried out by the worker's helper thread.

use super::common::{
    assert_no_duplicates, env, local_view, run_ok, server_view, write_config_for, Modseq, Variant,
};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::{deliver, read_folder, set_letters};
use crate::support::mail::{sample_date, sample_message};
use std::fs;
use std::path::PathBuf;

/// The environment variable of mailferry's crash hook.
const ABORT_AFTER: &str = "MAILFERRY_TEST_ABORT_AFTER_STEPS";
const FOLDERS: [&str; 2] = ["INBOX", "Archive"];
const MAX_POINTS: usize = 80;

fn local_message(n: usize) -> Vec<u8> {
    format!(
        "From: laptop@mailferry.test\r\nMessage-ID: <local.{n}@mailferry.test>\r\n\
         Subject: written locally {n}\r\n\r\nbody {n}\r\n"
    )
    .into_bytes()
}

/// Sets up the scenario for `user` and returns its device: after a first
/// clean sync, changes on both sides are waiting for the next sync.
fn scenario(dovecot: &Dovecot, user: &str, variant: Variant) -> (TestEnv, PathBuf, ImapTestClient) {
    let mut server = dovecot.client(user);
    server.create("Archive");
    let mut inbox_uids = Vec::new();
    for seed in 0..6 {
        inbox_uids.push(server.append(
            "INBOX",
            &sample_message(seed),
            &[],
            Some(sample_date(seed)),
        ));
    }
    server.append(
        "Archive",
        &sample_message(50),
        &["\\Seen"],
        Some(sample_date(50)),
    );
    let mut env = env();
    let maildir = env.maildir();
    write_config_for(&mut env, dovecot, user, &maildir, variant);
    run_ok(&env, &["sync", "mail"]);

    // Local: two new messages, one read, one deleted, one flagged deleted.
    let inbox = maildir.join("INBOX");
    deliver(&inbox, "1700000000.local1.test", &local_message(1));
    deliver(
        &maildir.join("Archive"),
        "1700000000.local2.test",
        &local_message(2),
    );
    let local = read_folder(&inbox);
    let by_id = |seed: u64| {
        local
            .iter()
            .find(|m| m.message_id().as_deref() == Some(&format!("<sample.{seed}@mailferry.test>")))
            .unwrap()
            .clone()
    };
    set_letters(&by_id(0), "S");
    fs::remove_file(by_id(1).path).unwrap();
    set_letters(&by_id(2), "T");
    // Server: new mail, a flag, an expunge.
    for seed in 10..13 {
        server.append(
            "INBOX",
            &sample_message(seed),
            &["\\Flagged"],
            Some(sample_date(seed)),
        );
    }
    server.add_flags("INBOX", inbox_uids[3], &["\\Answered"]);
    server.expunge_uid("INBOX", inbox_uids[4]);
    (env, maildir, server)
}

/// Like [`scenario`], with changes made on the server alone after the
/// first sync: flags set, a message expunged. Each folder's plan then
/// needs nothing from the server (the Maildir's side is carried out apart,
/// while the next folder is opened ahead).
fn server_changes_only(
    dovecot: &Dovecot,
    user: &str,
    variant: Variant,
) -> (TestEnv, PathBuf, ImapTestClient) {
    let mut server = dovecot.client(user);
    server.create("Archive");
    let mut uids = Vec::new();
    for seed in 0..6 {
        uids.push(server.append("INBOX", &sample_message(seed), &[], Some(sample_date(seed))));
    }
    let archived = server.append("Archive", &sample_message(50), &[], Some(sample_date(50)));
    let mut env = env();
    let maildir = env.maildir();
    write_config_for(&mut env, dovecot, user, &maildir, variant);
    run_ok(&env, &["sync", "mail"]);

    for &uid in &uids[..3] {
        server.add_flags("INBOX", uid, &["\\Answered"]);
    }
    server.add_flags("Archive", archived, &["\\Seen"]);
    server.expunge_uid("INBOX", uids[4]);
    (env, maildir, server)
}

fn views(maildir: &std::path::Path, server: &mut ImapTestClient) -> Vec<Vec<(String, String)>> {
    let mut all = Vec::new();
    for folder in FOLDERS {
        let on_server = server_view(server, folder);
        let local = local_view(&maildir.join(folder));
        assert_no_duplicates(&on_server, folder);
        assert_eq!(local, on_server, "{folder}: Maildir and server differ");
        all.push(on_server);
    }
    all
}

#[test]
fn sync_aborted_after_every_step_resumes_to_the_uninterrupted_result() {
    aborted_syncs_resume(Variant {
        modseq: Modseq::Qresync,
        connections: 4,
    });
}

#[test]
fn aborted_syncs_resume_with_qresync_on_one_connection() {
    aborted_syncs_resume(Variant {
        modseq: Modseq::Qresync,
        connections: 1,
    });
}

#[test]
fn aborted_syncs_resume_with_condstore_only_on_four_connections() {
    aborted_syncs_resume(Variant {
        modseq: Modseq::CondstoreOnly,
        connections: 4,
    });
}

#[test]
fn aborted_syncs_resume_without_condstore_or_qresync_on_four_connections() {
    aborted_syncs_resume(Variant {
        modseq: Modseq::Neither,
        connections: 4,
    });
}

#[test]
fn aborted_syncs_resume_without_condstore_or_qresync_on_one_connection() {
    aborted_syncs_resume(Variant {
        modseq: Modseq::Neither,
        connections: 1,
    });
}

#[test]
fn aborted_syncs_of_server_changes_carried_out_apart_resume() {
    for modseq in [Modseq::Qresync, Modseq::Neither] {
        let variant = Variant {
            modseq,
            connections: 1,
        };
        let points = resume_after_every_step(variant, server_changes_only, |expected| {
            // 6 - 1 expunged in the INBOX, three of them answered.
            assert_eq!(expected[0].len(), 5, "{:?}", expected[0]);
            let answered = expected[0].iter().filter(|(_, flags)| flags.contains('R'));
            assert_eq!(answered.count(), 3, "{:?}", expected[0]);
            assert_eq!(expected[1].len(), 1, "{:?}", expected[1]);
        });
        assert!(points >= 3, "{modseq:?}: only {points} interruption points");
    }
}

/// Aborts the scenario's second sync after each step in turn and checks
/// that a plain sync then reaches the uninterrupted result.
fn aborted_syncs_resume(variant: Variant) {
    let points = resume_after_every_step(variant, scenario, |expected| {
        // The scenario's changes are all there: 6 - 1 deleted - 1 flagged
        // deleted - 1 expunged + 3 new + 1 local in the INBOX.
        assert_eq!(expected[0].len(), 7, "{:?}", expected[0]);
        assert_eq!(expected[1].len(), 2, "{:?}", expected[1]);
    });
    assert!(
        points >= 10,
        "only {points} interruption points were reached"
    );
    eprintln!(
        "crash test ({variant:?}): {points} interruption points, each resumed to the same result"
    );
}

/// The environment, Maildir and server client of a scenario for a user.
type Scenario = fn(&Dovecot, &str, Variant) -> (TestEnv, PathBuf, ImapTestClient);

/// Runs `scenario`'s second sync aborted after its k-th step, for each k
/// until a run gets through, checking each time that a plain sync then
/// reaches the uninterrupted result (which `check` looks at first).
/// Returns how many steps were aborted after.
fn resume_after_every_step(
    variant: Variant,
    scenario: Scenario,
    check: impl Fn(&[Vec<(String, String)>]),
) -> usize {
    let users: Vec<(String, String)> = std::iter::once("reference".to_string())
        .chain((0..MAX_POINTS).map(|k| format!("k{k}")))
        .map(|user| (user.clone(), format!("{user}-pw")))
        .collect();
    let dovecot = Dovecot::start_with(variant.dovecot_options(DovecotOptions {
        users,
        ..DovecotOptions::default()
    }));

    let (env, maildir, mut server) = scenario(&dovecot, "reference", variant);
    run_ok(&env, &["sync", "mail"]);
    let expected = views(&maildir, &mut server);
    check(&expected);

    let mut points = 0;
    for k in 0..MAX_POINTS {
        let (env, maildir, mut server) = scenario(&dovecot, &format!("k{k}"), variant);
        let output = env
            .command()
            .env(ABORT_AFTER, k.to_string())
            .args(["sync", "mail"])
            .output()
            .unwrap();
        if output.status.success() {
            break;
        }
        assert_eq!(
            output.status.code(),
            None,
            "step {k}: expected an abort, got {output:?}"
        );
        points += 1;
        run_ok(&env, &["sync", "mail"]);
        assert_eq!(
            views(&maildir, &mut server),
            expected,
            "aborted after step {k}"
        );
    }
    assert!(
        points < MAX_POINTS,
        "the scenario has more steps than users: raise MAX_POINTS"
    );
    points
}
