//! What mailferry remembers between runs, per folder pair: the UIDVALIDITY
//! of each side and which far message is which near message, with the flags
//! they had when last synced.
//!
//! The types here are the in-memory state; the file format, the journal and
//! the channel lock live in the submodules.

mod batch;
mod file;
mod folders;
mod journal;
mod last_run;
mod lock;
mod records;
mod renames;

pub use batch::{SaveNow, SaveState, StateBatch};
pub use file::{name_as_file_name, state_path, StateError, StateFile, StateHead};
pub use folders::FolderList;
pub use journal::{apply, worth_keeping as journal_worth_keeping, Journal, JournalEntry};
pub use last_run::{epoch_seconds, LastRun};
pub use lock::ChannelLock;
#[cfg(test)]
pub(crate) use records::visits;
pub use records::{AlreadyPaired, Records};
pub use renames::{FolderRename, RenameRecord};

use crate::mail::{Flags, MsgId, Pair, Side};
use serde::Serialize;

/// One message pair as of the last sync.
///
/// Both ids present: the message exists on both sides. One id absent: a
/// tombstone, the message was deleted on that side but kept (flagged
/// deleted) on the other because that side does not expunge; the tombstone
/// stops it being copied back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub ids: Pair<Option<MsgId>>,
    /// The flags both sides agreed on at the last sync.
    pub flags: Flags,
}

/// A copy that was started but whose result was not yet recorded. It is
/// resolved before the next plan: the target store is asked whether the
/// message arrived (see `Store::find_appended`), and a pair is recorded if
/// it did, so an interrupted copy is never repeated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingCopy {
    /// The side the message is being copied to.
    pub target: Side,
    /// The message's id on the other side.
    pub source_id: MsgId,
    /// What `Store::prepare_append` returned on the target side.
    pub ticket: String,
    pub size: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// The flags it was stored with.
    pub flags: Flags,
}

/// An upload that an earlier run sent but that its target did not show
/// when the next run looked for it (see [`PendingCopy`]). "Not found yet"
/// is not "never stored": a server may still be committing what a killed
/// session sent (a MULTIAPPEND batch it had whole), and store it after
/// the message was uploaded again. Kept for a while so that a copy turning
/// up late on the target is recognised by its bytes and removed (or
/// paired, if its source was never paired again) instead of being taken
/// for new mail (see the engine's `late` module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnconfirmedUpload {
    /// The side the message was uploaded to.
    pub target: Side,
    /// The message's id on the other side.
    pub source_id: MsgId,
    /// The pending copy's ticket: a late copy was stored after it was
    /// issued (IMAP: its UID is at least this UIDNEXT).
    pub ticket: String,
    pub size: u64,
    /// SHA-256 of the content uploaded, lower-case hex.
    pub sha256: String,
    /// The flags it was uploaded with.
    pub flags: Flags,
    /// When it was found missing, in seconds since the Unix epoch.
    pub since: u64,
}

impl UnconfirmedUpload {
    /// The upload that `copy` stood for, found missing at `since`.
    pub fn of(copy: &PendingCopy, since: u64) -> UnconfirmedUpload {
        UnconfirmedUpload {
            target: copy.target,
            source_id: copy.source_id.clone(),
            ticket: copy.ticket.clone(),
            size: copy.size,
            sha256: copy.sha256.clone(),
            flags: copy.flags,
            since,
        }
    }

    /// Whether two entries name the same upload (journal entries that
    /// drop one name it by these fields).
    pub fn same_upload(&self, target: Side, source_id: &str, ticket: &str) -> bool {
        self.target == target && self.source_id == source_id && self.ticket == ticket
    }
}

/// A message on its way into a trash folder (see the engine's `exec` module):
/// journaled before it is moved, so that the next run finishes what a
/// crash interrupted without leaving a second copy in the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trashing {
    /// The side the message is on, and its trash folder's side.
    pub side: Side,
    /// The message's id in the folder being synced.
    pub id: MsgId,
    /// The trash folder, as that side's store names it.
    pub folder: String,
    /// `None` where the store moves a message in one step (IMAP MOVE, a
    /// Maildir rename): the message is then in one place or the other.
    /// Otherwise what `Store::prepare_trash` returned (IMAP: the trash
    /// folder's UIDNEXT before the COPY), to find a copy made there.
    pub ticket: Option<String>,
    /// The copy in the trash is known to be made: only the message in the
    /// folder is left to remove.
    pub copied: bool,
    /// The trash folder is the other side's: the message, which that side
    /// never had, is uploaded there (`trash: {remote_new: true}`) before
    /// it is deleted here.
    pub remote: bool,
}

impl Trashing {
    /// The side whose store holds the trash folder.
    pub fn trash_side(&self) -> Side {
        if self.remote {
            self.side.other()
        } else {
            self.side
        }
    }
}

/// Both sides of a folder pair as a sync that changed nothing found them
/// (see the engine's `settled` module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settled {
    /// Each side's `FolderVersions::folder_version`.
    pub versions: Pair<String>,
    /// Whether the side listed exactly the records' ids of that side, each
    /// with the record's flags: then, while its version holds, the records
    /// are its listing and it need not be read again.
    pub listed_as_recorded: Pair<bool>,
    /// What the channel's policy (and mailferry's version) was: the same
    /// folders planned under another policy could need work.
    pub policy: String,
}

/// The state of one folder pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderState {
    /// How many times the state file has been saved (0: never). A journal
    /// names the generation it applies to, so a journal left behind by a
    /// crash just after a save is recognised as already folded in.
    pub generation: u64,
    /// UIDVALIDITY of each side at the last sync, where the side has one.
    pub uidvalidity: Pair<Option<u32>>,
    /// The far side's HIGHESTMODSEQ at the last sync (CONDSTORE).
    pub far_highest_modseq: Option<u64>,
    /// Set when the last sync found the folder already in sync and left
    /// both sides as they were: their versions then, so the next run can
    /// skip the folder while neither changed.
    pub settled: Option<Settled>,
    pub records: Records,
    pub pending: Vec<PendingCopy>,
    /// Uploads not found on their target, in the order they were found
    /// missing; the same upload may be listed more than once (each entry
    /// accounts for at most one copy).
    pub unconfirmed: Vec<UnconfirmedUpload>,
    /// Messages being moved into a trash folder, in the order begun.
    pub trashing: Vec<Trashing>,
}

impl FolderState {
    /// The record holding `id` on `side`, tombstones included.
    pub fn record_by_id(&self, side: Side, id: &str) -> Option<&Record> {
        self.records.iter().find(|record| {
            records::visits::visit();
            record.ids[side].as_deref() == Some(id)
        })
    }

    /// The pending copy of `source_id` to `target`.
    pub fn pending_copy(&self, target: Side, source_id: &str) -> Option<&PendingCopy> {
        self.pending
            .iter()
            .find(|copy| copy.target == target && copy.source_id == source_id)
    }
}
