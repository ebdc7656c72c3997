//! The list of folders a channel has synced, so that a folder missing on
//! one side can be told apart: deleted there since the last sync (it is on
//! the list) or new on the other side (it is not).
//!
//! Format: a header line, then one escaped folder name per line.

use super::file::{escape, parent_dir, state_path, unescape, write_atomically, StateError};
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::PathBuf;

const HEADER: &str = "mailferry-folders 1";

/// The synced-folder list of one channel.
#[derive(Debug, Clone)]
pub struct FolderList {
    path: PathBuf,
}

impl FolderList {
    /// The list of `channel`, beside its folders' state files.
    pub fn for_channel(state_dir: &std::path::Path, channel: &str) -> FolderList {
        // Any folder's state path names the channel's directory.
        let sample = state_path(state_dir, channel, "INBOX");
        FolderList {
            path: parent_dir(&sample).join("folders"),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The folders synced before; empty when the channel never synced.
    pub fn load(&self) -> Result<BTreeSet<String>, StateError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
            Err(err) => return Err(StateError::io(&self.path, "cannot read folder list", err)),
        };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => {
                return Err(StateError::at_line(
                    &self.path,
                    1,
                    format!("expected header `{HEADER}`"),
                ))
            }
        }
        lines
            .map(|(index, line)| {
                unescape(line)
                    .map_err(|message| StateError::at_line(&self.path, index + 1, message))
            })
            .collect()
    }

    /// Replaces the list, atomically (write, fsync, rename).
    pub fn save(&self, folders: &BTreeSet<String>) -> anyhow::Result<()> {
        let mut text = format!("{HEADER}\n");
        for folder in folders {
            text.push_str(&escape(folder));
            text.push('\n');
        }
        write_atomically(
            &self.path,
            &self.path.with_extension("new"),
            text.as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_list_round_trips_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let list = FolderList::for_channel(dir.path(), "work");
        assert!(list.load().unwrap().is_empty());
        let names: BTreeSet<String> = ["INBOX", "Données", "a b", "line\nbreak", "-", "100%"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        list.save(&names).unwrap();
        assert_eq!(list.load().unwrap(), names);
    }

    #[test]
    fn corrupt_folder_list_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let list = FolderList::for_channel(dir.path(), "work");
        fs::create_dir_all(list.path().parent().unwrap()).unwrap();
        fs::write(list.path(), "mailferry-folders 1\nok\nbad%zz\n").unwrap();
        let err = list.load().unwrap_err();
        assert_eq!(err.line, Some(3));
    }
}
