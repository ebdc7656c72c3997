//! `mailferry watch` as a user runs it: a child process left running while
//! another client changes the server and a mail reader changes the Maildir,
//! a server restart in between, and SIGTERM at the end. Every wait is for
//! an outcome, polled against a deadline.

use super::common::{env, local_view, run_ok, server_view, write_config};
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use crate::support::local::{read_folder, set_letters};
use crate::support::mail::message_with;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The watch process; killed if a test fails before stopping it.
pub(super) struct Watcher {
    child: Child,
    log_dir: std::path::PathBuf,
}

impl Watcher {
    pub(super) fn start(env: &TestEnv, args: &[&str]) -> Watcher {
        let log_dir = env.root().to_path_buf();
        let child = env
            .command()
            .arg("-v")
            .arg("watch")
            .args(args)
            .stdout(Stdio::from(
                File::create(log_dir.join("watch.out")).unwrap(),
            ))
            .stderr(Stdio::from(
                File::create(log_dir.join("watch.err")).unwrap(),
            ))
            .spawn()
            .unwrap();
        Watcher { child, log_dir }
    }

    pub(super) fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.log_dir.join(name)).unwrap_or_default();
        format!(
            "--- watch stdout ---\n{}--- watch stderr ---\n{}",
            read("watch.out"),
            read("watch.err")
        )
    }

    /// Sends SIGTERM and waits (up to `limit`) for the exit status.
    pub(super) fn terminate(&mut self, limit: Duration) -> Option<i32> {
        // SAFETY: kill only sends a signal to our own child's pid.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill failed");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "watch did not exit within {limit:?} of SIGTERM\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `condition` until it holds; fails with `what` and the watch logs
/// after `limit`.
pub(super) fn wait_for(
    watcher: &Watcher,
    limit: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "not within {limit:?}: {what}\n{}",
            watcher.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(super) fn local_has(dir: &Path, message_id: &str) -> bool {
    read_folder(dir)
        .iter()
        .any(|m| m.message_id().as_deref() == Some(message_id))
}

pub(super) fn message_id_of(content: &[u8]) -> String {
    crate::support::imap_client::header_value(content, "Message-ID").unwrap()
}

#[test]
fn watch_pulls_new_mail_pushes_local_flags_survives_a_restart_and_stops_cleanly() {
    let mut dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create("Work");
    let first = message_with("before the watch", "hello");
    client.append("INBOX", &first, &[], None);
    let work_mail = message_with("work mail", "in a watched folder");

    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "    watch: [Work]\n");
    let inbox = maildir.join("INBOX");
    let mut watcher = Watcher::start(&env, &["mail"]);

    // The full sync at the start.
    wait_for(&watcher, Duration::from_secs(10), "first sync", || {
        local_has(&inbox, &message_id_of(&first))
    });

    // The lock is held: a sync from cron is told another run is busy.
    let busy = env.run(&["sync", "mail"]);
    assert_eq!(busy.status.code(), Some(3), "{}", watcher.logs());

    // Another client delivers; IDLE brings it down within seconds.
    let arrived = message_with("arrived during the watch", "new mail");
    client.append("INBOX", &arrived, &[], None);
    wait_for(
        &watcher,
        Duration::from_secs(10),
        "new INBOX mail pulled",
        || local_has(&inbox, &message_id_of(&arrived)),
    );
    client.append("Work", &work_mail, &["\\Seen"], None);
    wait_for(
        &watcher,
        Duration::from_secs(10),
        "new Work mail pulled",
        || local_has(&maildir.join("Work"), &message_id_of(&work_mail)),
    );

    // A mail reader flags a message; the poll pushes it to the server.
    let local = read_folder(&inbox);
    let target = local
        .iter()
        .find(|m| m.message_id().as_deref() == Some(&message_id_of(&first)))
        .unwrap();
    set_letters(target, "FS");
    wait_for(
        &watcher,
        Duration::from_secs(10),
        "local flags pushed",
        || {
            client
                .messages("INBOX")
                .iter()
                .any(|m| m.content == first && m.has_flag("\\Flagged") && m.has_flag("\\Seen"))
        },
    );

    // The server restarts under the watch: every connection drops.
    client.logout();
    dovecot.restart();
    let mut client = dovecot.client("alice");
    let after_restart = message_with("after the restart", "still watching");
    client.append("INBOX", &after_restart, &["\\Flagged"], None);
    wait_for(
        &watcher,
        Duration::from_secs(20),
        "mail after a server restart pulled",
        || local_has(&inbox, &message_id_of(&after_restart)),
    );
    // The IDLE connections were dropped with the old server's processes
    // and come back; a later change arrives through them again.
    wait_for(
        &watcher,
        Duration::from_secs(30),
        "IDLE reconnected",
        || watcher.logs().contains("watching server:INBOX again"),
    );
    let later = message_with("later still", "after the reconnect");
    client.append("INBOX", &later, &[], None);
    wait_for(
        &watcher,
        Duration::from_secs(10),
        "later mail pulled",
        || local_has(&inbox, &message_id_of(&later)),
    );

    assert_eq!(
        watcher.terminate(Duration::from_secs(10)),
        Some(0),
        "{}",
        watcher.logs()
    );
    let logs = watcher.logs();
    assert!(logs.contains("stopped; the state is saved"), "{logs}");

    // The state was saved: a sync afterwards has nothing to do, and both
    // sides hold the same messages with the same flags.
    let dry = run_ok(&env, &["sync", "mail", "--dry-run"]);
    let plan = String::from_utf8_lossy(&dry.stdout);
    assert!(!plan.trim().is_empty(), "{plan}");
    for line in plan.lines() {
        assert!(line.ends_with("nothing to do"), "{plan}\n{logs}");
    }
    for folder in ["INBOX", "Work"] {
        assert_eq!(
            server_view(&mut client, folder),
            local_view(&maildir.join(folder)),
            "{folder}"
        );
    }
}

/// Without IDLE on the server, watch says it polls and how often, and
/// the poll brings new mail down.
#[test]
fn without_idle_watch_says_it_polls_and_how_often() {
    let dovecot = Dovecot::start_with(crate::support::dovecot::DovecotOptions {
        imap_capability: Some(super::common::CAPABILITIES_WITHOUT_MODSEQ.replace(" IDLE", "")),
        ..Default::default()
    });
    let mut client = dovecot.client("alice");
    assert!(!client.has_capability("IDLE"));
    let mut env = env();
    let maildir = env.maildir();
    write_config(
        &mut env,
        &dovecot,
        "alice",
        &maildir,
        "    poll_interval: 10s\n",
    );
    let inbox = maildir.join("INBOX");
    let mut watcher = Watcher::start(&env, &["mail"]);
    wait_for(&watcher, Duration::from_secs(20), "the first line", || {
        watcher.logs().contains(" watching mail: ")
    });
    let logs = watcher.logs();
    assert!(
        logs.contains("server:INBOX polled every 10s (the server offers no IDLE)"),
        "{logs}"
    );
    assert!(!logs.contains("IDLE on"), "{logs}");

    let arrived = message_with("arrived while polled", "new mail");
    client.append("INBOX", &arrived, &[], None);
    wait_for(
        &watcher,
        Duration::from_secs(30),
        "the poll pulls it",
        || local_has(&inbox, &message_id_of(&arrived)),
    );
    assert_eq!(
        watcher.terminate(Duration::from_secs(10)),
        Some(0),
        "{}",
        watcher.logs()
    );
}

/// `on_new_mail` runs when IDLE brings a message in, told how many and
/// where, and not for a round that brought nothing.
#[test]
fn on_new_mail_runs_when_watch_brings_mail_in() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    let first = message_with("before the watch", "hello");
    client.append("INBOX", &first, &[], None);

    let mut env = env();
    let maildir = env.maildir();
    let log = env.root().join("new-mail.log");
    let extra = format!(
        "    on_new_mail: 'printf \"%s %s\\n\" \"$MAILFERRY_NEW\" \"$MAILFERRY_NEW_BY_FOLDER\" >> {}'\n",
        log.display()
    );
    write_config(&mut env, &dovecot, "alice", &maildir, &extra);
    let mut watcher = Watcher::start(&env, &["mail"]);
    let lines = || std::fs::read_to_string(&log).unwrap_or_default();

    // The full sync at the start brought one message.
    wait_for(
        &watcher,
        Duration::from_secs(10),
        "hook after the first sync",
        || lines() == "1 INBOX=1\n",
    );
    // `status` tells of watch's rounds as of any sync (it needs no lock).
    let status = run_ok(&env, &["status", "mail"]);
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        said.contains("last run ok") && said.contains("  INBOX: 1 far, 1 near"),
        "{said}"
    );
    // Another client delivers two; IDLE brings them down and the hook runs
    // again for them (in one round or two).
    for n in 0..2 {
        let arrived = message_with(&format!("arrived {n}"), "new mail");
        client.append("INBOX", &arrived, &[], None);
    }
    wait_for(
        &watcher,
        Duration::from_secs(10),
        "hook for new mail",
        || {
            let counted: usize = lines()
                .lines()
                .skip(1)
                .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
                .sum();
            counted == 2
        },
    );
    assert_eq!(
        watcher.terminate(Duration::from_secs(10)),
        Some(0),
        "{}",
        watcher.logs()
    );
    assert!(
        lines()
            .lines()
            .skip(1)
            .all(|l| l.ends_with("INBOX=1") || l.ends_with("INBOX=2")),
        "{}",
        lines()
    );
}
