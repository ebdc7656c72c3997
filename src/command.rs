//! Runs a helper command (a `password_command`, an `oauth2_token_command`)
//! so that it cannot hang mailferry: in a process group of its own, with a
//! time limit, and stopped together with everything it started when the
//! limit passes or when a signal stops mailferry (see [`crate::interrupt`]).
//!
//! Why a process group: the command is often a shell line (`gpg -dq ... |
//! head -1`) whose children would outlive a killed shell, keep the output
//! pipes open and go on waiting for a pinentry under cron. Killing the
//! group reaches all of them; and once the command has exited, whatever it
//! left running in its group is stopped as well, so no helper process
//! outlives the run.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the runner looks at the command, the clock and the signal flag.
const POLL: Duration = Duration::from_millis(10);

/// What a command that ran to its end left.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a command gave no result.
#[derive(Debug)]
pub enum Failure {
    /// It could not be started.
    Start(std::io::Error),
    /// It was still running after the time limit and was stopped.
    TimedOut(Duration),
    /// A signal asked mailferry to stop; the command was stopped with it.
    Interrupted,
}

/// Runs `command` with stdin closed and its output captured, for at most
/// `limit`.
pub fn run_bounded(mut command: Command, limit: Duration) -> Result<Finished, Failure> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(Failure::Start)?;
    // The child leads its own group: the group's id is its pid.
    let group = child.id() as libc::pid_t;
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let started = Instant::now();
    let stopped = loop {
        if has_exited(group) {
            break None;
        }
        if crate::interrupt::requested() {
            break Some(Failure::Interrupted);
        }
        if started.elapsed() >= limit {
            break Some(Failure::TimedOut(limit));
        }
        std::thread::sleep(POLL);
    };
    // The leader is not reaped yet (it is a zombie at most), so the group's
    // id cannot have been given to another process.
    kill_group(group);
    let status = child.wait();
    let stdout = stdout.map(join).unwrap_or_default();
    let stderr = stderr.map(join).unwrap_or_default();
    if let Some(failure) = stopped {
        return Err(failure);
    }
    let status = status.map_err(Failure::Start)?;
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// Reads a pipe to its end on a thread of its own, so that a command
/// writing much to one pipe never blocks on the other.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn join(reader: JoinHandle<Vec<u8>>) -> Vec<u8> {
    reader.join().unwrap_or_default()
}

/// Whether the child `pid` has exited, without reaping it.
fn has_exited(pid: libc::pid_t) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value of the plain C struct,
    // and waitid writes only into the struct it is given.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let found = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // With WNOHANG, a child that has not changed state leaves si_pid 0.
        found == 0 && info.si_pid() != 0
    }
}

/// SIGKILL to every process of the group (none left is fine).
fn kill_group(group: libc::pid_t) {
    // SAFETY: kill(2) takes no pointers; a negative pid names the group.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(line: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(line);
        command
    }

    /// Whether `pid` still runs after the kill has had its effect: a
    /// process takes a moment to die, and then stays a zombie until its
    /// (new) parent reaps it, which counts as stopped.
    fn alive(pid: libc::pid_t) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while running(pid) {
            if Instant::now() >= deadline {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn running(pid: libc::pid_t) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name in parentheses.
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
            Err(_) => false,
        }
    }

    #[test]
    fn a_finished_command_gives_its_output_and_status() {
        let finished = run_bounded(
            shell("printf out; printf err >&2; exit 3"),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(finished.stdout, b"out");
        assert_eq!(finished.stderr, b"err");
        assert_eq!(finished.status.code(), Some(3));
    }

    #[test]
    fn a_hanging_command_and_its_children_are_stopped_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let line = format!(
            "sleep 1000 & echo $! > {pids}; echo $$ >> {pids}; sleep 1000",
            pids = pids.display()
        );
        let outcome = run_bounded(shell(&line), Duration::from_secs(1));
        assert!(matches!(outcome, Err(Failure::TimedOut(_))), "{outcome:?}");
        let written = std::fs::read_to_string(&pids).unwrap();
        let pids: Vec<libc::pid_t> = written.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(pids.len(), 2, "{written}");
        for pid in pids {
            assert!(!alive(pid), "process {pid} was left running");
        }
    }

    #[test]
    fn what_a_finished_command_left_running_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The background child keeps stdout open: without stopping it the
        // output would never end.
        let line = format!("sleep 1000 & echo $! > {}; echo done", pid_file.display());
        let finished = run_bounded(shell(&line), Duration::from_secs(30)).unwrap();
        assert_eq!(finished.stdout, b"done\n");
        let pid: libc::pid_t = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!alive(pid), "the background child {pid} was left running");
    }

    #[test]
    fn a_missing_program_cannot_start() {
        let outcome = run_bounded(
            Command::new("no-such-program-mailferry"),
            Duration::from_secs(5),
        );
        assert!(matches!(outcome, Err(Failure::Start(_))), "{outcome:?}");
    }
}
