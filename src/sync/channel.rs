//! One channel: lock it, open both stores, choose and create folders, and
//! sync the folder pairs, several at once on their own connections; a
//! failing folder does not stop the others, and one whose connection
//! dropped is tried again on a new one (see [`retry`]).
//!
//! [`retry`]: super::retry

use super::exec::Stores;
use super::folder::{FolderResult, RunOptions};
use super::folders::{
    check_folder_guard, plan_folders, FolderAction, FolderPlanItem, FolderPolicy,
};
use super::patterns::{names_explicitly, selects};
use super::plan::Policy;
pub use super::workers::Workers;
use super::workers::{sync_folders, BeforeSync, FolderContext, ToSync};
use crate::config::{ChannelConfig, Config, Direction, StoreConfig};
use crate::mail::{Pair, Side};
use crate::state::{state_path, ChannelLock, FolderList, RenameRecord, StateBatch, StateFile};
use crate::store::{Store, StoreOpener};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

/// What happened to a channel.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelResult {
    pub channel: String,
    /// Folder-level decisions other than a plain sync (create, remove,
    /// recreate, rename, forget, skip), in words.
    pub folder_actions: Vec<String>,
    pub folders: Vec<FolderResult>,
    /// Folders that failed, with the reason, one line each.
    pub errors: Vec<String>,
}

/// The planner's policy for a channel's configuration and its far store.
///
/// A far store that is a source only (POP3) gets a fixed policy whatever
/// the channel says: new mail is pulled to the near side and nothing else
/// happens. Flags are not synced (POP3 keeps none, so a sync would only
/// clear the local ones); nothing is deleted or expunged on either side
/// because of the other (a message read and deleted locally stays on the
/// server, one removed from the server stays in the Maildir). Removing
/// mail from the server is the POP3 store's own `leave_on_server` and
/// `delete_after_days`, done after the state is saved: see
/// [`super::pop3::remove_from_server`]. `max_size` and `max_messages`
/// still apply.
pub fn policy_for(channel: &ChannelConfig, far: &dyn Store) -> Policy {
    if far.source_only() {
        return Policy {
            copy_new: Pair::new(false, channel.sync_new),
            copy_flags: Pair::new(false, false),
            propagate_delete: Pair::new(false, false),
            expunge: Pair::new(false, false),
            max_size: channel.max_size,
            max_messages: channel.max_messages,
            max_delete_ratio: channel.max_delete_ratio,
            ..Policy::default()
        };
    }
    let to_far = matches!(channel.direction, Direction::Both | Direction::Push);
    let to_near = matches!(channel.direction, Direction::Both | Direction::Pull);
    Policy {
        copy_new: Pair::new(to_far && channel.sync_new, to_near && channel.sync_new),
        copy_flags: Pair::new(to_far && channel.sync_flags, to_near && channel.sync_flags),
        propagate_delete: Pair::new(
            to_far && channel.sync_delete,
            to_near && channel.sync_delete,
        ),
        expunge: Pair::new(channel.expunge.far(), channel.expunge.near()),
        max_size: channel.max_size,
        max_messages: channel.max_messages,
        max_delete_ratio: channel.max_delete_ratio,
        trash: Pair::new(channel.trash.far.clone(), channel.trash.near.clone()),
        trash_new_only: channel.trash.new_only,
        trash_remote_new: channel.trash.remote_new,
        window_start: super::window::window_start(
            channel.max_age_days,
            channel.since,
            super::window::today(),
        ),
        prune_local: channel.prune_local,
        ..Policy::default()
    }
}

/// The folder-level policy for a channel's configuration.
pub fn folder_policy_for(channel: &ChannelConfig) -> FolderPolicy {
    FolderPolicy {
        create: Pair::new(channel.create.far(), channel.create.near()),
        remove: Pair::new(channel.remove.far(), channel.remove.near()),
    }
}

/// Syncs a channel, or only `only_folder` of it, with up to the stores'
/// `connections:` workers syncing folders side by side.
pub fn sync_channel(
    config: &Config,
    channel: &ChannelConfig,
    only_folder: Option<&str>,
    options: &RunOptions,
) -> Result<ChannelResult> {
    let _lock = ChannelLock::acquire(&config.state_dir, &channel.name, options.wait_for_lock)?;
    let open_far = StoreOpener::new(config, &channel.far)?;
    let open_near = StoreOpener::new(config, &channel.near)?;
    let connecting = Instant::now();
    let mut far = open_far.open()?;
    let mut near = open_near.open()?;
    // The tighter `connections:` of the two sides; Maildir sets no limit.
    let connections = [&open_far, &open_near]
        .iter()
        .filter_map(|opener| opener.connection_limit())
        .min()
        .unwrap_or(DEFAULT_WORKERS);
    let workers = Workers {
        open: Pair::new(&open_far, &open_near),
        connections,
        connect_cost: connecting.elapsed(),
    };
    let mut result = sync_stores_with_workers(
        &config.state_dir,
        channel,
        Stores {
            far: &mut *far,
            near: &mut *near,
        },
        Some(&workers),
        only_folder,
        options,
    )?;
    if let Some(StoreConfig::Pop3(pop3)) = config.store(&channel.far) {
        if !options.dry_run {
            super::pop3::remove_from_server(&config.state_dir, pop3, &mut *far, &mut result);
        }
    }
    Ok(result)
}

/// Workers for a channel between stores without a connection limit.
const DEFAULT_WORKERS: usize = 4;

/// Folder names on each side: the channel speaks of folders by their near
/// names; `folder_map` gives the far name where it differs.
pub(super) struct FolderNames<'a> {
    far_to_near: &'a BTreeMap<String, String>,
    near_to_far: BTreeMap<&'a str, &'a str>,
}

impl<'a> FolderNames<'a> {
    fn new(map: &'a BTreeMap<String, String>) -> FolderNames<'a> {
        FolderNames {
            far_to_near: map,
            near_to_far: map.iter().map(|(f, n)| (n.as_str(), f.as_str())).collect(),
        }
    }

    /// The channel's (near) name of a far folder.
    fn channel_name_of_far(&self, far_name: &str) -> String {
        self.far_to_near
            .get(far_name)
            .cloned()
            .unwrap_or_else(|| far_name.to_string())
    }

    pub(super) fn on(&self, side: Side, name: &str) -> String {
        match side {
            Side::Near => name.to_string(),
            Side::Far => self
                .near_to_far
                .get(name)
                .map(|f| f.to_string())
                .unwrap_or_else(|| name.to_string()),
        }
    }
}

/// Syncs a channel between two open stores, one folder after the other;
/// the caller holds the lock.
pub fn sync_stores(
    state_dir: &Path,
    channel: &ChannelConfig,
    far: &mut dyn Store,
    near: &mut dyn Store,
    only_folder: Option<&str>,
    options: &RunOptions,
) -> Result<ChannelResult> {
    sync_stores_with_workers(
        state_dir,
        channel,
        Stores { far, near },
        None,
        only_folder,
        options,
    )
}

/// Syncs a channel; the caller holds the lock. Folder-level changes
/// (create, remove, rename) are decided and made first on the `main`
/// stores; then the folders are synced by up to `workers.connections`
/// workers, the first on `main`, each other on its own pair of stores,
/// taking whole folders in turn. Each folder has its own state, so workers
/// never share one. Results come back in folder order. Without `workers`,
/// every folder is synced on `main`.
pub fn sync_stores_with_workers(
    state_dir: &Path,
    channel: &ChannelConfig,
    main: Stores<'_>,
    workers: Option<&Workers<'_>>,
    only_folder: Option<&str>,
    options: &RunOptions,
) -> Result<ChannelResult> {
    let policy = policy_for(channel, &*main.far);
    let mut run = ChannelRun {
        state_dir,
        channel,
        names: FolderNames::new(&channel.folder_map),
        stores: main,
        options,
        policy,
        result: ChannelResult {
            channel: channel.name.clone(),
            folder_actions: Vec::new(),
            folders: Vec::new(),
            errors: Vec::new(),
        },
        folder_list: FolderList::for_channel(state_dir, &channel.name),
        renames: RenameRecord::for_channel(state_dir, &channel.name),
        rename_steps: 0,
    };
    let mut known_all = run.folder_list.load()?;
    let known_before = known_all.clone();
    // A folder rename an interrupted run left half done is finished first:
    // until then the folders' names and their states disagree.
    if !options.dry_run {
        if let Some(rename) = run.renames.load()? {
            run.finish_rename(&rename, &mut known_all)
                .with_context(|| {
                    format!(
                        "finishing the rename of folder {} to {} on the {} side",
                        rename.from, rename.to, rename.side
                    )
                })?;
        }
    }

    let mut listed: Pair<BTreeSet<String>> = Pair::default();
    let mut left_out = BTreeMap::new();
    for side in Side::BOTH {
        let (names, unnamed) = run.list_names(side)?;
        listed[side] = names;
        left_out.extend(unnamed);
    }
    for (name, reason) in &left_out {
        log::info!(
            "{}: folder {name} is not synced, as {reason}; name it in the channel's folders: to \
             sync it",
            channel.name
        );
    }
    // A folder left out is not synced on either side, and is not taken
    // for deleted on the side that lists it while the other does not.
    let selected = |name: &str| {
        !left_out.contains_key(name)
            && selects(&channel.folders, name)
            && only_folder.is_none_or(|only| only == name)
    };
    for side in Side::BOTH {
        listed[side].retain(|name| selected(name));
    }
    if run.stores.far.source_only() {
        // A source-only store (POP3: INBOX alone) gets no folder created,
        // removed or renamed: only the folders it has are synced.
        let far_folders = listed[Side::Far].clone();
        listed[Side::Near].retain(|name| far_folders.contains(name));
    }
    let mut known: BTreeSet<String> = known_all.iter().filter(|n| selected(n)).cloned().collect();
    if let Some(only) = only_folder {
        if !listed[Side::Far].contains(only)
            && !listed[Side::Near].contains(only)
            && !known.contains(only)
        {
            anyhow::bail!(
                "folder {only} is not on either side of channel {} (or not selected by its folders patterns)",
                channel.name
            );
        }
    }

    let folder_policy = folder_policy_for(channel);
    let mut items = plan_folders(&listed, &known, &folder_policy);
    run.detect_renames(
        &mut items,
        &mut listed,
        &mut known,
        &mut known_all,
        &folder_policy,
    );
    if !options.force {
        check_folder_guard(&items, known.len())?;
    }
    options.progress.channel_started(&channel.name, items.len());

    // Folder-level actions, one after the other on the main stores; the
    // folders that need a message sync are collected for later.
    let mut to_sync: Vec<&FolderPlanItem> = Vec::new();
    let mut created: Vec<(Side, &str)> = Vec::new();
    for item in &items {
        if options.stop_on_signal && crate::interrupt::requested() {
            break;
        }
        match run.carry_out(item) {
            Ok(Next::Sync) => {
                if let FolderAction::Create { side } = item.action {
                    created.push((side, item.name.as_str()));
                }
                to_sync.push(item);
            }
            Ok(Next::Done(known)) => update_known(&mut known_all, &item.name, known),
            Err(err) => run.folder_failed(item, err, &mut known_all),
        }
    }

    let made_by_server = if options.dry_run {
        Vec::new()
    } else {
        run.parents_made_by_server(&created, &listed, &selected)
    };
    for item in &made_by_server {
        match run.carry_out(item) {
            Ok(_) => to_sync.push(item),
            Err(err) => run.folder_failed(item, err, &mut known_all),
        }
    }

    // The folders' new states are committed together once all are synced.
    let states = StateBatch::new();
    let far_name = |name: &str| run.names.on(Side::Far, name);
    let context = FolderContext {
        state_dir,
        channel,
        far_name: &far_name,
        policy: &run.policy,
        options,
        states: &states,
    };
    // Unchanged folders are skipped here, before any worker connects: a
    // resync with nothing to do then needs no second connection.
    let mut skipped: Vec<Option<FolderResult>> = Vec::with_capacity(to_sync.len());
    let mut folders = Vec::new();
    for item in &to_sync {
        match context.before_sync(&mut run.stores, &item.name) {
            BeforeSync::Skipped(result) => skipped.push(Some(result)),
            BeforeSync::ToSync { far_changes_only } => {
                skipped.push(None);
                folders.push(ToSync {
                    name: &item.name,
                    far_changes_only,
                });
            }
        }
    }
    let mut outcomes = sync_folders(&mut run.stores, workers, &context, &folders).into_iter();
    for (item, skipped) in to_sync.into_iter().zip(skipped) {
        let outcome = match skipped {
            Some(result) => Ok(result),
            None => outcomes
                .next()
                .unwrap_or_else(|| Err(anyhow::anyhow!("folder {} was not synced", item.name))),
        };
        match outcome {
            Ok(folder) => {
                run.result.folders.push(folder);
                update_known(&mut known_all, &item.name, Known::Yes);
            }
            Err(err) => run.folder_failed(item, err, &mut known_all),
        }
    }
    if let Err(err) = states.commit() {
        run.result.errors.push(format!(
            "{err:#}: the folders whose state could not be saved are synced, and the next run \
             replays what this run did to them from their journals"
        ));
    }
    if !options.dry_run && known_all != known_before {
        run.folder_list.save(&known_all)?;
    }
    Ok(run.result)
}

/// `a` and `a/b` for `a/b/c`.
fn ancestors(name: &str) -> Vec<String> {
    name.match_indices('/')
        .map(|(at, _)| name[..at].to_string())
        .collect()
}

fn update_known(known_all: &mut BTreeSet<String>, name: &str, known: Known) {
    match known {
        Known::Yes => {
            known_all.insert(name.to_string());
        }
        Known::No => {
            known_all.remove(name);
        }
        Known::Unchanged => {}
    }
}

/// Whether a folder is on the synced list after its action.
enum Known {
    Yes,
    No,
    Unchanged,
}

/// What a folder needs after its folder-level action.
enum Next {
    /// Its messages are to be synced (it is on the list once that works).
    Sync,
    Done(Known),
}

/// A channel's run: its stores, what it decided and what happened.
pub(super) struct ChannelRun<'a, 's> {
    pub(super) state_dir: &'a Path,
    pub(super) channel: &'a ChannelConfig,
    pub(super) names: FolderNames<'a>,
    pub(super) stores: Stores<'s>,
    pub(super) options: &'a RunOptions,
    pub(super) policy: Policy,
    pub(super) result: ChannelResult,
    /// The channel's list of synced folders.
    pub(super) folder_list: FolderList,
    /// The record of a folder rename under way (see [`super::renames`]).
    pub(super) renames: RenameRecord,
    /// Steps of folder renames done, for the crash test hook.
    pub(super) rename_steps: usize,
}

impl ChannelRun<'_, '_> {
    pub(super) fn state_file(&self, name: &str) -> StateFile {
        StateFile::new(state_path(self.state_dir, &self.channel.name, name))
    }

    pub(super) fn note(&mut self, text: String) {
        self.result.folder_actions.push(text);
    }

    /// Every folder `side` lists, by its channel name; apart, those the
    /// channel syncs only when its `folders:` name them and do not (see
    /// [`store::FolderInfo::only_if_named`]), each with the reason.
    pub(super) fn list_names(
        &mut self,
        side: Side,
    ) -> Result<(BTreeSet<String>, BTreeMap<String, String>)> {
        let store = self.stores.side(side);
        let description = store.describe();
        let folders = store
            .list_folders()
            .with_context(|| format!("listing folders of {description}"))?;
        let mut names = BTreeSet::new();
        let mut left_out = BTreeMap::new();
        for folder in folders {
            let name = match side {
                Side::Far => self.names.channel_name_of_far(&folder.name),
                Side::Near => folder.name,
            };
            match folder.only_if_named {
                Some(reason) if !names_explicitly(&self.channel.folders, &name) => {
                    left_out.insert(name, reason);
                }
                _ => {
                    names.insert(name);
                }
            }
        }
        Ok((names, left_out))
    }

    /// Servers such as Cyrus create the missing parents of a folder they
    /// are asked to create (`INBOX.Local` with `INBOX.Local.New`). Such a
    /// parent, new on that side and on neither side before, is created on
    /// the other side too and synced (empty) in this run, so the next run
    /// does not find a new folder. The side is listed again only when a
    /// created folder had a parent missing from both sides.
    fn parents_made_by_server(
        &mut self,
        created: &[(Side, &str)],
        listed: &Pair<BTreeSet<String>>,
        selected: &dyn Fn(&str) -> bool,
    ) -> Vec<FolderPlanItem> {
        let mut items = Vec::new();
        for side in Side::BOTH {
            let missing: BTreeSet<String> = created
                .iter()
                .filter(|(on, _)| *on == side)
                .flat_map(|(_, name)| ancestors(name))
                .filter(|parent| {
                    !listed[side].contains(parent)
                        && !listed[side.other()].contains(parent)
                        && !created.iter().any(|(_, name)| name == parent)
                        && selected(parent)
                })
                .collect();
            if missing.is_empty() {
                continue;
            }
            let now = match self.list_names(side) {
                Ok((names, _)) => names,
                Err(err) => {
                    log::info!("{err:#}");
                    continue;
                }
            };
            for parent in missing.into_iter().filter(|p| now.contains(p)) {
                log::info!(
                    "{}: folder {parent} was created by the {side} side as the parent of a \
                     folder created there",
                    self.channel.name
                );
                items.push(FolderPlanItem {
                    name: parent,
                    action: FolderAction::Create { side: side.other() },
                });
            }
        }
        items
    }

    /// Records a folder's failure. A folder that exists on both sides
    /// stays known even when its sync failed, so the next run does not take
    /// it for new.
    fn folder_failed(
        &mut self,
        item: &FolderPlanItem,
        err: anyhow::Error,
        known_all: &mut BTreeSet<String>,
    ) {
        if matches!(item.action, FolderAction::Sync) {
            known_all.insert(item.name.clone());
        }
        if crate::interrupt::is_interrupted(&err) {
            // Not a failure: the caller reports the signal once.
            log::info!("{}: folder {}: {err:#}", self.channel.name, item.name);
            return;
        }
        self.result.errors.push(format!(
            "{}: folder {}: {err:#}",
            self.channel.name, item.name
        ));
    }

    fn carry_out(&mut self, item: &FolderPlanItem) -> Result<Next> {
        let name = item.name.as_str();
        match item.action {
            FolderAction::Sync => Ok(Next::Sync),
            FolderAction::Create { side } => {
                self.note(item.to_string());
                if self.options.dry_run {
                    return Ok(Next::Done(Known::Unchanged));
                }
                let folder = self.names.on(side, name);
                self.stores
                    .side(side)
                    .create_folder(&folder)
                    .with_context(|| format!("creating it on the {side} side"))?;
                Ok(Next::Sync)
            }
            FolderAction::Remove { deleted_on } => self.remove(name, deleted_on),
            FolderAction::Recreate { deleted_on } => {
                self.note(item.to_string());
                self.recreate(name, deleted_on)
            }
            FolderAction::Forget => {
                self.note(item.to_string());
                if !self.options.dry_run {
                    self.state_file(name).remove()?;
                }
                Ok(Next::Done(Known::No))
            }
            FolderAction::Skip { .. } => {
                self.note(item.to_string());
                Ok(Next::Done(Known::Unchanged))
            }
        }
    }

    /// The folder was deleted on `deleted_on`; the policy lets that reach
    /// the other side, provided it holds nothing the deleting side never
    /// saw. Otherwise it is recreated.
    fn remove(&mut self, name: &str, deleted_on: Side) -> Result<Next> {
        let kept = deleted_on.other();
        let folder = self.names.on(kept, name);
        let store = self.stores.side(kept);
        store.open_folder(&folder)?;
        let listing = store.list_messages()?;
        let state = self.state_file(name).load()?;
        let synced: BTreeSet<&str> = state
            .records
            .iter()
            .filter_map(|r| r.ids[kept].as_deref())
            .collect();
        let unseen = listing
            .iter()
            .filter(|m| !synced.contains(m.id.as_str()))
            .count();
        if unseen > 0 {
            self.note(format!(
                "folder {name} was deleted on the {deleted_on} side, but the {kept} side holds \
                 {unseen} message(s) it never saw: recreating it instead of deleting"
            ));
            return self.recreate(name, deleted_on);
        }
        self.note(format!(
            "delete folder {name} on the {kept} side (deleted on the {deleted_on} side)"
        ));
        if self.options.dry_run {
            return Ok(Next::Done(Known::Unchanged));
        }
        self.stores.side(kept).delete_folder(&folder)?;
        self.state_file(name).remove()?;
        Ok(Next::Done(Known::No))
    }

    /// Creates the folder again on `deleted_on` and forgets its pairs, so
    /// the other side's messages are copied back rather than deleted.
    fn recreate(&mut self, name: &str, deleted_on: Side) -> Result<Next> {
        if self.options.dry_run {
            return Ok(Next::Done(Known::Unchanged));
        }
        let folder = self.names.on(deleted_on, name);
        self.stores.side(deleted_on).create_folder(&folder)?;
        self.state_file(name).remove()?;
        Ok(Next::Sync)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::{Direction, Sides};
    use crate::mail::Message;
    use crate::store::maildir::MaildirStore;
    use crate::store::memory::{MemoryData, MemoryStore};
    use std::sync::{Arc, Mutex};

    /// A channel `test` syncing everything both ways, `remove: none`.
    pub(in crate::sync) fn channel() -> ChannelConfig {
        ChannelConfig {
            name: "test".into(),
            far: "far".into(),
            near: "near".into(),
            folders: vec!["*".into()],
            direction: Direction::Both,
            sync_new: true,
            sync_flags: true,
            sync_delete: true,
            expunge: Sides::Both,
            create: Sides::Both,
            remove: Sides::None,
            max_messages: None,
            max_size: None,
            max_delete_ratio: 0.5,
            folder_map: Default::default(),
            watch: Vec::new(),
            interval_secs: 900,
            poll_secs: 60,
            post_sync: None,
            on_new_mail: None,
            trash: Default::default(),
            max_age_days: None,
            since: None,
            prune_local: false,
        }
    }

    /// A memory server with `folders` folders of `per_folder` messages.
    fn memory_server(folders: usize, per_folder: usize) -> Arc<Mutex<MemoryData>> {
        let data = Arc::new(Mutex::new(MemoryData::default()));
        let mut far = MemoryStore::new(data.clone());
        for f in 0..folders {
            let folder = format!("F{f:02}");
            far.create_folder(&folder).unwrap();
            far.open_folder(&folder).unwrap();
            for n in 0..per_folder {
                let ticket = far.prepare_append().unwrap();
                let message = Message {
                    flags: crate::mail::Flags::SEEN,
                    date: None,
                    content: format!("Message-ID: <{f}.{n}@t>\r\n\r\nbody\r\n").into_bytes(),
                };
                far.append(&ticket, &message).unwrap();
            }
        }
        data
    }

    #[test]
    fn a_parent_the_server_creates_by_itself_is_synced_in_the_same_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut far = MemoryStore::new(Arc::new(Mutex::new(MemoryData::default())));
        far.creates_parents = true;
        let mut near = MemoryStore::new(Arc::new(Mutex::new(MemoryData::default())));
        near.create_folder("Local/New").unwrap();
        near.open_folder("Local/New").unwrap();
        let ticket = near.prepare_append().unwrap();
        let message = Message {
            flags: crate::mail::Flags::SEEN,
            date: None,
            content: b"Message-ID: <n@t>\r\n\r\nbody\r\n".to_vec(),
        };
        near.append(&ticket, &message).unwrap();
        let options = RunOptions::default();

        let first = sync_stores(dir.path(), &channel(), &mut far, &mut near, None, &options);
        let first = first.unwrap();
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        let names = |store: &mut MemoryStore| -> Vec<String> {
            store
                .list_folders()
                .unwrap()
                .into_iter()
                .map(|f| f.name)
                .collect()
        };
        assert_eq!(names(&mut far), ["Local", "Local/New"]);
        assert_eq!(
            names(&mut near),
            ["Local", "Local/New"],
            "the parent made here too"
        );

        let second = sync_stores(dir.path(), &channel(), &mut far, &mut near, None, &options);
        let second = second.unwrap();
        assert!(
            second.folder_actions.is_empty() && second.errors.is_empty(),
            "the second sync is a no-op: {second:?}"
        );
    }

    #[test]
    fn parallel_workers_sync_every_folder_and_report_in_folder_order() {
        let data = memory_server(9, 30);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mail");
        let far_data = data.clone();
        let open_far = StoreOpener::from_fn("far", move || {
            Ok(Box::new(MemoryStore::new(far_data.clone())) as Box<dyn Store>)
        });
        let near_root = root.clone();
        let open_near = StoreOpener::from_fn("near", move || {
            let mut store = MaildirStore::new(near_root.clone(), crate::config::Layout::Verbatim);
            store.set_fsync(false);
            Ok(Box::new(store) as Box<dyn Store>)
        });
        let workers = Workers {
            open: Pair::new(&open_far, &open_near),
            connections: 4,
            // As from a distant server: every worker connects at once.
            connect_cost: crate::sync::workers::DISTANT_SERVER,
        };
        let (mut far, mut near) = (open_far.open().unwrap(), open_near.open().unwrap());
        let result = sync_stores_with_workers(
            &dir.path().join("state"),
            &channel(),
            Stores {
                far: &mut *far,
                near: &mut *near,
            },
            Some(&workers),
            None,
            &RunOptions::default(),
        )
        .unwrap();
        assert_eq!(result.errors, Vec::<String>::new());
        let synced: Vec<&str> = result.folders.iter().map(|f| f.folder.as_str()).collect();
        let expected: Vec<String> = (0..9).map(|f| format!("F{f:02}")).collect();
        assert_eq!(synced, expected);
        for folder in &expected {
            let files = std::fs::read_dir(root.join(folder).join("cur"))
                .unwrap()
                .count();
            assert_eq!(files, 30, "{folder}");
        }
        let folders = FolderList::for_channel(&dir.path().join("state"), "test");
        assert_eq!(folders.load().unwrap().len(), 9);
    }

    #[test]
    fn server_folder_names_that_escape_the_maildir_are_refused_and_the_rest_syncs() {
        let data = Arc::new(Mutex::new(MemoryData::default()));
        let mut far = MemoryStore::new(data);
        for folder in ["INBOX", "../escape", "Work/../../x", "Work/cur", "Work"] {
            far.create_folder(folder).unwrap();
            far.open_folder(folder).unwrap();
            let ticket = far.prepare_append().unwrap();
            let message = Message {
                flags: crate::mail::Flags::EMPTY,
                date: None,
                content: format!("Subject: {folder}\r\n\r\nbody\r\n").into_bytes(),
            };
            far.append(&ticket, &message).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mail");
        let mut near = MaildirStore::new(root.clone(), crate::config::Layout::Verbatim);
        let result = sync_stores(
            &dir.path().join("state"),
            &channel(),
            &mut far,
            &mut near,
            None,
            &RunOptions::default(),
        )
        .unwrap();

        let synced: Vec<&str> = result.folders.iter().map(|f| f.folder.as_str()).collect();
        assert_eq!(synced, vec!["INBOX", "Work"]);
        assert_eq!(result.errors.len(), 3, "{:?}", result.errors);
        for bad in ["../escape", "Work/../../x", "Work/cur"] {
            assert!(
                result
                    .errors
                    .iter()
                    .any(|e| e.contains(&format!("{bad:?}"))),
                "no error names {bad}: {:?}",
                result.errors
            );
        }
        // Nothing was written beside the Maildir root.
        let beside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(beside.len(), 2, "{beside:?}");
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn folder_map_pairs_differently_named_folders() {
        let data = Arc::new(Mutex::new(MemoryData::default()));
        let mut far = MemoryStore::new(data.clone());
        far.create_folder("[Gmail]/Sent Mail").unwrap();
        far.open_folder("[Gmail]/Sent Mail").unwrap();
        let ticket = far.prepare_append().unwrap();
        let message = Message {
            flags: crate::mail::Flags::SEEN,
            date: None,
            content: b"Subject: sent\r\n\r\nbody\r\n".to_vec(),
        };
        far.append(&ticket, &message).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut near = MaildirStore::new(dir.path().join("mail"), crate::config::Layout::Verbatim);
        let mut channel = channel();
        channel
            .folder_map
            .insert("[Gmail]/Sent Mail".into(), "Sent".into());
        let state = dir.path().join("state");
        let first = sync_stores(
            &state,
            &channel,
            &mut far,
            &mut near,
            None,
            &RunOptions::default(),
        )
        .unwrap();
        assert_eq!(first.errors, Vec::<String>::new());
        let synced: Vec<&str> = first.folders.iter().map(|f| f.folder.as_str()).collect();
        assert_eq!(synced, vec!["Sent"]);
        assert!(dir.path().join("mail/Sent/cur").is_dir());
        assert!(!dir.path().join("mail/[Gmail]").exists());
        // A message filed locally in Sent reaches the server's folder.
        near.open_folder("Sent").unwrap();
        let ticket = near.prepare_append().unwrap();
        near.append(
            &ticket,
            &Message {
                flags: crate::mail::Flags::SEEN,
                date: None,
                content: b"Subject: local\r\n\r\nbody\r\n".to_vec(),
            },
        )
        .unwrap();
        sync_stores(
            &state,
            &channel,
            &mut far,
            &mut near,
            None,
            &RunOptions::default(),
        )
        .unwrap();
        let data = data.lock().unwrap();
        assert_eq!(data.folders["[Gmail]/Sent Mail"].messages.len(), 2);
        assert!(!data.folders.contains_key("Sent"));
    }
}
