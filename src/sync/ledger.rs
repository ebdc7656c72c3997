//! The ledger of one folder sync: the state in memory plus its journal on
//! disk, changed only together, so that replaying the journal after a crash
//! rebuilds exactly the state the run had reached.

use crate::mail::{Flags, MsgId, Pair, Side};
use crate::state::{apply, journal_worth_keeping, Journal, JournalEntry, SaveState, StateFile};
use crate::state::{FolderState, PendingCopy, Record, Settled, Trashing, UnconfirmedUpload};
use anyhow::Result;

/// What happens when the test hook's step count is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// Return an error, as a dropped connection would.
    Error,
    /// Kill the process at once with SIGKILL: a real `kill -9`.
    Abort,
}

/// Test hook: once `steps` steps are done, stop as `interrupt` says
/// (`None`: never).
pub fn check_interrupt(interrupt: Option<(usize, Interrupt)>, steps: usize) -> Result<()> {
    let Some((limit, how)) = interrupt else {
        return Ok(());
    };
    if steps < limit {
        return Ok(());
    }
    match how {
        Interrupt::Abort => {
            // SAFETY: kill(2) on our own pid has no memory-safety
            // preconditions; SIGKILL cannot be caught, so nothing
            // after this line runs, exactly as under kill -9.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            std::process::abort()
        }
        Interrupt::Error => anyhow::bail!("interrupted by the test hook"),
    }
}

pub struct Ledger {
    state: FolderState,
    journal: JournalSlot,
    steps: usize,
    interrupt: Option<(usize, Interrupt)>,
    /// Whether a SIGINT or SIGTERM stops the run before its next step.
    stop_on_signal: bool,
}

/// Where the ledger's entries go.
enum JournalSlot {
    /// Nowhere: changes stay in memory (--dry-run).
    Off,
    /// The state file's journal, opened at the first entry, so that a sync
    /// that changes nothing writes nothing.
    Unopened(StateFile),
    Open(Journal),
}

impl Ledger {
    /// A ledger writing to `journal`; `None` keeps changes in memory only.
    pub fn new(state: FolderState, journal: Option<Journal>) -> Ledger {
        Ledger {
            state,
            journal: journal.map_or(JournalSlot::Off, JournalSlot::Open),
            steps: 0,
            interrupt: None,
            stop_on_signal: false,
        }
    }

    /// A ledger that opens the journal of `state_file` when the first
    /// change is recorded.
    pub fn with_journal_of(state: FolderState, state_file: &StateFile) -> Ledger {
        Ledger {
            state,
            journal: JournalSlot::Unopened(state_file.clone()),
            steps: 0,
            interrupt: None,
            stop_on_signal: false,
        }
    }

    /// Whether anything was recorded.
    pub fn changed(&self) -> bool {
        self.steps > 0
    }

    /// Test hook: stop after `steps` journal entries, as a crash would.
    pub fn interrupt_after(&mut self, steps: usize, how: Interrupt) {
        self.interrupt = Some((steps, how));
    }

    /// Makes a SIGINT or SIGTERM (see [`crate::interrupt`]) stop the run
    /// before its next journal step, with an [`crate::interrupt::Interrupted`]
    /// error: every step done so far is in the journal, and none is half
    /// recorded, so the next run goes on from there.
    pub fn stop_on_signal(&mut self) {
        self.stop_on_signal = true;
    }

    pub fn state(&self) -> &FolderState {
        &self.state
    }

    pub fn into_state(self) -> FolderState {
        self.state
    }

    /// Whether a record already holds `id` on `side`.
    pub fn is_paired(&self, side: Side, id: &str) -> bool {
        self.state.records.holds(side, id)
    }

    fn record(&mut self, entry: JournalEntry) -> Result<()> {
        check_interrupt(self.interrupt, self.steps)?;
        if self.stop_on_signal {
            crate::interrupt::check()?;
        }
        if let JournalSlot::Unopened(state_file) = &self.journal {
            self.journal = JournalSlot::Open(state_file.journal(&self.state)?);
        }
        if let JournalSlot::Open(journal) = &mut self.journal {
            journal.append(&entry)?;
        }
        apply(&mut self.state, &entry);
        self.steps += 1;
        Ok(())
    }

    /// A copy is about to be stored.
    pub fn pending(&mut self, copy: &PendingCopy) -> Result<()> {
        self.record(JournalEntry::Pending(copy.clone()))
    }

    /// A pending copy is settled, whether or not it arrived.
    pub fn resolved(&mut self, target: Side, source_id: &MsgId) -> Result<()> {
        self.record(JournalEntry::Resolved {
            target,
            source_id: source_id.clone(),
        })
    }

    /// A pending copy was not found on a target where it may still land.
    pub fn unconfirmed(&mut self, upload: &UnconfirmedUpload) -> Result<()> {
        self.record(JournalEntry::Unconfirmed(upload.clone()))
    }

    /// An unconfirmed upload is accounted for: its late copy was paired or
    /// removed, or it expired.
    pub fn accounted(&mut self, upload: &UnconfirmedUpload) -> Result<()> {
        self.record(JournalEntry::Accounted {
            target: upload.target,
            source_id: upload.source_id.clone(),
            ticket: upload.ticket.clone(),
        })
    }

    /// A copy arrived on its target as `target_id`: pair it with its source.
    pub fn pair_copy(&mut self, copy: &PendingCopy, target_id: &MsgId) -> Result<()> {
        let mut ids = Pair::default();
        ids[copy.target] = Some(target_id.clone());
        ids[copy.target.other()] = Some(copy.source_id.clone());
        self.pair(ids, copy.flags)
    }

    /// Records that these ids are one message with these flags.
    pub fn pair(&mut self, ids: Pair<Option<MsgId>>, flags: Flags) -> Result<()> {
        self.record(JournalEntry::Pair(Record { ids, flags }))
    }

    /// The record with ids `old` now has ids `new` (the same, or one side
    /// dropped to make a tombstone) and these flags.
    pub fn keep(
        &mut self,
        old: &Pair<Option<MsgId>>,
        new: &Pair<Option<MsgId>>,
        flags: Flags,
    ) -> Result<()> {
        for gone in Side::BOTH {
            let kept = gone.other();
            if old[gone].is_some() && new[gone].is_none() {
                if let Some(kept_id) = &old[kept] {
                    self.record(JournalEntry::Tombstone {
                        gone,
                        kept_id: kept_id.clone(),
                    })?;
                }
            }
        }
        let current = self.state.records.with_ids(new);
        if current.map(|r| r.flags) != Some(flags) {
            self.record(JournalEntry::Flags {
                ids: new.clone(),
                flags,
            })?;
        }
        Ok(())
    }

    /// The record with these ids is forgotten.
    pub fn forget(&mut self, ids: &Pair<Option<MsgId>>) -> Result<()> {
        self.record(JournalEntry::Unpair { ids: ids.clone() })
    }

    /// A message is about to be moved into a trash folder.
    pub fn trashing(&mut self, trashing: &Trashing) -> Result<()> {
        self.record(JournalEntry::Trashing(trashing.clone()))
    }

    /// The trash holds the copy of a message still in its folder.
    pub fn trash_copied(&mut self, side: Side, id: &MsgId) -> Result<()> {
        self.record(JournalEntry::TrashCopied {
            side,
            id: id.clone(),
        })
    }

    /// A message is in the trash and out of its folder.
    pub fn trashed(&mut self, side: Side, id: &MsgId) -> Result<()> {
        self.record(JournalEntry::Trashed {
            side,
            id: id.clone(),
        })
    }

    /// Remembers the far side's HIGHESTMODSEQ for the next run (`None`:
    /// the next run lists everything).
    pub fn set_far_highest_modseq(&mut self, value: Option<u64>) -> Result<()> {
        if self.state.far_highest_modseq != value {
            self.record(JournalEntry::FarHighestModseq(value))?;
        }
        Ok(())
    }

    /// Ends the run through its journal when that costs less than saving
    /// the state whole (see [`crate::state::journal_worth_keeping`]): the
    /// settled versions and `commit` are appended and `saver` makes the
    /// journal durable. Returns `false`, having written nothing, when the
    /// journal has grown too long to keep, or there is none (--dry-run):
    /// the caller then saves the state whole.
    pub fn commit_by_journal(&mut self, saver: &dyn SaveState) -> Result<bool> {
        if let JournalSlot::Unopened(state_file) = &self.journal {
            self.journal = JournalSlot::Open(state_file.journal(&self.state)?);
        }
        let JournalSlot::Open(journal) = &mut self.journal else {
            return Ok(false);
        };
        if !journal_worth_keeping(journal.entries() + 2, self.state.records.len()) {
            return Ok(false);
        }
        // Written outside `record`: these are not steps of the sync (the
        // test hooks count steps), and a run killed between them leaves a
        // journal not ending with `commit`, which the next run treats as
        // an interrupted one's.
        journal.append(&JournalEntry::Settled(self.state.settled.clone()))?;
        journal.append(&JournalEntry::Commit)?;
        saver.commit_journal(journal)?;
        Ok(true)
    }

    /// Sets what the next save records as the folder's settled versions
    /// (see [`super::settled`]). Journaled only when the run commits by
    /// its journal ([`Ledger::commit_by_journal`]): before that, a journal
    /// on disk keeps the next run from skipping anyway. Returns whether it
    /// changed.
    pub fn set_settled(&mut self, settled: Option<Settled>) -> bool {
        let changed = self.state.settled != settled;
        self.state.settled = settled;
        changed
    }

    /// Remembers a side's UIDVALIDITY for the next run.
    pub fn set_uidvalidity(&mut self, side: Side, value: Option<u32>) -> Result<()> {
        if self.state.uidvalidity[side] != value {
            self.record(JournalEntry::UidValidity { side, value })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::visits;

    fn far(i: usize) -> Option<MsgId> {
        Some(format!("{}", i + 1))
    }

    fn both(i: usize) -> Pair<Option<MsgId>> {
        Pair::new(far(i), Some(format!("1700000000.M{i}P1.host")))
    }

    /// Counted, not timed: what a first pull of `n` messages and a resync
    /// changing most of them record, one pair at a time.
    fn record_visits_for(n: usize) -> u64 {
        let mut ledger = Ledger::new(FolderState::default(), None);
        let visits = visits::during(|| {
            for i in 0..n {
                ledger.pair(both(i), Flags::EMPTY).unwrap();
            }
            for i in (0..n).step_by(2) {
                ledger.keep(&both(i), &both(i), Flags::SEEN).unwrap();
            }
            for i in (1..n).step_by(4) {
                let tombstone = Pair::new(far(i), None);
                ledger.keep(&both(i), &tombstone, Flags::DELETED).unwrap();
            }
            for i in (3..n).step_by(8) {
                ledger.forget(&both(i)).unwrap();
            }
        });
        let state = ledger.into_state();
        assert_eq!(state.records.len(), n - n / 8);
        visits
    }

    #[test]
    fn recording_one_pair_costs_the_same_in_a_small_and_a_big_folder() {
        let (small, large) = (record_visits_for(1_000), record_visits_for(10_000));
        assert!(
            large <= 15 * small.max(1_000),
            "{small} records looked at for 1,000 pairs, {large} for 10,000"
        );
    }
}
