//! Opens the store a configuration names: the one place that knows which
//! implementation serves which `type:`.

use super::imap::{ImapStore, SharedFacts};
use super::maildir::MaildirStore;
use super::pop3::Pop3Store;
use super::Store;
use crate::config::{Config, StoreConfig};
use crate::error::UsageError;
use anyhow::Result;

fn store_config<'a>(config: &'a Config, name: &str) -> Result<&'a StoreConfig> {
    match config.stores.get(name) {
        Some(store) => Ok(store),
        None => Err(UsageError(format!(
            "no store named {name:?} in {}",
            config.path.display()
        ))
        .into()),
    }
}

/// Connects to (or opens) the store called `name`.
pub fn open(config: &Config, name: &str) -> Result<Box<dyn Store>> {
    match store_config(config, name)? {
        StoreConfig::Imap(imap) => {
            let imap = imap.with_user_resolved()?;
            let password = imap.password.resolve(imap.command_timeout())?;
            Ok(Box::new(ImapStore::connect(&imap, &password)?))
        }
        StoreConfig::Maildir(maildir) => Ok(Box::new(MaildirStore::from_config(maildir))),
        StoreConfig::Pop3(pop3) => {
            let password = pop3.password.resolve(pop3.command_timeout())?;
            Ok(Box::new(Pop3Store::connect(pop3, &password)?))
        }
    }
}

/// Opens a new connection to (or handle on) a store each time it is called:
/// one per worker of a parallel sync.
pub type StoreFactory = Box<dyn Fn() -> Result<Box<dyn Store>> + Send + Sync>;

/// A factory for the store called `name`. The password is resolved here,
/// once: a `password_command` may ask the user, so it must not run for
/// every connection.
pub fn factory(config: &Config, name: &str) -> Result<StoreFactory> {
    match store_config(config, name)? {
        StoreConfig::Imap(imap) => {
            let imap = imap.with_user_resolved()?;
            let password = imap.password.resolve(imap.command_timeout())?;
            // What the first connection learns, the others need not ask.
            let facts = SharedFacts::default();
            Ok(Box::new(move || {
                Ok(
                    Box::new(ImapStore::connect_sharing(&imap, &password, facts.clone())?)
                        as Box<dyn Store>,
                )
            }))
        }
        StoreConfig::Maildir(maildir) => {
            let maildir = maildir.clone();
            Ok(Box::new(move || {
                Ok(Box::new(MaildirStore::from_config(&maildir)) as Box<dyn Store>)
            }))
        }
        StoreConfig::Pop3(pop3) => {
            let password = pop3.password.resolve(pop3.command_timeout())?;
            let pop3 = pop3.clone();
            Ok(Box::new(move || {
                Ok(Box::new(Pop3Store::connect(&pop3, &password)?) as Box<dyn Store>)
            }))
        }
    }
}

/// How many connections a store may have at once (`connections:` of an
/// IMAP store, one for POP3, which locks the mailbox per session); `None`
/// for stores without a limit.
pub fn connection_limit(config: &Config, name: &str) -> Option<usize> {
    match config.stores.get(name) {
        Some(StoreConfig::Imap(imap)) => Some(imap.connections.max(1)),
        Some(StoreConfig::Pop3(_)) => Some(1),
        _ => None,
    }
}

/// Tries a store and describes what it offers, for `mailferry check`.
pub fn probe(config: &Config, name: &str) -> Result<String> {
    match store_config(config, name)? {
        StoreConfig::Imap(imap) => {
            let imap = &imap.with_user_resolved()?;
            let password = imap.password.resolve(imap.command_timeout())?;
            let mut store = ImapStore::connect(imap, &password)?;
            let namespace = store.describe_namespace()?;
            let server = match &imap.tunnel {
                Some(command) => format!("tunnel `{command}`"),
                None => format!("{} as {}", imap.host, imap.user),
            };
            let description = format!(
                "{server}, capabilities: {}; {namespace}",
                store.capabilities().join(" ")
            );
            store.logout()?;
            Ok(description)
        }
        StoreConfig::Maildir(maildir) => {
            let mut store = MaildirStore::from_config(maildir);
            let folders = store.list_folders()?;
            Ok(format!(
                "Maildir {} with {} folder(s)",
                maildir.path.display(),
                folders.len()
            ))
        }
        StoreConfig::Pop3(pop3) => {
            let password = pop3.password.resolve(pop3.command_timeout())?;
            let mut store = Pop3Store::connect(pop3, &password)?;
            store.open_folder(super::pop3::store::INBOX)?;
            let count = store.list_messages()?.len();
            let capabilities = store.capabilities();
            store.quit()?;
            Ok(format!(
                "POP3 {} as {}, {count} message(s), capabilities: {}",
                pop3.host,
                pop3.user,
                if capabilities.is_empty() {
                    "(no CAPA)".to_string()
                } else {
                    capabilities.join(" ")
                }
            ))
        }
    }
}
