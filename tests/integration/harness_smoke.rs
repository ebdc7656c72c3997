//! Proof that the test harness works: a real Dovecot starts, stores what the
//! test client appends with the right flags, dates and content, shows flag
//! changes and expunges, runs beside another instance, and serves TLS with
//! the harness certificate.

use crate::support::dovecot::{Dovecot, DovecotOptions, ServerLayout};
use crate::support::env::TestEnv;
use crate::support::imap_client::{header_value, ImapTestClient};
use crate::support::mail::{message_with, sample_date, sample_message};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const FOLDERS: [&str; 3] = ["INBOX", "Work/Projects", "With Space"];

#[test]
fn appended_messages_read_back_with_flags_dates_and_content() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create("Work/Projects");
    client.create("With Space");
    let flag_sets: [&[&str]; 3] = [&[], &["\\Seen"], &["$Forwarded", "\\Flagged", "\\Seen"]];

    for (folder_index, folder) in FOLDERS.iter().enumerate() {
        let mut expected = Vec::new();
        for (i, flags) in flag_sets.iter().enumerate() {
            let seed = (folder_index * 10 + i) as u64;
            let content = sample_message(seed);
            let date = sample_date(seed);
            let uid = client.append(folder, &content, flags, Some(date));
            expected.push((uid, *flags, date.timestamp(), content));
        }

        let messages = client.messages(folder);
        assert_eq!(messages.len(), 3, "messages in {folder}");
        for (message, (uid, flags, date, content)) in messages.iter().zip(&expected) {
            assert_eq!(message.uid, *uid, "{folder}: UID from APPEND");
            assert_eq!(message.flags, *flags, "{folder} UID {uid}: flags");
            assert_eq!(message.internal_date, *date, "{folder} UID {uid}: date");
            assert_eq!(message.size as usize, content.len(), "{folder} UID {uid}");
            assert!(message.content == *content, "{folder} UID {uid}: content");
            assert_eq!(message.message_id, header_value(content, "Message-ID"));
        }
    }

    let folders = client.folders();
    for folder in FOLDERS.iter().chain(&["Work"]) {
        assert!(
            folders.contains(&folder.to_string()),
            "{folder} in {folders:?}"
        );
    }
    let server_maildir = dovecot.user_maildir("alice");
    assert!(server_maildir.join("Work/Projects/cur").is_dir());
    assert!(server_maildir.join("With Space/cur").is_dir());
}

#[test]
fn flag_changes_and_expunges_show_in_the_next_listing() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    let first = client.append("INBOX", &message_with("one", "first"), &["\\Seen"], None);
    let second = client.append("INBOX", &message_with("two", "second"), &[], None);
    let third = client.append("INBOX", &message_with("three", "third"), &[], None);

    client.add_flags("INBOX", second, &["\\Flagged", "\\Answered", "$Label1"]);
    client.remove_flags("INBOX", first, &["\\Seen"]);
    client.expunge_uid("INBOX", third);

    // A second connection sees what the first one changed.
    let messages = dovecot.client("alice").messages("INBOX");
    let uids: Vec<u32> = messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [first, second]);
    assert!(messages[0].flags.is_empty(), "{:?}", messages[0].flags);
    assert_eq!(messages[1].flags, ["$Label1", "\\Answered", "\\Flagged"]);
}

#[test]
fn two_dovecots_run_side_by_side_with_separate_mail() {
    let first = Dovecot::start();
    let second = Dovecot::start();
    assert_ne!(first.imap_port(), second.imap_port());

    first
        .client("alice")
        .append("INBOX", &message_with("only on the first", "x"), &[], None);

    assert_eq!(first.client("alice").count("INBOX"), 1);
    assert_eq!(second.client("alice").count("INBOX"), 0);
    assert_eq!(second.client("bob").count("INBOX"), 0);
}

#[test]
fn tls_ports_present_the_harness_certificate() {
    let dovecot = Dovecot::start();

    let imaps_greeting = tls_greeting(dovecot.imaps_port(), &dovecot.ca_path())
        .unwrap_or_else(|e| panic!("IMAPS with the harness CA: {e}"));
    assert!(imaps_greeting.starts_with("* OK"), "{imaps_greeting}");
    let pop3s_greeting = tls_greeting(dovecot.pop3s_port(), &dovecot.ca_path())
        .unwrap_or_else(|e| panic!("POP3S with the harness CA: {e}"));
    assert!(pop3s_greeting.starts_with("+OK"), "{pop3s_greeting}");

    let untrusted = tls_greeting(dovecot.imaps_port(), &dovecot.untrusted_ca_path());
    assert!(
        untrusted.is_err(),
        "a certificate that did not sign the server's must not verify: {untrusted:?}"
    );
}

#[test]
fn wrong_passwords_are_refused_at_once_and_without_penalty() {
    let dovecot = Dovecot::start();
    for attempt in 1..=3 {
        let started = Instant::now();
        let login = ImapTestClient::try_login(dovecot.imap_port(), "alice", "wrong");
        assert!(login.is_err(), "attempt {attempt}");
        // Dovecot's defaults would make this 2 s, then 4, 8 ...
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "attempt {attempt} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(dovecot.client("alice").count("INBOX"), 0);
}

#[test]
fn maildir_plus_plus_layout_and_reduced_capabilities_are_configurable() {
    let dovecot = Dovecot::start_with(DovecotOptions {
        layout: ServerLayout::MaildirPlusPlus,
        imap_capability: Some("IMAP4rev1 LITERAL+ IDLE NAMESPACE".to_string()),
        ..DovecotOptions::default()
    });
    let mut client = dovecot.client("alice");
    assert!(!client.has_capability("UIDPLUS"));
    assert!(!client.has_capability("CONDSTORE"));

    client.create("Work/Projects");
    let uid = client.append("Work/Projects", &message_with("dots", "x"), &[], None);

    let uids: Vec<u32> = client
        .messages("Work/Projects")
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(uids, [uid]);
    assert!(dovecot
        .user_maildir("alice")
        .join(".Work.Projects/cur")
        .is_dir());
}

#[test]
fn without_tls_only_plain_ports_listen_and_no_starttls_is_offered() {
    let dovecot = Dovecot::start_with(DovecotOptions {
        tls: false,
        ..DovecotOptions::default()
    });
    assert_eq!((dovecot.imaps_port(), dovecot.pop3s_port()), (0, 0));

    let stream = TcpStream::connect(("127.0.0.1", dovecot.imap_port())).unwrap();
    let mut greeting = String::new();
    BufReader::new(stream).read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    assert!(!greeting.contains("STARTTLS"), "{greeting}");
    assert_eq!(dovecot.client("alice").count("INBOX"), 0);
}

#[test]
fn restart_keeps_ports_and_mail() {
    let mut dovecot = Dovecot::start();
    let port = dovecot.imap_port();
    let uid = dovecot
        .client("bob")
        .append("INBOX", &message_with("kept", "x"), &["\\Seen"], None);

    dovecot.restart();

    assert_eq!(dovecot.imap_port(), port);
    let messages = ImapTestClient::login(port, "bob", "bob-pw").messages("INBOX");
    assert_eq!(messages.len(), 1);
    assert_eq!(
        (messages[0].uid, messages[0].flags.clone()),
        (uid, vec!["\\Seen".to_string()])
    );
}

#[test]
fn imap_store_yaml_names_this_server_and_its_ca() {
    let dovecot = Dovecot::start();
    let yaml = format!(
        "stores:\n{}{}",
        dovecot.imap_store_yaml("tls", "alice", "implicit"),
        dovecot.imap_store_yaml("plain", "bob", "none")
    );
    let parsed: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let tls = &parsed["stores"]["tls"];
    assert_eq!(tls["host"].as_str(), Some("localhost"));
    assert_eq!(tls["port"].as_u64(), Some(u64::from(dovecot.imaps_port())));
    assert_eq!(
        tls["ca_file"].as_str().map(PathBuf::from),
        Some(dovecot.ca_path())
    );
    assert_eq!(tls["password"].as_str(), Some("alice-pw"));
    let plain = &parsed["stores"]["plain"];
    assert_eq!(plain["host"].as_str(), Some("127.0.0.1"));
    assert_eq!(plain["port"].as_u64(), Some(u64::from(dovecot.imap_port())));
    assert!(plain["ca_file"].is_null());
}

#[test]
fn test_env_gives_the_program_its_own_home_and_config() {
    // `env` prints the environment it was given.
    let mut env = TestEnv::new(PathBuf::from("/usr/bin/env"));
    let config = env.write_config("stores: {}\n");

    let output = env.run::<&str>(&[]);
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let var = |name: &str| {
        printed
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .map(PathBuf::from)
    };
    assert_eq!(var("MAILFERRY_CONFIG"), Some(config));
    assert_eq!(var("HOME"), Some(env.home()));
    assert_eq!(var("XDG_CONFIG_HOME"), Some(env.xdg_config_home()));
    assert_eq!(var("XDG_STATE_HOME"), Some(env.xdg_state_home()));
    assert!(env.maildir().starts_with(env.root()));
}

/// The first line the server sends over TLS to `localhost`, trusting only `ca`.
fn tls_greeting(port: u16, ca: &std::path::Path) -> Result<String, String> {
    let pem = std::fs::read(ca).unwrap();
    let connector = native_tls::TlsConnector::builder()
        .disable_built_in_roots(true)
        .add_root_certificate(native_tls::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = connector
        .connect("localhost", stream)
        .map_err(|e| e.to_string())?;
    let mut greeting = String::new();
    BufReader::new(&mut tls)
        .read_line(&mut greeting)
        .map_err(|e| e.to_string())?;
    let _ = tls.write_all(b"a LOGOUT\r\n");
    Ok(greeting)
}

#[test]
fn sample_messages_are_deterministic_unique_and_well_formed() {
    assert_eq!(sample_message(7), sample_message(7));
    let mut ids = std::collections::HashSet::new();
    let mut saw_encoded_subject = false;
    for seed in 0..200 {
        let message = sample_message(seed);
        let text = String::from_utf8(message.clone()).unwrap();
        assert!(
            (1024..=21 * 1024).contains(&message.len()),
            "seed {seed}: {} bytes",
            message.len()
        );
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "bare LF in seed {seed}"
        );
        for header in [
            "From",
            "To",
            "Subject",
            "Date",
            "MIME-Version",
            "Content-Type",
        ] {
            assert!(
                header_value(&message, header).is_some(),
                "{header}, seed {seed}"
            );
        }
        let subject = header_value(&message, "Subject").unwrap();
        assert!(
            subject.is_ascii(),
            "raw UTF-8 in the subject of seed {seed}"
        );
        for word in subject.split(' ').filter(|w| w.starts_with("=?")) {
            saw_encoded_subject = true;
            assert!(word.len() <= 75, "encoded word too long: {word}");
        }
        assert!(ids.insert(header_value(&message, "Message-ID").unwrap()));
    }
    assert!(saw_encoded_subject);
}
