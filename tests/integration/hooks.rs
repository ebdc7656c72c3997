//! `post_sync` hooks against a real Dovecot: what the hook is told, that a
//! failing or hanging hook is reported without failing the sync, and that a
//! dry run runs none.

use super::common::{dovecot_with_inbox_and_work, env, run_ok, stderr, write_config};
use crate::support::dovecot::process_exists;
use std::fs;

/// A hook script that writes each `MAILFERRY_*` variable it is given into
/// a file of that name in the directory named by its argument.
const RECORDER: &str = r#"#!/bin/sh
mkdir -p "$1"
for name in MAILFERRY_CHANNEL MAILFERRY_CHANNELS MAILFERRY_EXIT_STATUS MAILFERRY_NEW \
            MAILFERRY_NEW_BY_FOLDER MAILFERRY_UPLOADED; do
    printenv "$name" > "$1/$name" || rm -f "$1/$name"
done
"#;

/// What the recorder wrote into `dir` for `name` (printenv's newline off).
fn recorded(dir: &std::path::Path, name: &str) -> String {
    let text =
        fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name} not recorded: {e}"));
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

#[test]
fn post_sync_hooks_are_told_what_the_sync_did() {
    let dovecot = dovecot_with_inbox_and_work();
    let mut device = env();
    let recorder = device.root().join("record.sh");
    fs::write(&recorder, RECORDER).unwrap();
    let (channel, run) = (device.root().join("channel"), device.root().join("run"));
    let extra = format!(
        "    post_sync: 'sh {recorder} {channel}; echo indexed'\n\
         post_sync: 'sh {recorder} {run}'\n",
        recorder = recorder.display(),
        channel = channel.display(),
        run = run.display(),
    );
    let maildir = device.maildir();
    write_config(&mut device, &dovecot, "alice", &maildir, &extra);

    let output = run_ok(&device, &["-v", "sync", "mail"]);
    let said = stderr(&output) + &String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("post_sync of channel mail: indexed"),
        "the hook's output shows at -v: {said}"
    );
    assert_eq!(recorded(&channel, "MAILFERRY_CHANNEL"), "mail");
    assert_eq!(recorded(&channel, "MAILFERRY_EXIT_STATUS"), "0");
    assert_eq!(recorded(&channel, "MAILFERRY_NEW"), "4");
    assert_eq!(
        recorded(&channel, "MAILFERRY_NEW_BY_FOLDER"),
        "INBOX=3\nWork=1"
    );
    assert_eq!(recorded(&channel, "MAILFERRY_UPLOADED"), "0");
    assert_eq!(recorded(&run, "MAILFERRY_CHANNELS"), "mail");
    assert_eq!(recorded(&run, "MAILFERRY_NEW"), "4");

    // Nothing new: the hooks run and say so.
    run_ok(&device, &["sync", "mail"]);
    assert_eq!(recorded(&channel, "MAILFERRY_NEW"), "0");
    assert_eq!(recorded(&channel, "MAILFERRY_NEW_BY_FOLDER"), "");

    // A dry run runs no hook.
    fs::remove_dir_all(&channel).unwrap();
    run_ok(&device, &["sync", "mail", "--dry-run"]);
    assert!(!channel.exists(), "a dry run ran the hook");
}

#[test]
fn a_failing_hook_is_a_warning_and_the_mail_is_synced() {
    let dovecot = dovecot_with_inbox_and_work();
    let mut device = env();
    let maildir = device.maildir();
    let extra = "    post_sync: 'echo notmuch: database locked >&2; exit 7'\n";
    write_config(&mut device, &dovecot, "alice", &maildir, extra);

    let output = device.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output)
            .contains("post_sync of channel mail failed (exit status 7): notmuch: database locked"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        crate::support::local::read_folder(&maildir.join("INBOX")).len(),
        3
    );
}

#[test]
fn a_hanging_hook_is_stopped_with_what_it_started_at_hook_timeout() {
    let dovecot = dovecot_with_inbox_and_work();
    let mut device = env();
    let maildir = device.maildir();
    let pids = device.root().join("hook.pids");
    let extra = format!(
        "post_sync: 'sleep 1000 & echo $! > {pids}; sleep 1000'\nhook_timeout: 1\n",
        pids = pids.display()
    );
    write_config(&mut device, &dovecot, "alice", &maildir, &extra);

    let output = device.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("post_sync did not finish within 1 s and was stopped"),
        "{}",
        stderr(&output)
    );
    let child: u32 = fs::read_to_string(&pids).unwrap().trim().parse().unwrap();
    assert!(
        !process_exists(child),
        "the hook's child {child} was left running"
    );
    // The lock was released: the next run goes ahead.
    let again = device.run(&["sync", "mail"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}
