//! Tests of the mbsync translation: each mbsync construct and what it
//! becomes, and a realistic file whose output mailferry's own config parser
//! must accept.

use super::*;
use crate::config::{Config, Direction, Layout, PasswordSource, Sides, StoreConfig, TlsMode};
use std::path::Path;

const REALISTIC: &str = include_str!("../../tests/fixtures/realistic.mbsyncrc");

fn convert_with(text: &str, options: Options) -> Result<Translation, ConfigError> {
    let rc = MbsyncRc::parse(text, Path::new("/home/a/.mbsyncrc"))?;
    translate(&rc, options)
}

fn convert(text: &str) -> String {
    convert_with(text, Options::default())
        .unwrap_or_else(|err| panic!("{err}"))
        .yaml
}

/// The output, parsed by mailferry's config parser.
fn accepted(yaml: &str) -> Config {
    Config::from_yaml(yaml, Path::new("/home/a/.config/mailferry/config.yaml"))
        .unwrap_or_else(|err| panic!("{err}\n---\n{yaml}"))
}

fn error_of(text: &str) -> String {
    convert_with(text, Options::default())
        .expect_err("should be refused")
        .to_string()
}

const ACCOUNT: &str = "IMAPAccount acct\nHost imap.example.com\nUser alice\nPassCmd \"pass show mail\"\nSSLType IMAPS\n\n\
                       IMAPStore remote\nAccount acct\n\nMaildirStore local\nPath ~/Mail/\nInbox ~/Mail/INBOX\nSubFolders Verbatim\n\n";

fn with_channel(channel_lines: &str) -> String {
    format!("{ACCOUNT}Channel ch\nFar :remote:\nNear :local:\n{channel_lines}")
}

#[test]
fn realistic_file_becomes_a_config_mailferry_accepts() {
    let translation = convert_with(REALISTIC, Options::default()).unwrap();
    let config = accepted(&translation.yaml);
    assert_eq!(
        config.stores.keys().collect::<Vec<_>>(),
        [
            "gmail-local",
            "gmail-remote",
            "old-local",
            "old-remote",
            "work-local",
            "work-remote"
        ]
    );
    assert_eq!(config.channels.len(), 5);
    assert_eq!(
        config.groups["everything"],
        ["gmail-inbox", "gmail-sent", "gmail-folders", "work", "old"]
    );

    let StoreConfig::Imap(gmail) = &config.stores["gmail-remote"] else {
        panic!("gmail-remote is not IMAP")
    };
    assert_eq!(gmail.host, "imap.gmail.com");
    assert_eq!((gmail.tls, gmail.port), (TlsMode::Implicit, 993));
    assert_eq!(
        gmail.password,
        PasswordSource::Command("pass show mail/gmail-app-password".into())
    );
    // `+` only told mbsync the command prompts; it is not part of it.
    let StoreConfig::Imap(work) = &config.stores["work-remote"] else {
        panic!()
    };
    assert_eq!(
        work.password,
        PasswordSource::Command("gpg --quiet --decrypt ~/.mail-work.gpg".into())
    );
    // mbsync's default is STARTTLS, and the written password is not copied.
    let StoreConfig::Imap(old) = &config.stores["old-remote"] else {
        panic!()
    };
    assert_eq!((old.tls, old.port), (TlsMode::Starttls, 143));
    assert_eq!(
        old.password,
        PasswordSource::Env("MAILFERRY_PASSWORD_OLD_REMOTE".into())
    );
    assert!(!translation.yaml.contains("s3cret"), "{}", translation.yaml);

    let StoreConfig::Maildir(old_local) = &config.stores["old-local"] else {
        panic!()
    };
    assert_eq!(old_local.layout, Layout::MaildirPlusPlus);
    assert!(old_local.path.ends_with("Mail/old"), "{:?}", old_local.path);

    let work = &config.channels["work"];
    assert_eq!(work.folders, ["*", "!Junk", "!Deleted Items"]);
    assert_eq!(work.direction, Direction::Pull);
    assert!(work.sync_new && work.sync_flags && !work.sync_delete);
    assert_eq!(
        (work.create, work.expunge, work.remove),
        (Sides::Near, Sides::Both, Sides::None)
    );
    assert_eq!(work.max_size, Some(10 << 20));

    let sent = &config.channels["gmail-sent"];
    assert_eq!(sent.folders, ["Sent"]);
    assert_eq!(sent.folder_map["[Gmail]/Sent Mail"], "Sent");

    let folders = &config.channels["gmail-folders"];
    assert_eq!(folders.folders, ["*", "![Gmail]*", "!INBOX"]);
    assert_eq!(folders.max_messages, Some(2000));

    let old = &config.channels["old"];
    assert_eq!(old.remove, Sides::Near);
    assert!(old.sync_new && old.sync_delete && !old.sync_flags);

    assert!(translation.untranslated >= 5, "{}", translation.yaml);
}

#[test]
fn every_untranslated_option_is_a_comment_naming_its_line() {
    let yaml = convert(REALISTIC);
    for (line, keyword) in [
        (53, "TLSVersions"),
        (54, "PipelineDepth"),
        (40, "ExpireUnread"),
        (5, "SyncState"),
    ] {
        let wanted = format!("# line {line}: {keyword} not translated: ");
        assert!(yaml.contains(&wanted), "{wanted:?} missing from\n{yaml}");
    }
    // The INBOX stays where mbsync kept it, with no advice to move it.
    assert!(yaml.contains("inbox: ~/Mail/work/Inbox"), "{yaml}");
    assert!(!yaml.contains("mv "), "{yaml}");
}

#[test]
fn mbsync_defaults_are_written_out_where_ours_differ() {
    let yaml = convert(&with_channel("Patterns *\n"));
    let config = accepted(&yaml);
    let channel = &config.channels["ch"];
    // mbsync creates, expunges and removes nothing unless told.
    assert_eq!(
        (channel.create, channel.expunge, channel.remove),
        (Sides::None, Sides::None, Sides::None)
    );
    assert_eq!(channel.folders, ["*"]);
    assert!(!yaml.contains("folders:"), "`*` is our default: {yaml}");
}

#[test]
fn channel_options_override_global_ones() {
    let text = format!(
        "Expunge Near\nCreate Both\n\n{}",
        with_channel("Create Far\n")
    );
    let config = accepted(&convert(&text));
    let channel = &config.channels["ch"];
    assert_eq!((channel.create, channel.expunge), (Sides::Far, Sides::Near));
}

#[test]
fn channel_without_patterns_syncs_its_one_box() {
    let config = accepted(&convert(&with_channel("")));
    assert_eq!(config.channels["ch"].folders, ["INBOX"]);

    let yaml = convert(&format!(
        "{ACCOUNT}Channel ch\nFar :remote:Lists/rust\nNear :local:Lists/rust\n"
    ));
    assert_eq!(accepted(&yaml).channels["ch"].folders, ["Lists/rust"]);
}

#[test]
fn imap_path_becomes_the_namespace() {
    let text = ACCOUNT.replace("\nAccount acct\n", "\nAccount acct\nPath INBOX.\n");
    let config = accepted(&convert(&text));
    let StoreConfig::Imap(imap) = &config.stores["remote"] else {
        panic!()
    };
    assert_eq!(imap.namespace.as_deref(), Some("INBOX."));
}

#[test]
fn sync_words_become_direction_and_kinds() {
    let cases: &[(&str, Direction, [bool; 3])] = &[
        ("Sync All", Direction::Both, [true, true, true]),
        ("Sync Pull", Direction::Pull, [true, true, true]),
        ("Sync Push", Direction::Push, [true, true, true]),
        ("Sync New Flags", Direction::Both, [true, true, false]),
        ("Sync Pull New", Direction::Pull, [true, false, false]),
        (
            "Sync PullNew PullFlags",
            Direction::Pull,
            [true, true, false],
        ),
        (
            "Sync PullNew PushNew",
            Direction::Both,
            [true, false, false],
        ),
        ("Sync None", Direction::Both, [false, false, false]),
        (
            "sync pull push delete",
            Direction::Both,
            [false, false, true],
        ),
    ];
    for (line, direction, [new, flags, delete]) in cases {
        let config = accepted(&convert(&with_channel(&format!("{line}\n"))));
        let channel = &config.channels["ch"];
        assert_eq!(channel.direction, *direction, "{line}");
        assert_eq!(
            [channel.sync_new, channel.sync_flags, channel.sync_delete],
            [*new, *flags, *delete],
            "{line}"
        );
    }
}

#[test]
fn sync_that_differs_by_direction_keeps_what_both_directions_do_and_says_so() {
    let yaml = convert(&with_channel("Sync PullNew PullFlags PushNew\n"));
    let channel = &accepted(&yaml).channels["ch"];
    assert_eq!(channel.direction, Direction::Both);
    assert!(channel.sync_new && !channel.sync_flags && !channel.sync_delete);
    assert!(yaml.contains("Sync not translated"), "{yaml}");
}

#[test]
fn contradictory_sync_words_are_errors_on_their_line() {
    for line in [
        "Sync PullNew Pull",
        "Sync None New",
        "Sync Sideways",
        "Sync PullNew New",
    ] {
        let err = error_of(&with_channel(&format!("{line}\n")));
        assert!(err.starts_with("/home/a/.mbsyncrc:18: "), "{line}: {err}");
    }
}

#[test]
fn master_slave_and_far_near_are_the_same() {
    let old = convert(&format!(
        "{ACCOUNT}Channel ch\nMaster :remote:\nSlave :local:\nCreate Slave\nExpunge Master\n"
    ));
    let new = convert(&with_channel("Create Near\nExpunge Far\n"));
    assert_eq!(old, new);
}

#[test]
fn tls_types_and_default_ports() {
    for (words, tls, port) in [
        ("SSLType IMAPS", TlsMode::Implicit, 993),
        ("TLSType STARTTLS", TlsMode::Starttls, 143),
        ("SSLType None", TlsMode::None, 143),
        ("Host imaps:imap.example.com", TlsMode::Implicit, 993),
        ("Port 1143", TlsMode::Starttls, 1143),
    ] {
        let text = format!(
            "IMAPStore remote\nHost imap.example.com\nUser a\nPassCmd true\n{words}\n\n\
             MaildirStore local\nPath ~/Mail/\n\nChannel ch\nFar :remote:\nNear :local:\n"
        );
        let config = accepted(&convert(&text));
        let StoreConfig::Imap(imap) = &config.stores["remote"] else {
            panic!()
        };
        assert_eq!((imap.tls, imap.port), (tls, port), "{words}");
        assert_eq!(imap.host, "imap.example.com");
    }
}

#[test]
fn xoauth2_with_passcmd_becomes_a_token_command() {
    // Only the text: the xoauth2 keys arrive with the OAuth2 work.
    let text = ACCOUNT.replace("SSLType IMAPS\n", "SSLType IMAPS\nAuthMechs XOAUTH2\n");
    let yaml = convert(&text);
    assert!(yaml.contains("    auth: xoauth2\n"), "{yaml}");
    assert!(
        yaml.contains("    oauth2_token_command: \"pass show mail\"\n"),
        "{yaml}"
    );
    assert!(!yaml.contains("password_command"), "{yaml}");
}

#[test]
fn unsupported_auth_mechanisms_are_noted() {
    let text = ACCOUNT.replace(
        "SSLType IMAPS\n",
        "SSLType IMAPS\nAuthMechs CRAM-MD5 PLAIN\n",
    );
    let yaml = convert(&text);
    assert!(yaml.contains("    auth: plain\n"), "{yaml}");
    assert!(yaml.contains("AuthMechs CRAM-MD5 not supported"), "{yaml}");
    accepted(&yaml);
}

#[test]
fn passwords_are_copied_only_when_asked() {
    let text = ACCOUNT.replace("PassCmd \"pass show mail\"", r#"Pass "pa ss\"word\\""#);
    let hidden = convert(&text);
    assert!(!hidden.contains("pa ss"), "{hidden}");
    assert!(
        hidden.contains("password_env: MAILFERRY_PASSWORD_REMOTE"),
        "{hidden}"
    );

    let copied = convert_with(
        &text,
        Options {
            copy_passwords: true,
        },
    )
    .unwrap()
    .yaml;
    let StoreConfig::Imap(imap) = &accepted(&copied).stores["remote"] else {
        panic!()
    };
    let PasswordSource::Plain(secret) = &imap.password else {
        panic!("{copied}")
    };
    assert_eq!(secret.expose(), r#"pa ss"word\"#);
}

#[test]
fn the_inbox_stays_where_mbsync_kept_it() {
    for (inbox, expected) in [
        ("~/Maildir", Some("~/Maildir")),
        ("~/Mail/inbox", Some("~/Mail/inbox")),
        ("~/Mail/", Some("~/Mail")),
        ("~/Mail/INBOX", None),
    ] {
        let text = ACCOUNT.replace("Inbox ~/Mail/INBOX", &format!("Inbox {inbox}"));
        let yaml = convert(&text);
        let config = accepted(&yaml);
        let Some(StoreConfig::Maildir(local)) =
            config.stores.values().find(|s| s.kind() == "maildir")
        else {
            panic!("{yaml}")
        };
        assert_eq!(
            local.inbox.as_ref().map(|p| p.display().to_string()),
            expected.map(|e| e.replace('~', &std::env::var("HOME").unwrap_or_default())),
            "{yaml}"
        );
        assert!(!yaml.contains("mv "), "{yaml}");
    }
}

#[test]
fn tunnel_usercmd_useimaps_certificates_and_flatten_are_translated() {
    let text = "IMAPStore t\nTunnel \"ssh mail /usr/lib/dovecot/imap\"\n\n\
                IMAPStore s\nHost h\nUseIMAPS yes\nUserCmd \"pass show user\"\nPassCmd \"pass p\"\n\
                CertificateFile /a.pem\nCertificateFile /b.pem\n\n\
                MaildirStore l\nPath ~/Mail/\nInbox ~/Mail/INBOX\nFlatten .\n\n\
                Channel c\nFar :t:\nNear :l:\n";
    let yaml = convert(text);
    let config = accepted(&yaml);
    let StoreConfig::Imap(t) = &config.stores["t"] else {
        panic!("{yaml}")
    };
    assert_eq!(t.tunnel.as_deref(), Some("ssh mail /usr/lib/dovecot/imap"));
    let StoreConfig::Imap(s) = &config.stores["s"] else {
        panic!("{yaml}")
    };
    assert_eq!(s.tls, TlsMode::Implicit);
    assert_eq!(s.user_command.as_deref(), Some("pass show user"));
    assert_eq!(s.ca_file.len(), 2, "{yaml}");
    let StoreConfig::Maildir(l) = &config.stores["l"] else {
        panic!("{yaml}")
    };
    assert_eq!(l.layout, Layout::Flatten);
}

#[test]
fn path_without_trailing_slash_was_a_prefix() {
    let text = ACCOUNT.replace(
        "Path ~/Mail/\nInbox ~/Mail/INBOX",
        "Path ~/Mail/work-\nInbox ~/Mail/work-/INBOX",
    );
    let yaml = convert(&text);
    assert!(yaml.contains("as a prefix"), "{yaml}");
    assert!(yaml.contains("path: ~/Mail/work-\n"), "{yaml}");
}

#[test]
fn names_mailferry_cannot_take_are_changed_and_noted() {
    let text = format!(
        "{ACCOUNT}Channel \"my mail\"\nFar :remote:\nNear :local:\n\nGroup \"my mail\" \"my mail\"\n"
    );
    let yaml = convert(&text);
    let config = accepted(&yaml);
    assert!(config.channels.contains_key("my-mail"), "{yaml}");
    assert_eq!(config.groups["my-mail-group"], ["my-mail"]);
}

#[test]
fn group_folder_lists_and_unknown_channels_are_noted() {
    let text = format!(
        "{}\n\nGroup g ch:INBOX,Sent nosuch\n",
        with_channel("Patterns *")
    );
    let yaml = convert(&text);
    assert_eq!(accepted(&yaml).groups["g"], ["ch"]);
    assert!(yaml.contains("cannot narrow a channel"), "{yaml}");
    assert!(
        yaml.contains("unknown channel \"nosuch\" left out"),
        "{yaml}"
    );
}

#[test]
fn imap_store_with_inline_account_options() {
    let text = "IMAPStore remote\nHost h.example.com\nUser u\nPassCmd \"echo x\"\n\n\
                MaildirStore local\nPath ~/M/\n\nChannel c\nFar :remote:\nNear :local:\n";
    let config = accepted(&convert(text));
    let StoreConfig::Imap(imap) = &config.stores["remote"] else {
        panic!()
    };
    assert_eq!(
        (imap.host.as_str(), imap.user.as_str()),
        ("h.example.com", "u")
    );
}

#[test]
fn malformed_input_is_an_error_naming_file_and_line() {
    let cases = [
        (with_channel("Far remote\n"), 18, "malformed Far"),
        (with_channel("Near :nosuch:\n"), 18, "unknown store"),
        (with_channel("Create Sideways\n"), 18, "invalid Create"),
        (with_channel("MaxMessages many\n"), 18, "invalid number"),
        (with_channel("MaxSize 10G\n"), 18, "invalid size"),
        (
            with_channel("CopyArrivalDate perhaps\n"),
            18,
            "invalid boolean",
        ),
        (
            ACCOUNT.replace("\nAccount acct", "\nAccount nosuch"),
            8,
            "unknown IMAPAccount",
        ),
        (
            ACCOUNT.replace("\nAccount acct", "\nAccount acct\nHost other"),
            9,
            "account option",
        ),
        (
            ACCOUNT.replace("SSLType IMAPS", "SSLType Maybe"),
            5,
            "invalid SSLType",
        ),
        (
            ACCOUNT.replace("Host imap.example.com", "Port 99999"),
            2,
            "invalid port",
        ),
        (
            ACCOUNT.replace("User alice", "Pass x"),
            4,
            "both Pass and PassCmd",
        ),
        (
            ACCOUNT.replace("SubFolders Verbatim", "SubFolders Sideways"),
            13,
            "invalid SubFolders",
        ),
    ];
    for (text, line, wanted) in cases {
        let err = error_of(&text);
        assert!(
            err.starts_with(&format!("/home/a/.mbsyncrc:{line}: ")) && err.contains(wanted),
            "wanted line {line} and {wanted:?}, got: {err}"
        );
    }
    let err = error_of("Channel c\nFar :a:\n");
    assert!(err.contains("unknown store"), "{err}");
    let err = error_of(&format!("{ACCOUNT}Channel c\nFar :remote:\n"));
    assert!(
        err.contains(":15: channel \"c\" has no near store"),
        "{err}"
    );
}

#[test]
fn sizes_read_as_mbsync_reads_them() {
    assert_eq!(parse_mbsync_size("0"), Some(0));
    assert_eq!(parse_mbsync_size("100"), Some(100));
    assert_eq!(parse_mbsync_size("512k"), Some(512 << 10));
    assert_eq!(parse_mbsync_size("10MB"), Some(10 << 20));
    assert_eq!(parse_mbsync_size("10b"), Some(10));
    assert_eq!(parse_mbsync_size("10G"), None);
    assert_eq!(parse_mbsync_size("k"), None);
    assert_eq!(size_text(10 << 20), "10M");
    assert_eq!(size_text(1536), "1536");
    assert_eq!(size_text(2048), "2k");
}

#[test]
fn scalars_are_quoted_when_yaml_could_misread_them() {
    assert_eq!(scalar("imap.example.com"), "imap.example.com");
    assert_eq!(scalar("~/Mail/work"), "~/Mail/work");
    assert_eq!(scalar("alice@example.com"), "alice@example.com");
    for risky in [
        "yes", "No", "1234", "1e3", "~", "", "a b", "#x", "a: b", "*", "!x", "-x", "[x]",
    ] {
        let yaml = scalar(risky);
        let back: String = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{risky:?}: {e}"));
        assert_eq!(back, risky, "{yaml}");
    }
    let nasty = "a\"b\\c\nd\te\u{1}";
    let back: String = serde_yaml::from_str(&double_quoted(nasty)).unwrap();
    assert_eq!(back, nasty);
}

#[test]
fn a_channel_defined_twice_keeps_the_first_as_mbsync_does_and_imports_the_rest() {
    let text = format!(
        "{ACCOUNT}MaildirStore other\nPath ~/Other/\nInbox ~/Other/INBOX\n\n\
         Channel ch\nFar :remote:\nNear :local:\nPatterns INBOX Lists\n\n\
         Channel ch\nFar :remote:\nNear :other:\n\n\
         Channel archive\nFar :remote:Archive\nNear :local:Archive\n\n\
         Group all ch archive\n"
    );
    let translation = convert_with(&text, Options::default()).unwrap();
    let config = accepted(&translation.yaml);
    assert_eq!(
        config.channels.keys().collect::<Vec<_>>(),
        ["archive", "ch"]
    );
    assert_eq!(config.channels["ch"].near, "local");
    assert_eq!(config.groups["all"], ["ch", "archive"]);
    assert_eq!(translation.untranslated, 1);
    let note = translation
        .yaml
        .lines()
        .find(|line| line.contains("defined a second time"))
        .unwrap_or_else(|| panic!("no note on the second definition:\n{}", translation.yaml));
    assert!(
        note.contains("line 24: Channel ch") && note.contains("Near :other:"),
        "{note}"
    );
    assert!(
        note.contains("first definition, of line 19") && note.contains("mbsync -a"),
        "{note}"
    );
}

/// The corpus of tests/fixtures/mbsyncrc: configurations written the ways
/// public dotfiles write them (the integration test `mbsync_corpus` runs
/// them against Dovecot and mbsync).
const CORPUS: &[(&str, &str)] = &[
    (
        "gmail-pass",
        include_str!("../../tests/fixtures/mbsyncrc/gmail-pass.mbsyncrc"),
    ),
    (
        "gmail-macos",
        include_str!("../../tests/fixtures/mbsyncrc/gmail-macos.mbsyncrc"),
    ),
    (
        "fastmail",
        include_str!("../../tests/fixtures/mbsyncrc/fastmail.mbsyncrc"),
    ),
    (
        "office365-xoauth2",
        include_str!("../../tests/fixtures/mbsyncrc/office365-xoauth2.mbsyncrc"),
    ),
    (
        "proton-bridge",
        include_str!("../../tests/fixtures/mbsyncrc/proton-bridge.mbsyncrc"),
    ),
    (
        "several-accounts",
        include_str!("../../tests/fixtures/mbsyncrc/several-accounts.mbsyncrc"),
    ),
    (
        "maildirpp",
        include_str!("../../tests/fixtures/mbsyncrc/maildirpp.mbsyncrc"),
    ),
    (
        "tunnel",
        include_str!("../../tests/fixtures/mbsyncrc/tunnel.mbsyncrc"),
    ),
    (
        "isync13-old-style",
        include_str!("../../tests/fixtures/mbsyncrc/isync13-old-style.mbsyncrc"),
    ),
    (
        "usercmd-quoted",
        include_str!("../../tests/fixtures/mbsyncrc/usercmd-quoted.mbsyncrc"),
    ),
    (
        "minimal",
        include_str!("../../tests/fixtures/mbsyncrc/minimal.mbsyncrc"),
    ),
];

fn corpus_config(name: &str) -> (String, Config) {
    let (_, text) = CORPUS
        .iter()
        .find(|(fixture, _)| *fixture == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    let yaml = convert(text);
    let config = accepted(&yaml);
    (yaml, config)
}

fn imap<'c>(config: &'c Config, store: &str) -> &'c crate::config::ImapConfig {
    match &config.stores[store] {
        StoreConfig::Imap(imap) => imap,
        _ => panic!("{store} is not an IMAP store"),
    }
}

fn maildir<'c>(config: &'c Config, store: &str) -> &'c crate::config::MaildirConfig {
    match &config.stores[store] {
        StoreConfig::Maildir(maildir) => maildir,
        _ => panic!("{store} is not a Maildir store"),
    }
}

#[test]
fn every_corpus_file_imports_with_no_placeholder_left() {
    for (name, text) in CORPUS {
        let translation =
            convert_with(text, Options::default()).unwrap_or_else(|err| panic!("{name}: {err}"));
        accepted(&translation.yaml);
        assert!(
            !translation.yaml.contains("REPLACE-ME"),
            "{name}:\n{}",
            translation.yaml
        );
    }
}

#[test]
fn corpus_password_and_login_commands_keep_their_quotes() {
    let (_, gmail) = corpus_config("gmail-pass");
    assert_eq!(
        imap(&gmail, "gmail-remote").password,
        PasswordSource::Command("pass show email/gmail.com | head -n 1".into())
    );
    let (_, macos) = corpus_config("gmail-macos");
    assert_eq!(
        imap(&macos, "gmail-remote").password,
        PasswordSource::Command(
            "security find-generic-password -s mbsync-gmail -a bob.example@gmail.com -w".into()
        )
    );
    let (_, posteo) = corpus_config("usercmd-quoted");
    let posteo = imap(&posteo, "posteo-remote");
    assert_eq!(
        posteo.password,
        PasswordSource::Command(r#"pass show "mail/posteo" | head -n 1"#.into())
    );
    assert_eq!(
        posteo.user_command.as_deref(),
        Some("pass show mail/posteo | awk '/^login:/ {print $2}'")
    );
    // A password written in the file is asked for by name, not copied.
    let (yaml, home) = corpus_config("maildirpp");
    assert_eq!(
        imap(&home, "home-remote").password,
        PasswordSource::Env("MAILFERRY_PASSWORD_HOME_REMOTE".into())
    );
    assert!(!yaml.contains("battery"), "{yaml}");
}

#[test]
fn corpus_servers_keep_their_transport() {
    let (_, o365) = corpus_config("office365-xoauth2");
    let work = imap(&o365, "work-remote");
    assert_eq!(work.auth, crate::config::AuthMethod::Xoauth2);
    assert_eq!(
        work.password,
        PasswordSource::TokenCommand(
            "~/.local/bin/mutt_oauth2.py ~/.config/mutt/contoso.tokens".into()
        )
    );
    let (_, proton) = corpus_config("proton-bridge");
    let bridge = imap(&proton, "proton-remote");
    assert_eq!(
        (bridge.host.as_str(), bridge.port, bridge.tls),
        ("127.0.0.1", 1143, TlsMode::Starttls)
    );
    assert_eq!(bridge.ca_file.len(), 1);
    let (_, tunnel) = corpus_config("tunnel");
    assert_eq!(
        imap(&tunnel, "remote").tunnel.as_deref(),
        Some("ssh -q mail.example.org /usr/lib/dovecot/imap")
    );
    let (_, old) = corpus_config("isync13-old-style");
    let old_remote = imap(&old, "old-remote");
    assert_eq!(
        (old_remote.host.as_str(), old_remote.tls),
        ("imap.old-provider.example", TlsMode::Implicit)
    );
    assert_eq!(old_remote.ca_file.len(), 3);
    assert_eq!(imap(&old, "legacy-remote").tls, TlsMode::Implicit);
    assert_eq!(imap(&macos_config(), "gmail-remote").ca_file.len(), 2);
    let (_, minimal) = corpus_config("minimal");
    assert_eq!(imap(&minimal, "isp").tls, TlsMode::Starttls);
}

fn macos_config() -> Config {
    corpus_config("gmail-macos").1
}

#[test]
fn corpus_maildirs_keep_their_layout_and_inbox() {
    let home = std::env::var("HOME").unwrap_or_default();
    let inbox_of = |config: &Config, store: &str| {
        maildir(config, store)
            .inbox
            .as_ref()
            .map(|path| path.display().to_string().replace(&home, "~"))
    };
    let macos = macos_config();
    assert_eq!(maildir(&macos, "gmail-local").layout, Layout::Flatten);
    assert_eq!(
        inbox_of(&macos, "gmail-local").as_deref(),
        Some("~/Mail/Gmail/Inbox")
    );
    let (_, several) = corpus_config("several-accounts");
    assert_eq!(inbox_of(&several, "personal-local"), None);
    assert_eq!(
        inbox_of(&several, "work-local").as_deref(),
        Some("~/Mail/work/inbox")
    );
    assert_eq!(
        inbox_of(&several, "uni-local").as_deref(),
        Some("~/Mail/uni")
    );
    assert_eq!(several.groups["all"], ["personal", "work", "uni"]);
    assert_eq!(several.groups["daytime"], ["work", "uni"]);
    let (_, home_config) = corpus_config("maildirpp");
    assert_eq!(
        maildir(&home_config, "home-local").layout,
        Layout::MaildirPlusPlus
    );
    let (yaml, _) = corpus_config("isync13-old-style");
    assert!(yaml.contains("SubFolders Legacy kept subfolders"), "{yaml}");
}

#[test]
fn corpus_patterns_keep_their_exclusions_and_quoted_names() {
    let macos = macos_config();
    assert_eq!(
        macos.channels["gmail"].folders,
        [
            "*",
            "![Gmail]/All Mail",
            "![Gmail]/Important",
            "![Gmail]/Starred",
            "![Gmail]/Spam"
        ]
    );
    let (_, posteo) = corpus_config("usercmd-quoted");
    assert_eq!(
        posteo.channels["posteo"].folders,
        ["*", "!Deleted Items", "!Notes", "!Junk Mail"]
    );
    let (_, o365) = corpus_config("office365-xoauth2");
    assert_eq!(
        o365.channels["work"].folders,
        ["INBOX", "Sent Items", "Drafts", "Archive", "Archive/*"]
    );
    let (_, gmail) = corpus_config("gmail-pass");
    assert_eq!(gmail.channels["gmail-sent"].folders, ["Sent"]);
    assert_eq!(
        gmail.channels["gmail-labels"].folders,
        ["*", "![Gmail]*", "!INBOX", "!Sent", "!Trash"]
    );
}
