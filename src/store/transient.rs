//! Errors that a retry may cure: the connection dropped or timed out, or the
//! server asked us to slow down. Stores raise them; the channel loop looks
//! for them (anywhere in an error's chain) to decide whether to reconnect
//! and try a folder again. And their opposite, [`Refused`]: the server
//! answered the request with a refusal and did nothing of it.

use std::fmt;

/// A failure of the connection rather than of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transient {
    /// What happened, in words for the user.
    pub message: String,
    /// The server said it is throttling us (Microsoft 365 sends
    /// `NO [THROTTLED]` or `* BYE ... throttled`): wait longer before retrying.
    pub throttled: bool,
}

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Transient {}

/// The transient failure behind an error, if there is one.
pub fn transient_cause(error: &anyhow::Error) -> Option<&Transient> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Transient>())
}

/// The server refused a request (IMAP `NO` or `BAD` to the command) and
/// so did nothing of it: an APPEND refused stored no message. Not
/// transient: the same request on a new connection is refused again (a
/// message over the server's size limit or the user's quota), though a
/// later run may succeed once the limit is raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What was refused and the server's words.
    pub message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// Whether the server refused the request behind an error (see [`Refused`]).
pub fn was_refused(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<Refused>().is_some())
}

/// Whether a server's words ask us to back off.
pub fn says_throttled(text: &str) -> bool {
    text.to_ascii_lowercase().contains("throttl")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn transient_cause_is_found_under_context() {
        let error = anyhow::Error::new(Transient {
            message: "connection reset".into(),
            throttled: false,
        });
        let error = Err::<(), _>(error)
            .context("fetching from folder \"INBOX\"")
            .unwrap_err();
        assert_eq!(transient_cause(&error).unwrap().message, "connection reset");
        assert!(transient_cause(&anyhow::anyhow!("no such folder")).is_none());
    }

    #[test]
    fn throttling_words_are_recognised() {
        assert!(says_throttled(
            "[THROTTLED] Request is throttled. Suggested Backoff Time: 1000 milliseconds"
        ));
        assert!(says_throttled("Session invalidated - Throttled"));
        assert!(!says_throttled("Mailbox does not exist"));
    }
}
