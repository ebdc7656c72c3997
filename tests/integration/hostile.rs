//! A hostile or broken IMAP server (the scripted fake of
//! tests/support/fake_imap.rs): malformed responses, absurd literal and
//! size claims, UIDs out of order or twice, answers for UIDs not asked for,
//! the answers of two commands interleaved,
//! a UIDVALIDITY of 0, folder names that try to leave the Maildir, tens of
//! thousands of folders. For each, mailferry reports an error for that
//! folder or connection and exits 1, or handles it; it never panics, its
//! peak memory stays small whatever the server claims, nothing is written
//! outside the Maildir root, and no message is stored twice.

use super::common::env;
use crate::support::env::TestEnv;
use crate::support::fake_imap::{default_body, requested_uids, FakeImap, Reply, Request};
use crate::support::local::read_folder;
use crate::support::measure::{run_measured, Measured};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Peak memory a sync of a two-message folder may take, KiB. mailferry
/// needs a few MiB; a server claiming a 100 GB literal must not change that.
const MAX_RSS_KIB: u64 = 64 * 1024;
/// Cases run at once; some wait through the retries of a dropped connection.
const PARALLEL: usize = 6;

/// What a case must end in.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 1 with this in the error output.
    Error(&'static str),
    /// Exit 0 with these Message-IDs in the local INBOX.
    Synced(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    script: fn(&Request) -> Option<Reply>,
    expect: Expect,
}

fn text(s: String) -> Option<Reply> {
    Some(Reply::text(s))
}

fn is_listing(request: &Request) -> bool {
    request.verb == "UID FETCH" && !request.line.to_ascii_uppercase().contains("BODY")
}

fn is_body_fetch(request: &Request) -> bool {
    request.verb == "UID FETCH" && request.line.to_ascii_uppercase().contains("BODY")
}

fn body_item(uid: u32, body: &str) -> String {
    format!(
        "* {uid} FETCH (UID {uid} FLAGS () INTERNALDATE \"01-Jan-2024 10:00:00 +0000\" BODY[] {{{}}}\r\n{body})\r\n",
        body.len()
    )
}

const BOTH: &[&str] = &["<fake.1@mailferry.test>", "<fake.2@mailferry.test>"];

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "malformed FETCH in the listing",
            script: |r| {
                is_listing(r).then(|| {
                    Reply::text(format!(
                        "* 1 FETCH (UID 1 FLAGS (\\Seen RFC822.SIZE 12)\r\n{} OK done\r\n",
                        r.tag
                    ))
                })
            },
            expect: Expect::Error("cannot be parsed"),
        },
        Case {
            name: "binary garbage instead of a SELECT answer",
            script: |r| {
                (r.verb == "SELECT").then(|| {
                    let mut bytes = b"\x00\xff\xfe\x01 garbage {\r\n".to_vec();
                    bytes.extend_from_slice(format!("{} OK selected\r\n", r.tag).as_bytes());
                    Reply::Send(bytes)
                })
            },
            expect: Expect::Error("INBOX"),
        },
        Case {
            name: "literal of 99999999999 bytes, then close",
            script: |r| {
                is_body_fetch(r).then(|| {
                    Reply::SendAndClose(b"* 1 FETCH (UID 1 BODY[] {99999999999}\r\n".to_vec())
                })
            },
            expect: Expect::Error("INBOX"),
        },
        Case {
            name: "literal of 4294967295 bytes, then close",
            script: |r| {
                is_body_fetch(r).then(|| {
                    Reply::SendAndClose(b"* 1 FETCH (UID 1 BODY[] {4294967295}\r\nabc".to_vec())
                })
            },
            expect: Expect::Error("closed the connection"),
        },
        Case {
            name: "a literal announced larger than what follows, then close",
            script: |r| {
                is_body_fetch(r).then(|| {
                    let mut bytes = b"* 1 FETCH (UID 1 BODY[] {5000}\r\n".to_vec();
                    bytes.extend_from_slice(&[b'y'; 100]);
                    Reply::SendAndClose(bytes)
                })
            },
            expect: Expect::Error("closed the connection"),
        },
        Case {
            name: "RFC822.SIZE of 4294967295 in the listing",
            script: |r| {
                is_listing(r).then(|| {
                    Reply::text(format!(
                        "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 4294967295)\r\n\
                         * 2 FETCH (UID 2 FLAGS () RFC822.SIZE 4294967295)\r\n{} OK done\r\n",
                        r.tag
                    ))
                })
            },
            expect: Expect::Synced(BOTH),
        },
        Case {
            name: "EXISTS of 4294967295",
            script: |r| {
                (r.verb == "SELECT").then(|| {
                    Reply::text(format!(
                        "* 4294967295 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 3] ok\r\n\
                         {} OK [READ-WRITE] selected\r\n",
                        r.tag
                    ))
                })
            },
            expect: Expect::Synced(BOTH),
        },
        Case {
            name: "UIDs going backwards, UIDNEXT below them",
            script: |r| {
                let tag = &r.tag;
                match r.verb.as_str() {
                    "SELECT" => text(format!(
                        "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n\
                         {tag} OK [READ-WRITE] selected\r\n"
                    )),
                    _ if is_listing(r) => text(format!(
                        "* 1 FETCH (UID 9 FLAGS () RFC822.SIZE 80)\r\n\
                         * 2 FETCH (UID 5 FLAGS () RFC822.SIZE 80)\r\n\
                         * 3 FETCH (UID 1 FLAGS () RFC822.SIZE 80)\r\n{tag} OK done\r\n"
                    )),
                    _ if is_body_fetch(r) => {
                        let mut out = String::new();
                        for uid in requested_uids(&r.line, 9).into_iter().rev() {
                            if [1, 5, 9].contains(&uid) {
                                out.push_str(&body_item(uid, &default_body(uid)));
                            }
                        }
                        text(format!("{out}{tag} OK fetched\r\n"))
                    }
                    _ => None,
                }
            },
            expect: Expect::Synced(&[
                "<fake.1@mailferry.test>",
                "<fake.5@mailferry.test>",
                "<fake.9@mailferry.test>",
            ]),
        },
        Case {
            name: "the same UID twice in the listing and in the body fetch",
            script: |r| {
                let tag = &r.tag;
                if is_listing(r) {
                    return text(format!(
                        "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 80)\r\n\
                         * 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE 90)\r\n\
                         * 2 FETCH (UID 2 FLAGS () RFC822.SIZE 80)\r\n{tag} OK done\r\n"
                    ));
                }
                if is_body_fetch(r) {
                    let mut out = String::new();
                    for uid in requested_uids(&r.line, 2) {
                        out.push_str(&body_item(uid, &default_body(uid)));
                        // The same UID again, with other content.
                        out.push_str(&body_item(uid, &default_body(uid + 100)));
                    }
                    return text(format!("{out}{tag} OK fetched\r\n"));
                }
                None
            },
            expect: Expect::Synced(BOTH),
        },
        Case {
            name: "FETCH results for UIDs not asked for",
            script: |r| {
                is_body_fetch(r).then(|| {
                    let mut out = String::new();
                    for uid in requested_uids(&r.line, 2) {
                        out.push_str(&body_item(uid, &default_body(uid)));
                    }
                    out.push_str(&body_item(77, &default_body(77)));
                    Reply::text(format!("{out}{} OK fetched\r\n", r.tag))
                })
            },
            expect: Expect::Synced(BOTH),
        },
        Case {
            // Dovecot runs two UID FETCH commands at once when the client
            // sends the second before reading the first's answer, and the
            // second's messages may come before the first's tagged OK. The
            // listing claims sizes that put each message in a batch of its
            // own (batches hold 1 MB): both batches are then in flight.
            name: "the answers of two fetches interleaved",
            script: |r| {
                if is_listing(r) {
                    let mut out = String::new();
                    for uid in requested_uids(&r.line, 2) {
                        out.push_str(&format!(
                            "* {uid} FETCH (UID {uid} FLAGS () RFC822.SIZE 900000)\r\n"
                        ));
                    }
                    return text(format!("{out}{} OK listed\r\n", r.tag));
                }
                if is_body_fetch(r) {
                    let mut out = String::new();
                    if requested_uids(&r.line, 2) == [1] {
                        for uid in [1, 2] {
                            out.push_str(&body_item(uid, &default_body(uid)));
                        }
                    }
                    return text(format!("{out}{} OK fetched\r\n", r.tag));
                }
                None
            },
            expect: Expect::Synced(BOTH),
        },
        Case {
            name: "no content in the body fetch",
            script: |r| {
                is_body_fetch(r).then(|| {
                    Reply::text(format!(
                        "* 1 FETCH (UID 1 FLAGS ())\r\n{} OK fetched\r\n",
                        r.tag
                    ))
                })
            },
            expect: Expect::Error("no content"),
        },
        Case {
            name: "UIDVALIDITY 0",
            script: |r| {
                (r.verb == "SELECT").then(|| {
                    Reply::text(format!(
                        "* 2 EXISTS\r\n* OK [UIDVALIDITY 0] ok\r\n* OK [UIDNEXT 3] ok\r\n\
                         {} OK [READ-WRITE] selected\r\n",
                        r.tag
                    ))
                })
            },
            expect: Expect::Error("UIDVALIDITY 0"),
        },
        Case {
            name: "a tagged answer with another command's tag",
            script: |r| (r.verb == "SELECT").then(|| Reply::text("zz9 OK selected\r\n")),
            expect: Expect::Error("INBOX"),
        },
        Case {
            name: "NO to LOGIN",
            script: |r| {
                (r.verb == "LOGIN").then(|| Reply::text(format!("{} NO go away\r\n", r.tag)))
            },
            expect: Expect::Error("login refused"),
        },
        Case {
            name: "folder names that try to leave the Maildir",
            script: |r| {
                let upper = r.line.to_ascii_uppercase();
                (r.verb == "LIST" && upper.ends_with("\"*\"")).then(|| {
                    Reply::text(format!(
                        "* LIST () \"/\" INBOX\r\n\
                         * LIST () \"/\" \"../escaped\"\r\n\
                         * LIST () \"/\" \"..\"\r\n\
                         * LIST () \"/\" \"Work/../../escaped2\"\r\n\
                         * LIST () \"/\" \"/tmp/mailferry-hostile-abs\"\r\n\
                         * LIST () \"/\" {{7}}\r\nbad\x01one\r\n\
                         * LIST () \".\" \"..escaped3\"\r\n\
                         * LIST () \"/\" \"cur\"\r\n\
                         {} OK done\r\n",
                        r.tag
                    ))
                })
            },
            expect: Expect::Error("folder"),
        },
    ]
}

fn write_config(device: &mut TestEnv, port: u16, folders: &str) {
    write_config_with(device, port, folders, "");
}

/// [`write_config`] with more keys for the server's store (`extra`, each
/// line indented as a key of it).
fn write_config_with(device: &mut TestEnv, port: u16, folders: &str, extra: &str) {
    device.write_config(&format!(
        "stores:\n  server:\n    type: imap\n    host: 127.0.0.1\n    port: {port}\n    tls: none\n    \
         user: someone\n    password: the-password\n{extra}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\n    folders: {folders}\n\
         state_dir: {state}\n",
        maildir = device.maildir().display(),
        state = device.root().join("state").display(),
    ));
}

/// Every path under the environment's root.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path.clone());
            }
            all.push(path);
        }
    }
    all
}

/// What every run must satisfy, whatever the server did.
fn check_invariants(name: &str, run: &Measured, device: &TestEnv) -> Result<(), String> {
    if run.stderr.contains("panicked") || run.code == Some(101) || run.signal.is_some() {
        return Err(format!("{name}: mailferry crashed: {run:?}"));
    }
    if run.max_rss_kib > MAX_RSS_KIB {
        return Err(format!("{name}: peak memory {} KiB", run.max_rss_kib));
    }
    let allowed: Vec<PathBuf> = ["home", "config", "state", "Maildir"]
        .iter()
        .map(|d| device.root().join(d))
        .collect();
    for path in tree(device.root()) {
        if !allowed.iter().any(|a| path.starts_with(a)) {
            return Err(format!(
                "{name}: wrote outside the Maildir: {}",
                path.display()
            ));
        }
    }
    for outside in ["/tmp/mailferry-hostile-abs", "/tmp/escaped"] {
        if Path::new(outside).exists() {
            return Err(format!("{name}: created {outside}"));
        }
    }
    Ok(())
}

fn run_case(case: &Case) -> Result<(u64, String), String> {
    let fake = FakeImap::start(case.script);
    let mut device = env();
    write_config(&mut device, fake.port(), "[\"*\"]");
    let mut command = device.command();
    command.args(["sync", "mail"]);
    let run = run_measured(command);
    check_invariants(case.name, &run, &device)?;
    let name = case.name;
    match case.expect {
        Expect::Error(needle) => {
            if run.code != Some(1) || !run.stderr.contains(needle) {
                return Err(format!(
                    "{name}: expected exit 1 mentioning {needle:?}, got {:?}:\n{}",
                    run.code, run.stderr
                ));
            }
        }
        Expect::Synced(ids) => {
            if run.code != Some(0) {
                return Err(format!(
                    "{name}: expected success, got {:?}:\n{}",
                    run.code, run.stderr
                ));
            }
            let local: Vec<String> = read_folder(&device.maildir().join("INBOX"))
                .iter()
                .map(|m| m.message_id().unwrap_or_default())
                .collect();
            let mut sorted = local.clone();
            sorted.sort();
            let wanted: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            if sorted != wanted {
                return Err(format!(
                    "{name}: local INBOX holds {local:?}, expected {wanted:?}"
                ));
            }
        }
    }
    let first_error = run
        .stderr
        .lines()
        .find(|l| l.contains("error"))
        .unwrap_or("")
        .to_string();
    Ok((run.max_rss_kib, first_error))
}

#[test]
fn hostile_servers_give_an_error_or_a_correct_sync_never_a_crash_or_an_escape() {
    let started = std::time::Instant::now();
    let cases = cases();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(case) = cases.get(index) else { break };
                let result = run_case(case);
                results.lock().unwrap().push((case.name, result));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let failures: Vec<&String> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    let peak = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|(rss, _)| *rss)
        .max();
    eprintln!(
        "hostile: {} cases, none crashed or escaped the Maildir, peak memory {} KiB; {:.1} s",
        results.len(),
        peak.unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
}

/// Peak memory of a run against a server streaming one endless line, KiB:
/// the line stops at the client's limit (8 MiB outside literals).
const ENDLESS_LINE_MAX_RSS_KIB: u64 = 32 * 1024;

#[test]
fn an_endless_line_fails_the_folder_in_bounded_memory() {
    let fake = FakeImap::start(|r| {
        is_listing(r).then(|| Reply::Endless(b"* 1 FETCH (UID 1 FLAGS (".to_vec()))
    });
    let mut device = env();
    write_config(&mut device, fake.port(), "[\"INBOX\"]");
    let mut command = device.command();
    command.args(["sync", "mail"]);
    let run = run_measured(command);
    check_invariants("an endless line", &run, &device).unwrap();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("folder INBOX")
            && run.stderr.contains("sent a response longer than 8 MiB"),
        "{}",
        run.stderr
    );
    assert!(
        run.max_rss_kib < ENDLESS_LINE_MAX_RSS_KIB,
        "peak memory {} KiB",
        run.max_rss_kib
    );
    eprintln!("an endless line: peak memory {} KiB", run.max_rss_kib);
}

#[test]
fn a_tag_never_answered_times_out_with_a_clear_message() {
    // The SELECT is read and never answered; the connection stays open.
    let fake = FakeImap::start(|r| (r.verb == "SELECT").then(|| Reply::text("")));
    let mut device = env();
    write_config_with(&mut device, fake.port(), "[\"INBOX\"]", "    timeout: 1\n");
    let mut command = device.command();
    command.args(["sync", "mail"]);
    let run = run_measured(command);
    check_invariants("a tag never answered", &run, &device).unwrap();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("did not answer SELECT \"INBOX\" within 1 s"),
        "{}",
        run.stderr
    );
}

#[test]
fn twenty_thousand_folders_are_listed_in_bounded_memory() {
    const FOLDERS: usize = 20_000;
    let fake = FakeImap::start(|r| {
        let upper = r.line.to_ascii_uppercase();
        (r.verb == "LIST" && upper.ends_with("\"*\"")).then(|| {
            let mut out = String::from("* LIST () \"/\" INBOX\r\n");
            for n in 0..FOLDERS {
                out.push_str(&format!("* LIST () \"/\" \"Folder {n}\"\r\n"));
            }
            out.push_str(&format!("{} OK done\r\n", r.tag));
            Reply::text(out)
        })
    });
    let mut device = env();
    // Only INBOX is synced: the point is the listing, not 20,000 SELECTs.
    write_config(&mut device, fake.port(), "[\"INBOX\"]");
    let mut command = device.command();
    command.args(["sync", "mail"]);
    let run = run_measured(command);
    check_invariants("20,000 folders, sync", &run, &device).unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let local: BTreeSet<String> = read_folder(&device.maildir().join("INBOX"))
        .iter()
        .filter_map(|m| m.message_id())
        .collect();
    assert_eq!(local.len(), 2);

    let mut command = device.command();
    command.args(["list", "server"]);
    let listed = run_measured(command);
    check_invariants("20,000 folders, list", &listed, &device).unwrap();
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    assert_eq!(
        listed
            .stdout
            .lines()
            .filter(|l| l.contains("Folder "))
            .count(),
        FOLDERS
    );
    eprintln!(
        "hostile: {FOLDERS} folders listed; peak memory {} KiB (sync), {} KiB (list)",
        run.max_rss_kib, listed.max_rss_kib
    );
}
