//! Trash folders (`trash:`) against a real Dovecot: a message deleted on
//! one side, or flagged deleted and expunged, is moved into the other
//! side's (or its own side's) trash folder instead of being deleted: by
//! UID MOVE where the server has MOVE, by COPY and UID EXPUNGE where it has
//! UIDPLUS only, by COPY and EXPUNGE on a bare IMAP4rev1, by a rename into
//! the Maildir trash's cur/. A sync killed (as by kill -9) after any of its
//! journaled steps and run again leaves each message exactly once in the
//! trash and not in its folder.

use super::common::{env, run_ok, stderr, CAPABILITIES_WITHOUT_MODSEQ};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::{read_folder, set_letters};
use crate::support::mail::{sample_date, sample_message};
use std::fs;
use std::path::{Path, PathBuf};

/// The environment variable of mailferry's crash hook.
const ABORT_AFTER: &str = "MAILFERRY_TEST_ABORT_AFTER_STEPS";
const MAX_POINTS: usize = 40;

/// How the server moves a message into its trash.
#[derive(Debug, Clone, Copy)]
enum Server {
    /// Dovecot as it comes: UID MOVE.
    Move,
    /// No MOVE, UIDPLUS: UID COPY, then UID EXPUNGE.
    CopyUidExpunge,
    /// A bare IMAP4rev1 (the matrix's minimal Dovecot): UID COPY, then
    /// EXPUNGE (no other message being flagged deleted).
    CopyExpunge,
}

impl Server {
    fn capability(self) -> Option<String> {
        match self {
            Server::Move => None,
            Server::CopyUidExpunge => Some(CAPABILITIES_WITHOUT_MODSEQ.replace(" MOVE", "")),
            Server::CopyExpunge => Some("IMAP4rev1".to_string()),
        }
    }
}

fn sample_id(seed: u64) -> String {
    format!("<sample.{seed}@mailferry.test>")
}

/// Message-IDs of a server folder, sorted (none if it does not exist).
fn server_ids(server: &mut ImapTestClient, folder: &str) -> Vec<String> {
    if !server.folders().iter().any(|f| f == folder) {
        return Vec::new();
    }
    let mut ids: Vec<String> = server
        .messages(folder)
        .into_iter()
        .filter_map(|m| m.message_id)
        .collect();
    ids.sort();
    ids
}

/// Message-IDs of a Maildir folder, sorted (none if it does not exist).
fn local_ids(dir: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    let mut ids: Vec<String> = read_folder(dir)
        .iter()
        .filter_map(|m| m.message_id())
        .collect();
    ids.sort();
    ids
}

/// What a user looks at: the INBOX and the trash of each side.
#[derive(Debug, PartialEq)]
struct Views {
    server_inbox: Vec<String>,
    server_trash: Vec<String>,
    local_inbox: Vec<String>,
    local_trash: Vec<String>,
}

fn views(server: &mut ImapTestClient, maildir: &Path) -> Views {
    Views {
        server_inbox: server_ids(server, "INBOX"),
        server_trash: server_ids(server, "Trash"),
        local_inbox: local_ids(&maildir.join("INBOX")),
        local_trash: local_ids(&maildir.join("Trash")),
    }
}

/// After a first sync of five messages: the server expunged message 0,
/// the Maildir lost message 1's file and flagged message 2 deleted (T).
fn scenario(dovecot: &Dovecot, user: &str) -> (TestEnv, PathBuf, ImapTestClient) {
    let mut server = dovecot.client(user);
    let uids: Vec<u32> = (0..5)
        .map(|seed| server.append("INBOX", &sample_message(seed), &[], Some(sample_date(seed))))
        .collect();
    let mut env = env();
    let maildir = env.maildir();
    let yaml = format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\n    folders: [INBOX]\n\
         \x20   trash:\n      far: Trash\n      near: Trash\nstate_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", user, "implicit"),
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
    run_ok(&env, &["sync", "mail"]);

    server.expunge_uid("INBOX", uids[0]);
    let local = read_folder(&maildir.join("INBOX"));
    let by_seed = |seed: u64| {
        local
            .iter()
            .find(|m| m.message_id() == Some(sample_id(seed)))
            .unwrap()
            .clone()
    };
    fs::remove_file(by_seed(1).path).unwrap();
    set_letters(&by_seed(2), "T");
    (env, maildir, server)
}

fn expected() -> Views {
    let ids = |seeds: &[u64]| {
        let mut ids: Vec<String> = seeds.iter().map(|&s| sample_id(s)).collect();
        ids.sort();
        ids
    };
    Views {
        server_inbox: ids(&[3, 4]),
        // Deleted locally, and expunged (flagged deleted locally).
        server_trash: ids(&[1, 2]),
        local_inbox: ids(&[3, 4]),
        // Expunged on the server, and expunged locally.
        local_trash: ids(&[0, 2]),
    }
}

fn dovecot_for(server: Server, users: usize) -> Dovecot {
    let users = (0..users)
        .map(|k| (format!("u{k}"), format!("u{k}-pw")))
        .collect();
    Dovecot::start_with(DovecotOptions {
        users,
        imap_capability: server.capability(),
        ..DovecotOptions::default()
    })
}

#[test]
fn deletions_go_to_each_sides_trash_by_move_by_copy_and_uid_expunge_and_by_copy_and_expunge() {
    for server in [Server::Move, Server::CopyUidExpunge, Server::CopyExpunge] {
        let dovecot = dovecot_for(server, 1);
        let (env, maildir, mut client) = scenario(&dovecot, "u0");
        let output = run_ok(&env, &["sync", "mail", "-vv"]);
        let log = stderr(&output);
        let moved = log.contains("UID MOVE");
        assert_eq!(moved, matches!(server, Server::Move), "{server:?}:\n{log}");
        assert_eq!(log.contains("UID COPY"), !moved, "{server:?}:\n{log}");
        assert_eq!(views(&mut client, &maildir), expected(), "{server:?}");
        // Trashed locally by a rename into cur/, without the T flag.
        for message in read_folder(&maildir.join("Trash")) {
            assert_eq!(message.subdir, "cur", "{server:?}");
            assert!(!message.letters.contains('T'), "{server:?}: {message:?}");
        }
        let dry = run_ok(&env, &["sync", "mail", "--dry-run"]);
        let plan = String::from_utf8_lossy(&dry.stdout);
        assert!(
            plan.lines().all(|line| line.ends_with("nothing to do")),
            "{server:?}: {plan}"
        );
    }
}

#[test]
fn a_sync_killed_after_any_step_leaves_each_trashed_message_once_in_the_trash() {
    for server in [Server::Move, Server::CopyUidExpunge, Server::CopyExpunge] {
        let dovecot = dovecot_for(server, MAX_POINTS);
        let mut points = 0;
        for k in 0..MAX_POINTS {
            let (env, maildir, mut client) = scenario(&dovecot, &format!("u{k}"));
            let output = env
                .command()
                .env(ABORT_AFTER, k.to_string())
                .args(["sync", "mail"])
                .output()
                .unwrap();
            if output.status.success() {
                assert_eq!(views(&mut client, &maildir), expected(), "{server:?}");
                break;
            }
            assert_eq!(
                output.status.code(),
                None,
                "{server:?} step {k}: expected an abort, got {output:?}"
            );
            points += 1;
            run_ok(&env, &["sync", "mail"]);
            assert_eq!(
                views(&mut client, &maildir),
                expected(),
                "{server:?}: killed after step {k}"
            );
        }
        assert!(points < MAX_POINTS, "{server:?}: raise MAX_POINTS");
        assert!(points >= 6, "{server:?}: only {points} interruption points");
        eprintln!("{server:?}: killed after each of {points} steps, one copy in each trash");
    }
}

/// A message written locally and flagged deleted before any sync took it
/// to the server (mbsync's TrashRemoteNew case): with `remote_new` it is
/// uploaded into the server's trash, then expunged locally.
fn never_synced_scenario(dovecot: &Dovecot, user: &str) -> (TestEnv, PathBuf, ImapTestClient) {
    let mut server = dovecot.client(user);
    server.append("INBOX", &sample_message(0), &[], Some(sample_date(0)));
    let mut env = env();
    let maildir = env.maildir();
    let yaml = format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\n    folders: [INBOX]\n\
         \x20   trash:\n      far: Trash\n      remote_new: true\nstate_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", user, "implicit"),
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
    run_ok(&env, &["sync", "mail"]);
    let inbox = maildir.join("INBOX");
    let written =
        crate::support::local::deliver(&inbox, "1700000000.draft.test", &sample_message(7));
    let written = read_folder(&inbox)
        .into_iter()
        .find(|m| m.path == written)
        .unwrap();
    set_letters(&written, "T");
    (env, maildir, server)
}

#[test]
fn remote_new_uploads_a_local_message_never_synced_to_the_server_trash_once_even_if_killed() {
    let dovecot = dovecot_for(Server::Move, MAX_POINTS);
    let expected = Views {
        server_inbox: vec![sample_id(0)],
        server_trash: vec![sample_id(7)],
        local_inbox: vec![sample_id(0)],
        local_trash: Vec::new(),
    };
    let mut points = 0;
    for k in 0..MAX_POINTS {
        let (env, maildir, mut client) = never_synced_scenario(&dovecot, &format!("u{k}"));
        let output = env
            .command()
            .env(ABORT_AFTER, k.to_string())
            .args(["sync", "mail"])
            .output()
            .unwrap();
        if output.status.success() {
            assert_eq!(views(&mut client, &maildir), expected);
            let trashed = client.messages("Trash");
            assert!(!trashed[0].has_flag("\\Deleted"), "{:?}", trashed[0].flags);
            break;
        }
        assert_eq!(output.status.code(), None, "step {k}: {output:?}");
        points += 1;
        run_ok(&env, &["sync", "mail"]);
        assert_eq!(
            views(&mut client, &maildir),
            expected,
            "killed after step {k}"
        );
    }
    assert!(points >= 2, "only {points} interruption points");
    assert!(points < MAX_POINTS, "raise MAX_POINTS");
}
