//! Darkpool (`darkpool`): large off-exchange stock prints.
//!
//! Rule (SPEC §6): a print reported to a FINRA trade reporting facility
//! (`exchange == 4` with a `trf_id`), size ≥ `DARKPOOL_MIN_SIZE`, notional
//! (size × price) ≥ `DARKPOOL_MIN_NOTIONAL`, none of the excluded conditions,
//! not a correction, each print id once; and, relative to the stock itself
//! ([`relative`]), a large share of its average daily volume over the
//! previous [`ADV_SESSIONS`] sessions: at least `DARKPOOL_MIN_ADV_FRACTION`
//! (0.5%), or at least `DARKPOOL_LARGE_MIN_ADV_FRACTION` (0.25%) for a print
//! of `DARKPOOL_LARGE_NOTIONAL` ($100M) or more. The share floor alone cannot
//! tell a routine 10,000-share SPY cross (SPY trades tens of millions of
//! shares a day) from a block that moves a thinly traded name.
//!
//! The caller keeps a [`Cursor`] in SQLite and asks Polygon for prints with
//! `timestamp.gte = cursor.sip_timestamp`; [`unseen`] drops what the cursor
//! already covers, [`DayTape`] keeps the day's VWAP and dark volume per price
//! level, and [`scan`] ties them together. A dark print has no aggressor side,
//! so the alert is always neutral: it says where size traded, not which way.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::alert::{Alert, Sentiment, Side, fmt_money};
use crate::bots::{Suppressed, alert_id};
use crate::calendar::{MARKET_TZ, trading_date};
use crate::job::Bot;
use crate::polygon::models::Trade;

/// FINRA's trade reporting facility: off-exchange ("dark") stock prints.
pub const TRF_EXCHANGE: i32 = 4;

/// Conditions whose price is not a live level or whose size is not a real
/// block: average-price, cash, derivatively priced, extended-hours and
/// out-of-sequence reports, official open/close, next-day, price-variation,
/// prior-reference, seller, odd-lot and contingent trades (SPEC §6).
pub const EXCLUDED_CONDITIONS: [i32; 19] = [2, 7, 10, 12, 13, 15, 16, 20, 21, 22, 29, 30, 31, 32, 33, 35, 37, 52, 53];

/// The alert's label: what it is, and where it was reported.
pub const LABEL: &str = "dark pool print (TRF)";

/// Price levels kept per day. A stock moving $50 in a day at one-cent
/// levels needs 5,000; past the bound new levels are not tracked (and the
/// alert says so) rather than letting one wild tape grow memory without end.
pub const MAX_PRICE_LEVELS: usize = 20_000;

/// Ids kept at the cursor's boundary timestamp. Prints sharing one
/// nanosecond are a handful; the bound only guarantees the cursor row stays
/// small. Past it a boundary print may be offered again, and the alert id
/// (the print id) still keeps the outbox from posting it twice.
pub const MAX_BOUNDARY_IDS: usize = 1_000;

/// Previous sessions whose mean daily volume is the stock's usual volume
/// (a month of trading, as Breakouts' range).
pub const ADV_SESSIONS: usize = 20;

/// Thresholds; each is an environment variable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DarkpoolConfig {
    /// `DARKPOOL_MIN_SIZE`, shares, inclusive.
    pub min_size: f64,
    /// `DARKPOOL_MIN_NOTIONAL`, dollars, inclusive.
    pub min_notional: f64,
    /// `DARKPOOL_MIN_ADV_FRACTION`: the print's size over the stock's
    /// average daily volume, inclusive; enough on its own.
    pub min_adv_fraction: f64,
    /// `DARKPOOL_LARGE_NOTIONAL`: from this many dollars (inclusive) a
    /// print needs only `large_min_adv_fraction` of the daily volume.
    pub large_notional: f64,
    /// `DARKPOOL_LARGE_MIN_ADV_FRACTION`, inclusive.
    pub large_min_adv_fraction: f64,
}

impl Default for DarkpoolConfig {
    fn default() -> Self {
        DarkpoolConfig {
            min_size: 10_000.0,
            min_notional: 0.0,
            min_adv_fraction: 0.005,
            large_notional: 100_000_000.0,
            large_min_adv_fraction: 0.0025,
        }
    }
}

impl DarkpoolConfig {
    pub fn from_config(c: &crate::config::Config) -> Self {
        DarkpoolConfig {
            min_size: c.tunables.darkpool_min_size,
            min_notional: c.tunables.darkpool_min_notional,
            min_adv_fraction: c.tunables.darkpool_min_adv_fraction,
            large_notional: c.tunables.darkpool_large_notional,
            large_min_adv_fraction: c.tunables.darkpool_large_min_adv_fraction,
        }
    }
}

impl DarkpoolConfig {
    /// False when `DARKPOOL_MIN_ADV_FRACTION` is 0: the relative gate is
    /// off, and no daily bars are asked for.
    pub fn needs_volume(&self) -> bool {
        self.min_adv_fraction > 0.0
    }
}

/// The mean volume of the last [`ADV_SESSIONS`] sessions of `daily` (day
/// bars, any order) before `today`; `None` with fewer sessions or no
/// volume, since a gate that needs it cannot be judged without it.
pub fn average_daily_volume(daily: &[crate::bars::Bar], today: NaiveDate) -> Option<f64> {
    let mut previous: Vec<&crate::bars::Bar> =
        daily.iter().filter(|b| b.trading_date() < today && b.volume.is_finite() && b.volume >= 0.0).collect();
    previous.sort_by_key(|b| b.start);
    if previous.len() < ADV_SESSIONS {
        return None;
    }
    let window = &previous[previous.len() - ADV_SESSIONS..];
    let adv = window.iter().map(|b| b.volume).sum::<f64>() / ADV_SESSIONS as f64;
    (adv > 0.0).then_some(adv)
}

/// The relative gate: the print's size as a fraction of the stock's
/// average daily volume `adv` is at least `min_adv_fraction`, or at least
/// `large_min_adv_fraction` when its notional reaches `large_notional` (a
/// block that size is rare in dollars even where it is a routine slice of
/// a heavily traded stock's day). Returns the fraction; with no `adv` the
/// gate fails.
pub fn relative(cfg: &DarkpoolConfig, t: &Trade, adv: Option<f64>) -> Result<f64, Suppressed> {
    relative_size(cfg, t.size, t.price, adv)
}

/// [`relative`] on a print's `size` (shares) and `price`: the one rule the
/// bot and the simulator's oracle both apply.
pub fn relative_size(cfg: &DarkpoolConfig, size: f64, price: f64, adv: Option<f64>) -> Result<f64, Suppressed> {
    if !cfg.needs_volume() {
        return Ok(adv.map_or(0.0, |adv| size / adv));
    }
    let Some(adv) = adv else {
        return Err(Suppressed::new(format!("average daily volume unknown (fewer than {ADV_SESSIONS} sessions)")));
    };
    let fraction = size / adv;
    let large = size * price >= cfg.large_notional;
    if fraction >= cfg.min_adv_fraction || (large && fraction >= cfg.large_min_adv_fraction) {
        return Ok(fraction);
    }
    let needed = if large { cfg.large_min_adv_fraction } else { cfg.min_adv_fraction };
    Err(Suppressed::new(format!(
        "size={size:.0} is {:.3}% of average daily volume {adv:.0}, below {}% for a ${:.0} print",
        fraction * 100.0,
        needed * 100.0,
        size * price
    )))
}

/// True for a print reported to a TRF: exchange 4 alone can be a FINRA ADF
/// quote-driven print, and a `trf_id` on another exchange is a data error, so
/// both are required.
pub fn is_trf(t: &Trade) -> bool {
    t.exchange == Some(TRF_EXCHANGE) && t.trf_id.is_some()
}

/// True for a print that corrects or cancels an earlier one. Polygon's
/// `correction` is 0 (or absent) on an original report; any other value is a
/// correction, whose size was already alerted on (or never existed), so it is
/// never a new block.
pub fn is_correction(t: &Trade) -> bool {
    t.correction.is_some_and(|c| c != 0)
}

/// The first excluded condition `t` carries, if any.
fn excluded_condition(t: &Trade) -> Option<i32> {
    t.conditions.as_deref()?.iter().copied().find(|c| EXCLUDED_CONDITIONS.contains(c))
}

/// A dark print whose price is a real level: TRF-reported, not a correction,
/// no excluded condition. These are what the per-level volume counts; the
/// size thresholds only decide what alerts.
fn is_dark_level_print(t: &Trade) -> bool {
    is_trf(t) && !is_correction(t) && excluded_condition(t).is_none()
}

/// Whether `t` is an alertable dark print; otherwise the first rule it failed.
pub fn qualifies(cfg: &DarkpoolConfig, t: &Trade) -> Result<(), Suppressed> {
    if t.exchange != Some(TRF_EXCHANGE) {
        let exchange = t.exchange.map_or_else(|| "none".to_string(), |e| e.to_string());
        return Err(Suppressed::new(format!("exchange={exchange} not TRF ({TRF_EXCHANGE})")));
    }
    if t.trf_id.is_none() {
        return Err(Suppressed::new("trf_id missing on exchange=4"));
    }
    if is_correction(t) {
        return Err(Suppressed::new(format!("correction={} not an original print", t.correction.unwrap_or(0))));
    }
    if let Some(c) = excluded_condition(t) {
        return Err(Suppressed::new(format!("condition={c} excluded")));
    }
    if !valid(t) {
        return Err(Suppressed::new(format!("price={} size={} not finite and positive", t.price, t.size)));
    }
    if t.size < cfg.min_size {
        return Err(Suppressed::new(format!("size={:.0} below min_size={:.0}", t.size, cfg.min_size)));
    }
    let notional = t.size * t.price;
    if notional < cfg.min_notional {
        return Err(Suppressed::new(format!("notional={notional:.0} below min_notional={:.0}", cfg.min_notional)));
    }
    Ok(())
}

/// A print whose numbers can enter a sum without poisoning it.
fn valid(t: &Trade) -> bool {
    t.price.is_finite() && t.price > 0.0 && t.size.is_finite() && t.size > 0.0
}

/// The print's identity: Polygon's id, or its SIP timestamp when the id is
/// missing (two id-less prints in one nanosecond then count as one, a loss
/// accepted for a field Polygon always sends in practice).
pub fn print_key(t: &Trade) -> String {
    t.id.clone().unwrap_or_else(|| t.sip_timestamp.to_string())
}

/// The price rounded to the cent, as an integer level key. Rounding through
/// the integer avoids 10.005 and 10.0049999 landing on different levels by
/// float noise.
fn cents(price: f64) -> i64 {
    (price * 100.0).round() as i64
}

/// One symbol's running day: VWAP of every print seen and the dark volume
/// per cent-level. Fed every new print of each scan, in time order; a print
/// from a later trading date starts a new day, one from an earlier date is
/// ignored (a late page must not reset today's figures).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayTape {
    date: Option<NaiveDate>,
    /// Σ price·size over every valid print of the day.
    notional: f64,
    /// Σ size over every valid print of the day.
    volume: f64,
    /// Dark volume by price in cents; levels past [`MAX_PRICE_LEVELS`] are
    /// not tracked (an alert at one says so).
    dark_levels: BTreeMap<i64, f64>,
}

impl DayTape {
    pub fn new() -> Self {
        DayTape::default()
    }

    /// Adds `t` to the day it was printed on. Prints that are not finite and
    /// positive are skipped: one bad record must not turn the VWAP into NaN.
    pub fn observe(&mut self, t: &Trade) {
        if !valid(t) {
            return;
        }
        let date = trading_date(DateTime::from_timestamp_nanos(t.sip_timestamp));
        match self.date {
            Some(d) if date < d => return,
            Some(d) if date == d => {}
            _ => *self = DayTape { date: Some(date), ..DayTape::default() },
        }
        self.notional += t.price * t.size;
        self.volume += t.size;
        if is_dark_level_print(t) {
            let level = cents(t.price);
            if let Some(v) = self.dark_levels.get_mut(&level) {
                *v += t.size;
            } else if self.dark_levels.len() < MAX_PRICE_LEVELS {
                self.dark_levels.insert(level, t.size);
            }
        }
    }

    /// The trading date the figures belong to; `None` before the first print.
    pub fn date(&self) -> Option<NaiveDate> {
        self.date
    }

    /// Σ price·size / Σ size; `None` before any volume.
    pub fn vwap(&self) -> Option<f64> {
        (self.volume > 0.0).then(|| self.notional / self.volume)
    }

    /// Shares seen today across all venues.
    pub fn volume(&self) -> f64 {
        self.volume
    }

    /// The day's dark volume at `price`'s cent level; `None` when the level
    /// is not tracked (never printed dark, or the level table is full).
    pub fn dark_volume_at(&self, price: f64) -> Option<f64> {
        self.dark_levels.get(&cents(price)).copied()
    }

    /// Levels tracked, lowest price first.
    pub fn dark_levels(&self) -> &BTreeMap<i64, f64> {
        &self.dark_levels
    }
}

/// Where the caller resumes: the newest SIP timestamp seen and the keys of
/// the prints seen at exactly that timestamp.
///
/// Polygon pages by time, and a page can end inside a run of prints sharing
/// one timestamp. Resuming with `timestamp.gt` would lose the rest of that
/// run; resuming with `timestamp.gte` refetches its head. So the caller asks
/// with `timestamp.gte = sip_timestamp` and [`unseen`] drops the refetched
/// prints by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Nanoseconds since the epoch.
    pub sip_timestamp: i64,
    /// [`print_key`]s at `sip_timestamp`, sorted, at most [`MAX_BOUNDARY_IDS`].
    pub ids: Vec<String>,
}

/// The prints of `trades` the cursor has not covered, each key once, in time
/// order (stable, so equal timestamps keep Polygon's order).
pub fn unseen<'a>(cursor: Option<&Cursor>, trades: &'a [Trade]) -> Vec<&'a Trade> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<&Trade> = Vec::new();
    for t in trades {
        if let Some(c) = cursor {
            if t.sip_timestamp < c.sip_timestamp {
                continue;
            }
            if t.sip_timestamp == c.sip_timestamp && c.ids.iter().any(|id| *id == print_key(t)) {
                continue;
            }
        }
        if seen.insert(print_key(t)) {
            out.push(t);
        }
    }
    out.sort_by_key(|t| t.sip_timestamp);
    out
}

/// The cursor after `trades` (everything fetched this scan). An empty scan,
/// or one that only refetched older prints, keeps the previous cursor; a scan
/// ending on the previous boundary timestamp adds to its ids.
pub fn cursor_after(prev: Option<&Cursor>, trades: &[Trade]) -> Option<Cursor> {
    let Some(newest) = trades.iter().map(|t| t.sip_timestamp).max() else {
        return prev.cloned();
    };
    let mut ids: BTreeSet<String> = BTreeSet::new();
    match prev {
        Some(p) if p.sip_timestamp > newest => return prev.cloned(),
        Some(p) if p.sip_timestamp == newest => ids.extend(p.ids.iter().cloned()),
        _ => {}
    }
    ids.extend(trades.iter().filter(|t| t.sip_timestamp == newest).map(print_key));
    Some(Cursor { sip_timestamp: newest, ids: ids.into_iter().take(MAX_BOUNDARY_IDS).collect() })
}

/// Dollars and cents, with four decimals under a dollar so a sub-penny
/// difference on a cheap stock still shows.
fn fmt_price(x: f64) -> String {
    if x.abs() < 1.0 { format!("${x:.4}") } else { format!("${x:.2}") }
}

/// The Darkpool alert for print `t` of `symbol`, after `day` has observed it.
///
/// The id is the print's own id, so a restart that refetches the print (or a
/// boundary overlap) can never alert it twice.
/// `adv` is the stock's average daily volume (the relative gate's
/// denominator), shown in plain words.
pub fn build_alert(symbol: &str, t: &Trade, day: &DayTape, adv: Option<f64>, at: DateTime<Utc>) -> Alert {
    let mut a = Alert::new(alert_id(Bot::Darkpool, symbol, &print_key(t)), Bot::Darkpool, at, symbol);
    let notional = t.size * t.price;
    a.size = Some(t.size);
    a.price = Some(t.price);
    a.notional = Some(notional);
    a.label = LABEL.to_string();
    // A dark print has no aggressor: never a side, never a direction.
    a.side = Side::Unknown;
    a.sentiment = Sentiment::Neutral;

    let vs_vwap = match day.vwap() {
        Some(vwap) => format!("{:+.2}% vs VWAP {}", (t.price / vwap - 1.0) * 100.0, fmt_price(vwap)),
        None => "VWAP n/a (no volume seen today)".to_string(),
    };
    let level = match day.dark_volume_at(t.price) {
        Some(v) => format!("{} shares today", fmt_money(v)),
        None => "not tracked (level table full)".to_string(),
    };
    let printed = DateTime::from_timestamp_nanos(t.sip_timestamp).with_timezone(&MARKET_TZ);
    a.details.notes = vec![
        ("vs VWAP".to_string(), vs_vwap),
        (format!("dark volume at {}", fmt_price(t.price)), level),
        ("printed".to_string(), printed.format("%H:%M:%S ET").to_string()),
    ];
    if let Some(adv) = adv {
        a.details.unusual.push(format!(
            "{:.2}% of {symbol}'s average daily volume ({} shares over {ADV_SESSIONS} sessions)",
            t.size / adv * 100.0,
            fmt_money(adv)
        ));
    }
    a
}

/// What one scan of a symbol's new prints produced.
#[derive(Debug, Clone, PartialEq)]
pub struct DarkpoolScan {
    /// In print order.
    pub alerts: Vec<Alert>,
    /// New prints that did not qualify (a count: most prints are lit, and a
    /// reason per print would flood the logs).
    pub suppressed: usize,
    /// To persist for the next scan.
    pub cursor: Option<Cursor>,
}

/// True when some print of `trades` the cursor has not covered passes the
/// absolute rules ([`qualifies`]): only then is the stock's average daily
/// volume worth a request.
pub fn has_candidate(cfg: &DarkpoolConfig, cursor: Option<&Cursor>, trades: &[Trade]) -> bool {
    cfg.needs_volume() && unseen(cursor, trades).into_iter().any(|t| qualifies(cfg, t).is_ok())
}

/// One scan: every unseen print feeds the day's tape in time order, and each
/// print that passes the absolute rules and the relative gate against `adv`
/// (the stock's average daily volume) alerts against the tape as it stood at
/// that print (its own volume included), so "vs VWAP" is the VWAP the print
/// traded into.
pub fn scan(
    cfg: &DarkpoolConfig,
    symbol: &str,
    cursor: Option<&Cursor>,
    trades: &[Trade],
    day: &mut DayTape,
    adv: Option<f64>,
    at: DateTime<Utc>,
) -> DarkpoolScan {
    let mut alerts = Vec::new();
    let mut suppressed = 0;
    for t in unseen(cursor, trades) {
        day.observe(t);
        match qualifies(cfg, t).and_then(|()| relative(cfg, t, adv)) {
            Ok(_) => alerts.push(build_alert(symbol, t, day, adv, at)),
            Err(_) => suppressed += 1,
        }
    }
    DarkpoolScan { alerts, suppressed, cursor: cursor_after(cursor, trades) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    /// 2026-03-10 14:30:00 UTC, 10:30 ET, in nanoseconds.
    const T0: i64 = 1_773_153_000_000_000_000;
    const NS_PER_HOUR: i64 = 3_600_000_000_000;

    fn trade(id: &str, exchange: Option<i32>, trf_id: Option<i32>, price: f64, size: f64) -> Trade {
        Trade {
            id: Some(id.to_string()),
            exchange,
            trf_id,
            price,
            size,
            sip_timestamp: T0,
            conditions: None,
            ..Trade::default()
        }
    }

    /// The seed's absolute rules (no notional floor) with the relative gate.
    fn seed() -> DarkpoolConfig {
        DarkpoolConfig::default()
    }

    /// An average daily volume under which a 50,000-share print is 5%.
    const ADV: f64 = 1_000_000.0;

    fn dark(id: &str, price: f64, size: f64) -> Trade {
        trade(id, Some(4), Some(201), price, size)
    }

    fn lit(id: &str, price: f64, size: f64) -> Trade {
        trade(id, Some(11), None, price, size)
    }

    fn with_conditions(mut t: Trade, c: &[i32]) -> Trade {
        t.conditions = Some(c.to_vec());
        t
    }

    fn at_ns(mut t: Trade, ns: i64) -> Trade {
        t.sip_timestamp = ns;
        t
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn check(cfg: &DarkpoolConfig, t: &Trade, want: Result<(), &str>) {
        assert_eq!(qualifies(cfg, t).map_err(|s| s.reason), want.map_err(str::to_string), "{t:?}");
    }

    #[test]
    fn venue_and_correction_rules() {
        let cfg = seed();
        let mut corrected = dark("c1", 50.0, 20_000.0);
        corrected.correction = Some(1);
        let mut original = dark("c0", 50.0, 20_000.0);
        original.correction = Some(0);
        let cases = [
            (dark("a", 50.0, 20_000.0), Ok(())),
            (trade("b", Some(4), None, 50.0, 20_000.0), Err("trf_id missing on exchange=4")),
            (trade("c", Some(12), Some(201), 50.0, 20_000.0), Err("exchange=12 not TRF (4)")),
            (trade("d", None, Some(201), 50.0, 20_000.0), Err("exchange=none not TRF (4)")),
            (lit("e", 50.0, 20_000.0), Err("exchange=11 not TRF (4)")),
            (corrected, Err("correction=1 not an original print")),
            (original, Ok(())),
            (with_conditions(dark("f", 50.0, 20_000.0), &[]), Ok(())),
            // Regular-sale (0) and intermarket-sweep (14) prints stay in.
            (with_conditions(dark("g", 50.0, 20_000.0), &[0, 14, 41]), Ok(())),
            (dark("h", f64::NAN, 20_000.0), Err("price=NaN size=20000 not finite and positive")),
            (dark("i", 0.0, 20_000.0), Err("price=0 size=20000 not finite and positive")),
        ];
        for (t, want) in cases {
            check(&cfg, &t, want);
        }
    }

    #[test]
    fn every_excluded_condition_suppresses() {
        let cfg = seed();
        for c in EXCLUDED_CONDITIONS {
            let want = format!("condition={c} excluded");
            check(&cfg, &with_conditions(dark("x", 50.0, 20_000.0), &[c]), Err(&want));
            // Alongside harmless conditions too.
            check(&cfg, &with_conditions(dark("x", 50.0, 20_000.0), &[0, c, 41]), Err(&want));
        }
        // Neighbours of the list are not excluded.
        for c in [1, 3, 8, 9, 11, 14, 17, 19, 23, 28, 34, 36, 38, 51, 54] {
            check(&cfg, &with_conditions(dark("x", 50.0, 20_000.0), &[c]), Ok(()));
        }
    }

    #[test]
    fn size_and_notional_edges() {
        let by_size = seed();
        let by_notional = DarkpoolConfig { min_notional: 1_000_000.0, ..seed() };
        let cases = [
            (by_size, dark("a", 1.0, 10_000.0), Ok(())),
            (by_size, dark("b", 1.0, 9_999.0), Err("size=9999 below min_size=10000")),
            (by_size, dark("c", 0.01, 10_000.0), Ok(())),
            (by_notional, dark("d", 100.0, 10_000.0), Ok(())),
            (by_notional, dark("e", 99.99, 10_000.0), Err("notional=999900 below min_notional=1000000")),
            (by_notional, dark("f", 50.0, 20_000.0), Ok(())),
            (by_notional, dark("g", 500.0, 9_999.0), Err("size=9999 below min_size=10000")),
        ];
        for (cfg, t, want) in cases {
            check(&cfg, &t, want);
        }
    }

    #[test]
    fn relative_to_the_stocks_own_volume() {
        let cfg = DarkpoolConfig::default();
        let rel = |price: f64, size: f64, adv: Option<f64>| {
            relative(&cfg, &dark("a", price, size), adv).map_err(|s| s.reason)
        };
        // 250,000 shares at $400 ($100M): 0.25% of 100M shares a day passes
        // at the edge, of 100.1M it does not.
        assert_eq!(rel(400.0, 250_000.0, Some(100_000_000.0)), Ok(0.0025));
        assert_eq!(
            rel(400.0, 250_000.0, Some(100_100_000.0)),
            Err("size=250000 is 0.250% of average daily volume 100100000, below 0.25% for a $100000000 print"
                .to_string())
        );
        // At $399.99 the print is under $100M: it needs 0.5% of the volume,
        // 250,000 of 50M shares (and 0.4% of 62.5M is not enough).
        assert_eq!(rel(399.99, 250_000.0, Some(50_000_000.0)), Ok(0.005));
        assert_eq!(
            rel(399.99, 250_000.0, Some(62_500_000.0)),
            Err("size=250000 is 0.400% of average daily volume 62500000, below 0.5% for a $99997500 print".to_string())
        );
        // The simulator's oracle applies the same rule to a size and a price.
        assert_eq!(relative_size(&cfg, 250_000.0, 399.99, Some(50_000_000.0)), Ok(0.005));
        // Without a volume history nothing passes, unless the gate is off.
        assert_eq!(
            rel(300.0, 50_000.0, None),
            Err("average daily volume unknown (fewer than 20 sessions)".to_string())
        );
        let off = DarkpoolConfig { min_adv_fraction: 0.0, ..cfg };
        assert!(!off.needs_volume() && cfg.needs_volume());
        assert_eq!(relative(&off, &dark("a", 1.0, 10_000.0), None).map_err(|s| s.reason), Ok(0.0));
        assert!(!has_candidate(&off, None, &[dark("a", 1.0, 10_000.0)]));
        assert!(has_candidate(&cfg, None, &[dark("a", 1.0, 10_000.0)]));
        assert!(!has_candidate(&cfg, None, &[dark("a", 1.0, 9_999.0)]));
    }

    #[test]
    fn average_daily_volume_of_the_previous_sessions() {
        use crate::calendar::previous_trading_day;
        let today: NaiveDate = "2026-03-10".parse().unwrap();
        let day = |date: NaiveDate, volume: f64| {
            let start_ms = crate::calendar::et_midnight(date).unwrap().timestamp_millis();
            let raw = crate::polygon::Bar {
                start_ms,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                volume,
                ..Default::default()
            };
            crate::bars::Bar::from_polygon_day(&raw).unwrap()
        };
        // 25 sessions, oldest at 9,000 shares: the last 20 are 1,000 each
        // except the newest at 21,000, so (19 × 1,000 + 21,000) / 20 = 2,000.
        let mut bars = vec![day(today, 1e9)];
        let mut d = today;
        for i in 0..25 {
            d = previous_trading_day(d).unwrap();
            bars.push(day(
                d,
                if i == 0 {
                    21_000.0
                } else if i < 20 {
                    1_000.0
                } else {
                    9_000.0
                },
            ));
        }
        assert_eq!(average_daily_volume(&bars, today), Some(2_000.0));
        assert_eq!(average_daily_volume(&bars[..20], today), None, "today's bar and 19 sessions");
    }

    #[test]
    fn config_reads_the_environment_names() {
        let none = crate::config::Config::from_vars(&Map::new()).unwrap();
        assert_eq!(DarkpoolConfig::from_config(&none), DarkpoolConfig::default());
        let vars: Map<String, String> = [
            ("DARKPOOL_MIN_SIZE", "5000"),
            ("DARKPOOL_MIN_NOTIONAL", "250000"),
            ("DARKPOOL_MIN_ADV_FRACTION", "0.002"),
            ("DARKPOOL_LARGE_NOTIONAL", "1000000"),
            ("DARKPOOL_LARGE_MIN_ADV_FRACTION", "0.0005"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let set = crate::config::Config::from_vars(&vars).unwrap();
        assert_eq!(
            DarkpoolConfig::from_config(&set),
            DarkpoolConfig {
                min_size: 5000.0,
                min_notional: 250_000.0,
                min_adv_fraction: 0.002,
                large_notional: 1e6,
                large_min_adv_fraction: 0.0005
            }
        );
    }

    #[test]
    fn unseen_drops_the_boundary_and_duplicates() {
        let cursor = Cursor { sip_timestamp: T0 + 10, ids: vec!["b".into(), "c".into()] };
        let trades = [
            at_ns(dark("a", 1.0, 1.0), T0 + 5),
            at_ns(dark("b", 1.0, 1.0), T0 + 10),
            at_ns(dark("c", 1.0, 1.0), T0 + 10),
            at_ns(dark("d", 1.0, 1.0), T0 + 10),
            at_ns(dark("f", 1.0, 1.0), T0 + 30),
            at_ns(dark("e", 1.0, 1.0), T0 + 20),
            at_ns(dark("e", 1.0, 1.0), T0 + 20),
        ];
        // (cursor, keys in order)
        let cases: [(Option<&Cursor>, &[&str]); 2] =
            [(Some(&cursor), &["d", "e", "f"]), (None, &["a", "b", "c", "d", "e", "f"])];
        for (c, want) in cases {
            let got: Vec<String> = unseen(c, &trades).into_iter().map(print_key).collect();
            assert_eq!(got, want, "{c:?}");
        }
    }

    #[test]
    fn cursor_follows_the_newest_timestamp() {
        let prev = Cursor { sip_timestamp: T0 + 10, ids: vec!["b".into()] };
        let mut no_id = dark("z", 1.0, 1.0);
        no_id.id = None;
        let cases = [
            // Nothing new: the previous cursor stands.
            (Some(prev.clone()), vec![], Some(prev.clone())),
            (None, vec![], None),
            // Only a refetch of older prints: unchanged.
            (Some(prev.clone()), vec![at_ns(dark("a", 1.0, 1.0), T0 + 5)], Some(prev.clone())),
            // Same boundary, one more print there: ids merge, sorted.
            (
                Some(prev.clone()),
                vec![at_ns(dark("d", 1.0, 1.0), T0 + 10), at_ns(dark("b", 1.0, 1.0), T0 + 10)],
                Some(Cursor { sip_timestamp: T0 + 10, ids: vec!["b".into(), "d".into()] }),
            ),
            // A page ending in a run of equal timestamps keeps the whole run.
            (
                Some(prev.clone()),
                vec![
                    at_ns(dark("e", 1.0, 1.0), T0 + 20),
                    at_ns(dark("g", 1.0, 1.0), T0 + 30),
                    at_ns(dark("f", 1.0, 1.0), T0 + 30),
                    at_ns(no_id, T0 + 30),
                ],
                Some(Cursor { sip_timestamp: T0 + 30, ids: vec![(T0 + 30).to_string(), "f".into(), "g".into()] }),
            ),
        ];
        for (prev, trades, want) in cases {
            assert_eq!(cursor_after(prev.as_ref(), &trades), want, "{trades:?}");
        }
    }

    #[test]
    fn resuming_from_the_cursor_sees_each_print_once() {
        // Page 1 ends inside a run at T0+20; page 2 (timestamp.gte) starts
        // with that run again.
        let page1 = [at_ns(dark("a", 1.0, 1.0), T0), at_ns(dark("b", 1.0, 1.0), T0 + 20)];
        let page2 = [
            at_ns(dark("b", 1.0, 1.0), T0 + 20),
            at_ns(dark("c", 1.0, 1.0), T0 + 20),
            at_ns(dark("d", 1.0, 1.0), T0 + 40),
        ];
        let mut cursor = None;
        let mut seen = Vec::new();
        for page in [&page1[..], &page2[..]] {
            seen.extend(unseen(cursor.as_ref(), page).into_iter().map(print_key));
            cursor = cursor_after(cursor.as_ref(), page);
        }
        assert_eq!(seen, ["a", "b", "c", "d"]);
        assert_eq!(cursor, Some(Cursor { sip_timestamp: T0 + 40, ids: vec!["d".into()] }));
    }

    #[test]
    fn day_tape_vwap_and_levels() {
        /// The tape after `prints`: VWAP, dark levels in cents, dark volume at $10.00.
        fn check(prints: &[Trade], vwap: Option<f64>, levels: &[(i64, f64)], at_ten: Option<f64>) {
            let mut day = DayTape::new();
            for t in prints {
                day.observe(t);
            }
            let got_vwap = day.vwap();
            assert_eq!(got_vwap.is_some(), vwap.is_some(), "{prints:?}");
            if let (Some(g), Some(w)) = (got_vwap, vwap) {
                assert!((g - w).abs() < 1e-9, "vwap {g} != {w}");
            }
            let got_levels: Vec<(i64, f64)> = day.dark_levels().iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(got_levels, levels, "{prints:?}");
            assert_eq!(day.dark_volume_at(10.0), at_ten, "{prints:?}");
        }
        check(&[], None, &[], None);
        check(
            &[lit("a", 10.0, 100.0), dark("b", 11.0, 300.0)],
            Some((1000.0 + 3300.0) / 400.0),
            &[(1100, 300.0)],
            None,
        );
        // 10.004 and 9.996 round to the same cent; lit volume never counts as dark.
        check(
            &[dark("a", 10.004, 100.0), dark("b", 9.996, 50.0), lit("c", 10.0, 1000.0)],
            Some((1000.4 + 499.8 + 10_000.0) / 1150.0),
            &[(1000, 150.0)],
            Some(150.0),
        );
        // Excluded conditions, corrections and non-TRF prints count in the
        // VWAP but not as dark levels; invalid prints count nowhere.
        check(
            &[
                with_conditions(dark("a", 10.0, 100.0), &[12]),
                Trade { correction: Some(2), ..dark("b", 10.0, 100.0) },
                trade("c", Some(4), None, 10.0, 100.0),
                dark("d", 10.0, f64::NAN),
                dark("e", -1.0, 100.0),
                dark("f", 10.0, 100.0),
            ],
            Some(10.0),
            &[(1000, 100.0)],
            Some(100.0),
        );
        check(
            &[dark("a", 9.0, 100.0), dark("b", 10.0, 100.0), dark("c", 9.0, 200.0)],
            Some((900.0 + 1000.0 + 1800.0) / 400.0),
            &[(900, 300.0), (1000, 100.0)],
            Some(100.0),
        );
    }

    #[test]
    fn day_tape_rolls_over_on_the_trading_date() {
        // T0 is 10:30 ET on 2026-03-10; +14 h is 00:30 ET on 2026-03-11.
        // 23:30 ET (+13 h) is still the 10th in New York though it is the
        // 11th in UTC.
        let steps = [
            (at_ns(dark("a", 10.0, 100.0), T0), "2026-03-10", 10.0, 100.0),
            (at_ns(dark("b", 20.0, 100.0), T0 + 13 * NS_PER_HOUR), "2026-03-10", 15.0, 200.0),
            (at_ns(dark("c", 30.0, 100.0), T0 + 14 * NS_PER_HOUR), "2026-03-11", 30.0, 100.0),
            // A late print from the 10th does not reset the 11th.
            (at_ns(dark("d", 40.0, 100.0), T0 + NS_PER_HOUR), "2026-03-11", 30.0, 100.0),
            (at_ns(lit("e", 50.0, 100.0), T0 + 15 * NS_PER_HOUR), "2026-03-11", 40.0, 100.0),
        ];
        let mut day = DayTape::new();
        for (t, date, vwap, dark_volume) in steps {
            day.observe(&t);
            assert_eq!(day.date(), Some(date.parse().unwrap()), "{t:?}");
            let tracked: f64 = day.dark_levels().values().sum();
            assert_eq!((day.vwap(), tracked), (Some(vwap), dark_volume), "{t:?}");
        }
        assert_eq!(day.dark_volume_at(10.0), None);
        assert_eq!(day.volume(), 200.0);
    }

    #[test]
    fn day_tape_level_table_is_bounded() {
        let mut day = DayTape::new();
        let levels = i64::try_from(MAX_PRICE_LEVELS).unwrap();
        for i in 0..=levels {
            day.observe(&dark("x", 1.0 + i as f64 / 100.0, 10.0));
        }
        assert_eq!(day.dark_levels().len(), MAX_PRICE_LEVELS);
        assert_eq!(day.dark_volume_at(1.0 + levels as f64 / 100.0), None);
        assert_eq!(day.dark_volume_at(1.0), Some(10.0));
    }

    #[test]
    fn alert_fields_and_neutrality() {
        let mut day = DayTape::new();
        day.observe(&lit("l1", 100.0, 30_000.0));
        day.observe(&dark("d1", 100.12, 5_000.0));
        let print = dark("12345", 100.12, 20_000.0);
        day.observe(&print);
        let now = at("2026-03-10T14:31:00Z");
        let a = build_alert("SPY", &print, &day, Some(8_000_000.0), now);
        assert_eq!(a.id, "darkpool:SPY:12345");
        assert_eq!((a.bot, a.at, a.ticker.as_str(), a.label.as_str()), (Bot::Darkpool, now, "SPY", LABEL));
        assert_eq!((a.size, a.price, a.notional), (Some(20_000.0), Some(100.12), Some(2_002_400.0)));
        assert_eq!((a.side, a.sentiment), (Side::Unknown, Sentiment::Neutral));
        assert_eq!((a.entry, a.stop, a.targets, a.contract), (None, None, None, None));
        // VWAP = (3,000,000 + 500,600 + 2,002,400) / 55,000 = 100.0545...
        let notes: Vec<(&str, &str)> = a.details.notes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            notes,
            [
                ("vs VWAP", "+0.07% vs VWAP $100.05"),
                ("dark volume at $100.12", "25,000 shares today"),
                ("printed", "10:30:00 ET"),
            ]
        );
        // 20,000 of 8,000,000 shares a day.
        assert_eq!(a.details.unusual, ["0.25% of SPY's average daily volume (8,000,000 shares over 20 sessions)"]);

        // Without an id the timestamp names the print; a cheap stock shows
        // four decimals; an unobserved tape says so.
        let mut no_id = dark("x", 0.5, 40_000.0);
        no_id.id = None;
        let a = build_alert("SIRI", &no_id, &DayTape::new(), None, now);
        assert!(a.details.unusual.is_empty());
        assert_eq!(a.id, format!("darkpool:SIRI:{T0}"));
        assert_eq!(a.details.notes[0].1, "VWAP n/a (no volume seen today)");
        assert_eq!(a.details.notes[1], ("dark volume at $0.5000".to_string(), "not tracked (level table full)".into()));
    }

    #[test]
    fn scan_alerts_each_new_print_once_and_never_takes_a_side() {
        let cfg = seed();
        let now = at("2026-03-10T15:00:00Z");
        let below = at_ns(dark("below", 99.0, 50_000.0), T0 + 1);
        let above = at_ns(dark("above", 101.0, 50_000.0), T0 + 2);
        let trades = vec![
            at_ns(lit("lit", 100.0, 100_000.0), T0),
            below.clone(),
            above.clone(),
            at_ns(dark("small", 100.0, 9_999.0), T0 + 2),
            at_ns(with_conditions(dark("avg", 100.0, 50_000.0), &[2]), T0 + 2),
        ];
        let mut day = DayTape::new();
        let first = scan(&cfg, "AAPL", None, &trades, &mut day, Some(ADV), now);
        let ids: Vec<&str> = first.alerts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["darkpool:AAPL:below", "darkpool:AAPL:above"]);
        assert_eq!(first.suppressed, 3);
        for a in &first.alerts {
            assert_eq!((a.side, a.sentiment), (Side::Unknown, Sentiment::Neutral), "{}", a.id);
        }
        // Each print is compared with the VWAP it traded into.
        assert_eq!(first.alerts[0].details.notes[0].1, "-0.67% vs VWAP $99.67");
        assert_eq!(first.cursor.as_ref().map(|c| c.sip_timestamp), Some(T0 + 2));

        // The next scan refetches the boundary (timestamp.gte): no repeat, and
        // the tape does not count those prints twice.
        let volume = day.volume();
        let again = vec![above, at_ns(dark("small", 100.0, 9_999.0), T0 + 2)];
        let second = scan(&cfg, "AAPL", first.cursor.as_ref(), &again, &mut day, Some(ADV), now);
        assert_eq!((second.alerts.len(), second.suppressed), (0, 0));
        assert_eq!(day.volume(), volume);
        assert_eq!(second.cursor, first.cursor);
    }
}
