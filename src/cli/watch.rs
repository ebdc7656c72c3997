//! placeholder
use super::output::Output;
use super::Cli;
#[derive(Debug, clap::Args)]
pub struct WatchArgs {}
pub fn cmd_watch(_cli: &Cli, _args: &WatchArgs, _out: &Output) -> anyhow::Result<i32> {
    Ok(0)
}
