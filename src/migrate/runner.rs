//! Runs the accounts of `mailferry migrate --accounts` several at a time
//! (`--jobs`), each as a one-account migration ([`super::migrate`]) on
//! stores made from the two template stores with the account's users and
//! passwords, and each with its own state and lock under
//! `STATE_DIR/accounts/NAME/`. So a run killed at any moment resumes
//! account by account (an account done is found done by its state, and
//! copies nothing) and message by message (the state of an account under
//! way says which messages are on the target), and two runs given the
//! same account (overlapping shards) cannot both work on it.
//!
//! An account that fails (a refused login, a server that cannot be
//! reached) is reported and the others go on.

use super::accounts::{with_user, Account, Login};
use super::report::{AccountNames, AccountReport};
use super::{migrate, MigrateRequest};
use crate::config::{Config, PasswordSource, StoreConfig};
use crate::error::UsageError;
use crate::state::name_as_file_name;
use anyhow::{anyhow, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// At most this many accounts at a time by default, whatever the number
/// of cores: each account holds a connection to the source and one to the
/// target server, and servers limit the connections they take from one
/// address (Dovecot's login processes, providers' per-IP limits). More is
/// a choice to make with `--jobs`, knowing the servers.
pub const PER_SERVER_LIMIT: usize = 8;

/// Accounts at a time when `--jobs` is not given: two per core (a
/// migration mostly waits for the servers), at most [`PER_SERVER_LIMIT`].
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 2).clamp(1, PER_SERVER_LIMIT)
}

/// Where one account's migration keeps its state and lock.
pub fn account_state_dir(state_dir: &Path, account: &str) -> PathBuf {
    state_dir.join("accounts").join(name_as_file_name(account))
}

/// Checks, before anything runs, that every store the accounts name exists
/// and can take their part: a mistake in the list or the configuration is
/// a usage error, not 1,000 failed accounts.
pub fn check_stores(
    config: &Config,
    template: &MigrateRequest,
    accounts: &[Account],
) -> Result<()> {
    for account in accounts {
        let (from, to) = store_names(template, account);
        for name in [from, to] {
            if config.store(name).is_none() {
                return Err(UsageError(format!(
                    "account {:?}: no store named {name:?} in {}",
                    account.name,
                    config.path.display()
                ))
                .into());
            }
        }
        if from == to {
            return Err(UsageError(format!(
                "account {:?}: the source and the target are both the store {from:?}",
                account.name
            ))
            .into());
        }
        if let Some(StoreConfig::Pop3(_)) = config.store(to) {
            return Err(UsageError(format!(
                "account {:?}: {to:?} is a pop3 store, which can only be read; migrate into \
                 an imap or maildir store",
                account.name
            ))
            .into());
        }
    }
    Ok(())
}

/// Migrates `accounts`, `jobs` at a time, calling `finished` with each
/// account's report as soon as it is known (from the worker threads).
/// After a signal no new account starts; the reports of the accounts
/// under way say `interrupted`. Returns the reports in the order the
/// accounts finished.
pub fn run_accounts(
    config: &Config,
    template: &MigrateRequest,
    accounts: &[Account],
    jobs: usize,
    finished: &(dyn Fn(&AccountReport) + Sync),
) -> Vec<AccountReport> {
    let next = AtomicUsize::new(0);
    let reports = std::sync::Mutex::new(Vec::with_capacity(accounts.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, accounts.len().max(1)) {
            scope.spawn(|| loop {
                if crate::interrupt::requested() {
                    break;
                }
                let Some(account) = accounts.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let report = migrate_account(config, template, account);
                finished(&report);
                reports
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(report);
            });
        }
    });
    reports.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// One account, start to end; never an error, always a report.
pub fn migrate_account(
    config: &Config,
    template: &MigrateRequest,
    account: &Account,
) -> AccountReport {
    let names = AccountNames {
        account: &account.name,
        source_user: &account.source.user,
        target_user: &account.target.user,
    };
    let started = Instant::now();
    // The report names the account: errors need not.
    let outcome = account_config(config, template, account)
        .and_then(|(config, request)| migrate(&config, &request));
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(migration) => {
            AccountReport::of_migration(names, &migration, seconds, crate::interrupt::requested())
        }
        Err(error) => AccountReport::of_error(names, &error, seconds),
    }
}

/// The template store names of an account: its own, or the command line's.
fn store_names<'a>(template: &'a MigrateRequest, account: &'a Account) -> (&'a str, &'a str) {
    (
        account.source.store.as_deref().unwrap_or(&template.from),
        account.target.store.as_deref().unwrap_or(&template.to),
    )
}

/// The configuration and request of one account: its two stores are the
/// templates with its users and passwords, its state directory its own.
fn account_config(
    config: &Config,
    template: &MigrateRequest,
    account: &Account,
) -> Result<(Config, MigrateRequest)> {
    let (from, to) = store_names(template, account);
    let mut own = config.clone();
    for (name, login) in [(from, &account.source), (to, &account.target)] {
        let store = config
            .store(name)
            .ok_or_else(|| anyhow!("no store named {name:?}"))?;
        own.stores
            .insert(name.to_string(), store_for(name, store, login)?);
    }
    own.state_dir = account_state_dir(&config.state_dir, &account.name);
    let request = MigrateRequest {
        from: from.to_string(),
        to: to.to_string(),
        ..template.clone()
    };
    Ok((own, request))
}

/// A template store made into the store of `login`.
fn store_for(name: &str, template: &StoreConfig, login: &Login) -> Result<StoreConfig> {
    let password = |template: &PasswordSource| match &login.password {
        Some(own) => own.clone(),
        None => with_user_in(template, &login.user),
    };
    Ok(match template {
        StoreConfig::Imap(imap) => {
            let mut imap = imap.clone();
            imap.password = password(&imap.password);
            imap.user = login.user.clone();
            // The account's user, not the template's command.
            imap.user_command = None;
            StoreConfig::Imap(imap)
        }
        StoreConfig::Pop3(pop3) => {
            let mut pop3 = pop3.clone();
            pop3.password = password(&pop3.password);
            pop3.user = login.user.clone();
            StoreConfig::Pop3(pop3)
        }
        StoreConfig::Maildir(maildir) => {
            let path = maildir.path.to_string_lossy();
            if !path.contains("{user}") {
                return Err(anyhow!(
                    "the maildir store {name:?} is the template of many accounts: write {{user}} \
                     in its path, where each account's Maildir goes"
                ));
            }
            if login.user.contains('/') || login.user.starts_with('.') {
                return Err(anyhow!(
                    "the user {:?} cannot be part of a Maildir path",
                    login.user
                ));
            }
            let mut maildir = maildir.clone();
            maildir.path = PathBuf::from(path.replace("{user}", &login.user));
            StoreConfig::Maildir(maildir)
        }
    })
}

/// A template's password source for `user`: `{user}` in a command becomes
/// the (quoted) user; a password or variable is the same for every account.
fn with_user_in(source: &PasswordSource, user: &str) -> PasswordSource {
    match source {
        PasswordSource::Command(command) => PasswordSource::Command(with_user(command, user)),
        PasswordSource::TokenCommand(command) => {
            PasswordSource::TokenCommand(with_user(command, user))
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::SourceFolders;

    fn config() -> Config {
        Config::from_yaml(
            "stores:\n  old:\n    type: pop3\n    host: pop.example\n    user: template\n    \
             password_command: pass show old/{user}\n  new:\n    type: imap\n    \
             host: imap.example\n    user: template\n    password_env: NEW_PW\n  \
             local:\n    type: maildir\n    path: /srv/mail/{user}\nstate_dir: /state\n",
            Path::new("config.yaml"),
        )
        .unwrap()
    }

    fn template() -> MigrateRequest {
        MigrateRequest {
            from: "old".to_string(),
            to: "new".to_string(),
            target_folder: None,
            folders: SourceFolders::One("INBOX".to_string()),
            delete_source: false,
            dry_run: false,
            max_size: None,
            progress: crate::sync::progress::silent(),
            interrupt: None,
        }
    }

    fn account(name: &str, user: &str) -> Account {
        Account {
            name: name.to_string(),
            source: Login {
                store: None,
                user: user.to_string(),
                password: None,
            },
            target: Login {
                store: None,
                user: format!("{user}@new"),
                password: Some(PasswordSource::Env("BOB_PW".to_string())),
            },
        }
    }

    #[test]
    fn an_account_gets_the_template_stores_with_its_users_and_its_own_state() {
        let (own, request) =
            account_config(&config(), &template(), &account("b/ob", "bob o")).unwrap();
        let Some(StoreConfig::Pop3(source)) = own.store("old") else {
            panic!("no pop3 store");
        };
        assert_eq!(source.user, "bob o");
        assert_eq!(
            source.password,
            PasswordSource::Command("pass show old/'bob o'".to_string())
        );
        let Some(StoreConfig::Imap(target)) = own.store("new") else {
            panic!("no imap store");
        };
        assert_eq!(target.user, "bob o@new");
        assert_eq!(target.password, PasswordSource::Env("BOB_PW".to_string()));
        assert_eq!(own.state_dir, Path::new("/state/accounts/b%2Fob"));
        assert_eq!((request.from.as_str(), request.to.as_str()), ("old", "new"));
    }

    #[test]
    fn a_maildir_template_takes_the_user_into_its_path() {
        let mut alice = account("alice", "alice");
        alice.target.store = Some("local".to_string());
        let (own, request) = account_config(&config(), &template(), &alice).unwrap();
        assert_eq!(request.to, "local");
        let Some(StoreConfig::Maildir(maildir)) = own.store("local") else {
            panic!("no maildir store");
        };
        assert_eq!(maildir.path, Path::new("/srv/mail/alice@new"));
        let mut dots = account("x", "..");
        dots.target.store = Some("local".to_string());
        dots.target.user = "..".to_string();
        assert!(account_config(&config(), &template(), &dots).is_err());
    }

    #[test]
    fn stores_named_by_the_list_are_checked_before_anything_runs() {
        let mut unknown = account("carol", "carol");
        unknown.source.store = Some("nowhere".to_string());
        let message = check_stores(&config(), &template(), &[unknown])
            .unwrap_err()
            .to_string();
        assert!(message.contains("no store named \"nowhere\""), "{message}");
        let mut into_pop = account("dave", "dave");
        into_pop.target.store = Some("old".to_string());
        into_pop.source.store = Some("new".to_string());
        let message = check_stores(&config(), &template(), &[into_pop])
            .unwrap_err()
            .to_string();
        assert!(message.contains("can only be read"), "{message}");
    }
}
