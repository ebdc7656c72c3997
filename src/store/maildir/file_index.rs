//! The open folder's message files, found by unique name without a second
//! copy of each name: a folder of 100,000 messages keeps 100,000 names
//! here, and as map keys they would be held twice.

use super::MessageFile;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Message files, at most one per unique name.
#[derive(Default)]
pub(super) struct FileIndex {
    files: HashTable<MessageFile>,
    hasher: foldhash::fast::RandomState,
}

impl FileIndex {
    pub(super) fn with_capacity(capacity: usize) -> FileIndex {
        FileIndex {
            files: HashTable::with_capacity(capacity),
            hasher: Default::default(),
        }
    }

    fn hash(&self, unique_name: &str) -> u64 {
        self.hasher.hash_one(unique_name)
    }

    /// The file of the message named `unique_name`.
    pub(super) fn get(&self, unique_name: &str) -> Option<&MessageFile> {
        self.files.find(self.hash(unique_name), |file| {
            file.unique_name() == unique_name
        })
    }

    pub(super) fn contains(&self, unique_name: &str) -> bool {
        self.get(unique_name).is_some()
    }

    /// Records `file` as its message's file, replacing the one it had.
    pub(super) fn insert(&mut self, file: MessageFile) {
        let hash = self.hash(file.unique_name());
        let hasher = &self.hasher;
        match self.files.entry(
            hash,
            |held| held.unique_name() == file.unique_name(),
            |held| hasher.hash_one(held.unique_name()),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut held) => *held.get_mut() = file,
            hashbrown::hash_table::Entry::Vacant(place) => {
                place.insert(file);
            }
        }
    }

    /// Forgets the message named `unique_name`.
    pub(super) fn remove(&mut self, unique_name: &str) {
        if let Ok(held) = self.files.find_entry(self.hash(unique_name), |file| {
            file.unique_name() == unique_name
        }) {
            held.remove();
        }
    }
}

impl FromIterator<MessageFile> for FileIndex {
    fn from_iter<I: IntoIterator<Item = MessageFile>>(files: I) -> FileIndex {
        let files = files.into_iter();
        let mut index = FileIndex::with_capacity(files.size_hint().0);
        for file in files {
            index.insert(file);
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::super::Subdir;
    use super::*;

    fn file(subdir: Subdir, name: &str) -> MessageFile {
        MessageFile {
            subdir,
            file_name: name.to_string(),
        }
    }

    #[test]
    fn a_message_is_found_by_its_unique_name_whatever_its_flags() {
        let index: FileIndex = [
            file(Subdir::Cur, "1.a.host:2,S"),
            file(Subdir::New, "2.b.host"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            index.get("1.a.host"),
            Some(&file(Subdir::Cur, "1.a.host:2,S"))
        );
        assert_eq!(index.get("2.b.host"), Some(&file(Subdir::New, "2.b.host")));
        assert!(!index.contains("1.a.host:2,S"));
        assert!(!index.contains("3.c.host"));
    }

    #[test]
    fn inserting_a_renamed_file_replaces_the_old_name_and_removing_forgets_it() {
        let mut index = FileIndex::default();
        index.insert(file(Subdir::New, "1.a.host"));
        index.insert(file(Subdir::Cur, "1.a.host:2,FS"));
        assert_eq!(
            index.get("1.a.host"),
            Some(&file(Subdir::Cur, "1.a.host:2,FS"))
        );
        assert_eq!(index.files.len(), 1);
        index.remove("1.a.host");
        assert!(!index.contains("1.a.host"));
        index.remove("1.a.host");
        assert_eq!(index.files.len(), 0);
    }
}
