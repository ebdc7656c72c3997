//! Test support shared by the integration tests and the demo: a real Dovecot
//! started per test, an IMAP client that plays "another mail client", sample
//! messages, and a per-test environment for running the `mailferry` binary.
//!
//! Included with `#[path = "../support/mod.rs"] mod support;`; not every
//! includer uses every item, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod dovecot;
pub mod env;
pub mod fake_imap;
pub mod imap_client;
pub mod local;
pub mod mail;
pub mod mbsync;
pub mod measure;
pub mod proxy;
pub mod readers;
pub mod servers;
pub mod traffic;
