//! Maildir trees laid out as mbsync users have them (an `Inbox` inside or
//! equal to `Path`, a lower-case `inbox`, `Flatten .`), made by the real
//! mbsync and then synced by mailferry configured with `inbox:` and
//! `layout: flatten`: nothing is downloaded or uploaded again, no folder is
//! created on either side, and later mail lands where mbsync put its own.

use super::common::{assert_no_duplicates, env, local_view, run_ok, server_view};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::local::deliver;
use crate::support::mail::{message_with, sample_date, sample_message};
use crate::support::mbsync::Mbsync;
use crate::support::traffic::{ServerLog, LOG_CONFIG};
use std::fs;
use std::path::{Path, PathBuf};

/// The seeded account: folders (one nested) and message counts.
const FOLDERS: [(&str, u64); 4] = [
    ("INBOX", 12),
    ("Work", 6),
    ("Work/Projects", 5),
    ("Lists", 4),
];

/// One way mbsync users lay out their Maildir.
struct Layout {
    /// The MaildirStore lines of the .mbsyncrc, for the root `{root}`.
    mbsync: &'static str,
    /// The same in mailferry's Maildir store keys.
    mailferry: &'static str,
    /// Where mbsync keeps each folder, relative to the root.
    dirs: [&'static str; 4],
}

fn fill(template: &str, root: &Path) -> String {
    template.replace("{root}", &root.display().to_string())
}

/// An account seeded with [`FOLDERS`], mirrored by mbsync into a tree laid
/// out as `layout` says; mailferry is configured on the same tree but has
/// never run.
fn synced_by_mbsync(layout: &Layout) -> (Dovecot, TestEnv, PathBuf) {
    let dovecot = Dovecot::start_with(DovecotOptions {
        extra_config: LOG_CONFIG.to_string(),
        ..DovecotOptions::default()
    });
    let mut client = dovecot.client("alice");
    for (index, (folder, count)) in FOLDERS.iter().enumerate() {
        if *folder != "INBOX" {
            client.create(folder);
        }
        for n in 0..*count {
            let seed = 100 * index as u64 + n;
            let flags: &[&str] = if n % 3 == 0 { &[] } else { &["\\Seen"] };
            client.append(
                folder,
                &sample_message(seed),
                flags,
                Some(sample_date(seed)),
            );
        }
    }
    client.logout();
    let mut env = env();
    let root = env.root().join("Mail/alice");
    let mbsync = Mbsync::with_maildir_store(
        &dovecot,
        "alice",
        &root,
        &fill(layout.mbsync, &root),
        env.root(),
    );
    mbsync.sync();
    for (folder, _) in FOLDERS {
        let dir = folder_dir(&root, layout, folder);
        assert!(
            dir.join("cur").is_dir(),
            "mbsync kept {folder} elsewhere than {}",
            dir.display()
        );
    }
    let yaml = format!(
        "stores:\n{server}  local:\n    type: maildir\n{store}\
         channels:\n  mail:\n    far: server\n    near: local\nstate_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", "alice", "implicit"),
        store = fill(layout.mailferry, &root),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml);
    (dovecot, env, root)
}

fn folder_dir(root: &Path, layout: &Layout, folder: &str) -> PathBuf {
    let index = FOLDERS
        .iter()
        .position(|(name, _)| *name == folder)
        .unwrap();
    root.join(layout.dirs[index])
}

/// Fails unless each folder holds the same messages with the same flags on
/// the server and in mbsync's directory for it, each once, and the server
/// has no folder besides [`FOLDERS`].
fn assert_in_step(dovecot: &Dovecot, root: &Path, layout: &Layout) {
    let mut client = dovecot.client("alice");
    let mut folders = client.folders();
    folders.sort();
    let mut expected: Vec<String> = FOLDERS.iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    assert_eq!(folders, expected, "folders on the server");
    for (folder, _) in FOLDERS {
        let server = server_view(&mut client, folder);
        let local = local_view(&folder_dir(root, layout, folder));
        assert_no_duplicates(&server, &format!("server {folder}"));
        assert_no_duplicates(&local, &format!("Maildir {folder}"));
        assert_eq!(server, local, "folder {folder} differs");
    }
    client.logout();
}

/// The directories directly in the root, as a user lists them.
fn root_entries(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The whole story for one layout: adopt mbsync's state, sync with no
/// transfer, then a message each way lands where mbsync keeps its folder.
fn mbsync_tree_is_synced_in_place(layout: Layout) {
    let (dovecot, env, root) = synced_by_mbsync(&layout);
    let entries_before = root_entries(&root);
    let total: u64 = FOLDERS.iter().map(|(_, count)| count).sum();

    let adopt = run_ok(
        &env,
        &["adopt", "mail", "--from-mbsync", root.to_str().unwrap()],
    );
    let adopted = String::from_utf8_lossy(&adopt.stdout);
    assert!(
        adopted.contains("mail:INBOX: 12 paired, 0 local only, 0 server only"),
        "{adopted}"
    );
    assert!(
        adopted.contains("mail:Work/Projects: 5 paired, 0 local only, 0 server only"),
        "{adopted}"
    );

    let log = ServerLog::mark(&dovecot);
    let sync = run_ok(&env, &["sync", "mail", "-v"]);
    let traffic = log.traffic();
    let stdout = String::from_utf8_lossy(&sync.stdout);
    assert_eq!(traffic.bodies_fetched, 0, "{traffic:?}\n{stdout}");
    assert_eq!(traffic.saved, 0, "{traffic:?}\n{stdout}");
    assert!(
        stdout.contains(
            "to near: 0 new, 0 flag changes, 0 deleted; to far: 0 new, 0 flag changes, 0 deleted"
        ),
        "{stdout}"
    );
    assert_eq!(
        root_entries(&root),
        entries_before,
        "the sync changed the tree"
    );
    assert_in_step(&dovecot, &root, &layout);

    // New mail both ways goes where mbsync keeps the folders.
    let mut client = dovecot.client("alice");
    client.append("INBOX", &message_with("new on the server", "hi"), &[], None);
    client.logout();
    deliver(
        &folder_dir(&root, &layout, "Work/Projects"),
        "1700000000.local1.laptop",
        &message_with("written locally", "draft"),
    );
    let sync = run_ok(&env, &["sync", "mail", "-v"]);
    let stdout = String::from_utf8_lossy(&sync.stdout);
    assert!(
        stdout.contains(
            "to near: 1 new, 0 flag changes, 0 deleted; to far: 1 new, 0 flag changes, 0 deleted"
        ),
        "{stdout}"
    );
    assert_eq!(
        root_entries(&root),
        entries_before,
        "the sync changed the tree"
    );
    assert_in_step(&dovecot, &root, &layout);
    let local: usize = FOLDERS
        .iter()
        .map(|(folder, _)| local_view(&folder_dir(&root, &layout, folder)).len())
        .sum();
    assert_eq!(local as u64, total + 2);
}

#[test]
fn flatten_with_the_inbox_inside_the_root() {
    mbsync_tree_is_synced_in_place(Layout {
        mbsync: "Path {root}/\nInbox {root}/INBOX\nFlatten .\n",
        mailferry: "    path: {root}/\n    inbox: {root}/INBOX\n    layout: flatten\n",
        dirs: ["INBOX", "Work", "Work.Projects", "Lists"],
    });
}

#[test]
fn lower_case_inbox_inside_the_root() {
    mbsync_tree_is_synced_in_place(Layout {
        mbsync: "Path {root}/\nInbox {root}/inbox\nSubFolders Verbatim\n",
        mailferry: "    path: {root}/\n    inbox: {root}/inbox\n",
        dirs: ["inbox", "Work", "Work/Projects", "Lists"],
    });
}

#[test]
fn inbox_equal_to_the_root() {
    mbsync_tree_is_synced_in_place(Layout {
        mbsync: "Path {root}/\nInbox {root}\nSubFolders Verbatim\n",
        mailferry: "    path: {root}\n    inbox: {root}/\n",
        dirs: ["", "Work", "Work/Projects", "Lists"],
    });
}

#[test]
fn flatten_with_the_inbox_equal_to_the_root() {
    mbsync_tree_is_synced_in_place(Layout {
        mbsync: "Path {root}/\nInbox {root}\nFlatten .\n",
        mailferry: "    path: {root}/\n    inbox: {root}\n    layout: flatten\n",
        dirs: ["", "Work", "Work.Projects", "Lists"],
    });
}
