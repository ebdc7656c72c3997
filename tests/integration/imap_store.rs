//! The IMAP store against a real Dovecot: connecting in each TLS mode, the
//! errors users see, and every message operation of the `Store` trait.
//!
//! The server is the shared harness's, with Maildir++ on disk and `.` as the
//! hierarchy delimiter, so folder names are translated both ways.

use crate::support::dovecot::{Dovecot, DovecotOptions, ServerLayout};
use mailferry::config::{AuthMethod, ImapConfig, PasswordSource, Secret, TlsMode, TlsVersion};
use mailferry::mail::{sha256_hex, Flags, Message, MsgId};
use mailferry::store::imap::ImapStore;
use mailferry::store::Store;

const USER: &str = "alice";

/// The namespace of these tests: `.` between levels, and a Sent folder
/// with its SPECIAL-USE role. Dovecot merges it into the harness's
/// `namespace inbox`.
const DOT_NAMESPACE: &str = r"namespace inbox {
  separator = .
  mailbox Sent {
    special_use = \Sent
    auto = create
  }
}
";

/// Post-login capabilities as Dovecot lists them, minus UIDPLUS.
const WITHOUT_UIDPLUS: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT \
    SORT=DISPLAY THREAD=REFERENCES MULTIAPPEND CONDSTORE QRESYNC LITERAL+ NAMESPACE \
    SPECIAL-USE MOVE";

fn options() -> DovecotOptions {
    DovecotOptions {
        layout: ServerLayout::MaildirPlusPlus,
        extra_config: DOT_NAMESPACE.to_string(),
        ..DovecotOptions::default()
    }
}

fn start() -> Dovecot {
    Dovecot::start_with(options())
}

fn start_without_uidplus() -> Dovecot {
    Dovecot::start_with(DovecotOptions {
        imap_capability: Some(WITHOUT_UIDPLUS.to_string()),
        ..options()
    })
}

/// An IMAP store config for alice on `dovecot`, trusting its certificate.
pub fn config(dovecot: &Dovecot, tls: TlsMode) -> ImapConfig {
    ImapConfig {
        host: "localhost".to_string(),
        port: match tls {
            TlsMode::Implicit => dovecot.imaps_port(),
            _ => dovecot.imap_port(),
        },
        tls,
        ca_file: vec![dovecot.ca_path()],
        tls_fingerprint: None,
        tls_min_version: TlsVersion::V1_2,
        user: USER.to_string(),
        user_command: None,
        tunnel: None,
        auth: AuthMethod::Login,
        password: PasswordSource::Plain(Secret::new(dovecot.password(USER))),
        command_timeout_secs: 60,
        timeout_secs: 10,
        connections: 1,
        namespace: None,
    }
}

fn connect(dovecot: &Dovecot, tls: TlsMode) -> ImapStore {
    ImapStore::connect(&config(dovecot, tls), &Secret::new(dovecot.password(USER))).unwrap()
}

fn message(subject: &str, flags: Flags, date: Option<i64>) -> Message {
    let mut content = format!(
        "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         \r\nBody of {subject}\r\nLatin-1 bytes follow: "
    )
    .into_bytes();
    // 8-bit content must come back byte for byte.
    content.extend_from_slice(b"\xe9t\xe9\r\n");
    Message {
        flags,
        date,
        content,
    }
}

/// The ids of the open folder's messages, in the listing's order.
fn listed_ids(store: &mut ImapStore) -> Vec<MsgId> {
    store
        .list_messages()
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

fn fetch_all(store: &mut ImapStore, ids: &[MsgId]) -> Vec<(MsgId, Message)> {
    let mut fetched = Vec::new();
    store
        .fetch_messages(ids, &mut |id, message| {
            fetched.push((id.clone(), message));
            Ok(())
        })
        .unwrap();
    fetched
}

#[test]
fn connects_with_implicit_tls_starttls_and_plaintext() {
    let dovecot = start();
    for tls in [TlsMode::Implicit, TlsMode::Starttls, TlsMode::None] {
        let store = connect(&dovecot, tls);
        assert!(store.has_capability("IMAP4rev1"), "{tls:?}");
        // Post-login capabilities, which Dovecot only lists after login.
        assert!(store.has_capability("uidplus"), "{tls:?}");
        assert!(store.capabilities().iter().all(|c| *c == c.to_uppercase()));
        store.logout().unwrap();
    }
}

#[test]
fn sasl_plain_authentication_logs_in() {
    let dovecot = start();
    let mut config = config(&dovecot, TlsMode::Implicit);
    config.auth = AuthMethod::Plain;
    let mut store = ImapStore::connect(&config, &Secret::new(dovecot.password(USER))).unwrap();
    assert!(store
        .list_folders()
        .unwrap()
        .iter()
        .any(|f| f.name == "INBOX"));
}

#[test]
fn wrong_password_is_a_login_refusal_without_the_password() {
    let dovecot = start();
    let wrong = "not-the-Pa55word";
    let error = ImapStore::connect(&config(&dovecot, TlsMode::Implicit), &Secret::new(wrong))
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with("login refused by localhost for user alice: "),
        "{error}"
    );
    assert!(!error.contains(wrong), "{error}");
}

#[test]
fn untrusted_certificate_error_points_to_ca_file() {
    let dovecot = start();
    for tls in [TlsMode::Implicit, TlsMode::Starttls] {
        let mut config = config(&dovecot, tls);
        config.ca_file = Vec::new();
        let error = ImapStore::connect(&config, &Secret::new(dovecot.password(USER)))
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "TLS certificate of localhost:{} does not verify",
                config.port
            )),
            "{error}"
        );
        assert!(error.contains("set ca_file"), "{error}");
    }
}

#[test]
fn starttls_is_required_unless_tls_none_is_said() {
    let dovecot = Dovecot::start_with(DovecotOptions {
        tls: false,
        ..options()
    });
    let error = ImapStore::connect(
        &config(&dovecot, TlsMode::Starttls),
        &Secret::new(dovecot.password(USER)),
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        error,
        format!(
            "server localhost:{} does not offer STARTTLS; refusing to send the password in \
             clear (set tls: none to allow it)",
            dovecot.imap_port()
        )
    );
}

#[test]
fn folders_with_spaces_and_non_ascii_names_are_created_and_listed() {
    let dovecot = start();
    let mut store = connect(&dovecot, TlsMode::Implicit);
    store.create_folder("Old Mail").unwrap();
    store.create_folder("Archive/Données").unwrap();
    // Creating an existing folder is not an error.
    store.create_folder("Old Mail").unwrap();

    let folders = store.list_folders().unwrap();
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    for expected in ["INBOX", "Old Mail", "Archive/Données", "Sent"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let sent = folders.iter().find(|f| f.name == "Sent").unwrap();
    assert_eq!(sent.special_use.as_deref(), Some("\\Sent"));
    // The server stored the name in modified UTF-7 under its own delimiter.
    let maildir = dovecot.user_maildir(USER);
    assert!(maildir.join(".Archive.Donn&AOk-es").is_dir());

    let status = store.open_folder("Archive/Données").unwrap();
    assert_eq!(status.exists, 0);
    assert!(status.uidvalidity.is_some());
}

#[test]
fn opening_a_missing_folder_names_it() {
    let dovecot = start();
    let mut store = connect(&dovecot, TlsMode::None);
    let error = store.open_folder("No Such").unwrap_err().to_string();
    assert!(error.contains("\"No Such\""), "{error}");
}

#[test]
fn messages_round_trip_with_flags_dates_and_exact_bytes() {
    let dovecot = start();
    let mut store = connect(&dovecot, TlsMode::Implicit);
    store.create_folder("Données").unwrap();
    let status = store.open_folder("Données").unwrap();
    assert!(store.list_messages().unwrap().is_empty());

    let date = 1_700_000_000;
    let first = message("first", Flags::SEEN.union(Flags::FORWARDED), Some(date));
    let second = message("second", Flags::FLAGGED, None);
    let ticket = store.prepare_append().unwrap();
    assert_eq!(ticket, status.uidnext.unwrap().to_string());
    let first_id = store
        .append(&ticket, &first)
        .unwrap()
        .expect("UIDPLUS gives the UID");
    let second_id = store.append(&ticket, &second).unwrap().unwrap();
    assert!(first_id.parse::<u32>().unwrap() < second_id.parse::<u32>().unwrap());

    let listing = store.list_messages().unwrap();
    assert_eq!(listing.len(), 2);
    assert_eq!(listing[0].id, first_id);
    assert_eq!(listing[0].flags, first.flags);
    assert_eq!(listing[0].size, first.content.len() as u64);
    assert_eq!(listing[1].flags, Flags::FLAGGED);

    let fetched = fetch_all(&mut store, &[first_id.clone(), second_id.clone()]);
    assert_eq!(fetched.len(), 2);
    assert_eq!(fetched[0].0, first_id);
    assert_eq!(fetched[0].1, first);
    assert_eq!(fetched[1].1.content, second.content);
    // Fetching never marks a message seen.
    assert!(!store.list_messages().unwrap()[1]
        .flags
        .contains(Flags::SEEN));

    store
        .set_flags(
            &second_id,
            Flags::ANSWERED.union(Flags::SEEN),
            Flags::FLAGGED,
        )
        .unwrap();
    let listing = store.list_messages().unwrap();
    assert_eq!(listing[1].flags, Flags::ANSWERED.union(Flags::SEEN));

    let found = store
        .find_appended(
            &ticket,
            second.content.len() as u64,
            &sha256_hex(&second.content),
        )
        .unwrap();
    assert_eq!(found, vec![second_id.clone()]);

    store
        .delete_messages(std::slice::from_ref(&first_id))
        .unwrap();
    let listing = store.list_messages().unwrap();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].id, second_id);
    // Ids that are gone are skipped silently.
    assert_eq!(fetch_all(&mut store, &[first_id]).len(), 0);
}

#[test]
fn find_appended_ignores_messages_before_the_ticket_and_other_content() {
    let dovecot = start();
    let mut store = connect(&dovecot, TlsMode::None);
    store.open_folder("INBOX").unwrap();
    let before = message("same", Flags::EMPTY, None);
    let ticket0 = store.prepare_append().unwrap();
    store.append(&ticket0, &before).unwrap();
    let ticket = store.prepare_append().unwrap();
    // Nothing appended since the ticket: "n:*" still matches the last UID,
    // which must be filtered out.
    let digest = sha256_hex(&before.content);
    let size = before.content.len() as u64;
    assert!(store
        .find_appended(&ticket, size, &digest)
        .unwrap()
        .is_empty());
    let other = message("emas", Flags::EMPTY, None);
    store.append(&ticket, &other).unwrap();
    assert!(store
        .find_appended(&ticket, size, &digest)
        .unwrap()
        .is_empty());
}

#[test]
fn many_messages_are_fetched_in_batches() {
    let dovecot = start();
    let mut store = connect(&dovecot, TlsMode::None);
    store.open_folder("INBOX").unwrap();
    let ticket = store.prepare_append().unwrap();
    // Batches by count (400 small messages) and by bytes (1 MB of large
    // ones), each sent before the one before it is read (Dovecot may
    // answer two at once, interleaved: see the hostile server's case).
    let padding = "0123456789abcdef".repeat(2048);
    for n in 0..900 {
        let mut message = message(&format!("n{n}"), Flags::EMPTY, None);
        if n % 3 == 0 {
            message.content.extend_from_slice(padding.as_bytes());
        }
        store.append(&ticket, &message).unwrap();
    }
    let ids = listed_ids(&mut store);
    let fetched = fetch_all(&mut store, &ids);
    assert_eq!(fetched.len(), 900);
    let mut got: Vec<&MsgId> = fetched.iter().map(|(id, _)| id).collect();
    got.sort_by_key(|id| id.parse::<u32>().unwrap());
    assert!(got.into_iter().eq(ids.iter()), "each message once");
    for (_, message) in &fetched {
        let content = String::from_utf8_lossy(&message.content);
        assert!(content.contains("Subject: n"));
        let n: usize = content
            .split("Subject: n")
            .nth(1)
            .and_then(|rest| rest.split("\r\n").next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(
            content.ends_with("cdef"),
            n.is_multiple_of(3),
            "message {n} intact"
        );
    }
}

#[test]
fn without_uidplus_append_returns_no_id_and_find_appended_finds_it() {
    let dovecot = start_without_uidplus();
    let mut store = connect(&dovecot, TlsMode::Implicit);
    assert!(!store.has_capability("UIDPLUS"));
    store.open_folder("INBOX").unwrap();
    let ticket = store.prepare_append().unwrap();
    let msg = message("no uidplus", Flags::DRAFT, Some(1_600_000_000));
    assert_eq!(store.append(&ticket, &msg).unwrap(), None);
    let found = store
        .find_appended(&ticket, msg.content.len() as u64, &sha256_hex(&msg.content))
        .unwrap();
    assert_eq!(found.len(), 1);
    let fetched = fetch_all(&mut store, &found);
    assert_eq!(fetched[0].1, msg);
}

#[test]
fn without_uidplus_delete_refuses_when_other_messages_are_marked_deleted() {
    let dovecot = start_without_uidplus();
    let mut store = connect(&dovecot, TlsMode::None);
    store.open_folder("INBOX").unwrap();
    let ticket = store.prepare_append().unwrap();
    for subject in ["a", "b", "c"] {
        store
            .append(&ticket, &message(subject, Flags::EMPTY, None))
            .unwrap();
    }
    let ids = listed_ids(&mut store);
    // Plain EXPUNGE is fine while no other message is marked deleted.
    store.delete_messages(&ids[..1]).unwrap();
    assert_eq!(store.list_messages().unwrap().len(), 2);

    // A mail reader marked "c" deleted without expunging it.
    store
        .set_flags(&ids[2], Flags::DELETED, Flags::EMPTY)
        .unwrap();
    let error = store.delete_messages(&ids[1..2]).unwrap_err().to_string();
    assert!(error.contains("lacks UIDPLUS"), "{error}");
    // Nothing was removed.
    assert_eq!(store.list_messages().unwrap().len(), 2);
}

#[test]
fn a_message_larger_than_a_batch_is_fetched_in_pieces_byte_for_byte() {
    let dovecot = start();
    let mut store = connect(&dovecot, TlsMode::Implicit);
    store.open_folder("INBOX").unwrap();
    // Over 2 MB: fetched alone, in 1 MB pieces, the last one short. Each
    // line is numbered, so a piece out of place or cut shows.
    let mut big = message(
        "big",
        Flags::SEEN.union(Flags::FLAGGED),
        Some(1_700_000_000),
    );
    let mut line = 0;
    while big.content.len() < 5 * 1024 * 1024 + 123 {
        line += 1;
        big.content
            .extend_from_slice(format!("line {line} of the big message\r\n").as_bytes());
    }
    let small = message("small", Flags::EMPTY, None);
    let ticket = store.prepare_append().unwrap();
    for message in [&small, &big, &small] {
        store.append(&ticket, message).unwrap();
    }
    let ids = listed_ids(&mut store);
    let fetched = fetch_all(&mut store, &ids);
    assert_eq!(fetched.len(), 3);
    let (_, got) = fetched
        .iter()
        .find(|(id, _)| *id == ids[1])
        .expect("the big message");
    assert_eq!(got.content.len(), big.content.len());
    assert!(got.content == big.content, "content differs");
    assert_eq!(got.flags, big.flags);
    assert_eq!(got.date, big.date);
}
