//! The IMAP store: one authenticated connection to a server, implementing
//! [`Store`] on top of the `imap` crate.
//!
//! The crate quotes some mailbox arguments and not others, and panics on a
//! few odd responses, so folder names are quoted here (see [`protocol`]) and
//! the commands whose parsing could panic are parsed here too.
//!
//! At -vv every command is logged at its call site here (`C: ...`) with the
//! status of its tagged response (`S: ...`); the crate's own `debug` flag is
//! never used, as it would print the password. LOGIN and AUTHENTICATE lines
//! are logged with the secret replaced by `<hidden>`.

mod abilities;
mod append;
pub mod client;
pub mod condstore;
mod folder_list;
mod identity;
pub mod idle;
mod listing;
mod multiappend;
pub mod namespace;
pub mod protocol;
pub mod sasl;
pub mod search;
mod store_flags;
mod transfer;
mod wire;

use crate::config::{AuthMethod, ImapConfig, Secret, TlsMode};
use crate::mail::Flags;
use crate::mail::{FolderStatus, Message, MessageInfo, MsgId};
use crate::store::error::{says_throttled, StoreError, StoreErrorKind};
use crate::store::tls::{self, NetStream};
use crate::store::{
    Changes, FolderInfo, FolderVersions, FoundCopy, IncrementalListing, OpenAhead, Removed,
    Staging, Store, Trashed,
};
use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, FixedOffset};
use imap::types::UnsolicitedResponse;
use imap_proto::Capability;
use protocol::{parse_uid, quote, uid_set};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wire::Wire;

type Session = imap::Session<Wire>;

/// Most messages fetched in one UID FETCH.
const FETCH_BATCH_COUNT: usize = 100;

/// An IMAP account, logged in.
pub struct ImapStore {
    session: Session,
    /// The session's connection, for SELECTs sent ahead.
    wire: Wire,
    /// The SELECTs sent ahead and not yet answered, oldest first (see
    /// [`OpenAhead::open_ahead`]).
    ahead: VecDeque<SentAhead>,
    /// How many commands were sent on the wire outside the crate (ahead,
    /// or an APPEND): their tags are `m1`, `m2`, ...
    sent_ahead: u32,
    /// Kept to connect again after a dropped connection.
    config: ImapConfig,
    secret: Secret,
    host: String,
    user: String,
    capabilities: Vec<String>,
    /// Hierarchy delimiter, once known (from a folder listing, else from
    /// `LIST "" ""` when a name must be sent first); inside, `None` for a
    /// flat server.
    delimiter: Option<Option<char>>,
    /// The personal namespace's prefix (e.g. `INBOX.` on Courier-style
    /// servers), in the server's spelling: added to every folder name but
    /// INBOX, so a folder made locally as `Projects` lands where the
    /// server keeps personal folders. From the config's `namespace:` when
    /// given, else from the server's NAMESPACE answer (see
    /// [`ImapStore::settle_namespace`]); `None` until settled.
    prefix: Option<String>,
    /// The server's NAMESPACE answer, once read.
    namespaces: Option<namespace::Namespaces>,
    /// Folders listed outside the personal namespace (other users',
    /// shared), by canonical name: their server names carry no prefix.
    outside: HashSet<String>,
    open: Option<OpenFolder>,
    warnings: Vec<String>,
    /// QRESYNC is enabled on this connection (see [`condstore`]).
    qresync: bool,
    /// ENABLE was sent (or is not needed): it is put off until the first
    /// SELECT, so a run that opens no folder does without the round trip.
    enabled: bool,
    /// Each folder's version as the last folder listing reported it
    /// (LIST-STATUS), by canonical name: see [`FolderVersions::folder_version`].
    listed_versions: HashMap<String, String>,
    /// Messages staged for a batched upload (see [`multiappend`]).
    uploads: Box<multiappend::Uploads>,
    /// Shared with the other connections to the same store.
    facts: SharedFacts,
}

/// The most SELECTs sent ahead and not yet answered: enough to keep the
/// server busy while the folders before them are carried out here.
const MAX_AHEAD: usize = 4;

/// A SELECT sent ahead of its folder's turn.
#[derive(Debug)]
struct SentAhead {
    name: String,
    known: Option<(u32, u64)>,
    tag: String,
}

/// What one connection learned about the server that the other
/// connections of a run can take without asking it again: the capabilities
/// after login and the hierarchy delimiter. Each worker's connection then
/// needs only its login before its first SELECT.
#[derive(Debug, Default)]
pub struct ServerFacts {
    capabilities: Option<Vec<String>>,
    delimiter: Option<Option<char>>,
    /// The personal prefix and the NAMESPACE answer it came from.
    namespace: Option<(String, Option<namespace::Namespaces>)>,
    /// See [`ImapStore::outside`].
    outside: HashSet<String>,
}

/// [`ServerFacts`] shared by the connections to one store.
pub type SharedFacts = Arc<Mutex<ServerFacts>>;

/// The folder selected for the message operations.
struct OpenFolder {
    /// Canonical name, for messages.
    name: String,
    /// Name as the server spells it.
    server_name: String,
    uidnext: Option<u32>,
    /// The folder's version as SELECT reported it.
    version: Option<String>,
    /// Message count, from SELECT then EXISTS and EXPUNGE responses.
    exists: u32,
    /// RFC822.SIZE by UID from the last listing, to size fetch batches.
    sizes: HashMap<u32, u64>,
    /// The changes a SELECT with QRESYNC parameters reported, with the
    /// HIGHESTMODSEQ they are since (see `open_folder_knowing`).
    changes_at_open: Option<(u64, Changes)>,
    uidvalidity: Option<u32>,
    /// A SELECT sent ahead after this folder's left the server on another
    /// folder: the next operation selects this one again.
    selected_elsewhere: bool,
}

/// Says what went wrong in words a user can act on. Never includes what we
/// sent, so a password cannot leak through it.
fn describe_error(error: &imap::Error) -> String {
    match error {
        imap::Error::Io(e) => tls::describe_io_error(e),
        imap::Error::No(no) => format!("the server said NO: {}", no.information),
        imap::Error::Bad(bad) => format!("the server said BAD: {}", bad.information),
        // The crate reports a response it cannot parse as a BYE without
        // code or text (a real BYE is untagged and ends in a closed
        // connection, reported as ConnectionLost).
        imap::Error::Bye(bye) if is_unparsed(bye) => {
            "the server sent a response that cannot be parsed".to_string()
        }
        imap::Error::Bye(bye) => format!("the server closed the connection: {}", bye.information),
        imap::Error::ConnectionLost => "the server closed the connection".to_string(),
        imap::Error::Parse(imap::error::ParseError::Invalid(bytes)) => format!(
            "the server sent a response that cannot be parsed: {}",
            protocol::snippet(bytes)
        ),
        imap::Error::Append => "the server did not accept the message upload".to_string(),
        other => other.to_string(),
    }
}

/// Whether a BYE is the crate's stand-in for a response it could not parse.
fn is_unparsed(bye: &imap::error::Bye) -> bool {
    bye.code.is_none() && bye.information == "no explanation given"
}

/// Turns a crate error into ours, saying what we were doing. A dropped or
/// timed-out connection and a request to back off become [`Transient`], so
/// the folder can be tried again on a new connection. So does a response
/// that cannot be parsed or carries another command's tag: the crate stops
/// reading in the middle of it, so the rest would be taken for the answer
/// to the next command (another folder's messages in its listing); only a
/// new connection is safe.
fn imap_err(error: imap::Error, doing: impl std::fmt::Display) -> anyhow::Error {
    let message = format!("{doing}: {}", describe_error(&error));
    let throttled = match &error {
        imap::Error::No(no) => says_throttled(&no.information),
        imap::Error::Bye(bye) => says_throttled(&bye.information),
        _ => false,
    };
    let kind = match error {
        _ if throttled => Some(StoreErrorKind::Throttled),
        imap::Error::Io(_) | imap::Error::ConnectionLost | imap::Error::Bye(_) => {
            Some(StoreErrorKind::Transient)
        }
        imap::Error::Parse(_) | imap::Error::Unexpected(_) | imap::Error::TagMismatch(_) => {
            Some(StoreErrorKind::Protocol)
        }
        _ => None,
    };
    match kind {
        Some(kind) => StoreError::new(kind, message).into(),
        None => anyhow!(message),
    }
}

/// Runs one command at a logged call site: at -vv, the command as `shown`
/// (never with a secret in it) and the status of its tagged response.
fn logged<R>(shown: &str, run: impl FnOnce() -> imap::Result<R>) -> imap::Result<R> {
    log::debug!("C: {shown}");
    let result = run();
    log::debug!("S: {}", response_status(&result));
    result
}

/// `answer` (to the command sent on the wire under `tag`) when its tagged
/// status is OK; otherwise the error, told as `imap_err` tells the imap
/// crate's: NO and BAD are the server's refusal, final unless it says it is
/// throttling; anything else is a conversation gone wrong, tried again on
/// a new connection.
fn answered_ok(answer: Vec<u8>, tag: &str, doing: &str) -> Result<Vec<u8>> {
    let status = protocol::tagged_status(&answer, tag);
    log::debug!("S: {status}");
    let (word, text) = status.split_once(' ').unwrap_or((status.as_str(), ""));
    let word = word.to_ascii_uppercase();
    if word == "OK" {
        return Ok(answer);
    }
    let refused = word == "NO" || word == "BAD";
    let message = if refused {
        format!("{doing}: the server said {word}: {text}")
    } else {
        format!("{doing}: the server sent a response that cannot be parsed: {status:?}")
    };
    let kind = if refused && says_throttled(text) {
        StoreErrorKind::Throttled
    } else if refused {
        StoreErrorKind::Refused
    } else {
        StoreErrorKind::Protocol
    };
    Err(StoreError::new(kind, message).into())
}

/// `SELECT name`, with QRESYNC parameters when `known` is given.
fn select_command(server_name: &str, known: Option<(u32, u64)>) -> Result<String> {
    Ok(match known {
        Some((uidvalidity, since)) => format!(
            "SELECT {} (QRESYNC ({uidvalidity} {since}))",
            quote(server_name)?
        ),
        None => format!("SELECT {}", quote(server_name)?),
    })
}

/// `OK`, `NO <text>`, ... of a finished command, for the log.
fn response_status<R>(result: &imap::Result<R>) -> String {
    match result {
        Ok(_) => "OK".to_string(),
        Err(error) => error_status(error),
    }
}

fn error_status(error: &imap::Error) -> String {
    match error {
        imap::Error::No(no) => format!("NO {}", no.information),
        imap::Error::Bad(bad) => format!("BAD {}", bad.information),
        imap::Error::Bye(bye) => format!("BYE {}", bye.information),
        other => format!("(no response: {})", describe_error(other)),
    }
}

/// What the config says to check of the server's certificate.
fn tls_policy(config: &ImapConfig) -> tls::TlsPolicy<'_> {
    tls::TlsPolicy {
        ca_file: &config.ca_file,
        fingerprint: config.tls_fingerprint.as_ref(),
        min_version: config.tls_min_version,
    }
}

fn capability_name(capability: &Capability<'_>) -> String {
    match capability {
        Capability::Imap4rev1 => "IMAP4REV1".to_string(),
        Capability::Auth(mechanism) => format!("AUTH={}", mechanism.to_ascii_uppercase()),
        Capability::Atom(atom) => atom.to_ascii_uppercase(),
    }
}

/// Reads the server greeting; a BYE greeting is a refusal.
/// Reads and checks the greeting; true when it is PREAUTH (the server
/// logged us in by itself).
fn read_greeting(client: &mut imap::Client<Wire>, server: &str) -> Result<bool> {
    let greeting = client
        .read_greeting()
        .map_err(|e| imap_err(e, format!("no greeting from {server}")))?;
    check_greeting(&greeting, server)?;
    Ok(greeting
        .get(..10)
        .is_some_and(|start| start.eq_ignore_ascii_case(b"* PREAUTH ")))
}

/// Plain connection upgraded with STARTTLS; refuses to go on in clear.
///
/// The imap crate offers no way to send STARTTLS on an unauthenticated
/// client, so this short exchange is done by hand, line by line.
fn starttls(tcp: std::net::TcpStream, config: &ImapConfig, server: &str) -> Result<NetStream> {
    let mut reader = std::io::BufReader::new(&tcp);
    let greeting = read_line(&mut reader, server)?;
    check_greeting(&greeting, server)?;
    let capability_lines = plain_command(&tcp, &mut reader, server, "S1", "CAPABILITY")?;
    let offers_starttls = capability_lines.iter().any(|line| {
        let text = String::from_utf8_lossy(line).to_ascii_uppercase();
        text.starts_with("* CAPABILITY ") && text.split_ascii_whitespace().any(|w| w == "STARTTLS")
    });
    if !offers_starttls {
        bail!(
            "server {server} does not offer STARTTLS; refusing to send the password in clear \
             (set tls: none to allow it)"
        );
    }
    plain_command(&tcp, &mut reader, server, "S2", "STARTTLS")?;
    // Whatever the server sent after its OK stays in the dropped buffer:
    // bytes that arrived in clear must not be read as if they came over TLS.
    drop(reader);
    // There is no second greeting after STARTTLS.
    tls::secure(&tls_policy(config), &config.host, config.port, tcp)
}

/// Reads one line (with its CRLF) from the not yet encrypted connection.
fn read_line(reader: &mut impl std::io::BufRead, server: &str) -> Result<Vec<u8>> {
    let mut line = Vec::new();
    match reader.read_until(b'\n', &mut line) {
        Ok(0) => bail!("{server} closed the connection"),
        Ok(_) => Ok(line),
        Err(e) => bail!(
            "reading from {server} failed: {}",
            tls::describe_io_error(&e)
        ),
    }
}

/// Sends a command before TLS and returns its untagged lines; anything but
/// a tagged OK is an error.
fn plain_command(
    mut tcp: &std::net::TcpStream,
    reader: &mut impl std::io::BufRead,
    server: &str,
    tag: &str,
    command: &str,
) -> Result<Vec<Vec<u8>>> {
    use std::io::Write;
    log::debug!("C: {tag} {command}");
    tcp.write_all(format!("{tag} {command}\r\n").as_bytes())
        .map_err(|e| anyhow!("writing to {server} failed: {}", tls::describe_io_error(&e)))?;
    let mut untagged = Vec::new();
    loop {
        let line = read_line(reader, server)?;
        if let Some(rest) = line.strip_prefix(format!("{tag} ").as_bytes()) {
            let status = String::from_utf8_lossy(rest);
            log::debug!("S: {}", status.trim_end());
            if status.len() >= 2 && status[..2].eq_ignore_ascii_case("OK") {
                return Ok(untagged);
            }
            bail!("{command} on {server} failed: {}", status.trim_end());
        }
        untagged.push(line);
    }
}

/// Checks a greeting; a BYE greeting is a refusal.
fn check_greeting(greeting: &[u8], server: &str) -> Result<()> {
    if !greeting.ends_with(b"\n") {
        // Cut off mid-line: the network, not the server's manners.
        return Err(StoreError::transient(
            format!("{server} closed the connection during its greeting"),
            false,
        )
        .into());
    }
    match imap_proto::parser::parse_response(greeting) {
        Ok((
            _,
            imap_proto::Response::Data {
                status: imap_proto::Status::Ok | imap_proto::Status::PreAuth,
                ..
            },
        )) => Ok(()),
        Ok((
            _,
            imap_proto::Response::Data {
                status: imap_proto::Status::Bye,
                information,
                ..
            },
        )) => bail!(
            "{server} refused the connection: {}",
            information.as_deref().unwrap_or("no reason given")
        ),
        _ => bail!(
            "{server} does not greet like an IMAP server: {}",
            protocol::snippet(greeting)
        ),
    }
}

/// Connects, secures and logs in; the wire is the session's connection,
/// for commands sent ahead (see [`wire`]).
fn open_session(config: &ImapConfig, secret: &Secret) -> Result<(Session, Wire)> {
    if let Some(command) = &config.tunnel {
        return open_tunnel(config, command, secret);
    }
    let server = format!("{}:{}", config.host, config.port);
    let timeout = Duration::from_secs(config.timeout_secs.max(1));
    log::info!("connecting to {server} as {}", config.user);
    let tcp = tls::connect_tcp(&config.host, config.port, timeout).map_err(|e| {
        // Refused or unreachable: worth trying again on a reconnect.
        anyhow::Error::from(StoreError::transient(format!("{e:#}"), false))
    })?;
    let (stream, greeted) = match config.tls {
        TlsMode::Implicit => (
            tls::secure(&tls_policy(config), &config.host, config.port, tcp)?,
            false,
        ),
        TlsMode::Starttls => (starttls(tcp, config, &server)?, true),
        TlsMode::None => (NetStream::Plain(tcp), false),
    };
    let wire = Wire::new(stream);
    let mut client = imap::Client::new(wire.clone());
    if !greeted {
        read_greeting(&mut client, &server)?;
    }
    Ok((authenticate(client, config, secret)?, wire))
}

/// Starts the `tunnel:` command and talks IMAP over it: no TLS (the
/// command's own transport, ssh say, protects it), and no login when the
/// server greets with PREAUTH.
fn open_tunnel(config: &ImapConfig, command: &str, secret: &Secret) -> Result<(Session, Wire)> {
    let server = format!("tunnel `{command}`");
    log::info!("connecting through {server}");
    let timeout = Duration::from_secs(config.timeout_secs.max(1));
    let tunnel = tls::Tunnel::spawn(command, timeout)?;
    let wire = Wire::new(NetStream::Tunnel(Box::new(tunnel)));
    let mut client = imap::Client::new(wire.clone());
    if !read_greeting(&mut client, &server)? {
        return Ok((authenticate(client, config, secret)?, wire));
    }
    log::debug!("S: PREAUTH: no login needed");
    wire.login_as_noop()?;
    let session = client
        .login("preauth", "")
        .map_err(|(error, _)| imap_err(error, format!("NOOP after PREAUTH on {server} failed")))?;
    Ok((session, wire))
}

/// Logs in as the config says, with the secret never in a log line or an
/// error message.
fn authenticate(
    mut client: imap::Client<Wire>,
    config: &ImapConfig,
    secret: &Secret,
) -> Result<Session> {
    let user = &config.user;
    let mut oauth2: Option<sasl::OAuth2> = None;
    let login_result = match config.auth {
        AuthMethod::Login => {
            log::debug!("C: LOGIN {} <hidden>", quote(user).unwrap_or_default());
            client.login(user, secret.expose())
        }
        AuthMethod::Plain => {
            log::debug!("C: AUTHENTICATE PLAIN");
            client.authenticate("PLAIN", &sasl::Plain { user, secret })
        }
        AuthMethod::Xoauth2 | AuthMethod::Oauthbearer => {
            let capabilities = logged("CAPABILITY", || client.capabilities())
                .map_err(|e| imap_err(e, format!("CAPABILITY on {} failed", config.host)))?;
            let sasl_ir = capabilities.has_str("SASL-IR");
            let auth = sasl::OAuth2::new(config, secret, sasl_ir);
            let command = auth.command();
            log::debug!("C: {}", auth.command_for_log());
            let result = client.authenticate(command, &auth);
            oauth2 = Some(auth);
            result
        }
    };
    match &login_result {
        Ok(_) => log::debug!("S: OK"),
        Err((error, _)) => log::debug!("S: {}", error_status(error)),
    }
    login_result.map_err(|(error, _client)| match error {
        imap::Error::No(no) => {
            let server_said = oauth2
                .as_ref()
                .and_then(sasl::OAuth2::server_error)
                .map(|json| format!(" (the server's OAuth2 error: {json})"))
                .unwrap_or_default();
            anyhow!(
                "login refused by {} for user {}: {}{server_said}",
                config.host,
                config.user,
                no.information
            )
        }
        other => imap_err(
            other,
            format!("login to {} as {} failed", config.host, config.user),
        ),
    })
}

impl ImapStore {
    /// Connects, secures, logs in, reads capabilities. `password` (or the
    /// OAuth2 token) comes already resolved.
    pub fn connect(config: &ImapConfig, password: &Secret) -> Result<ImapStore> {
        ImapStore::connect_sharing(config, password, SharedFacts::default())
    }

    /// [`ImapStore::connect`], taking what another connection to the same
    /// store already learned (and sharing what this one learns).
    pub fn connect_sharing(
        config: &ImapConfig,
        password: &Secret,
        facts: SharedFacts,
    ) -> Result<ImapStore> {
        let (session, wire) = open_session(config, password)?;
        let mut store = ImapStore {
            session,
            wire,
            ahead: VecDeque::new(),
            sent_ahead: 0,
            config: config.clone(),
            secret: password.clone(),
            host: config.host.clone(),
            user: config.user.clone(),
            capabilities: Vec::new(),
            delimiter: None,
            prefix: config.namespace.clone(),
            namespaces: None,
            outside: HashSet::new(),
            open: None,
            warnings: Vec::new(),
            qresync: false,
            enabled: false,
            listed_versions: HashMap::new(),
            uploads: Box::default(),
            facts,
        };
        store.read_capabilities()?;
        Ok(store)
    }

    /// Capabilities as read after login, upper-case.
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    /// Whether the server advertised `name` (any case) after login.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Says goodbye to the server.
    pub fn logout(mut self) -> Result<()> {
        let server = self.host.clone();
        logged("LOGOUT", || self.session.logout())
            .map_err(|e| imap_err(e, format!("LOGOUT from {server} failed")))
    }

    /// Servers change their capabilities after login, so they are read again
    /// (unless another connection to the store already did).
    fn read_capabilities(&mut self) -> Result<()> {
        if let Some(known) = self.shared_facts(|facts| facts.capabilities.clone()) {
            self.capabilities = known;
            return Ok(());
        }
        let capabilities = logged("CAPABILITY", || self.session.capabilities())
            .map_err(|e| imap_err(e, format!("CAPABILITY on {} failed", self.host)))?;
        let mut names: Vec<String> = capabilities.iter().map(capability_name).collect();
        names.sort();
        self.capabilities = names.clone();
        self.share_facts(|facts| facts.capabilities = Some(names));
        self.drain_unsolicited();
        Ok(())
    }

    fn shared_facts<T>(&self, read: impl FnOnce(&ServerFacts) -> Option<T>) -> Option<T> {
        self.facts.lock().ok().and_then(|facts| read(&facts))
    }

    fn share_facts(&self, write: impl FnOnce(&mut ServerFacts)) {
        if let Ok(mut facts) = self.facts.lock() {
            write(&mut facts);
        }
    }

    /// Leaves the selected folder when it is `server_name` or below it:
    /// servers refuse to delete or rename an open folder (Courier: "Can't
    /// RENAME the currently-open folder"). Nothing is expunged: UNSELECT
    /// where offered, else the folder is opened read-only and closed, and
    /// CLOSE removes nothing from a read-only folder (RFC 3501 6.4.2).
    fn leave_if_open_within(&mut self, server_name: &str) -> Result<()> {
        let delimiter = self.delimiter.flatten();
        let Some(open) = self.open.as_ref().map(|open| open.server_name.clone()) else {
            return Ok(());
        };
        let below = |d: char| {
            open.strip_prefix(server_name)
                .is_some_and(|rest| rest.starts_with(d))
        };
        if open != server_name && !delimiter.is_some_and(below) {
            return Ok(());
        }
        self.open = None;
        let commands = if self.has_capability("UNSELECT") {
            vec!["UNSELECT".to_string()]
        } else {
            vec![format!("EXAMINE {}", quote(&open)?), "CLOSE".to_string()]
        };
        for command in commands {
            self.session
                .run_command_and_check_ok(&command)
                .map_err(|e| imap_err(e, format!("cannot leave folder {open:?}")))?;
        }
        self.drain_unsolicited();
        Ok(())
    }

    /// Notes the hierarchy delimiter, for this connection and the others.
    fn learn_delimiter(&mut self, delimiter: Option<char>) {
        self.delimiter = Some(delimiter);
        self.share_facts(|facts| facts.delimiter = Some(delimiter));
    }

    /// SELECT, with QRESYNC parameters when `known` (UIDVALIDITY and
    /// HIGHESTMODSEQ of the last sync) is given and QRESYNC is on.
    fn select(&mut self, name: &str, known: Option<(u32, u64)>) -> Result<FolderStatus> {
        let server_name = self.server_name(name)?;
        self.enable_qresync()?;
        let answered = self.answer_sent_ahead(name, known)?;
        self.open = None;
        self.drop_uploads();
        let lines = match answered {
            Some(lines) => lines,
            None => {
                let command = select_command(&server_name, known)?;
                logged(&command, || self.session.run(&command))
                    .map_err(|e| match e {
                        imap::Error::No(no) => anyhow!(
                            "cannot open folder {name:?} on {}: {}",
                            self.host,
                            no.information
                        ),
                        other => imap_err(other, format!("cannot open folder {name:?}")),
                    })?
                    .0
            }
        };
        let data = protocol::parse_select(&lines)
            .with_context(|| format!("opening folder {name:?} on {}", self.host))?;
        if data.uidvalidity == Some(0) {
            // RFC 3501 makes it a nonzero number; 0 says the server keeps no
            // UIDs from one session to the next, so none can be recorded.
            bail!(
                "cannot sync folder {name:?} on {}: the server reports UIDVALIDITY 0, which \
                 IMAP does not allow, so its UIDs cannot be trusted from one run to the next",
                self.host
            );
        }
        // The changes come only if the server took the UIDVALIDITY given
        // as the folder's: else it reports none, which must not be taken
        // for "nothing changed".
        let changes_at_open = match known {
            Some((uidvalidity, since)) if data.uidvalidity == Some(uidvalidity) => {
                let mut changes = condstore::parse_changes(&lines, false)
                    .with_context(|| format!("opening folder {name:?} on {}", self.host))?;
                changes.vanished_known = true;
                Some((since, changes))
            }
            _ => None,
        };
        let version = protocol::folder_version(
            data.uidvalidity,
            data.uidnext,
            Some(data.exists),
            data.highest_modseq,
        );
        self.open = Some(OpenFolder {
            name: name.to_string(),
            server_name,
            uidnext: data.uidnext,
            version,
            exists: data.exists,
            sizes: HashMap::new(),
            changes_at_open,
            uidvalidity: data.uidvalidity,
            // SELECTs sent ahead after this one are still to be answered.
            selected_elsewhere: !self.ahead.is_empty(),
        });
        Ok(FolderStatus {
            uidvalidity: data.uidvalidity,
            uidnext: data.uidnext,
            highest_modseq: data.highest_modseq,
            exists: data.exists,
        })
    }

    /// The answer to a SELECT sent ahead for this folder with these
    /// parameters; the answers to those sent before it are dropped. `None`
    /// when there is none (all were dropped: the caller selects).
    fn answer_sent_ahead(
        &mut self,
        name: &str,
        known: Option<(u32, u64)>,
    ) -> Result<Option<Vec<u8>>> {
        let Some(position) = self
            .ahead
            .iter()
            .position(|ahead| ahead.name == name && ahead.known == known)
        else {
            self.ahead.clear();
            return Ok(None);
        };
        let Some(ahead) = self.ahead.drain(..=position).next_back() else {
            return Ok(None);
        };
        let answer = self
            .wire
            .take_answer(&ahead.tag)
            .map_err(|e| imap_err(imap::Error::Io(e), format!("cannot open folder {name:?}")))?;
        let Some(answer) = answer else {
            return Ok(None);
        };
        let doing = format!("cannot open folder {name:?} on {}", self.host);
        answered_ok(answer, &ahead.tag, &doing).map(Some)
    }

    /// Sends `command` on the wire without waiting for its answer, behind
    /// any sent before (see [`wire`]); returns its tag, for
    /// [`ImapStore::wire_fetch_answer`].
    fn wire_send(&mut self, command: &str, doing: &str) -> Result<String> {
        let tag = self.next_wire_tag();
        log::debug!("C: {tag} {command} (sent ahead)");
        self.wire
            .send_ahead(&tag, command)
            .map_err(|e| imap_err(imap::Error::Io(e), doing))?;
        Ok(tag)
    }

    /// A tag for a command sent on the wire outside the imap crate.
    fn next_wire_tag(&mut self) -> String {
        self.sent_ahead += 1;
        format!("m{}", self.sent_ahead)
    }

    /// The whole answer to the command sent under `tag` by
    /// [`ImapStore::wire_send`], when the server said OK; otherwise the
    /// error, told as for the imap crate's commands.
    fn wire_answer(&mut self, tag: &str, doing: &str) -> Result<Vec<u8>> {
        let answer = self.wire_answer_any(tag, doing)?;
        answered_ok(answer, tag, doing)
    }

    /// The whole answer to the FETCH sent under `tag` by
    /// [`ImapStore::wire_send`], when the server said OK, or `NO
    /// [EXPUNGEISSUED]` (RFC 5530): another client expunged some of the
    /// messages asked for, whose content then comes as NIL or not at all,
    /// while the others come as usual. Otherwise the error, told as for the
    /// imap crate's commands.
    fn wire_fetch_answer(&mut self, tag: &str, doing: &str) -> Result<Vec<u8>> {
        let answer = self.wire_answer_any(tag, doing)?;
        let status = protocol::tagged_status(&answer, tag);
        let upper = status.to_ascii_uppercase();
        if upper.starts_with("NO ") && upper.contains("[EXPUNGEISSUED]") {
            log::debug!("S: {status}");
            return Ok(answer);
        }
        answered_ok(answer, tag, doing)
    }

    fn wire_answer_any(&mut self, tag: &str, doing: &str) -> Result<Vec<u8>> {
        self.wire
            .take_answer(tag)
            .map_err(|e| imap_err(imap::Error::Io(e), doing))?
            .ok_or_else(|| imap_err(imap::Error::ConnectionLost, doing))
    }

    /// The hierarchy delimiter; asks `LIST "" ""` when no folder listing
    /// told it yet.
    fn delimiter(&mut self) -> Result<Option<char>> {
        if let Some(known) = self.delimiter {
            return Ok(known);
        }
        if let Some(known) = self.shared_facts(|facts| facts.delimiter) {
            self.delimiter = Some(known);
            return Ok(known);
        }
        let names = logged(r#"LIST "" """#, || {
            self.session.list(Some(""), Some("\"\""))
        })
        .map_err(|e| imap_err(e, format!("LIST on {} failed", self.host)))?;
        let delimiter = names
            .iter()
            .find_map(|name| name.delimiter())
            .and_then(|d| protocol::unescape_quoted(d).chars().next());
        drop(names);
        self.learn_delimiter(delimiter);
        self.drain_unsolicited();
        Ok(delimiter)
    }

    /// The canonical name of a folder the server lists, without the
    /// personal prefix, and whether the folder lies outside the personal
    /// namespace (not below the prefix, or below another namespace's).
    fn canonical_name(&self, raw: &str, delimiter: Option<char>) -> Result<(String, bool)> {
        if raw.eq_ignore_ascii_case("INBOX") {
            return Ok(("INBOX".to_string(), false));
        }
        if self.under_other_namespace(raw) {
            return Ok((protocol::from_server_name(raw, delimiter)?, true));
        }
        let prefix = self.prefix.as_deref().unwrap_or("");
        let (unprefixed, outside) = match raw.strip_prefix(prefix) {
            Some(rest) if !rest.is_empty() => (rest, false),
            _ => (raw, true),
        };
        Ok((protocol::from_server_name(unprefixed, delimiter)?, outside))
    }

    /// Whether a server name starts with the (non-empty) prefix of an
    /// other users' or shared namespace, which is not the personal one.
    fn under_other_namespace(&self, server_name: &str) -> bool {
        let Some(namespaces) = &self.namespaces else {
            return false;
        };
        let personal = self.prefix.as_deref().unwrap_or("");
        namespaces
            .other_users
            .iter()
            .chain(&namespaces.shared)
            .any(|ns| {
                !ns.prefix.is_empty()
                    && !personal.starts_with(ns.prefix.as_str())
                    && server_name.starts_with(ns.prefix.as_str())
            })
    }

    /// Whether a canonical name (spelled `unprefixed` on the server) names
    /// a folder outside the personal namespace, which takes no prefix.
    fn is_outside(&self, canonical: &str, unprefixed: &str) -> bool {
        self.outside.contains(canonical) || self.under_other_namespace(unprefixed)
    }

    /// Settles the personal prefix: the config's `namespace:` when given,
    /// else what another connection learned, else the server's NAMESPACE
    /// answer (asked once per connection at most, and only when no folder
    /// listing asked it first), else none.
    fn settle_namespace(&mut self) -> Result<()> {
        if self.prefix.is_some() {
            return Ok(());
        }
        if let Some((prefix, namespaces)) = self.shared_facts(|facts| facts.namespace.clone()) {
            self.prefix = Some(prefix);
            self.namespaces = namespaces;
            self.outside = self
                .shared_facts(|facts| Some(facts.outside.clone()))
                .unwrap_or_default();
            return Ok(());
        }
        if !self.has_capability("NAMESPACE") {
            self.learn_namespace(None);
            return Ok(());
        }
        let tag = self.wire_send("NAMESPACE", "asking for the namespaces")?;
        let answer = self.namespace_answer(&tag)?;
        self.learn_namespace(answer);
        Ok(())
    }

    /// Whether a folder listing should ask NAMESPACE along with its LIST.
    fn namespace_unsettled(&self) -> bool {
        self.prefix.is_none()
            && self.shared_facts(|facts| facts.namespace.clone()).is_none()
            && self.has_capability("NAMESPACE")
    }

    /// The NAMESPACE answer sent under `tag`. A server that refuses it (or
    /// answers what cannot be read) is taken to have no namespace, with a
    /// warning; a broken connection is an error.
    fn namespace_answer(&mut self, tag: &str) -> Result<Option<namespace::Namespaces>> {
        let doing = format!("asking {} for its namespaces", self.host);
        let answer = match self.wire_answer(tag, &doing) {
            Ok(answer) => answer,
            Err(e) if StoreError::kind_of(&e).is_some_and(StoreErrorKind::connection_unusable) => {
                return Err(e)
            }
            Err(e) => {
                self.warnings
                    .push(format!("{e:#}; folder names are taken without a prefix"));
                return Ok(None);
            }
        };
        match namespace::parse_namespace_answer(&answer) {
            Ok(found) => Ok(found),
            Err(e) => {
                self.warnings.push(format!(
                    "{}: {e:#}; folder names are taken without a prefix",
                    self.host
                ));
                Ok(None)
            }
        }
    }

    /// Takes the personal prefix from a NAMESPACE answer (or none without
    /// one), for this connection and the others; its delimiter too, when
    /// no listing told it yet.
    fn learn_namespace(&mut self, namespaces: Option<namespace::Namespaces>) {
        let personal = namespaces
            .as_ref()
            .and_then(namespace::Namespaces::main_personal)
            .cloned();
        let prefix = personal
            .as_ref()
            .map(|ns| ns.prefix.clone())
            .unwrap_or_default();
        if let Some(personal) = &personal {
            log::info!(
                "{}: personal namespace {:?} with delimiter {:?}",
                self.host,
                personal.prefix,
                personal.delimiter
            );
            if self.delimiter.is_none() && self.shared_facts(|f| f.delimiter).is_none() {
                self.learn_delimiter(personal.delimiter);
            }
        }
        self.prefix = Some(prefix.clone());
        self.namespaces = namespaces.clone();
        self.share_facts(|facts| facts.namespace = Some((prefix, namespaces)));
    }

    /// The namespace in use, in words, for `check` and `list`.
    pub fn describe_namespace(&mut self) -> Result<String> {
        self.settle_namespace()?;
        let prefix = self.prefix.clone().unwrap_or_default();
        let delimiter = self.delimiter()?;
        let delimiter = match delimiter {
            Some(d) => format!("{:?}", d.to_string()),
            None => "none".to_string(),
        };
        let prefix_words = if prefix.is_empty() {
            "no prefix".to_string()
        } else {
            format!("prefix {prefix:?}")
        };
        let source = if self.config.namespace.is_some() {
            "from the config's namespace:".to_string()
        } else {
            match &self.namespaces {
                Some(namespaces) => format!("NAMESPACE {}", namespaces.describe()),
                None => "the server has no NAMESPACE".to_string(),
            }
        };
        Ok(format!(
            "personal folders at {prefix_words}, delimiter {delimiter} ({source})"
        ))
    }

    /// Unsolicited responses (flag changes by others and the like) are not
    /// needed, as every listing asks the server afresh; only the message
    /// count is kept. Says whether any of them told of a change in the
    /// open folder, which `watch` must not miss (see `idle_wait`).
    fn drain_unsolicited(&mut self) -> bool {
        let mut changed = false;
        for response in self.session.take_all_unsolicited() {
            let Some(open) = self.open.as_mut() else {
                continue;
            };
            match response {
                UnsolicitedResponse::Exists(count) => {
                    changed |= count != open.exists;
                    open.exists = count;
                }
                UnsolicitedResponse::Expunge(_) => {
                    changed = true;
                    open.exists = open.exists.saturating_sub(1);
                }
                UnsolicitedResponse::Fetch { .. }
                | UnsolicitedResponse::Vanished { .. }
                | UnsolicitedResponse::Recent(_) => changed = true,
                _ => {}
            }
        }
        changed
    }

    /// The crate keeps the EXPUNGE responses of our own expunge for itself.
    fn note_expunged(&mut self, deleted: &imap::types::Deleted) {
        let count = deleted.seqs().count() + deleted.uids().count();
        if let Some(open) = self.open.as_mut() {
            open.exists = open.exists.saturating_sub(count as u32);
        }
    }

    fn server_name(&mut self, canonical: &str) -> Result<String> {
        self.settle_namespace()?;
        let delimiter = self.delimiter()?;
        self.server_name_with(canonical, delimiter)
    }

    fn server_name_with(&self, canonical: &str, delimiter: Option<char>) -> Result<String> {
        let name = protocol::to_server_name(canonical, delimiter)?;
        if name == "INBOX" || self.is_outside(canonical, &name) {
            return Ok(name);
        }
        Ok(format!("{}{name}", self.prefix.as_deref().unwrap_or("")))
    }

    /// The open folder, selected on the server for the operation to come.
    fn open_folder_state(&mut self) -> Result<&mut OpenFolder> {
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.selected_elsewhere)
        {
            self.reselect()?;
        }
        self.open
            .as_mut()
            .ok_or_else(|| anyhow!("no folder is open on {}", self.host))
    }

    /// Selects the open folder again, after SELECTs sent ahead of later
    /// folders left the server on another one. Their answers are dropped
    /// (the SELECT overtakes them; those folders are selected afresh when
    /// opened). A folder renumbered meanwhile is not this folder any more.
    fn reselect(&mut self) -> Result<()> {
        let Some(open) = self.open.as_ref() else {
            return Ok(());
        };
        let (name, expected) = (open.name.clone(), open.uidvalidity);
        let command = select_command(&open.server_name, None)?;
        self.ahead.clear();
        let (lines, _) = logged(&command, || self.session.run(&command))
            .map_err(|e| imap_err(e, format!("cannot open folder {name:?} again")))?;
        let data = protocol::parse_select(&lines)
            .with_context(|| format!("opening folder {name:?} on {} again", self.host))?;
        if data.uidvalidity != expected {
            self.open = None;
            bail!(
                "folder {name:?} on {} was renumbered (its UIDVALIDITY changed) during the \
                 sync; the next sync pairs its messages again",
                self.host
            );
        }
        if let Some(open) = self.open.as_mut() {
            open.selected_elsewhere = false;
            open.exists = data.exists;
        }
        Ok(())
    }

    fn open_name(&self) -> String {
        self.open
            .as_ref()
            .map(|f| f.name.clone())
            .unwrap_or_default()
    }

    /// Runs a UID FETCH and returns `(uid, size, body)` for
    /// every message in `uids`. Unsolicited FETCH responses (flag changes
    /// of other messages) are filtered out.
    fn uid_fetch(&mut self, uids: &[u32], items: &str) -> Result<Vec<FetchedMessage>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        let folder = self.open_name();
        let fetches = logged(&format!("UID FETCH {set} {items}"), || {
            self.session.uid_fetch(&set, items)
        })
        .map_err(|e| imap_err(e, format!("fetching from folder {folder:?} failed")))?;
        // Only what was asked for, once: a server that answers a UID twice
        // (or with UIDs never asked for) must not make a message be stored
        // twice. The first answer counts.
        let mut wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
        let mut result = Vec::with_capacity(fetches.len());
        for fetch in fetches.iter() {
            let Some(uid) = fetch.uid.filter(|uid| wanted.remove(uid)) else {
                continue;
            };
            result.push(FetchedMessage {
                uid,
                size: fetch.size.map(u64::from),
                body: fetch.body().map(<[u8]>::to_vec),
            });
        }
        drop(fetches);
        self.drain_unsolicited();
        Ok(result)
    }

    /// UIDs of messages matching a UID SEARCH.
    fn uid_search(&mut self, query: &str) -> Result<Vec<u32>> {
        let folder = self.open_name();
        let found = logged(&format!("UID SEARCH {query}"), || {
            self.session.uid_search(query)
        })
        .map_err(|e| imap_err(e, format!("searching folder {folder:?} failed")))?;
        self.drain_unsolicited();
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// UIDs of the open folder from `first` on, those with this
    /// Message-ID only when one is given.
    fn uids_since(&mut self, first: u32, message_id: Option<&str>) -> Result<Vec<u32>> {
        let query = match message_id {
            Some(id) => format!("UID {first}:* HEADER Message-ID \"{id}\""),
            None => format!("UID {first}:*"),
        };
        // "n:*" also matches the highest UID when it is below n.
        Ok(self
            .uid_search(&query)?
            .into_iter()
            .filter(|&uid| uid >= first)
            .collect())
    }

    /// Those of `uids` whose size is `size`, each with whether its content
    /// has this SHA-256 (hex).
    fn same_size_with_hash(
        &mut self,
        uids: &[u32],
        size: u64,
        sha256: &str,
    ) -> Result<Vec<(u32, bool)>> {
        let same_size: Vec<u32> = self
            .uid_fetch(uids, "(UID RFC822.SIZE)")?
            .into_iter()
            .filter(|m| m.size == Some(size))
            .map(|m| m.uid)
            .collect();
        let mut found = Vec::new();
        for batch in same_size.chunks(FETCH_BATCH_COUNT) {
            for message in self.uid_fetch(batch, "(UID BODY.PEEK[])")? {
                let identical = message
                    .body
                    .as_deref()
                    .is_some_and(|body| crate::mail::sha256_hex(body).eq_ignore_ascii_case(sha256));
                found.push((message.uid, identical));
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Later tickets can start after messages found stored, so a search
    /// for the next upload does not read these again.
    fn note_stored(&mut self, uids: &[u32]) {
        if let (Some(&last), Some(open)) = (uids.iter().max(), self.open.as_mut()) {
            open.uidnext = Some(open.uidnext.unwrap_or(0).max(last.saturating_add(1)));
        }
    }

    fn uid_store(&mut self, set: &str, change: &str) -> Result<()> {
        let folder = self.open_name();
        logged(&format!("UID STORE {set} {change}"), || {
            self.session.uid_store(set, change)
        })
        .map_err(|e| imap_err(e, format!("changing flags in folder {folder:?} failed")))?;
        self.drain_unsolicited();
        Ok(())
    }
}

/// One message as a UID FETCH returned it.
struct FetchedMessage {
    uid: u32,
    size: Option<u64>,
    body: Option<Vec<u8>>,
}

/// The UID an append ticket names (the folder's UIDNEXT before it).
fn ticket_uid(ticket: &str) -> Result<u32> {
    parse_uid(ticket).with_context(|| format!("append ticket {ticket:?} is not a UID"))
}

fn flag_list(flags: Flags) -> String {
    format!("({})", flags.imap_names().join(" "))
}

fn internal_date(seconds: i64) -> Option<DateTime<FixedOffset>> {
    let utc = FixedOffset::east_opt(0)?;
    DateTime::from_timestamp(seconds, 0).map(|d| d.with_timezone(&utc))
}

impl Store for ImapStore {
    fn describe(&self) -> String {
        match &self.config.tunnel {
            Some(command) => format!("imap via tunnel `{command}`"),
            None => format!("imap://{}@{}", self.user, self.host),
        }
    }

    fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        self.list_all_folders()
    }

    fn create_folder(&mut self, name: &str) -> Result<()> {
        let server_name = self.server_name(name)?;
        let command = format!("CREATE {}", quote(&server_name)?);
        match logged(&command, || self.session.run_command_and_check_ok(&command)) {
            Ok(()) => {}
            Err(imap::Error::No(no)) => {
                // Servers word "already exists" differently; the reliable
                // test is whether the folder is there now.
                let exists = self.list_folders()?.iter().any(|f| f.name == name);
                if !exists {
                    bail!(
                        "cannot create folder {name:?} on {}: {}",
                        self.host,
                        no.information
                    );
                }
            }
            Err(e) => return Err(imap_err(e, format!("cannot create folder {name:?}"))),
        }
        self.drain_unsolicited();
        Ok(())
    }

    fn namespace_in_use(&mut self) -> Result<Option<String>> {
        self.describe_namespace().map(Some)
    }

    fn native_name(&self, name: &str) -> Option<String> {
        let delimiter = self.delimiter.unwrap_or_default();
        self.server_name_with(name, delimiter)
            .ok()
            .filter(|native| native != name)
    }

    fn delete_folder(&mut self, name: &str) -> Result<()> {
        if name.eq_ignore_ascii_case("INBOX") {
            bail!("refusing to delete the INBOX of {}", self.host);
        }
        let server_name = self.server_name(name)?;
        self.leave_if_open_within(&server_name)?;
        let command = format!("DELETE {}", quote(&server_name)?);
        self.session
            .run_command_and_check_ok(&command)
            .map_err(|e| imap_err(e, format!("cannot delete folder {name:?} on {}", self.host)))?;
        self.drain_unsolicited();
        Ok(())
    }

    fn rename_folder(&mut self, from: &str, to: &str) -> Result<()> {
        if from.eq_ignore_ascii_case("INBOX") {
            // RENAME INBOX moves its messages, not the folder: never wanted.
            bail!("refusing to rename the INBOX of {}", self.host);
        }
        let from_server_name = self.server_name(from)?;
        self.leave_if_open_within(&from_server_name)?;
        let command = format!(
            "RENAME {} {}",
            quote(&from_server_name)?,
            quote(&self.server_name(to)?)?
        );
        self.open = None;
        self.session
            .run_command_and_check_ok(&command)
            .map_err(|e| {
                imap_err(
                    e,
                    format!("cannot rename folder {from:?} to {to:?} on {}", self.host),
                )
            })?;
        self.drain_unsolicited();
        Ok(())
    }

    fn open_folder(&mut self, name: &str) -> Result<FolderStatus> {
        self.select(name, None)
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>> {
        self.list_in_slices()
    }

    fn fetch_messages(
        &mut self,
        ids: &[MsgId],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        self.fetch_streamed(ids, sink)
    }

    fn prepare_append(&mut self) -> Result<String> {
        let open = self.open_folder_state()?;
        if let Some(uidnext) = open.uidnext {
            return Ok(uidnext.to_string());
        }
        let server_name = open.server_name.clone();
        let folder = self.open_name();
        let status = logged(&format!("STATUS {server_name:?} (UIDNEXT)"), || {
            self.session.status(&server_name, "(UIDNEXT)")
        })
        .map_err(|e| imap_err(e, format!("STATUS of folder {folder:?} failed")))?;
        self.drain_unsolicited();
        let uidnext = status
            .uid_next
            .ok_or_else(|| anyhow!("the server gives no UIDNEXT for folder {folder:?}"))?;
        self.open_folder_state()?.uidnext = Some(uidnext);
        Ok(uidnext.to_string())
    }

    fn append(&mut self, _ticket: &str, message: &Message) -> Result<Option<MsgId>> {
        self.append_one(message)
    }

    fn find_appended(&mut self, ticket: &str, size: u64, sha256: &str) -> Result<Vec<MsgId>> {
        self.open_folder_state()?;
        let first = ticket_uid(ticket)?;
        let candidates = self.uids_since(first, None)?;
        let found: Vec<u32> = self
            .same_size_with_hash(&candidates, size, sha256)?
            .into_iter()
            .filter(|&(_, identical)| identical)
            .map(|(uid, _)| uid)
            .collect();
        self.note_stored(&found);
        Ok(found.into_iter().map(|uid| uid.to_string()).collect())
    }

    fn find_stored(&mut self, ticket: &str, message: &Message) -> Result<Vec<FoundCopy>> {
        self.open_folder_state()?;
        let first = ticket_uid(ticket)?;
        // A server may show a message appended in this session to a search
        // only after a NOOP (Courier does).
        let folder = self.open_name();
        logged("NOOP", || self.session.noop())
            .map_err(|e| imap_err(e, format!("NOOP in folder {folder:?} failed")))?;
        self.drain_unsolicited();
        let held = self.held_form(&message.content);
        let (size, sha256) = (held.len() as u64, crate::mail::sha256_hex(&held));
        // By Message-ID the server finds it without sending a body but the
        // candidates'; without one, every new message of the right size is
        // read.
        let message_id = crate::mail::identity::message_id(&message.content);
        let searchable = message_id
            .as_deref()
            .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()) && !id.contains(['"', '\\']));
        let candidates = self.uids_since(first, searchable)?;
        let mut found = self.same_size_with_hash(&candidates, size, &sha256)?;
        if searchable.is_none() {
            found.retain(|&(_, identical)| identical);
        }
        // Byte for byte first; a rewritten copy only if there is none.
        found.sort_by_key(|&(uid, identical)| (!identical, uid));
        let uids: Vec<u32> = found.iter().map(|&(uid, _)| uid).collect();
        self.note_stored(&uids);
        Ok(found
            .into_iter()
            .map(|(uid, identical)| FoundCopy {
                id: uid.to_string(),
                identical,
            })
            .collect())
    }

    fn held_form<'a>(&self, content: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        crate::mail::with_crlf(content)
    }

    fn appends_may_land_late(&self) -> bool {
        // A server holding a whole APPEND (or MULTIAPPEND batch) of a
        // session that died may store it after the next session looked.
        true
    }

    fn stored_since(&self, ticket: &str, id: &str) -> bool {
        match (ticket.parse::<u32>(), id.parse::<u32>()) {
            (Ok(first), Ok(uid)) => uid >= first,
            _ => true,
        }
    }

    fn remove_own_copies(&mut self, ids: &[MsgId]) -> Result<Removed> {
        if self.has_capability("UIDPLUS") || ids.is_empty() {
            return self.delete_messages(ids).map(|()| Removed::Expunged);
        }
        self.open_folder_state()?;
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        let others_deleted = self
            .uid_search("DELETED")?
            .into_iter()
            .any(|uid| !uids.contains(&uid));
        if !others_deleted {
            return self.delete_messages(ids).map(|()| Removed::Expunged);
        }
        // A plain EXPUNGE would take the other messages flagged deleted
        // along: flag ours and leave the expunge to whoever expunges them.
        self.uid_store(&uid_set(&uids), "+FLAGS.SILENT (\\Deleted)")?;
        Ok(Removed::FlaggedDeleted)
    }

    fn set_flags_many(&mut self, ids: &[MsgId], add: Flags, remove: Flags) -> Result<()> {
        self.store_flags(ids, add, remove)
    }

    fn set_flags(&mut self, id: &MsgId, add: Flags, remove: Flags) -> Result<()> {
        self.open_folder_state()?;
        let uid = parse_uid(id)?.to_string();
        if !add.is_empty() {
            self.uid_store(&uid, &format!("+FLAGS.SILENT {}", flag_list(add)))?;
        }
        if !remove.is_empty() {
            self.uid_store(&uid, &format!("-FLAGS.SILENT {}", flag_list(remove)))?;
        }
        Ok(())
    }

    fn delete_messages(&mut self, ids: &[MsgId]) -> Result<()> {
        self.open_folder_state()?;
        if ids.is_empty() {
            return Ok(());
        }
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        let set = uid_set(&uids);
        let folder = self.open_name();
        if self.has_capability("UIDPLUS") {
            self.uid_store(&set, "+FLAGS.SILENT (\\Deleted)")?;
            let deleted = logged(&format!("UID EXPUNGE {set}"), || {
                self.session.uid_expunge(&set)
            })
            .map_err(|e| imap_err(e, format!("expunging in folder {folder:?} failed")))?;
            self.note_expunged(&deleted);
        } else {
            // A plain EXPUNGE removes every message flagged \Deleted, so it
            // is only safe when no other message carries the flag. Check
            // before flagging ours, so nothing changes if we must refuse.
            let others: Vec<u32> = self
                .uid_search("DELETED")?
                .into_iter()
                .filter(|uid| !uids.contains(uid))
                .collect();
            if !others.is_empty() {
                bail!(
                    "cannot delete messages from folder {folder:?}: the server {} lacks UIDPLUS \
                     and {} other message(s) are marked deleted, so expunging would remove them \
                     too",
                    self.host,
                    others.len()
                );
            }
            self.uid_store(&set, "+FLAGS.SILENT (\\Deleted)")?;
            let deleted = logged("EXPUNGE", || self.session.expunge())
                .map_err(|e| imap_err(e, format!("expunging in folder {folder:?} failed")))?;
            self.note_expunged(&deleted);
        }
        self.drain_unsolicited();
        if let Some(open) = self.open.as_mut() {
            for uid in &uids {
                open.sizes.remove(uid);
            }
        }
        Ok(())
    }

    fn arrived_before(
        &mut self,
        day: chrono::NaiveDate,
        _listing: &[MessageInfo],
    ) -> Result<Option<HashSet<MsgId>>> {
        self.open_folder_state()?;
        // SEARCH BEFORE compares the INTERNALDATE's date: one round trip
        // for the whole folder.
        let date = day.format("%-d-%b-%Y").to_string();
        let uids = self.uid_search(&format!("BEFORE {date}"))?;
        Ok(Some(uids.into_iter().map(|uid| uid.to_string()).collect()))
    }

    fn prepare_trash(&mut self, trash: &str) -> Result<Option<String>> {
        self.open_folder_state()?;
        self.create_folder(trash)?;
        if self.has_capability("MOVE") {
            return Ok(None);
        }
        // COPY, then expunge: the trash's UIDNEXT before the COPY lets the
        // next run find a copy made by a run that died in between.
        let server_name = self.server_name(trash)?;
        let status = logged(&format!("STATUS {server_name:?} (UIDNEXT)"), || {
            self.session.status(&server_name, "(UIDNEXT)")
        })
        .map_err(|e| imap_err(e, format!("STATUS of trash folder {trash:?} failed")))?;
        self.drain_unsolicited();
        let uidnext = status
            .uid_next
            .ok_or_else(|| anyhow!("the server gives no UIDNEXT for trash folder {trash:?}"))?;
        Ok(Some(uidnext.to_string()))
    }

    fn trash_messages(&mut self, ids: &[MsgId], trash: &str) -> Result<Trashed> {
        self.open_folder_state()?;
        if ids.is_empty() {
            return Ok(Trashed::Moved);
        }
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        let set = uid_set(&uids);
        let server_name = self.server_name(trash)?;
        let folder = self.open_name();
        let trashed = if self.has_capability("MOVE") {
            logged(&format!("UID MOVE {set} {server_name:?}"), || {
                self.session.uid_mv(&set, &server_name)
            })
            .map_err(|e| {
                imap_err(
                    e,
                    format!("moving messages of {folder:?} to the trash folder {trash:?} failed"),
                )
            })?;
            if let Some(open) = self.open.as_mut() {
                for uid in &uids {
                    open.sizes.remove(uid);
                }
            }
            Trashed::Moved
        } else {
            logged(&format!("UID COPY {set} {server_name:?}"), || {
                self.session.uid_copy(&set, &server_name)
            })
            .map_err(|e| {
                imap_err(
                    e,
                    format!("copying messages of {folder:?} to the trash folder {trash:?} failed"),
                )
            })?;
            Trashed::Copied
        };
        self.drain_unsolicited();
        Ok(trashed)
    }

    fn prepare_trash_upload(&mut self, trash: &str) -> Result<String> {
        self.open_folder_state()?;
        self.create_folder(trash)?;
        let server_name = self.server_name(trash)?;
        let status = logged(&format!("STATUS {server_name:?} (UIDNEXT)"), || {
            self.session.status(&server_name, "(UIDNEXT)")
        })
        .map_err(|e| imap_err(e, format!("STATUS of trash folder {trash:?} failed")))?;
        self.drain_unsolicited();
        status
            .uid_next
            .map(|uidnext| uidnext.to_string())
            .ok_or_else(|| anyhow!("the server gives no UIDNEXT for trash folder {trash:?}"))
    }

    fn append_to_trash(&mut self, trash: &str, message: &Message) -> Result<()> {
        self.append_to_folder(trash, message)
    }

    fn find_trashed(&mut self, trash: &str, ticket: &str, size: u64, sha256: &str) -> Result<bool> {
        let first = ticket_uid(ticket)?;
        let server_name = self.server_name(trash)?;
        // The trash is looked at read-only; the open folder is selected
        // again before its next use, as after folders opened ahead.
        let command = format!("EXAMINE {}", quote(&server_name)?);
        self.ahead.clear();
        if let Some(open) = self.open.as_mut() {
            open.selected_elsewhere = true;
        }
        logged(&command, || self.session.run(&command))
            .map_err(|e| imap_err(e, format!("cannot open trash folder {trash:?}")))?;
        let candidates = self.uids_since(first, None)?;
        Ok(self
            .same_size_with_hash(&candidates, size, sha256)?
            .into_iter()
            .any(|(_, identical)| identical))
    }

    fn reconnect(&mut self) -> Result<()> {
        // An OAuth2 token may have expired meanwhile: ask for a fresh one.
        if self.config.auth.uses_oauth2() {
            self.secret = self
                .config
                .password
                .resolve(self.config.command_timeout())?;
        }
        log::info!("reconnecting to {}", self.host);
        self.open = None;
        (self.session, self.wire) = open_session(&self.config, &self.secret)?;
        self.ahead.clear();
        self.read_capabilities()?;
        self.drop_uploads();
        self.qresync = false;
        self.enabled = false;
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn identities(
        &mut self,
        ids: &[MsgId],
    ) -> Result<Vec<(MsgId, crate::mail::identity::Identity)>> {
        self.identities_from_headers(ids)
    }

    fn incremental(&mut self) -> Option<&mut dyn IncrementalListing> {
        Some(self)
    }

    fn staging(&mut self) -> Option<&mut dyn Staging> {
        Some(self)
    }

    fn opening_ahead(&mut self) -> Option<&mut dyn OpenAhead> {
        Some(self)
    }

    fn versions(&mut self) -> Option<&mut dyn FolderVersions> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_date_is_utc_at_the_given_second() {
        let date = internal_date(1_700_000_000).unwrap();
        assert_eq!(
            date.format("%d-%h-%Y %T %z").to_string(),
            "14-Nov-2023 22:13:20 +0000"
        );
    }

    #[test]
    fn space_padded_days_in_internaldate_parse() {
        // RFC 3501 allows " 5-Jan-2024"; the imap crate parses INTERNALDATE
        // with this format, so check chrono accepts the padding.
        let parsed = DateTime::parse_from_str(" 5-Jan-2024 10:00:00 +0100", "%d-%b-%Y %H:%M:%S %z");
        assert_eq!(parsed.unwrap().timestamp(), 1_704_445_200);
    }

    #[test]
    fn flag_lists_use_imap_names() {
        assert_eq!(
            flag_list(Flags::SEEN.union(Flags::FORWARDED)),
            "($Forwarded \\Seen)"
        );
    }
}
