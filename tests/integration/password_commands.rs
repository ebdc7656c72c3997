//! Password commands that hang (issue 15): gpg waiting for a pinentry under
//! cron, a locked keyring. The command is stopped at the store's
//! `command_timeout`, with the process it started in the background; the
//! run exits 1 with an error naming the command and not what it printed;
//! the channel's lock is free, so the next run proceeds. A SIGTERM while
//! the command runs stops it the same way, and mailferry exits 143 (130
//! after SIGINT, as for `dedupe`).

use super::common::{env, run_ok, stderr};
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// A config whose server store gets its password from `password_line`
/// (YAML for the password key), with `command_timeout` seconds.
fn write_config(device: &mut TestEnv, dovecot: &Dovecot, password_line: &str, timeout: u64) {
    let yaml = format!(
        "stores:\n  server:\n    type: imap\n    host: 127.0.0.1\n    port: {port}\n    tls: none\n\
         {password_line}    command_timeout: {timeout}\n    user: alice\n  local:\n    type: maildir\n\
         \x20   path: {maildir}\nchannels:\n  mail:\n    far: server\n    near: local\nstate_dir: {state}\n",
        port = dovecot.imap_port(),
        maildir = device.maildir().display(),
        state = device.root().join("state").display(),
    );
    device.write_config(&yaml);
}

/// A password command that prints something, then hangs, with a child of
/// its own hanging too; it writes its pid and its child's to `pids`.
fn hanging_command(pids: &Path) -> String {
    let script = pids.with_file_name("hang.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho leaked-output\nsleep 1000 &\necho $$ $! > {}\nsleep 1000\n",
            pids.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    format!("    password_command: {}\n", script.display())
}

/// The pids the hanging command wrote, once it wrote both.
fn written_pids(pids: &Path) -> Option<Vec<libc::pid_t>> {
    let text = fs::read_to_string(pids).ok()?;
    let found: Vec<libc::pid_t> = text
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    (found.len() == 2 && text.ends_with('\n')).then_some(found)
}

/// Whether `pid` runs (a zombie waiting to be reaped does not).
fn running(pid: libc::pid_t) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    })
}

/// Asserts every pid is gone, allowing each the moment a killed process
/// takes to die.
fn assert_all_stopped(pids: &[libc::pid_t]) {
    for &pid in pids {
        let deadline = Instant::now() + Duration::from_secs(10);
        while running(pid) {
            assert!(
                Instant::now() < deadline,
                "process {pid} of the password command was left running"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Runs `mailferry ARGS`, and once the hanging command (see
/// [`hanging_command`]) and its child run, sends `signal`. Returns the
/// run's output and the command's pids.
fn signal_while_the_command_hangs(
    device: &TestEnv,
    args: &[&str],
    pids: &Path,
    signal: i32,
) -> (Output, Vec<libc::pid_t>) {
    let mut child = device
        .command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the command and its child run, mailferry is waiting for it.
    let written = loop {
        if let Some(found) = written_pids(pids) {
            break found;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "mailferry ended before the command ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // SAFETY: kill(2) on our own child's pid touches no memory.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
    (child.wait_with_output().unwrap(), written)
}

/// The next run, with a working password, is not stopped by a lock.
fn next_run_proceeds(device: &mut TestEnv, dovecot: &Dovecot) {
    let password = format!("    password: {}\n", dovecot.password("alice"));
    write_config(device, dovecot, &password, 60);
    run_ok(device, &["sync", "mail"]);
}

#[test]
fn a_hanging_password_command_is_stopped_at_its_timeout_with_its_children_and_the_lock_freed() {
    let dovecot = Dovecot::start();
    let mut device = env();
    let pids = device.root().join("pids");
    write_config(&mut device, &dovecot, &hanging_command(&pids), 1);

    let started = Instant::now();
    let output = device.run(&["sync", "mail"]);
    let took = started.elapsed();
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("the password command `") && said.contains("hang.sh`"),
        "the error does not name the command:\n{said}"
    );
    assert!(said.contains("did not finish within 1 s"), "{said}");
    assert!(!said.contains("leaked-output"), "{said}");
    // Bounded by the configured limit, not by the default of 60 s.
    assert!(took < Duration::from_secs(50), "took {took:?}");
    let pids = written_pids(&pids).expect("the command wrote its pids");
    assert_all_stopped(&pids);
    next_run_proceeds(&mut device, &dovecot);
}

#[test]
fn sigterm_while_a_password_command_hangs_stops_it_and_exits_143() {
    let dovecot = Dovecot::start();
    let mut device = env();
    let pids = device.root().join("pids");
    write_config(&mut device, &dovecot, &hanging_command(&pids), 600);

    let (output, written) =
        signal_while_the_command_hangs(&device, &["sync", "mail"], &pids, libc::SIGTERM);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(143), "{said}");
    assert!(said.contains("stopped by SIGTERM"), "{said}");
    assert_all_stopped(&written);
    next_run_proceeds(&mut device, &dovecot);
}

/// `dedupe` is stopped the same way: SIGINT while its store's password
/// command hangs ends the command and exits 130.
#[test]
fn sigint_while_dedupe_waits_for_a_password_command_stops_it_and_exits_130() {
    let dovecot = Dovecot::start();
    let mut device = env();
    let pids = device.root().join("pids");
    write_config(&mut device, &dovecot, &hanging_command(&pids), 600);

    let (output, written) =
        signal_while_the_command_hangs(&device, &["dedupe", "server:INBOX"], &pids, libc::SIGINT);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{said}");
    assert!(said.contains("stopped by SIGINT"), "{said}");
    assert_all_stopped(&written);
}
