//! An in-memory store with IMAP-like UIDs, for tests of the planner and the
//! executor without a server. It can be told to fail after a number of
//! operations, to prove that an interrupted sync resumes cleanly. It never
//! replaces the tests against a real Dovecot.

use super::{FolderInfo, FolderVersions, Store, Trash, TrashUploads, Trashed};
use crate::mail::{sha256_hex, Flags, FolderStatus, Message, MessageInfo, MsgId};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One folder: UIDs ascending, as IMAP gives them.
#[derive(Debug, Clone, Default)]
pub struct MemoryFolder {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub messages: BTreeMap<u32, Message>,
}

/// The shared contents of a memory "server"; several [`MemoryStore`]
/// handles (one per simulated client) can point at one.
#[derive(Debug, Default)]
pub struct MemoryData {
    pub folders: BTreeMap<String, MemoryFolder>,
    /// Appends received but not yet stored, by folder (see
    /// [`MemoryStore::hold_appends`]).
    pub held: BTreeMap<String, Vec<Message>>,
}

impl MemoryData {
    /// Stores every held append, as a server finishing what a dead
    /// session sent; returns how many.
    pub fn land_held(&mut self) -> usize {
        let mut landed = 0;
        for (name, messages) in std::mem::take(&mut self.held) {
            if let Some(folder) = self.folders.get_mut(&name) {
                for message in messages {
                    folder.messages.insert(folder.uidnext, message);
                    folder.uidnext += 1;
                    landed += 1;
                }
            }
        }
        landed
    }
}

/// A handle on a memory server, like one IMAP connection.
pub struct MemoryStore {
    data: Arc<Mutex<MemoryData>>,
    open: Option<String>,
    /// Whether appends report the new UID (like UIDPLUS).
    pub uidplus: bool,
    /// Whether messages move into a trash folder in one step (like MOVE);
    /// otherwise they are copied there and removed after.
    pub moves: bool,
    /// Whether creating a folder creates its missing parents too, as
    /// Cyrus does.
    pub creates_parents: bool,
    /// Operations that change data still allowed before every call fails,
    /// as if the connection dropped. `None`: no limit.
    pub fail_after: Option<usize>,
    /// Like `fail_after`, but the operation is carried out before the
    /// error: the server acted and the reply was lost.
    pub lose_reply_after: Option<usize>,
    /// Appends may be stored late ([`Store::appends_may_land_late`]), as
    /// on a server.
    pub late_appends: bool,
    /// Appends are received but held back and the reply is lost, as when
    /// the client dies while the server commits; [`MemoryData::land_held`]
    /// stores them.
    pub hold_appends: bool,
}

impl MemoryStore {
    pub fn new(data: Arc<Mutex<MemoryData>>) -> MemoryStore {
        MemoryStore {
            data,
            open: None,
            uidplus: true,
            moves: true,
            creates_parents: false,
            fail_after: None,
            lose_reply_after: None,
            late_appends: false,
            hold_appends: false,
        }
    }

    /// Counts one changing operation against `fail_after`.
    fn spend(&mut self) -> Result<()> {
        match &mut self.fail_after {
            Some(0) => bail!("simulated connection drop"),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts one changing operation, after it was done, against
    /// `lose_reply_after`.
    fn reply(&mut self) -> Result<()> {
        match &mut self.lose_reply_after {
            Some(0) => bail!("simulated connection drop after the server acted"),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn with_folder<T>(&self, f: impl FnOnce(&mut MemoryFolder) -> Result<T>) -> Result<T> {
        let name = self.open.as_ref().context("no folder open")?;
        let mut data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        let folder = data
            .folders
            .get_mut(name)
            .with_context(|| format!("folder {name} vanished"))?;
        f(folder)
    }
}

fn parse_uid(id: &str) -> Result<u32> {
    id.parse().with_context(|| format!("bad UID {id:?}"))
}

impl Store for MemoryStore {
    fn describe(&self) -> String {
        "memory".to_string()
    }

    fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        let data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        Ok(data
            .folders
            .keys()
            .map(|name| FolderInfo::new(name.clone()))
            .collect())
    }

    fn create_folder(&mut self, name: &str) -> Result<()> {
        self.spend()?;
        let mut data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        let mut names = vec![name.to_string()];
        if self.creates_parents {
            names.extend(
                name.match_indices('/')
                    .map(|(at, _)| name[..at].to_string()),
            );
        }
        for name in names {
            data.folders.entry(name).or_insert_with(|| MemoryFolder {
                uidvalidity: 1,
                uidnext: 1,
                messages: BTreeMap::new(),
            });
        }
        Ok(())
    }

    fn delete_folder(&mut self, name: &str) -> Result<()> {
        self.spend()?;
        let mut data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        data.folders.remove(name);
        Ok(())
    }

    fn rename_folder(&mut self, from: &str, to: &str) -> Result<()> {
        self.spend()?;
        let mut data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        let prefix = format!("{from}/");
        let moving: Vec<String> = data
            .folders
            .keys()
            .filter(|name| *name == from || name.starts_with(&prefix))
            .cloned()
            .collect();
        if moving.is_empty() {
            bail!("no folder {from}");
        }
        for old in moving {
            if let Some(folder) = data.folders.remove(&old) {
                let new = format!("{to}{}", &old[from.len()..]);
                data.folders.insert(new, folder);
            }
        }
        Ok(())
    }

    fn open_folder(&mut self, name: &str) -> Result<FolderStatus> {
        let data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        let folder = data
            .folders
            .get(name)
            .with_context(|| format!("no folder {name}"))?;
        let status = FolderStatus {
            uidvalidity: Some(folder.uidvalidity),
            uidnext: Some(folder.uidnext),
            highest_modseq: None,
            exists: folder.messages.len() as u32,
        };
        drop(data);
        self.open = Some(name.to_string());
        Ok(status)
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>> {
        self.with_folder(|folder| {
            Ok(folder
                .messages
                .iter()
                .map(|(uid, m)| MessageInfo {
                    id: uid.to_string(),
                    flags: m.flags,
                    size: m.content.len() as u64,
                })
                .collect())
        })
    }

    fn fetch_messages(
        &mut self,
        ids: &[MsgId],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        for id in ids {
            let uid = parse_uid(id)?;
            let found = self.with_folder(|folder| Ok(folder.messages.get(&uid).cloned()))?;
            if let Some(message) = found {
                sink(id, message)?;
            }
        }
        Ok(())
    }

    fn prepare_append(&mut self) -> Result<String> {
        self.with_folder(|folder| Ok(folder.uidnext.to_string()))
    }

    fn append(&mut self, _ticket: &str, message: &Message) -> Result<Option<MsgId>> {
        self.spend()?;
        if self.hold_appends {
            let name = self.open.clone().context("no folder open")?;
            let mut data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
            data.held.entry(name).or_default().push(message.clone());
            bail!("simulated connection drop while the server stores the message");
        }
        let uid = self.with_folder(|folder| {
            let uid = folder.uidnext;
            folder.uidnext += 1;
            folder.messages.insert(uid, message.clone());
            Ok(uid)
        })?;
        self.reply()?;
        Ok(self.uidplus.then(|| uid.to_string()))
    }

    fn find_appended(&mut self, ticket: &str, size: u64, sha256: &str) -> Result<Vec<MsgId>> {
        let since = parse_uid(ticket)?;
        self.with_folder(|folder| {
            Ok(folder
                .messages
                .range(since..)
                .filter(|(_, m)| m.content.len() as u64 == size && sha256_hex(&m.content) == sha256)
                .map(|(uid, _)| uid.to_string())
                .collect())
        })
    }

    fn appends_may_land_late(&self) -> bool {
        self.late_appends
    }

    fn stored_since(&self, ticket: &str, id: &str) -> bool {
        match (parse_uid(ticket), parse_uid(id)) {
            (Ok(first), Ok(uid)) => uid >= first,
            _ => true,
        }
    }

    fn set_flags(&mut self, id: &MsgId, add: Flags, remove: Flags) -> Result<()> {
        self.spend()?;
        let uid = parse_uid(id)?;
        self.with_folder(|folder| {
            if let Some(message) = folder.messages.get_mut(&uid) {
                message.flags = message.flags.union(add).difference(remove);
            }
            Ok(())
        })?;
        self.reply()
    }

    fn arrived_before(
        &mut self,
        day: chrono::NaiveDate,
        _listing: &[MessageInfo],
    ) -> Result<Option<std::collections::HashSet<MsgId>>> {
        let start = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
        self.with_folder(|folder| {
            Ok(Some(
                folder
                    .messages
                    .iter()
                    .filter(|(_, m)| m.date.is_some_and(|date| date < start))
                    .map(|(uid, _)| uid.to_string())
                    .collect(),
            ))
        })
    }

    fn delete_messages(&mut self, ids: &[MsgId]) -> Result<()> {
        self.spend()?;
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        self.with_folder(|folder| {
            for uid in uids {
                folder.messages.remove(&uid);
            }
            Ok(())
        })?;
        self.reply()
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

impl Trash for MemoryStore {
    fn prepare_trash(&mut self, trash: &str) -> Result<Option<String>> {
        self.create_folder(trash)?;
        if self.moves {
            return Ok(None);
        }
        let data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        let folder = data.folders.get(trash).context("trash folder vanished")?;
        Ok(Some(folder.uidnext.to_string()))
    }

    fn trash_messages(&mut self, ids: &[MsgId], trash: &str) -> Result<Trashed> {
        self.spend()?;
        let uids = ids
            .iter()
            .map(|id| parse_uid(id))
            .collect::<Result<Vec<_>>>()?;
        let name = self.open.clone().context("no folder open")?;
        let moves = self.moves;
        {
            let mut data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
            let mut taken = Vec::new();
            let source = data.folders.get_mut(&name).context("folder vanished")?;
            for uid in uids {
                let message = if moves {
                    source.messages.remove(&uid)
                } else {
                    source.messages.get(&uid).cloned()
                };
                taken.extend(message);
            }
            let target = data
                .folders
                .get_mut(trash)
                .context("trash folder vanished")?;
            for message in taken {
                target.messages.insert(target.uidnext, message);
                target.uidnext += 1;
            }
        }
        self.reply()?;
        Ok(if moves {
            Trashed::Moved
        } else {
            Trashed::Copied
        })
    }

    fn find_trashed(&mut self, trash: &str, ticket: &str, size: u64, sha256: &str) -> Result<bool> {
        let since = parse_uid(ticket)?;
        let data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        let folder = data.folders.get(trash).context("trash folder vanished")?;
        Ok(folder
            .messages
            .range(since..)
            .any(|(_, m)| m.content.len() as u64 == size && sha256_hex(&m.content) == sha256))
    }
}

impl TrashUploads for MemoryStore {
    fn prepare_trash_upload(&mut self, trash: &str) -> Result<String> {
        self.create_folder(trash)?;
        let data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        let folder = data.folders.get(trash).context("trash folder vanished")?;
        Ok(folder.uidnext.to_string())
    }

    fn append_to_trash(&mut self, trash: &str, message: &Message) -> Result<()> {
        self.spend()?;
        {
            let mut data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
            let folder = data
                .folders
                .get_mut(trash)
                .context("trash folder vanished")?;
            folder.messages.insert(folder.uidnext, message.clone());
            folder.uidnext += 1;
        }
        self.reply()
    }
}

impl FolderVersions for MemoryStore {
    /// The folder's UIDVALIDITY, UIDNEXT and every UID with its flags: as
    /// exact as a version can be, which suits tests.
    fn folder_version(&mut self, name: &str) -> Result<Option<String>> {
        let data = self.data.lock().map_err(|_| anyhow!("poisoned"))?;
        Ok(data.folders.get(name).map(|folder| {
            let mut version = format!("{}.{}", folder.uidvalidity, folder.uidnext);
            for (uid, message) in &folder.messages {
                version.push_str(&format!(" {uid}:{}", message.flags.to_maildir_letters()));
            }
            version
        }))
    }

    fn nothing_added_between(&self, _before: &str, _now: &str) -> bool {
        false
    }

    fn open_folder_as_listed(
        &mut self,
        _name: &str,
        _listing: &[MessageInfo],
    ) -> Result<Option<FolderStatus>> {
        Ok(None)
    }
}
