//! `mailferry list`: the folders of a store.

use super::output::Output;
use super::Cli;
use crate::config::Config;
use crate::error::{exit, UsageError};
use anyhow::Result;
use clap::Args;

/// Lists the folders of a store, as mailferry names them.
///
/// Example: mailferry list work
#[derive(Debug, Args)]
pub struct ListArgs {
    /// A store name from the configuration.
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
    let mut store = crate::store::open(&config, &args.store)?;
    for folder in store.list_folders()? {
        match folder.special_use {
            Some(role) => out.result(&format!("{}\t{role}", folder.name)),
            None => out.result(&folder.name),
        }
    }
    for warning in store.take_warnings() {
        out.error(&warning);
    }
    Ok(exit::OK)
}
