//! The record of a folder rename under way: written before mailferry
//! renames a folder tree on one side, removed once the tree, the states of
//! its folders and the channel's folder list have all moved. A run that
//! finds it was interrupted in between, and finishes the rename before it
//! plans anything (see `sync::renames`).
//!
//! Format: a header line, then `rename SIDE FROM TO` (names escaped).

use super::file::{
    escape, parent_dir, parse_side, remove_if_present, split_fields, state_path, sync_dir,
    unescape, write_atomically, StateError,
};
use crate::mail::Side;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const HEADER: &str = "mailferry-rename 1";

/// A folder tree being renamed from `from` to `to` (channel names) on
/// `side`, with every folder below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderRename {
    pub side: Side,
    pub from: String,
    pub to: String,
}

/// The rename record of one channel, beside its folder list.
#[derive(Debug, Clone)]
pub struct RenameRecord {
    path: PathBuf,
}

impl RenameRecord {
    pub fn for_channel(state_dir: &Path, channel: &str) -> RenameRecord {
        // Any folder's state path names the channel's directory.
        let sample = state_path(state_dir, channel, "INBOX");
        RenameRecord {
            path: parent_dir(&sample).join("renaming"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rename under way, if a run was interrupted during one.
    pub fn load(&self) -> Result<Option<FolderRename>, StateError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(StateError::io(&self.path, "cannot read", err)),
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(StateError::at_line(
                &self.path,
                1,
                format!("expected header `{HEADER}`"),
            ));
        }
        let line = lines.next().unwrap_or_default();
        let parsed = split_fields(line).and_then(|fields| match fields.as_slice() {
            ["rename", side, from, to] => Ok(FolderRename {
                side: parse_side(side)?,
                from: unescape(from)?,
                to: unescape(to)?,
            }),
            _ => Err(format!("expected `rename SIDE FROM TO`, found `{line}`")),
        });
        parsed
            .map(Some)
            .map_err(|message| StateError::at_line(&self.path, 2, message))
    }

    /// Records `rename` durably, before it is started.
    pub fn save(&self, rename: &FolderRename) -> anyhow::Result<()> {
        let text = format!(
            "{HEADER}\nrename {} {} {}\n",
            rename.side,
            escape(&rename.from),
            escape(&rename.to)
        );
        write_atomically(
            &self.path,
            &self.path.with_extension("new"),
            text.as_bytes(),
        )
    }

    /// The rename is done.
    pub fn clear(&self) -> anyhow::Result<()> {
        remove_if_present(&self.path)?;
        sync_dir(parent_dir(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_record_round_trips_odd_names_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let record = RenameRecord::for_channel(dir.path(), "work");
        assert_eq!(record.load().unwrap(), None);
        let rename = FolderRename {
            side: Side::Near,
            from: "Lists of things".into(),
            to: "%-\nMailing/Données".into(),
        };
        record.save(&rename).unwrap();
        assert_eq!(record.load().unwrap(), Some(rename));
        record.clear().unwrap();
        assert_eq!(record.load().unwrap(), None);
        record.clear().unwrap();
    }

    #[test]
    fn corrupt_rename_record_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let record = RenameRecord::for_channel(dir.path(), "work");
        fs::create_dir_all(record.path().parent().unwrap()).unwrap();
        fs::write(record.path(), "mailferry-rename 1\nrename sideways a b\n").unwrap();
        assert_eq!(record.load().unwrap_err().line, Some(2));
    }
}
