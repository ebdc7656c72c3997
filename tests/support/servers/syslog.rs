//! A syslog socket for the servers that log only through syslog (Cyrus,
//! Courier): a unix datagram socket whose messages are kept in memory, with
//! `/dev/log` linked to it while any server holds it. Without it their
//! start-up errors are invisible on a machine with no syslog daemon.
//!
//! A real `/dev/log` is never replaced: then the messages go to the system's
//! log and [`Syslog::tail`] says so.

use std::collections::VecDeque;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

const DEV_LOG: &str = "/dev/log";
/// Our sockets are named with this prefix; a `/dev/log` link to one of them
/// that no process serves any more was left by a killed test run.
const SOCKET_PREFIX: &str = "/tmp/mailferry-syslog-";
/// Lines kept for failure messages.
const KEPT_LINES: usize = 4000;

/// The process-wide socket while some server holds it.
fn current() -> &'static Mutex<Weak<Syslog>> {
    static CURRENT: OnceLock<Mutex<Weak<Syslog>>> = OnceLock::new();
    CURRENT.get_or_init(|| Mutex::new(Weak::new()))
}

/// The socket; dropping the last handle stops it and removes the link.
pub struct Syslog {
    socket_path: PathBuf,
    /// Whether `/dev/log` is our link (else a real syslog was there).
    linked: bool,
    lines: Arc<Mutex<VecDeque<String>>>,
    socket: UnixDatagram,
}

impl Syslog {
    /// The shared socket, started on first use.
    pub fn acquire() -> Arc<Syslog> {
        let mut current = current().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(syslog) = current.upgrade() {
            return syslog;
        }
        let syslog = Arc::new(Syslog::start());
        *current = Arc::downgrade(&syslog);
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
        let linked = link_dev_log(&socket_path);
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let reader = socket.try_clone().unwrap();
        // Wakes up now and then to notice that the socket was dropped.
        reader
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let kept = Arc::clone(&lines);
        std::thread::spawn(move || read_messages(reader, kept));
        Syslog {
            socket_path,
            linked,
            lines,
            socket,
        }
    }

    /// The last `count` lines logged with `tag` in them (a server's syslog
    /// ident), by any server of this test process.
    pub fn tail_matching(&self, tag: &str, count: usize) -> String {
        if !self.linked {
            return "(/dev/log belongs to another process: the servers' syslog lines went there)\n"
                .to_string();
        }
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let matching: Vec<&String> = lines.iter().filter(|line| line.contains(tag)).collect();
        let start = matching.len().saturating_sub(count);
        matching[start..]
            .iter()
            .fold(String::new(), |mut all, line| {
                all.push_str(line);
                all.push('\n');
                all
            })
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        if self.linked && fs::read_link(DEV_LOG).ok().as_deref() == Some(&self.socket_path) {
            let _ = fs::remove_file(DEV_LOG);
        }
        let _ = fs::remove_file(&self.socket_path);
        // The reader thread ends at its next timeout: its socket's peer
        // address is gone and `Arc::strong_count` of the lines drops to one.
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

/// Links `/dev/log` to `socket` unless a real one exists. A link to a
/// socket of ours that is gone (a killed test run) is replaced.
fn link_dev_log(socket: &Path) -> bool {
    match fs::symlink_metadata(DEV_LOG) {
        Err(_) => {}
        Ok(metadata) if metadata.file_type().is_symlink() => {
            let target = fs::read_link(DEV_LOG).unwrap_or_default();
            let ours = target.to_string_lossy().starts_with(SOCKET_PREFIX);
            if !(ours && (!target.exists() || target == socket)) {
                return false;
            }
            let _ = fs::remove_file(DEV_LOG);
        }
        Ok(_) => return false,
    }
    std::os::unix::fs::symlink(socket, DEV_LOG).is_ok()
}

fn read_messages(socket: UnixDatagram, lines: Arc<Mutex<VecDeque<String>>>) {
    let mut buffer = vec![0u8; 8192];
    loop {
        match socket.recv(&mut buffer) {
            Ok(length) => {
                let message = String::from_utf8_lossy(&buffer[..length]);
                let mut kept = lines.lock().unwrap_or_else(|e| e.into_inner());
                for line in message.lines() {
                    kept.push_back(without_priority(line).to_string());
                }
                while kept.len() > KEPT_LINES {
                    kept.pop_front();
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Only the thread holds the lines: the syslog was dropped.
                if Arc::strong_count(&lines) == 1 {
                    return;
                }
            }
            Err(_) => return,
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
