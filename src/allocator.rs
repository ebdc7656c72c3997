//! How the C allocator is asked to behave, set once at start-up.
//!
//! glibc serves a large allocation (128 KiB and up) with its own mmap and
//! gives it back on free, but by default it then raises that threshold to
//! the size just freed. Each UID FETCH batch's answer is read into
//! buffers that grow (the IMAP connection's read buffer and the batch's
//! answer, up to a few MB, one batch at a time per connection), so after
//! the first batch every later buffer grows inside the worker thread's heap
//! instead, by doubling, and leaves holes there that a heap seldom gives
//! back. Fixing the threshold at glibc's own default stops that: measured
//! with the imap crate on a first pull of 100,000 messages over four
//! connections, peak RSS 52 MB without it, 43 MB with it, and no slower (an
//! mmap per fetch batch, a few hundred per folder); measured again on our
//! own IMAP client (first pull of 10,000 messages, 3 runs each, 2026-12-06),
//! 21.1 MB without it, 16.3 MB with it.

/// The size from which glibc maps an allocation on its own: its default,
/// set explicitly so that it stays there.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Keeps big buffers out of the heaps (see the module documentation).
/// Call before any thread is started.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; it is called
    // before other threads exist, and a refusal (return 0) just leaves the
    // defaults.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
