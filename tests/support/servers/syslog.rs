//! A syslog socket for the servers that log only through syslog (Cyrus,
//! Courier): a unix datagram socket whose messages are kept in memory, with
//! `/dev/log` linked to it. Without it their start-up errors are invisible
//! on a machine with no syslog daemon.
//!
//! One socket serves the whole test process and is read until the process
//! ends: a server's syslog(3) blocks once a few messages wait unread, so
//! the reader never stops early. `/dev/log` is linked whenever a server
//! starts and finds none (or a link left by a test process that is gone)
//! and unlinked when the process exits. A real `/dev/log`, or another live
//! test process's link, is never replaced.

use std::collections::VecDeque;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

const DEV_LOG: &str = "/dev/log";
/// Our sockets are named with this prefix and the test process's pid.
const SOCKET_PREFIX: &str = "/tmp/mailferry-syslog-";
/// Lines kept for failure messages.
const KEPT_LINES: usize = 4000;

/// What the servers of this process logged, oldest first.
static LINES: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

pub struct Syslog {
    socket_path: PathBuf,
    /// Serialises the checks and changes of `/dev/log`.
    linking: Mutex<()>,
}

impl Syslog {
    /// The process's socket, started on first use, with `/dev/log` linked
    /// to it if there is none that works.
    pub fn acquire() -> &'static Syslog {
        static SYSLOG: OnceLock<Syslog> = OnceLock::new();
        let syslog = SYSLOG.get_or_init(Syslog::start);
        syslog.link_dev_log();
        syslog
    }

    fn start() -> Syslog {
        let socket_path = PathBuf::from(format!("{SOCKET_PREFIX}{}", std::process::id()));
        let _ = fs::remove_file(&socket_path);
        let socket = UnixDatagram::bind(&socket_path)
            .unwrap_or_else(|e| panic!("cannot bind {}: {e}", socket_path.display()));
        // Servers log from unprivileged users (cyrus, courier).
        fs::set_permissions(
            &socket_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o666),
        )
        .unwrap();
        std::thread::spawn(move || read_messages(socket));
        // SAFETY: registers a plain extern "C" function with no arguments.
        unsafe {
            libc::atexit(unlink_at_exit);
        }
        Syslog {
            socket_path,
            linking: Mutex::new(()),
        }
    }

    /// Links `/dev/log` to our socket unless a working one exists.
    fn link_dev_log(&self) {
        let _linking = self.linking.lock().unwrap_or_else(|e| e.into_inner());
        match fs::symlink_metadata(DEV_LOG) {
            Err(_) => {}
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let target = fs::read_link(DEV_LOG).unwrap_or_default();
                if target == self.socket_path || !left_by_a_gone_test(&target) {
                    return;
                }
                let _ = fs::remove_file(DEV_LOG);
                let _ = fs::remove_file(&target);
            }
            // A real syslog socket.
            Ok(_) => return,
        }
        let _ = std::os::unix::fs::symlink(&self.socket_path, DEV_LOG);
    }

    /// The last `count` lines logged with `tag` in them (a server's syslog
    /// ident), by any server of this test process.
    pub fn tail_matching(&self, tag: &str, count: usize) -> String {
        let mut tail = String::new();
        if fs::read_link(DEV_LOG).ok().as_deref() != Some(self.socket_path.as_path()) {
            tail.push_str(
                "(/dev/log is not this test process's: some syslog lines went elsewhere)\n",
            );
        }
        let lines = LINES.lock().unwrap_or_else(|e| e.into_inner());
        let matching: Vec<&String> = lines.iter().filter(|line| line.contains(tag)).collect();
        let start = matching.len().saturating_sub(count);
        for line in &matching[start..] {
            tail.push_str(line);
            tail.push('\n');
        }
        tail
    }
}

/// Whether `target` is a socket of ours that no process serves any more
/// (its test process was killed before it could unlink it).
fn left_by_a_gone_test(target: &Path) -> bool {
    if !target.to_string_lossy().starts_with(SOCKET_PREFIX) {
        return false;
    }
    let Ok(probe) = UnixDatagram::unbound() else {
        return false;
    };
    probe.connect(target).is_err()
}

extern "C" fn unlink_at_exit() {
    let socket_path = PathBuf::from(format!("{SOCKET_PREFIX}{}", std::process::id()));
    if fs::read_link(DEV_LOG).ok().as_deref() == Some(socket_path.as_path()) {
        let _ = fs::remove_file(DEV_LOG);
    }
    let _ = fs::remove_file(&socket_path);
}

/// Reads until the process ends; the lines go to the process's [`Syslog`].
fn read_messages(socket: UnixDatagram) {
    let mut buffer = vec![0u8; 16384];
    loop {
        match socket.recv(&mut buffer) {
            Ok(length) => {
                let message = String::from_utf8_lossy(&buffer[..length]);
                let mut kept = LINES.lock().unwrap_or_else(|e| e.into_inner());
                for line in message.lines() {
                    kept.push_back(without_priority(line).to_string());
                }
                while kept.len() > KEPT_LINES {
                    kept.pop_front();
                }
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// A syslog line without its `<PRI>` prefix.
fn without_priority(line: &str) -> &str {
    match line.strip_prefix('<').and_then(|rest| rest.split_once('>')) {
        Some((priority, rest)) if priority.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => line,
    }
}
