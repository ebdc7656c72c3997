//! What the user sees: summaries on a terminal, silence under cron, errors
//! always, one line each.

use std::io::IsTerminal;

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

    pub fn verbosity(&self) -> u8 {
        self.verbose
    }

    /// A result line that the user asked for (list, check, dry-run): shown
    /// unless -q.
    pub fn result(&self, line: &str) {
        if !self.quiet {
            println!("{line}");
        }
    }

    /// A summary line: see [`Output::shows_summary`].
    pub fn summary(&self, line: &str) {
        if self.shows_summary() {
            println!("{line}");
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
