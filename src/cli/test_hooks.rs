//! Test hooks that the integration tests drive through the environment.
//! They are compiled in only with the `test-hooks` feature, which the tests
//! turn on (Cargo.toml's dev-dependency on this crate): `cargo build` and
//! `cargo install` make a binary that reads no such variable.

use crate::sync::ledger::Interrupt;

/// Environment variable of the crash test hook: abort the process after
/// this many journaled steps of each folder (or of a folder rename), as
/// `kill -9` would.
#[cfg(feature = "test-hooks")]
const CRASH_HOOK: &str = "MAILFERRY_TEST_ABORT_AFTER_STEPS";

/// Where the crash test hook stops a run of `sync` or `migrate`.
#[cfg(feature = "test-hooks")]
pub fn crash_after_steps() -> Option<(usize, Interrupt)> {
    std::env::var(CRASH_HOOK)
        .ok()
        .and_then(|steps| steps.parse().ok())
        .map(|steps| (steps, Interrupt::Abort))
}

/// Without the feature: never.
#[cfg(not(feature = "test-hooks"))]
pub fn crash_after_steps() -> Option<(usize, Interrupt)> {
    None
}
