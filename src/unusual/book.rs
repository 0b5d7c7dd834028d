//! The underlying's flow as a distribution of event premiums: today's, and
//! previous sessions' as read back from the store, so a restart or a new
//! day does not start blind.
//!
//! A premium is counted in a quarter-octave bucket (each bucket ×1.19 the
//! one below it), which keeps one underlying's day in at most 128 counters
//! whatever the number of events, and makes previous sessions add up by
//! bucket. "Top 1 %" is then read to within one bucket, a precision that a
//! gate on the tail of a distribution spanning five orders of magnitude does
//! not miss.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

/// Buckets per doubling of the premium.
const BUCKETS_PER_OCTAVE: f64 = 4.0;
/// Buckets in all: up to 2^32 dollars, past any plausible premium.
pub const BUCKETS: usize = 128;
/// Events an underlying needs in a distribution before its ranks are read:
/// with fewer, "top 1 %" is the single largest event, not a tail.
pub const MIN_SAMPLE: u64 = 50;
/// An underlying's statistics are handed to the store at most this often;
/// a crash loses at most this much of the day's record.
pub const SAVE_EVERY_SECONDS: i64 = 300;

/// The bucket of a premium (dollars): floor(4·log2(p)), clamped.
pub fn bucket(premium: f64) -> usize {
    if !(premium.is_finite() && premium > 1.0) {
        return 0;
    }
    ((premium.log2() * BUCKETS_PER_OCTAVE).floor() as usize).min(BUCKETS - 1)
}

/// Counts of event premiums by bucket, and the largest premium.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u64,
    max: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], total: 0, max: 0.0 }
    }
}

impl Histogram {
    pub fn add(&mut self, premium: f64) {
        if !(premium.is_finite() && premium > 0.0) {
            return;
        }
        let b = bucket(premium);
        self.counts[b] = self.counts[b].saturating_add(1);
        self.total += 1;
        self.max = self.max.max(premium);
    }

    /// Adds another distribution, bucket by bucket.
    pub fn merge(&mut self, other: &Histogram) {
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c = c.saturating_add(*o);
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    /// The share of the distribution at or above `premium`'s bucket (its
    /// own bucket counts, so the figure never flatters the event); None
    /// below [`MIN_SAMPLE`] events.
    pub fn share_at_or_above(&self, premium: f64) -> Option<f64> {
        share(self.count_at_or_above(premium), self.total)
    }

    /// Events at or above `premium`'s bucket.
    fn count_at_or_above(&self, premium: f64) -> u64 {
        self.counts[bucket(premium)..].iter().map(|&c| u64::from(c)).sum()
    }

    /// The non-empty buckets as `index:count` pairs joined by commas: the
    /// stored form, a few hundred bytes for a busy underlying's day.
    pub fn to_text(&self) -> String {
        let parts: Vec<String> =
            self.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| format!("{i}:{c}")).collect();
        parts.join(",")
    }

    /// The stored form read back with its largest premium; None when any
    /// part is not `index:count` with an index below [`BUCKETS`].
    pub fn from_text(text: &str, max: f64) -> Option<Histogram> {
        let mut h = Histogram { max: if max.is_finite() && max > 0.0 { max } else { 0.0 }, ..Histogram::default() };
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (i, c) = part.split_once(':')?;
            let (i, c): (usize, u32) = (i.trim().parse().ok()?, c.trim().parse().ok()?);
            if i >= BUCKETS {
                return None;
            }
            h.counts[i] = h.counts[i].saturating_add(c);
            h.total += u64::from(c);
        }
        Some(h)
    }
}

/// `part / total`, None below [`MIN_SAMPLE`].
fn share(part: u64, total: u64) -> Option<f64> {
    (total >= MIN_SAMPLE).then(|| part as f64 / total as f64)
}

/// One underlying's flow on one trading date, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DayStats {
    /// The underlying as the chain names it (`SPY`, `I:SPX`).
    pub underlying: String,
    pub date: NaiveDate,
    pub premiums: Histogram,
}

/// How the event's premium stands against its underlying's flow.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PremiumRank {
    /// Share of today's earlier events at or above this premium (None below
    /// [`MIN_SAMPLE`] events).
    pub today_share: Option<f64>,
    /// Larger than every earlier event of the underlying today (with at
    /// least [`MIN_SAMPLE`] of them).
    pub largest_today: bool,
    /// Share of previous sessions' and today's events at or above it (None
    /// without previous sessions or below [`MIN_SAMPLE`] events).
    pub sessions_share: Option<f64>,
    /// Previous sessions in that figure.
    pub sessions: usize,
}

#[derive(Debug, Clone, Default)]
struct Underlying {
    today: Histogram,
    /// Previous sessions merged.
    history: Histogram,
    sessions: usize,
    last_saved: Option<DateTime<Utc>>,
}

/// Every underlying's flow distribution: today's, and the previous
/// sessions read from the store for `date`.
#[derive(Debug, Clone, Default)]
pub struct FlowBook {
    /// The trading date the book is for; None before the history is read.
    date: Option<NaiveDate>,
    underlyings: BTreeMap<String, Underlying>,
}

impl FlowBook {
    /// True when the previous sessions for `date` have not been read yet
    /// (start-up, or the first scan of a new trading date).
    pub fn needs_history(&self, date: NaiveDate) -> bool {
        self.date != Some(date)
    }

    /// Starts `date` with the previous sessions' statistics (dates before
    /// `date` only; the store keeps the last few sessions). Today's figures
    /// from before a new date are dropped.
    pub fn load(&mut self, date: NaiveDate, previous: &[DayStats]) {
        self.date = Some(date);
        self.underlyings = BTreeMap::new();
        for s in previous.iter().filter(|s| s.date < date) {
            let u = self.underlyings.entry(s.underlying.clone()).or_default();
            u.history.merge(&s.premiums);
            u.sessions += 1;
        }
    }

    /// Where `premium` stands in `underlying`'s flow so far.
    pub fn rank(&self, underlying: &str, premium: f64) -> PremiumRank {
        let Some(u) = self.underlyings.get(underlying) else { return PremiumRank::default() };
        let above = u.history.count_at_or_above(premium) + u.today.count_at_or_above(premium);
        let total = u.history.total() + u.today.total();
        PremiumRank {
            today_share: u.today.share_at_or_above(premium),
            largest_today: u.today.total() >= MIN_SAMPLE && premium > u.today.max(),
            sessions_share: if u.sessions > 0 { share(above, total) } else { None },
            sessions: u.sessions,
        }
    }

    /// Ranks of `premiums` against the flow before them, then counts them
    /// in: one scan's events are ranked against the same earlier flow, so
    /// their order within the scan does not change their figures.
    pub fn rank_and_record(&mut self, underlying: &str, premiums: &[f64]) -> Vec<PremiumRank> {
        let ranks = premiums.iter().map(|&p| self.rank(underlying, p)).collect();
        let u = self.underlyings.entry(underlying.to_string()).or_default();
        for &p in premiums {
            u.today.add(p);
        }
        ranks
    }

    /// Today's statistics of `underlying` when they are due to be stored
    /// (never stored yet, or last stored [`SAVE_EVERY_SECONDS`] ago), marked
    /// as stored at `now`.
    pub fn due_for_save(&mut self, underlying: &str, now: DateTime<Utc>) -> Option<DayStats> {
        let date = self.date?;
        let u = self.underlyings.get_mut(underlying)?;
        if u.today.total() == 0 || u.last_saved.is_some_and(|t| (now - t).num_seconds() < SAVE_EVERY_SECONDS) {
            return None;
        }
        u.last_saved = Some(now);
        Some(DayStats { underlying: underlying.to_string(), date, premiums: u.today.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    fn histogram(premiums: impl IntoIterator<Item = f64>) -> Histogram {
        let mut h = Histogram::default();
        for p in premiums {
            h.add(p);
        }
        h
    }

    #[test]
    fn buckets_are_quarter_octaves() {
        assert_eq!(bucket(1024.0), 40);
        assert_eq!(bucket(1024.0 * 1.18), 40);
        assert_eq!(bucket(1024.0 * 1.19), 41);
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(f64::NAN), 0);
        assert_eq!(bucket(1e300), BUCKETS - 1);
    }

    #[test]
    fn share_counts_the_own_bucket_and_needs_a_sample() {
        let h = histogram((1..=49).map(|i| i as f64 * 1000.0));
        assert_eq!(h.share_at_or_above(10_000.0), None);
        let h = histogram((1..=100).map(|i| i as f64 * 1000.0));
        // 100k's bucket is [2^66/4 ..): 16.57 octaves → 84k..100k.
        let share = h.share_at_or_above(100_000.0).unwrap_or(0.0);
        assert!(share > 0.0 && share <= 0.2, "{share}");
        assert_eq!(h.share_at_or_above(1e9), Some(0.0));
        assert_eq!(h.share_at_or_above(1.0), Some(1.0));
    }

    #[test]
    fn text_round_trips_and_rejects_garbage() {
        let h = histogram([5_000.0, 5_100.0, 80_000.0, 2e6]);
        let back = Histogram::from_text(&h.to_text(), h.max());
        assert_eq!(back, Some(h));
        assert_eq!(Histogram::from_text("", 0.0), Some(Histogram::default()));
        assert_eq!(Histogram::from_text("1:2,x", 1.0), None);
        assert_eq!(Histogram::from_text("128:1", 1.0), None);
    }

    #[test]
    fn one_scan_is_ranked_against_the_flow_before_it() {
        let mut book = FlowBook::default();
        book.load(d("2026-03-09"), &[]);
        book.rank_and_record("SPY", &vec![1000.0; 60]);
        let ranks = book.rank_and_record("SPY", &[50_000.0, 60_000.0]);
        assert!(ranks[0].largest_today && ranks[1].largest_today);
        assert_eq!(ranks[0].today_share, Some(0.0));
        assert_eq!(ranks[0].sessions_share, None);
        assert!(!book.rank("SPY", 55_000.0).largest_today);
    }

    #[test]
    fn previous_sessions_rank_the_first_event_of_a_day() {
        let yesterday = DayStats {
            underlying: "SPY".into(),
            date: d("2026-03-09"),
            premiums: histogram((1..=200).map(|i| i as f64 * 100.0)),
        };
        let mut book = FlowBook::default();
        assert!(book.needs_history(d("2026-03-10")));
        book.load(d("2026-03-10"), std::slice::from_ref(&yesterday));
        assert!(!book.needs_history(d("2026-03-10")));
        let r = book.rank("SPY", 1e6);
        assert_eq!((r.today_share, r.sessions_share, r.sessions), (None, Some(0.0), 1));
        // A stored row of the day itself is not "previous".
        book.load(d("2026-03-09"), &[yesterday]);
        assert_eq!(book.rank("SPY", 1e6).sessions, 0);
    }

    #[test]
    fn saves_are_spaced() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap_or_default();
        let mut book = FlowBook::default();
        assert_eq!(book.due_for_save("SPY", t("2026-03-09T15:00:00Z")), None);
        book.load(d("2026-03-09"), &[]);
        book.rank_and_record("SPY", &[1000.0]);
        let saved = book.due_for_save("SPY", t("2026-03-09T15:00:00Z"));
        assert_eq!(saved.map(|s| s.premiums.total()), Some(1));
        assert_eq!(book.due_for_save("SPY", t("2026-03-09T15:04:59Z")), None);
        assert!(book.due_for_save("SPY", t("2026-03-09T15:05:00Z")).is_some());
    }
}
