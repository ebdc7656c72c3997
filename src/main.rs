//! The `mailferry` binary: parse the command line, run, map errors to exit codes.

use clap::Parser;
use mailferry::cli::{run, Cli};
use mailferry::error::exit_status;

fn main() {
    mailferry::allocator::tune();
    let cli = Cli::parse();
    let status = match run(cli) {
        Ok(status) => status,
        Err(err) => {
            eprintln!("mailferry: {err:#}");
            exit_status(&err)
        }
    };
    std::process::exit(status);
}
