//! `mailferry dedupe` on planted duplicates, on the real Dovecot over IMAP
//! and in a local Maildir: reported without --apply, removed with it down
//! to exactly one copy of each message, the kept one carrying every flag.

use super::common::{env, local_view, run_ok};
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::deliver;
use crate::support::mail::sample_message;

const NO_MESSAGE_ID: &[u8] = b"From: a@example.org\r\nSubject: no id\r\n\r\nsame body\r\n";

fn write_config(env: &mut TestEnv, dovecot: &Dovecot) {
    let yaml = format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\nstate_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", "alice", "implicit"),
        maildir = env.maildir().display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
}

fn stdout(env: &TestEnv, args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(env, args).stdout).into_owned()
}

/// (Message-ID or subject, flags) of every message, sorted.
fn server_view(client: &mut ImapTestClient, folder: &str) -> Vec<(String, Vec<String>)> {
    let mut view: Vec<(String, Vec<String>)> = client
        .messages(folder)
        .into_iter()
        .map(|m| (m.message_id.unwrap_or_else(|| "no id".to_string()), m.flags))
        .collect();
    view.sort();
    view
}

#[test]
fn duplicates_on_imap_are_reported_then_removed_down_to_one_copy_each() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    // INBOX: message 1 three times with different flags, 2 once, 3 twice,
    // a message without Message-ID twice: 8 messages, 4 duplicates.
    for flags in [&[][..], &["\\Seen"], &["\\Flagged", "\\Answered"]] {
        client.append("INBOX", &sample_message(1), flags, None);
    }
    client.append("INBOX", &sample_message(2), &[], None);
    client.append("INBOX", &sample_message(3), &[], None);
    client.append("INBOX", &sample_message(3), &["\\Seen"], None);
    client.append("INBOX", NO_MESSAGE_ID, &[], None);
    client.append("INBOX", NO_MESSAGE_ID, &[], None);
    // The same message in another folder is no duplicate.
    client.create("Archive");
    client.append("Archive", &sample_message(1), &[], None);
    let mut env = env();
    write_config(&mut env, &dovecot);

    let report = stdout(&env, &["dedupe", "server"]);
    assert!(
        report.contains("server:INBOX: 8 message(s), 4 duplicate(s) of 3 message(s)"),
        "{report}"
    );
    assert!(
        report.contains("<sample.1@mailferry.test> (3 copies)"),
        "{report}"
    );
    assert!(report.contains("run again with --apply"), "{report}");
    assert!(!report.contains("Archive"), "{report}");
    assert_eq!(client.count("INBOX"), 8, "a report removed something");

    let applied = stdout(&env, &["dedupe", "server", "--apply"]);
    assert!(
        applied.contains("4 duplicate(s) in 1 folder(s), 4 removed"),
        "{applied}"
    );
    let strings = |flags: &[&str]| flags.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    assert_eq!(
        server_view(&mut client, "INBOX"),
        [
            (
                "<sample.1@mailferry.test>".to_string(),
                strings(&["\\Answered", "\\Flagged", "\\Seen"])
            ),
            ("<sample.2@mailferry.test>".to_string(), vec![]),
            (
                "<sample.3@mailferry.test>".to_string(),
                strings(&["\\Seen"])
            ),
            ("no id".to_string(), vec![]),
        ]
    );
    assert_eq!(client.count("Archive"), 1);
    assert!(stdout(&env, &["dedupe", "server:INBOX"]).contains("no duplicates"));
}

#[test]
fn duplicates_in_a_maildir_are_removed_and_the_last_copy_always_stays() {
    let dovecot = Dovecot::start();
    let mut env = env();
    write_config(&mut env, &dovecot);
    let inbox = env.maildir().join("INBOX");
    deliver(&inbox, "1700000001.a.test", &sample_message(1));
    let flagged = deliver(&inbox, "1700000002.b.test", &sample_message(1));
    std::fs::create_dir_all(inbox.join("cur")).unwrap();
    std::fs::rename(&flagged, inbox.join("cur/1700000002.b.test:2,FS")).unwrap();
    // The same message with LF line ends, as a local tool writes it.
    let lf = String::from_utf8(sample_message(1))
        .unwrap()
        .replace("\r\n", "\n");
    deliver(&inbox, "1700000003.c.test", lf.as_bytes());
    deliver(&inbox, "1700000004.d.test", &sample_message(2));
    // A folder holding nothing but two copies of one message.
    let pair = env.maildir().join("Pair");
    deliver(&pair, "1700000005.e.test", NO_MESSAGE_ID);
    deliver(&pair, "1700000006.f.test", NO_MESSAGE_ID);

    let report = stdout(&env, &["dedupe", "local"]);
    assert!(
        report.contains("local:INBOX: 4 message(s), 2 duplicate(s) of 1 message(s)"),
        "{report}"
    );
    assert!(
        report.contains("keep 1700000002.b.test (flags FS)"),
        "{report}"
    );
    assert!(
        report.contains("local:Pair: 2 message(s), 1 duplicate(s) of 1 message(s)"),
        "{report}"
    );

    let applied = stdout(&env, &["dedupe", "local:INBOX", "local:Pair", "--apply"]);
    assert!(
        applied.contains("3 duplicate(s) in 2 folder(s), 3 removed"),
        "{applied}"
    );
    assert_eq!(
        local_view(&inbox),
        [
            ("<sample.1@mailferry.test>".to_string(), "FS".to_string()),
            ("<sample.2@mailferry.test>".to_string(), String::new()),
        ]
    );
    let left = crate::support::local::read_folder(&pair);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].unique, "1700000005.e.test");
    // Nothing more to do, and nothing more is removed.
    let again = stdout(&env, &["dedupe", "local", "--apply"]);
    assert!(
        again.contains("0 duplicate(s) in 0 folder(s), 0 removed"),
        "{again}"
    );
    assert_eq!(crate::support::local::read_folder(&pair).len(), 1);
}

/// A one-time-code mail: every code gives the same Message-ID and size.
fn code_mail(code: &str) -> Vec<u8> {
    format!(
        "From: bank@example.org\r\nMessage-ID: <otp@bank.example>\r\nSubject: Your code\r\n\
         \r\nYour code is {code}\r\n"
    )
    .into_bytes()
}

#[test]
fn look_alikes_on_imap_are_reported_and_kept_while_true_copies_go() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    // Two look-alike twins, the first also as a true copy, and sample 1
    // twice: 5 messages, 2 copies to remove.
    client.append("INBOX", &code_mail("771204"), &[], None);
    client.append("INBOX", &code_mail("482913"), &["\\Seen"], None);
    client.append("INBOX", &code_mail("771204"), &["\\Flagged"], None);
    client.append("INBOX", &sample_message(1), &[], None);
    client.append("INBOX", &sample_message(1), &[], None);
    let mut env = env();
    write_config(&mut env, &dovecot);

    let report = stdout(&env, &["dedupe", "server:INBOX"]);
    assert!(
        report.contains("server:INBOX: 5 message(s), 2 duplicate(s) of 2 message(s)"),
        "{report}"
    );
    assert!(
        report.contains("<otp@bank.example> (2 messages): look-alikes"),
        "{report}"
    );
    let applied = stdout(&env, &["dedupe", "server:INBOX", "--apply"]);
    assert!(
        applied.contains("2 duplicate(s) in 1 folder(s), 2 removed"),
        "{applied}"
    );
    let mut left: Vec<String> = client
        .messages("INBOX")
        .iter()
        .map(|m| String::from_utf8_lossy(&m.content).into_owned())
        .collect();
    left.sort();
    let mut expected: Vec<String> = [code_mail("482913"), code_mail("771204"), sample_message(1)]
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    expected.sort();
    assert_eq!(left, expected, "both twins stay, one copy of each");
    let again = stdout(&env, &["dedupe", "server:INBOX", "--apply"]);
    assert!(again.contains("0 removed"), "{again}");
    assert_eq!(client.count("INBOX"), 3);
}

#[test]
fn look_alikes_in_a_maildir_are_kept_while_true_copies_go() {
    let dovecot = Dovecot::start();
    let mut env = env();
    write_config(&mut env, &dovecot);
    let inbox = env.maildir().join("INBOX");
    deliver(&inbox, "1700000001.a.test", &code_mail("771204"));
    deliver(&inbox, "1700000002.b.test", &code_mail("482913"));
    // A true copy of the second twin, with LF line ends.
    let lf = String::from_utf8(code_mail("482913"))
        .unwrap()
        .replace("\r\n", "\n");
    deliver(&inbox, "1700000003.c.test", lf.as_bytes());

    let applied = stdout(&env, &["dedupe", "local:INBOX", "--apply"]);
    assert!(
        applied.contains("1 duplicate(s) in 1 folder(s), 1 removed"),
        "{applied}"
    );
    assert!(applied.contains("look-alikes"), "{applied}");
    let mut left: Vec<String> = crate::support::local::read_folder(&inbox)
        .iter()
        .map(|m| m.unique.clone())
        .collect();
    left.sort();
    assert_eq!(left, ["1700000001.a.test", "1700000002.b.test"]);
}
