//! Commands as bytes on the wire. A command is built from pieces (atoms,
//! strings, literals); strings that cannot be quoted (CR, LF, NUL, 8-bit
//! bytes) and message contents go as literals, so any bytes can be sent.
//! Encoding splits the command where a synchronizing literal must wait for
//! the server's `+`; with LITERAL+ (RFC 7888) the literal follows at once
//! as `{n+}` and the whole command is one write.

use std::borrow::Cow;

/// A command without its tag.
#[derive(Debug, Clone, Default)]
pub struct Command<'a> {
    pieces: Vec<Piece<'a>>,
    /// The command as the log shows it: secrets hidden, literals by size.
    shown: String,
}

#[derive(Debug, Clone)]
enum Piece<'a> {
    Text(String),
    Literal(Cow<'a, [u8]>),
}

/// One write of an encoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// The write ends with a synchronizing literal's announcement: the
    /// server's `+` comes before the next chunk.
    pub then_wait: bool,
}

impl<'a> Command<'a> {
    /// A command starting with its name (`UID FETCH`, `SELECT`).
    pub fn new(name: &str) -> Command<'a> {
        Command {
            pieces: vec![Piece::Text(name.to_string())],
            shown: name.to_string(),
        }
    }

    /// A command given whole as text (atoms and quoted strings already
    /// written out, no literal).
    pub fn text(line: &str) -> Command<'a> {
        Command::new(line)
    }

    /// Adds an atom, a number, a set or a list written out as text.
    pub fn atom(mut self, atom: &str) -> Command<'a> {
        self.push_text(atom, atom);
        self
    }

    /// Adds a string: quoted when it can be, else as a literal.
    pub fn string(self, value: &'a [u8]) -> Command<'a> {
        match quotable(value) {
            Some(quoted) => {
                let mut command = self;
                command.push_text(&quoted, &quoted);
                command
            }
            None => self.literal(value),
        }
    }

    /// Adds a string the log must not show (a password).
    pub fn secret(mut self, value: &'a [u8]) -> Command<'a> {
        match quotable(value) {
            Some(quoted) => self.push_text(&quoted, "<hidden>"),
            None => {
                self.pieces.push(Piece::Literal(Cow::Borrowed(value)));
                self.shown.push_str(" <hidden>");
            }
        }
        self
    }

    /// Adds an atom the log must not show (a SASL initial response).
    pub fn secret_atom(mut self, atom: &str) -> Command<'a> {
        self.push_text(atom, "<hidden>");
        self
    }

    /// Adds a literal: any bytes, a message's content.
    pub fn literal(mut self, value: impl Into<Cow<'a, [u8]>>) -> Command<'a> {
        let value = value.into();
        self.shown.push_str(&format!(" {{{}}}", value.len()));
        self.pieces.push(Piece::Literal(value));
        self
    }

    fn push_text(&mut self, text: &str, shown: &str) {
        if let Some(Piece::Text(last)) = self.pieces.last_mut() {
            last.push(' ');
            last.push_str(text);
        } else {
            self.pieces.push(Piece::Text(format!(" {text}")));
        }
        self.shown.push(' ');
        self.shown.push_str(shown);
    }

    /// The command for the log.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether sending the command needs the server's `+` on the way.
    pub fn waits_for_continuation(&self, literal_plus: bool) -> bool {
        !literal_plus && self.pieces.iter().any(|p| matches!(p, Piece::Literal(_)))
    }

    /// The bytes to send under `tag`, in writes; see the module.
    pub fn encode(&self, tag: &str, literal_plus: bool) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        let mut bytes = format!("{tag} ").into_bytes();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => bytes.extend_from_slice(text.as_bytes()),
                Piece::Literal(value) if literal_plus => {
                    bytes.extend_from_slice(format!(" {{{}+}}\r\n", value.len()).as_bytes());
                    bytes.extend_from_slice(value);
                }
                Piece::Literal(value) => {
                    bytes.extend_from_slice(format!(" {{{}}}\r\n", value.len()).as_bytes());
                    chunks.push(Chunk {
                        bytes: std::mem::take(&mut bytes),
                        then_wait: true,
                    });
                    bytes.extend_from_slice(value);
                }
            }
        }
        bytes.extend_from_slice(b"\r\n");
        chunks.push(Chunk {
            bytes,
            then_wait: false,
        });
        chunks
    }
}

/// `"value"` with `\` and `"` escaped, when the value can be quoted at
/// all: 7-bit, without CR, LF or NUL (RFC 3501 quoted).
pub fn quotable(value: &[u8]) -> Option<String> {
    if value
        .iter()
        .any(|&b| matches!(b, b'\r' | b'\n' | 0) || b >= 0x80)
    {
        return None;
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for &b in value {
        if matches!(b, b'"' | b'\\') {
            quoted.push('\\');
        }
        quoted.push(b as char);
    }
    quoted.push('"');
    Some(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_write(command: &Command<'_>, literal_plus: bool) -> Vec<u8> {
        let chunks = command.encode("a1", literal_plus);
        assert_eq!(chunks.len(), 1);
        chunks[0].bytes.clone()
    }

    #[test]
    fn strings_are_quoted_when_they_can_be() {
        let command = Command::new("SELECT").string(b"Sent \"old\" \\ x");
        assert_eq!(
            one_write(&command, false),
            b"a1 SELECT \"Sent \\\"old\\\" \\\\ x\"\r\n"
        );
        assert_eq!(command.shown(), "SELECT \"Sent \\\"old\\\" \\\\ x\"");
    }

    #[test]
    fn a_synchronizing_literal_waits_for_the_server() {
        let message = b"From: a\r\n\r\n\0\xff body";
        let command = Command::new("APPEND")
            .string(b"INBOX")
            .atom("(\\Seen)")
            .literal(&message[..]);
        let chunks = command.encode("a7", false);
        assert_eq!(
            chunks,
            vec![
                Chunk {
                    bytes: b"a7 APPEND \"INBOX\" (\\Seen) {18}\r\n".to_vec(),
                    then_wait: true
                },
                Chunk {
                    bytes: [&message[..], b"\r\n"].concat(),
                    then_wait: false
                },
            ]
        );
        assert!(command.waits_for_continuation(false));
        assert_eq!(command.shown(), "APPEND \"INBOX\" (\\Seen) {18}");
    }

    #[test]
    fn literal_plus_sends_the_command_in_one_write() {
        let command = Command::new("APPEND")
            .string(b"INBOX")
            .literal(&b"x"[..])
            .literal(&b"yz"[..]);
        assert_eq!(
            one_write(&command, true),
            b"a1 APPEND \"INBOX\" {1+}\r\nx {2+}\r\nyz\r\n".as_slice()
        );
        assert!(!command.waits_for_continuation(true));
    }

    #[test]
    fn unquotable_strings_and_secrets_go_safely() {
        let command = Command::new("LOGIN")
            .string("jöe".as_bytes())
            .secret(b"pa\"ss");
        let chunks = command.encode("a1", true);
        assert_eq!(
            chunks[0].bytes,
            "a1 LOGIN {4+}\r\njöe \"pa\\\"ss\"\r\n".as_bytes()
        );
        assert_eq!(command.shown(), "LOGIN {4} <hidden>");
        let hidden = Command::new("LOGIN").atom("u").secret(b"line\nbreak");
        assert_eq!(hidden.shown(), "LOGIN u <hidden>");
    }
}
