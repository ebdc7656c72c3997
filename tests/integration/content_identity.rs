//! Content identity against the real Dovecot: look-alike messages (one
//! Message-ID and size, other bytes) synced both ways as the distinct
//! messages they are; a server that renumbers a folder (new UIDVALIDITY,
//! or new POP3 UIDLs after its uidlist and indexes were rebuilt) recognised
//! by content: nothing copied or downloaded again, and local flag changes
//! made before the renumbering reach the server.

use super::common::{assert_no_duplicates, env, local_view, run_ok, server_view, write_config};
use super::pop3::pop3_store_yaml;
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use crate::support::imap_client::ImapTestClient;
use crate::support::local::{deliver, read_folder, set_letters, LocalMessage};
use crate::support::mail::{sample_date, sample_message};
use std::fs;
use std::path::Path;

/// A one-time-code mail: every code gives the same Message-ID and size.
fn code_mail(id: &str, code: &str) -> Vec<u8> {
    format!(
        "From: bank@example.org\r\nMessage-ID: <{id}@bank.example>\r\nSubject: Your code\r\n\
         \r\nYour code is {code}\r\n"
    )
    .into_bytes()
}

/// Every message's content with CRLF line ends, sorted: what a user
/// compares when messages share their Message-ID.
fn server_contents(client: &mut ImapTestClient) -> Vec<String> {
    let mut all: Vec<String> = client
        .messages("INBOX")
        .iter()
        .map(|m| String::from_utf8_lossy(&m.content).into_owned())
        .collect();
    all.sort();
    all
}

fn local_contents(dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = read_folder(dir)
        .iter()
        .map(|m| {
            String::from_utf8_lossy(&m.content)
                .replace("\r\n", "\n")
                .replace('\n', "\r\n")
        })
        .collect();
    all.sort();
    all
}

fn output_of(env: &TestEnv, args: &[&str]) -> String {
    let output = run_ok(env, args);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Makes Dovecot forget the UIDs of `user`'s INBOX, as a rebuilt index or
/// a server migration does: its uidlist and indexes are removed while no
/// process serves the mailbox (the test clients have logged out), and the
/// mailbox is resynced, which gives it a new UIDVALIDITY and numbers the
/// messages again; POP3 UIDLs (UID and UIDVALIDITY) change with them.
fn renumber_inbox(dovecot: &Dovecot, user: &str) {
    let inbox = dovecot.user_maildir(user);
    let mut removed = 0;
    for entry in fs::read_dir(&inbox).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("dovecot-uidlist")
            || name.starts_with("dovecot.index")
            || name.starts_with("dovecot.list.index")
        {
            fs::remove_file(inbox.join(&name)).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0, "no uidlist or index in {}", inbox.display());
    let output = dovecot.doveadm(&["force-resync", "-u", user, "INBOX"]);
    assert!(output.status.success(), "force-resync: {output:?}");
}

fn uidvalidity(client: &mut ImapTestClient) -> u32 {
    client
        .session()
        .select("INBOX")
        .unwrap()
        .uid_validity
        .unwrap()
}

fn by_seed(dir: &Path, seed: u64) -> LocalMessage {
    let id = format!("<sample.{seed}@mailferry.test>");
    read_folder(dir)
        .into_iter()
        .find(|m| m.message_id().as_deref() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("no sample {seed} in {}", dir.display()))
}

#[test]
fn look_alike_twins_are_uploaded_downloaded_and_adopted_each_as_itself() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    // On the server: twins "otp" (also in the Maildir already, in the
    // other order) and twins "srv"; in the Maildir: twins "dev".
    for code in ["771204", "482913"] {
        client.append("INBOX", &code_mail("otp", code), &[], None);
        client.append("INBOX", &code_mail("srv", code), &[], None);
    }
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    let inbox = maildir.join("INBOX");
    deliver(&inbox, "1700000001.a.test", &code_mail("otp", "482913"));
    deliver(&inbox, "1700000002.b.test", &code_mail("otp", "771204"));
    deliver(&inbox, "1700000003.c.test", &code_mail("dev", "111111"));
    deliver(&inbox, "1700000004.d.test", &code_mail("dev", "222222"));

    let first = output_of(&env, &["-v", "sync", "mail"]);
    assert!(first.contains("2 paired with the server's copy"), "{first}");
    let contents = server_contents(&mut client);
    assert_eq!(contents.len(), 6, "{contents:#?}");
    assert_eq!(local_contents(&inbox), contents);
    let mut expected: Vec<String> = [
        ("otp", "771204"),
        ("otp", "482913"),
        ("srv", "771204"),
        ("srv", "482913"),
        ("dev", "111111"),
        ("dev", "222222"),
    ]
    .iter()
    .map(|(id, code)| String::from_utf8(code_mail(id, code)).unwrap())
    .collect();
    expected.sort();
    assert_eq!(contents, expected);
    let second = output_of(&env, &["-v", "sync", "mail"]);
    assert!(second.contains("0 new"), "{second}");
    assert_eq!(server_contents(&mut client).len(), 6);
    assert_eq!(read_folder(&inbox).len(), 6);
}

#[test]
fn a_uidvalidity_change_keeps_local_flag_changes_and_copies_nothing() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    for seed in 1..=5 {
        client.append("INBOX", &sample_message(seed), &["\\Seen"], None);
    }
    let before = uidvalidity(&mut client);
    client.logout();
    let mut env = env();
    let maildir = env.maildir();
    write_config(&mut env, &dovecot, "alice", &maildir, "");
    run_ok(&env, &["sync", "mail"]);
    let inbox = maildir.join("INBOX");
    // Locally: sample 1 flagged, sample 2 marked unread; then the server
    // renumbers the folder before the next sync.
    set_letters(&by_seed(&inbox, 1), "FS");
    set_letters(&by_seed(&inbox, 2), "");
    renumber_inbox(&dovecot, "alice");
    let mut client = dovecot.client("alice");
    assert_ne!(
        uidvalidity(&mut client),
        before,
        "the server kept its UIDVALIDITY"
    );

    let output = output_of(&env, &["-v", "sync", "mail"]);
    assert!(
        output.contains("UIDVALIDITY") && output.contains("5 pair(s) re-established by content"),
        "{output}"
    );
    let server = server_view(&mut client, "INBOX");
    assert_no_duplicates(&server, "the server");
    let flags = |seed: u64| {
        let id = format!("<sample.{seed}@mailferry.test>");
        server
            .iter()
            .find(|(message_id, _)| *message_id == id)
            .map(|(_, letters)| letters.clone())
    };
    assert_eq!(flags(1).as_deref(), Some("FS"), "{server:?}");
    assert_eq!(flags(2).as_deref(), Some(""), "{server:?}");
    assert_eq!(flags(3).as_deref(), Some("S"), "{server:?}");
    assert_eq!(server.len(), 5);
    assert_eq!(local_view(&inbox), server);
    let again = output_of(&env, &["-v", "sync", "mail"]);
    assert!(!again.contains("UIDVALIDITY"), "{again}");
    assert_eq!(server_view(&mut client, "INBOX"), server);
    assert_eq!(local_view(&inbox), server);
}

/// Stores `pop` (POP3 of alice), `server` (IMAP of bob) and `local` (a
/// Maildir), and channel `mail` from `pop` to `local`.
fn write_pop_config(env: &mut TestEnv, dovecot: &Dovecot) {
    let yaml = format!(
        "stores:\n{pop}{server}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: pop\n    near: local\nstate_dir: {state}\n",
        pop = pop3_store_yaml(dovecot, "pop", "alice", "implicit", ""),
        server = dovecot.imap_store_yaml("server", "bob", "implicit"),
        maildir = env.maildir().display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
}

fn message_ids(client: &mut ImapTestClient) -> Vec<String> {
    let mut ids: Vec<String> = client
        .messages("INBOX")
        .into_iter()
        .map(|m| m.message_id.unwrap_or_default())
        .collect();
    ids.sort();
    ids
}

#[test]
fn pop3_uidls_renumbered_between_two_runs_copy_and_download_nothing_again() {
    let dovecot = Dovecot::start();
    let mut alice = dovecot.client("alice");
    for seed in 1..=10 {
        alice.append("INBOX", &sample_message(seed), &[], Some(sample_date(seed)));
    }
    alice.logout();
    let mut env = env();
    write_pop_config(&mut env, &dovecot);
    let first_migration = output_of(&env, &["migrate", "pop", "server"]);
    assert!(first_migration.contains("10 copied"), "{first_migration}");
    let first_download = output_of(&env, &["-v", "sync", "mail"]);
    assert!(
        first_download.contains("to near: 10 new"),
        "{first_download}"
    );
    let inbox = env.maildir().join("INBOX");
    let files_before: Vec<String> = read_folder(&inbox).into_iter().map(|m| m.unique).collect();
    assert_eq!(files_before.len(), 10);

    renumber_inbox(&dovecot, "alice");
    // Dovecot marks a message seen when POP3 reads it whole (RETR), not
    // when it reads its header (TOP): unseen after both runs below, the
    // messages were recognised from their headers alone.
    let mut alice = dovecot.client("alice");
    for message in alice.messages("INBOX") {
        alice.remove_flags("INBOX", message.uid, &["\\Seen"]);
    }
    alice.logout();

    let migration = output_of(&env, &["-v", "migrate", "pop", "server"]);
    assert!(
        migration.contains("INBOX: 10 message(s): 0 copied, 10 already there"),
        "{migration}"
    );
    assert!(
        migration.contains("UIDLs") && migration.contains("10 pair(s) re-established"),
        "{migration}"
    );
    let mut bob = dovecot.client("bob");
    let ids = message_ids(&mut bob);
    assert_eq!(ids.len(), 10, "{ids:?}");
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids, "a message is held twice");

    let download = output_of(&env, &["-v", "sync", "mail"]);
    assert!(download.contains("to near: 0 new"), "{download}");
    assert!(download.contains("10 pair(s) re-established"), "{download}");
    let mut files_after: Vec<String> = read_folder(&inbox).into_iter().map(|m| m.unique).collect();
    files_after.sort();
    let mut files_before = files_before;
    files_before.sort();
    assert_eq!(files_after, files_before);
    let mut alice = dovecot.client("alice");
    let read_whole: Vec<u32> = alice
        .messages("INBOX")
        .iter()
        .filter(|m| m.has_flag("\\Seen"))
        .map(|m| m.uid)
        .collect();
    assert!(read_whole.is_empty(), "read whole: {read_whole:?}");
    alice.logout();
    // And the runs after that are ordinary ones.
    let again = output_of(&env, &["-v", "sync", "mail"]);
    assert!(again.contains("to near: 0 new"), "{again}");
    assert!(!again.contains("re-established"), "{again}");
    let migration = output_of(&env, &["migrate", "pop", "server"]);
    assert!(migration.contains("0 copied"), "{migration}");
}
