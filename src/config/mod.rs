//! The YAML configuration: stores, channels and groups, loaded with errors
//! that name the file, the line and the key.
//!
//! The types here are the validated result; parsing lives beside them:
//! [`parse`] turns YAML into these types, [`files`] finds and reads the file,
//! [`credentials`] fetches passwords, [`targets`] resolves command-line names.

mod credentials;
mod files;
pub(crate) mod key_path;
mod parse;
mod targets;
mod warnings;

pub use files::expand_tilde;
pub(crate) use parse::parse_size;
pub use targets::Target;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The whole configuration, validated: every channel names existing stores,
/// every group names existing channels.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    pub stores: BTreeMap<String, StoreConfig>,
    pub channels: BTreeMap<String, ChannelConfig>,
    pub groups: BTreeMap<String, Vec<String>>,
    /// Where sync state and locks live. Default: `$XDG_STATE_HOME/mailferry`,
    /// else `~/.local/state/mailferry`.
    pub state_dir: PathBuf,
    /// A shell command run once after every `sync` run (see `crate::hooks`).
    pub post_sync: Option<String>,
    /// How long a hook may run before it is stopped. Default 60.
    pub hook_timeout_secs: u64,
}

#[derive(Debug, Clone)]
pub enum StoreConfig {
    Imap(ImapConfig),
    Maildir(MaildirConfig),
    Pop3(Pop3Config),
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (ports 993, 995).
    Implicit,
    /// Plain connection upgraded with STARTTLS / STLS before login.
    Starttls,
    /// No encryption at all; only when the config says so.
    None,
}

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// IMAP LOGIN command.
    Login,
    /// SASL PLAIN via AUTHENTICATE.
    Plain,
    /// SASL XOAUTH2 (Gmail, Microsoft 365) with a token from
    /// `oauth2_token_command`.
    Xoauth2,
    /// SASL OAUTHBEARER (RFC 7628) with a token from `oauth2_token_command`.
    Oauthbearer,
}

impl AuthMethod {
    /// Whether the secret is an OAuth2 access token rather than a password.
    pub fn uses_oauth2(self) -> bool {
        matches!(self, AuthMethod::Xoauth2 | AuthMethod::Oauthbearer)
    }
}

/// The lowest TLS version accepted (`tls_min_version`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2, the default (older versions are never accepted).
    #[default]
    #[serde(rename = "1.2")]
    V1_2,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    V1_3,
}

/// A SHA-256 pin of the server's certificate (`tls_fingerprint`), written
/// `sha256:AB:CD:...` (32 bytes in hex; colons and case do not matter).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CertFingerprint(pub [u8; 32]);

impl CertFingerprint {
    /// Parses `sha256:` followed by 64 hex digits, colons allowed between them.
    pub fn parse(text: &str) -> Result<CertFingerprint, String> {
        let Some(hex) = text.trim().strip_prefix("sha256:") else {
            return Err(
                "expected sha256: followed by the certificate's SHA-256 in hex \
                        (openssl x509 -noout -fingerprint -sha256 prints it)"
                    .to_string(),
            );
        };
        let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
        if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!(
                "expected 64 hex digits after sha256: (32 bytes), found {:?}",
                hex
            ));
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|e| e.to_string())?;
        }
        Ok(CertFingerprint(bytes))
    }
}

impl fmt::Display for CertFingerprint {
    /// `sha256:AB:CD:...`, as `openssl x509 -fingerprint -sha256` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        write!(f, "sha256:{}", hex.join(":"))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where a password comes from. Never printed: see [`Secret`].
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Written in the config file.
    Plain(Secret),
    /// A command whose first line of output is the password.
    Command(String),
    /// An environment variable holding the password.
    Env(String),
    /// A command whose first line of output is an OAuth2 access token
    /// (`oauth2_token_command`, with `auth: xoauth2` or `oauthbearer`).
    TokenCommand(String),
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Plain(_) => f.write_str("Plain(<hidden>)"),
            PasswordSource::Command(c) => write!(f, "Command({c:?})"),
            PasswordSource::Env(v) => write!(f, "Env({v:?})"),
            PasswordSource::TokenCommand(c) => write!(f, "TokenCommand({c:?})"),
        }
    }
}

/// A password or token. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value itself: call only where it is sent to a server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    /// Resolved: 993 for implicit TLS, else 143, unless given.
    pub port: u16,
    pub tls: TlsMode,
    /// Extra trust roots (PEM files), added to the system roots.
    pub ca_file: Vec<PathBuf>,
    /// Accept exactly the certificate with this SHA-256 instead of
    /// verifying it against roots and the host name.
    pub tls_fingerprint: Option<CertFingerprint>,
    /// The lowest TLS version accepted. Default 1.2.
    pub tls_min_version: TlsVersion,
    /// The login name; empty when `user_command` gives it.
    pub user: String,
    /// A command whose first line of output is the login name (mbsync's
    /// `UserCmd`), run as `password_command` is.
    pub user_command: Option<String>,
    /// A command whose standard input and output carry the IMAP
    /// conversation (mbsync's `Tunnel`), instead of a TCP connection to
    /// `host`. No TLS; no login when the server greets with PREAUTH.
    pub tunnel: Option<String>,
    pub auth: AuthMethod,
    pub password: PasswordSource,
    /// Longest a password or token command may run, seconds. Default 60.
    pub command_timeout_secs: u64,
    /// Connect and read timeout, seconds. Default 60.
    pub timeout_secs: u64,
    /// Worker connections for parallel folders. Default 4.
    pub connections: usize,
    /// The personal namespace prefix in the server's spelling, e.g.
    /// `INBOX.` on Courier-style servers that keep every folder below the
    /// INBOX: added to folder names sent to the server and removed from
    /// names it lists. `None`: the server's NAMESPACE answer says (no
    /// prefix on a server without NAMESPACE); given, it overrides that.
    pub namespace: Option<String>,
}

impl ImapConfig {
    /// How long a password or token command may run.
    pub fn command_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.command_timeout_secs)
    }
}

/// How a Maildir store ends the lines of the message files it writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineEndings {
    /// LF, as mail delivery agents, mail readers, mbsync and OfflineIMAP
    /// write them (the server's CRLF is turned into LF).
    #[default]
    Lf,
    /// CRLF, as the server sends them (and as mailferry wrote them before
    /// `line_endings` existed).
    Crlf,
}

/// How folders nest on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `Work/Projects` is the directory `Work/Projects/` with cur/new/tmp.
    Verbatim,
    /// `Work/Projects` is `.Work.Projects/` at the root; INBOX is the root.
    #[serde(rename = "maildir++")]
    MaildirPlusPlus,
    /// `Work/Projects` is `Work.Projects/` at the root, without Maildir++'s
    /// leading dot (mbsync's `Flatten .`); INBOX is `INBOX/`.
    Flatten,
}

#[derive(Debug, Clone)]
pub struct MaildirConfig {
    /// `~` already expanded.
    pub path: PathBuf,
    pub layout: Layout,
    /// Where the INBOX lives when not where the layout puts it (mbsync's
    /// `Inbox`): inside the root, the root itself, or elsewhere.
    pub inbox: Option<PathBuf>,
    /// How the message files written end their lines. Default LF.
    pub line_endings: LineEndings,
}

#[derive(Debug, Clone)]
pub struct Pop3Config {
    pub host: String,
    /// Resolved: 995 for implicit TLS, else 110, unless given.
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Vec<PathBuf>,
    pub tls_fingerprint: Option<CertFingerprint>,
    pub tls_min_version: TlsVersion,
    pub user: String,
    pub password: PasswordSource,
    /// Longest a password command may run, seconds. Default 60.
    pub command_timeout_secs: u64,
    pub timeout_secs: u64,
    /// How to log in; None: the best the server offers (see `auth:`).
    pub auth: Option<Pop3Auth>,
    /// How messages are identified between runs. Default: the server's UIDL.
    pub uidl: Pop3Identity,
    /// Default true.
    pub leave_on_server: bool,
    pub delete_after_days: Option<u32>,
}

impl Pop3Config {
    /// How long a password command may run.
    pub fn command_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.command_timeout_secs)
    }
}

/// How a POP3 store logs in (`auth: user | plain | apop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pop3Auth {
    /// USER and PASS.
    User,
    /// SASL PLAIN through AUTH.
    Plain,
    /// APOP: the password never crosses the network, even without TLS.
    Apop,
}

/// How a POP3 store tells messages apart between runs (`uidl:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pop3Identity {
    /// The server's UIDL; a server without it is an error.
    Server,
    /// A SHA-256 of each message's content, for servers without UIDL:
    /// every message is downloaded on every run to compute it.
    ContentHash,
}

/// Which ways messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Both,
    /// Far to near only.
    Pull,
    /// Near to far only.
    Push,
}

/// Which sides something applies to (expunge, create, remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sides {
    Both,
    Far,
    Near,
    None,
}

impl Sides {
    pub fn far(self) -> bool {
        matches!(self, Sides::Both | Sides::Far)
    }
    pub fn near(self) -> bool {
        matches!(self, Sides::Both | Sides::Near)
    }
}

#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub name: String,
    /// Store names; validated to exist.
    pub far: String,
    pub near: String,
    /// Glob patterns, `!` excludes, later wins. Default `["*"]`. They apply
    /// to the near-side names (after `folder_map`).
    pub folders: Vec<String>,
    /// Far folder name -> near folder name, for folders named differently
    /// on the two sides (e.g. `[Gmail]/Sent Mail` -> `Sent`).
    pub folder_map: BTreeMap<String, String>,
    /// Default both.
    pub direction: Direction,
    /// Default all true (`sync: [new, flags, delete]`).
    pub sync_new: bool,
    pub sync_flags: bool,
    pub sync_delete: bool,
    /// Where messages flagged deleted are removed for good. Default both.
    pub expunge: Sides,
    /// Where missing folders may be created. Default both.
    pub create: Sides,
    /// Where folders deleted on the other side may be deleted. Default none.
    pub remove: Sides,
    /// Copy only the newest N messages of a folder (None: all).
    pub max_messages: Option<usize>,
    /// Do not copy messages larger than this many bytes (None: no limit).
    pub max_size: Option<u64>,
    /// Refuse plans deleting more than this share of a folder. Default 0.5.
    pub max_delete_ratio: f64,
    /// Folders `mailferry watch` keeps open in IDLE besides INBOX.
    pub watch: Vec<String>,
    /// How often `mailferry watch` runs a full sync anyway, in seconds.
    /// Default 900 (15 minutes).
    pub interval_secs: u64,
    /// How often `mailferry watch` syncs a watched folder on a server
    /// without IDLE, in seconds. Default 60.
    pub poll_secs: u64,
    /// A shell command run after each sync of the channel.
    pub post_sync: Option<String>,
    /// A shell command `watch` runs when a round brought new messages in.
    pub on_new_mail: Option<String>,
    /// Where messages removed from each side go instead of being deleted.
    pub trash: TrashConfig,
    /// The date window (`max_age`): only messages that arrived in the
    /// last this many days are synced.
    pub max_age_days: Option<u32>,
    /// The date window (`since`): only messages that arrived on or after
    /// this day are synced.
    pub since: Option<chrono::NaiveDate>,
    /// Local copies of messages outside the date window that the server
    /// still holds are deleted locally.
    pub prune_local: bool,
}

/// A channel's `trash:`: a folder per side into which a message about to
/// be removed from that side (deleted on the other side, or expunged) is
/// moved first, as mbsync's `Trash` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrashConfig {
    /// The far side's trash folder (its name on the far store).
    pub far: Option<String>,
    /// The near side's trash folder (its name on the near store).
    pub near: Option<String>,
    /// Only messages that were never synced go to the trash (mbsync's
    /// `TrashNewOnly`). Default false.
    pub new_only: bool,
    /// A message never synced that one side expunges is first uploaded
    /// into the other side's trash folder (mbsync's `TrashRemoteNew`).
    /// Default false.
    pub remote_new: bool,
}

impl Config {
    /// Finds, reads and validates the configuration. Search order: the
    /// explicit path, else `$MAILFERRY_CONFIG`, else
    /// `$XDG_CONFIG_HOME/mailferry/config.yaml`, else
    /// `$HOME/.config/mailferry/config.yaml`. Every error is a
    /// [`ConfigError`](crate::error::ConfigError) (downcast it to tell).
    pub fn load(explicit: Option<&std::path::Path>) -> anyhow::Result<Config> {
        Ok(files::load_with(explicit, &files::process_env)?)
    }

    /// Parses and validates configuration text; `path` is only used in
    /// messages and kept in [`Config::path`].
    pub fn from_yaml(
        text: &str,
        path: &std::path::Path,
    ) -> Result<Config, crate::error::ConfigError> {
        parse::parse_config(text, path, &files::process_env)
    }

    pub fn store(&self, name: &str) -> Option<&StoreConfig> {
        self.stores.get(name)
    }

    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.get(name)
    }
}

impl StoreConfig {
    /// `imap`, `maildir` or `pop3`, as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreConfig::Imap(_) => "imap",
            StoreConfig::Maildir(_) => "maildir",
            StoreConfig::Pop3(_) => "pop3",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit, exit_status, ConfigError};

    #[test]
    fn load_errors_are_config_errors_with_the_usage_exit_status() {
        let err = Config::load(Some(std::path::Path::new("/no/such/mailferry.yaml"))).unwrap_err();
        assert!(err.downcast_ref::<ConfigError>().is_some(), "{err:#}");
        assert_eq!(exit_status(&err), exit::USAGE);
    }
}
