//! The two caches of the options scan, both pure (time is an argument):
//!
//! - [`VolumeCache`]: the previous observation of every contract, the
//!   baseline that flow detection measures new volume against (SPEC §5).
//! - [`ChainCache`]: the last chain scan per underlying, so the five options
//!   bots scanning one symbol within `CHAIN_CACHE_TTL_SECONDS` share one fetch
//!   and one detection pass (SPEC §4).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::calendar::trading_date;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::clock::unix_nanos;
use crate::polygon::models::ascii_number;

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
/// Plain `HashMap`s (the design card's choice): they are only ever looked up
/// by key, never iterated into output, so their order cannot leak. Memory
/// stays bounded because expired entries are removed when met and by
/// [`sweep`], and everything goes when the trading date changes.
///
/// It is the hottest lookup of a scan (every contract of every chain, about
/// 150,000 for a 200-symbol watchlist), so:
///
/// - there is one table per ticker root (`O:SPY` of `O:SPY251121C00670000`):
///   a chain's lookups stay in its own table, a few hundred kilobytes that
///   stay in the CPU's cache, where one table of every contract (13 MB) made
///   nearly every lookup a trip to memory;
/// - an entry is small and in one place: within its root's table the rest
///   of the ticker is a number (expiry, type, strike), the time is in
///   nanoseconds; 32 bytes plus the table's spare room, where a `String`
///   key made it ~135;
/// - [`observe`] reads and replaces a baseline with one lookup.
///
/// [`sweep`]: VolumeCache::sweep
/// [`observe`]: VolumeCache::observe
#[derive(Debug, Clone)]
pub struct VolumeCache {
    /// Keyed by [`root_key`].
    roots: HashMap<u64, Table>,
    /// Tickers not in the OCC shape (kept all the same).
    other: HashMap<String, Stored>,
    ttl: TimeDelta,
    trading_date: Option<NaiveDate>,
    stats: CacheStats,
}

/// One root's entries, keyed by [`occ_key`].
type Table = HashMap<u64, Stored>;

/// Where a ticker's entry lives: its root's table under its [`occ_key`],
/// or, for a ticker not in the OCC shape, the map of whole tickers.
enum Slot<'a> {
    Occ(&'a str, u64),
    Other,
}

impl Slot<'_> {
    fn of(ticker: &str) -> Slot<'_> {
        let root = root(ticker);
        match (root_key(root), occ_key(&ticker.as_bytes()[root.len()..])) {
            (Some(_), Some(key)) => Slot::Occ(root, key),
            _ => Slot::Other,
        }
    }
}

/// A root of at most 8 bytes (`O:` and an OCC root of up to six) as a
/// number, zero-padded: its table is then found by hashing a `u64`, with
/// no `String` made or hashed for each contract. None for a longer root or
/// one with a NUL byte (the padding must not be mistaken for it).
fn root_key(root: &str) -> Option<u64> {
    let b = root.as_bytes();
    if b.len() > 8 || b.contains(&0) {
        return None;
    }
    let mut bytes = [0u8; 8];
    bytes[..b.len()].copy_from_slice(b);
    Some(u64::from_le_bytes(bytes))
}

/// The table a ticker's entry lives in: the ticker up to its first digit,
/// i.e. `O:` and the OCC root, which is the same for every contract of one
/// chain.
fn root(ticker: &str) -> &str {
    // An ASCII digit is a char boundary.
    &ticker[..ticker.bytes().position(|b| b.is_ascii_digit()).unwrap_or(ticker.len())]
}

/// The rest of an OCC ticker after its root, `YYMMDD`, `C` or `P` and the
/// strike in thousandths as 8 digits (`251121C00670000`), as one number;
/// None for anything else. Distinct suffixes give distinct numbers: it is
/// the digits in order with the type as one more binary digit.
fn occ_key(suffix: &[u8]) -> Option<u64> {
    if suffix.len() != 15 {
        return None;
    }
    let put = match suffix[6] {
        b'C' => 0,
        b'P' => 1,
        _ => return None,
    };
    Some((ascii_number(&suffix[..6])? * 2 + put) * 100_000_000 + ascii_number(&suffix[7..])?)
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
            roots: HashMap::new(),
            other: HashMap::new(),
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
        self.roots = HashMap::new();
        self.other = HashMap::new();
        self.stats.evictions += n as u64;
        n
    }

    /// The baseline of `contract` if it is no older than the TTL. An expired
    /// entry is removed (an eviction) and counts as a miss.
    pub fn get(&mut self, contract: &str, now: DateTime<Utc>) -> Option<VolumeEntry> {
        let now_ns = unix_nanos(now);
        let ttl = self.ttl_nanos();
        let found = match Slot::of(contract) {
            Slot::Occ(root, key) => {
                root_key(root).and_then(|r| self.roots.get_mut(&r)).and_then(|t| take_expired(t, &key, now_ns, ttl))
            }
            Slot::Other => take_expired(&mut self.other, contract, now_ns, ttl),
        };
        self.count(found, now_ns).map(|e| e.entry())
    }

    pub fn set(&mut self, contract: &str, entry: VolumeEntry) {
        self.stats.sets += 1;
        let stored = Stored::of(&entry);
        match Slot::of(contract) {
            Slot::Occ(root, key) => {
                self.table(root).insert(key, stored);
            }
            Slot::Other => match self.other.get_mut(contract) {
                Some(e) => *e = stored,
                None => {
                    self.other.insert(contract.to_string(), stored);
                }
            },
        }
    }

    /// What [`get`](Self::get) at `entry.at` returns, and `entry` stored as
    /// the new baseline unless its volume is below that baseline's: a lagging
    /// replica's lower count never replaces a higher one, so the next
    /// snapshot counts only the volume above the highest seen. One lookup.
    pub fn observe(&mut self, contract: &str, entry: VolumeEntry) -> Option<VolumeEntry> {
        let new = Stored::of(&entry);
        let ttl = self.ttl_nanos();
        let (found, replaced) = match Slot::of(contract) {
            Slot::Occ(root, key) => replace(self.table(root).entry(key), new, ttl),
            Slot::Other => replace(self.other.entry(contract.to_string()), new, ttl),
        };
        if replaced {
            self.stats.sets += 1;
        }
        self.count(found, new.at_ns).map(|e| e.entry())
    }

    /// Counts a lookup that found `found` at `now_ns`: a hit, or a miss
    /// (an eviction too when it had expired). The baseline, if valid.
    fn count(&mut self, found: Option<Stored>, now_ns: i64) -> Option<Stored> {
        match found {
            Some(e) if !is_older(e.at_ns, now_ns, self.ttl_nanos()) => {
                self.stats.hits += 1;
                Some(e)
            }
            Some(_) => {
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

    /// The table of `root` (one that [`Slot::of`] took), made when first
    /// needed: one lookup.
    fn table(&mut self, root: &str) -> &mut Table {
        self.roots.entry(root_key(root).unwrap_or_default()).or_default()
    }

    /// Removes every expired entry; returns how many. The engine calls it at
    /// most once a minute (`Engine::maintain`) so contracts that left the
    /// chain (expired, or outside the DTE window) do not stay in memory all
    /// day.
    pub fn sweep(&mut self, now: DateTime<Utc>) -> usize {
        let before = self.len();
        let (now, ttl) = (unix_nanos(now), self.ttl_nanos());
        for table in self.roots.values_mut() {
            table.retain(|_, e| !is_older(e.at_ns, now, ttl));
            // A chain that shrank leaves a table sized for the old one; give
            // it back once it is mostly empty.
            if table.capacity() > 4 * table.len().max(64) {
                table.shrink_to_fit();
            }
        }
        self.roots.retain(|_, table| !table.is_empty());
        self.other.retain(|_, e| !is_older(e.at_ns, now, ttl));
        let n = before - self.len();
        self.stats.evictions += n as u64;
        n
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.roots.values().map(HashMap::len).sum::<usize>() + self.other.len()
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
}

/// The entry of `key` in `map`, removed from it when older than `ttl` at
/// `now_ns` (the caller counts it as an eviction).
fn take_expired<K, Q>(map: &mut HashMap<K, Stored>, key: &Q, now_ns: i64, ttl: i64) -> Option<Stored>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let found = map.get(key).copied();
    if found.is_some_and(|e| is_older(e.at_ns, now_ns, ttl)) {
        map.remove(key);
    }
    found
}

/// The entry in `slot`, and whether `new` took its place: it does unless
/// the old entry is still valid and has the higher volume.
fn replace<K>(slot: Entry<'_, K, Stored>, new: Stored, ttl: i64) -> (Option<Stored>, bool) {
    match slot {
        Entry::Vacant(v) => {
            v.insert(new);
            (None, true)
        }
        Entry::Occupied(mut o) => {
            let old = *o.get();
            let keep = !is_older(old.at_ns, new.at_ns, ttl) && new.volume < old.volume;
            if !keep {
                o.insert(new);
            }
            (Some(old), !keep)
        }
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
    age >= TimeDelta::zero() && age < ttl && trading_date(fetched_at) == trading_date(now)
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
        /// `observe(key, volume at time)` and the baseline it returns.
        Observe(&'static str, f64, &'static str, Option<f64>),
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
                Op::Observe(k, v, t, want) => assert_eq!(c.observe(k, entry(*v, t)).map(|e| e.volume), *want, "op {i}"),
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
    fn occ_keys() {
        let key = |t: &str| match Slot::of(t) {
            Slot::Occ(root, key) => Some((root.to_string(), key)),
            Slot::Other => None,
        };
        let cases = [
            ("O:SPY251121C00670000", Some(("O:SPY", 251121, 0, 670000))),
            ("O:SPY251121P00670000", Some(("O:SPY", 251121, 1, 670000))),
            ("O:SPXW251121C06700000", Some(("O:SPXW", 251121, 0, 6700000))),
            ("SPY991231P99999999", Some(("SPY", 991231, 1, 99999999))),
            ("O:SPY251121X00670000", None),
            ("O:SPY251121C0067000", None),
            ("O:SPY251121C006700000", None),
            ("O:SPY25112AC00670000", None),
            ("O:SPY251121C0067000A", None),
            ("O:AAPL1251121C00150000", None),
            ("O:SPY", None),
            ("", None),
        ];
        for (ticker, want) in cases {
            // (root, YYMMDD, 1 for a put, strike in thousandths)
            let want = want.map(|(root, date, put, strike): (&str, u64, u64, u64)| {
                (root.to_string(), (date * 2 + put) * 100_000_000 + strike)
            });
            assert_eq!(key(ticker), want, "{ticker}");
        }
    }

    /// `observe` is `get` then `set` unless the baseline is higher, in one
    /// lookup, and the tables per ticker root keep tickers apart.
    #[test]
    fn observe_table() {
        use Op::*;
        const T0: &str = "2025-10-22T14:30:00Z";
        const T1: &str = "2025-10-22T14:35:00Z";
        const LATE: &str = "2025-10-22T14:50:00Z";
        const SPY: &str = "O:SPY251121C00670000";
        const SPY_P: &str = "O:SPY251121P00670000";
        const SPX: &str = "O:SPXW251121C06700000";
        const LONG: &str = "O:NOT-AN-OCC-TICKER-AT-ALL";
        let cases: Vec<(Vec<Op>, [u64; 4], usize)> = vec![
            // First sight: a miss and a set.
            (vec![Observe(SPY, 5.0, T0, None), Get(SPY, T0, Some(5.0))], [1, 1, 1, 0], 1),
            // Higher volume replaces; the old baseline is returned.
            (
                vec![Observe(SPY, 5.0, T0, None), Observe(SPY, 7.0, T1, Some(5.0)), Get(SPY, T1, Some(7.0))],
                [2, 1, 2, 0],
                1,
            ),
            // Equal volume replaces too (its time is newer).
            (vec![Observe(SPY, 5.0, T0, None), Observe(SPY, 5.0, T1, Some(5.0))], [1, 1, 2, 0], 1),
            // Lower volume (a lagging replica) keeps the higher baseline.
            (
                vec![Observe(SPY, 5.0, T0, None), Observe(SPY, 3.0, T1, Some(5.0)), Get(SPY, T1, Some(5.0))],
                [2, 1, 1, 0],
                1,
            ),
            // An expired baseline is an eviction and a miss, and is replaced even by a lower volume.
            (
                vec![Observe(SPY, 5.0, T0, None), Observe(SPY, 3.0, LATE, None), Get(SPY, LATE, Some(3.0))],
                [1, 2, 2, 1],
                1,
            ),
            // Same root, different contracts; different roots; a ticker not in the OCC shape.
            (
                vec![
                    Observe(SPY, 5.0, T0, None),
                    Observe(SPY_P, 6.0, T0, None),
                    Observe(SPX, 7.0, T0, None),
                    Observe(LONG, 8.0, T0, None),
                    Observe(LONG, 9.0, T1, Some(8.0)),
                    Get(SPY, T1, Some(5.0)),
                    Get(SPY_P, T1, Some(6.0)),
                    Get(SPX, T1, Some(7.0)),
                    Get(LONG, T1, Some(9.0)),
                    Get("O:QQQ251121C00600000", T1, None),
                    Sweep(LATE, 3),
                    Get(LONG, LATE, Some(9.0)),
                ],
                [6, 5, 5, 3],
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
