//! Opens the stores a configuration names: the one place that knows which
//! implementation serves which `type:`, and the one way to open a store.
//!
//! A [`StoreOpener`] resolves a store's settings and password once and
//! then opens it as often as needed (a connection per worker, a reconnect,
//! a watch round): a `password_command` such as `pass show` may ask for a
//! passphrase, so it must not run on every connection.

use super::imap::{ImapStore, SharedFacts};
use super::maildir::MaildirStore;
use super::pop3::Pop3Store;
use super::Store;
use crate::config::{Config, ImapConfig, MaildirConfig, Pop3Config, Secret, StoreConfig};
use crate::error::UsageError;
use anyhow::Result;
use std::sync::Arc;

/// Opens a store again and again. Owns everything it needs, so it can be
/// cloned into worker threads.
#[derive(Clone)]
pub struct StoreOpener {
    name: String,
    backend: Backend,
}

/// Opens a store through a function of the caller's (a store of its own,
/// a test's in-memory store).
type OpenFn = Arc<dyn Fn() -> Result<Box<dyn Store>> + Send + Sync>;

#[derive(Clone)]
enum Backend {
    Imap {
        /// Boxed: an IMAP config is several times a Maildir one.
        config: Box<ImapConfig>,
        password: Secret,
        /// What the first connection learns, the others need not ask.
        facts: SharedFacts,
    },
    Maildir(MaildirConfig),
    Pop3 {
        config: Box<Pop3Config>,
        password: Secret,
    },
    Function(OpenFn),
}

impl StoreOpener {
    /// Resolves the store called `name` (its user and its password).
    pub fn new(config: &Config, name: &str) -> Result<StoreOpener> {
        let backend = match store_config(config, name)? {
            StoreConfig::Imap(imap) => {
                let imap = imap.with_user_resolved()?;
                let password = imap.password.resolve(imap.command_timeout())?;
                Backend::Imap {
                    config: Box::new(imap),
                    password,
                    facts: SharedFacts::default(),
                }
            }
            StoreConfig::Maildir(maildir) => Backend::Maildir(maildir.clone()),
            StoreConfig::Pop3(pop3) => Backend::Pop3 {
                password: pop3.password.resolve(pop3.command_timeout())?,
                config: Box::new(pop3.clone()),
            },
        };
        Ok(StoreOpener {
            name: name.to_string(),
            backend,
        })
    }

    /// Like [`StoreOpener::new`], for a use a POP3 store cannot serve: a
    /// POP3 store is refused with a usage error naming `purpose`, before
    /// its password is asked for.
    pub fn new_except_pop3(config: &Config, name: &str, purpose: &str) -> Result<StoreOpener> {
        if let StoreConfig::Pop3(_) = store_config(config, name)? {
            return Err(UsageError(format!(
                "store {name} is a POP3 store, which {purpose} does not support"
            ))
            .into());
        }
        StoreOpener::new(config, name)
    }

    /// An opener that calls `open`, for a store no configuration
    /// describes (tests use in-memory stores).
    pub fn from_fn(
        name: &str,
        open: impl Fn() -> Result<Box<dyn Store>> + Send + Sync + 'static,
    ) -> StoreOpener {
        StoreOpener {
            name: name.to_string(),
            backend: Backend::Function(Arc::new(open)),
        }
    }

    /// The same store, forgetting what earlier connections learned about
    /// the server: for a run long after the one before (a watch round),
    /// when the server may have changed meanwhile.
    pub fn relearning(&self) -> StoreOpener {
        let mut fresh = self.clone();
        if let Backend::Imap { facts, .. } = &mut fresh.backend {
            *facts = SharedFacts::default();
        }
        fresh
    }

    /// The store's name in the configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connects to (or opens) the store. The IMAP connections of one
    /// opener share what the first learned of the server, so each of the
    /// others needs only its login before its first SELECT.
    pub fn open(&self) -> Result<Box<dyn Store>> {
        match &self.backend {
            Backend::Imap {
                config,
                password,
                facts,
            } => Ok(Box::new(ImapStore::connect_sharing(
                config,
                password,
                facts.clone(),
            )?)),
            Backend::Maildir(maildir) => Ok(Box::new(MaildirStore::from_config(maildir))),
            Backend::Pop3 { config, password } => {
                Ok(Box::new(Pop3Store::connect(config, password)?))
            }
            Backend::Function(open) => open(),
        }
    }

    /// How many connections the store may have at once (`connections:` of
    /// an IMAP store, one for POP3, which locks the mailbox per session);
    /// `None` for stores without a limit.
    pub fn connection_limit(&self) -> Option<usize> {
        match &self.backend {
            Backend::Imap { config, .. } => Some(config.connections.max(1)),
            Backend::Pop3 { .. } => Some(1),
            Backend::Maildir(_) | Backend::Function(_) => None,
        }
    }

    /// A new connection of its own to an IMAP store, as an IMAP store (for
    /// IDLE and server-side search); `None` for other stores.
    pub fn connect_imap(&self) -> Option<Result<ImapStore>> {
        match &self.backend {
            Backend::Imap {
                config, password, ..
            } => Some(ImapStore::connect(config, password)),
            _ => None,
        }
    }

    /// The settings of a Maildir store; `None` for other stores.
    pub fn maildir_config(&self) -> Option<&MaildirConfig> {
        match &self.backend {
            Backend::Maildir(maildir) => Some(maildir),
            _ => None,
        }
    }

    /// Tries the store and describes what it offers, for `mailferry check`.
    pub fn probe(&self) -> Result<String> {
        match &self.backend {
            Backend::Imap {
                config, password, ..
            } => {
                let mut store = ImapStore::connect(config, password)?;
                let namespace = store.describe_namespace()?;
                let server = match &config.tunnel {
                    Some(command) => format!("tunnel `{command}`"),
                    None => format!("{} as {}", config.host, config.user),
                };
                let description = format!(
                    "{server}, capabilities: {}; {namespace}",
                    store.capabilities().join(" ")
                );
                store.logout()?;
                Ok(description)
            }
            Backend::Maildir(maildir) => {
                let mut store = MaildirStore::from_config(maildir);
                let folders = store.list_folders()?;
                Ok(format!(
                    "Maildir {} with {} folder(s)",
                    maildir.path.display(),
                    folders.len()
                ))
            }
            Backend::Pop3 { config, password } => {
                let mut store = Pop3Store::connect(config, password)?;
                store.open_folder(super::pop3::store::INBOX)?;
                let count = store.list_messages()?.len();
                let capabilities = store.capabilities();
                store.quit()?;
                Ok(format!(
                    "POP3 {} as {}, {count} message(s), capabilities: {}",
                    config.host,
                    config.user,
                    if capabilities.is_empty() {
                        "(no CAPA)".to_string()
                    } else {
                        capabilities.join(" ")
                    }
                ))
            }
            Backend::Function(open) => Ok(open()?.describe()),
        }
    }
}

fn store_config<'a>(config: &'a Config, name: &str) -> Result<&'a StoreConfig> {
    match config.store(name) {
        Some(store) => Ok(store),
        None => Err(UsageError(format!(
            "no store named {name:?} in {}",
            config.path.display()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryData, MemoryStore};
    use std::path::Path;
    use std::sync::Mutex;

    fn config() -> Config {
        let yaml = "state_dir: /s
stores:
  local:
    type: maildir
    path: /m
  old:
    type: pop3
    host: h
    tls: none
    user: u
    password_command: exit 7
  box:
    type: pop3
    host: h
    tls: none
    user: u
    password: p
";
        Config::from_yaml(yaml, Path::new("/c.yaml")).unwrap()
    }

    #[test]
    fn an_unknown_store_is_a_usage_error_naming_the_file() {
        let error = StoreOpener::new(&config(), "nowhere").err().unwrap();
        assert!(error.downcast_ref::<UsageError>().is_some());
        assert_eq!(error.to_string(), "no store named \"nowhere\" in /c.yaml");
    }

    #[test]
    fn a_pop3_store_is_refused_where_it_cannot_serve_before_its_password_is_asked_for() {
        // Its password command would fail: the refusal comes first.
        let error = StoreOpener::new_except_pop3(&config(), "old", "watch")
            .err()
            .unwrap();
        assert!(error.downcast_ref::<UsageError>().is_some());
        assert_eq!(
            error.to_string(),
            "store old is a POP3 store, which watch does not support"
        );
        assert!(StoreOpener::new(&config(), "old").is_err());
    }

    #[test]
    fn each_kind_of_store_says_how_many_connections_it_takes() {
        let config = config();
        let maildir = StoreOpener::new(&config, "local").unwrap();
        assert_eq!(maildir.name(), "local");
        assert_eq!(maildir.connection_limit(), None);
        assert_eq!(
            maildir.maildir_config().map(|m| m.path.clone()),
            Some("/m".into())
        );
        assert!(maildir.connect_imap().is_none());
        let pop3 = StoreOpener::new(&config, "box").unwrap();
        assert_eq!(pop3.connection_limit(), Some(1));
        assert!(pop3.maildir_config().is_none());
    }

    #[test]
    fn an_opener_from_a_function_opens_a_new_store_each_time() {
        let data = Arc::new(Mutex::new(MemoryData::default()));
        let opens = Arc::new(Mutex::new(0));
        let counted = Arc::clone(&opens);
        let opener = StoreOpener::from_fn("far", move || {
            *counted.lock().unwrap() += 1;
            Ok(Box::new(MemoryStore::new(data.clone())) as Box<dyn Store>)
        });
        opener.open().unwrap().create_folder("A").unwrap();
        let folders = opener.relearning().open().unwrap().list_folders().unwrap();
        assert_eq!(folders.len(), 1, "one store behind both");
        assert_eq!(*opens.lock().unwrap(), 2);
        assert_eq!(opener.connection_limit(), None);
    }
}
