//! Uploads that are never doubled (issue 15): 500 new local messages of up
//! to 40 KB in two folders are being uploaded in MULTIAPPEND batches when
//! the run is killed (SIGKILL or SIGINT) at a seeded random moment, and the
//! next run is started at once, while Dovecot may still be storing the
//! batch the dead run sent. After that run every message is on both sides
//! exactly once, and one more sync changes nothing. The same through a
//! proxy that slows the upload, so that kills land inside a batch. And a
//! server without UIDPLUS that shows an appended message to a search only
//! after a NOOP (as Courier does): uploads are found again, none is doubled.

use super::common::{env, run_ok, server_view, stderr};
use super::scenario::{config_yaml, dovecot, trial_user, Rng, FOLDERS};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::local::{deliver, read_folder};
use crate::support::proxy::{Fault, FaultProxy};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// New local messages per folder.
const PER_FOLDER: usize = 250;
/// Trials killed on the direct connection, and through the slow proxy.
const TRIALS: usize = 4;
const PROXY_TRIALS: usize = 2;
/// Kills per trial, each followed at once by the next run.
const KILLS_PER_TRIAL: usize = 2;

/// A local message of 0 to 40 KB (by `n`), LF line ends as in a Maildir.
fn local_message(folder: &str, n: usize) -> Vec<u8> {
    let size = (n * 7919) % 40_000;
    let line = "Uploads must never be doubled, whatever the timing of a kill.\n";
    let filler: String = line.repeat(size / line.len());
    format!(
        "From: laptop@mailferry.test\nTo: you@mailferry.test\nSubject: {folder} upload {n}\n\
         Message-ID: <up.{folder}.{n}@mailferry.test>\n\n{filler}"
    )
    .into_bytes()
}

/// The Message-IDs of the messages written into each folder.
type Expected = BTreeMap<&'static str, BTreeSet<String>>;

/// A device whose Maildir holds the new messages, configured for `user`
/// through `port`.
fn device(user: &str, port: u16) -> (TestEnv, Expected) {
    let mut device = env();
    let mut expected = Expected::new();
    for folder in FOLDERS {
        let dir = device.maildir().join(folder);
        let ids = expected.entry(folder).or_default();
        for n in 0..PER_FOLDER {
            deliver(
                &dir,
                &format!("1700000000.M{n}.laptop"),
                &local_message(folder, n),
            );
            ids.insert(format!("<up.{folder}.{n}@mailferry.test>"));
        }
    }
    let yaml = config_yaml(&device, user, port, None, "");
    device.write_config(&yaml);
    (device, expected)
}

/// Messages held twice (or more) and messages missing, on both sides.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    duplicates: usize,
    lost: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.duplicates += other.duplicates;
        self.lost += other.lost;
    }
}

fn tally(dovecot: &Dovecot, user: &str, maildir: &Path, expected: &Expected) -> Tally {
    let mut total = Tally::default();
    let mut server = dovecot.client(user);
    for folder in FOLDERS {
        let on_server: Vec<String> = server
            .messages(folder)
            .into_iter()
            .map(|m| m.message_id.unwrap_or_default())
            .collect();
        let local: Vec<String> = read_folder(&maildir.join(folder))
            .iter()
            .map(|m| m.message_id().unwrap_or_default())
            .collect();
        for ids in [on_server, local] {
            let held: BTreeSet<&String> = ids.iter().collect();
            total.duplicates += ids.len() - held.len();
            total.lost += expected[folder]
                .iter()
                .filter(|id| !held.contains(id))
                .count();
        }
    }
    server.logout();
    total
}

/// What a user compares: each folder's (Message-ID, flags) on the server
/// and in the Maildir.
fn snapshot(dovecot: &Dovecot, user: &str, maildir: &Path) -> Vec<Vec<(String, String)>> {
    let mut server = dovecot.client(user);
    let mut all = Vec::new();
    for folder in FOLDERS {
        all.push(server_view(&mut server, folder));
        all.push(super::common::local_view(&maildir.join(folder)));
    }
    server.logout();
    all
}

/// Starts `mailferry sync mail` and sends it `signal` after `delay` unless
/// it ended first (then it must have succeeded). Returns whether the
/// signal was sent. How the signalled run ends is not checked: until
/// `sync` stops cleanly on SIGINT, SIGINT kills it outright.
fn run_and_signal(device: &TestEnv, delay: Duration, signal: i32) -> bool {
    let log = device.root().join("killed-run.log");
    let mut child = device
        .command()
        .args(["sync", "mail"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "a run failed on its own ({status:?}):\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child's pid touches no memory.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
    child.wait().unwrap();
    true
}

/// One trial: the upload is signalled `KILLS_PER_TRIAL` times, each next
/// run started at once, then a run that is left to finish; the tally after
/// it. One more sync must change nothing.
fn trial(
    dovecot: &Dovecot,
    user: &str,
    port: u16,
    rng: &mut Rng,
    window: Duration,
    signals: &[i32],
) -> (Tally, usize) {
    let (device, expected) = device(user, port);
    let mut kills = 0;
    for &signal in signals {
        let delay = Duration::from_millis(rng.between(5, window.as_millis() as u64));
        if run_and_signal(&device, delay, signal) {
            kills += 1;
        }
    }
    run_ok(&device, &["sync", "mail"]);
    let found = tally(dovecot, user, &device.maildir(), &expected);
    let before = snapshot(dovecot, user, &device.maildir());
    run_ok(&device, &["sync", "mail"]);
    assert_eq!(
        snapshot(dovecot, user, &device.maildir()),
        before,
        "a further sync of {user} changed something"
    );
    (found, kills)
}

/// How long an uninterrupted upload takes through `port` (user `user`),
/// checked to leave every message once.
fn uninterrupted(dovecot: &Dovecot, user: &str, port: u16) -> Duration {
    let (device, expected) = device(user, port);
    let started = Instant::now();
    run_ok(&device, &["sync", "mail"]);
    let took = started.elapsed();
    assert_eq!(
        tally(dovecot, user, &device.maildir(), &expected),
        Tally::default()
    );
    took
}

#[test]
fn uploads_killed_at_random_moments_and_resumed_at_once_are_never_doubled() {
    let started = Instant::now();
    let mut rng = Rng::from_env("killed uploads");
    let dovecot = dovecot(2 + TRIALS + PROXY_TRIALS);
    let signals = |trial: usize| -> Vec<i32> {
        (0..KILLS_PER_TRIAL)
            .map(|kill| {
                if (trial + kill) % 2 == 0 {
                    libc::SIGKILL
                } else {
                    libc::SIGINT
                }
            })
            .collect()
    };

    let direct = uninterrupted(&dovecot, &trial_user(0), dovecot.imap_port());
    let (mut total, mut kills) = (Tally::default(), 0);
    for n in 0..TRIALS {
        let (found, landed) = trial(
            &dovecot,
            &trial_user(2 + n),
            dovecot.imap_port(),
            &mut rng,
            direct,
            &signals(n),
        );
        total += found;
        kills += landed;
    }

    let proxy = FaultProxy::start(
        dovecot.imap_port(),
        Fault::SlowUpload {
            chunk: 32 * 1024,
            pause: Duration::from_millis(2),
        },
    );
    let slowed = uninterrupted(&dovecot, &trial_user(1), proxy.port());
    for n in 0..PROXY_TRIALS {
        let (found, landed) = trial(
            &dovecot,
            &trial_user(2 + TRIALS + n),
            proxy.port(),
            &mut rng,
            slowed,
            &signals(n),
        );
        total += found;
        kills += landed;
    }
    eprintln!(
        "killed uploads: {} trials of {} messages (uninterrupted {:.2} s direct, {:.2} s through \
         the slow proxy), {kills} kills each followed at once by the next run: {} duplicates, {} \
         lost; {:.1} s in all",
        TRIALS + PROXY_TRIALS,
        2 * PER_FOLDER,
        direct.as_secs_f64(),
        slowed.as_secs_f64(),
        total.duplicates,
        total.lost,
        started.elapsed().as_secs_f64()
    );
    assert!(kills > 0, "no kill landed during an upload");
    assert_eq!(total, Tally::default(), "duplicates or lost messages");
}

#[test]
fn a_server_without_uidplus_showing_appends_late_gets_each_upload_once() {
    let without_uidplus =
        super::common::CAPABILITIES_WITHOUT_MODSEQ.replace(" UIDPLUS", "") + " CONDSTORE";
    let dovecot = Dovecot::start_with(DovecotOptions {
        imap_capability: Some(without_uidplus),
        ..DovecotOptions::default()
    });
    assert!(!dovecot.client("alice").has_capability("UIDPLUS"));
    let proxy = FaultProxy::start(dovecot.imap_port(), Fault::HideAppendsUntilNoop);
    let mut device = env();
    let inbox = device.maildir().join("INBOX");
    for n in 0..12 {
        deliver(
            &inbox,
            &format!("1700000000.M{n}.laptop"),
            &local_message("INBOX", n),
        );
    }
    // Messages without a Message-ID are found by their content.
    for n in 0..3 {
        deliver(
            &inbox,
            &format!("1700000001.M{n}.laptop"),
            format!("From: laptop@mailferry.test\nSubject: no id {n}\n\nbody {n}\n").as_bytes(),
        );
    }
    let yaml = config_yaml(&device, "alice", proxy.port(), None, "");
    device.write_config(&yaml);

    let output = run_ok(&device, &["sync", "mail"]);
    assert!(
        !stderr(&output).contains("could not be found again"),
        "{}",
        stderr(&output)
    );
    let mut server = dovecot.client("alice");
    let messages = server.messages("INBOX");
    assert_eq!(messages.len(), 15, "each upload once on the server");
    let ids: BTreeSet<String> = messages
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    assert_eq!(ids.len(), 12);
    let before = snapshot_inbox(&mut server, &inbox);
    run_ok(&device, &["sync", "mail"]);
    assert_eq!(snapshot_inbox(&mut server, &inbox), before);
    assert_eq!(read_folder(&inbox).len(), 15, "nothing came back down");
}

/// The server's and the Maildir's view of INBOX.
fn snapshot_inbox(
    server: &mut crate::support::imap_client::ImapTestClient,
    inbox: &Path,
) -> Vec<Vec<(String, String)>> {
    vec![
        server_view(server, "INBOX"),
        super::common::local_view(inbox),
    ]
}

#[test]
fn a_server_without_uidplus_rewriting_header_bytes_gets_a_note_not_an_error() {
    let without_uidplus =
        super::common::CAPABILITIES_WITHOUT_MODSEQ.replace(" UIDPLUS", "") + " CONDSTORE";
    let dovecot = Dovecot::start_with(DovecotOptions {
        imap_capability: Some(without_uidplus),
        ..DovecotOptions::default()
    });
    let proxy = FaultProxy::start(dovecot.imap_port(), Fault::RewriteEightBitHeaders);
    let mut device = env();
    let inbox = device.maildir().join("INBOX");
    for n in 0..3 {
        deliver(
            &inbox,
            &format!("1700000000.M{n}.laptop"),
            format!(
                "From: laptop@mailferry.test\nSubject: caf\u{e9} {n}\n\
                 Message-ID: <eight.{n}@mailferry.test>\n\nbody {n}\n"
            )
            .as_bytes(),
        );
    }
    let yaml = config_yaml(&device, "alice", proxy.port(), None, "");
    device.write_config(&yaml);

    // Notes are shown with -v (or on a terminal).
    let output = run_ok(&device, &["-v", "sync", "mail"]);
    let said = stderr(&output) + &String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        said.matches("with other bytes than were sent").count(),
        3,
        "{said}"
    );
    assert!(said.contains("<eight.0@mailferry.test>"), "{said}");
    let mut server = dovecot.client("alice");
    let messages = server.messages("INBOX");
    assert_eq!(messages.len(), 3, "each upload once on the server");
    assert!(
        messages
            .iter()
            .all(|m| !m.content.iter().any(|&b| b >= 0x80)),
        "the proxy rewrote the 8-bit header bytes"
    );
    let before = snapshot_inbox(&mut server, &inbox);
    run_ok(&device, &["sync", "mail"]);
    assert_eq!(snapshot_inbox(&mut server, &inbox), before);
}
