//! Bar series as kept in memory: packed into integers when that reads
//! back identically, else as models.

use super::*;

/// Prices kept as integer ten-thousandths when that gives back the very
/// same `f64`: what every simulated or quoted price is.
pub(super) const PRICE_SCALE: f64 = 10_000.0;
/// `vwap`/`n` absent in a [`PackedBar`].
pub(super) const NO_PRICE: i32 = i32::MIN;
pub(super) const NO_COUNT: u32 = u32::MAX;

/// A bar in 40 bytes instead of [`Bar`]'s 112 (a day of option minute bars
/// for a big watchlist is over a million bars). Only built when every field
/// unpacks to the identical `f64`, so answers are unchanged.
#[derive(Debug, Clone, Copy)]
pub(super) struct PackedBar {
    pub(super) start_ms: i64,
    pub(super) open: i32,
    pub(super) high: i32,
    pub(super) low: i32,
    pub(super) close: i32,
    pub(super) vwap: i32,
    pub(super) volume: u32,
    pub(super) transactions: u32,
}

pub(super) fn pack_price(v: f64) -> Option<i32> {
    let scaled = (v * PRICE_SCALE).round();
    // NO_PRICE itself is excluded: it marks an absent value.
    if !(scaled > f64::from(i32::MIN) && scaled <= f64::from(i32::MAX)) {
        return None;
    }
    let packed = scaled as i32;
    (unpack_price(packed).to_bits() == v.to_bits()).then_some(packed)
}

pub(super) fn unpack_price(p: i32) -> f64 {
    f64::from(p) / PRICE_SCALE
}

pub(super) fn pack_count(v: f64) -> Option<u32> {
    // NO_COUNT excluded as above; -0.0 fails the bit check.
    if !(v >= 0.0 && v < f64::from(NO_COUNT)) {
        return None;
    }
    let packed = v as u32;
    (f64::from(packed).to_bits() == v.to_bits()).then_some(packed)
}

impl PackedBar {
    pub(super) fn pack(b: &Bar) -> Option<PackedBar> {
        if b.ticker.is_some() || b.otc.is_some() {
            return None;
        }
        Some(PackedBar {
            start_ms: b.start_ms,
            open: pack_price(b.open)?,
            high: pack_price(b.high)?,
            low: pack_price(b.low)?,
            close: pack_price(b.close)?,
            vwap: match b.vwap {
                None => NO_PRICE,
                Some(v) => pack_price(v)?,
            },
            volume: pack_count(b.volume)?,
            transactions: match b.transactions {
                None => NO_COUNT,
                Some(n) => pack_count(n)?,
            },
        })
    }

    pub(super) fn unpack(&self) -> Bar {
        Bar {
            start_ms: self.start_ms,
            open: unpack_price(self.open),
            high: unpack_price(self.high),
            low: unpack_price(self.low),
            close: unpack_price(self.close),
            volume: f64::from(self.volume),
            vwap: (self.vwap != NO_PRICE).then(|| unpack_price(self.vwap)),
            transactions: (self.transactions != NO_COUNT).then(|| f64::from(self.transactions)),
            ticker: None,
            otc: None,
        }
    }
}

/// One series' bars by start time, one bar per start (a later record's bar
/// replaces an earlier one's). Records bring bars in time order, so adding
/// is almost always a push; ranges are binary searches.
pub(super) enum Series {
    Packed(Vec<PackedBar>),
    /// Once any bar does not pack exactly.
    Plain(Vec<Bar>),
}

impl Default for Series {
    fn default() -> Series {
        Series::Packed(Vec::new())
    }
}

/// Puts `item` at its place by `key`, replacing one with the same key.
pub(super) fn insert_sorted<T>(v: &mut Vec<T>, item: T, key: impl Fn(&T) -> i64) {
    let k = key(&item);
    if v.last().is_none_or(|last| key(last) < k) {
        v.push(item);
        return;
    }
    match v.binary_search_by_key(&k, &key) {
        Ok(i) => v[i] = item,
        Err(i) => v.insert(i, item),
    }
}

impl Series {
    pub(super) fn insert(&mut self, bar: Bar) {
        if let Series::Packed(packed) = self {
            match PackedBar::pack(&bar) {
                Some(p) => return insert_sorted(packed, p, |b| b.start_ms),
                None => *self = Series::Plain(packed.iter().map(PackedBar::unpack).collect()),
            }
        }
        if let Series::Plain(plain) = self {
            insert_sorted(plain, bar, |b| b.start_ms);
        }
    }

    /// The bars that start in `[lo, hi]`, in time order.
    pub(super) fn within(&self, lo: i64, hi: i64) -> Vec<Bar> {
        fn span<T>(v: &[T], lo: i64, hi: i64, key: impl Fn(&T) -> i64) -> &[T] {
            let start = v.partition_point(|b| key(b) < lo);
            let end = v.partition_point(|b| key(b) <= hi).max(start);
            &v[start..end]
        }
        match self {
            Series::Packed(v) => span(v, lo, hi, |b| b.start_ms).iter().map(PackedBar::unpack).collect(),
            Series::Plain(v) => span(v, lo, hi, |b| b.start_ms).to_vec(),
        }
    }
}
