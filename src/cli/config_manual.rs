//! The configuration file's manual page, mailferry.yaml(5): every key with
//! its value, default and meaning, kept as data so that a test can hold it
//! against the keys the config parser accepts, and rendered as roff by
//! `mailferry generate man`.

use std::fmt::Write as _;

/// One key of a mapping in the file.
pub struct KeyDoc {
    pub key: &'static str,
    /// What the value looks like, e.g. `implicit | starttls | none`.
    pub value: &'static str,
    /// The default, or how it is required.
    pub default: &'static str,
    pub meaning: &'static str,
}

/// One mapping of the file (the top level, a kind of store, a channel).
pub struct Part {
    pub title: &'static str,
    pub intro: &'static str,
    pub keys: &'static [KeyDoc],
}

const fn key(
    key: &'static str,
    value: &'static str,
    default: &'static str,
    meaning: &'static str,
) -> KeyDoc {
    KeyDoc {
        key,
        value,
        default,
        meaning,
    }
}

const PASSWORD_KEYS_NOTE: &str = "Exactly one of password, password_command and password_env \
    must be given (oauth2_token_command replaces them for OAuth2).";

pub const TOP_LEVEL: Part = Part {
    title: "TOP LEVEL",
    intro: "The file is a YAML mapping with these keys.",
    keys: &[
        key(
            "stores",
            "mapping of NAME: store",
            "required",
            "The stores, each under a name of your choosing: an IMAP account, a Maildir tree or a \
             POP3 account. A name may not contain ':', '/' or blanks.",
        ),
        key(
            "channels",
            "mapping of NAME: channel",
            "none",
            "The channels: each pairs a far store with a near store and says what is synced \
             between them.",
        ),
        key(
            "groups",
            "mapping of NAME: [CHANNEL, ...]",
            "none",
            "Names for lists of channels, so that `mailferry sync GROUP` syncs them all. A group \
             may not have a channel's name and lists channels only.",
        ),
        key(
            "state_dir",
            "directory",
            "$XDG_STATE_HOME/mailferry, else ~/.local/state/mailferry",
            "Where the sync state (one file per folder pair, with its journal) and the channel \
             locks are kept. Deleting it makes the next sync pair the messages both sides hold \
             again by content, without copying them twice.",
        ),
        key(
            "post_sync",
            "shell command",
            "none",
            "Run with sh -c once after every `mailferry sync` (not with --dry-run), after the \
             channels' own post_sync. Its environment: MAILFERRY_CHANNELS (the channels synced, \
             one per line), MAILFERRY_EXIT_STATUS (what sync exits with), MAILFERRY_NEW and \
             MAILFERRY_UPLOADED (messages copied to the near and to the far side). What it \
             prints shows with -v; if it fails or hangs, a warning says so and the exit status \
             of the sync stays what it was. Example: post_sync: notmuch new --quiet",
        ),
        key(
            "hook_timeout",
            "seconds",
            "60",
            "How long a post_sync command may run; then it is stopped, with every process it \
             started, and a warning says so.",
        ),
    ],
};

pub const IMAP_STORE: Part = Part {
    title: "IMAP STORES",
    intro: "A store with type: imap is an account on an IMAP server.",
    keys: &[
        key("type", "imap", "required", "The kind of store."),
        key(
            "host",
            "host name or address",
            "required",
            "The IMAP server.",
        ),
        key(
            "port",
            "1-65535",
            "993 with tls: implicit, else 143",
            "The server's port.",
        ),
        key(
            "tls",
            "implicit | starttls | none",
            "implicit",
            "implicit: TLS from the first byte (port 993). starttls: a plain connection upgraded \
             with STARTTLS before login; mailferry stops if the server does not offer it. none: \
             no encryption at all, password included; only for servers on the same machine.",
        ),
        key(
            "ca_file",
            "PEM file, or a list of them",
            "none",
            "Extra trust roots: CA certificates, or self-signed server certificates (one file, \
             or a list as [a.pem, b.pem] for several, as several CertificateFile lines in \
             mbsync). The system's roots are trusted as well. The server's name must match its \
             certificate.",
        ),
        key(
            "tls_fingerprint",
            "sha256:HEX",
            "none",
            "Pins the server's certificate by the SHA-256 of its leaf certificate (colons and case \
             do not matter), for self-signed servers: the certificate is accepted if and only if \
             it matches, whatever signed it and whatever name it carries. Checked before anything \
             is sent, so a wrong pin never exposes the password. Not allowed with tls: none.",
        ),
        key(
            "tls_min_version",
            "1.2 | 1.3",
            "1.2",
            "The oldest TLS version accepted. 1.3 works where mailferry uses OpenSSL \
             (Linux, the BSDs); on macOS the Security framework speaks TLS 1.2 at most, \
             so 1.3 fails every connection there.",
        ),
        key(
            "user",
            "login name",
            "required, unless user_command or tunnel is given",
            "The login name on the server.",
        ),
        key(
            "user_command",
            "command",
            "none",
            "Instead of user: a command whose first line of output is the login name (mbsync's \
             UserCmd), run once per run as password_command is.",
        ),
        key(
            "tunnel",
            "command",
            "none",
            "A command whose standard input and output carry the IMAP conversation instead of a \
             TCP connection (mbsync's Tunnel), e.g. \"ssh mail.example.com /usr/lib/dovecot/imap\". \
             It runs through sh -c; host and port are then not given, and there is no TLS over \
             it (tls: none is implied; the command's own transport, ssh, protects it). A server \
             that greets with PREAUTH is used without a login, so no password is needed; \
             otherwise user and a password are sent as usual. The command is killed when the \
             connection ends.",
        ),
        key(
            "auth",
            "login | plain | xoauth2 | oauthbearer",
            "login",
            "How to authenticate: login (the IMAP LOGIN command), plain (SASL PLAIN), or with an \
             OAuth2 access token printed by oauth2_token_command: xoauth2 (Gmail, Microsoft 365) \
             or oauthbearer (RFC 7628).",
        ),
        key(
            "password",
            "text",
            "none; one of the three is required",
            "The password, written in the file. Keep the file private (chmod 600).",
        ),
        key(
            "password_command",
            "command",
            "none; one of the three is required",
            "A command that prints the password; the first line of its output is used. A plain \
             command line (words and quotes) runs directly; one with shell syntax (pipes, \
             redirections, $, backquotes, ;, &&, globs, ~) runs through sh -c. It runs with \
             stdin closed (it cannot prompt under cron); a failure is reported with what the \
             command printed on stderr. Example: pass show mail/work. In a template store of \
             migrate --accounts, {user} stands for each account's user.",
        ),
        key(
            "password_env",
            "variable name",
            "none; one of the three is required",
            "An environment variable holding the password.",
        ),
        key(
            "oauth2_token_command",
            "command",
            "required with auth: xoauth2 or oauthbearer",
            "A command that prints a valid OAuth2 access token on its first line, refreshing it \
             as needed, such as oama access USER or mutt_oauth2.py TOKENFILE. It is run at every \
             connection; the token is never printed.",
        ),
        key(
            "command_timeout",
            "seconds",
            "60",
            "How long password_command or oauth2_token_command may run. A command still running \
             then (waiting for a pinentry, a locked keyring) is stopped together with every \
             process it started (it runs in a process group of its own), and the run fails with \
             an error naming the command, never what it printed; the same happens when mailferry \
             is stopped by a signal while it waits.",
        ),
        key(
            "timeout",
            "seconds",
            "60",
            "How long to wait for the server to connect or answer.",
        ),
        key(
            "namespace",
            "prefix",
            "the server's",
            "The prefix the server puts before every folder name, in the server's own spelling, \
             such as INBOX. on Cyrus and Courier, which keep all folders below the inbox. It is \
             added to the names sent to the server and removed from the names it lists, so that \
             INBOX.Sent is the folder Sent. By default it is read from the server's NAMESPACE \
             answer (none on a server without NAMESPACE); set it to override that, \"\" for no \
             prefix. check and list show the namespace in use. Folders outside the personal \
             namespace (other users', shared) are synced only when a channel's folders: names \
             them.",
        ),
        key(
            "connections",
            "1-32",
            "4",
            "How many connections (folders synced at once) to use; a big folder's first pull \
             (2,000 messages or more) takes a second one when one is spare. Servers limit \
             connections per user; Dovecot allows 10.",
        ),
    ],
};

pub const MAILDIR_STORE: Part = Part {
    title: "MAILDIR STORES",
    intro: "A store with type: maildir is a tree of Maildir folders on this machine, as mutt, \
            neomutt, notmuch and Dovecot read them.",
    keys: &[
        key("type", "maildir", "required", "The kind of store."),
        key(
            "path",
            "directory",
            "required",
            "The root of the tree; created with the first folder.",
        ),
        key(
            "layout",
            "verbatim | maildir++ | flatten",
            "verbatim",
            "How folders nest. verbatim: the folder Work/Projects is the directory \
             PATH/Work/Projects and INBOX is PATH/INBOX. maildir++: Work/Projects is \
             PATH/.Work.Projects and INBOX is PATH itself (Dovecot's and Courier's layout). \
             flatten: Work/Projects is PATH/Work.Projects and INBOX is PATH/INBOX (mbsync's \
             Flatten .). With maildir++ and flatten, folder names may not contain dots.",
        ),
        key(
            "inbox",
            "directory",
            "where the layout puts it",
            "Where the INBOX lives, as mbsync's Inbox: a directory inside PATH under any name \
             (PATH/INBOX, PATH/inbox), PATH itself (then the other folders are below it), or a \
             directory elsewhere. That directory is only ever the INBOX: it is not listed as a \
             folder of its own name, and no other folder may map to it.",
        ),
        key(
            "line_endings",
            "lf | crlf",
            "lf",
            "How the message files mailferry writes end their lines. lf: the server's CRLF \
             becomes LF, as mail delivery agents, mail readers, mbsync and OfflineIMAP write \
             them. crlf: kept as the server sends them (what mailferry wrote before this key \
             existed). Files already there stay as they are either way, and switching needs no \
             new download. Either way, messages go to an IMAP server with CRLF.",
        ),
    ],
};

pub const POP3_STORE: Part = Part {
    title: "POP3 STORES",
    intro: "A store with type: pop3 is a POP3 mailbox. It can only be read, so it can be the far \
            side of a channel, never the near side.",
    keys: &[
        key("type", "pop3", "required", "The kind of store."),
        key(
            "host",
            "host name or address",
            "required",
            "The POP3 server.",
        ),
        key(
            "port",
            "1-65535",
            "995 with tls: implicit, else 110",
            "The server's port.",
        ),
        key(
            "tls",
            "implicit | starttls | none",
            "implicit",
            "As for IMAP; starttls uses the STLS command.",
        ),
        key("ca_file", "PEM file", "none", "As for IMAP."),
        key("tls_fingerprint", "sha256:HEX", "none", "As for IMAP."),
        key("tls_min_version", "1.2 | 1.3", "1.2", "As for IMAP."),
        key(
            "user",
            "login name",
            "required",
            "The login name on the server.",
        ),
        key(
            "password",
            "text",
            "none; one of the three is required",
            "As for IMAP.",
        ),
        key(
            "password_command",
            "command",
            "none; one of the three is required",
            "As for IMAP.",
        ),
        key(
            "password_env",
            "variable name",
            "none; one of the three is required",
            "As for IMAP.",
        ),
        key("command_timeout", "seconds", "60", "As for IMAP."),
        key(
            "auth",
            "user | plain | apop",
            "plain or user over TLS, apop without",
            "How to log in: user (USER and PASS), plain (SASL PLAIN through AUTH) or apop (a \
             digest, so the password is not sent). Without it, AUTH PLAIN when the server offers \
             it, else USER/PASS, over TLS; APOP on a connection without TLS.",
        ),
        key(
            "uidl",
            "server | content-hash",
            "server",
            "How messages are told apart: server uses the UIDL the server gives. content-hash \
             is for servers without UIDL: every message is downloaded on every run to hash it.",
        ),
        key("timeout", "seconds", "60", "As for IMAP."),
        key(
            "leave_on_server",
            "true | false",
            "true",
            "Whether fetched messages stay on the server. false deletes each message once it is \
             safely stored on the near side.",
        ),
        key(
            "delete_after_days",
            "days",
            "never",
            "With leave_on_server: true, delete a message from the server this many days after \
             it was fetched.",
        ),
    ],
};

pub const CHANNEL: Part = Part {
    title: "CHANNELS",
    intro: "A channel pairs two stores. The far side is usually the server, the near side the \
            Maildir; both may be IMAP (a migration). Folders are paired by name.",
    keys: &[
        key("far", "store name", "required", "The far store."),
        key(
            "near",
            "store name",
            "required",
            "The near store; not a POP3 store, and not the far one.",
        ),
        key(
            "folders",
            "[PATTERN, ...]",
            "[\"*\"]",
            "Which folders to sync, from the names both sides have: * matches any characters, \
             % any but the level separator /, a leading ! excludes, and the last pattern that \
             matches a folder decides. Example: [\"*\", \"!Junk\", \"!Archive/*\"]. Two kinds \
             of server folder are synced only when a pattern names them exactly (no wildcard): \
             folders outside the personal namespace (other users', shared), and a folder marked \
             \\All, such as Gmail's [Gmail]/All Mail, which holds a second copy of every message \
             of every other folder. mailferry list and sync -v say which were left out.",
        ),
        key(
            "folder_map",
            "mapping of FAR_NAME: NEAR_NAME",
            "none",
            "Folders named differently on the two sides, for example {\"[Gmail]/Sent Mail\": \
             Sent}. The folders patterns select near-side names, after this mapping. Two far \
             folders may not map to one near folder.",
        ),
        key(
            "direction",
            "both | pull | push",
            "both",
            "Which ways changes travel: pull is far to near only (a backup), push near to far \
             only.",
        ),
        key(
            "sync",
            "[new, flags, delete]",
            "[new, flags, delete]",
            "What travels: new messages, flag changes (seen, flagged, answered, deleted, draft), \
             and deletions of messages that were on both sides. [] copies nothing.",
        ),
        key(
            "expunge",
            "both | far | near | none",
            "both",
            "Where messages flagged deleted are removed for good at the end of a sync.",
        ),
        key(
            "create",
            "both | far | near | none",
            "both",
            "Where a folder that exists only on the other side may be created (INBOX is \
             always created, as mbsync does). A folder renamed on one side, with the folders below it, is renamed on the other where this \
             allows creating folders (the messages are not copied again).",
        ),
        key(
            "remove",
            "both | far | near | none",
            "none",
            "Where a folder deleted on the other side may be deleted too, provided it holds \
             nothing the other side never saw; elsewhere it is created again on the side that \
             deleted it. A rename is not a deletion: it is followed under every setting.",
        ),
        key(
            "max_messages",
            "count",
            "no limit",
            "Copy only the newest this many messages of each folder; older ones are skipped, \
             nothing is deleted for it.",
        ),
        key(
            "max_size",
            "bytes, or a size such as 512k, 10M, 1G",
            "no limit",
            "Do not copy larger messages; each one skipped is reported.",
        ),
        key(
            "max_delete_ratio",
            "0.0-1.0",
            "0.5",
            "A plan that would delete more than this share of a folder holding over 20 \
             messages stops with an explanation unless sync is given --force (think of a \
             server that suddenly reports a folder empty).",
        ),
        key(
            "trash",
            "mapping: far: FOLDER, near: FOLDER, new_only: true | false, remote_new: true | false",
            "none (messages are deleted)",
            "A trash folder per side, as mbsync's Trash: a message about to leave a side's \
             folder for good (deleted on the other side, or flagged deleted and expunged) is \
             first moved into that side's trash folder, created if missing, so a deletion made \
             by mistake on one device can be undone from the other. The folder is named as that \
             side's store names it; give far, near or both. On a server with MOVE the message \
             is moved in one step; without it, it is copied and then expunged (UID EXPUNGE \
             where the server has UIDPLUS), both carrying its flags over, \\Deleted included for \
             a message expunged because it was flagged deleted; in a Maildir its file is \
             renamed into the trash's cur/ (its T flag dropped). Each step is journaled: a run killed at any moment \
             leaves the message once in the trash and out of its folder after the next run. \
             new_only (default false; mbsync's TrashNewOnly) trashes only messages that were \
             never synced (new on that side and flagged deleted there): a synced one is \
             deleted, since the other side had it. remote_new (default false; mbsync's \
             TrashRemoteNew): a message new on one side that is flagged deleted and expunged \
             there before any sync copied it is first uploaded (without its deleted flag) into \
             the other side's trash folder, then deleted where it was, journaled so that a \
             killed run leaves it once in that trash. The trash folder itself is not trashed into: \
             what leaves it is deleted. If the channel's folders include the trash folder, it \
             is synced like any other folder, as mbsync does: a message trashed on one side is \
             new in that side's trash and is copied to the other side's trash by a later sync \
             (where both trashes already hold it, the two copies are paired, not doubled). \
             Example: trash: {near: Trash}",
        ),
        key(
            "max_age",
            "days, written 90d",
            "none (every message)",
            "A date window, as OfflineIMAP's maxage: only messages that arrived in the last \
             this many days (counted in whole days, UTC) are synced. Outside the window \
             mailferry leaves a message alone on both sides: it is not copied, not deleted \
             and its flags are not synced, so mail that ages out of the window stays where it \
             is, and older mail deleted on one side is not deleted on the other. Arrival is the \
             server's INTERNALDATE (asked with UID SEARCH BEFORE, by its date) and, in a \
             Maildir, the file's modification time: the same instant, since mailferry sets it \
             to the INTERNALDATE when it writes a message and a delivery agent writes the file \
             on arrival (the Date header is not used: it is the sender's clock, and reading it \
             means reading every file). A message within a day of the window's edge may be \
             judged a day either way. Needs an IMAP far store. Example: max_age: 90d",
        ),
        key(
            "since",
            "date YYYY-MM-DD",
            "none",
            "A date window from a fixed day, as OfflineIMAP's startdate: only messages that \
             arrived on or after it are synced, with the rules of max_age. With both, the \
             window starts at the later of the two.",
        ),
        key(
            "prune_local",
            "true | false",
            "false",
            "With max_age or since: delete the local (near) copy of a message outside the \
             window that the far side still holds, to keep a small disk small. The server's \
             copy is never touched, and the state remembers the pruned message, so the next \
             sync neither downloads it again nor takes the missing local copy for a deletion \
             to make on the server. Messages only the near side has are kept. The first sync \
             after turning it on may prune more than max_delete_ratio allows and then asks \
             for --force.",
        ),
        key(
            "watch",
            "list of folder names",
            "[]",
            "Folders that mailferry watch keeps open in IMAP IDLE besides INBOX, so changes \
             there are synced within seconds; other folders wait for the next full sync.",
        ),
        key(
            "interval",
            "seconds, or a duration such as 90s, 15m, 2h (at least 10s)",
            "15m",
            "How often mailferry watch runs a full sync of the channel anyway.",
        ),
        key(
            "poll_interval",
            "seconds, or a duration such as 30s, 2m (at least 10s)",
            "1m",
            "On a server without IDLE, how often mailferry watch syncs each watched folder \
             instead. Its first line says which folders are kept in IDLE and which are polled, \
             and how often.",
        ),
        key(
            "post_sync",
            "shell command",
            "none",
            "Run with sh -c after each sync of this channel by `mailferry sync` (not with \
             --dry-run), whether the sync succeeded or not. Its environment: MAILFERRY_CHANNEL, \
             MAILFERRY_EXIT_STATUS (0 done, 1 something failed, 3 another run held the lock), \
             MAILFERRY_NEW (messages copied to the near side), MAILFERRY_NEW_BY_FOLDER (a line \
             FOLDER=COUNT per folder that got new messages) and MAILFERRY_UPLOADED. Bounded by \
             the top-level hook_timeout; a failure is a warning, not a failed sync.",
        ),
        key(
            "on_new_mail",
            "shell command",
            "none",
            "Run with sh -c by mailferry watch each time a sync of this channel brought new \
             messages to the near side, with the environment of post_sync (MAILFERRY_NEW, \
             MAILFERRY_NEW_BY_FOLDER, ...). Example: on_new_mail: notify-send \
             \"$MAILFERRY_NEW new message(s)\"",
        ),
    ],
};

/// Every part, in the page's order.
pub const PARTS: &[&Part] = &[
    &TOP_LEVEL,
    &IMAP_STORE,
    &MAILDIR_STORE,
    &POP3_STORE,
    &CHANNEL,
];

const EXAMPLE: &str = r#"stores:
  work:
    type: imap
    host: imap.example.com
    user: alice@example.com
    password_command: pass show mail/work
  laptop:
    type: maildir
    path: ~/Mail/work
channels:
  work:
    far: work
    near: laptop
    folders: ["*", "!Junk"]
groups:
  everything: [work]"#;

/// Text for roff: backslashes and hyphens escaped, and no line may start
/// with a control character.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    escaped
        .lines()
        .map(|line| {
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The page, in roff.
pub fn render() -> String {
    let mut page = String::new();
    let version = env!("CARGO_PKG_VERSION");
    let _ = writeln!(
        page,
        ".TH mailferry.yaml 5 \"\" \"mailferry {version}\" \"File Formats Manual\""
    );
    page.push_str(".SH NAME\nmailferry.yaml \\- the configuration file of mailferry\n");
    page.push_str(".SH SYNOPSIS\n");
    page.push_str(&roff(
        "~/.config/mailferry/config.yaml, or $XDG_CONFIG_HOME/mailferry/config.yaml, or the file \
         named by $MAILFERRY_CONFIG or by --config FILE.",
    ));
    page.push_str("\n.SH DESCRIPTION\n");
    page.push_str(&roff(
        "The configuration is YAML. It defines stores (the mailboxes: IMAP accounts, Maildir \
         trees, POP3 accounts), channels (pairs of stores and what to sync between them) and \
         groups (names for several channels). Unknown keys are errors, and every error names \
         the file, the line and the key, for example config.yaml:12: stores.work.port: 0 is not \
         a port. ~ at the start of a path means $HOME. mailferry check reads the file and tries \
         every store.",
    ));
    page.push('\n');
    for part in PARTS {
        let _ = writeln!(page, ".SH {}", part.title);
        page.push_str(&roff(part.intro));
        page.push('\n');
        for doc in part.keys {
            let _ = writeln!(
                page,
                ".TP\n\\fB{}\\fR: \\fI{}\\fR",
                roff(doc.key),
                roff(doc.value)
            );
            page.push_str(&roff(doc.meaning));
            let _ = writeln!(page, "\n.br\nDefault: {}.", roff(doc.default));
        }
        if part.keys.iter().any(|doc| doc.key == "password") {
            let _ = writeln!(page, ".PP\n{}", roff(PASSWORD_KEYS_NOTE));
        }
    }
    page.push_str(".SH GROUPS\n");
    page.push_str(&roff(
        "groups maps each group name to a list of channel names: everything: [work, home].",
    ));
    page.push_str("\n.SH STORES AS TEMPLATES\n");
    page.push_str(&roff(
        "mailferry migrate FROM TO --accounts FILE moves many accounts with the settings of two \
         stores: for each account of FILE, FROM and TO are copied with the account's source and \
         target user in user (user_command is not run), and in password_command, \
         oauth2_token_command and a maildir store's path {user} is replaced by that user \
         (quoted for the shell in commands). A password or password_env of the template is the \
         same for every account, unless the list gives the account its own variable or command. \
         Each account's state is under STATE_DIR/accounts/NAME/.",
    ));
    page.push_str("\n.SH FOLDER NAMES\n");
    page.push_str(&roff(
        "Folders are named as on the server, with / between levels and INBOX for the inbox, \
         whatever separator the server uses. A name that could leave the Maildir root (.., an \
         absolute path, control characters) or that Maildir reserves (cur, new, tmp) is refused \
         with an error for that folder, and the other folders are synced.",
    ));
    page.push_str("\n.SH EXAMPLE\n.nf\n.RS 4\n");
    page.push_str(&roff(EXAMPLE));
    page.push_str("\n.RE\n.fi\n");
    page.push_str(".SH FILES\n.TP\n~/.config/mailferry/config.yaml\nThe configuration.\n");
    page.push_str(".TP\n~/.local/state/mailferry/\nSync state and locks (see state_dir).");
    page.push_str("\n.SH SEE ALSO\n");
    page.push_str("\\fBmailferry\\fR(1), \\fBmailferry\\-sync\\fR(1), \\fBmailferry\\-check\\fR(1), \\fBmailferry\\-import\\-mbsyncrc\\fR(1), \\fBmbsync\\fR(1)\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    /// The keys the config parser accepts in a mapping, read from its own
    /// "unknown key, expected one of ..." error, so the parser needs no list
    /// kept for this test.
    fn accepted_keys(yaml_with_unknown_key: &str) -> Vec<String> {
        let err = Config::from_yaml(yaml_with_unknown_key, Path::new("t.yaml"))
            .expect_err("an unknown key must be refused");
        let message = err.message;
        let list = message
            .split_once("expected one of ")
            .or_else(|| message.split_once("expected "))
            .map(|(_, list)| list)
            .unwrap_or_else(|| panic!("no key list in {message:?}"));
        list.split([',', ' '])
            .map(str::trim)
            .filter(|word| !word.is_empty() && *word != "or")
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_key_the_parser_accepts_is_documented() {
        let probes: [(&Part, &str); 5] = [
            (&TOP_LEVEL, "stores: {}\nnot_a_key: 1\n"),
            (
                &IMAP_STORE,
                "stores:\n  s:\n    type: imap\n    not_a_key: 1\n",
            ),
            (
                &MAILDIR_STORE,
                "stores:\n  s:\n    type: maildir\n    not_a_key: 1\n",
            ),
            (
                &POP3_STORE,
                "stores:\n  s:\n    type: pop3\n    not_a_key: 1\n",
            ),
            (&CHANNEL, "stores: {}\nchannels:\n  c:\n    not_a_key: 1\n"),
        ];
        for (part, probe) in probes {
            let keys = accepted_keys(probe);
            assert!(keys.len() >= 3, "{}: {keys:?}", part.title);
            for key in keys {
                assert!(
                    part.keys.iter().any(|doc| doc.key == key),
                    "the key {key:?} of {} is not in mailferry.yaml(5): add it to src/cli/config_manual.rs",
                    part.title
                );
            }
        }
    }

    #[test]
    fn page_lists_every_documented_key_with_its_default() {
        let page = render();
        for part in PARTS {
            assert!(page.contains(&format!(".SH {}\n", part.title)));
            for doc in part.keys {
                assert!(
                    page.contains(&format!("\\fB{}\\fR: ", roff(doc.key))),
                    "{}",
                    doc.key
                );
            }
        }
        assert_eq!(
            page.matches("\n.br\nDefault: ").count(),
            PARTS.iter().map(|p| p.keys.len()).sum::<usize>()
        );
    }

    #[test]
    fn roff_escapes_what_roff_would_read_as_commands() {
        assert_eq!(roff("a-b \\x"), "a\\-b \\ex");
        assert_eq!(roff(".hidden\n'quote"), "\\&.hidden\n\\&'quote");
    }
}
