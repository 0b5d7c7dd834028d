//! A request's parameters as Polygon reads them: cursors, `field.gte`-style
//! bounds, the chain's filters and a trades window.

use super::*;

/// `A-B`: two numbers (a snapshot line or a time cap, and an offset).
pub(super) fn parse_cursor(cursor: &str) -> Option<(u64, usize)> {
    let (a, b) = cursor.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// `gt`/`gte`/`lt`/`lte`/exact bounds on one field, as Polygon's
/// `field.gte=...` query parameters.
pub(super) struct Bounds<T> {
    pub(super) eq: Option<T>,
    pub(super) gt: Option<T>,
    pub(super) gte: Option<T>,
    pub(super) lt: Option<T>,
    pub(super) lte: Option<T>,
}

impl<T: PartialOrd + Copy> Bounds<T> {
    pub(super) fn parse(q: &Target, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Bounds<T>, String> {
        let get = |suffix: &str| -> Result<Option<T>, String> {
            let key = format!("{name}{suffix}");
            match q.get(&key) {
                None => Ok(None),
                Some(v) => parse(v).map(Some).ok_or_else(|| format!("invalid {key} {v:?}")),
            }
        };
        Ok(Bounds { eq: get("")?, gt: get(".gt")?, gte: get(".gte")?, lt: get(".lt")?, lte: get(".lte")? })
    }

    /// A value passes every bound set; a missing value passes only when no
    /// bound is set.
    /// True when no bound is set.
    pub(super) fn is_open(&self) -> bool {
        [self.eq, self.gt, self.gte, self.lt, self.lte].iter().all(Option::is_none)
    }

    pub(super) fn accepts(&self, v: Option<T>) -> bool {
        let bounds = [self.eq, self.gt, self.gte, self.lt, self.lte];
        if bounds.iter().all(Option::is_none) {
            return true;
        }
        let Some(v) = v else { return false };
        self.eq.is_none_or(|b| v == b)
            && self.gt.is_none_or(|b| v > b)
            && self.gte.is_none_or(|b| v >= b)
            && self.lt.is_none_or(|b| v < b)
            && self.lte.is_none_or(|b| v <= b)
    }
}

pub(super) struct ChainFilter {
    pub(super) expiration: Bounds<NaiveDate>,
    pub(super) strike: Bounds<f64>,
    pub(super) contract_type: Option<String>,
}

impl ChainFilter {
    pub(super) fn parse(q: &Target) -> Result<ChainFilter, String> {
        Ok(ChainFilter {
            expiration: Bounds::parse(q, "expiration_date", |v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())?,
            strike: Bounds::parse(q, "strike_price", |v| v.parse::<f64>().ok().filter(|x| x.is_finite()))?,
            contract_type: q.get("contract_type").map(str::to_string),
        })
    }

    /// `json` is the contract's text: its strike and type are read only
    /// when the query filters on them.
    pub(super) fn accepts(&self, c: &RawContract, json: &str) -> bool {
        if !self.expiration.accepts(c.expiration) {
            return false;
        }
        if self.strike.is_open() && self.contract_type.is_none() {
            return true;
        }
        let (strike, kind) = ContractIndex::strike_and_type(json);
        self.strike.accepts(strike)
            && self.contract_type.as_deref().is_none_or(|want| kind.is_some_and(|k| k.eq_ignore_ascii_case(want)))
    }
}

/// The inclusive `[lo, hi]` nanosecond window of a trades (or quotes)
/// request. A value is nanoseconds or an ET date (its midnight;
/// `timestamp=DATE` is the whole date).
pub(super) fn trade_window(q: &Target) -> Result<(i64, i64), String> {
    time_window(q, "timestamp")
}

/// [`trade_window`] on the parameter `field` (`sip_timestamp` for the
/// unusual trades).
pub(super) fn time_window(q: &Target, field: &str) -> Result<(i64, i64), String> {
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    for (key, value) in &q.query {
        let Some(op) = key.strip_prefix(field) else { continue };
        if !matches!(op, "" | ".gt" | ".gte" | ".lt" | ".lte") {
            continue;
        }
        let (start, end) = if let Ok(ns) = value.parse::<i64>() {
            (ns, ns)
        } else {
            let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok();
            let start = day.and_then(et_midnight_ms).and_then(|ms| ms.checked_mul(1_000_000));
            let end = day
                .and_then(|d| d.succ_opt())
                .and_then(et_midnight_ms)
                .and_then(|ms| ms.checked_mul(1_000_000))
                .map(|ns| ns - 1);
            match (start, end) {
                (Some(s), Some(e)) if op.is_empty() => (s, e),
                (Some(s), Some(_)) => (s, s),
                _ => return Err(format!("invalid {key} {value:?}")),
            }
        };
        match op {
            "" => (lo, hi) = (lo.max(start), hi.min(end)),
            ".gt" => lo = lo.max(start.saturating_add(1)),
            ".gte" => lo = lo.max(start),
            ".lt" => hi = hi.min(start.saturating_sub(1)),
            _ => hi = hi.min(start),
        }
    }
    Ok((lo, hi))
}
