//! How long to wait before retrying, for every client that retries (the
//! Polygon client and the Discord sender): exponential backoff, the
//! server's `Retry-After`, which waits may be slept inside a job, and the
//! time budget of one request's retries. Pure functions of the attempt
//! number, the header and the time; the callers wait through the clock.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// `base · 2^attempt`, capped at `max`. Attempt 0 is the wait before the
/// first retry. No jitter: there is one client per process, so there is no
/// herd to spread out, and replays stay deterministic.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(Duration::MAX).min(max)
}

/// Parses a `Retry-After` value: delay seconds (`7`, and leniently `7.5`) or
/// an HTTP date, measured against `now`. A date in the past means "now".
/// Returns `None` for anything unreadable, so the caller falls back to its
/// own backoff rather than trusting garbage.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return seconds(secs);
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The longest wait a job sleeps in place. A server asking for more (a
/// `Retry-After` of minutes, an exhausted rate-limit bucket) gets its
/// endpoint or webhook deferred until then while the loop goes on: one
/// thread does all the waiting, so a long sleep would stop every job.
pub const LONGEST_INLINE_WAIT: Duration = Duration::from_secs(5);

/// The wait a server asked for, as the caller should take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Short enough to sleep in place, then try again.
    Sleep(Duration),
    /// Too long to sleep: stop trying now and come back after this long.
    Defer(Duration),
}

impl Wait {
    pub fn of(d: Duration) -> Wait {
        if d <= LONGEST_INLINE_WAIT { Wait::Sleep(d) } else { Wait::Defer(d) }
    }
}

/// The total time one request's retries may take, measured on the caller's
/// monotonic clock (`Clock::elapsed`) from its first attempt. A retry is
/// started only if it would begin within the budget, so a call takes at
/// most the budget plus one request's timeout.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Duration,
}

impl Budget {
    pub fn new(start: Duration, budget: Duration) -> Budget {
        Budget { deadline: start.saturating_add(budget) }
    }

    /// Whether a retry that waits `wait` from `now` still starts in time.
    pub fn allows(&self, now: Duration, wait: Duration) -> bool {
        now.saturating_add(wait) <= self.deadline
    }
}

/// Seconds as a rate-limit header or body writes them (`7`, `2.5`), or
/// `None` for anything else (negative, not finite, garbage). Capped at a
/// billion seconds so that the conversion cannot overflow.
pub fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn waits_past_the_inline_bound_are_deferred() {
        assert_eq!(Wait::of(Duration::from_secs(1)), Wait::Sleep(Duration::from_secs(1)));
        assert_eq!(Wait::of(LONGEST_INLINE_WAIT), Wait::Sleep(LONGEST_INLINE_WAIT));
        assert_eq!(Wait::of(Duration::from_secs(999_999)), Wait::Defer(Duration::from_secs(999_999)));
    }

    #[test]
    fn budget_bounds_when_the_last_retry_starts() {
        let s = Duration::from_secs;
        let b = Budget::new(s(100), s(10));
        assert!(b.allows(s(100), s(10)));
        assert!(b.allows(s(105), s(4)));
        assert!(!b.allows(s(105), s(6)));
        assert!(!b.allows(s(111), Duration::ZERO));
    }

    #[test]
    fn seconds_reject_what_is_not_a_duration() {
        assert_eq!(seconds(2.5), Some(Duration::from_millis(2500)));
        assert_eq!(seconds(-1.0), None);
        assert_eq!(seconds(f64::NAN), None);
        assert_eq!(seconds(1e300), Some(Duration::from_secs(1_000_000_000)));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(30);
        let got: Vec<u64> = (0..8).map(|a| backoff(base, max, a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(base, max, u32::MAX), max);
    }

    #[test]
    fn retry_after_forms() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        let cases: &[(&str, Option<Duration>)] = &[
            ("7", Some(Duration::from_secs(7))),
            (" 0 ", Some(Duration::ZERO)),
            ("1.5", Some(Duration::from_millis(1500))),
            ("-3", None),
            ("soon", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(Duration::from_secs(60))),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(Duration::ZERO)),
        ];
        for (input, want) in cases {
            assert_eq!(retry_after(input, now), *want, "{input}");
        }
    }
}
