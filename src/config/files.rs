//! Where the configuration file is looked for, reading it, and the paths
//! that depend on the environment (`~`, the XDG directories).
//!
//! The environment is passed in as a lookup function so tests can describe
//! one without changing the process's variables.

use super::parse::parse_config;
use super::Config;
use crate::error::ConfigError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Reads one environment variable.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process's own environment.
pub(crate) fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// A variable holding a path; unset and empty are the same.
fn env_path(env: Env, name: &str) -> Option<PathBuf> {
    env(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The XDG base directory in `name` if set to an absolute path (the spec
/// says relative ones are to be ignored), else `$HOME/fallback`.
fn xdg_dir(env: Env, name: &str, fallback: &str) -> Option<PathBuf> {
    env_path(env, name)
        .filter(|dir| dir.is_absolute())
        .or_else(|| home_dir(env).map(|home| home.join(fallback)))
}

pub(crate) fn home_dir(env: Env) -> Option<PathBuf> {
    env_path(env, "HOME")
}

/// `$XDG_STATE_HOME/mailferry`, else `$HOME/.local/state/mailferry`.
pub(crate) fn state_dir_default(env: Env) -> Option<PathBuf> {
    xdg_dir(env, "XDG_STATE_HOME", ".local/state").map(|dir| dir.join("mailferry"))
}

/// Expands a leading `~/` (or a lone `~`) to `$HOME`. Anything else, and
/// everything when HOME is unset, is returned as it is.
pub fn expand_tilde(path: &str) -> PathBuf {
    expand_tilde_with(path, home_dir(&process_env).as_deref())
}

pub(crate) fn expand_tilde_with(path: &str, home: Option<&Path>) -> PathBuf {
    match (home, path) {
        (Some(home), "~") => home.to_owned(),
        (Some(home), _) => match path.strip_prefix("~/") {
            Some(rest) => home.join(rest.trim_start_matches('/')),
            None => PathBuf::from(path),
        },
        (None, _) => PathBuf::from(path),
    }
}

/// The places a configuration file is looked for when none is named, best
/// first: `$XDG_CONFIG_HOME/mailferry/config.yaml`, then
/// `$HOME/.config/mailferry/config.yaml`.
fn default_locations(env: Env) -> Vec<PathBuf> {
    let mut places = Vec::new();
    if let Some(dir) = env_path(env, "XDG_CONFIG_HOME").filter(|dir| dir.is_absolute()) {
        places.push(dir.join("mailferry/config.yaml"));
    }
    if let Some(home) = home_dir(env) {
        let place = home.join(".config/mailferry/config.yaml");
        if !places.contains(&place) {
            places.push(place);
        }
    }
    places
}

/// Finds, reads and parses the configuration: the explicit path, else
/// `$MAILFERRY_CONFIG`, else the first default location that exists.
pub(crate) fn load_with(explicit: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
    let named = explicit
        .map(Path::to_owned)
        .or_else(|| env_path(env, "MAILFERRY_CONFIG"));
    let file = match named {
        Some(file) => file,
        None => {
            let places = default_locations(env);
            match places.iter().find(|place| place.exists()) {
                Some(found) => found.clone(),
                None => return Err(nothing_found(&places)),
            }
        }
    };
    let text = std::fs::read_to_string(&file).map_err(|err| {
        let message = if err.kind() == std::io::ErrorKind::NotFound {
            "config file not found (create it, or pass --config FILE)".to_owned()
        } else {
            format!("cannot read the config file: {err}")
        };
        ConfigError {
            file: file.clone(),
            line: None,
            key: None,
            message,
        }
    })?;
    parse_config(&text, &file, env)
}

/// The error when no file was named and no default location exists: it
/// names every place looked at, so the user knows where to create one.
fn nothing_found(places: &[PathBuf]) -> ConfigError {
    let Some(first) = places.first() else {
        return ConfigError {
            file: PathBuf::from("config.yaml"),
            line: None,
            key: None,
            message: "config file not found: neither XDG_CONFIG_HOME nor HOME is set \
                      (pass --config FILE or set MAILFERRY_CONFIG)"
                .to_owned(),
        };
    };
    let looked_at: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
    ConfigError {
        file: first.clone(),
        line: None,
        key: None,
        message: format!(
            "config file not found (looked at {}; MAILFERRY_CONFIG is not set): \
             create it, or pass --config FILE",
            looked_at.join(" and ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| vars.get(name).cloned()
    }

    const MINIMAL: &str = "stores:\n  local:\n    type: maildir\n    path: /m\n";

    #[test]
    fn tilde_expands_only_at_the_start() {
        let home = Some(Path::new("/home/a"));
        assert_eq!(expand_tilde_with("~", home), PathBuf::from("/home/a"));
        assert_eq!(
            expand_tilde_with("~/Mail/work", home),
            PathBuf::from("/home/a/Mail/work")
        );
        assert_eq!(expand_tilde_with("/x/~/y", home), PathBuf::from("/x/~/y"));
        assert_eq!(expand_tilde_with("~bob/x", home), PathBuf::from("~bob/x"));
        assert_eq!(expand_tilde_with("~/x", None), PathBuf::from("~/x"));
    }

    #[test]
    fn state_dir_prefers_xdg_state_home() {
        let env = env_of(&[("HOME", "/home/a"), ("XDG_STATE_HOME", "/st")]);
        assert_eq!(
            state_dir_default(&env),
            Some(PathBuf::from("/st/mailferry"))
        );
        let env = env_of(&[("HOME", "/home/a"), ("XDG_STATE_HOME", "")]);
        assert_eq!(
            state_dir_default(&env),
            Some(PathBuf::from("/home/a/.local/state/mailferry"))
        );
    }

    #[test]
    fn explicit_path_wins_over_environment() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = dir.path().join("mine.yaml");
        std::fs::write(&explicit, MINIMAL).unwrap();
        let env = env_of(&[("HOME", "/home/a"), ("MAILFERRY_CONFIG", "/nowhere.yaml")]);
        let config = load_with(Some(&explicit), &env).unwrap();
        assert_eq!(config.path, explicit);
    }

    #[test]
    fn mailferry_config_variable_is_used_before_xdg() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("named.yaml");
        std::fs::write(&named, MINIMAL).unwrap();
        std::fs::create_dir_all(dir.path().join("xdg/mailferry")).unwrap();
        std::fs::write(dir.path().join("xdg/mailferry/config.yaml"), MINIMAL).unwrap();
        let xdg = dir.path().join("xdg");
        let env = env_of(&[
            ("HOME", "/home/a"),
            ("MAILFERRY_CONFIG", named.to_str().unwrap()),
            ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ]);
        assert_eq!(load_with(None, &env).unwrap().path, named);
    }

    #[test]
    fn falls_back_to_home_config_when_xdg_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".config/mailferry")).unwrap();
        let expected = home.join(".config/mailferry/config.yaml");
        std::fs::write(&expected, MINIMAL).unwrap();
        let xdg = dir.path().join("empty-xdg");
        let env = env_of(&[
            ("HOME", home.to_str().unwrap()),
            ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ]);
        let config = load_with(None, &env).unwrap();
        assert_eq!(config.path, expected);
        // The state directory follows HOME too.
        assert_eq!(config.state_dir, home.join(".local/state/mailferry"));
    }

    #[test]
    fn missing_explicit_file_says_how_to_fix_it() {
        let env = env_of(&[]);
        let err = load_with(Some(Path::new("/no/such/config.yaml")), &env).unwrap_err();
        assert_eq!(err.file, PathBuf::from("/no/such/config.yaml"));
        assert_eq!(
            err.to_string(),
            "/no/such/config.yaml: config file not found (create it, or pass --config FILE)"
        );
    }

    #[test]
    fn nothing_found_names_every_place_looked_at() {
        let env = env_of(&[("HOME", "/no/home"), ("XDG_CONFIG_HOME", "/no/xdg")]);
        let err = load_with(None, &env).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/no/xdg/mailferry/config.yaml"), "{text}");
        assert!(
            text.contains("/no/home/.config/mailferry/config.yaml"),
            "{text}"
        );
        assert!(text.contains("--config FILE"), "{text}");
    }
}
