//! What can go wrong on a connection, in words that name the server. A
//! refusal (tagged NO or BAD) is not here: it is an answer, read from
//! [`super::Answer::status`]; these are the failures of the conversation
//! itself, after which the connection cannot be used again.

use crate::store::tls::describe_io_error;
use std::fmt;
use std::io;

/// A failed conversation with a server. Each is worth a new connection
/// (a dropped or silent one, or a conversation gone wrong whose next
/// answer could not be told from this one's rest); a server that breaks
/// the limits again fails the retry the same way.
#[derive(Debug)]
pub enum ClientError {
    /// Reading or writing failed.
    Io { server: String, error: io::Error },
    /// The server closed the connection; with the text of its BYE when it
    /// sent one first.
    Closed { server: String, bye: Option<String> },
    /// No answer within the read timeout.
    Timeout {
        server: String,
        waiting_for: String,
        seconds: u64,
    },
    /// A response outside its literals went over the line limit.
    LineTooLong { server: String, limit: usize },
    /// A literal larger than the limit was announced.
    LiteralTooLarge {
        server: String,
        size: u64,
        limit: usize,
    },
    /// A response that cannot be read, or an answer with a tag not sent.
    Malformed { server: String, what: String },
    /// The connection failed earlier and was not used again.
    Unusable { server: String, earlier: String },
}

impl ClientError {
    /// Whether the server said it is throttling us.
    pub fn is_throttled(&self) -> bool {
        match self {
            ClientError::Closed {
                bye: Some(text), ..
            } => crate::store::error::says_throttled(text),
            _ => false,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io { server, error } => {
                write!(
                    f,
                    "the connection to {server} failed: {}",
                    describe_io_error(error)
                )
            }
            ClientError::Closed { server, bye: None } => {
                write!(f, "{server} closed the connection")
            }
            ClientError::Closed {
                server,
                bye: Some(text),
            } => write!(f, "{server} closed the connection: {text}"),
            ClientError::Timeout {
                server,
                waiting_for,
                seconds,
            } => write!(
                f,
                "{server} did not answer {waiting_for} within {seconds} s (the timeout of the \
                 config's timeout_secs)"
            ),
            ClientError::LineTooLong { server, limit } => write!(
                f,
                "{server} sent a response longer than {} MiB outside its literals, which no \
                 IMAP server needs, so mailferry closed the connection",
                limit >> 20
            ),
            ClientError::LiteralTooLarge {
                server,
                size,
                limit,
            } => write!(
                f,
                "{server} announced a literal of {size} bytes, over the limit of {} MiB, so \
                 mailferry closed the connection",
                limit >> 20
            ),
            ClientError::Malformed { server, what } => {
                write!(f, "{server} sent {what}")
            }
            ClientError::Unusable { server, earlier } => write!(
                f,
                "the connection to {server} cannot be used after an earlier failure: {earlier}"
            ),
        }
    }
}

impl std::error::Error for ClientError {}
