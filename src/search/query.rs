//! The search query language: a tokenizer and a recursive-descent parser
//! from text such as `from:alice subject:"invoice" since:2024-01-01 unseen`
//! to a [`Query`] tree. No I/O: the tree is translated to IMAP SEARCH keys
//! by [`super::imap`] and evaluated over local files by [`super::local`].
//!
//! Grammar (keywords in any case):
//! ```text
//! query    := or_expr
//! or_expr  := and_expr ("or" and_expr)*
//! and_expr := unary ("and"? unary)*          -- criteria side by side: AND
//! unary    := "not" unary | "(" or_expr ")" | criterion
//! criterion:= key ":" value | flag-word
//! ```
//! A value may be quoted (`subject:"two words"`, `\"` and `\\` inside).
//! Errors carry the character position of the offending word so the caller
//! can draw a caret under it.

use crate::mail::Flags;
use chrono::NaiveDate;
use std::fmt;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Every part must match (never empty).
    And(Vec<Query>),
    /// Either side matches.
    Or(Box<Query>, Box<Query>),
    Not(Box<Query>),
    Term(Term),
}

/// One criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Substring of the header, case-insensitive.
    From(String),
    To(String),
    Subject(String),
    /// Substring of the body text.
    Body(String),
    /// Substring of the headers or the body.
    Text(String),
    /// Arrived on or after this day (IMAP SINCE, on INTERNALDATE).
    Since(NaiveDate),
    /// Arrived before this day (IMAP BEFORE).
    Before(NaiveDate),
    /// Larger than this many bytes.
    Larger(u64),
    /// Smaller than this many bytes.
    Smaller(u64),
    /// The flag is set (`true`) or not set (`false`).
    Flag(FlagTerm, bool),
}

/// The flags a query can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagTerm {
    Seen,
    Flagged,
    Answered,
    Draft,
}

impl FlagTerm {
    pub fn flags(self) -> Flags {
        match self {
            FlagTerm::Seen => Flags::SEEN,
            FlagTerm::Flagged => Flags::FLAGGED,
            FlagTerm::Answered => Flags::ANSWERED,
            FlagTerm::Draft => Flags::DRAFT,
        }
    }
}

/// The flag words and what each means.
const FLAG_WORDS: &[(&str, FlagTerm, bool)] = &[
    ("seen", FlagTerm::Seen, true),
    ("unseen", FlagTerm::Seen, false),
    ("read", FlagTerm::Seen, true),
    ("unread", FlagTerm::Seen, false),
    ("flagged", FlagTerm::Flagged, true),
    ("unflagged", FlagTerm::Flagged, false),
    ("answered", FlagTerm::Answered, true),
    ("unanswered", FlagTerm::Answered, false),
    ("draft", FlagTerm::Draft, true),
    ("undraft", FlagTerm::Draft, false),
];

const KEYS: &str = "from:, to:, subject:, body:, text:, since:, before:, larger:, smaller:";

/// A malformed query: what is wrong and where (character positions in the
/// query text), so the message can point at the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    /// Character offset of the offending word.
    pub start: usize,
    /// Its length in characters (at least 1).
    pub width: usize,
    /// The whole query, to print above the caret line.
    pub query: String,
}

impl fmt::Display for QueryError {
    /// Three lines: the message, the query, carets under the word.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "bad query: {}", self.message)?;
        writeln!(f, "  {}", self.query)?;
        write!(
            f,
            "  {}{}",
            " ".repeat(self.start),
            "^".repeat(self.width.max(1))
        )
    }
}

impl std::error::Error for QueryError {}

/// One token with its place in the query (character offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: TokenKind,
    start: usize,
    width: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    Open,
    Close,
    /// A word. `key` is the part before the first unquoted `:` (lower
    /// case), `value` the rest with quotes removed; `quoted` tells that a
    /// quote appeared, so `"or"` is a value and not the keyword.
    Word {
        key: Option<String>,
        value: String,
        quoted: bool,
    },
}

/// Parses query text into a tree.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        text,
        tokens,
        next: 0,
    };
    if parser.tokens.is_empty() {
        return Err(parser.error_at(0, 1, "the query is empty".to_string()));
    }
    let query = parser.or_expr()?;
    if let Some(token) = parser.peek() {
        let token = token.clone();
        let message = match token.kind {
            TokenKind::Close => "this ')' has no matching '('".to_string(),
            _ => "unexpected word".to_string(),
        };
        return Err(parser.error_at(token.start, token.width, message));
    }
    Ok(query)
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let error = |start: usize, width: usize, message: &str| QueryError {
        message: message.to_string(),
        start,
        width,
        query: text.to_string(),
    };
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '(' || c == ')' {
            let kind = if c == '(' {
                TokenKind::Open
            } else {
                TokenKind::Close
            };
            tokens.push(Token {
                kind,
                start: i,
                width: 1,
            });
            i += 1;
            continue;
        }
        let start = i;
        let mut key = None;
        let mut value = String::new();
        let mut quoted = false;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() || c == '(' || c == ')' {
                break;
            }
            if c == '"' {
                let quote_at = i;
                quoted = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(error(
                                quote_at,
                                chars.len() - quote_at,
                                "this quote is never closed",
                            ))
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if i + 1 < chars.len() => {
                            value.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&other) => {
                            value.push(other);
                            i += 1;
                        }
                    }
                }
                continue;
            }
            if c == ':' && key.is_none() && !quoted {
                key = Some(value.to_lowercase());
                value.clear();
            } else {
                value.push(c);
            }
            i += 1;
        }
        tokens.push(Token {
            kind: TokenKind::Word { key, value, quoted },
            start,
            width: i - start,
        });
    }
    Ok(tokens)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    next: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn error_at(&self, start: usize, width: usize, message: String) -> QueryError {
        QueryError {
            message,
            start,
            width,
            query: self.text.to_string(),
        }
    }

    /// The position just after the last token, for "missing ..." errors.
    fn end(&self) -> usize {
        self.text.chars().count()
    }

    /// Whether the next token is the unquoted keyword `word`.
    fn at_keyword(&self, word: &str) -> bool {
        matches!(
            self.peek(),
            Some(Token { kind: TokenKind::Word { key: None, value, quoted: false }, .. })
                if value.eq_ignore_ascii_case(word)
        )
    }

    fn or_expr(&mut self) -> Result<Query, QueryError> {
        let mut left = self.and_expr()?;
        while self.at_keyword("or") {
            self.next += 1;
            let right = self.and_expr()?;
            left = Query::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Query, QueryError> {
        let mut parts = vec![self.unary()?];
        loop {
            match self.peek() {
                None => break,
                Some(Token {
                    kind: TokenKind::Close,
                    ..
                }) => break,
                Some(_) if self.at_keyword("or") => break,
                Some(_) => {
                    if self.at_keyword("and") {
                        self.next += 1;
                    }
                    parts.push(self.unary()?);
                }
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        let Some(token) = self.peek().cloned() else {
            let end = self.end();
            return Err(self.error_at(
                end,
                1,
                "the query ends where a criterion is expected".to_string(),
            ));
        };
        self.next += 1;
        match token.kind {
            TokenKind::Open => {
                let inner = self.or_expr()?;
                match self.peek() {
                    Some(Token {
                        kind: TokenKind::Close,
                        ..
                    }) => {
                        self.next += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error_at(token.start, 1, "this '(' is never closed".to_string())),
                }
            }
            TokenKind::Close => Err(self.error_at(
                token.start,
                1,
                "a criterion is expected before this ')'".to_string(),
            )),
            TokenKind::Word { key, value, quoted } => {
                let keyword = key.is_none() && !quoted;
                if keyword && value.eq_ignore_ascii_case("not") {
                    return Ok(Query::Not(Box::new(self.unary()?)));
                }
                if keyword
                    && (value.eq_ignore_ascii_case("or") || value.eq_ignore_ascii_case("and"))
                {
                    return Err(self.error_at(
                        token.start,
                        token.width,
                        format!(
                            "\"{value}\" needs a criterion on each side, e.g. from:alice {} from:bob",
                            value.to_lowercase()
                        ),
                    ));
                }
                criterion(key, value, quoted)
                    .map(Query::Term)
                    .map_err(|message| self.error_at(token.start, token.width, message))
            }
        }
    }
}

/// One criterion from a word's key and value; the error is the message
/// alone, the caller adds the position.
fn criterion(key: Option<String>, value: String, quoted: bool) -> Result<Term, String> {
    let Some(key) = key else {
        if !quoted {
            let lower = value.to_lowercase();
            if let Some((_, flag, set)) = FLAG_WORDS.iter().find(|(w, _, _)| *w == lower) {
                return Ok(Term::Flag(*flag, *set));
            }
        }
        return Err(format!(
            "{value:?} is not a criterion; write text:{} to search for it, or use one of \
                 {KEYS}, seen, unseen, flagged, answered, draft",
            if value.contains(' ') {
                format!("{value:?}")
            } else {
                value.clone()
            }
        ));
    };
    let need_value = |what: &str| -> Result<String, String> {
        if value.is_empty() {
            Err(format!("{key}: needs {what} after the colon"))
        } else {
            Ok(value.clone())
        }
    };
    match key.as_str() {
        "from" => Ok(Term::From(need_value("a name or address")?)),
        "to" => Ok(Term::To(need_value("a name or address")?)),
        "subject" => Ok(Term::Subject(need_value("some text")?)),
        "body" => Ok(Term::Body(need_value("some text")?)),
        "text" => Ok(Term::Text(need_value("some text")?)),
        "since" => Ok(Term::Since(parse_date(&key, &need_value("a date")?)?)),
        "before" => Ok(Term::Before(parse_date(&key, &need_value("a date")?)?)),
        "larger" => Ok(Term::Larger(parse_size(&key, &need_value("a size")?)?)),
        "smaller" => Ok(Term::Smaller(parse_size(&key, &need_value("a size")?)?)),
        other => Err(format!("unknown criterion \"{other}:\"; known: {KEYS}")),
    }
}

/// `YYYY-MM-DD`.
fn parse_date(key: &str, value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| format!("{key}: expects a date as YYYY-MM-DD, e.g. {key}:2024-01-31"))
}

/// Bytes, or a number with k, M or G (powers of 1024).
fn parse_size(key: &str, value: &str) -> Result<u64, String> {
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if multiplier > 0 => n
            .checked_mul(multiplier)
            .filter(|&bytes| bytes <= u64::from(u32::MAX))
            .ok_or_else(|| format!("{key}: {value} is too large (at most 4G)")),
        _ => Err(format!(
            "{key}: expects a size in bytes, or with k, M or G, e.g. {key}:500k"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(t: Term) -> Query {
        Query::Term(t)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn criteria_side_by_side_are_anded() {
        let query = parse("from:alice subject:\"the invoice\" since:2024-01-01 unseen").unwrap();
        assert_eq!(
            query,
            Query::And(vec![
                term(Term::From("alice".into())),
                term(Term::Subject("the invoice".into())),
                term(Term::Since(date(2024, 1, 1))),
                term(Term::Flag(FlagTerm::Seen, false)),
            ])
        );
    }

    #[test]
    fn or_binds_looser_than_and_and_not_tighter() {
        let query = parse("from:a flagged or not seen").unwrap();
        assert_eq!(
            query,
            Query::Or(
                Box::new(Query::And(vec![
                    term(Term::From("a".into())),
                    term(Term::Flag(FlagTerm::Flagged, true)),
                ])),
                Box::new(Query::Not(Box::new(term(Term::Flag(FlagTerm::Seen, true))))),
            )
        );
    }

    #[test]
    fn parentheses_group_and_keywords_ignore_case() {
        let query = parse("NOT (from:a OR from:b) AND draft").unwrap();
        assert_eq!(
            query,
            Query::And(vec![
                Query::Not(Box::new(Query::Or(
                    Box::new(term(Term::From("a".into()))),
                    Box::new(term(Term::From("b".into()))),
                ))),
                term(Term::Flag(FlagTerm::Draft, true)),
            ])
        );
    }

    #[test]
    fn sizes_take_k_m_g_and_dates_are_iso() {
        assert_eq!(
            parse("larger:1M smaller:500k").unwrap(),
            Query::And(vec![
                term(Term::Larger(1 << 20)),
                term(Term::Smaller(500 << 10)),
            ])
        );
        assert_eq!(
            parse("before:2024-12-31").unwrap(),
            term(Term::Before(date(2024, 12, 31)))
        );
    }

    #[test]
    fn quoted_values_keep_spaces_escapes_and_non_ascii() {
        assert_eq!(
            parse(r#"subject:"Grüße \"aus\" Köln""#).unwrap(),
            term(Term::Subject("Grüße \"aus\" Köln".into()))
        );
        // A quoted keyword is a value, not the keyword.
        assert!(parse(r#"text:"or""#).is_ok());
        assert_eq!(
            parse(r#"from:"o'brien:x""#).unwrap(),
            term(Term::From("o'brien:x".into()))
        );
    }

    fn error(text: &str) -> QueryError {
        parse(text).unwrap_err()
    }

    #[test]
    fn unknown_key_points_at_its_word() {
        let e = error("unseen form:alice");
        assert!(e.message.contains("unknown criterion \"form:\""), "{e}");
        assert_eq!((e.start, e.width), (7, 10));
        assert_eq!(
            e.to_string(),
            "bad query: unknown criterion \"form:\"; known: from:, to:, subject:, body:, text:, \
             since:, before:, larger:, smaller:\n  unseen form:alice\n         ^^^^^^^^^^"
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let e = error("subject:Grüße since:yesterday");
        assert!(e.message.contains("YYYY-MM-DD"), "{e}");
        assert_eq!((e.start, e.width), (14, 15));
    }

    #[test]
    fn bare_words_suggest_text() {
        let e = error("from:a invoice");
        assert!(e.message.contains("text:invoice"), "{e}");
        assert_eq!((e.start, e.width), (7, 7));
    }

    #[test]
    fn structural_mistakes_are_located() {
        let e = error("(from:a or from:b");
        assert_eq!(
            (e.start, e.message.as_str()),
            (0, "this '(' is never closed")
        );
        let e = error("from:a )");
        assert_eq!(e.start, 7);
        let e = error("from:a or");
        assert_eq!(e.start, 9);
        assert!(e.message.contains("ends"), "{e}");
        let e = error("or from:a");
        assert_eq!(e.start, 0);
        let e = error(r#"subject:"open"#);
        assert_eq!(
            (e.start, e.message.as_str()),
            (8, "this quote is never closed")
        );
        let e = error("  ");
        assert_eq!(e.message, "the query is empty");
        let e = error("larger:12X");
        assert!(e.message.contains("k, M or G"), "{e}");
        let e = error("from:");
        assert!(e.message.contains("needs"), "{e}");
    }
}
