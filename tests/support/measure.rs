//! Runs a child process and reports how it ended (exit code or signal)
//! with its peak memory, so tests can check that a hostile server cannot
//! make mailferry allocate without bound.
//!
//! The peak comes from GNU time (`/usr/bin/time -f %M`), not from our own
//! wait4: the kernel's ru_maxrss of a child spawned from this process
//! starts at this (large, multi-threaded test) process's resident size,
//! because the child shares our memory until it execs and the maximum
//! survives exec. GNU time is a small process, so the figure it reports
//! for its own child is mailferry's alone.

use std::process::{Command, Stdio};

#[derive(Debug)]
pub struct Measured {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub max_rss_kib: u64,
}

/// Runs `command` under GNU time and waits for it.
pub fn run_measured(command: Command) -> Measured {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(command.get_program())
        .args(command.get_args())
        .stdin(Stdio::null());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => timed.env(name, value),
            None => timed.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let output = timed
        .output()
        .unwrap_or_else(|e| panic!("cannot run /usr/bin/time (package `time`): {e}"));
    let text = std::fs::read_to_string(report.path()).unwrap();
    // GNU time writes "Command terminated by signal N" (or "... exited
    // with non-zero status N") before the figure.
    let signal = text
        .lines()
        .find_map(|line| line.strip_prefix("Command terminated by signal "))
        .and_then(|n| n.trim().parse().ok());
    let max_rss_kib = text
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in GNU time's report: {text:?}"));
    Measured {
        code: if signal.is_some() {
            None
        } else {
            output.status.code()
        },
        signal,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        max_rss_kib,
    }
}
