//! A plain-IMAP client for tests, playing "another mail client" on the server:
//! it sets up mailboxes before a sync and reads them back afterwards.
//!
//! Every method panics with the folder and the server's answer on failure:
//! it is test code, and a failed setup step should stop the test loudly.

use chrono::{DateTime, FixedOffset};
use mailferry::store::imap::client::response::{Code, Data, Fetch};
use mailferry::store::imap::client::{Answer, Command, Connection, Limits};
use mailferry::store::tls::NetStream;
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
    session: TestSession,
}

/// The connection, for commands [`ImapTestClient`] does not wrap; each
/// returns the server's refusal or a failed conversation as `Err`.
pub struct TestSession {
    connection: Connection,
}

/// What SELECT and EXAMINE tell.
#[derive(Debug, Default)]
pub struct Mailbox {
    pub exists: u32,
    pub uid_validity: Option<u32>,
}

impl TestSession {
    /// Runs a command; the answer when the server said OK.
    pub fn run(&mut self, command: &Command<'_>) -> Result<Answer, String> {
        let answer = self
            .connection
            .run(command)
            .map_err(|e| format!("{} failed: {e}", command.shown()))?;
        if !answer.is_ok() {
            return Err(format!(
                "{} failed: {}",
                command.shown(),
                answer.status().describe()
            ));
        }
        Ok(answer)
    }

    fn mailbox(&mut self, verb: &str, folder: &str) -> Result<Mailbox, String> {
        let answer = self.run(&Command::new(verb).string(folder.as_bytes()))?;
        let mut mailbox = Mailbox::default();
        for data in answer.data() {
            match data {
                Data::Exists(count) => mailbox.exists = count,
                Data::Status(status) => {
                    if let Some(Code::UidValidity(value)) = status.code {
                        mailbox.uid_validity = Some(value);
                    }
                }
                _ => {}
            }
        }
        Ok(mailbox)
    }

    pub fn select(&mut self, folder: &str) -> Result<Mailbox, String> {
        self.mailbox("SELECT", folder)
    }

    pub fn examine(&mut self, folder: &str) -> Result<Mailbox, String> {
        self.mailbox("EXAMINE", folder)
    }

    pub fn create(&mut self, folder: &str) -> Result<(), String> {
        self.run(&Command::new("CREATE").string(folder.as_bytes()))
            .map(drop)
    }

    pub fn delete(&mut self, folder: impl AsRef<str>) -> Result<(), String> {
        self.run(&Command::new("DELETE").string(folder.as_ref().as_bytes()))
            .map(drop)
    }

    pub fn rename(&mut self, from: impl AsRef<str>, to: impl AsRef<str>) -> Result<(), String> {
        let command = Command::new("RENAME")
            .string(from.as_ref().as_bytes())
            .string(to.as_ref().as_bytes());
        self.run(&command).map(drop)
    }

    pub fn uid_store(&mut self, set: impl AsRef<str>, query: &str) -> Result<(), String> {
        let command = Command::text(&format!("UID STORE {} {query}", set.as_ref()));
        self.run(&command).map(drop)
    }

    pub fn uid_expunge(&mut self, set: impl AsRef<str>) -> Result<(), String> {
        self.run(&Command::text(&format!("UID EXPUNGE {}", set.as_ref())))
            .map(drop)
    }

    pub fn uid_search(&mut self, query: &str) -> Result<Vec<u32>, String> {
        let answer = self.run(&Command::text(&format!("UID SEARCH {query}")))?;
        Ok(answer
            .data()
            .filter_map(|data| match data {
                Data::Search(uids) => Some(uids),
                _ => None,
            })
            .flatten()
            .collect())
    }

    pub fn capabilities(&mut self) -> Result<Vec<String>, String> {
        let answer = self.run(&Command::text("CAPABILITY"))?;
        Ok(answer
            .data()
            .filter_map(|data| match data {
                Data::Capability(names) => Some(names),
                _ => None,
            })
            .flatten()
            .map(str::to_ascii_uppercase)
            .collect())
    }
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
        let mut connection = Connection::new(
            NetStream::Plain(stream),
            &format!("port {port}"),
            Duration::from_secs(30),
            Limits::default(),
        );
        connection
            .greeting()
            .map_err(|e| format!("no greeting on port {port}: {e}"))?;
        let mut session = TestSession { connection };
        let login = Command::new("LOGIN")
            .string(user.as_bytes())
            .secret(password.as_bytes());
        session
            .run(&login)
            .map_err(|e| format!("LOGIN {user} on port {port} failed: {e}"))?;
        Ok(ImapTestClient { session })
    }

    /// The underlying session, for commands this client does not wrap.
    pub fn session(&mut self) -> &mut TestSession {
        &mut self.session
    }

    /// Whether the server advertises a capability (e.g. "UIDPLUS").
    pub fn has_capability(&mut self, capability: &str) -> bool {
        let wanted = capability.to_ascii_uppercase();
        self.session.capabilities().unwrap().contains(&wanted)
    }

    pub fn create(&mut self, folder: &str) {
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
        let mut command = Command::new("APPEND")
            .string(folder.as_bytes())
            .atom(&format!("({})", flags.join(" ")));
        if let Some(date) = date {
            command = command.atom(&format!("\"{}\"", date.format("%d-%b-%Y %H:%M:%S %z")));
        }
        let command = command.literal(content);
        let appended = self
            .session
            .run(&command)
            .unwrap_or_else(|e| panic!("APPEND to {folder:?} failed: {e}"));
        let reported_uid = match appended.status().code {
            Some(Code::AppendUid { uids, .. }) => uids
                .rsplit([':', ','])
                .next()
                .and_then(|last| last.parse().ok()),
            _ => None,
        };
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
        self.try_expunge_uid(folder, uid)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// [`ImapTestClient::expunge_uid`], saying what failed instead of
    /// panicking.
    pub fn try_expunge_uid(&mut self, folder: &str, uid: u32) -> Result<(), String> {
        self.session
            .select(folder)
            .map_err(|e| format!("SELECT {folder:?} failed: {e}"))?;
        self.session
            .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Deleted)")
            .map_err(|e| format!("UID STORE {uid} in {folder:?} failed: {e}"))?;
        self.session
            .uid_expunge(uid.to_string())
            .map_err(|e| format!("UID EXPUNGE {uid} in {folder:?} failed: {e}"))
    }

    /// Every mailbox name, sorted, as the server sends it (modified UTF-7
    /// is not decoded).
    pub fn folders(&mut self) -> Vec<String> {
        let answer = self
            .session
            .run(&Command::text(r#"LIST "" "*""#))
            .unwrap_or_else(|e| panic!("LIST failed: {e}"));
        let mut folders: Vec<String> = answer
            .data()
            .filter_map(|data| match data {
                Data::List(list) => Some(String::from_utf8_lossy(&list.name).into_owned()),
                _ => None,
            })
            .collect();
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
        let answer = self
            .session
            .run(&Command::text(
                "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
            ))
            .unwrap_or_else(|e| panic!("UID FETCH in {folder:?} failed: {e}"));
        let mut messages = Vec::new();
        for data in answer.data() {
            let Data::Fetch { items, .. } = data else {
                continue;
            };
            let fetch = Fetch::parse(items).unwrap_or_else(|e| panic!("in {folder:?}: {e}"));
            // A FETCH without UID is another client's flag change (a sync
            // running beside the test) that the server reports in passing.
            let Some(uid) = fetch.uid else { continue };
            let content = fetch
                .body
                .flatten()
                .map(|b| b.into_owned())
                .unwrap_or_default();
            let mut flags: Vec<String> = fetch
                .flags
                .unwrap_or_default()
                .iter()
                .filter(|flag| !flag.eq_ignore_ascii_case("\\Recent"))
                .map(|flag| flag.to_string())
                .collect();
            flags.sort();
            let date = fetch.internal_date.expect("INTERNALDATE");
            let internal_date =
                DateTime::parse_from_str(&String::from_utf8_lossy(&date), "%d-%b-%Y %H:%M:%S %z")
                    .unwrap_or_else(|e| panic!("INTERNALDATE {date:?}: {e}"))
                    .timestamp();
            messages.push(ServerMessage {
                uid,
                flags,
                internal_date,
                size: u32::try_from(fetch.size.expect("RFC822.SIZE")).unwrap(),
                message_id: header_value(&content, "Message-ID"),
                content,
            });
        }
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
        let _ = self.session.run(&Command::text("LOGOUT"));
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
