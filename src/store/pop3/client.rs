//! A small POP3 client (RFC 1939, CAPA and RESP-CODES of RFC 2449, STLS of
//! RFC 2595, AUTH PLAIN of RFC 5034), written for mailferry's needs: every
//! byte of a message is kept exactly (8-bit, NUL, bare LF and CRLF as the
//! server sent them) apart from the transparency dots, and every reply is
//! parsed defensively: a malformed or oversized reply is an error, never a
//! panic and never a guess.
//!
//! The client works on any `Read + Write` stream, so its parsing is tested
//! on byte strings; [`connect`] builds the real one over `store::tls`.

use crate::config::{Secret, TlsMode};
use crate::store::error::{StoreError, StoreErrorKind};
use crate::store::tls::{self, NetStream};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::Duration;

/// Longest status line accepted. RFC 2449 allows 512 octets; servers that
/// exceed it a little are tolerated, a stream without line ends is not.
const MAX_STATUS_LINE: usize = 4096;
/// Longest line of a multi-line listing (CAPA, LIST, UIDL).
const MAX_LISTING_LINE: usize = 4096;
/// Longest line inside a message. Real mail breaks the 998-octet rule
/// (unwrapped HTML, base64 without line breaks), so this is generous; it
/// only stops a server that never sends a line end.
const MAX_MESSAGE_LINE: usize = 64 * 1024 * 1024;
/// Largest message accepted from RETR.
const MAX_MESSAGE_SIZE: usize = 1024 * 1024 * 1024;
/// Most entries accepted in one listing; far beyond any real maildrop.
const MAX_LISTING_ENTRIES: usize = 10_000_000;

/// What the greeting told: the APOP timestamp, when the server offers APOP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub apop_timestamp: Option<String>,
}

/// The server's answer to CAPA, upper-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub lines: Vec<String>,
}

impl Capabilities {
    /// Whether a capability line starts with `name` (e.g. "UIDL", "STLS").
    pub fn has(&self, name: &str) -> bool {
        self.lines
            .iter()
            .any(|line| line.split_whitespace().next() == Some(name))
    }

    /// Whether `SASL` lists `mechanism`.
    pub fn has_sasl(&self, mechanism: &str) -> bool {
        self.lines.iter().any(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some("SASL") && words.any(|word| word == mechanism)
        })
    }
}

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// USER and PASS.
    UserPass,
    /// APOP: an MD5 digest of the greeting's timestamp and the password.
    Apop,
    /// SASL PLAIN through AUTH.
    Plain,
}

/// One POP3 session on a stream.
pub struct Pop3Client<S: Read + Write> {
    stream: BufReader<S>,
    /// `host:port`, for messages.
    server: String,
    greeting: Greeting,
}

impl<S: Read + Write> Pop3Client<S> {
    /// Reads the greeting of a fresh connection.
    pub fn new(stream: S, server: &str) -> Result<Pop3Client<S>> {
        let mut client = Pop3Client {
            stream: BufReader::new(stream),
            server: server.to_string(),
            greeting: Greeting {
                apop_timestamp: None,
            },
        };
        let line = client.read_line(MAX_STATUS_LINE, "the greeting")?;
        let text = match parse_status(&line) {
            Some(Status::Ok(text)) => text,
            Some(Status::Err(text)) => {
                bail!("{server} refused the connection: {}", explain_error(&text))
            }
            None => bail!(
                "{server} does not greet like a POP3 server: {}",
                snippet(&line)
            ),
        };
        client.greeting = Greeting {
            apop_timestamp: apop_timestamp(&text),
        };
        Ok(client)
    }

    pub fn greeting(&self) -> &Greeting {
        &self.greeting
    }

    /// CAPA; `None` when the server does not know the command (RFC 1939
    /// servers), which is not an error.
    pub fn capa(&mut self) -> Result<Option<Capabilities>> {
        self.send("CAPA")?;
        if self.status("CAPA")?.is_err() {
            return Ok(None);
        }
        let mut lines = Vec::new();
        self.read_listing("CAPA", |line| {
            lines.push(String::from_utf8_lossy(line).trim().to_ascii_uppercase());
            Ok(())
        })?;
        Ok(Some(Capabilities { lines }))
    }

    /// Sends STLS and waits for its go-ahead. The server must not have
    /// sent anything after it: bytes already buffered would be read as if
    /// they came through TLS (the STARTTLS injection attack).
    pub fn start_tls(mut self) -> Result<S> {
        self.command_ok("STLS")?;
        if !self.stream.buffer().is_empty() {
            bail!(
                "{} sent data after agreeing to STLS before the TLS handshake; refusing to continue",
                self.server
            );
        }
        Ok(self.stream.into_inner())
    }

    /// Logs in as `user`.
    pub fn login(&mut self, how: Login, user: &str, password: &Secret) -> Result<()> {
        check_argument(user, "user name")?;
        let outcome = match how {
            Login::UserPass => self
                .command_ok(&format!("USER {user}"))
                .and_then(|_| self.send_secret(&format!("PASS {}", password.expose()), "PASS")),
            Login::Apop => {
                let Some(timestamp) = self.greeting.apop_timestamp.clone() else {
                    bail!(
                        "{} does not offer APOP (its greeting has no <timestamp>); use auth: user or auth: plain",
                        self.server
                    );
                };
                let digest = apop_digest(&timestamp, password.expose());
                self.command_ok(&format!("APOP {user} {digest}"))
                    .map(|_| ())
            }
            Login::Plain => {
                self.send("AUTH PLAIN")?;
                let line = self.read_line(MAX_STATUS_LINE, "the reply to AUTH PLAIN")?;
                if !(line == b"+\r\n" || line == b"+\n" || line.starts_with(b"+ ")) {
                    return Err(match parse_status(&line) {
                        Some(Status::Err(text)) => self.refused("AUTH PLAIN", &text),
                        _ => self.malformed("AUTH PLAIN", &line),
                    });
                }
                let response = sasl_plain(user, password.expose());
                self.send_secret(&response, "AUTH PLAIN")
            }
        };
        outcome.map_err(|error| anyhow!("login to {} as {user} failed: {error:#}", self.server))
    }

    /// STAT: (message count, total size).
    pub fn stat(&mut self) -> Result<(u32, u64)> {
        let text = self.command_ok("STAT")?;
        let mut words = text.split_whitespace();
        match (
            words.next().and_then(|w| w.parse().ok()),
            words.next().and_then(|w| w.parse().ok()),
        ) {
            (Some(count), Some(size)) => Ok((count, size)),
            _ => Err(self.malformed("STAT", text.as_bytes())),
        }
    }

    /// UIDL of every message: (message number, unique id). `None` when the
    /// server does not support UIDL.
    pub fn uidl(&mut self) -> Result<Option<Vec<(u32, String)>>> {
        self.send("UIDL")?;
        if self.status("UIDL")?.is_err() {
            return Ok(None);
        }
        let mut entries = Vec::new();
        let server = self.server.clone();
        self.read_listing("UIDL", |line| {
            entries.push(parse_uidl_line(line).map_err(|e| anyhow!("{server}: {e}"))?);
            Ok(())
        })?;
        check_unique_numbers(entries.iter().map(|(n, _)| *n), "UIDL", &self.server)?;
        let mut seen = std::collections::HashSet::new();
        if let Some((_, id)) = entries.iter().find(|(_, id)| !seen.insert(id.clone())) {
            bail!(
                "{} gave the unique id {id:?} to two messages (UIDL), so they cannot be told apart",
                self.server
            );
        }
        Ok(Some(entries))
    }

    /// LIST of every message: (message number, size in octets).
    pub fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        self.command_ok("LIST")?;
        let mut entries = Vec::new();
        let server = self.server.clone();
        self.read_listing("LIST", |line| {
            entries.push(parse_list_line(line).map_err(|e| anyhow!("{server}: {e}"))?);
            Ok(())
        })?;
        check_unique_numbers(entries.iter().map(|(n, _)| *n), "LIST", &self.server)?;
        Ok(entries)
    }

    /// RETR: the message's bytes, dot-unstuffed, line ends as sent.
    pub fn retr(&mut self, number: u32) -> Result<Vec<u8>> {
        match self.retr_unless_gone(number)? {
            Retrieved::Message(content) => Ok(content),
            Retrieved::Gone(text) => Err(self.gone("RETR", &text)),
        }
    }

    /// RETR, telling a message that another client deleted since this
    /// session listed it (the server refuses RETR saying so) from other
    /// refusals, which are errors.
    pub fn retr_unless_gone(&mut self, number: u32) -> Result<Retrieved> {
        let command = format!("RETR {number}");
        check_argument(&command, "RETR")?;
        self.send(&command)?;
        match self.status("RETR")? {
            Status::Ok(_) => {}
            Status::Err(text) if says_gone(&text) => return Ok(Retrieved::Gone(text)),
            Status::Err(text) => return Err(self.refused("RETR", &text)),
        }
        self.read_message(number, "a message (RETR)")
            .map(Retrieved::Message)
    }

    /// TOP n 0: the message's header and the empty line that ends it,
    /// dot-unstuffed (RFC 1939's optional TOP; CAPA says whether the
    /// server has it).
    pub fn top_header(&mut self, number: u32) -> Result<Vec<u8>> {
        match self.top_header_unless_gone(number)? {
            Retrieved::Message(header) => Ok(header),
            Retrieved::Gone(text) => Err(self.gone("TOP", &text)),
        }
    }

    /// [`Pop3Client::top_header`], telling a message deleted by another
    /// client since this session listed it from other refusals, as
    /// [`Pop3Client::retr_unless_gone`] does.
    pub fn top_header_unless_gone(&mut self, number: u32) -> Result<Retrieved> {
        let command = format!("TOP {number} 0");
        check_argument(&command, "TOP")?;
        self.send(&command)?;
        match self.status("TOP")? {
            Status::Ok(_) => {}
            Status::Err(text) if says_gone(&text) => return Ok(Retrieved::Gone(text)),
            Status::Err(text) => return Err(self.refused("TOP", &text)),
        }
        self.read_message(number, "a message header (TOP)")
            .map(Retrieved::Message)
    }

    /// The lines of a message up to the terminating dot.
    fn read_message(&mut self, number: u32, what: &str) -> Result<Vec<u8>> {
        let mut content = Vec::new();
        loop {
            let line = self.read_line(MAX_MESSAGE_LINE, what)?;
            if is_terminator(&line) {
                return Ok(content);
            }
            // A line starting with the termination octet was stuffed with
            // a second one (RFC 1939 section 3).
            let line = line.strip_prefix(b".").unwrap_or(&line);
            if content.len() + line.len() > MAX_MESSAGE_SIZE {
                bail!(
                    "message {number} on {} is larger than {MAX_MESSAGE_SIZE} bytes; refusing it",
                    self.server
                );
            }
            content.extend_from_slice(line);
        }
    }

    /// DELE: marks a message deleted; it goes at QUIT.
    pub fn dele(&mut self, number: u32) -> Result<()> {
        self.command_ok(&format!("DELE {number}")).map(|_| ())
    }

    /// RSET: unmarks every message marked deleted in this session.
    pub fn rset(&mut self) -> Result<()> {
        self.command_ok("RSET").map(|_| ())
    }

    /// QUIT: ends the session; the server removes the messages marked
    /// deleted only now.
    pub fn quit(mut self) -> Result<()> {
        self.command_ok("QUIT")
            .map(|_| ())
            .with_context(|| format!("QUIT on {} failed, so no deletion took effect", self.server))
    }

    fn send(&mut self, command: &str) -> Result<()> {
        let verb = command.split(' ').next().unwrap_or(command).to_string();
        self.write_line(command).map_err(|error| {
            connection_lost(format!(
                "sending {verb} to {}: {}",
                self.server,
                tls::describe_io_error(&error)
            ))
        })
    }

    /// Sends a line holding a secret: an error never includes the line.
    fn send_secret(&mut self, line: &str, what: &str) -> Result<()> {
        check_argument(line, what)?;
        self.write_line(line)
            .with_context(|| format!("sending {what} to {}", self.server))?;
        match self.status(what)? {
            Status::Ok(_) => Ok(()),
            Status::Err(text) => Err(self.refused(what, &text)),
        }
    }

    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let stream = self.stream.get_mut();
        stream.write_all(line.as_bytes())?;
        stream.write_all(b"\r\n")?;
        stream.flush()
    }

    /// Sends a command and insists on +OK; returns the text after it.
    fn command_ok(&mut self, command: &str) -> Result<String> {
        let verb = command.split(' ').next().unwrap_or(command);
        check_argument(command, verb)?;
        self.send(command)?;
        match self.status(verb)? {
            Status::Ok(text) => Ok(text),
            Status::Err(text) => Err(self.refused(verb, &text)),
        }
    }

    fn status(&mut self, what: &str) -> Result<Status> {
        let line = self.read_line(MAX_STATUS_LINE, &format!("the reply to {what}"))?;
        parse_status(&line).ok_or_else(|| self.malformed(what, &line))
    }

    /// Reads the lines of a multi-line listing up to its terminating dot.
    fn read_listing(
        &mut self,
        what: &str,
        mut each: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut count = 0usize;
        loop {
            let line = self.read_line(MAX_LISTING_LINE, &format!("the {what} listing"))?;
            if is_terminator(&line) {
                return Ok(());
            }
            count += 1;
            if count > MAX_LISTING_ENTRIES {
                bail!(
                    "{} sent more than {MAX_LISTING_ENTRIES} {what} lines",
                    self.server
                );
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            each(trim_line_end(line))?;
        }
    }

    /// Reads one line, its end (CRLF or a bare LF) included.
    fn read_line(&mut self, limit: usize, what: &str) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        loop {
            let available = match self.stream.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(connection_lost(format!(
                        "reading {what} from {}: {}",
                        self.server,
                        tls::describe_io_error(&error)
                    )))
                }
            };
            if available.is_empty() {
                return Err(connection_lost(format!(
                    "{} closed the connection in the middle of {what}",
                    self.server
                )));
            }
            let (taken, complete) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (end + 1, true),
                None => (available.len(), false),
            };
            if line.len() + taken > limit {
                bail!(
                    "{} sent a line longer than {limit} bytes in {what}; refusing it",
                    self.server
                );
            }
            line.extend_from_slice(&available[..taken]);
            self.stream.consume(taken);
            if complete {
                return Ok(line);
            }
        }
    }

    fn refused(&self, what: &str, text: &str) -> anyhow::Error {
        StoreError::new(StoreErrorKind::Refused, self.refusal(what, text)).into()
    }

    /// The server refused `what` saying the message is gone.
    fn gone(&self, what: &str, text: &str) -> anyhow::Error {
        StoreError::new(StoreErrorKind::Gone, self.refusal(what, text)).into()
    }

    fn refusal(&self, what: &str, text: &str) -> String {
        format!("{} refused {what}: {}", self.server, explain_error(text))
    }

    fn malformed(&self, what: &str, line: &[u8]) -> anyhow::Error {
        anyhow!(
            "{} sent a malformed reply to {what}: {}",
            self.server,
            snippet(line)
        )
    }
}

/// Connects to a POP3 server as the config says, secures the connection,
/// logs in. `login` None picks the best method the server offers.
pub struct ConnectOptions<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: TlsMode,
    /// What the server's certificate must satisfy (CA, pin, TLS version).
    pub tls_policy: tls::TlsPolicy<'a>,
    pub user: &'a str,
    pub login: Option<Login>,
    pub timeout: Duration,
}

/// A logged-in session and what the server can do.
pub struct Connected {
    pub client: Pop3Client<NetStream>,
    pub capabilities: Option<Capabilities>,
}

pub fn connect(options: &ConnectOptions<'_>, password: &Secret) -> Result<Connected> {
    let server = format!("{}:{}", options.host, options.port);
    let tcp = tls::connect_tcp(options.host, options.port, options.timeout)?;
    let mut client = match options.tls {
        TlsMode::Implicit => {
            let stream = tls::secure(&options.tls_policy, options.host, options.port, tcp)?;
            Pop3Client::new(stream, &server)?
        }
        TlsMode::Starttls => {
            let mut plain = Pop3Client::new(NetStream::Plain(tcp), &server)?;
            let greeting = plain.greeting.clone();
            let capabilities = plain.capa()?;
            if !capabilities.as_ref().is_some_and(|c| c.has("STLS")) {
                bail!("{server} does not offer STLS, so the connection cannot be encrypted; use tls: implicit (port 995) if the server has it");
            }
            let NetStream::Plain(tcp) = plain.start_tls()? else {
                bail!("internal error: STLS on a connection that is already encrypted");
            };
            let stream = tls::secure(&options.tls_policy, options.host, options.port, tcp)?;
            // The session goes on over TLS: no second greeting, and the
            // first one's APOP timestamp still holds.
            Pop3Client {
                stream: BufReader::new(stream),
                server: server.clone(),
                greeting,
            }
        }
        TlsMode::None => Pop3Client::new(NetStream::Plain(tcp), &server)?,
    };
    let capabilities = client.capa()?;
    let login = options
        .login
        .unwrap_or_else(|| choose_login(options.tls, capabilities.as_ref(), client.greeting()));
    client.login(login, options.user, password)?;
    // Some servers change their capabilities after login (RFC 2449).
    let capabilities = client.capa()?.or(capabilities);
    Ok(Connected {
        client,
        capabilities,
    })
}

/// The login when the config leaves it open: over an encrypted connection
/// AUTH PLAIN where offered, else USER/PASS; without encryption APOP where
/// offered, so the password does not cross the network in clear.
pub fn choose_login(
    tls: TlsMode,
    capabilities: Option<&Capabilities>,
    greeting: &Greeting,
) -> Login {
    let plain = capabilities.is_some_and(|c| c.has_sasl("PLAIN"));
    match tls {
        TlsMode::None if greeting.apop_timestamp.is_some() => Login::Apop,
        _ if plain => Login::Plain,
        _ => Login::UserPass,
    }
}

/// What RETR gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retrieved {
    /// The message's bytes.
    Message(Vec<u8>),
    /// The server refused it as deleted since the listing, with its words.
    Gone(String),
}

/// A dropped or timed-out connection: a retry on a new session may cure
/// it (see the engine's `retry` module).
fn connection_lost(message: String) -> anyhow::Error {
    StoreError::transient(message, false).into()
}

/// Whether the text of a RETR's -ERR says the message is gone: deleted by
/// another session since this one listed it (Dovecot: `Message 40
/// expunged.`).
fn says_gone(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "expunged",
        "deleted",
        "no such message",
        "does not exist",
        "no longer exist",
    ]
    .iter()
    .any(|words| text.contains(words))
}

/// A status line: `+OK text` or `-ERR text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok(String),
    Err(String),
}

impl Status {
    fn is_err(&self) -> bool {
        matches!(self, Status::Err(_))
    }
}

/// Parses a status line (with its line end). Anything but `+OK` or `-ERR`,
/// alone or followed by a space, is malformed: `None`.
pub fn parse_status(line: &[u8]) -> Option<Status> {
    let line = trim_line_end(line);
    let (ok, rest) = if let Some(rest) = line.strip_prefix(b"+OK") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix(b"-ERR") {
        (false, rest)
    } else {
        return None;
    };
    let text = match rest {
        [] => "",
        [b' ', text @ ..] => std::str::from_utf8(text).unwrap_or("(undecodable text)"),
        _ => return None,
    };
    let text = text.trim().to_string();
    Some(if ok {
        Status::Ok(text)
    } else {
        Status::Err(text)
    })
}

/// Turns the text of an -ERR, with its RFC 2449/3206 response code, into
/// words a user can act on.
pub fn explain_error(text: &str) -> String {
    let (code, rest) = match text.strip_prefix('[').and_then(|t| t.split_once(']')) {
        Some((code, rest)) => (Some(code.to_ascii_uppercase()), rest.trim()),
        None => (None, text.trim()),
    };
    let said = if rest.is_empty() {
        String::new()
    } else {
        format!(" (the server said: {rest})")
    };
    match code.as_deref() {
        Some("IN-USE") => format!(
            "the mailbox is in use by another POP3 session, probably another mail client \
             fetching from it; try again when it has finished{said}"
        ),
        Some("LOGIN-DELAY") => format!(
            "the server allows a login only every so often (LOGIN-DELAY); wait and try \
             again, and run mailferry less often for this account{said}"
        ),
        Some("SYS/TEMP") => format!("a temporary problem on the server; try again later{said}"),
        Some("SYS/PERM") => format!("a lasting problem on the server{said}"),
        Some("AUTH") => format!("the user name or password is wrong{said}"),
        _ if rest.is_empty() => "no reason given".to_string(),
        _ => rest.to_string(),
    }
}

fn is_terminator(line: &[u8]) -> bool {
    line == b".\r\n" || line == b".\n"
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `NUMBER UNIQUE-ID`: the id is 1 to 70 printable characters (RFC 1939).
pub fn parse_uidl_line(line: &[u8]) -> Result<(u32, String)> {
    let text = std::str::from_utf8(line)
        .map_err(|_| anyhow!("a UIDL line is not text: {}", snippet(line)))?;
    let mut words = text.split_ascii_whitespace();
    let (Some(number), Some(id), None) = (words.next(), words.next(), words.next()) else {
        bail!("malformed UIDL line: {}", snippet(line));
    };
    let number = parse_message_number(number, line)?;
    let valid = (1..=70).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if !valid {
        bail!("invalid unique id in UIDL line: {}", snippet(line));
    }
    Ok((number, id.to_string()))
}

/// `NUMBER SIZE`.
pub fn parse_list_line(line: &[u8]) -> Result<(u32, u64)> {
    let text = std::str::from_utf8(line)
        .map_err(|_| anyhow!("a LIST line is not text: {}", snippet(line)))?;
    let mut words = text.split_ascii_whitespace();
    // RFC 1939 allows more after the size; it is ignored.
    let (Some(number), Some(size)) = (words.next(), words.next()) else {
        bail!("malformed LIST line: {}", snippet(line));
    };
    let number = parse_message_number(number, line)?;
    let size = size
        .parse::<u64>()
        .map_err(|_| anyhow!("invalid size in LIST line: {}", snippet(line)))?;
    Ok((number, size))
}

fn parse_message_number(word: &str, line: &[u8]) -> Result<u32> {
    match word.parse::<u32>() {
        Ok(number) if number > 0 && word.bytes().all(|b| b.is_ascii_digit()) => Ok(number),
        _ => bail!("invalid message number in line: {}", snippet(line)),
    }
}

fn check_unique_numbers(
    numbers: impl Iterator<Item = u32>,
    what: &str,
    server: &str,
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for number in numbers {
        if !seen.insert(number) {
            bail!("{server} listed message {number} twice in {what}");
        }
    }
    Ok(())
}

/// A command argument must not smuggle a line end into the protocol.
fn check_argument(text: &str, what: &str) -> Result<()> {
    if text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        bail!("the {what} contains a line break or NUL, which POP3 cannot carry");
    }
    Ok(())
}

/// The `<...>` timestamp of an APOP-capable greeting.
fn apop_timestamp(greeting: &str) -> Option<String> {
    let start = greeting.find('<')?;
    let end = start + greeting[start..].find('>')?;
    let stamp = &greeting[start..=end];
    (stamp.len() > 2 && stamp.contains('@')).then(|| stamp.to_string())
}

/// APOP's digest: lower-case hex MD5 of the timestamp and the password.
pub fn apop_digest(timestamp: &str, password: &str) -> String {
    use md5::{Digest, Md5};
    let mut hasher = Md5::new();
    hasher.update(timestamp.as_bytes());
    hasher.update(password.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The base64 SASL PLAIN response: NUL, user, NUL, password.
fn sasl_plain(user: &str, password: &str) -> String {
    let mut raw = Vec::with_capacity(user.len() + password.len() + 2);
    raw.push(0);
    raw.extend_from_slice(user.as_bytes());
    raw.push(0);
    raw.extend_from_slice(password.as_bytes());
    base64(&raw)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The start of a reply for an error message, printable.
fn snippet(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(trim_line_end(line));
    let short: String = text.chars().take(80).collect();
    let mut shown = format!("{short:?}");
    if text.chars().count() > 80 {
        shown.push_str("...");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted server: what it sends, and what the client wrote.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn client(server_says: &[u8]) -> Pop3Client<Script> {
        let mut input = b"+OK ready <1896.697170952@dbc.mtview.ca.us>\r\n".to_vec();
        input.extend_from_slice(server_says);
        Pop3Client::new(
            Script {
                input: io::Cursor::new(input),
                written: Vec::new(),
            },
            "pop.test:995",
        )
        .unwrap()
    }

    fn written(client: &Pop3Client<Script>) -> String {
        String::from_utf8_lossy(&client.stream.get_ref().written).into_owned()
    }

    #[test]
    fn retr_unstuffs_dots_and_keeps_every_byte_and_line_end() {
        let mut c =
            client(b"+OK 40 octets\r\n..hidden dot\r\nbare lf\n\x00\xff binary\r\n...\r\n.\r\n");
        let content = c.retr(1).unwrap();
        assert_eq!(
            content,
            b".hidden dot\r\nbare lf\n\x00\xff binary\r\n..\r\n"
        );
        assert_eq!(written(&c), "RETR 1\r\n");
    }

    #[test]
    fn top_reads_the_header_dot_unstuffed() {
        let mut c = client(b"+OK\r\nMessage-ID: <a@b>\r\n..X: dot\r\n\r\n.\r\n");
        assert_eq!(
            c.top_header(3).unwrap(),
            b"Message-ID: <a@b>\r\n.X: dot\r\n\r\n"
        );
        assert_eq!(written(&c), "TOP 3 0\r\n");
    }

    #[test]
    fn retr_of_an_empty_message_is_empty() {
        let mut c = client(b"+OK\r\n.\r\n");
        assert_eq!(c.retr(7).unwrap(), b"");
    }

    #[test]
    fn retr_cut_off_by_the_server_is_an_error_not_a_short_message() {
        let mut c = client(b"+OK\r\nSubject: x\r\n\r\nbody");
        let error = c.retr(1).unwrap_err().to_string();
        assert!(error.contains("closed the connection"), "{error}");
    }

    #[test]
    fn retr_cut_off_is_a_transient_failure_that_a_retry_may_cure() {
        let mut c = client(b"+OK\r\nSubject: x\r\n\r\nbody");
        let error = c.retr_unless_gone(1).unwrap_err();
        assert_eq!(StoreError::kind_of(&error), Some(StoreErrorKind::Transient));
    }

    #[test]
    fn retr_of_a_message_deleted_by_another_session_is_gone_not_an_error() {
        let mut c = client(b"-ERR Message 40 expunged.\r\n");
        assert_eq!(
            c.retr_unless_gone(40).unwrap(),
            Retrieved::Gone("Message 40 expunged.".to_string())
        );
        let mut c = client(b"-ERR [SYS/TEMP] try later\r\n");
        let error = c.retr_unless_gone(1).unwrap_err();
        assert!(!StoreError::kind_of(&error).is_some_and(StoreErrorKind::retried));
    }

    #[test]
    fn a_message_gone_and_a_refusal_are_told_apart_by_kind() {
        let mut c = client(b"-ERR Message 40 expunged.\r\n");
        let error = c.retr(40).unwrap_err();
        assert_eq!(StoreError::kind_of(&error), Some(StoreErrorKind::Gone));
        let mut c = client(b"-ERR [SYS/PERM] mailbox locked\r\n");
        let error = c.retr(1).unwrap_err();
        assert_eq!(StoreError::kind_of(&error), Some(StoreErrorKind::Refused));
    }

    #[test]
    fn retr_refused_carries_the_servers_reason() {
        let mut c = client(b"-ERR no such message\r\n");
        let error = c.retr(9).unwrap_err().to_string();
        assert_eq!(error, "pop.test:995 refused RETR: no such message");
    }

    #[test]
    fn greeting_timestamp_enables_apop_with_the_rfc_digest() {
        let c = client(b"");
        assert_eq!(
            c.greeting().apop_timestamp.as_deref(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        // The example of RFC 1939 section 7.
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn a_greeting_that_is_not_pop3_is_refused() {
        for greeting in [
            &b"* OK IMAP4rev1\r\n"[..],
            b"+OKAY\r\n",
            b"",
            b"220 smtp\r\n",
        ] {
            let script = Script {
                input: io::Cursor::new(greeting.to_vec()),
                written: Vec::new(),
            };
            assert!(Pop3Client::new(script, "s:1").is_err(), "{greeting:?}");
        }
    }

    #[test]
    fn status_lines_parse_strictly() {
        assert_eq!(parse_status(b"+OK\r\n"), Some(Status::Ok(String::new())));
        assert_eq!(
            parse_status(b"+OK 2 320\r\n"),
            Some(Status::Ok("2 320".into()))
        );
        assert_eq!(
            parse_status(b"-ERR [IN-USE] locked\n"),
            Some(Status::Err("[IN-USE] locked".into()))
        );
        for bad in [
            &b"OK\r\n"[..],
            b"+OKx\r\n",
            b"-ERROR\r\n",
            b"\r\n",
            b"+ok\r\n",
        ] {
            assert_eq!(parse_status(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resp_codes_become_advice() {
        let in_use = explain_error("[IN-USE] Mailbox locked by another session");
        assert!(
            in_use.contains("in use by another POP3 session"),
            "{in_use}"
        );
        assert!(in_use.contains("Mailbox locked"), "{in_use}");
        let delay = explain_error("[LOGIN-DELAY] wait 15 minutes");
        assert!(delay.contains("LOGIN-DELAY"), "{delay}");
        assert!(delay.contains("try"), "{delay}");
        assert_eq!(explain_error(""), "no reason given");
        assert_eq!(explain_error("plain words"), "plain words");
    }

    #[test]
    fn a_login_refused_as_in_use_says_so() {
        let mut c = client(b"+OK\r\n-ERR [IN-USE] Do you have another POP session running?\r\n");
        let error = c
            .login(Login::UserPass, "alice", &Secret::new("pw"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("login to pop.test:995 as alice failed"),
            "{error}"
        );
        assert!(error.contains("in use by another POP3 session"), "{error}");
        assert!(!error.contains("pw\""), "{error}");
    }

    #[test]
    fn uidl_and_list_listings_parse() {
        let mut c = client(b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n");
        assert_eq!(
            c.uidl().unwrap(),
            Some(vec![
                (1, "whqtswO00WBw418f9t5JxYwZ".to_string()),
                (2, "QhdPYR:00WBw1Ph7x7".to_string())
            ])
        );
        assert_eq!(c.list().unwrap(), vec![(1, 120), (2, 200)]);
        assert_eq!(written(&c), "UIDL\r\nLIST\r\n");
    }

    #[test]
    fn a_server_without_uidl_is_told_apart_from_a_broken_one() {
        let mut c = client(b"-ERR unknown command\r\n");
        assert_eq!(c.uidl().unwrap(), None);
        let mut c = client(b"+OK\r\n1 a\r\n2 a\r\n.\r\n");
        assert!(c.uidl().unwrap_err().to_string().contains("two messages"));
    }

    #[test]
    fn malformed_listing_lines_are_errors() {
        for line in [
            &b"x a"[..],
            b"0 a",
            b"1",
            b"1 a b",
            b"-1 a",
            b"+1 a",
            b"1 \xff",
            b"99999999999 a",
        ] {
            assert!(parse_uidl_line(line).is_err(), "{line:?}");
        }
        let long_id = format!("1 {}", "x".repeat(71));
        assert!(parse_uidl_line(long_id.as_bytes()).is_err());
        for line in [&b"1"[..], b"1 -5", b"a 5", b"1 5x", b""] {
            assert!(parse_list_line(line).is_err(), "{line:?}");
        }
        assert_eq!(parse_list_line(b"3 512 extra").unwrap(), (3, 512));
    }

    #[test]
    fn duplicate_message_numbers_are_refused() {
        let mut c = client(b"+OK\r\n1 10\r\n1 20\r\n.\r\n");
        assert!(c.list().unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn an_endless_status_line_is_refused() {
        let mut endless = b"+OK ".to_vec();
        endless.extend(std::iter::repeat_n(b'x', MAX_STATUS_LINE + 10));
        let mut c = client(&endless);
        let error = c.stat().unwrap_err().to_string();
        assert!(error.contains("longer than"), "{error}");
    }

    #[test]
    fn stat_needs_two_numbers() {
        assert_eq!(client(b"+OK 3 1200\r\n").stat().unwrap(), (3, 1200));
        assert!(client(b"+OK lots\r\n").stat().is_err());
    }

    #[test]
    fn capa_lists_capabilities_and_sasl_mechanisms() {
        let mut c = client(b"+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN LOGIN\r\nstls\r\n.\r\n");
        let capabilities = c.capa().unwrap().unwrap();
        assert!(capabilities.has("UIDL"));
        assert!(capabilities.has("STLS"));
        assert!(capabilities.has_sasl("PLAIN"));
        assert!(!capabilities.has_sasl("CRAM-MD5"));
        assert_eq!(client(b"-ERR what?\r\n").capa().unwrap(), None);
    }

    #[test]
    fn auth_plain_sends_the_base64_response_after_the_continuation() {
        let mut c = client(b"+ \r\n+OK logged in\r\n");
        c.login(Login::Plain, "tim", &Secret::new("tanstaaftanstaaf"))
            .unwrap();
        assert_eq!(
            written(&c),
            "AUTH PLAIN\r\nAHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"
        );
    }

    #[test]
    fn stls_refuses_data_sent_before_the_handshake() {
        let c = client(b"+OK begin TLS\r\n+OK injected\r\n");
        let error = c.start_tls().err().unwrap().to_string();
        assert!(error.contains("before the TLS handshake"), "{error}");
        let c = client(b"+OK begin TLS\r\n");
        assert!(c.start_tls().is_ok());
    }

    #[test]
    fn line_breaks_cannot_be_smuggled_into_commands() {
        let mut c = client(b"");
        let error = c
            .login(Login::UserPass, "alice\r\nDELE 1", &Secret::new("pw"))
            .unwrap_err();
        assert!(error.to_string().contains("line break"), "{error}");
        assert_eq!(written(&c), "");
    }

    #[test]
    fn base64_pads_like_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn login_choice_prefers_plain_over_tls_and_apop_without_it() {
        let sasl = Capabilities {
            lines: vec!["SASL PLAIN".into()],
        };
        let apop = Greeting {
            apop_timestamp: Some("<1@x>".into()),
        };
        let none = Greeting {
            apop_timestamp: None,
        };
        assert_eq!(
            choose_login(TlsMode::Implicit, Some(&sasl), &apop),
            Login::Plain
        );
        assert_eq!(
            choose_login(TlsMode::Implicit, None, &apop),
            Login::UserPass
        );
        assert_eq!(choose_login(TlsMode::None, Some(&sasl), &apop), Login::Apop);
        assert_eq!(
            choose_login(TlsMode::None, Some(&sasl), &none),
            Login::Plain
        );
    }
}
