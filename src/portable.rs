//! File operations whose system calls differ between Linux, macOS and the
//! BSDs: a rename that never replaces, and an early start of writeback.
//! Each is one function here with its implementation per OS chosen at
//! compile time, so the rest of the code stays free of `cfg`.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::Path;

/// Renames the file `from` to `to` unless `to` exists, in which case it
/// fails with [`ErrorKind::AlreadyExists`] and changes nothing.
///
/// Where the kernel can refuse to replace in the rename itself (Linux's
/// `renameat2(RENAME_NOREPLACE)`, macOS's `renamex_np(RENAME_EXCL)`) that
/// is one system call. Elsewhere, and on file systems that do not support
/// it, the file is linked to its new name (`link` refuses an existing name)
/// and the old name removed: a crash between the two leaves both names of
/// one file, which the Maildir store reports and leaves alone, never two
/// different messages under one name. Where hard links are not supported
/// either, the name is checked first, which leaves a window in which
/// another program could create `to`.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    match rename_excl_by_kernel(from, to) {
        KernelRename::Done(outcome) => outcome,
        KernelRename::Unsupported => rename_by_link(from, to),
    }
}

/// What the OS's own no-replace rename did.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos")),
    allow(dead_code, reason = "only Linux and macOS have a kernel call")
)]
enum KernelRename {
    /// Renamed, or failed for a reason the fallback would meet too.
    Done(io::Result<()>),
    /// This OS or file system offers no such rename.
    Unsupported,
}

#[cfg(target_os = "linux")]
fn rename_excl_by_kernel(from: &Path, to: &Path) -> KernelRename {
    let (from, to) = match c_paths(from, to) {
        Ok(paths) => paths,
        Err(error) => return KernelRename::Done(Err(error)),
    };
    // SAFETY: both pointers are valid NUL-terminated strings for the call.
    let status = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    kernel_outcome(status, &[libc::EINVAL, libc::ENOSYS, libc::ENOTSUP])
}

#[cfg(target_os = "macos")]
fn rename_excl_by_kernel(from: &Path, to: &Path) -> KernelRename {
    let (from, to) = match c_paths(from, to) {
        Ok(paths) => paths,
        Err(error) => return KernelRename::Done(Err(error)),
    };
    // SAFETY: both pointers are valid NUL-terminated strings for the call.
    let status = unsafe { libc::renamex_np(from.as_ptr(), to.as_ptr(), libc::RENAME_EXCL) };
    // ENOTSUP: the volume's file system cannot do an exclusive rename.
    kernel_outcome(status, &[libc::EINVAL, libc::ENOTSUP])
}

/// FreeBSD 15 has `renameat2`, but a binary calling it would not start on
/// FreeBSD 14, so the BSDs and the rest take the link route.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn rename_excl_by_kernel(_from: &Path, _to: &Path) -> KernelRename {
    KernelRename::Unsupported
}

/// The outcome of a kernel rename returning `status`; `unsupported` are
/// the errors meaning the call or the file system cannot do it.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn kernel_outcome(status: libc::c_int, unsupported: &[libc::c_int]) -> KernelRename {
    if status == 0 {
        return KernelRename::Done(Ok(()));
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(code) if unsupported.contains(&code) => KernelRename::Unsupported,
        _ => KernelRename::Done(Err(error)),
    }
}

/// Both paths as C strings for a system call.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn c_paths(from: &Path, to: &Path) -> io::Result<(std::ffi::CString, std::ffi::CString)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = |path: &Path| {
        std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "NUL in a path"))
    };
    Ok((c_path(from)?, c_path(to)?))
}

/// Link to the new name, then remove the old; a check before a plain
/// rename where the file system has no hard links.
fn rename_by_link(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        // If the old name cannot go, the new one goes again: `from` still
        // holds the file, as before.
        Ok(()) => fs::remove_file(from).inspect_err(|_| {
            let _ = fs::remove_file(to);
        }),
        Err(error) if no_link_possible(&error) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from(ErrorKind::AlreadyExists));
            }
            fs::rename(from, to)
        }
        Err(error) => Err(error),
    }
}

/// Whether a failed `link` means that no hard link can be made here (FAT,
/// some network and FUSE file systems; a file at its maximum of links),
/// not that something is wrong.
fn no_link_possible(error: &io::Error) -> bool {
    [libc::EPERM, libc::ENOTSUP, libc::EOPNOTSUPP, libc::EMLINK]
        .into_iter()
        .any(|code| error.raw_os_error() == Some(code))
}

/// Starts writing a file's data to disk without waiting for it, so that a
/// later fsync finds the work done or under way. A hint only: failure, or
/// doing nothing, is harmless, since the fsync does whatever is left.
///
/// Linux has `sync_file_range` for this. macOS and the BSDs have no call
/// that starts writeback without waiting for it (`fsync` and macOS's
/// `F_FULLFSYNC` both wait), so there it does nothing: the fsyncs of a
/// group commit then each do their own file's work, and durability is the
/// same, since it comes from those fsyncs (Rust's `sync_all` already uses
/// `F_FULLFSYNC` on macOS).
#[cfg(target_os = "linux")]
pub fn start_writeback(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(file) = fs::File::open(path) {
        // SAFETY: the descriptor is open for the duration of the call; the
        // call only starts writeback.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
}

/// See the Linux version: no such call here, and nothing is lost without it.
#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn renames_to_a_free_name() {
        let temp = dir();
        let (from, to) = (temp.path().join("a"), temp.path().join("b"));
        fs::write(&from, b"message").unwrap();
        rename_no_replace(&from, &to).unwrap();
        assert!(!from.exists());
        assert_eq!(fs::read(&to).unwrap(), b"message");
    }

    #[test]
    fn refuses_to_replace_and_changes_nothing() {
        let temp = dir();
        let (from, to) = (temp.path().join("a"), temp.path().join("b"));
        fs::write(&from, b"one").unwrap();
        fs::write(&to, b"two").unwrap();
        let error = rename_no_replace(&from, &to).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&from).unwrap(), b"one");
        assert_eq!(fs::read(&to).unwrap(), b"two");
    }

    #[test]
    fn the_link_route_refuses_to_replace_and_changes_nothing() {
        let temp = dir();
        let (from, to) = (temp.path().join("a"), temp.path().join("b"));
        fs::write(&from, b"one").unwrap();
        fs::write(&to, b"two").unwrap();
        let error = rename_by_link(&from, &to).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&from).unwrap(), b"one");
        assert_eq!(fs::read(&to).unwrap(), b"two");
    }

    #[test]
    fn the_link_route_leaves_one_name() {
        let temp = dir();
        let (from, to) = (temp.path().join("a"), temp.path().join("b"));
        fs::write(&from, b"message").unwrap();
        rename_by_link(&from, &to).unwrap();
        assert!(!from.exists());
        assert_eq!(fs::read(&to).unwrap(), b"message");
    }

    #[test]
    fn a_missing_source_is_not_found() {
        let temp = dir();
        let error =
            rename_no_replace(&temp.path().join("gone"), &temp.path().join("b")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        let error = rename_by_link(&temp.path().join("gone"), &temp.path().join("b")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn writeback_of_a_missing_file_is_harmless() {
        start_writeback(Path::new("/nonexistent/mailferry-writeback"));
    }
}
