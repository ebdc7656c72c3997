//! The real mbsync (Debian package isync 1.4) against a test Dovecot: writes
//! an .mbsyncrc for one account and runs it, so the adopt tests start from a
//! Maildir exactly as an mbsync user has one.

use super::dovecot::Dovecot;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const INSTALL_HINT: &str = "mbsync is not installed: run `sudo apt-get install isync` \
                            (scripts/test installs it)";

/// An mbsync setup: its rc file and the Maildir it syncs into.
pub struct Mbsync {
    rc: PathBuf,
    maildir: PathBuf,
}

impl Mbsync {
    /// Writes `dir/mbsyncrc` for `user` on `dovecot` (IMAPS, the harness
    /// CA) syncing every folder into `maildir` (Verbatim layout, INBOX as
    /// `maildir/INBOX`), with the sync state in each folder
    /// (`.mbsyncstate`). Creates `maildir`, as mbsync does not.
    pub fn new(dovecot: &Dovecot, user: &str, maildir: &Path, dir: &Path) -> Mbsync {
        let store = format!(
            "Path {maildir}/\nInbox {maildir}/INBOX\nSubFolders Verbatim\n",
            maildir = maildir.display()
        );
        Mbsync::with_maildir_store(dovecot, user, maildir, &store, dir)
    }

    /// As [`Mbsync::new`], with the MaildirStore's own lines (`Path`,
    /// `Inbox`, `SubFolders` or `Flatten`) as given: the layouts mbsync
    /// users have.
    pub fn with_maildir_store(
        dovecot: &Dovecot,
        user: &str,
        maildir: &Path,
        store_lines: &str,
        dir: &Path,
    ) -> Mbsync {
        fs::create_dir_all(maildir).unwrap();
        let rc = dir.join("mbsyncrc");
        let text = format!(
            "IMAPAccount server\n\
             Host localhost\n\
             Port {port}\n\
             SSLType IMAPS\n\
             CertificateFile {ca}\n\
             User {user}\n\
             Pass {password}\n\
             \n\
             IMAPStore server\n\
             Account server\n\
             \n\
             MaildirStore local\n\
             {store_lines}\
             \n\
             Channel mail\n\
             Far :server:\n\
             Near :local:\n\
             Patterns *\n\
             Create Both\n\
             Expunge Both\n\
             SyncState *\n",
            port = dovecot.imaps_port(),
            ca = dovecot.ca_path().display(),
            password = dovecot.password(user),
        );
        fs::write(&rc, text).unwrap();
        Mbsync {
            rc,
            maildir: maildir.to_path_buf(),
        }
    }

    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Runs `mbsync -a` and panics with its output unless it succeeds.
    pub fn sync(&self) {
        let mbsync = which("mbsync").unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let output = Command::new(mbsync)
            .arg("-c")
            .arg(&self.rc)
            .arg("-a")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "mbsync failed with {:?}\nstdout:\n{}\nstderr:\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The path of a program on $PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
