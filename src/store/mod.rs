//! The store interface: every operation the sync engine needs from one side
//! (an IMAP account, a Maildir tree), described once. The engine talks to
//! nothing else, so a new kind of store is one new implementation.
//!
//! What only some stores can do is an ability of its own ([`abilities`]),
//! which the engine asks for; what goes wrong has a kind that decides what
//! the engine does about it ([`error`]); a configured store is opened, as
//! often as needed, by a [`StoreOpener`].

pub mod abilities;
pub mod error;
pub mod folder_name;
pub mod imap;
pub mod maildir;
pub mod memory;
pub mod mutf7;
mod open;
pub mod pop3;
pub mod tls;
pub mod tunnel;
pub mod unavailable;

pub use abilities::{
    CommitOutcome, CommitWork, FolderVersions, IncrementalListing, OpenAhead, Staging, Trash,
    TrashUploads,
};
pub use open::StoreOpener;

use crate::mail::identity::Identity;
use crate::mail::{sha256_hex, Flags, FolderStatus, Message, MessageInfo, MsgId};
use anyhow::Result;
use serde::Serialize;

/// What [`Staging::stage_append`] did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staged {
    /// Stored at once, as [`Store::append`] would have (with its id when
    /// the store can tell it).
    Stored(Option<MsgId>),
    /// Written but not yet durable nor visible: committing its batch
    /// ([`Staging::begin_commit`]) finishes it.
    Deferred,
}

/// A message that [`Store::find_stored`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCopy {
    pub id: MsgId,
    /// Whether its bytes are the ones sent; `false`: the same Message-ID
    /// and size but other bytes (the store rewrote some).
    pub identical: bool,
}

/// How [`Store::remove_own_copies`] removed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Gone for good.
    Expunged,
    /// Flagged deleted and left for an expunge (by the user, or by a later
    /// sync that may expunge): expunging now would have removed other
    /// messages flagged deleted too.
    FlaggedDeleted,
}

/// How [`Trash::trash_messages`] left the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trashed {
    /// In the trash folder and out of their folder, in one step.
    Moved,
    /// Copied into the trash folder and still in their folder: the caller
    /// removes them there ([`Store::delete_messages`]) once it has noted
    /// that the copies are made.
    Copied,
}

/// The messages of a folder that changed since a known HIGHESTMODSEQ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Messages whose flags changed, and messages new since then, with
    /// their flags and size now.
    pub changed: Vec<MessageInfo>,
    /// UIDs expunged since then (QRESYNC VANISHED), as ranges: a server
    /// may name UIDs that never existed. Only complete when
    /// `vanished_known`; otherwise the caller must find expunges itself.
    pub vanished: Vec<std::ops::RangeInclusive<u32>>,
    pub vanished_known: bool,
}

/// A folder as a store lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FolderInfo {
    /// The name in mailferry's canonical form: UTF-8, `/` between levels,
    /// `INBOX` for the inbox.
    pub name: String,
    /// SPECIAL-USE role (`\Sent`, `\Trash`, ...), when the server gives one.
    pub special_use: Option<String>,
    /// Why a channel syncs this folder only when its `folders:` name it
    /// (see [`FolderInfo::only_if_named`]), in words; `None` for an
    /// ordinary folder.
    pub only_if_named: Option<String>,
}

impl FolderInfo {
    /// An ordinary folder.
    pub fn new(name: impl Into<String>) -> FolderInfo {
        FolderInfo {
            name: name.into(),
            special_use: None,
            only_if_named: None,
        }
    }

    /// Why the folder is left out unless named: it lies outside the
    /// personal namespace (other users', shared), or it is a `\All`
    /// folder (Gmail's All Mail), a second copy of every message of every
    /// other folder.
    pub fn only_if_named(
        name: String,
        special_use: Option<String>,
        outside_namespace: bool,
    ) -> FolderInfo {
        let reason = if outside_namespace {
            Some("it lies outside the personal namespace".to_string())
        } else if special_use
            .as_deref()
            .is_some_and(|role| role.eq_ignore_ascii_case("\\All"))
        {
            Some(
                "it is marked \\All (like Gmail's All Mail: a second copy of every message)"
                    .to_string(),
            )
        } else {
            None
        };
        FolderInfo {
            name,
            special_use,
            only_if_named: reason,
        }
    }
}

/// One side of a sync. A store has at most one folder open at a time; the
/// message operations act on it.
///
/// Contract for every method: an `Err` means the operation may or may not
/// have taken effect (the connection may have dropped after the server
/// acted), so callers journal their intent first and check afterwards.
pub trait Store: Send {
    /// A short description for messages, e.g. `imap://alice@host`.
    fn describe(&self) -> String;

    /// Lists every folder the store holds.
    fn list_folders(&mut self) -> Result<Vec<FolderInfo>>;

    /// How the store itself spells a folder, where that differs from
    /// mailferry's name (IMAP: modified UTF-7, the server's delimiter and
    /// namespace prefix). For `mailferry list`.
    fn native_name(&self, _name: &str) -> Option<String> {
        None
    }

    /// Where the store keeps the user's own folders, in words (IMAP: the
    /// personal namespace's prefix and delimiter and where they came
    /// from), for `check` and `list`; `None` where there is nothing to say.
    fn namespace_in_use(&mut self) -> Result<Option<String>> {
        Ok(None)
    }

    /// Creates a folder (and any missing parents). Creating one that exists
    /// is not an error.
    fn create_folder(&mut self, name: &str) -> Result<()>;

    /// Deletes a folder and every message in it. The engine asks for this
    /// only when the other side deleted the folder and this side holds no
    /// message the other side never saw.
    fn delete_folder(&mut self, name: &str) -> Result<()> {
        anyhow::bail!(
            "{} cannot delete folders (asked to delete {name})",
            self.describe()
        )
    }

    /// Renames a folder, with the folders below it.
    fn rename_folder(&mut self, from: &str, to: &str) -> Result<()> {
        anyhow::bail!(
            "{} cannot rename folders (asked to rename {from} to {to})",
            self.describe()
        )
    }

    /// Opens a folder for the message operations below.
    fn open_folder(&mut self, name: &str) -> Result<FolderStatus>;

    /// Moves the open folder into a new store of the same kind, which can
    /// carry out the rest of that folder's changes on another thread; this
    /// store is left with no folder open. `None` when the store cannot (a
    /// server connection cannot be split).
    fn detach_open(&mut self) -> Option<Box<dyn Store>> {
        None
    }

    /// Its incremental listing (IMAP CONDSTORE/QRESYNC), if it has one.
    fn incremental(&mut self) -> Option<&mut dyn IncrementalListing> {
        None
    }

    /// Its group commit of appends, if it has one.
    fn staging(&mut self) -> Option<&mut dyn Staging> {
        None
    }

    /// Its opening of folders ahead of their turn, if it has one.
    fn opening_ahead(&mut self) -> Option<&mut dyn OpenAhead> {
        None
    }

    /// Its folder versions, if it can tell cheaply whether a folder
    /// changed.
    fn versions(&mut self) -> Option<&mut dyn FolderVersions> {
        None
    }

    /// Its trash folder, if it can move messages into one.
    fn trash(&mut self) -> Option<&mut dyn Trash> {
        None
    }

    /// Its taking of the other side's messages into its trash folder, if
    /// it can.
    fn trash_uploads(&mut self) -> Option<&mut dyn TrashUploads> {
        None
    }

    /// Lists every message of the open folder.
    fn list_messages(&mut self) -> Result<Vec<MessageInfo>>;

    /// Fetches the given messages, handing each to `sink` as it arrives, so
    /// a store can fetch in batches without holding them all in memory.
    /// Ids that no longer exist are skipped silently; the caller notices
    /// they were never handed over.
    fn fetch_messages(
        &mut self,
        ids: &[MsgId],
        sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()>;

    /// The content identity of each message (see [`crate::mail::identity`]),
    /// for pairing messages that both sides hold. Ids that no longer exist
    /// are skipped. This default reads every message whole, which suits a
    /// local store; a remote store overrides it to decide from headers.
    fn identities(&mut self, ids: &[MsgId]) -> Result<Vec<(MsgId, Identity)>> {
        let mut found = Vec::with_capacity(ids.len());
        self.fetch_messages(ids, &mut |id, message| {
            found.push((id.clone(), Identity::of(&message.content)));
            Ok(())
        })?;
        Ok(found)
    }

    /// Returns a ticket to journal before [`Store::append`], from which
    /// [`Store::find_appended`] can find the message again if the append's
    /// outcome is lost (a crash, a dropped connection, no UIDPLUS).
    fn prepare_append(&mut self) -> Result<String>;

    /// Stores a new message in the open folder. Returns its id when the
    /// store can tell it (Maildir always, IMAP with UIDPLUS).
    fn append(&mut self, ticket: &str, message: &Message) -> Result<Option<MsgId>>;

    /// Finds messages stored since `ticket` was issued whose content has
    /// this size and SHA-256 digest (hex). Used after an append whose id is
    /// unknown; the caller discards ids it has already paired.
    fn find_appended(&mut self, ticket: &str, size: u64, sha256: &str) -> Result<Vec<MsgId>>;

    /// Finds `message`, just stored by [`Store::append`] (which could not
    /// name it) in this session: like [`Store::find_appended`], but a
    /// store may first make its own recent appends visible (IMAP: a NOOP,
    /// as some servers show an appended message to a search only after
    /// one), find the message by its Message-ID rather than by reading
    /// bodies, and report a copy whose bytes it changed (same Message-ID
    /// and size, another hash: a server rewriting header bytes).
    fn find_stored(&mut self, ticket: &str, message: &Message) -> Result<Vec<FoundCopy>> {
        let (size, sha256) = self.held_size_and_hash(&message.content);
        Ok(self
            .find_appended(ticket, size, &sha256)?
            .into_iter()
            .map(|id| FoundCopy {
                id,
                identical: true,
            })
            .collect())
    }

    /// A message's bytes as this store will hold them once stored (an IMAP
    /// server ends every line with CRLF): what its listed size and fetched
    /// content are compared with.
    fn held_form<'a>(&self, content: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        std::borrow::Cow::Borrowed(content)
    }

    /// The size and SHA-256 of [`Store::held_form`] of `content`: what a
    /// copy is found again by. A store may tell them without making the
    /// held form (a Maildir, for a message of any size).
    fn held_size_and_hash(&self, content: &[u8]) -> (u64, String) {
        let held = self.held_form(content);
        (held.len() as u64, sha256_hex(&held))
    }

    /// Whether an append whose outcome was lost may still be stored after
    /// [`Store::find_appended`] did not find it: a server finishing what a
    /// dead session sent. `false` for stores this process writes itself
    /// (Maildir): once the writer is gone (the channel lock says it is),
    /// what is not there never will be.
    fn appends_may_land_late(&self) -> bool {
        false
    }

    /// Whether message `id` may have been stored after `ticket` was issued
    /// by [`Store::prepare_append`] (IMAP: its UID is at least the ticket's
    /// UIDNEXT). `true` when the store cannot tell.
    fn stored_since(&self, _ticket: &str, _id: &str) -> bool {
        true
    }

    /// Removes copies that mailferry itself made twice (see
    /// the engine's `late` module). Like [`Store::delete_messages`], except that
    /// a store which could only remove them together with other messages
    /// (IMAP without UIDPLUS while other messages are flagged deleted)
    /// flags them deleted and leaves them for an expunge.
    fn remove_own_copies(&mut self, ids: &[MsgId]) -> Result<Removed> {
        self.delete_messages(ids).map(|()| Removed::Expunged)
    }

    /// Adds and removes flags on one message.
    fn set_flags(&mut self, id: &MsgId, add: Flags, remove: Flags) -> Result<()>;

    /// Makes the same flag change on several messages. An `Err` means the
    /// change may have reached some of them and not others.
    fn set_flags_many(&mut self, ids: &[MsgId], add: Flags, remove: Flags) -> Result<()> {
        for id in ids {
            self.set_flags(id, add, remove)?;
        }
        Ok(())
    }

    /// Removes messages for good (IMAP: flag \Deleted and expunge just
    /// these UIDs where the server allows it).
    fn delete_messages(&mut self, ids: &[MsgId]) -> Result<()>;

    /// The ids of `listing` (the open folder's messages) that arrived
    /// before `day` began: IMAP INTERNALDATE (by its date, as SEARCH
    /// BEFORE compares), a Maildir file's mtime (UTC). `None` when the
    /// store cannot tell arrival dates.
    fn arrived_before(
        &mut self,
        _day: chrono::NaiveDate,
        _listing: &[MessageInfo],
    ) -> Result<Option<std::collections::HashSet<MsgId>>> {
        Ok(None)
    }

    /// Drops the connection and makes a new one, after a failure that left
    /// it unusable (see [`error::StoreErrorKind::connection_unusable`]). No
    /// folder is open afterwards. Stores without a connection have nothing
    /// to do.
    fn reconnect(&mut self) -> Result<()> {
        Ok(())
    }

    /// Problems met since the last call that did not stop the operation
    /// (an unreadable file, a name that could not be parsed), one line each.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Whether the store can only be read (POP3): nothing is ever stored,
    /// flagged or deleted there because of the other side.
    fn source_only(&self) -> bool {
        false
    }
}
