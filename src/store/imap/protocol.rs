//! Pure pieces of the IMAP protocol the store needs beside the client:
//! quoting mailbox names, UID set syntax, folder name translation, and
//! reading the untagged data of a SELECT. No I/O here, so all of it is unit-tested.

use super::client::frame::{Framer, Limits};
use super::client::response::{self, Code, Data, Response};
use crate::store::mutf7;
use anyhow::{bail, Result};

/// Quotes a string for a command: `"` and `\` are escaped, CR, LF and NUL
/// cannot be sent in a quoted string at all and are refused.
pub fn quote(value: &str) -> Result<String> {
    Ok(format!("\"{}\"", escape_quoted(value)?))
}

/// The inside of a quoted string, without the surrounding quotes.
pub fn escape_quoted(value: &str) -> Result<String> {
    if let Some(bad) = value.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
        bail!("{value:?} contains {bad:?}, which cannot be sent to an IMAP server");
    }
    Ok(value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Writes UIDs as an IMAP sequence set with ranges: `1:5,7,9:12`.
/// Order and duplicates in the input do not matter.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut iter = sorted.into_iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end.wrapping_add(1))) && end != u32::MAX {
            end += 1;
            iter.next();
        }
        if start == end {
            parts.push(start.to_string());
        } else {
            parts.push(format!("{start}:{end}"));
        }
    }
    parts.join(",")
}

/// How many UIDs a set without `*` names (`1:3,7` names four); a set
/// that cannot be read counts as none.
pub fn set_size(set: &str) -> u32 {
    set_ranges(set)
        .unwrap_or_default()
        .iter()
        .map(|range| range.end() - range.start() + 1)
        .fold(0, u32::saturating_add)
}

/// Parses a message id of this store (a UID as decimal).
pub fn parse_uid(id: &str) -> Result<u32> {
    match id.parse::<u32>() {
        Ok(uid) if uid > 0 => Ok(uid),
        _ => bail!("{id:?} is not an IMAP UID"),
    }
}

/// Translates a canonical folder name (UTF-8, `/` between levels) to the
/// server's spelling: its hierarchy delimiter, modified UTF-7.
pub fn to_server_name(canonical: &str, delimiter: Option<char>) -> Result<String> {
    if canonical.is_empty() {
        bail!("an empty folder name cannot be used on an IMAP server");
    }
    if let Some(bad) = canonical.chars().find(|c| c.is_control()) {
        bail!("folder name {canonical:?} contains the control character {bad:?}");
    }
    if canonical.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".to_string());
    }
    let translated = match delimiter {
        Some('/') => canonical.to_string(),
        Some(delim) => {
            if canonical.contains(delim) {
                bail!(
                    "folder name {canonical:?} contains {delim:?}, the server's hierarchy \
                     delimiter, so the server cannot store it as one level"
                );
            }
            canonical.replace('/', &delim.to_string())
        }
        None => {
            if canonical.contains('/') {
                bail!("folder name {canonical:?} has levels, but the server has no hierarchy");
            }
            canonical.to_string()
        }
    };
    Ok(mutf7::encode(&translated))
}

/// Translates a server's folder name to the canonical form. A name whose
/// levels contain `/` has no canonical form and is an error.
pub fn from_server_name(server: &str, delimiter: Option<char>) -> Result<String> {
    if server.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".to_string());
    }
    let decoded = mutf7::decode(server)?;
    match delimiter {
        Some('/') | None => {
            if delimiter.is_none() && decoded.contains('/') {
                bail!(
                    "server folder {decoded:?} contains '/', which mailferry uses between levels"
                );
            }
            Ok(decoded)
        }
        Some(delim) => {
            if decoded.contains('/') {
                bail!(
                    "server folder {decoded:?} contains '/' inside a level, which mailferry \
                     uses between levels"
                );
            }
            Ok(decoded.replace(delim, "/"))
        }
    }
}

/// What a SELECT reports about the mailbox.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SelectData {
    pub exists: u32,
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub highest_modseq: Option<u64>,
}

/// The responses in the bytes of a server's answer, one by one; bytes that
/// do not frame or parse end it with an error naming `what` ("answer to
/// SELECT").
pub fn responses<'a>(lines: &'a [u8], what: &'static str) -> Responses<'a> {
    Responses { lines, what }
}

/// See [`responses`].
pub struct Responses<'a> {
    lines: &'a [u8],
    what: &'static str,
}

impl<'a> Iterator for Responses<'a> {
    type Item = Result<Response<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.lines.is_empty() {
            return None;
        }
        let framed = Framer::default().scan(self.lines, &Limits::default());
        let parsed = match framed {
            Ok(Some(length)) => {
                let (frame, rest) = self.lines.split_at(length);
                self.lines = rest;
                response::parse(frame).ok()
            }
            _ => None,
        };
        match parsed {
            Some(response) => Some(Ok(response)),
            None => {
                let error = anyhow::anyhow!(
                    "the server's {} cannot be parsed: {}",
                    self.what,
                    snippet(self.lines)
                );
                self.lines = &[];
                Some(Err(error))
            }
        }
    }
}

/// Reads the response lines of a SELECT (untagged data and the tagged
/// completion). Unknown untagged data is ignored; bytes that do not parse
/// are an error.
pub fn parse_select(lines: &[u8]) -> Result<SelectData> {
    let mut data = SelectData::default();
    for response in responses(lines, "answer to SELECT") {
        let code = match response? {
            Response::Untagged(Data::Exists(n)) => {
                data.exists = n;
                continue;
            }
            Response::Untagged(Data::Status(status)) | Response::Tagged { status, .. } => {
                status.code
            }
            _ => continue,
        };
        match code {
            Some(Code::UidValidity(v)) => data.uidvalidity = Some(v),
            Some(Code::UidNext(v)) => data.uidnext = Some(v),
            Some(Code::HighestModseq(v)) => data.highest_modseq = Some(v),
            _ => {}
        }
    }
    Ok(data)
}

/// The UID ranges of a set without `*` (`3:5,9`); `None` when it cannot
/// be read.
pub fn set_ranges(set: &str) -> Option<Vec<std::ops::RangeInclusive<u32>>> {
    set.split(',')
        .map(|part| match part.split_once(':') {
            Some((low, high)) => {
                let (low, high): (u32, u32) = (low.parse().ok()?, high.parse().ok()?);
                Some(low.min(high)..=low.max(high))
            }
            None => part.parse().ok().map(|uid| uid..=uid),
        })
        .collect()
}

/// A folder's version (see [`crate::store::FolderVersions::folder_version`]) from
/// what SELECT or STATUS reports: any message added or expunged changes
/// UIDNEXT or the count, any flag change HIGHESTMODSEQ, renumbering
/// UIDVALIDITY. Without HIGHESTMODSEQ (no CONDSTORE) flag changes would go
/// unseen, so there is no version.
pub fn folder_version(
    uidvalidity: Option<u32>,
    uidnext: Option<u32>,
    exists: Option<u32>,
    highest_modseq: Option<u64>,
) -> Option<String> {
    Some(format!(
        "{}.{}.{}.{}",
        uidvalidity?, uidnext?, exists?, highest_modseq?
    ))
}

/// Whether between two folder versions (of [`folder_version`]) no message
/// was added: the same UIDVALIDITY and UIDNEXT (a new message takes a new
/// UID, so moves UIDNEXT; flag changes and expunges do not).
pub fn nothing_added_between(before: &str, now: &str) -> bool {
    let numbering = |version: &str| {
        let mut parts = version.split('.');
        Some((parts.next()?.to_string(), parts.next()?.to_string()))
    };
    matches!((numbering(before), numbering(now)), (Some(a), Some(b)) if a == b)
}

/// The start of some server bytes, for an error message.
pub fn snippet(bytes: &[u8]) -> String {
    const LIMIT: usize = 200;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)]);
    let text = text.trim_end();
    if bytes.len() > LIMIT {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_tell_whether_a_message_was_added() {
        let before = folder_version(Some(7), Some(100), Some(90), Some(500)).unwrap();
        let flags_and_expunges = folder_version(Some(7), Some(100), Some(85), Some(530)).unwrap();
        let new_mail = folder_version(Some(7), Some(101), Some(91), Some(531)).unwrap();
        let renumbered = folder_version(Some(8), Some(100), Some(90), Some(500)).unwrap();
        assert!(nothing_added_between(&before, &flags_and_expunges));
        assert!(!nothing_added_between(&before, &new_mail));
        assert!(!nothing_added_between(&before, &renumbered));
        assert!(!nothing_added_between("", ""));
    }

    #[test]
    fn quote_escapes_backslash_and_double_quote() {
        assert_eq!(quote("INBOX").unwrap(), "\"INBOX\"");
        assert_eq!(quote(r#"a"b\c"#).unwrap(), r#""a\"b\\c""#);
        assert_eq!(quote("").unwrap(), "\"\"");
    }

    #[test]
    fn quote_refuses_line_breaks_and_nul() {
        for bad in ["a\rb", "a\nb", "a\0b"] {
            assert!(quote(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn set_sizes_count_every_uid_named() {
        assert_eq!(set_size("1:3,7"), 4);
        assert_eq!(set_size("9:5"), 5);
        assert_eq!(set_size("x"), 0);
        assert_eq!(set_ranges("3:5,9"), Some(vec![3..=5, 9..=9]));
        assert_eq!(set_ranges("3:*"), None);
    }

    #[test]
    fn uid_sets_compress_runs_into_ranges() {
        assert_eq!(uid_set(&[1, 2, 3, 4, 5, 7, 9, 10, 11, 12]), "1:5,7,9:12");
        assert_eq!(uid_set(&[12, 9, 7, 10, 11, 7]), "7,9:12");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }

    #[test]
    fn uids_must_be_positive_decimal_numbers() {
        assert_eq!(parse_uid("17").unwrap(), 17);
        assert!(parse_uid("0").is_err());
        assert!(parse_uid("x1").is_err());
        assert!(parse_uid("").is_err());
    }

    #[test]
    fn folder_names_translate_delimiter_and_encoding_both_ways() {
        assert_eq!(
            to_server_name("Archive/Données", Some('.')).unwrap(),
            "Archive.Donn&AOk-es"
        );
        assert_eq!(
            from_server_name("Archive.Donn&AOk-es", Some('.')).unwrap(),
            "Archive/Données"
        );
        assert_eq!(to_server_name("a/b", Some('/')).unwrap(), "a/b");
        assert_eq!(from_server_name("a/b", Some('/')).unwrap(), "a/b");
    }

    #[test]
    fn inbox_is_canonical_in_any_case() {
        assert_eq!(to_server_name("inbox", Some('.')).unwrap(), "INBOX");
        assert_eq!(from_server_name("Inbox", Some('.')).unwrap(), "INBOX");
    }

    #[test]
    fn names_that_cannot_be_mapped_are_errors() {
        // A level containing the server's delimiter.
        assert!(to_server_name("v1.2", Some('.')).is_err());
        // A server level containing our separator.
        assert!(from_server_name("a/b.c", Some('.')).is_err());
        // Levels on a flat server.
        assert!(to_server_name("a/b", None).is_err());
        assert!(to_server_name("", Some('/')).is_err());
        assert!(to_server_name("a\nb", Some('/')).is_err());
        assert!(from_server_name("Donn\u{e9}es", Some('/')).is_err());
    }

    #[test]
    fn select_data_is_read_from_untagged_responses() {
        let lines = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
            * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n\
            * 3 EXISTS\r\n\
            * 0 RECENT\r\n\
            * OK [UIDVALIDITY 1700000000] UIDs valid\r\n\
            * OK [UIDNEXT 4] Predicted next UID\r\n\
            * OK [HIGHESTMODSEQ 9] Highest\r\n\
            a3 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n";
        let data = parse_select(lines).unwrap();
        assert_eq!(
            data,
            SelectData {
                exists: 3,
                uidvalidity: Some(1_700_000_000),
                uidnext: Some(4),
                highest_modseq: Some(9),
            }
        );
    }

    #[test]
    fn untagged_no_during_select_is_ignored_not_a_panic() {
        let lines = b"* NO [ALERT] Mailbox is almost full\r\n* 1 EXISTS\r\na1 OK done\r\n";
        assert_eq!(parse_select(lines).unwrap().exists, 1);
    }

    #[test]
    fn garbage_in_select_answer_is_an_error() {
        let error = parse_select(b"* 1 EXISTS\r\n)))garbage\r\na1 OK done\r\n").unwrap_err();
        assert!(error.to_string().contains("cannot be parsed"), "{error}");
    }
}
