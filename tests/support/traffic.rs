//! What a client did on the server, from Dovecot's own log: at every logout
//! Dovecot logs the bytes in and out and how many message headers and
//! bodies were fetched (`imap_logout_format`), and the mail_log plugin logs
//! every message saved (APPEND or COPY). Counting there proves "downloaded
//! no body, uploaded nothing" without trusting the client under test.

use super::dovecot::Dovecot;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Dovecot settings for [`ServerLog`]; put them in `DovecotOptions::extra_config`.
pub const LOG_CONFIG: &str = "mail_plugins = $mail_plugins notify mail_log\n\
                              plugin {\n  mail_log_events = save copy\n  \
                              mail_log_fields = uid box msgid size\n}\n";

/// How long the sessions of a finished client may take to be logged.
const QUIET_TIMEOUT: Duration = Duration::from_secs(15);

/// The IMAP traffic of the sessions logged since a [`ServerLog::mark`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    pub sessions: usize,
    /// Bytes the client sent.
    pub bytes_in: u64,
    /// Bytes the server sent.
    pub bytes_out: u64,
    /// Messages whose header was fetched (headers only).
    pub headers_fetched: u64,
    /// Messages whose body was fetched.
    pub bodies_fetched: u64,
    /// Messages saved on the server (APPEND, COPY).
    pub saved: u64,
}

/// A position in a Dovecot's log.
pub struct ServerLog {
    path: PathBuf,
    offset: usize,
}

impl ServerLog {
    /// Waits until every IMAP session so far has been logged out, then
    /// remembers the end of the log: what comes after is the next client's.
    pub fn mark(dovecot: &Dovecot) -> ServerLog {
        let path = log_path(dovecot);
        let text = wait_until_quiet(&path);
        ServerLog {
            path,
            offset: text.len(),
        }
    }

    /// Waits until the sessions since the mark are logged out, and sums them.
    pub fn traffic(&self) -> Traffic {
        let text = wait_until_quiet(&self.path);
        let mut traffic = Traffic::default();
        for line in text[self.offset..].lines() {
            if line.contains(": save: ") || line.contains(": copy: ") {
                traffic.saved += 1;
            }
            if !is_session_end(line) {
                continue;
            }
            traffic.sessions += 1;
            traffic.bytes_in += field(line, "in");
            traffic.bytes_out += field(line, "out");
            traffic.headers_fetched += field(line, "hdr_count");
            traffic.bodies_fetched += field(line, "body_count");
        }
        traffic
    }
}

fn log_path(dovecot: &Dovecot) -> PathBuf {
    dovecot
        .config_path()
        .parent()
        .expect("the config lives in the server's directory")
        .join("dovecot.log")
}

/// A session's last line. Usually prefixed `imap(user)<pid><session>:`,
/// but Dovecot sometimes logs a client's closing the connection with a
/// bare `imap:` (seen once in CI, ending the session of a client that
/// closed without LOGOUT).
fn is_session_end(line: &str) -> bool {
    (line.contains("imap(") || line.contains(" imap: "))
        && line.contains(" in=")
        && line.contains(" body_count=")
}

/// The number after ` name=` in a logout line.
fn field(line: &str, name: &str) -> u64 {
    let key = format!(" {name}=");
    line.split(&key)
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in the logout line {line:?}"))
}

/// The log once every IMAP login in it has its logout line.
fn wait_until_quiet(path: &PathBuf) -> String {
    let deadline = Instant::now() + QUIET_TIMEOUT;
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        let logins = text
            .lines()
            .filter(|l| l.contains("imap-login:") && l.contains(" Login: user="))
            .count();
        let ends = text.lines().filter(|l| is_session_end(l)).count();
        if logins == ends {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{logins} IMAP login(s) but {ends} logout(s) logged after {QUIET_TIMEOUT:?}:\n{}",
            text.lines()
                .filter(|l| l.contains("imap"))
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
