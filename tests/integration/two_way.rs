//! Two devices ("laptop" and "desktop") syncing one account, each with its
//! own Maildir and state, with changes on each device and on the server
//! between runs: in the end all three hold the same messages with the same
//! flags, and nothing twice.

use super::common::{
    assert_no_duplicates, env, local_view, run_ok, server_view, write_config, write_config_for,
    Modseq, Variant,
};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::imap_client::header_value;
use crate::support::local::{deliver, read_folder, set_letters};
use crate::support::mail::{message_with, sample_date, sample_message};
use std::fs;
use std::path::PathBuf;

struct Device {
    env: TestEnv,
    maildir: PathBuf,
}

fn device(dovecot: &Dovecot, user: &str) -> Device {
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, dovecot, user, &maildir, "");
    Device { env, maildir }
}

fn device_for(dovecot: &Dovecot, user: &str, variant: Variant) -> Device {
    let mut env = env();
    let maildir = env.maildir();
    write_config_for(&mut env, dovecot, user, &maildir, variant);
    Device { env, maildir }
}

impl Device {
    fn sync(&self) {
        run_ok(&self.env, &["sync", "mail"]);
    }
    fn inbox(&self) -> PathBuf {
        self.maildir.join("INBOX")
    }
}

/// The local copy of sample message `seed`: tests pick messages by what
/// they are, never by their position in a listing.
fn by_seed(dir: &std::path::Path, seed: u64) -> crate::support::local::LocalMessage {
    let id = format!("<sample.{seed}@mailferry.test>");
    read_folder(dir)
        .into_iter()
        .find(|m| m.message_id().as_deref() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("no sample {seed} in {}", dir.display()))
}

#[test]
fn laptop_desktop_and_server_converge_without_duplicates() {
    converge(Variant {
        modseq: Modseq::Qresync,
        connections: 4,
    });
}

#[test]
fn converge_with_qresync_on_one_connection() {
    converge(Variant {
        modseq: Modseq::Qresync,
        connections: 1,
    });
}

#[test]
fn converge_with_condstore_only_on_four_connections() {
    converge(Variant {
        modseq: Modseq::CondstoreOnly,
        connections: 4,
    });
}

#[test]
fn converge_with_condstore_only_on_one_connection() {
    converge(Variant {
        modseq: Modseq::CondstoreOnly,
        connections: 1,
    });
}

#[test]
fn converge_without_condstore_or_qresync_on_four_connections() {
    converge(Variant {
        modseq: Modseq::Neither,
        connections: 4,
    });
}

#[test]
fn converge_without_condstore_or_qresync_on_one_connection() {
    converge(Variant {
        modseq: Modseq::Neither,
        connections: 1,
    });
}

/// Two devices and the server, with changes everywhere between syncs,
/// end up holding the same messages with the same flags.
fn converge(variant: Variant) {
    let dovecot = Dovecot::start_with(variant.dovecot_options(DovecotOptions::default()));
    let mut server = dovecot.client("alice");
    let mut uids = Vec::new();
    for seed in 100..108 {
        uids.push(server.append("INBOX", &sample_message(seed), &[], Some(sample_date(seed))));
    }
    server.create("Work");
    server.append(
        "Work",
        &sample_message(200),
        &["\\Seen"],
        Some(sample_date(200)),
    );

    let laptop = device_for(&dovecot, "alice", variant);
    let desktop = device_for(&dovecot, "alice", variant);
    laptop.sync();
    desktop.sync();

    // On the laptop: read one message, delete one, write a new one.
    let read_on_laptop = by_seed(&laptop.inbox(), 100);
    set_letters(&read_on_laptop, "S");
    let deleted_on_laptop = by_seed(&laptop.inbox(), 101);
    fs::remove_file(&deleted_on_laptop.path).unwrap();
    let written_on_laptop = message_with("written on the laptop", "draft from the train");
    let laptop_id = header_value(&written_on_laptop, "Message-ID").unwrap();
    deliver(
        &laptop.inbox(),
        "1700000000.laptop1.host",
        &written_on_laptop,
    );
    // On the desktop: flag a message and file a new one in Work.
    let flagged_on_desktop = by_seed(&desktop.inbox(), 103);
    set_letters(&flagged_on_desktop, "F");
    let filed_on_desktop = message_with("filed on the desktop", "notes");
    let desktop_id = header_value(&filed_on_desktop, "Message-ID").unwrap();
    deliver(
        &desktop.maildir.join("Work"),
        "1700000001.desktop1.host",
        &filed_on_desktop,
    );
    // On the server, as another client: new mail, an expunge, a flag.
    server.append("INBOX", &sample_message(300), &[], Some(sample_date(300)));
    server.expunge_uid("INBOX", uids[5]);
    server.add_flags("INBOX", uids[6], &["\\Answered"]);

    laptop.sync();
    desktop.sync();
    laptop.sync();

    for folder in ["INBOX", "Work"] {
        let on_server = server_view(&mut server, folder);
        assert_no_duplicates(&on_server, "the server");
        assert_eq!(
            local_view(&laptop.maildir.join(folder)),
            on_server,
            "laptop {folder}"
        );
        assert_eq!(
            local_view(&desktop.maildir.join(folder)),
            on_server,
            "desktop {folder}"
        );
    }
    let inbox = server_view(&mut server, "INBOX");
    // 8 seeded - 1 deleted on the laptop - 1 expunged on the server
    // + 1 from the laptop + 1 new on the server.
    assert_eq!(inbox.len(), 8, "{inbox:?}");
    let id = |m: &crate::support::local::LocalMessage| m.message_id().unwrap();
    let letters_of = |needle: &str| {
        inbox
            .iter()
            .find(|(mid, _)| mid == needle)
            .map(|(_, letters)| letters.clone())
    };
    assert_eq!(letters_of(&id(&read_on_laptop)), Some("S".to_string()));
    assert_eq!(letters_of(&id(&flagged_on_desktop)), Some("F".to_string()));
    assert_eq!(
        letters_of(&id(&deleted_on_laptop)),
        None,
        "deleted on the laptop"
    );
    assert!(
        inbox.iter().any(|(mid, _)| *mid == laptop_id),
        "the laptop's new message is on the server"
    );
    let work = server_view(&mut server, "Work");
    assert_eq!(work.len(), 2, "{work:?}");
    assert!(
        work.iter().any(|(mid, _)| *mid == desktop_id),
        "the desktop's new message is on the server"
    );

    // Nothing left to do anywhere.
    for device in [&laptop, &desktop] {
        let output = run_ok(&device.env, &["sync", "mail", "--dry-run"]);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.lines().all(|l| l.ends_with("nothing to do")),
            "a further sync would still act:\n{text}"
        );
    }
}

#[test]
fn dry_run_shows_the_plan_and_changes_nothing() {
    let dovecot = Dovecot::start();
    let mut server = dovecot.client("alice");
    server.append(
        "INBOX",
        &sample_message(1),
        &["\\Seen"],
        Some(sample_date(1)),
    );
    let laptop = device(&dovecot, "alice");
    laptop.sync();
    deliver(
        &laptop.inbox(),
        "1700000002.local.host",
        &message_with("local", "body"),
    );
    server.append("INBOX", &sample_message(2), &[], Some(sample_date(2)));

    let output = run_ok(&laptop.env, &["sync", "mail", "--dry-run"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("copy   far -> near"), "{text}");
    assert!(
        text.contains("copy   near -> far 1700000002.local.host"),
        "{text}"
    );
    assert_eq!(server.count("INBOX"), 2, "dry run uploaded");
    assert_eq!(read_folder(&laptop.inbox()).len(), 2, "dry run downloaded");
}

#[test]
fn json_output_reports_what_was_done() {
    let dovecot = Dovecot::start();
    let mut server = dovecot.client("alice");
    server.append(
        "INBOX",
        &sample_message(1),
        &["\\Seen"],
        Some(sample_date(1)),
    );
    let laptop = device(&dovecot, "alice");
    let output = run_ok(&laptop.env, &["sync", "mail", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value[0]["channel"], "mail");
    let inbox = value[0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["folder"] == "INBOX")
        .unwrap();
    assert_eq!(inbox["report"]["copied"][1], 1, "{value}");
}

#[test]
fn odd_local_files_are_handled_or_reported_by_name_without_stopping_the_rest() {
    let dovecot = Dovecot::start();
    let laptop = device(&dovecot, "alice");
    laptop.sync();
    let inbox = laptop.inbox();
    // An empty file, a file in cur/ without the `:2,` suffix, a file with a
    // keyword letter mailferry does not know, and a large one.
    deliver(&inbox, "1700000000.empty.test", b"");
    let plain = message_with("no suffix", "body");
    fs::write(inbox.join("cur").join("1700000001.nosuffix.test"), &plain).unwrap();
    let keyword = message_with("keyword letter", "body");
    fs::write(
        inbox.join("cur").join("1700000002.keyword.test:2,Sa"),
        &keyword,
    )
    .unwrap();
    let mut large = message_with("large", "");
    large.extend(
        std::iter::repeat_n(
            b"0123456789abcdef0123456789abcdef0123456789abcdef012345678\r\n".as_slice(),
            200_000,
        )
        .flatten(),
    );
    deliver(&inbox, "1700000003.large.test", &large);

    let output = laptop.env.run(&["sync", "mail"]);
    let message = super::common::stderr(&output);
    let mut server = dovecot.client("alice");
    let on_server = server.messages("INBOX");
    let has = |content: &[u8]| on_server.iter().any(|m| m.content == content);
    assert!(
        has(&plain),
        "the file without suffix was not uploaded: {message}"
    );
    assert!(
        has(&keyword),
        "the file with a keyword letter was not uploaded: {message}"
    );
    assert!(has(&large), "the large file was not uploaded: {message}");
    let keyword_copy = on_server.iter().find(|m| m.content == keyword).unwrap();
    assert!(keyword_copy.has_flag("\\Seen"));
    // The keyword letter stays on the local file.
    assert!(inbox
        .join("cur")
        .join("1700000002.keyword.test:2,Sa")
        .exists());
    // The empty file cannot be a message: it is reported by name (or
    // stored, if the server takes it) and stays where it is.
    assert!(inbox.join("new").join("1700000000.empty.test").exists());
    if output.status.code() == Some(1) {
        assert!(message.contains("1700000000.empty.test"), "{message}");
    } else {
        assert!(output.status.success(), "{message}");
    }
}
