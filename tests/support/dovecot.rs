//! A real Dovecot for one test: its own config, certificate, users, ports and
//! directories under /tmp, started on demand and stopped when dropped.
//!
//! Several can run at once (tests run on parallel threads): each has its own
//! instance name, base_dir and free ports. Facts behind the settings are in
//! /work/shared/DOVECOT-NOTES.md; the important ones are repeated where used.

use super::imap_client::ImapTestClient;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long Dovecot may take to accept its first IMAP connection.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Dovecot may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Starts retried when another process took one of the chosen ports between
/// our probe and Dovecot's bind.
const START_ATTEMPTS: usize = 4;
/// The mail owner when the tests run as root: Dovecot's passwd-file userdb
/// refuses uid 0, and this uid needs no /etc/passwd entry.
const ROOT_MODE_MAIL_ID: u32 = 5000;

const INSTALL_HINT: &str = "Dovecot is not installed: run `sudo apt-get install dovecot-imapd \
                            dovecot-pop3d` (scripts/test installs it)";

/// How the server stores folders on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLayout {
    /// `maildir:~/Maildir:LAYOUT=fs`: nested directories, dots allowed in names.
    Fs,
    /// `maildir:~/Maildir`: Maildir++ (`.Work.Projects`), no dots in names.
    MaildirPlusPlus,
}

/// What to vary between servers.
#[derive(Debug, Clone)]
pub struct DovecotOptions {
    /// (user, password) pairs. Default: alice/alice-pw and bob/bob-pw.
    pub users: Vec<(String, String)>,
    pub layout: ServerLayout,
    /// Replaces the advertised IMAP capability list (to test servers without
    /// UIDPLUS or CONDSTORE). None: Dovecot's own list.
    pub imap_capability: Option<String>,
    /// Off by default: fsync costs ~5 ms a save here and durability of the
    /// server is not what the tests check.
    pub fsync: bool,
    /// On by default. Off: `ssl = no`, no STARTTLS and no IMAPS/POP3S ports
    /// (their accessors return 0), to test what a client does without TLS.
    pub tls: bool,
    /// The personal namespace's prefix and separator, as Cyrus and Courier
    /// have it (`INBOX.` and `.`: every folder below INBOX). None: no
    /// prefix, separator `/`.
    pub personal_namespace: Option<(String, char)>,
    /// Appended verbatim to dovecot.conf, for settings no option covers.
    pub extra_config: String,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            users: vec![
                ("alice".to_string(), "alice-pw".to_string()),
                ("bob".to_string(), "bob-pw".to_string()),
            ],
            layout: ServerLayout::Fs,
            imap_capability: None,
            fsync: false,
            tls: true,
            personal_namespace: None,
            extra_config: String::new(),
        }
    }
}

/// The four listening ports of one server.
#[derive(Debug, Clone, Copy)]
struct Ports {
    imap: u16,
    imaps: u16,
    pop3: u16,
    pop3s: u16,
}

/// Who owns the mail and runs Dovecot's unprivileged processes.
#[derive(Debug, Clone)]
struct Accounts {
    mail_uid: u32,
    mail_gid: u32,
    login_user: String,
    internal_user: String,
    /// None: Dovecot's default group (`dovecot`), right when running as root.
    internal_group: Option<String>,
    running_as_root: bool,
}

impl Accounts {
    fn detect() -> Accounts {
        // SAFETY: geteuid and getegid cannot fail and touch no memory.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        if euid == 0 {
            Accounts {
                mail_uid: ROOT_MODE_MAIL_ID,
                mail_gid: ROOT_MODE_MAIL_ID,
                login_user: "dovenull".to_string(),
                internal_user: "dovecot".to_string(),
                internal_group: None,
                running_as_root: true,
            }
        } else {
            // Without root Dovecot cannot switch users: everything runs as us.
            let user = id_output("-un");
            Accounts {
                mail_uid: euid,
                mail_gid: egid,
                login_user: user.clone(),
                internal_user: user,
                internal_group: Some(id_output("-gn")),
                running_as_root: false,
            }
        }
    }
}

fn id_output(flag: &str) -> String {
    let output = Command::new("id").arg(flag).output().unwrap();
    assert!(output.status.success(), "`id {flag}` failed");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A running Dovecot; stopped and its files removed on drop.
pub struct Dovecot {
    /// Everything lives here: config, certificate, users, homes, base_dir,
    /// logs. Directly in /tmp so unix socket paths stay under 108 bytes.
    dir: TempDir,
    config_path: PathBuf,
    ports: Ports,
    options: DovecotOptions,
    accounts: Accounts,
    dovecot_binary: PathBuf,
    master: Option<Child>,
    untrusted_ca: OnceLock<PathBuf>,
}

impl Dovecot {
    /// A server with the default options (users alice and bob, fs layout).
    pub fn start() -> Dovecot {
        Dovecot::start_with(DovecotOptions::default())
    }

    /// A server with the given options. Panics with the tail of Dovecot's
    /// log if it does not come up within 10 s.
    pub fn start_with(options: DovecotOptions) -> Dovecot {
        let dovecot_binary = find_program("dovecot").unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let dir = tempfile::Builder::new()
            .prefix("mfdc-")
            .tempdir_in("/tmp")
            .unwrap();
        // Dovecot's unprivileged processes must traverse it to reach homes,
        // the passwd-file and the sockets.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let accounts = Accounts::detect();
        let mut dovecot = Dovecot {
            config_path: dir.path().join("dovecot.conf"),
            dir,
            ports: Ports {
                imap: 0,
                imaps: 0,
                pop3: 0,
                pop3s: 0,
            },
            options,
            accounts,
            dovecot_binary,
            master: None,
            untrusted_ca: OnceLock::new(),
        };
        let root = dovecot.dir.path().to_path_buf();
        make_self_signed_certificate(&root.join("cert.pem"), &root.join("key.pem"));
        dovecot.write_users();

        for attempt in 1..=START_ATTEMPTS {
            let listeners = reserve_ports();
            let tls = dovecot.options.tls;
            dovecot.ports = Ports {
                imap: port_of(&listeners[0]),
                // Port 0 disables a Dovecot listener.
                imaps: if tls { port_of(&listeners[1]) } else { 0 },
                pop3: port_of(&listeners[2]),
                pop3s: if tls { port_of(&listeners[3]) } else { 0 },
            };
            dovecot.write_config();
            // Released just before Dovecot binds them; a rare race with
            // another process is retried below.
            drop(listeners);
            match dovecot.spawn_and_wait_until_ready() {
                Ok(()) => return dovecot,
                Err(reason) => {
                    let log = dovecot.log_tail();
                    dovecot.kill_now();
                    let port_taken = log.contains("Address already in use");
                    if !(port_taken && attempt < START_ATTEMPTS) {
                        panic!("Dovecot did not start: {reason}\n--- Dovecot log ---\n{log}");
                    }
                }
            }
        }
        unreachable!("the last attempt panics or returns");
    }

    /// Stops the server and starts it again with the same config, ports and mail.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(reason) = self.spawn_and_wait_until_ready() {
            panic!(
                "Dovecot did not restart: {reason}\n--- Dovecot log ---\n{}",
                self.log_tail()
            );
        }
    }

    /// Restarts the server with `extra_config` appended to dovecot.conf in
    /// place of the options' (same ports and mail).
    pub fn restart_with_extra_config(&mut self, extra_config: &str) {
        self.options.extra_config = extra_config.to_string();
        self.write_config();
        self.restart();
    }

    pub fn imap_port(&self) -> u16 {
        self.ports.imap
    }

    pub fn imaps_port(&self) -> u16 {
        self.ports.imaps
    }

    pub fn pop3_port(&self) -> u16 {
        self.ports.pop3
    }

    pub fn pop3s_port(&self) -> u16 {
        self.ports.pop3s
    }

    /// The server's self-signed certificate (PEM): the CA file for clients.
    /// Valid for the names `localhost` and `127.0.0.1`.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// Another self-signed certificate for `localhost` that did not sign the
    /// server's: trusting only it must make verification fail.
    pub fn untrusted_ca_path(&self) -> PathBuf {
        self.untrusted_ca
            .get_or_init(|| {
                let untrusted = self.dir.path().join("untrusted");
                fs::create_dir_all(&untrusted).unwrap();
                let cert = untrusted.join("cert.pem");
                make_self_signed_certificate(&cert, &untrusted.join("key.pem"));
                cert
            })
            .clone()
    }

    /// The config file, for running `doveadm -c` by hand while debugging.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The password of a configured user. Panics for unknown users.
    pub fn password(&self, user: &str) -> &str {
        self.options
            .users
            .iter()
            .find(|(name, _)| name == user)
            .map(|(_, password)| password.as_str())
            .unwrap_or_else(|| panic!("user {user:?} is not configured on this Dovecot"))
    }

    /// The server-side Maildir of a user (files owned by [`Dovecot::mail_owner`]).
    pub fn user_maildir(&self, user: &str) -> PathBuf {
        self.home(user).join("Maildir")
    }

    /// (uid, gid) owning the server's mail: 5000 when running as root, else ours.
    /// Files written straight into [`Dovecot::user_maildir`] must belong to it.
    pub fn mail_owner(&self) -> (u32, u32) {
        (self.accounts.mail_uid, self.accounts.mail_gid)
    }

    /// A client logged in as `user` on the plain IMAP port.
    pub fn client(&self, user: &str) -> ImapTestClient {
        ImapTestClient::login(self.imap_port(), user, self.password(user))
    }

    /// Runs `doveadm -c CONFIG ARGS...`, e.g. `["force-resync", "-u", "alice", "*"]`
    /// after writing message files straight into the server's Maildir.
    pub fn doveadm(&self, args: &[&str]) -> Output {
        let doveadm = find_program("doveadm").unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        Command::new(doveadm)
            .arg("-c")
            .arg(&self.config_path)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The last lines of Dovecot's log and of the master's stdout/stderr
    /// (where config errors go before the log is open).
    pub fn log_tail(&self) -> String {
        let mut tail = String::new();
        for file in ["dovecot.out", "dovecot.log"] {
            let text = fs::read_to_string(self.dir.path().join(file)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(40);
            for line in &lines[start..] {
                tail.push_str(line);
                tail.push('\n');
            }
        }
        tail
    }

    /// A `stores:` entry (indented for use under `stores:`) for `user` on
    /// this server. `tls` is "implicit", "starttls" or "none"; with TLS the
    /// host is `localhost` (the certificate's DNS name) and `ca_file` is the
    /// harness CA.
    pub fn imap_store_yaml(&self, name: &str, user: &str, tls: &str) -> String {
        let (host, port) = match tls {
            "implicit" => ("localhost", self.imaps_port()),
            "starttls" => ("localhost", self.imap_port()),
            "none" => ("127.0.0.1", self.imap_port()),
            other => panic!("tls must be implicit, starttls or none, not {other:?}"),
        };
        let mut yaml = format!(
            "  {name}:\n    type: imap\n    host: {host}\n    port: {port}\n    tls: {tls}\n"
        );
        if tls != "none" {
            yaml.push_str(&format!("    ca_file: {}\n", self.ca_path().display()));
        }
        yaml.push_str(&format!(
            "    user: {user}\n    password: {}\n",
            self.password(user)
        ));
        yaml
    }

    fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user)
    }

    fn write_users(&self) {
        let (uid, gid) = self.mail_owner();
        let mut passwd = String::new();
        for (user, password) in &self.options.users {
            let home = self.home(user);
            fs::create_dir_all(&home).unwrap();
            if self.accounts.running_as_root {
                std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
            }
            passwd.push_str(&format!(
                "{user}:{{PLAIN}}{password}:{uid}:{gid}::{}::\n",
                home.display()
            ));
        }
        let users_path = self.dir.path().join("users");
        fs::write(&users_path, passwd).unwrap();
        // Read by the auth process, which runs as the internal `dovecot` user.
        fs::set_permissions(&users_path, fs::Permissions::from_mode(0o644)).unwrap();
    }

    fn write_config(&self) {
        let root = self.dir.path().display().to_string();
        let instance = self
            .dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let accounts = &self.accounts;
        let uid = accounts.mail_uid;
        let gid = accounts.mail_gid;
        let mail_location = match self.options.layout {
            ServerLayout::Fs => "maildir:~/Maildir:LAYOUT=fs",
            ServerLayout::MaildirPlusPlus => "maildir:~/Maildir",
        };
        let mail_fsync = if self.options.fsync {
            "optimized"
        } else {
            "never"
        };
        let Ports {
            imap,
            imaps,
            pop3,
            pop3s,
        } = self.ports;
        let mut config = format!(
            r#"# Written by tests/support/dovecot.rs for one test; never /etc/dovecot.
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = 127.0.0.1
protocols = imap pop3
ssl = {ssl}
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# Failed logins cost nothing, so tests of bad passwords stay fast.
auth_failure_delay = 0
mail_max_userip_connections = 100
mail_fsync = {mail_fsync}
mail_location = {mail_location}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
default_login_user = {login_user}
default_internal_user = {internal_user}
namespace inbox {{
  inbox = yes
  prefix = {prefix}
  separator = {separator}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
# No growing per-IP penalty (2, 4, 8, 15 s) after failed logins.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"#,
            ssl = if self.options.tls { "yes" } else { "no" },
            prefix = self
                .options
                .personal_namespace
                .as_ref()
                .map_or("", |(prefix, _)| prefix.as_str()),
            separator = self
                .options
                .personal_namespace
                .as_ref()
                .map_or('/', |&(_, separator)| separator),
            login_user = accounts.login_user,
            internal_user = accounts.internal_user,
        );
        if let Some(capability) = &self.options.imap_capability {
            config.push_str(&format!("imap_capability = {capability}\n"));
        }
        if let Some(group) = &accounts.internal_group {
            // Not root: sockets cannot be given to the `dovecot` group and
            // services cannot chroot.
            config.push_str(&format!("default_internal_group = {group}\n"));
            for service in ["anvil", "ipc", "imap-login", "pop3-login"] {
                config.push_str(&format!("service {service} {{\n  chroot =\n}}\n"));
            }
        }
        config.push_str(&self.options.extra_config);
        config.push('\n');
        fs::write(&self.config_path, config).unwrap();
    }

    /// Starts the master in the foreground (`-F`), so its pid is our child's
    /// and stopping it is a signal plus a wait; then waits for the greeting.
    fn spawn_and_wait_until_ready(&mut self) -> Result<(), String> {
        // The master keeps the caller's stdout open: a test whose output is
        // piped would hang, so it gets a file.
        let out = fs::File::create(self.dir.path().join("dovecot.out")).unwrap();
        let child = Command::new(&self.dovecot_binary)
            .arg("-F")
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.dovecot_binary.display()))?;
        self.master = Some(child);
        self.wait_until_ready()
    }

    /// Polls until the IMAP port answers with `* OK`, with a bounded deadline.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports.imap));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(master) = self.master.as_mut() {
                if let Ok(Some(status)) = master.try_wait() {
                    return Err(format!("the master process exited ({status})"));
                }
            }
            if let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut greeting = String::new();
                let _ = BufReader::new(stream).read_line(&mut greeting);
                if greeting.starts_with("* OK") {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no IMAP greeting on port {} within {READY_TIMEOUT:?}",
                    self.ports.imap
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Leaves the server running when this value goes away (the demo's
    /// `--keep`): its directory stays, and stopping it is the caller's
    /// business. Returns the master's pid and the directory to remove once
    /// it is stopped.
    pub fn keep_running(mut self) -> (u32, PathBuf) {
        let master = self.master.take().expect("a started Dovecot has a master");
        self.dir.disable_cleanup(true);
        let pid = master.id();
        // Never waited for: it outlives this process (which exits soon
        // after), and init reaps it once it is stopped.
        std::mem::forget(master);
        (pid, self.dir.path().to_path_buf())
    }

    /// Graceful stop, for restarts: SIGTERM to the master, which stops its
    /// services and exits (about 1 s: its log process lingers), then reap it.
    fn stop(&mut self) {
        let Some(mut master) = self.master.take() else {
            return;
        };
        if let Ok(None) = master.try_wait() {
            signal(master.id(), libc::SIGTERM);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while let Ok(None) = master.try_wait() {
                if Instant::now() >= deadline {
                    let _ = master.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = master.wait();
    }

    /// The end of the server's log, to stderr: a failing test shows it with
    /// its output, the one trace left of what the server saw, as its
    /// directory is removed.
    fn print_log_tail(&self) {
        const LINES: usize = 40;
        let Ok(log) = fs::read_to_string(self.dir.path().join("dovecot.log")) else {
            return;
        };
        let lines: Vec<&str> = log.lines().collect();
        eprintln!("--- the last {LINES} lines of the Dovecot log ---");
        for line in &lines[lines.len().saturating_sub(LINES)..] {
            eprintln!("{line}");
        }
    }

    /// Immediate stop, for a server about to be thrown away: SIGKILL to the
    /// master and to every process it started (all are its direct children),
    /// then wait until they are gone so none writes into the removed dir.
    fn kill_now(&mut self) {
        let Some(mut master) = self.master.take() else {
            return;
        };
        if std::thread::panicking() {
            self.print_log_tail();
        }
        let services = child_pids(master.id());
        let _ = master.kill();
        let _ = master.wait();
        for &pid in &services {
            signal(pid, libc::SIGKILL);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while services.iter().any(|&pid| process_exists(pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.kill_now();
        // The TempDir field then removes every file, the base_dir included.
    }
}

pub fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: a plain syscall; at worst the pid no longer exists.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

pub fn process_exists(pid: u32) -> bool {
    // A zombie still has a /proc entry but its state is Z; init reaps it.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat_fields(&stat).first(), Some(&"Z")),
        Err(_) => false,
    }
}

/// The pids whose parent is `parent`, from /proc.
fn child_pids(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat_fields(&stat).get(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

/// The fields of /proc/PID/stat after the command name (state, ppid, ...);
/// the name is in parentheses and may itself contain spaces.
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// Four distinct free ports on 127.0.0.1, held until the caller drops them.
pub fn reserve_ports() -> Vec<TcpListener> {
    (0..4)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
        .collect()
}

pub fn port_of(listener: &TcpListener) -> u16 {
    listener.local_addr().unwrap().port()
}

pub fn make_self_signed_certificate(cert: &Path, key: &Path) {
    let output = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): install the openssl package"));
    assert!(
        output.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Read by Dovecot's master; as root that is fine with any mode, and a
    // test key guards nothing.
    fs::set_permissions(key, fs::Permissions::from_mode(0o644)).unwrap();
}

/// The program in PATH, or in the sbin directories a normal user's PATH
/// often lacks (Debian installs `dovecot` in /usr/sbin).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
