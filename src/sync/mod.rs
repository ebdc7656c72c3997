//! The sync of one channel, in the four stages of a file synchronizer:
//! detect (list both sides, load the state), plan (pure), execute (through
//! the store trait, journaling each step), commit (save the state).
//!
//! Invariants, in plain words:
//! - The state changes only for what was done successfully: a record is
//!   added once a copy is safely stored, changed once a flag change is
//!   applied, removed once a deletion is done.
//! - Every deletion follows from the state: a message is deleted on one
//!   side only because the record says both sides had it and the other
//!   side no longer does (or it is flagged deleted where expunge is on).
//! - An interrupted copy is journaled before it starts, so the next run
//!   finds the copy again instead of making a second one.
//! - A missing state means neither side had been synced: nothing is
//!   deleted on a first run.

pub mod channel;
pub mod exec;
pub mod folder;
pub mod folders;
pub mod identity;
pub mod incremental;
pub mod late;
pub mod ledger;
pub mod patterns;
pub mod plan;
pub mod pop3;
pub mod progress;
pub mod retry;
pub mod settled;
pub mod workers;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod group_commit_tests;
