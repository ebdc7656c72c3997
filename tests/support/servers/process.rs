//! A server's processes in a pid namespace of their own, so that stopping
//! the server (or a test panicking) leaves no process behind: the namespace's
//! first process is a shell that starts the daemons; when it dies the kernel
//! kills every process in the namespace, daemonized ones included.
//!
//! `unshare --kill-child` makes that shell die with `unshare` itself, even
//! when a test binary is killed and takes `unshare` with it.

use super::super::dovecot::{process_exists, signal};
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the namespace may take to go away after SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Namespaced {
    unshare: Child,
}

impl Namespaced {
    /// Runs `script` with `sh -e` as the first process of a new pid (and
    /// mount) namespace; `private_mounts` makes mounts made in it invisible
    /// outside. Its output goes to `output`.
    pub fn spawn(
        script: &str,
        environment: &[(&str, String)],
        private_mounts: bool,
        output: &Path,
    ) -> Result<Namespaced, String> {
        let out = fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
        let mut command = Command::new("unshare");
        command.args(["--pid", "--fork", "--kill-child", "--mount-proc"]);
        if private_mounts {
            command.arg("--propagation=private");
        }
        command
            .args(["sh", "-e", "-c", script])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(environment.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out);
        let unshare = command
            .spawn()
            .map_err(|e| format!("cannot run unshare (util-linux): {e}"))?;
        Ok(Namespaced { unshare })
    }

    /// Whether the namespace's shell has ended (the server is down).
    pub fn exited(&mut self) -> Option<String> {
        match self.unshare.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// The pid namespace's identity (`pid:[4026532...]`), to look for
    /// processes left in it; None once it is gone.
    pub fn pid_namespace(&self) -> Option<String> {
        let init = first_child(self.unshare.id())?;
        pid_namespace_of(init)
    }

    /// Kills every process of the namespace and waits until they are gone.
    pub fn kill(&mut self) {
        let shell = first_child(self.unshare.id());
        if let Some(shell) = shell {
            // The namespace's init: the kernel kills the rest with it, and
            // unshare, waiting for it, exits once all are gone.
            signal(shell, libc::SIGKILL);
        }
        let _ = self.unshare.kill();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(self.unshare.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.unshare.wait();
        if let Some(shell) = shell {
            while process_exists(shell) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

impl Drop for Namespaced {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The child of `unshare --fork`: the namespace's first process.
fn first_child(parent: u32) -> Option<u32> {
    let children = fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

fn pid_namespace_of(pid: u32) -> Option<String> {
    let link = fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// The live processes in the pid namespace `namespace` (as returned by
/// [`Namespaced::pid_namespace`]).
pub fn processes_in(namespace: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| process_exists(pid) && pid_namespace_of(pid).as_deref() == Some(namespace))
        .collect()
}
