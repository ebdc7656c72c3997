//! Shell completion of the names in the configuration (channels, groups,
//! stores). The scripts `generate completions` writes ask the binary itself
//! (with [`COMPLETE_VAR`] set) for the words at the cursor, so they always
//! offer the names of the config the command would read.

use crate::config::Config;
use clap_complete::CompletionCandidate;
use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variable through which a completion script asks the
/// binary for candidates (its value names the shell).
pub const COMPLETE_VAR: &str = "MAILFERRY_COMPLETE";

/// Channel and group names: what `sync` and `watch` take.
pub fn channels_and_groups() -> Vec<CompletionCandidate> {
    let Some(config) = config() else {
        return Vec::new();
    };
    let channels = config
        .channels
        .keys()
        .map(|name| CompletionCandidate::new(name).help(Some("channel".into())));
    let groups = config
        .groups
        .keys()
        .map(|name| CompletionCandidate::new(name).help(Some("group".into())));
    channels.chain(groups).collect()
}

/// Channel names: what `adopt` takes.
pub fn channels() -> Vec<CompletionCandidate> {
    config()
        .map(|config| {
            config
                .channels
                .keys()
                .map(CompletionCandidate::new)
                .collect()
        })
        .unwrap_or_default()
}

/// Store names, with their kind: what `list`, `search`, `dedupe` and
/// `migrate` take.
pub fn stores() -> Vec<CompletionCandidate> {
    let Some(config) = config() else {
        return Vec::new();
    };
    config
        .stores
        .iter()
        .map(|(name, store)| CompletionCandidate::new(name).help(Some(store.kind().into())))
        .collect()
}

/// The configuration the completed command would read: the `-c FILE` on
/// its command line, else the usual places. None when it cannot be read
/// (a completion offers nothing rather than an error).
fn config() -> Option<Config> {
    let explicit = config_argument(std::env::args_os());
    Config::load(explicit.as_deref()).ok()
}

/// The value of `-c FILE`, `--config FILE` or `--config=FILE` among the
/// words of the command line being completed.
fn config_argument(words: impl Iterator<Item = OsString>) -> Option<PathBuf> {
    let mut words = words.peekable();
    let mut found = None;
    while let Some(word) = words.next() {
        let text = word.to_string_lossy();
        if text == "-c" || text == "--config" {
            found = words.next().map(PathBuf::from);
        } else if let Some(path) = text.strip_prefix("--config=") {
            found = Some(PathBuf::from(path));
        } else if let Some(path) = text.strip_prefix("-c").filter(|path| !path.is_empty()) {
            found = Some(PathBuf::from(path));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_of(words: &[&str]) -> Option<PathBuf> {
        config_argument(words.iter().map(OsString::from))
    }

    #[test]
    fn the_config_option_of_the_completed_line_is_found_in_every_spelling() {
        let expected = Some(PathBuf::from("/tmp/mail.yaml"));
        assert_eq!(
            config_of(&["mailferry", "-c", "/tmp/mail.yaml", "sync"]),
            expected
        );
        assert_eq!(
            config_of(&["mailferry", "--config", "/tmp/mail.yaml"]),
            expected
        );
        assert_eq!(
            config_of(&["mailferry", "--config=/tmp/mail.yaml"]),
            expected
        );
        assert_eq!(
            config_of(&["mailferry", "-c/tmp/mail.yaml", "list"]),
            expected
        );
        assert_eq!(config_of(&["mailferry", "sync", "work"]), None);
    }
}
