//! Whole folder trees both ways: names in several scripts and three levels
//! deep in every server and local layout, and folders created, deleted and
//! renamed on either side under each create/remove policy.

use super::common::{env, run_ok};
use crate::support::dovecot::{Dovecot, DovecotOptions, ServerLayout};
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::{deliver, read_folder};
use crate::support::mail::{message_with, sample_date, sample_message};
use mailferry::store::mutf7;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// A device on `user`'s account with a Maildir in `layout`.
pub(super) fn device(
    dovecot: &Dovecot,
    user: &str,
    layout: &str,
    channel_extra: &str,
) -> (TestEnv, PathBuf) {
    let mut env = env();
    let maildir = env.maildir();
    let yaml = format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\n    layout: {layout}\n\
         channels:\n  mail:\n    far: server\n    near: local\n{channel_extra}\
         state_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", user, "implicit"),
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
    (env, maildir)
}

/// The folders a store lists, as `mailferry list` prints them.
pub(super) fn listed(env: &TestEnv, store: &str) -> BTreeSet<String> {
    let output = run_ok(env, &["list", store]);
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

pub(super) fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The directory of a local folder in a layout.
pub(super) fn local_dir(maildir: &Path, layout: &str, folder: &str) -> PathBuf {
    match (layout, folder) {
        ("maildir++", "INBOX") => maildir.to_path_buf(),
        ("maildir++", _) => maildir.join(format!(".{}", folder.replace('/', "."))),
        _ => maildir.join(folder),
    }
}

/// The server's spelling of a canonical name (delimiter `/`).
pub(super) fn server_name(folder: &str) -> String {
    mutf7::encode(folder)
}

/// Messages in a server folder given by canonical name.
fn server_count(client: &mut ImapTestClient, folder: &str) -> u32 {
    client.count(&server_name(folder))
}

/// Whether a further sync would do anything.
pub(super) fn assert_nothing_to_do(env: &TestEnv) {
    let output = run_ok(env, &["sync", "mail", "--dry-run"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.lines().all(|l| l.ends_with("nothing to do")),
        "a further sync would still act:\n{text}"
    );
}

const SERVER_SIDE: [&str; 4] = ["Données", "日本語/メモ", "Work/Projects/2024", "With Space"];
const LOCAL_SIDE: [&str; 3] = ["Ünïcødé & Co", "Quote\"d", "Archive/2023/Q4"];

fn round_trip(server_layout: ServerLayout, local_layout: &str) {
    let dovecot = Dovecot::start_with(DovecotOptions {
        layout: server_layout,
        ..DovecotOptions::default()
    });
    let mut client = dovecot.client("alice");
    for (i, folder) in SERVER_SIDE.iter().enumerate() {
        client.create(&server_name(folder));
        client.append(
            &server_name(folder),
            &sample_message(i as u64),
            &["\\Seen"],
            Some(sample_date(i as u64)),
        );
    }
    let (env, maildir) = device(&dovecot, "alice", local_layout, "");
    for (i, folder) in LOCAL_SIDE.iter().enumerate() {
        deliver(
            &local_dir(&maildir, local_layout, folder),
            &format!("1700000000.local{i}.test"),
            &message_with(&format!("made locally in {folder}"), "body"),
        );
    }

    run_ok(&env, &["sync", "mail"]);

    let mut expected: BTreeSet<String> = SERVER_SIDE
        .iter()
        .chain(LOCAL_SIDE.iter())
        .map(|s| s.to_string())
        .collect();
    expected.insert("INBOX".into());
    // Parents of nested folders exist as folders of their own on the
    // server (Dovecot creates them), so compare the leaves we made.
    let on_server = listed(&env, "server");
    let on_disk = listed(&env, "local");
    for folder in &expected {
        assert!(
            on_server.contains(folder),
            "server lacks {folder}: {on_server:?}"
        );
        assert!(
            on_disk.contains(folder),
            "Maildir lacks {folder}: {on_disk:?}"
        );
    }
    assert_eq!(on_server, on_disk, "the two sides list different folders");
    for folder in SERVER_SIDE.iter().chain(LOCAL_SIDE.iter()) {
        assert_eq!(server_count(&mut client, folder), 1, "server {folder}");
        assert_eq!(
            read_folder(&local_dir(&maildir, local_layout, folder)).len(),
            1,
            "local {folder}"
        );
    }
    assert_nothing_to_do(&env);
    run_ok(&env, &["sync", "mail"]);
    assert_eq!(
        listed(&env, "server"),
        on_server,
        "second sync changed the server's folders"
    );
    assert_eq!(
        listed(&env, "local"),
        on_disk,
        "second sync changed the local folders"
    );
}

#[test]
fn names_in_several_scripts_round_trip_fs_server_verbatim_maildir() {
    round_trip(ServerLayout::Fs, "verbatim");
}

#[test]
fn names_in_several_scripts_round_trip_maildirpp_server_maildirpp_local() {
    round_trip(ServerLayout::MaildirPlusPlus, "maildir++");
}

#[test]
fn names_in_several_scripts_round_trip_fs_server_maildirpp_local() {
    round_trip(ServerLayout::Fs, "maildir++");
}

/// Folders A..F with two messages each, synced once; then on each side one
/// folder created, one deleted, one renamed.
fn changed_tree(extra: &str) -> (Dovecot, TestEnv, PathBuf) {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    for (i, folder) in ["A", "B", "C", "D", "E"].iter().enumerate() {
        client.create(folder);
        for j in 0..2 {
            let seed = (i * 10 + j) as u64;
            client.append(folder, &sample_message(seed), &[], Some(sample_date(seed)));
        }
    }
    let (env, maildir) = device(&dovecot, "alice", "verbatim", extra);
    run_ok(&env, &["sync", "mail"]);

    // Locally: a new folder, A deleted, B renamed to B2.
    deliver(
        &maildir.join("NewLocal"),
        "1700000000.nl.test",
        &message_with("new local folder", "x"),
    );
    fs::remove_dir_all(maildir.join("A")).unwrap();
    fs::rename(maildir.join("B"), maildir.join("B2")).unwrap();
    // On the server: a new folder, C deleted, D renamed to D2.
    client.create("NewServer");
    client.append("NewServer", &sample_message(99), &[], Some(sample_date(99)));
    client.session().delete("C").unwrap();
    client.session().rename("D", "D2").unwrap();
    (dovecot, env, maildir)
}

#[test]
fn remove_none_recreates_deleted_folders_and_follows_renames() {
    let (dovecot, env, maildir) = changed_tree("");
    run_ok(&env, &["sync", "mail"]);
    assert_tree(
        &dovecot,
        &env,
        &maildir,
        &[
            ("A", 2),
            ("B2", 2),
            ("C", 2),
            ("D2", 2),
            ("E", 2),
            ("NewLocal", 1),
            ("NewServer", 1),
        ],
    );
}

#[test]
fn remove_both_lets_deletions_through_and_follows_renames() {
    let (dovecot, env, maildir) = changed_tree("    remove: both\n");
    run_ok(&env, &["sync", "mail"]);
    assert_tree(
        &dovecot,
        &env,
        &maildir,
        &[
            ("B2", 2),
            ("D2", 2),
            ("E", 2),
            ("NewLocal", 1),
            ("NewServer", 1),
        ],
    );
}

/// Both sides list exactly `counts`' folders and INBOX, each holding that
/// many messages, and a further sync has nothing to do.
fn assert_tree(dovecot: &Dovecot, env: &TestEnv, maildir: &Path, counts: &[(&str, u32)]) {
    let mut folders: Vec<&str> = counts.iter().map(|(folder, _)| *folder).collect();
    folders.push("INBOX");
    let expected = names(&folders);
    assert_eq!(listed(env, "server"), expected);
    assert_eq!(listed(env, "local"), expected);
    let mut client = dovecot.client("alice");
    for &(folder, count) in counts {
        assert_eq!(client.count(folder), count, "server {folder}");
        assert_eq!(
            read_folder(&maildir.join(folder)).len() as u32,
            count,
            "local {folder}"
        );
    }
    assert_nothing_to_do(env);
}

#[test]
fn remove_never_deletes_a_folder_holding_mail_the_other_side_never_saw() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create("Keep");
    client.append("Keep", &sample_message(1), &[], Some(sample_date(1)));
    let (env, maildir) = device(&dovecot, "alice", "verbatim", "    remove: both\n");
    run_ok(&env, &["sync", "mail"]);
    // The folder is deleted locally while new mail arrives in it on the
    // server: deleting it there would lose that mail.
    fs::remove_dir_all(maildir.join("Keep")).unwrap();
    client.append("Keep", &sample_message(2), &[], Some(sample_date(2)));
    run_ok(&env, &["sync", "mail"]);
    assert_eq!(client.count("Keep"), 2);
    assert_eq!(read_folder(&maildir.join("Keep")).len(), 2);
}

#[test]
fn create_near_only_does_not_create_folders_on_the_server() {
    let dovecot = Dovecot::start();
    let (env, maildir) = device(&dovecot, "alice", "verbatim", "    create: near\n");
    deliver(
        &maildir.join("LocalOnly"),
        "1700000000.lo.test",
        &message_with("local only", "x"),
    );
    run_ok(&env, &["sync", "mail"]);
    assert!(!listed(&env, "server").contains("LocalOnly"));
}

#[test]
fn list_shows_local_name_count_role_and_server_spelling() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create(&server_name("Données"));
    for seed in 0..3 {
        client.append(
            &server_name("Données"),
            &sample_message(seed),
            &[],
            Some(sample_date(seed)),
        );
    }
    let (env, _) = device(&dovecot, "alice", "verbatim", "");
    let output = run_ok(&env, &["list", "server"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.lines().any(|l| l == "Données\t3\t-\tDonn&AOk-es"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "INBOX\t0\t-"), "{text}");
}

#[test]
fn a_vanished_maildir_does_not_delete_the_server_folders_even_with_remove_both() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    for folder in ["A", "B", "C"] {
        client.create(folder);
        client.append(folder, &sample_message(1), &[], Some(sample_date(1)));
    }
    let (env, maildir) = device(&dovecot, "alice", "verbatim", "    remove: both\n");
    run_ok(&env, &["sync", "mail"]);
    // The disk holding the Maildir is not mounted today.
    fs::remove_dir_all(&maildir).unwrap();
    let output = env.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(super::common::stderr(&output).contains("--force"));
    for folder in ["A", "B", "C"] {
        assert_eq!(
            client.count(folder),
            1,
            "{folder} was touched on the server"
        );
    }
}
