//! `mailferry search` against a real Dovecot (IMAP SEARCH) and against the
//! Maildir a sync made of the same account (local scan): each criterion
//! finds the planted messages and only them, on both kinds of store.

use super::common::{env, run_ok, write_config};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::local::read_folder;
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeSet;

/// A planted message: where, its subject (the identity the tests compare),
/// and how it is built.
pub(super) struct Planted {
    pub(super) folder: &'static str,
    pub(super) from: &'static str,
    pub(super) to: &'static str,
    /// As written in the header (RFC 2047 where non-ASCII).
    pub(super) subject_header: &'static str,
    /// As a search result shows it, decoded.
    pub(super) subject: &'static str,
    pub(super) body: String,
    pub(super) flags: &'static [&'static str],
    pub(super) date: &'static str,
}

pub(super) fn planted() -> Vec<Planted> {
    vec![
        Planted {
            folder: "INBOX",
            from: "Alice Adams <alice@example.org>",
            to: "Me <me@example.org>",
            subject_header: "Invoice March",
            subject: "Invoice March",
            body: "The payment is due on Friday.\r\n".into(),
            flags: &["\\Flagged"],
            date: "2024-03-10T09:00:00+01:00",
        },
        Planted {
            folder: "INBOX",
            from: "=?UTF-8?Q?B=C3=B6b_B=C3=A4cker?= <bob@example.org>",
            to: "Me <me@example.org>",
            subject_header: "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=",
            subject: "Grüße aus Köln",
            body: "Der Käsekuchen war hervorragend.\r\n".into(),
            flags: &["\\Seen"],
            date: "2024-06-01T12:00:00+02:00",
        },
        Planted {
            folder: "INBOX",
            from: "Carol <carol@example.org>",
            to: "Me <me@example.org>",
            subject_header: "Big attachment",
            subject: "Big attachment",
            body: "filler line for a large message\r\n".repeat(6000),
            flags: &["\\Answered"],
            date: "2024-09-01T08:00:00+00:00",
        },
        Planted {
            folder: "INBOX",
            from: "Erin <erin@example.org>",
            to: "Me <me@example.org>",
            subject_header: "Lunch",
            subject: "Lunch",
            body: "Noodles at noon?\r\n".into(),
            flags: &[],
            date: "2023-12-01T11:00:00+00:00",
        },
        Planted {
            folder: "Work",
            from: "Dave <dave@example.org>",
            to: "Team <team@example.org>",
            subject_header: "Invoice April",
            subject: "Invoice April",
            body: "Draft of the April invoice.\r\n".into(),
            flags: &["\\Draft"],
            date: "2024-04-15T10:00:00+00:00",
        },
    ]
}

pub(super) fn content(p: &Planted) -> Vec<u8> {
    let charset = if p.body.is_ascii() {
        "us-ascii"
    } else {
        "utf-8"
    };
    format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}@search.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{}",
        p.from,
        p.to,
        p.subject_header,
        DateTime::parse_from_rfc3339(p.date).unwrap().to_rfc2822(),
        p.subject.replace(' ', "."),
        p.body
    )
    .into_bytes()
}

/// A Dovecot with the planted messages, a config with stores `server` and
/// `local`, and the local Maildir synced from the server.
fn setup() -> (Dovecot, TestEnv) {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create("Work");
    client.create("Empty");
    for p in planted() {
        let date: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(p.date).unwrap();
        client.append(p.folder, &content(&p), p.flags, Some(date));
    }
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    run_ok(&env, &["sync", "mail"]);
    (dovecot, env)
}

pub(super) fn search_json(env: &TestEnv, targets: &[&str], query: &str) -> Vec<serde_json::Value> {
    let mut args = vec!["search", "--json"];
    args.extend_from_slice(targets);
    args.push(query);
    let output = run_ok(env, &args);
    serde_json::from_slice(&output.stdout).unwrap()
}

pub(super) fn subjects(found: &[serde_json::Value]) -> BTreeSet<String> {
    found
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_string())
        .collect()
}

pub(super) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Each criterion, its combinations, and the subjects it must find.
pub(super) const CASES: &[(&str, &[&str])] = &[
    ("from:alice", &["Invoice March"]),
    ("from:bäcker", &["Grüße aus Köln"]),
    ("to:team", &["Invoice April"]),
    ("subject:invoice", &["Invoice March", "Invoice April"]),
    ("subject:köln", &["Grüße aus Köln"]),
    ("subject:\"GRÜSSE\"", &[]),
    ("body:käsekuchen", &["Grüße aus Köln"]),
    ("body:payment", &["Invoice March"]),
    ("text:noodles", &["Lunch"]),
    ("text:erin", &["Lunch"]),
    ("since:2024-05-01", &["Grüße aus Köln", "Big attachment"]),
    ("before:2024-01-01", &["Lunch"]),
    ("larger:100k", &["Big attachment"]),
    (
        "smaller:100k",
        &["Invoice March", "Grüße aus Köln", "Lunch", "Invoice April"],
    ),
    ("flagged", &["Invoice March"]),
    ("seen", &["Grüße aus Köln"]),
    (
        "unseen",
        &["Invoice March", "Big attachment", "Lunch", "Invoice April"],
    ),
    ("answered", &["Big attachment"]),
    ("draft", &["Invoice April"]),
    ("subject:invoice not draft", &["Invoice March"]),
    (
        "from:alice or from:böb",
        &["Invoice March", "Grüße aus Köln"],
    ),
    (
        "(from:alice or from:carol) larger:100k",
        &["Big attachment"],
    ),
    ("not (unseen or flagged)", &["Grüße aus Köln"]),
];

#[test]
fn every_criterion_finds_the_planted_messages_and_only_them_on_server_and_maildir() {
    let (_dovecot, env) = setup();
    for store in ["server", "local"] {
        for (query, expected) in CASES {
            let found = search_json(&env, &[store], query);
            assert_eq!(
                subjects(&found),
                set(expected),
                "store {store}, query {query:?}"
            );
        }
    }
}

#[test]
fn folders_can_be_named_and_json_has_every_field() {
    let (dovecot, env) = setup();
    let found = search_json(&env, &["server:Work", "server:Empty"], "subject:invoice");
    assert_eq!(subjects(&found), set(&["Invoice April"]));
    let m = &found[0];
    assert_eq!(m["store"], "server");
    assert_eq!(m["folder"], "Work");
    assert_eq!(m["from"], "Dave <dave@example.org>");
    assert_eq!(m["flags"], "D");
    assert_eq!(m["date"], "2024-04-15T10:00:00Z");
    assert_eq!(m["message_id"], "<Invoice.April@search.test>");
    assert!(m["size"].as_u64().unwrap() > 100);
    assert!(m["id"].as_str().unwrap().parse::<u32>().is_ok());

    // Two stores at once; the local one names its folder the same way.
    let both = search_json(&env, &["server:INBOX", "local:INBOX"], "from:alice");
    let places: BTreeSet<String> = both
        .iter()
        .map(|m| format!("{}:{}", m["store"], m["folder"]))
        .collect();
    assert_eq!(
        places,
        set(&["\"local\":\"INBOX\"", "\"server\":\"INBOX\""])
    );

    // Plain output: one tab-separated line per match.
    let output = run_ok(&env, &["search", "server", "flagged or draft"]);
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0].split('\t').collect::<Vec<_>>(),
        vec![
            "server:INBOX",
            "2024-03-10 08:00",
            "Alice Adams <alice@example.org>",
            "Invoice March",
            "F",
            &content(&planted()[0]).len().to_string(),
        ]
    );
    assert!(lines[1].starts_with("server:Work\t"), "{text}");

    // Searching marks nothing read.
    let mut client = dovecot.client("alice");
    let unseen = client
        .messages("INBOX")
        .iter()
        .filter(|m| !m.has_flag("\\Seen"))
        .count();
    assert_eq!(unseen, 3);
}

#[test]
fn a_bad_query_exits_2_and_points_at_the_word() {
    let (_dovecot, env) = setup();
    let output = env.run(&["search", "server", "from:alice form:bob"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown criterion \"form:\""), "{stderr}");
    assert!(
        stderr.contains("  from:alice form:bob\n             ^^^^^^^^"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let output = env.run(&["search", "server", "since:yesterday"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("YYYY-MM-DD"));

    let output = env.run(&["search", "nosuchstore", "seen"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn fetch_copies_the_matches_into_a_maildir_without_marking_them_read() {
    let (dovecot, env) = setup();
    let target = env.root().join("found");
    let target_arg = target.display().to_string();
    let found = search_json(
        &env,
        &["--fetch", &target_arg, "server"],
        "unseen smaller:100k",
    );
    assert_eq!(
        subjects(&found),
        set(&["Invoice March", "Lunch", "Invoice April"])
    );
    let inbox = read_folder(&target.join("INBOX"));
    let work = read_folder(&target.join("Work"));
    assert_eq!((inbox.len(), work.len()), (2, 1));
    let planted = planted();
    let march = inbox
        .iter()
        .find(|m| m.content == *mailferry::mail::with_lf(&content(&planted[0])))
        .expect("Invoice March fetched byte for byte, with LF line ends");
    assert_eq!(march.letters, "F");
    assert_eq!(work[0].letters, "D");
    let mut client = dovecot.client("alice");
    assert!(client.messages("INBOX").iter().all(|m| m.has_flag("\\Seen")
        == (m.message_id.as_deref() == Some("<Grüße.aus.Köln@search.test>"))));
}

#[test]
fn without_literal_plus_non_ascii_goes_quoted_and_dovecot_still_finds_it() {
    let dovecot = Dovecot::start_with(DovecotOptions {
        imap_capability: Some("IMAP4rev1 IDLE NAMESPACE UIDPLUS".to_string()),
        ..DovecotOptions::default()
    });
    let mut client = dovecot.client("alice");
    assert!(!client.has_capability("LITERAL+"));
    client.create("Work");
    for p in planted() {
        let date: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(p.date).unwrap();
        client.append(p.folder, &content(&p), p.flags, Some(date));
    }
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    let found = search_json(&env, &["server"], "subject:köln or body:käsekuchen");
    assert_eq!(subjects(&found), set(&["Grüße aus Köln"]));
}
