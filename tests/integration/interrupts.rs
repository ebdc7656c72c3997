//! Ctrl-C and SIGTERM stop `sync` cleanly (issue 15): a sync uploading and
//! downloading several hundred messages is sent SIGINT or SIGTERM (once,
//! or twice in a row) at several points of its work, each run exits with
//! 130 or 143, the next run is started at once, and the run that is left
//! to finish ends with every message exactly once on both sides; one more
//! sync then changes nothing.
//!
//! A POP3-to-IMAP migration is stopped the same way, and ends with every
//! message on the target once.
//!
//! The points are not moments but amounts of work: a signal goes out once
//! the channel's journals hold so many lines (one per step done), so each
//! lands inside the upload or the download whatever the machine's speed.

use super::common::{env, run_ok};
use super::scenario::{config_yaml, dovecot, fill_server_inbox, message, trial_user, views};
use super::scenario::{Views, FOLDERS};
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use crate::support::local::deliver;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// New local messages per folder, to upload.
const LOCAL_PER_FOLDER: usize = 150;
/// New server messages in INBOX, to download.
const ON_SERVER: usize = 300;

/// A local message of a few KB, LF line ends as in a Maildir.
fn local_message(folder: &str, n: usize) -> Vec<u8> {
    let filler = "Ctrl-C must leave a state the next run converges from.\n".repeat(1 + n % 60);
    format!(
        "From: laptop@mailferry.test\nTo: you@mailferry.test\nSubject: {folder} upload {n}\n\
         Message-ID: <int.{folder}.{n}@mailferry.test>\n\n{filler}"
    )
    .into_bytes()
}

/// A device with new messages on both sides, and the Message-IDs each
/// folder must end with.
fn device(dovecot: &Dovecot, user: &str) -> (TestEnv, BTreeMap<&'static str, BTreeSet<String>>) {
    let mut device = env();
    let mut expected: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for folder in FOLDERS {
        let ids = expected.entry(folder).or_default();
        for n in 0..LOCAL_PER_FOLDER {
            deliver(
                &device.maildir().join(folder),
                &format!("1700000000.M{n}.laptop"),
                &local_message(folder, n),
            );
            ids.insert(format!("<int.{folder}.{n}@mailferry.test>"));
        }
    }
    let origin = format!("sig.{user}");
    let on_server: Vec<Vec<u8>> = (0..ON_SERVER).map(|n| message(&origin, n)).collect();
    fill_server_inbox(dovecot, user, &on_server, &origin);
    if let Some(ids) = expected.get_mut("INBOX") {
        ids.extend((0..ON_SERVER).map(|n| format!("<{origin}.{n}@mailferry.test>")));
    }
    let yaml = config_yaml(&device, user, dovecot.imap_port(), None, "");
    device.write_config(&yaml);
    (device, expected)
}

/// Lines in the journals under `dir` (a channel's or a migration's
/// state): the steps recorded and not yet folded into a saved state.
fn journal_lines(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                journal_lines(&path)
            } else if entry.file_name().to_string_lossy().ends_with(".journal") {
                fs::read(&path)
                    .map(|bytes| bytes.iter().filter(|&&b| b == b'\n').count())
                    .unwrap_or(0)
            } else {
                0
            }
        })
        .sum()
}

/// How a signalled run ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// It finished before the point was reached (status 0).
    Finished,
    /// The signal was sent; the run's exit status.
    Signalled(Option<i32>),
}

/// Starts `mailferry sync mail` and sends `signal` (`twice`: two in a row)
/// once its journals hold `lines` lines.
fn sync_signalled_at(device: &TestEnv, lines: usize, signal: i32, twice: bool) -> Ended {
    run_signalled_at(device, &["sync", "mail"], lines, signal, twice)
}

/// Starts `mailferry ARGS` and sends `signal` (`twice`: two in a row) once
/// the journals of its state hold `lines` lines.
fn run_signalled_at(
    device: &TestEnv,
    args: &[&str],
    lines: usize,
    signal: i32,
    twice: bool,
) -> Ended {
    let log = device.root().join("signalled-run.log");
    let mut child = device
        .command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let state_dir = device.root().join("state");
    // Polls the run's progress; the signal goes out once it got there.
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "a run failed on its own ({status:?}):\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            return Ended::Finished;
        }
        if journal_lines(&state_dir) >= lines {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..if twice { 2 } else { 1 } {
        // SAFETY: kill(2) on our own child's pid touches no memory.
        unsafe {
            libc::kill(child.id() as libc::pid_t, signal);
        }
    }
    let status = child.wait().unwrap();
    let said = fs::read_to_string(&log).unwrap_or_default();
    if status.code() == Some(0) {
        // It finished between the look and the signal.
        return Ended::Finished;
    }
    if !twice {
        assert!(
            said.contains("stopped by SIG") && said.contains("the next run goes on"),
            "a signalled run said:\n{said}"
        );
    }
    Ended::Signalled(status.code())
}

/// The Message-IDs of each folder in `views` (which holds no duplicates:
/// [`views`] checks that).
fn held(views: &Views) -> BTreeMap<&'static str, BTreeSet<String>> {
    FOLDERS
        .iter()
        .zip(views)
        .map(|(folder, view)| (*folder, view.iter().map(|(id, _)| id.clone()).collect()))
        .collect()
}

#[test]
fn sigint_and_sigterm_during_a_sync_exit_130_and_143_and_the_next_run_converges() {
    // (journal lines at which the signal goes, signal, sent twice)
    let points: [&[(usize, i32, bool)]; 2] = [
        &[
            (20, libc::SIGINT, false),
            (150, libc::SIGTERM, false),
            (400, libc::SIGINT, false),
            (700, libc::SIGTERM, true),
        ],
        &[
            (60, libc::SIGTERM, false),
            (250, libc::SIGINT, true),
            (500, libc::SIGTERM, false),
            (900, libc::SIGINT, false),
        ],
    ];
    let dovecot = dovecot(points.len());
    let mut signalled = 0;
    for (trial, points) in points.iter().enumerate() {
        let user = trial_user(trial);
        let (device, expected) = device(&dovecot, &user);
        for &(lines, signal, twice) in points.iter() {
            match sync_signalled_at(&device, lines, signal, twice) {
                Ended::Finished => {}
                Ended::Signalled(code) => {
                    signalled += 1;
                    assert_eq!(
                        code,
                        Some(128 + signal),
                        "{user}: signal {signal} at {lines} journal lines"
                    );
                }
            }
        }
        run_ok(&device, &["sync", "mail"]);
        let after = views(&dovecot, &user, &device.maildir()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(held(&after), expected, "{user}: lost or extra messages");
        run_ok(&device, &["sync", "mail"]);
        assert_eq!(
            views(&dovecot, &user, &device.maildir()).unwrap(),
            after,
            "{user}: a further sync changed something"
        );
    }
    eprintln!(
        "signals: {signalled} runs stopped by SIGINT or SIGTERM in {} trials of {} uploads and \
         {ON_SERVER} downloads, each followed at once by the next run: lost 0, duplicated 0",
        points.len(),
        FOLDERS.len() * LOCAL_PER_FOLDER
    );
    assert!(signalled >= 4, "only {signalled} signals landed in a run");
}

#[test]
fn sigint_and_sigterm_during_a_migration_exit_130_and_143_and_the_next_run_copies_each_once() {
    const MESSAGES: usize = 400;
    let dovecot = dovecot(2);
    let (source, target) = (trial_user(0), trial_user(1));
    let messages: Vec<Vec<u8>> = (0..MESSAGES).map(|n| message("mig", n)).collect();
    fill_server_inbox(&dovecot, &source, &messages, "mig");
    let expected: BTreeSet<String> = (0..MESSAGES)
        .map(|n| format!("<mig.{n}@mailferry.test>"))
        .collect();
    let mut device = env();
    let yaml = format!(
        "stores:\n{pop}  server:\n    type: imap\n    host: 127.0.0.1\n    port: {port}\n    \
         tls: none\n    user: {target}\n    password: {target}-pw\nstate_dir: {state}\n",
        pop = super::pop3::pop3_store_yaml(&dovecot, "pop", &source, "none", ""),
        port = dovecot.imap_port(),
        state = device.root().join("state").display(),
    );
    device.write_config(&yaml);

    let mut signalled = 0;
    for (lines, signal) in [
        (30, libc::SIGTERM),
        (250, libc::SIGINT),
        (600, libc::SIGTERM),
    ] {
        if let Ended::Signalled(code) =
            run_signalled_at(&device, &["migrate", "pop", "server"], lines, signal, false)
        {
            signalled += 1;
            assert_eq!(code, Some(128 + signal), "signal {signal} at {lines} lines");
        }
    }
    run_ok(&device, &["migrate", "pop", "server"]);
    let mut client = dovecot.client(&target);
    let view = super::common::server_view(&mut client, "INBOX");
    client.logout();
    super::common::assert_no_duplicates(&view, "the target INBOX");
    let held: BTreeSet<String> = view.into_iter().map(|(id, _)| id).collect();
    assert_eq!(held, expected, "lost or extra messages on the target");
    eprintln!(
        "signals: {signalled} migrations of {MESSAGES} messages stopped by SIGINT or SIGTERM, \
         each followed at once by the next run: lost 0, duplicated 0"
    );
    assert!(signalled >= 2, "only {signalled} signals landed in a run");
}
