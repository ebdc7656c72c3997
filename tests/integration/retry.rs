//! A connection that drops in the middle of a sync: the folder is tried
//! again on a new connection, the sync completes, and a second run finds
//! nothing left to do. The drop is made by a proxy between mailferry and
//! Dovecot that cuts the first connection after a number of bytes.

use super::common::{assert_no_duplicates, env, local_view, run_ok, server_view, stderr};
use crate::support::dovecot::Dovecot;
use crate::support::mail::{sample_date, sample_message};
use crate::support::proxy::{Fault, FaultProxy};

/// More than one fetch batch (at most 400 messages or 2 MB; these average
/// about 11 KB), so the first attempt stores some messages before the cut
/// and the retry must not copy them again.
const MESSAGES: u64 = 450;

#[test]
fn dropped_connection_mid_fetch_is_retried_and_the_sync_converges() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    let mut total_bytes = 0;
    for seed in 0..MESSAGES {
        let message = sample_message(seed);
        total_bytes += message.len();
        client.append("INBOX", &message, &[], Some(sample_date(seed)));
    }
    // In the second fetch batch: past login, listing and the first batch.
    let proxy = FaultProxy::start(dovecot.imap_port(), Fault::CutAfter(total_bytes * 3 / 4));

    let mut env = env();
    let store = dovecot.imap_store_yaml("server", "alice", "none").replace(
        &format!("port: {}", dovecot.imap_port()),
        &format!("port: {}", proxy.port()),
    );
    env.write_config(&format!(
        "stores:\n{store}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\nstate_dir: {state}\n",
        maildir = env.maildir().display(),
        state = env.root().join("state").display(),
    ));

    let output = run_ok(&env, &["-v", "sync", "mail"]);
    let err = stderr(&output);
    assert_eq!(proxy.cuts(), 1, "{err}");
    assert!(proxy.connections() >= 2, "{err}");
    assert!(err.contains("mail: folder INBOX: "), "{err}");
    assert!(err.contains("trying again in 1 s (1 of 3)"), "{err}");
    assert!(err.contains("reconnecting to 127.0.0.1"), "{err}");
    // The retry started from what the first attempt had journaled.
    let near_counts: Vec<usize> = err
        .lines()
        .filter_map(|line| line.split(" on the far side, ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(near_counts.len(), 2, "{err}");
    assert_eq!(near_counts[0], 0, "{err}");
    assert!(
        near_counts[1] > 0 && near_counts[1] < MESSAGES as usize,
        "{err}"
    );

    let local = local_view(&env.maildir().join("INBOX"));
    assert_eq!(local.len(), MESSAGES as usize);
    assert_no_duplicates(&local, "the local INBOX");
    assert_eq!(local, server_view(&mut client, "INBOX"));

    // Converged: a second run has nothing to do and changes nothing.
    let plan = run_ok(&env, &["sync", "--dry-run", "mail"]);
    assert_eq!(
        String::from_utf8_lossy(&plan.stdout).trim(),
        "mail:INBOX: nothing to do"
    );
    run_ok(&env, &["sync", "mail"]);
    assert_eq!(local_view(&env.maildir().join("INBOX")), local);
    assert_eq!(server_view(&mut client, "INBOX").len(), MESSAGES as usize);
}

/// The same for POP3 (issue 15): the connection is cut in the middle of a
/// RETR; the folder is tried again on a new session (after 1 s, as for
/// IMAP), which downloads only what the first did not, so every message is
/// in the Maildir once.
#[test]
fn dropped_pop3_connection_mid_retr_is_retried_and_nothing_is_downloaded_twice() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    let mut total_bytes = 0;
    for seed in 0..MESSAGES {
        let message = sample_message(seed);
        total_bytes += message.len();
        client.append("INBOX", &message, &[], Some(sample_date(seed)));
    }
    // Well into the RETRs: the listing is a small part of the bytes.
    let proxy = FaultProxy::start(dovecot.pop3_port(), Fault::CutAfter(total_bytes * 3 / 4));

    let mut env = env();
    let store = super::pop3::pop3_store_yaml(&dovecot, "pop", "alice", "none", "").replace(
        &format!("port: {}", dovecot.pop3_port()),
        &format!("port: {}", proxy.port()),
    );
    env.write_config(&format!(
        "stores:\n{store}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: pop\n    near: local\nstate_dir: {state}\n",
        maildir = env.maildir().display(),
        state = env.root().join("state").display(),
    ));

    let output = run_ok(&env, &["-v", "sync", "mail"]);
    let err = stderr(&output);
    assert_eq!(proxy.cuts(), 1, "{err}");
    assert!(proxy.connections() >= 2, "{err}");
    assert!(
        err.contains("closed the connection in the middle of a message (RETR)"),
        "{err}"
    );
    assert!(err.contains("trying again in 1 s (1 of 3)"), "{err}");

    let local = local_view(&env.maildir().join("INBOX"));
    assert_eq!(local.len(), MESSAGES as usize);
    assert_no_duplicates(&local, "the local INBOX");
    let on_server: Vec<String> = server_view(&mut client, "INBOX")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let held: Vec<String> = local.into_iter().map(|(id, _)| id).collect();
    assert_eq!(held, on_server);

    let plan = run_ok(&env, &["sync", "--dry-run", "mail"]);
    assert_eq!(
        String::from_utf8_lossy(&plan.stdout).trim(),
        "mail:INBOX: nothing to do"
    );
}
