//! Saving the states of many folders with one flush: a channel's workers
//! stage each folder's new state as they finish it, and the run commits
//! them together at the end, so a resync that touched ten folders pays for
//! about one fsync of a file and one of the directory, not twenty.
//!
//! Each state keeps the steps and their order of [`StateFile::save`]:
//! `<state>.new` written, made durable, renamed over the state, the
//! directory made durable, then the journal removed. Until its commit a
//! folder's journal stays on disk, so a crash before it (or a commit that
//! fails half way) leaves that folder's old state plus the journal of
//! everything this run did to it: the next run replays it.

use super::file::{check_ids_unique, format_state, remove_if_present, sync_dir, write_new};
use super::{FolderState, Journal, StateFile};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

/// Where a folder sync puts the state it ends with.
pub trait SaveState: Sync {
    /// The state saved whole (its journal then goes).
    fn save(&self, file: &StateFile, state: &FolderState) -> Result<()>;

    /// The run committed by its journal, which ends with `commit` (see
    /// [`super::journal`]): only the journal is to be made durable.
    fn commit_journal(&self, journal: &mut Journal) -> Result<()>;
}

/// Saves each state at once ([`StateFile::save`]).
pub struct SaveNow;

impl SaveState for SaveNow {
    fn save(&self, file: &StateFile, state: &FolderState) -> Result<()> {
        file.save(state)
    }

    fn commit_journal(&self, journal: &mut Journal) -> Result<()> {
        journal.sync()
    }
}

/// States written to `<state>.new` and journals ending with `commit`,
/// waiting for [`StateBatch::commit`].
#[derive(Default)]
pub struct StateBatch {
    staged: Mutex<Vec<StateFile>>,
    journals: Mutex<Vec<PathBuf>>,
}

impl SaveState for StateBatch {
    /// Writes `<state>.new` (not yet durable, its writeback started) and
    /// stages it.
    fn save(&self, file: &StateFile, state: &FolderState) -> Result<()> {
        check_ids_unique(state).with_context(|| {
            format!(
                "refusing to save an inconsistent state to {}",
                file.path().display()
            )
        })?;
        let generation = state.generation.wrapping_add(1);
        write_new(&file.new_path(), format_state(state, generation).as_bytes())?;
        // On its way to the disk while the other folders are synced: the
        // commit's flush then mostly finds it there.
        crate::flush::start_writeback(&file.new_path());
        let mut staged = lock(&self.staged)?;
        staged.retain(|other| other.path() != file.path());
        staged.push(file.clone());
        drop(staged);
        // The journal goes once the state is in place: it needs no flush.
        lock(&self.journals)?.retain(|path| *path != file.journal_path());
        Ok(())
    }

    /// Starts the journal's writeback and stages it for the commit's flush.
    fn commit_journal(&self, journal: &mut Journal) -> Result<()> {
        crate::flush::start_writeback(journal.path());
        let mut journals = lock(&self.journals)?;
        if !journals.iter().any(|path| path == journal.path()) {
            journals.push(journal.path().to_path_buf());
        }
        Ok(())
    }
}

fn into_inner<T>(staged: Mutex<T>) -> Result<T> {
    staged
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a worker failed while saving states"))
}

fn lock<T>(staged: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    staged
        .lock()
        .map_err(|_| anyhow::anyhow!("a worker failed while saving states"))
}

impl StateBatch {
    pub fn new() -> StateBatch {
        StateBatch::default()
    }

    /// Makes every staged state durable and puts it in place. An error
    /// names the first state that could not be committed; the others are
    /// committed all the same.
    pub fn commit(self) -> Result<()> {
        let staged = into_inner(self.staged)?;
        let journals = into_inner(self.journals)?;
        if staged.is_empty() && journals.is_empty() {
            return Ok(());
        }
        let new_paths: Vec<PathBuf> = staged.iter().map(StateFile::new_path).collect();
        let mut flushed =
            crate::flush::flush_together(new_paths.iter().chain(&journals).map(PathBuf::as_path));
        let journals_flushed = flushed.split_off(new_paths.len());
        let mut first_error = None;
        // A journal this run started needs its directory entry durable too.
        let mut dirs = BTreeSet::new();
        for (journal, flushed) in journals.iter().zip(journals_flushed) {
            match flushed {
                Ok(()) => {
                    dirs.insert(super::file::parent_dir(journal).to_path_buf());
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        let mut renamed = Vec::new();
        for ((file, new_path), flushed) in staged.iter().zip(&new_paths).zip(flushed) {
            let outcome = flushed.and_then(|()| {
                std::fs::rename(new_path, file.path()).with_context(|| {
                    format!(
                        "cannot rename {} to {}",
                        new_path.display(),
                        file.path().display()
                    )
                })
            });
            match outcome {
                Ok(()) => renamed.push(file),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        dirs.extend(
            renamed
                .iter()
                .map(|file| super::file::parent_dir(file.path()).to_path_buf()),
        );
        let mut durable_dirs = BTreeSet::new();
        for dir in dirs {
            match sync_dir(&dir) {
                Ok(()) => {
                    durable_dirs.insert(dir);
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        for file in renamed {
            // Only once the new state is durable is its journal dropped.
            if durable_dirs.contains(super::file::parent_dir(file.path())) {
                if let Err(err) = remove_if_present(&file.journal_path()) {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Flags;
    use crate::mail::Pair;
    use crate::state::Record;
    use std::fs;

    fn state_with(ids: &[&str]) -> FolderState {
        FolderState {
            records: ids
                .iter()
                .map(|id| Record {
                    ids: Pair::new(Some(id.to_string()), Some(format!("n{id}"))),
                    flags: Flags::SEEN,
                })
                .collect(),
            ..FolderState::default()
        }
    }

    #[test]
    fn staged_states_appear_only_when_committed_and_their_journals_go() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<StateFile> = ["a", "b"]
            .iter()
            .map(|name| StateFile::new(dir.path().join(format!("{name}.state"))))
            .collect();
        for file in &files {
            fs::write(file.journal_path(), "left by this run\n").unwrap();
        }
        let batch = StateBatch::new();
        batch.save(&files[0], &state_with(&["1"])).unwrap();
        batch.save(&files[1], &state_with(&["2", "3"])).unwrap();
        for file in &files {
            assert!(!file.path().exists(), "not before the commit");
            assert!(file.journal_path().exists(), "the journal stays until then");
        }
        batch.commit().unwrap();
        assert_eq!(files[0].load().unwrap().records.len(), 1);
        assert_eq!(files[1].load().unwrap().records.len(), 2);
        for file in &files {
            assert!(!file.journal_path().exists());
            assert!(!file.new_path().exists());
        }
    }

    #[test]
    fn a_journal_committed_in_a_batch_stays_unless_its_state_is_saved_whole() {
        let dir = tempfile::tempdir().unwrap();
        let kept = StateFile::new(dir.path().join("kept.state"));
        let folded = StateFile::new(dir.path().join("folded.state"));
        let batch = StateBatch::new();
        for file in [&kept, &folded] {
            let mut journal = file.journal(&FolderState::default()).unwrap();
            journal.append(&crate::state::JournalEntry::Commit).unwrap();
            batch.commit_journal(&mut journal).unwrap();
        }
        batch.save(&folded, &state_with(&["1"])).unwrap();
        batch.commit().unwrap();
        assert!(kept.journal_path().exists());
        assert!(!kept.journal_interrupted());
        assert!(!folded.journal_path().exists());
        assert_eq!(folded.load().unwrap().records.len(), 1);
    }

    #[test]
    fn a_state_staged_twice_is_committed_as_last_staged() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("a.state"));
        let batch = StateBatch::new();
        batch.save(&file, &state_with(&["1"])).unwrap();
        batch.save(&file, &state_with(&["1", "2"])).unwrap();
        batch.commit().unwrap();
        assert_eq!(file.load().unwrap().records.len(), 2);
    }

    #[test]
    fn an_inconsistent_state_is_refused_when_staged() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("a.state"));
        let batch = StateBatch::new();
        let mut inconsistent = state_with(&["1"]);
        let copy = crate::state::PendingCopy {
            target: crate::mail::Side::Near,
            source_id: "2".to_string(),
            ticket: "t".to_string(),
            size: 1,
            sha256: "ab".repeat(32),
            flags: Flags::EMPTY,
        };
        inconsistent.pending = vec![copy.clone(), copy];
        assert!(batch.save(&file, &inconsistent).is_err());
        batch.commit().unwrap();
        assert!(!file.path().exists());
    }
}
