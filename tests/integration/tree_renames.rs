//! Folder trees renamed as a whole (issue 15): `Lists` with `Lists/rust`
//! and `Lists/debian` renamed to `Mailing`, on the server by IMAP RENAME or
//! locally by renaming the directories (both Maildir layouts), under
//! `remove: none` and `remove: both`. The next sync makes the same rename
//! on the other side: every message once on each side under the new names,
//! nothing left or brought back under the old ones, nothing copied again, a
//! message deleted after the rename deleted on both sides (the folders'
//! states followed them), and a further sync has nothing to do. Also when that sync is killed
//! half-way, and when the server refuses the rename.

use super::common::{run_ok, stderr};
use super::folders::{assert_nothing_to_do, device, listed, local_dir, names};
use super::kills::{run_and_kill, RunEnd};
use super::scenario::{soak_factor, Rng};
use crate::support::dovecot::{Dovecot, DovecotOptions, ServerLayout};
use crate::support::env::TestEnv;
use crate::support::local::read_folder;
use crate::support::mail::{sample_date, sample_message};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The synced tree and the messages of each folder, by seed.
const TREE: [(&str, &[u64]); 4] = [
    ("Lists", &[0, 1, 2]),
    ("Lists/debian", &[10, 11]),
    ("Lists/rust", &[20, 21]),
    ("Other", &[30]),
];

/// Old name to new name, for the renamed folders.
const RENAMED: [(&str, &str); 3] = [
    ("Lists", "Mailing"),
    ("Lists/debian", "Mailing/debian"),
    ("Lists/rust", "Mailing/rust"),
];

const FOLDERS_AFTER: [&str; 5] = [
    "INBOX",
    "Mailing",
    "Mailing/debian",
    "Mailing/rust",
    "Other",
];

/// What a folder held on each side before the rename: the server's UIDs,
/// the Maildir's unique names and the Message-IDs. A message copied again
/// would get a new UID or a new unique name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    uids: Vec<u32>,
    uniques: Vec<String>,
    ids: BTreeSet<String>,
}

/// One device on `user`'s account, its tree synced once.
struct Synced {
    env: TestEnv,
    maildir: PathBuf,
    layout: &'static str,
    user: String,
    /// Per folder of [`TREE`].
    before: Vec<Held>,
}

fn remove_key(remove: &str) -> String {
    format!("    remove: {remove}\n")
}

fn synced_tree(dovecot: &Dovecot, user: &str, layout: &'static str, remove: &str) -> Synced {
    let mut client = dovecot.client(user);
    for (folder, seeds) in TREE {
        client.create(folder);
        for &seed in seeds {
            client.append(folder, &sample_message(seed), &[], Some(sample_date(seed)));
        }
    }
    let (env, maildir) = device(dovecot, user, layout, &remove_key(remove));
    run_ok(&env, &["sync", "mail"]);
    let before = TREE
        .iter()
        .map(|(folder, seeds)| {
            let held = held(dovecot, user, &maildir, layout, folder);
            assert_eq!(held.ids.len(), seeds.len(), "{folder} after the first sync");
            held
        })
        .collect();
    Synced {
        env,
        maildir,
        layout,
        user: user.to_string(),
        before,
    }
}

/// What `folder` holds on both sides; they must agree, each message once.
fn held(dovecot: &Dovecot, user: &str, maildir: &Path, layout: &str, folder: &str) -> Held {
    let server = dovecot.client(user).messages(folder);
    let local = read_folder(&local_dir(maildir, layout, folder));
    let server_ids: Vec<String> = server.iter().filter_map(|m| m.message_id.clone()).collect();
    let local_ids: Vec<String> = local.iter().filter_map(|m| m.message_id()).collect();
    let ids: BTreeSet<String> = server_ids.iter().cloned().collect();
    assert_eq!(
        ids.len(),
        server.len(),
        "a message twice on the server in {folder}"
    );
    let local_set: BTreeSet<String> = local_ids.iter().cloned().collect();
    assert_eq!(
        local_set.len(),
        local.len(),
        "a message twice locally in {folder}"
    );
    assert_eq!(
        ids, local_set,
        "{folder}: the server and the Maildir differ"
    );
    Held {
        uids: server.iter().map(|m| m.uid).collect(),
        uniques: local.iter().map(|m| m.unique.clone()).collect(),
        ids,
    }
}

fn rename_on_server(dovecot: &Dovecot, user: &str) {
    dovecot
        .client(user)
        .session()
        .rename("Lists", "Mailing")
        .unwrap();
}

/// Renames the tree as a user would in a file manager: one directory in
/// the verbatim layout, each dotted directory in Maildir++.
fn rename_locally(device: &Synced) {
    let renames: &[(&str, &str)] = match device.layout {
        "maildir++" => &RENAMED,
        _ => &RENAMED[..1],
    };
    for (old, new) in renames {
        fs::rename(
            local_dir(&device.maildir, device.layout, old),
            local_dir(&device.maildir, device.layout, new),
        )
        .unwrap();
    }
}

/// Which side the user renames the tree on.
#[derive(Debug, Clone, Copy)]
enum RenamedOn {
    Server,
    Maildir,
}

/// The message of `Lists/rust` the user deletes after the rename, on the
/// side that renamed: only the state carried over tells the next sync to
/// delete it on the other side too (without it, it would be copied back).
const DELETED_AFTER: u64 = 21;

/// The user renames the tree on one side, then deletes a message in
/// `Mailing/rust` there. `device.before` becomes what is expected after.
fn rename_and_delete(dovecot: &Dovecot, device: &mut Synced, on: RenamedOn) {
    let id = ids_of(&[DELETED_AFTER]).into_iter().next().unwrap();
    let (server_folder, local_folder) = match on {
        RenamedOn::Server => ("Mailing/rust", "Lists/rust"),
        RenamedOn::Maildir => ("Lists/rust", "Mailing/rust"),
    };
    match on {
        RenamedOn::Server => rename_on_server(dovecot, &device.user),
        RenamedOn::Maildir => rename_locally(device),
    }
    let mut client = dovecot.client(&device.user);
    let uid = client
        .messages(server_folder)
        .into_iter()
        .find(|m| m.message_id.as_deref() == Some(id.as_str()))
        .unwrap()
        .uid;
    let local = read_folder(&local_dir(&device.maildir, device.layout, local_folder))
        .into_iter()
        .find(|m| m.message_id().as_deref() == Some(id.as_str()))
        .unwrap();
    match on {
        RenamedOn::Server => client.expunge_uid(server_folder, uid),
        RenamedOn::Maildir => fs::remove_file(&local.path).unwrap(),
    }
    let expected = &mut device.before[2];
    expected.uids.retain(|&u| u != uid);
    expected.uniques.retain(|u| *u != local.unique);
    expected.ids.remove(&id);
}

/// Both sides list the new tree and not the old one; each renamed folder
/// holds the messages it held before, once, without a copy made again;
/// a further sync has nothing to do and changes nothing.
fn assert_renamed(dovecot: &Dovecot, device: &Synced) {
    let expected = names(&FOLDERS_AFTER);
    for _pass in 0..2 {
        assert_eq!(listed(&device.env, "server"), expected, "server folders");
        assert_eq!(listed(&device.env, "local"), expected, "local folders");
        for (index, (folder, _)) in TREE.iter().enumerate() {
            let now = RENAMED
                .iter()
                .find(|(old, _)| old == folder)
                .map_or(*folder, |(_, new)| *new);
            let held = held(dovecot, &device.user, &device.maildir, device.layout, now);
            assert_eq!(held, device.before[index], "{folder}, now {now}");
        }
        assert_nothing_to_do(&device.env);
        run_ok(&device.env, &["sync", "mail"]);
    }
    for (old, _) in RENAMED {
        assert!(
            !local_dir(&device.maildir, device.layout, old).exists(),
            "{old} is back in the Maildir"
        );
    }
}

/// A server in `server_layout` with one user per remove policy, the tree
/// renamed on one side by `rename`, then synced.
fn renamed_tree(server_layout: ServerLayout, layout: &'static str, on: RenamedOn) {
    let dovecot = Dovecot::start_with(DovecotOptions {
        layout: server_layout,
        ..DovecotOptions::default()
    });
    for (user, remove) in [("alice", "none"), ("bob", "both")] {
        let mut device = synced_tree(&dovecot, user, layout, remove);
        rename_and_delete(&dovecot, &mut device, on);
        let dry_run = run_ok(&device.env, &["sync", "mail", "--dry-run"]);
        let planned = String::from_utf8_lossy(&dry_run.stdout);
        assert!(
            planned.contains("rename folder Lists to Mailing")
                && planned.contains("with the 2 folder(s) below it"),
            "{planned}"
        );
        run_ok(&device.env, &["sync", "mail"]);
        assert_renamed(&dovecot, &device);
    }
}

#[test]
fn tree_renamed_on_the_server_is_renamed_in_a_verbatim_maildir() {
    renamed_tree(ServerLayout::Fs, "verbatim", RenamedOn::Server);
}

#[test]
fn tree_renamed_on_a_maildirpp_server_is_renamed_in_a_maildirpp_maildir() {
    renamed_tree(
        ServerLayout::MaildirPlusPlus,
        "maildir++",
        RenamedOn::Server,
    );
}

#[test]
fn tree_renamed_in_a_verbatim_maildir_is_renamed_on_the_server() {
    renamed_tree(ServerLayout::Fs, "verbatim", RenamedOn::Maildir);
}

#[test]
fn tree_renamed_in_a_maildirpp_maildir_is_renamed_on_the_server() {
    renamed_tree(ServerLayout::Fs, "maildir++", RenamedOn::Maildir);
}

/// The environment variable of mailferry's crash hook (see crash.rs).
const ABORT_AFTER: &str = "MAILFERRY_TEST_ABORT_AFTER_STEPS";
const MAX_POINTS: usize = 12;

/// The sync after the rename, killed (SIGKILL) after each of its steps in
/// turn, then run again: the same end as without the kill.
fn killed_after_every_step(layout: &'static str, on: RenamedOn) -> usize {
    let users: Vec<(String, String)> = (0..MAX_POINTS)
        .map(|k| (format!("k{k}"), format!("k{k}-pw")))
        .collect();
    let dovecot = Dovecot::start_with(DovecotOptions {
        users,
        ..DovecotOptions::default()
    });
    // Run k is killed after k steps; the first run that gets through has
    // had k kill points before it.
    for k in 0..MAX_POINTS {
        let remove = if k % 2 == 0 { "none" } else { "both" };
        let mut device = synced_tree(&dovecot, &format!("k{k}"), layout, remove);
        rename_and_delete(&dovecot, &mut device, on);
        let output = device
            .env
            .command()
            .env(ABORT_AFTER, k.to_string())
            .args(["sync", "mail"])
            .output()
            .unwrap();
        if output.status.success() {
            assert_renamed(&dovecot, &device);
            return k;
        }
        assert_eq!(
            output.status.code(),
            None,
            "step {k}: expected a kill, got {output:?}"
        );
        run_ok(&device.env, &["sync", "mail"]);
        assert_renamed(&dovecot, &device);
    }
    panic!("the rename has more steps than users: raise MAX_POINTS");
}

#[test]
fn tree_rename_from_the_server_killed_after_every_step_converges() {
    let points = killed_after_every_step("maildir++", RenamedOn::Server);
    assert!(points >= 3, "only {points} kill points");
    eprintln!("tree rename from the server: killed at {points} points, each converged");
}

#[test]
fn tree_rename_from_the_maildir_killed_after_every_step_converges() {
    let points = killed_after_every_step("verbatim", RenamedOn::Maildir);
    assert!(points >= 3, "only {points} kill points");
    eprintln!("tree rename from the Maildir: killed at {points} points, each converged");
}

/// Trials of [`killed_at_random_moments`] (times MAILFERRY_SOAK).
const RANDOM_KILLS: usize = 6;

/// The sync after the rename, killed with SIGKILL at a random moment (the
/// seed is printed; replay with MAILFERRY_SOAK_SEED), then run again: the
/// same end as without the kill. The kill lands in the rename or in the
/// message sync after it.
fn killed_at_random_moments(layout: &'static str, on: RenamedOn) {
    let trials = RANDOM_KILLS * soak_factor();
    let users: Vec<(String, String)> = (0..=trials)
        .map(|n| (format!("r{n}"), format!("r{n}-pw")))
        .collect();
    let dovecot = Dovecot::start_with(DovecotOptions {
        users,
        ..DovecotOptions::default()
    });
    // How long the sync after the rename takes when nothing stops it.
    let mut reference = synced_tree(&dovecot, "r0", layout, "none");
    rename_and_delete(&dovecot, &mut reference, on);
    let timer = Instant::now();
    run_ok(&reference.env, &["sync", "mail"]);
    let uninterrupted = timer.elapsed();
    assert_renamed(&dovecot, &reference);

    let mut rng = Rng::from_env("kill -9 after a tree rename");
    let mut kills = 0;
    for trial in 1..=trials {
        let remove = if trial % 2 == 0 { "none" } else { "both" };
        let mut device = synced_tree(&dovecot, &format!("r{trial}"), layout, remove);
        rename_and_delete(&dovecot, &mut device, on);
        let delay = Duration::from_millis(rng.between(2, uninterrupted.as_millis() as u64 + 2));
        if let RunEnd::Killed = run_and_kill(&device.env, &["sync", "mail"], delay) {
            kills += 1;
        }
        run_ok(&device.env, &["sync", "mail"]);
        assert_renamed(&dovecot, &device);
    }
    eprintln!(
        "tree rename ({on:?}, {layout}): {kills} of {trials} syncs killed at random moments \
         (uninterrupted {} ms), each converged",
        uninterrupted.as_millis()
    );
}

#[test]
fn tree_rename_from_the_server_killed_at_random_moments_converges() {
    killed_at_random_moments("verbatim", RenamedOn::Server);
}

#[test]
fn tree_rename_from_a_maildirpp_maildir_killed_at_random_moments_converges() {
    killed_at_random_moments("maildir++", RenamedOn::Maildir);
}

#[test]
fn tree_rename_refused_by_the_server_is_reported_and_the_rest_syncs() {
    // A Maildir++ server allows no `.` in names: it refuses the rename.
    let dovecot = Dovecot::start_with(DovecotOptions {
        layout: ServerLayout::MaildirPlusPlus,
        ..DovecotOptions::default()
    });
    let device = synced_tree(&dovecot, "alice", "verbatim", "both");
    fs::rename(
        device.maildir.join("Lists"),
        device.maildir.join("Mail.ing"),
    )
    .unwrap();
    dovecot
        .client("alice")
        .append("Other", &sample_message(31), &[], Some(sample_date(31)));

    for _run in 0..2 {
        let output = device.env.run(&["sync", "mail"]);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let errors = stderr(&output);
        for words in ["Lists", "Mail.ing", "not allowed"] {
            assert!(errors.contains(words), "no {words:?} in:\n{errors}");
        }
        // The rest synced: the new message reached the Maildir.
        assert_eq!(read_folder(&device.maildir.join("Other")).len(), 2);
        // Nothing was lost, copied or brought back on either side.
        let mut client = dovecot.client("alice");
        for (index, (folder, _)) in TREE[..3].iter().enumerate() {
            assert_eq!(
                client
                    .messages(folder)
                    .iter()
                    .map(|m| m.uid)
                    .collect::<Vec<_>>(),
                device.before[index].uids,
                "server {folder}"
            );
            let renamed =
                Path::new("Mail.ing").join(folder["Lists".len()..].trim_start_matches('/'));
            let local: Vec<String> = read_folder(&device.maildir.join(renamed))
                .into_iter()
                .map(|m| m.unique)
                .collect();
            assert_eq!(local, device.before[index].uniques, "local {folder}");
        }
        assert!(!device.maildir.join("Lists").exists());
        assert!(!listed(&device.env, "server")
            .iter()
            .any(|f| f.starts_with("Mail.ing")));
    }
}

/// The Message-IDs of sample messages.
fn ids_of(seeds: &[u64]) -> BTreeSet<String> {
    seeds
        .iter()
        .map(|&seed| {
            crate::support::imap_client::header_value(&sample_message(seed), "Message-ID").unwrap()
        })
        .collect()
}

#[test]
fn tree_renamed_and_emptied_and_refilled_is_not_taken_for_a_rename_and_nothing_is_lost() {
    let dovecot = Dovecot::start();
    for (user, remove) in [("alice", "none"), ("bob", "both")] {
        let device = synced_tree(&dovecot, user, "verbatim", remove);
        rename_on_server(&dovecot, user);
        // The renamed parent now holds other mail than `Lists` did.
        let mut client = dovecot.client(user);
        for uid in device.before[0].uids.clone() {
            client.expunge_uid("Mailing", uid);
        }
        for seed in [40, 41, 42] {
            client.append(
                "Mailing",
                &sample_message(seed),
                &[],
                Some(sample_date(seed)),
            );
        }
        run_ok(&device.env, &["sync", "mail"]);

        // `Lists` was deleted on the server and `Mailing` made there: under
        // `remove: none` the old folder comes back with its mail, under
        // `both` it goes. The children were renamed one by one.
        let mut expected: Vec<(&str, BTreeSet<String>)> = vec![
            ("Mailing", ids_of(&[40, 41, 42])),
            ("Mailing/debian", ids_of(&[10, 11])),
            ("Mailing/rust", ids_of(&[20, 21])),
            ("Other", ids_of(&[30])),
        ];
        if remove == "none" {
            expected.push(("Lists", ids_of(&[0, 1, 2])));
        }
        let mut folders: Vec<&str> = expected.iter().map(|(folder, _)| *folder).collect();
        folders.push("INBOX");
        for _pass in 0..2 {
            assert_eq!(listed(&device.env, "server"), names(&folders), "{remove}");
            assert_eq!(listed(&device.env, "local"), names(&folders), "{remove}");
            for (folder, ids) in &expected {
                let held = held(&dovecot, user, &device.maildir, "verbatim", folder);
                assert_eq!(&held.ids, ids, "{remove}: {folder}");
            }
            assert_nothing_to_do(&device.env);
            run_ok(&device.env, &["sync", "mail"]);
        }
    }
}
