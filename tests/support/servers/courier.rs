//! Courier-IMAP 5.0 (Debian 12's courier-imap, unpacked by
//! install_server_matrix) for one test: authdaemond with a userdb, and
//! couriertcpd on a plain and an implicit-TLS port, as Debian's init
//! scripts start them.
//!
//! Courier's paths are compiled in (`/etc/courier`, `/run/courier`,
//! `/usr/lib/courier`, `/usr/lib/courier-authlib`): the server runs in a
//! private mount namespace (and a pid namespace) where those are bind
//! mounts of its temp dir and of the unpacked packages; on the host they
//! are empty mount points. STARTTLS is not offered (its TLS cache needs
//! paths of its own); implicit TLS works. Seen here after login:
//!
//! ```text
//! * CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT
//!   THREAD=REFERENCES SORT QUOTA IDLE AUTH=PLAIN ACL ACL2=UNION ENABLE UTF8=ACCEPT
//! * NAMESPACE (("INBOX." ".")) NIL (("#shared." ".")("shared." "."))
//! ```
//!
//! No CONDSTORE, QRESYNC, LITERAL+, MULTIAPPEND or LIST-STATUS. Every
//! personal folder is below `INBOX.` with `.`; SELECT sends no `[UIDNEXT]`;
//! a parent never created lists as `\Noselect \HasChildren`. Its IDLE looks
//! for new mail every `IMAP_IDLE_TIMEOUT` seconds (60 by default) unless
//! `IMAP_ENHANCEDIDLE=1` has it watch the Maildir through gamin: this
//! harness turns that on, as a site that wants prompt IDLE does.

use super::super::dovecot::make_self_signed_certificate;
use super::process::Namespaced;
use super::syslog::Syslog;
use super::{
    account_id, chown_tree, free_ports, package_root, server_dir, wait_until_listening,
    INSTALL_HINT, START_ATTEMPTS, USERS,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// Courier's compiled-in directories: empty on the host, bind-mounted in
/// the server's namespace.
const MOUNT_POINTS: [&str; 4] = [
    "/etc/courier",
    "/run/courier",
    "/usr/lib/courier",
    "/usr/lib/courier-authlib",
];

pub struct Courier {
    dir: TempDir,
    imap: u16,
    imaps: u16,
    process: Option<Namespaced>,
    syslog: &'static Syslog,
}

impl Courier {
    /// Starts Courier with users alice and bob; panics with its log if it
    /// does not come up.
    pub fn start() -> Courier {
        let root = package_root();
        assert!(
            root.join("usr/bin/imapd").is_file(),
            "Courier is not unpacked at {}: {INSTALL_HINT}",
            root.display()
        );
        for mount_point in MOUNT_POINTS {
            fs::create_dir_all(mount_point)
                .unwrap_or_else(|e| panic!("cannot create {mount_point}: {e} ({INSTALL_HINT})"));
        }
        let syslog = Syslog::acquire();
        let dir = server_dir("mfco-");
        let path = dir.path().to_path_buf();
        for sub in ["etc", "run/authdaemon", "home"] {
            fs::create_dir_all(path.join(sub)).unwrap();
        }
        // The mail belongs to the `courier` account: imapd runs as the uid
        // of the userdb entry, and gamin looks its name up.
        let uid = account_id("-u", "courier");
        let gid = account_id("-g", "courier");
        let mut userdb = String::new();
        for (user, password) in USERS {
            let home = path.join("home").join(user);
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
            }
            userdb.push_str(&format!(
                "{user}\tuid={uid}|gid={gid}|home={}|systempw={}\n",
                home.display(),
                md5_crypt(password)
            ));
        }
        chown_tree(&path.join("home"), "courier:courier");
        let userdb_path = path.join("etc/userdb");
        fs::write(&userdb_path, userdb).unwrap();
        fs::set_permissions(&userdb_path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(
            path.join("etc/authdaemonrc"),
            "authmodulelist=\"authuserdb\"\ndaemons=3\nauthdaemonvar=/run/courier/authdaemon\n\
             DEBUG_LOGIN=0\nDEFAULTOPTIONS=\"\"\nLOGGEROPTS=\"\"\n",
        )
        .unwrap();
        make_self_signed_certificate(&path.join("cert.pem"), &path.join("key.pem"));
        // couriertls wants key and certificate in one file.
        let pem = [
            fs::read(path.join("key.pem")).unwrap(),
            fs::read(path.join("cert.pem")).unwrap(),
        ]
        .concat();
        fs::write(path.join("etc/imapd.pem"), pem).unwrap();

        let mut courier = Courier {
            dir,
            imap: 0,
            imaps: 0,
            process: None,
            syslog,
        };
        for attempt in 1..=START_ATTEMPTS {
            (courier.imap, courier.imaps) = free_ports();
            let started = Namespaced::spawn(
                &courier.start_script(&root),
                &courier.environment(&root),
                true,
                &path.join("start.out"),
            );
            let outcome = started.and_then(|mut process| {
                let ready = wait_until_listening(&mut process, courier.imap, courier.imaps);
                courier.process = Some(process);
                ready
            });
            match outcome {
                Ok(()) => return courier,
                Err(reason) => {
                    courier.process = None;
                    let log = courier.log_tail();
                    if !(log.contains("Address already in use") && attempt < START_ATTEMPTS) {
                        panic!("Courier did not start: {reason}\n--- Courier log ---\n{log}");
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

    /// Sets `user`'s Maildir quota to `limit` bytes, or removes it: the
    /// first line of `Maildir/maildirsize`, as `maildirmake -q` writes it.
    /// Written afresh, the file counts no message yet, which Courier takes
    /// as the usage until it recounts.
    pub fn set_maildir_quota(&self, user: &str, limit: Option<u64>) {
        let path = self
            .dir
            .path()
            .join("home")
            .join(user)
            .join("Maildir/maildirsize");
        match limit {
            Some(bytes) => {
                fs::write(&path, format!("{bytes}S\n")).unwrap();
                chown_tree(&path, "courier:courier");
            }
            None => fs::remove_file(&path).unwrap(),
        }
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// This server's syslog lines and the start script's output.
    pub fn log_tail(&self) -> String {
        let start = fs::read_to_string(self.dir.path().join("start.out")).unwrap_or_default();
        format!("{}{start}", self.syslog.tail_matching(&self.tag(), 60))
    }

    /// The syslog ident of its processes: `mfco-XXXX-imapd` and so on.
    fn tag(&self) -> String {
        self.dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// The first process of the namespace: bind mounts, the userdb, then
    /// the daemons (each detached by courierlogger; imapd once
    /// authdaemond's socket is there), then a sleep that
    /// keeps the namespace alive until the test kills it.
    fn start_script(&self, root: &Path) -> String {
        let dir = self.dir.path().display();
        let root_display = root.display();
        let tag = self.tag();
        let tcpd = |port: u16, name: &str, tls: &str| {
            format!(
                "{root_display}/usr/sbin/courierlogger -pid=/run/courier/{name}.pid \
                 -name={tag}-{name} -start \
                 {root_display}/usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=100 \
                 -maxperip=100 -nodnslookup -noidentlookup {port} {tls}\
                 /usr/lib/courier/courier/imaplogin {root_display}/usr/bin/imapd Maildir\n"
            )
        };
        format!(
            "mount --bind {dir}/etc /etc/courier\n\
             mount --bind {dir}/run /run/courier\n\
             mount --bind {root_display}/usr/lib/courier /usr/lib/courier\n\
             mount --bind {root_display}/usr/lib/courier-authlib /usr/lib/courier-authlib\n\
             PATH={root_display}/usr/sbin:{root_display}/usr/bin:$PATH makeuserdb\n\
             {root_display}/usr/sbin/courierlogger -pid=/run/courier/authdaemon/pid \
             -name={tag}-authdaemond -start /usr/lib/courier/courier-authlib/authdaemond\n\
             {wait_for_authdaemond}\
             {plain}\
             IMAP_TLS=1 {tls}\
             exec sleep infinity\n",
            // imapd answers a LOGIN it cannot check (authdaemond's socket
            // not made yet) with NO, which the tests would take for a
            // refused password; the readiness check only sees the port.
            wait_for_authdaemond = "for _ in $(seq 1 400); do \
                                    [ -S /run/courier/authdaemon/socket ] && break; \
                                    sleep 0.05; done\n",
            plain = tcpd(self.imap, "imapd", ""),
            tls = tcpd(
                self.imaps,
                "imapd-ssl",
                &format!("{root_display}/usr/bin/couriertls -server -tcpd -user=courier "),
            ),
        )
    }

    /// imapd's settings: Debian's /etc/courier/imapd and imapd-ssl, except
    /// the paths, no trash handling, more connections per client, and
    /// IDLE told of changes at once (see the module doc).
    fn environment(&self, root: &Path) -> Vec<(&'static str, String)> {
        let capability = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT \
                          THREAD=REFERENCES SORT QUOTA IDLE";
        vec![
            (
                "LD_LIBRARY_PATH",
                root.join("usr/lib").display().to_string(),
            ),
            ("IMAP_CAPABILITY", capability.to_string()),
            ("IMAP_CAPABILITY_TLS", format!("{capability} AUTH=PLAIN")),
            ("IMAP_KEYWORDS", "1".to_string()),
            ("IMAP_ACL", "1".to_string()),
            ("IMAP_IDLE_TIMEOUT", "60".to_string()),
            ("IMAP_ENHANCEDIDLE", "1".to_string()),
            ("IMAP_TLS_REQUIRED", "0".to_string()),
            ("IMAP_UMASK", "022".to_string()),
            ("IMAP_USELOCKS", "1".to_string()),
            ("IMAP_MAILBOX_SANITY_CHECK", "1".to_string()),
            ("IMAP_TRASHFOLDERNAME", "Trash".to_string()),
            ("IMAP_EMPTYTRASH", String::new()),
            ("IMAP_MOVE_EXPUNGE_TO_TRASH", "0".to_string()),
            ("MAILDIRPATH", "Maildir".to_string()),
            ("TLS_CERTFILE", "/etc/courier/imapd.pem".to_string()),
            ("TLS_VERIFYPEER", "NONE".to_string()),
        ]
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        // Every process gone before the TempDir field removes their files.
        self.process = None;
    }
}

/// The MD5-crypt hash of a password, as `userdbpw -md5` writes it.
fn md5_crypt(password: &str) -> String {
    let output = Command::new("openssl")
        .args(["passwd", "-1", password])
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): install the openssl package"));
    assert!(output.status.success(), "openssl passwd failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
