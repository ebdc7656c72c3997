//! From a [`Query`] to the keys of an IMAP `UID SEARCH` (RFC 3501 6.4.4):
//! AND is keys side by side, `OR a b` and `NOT a` take one key each, so
//! groups are parenthesised.
//!
//! Strings are quoted and escaped here. A string that cannot go in a quoted
//! string (non-ASCII, or CR/LF) is sent as a literal; the whole search then
//! starts with `CHARSET UTF-8`. Literals are sent non-synchronizing
//! (`{n+}`, LITERAL+ / RFC 7888) when the server allows, since the keys
//! are built here as one line of text. Without LITERAL+ such strings go in
//! a quoted string as raw UTF-8, which Dovecot accepts (RFC 3501 allows
//! only 7-bit there; a stricter server will answer BAD and the search of
//! that folder fails with the server's words). Sending them as
//! synchronizing literals instead would need the keys handed to the IMAP
//! client as parts rather than text.

use super::query::{FlagTerm, Query, Term};
use crate::store::imap::search::Literals;
use anyhow::{bail, Result};
use chrono::NaiveDate;

/// The search keys for `query`, ready to follow `UID SEARCH `.
pub fn search_keys(query: &Query, literals: Literals) -> Result<String> {
    let mut keys = String::new();
    let mut needs_charset = false;
    write_keys(query, literals, &mut keys, &mut needs_charset)?;
    Ok(if needs_charset {
        format!("CHARSET UTF-8 {keys}")
    } else {
        keys
    })
}

/// Writes `query` as a list of keys (AND).
fn write_keys(
    query: &Query,
    literals: Literals,
    out: &mut String,
    needs_charset: &mut bool,
) -> Result<()> {
    match query {
        Query::And(parts) => {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_keys(part, literals, out, needs_charset)?;
            }
        }
        Query::Or(left, right) => {
            out.push_str("OR ");
            write_single_key(left, literals, out, needs_charset)?;
            out.push(' ');
            write_single_key(right, literals, out, needs_charset)?;
        }
        Query::Not(inner) => {
            out.push_str("NOT ");
            write_single_key(inner, literals, out, needs_charset)?;
        }
        Query::Term(term) => write_term(term, literals, out, needs_charset)?,
    }
    Ok(())
}

/// Writes `query` as one key: an AND of several is parenthesised.
fn write_single_key(
    query: &Query,
    literals: Literals,
    out: &mut String,
    needs_charset: &mut bool,
) -> Result<()> {
    if let Query::And(parts) = query {
        if parts.len() > 1 {
            out.push('(');
            write_keys(query, literals, out, needs_charset)?;
            out.push(')');
            return Ok(());
        }
    }
    write_keys(query, literals, out, needs_charset)
}

fn write_term(
    term: &Term,
    literals: Literals,
    out: &mut String,
    needs_charset: &mut bool,
) -> Result<()> {
    let mut string_key = |key: &str, value: &str| -> Result<()> {
        out.push_str(key);
        out.push(' ');
        out.push_str(&imap_string(value, literals, needs_charset)?);
        Ok(())
    };
    match term {
        Term::From(v) => string_key("FROM", v)?,
        Term::To(v) => string_key("TO", v)?,
        Term::Subject(v) => string_key("SUBJECT", v)?,
        Term::Body(v) => string_key("BODY", v)?,
        Term::Text(v) => string_key("TEXT", v)?,
        Term::Since(d) => out.push_str(&format!("SINCE {}", imap_date(*d))),
        Term::Before(d) => out.push_str(&format!("BEFORE {}", imap_date(*d))),
        Term::Larger(n) => out.push_str(&format!("LARGER {n}")),
        Term::Smaller(n) => out.push_str(&format!("SMALLER {n}")),
        Term::Flag(flag, set) => {
            let name = match flag {
                FlagTerm::Seen => "SEEN",
                FlagTerm::Flagged => "FLAGGED",
                FlagTerm::Answered => "ANSWERED",
                FlagTerm::Draft => "DRAFT",
            };
            if !set {
                out.push_str("UN");
            }
            out.push_str(name);
        }
    }
    Ok(())
}

/// RFC 3501 `date`: `1-Feb-2024`.
fn imap_date(date: NaiveDate) -> String {
    date.format("%-d-%b-%Y").to_string()
}

/// A search string as a quoted string or a literal.
fn imap_string(value: &str, literals: Literals, needs_charset: &mut bool) -> Result<String> {
    if value.contains('\0') {
        bail!("a search string cannot contain a NUL character");
    }
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !plain {
        *needs_charset = true;
    }
    if plain {
        return Ok(quoted(value));
    }
    match literals {
        Literals::NonSynchronizing => Ok(format!("{{{}+}}\r\n{value}", value.len())),
        Literals::None => {
            if value.contains(['\r', '\n']) {
                bail!(
                    "the server does not accept LITERAL+, so a search string cannot contain a \
                     line break"
                );
            }
            Ok(quoted(value))
        }
    }
}

fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::super::query::parse;
    use super::*;

    fn keys(text: &str) -> String {
        search_keys(&parse(text).unwrap(), Literals::NonSynchronizing).unwrap()
    }

    #[test]
    fn each_criterion_has_its_key() {
        assert_eq!(
            keys("from:alice to:bob subject:x body:y text:z"),
            r#"FROM "alice" TO "bob" SUBJECT "x" BODY "y" TEXT "z""#
        );
        assert_eq!(
            keys("since:2024-01-05 before:2024-12-31 larger:1k smaller:2M"),
            "SINCE 5-Jan-2024 BEFORE 31-Dec-2024 LARGER 1024 SMALLER 2097152"
        );
        assert_eq!(
            keys("seen unseen flagged unflagged answered draft"),
            "SEEN UNSEEN FLAGGED UNFLAGGED ANSWERED DRAFT"
        );
    }

    #[test]
    fn or_and_not_take_single_keys_so_groups_get_parentheses() {
        assert_eq!(
            keys("from:a flagged or not (seen draft)"),
            r#"OR (FROM "a" FLAGGED) NOT (SEEN DRAFT)"#
        );
        assert_eq!(
            keys("from:a or from:b or from:c"),
            r#"OR OR FROM "a" FROM "b" FROM "c""#
        );
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(
            keys(r#"subject:"a \"b\" c\\d""#),
            r#"SUBJECT "a \"b\" c\\d""#
        );
    }

    #[test]
    fn non_ascii_goes_as_a_literal_under_charset_utf8() {
        assert_eq!(
            keys("subject:Grüße flagged"),
            "CHARSET UTF-8 SUBJECT {7+}\r\nGrüße FLAGGED"
        );
        let without = search_keys(&parse("subject:Grüße").unwrap(), Literals::None).unwrap();
        assert_eq!(without, "CHARSET UTF-8 SUBJECT \"Grüße\"");
    }
}
