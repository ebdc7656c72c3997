//! From YAML text to a validated [`Config`]: raw serde structs that mirror the
//! file (every key optional, unknown keys refused), then the checks that need
//! the whole picture. Every error names the key path and, found again in the
//! text, its line.
//!
//! The text is first read into a `serde_yaml::Value` (syntax errors carry
//! their line), then deserialized from that value through
//! `serde_path_to_error`, which gives a structured key path; the line of that
//! path is found by [`KeyPath::line_in`]. Messages from serde are reworded
//! for people who write YAML rather than Rust.

use super::files::{expand_tilde_with, home_dir, state_dir_default, Env};
use super::key_path::{KeyPath, Segment};
use super::{
    AuthMethod, CertFingerprint, ChannelConfig, Config, Direction, ImapConfig, Layout, LineEndings,
    MaildirConfig, PasswordSource, Pop3Auth, Pop3Config, Pop3Identity, Secret, Sides, StoreConfig,
    TlsMode, TlsVersion, TrashConfig,
};
use crate::error::ConfigError;
use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Parses and validates a whole configuration file's text.
pub(crate) fn parse_config(text: &str, file: &Path, env: Env) -> Result<Config, ConfigError> {
    let source = Source { text, file };
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|err| source.syntax_error(&err))?;
    if value.is_null() {
        return Err(source.error(
            KeyPath::default(),
            "the file is empty; expected at least a `stores:` section",
        ));
    }
    let raw: RawConfig = serde_path_to_error::deserialize(&value)
        .map_err(|err| source.deserialize_error(&err, &value))?;
    Validator { source, env }.config(raw)
}

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with the keys stores, channels, groups, state_dir, post_sync, \
                 hook_timeout"
)]
struct RawConfig {
    stores: BTreeMap<String, RawStore>,
    #[serde(default)]
    channels: BTreeMap<String, RawChannel>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    state_dir: Option<String>,
    post_sync: Option<String>,
    hook_timeout: Option<u64>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum StoreKind {
    Imap,
    Maildir,
    Pop3,
}

const IMAP_KEYS: &[&str] = &[
    "type",
    "host",
    "port",
    "tls",
    "ca_file",
    "tls_fingerprint",
    "tls_min_version",
    "user",
    "user_command",
    "tunnel",
    "auth",
    "password",
    "password_command",
    "password_env",
    "oauth2_token_command",
    "command_timeout",
    "timeout",
    "connections",
    "namespace",
];
const MAILDIR_KEYS: &[&str] = &["type", "path", "layout", "inbox", "line_endings"];
const POP3_KEYS: &[&str] = &[
    "type",
    "host",
    "port",
    "tls",
    "ca_file",
    "tls_fingerprint",
    "tls_min_version",
    "user",
    "password",
    "password_command",
    "password_env",
    "command_timeout",
    "timeout",
    "auth",
    "uidl",
    "leave_on_server",
    "delete_after_days",
];

impl StoreKind {
    /// The keys a store of this kind accepts.
    fn keys(self) -> &'static [&'static str] {
        match self {
            StoreKind::Imap => IMAP_KEYS,
            StoreKind::Maildir => MAILDIR_KEYS,
            StoreKind::Pop3 => POP3_KEYS,
        }
    }

    fn from_name(name: &str) -> Option<StoreKind> {
        match name {
            "imap" => Some(StoreKind::Imap),
            "maildir" => Some(StoreKind::Maildir),
            "pop3" => Some(StoreKind::Pop3),
            _ => None,
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Imap => "imap",
            StoreKind::Maildir => "maildir",
            StoreKind::Pop3 => "pop3",
        })
    }
}

/// Every key of every kind of store: which ones a kind accepts is checked
/// after parsing, so the error can say "does not apply to a maildir store".
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of store settings")]
struct RawStore {
    #[serde(rename = "type")]
    kind: Option<StoreKind>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<TlsMode>,
    ca_file: Option<OneOrMany>,
    tls_fingerprint: Option<RawFingerprint>,
    tls_min_version: Option<RawTlsVersion>,
    user: Option<String>,
    user_command: Option<String>,
    tunnel: Option<String>,
    auth: Option<RawAuth>,
    password: Option<RawSecret>,
    password_command: Option<String>,
    password_env: Option<String>,
    oauth2_token_command: Option<String>,
    command_timeout: Option<u64>,
    timeout: Option<u64>,
    connections: Option<usize>,
    namespace: Option<String>,
    path: Option<String>,
    layout: Option<Layout>,
    inbox: Option<String>,
    line_endings: Option<LineEndings>,
    leave_on_server: Option<bool>,
    delete_after_days: Option<u32>,
    uidl: Option<Pop3Identity>,
}

/// Every word `auth:` takes; which apply is checked per kind of store.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RawAuth {
    Login,
    Plain,
    User,
    Apop,
    Xoauth2,
    Oauthbearer,
}

impl RawStore {
    /// The keys written for this store, `type` excepted.
    fn present_keys(&self) -> Vec<&'static str> {
        [
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("tls", self.tls.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("tls_fingerprint", self.tls_fingerprint.is_some()),
            ("tls_min_version", self.tls_min_version.is_some()),
            ("user", self.user.is_some()),
            ("user_command", self.user_command.is_some()),
            ("tunnel", self.tunnel.is_some()),
            ("auth", self.auth.is_some()),
            ("password", self.password.is_some()),
            ("password_command", self.password_command.is_some()),
            ("password_env", self.password_env.is_some()),
            ("oauth2_token_command", self.oauth2_token_command.is_some()),
            ("command_timeout", self.command_timeout.is_some()),
            ("timeout", self.timeout.is_some()),
            ("connections", self.connections.is_some()),
            ("namespace", self.namespace.is_some()),
            ("path", self.path.is_some()),
            ("layout", self.layout.is_some()),
            ("inbox", self.inbox.is_some()),
            ("line_endings", self.line_endings.is_some()),
            ("leave_on_server", self.leave_on_server.is_some()),
            ("delete_after_days", self.delete_after_days.is_some()),
            ("uidl", self.uidl.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of channel settings")]
struct RawChannel {
    far: Option<String>,
    near: Option<String>,
    folders: Option<Vec<String>>,
    direction: Option<Direction>,
    sync: Option<Vec<SyncPart>>,
    expunge: Option<Sides>,
    create: Option<Sides>,
    remove: Option<Sides>,
    max_messages: Option<usize>,
    max_size: Option<ByteSize>,
    max_delete_ratio: Option<f64>,
    folder_map: Option<BTreeMap<String, String>>,
    watch: Option<Vec<String>>,
    interval: Option<Interval>,
    poll_interval: Option<Interval>,
    post_sync: Option<String>,
    on_new_mail: Option<String>,
    trash: Option<RawTrash>,
    max_age: Option<Days>,
    since: Option<RawDate>,
    prune_local: Option<bool>,
}

/// `max_age`: a number of days, written `90d` (or a bare number).
struct Days(u32);

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let days = match serde_yaml::Value::deserialize(deserializer)? {
            serde_yaml::Value::Number(number) => number.as_u64(),
            serde_yaml::Value::String(text) => {
                let text = text.trim();
                text.strip_suffix('d')
                    .unwrap_or(text)
                    .trim_end()
                    .parse()
                    .ok()
            }
            _ => None,
        };
        days.and_then(|d| u32::try_from(d).ok())
            .map(Days)
            .ok_or_else(|| D::Error::custom("expected a number of days such as 90d"))
    }
}

/// `since`: a calendar date, `YYYY-MM-DD`.
struct RawDate(chrono::NaiveDate);

impl<'de> Deserialize<'de> for RawDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match serde_yaml::Value::deserialize(deserializer)? {
            serde_yaml::Value::String(text) => text,
            _ => String::new(),
        };
        chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(RawDate)
            .map_err(|_| D::Error::custom("expected a date written YYYY-MM-DD, e.g. 2024-01-01"))
    }
}

/// A channel's `trash:` mapping.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with far, near, new_only and remote_new, e.g. {near: Trash}"
)]
struct RawTrash {
    far: Option<String>,
    near: Option<String>,
    new_only: Option<bool>,
    remote_new: Option<bool>,
}

/// One item of a channel's `sync:` list.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum SyncPart {
    New,
    Flags,
    Delete,
}

/// A password written in the file. Only a string is accepted, and the
/// error for anything else never repeats the value (it is a password).
struct RawSecret(Secret);

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(deserializer)? {
            serde_yaml::Value::String(text) => Ok(RawSecret(Secret::new(text))),
            _ => Err(D::Error::custom(
                "expected a string; put the password in quotes",
            )),
        }
    }
}

/// A value written as one string or as a list of them (`ca_file`).
#[derive(Deserialize)]
#[serde(untagged, expecting = "a path or a list of paths")]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `tls_fingerprint`: `sha256:` and the certificate's digest in hex.
struct RawFingerprint(CertFingerprint);

impl<'de> Deserialize<'de> for RawFingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(deserializer)? {
            serde_yaml::Value::String(text) => CertFingerprint::parse(&text)
                .map(RawFingerprint)
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "expected sha256: followed by the certificate's SHA-256 in hex",
            )),
        }
    }
}

/// `tls_min_version`: 1.2 or 1.3, written as a number or a string (YAML
/// reads an unquoted `1.2` as a number).
struct RawTlsVersion(TlsVersion);

impl<'de> Deserialize<'de> for RawTlsVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match serde_yaml::Value::deserialize(deserializer)? {
            serde_yaml::Value::String(text) => text,
            serde_yaml::Value::Number(number) => number.to_string(),
            _ => String::new(),
        };
        match text.trim() {
            "1.2" => Ok(RawTlsVersion(TlsVersion::V1_2)),
            "1.3" => Ok(RawTlsVersion(TlsVersion::V1_3)),
            _ => Err(D::Error::custom("expected 1.2 or 1.3")),
        }
    }
}

/// A size in bytes: a whole number, or a string such as `10M`, `512k`, `1G`
/// (multiples of 1024).
struct ByteSize(u64);

const SIZE_EXPECTED: &str = "expected a number of bytes, or a size such as 512k, 10M or 1G";

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(deserializer)? {
            serde_yaml::Value::Number(number) => number
                .as_u64()
                .map(ByteSize)
                .ok_or_else(|| D::Error::custom(format!("invalid size {number}, {SIZE_EXPECTED}"))),
            serde_yaml::Value::String(text) => parse_size(&text)
                .map(ByteSize)
                .ok_or_else(|| D::Error::custom(format!("invalid size {text:?}, {SIZE_EXPECTED}"))),
            _ => Err(D::Error::custom(SIZE_EXPECTED)),
        }
    }
}

/// A duration in seconds: a whole number of seconds, or a string such as
/// `90s`, `15m`, `2h`.
struct Interval(u64);

const INTERVAL_EXPECTED: &str =
    "expected a number of seconds, or a duration such as 90s, 15m or 2h";

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seconds = match serde_yaml::Value::deserialize(deserializer)? {
            serde_yaml::Value::Number(number) => number.as_u64(),
            serde_yaml::Value::String(text) => parse_interval(&text),
            _ => None,
        };
        seconds
            .map(Interval)
            .ok_or_else(|| D::Error::custom(INTERVAL_EXPECTED))
    }
}

/// `"15m"` → 900. Units s, m, h; none means seconds.
fn parse_interval(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits_end].parse().ok()?;
    let multiplier = match text[digits_end..].trim_start() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// `"10M"` → 10 MiB. A unit letter (k, M, G, any case) may be followed by
/// `B`; no unit means bytes.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits_end].parse().ok()?;
    let unit = text[digits_end..].trim_start();
    let unit = unit
        .strip_suffix(['B', 'b'])
        .filter(|rest| !rest.is_empty())
        .unwrap_or(unit);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

// ---------------------------------------------------------------------------
// Errors located in the text.

struct Source<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Source<'_> {
    fn error(&self, path: KeyPath, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: path.line_in(self.text),
            key: (!path.is_root()).then(|| path.to_string()),
            message: message.into(),
        }
    }

    fn syntax_error(&self, err: &serde_yaml::Error) -> ConfigError {
        let location = err.location();
        let mut message = err.to_string();
        if let Some(at) = &location {
            // The line is already in front of the message.
            let suffix = format!(" at line {} column {}", at.line(), at.column());
            message = message.replacen(&suffix, "", 1);
        }
        let line = location.map(|at| at.line());
        // serde_yaml words a repeated key as `PATH: duplicate entry with key "K"`
        // and points at the start of the mapping that holds it.
        if let Some((path, repeated)) = message.split_once(": duplicate entry with key ") {
            let repeated = repeated.trim_matches('"');
            let key = match path {
                "." => repeated.to_owned(),
                _ => format!("{path}.{repeated}"),
            };
            return ConfigError {
                file: self.file.to_owned(),
                line,
                key: Some(key),
                message: format!("the key {repeated:?} is written twice in this mapping"),
            };
        }
        ConfigError {
            file: self.file.to_owned(),
            line,
            key: None,
            message: format!("invalid YAML: {message}"),
        }
    }

    fn deserialize_error(
        &self,
        err: &serde_path_to_error::Error<serde_yaml::Error>,
        value: &serde_yaml::Value,
    ) -> ConfigError {
        let mut path = KeyPath::default();
        for segment in err.path().iter() {
            path = match segment {
                serde_path_to_error::Segment::Map { key } => path.key(key),
                serde_path_to_error::Segment::Seq { index } => path.index(*index),
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => path,
            };
        }
        let message = err.inner().to_string();
        if let Some((key, expected)) = unknown_field(&message) {
            // serde_path_to_error usually has the key in the path already.
            let already_there =
                matches!(path.segments().last(), Some(Segment::Key(last)) if *last == key);
            let path = if already_there { path } else { path.key(&key) };
            let expected = match store_kind_of(&path, value) {
                Some(kind) => format!("expected one of {}", kind.keys().join(", ")),
                None => expected,
            };
            return self.error(path, format!("unknown key, {expected}"));
        }
        let mut message = reword(&message);
        // serde_yaml names the expected type of an enum by its own internals.
        if let Some(problem) = message.strip_suffix("expected a Value::Tagged enum") {
            message = format!("{problem}expected one of {}", enum_choices(&path));
        }
        self.error(path, message)
    }
}

/// Splits serde's "unknown field `x`, expected ..." into the key and the rest.
fn unknown_field(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let rest = rest.trim_start_matches(", ");
    let expected = if rest == "there are no fields" {
        "this mapping takes no keys".to_owned()
    } else {
        rest.replace('`', "")
    };
    Some((key.to_owned(), expected))
}

/// The kind of the store an unknown key was found in, when the path is
/// `stores.NAME.KEY` and the store's `type` is readable.
fn store_kind_of(path: &KeyPath, value: &serde_yaml::Value) -> Option<StoreKind> {
    let [Segment::Key(stores), Segment::Key(name), Segment::Key(_)] = path.segments() else {
        return None;
    };
    if stores != "stores" {
        return None;
    }
    StoreKind::from_name(
        value
            .get("stores")?
            .get(name.as_str())?
            .get("type")?
            .as_str()?,
    )
}

/// The words a key that takes one of a fixed set of values accepts.
fn enum_choices(path: &KeyPath) -> &'static str {
    let key = path
        .segments()
        .iter()
        .rev()
        .find_map(|segment| match segment {
            Segment::Key(key) => Some(key.as_str()),
            Segment::Index(_) => None,
        });
    match key {
        Some("type") => "imap, maildir, pop3",
        Some("tls") => "implicit, starttls, none",
        Some("auth") => "login, plain, xoauth2, oauthbearer (imap); user, plain, apop (pop3)",
        Some("uidl") => "server, content-hash",
        Some("layout") => "verbatim, maildir++, flatten",
        Some("direction") => "both, pull, push",
        Some("sync") => "new, flags, delete",
        Some("expunge" | "create" | "remove") => "both, far, near, none",
        _ => "the documented words",
    }
}

/// serde's wording, for people: "unknown variant" is an unknown value, Rust
/// type names become words, backticks go.
fn reword(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((value, expected)) = rest.split_once('`') {
            let expected = expected.trim_start_matches(", ").replace('`', "");
            return format!("unknown value {value:?}, {expected}");
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return format!("missing key {}", rest.trim_end_matches('`'));
    }
    let message = message
        .replace('`', "")
        .replace("unit value", "an empty value");
    match message.rsplit_once(", expected ") {
        Some((problem, expected)) => {
            let expected = match expected {
                "u16" => "a whole number from 0 to 65535",
                "u8" | "u32" | "u64" | "usize" => "a whole number",
                "f32" | "f64" => "a number",
                "a boolean" => "true or false",
                "a sequence" => "a list",
                "a map" => "a mapping",
                other => other,
            };
            format!("{problem}, expected {expected}")
        }
        None => message,
    }
}

// ---------------------------------------------------------------------------
// Validation: from raw structs to the config types.

struct Validator<'a> {
    source: Source<'a>,
    env: Env<'a>,
}

/// The characters a name of a store, channel or group may not hold: they
/// separate CHANNEL:FOLDER on the command line and name state files.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == ':' || c == '/' || c.is_whitespace())
}

fn names<V>(map: &BTreeMap<String, V>) -> String {
    if map.is_empty() {
        return "none defined".to_owned();
    }
    map.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Validator<'_> {
    fn error(&self, path: KeyPath, message: impl Into<String>) -> ConfigError {
        self.source.error(path, message)
    }

    fn check_name(&self, what: &str, path: KeyPath, name: &str) -> Result<(), ConfigError> {
        if is_valid_name(name) {
            return Ok(());
        }
        Err(self.error(
            path,
            format!(
                "invalid {what} name {name:?}: a name must be non-empty, without ':', '/' or spaces"
            ),
        ))
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let mut stores = BTreeMap::new();
        for (name, raw_store) in raw.stores {
            self.check_name("store", KeyPath::of(["stores", name.as_str()]), &name)?;
            let store = self.store(&name, raw_store)?;
            stores.insert(name, store);
        }

        let mut channels = BTreeMap::new();
        for (name, raw_channel) in raw.channels {
            self.check_name("channel", KeyPath::of(["channels", name.as_str()]), &name)?;
            let channel = self.channel(&name, raw_channel, &stores)?;
            channels.insert(name, channel);
        }

        for (name, members) in &raw.groups {
            let here = KeyPath::of(["groups", name.as_str()]);
            self.check_name("group", here.clone(), name)?;
            if channels.contains_key(name) {
                return Err(self.error(
                    here,
                    format!("{name:?} is already a channel name; a group needs a name of its own"),
                ));
            }
            for (index, member) in members.iter().enumerate() {
                if channels.contains_key(member) {
                    continue;
                }
                let message = if raw.groups.contains_key(member) {
                    format!("{member:?} is a group; a group lists channels only")
                } else {
                    format!(
                        "unknown channel {member:?} (channels: {})",
                        names(&channels)
                    )
                };
                return Err(self.error(here.clone().index(index), message));
            }
        }

        let state_dir = match raw.state_dir {
            Some(dir) => self.path(KeyPath::of(["state_dir"]), dir)?,
            None => state_dir_default(self.env).ok_or_else(|| {
                self.error(
                    KeyPath::default(),
                    "neither XDG_STATE_HOME nor HOME is set; add `state_dir:` to say where sync state lives",
                )
            })?,
        };

        let post_sync = self.hook(KeyPath::of(["post_sync"]), raw.post_sync)?;
        let hook_timeout_secs =
            self.seconds(&KeyPath::default(), "hook_timeout", raw.hook_timeout)?;
        Ok(Config {
            path: self.source.file.to_owned(),
            stores,
            channels,
            groups: raw.groups,
            state_dir,
            post_sync,
            hook_timeout_secs,
        })
    }

    fn store(&self, name: &str, raw: RawStore) -> Result<StoreConfig, ConfigError> {
        let here = KeyPath::of(["stores", name]);
        let kind = raw
            .kind
            .ok_or_else(|| self.error(here.clone(), "missing key type (imap, maildir or pop3)"))?;
        if let Some(key) = raw
            .present_keys()
            .into_iter()
            .find(|key| !kind.keys().contains(key))
        {
            return Err(self.error(
                here.key(key),
                format!(
                    "{key} does not apply to a {kind} store (its keys are {})",
                    kind.keys().join(", ")
                ),
            ));
        }
        Ok(match kind {
            StoreKind::Imap => StoreConfig::Imap(self.imap(here, raw)?),
            StoreKind::Maildir => StoreConfig::Maildir(self.maildir(here, raw)?),
            StoreKind::Pop3 => StoreConfig::Pop3(self.pop3(here, raw)?),
        })
    }

    fn imap(&self, here: KeyPath, mut raw: RawStore) -> Result<ImapConfig, ConfigError> {
        let tunnel = self.tunnel(&here, &raw)?;
        let tls = match (raw.tls, &tunnel) {
            (Some(tls), _) => tls,
            (None, Some(_)) => TlsMode::None,
            (None, None) => TlsMode::Implicit,
        };
        let default_port = if tls == TlsMode::Implicit { 993 } else { 143 };
        let auth = match raw.auth {
            None | Some(RawAuth::Login) => AuthMethod::Login,
            Some(RawAuth::Plain) => AuthMethod::Plain,
            Some(RawAuth::Xoauth2) => AuthMethod::Xoauth2,
            Some(RawAuth::Oauthbearer) => AuthMethod::Oauthbearer,
            Some(RawAuth::User | RawAuth::Apop) => {
                return Err(self.error(
                    here.key("auth"),
                    "an imap store logs in with login, plain, xoauth2 or oauthbearer \
                     (user and apop are for pop3 stores)",
                ))
            }
        };
        let password = if auth.uses_oauth2() {
            self.token_command(&here, auth, &raw)?
        } else if raw.oauth2_token_command.is_some() {
            return Err(self.error(
                here.key("oauth2_token_command"),
                "needs auth: xoauth2 or auth: oauthbearer",
            ));
        } else if tunnel.is_some()
            && raw.password.is_none()
            && raw.password_command.is_none()
            && raw.password_env.is_none()
        {
            // A tunnel usually ends in a server that is already logged in
            // (PREAUTH); should it ask for a login, the empty password
            // fails there, naming the server.
            PasswordSource::Plain(Secret::new(""))
        } else {
            self.password(
                &here,
                raw.password.take(),
                raw.password_command.take(),
                raw.password_env.take(),
            )?
        };
        let (user, user_command) = self.user(&here, raw.user, raw.user_command, &tunnel)?;
        let host = match (&tunnel, raw.host) {
            (Some(_), None) => String::new(),
            (_, host) => self.required_text(&here, "host", host, StoreKind::Imap)?,
        };
        Ok(ImapConfig {
            host,
            port: self.port(&here, raw.port, default_port)?,
            tls,
            ca_file: self.ca_files(&here, raw.ca_file)?,
            tls_fingerprint: self.fingerprint(&here, tls, raw.tls_fingerprint)?,
            tls_min_version: raw.tls_min_version.map(|v| v.0).unwrap_or_default(),
            user,
            user_command,
            tunnel,
            auth,
            password,
            command_timeout_secs: self.seconds(&here, "command_timeout", raw.command_timeout)?,
            timeout_secs: self.timeout(&here, raw.timeout)?,
            connections: match raw.connections {
                None => 4,
                Some(count) if (1..=32).contains(&count) => count,
                Some(count) => {
                    return Err(self.error(
                        here.key("connections"),
                        format!("{count} is out of range, expected 1 to 32"),
                    ))
                }
            },
            namespace: raw.namespace,
        })
    }

    fn maildir(&self, here: KeyPath, raw: RawStore) -> Result<MaildirConfig, ConfigError> {
        let path = raw.path.ok_or_else(|| {
            self.error(
                here.clone(),
                "missing key path (the Maildir root directory)",
            )
        })?;
        Ok(MaildirConfig {
            path: self.path(here.clone().key("path"), path)?,
            layout: raw.layout.unwrap_or(Layout::Verbatim),
            inbox: self.optional_path(&here, "inbox", raw.inbox)?,
            line_endings: raw.line_endings.unwrap_or_default(),
        })
    }

    fn pop3(&self, here: KeyPath, raw: RawStore) -> Result<Pop3Config, ConfigError> {
        let tls = raw.tls.unwrap_or(TlsMode::Implicit);
        let default_port = if tls == TlsMode::Implicit { 995 } else { 110 };
        let leave_on_server = raw.leave_on_server.unwrap_or(true);
        if raw.delete_after_days.is_some() && !leave_on_server {
            return Err(self.error(
                here.key("delete_after_days"),
                "has no effect with leave_on_server: false (messages are deleted once fetched)",
            ));
        }
        Ok(Pop3Config {
            host: self.required_text(&here, "host", raw.host, StoreKind::Pop3)?,
            port: self.port(&here, raw.port, default_port)?,
            tls,
            ca_file: self.ca_files(&here, raw.ca_file)?,
            tls_fingerprint: self.fingerprint(&here, tls, raw.tls_fingerprint)?,
            tls_min_version: raw.tls_min_version.map(|v| v.0).unwrap_or_default(),
            user: self.required_text(&here, "user", raw.user, StoreKind::Pop3)?,
            password: self.password(&here, raw.password, raw.password_command, raw.password_env)?,
            command_timeout_secs: self.seconds(&here, "command_timeout", raw.command_timeout)?,
            timeout_secs: self.timeout(&here, raw.timeout)?,
            auth: match raw.auth {
                None => None,
                Some(RawAuth::User) => Some(Pop3Auth::User),
                Some(RawAuth::Plain) => Some(Pop3Auth::Plain),
                Some(RawAuth::Apop) => Some(Pop3Auth::Apop),
                Some(RawAuth::Login | RawAuth::Xoauth2 | RawAuth::Oauthbearer) => {
                    return Err(self.error(
                        here.key("auth"),
                        "a pop3 store logs in with user (USER/PASS), plain or apop",
                    ))
                }
            },
            uidl: raw.uidl.unwrap_or(Pop3Identity::Server),
            leave_on_server,
            delete_after_days: raw.delete_after_days,
        })
    }

    fn required_text(
        &self,
        here: &KeyPath,
        key: &str,
        value: Option<String>,
        kind: StoreKind,
    ) -> Result<String, ConfigError> {
        match value {
            None => Err(self.error(
                here.clone(),
                format!("missing key {key} (an {kind} store needs it)"),
            )),
            Some(text) if text.trim().is_empty() => {
                Err(self.error(here.clone().key(key), "must not be empty"))
            }
            Some(text) => Ok(text),
        }
    }

    fn port(&self, here: &KeyPath, port: Option<u16>, default: u16) -> Result<u16, ConfigError> {
        match port {
            None => Ok(default),
            Some(0) => Err(self.error(
                here.clone().key("port"),
                "0 is not a port, expected 1 to 65535",
            )),
            Some(port) => Ok(port),
        }
    }

    fn timeout(&self, here: &KeyPath, timeout: Option<u64>) -> Result<u64, ConfigError> {
        self.seconds(here, "timeout", timeout)
    }

    /// A number of seconds under `key`: at least 1, default 60.
    fn seconds(&self, here: &KeyPath, key: &str, value: Option<u64>) -> Result<u64, ConfigError> {
        match value {
            None => Ok(60),
            Some(0) => Err(self.error(here.clone().key(key), "must be at least 1 (seconds)")),
            Some(seconds) => Ok(seconds),
        }
    }

    /// A hook's command line: not blank when given.
    fn hook(&self, at: KeyPath, command: Option<String>) -> Result<Option<String>, ConfigError> {
        match command {
            Some(line) if line.trim().is_empty() => {
                Err(self.error(at, "must not be empty; leave the key out to run nothing"))
            }
            other => Ok(other),
        }
    }

    /// A path with `~` expanded; `~` without HOME is an error, not a
    /// directory named `~`.
    fn path(&self, at: KeyPath, text: String) -> Result<PathBuf, ConfigError> {
        if text.trim().is_empty() {
            return Err(self.error(at, "must not be empty"));
        }
        let home = home_dir(self.env);
        let is_tilde = text == "~" || text.starts_with("~/");
        if is_tilde && home.is_none() {
            return Err(self.error(at, "cannot expand ~: HOME is not set"));
        }
        Ok(expand_tilde_with(&text, home.as_deref()))
    }

    fn optional_path(
        &self,
        here: &KeyPath,
        key: &str,
        text: Option<String>,
    ) -> Result<Option<PathBuf>, ConfigError> {
        text.map(|text| self.path(here.clone().key(key), text))
            .transpose()
    }

    /// `ca_file`: one path or a list of them, each with `~` expanded.
    fn ca_files(
        &self,
        here: &KeyPath,
        raw: Option<OneOrMany>,
    ) -> Result<Vec<PathBuf>, ConfigError> {
        let at = here.clone().key("ca_file");
        let texts = match raw {
            None => return Ok(Vec::new()),
            Some(OneOrMany::One(text)) => vec![text],
            Some(OneOrMany::Many(texts)) if texts.is_empty() => {
                return Err(self.error(at, "must not be an empty list"))
            }
            Some(OneOrMany::Many(texts)) => texts,
        };
        texts
            .into_iter()
            .map(|text| self.path(at.clone(), text))
            .collect()
    }

    /// `tunnel`: a command, with no TLS of its own over it.
    fn tunnel(&self, here: &KeyPath, raw: &RawStore) -> Result<Option<String>, ConfigError> {
        let Some(command) = &raw.tunnel else {
            return Ok(None);
        };
        let at = here.clone().key("tunnel");
        if command.trim().is_empty() {
            return Err(self.error(at, "must not be empty"));
        }
        if let Some(key) = [("host", raw.host.is_some()), ("port", raw.port.is_some())]
            .into_iter()
            .find_map(|(key, present)| present.then_some(key))
        {
            return Err(self.error(
                here.clone().key(key),
                "has no effect with tunnel: (the command reaches the server)",
            ));
        }
        if matches!(raw.tls, Some(TlsMode::Implicit | TlsMode::Starttls)) {
            return Err(self.error(
                here.clone().key("tls"),
                "a tunnel carries the IMAP conversation as it is: give tls: none, or leave tls out",
            ));
        }
        Ok(Some(command.clone()))
    }

    /// Exactly one of `user` and `user_command`.
    fn user(
        &self,
        here: &KeyPath,
        user: Option<String>,
        command: Option<String>,
        tunnel: &Option<String>,
    ) -> Result<(String, Option<String>), ConfigError> {
        match (user, command) {
            (Some(_), Some(_)) => Err(self.error(
                here.clone().key("user_command"),
                "give only one of user and user_command",
            )),
            (None, Some(command)) if command.trim().is_empty() => {
                Err(self.error(here.clone().key("user_command"), "must not be empty"))
            }
            (None, Some(command)) => Ok((String::new(), Some(command))),
            // Through a tunnel the server may need no login at all.
            (None, None) if tunnel.is_some() => Ok((String::new(), None)),
            (user, None) => Ok((
                self.required_text(here, "user", user, StoreKind::Imap)?,
                None,
            )),
        }
    }

    /// A pin makes no sense on a connection without TLS: say so rather
    /// than let the user believe the server is pinned.
    fn fingerprint(
        &self,
        here: &KeyPath,
        tls: TlsMode,
        raw: Option<RawFingerprint>,
    ) -> Result<Option<CertFingerprint>, ConfigError> {
        match raw {
            Some(_) if tls == TlsMode::None => Err(self.error(
                here.clone().key("tls_fingerprint"),
                "has no effect with tls: none (there is no certificate to pin)",
            )),
            other => Ok(other.map(|f| f.0)),
        }
    }

    /// With an OAuth2 `auth`, the secret is a token from
    /// `oauth2_token_command`, and no password key may be given.
    fn token_command(
        &self,
        here: &KeyPath,
        auth: AuthMethod,
        raw: &RawStore,
    ) -> Result<PasswordSource, ConfigError> {
        let auth_name = match auth {
            AuthMethod::Xoauth2 => "xoauth2",
            _ => "oauthbearer",
        };
        let password_key = [
            ("password", raw.password.is_some()),
            ("password_command", raw.password_command.is_some()),
            ("password_env", raw.password_env.is_some()),
        ]
        .into_iter()
        .find_map(|(key, present)| present.then_some(key));
        if let Some(key) = password_key {
            return Err(self.error(
                here.clone().key(key),
                format!(
                    "auth: {auth_name} logs in with a token, not a password: \
                     give oauth2_token_command instead"
                ),
            ));
        }
        match &raw.oauth2_token_command {
            None => Err(self.error(
                here.clone(),
                format!("auth: {auth_name} needs oauth2_token_command (a command printing an access token)"),
            )),
            Some(command) if command.trim().is_empty() => Err(self.error(
                here.clone().key("oauth2_token_command"),
                "must not be empty",
            )),
            Some(command) => Ok(PasswordSource::TokenCommand(command.clone())),
        }
    }

    /// Exactly one of `password`, `password_command`, `password_env`.
    fn password(
        &self,
        here: &KeyPath,
        password: Option<RawSecret>,
        command: Option<String>,
        env: Option<String>,
    ) -> Result<PasswordSource, ConfigError> {
        let mut given: Vec<(&str, PasswordSource)> = Vec::new();
        if let Some(RawSecret(secret)) = password {
            given.push(("password", PasswordSource::Plain(secret)));
        }
        if let Some(command) = command {
            if command.trim().is_empty() {
                return Err(self.error(here.clone().key("password_command"), "must not be empty"));
            }
            given.push(("password_command", PasswordSource::Command(command)));
        }
        if let Some(variable) = env {
            if variable.trim().is_empty() {
                return Err(self.error(here.clone().key("password_env"), "must not be empty"));
            }
            given.push(("password_env", PasswordSource::Env(variable)));
        }
        match given.len() {
            0 => Err(self.error(
                here.clone(),
                "no password: give one of password, password_command or password_env",
            )),
            1 => Ok(given.remove(0).1),
            _ => {
                // Point at whichever of them comes last in the file.
                let keys: Vec<&str> = given.iter().map(|(key, _)| *key).collect();
                let last = keys
                    .iter()
                    .max_by_key(|key| here.clone().key(key).line_in(self.source.text))
                    .copied()
                    .unwrap_or("password");
                Err(self.error(
                    here.clone().key(last),
                    format!(
                        "give only one of password, password_command, password_env (found {})",
                        keys.join(" and ")
                    ),
                ))
            }
        }
    }

    fn store_ref(
        &self,
        here: &KeyPath,
        side: &str,
        name: Option<String>,
        stores: &BTreeMap<String, StoreConfig>,
    ) -> Result<String, ConfigError> {
        let name = name.ok_or_else(|| {
            self.error(
                here.clone(),
                format!("missing key {side} (the name of a store)"),
            )
        })?;
        if !stores.contains_key(&name) {
            return Err(self.error(
                here.clone().key(side),
                format!("unknown store {name:?} (stores: {})", names(stores)),
            ));
        }
        Ok(name)
    }

    fn channel(
        &self,
        name: &str,
        raw: RawChannel,
        stores: &BTreeMap<String, StoreConfig>,
    ) -> Result<ChannelConfig, ConfigError> {
        let here = KeyPath::of(["channels", name]);
        let far = self.store_ref(&here, "far", raw.far, stores)?;
        let near = self.store_ref(&here, "near", raw.near, stores)?;
        if far == near {
            return Err(self.error(
                here.key("near"),
                format!("far and near are both {near:?}; a channel pairs two different stores"),
            ));
        }
        if let Some(StoreConfig::Pop3(_)) = stores.get(&near) {
            return Err(self.error(
                here.key("near"),
                format!(
                    "{near:?} is a pop3 store, which can only be read; near must be an imap or maildir store"
                ),
            ));
        }

        let folders = match raw.folders {
            None => vec!["*".to_owned()],
            Some(patterns) if patterns.is_empty() => {
                return Err(self.error(
                    here.key("folders"),
                    "empty list; give at least one pattern, e.g. [\"*\"]",
                ))
            }
            Some(patterns) => patterns,
        };
        if let Some(index) = folders
            .iter()
            .position(|p| p.trim_start_matches('!').trim().is_empty())
        {
            return Err(self.error(here.key("folders").index(index), "empty folder pattern"));
        }

        let sync = raw
            .sync
            .unwrap_or_else(|| vec![SyncPart::New, SyncPart::Flags, SyncPart::Delete]);

        if raw.max_messages == Some(0) {
            return Err(self.error(here.key("max_messages"), "must be at least 1"));
        }
        let max_size = raw.max_size.map(|ByteSize(bytes)| bytes);
        if max_size == Some(0) {
            return Err(self.error(here.key("max_size"), "must be at least 1 byte"));
        }
        let max_delete_ratio = raw.max_delete_ratio.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&max_delete_ratio) {
            return Err(self.error(
                here.key("max_delete_ratio"),
                format!("{max_delete_ratio} is out of range, expected a number from 0.0 to 1.0"),
            ));
        }

        let folder_map = raw.folder_map.unwrap_or_default();
        let mut near_names = std::collections::BTreeSet::new();
        for (far_name, near_name) in &folder_map {
            if far_name.is_empty() || near_name.is_empty() {
                return Err(self.error(
                    here.key("folder_map"),
                    "folder names in folder_map must not be empty",
                ));
            }
            if !near_names.insert(near_name) {
                return Err(self.error(
                    here.key("folder_map").key(far_name),
                    format!("two far folders are mapped to the near folder {near_name:?}"),
                ));
            }
        }
        let watch = raw.watch.unwrap_or_default();
        if let Some(index) = watch.iter().position(|f| f.trim().is_empty()) {
            return Err(self.error(here.key("watch").index(index), "empty folder name"));
        }
        let interval_secs = raw.interval.map(|Interval(s)| s).unwrap_or(15 * 60);
        if interval_secs < 10 {
            return Err(self.error(
                here.key("interval"),
                format!("{interval_secs} seconds is too short; use at least 10s"),
            ));
        }
        let post_sync = self.hook(here.clone().key("post_sync"), raw.post_sync)?;
        let on_new_mail = self.hook(here.clone().key("on_new_mail"), raw.on_new_mail)?;
        let trash = self.trash(here.clone().key("trash"), raw.trash, stores.get(&far))?;
        let max_age_days = raw.max_age.map(|Days(days)| days);
        if max_age_days == Some(0) {
            return Err(self.error(here.key("max_age"), "must be at least 1d"));
        }
        let since = raw.since.map(|RawDate(date)| date);
        let windowed = max_age_days.is_some() || since.is_some();
        if windowed && matches!(stores.get(&far), Some(StoreConfig::Pop3(_))) {
            let key = if max_age_days.is_some() {
                "max_age"
            } else {
                "since"
            };
            return Err(self.error(
                here.key(key),
                "a date window needs the far store's arrival dates, which a pop3 store does \
                 not give; use max_messages or the pop3 store's delete_after_days",
            ));
        }
        let prune_local = raw.prune_local.unwrap_or(false);
        if prune_local && !windowed {
            return Err(self.error(
                here.key("prune_local"),
                "prunes local copies outside the date window, and the channel has none; \
                 add max_age or since",
            ));
        }
        let poll_secs = raw.poll_interval.map(|Interval(s)| s).unwrap_or(60);
        if poll_secs < 10 {
            return Err(self.error(
                here.key("poll_interval"),
                format!("{poll_secs} seconds is too short; use at least 10s"),
            ));
        }

        Ok(ChannelConfig {
            name: name.to_owned(),
            far,
            near,
            folders,
            folder_map,
            direction: raw.direction.unwrap_or(Direction::Both),
            sync_new: sync.contains(&SyncPart::New),
            sync_flags: sync.contains(&SyncPart::Flags),
            sync_delete: sync.contains(&SyncPart::Delete),
            expunge: raw.expunge.unwrap_or(Sides::Both),
            create: raw.create.unwrap_or(Sides::Both),
            remove: raw.remove.unwrap_or(Sides::None),
            max_messages: raw.max_messages,
            max_size,
            max_delete_ratio,
            watch,
            interval_secs,
            poll_secs,
            post_sync,
            on_new_mail,
            trash,
            max_age_days,
            since,
            prune_local,
        })
    }

    /// A channel's `trash:` settings, checked: folder names not empty, a
    /// far trash only where the far store has folders, `new_only` only
    /// with a trash folder to go with it.
    fn trash(
        &self,
        at: KeyPath,
        raw: Option<RawTrash>,
        far_store: Option<&StoreConfig>,
    ) -> Result<TrashConfig, ConfigError> {
        let Some(raw) = raw else {
            return Ok(TrashConfig::default());
        };
        for (key, folder) in [("far", &raw.far), ("near", &raw.near)] {
            if folder.as_deref().is_some_and(|f| f.trim().is_empty()) {
                return Err(self.error(
                    at.clone().key(key),
                    "empty folder name; leave the key out for no trash on that side",
                ));
            }
        }
        if raw.far.is_some() && matches!(far_store, Some(StoreConfig::Pop3(_))) {
            return Err(self.error(
                at.key("far"),
                "the far store is a pop3 store, which has no folders and from which a sync \
                 deletes nothing; leave far out",
            ));
        }
        if raw.far.is_none() && raw.near.is_none() {
            return Err(self.error(
                at,
                "names no trash folder; give far, near or both (e.g. trash: {near: Trash})",
            ));
        }
        Ok(TrashConfig {
            far: raw.far,
            near: raw.near,
            new_only: raw.new_only.unwrap_or(false),
            remote_new: raw.remote_new.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    const FILE: &str = "/home/a/.config/mailferry/config.yaml";

    fn test_env(name: &str) -> Option<OsString> {
        (name == "HOME").then(|| OsString::from("/home/a"))
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_config(text, Path::new(FILE), &test_env)
    }

    /// Parses text that must fail, and returns (line, key, message).
    fn fail(text: &str) -> (Option<usize>, Option<String>, String) {
        match parse(text) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(err) => {
                assert_eq!(err.file, Path::new(FILE));
                (err.line, err.key, err.message)
            }
        }
    }

    /// The example of DESIGN.md, "The user interface (version 1)".
    const DESIGN_EXAMPLE: &str = r#"stores:
  work:                       # a name of the user's choosing
    type: imap
    host: imap.example.com
    port: 993                 # default: 993 with tls: implicit, else 143
    tls: implicit             # implicit | starttls | none (none must be said)
    ca_file: ~/certs/ca.pem   # optional extra trust root
    user: alice@example.com
    password_command: pass show mail/work   # or password: / password_env:
  laptop:
    type: maildir
    path: ~/Mail/work
    layout: verbatim          # verbatim (Work/Projects/) | maildir++ (.Work.Projects/)
  oldpop:
    type: pop3
    host: pop.example.com
    tls: implicit
    user: alice
    password_env: OLD_POP_PASSWORD
    leave_on_server: true
channels:
  work:
    far: work
    near: laptop
    folders: ["*", "!Junk"]   # glob patterns, ! excludes, later wins
    # defaults: direction both, sync new+flags+delete, create both,
    # expunge both, remove none
groups:
  everything: [work]
"#;

    /// A store block to build small configs from.
    const LAPTOP: &str = "  laptop:\n    type: maildir\n    path: /m\n";

    #[test]
    fn design_example_parses_with_every_default() {
        let config = parse(DESIGN_EXAMPLE).unwrap();
        assert_eq!(config.path, Path::new(FILE));
        assert_eq!(
            config.state_dir,
            PathBuf::from("/home/a/.local/state/mailferry")
        );

        let Some(StoreConfig::Imap(work)) = config.store("work") else {
            panic!("work is not imap");
        };
        assert_eq!(work.host, "imap.example.com");
        assert_eq!(work.port, 993);
        assert_eq!(work.tls, TlsMode::Implicit);
        assert_eq!(work.ca_file, vec![PathBuf::from("/home/a/certs/ca.pem")]);
        assert_eq!(work.user, "alice@example.com");
        assert_eq!(work.auth, AuthMethod::Login);
        assert_eq!(
            work.password,
            PasswordSource::Command("pass show mail/work".into())
        );
        assert_eq!(work.timeout_secs, 60);
        assert_eq!(work.command_timeout_secs, 60);
        assert_eq!(work.connections, 4);

        let Some(StoreConfig::Maildir(laptop)) = config.store("laptop") else {
            panic!("laptop is not maildir");
        };
        assert_eq!(laptop.path, PathBuf::from("/home/a/Mail/work"));
        assert_eq!(laptop.layout, Layout::Verbatim);

        let Some(StoreConfig::Pop3(oldpop)) = config.store("oldpop") else {
            panic!("oldpop is not pop3");
        };
        assert_eq!(oldpop.port, 995);
        assert_eq!(oldpop.tls, TlsMode::Implicit);
        assert_eq!(
            oldpop.password,
            PasswordSource::Env("OLD_POP_PASSWORD".into())
        );
        assert_eq!(oldpop.timeout_secs, 60);
        assert!(oldpop.leave_on_server);
        assert_eq!(oldpop.delete_after_days, None);

        let channel = config.channel("work").unwrap();
        assert_eq!(channel.name, "work");
        assert_eq!(
            (channel.far.as_str(), channel.near.as_str()),
            ("work", "laptop")
        );
        assert_eq!(channel.folders, vec!["*", "!Junk"]);
        assert_eq!(channel.direction, Direction::Both);
        assert!(channel.sync_new && channel.sync_flags && channel.sync_delete);
        assert_eq!(channel.expunge, Sides::Both);
        assert_eq!(channel.create, Sides::Both);
        assert_eq!(channel.remove, Sides::None);
        assert_eq!(channel.max_messages, None);
        assert_eq!(channel.max_size, None);
        assert_eq!(channel.max_delete_ratio, 0.5);

        assert_eq!(config.groups["everything"], vec!["work"]);
    }

    #[test]
    fn from_yaml_parses_with_the_process_environment() {
        // No `~` and an explicit state_dir, so HOME need not be set.
        let text = format!("state_dir: /var/lib/mf\nstores:\n{LAPTOP}");
        let config = Config::from_yaml(&text, Path::new(FILE)).unwrap();
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/mf"));
        assert!(config.store("laptop").is_some());
    }

    #[test]
    fn ports_default_by_tls_mode() {
        let text = "stores:
  a:
    type: imap
    host: h
    tls: starttls
    user: u
    password: p
  b:
    type: pop3
    host: h
    tls: none
    user: u
    password: p
";
        let config = parse(text).unwrap();
        let Some(StoreConfig::Imap(a)) = config.store("a") else {
            panic!()
        };
        assert_eq!((a.tls, a.port), (TlsMode::Starttls, 143));
        let Some(StoreConfig::Pop3(b)) = config.store("b") else {
            panic!()
        };
        assert_eq!((b.tls, b.port), (TlsMode::None, 110));
    }

    #[test]
    fn every_channel_option_is_read() {
        let text = format!(
            "state_dir: ~/state
stores:
{LAPTOP}  far:
    type: imap
    host: h
    user: u
    password: p
    auth: plain
    timeout: 5
    command_timeout: 7
    connections: 32
channels:
  c:
    far: far
    near: laptop
    direction: pull
    sync: [new, delete]
    expunge: near
    create: far
    remove: both
    max_messages: 100
    max_size: 10M
    max_delete_ratio: 1.0
"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.state_dir, PathBuf::from("/home/a/state"));
        let Some(StoreConfig::Imap(far)) = config.store("far") else {
            panic!()
        };
        assert_eq!(
            (far.auth, far.timeout_secs, far.connections),
            (AuthMethod::Plain, 5, 32)
        );
        assert_eq!(far.command_timeout_secs, 7);
        let c = config.channel("c").unwrap();
        assert_eq!(c.direction, Direction::Pull);
        assert!(c.sync_new && !c.sync_flags && c.sync_delete);
        assert_eq!(
            (c.expunge, c.create, c.remove),
            (Sides::Near, Sides::Far, Sides::Both)
        );
        assert_eq!(c.max_messages, Some(100));
        assert_eq!(c.max_size, Some(10 << 20));
        assert_eq!(c.max_delete_ratio, 1.0);
        // watch and interval have defaults: nothing but INBOX, 15 minutes.
        assert!(c.watch.is_empty());
        assert_eq!(c.interval_secs, 900);
    }

    #[test]
    fn watch_folders_and_interval_are_read() {
        let text = format!(
            "stores:\n{LAPTOP}  far:\n    type: imap\n    host: h\n    user: u\n    password: p\n\
             channels:\n  c:\n    far: far\n    near: laptop\n    watch: [Work, Lists/rust]\n    interval: 5m\n"
        );
        let c = parse(&text).unwrap().channels["c"].clone();
        assert_eq!(c.watch, vec!["Work".to_string(), "Lists/rust".to_string()]);
        assert_eq!(c.interval_secs, 300);
        let seconds = text.replace("interval: 5m", "interval: 45");
        assert_eq!(parse(&seconds).unwrap().channels["c"].interval_secs, 45);
        assert_eq!(c.poll_secs, 60, "polled every minute by default");
        let poll = text.replace("interval: 5m", "poll_interval: 30s");
        assert_eq!(parse(&poll).unwrap().channels["c"].poll_secs, 30);
    }

    #[test]
    fn trash_folders_per_side_and_new_only_are_read() {
        let text = format!(
            "stores:\n{LAPTOP}  far:\n    type: imap\n    host: h\n    user: u\n    password: p\n\
             channels:\n  c:\n    far: far\n    near: laptop\n    trash:\n      near: Trash\n"
        );
        let c = parse(&text).unwrap().channels["c"].clone();
        assert_eq!(c.trash.near.as_deref(), Some("Trash"));
        assert_eq!(c.trash.far, None);
        assert!(!c.trash.new_only);
        let both = text.replace(
            "      near: Trash\n",
            "      far: Deleted Items\n      near: Trash\n      new_only: true\n      \
             remote_new: true\n",
        );
        let c = parse(&both).unwrap().channels["c"].clone();
        assert_eq!(c.trash.far.as_deref(), Some("Deleted Items"));
        assert!(c.trash.new_only);
        assert!(c.trash.remote_new);
        let none = format!(
            "stores:\n{LAPTOP}  far:\n    type: imap\n    host: h\n    user: u\n    password: p\n\
             channels:\n  c:\n    far: far\n    near: laptop\n"
        );
        assert_eq!(
            parse(&none).unwrap().channels["c"].trash,
            TrashConfig::default()
        );
    }

    #[test]
    fn bad_trash_settings_are_refused_naming_the_key() {
        let text = format!(
            "stores:\n{LAPTOP}  far:\n    type: imap\n    host: h\n    user: u\n    password: p\n\
             channels:\n  c:\n    far: far\n    near: laptop\n    trash:\n      near: Trash\n"
        );
        let (line, key, message) = fail(&text.replace("near: Trash", "near: \"\""));
        assert_eq!(key.as_deref(), Some("channels.c.trash.near"));
        assert!(line.is_some());
        assert!(message.contains("empty folder name"), "{message}");
        let (_, key, message) = fail(&text.replace("near: Trash", "new_only: true"));
        assert_eq!(key.as_deref(), Some("channels.c.trash"));
        assert!(message.contains("names no trash folder"), "{message}");
        let (_, key, message) = fail(&text.replace("near: Trash", "nera: Trash"));
        assert!(
            key.is_some_and(|k| k.starts_with("channels.c.trash")),
            "{message}"
        );
        assert!(
            message.contains("far, near, new_only, remote_new"),
            "{message}"
        );
    }

    #[test]
    fn the_date_window_is_read_and_bad_values_are_refused_naming_the_key() {
        let text = format!(
            "stores:\n{LAPTOP}  far:\n    type: imap\n    host: h\n    user: u\n    password: p\n\
             channels:\n  c:\n    far: far\n    near: laptop\n    max_age: 90d\n\
             \x20   since: 2024-01-01\n    prune_local: true\n"
        );
        let c = parse(&text).unwrap().channels["c"].clone();
        assert_eq!(c.max_age_days, Some(90));
        assert_eq!(c.since, chrono::NaiveDate::from_ymd_opt(2024, 1, 1));
        assert!(c.prune_local);
        let (line, key, message) = fail(&text.replace("90d", "soon"));
        assert_eq!(key.as_deref(), Some("channels.c.max_age"));
        assert!(line.is_some());
        assert!(message.contains("90d"), "{message}");
        let (_, key, _) = fail(&text.replace("90d", "0d"));
        assert_eq!(key.as_deref(), Some("channels.c.max_age"));
        let (_, key, message) = fail(&text.replace("2024-01-01", "2024-13-01"));
        assert_eq!(key.as_deref(), Some("channels.c.since"));
        assert!(message.contains("YYYY-MM-DD"), "{message}");
        let no_window = text
            .replace("    max_age: 90d\n", "")
            .replace("    since: 2024-01-01\n", "");
        let (_, key, message) = fail(&no_window);
        assert_eq!(key.as_deref(), Some("channels.c.prune_local"));
        assert!(message.contains("max_age or since"), "{message}");
    }

    #[test]
    fn bad_interval_is_refused_on_its_line() {
        let text = format!(
            "stores:\n{LAPTOP}  far:\n    type: imap\n    host: h\n    user: u\n    password: p\n\
             channels:\n  c:\n    far: far\n    near: laptop\n    interval: soon\n"
        );
        let (line, key, message) = fail(&text);
        assert_eq!(key.as_deref(), Some("channels.c.interval"));
        assert!(line.is_some());
        assert!(message.contains("15m"), "{message}");
        let short_poll = text.replace("interval: soon", "poll_interval: 5s");
        let (_, key, message) = fail(&short_poll);
        assert_eq!(key.as_deref(), Some("channels.c.poll_interval"));
        assert!(message.contains("at least 10s"), "{message}");
        let short = text.replace("interval: soon", "interval: 2s");
        let (_, _, message) = fail(&short);
        assert!(message.contains("too short"), "{message}");
    }

    #[test]
    fn maildir_plus_plus_layout_is_read() {
        let text = "stores:\n  m:\n    type: maildir\n    path: /m\n    layout: maildir++\n";
        let Some(StoreConfig::Maildir(m)) = parse(text).unwrap().store("m").cloned() else {
            panic!()
        };
        assert_eq!(m.layout, Layout::MaildirPlusPlus);
        assert_eq!(m.inbox, None);
    }

    #[test]
    fn flatten_layout_and_inbox_are_read() {
        let text = "stores:\n  m:\n    type: maildir\n    path: /m/x/\n    layout: flatten\n    \
                    inbox: /m/x/INBOX\n";
        let Some(StoreConfig::Maildir(m)) = parse(text).unwrap().store("m").cloned() else {
            panic!()
        };
        assert_eq!(m.layout, Layout::Flatten);
        assert_eq!(m.inbox, Some(PathBuf::from("/m/x/INBOX")));
    }

    #[test]
    fn max_size_accepts_bytes_and_k_m_g_suffixes() {
        for (written, bytes) in [
            ("1000", 1000u64),
            ("\"512k\"", 512 * 1024),
            ("10M", 10 * 1024 * 1024),
            ("1G", 1 << 30),
            ("2MB", 2 << 20),
        ] {
            let text = format!(
                "stores:\n{LAPTOP}  l2:\n    type: maildir\n    path: /n\n\
                 channels:\n  c:\n    far: l2\n    near: laptop\n    max_size: {written}\n"
            );
            let config = parse(&text).unwrap();
            assert_eq!(config.channels["c"].max_size, Some(bytes), "{written}");
        }
    }

    #[test]
    fn max_size_rejects_unknown_unit_on_its_line() {
        let text = format!(
            "stores:\n{LAPTOP}  l2:\n    type: maildir\n    path: /n\n\
             channels:\n  c:\n    far: l2\n    near: laptop\n    max_size: 10X\n"
        );
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(12));
        assert_eq!(key.as_deref(), Some("channels.c.max_size"));
        assert!(message.starts_with("invalid size \"10X\""), "{message}");
    }

    #[test]
    fn parse_size_handles_overflow_and_garbage() {
        assert_eq!(parse_size("99999999999999999999G"), None);
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("10 M"), Some(10 << 20));
        assert_eq!(parse_size("-1"), None);
    }

    #[test]
    fn unknown_key_at_top_level() {
        let text = format!("stores:\n{LAPTOP}chanels: {{}}\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(5));
        assert_eq!(key.as_deref(), Some("chanels"));
        assert_eq!(
            message,
            "unknown key, expected one of stores, channels, groups, state_dir, post_sync, \
             hook_timeout"
        );
    }

    #[test]
    fn a_blank_hook_is_an_error_naming_its_key() {
        let text = format!("stores:\n{LAPTOP}post_sync: \" \"\n");
        let (_, key, message) = fail(&text);
        assert_eq!(key.as_deref(), Some("post_sync"));
        assert!(message.contains("must not be empty"), "{message}");
    }

    #[test]
    fn unknown_key_in_a_store_lists_that_kinds_keys() {
        let text = format!("stores:\n{LAPTOP}    tsl: none\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(5));
        assert_eq!(key.as_deref(), Some("stores.laptop.tsl"));
        assert_eq!(
            message,
            "unknown key, expected one of type, path, layout, inbox, line_endings"
        );
    }

    /// An IMAP store `w` with the given extra lines (indented 4).
    fn imap_with(extra: &str) -> String {
        format!("stores:\n  w:\n    type: imap\n    host: h\n    user: u\n{extra}")
    }

    fn imap_store(text: &str) -> ImapConfig {
        match parse(text).unwrap().store("w") {
            Some(StoreConfig::Imap(imap)) => imap.clone(),
            other => panic!("not imap: {other:?}"),
        }
    }

    const PIN: &str = "sha256:4F:9D:DB:3E:64:13:4E:6A:5C:C6:30:64:1D:22:F0:0D:\
                       63:F7:77:2F:1C:87:DB:62:A9:87:1A:A9:06:1A:0B:2C";

    #[test]
    fn ca_file_takes_one_path_or_a_list() {
        let one = imap_store(&imap_with("    password: p\n    ca_file: /a.pem\n"));
        assert_eq!(one.ca_file, vec![PathBuf::from("/a.pem")]);
        let two = imap_store(&imap_with(
            "    password: p\n    ca_file: [/a.pem, /b.pem]\n",
        ));
        assert_eq!(
            two.ca_file,
            vec![PathBuf::from("/a.pem"), PathBuf::from("/b.pem")]
        );
        let (line, key, message) = fail(&imap_with("    password: p\n    ca_file: []\n"));
        assert_eq!((line, key.as_deref()), (Some(7), Some("stores.w.ca_file")));
        assert_eq!(message, "must not be an empty list");
    }

    #[test]
    fn user_command_replaces_user() {
        let text = "stores:\n  w:\n    type: imap\n    host: h\n    user_command: echo u\n    \
                    password: p\n";
        let imap = imap_store(text);
        assert_eq!(imap.user_command.as_deref(), Some("echo u"));
        let (_, key, message) = fail(&imap_with("    password: p\n    user_command: echo u\n"));
        assert_eq!(key.as_deref(), Some("stores.w.user_command"));
        assert_eq!(message, "give only one of user and user_command");
    }

    #[test]
    fn a_tunnel_needs_no_host_user_password_or_tls() {
        let text = "stores:\n  w:\n    type: imap\n    tunnel: ssh h /usr/lib/dovecot/imap\n";
        let imap = imap_store(text);
        assert_eq!(imap.tunnel.as_deref(), Some("ssh h /usr/lib/dovecot/imap"));
        assert_eq!(imap.tls, TlsMode::None);
        assert_eq!((imap.host.as_str(), imap.user.as_str()), ("", ""));
        for (extra, key) in [
            ("    host: h\n", "stores.w.host"),
            ("    tls: implicit\n", "stores.w.tls"),
        ] {
            let (_, found, _) = fail(&format!("{text}{extra}"));
            assert_eq!(found.as_deref(), Some(key), "{extra}");
        }
    }

    #[test]
    fn tls_fingerprint_and_min_version_are_read() {
        let text = imap_with(&format!(
            "    password: p\n    tls_fingerprint: {PIN}\n    tls_min_version: 1.3\n"
        ));
        let imap = imap_store(&text);
        assert_eq!(imap.tls_fingerprint.unwrap().to_string(), PIN);
        assert_eq!(imap.tls_min_version, TlsVersion::V1_3);
        // Without colons, in lower case, and the version quoted.
        let bare = PIN
            .replace(':', "")
            .replacen("sha256", "sha256:", 1)
            .to_lowercase();
        let text = imap_with(&format!(
            "    password: p\n    tls_fingerprint: {bare}\n    tls_min_version: \"1.2\"\n"
        ));
        let imap = imap_store(&text);
        assert_eq!(imap.tls_fingerprint.unwrap().to_string(), PIN);
        assert_eq!(imap.tls_min_version, TlsVersion::V1_2);
        assert_eq!(
            imap_store(&imap_with("    password: p\n")).tls_min_version,
            TlsVersion::V1_2
        );
    }

    #[test]
    fn bad_fingerprints_are_refused_on_their_line() {
        for bad in ["AB:CD", "sha1:AB:CD", "sha256:AB:CD", "sha256:zz"] {
            let (line, key, message) = fail(&imap_with(&format!(
                "    password: p\n    tls_fingerprint: {bad}\n"
            )));
            assert_eq!(line, Some(7), "{bad}");
            assert_eq!(key.as_deref(), Some("stores.w.tls_fingerprint"));
            assert!(message.contains("sha256:"), "{message}");
        }
        let (_, key, message) = fail(&imap_with(&format!(
            "    password: p\n    tls: none\n    tls_fingerprint: {PIN}\n"
        )));
        assert_eq!(key.as_deref(), Some("stores.w.tls_fingerprint"));
        assert!(message.contains("tls: none"), "{message}");
    }

    #[test]
    fn unknown_tls_min_version_is_refused() {
        let (line, key, message) = fail(&imap_with("    password: p\n    tls_min_version: 1.1\n"));
        assert_eq!(
            (line, key.as_deref()),
            (Some(7), Some("stores.w.tls_min_version"))
        );
        assert_eq!(message, "expected 1.2 or 1.3");
    }

    #[test]
    fn oauth2_auth_takes_its_token_command() {
        for (word, method) in [
            ("xoauth2", AuthMethod::Xoauth2),
            ("oauthbearer", AuthMethod::Oauthbearer),
        ] {
            let text = imap_with(&format!(
                "    auth: {word}\n    oauth2_token_command: oama access u\n"
            ));
            let imap = imap_store(&text);
            assert_eq!(imap.auth, method);
            assert_eq!(
                imap.password,
                PasswordSource::TokenCommand("oama access u".into())
            );
        }
    }

    #[test]
    fn oauth2_auth_without_token_command_or_with_a_password_is_refused() {
        let (_, key, message) = fail(&imap_with("    auth: xoauth2\n"));
        assert_eq!(key.as_deref(), Some("stores.w"));
        assert!(message.contains("needs oauth2_token_command"), "{message}");

        let (_, key, message) = fail(&imap_with(
            "    auth: oauthbearer\n    password: p\n    oauth2_token_command: t\n",
        ));
        assert_eq!(key.as_deref(), Some("stores.w.password"));
        assert!(
            message.contains("give oauth2_token_command instead"),
            "{message}"
        );

        let (_, key, message) = fail(&imap_with("    password: p\n    oauth2_token_command: t\n"));
        assert_eq!(key.as_deref(), Some("stores.w.oauth2_token_command"));
        assert_eq!(message, "needs auth: xoauth2 or auth: oauthbearer");
    }

    #[test]
    fn unknown_auth_lists_the_oauth2_methods() {
        let (_, _, message) = fail(&imap_with("    password: p\n    auth: cram\n"));
        assert!(message.contains("xoauth2, oauthbearer"), "{message}");
    }

    #[test]
    fn a_command_timeout_of_zero_is_refused_with_its_key() {
        let text = format!(
            "stores:\n{LAPTOP}  far:\n    type: pop3\n    host: h\n    user: u\n    \
             password_command: pass x\n    command_timeout: 0\nchannels:\n  c:\n    far: far\n    \
             near: laptop\n"
        );
        let (_, key, message) = fail(&text);
        assert_eq!(key.as_deref(), Some("stores.far.command_timeout"));
        assert_eq!(message, "must be at least 1 (seconds)");
    }

    #[test]
    fn unknown_key_in_a_channel() {
        let text = format!(
            "stores:\n{LAPTOP}channels:\n  c:\n    far: laptop\n    near: laptop\n    expunged: both\n"
        );
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(9));
        assert_eq!(key.as_deref(), Some("channels.c.expunged"));
        assert!(
            message.starts_with("unknown key, expected one of far, near,"),
            "{message}"
        );
    }

    #[test]
    fn key_of_another_store_kind_is_refused() {
        let text = format!("stores:\n{LAPTOP}    host: imap.example.com\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(5));
        assert_eq!(key.as_deref(), Some("stores.laptop.host"));
        assert!(
            message.starts_with("host does not apply to a maildir store"),
            "{message}"
        );
    }

    const IMAP_WORK: &str = "stores:
  work:
    type: imap
    host: imap.example.com
    user: alice
";

    #[test]
    fn wrong_type_for_port() {
        let text = format!("{IMAP_WORK}    password: x\n    port: abc\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(7));
        assert_eq!(key.as_deref(), Some("stores.work.port"));
        assert_eq!(
            message,
            "invalid type: string \"abc\", expected a whole number from 0 to 65535"
        );
    }

    #[test]
    fn unknown_enum_value_matches_documented_wording() {
        let text = format!("{IMAP_WORK}    password: x\n    tls: ssl\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(7));
        assert_eq!(err.key.as_deref(), Some("stores.work.tls"));
        assert_eq!(
            err.to_string(),
            format!(
                "{FILE}:7: stores.work.tls: unknown value \"ssl\", expected one of implicit, starttls, none"
            )
        );
    }

    #[test]
    fn number_where_a_word_is_expected_lists_the_words() {
        let text = format!("{IMAP_WORK}    password: x\n    tls: 5\n");
        let (line, key, message) = fail(&text);
        assert_eq!((line, key.as_deref()), (Some(7), Some("stores.work.tls")));
        assert_eq!(
            message,
            "invalid type: integer 5, expected one of implicit, starttls, none"
        );
    }

    #[test]
    fn unknown_store_type() {
        let (line, key, message) = fail("stores:\n  x:\n    type: mbox\n");
        assert_eq!(line, Some(3));
        assert_eq!(key.as_deref(), Some("stores.x.type"));
        assert_eq!(
            message,
            "unknown value \"mbox\", expected one of imap, maildir, pop3"
        );
    }

    #[test]
    fn missing_store_type_points_at_the_store() {
        let (line, key, message) = fail("stores:\n  x:\n    path: /m\n");
        assert_eq!(line, Some(2));
        assert_eq!(key.as_deref(), Some("stores.x"));
        assert_eq!(message, "missing key type (imap, maildir or pop3)");
    }

    #[test]
    fn channel_naming_a_missing_store() {
        let text = format!("stores:\n{LAPTOP}channels:\n  c:\n    far: wrok\n    near: laptop\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(7));
        assert_eq!(key.as_deref(), Some("channels.c.far"));
        assert_eq!(message, "unknown store \"wrok\" (stores: laptop)");
    }

    #[test]
    fn pop3_may_be_far_but_not_near() {
        let pop = "  pop:\n    type: pop3\n    host: h\n    user: u\n    password_env: P\n";
        let far_ok =
            format!("stores:\n{LAPTOP}{pop}channels:\n  c:\n    far: pop\n    near: laptop\n");
        assert_eq!(parse(&far_ok).unwrap().channels["c"].far, "pop");

        let near =
            format!("stores:\n{LAPTOP}{pop}channels:\n  c:\n    far: laptop\n    near: pop\n");
        let (line, key, message) = fail(&near);
        assert_eq!(line, Some(13));
        assert_eq!(key.as_deref(), Some("channels.c.near"));
        assert!(message.contains("pop3 store"), "{message}");
    }

    #[test]
    fn pop3_auth_and_uidl_parse_and_imap_words_are_refused() {
        let pop =
            "stores:\n  pop:\n    type: pop3\n    host: h\n    user: u\n    password_env: P\n";
        let config = parse(&format!("{pop}    auth: apop\n    uidl: content-hash\n")).unwrap();
        let Some(StoreConfig::Pop3(store)) = config.store("pop") else {
            panic!("pop is not pop3");
        };
        assert_eq!(store.auth, Some(Pop3Auth::Apop));
        assert_eq!(store.uidl, Pop3Identity::ContentHash);

        let defaults = parse(pop).unwrap();
        let Some(StoreConfig::Pop3(store)) = defaults.store("pop") else {
            panic!("pop is not pop3");
        };
        assert_eq!((store.auth, store.uidl), (None, Pop3Identity::Server));

        let (line, key, message) = fail(&format!("{pop}    auth: login\n"));
        assert_eq!((line, key.as_deref()), (Some(7), Some("stores.pop.auth")));
        assert!(
            message.contains("user (USER/PASS), plain or apop"),
            "{message}"
        );
        let (_, _, message) = fail(&format!("{pop}    uidl: maybe\n"));
        assert!(message.contains("content-hash"), "{message}");
        let (_, key, _) = fail(&format!("{IMAP_WORK}    password: x\n    auth: apop\n"));
        assert_eq!(key.as_deref(), Some("stores.work.auth"));
        let (_, key, message) = fail(&format!("{IMAP_WORK}    password: x\n    uidl: server\n"));
        assert_eq!(key.as_deref(), Some("stores.work.uidl"));
        assert!(
            message.contains("does not apply to a imap store"),
            "{message}"
        );
    }

    #[test]
    fn two_password_sources_point_at_the_later_one() {
        let text = format!("{IMAP_WORK}    password_env: PW\n    password: x\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(7));
        assert_eq!(key.as_deref(), Some("stores.work.password"));
        assert_eq!(
            message,
            "give only one of password, password_command, password_env (found password and password_env)"
        );
    }

    #[test]
    fn no_password_source() {
        let (line, key, message) = fail(IMAP_WORK);
        assert_eq!(line, Some(2));
        assert_eq!(key.as_deref(), Some("stores.work"));
        assert!(message.starts_with("no password"), "{message}");
    }

    #[test]
    fn password_that_is_not_a_string_is_not_echoed() {
        let text = format!("{IMAP_WORK}    password: 12345678\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(6));
        assert_eq!(key.as_deref(), Some("stores.work.password"));
        assert!(!message.contains("12345678"), "{message}");
        assert!(message.contains("quotes"), "{message}");
    }

    #[test]
    fn bad_names_are_refused() {
        let (line, key, message) =
            fail("stores:\n  \"my store\":\n    type: maildir\n    path: /m\n");
        assert_eq!(line, Some(2));
        assert_eq!(key.as_deref(), Some("stores.my store"));
        assert!(
            message.starts_with("invalid store name \"my store\""),
            "{message}"
        );

        let text =
            format!("stores:\n{LAPTOP}channels:\n  \"a:b\":\n    far: laptop\n    near: laptop\n");
        let (line, _, message) = fail(&text);
        assert_eq!(line, Some(6));
        assert!(message.starts_with("invalid channel name"), "{message}");
    }

    const TWO_MAILDIRS_AND_A_CHANNEL: &str = "stores:
  laptop:
    type: maildir
    path: /m
  backup:
    type: maildir
    path: /b
channels:
  c:
    far: backup
    near: laptop
";

    #[test]
    fn group_naming_a_missing_channel() {
        let text = format!("{TWO_MAILDIRS_AND_A_CHANNEL}groups:\n  g:\n    - c\n    - d\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(15));
        assert_eq!(key.as_deref(), Some("groups.g[1]"));
        assert_eq!(message, "unknown channel \"d\" (channels: c)");
    }

    #[test]
    fn group_may_not_share_a_channel_name() {
        let text = format!("{TWO_MAILDIRS_AND_A_CHANNEL}groups:\n  c: [c]\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(13));
        assert_eq!(key.as_deref(), Some("groups.c"));
        assert!(message.contains("already a channel name"), "{message}");
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        let text = format!("{TWO_MAILDIRS_AND_A_CHANNEL}    max_delete_ratio: 1.5\n");
        let (line, key, _) = fail(&text);
        assert_eq!(
            (line, key.as_deref()),
            (Some(12), Some("channels.c.max_delete_ratio"))
        );

        let text = format!("{IMAP_WORK}    password: x\n    connections: 33\n");
        let (line, key, message) = fail(&text);
        assert_eq!(
            (line, key.as_deref()),
            (Some(7), Some("stores.work.connections"))
        );
        assert_eq!(message, "33 is out of range, expected 1 to 32");
    }

    #[test]
    fn unknown_sync_item_points_at_the_list() {
        let text = format!("{TWO_MAILDIRS_AND_A_CHANNEL}    sync: [new, flag]\n");
        let (line, key, message) = fail(&text);
        assert_eq!(line, Some(12));
        assert_eq!(key.as_deref(), Some("channels.c.sync[1]"));
        assert_eq!(
            message,
            "unknown value \"flag\", expected one of new, flags, delete"
        );
    }

    #[test]
    fn missing_stores_section() {
        let (line, key, message) = fail("channels: {}\n");
        assert_eq!((line, key), (None, None));
        assert_eq!(message, "missing key stores");
    }

    #[test]
    fn empty_file_says_what_is_expected() {
        let (_, _, message) = fail("# nothing yet\n");
        assert!(message.contains("stores"), "{message}");
    }

    #[test]
    fn yaml_syntax_error_names_its_line() {
        let (line, key, message) = fail("stores:\n  a:\n    type: maildir\n   path: [unclosed\n");
        assert_eq!(line, Some(4));
        assert_eq!(key, None);
        assert!(message.starts_with("invalid YAML: "), "{message}");
    }

    #[test]
    fn duplicate_key_is_named_with_its_mapping_line() {
        // serde_yaml reports the start of the mapping holding the repeated key.
        let (line, key, message) = fail("stores:\n  a:\n    type: maildir\n    type: imap\n");
        assert_eq!(line, Some(3));
        assert_eq!(key.as_deref(), Some("stores.a.type"));
        assert_eq!(message, "the key \"type\" is written twice in this mapping");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let text = format!("{IMAP_WORK}    password: \"correct horse battery\"\n");
        let config = parse(&text).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("correct horse"), "{debug}");
        assert!(debug.contains("<hidden>"), "{debug}");
        let Some(StoreConfig::Imap(work)) = config.store("work") else {
            panic!()
        };
        let PasswordSource::Plain(secret) = &work.password else {
            panic!()
        };
        assert_eq!(secret.expose(), "correct horse battery");
    }
}
