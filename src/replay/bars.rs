//! Bars built from one-minute bars: fixed buckets (5 minutes, an hour)
//! and calendar days in US Eastern time.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Span {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Span {
    pub(super) fn parse(s: &str) -> Option<Span> {
        Some(match s {
            "second" => Span::Second,
            "minute" => Span::Minute,
            "hour" => Span::Hour,
            "day" => Span::Day,
            "week" => Span::Week,
            "month" => Span::Month,
            "quarter" => Span::Quarter,
            "year" => Span::Year,
            _ => return None,
        })
    }
}

/// `calendar::et_midnight` in the Unix milliseconds bars are stamped with.
pub(super) fn et_midnight_ms(d: NaiveDate) -> Option<i64> {
    calendar::et_midnight(d).map(|t| t.timestamp_millis())
}

/// `calendar::trading_date` of a bar's Unix-millisecond stamp.
pub(super) fn et_date_of_ms(ms: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(calendar::trading_date)
}

/// When a bar that starts at `start_ms` closes. Calendar spans end at an
/// ET midnight (a day is 23 or 25 hours across a DST change).
pub(super) fn bar_end_ms(start_ms: i64, mult: u32, span: Span) -> Option<i64> {
    let m = i64::from(mult);
    let fixed = |unit_ms: i64| m.checked_mul(unit_ms).and_then(|d| start_ms.checked_add(d));
    let date = || et_date_of_ms(start_ms);
    let end = match span {
        Span::Second => return fixed(1000),
        Span::Minute => return fixed(MINUTE_MS),
        Span::Hour => return fixed(HOUR_MS),
        Span::Day => date()?.checked_add_days(Days::new(u64::from(mult)))?,
        Span::Week => date()?.checked_add_days(Days::new(7 * u64::from(mult)))?,
        Span::Month => date()?.checked_add_months(Months::new(mult))?,
        Span::Quarter => date()?.checked_add_months(Months::new(mult.checked_mul(3)?))?,
        Span::Year => date()?.checked_add_months(Months::new(mult.checked_mul(12)?))?,
    };
    et_midnight_ms(end)
}

/// A range end: an ET date (inclusive: `to` runs to the end of the day) or
/// Unix milliseconds.
pub(super) fn agg_bound(s: &str, upper: bool) -> Option<i64> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return if upper { et_midnight_ms(d.succ_opt()?).map(|ms| ms - 1) } else { et_midnight_ms(d) };
    }
    s.parse().ok()
}

/// One bar from consecutive ones: first open, highest high, lowest low,
/// last close, summed volume, volume-weighted vwap (a minute without `vw`
/// counts at its close).
pub(super) fn merge_bars(start_ms: i64, bars: &[&Bar]) -> Option<Bar> {
    let (first, last) = (bars.first()?, bars.last()?);
    let volume: f64 = bars.iter().map(|b| b.volume).sum();
    let traded: f64 = bars.iter().map(|b| b.vwap.unwrap_or(b.close) * b.volume).sum();
    let transactions =
        bars.iter().filter_map(|b| b.transactions).fold(None, |acc: Option<f64>, n| Some(acc.unwrap_or(0.0) + n));
    Some(Bar {
        start_ms,
        open: first.open,
        high: bars.iter().map(|b| b.high).fold(f64::NEG_INFINITY, f64::max),
        low: bars.iter().map(|b| b.low).fold(f64::INFINITY, f64::min),
        close: last.close,
        volume,
        vwap: (volume > 0.0).then(|| traded / volume),
        transactions,
        ..Bar::default()
    })
}

/// Minute or hour bars of `bucket_ms`, aligned to multiples of it since the
/// epoch, from the 1-minute bars; only buckets that start in `[from, to]`
/// and had closed by `t`.
pub(super) fn build_fixed(minutes: &Series, bucket_ms: i64, from: i64, to: i64, t_ms: i64) -> Vec<Bar> {
    // Checked: a bound near i64::MIN would overflow when rounded down.
    let align = |ms: i64| ms.div_euclid(bucket_ms).checked_mul(bucket_ms);
    let lo = align(from).unwrap_or(i64::MIN);
    let hi = align(to).unwrap_or(i64::MIN).saturating_add(bucket_ms);
    if lo >= hi {
        return Vec::new();
    }
    let in_range = minutes.within(lo, hi - 1);
    group_by(&in_range, align)
        .into_iter()
        .filter(|(b, _)| *b >= from && *b <= to && b.saturating_add(bucket_ms) <= t_ms)
        .filter_map(|(b, bars)| merge_bars(b, &bars))
        .collect()
}

/// `bars` grouped by `key` of their start, in key order; a bar whose key
/// is None is left out.
pub(super) fn group_by<K: Ord>(bars: &[Bar], key: impl Fn(i64) -> Option<K>) -> BTreeMap<K, Vec<&Bar>> {
    let mut groups: BTreeMap<K, Vec<&Bar>> = BTreeMap::new();
    for bar in bars {
        if let Some(k) = key(bar.start_ms) {
            groups.entry(k).or_default().push(bar);
        }
    }
    groups
}

/// Day bars from all the 1-minute bars of each ET date, stamped at the
/// date's ET midnight; only days that start in `[from, to]` and had ended
/// by `t`.
pub(super) fn build_days(minutes: &Series, from: i64, to: i64, t_ms: i64) -> Vec<Bar> {
    // Bounds beyond chrono's calendar mean "from the start" / "to the end".
    let lo = et_date_of_ms(from).and_then(et_midnight_ms).unwrap_or(i64::MIN);
    let hi = et_date_of_ms(to).and_then(|d| d.succ_opt()).and_then(et_midnight_ms).unwrap_or(i64::MAX);
    if lo >= hi {
        return Vec::new();
    }
    let in_range = minutes.within(lo, hi - 1);
    group_by(&in_range, et_date_of_ms)
        .into_iter()
        .filter_map(|(d, bars)| {
            let start = et_midnight_ms(d)?;
            let end = et_midnight_ms(d.succ_opt()?)?;
            (start >= from && start <= to && end <= t_ms).then(|| merge_bars(start, &bars)).flatten()
        })
        .collect()
}
