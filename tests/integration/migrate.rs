//! `mailferry migrate` against the real Dovecot: a POP3 account (user A)
//! moved onto an IMAP account (user B) that already holds some of the same
//! mail, with dates kept, nothing twice, resumable after kill -9; and a
//! Maildir moved onto IMAP with its folders and flags.

use super::common::{env, run_ok, stderr};
use super::pop3::pop3_store_yaml;
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::deliver;
use crate::support::mail::{sample_date, sample_message};

const ABORT_AFTER: &str = "MAILFERRY_TEST_ABORT_AFTER_STEPS";

/// Stores `pop` (POP3 of `source`), `server` (IMAP of `target`) and
/// `local` (a Maildir).
fn write_config(env: &mut TestEnv, dovecot: &Dovecot, source: &str, target: &str) {
    let yaml = format!(
        "stores:\n{pop}{server}  local:\n    type: maildir\n    path: {maildir}\nstate_dir: {state}\n",
        pop = pop3_store_yaml(dovecot, "pop", source, "implicit", ""),
        server = dovecot.imap_store_yaml("server", target, "implicit"),
        maildir = env.maildir().display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
}

fn seed(client: &mut ImapTestClient, folder: &str, seeds: &[u64], flags: &[&str]) {
    for &seed in seeds {
        client.append(
            folder,
            &sample_message(seed),
            flags,
            Some(sample_date(seed)),
        );
    }
}

fn stdout(env: &TestEnv, args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(env, args).stdout).into_owned()
}

/// (Message-ID, INTERNALDATE) of every message, sorted; panics on a
/// message held twice.
fn held(client: &mut ImapTestClient, folder: &str) -> Vec<(String, i64)> {
    let mut held: Vec<(String, i64)> = client
        .messages(folder)
        .into_iter()
        .map(|m| (m.message_id.unwrap_or_default(), m.internal_date))
        .collect();
    held.sort();
    let mut ids: Vec<&String> = held.iter().map(|(id, _)| id).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        held.len(),
        "a message is held twice in {folder}: {held:?}"
    );
    held
}

fn expected(seeds: impl IntoIterator<Item = u64>) -> Vec<(String, i64)> {
    let mut expected: Vec<(String, i64)> = seeds
        .into_iter()
        .map(|seed| {
            (
                format!("<sample.{seed}@mailferry.test>"),
                sample_date(seed).timestamp(),
            )
        })
        .collect();
    expected.sort();
    expected
}

#[test]
fn pop3_to_imap_copies_what_is_missing_with_dates_and_a_second_run_copies_nothing() {
    let dovecot = Dovecot::start();
    seed(
        &mut dovecot.client("alice"),
        "INBOX",
        &[1, 2, 3, 4, 5, 6, 7, 8],
        &[],
    );
    // B got three of them through another client already, and has one of
    // its own.
    let mut bob = dovecot.client("bob");
    seed(&mut bob, "INBOX", &[2, 5], &["\\Seen"]);
    seed(&mut bob, "INBOX", &[7, 40], &[]);
    let mut env = env();
    write_config(&mut env, &dovecot, "alice", "bob");

    let plan = stdout(&env, &["migrate", "pop", "server", "--dry-run"]);
    assert!(
        plan.contains("INBOX: 8 message(s): 5 to copy, 3 already there, 0 skipped, 0 failed"),
        "{plan}"
    );
    assert_eq!(plan.matches("  copy ").count(), 5, "{plan}");
    assert_eq!(bob.count("INBOX"), 4, "a dry run copied something");

    let first = stdout(&env, &["migrate", "pop", "server"]);
    assert!(
        first.contains("INBOX: 8 message(s): 5 copied, 3 already there, 0 skipped, 0 failed"),
        "{first}"
    );
    // One copy of each, dated by its Date header (POP3 has no
    // INTERNALDATE); B's own copies keep their flags.
    assert_eq!(
        held(&mut bob, "INBOX"),
        expected([1, 2, 3, 4, 5, 6, 7, 8, 40])
    );
    let seen: Vec<String> = bob
        .messages("INBOX")
        .into_iter()
        .filter(|m| m.has_flag("\\Seen"))
        .filter_map(|m| m.message_id)
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");

    let second = stdout(&env, &["migrate", "pop", "server"]);
    assert!(
        second.contains("INBOX: 8 message(s): 0 copied, 8 already there"),
        "{second}"
    );
    assert_eq!(bob.count("INBOX"), 9);
    // The source is untouched without --delete-source.
    assert_eq!(dovecot.client("alice").count("INBOX"), 8);
}

#[test]
fn delete_source_removes_only_what_the_target_verifiably_holds() {
    let dovecot = Dovecot::start();
    let mut alice = dovecot.client("alice");
    seed(&mut alice, "INBOX", &[1, 2, 3, 4], &[]);
    let big = format!(
        "Message-ID: <big@mailferry.test>\r\nSubject: big\r\n\r\n{}\r\n",
        "x".repeat(60 * 1024)
    );
    alice.append("INBOX", big.as_bytes(), &[], None);
    let mut env = env();
    write_config(&mut env, &dovecot, "alice", "bob");

    let output = stdout(
        &env,
        &[
            "migrate",
            "pop",
            "server:Old/POP",
            "--delete-source",
            "--max-size",
            "40k",
        ],
    );
    assert!(
        output.contains(
            "INBOX -> Old/POP: 5 message(s): 4 copied, 0 already there, 1 skipped, 0 failed"
        ),
        "{output}"
    );
    assert!(output.contains("over max_size"), "{output}");
    assert!(
        output.contains("deleted 4 message(s) from the source"),
        "{output}"
    );
    let mut bob = dovecot.client("bob");
    assert_eq!(held(&mut bob, "Old/POP"), expected(1..=4));
    assert_eq!(bob.count("INBOX"), 0);
    // Only the skipped message is left on the POP3 server.
    let left: Vec<Option<String>> = alice
        .messages("INBOX")
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(left, [Some("<big@mailferry.test>".to_string())]);

    let again = stdout(
        &env,
        &[
            "migrate",
            "pop",
            "server:Old/POP",
            "--delete-source",
            "--max-size",
            "40k",
        ],
    );
    assert!(
        again.contains("1 message(s): 0 copied, 0 already there, 1 skipped"),
        "{again}"
    );
    assert_eq!(bob.count("Old/POP"), 4);
}

#[test]
fn a_migration_killed_at_any_step_resumes_without_duplicates() {
    const MAX_POINTS: usize = 24;
    let mut users = vec![("alice".to_string(), "alice-pw".to_string())];
    users.extend((0..MAX_POINTS).map(|k| (format!("b{k}"), format!("b{k}-pw"))));
    let dovecot = Dovecot::start_with(DovecotOptions {
        users,
        ..DovecotOptions::default()
    });
    let source_seeds = [1, 2, 3, 4, 5, 6];
    seed(&mut dovecot.client("alice"), "INBOX", &source_seeds, &[]);
    let mut points = 0;
    for k in 0..MAX_POINTS {
        let target = format!("b{k}");
        let mut bob = dovecot.client(&target);
        seed(&mut bob, "INBOX", &[3, 5], &[]);
        let mut env = env();
        write_config(&mut env, &dovecot, "alice", &target);
        let output = env
            .command()
            .env(ABORT_AFTER, k.to_string())
            .args(["migrate", "pop", "server"])
            .output()
            .unwrap();
        if output.status.success() {
            break;
        }
        assert_eq!(
            output.status.code(),
            None,
            "step {k}: expected a kill, got {}",
            stderr(&output)
        );
        points += 1;
        let resumed = stdout(&env, &["migrate", "pop", "server"]);
        assert!(resumed.contains("INBOX: 6 message(s): "), "{resumed}");
        assert!(resumed.contains("0 failed"), "{resumed}");
        assert_eq!(
            held(&mut bob, "INBOX"),
            expected(source_seeds),
            "killed after step {k}"
        );
        let third = stdout(&env, &["migrate", "pop", "server"]);
        assert!(third.contains("0 copied, 6 already there"), "{third}");
    }
    // Two pairs found by content, then three steps for each of four copies.
    assert!(points >= 12, "only {points} interruption points");
    assert!(points < MAX_POINTS, "raise MAX_POINTS");
    eprintln!("migrate crash test: {points} interruption points");
}

#[test]
fn a_maildir_moves_onto_imap_with_all_its_folders_and_flags() {
    let dovecot = Dovecot::start();
    let mut env = env();
    write_config(&mut env, &dovecot, "alice", "bob");
    let maildir = env.maildir();
    deliver(
        &maildir.join("INBOX"),
        "1700000000.a.test",
        &sample_message(1),
    );
    let read = deliver(
        &maildir.join("INBOX"),
        "1700000001.b.test",
        &sample_message(2),
    );
    std::fs::create_dir_all(maildir.join("INBOX/cur")).unwrap();
    std::fs::rename(&read, maildir.join("INBOX/cur/1700000001.b.test:2,S")).unwrap();
    let work = deliver(
        &maildir.join("Work"),
        "1700000002.c.test",
        &sample_message(3),
    );
    std::fs::rename(&work, maildir.join("Work/cur/1700000002.c.test:2,FS")).unwrap();

    let output = stdout(&env, &["migrate", "local", "server", "--all-folders"]);
    assert!(output.contains("INBOX: 2 message(s): 2 copied"), "{output}");
    assert!(output.contains("Work: 1 message(s): 1 copied"), "{output}");
    let mut bob = dovecot.client("bob");
    let flags = |messages: Vec<crate::support::imap_client::ServerMessage>| {
        let mut flags: Vec<(String, Vec<String>)> = messages
            .into_iter()
            .map(|m| (m.message_id.unwrap_or_default(), m.flags))
            .collect();
        flags.sort();
        flags
    };
    assert_eq!(
        flags(bob.messages("INBOX")),
        [
            ("<sample.1@mailferry.test>".to_string(), vec![]),
            (
                "<sample.2@mailferry.test>".to_string(),
                vec!["\\Seen".to_string()]
            ),
        ]
    );
    assert_eq!(
        flags(bob.messages("Work")),
        [(
            "<sample.3@mailferry.test>".to_string(),
            vec!["\\Flagged".to_string(), "\\Seen".to_string()]
        )]
    );
    let again = stdout(&env, &["migrate", "local", "server", "--all-folders"]);
    assert!(
        again.contains("INBOX: 2 message(s): 0 copied, 2 already there"),
        "{again}"
    );
}

#[test]
fn migrating_into_a_pop3_store_is_refused_as_a_usage_error() {
    let dovecot = Dovecot::start();
    let mut env = env();
    write_config(&mut env, &dovecot, "alice", "bob");
    let output = env.run(&["migrate", "server", "pop"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("can only be read"),
        "{}",
        stderr(&output)
    );
}

/// A POP3 connection cut in the middle of a RETR during a migration is
/// retried on a new session, as a sync retries it (issue 15): the run
/// finishes, and every message is on the target once.
#[test]
fn a_pop3_connection_cut_during_a_migration_is_retried_and_nothing_is_copied_twice() {
    use crate::support::proxy::{Fault, FaultProxy};
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    let mut total_bytes = 0;
    let mut expected = Vec::new();
    for seed in 0..300 {
        let message = sample_message(seed);
        total_bytes += message.len();
        expected.push(
            crate::support::imap_client::header_value(&message, "Message-ID").unwrap_or_default(),
        );
        client.append("INBOX", &message, &[], Some(sample_date(seed)));
    }
    expected.sort();
    let proxy = FaultProxy::start(dovecot.pop3_port(), Fault::CutAfter(total_bytes * 3 / 4));
    let mut env = env();
    let pop = pop3_store_yaml(&dovecot, "pop", "alice", "none", "").replace(
        &format!("port: {}", dovecot.pop3_port()),
        &format!("port: {}", proxy.port()),
    );
    env.write_config(&format!(
        "stores:\n{pop}{bob}state_dir: {state}\n",
        bob = dovecot.imap_store_yaml("bob", "bob", "implicit"),
        state = env.root().join("state").display(),
    ));

    let output = run_ok(&env, &["-v", "migrate", "pop", "bob"]);
    let err = stderr(&output);
    assert_eq!(proxy.cuts(), 1, "{err}");
    assert!(err.contains("trying again in 1 s (1 of 3)"), "{err}");
    let mut bob = dovecot.client("bob");
    let mut held: Vec<String> = bob
        .messages("INBOX")
        .into_iter()
        .map(|m| m.message_id.unwrap_or_default())
        .collect();
    held.sort();
    assert_eq!(held, expected, "lost or doubled messages on the target");
}
