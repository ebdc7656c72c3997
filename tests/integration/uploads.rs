//! Uploads that are never doubled (issue 15): 500 new local messages of up
//! to 40 KB in two folders are being uploaded in MULTIAPPEND batches when
//! the run is killed (SIGKILL or SIGINT) at a seeded random moment, and the
//! next run is started at once, while Dovecot may still be storing the
//! batch the dead run sent. New server mail is being downloaded at the
//! same time, so kills also land while the Maildir side has files staged
//! in tmp/. After that run every message is on both sides exactly once,
//! tmp/ is empty, and one more sync changes nothing. The same through a
//! proxy that slows the upload, so that kills land inside a batch. And a
//! server without UIDPLUS that shows an appended message to a search only
//! after a NOOP (as Courier does): uploads are found again, none is doubled.

use super::common::{env, run_ok, server_view, stderr};
use super::scenario::{
    config_yaml, dovecot, fill_server_inbox, message, soak_factor, trial_user, Rng, FOLDERS,
};
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
/// New server messages in INBOX.
const ON_SERVER: usize = 100;
/// Trials killed on the direct connection, and through the slow proxy
/// (where a killed run's last batch reaches the server long after the
/// next run began: the race that doubled uploads). Both are multiplied
/// by MAILFERRY_SOAK.
const TRIALS: usize = 2;
const PROXY_TRIALS: usize = 2;
/// Where kills of runs through the slow link are drawn from.
const SLOW_WINDOW: Duration = Duration::from_millis(3000);
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
/// through `port`, whose server INBOX holds new messages too.
fn device(dovecot: &Dovecot, user: &str, port: u16) -> (TestEnv, Expected) {
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
    let origin = format!("down.{user}");
    let on_server: Vec<Vec<u8>> = (0..ON_SERVER).map(|n| message(&origin, n)).collect();
    fill_server_inbox(dovecot, user, &on_server, &origin);
    if let Some(ids) = expected.get_mut("INBOX") {
        ids.extend((0..ON_SERVER).map(|n| format!("<{origin}.{n}@mailferry.test>")));
    }
    let yaml = config_yaml(&device, user, port, None, "");
    device.write_config(&yaml);
    (device, expected)
}

/// What a user compares: per folder, (Message-ID, flags) on the server,
/// then in the Maildir.
type Look = Vec<Vec<(String, String)>>;

fn look(dovecot: &Dovecot, user: &str, maildir: &Path) -> Look {
    let mut server = dovecot.client(user);
    let mut all = Vec::new();
    for folder in FOLDERS {
        all.push(server_view(&mut server, folder));
        all.push(super::common::local_view(&maildir.join(folder)));
    }
    server.logout();
    all
}

/// Messages held twice (or more) and messages missing, on both sides, and
/// files left in the Maildir's tmp/.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    duplicates: usize,
    lost: usize,
    left_in_tmp: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.duplicates += other.duplicates;
        self.lost += other.lost;
        self.left_in_tmp += other.left_in_tmp;
    }
}

fn tally(looked: &Look, maildir: &Path, expected: &Expected) -> Tally {
    let mut total = Tally::default();
    for (index, folder) in FOLDERS.iter().enumerate() {
        for view in &looked[2 * index..2 * index + 2] {
            let held: BTreeSet<&String> = view.iter().map(|(id, _)| id).collect();
            total.duplicates += view.len() - held.len();
            total.lost += expected[folder]
                .iter()
                .filter(|id| !held.contains(id))
                .count();
        }
        total.left_in_tmp += fs::read_dir(maildir.join(folder).join("tmp"))
            .map(|entries| entries.count())
            .unwrap_or(0);
    }
    total
}

/// Starts `mailferry sync mail` and sends it `signal` after `delay` unless
/// it ended first (then it must have succeeded). Returns whether the
/// signal was sent. How the signalled run ends is not checked here (a
/// SIGINT stops it at its next journal step with status 130; see
/// interrupts.rs).
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

/// One trial: the sync is signalled at each of `signals` (after a random
/// delay within `window`), each next run started at once, then a run that
/// is left to finish. With `slow`, each signalled run goes through a proxy
/// of its own that hands its uploads on slowly, so that the batch it sent
/// reaches the server while the next run (direct) is under way; once the
/// proxies are drained, one more sync sees whatever landed late. Then the
/// tally, and a further sync that must change nothing.
fn trial(
    dovecot: &Dovecot,
    user: &str,
    rng: &mut Rng,
    window: Duration,
    signals: &[i32],
    slow: bool,
) -> (Tally, usize) {
    let (mut device, expected) = device(dovecot, user, dovecot.imap_port());
    let direct = config_yaml(&device, user, dovecot.imap_port(), None, "");
    let mut proxies = Vec::new();
    let mut kills = 0;
    for &signal in signals {
        if slow {
            let proxy = FaultProxy::start(dovecot.imap_port(), slow_upload());
            device.write_config(&config_yaml(&device, user, proxy.port(), None, ""));
            proxies.push(proxy);
        }
        let window = window.as_millis() as u64;
        let delay = Duration::from_millis(rng.between(window / 10, window * 9 / 10));
        if run_and_signal(&device, delay, signal) {
            kills += 1;
        }
        device.write_config(&direct);
    }
    run_ok(&device, &["sync", "mail"]);
    if slow {
        wait_for(Duration::from_secs(60), "the slow proxies", || {
            proxies.iter().all(FaultProxy::drained)
        });
        run_ok(&device, &["sync", "mail"]);
    }
    let before = look(dovecot, user, &device.maildir());
    let found = tally(&before, &device.maildir(), &expected);
    eprintln!("killed uploads: {user}: {kills} kill(s): {found:?}");
    run_ok(&device, &["sync", "mail"]);
    assert_eq!(
        look(dovecot, user, &device.maildir()),
        before,
        "a further sync of {user} changed something"
    );
    (found, kills)
}

/// A link that takes a client's bytes at once and hands them on at about
/// 1.6 MB/s: a batch of 64 messages takes most of a second to arrive.
fn slow_upload() -> Fault {
    Fault::SlowUpload {
        chunk: 16 * 1024,
        pause: Duration::from_millis(10),
    }
}

/// How long an uninterrupted sync takes through `port` (user `user`),
/// checked to leave every message once.
fn uninterrupted(dovecot: &Dovecot, user: &str, port: u16) -> Duration {
    let (device, expected) = device(dovecot, user, port);
    let started = Instant::now();
    run_ok(&device, &["sync", "mail"]);
    let took = started.elapsed();
    let looked = look(dovecot, user, &device.maildir());
    assert_eq!(
        tally(&looked, &device.maildir(), &expected),
        Tally::default()
    );
    took
}

#[test]
fn uploads_killed_at_random_moments_and_resumed_at_once_are_never_doubled() {
    let started = Instant::now();
    let mut rng = Rng::from_env("killed uploads");
    let (trials, proxy_trials) = (TRIALS * soak_factor(), PROXY_TRIALS * soak_factor());
    let dovecot = dovecot(1 + trials + proxy_trials);
    let signals = |trial: usize| -> Vec<i32> {
        (0..KILLS_PER_TRIAL)
            .map(|kill| {
                if (trial + kill).is_multiple_of(2) {
                    libc::SIGKILL
                } else {
                    libc::SIGINT
                }
            })
            .collect()
    };

    let direct = uninterrupted(&dovecot, &trial_user(0), dovecot.imap_port());
    // Through the slow link the upload alone takes about 6 s: kills within
    // its first seconds land in the upload.
    let slowed = SLOW_WINDOW;
    let (mut total, mut kills) = (Tally::default(), 0);
    for n in 0..trials + proxy_trials {
        let slow = n >= trials;
        let (found, landed) = trial(
            &dovecot,
            &trial_user(1 + n),
            &mut rng,
            if slow { slowed } else { direct },
            &signals(n),
            slow,
        );
        total += found;
        kills += landed;
    }
    eprintln!(
        "killed uploads: {} trials of {} uploads and {} downloads (uninterrupted {:.2} s direct; \
         kills within {:.2} s through the slow link), {kills} kills each followed at once by the \
         next run: {} duplicates, {} lost, {} files left in tmp/; {:.1} s in all",
        trials + proxy_trials,
        2 * PER_FOLDER,
        ON_SERVER,
        direct.as_secs_f64(),
        slowed.as_secs_f64(),
        total.duplicates,
        total.lost,
        total.left_in_tmp,
        started.elapsed().as_secs_f64()
    );
    assert!(kills > 0, "no kill landed during an upload");
    assert_eq!(
        total,
        Tally::default(),
        "duplicates, lost messages or tmp/ files"
    );
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

/// Polls `done` every 10 ms for at most `limit`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_batch_the_server_stores_after_the_next_run_uploaded_it_again_is_removed() {
    const MESSAGES: usize = 150;
    let dovecot = Dovecot::start();
    let proxy = FaultProxy::start(dovecot.imap_port(), Fault::HoldFirstAppend);
    let mut device = env();
    let inbox = device.maildir().join("INBOX");
    for n in 0..MESSAGES {
        deliver(
            &inbox,
            &format!("1700000000.M{n}.laptop"),
            &local_message("INBOX", n),
        );
    }
    let yaml = config_yaml(&device, "alice", proxy.port(), None, "");
    device.write_config(&yaml);

    // The first run sends its first batch whole and is killed waiting for
    // the answer; the server has not stored the batch yet.
    let mut killed = device
        .command()
        .args(["sync", "mail"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(30), "the first batch", || {
        proxy.holding_whole_append()
    });
    killed.kill().unwrap();
    killed.wait().unwrap();
    // The next run, started at once, finds nothing and uploads it all.
    run_ok(&device, &["sync", "mail"]);
    let mut server = dovecot.client("alice");
    assert_eq!(server.count("INBOX"), MESSAGES as u32);
    // Then the server stores the dead run's batch.
    proxy.release();
    wait_for(Duration::from_secs(30), "the late batch", || {
        server.count("INBOX") > MESSAGES as u32
    });
    let late = server.count("INBOX") as usize - MESSAGES;

    let output = run_ok(&device, &["-v", "sync", "mail"]);
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &stderr(&output);
    let on_server = server_view(&mut server, "INBOX");
    let local = super::common::local_view(&inbox);
    super::common::assert_no_duplicates(&on_server, "the server's INBOX");
    super::common::assert_no_duplicates(&local, "the local INBOX");
    assert_eq!(on_server.len(), MESSAGES);
    assert_eq!(local, on_server);
    assert!(
        said.contains(&format!("removed from the far side: {late} second copies")),
        "{said}"
    );
    run_ok(&device, &["sync", "mail"]);
    assert_eq!(snapshot_inbox(&mut server, &inbox), vec![on_server, local]);
    eprintln!("late batch: {late} late copies removed, none downloaded");
}
