//! Making several newly written files durable at about the cost of one:
//! the group commit that both the Maildir store and the state files use.

use anyhow::{Context, Result};
use std::fs::File;
use std::path::Path;

/// Makes a batch of written files durable at about the cost of one: the
/// writeback of every file is started first (`sync_file_range` on Linux), so the
/// disk writes them together and the file system allocates them in one
/// journal transaction; the fsync of the first then commits that
/// transaction and the fsyncs of the others find little left to do.
/// Files are reopened rather than kept open, so a batch needs no file
/// descriptors; fsync flushes a file whichever descriptor asks. Returns
/// each file's outcome, in order.
pub fn flush_together<'a>(paths: impl Iterator<Item = &'a Path> + Clone) -> Vec<Result<()>> {
    for path in paths.clone() {
        start_writeback(path);
    }
    paths
        .map(|path| {
            File::open(path)
                .and_then(|opened| opened.sync_all())
                .with_context(|| format!("cannot flush {} to disk", path.display()))
        })
        .collect()
}

/// Starts writing a file's data to disk without waiting for it, so that a
/// later fsync (see [`flush_together`]) finds the work done or under way;
/// on Linux only (see [`crate::portable::start_writeback`]).
pub fn start_writeback(path: &Path) {
    crate::portable::start_writeback(path);
}
