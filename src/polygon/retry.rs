//! How long to wait before retrying: exponential backoff and `Retry-After`.
//! Pure functions of the attempt number, the header and the time.

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
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
