//! `mailferry migrate`: copy a whole store into another, once, resumably.

use super::progress::TerminalProgress;
use super::Cli;
use crate::config::Config;
use crate::error::exit;
use crate::migrate::{migrate, FolderMigration, MigrateRequest, SourceFolders};
use crate::output::Output;
use crate::sync::progress::Progress;
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;
use std::path::PathBuf;
use std::sync::Arc;

/// Copies every message of one store into another, once: moving a POP3
/// account onto an IMAP server is the main case.
///
/// FROM_STORE may be a pop3, imap or maildir store, TO_STORE an imap or
/// maildir store (names from the configuration). By default the source's
/// INBOX is copied into the target folder of the same name; TO_STORE:FOLDER
/// names another target folder, --folder another source folder, and
/// --all-folders copies every source folder into the folder of the same
/// name.
///
/// Each message keeps its date (for POP3, which has none, the date of its
/// Date header) and its flags where the source has them. Messages the
/// target already holds (same Message-ID and size, or the same content)
/// are not copied again. The migration keeps its own state under
/// STATE_DIR/migrate/, so it can be interrupted and run again: the second
/// run copies only the rest. At the end it prints what was copied, what
/// was already there, what was skipped and why, and what failed.
///
/// With --accounts FILE, FROM_STORE and TO_STORE are templates: each
/// account of the list (CSV with a header line, or YAML) is migrated on
/// copies of them with its own users and passwords, --jobs at a time, each
/// with its own state under STATE_DIR/accounts/, so a run stopped at any
/// moment (kill -9 included) goes on where it was when run again. One line
/// per account as it finishes (JSON with --json, and in the --report file),
/// then a table. --shard I/N takes only the accounts of shard I of N
/// (0-based, by a stable hash of the account's name), so N processes split
/// one list without talking to each other. See the README's "Migrating a
/// whole provider" for the list's columns and a Kubernetes Indexed Job.
///
/// Examples:
///
///   mailferry migrate oldpop newimap --dry-run
///
///   mailferry migrate oldpop newimap:Archive/OldMail --delete-source
///
///   mailferry migrate laptop work --all-folders
///
///   mailferry migrate oldpop newimap --accounts users.csv --report run1.jsonl
///
///   mailferry migrate oldpop newimap --accounts users.csv --retry-failed run1.jsonl
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to copy from: pop3, imap or maildir.
    #[arg(value_name = "FROM_STORE", add = ArgValueCandidates::new(super::complete::stores))]
    pub from: String,

    /// The store to copy into (imap or maildir), optionally with the target
    /// folder as TO_STORE:FOLDER.
    #[arg(
        value_name = "TO_STORE[:FOLDER]",
        add = ArgValueCandidates::new(super::complete::stores)
    )]
    pub to: String,

    /// The source folder to copy (default INBOX).
    #[arg(long, value_name = "FOLDER", conflicts_with = "all_folders")]
    pub folder: Option<String>,

    /// Copy every folder of the source, each into the folder of the same name.
    #[arg(long)]
    pub all_folders: bool,

    /// Afterwards delete from the source the messages whose copy is recorded
    /// and present on the target.
    #[arg(long)]
    pub delete_source: bool,

    /// List what would be copied and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Do not copy messages larger than SIZE (bytes, or e.g. 512k, 20M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub max_size: Option<u64>,

    /// Print the result as JSON on stdout (with --accounts: one JSON line
    /// per account, as in the report).
    #[arg(long)]
    pub json: bool,

    /// Migrate every account of FILE (.csv with a header line, or .yaml),
    /// on the two stores as templates: columns source_user, target_user,
    /// name, source_password_env, target_password_env,
    /// source_password_command, target_password_command (where {user}
    /// stands for the user), source_store, target_store.
    #[arg(long, value_name = "FILE", help_heading = "Many accounts")]
    pub accounts: Option<PathBuf>,

    /// Accounts migrated at a time (default: two per core, at most 8).
    #[arg(
        long,
        value_name = "N",
        requires = "accounts",
        value_parser = clap::value_parser!(u16).range(1..),
        help_heading = "Many accounts"
    )]
    pub jobs: Option<u16>,

    /// Take only the accounts of shard I of N (I from 0 to N-1), by a
    /// stable hash of their names; `k8s` reads I from JOB_COMPLETION_INDEX
    /// and N from --shards or JOB_COMPLETIONS.
    #[arg(
        long,
        value_name = "I/N|k8s",
        requires = "accounts",
        help_heading = "Many accounts"
    )]
    pub shard: Option<String>,

    /// The number of shards, for --shard k8s.
    #[arg(
        long,
        value_name = "N",
        requires = "shard",
        help_heading = "Many accounts"
    )]
    pub shards: Option<u64>,

    /// Append one JSON line per account to FILE as each finishes (copied,
    /// already there, skipped, failed, bytes, seconds, last error).
    #[arg(
        long,
        value_name = "FILE",
        requires = "accounts",
        // A dry run's accounts would read as done to --retry-failed.
        conflicts_with = "dry_run",
        help_heading = "Many accounts"
    )]
    pub report: Option<PathBuf>,

    /// Run only the accounts that REPORT does not show as done (a report
    /// of an earlier run; may be given several times, e.g. once per shard).
    #[arg(
        long,
        value_name = "REPORT",
        requires = "accounts",
        help_heading = "Many accounts"
    )]
    pub retry_failed: Vec<PathBuf>,
}

fn parse_size_arg(text: &str) -> Result<u64, String> {
    match crate::config::parse_size(text) {
        Some(size) if size > 0 => Ok(size),
        _ => Err(format!(
            "invalid size {text:?}: expected a number of bytes, or a size such as 512k, 10M or 1G"
        )),
    }
}

pub fn cmd_migrate(cli: &Cli, args: &MigrateArgs, out: &Output) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    if let Some(accounts) = &args.accounts {
        return super::migrate_accounts::cmd_migrate_accounts(
            &config,
            args,
            accounts,
            request_of(args, crate::sync::progress::silent()),
            out,
        );
    }
    let progress: Arc<dyn Progress> = if out.shows_progress() && !args.json && !args.dry_run {
        Arc::new(TerminalProgress::new())
    } else {
        crate::sync::progress::silent()
    };
    let request = request_of(args, progress);
    let migration = migrate(&config, &request)?;
    for error in &migration.errors {
        out.error(error);
    }
    for folder in &migration.folders {
        for note in &folder.notes {
            out.summary(&format!("folder {}: {note}", folder.source_folder));
        }
        for failure in &folder.failed {
            out.error(&format!("folder {}: {failure}", folder.source_folder));
        }
    }
    if args.json {
        out.data(&serde_json::to_string_pretty(&migration)?);
    } else {
        for folder in &migration.folders {
            show(folder, args.dry_run, out);
        }
    }
    Ok(if migration.failed() {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// The request the command line asks for (with --accounts: the template
/// of every account's request).
fn request_of(args: &MigrateArgs, progress: Arc<dyn Progress>) -> MigrateRequest {
    let (to, target_folder) = match args.to.split_once(':') {
        Some((store, folder)) => (store.to_string(), Some(folder.to_string())),
        None => (args.to.clone(), None),
    };
    MigrateRequest {
        from: args.from.clone(),
        to,
        target_folder,
        folders: if args.all_folders {
            SourceFolders::All
        } else {
            SourceFolders::One(args.folder.clone().unwrap_or_else(|| "INBOX".to_string()))
        },
        delete_source: args.delete_source,
        dry_run: args.dry_run,
        max_size: args.max_size,
        progress,
        interrupt: super::test_hooks::crash_after_steps(),
    }
}

fn show(folder: &FolderMigration, dry_run: bool, out: &Output) {
    let pair = if folder.source_folder == folder.target_folder {
        folder.source_folder.clone()
    } else {
        format!("{} -> {}", folder.source_folder, folder.target_folder)
    };
    let copied = if dry_run {
        format!("{} to copy", folder.copied)
    } else {
        format!("{} copied", folder.copied)
    };
    out.result(&format!(
        "{pair}: {} message(s): {copied}, {} already there, {} skipped, {} failed",
        folder.listed,
        folder.already_there,
        folder.skipped.len(),
        folder.failed.len()
    ));
    for (id, size) in &folder.would_copy {
        out.result(&format!("  copy {id} ({size} bytes)"));
    }
    for skip in &folder.skipped {
        out.result(&format!("  skipped {}: {}", skip.id, skip.reason));
    }
    if folder.deleted_from_source > 0 {
        out.result(&format!(
            "  deleted {} message(s) from the source",
            folder.deleted_from_source
        ));
    }
}
