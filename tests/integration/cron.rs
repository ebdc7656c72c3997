//! Running from cron: the lock against overlapping runs (exit status 3,
//! `--wait`, stale locks taken over) and exit status 1 when one folder
//! fails while the others sync.

use super::common::{env, run_ok, stderr, write_config};
use crate::support::dovecot::Dovecot;
use crate::support::local::read_folder;
use crate::support::mail::{sample_date, sample_message};
use mailferry::state::ChannelLock;
use std::fs;
use std::time::{Duration, Instant};

#[test]
fn a_second_run_exits_3_naming_the_holder_then_runs_once_free() {
    let dovecot = Dovecot::start();
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    let state_dir = env.root().join("state");
    let lock = ChannelLock::acquire(&state_dir, "mail", false).unwrap();

    let output = env.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("being synced by another run"), "{message}");
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    assert!(!maildir.exists(), "the locked-out run touched the Maildir");

    drop(lock);
    run_ok(&env, &["sync", "mail"]);
    assert!(maildir.join("INBOX").is_dir());
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over() {
    let dovecot = Dovecot::start();
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    // What a run killed with -9 leaves: the lock file with its pid, but no
    // process holding the lock any more.
    let lock = ChannelLock::acquire(&env.root().join("state"), "mail", false).unwrap();
    let path = lock.path().to_path_buf();
    drop(lock);
    fs::write(&path, "999999\n").unwrap();
    run_ok(&env, &["sync", "mail"]);
}

/// Whether process `pid` is waiting for a lock, as /proc/locks shows
/// blocked requests (`->`).
fn waits_for_a_lock(pid: u32) -> bool {
    let locks = fs::read_to_string("/proc/locks").unwrap_or_default();
    locks
        .lines()
        .any(|line| line.contains("->") && line.split_whitespace().any(|f| f == pid.to_string()))
}

#[test]
fn wait_blocks_until_the_other_run_is_done() {
    let dovecot = Dovecot::start();
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    let lock = ChannelLock::acquire(&env.root().join("state"), "mail", false).unwrap();
    let mut child = env
        .command()
        .args(["sync", "mail", "--wait"])
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while !waits_for_a_lock(child.id()) {
        assert!(child.try_wait().unwrap().is_none(), "--wait did not wait");
        assert!(
            Instant::now() < deadline,
            "the run never queued for the lock"
        );
        std::thread::yield_now();
    }
    assert!(!maildir.exists(), "the waiting run went ahead");
    drop(lock);
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(maildir.join("INBOX").is_dir());
}

#[test]
fn one_failing_folder_exits_1_and_the_others_still_sync() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.append("INBOX", &sample_message(1), &[], Some(sample_date(1)));
    // A dot inside a name cannot be stored in a Maildir++ tree.
    client.create("v1.2");
    client.append("v1.2", &sample_message(2), &[], Some(sample_date(2)));
    client.create("Work");
    client.append("Work", &sample_message(3), &[], Some(sample_date(3)));

    let mut env = env();
    let maildir = env.maildir();
    let config = write_config(&mut env, &dovecot, "alice", &maildir, "");
    let text = fs::read_to_string(&config).unwrap().replace(
        "    type: maildir\n",
        "    type: maildir\n    layout: maildir++\n",
    );
    fs::write(&config, text).unwrap();

    let output = env.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("v1.2"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(read_folder(&maildir).len(), 1, "INBOX was synced");
    assert_eq!(
        read_folder(&maildir.join(".Work")).len(),
        1,
        "Work was synced"
    );
}
