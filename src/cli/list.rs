//! `mailferry list`: the folders of a store.

use super::Cli;
use crate::config::Config;
use crate::error::{exit, UsageError};
use crate::output::{self, Output};
use crate::store::StoreOpener;
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;

/// Lists the folders of a store: mailferry's name for each (the local
/// name), its message count, its special-use role, and the server's own
/// spelling where it differs.
///
/// Output is one folder per line, tab-separated.
///
/// Example:
///
///   mailferry list work
#[derive(Debug, Args)]
pub struct ListArgs {
    /// A store name from the configuration.
    #[arg(add = ArgValueCandidates::new(super::complete::stores))]
    pub store: String,
}

pub fn cmd_list(cli: &Cli, args: &ListArgs, out: &Output) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    if !config.stores.contains_key(&args.store) {
        let known: Vec<&str> = config.stores.keys().map(String::as_str).collect();
        return Err(UsageError(format!(
            "no store named {:?} in {} (stores: {})",
            args.store,
            config.path.display(),
            known.join(", ")
        ))
        .into());
    }
    for warning in config.warnings_for([args.store.as_str()]) {
        out.warning(&warning);
    }
    let mut store = StoreOpener::new(&config, &args.store)?.open()?;
    let mut status = exit::OK;
    let folders = store.list_folders()?;
    if let Some(namespace) = store.namespace_in_use()? {
        out.warning(&format!("store {}: {namespace}", args.store));
    }
    let left_out: Vec<String> = folders
        .iter()
        .filter_map(|folder| {
            let reason = folder.only_if_named.as_deref()?;
            Some(format!("{} ({reason})", folder.name))
        })
        .collect();
    if !left_out.is_empty() {
        out.warning(&format!(
            "not synced unless a channel's folders: name them: {}",
            left_out.join(", ")
        ));
    }
    for folder in folders {
        let count = match store.open_folder(&folder.name) {
            Ok(opened) => opened.exists.to_string(),
            Err(err) => {
                status = exit::FAILED;
                out.error(&format!("{}: {err:#}", folder.name));
                "?".to_string()
            }
        };
        let mut line = format!(
            "{}\t{count}\t{}",
            folder.name,
            folder.special_use.as_deref().unwrap_or("-")
        );
        if let Some(native) = store.native_name(&folder.name) {
            line.push_str(&format!("\t{native}"));
        }
        out.result(&line);
        if output::stdout_closed() {
            // `mailferry list work | head -1`: the reader has what it wanted.
            return Ok(status);
        }
    }
    for warning in store.take_warnings() {
        out.error(&warning);
    }
    Ok(status)
}
