//! A state file damaged between two syncs (cut mid-line, garbage, a wrong
//! version, emptied, a garbled journal): the sync stops with an error that
//! names the file and line, and nothing is deleted or copied on either
//! side, although the scenario has deletions waiting that a misread state
//! could spread. A state cut at a line boundary cannot be told from a
//! shorter one; it loses pairs, which content identity finds again, so it
//! syncs without deleting or duplicating anything either (a deletion made
//! since the last sync may be undone, as the pair that recorded it is gone).

use super::common::{env, local_view, run_ok, server_view};
use super::scenario::{dovecot, message, trial_user};
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use std::fs;
use std::path::{Path, PathBuf};

/// One way to damage the files; returns the line the error must name.
struct Damage {
    name: &'static str,
    apply: fn(&Path, &Path) -> Option<usize>,
}

fn damages() -> Vec<Damage> {
    vec![
        Damage {
            name: "cut in the middle of a line",
            apply: |state, _| {
                let text = fs::read_to_string(state).unwrap();
                let lines = text.lines().count();
                fs::write(state, &text[..text.len() - 5]).unwrap();
                Some(lines)
            },
        },
        Damage {
            name: "garbage on line 4",
            apply: |state, _| {
                let text = fs::read_to_string(state).unwrap();
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                lines[3] = "pair \u{1}\u{7f} garbage ¿".to_string();
                fs::write(state, lines.join("\n") + "\n").unwrap();
                Some(4)
            },
        },
        Damage {
            name: "binary garbage",
            apply: |state, _| {
                fs::write(state, b"\x00\xff\xfe\x89PNG\r\n\x1a\n").unwrap();
                Some(1)
            },
        },
        Damage {
            name: "a version from the future",
            apply: |state, _| {
                let text = fs::read_to_string(state).unwrap();
                fs::write(
                    state,
                    text.replacen("mailferry-state 1", "mailferry-state 9", 1),
                )
                .unwrap();
                Some(1)
            },
        },
        Damage {
            name: "emptied",
            apply: |state, _| {
                fs::write(state, b"").unwrap();
                Some(1)
            },
        },
        Damage {
            name: "garbage in the journal",
            apply: |state, journal| {
                let text = fs::read_to_string(state).unwrap();
                let generation = text
                    .lines()
                    .find_map(|l| l.strip_prefix("generation "))
                    .unwrap()
                    .to_string();
                fs::write(
                    journal,
                    format!("mailferry-journal 1 {generation}\nunpair 3 \u{1}\nnonsense\n"),
                )
                .unwrap();
                Some(2)
            },
        },
        Damage {
            name: "cut at a line boundary (undetectable, must still be harmless)",
            apply: |state, _| {
                let text = fs::read_to_string(state).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                let kept = lines.len() - 4;
                fs::write(state, lines[..kept].join("\n") + "\n").unwrap();
                None
            },
        },
    ]
}

/// The state file of INBOX, found by its header.
fn inbox_state(state_dir: &Path) -> PathBuf {
    let mut stack = vec![state_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().unwrap().to_string_lossy() == "INBOX.state" {
                return path;
            }
        }
    }
    panic!("no INBOX state under {}", state_dir.display())
}

/// A device synced once with 12 messages, then with deletions and new mail
/// on both sides waiting.
fn scenario(dovecot: &Dovecot, user: &str) -> TestEnv {
    let mut server = dovecot.client(user);
    server.create("Archive");
    let mut uids = Vec::new();
    for n in 0..12 {
        uids.push(server.append("INBOX", &message("corrupt", n), &[], None));
    }
    let mut device = env();
    device.write_config(&super::scenario::config_yaml(
        &device,
        user,
        dovecot.imap_port(),
        None,
        "",
    ));
    run_ok(&device, &["sync", "mail"]);
    // Waiting: one deleted here, one expunged there, one new each side.
    let inbox = device.maildir().join("INBOX");
    let local = crate::support::local::read_folder(&inbox);
    fs::remove_file(&local[0].path).unwrap();
    crate::support::local::deliver(&inbox, "1700000009.new.host", &message("corrupt-local", 1));
    server.expunge_uid("INBOX", uids[5]);
    server.append("INBOX", &message("corrupt-server", 1), &[], None);
    server.logout();
    device
}

#[test]
fn a_damaged_state_file_stops_the_sync_naming_file_and_line_and_deletes_nothing() {
    let damages = damages();
    let dovecot = dovecot(damages.len());
    for (n, damage) in damages.iter().enumerate() {
        let user = trial_user(n);
        let device = scenario(&dovecot, &user);
        let state = inbox_state(&device.root().join("state"));
        let journal = PathBuf::from(format!("{}.journal", state.display()));
        let mut server = dovecot.client(&user);
        let server_before = server_view(&mut server, "INBOX");
        let local_before = local_view(&device.maildir().join("INBOX"));

        let line = (damage.apply)(&state, &journal);
        let damaged = fs::read(&state).unwrap();
        let output = device.run(&["sync", "mail"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let what = damage.name;
        match line {
            Some(line) => {
                assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
                let file = if what.contains("journal") {
                    &journal
                } else {
                    &state
                };
                let named = format!("{}:{line}: ", file.display());
                assert!(
                    stderr.contains(&named),
                    "{what}: expected {named:?} in:\n{stderr}"
                );
                assert!(!stderr.contains("panicked"), "{stderr}");
                // Nothing happened on either side, and the damaged file is
                // left for the user to look at.
                assert_eq!(server_view(&mut server, "INBOX"), server_before, "{what}");
                assert_eq!(
                    local_view(&device.maildir().join("INBOX")),
                    local_before,
                    "{what}"
                );
                assert_eq!(
                    fs::read(&state).unwrap(),
                    damaged,
                    "{what}: state rewritten"
                );
                eprintln!(
                    "corrupt state, {what}: {}",
                    stderr.trim_end().lines().last().unwrap()
                );
            }
            None => {
                // Undetectable, so the sync runs: the lost pairs are found
                // again by content; no message is lost or held twice.
                assert_eq!(output.status.code(), Some(0), "{what}: {stderr}");
                let on_server = server_view(&mut server, "INBOX");
                let local = local_view(&device.maildir().join("INBOX"));
                assert_eq!(on_server, local, "{what}");
                super::common::assert_no_duplicates(&on_server, what);
                // Whatever both sides held before is still there. A pair
                // cut off whose message was deleted on one side since comes
                // back (it looks new on the other): a deletion undone, never
                // one made.
                let ids = |view: &[(String, String)]| -> Vec<String> {
                    view.iter().map(|(id, _)| id.clone()).collect()
                };
                let (before_far, before_near) = (ids(&server_before), ids(&local_before));
                for id in before_far.iter().filter(|id| before_near.contains(id)) {
                    assert!(ids(&on_server).contains(id), "{what}: lost {id}");
                }
                assert!(
                    (12..=14).contains(&on_server.len()),
                    "{what}: {on_server:?}"
                );
            }
        }
    }
}
