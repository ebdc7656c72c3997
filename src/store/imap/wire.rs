//! The connection as the imap crate and the store share it: commands may be
//! sent ahead, outside the crate (which reads only the answer of its own
//! last command), and their answers read back later, in order, so that the
//! server works on them while this side does something else.
//!
//! Every read or write the crate makes first finishes reading the answers
//! still on their way: the conversation stays in order whatever the store
//! does next. Answers the crate's traffic overtook are thrown away, since
//! the command the crate sent may have changed what they meant (another
//! SELECT, say); the store then asks again the ordinary way.

use super::super::tls::NetStream;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A cloneable handle on one connection; see the module.
#[derive(Debug, Clone)]
pub struct Wire(Arc<Mutex<Inner>>);

#[derive(Debug)]
struct Inner {
    stream: NetStream,
    /// The commands sent ahead whose answers were not taken, oldest first.
    ahead: VecDeque<Ahead>,
    /// Bytes read past the end of the last complete answer: the start of
    /// the next one, or, when none is awaited, served to the crate before
    /// the stream (servers do not send such bytes, but a reader must not
    /// lose them if one does).
    unread: Vec<u8>,
    /// Set by [`Wire::login_as_noop`]: the bytes of the crate's LOGIN
    /// command so far, to be sent as a NOOP once the line is whole.
    login_as_noop: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Ahead {
    tag: String,
    /// What has come of the answer so far; once `complete`, all of it,
    /// tagged line included.
    answer: Vec<u8>,
    complete: bool,
    scan: Scan,
}

impl Wire {
    pub fn new(stream: NetStream) -> Wire {
        Wire(Arc::new(Mutex::new(Inner {
            stream,
            ahead: VecDeque::new(),
            unread: Vec::new(),
            login_as_noop: None,
        })))
    }

    /// The imap crate hands out a session only after a login, but a server
    /// that greets with PREAUTH (a `tunnel:` to a local imap binary) has
    /// logged us in already and would refuse one: the crate's next
    /// command line (its LOGIN) goes to the server as a NOOP under the
    /// same tag, whose OK the crate takes for the login's.
    pub fn login_as_noop(&self) -> io::Result<()> {
        self.inner()?.login_as_noop = Some(Vec::new());
        Ok(())
    }

    fn inner(&self) -> io::Result<MutexGuard<'_, Inner>> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("the connection was left broken by a panic"))
    }

    /// Sends `command` under `tag` without waiting for its answer, after
    /// any sent before.
    pub fn send_ahead(&self, tag: &str, command: &str) -> io::Result<()> {
        let mut inner = self.inner()?;
        inner
            .stream
            .write_all(format!("{tag} {command}\r\n").as_bytes())?;
        inner.stream.flush()?;
        inner.ahead.push_back(Ahead {
            tag: tag.to_string(),
            answer: Vec::new(),
            complete: false,
            scan: Scan::default(),
        });
        Ok(())
    }

    /// The whole answer (untagged lines and the tagged one) to the command
    /// sent ahead under `tag`, waiting for it if needed; the answers to
    /// commands sent before it are thrown away. `None` when no such
    /// answer is to be had (never sent, or overtaken by the crate's
    /// traffic).
    pub fn take_answer(&self, tag: &str) -> io::Result<Option<Vec<u8>>> {
        let mut inner = self.inner()?;
        while !inner.ahead.is_empty() {
            inner.complete_first()?;
            if let Some(ahead) = inner.ahead.pop_front() {
                if ahead.tag == tag {
                    return Ok(Some(ahead.answer));
                }
            }
        }
        Ok(None)
    }

    /// Sends `tag command {n}` and, once the server asks for it with a
    /// continuation request (`+ ...`), the `n` bytes of `literal` (a
    /// synchronizing literal, RFC 3501, as an APPEND without LITERAL+
    /// sends its message); returns the whole answer, untagged lines and
    /// the tagged one, without the continuation request. A server that
    /// answers the command line with its tagged line has refused the
    /// command before the literal (a message too large for it, a quota
    /// used up): the literal is never sent, and the server's words are in
    /// the answer, where the imap crate's APPEND drops them.
    pub fn send_with_literal(
        &self,
        tag: &str,
        command: &str,
        literal: &[u8],
    ) -> io::Result<Vec<u8>> {
        let mut inner = self.inner()?;
        inner.before_crate()?;
        let line = format!("{tag} {command} {{{}}}\r\n", literal.len());
        inner.stream.write_all(line.as_bytes())?;
        inner.stream.flush()?;
        let mut answer = std::mem::take(&mut inner.unread);
        let mut scan = Scan::default();
        let mut literal_sent = false;
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match next_stop(&answer, tag, &mut scan, !literal_sent) {
                Some(Stop::End(end)) => {
                    inner.unread = answer.split_off(end);
                    return Ok(answer);
                }
                Some(Stop::Continuation(request)) => {
                    // Left out of the answer; the scan goes on where the
                    // request began.
                    answer.drain(request.clone());
                    scan = Scan {
                        line_start: request.start,
                        segment_start: request.start,
                        at: request.start,
                    };
                    inner.stream.write_all(literal)?;
                    inner.stream.write_all(b"\r\n")?;
                    inner.stream.flush()?;
                    literal_sent = true;
                    continue;
                }
                None => {}
            }
            let read = inner.stream.read(&mut buffer)?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            answer.extend_from_slice(&buffer[..read]);
        }
    }
}

impl Inner {
    /// Reads the first answer awaited to its end. Answers come in the
    /// order of their commands, so the bytes read past the end of one
    /// start the next.
    fn complete_first(&mut self) -> io::Result<()> {
        let Some(first) = self.ahead.front_mut() else {
            return Ok(());
        };
        if first.complete {
            return Ok(());
        }
        first.answer.append(&mut self.unread);
        let mut buffer = [0u8; 16 * 1024];
        loop {
            if let Some(end) = answer_end(&first.answer, &first.tag, &mut first.scan) {
                self.unread = first.answer.split_off(end);
                first.complete = true;
                break;
            }
            let read = self.stream.read(&mut buffer)?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            first.answer.extend_from_slice(&buffer[..read]);
        }
        // The next answer awaited starts with what was read past this one.
        if let Some(next) = self.ahead.iter_mut().find(|ahead| !ahead.complete) {
            next.answer.append(&mut self.unread);
        }
        Ok(())
    }

    /// Called before the crate touches the connection: the answers on
    /// their way are read, and thrown away since the crate's command comes
    /// after them.
    fn before_crate(&mut self) -> io::Result<()> {
        while !self.ahead.is_empty() {
            self.complete_first()?;
            self.ahead.pop_front();
        }
        Ok(())
    }
}

/// Where [`next_stop`] stopped in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    /// Just past the tagged line: the answer is whole.
    End(usize),
    /// A continuation request (`+ ...`) at these bytes: the server waits
    /// for a literal.
    Continuation(std::ops::Range<usize>),
}

/// How far [`answer_end`] read an answer that is not all there yet: the
/// next call goes on from here instead of from the start.
#[derive(Debug, Default, Clone, Copy)]
struct Scan {
    /// Where the response line being read starts.
    line_start: usize,
    /// Where the part of that line after its last literal starts: only
    /// there can the next literal be announced.
    segment_start: usize,
    /// Where to look for the next line end (past the bytes there are, in
    /// a literal that is not all there).
    at: usize,
}

/// Where the answer to `tag` ends in `bytes` (just past its tagged line),
/// once it is all there; `scan` keeps the place between calls on a growing
/// `bytes`. Literals (`{n}` at a line's end, then n bytes) are stepped
/// over, so their content is never taken for a tagged line.
fn answer_end(bytes: &[u8], tag: &str, scan: &mut Scan) -> Option<usize> {
    match next_stop(bytes, tag, scan, false)? {
        Stop::End(end) => Some(end),
        Stop::Continuation(_) => None,
    }
}

/// [`answer_end`], also stopping at a continuation request when
/// `continuation` is set (a literal of ours is awaited). Past a
/// continuation request `scan` goes on from the line after it.
fn next_stop(bytes: &[u8], tag: &str, scan: &mut Scan, continuation: bool) -> Option<Stop> {
    while scan.at < bytes.len() {
        let Some(offset) = bytes[scan.at..].iter().position(|&b| b == b'\n') else {
            scan.at = bytes.len();
            return None;
        };
        let line_end = scan.at + offset + 1;
        if let Some(literal) = literal_length(&bytes[scan.segment_start..line_end]) {
            // The literal's bytes belong to this line, which goes on after them.
            scan.at = line_end.checked_add(literal)?;
            scan.segment_start = scan.at;
            continue;
        }
        let line_start = scan.line_start;
        let line = &bytes[line_start..line_end];
        if line.len() > tag.len() && line.starts_with(tag.as_bytes()) && line[tag.len()] == b' ' {
            return Some(Stop::End(line_end));
        }
        *scan = Scan {
            line_start: line_end,
            segment_start: line_end,
            at: line_end,
        };
        if continuation && line.starts_with(b"+") {
            return Some(Stop::Continuation(line_start..line_end));
        }
    }
    None
}

/// `n` when a line ends with a literal's announcement `{n}` or `{n+}`.
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inside = line.strip_suffix(b"}")?;
    let open = inside.iter().rposition(|&b| b == b'{')?;
    let digits = &inside[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut inner = self.inner()?;
        inner.before_crate()?;
        if !inner.unread.is_empty() {
            let count = buf.len().min(inner.unread.len());
            buf[..count].copy_from_slice(&inner.unread[..count]);
            inner.unread.drain(..count);
            return Ok(count);
        }
        inner.stream.read(buf)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self.inner()?;
        inner.before_crate()?;
        if let Some(mut held) = inner.login_as_noop.take() {
            held.extend_from_slice(buf);
            let Some(end) = held.windows(2).position(|pair| pair == b"\r\n") else {
                inner.login_as_noop = Some(held);
                return Ok(buf.len());
            };
            let tag_end = held.iter().position(|&b| b == b' ').unwrap_or(0);
            let mut line = held[..tag_end].to_vec();
            line.extend_from_slice(b" NOOP\r\n");
            line.extend_from_slice(&held[end + 2..]);
            inner.stream.write_all(&line)?;
            return Ok(buf.len());
        }
        inner.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner()?.stream.flush()
    }
}

impl imap::extensions::idle::SetReadTimeout for Wire {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> imap::Result<()> {
        let mut inner = self.inner().map_err(imap::Error::Io)?;
        imap::extensions::idle::SetReadTimeout::set_read_timeout(&mut inner.stream, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(bytes: &[u8], tag: &str) -> Option<usize> {
        answer_end(bytes, tag, &mut Scan::default())
    }

    #[test]
    fn the_answer_ends_after_its_tagged_line() {
        let answer = b"* 1 EXISTS\r\nm1 OK done\r\n* 2 EXISTS\r\n";
        assert_eq!(end(answer, "m1"), Some(24));
        assert_eq!(end(b"* 1 EXISTS\r\nm1 OK do", "m1"), None);
        // Another tag that starts like ours is not ours.
        assert_eq!(end(b"m10 OK x\r\n", "m1"), None);
    }

    #[test]
    fn an_answer_read_piece_by_piece_ends_where_it_does_whole() {
        let answer: &[u8] = b"* 1 FETCH (BODY[] {12}\r\nm1 OK fake\r\n BODY[HEADER] {3}\r\n{2}\
            )\r\n* 2 EXISTS\r\nm1 OK real\r\n";
        let whole = end(answer, "m1");
        assert_eq!(whole, Some(answer.len()));
        for step in [1, 2, 5, 7] {
            let mut scan = Scan::default();
            let mut found = None;
            for cut in (0..=answer.len()).step_by(step).chain([answer.len()]) {
                if let Some(at) = answer_end(&answer[..cut], "m1", &mut scan) {
                    found = Some(at);
                    break;
                }
            }
            assert_eq!(found, whole, "read {step} bytes at a time");
        }
    }

    #[test]
    fn a_tagged_line_inside_a_literal_is_not_the_end() {
        let answer = b"* 1 FETCH (BODY[] {12}\r\nm1 OK fake\r\n)\r\nm1 OK real\r\n";
        let at = end(answer, "m1").unwrap();
        assert_eq!(&answer[at - 12..at], b"m1 OK real\r\n");
        // Cut inside the literal: not complete yet.
        assert_eq!(end(&answer[..30], "m1"), None);
        // A literal whose content ends like an announcement announces
        // nothing: only what follows it on the line can.
        let listed = b"* LIST () \"/\" {6}\r\nabc{5}\r\nm1 OK done\r\n";
        assert_eq!(end(listed, "m1"), Some(listed.len()));
    }

    #[test]
    fn a_continuation_request_stops_the_scan_only_while_a_literal_is_awaited() {
        let waiting = b"* 3 EXISTS\r\n+ Ready for literal data\r\n";
        let mut scan = Scan::default();
        assert_eq!(
            next_stop(waiting, "m1", &mut scan, true),
            Some(Stop::Continuation(12..waiting.len()))
        );
        assert_eq!(end(waiting, "m1"), None);
        // Refused before the literal: the tagged line comes instead.
        let refused = b"m1 NO [LIMIT] Mail size is larger than allowed\r\n";
        assert_eq!(
            next_stop(refused, "m1", &mut Scan::default(), true),
            Some(Stop::End(refused.len()))
        );
    }

    #[test]
    fn literal_announcements_are_read_with_and_without_plus() {
        assert_eq!(literal_length(b"* X {12}\r\n"), Some(12));
        assert_eq!(literal_length(b"* X {7+}\r\n"), Some(7));
        assert_eq!(literal_length(b"* X {}\r\n"), None);
        assert_eq!(literal_length(b"* X (a b)\r\n"), None);
    }
}
