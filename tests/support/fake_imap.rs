//! A scripted fake IMAP server, only for protocol error cases that a real
//! Dovecot never produces (malformed responses, absurd literal sizes, UIDs
//! that go backwards, a UIDVALIDITY of 0, hostile folder names, ...). Real
//! Dovecot covers the normal behaviour: this one plays a plain, small,
//! well-behaved server (one INBOX with two messages) unless the test's
//! script answers a command itself.
//!
//! `FakeImap::start(script)` listens on 127.0.0.1 (plain, no TLS); the
//! script sees each command (`tag`, upper-case verb with `UID ` kept, the
//! whole line) and returns `Some(reply)` to answer it, or `None` for the
//! default answer. Stopped on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A command as the fake server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub tag: String,
    /// `LOGIN`, `SELECT`, `UID FETCH`, ...
    pub verb: String,
    /// The whole command line without CRLF.
    pub line: String,
}

/// What the server does about a command.
pub enum Reply {
    /// These bytes, then read the next command.
    Send(Vec<u8>),
    /// These bytes, then close the connection.
    SendAndClose(Vec<u8>),
    /// These bytes, then `x` without end (one endless line), until the
    /// client stops reading.
    Endless(Vec<u8>),
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Reply {
        Reply::Send(text.into().into_bytes())
    }
}

pub type Script = dyn Fn(&Request) -> Option<Reply> + Send + Sync;

/// The body of the default server's message `uid`.
pub fn default_body(uid: u32) -> String {
    format!(
        "From: fake@mailferry.test\r\nSubject: message {uid}\r\n\
         Message-ID: <fake.{uid}@mailferry.test>\r\n\r\nhello {uid}\r\n"
    )
}

/// The default answer: a server with INBOX holding UIDs 1 and 2.
pub fn default_reply(request: &Request) -> Reply {
    let tag = &request.tag;
    let upper = request.line.to_ascii_uppercase();
    let text = match request.verb.as_str() {
        "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 UIDPLUS\r\n{tag} OK done\r\n"),
        "LOGIN" | "AUTHENTICATE" => format!("{tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] in\r\n"),
        "LIST" if upper.ends_with("\"\" \"\"") => {
            format!("* LIST (\\Noselect) \"/\" \"\"\r\n{tag} OK done\r\n")
        }
        "LIST" => format!("* LIST () \"/\" INBOX\r\n{tag} OK done\r\n"),
        "SELECT" | "EXAMINE" => format!(
            "* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 3] ok\r\n\
             * FLAGS (\\Seen \\Deleted)\r\n{tag} OK [READ-WRITE] selected\r\n"
        ),
        "UID FETCH" => {
            let mut out = String::new();
            let wants_body = upper.contains("BODY");
            for uid in requested_uids(&request.line, 2) {
                let body = default_body(uid);
                if wants_body {
                    out.push_str(&format!(
                        "* {uid} FETCH (UID {uid} FLAGS (\\Seen) INTERNALDATE \
                         \"01-Jan-2024 10:00:00 +0000\" BODY[] {{{}}}\r\n{body})\r\n",
                        body.len()
                    ));
                } else {
                    out.push_str(&format!(
                        "* {uid} FETCH (UID {uid} FLAGS (\\Seen) RFC822.SIZE {})\r\n",
                        body.len()
                    ));
                }
            }
            format!("{out}{tag} OK fetched\r\n")
        }
        "UID SEARCH" => {
            // `UID SEARCH UID set` finds what the folder holds (UIDs 1 and
            // 2); any other search finds nothing.
            let words: Vec<&str> = request.line.split_ascii_whitespace().collect();
            let found = match words.as_slice() {
                [_, _, _, key, set] if key.eq_ignore_ascii_case("UID") => {
                    requested_uids(&format!("t UID FETCH {set}"), 2)
                }
                _ => Vec::new(),
            };
            let found: Vec<String> = found.iter().map(u32::to_string).collect();
            let space = if found.is_empty() { "" } else { " " };
            format!(
                "* SEARCH{space}{}\r\n{tag} OK searched\r\n",
                found.join(" ")
            )
        }
        "STATUS" => format!("* STATUS INBOX (UIDNEXT 3)\r\n{tag} OK done\r\n"),
        "APPEND" => format!("{tag} OK [APPENDUID 7 3] stored\r\n"),
        "LOGOUT" => {
            return Reply::SendAndClose(format!("* BYE bye\r\n{tag} OK bye\r\n").into_bytes())
        }
        _ => format!("{tag} OK done\r\n"),
    };
    Reply::text(text)
}

/// The UIDs a `UID FETCH` asks for, where they are in `1..=highest`.
pub fn requested_uids(line: &str, highest: u32) -> Vec<u32> {
    let set = line.split_ascii_whitespace().nth(3).unwrap_or("");
    let mut uids = Vec::new();
    for part in set.split(',') {
        let (low, high) = match part.split_once(':') {
            Some((low, high)) => (low, high),
            None => (part, part),
        };
        let parse = |s: &str| {
            if s == "*" {
                Some(highest)
            } else {
                s.parse::<u32>().ok()
            }
        };
        if let (Some(low), Some(high)) = (parse(low), parse(high)) {
            let (low, high) = (low.min(high), low.max(high));
            uids.extend((low..=high.min(highest)).filter(|uid| *uid >= 1));
        }
    }
    uids
}

pub struct FakeImap {
    port: u16,
    stopping: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    requests: Arc<Mutex<Vec<Request>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeImap {
    /// Starts with the default greeting.
    pub fn start(script: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static) -> FakeImap {
        FakeImap::start_with_greeting(
            "* OK [CAPABILITY IMAP4rev1 UIDPLUS] fake server ready\r\n",
            script,
        )
    }

    pub fn start_with_greeting(
        greeting: &str,
        script: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static,
    ) -> FakeImap {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stopping = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let requests: Arc<Mutex<Vec<Request>>> = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let greeting = greeting.to_string();
        let acceptor = {
            let (stopping, open, requests) = (stopping.clone(), open.clone(), requests.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    open.lock().unwrap().push(stream.try_clone().unwrap());
                    let (script, requests, greeting) =
                        (script.clone(), requests.clone(), greeting.clone());
                    std::thread::spawn(move || serve(stream, &greeting, &*script, &requests));
                }
            })
        };
        FakeImap {
            port,
            stopping,
            open,
            requests,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every command received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// One connection: greet, then answer command after command.
fn serve(stream: TcpStream, greeting: &str, script: &Script, requests: &Mutex<Vec<Request>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    if writer.write_all(greeting.as_bytes()).is_err() {
        return;
    }
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut text = String::from_utf8_lossy(&line).trim_end().to_string();
        // A synchronizing literal (an APPEND's message): invite it, read it
        // and the rest of the command.
        while let Some(length) = super::proxy::literal_length(text.as_bytes()) {
            if writer.write_all(b"+ go ahead\r\n").is_err() {
                return;
            }
            let mut literal = vec![0u8; length];
            if reader.read_exact(&mut literal).is_err() {
                return;
            }
            let mut rest = Vec::new();
            if reader.read_until(b'\n', &mut rest).is_err() {
                return;
            }
            text.push_str(String::from_utf8_lossy(&rest).trim_end());
        }
        let mut words = text.split_ascii_whitespace();
        let tag = words.next().unwrap_or("*").to_string();
        let first = words.next().unwrap_or("").to_ascii_uppercase();
        let verb = if first == "UID" {
            format!("UID {}", words.next().unwrap_or("").to_ascii_uppercase())
        } else {
            first
        };
        let request = Request {
            tag,
            verb,
            line: text,
        };
        requests.lock().unwrap().push(request.clone());
        let reply = script(&request).unwrap_or_else(|| default_reply(&request));
        let (bytes, close) = match reply {
            Reply::Send(bytes) => (bytes, false),
            Reply::SendAndClose(bytes) => (bytes, true),
            Reply::Endless(bytes) => {
                let filler = [b'x'; 64 * 1024];
                if writer.write_all(&bytes).is_ok() {
                    while writer.write_all(&filler).is_ok() {}
                }
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
        };
        if writer.write_all(&bytes).is_err() || close {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

impl Drop for FakeImap {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}
