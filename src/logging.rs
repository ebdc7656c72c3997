//! The `-v` / `-vv` log: a tiny `log` backend writing to stderr. `-v` shows
//! what is done (connections, folders, counts, retries); `-vv` adds every
//! IMAP command and the status of its reply. Secrets are kept out at the
//! call sites (see `store::imap`); nothing here could tell them apart.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Only our own crate: dependencies' logs are not for users.
        metadata.target().starts_with("mailferry")
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug | Level::Trace => "debug",
        };
        // One write per line so lines from parallel workers do not mix; a
        // closed stderr is no reason to fail a sync.
        let line = format!("mailferry: {level}: {}\n", record.args());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// The level for a count of `-v`: none, info, debug.
pub fn level_for(verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => LevelFilter::Off,
        1 => LevelFilter::Info,
        _ => LevelFilter::Debug,
    }
}

/// Installs the logger for this process. A second call (tests) keeps the
/// first logger and only changes the level.
pub fn init(verbosity: u8) {
    static LOGGER: StderrLogger = StderrLogger;
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level_for(verbosity));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_counts_map_to_levels() {
        assert_eq!(level_for(0), LevelFilter::Off);
        assert_eq!(level_for(1), LevelFilter::Info);
        assert_eq!(level_for(2), LevelFilter::Debug);
        assert_eq!(level_for(5), LevelFilter::Debug);
    }
}
