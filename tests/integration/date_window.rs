//! The date window (`max_age`, `prune_local`) against a real Dovecot, over
//! several syncs with "now" fixed by the test hook: only messages that
//! arrived inside the window are copied; messages that age out stay where
//! they are on both sides, even when deleted on the other side; and
//! `prune_local` removes only local copies of old messages that the
//! server still holds, after which nothing is downloaded or deleted again.

use super::common::env;
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::{deliver, read_folder};
use chrono::{DateTime, FixedOffset};
use std::fs;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// The environment variable that fixes "now" for the date window.
const NOW: &str = "MAILFERRY_TEST_NOW";
/// 2024-07-01 00:00 UTC: with max_age 90d the window starts 2024-04-02.
const JULY_2024: i64 = 1_719_792_000;
/// 2025-01-01 00:00 UTC: the window starts 2024-10-03.
const JANUARY_2025: i64 = 1_735_689_600;
const JAN_2020: i64 = 1_577_836_800;
const JUNE_1_2024: i64 = 1_717_200_000;
const JUNE_10_2024: i64 = 1_717_977_600;
const JUNE_15_2024: i64 = 1_718_409_600;
const DECEMBER_20_2024: i64 = 1_734_652_800;

fn message(name: &str) -> Vec<u8> {
    format!(
        "From: someone@mailferry.test\r\nMessage-ID: <{name}@mailferry.test>\r\n\
         Subject: {name}\r\n\r\nbody of {name}\r\n"
    )
    .into_bytes()
}

fn at(seconds: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(seconds, 0).unwrap().fixed_offset()
}

/// Delivers a message locally whose file says it arrived at `seconds`.
fn deliver_dated(dir: &Path, name: &str, seconds: i64) {
    let path = deliver(dir, &format!("{seconds}.{name}.test"), &message(name));
    let time = UNIX_EPOCH + Duration::from_secs(seconds as u64);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// The names (Message-ID local parts) in a server folder, sorted.
fn server_names(server: &mut ImapTestClient) -> Vec<String> {
    let mut names: Vec<String> = server
        .messages("INBOX")
        .into_iter()
        .filter_map(|m| m.message_id)
        .map(|id| id.trim_start_matches('<').replace("@mailferry.test>", ""))
        .collect();
    names.sort();
    names
}

fn local_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = read_folder(dir)
        .iter()
        .filter_map(|m| m.message_id())
        .map(|id| id.trim_start_matches('<').replace("@mailferry.test>", ""))
        .collect();
    names.sort();
    names
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

fn configure(env: &mut TestEnv, dovecot: &Dovecot, maildir: &Path, extra: &str) {
    let yaml = format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\n    folders: [INBOX]\n\
         \x20   max_age: 90d\n{extra}state_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", "alice", "implicit"),
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
}

fn sync_at(env: &TestEnv, now: i64, args: &[&str]) -> std::process::Output {
    let output = env
        .command()
        .env(NOW, now.to_string())
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "mailferry {args:?} at {now} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_window_copies_only_recent_mail_leaves_aged_out_mail_alone_and_prune_local_prunes_it() {
    let dovecot = Dovecot::start();
    let mut server = dovecot.client("alice");
    server.append("INBOX", &message("old-on-server"), &[], Some(at(JAN_2020)));
    let expunged_later = server.append("INBOX", &message("june-1"), &[], Some(at(JUNE_1_2024)));
    server.append("INBOX", &message("june-10"), &[], Some(at(JUNE_10_2024)));
    let mut device = env();
    let maildir = device.maildir();
    let inbox = maildir.join("INBOX");
    deliver_dated(&inbox, "old-local", JAN_2020);
    deliver_dated(&inbox, "june-15-local", JUNE_15_2024);
    configure(&mut device, &dovecot, &maildir, "");

    // July 2024: the window starts in April; the 2020 messages stay where
    // they are, one on each side.
    sync_at(&device, JULY_2024, &["sync", "mail"]);
    assert_eq!(
        server_names(&mut server),
        names(&["june-1", "june-10", "june-15-local", "old-on-server"])
    );
    assert_eq!(
        local_names(&inbox),
        names(&["june-1", "june-10", "june-15-local", "old-local"])
    );
    // Downloaded files carry their arrival date as their mtime.
    let june_1 = read_folder(&inbox)
        .into_iter()
        .find(|m| m.message_id().as_deref() == Some("<june-1@mailferry.test>"))
        .unwrap();
    assert_eq!(june_1.mtime, JUNE_1_2024);

    // January 2025: everything from June aged out. The server expunges
    // june-1, the laptop deletes june-15-local, new mail arrives: the
    // deletions are not carried across, the new message is.
    server.expunge_uid("INBOX", expunged_later);
    let june_15 = read_folder(&inbox)
        .into_iter()
        .find(|m| m.message_id().as_deref() == Some("<june-15-local@mailferry.test>"))
        .unwrap();
    fs::remove_file(june_15.path).unwrap();
    server.append(
        "INBOX",
        &message("december"),
        &[],
        Some(at(DECEMBER_20_2024)),
    );
    sync_at(&device, JANUARY_2025, &["sync", "mail"]);
    assert_eq!(
        server_names(&mut server),
        names(&["december", "june-10", "june-15-local", "old-on-server"])
    );
    assert_eq!(
        local_names(&inbox),
        names(&["december", "june-1", "june-10", "old-local"])
    );

    // prune_local: the local copy of june-10 (still on the server) goes;
    // june-1 (gone from the server) and old-local (never there) stay.
    configure(&mut device, &dovecot, &maildir, "    prune_local: true\n");
    sync_at(&device, JANUARY_2025, &["sync", "mail"]);
    let server_after = names(&["december", "june-10", "june-15-local", "old-on-server"]);
    let local_after = names(&["december", "june-1", "old-local"]);
    assert_eq!(server_names(&mut server), server_after);
    assert_eq!(local_names(&inbox), local_after);

    // The next syncs neither download june-10 again nor delete it on the
    // server.
    for _ in 0..2 {
        let dry = sync_at(&device, JANUARY_2025, &["sync", "mail", "--dry-run"]);
        let plan = String::from_utf8_lossy(&dry.stdout);
        assert!(
            plan.lines().all(|line| line.ends_with("nothing to do")),
            "{plan}"
        );
        sync_at(&device, JANUARY_2025, &["sync", "mail"]);
        assert_eq!(server_names(&mut server), server_after);
        assert_eq!(local_names(&inbox), local_after);
    }
}
