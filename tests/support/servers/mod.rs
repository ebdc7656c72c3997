//! The server matrix: the IMAP servers the core suites run against, started
//! per test like [`Dovecot`] (own config in a temp dir, 127.0.0.1, free
//! ports, users alice and bob with passwords, a self-signed certificate for
//! implicit TLS), and stopped on drop with no process left behind.
//!
//! - `Dovecot`: Dovecot 2.3 as the other tests run it. Seen after login:
//!   `* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT
//!   SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT
//!   MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS
//!   LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES
//!   WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY
//!   PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY` and
//!   `* NAMESPACE (("" "/")) NIL NIL`.
//! - `DovecotMinimal`: the same Dovecot advertising a bare `IMAP4rev1` (no
//!   UIDPLUS, CONDSTORE, QRESYNC, LITERAL+, MULTIAPPEND, LIST-STATUS,
//!   SPECIAL-USE, IDLE, nor NAMESPACE): every fallback of the client.
//!   `* CAPABILITY IMAP4rev1` after login; the commands still work if sent
//!   (NAMESPACE answers as above), so only what is advertised is honest.
//! - `Cyrus`: Debian 12's Cyrus IMAP 3.6 (see cyrus.rs).
//! - `Courier`: Debian 12's Courier-IMAP 5.0 (see courier.rs).
//!
//! Cyrus and Courier are unpacked from their Debian packages into a private
//! root by scripts/lib/install-deps.sh (`install_server_matrix`); a server
//! that cannot start fails the test with its log.

pub mod courier;
pub mod cyrus;
pub mod process;
pub mod syslog;

use super::dovecot::{port_of, reserve_ports, Dovecot, DovecotOptions};
use super::imap_client::ImapTestClient;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The test users of every server of the matrix: (user, password).
pub const USERS: [(&str, &str); 2] = [("alice", "alice-pw"), ("bob", "bob-pw")];

/// Where install_server_matrix unpacks Cyrus and Courier.
pub fn package_root() -> PathBuf {
    std::env::var_os("MAILFERRY_TEST_SERVER_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/mailferry-test/root"))
}

pub const INSTALL_HINT: &str = "run scripts/test once (as root or with sudo): its \
    install_server_matrix (scripts/lib/install-deps.sh) unpacks Cyrus and Courier";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Dovecot,
    DovecotMinimal,
    Cyrus,
    Courier,
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerKind::Dovecot => "Dovecot",
            ServerKind::DovecotMinimal => "Dovecot (minimal IMAP4rev1)",
            ServerKind::Cyrus => "Cyrus",
            ServerKind::Courier => "Courier",
        })
    }
}

impl ServerKind {
    /// The personal namespace's prefix and hierarchy delimiter the server
    /// announces in NAMESPACE.
    pub fn personal_namespace(self) -> (&'static str, char) {
        match self {
            ServerKind::Dovecot | ServerKind::DovecotMinimal => ("", '/'),
            ServerKind::Cyrus | ServerKind::Courier => ("INBOX.", '.'),
        }
    }

    /// Whether IMAP IDLE is advertised.
    pub fn has_idle(self) -> bool {
        self != ServerKind::DovecotMinimal
    }
}

enum Running {
    Dovecot(Box<Dovecot>),
    Cyrus(cyrus::Cyrus),
    Courier(courier::Courier),
}

/// One running server of the matrix.
pub struct MailServer {
    kind: ServerKind,
    running: Running,
}

impl MailServer {
    /// Starts a server of this kind; panics with its log if it cannot.
    pub fn start(kind: ServerKind) -> MailServer {
        let running = match kind {
            ServerKind::Dovecot => Running::Dovecot(Box::new(Dovecot::start())),
            ServerKind::DovecotMinimal => {
                Running::Dovecot(Box::new(Dovecot::start_with(DovecotOptions {
                    imap_capability: Some("IMAP4rev1".to_string()),
                    ..DovecotOptions::default()
                })))
            }
            ServerKind::Cyrus => Running::Cyrus(cyrus::Cyrus::start()),
            ServerKind::Courier => Running::Courier(courier::Courier::start()),
        };
        MailServer { kind, running }
    }

    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The plain (no TLS) IMAP port, for the test client.
    pub fn imap_port(&self) -> u16 {
        match &self.running {
            Running::Dovecot(server) => server.imap_port(),
            Running::Cyrus(server) => server.imap_port(),
            Running::Courier(server) => server.imap_port(),
        }
    }

    /// The implicit-TLS IMAP port mailferry is configured with.
    pub fn imaps_port(&self) -> u16 {
        match &self.running {
            Running::Dovecot(server) => server.imaps_port(),
            Running::Cyrus(server) => server.imaps_port(),
            Running::Courier(server) => server.imaps_port(),
        }
    }

    /// The self-signed certificate the server presents (for `localhost`).
    pub fn ca_path(&self) -> PathBuf {
        match &self.running {
            Running::Dovecot(server) => server.ca_path(),
            Running::Cyrus(server) => server.ca_path(),
            Running::Courier(server) => server.ca_path(),
        }
    }

    pub fn password(&self, user: &str) -> &'static str {
        USERS
            .iter()
            .find(|(name, _)| *name == user)
            .map(|(_, password)| *password)
            .unwrap_or_else(|| panic!("user {user:?} is not configured on the matrix servers"))
    }

    /// A client logged in as `user` on the plain IMAP port.
    pub fn client(&self, user: &str) -> ImapTestClient {
        ImapTestClient::try_login(self.imap_port(), user, self.password(user)).unwrap_or_else(|e| {
            panic!(
                "{}: {e}\n--- {} log ---\n{}",
                self.kind,
                self.kind,
                self.log_tail()
            )
        })
    }

    /// The server's name of a folder a user sees as `name` (levels separated
    /// by `/`): `Work/Projects` is `INBOX.Work.Projects` on Cyrus and Courier.
    pub fn folder(&self, name: &str) -> String {
        if name == "INBOX" {
            return name.to_string();
        }
        let (prefix, delimiter) = self.kind.personal_namespace();
        format!("{prefix}{}", name.replace('/', &delimiter.to_string()))
    }

    /// The untagged answers to `commands` sent after logging in as `user`
    /// on the plain port, one per line: for answers the test client's
    /// crate cannot parse (NAMESPACE).
    pub fn raw_answers(&self, user: &str, commands: &[&str]) -> String {
        raw_session(self.imap_port(), user, self.password(user), commands)
            .into_iter()
            .map(|(untagged, _)| untagged)
            .collect()
    }

    /// A `stores:` entry (indented for use under `stores:`) for `user` over
    /// implicit TLS, trusting the server's certificate.
    pub fn imap_store_yaml(&self, name: &str, user: &str) -> String {
        format!(
            "  {name}:\n    type: imap\n    host: localhost\n    port: {port}\n    tls: implicit\n    \
             ca_file: {ca}\n    user: {user}\n    password: {password}\n",
            port = self.imaps_port(),
            ca = self.ca_path().display(),
            password = self.password(user),
        )
    }

    /// From now on the server refuses an upload to `user`'s account that
    /// is larger than `limit` bytes, or (for a quota) would take the
    /// account over `limit`; `None` lifts the limit. Each server's own way:
    /// Dovecot (restarted) its quota plugin's `quota_max_mail_size`; Cyrus
    /// a storage quota its admin sets with SETQUOTA (in KiB); Courier a
    /// Maildir quota (the `maildirsize` file, as `maildirmake -q` writes
    /// it).
    pub fn limit_uploads(&mut self, user: &str, limit: Option<u64>) {
        match &mut self.running {
            Running::Dovecot(server) => {
                let extra = match limit {
                    Some(bytes) => format!(
                        "mail_plugins = $mail_plugins quota\nplugin {{\n  quota = count:User quota\n  \
                         quota_vsizes = yes\n  quota_max_mail_size = {bytes}\n}}\n"
                    ),
                    None => String::new(),
                };
                server.restart_with_extra_config(&extra);
            }
            Running::Cyrus(server) => server.set_storage_quota(user, limit),
            Running::Courier(server) => server.set_maildir_quota(user, limit),
        }
    }

    /// The pid namespace its processes run in (Cyrus, Courier), to check
    /// that none is left after it is dropped.
    pub fn pid_namespace(&self) -> Option<String> {
        match &self.running {
            Running::Dovecot(_) => None,
            Running::Cyrus(server) => server.pid_namespace(),
            Running::Courier(server) => server.pid_namespace(),
        }
    }

    /// The server's recent log, for failure messages.
    pub fn log_tail(&self) -> String {
        match &self.running {
            Running::Dovecot(server) => server.log_tail(),
            Running::Cyrus(server) => server.log_tail(),
            Running::Courier(server) => server.log_tail(),
        }
    }
}

/// How long a server may take to listen on both ports.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Starts retried when another process took a chosen port between our probe
/// and the server's bind.
const START_ATTEMPTS: usize = 3;

/// A fresh directory for one server, directly in /tmp (unix socket paths
/// stay short) and traversable by the server's unprivileged users.
fn server_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Two free ports on 127.0.0.1 (plain IMAP, IMAPS), released at once: the
/// server binds them next.
fn free_ports() -> (u16, u16) {
    let listeners = reserve_ports();
    (port_of(&listeners[0]), port_of(&listeners[1]))
}

/// Waits until the plain port greets with `* OK` and the TLS port accepts,
/// or the server's namespace ends, or the deadline passes.
fn wait_until_listening(
    process: &mut process::Namespaced,
    imap: u16,
    imaps: u16,
) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut greeted = false;
    loop {
        if let Some(status) = process.exited() {
            return Err(format!("the server's processes ended ({status})"));
        }
        if !greeted {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, imap));
            if let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut greeting = String::new();
                let _ = BufReader::new(stream).read_line(&mut greeting);
                greeted = greeting.starts_with("* OK");
            }
        }
        if greeted {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, imaps));
            if TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "not listening on ports {imap} (IMAP) and {imaps} (IMAPS) within {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `chown -R user:group path`.
fn chown_tree(path: &Path, owner: &str) {
    let output = Command::new("chown")
        .arg("-R")
        .arg(owner)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chown -R {owner} {}: {} ({INSTALL_HINT})",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The uid or gid of a system account (`id -u NAME` / `id -g NAME`).
fn account_id(flag: &str, name: &str) -> u32 {
    let output = Command::new("id").arg(flag).arg(name).output().unwrap();
    assert!(
        output.status.success(),
        "no account {name:?} ({INSTALL_HINT})"
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

/// Logs in on the plain IMAP `port` as `user` and sends `commands`: for
/// each, its untagged answers (one a line, BYE left out) and its tagged
/// status line (`OK ...`, `NO ...`), LOGIN first and LOGOUT last left out.
/// For answers the test client's crate cannot parse (NAMESPACE) and
/// commands it does not have (SETQUOTA).
pub fn raw_session(
    port: u16,
    user: &str,
    password: &str,
    commands: &[&str],
) -> Vec<(String, String)> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let login = format!("LOGIN {user} {password}");
    let mut answers = Vec::new();
    for (n, command) in std::iter::once(login.as_str())
        .chain(commands.iter().copied())
        .chain(["LOGOUT"])
        .enumerate()
    {
        let tag = format!("r{n}");
        write!(writer, "{tag} {command}\r\n").unwrap();
        let mut untagged = String::new();
        let status = loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break String::new();
            }
            if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                break status.trim_end().to_string();
            }
            if !line.starts_with("* BYE") {
                untagged.push_str(line.trim_end());
                untagged.push('\n');
            }
        };
        if n == 0 {
            assert!(status.starts_with("OK"), "LOGIN {user}: {status}");
        } else if n <= commands.len() {
            answers.push((untagged, status.clone()));
        }
        if status.is_empty() {
            // The server closed the connection.
            break;
        }
    }
    answers
}
