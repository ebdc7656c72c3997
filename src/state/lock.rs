//! The channel lock: one run at a time per channel, so a cron job and a
//! manual run never write the same state.
//!
//! The lock is flock(2) on `state_dir/<channel>.lock`. The kernel drops it
//! when the holder's file is closed, including when the process dies, so a
//! lock left by a crashed run is simply free. The holder's pid is written
//! into the file only to tell the user who holds it. The file is never
//! removed: removing it would let a waiting run lock the old, unlinked file
//! while a new run locks a new one.

use super::file::{channel_file_name, create_private_dir};
use crate::error::LockHeld;
use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// An exclusive lock on one channel, released on drop.
#[derive(Debug)]
pub struct ChannelLock {
    file: File,
    path: PathBuf,
}

impl ChannelLock {
    /// Takes an exclusive lock on `state_dir/<channel>.lock`, writing our
    /// pid into the file. If another run holds it: with `wait == false`,
    /// fails with [`LockHeld`] (carrying the pid read from the file); with
    /// `wait == true`, blocks until it is free.
    pub fn acquire(state_dir: &Path, channel: &str, wait: bool) -> anyhow::Result<ChannelLock> {
        create_private_dir(state_dir)?;
        let path = lock_path(state_dir, channel);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        let locked = flock(&file, libc::LOCK_EX | libc::LOCK_NB)
            .with_context(|| format!("cannot lock {}", path.display()))?;
        if !locked {
            if !wait {
                return Err(LockHeld {
                    channel: channel.to_string(),
                    pid: read_pid(&file),
                    path,
                }
                .into());
            }
            flock(&file, libc::LOCK_EX)
                .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        // The pid only names the holder in another run's message; the
        // flock is the lock. On a full disk it cannot be written, and that
        // must not stop a run (a dry run, or a sync that frees space).
        let pid = format!("{}\n", std::process::id());
        if let Err(error) = file
            .set_len(0)
            .and_then(|()| file.write_all_at(pid.as_bytes(), 0))
        {
            log::info!("cannot write our pid into {}: {error}", path.display());
        }
        Ok(ChannelLock { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ChannelLock {
    fn drop(&mut self) {
        // Clear our pid so it is not mistaken for a live holder; closing the
        // file (right after) releases the lock itself.
        let _ = self.file.set_len(0);
    }
}

/// `state_dir/<channel>.lock`.
fn lock_path(state_dir: &Path, channel: &str) -> PathBuf {
    state_dir.join(format!("{}.lock", channel_file_name(channel)))
}

/// flock(2); `Ok(false)` when a non-blocking request finds the lock held.
fn flock(file: &File, operation: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// The pid the holder wrote, if it is there and readable.
fn read_pid(file: &File) -> Option<u32> {
    let mut buffer = [0u8; 32];
    let length = file.read_at(&mut buffer, 0).ok()?;
    std::str::from_utf8(&buffer[..length])
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit, exit_status};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn held_error(err: &anyhow::Error) -> &LockHeld {
        err.downcast_ref::<LockHeld>()
            .unwrap_or_else(|| panic!("expected LockHeld, got {err:#}"))
    }

    #[test]
    fn second_acquire_fails_with_our_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = ChannelLock::acquire(dir.path(), "work", false).unwrap();

        // flock locks belong to the open file, so a second open in the same
        // process conflicts just as another process would.
        let err = ChannelLock::acquire(dir.path(), "work", false).unwrap_err();
        let held = held_error(&err);
        assert_eq!(held.channel, "work");
        assert_eq!(held.pid, Some(std::process::id()));
        assert_eq!(held.path, dir.path().join("work.lock"));
        assert_eq!(exit_status(&err), exit::LOCKED);

        drop(first);
        let second = ChannelLock::acquire(dir.path(), "work", false).unwrap();
        assert_eq!(second.path(), dir.path().join("work.lock"));
    }

    #[test]
    fn other_channels_are_not_blocked() {
        let dir = tempfile::tempdir().unwrap();
        let _work = ChannelLock::acquire(dir.path(), "work", false).unwrap();
        ChannelLock::acquire(dir.path(), "home", false).unwrap();
    }

    #[test]
    fn lock_file_left_by_a_dead_run_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work.lock");
        // Above any Linux pid_max, so no live process has it.
        fs::write(&path, "999999999\n").unwrap();
        let _lock = ChannelLock::acquire(dir.path(), "work", false).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn waiting_acquire_gets_the_lock_once_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = ChannelLock::acquire(dir.path(), "work", false).unwrap();
        let state_dir = dir.path().to_path_buf();
        // The waiter may or may not reach flock before the drop below; either
        // way it must end up holding the lock, not fail with LockHeld.
        let waiter = std::thread::spawn(move || ChannelLock::acquire(&state_dir, "work", true));
        drop(first);
        let second = waiter.join().unwrap().unwrap();
        let err = ChannelLock::acquire(dir.path(), "work", false).unwrap_err();
        assert!(held_error(&err).pid.is_some());
        drop(second);
    }

    #[test]
    fn lock_file_is_private_and_emptied_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let lock = ChannelLock::acquire(&state_dir, "work", false).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(lock.path()), 0o600);
        assert_eq!(mode(&state_dir), 0o700);
        let path = lock.path().to_path_buf();
        drop(lock);
        assert_eq!(fs::read_to_string(path).unwrap(), "");
    }
}
