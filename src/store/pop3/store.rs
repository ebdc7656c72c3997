//! The POP3 store: a source only. It has one folder, INBOX; a message's id
//! is its UIDL (or, where the config opts in, a hash of its content); flags
//! are always empty, since POP3 keeps none.
//!
//! Deletions: POP3 removes messages marked with DELE only when the session
//! ends with QUIT, and forgets the marks if the connection drops. So that
//! [`Store::delete_messages`] keeps the trait's contract (removed for good
//! when it returns), it marks the messages, then ends the session with QUIT
//! at once; any later operation opens a new session. A failed DELE is
//! undone with RSET before the error is returned, so a partial batch never
//! takes effect. Dropping the store ends an open session with QUIT too,
//! which then commits nothing, as no marks are ever left pending.

use super::client::{
    connect, explain_error, Capabilities, ConnectOptions, Login, Pop3Client, Retrieved,
};
use super::date::date_header_seconds;
use crate::config::{Pop3Auth, Pop3Config, Pop3Identity, Secret};
use crate::mail::identity::Identity;
use crate::mail::{sha256_hex, Flags, FolderStatus, Message, MessageInfo, MsgId};
use crate::store::tls;
use crate::store::tls::NetStream;
use crate::store::{FolderInfo, Store};
use anyhow::{anyhow, bail, Result};
use std::collections::HashMap;
use std::time::Duration;

/// The only folder of a POP3 mailbox.
pub const INBOX: &str = "INBOX";

/// One message of the maildrop as this session numbers it.
#[derive(Debug, Clone)]
struct Entry {
    number: u32,
    info: MessageInfo,
}

pub struct Pop3Store {
    config: Pop3Config,
    password: Secret,
    session: Option<Pop3Client<NetStream>>,
    capabilities: Option<Capabilities>,
    /// The maildrop as listed by the current session; message numbers are
    /// only valid within it.
    entries: Option<Vec<Entry>>,
    folder_open: bool,
}

impl Pop3Store {
    /// Connects and logs in, so a wrong password shows at once.
    pub fn connect(config: &Pop3Config, password: &Secret) -> Result<Pop3Store> {
        let mut store = Pop3Store {
            config: config.clone(),
            password: password.clone(),
            session: None,
            capabilities: None,
            entries: None,
            folder_open: false,
        };
        store.session()?;
        Ok(store)
    }

    /// CAPA after login, for `mailferry check`; empty when the server has
    /// no CAPA.
    pub fn capabilities(&self) -> Vec<String> {
        self.capabilities
            .as_ref()
            .map(|c| c.lines.clone())
            .unwrap_or_default()
    }

    /// Ends the session politely.
    pub fn quit(mut self) -> Result<()> {
        match self.session.take() {
            Some(client) => client.quit(),
            None => Ok(()),
        }
    }

    fn server(&self) -> String {
        format!("{}:{}", self.config.host, self.config.port)
    }

    /// The open session, opening one (and forgetting the old numbering)
    /// when there is none.
    fn session(&mut self) -> Result<&mut Pop3Client<NetStream>> {
        if self.session.is_none() {
            let options = ConnectOptions {
                host: &self.config.host,
                port: self.config.port,
                tls: self.config.tls,
                tls_policy: tls::TlsPolicy {
                    ca_file: &self.config.ca_file,
                    fingerprint: self.config.tls_fingerprint.as_ref(),
                    min_version: self.config.tls_min_version,
                },
                user: &self.config.user,
                login: self.config.auth.map(|auth| match auth {
                    Pop3Auth::User => Login::UserPass,
                    Pop3Auth::Plain => Login::Plain,
                    Pop3Auth::Apop => Login::Apop,
                }),
                timeout: Duration::from_secs(self.config.timeout_secs.max(1)),
            };
            let connected = connect(&options, &self.password)?;
            self.capabilities = connected.capabilities;
            self.entries = None;
            self.session = Some(connected.client);
        }
        self.session
            .as_mut()
            .ok_or_else(|| anyhow!("internal error: no POP3 session"))
    }

    /// The maildrop's messages with their ids, listed once per session.
    fn entries(&mut self) -> Result<&[Entry]> {
        if self.entries.is_none() {
            let listed = self.list_maildrop()?;
            self.entries = Some(listed);
        }
        Ok(self.entries.as_deref().unwrap_or_default())
    }

    fn list_maildrop(&mut self) -> Result<Vec<Entry>> {
        let identity = self.config.uidl;
        let server = self.server();
        let store_name = self.describe();
        let session = self.session()?;
        let sizes = session.list()?;
        let ids: HashMap<u32, String> = match identity {
            Pop3Identity::Server => match session.uidl()? {
                Some(entries) => entries.into_iter().collect(),
                None => bail!(
                    "{server} does not support UIDL, so mailferry cannot tell which messages \
                     {store_name} already gave; set `uidl: content-hash` on the store to tell \
                     them apart by content instead (every message is then downloaded on every run)"
                ),
            },
            Pop3Identity::ContentHash => content_ids(session, &sizes)?,
        };
        let mut entries = Vec::with_capacity(sizes.len());
        for (number, size) in sizes {
            let Some(id) = ids.get(&number) else {
                bail!("{server} listed message {number} in LIST but not in UIDL");
            };
            entries.push(Entry {
                number,
                info: MessageInfo {
                    id: id.clone(),
                    flags: Flags::EMPTY,
                    size,
                },
            });
        }
        if ids.len() != entries.len() {
            bail!("{server} listed more messages in UIDL than in LIST");
        }
        Ok(entries)
    }

    fn refuse_writes(&self) -> anyhow::Error {
        anyhow!(
            "{} is a POP3 store, which is a source only: messages cannot be stored or changed there",
            self.describe()
        )
    }
}

/// Content-hash ids: `sha256-HEX`, with `.2`, `.3`... for further messages
/// of the same content, in message-number order.
fn content_ids(
    session: &mut Pop3Client<NetStream>,
    sizes: &[(u32, u64)],
) -> Result<HashMap<u32, String>> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ids = HashMap::new();
    for &(number, _) in sizes {
        let hash = sha256_hex(&session.retr(number)?);
        let count = seen.entry(hash.clone()).or_insert(0);
        *count += 1;
        let id = if *count == 1 {
            format!("sha256-{hash}")
        } else {
            format!("sha256-{hash}.{count}")
        };
        ids.insert(number, id);
    }
    Ok(ids)
}

impl Store for Pop3Store {
    fn describe(&self) -> String {
        format!("pop3://{}@{}", self.config.user, self.config.host)
    }

    fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        Ok(vec![FolderInfo::new(INBOX)])
    }

    fn create_folder(&mut self, name: &str) -> Result<()> {
        if name == INBOX {
            return Ok(());
        }
        Err(self.refuse_writes())
    }

    fn open_folder(&mut self, name: &str) -> Result<FolderStatus> {
        if name != INBOX {
            bail!(
                "{} has no folder {name:?}: a POP3 mailbox has only INBOX",
                self.describe()
            );
        }
        self.folder_open = true;
        // A fresh listing: the maildrop may have changed since.
        self.entries = None;
        let exists = self.entries()?.len();
        Ok(FolderStatus {
            uidvalidity: None,
            uidnext: None,
            highest_modseq: None,
            exists: u32::try_from(exists).unwrap_or(u32::MAX),
        })
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>> {
        if !self.folder_open {
            bail!("no folder is open in {}", self.describe());
        }
        Ok(self.entries()?.iter().map(|e| e.info.clone()).collect())
    }

    fn fetch_messages(
        &mut self,
        ids: &[MsgId],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        let numbers: HashMap<MsgId, u32> = self
            .entries()?
            .iter()
            .map(|e| (e.info.id.clone(), e.number))
            .collect();
        for id in ids {
            let Some(&number) = numbers.get(id) else {
                continue;
            };
            let content = match self.session()?.retr_unless_gone(number)? {
                Retrieved::Message(content) => content,
                Retrieved::Gone(text) => {
                    // Deleted by another client since this session listed
                    // it: not handed on, which the caller notes.
                    log::debug!(
                        "{}: message {id} is gone: {}",
                        self.describe(),
                        explain_error(&text)
                    );
                    continue;
                }
            };
            let message = Message {
                flags: Flags::EMPTY,
                // POP3 has no arrival time: the Date header stands in.
                date: date_header_seconds(&content),
                content,
            };
            sink(id, message)?;
        }
        Ok(())
    }

    /// From `TOP n 0` and the LIST size (POP3 sizes count CRLF line ends,
    /// as the identity's size does) where the server has TOP, so that only
    /// headers travel; a message without a Message-ID, or a server
    /// without TOP, is read whole.
    fn identities(&mut self, ids: &[MsgId]) -> Result<Vec<(MsgId, Identity)>> {
        let has_top = self.capabilities.as_ref().is_some_and(|c| c.has("TOP"));
        let listed: HashMap<MsgId, (u32, u64)> = self
            .entries()?
            .iter()
            .map(|e| (e.info.id.clone(), (e.number, e.info.size)))
            .collect();
        let mut found = Vec::with_capacity(ids.len());
        let mut whole = Vec::new();
        for id in ids {
            let Some(&(number, size)) = listed.get(id) else {
                continue;
            };
            let from_header = if has_top {
                match self.session()?.top_header_unless_gone(number)? {
                    Retrieved::Message(header) => Identity::from_header(&header, size),
                    // Deleted by another client since the listing: it has
                    // no identity to pair by, and is not fetched either.
                    Retrieved::Gone(_) => continue,
                }
            } else {
                None
            };
            match from_header {
                Some(identity) => found.push((id.clone(), identity)),
                None => whole.push(id.clone()),
            }
        }
        self.fetch_messages(&whole, &mut |id, message| {
            found.push((id.clone(), Identity::of(&message.content)));
            Ok(())
        })?;
        Ok(found)
    }

    fn prepare_append(&mut self) -> Result<String> {
        Err(self.refuse_writes())
    }

    fn append(&mut self, _ticket: &str, _message: &Message) -> Result<Option<MsgId>> {
        Err(self.refuse_writes())
    }

    fn find_appended(&mut self, _ticket: &str, _size: u64, _sha256: &str) -> Result<Vec<MsgId>> {
        Ok(Vec::new())
    }

    fn set_flags(&mut self, _id: &MsgId, _add: Flags, _remove: Flags) -> Result<()> {
        Err(self.refuse_writes())
    }

    /// DELE each, then QUIT to make it happen (see the module doc).
    fn delete_messages(&mut self, ids: &[MsgId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let numbers: HashMap<MsgId, u32> = self
            .entries()?
            .iter()
            .map(|e| (e.info.id.clone(), e.number))
            .collect();
        let mut failure = None;
        let session = self.session()?;
        for id in ids {
            // Already gone: nothing to delete.
            let Some(&number) = numbers.get(id) else {
                continue;
            };
            if let Err(error) = session.dele(number) {
                // Undo the marks so nothing of a partial batch happens.
                failure = Some((error, session.rset().is_ok()));
                break;
            }
        }
        if let Some((error, undone)) = failure {
            if !undone {
                // Closing the connection without QUIT undoes them too.
                self.session = None;
            }
            return Err(error);
        }
        self.entries = None;
        match self.session.take() {
            Some(client) => client.quit(),
            None => Ok(()),
        }
    }

    fn source_only(&self) -> bool {
        true
    }

    /// Drops the session without QUIT (no DELE is ever left pending, see
    /// the module doc) and opens a new one, which lists the maildrop again.
    fn reconnect(&mut self) -> Result<()> {
        self.session = None;
        self.entries = None;
        self.session()?;
        Ok(())
    }
}

impl Drop for Pop3Store {
    fn drop(&mut self) {
        // No DELE is ever left pending (see the module doc), so this QUIT
        // only ends the session politely; a failure changes nothing.
        if let Some(client) = self.session.take() {
            let _ = client.quit();
        }
    }
}
