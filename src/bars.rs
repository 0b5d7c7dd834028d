//! Price bars in market time: conversion from Polygon's aggregates,
//! session-aware aggregation (1 minute → 5m / 60m / 4h / 1d) and volume pace.
//!
//! Everything here is a pure function of the bars and `now`. A bar covers the
//! half-open interval `[start, end)` and counts only once it has closed
//! (`end <= now`): an indicator fed from these functions can never see a bar
//! that was still forming at `now` (no look-ahead).
//!
//! # Bucket convention
//!
//! Buckets are laid out in America/New_York time, per trading date, on a grid
//! anchored at the start of the chosen session, and clipped to that session:
//!
//! | frame | anchor | regular session (09:30–16:00) | extended (04:00–20:00) |
//! |---|---|---|---|
//! | 5m  | session start | 09:30, 09:35, …, 15:55 | 04:00, 04:05, …, 19:55 |
//! | 60m | session start | 09:30–10:30, …, 15:30–16:00 (a 30-minute last bar) | 04:00, 05:00, …, 19:00 (clock hours) |
//! | 4h  | 04:00 ET | 09:30–12:00, 12:00–16:00 | 04:00, 08:00, 12:00, 16:00 |
//! | 1d  | the session | 09:30–16:00 | 04:00–20:00 |
//!
//! Anchoring 60m at the open is how regular-session hourly charts are drawn
//! (the first hour of trading is one bar). Extended-session 60m bars fall on
//! the clock hour, which is also how Polygon's hour aggregates are aligned
//! (every ET offset is a whole number of hours), so 4h bars built from them
//! line up at 04/08/12/16 ET as SPEC §6 requires, never at Polygon's UTC
//! multiples of four hours. On an early-close day the session ends at 13:00
//! (regular) or 17:00 (extended) and the bucket that the close cuts short
//! ends there. Non-trading days produce no bars.
//!
//! Daylight-saving changes happen at 02:00 on a Sunday, so no session
//! straddles one: within a trading date the ET offset is constant and bucket
//! arithmetic can be done on UTC instants from the ET anchor.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::calendar;
use crate::polygon;

/// One OHLCV bar covering `[start, end)`: the bar every rule reads
/// (indicators, Strat, Scalps, Breakouts' day bars, outcomes).
///
/// It is not `polygon::Bar`, the wire shape: that one holds whatever
/// Polygon sent (a start only, optional extras, unchecked numbers) and is
/// what tapes record and replay serves byte for byte; this one exists only
/// once [`Bar::from_polygon`] has given it an end and checked its numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    /// Volume-weighted average price, when the source gave one for every part.
    pub vwap: Option<f64>,
}

impl Bar {
    /// A Polygon aggregate of length `span` (Polygon gives only the start).
    ///
    /// `None` for data no indicator should see: a start outside chrono's
    /// range, a non-positive span, non-finite prices, a high below the low or
    /// a negative or non-finite volume.
    pub fn from_polygon(b: &polygon::Bar, span: Duration) -> Option<Bar> {
        if span <= Duration::zero() {
            return None;
        }
        let prices_ok = [b.open, b.high, b.low, b.close].iter().all(|p| p.is_finite());
        if !prices_ok || b.high < b.low || !b.volume.is_finite() || b.volume < 0.0 {
            return None;
        }
        let start = DateTime::from_timestamp_millis(b.start_ms)?;
        let end = start.checked_add_signed(span)?;
        Some(Bar {
            start,
            end,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            vwap: b.vwap.filter(|v| v.is_finite()),
        })
    }

    /// A Polygon day aggregate, stamped at its date's ET midnight: the bar
    /// runs to the next ET midnight (23 or 25 hours across a DST change).
    /// The same checks as [`Bar::from_polygon`].
    pub fn from_polygon_day(b: &polygon::Bar) -> Option<Bar> {
        let start = DateTime::from_timestamp_millis(b.start_ms)?;
        let end = calendar::et_midnight(calendar::trading_date(start).succ_opt()?)?;
        Bar::from_polygon(b, end - start)
    }

    /// The trading date the bar starts on.
    pub fn trading_date(&self) -> NaiveDate {
        calendar::trading_date(self.start)
    }

    /// True once the bar can no longer change at `now`.
    pub fn is_closed(&self, now: DateTime<Utc>) -> bool {
        self.end <= now
    }
}

/// The bars among `bars` that had closed by `now`, in their given order.
pub fn closed(bars: &[Bar], now: DateTime<Utc>) -> Vec<Bar> {
    bars.iter().filter(|b| b.is_closed(now)).copied().collect()
}

/// Which part of the trading day a series covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Session {
    /// 09:30–16:00 ET (13:00 on early-close days).
    Regular,
    /// 04:00–20:00 ET (17:00 on early-close days).
    Extended,
}

impl Session {
    /// The session's `[start, end)` on `date`, or `None` when the market is
    /// closed that day.
    pub fn window(self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match self {
            Session::Regular => calendar::session(date).map(|s| (s.open, s.close)),
            Session::Extended => calendar::extended_hours(date),
        }
    }
}

/// The bar lengths the bots read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Frame {
    Min5,
    Min60,
    Hour4,
    Day,
}

impl Frame {
    pub const ALL: [Frame; 4] = [Frame::Min5, Frame::Min60, Frame::Hour4, Frame::Day];

    /// The name used in `STRAT_TIMEFRAMES`, alert ids and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Frame::Min5 => "5m",
            Frame::Min60 => "60m",
            Frame::Hour4 => "4h",
            Frame::Day => "1d",
        }
    }

    /// The grid step, or `None` for `Day`, whose length is the session's.
    fn step(self) -> Option<Duration> {
        match self {
            Frame::Min5 => Some(Duration::minutes(5)),
            Frame::Min60 => Some(Duration::minutes(60)),
            Frame::Hour4 => Some(Duration::hours(4)),
            Frame::Day => None,
        }
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Frame {
    type Err = String;

    /// `5m`, `60m` (or `1h`), `4h`, `1d` (or `d`), case and blanks ignored.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "5m" => Ok(Frame::Min5),
            "60m" | "1h" => Ok(Frame::Min60),
            "4h" => Ok(Frame::Hour4),
            "1d" | "d" => Ok(Frame::Day),
            other => Err(format!("unknown timeframe `{other}` (known: 5m, 60m, 4h, 1d)")),
        }
    }
}

/// One trading date's session window and the 04:00 ET anchor of its 4h grid.
#[derive(Debug, Clone, Copy)]
struct DayGrid {
    open: DateTime<Utc>,
    close: DateTime<Utc>,
    four_hour_anchor: DateTime<Utc>,
}

impl DayGrid {
    fn new(session: Session, date: NaiveDate) -> Option<DayGrid> {
        let (open, close) = session.window(date)?;
        // 4h is pinned to 04:00 ET whatever the session, so that
        // regular-session 4h bars are the regular part of the extended ones.
        let four_hour_anchor = calendar::extended_hours(date)?.0;
        Some(DayGrid { open, close, four_hour_anchor })
    }

    fn bucket(&self, frame: Frame, t: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if t < self.open || t >= self.close {
            return None;
        }
        let Some(step) = frame.step() else {
            return Some((self.open, self.close));
        };
        let anchor = if frame == Frame::Hour4 { self.four_hour_anchor } else { self.open };
        let step_ms = step.num_milliseconds();
        let index = (t - anchor).num_milliseconds().div_euclid(step_ms);
        let start = anchor + Duration::milliseconds(index * step_ms);
        Some((start.max(self.open), (start + step).min(self.close)))
    }
}

/// The bucket `[start, end)` of `frame` in `session` that contains `t`, or
/// `None` when `t` is outside the session (or on a closed day).
pub fn bucket(frame: Frame, session: Session, t: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    DayGrid::new(session, calendar::trading_date(t))?.bucket(frame, t)
}

/// Running totals of one bucket.
struct Acc {
    end: DateTime<Utc>,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    /// Σ vwap·volume, or `None` once a part without a vwap was seen.
    vwap_notional: Option<f64>,
}

impl Acc {
    fn new(end: DateTime<Utc>, b: &Bar) -> Self {
        Acc {
            end,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            vwap_notional: b.vwap.map(|v| v * b.volume),
        }
    }

    /// Adds `b`, which starts after every bar already in the bucket.
    fn push(&mut self, b: &Bar) {
        self.high = self.high.max(b.high);
        self.low = self.low.min(b.low);
        self.close = b.close;
        self.volume += b.volume;
        self.vwap_notional = self.vwap_notional.zip(b.vwap).map(|(n, v)| n + v * b.volume);
    }

    fn finish(self, start: DateTime<Utc>) -> Bar {
        let vwap = self.vwap_notional.filter(|_| self.volume > 0.0).map(|n| n / self.volume);
        Bar {
            start,
            end: self.end,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            vwap,
        }
    }
}

/// `frame` bars of `session` built from 1-minute bars, oldest first; only
/// buckets that had closed by `now` (see the module doc for the grid).
pub fn aggregate(minutes: &[Bar], frame: Frame, session: Session, now: DateTime<Utc>) -> Vec<Bar> {
    aggregate_bars(minutes, frame, session, now)
}

/// `frame` bars of `session` built from shorter bars (minutes, or 60m bars
/// for 4h), oldest first.
///
/// A part is used only when it closed by `now` and lies wholly inside one
/// bucket: a bar straddling a bucket edge or the session edge (say, a
/// 09:00–10:00 bar for a regular-session day) cannot be split without its
/// own minutes, so it is left out rather than smeared across two buckets.
/// Parts with the same start are one bar sent twice; the later one in
/// `bars` wins, as a later record replaces an earlier one on a tape.
/// A bucket is returned only when its end is at or before `now`.
pub fn aggregate_bars(bars: &[Bar], frame: Frame, session: Session, now: DateTime<Utc>) -> Vec<Bar> {
    // A stable sort keeps duplicates in input order, so keeping the last of
    // a run of equal starts keeps the later record.
    let mut parts: Vec<&Bar> = bars.iter().filter(|b| b.start < b.end && b.end <= now).collect();
    parts.sort_by_key(|b| b.start);
    let mut unique: Vec<&Bar> = Vec::with_capacity(parts.len());
    for b in parts {
        match unique.last_mut() {
            Some(last) if last.start == b.start => *last = b,
            _ => unique.push(b),
        }
    }

    let mut buckets: BTreeMap<DateTime<Utc>, Acc> = BTreeMap::new();
    // The parts are in time order, so the calendar is asked once per date
    // rather than once per minute.
    let mut day: Option<(NaiveDate, Option<DayGrid>)> = None;
    for b in unique {
        let date = calendar::trading_date(b.start);
        let grid = match day {
            Some((d, grid)) if d == date => grid,
            _ => {
                let grid = DayGrid::new(session, date);
                day = Some((date, grid));
                grid
            }
        };
        let Some((start, end)) = grid.and_then(|g| g.bucket(frame, b.start)) else {
            continue;
        };
        if b.end > end {
            continue;
        }
        match buckets.get_mut(&start) {
            Some(acc) => acc.push(b),
            None => {
                buckets.insert(start, Acc::new(end, b));
            }
        }
    }
    buckets.into_iter().filter(|(_, acc)| acc.end <= now).map(|(start, acc)| acc.finish(start)).collect()
}

/// How much of today's regular session has passed at `now`, 0..=1: 0 before
/// the open, 1 after the close (13:00 on early-close days). A day without a
/// session gives 0, so a pace computed from it is `None` rather than a
/// comparison with a day that has no trading.
pub fn session_fraction_elapsed(now: DateTime<Utc>) -> f64 {
    let Some(s) = calendar::session(calendar::trading_date(now)) else {
        return 0.0;
    };
    if now <= s.open {
        return 0.0;
    }
    if now >= s.close {
        return 1.0;
    }
    let length_ms = (s.close - s.open).num_milliseconds() as f64;
    (now - s.open).num_milliseconds() as f64 / length_ms
}

/// Today's volume relative to what an average day would have traded by now:
/// `today / (average × fraction)`. 1.0 is an ordinary day; Breakouts wants
/// at least 1.5. `None` when there is nothing to compare with (no average,
/// no part of the session elapsed, or a non-finite input). A fraction above
/// 1 is taken as 1.
pub fn volume_pace(today_volume: f64, avg_daily_volume: f64, fraction: f64) -> Option<f64> {
    let finite = today_volume.is_finite() && avg_daily_volume.is_finite() && fraction.is_finite();
    if !finite || avg_daily_volume <= 0.0 || fraction <= 0.0 || today_volume < 0.0 {
        return None;
    }
    Some(today_volume / (avg_daily_volume * fraction.min(1.0)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    use crate::calendar::MARKET_TZ;

    /// An instant from an ET wall-clock time, `2025-07-15 09:30`.
    pub(crate) fn et(s: &str) -> DateTime<Utc> {
        let local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("test time");
        MARKET_TZ.from_local_datetime(&local).single().expect("unambiguous").with_timezone(&Utc)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    /// `HH:MM` in ET, the way the bucket tables are written.
    fn hm(t: DateTime<Utc>) -> String {
        t.with_timezone(&MARKET_TZ).format("%H:%M").to_string()
    }

    /// A bar of `span_min` minutes starting at `start`, with prices derived
    /// from its position so that OHLC merging is visible.
    fn bar(start: DateTime<Utc>, span_min: i64, x: f64) -> Bar {
        Bar {
            start,
            end: start + Duration::minutes(span_min),
            open: x,
            high: x + 1.0,
            low: x - 1.0,
            close: x + 0.5,
            volume: 10.0,
            vwap: Some(x),
        }
    }

    /// Every minute bar of `date` from 04:00 to 20:00 ET (960 bars), the
    /// price rising by 0.01 a minute.
    fn minutes_of(date: &str, until: &str) -> Vec<Bar> {
        let first = et(&format!("{date} 04:00"));
        let last = et(&format!("{date} {until}"));
        let count = (last - first).num_minutes();
        (0..count).map(|i| bar(first + Duration::minutes(i), 1, 100.0 + i as f64 * 0.01)).collect()
    }

    /// The `HH:MM-HH:MM` (ET) spans `aggregate` returns.
    fn check(minutes: &[Bar], frame: Frame, session: Session, now: DateTime<Utc>, want: &[&str]) {
        let got: Vec<String> =
            aggregate(minutes, frame, session, now).iter().map(|b| format!("{}-{}", hm(b.start), hm(b.end))).collect();
        assert_eq!(got, want, "{frame} {session:?} now={now}");
    }

    #[test]
    fn bucket_grids() {
        let day = minutes_of("2025-07-15", "20:00");
        let after = et("2025-07-15 23:00");
        let regular_60m =
            ["09:30-10:30", "10:30-11:30", "11:30-12:30", "12:30-13:30", "13:30-14:30", "14:30-15:30", "15:30-16:00"];
        let extended_60m: Vec<String> = (4..20).map(|h| format!("{h:02}:00-{:02}:00", h + 1)).collect();
        let extended_60m: Vec<&str> = extended_60m.iter().map(String::as_str).collect();
        let cases: [(Frame, Session, DateTime<Utc>, &[&str]); 7] = [
            (Frame::Min60, Session::Regular, after, &regular_60m),
            (Frame::Min60, Session::Extended, after, &extended_60m),
            (Frame::Hour4, Session::Extended, after, &["04:00-08:00", "08:00-12:00", "12:00-16:00", "16:00-20:00"]),
            (Frame::Hour4, Session::Regular, after, &["09:30-12:00", "12:00-16:00"]),
            (Frame::Day, Session::Regular, after, &["09:30-16:00"]),
            (Frame::Day, Session::Extended, after, &["04:00-20:00"]),
            // Mid-session: only the buckets that have ended.
            (Frame::Min60, Session::Regular, et("2025-07-15 11:29"), &["09:30-10:30"]),
        ];
        for (frame, session, now, want) in cases {
            check(&day, frame, session, now, want);
        }
        let five = aggregate(&day, Frame::Min5, Session::Regular, after);
        assert_eq!((five.len(), hm(five[0].start), hm(five[77].end)), (78, "09:30".into(), "16:00".into()));
        assert_eq!(aggregate(&day, Frame::Min5, Session::Extended, after).len(), 192);
    }

    #[test]
    fn bucket_table() {
        // (frame, session, ET time on 2025-07-15, bucket in ET)
        let cases = [
            (Frame::Min5, Session::Regular, "09:29", None),
            (Frame::Min5, Session::Regular, "09:30", Some("09:30-09:35")),
            (Frame::Min5, Session::Regular, "15:59", Some("15:55-16:00")),
            (Frame::Min5, Session::Regular, "16:00", None),
            (Frame::Min5, Session::Extended, "03:59", None),
            (Frame::Min5, Session::Extended, "04:00", Some("04:00-04:05")),
            (Frame::Min5, Session::Extended, "19:59", Some("19:55-20:00")),
            (Frame::Min5, Session::Extended, "20:00", None),
            (Frame::Min60, Session::Regular, "10:29", Some("09:30-10:30")),
            (Frame::Min60, Session::Regular, "15:59", Some("15:30-16:00")),
            (Frame::Min60, Session::Extended, "09:45", Some("09:00-10:00")),
            (Frame::Hour4, Session::Extended, "07:59", Some("04:00-08:00")),
            (Frame::Hour4, Session::Extended, "08:00", Some("08:00-12:00")),
            (Frame::Hour4, Session::Regular, "09:30", Some("09:30-12:00")),
            (Frame::Hour4, Session::Regular, "09:29", None),
            (Frame::Day, Session::Regular, "12:00", Some("09:30-16:00")),
            (Frame::Day, Session::Extended, "05:00", Some("04:00-20:00")),
        ];
        for (frame, session, t, want) in cases {
            let got =
                bucket(frame, session, et(&format!("2025-07-15 {t}"))).map(|(s, e)| format!("{}-{}", hm(s), hm(e)));
            assert_eq!(got.as_deref(), want, "{frame} {session:?} {t}");
        }
        assert_eq!(bucket(Frame::Day, Session::Regular, et("2025-07-12 12:00")), None);
    }

    #[test]
    fn early_close_and_closed_days() {
        // 2025-11-28, the day after Thanksgiving, closes at 13:00 (17:00 extended).
        let early = minutes_of("2025-11-28", "20:00");
        let after = et("2025-11-28 23:00");
        let cases: [(Frame, Session, DateTime<Utc>, &[&str]); 6] = [
            (Frame::Day, Session::Regular, after, &["09:30-13:00"]),
            (Frame::Day, Session::Regular, et("2025-11-28 12:59"), &[]),
            (Frame::Day, Session::Regular, et("2025-11-28 13:00"), &["09:30-13:00"]),
            (Frame::Min60, Session::Regular, after, &["09:30-10:30", "10:30-11:30", "11:30-12:30", "12:30-13:00"]),
            (Frame::Hour4, Session::Extended, after, &["04:00-08:00", "08:00-12:00", "12:00-16:00", "16:00-17:00"]),
            (Frame::Hour4, Session::Regular, after, &["09:30-12:00", "12:00-13:00"]),
        ];
        for (frame, session, now, want) in cases {
            check(&early, frame, session, now, want);
        }
        // Independence Day and a Saturday have no session at all.
        for date in ["2025-07-04", "2025-07-12"] {
            let minutes = minutes_of(date, "20:00");
            for frame in Frame::ALL {
                for session in [Session::Regular, Session::Extended] {
                    check(&minutes, frame, session, et(&format!("{date} 23:00")), &[]);
                }
            }
        }
    }

    #[test]
    fn merged_values() {
        let t = et("2025-07-15 09:30");
        let minutes = [
            bar(t, 1, 10.0),
            Bar { volume: 30.0, vwap: Some(14.0), ..bar(t + Duration::minutes(1), 1, 12.0) },
            bar(t + Duration::minutes(4), 1, 8.0),
            // Outside the regular session: ignored there, used in extended.
            bar(t - Duration::minutes(1), 1, 50.0),
        ];
        let got = aggregate(&minutes, Frame::Min5, Session::Regular, t + Duration::minutes(5));
        let want = Bar {
            start: t,
            end: t + Duration::minutes(5),
            open: 10.0,
            high: 13.0,
            low: 7.0,
            close: 8.5,
            volume: 50.0,
            // (10·10 + 14·30 + 8·10) / 50
            vwap: Some(12.0),
        };
        assert_eq!(got, vec![want]);
        let extended = aggregate(&minutes, Frame::Min5, Session::Extended, t + Duration::minutes(5));
        assert_eq!(
            extended.iter().map(|b| (hm(b.start), b.open)).collect::<Vec<_>>(),
            [("09:25".to_string(), 50.0), ("09:30".to_string(), 10.0)]
        );

        // One part without a vwap makes the bucket's vwap unknown.
        let no_vwap = [bar(t, 1, 10.0), Bar { vwap: None, ..bar(t + Duration::minutes(1), 1, 12.0) }];
        assert_eq!(aggregate(&no_vwap, Frame::Min5, Session::Regular, t + Duration::minutes(5))[0].vwap, None);

        // The same minute sent twice: the later record wins; order of input is free.
        let dup = [bar(t + Duration::minutes(1), 1, 11.0), bar(t, 1, 10.0), bar(t, 1, 20.0)];
        let b = aggregate(&dup, Frame::Min5, Session::Regular, t + Duration::minutes(5));
        assert_eq!((b[0].open, b[0].close, b[0].volume), (20.0, 11.5, 20.0));
    }

    #[test]
    fn no_look_ahead() {
        let day = minutes_of("2025-07-15", "20:00");
        // A 5m bucket still open at `now` is left out, one that ends at `now` is in.
        let cases: [(&str, &[&str]); 4] = [
            ("2025-07-15 09:34", &[]),
            ("2025-07-15 09:35", &["09:30-09:35"]),
            ("2025-07-15 09:39", &["09:30-09:35"]),
            ("2025-07-15 09:40", &["09:30-09:35", "09:35-09:40"]),
        ];
        for (now, want) in cases {
            check(&day[..400], Frame::Min5, Session::Regular, et(now), want);
        }
        // Sweep `now` across the day: nothing returned ends after `now`, and a
        // minute bar that had not closed never reaches a bucket.
        let mut now = et("2025-07-15 03:00");
        while now < et("2025-07-15 21:00") {
            for frame in Frame::ALL {
                for session in [Session::Regular, Session::Extended] {
                    for b in aggregate(&day, frame, session, now) {
                        assert!(b.end <= now, "{frame} {session:?} bar ending {} at now={now}", b.end);
                    }
                }
            }
            now += Duration::minutes(7);
        }
        // A minute bar longer than it should be (ends after `now`) is not used
        // even when its bucket has closed.
        let t = et("2025-07-15 09:30");
        let odd = [bar(t, 1, 10.0), Bar { end: t + Duration::minutes(9), ..bar(t + Duration::minutes(1), 1, 30.0) }];
        let b = aggregate(&odd, Frame::Min5, Session::Regular, t + Duration::minutes(5));
        assert_eq!((b.len(), b[0].high), (1, 11.0));
        let at = et("2025-07-15 12:00");
        assert_eq!(closed(&day, at).len(), 480);
        assert!(closed(&day, at).iter().all(|b| b.end <= at));
    }

    /// 60m bars 04:00–20:00 ET on `date`, built like Polygon's hour bars.
    fn hours_of(date: &str) -> Vec<Bar> {
        let first = et(&format!("{date} 04:00"));
        (0..16).map(|i| bar(first + Duration::hours(i), 60, 100.0 + i as f64)).collect()
    }

    #[test]
    fn four_hour_bars_align_to_eastern_time() {
        // (date, UTC starts of the 4h bars): 04/08/12/16 ET is 09/13/17/21 UTC
        // in EST and 08/12/16/20 UTC in EDT (2025-03-10 is the first EDT
        // Monday, 2025-11-03 the first EST one).
        let cases = [
            ("2025-01-15", ["09:00", "13:00", "17:00", "21:00"]),
            ("2025-07-15", ["08:00", "12:00", "16:00", "20:00"]),
            ("2025-03-10", ["08:00", "12:00", "16:00", "20:00"]),
            ("2025-11-03", ["09:00", "13:00", "17:00", "21:00"]),
        ];
        for (date, want) in cases {
            let four = aggregate_bars(&hours_of(date), Frame::Hour4, Session::Extended, et(&format!("{date} 23:00")));
            let got: Vec<String> = four.iter().map(|b| b.start.format("%H:%M").to_string()).collect();
            assert_eq!(got, want, "{date}");
            let et_starts: Vec<String> = four.iter().map(|b| hm(b.start)).collect();
            assert_eq!(et_starts, ["04:00", "08:00", "12:00", "16:00"], "{date}");
            // Each 4h bar is its four hours: open of the first, close of the last.
            assert_eq!((four[1].open, four[1].close, four[1].high, four[1].volume), (104.0, 107.5, 108.0, 40.0));
        }
        // The 16:00 bar closes at 20:00 ET, not before.
        let hours = hours_of("2025-01-15");
        assert_eq!(aggregate_bars(&hours, Frame::Hour4, Session::Extended, et("2025-01-15 19:59")).len(), 3);
        // An hour bar that straddles a 4h edge (11:30–12:30) cannot be split.
        let shifted: Vec<Bar> =
            (0..5).map(|i| bar(et("2025-01-15 08:30") + Duration::hours(i), 60, 1.0 + i as f64)).collect();
        let four = aggregate_bars(&shifted, Frame::Hour4, Session::Extended, et("2025-01-15 23:00"));
        assert_eq!(
            four.iter().map(|b| (hm(b.start), b.volume)).collect::<Vec<_>>(),
            [("08:00".to_string(), 30.0), ("12:00".to_string(), 10.0)]
        );
    }

    #[test]
    fn polygon_conversion() {
        let ok = polygon::Bar {
            start_ms: 1_752_586_200_000,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10.0,
            vwap: Some(1.2),
            ..Default::default()
        };
        let minute = Duration::minutes(1);
        let got = Bar::from_polygon(&ok, minute);
        assert_eq!(
            got,
            Some(Bar {
                start: utc("2025-07-15T13:30:00Z"),
                end: utc("2025-07-15T13:31:00Z"),
                open: 1.0,
                high: 2.0,
                low: 0.5,
                close: 1.5,
                volume: 10.0,
                vwap: Some(1.2)
            })
        );
        let cases = [
            (polygon::Bar { high: f64::NAN, ..ok.clone() }, minute, false),
            (polygon::Bar { close: f64::INFINITY, ..ok.clone() }, minute, false),
            (polygon::Bar { high: 0.4, ..ok.clone() }, minute, false),
            (polygon::Bar { volume: -1.0, ..ok.clone() }, minute, false),
            (polygon::Bar { start_ms: i64::MAX, ..ok.clone() }, minute, false),
            (ok.clone(), Duration::zero(), false),
            (polygon::Bar { high: 1.0, low: 1.0, open: 1.0, close: 1.0, ..ok.clone() }, minute, true),
        ];
        for (i, (b, span, want)) in cases.into_iter().enumerate() {
            assert_eq!(Bar::from_polygon(&b, span).is_some(), want, "case {i}");
        }
        let nan_vwap = polygon::Bar { vwap: Some(f64::NAN), ..ok };
        assert_eq!(Bar::from_polygon(&nan_vwap, minute).and_then(|b| b.vwap), None);
    }

    #[test]
    fn frame_names() {
        let cases =
            [("5m", Ok(Frame::Min5)), ("60m", Ok(Frame::Min60)), (" 1H ", Ok(Frame::Min60)), ("4h", Ok(Frame::Hour4))];
        for (s, want) in cases {
            assert_eq!(s.parse::<Frame>(), want);
        }
        assert_eq!("d".parse::<Frame>(), Ok(Frame::Day));
        assert_eq!("2h".parse::<Frame>(), Err("unknown timeframe `2h` (known: 5m, 60m, 4h, 1d)".to_string()));
        for f in Frame::ALL {
            assert_eq!(f.to_string().parse::<Frame>(), Ok(f));
        }
    }

    #[test]
    fn session_fraction_table() {
        // (ET time, fraction): 2025-07-15 is 09:30–16:00 (390 minutes),
        // 2025-11-28 is 09:30–13:00 (210 minutes), 2025-07-12 a Saturday.
        let cases = [
            ("2025-07-15 08:00", 0.0),
            ("2025-07-15 09:30", 0.0),
            ("2025-07-15 12:45", 0.5),
            ("2025-07-15 10:09", 0.1),
            ("2025-07-15 16:00", 1.0),
            ("2025-07-15 19:00", 1.0),
            ("2025-11-28 11:15", 0.5),
            ("2025-11-28 13:00", 1.0),
            ("2025-07-12 12:00", 0.0),
            ("2025-07-04 12:00", 0.0),
        ];
        for (t, want) in cases {
            let got = session_fraction_elapsed(et(t));
            assert!((got - want).abs() < 1e-12, "{t}: {got}");
        }
    }

    #[test]
    fn volume_pace_table() {
        // (today, average, fraction, pace)
        let cases = [
            (500.0, 1000.0, 0.5, Some(1.0)),
            (750.0, 1000.0, 0.5, Some(1.5)),
            (1500.0, 1000.0, 1.0, Some(1.5)),
            (1500.0, 1000.0, 1.2, Some(1.5)),
            (0.0, 1000.0, 0.5, Some(0.0)),
            (500.0, 0.0, 0.5, None),
            (500.0, 1000.0, 0.0, None),
            (500.0, f64::NAN, 0.5, None),
            (-1.0, 1000.0, 0.5, None),
        ];
        for (today, avg, fraction, want) in cases {
            assert_eq!(volume_pace(today, avg, fraction), want, "{today} {avg} {fraction}");
        }
    }

    #[test]
    fn a_polygon_day_aggregate_is_its_trading_date() {
        // Day bars start at midnight New York: 2026-03-10T04:00Z (EDT),
        // 2026-11-27T05:00Z (EST); 2026-03-08 springs forward (23 hours).
        let cases = [
            (1_773_115_200_000, "2026-03-10", 24),
            (1_795_755_600_000, "2026-11-27", 24),
            (et("2026-03-08 00:00").timestamp_millis(), "2026-03-08", 23),
            (et("2026-11-01 00:00").timestamp_millis(), "2026-11-01", 25),
        ];
        for (start_ms, want, hours) in cases {
            let raw = polygon::Bar {
                start_ms,
                open: 1.0,
                high: 2.0,
                low: 0.5,
                close: 1.5,
                volume: 10.0,
                ..Default::default()
            };
            let got = Bar::from_polygon_day(&raw).expect("a valid day bar");
            assert_eq!(got.trading_date().to_string(), want, "{start_ms}");
            assert_eq!(got.end - got.start, Duration::hours(hours), "{want}");
            assert_eq!((got.open, got.high, got.low, got.close, got.volume), (1.0, 2.0, 0.5, 1.5, 10.0));
        }
        let bad = polygon::Bar { start_ms: i64::MAX, ..Default::default() };
        assert_eq!(Bar::from_polygon_day(&bad), None);
        let inverted = polygon::Bar { start_ms: 1_773_115_200_000, high: 1.0, low: 2.0, ..Default::default() };
        assert_eq!(Bar::from_polygon_day(&inverted), None);
    }
}
