//! `mailferry migrate`: copies every message of one store into another,
//! once and for all (POP3 to IMAP is the main case), on the sync engine.
//!
//! A migration is a one-way sync of one folder pair at a time, with the
//! source as the far side and the target as the near side, under a fixed
//! policy: copy new messages to the target and do nothing else. So it gets
//! the engine's guarantees for free: every copy is journaled before it is
//! made and paired when it is stored, in a state file of its own under
//! `STATE_DIR/migrate/`, so a second run (after an interruption or not)
//! copies only what is missing; and messages the target already holds (same
//! Message-ID and size, or the same content) are paired instead of copied,
//! see [`crate::mail::identity`]. A dropped connection is retried on new
//! ones as a sync retries it (see [`crate::sync::retry`]).
//!
//! Folders: one folder pair by default, the source's INBOX (the only
//! folder of a POP3 store) into the target folder of the same name, or
//! `TO:FOLDER`; `--folder` picks another source folder; `--all-folders`
//! copies every folder of the source into the folder of the same name.

use crate::config::{Config, StoreConfig};
use crate::error::UsageError;
use crate::mail::identity::Identity;
use crate::mail::{Flags, FolderStatus, Message, MessageInfo, MsgId, Pair, Side};
use crate::state::{state_path, ChannelLock, StateFile};
use crate::store::{FolderInfo, Store, StoreOpener};
use crate::sync::exec::Stores;
use crate::sync::folder::{sync_folder, RunOptions};
use crate::sync::ledger::Interrupt;
use crate::sync::plan::Policy;
use crate::sync::progress::Progress;
use crate::sync::retry::RetryPolicy;
use anyhow::{Context, Result};
use serde::Serialize;

pub mod accounts;
pub mod report;
pub mod runner;
pub mod shard;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which folders of the source to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFolders {
    /// One folder (INBOX unless named).
    One(String),
    /// Every folder, each into the folder of the same name.
    All,
}

/// What to migrate and how.
#[derive(Debug, Clone)]
pub struct MigrateRequest {
    pub from: String,
    pub to: String,
    /// The target folder for a single source folder; default its name.
    pub target_folder: Option<String>,
    pub folders: SourceFolders,
    /// Delete from the source the messages verified present on the target.
    pub delete_source: bool,
    pub dry_run: bool,
    /// Do not copy messages larger than this many bytes.
    pub max_size: Option<u64>,
    /// Where progress goes (the caller decides: bars only on a terminal).
    pub progress: Arc<dyn Progress>,
    /// Test hook: stop after this many journaled steps of each folder.
    pub interrupt: Option<(usize, Interrupt)>,
}

/// A message left where it was, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub id: MsgId,
    pub reason: String,
}

/// What happened to one folder pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderMigration {
    pub source_folder: String,
    pub target_folder: String,
    /// Messages the source lists.
    pub listed: usize,
    /// Copied in this run (with --dry-run: that would be copied).
    pub copied: usize,
    /// Bytes of the messages copied in this run (with --dry-run: 0).
    pub bytes_copied: u64,
    /// Held by the target already: found there by content, or copied by
    /// an earlier run.
    pub already_there: usize,
    pub skipped: Vec<Skip>,
    /// Messages that could not be copied, one line each.
    pub failed: Vec<String>,
    /// With --dry-run: (source id, size) of each message to be copied.
    pub would_copy: Vec<(MsgId, u64)>,
    /// Deleted from the source with --delete-source.
    pub deleted_from_source: usize,
    /// What the sync engine noted (messages paired by content, a source
    /// that renumbered its ids, ...).
    pub notes: Vec<String>,
}

/// What happened to a whole migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Migration {
    pub folders: Vec<FolderMigration>,
    /// Folders that could not be migrated at all, with the reason.
    pub errors: Vec<String>,
}

impl Migration {
    pub fn failed(&self) -> bool {
        !self.errors.is_empty() || self.folders.iter().any(|f| !f.failed.is_empty())
    }
}

/// The policy of a migration: new messages go to the target (the near
/// side), with the flags they have on the source; nothing else happens on
/// either side.
fn migration_policy(max_size: Option<u64>) -> Policy {
    Policy {
        copy_new: Pair::new(false, true),
        copy_flags: Pair::new(false, false),
        propagate_delete: Pair::new(false, false),
        expunge: Pair::new(false, false),
        max_size,
        ..Policy::default()
    }
}

/// Where a migration's state and lock live: `STATE_DIR/migrate/`.
pub fn migrate_state_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("migrate")
}

/// The name a migration's lock and state directory are derived from
/// (escaped into one file name by the state module).
fn migration_name(from: &str, to: &str) -> String {
    format!("{from}/{to}")
}

/// The state file of one folder pair. A newline cannot occur in a folder
/// name, so the key is unambiguous.
fn folder_state(
    config: &Config,
    request: &MigrateRequest,
    source: &str,
    target: &str,
) -> StateFile {
    StateFile::new(state_path(
        &migrate_state_dir(&config.state_dir),
        &migration_name(&request.from, &request.to),
        &format!("{source}\n{target}"),
    ))
}

/// Runs a migration.
pub fn migrate(config: &Config, request: &MigrateRequest) -> Result<Migration> {
    check_stores(config, request)?;
    let _lock = ChannelLock::acquire(
        &migrate_state_dir(&config.state_dir),
        &migration_name(&request.from, &request.to),
        false,
    )?;
    let mut source = StoreOpener::new(config, &request.from)
        .and_then(|opener| opener.open())
        .with_context(|| format!("opening the source store {}", request.from))?;
    let mut target = StoreOpener::new(config, &request.to)
        .and_then(|opener| opener.open())
        .with_context(|| format!("opening the target store {}", request.to))?;

    let pairs: Vec<(String, String)> = match &request.folders {
        SourceFolders::One(folder) => vec![(
            folder.clone(),
            request
                .target_folder
                .clone()
                .unwrap_or_else(|| folder.clone()),
        )],
        SourceFolders::All => source
            .list_folders()
            .with_context(|| format!("listing the folders of {}", source.describe()))?
            .into_iter()
            .map(|FolderInfo { name, .. }| (name.clone(), name))
            .collect(),
    };
    let target_folders: HashSet<String> = target
        .list_folders()
        .with_context(|| format!("listing the folders of {}", target.describe()))?
        .into_iter()
        .map(|f| f.name)
        .collect();

    request.progress.channel_started("migrate", pairs.len());
    let mut migration = Migration::default();
    for (source_folder, target_folder) in pairs {
        if crate::interrupt::requested() {
            // A signal came: the folders not begun are left for the next run.
            break;
        }
        let outcome = migrate_folder(
            config,
            request,
            &mut *source,
            &mut *target,
            (&source_folder, &target_folder),
            target_folders.contains(&target_folder),
        );
        match outcome {
            Ok(folder) => migration.folders.push(folder),
            // Not a failure: the caller reports the signal.
            Err(error) if crate::interrupt::is_interrupted(&error) => break,
            Err(error) => migration
                .errors
                .push(format!("folder {source_folder}: {error:#}")),
        }
    }
    Ok(migration)
}

fn check_stores(config: &Config, request: &MigrateRequest) -> Result<()> {
    if request.from == request.to {
        return Err(UsageError(format!(
            "the source and the target are both {:?}; a migration copies from one store to another",
            request.from
        ))
        .into());
    }
    for name in [&request.from, &request.to] {
        if config.store(name).is_none() {
            return Err(UsageError(format!(
                "no store named {name:?} in {}",
                config.path.display()
            ))
            .into());
        }
    }
    if let Some(StoreConfig::Pop3(_)) = config.store(&request.to) {
        return Err(UsageError(format!(
            "{:?} is a pop3 store, which can only be read; migrate into an imap or maildir store",
            request.to
        ))
        .into());
    }
    if request.target_folder.is_some() && request.folders == SourceFolders::All {
        return Err(UsageError(
            "TO:FOLDER names one target folder; with --all-folders each folder keeps its name"
                .to_string(),
        )
        .into());
    }
    Ok(())
}

fn migrate_folder(
    config: &Config,
    request: &MigrateRequest,
    source: &mut dyn Store,
    target: &mut dyn Store,
    (source_folder, target_folder): (&str, &str),
    target_exists: bool,
) -> Result<FolderMigration> {
    let mut result = FolderMigration {
        source_folder: source_folder.to_string(),
        target_folder: target_folder.to_string(),
        ..FolderMigration::default()
    };
    if !target_exists {
        if request.dry_run {
            // Nothing to compare with: everything would be copied.
            source.open_folder(source_folder)?;
            let listing = source.list_messages()?;
            result.listed = listing.len();
            result.copied = listing.len();
            result.would_copy = listing.into_iter().map(|m| (m.id, m.size)).collect();
            return Ok(result);
        }
        target
            .create_folder(target_folder)
            .with_context(|| format!("creating {target_folder} on {}", target.describe()))?;
    }

    let state_file = folder_state(config, request, source_folder, target_folder);
    let mut source_view = SourceView {
        inner: source,
        listing: Vec::new(),
    };
    let options = RunOptions {
        dry_run: request.dry_run,
        force: false,
        wait_for_lock: false,
        interrupt: request.interrupt,
        stop_on_signal: true,
        progress: request.progress.clone(),
        keep_plans: true,
    };
    let mut stores = Stores {
        far: &mut source_view,
        near: &mut *target,
    };
    let policy = migration_policy(request.max_size);
    let names = Pair::new(source_folder, target_folder);
    let mut synced = sync_folder(&mut stores, names, &state_file, &policy, &options);
    // A dropped connection (a POP3 RETR cut off, an IMAP fetch or upload)
    // is retried on new ones as a sync retries it: the journal makes it
    // safe, and the retry copies only what is still missing.
    let retry = RetryPolicy::default();
    let mut retries = 0;
    while let Err(err) = &synced {
        retries += 1;
        let Some(delay) = retry.delay(retries, err) else {
            break;
        };
        if crate::interrupt::requested() {
            break;
        }
        log::info!(
            "folder {source_folder}: {err:#}; trying again in {} s ({retries} of {})",
            delay.as_secs_f32(),
            retry.retries
        );
        std::thread::sleep(delay);
        synced = stores
            .far
            .reconnect()
            .and_then(|()| stores.near.reconnect())
            .and_then(|()| sync_folder(&mut stores, names, &state_file, &policy, &options));
    }
    let synced = synced?;
    let plan = &synced.plan;

    result.listed = source_view.listing.len();
    let planned: HashSet<&str> = plan.copies.iter().map(|c| c.source.as_str()).collect();
    result.skipped = plan
        .skipped
        .iter()
        .map(|s| Skip {
            id: s.id.clone(),
            reason: s.reason.clone(),
        })
        .collect();
    // The planner leaves new messages flagged deleted where they are.
    let recorded = state_file.load().map(|s| s.records).unwrap_or_default();
    let paired: HashSet<&str> = recorded
        .iter()
        .filter_map(|r| r.ids[Side::Far].as_deref())
        .collect();
    for message in &source_view.listing {
        let unpaired = !paired.contains(message.id.as_str());
        if message.flags.contains(Flags::DELETED)
            && unpaired
            && !planned.contains(message.id.as_str())
        {
            result.skipped.push(Skip {
                id: message.id.clone(),
                reason: "flagged deleted on the source".to_string(),
            });
        }
    }
    for note in &synced.report.notes {
        log::info!("folder {source_folder}: {note}");
    }
    result.failed = synced.report.failures.clone();
    result.notes = synced.report.notes.clone();
    if request.dry_run {
        result.copied = plan.copies.len();
        result.would_copy = plan
            .copies
            .iter()
            .map(|c| (c.source.clone(), c.size))
            .collect();
    } else {
        result.copied = synced.report.copied[Side::Near];
        // A planned copy is paired in the state once it is stored.
        result.bytes_copied = plan
            .copies
            .iter()
            .filter(|c| paired.contains(c.source.as_str()))
            .map(|c| c.size)
            .sum();
    }
    result.already_there = result
        .listed
        .saturating_sub(plan.copies.len() + result.skipped.len());

    if request.delete_source && !request.dry_run {
        result.deleted_from_source = delete_copied_from_source(
            &state_file,
            &source_view.listing,
            target,
            source_view.inner,
        )?;
    }
    Ok(result)
}

/// Deletes from the source every message whose pair is recorded in the
/// saved state and whose copy the target lists right now.
fn delete_copied_from_source(
    state_file: &StateFile,
    source_listing: &[MessageInfo],
    target: &mut dyn Store,
    source: &mut dyn Store,
) -> Result<usize> {
    let state = state_file.load()?;
    let on_target: HashSet<MsgId> = target.list_messages()?.into_iter().map(|m| m.id).collect();
    let on_source: HashSet<&str> = source_listing.iter().map(|m| m.id.as_str()).collect();
    let verified: Vec<MsgId> = state
        .records
        .iter()
        .filter_map(
            |record| match (&record.ids[Side::Far], &record.ids[Side::Near]) {
                (Some(far), Some(near))
                    if on_source.contains(far.as_str()) && on_target.contains(near) =>
                {
                    Some(far.clone())
                }
                _ => None,
            },
        )
        .collect();
    if !verified.is_empty() {
        source.delete_messages(&verified).with_context(|| {
            format!(
                "deleting {} message(s) from {}",
                verified.len(),
                source.describe()
            )
        })?;
    }
    Ok(verified.len())
}

/// The source as the engine sees it: the same store, which remembers what
/// it listed, so the summary counts what the plan was made from.
struct SourceView<'a> {
    inner: &'a mut dyn Store,
    listing: Vec<MessageInfo>,
}

impl Store for SourceView<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        self.inner.list_folders()
    }
    fn create_folder(&mut self, name: &str) -> Result<()> {
        self.inner.create_folder(name)
    }
    fn open_folder(&mut self, name: &str) -> Result<FolderStatus> {
        self.inner.open_folder(name)
    }
    fn list_messages(&mut self) -> Result<Vec<MessageInfo>> {
        let listing = self.inner.list_messages()?;
        self.listing = listing.clone();
        Ok(listing)
    }
    fn fetch_messages(
        &mut self,
        ids: &[MsgId],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        self.inner.fetch_messages(ids, sink)
    }
    fn identities(&mut self, ids: &[MsgId]) -> Result<Vec<(MsgId, Identity)>> {
        // The source's own way (headers only, on IMAP and POP3), not the
        // default that reads every message whole.
        self.inner.identities(ids)
    }
    fn prepare_append(&mut self) -> Result<String> {
        self.inner.prepare_append()
    }
    fn append(&mut self, ticket: &str, message: &Message) -> Result<Option<MsgId>> {
        self.inner.append(ticket, message)
    }
    fn find_appended(&mut self, ticket: &str, size: u64, sha256: &str) -> Result<Vec<MsgId>> {
        self.inner.find_appended(ticket, size, sha256)
    }
    fn set_flags(&mut self, id: &MsgId, add: Flags, remove: Flags) -> Result<()> {
        self.inner.set_flags(id, add, remove)
    }
    fn delete_messages(&mut self, ids: &[MsgId]) -> Result<()> {
        self.inner.delete_messages(ids)
    }
    fn take_warnings(&mut self) -> Vec<String> {
        self.inner.take_warnings()
    }
    fn reconnect(&mut self) -> Result<()> {
        self.inner.reconnect()
    }
    fn source_only(&self) -> bool {
        self.inner.source_only()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryData, MemoryStore};
    use std::sync::{Arc, Mutex};

    fn message(n: usize, flags: Flags) -> Message {
        Message {
            flags,
            date: Some(1_700_000_000 + n as i64),
            content: format!("Message-ID: <m{n}@test>\r\nSubject: {n}\r\n\r\nbody {n}\r\n")
                .into_bytes(),
        }
    }

    fn store_with(folder: &str, messages: &[Message]) -> MemoryStore {
        let mut store = MemoryStore::new(Arc::new(Mutex::new(MemoryData::default())));
        store.create_folder(folder).unwrap();
        store.open_folder(folder).unwrap();
        for m in messages {
            let ticket = store.prepare_append().unwrap();
            store.append(&ticket, m).unwrap();
        }
        store
    }

    fn contents(store: &mut MemoryStore, folder: &str) -> Vec<(Vec<u8>, Flags)> {
        store.open_folder(folder).unwrap();
        let ids: Vec<MsgId> = store
            .list_messages()
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        let mut found = Vec::new();
        store
            .fetch_messages(&ids, &mut |_, m| {
                found.push((m.content, m.flags));
                Ok(())
            })
            .unwrap();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    #[test]
    fn a_migration_copies_into_the_target_folder_and_does_nothing_else() {
        let mut source = store_with(
            "INBOX",
            &[message(1, Flags::SEEN), message(2, Flags::EMPTY)],
        );
        // The target already holds message 2 and one of its own.
        let mut target = store_with(
            "Old/POP",
            &[message(2, Flags::FLAGGED), message(9, Flags::EMPTY)],
        );
        let dir = tempfile::tempdir().unwrap();
        let state_file = StateFile::new(dir.path().join("x.state"));
        let mut source_view = SourceView {
            inner: &mut source,
            listing: Vec::new(),
        };
        let mut stores = Stores {
            far: &mut source_view,
            near: &mut target,
        };
        let synced = sync_folder(
            &mut stores,
            Pair::new("INBOX", "Old/POP"),
            &state_file,
            &migration_policy(None),
            &RunOptions::default(),
        )
        .unwrap();
        assert_eq!(synced.report.copied, Pair::new(0, 1));
        assert_eq!(source_view.listing.len(), 2);
        let held = contents(&mut target, "Old/POP");
        assert_eq!(held.len(), 3);
        // Message 1 arrived with its flags; message 2 kept the target's.
        assert!(held.contains(&(message(1, Flags::SEEN).content, Flags::SEEN)));
        assert!(held.contains(&(message(2, Flags::EMPTY).content, Flags::FLAGGED)));
        // Nothing went the other way.
        assert_eq!(contents(&mut source, "INBOX").len(), 2);
    }
}
