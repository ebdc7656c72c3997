//! Turning the names given on the command line (`CHANNEL`, `CHANNEL:FOLDER`,
//! `GROUP`, or `--all`) into the list of channels and folders to sync.

use super::Config;
use crate::error::UsageError;

/// One thing to sync: a whole channel, or one folder of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub channel: String,
    /// The folder's name as the channel sees it; `None` means every folder
    /// the channel's patterns select.
    pub folder: Option<String>,
}

impl Config {
    /// Resolves command-line targets: `CHANNEL`, `CHANNEL:FOLDER`, `GROUP`,
    /// or every channel when `all` is set. Duplicates are dropped and the
    /// order kept; a folder target is dropped when its whole channel is also
    /// a target (it would be synced twice).
    pub fn resolve_targets(
        &self,
        targets: &[String],
        all: bool,
    ) -> Result<Vec<Target>, UsageError> {
        if all && !targets.is_empty() {
            return Err(UsageError(format!(
                "--all syncs every channel; do not also name {}",
                targets.join(", ")
            )));
        }
        if all {
            return Ok(self
                .channels
                .keys()
                .map(|channel| Target {
                    channel: channel.clone(),
                    folder: None,
                })
                .collect());
        }
        if targets.is_empty() {
            return Err(UsageError(format!(
                "nothing to sync: name channels or groups, or pass --all ({})",
                self.known_names()
            )));
        }

        let mut resolved = Vec::new();
        let mut unknown = Vec::new();
        for target in targets {
            match target.split_once(':') {
                Some((channel, folder)) => {
                    if folder.is_empty() {
                        return Err(UsageError(format!(
                            "{target}: no folder after ':' (write CHANNEL:FOLDER, or just CHANNEL)"
                        )));
                    }
                    if self.channels.contains_key(channel) {
                        resolved.push(Target {
                            channel: channel.to_owned(),
                            folder: Some(folder.to_owned()),
                        });
                    } else if self.groups.contains_key(channel) {
                        return Err(UsageError(format!(
                            "{target}: {channel} is a group; a folder can follow a channel name only"
                        )));
                    } else {
                        unknown.push(channel.to_owned());
                    }
                }
                None if self.channels.contains_key(target) => resolved.push(Target {
                    channel: target.clone(),
                    folder: None,
                }),
                None => match self.groups.get(target) {
                    Some(members) => resolved.extend(members.iter().map(|channel| Target {
                        channel: channel.clone(),
                        folder: None,
                    })),
                    None => unknown.push(target.clone()),
                },
            }
        }
        if !unknown.is_empty() {
            return Err(UsageError(format!(
                "unknown channel or group: {} ({})",
                unknown.join(", "),
                self.known_names()
            )));
        }

        let mut unique: Vec<Target> = Vec::with_capacity(resolved.len());
        for target in &resolved {
            let whole_channel_too = target.folder.is_some()
                && resolved
                    .iter()
                    .any(|other| other.channel == target.channel && other.folder.is_none());
            if !whole_channel_too && !unique.contains(target) {
                unique.push(target.clone());
            }
        }
        Ok(unique)
    }

    /// "channels: a, b; groups: g", for messages about unknown names.
    fn known_names(&self) -> String {
        let list = |names: Vec<&String>| {
            if names.is_empty() {
                "none".to_owned()
            } else {
                names
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        format!(
            "channels: {}; groups: {}",
            list(self.channels.keys().collect()),
            list(self.groups.keys().collect())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TEXT: &str = "state_dir: /state
stores:
  a:
    type: maildir
    path: /a
  b:
    type: maildir
    path: /b
channels:
  one:
    far: a
    near: b
  two:
    far: b
    near: a
groups:
  both: [one, two]
";

    fn config() -> Config {
        Config::from_yaml(TEXT, Path::new("/c.yaml")).unwrap()
    }

    fn whole(channel: &str) -> Target {
        Target {
            channel: channel.into(),
            folder: None,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn channel_name_is_the_whole_channel() {
        assert_eq!(
            config().resolve_targets(&names(&["two"]), false),
            Ok(vec![whole("two")])
        );
    }

    #[test]
    fn channel_colon_folder_keeps_the_folder_with_its_colons() {
        let targets = config()
            .resolve_targets(&names(&["one:Work/a:b"]), false)
            .unwrap();
        assert_eq!(
            targets,
            vec![Target {
                channel: "one".into(),
                folder: Some("Work/a:b".into())
            }]
        );
    }

    #[test]
    fn group_expands_to_its_channels_without_duplicates() {
        let targets = config()
            .resolve_targets(&names(&["two", "both", "one:INBOX"]), false)
            .unwrap();
        assert_eq!(targets, vec![whole("two"), whole("one")]);
    }

    #[test]
    fn all_is_every_channel() {
        let targets = config().resolve_targets(&[], true).unwrap();
        assert_eq!(targets, vec![whole("one"), whole("two")]);
    }

    #[test]
    fn unknown_names_are_listed_with_the_known_ones() {
        let err = config()
            .resolve_targets(&names(&["one", "three", "four:INBOX"]), false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown channel or group: three, four (channels: one, two; groups: both)"
        );
    }

    #[test]
    fn nothing_named_is_a_usage_error() {
        let err = config().resolve_targets(&[], false).unwrap_err();
        assert!(err.to_string().contains("--all"), "{err}");
    }

    #[test]
    fn group_with_folder_is_refused() {
        let err = config()
            .resolve_targets(&names(&["both:INBOX"]), false)
            .unwrap_err();
        assert!(err.to_string().contains("both is a group"), "{err}");
    }
}
