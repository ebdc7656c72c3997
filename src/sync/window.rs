//! The date window (`max_age`, `since`): the first day it holds, and which
//! listed messages arrived before it. Outside the window mailferry leaves a
//! message alone on both sides (see the planner); arrival is the server's
//! INTERNALDATE (asked with UID SEARCH BEFORE) and a Maildir file's mtime,
//! which is the same instant: mailferry sets it to the INTERNALDATE when it
//! writes a file, and a delivery agent writes it at arrival.

use super::exec::Stores;
use crate::mail::{MessageInfo, MsgId, Pair, Side};
use anyhow::Result;
use chrono::{Days, NaiveDate};
use std::collections::HashSet;

/// Test hook: the environment variable that fixes "now" (seconds since
/// the Unix epoch) for the date window, so tests age messages out
/// without waiting. Read only in builds with the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
const NOW_HOOK: &str = "MAILFERRY_TEST_NOW";

/// Today's date (UTC).
pub fn today() -> NaiveDate {
    #[cfg(feature = "test-hooks")]
    if let Some(now) = std::env::var(NOW_HOOK)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
    {
        return now.date_naive();
    }
    let seconds = i64::try_from(super::exec::unix_now()).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(seconds, 0).map_or(NaiveDate::MIN, |now| now.date_naive())
}

/// The first day of the window: `max_age` days before `today`, or `since`,
/// whichever is later; `None` without either.
pub fn window_start(
    max_age_days: Option<u32>,
    since: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<NaiveDate> {
    let by_age = max_age_days.map(|days| {
        today
            .checked_sub_days(Days::new(u64::from(days)))
            .unwrap_or(NaiveDate::MIN)
    });
    by_age.into_iter().chain(since).max()
}

/// The ids of each side's listing that arrived before `start` (none
/// without a window, or on a side whose store cannot tell).
pub fn arrived_before(
    stores: &mut Stores<'_>,
    start: Option<NaiveDate>,
    listings: Pair<&[MessageInfo]>,
) -> Result<Pair<HashSet<MsgId>>> {
    let mut old: Pair<HashSet<MsgId>> = Pair::default();
    let Some(start) = start else {
        return Ok(old);
    };
    for side in Side::BOTH {
        if listings[side].is_empty() {
            continue;
        }
        if let Some(ids) = stores.side(side).arrived_before(start, listings[side])? {
            old[side] = ids;
        }
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_window_starts_at_the_later_of_max_age_and_since() {
        let today = day("2025-01-31");
        assert_eq!(window_start(None, None, today), None);
        assert_eq!(window_start(Some(30), None, today), Some(day("2025-01-01")));
        assert_eq!(
            window_start(None, Some(day("2024-01-01")), today),
            Some(day("2024-01-01"))
        );
        assert_eq!(
            window_start(Some(30), Some(day("2024-01-01")), today),
            Some(day("2025-01-01"))
        );
        assert_eq!(
            window_start(Some(30), Some(day("2025-01-15")), today),
            Some(day("2025-01-15"))
        );
    }
}
