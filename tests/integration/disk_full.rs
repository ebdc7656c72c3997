//! A full disk under the Maildir and the state: the sync stops with a
//! message that names the problem, the state stays loadable, nothing is
//! deleted on the server, and the next run with space completes with every
//! message once.
//!
//! As root the Maildir and state live on a 1 MiB tmpfs mounted by the test
//! (unmounted on drop), so writes fail with ENOSPC as on a real full disk.
//! Where mounting is not allowed, the child runs with RLIMIT_FSIZE (SIGXFSZ
//! ignored, so the write fails with EFBIG instead of killing it): every
//! file above the limit fails to be written, which is not quite a full disk
//! but exercises the same error paths. The test prints which it used.

use super::common::run_ok;
use super::scenario::{dovecot, fill_server_inbox, trial_user};
use crate::support::env::TestEnv;
use crate::support::local::read_folder;
use crate::support::mail::sample_message;
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MESSAGES: usize = 200;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "remount {}", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// How writes are made to fail.
enum Limit {
    Tmpfs(Tmpfs),
    /// Largest file, bytes.
    FileSize(libc::rlim_t),
}

/// Runs mailferry, under RLIMIT_FSIZE if that is the limit in force.
fn run(device: &TestEnv, limit: Option<&Limit>, args: &[&str]) -> Output {
    let mut command = device.command();
    command.args(args);
    if let Some(Limit::FileSize(bytes)) = limit {
        let bytes = *bytes;
        // SAFETY: between fork and exec only async-signal-safe calls.
        unsafe {
            command.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command.output().unwrap()
}

fn local_ids(inbox: &Path) -> Vec<String> {
    let mut ids: Vec<String> = read_folder(inbox)
        .iter()
        .filter_map(|m| m.message_id())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_full_disk_stops_the_sync_clearly_and_the_next_run_with_space_completes() {
    let dovecot = dovecot(1);
    let user = trial_user(0);
    let messages: Vec<Vec<u8>> = (0..MESSAGES as u64).map(sample_message).collect();
    fill_server_inbox(&dovecot, &user, &messages, "fill");
    let all: BTreeSet<String> = (0..MESSAGES)
        .map(|n| format!("<sample.{n}@mailferry.test>"))
        .collect();

    let mut device = TestEnv::new(env!("CARGO_BIN_EXE_mailferry").into());
    let small = device.root().join("small");
    // MAILFERRY_DISK_FULL_BY_RLIMIT=1 tries the fallback where mounting works.
    let mounted = if std::env::var_os("MAILFERRY_DISK_FULL_BY_RLIMIT").is_some() {
        None
    } else {
        Tmpfs::mount(&small, "1m")
    };
    let limit = match mounted {
        Some(tmpfs) => Limit::Tmpfs(tmpfs),
        None => {
            std::fs::create_dir_all(&small).unwrap();
            Limit::FileSize(8 * 1024)
        }
    };
    let (method, problem) = match &limit {
        Limit::Tmpfs(_) => ("a 1 MiB tmpfs", "No space left on device"),
        Limit::FileSize(_) => ("RLIMIT_FSIZE of 8 KiB", "File too large"),
    };
    let maildir = small.join("Maildir");
    device.write_config(&format!(
        "stores:\n{server}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\nstate_dir: {state}\n",
        server = dovecot.imap_store_yaml("server", &user, "none"),
        maildir = maildir.display(),
        state = small.join("state").display(),
    ));
    let inbox = maildir.join("INBOX");

    // Twice on the full disk: each stops with the reason, and neither
    // deletes anything on the server nor stores a message twice.
    for attempt in 1..=2 {
        let output = run(&device, Some(&limit), &["sync", "mail"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "attempt {attempt} ({method}): {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(problem),
            "attempt {attempt} ({method}) should say {problem:?}: {stderr}"
        );
        let on_server = dovecot.client(&user).count("INBOX");
        assert_eq!(
            on_server as usize, MESSAGES,
            "attempt {attempt} deleted on the server"
        );
        let local = local_ids(&inbox);
        let unique: BTreeSet<&String> = local.iter().collect();
        assert_eq!(unique.len(), local.len(), "a message stored twice");
        assert!(
            local.len() < MESSAGES,
            "everything fit: the disk was not full"
        );
        if std::env::var_os("MAILFERRY_DISK_FULL_DEBUG").is_some() {
            eprintln!(
                "attempt {attempt}:\n{stderr}\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        if attempt == 1 {
            eprintln!(
                "disk full ({method}): {} of {MESSAGES} messages fit; the error: {}",
                local.len(),
                stderr
                    .lines()
                    .find(|l| l.contains(problem))
                    .unwrap_or_default()
            );
        }
    }
    // The state is still readable: a dry run plans without complaint.
    let plan = run(&device, Some(&limit), &["sync", "--dry-run", "mail"]);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );

    // With space: the rest arrives, nothing twice, the server untouched.
    match &limit {
        Limit::Tmpfs(tmpfs) => tmpfs.resize("64m"),
        Limit::FileSize(_) => {}
    }
    run_ok(&device, &["sync", "mail"]);
    let local = local_ids(&inbox);
    assert_eq!(local.len(), MESSAGES, "duplicates or missing");
    assert_eq!(local.into_iter().collect::<BTreeSet<_>>(), all);
    assert_eq!(dovecot.client(&user).count("INBOX") as usize, MESSAGES);
    let again = run_ok(&device, &["sync", "--dry-run", "mail"]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "mail:INBOX: nothing to do"
    );
    drop(limit);
}
