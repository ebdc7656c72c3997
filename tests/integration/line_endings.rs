//! Line ends on both sides: Maildir files are written with LF by default
//! (`line_endings: crlf` keeps the server's CRLF), messages go to the server
//! with CRLF whatever the file has, and a Maildir written with CRLF by an
//! earlier version is adopted by an LF run without a download, an upload or
//! a duplicate.

use super::common::{
    assert_no_duplicates, env, local_view, run_ok, server_view, CAPABILITIES_WITHOUT_MODSEQ,
};
use super::folders::assert_nothing_to_do;
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::local::{deliver, read_folder};
use crate::support::mail::message_with;
use std::path::{Path, PathBuf};

/// A config with channel `mail` between alice's account and a Maildir
/// written with `line_endings`.
fn device(dovecot: &Dovecot, maildir: &Path, env: &mut TestEnv, line_endings: &str) -> PathBuf {
    let yaml = format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\n    \
         line_endings: {line_endings}\nchannels:\n  mail:\n    far: server\n    near: local\n\
         state_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", "alice", "implicit"),
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml)
}

fn has_bare_lf(content: &[u8]) -> bool {
    content
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || content[i - 1] != b'\r'))
}

fn file_names(dir: &Path) -> Vec<String> {
    read_folder(dir).into_iter().map(|m| m.unique).collect()
}

#[test]
fn files_are_written_with_lf_by_default_and_with_crlf_when_asked() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    let wire = message_with("lines", "one\r\ntwo\r\n");
    client.append("INBOX", &wire, &[], None);

    for (line_endings, expected) in [
        ("lf", mailferry::mail::with_lf(&wire).into_owned()),
        ("crlf", wire.clone()),
    ] {
        let mut env = env();
        let maildir = env.maildir();
        device(&dovecot, &maildir, &mut env, line_endings);
        run_ok(&env, &["sync", "mail"]);
        let local = read_folder(&maildir.join("INBOX"));
        assert_eq!(local.len(), 1);
        assert_eq!(local[0].content, expected, "line_endings: {line_endings}");
        assert!(
            local[0].unique.ends_with(&format!(",S={}", expected.len())),
            ",S= is the file's size: {}",
            local[0].unique
        );
        assert_nothing_to_do(&env);
    }
}

#[test]
fn upgrading_a_crlf_maildir_to_lf_downloads_uploads_and_duplicates_nothing() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    for n in 0..3 {
        client.append(
            "INBOX",
            &message_with(&format!("old {n}"), "body\r\n"),
            &["\\Seen"],
            None,
        );
    }
    let mut env = env();
    let maildir = env.maildir();
    // What earlier versions wrote: the server's CRLF.
    device(&dovecot, &maildir, &mut env, "crlf");
    run_ok(&env, &["sync", "mail"]);
    let inbox = maildir.join("INBOX");
    let before = file_names(&inbox);
    assert!(read_folder(&inbox).iter().all(|m| !has_bare_lf(&m.content)));

    device(&dovecot, &maildir, &mut env, "lf");
    assert_nothing_to_do(&env);
    run_ok(&env, &["sync", "mail"]);
    assert_eq!(file_names(&inbox), before, "no file written or removed");
    assert_eq!(client.count("INBOX"), 3, "nothing uploaded");

    // Flags still pair both ways; new mail arrives with LF.
    client.append("INBOX", &message_with("new", "fresh\r\n"), &[], None);
    run_ok(&env, &["sync", "mail"]);
    let local = local_view(&inbox);
    let server = server_view(&mut client, "INBOX");
    assert_eq!(local, server);
    assert_no_duplicates(&local, "the Maildir");
    assert_no_duplicates(&server, "the server");
    let fresh: Vec<_> = read_folder(&inbox)
        .into_iter()
        .filter(|m| !before.contains(&m.unique))
        .collect();
    assert_eq!(fresh.len(), 1);
    assert!(!fresh[0].content.contains(&b'\r'), "written with LF");
    assert_nothing_to_do(&env);
}

/// Uploads of LF files reach the server as CRLF, batched (MULTIAPPEND) or
/// one by one, and are recognised there on the next run.
#[test]
fn lf_files_are_uploaded_with_crlf_and_not_again() {
    let without_multiappend = CAPABILITIES_WITHOUT_MODSEQ.replace(" MULTIAPPEND", "");
    for capability in [None, Some(without_multiappend)] {
        let dovecot = Dovecot::start_with(DovecotOptions {
            imap_capability: capability.clone(),
            ..DovecotOptions::default()
        });
        let mut env = env();
        let maildir = env.maildir();
        device(&dovecot, &maildir, &mut env, "lf");
        let lf = b"Message-ID: <lf@example.com>\nSubject: lf\n\nline one\nline two\n";
        deliver(&maildir.join("INBOX"), "1700000000.lf.host", lf);
        let two = b"Message-ID: <lf2@example.com>\nSubject: lf2\n\nbody\n";
        deliver(&maildir.join("INBOX"), "1700000001.lf.host", two);
        run_ok(&env, &["sync", "mail"]);

        let mut client = dovecot.client("alice");
        let held: Vec<Vec<u8>> = client
            .messages("INBOX")
            .into_iter()
            .map(|m| m.content)
            .collect();
        assert_eq!(held.len(), 2, "{capability:?}");
        for content in &held {
            assert!(
                !has_bare_lf(content),
                "{capability:?}: bare LF on the server"
            );
        }
        assert!(held.contains(&mailferry::mail::with_crlf(lf).into_owned()));
        assert_nothing_to_do(&env);
        run_ok(&env, &["sync", "mail"]);
        assert_eq!(client.count("INBOX"), 2, "{capability:?}: uploaded once");
    }
}
