//! `mailferry dedupe`: report, and with --apply remove, messages held more
//! than once in a folder.

use super::Cli;
use crate::config::Config;
use crate::dedupe::{dedupe_folder, FolderDedupe};
use crate::error::{exit, UsageError};
use crate::output::Output;
use crate::store::StoreOpener;
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;
use std::collections::BTreeMap;

/// Finds messages held more than once in a folder and, with --apply,
/// removes all copies but one.
///
/// Two messages are copies of one message when they have the same
/// Message-ID, the same size and the same content (bytes compared, line
/// ends aside), or the same content when they have no Message-ID. Of each
/// group the copy with the most flags stays and is given the flags of the
/// others; the last copy of a message is never removed. Look-alikes (one
/// Message-ID and size, other content, as one-time-code mails can be) are
/// reported and kept. Without --apply nothing
/// is changed. Works on IMAP and Maildir stores; without :FOLDER every
/// folder of the store is looked at.
///
/// If the store is one side of a channel, the next sync removes the paired
/// copies on the other side too.
///
/// Examples:
///
///   mailferry dedupe work:INBOX
///
///   mailferry dedupe work laptop --apply
#[derive(Debug, Args)]
pub struct DedupeArgs {
    /// Stores, or STORE:FOLDER for one folder.
    #[arg(
        value_name = "STORE[:FOLDER]",
        required = true,
        add = ArgValueCandidates::new(super::complete::stores)
    )]
    pub targets: Vec<String>,

    /// Remove the extra copies (default: only report them).
    #[arg(long)]
    pub apply: bool,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_dedupe(cli: &Cli, args: &DedupeArgs, out: &Output) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    // Folders per store, in the order given; None: every folder.
    let mut wanted: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    for target in &args.targets {
        let (store, folder) = match target.split_once(':') {
            Some((store, folder)) => (store, Some(folder)),
            None => (target.as_str(), None),
        };
        if config.store(store).is_none() {
            return Err(UsageError(format!(
                "no store named {store:?} in {}",
                config.path.display()
            ))
            .into());
        }
        let entry = wanted
            .entry(store.to_string())
            .or_insert_with(|| Some(Vec::new()));
        match (folder, entry.as_mut()) {
            (Some(folder), Some(folders)) => folders.push(folder.to_string()),
            (None, _) => *entry = None,
            (Some(_), None) => {}
        }
    }

    let mut status = exit::OK;
    let mut results: Vec<FolderDedupe> = Vec::new();
    for (name, folders) in &wanted {
        let mut store = match StoreOpener::new(&config, name).and_then(|opener| opener.open()) {
            Ok(store) => store,
            Err(error) => {
                status = exit::FAILED;
                out.error(&format!("{name}: {error:#}"));
                continue;
            }
        };
        let folders = match folders {
            Some(folders) => folders.clone(),
            None => match store.list_folders() {
                Ok(list) => list.into_iter().map(|f| f.name).collect(),
                Err(error) => {
                    status = exit::FAILED;
                    out.error(&format!("{name}: listing folders: {error:#}"));
                    continue;
                }
            },
        };
        for folder in folders {
            if crate::interrupt::requested() {
                // A signal came: the folders not begun are left as they are.
                break;
            }
            match dedupe_folder(&mut *store, &folder, args.apply) {
                Ok(result) => {
                    if !args.json {
                        show(name, &result, args.apply, out);
                    }
                    results.push(result);
                }
                Err(error) if crate::interrupt::is_interrupted(&error) => break,
                Err(error) => {
                    status = exit::FAILED;
                    out.error(&format!("{name}:{folder}: {error:#}"));
                }
            }
        }
        for warning in store.take_warnings() {
            out.error(&format!("{name}: {warning}"));
        }
    }
    if args.json {
        out.data(&serde_json::to_string_pretty(&results)?);
    } else {
        let duplicates: usize = results.iter().map(FolderDedupe::duplicates).sum();
        let removed: usize = results.iter().map(|r| r.removed).sum();
        let folders = results.iter().filter(|r| !r.groups.is_empty()).count();
        out.result(&if args.apply {
            format!("{duplicates} duplicate(s) in {folders} folder(s), {removed} removed")
        } else if duplicates > 0 {
            format!(
                "{duplicates} duplicate(s) in {folders} folder(s); run again with --apply to remove them"
            )
        } else {
            "no duplicates".to_string()
        });
    }
    Ok(status)
}

fn show(store: &str, result: &FolderDedupe, apply: bool, out: &Output) {
    for look_alikes in &result.look_alikes {
        out.result(&format!(
            "{store}:{}: {} ({} messages): look-alikes (same Message-ID and size, other \
             content), kept: {}",
            result.folder,
            look_alikes.identity,
            look_alikes.messages.len(),
            look_alikes.messages.join(" ")
        ));
    }
    if result.groups.is_empty() {
        return;
    }
    out.result(&format!(
        "{store}:{}: {} message(s), {} duplicate(s) of {} message(s){}",
        result.folder,
        result.messages,
        result.duplicates(),
        result.groups.len(),
        if apply {
            format!(", {} removed", result.removed)
        } else {
            String::new()
        }
    ));
    for group in &result.groups {
        out.result(&format!(
            "  {} ({} copies): keep {} (flags {}), {} {}",
            group.identity,
            group.remove.len() + 1,
            group.keep,
            group.keep_flags.union(group.flags_to_add),
            if apply { "removed" } else { "remove" },
            group.remove.join(" ")
        ));
    }
}
