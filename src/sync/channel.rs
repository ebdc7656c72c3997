//! One channel: lock it, open both stores, choose and create folders, and
//! sync each folder pair; a failing folder does not stop the others.

use super::exec::Stores;
use super::folder::{sync_folder, FolderResult, RunOptions};
use super::patterns::selects;
use super::plan::Policy;
use crate::config::{ChannelConfig, Config, Direction, StoreConfig};
use crate::state::ChannelLock;
use crate::state::{state_path, StateFile};
use crate::state::{Pair, Side};
use crate::store::{self, Store};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

/// What happened to a channel.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelResult {
    pub channel: String,
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
        ..Policy::default()
    }
}

/// Syncs a channel, or only `only_folder` of it.
pub fn sync_channel(
    config: &Config,
    channel: &ChannelConfig,
    only_folder: Option<&str>,
    options: &RunOptions,
) -> Result<ChannelResult> {
    let _lock = ChannelLock::acquire(&config.state_dir, &channel.name, options.wait_for_lock)?;
    let mut far = store::open(config, &channel.far)?;
    let mut near = store::open(config, &channel.near)?;
    let mut result = sync_stores(
        &config.state_dir,
        channel,
        &mut *far,
        &mut *near,
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

/// Syncs a channel between two open stores; the caller holds the lock.
pub fn sync_stores(
    state_dir: &Path,
    channel: &ChannelConfig,
    far: &mut dyn Store,
    near: &mut dyn Store,
    only_folder: Option<&str>,
    options: &RunOptions,
) -> Result<ChannelResult> {
    let mut result = ChannelResult {
        channel: channel.name.clone(),
        folders: Vec::new(),
        errors: Vec::new(),
    };

    let listed = Pair::new(folder_names(far)?, folder_names(near)?);
    let mut wanted: BTreeSet<&String> = listed[Side::Far].union(&listed[Side::Near]).collect();
    wanted.retain(|name| selects(&channel.folders, name));
    if far.source_only() {
        // A source-only store (POP3: INBOX alone) gets no folders created.
        wanted.retain(|name| listed[Side::Far].contains(*name));
    }
    if let Some(only) = only_folder {
        wanted.retain(|name| name.as_str() == only);
        if wanted.is_empty() {
            anyhow::bail!(
                "folder {only} is not on either side of channel {} (or not selected by its folders patterns)",
                channel.name
            );
        }
    }

    let policy = policy_for(channel, &*far);
    let mut stores = Stores { far, near };
    for name in wanted {
        let outcome =
            prepare_folder(channel, name, &listed, &mut stores, options).and_then(|ready| {
                if !ready {
                    return Ok(None);
                }
                let state_file = StateFile::new(state_path(state_dir, &channel.name, name));
                sync_folder(&mut stores, name, &state_file, &policy, options).map(Some)
            });
        match outcome {
            Ok(Some(folder)) => result.folders.push(folder),
            Ok(None) => {}
            Err(err) => result
                .errors
                .push(format!("{}: folder {name}: {err:#}", channel.name)),
        }
    }
    Ok(result)
}

fn folder_names(store: &mut dyn Store) -> Result<BTreeSet<String>> {
    let description = store.describe();
    Ok(store
        .list_folders()
        .with_context(|| format!("listing folders of {description}"))?
        .into_iter()
        .map(|f| f.name)
        .collect())
}

/// Creates the folder where it is missing, as the create policy allows.
/// Returns whether the folder pair can be synced now.
fn prepare_folder(
    channel: &ChannelConfig,
    name: &str,
    listed: &Pair<BTreeSet<String>>,
    stores: &mut Stores<'_>,
    options: &RunOptions,
) -> Result<bool> {
    for side in Side::BOTH {
        if listed[side].contains(name) {
            continue;
        }
        let allowed = match side {
            Side::Far => channel.create.far(),
            Side::Near => channel.create.near(),
        };
        if !allowed {
            anyhow::bail!(
                "exists only on the {} side and `create` does not allow creating it on the {side} side",
                side.other()
            );
        }
        if options.dry_run {
            // Nothing to list on a side that does not exist yet; a dry run
            // shows the folder as to be created and skips its messages.
            return Ok(false);
        }
        stores
            .side(side)
            .create_folder(name)
            .with_context(|| format!("creating it on the {side} side"))?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Direction, Sides};
    use crate::store::maildir::MaildirStore;
    use crate::store::memory::{MemoryData, MemoryStore};
    use crate::store::Message;
    use std::sync::{Arc, Mutex};

    fn channel() -> ChannelConfig {
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
        }
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
                flags: crate::flags::Flags::EMPTY,
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
}
