//! Breakouts (`breakouts`): a stock leaving its recent range on volume.
//!
//! Rule (SPEC §6): the last price is strictly above the highest high
//! (breakout) or strictly below the lowest low (breakdown) of the previous
//! `BREAKOUT_LOOKBACK_DAYS` sessions' daily bars, today excluded, and today's
//! volume is at least `BREAKOUT_MIN_VOLUME_SURGE` × the average daily volume
//! of those sessions × the fraction of today's regular session elapsed. The
//! pace adjustment compares like with like: at 10:30 ET a normal day has
//! done 1/6.5 of its session, so it needs 1/6.5 of a full day's surge.
//!
//! At most one alert per symbol, direction and trading date: the alert id is
//! `breakouts:<symbol>:<date>:up|down`, and the outbox's primary key drops a
//! second one. The engine also checks and sets the family's cooldown (per
//! symbol and direction), as for every family.

use chrono::{DateTime, NaiveDate, Utc};

use crate::alert::{Alert, Plan, Sentiment, Side, fmt_money};
use crate::bars::Bar;
use crate::bots::{Suppressed, alert_id};
use crate::calendar::trading_date;
use crate::job::Bot;

/// Slack for the inclusive volume edge: the required volume is a product of
/// an average and a time ratio, and may land a rounding step above a
/// whole-share volume it equals.
const VOLUME_EPSILON: f64 = 1e-9;

/// Thresholds, defaults from the seeds; each is an environment variable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakoutConfig {
    /// `BREAKOUT_MIN_VOLUME_SURGE`: today's pace-adjusted volume over the
    /// average, inclusive.
    pub min_volume_surge: f64,
    /// `BREAKOUT_LOOKBACK_DAYS`: previous sessions forming the range and the
    /// volume average.
    pub lookback_days: usize,
    /// `MIN_REWARD_RISK`: the least reward:risk a published plan keeps at
    /// its entry.
    pub min_reward_risk: f64,
}

impl Default for BreakoutConfig {
    fn default() -> Self {
        BreakoutConfig { min_volume_surge: 1.5, lookback_days: 20, min_reward_risk: 1.0 }
    }
}

impl BreakoutConfig {
    pub fn from_config(c: &crate::config::Config) -> Self {
        let default = BreakoutConfig::default();
        BreakoutConfig {
            min_volume_surge: c.tunables.breakout_min_volume_surge,
            // The setting is range-checked (2..=500); the fallback only
            // covers a name missing from the table.
            lookback_days: usize::try_from(c.tunables.breakout_lookback_days)
                .ok()
                .filter(|d| *d > 0)
                .unwrap_or(default.lookback_days),
            min_reward_risk: c.tunables.min_reward_risk,
        }
    }
}

/// What the bot knows about one symbol at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakoutInput {
    pub symbol: String,
    /// Previous sessions' day bars ([`Bar::from_polygon_day`]), oldest
    /// first. Bars dated today or later are ignored, so passing today's
    /// partial bar by mistake cannot hide a breakout.
    pub daily: Vec<Bar>,
    pub last_price: f64,
    /// Shares traded so far today.
    pub today_volume: f64,
    /// ATR(14, daily, Wilder), when enough history exists.
    pub atr: Option<f64>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    /// The id component.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// The alert's `pattern`.
    pub fn pattern(self) -> &'static str {
        match self {
            Direction::Up => "breakout",
            Direction::Down => "breakdown",
        }
    }
}

/// A qualifying break and the numbers behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakoutHit {
    pub direction: Direction,
    /// The range edge broken: the highest high (up) or lowest low (down).
    pub level: f64,
    /// Today's trading date, part of the alert id.
    pub date: NaiveDate,
    /// Sessions in the range (the configured lookback).
    pub sessions: usize,
    /// Mean daily volume of those sessions.
    pub avg_volume: f64,
    /// Fraction of today's regular session elapsed, in (0, 1].
    pub session_fraction: f64,
    /// Today's volume over the pace-adjusted average.
    pub volume_surge: f64,
    /// The configured minimum surge.
    pub min_volume_surge: f64,
}

/// Whether `input` is a breakout or breakdown on volume; otherwise the first
/// rule it failed.
pub fn evaluate(cfg: &BreakoutConfig, input: &BreakoutInput) -> Result<BreakoutHit, Suppressed> {
    if !(input.last_price.is_finite() && input.last_price > 0.0) {
        return Err(Suppressed::new(format!("last_price={} not finite and positive", input.last_price)));
    }
    if !(input.today_volume.is_finite() && input.today_volume >= 0.0) {
        return Err(Suppressed::new(format!("today_volume={} not finite", input.today_volume)));
    }
    let fraction = crate::bars::session_fraction_elapsed(input.now);
    if fraction <= 0.0 {
        return Err(Suppressed::new("session_elapsed=0 (before the open or no session today)"));
    }

    let today = trading_date(input.now);
    let mut previous: Vec<&Bar> = input.daily.iter().filter(|b| b.trading_date() < today).collect();
    // Stable: bars are expected oldest first; sorting only guards the order.
    previous.sort_by_key(|b| b.start);
    if previous.len() < cfg.lookback_days || cfg.lookback_days == 0 {
        return Err(Suppressed::new(format!("sessions={} below lookback_days={}", previous.len(), cfg.lookback_days)));
    }
    let range = &previous[previous.len() - cfg.lookback_days..];
    // `Bar::from_polygon_day` already drops such bars; this guards inputs
    // built any other way.
    let finite = |b: &Bar| [b.high, b.low, b.close, b.volume].iter().all(|x| x.is_finite());
    if let Some(bad) = range.iter().find(|b| !finite(b)) {
        return Err(Suppressed::new(format!("daily bar {} not finite", bad.trading_date())));
    }
    let high = range.iter().map(|b| b.high).fold(f64::NEG_INFINITY, f64::max);
    let low = range.iter().map(|b| b.low).fold(f64::INFINITY, f64::min);

    // Strict: touching the edge is a test of the level, not a break.
    let (direction, level) = if input.last_price > high {
        (Direction::Up, high)
    } else if input.last_price < low {
        (Direction::Down, low)
    } else {
        return Err(Suppressed::new(format!(
            "last_price={} inside {}-day range {low}..={high}",
            input.last_price, cfg.lookback_days
        )));
    };

    let avg_volume = range.iter().map(|b| b.volume).sum::<f64>() / range.len() as f64;
    let Some(volume_surge) = crate::bars::volume_pace(input.today_volume, avg_volume, fraction) else {
        return Err(Suppressed::new(format!("avg_volume={avg_volume:.0} no volume baseline")));
    };
    let required = cfg.min_volume_surge * avg_volume * fraction;
    if volume_surge < cfg.min_volume_surge * (1.0 - VOLUME_EPSILON) {
        return Err(Suppressed::new(format!(
            "volume_surge={volume_surge:.2} below min_volume_surge={} (today_volume={:.0} required={required:.0})",
            cfg.min_volume_surge, input.today_volume
        )));
    }

    Ok(BreakoutHit {
        direction,
        level,
        date: today,
        sessions: cfg.lookback_days,
        avg_volume,
        session_fraction: fraction,
        volume_surge,
        min_volume_surge: cfg.min_volume_surge,
    })
}

/// The trade plan in stock prices: entry at the last price, stop half an
/// ATR back through the broken level, targets one and two ATRs beyond the
/// entry. Targets are measured from the entry rather than the level so a
/// gap far past the level never puts a target behind the entry. `None`
/// without a usable ATR.
pub fn plan(direction: Direction, level: f64, entry: f64, atr: Option<f64>) -> Option<Plan> {
    let atr = atr.filter(|a| a.is_finite() && *a > 0.0)?;
    let sign = match direction {
        Direction::Up => 1.0,
        Direction::Down => -1.0,
    };
    Some(Plan { entry, stop: level - sign * 0.5 * atr, targets: vec![entry + sign * atr, entry + sign * 2.0 * atr] })
}

/// The plan the alert publishes (`None` without an ATR), with a note when
/// it is not the market entry, or why the break is not alerted.
///
/// At the market the first target is one ATR away and the stop half an ATR
/// behind the level, so once the price has run more than half an ATR past
/// the level the market plan is below 1:1. It is published only while it
/// keeps `min_rr`; otherwise the plan is a limit order back at the broken
/// level (the retest: 1 ATR of reward over 0.5 ATR of risk, 2:1), which
/// outcomes count only once a bar after the alert touches it.
pub fn published_plan(
    direction: Direction,
    level: f64,
    last_price: f64,
    atr: Option<f64>,
    min_rr: f64,
) -> Result<Option<(Plan, Option<String>)>, Suppressed> {
    let Some(market) = plan(direction, level, last_price, atr) else { return Ok(None) };
    if market.meets(min_rr) {
        return Ok(Some((market, None)));
    }
    let market_rr = market.reward_risk().unwrap_or(0.0);
    let Some(retest) = plan(direction, level, level, atr).filter(|p| p.meets(min_rr)) else {
        return Err(Suppressed::new(format!(
            "reward:risk {market_rr:.2} at the market and the retest of {level} below min_reward_risk={min_rr}"
        )));
    };
    let note = format!(
        "limit at the broken level {} (retest): at the market {} the plan is only {market_rr:.2}:1",
        fmt_price(level),
        fmt_price(last_price)
    );
    Ok(Some((retest, Some(note))))
}

/// `breakouts:<symbol>:<date>:up|down`: one per symbol, direction and day.
pub fn breakout_alert_id(symbol: &str, date: NaiveDate, direction: Direction) -> String {
    alert_id(Bot::Breakouts, symbol, &format!("{date}:{}", direction.as_str()))
}

fn fmt_price(x: f64) -> String {
    format!("${x:.2}")
}

/// The Breakouts alert for `hit`: pattern, plan ([`published_plan`]), ATR and
/// the two numbers that made it (the level and the volume surge against the
/// requirement).
pub fn build_alert(hit: &BreakoutHit, input: &BreakoutInput, min_rr: f64) -> Result<Alert, Suppressed> {
    let atr = input.atr.filter(|x| x.is_finite() && *x > 0.0);
    let published = published_plan(hit.direction, hit.level, input.last_price, atr, min_rr)?;
    let id = breakout_alert_id(&input.symbol, hit.date, hit.direction);
    let mut a = Alert::new(id, Bot::Breakouts, input.now, &input.symbol);
    let (edge, sentiment) = match hit.direction {
        Direction::Up => ("high", Sentiment::Bullish),
        Direction::Down => ("low", Sentiment::Bearish),
    };
    a.spot = Some(input.last_price);
    a.pattern = Some(hit.direction.pattern().to_string());
    a.label = format!("{} {} {}-day {edge}", hit.direction.pattern(), preposition(hit.direction), hit.sessions);
    // A break of the range has a direction; where it printed does not apply.
    a.sentiment = sentiment;
    a.side = Side::Unknown;
    a.atr = atr;
    let mut entry_note = None;
    if let Some((p, note)) = published {
        a = a.with_plan(&p);
        entry_note = note;
    }
    a.details.notes = vec![
        ("level".to_string(), format!("{}-day {edge} {}", hit.sessions, fmt_price(hit.level))),
        (
            "volume".to_string(),
            format!("{:.2}× the pace-adjusted average (needs {}×)", hit.volume_surge, hit.min_volume_surge),
        ),
        (
            "volume today".to_string(),
            format!(
                "{} shares; {}-day average {} at {:.0}% of the session",
                fmt_money(input.today_volume),
                hit.sessions,
                fmt_money(hit.avg_volume),
                hit.session_fraction * 100.0
            ),
        ),
    ];
    if atr.is_none() {
        a.details.notes.push(("plan".to_string(), "no ATR yet: no stop or targets".to_string()));
    }
    if let Some(note) = entry_note {
        a.details.notes.push(("entry".to_string(), note));
    }
    Ok(a)
}

fn preposition(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "above",
        Direction::Down => "below",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::previous_trading_day;
    use std::collections::BTreeMap;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// `n` sessions before `today`, oldest first: highs 95 except one at 100,
    /// lows 92 except one at 90, each with `avg_volume` shares.
    /// The day bar of `date` as the engine builds it from Polygon's aggregate.
    fn day(date: NaiveDate, high: f64, low: f64, close: f64, volume: f64) -> Bar {
        let start_ms = crate::calendar::et_midnight(date).unwrap().timestamp_millis();
        let raw = crate::polygon::Bar { start_ms, open: close, high, low, close, volume, ..Default::default() };
        Bar::from_polygon_day(&raw).unwrap()
    }

    fn history(today: NaiveDate, n: usize, avg_volume: f64) -> Vec<Bar> {
        let mut bars = Vec::new();
        let mut d = today;
        for i in 0..n {
            d = previous_trading_day(d).unwrap();
            let high = if i == 3 { 100.0 } else { 95.0 };
            let low = if i == 7 { 90.0 } else { 92.0 };
            bars.push(day(d, high, low, 93.0, avg_volume));
        }
        bars.reverse();
        bars
    }

    fn input(now: &str, last_price: f64, today_volume: f64, avg_volume: f64) -> BreakoutInput {
        let now = at(now);
        BreakoutInput {
            symbol: "SPY".to_string(),
            daily: history(trading_date(now), 20, avg_volume),
            last_price,
            today_volume,
            atr: Some(2.0),
            now,
        }
    }

    /// `Ok((direction, level))` or `Err(reason)`.
    fn check(input: &BreakoutInput, want: Result<(Direction, f64), &str>) {
        let got = evaluate(&BreakoutConfig::default(), input).map(|h| (h.direction, h.level)).map_err(|s| s.reason);
        assert_eq!(
            got,
            want.map_err(str::to_string),
            "now={} price={} volume={}",
            input.now,
            input.last_price,
            input.today_volume
        );
    }

    // 2026-03-10 is a normal day in EDT: open 13:30Z, close 20:00Z.
    const NOON: &str = "2026-03-10T16:00:00Z";

    #[test]
    fn price_edges() {
        // At 12:00 ET, 150/390 of the session: 1.3M average needs 750k.
        let cases = [
            (100.01, Ok((Direction::Up, 100.0))),
            (100.0, Err("last_price=100 inside 20-day range 90..=100")),
            (99.99, Err("last_price=99.99 inside 20-day range 90..=100")),
            (90.01, Err("last_price=90.01 inside 20-day range 90..=100")),
            (90.0, Err("last_price=90 inside 20-day range 90..=100")),
            (89.99, Ok((Direction::Down, 90.0))),
            (f64::NAN, Err("last_price=NaN not finite and positive")),
        ];
        for (price, want) in cases {
            check(&input(NOON, price, 750_000.0, 1_300_000.0), want);
        }
    }

    #[test]
    fn volume_pace_through_the_day() {
        // (now, today_volume, average volume, result)
        let cases = [
            // 10:00 ET on a normal day: 30/390 = 1/13 of the session; 1.3M / 13 × 1.5 = 150k.
            ("2026-03-10T14:00:00Z", 150_000.0, 1_300_000.0, Ok((Direction::Up, 100.0))),
            (
                "2026-03-10T14:00:00Z",
                149_999.0,
                1_300_000.0,
                Err("volume_surge=1.50 below min_volume_surge=1.5 (today_volume=149999 required=150000)"),
            ),
            // 15:30 ET: 360/390 = 12/13; 1.3M × 12/13 × 1.5 = 1.8M.
            ("2026-03-10T19:30:00Z", 1_800_000.0, 1_300_000.0, Ok((Direction::Up, 100.0))),
            (
                "2026-03-10T19:30:00Z",
                1_500_000.0,
                1_300_000.0,
                Err("volume_surge=1.25 below min_volume_surge=1.5 (today_volume=1500000 required=1800000)"),
            ),
            // Early close 2026-11-27 (EST): 10:00 ET is 30/210 = 1/7 of the
            // session; 1.4M / 7 × 1.5 = 300k. On a normal day it would need 1.4M / 13 × 1.5.
            ("2026-11-27T15:00:00Z", 300_000.0, 1_400_000.0, Ok((Direction::Up, 100.0))),
            (
                "2026-11-27T15:00:00Z",
                299_999.0,
                1_400_000.0,
                Err("volume_surge=1.50 below min_volume_surge=1.5 (today_volume=299999 required=300000)"),
            ),
            // 12:30 ET on the early close: 180/210 = 6/7 → 1.8M.
            ("2026-11-27T17:30:00Z", 1_800_000.0, 1_400_000.0, Ok((Direction::Up, 100.0))),
            // After the 13:00 close the whole day counts: 2.1M.
            (
                "2026-11-27T19:00:00Z",
                2_099_999.0,
                1_400_000.0,
                Err("volume_surge=1.50 below min_volume_surge=1.5 (today_volume=2099999 required=2100000)"),
            ),
            ("2026-11-27T19:00:00Z", 2_100_000.0, 1_400_000.0, Ok((Direction::Up, 100.0))),
            // Before the open, and on a holiday, there is no pace to measure.
            ("2026-03-10T13:29:00Z", 9e9, 1_300_000.0, Err("session_elapsed=0 (before the open or no session today)")),
            ("2026-03-10T13:30:00Z", 9e9, 1_300_000.0, Err("session_elapsed=0 (before the open or no session today)")),
            ("2026-11-26T16:00:00Z", 9e9, 1_300_000.0, Err("session_elapsed=0 (before the open or no session today)")),
            ("2026-03-10T14:00:00Z", 150_000.0, 0.0, Err("avg_volume=0 no volume baseline")),
        ];
        for (now, volume, avg, want) in cases {
            check(&input(now, 100.5, volume, avg), want);
        }
    }

    #[test]
    fn session_fraction_table() {
        let cases = [
            ("2026-03-10T13:00:00Z", 0.0),
            ("2026-03-10T14:00:00Z", 1.0 / 13.0),
            ("2026-03-10T14:30:00Z", 1.0 / 6.5),
            ("2026-03-10T19:30:00Z", 12.0 / 13.0),
            ("2026-03-10T20:00:00Z", 1.0),
            ("2026-03-10T23:00:00Z", 1.0),
            ("2026-11-27T15:00:00Z", 1.0 / 7.0),
            ("2026-11-27T18:00:00Z", 1.0),
            ("2026-11-26T16:00:00Z", 0.0),
            ("2026-03-07T16:00:00Z", 0.0),
        ];
        for (now, want) in cases {
            let got = crate::bars::session_fraction_elapsed(at(now));
            assert!((got - want).abs() < 1e-12, "{now}: {got} != {want}");
        }
    }

    #[test]
    fn range_uses_exactly_the_previous_sessions() {
        let now = at(NOON);
        let today = trading_date(now);
        let mut too_few = input(NOON, 100.5, 9e9, 1_300_000.0);
        too_few.daily.remove(0);
        // Today's partial bar does not count as a previous session, nor does
        // its high (above the price) hide the break.
        let mut with_today = too_few.clone();
        with_today.daily.push(day(today, 101.0, 99.0, 100.5, 1e6));
        // A higher high 21 sessions back is outside the range.
        let mut longer = input(NOON, 100.5, 9e9, 1_300_000.0);
        let oldest = longer.daily[0].trading_date();
        let before = previous_trading_day(oldest).unwrap();
        longer.daily.insert(0, day(before, 120.0, 50.0, 100.0, 1.0));
        // Bars out of order are sorted before the range is taken.
        let mut shuffled = longer.clone();
        shuffled.daily.reverse();
        let mut bad = input(NOON, 100.5, 9e9, 1_300_000.0);
        bad.daily[5].high = f64::NAN;
        let bad_date = bad.daily[5].trading_date();
        let cases = [
            (too_few, Err("sessions=19 below lookback_days=20".to_string())),
            (with_today, Err("sessions=19 below lookback_days=20".to_string())),
            (longer, Ok((Direction::Up, 100.0))),
            (shuffled, Ok((Direction::Up, 100.0))),
            (bad, Err(format!("daily bar {bad_date} not finite"))),
        ];
        for (inp, want) in cases {
            let got = evaluate(&BreakoutConfig::default(), &inp).map(|h| (h.direction, h.level)).map_err(|s| s.reason);
            assert_eq!(got, want, "{} bars", inp.daily.len());
        }
    }

    #[test]
    fn plan_values() {
        // (direction, level, entry, atr, plan as (stop, targets))
        let cases = [
            (Direction::Up, 100.0, 100.5, Some(2.0), Some((99.0, vec![102.5, 104.5]))),
            (Direction::Down, 50.0, 49.75, Some(1.0), Some((50.5, vec![48.75, 47.75]))),
            // A gap far past the level: targets still lie beyond the entry.
            (Direction::Up, 100.0, 110.0, Some(2.0), Some((99.0, vec![112.0, 114.0]))),
            (Direction::Up, 100.0, 100.5, None, None),
            (Direction::Up, 100.0, 100.5, Some(0.0), None),
            (Direction::Down, 50.0, 49.75, Some(f64::NAN), None),
        ];
        for (direction, level, entry, atr, want) in cases {
            let got = plan(direction, level, entry, atr).map(|p| {
                assert_eq!(p.entry, entry);
                (p.stop, p.targets)
            });
            assert_eq!(got, want, "{direction:?} level={level} entry={entry} atr={atr:?}");
        }
    }

    #[test]
    fn published_plans_keep_the_minimum_reward_risk() {
        // Level 100, ATR 2: the stop is 99. At 100.5 the market plan is
        // 2 ÷ 1.5 = 1.33:1; at 102 it is 2 ÷ 3 = 0.67:1, so the plan is the
        // retest limit at 100 (2 ÷ 1 = 2:1).
        let at = |last: f64, min: f64| {
            published_plan(Direction::Up, 100.0, last, Some(2.0), min)
                .map(|p| p.map(|(p, note)| (p.entry, p.stop, p.targets, note)))
                .map_err(|s| s.reason)
        };
        assert_eq!(at(100.5, 1.0), Ok(Some((100.5, 99.0, vec![102.5, 104.5], None))));
        assert_eq!(
            at(102.0, 1.0),
            Ok(Some((
                100.0,
                99.0,
                vec![102.0, 104.0],
                Some(
                    "limit at the broken level $100.00 (retest): at the market $102.00 the plan is only 0.67:1".into()
                )
            )))
        );
        assert_eq!(at(100.5, 1.5).map(|p| p.map(|p| p.0)), Ok(Some(100.0)));
        assert_eq!(
            at(100.5, 2.5),
            Err("reward:risk 1.33 at the market and the retest of 100 below min_reward_risk=2.5".to_string())
        );
        assert_eq!(published_plan(Direction::Down, 50.0, 49.0, None, 1.0).map_err(|s| s.reason), Ok(None));
    }

    #[test]
    fn alerts_carry_pattern_plan_and_direction() {
        // 12:00 ET: 150/390 of the session; 1.3M × 5/13 = 500k paced.
        let up = input(NOON, 100.5, 1_000_000.0, 1_300_000.0);
        let hit = evaluate(&BreakoutConfig::default(), &up).unwrap();
        let a = build_alert(&hit, &up, 1.0).unwrap();
        assert_eq!(a.id, "breakouts:SPY:2026-03-10:up");
        assert_eq!((a.bot, a.at, a.ticker.as_str()), (Bot::Breakouts, up.now, "SPY"));
        assert_eq!((a.pattern.as_deref(), a.label.as_str()), (Some("breakout"), "breakout above 20-day high"));
        assert_eq!((a.sentiment, a.side, a.spot, a.atr), (Sentiment::Bullish, Side::Unknown, Some(100.5), Some(2.0)));
        assert_eq!((a.entry, a.stop, a.targets), (Some(100.5), Some(99.0), Some(vec![102.5, 104.5])));
        let notes: Vec<(&str, &str)> = a.details.notes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            notes,
            [
                ("level", "20-day high $100.00"),
                ("volume", "2.00× the pace-adjusted average (needs 1.5×)"),
                ("volume today", "1,000,000 shares; 20-day average 1,300,000 at 38% of the session"),
            ]
        );

        let mut down = input(NOON, 89.5, 1_000_000.0, 1_300_000.0);
        down.atr = None;
        let hit = evaluate(&BreakoutConfig::default(), &down).unwrap();
        let a = build_alert(&hit, &down, 1.0).unwrap();
        assert_eq!(a.id, "breakouts:SPY:2026-03-10:down");
        assert_eq!((a.pattern.as_deref(), a.label.as_str()), (Some("breakdown"), "breakdown below 20-day low"));
        assert_eq!((a.sentiment, a.side, a.atr), (Sentiment::Bearish, Side::Unknown, None));
        assert_eq!((a.entry, a.stop, a.targets), (None, None, None));
        assert_eq!(a.details.notes[0].1, "20-day low $90.00");
        assert_eq!(a.details.notes[3], ("plan".to_string(), "no ATR yet: no stop or targets".to_string()));
    }

    #[test]
    fn one_id_per_symbol_direction_and_day() {
        let id = |now: &str, price: f64| {
            let inp = input(now, price, 9e9, 1_300_000.0);
            let hit = evaluate(&BreakoutConfig::default(), &inp).unwrap();
            build_alert(&hit, &inp, 1.0).unwrap().id
        };
        // (now, last price, id)
        let cases = [
            ("2026-03-10T14:00:00Z", 100.5, "breakouts:SPY:2026-03-10:up"),
            ("2026-03-10T19:59:00Z", 103.0, "breakouts:SPY:2026-03-10:up"),
            // After the close but before midnight New York: still the 10th.
            ("2026-03-11T02:00:00Z", 101.0, "breakouts:SPY:2026-03-10:up"),
            ("2026-03-10T15:00:00Z", 85.0, "breakouts:SPY:2026-03-10:down"),
            ("2026-03-11T14:00:00Z", 100.5, "breakouts:SPY:2026-03-11:up"),
        ];
        for (now, price, want) in cases {
            assert_eq!(id(now, price), want, "{now}");
        }
        assert_eq!(breakout_alert_id("QQQ", date("2026-11-27"), Direction::Down), "breakouts:QQQ:2026-11-27:down");
    }

    #[test]
    fn config_reads_the_environment_names() {
        let none = crate::config::Config::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(BreakoutConfig::from_config(&none), BreakoutConfig::default());
        let vars: BTreeMap<String, String> = [("BREAKOUT_MIN_VOLUME_SURGE", "2.5"), ("BREAKOUT_LOOKBACK_DAYS", "55")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let set = crate::config::Config::from_vars(&vars).unwrap();
        assert_eq!(
            BreakoutConfig::from_config(&set),
            BreakoutConfig { min_volume_surge: 2.5, lookback_days: 55, min_reward_risk: 1.0 }
        );
    }
}
