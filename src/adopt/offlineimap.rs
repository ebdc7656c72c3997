//! Reading OfflineIMAP's status, to adopt the Maildir it made.
//!
//! OfflineIMAP names each local file after the server's UID
//! (`<time>_<n>.<pid>.<host>,U=<uid>,FMD5=<hash>:2,<flags>`), so a file's
//! `,U=` *is* its far UID, and keeps per folder the list of UIDs it synced
//! with their flags at the time: `<account dir>/LocalStatus/<folder>` (the
//! folder's levels joined with `.`), a text file starting with
//! `OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT <n>`, then
//! one message per line: `uid:flags` in format 1, `uid|flags|mtime|labels`
//! in format 2. The server folder's UIDVALIDITY is kept in
//! `Repository-<remote>/FolderValidity/<folder>` beside the account dir.
//!
//! The SQLite status (`LocalStatus-sqlite/`, OfflineIMAP's default since
//! 7.0) is not read: it would need an SQLite library (rusqlite compiles
//! SQLite from source) for a one-off step. Its users set
//! `status_backend = plain` and run OfflineIMAP once, or adopt by content.

use super::{read_text, KnownPair, KnownPairs};
use crate::mail::Flags;
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};

const MAGIC: &str = "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT ";

/// One synced message: its UID (far and near alike) and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusEntry {
    pub uid: u32,
    pub flags: Flags,
}

/// Parses a plain-text LocalStatus file; errors name the line.
pub fn parse_local_status(text: &str) -> Result<Vec<StatusEntry>, String> {
    let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
    let separator = match lines.next() {
        Some((_, first)) => match first.strip_prefix(MAGIC) {
            Some("1") => ':',
            Some("2") => '|',
            Some(other) => {
                return Err(format!(
                    "line 1: LocalStatus format {other} is not known (formats 1 and 2 are)"
                ))
            }
            None => return Err("line 1: not an OfflineIMAP LocalStatus file".to_string()),
        },
        None => return Err("the file is empty".to_string()),
    };
    let mut entries = Vec::new();
    for (number, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(separator);
        let uid = fields
            .next()
            .and_then(|f| f.parse::<u32>().ok())
            .filter(|&uid| uid > 0)
            .ok_or_else(|| format!("line {number}: expected a UID first, found {line:?}"))?;
        let letters = fields
            .next()
            .ok_or_else(|| format!("line {number}: no flags after the UID"))?;
        let (flags, _) = Flags::from_maildir_letters(letters);
        entries.push(StatusEntry { uid, flags });
    }
    Ok(entries)
}

/// The pairs OfflineIMAP recorded for `folder`, from the account's
/// metadata directory `dir` (the one holding `LocalStatus/`).
pub fn known_pairs(dir: &Path, folder: &str) -> Result<KnownPairs> {
    let base_name = folder.replace('/', ".");
    let status_path = dir.join("LocalStatus").join(&base_name);
    if !status_path.is_file() {
        if dir.join("LocalStatus-sqlite").join(&base_name).is_file() {
            bail!(
                "OfflineIMAP keeps the status of {folder} in SQLite ({}), which mailferry does \
                 not read: set `status_backend = plain` in OfflineIMAP's config and run it once, \
                 or adopt by content (without --from-offlineimap)",
                dir.join("LocalStatus-sqlite").join(&base_name).display()
            );
        }
        bail!(
            "no OfflineIMAP status for folder {folder}: {} does not exist",
            status_path.display()
        );
    }
    let text = read_text(&status_path, "OfflineIMAP status")?;
    let entries =
        parse_local_status(&text).map_err(|e| anyhow!("{}: {e}", status_path.display()))?;
    let mut notes = Vec::new();
    let far_uidvalidity = match folder_validity_files(dir, &base_name).as_slice() {
        [path] => {
            let text = read_text(path, "OfflineIMAP folder validity")?;
            let value = text
                .trim()
                .parse::<u32>()
                .map_err(|_| anyhow!("{}: expected a UIDVALIDITY number", path.display()))?;
            Some(value)
        }
        _ => {
            notes.push(format!(
                "no single Repository-*/FolderValidity/{base_name} beside {}: UIDVALIDITY not \
                 checked",
                dir.display()
            ));
            None
        }
    };
    Ok(KnownPairs {
        far_uidvalidity,
        entries: entries
            .iter()
            .map(|e| KnownPair {
                far_uid: e.uid,
                near_uid: e.uid,
                flags: e.flags,
            })
            .collect(),
        notes,
    })
}

/// `Repository-*/FolderValidity/<folder>` files next to the account dir:
/// only the remote repository keeps one.
fn folder_validity_files(account_dir: &Path, base_name: &str) -> Vec<PathBuf> {
    let Some(metadata_dir) = account_dir.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(metadata_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("Repository-"))
        .map(|e| e.path().join("FolderValidity").join(base_name))
        .filter(|p| p.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_1_and_2_are_read() {
        let v2 = format!("{MAGIC}2\n1|S|1700000000|\n7|FS|0|work, later\n");
        assert_eq!(
            parse_local_status(&v2).unwrap(),
            vec![
                StatusEntry {
                    uid: 1,
                    flags: Flags::SEEN
                },
                StatusEntry {
                    uid: 7,
                    flags: Flags::FLAGGED.union(Flags::SEEN)
                },
            ]
        );
        let v1 = format!("{MAGIC}1\n3:RS\n4:\n");
        assert_eq!(
            parse_local_status(&v1).unwrap(),
            vec![
                StatusEntry {
                    uid: 3,
                    flags: Flags::ANSWERED.union(Flags::SEEN)
                },
                StatusEntry {
                    uid: 4,
                    flags: Flags::EMPTY
                },
            ]
        );
    }

    #[test]
    fn unknown_formats_and_damaged_lines_are_refused() {
        assert!(parse_local_status(&format!("{MAGIC}3\n"))
            .unwrap_err()
            .contains("format 3"));
        assert!(parse_local_status("1:S\n")
            .unwrap_err()
            .contains("not an OfflineIMAP"));
        assert!(parse_local_status(&format!("{MAGIC}2\nx|S|0|\n"))
            .unwrap_err()
            .contains("line 2"));
    }

    #[test]
    fn status_and_folder_validity_are_found_beside_each_other() {
        let metadata = tempfile::tempdir().unwrap();
        let account = metadata.path().join("Account-work");
        std::fs::create_dir_all(account.join("LocalStatus")).unwrap();
        std::fs::write(
            account.join("LocalStatus").join("Work.Projects"),
            format!("{MAGIC}2\n5|S|0|\n"),
        )
        .unwrap();
        let validity = metadata.path().join("Repository-remote/FolderValidity");
        std::fs::create_dir_all(&validity).unwrap();
        std::fs::write(validity.join("Work.Projects"), "1234\n").unwrap();

        let known = known_pairs(&account, "Work/Projects").unwrap();
        assert_eq!(known.far_uidvalidity, Some(1234));
        assert_eq!(
            known.entries,
            vec![KnownPair {
                far_uid: 5,
                near_uid: 5,
                flags: Flags::SEEN
            }]
        );

        std::fs::create_dir_all(account.join("LocalStatus-sqlite")).unwrap();
        std::fs::write(account.join("LocalStatus-sqlite").join("INBOX"), "").unwrap();
        let error = known_pairs(&account, "INBOX").unwrap_err();
        assert!(error.to_string().contains("SQLite"), "{error:#}");
    }
}
