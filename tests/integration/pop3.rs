//! POP3 to Maildir through `mailferry sync`, against the real Dovecot that
//! serves the same account over IMAP (to put mail in and look) and POP3:
//! each message downloaded once, even across kill -9; leave_on_server,
//! delete_after_days and max_size; implicit TLS, STLS, every login method.

use super::common::{env, run_ok, stderr};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::imap_client::header_value;
use crate::support::local::{deliver, read_folder, LocalMessage};
use crate::support::mail::{sample_date, sample_message};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ABORT_AFTER: &str = "MAILFERRY_TEST_ABORT_AFTER_STEPS";

/// A `stores:` entry for `user`'s POP3 account. `tls` is implicit (POP3S
/// port), starttls (STLS on the plain port) or none; `extra` adds keys.
pub fn pop3_store_yaml(
    dovecot: &Dovecot,
    name: &str,
    user: &str,
    tls: &str,
    extra: &str,
) -> String {
    let (host, port) = match tls {
        "implicit" => ("localhost", dovecot.pop3s_port()),
        "starttls" => ("localhost", dovecot.pop3_port()),
        "none" => ("127.0.0.1", dovecot.pop3_port()),
        other => panic!("tls must be implicit, starttls or none, not {other:?}"),
    };
    let mut yaml = format!(
        "  {name}:\n    type: pop3\n    host: {host}\n    port: {port}\n    tls: {tls}\n\
         \x20   user: {user}\n    password: {}\n",
        dovecot.password(user)
    );
    if tls != "none" {
        yaml.push_str(&format!("    ca_file: {}\n", dovecot.ca_path().display()));
    }
    yaml.push_str(extra);
    yaml
}

/// Config with store `pop` (the POP3 account), store `local` (a Maildir)
/// and channel `mail` from one to the other.
fn write_pop_config(
    env: &mut TestEnv,
    dovecot: &Dovecot,
    user: &str,
    tls: &str,
    store_extra: &str,
    channel_extra: &str,
) -> PathBuf {
    let maildir = env.maildir();
    let yaml = format!(
        "stores:\n{pop}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: pop\n    near: local\n{channel_extra}\
         state_dir: {state}\n",
        pop = pop3_store_yaml(dovecot, "pop", user, tls, store_extra),
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
    maildir
}

/// Puts sample messages `seeds` into `user`'s INBOX with their own dates.
fn seed_inbox(dovecot: &Dovecot, user: &str, seeds: impl IntoIterator<Item = u64>) {
    let mut client = dovecot.client(user);
    for seed in seeds {
        client.append("INBOX", &sample_message(seed), &[], Some(sample_date(seed)));
    }
}

fn message_ids(messages: &[LocalMessage]) -> Vec<String> {
    let mut ids: Vec<String> = messages
        .iter()
        .map(|m| m.message_id().unwrap_or_default())
        .collect();
    ids.sort();
    ids
}

fn sample_ids(seeds: impl IntoIterator<Item = u64>) -> Vec<String> {
    let mut ids: Vec<String> = seeds
        .into_iter()
        .map(|seed| format!("<sample.{seed}@mailferry.test>"))
        .collect();
    ids.sort();
    ids
}

fn summary(env: &TestEnv) -> String {
    String::from_utf8_lossy(&run_ok(env, &["-v", "sync", "mail"]).stdout).into_owned()
}

fn inbox(maildir: &Path) -> Vec<LocalMessage> {
    read_folder(&maildir.join("INBOX"))
}

#[test]
fn downloads_each_message_once_and_new_mail_on_the_next_run() {
    let dovecot = Dovecot::start();
    seed_inbox(&dovecot, "alice", 1..=5);
    // A folder POP3 cannot see stays on the server.
    let mut client = dovecot.client("alice");
    client.create("Archive");
    client.append("Archive", &sample_message(90), &[], None);
    let mut env = env();
    let maildir = write_pop_config(&mut env, &dovecot, "alice", "implicit", "", "");

    let first = summary(&env);
    assert!(first.contains("to near: 5 new"), "{first}");
    let local = inbox(&maildir);
    assert_eq!(message_ids(&local), sample_ids(1..=5));
    let on_server = client.messages("INBOX");
    for message in &local {
        // Delivered mail: in new/, bytes as the server holds them with
        // LF line ends (the Maildir default), dated by the Date header.
        assert_eq!(message.subdir, "new", "{}", message.unique);
        let original = on_server
            .iter()
            .find(|m| m.message_id == message.message_id())
            .unwrap();
        assert_eq!(
            message.content,
            *mailferry::mail::with_lf(&original.content)
        );
        let date = header_value(&message.content, "Date").unwrap();
        let seed: u64 = message.message_id().unwrap()[8..9].parse().unwrap();
        assert_eq!(date, sample_date(seed).to_rfc2822());
        assert_eq!(message.mtime, sample_date(seed).timestamp());
    }
    assert_eq!(folders_of(&maildir), ["INBOX"]);

    let second = summary(&env);
    assert!(second.contains("to near: 0 new"), "{second}");
    assert_eq!(inbox(&maildir).len(), 5);

    seed_inbox(&dovecot, "alice", 6..=7);
    let third = summary(&env);
    assert!(third.contains("to near: 2 new"), "{third}");
    assert_eq!(message_ids(&inbox(&maildir)), sample_ids(1..=7));
    // leave_on_server is the default: the server still has everything.
    assert_eq!(client.count("INBOX"), 7);
}

fn folders_of(maildir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(maildir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn dots_eight_bit_bytes_and_line_ends_arrive_exactly() {
    let dovecot = Dovecot::start();
    let tricky: &[u8] = b"From: a@example.org\r\nMessage-ID: <dots@mailferry.test>\r\n\
        Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n\xc3\xa9t\xc3\xa9 \xff\r\n.\r\n";
    dovecot.client("alice").append("INBOX", tricky, &[], None);
    let mut env = env();
    let maildir = write_pop_config(&mut env, &dovecot, "alice", "starttls", "", "");
    run_ok(&env, &["sync", "mail"]);
    let local = inbox(&maildir);
    assert_eq!(local.len(), 1);
    // Every byte arrives; the line ends are the Maildir's (LF by default).
    assert_eq!(local[0].content, *mailferry::mail::with_lf(tricky));
}

#[test]
fn stls_and_every_login_method_work() {
    let dovecot = Dovecot::start_with(DovecotOptions {
        // APOP needs the mechanism enabled (the passwords are stored in
        // plain text, which APOP requires).
        extra_config: "auth_mechanisms = plain login apop\n".to_string(),
        ..DovecotOptions::default()
    });
    seed_inbox(&dovecot, "alice", 1..=2);
    for (tls, auth) in [
        ("starttls", ""),
        ("implicit", "    auth: user\n"),
        ("implicit", "    auth: plain\n"),
        ("starttls", "    auth: apop\n"),
        ("none", ""),
    ] {
        let mut env = env();
        write_pop_config(&mut env, &dovecot, "alice", tls, auth, "");
        let output = run_ok(&env, &["check"]);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("2 message(s)"), "{tls} {auth}: {text}");
        assert!(text.contains("UIDL"), "{tls} {auth}: {text}");
    }
}

#[test]
fn a_wrong_password_fails_clearly_and_downloads_nothing() {
    let dovecot = Dovecot::start();
    seed_inbox(&dovecot, "alice", 1..=2);
    let mut env = env();
    let maildir = env.maildir();
    let yaml = format!(
        "stores:\n{pop}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: pop\n    near: local\nstate_dir: {state}\n",
        pop = pop3_store_yaml(&dovecot, "pop", "alice", "implicit", "")
            .replace("password: alice-pw", "password: s3cr3t-guess"),
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
    let output = env.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "login to localhost:{} as alice failed",
            dovecot.pop3s_port()
        )),
        "{message}"
    );
    assert!(
        !message.contains("s3cr3t-guess"),
        "the password is printed: {message}"
    );
    assert!(message.contains("password is wrong"), "{message}");
    assert!(inbox(&maildir).is_empty());
}

#[test]
fn leave_on_server_false_empties_the_server_once_the_mail_is_stored() {
    let dovecot = Dovecot::start();
    seed_inbox(&dovecot, "alice", 1..=4);
    let mut env = env();
    let maildir = write_pop_config(
        &mut env,
        &dovecot,
        "alice",
        "implicit",
        "    leave_on_server: false\n",
        "",
    );
    let first = summary(&env);
    assert!(first.contains("to near: 4 new"), "{first}");
    assert!(
        first.contains("to far: 0 new, 0 flag changes, 4 deleted"),
        "{first}"
    );
    assert_eq!(dovecot.client("alice").count("INBOX"), 0);
    assert_eq!(message_ids(&inbox(&maildir)), sample_ids(1..=4));

    seed_inbox(&dovecot, "alice", 5..=5);
    let second = summary(&env);
    assert!(second.contains("to near: 1 new"), "{second}");
    assert_eq!(dovecot.client("alice").count("INBOX"), 0);
    assert_eq!(message_ids(&inbox(&maildir)), sample_ids(1..=5));
}

#[test]
fn delete_after_days_removes_only_mail_downloaded_long_enough_ago() {
    let dovecot = Dovecot::start();
    seed_inbox(&dovecot, "alice", 1..=4);
    let mut env = env();
    let maildir = write_pop_config(
        &mut env,
        &dovecot,
        "alice",
        "implicit",
        "    delete_after_days: 30\n",
        "",
    );
    // Messages 1 and 2 were delivered into this Maildir in 2020 (by an
    // older setup); 3 and 4 are downloaded now.
    for (seed, time) in [(1, 1_600_000_000), (2, 1_600_000_100)] {
        deliver(
            &maildir.join("INBOX"),
            &format!("{time}.M1P1Q{seed}.oldhost"),
            &sample_message(seed),
        );
    }
    let first = summary(&env);
    assert!(first.contains("to near: 2 new"), "{first}");
    assert!(first.contains("2 deleted"), "{first}");
    let mut client = dovecot.client("alice");
    let left: BTreeSet<String> = client
        .messages("INBOX")
        .into_iter()
        .filter_map(|m| m.message_id)
        .collect();
    assert_eq!(left, sample_ids(3..=4).into_iter().collect());
    assert_eq!(message_ids(&inbox(&maildir)), sample_ids(1..=4));

    // Deleting a local copy marks it done with: it leaves the server too.
    let local = inbox(&maildir);
    let three = local
        .iter()
        .find(|m| m.message_id().as_deref() == Some("<sample.3@mailferry.test>"))
        .unwrap();
    std::fs::remove_file(&three.path).unwrap();
    summary(&env);
    summary(&env);
    assert_eq!(client.count("INBOX"), 1);
    assert_eq!(message_ids(&inbox(&maildir)), sample_ids([1, 2, 4]));
}

#[test]
fn max_size_skips_large_messages_and_reports_them() {
    let dovecot = Dovecot::start();
    seed_inbox(&dovecot, "alice", 1..=3);
    let mut client = dovecot.client("alice");
    let big = format!(
        "Message-ID: <big@mailferry.test>\r\nSubject: big\r\n\r\n{}\r\n",
        "x".repeat(60 * 1024)
    );
    client.append("INBOX", big.as_bytes(), &[], None);
    let mut env = env();
    let maildir = write_pop_config(
        &mut env,
        &dovecot,
        "alice",
        "implicit",
        "",
        "    max_size: 40k\n",
    );
    let first = summary(&env);
    assert!(first.contains("to near: 3 new"), "{first}");
    assert!(first.contains("1 skipped"), "{first}");
    assert_eq!(message_ids(&inbox(&maildir)), sample_ids(1..=3));
    let plan = run_ok(&env, &["sync", "mail", "--dry-run"]);
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains("max_size"), "{plan}");
}

#[test]
fn content_hash_identity_downloads_each_message_once() {
    let dovecot = Dovecot::start();
    seed_inbox(&dovecot, "alice", 1..=3);
    let mut env = env();
    let maildir = write_pop_config(
        &mut env,
        &dovecot,
        "alice",
        "implicit",
        "    uidl: content-hash\n",
        "",
    );
    assert!(summary(&env).contains("to near: 3 new"));
    assert!(summary(&env).contains("to near: 0 new"));
    assert_eq!(message_ids(&inbox(&maildir)), sample_ids(1..=3));
}

/// kill -9 after every journaled step k of a download that also empties
/// the server: the next run completes it with each message exactly once
/// in the Maildir and nothing left on the server.
#[test]
fn a_download_killed_at_any_step_resumes_without_duplicates_or_losses() {
    const MESSAGES: u64 = 4;
    const MAX_POINTS: usize = 20;
    let users: Vec<(String, String)> = (0..MAX_POINTS)
        .map(|k| (format!("k{k}"), format!("k{k}-pw")))
        .collect();
    let dovecot = Dovecot::start_with(DovecotOptions {
        users,
        ..DovecotOptions::default()
    });
    let mut points = 0;
    for k in 0..MAX_POINTS {
        let user = format!("k{k}");
        seed_inbox(&dovecot, &user, 1..=MESSAGES);
        let mut env = env();
        let maildir = write_pop_config(
            &mut env,
            &dovecot,
            &user,
            "implicit",
            "    leave_on_server: false\n",
            "",
        );
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
            "step {k}: expected a kill, got {output:?}"
        );
        // Killed before QUIT: the server deleted nothing.
        assert_eq!(
            dovecot.client(&user).count("INBOX"),
            MESSAGES as u32,
            "step {k}"
        );
        points += 1;
        run_ok(&env, &["sync", "mail"]);
        let local = inbox(&maildir);
        assert_eq!(
            message_ids(&local),
            sample_ids(1..=MESSAGES),
            "killed after step {k}"
        );
        assert_eq!(
            dovecot.client(&user).count("INBOX"),
            0,
            "killed after step {k}"
        );
        run_ok(&env, &["sync", "mail"]);
        assert_eq!(
            inbox(&maildir).len(),
            MESSAGES as usize,
            "killed after step {k}"
        );
    }
    // Each copy is three steps: pending, paired, resolved.
    assert!(
        points >= 3 * MESSAGES as usize,
        "only {points} interruption points"
    );
    assert!(points < MAX_POINTS, "raise MAX_POINTS");
    eprintln!("pop3 crash test: {points} interruption points");
}

#[test]
fn a_certificate_that_does_not_verify_is_refused_on_both_tls_modes() {
    let dovecot = Dovecot::start();
    for tls in ["implicit", "starttls"] {
        let mut env = env();
        write_pop_config(&mut env, &dovecot, "alice", tls, "", "");
        let config = env.xdg_config_home().join("mailferry").join("config.yaml");
        let yaml = std::fs::read_to_string(&config).unwrap().replace(
            &dovecot.ca_path().display().to_string(),
            &dovecot.untrusted_ca_path().display().to_string(),
        );
        env.write_config(&yaml);
        let output = env.run(&["sync", "mail"]);
        assert_eq!(output.status.code(), Some(1), "{tls}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("does not verify"),
            "{tls}: {}",
            stderr(&output)
        );
        assert!(!env.maildir().join("INBOX").exists(), "{tls}");
    }
}
