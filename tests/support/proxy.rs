//! A TCP proxy on loopback that injects faults between mailferry and a
//! server: `FaultProxy::start(target_port, fault)` forwards connections to
//! 127.0.0.1:target_port and applies the [`Fault`] to the first one (a
//! trickle slows every one), as a bad network would. Later connections pass
//! untouched, so a client that reconnects gets through.
//!
//! The proxy also reads the IMAP commands going through the first
//! connection (their verbs only, never their arguments, so no password is
//! kept) with the byte counts in both directions at which each began: a run
//! through [`Fault::None`] tells a test at which offsets login, listing,
//! fetching, appending, flag changes and expunges happen, so it can choose
//! cuts that hit each phase, and [`FaultProxy::cut_during`] says which
//! command a cut interrupted. Stopped (every connection closed) on drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: a plain forwarder (that still records the transcript).
    None,
    /// Close the first connection once this many bytes came from the server.
    CutAfter(usize),
    /// Close the first connection once this many bytes came from the client
    /// (the server sees a command or an upload end half way).
    CutClientAfter(usize),
    /// After this many bytes from the server, forward nothing more on the
    /// first connection but keep it open: the client must time out.
    StallAfter(usize),
    /// Every connection gets the server's bytes `chunk` at a time with
    /// `pause` between chunks: slow, but never silent for long.
    Trickle { chunk: usize, pause: Duration },
    /// The first connection is closed when the server's tagged answer to
    /// the `nth` (from 1) command with this verb arrives, before the client
    /// sees it: the server acted, the client cannot know whether it did.
    /// Verbs as in [`Command::verb`] (`APPEND`, `UID STORE`, `UID EXPUNGE`).
    CloseAfterCommand { verb: &'static str, nth: usize },
    /// Every connection's client bytes are taken at once and handed to the
    /// server `chunk` at a time with `pause` between chunks: a slow link
    /// (or server). A client killed after it sent a batch leaves the
    /// server receiving it, and storing it, well after the client is gone.
    SlowUpload { chunk: usize, pause: Duration },
    /// On every connection, a message the client appended (its UID read
    /// from the APPENDUID the server sends, advertised or not) is left out
    /// of `* SEARCH` answers until the client sends a NOOP: a server that
    /// shows appended mail to a search late (Courier does).
    HideAppendsUntilNoop,
    /// On the first connection, the first APPEND (all of it, a whole
    /// MULTIAPPEND batch) is kept from the server until
    /// [`FaultProxy::release`], even after the client is gone; then it is
    /// handed over and the connection closed, as a dead client's kernel
    /// would. [`FaultProxy::holding_whole_append`] says when it holds all
    /// of it: a server that stores what a killed client sent, late.
    HoldFirstAppend,
    /// On every connection, bytes of 128 and above in the header of an
    /// uploaded message (a literal after `APPEND`) become `X`: the same
    /// size, other bytes, as Cyrus stores raw 8-bit header bytes.
    RewriteEightBitHeaders,
}

/// A command seen on the first connection, with where it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Upper case; `UID FETCH`, `UID STORE` etc. keep their `UID`.
    pub verb: String,
    /// Bytes the client had sent before this command.
    pub client_offset: usize,
    /// Bytes the server had sent when the command was read.
    pub server_offset: usize,
}

/// What the pumps of the first connection share.
#[derive(Debug, Default)]
struct FirstConnection {
    commands: Vec<Command>,
    client_bytes: usize,
    server_bytes: usize,
    /// The tag whose tagged answer ends the connection (CloseAfterCommand).
    fatal_tag: Option<String>,
    cut: bool,
    cut_during: Option<String>,
    /// HoldFirstAppend: the whole command is held; it may be handed on.
    held_whole: bool,
    released: bool,
}

pub struct FaultProxy {
    port: u16,
    stopping: Arc<AtomicBool>,
    /// Connections whose client bytes are still being handed on slowly
    /// (SlowUpload).
    slow_in_flight: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    first: Arc<Mutex<FirstConnection>>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    pub fn start(target_port: u16, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stopping = Arc::new(AtomicBool::new(false));
        let slow_in_flight = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let first = Arc::new(Mutex::new(FirstConnection::default()));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stopping, connections, first, open, slow_in_flight) = (
                stopping.clone(),
                connections.clone(),
                first.clone(),
                open.clone(),
                slow_in_flight.clone(),
            );
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target_port)) else {
                        continue;
                    };
                    let number = connections.fetch_add(1, Ordering::SeqCst);
                    {
                        let mut open = open.lock().unwrap();
                        open.push(client.try_clone().unwrap());
                        open.push(server.try_clone().unwrap());
                    }
                    let watched = (number == 0).then(|| first.clone());
                    let rules = Rules::for_connection(fault, number);
                    let hidden: Arc<Mutex<Vec<u32>>> = Arc::default();
                    let (client_in, server_out) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let upstream = Pump {
                        direction: Direction::ClientToServer,
                        rules,
                        watched: watched.clone(),
                        stopping: stopping.clone(),
                        hidden: hidden.clone(),
                        slow_in_flight: slow_in_flight.clone(),
                    };
                    std::thread::spawn(move || upstream.run(client_in, server_out));
                    let downstream = Pump {
                        direction: Direction::ServerToClient,
                        rules,
                        watched,
                        stopping: stopping.clone(),
                        hidden,
                        slow_in_flight: slow_in_flight.clone(),
                    };
                    std::thread::spawn(move || downstream.run(server, client));
                }
            })
        };
        FaultProxy {
            port,
            stopping,
            slow_in_flight,
            connections,
            first,
            open,
            acceptor: Some(acceptor),
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections were made through the proxy.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many connections the fault cut (0 or 1: only the first is cut).
    pub fn cuts(&self) -> usize {
        usize::from(self.first.lock().unwrap().cut)
    }

    /// The verb of the last command the client had sent on the first
    /// connection when the fault cut it (`None`: before any command, i.e.
    /// during the greeting, or no cut).
    pub fn cut_during(&self) -> Option<String> {
        self.first.lock().unwrap().cut_during.clone()
    }

    /// The commands seen on the first connection, in order.
    pub fn commands(&self) -> Vec<Command> {
        self.first.lock().unwrap().commands.clone()
    }

    /// Whether every byte a client sent was handed on (SlowUpload) and its
    /// connection closed: nothing more reaches the server.
    pub fn drained(&self) -> bool {
        self.slow_in_flight.load(Ordering::SeqCst) == 0
    }

    /// Whether the first APPEND is held whole (see [`Fault::HoldFirstAppend`]).
    pub fn holding_whole_append(&self) -> bool {
        self.first.lock().unwrap().held_whole
    }

    /// Hands the held APPEND to the server.
    pub fn release(&self) {
        self.first.lock().unwrap().released = true;
    }

    /// Bytes (client to server, server to client) on the first connection.
    pub fn first_connection_bytes(&self) -> (usize, usize) {
        let first = self.first.lock().unwrap();
        (first.client_bytes, first.server_bytes)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

/// The fault as it applies to one connection and direction.
#[derive(Debug, Clone, Copy)]
struct Rules {
    fault: Fault,
    /// Whether the one-shot faults apply (first connection only).
    first: bool,
}

impl Rules {
    fn for_connection(fault: Fault, number: usize) -> Rules {
        Rules {
            fault,
            first: number == 0,
        }
    }

    /// Bytes this direction may forward in all before it is cut (`Cut`)
    /// or stalls (`Stall`).
    fn limit(&self, direction: Direction) -> Option<(usize, Limit)> {
        if !self.first {
            return None;
        }
        match (self.fault, direction) {
            (Fault::CutAfter(n), Direction::ServerToClient) => Some((n, Limit::Cut)),
            (Fault::CutClientAfter(n), Direction::ClientToServer) => Some((n, Limit::Cut)),
            (Fault::StallAfter(n), Direction::ServerToClient) => Some((n, Limit::Stall)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Cut,
    Stall,
}

/// One direction of one connection.
struct Pump {
    direction: Direction,
    rules: Rules,
    /// The first connection's shared record; `None` on later connections.
    watched: Option<Arc<Mutex<FirstConnection>>>,
    stopping: Arc<AtomicBool>,
    /// UIDs left out of search answers (HideAppendsUntilNoop), shared by
    /// the connection's two pumps.
    hidden: Arc<Mutex<Vec<u32>>>,
    slow_in_flight: Arc<AtomicUsize>,
}

impl Pump {
    /// Copies `from` to `to` until either side closes or the fault strikes;
    /// then closes both (a stall leaves them open for the client to give up).
    fn run(self, mut from: TcpStream, mut to: TcpStream) {
        if let Fault::SlowUpload { chunk, pause } = self.rules.fault {
            if self.direction == Direction::ClientToServer {
                self.slow_in_flight.fetch_add(1, Ordering::SeqCst);
                run_slow_upload(from, to, chunk, pause);
                self.slow_in_flight.fetch_sub(1, Ordering::SeqCst);
                return;
            }
        }
        if self.rules.fault == Fault::HoldFirstAppend && self.direction == Direction::ClientToServer
        {
            if let Some(first) = self.watched.clone() {
                return self.run_holding_first_append(from, to, &first);
            }
        }
        let mut buffer = vec![0u8; 16 * 1024];
        let mut total = 0usize;
        let mut reader = CommandReader::default();
        // HideAppendsUntilNoop: the client's commands, and the server's
        // lines (held until whole so they can be rewritten).
        let hiding = self.rules.fault == Fault::HideAppendsUntilNoop;
        let mut noop_reader = CommandReader::default();
        let mut server_lines = ServerLines::default();
        let rewriting = self.rules.fault == Fault::RewriteEightBitHeaders
            && self.direction == Direction::ClientToServer;
        let mut uploads = UploadRewriter::default();
        // The end of what was forwarded, to find a tagged line that spans
        // two reads.
        let mut recent: Vec<u8> = Vec::new();
        let limit = self.rules.limit(self.direction);
        loop {
            let mut want = buffer.len();
            if let Some((limit, kind)) = limit {
                if total >= limit {
                    match kind {
                        Limit::Cut => self.record_cut(),
                        Limit::Stall => {
                            // Silent but open until the client gives up or
                            // the proxy stops.
                            self.record_cut();
                            while !self.stopping.load(Ordering::SeqCst) && peer_open(&to) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                    break;
                }
                want = want.min(limit - total);
            }
            if let Fault::Trickle { chunk, .. } = self.rules.fault {
                if self.direction == Direction::ServerToClient {
                    want = want.min(chunk.max(1));
                }
            }

            let n = match from.read(&mut buffer[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let rewritten;
            if rewriting {
                uploads.feed(&mut buffer[..n]);
            }
            let mut data = &buffer[..n];
            if hiding {
                match self.direction {
                    Direction::ClientToServer => {
                        let noop = noop_reader
                            .feed(data)
                            .iter()
                            .any(|(_, command)| command.verb == "NOOP");
                        if noop {
                            self.hidden.lock().unwrap().clear();
                        }
                    }
                    Direction::ServerToClient => {
                        rewritten = server_lines.feed(data, &self.hidden);
                        data = &rewritten;
                    }
                }
            }
            let mut fatal_answer = false;
            if let Some(watched) = &self.watched {
                let mut first = watched.lock().unwrap();
                match self.direction {
                    Direction::ClientToServer => {
                        for (offset, command) in reader.feed(data) {
                            let server_offset = first.server_bytes;
                            if let Fault::CloseAfterCommand { verb, nth } = self.rules.fault {
                                let seen = first.commands.iter().filter(|c| c.verb == verb).count();
                                if command.verb == verb && seen + 1 == nth {
                                    first.fatal_tag = Some(command.tag.clone());
                                }
                            }
                            first.commands.push(Command {
                                verb: command.verb,
                                client_offset: offset,
                                server_offset,
                            });
                        }
                        first.client_bytes += n;
                    }
                    Direction::ServerToClient => {
                        if let Some(tag) = first.fatal_tag.clone() {
                            if let Some(at) = find_tagged_line(&recent, data, &tag) {
                                data = &data[..at];
                                fatal_answer = true;
                            }
                        }
                        first.server_bytes += data.len();
                    }
                }
            }
            if to.write_all(data).is_err() {
                break;
            }
            total += data.len();
            if fatal_answer {
                self.record_cut();
                break;
            }
            if self.watched.is_some() && self.direction == Direction::ServerToClient {
                recent.extend_from_slice(data);
                let keep = recent.len().saturating_sub(256);
                recent.drain(..keep);
            }
            if let Fault::Trickle { pause, .. } = self.rules.fault {
                if self.direction == Direction::ServerToClient {
                    std::thread::sleep(pause);
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    }

    /// [`Fault::HoldFirstAppend`] on the first connection's upload side.
    fn run_holding_first_append(
        &self,
        mut from: TcpStream,
        mut to: TcpStream,
        first: &Mutex<FirstConnection>,
    ) {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut reader = CommandReader::default();
        let mut held: Option<Vec<u8>> = None;
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let data = &buffer[..n];
            let base = reader.fed;
            let commands = reader.feed(data);
            match held.as_mut() {
                Some(held) => held.extend_from_slice(data),
                None => {
                    let append = commands.iter().find(|(_, c)| c.verb == "APPEND");
                    // The APPEND line may have begun in an earlier read: the
                    // server then waits for the rest of it.
                    let split = append.map_or(n, |(offset, _)| offset.saturating_sub(base));
                    if to.write_all(&data[..split]).is_err() {
                        break;
                    }
                    if append.is_some() {
                        held = Some(data[split..].to_vec());
                    }
                }
            }
            if held.is_some() && reader.between_commands() {
                first.lock().unwrap().held_whole = true;
            }
        }
        let Some(held) = held else {
            let _ = to.shutdown(Shutdown::Both);
            return;
        };
        while !first.lock().unwrap().released && !self.stopping.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = to.write_all(&held);
        let _ = to.shutdown(Shutdown::Write);
    }

    fn record_cut(&self) {
        if let Some(watched) = &self.watched {
            let mut first = watched.lock().unwrap();
            first.cut = true;
            first.cut_during = first.commands.last().map(|c| c.verb.clone());
        }
    }
}

/// [`Fault::SlowUpload`] for one connection: a reader takes the client's
/// bytes as they come, this thread hands them on slowly; everything the
/// client sent reaches the server, then the server's side is closed.
fn run_slow_upload(mut from: TcpStream, mut to: TcpStream, chunk: usize, pause: Duration) {
    let (sender, queue) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sender.send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    'forward: for data in queue {
        for piece in data.chunks(chunk.max(1)) {
            if to.write_all(piece).is_err() {
                break 'forward;
            }
            std::thread::sleep(pause);
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

/// Rewrites the 8-bit header bytes of uploaded messages in place, for
/// [`Fault::RewriteEightBitHeaders`]: it follows the client's lines and
/// literals; a literal announced on an `APPEND` line is a message.
#[derive(Default)]
struct UploadRewriter {
    line: Vec<u8>,
    literal_left: usize,
    /// Whether the literal being passed is a message whose header is not
    /// over yet, and the last bytes of it seen (to find the empty line).
    in_header: bool,
    recent: Vec<u8>,
    /// Whether the current command is an APPEND (its later literals are
    /// messages too, in a MULTIAPPEND).
    appending: bool,
}

impl UploadRewriter {
    fn feed(&mut self, data: &mut [u8]) {
        for byte in data.iter_mut() {
            if self.literal_left > 0 {
                self.literal_left -= 1;
                if self.in_header {
                    if *byte >= 0x80 {
                        *byte = b'X';
                    }
                    self.recent.push(*byte);
                    if self.recent.ends_with(b"\r\n\r\n") || self.recent.ends_with(b"\n\n") {
                        self.in_header = false;
                    }
                    let keep = self.recent.len().saturating_sub(4);
                    self.recent.drain(..keep);
                }
                continue;
            }
            self.line.push(*byte);
            if *byte != b'\n' {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let continuing = self.appending;
            if !continuing {
                self.appending = name_command(&line).is_some_and(|c| c.verb == "APPEND");
            }
            match literal_length(&line) {
                Some(length) if self.appending => {
                    self.literal_left = length;
                    self.in_header = true;
                    self.recent.clear();
                }
                Some(length) => self.literal_left = length,
                None => self.appending = false,
            }
        }
    }
}

/// The server's bytes cut into lines (literals passed through whole), for
/// [`Fault::HideAppendsUntilNoop`].
#[derive(Default)]
struct ServerLines {
    line: Vec<u8>,
    /// Bytes of a literal still to pass through.
    literal_left: usize,
}

impl ServerLines {
    /// What to forward of `data` now: whole lines, rewritten, and literal
    /// bytes; a partial line waits for its end.
    fn feed(&mut self, data: &[u8], hidden: &Mutex<Vec<u32>>) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if self.literal_left > 0 {
                let take = self.literal_left.min(data.len() - i);
                out.extend_from_slice(&data[i..i + take]);
                self.literal_left -= take;
                i += take;
                continue;
            }
            self.line.push(data[i]);
            i += 1;
            if data[i - 1] != b'\n' {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            self.literal_left = literal_length(&line).unwrap_or(0);
            out.extend_from_slice(&rewrite_server_line(&line, hidden));
        }
        out
    }
}

/// Notes the UIDs of an APPENDUID answer as hidden; leaves hidden UIDs out
/// of a `* SEARCH` answer.
fn rewrite_server_line(line: &[u8], hidden: &Mutex<Vec<u32>>) -> Vec<u8> {
    let text = String::from_utf8_lossy(line);
    if let Some(code) = text.split("[APPENDUID ").nth(1) {
        // [APPENDUID <uidvalidity> <uid-set>]
        let set = code.split(']').next().unwrap_or("");
        let uids = set.split(' ').nth(1).unwrap_or("");
        let mut hidden = hidden.lock().unwrap();
        for part in uids.split(',') {
            match part.split_once(':') {
                Some((low, high)) => {
                    if let (Ok(low), Ok(high)) = (low.parse::<u32>(), high.parse::<u32>()) {
                        hidden.extend(low.min(high)..=low.max(high));
                    }
                }
                None => hidden.extend(part.parse::<u32>()),
            }
        }
        return line.to_vec();
    }
    let Some(found) = text.strip_prefix("* SEARCH") else {
        return line.to_vec();
    };
    let hidden = hidden.lock().unwrap();
    let kept: Vec<&str> = found
        .split_ascii_whitespace()
        .filter(|uid| {
            uid.parse::<u32>()
                .map_or(true, |uid| !hidden.contains(&uid))
        })
        .collect();
    let mut rewritten = String::from("* SEARCH");
    for uid in kept {
        rewritten.push(' ');
        rewritten.push_str(uid);
    }
    rewritten.push_str("\r\n");
    rewritten.into_bytes()
}

/// Whether the client still holds its end: a stalled pump waits on it.
fn peer_open(client: &TcpStream) -> bool {
    // A closed peer (or our other pump's shutdown) makes the socket read 0
    // bytes; peeking leaves anything else for that pump.
    let mut probe = [0u8; 1];
    let _ = client.set_nonblocking(true);
    let open = !matches!(client.peek(&mut probe), Ok(0));
    let _ = client.set_nonblocking(false);
    open
}

/// Where in `data` the server's tagged answer for `tag` begins, if a line
/// starting `tag ` begins in it (looking back into `recent` for the line
/// start of a line that began at the very start of `data`).
fn find_tagged_line(recent: &[u8], data: &[u8], tag: &str) -> Option<usize> {
    let needle = format!("{tag} ");
    let needle = needle.as_bytes();
    let mut joined = Vec::with_capacity(recent.len() + data.len());
    joined.extend_from_slice(recent);
    joined.extend_from_slice(data);
    let start_of_data = recent.len();
    (0..joined.len())
        .find_map(|i| {
            let line_start = i == 0 || joined[i - 1] == b'\n';
            if line_start && joined[i..].starts_with(needle) {
                // A line that began before `data` was already forwarded in part:
                // cut at the start of `data` then.
                Some(i.saturating_sub(start_of_data))
            } else {
                None
            }
        })
        .filter(|_| !data.is_empty())
}

/// A command's tag and verb as read from the client's bytes.
struct SeenCommand {
    tag: String,
    verb: String,
}

/// Splits the client's bytes into IMAP command lines, skipping literals
/// (an APPEND's message), and names each command.
#[derive(Default)]
struct CommandReader {
    line: Vec<u8>,
    /// Offset (in all bytes fed) where the current line began.
    line_start: usize,
    /// Bytes of a literal still to skip.
    literal_left: usize,
    /// Whether the current line continues a command after a literal.
    continuation: bool,
    fed: usize,
}

impl CommandReader {
    /// Whether everything fed so far ends a command: no partial line, no
    /// literal or continuation line still to come.
    fn between_commands(&self) -> bool {
        self.line.is_empty() && self.literal_left == 0 && !self.continuation
    }

    /// Returns (offset, command) for every command line that ends in
    /// `data`; the offset counts every byte fed before the line began.
    fn feed(&mut self, data: &[u8]) -> Vec<(usize, SeenCommand)> {
        let base = self.fed;
        self.fed += data.len();
        let mut found = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if self.literal_left > 0 {
                let skip = self.literal_left.min(data.len() - i);
                self.literal_left -= skip;
                i += skip;
                continue;
            }
            if self.line.is_empty() {
                self.line_start = base + i;
            }
            let byte = data[i];
            self.line.push(byte);
            i += 1;
            if byte != b'\n' {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            if !self.continuation {
                if let Some(command) = name_command(&line) {
                    found.push((self.line_start, command));
                }
            }
            match literal_length(&line) {
                Some(length) => {
                    self.literal_left = length;
                    self.continuation = true;
                }
                None => self.continuation = false,
            }
        }
        found
    }
}

/// `a12 UID FETCH 1:* ...` → tag `a12`, verb `UID FETCH`. AUTHENTICATE
/// continuation lines and the like have no verb of letters and are skipped.
fn name_command(line: &[u8]) -> Option<SeenCommand> {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_ascii_whitespace();
    let tag = words.next()?.to_string();
    let first = words.next()?.to_ascii_uppercase();
    if !first.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let verb = if first == "UID" {
        format!("UID {}", words.next()?.to_ascii_uppercase())
    } else {
        first
    };
    Some(SeenCommand { tag, verb })
}

/// The length of the literal announced at the end of a line (`{123}` or
/// `{123+}`).
pub fn literal_length(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line)
        .ok()?
        .trim_end_matches(['\r', '\n']);
    let inner = text.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].trim_end_matches('+').parse().ok()
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wake the acceptor so it sees `stopping`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}
