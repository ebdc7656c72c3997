//! `mailferry migrate`: copy a whole store into another, once, resumably.

use super::output::Output;
use super::progress::TerminalProgress;
use super::Cli;
use crate::config::Config;
use crate::error::exit;
use crate::migrate::{migrate, FolderMigration, MigrateRequest, SourceFolders};
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;
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
/// Examples:
///
///   mailferry migrate oldpop newimap --dry-run
///
///   mailferry migrate oldpop newimap:Archive/OldMail --delete-source
///
///   mailferry migrate laptop work --all-folders
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

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
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
    let (to, target_folder) = match args.to.split_once(':') {
        Some((store, folder)) => (store.to_string(), Some(folder.to_string())),
        None => (args.to.clone(), None),
    };
    let request = MigrateRequest {
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
        progress: if out.shows_progress() && !args.json && !args.dry_run {
            Arc::new(TerminalProgress::new())
        } else {
            crate::sync::progress::silent()
        },
        interrupt: super::test_hooks::crash_after_steps(),
    };
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
