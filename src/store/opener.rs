//! Opens a configured store again and again (a connection per worker, a
//! reconnect after a drop) with the password resolved once: a
//! `password_command` such as `pass show` may ask for a passphrase, so it
//! must not run on every connection.

use super::imap::ImapStore;
use super::maildir::MaildirStore;
use super::Store;
use crate::config::{Config, ImapConfig, MaildirConfig, Secret, StoreConfig};
use crate::error::UsageError;
use anyhow::Result;

/// A store's settings with the password already fetched. Owns everything,
/// so it can be cloned into worker threads.
#[derive(Clone)]
pub enum StoreOpener {
    Imap {
        name: String,
        /// Boxed: an IMAP config is several times a Maildir one.
        config: Box<ImapConfig>,
        password: Secret,
    },
    Maildir {
        name: String,
        config: MaildirConfig,
    },
}

impl StoreOpener {
    /// Resolves the store called `name`; POP3 stores are refused with a
    /// usage error naming `purpose` (what they cannot be used for).
    pub fn new(config: &Config, name: &str, purpose: &str) -> Result<StoreOpener> {
        match config.store(name) {
            None => Err(UsageError(format!(
                "no store named {name:?} in {}",
                config.path.display()
            ))
            .into()),
            Some(StoreConfig::Imap(imap)) => Ok(StoreOpener::Imap {
                name: name.to_string(),
                config: Box::new(imap.with_user_resolved()?),
                password: imap.password.resolve(imap.command_timeout())?,
            }),
            Some(StoreConfig::Maildir(maildir)) => Ok(StoreOpener::Maildir {
                name: name.to_string(),
                config: maildir.clone(),
            }),
            Some(StoreConfig::Pop3(_)) => Err(UsageError(format!(
                "store {name} is a POP3 store, which {purpose} does not support"
            ))
            .into()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            StoreOpener::Imap { name, .. } | StoreOpener::Maildir { name, .. } => name,
        }
    }

    /// How many connections the store allows at once.
    pub fn connections(&self) -> usize {
        match self {
            StoreOpener::Imap { config, .. } => config.connections.max(1),
            // Reading files gains little from more.
            StoreOpener::Maildir { .. } => 4,
        }
    }

    /// Connects to an IMAP store; `None` for a Maildir.
    pub fn connect_imap(&self) -> Option<Result<ImapStore>> {
        match self {
            StoreOpener::Imap {
                config, password, ..
            } => Some(ImapStore::connect(config, password)),
            StoreOpener::Maildir { .. } => None,
        }
    }

    /// The Maildir store; `None` for IMAP.
    pub fn maildir(&self) -> Option<MaildirStore> {
        match self {
            StoreOpener::Maildir { config, .. } => Some(MaildirStore::from_config(config)),
            StoreOpener::Imap { .. } => None,
        }
    }

    /// Opens the store behind the store interface.
    pub fn open(&self) -> Result<Box<dyn Store>> {
        match self {
            StoreOpener::Imap {
                config, password, ..
            } => Ok(Box::new(ImapStore::connect(config, password)?)),
            StoreOpener::Maildir { config, .. } => Ok(Box::new(MaildirStore::from_config(config))),
        }
    }
}
