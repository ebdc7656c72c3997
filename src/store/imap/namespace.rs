//! The NAMESPACE answer (RFC 2342): where a server keeps the user's own
//! folders (the personal namespace: a prefix such as `INBOX.` and a
//! hierarchy delimiter), other users' folders and shared folders.
//!
//! A small reader of its own: three lists, each NIL or a parenthesised list of `(prefix delimiter
//! extensions...)`, with quoted strings, literals and NIL where RFC 3501
//! allows them. Pure, so all of it is unit-tested.

use anyhow::{anyhow, bail, Result};

/// One namespace: folders whose server name starts with `prefix` and
/// whose levels are separated by `delimiter` (`None`: a flat namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// In the server's spelling (modified UTF-7), as sent.
    pub prefix: String,
    pub delimiter: Option<char>,
}

/// The three kinds of namespace a server may have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub personal: Vec<Namespace>,
    pub other_users: Vec<Namespace>,
    pub shared: Vec<Namespace>,
}

impl Namespaces {
    /// The personal namespace folders are synced in: the first one the
    /// server names (RFC 2342 puts the default first).
    pub fn main_personal(&self) -> Option<&Namespace> {
        self.personal.first()
    }

    /// `(("INBOX." ".")) NIL NIL` style, for `check` and `list`.
    pub fn describe(&self) -> String {
        [&self.personal, &self.other_users, &self.shared]
            .iter()
            .map(|list| describe_list(list))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn describe_list(list: &[Namespace]) -> String {
    if list.is_empty() {
        return "NIL".to_string();
    }
    let inner: Vec<String> = list
        .iter()
        .map(|ns| {
            let delimiter = ns
                .delimiter
                .map(|d| format!("{:?}", d.to_string()))
                .unwrap_or_else(|| "NIL".to_string());
            format!("({:?} {delimiter})", ns.prefix)
        })
        .collect();
    format!("({})", inner.join(""))
}

/// Reads the `* NAMESPACE` response in a server's answer (other untagged
/// lines and the tagged line are passed over). `None` when there is none.
pub fn parse_namespace_answer(answer: &[u8]) -> Result<Option<Namespaces>> {
    let mut rest = answer;
    while !rest.is_empty() {
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        const KEY: &[u8] = b"* NAMESPACE ";
        if rest.len() >= KEY.len() && rest[..KEY.len()].eq_ignore_ascii_case(KEY) {
            return parse_namespace_data(&rest[KEY.len()..]).map(Some);
        }
        rest = &rest[line_end..];
    }
    Ok(None)
}

/// Parses what follows `* NAMESPACE `: the three lists, up to the line's
/// end.
pub fn parse_namespace_data(bytes: &[u8]) -> Result<Namespaces> {
    let mut reader = Reader { bytes, at: 0 };
    let personal = reader.namespace_list()?;
    reader.space()?;
    let other_users = reader.namespace_list()?;
    reader.space()?;
    let shared = reader.namespace_list()?;
    reader.line_end()?;
    Ok(Namespaces {
        personal,
        other_users,
        shared,
    })
}

/// A cursor over the response bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn error(&self, expected: &str) -> anyhow::Error {
        let rest = &self.bytes[self.at.min(self.bytes.len())..];
        anyhow!(
            "the server's NAMESPACE answer cannot be parsed: expected {expected} at {}",
            super::protocol::snippet(rest)
        )
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn space(&mut self) -> Result<()> {
        self.expect(b' ', "a space")
    }

    fn line_end(&mut self) -> Result<()> {
        // Some servers pad with a space before the line end.
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
        match self.peek() {
            None | Some(b'\r') | Some(b'\n') => Ok(()),
            Some(_) => Err(self.error("the end of the line")),
        }
    }

    /// `NIL` (case-insensitive), consumed when it is next.
    fn nil(&mut self) -> bool {
        let end = self.at + 3;
        if self.bytes.len() >= end && self.bytes[self.at..end].eq_ignore_ascii_case(b"NIL") {
            self.at = end;
            true
        } else {
            false
        }
    }

    /// NIL or `(` one or more namespace descriptions `)`.
    fn namespace_list(&mut self) -> Result<Vec<Namespace>> {
        if self.nil() {
            return Ok(Vec::new());
        }
        self.expect(b'(', "NIL or a list of namespaces")?;
        let mut list = Vec::new();
        loop {
            // Spaces between descriptions are not in the grammar, but
            // some servers write them.
            while self.peek() == Some(b' ') {
                self.at += 1;
            }
            match self.peek() {
                Some(b')') => {
                    self.at += 1;
                    break;
                }
                Some(b'(') => list.push(self.namespace()?),
                _ => return Err(self.error("a namespace or ')'")),
            }
        }
        Ok(list)
    }

    /// `(prefix delimiter *(SP extension))`.
    fn namespace(&mut self) -> Result<Namespace> {
        self.expect(b'(', "'('")?;
        let prefix = self.string()?;
        self.space()?;
        let delimiter = if self.nil() {
            None
        } else {
            let text = self.string()?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(delimiter), None) => Some(delimiter),
                _ => bail!(
                    "the server's NAMESPACE answer gives {text:?} as a hierarchy delimiter, \
                     which must be one character"
                ),
            }
        };
        // Extensions: SP string SP (string *(SP string)); skipped.
        while self.peek() == Some(b' ') {
            self.at += 1;
            self.string()?;
            self.space()?;
            self.string_list()?;
        }
        self.expect(b')', "')' after a namespace")?;
        Ok(Namespace { prefix, delimiter })
    }

    /// `(string *(SP string))`, the values of an extension.
    fn string_list(&mut self) -> Result<()> {
        self.expect(b'(', "a list of extension values")?;
        loop {
            match self.peek() {
                Some(b')') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(b' ') => self.at += 1,
                _ => {
                    self.string()?;
                }
            }
        }
    }

    /// A quoted string or a literal.
    fn string(&mut self) -> Result<String> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err(self.error("a string")),
        }
    }

    fn quoted(&mut self) -> Result<String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(escaped @ (b'"' | b'\\')) => out.push(escaped),
                        _ => return Err(self.error("'\"' or '\\' after '\\'")),
                    }
                    self.at += 1;
                }
                Some(b'\r' | b'\n') | None => return Err(self.error("the closing '\"'")),
                Some(byte) => {
                    out.push(byte);
                    self.at += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.error("UTF-8 in a quoted string"))
    }

    /// `{n}` CRLF and n bytes.
    fn literal(&mut self) -> Result<String> {
        self.at += 1;
        let digits_start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let length: usize = std::str::from_utf8(&self.bytes[digits_start..self.at])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| self.error("a literal's length"))?;
        self.expect(b'}', "'}'")?;
        if self.peek() == Some(b'\r') {
            self.at += 1;
        }
        self.expect(b'\n', "a line end after a literal's length")?;
        let end = self
            .at
            .checked_add(length)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.error("a literal's bytes"))?;
        let text = String::from_utf8(self.bytes[self.at..end].to_vec())
            .map_err(|_| self.error("UTF-8 in a literal"))?;
        self.at = end;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(prefix: &str, delimiter: Option<char>) -> Namespace {
        Namespace {
            prefix: prefix.to_string(),
            delimiter,
        }
    }

    fn parse(line: &str) -> Namespaces {
        parse_namespace_answer(line.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn cyrus_keeps_personal_folders_below_inbox() {
        let found = parse(
            "* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))\r\n\
             a1 OK Completed\r\n",
        );
        assert_eq!(found.personal, vec![ns("INBOX.", Some('.'))]);
        assert_eq!(found.other_users, vec![ns("user.", Some('.'))]);
        assert_eq!(found.shared, vec![ns("", Some('.'))]);
    }

    #[test]
    fn courier_has_no_other_users_and_two_shared_namespaces() {
        let found = parse(
            "* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))\r\n",
        );
        assert_eq!(found.main_personal(), Some(&ns("INBOX.", Some('.'))));
        assert!(found.other_users.is_empty());
        assert_eq!(
            found.shared,
            vec![ns("#shared.", Some('.')), ns("shared.", Some('.'))]
        );
    }

    #[test]
    fn dovecot_default_is_the_root_with_slash() {
        let found = parse("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\na2 OK Namespace completed\r\n");
        assert_eq!(found.main_personal(), Some(&ns("", Some('/'))));
        assert!(found.other_users.is_empty() && found.shared.is_empty());
    }

    #[test]
    fn other_untagged_lines_before_it_are_passed_over() {
        let found = parse("* OK still here\r\n* namespace ((\"\" NIL)) nil NIL\r\na OK\r\n");
        assert_eq!(found.personal, vec![ns("", None)]);
    }

    #[test]
    fn extension_data_is_skipped() {
        let found = parse(
            "* NAMESPACE ((\"\" \"/\" \"X-PARAM\" (\"FLAG1\" \"FLAG2\"))) NIL \
             ((\"Public Folders/\" \"/\" \"X-LANG\" (\"en\")))\r\n",
        );
        assert_eq!(found.personal, vec![ns("", Some('/'))]);
        assert_eq!(found.shared, vec![ns("Public Folders/", Some('/'))]);
    }

    #[test]
    fn quoted_strings_with_escapes_and_literals_are_read() {
        let found = parse("* NAMESPACE ((\"a\\\"b.\" \"\\\\\")) (({6}\r\nOther/ \"/\")) NIL\r\n");
        assert_eq!(found.personal, vec![ns("a\"b.", Some('\\'))]);
        assert_eq!(found.other_users, vec![ns("Other/", Some('/'))]);
    }

    #[test]
    fn an_answer_without_namespace_gives_none() {
        assert_eq!(parse_namespace_answer(b"a1 OK done\r\n").unwrap(), None);
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        for bad in [
            "* NAMESPACE ((\"INBOX.\" \".\")\r\n",
            "* NAMESPACE ((\"INBOX.\" \"..\")) NIL NIL\r\n",
            "* NAMESPACE (\"INBOX.\" \".\") NIL NIL\r\n",
            "* NAMESPACE ((\"INBOX. \".\")) NIL NIL\r\n",
            "* NAMESPACE (({99}\r\nab \".\")) NIL NIL\r\n",
            "* NAMESPACE NIL NIL\r\n",
            "* NAMESPACE NIL NIL NIL junk\r\n",
            "* NAMESPACE ",
        ] {
            assert!(parse_namespace_answer(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn described_as_the_server_wrote_it() {
        let found = parse("* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\"))\r\n");
        assert_eq!(
            found.describe(),
            r##"(("INBOX." ".")) NIL (("#shared." "."))"##
        );
    }
}
