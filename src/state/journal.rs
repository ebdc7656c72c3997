//! The journal: every change to a folder's state during a sync, appended as
//! one line before the state file is rewritten, and replayed on load after a
//! crash. [`apply`] is the one place where a state changes, for the live
//! state and for the replay alike, so a replay ends where the run was.
//!
//! ```text
//! mailferry-journal 1
//! pair <far> <near> <flags>
//! flags <far> <near> <flags>
//! unpair <far> <near>
//! tombstone <far> <near>        (exactly one of them is `-`)
//! pending <target> <source> <ticket> <size> <sha256> <flags>
//! resolved <target> <source>
//! uidvalidity <side> <n|->
//! modseq far <n|->
//! ```

use super::file::{
    self, check_header, expect_count, format_id, format_optional_number, format_pending,
    format_record, line_text, malformed, parse_flags, parse_id, parse_modseq, parse_pending,
    parse_record, parse_required, parse_side, parse_uidvalidity, split_fields, split_lines,
    StateError, PAIR_USAGE, PENDING_USAGE,
};
use super::{FolderState, Pair, PendingCopy, Record, Side};
use crate::flags::Flags;
use crate::store::MsgId;
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
const UIDVALIDITY_USAGE: &str = "uidvalidity SIDE NUMBER-OR-DASH";
const MODSEQ_USAGE: &str = "modseq far NUMBER-OR-DASH";

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
    /// Sets a side's UIDVALIDITY.
    UidValidity { side: Side, value: Option<u32> },
    /// Sets the far side's HIGHESTMODSEQ.
    FarHighestModseq(Option<u64>),
}

/// Changes the state as the entry says. Entries naming a record or pending
/// copy that does not exist change nothing; a record without any id is not
/// added (it could never be found again).
pub fn apply(state: &mut FolderState, entry: &JournalEntry) {
    match entry {
        JournalEntry::Pair(record) => {
            if record.ids.0.iter().all(Option::is_none) {
                return;
            }
            let shares_an_id = |old: &Record| {
                Side::BOTH
                    .iter()
                    .any(|&side| record.ids[side].is_some() && old.ids[side] == record.ids[side])
            };
            // Replace in place to keep the order stable; drop any other
            // record that shared one of the ids.
            match state.records.iter().position(shares_an_id) {
                Some(first) => {
                    state.records[first] = record.clone();
                    let mut index = 0;
                    state.records.retain(|old| {
                        let keep = index == first || !shares_an_id(old);
                        index += 1;
                        keep
                    });
                }
                None => state.records.push(record.clone()),
            }
        }
        JournalEntry::Flags { ids, flags } => {
            if let Some(record) = state.records.iter_mut().find(|r| r.ids == *ids) {
                record.flags = *flags;
            }
        }
        JournalEntry::Unpair { ids } => state.records.retain(|r| r.ids != *ids),
        JournalEntry::Tombstone { gone, kept_id } => {
            let kept = gone.other();
            if let Some(record) = state
                .records
                .iter_mut()
                .find(|r| r.ids[kept].as_deref() == Some(kept_id.as_str()))
            {
                record.ids[*gone] = None;
            }
        }
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
        JournalEntry::UidValidity { side, value } => state.uidvalidity[*side] = *value,
        JournalEntry::FarHighestModseq(value) => state.far_highest_modseq = *value,
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
            JournalEntry::UidValidity { side, value } => {
                write!(f, "uidvalidity {side} {}", format_optional_number(*value))
            }
            JournalEntry::FarHighestModseq(value) => {
                write!(f, "modseq far {}", format_optional_number(*value))
            }
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
            "uidvalidity" => (
                UIDVALIDITY_USAGE,
                parse_uidvalidity(args)
                    .map(|(side, value)| JournalEntry::UidValidity { side, value }),
            ),
            "modseq" => (
                MODSEQ_USAGE,
                parse_modseq(args).map(JournalEntry::FarHighestModseq),
            ),
            other => {
                return Err(format!(
                    "unknown keyword `{}`: expected pair, flags, unpair, tombstone, pending, \
                     resolved, uidvalidity or modseq",
                    other.escape_debug()
                ))
            }
        };
        parsed.map_err(|detail| malformed(usage, &detail))
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

/// The journal's header line, with its newline.
fn header() -> String {
    format!("{JOURNAL_MAGIC} {JOURNAL_VERSION}\n")
}

/// Whether a journal holds nothing but (part of) its header: a crash while
/// creating it.
fn is_empty_journal(bytes: &[u8]) -> bool {
    header().as_bytes().starts_with(bytes) && !bytes.ends_with(b"\n")
}

/// Parses a whole journal. A torn last line (no newline: the run died while
/// writing it) is dropped; any other bad line is an error naming it.
pub(super) fn parse_journal(path: &Path, bytes: &[u8]) -> Result<Vec<JournalEntry>, StateError> {
    if is_empty_journal(bytes) {
        return Ok(Vec::new());
    }
    let (lines, _torn) = split_lines(bytes);
    let Some((header, body)) = lines.split_first() else {
        return Err(StateError::at_line(
            path,
            1,
            format!("expected header `{JOURNAL_MAGIC} {JOURNAL_VERSION}`"),
        ));
    };
    line_text(header)
        .and_then(|header| check_header(header, JOURNAL_MAGIC, JOURNAL_VERSION, "journal"))
        .map_err(|message| StateError::at_line(path, 1, message))?;
    body.iter()
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
    /// Whether the directory entry of the journal is known durable.
    dir_synced: bool,
}

impl Journal {
    /// Opens the journal, creating it with its header if it is new or
    /// empty. A torn last line is cut off first, so that the next entry
    /// starts on a line of its own.
    pub(super) fn open(path: PathBuf) -> anyhow::Result<Journal> {
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
        let created = is_empty_journal(&existing);
        if created {
            file.set_len(0)
                .and_then(|()| file.write_all(header().as_bytes()))
                .with_context(|| format!("cannot write journal {}", path.display()))?;
        } else {
            let (lines, torn) = split_lines(&existing);
            let header_ok = lines.first().is_some_and(|line| {
                line_text(line)
                    .and_then(|h| check_header(h, JOURNAL_MAGIC, JOURNAL_VERSION, "journal"))
                    .is_ok()
            });
            if !header_ok {
                return Err(StateError::at_line(
                    &path,
                    1,
                    format!(
                        "not a mailferry journal: expected header `{JOURNAL_MAGIC} {JOURNAL_VERSION}`"
                    ),
                )
                .into());
            }
            if let Some(torn) = torn {
                let whole = (existing.len() - torn.len()) as u64;
                file.set_len(whole).with_context(|| {
                    format!(
                        "cannot cut the torn last line of journal {}",
                        path.display()
                    )
                })?;
            }
        }
        Ok(Journal {
            file,
            path,
            dir_synced: !created,
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
            .with_context(|| format!("cannot append to journal {}", self.path.display()))
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
