//! `tunnel:` (mbsync's `Tunnel`): the IMAP conversation over a command's
//! standard input and output, here Dovecot's own `imap` binary run for the
//! user as mbsync users run it over ssh; it greets with PREAUTH, so no
//! password is configured at all. And `user_command:` (mbsync's `UserCmd`).

use super::common::{env, run_ok};
use crate::support::dovecot::Dovecot;
use crate::support::local::{deliver, read_folder};
use crate::support::mail::{message_with, sample_date, sample_message};
use std::fs;

const IMAP_BINARY: &str = "/usr/lib/dovecot/imap";

fn seed(dovecot: &Dovecot) {
    let mut client = dovecot.client("alice");
    client.create("Work");
    for n in 0..3 {
        client.append(
            "INBOX",
            &sample_message(n),
            &["\\Seen"],
            Some(sample_date(n)),
        );
    }
    for n in 3..5 {
        client.append("Work", &sample_message(n), &[], Some(sample_date(n)));
    }
    client.logout();
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn a_tunnel_to_dovecots_imap_binary_needs_no_login_and_syncs_both_ways() {
    let dovecot = Dovecot::start();
    seed(&dovecot);
    let mut env = env();
    let maildir = env.maildir();
    let config = dovecot.config_path().display().to_string();
    let tunnel = format!("{IMAP_BINARY} -c {config} -u alice");
    env.write_config(&format!(
        "stores:\n  server:\n    type: imap\n    tunnel: \"{tunnel}\"\n  local:\n    \
         type: maildir\n    path: {maildir}\nchannels:\n  mail:\n    far: server\n    \
         near: local\nstate_dir: {state}\n",
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    ));

    let check = run_ok(&env, &["check"]);
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("tunnel `"), "{said}");

    run_ok(&env, &["sync", "mail"]);
    assert_eq!(read_folder(&maildir.join("INBOX")).len(), 3);
    assert_eq!(read_folder(&maildir.join("Work")).len(), 2);

    deliver(
        &maildir.join("Work"),
        "1700000000.local1.laptop",
        &message_with("written locally", "through the tunnel"),
    );
    run_ok(&env, &["sync", "mail"]);
    let mut client = dovecot.client("alice");
    assert_eq!(client.count("Work"), 3);
    client.logout();

    // Each tunnel command ended with the run that started it.
    assert_eq!(
        processes_mentioning(&format!("-c {config} -u alice")),
        Vec::<String>::new()
    );
}

#[test]
fn user_command_gives_the_login_name_over_tcp_too() {
    let dovecot = Dovecot::start();
    seed(&dovecot);
    let mut env = env();
    let maildir = env.maildir();
    let server = dovecot
        .imap_store_yaml("server", "alice", "implicit")
        .replace("    user: alice\n", "    user_command: echo alice\n");
    assert!(server.contains("user_command"), "{server}");
    env.write_config(&format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\nstate_dir: {state}\n",
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    ));
    let check = run_ok(&env, &["check"]);
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("as alice"), "{said}");
    run_ok(&env, &["sync", "mail"]);
    assert_eq!(read_folder(&maildir.join("INBOX")).len(), 3);
}
