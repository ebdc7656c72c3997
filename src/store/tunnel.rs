//! A tunnel: a command whose standard input and output carry the protocol
//! conversation instead of a TCP connection (mbsync's `Tunnel`), such as
//! `ssh mail.example.com /usr/lib/dovecot/imap`.
//!
//! The command runs through `sh -c`, as mbsync runs it, with pipes for
//! its standard input and output (not a socket: Dovecot's `imap` takes a
//! socket on its input for inetd and refuses to run). Reads and writes wait
//! at most the store's timeout, as on a TCP connection, and a command that
//! exits reads as a closed connection. Its error output is the user's to
//! see (ssh asks and complains there). When the tunnel is dropped the
//! shell is killed and reaped and the command sees its input closed, as it
//! does if mailferry itself dies; a command that ignores its input ends on
//! its own (the shell forks it, and a process group of its own would keep
//! ssh from asking for a password on the terminal).

use anyhow::{Context, Result};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// A running tunnel command and the pipes to and from it.
#[derive(Debug)]
pub struct Tunnel {
    to_command: ChildStdin,
    from_command: ChildStdout,
    child: Child,
    timeout: Duration,
}

impl Tunnel {
    /// Starts `command`; reads and writes give up after `timeout`.
    pub fn spawn(command: &str, timeout: Duration) -> Result<Tunnel> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the tunnel command `{command}`"))?;
        let (Some(to_command), Some(from_command)) = (child.stdin.take(), child.stdout.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("the tunnel command `{command}` was started without its pipes");
        };
        Ok(Tunnel {
            to_command,
            from_command,
            child,
            timeout,
        })
    }

    /// Sets the read and write timeout; `None` keeps the one in force.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if let Some(timeout) = timeout {
            self.timeout = timeout;
        }
        Ok(())
    }
}

/// Waits until `fd` is ready for `events` or the timeout passes.
fn wait_for(fd: RawFd, events: libc::c_short, timeout: Duration) -> io::Result<()> {
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut poll_fd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, and its count.
        let ready = unsafe { libc::poll(&mut poll_fd, 1, millis) };
        match ready {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the tunnel command did not answer in time",
                ))
            }
            n if n > 0 => return Ok(()),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

impl Read for Tunnel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        wait_for(self.from_command.as_raw_fd(), libc::POLLIN, self.timeout)?;
        self.from_command.read(buf)
    }
}

impl Write for Tunnel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        wait_for(self.to_command.as_raw_fd(), libc::POLLOUT, self.timeout)?;
        self.to_command.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.to_command.flush()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // Best effort: it may have exited already (LOGOUT ends it).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_talks_over_stdin_and_stdout_and_is_reaped_when_dropped() {
        let mut tunnel =
            Tunnel::spawn("read line; echo \"got $line\"", Duration::from_secs(10)).unwrap();
        tunnel.write_all(b"hello\n").unwrap();
        let mut answer = String::new();
        tunnel.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "got hello\n");
        let pid = tunnel.child.id();
        drop(tunnel);
        // Reaped: no such process (or at least no longer our child).
        let status = unsafe { libc::kill(pid as libc::pid_t, 0) };
        assert_eq!(status, -1);
    }

    #[test]
    fn a_silent_command_times_out() {
        // Reads its input and never answers; ends when the input closes
        // (a `sleep` would outlive the test holding its stderr open).
        let mut tunnel = Tunnel::spawn("cat >/dev/null", Duration::from_millis(1)).unwrap();
        let error = tunnel.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_command_still_running_is_killed_when_dropped() {
        let tunnel = Tunnel::spawn("cat >/dev/null", Duration::from_secs(10)).unwrap();
        let pid = tunnel.child.id();
        drop(tunnel);
        let status = unsafe { libc::kill(pid as libc::pid_t, 0) };
        assert_eq!(status, -1);
    }
}
