//! When a folder is tried again: after a transient failure (the connection
//! dropped or timed out, the server asked us to back off), a bounded number
//! of times, waiting longer each time.
//!
//! A retry is always safe because the journal makes every point safe: what
//! the failed attempt did is in the journal, the next attempt replays it,
//! settles any copy in flight by looking for it on the target, and plans
//! only what is still to do.

use crate::store::error::{StoreError, StoreErrorKind};
use std::time::Duration;

/// How many times, and how patiently, a folder is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The wait before the first retry after a dropped connection; it
    /// doubles for each further retry (1 s, 2 s, 4 s).
    pub first_delay: Duration,
    /// The same after the server said it throttles us; Microsoft 365 asks
    /// for seconds to minutes, so start longer (15 s, 30 s, 60 s).
    pub throttled_first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            first_delay: Duration::from_secs(1),
            throttled_first_delay: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first) after
    /// `error`; `None` when the error is not transient or the retries are
    /// used up.
    pub fn delay(&self, retry: u32, error: &anyhow::Error) -> Option<Duration> {
        if retry == 0 || retry > self.retries {
            return None;
        }
        let kind = StoreError::kind_of(error).filter(|kind| kind.retried())?;
        let first = if kind == StoreErrorKind::Throttled {
            self.throttled_first_delay
        } else {
            self.first_delay
        };
        Some(first.saturating_mul(1 << (retry - 1).min(16)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient(throttled: bool) -> anyhow::Error {
        StoreError::transient("connection reset by the server", throttled).into()
    }

    #[test]
    fn dropped_connections_back_off_exponentially_three_times() {
        let policy = RetryPolicy::default();
        let error = transient(false);
        let delays: Vec<Option<Duration>> = (1..=4).map(|n| policy.delay(n, &error)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_secs(1)),
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(4)),
                None
            ]
        );
    }

    #[test]
    fn throttling_waits_longer() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, &transient(true)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            policy.delay(3, &transient(true)),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn other_errors_are_not_retried() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, &anyhow::anyhow!("cannot open folder")),
            None
        );
    }
}
