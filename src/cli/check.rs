//! `mailferry check`: validate the configuration and try every store.

use super::Cli;
use crate::config::Config;
use crate::error::exit;
use crate::output::Output;
use crate::store::StoreOpener;
use anyhow::Result;
use clap::Args;

/// Checks the configuration and tries to reach every store.
///
/// Prints each store with what its server offers, or why it could not be
/// reached.
///
/// Example:
///
///   mailferry check
#[derive(Debug, Args)]
pub struct CheckArgs {}

pub fn cmd_check(cli: &Cli, _args: &CheckArgs, out: &Output) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    out.result(&format!("configuration {} is valid", config.path.display()));
    for warning in config.warnings() {
        out.warning(&warning);
    }
    let mut status = exit::OK;
    for name in config.stores.keys() {
        match StoreOpener::new(&config, name).and_then(|opener| opener.probe()) {
            Ok(description) => out.result(&format!("store {name}: ok, {description}")),
            Err(err) => {
                status = exit::FAILED;
                out.error(&format!("store {name}: {err:#}"));
            }
        }
    }
    Ok(status)
}
