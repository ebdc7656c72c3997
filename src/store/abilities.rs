//! The optional abilities of a store, each a trait of its own. A store
//! that has one hands it out through [`Store`]'s accessor for it
//! ([`Store::incremental`], [`Store::staging`], [`Store::opening_ahead`],
//! [`Store::versions`], [`Store::trash`], [`Store::trash_uploads`]); the
//! engine asks, and chooses its way by the answer, instead of calling
//! methods that quietly do nothing.

#[cfg(doc)]
use super::Store;
use super::{Changes, Staged, Trashed};
use crate::mail::{FolderStatus, Message, MessageInfo, MsgId};
use anyhow::Result;

/// Learning what changed in a folder since a known HIGHESTMODSEQ (IMAP
/// CONDSTORE/QRESYNC), instead of listing it whole.
pub trait IncrementalListing {
    /// Opens a folder like [`Store::open_folder`], told the UIDVALIDITY
    /// and HIGHESTMODSEQ the last sync saw, so that the store may learn
    /// what changed since then in the same round trip (QRESYNC);
    /// [`IncrementalListing::changes_at_open`] hands that over.
    fn open_folder_knowing(
        &mut self,
        name: &str,
        known: Option<(u32, u64)>,
    ) -> Result<FolderStatus>;

    /// What the open folder's opening learned had changed since `since`
    /// (see [`IncrementalListing::open_folder_knowing`]), once: like
    /// [`IncrementalListing::list_changes`], except that the sizes are not
    /// known (0).
    fn changes_at_open(&mut self, since: u64) -> Option<Changes>;

    /// What changed in the open folder since an earlier open reported
    /// `since` as its HIGHESTMODSEQ, or `None` when the store cannot tell
    /// cheaply (the server lacks CONDSTORE); then the caller lists
    /// everything.
    fn list_changes(&mut self, since: u64) -> Result<Option<Changes>>;
}

/// Storing a batch of messages with one durable commit (group commit).
pub trait Staging {
    /// Stores a new message like [`Store::append`], but may leave it
    /// unfinished until its batch is committed ([`Staging::begin_commit`]),
    /// so that a whole batch is made durable at once. A message stored at
    /// once says so with [`Staged::Stored`].
    fn stage_append(&mut self, ticket: &str, message: &Message) -> Result<Staged>;

    /// Takes every message staged since the last call as one batch and
    /// hands back the work that makes them durable, then visible. The work
    /// needs nothing of the store, so it may run on another thread while
    /// the caller stages the next batch: a disk's flushes then overlap the
    /// fetching of the messages that follow. Its outcome goes back through
    /// [`Staging::commit_done`] before the batch's messages are used.
    fn begin_commit(&mut self) -> Result<CommitWork>;

    /// Told the outcome of the oldest batch whose work has run, so the
    /// store counts its messages as held.
    fn commit_done(&mut self, outcome: &CommitOutcome);
}

/// What committing a batch did: each staged ticket with its new id or the
/// reason it failed, in the order the messages were staged. An `Err`
/// means none can be trusted to have arrived; [`Store::find_appended`]
/// tells later.
pub type CommitOutcome = Result<Vec<(String, Result<MsgId>)>>;

/// The work of committing a batch (see [`Staging::begin_commit`]).
pub struct CommitWork(Box<dyn FnOnce() -> CommitOutcome + Send>);

impl CommitWork {
    pub fn new(work: impl FnOnce() -> CommitOutcome + Send + 'static) -> CommitWork {
        CommitWork(Box::new(work))
    }

    /// Work already done when the commit began (a store that must use its
    /// connection to commit).
    pub fn done(outcome: Vec<(String, Result<MsgId>)>) -> CommitWork {
        CommitWork::new(move || Ok(outcome))
    }

    pub fn run(self) -> CommitOutcome {
        (self.0)()
    }
}

/// Sending a folder's opening command before its turn (a server store),
/// so the server works while the caller finishes the folder before.
pub trait OpenAhead {
    /// Told that `name` is the next folder to be opened, with `known` as
    /// [`IncrementalListing::open_folder_knowing`] will be given it, and
    /// that the open folder needs nothing more from this store: the store
    /// may send the opening command now and read its answer when the
    /// folder is opened. The open folder must not be used after this.
    fn open_ahead(&mut self, name: &str, known: Option<(u32, u64)>);
}

/// Telling cheaply whether a folder changed, so that a folder that did not
/// is skipped without reading it (the engine's `settled` module).
pub trait FolderVersions {
    /// The folder's version: a short text that is the same at two moments
    /// only if no message was added to, removed from or changed flags in
    /// the folder between them. `None` when the store cannot tell just now
    /// (not reliably, or not without listing the messages); the caller
    /// then reads the folder in full.
    ///
    /// It may be asked of a folder that is not open (an IMAP store answers
    /// from what its last folder listing reported, where the server gave
    /// each folder's status with it) and of the open folder (then as of
    /// its opening). A sync compares it with the version recorded by the
    /// last run that left the folder settled.
    fn folder_version(&mut self, name: &str) -> Result<Option<String>>;

    /// Whether between two versions of a folder messages were at most
    /// changed or removed, none added; `false` when the store cannot tell.
    fn nothing_added_between(&self, before: &str, now: &str) -> bool;

    /// Opens a folder whose messages the caller knows to be exactly
    /// `listing` (its version did not change since it listed them), without
    /// reading them again. `None` when the store cannot; the caller then
    /// opens and lists it as usual. Operations on a message the store
    /// finds elsewhere than the listing suggests must still act on the
    /// right file, or fail as for a message that is gone.
    fn open_folder_as_listed(
        &mut self,
        name: &str,
        listing: &[MessageInfo],
    ) -> Result<Option<FolderStatus>>;
}

/// Moving messages into a trash folder instead of removing them (mbsync's
/// Trash).
pub trait Trash {
    /// Gets folder `trash` ready to take messages of the open folder:
    /// creates it if it is missing. Returns a ticket when moving a message
    /// there takes two steps (a copy, then a removal: IMAP without MOVE),
    /// from which [`Trash::find_trashed`] finds a copy made after it;
    /// `None` when a message is in one place or the other at every moment.
    fn prepare_trash(&mut self, trash: &str) -> Result<Option<String>>;

    /// Moves messages of the open folder into folder `trash` (see
    /// [`Trash::prepare_trash`]). Ids that no longer exist are skipped.
    fn trash_messages(&mut self, ids: &[MsgId], trash: &str) -> Result<Trashed>;

    /// Whether folder `trash` holds a message stored since `ticket` (from
    /// [`Trash::prepare_trash`] or [`TrashUploads::prepare_trash_upload`])
    /// with this size and SHA-256 (hex) in this store's form. The open
    /// folder stays the open one.
    fn find_trashed(&mut self, trash: &str, ticket: &str, size: u64, sha256: &str) -> Result<bool>;
}

/// Taking a message that this side never had, from the other side, into
/// its trash folder (mbsync's TrashRemoteNew).
pub trait TrashUploads {
    /// The ticket [`Trash::find_trashed`] needs to find a message uploaded
    /// into folder `trash` by [`TrashUploads::append_to_trash`] (creating
    /// the folder if it is missing): IMAP its UIDNEXT.
    fn prepare_trash_upload(&mut self, trash: &str) -> Result<String>;

    /// Uploads `message` into folder `trash`. The open folder stays open.
    fn append_to_trash(&mut self, trash: &str, message: &Message) -> Result<()>;
}
