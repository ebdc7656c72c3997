//! A plain-IMAP client for tests, playing "another mail client" on the server:
//! it sets up mailboxes before a sync and reads them back afterwards.
//!
//! Every method panics with the folder and the server's answer on failure:
//! it is test code, and a failed setup step should stop the test loudly.

use chrono::{DateTime, FixedOffset};
use imap::types::Flag;
use imap::Session;
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

/// One message as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    pub uid: u32,
    /// System flags (`\Seen`, ...) and keywords, sorted; never `\Recent`.
    pub flags: Vec<String>,
    /// INTERNALDATE as unix seconds.
    pub internal_date: i64,
    /// RFC822.SIZE.
    pub size: u32,
    pub content: Vec<u8>,
    /// The Message-ID header's value, angle brackets included.
    pub message_id: Option<String>,
}

impl ServerMessage {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

pub struct ImapTestClient {
    session: Session<TcpStream>,
}

impl ImapTestClient {
    /// Logs in with LOGIN on the plain port of 127.0.0.1.
    pub fn login(port: u16, user: &str, password: &str) -> ImapTestClient {
        ImapTestClient::try_login(port, user, password).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`ImapTestClient::login`], saying what failed instead of panicking.
    pub fn try_login(port: u16, user: &str, password: &str) -> Result<ImapTestClient, String> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| format!("cannot connect to IMAP port {port}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut client = imap::Client::new(stream);
        client
            .read_greeting()
            .map_err(|e| format!("no greeting on port {port}: {e}"))?;
        let session = client
            .login(user, password)
            .map_err(|(e, _)| format!("LOGIN {user} on port {port} failed: {e}"))?;
        Ok(ImapTestClient { session })
    }

    /// The underlying session, for commands this client does not wrap.
    pub fn session(&mut self) -> &mut Session<TcpStream> {
        &mut self.session
    }

    /// Whether the server advertises a capability (e.g. "UIDPLUS").
    pub fn has_capability(&mut self, capability: &str) -> bool {
        self.session.capabilities().unwrap().has_str(capability)
    }

    pub fn create(&mut self, folder: &str) {
        // The crate quotes and escapes CREATE's argument itself.
        self.session
            .create(folder)
            .unwrap_or_else(|e| panic!("CREATE {folder:?} failed: {e}"));
    }

    /// Appends a message and returns its UID: from APPENDUID where the server
    /// gives it, else the highest UID in the folder afterwards.
    pub fn append(
        &mut self,
        folder: &str,
        content: &[u8],
        flags: &[&str],
        date: Option<DateTime<FixedOffset>>,
    ) -> u32 {
        // imap 3.0.0-alpha.15 puts APPEND's mailbox in quotes but does not
        // escape it: escape `\` and `"` here, without adding quotes.
        let escaped = escape_quoted(folder);
        let mut command = self.session.append(&escaped, content);
        command.flags(flags.iter().map(|f| Flag::from(f.to_string())));
        if let Some(date) = date {
            command.internal_date(date);
        }
        let appended = command
            .finish()
            .unwrap_or_else(|e| panic!("APPEND to {folder:?} failed: {e}"));
        let reported_uid = appended
            .uids
            .and_then(|uids| uids.into_iter().next())
            .map(|member| match member {
                imap_proto::UidSetMember::Uid(uid) => uid,
                imap_proto::UidSetMember::UidRange(range) => *range.end(),
            });
        match reported_uid {
            Some(uid) => uid,
            None => self.highest_uid(folder),
        }
    }

    pub fn add_flags(&mut self, folder: &str, uid: u32, flags: &[&str]) {
        self.store_flags(folder, uid, "+FLAGS.SILENT", flags);
    }

    pub fn remove_flags(&mut self, folder: &str, uid: u32, flags: &[&str]) {
        self.store_flags(folder, uid, "-FLAGS.SILENT", flags);
    }

    /// Marks one message \Deleted and expunges only it (UID EXPUNGE).
    pub fn expunge_uid(&mut self, folder: &str, uid: u32) {
        self.store_flags(folder, uid, "+FLAGS.SILENT", &["\\Deleted"]);
        self.session
            .uid_expunge(uid.to_string())
            .unwrap_or_else(|e| panic!("UID EXPUNGE {uid} in {folder:?} failed: {e}"));
    }

    /// Every mailbox name, sorted, as the server sends it (modified UTF-7
    /// is not decoded).
    pub fn folders(&mut self) -> Vec<String> {
        // The crate sends LIST's pattern unquoted.
        let names = self
            .session
            .list(Some(""), Some("\"*\""))
            .unwrap_or_else(|e| panic!("LIST failed: {e}"));
        let mut folders: Vec<String> = names.iter().map(|n| n.name().to_string()).collect();
        folders.sort();
        folders
    }

    /// Every message of a folder with flags, date, size and content, by UID.
    pub fn messages(&mut self, folder: &str) -> Vec<ServerMessage> {
        let mailbox = self
            .session
            .examine(folder)
            .unwrap_or_else(|e| panic!("EXAMINE {folder:?} failed: {e}"));
        if mailbox.exists == 0 {
            return Vec::new();
        }
        let fetches = self
            .session
            .uid_fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
            .unwrap_or_else(|e| panic!("UID FETCH in {folder:?} failed: {e}"));
        let mut messages: Vec<ServerMessage> = fetches
            .iter()
            // A FETCH without UID is another client's flag change (a sync
            // running beside the test) that the server reports in passing.
            .filter(|fetch| fetch.uid.is_some())
            .map(|fetch| {
                let content = fetch.body().unwrap_or_default().to_vec();
                let mut flags: Vec<String> = fetch
                    .flags()
                    .iter()
                    .filter(|flag| **flag != Flag::Recent)
                    .map(|flag| flag.to_string())
                    .collect();
                flags.sort();
                ServerMessage {
                    uid: fetch.uid.unwrap(),
                    flags,
                    internal_date: fetch.internal_date().unwrap().timestamp(),
                    size: fetch.size.unwrap(),
                    message_id: header_value(&content, "Message-ID"),
                    content,
                }
            })
            .collect();
        messages.sort_by_key(|m| m.uid);
        messages
    }

    /// Message count of a folder, without fetching.
    pub fn count(&mut self, folder: &str) -> u32 {
        self.session
            .examine(folder)
            .unwrap_or_else(|e| panic!("EXAMINE {folder:?} failed: {e}"))
            .exists
    }

    pub fn logout(mut self) {
        let _ = self.session.logout();
    }

    fn store_flags(&mut self, folder: &str, uid: u32, operation: &str, flags: &[&str]) {
        self.session
            .select(folder)
            .unwrap_or_else(|e| panic!("SELECT {folder:?} failed: {e}"));
        let query = format!("{operation} ({})", flags.join(" "));
        self.session
            .uid_store(uid.to_string(), &query)
            .unwrap_or_else(|e| panic!("UID STORE {uid} {query} in {folder:?} failed: {e}"));
    }

    fn highest_uid(&mut self, folder: &str) -> u32 {
        self.session
            .examine(folder)
            .unwrap_or_else(|e| panic!("EXAMINE {folder:?} failed: {e}"));
        let uids = self
            .session
            .uid_search("ALL")
            .unwrap_or_else(|e| panic!("UID SEARCH in {folder:?} failed: {e}"));
        uids.into_iter()
            .max()
            .unwrap_or_else(|| panic!("{folder:?} is empty right after an APPEND"))
    }
}

/// The inside of an IMAP quoted string: `\` and `"` escaped.
pub fn escape_quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The unfolded value of the first header named `name` (case-insensitive).
pub fn header_value(message: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let mut value: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.is_empty() {
            break;
        }
        if let Some(found) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                found.push(' ');
                found.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((field, rest)) = line.split_once(':') {
            if field.eq_ignore_ascii_case(name) {
                value = Some(rest.trim().to_string());
            }
        }
    }
    value
}
