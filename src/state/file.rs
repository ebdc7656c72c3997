//! The state file of one folder pair: its text format, loading it (with the
//! journal replayed on top) and saving it atomically.
//!
//! The format is line-oriented text, one item per line, fields separated by
//! one space:
//!
//! ```text
//! mailferry-state 1
//! generation 42
//! uidvalidity far 1700000000
//! uidvalidity near -
//! modseq far 1234
//! settled <far-version> <near-version> <policy> <listed-as-recorded>
//! pair <far-id> <near-id> <flags>
//! pending <target-side> <source-id> <ticket> <size> <sha256> <flags>
//! unconfirmed <target-side> <source-id> <ticket> <size> <sha256> <flags> <since>
//! trashing <side> <id> <trash-folder> <ticket> <moving|copied|uploading|uploaded>
//! ```
//!
//! `unconfirmed` lines (uploads not found on their target, see
//! [`super::UnconfirmedUpload`]) came after version 1 was first written;
//! the version stays 1 because a reader that does not know them refuses
//! the line as an unknown keyword, naming file and line: it can never
//! misread one. Files without them read as before. The same holds for
//! `trashing` lines (messages on their way into a trash folder, see
//! [`super::Trashing`]).
//!
//! The `generation` line is required and comes right after the header: it
//! counts the saves of this state (a missing file is generation 0, and each
//! save writes the generation it started from plus one). The journal names
//! the generation it applies to, and only a journal of the state's own
//! generation is replayed. That closes the gap between renaming the new
//! state into place and removing the journal: a journal that survives a
//! crash there belongs to the previous generation, its changes are already
//! in the state, and replaying them twice is not harmless: `unpair - a`
//! then `tombstone - a` turn the record `17 a` into the tombstone `- a`;
//! replayed onto that, the `unpair` finds the tombstone and deletes it.
//!
//! Strings (ids, tickets, hashes) are written escaped so that any string
//! round-trips (see [`escape`]): `-` stands for an absent value, `%` for the
//! empty string, and `%XX` for a byte that could otherwise break the line.

use super::journal::{self, apply};
use super::{FolderState, PendingCopy, Record, Settled, Trashing, UnconfirmedUpload};
use crate::mail::{Flags, Pair, Side};
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const STATE_MAGIC: &str = "mailferry-state";
const STATE_VERSION: u32 = 1;

pub(super) const PAIR_USAGE: &str = "pair FAR NEAR FLAGS";
pub(super) const PENDING_USAGE: &str = "pending TARGET SOURCE TICKET SIZE SHA256 FLAGS";
pub(super) const UNCONFIRMED_USAGE: &str =
    "unconfirmed TARGET SOURCE TICKET SIZE SHA256 FLAGS SINCE";
pub(super) const TRASHING_USAGE: &str =
    "trashing SIDE ID FOLDER TICKET-OR-DASH moving|copied|uploading|uploaded";
const UIDVALIDITY_USAGE: &str = "uidvalidity SIDE NUMBER-OR-DASH";
const MODSEQ_USAGE: &str = "modseq far NUMBER-OR-DASH";
const GENERATION_USAGE: &str = "generation NUMBER";
pub(super) const SETTLED_USAGE: &str = "settled FAR-VERSION NEAR-VERSION POLICY none|far|near|both";

/// The first lines of a state file (see [`StateFile::load_head`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateHead {
    pub far_uidvalidity: Option<u32>,
    pub far_highest_modseq: Option<u64>,
    pub settled: Option<Settled>,
}

impl StateHead {
    /// What the last sync saw of the far folder (UIDVALIDITY and
    /// HIGHESTMODSEQ), for a SELECT that asks what changed since.
    pub fn far_known(&self) -> Option<(u32, u64)> {
        Some((self.far_uidvalidity?, self.far_highest_modseq?))
    }
}

/// A state or journal file that cannot be read or is not what mailferry
/// wrote. Loading never returns part of a state: it is this error instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError {
    pub path: PathBuf,
    /// 1-based line, when the problem is on a line.
    pub line: Option<usize>,
    pub message: String,
}

impl StateError {
    pub(super) fn at_line(path: &Path, line: usize, message: String) -> StateError {
        StateError {
            path: path.to_path_buf(),
            line: Some(line),
            message,
        }
    }

    pub(super) fn io(path: &Path, what: &str, err: io::Error) -> StateError {
        StateError {
            path: path.to_path_buf(),
            line: None,
            message: format!("{what}: {err}"),
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for StateError {}

/// The state file of one folder pair, with its journal and temporary file
/// next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: PathBuf) -> StateFile {
        StateFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<state>.journal`: the changes made since the state was last saved.
    pub fn journal_path(&self) -> PathBuf {
        with_suffix(&self.path, ".journal")
    }

    /// `<state>.new`: the next state while it is being written.
    pub(super) fn new_path(&self) -> PathBuf {
        with_suffix(&self.path, ".new")
    }

    /// Loads the state and replays the journal if it belongs to the state's
    /// generation; a journal of another generation was already folded into
    /// the state by the save that crashed before removing it, and is
    /// ignored. A missing state file is the first sync: the empty state of
    /// generation 0 (plus the journal of an interrupted first sync, if any).
    pub fn load(&self) -> Result<FolderState, StateError> {
        let mut state = match fs::read(&self.path) {
            Ok(bytes) => parse_state(&self.path, &bytes)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => FolderState::default(),
            Err(err) => return Err(StateError::io(&self.path, "cannot read state file", err)),
        };
        let journal_path = self.journal_path();
        match fs::read(&journal_path) {
            Ok(bytes) => {
                let entries = journal::parse_journal(&journal_path, &bytes, state.generation)?;
                for entry in &entries {
                    apply(&mut state, entry);
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(StateError::io(&journal_path, "cannot read journal", err)),
        }
        Ok(state)
    }

    /// What the state file's first lines say (before the records): enough
    /// to tell whether a folder can be skipped and to open it knowing what
    /// the last sync saw, without reading the records. `None` when the
    /// file is missing or cannot be read; [`StateFile::load`] then reports
    /// any problem.
    pub fn load_head(&self) -> Option<StateHead> {
        use std::io::BufRead;
        let reader = io::BufReader::new(File::open(&self.path).ok()?);
        let mut head = StateHead::default();
        let mut generation = None;
        for line in reader.lines().take(HEADER_LINES_BEFORE_RECORDS) {
            let line = line.ok()?;
            let Some((keyword, fields)) = line.split_once(' ') else {
                continue;
            };
            let args: Vec<&str> = fields.split(' ').collect();
            match keyword {
                "generation" => generation = parse_generation_line(&line).ok(),
                "settled" => head.settled = parse_settled(&args).ok(),
                "modseq" => head.far_highest_modseq = parse_modseq(&args).ok().flatten(),
                "uidvalidity" => {
                    if let Ok((Side::Far, value)) = parse_uidvalidity(&args) {
                        head.far_uidvalidity = value;
                    }
                }
                _ => {}
            }
        }
        self.fold_journal_into_head(&mut head, generation?)?;
        Some(head)
    }

    /// Applies what a journal of the state's `generation` changed in the
    /// head (a run committed by its journal, see [`journal::Journal::commit`],
    /// leaves its settled versions and HIGHESTMODSEQ there). Such a journal
    /// is small (a save rewrites the state once the journal would cost more
    /// to replay, see [`journal::worth_keeping`]), so reading it keeps the
    /// head cheap. `None` when the journal cannot be read: [`StateFile::load`]
    /// then reports the problem.
    fn fold_journal_into_head(&self, head: &mut StateHead, generation: u64) -> Option<()> {
        let journal_path = self.journal_path();
        let bytes = match fs::read(&journal_path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Some(()),
            Err(_) => return None,
        };
        for entry in journal::parse_journal(&journal_path, &bytes, generation).ok()? {
            match entry {
                journal::JournalEntry::Settled(settled) => head.settled = settled,
                journal::JournalEntry::FarHighestModseq(value) => head.far_highest_modseq = value,
                journal::JournalEntry::UidValidity {
                    side: Side::Far,
                    value,
                } => head.far_uidvalidity = value,
                _ => {}
            }
        }
        Some(())
    }

    /// Whether a journal left on disk is one of a run that stopped before
    /// its end (killed, interrupted, failed), rather than one a finished run
    /// committed by appending `commit` to it. The next run must then not
    /// skip the folder nor trust the records as a listing, since the
    /// stopped run may have changed either side after its last entry.
    pub fn journal_interrupted(&self) -> bool {
        use std::io::{Read as _, Seek as _, SeekFrom};
        const TAIL: &[u8] = b"\ncommit\n";
        let mut file = match File::open(self.journal_path()) {
            Ok(file) => file,
            Err(err) => return err.kind() != io::ErrorKind::NotFound,
        };
        let mut tail = [0u8; TAIL.len()];
        let committed = file
            .seek(SeekFrom::End(-(TAIL.len() as i64)))
            .and_then(|_| file.read_exact(&mut tail))
            .is_ok()
            && tail == TAIL;
        !committed
    }

    /// Opens the journal of `state` (the state just loaded) for appending.
    /// A journal of the same generation is continued; one that is new,
    /// empty, or of another generation (stale: already in the state) is
    /// started afresh with a header naming `state.generation`.
    pub fn journal(&self, state: &FolderState) -> anyhow::Result<journal::Journal> {
        journal::Journal::open(self.journal_path(), state.generation)
    }

    /// Writes `<path>.new` as generation `state.generation + 1`, fsyncs it,
    /// renames it over the state, fsyncs the directory, then removes the
    /// journal. Order is important: the journal is removed only once the new
    /// state is durable, so a crash at any point leaves either the old state
    /// plus its journal or the new state (plus, at most, the old journal,
    /// which the new generation tells [`StateFile::load`] to ignore).
    ///
    /// `state` must be the loaded state with changes applied, keeping its
    /// `generation`: the new generation has to differ from the one the
    /// journal on disk was opened with.
    pub fn save(&self, state: &FolderState) -> anyhow::Result<()> {
        check_ids_unique(state).with_context(|| {
            format!(
                "refusing to save an inconsistent state to {}",
                self.path.display()
            )
        })?;
        // Wrapping at u64::MAX is harmless: only "differs from the
        // generation the journal names" matters.
        let generation = state.generation.wrapping_add(1);
        write_atomically(
            &self.path,
            &self.new_path(),
            format_state(state, generation).as_bytes(),
        )?;
        // The removal needs no fsync of its own: a journal that comes back
        // after a power loss names the previous generation, and loading
        // ignores it (see the module's comment).
        remove_if_present(&self.journal_path())
    }
}

/// Writes `contents` to a new file `temporary` (0600, in a private
/// directory), not yet made durable. A temporary file left by a crash is
/// stale: it is replaced, so the new one gets our mode.
pub(super) fn write_new(temporary: &Path, contents: &[u8]) -> anyhow::Result<File> {
    create_private_dir(parent_dir(temporary))?;
    remove_if_present(temporary)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    file.write_all(contents)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    Ok(file)
}

/// Replaces `path` with `contents` so that a crash leaves either the old
/// file or the new one, never a mix: write `temporary` (0600), fsync it,
/// rename it over `path`, fsync the directory.
pub(super) fn write_atomically(
    path: &Path,
    temporary: &Path,
    contents: &[u8],
) -> anyhow::Result<()> {
    let dir = parent_dir(path);
    write_new(temporary, contents)?
        .sync_all()
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    fs::rename(temporary, path).with_context(|| {
        format!(
            "cannot rename {} to {}",
            temporary.display(),
            path.display()
        )
    })?;
    sync_dir(dir)
}

impl StateFile {
    /// Forgets the folder pair: removes its state, journal and any `.new`.
    /// The next sync of the folder starts afresh (and pairs by content).
    pub fn remove(&self) -> anyhow::Result<()> {
        for path in [self.path.clone(), self.journal_path(), self.new_path()] {
            remove_if_present(&path)?;
        }
        sync_dir(parent_dir(&self.path))
    }

    /// Moves the state (and journal) of this folder pair to `target`, for a
    /// folder that was renamed. A missing state moves as nothing.
    pub fn rename_to(&self, target: &StateFile) -> anyhow::Result<()> {
        let dir = parent_dir(&target.path);
        create_private_dir(dir)?;
        for (from, to) in [
            (self.path.clone(), target.path.clone()),
            (self.journal_path(), target.journal_path()),
        ] {
            match fs::rename(&from, &to) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!("cannot move {} to {}", from.display(), to.display())
                    })
                }
            }
        }
        sync_dir(dir)
    }
}

/// The path of the state file of a folder pair:
/// `state_dir/<channel>/<escaped folder>.state`. The folder name (UTF-8, `/`
/// separated, may contain anything) is escaped into one safe file name: no
/// `/`, no leading `.`, reversible, distinct names give distinct files.
pub fn state_path(state_dir: &Path, channel: &str, folder: &str) -> PathBuf {
    let folder_file = format!("{}.state", file_name_escape(folder, false));
    state_dir.join(channel_file_name(channel)).join(folder_file)
}

/// The channel's name as one file name. Every `.` is escaped, so no channel
/// directory can be mistaken for another channel's `<name>.lock`.
pub(super) fn channel_file_name(channel: &str) -> String {
    file_name_escape(channel, true)
}

/// Any name (a migrated account's) as one file name, escaped as a
/// channel's name is.
pub fn name_as_file_name(name: &str) -> String {
    channel_file_name(name)
}

/// Longest escaped name kept as is; leaves room for `.state.journal` within
/// the usual 255-byte limit on a file name.
const MAX_ESCAPED_NAME: usize = 234;
/// Length of the kept prefix of a longer name, before its hash.
const LONG_NAME_PREFIX: usize = 200;

/// Escapes a name into one file name: `%`, `/`, control bytes, space, DEL
/// and a leading `.` (every `.` if asked) become `%XX`; the empty name
/// becomes `%`. Names whose escaped form is too long for a file name are cut
/// and suffixed with `%%` and a hash of the whole name (`%%` never occurs in
/// an escaped name, so they cannot collide with short ones).
fn file_name_escape(name: &str, escape_every_dot: bool) -> String {
    if name.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(name.len());
    for (index, c) in name.char_indices() {
        let unsafe_char = c == '%'
            || c == '/'
            || is_control_or_space(c)
            || (c == '.' && (index == 0 || escape_every_dot));
        if unsafe_char {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    if out.len() <= MAX_ESCAPED_NAME {
        return out;
    }
    let mut cut = LONG_NAME_PREFIX;
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    // Do not cut an escape in half: back off to before its `%`.
    if let Some(percent) = out[..cut].rfind('%') {
        if percent + 3 > cut {
            cut = percent;
        }
    }
    let digest = Sha256::digest(name.as_bytes());
    let mut short = out[..cut].to_string();
    short.push_str("%%");
    for byte in &digest[..16] {
        let _ = write!(short, "{byte:02x}");
    }
    short
}

fn is_control_or_space(c: char) -> bool {
    (c as u32) < 0x21 || c == '\x7f'
}

/// Writes an ASCII character as `%XX`.
fn push_escaped(out: &mut String, c: char) {
    let _ = write!(out, "%{:02X}", c as u32);
}

/// Escapes a string into one field that round-trips through [`unescape`]:
/// `%`, space, every byte below 0x21 and DEL become `%XX`; `-` on its own
/// becomes `%2D` (a lone `-` means "absent"); the empty string becomes `%`.
pub(super) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_field(&mut out, value);
    out
}

/// Appends [`escape`]`(value)` to `out`.
fn push_field(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('%');
    } else if value == "-" {
        out.push_str("%2D");
    } else if !value.chars().any(|c| c == '%' || is_control_or_space(c)) {
        // Most fields have nothing to escape.
        out.push_str(value);
    } else {
        for c in value.chars() {
            if c == '%' || is_control_or_space(c) {
                push_escaped(out, c);
            } else {
                out.push(c);
            }
        }
    }
}

/// Appends an optional id as a field: `-` when absent.
fn push_id(out: &mut String, id: Option<&str>) {
    match id {
        Some(id) => push_field(out, id),
        None => out.push('-'),
    }
}

/// Reverses [`escape`]. The caller handles a lone `-`.
pub(super) fn unescape(field: &str) -> Result<String, String> {
    if field == "%" {
        return Ok(String::new());
    }
    // Most fields have nothing escaped.
    if !field.bytes().any(|b| b == b'%' || b < 0x21 || b == 0x7f) {
        return Ok(field.to_owned());
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let value = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| Some(hex_digit(hex[0])? * 16 + hex_digit(hex[1])?))
                    .ok_or_else(|| {
                        format!("bad escape in `{field}`: `%` must be followed by two hex digits")
                    })?;
                out.push(value);
                i += 3;
            }
            byte if byte < 0x21 || byte == 0x7f => {
                return Err(format!(
                    "unescaped control character {byte:#04x} in `{}`",
                    field.escape_debug()
                ));
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{field}` does not decode to UTF-8 text"))
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// An optional id as a field: `-` when absent.
pub(super) fn format_id(id: Option<&str>) -> String {
    id.map_or_else(|| "-".to_string(), escape)
}

/// Parses an optional id field; `what` names the field in errors.
pub(super) fn parse_id(field: &str, what: &str) -> Result<Option<String>, String> {
    if field == "-" {
        return Ok(None);
    }
    unescape(field)
        .map(Some)
        .map_err(|detail| format!("{what}: {detail}"))
}

/// Parses a string field that must be present.
pub(super) fn parse_required(field: &str, what: &str) -> Result<String, String> {
    parse_id(field, what)?.ok_or_else(|| format!("{what} must not be `-`"))
}

pub(super) fn parse_flags(field: &str) -> Result<Flags, String> {
    field
        .parse()
        .map_err(|detail| format!("FLAGS `{field}`: {detail}"))
}

pub(super) fn parse_side(field: &str) -> Result<Side, String> {
    match field {
        "far" => Ok(Side::Far),
        "near" => Ok(Side::Near),
        _ => Err(format!("`{field}` is not a side: expected `far` or `near`")),
    }
}

/// Parses an unsigned decimal number: digits only, no sign or spaces.
pub(super) fn parse_number<T: std::str::FromStr>(field: &str, what: &str) -> Result<T, String> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} `{field}` is not a number"));
    }
    field
        .parse()
        .map_err(|_| format!("{what} `{field}` is out of range"))
}

/// Parses a number or `-` for none.
pub(super) fn parse_optional_number<T: std::str::FromStr>(
    field: &str,
    what: &str,
) -> Result<Option<T>, String> {
    if field == "-" {
        return Ok(None);
    }
    parse_number(field, what).map(Some)
}

pub(super) fn format_optional_number<T: fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// Splits a line into its fields, refusing empty ones (a doubled or
/// trailing space is not something mailferry writes).
pub(super) fn split_fields(line: &str) -> Result<Vec<&str>, String> {
    if let Some(byte) = line.bytes().find(|&b| b < 0x20 || b == 0x7f) {
        return Err(format!(
            "unescaped control character {byte:#04x} (was the file edited by hand?)"
        ));
    }
    let fields: Vec<&str> = line.split(' ').collect();
    if fields.iter().any(|field| field.is_empty()) {
        return Err("empty field (doubled, leading or trailing space)".to_string());
    }
    Ok(fields)
}

/// The message for a line whose keyword is right but whose fields are not.
pub(super) fn malformed(usage: &str, detail: &str) -> String {
    let keyword = usage.split(' ').next().unwrap_or(usage);
    format!("malformed {keyword} line: expected `{usage}`: {detail}")
}

/// Checks the number of fields after the keyword.
pub(super) fn expect_count<'a, const N: usize>(args: &[&'a str]) -> Result<[&'a str; N], String> {
    <[&str; N]>::try_from(args).map_err(|_| {
        format!(
            "found {} fields after the keyword, expected {N}",
            args.len()
        )
    })
}

/// Parses the fields after `pair`. A record without ids is refused by the
/// state file; in the journal it is allowed, as [`apply`] ignores it.
pub(super) fn parse_record(args: &[&str]) -> Result<Record, String> {
    let [far, near, flags] = expect_count(args)?;
    let ids = Pair::new(parse_id(far, "FAR")?, parse_id(near, "NEAR")?);
    Ok(Record {
        ids,
        flags: parse_flags(flags)?,
    })
}

pub(super) fn format_record(record: &Record) -> String {
    let mut line = String::new();
    push_record(&mut line, record);
    line
}

/// Appends [`format_record`]`(record)` to `out`.
fn push_record(out: &mut String, record: &Record) {
    out.push_str("pair ");
    push_id(out, record.ids[Side::Far].as_deref());
    out.push(' ');
    push_id(out, record.ids[Side::Near].as_deref());
    out.push(' ');
    if record.flags.is_empty() {
        out.push('-');
    } else {
        out.push_str(&record.flags.to_maildir_letters());
    }
}

/// Parses the fields after `pending`.
pub(super) fn parse_pending(args: &[&str]) -> Result<PendingCopy, String> {
    let [target, source, ticket, size, sha256, flags] = expect_count(args)?;
    Ok(PendingCopy {
        target: parse_side(target)?,
        source_id: parse_required(source, "SOURCE")?,
        ticket: parse_required(ticket, "TICKET")?,
        size: parse_number(size, "SIZE")?,
        sha256: parse_required(sha256, "SHA256")?,
        flags: parse_flags(flags)?,
    })
}

pub(super) fn format_pending(copy: &PendingCopy) -> String {
    format!(
        "pending {} {} {} {} {} {}",
        copy.target,
        escape(&copy.source_id),
        escape(&copy.ticket),
        copy.size,
        escape(&copy.sha256),
        copy.flags
    )
}

/// Parses the fields after `unconfirmed`.
pub(super) fn parse_unconfirmed(args: &[&str]) -> Result<UnconfirmedUpload, String> {
    let [target, source, ticket, size, sha256, flags, since] = expect_count(args)?;
    Ok(UnconfirmedUpload {
        target: parse_side(target)?,
        source_id: parse_required(source, "SOURCE")?,
        ticket: parse_required(ticket, "TICKET")?,
        size: parse_number(size, "SIZE")?,
        sha256: parse_required(sha256, "SHA256")?,
        flags: parse_flags(flags)?,
        since: parse_number(since, "SINCE")?,
    })
}

pub(super) fn format_unconfirmed(upload: &UnconfirmedUpload) -> String {
    format!(
        "unconfirmed {} {} {} {} {} {} {}",
        upload.target,
        escape(&upload.source_id),
        escape(&upload.ticket),
        upload.size,
        escape(&upload.sha256),
        upload.flags,
        upload.since
    )
}

/// Parses the fields after `trashing`.
pub(super) fn parse_trashing(args: &[&str]) -> Result<Trashing, String> {
    let [side, id, folder, ticket, stage] = expect_count(args)?;
    let (copied, remote) = match stage {
        "moving" => (false, false),
        "copied" => (true, false),
        "uploading" => (false, true),
        "uploaded" => (true, true),
        other => {
            return Err(format!(
                "`{}` is not moving, copied, uploading or uploaded",
                other.escape_debug()
            ))
        }
    };
    Ok(Trashing {
        side: parse_side(side)?,
        id: parse_required(id, "ID")?,
        folder: parse_required(folder, "FOLDER")?,
        ticket: parse_id(ticket, "TICKET")?,
        copied,
        remote,
    })
}

pub(super) fn format_trashing(trashing: &Trashing) -> String {
    format!(
        "trashing {} {} {} {} {}",
        trashing.side,
        escape(&trashing.id),
        escape(&trashing.folder),
        format_id(trashing.ticket.as_deref()),
        match (trashing.copied, trashing.remote) {
            (false, false) => "moving",
            (true, false) => "copied",
            (false, true) => "uploading",
            (true, true) => "uploaded",
        }
    )
}

/// Splits a file into lines. `None` for the last element means the file
/// does not end with a newline: its last line was cut short.
pub(super) fn split_lines(bytes: &[u8]) -> (Vec<&[u8]>, Option<&[u8]>) {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // `split` yields a last piece after the final newline: empty when the
    // file ends properly, a torn line otherwise.
    let tail = lines.pop().filter(|tail| !tail.is_empty());
    (lines, tail)
}

pub(super) fn line_text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "line is not valid UTF-8".to_string())
}

/// Checks a header line `<magic> <version>`; `expected` is the whole
/// header as errors should describe it.
pub(super) fn check_header(
    line: &str,
    magic: &str,
    version: u32,
    what: &str,
    expected: &str,
) -> Result<(), String> {
    let expected = format!("expected header `{expected}`");
    let Some(found) = line
        .strip_prefix(magic)
        .and_then(|rest| rest.strip_prefix(' '))
    else {
        return Err(format!("not a mailferry {what}: {expected}"));
    };
    match parse_number::<u32>(found, "version") {
        Ok(found) if found == version => Ok(()),
        Ok(found) => Err(format!(
            "unsupported {what} version {found}: this mailferry reads version {version}"
        )),
        Err(detail) => Err(format!("{detail}: {expected}")),
    }
}

/// Parses a whole state file; any problem is an error naming the line.
fn parse_state(path: &Path, bytes: &[u8]) -> Result<FolderState, StateError> {
    let (lines, torn) = split_lines(bytes);
    if let Some(_torn) = torn {
        // The state is written whole and renamed into place, so a missing
        // final newline means the file was damaged afterwards.
        return Err(StateError::at_line(
            path,
            lines.len() + 1,
            "the file ends in the middle of a line (truncated?)".to_string(),
        ));
    }
    let Some((header, body)) = lines.split_first() else {
        return Err(StateError::at_line(
            path,
            1,
            format!("empty state file: expected header `{STATE_MAGIC} {STATE_VERSION}`"),
        ));
    };
    line_text(header)
        .and_then(|header| {
            let expected = format!("{STATE_MAGIC} {STATE_VERSION}");
            check_header(header, STATE_MAGIC, STATE_VERSION, "state file", &expected)
        })
        .map_err(|message| StateError::at_line(path, 1, message))?;

    const GENERATION_LINE: usize = 2;
    let Some((generation_line, body)) = body.split_first() else {
        return Err(StateError::at_line(
            path,
            GENERATION_LINE,
            format!("missing line `{GENERATION_USAGE}` right after the header"),
        ));
    };
    let mut parser = StateParser::default();
    // Nearly every line is a record.
    parser.state.records.reserve(body.len());
    parser.record_lines.reserve(body.len());
    parser.state.generation = line_text(generation_line)
        .and_then(parse_generation_line)
        .map_err(|message| StateError::at_line(path, GENERATION_LINE, message))?;
    for (index, line) in body.iter().enumerate() {
        let line_number = index + GENERATION_LINE + 1;
        line_text(line)
            .and_then(|text| parser.parse_line(text, line_number))
            .map_err(|message| StateError::at_line(path, line_number, message))?;
    }
    Ok(parser.state)
}

/// Builds a state line by line, remembering where each record and pending
/// copy was, so that a duplicate is reported with both lines.
#[derive(Default)]
struct StateParser {
    state: FolderState,
    uidvalidity_line: Pair<Option<usize>>,
    modseq_line: Option<usize>,
    /// The line of each record, in order.
    record_lines: Vec<usize>,
    pending_lines: HashMap<(Side, String), usize>,
    trashing_lines: HashMap<(Side, String), usize>,
}

impl StateParser {
    fn parse_line(&mut self, line: &str, line_number: usize) -> Result<(), String> {
        let fields = split_fields(line)?;
        let (keyword, args) = fields
            .split_first()
            .ok_or_else(|| "empty line".to_string())?;
        match *keyword {
            "generation" => {
                return Err("generation given twice (first on line 2)".to_string());
            }
            "uidvalidity" => {
                let (side, value) = parse_uidvalidity(args)
                    .map_err(|detail| malformed(UIDVALIDITY_USAGE, &detail))?;
                if let Some(first) = self.uidvalidity_line[side] {
                    return Err(format!(
                        "uidvalidity {side} given twice (first on line {first})"
                    ));
                }
                self.uidvalidity_line[side] = Some(line_number);
                self.state.uidvalidity[side] = value;
            }
            "modseq" => {
                let value =
                    parse_modseq(args).map_err(|detail| malformed(MODSEQ_USAGE, &detail))?;
                if let Some(first) = self.modseq_line {
                    return Err(format!("modseq far given twice (first on line {first})"));
                }
                self.modseq_line = Some(line_number);
                self.state.far_highest_modseq = value;
            }
            "settled" => {
                if self.state.settled.is_some() {
                    return Err("settled given twice".to_string());
                }
                let settled =
                    parse_settled(args).map_err(|detail| malformed(SETTLED_USAGE, &detail))?;
                self.state.settled = Some(settled);
            }
            "pair" => {
                let record = parse_record(args).map_err(|detail| malformed(PAIR_USAGE, &detail))?;
                if record.ids.0.iter().all(Option::is_none) {
                    return Err(malformed(PAIR_USAGE, "FAR and NEAR are both `-`"));
                }
                // Every id is paired at most once: the second pair names
                // the line of the first.
                if let Err(paired) = self.state.records.add(record) {
                    let (side, first) = (paired.side, self.record_lines[paired.position]);
                    let id = self
                        .state
                        .records
                        .iter()
                        .nth(paired.position)
                        .and_then(|held| held.ids[side].as_deref())
                        .unwrap_or_default();
                    return Err(format!(
                        "{side} id `{}` is already paired on line {first}",
                        id.escape_debug()
                    ));
                }
                self.record_lines.push(line_number);
            }
            "pending" => {
                let copy =
                    parse_pending(args).map_err(|detail| malformed(PENDING_USAGE, &detail))?;
                let key = (copy.target, copy.source_id.clone());
                if let Some(first) = self.pending_lines.insert(key, line_number) {
                    return Err(format!(
                        "a copy of {} id `{}` to {} is already pending on line {first}",
                        copy.target.other(),
                        copy.source_id.escape_debug(),
                        copy.target
                    ));
                }
                self.state.pending.push(copy);
            }
            "unconfirmed" => {
                let upload = parse_unconfirmed(args)
                    .map_err(|detail| malformed(UNCONFIRMED_USAGE, &detail))?;
                self.state.unconfirmed.push(upload);
            }
            "trashing" => {
                let trashing =
                    parse_trashing(args).map_err(|detail| malformed(TRASHING_USAGE, &detail))?;
                if let Some(first) = self
                    .trashing_lines
                    .insert((trashing.side, trashing.id.clone()), line_number)
                {
                    return Err(format!(
                        "{} id `{}` is already on its way to the trash on line {first}",
                        trashing.side,
                        trashing.id.escape_debug()
                    ));
                }
                self.state.trashing.push(trashing);
            }
            other => {
                return Err(format!(
                    "unknown keyword `{}`: expected uidvalidity, modseq, settled, pair, pending, \
                     unconfirmed or trashing (or generation, on line 2 only)",
                    other.escape_debug()
                ))
            }
        }
        Ok(())
    }
}

/// Parses the line after the header, which must be `generation NUMBER`.
fn parse_generation_line(line: &str) -> Result<u64, String> {
    let fields = split_fields(line)?;
    match fields.split_first() {
        Some((&"generation", args)) => {
            let [value] = expect_count(args).map_err(|d| malformed(GENERATION_USAGE, &d))?;
            parse_number(value, "NUMBER").map_err(|d| malformed(GENERATION_USAGE, &d))
        }
        _ => Err(format!(
            "missing line `{GENERATION_USAGE}` right after the header: found `{}`",
            line.escape_debug()
        )),
    }
}

/// Parses the fields after `uidvalidity`.
pub(super) fn parse_uidvalidity(args: &[&str]) -> Result<(Side, Option<u32>), String> {
    let [side, value] = expect_count(args)?;
    Ok((parse_side(side)?, parse_optional_number(value, "NUMBER")?))
}

/// The lines [`format_state`] writes before the records: header,
/// generation, two uidvalidity lines, modseq, settled.
const HEADER_LINES_BEFORE_RECORDS: usize = 6;

/// The fields of a `settled` line after its keyword.
pub(super) fn format_settled(settled: &Settled) -> String {
    format!(
        "{} {} {} {}",
        escape(&settled.versions[Side::Far]),
        escape(&settled.versions[Side::Near]),
        escape(&settled.policy),
        match settled.listed_as_recorded.0 {
            [false, false] => "none",
            [true, false] => "far",
            [false, true] => "near",
            [true, true] => "both",
        }
    )
}

/// Parses the fields after `settled`.
pub(super) fn parse_settled(args: &[&str]) -> Result<Settled, String> {
    let [far, near, policy, listed] = expect_count(args)?;
    let listed_as_recorded = match listed {
        "none" => Pair::new(false, false),
        "far" => Pair::new(true, false),
        "near" => Pair::new(false, true),
        "both" => Pair::new(true, true),
        other => return Err(format!("`{other}`: expected none, far, near or both")),
    };
    Ok(Settled {
        versions: Pair::new(
            parse_required(far, "FAR-VERSION")?,
            parse_required(near, "NEAR-VERSION")?,
        ),
        policy: parse_required(policy, "POLICY")?,
        listed_as_recorded,
    })
}

/// Parses the fields after `modseq`: only the far side has one.
pub(super) fn parse_modseq(args: &[&str]) -> Result<Option<u64>, String> {
    let [side, value] = expect_count(args)?;
    if side != "far" {
        return Err(format!("`{side}`: only the far side has a modseq"));
    }
    parse_optional_number(value, "NUMBER")
}

/// The state file text of `state`, saved as generation `generation`.
pub(super) fn format_state(state: &FolderState, generation: u64) -> String {
    let mut out = format!("{STATE_MAGIC} {STATE_VERSION}\ngeneration {generation}\n");
    for side in Side::BOTH {
        let value = format_optional_number(state.uidvalidity[side]);
        let _ = writeln!(out, "uidvalidity {side} {value}");
    }
    let modseq = format_optional_number(state.far_highest_modseq);
    let _ = writeln!(out, "modseq far {modseq}");
    if let Some(settled) = &state.settled {
        let _ = writeln!(out, "settled {}", format_settled(settled));
    }
    out.reserve(state.records.len() * 64);
    for record in &state.records {
        push_record(&mut out, record);
        out.push('\n');
    }
    for copy in &state.pending {
        out.push_str(&format_pending(copy));
        out.push('\n');
    }
    for upload in &state.unconfirmed {
        out.push_str(&format_unconfirmed(upload));
        out.push('\n');
    }
    for trashing in &state.trashing {
        out.push_str(&format_trashing(trashing));
        out.push('\n');
    }
    out
}

/// What loading would reject, checked before saving so a bad state never
/// replaces a good one: the same copy pending twice. (Records cannot pair
/// an id twice or hold no id: [`super::Records`] keeps them so.)
pub(super) fn check_ids_unique(state: &FolderState) -> anyhow::Result<()> {
    let mut seen_pending = std::collections::HashSet::new();
    for copy in &state.pending {
        if !seen_pending.insert((copy.target, &copy.source_id)) {
            anyhow::bail!(
                "the copy of {} id {:?} to {} is pending twice",
                copy.target.other(),
                copy.source_id,
                copy.target
            );
        }
    }
    let mut seen_trashing = std::collections::HashSet::new();
    for trashing in &state.trashing {
        if !seen_trashing.insert((trashing.side, &trashing.id)) {
            anyhow::bail!(
                "{} id {:?} is on its way to the trash twice",
                trashing.side,
                trashing.id
            );
        }
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// The directory holding `path` (`.` for a bare file name).
pub(super) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates a directory and its missing parents, readable only by the user
/// (the state names every message and folder).
pub(super) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create state directory {}", dir.display()))
}

/// Makes the directory's entries (a rename, a new or removed file) durable.
pub(super) fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

pub(super) fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::JournalEntry;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;

    fn record(far: Option<&str>, near: Option<&str>, flags: Flags) -> Record {
        Record {
            ids: Pair::new(far.map(String::from), near.map(String::from)),
            flags,
        }
    }

    /// `state` as loading it back after a save finds it: one generation on.
    fn as_saved(state: &FolderState) -> FolderState {
        FolderState {
            generation: state.generation + 1,
            ..state.clone()
        }
    }

    /// A state whose every string is one that could break a naive format.
    fn odd_state() -> FolderState {
        FolderState {
            generation: 41,
            uidvalidity: Pair::new(Some(1_700_000_000), None),
            far_highest_modseq: Some(u64::MAX),
            settled: Some(Settled {
                versions: Pair::new("1.2 3".to_string(), "-".to_string()),
                policy: "%\n".to_string(),
                listed_as_recorded: Pair::new(false, true),
            }),
            records: vec![
                record(Some("1"), Some("with space"), Flags::SEEN),
                record(Some("%"), Some("-"), Flags::EMPTY),
                record(Some("a\nb"), Some("tab\tnul\0del\x7f"), Flags::FLAGGED),
                record(Some("é✉"), Some(""), Flags::DELETED),
                record(Some("%2D"), None, Flags::DRAFT.union(Flags::ANSWERED)),
                record(None, Some("-x-"), Flags::FORWARDED),
            ]
            .into(),
            pending: vec![PendingCopy {
                target: Side::Near,
                source_id: "-".to_string(),
                ticket: "tmp/1 2\r\n%".to_string(),
                size: 0,
                sha256: String::new(),
                flags: Flags::SEEN,
            }],
            // The same upload twice: each entry accounts for one copy.
            unconfirmed: vec![odd_upload(), odd_upload()],
            trashing: vec![
                Trashing {
                    side: Side::Far,
                    id: "-".to_string(),
                    folder: "Deleted Items/%".to_string(),
                    ticket: Some("-".to_string()),
                    copied: true,
                    remote: false,
                },
                Trashing {
                    side: Side::Near,
                    id: "1700000000.M1P2Q3.host:2,T".to_string(),
                    folder: "Trash".to_string(),
                    ticket: None,
                    copied: false,
                    remote: false,
                },
                Trashing {
                    side: Side::Near,
                    id: "x".to_string(),
                    folder: "Trash".to_string(),
                    ticket: Some("17".to_string()),
                    copied: false,
                    remote: true,
                },
            ],
        }
    }

    fn odd_upload() -> UnconfirmedUpload {
        UnconfirmedUpload {
            target: Side::Far,
            source_id: "1700000000.M1P2Q3.host,S=12:2,S".to_string(),
            ticket: "-".to_string(),
            size: 12,
            sha256: "ab %".to_string(),
            flags: Flags::SEEN.union(Flags::FLAGGED),
            since: 1_700_000_000,
        }
    }

    #[test]
    fn a_state_written_before_unconfirmed_uploads_existed_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_state_file(
            dir.path(),
            "mailferry-state 1\ngeneration 3\nuidvalidity far 7\nuidvalidity near -\n\
             modseq far -\npair 1 a S\npending far b 2 10 abc -\n",
        );
        let state = file.load().unwrap();
        assert_eq!(state.records.len(), 1);
        assert_eq!(state.pending.len(), 1);
        assert!(state.unconfirmed.is_empty());
    }

    #[test]
    fn unconfirmed_uploads_round_trip_and_keep_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        let state = odd_state();
        file.save(&state).unwrap();
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(text.starts_with("mailferry-state 1\n"), "{text}");
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("unconfirmed far "))
                .count(),
            2,
            "{text}"
        );
        assert_eq!(file.load().unwrap(), as_saved(&state));
    }

    #[test]
    fn a_malformed_unconfirmed_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_state_file(
            dir.path(),
            "mailferry-state 1\ngeneration 3\nunconfirmed far b 2 10 abc - soon\n",
        );
        let err = file.load().unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("SINCE"), "{err}");
    }

    fn write_state_file(dir: &Path, text: &str) -> StateFile {
        let path = dir.join("folder.state");
        fs::write(&path, text).unwrap();
        StateFile::new(path)
    }

    #[test]
    fn the_settled_line_is_read_from_the_first_lines_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        assert_eq!(
            file.load_head().and_then(|head| head.settled),
            None,
            "no file"
        );
        let state = odd_state();
        file.save(&state).unwrap();
        assert_eq!(
            file.load_head().and_then(|head| head.settled),
            state.settled
        );
        let unsettled = FolderState {
            settled: None,
            ..state
        };
        file.save(&as_saved(&unsettled)).unwrap();
        assert_eq!(file.load_head().and_then(|head| head.settled), None);
        // A `settled` line among the records is not what mailferry writes:
        // the fast read does not look that far (the full load refuses it
        // only if given twice).
        let late = write_state_file(
            dir.path(),
            "mailferry-state 1\ngeneration 1\nuidvalidity far 1\nuidvalidity near -\n\
             modseq far -\npair 1 a S\nsettled x y z both\n",
        );
        assert_eq!(late.load_head().and_then(|head| head.settled), None);
    }

    #[test]
    fn odd_ids_round_trip_through_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        let state = odd_state();
        file.save(&state).unwrap();
        assert_eq!(file.load().unwrap(), as_saved(&state));
        // One line per item: no id broke a line.
        let text = fs::read_to_string(file.path()).unwrap();
        assert_eq!(text.lines().count(), 1 + 1 + 4 + 6 + 1 + 2 + 3);
    }

    #[test]
    fn empty_id_and_absent_id_are_written_differently() {
        let state = FolderState {
            records: vec![record(Some("7"), Some(""), Flags::EMPTY)].into(),
            ..FolderState::default()
        };
        let text = format_state(&state, 1);
        assert!(text.contains("\npair 7 % -\n"), "{text}");
        assert_eq!(escape("-"), "%2D");
        assert_eq!(format_id(None), "-");
    }

    #[test]
    fn missing_state_file_loads_as_first_sync() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("never-saved.state"));
        let state = file.load().unwrap();
        assert_eq!(state, FolderState::default());
        assert_eq!(state.generation, 0);
    }

    #[test]
    fn corrupt_state_files_are_errors_naming_the_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty state file"),
            ("mailferry-sta", 1, "middle of a line"),
            ("mailferry-state\n", 1, "expected header `mailferry-state 1`"),
            ("mailferry-state 2\n", 1, "unsupported state file version 2"),
            ("something else 1\n", 1, "not a mailferry state file"),
            (
                "mailferry-state 1\ngeneration 7\npair 1 a S\npair 2 b",
                4,
                "middle of a line",
            ),
            (
                "mailferry-state 1\ngeneration 7\nuidvalidity far 12\npair 1 a S\ngarbage here\n",
                5,
                "unknown keyword `garbage`",
            ),
            (
                "mailferry-state 1\ngeneration 7\nuidvalidity far 12x\n",
                3,
                "malformed uidvalidity line: expected `uidvalidity SIDE NUMBER-OR-DASH`: NUMBER `12x` is not a number",
            ),
            (
                "mailferry-state 1\ngeneration 7\nuidvalidity far 99999999999\n",
                3,
                "out of range",
            ),
            (
                "mailferry-state 1\ngeneration 7\nuidvalidity middle 1\n",
                3,
                "`middle` is not a side",
            ),
            (
                "mailferry-state 1\ngeneration 7\nmodseq near 5\n",
                3,
                "only the far side has a modseq",
            ),
            (
                "mailferry-state 1\ngeneration 7\npair 1 a\n",
                3,
                "malformed pair line: expected `pair FAR NEAR FLAGS`",
            ),
            ("mailferry-state 1\ngeneration 7\npair 1 a%G1 S\n", 3, "bad escape"),
            ("mailferry-state 1\ngeneration 7\npair 1 a% S\n", 3, "bad escape"),
            ("mailferry-state 1\ngeneration 7\npair 1 a Sx\n", 3, "unknown flag letters"),
            ("mailferry-state 1\ngeneration 7\npair 1 a S\r\n", 3, "control character"),
            ("mailferry-state 1\ngeneration 7\npair 1  a S\n", 3, "empty field"),
            ("mailferry-state 1\ngeneration 7\npair - - S\n", 3, "both `-`"),
            (
                "mailferry-state 1\ngeneration 7\npair 1 a S\npair 2 a S\n",
                4,
                "near id `a` is already paired on line 3",
            ),
            (
                "mailferry-state 1\ngeneration 7\nuidvalidity far 1\nuidvalidity far 2\n",
                4,
                "given twice",
            ),
            (
                "mailferry-state 1\ngeneration 7\npending far 7 t -5 abc S\n",
                3,
                "SIZE `-5` is not a number",
            ),
            (
                "mailferry-state 1\ngeneration 7\npending far - t 5 abc S\n",
                3,
                "SOURCE must not be `-`",
            ),
            (
                "mailferry-state 1\ngeneration 7\npending far 7 t 5 abc S\npending far 7 u 6 abc S\n",
                4,
                "already pending on line 3",
            ),
            ("mailferry-state 1\ngeneration 7\npair 1 %FF S\n", 3, "UTF-8"),
            ("mailferry-state 1\n", 2, "missing line `generation NUMBER`"),
            (
                "mailferry-state 1\ngeneration x\n",
                2,
                "malformed generation line: expected `generation NUMBER`: NUMBER `x` is not a number",
            ),
            (
                "mailferry-state 1\ngeneration 1 2\n",
                2,
                "found 2 fields after the keyword, expected 1",
            ),
            (
                "mailferry-state 1\ngeneration 99999999999999999999\n",
                2,
                "out of range",
            ),
            (
                "mailferry-state 1\ngeneration 1\nuidvalidity far 1\ngeneration 2\n",
                4,
                "generation given twice (first on line 2)",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (text, line, fragment) in cases {
            let file = write_state_file(dir.path(), text);
            let err = file.load().expect_err(text);
            assert_eq!(err.path, file.path(), "{text:?}");
            assert_eq!(err.line, Some(*line), "{text:?}: {err}");
            assert!(err.message.contains(fragment), "{text:?}: {err}");
        }
    }

    #[test]
    fn error_message_reads_file_colon_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_state_file(dir.path(), "mailferry-state 1\ngeneration 1\npair 1\n");
        let err = file.load().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: malformed pair line: expected `pair FAR NEAR FLAGS`: \
                 found 1 fields after the keyword, expected 3",
                file.path().display()
            )
        );
    }

    #[test]
    fn corrupt_state_with_journal_is_still_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_state_file(
            dir.path(),
            "mailferry-state 1\ngeneration 0\npair 1 a S\nbogus\n",
        );
        fs::write(file.journal_path(), "mailferry-journal 1 0\npair 2 b S\n").unwrap();
        assert_eq!(file.load().unwrap_err().line, Some(4));
    }

    #[test]
    fn save_removes_the_journal_and_leaves_no_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        let mut journal = file.journal(&FolderState::default()).unwrap();
        journal
            .append(&super::super::JournalEntry::UidValidity {
                side: Side::Far,
                value: Some(5),
            })
            .unwrap();
        let state = file.load().unwrap();
        assert_eq!(state.uidvalidity[Side::Far], Some(5));
        file.save(&state).unwrap();
        assert!(!file.journal_path().exists());
        assert!(!file.new_path().exists());
        assert_eq!(file.load().unwrap(), as_saved(&state));
    }

    #[test]
    fn save_overwrites_a_stale_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        fs::write(file.new_path(), "half-written garbage").unwrap();
        file.save(&odd_state()).unwrap();
        assert!(!file.new_path().exists());
        assert_eq!(file.load().unwrap(), as_saved(&odd_state()));
    }

    #[test]
    fn save_creates_private_directories_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let file = StateFile::new(state_path(&state_dir, "work", "INBOX"));
        file.save(&odd_state()).unwrap();
        file.journal(&file.load().unwrap()).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(file.path()), 0o600);
        assert_eq!(mode(&file.journal_path()), 0o600);
        assert_eq!(mode(&state_dir), 0o700);
        assert_eq!(mode(&state_dir.join("work")), 0o700);
    }

    #[test]
    fn save_refuses_a_state_that_would_not_load_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        file.save(&odd_state()).unwrap();
        let mut bad = odd_state();
        let again = bad.pending[0].clone();
        bad.pending.push(again);
        let err = file.save(&bad).unwrap_err();
        assert!(format!("{err:#}").contains("is pending twice"), "{err:#}");
        assert_eq!(file.load().unwrap(), as_saved(&odd_state()));
    }

    fn unpair(far: Option<&str>, near: Option<&str>) -> JournalEntry {
        JournalEntry::Unpair {
            ids: Pair::new(far.map(String::from), near.map(String::from)),
        }
    }

    fn far_gone(kept_near_id: &str) -> JournalEntry {
        JournalEntry::Tombstone {
            gone: Side::Far,
            kept_id: kept_near_id.to_string(),
        }
    }

    #[test]
    fn each_save_writes_the_next_generation_right_after_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        for expected in 1..=3 {
            let state = file.load().unwrap();
            file.save(&state).unwrap();
            let text = fs::read_to_string(file.path()).unwrap();
            assert_eq!(
                text.lines().nth(1),
                Some(format!("generation {expected}").as_str()),
                "{text}"
            );
            assert_eq!(file.load().unwrap().generation, expected);
        }
    }

    #[test]
    fn generation_wraps_instead_of_overflowing() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_state_file(
            dir.path(),
            &format!("mailferry-state 1\ngeneration {}\n", u64::MAX),
        );
        let state = file.load().unwrap();
        assert_eq!(state.generation, u64::MAX);
        file.save(&state).unwrap();
        assert_eq!(file.load().unwrap().generation, 0);
    }

    #[test]
    fn state_file_without_a_generation_line_is_an_error_naming_line_2() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_state_file(dir.path(), "mailferry-state 1\nuidvalidity far 5\n");
        let err = file.load().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: missing line `generation NUMBER` right after the header: \
                 found `uidvalidity far 5`",
                file.path().display()
            )
        );
    }

    /// The run dies after the new state is renamed into place but before the
    /// old journal is removed: the journal must not be replayed again.
    #[test]
    fn journal_left_by_a_crash_after_the_rename_is_not_replayed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        let initial = FolderState {
            records: vec![record(Some("17"), Some("a"), Flags::SEEN)].into(),
            ..FolderState::default()
        };
        file.save(&initial).unwrap();

        let mut live = file.load().unwrap();
        let entries = [unpair(None, Some("a")), far_gone("a")];
        let mut journal = file.journal(&live).unwrap();
        for entry in &entries {
            journal.append(entry).unwrap();
            apply(&mut live, entry);
        }
        drop(journal);
        assert_eq!(
            live.records.iter().cloned().collect::<Vec<_>>(),
            vec![record(None, Some("a"), Flags::SEEN)]
        );
        // Replaying these entries twice loses the tombstone: the second
        // `unpair - a` finds it.
        let mut replayed_twice = live.clone();
        for entry in &entries {
            apply(&mut replayed_twice, entry);
        }
        assert!(replayed_twice.records.is_empty());

        let old_journal = fs::read(file.journal_path()).unwrap();
        file.save(&live).unwrap();
        fs::write(file.journal_path(), &old_journal).unwrap();

        let loaded = file.load().unwrap();
        assert_eq!(loaded, as_saved(&live));
        assert_eq!(
            loaded.records.iter().cloned().collect::<Vec<_>>(),
            vec![record(None, Some("a"), Flags::SEEN)]
        );
    }

    #[test]
    fn journal_of_the_current_generation_is_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("folder.state"));
        file.save(&odd_state()).unwrap();
        let mut live = file.load().unwrap();
        let mut journal = file.journal(&live).unwrap();
        let entry = far_gone("with space");
        journal.append(&entry).unwrap();
        apply(&mut live, &entry);
        drop(journal);

        let journal_text = fs::read_to_string(file.journal_path()).unwrap();
        assert_eq!(
            journal_text,
            format!(
                "mailferry-journal 1 {}\ntombstone - with%20space\n",
                live.generation
            )
        );
        let loaded = file.load().unwrap();
        assert_eq!(loaded, live);
        assert_eq!(
            loaded.record_by_id(Side::Near, "with space").unwrap().ids[Side::Far],
            None
        );
    }

    #[test]
    fn opening_the_journal_over_a_stale_one_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_state_file(dir.path(), "mailferry-state 1\ngeneration 3\n");
        // A journal of generation 2, already folded into the state; even a
        // line that would not parse does not matter any more.
        fs::write(
            file.journal_path(),
            "mailferry-journal 1 2\npair 9 z S\nnot a journal line\npair 8 y",
        )
        .unwrap();
        let state = file.load().unwrap();
        assert_eq!(state.generation, 3);
        assert!(state.records.is_empty());

        let mut journal = file.journal(&state).unwrap();
        journal
            .append(&JournalEntry::Pair(record(
                Some("1"),
                Some("b"),
                Flags::EMPTY,
            )))
            .unwrap();
        drop(journal);
        assert_eq!(
            fs::read_to_string(file.journal_path()).unwrap(),
            "mailferry-journal 1 3\npair 1 b -\n"
        );
        assert_eq!(
            file.load()
                .unwrap()
                .records
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            vec![record(Some("1"), Some("b"), Flags::EMPTY)]
        );
    }

    fn folder_file_name(folder: &str) -> String {
        let path = state_path(Path::new("/state"), "chan", folder);
        assert_eq!(path.parent(), Some(Path::new("/state/chan")), "{folder:?}");
        path.file_name().unwrap().to_str().unwrap().to_string()
    }

    #[test]
    fn state_path_keeps_folder_names_inside_the_channel_directory() {
        assert_eq!(folder_file_name("../x"), "%2E.%2Fx.state");
        assert_eq!(folder_file_name("a/b"), "a%2Fb.state");
        assert_eq!(folder_file_name(".hidden"), "%2Ehidden.state");
        assert_eq!(folder_file_name("INBOX"), "INBOX.state");
        assert_eq!(folder_file_name(""), "%.state");
        assert_eq!(folder_file_name("Envoyés"), "Envoyés.state");
    }

    #[test]
    fn distinct_folders_get_distinct_state_files() {
        let long_a = "x".repeat(300) + "a";
        let long_b = "x".repeat(300) + "b";
        let long_slashes = "/".repeat(300);
        let folders = [
            "a/b",
            "a%2Fb",
            "a%b",
            "a_b",
            "",
            "%",
            ".",
            "..",
            "-",
            "%2E",
            ".a",
            "a.",
            "a b",
            "a\nb",
            "a\tb",
            &long_a,
            &long_b,
            &long_slashes,
        ];
        let names: HashSet<String> = folders.iter().map(|f| folder_file_name(f)).collect();
        assert_eq!(names.len(), folders.len());
        for name in &names {
            assert!(!name.starts_with('.'), "{name}");
            assert!(name.len() + ".journal".len() <= 255, "{name}");
        }
    }

    #[test]
    fn channel_directories_cannot_collide_with_lock_files() {
        let dir = Path::new("/state");
        let channel_dir = state_path(dir, "x.lock", "INBOX");
        assert_eq!(channel_dir.parent(), Some(Path::new("/state/x%2Elock")));
    }

    proptest! {
        #[test]
        fn any_string_survives_escaping(value in any::<String>()) {
            let field = escape(&value);
            prop_assert!(!field.is_empty() && field != "-");
            prop_assert!(field.bytes().all(|b| b >= 0x21 && b != 0x7f));
            prop_assert_eq!(parse_id(&field, "ID"), Ok(Some(value)));
        }

        #[test]
        fn any_folder_name_is_one_safe_file_name(folder in any::<String>()) {
            let name = folder_file_name(&folder);
            prop_assert!(!name.contains('/') && !name.starts_with('.'));
            prop_assert!(name.len() + ".journal".len() <= 255);
            if folder.len() < 50 {
                // Short names are reversible.
                let escaped = name.strip_suffix(".state").unwrap();
                prop_assert_eq!(unescape(escaped), Ok(folder));
            }
        }
    }
}
