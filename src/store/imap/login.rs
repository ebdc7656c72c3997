//! Opening a session: connect (TCP, TLS, STARTTLS or a `tunnel:`
//! command), read the greeting, and log in, taking the capabilities from
//! the server's answers where it gives them so that no CAPABILITY round
//! trip is spent for nothing. A PREAUTH greeting (a tunnel to a local imap
//! binary) needs no login at all.

use super::client::response::{self, Code, Data, Response, StatusKind};
use super::client::{Answer, ClientError, Command, Connection, Limits};
use super::sasl;
use crate::config::{AuthMethod, ImapConfig, Secret, TlsMode};
use crate::store::error::{StoreError, StoreErrorKind};
use crate::store::tls::{self, NetStream};
use anyhow::{anyhow, bail, Result};
use base64::Engine;
use std::time::Duration;

/// A logged-in connection and the capabilities the server gave with it
/// (empty when it gave none: ask CAPABILITY).
pub(super) struct Session {
    pub connection: Connection,
    pub capabilities: Vec<String>,
}

/// A failed conversation, as a store error saying what we were doing: of
/// a kind worth a new connection (Transient for a connection dropped or
/// silent, Throttled when the server's BYE asked us to back off,
/// Protocol when the server broke the protocol or our limits).
pub(super) fn client_err(error: ClientError, doing: impl std::fmt::Display) -> anyhow::Error {
    let kind = match error {
        _ if error.is_throttled() => StoreErrorKind::Throttled,
        ClientError::Io { .. } | ClientError::Closed { .. } | ClientError::Timeout { .. } => {
            StoreErrorKind::Transient
        }
        ClientError::LineTooLong { .. }
        | ClientError::LiteralTooLarge { .. }
        | ClientError::Malformed { .. }
        | ClientError::Unusable { .. } => StoreErrorKind::Protocol,
    };
    StoreError::new(kind, format!("{doing}: {error}")).into()
}

/// What the config says to check of the server's certificate.
fn tls_policy(config: &ImapConfig) -> tls::TlsPolicy<'_> {
    tls::TlsPolicy {
        ca_file: &config.ca_file,
        fingerprint: config.tls_fingerprint.as_ref(),
        min_version: config.tls_min_version,
    }
}

/// Connects, secures and logs in.
pub(super) fn open_session(config: &ImapConfig, secret: &Secret) -> Result<Session> {
    let timeout = Duration::from_secs(config.timeout_secs.max(1));
    if let Some(command) = &config.tunnel {
        let server = format!("tunnel `{command}`");
        log::info!("connecting through {server}");
        let tunnel = tls::Tunnel::spawn(command, timeout)?;
        let connection = Connection::new(
            NetStream::Tunnel(Box::new(tunnel)),
            &server,
            timeout,
            Limits::default(),
        );
        return greet_and_log_in(connection, config, secret);
    }
    let server = format!("{}:{}", config.host, config.port);
    log::info!("connecting to {server} as {}", config.user);
    let tcp = tls::connect_tcp(&config.host, config.port, timeout).map_err(|e| {
        // Refused or unreachable: worth trying again on a reconnect.
        anyhow::Error::from(StoreError::transient(format!("{e:#}"), false))
    })?;
    let stream = match config.tls {
        TlsMode::Implicit => tls::secure(&tls_policy(config), &config.host, config.port, tcp)?,
        TlsMode::Starttls => return starttls(tcp, config, &server, timeout, secret),
        TlsMode::None => NetStream::Plain(tcp),
    };
    let connection = Connection::new(stream, &server, timeout, Limits::default());
    greet_and_log_in(connection, config, secret)
}

fn greet_and_log_in(
    mut connection: Connection,
    config: &ImapConfig,
    secret: &Secret,
) -> Result<Session> {
    let greeting = read_greeting(&mut connection)?;
    if greeting.preauth {
        log::debug!("S: PREAUTH: no login needed");
        return Ok(Session {
            connection,
            capabilities: greeting.capabilities,
        });
    }
    authenticate(connection, config, secret, greeting.capabilities)
}

/// What a greeting told.
struct Greeting {
    preauth: bool,
    capabilities: Vec<String>,
}

/// Reads and checks the greeting; a BYE greeting is a refusal.
fn read_greeting(connection: &mut Connection) -> Result<Greeting> {
    let server = connection.server().to_string();
    let greeting = connection.greeting().map_err(|e| match e {
        // Cut off mid-line, or silent: the network, not the server's manners.
        ClientError::Closed { .. } => anyhow::Error::from(StoreError::transient(
            format!("{server} closed the connection during its greeting"),
            false,
        )),
        other => client_err(other, format!("no greeting from {server}")),
    })?;
    let status = match response::parse(&greeting) {
        Ok(Response::Untagged(Data::Status(status))) => status,
        _ => bail!(
            "{server} does not greet like an IMAP server: {}",
            response::snippet(&greeting)
        ),
    };
    match status.kind {
        StatusKind::Ok | StatusKind::PreAuth => Ok(Greeting {
            preauth: status.kind == StatusKind::PreAuth,
            capabilities: match &status.code {
                Some(Code::Capability(names)) => upper(names),
                _ => Vec::new(),
            },
        }),
        StatusKind::Bye => {
            let reason = if status.text.is_empty() {
                "no reason given".to_string()
            } else {
                status.text.to_string()
            };
            bail!("{server} refused the connection: {reason}")
        }
        _ => bail!(
            "{server} does not greet like an IMAP server: {}",
            response::snippet(&greeting)
        ),
    }
}

/// Capability names, upper-case and sorted.
pub(super) fn upper(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
    names.sort();
    names.dedup();
    names
}

/// The capabilities an answer gives: a CAPABILITY code on its tagged
/// line, else untagged CAPABILITY data; empty when neither.
pub(super) fn capabilities_in(answer: &Answer) -> Vec<String> {
    if let Some(Code::Capability(names)) = answer.status().code {
        return upper(&names);
    }
    answer
        .data()
        .find_map(|data| match data {
            Data::Capability(names) => Some(upper(&names)),
            _ => None,
        })
        .unwrap_or_default()
}

/// The capabilities, asking CAPABILITY when `known` is empty.
fn capabilities_or_ask(connection: &mut Connection, known: Vec<String>) -> Result<Vec<String>> {
    if !known.is_empty() {
        return Ok(known);
    }
    let server = connection.server().to_string();
    let answer = connection
        .run(&Command::text("CAPABILITY"))
        .map_err(|e| client_err(e, format!("CAPABILITY on {server} failed")))?;
    if !answer.is_ok() {
        bail!(
            "CAPABILITY on {server} failed: {}",
            answer.status().describe()
        );
    }
    Ok(capabilities_in(&answer))
}

/// Plain connection upgraded with STARTTLS; refuses to go on in clear.
fn starttls(
    tcp: std::net::TcpStream,
    config: &ImapConfig,
    server: &str,
    timeout: Duration,
    secret: &Secret,
) -> Result<Session> {
    let mut connection = Connection::new(NetStream::Plain(tcp), server, timeout, Limits::default());
    let greeting = read_greeting(&mut connection)?;
    // A greeting that names no STARTTLS may simply name few capabilities:
    // the answer to CAPABILITY decides.
    let mut capabilities = greeting.capabilities;
    if !capabilities.iter().any(|c| c == "STARTTLS") {
        capabilities.clear();
    }
    let capabilities = capabilities_or_ask(&mut connection, capabilities)?;
    if !capabilities.iter().any(|c| c == "STARTTLS") {
        bail!(
            "server {server} does not offer STARTTLS; refusing to send the password in clear \
             (set tls: none to allow it)"
        );
    }
    let answer = connection
        .run(&Command::text("STARTTLS"))
        .map_err(|e| client_err(e, format!("STARTTLS on {server} failed")))?;
    if !answer.is_ok() {
        bail!(
            "STARTTLS on {server} failed: {}",
            answer.status().describe()
        );
    }
    // Whatever the server sent after its OK is dropped with the
    // connection: bytes that arrived in clear must not be read as if they
    // came over TLS.
    let NetStream::Plain(tcp) = connection.into_stream() else {
        bail!("STARTTLS on {server}: the connection was not a plain one");
    };
    let stream = tls::secure(&tls_policy(config), &config.host, config.port, tcp)?;
    // There is no second greeting after STARTTLS, and the capabilities
    // before it do not count (RFC 3501 6.2.1).
    let connection = Connection::new(stream, server, timeout, Limits::default());
    authenticate(connection, config, secret, Vec::new())
}

/// Logs in as the config says, with the secret never in a log line or an
/// error message. `offered` are the capabilities before login, from the
/// greeting (for SASL-IR).
fn authenticate(
    mut connection: Connection,
    config: &ImapConfig,
    secret: &Secret,
    offered: Vec<String>,
) -> Result<Session> {
    let user = &config.user;
    let failed = |e| client_err(e, format!("login to {} as {} failed", config.host, user));
    let mut oauth2: Option<sasl::OAuth2> = None;
    let answer = match config.auth {
        AuthMethod::Login => connection
            .run(
                &Command::new("LOGIN")
                    .string(user.as_bytes())
                    .secret(secret.expose().as_bytes()),
            )
            .map_err(failed)?,
        AuthMethod::Plain => {
            let sasl_ir = offered.iter().any(|c| c == "SASL-IR");
            let plain = sasl::Plain { user, secret };
            sasl_exchange(&mut connection, "PLAIN", sasl_ir, &mut |_| plain.response())
                .map_err(failed)?
        }
        AuthMethod::Xoauth2 | AuthMethod::Oauthbearer => {
            let offered = capabilities_or_ask(&mut connection, offered)?;
            let sasl_ir = offered.iter().any(|c| c == "SASL-IR");
            let auth = sasl::OAuth2::new(config, secret);
            let answer = sasl_exchange(&mut connection, auth.mechanism(), sasl_ir, &mut |c| {
                auth.process(c)
            })
            .map_err(failed);
            oauth2 = Some(auth);
            answer?
        }
    };
    let status = answer.status();
    match status.kind {
        StatusKind::Ok => {}
        StatusKind::No => {
            let server_said = oauth2
                .as_ref()
                .and_then(sasl::OAuth2::server_error)
                .map(|json| format!(" (the server's OAuth2 error: {json})"))
                .unwrap_or_default();
            bail!(
                "login refused by {} for user {}: {}{server_said}",
                config.host,
                config.user,
                status.text
            );
        }
        _ => {
            return Err(anyhow!(
                "login to {} as {} failed: the server said {}",
                config.host,
                config.user,
                status.describe()
            ))
        }
    }
    let capabilities = capabilities_in(&answer);
    Ok(Session {
        connection,
        capabilities,
    })
}

/// AUTHENTICATE `mechanism`: with SASL-IR the first response goes on the
/// command line (`respond` is given an empty challenge for it); every `+`
/// challenge of the server is answered with `respond`'s response to it.
fn sasl_exchange(
    connection: &mut Connection,
    mechanism: &str,
    sasl_ir: bool,
    respond: &mut dyn FnMut(&[u8]) -> Vec<u8>,
) -> Result<Answer, ClientError> {
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut command = Command::new("AUTHENTICATE").atom(mechanism);
    let initial;
    if sasl_ir {
        // An empty initial response is sent as `=` (RFC 4959).
        initial = match base64.encode(respond(b"")) {
            encoded if encoded.is_empty() => "=".to_string(),
            encoded => encoded,
        };
        command = command.secret_atom(&initial);
    }
    let tag = connection.send(&command)?;
    while let Some(challenge) = connection.continuation(&tag, &mut |_| false)? {
        let decoded = base64.decode(challenge.trim()).unwrap_or_default();
        let response = base64.encode(respond(&decoded));
        connection.send_line(response.as_bytes(), "<hidden>")?;
    }
    connection.answer(&tag)
}
