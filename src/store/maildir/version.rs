//! A maildir's version (see [`crate::store::FolderVersions::folder_version`]): the
//! identity and modification times of its new/ and cur/ directories.
//!
//! Every delivery, flag change (a rename) and removal changes the
//! modification time of new/ or cur/, so while both are unchanged no
//! message came, went or changed flags. One trap: the kernel stamps a
//! directory with a clock that moves in steps (a tick, or a whole second or
//! two on some file systems), so a change made in the same step as the one
//! that set the time we read would leave that time as it is. A version is
//! therefore only given once the clock has moved past the directories'
//! times: then any later change stamps a later time. Whether it has is
//! asked of the file system itself, by stamping a probe file in tmp/.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longer than the coarsest time stamps of any file system (FAT: 2 s):
/// directories last changed this long ago need no probe.
const SURELY_PAST_SECS: i64 = 3;

static PROBE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The version of the maildir at `dir`, or `None` when it is not a maildir
/// or was changed too recently for its times to be trusted yet.
pub fn maildir_version(dir: &Path) -> Option<String> {
    let new = fs::symlink_metadata(dir.join("new")).ok()?;
    let cur = fs::symlink_metadata(dir.join("cur")).ok()?;
    if !new.is_dir() || !cur.is_dir() {
        return None;
    }
    let newest = [&new, &cur]
        .iter()
        .map(|m| (m.mtime(), m.mtime_nsec()))
        .max()?;
    if !clock_has_moved_past(&dir.join("tmp"), newest) {
        return None;
    }
    let part =
        |m: &fs::Metadata| format!("{}.{}.{}.{}", m.dev(), m.ino(), m.mtime(), m.mtime_nsec());
    Some(format!("{}/{}", part(&new), part(&cur)))
}

/// Whether a change made now would be stamped later than `stamp`
/// (seconds, nanoseconds).
fn clock_has_moved_past(tmp: &Path, stamp: (i64, i64)) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if now.saturating_sub(stamp.0) >= SURELY_PAST_SECS {
        return true;
    }
    probe_stamp(tmp).is_some_and(|probe| probe > stamp)
}

/// The time the file system stamps on a file created now in `tmp`.
fn probe_stamp(tmp: &Path) -> Option<(i64, i64)> {
    let name = format!(
        ".mailferry-clock-probe.{}.{}",
        std::process::id(),
        PROBE_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let path = tmp.join(name);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .ok()?;
    let stamp = file.metadata().ok().map(|m| (m.mtime(), m.mtime_nsec()));
    drop(file);
    let _ = fs::remove_file(&path);
    stamp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A maildir on tmpfs where there is one: its times move in clock
    /// ticks (ext4 here stamps finer), which is what makes a change hide.
    fn maildir() -> tempfile::TempDir {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(dir.path().join(sub)).expect("subdir");
        }
        dir
    }

    /// The version as soon as the clock has moved on (the probe says so
    /// after at most a clock step; this waits for that, not for a time).
    fn settled_version(dir: &Path) -> String {
        loop {
            if let Some(version) = maildir_version(dir) {
                return version;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_version_changes_with_every_kind_of_message_change() {
        let dir = maildir();
        let empty = settled_version(dir.path());
        assert_eq!(settled_version(dir.path()), empty, "nothing changed");

        fs::write(dir.path().join("new/1.a.host"), "m").expect("deliver");
        let delivered = settled_version(dir.path());
        assert_ne!(delivered, empty, "a delivery to new/");

        fs::rename(
            dir.path().join("new/1.a.host"),
            dir.path().join("cur/1.a.host:2,S"),
        )
        .expect("read");
        let read = settled_version(dir.path());
        assert_ne!(read, delivered, "a move from new/ to cur/");

        fs::rename(
            dir.path().join("cur/1.a.host:2,S"),
            dir.path().join("cur/1.a.host:2,FS"),
        )
        .expect("flag");
        let flagged = settled_version(dir.path());
        assert_ne!(flagged, read, "a flag change (a rename in cur/)");

        fs::remove_file(dir.path().join("cur/1.a.host:2,FS")).expect("delete");
        assert_ne!(settled_version(dir.path()), flagged, "a removal");
    }

    #[test]
    fn a_change_made_right_after_a_version_was_given_is_never_hidden() {
        let dir = maildir();
        // Changes follow one another as fast as they can, so many fall in
        // the same clock step as the version read just before them.
        for n in 0..200 {
            let before = settled_version(dir.path());
            fs::write(dir.path().join(format!("new/{n}.a.host")), "m").expect("deliver");
            assert_ne!(settled_version(dir.path()), before, "delivery {n} hidden");
        }
        // The probe files are removed.
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
    }

    #[test]
    fn a_directory_that_is_not_a_maildir_has_no_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(maildir_version(dir.path()), None);
        fs::create_dir(dir.path().join("cur")).expect("cur");
        assert_eq!(maildir_version(dir.path()), None, "no new/");
    }
}
