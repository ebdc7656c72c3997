//! The personal namespace read from the server (RFC 2342): on a server that
//! keeps every folder below `INBOX.` (as Cyrus and Courier do; here Dovecot
//! configured the same way) `INBOX.Work` is `Work` locally and a folder made
//! locally lands below the prefix; `namespace:` overrides; folders outside
//! the personal namespace are synced only when named.

use super::common::{run_ok, stderr};
use super::folders::{assert_nothing_to_do, device};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::local::{deliver, read_folder};
use crate::support::mail::message_with;
use std::fs;

/// A Dovecot whose personal folders live below `INBOX.`, separator `.`.
fn prefixed_server() -> Dovecot {
    Dovecot::start_with(DovecotOptions {
        personal_namespace: Some(("INBOX.".to_string(), '.')),
        ..DovecotOptions::default()
    })
}

#[test]
fn folders_below_the_servers_inbox_prefix_are_local_top_level_folders() {
    let dovecot = prefixed_server();
    let mut client = dovecot.client("alice");
    client.create("INBOX.Work");
    client.append("INBOX.Work", &message_with("work", "w"), &[], None);
    client.append("INBOX", &message_with("inbox", "i"), &[], None);
    let (env, maildir) = device(&dovecot, "alice", "verbatim", "");

    let checked = run_ok(&env, &["check"]);
    let text = String::from_utf8_lossy(&checked.stdout);
    assert!(
        text.contains("prefix \"INBOX.\"") && text.contains("NAMESPACE ((\"INBOX.\" \".\"))"),
        "check shows the namespace in use:\n{text}"
    );

    run_ok(&env, &["sync", "mail"]);
    assert_eq!(
        read_folder(&maildir.join("Work")).len(),
        1,
        "INBOX.Work is Work"
    );
    assert_eq!(
        read_folder(&maildir.join("INBOX")).len(),
        1,
        "INBOX stays INBOX"
    );
    assert!(
        !maildir.join("INBOX").join("Work").exists(),
        "nothing lands below a local INBOX/"
    );

    // A folder made locally at the top is made below the prefix.
    deliver(
        &maildir.join("New"),
        "1700000000.n1.host",
        &message_with("new", "n"),
    );
    run_ok(&env, &["sync", "mail"]);
    assert!(
        client.folders().contains(&"INBOX.New".to_string()),
        "{:?}",
        client.folders()
    );
    assert_eq!(client.count("INBOX.New"), 1);
    assert_nothing_to_do(&env);

    let listed = run_ok(&env, &["list", "server"]);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(out.lines().any(|l| l.starts_with("Work\t1\t")), "{out}");
    assert!(out.contains("\tINBOX.Work"), "native name shown:\n{out}");
    assert!(
        stderr(&listed).contains("prefix \"INBOX.\""),
        "list names the namespace in use:\n{}",
        stderr(&listed)
    );
}

#[test]
fn the_configs_namespace_overrides_the_servers_answer() {
    let dovecot = prefixed_server();
    let mut client = dovecot.client("alice");
    client.create("INBOX.Work");
    client.append("INBOX.Work", &message_with("work", "w"), &[], None);
    let (mut env, maildir) = device(&dovecot, "alice", "verbatim", "");
    // No prefix, as the config says: the folder keeps its full name.
    let config =
        fs::read_to_string(env.xdg_config_home().join("mailferry").join("config.yaml")).unwrap();
    let config = config.replace(
        "    user: alice\n",
        "    user: alice\n    namespace: \"\"\n",
    );
    env.write_config(&config);

    let checked = run_ok(&env, &["check"]);
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("from the config"),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    run_ok(&env, &["sync", "mail"]);
    assert_eq!(read_folder(&maildir.join("INBOX").join("Work")).len(), 1);
    assert!(!maildir.join("Work").exists());
}

#[test]
fn shared_folders_are_synced_only_when_the_channel_names_them() {
    let shared = tempfile::Builder::new()
        .prefix("mfpub-")
        .tempdir_in("/tmp")
        .unwrap();
    let dovecot = Dovecot::start_with(DovecotOptions {
        extra_config: format!(
            "namespace public {{\n  type = public\n  prefix = Public/\n  separator = /\n  \
             location = maildir:{}:LAYOUT=fs:INDEX=MEMORY\n  list = yes\n  subscriptions = no\n}}\n",
            shared.path().display()
        ),
        ..DovecotOptions::default()
    });
    let (uid, gid) = dovecot.mail_owner();
    std::os::unix::fs::chown(shared.path(), Some(uid), Some(gid)).unwrap();
    let mut client = dovecot.client("alice");
    client.create("Public/Team");
    client.append("Public/Team", &message_with("team", "t"), &[], None);
    client.create("Mine");
    client.append("Mine", &message_with("mine", "m"), &[], None);

    let (env, maildir) = device(&dovecot, "alice", "verbatim", "");
    let synced = run_ok(&env, &["-v", "sync", "mail"]);
    assert_eq!(read_folder(&maildir.join("Mine")).len(), 1);
    assert!(
        !maildir.join("Public").exists(),
        "the shared folder is left out"
    );
    assert!(
        stderr(&synced).contains("Public/Team is not synced")
            && stderr(&synced).contains("outside the personal namespace"),
        "-v says why:\n{}",
        stderr(&synced)
    );
    let listed = run_ok(&env, &["list", "server"]);
    assert!(
        stderr(&listed).contains("Public/Team (it lies outside the personal namespace)"),
        "{}",
        stderr(&listed)
    );
    assert_nothing_to_do(&env);

    let (named, named_maildir) = device(
        &dovecot,
        "alice",
        "verbatim",
        "    folders: [\"*\", \"Public/Team\"]\n",
    );
    run_ok(&named, &["sync", "mail"]);
    assert_eq!(
        read_folder(&named_maildir.join("Public").join("Team")).len(),
        1
    );
    // A message added locally goes to the shared folder, not below a prefix.
    deliver(
        &named_maildir.join("Public").join("Team"),
        "1700000000.t2.host",
        &message_with("team 2", "t2"),
    );
    run_ok(&named, &["sync", "mail"]);
    assert_eq!(client.count("Public/Team"), 2);
    assert_nothing_to_do(&named);
}

/// A folder marked `\All` (here Dovecot's virtual plugin gathering every
/// message, as Gmail's All Mail does) is left out unless named.
#[test]
fn an_all_folder_is_synced_only_when_named() {
    let virtual_root = tempfile::Builder::new()
        .prefix("mfvirt-")
        .tempdir_in("/tmp")
        .unwrap();
    let all = virtual_root.path().join("All");
    fs::create_dir_all(&all).unwrap();
    fs::write(all.join("dovecot-virtual"), "INBOX\n  all\n").unwrap();
    let dovecot = Dovecot::start_with(DovecotOptions {
        extra_config: format!(
            "mail_plugins = $mail_plugins virtual\n\
             namespace virtual {{\n  prefix = Virtual/\n  separator = /\n  \
             location = virtual:{}:INDEX=MEMORY\n  list = yes\n  subscriptions = no\n  \
             mailbox All {{\n    special_use = \\All\n  }}\n}}\n",
            virtual_root.path().display()
        ),
        ..DovecotOptions::default()
    });
    let (uid, gid) = dovecot.mail_owner();
    for path in [virtual_root.path(), all.as_path()] {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
    let mut client = dovecot.client("alice");
    client.append("INBOX", &message_with("once", "o"), &[], None);
    assert_eq!(client.count("Virtual/All"), 1, "the virtual folder works");

    let (env, maildir) = device(&dovecot, "alice", "verbatim", "");
    let listed = run_ok(&env, &["list", "server"]);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(out.contains("Virtual/All\t1\t\\All"), "{out}");
    assert!(
        stderr(&listed).contains("Virtual/All (it is marked \\All"),
        "list says it is left out:\n{}",
        stderr(&listed)
    );
    let synced = run_ok(&env, &["-v", "sync", "mail"]);
    assert!(
        stderr(&synced).contains("folder Virtual/All is not synced"),
        "{}",
        stderr(&synced)
    );
    assert_eq!(read_folder(&maildir.join("INBOX")).len(), 1);
    assert!(!maildir.join("Virtual").exists(), "no second copy");
    assert_nothing_to_do(&env);

    let (named, named_maildir) = device(
        &dovecot,
        "alice",
        "verbatim",
        "    folders: [\"*\", \"Virtual/All\"]\n",
    );
    run_ok(&named, &["sync", "mail"]);
    assert_eq!(
        read_folder(&named_maildir.join("Virtual").join("All")).len(),
        1,
        "named, it is synced"
    );
}
