//! Mail readers on a synced Maildir: notmuch (indexing it, then counting by
//! tag) and mutt (opening a folder under tmux and reading its status line),
//! so the tests compare what a user actually sees with the server.

use super::mbsync::which;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Messages, unread and flagged, as a reader or the server counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub messages: u64,
    pub unread: u64,
    pub flagged: u64,
}

/// notmuch with its database in `work_dir` (outside the Maildir, so no
/// sync tool takes it for a folder) and flags synced from file names.
pub struct Notmuch {
    config: PathBuf,
}

impl Notmuch {
    pub fn new(maildir: &Path, work_dir: &Path) -> Notmuch {
        assert!(
            which("notmuch").is_some(),
            "notmuch is not installed: run `sudo apt-get install notmuch` (scripts/test installs it)"
        );
        let database = work_dir.join("notmuch-db");
        fs::create_dir_all(&database).unwrap();
        let config = work_dir.join("notmuch-config");
        fs::write(
            &config,
            format!(
                "[database]\npath={}\nmail_root={}\n\n[new]\ntags=unread;\n\
                 ignore=/^[.]mbsyncstate/;/^[.]uidvalidity$/\n\n\
                 [maildir]\nsynchronize_flags=true\n",
                database.display(),
                maildir.display()
            ),
        )
        .unwrap();
        Notmuch { config }
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("notmuch")
            .args(args)
            .env("NOTMUCH_CONFIG", &self.config)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "notmuch {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// `notmuch new`, then the counts of all messages, tag:unread and
    /// tag:flagged.
    pub fn counts(&self) -> Counts {
        self.run(&["new", "--quiet"]);
        let count = |query: &str| -> u64 { self.run(&["count", query]).trim().parse().unwrap() };
        Counts {
            messages: count("*"),
            unread: count("tag:unread"),
            flagged: count("tag:flagged"),
        }
    }
}

/// Opens one Maildir folder read-only in mutt inside a detached tmux
/// session and reads the counts from its status line. `None` when mutt or
/// tmux is missing or the status line never appears.
pub fn mutt_counts(folder_dir: &Path, work_dir: &Path) -> Option<Counts> {
    which("mutt")?;
    which("tmux")?;
    let muttrc = work_dir.join("muttrc");
    fs::write(
        &muttrc,
        format!(
            "set mbox_type=Maildir\nset folder={dir}\nset spoolfile={dir}\n\
             set status_format=\"MFCOUNTS msgs=%m new=%n old=%o flagged=%F END\"\n\
             set mark_old=yes\nset sort=date\n",
            dir = folder_dir.display()
        ),
    )
    .unwrap();
    let session = format!("mf{}", std::process::id());
    let command = format!(
        "mutt -n -R -F {} -f {}",
        muttrc.display(),
        folder_dir.display()
    );
    let started = Command::new("tmux")
        .args(["new-session", "-d", "-x", "200", "-y", "50", "-s", &session])
        .arg(&command)
        .env("HOME", work_dir)
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .status()
        .ok()?;
    if !started.success() {
        return None;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut counts = None;
    while Instant::now() < deadline {
        let screen = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &session])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&screen.stdout);
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("MFCOUNTS") && l.contains("END"))
        {
            counts = parse_status(line);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .status();
    counts
}

/// `MFCOUNTS msgs=12 new=3 old=1 flagged=2 END`; mutt leaves an empty
/// count out of `%n`/`%o`/`%F`, so a missing number is 0.
fn parse_status(line: &str) -> Option<Counts> {
    let number = |name: &str| -> u64 {
        line.split(&format!("{name}="))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Some(Counts {
        messages: number("msgs"),
        unread: number("new") + number("old"),
        flagged: number("flagged"),
    })
}
