//! Security checks end to end: certificate checks cannot be skipped by
//! accident, STARTTLS stripping is refused before the password is sent,
//! credentials never appear in output, errors, `--json` or state files,
//! created files are private (honouring a group-readable Maildir root),
//! and a symlinked folder in the Maildir is never written through.

use super::common::{env, run_ok, stderr};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::fake_imap::{FakeImap, Reply};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file and directory under `root`.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path.clone());
            }
            all.push(path);
        }
    }
    all
}

#[test]
fn certificate_checks_are_relaxed_only_for_a_pinned_certificate() {
    // The one place that turns the checks off, and the pin that replaces
    // them, in src/store/tls.rs; nowhere else in the source.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses = Vec::new();
    for path in walk(&src) {
        if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.contains("danger_accept") && !line.trim_start().starts_with("//") {
                    uses.push((path.clone(), n, text.clone()));
                }
            }
        }
    }
    assert_eq!(
        uses.len(),
        2,
        "{:?}",
        uses.iter().map(|u| (&u.0, u.1)).collect::<Vec<_>>()
    );
    for (path, n, text) in &uses {
        assert!(path.ends_with("store/tls.rs"), "{}", path.display());
        let lines: Vec<&str> = text.lines().collect();
        let guard = lines[n.saturating_sub(3)..*n].join("\n");
        assert!(guard.contains("if policy.fingerprint.is_some()"), "{guard}");
    }

    // And through the binary: a CA that did not sign the server's
    // certificate is refused.
    let dovecot = Dovecot::start();
    let mut device = env();
    let store = dovecot
        .imap_store_yaml("server", "alice", "implicit")
        .replace(
            &dovecot.ca_path().display().to_string(),
            &dovecot.untrusted_ca_path().display().to_string(),
        );
    device.write_config(&format!("stores:\n{store}"));
    let output = device.run(&["list", "server"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("certificate"), "{err}");
}

/// A fake server whose CAPABILITY and STARTTLS answers are scripted; it
/// records whether a LOGIN ever arrived.
fn starttls_case(capability: &'static str, starttls: fn(&str) -> Reply) -> (String, bool) {
    let fake = FakeImap::start(move |request| match request.verb.as_str() {
        "CAPABILITY" => Some(Reply::text(format!(
            "* CAPABILITY {capability}\r\n{} OK done\r\n",
            request.tag
        ))),
        "STARTTLS" => Some(starttls(&request.tag)),
        _ => None,
    });
    let mut device = env();
    device.write_config(&format!(
        "stores:\n  server:\n    type: imap\n    host: 127.0.0.1\n    port: {}\n    \
         tls: starttls\n    timeout: 5\n    user: someone\n    password: Secret-Do-Not-Send\n",
        fake.port()
    ));
    let output = device.run(&["list", "server"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let login_seen = fake
        .requests()
        .iter()
        .any(|r| r.verb == "LOGIN" || r.verb == "AUTHENTICATE" || r.line.contains("Secret"));
    (stderr(&output), login_seen)
}

#[test]
fn starttls_stripping_is_refused_before_the_password_is_sent() {
    // Not advertised (a man in the middle removed it).
    let (err, login) = starttls_case("IMAP4rev1 AUTH=PLAIN", |tag| {
        Reply::text(format!("{tag} OK begin\r\n"))
    });
    assert!(err.contains("does not offer STARTTLS; refusing"), "{err}");
    assert!(!login);
    // Advertised, then refused.
    let (err, login) = starttls_case("IMAP4rev1 STARTTLS", |tag| {
        Reply::text(format!("{tag} NO not today\r\n"))
    });
    assert!(
        err.contains("STARTTLS") && err.contains("NO not today"),
        "{err}"
    );
    assert!(!login);
    // Accepted, but the server goes on in clear: the handshake fails.
    let (err, login) = starttls_case("IMAP4rev1 STARTTLS", |tag| {
        Reply::SendAndClose(format!("{tag} OK begin\r\n* OK still plain\r\n").into_bytes())
    });
    assert!(!err.is_empty(), "{err}");
    assert!(!login);
}

const PASSWORD: &str = "Zq7-unmistakable-Secret-Zq7";

#[test]
fn the_password_never_reaches_output_errors_json_or_state() {
    let dovecot = Dovecot::start_with(DovecotOptions {
        users: vec![("carol".to_string(), PASSWORD.to_string())],
        ..DovecotOptions::default()
    });
    let mut client = dovecot.client("carol");
    for n in 0..3 {
        client.append("INBOX", &super::scenario::message("secret", n), &[], None);
    }
    let mut device = env();
    let write = |device: &mut TestEnv, auth: &str, password: &str| {
        device.write_config(&format!(
            "stores:\n  server:\n    type: imap\n    host: 127.0.0.1\n    port: {}\n    \
             tls: none\n    auth: {auth}\n    user: carol\n    password: {password}\n  local:\n    \
             type: maildir\n    path: {}\nchannels:\n  mail:\n    far: server\n    near: local\n\
             state_dir: {}\n",
            dovecot.imap_port(),
            device.maildir().display(),
            device.root().join("state").display(),
        ));
    };
    let mut outputs = String::new();
    for auth in ["login", "plain"] {
        write(&mut device, auth, PASSWORD);
        for args in [
            &["-vv", "sync", "mail"][..],
            &["-vv", "sync", "--json", "mail"],
            &["-vv", "sync", "--dry-run", "--json", "mail"],
            &["-vv", "list", "server"],
            &["-vv", "check"],
            &["-vv", "sync", "mail:NoSuchFolder"],
        ] {
            let output = device.run(args);
            outputs.push_str(&String::from_utf8_lossy(&output.stdout));
            outputs.push_str(&String::from_utf8_lossy(&output.stderr));
        }
    }
    // A wrong password: the refusal must not echo it.
    let wrong = "Wr0ng-unmistakable-Guess";
    write(&mut device, "login", wrong);
    let refused = device.run(&["-vv", "sync", "mail"]);
    assert_eq!(refused.status.code(), Some(1));
    outputs.push_str(&stderr(&refused));
    assert!(outputs.contains("C: LOGIN \"carol\" <hidden>"), "{outputs}");
    assert!(outputs.contains("login refused"), "{outputs}");
    // SASL PLAIN's base64 of "\0carol\0password" would carry it too.
    let plain = base64_plain("carol", PASSWORD);
    for secret in [PASSWORD, wrong, plain.as_str()] {
        assert!(
            !outputs.contains(secret),
            "{secret} in the output:\n{outputs}"
        );
    }
    // Nor in any file mailferry wrote (the config is the user's own).
    let config = device.xdg_config_home();
    for path in walk(device.root()) {
        if path.starts_with(&config) || !path.is_file() {
            continue;
        }
        let bytes = fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [PASSWORD, wrong, plain.as_str()] {
            assert!(!text.contains(secret), "{secret} in {}", path.display());
        }
    }
    assert_eq!(
        super::common::local_view(&device.maildir().join("INBOX")).len(),
        3
    );
}

fn base64_plain(user: &str, password: &str) -> String {
    use std::fmt::Write;
    let bytes = format!("\0{user}\0{password}").into_bytes();
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            let _ = write!(
                out,
                "{}",
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char
            );
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Syncs INBOX and Archive from a fresh account into `maildir`.
fn sync_two_folders(maildir: &Path) -> (Dovecot, TestEnv) {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create("Archive");
    client.append("INBOX", &super::scenario::message("mode", 1), &[], None);
    client.append(
        "Archive",
        &super::scenario::message("mode", 2),
        &["\\Seen"],
        None,
    );
    let mut device = env();
    device.write_config(&format!(
        "stores:\n{}  local:\n    type: maildir\n    path: {}\nchannels:\n  mail:\n    \
         far: server\n    near: local\nstate_dir: {}\n",
        dovecot.imap_store_yaml("server", "alice", "none"),
        maildir.display(),
        device.root().join("state").display(),
    ));
    run_ok(&device, &["sync", "mail"]);
    (dovecot, device)
}

#[test]
fn new_files_are_private_and_a_group_readable_root_is_honoured() {
    // A Maildir mailferry creates: 0700 directories, 0600 files, and the
    // same for the state.
    let scratch = tempfile::tempdir().unwrap();
    let fresh = scratch.path().join("Fresh");
    let (_dovecot, device) = sync_two_folders(&fresh);
    assert_eq!(mode(&fresh), 0o700);
    for path in walk(&fresh)
        .into_iter()
        .chain(walk(&device.root().join("state")))
    {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{}", path.display());
    }

    // A root the user made 0750: new folders can be read by the group,
    // never written by it, and message files likewise; others get nothing.
    let shared = scratch.path().join("Shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
    let (_dovecot, _device) = sync_two_folders(&shared);
    assert_eq!(mode(&shared), 0o755, "the user's root is left as it was");
    let mut files = 0;
    for path in walk(&shared) {
        let expected = if path.is_dir() { 0o750 } else { 0o640 };
        assert_eq!(mode(&path), expected, "{}", path.display());
        files += usize::from(path.is_file());
    }
    assert_eq!(files, 2);
}

#[test]
fn a_symlinked_folder_in_the_maildir_is_not_written_through() {
    let scratch = tempfile::tempdir().unwrap();
    let maildir = scratch.path().join("Mail");
    let outside = scratch.path().join("outside");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(outside.join(sub)).unwrap();
        fs::create_dir_all(maildir.join("INBOX").join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(&outside, maildir.join("Archive")).unwrap();
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create("Archive");
    client.append("INBOX", &super::scenario::message("link", 1), &[], None);
    client.append("Archive", &super::scenario::message("link", 2), &[], None);
    let mut device = env();
    device.write_config(&format!(
        "stores:\n{}  local:\n    type: maildir\n    path: {}\nchannels:\n  mail:\n    \
         far: server\n    near: local\nstate_dir: {}\n",
        dovecot.imap_store_yaml("server", "alice", "none"),
        maildir.display(),
        device.root().join("state").display(),
    ));
    let output = device.run(&["sync", "mail"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    // Nothing reached the directory the link points to; INBOX synced.
    assert!(
        walk(&outside).iter().all(|p| p.is_dir()),
        "{:?}",
        walk(&outside)
    );
    assert_eq!(super::common::local_view(&maildir.join("INBOX")).len(), 1);
    // The server lost nothing either.
    assert_eq!(client.count("Archive"), 1);
}
