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
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.write_all_at(pid.as_bytes(), 0))
            .with_context(|| format!("cannot write our pid into {}", path.display()))?;
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
