//! The integration tests: one binary, one module per topic, each test against
//! its own real Dovecot started by `support::dovecot`.

#[path = "../support/mod.rs"]
mod support;

mod adopt;
mod auth;
mod big_folders;
mod common;
mod completions;
mod concurrent_expunges;
mod content_identity;
mod corrupt_state;
mod crash;
mod cron;
mod date_window;
mod dedupe;
mod disk_full;
mod faults;
mod folders;
mod harness_smoke;
mod hooks;
mod hostile;
mod imap_store;
mod imap_to_imap;
mod import_corpus;
mod import_mbsyncrc;
mod interrupts;
mod kills;
mod line_endings;
mod matrix;
mod mbsync_trees;
mod migrate;
mod migrate_accounts;
mod namespaces;
mod open_ahead;
mod password_commands;
mod pipes;
mod pop3;
mod pull;
mod retry;
mod scenario;
mod search;
mod security;
mod settled;
mod split_fetch;
mod status;
mod tls;
mod trash;
mod tree_renames;
mod tunnel;
mod two_way;
mod uploads;
mod watch;
