//! The Maildir store: a local tree of maildirs, in the Verbatim layout
//! (`Work/Projects/cur`), the Maildir++ layout (`.Work.Projects/cur`) or
//! the flatten layout (`Work.Projects/cur`), its INBOX possibly at a path of
//! its own (see [`tree`]), seen through the [`Store`] trait.
//!
//! A message's id is its unique name, the file name up to the first `:`.
//! Mail readers rename files to change flags (`cur/x:2,S`) or move them from
//! `new/` to `cur/`; the unique name survives both, so the store finds a
//! message again by rescanning when its cached path has gone.
//!
//! Safety: every folder path comes from [`MaildirTree::locate`], so no name
//! can reach outside the root, and no write goes through a symbolic
//! link inside the root. Files are never overwritten, and files the store
//! cannot make sense of (non-UTF-8 names, two files with one unique name)
//! are reported as warnings and left alone, never deleted.

mod file_index;
mod tree;
mod version;

use file_index::FileIndex;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use tree::FolderDir;
pub use tree::MaildirTree;

use super::{
    folder_name, CommitOutcome, CommitWork, FolderInfo, FolderVersions, Staged, Staging, Store,
    Trash, Trashed,
};
use crate::config::{Layout, LineEndings, MaildirConfig};
use crate::mail::{Flags, FolderStatus, Message, MessageInfo, MsgId};
use crate::store::error::LocalIo;
use anyhow::{anyhow, bail, Context, Result};
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The three directories that make a directory a maildir.
const MAILDIR_SUBDIRS: [&str; 3] = ["cur", "new", "tmp"];

/// Mail is private: a Maildir root mailferry creates, and the directories
/// and message files in it, are the owner's alone.
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// The modes of new directories and message files under `root`. A root the
/// user made group-readable (say 0750, for a mail group or a backup user)
/// is honoured: what mailferry adds inside can be read (and directories
/// searched) by the group too, never written by it, and never reached by
/// others whatever the root allows. A missing or private root gives
/// [`DIR_MODE`] and [`FILE_MODE`].
fn modes_under(root: &Path) -> (u32, u32) {
    use std::os::unix::fs::PermissionsExt;
    let root_mode = fs::metadata(root)
        .map(|m| m.permissions().mode())
        .unwrap_or(DIR_MODE);
    (
        DIR_MODE | (root_mode & 0o050),
        FILE_MODE | (root_mode & 0o040),
    )
}

/// This process's id, asked of the system once (a system call per new
/// message otherwise).
fn process_id() -> u32 {
    static ID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *ID.get_or_init(std::process::id)
}

/// Numbers the tickets of this process. It is process-wide, not per store,
/// so two stores appending in parallel never make the same unique name.
static TICKET_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How often an operation looks for a message again when a mail reader
/// renames its file under our feet.
const RENAME_RACE_ATTEMPTS: usize = 3;

/// The directory of a maildir a message file lives in. `Cur` sorts first:
/// when one unique name appears twice, the copy in `cur/` is the one kept,
/// since a mail reader moves a message there once it has seen it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Subdir {
    Cur,
    New,
}

impl Subdir {
    fn dir_name(self) -> &'static str {
        match self {
            Subdir::Cur => "cur",
            Subdir::New => "new",
        }
    }
}

/// One message file as found on disk, relative to its folder's directory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MessageFile {
    subdir: Subdir,
    file_name: String,
}

impl MessageFile {
    fn path(&self, folder_dir: &Path) -> PathBuf {
        folder_dir
            .join(self.subdir.dir_name())
            .join(&self.file_name)
    }

    /// The message's id: the file name up to the first `:`.
    fn unique_name(&self) -> &str {
        unique_name_of(&self.file_name)
    }

    /// The synchronised flags, and the other info letters (keywords) that a
    /// rename must keep. Files in `new/` normally carry no info, but some
    /// tools (mbsync) file unread flagged mail as `new/x:2,F`: the letters
    /// count wherever they are.
    fn flags(&self) -> (Flags, String) {
        let info = self
            .file_name
            .split_once(':')
            .and_then(|(_, info)| info.strip_prefix("2,"));
        match info {
            Some(letters) => Flags::from_maildir_letters(letters),
            None => (Flags::EMPTY, String::new()),
        }
    }

    /// Where this message goes with the given flags and kept letters.
    fn with_flags(unique_name: &str, flags: Flags, kept_letters: &str) -> MessageFile {
        let mut letters: Vec<char> = flags
            .to_maildir_letters()
            .chars()
            .chain(kept_letters.chars())
            .collect();
        // The Maildir spec wants info letters in ASCII order, each once.
        letters.sort_unstable();
        letters.dedup();
        MessageFile {
            subdir: Subdir::Cur,
            file_name: format!("{unique_name}:2,{}", String::from_iter(letters)),
        }
    }
}

/// Where mailferry puts a message with these flags: unflagged mail in new/
/// under its unique name, the rest in cur/ with its letters.
fn likely_file(unique_name: &str, flags: Flags) -> MessageFile {
    if flags.is_empty() {
        MessageFile {
            subdir: Subdir::New,
            file_name: unique_name.to_owned(),
        }
    } else {
        MessageFile::with_flags(unique_name, flags, "")
    }
}

fn unique_name_of(file_name: &str) -> &str {
    file_name
        .split_once(':')
        .map_or(file_name, |(unique, _)| unique)
}

/// The size a unique name announces in its `,S=<bytes>` field (Dovecot and
/// others write it so readers need not stat the file).
/// The unique name of a message mailferry stores: its ticket and, as
/// Dovecot and mbsync do, its size (`,S=`), so that listing a folder needs
/// no file's metadata.
fn unique_name_for(ticket: &str, size: u64) -> String {
    format!("{ticket},S={size}")
}

fn size_from_unique_name(unique_name: &str) -> Option<u64> {
    unique_name
        .split(',')
        .skip(1)
        .find_map(|field| field.strip_prefix("S=")?.parse().ok())
}

/// The folder the message operations act on, and what we last saw in it.
struct OpenFolder {
    name: String,
    /// Relative to `base` (the root or the configured inbox); every level
    /// is checked for symlinks before a write.
    base: PathBuf,
    relative: PathBuf,
    dir: PathBuf,
    /// Where each message was last seen; a hint, checked before use.
    messages: FileIndex,
    /// The names in `messages` were guessed from a listing the caller gave
    /// (see `open_folder_as_listed`), not read from the directories.
    guessed: bool,
    /// The mode of new message files, once a write found no level of the
    /// folder a symbolic link (see `writable_folder`).
    checked_for_writes: Cell<Option<u32>>,
}

/// What a store holds between calls besides the open folder; boxed, as it
/// is seldom used and a store is moved around by value.
#[derive(Default)]
struct Held {
    /// Messages written to tmp/ by `stage_append`, waiting for
    /// `begin_commit`.
    staged: Vec<StagedFile>,
    /// Messages whose batch is being committed, by ticket: where each goes
    /// into the open folder's index once `commit_done` says it arrived.
    committing: HashMap<String, (PathBuf, MessageFile)>,
    /// The listing `open_folder` made, for the `list_messages` that
    /// follows, while new/ and cur/ keep the modification times they had
    /// (see [`DirTimes`]).
    scanned: Option<(Vec<MessageInfo>, DirTimes)>,
}

/// The modification times of a maildir's new/ and cur/. Any file created,
/// renamed or removed in them changes these, so while they are unchanged a
/// listing of them still holds. Times are only trusted when they lie well
/// before the listing began: the kernel stamps them with a clock that may
/// lag by a tick, so a change made just after a listing could otherwise
/// carry the same time as one made just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirTimes([SystemTime; 2]);

/// How far before a listing the directories' times must lie to be trusted.
const DIR_TIME_MARGIN: Duration = Duration::from_millis(50);

impl DirTimes {
    fn read(dir: &Path) -> Option<DirTimes> {
        let time = |sub: &str| fs::metadata(dir.join(sub)).and_then(|m| m.modified()).ok();
        Some(DirTimes([time("new")?, time("cur")?]))
    }

    /// The times, if both lie before `listing_began` by the margin.
    fn settled_before(dir: &Path, listing_began: SystemTime) -> Option<DirTimes> {
        let limit = listing_began.checked_sub(DIR_TIME_MARGIN)?;
        DirTimes::read(dir).filter(|times| times.0.iter().all(|t| *t < limit))
    }
}

/// A message written to tmp/ and not yet moved into place.
struct StagedFile {
    ticket: String,
    /// The message's unique name: the ticket and its size.
    unique: String,
    folder_dir: PathBuf,
    tmp_path: PathBuf,
    target: MessageFile,
}

/// A tree of maildirs under one root directory.
pub struct MaildirStore {
    /// Shared with the stores `detach_open` makes, and small to move.
    tree: std::sync::Arc<MaildirTree>,
    fsync: bool,
    held: Box<Held>,
    /// Part of every unique name we make, made safe for a file name.
    hostname: String,
    open: Option<OpenFolder>,
    warnings: Vec<String>,
}

impl MaildirStore {
    /// A store rooted at `root`, its INBOX where the layout puts it.
    /// Nothing is read or created until used.
    pub fn new(root: PathBuf, layout: Layout) -> MaildirStore {
        MaildirStore::in_tree(MaildirTree::new(root, layout))
    }

    /// The store a configuration describes.
    pub fn from_config(config: &MaildirConfig) -> MaildirStore {
        MaildirStore::in_tree(MaildirTree::of(config))
    }

    pub fn in_tree(tree: MaildirTree) -> MaildirStore {
        MaildirStore {
            tree: std::sync::Arc::new(tree),
            fsync: true,
            held: Box::default(),
            hostname: unique_name_hostname(),
            open: None,
            warnings: Vec::new(),
        }
    }

    /// Whether appended messages are flushed to disk before they appear in
    /// `new/` or `cur/`. On by default; tests turn it off for speed.
    pub fn set_fsync(&mut self, on: bool) {
        self.fsync = on;
    }

    /// Writes a new message to tmp/ under its ticket, after checking that
    /// no message of that name exists; `fsync` flushes it at once.
    fn write_tmp(&mut self, ticket: &str, message: &Message, fsync: bool) -> Result<StagedFile> {
        check_ticket(ticket)?;
        // Written with the store's line ends, piece by piece (no copy of a
        // big message); `,S=` is the file's size.
        let size = self
            .held_pieces(&message.content)
            .map(<[u8]>::len)
            .sum::<usize>();
        let unique = unique_name_for(ticket, size as u64);
        let folder = self.writable_folder()?;
        let target = likely_file(&unique, message.flags);
        let target_path = target.path(&folder.dir);
        let already_there =
            folder.messages.contains(&unique) || fs::symlink_metadata(&target_path).is_ok();
        if already_there {
            bail!(
                "cannot store a message as {} in folder {:?}: a message with that name already \
                 exists, and mailferry never overwrites one",
                target_path.display(),
                folder.name
            );
        }
        let tmp_path = folder.dir.join("tmp").join(&unique);
        let file_mode = folder
            .checked_for_writes
            .get()
            .unwrap_or_else(|| modes_under(self.tree.root()).1);
        let content = self.held_pieces(&message.content);
        match write_new_file(&tmp_path, content, message.date, fsync, file_mode) {
            Ok(()) => Ok(StagedFile {
                ticket: ticket.to_owned(),
                unique,
                folder_dir: folder.dir.clone(),
                tmp_path,
                target,
            }),
            Err(error) => {
                // Best effort: a partial file in tmp/ is garbage either way.
                let _ = fs::remove_file(&tmp_path);
                Err(error).local_io(|| {
                    format!(
                        "cannot write {} in folder {:?}",
                        tmp_path.display(),
                        folder.name
                    )
                })
            }
        }
    }

    /// `content` as this store holds it (see `held_form`), as the pieces
    /// that make it.
    fn held_pieces<'a>(&self, content: &'a [u8]) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
        match self.tree.line_endings() {
            LineEndings::Lf => Box::new(crate::mail::lf_pieces(content)),
            LineEndings::Crlf => Box::new(std::iter::once(content)),
        }
    }

    /// Messages staged and never committed belong to an attempt that
    /// failed; their pending entries make the next sync look for them (and
    /// remove their tmp/ files).
    fn forget_staged(&mut self) {
        self.held.staged.clear();
        self.held.committing.clear();
    }

    /// Records a warning once: rescans would otherwise repeat the same one.
    fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn folder(&self) -> Result<&OpenFolder> {
        self.open
            .as_ref()
            .ok_or_else(|| anyhow!("no folder is open in {}", self.describe()))
    }

    fn folder_mut(&mut self) -> Result<&mut OpenFolder> {
        let description = self.describe();
        self.open
            .as_mut()
            .ok_or_else(|| anyhow!("no folder is open in {description}"))
    }

    /// The open folder, after checking that no level of it is a symbolic
    /// link that a write could follow out of the root. Checked at the
    /// first write after the folder was opened, not at every one: the
    /// check guards against a tree that holds links, and a first pull
    /// would otherwise spend five file lookups on each message. Message
    /// files themselves are created with `O_NOFOLLOW` (see
    /// `write_new_file`).
    fn writable_folder(&self) -> Result<&OpenFolder> {
        let folder = self.folder()?;
        if folder.checked_for_writes.get().is_some() {
            return Ok(folder);
        }
        let mut path = folder.base.clone();
        for component in folder.relative.components() {
            path.push(component);
            refuse_symlink(&path, &folder.name)?;
        }
        for subdir in MAILDIR_SUBDIRS {
            refuse_symlink(&path.join(subdir), &folder.name)?;
        }
        let file_mode = modes_under(self.tree.root()).1;
        folder.checked_for_writes.set(Some(file_mode));
        Ok(folder)
    }

    /// The directory of folder `name`, after checking that no level of it
    /// is a symbolic link that a change could follow out of the root.
    fn checked_folder_path(&self, name: &str) -> Result<PathBuf> {
        let located = self.tree.locate(name)?;
        let mut path = located.base;
        for component in located.relative.components() {
            path.push(component);
            refuse_symlink(&path, name)?;
        }
        Ok(path)
    }

    /// Reads the open folder's messages again, replacing the cache.
    fn rescan(&mut self) -> Result<Vec<MessageInfo>> {
        let folder = self.folder()?;
        let mut warnings = Vec::new();
        let listed = scan_folder(&folder.name, &folder.dir, &mut warnings)?;
        for warning in warnings {
            self.warn(warning);
        }
        let mut infos: Vec<MessageInfo> = listed
            .iter()
            .map(|(file, size)| MessageInfo {
                id: file.unique_name().to_owned(),
                flags: file.flags().0,
                size: *size,
            })
            .collect();
        self.folder_mut()?.messages = listed.into_iter().map(|(file, _)| file).collect();
        // One entry per unique name: no two compare equal.
        infos.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Ok(infos)
    }

    /// The message's file as it is now: the cached one if it is still
    /// there, else whatever `new/` and `cur/` hold under its unique name.
    /// With `trust_cache` the cached name is returned unchecked: for an
    /// operation that fails with "not found" on a stale name anyway.
    fn current_file(&mut self, id: &str, trust_cache: bool) -> Result<Option<MessageFile>> {
        let folder = self.folder()?;
        if let Some(file) = folder.messages.get(id) {
            if trust_cache || fs::symlink_metadata(file.path(&folder.dir)).is_ok() {
                return Ok(Some(file.clone()));
            }
        }
        if folder.guessed {
            // A guessed name was wrong. The usual reason is a message with
            // no flags that was read once (or flagged and unflagged): it
            // stays in cur/ as `<id>:2,`. Else (a keyword letter, say) one
            // listing puts every name right.
            if let Some(cached) = folder.messages.get(id) {
                let (flags, _) = cached.flags();
                for other in [
                    MessageFile::with_flags(id, flags, ""),
                    MessageFile {
                        subdir: Subdir::New,
                        file_name: id.to_owned(),
                    },
                ] {
                    if other != *cached && fs::symlink_metadata(other.path(&folder.dir)).is_ok() {
                        self.folder_mut()?.messages.insert(other.clone());
                        return Ok(Some(other));
                    }
                }
            }
            self.rescan()?;
            let folder = self.folder_mut()?;
            folder.guessed = false;
            return Ok(folder.messages.get(id).cloned());
        }
        let found = find_by_unique_name(&folder.dir, id)?;
        let folder = self.folder_mut()?;
        match &found {
            Some(file) => folder.messages.insert(file.clone()),
            None => folder.messages.remove(id),
        };
        Ok(found)
    }

    /// Runs `operation` on the message's current file, and again on its
    /// new file if a mail reader renamed it in between. `None` when the
    /// message is gone. The first try takes the name the last listing saw
    /// on trust: a stale one fails "not found" like a rename in between.
    fn on_current_file<T>(
        &mut self,
        id: &str,
        mut operation: impl FnMut(&Path, &MessageFile) -> io::Result<T>,
    ) -> Result<Option<T>> {
        for attempt in 0..RENAME_RACE_ATTEMPTS {
            let Some(file) = self.current_file(id, attempt == 0)? else {
                return Ok(None);
            };
            let folder = self.folder()?;
            match operation(&folder.dir, &file) {
                Err(error) if error.kind() == ErrorKind::NotFound => continue,
                outcome => {
                    return outcome.map(Some).local_io(|| {
                        format!(
                            "message {id} in folder {:?} ({})",
                            folder.name,
                            file.path(&folder.dir).display()
                        )
                    })
                }
            }
        }
        bail!(
            "message {id} in folder {:?} kept being renamed while mailferry worked on it \
             (a mail reader is busy with it?); try again",
            self.folder()?.name
        )
    }

    /// Renames a message's file to carry its new flags (the caller has
    /// checked the folder for symbolic links).
    fn rename_with_flags(&mut self, id: &MsgId, add: Flags, remove: Flags) -> Result<()> {
        let renamed = self.on_current_file(id, |dir, file| {
            let (flags, kept_letters) = file.flags();
            let target =
                MessageFile::with_flags(id, flags.union(add).difference(remove), &kept_letters);
            if target == *file {
                return Ok(target);
            }
            rename_without_replacing(&file.path(dir), &target.path(dir))?;
            Ok(target)
        })?;
        let folder = self.folder_mut()?;
        match renamed {
            Some(file) => {
                folder.messages.insert(file);
                Ok(())
            }
            None => bail!(
                "cannot set flags on message {id} in folder {:?}: it is no longer in {}",
                folder.name,
                folder.dir.display()
            ),
        }
    }
}

impl Store for MaildirStore {
    fn describe(&self) -> String {
        format!("maildir:{}", self.tree.root().display())
    }

    fn detach_open(&mut self) -> Option<Box<dyn Store>> {
        let open = self.open.take()?;
        Some(Box::new(MaildirStore {
            tree: self.tree.clone(),
            fsync: self.fsync,
            held: std::mem::take(&mut self.held),
            hostname: self.hostname.clone(),
            open: Some(open),
            warnings: std::mem::take(&mut self.warnings),
        }))
    }

    fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        let mut warnings = Vec::new();
        let names = self.tree.folder_names(&mut warnings)?;
        for warning in warnings {
            self.warn(warning);
        }
        Ok(names.into_iter().map(FolderInfo::new).collect())
    }

    fn delete_folder(&mut self, name: &str) -> Result<()> {
        if name == folder_name::INBOX {
            bail!("refusing to delete the INBOX of {}", self.describe());
        }
        let path = self.checked_folder_path(name)?;
        if self.open.as_ref().is_some_and(|f| f.name == name) {
            self.open = None;
        }
        for subdir in MAILDIR_SUBDIRS {
            let dir = path.join(subdir);
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(error).local_io(|| format!("cannot remove {}", dir.display()))
                }
            }
        }
        let marker = path.join("maildirfolder");
        if let Err(error) = fs::remove_file(&marker) {
            if error.kind() != ErrorKind::NotFound {
                return Err(error).local_io(|| format!("cannot remove {}", marker.display()));
            }
        }
        // In the verbatim layout the directory may still hold subfolders:
        // then it stays, as their parent.
        match fs::remove_dir(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
            Err(_) if path.is_dir() => Ok(()),
            Err(error) => Err(error).local_io(|| format!("cannot remove {}", path.display())),
        }
    }

    fn rename_folder(&mut self, from: &str, to: &str) -> Result<()> {
        if from == folder_name::INBOX || to == folder_name::INBOX {
            bail!("refusing to rename the INBOX of {}", self.describe());
        }
        self.open = None;
        let mut moves = vec![(from.to_string(), to.to_string())];
        if self.tree.layout() != Layout::Verbatim {
            // Maildir++ and flatten keep subfolders beside their parent
            // (.A.B next to .A): they move one by one, as a nested
            // directory would.
            let prefix = format!("{from}/");
            for folder in self.list_folders()? {
                if let Some(rest) = folder.name.strip_prefix(&prefix) {
                    moves.push((folder.name.clone(), format!("{to}/{rest}")));
                }
            }
        }
        for (old, new) in moves {
            let old_path = self.checked_folder_path(&old)?;
            let new_path = self.checked_folder_path(&new)?;
            if fs::symlink_metadata(&new_path).is_ok() {
                bail!(
                    "cannot rename folder {old:?} to {new:?}: {} already exists",
                    new_path.display()
                );
            }
            if let Some(parent) = new_path.parent() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(modes_under(self.tree.root()).0)
                    .create(parent)
                    .local_io(|| format!("cannot create {}", parent.display()))?;
            }
            fs::rename(&old_path, &new_path).local_io(|| {
                format!(
                    "cannot rename {} to {}",
                    old_path.display(),
                    new_path.display()
                )
            })?;
        }
        Ok(())
    }

    fn create_folder(&mut self, name: &str) -> Result<()> {
        let FolderDir { base, relative } = self.tree.locate(name)?;
        // The root, or a configured inbox: made as `mkdir -p` would.
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&base)
            .local_io(|| format!("cannot create Maildir directory {}", base.display()))?;
        let (dir_mode, file_mode) = modes_under(self.tree.root());
        let mut path = base;
        for component in relative.components() {
            path.push(component);
            create_real_dir(&path, name, dir_mode)?;
        }
        for subdir in MAILDIR_SUBDIRS {
            create_real_dir(&path.join(subdir), name, dir_mode)?;
        }
        if self.tree.layout() == Layout::MaildirPlusPlus && !relative.as_os_str().is_empty() {
            // Courier and Dovecot mark Maildir++ subfolders with this empty
            // file (their quota code looks for it).
            let marker = path.join("maildirfolder");
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(file_mode)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&marker)
                .local_io(|| format!("cannot create {}", marker.display()))?;
        }
        Ok(())
    }

    fn open_folder(&mut self, name: &str) -> Result<FolderStatus> {
        self.open = None;
        self.held.scanned = None;
        self.forget_staged();
        let FolderDir { base, relative } = self.tree.locate(name)?;
        let dir = base.join(&relative);
        if !is_maildir(&dir) {
            bail!(
                "folder {name:?} does not exist in {}: {} has no cur/, new/ and tmp/ directories",
                self.describe(),
                dir.display()
            );
        }
        self.open = Some(OpenFolder {
            name: name.to_owned(),
            base,
            relative,
            dir,
            messages: FileIndex::default(),
            guessed: false,
            checked_for_writes: Cell::new(None),
        });
        let began = SystemTime::now();
        let listed = self.rescan()?;
        let exists = u32::try_from(listed.len()).unwrap_or(u32::MAX);
        // Kept for the listing that follows, so a sync reads a folder once.
        self.held.scanned =
            DirTimes::settled_before(&self.folder()?.dir, began).map(|t| (listed, t));
        Ok(FolderStatus {
            uidvalidity: None,
            uidnext: None,
            highest_modseq: None,
            exists,
        })
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>> {
        let scanned = self.held.scanned.take();
        let dir = &self.folder()?.dir;
        if let Some((listed, times)) = scanned {
            if DirTimes::read(dir) == Some(times) {
                return Ok(listed);
            }
        }
        self.rescan()
    }

    fn fetch_messages(
        &mut self,
        ids: &[MsgId],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        for id in ids {
            let message = self.on_current_file(id, |dir, file| {
                let mut opened = File::open(file.path(dir))?;
                let date = opened.metadata()?.modified().ok().map(unix_seconds);
                let mut content = Vec::new();
                opened.read_to_end(&mut content)?;
                Ok(Message {
                    flags: file.flags().0,
                    date,
                    content,
                })
            })?;
            if let Some(message) = message {
                sink(id, message)?;
            }
        }
        Ok(())
    }

    fn prepare_append(&mut self) -> Result<String> {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is set before 1970; cannot name new messages")?;
        let counter = TICKET_COUNTER.fetch_add(1, Ordering::Relaxed);
        Ok(format!(
            "{}.M{}P{}Q{counter}.{}",
            since_epoch.as_secs(),
            since_epoch.subsec_micros(),
            process_id(),
            self.hostname
        ))
    }

    fn append(&mut self, ticket: &str, message: &Message) -> Result<Option<MsgId>> {
        let staged = self.write_tmp(ticket, message, self.fsync)?;
        let target = publish(&staged)?;
        if self.fsync {
            let folder = self.folder()?;
            sync_directory(&folder.dir.join(target.subdir.dir_name()))?;
        }
        self.folder_mut()?.messages.insert(target);
        Ok(Some(staged.unique))
    }

    /// Files are written with the configured line ends: LF by default (the
    /// server's CRLF turned into LF, as MDAs and mail readers write them),
    /// or as received with `line_endings: crlf`.
    fn held_form<'a>(&self, content: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        match self.tree.line_endings() {
            LineEndings::Lf => crate::mail::with_lf(content),
            LineEndings::Crlf => std::borrow::Cow::Borrowed(content),
        }
    }

    fn held_size_and_hash(&self, content: &[u8]) -> (u64, String) {
        crate::mail::size_and_sha256(self.held_pieces(content))
    }

    fn find_appended(&mut self, ticket: &str, size: u64, _sha256: &str) -> Result<Vec<MsgId>> {
        // The ticket and the size make the unique name, so no content check
        // is needed. The bare ticket is the name of earlier versions.
        check_ticket(ticket)?;
        let folder = self.writable_folder()?;
        let mut found = None;
        for unique in [unique_name_for(ticket, size), ticket.to_owned()] {
            let leftover = folder.dir.join("tmp").join(&unique);
            match fs::remove_file(&leftover) {
                Err(error) if error.kind() != ErrorKind::NotFound => {
                    return Err(error).local_io(|| {
                        format!("cannot remove the unfinished {}", leftover.display())
                    })
                }
                _ => {}
            }
            if found.is_none() {
                found = find_by_unique_name(&folder.dir, &unique)?.map(|file| (unique, file));
            }
        }
        match found {
            Some((unique, file)) => {
                self.folder_mut()?.messages.insert(file);
                Ok(vec![unique])
            }
            None => Ok(Vec::new()),
        }
    }

    fn set_flags(&mut self, id: &MsgId, add: Flags, remove: Flags) -> Result<()> {
        self.writable_folder()?;
        self.rename_with_flags(id, add, remove)
    }

    /// The folder is checked for symbolic links once for the whole batch.
    fn set_flags_many(&mut self, ids: &[MsgId], add: Flags, remove: Flags) -> Result<()> {
        self.writable_folder()?;
        for id in ids {
            self.rename_with_flags(id, add, remove)?;
        }
        Ok(())
    }

    fn delete_messages(&mut self, ids: &[MsgId]) -> Result<()> {
        self.writable_folder()?;
        for id in ids {
            // Gone already (None) is what we wanted.
            self.on_current_file(id, |dir, file| fs::remove_file(file.path(dir)))?;
            self.folder_mut()?.messages.remove(id);
        }
        Ok(())
    }

    fn arrived_before(
        &mut self,
        day: chrono::NaiveDate,
        listing: &[MessageInfo],
    ) -> Result<Option<std::collections::HashSet<MsgId>>> {
        // The file's mtime is the arrival time: mailferry sets it to the
        // INTERNALDATE when it writes a message, a delivery agent writes
        // the file when the message arrives, and a rename keeps it.
        let start = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
        let mut old = std::collections::HashSet::new();
        for message in listing {
            let modified = self.on_current_file(&message.id, |dir, file| {
                fs::symlink_metadata(file.path(dir)).and_then(|meta| meta.modified())
            })?;
            if modified.is_some_and(|time| unix_seconds(time) < start) {
                old.insert(message.id.clone());
            }
        }
        Ok(Some(old))
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn staging(&mut self) -> Option<&mut dyn Staging> {
        Some(self)
    }

    fn versions(&mut self) -> Option<&mut dyn FolderVersions> {
        Some(self)
    }

    fn trash(&mut self) -> Option<&mut dyn Trash> {
        Some(self)
    }
}

/// A message moves into the trash folder by one rename.
impl Trash for MaildirStore {
    fn prepare_trash(&mut self, trash: &str) -> Result<Option<String>> {
        self.create_folder(trash)?;
        // A rename: the file is in one folder or the other at every moment.
        Ok(None)
    }

    fn trash_messages(&mut self, ids: &[MsgId], trash: &str) -> Result<Trashed> {
        self.writable_folder()?;
        let trash_dir = self.checked_folder_path(trash)?;
        for subdir in MAILDIR_SUBDIRS {
            refuse_symlink(&trash_dir.join(subdir), trash)?;
        }
        if !is_maildir(&trash_dir) {
            bail!(
                "trash folder {trash:?} is not a Maildir: {} has no cur/, new/ and tmp/ directories",
                trash_dir.display()
            );
        }
        for id in ids {
            // Into the trash's cur/ under the same unique name, with its
            // flags but \Deleted: in the trash it is mail kept, not mail on
            // its way out. Gone already (None): nothing to move.
            self.on_current_file(id, |dir, file| {
                let (flags, kept_letters) = file.flags();
                let target =
                    MessageFile::with_flags(id, flags.difference(Flags::DELETED), &kept_letters);
                rename_without_replacing(&file.path(dir), &target.path(&trash_dir))
            })?;
            self.folder_mut()?.messages.remove(id);
        }
        Ok(Trashed::Moved)
    }

    fn find_trashed(
        &mut self,
        _trash: &str,
        _ticket: &str,
        _size: u64,
        _sha256: &str,
    ) -> Result<bool> {
        // A move issues no ticket (see `prepare_trash`): there is never a
        // copy to look for.
        Ok(false)
    }
}

/// Group commit: messages are written to tmp/ as they come, and a batch is
/// flushed to disk and moved into place at once.
impl Staging for MaildirStore {
    fn stage_append(&mut self, ticket: &str, message: &Message) -> Result<Staged> {
        let staged = self.write_tmp(ticket, message, false)?;
        self.held.staged.push(staged);
        Ok(Staged::Deferred)
    }

    /// Group commit: the work flushes every staged tmp/ file, renames each
    /// into place, then flushes the directories once. A crash before a
    /// rename leaves only a tmp/ file (removed by `find_appended`), after
    /// it a durable message that `find_appended` finds by its unique name.
    fn begin_commit(&mut self) -> Result<CommitWork> {
        let staged = std::mem::take(&mut self.held.staged);
        for file in &staged {
            let destination = (file.folder_dir.clone(), file.target.clone());
            self.held
                .committing
                .insert(file.ticket.clone(), destination);
        }
        let fsync = self.fsync;
        Ok(CommitWork::new(move || commit_files(&staged, fsync)))
    }

    fn commit_done(&mut self, outcome: &CommitOutcome) {
        let Ok(results) = outcome else {
            // Nothing known to have arrived: the pending entries tell the
            // next sync to look.
            return;
        };
        for (ticket, result) in results {
            let Some((folder_dir, target)) = self.held.committing.remove(ticket) else {
                continue;
            };
            match self.open.as_mut() {
                Some(open) if result.is_ok() && open.dir == folder_dir => {
                    open.messages.insert(target);
                }
                _ => {}
            }
        }
    }
}

/// Makes staged files durable, then moves them into place (see
/// [`MaildirStore::begin_commit`]): needs nothing of the store, so it runs
/// on whichever thread the caller chooses.
fn commit_files(staged: &[StagedFile], fsync: bool) -> CommitOutcome {
    if staged.is_empty() {
        return Ok(Vec::new());
    }
    let flushed = if fsync {
        crate::flush::flush_together(staged.iter().map(|file| file.tmp_path.as_path()))
    } else {
        staged.iter().map(|_| Ok(())).collect()
    };
    let mut results = Vec::with_capacity(staged.len());
    let mut touched: Vec<PathBuf> = Vec::new();
    for (file, flushed) in staged.iter().zip(flushed) {
        // Never move a file into place that is not known to be durable.
        let outcome = flushed.and_then(|()| publish(file));
        if let Ok(target) = &outcome {
            let dir = file.folder_dir.join(target.subdir.dir_name());
            if !touched.contains(&dir) {
                touched.push(dir);
            }
        }
        results.push((file.ticket.clone(), outcome.map(|_| file.unique.clone())));
    }
    if fsync {
        for dir in &touched {
            sync_directory(dir)?;
        }
    }
    Ok(results)
}

/// A folder's version is its directories' change times (see [`version`]).
impl FolderVersions for MaildirStore {
    fn folder_version(&mut self, name: &str) -> Result<Option<String>> {
        Ok(version::maildir_version(&self.tree.folder_dir(name)?))
    }

    fn nothing_added_between(&self, _before: &str, _now: &str) -> bool {
        // A version tells only that the directories changed.
        false
    }

    /// The files' names are guessed as mailferry writes them (unflagged
    /// mail in new/, the rest in cur/ with its letters): no directory is
    /// read unless a guess proves wrong.
    fn open_folder_as_listed(
        &mut self,
        name: &str,
        listing: &[MessageInfo],
    ) -> Result<Option<FolderStatus>> {
        self.open = None;
        self.held.scanned = None;
        self.forget_staged();
        let FolderDir { base, relative } = self.tree.locate(name)?;
        let dir = base.join(&relative);
        if !is_maildir(&dir) {
            return Ok(None);
        }
        let messages = listing
            .iter()
            .map(|message| likely_file(&message.id, message.flags))
            .collect();
        self.open = Some(OpenFolder {
            name: name.to_owned(),
            base,
            relative,
            dir,
            messages,
            guessed: true,
            checked_for_writes: Cell::new(None),
        });
        Ok(Some(FolderStatus {
            uidvalidity: None,
            uidnext: None,
            highest_modseq: None,
            exists: u32::try_from(listing.len()).unwrap_or(u32::MAX),
        }))
    }
}

/// Renames `from` to `to` unless `to` exists: mailferry never overwrites a
/// message (see [`crate::portable::rename_no_replace`] for how, per OS).
fn rename_without_replacing(from: &Path, to: &Path) -> io::Result<()> {
    crate::portable::rename_no_replace(from, to).map_err(|error| {
        if error.kind() != ErrorKind::AlreadyExists {
            return error;
        }
        io::Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "cannot rename to {}: it already exists, and mailferry never overwrites a message",
                to.display()
            ),
        )
    })
}

/// A directory with cur/, new/ and tmp/ directories.
fn is_maildir(dir: &Path) -> bool {
    MAILDIR_SUBDIRS
        .iter()
        .all(|subdir| dir.join(subdir).is_dir())
}

fn refuse_symlink(path: &Path, folder: &str) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => bail!(
            "refusing to write to folder {folder:?}: {} is a symbolic link, which could lead \
             outside the Maildir root",
            path.display()
        ),
        Ok(_) => Ok(()),
        // What is missing is reported by the operation itself.
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).local_io(|| format!("cannot inspect {}", path.display())),
    }
}

/// Makes sure `path` is a real directory (not a link to one), creating it
/// with `mode` (see [`modes_under`]) if missing.
fn create_real_dir(path: &Path, folder: &str, mode: u32) -> Result<()> {
    refuse_symlink(path, folder)?;
    match DirBuilder::new().mode(mode).create(path) {
        Ok(()) => return Ok(()),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error).local_io(|| format!("cannot create {}", path.display())),
    }
    // It existed (or appeared meanwhile): make sure of what it is.
    refuse_symlink(path, folder)?;
    if !path.is_dir() {
        bail!(
            "cannot create folder {folder:?}: {} exists and is not a directory",
            path.display()
        );
    }
    Ok(())
}

/// Lists the message files of one maildir (see [`for_each_message_file`]).
fn read_message_files(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<MessageFile>> {
    let mut files = Vec::new();
    for_each_message_file(dir, warnings, |file, _, _| {
        files.push(file);
        Ok(())
    })?;
    Ok(files)
}

/// Calls `visit` with each message file of one maildir, `new/` before
/// `cur/`, and its directory entry (which tells its type and metadata
/// without a lookup by path), as the directories are read. In that order
/// a mail reader moving a message from `new/` to `cur/` during the
/// listing shows it twice (and the duplicate is dropped) rather than not
/// at all. Names that are hidden or not UTF-8 are no messages.
fn for_each_message_file(
    dir: &Path,
    warnings: &mut Vec<String>,
    mut visit: impl FnMut(MessageFile, &fs::DirEntry, &mut Vec<String>) -> Result<()>,
) -> Result<()> {
    for subdir in [Subdir::New, Subdir::Cur] {
        let subdir_path = dir.join(subdir.dir_name());
        let entries = fs::read_dir(&subdir_path)
            .local_io(|| format!("cannot list messages in {}", subdir_path.display()))?;
        for entry in entries {
            let entry = entry.local_io(|| format!("cannot list {}", subdir_path.display()))?;
            let os_name = entry.file_name();
            if os_name.as_bytes().starts_with(b".") {
                continue;
            }
            let Some(file_name) = os_name.to_str() else {
                warnings.push(non_utf8_warning(&subdir_path, &os_name));
                continue;
            };
            let file = MessageFile {
                subdir,
                file_name: file_name.to_owned(),
            };
            visit(file, &entry, warnings)?;
        }
    }
    Ok(())
}

fn non_utf8_warning(subdir_path: &Path, os_name: &OsStr) -> String {
    format!(
        "skipping {}: its name is not UTF-8, so it cannot be a message id; \
         mailferry leaves it alone",
        subdir_path.join(os_name).display()
    )
}

/// The file holding the message with this unique name, if any; of two, the
/// same one [`scan_folder`] keeps.
fn find_by_unique_name(dir: &Path, unique_name: &str) -> Result<Option<MessageFile>> {
    let mut ignored_warnings = Vec::new();
    Ok(read_message_files(dir, &mut ignored_warnings)?
        .into_iter()
        .filter(|file| file.unique_name() == unique_name)
        .min())
}

/// The messages of one maildir with their sizes, one file per unique name
/// (of two with the same unique name, the first in (subdir, name) order,
/// as [`find_by_unique_name`] picks). Each directory entry is looked at as
/// it is read: a folder of 100,000 messages is not held twice.
fn scan_folder(
    folder: &str,
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<(MessageFile, u64)>> {
    let mut listed: Vec<(MessageFile, u64)> = Vec::new();
    // Where in `listed` each unique name is, found by hashing the name.
    let mut seen: HashTable<usize> = HashTable::new();
    let hasher = foldhash::fast::RandomState::default();
    for_each_message_file(dir, warnings, |file, entry, warnings| {
        let unique_name = file.unique_name();
        if unique_name.is_empty() {
            warnings.push(format!(
                "skipping {} in folder {folder:?}: it has no unique name before the \":\"",
                file.path(dir).display()
            ));
            return Ok(());
        }
        let hash = hasher.hash_one(unique_name);
        let held = seen.find(hash, |&at| listed[at].0.unique_name() == unique_name);
        if let Some(&at) = held {
            // The same file twice happens when a renamed file was looked
            // up again (see `sized`); that is no duplicate.
            if listed[at].0 != file {
                keep_first_of_two(&mut listed[at], file, dir, entry, folder, warnings)?;
            }
            return Ok(());
        }
        if let Some((file, size)) = sized(folder, dir, file, entry, warnings)? {
            let at = listed.len();
            listed.push((file, size));
            seen.insert_unique(hash, at, |&at| hasher.hash_one(listed[at].0.unique_name()));
        }
        Ok(())
    })?;
    Ok(listed)
}

/// Of two files with one unique name, the first in (subdir, name) order
/// is the message's (the one [`find_by_unique_name`] picks); the other is
/// left alone, with a warning.
fn keep_first_of_two(
    held: &mut (MessageFile, u64),
    other: MessageFile,
    dir: &Path,
    other_entry: &fs::DirEntry,
    folder: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let skipped = if other < held.0 {
        match sized(folder, dir, other, other_entry, warnings)? {
            Some(first) => std::mem::replace(held, first).0,
            None => return Ok(()),
        }
    } else {
        other
    };
    warnings.push(format!(
        "skipping {} in folder {folder:?}: {} has the same unique name; \
         mailferry syncs only that one and leaves this one alone",
        skipped.path(dir).display(),
        held.0.path(dir).display()
    ));
    Ok(())
}

/// A message file with its size: from its name where the name says it
/// and the directory entry that it is a regular file, else from its
/// metadata. `None` (with a warning where it is worth one) when it is no
/// message after all.
fn sized(
    folder: &str,
    dir: &Path,
    mut file: MessageFile,
    entry: &fs::DirEntry,
    warnings: &mut Vec<String>,
) -> Result<Option<(MessageFile, u64)>> {
    let named_size = size_from_unique_name(file.unique_name());
    // A regular file whose name says its size needs no metadata: the
    // directory entry tells its type.
    let plain_file = entry.file_type().is_ok_and(|t| t.is_file());
    if let (Some(size), true) = (named_size, plain_file) {
        return Ok(Some((file, size)));
    }
    let metadata = match inspect_entry(entry) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            // Renamed by a mail reader since the directory was read:
            // look for it again rather than report it deleted.
            let Some(moved) = find_by_unique_name(dir, file.unique_name())? else {
                return Ok(None);
            };
            match inspect_message_file(&moved.path(dir)) {
                Ok(metadata) => {
                    file = moved;
                    metadata
                }
                Err(_) => return Ok(None),
            }
        }
        Err(error) => {
            warnings.push(format!(
                "skipping {} in folder {folder:?}: {error}",
                file.path(dir).display()
            ));
            return Ok(None);
        }
    };
    Ok(Some((file, named_size.unwrap_or(metadata.len()))))
}

/// [`inspect_message_file`] through a directory entry: the metadata is read
/// relative to the directory, without looking the path up again. A symbolic
/// link is not followed, so it is not taken for a message.
fn inspect_entry(entry: &fs::DirEntry) -> io::Result<fs::Metadata> {
    let metadata = entry.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    Ok(metadata)
}

/// Checks that a message file is a regular file (a FIFO someone left in
/// cur/ would block whoever opens it). Whether it can be read is found out
/// when it is fetched, which names it: opening every file on every scan
/// would triple the cost of listing a large folder.
fn inspect_message_file(path: &Path) -> io::Result<fs::Metadata> {
    let metadata = fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    Ok(metadata)
}

/// Bytes gathered before a write: a message in LF form comes in one piece
/// a line.
const WRITE_BUFFER: usize = 64 * 1024;

/// Writes a message's `content`, the pieces that make it, to a new file in
/// tmp/ (with `mode`, see [`modes_under`]), dated `date`.
fn write_new_file<'a>(
    path: &Path,
    content: impl Iterator<Item = &'a [u8]>,
    date: Option<i64>,
    fsync: bool,
    mode: u32,
) -> io::Result<()> {
    // A leftover of an interrupted append with this same ticket is ours to
    // replace: the ticket names nobody else's file.
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut writer = io::BufWriter::with_capacity(WRITE_BUFFER, file);
    for piece in content {
        writer.write_all(piece)?;
    }
    let file = writer
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    if let Some(mtime) = date.and_then(system_time) {
        file.set_modified(mtime)?;
    }
    if fsync {
        file.sync_all()?;
    }
    Ok(())
}

/// Moves a written tmp/ file to new/ or cur/, never over another file.
fn publish(staged: &StagedFile) -> Result<MessageFile> {
    let target_path = staged.target.path(&staged.folder_dir);
    // Checked again right before the rename, which would overwrite.
    if fs::symlink_metadata(&target_path).is_ok() {
        bail!(
            "cannot store a message as {}: the file appeared meanwhile, and mailferry never \
             overwrites one",
            target_path.display()
        );
    }
    fs::rename(&staged.tmp_path, &target_path).local_io(|| {
        format!(
            "cannot move {} to {}",
            staged.tmp_path.display(),
            target_path.display()
        )
    })?;
    Ok(staged.target.clone())
}

fn sync_directory(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|opened| opened.sync_all())
        .local_io(|| format!("cannot flush directory {} to disk", dir.display()))
}

/// Tickets come back from the journal: make sure one can only ever name a
/// file inside the folder's own directories.
fn check_ticket(ticket: &str) -> Result<()> {
    let plausible =
        !ticket.is_empty() && !ticket.starts_with('.') && !ticket.contains(['/', ':', '\0']);
    if !plausible {
        bail!("{ticket:?} is not a Maildir unique name made by mailferry");
    }
    Ok(())
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |secs| -secs),
    }
}

fn system_time(unix_seconds: i64) -> Option<SystemTime> {
    let offset = Duration::from_secs(unix_seconds.unsigned_abs());
    if unix_seconds >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

/// The host name as the Maildir spec wants it inside a unique name: `/`
/// and `:` written as `\057` and `\072`; we also replace blanks and control
/// characters so ids stay one word in the state file.
fn unique_name_hostname() -> String {
    let raw = system_hostname().unwrap_or_else(|| "localhost".to_owned());
    let mut safe = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '/' => safe.push_str("\\057"),
            ':' => safe.push_str("\\072"),
            c if c.is_whitespace() || c.is_control() => safe.push('_'),
            c => safe.push(c),
        }
    }
    safe
}

fn system_hostname() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the pointer and length describe `buffer`, which gethostname
    // writes at most `buffer.len()` bytes into.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status == 0 {
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        let name = String::from_utf8_lossy(&buffer[..end]).trim().to_owned();
        if !name.is_empty() {
            return Some(name);
        }
    }
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_owned()).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use tempfile::TempDir;

    /// A store over a root that does not exist yet, inside a fresh temp dir.
    fn new_store(layout: Layout) -> (TempDir, MaildirStore) {
        let temp = TempDir::new().unwrap();
        let mut store = MaildirStore::new(temp.path().join("Mail"), layout);
        store.set_fsync(false);
        (temp, store)
    }

    /// A store with one open, empty Verbatim folder `INBOX`.
    fn inbox_store() -> (TempDir, MaildirStore, PathBuf) {
        let (temp, mut store) = new_store(Layout::Verbatim);
        store.create_folder("INBOX").unwrap();
        store.open_folder("INBOX").unwrap();
        let dir = temp.path().join("Mail/INBOX");
        (temp, store, dir)
    }

    #[test]
    fn a_file_system_failure_is_a_local_io_error_with_its_path() {
        use crate::store::error::{StoreError, StoreErrorKind};
        let temp = TempDir::new().unwrap();
        // The root's parent is a file: no directory can be made under it.
        fs::write(temp.path().join("file"), b"").unwrap();
        let mut store = MaildirStore::new(temp.path().join("file/Mail"), Layout::Verbatim);
        let error = store.create_folder("INBOX").unwrap_err();
        assert_eq!(StoreError::kind_of(&error), Some(StoreErrorKind::LocalIo));
        let text = format!("{error:#}");
        assert!(
            text.starts_with("cannot create Maildir directory ") && text.contains("file/Mail"),
            "{text}"
        );
    }

    fn message(flags: Flags, date: Option<i64>, content: &[u8]) -> Message {
        Message {
            flags,
            date,
            content: content.to_vec(),
        }
    }

    fn append(store: &mut MaildirStore, flags: Flags, content: &[u8]) -> MsgId {
        let ticket = store.prepare_append().unwrap();
        let id = store
            .append(&ticket, &message(flags, None, content))
            .unwrap();
        id.unwrap()
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn folder_names(store: &mut MaildirStore) -> Vec<String> {
        let folders = store.list_folders().unwrap();
        folders.into_iter().map(|folder| folder.name).collect()
    }

    fn fetch_one(store: &mut MaildirStore, id: &str) -> Option<Message> {
        let mut fetched = None;
        store
            .fetch_messages(&[id.to_owned()], &mut |_, message| {
                fetched = Some(message);
                Ok(())
            })
            .unwrap();
        fetched
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn verbatim_nested_folders_are_created_private_and_listed_back() {
        let (temp, mut store) = new_store(Layout::Verbatim);
        for name in ["INBOX", "Work/Projects", "Ünïcode ✉"] {
            store.create_folder(name).unwrap();
        }
        // `Work` is only a parent directory, not a maildir, so not a folder.
        assert_eq!(
            folder_names(&mut store),
            ["INBOX", "Work/Projects", "Ünïcode ✉"]
        );
        let root = temp.path().join("Mail");
        assert_eq!(mode_of(&root), 0o700);
        assert_eq!(mode_of(&root.join("Work")), 0o700);
        assert_eq!(mode_of(&root.join("Work/Projects/cur")), 0o700);
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn maildirpp_nested_folders_are_dot_directories_and_inbox_is_the_root() {
        let (temp, mut store) = new_store(Layout::MaildirPlusPlus);
        for name in ["INBOX", "Work/Projects", "Work"] {
            store.create_folder(name).unwrap();
        }
        let root = temp.path().join("Mail");
        assert!(is_maildir(&root));
        assert!(is_maildir(&root.join(".Work.Projects")));
        assert!(root.join(".Work.Projects/maildirfolder").is_file());
        assert_eq!(folder_names(&mut store), ["INBOX", "Work", "Work/Projects"]);
    }

    #[test]
    fn maildirpp_root_without_maildir_has_no_inbox() {
        let (_temp, mut store) = new_store(Layout::MaildirPlusPlus);
        store.create_folder("Sent").unwrap();
        assert_eq!(folder_names(&mut store), ["Sent"]);
    }

    #[test]
    fn a_missing_root_lists_no_folders() {
        let (_temp, mut store) = new_store(Layout::Verbatim);
        assert!(store.list_folders().unwrap().is_empty());
    }

    #[test]
    fn creating_an_existing_folder_succeeds_and_keeps_its_messages() {
        let (_temp, mut store, dir) = inbox_store();
        let id = append(&mut store, Flags::EMPTY, b"kept");
        store.create_folder("INBOX").unwrap();
        assert_eq!(file_names(&dir.join("new")), [id]);
    }

    #[test]
    fn unsafe_folder_names_are_refused_and_nothing_is_created() {
        let (temp, mut store) = new_store(Layout::Verbatim);
        let error = store.create_folder("../escaped").unwrap_err();
        assert!(error.to_string().contains("\"..\" component"), "{error}");
        assert!(!temp.path().join("escaped").exists());
        assert!(!temp.path().join("Mail").exists());
        assert!(store.open_folder("a//b").is_err());
    }

    #[test]
    fn listing_skips_unsafe_directory_names_with_a_warning() {
        let (temp, mut store) = new_store(Layout::Verbatim);
        store.create_folder("Good").unwrap();
        for subdir in MAILDIR_SUBDIRS {
            fs::create_dir_all(temp.path().join("Mail/back\\slash").join(subdir)).unwrap();
            fs::create_dir_all(temp.path().join("Mail/.hidden").join(subdir)).unwrap();
        }
        assert_eq!(folder_names(&mut store), ["Good"]);
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("backslash"), "{warnings:?}");
    }

    #[test]
    fn maildirpp_listing_skips_dot_directories_that_are_no_folder_name() {
        let (temp, mut store) = new_store(Layout::MaildirPlusPlus);
        store.create_folder("Good").unwrap();
        for subdir in MAILDIR_SUBDIRS {
            fs::create_dir_all(temp.path().join("Mail/.a..b").join(subdir)).unwrap();
        }
        fs::create_dir_all(temp.path().join("Mail/.notmuch/xapian")).unwrap();
        assert_eq!(folder_names(&mut store), ["Good"]);
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains(".a..b"), "{warnings:?}");
    }

    #[test]
    fn opening_a_missing_folder_says_it_does_not_exist() {
        let (_temp, mut store) = new_store(Layout::Verbatim);
        let error = store.open_folder("Archive").unwrap_err();
        assert!(
            error.to_string().contains("\"Archive\" does not exist"),
            "{error}"
        );
    }

    #[test]
    fn open_counts_the_messages() {
        let (_temp, mut store, _dir) = inbox_store();
        append(&mut store, Flags::EMPTY, b"one");
        append(&mut store, Flags::SEEN, b"two");
        let status = store.open_folder("INBOX").unwrap();
        assert_eq!(
            status,
            FolderStatus {
                uidvalidity: None,
                uidnext: None,
                highest_modseq: None,
                exists: 2
            }
        );
    }

    #[test]
    fn append_without_flags_goes_to_new_as_a_private_file() {
        let (_temp, mut store, dir) = inbox_store();
        let ticket = store.prepare_append().unwrap();
        let id = store
            .append(&ticket, &message(Flags::EMPTY, None, b"hello"))
            .unwrap();
        // The unique name is the ticket with the size, as Dovecot writes it.
        let unique = format!("{ticket},S=5");
        assert_eq!(id.as_deref(), Some(unique.as_str()));
        assert_eq!(file_names(&dir.join("new")), [unique.as_str()]);
        assert!(file_names(&dir.join("cur")).is_empty());
        assert!(file_names(&dir.join("tmp")).is_empty());
        assert_eq!(mode_of(&dir.join("new").join(&unique)), 0o600);
        assert_eq!(fs::read(dir.join("new").join(&unique)).unwrap(), b"hello");
    }

    #[test]
    fn append_with_flags_goes_to_cur_with_the_info_suffix() {
        let (_temp, mut store, dir) = inbox_store();
        let flags = Flags::SEEN.union(Flags::FLAGGED).union(Flags::ANSWERED);
        let id = append(&mut store, flags, b"hello");
        assert_eq!(file_names(&dir.join("cur")), [format!("{id}:2,FRS")]);
        assert!(file_names(&dir.join("new")).is_empty());
    }

    #[test]
    fn append_with_fsync_on_stores_the_message_too() {
        let (_temp, mut store, dir) = inbox_store();
        store.set_fsync(true);
        let id = append(&mut store, Flags::EMPTY, b"durable");
        assert_eq!(fs::read(dir.join("new").join(&id)).unwrap(), b"durable");
    }

    #[test]
    fn append_sets_the_mtime_and_fetch_reports_it_as_the_date() {
        let (_temp, mut store, dir) = inbox_store();
        let date = 1_000_000_000; // 2001-09-09
        let ticket = store.prepare_append().unwrap();
        let id = store
            .append(&ticket, &message(Flags::SEEN, Some(date), b"dated"))
            .unwrap()
            .unwrap();
        let path = dir.join("cur").join(format!("{id}:2,S"));
        let mtime = fs::metadata(path).unwrap().modified().unwrap();
        assert_eq!(unix_seconds(mtime), date);
        let fetched = fetch_one(&mut store, &id).unwrap();
        assert_eq!(fetched, message(Flags::SEEN, Some(date), b"dated"));
    }

    #[test]
    fn append_never_overwrites_an_existing_message() {
        let (_temp, mut store, dir) = inbox_store();
        let ticket = store.prepare_append().unwrap();
        let id = store
            .append(&ticket, &message(Flags::EMPTY, None, b"first"))
            .unwrap()
            .unwrap();
        // The same ticket and size make the same unique name.
        let second = store.append(&ticket, &message(Flags::SEEN, None, b"other"));
        assert!(second.is_err());
        assert_eq!(fs::read(dir.join("new").join(&id)).unwrap(), b"first");
        assert!(file_names(&dir.join("cur")).is_empty());
    }

    #[test]
    fn append_refuses_a_ticket_that_is_not_a_plain_file_name() {
        let (temp, mut store, _dir) = inbox_store();
        for ticket in ["../../escaped", "", ".hidden", "x:2,S"] {
            let outcome = store.append(ticket, &message(Flags::EMPTY, None, b"x"));
            assert!(outcome.is_err(), "{ticket:?}");
        }
        assert!(!temp.path().join("escaped").exists());
    }

    #[test]
    fn list_messages_reads_ids_flags_and_sizes() {
        let (_temp, mut store, dir) = inbox_store();
        fs::write(dir.join("cur/100.host,S=42:2,FS"), b"short").unwrap();
        fs::write(dir.join("cur/101.host:2,RSa"), b"twelve bytes").unwrap();
        fs::write(dir.join("new/102.host"), b"new").unwrap();
        fs::write(dir.join("new/.hidden"), b"dot files are not messages").unwrap();
        fs::write(dir.join("tmp/103.host"), b"being delivered").unwrap();
        let listed = store.list_messages().unwrap();
        let expected = [
            ("100.host,S=42", Flags::FLAGGED.union(Flags::SEEN), 42),
            ("101.host", Flags::ANSWERED.union(Flags::SEEN), 12),
            ("102.host", Flags::EMPTY, 3),
        ];
        let expected: Vec<MessageInfo> = expected
            .into_iter()
            .map(|(id, flags, size)| MessageInfo {
                id: id.to_owned(),
                flags,
                size,
            })
            .collect();
        assert_eq!(listed, expected);
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn a_mail_reader_moving_a_message_to_cur_keeps_its_id_and_sets_its_flag() {
        let (_temp, mut store, dir) = inbox_store();
        let id = append(&mut store, Flags::EMPTY, b"read me");
        // What a mail reader does when the user reads the message.
        fs::rename(
            dir.join("new").join(&id),
            dir.join("cur").join(format!("{id}:2,S")),
        )
        .unwrap();
        // The store's cached path is stale now; fetch must find the file.
        let fetched = fetch_one(&mut store, &id).unwrap();
        assert_eq!(fetched.flags, Flags::SEEN);
        assert_eq!(fetched.content, b"read me");
        let listed = store.list_messages().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].id.as_str(), listed[0].flags),
            (id.as_str(), Flags::SEEN)
        );
    }

    #[test]
    fn fetch_skips_messages_that_are_gone() {
        let (_temp, mut store, dir) = inbox_store();
        let kept = append(&mut store, Flags::EMPTY, b"kept");
        let gone = append(&mut store, Flags::EMPTY, b"gone");
        fs::remove_file(dir.join("new").join(&gone)).unwrap();
        let mut fetched = Vec::new();
        store
            .fetch_messages(&[gone.clone(), kept.clone()], &mut |id, message| {
                fetched.push((id.clone(), message.content));
                Ok(())
            })
            .unwrap();
        assert_eq!(fetched, [(kept, b"kept".to_vec())]);
    }

    #[test]
    fn set_flags_never_replaces_a_file_already_named_like_the_target() {
        let (_temp, mut store, dir) = inbox_store();
        fs::write(dir.join("cur/300.host:2,S"), b"the message").unwrap();
        store.list_messages().unwrap();
        // A second file under the target name appears after the listing.
        fs::write(dir.join("cur/300.host:2,FS"), b"another file").unwrap();
        let error = store
            .set_flags_many(&["300.host".to_owned()], Flags::FLAGGED, Flags::EMPTY)
            .unwrap_err();
        assert!(format!("{error:#}").contains("already exists"), "{error:#}");
        assert_eq!(
            fs::read(dir.join("cur/300.host:2,S")).unwrap(),
            b"the message"
        );
        assert_eq!(
            fs::read(dir.join("cur/300.host:2,FS")).unwrap(),
            b"another file"
        );
    }

    #[test]
    fn set_flags_follows_a_file_renamed_since_the_listing() {
        let (_temp, mut store, dir) = inbox_store();
        fs::write(dir.join("cur/400.host:2,"), b"x").unwrap();
        store.list_messages().unwrap();
        // A mail reader marks it read meanwhile.
        fs::rename(dir.join("cur/400.host:2,"), dir.join("cur/400.host:2,S")).unwrap();
        store
            .set_flags_many(&["400.host".to_owned()], Flags::FLAGGED, Flags::EMPTY)
            .unwrap();
        assert_eq!(file_names(&dir.join("cur")), ["400.host:2,FS"]);
    }

    #[test]
    fn a_folder_opened_as_listed_reads_no_directory_until_a_guess_is_wrong() {
        let (_temp, mut store, dir) = inbox_store();
        // As mailferry writes them: unread in new/, read in cur/. One more
        // carries a keyword letter its listing does not show.
        fs::write(dir.join("new/1.host"), b"one").unwrap();
        fs::write(dir.join("cur/2.host:2,S"), b"two").unwrap();
        fs::write(dir.join("cur/3.host:2,Sa"), b"three").unwrap();
        // Read once, then marked unread: no flags, but in cur/.
        fs::write(dir.join("cur/4.host:2,"), b"four").unwrap();
        let listing = [
            MessageInfo {
                id: "1.host".into(),
                flags: Flags::EMPTY,
                size: 0,
            },
            MessageInfo {
                id: "2.host".into(),
                flags: Flags::SEEN,
                size: 0,
            },
            MessageInfo {
                id: "3.host".into(),
                flags: Flags::SEEN,
                size: 0,
            },
            MessageInfo {
                id: "4.host".into(),
                flags: Flags::EMPTY,
                size: 0,
            },
        ];
        let status = store
            .open_folder_as_listed("INBOX", &listing)
            .unwrap()
            .expect("a maildir");
        assert_eq!(status.exists, 4);
        for id in ["1.host", "2.host", "4.host", "3.host"] {
            store
                .set_flags_many(&[id.to_owned()], Flags::FLAGGED, Flags::EMPTY)
                .unwrap();
        }
        assert_eq!(
            file_names(&dir.join("cur")),
            ["1.host:2,F", "2.host:2,FS", "3.host:2,FSa", "4.host:2,F"]
        );
        assert!(file_names(&dir.join("new")).is_empty());
        assert_eq!(fetch_one(&mut store, "3.host").unwrap().content, b"three");
    }

    #[test]
    fn set_flags_renames_into_cur_and_keeps_unknown_letters() {
        let (_temp, mut store, dir) = inbox_store();
        fs::write(dir.join("cur/200.host:2,Sab"), b"x").unwrap();
        store.list_messages().unwrap();
        store
            .set_flags(&"200.host".to_owned(), Flags::FLAGGED, Flags::SEEN)
            .unwrap();
        assert_eq!(file_names(&dir.join("cur")), ["200.host:2,Fab"]);
        let listed = store.list_messages().unwrap();
        assert_eq!(listed[0].flags, Flags::FLAGGED);
    }

    #[test]
    fn set_flags_moves_a_new_message_to_cur() {
        let (_temp, mut store, dir) = inbox_store();
        let id = append(&mut store, Flags::EMPTY, b"x");
        store
            .set_flags(&id, Flags::SEEN.union(Flags::DRAFT), Flags::EMPTY)
            .unwrap();
        assert!(file_names(&dir.join("new")).is_empty());
        assert_eq!(file_names(&dir.join("cur")), [format!("{id}:2,DS")]);
    }

    #[test]
    fn set_flags_on_a_vanished_message_names_it_and_the_folder() {
        let (_temp, mut store, dir) = inbox_store();
        let id = append(&mut store, Flags::EMPTY, b"x");
        fs::remove_file(dir.join("new").join(&id)).unwrap();
        let error = store
            .set_flags(&id, Flags::SEEN, Flags::EMPTY)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&id) && error.contains("\"INBOX\""),
            "{error}"
        );
    }

    #[test]
    fn delete_removes_the_files_and_tolerates_gone_ones() {
        let (_temp, mut store, dir) = inbox_store();
        let unread = append(&mut store, Flags::EMPTY, b"a");
        let read = append(&mut store, Flags::SEEN, b"b");
        let kept = append(&mut store, Flags::SEEN, b"c");
        store
            .delete_messages(&[unread.clone(), read.clone()])
            .unwrap();
        assert!(file_names(&dir.join("new")).is_empty());
        assert_eq!(file_names(&dir.join("cur")), [format!("{kept}:2,S")]);
        store.delete_messages(&[unread, read]).unwrap();
    }

    #[test]
    fn find_appended_finds_the_ticket_after_an_append_and_cleans_tmp() {
        let (_temp, mut store, dir) = inbox_store();
        let id = append(&mut store, Flags::SEEN, b"x");
        // A crash could leave a half-written copy in tmp/.
        fs::write(dir.join("tmp").join(&id), b"partial").unwrap();
        store.open_folder("INBOX").unwrap();
        assert_eq!(store.find_appended(&id, 1, "").unwrap(), [id.as_str()]);
        assert!(file_names(&dir.join("tmp")).is_empty());
    }

    #[test]
    fn find_appended_is_empty_for_an_unused_ticket_and_removes_its_leftover() {
        let (_temp, mut store, dir) = inbox_store();
        let ticket = store.prepare_append().unwrap();
        fs::write(dir.join("tmp").join(&ticket), b"interrupted").unwrap();
        assert!(store.find_appended(&ticket, 11, "").unwrap().is_empty());
        assert!(file_names(&dir.join("tmp")).is_empty());
    }

    #[test]
    fn duplicate_unique_names_are_warned_about_and_left_alone() {
        let (_temp, mut store, dir) = inbox_store();
        fs::write(dir.join("new/300.host"), b"x").unwrap();
        fs::write(dir.join("cur/300.host:2,S"), b"x").unwrap();
        let listed = store.list_messages().unwrap();
        // One message, the copy in cur/ (the one a reader has seen).
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].flags, Flags::SEEN);
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("same unique name"), "{warnings:?}");
        assert_eq!(file_names(&dir.join("new")), ["300.host"]);
        assert_eq!(file_names(&dir.join("cur")), ["300.host:2,S"]);
    }

    #[test]
    fn a_non_utf8_file_name_is_warned_about_and_left_alone() {
        let (_temp, mut store, dir) = inbox_store();
        let name = OsString::from_vec(b"400.h\xffst:2,S".to_vec());
        fs::write(dir.join("cur").join(&name), b"x").unwrap();
        assert!(store.list_messages().unwrap().is_empty());
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("not UTF-8"), "{warnings:?}");
        assert!(dir.join("cur").join(&name).exists());
    }

    #[test]
    fn entries_that_are_not_regular_files_are_warned_about_and_skipped() {
        let (_temp, mut store, dir) = inbox_store();
        fs::create_dir(dir.join("cur/500.host:2,S")).unwrap();
        let fifo =
            std::ffi::CString::new(dir.join("new/501.host").into_os_string().into_vec()).unwrap();
        // SAFETY: `fifo` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        // A FIFO must be skipped, not opened (opening it would block).
        assert!(store.list_messages().unwrap().is_empty());
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().all(|w| w.contains("not a regular file")));
    }

    #[test]
    fn a_symlinked_folder_refuses_writes() {
        let (temp, mut store) = new_store(Layout::Verbatim);
        store.create_folder("INBOX").unwrap();
        let outside = temp.path().join("outside");
        for subdir in MAILDIR_SUBDIRS {
            fs::create_dir_all(outside.join(subdir)).unwrap();
        }
        fs::write(outside.join("cur/600.host:2,S"), b"not ours").unwrap();
        symlink(&outside, temp.path().join("Mail/Linked")).unwrap();

        let refused = |error: anyhow::Error| error.to_string().contains("symbolic link");
        assert!(refused(store.create_folder("Linked").unwrap_err()));
        // Reading through it is harmless; writing is not.
        store.open_folder("Linked").unwrap();
        let ticket = store.prepare_append().unwrap();
        let appended = store.append(&ticket, &message(Flags::EMPTY, None, b"x"));
        assert!(refused(appended.unwrap_err()));
        let id = "600.host".to_owned();
        assert!(refused(
            store
                .set_flags(&id, Flags::FLAGGED, Flags::EMPTY)
                .unwrap_err()
        ));
        assert!(refused(store.delete_messages(&[id]).unwrap_err()));
        assert!(refused(store.find_appended(&ticket, 1, "").unwrap_err()));
        assert_eq!(file_names(&outside.join("cur")), ["600.host:2,S"]);
        assert!(file_names(&outside.join("new")).is_empty());
        // Nor is it listed as a folder of this store.
        assert_eq!(folder_names(&mut store), ["INBOX"]);
    }

    #[test]
    fn a_symlinked_cur_directory_refuses_writes() {
        let (temp, mut store, dir) = inbox_store();
        let outside = temp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::remove_dir(dir.join("cur")).unwrap();
        symlink(&outside, dir.join("cur")).unwrap();
        let ticket = store.prepare_append().unwrap();
        let appended = store.append(&ticket, &message(Flags::SEEN, None, b"x"));
        assert!(appended.unwrap_err().to_string().contains("symbolic link"));
        assert!(file_names(&outside).is_empty());
    }

    #[test]
    fn tickets_are_distinct_across_10000_calls() {
        let (_temp, mut store) = new_store(Layout::Verbatim);
        let tickets: HashSet<String> = (0..10_000)
            .map(|_| store.prepare_append().unwrap())
            .collect();
        assert_eq!(tickets.len(), 10_000);
        assert!(tickets.iter().all(|ticket| check_ticket(ticket).is_ok()));
    }

    #[test]
    fn hostnames_are_escaped_as_the_maildir_spec_says() {
        let hostname = unique_name_hostname();
        assert!(!hostname.is_empty());
        assert!(!hostname.contains(['/', ':', ' ']), "{hostname}");
    }

    #[test]
    fn sizes_come_from_the_s_field_of_the_unique_name() {
        assert_eq!(
            size_from_unique_name("1.M2P3.host,S=1234,W=1300"),
            Some(1234)
        );
        assert_eq!(size_from_unique_name("1.M2P3.host"), None);
        assert_eq!(size_from_unique_name("1.M2P3.host,S=abc"), None);
    }

    #[test]
    fn dates_before_1970_survive_the_round_trip() {
        for seconds in [-86_400, 0, 1_700_000_000] {
            assert_eq!(system_time(seconds).map(unix_seconds), Some(seconds));
        }
    }
}
