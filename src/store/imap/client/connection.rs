//! One connection to an IMAP server: it owns the stream, tags the commands
//! it sends, and frames what comes back into responses, matched to their
//! commands by tag. Commands can be pipelined: [`Connection::send`] writes
//! and returns at once (unless a synchronizing literal must wait for the
//! server's `+`), and [`Connection::answer`] reads answers in the order
//! the server gives them, keeping those of earlier commands for when they
//! are asked for. Untagged responses go to the oldest command still
//! waiting, as servers send them while working on it.
//!
//! Memory is bounded by what the server sends, not what it claims: the
//! read buffer holds the response being framed and grows only within the
//! [`Limits`]. Any failure (a read error, a limit passed, a response that
//! cannot be read) leaves the connection unusable: every later call says
//! so, since what comes next on the wire cannot be trusted.

use super::command::Command;
use super::error::ClientError;
use super::frame::{Exceeded, Framer, Limits};
use super::response::{self, Response, Status, StatusKind};
use crate::store::tls::NetStream;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Duration;

/// A stream with a read timeout, that can be closed.
pub trait Transport: Read + Write {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()>;
    /// Stops both directions, so a server streaming without end is no
    /// longer read.
    fn shut_down(&mut self) {}
}

impl Transport for NetStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout_now(Some(timeout))
    }

    fn shut_down(&mut self) {
        let tcp = match self {
            NetStream::Plain(tcp) => tcp,
            NetStream::Tls(tls) => &**tls.get_ref(),
            // The tunnel's command ends when the store drops it.
            NetStream::Tunnel(_) => return,
        };
        // Already closed is as good.
        let _ = tcp.shutdown(std::net::Shutdown::Both);
    }
}

/// How many bytes one read asks for.
const READ_SIZE: usize = 64 * 1024;

/// See the module.
pub struct Connection<S: Transport = NetStream> {
    stream: S,
    /// `host:port` or the tunnel command, for messages.
    server: String,
    limits: Limits,
    timeout: Duration,
    /// Bytes read; those before `start` are done with.
    buffer: Vec<u8>,
    start: usize,
    framer: Framer,
    /// Responses read while waiting for a continuation, to be routed later.
    held: VecDeque<Vec<u8>>,
    in_flight: VecDeque<InFlight>,
    next_tag: u32,
    literal_plus: bool,
    /// The text of a BYE the server sent, for the message when it closes.
    bye: Option<String>,
    /// Set by the first failure: see the module.
    failed: Option<String>,
}

struct InFlight {
    tag: String,
    shown: String,
    answer: Answer,
    done: bool,
    /// Nobody will ask for the answer: it is dropped once read.
    forgotten: bool,
}

/// The responses to one command: its untagged responses, framed, and its
/// tagged status line.
#[derive(Debug, Default, Clone)]
pub struct Answer {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    tagged: Vec<u8>,
}

impl Answer {
    /// The untagged responses, each whole (literals included).
    pub fn untagged(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let frame = &self.bytes[start..end];
            start = end;
            frame
        })
    }

    /// The untagged responses, parsed; one that cannot be read is skipped
    /// with a debug line (data a server added for itself).
    pub fn data(&self) -> impl Iterator<Item = response::Data<'_>> {
        self.untagged()
            .filter_map(|frame| match response::parse(frame) {
                Ok(Response::Untagged(data)) => Some(data),
                Ok(_) => None,
                Err(e) => {
                    log::debug!("skipped {e}");
                    None
                }
            })
    }

    /// All the untagged responses as bytes, one after the other.
    pub fn untagged_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The untagged bytes and the tagged line, as the server sent them.
    pub fn whole(&self) -> Vec<u8> {
        [&self.bytes[..], &self.tagged[..]].concat()
    }

    /// The tagged status.
    pub fn status(&self) -> Status<'_> {
        match response::parse(&self.tagged) {
            Ok(Response::Tagged { status, .. }) => status,
            // Only a tagged line that parsed is stored.
            _ => Status {
                kind: StatusKind::Bad,
                code: None,
                text: String::from_utf8_lossy(&self.tagged),
            },
        }
    }

    /// Whether the server said OK.
    pub fn is_ok(&self) -> bool {
        self.status().kind == StatusKind::Ok
    }

    fn push(&mut self, frame: &[u8]) {
        self.bytes.extend_from_slice(frame);
        self.ends.push(self.bytes.len());
    }
}

impl<S: Transport> Connection<S> {
    /// A connection over `stream` to `server` (for messages), whose reads
    /// give up after `timeout`.
    pub fn new(mut stream: S, server: &str, timeout: Duration, limits: Limits) -> Connection<S> {
        // Failing to set it leaves the stream's own (TCP sockets get one
        // when connected); the first read says if the stream is broken.
        if let Err(e) = stream.set_read_timeout(timeout) {
            log::debug!("cannot set the read timeout on {server}: {e}");
        }
        Connection {
            stream,
            server: server.to_string(),
            limits,
            timeout,
            buffer: Vec::new(),
            start: 0,
            framer: Framer::default(),
            held: VecDeque::new(),
            in_flight: VecDeque::new(),
            next_tag: 0,
            literal_plus: false,
            bye: None,
            failed: None,
        }
    }

    /// The server as messages name it.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends literals as `{n+}` without waiting (the server offers
    /// LITERAL+).
    pub fn use_literal_plus(&mut self, on: bool) {
        self.literal_plus = on;
    }

    /// The stream, for STARTTLS; bytes read and not used are dropped, as
    /// bytes that came in clear must not be taken for encrypted ones.
    pub fn into_stream(self) -> S {
        self.stream
    }

    /// The greeting's status (`* OK`, `* PREAUTH`, `* BYE`), whole.
    pub fn greeting(&mut self) -> Result<Vec<u8>, ClientError> {
        let waiting = "its greeting".to_string();
        let range = self.next_frame(&waiting)?;
        Ok(self.buffer[range].to_vec())
    }

    /// Sends `command`; returns its tag, for [`Connection::answer`].
    /// A server that answers a synchronizing literal's announcement with
    /// the command's tagged line (a message too large, say) has refused
    /// the command: the rest is not sent, and the answer says why.
    pub fn send(&mut self, command: &Command<'_>) -> Result<String, ClientError> {
        self.send_noted(command, "")
    }

    /// [`Connection::send`] for a command whose answer is read later,
    /// after other work: the log says so.
    pub fn send_ahead(&mut self, command: &Command<'_>) -> Result<String, ClientError> {
        self.send_noted(command, " (sent ahead)")
    }

    fn send_noted(&mut self, command: &Command<'_>, note: &str) -> Result<String, ClientError> {
        self.check_usable()?;
        self.next_tag += 1;
        let tag = format!("a{}", self.next_tag);
        log::debug!("C: {}{note}", command.shown());
        self.in_flight.push_back(InFlight {
            tag: tag.clone(),
            shown: command.shown().to_string(),
            answer: Answer::default(),
            done: false,
            forgotten: false,
        });
        for chunk in command.encode(&tag, self.literal_plus) {
            self.write(&chunk.bytes)?;
            if chunk.then_wait && !self.await_continuation(&tag)? {
                break;
            }
        }
        Ok(tag)
    }

    /// Sends a line that is not a command: a SASL response, IDLE's DONE.
    pub fn send_line(&mut self, line: &[u8], shown: &str) -> Result<(), ClientError> {
        self.check_usable()?;
        log::debug!("C: {shown}");
        self.write(&[line, b"\r\n"].concat())
    }

    /// `send` then `answer`.
    pub fn run(&mut self, command: &Command<'_>) -> Result<Answer, ClientError> {
        let tag = self.send(command)?;
        self.answer(&tag)
    }

    /// The whole answer to the command sent under `tag`, reading until its
    /// tagged line.
    pub fn answer(&mut self, tag: &str) -> Result<Answer, ClientError> {
        self.answer_with(tag, &mut |_| false)
    }

    /// [`Connection::answer`], giving each untagged response of this
    /// command to `take` first: those it takes (returns true for) are not
    /// kept in the answer, so a listing is read in bounded memory.
    pub fn answer_with(
        &mut self,
        tag: &str,
        take: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Answer, ClientError> {
        if !self.in_flight.iter().any(|f| f.tag == tag) {
            return Err(self.fail(ClientError::Malformed {
                server: self.server.clone(),
                what: format!("no answer to {tag}: it was never sent or already read"),
            }));
        }
        while !self.is_done(tag) {
            self.route_next(tag, take, None)?;
        }
        let position = self.in_flight.iter().position(|f| f.tag == tag);
        let finished = position.and_then(|at| self.in_flight.remove(at));
        let answer = finished.map(|f| f.answer).unwrap_or_default();
        log::debug!("S: {}", answer.status().describe());
        Ok(answer)
    }

    /// Drops the answer to the command sent under `tag` (a SELECT sent
    /// ahead that another command overtook): it is read when its turn
    /// comes, and thrown away.
    pub fn forget(&mut self, tag: &str) {
        let Some(at) = self.in_flight.iter().position(|f| f.tag == tag) else {
            return;
        };
        if self.in_flight[at].done {
            self.in_flight.remove(at);
        } else {
            self.in_flight[at].forgotten = true;
        }
    }

    fn is_done(&self, tag: &str) -> bool {
        self.in_flight
            .iter()
            .find(|f| f.tag == tag)
            .is_none_or(|f| f.done)
    }

    /// The next response of the command sent under `tag` while it waits
    /// for a continuation of ours (AUTHENTICATE, IDLE): `Some(text)` of a
    /// `+`, or `None` once its tagged line came (read the answer). Untagged
    /// responses are kept in its answer, or given to `take`.
    pub fn continuation(
        &mut self,
        tag: &str,
        take: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Option<String>, ClientError> {
        let mut continuation = None;
        while !self.is_done(tag) && continuation.is_none() {
            self.route_next(tag, take, Some(&mut continuation))?;
        }
        Ok(continuation)
    }

    /// Waits at most `wait` for one untagged response (IDLE's news),
    /// given to `take`; `Ok(false)` when none came in time.
    pub fn wait_untagged(
        &mut self,
        wait: Duration,
        take: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, ClientError> {
        self.check_usable()?;
        if let Some(frame) = self.held.pop_front() {
            take(&frame);
            return Ok(true);
        }
        if let Err(error) = self.stream.set_read_timeout(wait) {
            return Err(self.fail(ClientError::Io {
                server: self.server.clone(),
                error,
            }));
        }
        let waited = self.next_frame_or_silence();
        let restored = self.stream.set_read_timeout(self.timeout);
        let got = match waited {
            Ok(Some(range)) => {
                take(&self.buffer[range]);
                true
            }
            Ok(None) => false,
            Err(e) => return Err(e),
        };
        if let Err(error) = restored {
            return Err(self.fail(ClientError::Io {
                server: self.server.clone(),
                error,
            }));
        }
        Ok(got)
    }

    fn next_frame_or_silence(&mut self) -> Result<Option<std::ops::Range<usize>>, ClientError> {
        loop {
            if let Some(range) = self.frame_in_buffer()? {
                return Ok(Some(range));
            }
            match self.fill() {
                Ok(()) => {}
                Err(error) if is_timeout(&error) => return Ok(None),
                Err(error) => return Err(self.read_failure(error)),
            }
        }
    }

    /// Reads one response and hands it to its command (the one sent
    /// under `waiting_tag` gets untagged ones when it is the oldest
    /// waiting).
    fn route_next(
        &mut self,
        waiting_tag: &str,
        take: &mut dyn FnMut(&[u8]) -> bool,
        continuation: Option<&mut Option<String>>,
    ) -> Result<(), ClientError> {
        let waiting = self
            .in_flight
            .iter()
            .find(|f| !f.done)
            .map(|f| f.shown.clone())
            .unwrap_or_default();
        let held;
        let frame: &[u8] = match self.held.pop_front() {
            Some(frame) => {
                held = frame;
                &held
            }
            None => {
                let range = self.next_frame(&waiting)?;
                &self.buffer[range]
            }
        };
        let parsed = response::parse(frame);
        match parsed {
            Ok(Response::Tagged { tag, .. }) => {
                let Some(at) = self.in_flight.iter().position(|f| f.tag == tag && !f.done) else {
                    let what = format!(
                        "an answer with a tag never sent: {}",
                        response::snippet(frame)
                    );
                    return Err(self.fail(ClientError::Malformed {
                        server: self.server.clone(),
                        what,
                    }));
                };
                if self.in_flight[at].forgotten {
                    self.in_flight.remove(at);
                } else {
                    self.in_flight[at].answer.tagged = frame.to_vec();
                    self.in_flight[at].done = true;
                }
            }
            Ok(Response::Continuation(text)) => match continuation {
                Some(slot) => *slot = Some(text.into_owned()),
                None => {
                    let what = format!("a continuation request nothing waits for: {text}");
                    return Err(self.fail(ClientError::Malformed {
                        server: self.server.clone(),
                        what,
                    }));
                }
            },
            Ok(Response::Untagged(data)) => {
                if let response::Data::Status(status) = &data {
                    if status.kind == StatusKind::Bye {
                        self.bye = Some(status.text.to_string());
                    }
                }
                let oldest = self.in_flight.iter().position(|f| !f.done);
                let ours = oldest.is_some_and(|at| self.in_flight[at].tag == waiting_tag);
                if ours && take(frame) {
                    return Ok(());
                }
                match oldest.and_then(|i| self.in_flight.get_mut(i)) {
                    Some(command) => command.answer.push(frame),
                    // Only read while a command waits; kept for the log.
                    None => log::debug!("S: {} (no command waiting)", response::snippet(frame)),
                }
            }
            Err(malformed) => {
                return Err(self.fail(ClientError::Malformed {
                    server: self.server.clone(),
                    what: malformed.to_string(),
                }))
            }
        }
        Ok(())
    }

    /// Reads until the server's `+` for the literal of the command under
    /// `tag`; false when the server answered the command instead.
    fn await_continuation(&mut self, tag: &str) -> Result<bool, ClientError> {
        let waiting = format!("the literal of {tag}");
        loop {
            let range = self.next_frame(&waiting)?;
            let frame = &self.buffer[range];
            match response::parse(frame) {
                Ok(Response::Continuation(_)) => return Ok(true),
                Ok(Response::Tagged { tag: answered, .. }) if answered == tag => {
                    self.held.push_back(frame.to_vec());
                    return Ok(false);
                }
                _ => self.held.push_back(frame.to_vec()),
            }
        }
    }

    /// The next whole response in the buffer, reading as needed.
    fn next_frame(&mut self, waiting_for: &str) -> Result<std::ops::Range<usize>, ClientError> {
        self.check_usable()?;
        loop {
            if let Some(range) = self.frame_in_buffer()? {
                return Ok(range);
            }
            if let Err(error) = self.fill() {
                if is_timeout(&error) {
                    return Err(self.fail(ClientError::Timeout {
                        server: self.server.clone(),
                        waiting_for: waiting_for.to_string(),
                        seconds: self.timeout.as_secs(),
                    }));
                }
                return Err(self.read_failure(error));
            }
        }
    }

    /// A response whole in the buffer, if there is one; its bytes stay
    /// valid until the next read.
    fn frame_in_buffer(&mut self) -> Result<Option<std::ops::Range<usize>>, ClientError> {
        match self.framer.scan(&self.buffer[self.start..], &self.limits) {
            Ok(Some(length)) => {
                let range = self.start..self.start + length;
                self.start += length;
                Ok(Some(range))
            }
            Ok(None) => Ok(None),
            Err(Exceeded::Line { limit }) => Err(self.fail(ClientError::LineTooLong {
                server: self.server.clone(),
                limit,
            })),
            Err(Exceeded::Literal { size, limit }) => {
                Err(self.fail(ClientError::LiteralTooLarge {
                    server: self.server.clone(),
                    size,
                    limit,
                }))
            }
        }
    }

    /// Reads more bytes after those of the response being framed. The
    /// bytes of responses done with are dropped first, so the buffer
    /// holds one response and what came after it.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        let filled = self.buffer.len();
        self.buffer.resize(filled + READ_SIZE, 0);
        let read = self.stream.read(&mut self.buffer[filled..]);
        let count = *read.as_ref().unwrap_or(&0);
        self.buffer.truncate(filled + count);
        match read {
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed")),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn read_failure(&mut self, error: io::Error) -> ClientError {
        let failure = if error.kind() == io::ErrorKind::UnexpectedEof {
            ClientError::Closed {
                server: self.server.clone(),
                bye: self.bye.clone(),
            }
        } else {
            ClientError::Io {
                server: self.server.clone(),
                error,
            }
        };
        self.fail(failure)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let written = self
            .stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush());
        written.map_err(|error| {
            self.fail(ClientError::Io {
                server: self.server.clone(),
                error,
            })
        })
    }

    fn fail(&mut self, error: ClientError) -> ClientError {
        if self.failed.is_none() {
            self.failed = Some(error.to_string());
        }
        if matches!(
            error,
            ClientError::LineTooLong { .. } | ClientError::LiteralTooLarge { .. }
        ) {
            // The rest of what the server sends is never read.
            self.stream.shut_down();
        }
        error
    }

    fn check_usable(&self) -> Result<(), ClientError> {
        match &self.failed {
            Some(earlier) => Err(ClientError::Unusable {
                server: self.server.clone(),
                earlier: earlier.clone(),
            }),
            None => Ok(()),
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers from a script: reads hand out `replies`
    /// (one piece per read, then a timeout), writes are recorded.
    struct Scripted {
        replies: VecDeque<Vec<u8>>,
        written: Vec<u8>,
        eof_at_end: bool,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(mut piece) = self.replies.pop_front() else {
                if self.eof_at_end {
                    return Ok(0);
                }
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "silence"));
            };
            let count = piece.len().min(buf.len());
            buf[..count].copy_from_slice(&piece[..count]);
            if count < piece.len() {
                self.replies.push_front(piece.split_off(count));
            }
            Ok(count)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Scripted {
        fn set_read_timeout(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    fn connection(replies: &[&[u8]]) -> Connection<Scripted> {
        connection_with(replies, Limits::default())
    }

    fn connection_with(replies: &[&[u8]], limits: Limits) -> Connection<Scripted> {
        let stream = Scripted {
            replies: replies.iter().map(|r| r.to_vec()).collect(),
            written: Vec::new(),
            eof_at_end: false,
        };
        Connection::new(stream, "imap.test:993", Duration::from_secs(5), limits)
    }

    #[test]
    fn pipelined_commands_get_their_own_answers() {
        let mut conn = connection(&[
            b"* OK ready\r\n",
            b"* 3 EXISTS\r\na1 OK [READ-WRITE] selected\r\n* ENABLED QRESYNC\r\na2 OK",
            b" enabled\r\n",
        ]);
        assert!(conn.greeting().unwrap().starts_with(b"* OK"));
        let select = conn.send(&Command::new("SELECT").string(b"INBOX")).unwrap();
        let enable = conn.send(&Command::text("ENABLE QRESYNC")).unwrap();
        assert_eq!(
            conn.stream.written,
            b"a1 SELECT \"INBOX\"\r\na2 ENABLE QRESYNC\r\n"
        );
        // Asked in the other order: the first answer waits for its turn.
        let enabled = conn.answer(&enable).unwrap();
        assert!(enabled.is_ok());
        assert_eq!(
            enabled.untagged().collect::<Vec<_>>(),
            vec![b"* ENABLED QRESYNC\r\n"]
        );
        let selected = conn.answer(&select).unwrap();
        assert_eq!(
            selected.untagged().collect::<Vec<_>>(),
            vec![b"* 3 EXISTS\r\n"]
        );
        assert_eq!(selected.status().code, Some(response::Code::ReadWrite));
    }

    #[test]
    fn a_forgotten_answer_is_read_in_its_turn_and_dropped() {
        let mut conn = connection(&[
            b"* 7 EXISTS\r\na1 OK [READ-WRITE] other folder\r\n* 2 EXISTS\r\na2 OK [READ-WRITE] ours\r\n",
        ]);
        let ahead = conn
            .send_ahead(&Command::new("SELECT").string(b"Other"))
            .unwrap();
        let ours = conn.send(&Command::new("SELECT").string(b"Ours")).unwrap();
        conn.forget(&ahead);
        let answer = conn.answer(&ours).unwrap();
        assert_eq!(
            answer.untagged().collect::<Vec<_>>(),
            vec![b"* 2 EXISTS\r\n"]
        );
        assert!(conn.answer(&ahead).is_err(), "a forgotten answer is gone");
    }

    #[test]
    fn a_synchronizing_literal_is_sent_after_the_servers_go_ahead() {
        let mut conn = connection(&[b"* 4 EXISTS\r\n+ go ahead\r\n", b"a1 OK appended\r\n"]);
        let tag = conn
            .send(
                &Command::new("APPEND")
                    .string(b"INBOX")
                    .literal(&b"\0x\xff"[..]),
            )
            .unwrap();
        assert_eq!(
            conn.stream.written,
            b"a1 APPEND \"INBOX\" {3}\r\n\0x\xff\r\n"
        );
        let answer = conn.answer(&tag).unwrap();
        assert!(answer.is_ok());
        assert_eq!(answer.untagged().count(), 1);
    }

    #[test]
    fn a_literal_refused_before_it_is_sent_is_never_sent() {
        let mut conn = connection(&[b"a1 NO [LIMIT] too big\r\n"]);
        let tag = conn
            .send(
                &Command::new("APPEND")
                    .string(b"INBOX")
                    .literal(&b"body"[..]),
            )
            .unwrap();
        assert_eq!(conn.stream.written, b"a1 APPEND \"INBOX\" {4}\r\n");
        let answer = conn.answer(&tag).unwrap();
        assert_eq!(answer.status().describe(), "NO [LIMIT] too big");
    }

    #[test]
    fn literal_plus_sends_at_once() {
        let mut conn = connection(&[b"a1 OK done\r\n"]);
        conn.use_literal_plus(true);
        let answer = conn
            .run(&Command::new("APPEND").string(b"INBOX").literal(&b"x"[..]))
            .unwrap();
        assert!(answer.is_ok());
        assert_eq!(conn.stream.written, b"a1 APPEND \"INBOX\" {1+}\r\nx\r\n");
    }

    #[test]
    fn a_listing_can_be_taken_response_by_response() {
        let mut conn = connection(&[
            b"* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2 BODY[] {3}\r\n)\r\n)\r\n* 2 EXISTS\r\na1 OK\r\n",
        ]);
        let tag = conn.send(&Command::text("UID FETCH 1:* (UID)")).unwrap();
        let mut fetched = 0;
        let answer = conn
            .answer_with(&tag, &mut |frame| {
                let fetch = frame.windows(5).any(|w| w == b"FETCH");
                fetched += usize::from(fetch);
                fetch
            })
            .unwrap();
        assert_eq!(fetched, 2);
        assert_eq!(
            answer.untagged().collect::<Vec<_>>(),
            vec![b"* 2 EXISTS\r\n"]
        );
    }

    #[test]
    fn an_endless_line_fails_the_connection_for_good() {
        let limits = Limits {
            line: 1000,
            literal: 1000,
        };
        let endless = vec![b'x'; 600];
        let mut conn = connection_with(&[b"* OK hi\r\n", &endless, &endless], limits);
        conn.greeting().unwrap();
        let tag = conn.send(&Command::text("NOOP")).unwrap();
        let error = conn.answer(&tag).unwrap_err();
        assert!(matches!(
            error,
            ClientError::LineTooLong { limit: 1000, .. }
        ));
        assert!(error
            .to_string()
            .starts_with("imap.test:993 sent a response longer than"));
        let again = conn.send(&Command::text("NOOP")).unwrap_err();
        assert!(matches!(again, ClientError::Unusable { .. }), "{again}");
    }

    #[test]
    fn silence_is_a_timeout_naming_the_command() {
        let mut conn = connection(&[b"* OK hi\r\n"]);
        conn.greeting().unwrap();
        let tag = conn
            .send(&Command::new("SELECT").string(b"Archive"))
            .unwrap();
        let error = conn.answer(&tag).unwrap_err();
        assert!(matches!(error, ClientError::Timeout { .. }));
        assert_eq!(
            error.to_string(),
            "imap.test:993 did not answer SELECT \"Archive\" within 5 s (the timeout of the \
             config's timeout_secs)"
        );
    }

    #[test]
    fn a_literal_cut_short_by_a_close_is_a_closed_connection() {
        let mut conn = connection(&[b"* 1 FETCH (BODY[] {100}\r\nshort"]);
        conn.stream.eof_at_end = true;
        let tag = conn
            .send(&Command::text("UID FETCH 1 BODY.PEEK[]"))
            .unwrap();
        let error = conn.answer(&tag).unwrap_err();
        assert_eq!(error.to_string(), "imap.test:993 closed the connection");
    }

    #[test]
    fn a_bye_says_why_the_connection_closed() {
        let mut conn = connection(&[b"* BYE [UNAVAILABLE] throttled, try later\r\n"]);
        conn.stream.eof_at_end = true;
        let tag = conn.send(&Command::text("NOOP")).unwrap();
        let error = conn.answer(&tag).unwrap_err();
        assert!(error.is_throttled());
        assert_eq!(
            error.to_string(),
            "imap.test:993 closed the connection: throttled, try later"
        );
    }

    #[test]
    fn a_tag_never_sent_is_a_broken_conversation() {
        let mut conn = connection(&[b"zz9 OK what\r\n"]);
        let tag = conn.send(&Command::text("NOOP")).unwrap();
        let error = conn.answer(&tag).unwrap_err();
        assert!(error.to_string().contains("a tag never sent"), "{error}");
    }

    #[test]
    fn continuations_reach_the_command_waiting_for_them() {
        let mut conn = connection(&[b"+ \r\n", b"* 5 EXISTS\r\n", b"a1 OK idle done\r\n"]);
        let tag = conn.send(&Command::text("IDLE")).unwrap();
        let mut news = Vec::new();
        assert_eq!(
            conn.continuation(&tag, &mut |_| false).unwrap(),
            Some(String::new())
        );
        assert!(conn
            .wait_untagged(Duration::from_secs(1), &mut |frame| news
                .push(frame.to_vec()))
            .unwrap());
        assert_eq!(news, vec![b"* 5 EXISTS\r\n".to_vec()]);
        conn.send_line(b"DONE", "DONE").unwrap();
        assert_eq!(conn.continuation(&tag, &mut |_| false).unwrap(), None);
        assert!(conn.answer(&tag).unwrap().is_ok());
        assert!(!conn
            .wait_untagged(Duration::from_secs(1), &mut |_| {})
            .unwrap());
    }
}
