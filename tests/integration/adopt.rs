//! Switching from mbsync without re-downloading: a Maildir made by the real
//! mbsync (isync 1.4) from a seeded account, then mailferry pointed at it.
//! Dovecot's own log counts what crossed the wire: the first run fetches no
//! body and saves nothing on the server, both sides keep one copy of each
//! message, and later changes flow both ways. Mail readers (notmuch, mutt)
//! then show the server's counts.

use super::common::{assert_no_duplicates, env, local_view, run_ok, server_view, write_config};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::local::{deliver, read_folder, set_letters};
use crate::support::mail::{message_with, sample_date, sample_message};
use crate::support::mbsync::Mbsync;
use crate::support::readers::{mutt_counts, Counts, Notmuch};
use crate::support::traffic::{ServerLog, LOG_CONFIG};
use std::fs;
use std::path::{Path, PathBuf};

/// The seeded account: folder and message count (330 messages).
const FOLDERS: [(&str, u64); 4] = [
    ("INBOX", 120),
    ("Work", 90),
    ("Lists/Rust", 70),
    ("Archive", 50),
];

/// A realistic mix: mostly read, some unread, some flagged (read or not),
/// some answered.
fn flags_for(seed: u64) -> &'static [&'static str] {
    match seed % 13 {
        0 | 5 => &[],
        1 => &["\\Flagged"],
        2 => &["\\Seen", "\\Flagged"],
        3 | 8 => &["\\Seen", "\\Answered"],
        _ => &["\\Seen"],
    }
}

struct Account {
    dovecot: Dovecot,
    env: TestEnv,
    maildir: PathBuf,
    /// Bytes of all messages as the server counts them (RFC822.SIZE).
    bytes: u64,
    messages: u64,
}

/// A Dovecot logging its traffic, an account seeded with [`FOLDERS`], and
/// a Maildir made from it by mbsync; mailferry is configured on the same
/// Maildir (channel `mail`) but has never run.
fn account_synced_by_mbsync() -> (Account, Mbsync) {
    let dovecot = Dovecot::start_with(DovecotOptions {
        extra_config: LOG_CONFIG.to_string(),
        ..DovecotOptions::default()
    });
    let mut client = dovecot.client("alice");
    let (mut bytes, mut messages) = (0, 0);
    for (index, (folder, count)) in FOLDERS.iter().enumerate() {
        if *folder != "INBOX" {
            client.create(folder);
        }
        for n in 0..*count {
            let seed = 1000 * index as u64 + n;
            let content = sample_message(seed);
            bytes += content.len() as u64;
            messages += 1;
            client.append(folder, &content, flags_for(seed), Some(sample_date(seed)));
        }
    }
    client.logout();
    let mut env = env();
    let maildir = env.maildir();
    let mbsync = Mbsync::new(&dovecot, "alice", &maildir, env.root());
    mbsync.sync();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    let account = Account {
        dovecot,
        env,
        maildir,
        bytes,
        messages,
    };
    (account, mbsync)
}

impl Account {
    fn folder_dir(&self, folder: &str) -> PathBuf {
        self.maildir.join(folder)
    }

    /// Fails unless every folder holds the same messages with the same
    /// flags on both sides, each once.
    fn assert_in_step(&self) {
        let mut client = self.dovecot.client("alice");
        for (folder, _) in FOLDERS {
            let server = server_view(&mut client, folder);
            let local = local_view(&self.folder_dir(folder));
            assert_no_duplicates(&server, &format!("server {folder}"));
            assert_no_duplicates(&local, &format!("Maildir {folder}"));
            assert_eq!(server, local, "folder {folder} differs");
        }
        client.logout();
    }

    fn message_count(&self) -> (u64, u64) {
        let mut client = self.dovecot.client("alice");
        let server: u64 = FOLDERS
            .iter()
            .map(|(folder, _)| u64::from(client.count(folder)))
            .sum();
        client.logout();
        let local: u64 = FOLDERS
            .iter()
            .map(|(folder, _)| read_folder(&self.folder_dir(folder)).len() as u64)
            .sum();
        (server, local)
    }

    /// Messages, unread and flagged over all folders, as the server has them.
    fn server_counts(&self) -> Counts {
        let mut client = self.dovecot.client("alice");
        let mut counts = Counts::default();
        for (folder, _) in FOLDERS {
            for message in client.messages(folder) {
                counts.messages += 1;
                counts.unread += u64::from(!message.has_flag("\\Seen"));
                counts.flagged += u64::from(message.has_flag("\\Flagged"));
            }
        }
        client.logout();
        counts
    }
}

/// Files mbsync left in new/ with flags in their name (`new/x:2,F`, unread
/// and flagged). mailferry reads those letters like any others, so they
/// cause no flag change: the scenario must hold some to prove it.
fn flagged_files_in_new(maildir: &Path) -> usize {
    FOLDERS
        .iter()
        .flat_map(|(folder, _)| read_folder(&maildir.join(folder)))
        .filter(|m| m.subdir == "new" && !m.letters.is_empty())
        .count()
}

fn summary_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("mail: ") && l.contains("folder(s)"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"))
}

/// The summary that says only `flag_moves` flags came down.
fn nothing_copied_summary(flag_moves: usize) -> String {
    format!(
        "to near: 0 new, {flag_moves} flag changes, 0 deleted; to far: 0 new, 0 flag changes, 0 deleted"
    )
}

#[test]
fn first_sync_on_a_maildir_made_by_mbsync_downloads_no_body_and_uploads_nothing() {
    let (account, _mbsync) = account_synced_by_mbsync();
    assert!(
        flagged_files_in_new(&account.maildir) > 0,
        "mbsync filed no flagged mail in new/"
    );
    let flag_moves = 0;
    let log = ServerLog::mark(&account.dovecot);

    let output = run_ok(&account.env, &["sync", "mail", "-v"]);

    let traffic = log.traffic();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!(
        "adopt by sync: account {} messages, {} bytes; first sync: {traffic:?}",
        account.messages, account.bytes
    );
    assert!(
        stdout.contains("first sync of INBOX: the Maildir already holds 120 message(s); adopting them by content"),
        "{stdout}"
    );
    assert_eq!(traffic.bodies_fetched, 0, "{traffic:?}");
    assert_eq!(traffic.saved, 0, "{traffic:?}");
    assert!(
        traffic.bytes_out < account.bytes / 20,
        "the first sync moved {} bytes for a {} byte account",
        traffic.bytes_out,
        account.bytes
    );
    assert!(
        summary_line(&stdout).ends_with(&nothing_copied_summary(flag_moves)),
        "{stdout}"
    );
    assert_eq!(
        account.message_count(),
        (account.messages, account.messages)
    );
    account.assert_in_step();

    // Later changes flow both ways as usual.
    let mut client = account.dovecot.client("alice");
    let server_new = message_with("new on the server", "hello");
    client.append("Work", &server_new, &[], None);
    let work = client.messages("Work");
    client.add_flags("Work", work[0].uid, &["\\Flagged"]);
    let expunged = client.messages("INBOX")[3].uid;
    client.expunge_uid("INBOX", expunged);
    client.logout();
    let inbox = read_folder(&account.folder_dir("INBOX"));
    let unread = inbox.iter().find(|m| m.letters == "S").unwrap();
    set_letters(unread, "RS");
    fs::remove_file(&inbox[10].path).unwrap();
    deliver(
        &account.folder_dir("Archive"),
        "1700000000.local1.laptop",
        &message_with("written locally", "draft"),
    );

    let output = run_ok(&account.env, &["sync", "mail", "-v"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary_line(&stdout).ends_with(
            "to near: 1 new, 1 flag changes, 1 deleted; to far: 1 new, 1 flag changes, 1 deleted"
        ),
        "{stdout}"
    );
    account.assert_in_step();
    assert_eq!(
        account.message_count(),
        (account.messages, account.messages)
    );
}

#[test]
fn adopt_from_mbsync_acts_only_on_what_changed_since_mbsync_ran() {
    let (account, _mbsync) = account_synced_by_mbsync();
    // Since mbsync last ran: three messages deleted on the server (none of
    // them one that mbsync filed flagged in new/), two written locally.
    let mut client = account.dovecot.client("alice");
    let inbox = client.messages("INBOX");
    let deleted_ids: Vec<String> = [5, 6, 42]
        .iter()
        .map(|&i| inbox[i].message_id.clone().unwrap())
        .collect();
    for i in [5, 6, 42] {
        client.expunge_uid("INBOX", inbox[i].uid);
    }
    client.logout();
    for n in 0..2 {
        deliver(
            &account.folder_dir("Lists/Rust"),
            &format!("1700000000.added{n}.laptop"),
            &message_with(&format!("added locally {n}"), "after mbsync ran"),
        );
    }
    assert!(
        flagged_files_in_new(&account.maildir) > 0,
        "mbsync filed no flagged mail in new/"
    );
    let flag_moves = 0;

    let adopt = run_ok(
        &account.env,
        &[
            "adopt",
            "mail",
            "--from-mbsync",
            account.maildir.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&adopt.stdout);
    assert!(
        stdout.contains("mail:INBOX: 117 paired, 0 local only, 0 server only, 0 ambiguous"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 message(s) were deleted on the server since the last sync"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mail:Lists/Rust: 70 paired, 2 local only, 0 server only, 0 ambiguous"),
        "{stdout}"
    );

    let log = ServerLog::mark(&account.dovecot);
    let sync = run_ok(&account.env, &["sync", "mail", "-v"]);
    let traffic = log.traffic();
    let stdout = String::from_utf8_lossy(&sync.stdout);
    println!("adopt --from-mbsync, then sync: {traffic:?}");
    assert!(
        summary_line(&stdout).ends_with(&format!(
            "to near: 0 new, {flag_moves} flag changes, 3 deleted; to far: 2 new, 0 flag changes, 0 deleted"
        )),
        "{stdout}"
    );
    assert_eq!(traffic.bodies_fetched, 0, "{traffic:?}");
    assert_eq!(traffic.saved, 2, "only the two local messages: {traffic:?}");
    account.assert_in_step();
    let local_ids: Vec<String> = local_view(&account.folder_dir("INBOX"))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for id in &deleted_ids {
        assert!(!local_ids.contains(id), "{id} is still in the Maildir");
    }
    assert_eq!(
        account.message_count(),
        (account.messages - 1, account.messages - 1)
    );
}

#[test]
fn adopt_by_content_pairs_everything_and_the_sync_copies_nothing() {
    let (account, _mbsync) = account_synced_by_mbsync();
    assert!(
        flagged_files_in_new(&account.maildir) > 0,
        "mbsync filed no flagged mail in new/"
    );
    let flag_moves = 0;
    let dry = run_ok(&account.env, &["adopt", "mail", "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("nothing written (--dry-run)"),
        "{}",
        String::from_utf8_lossy(&dry.stdout)
    );
    assert!(
        !account.env.root().join("state/mail").exists() || {
            fs::read_dir(account.env.root().join("state/mail"))
                .unwrap()
                .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".state"))
        }
    );

    let log = ServerLog::mark(&account.dovecot);
    let adopt = run_ok(&account.env, &["adopt", "mail"]);
    let stdout = String::from_utf8_lossy(&adopt.stdout);
    assert!(
        stdout.contains(&format!(
            "mail: 4 folder(s): {} paired, 0 local only, 0 server only, 0 ambiguous",
            account.messages
        )),
        "{stdout}"
    );
    let sync = run_ok(&account.env, &["sync", "mail", "-v"]);
    let traffic = log.traffic();
    println!("adopt by content, then sync: {traffic:?}");
    assert_eq!(traffic.bodies_fetched, 0, "{traffic:?}");
    assert_eq!(traffic.saved, 0, "{traffic:?}");
    let stdout = String::from_utf8_lossy(&sync.stdout);
    assert!(!stdout.contains("adopting them"), "{stdout}");
    assert!(
        summary_line(&stdout).ends_with(&nothing_copied_summary(flag_moves)),
        "{stdout}"
    );
    account.assert_in_step();
}

#[test]
fn adopting_twice_is_refused_and_a_changed_uidvalidity_is_refused() {
    let (account, _mbsync) = account_synced_by_mbsync();
    // mbsync's state was written for another UIDVALIDITY of INBOX.
    let state_path = account.folder_dir("INBOX").join(".mbsyncstate");
    let state = fs::read_to_string(&state_path).unwrap();
    let far_line = state.lines().next().unwrap().to_string();
    fs::write(&state_path, state.replace(&far_line, "FarUidValidity 1")).unwrap();
    let output = account.env.run(&[
        "adopt",
        "mail",
        "--from-mbsync",
        account.maildir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("folder INBOX") && stderr.contains("UIDVALIDITY"),
        "{stderr}"
    );
    // The other folders were adopted; adopting them again is refused.
    let again = account.env.run(&["adopt", "mail"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("mailferry has synced it already"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn only_messages_without_message_id_are_fetched_whole() {
    let dovecot = Dovecot::start_with(DovecotOptions {
        extra_config: LOG_CONFIG.to_string(),
        ..DovecotOptions::default()
    });
    let mut client = dovecot.client("alice");
    for seed in 0..5 {
        client.append("INBOX", &sample_message(seed), &["\\Seen"], None);
    }
    for n in 0..2 {
        let without_id = format!("From: a@b.test\r\nSubject: no id {n}\r\n\r\nbody {n}\r\n");
        client.append("INBOX", without_id.as_bytes(), &["\\Seen"], None);
    }
    client.logout();
    let mut env = env();
    let maildir = env.maildir();
    Mbsync::new(&dovecot, "alice", &maildir, env.root()).sync();
    write_config(&mut env, &dovecot, "alice", &maildir, "");

    let log = ServerLog::mark(&dovecot);
    let output = run_ok(&env, &["sync", "mail", "-v"]);
    let traffic = log.traffic();
    assert_eq!(traffic.bodies_fetched, 2, "{traffic:?}");
    assert_eq!(traffic.saved, 0, "{traffic:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("2 server message(s) without Message-ID were fetched"),
        "{stdout}"
    );
    let mut client = dovecot.client("alice");
    assert_eq!(server_view(&mut client, "INBOX").len(), 7);
    assert_eq!(read_folder(&maildir.join("INBOX")).len(), 7);
}

#[test]
fn notmuch_and_mutt_show_the_servers_counts_after_a_two_way_sync() {
    let (account, _mbsync) = account_synced_by_mbsync();
    run_ok(&account.env, &["sync", "mail"]);
    // Changes on both sides: read, flag, unflag, delete, new mail.
    let mut client = account.dovecot.client("alice");
    let inbox = client.messages("INBOX");
    let unread_uid = inbox.iter().find(|m| !m.has_flag("\\Seen")).unwrap().uid;
    client.add_flags("INBOX", unread_uid, &["\\Seen"]);
    let flagged_uid = inbox.iter().find(|m| m.has_flag("\\Flagged")).unwrap().uid;
    client.remove_flags("INBOX", flagged_uid, &["\\Flagged"]);
    client.append(
        "INBOX",
        &message_with("fresh on the server", "x"),
        &[],
        None,
    );
    client.logout();
    let work = read_folder(&account.folder_dir("Work"));
    let read_local = work.iter().find(|m| m.letters == "S").unwrap();
    set_letters(read_local, "FS");
    let another = work.iter().rfind(|m| m.letters == "S").unwrap();
    set_letters(another, "");
    deliver(
        &account.folder_dir("Work"),
        "1700000000.reader1.laptop",
        &message_with("fresh on the laptop", "y"),
    );
    run_ok(&account.env, &["sync", "mail"]);
    account.assert_in_step();

    let server = account.server_counts();
    let notmuch = Notmuch::new(&account.maildir, &account.env.root().join("notmuch"));
    assert_eq!(notmuch.counts(), server, "notmuch differs from the server");
    println!("server and notmuch counts: {server:?}");

    let mutt_dir = account.env.root().join("mutt");
    fs::create_dir_all(&mutt_dir).unwrap();
    let mut client = account.dovecot.client("alice");
    for folder in ["INBOX", "Work"] {
        let mut expected = Counts::default();
        for message in client.messages(folder) {
            expected.messages += 1;
            expected.unread += u64::from(!message.has_flag("\\Seen"));
            expected.flagged += u64::from(message.has_flag("\\Flagged"));
        }
        let seen = mutt_counts(&account.folder_dir(folder), &mutt_dir)
            .unwrap_or_else(|| panic!("mutt under tmux showed no status line for {folder}"));
        assert_eq!(seen, expected, "mutt differs from the server in {folder}");
    }
}
