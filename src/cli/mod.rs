//! The command line: one file per subcommand, each a clap `Args` struct
//! whose doc comments are the help text, man page and completions.

pub mod adopt;
pub mod check;
pub mod complete;
pub mod config_manual;
pub mod dedupe;
pub mod generate;
pub mod import_mbsyncrc;
pub mod list;
pub mod migrate;
mod migrate_accounts;
pub mod progress;
pub mod search;
pub mod status;
pub mod sync;
pub mod test_hooks;
pub mod watch;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  everything asked for was done
  1  some folders or messages failed (the others were synced)
  2  usage or configuration error
  3  another run holds the lock of a channel
  130  stopped by SIGINT (Ctrl-C): what was done is saved, the next run goes on
  143  stopped by SIGTERM: the same";

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
    Status(status::StatusArgs),
    ImportMbsyncrc(import_mbsyncrc::ImportMbsyncrcArgs),
}

/// Runs the parsed command line; the result is the exit status.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let out = crate::output::Output::new(cli.quiet, cli.verbose);
    crate::logging::init(cli.verbose);
    match &cli.command {
        Command::Sync(args) => stoppable(&out, || sync::cmd_sync(&cli, args, &out)),
        Command::Adopt(args) => adopt::cmd_adopt(&cli, args, &out),
        Command::List(args) => list::cmd_list(&cli, args, &out),
        Command::Check(args) => check::cmd_check(&cli, args, &out),
        Command::Migrate(args) => stoppable(&out, || migrate::cmd_migrate(&cli, args, &out)),
        Command::Dedupe(args) => stoppable(&out, || dedupe::cmd_dedupe(&cli, args, &out)),
        Command::Generate(args) => generate::cmd_generate(args),
        Command::Search(args) => search::cmd_search(&cli, args, &out),
        Command::Watch(args) => watch::cmd_watch(&cli, args, &out),
        Command::Status(args) => status::cmd_status(&cli, args, &out),
        Command::ImportMbsyncrc(args) => import_mbsyncrc::cmd_import_mbsyncrc(&cli, args),
    }
}

/// Runs a command that SIGINT and SIGTERM stop at its next safe point
/// (see [`crate::interrupt`]); after such a signal the status says so,
/// whatever the command made of being stopped.
fn stoppable(
    out: &crate::output::Output,
    command: impl FnOnce() -> anyhow::Result<i32>,
) -> anyhow::Result<i32> {
    crate::interrupt::install()?;
    let outcome = command();
    let Some(status) = crate::interrupt::exit_status() else {
        return outcome;
    };
    if let Err(error) = &outcome {
        if !crate::interrupt::is_interrupted(error) {
            out.error(&format!("{error:#}"));
        }
    }
    out.error(&format!(
        "stopped by {}; what was done is saved, and the next run goes on from there",
        crate::interrupt::signal_name()
    ));
    Ok(status)
}

#[cfg(test)]
mod help_tests;
