//! Reads the pieces of one framed response: atoms, numbers, quoted strings,
//! literals, NIL and parenthesized lists. Everything borrows from the
//! response's bytes; only a quoted string with escapes is copied.

use std::borrow::Cow;

/// A cursor over one response.
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(bytes: &'a [u8]) -> Lexer<'a> {
        Lexer { bytes, at: 0 }
    }

    /// What is left, line end included.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at.min(self.bytes.len())..]
    }

    /// What is left up to the line end, as text.
    pub fn rest_of_line(&self) -> Cow<'a, str> {
        let rest = self.rest();
        let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
        let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
        String::from_utf8_lossy(rest)
    }

    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Whether only the line end is left.
    pub fn at_end(&self) -> bool {
        matches!(self.rest(), b"" | b"\r\n" | b"\n")
    }

    /// Steps over one byte if it is `byte`.
    pub fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Steps over spaces.
    pub fn skip_spaces(&mut self) {
        while self.eat(b' ') {}
    }

    /// Takes bytes up to (not including) a space, a bracket, a paren or
    /// the line end: an atom, a number, a flag (`\Seen`), `*`.
    pub fn atom(&mut self) -> Option<&'a str> {
        self.skip_spaces();
        let start = self.at;
        while let Some(b) = self.peek() {
            if matches!(
                b,
                b' ' | b'(' | b')' | b'[' | b']' | b'\r' | b'\n' | b'"' | b'{'
            ) {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        std::str::from_utf8(&self.bytes[start..self.at]).ok()
    }

    /// A number; nothing is taken when the next atom is not all digits.
    pub fn number<T: std::str::FromStr>(&mut self) -> Option<T> {
        let save = self.at;
        let parsed = self.atom().and_then(|atom| {
            if atom.bytes().all(|b| b.is_ascii_digit()) {
                atom.parse().ok()
            } else {
                None
            }
        });
        if parsed.is_none() {
            self.at = save;
        }
        parsed
    }

    /// A string: quoted, a literal, or NIL (`None`).
    pub fn nstring(&mut self) -> Option<Option<Cow<'a, [u8]>>> {
        self.skip_spaces();
        match self.peek()? {
            b'"' => self.quoted().map(Some),
            b'{' | b'~' => self.literal().map(|bytes| Some(Cow::Borrowed(bytes))),
            _ => {
                let save = self.at;
                match self.atom() {
                    Some(atom) if atom.eq_ignore_ascii_case("NIL") => Some(None),
                    _ => {
                        self.at = save;
                        None
                    }
                }
            }
        }
    }

    /// A string or an atom (a mailbox name may come as either).
    pub fn astring(&mut self) -> Option<Cow<'a, [u8]>> {
        self.skip_spaces();
        match self.peek()? {
            b'"' => self.quoted(),
            b'{' | b'~' => self.literal().map(Cow::Borrowed),
            _ => {
                let start = self.at;
                // `]` may be part of an astring (RFC 3501 ASTRING-CHAR).
                while let Some(b) = self.peek() {
                    if matches!(b, b' ' | b'(' | b')' | b'\r' | b'\n' | b'"' | b'{') {
                        break;
                    }
                    self.at += 1;
                }
                (self.at > start).then(|| Cow::Borrowed(&self.bytes[start..self.at]))
            }
        }
    }

    fn quoted(&mut self) -> Option<Cow<'a, [u8]>> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let mut escaped = false;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    let inside = &self.bytes[start..self.at];
                    self.at += 1;
                    if !escaped {
                        return Some(Cow::Borrowed(inside));
                    }
                    return Some(Cow::Owned(unescape(inside)));
                }
                b'\\' => {
                    escaped = true;
                    self.at += 2;
                }
                b'\r' | b'\n' => return None,
                _ => self.at += 1,
            }
        }
        None
    }

    fn literal(&mut self) -> Option<&'a [u8]> {
        self.eat(b'~');
        if !self.eat(b'{') {
            return None;
        }
        let start = self.at;
        let close = self.rest().iter().position(|&b| b == b'}')?;
        let digits = &self.bytes[start..start + close];
        let digits = digits.strip_suffix(b"+").unwrap_or(digits);
        let size: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        self.at = start + close + 1;
        self.eat(b'\r');
        if !self.eat(b'\n') {
            return None;
        }
        let end = self.at.checked_add(size)?;
        let content = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(content)
    }

    /// A parenthesized list, whole, without the parens: its bytes, to be
    /// read by another lexer. Nested lists, strings and literals inside are
    /// stepped over so that their parens do not count.
    pub fn list(&mut self) -> Option<&'a [u8]> {
        self.skip_spaces();
        if !self.eat(b'(') {
            return None;
        }
        let start = self.at;
        let mut depth = 1;
        loop {
            match self.peek()? {
                b'(' => {
                    depth += 1;
                    self.at += 1;
                }
                b')' => {
                    depth -= 1;
                    self.at += 1;
                    if depth == 0 {
                        return Some(&self.bytes[start..self.at - 1]);
                    }
                }
                b'"' => {
                    self.quoted()?;
                }
                b'{' | b'~' => {
                    if self.literal().is_none() {
                        self.at += 1;
                    }
                }
                b'\n' => return None,
                _ => self.at += 1,
            }
        }
    }

    /// A bracketed part (`[HEADER.FIELDS (X)]`), whole, brackets included.
    pub fn bracketed(&mut self) -> Option<&'a [u8]> {
        if self.peek() != Some(b'[') {
            return None;
        }
        let start = self.at;
        let close = self.rest().iter().position(|&b| b == b']')?;
        self.at += close + 1;
        Some(&self.bytes[start..self.at])
    }

    /// The atoms of a list given as bytes: `(\Seen $Junk)`'s inside.
    pub fn atoms(list: &'a [u8]) -> Vec<&'a str> {
        let mut lexer = Lexer::new(list);
        let mut atoms = Vec::new();
        while let Some(atom) = lexer.atom() {
            atoms.push(atom);
        }
        atoms
    }
}

fn unescape(inside: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inside.len());
    let mut bytes = inside.iter();
    while let Some(&b) = bytes.next() {
        if b == b'\\' {
            if let Some(&next) = bytes.next() {
                out.push(next);
            }
        } else {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_come_quoted_as_literals_or_nil() {
        let mut lexer = Lexer::new(b"\"a \\\"b\\\\\" {3}\r\nx\ny NIL \"\"\r\n");
        assert_eq!(lexer.nstring(), Some(Some(Cow::Owned(b"a \"b\\".to_vec()))));
        assert_eq!(lexer.nstring(), Some(Some(Cow::Borrowed(&b"x\ny"[..]))));
        assert_eq!(lexer.nstring(), Some(None));
        assert_eq!(lexer.nstring(), Some(Some(Cow::Borrowed(&b""[..]))));
        assert!(lexer.at_end());
    }

    #[test]
    fn lists_nest_and_step_over_strings_and_literals() {
        let mut lexer = Lexer::new(b"(a (b \")\") {2}\r\n)( c) d\r\n");
        // The literal's `)(` closes and opens nothing.
        assert_eq!(lexer.list(), Some(&b"a (b \")\") {2}\r\n)( c"[..]));
        assert_eq!(lexer.atom(), Some("d"));
    }

    #[test]
    fn numbers_are_digits_only() {
        let mut lexer = Lexer::new(b"12 x3 4294967296\r\n");
        assert_eq!(lexer.number::<u32>(), Some(12));
        assert_eq!(lexer.number::<u32>(), None);
        assert_eq!(lexer.atom(), Some("x3"));
        assert_eq!(lexer.number::<u32>(), None);
        assert_eq!(lexer.number::<u64>(), Some(4_294_967_296));
    }

    #[test]
    fn a_cut_literal_or_string_is_no_string() {
        assert_eq!(Lexer::new(b"{5}\r\nabc").nstring(), None);
        assert_eq!(Lexer::new(b"\"abc\r\n").nstring(), None);
    }
}
