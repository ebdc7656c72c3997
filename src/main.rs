//! The `mailferry` binary: parse the command line, run, map errors to exit codes.

use clap::{CommandFactory, Parser};
use clap_complete::CompleteEnv;
use mailferry::cli::complete::COMPLETE_VAR;
use mailferry::cli::{run, Cli};
use mailferry::error::{exit, exit_status};
use mailferry::output::stdout_failed;

fn main() {
    // A completion script asking for the words at the cursor: answer and exit.
    CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .bin("mailferry")
        .complete();
    mailferry::allocator::tune();
    let cli = Cli::parse();
    let status = match run(cli) {
        // Output cut short by a write error (not by a reader that stopped
        // reading, which is fine) means the run did not do what was asked.
        Ok(exit::OK) if stdout_failed() => exit::FAILED,
        Ok(status) => status,
        Err(err) => {
            eprintln!("mailferry: {err:#}");
            exit_status(&err)
        }
    };
    std::process::exit(status);
}
