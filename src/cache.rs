//! The two caches of the options scan, both pure (time is an argument):
//!
//! - [`VolumeCache`]: the previous observation of every contract, the
//!   baseline that flow detection measures new volume against (SPEC §5).
//! - [`ChainCache`]: the last chain scan per underlying, so the five options
//!   bots scanning one symbol within `CHAIN_CACHE_TTL_SECONDS` share one fetch
//!   and one detection pass (SPEC §4).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::America::New_York;

use crate::clock::unix_nanos;

/// `VOLUME_CACHE_TTL_SECONDS`'s default.
pub const DEFAULT_VOLUME_TTL_SECONDS: u64 = 900;

/// `CHAIN_CACHE_TTL_SECONDS`'s default.
pub const DEFAULT_CHAIN_TTL_SECONDS: u64 = 30;

/// Counters for metrics, the heartbeat and the replay summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub sets: u64,
    /// Entries removed because they expired or the trading date changed.
    pub evictions: u64,
}

impl CacheStats {
    /// hits / (hits + misses), 0 before any lookup.
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 { 0.0 } else { self.hits as f64 / lookups as f64 }
    }
}

/// The baseline of one contract: its day volume and VWAP when last seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolumeEntry {
    pub volume: f64,
    pub vwap: Option<f64>,
    /// When it was observed; the entry expires `ttl` after this.
    pub at: DateTime<Utc>,
}

/// Previous observations keyed by contract ticker.
///
/// A plain `HashMap` (the design card's choice): it is only ever looked up by
/// key, never iterated into output, so its order cannot leak. Memory stays
/// bounded because expired entries are removed when met and by [`sweep`], and
/// everything goes when the trading date changes.
///
/// It is the hottest lookup of a scan (every contract of every chain, about
/// 150,000 for a 200-symbol watchlist), so an entry is kept small and in one
/// place: the ticker inline in the key (an OCC ticker is at most 21 bytes),
/// the time as nanoseconds. A lookup then touches the table and nothing
/// else, and an entry costs 48 bytes (plus the table's spare room) instead
/// of ~135 with a `String` key.
///
/// [`sweep`]: VolumeCache::sweep
#[derive(Debug, Clone)]
pub struct VolumeCache {
    entries: HashMap<InlineKey, Stored>,
    /// Keys too long to hold inline (not an OCC ticker; kept all the same).
    long: HashMap<String, Stored>,
    ttl: TimeDelta,
    trading_date: Option<NaiveDate>,
    stats: CacheStats,
}

/// The longest ticker held inline.
const INLINE: usize = 23;

/// A ticker of at most [`INLINE`] bytes, zero-padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct InlineKey {
    len: u8,
    bytes: [u8; INLINE],
}

impl InlineKey {
    fn of(ticker: &str) -> Option<InlineKey> {
        let b = ticker.as_bytes();
        let mut bytes = [0u8; INLINE];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(InlineKey { len: b.len() as u8, bytes })
    }
}

/// A [`VolumeEntry`] as kept (24 bytes): no VWAP as NaN (a VWAP read from
/// JSON is a number), the time as nanoseconds since the epoch.
#[derive(Debug, Clone, Copy)]
struct Stored {
    volume: f64,
    vwap: f64,
    at_ns: i64,
}

impl Stored {
    fn of(e: &VolumeEntry) -> Stored {
        Stored { volume: e.volume, vwap: e.vwap.unwrap_or(f64::NAN), at_ns: unix_nanos(e.at) }
    }

    fn entry(&self) -> VolumeEntry {
        let vwap = (!self.vwap.is_nan()).then_some(self.vwap);
        VolumeEntry { volume: self.volume, vwap, at: DateTime::from_timestamp_nanos(self.at_ns) }
    }
}

impl Default for VolumeCache {
    fn default() -> Self {
        VolumeCache::new(DEFAULT_VOLUME_TTL_SECONDS)
    }
}

impl VolumeCache {
    pub fn new(ttl_seconds: u64) -> Self {
        VolumeCache {
            entries: HashMap::new(),
            long: HashMap::new(),
            ttl: seconds(ttl_seconds),
            trading_date: None,
            stats: CacheStats::default(),
        }
    }

    /// Starts `trading_date`: when it differs from the date the entries were
    /// made on, every entry goes (yesterday's volume is not a baseline for
    /// today's). Returns how many were evicted.
    pub fn roll_date(&mut self, trading_date: NaiveDate) -> usize {
        if self.trading_date == Some(trading_date) {
            return 0;
        }
        self.trading_date = Some(trading_date);
        let n = self.len();
        // Dropped, not cleared: a cleared map keeps its table (10 MB for a
        // 200-symbol watchlist) through the night.
        self.entries = HashMap::new();
        self.long = HashMap::new();
        self.stats.evictions += n as u64;
        n
    }

    /// The baseline of `contract` if it is no older than the TTL. An expired
    /// entry is removed (an eviction) and counts as a miss.
    pub fn get(&mut self, contract: &str, now: DateTime<Utc>) -> Option<VolumeEntry> {
        let key = InlineKey::of(contract);
        let found = match &key {
            Some(k) => self.entries.get(k).copied(),
            None => self.long.get(contract).copied(),
        };
        match found {
            Some(e) if !self.expired(&e, unix_nanos(now)) => {
                self.stats.hits += 1;
                Some(e.entry())
            }
            Some(_) => {
                match key {
                    Some(k) => self.entries.remove(&k),
                    None => self.long.remove(contract),
                };
                self.stats.evictions += 1;
                self.stats.misses += 1;
                None
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    pub fn set(&mut self, contract: &str, entry: VolumeEntry) {
        self.stats.sets += 1;
        let stored = Stored::of(&entry);
        match InlineKey::of(contract) {
            Some(k) => {
                self.entries.insert(k, stored);
            }
            None => match self.long.get_mut(contract) {
                Some(e) => *e = stored,
                None => {
                    self.long.insert(contract.to_string(), stored);
                }
            },
        }
    }

    /// Removes every expired entry; returns how many. The shell calls it once
    /// per pass over the watchlist so contracts that left the chain (expired,
    /// or outside the DTE window) do not stay in memory all day.
    pub fn sweep(&mut self, now: DateTime<Utc>) -> usize {
        let before = self.len();
        let (now, ttl) = (unix_nanos(now), self.ttl_nanos());
        self.entries.retain(|_, e| !is_older(e.at_ns, now, ttl));
        self.long.retain(|_, e| !is_older(e.at_ns, now, ttl));
        let n = before - self.len();
        // A watchlist that shrank leaves a table sized for the old one; give
        // it back once it is mostly empty.
        if self.entries.capacity() > 4 * self.entries.len().max(1024) {
            self.entries.shrink_to_fit();
        }
        self.stats.evictions += n as u64;
        n
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.entries.len() + self.long.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl.num_seconds()
    }

    fn ttl_nanos(&self) -> i64 {
        self.ttl.num_nanoseconds().unwrap_or(i64::MAX)
    }

    fn expired(&self, e: &Stored, now_ns: i64) -> bool {
        is_older(e.at_ns, now_ns, self.ttl_nanos())
    }
}

/// Older than the TTL (all nanoseconds): an entry exactly `ttl` old is
/// still valid. A time in the future (the wall clock stepped back) is not
/// old.
fn is_older(at_ns: i64, now_ns: i64, ttl_ns: i64) -> bool {
    now_ns.saturating_sub(at_ns) > ttl_ns
}

fn seconds(s: u64) -> TimeDelta {
    TimeDelta::try_seconds(i64::try_from(s).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX)
}

/// The ET calendar date of an instant: the trading date (SPEC §2).
fn et_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&New_York).date_naive()
}

#[derive(Debug, Clone)]
struct ChainEntry<T> {
    fetched_at: DateTime<Utc>,
    value: T,
}

/// The last scan of each underlying's chain, reused while younger than the
/// TTL and of the same ET trading date.
///
/// Bounded: a `put` drops every entry that can no longer be served, so at
/// most the symbols fetched within one TTL are held.
#[derive(Debug, Clone)]
pub struct ChainCache<T> {
    entries: BTreeMap<String, ChainEntry<T>>,
    ttl: TimeDelta,
    stats: CacheStats,
}

impl<T> Default for ChainCache<T> {
    fn default() -> Self {
        ChainCache::new(DEFAULT_CHAIN_TTL_SECONDS)
    }
}

impl<T> ChainCache<T> {
    pub fn new(ttl_seconds: u64) -> Self {
        ChainCache { entries: BTreeMap::new(), ttl: seconds(ttl_seconds), stats: CacheStats::default() }
    }

    /// The scan of `underlying` if fetched less than the TTL before `now` and
    /// on the same trading date. The TTL is exclusive (unlike the volume
    /// cache's): with bots firing every 15 s and a 30 s TTL, a scan exactly
    /// 30 s old is refetched, so the chain is never more than 30 s stale.
    /// A stale entry is removed (an eviction) and counts as a miss.
    pub fn get(&mut self, underlying: &str, now: DateTime<Utc>) -> Option<&T> {
        let fresh = match self.entries.get(underlying) {
            Some(e) => self.servable(e.fetched_at, now),
            None => {
                self.stats.misses += 1;
                return None;
            }
        };
        if !fresh {
            self.entries.remove(underlying);
            self.stats.evictions += 1;
            self.stats.misses += 1;
            return None;
        }
        self.stats.hits += 1;
        self.entries.get(underlying).map(|e| &e.value)
    }

    /// Stores the scan of `underlying` fetched at `fetched_at`, replacing the
    /// previous one, and drops entries that can no longer be served.
    pub fn put(&mut self, underlying: &str, fetched_at: DateTime<Utc>, value: T) {
        let ttl = self.ttl;
        let before = self.entries.len();
        self.entries.retain(|_, e| servable(e.fetched_at, fetched_at, ttl));
        self.stats.evictions += (before - self.entries.len()) as u64;
        self.stats.sets += 1;
        self.entries.insert(underlying.to_string(), ChainEntry { fetched_at, value });
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn servable(&self, fetched_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        servable(fetched_at, now, self.ttl)
    }
}

/// A scan fetched at `fetched_at` may answer at `now`: same trading date, and
/// less than the TTL old (a scan from the future — the clock stepped back —
/// is not trusted either).
fn servable(fetched_at: DateTime<Utc>, now: DateTime<Utc>, ttl: TimeDelta) -> bool {
    let age = now.signed_duration_since(fetched_at);
    age >= TimeDelta::zero() && age < ttl && et_date(fetched_at) == et_date(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn entry(volume: f64, t: &str) -> VolumeEntry {
        VolumeEntry { volume, vwap: None, at: at(t) }
    }

    /// One operation on a volume cache and what `get` should return.
    enum Op {
        Date(&'static str),
        Set(&'static str, f64, &'static str),
        Get(&'static str, &'static str, Option<f64>),
        Sweep(&'static str, usize),
    }

    fn check_volume(ops: &[Op], want_stats: [u64; 4], want_len: usize) {
        let mut c = VolumeCache::new(900);
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Date(d) => {
                    c.roll_date(d.parse().unwrap());
                }
                Op::Set(k, v, t) => c.set(k, entry(*v, t)),
                Op::Get(k, t, want) => assert_eq!(c.get(k, at(t)).map(|e| e.volume), *want, "op {i}"),
                Op::Sweep(t, want) => assert_eq!(c.sweep(at(t)), *want, "op {i}"),
            }
        }
        let s = c.stats();
        assert_eq!([s.hits, s.misses, s.sets, s.evictions], want_stats);
        assert_eq!(c.len(), want_len);
    }

    #[test]
    fn volume_cache_table() {
        use Op::*;
        const T0: &str = "2025-10-22T14:30:00Z";
        // (ops, [hits, misses, sets, evictions], len)
        let cases: Vec<(Vec<Op>, [u64; 4], usize)> = vec![
            (vec![Get("A", T0, None)], [0, 1, 0, 0], 0),
            (vec![Set("A", 5.0, T0), Get("A", "2025-10-22T14:45:00Z", Some(5.0))], [1, 0, 1, 0], 1),
            (vec![Set("A", 5.0, T0), Get("A", "2025-10-22T14:45:01Z", None)], [0, 1, 1, 1], 0),
            (vec![Set("A", 5.0, T0), Set("A", 7.0, T0), Get("A", T0, Some(7.0))], [1, 0, 2, 0], 1),
            (vec![Set("A", 5.0, "2025-10-22T14:30:10Z"), Get("A", T0, Some(5.0))], [1, 0, 1, 0], 1),
            (
                vec![
                    Date("2025-10-22"),
                    Set("A", 5.0, T0),
                    Set("B", 5.0, T0),
                    Date("2025-10-22"),
                    Get("A", T0, Some(5.0)),
                    Date("2025-10-23"),
                    Get("A", T0, None),
                ],
                [1, 1, 2, 2],
                0,
            ),
            (
                vec![
                    Set("A", 5.0, T0),
                    Set("B", 5.0, "2025-10-22T14:40:00Z"),
                    Sweep("2025-10-22T14:45:00Z", 0),
                    Sweep("2025-10-22T14:45:01Z", 1),
                    Get("B", "2025-10-22T14:45:01Z", Some(5.0)),
                ],
                [1, 0, 2, 1],
                1,
            ),
        ];
        for (ops, stats, len) in cases {
            check_volume(&ops, stats, len);
        }
    }

    #[test]
    fn hit_rate() {
        let cases = [(0, 0, 0.0), (3, 1, 0.75), (0, 5, 0.0)];
        for (hits, misses, want) in cases {
            assert_eq!(CacheStats { hits, misses, ..CacheStats::default() }.hit_rate(), want);
        }
    }

    #[test]
    fn chain_cache_ttl_and_date_edges() {
        // (fetched_at, asked at, served?) for a 30 s TTL. 04:00Z is midnight
        // ET in October (EDT, UTC−4).
        let cases = [
            ("2025-10-22T14:30:00Z", "2025-10-22T14:30:00Z", true),
            ("2025-10-22T14:30:00Z", "2025-10-22T14:30:29Z", true),
            ("2025-10-22T14:30:00Z", "2025-10-22T14:30:30Z", false),
            ("2025-10-22T14:30:00Z", "2025-10-22T14:29:59Z", false),
            ("2025-10-23T03:59:50Z", "2025-10-23T03:59:59Z", true),
            ("2025-10-23T03:59:50Z", "2025-10-23T04:00:00Z", false),
            // 04:00Z is not midnight ET in winter (EST, UTC−5): same date.
            ("2025-12-10T03:59:50Z", "2025-12-10T04:00:05Z", true),
            ("2025-12-10T04:59:50Z", "2025-12-10T05:00:00Z", false),
        ];
        for (fetched, asked, served) in cases {
            let mut c: ChainCache<u32> = ChainCache::new(30);
            c.put("SPY", at(fetched), 7);
            let got = c.get("SPY", at(asked)).copied();
            assert_eq!(got, served.then_some(7), "fetched {fetched} asked {asked}");
            let s = c.stats();
            assert_eq!((s.hits, s.misses, s.sets), (u64::from(served), u64::from(!served), 1));
            assert_eq!(c.len(), usize::from(served));
        }
    }

    #[test]
    fn chain_cache_shares_and_stays_bounded() {
        let mut c: ChainCache<&str> = ChainCache::default();
        assert_eq!(c.get("SPY", at("2025-10-22T14:30:00Z")), None);
        c.put("SPY", at("2025-10-22T14:30:00Z"), "spy-1");
        c.put("QQQ", at("2025-10-22T14:30:10Z"), "qqq-1");
        assert_eq!(c.get("SPY", at("2025-10-22T14:30:06Z")), Some(&"spy-1"));
        assert_eq!(c.get("QQQ", at("2025-10-22T14:30:12Z")), Some(&"qqq-1"));
        // Putting IWM 35 s later drops SPY, which could no longer be served.
        c.put("IWM", at("2025-10-22T14:30:35Z"), "iwm-1");
        assert_eq!(c.len(), 2);
        c.put("SPY", at("2025-10-22T14:30:36Z"), "spy-2");
        assert_eq!(c.get("SPY", at("2025-10-22T14:30:39Z")), Some(&"spy-2"));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.sets, s.evictions), (3, 1, 4, 1));
    }
}
