//! The options scan's pure parts: turning Polygon's chain snapshots into
//! flow observations, the shared per-symbol scan result, and the
//! round-robin walk over the watchlist.

use std::collections::BTreeMap;

use crate::bots::OptionPrint;
use crate::flow::{FlowEvent, Observation, QuotePoint, TradePoint};
use crate::polygon::Trade;
use crate::polygon::lean::ChainContract;

/// One chain fetch and its one detection pass, shared by every options bot
/// that scans the symbol within `CHAIN_CACHE_TTL_SECONDS`.
#[derive(Debug, Clone)]
pub struct ChainScan {
    /// Increases with every fetch, so a bot can tell a scan it already
    /// evaluated (a cache hit on its next firing) from a fresh one.
    pub seq: u64,
    pub contracts: usize,
    pub events: Vec<FlowEvent>,
    /// Contracts seen for the first time (baselines, never alerts).
    pub baselines: usize,
}

/// The observation a chain contract carries, or None when it lacks what
/// makes a contract a contract (ticker, strike, expiry). Takes the lean
/// model ([`ChainContract`]; `(&snapshot).into()` for a whole one) by value,
/// so the ticker is moved, not copied.
pub fn observation(c: ChainContract, underlying: &str) -> Option<Observation> {
    let (multiplier, volume, spot) = (c.multiplier(), c.day_volume(), c.spot());
    let details = c.details?;
    let (strike, expiration) = (details.strike_price?, details.expiration_date?);
    let mut o = Observation::new(details.ticker?, underlying, details.contract_type, strike, expiration);
    o.multiplier = multiplier;
    o.volume = volume;
    if let Some(day) = &c.day {
        o.vwap = day.vwap;
        o.day_low = day.low;
        o.day_high = day.high;
    }
    o.last_trade = c.last_trade.as_ref().and_then(|t| {
        Some(TradePoint { price: t.price?, size: t.size.unwrap_or(0.0), at_ns: t.sip_timestamp.unwrap_or(0) })
    });
    o.quote = c
        .last_quote
        .as_ref()
        .and_then(|q| Some(QuotePoint { bid: q.bid?, ask: q.ask?, at_ns: q.last_updated.unwrap_or(0) }));
    o.open_interest = c.open_interest;
    o.delta = c.greeks.as_ref().and_then(|g| g.delta);
    o.iv = c.implied_volatility;
    o.spot = spot;
    Some(o)
}

/// Option prints as the sweep-confirmation rule reads them.
pub fn option_prints(trades: &[Trade]) -> Vec<OptionPrint> {
    trades
        .iter()
        .map(|t| OptionPrint {
            conditions: t.conditions.iter().flatten().map(|&c| i64::from(c)).collect(),
            exchange: t.exchange.map(i64::from),
            size: t.size,
            sip_timestamp: t.sip_timestamp,
        })
        .collect()
}

/// Per-line cursors over the watchlist: each firing takes the next `batch`
/// symbols, wrapping around, so a long watchlist is covered in turn.
///
/// [`RoundRobin::next_shared`] is the walk for lines that share chain
/// fetches (the options bots): one walk they all follow, so the five bots
/// firing within one chain-cache TTL ask for the same symbols.
#[derive(Debug, Default)]
pub struct RoundRobin {
    cursors: BTreeMap<usize, usize>,
    shared: SharedWalk,
}

/// The walk of [`RoundRobin::next_shared`]: the batch now open (`epoch`,
/// from `start`, `stride` symbols long) and the last epoch each line took.
#[derive(Debug, Default)]
struct SharedWalk {
    epoch: u64,
    start: usize,
    stride: usize,
    taken: BTreeMap<usize, u64>,
}

impl RoundRobin {
    /// The next `batch` symbols for the timetable line `line`.
    pub fn next(&mut self, line: usize, watchlist: &[String], batch: usize) -> Vec<String> {
        if watchlist.is_empty() {
            return Vec::new();
        }
        let n = batch.clamp(1, watchlist.len());
        let start = self.cursors.get(&line).copied().unwrap_or(0) % watchlist.len();
        self.cursors.insert(line, (start + n) % watchlist.len());
        (0..n).map(|k| watchlist[(start + k) % watchlist.len()].clone()).collect()
    }

    /// The next `batch` symbols for `line` on the walk shared by every line
    /// that calls this: a line that has not yet taken the open batch takes
    /// it; a line that has opens the next one. Per-line cursors drift apart
    /// as soon as one bot's firing is skipped (late), and then the five
    /// options bots ask for different symbols, each paying its own chain
    /// fetch: on a 200-symbol day that doubled the pages per pass and, the
    /// token bucket full, made more firings late. On the shared walk a
    /// skipped or late firing only misses that batch; the next bot to fire
    /// moves the walk on.
    pub fn next_shared(&mut self, line: usize, watchlist: &[String], batch: usize) -> Vec<String> {
        if watchlist.is_empty() {
            return Vec::new();
        }
        let len = watchlist.len();
        let n = batch.clamp(1, len);
        let w = &mut self.shared;
        let taken = w.taken.get(&line).copied().unwrap_or(0);
        if w.epoch == 0 || taken >= w.epoch {
            w.start = if w.epoch == 0 { 0 } else { (w.start + w.stride) % len };
            w.stride = n;
            w.epoch += 1;
        }
        w.taken.insert(line, w.epoch);
        let start = w.start % len;
        (0..n).map(|k| watchlist[(start + k) % len].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_wraps_and_keeps_one_cursor_per_line() {
        let w: Vec<String> = ["A", "B", "C", "D", "E"].iter().map(|s| s.to_string()).collect();
        let mut rr = RoundRobin::default();
        let cases: &[(usize, usize, &[&str])] = &[
            (1, 2, &["A", "B"]),
            (1, 2, &["C", "D"]),
            (2, 3, &["A", "B", "C"]),
            (1, 2, &["E", "A"]),
            (1, 9, &["B", "C", "D", "E", "A"]),
            (2, 3, &["D", "E", "A"]),
        ];
        for (line, batch, want) in cases {
            assert_eq!(rr.next(*line, &w, *batch), *want, "line {line} batch {batch}");
        }
        assert!(rr.next(1, &[], 3).is_empty());
    }

    #[test]
    fn the_shared_walk_gives_every_line_the_open_batch_once() {
        let w: Vec<String> = ["A", "B", "C", "D", "E"].iter().map(|s| s.to_string()).collect();
        let mut rr = RoundRobin::default();
        // (line, batch, symbols): lines 1-3 fire in turn; line 2 misses a
        // round (a skipped firing) and rejoins the open batch; line 3's own
        // batch size applies when it follows.
        let cases: &[(usize, usize, &[&str])] = &[
            (1, 2, &["A", "B"]),
            (2, 2, &["A", "B"]),
            (3, 3, &["A", "B", "C"]),
            (1, 2, &["C", "D"]),
            (3, 2, &["C", "D"]),
            (1, 2, &["E", "A"]),
            (2, 2, &["E", "A"]),
            (2, 2, &["B", "C"]),
            (1, 2, &["B", "C"]),
        ];
        for (k, (line, batch, want)) in cases.iter().enumerate() {
            assert_eq!(rr.next_shared(*line, &w, *batch), *want, "step {k}: line {line} batch {batch}");
        }
        assert!(rr.next_shared(1, &[], 3).is_empty());
        // The per-line cursors are separate from the shared walk.
        assert_eq!(rr.next(1, &w, 2), ["A", "B"]);
    }

    #[test]
    fn snapshots_become_observations_with_every_optional_part() {
        let json = r#"{
            "details": {"ticker": "O:CSCO251121P00050000", "contract_type": "put", "strike_price": 50,
                        "expiration_date": "2025-11-21", "shares_per_contract": 100},
            "day": {"volume": 1200, "vwap": 1.25, "low": 1.0, "high": 1.5},
            "last_trade": {"price": 1.3, "size": 10, "sip_timestamp": 1761143405000000000},
            "last_quote": {"bid": 1.2, "ask": 1.3, "last_updated": 1761143404000000000},
            "greeks": {}, "open_interest": 5000, "underlying_asset": {"ticker": "CSCO", "price": 52.5}
        }"#;
        let whole: crate::polygon::OptionSnapshot = serde_json::from_str(json).unwrap();
        let o = observation(serde_json::from_str(json).unwrap(), "CSCO").unwrap();
        // The same through the whole model.
        assert_eq!(observation((&whole).into(), "CSCO"), Some(o.clone()));
        assert_eq!(o.contract_type, Some(crate::alert::ContractType::Put));
        assert_eq!((o.volume, o.vwap, o.day_low, o.day_high), (1200.0, Some(1.25), Some(1.0), Some(1.5)));
        assert_eq!(o.last_trade.map(|t| t.price), Some(1.3));
        assert_eq!(o.quote.map(|q| (q.bid, q.ask)), Some((1.2, 1.3)));
        assert_eq!((o.delta, o.iv, o.spot, o.open_interest), (None, None, Some(52.5), Some(5000.0)));

        let bare: ChainContract = serde_json::from_str(r#"{"details": {"ticker": "O:X"}}"#).unwrap();
        assert!(observation(bare, "X").is_none(), "no strike or expiry: not a usable contract");
    }
}
