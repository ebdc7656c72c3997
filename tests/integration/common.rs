//! What the sync tests share: a mailferry environment wired to a Dovecot
//! account, and views of the server and a Maildir that compare as a user
//! would compare them (which messages, with which flags).

use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::{letters_for, read_folder};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A fresh environment for the mailferry binary under test.
pub fn env() -> TestEnv {
    TestEnv::new(PathBuf::from(env!("CARGO_BIN_EXE_mailferry")))
}

/// Writes a config with store `server` (the Dovecot account of `user`),
/// store `local` (a Maildir at `maildir`) and channel `mail` between them;
/// `channel_extra` adds indented channel keys.
pub fn write_config(
    env: &mut TestEnv,
    dovecot: &Dovecot,
    user: &str,
    maildir: &Path,
    channel_extra: &str,
) -> PathBuf {
    let yaml = format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\n{channel_extra}\
         state_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", user, "implicit"),
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml)
}

/// Which of the server's extensions for resyncs are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modseq {
    /// CONDSTORE and QRESYNC (Dovecot's default).
    Qresync,
    /// CONDSTORE without QRESYNC: changes are reported, expunges are not.
    CondstoreOnly,
    /// Neither: every resync lists every message.
    Neither,
}

/// A way of running the speed features: the server's extensions and the
/// number of connections the client may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub modseq: Modseq,
    pub connections: usize,
}

/// Dovecot 2.3's capabilities after login, without CONDSTORE and QRESYNC.
pub const CAPABILITIES_WITHOUT_MODSEQ: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
    SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND \
    URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 \
    ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY \
    PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY";

impl Variant {
    /// The server options for this variant, on top of `base`.
    pub fn dovecot_options(self, base: DovecotOptions) -> DovecotOptions {
        let capability = match self.modseq {
            Modseq::Qresync => None,
            Modseq::CondstoreOnly => Some(format!("{CAPABILITIES_WITHOUT_MODSEQ} CONDSTORE")),
            Modseq::Neither => Some(CAPABILITIES_WITHOUT_MODSEQ.to_string()),
        };
        DovecotOptions {
            imap_capability: capability,
            ..base
        }
    }
}

/// [`write_config`] for a variant: the server store gets its
/// `connections:`.
pub fn write_config_for(
    env: &mut TestEnv,
    dovecot: &Dovecot,
    user: &str,
    maildir: &Path,
    variant: Variant,
) -> PathBuf {
    let yaml = format!(
        "stores:\n{server}    connections: {connections}\n  local:\n    type: maildir\n    \
         path: {maildir}\nchannels:\n  mail:\n    far: server\n    near: local\n\
         state_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", user, "implicit"),
        connections = variant.connections,
        maildir = maildir.display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml)
}

/// A Dovecot whose alice has 3 messages in INBOX and 1 in Work.
pub fn dovecot_with_inbox_and_work() -> Dovecot {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create("Work");
    for seed in 0..4u64 {
        let folder = if seed < 3 { "INBOX" } else { "Work" };
        client.append(
            folder,
            &crate::support::mail::sample_message(seed),
            &[],
            Some(crate::support::mail::sample_date(seed)),
        );
    }
    dovecot
}

/// Runs mailferry and insists on exit status 0, showing its output if not.
pub fn run_ok(env: &TestEnv, args: &[&str]) -> Output {
    let output = env.run(args);
    assert!(
        output.status.success(),
        "mailferry {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// (Message-ID, Maildir flag letters) of every message in a server folder,
/// sorted: what a user compares.
pub fn server_view(client: &mut ImapTestClient, folder: &str) -> Vec<(String, String)> {
    let mut view: Vec<(String, String)> = client
        .messages(folder)
        .iter()
        .map(|m| {
            (
                m.message_id.clone().unwrap_or_default(),
                letters_for(&m.flags),
            )
        })
        .collect();
    view.sort();
    view
}

/// The same view of a local Maildir folder.
pub fn local_view(dir: &Path) -> Vec<(String, String)> {
    let mut view: Vec<(String, String)> = read_folder(dir)
        .iter()
        .map(|m| (m.message_id().unwrap_or_default(), m.letters.clone()))
        .collect();
    view.sort();
    view
}

/// Fails if any Message-ID appears twice in a view.
pub fn assert_no_duplicates(view: &[(String, String)], what: &str) {
    let mut ids: Vec<&String> = view.iter().map(|(id, _)| id).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        view.len(),
        "duplicate messages in {what}: {view:?}"
    );
}
