//! `mailferry search`: a small query language ([`query`]) run on the server
//! as IMAP SEARCH ([`imap`]) or over local files ([`local`]), folder by
//! folder in parallel, one connection per worker.
//!
//! Nothing found is ever changed: IMAP folders are read with `BODY.PEEK`,
//! so no `\Seen` is set, and Maildir files are only read. With a fetch
//! directory the matches are copied into a Maildir there (verbatim layout).

pub mod imap;
pub mod local;
pub mod query;

use crate::config::{Config, Layout};
use crate::mail::{Flags, Message};
use crate::store::imap::ImapStore;
use crate::store::maildir::MaildirStore;
use crate::store::Store;
use crate::store::StoreOpener;
use anyhow::{anyhow, bail, Context, Result};
use chrono::DateTime;
use query::Query;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

/// One message that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub store: String,
    pub folder: String,
    /// IMAP UID or Maildir unique name.
    pub id: String,
    /// Arrival time (INTERNALDATE or file mtime), RFC 3339 in UTC.
    pub date: Option<String>,
    pub from: String,
    pub subject: String,
    /// Maildir letters, e.g. `FS`.
    pub flags: Flags,
    pub size: u64,
    pub message_id: Option<String>,
    /// Where `--fetch` put it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_to: Option<String>,
}

/// The decoded header fields of a result line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub from: String,
    pub subject: String,
    pub message_id: Option<String>,
}

/// Reads From, Subject and Message-ID from header bytes, decoding RFC 2047
/// and unfolding lines.
pub fn summarize(header: &[u8]) -> Summary {
    let (fields, _) = mailparse::parse_headers(header).unwrap_or_default();
    let first = |name: &str| {
        fields
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
            .map(|h| h.get_value().trim().to_string())
    };
    Summary {
        from: first("From").unwrap_or_default(),
        subject: first("Subject").unwrap_or_default(),
        message_id: first("Message-ID"),
    }
}

/// What to search: a store and the folders named on the command line
/// (none: every folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub store: String,
    pub folders: Vec<String>,
}

/// The results of one store: matches, and a line for each folder that
/// could not be searched.
#[derive(Debug, Default)]
pub struct StoreResult {
    pub matches: Vec<Match>,
    pub errors: Vec<String>,
}

/// Searches every folder of `target` (or the named ones), in parallel on
/// at most the store's `connections`. With `fetch_into`, matches are
/// copied into the Maildir there.
pub fn search_store(
    config: &Config,
    target: &Target,
    query: &Query,
    fetch_into: Option<&Path>,
) -> Result<StoreResult> {
    let opener = StoreOpener::new_except_pop3(config, &target.store, "search")?;

    let folders = if target.folders.is_empty() {
        let mut first = open_searcher(&opener)?;
        first
            .list_folders()
            .with_context(|| format!("listing the folders of {}", target.store))?
            .into_iter()
            .map(|f| f.name)
            .collect()
    } else {
        target.folders.clone()
    };
    let workers = opener
        .connection_limit()
        .unwrap_or(MAILDIR_READERS)
        .min(folders.len())
        .max(1);
    let queue = Mutex::new(folders.into_iter().collect::<VecDeque<String>>());
    let result = Mutex::new(StoreResult::default());
    let connect_error = Mutex::new(None::<String>);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .context("cannot start search threads")?;
    // broadcast runs the closure once on each thread: one connection each.
    pool.broadcast(|_| {
        let mut searcher = match open_searcher(&opener) {
            Ok(searcher) => searcher,
            Err(e) => {
                lock(&connect_error).get_or_insert(format!("{e:#}"));
                return;
            }
        };
        let mut fetch_store =
            fetch_into.map(|dir| MaildirStore::new(dir.to_path_buf(), Layout::Verbatim));
        while let Some(folder) = lock(&queue).pop_front() {
            let outcome =
                searcher.search_folder(&target.store, &folder, query, fetch_store.as_mut());
            let mut result = lock(&result);
            match outcome {
                Ok(matches) => result.matches.extend(matches),
                Err(e) => result
                    .errors
                    .push(format!("{}: folder {folder}: {e:#}", target.store)),
            }
        }
        searcher.close();
    });

    let mut result = result.into_inner().unwrap_or_else(|p| p.into_inner());
    let left: Vec<String> = lock(&queue).drain(..).collect();
    if !left.is_empty() {
        let reason = lock(&connect_error)
            .clone()
            .unwrap_or_else(|| "no worker could connect".to_string());
        bail!("{}: {reason}", target.store);
    }
    if let Some(reason) = lock(&connect_error).clone() {
        result.errors.push(format!(
            "{}: one search connection failed: {reason}",
            target.store
        ));
    }
    result
        .matches
        .sort_by(|a, b| (&a.folder, &a.date, &a.id).cmp(&(&b.folder, &b.date, &b.id)));
    Ok(result)
}

/// A poisoned lock only means another worker panicked; the data is still
/// what it was.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many threads search a Maildir store's folders: reading files gains
/// little from more.
const MAILDIR_READERS: usize = 4;

fn open_searcher(opener: &StoreOpener) -> Result<Searcher> {
    if let Some(imap) = opener.connect_imap() {
        return Ok(Searcher::Imap(Box::new(imap?)));
    }
    match opener.maildir_config() {
        Some(maildir) => Ok(Searcher::Maildir(Box::new(MaildirStore::from_config(
            maildir,
        )))),
        None => bail!("store {} is neither IMAP nor Maildir", opener.name()),
    }
}

/// One worker's connection.
enum Searcher {
    Imap(Box<ImapStore>),
    Maildir(Box<MaildirStore>),
}

impl Searcher {
    fn list_folders(&mut self) -> Result<Vec<crate::store::FolderInfo>> {
        match self {
            Searcher::Imap(store) => store.list_folders(),
            Searcher::Maildir(store) => store.list_folders(),
        }
    }

    fn close(self) {
        if let Searcher::Imap(store) = self {
            // A failed goodbye changes nothing about the results.
            let _ = store.logout();
        }
    }

    fn search_folder(
        &mut self,
        store_name: &str,
        folder: &str,
        query: &Query,
        fetch_store: Option<&mut MaildirStore>,
    ) -> Result<Vec<Match>> {
        let mut found = Vec::new();
        let source: &mut dyn Store = match self {
            Searcher::Imap(store) => {
                store.open_folder(folder)?;
                let keys = imap::search_keys(query, store.search_literals())?;
                let uids = store.search_uids(&keys)?;
                for envelope in store.fetch_envelopes(&uids)? {
                    let summary = summarize(&envelope.header);
                    found.push(new_match(
                        store_name,
                        folder,
                        envelope.uid.to_string(),
                        envelope.date,
                        summary,
                        envelope.flags,
                        envelope.size,
                    ));
                }
                &mut **store
            }
            Searcher::Maildir(store) => {
                store.open_folder(folder)?;
                let listing = store.list_messages()?;
                let ids: Vec<String> = listing.iter().map(|m| m.id.clone()).collect();
                let sizes: std::collections::HashMap<&str, u64> =
                    listing.iter().map(|m| (m.id.as_str(), m.size)).collect();
                store.fetch_messages(&ids, &mut |id, message| {
                    let size = sizes
                        .get(id.as_str())
                        .copied()
                        .unwrap_or(message.content.len() as u64);
                    let candidate =
                        local::Candidate::new(&message.content, message.flags, size, message.date);
                    if candidate.matches(query) {
                        found.push(new_match(
                            store_name,
                            folder,
                            id.clone(),
                            message.date,
                            summarize(header_of(&message.content)),
                            message.flags,
                            size,
                        ));
                    }
                    Ok(())
                })?;
                &mut **store
            }
        };
        if let Some(target) = fetch_store {
            fetch_matches(source, folder, &mut found, target)?;
        }
        Ok(found)
    }
}

fn new_match(
    store: &str,
    folder: &str,
    id: String,
    date: Option<i64>,
    summary: Summary,
    flags: Flags,
    size: u64,
) -> Match {
    Match {
        store: store.to_string(),
        folder: folder.to_string(),
        id,
        date: date
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        from: summary.from,
        subject: summary.subject,
        flags,
        size,
        message_id: summary.message_id,
        fetched_to: None,
    }
}

/// The header part of a message (through the blank line).
fn header_of(content: &[u8]) -> &[u8] {
    for separator in [&b"\r\n\r\n"[..], b"\n\n"] {
        if let Some(at) = content
            .windows(separator.len())
            .position(|w| w == separator)
        {
            return &content[..at + separator.len()];
        }
    }
    content
}

/// Copies the matched messages of `folder` from `source` (whose folder is
/// open) into the same folder of `target`, with flags and date.
fn fetch_matches(
    source: &mut dyn Store,
    folder: &str,
    found: &mut [Match],
    target: &mut MaildirStore,
) -> Result<()> {
    if found.is_empty() {
        return Ok(());
    }
    target
        .create_folder(folder)
        .with_context(|| format!("creating folder {folder} in the fetch directory"))?;
    target.open_folder(folder)?;
    let ids: Vec<String> = found.iter().map(|m| m.id.clone()).collect();
    let mut stored = std::collections::HashMap::new();
    source.fetch_messages(&ids, &mut |id, message: Message| {
        let ticket = target.prepare_append()?;
        let new_id = target
            .append(&ticket, &message)?
            .ok_or_else(|| anyhow!("the Maildir gave no name for a fetched message"))?;
        stored.insert(id.clone(), new_id);
        Ok(())
    })?;
    for found in found.iter_mut() {
        found.fetched_to = stored.get(&found.id).cloned();
    }
    Ok(())
}
