//! Noticing changes in a Maildir by polling: a mail reader adding,
//! renaming (flags) or removing a message file changes the modification
//! time of the folder's `cur/` or `new/` directory, so comparing those
//! times every few seconds finds the folders to sync.
//!
//! Polling rather than inotify: it needs no extra crate, works the same on
//! every Unix and on network file systems, and a stat of two directories
//! per folder every two seconds costs nothing measurable. Directory times
//! have nanosecond resolution on the usual Linux file systems; on one with
//! whole seconds a second change within the same second is seen at the next
//! change or full sync.

use crate::store::maildir::MaildirTree;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Times of `cur/` and `new/`; `None` where a directory cannot be read.
type Stamp = [Option<SystemTime>; 2];

/// The last seen times of every folder of one Maildir tree.
pub struct MaildirPoller {
    tree: MaildirTree,
    seen: BTreeMap<String, Stamp>,
}

impl MaildirPoller {
    /// Starts from the tree as it is now: only later changes are reported.
    pub fn new(tree: MaildirTree) -> MaildirPoller {
        let mut poller = MaildirPoller {
            tree,
            seen: BTreeMap::new(),
        };
        poller.seen = poller.scan();
        poller
    }

    /// Folders added, removed or changed since the last call.
    pub fn changed(&mut self) -> Vec<String> {
        let now = self.scan();
        let mut changed: Vec<String> = now
            .iter()
            .filter(|(name, stamp)| self.seen.get(*name) != Some(stamp))
            .map(|(name, _)| name.clone())
            .collect();
        changed.extend(
            self.seen
                .keys()
                .filter(|name| !now.contains_key(*name))
                .cloned(),
        );
        self.seen = now;
        changed
    }

    fn scan(&self) -> BTreeMap<String, Stamp> {
        // An unreadable root reads as empty, and what the listing warns
        // about is for the sync to report.
        let folders = self.tree.folder_names(&mut Vec::new()).unwrap_or_default();
        folders
            .into_iter()
            .filter_map(|name| {
                let dir = self.tree.folder_dir(&name).ok()?;
                let time = |sub: &str| {
                    std::fs::metadata(dir.join(sub))
                        .and_then(|m| m.modified())
                        .ok()
                };
                Some((name, [time("cur"), time("new")]))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layout;

    fn deliver(dir: &std::path::Path, name: &str) {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("new").join(name), b"Subject: x\r\n\r\nx\r\n").unwrap();
    }

    #[test]
    fn a_new_file_a_rename_and_a_new_folder_are_each_noticed_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        deliver(&root.join("INBOX"), "1");
        deliver(&root.join("Work"), "2");
        let mut poller = MaildirPoller::new(MaildirTree::new(root.clone(), Layout::Verbatim));
        assert!(poller.changed().is_empty());

        deliver(&root.join("Work"), "3");
        assert_eq!(poller.changed(), vec!["Work".to_string()]);
        assert!(poller.changed().is_empty());

        std::fs::rename(root.join("INBOX/new/1"), root.join("INBOX/cur/1:2,S")).unwrap();
        assert_eq!(poller.changed(), vec!["INBOX".to_string()]);

        deliver(&root.join("Lists/rust"), "4");
        assert_eq!(poller.changed(), vec!["Lists/rust".to_string()]);

        std::fs::remove_dir_all(root.join("Lists")).unwrap();
        assert_eq!(poller.changed(), vec!["Lists/rust".to_string()]);
    }
}
