//! Resyncs that skip unchanged folders: after a sync that found nothing to
//! do, the next run skips a folder whose versions on both sides (IMAP
//! UIDVALIDITY/UIDNEXT/count/HIGHESTMODSEQ, the maildir's directory times)
//! are unchanged, and every kind of change on either side still reaches
//! the other side.

use super::common::{
    assert_no_duplicates, env, local_view, run_ok, server_view, stderr, write_config,
    write_config_for, Modseq, Variant,
};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::{deliver, read_folder, set_letters};
use crate::support::mail::{message_with, sample_date, sample_message};
use std::fs;
use std::path::{Path, PathBuf};

const SKIPPED: &str = "unchanged since the last sync, skipped";
use mailferry::sync::folder::NEAR_AS_RECORDED;

struct Device {
    env: TestEnv,
    maildir: PathBuf,
}

impl Device {
    /// Syncs and returns what -v printed.
    fn sync(&self) -> String {
        stderr(&run_ok(&self.env, &["-v", "sync", "mail"]))
    }

    /// Syncs twice: the first carries a change, the second finds nothing
    /// to do and leaves every folder settled.
    fn sync_and_settle(&self) {
        self.sync();
        self.sync();
    }

    fn folder(&self, name: &str) -> PathBuf {
        self.maildir.join(name)
    }
}

fn skipped(log: &str, folder: &str) -> bool {
    log.contains(&format!("folder {folder}: {SKIPPED}"))
}

/// Both sides hold the same messages with the same flags, once each.
fn assert_same(server: &mut ImapTestClient, device: &Device, folder: &str, step: &str) {
    let on_server = server_view(server, folder);
    assert_no_duplicates(&on_server, "the server");
    assert_eq!(
        local_view(&device.folder(folder)),
        on_server,
        "{folder} after {step}"
    );
}

/// The local copy of sample message `seed`.
fn by_seed(dir: &Path, seed: u64) -> crate::support::local::LocalMessage {
    let id = format!("<sample.{seed}@mailferry.test>");
    read_folder(dir)
        .into_iter()
        .find(|m| m.message_id().as_deref() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("no sample {seed} in {}", dir.display()))
}

/// Every kind of change, each made while the folders were settled (so
/// the run that must carry it decides from the versions alone whether to
/// look), reaches the other side; and an idle resync skips every folder.
fn changes_are_seen_after_a_skip(variant: Variant) {
    let dovecot = Dovecot::start_with(variant.dovecot_options(DovecotOptions::default()));
    let mut server = dovecot.client("alice");
    let mut uids = Vec::new();
    for seed in 1..6 {
        uids.push(server.append("INBOX", &sample_message(seed), &[], Some(sample_date(seed))));
    }
    server.create("Work");
    server.append(
        "Work",
        &sample_message(50),
        &["\\Seen"],
        Some(sample_date(50)),
    );

    let mut env = env();
    let maildir = env.maildir();
    write_config_for(&mut env, &dovecot, "alice", &maildir, variant);
    let device = Device { env, maildir };
    device.sync_and_settle();
    let idle = device.sync();
    let can_skip = variant.modseq != Modseq::Neither;
    for folder in ["INBOX", "Work"] {
        assert_eq!(
            skipped(&idle, folder),
            can_skip,
            "{variant:?}, {folder}:\n{idle}"
        );
    }

    // Each change made while settled, carried by one run, then settled.
    server.add_flags("INBOX", uids[0], &["\\Flagged"]);
    device.sync();
    assert_same(
        &mut server,
        &device,
        "INBOX",
        "a flag set by another client",
    );
    device.sync();

    let local = by_seed(&device.folder("INBOX"), 2);
    set_letters(&local, "S");
    device.sync();
    assert_same(&mut server, &device, "INBOX", "a flag set in the maildir");
    device.sync();

    server.append("INBOX", &sample_message(7), &[], Some(sample_date(7)));
    device.sync();
    assert_same(&mut server, &device, "INBOX", "new mail on the server");
    device.sync();

    server.expunge_uid("INBOX", uids[2]);
    device.sync();
    assert_same(&mut server, &device, "INBOX", "an expunge on the server");
    device.sync();

    let local = by_seed(&device.folder("INBOX"), 4);
    fs::remove_file(&local.path).expect("delete locally");
    device.sync();
    assert_same(&mut server, &device, "INBOX", "a deletion in the maildir");
    device.sync();

    deliver(
        &device.folder("Work"),
        "1700000000.local1.host",
        &message_with("written locally", "while settled"),
    );
    let log = device.sync();
    assert_same(&mut server, &device, "Work", "new mail in the maildir");
    if can_skip {
        assert!(skipped(&log, "INBOX"), "INBOX did not change:\n{log}");
    }
    assert!(!skipped(&log, "Work"), "Work changed:\n{log}");

    let inbox = server_view(&mut server, "INBOX");
    // 5 + 1 new - 1 expunged - 1 deleted locally.
    assert_eq!(inbox.len(), 4, "{inbox:?}");
    assert_eq!(server_view(&mut server, "Work").len(), 2);
}

#[test]
fn changes_are_seen_after_a_skip_with_qresync_on_four_connections() {
    changes_are_seen_after_a_skip(Variant {
        modseq: Modseq::Qresync,
        connections: 4,
    });
}

#[test]
fn changes_are_seen_after_a_skip_with_condstore_only_on_one_connection() {
    changes_are_seen_after_a_skip(Variant {
        modseq: Modseq::CondstoreOnly,
        connections: 1,
    });
}

#[test]
fn without_condstore_nothing_is_skipped_and_changes_are_seen() {
    changes_are_seen_after_a_skip(Variant {
        modseq: Modseq::Neither,
        connections: 4,
    });
}

/// After a sync that settled, a flag change on the server reaches a
/// maildir whose files are named otherwise than mailferry names them (an
/// unread message moved to cur/, a keyword letter): the near side is not
/// read (its messages are the state's) until a guessed name proves wrong.
#[test]
fn server_changes_reach_files_named_otherwise_without_reading_an_unchanged_maildir() {
    let dovecot = Dovecot::start();
    let mut server = dovecot.client("alice");
    let unread = server.append("INBOX", &sample_message(1), &[], Some(sample_date(1)));
    let read = server.append(
        "INBOX",
        &sample_message(2),
        &["\\Seen"],
        Some(sample_date(2)),
    );
    let plain = server.append(
        "INBOX",
        &sample_message(3),
        &["\\Seen"],
        Some(sample_date(3)),
    );
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    let device = Device { env, maildir };
    device.sync_and_settle();
    let inbox = device.folder("INBOX");
    let first = by_seed(&inbox, 1);
    assert_eq!(first.subdir, "new");
    fs::rename(
        &first.path,
        inbox.join("cur").join(format!("{}:2,", first.unique)),
    )
    .unwrap();
    let second = by_seed(&inbox, 2);
    set_letters(&second, "Sa");
    device.sync_and_settle();

    for uid in [unread, read, plain] {
        server.add_flags("INBOX", uid, &["\\Flagged"]);
    }
    let log = device.sync();
    assert!(log.contains(NEAR_AS_RECORDED), "{log}");
    let letters: Vec<String> = server_view(&mut server, "INBOX")
        .into_iter()
        .map(|(_, letters)| letters)
        .collect();
    assert_eq!(letters, ["F", "FS", "FS"], "the server keeps no keyword");
    assert_eq!(by_seed(&inbox, 1).letters, "F");
    assert_eq!(by_seed(&inbox, 2).letters, "FSa", "the keyword is kept");
    assert_eq!(by_seed(&inbox, 3).letters, "FS");
    assert!(read_folder(&inbox).iter().all(|m| m.subdir == "cur"));
}

/// A server that lists folders without their status (no LIST-STATUS):
/// the folder is skipped after its SELECT instead.
#[test]
fn without_list_status_a_folder_is_skipped_after_selecting_it() {
    let capabilities = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UNSELECT CHILDREN \
        NAMESPACE UIDPLUS LIST-EXTENDED ESEARCH MOVE LITERAL+ MULTIAPPEND CONDSTORE QRESYNC";
    let dovecot = Dovecot::start_with(DovecotOptions {
        imap_capability: Some(capabilities.to_string()),
        ..DovecotOptions::default()
    });
    let mut server = dovecot.client("alice");
    let uid = server.append("INBOX", &sample_message(1), &[], Some(sample_date(1)));
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    let device = Device { env, maildir };
    device.sync_and_settle();
    assert!(skipped(&device.sync(), "INBOX"));

    server.add_flags("INBOX", uid, &["\\Answered"]);
    assert!(!skipped(&device.sync(), "INBOX"));
    assert_same(
        &mut server,
        &device,
        "INBOX",
        "a flag set by another client",
    );
}

/// A settled folder is looked at again when the channel's policy changes:
/// a flag change left alone under `sync: [new]` travels once flags are
/// synced.
#[test]
fn a_changed_policy_is_not_skipped() {
    let dovecot = Dovecot::start();
    let mut server = dovecot.client("alice");
    let uid = server.append("INBOX", &sample_message(1), &[], Some(sample_date(1)));
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "    sync: [new]\n");
    let device = Device { env, maildir };
    device.sync_and_settle();
    server.add_flags("INBOX", uid, &["\\Flagged"]);
    device.sync_and_settle();
    assert_eq!(
        local_view(&device.folder("INBOX"))[0].1,
        "",
        "flags are not synced yet"
    );

    let mut env = device.env;
    write_config(&mut env, &dovecot, "alice", &device.maildir, "");
    let device = Device {
        env,
        maildir: device.maildir,
    };
    let log = device.sync();
    assert!(!skipped(&log, "INBOX"), "{log}");
    assert_same(&mut server, &device, "INBOX", "the policy changed");
}

/// Folders changed on the server alone are opened ahead several at a time
/// on a guess (their SELECTs sent before their turn); where the guess is
/// wrong (a message flagged deleted on the server must be expunged there)
/// the folder is selected again, and every change lands where it belongs.
#[test]
fn folders_opened_ahead_on_a_guess_carry_every_change() {
    let dovecot = Dovecot::start();
    let mut server = dovecot.client("alice");
    let folders = ["Alpha", "Beta", "Gamma", "Delta"];
    let mut uids = Vec::new();
    for (n, folder) in folders.iter().enumerate() {
        server.create(folder);
        let seeds = (10 * n as u64)..(10 * n as u64 + 3);
        let appended: Vec<u32> = seeds
            .map(|seed| server.append(folder, &sample_message(seed), &[], Some(sample_date(seed))))
            .collect();
        uids.push(appended);
    }
    let mut env = env();
    let maildir = env.maildir();
    let variant = Variant {
        modseq: Modseq::Qresync,
        connections: 1,
    };
    write_config_for(&mut env, &dovecot, "alice", &maildir, variant);
    let device = Device { env, maildir };
    device.sync_and_settle();

    for (folder, appended) in folders.iter().zip(&uids) {
        server.add_flags(folder, appended[0], &["\\Flagged"]);
    }
    server.add_flags("Beta", uids[1][1], &["\\Deleted"]);
    let log = stderr(&run_ok(&device.env, &["-vv", "sync", "mail"]));
    assert!(log.contains("(sent ahead)"), "{log}");
    // Beta's answer came ahead; its expunge needed it selected again.
    assert!(log.contains("C: SELECT \"Beta\"\n"), "{log}");
    for folder in folders {
        assert_same(&mut server, &device, folder, "flags set on the server");
        let flagged = server_view(&mut server, folder)
            .into_iter()
            .filter(|(_, letters)| letters.contains('F'))
            .count();
        assert_eq!(flagged, 1, "{folder}");
    }
    assert_eq!(server_view(&mut server, "Beta").len(), 2);
    assert_eq!(read_folder(&device.folder("Beta")).len(), 2);
    device.sync();
    let log = device.sync();
    for folder in folders {
        assert!(skipped(&log, folder), "{folder} not settled:\n{log}");
    }
}

/// Before its first SELECT a connection spends two round trips: LOGIN
/// (whose answer carries the capabilities, so no CAPABILITY follows), then
/// NAMESPACE and LIST sent together; ENABLE goes with the first SELECT.
/// Nothing is sent behind LOGIN: Courier's login process drops what it
/// read past the LOGIN line when it hands the connection on. The -vv log shows each command as
/// it is sent and each answer as it is read, so the order of its lines
/// tells the round trips.
#[test]
fn a_connection_takes_two_round_trips_before_its_first_select() {
    let dovecot = Dovecot::start();
    let mut server = dovecot.client("alice");
    server.create("Alpha");
    server.append("Alpha", &sample_message(1), &[], Some(sample_date(1)));
    let mut env = env();
    let maildir = env.maildir();
    let variant = Variant {
        modseq: Modseq::Qresync,
        connections: 1,
    };
    write_config_for(&mut env, &dovecot, "alice", &maildir, variant);
    let log = stderr(&run_ok(&env, &["-vv", "sync", "mail"]));
    let conversation: Vec<&str> = log
        .lines()
        .filter_map(|line| line.split_once("debug: ").map(|(_, said)| said))
        .filter(|said| said.starts_with("C: ") || said.starts_with("S: "))
        .take_while(|said| !said.starts_with("C: SELECT"))
        .collect();
    let sides: String = conversation
        .iter()
        .map(|said| if said.starts_with("C: ") { 'C' } else { 'S' })
        .collect();
    assert_eq!(sides, "CSCCSSC", "{conversation:#?}");
    assert!(conversation[0].starts_with("C: LOGIN"), "{conversation:#?}");
    assert!(
        conversation[2].starts_with("C: NAMESPACE"),
        "{conversation:#?}"
    );
    assert!(conversation[3].starts_with("C: LIST"), "{conversation:#?}");
    assert!(
        conversation[6].starts_with("C: ENABLE QRESYNC"),
        "{conversation:#?}"
    );
    assert!(
        !conversation
            .iter()
            .any(|said| said.starts_with("C: CAPABILITY")),
        "{conversation:#?}"
    );
}
