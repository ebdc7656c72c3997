//! Finds where one server response ends in the bytes read so far: a line,
//! or a line that announces literals (`{n}` at its end) and goes on after
//! their `n` bytes. Literal content is stepped over, never looked into, so
//! a message body can hold any bytes, a tagged line included. The scan
//! keeps its place between calls, so a response read piece by piece is
//! scanned once, and enforces the [`Limits`] as it goes: a server that
//! streams one endless line is stopped at the limit, not when memory runs
//! out.

/// How much one response may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one response outside its literals. A UID SEARCH answer of
    /// 300,000 UIDs without ranges is about 2 MB; 8 MiB leaves room four
    /// times over and still stops an endless line well under 32 MB.
    pub line: usize,
    /// Bytes of one literal (a message body): 1 GiB. Servers cap messages
    /// far lower (Dovecot and Gmail at tens of MB), so only a broken or
    /// hostile server announces more.
    pub literal: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            line: 8 << 20,
            literal: 1 << 30,
        }
    }
}

/// A limit a response went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The response's bytes outside literals passed [`Limits::line`].
    Line { limit: usize },
    /// A literal of `size` bytes was announced, over [`Limits::literal`].
    Literal { size: u64, limit: usize },
}

/// The place of a scan in a response not all there yet.
#[derive(Debug, Default, Clone, Copy)]
pub struct Framer {
    /// Where the part of the response after its last literal starts: only
    /// there can the next literal be announced.
    segment_start: usize,
    /// Where to look for the next line end (past the bytes there are when
    /// inside a literal not all read).
    at: usize,
    /// Bytes of the response outside literals, in segments already done.
    line_bytes: usize,
}

impl Framer {
    /// The length of the response at the start of `bytes` once it is all
    /// there, else `None` (call again with more bytes, same start).
    pub fn scan(&mut self, bytes: &[u8], limits: &Limits) -> Result<Option<usize>, Exceeded> {
        while self.at < bytes.len() {
            let Some(offset) = memchr_newline(&bytes[self.at..]) else {
                self.check_line(bytes.len() - self.segment_start, limits)?;
                self.at = bytes.len();
                return Ok(None);
            };
            let line_end = self.at + offset + 1;
            let segment = &bytes[self.segment_start..line_end];
            self.check_line(segment.len(), limits)?;
            match literal_length(segment) {
                Some(size) => {
                    if size > limits.literal as u64 {
                        return Err(Exceeded::Literal {
                            size,
                            limit: limits.literal,
                        });
                    }
                    self.line_bytes += segment.len();
                    // Fits in usize: at most `limits.literal`.
                    self.at = line_end + size as usize;
                    self.segment_start = self.at;
                }
                None => {
                    *self = Framer::default();
                    return Ok(Some(line_end));
                }
            }
        }
        Ok(None)
    }

    fn check_line(&self, segment: usize, limits: &Limits) -> Result<(), Exceeded> {
        if self.line_bytes + segment > limits.line {
            return Err(Exceeded::Line { limit: limits.line });
        }
        Ok(())
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// `n` when a line ends with a literal's announcement: `{n}`, `{n+}` or
/// the binary `~{n}`.
pub fn literal_length(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inside = line.strip_suffix(b"}")?;
    let open = inside.iter().rposition(|&b| b == b'{')?;
    let digits = &inside[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Option<usize> {
        Framer::default().scan(bytes, &Limits::default()).unwrap()
    }

    #[test]
    fn a_response_ends_with_its_line_unless_a_literal_follows() {
        assert_eq!(whole(b"* 1 EXISTS\r\n* 2 EXISTS\r\n"), Some(12));
        assert_eq!(whole(b"* 1 EXI"), None);
        let fetch = b"* 1 FETCH (BODY[] {12}\r\na1 OK fake\r\n UID 5)\r\na1 OK real\r\n";
        assert_eq!(whole(fetch), Some(fetch.len() - 12));
    }

    #[test]
    fn a_response_read_piece_by_piece_ends_where_it_does_whole() {
        let bytes: &[u8] = b"* 1 FETCH (BODY[] {12}\r\na1 OK fake\r\n BODY[HEADER] {3}\r\n{2}\
            )\r\nrest";
        let at = whole(bytes);
        assert_eq!(at, Some(bytes.len() - 4));
        for step in [1, 2, 5, 7] {
            let mut framer = Framer::default();
            let found = (0..=bytes.len())
                .step_by(step)
                .chain([bytes.len()])
                .find_map(|cut| framer.scan(&bytes[..cut], &Limits::default()).unwrap());
            assert_eq!(found, at, "read {step} bytes at a time");
        }
    }

    #[test]
    fn an_endless_line_is_stopped_at_the_limit() {
        let limits = Limits {
            line: 100,
            literal: 10,
        };
        let mut framer = Framer::default();
        assert_eq!(framer.scan(&[b'x'; 100], &limits), Ok(None));
        assert_eq!(
            framer.scan(&[b'x'; 101], &limits),
            Err(Exceeded::Line { limit: 100 })
        );
        // Literal content does not count against the line.
        let mut bytes = b"* 1 FETCH (BODY[] {10}\r\n".to_vec();
        bytes.extend_from_slice(&[b'y'; 10]);
        bytes.extend_from_slice(b")\r\n");
        assert_eq!(
            Framer::default().scan(&bytes, &limits),
            Ok(Some(bytes.len()))
        );
    }

    #[test]
    fn a_literal_over_the_limit_is_refused_before_it_is_read() {
        let limits = Limits {
            line: 100,
            literal: 10,
        };
        assert_eq!(
            Framer::default().scan(b"* 1 FETCH (BODY[] {11}\r\n", &limits),
            Err(Exceeded::Literal {
                size: 11,
                limit: 10
            })
        );
        // Too many digits for a size: not a literal, so the line ends.
        let odd = b"* 1 FETCH (BODY[] {99999999999999999999}\r\n";
        assert_eq!(Framer::default().scan(odd, &limits), Ok(Some(odd.len())));
    }

    #[test]
    fn literal_announcements_are_read_in_each_form() {
        assert_eq!(literal_length(b"* X {12}\r\n"), Some(12));
        assert_eq!(literal_length(b"* X {7+}\r\n"), Some(7));
        assert_eq!(literal_length(b"* X ~{7}\r\n"), Some(7));
        assert_eq!(literal_length(b"* X {}\r\n"), None);
        assert_eq!(literal_length(b"* X (a b)\r\n"), None);
    }
}
