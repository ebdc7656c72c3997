//! The journal: every change to a folder's state during a sync, appended as
//! one line before the state file is rewritten, and replayed on load after a
//! crash. [`apply`] is the one place where a state changes, for the live
//! state and for the replay alike, so a replay ends where the run was.
//!
//! The header names the generation of the state file the journal applies
//! to (see the state file's module). A journal is replayed only onto that
//! generation: after a save the state has a new generation, so a journal
//! that outlived the save (a crash before its removal) is never replayed
//! twice, and the next run's journal replaces it.
//!
//! ```text
//! mailferry-journal 1 <generation>
//! pair <far> <near> <flags>
//! flags <far> <near> <flags>
//! unpair <far> <near>
//! tombstone <far> <near>        (exactly one of them is `-`)
//! pending <target> <source> <ticket> <size> <sha256> <flags>
//! resolved <target> <source>
//! unconfirmed <target> <source> <ticket> <size> <sha256> <flags> <since>
//! accounted <target> <source> <ticket>
//! trashing <side> <id> <trash-folder> <ticket> moving|uploading
//! trashcopied <side> <id>
//! trashed <side> <id>
//! uidvalidity <side> <n|->
//! modseq far <n|->
//! settled <far-version> <near-version> <policy> <listed-as-recorded>   (or `settled -`)
//! commit
//! ```
//!
//! A run that changed little in a big folder ends by appending its settled
//! versions and `commit` to the journal and making it durable, instead of
//! rewriting the whole state file: the cost of a small change then does
//! not grow with the folder. The journal, ending with `commit`, stays; the
//! next run replays it on load and appends after it. Once it would cost
//! more to replay than the state costs to rewrite ([`worth_keeping`]), the
//! run's end rewrites the state and removes the journal as before. A
//! journal whose last line is not `commit` is one of a run that stopped
//! early (see [`super::StateFile::journal_interrupted`]).

use super::file::{
    self, check_header, expect_count, format_id, format_optional_number, format_pending,
    format_record, format_trashing, format_unconfirmed, line_text, malformed, parse_flags,
    parse_id, parse_modseq, parse_number, parse_pending, parse_record, parse_required, parse_side,
    parse_trashing, parse_uidvalidity, parse_unconfirmed, split_fields, split_lines, StateError,
    PAIR_USAGE, PENDING_USAGE, TRASHING_USAGE, UNCONFIRMED_USAGE,
};
use super::{FolderState, PendingCopy, Record, Settled, Trashing, UnconfirmedUpload};
use crate::mail::{Flags, MsgId, Pair, Side};
use anyhow::Context;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const JOURNAL_MAGIC: &str = "mailferry-journal";
const JOURNAL_VERSION: u32 = 1;

const FLAGS_USAGE: &str = "flags FAR NEAR FLAGS";
const UNPAIR_USAGE: &str = "unpair FAR NEAR";
const TOMBSTONE_USAGE: &str = "tombstone FAR NEAR";
const RESOLVED_USAGE: &str = "resolved TARGET SOURCE";
const ACCOUNTED_USAGE: &str = "accounted TARGET SOURCE TICKET";
const TRASHCOPIED_USAGE: &str = "trashcopied SIDE ID";
const TRASHED_USAGE: &str = "trashed SIDE ID";
const UIDVALIDITY_USAGE: &str = "uidvalidity SIDE NUMBER-OR-DASH";
const MODSEQ_USAGE: &str = "modseq far NUMBER-OR-DASH";
const SETTLED_ENTRY_USAGE: &str =
    "settled FAR-VERSION NEAR-VERSION POLICY none|far|near|both, or settled -";

/// One change to a folder's state. Records are named by their ids exactly
/// as they are (a tombstone by its one id and `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    /// Adds a record, replacing any record that has its far id or its near
    /// id, so an id is never paired twice.
    Pair(Record),
    /// Sets the flags of the record with exactly these ids.
    Flags {
        ids: Pair<Option<MsgId>>,
        flags: Flags,
    },
    /// Removes the record with exactly these ids.
    Unpair { ids: Pair<Option<MsgId>> },
    /// The message is gone from side `gone`: the record whose other-side id
    /// is `kept_id` forgets its `gone` id and becomes a tombstone.
    Tombstone { gone: Side, kept_id: MsgId },
    /// Adds a copy in flight, replacing one to the same target from the
    /// same source.
    Pending(PendingCopy),
    /// Removes the pending copy from `source_id` to `target`.
    Resolved { target: Side, source_id: MsgId },
    /// Adds an upload that was not found on its target.
    Unconfirmed(UnconfirmedUpload),
    /// Removes one unconfirmed upload of `source_id` to `target` with this
    /// ticket: its late copy was dealt with, or it expired.
    Accounted {
        target: Side,
        source_id: MsgId,
        ticket: String,
    },
    /// Adds a message on its way into a trash folder, replacing one with
    /// the same side and id.
    Trashing(Trashing),
    /// The trash folder holds the message's copy; the message itself is
    /// still to be removed from its folder.
    TrashCopied { side: Side, id: MsgId },
    /// The message is in the trash and out of its folder (or gone): the
    /// entry is removed.
    Trashed { side: Side, id: MsgId },
    /// Sets a side's UIDVALIDITY.
    UidValidity { side: Side, value: Option<u32> },
    /// Sets the far side's HIGHESTMODSEQ.
    FarHighestModseq(Option<u64>),
    /// Sets the settled versions (see the engine's `settled` module) a run
    /// committed by its journal ended with.
    Settled(Option<Settled>),
    /// The run that wrote the entries before it finished; changes nothing.
    Commit,
}

/// Whether a journal of `entries` lines is still worth keeping on a state
/// of `records` records rather than folded into a rewritten state file:
/// every load replays it, and a line of journal costs about what a record
/// line costs to read, so a journal up to a sixteenth of the state keeps
/// loads within a few percent of a fresh state's.
pub fn worth_keeping(entries: usize, records: usize) -> bool {
    entries.saturating_mul(16) <= records
}

/// Changes the state as the entry says. Entries naming a record or pending
/// copy that does not exist change nothing; a record without any id is not
/// added (it could never be found again).
pub fn apply(state: &mut FolderState, entry: &JournalEntry) {
    match entry {
        JournalEntry::Pair(record) => state.records.pair(record.clone()),
        JournalEntry::Flags { ids, flags } => {
            state.records.set_flags(ids, *flags);
        }
        JournalEntry::Unpair { ids } => state.records.unpair(ids),
        JournalEntry::Tombstone { gone, kept_id } => state.records.tombstone(*gone, kept_id),
        JournalEntry::Pending(copy) => {
            let same =
                |old: &PendingCopy| old.target == copy.target && old.source_id == copy.source_id;
            match state.pending.iter_mut().find(|old| same(old)) {
                Some(old) => *old = copy.clone(),
                None => state.pending.push(copy.clone()),
            }
        }
        JournalEntry::Resolved { target, source_id } => state
            .pending
            .retain(|old| !(old.target == *target && old.source_id == *source_id)),
        JournalEntry::Unconfirmed(upload) => state.unconfirmed.push(upload.clone()),
        JournalEntry::Accounted {
            target,
            source_id,
            ticket,
        } => {
            // One entry only: the same upload may be listed twice, each
            // accounting for one copy.
            if let Some(index) = state
                .unconfirmed
                .iter()
                .position(|upload| upload.same_upload(*target, source_id, ticket))
            {
                state.unconfirmed.remove(index);
            }
        }
        JournalEntry::Trashing(trashing) => {
            let same = |old: &Trashing| old.side == trashing.side && old.id == trashing.id;
            match state.trashing.iter_mut().find(|old| same(old)) {
                Some(old) => *old = trashing.clone(),
                None => state.trashing.push(trashing.clone()),
            }
        }
        JournalEntry::TrashCopied { side, id } => {
            for trashing in &mut state.trashing {
                if trashing.side == *side && trashing.id == *id {
                    trashing.copied = true;
                }
            }
        }
        JournalEntry::Trashed { side, id } => state
            .trashing
            .retain(|old| !(old.side == *side && old.id == *id)),
        JournalEntry::UidValidity { side, value } => state.uidvalidity[*side] = *value,
        JournalEntry::FarHighestModseq(value) => state.far_highest_modseq = *value,
        JournalEntry::Settled(settled) => state.settled = settled.clone(),
        JournalEntry::Commit => {}
    }
}

fn format_ids(ids: &Pair<Option<MsgId>>) -> String {
    format!(
        "{} {}",
        format_id(ids[Side::Far].as_deref()),
        format_id(ids[Side::Near].as_deref())
    )
}

/// The entry as its journal line, without the newline.
impl fmt::Display for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalEntry::Pair(record) => f.write_str(&format_record(record)),
            JournalEntry::Flags { ids, flags } => write!(f, "flags {} {flags}", format_ids(ids)),
            JournalEntry::Unpair { ids } => write!(f, "unpair {}", format_ids(ids)),
            JournalEntry::Tombstone { gone, kept_id } => {
                let mut ids = Pair::new(None, None);
                ids[gone.other()] = Some(kept_id.clone());
                write!(f, "tombstone {}", format_ids(&ids))
            }
            JournalEntry::Pending(copy) => f.write_str(&format_pending(copy)),
            JournalEntry::Resolved { target, source_id } => {
                write!(f, "resolved {target} {}", file::escape(source_id))
            }
            JournalEntry::Unconfirmed(upload) => f.write_str(&format_unconfirmed(upload)),
            JournalEntry::Accounted {
                target,
                source_id,
                ticket,
            } => write!(
                f,
                "accounted {target} {} {}",
                file::escape(source_id),
                file::escape(ticket)
            ),
            JournalEntry::Trashing(trashing) => f.write_str(&format_trashing(trashing)),
            JournalEntry::TrashCopied { side, id } => {
                write!(f, "trashcopied {side} {}", file::escape(id))
            }
            JournalEntry::Trashed { side, id } => {
                write!(f, "trashed {side} {}", file::escape(id))
            }
            JournalEntry::UidValidity { side, value } => {
                write!(f, "uidvalidity {side} {}", format_optional_number(*value))
            }
            JournalEntry::FarHighestModseq(value) => {
                write!(f, "modseq far {}", format_optional_number(*value))
            }
            JournalEntry::Settled(Some(settled)) => {
                write!(f, "settled {}", file::format_settled(settled))
            }
            JournalEntry::Settled(None) => f.write_str("settled -"),
            JournalEntry::Commit => f.write_str("commit"),
        }
    }
}

impl JournalEntry {
    /// Parses one journal line (without its newline).
    pub fn parse(line: &str) -> Result<JournalEntry, String> {
        let fields = split_fields(line)?;
        let (keyword, args) = fields
            .split_first()
            .ok_or_else(|| "empty line".to_string())?;
        let (usage, parsed) = match *keyword {
            "pair" => (PAIR_USAGE, parse_record(args).map(JournalEntry::Pair)),
            "flags" => (FLAGS_USAGE, parse_flags_entry(args)),
            "unpair" => (
                UNPAIR_USAGE,
                parse_ids(args).map(|ids| JournalEntry::Unpair { ids }),
            ),
            "tombstone" => (TOMBSTONE_USAGE, parse_tombstone(args)),
            "pending" => (
                PENDING_USAGE,
                parse_pending(args).map(JournalEntry::Pending),
            ),
            "resolved" => (RESOLVED_USAGE, parse_resolved(args)),
            "unconfirmed" => (
                UNCONFIRMED_USAGE,
                parse_unconfirmed(args).map(JournalEntry::Unconfirmed),
            ),
            "accounted" => (ACCOUNTED_USAGE, parse_accounted(args)),
            "trashing" => (
                TRASHING_USAGE,
                parse_trashing(args).map(JournalEntry::Trashing),
            ),
            "trashcopied" => (
                TRASHCOPIED_USAGE,
                parse_side_and_id(args).map(|(side, id)| JournalEntry::TrashCopied { side, id }),
            ),
            "trashed" => (
                TRASHED_USAGE,
                parse_side_and_id(args).map(|(side, id)| JournalEntry::Trashed { side, id }),
            ),
            "uidvalidity" => (
                UIDVALIDITY_USAGE,
                parse_uidvalidity(args)
                    .map(|(side, value)| JournalEntry::UidValidity { side, value }),
            ),
            "modseq" => (
                MODSEQ_USAGE,
                parse_modseq(args).map(JournalEntry::FarHighestModseq),
            ),
            "settled" => (SETTLED_ENTRY_USAGE, parse_settled_entry(args)),
            "commit" => (
                "commit",
                expect_count::<0>(args).map(|[]| JournalEntry::Commit),
            ),
            other => {
                return Err(format!(
                    "unknown keyword `{}`: expected pair, flags, unpair, tombstone, pending, \
                     resolved, unconfirmed, accounted, trashing, trashcopied, trashed, \
                     uidvalidity, modseq, settled or commit",
                    other.escape_debug()
                ))
            }
        };
        parsed.map_err(|detail| malformed(usage, &detail))
    }
}

fn parse_settled_entry(args: &[&str]) -> Result<JournalEntry, String> {
    match args {
        ["-"] => Ok(JournalEntry::Settled(None)),
        _ => file::parse_settled(args).map(|settled| JournalEntry::Settled(Some(settled))),
    }
}

fn parse_ids(args: &[&str]) -> Result<Pair<Option<MsgId>>, String> {
    let [far, near] = expect_count(args)?;
    Ok(Pair::new(parse_id(far, "FAR")?, parse_id(near, "NEAR")?))
}

fn parse_flags_entry(args: &[&str]) -> Result<JournalEntry, String> {
    let [far, near, flags] = expect_count(args)?;
    Ok(JournalEntry::Flags {
        ids: parse_ids(&[far, near])?,
        flags: parse_flags(flags)?,
    })
}

fn parse_tombstone(args: &[&str]) -> Result<JournalEntry, String> {
    match parse_ids(args)?.0 {
        [Some(kept_id), None] => Ok(JournalEntry::Tombstone {
            gone: Side::Near,
            kept_id,
        }),
        [None, Some(kept_id)] => Ok(JournalEntry::Tombstone {
            gone: Side::Far,
            kept_id,
        }),
        _ => Err("exactly one of FAR and NEAR must be `-`".to_string()),
    }
}

fn parse_resolved(args: &[&str]) -> Result<JournalEntry, String> {
    let [target, source] = expect_count(args)?;
    Ok(JournalEntry::Resolved {
        target: parse_side(target)?,
        source_id: parse_required(source, "SOURCE")?,
    })
}

fn parse_side_and_id(args: &[&str]) -> Result<(Side, MsgId), String> {
    let [side, id] = expect_count(args)?;
    Ok((parse_side(side)?, parse_required(id, "ID")?))
}

fn parse_accounted(args: &[&str]) -> Result<JournalEntry, String> {
    let [target, source, ticket] = expect_count(args)?;
    Ok(JournalEntry::Accounted {
        target: parse_side(target)?,
        source_id: parse_required(source, "SOURCE")?,
        ticket: parse_required(ticket, "TICKET")?,
    })
}

/// The journal's header line for a state of `generation`, with its newline.
fn header(generation: u64) -> String {
    format!("{JOURNAL_MAGIC} {JOURNAL_VERSION} {generation}\n")
}

/// The header as error messages describe it.
fn expected_header() -> String {
    format!("{JOURNAL_MAGIC} {JOURNAL_VERSION} GENERATION")
}

/// Whether a journal holds nothing but (part of) a header, of whatever
/// generation: a crash while creating it. It has no entries.
fn is_torn_header(bytes: &[u8]) -> bool {
    if bytes.contains(&b'\n') {
        return false;
    }
    let prefix = format!("{JOURNAL_MAGIC} {JOURNAL_VERSION} ");
    match bytes.strip_prefix(prefix.as_bytes()) {
        Some(generation) => generation.iter().all(u8::is_ascii_digit),
        None => prefix.as_bytes().starts_with(bytes),
    }
}

/// Parses a header line `mailferry-journal 1 GENERATION` into its
/// generation.
fn parse_header(line: &str) -> Result<u64, String> {
    let expected = expected_header();
    // The generation follows the second space; without one, check_header
    // still says what is wrong with the magic or the version.
    let (magic_and_version, generation) = match line.match_indices(' ').nth(1) {
        Some((space, _)) => (&line[..space], Some(&line[space + 1..])),
        None => (line, None),
    };
    check_header(
        magic_and_version,
        JOURNAL_MAGIC,
        JOURNAL_VERSION,
        "journal",
        &expected,
    )?;
    let generation =
        generation.ok_or_else(|| format!("the header has no generation: expected `{expected}`"))?;
    parse_number(generation, "GENERATION")
        .map_err(|detail| format!("{detail}: expected header `{expected}`"))
}

/// The generation named by the journal's first line; a bad header is an
/// error naming line 1.
fn journal_generation(path: &Path, lines: &[&[u8]]) -> Result<u64, StateError> {
    let Some(header) = lines.first() else {
        return Err(StateError::at_line(
            path,
            1,
            format!(
                "not a mailferry journal: expected header `{}`",
                expected_header()
            ),
        ));
    };
    line_text(header)
        .and_then(parse_header)
        .map_err(|message| StateError::at_line(path, 1, message))
}

/// Parses a journal into the entries to replay onto the state of
/// `generation`: none if its header names another generation (it is stale,
/// already in the state; its lines are not even read). A torn last line (no
/// newline: the run died while writing it) is dropped; any other bad line
/// is an error naming it.
pub(super) fn parse_journal(
    path: &Path,
    bytes: &[u8],
    generation: u64,
) -> Result<Vec<JournalEntry>, StateError> {
    if is_torn_header(bytes) {
        return Ok(Vec::new());
    }
    let (lines, _torn) = split_lines(bytes);
    if journal_generation(path, &lines)? != generation {
        return Ok(Vec::new());
    }
    lines[1..]
        .iter()
        .enumerate()
        .map(|(index, line)| {
            line_text(line)
                .and_then(JournalEntry::parse)
                .map_err(|message| StateError::at_line(path, index + 2, message))
        })
        .collect()
}

/// A journal open for appending.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// The entries (lines after the header) it holds, whole ones only.
    entries: usize,
    /// Whether the directory entry of the journal is known durable.
    dir_synced: bool,
}

impl Journal {
    /// Opens the journal of the state of `generation`. One of that
    /// generation is continued, after cutting off a torn last line so that
    /// the next entry starts on a line of its own. One that is new, empty,
    /// or of another generation (stale, already in the state) is emptied and
    /// given a fresh header.
    pub(super) fn open(path: PathBuf, generation: u64) -> anyhow::Result<Journal> {
        file::create_private_dir(file::parent_dir(&path))?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open journal {}", path.display()))?;
        let mut existing = Vec::new();
        file.read_to_end(&mut existing)
            .with_context(|| format!("cannot read journal {}", path.display()))?;
        let (lines, torn) = split_lines(&existing);
        // A journal whose header cannot be read is an error, never thrown
        // away: it may hold the only record of what the last run did.
        let continued =
            !is_torn_header(&existing) && journal_generation(&path, &lines)? == generation;
        let entries = if continued { lines.len() - 1 } else { 0 };
        if continued {
            if let Some(torn) = torn {
                let whole = (existing.len() - torn.len()) as u64;
                file.set_len(whole).with_context(|| {
                    format!(
                        "cannot cut the torn last line of journal {}",
                        path.display()
                    )
                })?;
            }
        } else {
            file.set_len(0)
                .and_then(|()| file.write_all(header(generation).as_bytes()))
                .with_context(|| format!("cannot write journal {}", path.display()))?;
        }
        Ok(Journal {
            file,
            path,
            entries,
            // A fresh journal's directory entry may be new.
            dir_synced: continued,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and hands it to the OS in one write, so a kill -9
    /// right after loses nothing (a power loss may; see [`Journal::sync`]).
    pub fn append(&mut self, entry: &JournalEntry) -> anyhow::Result<()> {
        let line = format!("{entry}\n");
        self.file
            .write_all(line.as_bytes())
            .with_context(|| format!("cannot append to journal {}", self.path.display()))?;
        self.entries += 1;
        Ok(())
    }

    /// The entries it holds, from earlier runs of the same generation too.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// fsync: makes everything appended so far durable against power loss.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.file
            .sync_data()
            .with_context(|| format!("cannot sync journal {}", self.path.display()))?;
        if !self.dir_synced {
            file::sync_dir(file::parent_dir(&self.path))?;
            self.dir_synced = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateFile;
    use proptest::prelude::*;
    use std::fs;

    fn ids(far: Option<&str>, near: Option<&str>) -> Pair<Option<MsgId>> {
        Pair::new(far.map(String::from), near.map(String::from))
    }

    fn pair(far: Option<&str>, near: Option<&str>, flags: Flags) -> JournalEntry {
        JournalEntry::Pair(Record {
            ids: ids(far, near),
            flags,
        })
    }

    fn pending(target: Side, source: &str) -> JournalEntry {
        JournalEntry::Pending(PendingCopy {
            target,
            source_id: source.to_string(),
            ticket: "ticket".to_string(),
            size: 10,
            sha256: "ab".repeat(32),
            flags: Flags::SEEN,
        })
    }

    fn applied(entries: &[JournalEntry]) -> FolderState {
        let mut state = FolderState::default();
        for entry in entries {
            apply(&mut state, entry);
        }
        state
    }

    #[test]
    fn pair_replaces_every_record_sharing_an_id() {
        let state = applied(&[
            pair(Some("1"), Some("a"), Flags::EMPTY),
            pair(Some("2"), Some("b"), Flags::EMPTY),
            pair(Some("3"), Some("c"), Flags::EMPTY),
            pair(Some("1"), Some("b"), Flags::SEEN),
        ]);
        assert_eq!(
            state
                .records
                .iter()
                .map(|r| r.ids.clone())
                .collect::<Vec<_>>(),
            vec![ids(Some("1"), Some("b")), ids(Some("3"), Some("c"))]
        );
        assert_eq!(
            state.record_by_id(Side::Near, "b").unwrap().flags,
            Flags::SEEN
        );
    }

    #[test]
    fn tombstone_keeps_the_record_with_one_id() {
        let state = applied(&[
            pair(Some("1"), Some("a"), Flags::DELETED),
            JournalEntry::Tombstone {
                gone: Side::Near,
                kept_id: "1".to_string(),
            },
            JournalEntry::Flags {
                ids: ids(Some("1"), None),
                flags: Flags::SEEN,
            },
        ]);
        let records: Vec<&Record> = state.records.iter().collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].ids, ids(Some("1"), None));
        assert_eq!(records[0].flags, Flags::SEEN);
        assert!(state.record_by_id(Side::Near, "a").is_none());
    }

    #[test]
    fn unpair_and_flags_need_the_exact_ids() {
        let state = applied(&[
            pair(Some("1"), Some("a"), Flags::EMPTY),
            JournalEntry::Flags {
                ids: ids(Some("1"), None),
                flags: Flags::SEEN,
            },
            JournalEntry::Unpair {
                ids: ids(Some("1"), Some("other")),
            },
        ]);
        let records: Vec<&Record> = state.records.iter().collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].flags, Flags::EMPTY);
        let state = applied(&[
            pair(Some("1"), Some("a"), Flags::EMPTY),
            JournalEntry::Unpair {
                ids: ids(Some("1"), Some("a")),
            },
        ]);
        assert!(state.records.is_empty());
    }

    #[test]
    fn pending_is_replaced_by_a_retry_and_removed_when_resolved() {
        let state = applied(&[
            pending(Side::Near, "7"),
            pending(Side::Near, "7"),
            pending(Side::Far, "7"),
        ]);
        assert_eq!(state.pending.len(), 2);
        let state = applied(&[
            pending(Side::Near, "7"),
            pending(Side::Far, "7"),
            JournalEntry::Resolved {
                target: Side::Near,
                source_id: "7".to_string(),
            },
        ]);
        assert!(state.pending_copy(Side::Near, "7").is_none());
        assert!(state.pending_copy(Side::Far, "7").is_some());
    }

    fn unconfirmed(source: &str, ticket: &str) -> JournalEntry {
        JournalEntry::Unconfirmed(UnconfirmedUpload {
            target: Side::Far,
            source_id: source.to_string(),
            ticket: ticket.to_string(),
            size: 10,
            sha256: "abc".to_string(),
            flags: Flags::SEEN,
            since: 1_700_000_000,
        })
    }

    fn accounted(source: &str, ticket: &str) -> JournalEntry {
        JournalEntry::Accounted {
            target: Side::Far,
            source_id: source.to_string(),
            ticket: ticket.to_string(),
        }
    }

    #[test]
    fn each_accounted_entry_removes_one_unconfirmed_upload() {
        // The same upload found missing twice (its ticket reused by a
        // second attempt) accounts for two copies.
        let state = applied(&[
            unconfirmed("a", "10"),
            unconfirmed("a", "10"),
            unconfirmed("b", "10"),
            accounted("a", "10"),
        ]);
        let left: Vec<&str> = state
            .unconfirmed
            .iter()
            .map(|u| u.source_id.as_str())
            .collect();
        assert_eq!(left, ["a", "b"]);
        let state = applied(&[unconfirmed("a", "10"), accounted("a", "11")]);
        assert_eq!(
            state.unconfirmed.len(),
            1,
            "another ticket is another upload"
        );
    }

    /// The journal of a first pull of `n` messages, then a resync that
    /// changed the flags of every other one, deleted every fourth on the
    /// near side (kept on the far side as a tombstone) and every eighth
    /// on both.
    fn journal_of_a_folder(n: usize) -> Vec<JournalEntry> {
        let far = |i: usize| Some(format!("{}", i + 1));
        let near = |i: usize| Some(format!("1700000000.M{i}P1.host"));
        let mut entries: Vec<JournalEntry> = (0..n)
            .map(|i| {
                JournalEntry::Pair(Record {
                    ids: Pair::new(far(i), near(i)),
                    flags: Flags::EMPTY,
                })
            })
            .collect();
        for i in (0..n).step_by(2) {
            entries.push(JournalEntry::Flags {
                ids: Pair::new(far(i), near(i)),
                flags: Flags::SEEN,
            });
        }
        for i in (1..n).step_by(4) {
            entries.push(JournalEntry::Tombstone {
                gone: Side::Near,
                kept_id: far(i).unwrap(),
            });
        }
        for i in (3..n).step_by(8) {
            entries.push(JournalEntry::Unpair {
                ids: Pair::new(far(i), near(i)),
            });
        }
        entries
    }

    /// Counted, not timed: a replay that scanned the records for each
    /// entry would look at 100 times as many records for 10 times the
    /// entries.
    #[test]
    fn replaying_a_journal_looks_at_records_in_proportion_to_its_entries() {
        let visits_at = |n: usize| {
            let dir = tempfile::tempdir().unwrap();
            let file = journal_file(dir.path());
            let mut journal = file.journal(&FolderState::default()).unwrap();
            for entry in journal_of_a_folder(n) {
                journal.append(&entry).unwrap();
            }
            drop(journal);
            let mut loaded = FolderState::default();
            let visits = crate::state::visits::during(|| loaded = file.load().unwrap());
            assert_eq!(loaded.records.len(), n - n / 8);
            assert_eq!(
                loaded
                    .records
                    .iter()
                    .filter(|r| r.ids[Side::Near].is_none())
                    .count(),
                n / 4
            );
            visits
        };
        let (small, large) = (visits_at(1_000), visits_at(10_000));
        assert!(
            large <= 15 * small.max(1_000),
            "{small} records looked at to replay 1,000 pairs, {large} for 10,000"
        );
    }

    #[test]
    fn tombstone_line_needs_exactly_one_dash() {
        assert!(JournalEntry::parse("tombstone 1 -").is_ok());
        for line in ["tombstone 1 a", "tombstone - -"] {
            let err = JournalEntry::parse(line).unwrap_err();
            assert!(err.contains("expected `tombstone FAR NEAR`"), "{err}");
        }
    }

    fn journal_file(dir: &Path) -> StateFile {
        StateFile::new(dir.join("folder.state"))
    }

    #[test]
    fn torn_last_line_is_ignored_and_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let file = journal_file(dir.path());
        let mut journal = file.journal(&FolderState::default()).unwrap();
        journal
            .append(&pair(Some("1"), Some("a"), Flags::SEEN))
            .unwrap();
        drop(journal);
        // A crash in the middle of writing the second entry.
        let mut raw = OpenOptions::new()
            .append(true)
            .open(file.journal_path())
            .unwrap();
        raw.write_all(b"pair 2 b").unwrap();
        let state = file.load().unwrap();
        assert_eq!(state, applied(&[pair(Some("1"), Some("a"), Flags::SEEN)]));

        let mut journal = file.journal(&state).unwrap();
        journal
            .append(&pair(Some("3"), Some("c"), Flags::EMPTY))
            .unwrap();
        assert_eq!(
            file.load().unwrap(),
            applied(&[
                pair(Some("1"), Some("a"), Flags::SEEN),
                pair(Some("3"), Some("c"), Flags::EMPTY),
            ])
        );
    }

    #[test]
    fn malformed_middle_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = journal_file(dir.path());
        fs::write(
            file.journal_path(),
            "mailferry-journal 1 0\npair 1 a S\nflags 1 a\npair 2 b S\n",
        )
        .unwrap();
        let err = file.load().unwrap_err();
        assert_eq!(err.path, file.journal_path());
        assert_eq!(err.line, Some(3));
        assert!(
            err.message.contains("expected `flags FAR NEAR FLAGS`"),
            "{err}"
        );
    }

    #[test]
    fn journal_with_a_bad_header_is_an_error_to_load_and_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = journal_file(dir.path());
        let expected = "expected header `mailferry-journal 1 GENERATION`";
        let cases = [
            (
                "mailferry-journal 2 0\n",
                "unsupported journal version 2".to_string(),
            ),
            (
                "pair 1 a S\n",
                format!("not a mailferry journal: {expected}"),
            ),
            ("garbage", format!("not a mailferry journal: {expected}")),
            (
                "mailferry-journal 1\n",
                "the header has no generation".to_string(),
            ),
            (
                "mailferry-journal 1 x\n",
                format!("GENERATION `x` is not a number: {expected}"),
            ),
            (
                "mailferry-journal 1 0 0\n",
                "GENERATION `0 0` is not a number".to_string(),
            ),
        ];
        for (text, fragment) in cases {
            fs::write(file.journal_path(), text).unwrap();
            let err = file.load().unwrap_err();
            assert_eq!(err.line, Some(1), "{text:?}: {err}");
            assert!(err.message.contains(&fragment), "{text:?}: {err}");
            assert!(file.journal(&FolderState::default()).is_err(), "{text:?}");
            assert_eq!(fs::read_to_string(file.journal_path()).unwrap(), text);
        }
    }

    #[test]
    fn journal_cut_inside_its_header_counts_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = journal_file(dir.path());
        // Torn in the magic, and in the generation (of 12, or of 1).
        for torn in ["mailferry-jour", "mailferry-journal 1 1"] {
            fs::write(file.journal_path(), torn).unwrap();
            assert_eq!(file.load().unwrap(), FolderState::default());
            let mut journal = file.journal(&FolderState::default()).unwrap();
            journal
                .append(&pair(Some("1"), None, Flags::EMPTY))
                .unwrap();
            journal.sync().unwrap();
            assert_eq!(
                fs::read_to_string(file.journal_path()).unwrap(),
                "mailferry-journal 1 0\npair 1 - -\n"
            );
        }
    }

    fn id() -> impl Strategy<Value = MsgId> {
        prop_oneof![
            4 => prop::sample::select(vec!["1", "2", "17", "a", "b", "-", "%", "", " ", "a\nb", "é"])
                .prop_map(String::from),
            1 => any::<String>(),
        ]
    }

    fn flags() -> impl Strategy<Value = Flags> {
        let all = [
            Flags::SEEN,
            Flags::ANSWERED,
            Flags::FLAGGED,
            Flags::DELETED,
            Flags::DRAFT,
            Flags::FORWARDED,
        ];
        (0u8..64).prop_map(move |bits| {
            all.iter()
                .enumerate()
                .filter(|(bit, _)| bits & (1 << bit) != 0)
                .fold(Flags::EMPTY, |set, (_, flag)| set.union(*flag))
        })
    }

    fn side() -> impl Strategy<Value = Side> {
        prop_oneof![Just(Side::Far), Just(Side::Near)]
    }

    fn id_pair() -> impl Strategy<Value = Pair<Option<MsgId>>> {
        (prop::option::of(id()), prop::option::of(id()))
            .prop_map(|(far, near)| Pair::new(far, near))
    }

    fn entry() -> impl Strategy<Value = JournalEntry> {
        prop_oneof![
            4 => (id_pair(), flags()).prop_map(|(ids, flags)| JournalEntry::Pair(Record { ids, flags })),
            2 => (id_pair(), flags()).prop_map(|(ids, flags)| JournalEntry::Flags { ids, flags }),
            1 => id_pair().prop_map(|ids| JournalEntry::Unpair { ids }),
            2 => (side(), id()).prop_map(|(gone, kept_id)| JournalEntry::Tombstone { gone, kept_id }),
            2 => (side(), id(), any::<String>(), any::<u64>(), id(), flags()).prop_map(
                |(target, source_id, ticket, size, sha256, flags)| {
                    JournalEntry::Pending(PendingCopy { target, source_id, ticket, size, sha256, flags })
                }
            ),
            1 => (side(), id()).prop_map(|(target, source_id)| JournalEntry::Resolved { target, source_id }),
            1 => (side(), id(), id(), any::<u64>(), id(), flags(), any::<u64>()).prop_map(
                |(target, source_id, ticket, size, sha256, flags, since)| {
                    JournalEntry::Unconfirmed(UnconfirmedUpload {
                        target, source_id, ticket, size, sha256, flags, since,
                    })
                }
            ),
            1 => (side(), id(), id()).prop_map(|(target, source_id, ticket)| {
                JournalEntry::Accounted { target, source_id, ticket }
            }),
            1 => (side(), prop::option::of(any::<u32>()))
                .prop_map(|(side, value)| JournalEntry::UidValidity { side, value }),
            1 => prop::option::of(any::<u64>()).prop_map(JournalEntry::FarHighestModseq),
            1 => prop::option::of((id(), id(), id(), any::<bool>(), any::<bool>())).prop_map(
                |settled| {
                    JournalEntry::Settled(settled.map(|(far, near, policy, on_far, on_near)| {
                        Settled {
                            versions: Pair::new(far, near),
                            policy,
                            listed_as_recorded: Pair::new(on_far, on_near),
                        }
                    }))
                }
            ),
            1 => Just(JournalEntry::Commit),
        ]
    }

    fn settled(far: &str) -> Settled {
        Settled {
            versions: Pair::new(far.to_string(), "near 1".to_string()),
            policy: "p".to_string(),
            listed_as_recorded: Pair::new(true, true),
        }
    }

    #[test]
    fn a_journal_ending_with_commit_is_a_finished_run_and_carries_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let file = journal_file(dir.path());
        let saved = FolderState {
            settled: Some(settled("far 1")),
            far_highest_modseq: Some(10),
            uidvalidity: Pair::new(Some(7), None),
            ..applied(&journal_of_a_folder(3))
        };
        file.save(&saved).unwrap();
        let saved = file.load().unwrap();
        assert!(!file.journal_interrupted(), "no journal at all");

        let mut journal = file.journal(&saved).unwrap();
        journal
            .append(&pair(Some("900"), Some("n900"), Flags::SEEN))
            .unwrap();
        journal
            .append(&JournalEntry::FarHighestModseq(Some(12)))
            .unwrap();
        assert!(file.journal_interrupted(), "a run still writing");
        journal
            .append(&JournalEntry::Settled(Some(settled("far 2"))))
            .unwrap();
        assert!(file.journal_interrupted(), "killed before its commit");
        journal.append(&JournalEntry::Commit).unwrap();
        assert_eq!(journal.entries(), 4);
        drop(journal);
        assert!(!file.journal_interrupted());

        let head = file.load_head().unwrap();
        assert_eq!(head.settled, Some(settled("far 2")));
        assert_eq!(head.far_known(), Some((7, 12)));
        let loaded = file.load().unwrap();
        assert_eq!(loaded.settled, Some(settled("far 2")));
        assert_eq!(loaded.records.len(), saved.records.len() + 1);

        // The next run goes on after the commit, and is interrupted again
        // until it commits.
        let mut journal = file.journal(&loaded).unwrap();
        assert_eq!(journal.entries(), 4, "continued, not started afresh");
        journal.append(&JournalEntry::Settled(None)).unwrap();
        drop(journal);
        assert!(file.journal_interrupted());
        assert_eq!(file.load_head().unwrap().settled, None);
    }

    #[test]
    fn a_journal_is_kept_only_while_small_beside_the_state() {
        assert!(worth_keeping(6, 100));
        assert!(!worth_keeping(7, 100));
        assert!(!worth_keeping(1, 0), "a new folder's state is saved whole");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn every_entry_round_trips_through_its_line(entry in entry()) {
            let line = entry.to_string();
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(JournalEntry::parse(&line), Ok(entry));
        }

        /// The heart of crash safety: what a run did live is what the next
        /// run finds, whether it was saved or left in the journal.
        #[test]
        fn journal_replay_and_save_give_the_live_state(
            before in prop::collection::vec(entry(), 0..20),
            during in prop::collection::vec(entry(), 0..20),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let file = journal_file(dir.path());
            file.save(&applied(&before)).unwrap();
            let saved = file.load().unwrap();
            let mut live = saved.clone();
            for entry in &during {
                apply(&mut live, entry);
            }

            // Interrupted run: the last saved state plus the journal.
            let mut journal = file.journal(&saved).unwrap();
            for entry in &during {
                journal.append(entry).unwrap();
            }
            drop(journal);
            prop_assert_eq!(file.load().unwrap(), live.clone());

            // Finished run: the live state saved, one generation on.
            let journal_before_save = fs::read(file.journal_path()).unwrap();
            file.save(&live).unwrap();
            let next = FolderState { generation: live.generation + 1, ..live.clone() };
            prop_assert_eq!(file.load().unwrap(), next.clone());

            // Run killed between the rename and the journal's removal.
            fs::write(file.journal_path(), &journal_before_save).unwrap();
            prop_assert_eq!(file.load().unwrap(), next);

            // Interrupted first run: no state file at all (and the stale
            // journal above, which the new journal replaces).
            fs::remove_file(file.path()).unwrap();
            let first = FolderState::default();
            let mut journal = file.journal(&first).unwrap();
            for entry in before.iter().chain(&during) {
                journal.append(entry).unwrap();
            }
            drop(journal);
            prop_assert_eq!(
                file.load().unwrap(),
                FolderState { generation: first.generation, ..live }
            );
        }
    }
}
