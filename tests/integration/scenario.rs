//! The hardening tests' scenario: a two-way mailbox (INBOX and Archive) that
//! was synced once and then changed on both sides (new mail, flags set and
//! cleared, deletions), frozen as a template and cloned for every trial, so
//! each trial (a cut, a kill, the uninterrupted reference) starts from the
//! same bytes: the same UIDs and UIDVALIDITY on the server (its Maildir with
//! Dovecot's uidlist is copied), the same Maildir and state locally.
//!
//! Also: a seeded random generator whose seed is printed (failures replay
//! with `MAILFERRY_SOAK_SEED`), and `MAILFERRY_SOAK` to make soaks longer.

use super::common::{assert_no_duplicates, env, local_view, run_ok, server_view};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::local::{deliver, read_folder, set_letters};
use std::fs;
use std::path::Path;
use std::process::Command;

pub const FOLDERS: [&str; 2] = ["INBOX", "Archive"];

/// The soak multiplier: `MAILFERRY_SOAK=N` runs N times as many trials.
pub fn soak_factor() -> usize {
    std::env::var("MAILFERRY_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n >= 1)
        .unwrap_or(1)
}

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    /// Seeded from `MAILFERRY_SOAK_SEED` or the clock; the seed is printed
    /// so a failing run can be replayed.
    pub fn from_env(what: &str) -> Rng {
        let seed = std::env::var("MAILFERRY_SOAK_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{what}: seed {seed} (replay with MAILFERRY_SOAK_SEED={seed})");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }
}

/// How big the scenario is: messages per folder before the changes, and
/// each change as a share (1 in `every`) of a folder.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub inbox: usize,
    pub archive: usize,
    /// 1 in `every` messages gets each kind of change.
    pub every: usize,
}

/// A short message with a Message-ID unique to `origin` and `n`.
pub fn message(origin: &str, n: usize) -> Vec<u8> {
    let filler = "All work and no play makes a dull mailbox. ".repeat(1 + n % 7);
    format!(
        "From: {origin}@mailferry.test\r\nTo: you@mailferry.test\r\n\
         Subject: {origin} number {n}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
         Message-ID: <{origin}.{n}@mailferry.test>\r\n\r\nbody {n}\r\n{filler}\r\n"
    )
    .into_bytes()
}

/// Users for a Dovecot that hosts a template and `trials` clones: every name
/// has the same length, so byte offsets agree between trials.
pub fn users(trials: usize) -> Vec<(String, String)> {
    std::iter::once("tmpl".to_string())
        .chain((0..trials).map(trial_user))
        .map(|user| (user.clone(), format!("{user}-pw")))
        .collect()
}

pub fn trial_user(n: usize) -> String {
    format!("t{n:03}")
}

/// A Dovecot with room for `trials` clones of the template.
pub fn dovecot(trials: usize) -> Dovecot {
    Dovecot::start_with(DovecotOptions {
        users: users(trials),
        ..DovecotOptions::default()
    })
}

/// Writes messages straight into a server folder (files owned by the mail
/// uid), as a delivery agent would; `doveadm force-resync` must follow.
/// `batch` keeps the file names of separate calls apart.
fn write_server_messages(
    dovecot: &Dovecot,
    folder_dir: &Path,
    messages: &[(Vec<u8>, &str)],
    batch: &str,
) {
    let (uid, gid) = dovecot.mail_owner();
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(folder_dir.join(sub)).unwrap();
    }
    for (n, (content, letters)) in messages.iter().enumerate() {
        let name = format!(
            "1700000000.M{n}P{}.{batch},S={}:2,{letters}",
            std::process::id(),
            content.len()
        );
        let path = folder_dir.join("cur").join(name);
        fs::write(&path, content).unwrap();
    }
    chown_tree(folder_dir, uid, gid);
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "chown -R {}", dir.display());
}

/// The template: the server side of user `tmpl` and a device (Maildir plus
/// state) that synced with it once; both then changed.
pub struct Template {
    pub device: TestEnv,
    pub size: Size,
}

/// The channel config for a device: far is the server as `user` on `port`
/// in plain IMAP (`timeout` in seconds where given), near the device's Maildir.
pub fn config_yaml(
    device: &TestEnv,
    user: &str,
    port: u16,
    timeout: Option<u64>,
    extra_store: &str,
) -> String {
    let timeout = timeout
        .map(|t| format!("    timeout: {t}\n"))
        .unwrap_or_default();
    format!(
        "stores:\n  server:\n    type: imap\n    host: 127.0.0.1\n    port: {port}\n    tls: none\n\
         {timeout}{extra_store}    user: {user}\n    password: {user}-pw\n  local:\n    type: maildir\n    \
         path: {maildir}\nchannels:\n  mail:\n    far: server\n    near: local\nstate_dir: {state}\n",
        maildir = device.maildir().display(),
        state = device.root().join("state").display(),
    )
}

impl Template {
    /// Builds the template on `dovecot` (user `tmpl`): fills the server,
    /// syncs a device once, then changes both sides.
    pub fn build(dovecot: &Dovecot, size: Size) -> Template {
        let server_root = dovecot.user_maildir("tmpl");
        let inbox: Vec<(Vec<u8>, &str)> = (0..size.inbox)
            .map(|n| (message("far", n), if n % 3 == 0 { "S" } else { "" }))
            .collect();
        let archive: Vec<(Vec<u8>, &str)> = (0..size.archive)
            .map(|n| (message("far-archive", n), "S"))
            .collect();
        write_server_messages(dovecot, &server_root, &inbox, "fill");
        write_server_messages(dovecot, &server_root.join("Archive"), &archive, "fill");
        resync(dovecot, "tmpl");

        let mut device = env();
        device.write_config(&config_yaml(&device, "tmpl", dovecot.imap_port(), None, ""));
        run_ok(&device, &["sync", "mail"]);

        // Local changes: new mail, flags set and cleared, deletions.
        let maildir = device.maildir();
        let every = size.every;
        for (folder, count) in [("INBOX", size.inbox), ("Archive", size.archive)] {
            let dir = maildir.join(folder);
            let local = read_folder(&dir);
            for (i, message) in local.iter().enumerate() {
                match i % every {
                    0 => {
                        let letters = if message.letters.contains('S') {
                            "F"
                        } else {
                            "RS"
                        };
                        set_letters(message, letters);
                    }
                    1 => fs::remove_file(&message.path).unwrap(),
                    _ => {}
                }
            }
            for n in 0..count / every + 1 {
                deliver(
                    &dir,
                    &format!("1700000001.near{n}.harden"),
                    &message(&format!("near-{folder}"), n),
                );
            }
        }

        // Server changes: new mail, flags set and cleared, expunges. Some
        // touch messages changed locally too (flags merge, a deletion wins).
        let mut server = dovecot.client("tmpl");
        for (folder, count) in [("INBOX", size.inbox), ("Archive", size.archive)] {
            let messages = server.messages(folder);
            let mut flag = Vec::new();
            let mut unseen = Vec::new();
            let mut expunge = Vec::new();
            for (i, message) in messages.iter().enumerate() {
                match i % every {
                    0 | 2 => flag.push(message.uid.to_string()),
                    3 if message.has_flag("\\Seen") => unseen.push(message.uid.to_string()),
                    4 => expunge.push(message.uid.to_string()),
                    _ => {}
                }
            }
            // One command per kind of change, as another client would.
            let session = server.session();
            session.select(folder).unwrap();
            session
                .uid_store(flag.join(","), "+FLAGS.SILENT (\\Flagged)")
                .unwrap();
            if !unseen.is_empty() {
                session
                    .uid_store(unseen.join(","), "-FLAGS.SILENT (\\Seen)")
                    .unwrap();
            }
            session
                .uid_store(expunge.join(","), "+FLAGS.SILENT (\\Deleted)")
                .unwrap();
            session.uid_expunge(expunge.join(",")).unwrap();
            let folder_dir = if folder == "INBOX" {
                server_root.clone()
            } else {
                server_root.join(folder)
            };
            let new: Vec<(Vec<u8>, &str)> = (0..count / every + 1)
                .map(|n| (message(&format!("far-new-{folder}"), n), ""))
                .collect();
            write_server_messages(dovecot, &folder_dir, &new, "new");
        }
        server.logout();
        resync(dovecot, "tmpl");
        Template { device, size }
    }

    /// A copy of the template for `user`: the server's Maildir (with
    /// Dovecot's uidlist and indexes, so UIDs and UIDVALIDITY agree) and a
    /// new device with the template's Maildir and state.
    pub fn clone_for(&self, dovecot: &Dovecot, user: &str) -> TestEnv {
        let from = dovecot.user_maildir("tmpl");
        let to = dovecot.user_maildir(user);
        let _ = fs::remove_dir_all(&to);
        copy_tree(&from, &to);
        let device = env();
        copy_tree(&self.device.maildir(), &device.maildir());
        copy_tree(
            &self.device.root().join("state"),
            &device.root().join("state"),
        );
        device
    }
}

/// Puts messages into `user`'s server INBOX (straight into its Maildir,
/// then a resync); `batch` keeps names apart from earlier calls.
pub fn fill_server_inbox(dovecot: &Dovecot, user: &str, messages: &[Vec<u8>], batch: &str) {
    let with_flags: Vec<(Vec<u8>, &str)> = messages.iter().map(|m| (m.clone(), "")).collect();
    write_server_messages(dovecot, &dovecot.user_maildir(user), &with_flags, batch);
    resync(dovecot, user);
}

fn resync(dovecot: &Dovecot, user: &str) {
    let output = dovecot.doveadm(&["force-resync", "-u", user, "*"]);
    assert!(output.status.success(), "force-resync: {output:?}");
}

/// `cp -a`: keeps owners and modes.
pub fn copy_tree(from: &Path, to: &Path) {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let _ = fs::remove_dir_all(to);
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// What a user compares: per folder, (Message-ID, flags) on the server and
/// in the Maildir, which must agree and hold no duplicates.
pub type Views = Vec<Vec<(String, String)>>;

pub fn views(dovecot: &Dovecot, user: &str, maildir: &Path) -> Result<Views, String> {
    let mut server = dovecot.client(user);
    let mut all = Vec::new();
    for folder in FOLDERS {
        let on_server = server_view(&mut server, folder);
        let local = local_view(&maildir.join(folder));
        assert_no_duplicates(&on_server, folder);
        assert_no_duplicates(&local, folder);
        if local != on_server {
            return Err(format!(
                "{folder}: Maildir and server differ:\n  server only: {:?}\n  local only: {:?}",
                on_server
                    .iter()
                    .filter(|m| !local.contains(m))
                    .collect::<Vec<_>>(),
                local
                    .iter()
                    .filter(|m| !on_server.contains(m))
                    .collect::<Vec<_>>()
            ));
        }
        all.push(on_server);
    }
    server.logout();
    Ok(all)
}

/// Says how two results differ, message by message.
pub fn difference(expected: &Views, got: &Views) -> String {
    let mut text = String::new();
    for (i, folder) in FOLDERS.iter().enumerate() {
        let missing: Vec<_> = expected[i].iter().filter(|m| !got[i].contains(m)).collect();
        let extra: Vec<_> = got[i].iter().filter(|m| !expected[i].contains(m)).collect();
        if !missing.is_empty() || !extra.is_empty() {
            text.push_str(&format!(
                "{folder}: missing or changed {missing:?}; extra {extra:?}\n"
            ));
        }
    }
    text
}
