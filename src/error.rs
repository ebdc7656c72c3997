//! Error kinds that decide the exit status; everything else travels as
//! `anyhow::Error` with context, and is a runtime failure (status 1).

use std::fmt;
use std::path::PathBuf;

/// Exit statuses, as documented in the man page.
pub mod exit {
    /// Everything that was asked for was done.
    pub const OK: i32 = 0;
    /// Some folders or messages failed; the others were synced.
    pub const FAILED: i32 = 1;
    /// The command line or the configuration is wrong.
    pub const USAGE: i32 = 2;
    /// Another run holds the lock of a channel.
    pub const LOCKED: i32 = 3;
}

/// A mistake in the configuration file, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The dotted key path, e.g. `stores.work.port`, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Another process holds a channel's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHeld {
    pub channel: String,
    pub pid: Option<u32>,
    pub path: PathBuf,
}

impl fmt::Display for LockHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "channel {} is being synced by another run", self.channel)?;
        if let Some(pid) = self.pid {
            write!(f, " (pid {pid})")?;
        }
        write!(f, "; lock file {}", self.path.display())
    }
}

impl std::error::Error for LockHeld {}

/// A mistake on the command line that clap cannot see (an unknown channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit status an error stands for. A store's failure
/// ([`crate::store::error::StoreError`]) of any kind is a runtime failure:
/// its kind decides whether the folder is tried again, not the status.
pub fn exit_status(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.is::<ConfigError>() || cause.is::<UsageError>() {
            return exit::USAGE;
        }
        if cause.is::<LockHeld>() {
            return exit::LOCKED;
        }
    }
    exit::FAILED
}
