//! The store contract's errors: a [`StoreError`] says what kind of failure
//! a store met, and the kind alone decides what the engine does about it
//! (retry the folder on a new connection, settle a refused copy, give up
//! on the folder). Stores raise them inside `anyhow::Error` (so context
//! still says what was being done); [`StoreError::kind_of`] is the one
//! place that looks for them.

use std::fmt;

/// What kind of failure a store met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The connection dropped, timed out or could not be made: the request
    /// may or may not have taken effect, and a new connection may succeed.
    Transient,
    /// The server said it is throttling us (Microsoft 365 sends
    /// `NO [THROTTLED]` or `* BYE ... throttled`): like [`Transient`], but
    /// wait longer before trying again.
    ///
    /// [`Transient`]: StoreErrorKind::Transient
    Throttled,
    /// The server refused the request (IMAP `NO` or `BAD`, POP3 `-ERR`) and
    /// did nothing of it: an APPEND refused stored no message. The same
    /// request on a new connection is refused again (a message over the
    /// server's size limit or the user's quota), though a later run may
    /// succeed once the limit is raised.
    Refused,
    /// The message is no longer there: another client removed it since the
    /// folder was listed.
    Gone,
    /// The local file system failed (a Maildir's files): a full disk, a
    /// permission, a missing directory. Not cured by a new connection.
    LocalIo,
    /// The server broke the protocol (an answer that cannot be parsed, or
    /// that carries another command's tag): the rest of the conversation
    /// cannot be trusted, only a new connection is safe.
    Protocol,
}

impl StoreErrorKind {
    /// Whether the connection must be replaced: the folder is tried again
    /// on a new one, and nothing more is asked of this one.
    pub fn connection_unusable(self) -> bool {
        matches!(
            self,
            StoreErrorKind::Transient | StoreErrorKind::Throttled | StoreErrorKind::Protocol
        )
    }

    /// Whether trying the folder again (on a new connection) may succeed.
    pub fn retried(self) -> bool {
        self.connection_unusable()
    }
}

/// A store's failure, of a [`StoreErrorKind`]. Its text is the text of the
/// error it was made from, so giving an error a kind changes nothing of
/// what the user reads.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    error: anyhow::Error,
}

impl StoreError {
    /// A failure of `kind`, in words for the user.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            error: anyhow::Error::msg(message.into()),
        }
    }

    /// `error`, which stays what the user reads, given `kind`.
    pub fn with_kind(kind: StoreErrorKind, error: impl Into<anyhow::Error>) -> StoreError {
        StoreError {
            kind,
            error: error.into(),
        }
    }

    /// A dropped or timed-out connection, or one that could not be made;
    /// [`StoreErrorKind::Throttled`] instead when `throttled`.
    pub fn transient(message: impl Into<String>, throttled: bool) -> StoreError {
        let kind = if throttled {
            StoreErrorKind::Throttled
        } else {
            StoreErrorKind::Transient
        };
        StoreError::new(kind, message)
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The kind of the store error behind `error` (the outermost, where
    /// context wraps several); `None` for an error no store gave a kind.
    pub fn kind_of(error: &anyhow::Error) -> Option<StoreErrorKind> {
        error
            .chain()
            .find_map(|cause| cause.downcast_ref::<StoreError>())
            .map(StoreError::kind)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the outermost message: the rest of the error's chain is this
        // error's source, so `{:#}` shows it once.
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.chain().nth(1)
    }
}

/// Local file system errors with context, as [`StoreErrorKind::LocalIo`]:
/// `result.local_io(|| format!("cannot create {}", path.display()))`.
pub trait LocalIo<T> {
    fn local_io<C>(self, context: impl FnOnce() -> C) -> anyhow::Result<T>
    where
        C: fmt::Display + Send + Sync + 'static;
}

impl<T> LocalIo<T> for Result<T, std::io::Error> {
    fn local_io<C>(self, context: impl FnOnce() -> C) -> anyhow::Result<T>
    where
        C: fmt::Display + Send + Sync + 'static,
    {
        self.map_err(|error| {
            StoreError::with_kind(
                StoreErrorKind::LocalIo,
                anyhow::Error::new(error).context(context()),
            )
            .into()
        })
    }
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
    fn the_kind_is_found_under_context_and_the_text_is_unchanged() {
        let error = anyhow::Error::new(StoreError::transient("connection reset", false));
        let error = Err::<(), _>(error)
            .context("fetching from folder \"INBOX\"")
            .unwrap_err();
        assert_eq!(StoreError::kind_of(&error), Some(StoreErrorKind::Transient));
        assert_eq!(
            format!("{error:#}"),
            "fetching from folder \"INBOX\": connection reset"
        );
        assert_eq!(
            StoreError::kind_of(&anyhow::anyhow!("no such folder")),
            None
        );
    }

    #[test]
    fn a_kind_given_to_an_error_with_context_keeps_its_whole_text() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let error = Err::<(), _>(io)
            .local_io(|| "cannot write /m/tmp/1")
            .unwrap_err();
        assert_eq!(StoreError::kind_of(&error), Some(StoreErrorKind::LocalIo));
        assert_eq!(
            format!("{error:#}"),
            "cannot write /m/tmp/1: No space left on device"
        );
        assert_eq!(format!("{error}"), "cannot write /m/tmp/1");
        assert_eq!(error.chain().count(), 2);
    }

    #[test]
    fn only_a_broken_connection_is_worth_a_new_one() {
        use StoreErrorKind::*;
        let retried: Vec<_> = [Transient, Throttled, Refused, Gone, LocalIo, Protocol]
            .into_iter()
            .filter(|kind| kind.retried())
            .collect();
        assert_eq!(retried, [Transient, Throttled, Protocol]);
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
