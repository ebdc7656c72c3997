//! From an mbsync configuration to mailferry's YAML: what each mbsync keyword
//! becomes, and a `#` comment for every one that has no equivalent, saying
//! why, so that nothing is dropped silently.
//!
//! mbsync and mailferry differ in a few defaults, which are therefore always
//! written out: mbsync connects with STARTTLS unless told otherwise
//! (mailferry: implicit TLS), and creates, expunges and removes nothing
//! unless told (mailferry creates and expunges on both sides).

use super::mbsyncrc::{MbsyncRc, Section, SectionKind, Setting};
use crate::error::ConfigError;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

/// Choices of the person importing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Copy `Pass` values into the output. Off by default, so a password
    /// never reaches a terminal or a shell's scrollback unasked.
    pub copy_passwords: bool,
}

/// The YAML and how much of the input it could not express.
#[derive(Debug, Clone)]
pub struct Translation {
    pub yaml: String,
    /// Options written as comments because mailferry has no equivalent.
    pub untranslated: usize,
}

/// Translates a whole mbsync configuration.
pub fn translate(rc: &MbsyncRc, options: Options) -> Result<Translation, ConfigError> {
    Translator::new(rc, options)?.run()
}

// ---------------------------------------------------------------------------
// What is written out.

/// A comment in the output: either an option that could not be translated
/// (counted, and worth reading), or a remark on a translation.
#[derive(Debug, Clone)]
struct Note {
    text: String,
    untranslated: bool,
}

/// A store, channel or group as it will be written: keys with values already
/// in YAML syntax, and the notes that go with it.
#[derive(Debug, Clone, Default)]
struct Entry {
    name: String,
    keys: Vec<(&'static str, String)>,
    notes: Vec<Note>,
}

impl Entry {
    fn key(&mut self, key: &'static str, yaml_value: String) {
        self.keys.push((key, yaml_value));
    }

    fn remark(&mut self, text: impl Into<String>) {
        self.notes.push(Note {
            text: text.into(),
            untranslated: false,
        });
    }

    fn untranslated(&mut self, setting: &Setting, why: impl AsRef<str>) {
        self.notes.push(Note {
            text: format!(
                "line {}: {} not translated: {}",
                setting.line,
                setting.keyword,
                why.as_ref()
            ),
            untranslated: true,
        });
    }
}

/// What the channels need to know of a store.
#[derive(Debug, Clone)]
struct StoreFacts {
    /// The mailferry name.
    name: String,
    /// `MaxSize` of the store: (bytes, line).
    max_size: Option<(u64, usize)>,
}

// ---------------------------------------------------------------------------
// The translation.

struct Translator<'a> {
    rc: &'a MbsyncRc,
    options: Options,
    accounts: HashMap<&'a str, &'a Section>,
    /// mailferry names already given, per kind of thing.
    taken_store_names: BTreeSet<String>,
    taken_channel_names: BTreeSet<String>,
    header: Vec<Note>,
}

/// Keywords of an IMAPStore section that are the store's own; all others in
/// such a section describe the account (server, login).
const IMAP_STORE_ONLY: &[&str] = &[
    "Account",
    "Path",
    "UseNamespace",
    "PathDelimiter",
    "SubscribedOnly",
    "MaxSize",
    "MapInbox",
    "Flatten",
    "Trash",
    "TrashNewOnly",
    "TrashRemoteNew",
];

impl<'a> Translator<'a> {
    fn new(rc: &'a MbsyncRc, options: Options) -> Result<Translator<'a>, ConfigError> {
        let mut translator = Translator {
            rc,
            options,
            accounts: HashMap::new(),
            taken_store_names: BTreeSet::new(),
            taken_channel_names: BTreeSet::new(),
            header: Vec::new(),
        };
        for section in &rc.sections {
            if section.kind == SectionKind::ImapAccount
                && translator
                    .accounts
                    .insert(section.name.as_str(), section)
                    .is_some()
            {
                return Err(translator.error(
                    section.line,
                    format!("IMAPAccount {:?} is defined twice", section.name),
                ));
            }
        }
        Ok(translator)
    }

    fn error(&self, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.rc.file.clone(),
            line: Some(line),
            key: None,
            message: message.into(),
        }
    }

    fn run(mut self) -> Result<Translation, ConfigError> {
        let rc = self.rc;
        self.global_notes();

        let mut stores = Vec::new();
        let mut facts: HashMap<&str, StoreFacts> = HashMap::new();
        let mut used_accounts = BTreeSet::new();
        for section in &rc.sections {
            let (entry, max_size) = match section.kind {
                SectionKind::ImapStore => {
                    if let Some(account) = section.settings.iter().find(|s| s.is("Account")) {
                        used_accounts.insert(account.value().to_owned());
                    }
                    self.imap_store(section)?
                }
                SectionKind::MaildirStore => self.maildir_store(section)?,
                _ => continue,
            };
            if facts.contains_key(section.name.as_str()) {
                return Err(self.error(
                    section.line,
                    format!("store {:?} is defined twice", section.name),
                ));
            }
            facts.insert(
                section.name.as_str(),
                StoreFacts {
                    name: entry.name.clone(),
                    max_size,
                },
            );
            stores.push(entry);
        }
        for section in &rc.sections {
            if section.kind == SectionKind::ImapAccount && !used_accounts.contains(&section.name) {
                self.header.push(Note {
                    text: format!(
                        "line {}: IMAPAccount {} is used by no IMAPStore, so it was not translated \
                         (mailferry has no accounts apart from stores)",
                        section.line, section.name
                    ),
                    untranslated: true,
                });
            }
        }

        let mut channels: Vec<Entry> = Vec::new();
        let mut channel_names: HashMap<&str, String> = HashMap::new();
        // mbsync name -> (index in `channels`, line of the kept definition).
        let mut kept: HashMap<&str, (usize, usize)> = HashMap::new();
        for section in rc
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::Channel)
        {
            if let Some(&(index, first_line)) = kept.get(section.name.as_str()) {
                channels[index].notes.push(Note {
                    text: repeated_channel_note(section, first_line),
                    untranslated: true,
                });
                continue;
            }
            let entry = self.channel(section, &facts)?;
            channel_names.insert(section.name.as_str(), entry.name.clone());
            kept.insert(section.name.as_str(), (channels.len(), section.line));
            channels.push(entry);
        }

        let mut groups = Vec::new();
        let mut group_names = BTreeSet::new();
        for section in rc.sections.iter().filter(|s| s.kind == SectionKind::Group) {
            if let Some(entry) = self.group(section, &channel_names, &mut group_names) {
                groups.push(entry);
            }
        }

        Ok(self.render(&stores, &channels, &groups))
    }

    /// Global options that are not channel defaults.
    fn global_notes(&mut self) {
        for setting in &self.rc.globals {
            let why = if setting.is("FSync") {
                "mailferry always fsyncs state and messages"
            } else if setting.is("FieldDelimiter") {
                "mailferry names its state files itself; Maildir file names use ':' as the standard says"
            } else if setting.is("BufferLimit") {
                "mailferry bounds memory by fetching in batches"
            } else if setting.is("SyncState") {
                "mailferry keeps its own state in state_dir ($XDG_STATE_HOME/mailferry); to reuse mbsync's state, run `mailferry adopt CHANNEL --from-mbsync DIR` once before the first sync"
            } else {
                // A channel default: applied to every channel below.
                continue;
            };
            self.header.push(Note {
                text: format!(
                    "line {}: {} not translated: {why}",
                    setting.line, setting.keyword
                ),
                untranslated: true,
            });
        }
    }

    /// A mailferry name for an mbsync name, free in `taken`: mailferry
    /// names may not hold ':', '/' or blanks (they separate CHANNEL:FOLDER
    /// on the command line and name state files). `suffix` is added first
    /// when the plain name would clash with something of another kind.
    fn unique_name(
        taken: &mut BTreeSet<String>,
        mbsync_name: &str,
        clashes_with_other_kind: impl Fn(&str) -> bool,
        entry: &mut Entry,
    ) -> String {
        let mut base: String = mbsync_name
            .chars()
            .map(|c| {
                if c == ':' || c == '/' || c.is_whitespace() {
                    '-'
                } else {
                    c
                }
            })
            .collect();
        if base.is_empty() {
            base = "unnamed".to_owned();
        }
        if clashes_with_other_kind(&base) {
            base.push_str("-group");
        }
        let mut name = base.clone();
        let mut counter = 2;
        while taken.contains(&name) {
            name = format!("{base}-{counter}");
            counter += 1;
        }
        if name != mbsync_name {
            entry.remark(format!(
                "named {name} here: mbsync's name {mbsync_name:?} is not a valid mailferry name, or is taken"
            ));
        }
        taken.insert(name.clone());
        name
    }

    // -----------------------------------------------------------------------
    // IMAP stores.

    fn imap_store(
        &mut self,
        section: &Section,
    ) -> Result<(Entry, Option<(u64, usize)>), ConfigError> {
        let mut entry = Entry::default();
        entry.name = Self::unique_name(
            &mut self.taken_store_names,
            &section.name,
            |_| false,
            &mut entry,
        );

        // The account's settings, then the store's own.
        let mut settings: Vec<&Setting> = Vec::new();
        if let Some(account) = section.settings.iter().find(|s| s.is("Account")) {
            let Some(account_section) = self.accounts.get(account.value()) else {
                return Err(self.error(
                    account.line,
                    format!("unknown IMAPAccount {:?}", account.value()),
                ));
            };
            if let Some(own) = section
                .settings
                .iter()
                .find(|s| !IMAP_STORE_ONLY.iter().any(|word| s.is(word)))
            {
                return Err(self.error(
                    own.line,
                    format!(
                        "{} is an account option, but this IMAPStore also names Account {}; \
                         put it in the IMAPAccount section",
                        own.keyword,
                        account.value()
                    ),
                ));
            }
            settings.extend(&account_section.settings);
        }
        settings.extend(&section.settings);

        let mut server = ImapServer::default();
        let mut max_size = None;
        for setting in settings {
            self.imap_setting(setting, &mut server, &mut entry, &mut max_size)?;
        }
        self.write_imap(section, server, &mut entry)?;
        Ok((entry, max_size))
    }

    fn imap_setting(
        &self,
        setting: &Setting,
        server: &mut ImapServer,
        entry: &mut Entry,
        max_size: &mut Option<(u64, usize)>,
    ) -> Result<(), ConfigError> {
        let value = setting.value();
        let keyword = setting.keyword.to_ascii_lowercase();
        match keyword.as_str() {
            "account" => {}
            "host" => {
                // Old mbsync took URLs: imaps://host.
                let mut host = value;
                if let Some(rest) = host.strip_prefix("imaps:") {
                    host = rest;
                    server.tls.get_or_insert(("implicit", setting.line));
                } else if let Some(rest) = host.strip_prefix("imap:") {
                    host = rest;
                }
                server.host = Some(host.trim_start_matches("//").to_owned());
            }
            "port" => match value.parse::<u16>() {
                Ok(port) if port > 0 => server.port = Some(port),
                _ => return Err(self.error(setting.line, format!("invalid port {value:?}"))),
            },
            "timeout" => match value.parse::<u64>() {
                Ok(0) => entry.untranslated(
                    setting,
                    "0 (no timeout) is not possible in mailferry; its default of 60 seconds applies",
                ),
                Ok(seconds) => server.timeout = Some(seconds),
                Err(_) => return Err(self.error(setting.line, format!("invalid number {value:?}"))),
            },
            "user" => server.user = Some(value.to_owned()),
            "usercmd" => server.user_cmd = Some(value.to_owned()),
            "pass" => server.pass = Some((value.to_owned(), setting.line)),
            "passcmd" => server.pass_cmd = Some((value.to_owned(), setting.line)),
            "usekeychain" => {
                if parse_bool(value).ok_or_else(|| self.bool_error(setting))? {
                    server.keychain = true;
                    entry.untranslated(
                        setting,
                        "mailferry does not read the macOS Keychain; use password_command with `security find-internet-password -w ...`",
                    );
                }
            }
            "tunnel" => server.tunnel = Some(value.to_owned()),
            // The old spelling of SSLType IMAPS (mbsync before 1.2).
            "useimaps" => {
                if parse_bool(value).ok_or_else(|| self.bool_error(setting))? {
                    server.tls = Some(("implicit", setting.line));
                }
            }
            "authmech" | "authmechs" => server.auth_mechs.extend(setting.args.iter().cloned()),
            "requirecram" => entry.untranslated(setting, "CRAM-MD5 is not supported"),
            "ssltype" | "tlstype" => {
                let mode = match value.to_ascii_lowercase().as_str() {
                    "imaps" => "implicit",
                    "starttls" => "starttls",
                    "none" => "none",
                    _ => {
                        return Err(self.error(
                            setting.line,
                            format!("invalid {} {value:?} (IMAPS, STARTTLS or None)", setting.keyword),
                        ))
                    }
                };
                server.tls = Some((mode, setting.line));
            }
            "sslversion" | "sslversions" | "tlsversions" => entry.untranslated(
                setting,
                "mailferry negotiates the TLS versions its TLS library allows (TLS 1.2 and newer on current systems)",
            ),
            "certificatefile" => server.ca_files.push(value.to_owned()),
            "systemcertificates" => {
                if !parse_bool(value).ok_or_else(|| self.bool_error(setting))? {
                    entry.untranslated(
                        setting,
                        "mailferry always trusts the system's certificate authorities as well as ca_file",
                    );
                }
            }
            "clientcertificate" | "clientkey" => {
                entry.untranslated(setting, "client certificates are not supported")
            }
            "cipherstring" => entry.untranslated(setting, "mailferry uses the system's TLS cipher settings"),
            "pipelinedepth" => entry.untranslated(
                setting,
                "mailferry pipelines by itself (fetches in batches, commands sent ahead); `connections` sets how many folders run at once",
            ),
            "disableextension" | "disableextensions" => entry.untranslated(
                setting,
                "extensions cannot be switched off; mailferry falls back by itself when a server lacks one",
            ),
            // The prefix mbsync put before every mailbox name on the server,
            // in the server's spelling: mailferry's namespace.
            "path" => server.namespace = Some(value.to_owned()),
            "usenamespace" => entry.untranslated(
                setting,
                "mailferry does not ask the server for its NAMESPACE; write the prefix (e.g. INBOX.) in namespace if there is one",
            ),
            "pathdelimiter" => entry.untranslated(
                setting,
                "mailferry takes the server's hierarchy delimiter from LIST and shows levels with '/'",
            ),
            "subscribedonly" => {
                if parse_bool(value).ok_or_else(|| self.bool_error(setting))? {
                    entry.untranslated(
                        setting,
                        "mailferry syncs the folders its patterns select, subscribed or not; list the folders in the channel's `folders` instead",
                    );
                }
            }
            _ => self.generic_store_setting(setting, entry, max_size)?,
        }
        Ok(())
    }

    /// Options that every kind of mbsync store takes.
    fn generic_store_setting(
        &self,
        setting: &Setting,
        entry: &mut Entry,
        max_size: &mut Option<(u64, usize)>,
    ) -> Result<(), ConfigError> {
        let keyword = setting.keyword.to_ascii_lowercase();
        match keyword.as_str() {
            "maxsize" => {
                let bytes = parse_mbsync_size(setting.value())
                    .ok_or_else(|| self.error(setting.line, format!("invalid size {:?}", setting.value())))?;
                // 0 means no limit.
                *max_size = (bytes > 0).then_some((bytes, setting.line));
            }
            "trash" | "trashnewonly" | "trashremotenew" => entry.untranslated(
                setting,
                "mailferry has no trash of its own; a server that moves deleted mail to Trash keeps doing so",
            ),
            "mapinbox" => entry.untranslated(setting, "INBOX cannot be given a second name"),
            "flatten" => entry.untranslated(
                setting,
                "only Flatten . (layout: flatten, for Maildir stores) is supported",
            ),
            _ => entry.untranslated(setting, "mailferry does not know this keyword"),
        }
        Ok(())
    }

    fn bool_error(&self, setting: &Setting) -> ConfigError {
        self.error(
            setting.line,
            format!(
                "invalid boolean {:?} for {} (yes or no)",
                setting.value(),
                setting.keyword
            ),
        )
    }

    /// Writes the keys of an IMAP store from what its settings said.
    fn write_imap(
        &self,
        section: &Section,
        server: ImapServer,
        entry: &mut Entry,
    ) -> Result<(), ConfigError> {
        entry.key("type", "imap".to_owned());
        if let Some(command) = &server.tunnel {
            entry.key("tunnel", scalar(command));
        }
        match &server.host {
            Some(host) if server.tunnel.is_none() => entry.key("host", scalar(host)),
            Some(_) => entry.remark("Host is not written: the tunnel command reaches the server"),
            None if server.tunnel.is_some() => {}
            None => {
                entry.key("host", "REPLACE-ME".to_owned());
                entry.remark(format!(
                    "{} {} has no Host: write the server's name in host",
                    section.kind.keyword(),
                    section.name
                ));
            }
        }
        if let Some(port) = server.port.filter(|_| server.tunnel.is_none()) {
            entry.key("port", port.to_string());
        }
        let tls = match server.tls {
            Some(_) if server.tunnel.is_some() => "none",
            Some((mode, _)) => mode,
            None if server.tunnel.is_some() => "none",
            None => {
                entry.remark("tls: starttls is mbsync's default when SSLType/TLSType is not given");
                "starttls"
            }
        };
        entry.key("tls", tls.to_owned());
        match server.ca_files.as_slice() {
            [] => {}
            [one] => entry.key("ca_file", scalar(one)),
            many => entry.key("ca_file", flow_list(many)),
        }
        match (&server.user, &server.user_cmd) {
            (_, Some(command)) => entry.key("user_command", scalar(command)),
            (Some(user), None) => entry.key("user", scalar(user)),
            // A tunnel to a preauthenticating server needs no login.
            (None, None) if server.tunnel.is_some() => {}
            (None, None) => {
                entry.key("user", "REPLACE-ME".to_owned());
                entry.remark(
                    "no User was given (mbsync would have asked): write the login name in user",
                );
            }
        }

        let auth = self.auth(&server, entry);
        if let Some(auth) = auth {
            entry.key("auth", auth.to_owned());
        }
        let oauth = matches!(auth, Some("xoauth2" | "oauthbearer"));
        let env_name = format!(
            "MAILFERRY_PASSWORD_{}",
            entry
                .name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                })
                .collect::<String>()
        );
        match (&server.pass, &server.pass_cmd) {
            (Some(_), Some((_, line))) => {
                return Err(self.error(
                    *line,
                    format!(
                        "{} {} has both Pass and PassCmd",
                        section.kind.keyword(),
                        section.name
                    ),
                ))
            }
            (None, Some((command, line))) => {
                // mbsync runs PassCmd with the shell; a leading + only said
                // that the command talks to the terminal (a prompt).
                let command = match command.strip_prefix('+') {
                    Some(rest) => {
                        entry.remark(format!(
                            "line {line}: PassCmd began with + (the command prompts on the terminal); under cron there is no terminal, so make sure it runs unattended"
                        ));
                        rest
                    }
                    None => command.as_str(),
                };
                let key = if oauth {
                    "oauth2_token_command"
                } else {
                    "password_command"
                };
                entry.key(key, scalar(command));
            }
            (Some((password, _)), None) if self.options.copy_passwords && !oauth => {
                entry.key("password", double_quoted(password));
                entry.remark("the password is written here in plain text: keep this file private (chmod 600)");
            }
            (Some(_), None) => {
                entry.key("password_env", env_name.clone());
                entry.remark(format!(
                    "mbsync had the password in the file (Pass); it was not copied here. Set {env_name}, or replace password_env with password_command (e.g. `pass show mail/{}`), or rerun with --copy-passwords",
                    entry.name
                ));
            }
            (None, None) if oauth => {
                entry.key("oauth2_token_command", "REPLACE-ME".to_owned());
                entry.remark(
                    "write the command that prints an access token in oauth2_token_command",
                );
            }
            // Through a tunnel the server usually greets with PREAUTH.
            (None, None) if server.tunnel.is_some() => {}
            (None, None) => {
                entry.key("password_env", env_name.clone());
                entry.remark(format!(
                    "no Pass or PassCmd (mbsync would have asked): mailferry never asks, so set {env_name} or use password_command"
                ));
            }
        }
        if let Some(seconds) = server.timeout {
            entry.key("timeout", seconds.to_string());
        }
        if let Some(namespace) = &server.namespace {
            entry.key("namespace", scalar(namespace));
        }
        Ok(())
    }

    /// The `auth:` value for mbsync's AuthMechs, if it says more than "*".
    fn auth(&self, server: &ImapServer, entry: &mut Entry) -> Option<&'static str> {
        let mechs: Vec<String> = server
            .auth_mechs
            .iter()
            .map(|mech| mech.to_ascii_uppercase())
            .collect();
        if mechs.is_empty() || mechs.iter().any(|mech| mech == "*") {
            return None;
        }
        // mbsync picks the most secure mechanism both sides have; these are
        // the ones mailferry has, best first.
        let known = [
            ("XOAUTH2", "xoauth2"),
            ("OAUTHBEARER", "oauthbearer"),
            ("PLAIN", "plain"),
            ("LOGIN", "login"),
        ];
        let dropped: Vec<&str> = mechs
            .iter()
            .filter(|mech| !known.iter().any(|(name, _)| name == mech))
            .map(String::as_str)
            .collect();
        let chosen = known
            .iter()
            .find(|(name, _)| mechs.iter().any(|mech| mech == name))
            .map(|(_, auth)| *auth);
        if !dropped.is_empty() {
            entry.remark(format!(
                "AuthMechs {} not supported by mailferry (it has login, plain, xoauth2, oauthbearer){}",
                dropped.join(" "),
                if chosen.is_none() { "; the default, login, is used" } else { "" }
            ));
            if let Some(note) = entry.notes.last_mut() {
                note.untranslated = true;
            }
        }
        chosen
    }

    // -----------------------------------------------------------------------
    // Maildir stores.

    fn maildir_store(
        &mut self,
        section: &Section,
    ) -> Result<(Entry, Option<(u64, usize)>), ConfigError> {
        let mut entry = Entry::default();
        entry.name = Self::unique_name(
            &mut self.taken_store_names,
            &section.name,
            |_| false,
            &mut entry,
        );
        let mut path: Option<&Setting> = None;
        let mut inbox: Option<&Setting> = None;
        let mut subfolders: Option<(&str, usize)> = None;
        let mut flatten = false;
        let mut max_size = None;
        for setting in &section.settings {
            let keyword = setting.keyword.to_ascii_lowercase();
            match keyword.as_str() {
                "path" => path = Some(setting),
                "inbox" => inbox = Some(setting),
                "subfolders" => {
                    let style = match setting.value().to_ascii_lowercase().as_str() {
                        "verbatim" => "verbatim",
                        "maildir++" => "maildir++",
                        "legacy" => "legacy",
                        other => {
                            return Err(self.error(
                                setting.line,
                                format!("invalid SubFolders {other:?} (Verbatim, Maildir++ or Legacy)"),
                            ))
                        }
                    };
                    subfolders = Some((style, setting.line));
                }
                "altmap" => entry.untranslated(
                    setting,
                    "mailferry pairs messages by the unique part of their file names and needs no UID map",
                ),
                "flatten" if setting.value() == "." => flatten = true,
                "infodelimiter" if setting.value() == ":" => {}
                "infodelimiter" => entry.untranslated(
                    setting,
                    "mailferry writes ':' between a message's name and its flags, as Maildir says",
                ),
                _ => self.generic_store_setting(setting, &mut entry, &mut max_size)?,
            }
        }

        entry.key("type", "maildir".to_owned());
        let inbox_path = inbox.map(|s| s.value()).unwrap_or("~/Maildir");
        match subfolders {
            Some(("maildir++", _)) => {
                // mbsync puts every folder under Inbox as .Name, as we do.
                entry.key("path", scalar(trim_slash(inbox_path)));
                entry.key("layout", "maildir++".to_owned());
                if let Some(path) = path {
                    entry.untranslated(
                        path,
                        "mbsync ignores Path with SubFolders Maildir++ (the folders live in Inbox)",
                    );
                }
            }
            style => {
                if let Some(("legacy", line)) = style {
                    entry.remark(format!(
                        "line {line}: SubFolders Legacy kept subfolders as Top/.Sub; mailferry's verbatim layout uses Top/Sub, so move those directories (or they are downloaded again)"
                    ));
                    if let Some(note) = entry.notes.last_mut() {
                        note.untranslated = true;
                    }
                }
                let root = match path {
                    Some(path) => {
                        if !path.value().ends_with('/') {
                            entry.remark(format!(
                                "mbsync used Path {:?} as a prefix (no trailing /), so its folders were {}Name; mailferry takes it as the directory holding the folders",
                                path.value(),
                                path.value()
                            ));
                        }
                        trim_slash(path.value()).to_owned()
                    }
                    None => {
                        entry.remark(format!(
                            "no Path: the Maildir root is taken to be the Inbox directory {inbox_path}"
                        ));
                        trim_slash(inbox_path).to_owned()
                    }
                };
                if !root.starts_with('/') && !root.starts_with('~') {
                    entry.remark(format!(
                        "{root} is a relative path: mailferry takes it from the directory it runs in; write it from / or ~"
                    ));
                }
                entry.key("path", scalar(&root));
                entry.key(
                    "layout",
                    if flatten { "flatten" } else { "verbatim" }.to_owned(),
                );
                // The INBOX stays where mbsync kept it: nothing is moved.
                if trim_slash(inbox_path) != format!("{root}/INBOX") {
                    entry.key("inbox", scalar(trim_slash(inbox_path)));
                }
            }
        }
        Ok((entry, max_size))
    }

    // -----------------------------------------------------------------------
    // Channels.

    /// The channel's own setting for a keyword, else the global one.
    fn channel_option<'s>(&'s self, section: &'s Section, keyword: &str) -> Option<&'s Setting> {
        section
            .settings
            .iter()
            .rev()
            .find(|s| s.is(keyword))
            .or_else(|| self.rc.globals.iter().rev().find(|s| s.is(keyword)))
    }

    fn channel(
        &mut self,
        section: &Section,
        stores: &HashMap<&str, StoreFacts>,
    ) -> Result<Entry, ConfigError> {
        let mut entry = Entry::default();
        entry.name = Self::unique_name(
            &mut self.taken_channel_names,
            &section.name,
            |_| false,
            &mut entry,
        );

        let mut far = None;
        let mut near = None;
        let mut patterns: Vec<String> = Vec::new();
        for setting in &section.settings {
            let keyword = setting.keyword.to_ascii_lowercase();
            match keyword.as_str() {
                "far" | "master" => far = Some(self.store_ref(setting, stores)?),
                "near" | "slave" => near = Some(self.store_ref(setting, stores)?),
                "pattern" | "patterns" => patterns.extend(setting.args.iter().cloned()),
                "sync" | "create" | "remove" | "expunge" | "maxmessages" | "maxsize"
                | "expireunread" | "copyarrivaldate" | "syncstate" => {}
                _ => entry.untranslated(setting, "mailferry does not know this keyword"),
            }
        }
        let missing = |side: &str| {
            self.error(
                section.line,
                format!(
                    "channel {:?} has no {side} store (Far/Master or Near/Slave)",
                    section.name
                ),
            )
        };
        let (far_store, far_box) = far.ok_or_else(|| missing("far"))?;
        let (near_store, near_box) = near.ok_or_else(|| missing("near"))?;
        entry.key("far", scalar(&far_store.name));
        entry.key("near", scalar(&near_store.name));

        // Folders.
        if patterns.is_empty() {
            let far_box = far_box.unwrap_or_else(|| "INBOX".to_owned());
            let near_box = near_box.unwrap_or_else(|| "INBOX".to_owned());
            if far_box != near_box {
                // Patterns select near-side names, after the map.
                entry.key(
                    "folder_map",
                    format!(
                        "{{{}: {}}}",
                        double_quoted(&far_box),
                        double_quoted(&near_box)
                    ),
                );
            }
            entry.key("folders", flow_list(&[near_box]));
        } else {
            if far_box.is_some() || near_box.is_some() {
                entry.remark(format!(
                    "mbsync put the folder prefixes {:?} (far) and {:?} (near) before every name; mailferry has no prefixes, so folder names are the same on both sides",
                    far_box.unwrap_or_default(),
                    near_box.unwrap_or_default()
                ));
                if let Some(note) = entry.notes.last_mut() {
                    note.untranslated = true;
                }
            }
            if patterns != ["*"] {
                entry.key("folders", flow_list(&patterns));
            }
        }

        self.sync_options(section, &mut entry)?;
        for (keyword, key, default) in [
            ("Create", "create", "none"),
            ("Expunge", "expunge", "none"),
            ("Remove", "remove", "none"),
        ] {
            let sides = match self.channel_option(section, keyword) {
                Some(setting) => self.sides(setting)?,
                // mbsync's default; mailferry's differs for create and expunge.
                None => default,
            };
            if key != "remove" || sides != "none" {
                entry.key(key, sides.to_owned());
            }
        }

        if let Some(setting) = self.channel_option(section, "MaxMessages") {
            let count: usize = setting.value().parse().map_err(|_| {
                self.error(
                    setting.line,
                    format!("invalid number {:?}", setting.value()),
                )
            })?;
            if count > 0 {
                entry.key("max_messages", count.to_string());
                entry.remark(format!(
                    "line {}: MaxMessages: mbsync deleted older near-side messages beyond the limit (sparing flagged and unread ones); mailferry's max_messages copies only the newest and deletes nothing for it",
                    setting.line
                ));
            }
        }
        if let Some(setting) = self.channel_option(section, "ExpireUnread") {
            entry.untranslated(setting, "mailferry's max_messages never deletes messages");
        }
        let max_size = match self.channel_option(section, "MaxSize") {
            Some(setting) => {
                let bytes = parse_mbsync_size(setting.value()).ok_or_else(|| {
                    self.error(setting.line, format!("invalid size {:?}", setting.value()))
                })?;
                (bytes > 0).then_some((bytes, setting.line))
            }
            None => near_store.max_size.or(far_store.max_size),
        };
        if let Some((bytes, line)) = max_size {
            entry.key("max_size", size_text(bytes));
            entry.remark(format!(
                "line {line}: MaxSize: mbsync copied a small placeholder for a larger message (the whole of it once flagged); mailferry's max_size skips it and says so"
            ));
        }
        if let Some(setting) = self.channel_option(section, "CopyArrivalDate") {
            if !parse_bool(setting.value()).ok_or_else(|| self.bool_error(setting))? {
                entry.untranslated(setting, "mailferry always keeps a message's arrival date");
            }
        }
        if let Some(setting) = self.channel_option(section, "SyncState") {
            if section.settings.iter().any(|s| std::ptr::eq(s, setting)) {
                entry.untranslated(
                    setting,
                    "mailferry keeps its own state in state_dir; its first sync pairs the messages both sides already hold, so nothing is copied twice",
                );
            }
        }
        Ok(entry)
    }

    /// `:store:box` of a Far/Near line: the store and the box, if any.
    fn store_ref(
        &self,
        setting: &Setting,
        stores: &HashMap<&str, StoreFacts>,
    ) -> Result<(StoreFacts, Option<String>), ConfigError> {
        let spec = setting.value();
        let Some((store, mailbox)) = spec.strip_prefix(':').and_then(|rest| rest.split_once(':'))
        else {
            return Err(self.error(
                setting.line,
                format!(
                    "malformed {} {spec:?}: expected :store: or :store:mailbox",
                    setting.keyword
                ),
            ));
        };
        let facts = stores
            .get(store)
            .ok_or_else(|| self.error(setting.line, format!("unknown store {store:?}")))?;
        Ok((
            facts.clone(),
            (!mailbox.is_empty()).then(|| mailbox.to_owned()),
        ))
    }

    /// Create/Remove/Expunge arguments to a `Sides` word.
    fn sides(&self, setting: &Setting) -> Result<&'static str, ConfigError> {
        let (mut far, mut near, mut none) = (false, false, false);
        for arg in &setting.args {
            match arg.to_ascii_lowercase().as_str() {
                "both" => (far, near) = (true, true),
                "far" | "master" => far = true,
                "near" | "slave" => near = true,
                "none" => none = true,
                _ => {
                    return Err(self.error(
                        setting.line,
                        format!(
                            "invalid {} argument {arg:?} (None, Far, Near or Both)",
                            setting.keyword
                        ),
                    ))
                }
            }
        }
        if none && (far || near) {
            return Err(self.error(
                setting.line,
                format!("conflicting {} arguments", setting.keyword),
            ));
        }
        Ok(match (far, near) {
            (true, true) => "both",
            (true, false) => "far",
            (false, true) => "near",
            (false, false) => "none",
        })
    }

    /// `Sync` to mailferry's `direction` and `sync`.
    fn sync_options(&self, section: &Section, entry: &mut Entry) -> Result<(), ConfigError> {
        let Some(setting) = self.channel_option(section, "Sync") else {
            return Ok(()); // mbsync's default, All, is ours too.
        };
        let ops =
            SyncOps::parse(&setting.args).map_err(|message| self.error(setting.line, message))?;
        if ops.renew_named {
            entry.untranslated(
                setting,
                "ReNew upgrades MaxSize placeholders, which mailferry does not make",
            );
        }
        let pull = ops.pull & !RENEW;
        let push = ops.push & !RENEW;
        let (direction, kinds) = match (pull, push) {
            (0, 0) => ("both", 0),
            (pull, 0) => ("pull", pull),
            (0, push) => ("push", push),
            (pull, push) if pull == push => ("both", pull),
            (pull, push) => {
                entry.untranslated(
                    setting,
                    format!(
                        "mbsync propagated {} from far to near and {} from near to far; mailferry applies one list both ways, so only what both had is kept",
                        kind_words(pull),
                        kind_words(push)
                    ),
                );
                ("both", pull & push)
            }
        };
        if direction != "both" {
            entry.key("direction", direction.to_owned());
        }
        if kinds != NEW | DELETE | FLAGS {
            let words: Vec<String> = [(NEW, "new"), (FLAGS, "flags"), (DELETE, "delete")]
                .into_iter()
                .filter(|(bit, _)| kinds & bit != 0)
                .map(|(_, word)| word.to_owned())
                .collect();
            entry.key("sync", format!("[{}]", words.join(", ")));
            if kinds == 0 {
                entry.remark("Sync None: nothing is copied, only expunged");
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Groups.

    fn group(
        &mut self,
        section: &Section,
        channels: &HashMap<&str, String>,
        taken: &mut BTreeSet<String>,
    ) -> Option<Entry> {
        let mut entry = Entry::default();
        // A group may not share a channel's name in mailferry.
        let channel_names: BTreeSet<&String> = channels.values().collect();
        entry.name = Self::unique_name(
            taken,
            &section.name,
            |name| channel_names.contains(&name.to_owned()),
            &mut entry,
        );
        let mut members = Vec::new();
        let mut references: Vec<(String, usize)> = section
            .extra_args
            .iter()
            .map(|arg| (arg.clone(), section.line))
            .collect();
        for setting in &section.settings {
            references.extend(setting.args.iter().map(|arg| (arg.clone(), setting.line)));
        }
        for (reference, line) in references {
            let (channel, boxes) = match reference.split_once(':') {
                Some((channel, boxes)) => (channel.to_owned(), Some(boxes.to_owned())),
                None => (reference.clone(), None),
            };
            if let Some(boxes) = boxes {
                entry.remark(format!(
                    "line {line}: {reference}: a group cannot narrow a channel to folders ({boxes}); the whole channel is in the group (use `mailferry sync {channel}:FOLDER` for one folder)"
                ));
                if let Some(note) = entry.notes.last_mut() {
                    note.untranslated = true;
                }
            }
            match channels.get(channel.as_str()) {
                Some(name) if !members.contains(name) => members.push(name.clone()),
                Some(_) => {}
                None => {
                    entry.remark(format!("line {line}: unknown channel {channel:?} left out"));
                    if let Some(note) = entry.notes.last_mut() {
                        note.untranslated = true;
                    }
                }
            }
        }
        if members.is_empty() {
            self.header.push(Note {
                text: format!(
                    "line {}: Group {} not written: none of its channels is left",
                    section.line, section.name
                ),
                untranslated: true,
            });
            self.header.extend(entry.notes);
            return None;
        }
        entry.key("channels", flow_list(&members));
        Some(entry)
    }

    // -----------------------------------------------------------------------
    // Output.

    fn render(&self, stores: &[Entry], channels: &[Entry], groups: &[Entry]) -> Translation {
        let mut out = String::new();
        let mut untranslated = 0;
        let _ = writeln!(
            out,
            "# mailferry configuration converted from {} by `mailferry import-mbsyncrc`.",
            self.rc.file.display()
        );
        out.push_str(
            "# Read every comment below before the first sync; then run\n\
             # `mailferry check` and `mailferry sync --all --dry-run`.\n\
             # mailferry keeps its own sync state: its first sync pairs the messages that\n\
             # both sides already hold (by Message-ID and size), so nothing is copied twice.\n",
        );
        for note in &self.header {
            untranslated += usize::from(note.untranslated);
            let _ = writeln!(out, "# {}", note.text);
        }
        out.push_str("stores:\n");
        for store in stores {
            untranslated += write_entry(&mut out, store, false);
        }
        if !channels.is_empty() {
            out.push_str("channels:\n");
            for channel in channels {
                untranslated += write_entry(&mut out, channel, false);
            }
        }
        if !groups.is_empty() {
            out.push_str("groups:\n");
            for group in groups {
                untranslated += write_entry(&mut out, group, true);
            }
        }
        Translation {
            yaml: out,
            untranslated,
        }
    }
}

/// Why a second `Channel` of an already used name is left out. mbsync
/// (1.4) accepts the repetition: `mbsync NAME` and every Group naming it run
/// the first definition, only `mbsync -a` runs both. The first is therefore
/// the one its user meant by the name; the second is described, so that
/// nothing is dropped silently.
fn repeated_channel_note(section: &Section, first_line: usize) -> String {
    let side = |keywords: [&str; 2]| {
        section
            .settings
            .iter()
            .find(|s| keywords.iter().any(|word| s.is(word)))
            .map_or_else(|| "?".to_owned(), |s| s.value().to_owned())
    };
    format!(
        "line {}: Channel {} is defined a second time (Far {}, Near {}) and was not imported: \
         mbsync ran the first definition, of line {first_line}, for `mbsync {}` and in every Group, \
         and the second only with `mbsync -a`; to keep it, give it a name of its own in the mbsyncrc and import again",
        section.line,
        section.name,
        side(["Far", "Master"]),
        side(["Near", "Slave"]),
        section.name,
    )
}

/// Writes one entry under its section, its notes as comments; a group is a
/// name and a list. The result is the number of untranslated options noted.
fn write_entry(out: &mut String, entry: &Entry, is_group: bool) -> usize {
    let untranslated = entry.notes.iter().filter(|note| note.untranslated).count();
    if is_group {
        for note in &entry.notes {
            let _ = writeln!(out, "  # {}", note.text);
        }
        for (_, list) in &entry.keys {
            let _ = writeln!(out, "  {}: {list}", scalar(&entry.name));
        }
        return untranslated;
    }
    let _ = writeln!(out, "  {}:", scalar(&entry.name));
    for note in &entry.notes {
        let _ = writeln!(out, "    # {}", note.text);
    }
    for (key, value) in &entry.keys {
        let _ = writeln!(out, "    {key}: {value}");
    }
    untranslated
}

// ---------------------------------------------------------------------------
// IMAP server settings gathered from an account and a store.

#[derive(Debug, Default)]
struct ImapServer {
    host: Option<String>,
    port: Option<u16>,
    /// The mailferry word and the line it came from.
    tls: Option<(&'static str, usize)>,
    user: Option<String>,
    user_cmd: Option<String>,
    pass: Option<(String, usize)>,
    pass_cmd: Option<(String, usize)>,
    keychain: bool,
    tunnel: Option<String>,
    auth_mechs: Vec<String>,
    /// Every CertificateFile line, in order: mbsync trusts them all.
    ca_files: Vec<String>,
    timeout: Option<u64>,
    namespace: Option<String>,
}

// ---------------------------------------------------------------------------
// Sync operations: mbsync's matrix of directions and kinds.

const NEW: u8 = 1;
const RENEW: u8 = 2;
const DELETE: u8 = 4;
const FLAGS: u8 = 8;
const ALL_KINDS: u8 = NEW | RENEW | DELETE | FLAGS;

/// Which kinds of change travel each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SyncOps {
    /// Far to near.
    pull: u8,
    /// Near to far.
    push: u8,
    /// ReNew was asked for by name (All includes it, to no effect without
    /// MaxSize, so only a named one is worth a comment).
    renew_named: bool,
}

impl SyncOps {
    /// Reads `Sync` arguments as mbsync does: simple words (Pull, Push, New,
    /// ...) select rows and columns of the matrix, compound words (PullNew,
    /// ...) select single cells, and mixing them in ways that say a cell
    /// twice or leave the meaning open is an error.
    fn parse(args: &[String]) -> Result<SyncOps, String> {
        let (mut pull_dir, mut push_dir, mut kinds, mut noop) = (false, false, 0u8, false);
        let (mut pull, mut push) = (0u8, 0u8);
        let renew_named = args
            .iter()
            .any(|arg| arg.to_ascii_lowercase().ends_with("renew"));
        for arg in args {
            let word = arg.to_ascii_lowercase();
            let kind_of = |name: &str| match name {
                "new" => Some(NEW),
                "renew" => Some(RENEW),
                "delete" => Some(DELETE),
                "flags" => Some(FLAGS),
                _ => None,
            };
            match word.as_str() {
                "pull" => pull_dir = true,
                "push" => push_dir = true,
                "all" | "full" => (pull_dir, push_dir) = (true, true),
                "none" | "noop" => noop = true,
                other => {
                    if let Some(kind) = kind_of(other) {
                        kinds |= kind;
                    } else if let Some(kind) = other.strip_prefix("pull").and_then(kind_of) {
                        pull |= kind;
                    } else if let Some(kind) = other.strip_prefix("push").and_then(kind_of) {
                        push |= kind;
                    } else {
                        return Err(format!("invalid Sync argument {arg:?}"));
                    }
                }
            }
        }
        let compound = pull | push != 0;
        let simple = pull_dir || push_dir || kinds != 0;
        if noop && (compound || simple) {
            return Err("conflicting Sync arguments: None with others".to_owned());
        }
        if compound {
            if (pull | push) & kinds != 0 {
                return Err(
                    "redundant Sync arguments: a kind is given both alone and with Pull/Push"
                        .to_owned(),
                );
            }
            if pull_dir || push_dir {
                let whole_row = if pull_dir { &mut pull } else { &mut push };
                if (pull_dir && push_dir) || kinds != 0 {
                    return Err("invalid mix of simple and compound Sync arguments".to_owned());
                }
                if *whole_row != 0 {
                    return Err("redundant Sync arguments".to_owned());
                }
                *whole_row = ALL_KINDS;
            } else {
                pull |= kinds;
                push |= kinds;
            }
            return Ok(SyncOps {
                pull,
                push,
                renew_named,
            });
        }
        if !simple {
            return Ok(SyncOps {
                pull: 0,
                push: 0,
                renew_named,
            });
        }
        let kinds = if kinds == 0 { ALL_KINDS } else { kinds };
        let (pull_dir, push_dir) = if pull_dir || push_dir {
            (pull_dir, push_dir)
        } else {
            (true, true)
        };
        Ok(SyncOps {
            pull: if pull_dir { kinds } else { 0 },
            push: if push_dir { kinds } else { 0 },
            renew_named,
        })
    }
}

fn kind_words(kinds: u8) -> String {
    let words: Vec<&str> = [(NEW, "new"), (FLAGS, "flags"), (DELETE, "delete")]
        .into_iter()
        .filter(|(bit, _)| kinds & bit != 0)
        .map(|(_, word)| word)
        .collect();
    if words.is_empty() {
        "nothing".to_owned()
    } else {
        words.join("+")
    }
}

// ---------------------------------------------------------------------------
// Values.

/// mbsync's booleans.
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// mbsync's sizes: a number, then optionally k or m, then optionally b.
fn parse_mbsync_size(text: &str) -> Option<u64> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits_end].parse().ok()?;
    let mut rest = &text[digits_end..];
    let mut multiplier = 1;
    if let Some(after) = rest.strip_prefix(['k', 'K']) {
        multiplier = 1 << 10;
        rest = after;
    } else if let Some(after) = rest.strip_prefix(['m', 'M']) {
        multiplier = 1 << 20;
        rest = after;
    }
    let rest = rest.strip_prefix(['b', 'B']).unwrap_or(rest);
    rest.is_empty().then_some(())?;
    number.checked_mul(multiplier)
}

/// A size as mailferry writes it: `10M`, `512k` or bytes.
fn size_text(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}M", bytes >> 20)
    } else if bytes.is_multiple_of(1 << 10) {
        format!("{}k", bytes >> 10)
    } else {
        bytes.to_string()
    }
}

fn trim_slash(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => path,
        trimmed => trimmed,
    }
}

/// A YAML scalar for `text`: plain when that cannot be misread (as a number,
/// a boolean, null or YAML syntax), else double-quoted.
fn scalar(text: &str) -> String {
    let safe_chars = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/@+-~".contains(c));
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '/' || c == '.' || c == '_')
        || text.starts_with("~/");
    let special = matches!(
        text.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
    ) || text.parse::<f64>().is_ok()
        || text.starts_with("0x")
        || text.starts_with("0o");
    if safe_chars && starts_well && !special {
        text.to_owned()
    } else {
        double_quoted(text)
    }
}

/// A YAML double-quoted string.
fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A YAML flow list of double-quoted strings.
fn flow_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| double_quoted(item)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
