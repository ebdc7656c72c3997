//! The IMAP store: one authenticated connection to a server, implementing
//! [`Store`] on top of our own protocol layer ([`client`]).
//!
//! At -vv every command is logged as it is sent (`C: ...`) with the status
//! of its tagged response (`S: ...`). LOGIN and AUTHENTICATE lines are
//! logged with the secret replaced by `<hidden>`.

mod abilities;
mod append;
pub mod client;
pub mod condstore;
mod folder_list;
mod identity;
pub mod idle;
mod listing;
mod login;
mod multiappend;
pub mod namespace;
pub mod protocol;
pub mod sasl;
pub mod search;
mod store_flags;
mod transfer;

use crate::config::{ImapConfig, Secret};
use crate::mail::Flags;
use crate::mail::{FolderStatus, Message, MessageInfo, MsgId};
use crate::store::error::{says_throttled, StoreError, StoreErrorKind};
use crate::store::{
    Changes, FolderInfo, FolderVersions, FoundCopy, IncrementalListing, OpenAhead, Removed,
    Staging, Store, Trash, TrashUploads,
};
use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, FixedOffset};
use client::response::{Code, Data, StatusKind};
use client::{Answer, Command, Connection};
use login::client_err;
use protocol::{parse_uid, quote, uid_set};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Most messages fetched in one UID FETCH.
const FETCH_BATCH_COUNT: usize = 100;

/// An IMAP account, logged in.
pub struct ImapStore {
    connection: Connection,
    /// The SELECTs sent ahead and not yet answered, oldest first (see
    /// [`OpenAhead::open_ahead`]).
    ahead: VecDeque<SentAhead>,
    /// The server told of a change in the open folder (new mail, an
    /// expunge, flags changed by another client) outside IDLE: `watch`
    /// must not miss it (see `idle_wait`).
    news: bool,
    /// Kept to connect again after a dropped connection.
    config: ImapConfig,
    secret: Secret,
    host: String,
    user: String,
    capabilities: Vec<String>,
    /// Hierarchy delimiter, once known (from a folder listing, else from
    /// `LIST "" ""` when a name must be sent first); inside, `None` for a
    /// flat server.
    delimiter: Option<Option<char>>,
    /// The personal namespace's prefix (e.g. `INBOX.` on Courier-style
    /// servers), in the server's spelling: added to every folder name but
    /// INBOX, so a folder made locally as `Projects` lands where the
    /// server keeps personal folders. From the config's `namespace:` when
    /// given, else from the server's NAMESPACE answer (see
    /// [`ImapStore::settle_namespace`]); `None` until settled.
    prefix: Option<String>,
    /// The server's NAMESPACE answer, once read.
    namespaces: Option<namespace::Namespaces>,
    /// Folders listed outside the personal namespace (other users',
    /// shared), by canonical name: their server names carry no prefix.
    outside: HashSet<String>,
    open: Option<OpenFolder>,
    warnings: Vec<String>,
    /// QRESYNC is enabled on this connection (see [`condstore`]).
    qresync: bool,
    /// ENABLE was sent (or is not needed): it is put off until the first
    /// SELECT, so a run that opens no folder does without the round trip.
    enabled: bool,
    /// An ENABLE sent and its extension, while its answer is unread (see
    /// [`ImapStore::finish_enable`]).
    enabling: Option<(String, &'static str)>,
    /// Each folder's version as the last folder listing reported it
    /// (LIST-STATUS), by canonical name: see [`FolderVersions::folder_version`].
    listed_versions: HashMap<String, String>,
    /// Messages staged for a batched upload (see [`multiappend`]).
    uploads: Box<multiappend::Uploads>,
    /// Shared with the other connections to the same store.
    facts: SharedFacts,
}

/// The most SELECTs sent ahead and not yet answered: enough to keep the
/// server busy while the folders before them are carried out here.
const MAX_AHEAD: usize = 4;

/// A SELECT sent ahead of its folder's turn.
#[derive(Debug)]
struct SentAhead {
    name: String,
    known: Option<(u32, u64)>,
    tag: String,
}

/// What one connection learned about the server that the other
/// connections of a run can take without asking it again: the capabilities
/// after login and the hierarchy delimiter. Each worker's connection then
/// needs only its login before its first SELECT.
#[derive(Debug, Default)]
pub struct ServerFacts {
    capabilities: Option<Vec<String>>,
    delimiter: Option<Option<char>>,
    /// The personal prefix and the NAMESPACE answer it came from.
    namespace: Option<(String, Option<namespace::Namespaces>)>,
    /// See [`ImapStore::outside`].
    outside: HashSet<String>,
}

/// [`ServerFacts`] shared by the connections to one store.
pub type SharedFacts = Arc<Mutex<ServerFacts>>;

/// The folder selected for the message operations.
struct OpenFolder {
    /// Canonical name, for messages.
    name: String,
    /// Name as the server spells it.
    server_name: String,
    uidnext: Option<u32>,
    /// The folder's version as SELECT reported it.
    version: Option<String>,
    /// Message count, from SELECT then EXISTS and EXPUNGE responses.
    exists: u32,
    /// RFC822.SIZE by UID from the last listing, to size fetch batches.
    sizes: HashMap<u32, u64>,
    /// The changes a SELECT with QRESYNC parameters reported, with the
    /// HIGHESTMODSEQ they are since (see `open_folder_knowing`).
    changes_at_open: Option<(u64, Changes)>,
    uidvalidity: Option<u32>,
    /// A SELECT sent ahead after this folder's left the server on another
    /// folder: the next operation selects this one again.
    selected_elsewhere: bool,
}

/// The answer when the server said OK; otherwise its refusal, an error
/// saying what we were `doing` and the server's words (of kind Throttled
/// when it says it is throttling). `refused` gives a refusal the kind
/// Refused (the server did nothing of the request: an upload).
fn ok_or_refusal(answer: Answer, doing: &str, refused: bool) -> Result<Answer> {
    let status = answer.status();
    if status.kind == StatusKind::Ok {
        return Ok(answer);
    }
    let said = status.describe();
    let message = format!("{doing}: the server said {}", said.replacen(' ', ": ", 1));
    let said = match said.split_once(' ') {
        Some((_, text)) => text.to_string(),
        None => String::new(),
    };
    let throttled = says_throttled(&said) || status.code == Some(Code::Throttled);
    drop(status);
    if throttled {
        Err(StoreError::new(StoreErrorKind::Throttled, message).into())
    } else if refused {
        Err(StoreError::new(StoreErrorKind::Refused, message).into())
    } else {
        Err(anyhow!(message))
    }
}

/// `SELECT name`, with QRESYNC parameters when `known` is given.
fn select_command(server_name: &str, known: Option<(u32, u64)>) -> Result<Command<'static>> {
    Ok(Command::text(&match known {
        Some((uidvalidity, since)) => format!(
            "SELECT {} (QRESYNC ({uidvalidity} {since}))",
            quote(server_name)?
        ),
        None => format!("SELECT {}", quote(server_name)?),
    }))
}

impl ImapStore {
    /// Connects, secures, logs in, reads capabilities. `password` (or the
    /// OAuth2 token) comes already resolved.
    pub fn connect(config: &ImapConfig, password: &Secret) -> Result<ImapStore> {
        ImapStore::connect_sharing(config, password, SharedFacts::default())
    }

    /// [`ImapStore::connect`], taking what another connection to the same
    /// store already learned (and sharing what this one learns).
    pub fn connect_sharing(
        config: &ImapConfig,
        password: &Secret,
        facts: SharedFacts,
    ) -> Result<ImapStore> {
        let session = login::open_session(config, password)?;
        let mut store = ImapStore {
            connection: session.connection,
            ahead: VecDeque::new(),
            news: false,
            config: config.clone(),
            secret: password.clone(),
            host: config.host.clone(),
            user: config.user.clone(),
            capabilities: Vec::new(),
            delimiter: None,
            prefix: config.namespace.clone(),
            namespaces: None,
            outside: HashSet::new(),
            open: None,
            warnings: Vec::new(),
            qresync: false,
            enabled: false,
            enabling: None,
            listed_versions: HashMap::new(),
            uploads: Box::default(),
            facts,
        };
        store.read_capabilities(session.capabilities)?;
        Ok(store)
    }

    /// Capabilities as read after login, upper-case.
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    /// Whether the server advertised `name` (any case) after login.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Says goodbye to the server.
    pub fn logout(mut self) -> Result<()> {
        let doing = format!("LOGOUT from {} failed", self.host);
        self.command(&Command::text("LOGOUT"), &doing).map(drop)
    }

    /// Servers change their capabilities after login: those its login
    /// answer gave (`given`) count, else those another connection to the
    /// store read, else CAPABILITY is asked.
    fn read_capabilities(&mut self, given: Vec<String>) -> Result<()> {
        let names = if !given.is_empty() {
            given
        } else if let Some(known) = self.shared_facts(|facts| facts.capabilities.clone()) {
            known
        } else {
            let doing = format!("CAPABILITY on {} failed", self.host);
            let answer = self.command(&Command::text("CAPABILITY"), &doing)?;
            login::capabilities_in(&answer)
        };
        self.connection
            .use_literal_plus(names.iter().any(|c| c == "LITERAL+"));
        self.capabilities = names.clone();
        self.share_facts(|facts| facts.capabilities = Some(names));
        Ok(())
    }

    /// Runs `command` (after dropping the answers to SELECTs sent ahead,
    /// which it overtakes) and returns its answer when the server said
    /// OK; otherwise an error saying what we were `doing`. The untagged
    /// responses are noted (see [`ImapStore::note_news`]).
    fn command(&mut self, command: &Command<'_>, doing: &str) -> Result<Answer> {
        let answer = self.command_any(command, doing)?;
        self.note_news(&answer, true);
        ok_or_refusal(answer, doing, false)
    }

    /// [`ImapStore::command`] whatever the server said, with the
    /// untagged responses left to the caller; an error only when the
    /// conversation failed.
    fn command_any(&mut self, command: &Command<'_>, doing: &str) -> Result<Answer> {
        self.forget_ahead();
        self.finish_enable()?;
        self.connection
            .run(command)
            .map_err(|e| client_err(e, doing))
    }

    /// Drops the SELECTs sent ahead: a command sent now overtakes them.
    fn forget_ahead(&mut self) {
        for ahead in self.ahead.drain(..) {
            self.connection.forget(&ahead.tag);
        }
    }

    fn shared_facts<T>(&self, read: impl FnOnce(&ServerFacts) -> Option<T>) -> Option<T> {
        self.facts.lock().ok().and_then(|facts| read(&facts))
    }

    fn share_facts(&self, write: impl FnOnce(&mut ServerFacts)) {
        if let Ok(mut facts) = self.facts.lock() {
            write(&mut facts);
        }
    }

    /// Leaves the selected folder when it is `server_name` or below it:
    /// servers refuse to delete or rename an open folder (Courier: "Can't
    /// RENAME the currently-open folder"). Nothing is expunged: UNSELECT
    /// where offered, else the folder is opened read-only and closed, and
    /// CLOSE removes nothing from a read-only folder (RFC 3501 6.4.2).
    fn leave_if_open_within(&mut self, server_name: &str) -> Result<()> {
        let delimiter = self.delimiter.flatten();
        let Some(open) = self.open.as_ref().map(|open| open.server_name.clone()) else {
            return Ok(());
        };
        let below = |d: char| {
            open.strip_prefix(server_name)
                .is_some_and(|rest| rest.starts_with(d))
        };
        if open != server_name && !delimiter.is_some_and(below) {
            return Ok(());
        }
        self.open = None;
        let commands = if self.has_capability("UNSELECT") {
            vec!["UNSELECT".to_string()]
        } else {
            vec![format!("EXAMINE {}", quote(&open)?), "CLOSE".to_string()]
        };
        for command in commands {
            self.command(
                &Command::text(&command),
                &format!("cannot leave folder {open:?}"),
            )?;
        }
        Ok(())
    }

    /// Notes the hierarchy delimiter, for this connection and the others.
    fn learn_delimiter(&mut self, delimiter: Option<char>) {
        self.delimiter = Some(delimiter);
        self.share_facts(|facts| facts.delimiter = Some(delimiter));
    }

    /// SELECT, with QRESYNC parameters when `known` (UIDVALIDITY and
    /// HIGHESTMODSEQ of the last sync) is given and QRESYNC is on.
    fn select(&mut self, name: &str, known: Option<(u32, u64)>) -> Result<FolderStatus> {
        let server_name = self.server_name(name)?;
        self.enable_qresync()?;
        let answered = self.answer_sent_ahead(name, known)?;
        self.open = None;
        self.drop_uploads();
        let answer = match answered {
            Some(answer) => answer,
            None => {
                // Sent before ENABLE's answer is read, so that both go in
                // one round trip.
                let command = select_command(&server_name, known)?;
                let doing = format!("cannot open folder {name:?}");
                let tag = self
                    .connection
                    .send(&command)
                    .map_err(|e| client_err(e, &doing))?;
                if let Err(refused) = self.finish_enable() {
                    self.connection.forget(&tag);
                    return Err(refused);
                }
                let answer = self
                    .connection
                    .answer(&tag)
                    .map_err(|e| client_err(e, &doing))?;
                let status = answer.status();
                if status.kind != StatusKind::Ok {
                    bail!(
                        "cannot open folder {name:?} on {}: {}",
                        self.host,
                        status.text
                    );
                }
                drop(status);
                answer
            }
        };
        let lines = answer.untagged_bytes();
        let data = protocol::parse_select(lines)
            .with_context(|| format!("opening folder {name:?} on {}", self.host))?;
        if data.uidvalidity == Some(0) {
            // RFC 3501 makes it a nonzero number; 0 says the server keeps no
            // UIDs from one session to the next, so none can be recorded.
            bail!(
                "cannot sync folder {name:?} on {}: the server reports UIDVALIDITY 0, which \
                 IMAP does not allow, so its UIDs cannot be trusted from one run to the next",
                self.host
            );
        }
        // The changes come only if the server took the UIDVALIDITY given
        // as the folder's: else it reports none, which must not be taken
        // for "nothing changed".
        let changes_at_open = match known {
            Some((uidvalidity, since)) if data.uidvalidity == Some(uidvalidity) => {
                let mut changes = condstore::parse_changes(lines, false)
                    .with_context(|| format!("opening folder {name:?} on {}", self.host))?;
                changes.vanished_known = true;
                Some((since, changes))
            }
            _ => None,
        };
        // A server that offers no CONDSTORE may still report a
        // HIGHESTMODSEQ (CONDSTORE it has but does not advertise, turned
        // on by a command that asks one): what it does not promise is not
        // relied on.
        let highest_modseq = data
            .highest_modseq
            .filter(|_| self.has_capability("CONDSTORE") || self.qresync);
        let version = protocol::folder_version(
            data.uidvalidity,
            data.uidnext,
            Some(data.exists),
            highest_modseq,
        );
        self.open = Some(OpenFolder {
            name: name.to_string(),
            server_name,
            uidnext: data.uidnext,
            version,
            exists: data.exists,
            sizes: HashMap::new(),
            changes_at_open,
            uidvalidity: data.uidvalidity,
            // SELECTs sent ahead after this one are still to be answered.
            selected_elsewhere: !self.ahead.is_empty(),
        });
        Ok(FolderStatus {
            uidvalidity: data.uidvalidity,
            uidnext: data.uidnext,
            highest_modseq,
            exists: data.exists,
        })
    }

    /// The answer to a SELECT sent ahead for this folder with these
    /// parameters; the answers to those sent before it are dropped. `None`
    /// when there is none (all were dropped: the caller selects).
    fn answer_sent_ahead(
        &mut self,
        name: &str,
        known: Option<(u32, u64)>,
    ) -> Result<Option<Answer>> {
        let Some(position) = self
            .ahead
            .iter()
            .position(|ahead| ahead.name == name && ahead.known == known)
        else {
            self.forget_ahead();
            return Ok(None);
        };
        let earlier: Vec<SentAhead> = self.ahead.drain(..position).collect();
        for dropped in earlier {
            self.connection.forget(&dropped.tag);
        }
        let Some(ahead) = self.ahead.pop_front() else {
            return Ok(None);
        };
        self.finish_enable()?;
        let doing = format!("cannot open folder {name:?} on {}", self.host);
        let answer = self
            .connection
            .answer(&ahead.tag)
            .map_err(|e| client_err(e, &doing))?;
        ok_or_refusal(answer, &doing, true).map(Some)
    }

    /// Sends `command` without waiting for its answer, behind any sent
    /// before; returns its tag, for [`ImapStore::answer_ahead`].
    fn send_ahead(&mut self, command: &Command<'_>, doing: &str) -> Result<String> {
        self.connection
            .send_ahead(command)
            .map_err(|e| client_err(e, doing))
    }

    /// The answer to the command sent under `tag` by
    /// [`ImapStore::send_ahead`], when the server said OK; otherwise the
    /// error, the server's refusal as a [`Refused`].
    fn answer_ahead(&mut self, tag: &str, doing: &str) -> Result<Answer> {
        let answer = self
            .connection
            .answer(tag)
            .map_err(|e| client_err(e, doing))?;
        ok_or_refusal(answer, doing, true)
    }

    /// The hierarchy delimiter; asks `LIST "" ""` when no folder listing
    /// told it yet.
    fn delimiter(&mut self) -> Result<Option<char>> {
        if let Some(known) = self.delimiter {
            return Ok(known);
        }
        if let Some(known) = self.shared_facts(|facts| facts.delimiter) {
            self.delimiter = Some(known);
            return Ok(known);
        }
        let doing = format!("LIST on {} failed", self.host);
        let answer = self.command(&Command::text(r#"LIST "" """#), &doing)?;
        let delimiter = answer.data().find_map(|data| match data {
            Data::List(list) => list.delimiter,
            _ => None,
        });
        self.learn_delimiter(delimiter);
        Ok(delimiter)
    }

    /// The canonical name of a folder the server lists, without the
    /// personal prefix, and whether the folder lies outside the personal
    /// namespace (not below the prefix, or below another namespace's).
    fn canonical_name(&self, raw: &str, delimiter: Option<char>) -> Result<(String, bool)> {
        if raw.eq_ignore_ascii_case("INBOX") {
            return Ok(("INBOX".to_string(), false));
        }
        if self.under_other_namespace(raw) {
            return Ok((protocol::from_server_name(raw, delimiter)?, true));
        }
        let prefix = self.prefix.as_deref().unwrap_or("");
        let (unprefixed, outside) = match raw.strip_prefix(prefix) {
            Some(rest) if !rest.is_empty() => (rest, false),
            _ => (raw, true),
        };
        Ok((protocol::from_server_name(unprefixed, delimiter)?, outside))
    }

    /// Whether a server name starts with the (non-empty) prefix of an
    /// other users' or shared namespace, which is not the personal one.
    fn under_other_namespace(&self, server_name: &str) -> bool {
        let Some(namespaces) = &self.namespaces else {
            return false;
        };
        let personal = self.prefix.as_deref().unwrap_or("");
        namespaces
            .other_users
            .iter()
            .chain(&namespaces.shared)
            .any(|ns| {
                !ns.prefix.is_empty()
                    && !personal.starts_with(ns.prefix.as_str())
                    && server_name.starts_with(ns.prefix.as_str())
            })
    }

    /// Whether a canonical name (spelled `unprefixed` on the server) names
    /// a folder outside the personal namespace, which takes no prefix.
    fn is_outside(&self, canonical: &str, unprefixed: &str) -> bool {
        self.outside.contains(canonical) || self.under_other_namespace(unprefixed)
    }

    /// Settles the personal prefix: the config's `namespace:` when given,
    /// else what another connection learned, else the server's NAMESPACE
    /// answer (asked once per connection at most, and only when no folder
    /// listing asked it first), else none.
    fn settle_namespace(&mut self) -> Result<()> {
        if self.prefix.is_some() {
            return Ok(());
        }
        if let Some((prefix, namespaces)) = self.shared_facts(|facts| facts.namespace.clone()) {
            self.prefix = Some(prefix);
            self.namespaces = namespaces;
            self.outside = self
                .shared_facts(|facts| Some(facts.outside.clone()))
                .unwrap_or_default();
            return Ok(());
        }
        if !self.has_capability("NAMESPACE") {
            self.learn_namespace(None);
            return Ok(());
        }
        let tag = self.send_ahead(&Command::text("NAMESPACE"), "asking for the namespaces")?;
        let answer = self.namespace_answer(&tag)?;
        self.learn_namespace(answer);
        Ok(())
    }

    /// Whether a folder listing should ask NAMESPACE along with its LIST.
    fn namespace_unsettled(&self) -> bool {
        self.prefix.is_none()
            && self.shared_facts(|facts| facts.namespace.clone()).is_none()
            && self.has_capability("NAMESPACE")
    }

    /// The NAMESPACE answer sent under `tag`. A server that refuses it (or
    /// answers what cannot be read) is taken to have no namespace, with a
    /// warning; a broken connection is an error.
    fn namespace_answer(&mut self, tag: &str) -> Result<Option<namespace::Namespaces>> {
        let doing = format!("asking {} for its namespaces", self.host);
        let answer = match self.answer_ahead(tag, &doing) {
            Ok(answer) => answer,
            Err(e) if StoreError::kind_of(&e).is_some_and(StoreErrorKind::connection_unusable) => {
                return Err(e)
            }
            Err(e) => {
                self.warnings
                    .push(format!("{e:#}; folder names are taken without a prefix"));
                return Ok(None);
            }
        };
        match namespace::parse_namespace_answer(&answer.whole()) {
            Ok(found) => Ok(found),
            Err(e) => {
                self.warnings.push(format!(
                    "{}: {e:#}; folder names are taken without a prefix",
                    self.host
                ));
                Ok(None)
            }
        }
    }

    /// Takes the personal prefix from a NAMESPACE answer (or none without
    /// one), for this connection and the others; its delimiter too, when
    /// no listing told it yet.
    fn learn_namespace(&mut self, namespaces: Option<namespace::Namespaces>) {
        let personal = namespaces
            .as_ref()
            .and_then(namespace::Namespaces::main_personal)
            .cloned();
        let prefix = personal
            .as_ref()
            .map(|ns| ns.prefix.clone())
            .unwrap_or_default();
        if let Some(personal) = &personal {
            log::info!(
                "{}: personal namespace {:?} with delimiter {:?}",
                self.host,
                personal.prefix,
                personal.delimiter
            );
            if self.delimiter.is_none() && self.shared_facts(|f| f.delimiter).is_none() {
                self.learn_delimiter(personal.delimiter);
            }
        }
        self.prefix = Some(prefix.clone());
        self.namespaces = namespaces.clone();
        self.share_facts(|facts| facts.namespace = Some((prefix, namespaces)));
    }

    /// The namespace in use, in words, for `check` and `list`.
    pub fn describe_namespace(&mut self) -> Result<String> {
        self.settle_namespace()?;
        let prefix = self.prefix.clone().unwrap_or_default();
        let delimiter = self.delimiter()?;
        let delimiter = match delimiter {
            Some(d) => format!("{:?}", d.to_string()),
            None => "none".to_string(),
        };
        let prefix_words = if prefix.is_empty() {
            "no prefix".to_string()
        } else {
            format!("prefix {prefix:?}")
        };
        let source = if self.config.namespace.is_some() {
            "from the config's namespace:".to_string()
        } else {
            match &self.namespaces {
                Some(namespaces) => format!("NAMESPACE {}", namespaces.describe()),
                None => "the server has no NAMESPACE".to_string(),
            }
        };
        Ok(format!(
            "personal folders at {prefix_words}, delimiter {delimiter} ({source})"
        ))
    }

    /// Notes what the untagged responses of an answer tell of the open
    /// folder. Flag changes by others and the like are not needed, as every
    /// listing asks the server afresh; only the message count is kept, and
    /// whether any of them told of a change, which `watch` must not miss
    /// (see `idle_wait`). FETCH responses are news only when the command
    /// was no FETCH of ours (`fetch_is_news`).
    fn note_news(&mut self, answer: &Answer, fetch_is_news: bool) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        for data in answer.data() {
            match data {
                Data::Exists(count) => {
                    self.news |= count != open.exists;
                    open.exists = count;
                }
                Data::Expunge(_) => {
                    self.news = true;
                    open.exists = open.exists.saturating_sub(1);
                }
                Data::Vanished {
                    earlier: false,
                    uids,
                } => {
                    self.news = true;
                    let gone = protocol::set_size(uids);
                    open.exists = open.exists.saturating_sub(gone);
                }
                Data::Fetch { .. } if fetch_is_news => self.news = true,
                Data::Recent(_) => self.news = true,
                _ => {}
            }
        }
    }

    fn server_name(&mut self, canonical: &str) -> Result<String> {
        self.settle_namespace()?;
        let delimiter = self.delimiter()?;
        self.server_name_with(canonical, delimiter)
    }

    fn server_name_with(&self, canonical: &str, delimiter: Option<char>) -> Result<String> {
        let name = protocol::to_server_name(canonical, delimiter)?;
        if name == "INBOX" || self.is_outside(canonical, &name) {
            return Ok(name);
        }
        Ok(format!("{}{name}", self.prefix.as_deref().unwrap_or("")))
    }

    /// The open folder, selected on the server for the operation to come.
    fn open_folder_state(&mut self) -> Result<&mut OpenFolder> {
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.selected_elsewhere)
        {
            self.reselect()?;
        }
        self.open
            .as_mut()
            .ok_or_else(|| anyhow!("no folder is open on {}", self.host))
    }

    /// Selects the open folder again, after SELECTs sent ahead of later
    /// folders left the server on another one. Their answers are dropped
    /// (the SELECT overtakes them; those folders are selected afresh when
    /// opened). A folder renumbered meanwhile is not this folder any more.
    fn reselect(&mut self) -> Result<()> {
        let Some(open) = self.open.as_ref() else {
            return Ok(());
        };
        let (name, expected) = (open.name.clone(), open.uidvalidity);
        let command = select_command(&open.server_name, None)?;
        let doing = format!("cannot open folder {name:?} again");
        let answer = self.command_any(&command, &doing)?;
        let answer = ok_or_refusal(answer, &doing, false)?;
        let data = protocol::parse_select(answer.untagged_bytes())
            .with_context(|| format!("opening folder {name:?} on {} again", self.host))?;
        if data.uidvalidity != expected {
            self.open = None;
            bail!(
                "folder {name:?} on {} was renumbered (its UIDVALIDITY changed) during the \
                 sync; the next sync pairs its messages again",
                self.host
            );
        }
        if let Some(open) = self.open.as_mut() {
            open.selected_elsewhere = false;
            open.exists = data.exists;
        }
        Ok(())
    }

    fn open_name(&self) -> String {
        self.open
            .as_ref()
            .map(|f| f.name.clone())
            .unwrap_or_default()
    }

    /// Runs a UID FETCH and returns `(uid, size, body)` for
    /// every message in `uids`. Unsolicited FETCH responses (flag changes
    /// of other messages) are filtered out.
    fn uid_fetch(&mut self, uids: &[u32], items: &str) -> Result<Vec<FetchedMessage>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        let doing = format!("fetching from folder {:?} failed", self.open_name());
        let answer = self.fetch_command(&format!("UID FETCH {set} {items}"), &doing)?;
        // Only what was asked for, once: a server that answers a UID twice
        // (or with UIDs never asked for) must not make a message be stored
        // twice. The first answer counts.
        let mut wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
        let mut result = Vec::new();
        for items in fetched_items(&answer) {
            let fetch = client::response::Fetch::parse(items)
                .map_err(|e| anyhow!("{doing}: {} sent {e}", self.host))?;
            let Some(uid) = fetch.uid.filter(|uid| wanted.remove(uid)) else {
                continue;
            };
            result.push(FetchedMessage {
                uid,
                size: fetch.size,
                body: fetch.body.flatten().map(std::borrow::Cow::into_owned),
            });
        }
        Ok(result)
    }

    /// A UID FETCH (or other command answered with FETCH responses) run
    /// as [`ImapStore::command`] does, the FETCH responses being the
    /// answer rather than news.
    fn fetch_command(&mut self, command: &str, doing: &str) -> Result<Answer> {
        let answer = self.command_any(&Command::text(command), doing)?;
        self.note_news(&answer, false);
        ok_or_refusal(answer, doing, false)
    }

    /// UIDs of messages matching a UID SEARCH.
    fn uid_search(&mut self, query: &str) -> Result<Vec<u32>> {
        let doing = format!("searching folder {:?} failed", self.open_name());
        let answer = self.command(&Command::text(&format!("UID SEARCH {query}")), &doing)?;
        Ok(searched_uids(&answer))
    }

    /// UIDs of the open folder from `first` on, those with this
    /// Message-ID only when one is given.
    fn uids_since(&mut self, first: u32, message_id: Option<&str>) -> Result<Vec<u32>> {
        let query = match message_id {
            Some(id) => format!("UID {first}:* HEADER Message-ID \"{id}\""),
            None => format!("UID {first}:*"),
        };
        // "n:*" also matches the highest UID when it is below n.
        Ok(self
            .uid_search(&query)?
            .into_iter()
            .filter(|&uid| uid >= first)
            .collect())
    }

    /// Those of `uids` whose size is `size`, each with whether its content
    /// has this SHA-256 (hex).
    fn same_size_with_hash(
        &mut self,
        uids: &[u32],
        size: u64,
        sha256: &str,
    ) -> Result<Vec<(u32, bool)>> {
        let same_size: Vec<u32> = self
            .uid_fetch(uids, "(UID RFC822.SIZE)")?
            .into_iter()
            .filter(|m| m.size == Some(size))
            .map(|m| m.uid)
            .collect();
        let mut found = Vec::new();
        for batch in same_size.chunks(FETCH_BATCH_COUNT) {
            for message in self.uid_fetch(batch, "(UID BODY.PEEK[])")? {
                let identical = message
                    .body
                    .as_deref()
                    .is_some_and(|body| crate::mail::sha256_hex(body).eq_ignore_ascii_case(sha256));
                found.push((message.uid, identical));
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Later tickets can start after messages found stored, so a search
    /// for the next upload does not read these again.
    fn note_stored(&mut self, uids: &[u32]) {
        if let (Some(&last), Some(open)) = (uids.iter().max(), self.open.as_mut()) {
            open.uidnext = Some(open.uidnext.unwrap_or(0).max(last.saturating_add(1)));
        }
    }

    fn uid_store(&mut self, set: &str, change: &str) -> Result<()> {
        let doing = format!("changing flags in folder {:?} failed", self.open_name());
        self.command(&Command::text(&format!("UID STORE {set} {change}")), &doing)?;
        Ok(())
    }

    /// The UIDNEXT of a folder not open, by STATUS.
    fn status_uidnext(&mut self, server_name: &str, doing: &str) -> Result<Option<u32>> {
        let command = Command::new("STATUS")
            .string(server_name.as_bytes())
            .atom("(UIDNEXT)");
        let answer = self.command(&command, doing)?;
        let uidnext = answer.data().find_map(|data| match data {
            Data::MailboxStatus(status) => status
                .items
                .iter()
                .find(|(item, _)| item.eq_ignore_ascii_case("UIDNEXT"))
                .and_then(|&(_, value)| u32::try_from(value).ok()),
            _ => None,
        });
        Ok(uidnext)
    }
}

/// The data items of each FETCH response in an answer.
fn fetched_items(answer: &Answer) -> impl Iterator<Item = &[u8]> {
    answer.data().filter_map(|data| match data {
        Data::Fetch { items, .. } => Some(items),
        _ => None,
    })
}

/// The UIDs a UID SEARCH answered, ascending.
fn searched_uids(answer: &Answer) -> Vec<u32> {
    let mut uids: Vec<u32> = answer
        .data()
        .filter_map(|data| match data {
            Data::Search(found) => Some(found),
            _ => None,
        })
        .flatten()
        .collect();
    uids.sort_unstable();
    uids.dedup();
    uids
}

/// One message as a UID FETCH returned it.
struct FetchedMessage {
    uid: u32,
    size: Option<u64>,
    body: Option<Vec<u8>>,
}

/// The UID an append ticket names (the folder's UIDNEXT before it).
fn ticket_uid(ticket: &str) -> Result<u32> {
    parse_uid(ticket).with_context(|| format!("append ticket {ticket:?} is not a UID"))
}

fn flag_list(flags: Flags) -> String {
    format!("({})", flags.imap_names().join(" "))
}

fn internal_date(seconds: i64) -> Option<DateTime<FixedOffset>> {
    let utc = FixedOffset::east_opt(0)?;
    DateTime::from_timestamp(seconds, 0).map(|d| d.with_timezone(&utc))
}

impl Store for ImapStore {
    fn describe(&self) -> String {
        match &self.config.tunnel {
            Some(command) => format!("imap via tunnel `{command}`"),
            None => format!("imap://{}@{}", self.user, self.host),
        }
    }

    fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        self.list_all_folders()
    }

    fn create_folder(&mut self, name: &str) -> Result<()> {
        let server_name = self.server_name(name)?;
        let command = Command::text(&format!("CREATE {}", quote(&server_name)?));
        let doing = format!("cannot create folder {name:?}");
        let answer = self.command_any(&command, &doing)?;
        self.note_news(&answer, true);
        let status = answer.status();
        if status.kind == StatusKind::No {
            // Servers word "already exists" differently; the reliable
            // test is whether the folder is there now.
            let said = status.text.to_string();
            drop(status);
            let exists = self.list_folders()?.iter().any(|f| f.name == name);
            if !exists {
                bail!("cannot create folder {name:?} on {}: {said}", self.host);
            }
            return Ok(());
        }
        drop(status);
        ok_or_refusal(answer, &doing, false).map(drop)
    }

    fn namespace_in_use(&mut self) -> Result<Option<String>> {
        self.describe_namespace().map(Some)
    }

    fn native_name(&self, name: &str) -> Option<String> {
        let delimiter = self.delimiter.unwrap_or_default();
        self.server_name_with(name, delimiter)
            .ok()
            .filter(|native| native != name)
    }

    fn delete_folder(&mut self, name: &str) -> Result<()> {
        if name.eq_ignore_ascii_case("INBOX") {
            bail!("refusing to delete the INBOX of {}", self.host);
        }
        let server_name = self.server_name(name)?;
        self.leave_if_open_within(&server_name)?;
        let command = Command::text(&format!("DELETE {}", quote(&server_name)?));
        let doing = format!("cannot delete folder {name:?} on {}", self.host);
        self.command(&command, &doing).map(drop)
    }

    fn rename_folder(&mut self, from: &str, to: &str) -> Result<()> {
        if from.eq_ignore_ascii_case("INBOX") {
            // RENAME INBOX moves its messages, not the folder: never wanted.
            bail!("refusing to rename the INBOX of {}", self.host);
        }
        let from_server_name = self.server_name(from)?;
        self.leave_if_open_within(&from_server_name)?;
        let command = format!(
            "RENAME {} {}",
            quote(&from_server_name)?,
            quote(&self.server_name(to)?)?
        );
        self.open = None;
        let doing = format!("cannot rename folder {from:?} to {to:?} on {}", self.host);
        self.command(&Command::text(&command), &doing).map(drop)
    }

    fn open_folder(&mut self, name: &str) -> Result<FolderStatus> {
        self.select(name, None)
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>> {
        self.list_in_slices()
    }

    fn fetch_messages(
        &mut self,
        ids: &[MsgId],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        self.fetch_streamed(ids, sink)
    }

    fn prepare_append(&mut self) -> Result<String> {
        let open = self.open_folder_state()?;
        if let Some(uidnext) = open.uidnext {
            return Ok(uidnext.to_string());
        }
        let server_name = open.server_name.clone();
        let folder = self.open_name();
        let uidnext = self
            .status_uidnext(&server_name, &format!("STATUS of folder {folder:?} failed"))?
            .ok_or_else(|| anyhow!("the server gives no UIDNEXT for folder {folder:?}"))?;
        self.open_folder_state()?.uidnext = Some(uidnext);
        Ok(uidnext.to_string())
    }

    fn append(&mut self, _ticket: &str, message: &Message) -> Result<Option<MsgId>> {
        self.append_one(message)
    }

    fn find_appended(&mut self, ticket: &str, size: u64, sha256: &str) -> Result<Vec<MsgId>> {
        self.open_folder_state()?;
        let first = ticket_uid(ticket)?;
        let candidates = self.uids_since(first, None)?;
        let found: Vec<u32> = self
            .same_size_with_hash(&candidates, size, sha256)?
            .into_iter()
            .filter(|&(_, identical)| identical)
            .map(|(uid, _)| uid)
            .collect();
        self.note_stored(&found);
        Ok(found.into_iter().map(|uid| uid.to_string()).collect())
    }

    fn find_stored(&mut self, ticket: &str, message: &Message) -> Result<Vec<FoundCopy>> {
        self.open_folder_state()?;
        let first = ticket_uid(ticket)?;
        // A server may show a message appended in this session to a search
        // only after a NOOP (Courier does).
        let folder = self.open_name();
        self.command(
            &Command::text("NOOP"),
            &format!("NOOP in folder {folder:?} failed"),
        )?;
        let (size, sha256) = self.held_size_and_hash(&message.content);
        // By Message-ID the server finds it without sending a body but the
        // candidates'; without one, every new message of the right size is
        // read.
        let message_id = crate::mail::identity::message_id(&message.content);
        let searchable = message_id
            .as_deref()
            .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()) && !id.contains(['"', '\\']));
        let candidates = self.uids_since(first, searchable)?;
        let mut found = self.same_size_with_hash(&candidates, size, &sha256)?;
        if searchable.is_none() {
            found.retain(|&(_, identical)| identical);
        }
        // Byte for byte first; a rewritten copy only if there is none.
        found.sort_by_key(|&(uid, identical)| (!identical, uid));
        let uids: Vec<u32> = found.iter().map(|&(uid, _)| uid).collect();
        self.note_stored(&uids);
        Ok(found
            .into_iter()
            .map(|(uid, identical)| FoundCopy {
                id: uid.to_string(),
                identical,
            })
            .collect())
    }

    fn held_form<'a>(&self, content: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        crate::mail::with_crlf(content)
    }

    fn appends_may_land_late(&self) -> bool {
        // A server holding a whole APPEND (or MULTIAPPEND batch) of a
        // session that died may store it after the next session looked.
        true
    }

    fn stored_since(&self, ticket: &str, id: &str) -> bool {
        match (ticket.parse::<u32>(), id.parse::<u32>()) {
            (Ok(first), Ok(uid)) => uid >= first,
            _ => true,
        }
    }

    fn remove_own_copies(&mut self, ids: &[MsgId]) -> Result<Removed> {
        if self.has_capability("UIDPLUS") || ids.is_empty() {
            return self.delete_messages(ids).map(|()| Removed::Expunged);
        }
        self.open_folder_state()?;
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        let others_deleted = self
            .uid_search("DELETED")?
            .into_iter()
            .any(|uid| !uids.contains(&uid));
        if !others_deleted {
            return self.delete_messages(ids).map(|()| Removed::Expunged);
        }
        // A plain EXPUNGE would take the other messages flagged deleted
        // along: flag ours and leave the expunge to whoever expunges them.
        self.uid_store(&uid_set(&uids), "+FLAGS.SILENT (\\Deleted)")?;
        Ok(Removed::FlaggedDeleted)
    }

    fn set_flags_many(&mut self, ids: &[MsgId], add: Flags, remove: Flags) -> Result<()> {
        self.store_flags(ids, add, remove)
    }

    fn set_flags(&mut self, id: &MsgId, add: Flags, remove: Flags) -> Result<()> {
        self.open_folder_state()?;
        let uid = parse_uid(id)?.to_string();
        if !add.is_empty() {
            self.uid_store(&uid, &format!("+FLAGS.SILENT {}", flag_list(add)))?;
        }
        if !remove.is_empty() {
            self.uid_store(&uid, &format!("-FLAGS.SILENT {}", flag_list(remove)))?;
        }
        Ok(())
    }

    fn delete_messages(&mut self, ids: &[MsgId]) -> Result<()> {
        self.open_folder_state()?;
        if ids.is_empty() {
            return Ok(());
        }
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        let set = uid_set(&uids);
        let folder = self.open_name();
        if self.has_capability("UIDPLUS") {
            self.uid_store(&set, "+FLAGS.SILENT (\\Deleted)")?;
            self.command(
                &Command::text(&format!("UID EXPUNGE {set}")),
                &format!("expunging in folder {folder:?} failed"),
            )?;
        } else {
            // A plain EXPUNGE removes every message flagged \Deleted, so it
            // is only safe when no other message carries the flag. Check
            // before flagging ours, so nothing changes if we must refuse.
            let others: Vec<u32> = self
                .uid_search("DELETED")?
                .into_iter()
                .filter(|uid| !uids.contains(uid))
                .collect();
            if !others.is_empty() {
                bail!(
                    "cannot delete messages from folder {folder:?}: the server {} lacks UIDPLUS \
                     and {} other message(s) are marked deleted, so expunging would remove them \
                     too",
                    self.host,
                    others.len()
                );
            }
            self.uid_store(&set, "+FLAGS.SILENT (\\Deleted)")?;
            self.command(
                &Command::text("EXPUNGE"),
                &format!("expunging in folder {folder:?} failed"),
            )?;
        }
        if let Some(open) = self.open.as_mut() {
            for uid in &uids {
                open.sizes.remove(uid);
            }
        }
        Ok(())
    }

    fn arrived_before(
        &mut self,
        day: chrono::NaiveDate,
        _listing: &[MessageInfo],
    ) -> Result<Option<HashSet<MsgId>>> {
        self.open_folder_state()?;
        // SEARCH BEFORE compares the INTERNALDATE's date: one round trip
        // for the whole folder.
        let date = day.format("%-d-%b-%Y").to_string();
        let uids = self.uid_search(&format!("BEFORE {date}"))?;
        Ok(Some(uids.into_iter().map(|uid| uid.to_string()).collect()))
    }

    fn reconnect(&mut self) -> Result<()> {
        // An OAuth2 token may have expired meanwhile: ask for a fresh one.
        if self.config.auth.uses_oauth2() {
            self.secret = self
                .config
                .password
                .resolve(self.config.command_timeout())?;
        }
        log::info!("reconnecting to {}", self.host);
        self.open = None;
        let session = login::open_session(&self.config, &self.secret)?;
        self.connection = session.connection;
        self.ahead.clear();
        self.enabling = None;
        self.news = false;
        self.read_capabilities(session.capabilities)?;
        self.drop_uploads();
        self.qresync = false;
        self.enabled = false;
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn identities(
        &mut self,
        ids: &[MsgId],
    ) -> Result<Vec<(MsgId, crate::mail::identity::Identity)>> {
        self.identities_from_headers(ids)
    }

    fn incremental(&mut self) -> Option<&mut dyn IncrementalListing> {
        Some(self)
    }

    fn staging(&mut self) -> Option<&mut dyn Staging> {
        Some(self)
    }

    fn opening_ahead(&mut self) -> Option<&mut dyn OpenAhead> {
        Some(self)
    }

    fn versions(&mut self) -> Option<&mut dyn FolderVersions> {
        Some(self)
    }

    fn trash(&mut self) -> Option<&mut dyn Trash> {
        Some(self)
    }

    fn trash_uploads(&mut self) -> Option<&mut dyn TrashUploads> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_date_is_utc_at_the_given_second() {
        let date = internal_date(1_700_000_000).unwrap();
        assert_eq!(
            date.format("%d-%h-%Y %T %z").to_string(),
            "14-Nov-2023 22:13:20 +0000"
        );
    }

    #[test]
    fn space_padded_days_in_internaldate_parse() {
        // RFC 3501 allows " 5-Jan-2024"; INTERNALDATE is parsed with this
        // format, so check chrono accepts the padding.
        let parsed = DateTime::parse_from_str(" 5-Jan-2024 10:00:00 +0100", "%d-%b-%Y %H:%M:%S %z");
        assert_eq!(parsed.unwrap().timestamp(), 1_704_445_200);
    }

    #[test]
    fn flag_lists_use_imap_names() {
        assert_eq!(
            flag_list(Flags::SEEN.union(Flags::FORWARDED)),
            "($Forwarded \\Seen)"
        );
    }
}
