//! The command line: one file per subcommand, each a clap `Args` struct
//! whose doc comments are the help text, man page and completions.

pub mod adopt;
pub mod check;
pub mod config_manual;
pub mod dedupe;
pub mod generate;
pub mod import_mbsyncrc;
pub mod list;
pub mod migrate;
pub mod output;
pub mod progress;
pub mod search;
pub mod sync;
pub mod watch;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  everything asked for was done
  1  some folders or messages failed (the others were synced)
  2  usage or configuration error
  3  another run holds the lock of a channel";

/// Keeps IMAP mailboxes and a local Maildir in step, in both directions.
///
/// mailferry reads its configuration (stores, channels, groups) from
/// --config FILE, else $MAILFERRY_CONFIG, else
/// $XDG_CONFIG_HOME/mailferry/config.yaml (~/.config/mailferry/config.yaml).
#[derive(Debug, Parser)]
#[command(name = "mailferry", version, after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    /// Configuration file to read instead of the default locations.
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more about what is done; twice for protocol-level detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Sync(sync::SyncArgs),
    Adopt(adopt::AdoptArgs),
    List(list::ListArgs),
    Check(check::CheckArgs),
    Migrate(migrate::MigrateArgs),
    Dedupe(dedupe::DedupeArgs),
    Generate(generate::GenerateArgs),
    Search(search::SearchArgs),
    Watch(watch::WatchArgs),
    ImportMbsyncrc(import_mbsyncrc::ImportMbsyncrcArgs),
}

/// Runs the parsed command line; the result is the exit status.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let out = output::Output::new(cli.quiet, cli.verbose);
    crate::logging::init(cli.verbose);
    match &cli.command {
        Command::Sync(args) => sync::cmd_sync(&cli, args, &out),
        Command::Adopt(args) => adopt::cmd_adopt(&cli, args, &out),
        Command::List(args) => list::cmd_list(&cli, args, &out),
        Command::Check(args) => check::cmd_check(&cli, args, &out),
        Command::Migrate(args) => migrate::cmd_migrate(&cli, args, &out),
        Command::Dedupe(args) => dedupe::cmd_dedupe(&cli, args, &out),
        Command::Generate(args) => generate::cmd_generate(args),
        Command::Search(args) => search::cmd_search(&cli, args, &out),
        Command::Watch(args) => watch::cmd_watch(&cli, args, &out),
        Command::ImportMbsyncrc(args) => import_mbsyncrc::cmd_import_mbsyncrc(&cli, args),
    }
}

#[cfg(test)]
mod help_tests;
