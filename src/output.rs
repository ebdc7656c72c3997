//! What the user sees: summaries on a terminal, silence under cron, errors
//! always, one line each. Everything for stdout goes through [`print()`], so
//! a reader that stops reading (`mailferry list work | head -1`) ends the
//! output quietly instead of failing the program.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU8, Ordering};

/// What became of stdout: [`OPEN`], [`CLOSED_BY_READER`] or [`FAILED`].
static STDOUT: AtomicU8 = AtomicU8::new(OPEN);
const OPEN: u8 = 0;
/// The reader went away (EPIPE): not an error, there is just no one left
/// to tell.
const CLOSED_BY_READER: u8 = 1;
/// A real write error (a full disk behind a redirection): said once on
/// stderr, and the exit status says it (see [`stdout_failed`]).
const FAILED: u8 = 2;

/// Prints `line` and a newline on stdout (see [`write_out`]).
pub fn print(line: &str) {
    write_out(format!("{line}\n").as_bytes());
}

/// Writes `bytes` to stdout. Once stdout is closed or broken, nothing more
/// is written; listing commands check [`stdout_closed`] to stop early.
pub fn write_out(bytes: &[u8]) {
    if stdout_closed() {
        return;
    }
    let mut stdout = io::stdout().lock();
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT.store(CLOSED_BY_READER, Ordering::Relaxed);
        }
        Err(error) => {
            STDOUT.store(FAILED, Ordering::Relaxed);
            eprintln!("mailferry: cannot write to standard output: {error}");
        }
    }
}

/// Whether nothing more can be printed: the reader closed stdout, or
/// writing to it failed. A command that only lists can stop here.
pub fn stdout_closed() -> bool {
    STDOUT.load(Ordering::Relaxed) != OPEN
}

/// Whether writing to stdout failed for another reason than a reader
/// that went away: the output is incomplete, so the run did not do what
/// was asked.
pub fn stdout_failed() -> bool {
    STDOUT.load(Ordering::Relaxed) == FAILED
}

/// Decides what to print, from -q / -v and whether stdout is a terminal.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    quiet: bool,
    verbose: u8,
    terminal: bool,
}

impl Output {
    pub fn new(quiet: bool, verbose: u8) -> Output {
        Output {
            quiet,
            verbose,
            terminal: std::io::stdout().is_terminal(),
        }
    }

    /// Summaries: on a terminal, or when asked with -v; never with -q.
    pub fn shows_summary(&self) -> bool {
        !self.quiet && (self.terminal || self.verbose > 0)
    }

    /// Progress bars: only when a person watches stderr, and not with -q.
    pub fn shows_progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub fn verbosity(&self) -> u8 {
        self.verbose
    }

    /// A result line that the user asked for (list, check, dry-run): shown
    /// unless -q.
    pub fn result(&self, line: &str) {
        if !self.quiet {
            print(line);
        }
    }

    /// Data the user asked for (JSON, a generated file): shown even with
    /// -q, which silences only what mailferry says about its work.
    pub fn data(&self, text: &str) {
        print(text);
    }

    /// A summary line: see [`Output::shows_summary`].
    pub fn summary(&self, line: &str) {
        if self.shows_summary() {
            print(line);
        }
    }

    /// Detail for -v.
    pub fn detail(&self, line: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{line}");
        }
    }

    /// A warning about the setup (an unencrypted connection, a readable
    /// password file): on stderr, unless -q.
    pub fn warning(&self, line: &str) {
        if !self.quiet {
            eprintln!("mailferry: {line}");
        }
    }

    /// An error or a warning: always, on stderr.
    pub fn error(&self, line: &str) {
        eprintln!("mailferry: {line}");
    }
}
