//! The first slice of mailferry: pulling an IMAP account into a Maildir
//! that mutt can read, then pulling only what is new.

use super::common::{env, local_view, run_ok, server_view, stderr, write_config};
use crate::support::dovecot::Dovecot;
use crate::support::local::{letters_for, read_folder};
use crate::support::mail::{sample_date, sample_message};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Appends sample messages: (folder, seed, flags).
fn seed(dovecot: &Dovecot, user: &str, messages: &[(&str, u64, &[&str])]) {
    let mut client = dovecot.client(user);
    for (folder, seed, flags) in messages {
        if *folder != "INBOX" && !client.folders().iter().any(|f| f == folder) {
            client.create(folder);
        }
        client.append(
            folder,
            &sample_message(*seed),
            flags,
            Some(sample_date(*seed)),
        );
    }
}

/// Every file below `root` with its size and mtime: what "changes no file"
/// is checked against.
fn snapshot(root: &Path) -> BTreeMap<String, (u64, i64)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                let mtime = meta
                    .modified()
                    .unwrap()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as i64;
                files.insert(entry.path().display().to_string(), (meta.len(), mtime));
            }
        }
    }
    files
}

#[test]
fn first_sync_pulls_every_folder_with_flags_dates_and_content() {
    let dovecot = Dovecot::start();
    seed(
        &dovecot,
        "alice",
        &[
            ("INBOX", 1, &["\\Seen"]),
            ("INBOX", 2, &["\\Flagged", "\\Answered"]),
            ("INBOX", 3, &[]),
            ("Work/Projects", 4, &["\\Seen", "$Forwarded"]),
            ("Work/Projects", 5, &["\\Draft"]),
            ("With Space", 6, &["\\Seen"]),
        ],
    );
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    run_ok(&env, &["sync", "mail"]);

    let mut client = dovecot.client("alice");
    for folder in ["INBOX", "Work/Projects", "With Space"] {
        let server = client.messages(folder);
        let local = read_folder(&maildir.join(folder));
        assert_eq!(local.len(), server.len(), "message count of {folder}");
        for message in &server {
            let copy = local
                .iter()
                // Byte for byte but the line ends, written LF by default.
                .find(|l| l.content == *mailferry::mail::with_lf(&message.content))
                .unwrap_or_else(|| {
                    panic!(
                        "{folder}: server UID {} not pulled byte for byte (LF line ends)",
                        message.uid
                    )
                });
            assert_eq!(
                copy.letters,
                letters_for(&message.flags),
                "flags in {folder}"
            );
            assert_eq!(
                copy.mtime, message.internal_date,
                "mtime = INTERNALDATE in {folder}"
            );
            // Unread mail with no flags is "new" to a mail reader.
            let expected_subdir = if message.flags.is_empty() {
                "new"
            } else {
                "cur"
            };
            assert_eq!(copy.subdir, expected_subdir);
        }
    }
    // The server was only read: nothing was marked read by the pull.
    assert!(!client
        .messages("INBOX")
        .iter()
        .any(|m| m.uid == 3 && m.has_flag("\\Seen")));
}

#[test]
fn second_sync_pulls_nothing_and_changes_no_file_then_new_mail_is_pulled() {
    let dovecot = Dovecot::start();
    seed(
        &dovecot,
        "alice",
        &[
            ("INBOX", 10, &["\\Seen"]),
            ("INBOX", 11, &[]),
            ("Lists/rust", 12, &[]),
        ],
    );
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    run_ok(&env, &["sync", "mail"]);
    let before = snapshot(&maildir);

    run_ok(&env, &["sync", "mail"]);
    assert_eq!(
        snapshot(&maildir),
        before,
        "a second sync changed local files"
    );

    seed(
        &dovecot,
        "alice",
        &[("INBOX", 13, &["\\Flagged"]), ("Lists/rust", 14, &[])],
    );
    run_ok(&env, &["sync", "mail"]);
    let after = snapshot(&maildir);
    assert_eq!(
        after.len(),
        before.len() + 2,
        "exactly the two new messages arrive"
    );
    for (path, meta) in &before {
        assert_eq!(after.get(path), Some(meta), "{path} changed");
    }
    let mut client = dovecot.client("alice");
    assert_eq!(
        local_view(&maildir.join("INBOX")),
        server_view(&mut client, "INBOX")
    );
    assert_eq!(
        local_view(&maildir.join("Lists/rust")),
        server_view(&mut client, "Lists/rust")
    );
}

#[test]
fn quiet_success_under_cron_prints_nothing() {
    let dovecot = Dovecot::start();
    seed(&dovecot, "alice", &[("INBOX", 20, &[])]);
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    let output = run_ok(&env, &["sync", "--all"]);
    assert!(
        output.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.stderr.is_empty(), "stderr: {}", stderr(&output));
    // -q keeps it silent too, and -v asks for the summary.
    seed(&dovecot, "alice", &[("INBOX", 21, &[])]);
    let output = run_ok(&env, &["-q", "sync", "--all"]);
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "-q printed {output:?}"
    );
    let verbose = run_ok(&env, &["-v", "sync", "--all"]);
    assert!(!verbose.stdout.is_empty(), "-v printed no summary");
}

#[test]
fn wrong_password_fails_with_one_clear_line_and_status_1() {
    let dovecot = Dovecot::start();
    let mut env = env();
    let maildir = env.maildir();
    let config = write_config(&mut env, &dovecot, "alice", &maildir, "");
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace("alice-pw", "wrong-pw");
    fs::write(&config, text).unwrap();
    let output = env.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("login refused"), "{message}");
    assert!(
        !message.contains("wrong-pw"),
        "the password leaked: {message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(!maildir.exists(), "nothing may be written on failure");
}

#[test]
fn certificate_that_does_not_verify_fails_clearly() {
    let dovecot = Dovecot::start();
    let mut env = env();
    let maildir = env.maildir();
    let config = write_config(&mut env, &dovecot, "alice", &maildir, "");
    let text = fs::read_to_string(&config).unwrap().replace(
        &dovecot.ca_path().display().to_string(),
        &dovecot.untrusted_ca_path().display().to_string(),
    );
    fs::write(&config, text).unwrap();
    let output = env.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("does not verify"), "{message}");
    assert!(message.contains("ca_file"), "{message}");
}

#[test]
fn config_errors_exit_2_naming_file_line_and_key() {
    let mut env = env();
    let config = env.write_config("stores:\n  a:\n    type: imap\n    hots: x\n");
    let output = env.run(&["sync", "--all"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("{}:4", config.display())),
        "{message}"
    );
    assert!(message.contains("hots"), "{message}");
}

#[test]
fn missing_config_exits_2_and_says_where_it_looked() {
    let env = env();
    let output = env.run(&["sync", "--all"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("config"), "{}", stderr(&output));
}
