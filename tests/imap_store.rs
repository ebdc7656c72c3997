//! The IMAP store against a real Dovecot: connecting in each TLS mode, the
//! errors users see, and every message operation of the `Store` trait.
//!
//! Each test starts a throwaway Dovecot of its own (see [`Dovecot`]); the
//! starter is private to this file until the shared harness in tests/support
//! takes over.

use mailferry::config::{AuthMethod, ImapConfig, PasswordSource, Secret, TlsMode};
use mailferry::flags::Flags;
use mailferry::store::imap::ImapStore;
use mailferry::store::{Message, MsgId, Store};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pa55";
/// Mail is owned by this uid when the tests run as root (Dovecot refuses uid 0).
const MAIL_UID: u32 = 5000;

/// A Dovecot serving one user on free ports of 127.0.0.1, stopped on drop.
struct Dovecot {
    dir: tempfile::TempDir,
    /// Kept short and directly under /tmp: socket paths must fit 108 bytes.
    base_dir: PathBuf,
    master: std::process::Child,
    imap_port: u16,
    imaps_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dovecot {
    /// Starts Dovecot with TLS; `extra` is appended to its config.
    fn start(extra: &str) -> Dovecot {
        Dovecot::start_with(extra, true)
    }

    /// Starts Dovecot; without `tls` it offers neither STARTTLS nor an
    /// implicit TLS port.
    fn start_with(extra: &str, tls: bool) -> Dovecot {
        let dir = tempfile::Builder::new()
            .prefix("mailferry-imap-")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path();
        let base_dir = PathBuf::from(format!("/tmp/mfi-{}", free_port()));
        let _ = std::fs::remove_dir_all(&base_dir);
        let is_root = unsafe { libc::geteuid() } == 0;
        let (uid, gid, login_user, internal_user) = if is_root {
            (
                MAIL_UID,
                MAIL_UID,
                "dovenull".to_string(),
                "dovecot".to_string(),
            )
        } else {
            let name = std::env::var("USER").unwrap();
            unsafe { (libc::geteuid(), libc::getegid(), name.clone(), name) }
        };

        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(root.join("key.pem"))
            .arg("-out")
            .arg(root.join("cert.pem"))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl failed");

        let home = root.join("home");
        std::fs::create_dir(&home).unwrap();
        set_mode(root, 0o755);
        std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
        let passwd = root.join("passwd");
        std::fs::write(
            &passwd,
            format!(
                "{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}::\n",
                home.display()
            ),
        )
        .unwrap();
        set_mode(&passwd, 0o644);

        let imap_port = free_port();
        // Port 0 disables the listener.
        let imaps_port = if tls { free_port() } else { 0 };
        let config = format!(
            r#"base_dir = {base}
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = {instance}
listen = 127.0.0.1
protocols = imap
ssl = {ssl}
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_fsync = never
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
default_login_user = {login_user}
default_internal_user = {internal_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Sent {{
    special_use = \Sent
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{extra}
"#,
            base = base_dir.display(),
            root = root.display(),
            ssl = if tls { "yes" } else { "no" },
            instance = base_dir.file_name().unwrap().to_string_lossy(),
        );
        let config_path = root.join("dovecot.conf");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(root.join("start.log")).unwrap();
        // In the foreground the master is our child: we know its pid and
        // reap it on drop.
        let master = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let dovecot = Dovecot {
            dir,
            base_dir,
            master,
            imap_port,
            imaps_port,
        };
        dovecot.wait_until_listening();
        dovecot
    }

    /// The master binds its ports a moment after it starts; there is no
    /// signal to wait for, so try to connect until it answers.
    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [self.imap_port, self.imaps_port] {
            if port == 0 {
                continue;
            }
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "dovecot did not listen on port {port}: {}",
                    std::fs::read_to_string(self.dir.path().join("start.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn config(&self, tls: TlsMode) -> ImapConfig {
        ImapConfig {
            host: "localhost".to_string(),
            port: match tls {
                TlsMode::Implicit => self.imaps_port,
                _ => self.imap_port,
            },
            tls,
            ca_file: Some(self.ca_file()),
            user: USER.to_string(),
            auth: AuthMethod::Login,
            password: PasswordSource::Plain(Secret::new(PASSWORD)),
            timeout_secs: 10,
            connections: 1,
            namespace: String::new(),
        }
    }

    fn connect(&self, tls: TlsMode) -> ImapStore {
        ImapStore::connect(&self.config(tls), &Secret::new(PASSWORD)).unwrap()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.master.id() as i32, libc::SIGTERM);
        }
        let _ = self.master.wait();
        let _ = std::fs::remove_dir_all(&self.base_dir);
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    let dovecot = Dovecot::start("");
    for tls in [TlsMode::Implicit, TlsMode::Starttls, TlsMode::None] {
        let store = dovecot.connect(tls);
        assert!(store.has_capability("IMAP4rev1"), "{tls:?}");
        // Post-login capabilities, which Dovecot only lists after login.
        assert!(store.has_capability("uidplus"), "{tls:?}");
        assert!(store.capabilities().iter().all(|c| *c == c.to_uppercase()));
        store.logout().unwrap();
    }
}

#[test]
fn sasl_plain_authentication_logs_in() {
    let dovecot = Dovecot::start("");
    let mut config = dovecot.config(TlsMode::Implicit);
    config.auth = AuthMethod::Plain;
    let mut store = ImapStore::connect(&config, &Secret::new(PASSWORD)).unwrap();
    assert!(store
        .list_folders()
        .unwrap()
        .iter()
        .any(|f| f.name == "INBOX"));
}

#[test]
fn wrong_password_is_a_login_refusal_without_the_password() {
    let dovecot = Dovecot::start("");
    let wrong = "not-the-Pa55word";
    let error = ImapStore::connect(&dovecot.config(TlsMode::Implicit), &Secret::new(wrong))
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
    let dovecot = Dovecot::start("");
    for tls in [TlsMode::Implicit, TlsMode::Starttls] {
        let mut config = dovecot.config(tls);
        config.ca_file = None;
        let error = ImapStore::connect(&config, &Secret::new(PASSWORD))
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
    let dovecot = Dovecot::start_with("", false);
    let error = ImapStore::connect(&dovecot.config(TlsMode::Starttls), &Secret::new(PASSWORD))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        error,
        format!(
            "server localhost:{} does not offer STARTTLS; refusing to send the password in \
             clear (set tls: none to allow it)",
            dovecot.imap_port
        )
    );
}

#[test]
fn folders_with_spaces_and_non_ascii_names_are_created_and_listed() {
    let dovecot = Dovecot::start("");
    let mut store = dovecot.connect(TlsMode::Implicit);
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
    let maildir = dovecot.dir.path().join("home/Maildir");
    assert!(maildir.join(".Archive.Donn&AOk-es").is_dir());

    let status = store.open_folder("Archive/Données").unwrap();
    assert_eq!(status.exists, 0);
    assert!(status.uidvalidity.is_some());
}

#[test]
fn opening_a_missing_folder_names_it() {
    let dovecot = Dovecot::start("");
    let mut store = dovecot.connect(TlsMode::None);
    let error = store.open_folder("No Such").unwrap_err().to_string();
    assert!(error.contains("\"No Such\""), "{error}");
}

#[test]
fn messages_round_trip_with_flags_dates_and_exact_bytes() {
    let dovecot = Dovecot::start("");
    let mut store = dovecot.connect(TlsMode::Implicit);
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
    let dovecot = Dovecot::start("");
    let mut store = dovecot.connect(TlsMode::None);
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
    let dovecot = Dovecot::start("");
    let mut store = dovecot.connect(TlsMode::None);
    store.open_folder("INBOX").unwrap();
    let ticket = store.prepare_append().unwrap();
    for n in 0..150 {
        store
            .append(&ticket, &message(&format!("n{n}"), Flags::EMPTY, None))
            .unwrap();
    }
    let ids: Vec<MsgId> = store
        .list_messages()
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let fetched = fetch_all(&mut store, &ids);
    assert_eq!(fetched.len(), 150);
    assert!(fetched.iter().map(|(id, _)| id).eq(ids.iter()));
}

/// Post-login capabilities as Dovecot lists them, minus UIDPLUS.
const WITHOUT_UIDPLUS: &str = "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE \
    IDLE SORT SORT=DISPLAY THREAD=REFERENCES MULTIAPPEND CONDSTORE QRESYNC LITERAL+ NAMESPACE \
    SPECIAL-USE MOVE";

#[test]
fn without_uidplus_append_returns_no_id_and_find_appended_finds_it() {
    let dovecot = Dovecot::start(WITHOUT_UIDPLUS);
    let mut store = dovecot.connect(TlsMode::Implicit);
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
    let dovecot = Dovecot::start(WITHOUT_UIDPLUS);
    let mut store = dovecot.connect(TlsMode::None);
    store.open_folder("INBOX").unwrap();
    let ticket = store.prepare_append().unwrap();
    for subject in ["a", "b", "c"] {
        store
            .append(&ticket, &message(subject, Flags::EMPTY, None))
            .unwrap();
    }
    let ids: Vec<MsgId> = store
        .list_messages()
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
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
