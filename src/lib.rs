//! mailferry: keeps IMAP mailboxes and a local Maildir in step, both ways.
//!
//! The library is laid out as the sync runs: [`config`] says what to sync,
//! [`store`] reaches each side, [`state`] remembers the last sync, and
//! [`sync`] detects, plans, executes and commits. [`cli`] is the command line.
//! [`mail`] holds the types they all share and depends on none of them.

pub mod adopt;
pub mod allocator;
pub mod cli;
pub mod command;
pub mod config;
pub mod dedupe;
pub mod error;
pub mod flush;
pub mod hooks;
pub mod import;
pub mod interrupt;
pub mod logging;
pub mod mail;
pub mod migrate;
pub mod output;
#[cfg(test)]
mod parser_props;
pub mod portable;
pub mod search;
pub mod state;
pub mod store;
pub mod sync;
pub mod watch;
