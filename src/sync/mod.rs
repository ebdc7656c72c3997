//! The sync of one channel, in the four stages of a file synchronizer:
//! detect (list both sides, load the state), plan (pure), execute (through
//! the store trait, journaling each step), commit (save the state).
//!
//! Invariants, in plain words:
//! - The state changes only for what was done successfully: a record is
//!   added once a copy is safely stored, changed once a flag change is
//!   applied, removed once a deletion is done.
//! - Every deletion follows from the state: a message is deleted on one
//!   side only because the record says both sides had it and the other
//!   side no longer does (or it is flagged deleted where expunge is on).
//! - Outside the date window (`max_age`, `since`; see [`window`]) nothing
//!   is done to a message on either side: a message that ages out, or is
//!   deleted on one side once out of the window, is never deleted on the
//!   other. `prune_local` removes a near copy only while the far side
//!   holds the message, then makes its record a tombstone, so the missing
//!   copy is never propagated as a deletion (a run killed in between
//!   leaves the record paired with the copy gone: out of the window, that
//!   is left alone too).
//! - A missing state means neither side had been synced: nothing is
//!   deleted on a first run.
//! - Every message is held once on each side: a copy is never made twice
//!   as a separate message, or if a second copy reaches a server, the sync
//!   that sees both removes the one it made (below).
//! - Two messages are one message only if their content is: the same
//!   Message-ID and size decide where they occur once on each side; where
//!   they occur more than once, the bytes are compared (line ends aside),
//!   and what is still ambiguous is neither paired, copied nor deleted
//!   ([`pairing`]).
//! - A side whose ids were renumbered (a new UIDVALIDITY, POP3 UIDLs that
//!   changed) keeps its records: only its ids are established again, by
//!   content, so the flags of the last sync stay the baseline of the
//!   three-way merge ([`renumbered`]).
//! - A folder's state follows the folder through a rename (of it or of a
//!   folder above it); the rename is recorded before it is made, so a run
//!   killed half-way finishes it instead of pairing afresh (see
//!   [`renames`]).
//! - A message that vanishes between listing and fetching (another client
//!   expunged it: IMAP `BODY[] NIL` or `[EXPUNGEISSUED]`, or no answer for
//!   it; POP3 `-ERR` on RETR) is not copied and nothing is recorded of it,
//!   so no deletion can follow from it; the run notes it and goes on, and
//!   the next run sees it gone. Concurrent clients are normal, not errors.
//! - A signal (Ctrl-C, SIGTERM; see [`crate::interrupt`]) stops a run only
//!   between two journal steps and before a folder is begun: what it
//!   leaves is what a crash at that step would leave (every case below),
//!   with the state saved, so the next run goes on from there.
//!
//! - A message moved into a trash folder (`trash:`) is there exactly once
//!   and out of its folder, whatever the moment of a crash: `trashing` is
//!   journaled before the move (with the trash's UIDNEXT where the move is
//!   a COPY then an expunge), `trashcopied` once such a copy is made, and
//!   `trashed` once the message left its folder. The next run finishes an
//!   entry before it lists anything ([`exec::resolve_trashing`]): a one-step
//!   move (MOVE, a Maildir rename) left the message in one place, so one
//!   still in its folder is simply moved again; after a COPY the trash is
//!   searched byte for byte since the ticket, and only the removal is left
//!   if the copy is there. A COPY of a dead session that the server
//!   carries out after the next run looked is the one window left (as for
//!   uploads, below, but not watched for): it would leave a second copy in
//!   the trash, never a lost message. An upload into the other side's
//!   trash (`remote_new`, for a message that side never had) goes the same
//!   way: `trashing` with that trash's UIDNEXT before the APPEND,
//!   `trashcopied` after it, the deletion at the source only then.
//!
//! Why a copy is never doubled, or heals itself, whatever the moment of a
//! crash (kill -9, Ctrl-C, a dropped connection) and of the next run. A
//! copy goes: (1) `pending` is journaled with a ticket (IMAP: the folder's
//! UIDNEXT before the upload; Maildir: the unique name it will get) and the
//! content's size and SHA-256; (2) the message is sent (one APPEND, or a
//! MULTIAPPEND batch of up to 64); (3) the target stores it; (4) the run
//! learns its id (APPENDUID; a search without UIDPLUS, after a NOOP, by
//! Message-ID); (5) `pair`, then `resolved`, are journaled. The next run
//! settles every pending copy before it lists anything
//! ([`exec::resolve_pending`]):
//! - killed before (1): the source is in no record and no copy exists: it
//!   is copied once by the next run.
//! - killed in (2) before the target had the whole command: a server
//!   stores nothing of an APPEND whose literal never ended (MULTIAPPEND is
//!   all or nothing); a Maildir has at most a tmp/ file. The pending copy
//!   is not found (the tmp/ file is removed), the message is copied again:
//!   once.
//! - refused in (2) (a server's NO to the APPEND: the message is too large
//!   for it, the quota is used up): the server stored nothing of it, so
//!   `resolved` is journaled at once; the error names the message and
//!   gives the server's words, and its source, in no record, is copied
//!   again by the next run (once the server takes it).
//! - killed after (3), or (4): found by its ticket, size and hash (or, if
//!   the server changed its line ends or header bytes, paired by content
//!   identity before the plan, [`pairing`]): paired, not copied again.
//! - killed after `pair` in (5): the source is in a record; the pending
//!   entry is only cleared.
//! - killed after the server had the whole command but before it stored
//!   it: the server stores it at some later moment T, which the next run
//!   cannot see coming. A Maildir has no such moment: this process writes
//!   it, and the next run only starts once the channel lock is free, i.e.
//!   once this process is gone; so "not found" there is final. A server
//!   (a store whose [`crate::store::Store::appends_may_land_late`]) keeps
//!   the pending copy as an *unconfirmed upload* (held size and hash), and:
//!   - T before the next run looks: found, paired (as above);
//!   - T between its look and its listing: listed, in no record, as is its
//!     source: paired by content identity (or by [`late`]), not uploaded;
//!   - T after its listing: the message was uploaded again, so the server
//!     holds two copies for a while. Every sync checks, before it plans,
//!     each listed message in no record with the size of an unconfirmed
//!     upload to that side, stored since its ticket: one whose bytes are
//!     the upload's, while the upload's source is paired, is removed from
//!     the server ([`late`]; journaled like any deletion; the entry is
//!     accounted for only once the removal is done, so a crash there
//!     repeats the check). It is never downloaded. If the source was never
//!     paired again, the late copy is paired with it instead of being
//!     uploaded.
//!   - two or more runs killed in a row, each after its batch was whole
//!     on the server, and all batches landing late: the server holds the
//!     message several times byte for byte, its source in no record.
//!     Content identity can only call that ambiguous and leave every copy
//!     (for good: each sync would find the same). So late copies are
//!     settled *before* content identity pairs anything: the first copy
//!     is paired with its source by the first entry, each further one is
//!     removed by the next, and content identity only sees what is left.
//!
//!   A dead session's commit lands within seconds, and an entry expires
//!   only at a sync whose listing is taken 7 days after it was made (after
//!   that listing was checked), so the late copy is in a listing the entry
//!   is checked against. Each entry accounts for one copy, so a message
//!   uploaded by N killed runs is checked against N entries. Only mailferry's
//!   own uploads are removed: a copy must match a journaled upload byte for
//!   byte, have been stored after its ticket, and its source must be paired
//!   with another message; a look-alike (same size, other bytes) is new mail.
//!   Without UIDPLUS, where expunging would take other messages flagged
//!   deleted along, the late copy is flagged deleted and left to an expunge.

pub mod channel;
pub mod detect;
pub mod exec;
pub mod folder;
pub mod folders;
mod group_commit;
pub mod incremental;
pub mod late;
pub mod ledger;
pub mod pairing;
pub mod patterns;
pub mod plan;
pub mod pop3;
pub mod progress;
pub mod renames;
pub mod renumbered;
pub mod retry;
pub mod settled;
pub mod split_fetch;
pub mod window;
pub mod workers;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod group_commit_tests;
