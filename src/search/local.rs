//! Evaluating a [`Query`] on a message we hold (a Maildir file), by
//! reading it: the local counterpart of the server's SEARCH.
//!
//! Like IMAP SEARCH, strings match as case-insensitive substrings. Headers
//! are decoded (RFC 2047 encoded words, folded lines) before matching, so
//! `subject:Grüße` finds `=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=`. `body:` looks at the
//! decoded text of every text/* part (transfer encoding and charset undone);
//! when the MIME structure cannot be parsed it falls back to the raw bytes
//! after the header. `text:` is headers and body. Dates compare the day of
//! the arrival time (the file's mtime, as IMAP compares INTERNALDATE) in UTC.

use super::query::{Query, Term};
use crate::mail::Flags;
use chrono::{DateTime, NaiveDate};
use std::cell::OnceCell;

/// A message as the evaluator sees it; the parsed parts are computed on
/// first use, so a query on flags alone never parses the message.
pub struct Candidate<'a> {
    content: &'a [u8],
    flags: Flags,
    size: u64,
    /// Arrival time, unix seconds.
    date: Option<i64>,
    headers: OnceCell<Headers>,
    body: OnceCell<String>,
}

/// The decoded header fields a query can ask about, lower-cased.
struct Headers {
    from: String,
    to: String,
    subject: String,
    /// Every header line, decoded, for `text:`.
    all: String,
}

impl<'a> Candidate<'a> {
    pub fn new(content: &'a [u8], flags: Flags, size: u64, date: Option<i64>) -> Candidate<'a> {
        Candidate {
            content,
            flags,
            size,
            date,
            headers: OnceCell::new(),
            body: OnceCell::new(),
        }
    }

    /// Whether the message matches the query.
    pub fn matches(&self, query: &Query) -> bool {
        match query {
            Query::And(parts) => parts.iter().all(|part| self.matches(part)),
            Query::Or(left, right) => self.matches(left) || self.matches(right),
            Query::Not(inner) => !self.matches(inner),
            Query::Term(term) => self.matches_term(term),
        }
    }

    fn matches_term(&self, term: &Term) -> bool {
        match term {
            Term::From(needle) => contains(&self.headers().from, needle),
            Term::To(needle) => contains(&self.headers().to, needle),
            Term::Subject(needle) => contains(&self.headers().subject, needle),
            Term::Body(needle) => contains(self.body(), needle),
            Term::Text(needle) => {
                contains(&self.headers().all, needle) || contains(self.body(), needle)
            }
            Term::Since(day) => self.day().is_some_and(|d| d >= *day),
            Term::Before(day) => self.day().is_some_and(|d| d < *day),
            Term::Larger(bytes) => self.size > *bytes,
            Term::Smaller(bytes) => self.size < *bytes,
            Term::Flag(flag, set) => self.flags.contains(flag.flags()) == *set,
        }
    }

    fn day(&self) -> Option<NaiveDate> {
        self.date
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .map(|d| d.date_naive())
    }

    fn headers(&self) -> &Headers {
        self.headers.get_or_init(|| {
            let (fields, _) = mailparse::parse_headers(self.content).unwrap_or_default();
            let joined = |name: &str| {
                fields
                    .iter()
                    .filter(|h| h.get_key_ref().eq_ignore_ascii_case(name))
                    .map(|h| h.get_value().to_lowercase())
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Headers {
                from: joined("From"),
                to: joined("To"),
                subject: joined("Subject"),
                all: fields
                    .iter()
                    .map(|h| format!("{}: {}", h.get_key_ref(), h.get_value()).to_lowercase())
                    .collect::<Vec<_>>()
                    .join("\n"),
            }
        })
    }

    fn body(&self) -> &str {
        self.body
            .get_or_init(|| body_text(self.content).to_lowercase())
    }
}

/// The decoded text of every text/* part; the raw body if the message does
/// not parse as MIME.
fn body_text(content: &[u8]) -> String {
    let Ok(mail) = mailparse::parse_mail(content) else {
        return String::from_utf8_lossy(after_header(content)).into_owned();
    };
    let mut text = String::new();
    let mut stack = vec![&mail];
    while let Some(part) = stack.pop() {
        if !part.subparts.is_empty() {
            // Reversed so the parts come out in order.
            stack.extend(part.subparts.iter().rev());
            continue;
        }
        let is_text = part
            .ctype
            .mimetype
            .to_ascii_lowercase()
            .starts_with("text/");
        if !is_text {
            continue;
        }
        match part.get_body() {
            Ok(body) => text.push_str(&body),
            Err(_) => text.push_str(&String::from_utf8_lossy(
                part.get_body_raw().as_deref().unwrap_or(&[]),
            )),
        }
        text.push('\n');
    }
    text
}

/// The bytes after the blank line that ends the header.
fn after_header(content: &[u8]) -> &[u8] {
    for separator in [&b"\r\n\r\n"[..], b"\n\n"] {
        if let Some(at) = content
            .windows(separator.len())
            .position(|w| w == separator)
        {
            return &content[at + separator.len()..];
        }
    }
    &[]
}

/// Case-insensitive substring test; `haystack` is already lower-case.
fn contains(haystack: &str, needle: &str) -> bool {
    haystack.contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::super::query::parse;
    use super::*;

    const MESSAGE: &[u8] = b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>\r\n\
        To: Alice <alice@example.org>\r\n\
        Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus?=\r\n =?UTF-8?Q?_K=C3=B6ln?=\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n\
        Die Rechnung f=C3=BCr M=C3=A4rz liegt bei.\r\n";

    fn matches(query: &str) -> bool {
        // 2024-03-05 12:00 UTC.
        let candidate = Candidate::new(MESSAGE, Flags::SEEN, 2_000, Some(1_709_640_000));
        candidate.matches(&parse(query).unwrap())
    }

    #[test]
    fn encoded_headers_are_decoded_and_matched_without_case() {
        assert!(matches("from:jürgen"));
        assert!(matches("from:JM@EXAMPLE"));
        assert!(matches("subject:\"grüße aus köln\""));
        assert!(matches("to:alice"));
        assert!(!matches("to:jm"));
        assert!(!matches("subject:invoice"));
    }

    #[test]
    fn body_is_decoded_from_quoted_printable() {
        assert!(matches("body:\"für märz\""));
        assert!(!matches("body:köln"));
        assert!(matches("text:köln"));
        assert!(matches("text:märz"));
    }

    #[test]
    fn dates_sizes_and_flags() {
        assert!(matches("since:2024-03-05 before:2024-03-06"));
        assert!(!matches("since:2024-03-06"));
        assert!(!matches("before:2024-03-05"));
        assert!(matches("larger:1k smaller:2001"));
        assert!(!matches("larger:2000"));
        assert!(matches("seen not flagged"));
        assert!(matches("unseen or answered or from:müller"));
        assert!(!matches("unseen or draft"));
    }

    #[test]
    fn a_message_that_is_not_mime_is_searched_raw() {
        let raw = b"Subject: plain\n\nJust words here\n";
        let candidate = Candidate::new(raw, Flags::EMPTY, 30, None);
        assert!(candidate.matches(&parse("body:words").unwrap()));
        // No arrival time: date criteria never match.
        assert!(!candidate.matches(&parse("since:1970-01-01").unwrap()));
    }
}
