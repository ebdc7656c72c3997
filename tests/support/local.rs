//! Reads a local Maildir folder back as a mail reader would see it: every
//! message file in new/ and cur/ with its flags, for comparing with the
//! server.

use std::fs;
use std::path::{Path, PathBuf};

/// One message file of a Maildir folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMessage {
    pub path: PathBuf,
    /// The unique name: the file name before `:2,`.
    pub unique: String,
    /// `new` or `cur`.
    pub subdir: String,
    /// The info letters after `:2,` (empty when none).
    pub letters: String,
    pub content: Vec<u8>,
    /// Modification time, unix seconds.
    pub mtime: i64,
}

impl LocalMessage {
    pub fn message_id(&self) -> Option<String> {
        super::imap_client::header_value(&self.content, "Message-ID")
    }
}

/// Every message of the Maildir folder at `dir` (which holds cur/new/tmp),
/// sorted by unique name.
pub fn read_folder(dir: &Path) -> Vec<LocalMessage> {
    let mut messages = Vec::new();
    for subdir in ["new", "cur"] {
        let Ok(entries) = fs::read_dir(dir.join(subdir)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let (unique, letters) = match name.split_once(":2,") {
                Some((unique, letters)) => (unique.to_string(), letters.to_string()),
                None => (name.clone(), String::new()),
            };
            let metadata = entry.metadata().unwrap();
            let mtime = metadata
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            messages.push(LocalMessage {
                path: entry.path(),
                unique,
                subdir: subdir.to_string(),
                letters,
                content: fs::read(entry.path()).unwrap(),
                mtime,
            });
        }
    }
    messages.sort_by(|a, b| a.unique.cmp(&b.unique));
    messages
}

/// Maps IMAP flags to the Maildir letters mailferry uses, sorted.
pub fn letters_for(imap_flags: &[String]) -> String {
    let mut letters: Vec<char> = imap_flags
        .iter()
        .filter_map(|flag| match flag.as_str() {
            "\\Draft" => Some('D'),
            "\\Flagged" => Some('F'),
            "$Forwarded" => Some('P'),
            "\\Answered" => Some('R'),
            "\\Seen" => Some('S'),
            "\\Deleted" => Some('T'),
            _ => None,
        })
        .collect();
    letters.sort();
    letters.into_iter().collect()
}

/// Drops a message into new/ as a mail delivery or a mail reader would,
/// returning its path.
pub fn deliver(dir: &Path, unique: &str, content: &[u8]) -> PathBuf {
    for subdir in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(subdir)).unwrap();
    }
    let tmp = dir.join("tmp").join(unique);
    fs::write(&tmp, content).unwrap();
    let path = dir.join("new").join(unique);
    fs::rename(&tmp, &path).unwrap();
    path
}

/// Renames a message file to carry `letters`, moving it to cur/, as a mail
/// reader does when flags change.
pub fn set_letters(message: &LocalMessage, letters: &str) -> PathBuf {
    let folder = message.path.parent().unwrap().parent().unwrap();
    let target = folder
        .join("cur")
        .join(format!("{}:2,{letters}", message.unique));
    fs::rename(&message.path, &target).unwrap();
    target
}
