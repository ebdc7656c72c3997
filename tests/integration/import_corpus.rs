//! The import-mbsyncrc corpus (`tests/fixtures/mbsyncrc/`) against a real
//! Dovecot: each file, its accounts pointed at the test server, is run by
//! the real mbsync; its import is accepted by `mailferry check` and syncs
//! into the same tree of folders and messages as mbsync made.
//!
//! Only the account lines (host, port, user, password, TLS, certificates,
//! tunnel, login methods) are replaced: the stores, channels, patterns,
//! Inbox paths, layouts and groups are the file's own. Each tool runs with
//! a HOME of its own, so the files' `~/` paths need no rewriting.

use super::common::{env, run_ok, stderr};
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use crate::support::local::read_folder;
use crate::support::mail::{sample_date, sample_message};
use crate::support::mbsync::which;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Section keywords of an mbsyncrc: each starts a section.
const SECTIONS: [&str; 5] = [
    "IMAPAccount",
    "IMAPStore",
    "MaildirStore",
    "Channel",
    "Group",
];

/// The keys that say where and how to reach an account: replaced.
const ACCOUNT_KEYS: [&str; 16] = [
    "Host",
    "Port",
    "User",
    "UserCmd",
    "Pass",
    "PassCmd",
    "Tunnel",
    "SSLType",
    "TLSType",
    "UseIMAPS",
    "SSLVersions",
    "TLSVersions",
    "CertificateFile",
    "SystemCertificates",
    "AuthMechs",
    "RequireSSL",
];

/// Folders every test account has, besides those a file names.
const BASE_FOLDERS: [&str; 4] = ["INBOX", "Archive", "Work", "Junk"];

fn keyword(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

fn is_section(line: &str) -> bool {
    SECTIONS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(keyword(line)))
}

/// `text` split into sections (globals first), each a list of lines.
fn sections(text: &str) -> Vec<Vec<String>> {
    let mut all: Vec<Vec<String>> = vec![Vec::new()];
    for line in text.lines() {
        if is_section(line) {
            all.push(Vec::new());
        }
        all.last_mut().unwrap().push(line.to_string());
    }
    all
}

/// The file with every account pointed at `dovecot` as alice over IMAPS.
fn pointed_at(text: &str, dovecot: &Dovecot) -> String {
    let account = format!(
        "Host localhost\nPort {}\nSSLType IMAPS\nCertificateFile {}\nUser alice\nPass {}\n",
        dovecot.imaps_port(),
        dovecot.ca_path().display(),
        dovecot.password("alice"),
    );
    let mut out = String::new();
    for section in sections(text) {
        let head = section.first().map(|l| keyword(l)).unwrap_or("");
        // An IMAPStore with an Account line takes the account's settings.
        let reaches_server = head.eq_ignore_ascii_case("IMAPAccount")
            || (head.eq_ignore_ascii_case("IMAPStore")
                && !section
                    .iter()
                    .any(|l| keyword(l).eq_ignore_ascii_case("Account")));
        for (index, line) in section.iter().enumerate() {
            let replaced = ACCOUNT_KEYS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(keyword(line)));
            if !(reaches_server && replaced) {
                out.push_str(line);
                out.push('\n');
            }
            if index == 0 && reaches_server {
                out.push_str(&account);
            }
        }
    }
    out
}

/// The far-side folders a file names: `Far :store:Box` (or isync 1.3's
/// `Master`) and patterns without wildcards or `!`.
fn named_folders(text: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for line in text.lines() {
        let key = keyword(line);
        let rest = line[key.len()..].trim();
        if key.eq_ignore_ascii_case("Far") || key.eq_ignore_ascii_case("Master") {
            // :store:Box, the box maybe quoted.
            let box_name = rest.splitn(3, ':').nth(2).unwrap_or("").trim_matches('"');
            if !box_name.is_empty() {
                named.insert(box_name.to_string());
            }
        } else if key.eq_ignore_ascii_case("Patterns") {
            for pattern in shell_words(rest) {
                if !pattern.starts_with('!') && !pattern.contains(['*', '%']) {
                    named.insert(pattern);
                }
            }
        }
    }
    named
}

/// Whether every MaildirStore of the file can hold a nested folder
/// (`SubFolders` or `Flatten`; without either mbsync refuses one).
fn nests(text: &str) -> bool {
    sections(text)
        .iter()
        .filter(|section| keyword(&section[0]).eq_ignore_ascii_case("MaildirStore"))
        .all(|section| {
            section.iter().any(|line| {
                let key = keyword(line);
                key.eq_ignore_ascii_case("SubFolders") || key.eq_ignore_ascii_case("Flatten")
            })
        })
}

/// Splits on spaces outside double quotes, dropping the quotes.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Makes each MaildirStore's `Path` under `home`: mbsync does not create
/// a store's root.
fn make_store_roots(text: &str, home: &Path) {
    for line in text.lines() {
        if keyword(line).eq_ignore_ascii_case("Path") {
            let path = line[4..].trim().trim_matches('"');
            let relative = path.strip_prefix("~/").unwrap_or(path);
            fs::create_dir_all(home.join(relative)).unwrap();
        }
    }
}

/// Every Maildir folder under `home` (a directory with `cur/`), by path
/// relative to `home`, with its messages' Message-IDs sorted.
fn tree(home: &Path) -> BTreeMap<String, Vec<String>> {
    let mut found = BTreeMap::new();
    let mut queue = vec![home.to_path_buf()];
    while let Some(dir) = queue.pop() {
        if dir.join("cur").is_dir() {
            let mut ids: Vec<String> = read_folder(&dir)
                .iter()
                .map(|m| m.message_id().unwrap_or_default())
                .collect();
            ids.sort();
            let relative = dir.strip_prefix(home).unwrap().display().to_string();
            found.insert(relative, ids);
        }
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() && !["cur", "new", "tmp"].contains(&name.as_str()) {
                queue.push(path);
            }
        }
    }
    found
}

/// Runs `mbsync -a`; returns its exit status and error output.
fn run_mbsync(rc: &Path, home: &Path) -> (Option<i32>, String) {
    let mbsync = which("mbsync").expect("mbsync is installed (scripts/test installs isync)");
    let output = Command::new(mbsync)
        .arg("-c")
        .arg(rc)
        .arg("-a")
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// One corpus file: seeded server, mbsync's tree, mailferry's tree.
fn check_corpus_file(name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mbsyncrc")
        .join(name);
    let original = fs::read_to_string(&path).unwrap();
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    let folders: BTreeSet<String> = BASE_FOLDERS
        .iter()
        .map(|f| f.to_string())
        .chain(named_folders(&original))
        .chain(nests(&original).then(|| "Lists/rust".to_string()))
        .collect();
    for (index, folder) in folders.iter().enumerate() {
        if folder != "INBOX" {
            client.create(folder);
        }
        for n in 0..2u64 {
            let seed = 10 * index as u64 + n;
            client.append(folder, &sample_message(seed), &[], Some(sample_date(seed)));
        }
    }
    let rc_text = pointed_at(&original, &dovecot);

    let by_mbsync: TestEnv = env();
    let rc = by_mbsync.root().join("mbsyncrc");
    fs::write(&rc, &rc_text).unwrap();
    make_store_roots(&rc_text, &by_mbsync.home());
    let (mbsync_status, mbsync_output) = run_mbsync(&rc, &by_mbsync.home());

    let mut by_mailferry = env();
    let rc = by_mailferry.root().join("mbsyncrc");
    fs::write(&rc, &rc_text).unwrap();
    make_store_roots(&rc_text, &by_mailferry.home());
    let imported = run_ok(
        &by_mailferry,
        &[
            "-q",
            "import-mbsyncrc",
            "--copy-passwords",
            rc.to_str().unwrap(),
        ],
    );
    let yaml = String::from_utf8(imported.stdout).unwrap();
    by_mailferry.write_config(&yaml);
    let check = by_mailferry.run(&["check"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{name}: check refused the import:\n{}\n{yaml}",
        stderr(&check)
    );
    // mbsync exits 1 when `Create` (default None) keeps it from making a
    // folder; mailferry skips such a folder and says so at -v. Any other
    // mbsync error is the test's.
    let refused_only = mbsync_output
        .lines()
        .filter(|line| line.starts_with("Error:"))
        .all(|line| line.ends_with("cannot be opened."));
    assert!(
        mbsync_status == Some(0) || (mbsync_status == Some(1) && refused_only),
        "{name}: mbsync failed with {mbsync_status:?}\n{mbsync_output}"
    );
    let sync = by_mailferry.run(&["sync", "--all"]);
    assert_eq!(
        sync.status.code(),
        Some(0),
        "{name}: sync failed:\n{}\n{yaml}",
        stderr(&sync)
    );

    let expected = tree(&by_mbsync.home());
    assert!(!expected.is_empty(), "{name}: mbsync made no folder");
    assert_eq!(tree(&by_mailferry.home()), expected, "{name}\n{yaml}");
}

macro_rules! corpus {
    ($($test:ident => $file:literal;)*) => {
        $(
            #[test]
            fn $test() {
                check_corpus_file($file);
            }
        )*
    };
}

corpus! {
    fastmail => "fastmail.mbsyncrc";
    gmail_macos => "gmail-macos.mbsyncrc";
    gmail_pass => "gmail-pass.mbsyncrc";
    isync13_old_style => "isync13-old-style.mbsyncrc";
    maildirpp => "maildirpp.mbsyncrc";
    minimal => "minimal.mbsyncrc";
    office365_xoauth2 => "office365-xoauth2.mbsyncrc";
    proton_bridge => "proton-bridge.mbsyncrc";
    several_accounts => "several-accounts.mbsyncrc";
    tunnel => "tunnel.mbsyncrc";
    usercmd_quoted => "usercmd-quoted.mbsyncrc";
}

#[test]
fn every_corpus_file_has_its_test() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mbsyncrc");
    let count = fs::read_dir(dir).unwrap().count();
    assert_eq!(
        count, 11,
        "a corpus file was added: give it a line in corpus!"
    );
}
