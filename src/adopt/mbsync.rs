//! Reading mbsync's sync state (isync 1.4), to adopt the Maildir it made.
//!
//! mbsync keeps one state file per mailbox pair: `.mbsyncstate` inside the
//! near mailbox with `SyncState *`, else a file in the SyncState directory
//! named `:<far store>:<far box>_:<near store>:<near box>` (with `/` in box
//! names written as `!`). isync 1.4 writes it as a header of `Key value`
//! lines, an empty line, then one line per message pair:
//!
//! ```text
//! FarUidValidity 1700000001
//! NearUidValidity 1700000000
//! MaxPulledUid 5
//! MaxPushedUid 5
//!
//! 1 1 S
//! 2 2 FS
//! 3 0 ^
//! ```
//!
//! Each pair line is the far (IMAP) UID, the near UID and the flags both
//! had at the last sync (letters of `DFPRST`), optionally preceded by `^`
//! (not copied: too big) or `~` (expired). A UID of 0 means that side has
//! no copy. The near UID is the one mbsync writes into the Maildir file
//! name as `,U=<uid>`, valid while the mailbox's `.uidvalidity` file holds
//! the NearUidValidity. A `.journal` beside the state means mbsync was
//! interrupted and the state is not complete.
//!
//! Older formats (pre-1.4 Master/Slave names, pre-1.1 one-line headers) and
//! newer markers this reader does not know are refused with a message
//! rather than guessed at: a wrong pair here deletes or duplicates mail.

use super::{read_text, KnownPair, KnownPairs};
use crate::mail::Flags;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The state as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MbsyncState {
    pub far_uidvalidity: u32,
    pub near_uidvalidity: u32,
    pub entries: Vec<Entry>,
}

/// One line of the pair list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// 0: no far copy.
    pub far_uid: u32,
    /// 0: no near copy.
    pub near_uid: u32,
    pub flags: Flags,
}

const NEWER_OR_OLDER: &str = "this is not the format isync 1.4 writes";

/// Parses a state file's text; errors name the line.
pub fn parse_state(text: &str) -> Result<MbsyncState, String> {
    let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
    let mut far_uidvalidity = None;
    let mut near_uidvalidity = None;
    let mut header_ended = false;
    for (number, line) in lines.by_ref() {
        if line.is_empty() {
            header_ended = true;
            break;
        }
        if number == 1 && line.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "line 1: a one-line header, written by isync older than 1.1; {NEWER_OR_OLDER} \
                 (run mbsync 1.4 once to convert it)"
            ));
        }
        let (key, value) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {number}: expected `Key value`, found {line:?}"))?;
        let value: u32 = value
            .trim()
            .parse()
            .map_err(|_| format!("line {number}: {key} is not followed by a number"))?;
        match key {
            "FarUidValidity" => far_uidvalidity = Some(value),
            "NearUidValidity" => near_uidvalidity = Some(value),
            "MaxPulledUid" | "MaxPushedUid" | "MaxExpiredFarUid" => {}
            "MasterUidValidity"
            | "SlaveUidValidity"
            | "MaxExpiredMasterUid"
            | "MaxExpiredSlaveUid" => {
                return Err(format!(
                    "line {number}: {key} was written by isync older than 1.4; \
                     {NEWER_OR_OLDER} (run mbsync 1.4 once to convert it)"
                ))
            }
            other => return Err(format!("line {number}: unknown header entry {other:?}")),
        }
    }
    if !header_ended {
        return Err("the header does not end with an empty line: the file is cut short".into());
    }
    let (Some(far_uidvalidity), Some(near_uidvalidity)) = (far_uidvalidity, near_uidvalidity)
    else {
        return Err("the header lacks FarUidValidity or NearUidValidity".into());
    };
    let mut entries = Vec::new();
    for (number, line) in lines {
        entries.push(parse_entry(line).map_err(|e| format!("line {number}: {e}"))?);
    }
    Ok(MbsyncState {
        far_uidvalidity,
        near_uidvalidity,
        entries,
    })
}

fn parse_entry(line: &str) -> Result<Entry, String> {
    let mut fields = line.splitn(3, ' ');
    let mut uid = |side: &str| -> Result<u32, String> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("expected `FAR-UID NEAR-UID FLAGS`, the {side} UID is missing"))
    };
    let far_uid = uid("far")?;
    let near_uid = uid("near")?;
    let mut letters = fields.next().unwrap_or("");
    match letters.chars().next() {
        // Not copied (too big), or expired: the UIDs still say which copy
        // each side has.
        Some('^' | '~') => letters = &letters[1..],
        Some(marker @ ('<' | '>' | '!')) => {
            return Err(format!(
                "the marker {marker:?} is not written by isync 1.4; {NEWER_OR_OLDER}"
            ))
        }
        _ => {}
    }
    if let Some(bad) = letters.chars().find(|c| !"DFPRST".contains(*c)) {
        return Err(format!("{bad:?} is not one of mbsync's flags DFPRST"));
    }
    let (flags, _) = Flags::from_maildir_letters(letters);
    Ok(Entry {
        far_uid,
        near_uid,
        flags,
    })
}

/// The pairs mbsync recorded for `folder`, whose Maildir is `folder_dir`,
/// from the state found under `dir` (see [`find_state_file`]). Checks the
/// Maildir's `.uidvalidity` against the state, so the `,U=` numbers in the
/// file names mean what the state says.
pub fn known_pairs(dir: &Path, folder: &str, folder_dir: &Path) -> Result<KnownPairs> {
    let path = find_state_file(dir, folder, folder_dir)?;
    let journal = with_suffix(&path, ".journal");
    if std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0) {
        bail!(
            "mbsync was interrupted while syncing {folder} ({} exists): run mbsync once more so \
             its state is complete, then adopt",
            journal.display()
        );
    }
    let text = read_text(&path, "mbsync state")?;
    let state = parse_state(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let uidvalidity_path = folder_dir.join(".uidvalidity");
    let maildir_uidvalidity = read_text(&uidvalidity_path, "mbsync's Maildir UIDVALIDITY")?;
    let maildir_uidvalidity: Option<u32> = maildir_uidvalidity
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok());
    if maildir_uidvalidity != Some(state.near_uidvalidity) {
        bail!(
            "{} says UIDVALIDITY {} but {} was written for {}: the ,U= numbers in the file \
             names no longer match the state; adopt by content instead (without --from-mbsync)",
            uidvalidity_path.display(),
            maildir_uidvalidity.map_or("(none)".to_string(), |v| v.to_string()),
            path.display(),
            state.near_uidvalidity
        );
    }
    Ok(KnownPairs {
        far_uidvalidity: Some(state.far_uidvalidity),
        entries: state
            .entries
            .iter()
            .filter(|e| e.far_uid != 0 && e.near_uid != 0)
            .map(|e| KnownPair {
                far_uid: e.far_uid,
                near_uid: e.near_uid,
                flags: e.flags,
            })
            .collect(),
        notes: Vec::new(),
    })
}

/// Finds the state of `folder`: `.mbsyncstate` in its Maildir when `dir` is
/// (or holds) that Maildir, else a file in `dir` named for the mailbox pair
/// whose near box is `folder`.
pub fn find_state_file(dir: &Path, folder: &str, folder_dir: &Path) -> Result<PathBuf> {
    let in_box = folder_dir.join(".mbsyncstate");
    if folder_dir.starts_with(dir) && in_box.is_file() {
        return Ok(in_box);
    }
    let suffix = format!(":{}", folder.replace('/', "!"));
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the mbsync state directory {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        // `:far:box_:near:box`; the near part follows the last "_:".
        let Some((_, near)) = name.rsplit_once("_:") else {
            continue;
        };
        if format!(":{near}").ends_with(&suffix)
            && near.matches(':').count() == 1
            && entry.path().is_file()
        {
            found.push(entry.path());
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no mbsync state for folder {folder}: neither {} nor a file named \
             :STORE:BOX_:STORE:{} in {}",
            in_box.display(),
            folder.replace('/', "!"),
            dir.display()
        ),
        _ => bail!(
            "several mbsync states in {} name the near box {folder}: {}",
            dir.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITTEN_BY_1_4_4: &str = "FarUidValidity 1795734734\nNearUidValidity 1795734733\n\
        MaxPulledUid 5\nMaxPushedUid 5\n\n1 1 S\n2 2 \n3 3 FS\n4 0 ^\n0 7 \n5 5 ~RS\n";

    #[test]
    fn the_state_isync_1_4_4_writes_is_read() {
        let state = parse_state(WRITTEN_BY_1_4_4).unwrap();
        assert_eq!(state.far_uidvalidity, 1795734734);
        assert_eq!(state.near_uidvalidity, 1795734733);
        let entries: Vec<(u32, u32, Flags)> = state
            .entries
            .iter()
            .map(|e| (e.far_uid, e.near_uid, e.flags))
            .collect();
        assert_eq!(
            entries,
            vec![
                (1, 1, Flags::SEEN),
                (2, 2, Flags::EMPTY),
                (3, 3, Flags::FLAGGED.union(Flags::SEEN)),
                (4, 0, Flags::EMPTY),
                (0, 7, Flags::EMPTY),
                (5, 5, Flags::ANSWERED.union(Flags::SEEN)),
            ]
        );
    }

    #[test]
    fn older_and_newer_formats_are_refused_with_a_reason() {
        let pre_1_4 = "MasterUidValidity 1\nSlaveUidValidity 2\nMaxPulledUid 1\n\n1 1 S\n";
        assert!(parse_state(pre_1_4).unwrap_err().contains("older than 1.4"));
        let pre_1_1 = "1:5 2:0:5\n1 1 S\n";
        assert!(parse_state(pre_1_1).unwrap_err().contains("older than 1.1"));
        let dummy = "FarUidValidity 1\nNearUidValidity 2\n\n1 1 <S\n";
        let error = parse_state(dummy).unwrap_err();
        assert!(error.starts_with("line 4:"), "{error}");
        assert!(error.contains("not written by isync 1.4"), "{error}");
    }

    #[test]
    fn damaged_states_are_refused() {
        assert!(parse_state("FarUidValidity 1\nNearUidValidity 2\n")
            .unwrap_err()
            .contains("cut short"));
        assert!(parse_state("FarUidValidity 1\n\n")
            .unwrap_err()
            .contains("NearUidValidity"));
        assert!(parse_state("FarUidValidity x\n\n")
            .unwrap_err()
            .contains("line 1"));
        assert!(parse_state("FarUidValidity 1\nNearUidValidity 2\n\n1 S\n")
            .unwrap_err()
            .contains("line 4"));
        assert!(
            parse_state("FarUidValidity 1\nNearUidValidity 2\n\n1 1 SX\n")
                .unwrap_err()
                .contains("DFPRST")
        );
    }

    fn maildir_with_state(root: &Path, folder: &str, state: &str, uidvalidity: &str) -> PathBuf {
        let dir = root.join(folder);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join(".mbsyncstate"), state).unwrap();
        std::fs::write(dir.join(".uidvalidity"), uidvalidity).unwrap();
        dir
    }

    #[test]
    fn pairs_with_both_uids_are_known_and_the_maildir_uidvalidity_is_checked() {
        let root = tempfile::tempdir().unwrap();
        let dir = maildir_with_state(root.path(), "INBOX", WRITTEN_BY_1_4_4, "1795734733\n7\n");
        let known = known_pairs(root.path(), "INBOX", &dir).unwrap();
        assert_eq!(known.far_uidvalidity, Some(1795734734));
        let uids: Vec<(u32, u32)> = known
            .entries
            .iter()
            .map(|e| (e.far_uid, e.near_uid))
            .collect();
        assert_eq!(uids, vec![(1, 1), (2, 2), (3, 3), (5, 5)]);

        std::fs::write(dir.join(".uidvalidity"), "42\n7\n").unwrap();
        let error = known_pairs(root.path(), "INBOX", &dir).unwrap_err();
        assert!(error.to_string().contains("no longer match"), "{error:#}");
    }

    #[test]
    fn an_interrupted_mbsync_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = maildir_with_state(root.path(), "INBOX", WRITTEN_BY_1_4_4, "1795734733\n7\n");
        std::fs::write(dir.join(".mbsyncstate.journal"), "3\n+ 6 0\n").unwrap();
        let error = known_pairs(root.path(), "INBOX", &dir).unwrap_err();
        assert!(error.to_string().contains("interrupted"), "{error:#}");
    }

    #[test]
    fn a_state_in_a_syncstate_directory_is_found_by_its_near_box() {
        let states = tempfile::tempdir().unwrap();
        let maildir = tempfile::tempdir().unwrap();
        let folder_dir = maildir.path().join("Work/Projects");
        std::fs::write(states.path().join(":server:INBOX_:local:INBOX"), "").unwrap();
        // mbsync writes '/' in box names as '!'.
        std::fs::write(
            states
                .path()
                .join(":server:Work!Projects_:local:Work!Projects"),
            "",
        )
        .unwrap();
        let found = find_state_file(states.path(), "Work/Projects", &folder_dir).unwrap();
        assert!(found.to_string_lossy().ends_with("_:local:Work!Projects"));
        let found = find_state_file(states.path(), "INBOX", &maildir.path().join("INBOX")).unwrap();
        assert!(found.to_string_lossy().ends_with("_:local:INBOX"));
        assert!(find_state_file(states.path(), "Other", &maildir.path().join("Other")).is_err());
    }
}
