//! Opens the store a configuration names: the one place that knows which
//! implementation serves which `type:`.

use super::imap::ImapStore;
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
            let password = imap.password.resolve()?;
            Ok(Box::new(ImapStore::connect(imap, &password)?))
        }
        StoreConfig::Maildir(maildir) => Ok(Box::new(MaildirStore::new(
            maildir.path.clone(),
            maildir.layout,
        ))),
        StoreConfig::Pop3(pop3) => {
            let password = pop3.password.resolve()?;
            Ok(Box::new(Pop3Store::connect(pop3, &password)?))
        }
    }
}

/// Tries a store and describes what it offers, for `mailferry check`.
pub fn probe(config: &Config, name: &str) -> Result<String> {
    match store_config(config, name)? {
        StoreConfig::Imap(imap) => {
            let password = imap.password.resolve()?;
            let store = ImapStore::connect(imap, &password)?;
            let description = format!(
                "{} as {}, capabilities: {}",
                imap.host,
                imap.user,
                store.capabilities().join(" ")
            );
            store.logout()?;
            Ok(description)
        }
        StoreConfig::Maildir(maildir) => {
            let mut store = MaildirStore::new(maildir.path.clone(), maildir.layout);
            let folders = store.list_folders()?;
            Ok(format!(
                "Maildir {} with {} folder(s)",
                maildir.path.display(),
                folders.len()
            ))
        }
        StoreConfig::Pop3(pop3) => {
            let password = pop3.password.resolve()?;
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
