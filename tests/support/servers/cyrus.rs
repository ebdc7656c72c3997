//! Cyrus IMAP 3.6 (Debian 12's cyrus-imapd, unpacked by
//! install_server_matrix) for one test: its master with an imapd.conf and a
//! cyrus.conf of our own in a temp dir, users in a sasldb, in a pid
//! namespace of its own.
//!
//! The settings are Debian's (`altnamespace: no`, `unixhierarchysep: no`),
//! what many hosted Cyrus servers show. Seen here after login:
//!
//! ```text
//! * CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL ANNOTATE-EXPERIMENT-1 BINARY CATENATE
//!   CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS
//!   LIST-STATUS MAILBOX-REFERRALS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW
//!   QRESYNC QUOTA RIGHTS=kxten SAVEDATE SEARCH=FUZZY SORT SORT=DISPLAY SPECIAL-USE
//!   STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT URLAUTH
//!   URLAUTH=BINARY WITHIN DIGEST=SHA1 LIST-METADATA NO_ATOMIC_RENAME SCAN SORT=MODSEQ
//!   SORT=UID THREAD=REFS X-CREATEDMODSEQ X-REPLICATION X-SIEVE-MAILBOX XLIST XMOVE
//!   LOGINDISABLED COMPRESS=DEFLATE X-QUOTA=STORAGE X-QUOTA=MESSAGE
//!   X-QUOTA=X-ANNOTATION-STORAGE X-QUOTA=X-NUM-FOLDERS IDLE APPENDLIMIT=4294967295
//! * NAMESPACE (("INBOX." ".")) (("user." ".")) (("" "."))
//! ```
//!
//! Every personal folder is below `INBOX.` with `.` as the delimiter;
//! INBOX is created at the first login; creating `INBOX.A.B` creates
//! `INBOX.A` too; messages with bare LF line ends are refused.

use super::super::dovecot::make_self_signed_certificate;
use super::process::Namespaced;
use super::syslog::Syslog;
use super::{
    chown_tree, free_ports, package_root, raw_session, server_dir, wait_until_listening,
    INSTALL_HINT, START_ATTEMPTS, USERS,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// The administrator (`admins:` in imapd.conf), for SETQUOTA: (user,
/// password).
const ADMIN: (&str, &str) = ("mfadmin", "mfadmin-pw");

pub struct Cyrus {
    dir: TempDir,
    imap: u16,
    imaps: u16,
    process: Option<Namespaced>,
    syslog: &'static Syslog,
}

impl Cyrus {
    /// Starts Cyrus with users alice and bob; panics with its log if it
    /// does not come up.
    pub fn start() -> Cyrus {
        let root = package_root();
        let master = root.join("usr/lib/cyrus/bin/master");
        assert!(
            master.is_file(),
            "Cyrus is not unpacked at {}: {INSTALL_HINT}",
            root.display()
        );
        let syslog = Syslog::acquire();
        let dir = server_dir("mfcy-");
        let path = dir.path().to_path_buf();
        for sub in [
            "conf/db",
            "conf/log",
            "conf/proc",
            "conf/socket",
            "conf/sieve",
            "conf/user",
            "conf/quota",
            "conf/msg",
            "conf/ptclient",
            "conf/lock",
            "spool",
            "run",
            "sock",
        ] {
            fs::create_dir_all(path.join(sub)).unwrap();
        }
        add_sasl_user(&path.join("sasldb2"), ADMIN.0, ADMIN.1);
        for (user, password) in USERS {
            // Cyrus writes each session of this user here: the protocol
            // log to read when a test fails.
            fs::create_dir_all(path.join("conf/log").join(user)).unwrap();
            add_sasl_user(&path.join("sasldb2"), user, password);
        }
        make_self_signed_certificate(&path.join("cert.pem"), &path.join("key.pem"));
        let mut cyrus = Cyrus {
            dir,
            imap: 0,
            imaps: 0,
            process: None,
            syslog,
        };
        for attempt in 1..=START_ATTEMPTS {
            (cyrus.imap, cyrus.imaps) = free_ports();
            cyrus.write_config(&root);
            chown_tree(&path, "cyrus:mail");
            let started = Namespaced::spawn(
                &format!(
                    "exec {master} -C {dir}/imapd.conf -M {dir}/cyrus.conf -p {dir}/run/master.pid",
                    master = master.display(),
                    dir = path.display(),
                ),
                &[(
                    "LD_LIBRARY_PATH",
                    root.join("usr/lib/x86_64-linux-gnu").display().to_string(),
                )],
                false,
                &path.join("master.out"),
            );
            let outcome = started.and_then(|mut process| {
                let ready = wait_until_listening(&mut process, cyrus.imap, cyrus.imaps);
                cyrus.process = Some(process);
                ready
            });
            match outcome {
                Ok(()) => return cyrus,
                Err(reason) => {
                    cyrus.process = None;
                    let log = cyrus.log_tail();
                    if !(log.contains("Address already in use") && attempt < START_ATTEMPTS) {
                        panic!("Cyrus did not start: {reason}\n--- Cyrus log ---\n{log}");
                    }
                }
            }
        }
        unreachable!("the last attempt panics or returns");
    }

    pub fn imap_port(&self) -> u16 {
        self.imap
    }

    pub fn imaps_port(&self) -> u16 {
        self.imaps
    }

    pub fn pid_namespace(&self) -> Option<String> {
        self.process.as_ref()?.pid_namespace()
    }

    /// Sets `user`'s storage quota to `limit` bytes (rounded down to
    /// Cyrus' KiB), or removes it, through the admin's SETQUOTA; Cyrus
    /// applies it to the next APPEND. The user logs in first: the quota
    /// root is the user's INBOX, which Cyrus creates at the first login.
    pub fn set_storage_quota(&self, user: &str, limit: Option<u64>) {
        let password = USERS
            .iter()
            .find(|(name, _)| *name == user)
            .map(|(_, password)| *password)
            .unwrap_or_else(|| panic!("no user {user:?} on Cyrus"));
        raw_session(self.imap, user, password, &[]);
        let resources = match limit {
            Some(bytes) => format!("(STORAGE {})", bytes / 1024),
            None => "()".to_string(),
        };
        let command = format!("SETQUOTA \"user.{user}\" {resources}");
        let answers = raw_session(self.imap, ADMIN.0, ADMIN.1, &[&command]);
        let status = answers.first().map(|(_, status)| status.as_str());
        assert!(
            status.is_some_and(|status| status.starts_with("OK")),
            "{command}: {answers:?}\n{}",
            self.log_tail()
        );
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// This server's syslog lines and the master's own output.
    pub fn log_tail(&self) -> String {
        let master = fs::read_to_string(self.dir.path().join("master.out")).unwrap_or_default();
        format!(
            "{}{master}",
            self.syslog.tail_matching(&self.syslog_prefix(), 60)
        )
    }

    /// The ident its processes log under (`mfcy-XXXX/imap[pid]: ...`).
    fn syslog_prefix(&self) -> String {
        self.dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn write_config(&self, root: &Path) {
        let dir = self.dir.path().display();
        let prefix = self.syslog_prefix();
        let imapd_conf = format!(
            "# Written by tests/support/servers/cyrus.rs for one test.\n\
             configdirectory: {dir}/conf\n\
             partition-default: {dir}/spool\n\
             proc_path: {dir}/conf/proc\n\
             mboxname_lockpath: {dir}/conf/lock\n\
             temp_path: {dir}/run\n\
             lmtpsocket: {dir}/sock/lmtp\n\
             idlesocket: {dir}/sock/idle\n\
             notifysocket: {dir}/sock/notify\n\
             syslog_prefix: {prefix}\n\
             sasl_pwcheck_method: auxprop\n\
             sasl_auxprop_plugin: sasldb\n\
             sasl_sasldb_path: {dir}/sasldb2\n\
             sasl_mech_list: PLAIN LOGIN\n\
             allowplaintext: yes\n\
             admins: {admin}\n\
             # INBOX is created at the first login, without a quota.\n\
             autocreate_quota: 0\n\
             # Debian's defaults, spelled out: folders below INBOX. with '.'.\n\
             altnamespace: no\n\
             unixhierarchysep: no\n\
             tls_server_cert: {dir}/cert.pem\n\
             tls_server_key: {dir}/key.pem\n",
            admin = ADMIN.0,
        );
        fs::write(self.dir.path().join("imapd.conf"), imapd_conf).unwrap();
        let bin = root.join("usr/lib/cyrus/bin");
        let bin = bin.display();
        let config = format!("-C {dir}/imapd.conf");
        let cyrus_conf = format!(
            "# Written by tests/support/servers/cyrus.rs for one test.\n\
             START {{\n  recover cmd=\"{bin}/ctl_cyrusdb {config} -r\"\n}}\n\
             SERVICES {{\n\
             \x20 imap cmd=\"{bin}/imapd {config}\" listen=\"127.0.0.1:{imap}\" prefork=0\n\
             \x20 imaps cmd=\"{bin}/imapd -s {config}\" listen=\"127.0.0.1:{imaps}\" prefork=0\n\
             }}\n\
             EVENTS {{\n}}\n\
             DAEMON {{\n  idled cmd=\"{bin}/idled {config}\"\n}}\n",
            imap = self.imap,
            imaps = self.imaps,
        );
        fs::write(self.dir.path().join("cyrus.conf"), cyrus_conf).unwrap();
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        // Every process gone before the TempDir field removes their files.
        self.process = None;
    }
}

/// Adds a user with its password to the sasldb (`saslpasswd2` from
/// sasl2-bin).
fn add_sasl_user(sasldb: &Path, user: &str, password: &str) {
    use std::io::Write;
    let mut child = Command::new("saslpasswd2")
        .args(["-p", "-c", "-f"])
        .arg(sasldb)
        .arg(user)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run saslpasswd2 ({e}): {INSTALL_HINT}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "saslpasswd2 {user}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
