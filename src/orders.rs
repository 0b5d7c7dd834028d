//! The market-wide prints lane's pure part (SPEC §14): Massive's unusual
//! option trades (`/options/v1/unusual-trades`) grouped into orders, each
//! order's size, premium and average price from its own prints (exact, not
//! a snapshot delta), what kind of order it is, and its side from the NBBO
//! at the print.
//!
//! A large order reaches the tape as several prints: an intermarket sweep
//! routes one order to every venue showing the price at once (ISO prints,
//! condition 219, on several exchanges within milliseconds), and a block
//! may print in parts. So the prints of one contract that follow each other
//! within [`ORDER_GAP_NS`] are one order. No clock, no IO: the engine's
//! lane stage (`engine::prints`) feeds it what the client read.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::alert::Side;
use crate::bots::{Confirmation, OptionPrint, sweep_confirmation};
use crate::flow::{self, FlowEvent, Observation, PriceSource, Traded};
use crate::polygon::{Quote, UnusualTrade};

/// Prints of one contract this close to the previous one belong to the
/// same order: a sweep's fills land within milliseconds, a block's parts
/// within a fraction of a second; a second apart is another decision.
pub const ORDER_GAP_NS: i64 = 1_000_000_000;

/// A print alone this large (premium, or contracts) is a block: Massive's
/// own bars for an unusual trade, so every non-ISO record qualifies.
pub const BLOCK_MIN_PREMIUM: f64 = 100_000.0;
pub const BLOCK_MIN_CONTRACTS: f64 = 1_000.0;

/// Shares per contract: the endpoint does not say, and a standard contract
/// has 100 (the context snapshot corrects it for an adjusted one).
const STANDARD_MULTIPLIER: f64 = 100.0;

/// One contract's prints that make one order, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub contract: String,
    pub prints: Vec<UnusualTrade>,
}

/// What the prints say the order was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// ISO prints on at least `SWEEPS_MIN_EXCHANGES` venues.
    Sweep,
    /// Not a sweep, and one print alone is large.
    Block,
    /// Neither: ISO prints on too few venues, or several smaller prints.
    Prints,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::Sweep => "sweep",
            OrderKind::Block => "block",
            OrderKind::Prints => "prints",
        }
    }
}

impl Order {
    /// The first print's SIP time, nanoseconds: the order's identity with
    /// its contract, the same however often its prints are read.
    pub fn first_ns(&self) -> i64 {
        self.prints.first().map_or(0, |p| p.sip_timestamp)
    }

    pub fn last_ns(&self) -> i64 {
        self.prints.last().map_or(0, |p| p.sip_timestamp)
    }

    /// Contracts traded.
    pub fn size(&self) -> f64 {
        self.prints.iter().map(|p| p.size).sum()
    }

    /// Dollars paid at `multiplier` shares a contract.
    pub fn premium(&self, multiplier: f64) -> f64 {
        self.prints.iter().map(|p| p.price * p.size * multiplier).sum()
    }

    /// Dollars paid for a standard contract (the endpoint's own measure).
    pub fn standard_premium(&self) -> f64 {
        self.premium(STANDARD_MULTIPLIER)
    }

    /// The size-weighted average price per share; None for an empty order.
    pub fn avg_price(&self) -> Option<f64> {
        let size = self.size();
        (size > 0.0).then(|| self.prints.iter().map(|p| p.price * p.size).sum::<f64>() / size)
    }

    /// The ISO prints and the venues they reached, as a sweep confirmation
    /// from the option's own trades counts them: one rule of what a sweep is.
    pub fn confirmation(&self) -> Confirmation {
        let prints: Vec<OptionPrint> = self
            .prints
            .iter()
            .map(|p| OptionPrint {
                conditions: p.conditions.iter().map(|&c| i64::from(c)).collect(),
                exchange: p.exchange.map(i64::from),
                size: p.size,
                sip_timestamp: p.sip_timestamp,
            })
            .collect();
        sweep_confirmation(&prints)
    }

    /// The distinct exchanges of all its prints.
    pub fn exchanges(&self) -> usize {
        self.prints.iter().filter_map(|p| p.exchange).collect::<BTreeSet<i32>>().len()
    }

    pub fn kind(&self, min_exchanges: usize) -> OrderKind {
        if self.confirmation().is_sweep(min_exchanges) {
            return OrderKind::Sweep;
        }
        let large = |p: &UnusualTrade| {
            p.price * p.size * STANDARD_MULTIPLIER >= BLOCK_MIN_PREMIUM || p.size >= BLOCK_MIN_CONTRACTS
        };
        if self.prints.iter().any(large) { OrderKind::Block } else { OrderKind::Prints }
    }

    /// The underlying's names its prints give ([`underlying_names`]).
    pub fn underlying_names(&self) -> Vec<String> {
        self.prints.first().map(underlying_names).unwrap_or_default()
    }

    /// The side of the order against the NBBO at its first print: at or
    /// above the ask a buyer took the offer, at or below the bid a seller
    /// hit it. The size-weighted average price is compared, since a sweep
    /// that walks the book prints some fills through the ask. Unknown
    /// without a quote with 0 < bid ≤ ask, or with a quote newer than the
    /// print (never a later quote than the trade).
    pub fn side(&self, quote: Option<&Quote>) -> Side {
        let (Some(q), Some(avg)) = (quote, self.avg_price()) else { return Side::Unknown };
        let (Some(bid), Some(ask)) = (q.bid_price, q.ask_price) else { return Side::Unknown };
        if !(bid > 0.0 && bid <= ask && bid.is_finite() && ask.is_finite()) || q.sip_timestamp > self.first_ns() {
            return Side::Unknown;
        }
        // A price equal to the quote in cents may differ in the last bit.
        const CENT_EPSILON: f64 = 1e-9;
        if avg >= ask - CENT_EPSILON {
            Side::Ask
        } else if avg <= bid + CENT_EPSILON {
            Side::Bid
        } else {
            Side::Mid
        }
    }
}

/// The underlying's names a print gives: the record's underlying and OCC
/// root, and the root read from the ticker (`O:SPXW...` → `SPXW`).
pub fn underlying_names(p: &UnusualTrade) -> Vec<String> {
    let mut names: Vec<String> = p.underlying_ticker.iter().chain(&p.occ_root).cloned().collect();
    names.extend(occ_root(&p.ticker).map(str::to_string));
    names
}

/// The OCC root of an option ticker: what stands between `O:` and the
/// 15 characters of expiry (YYMMDD), type (C/P) and strike (8 digits).
pub fn occ_root(ticker: &str) -> Option<&str> {
    let rest = ticker.strip_prefix("O:")?;
    (rest.len() > 15).then(|| &rest[..rest.len() - 15])
}

/// The expiration date an OCC ticker names; None when it does not parse.
pub fn expiration(ticker: &str) -> Option<NaiveDate> {
    let rest = ticker.strip_prefix("O:")?;
    let tail = rest.get(rest.len().checked_sub(15)?..)?;
    NaiveDate::parse_from_str(&format!("20{}", tail.get(..6)?), "%Y%m%d").ok()
}

/// The prints grouped into orders: per contract, each print within
/// [`ORDER_GAP_NS`] of the previous one joins its order. Orders come out in
/// time order of their first print (then contract), prints within one in
/// time order. Prints that are not positive, finite trades are left out.
pub fn group(prints: &[UnusualTrade]) -> Vec<Order> {
    let mut by_contract: BTreeMap<&str, Vec<&UnusualTrade>> = BTreeMap::new();
    for p in prints {
        if p.price.is_finite() && p.price > 0.0 && p.size.is_finite() && p.size > 0.0 {
            by_contract.entry(p.ticker.as_str()).or_default().push(p);
        }
    }
    let mut orders = Vec::new();
    for (contract, mut list) in by_contract {
        list.sort_by_key(|p| p.sip_timestamp);
        let mut current: Vec<UnusualTrade> = Vec::new();
        for p in list {
            if let Some(last) = current.last()
                && p.sip_timestamp - last.sip_timestamp > ORDER_GAP_NS
            {
                orders.push(Order { contract: contract.to_string(), prints: std::mem::take(&mut current) });
            }
            current.push(p.clone());
        }
        if !current.is_empty() {
            orders.push(Order { contract: contract.to_string(), prints: current });
        }
    }
    orders.sort_by(|a, b| a.first_ns().cmp(&b.first_ns()).then_with(|| a.contract.cmp(&b.contract)));
    orders
}

/// The interval an order's volume is measured against as "usual": the
/// fastest a chain is revisited (the chain cache's 30 s), so the relative
/// gates chosen for snapshot deltas judge an order on the same scale.
pub const ORDER_INTERVAL_SECONDS: f64 = 30.0;

/// The order as a flow event on its contract, observed (`context`: OI,
/// greeks, IV, spot, day volume) at or after its last print and judged at
/// `at`: volume, premium and average price exact from the prints, the
/// side unknown until the quote at the print is read. The day volume
/// before it is the context's day volume less the order (the context was
/// observed after it).
pub fn event(order: &Order, context: &Observation, at: DateTime<Utc>, trading_date: NaiveDate) -> Option<FlowEvent> {
    let contract_type = context.contract_type?;
    let size = order.size();
    let multiplier =
        if context.multiplier.is_finite() && context.multiplier > 0.0 { context.multiplier } else { 100.0 };
    let premium = order.premium(multiplier);
    let avg_price = order.avg_price()?;
    if !(size > 0.0 && premium.is_finite() && premium > 0.0) {
        return None;
    }
    let previous_volume = (context.volume - size).max(0.0);
    let first = DateTime::from_timestamp_nanos(order.first_ns());
    let open = crate::calendar::session(trading_date).map(|s| s.open);
    let elapsed = open.map_or(0.0, |o| ((first - o).num_milliseconds() as f64 / 1000.0).max(0.0));
    let unusual = crate::unusual::Unusualness {
        volume_multiple: crate::unusual::usual_multiple(previous_volume, size, ORDER_INTERVAL_SECONDS, elapsed),
        interval_seconds: ORDER_INTERVAL_SECONDS,
        premium: crate::unusual::PremiumRank::default(),
    };
    let traded = Traded {
        previous_volume,
        volume_delta: size,
        premium,
        avg_price,
        price_source: PriceSource::Prints,
        side: Side::Unknown,
    };
    Some(flow::build(context, contract_type, traded, (first, at), trading_date, unusual))
}

/// How a print is told apart from another of the same nanosecond: its id,
/// else its sequence number, else what it traded.
pub fn print_key(p: &UnusualTrade) -> String {
    match (&p.id, p.sequence_number) {
        (Some(id), _) => format!("{}#{id}", p.ticker),
        (None, Some(seq)) => format!("{}@{seq}", p.ticker),
        (None, None) => format!("{}|{:?}|{}|{}", p.ticker, p.exchange, p.price, p.size),
    }
}

/// Where the lane has read to: every print up to `sip_timestamp`, and of
/// the prints at exactly that nanosecond those named in `keys` (the next
/// read starts at the same nanosecond, since a page may end inside a run
/// of equal timestamps).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintsCursor {
    pub sip_timestamp: i64,
    pub keys: BTreeSet<String>,
}

impl PrintsCursor {
    /// Whether `p` was read before.
    pub fn covers(&self, p: &UnusualTrade) -> bool {
        p.sip_timestamp < self.sip_timestamp
            || (p.sip_timestamp == self.sip_timestamp && self.keys.contains(&print_key(p)))
    }

    /// The cursor after `read` (prints in any order) were all taken up.
    pub fn advanced<'a>(&self, read: impl IntoIterator<Item = &'a UnusualTrade>) -> PrintsCursor {
        let mut next = self.clone();
        for p in read {
            if p.sip_timestamp > next.sip_timestamp {
                next.sip_timestamp = p.sip_timestamp;
                next.keys.clear();
            }
            if p.sip_timestamp == next.sip_timestamp {
                next.keys.insert(print_key(p));
            }
        }
        next
    }

    /// As stored: `{"sip_timestamp": ns, "keys": [...]}`.
    pub fn to_text(&self) -> String {
        json!({"sip_timestamp": self.sip_timestamp, "keys": self.keys}).to_string()
    }

    /// None for text that is not a cursor (it is then read as absent).
    pub fn parse(text: &str) -> Option<PrintsCursor> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let keys = v["keys"].as_array()?.iter().filter_map(|k| k.as_str().map(str::to_string)).collect();
        Some(PrintsCursor { sip_timestamp: v["sip_timestamp"].as_i64()?, keys })
    }
}

/// Which orders of a read can be judged now.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Orders no later print can join, before the first open one.
    pub done: Vec<Order>,
    /// The first print of the first order still open: the cursor never
    /// moves past it.
    pub open_from: Option<i64>,
    /// The orders still filling.
    pub open: Vec<Order>,
}

impl Order {
    /// When the order can be judged if no print joins it: a second after
    /// its last print.
    pub fn settles_at(&self) -> i64 {
        self.last_ns() + ORDER_GAP_NS + 1
    }
}

/// Which of `orders` (grouped from prints read up to `until_ns`) are
/// complete: no later print can still join them, because their last print
/// is more than [`ORDER_GAP_NS`] before `until_ns`. An order still open
/// waits for the next read, and so does every order from its first print
/// on, so the cursor never moves past a print whose order is not judged.
pub fn complete(orders: Vec<Order>, until_ns: i64) -> Completion {
    let (open, closed): (Vec<Order>, Vec<Order>) =
        orders.into_iter().partition(|o| o.last_ns() + ORDER_GAP_NS >= until_ns);
    let open_from = open.iter().map(Order::first_ns).min();
    let done = closed.into_iter().filter(|o| open_from.is_none_or(|f| o.first_ns() < f)).collect();
    Completion { done, open_from, open }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(ticker: &str, ns: i64, size: f64, price: f64, exchange: i32, iso: bool) -> UnusualTrade {
        UnusualTrade {
            ticker: ticker.to_string(),
            price,
            size,
            exchange: Some(exchange),
            conditions: if iso { vec![219] } else { vec![209] },
            sip_timestamp: ns,
            sequence_number: Some(ns),
            ..UnusualTrade::default()
        }
    }

    const C: &str = "O:SPY260410C00675000";
    const P: &str = "O:SPXW260410P05500000";

    #[test]
    fn prints_within_a_second_are_one_order_per_contract() {
        let s = 1_000_000_000;
        let prints = [
            print(C, 10 * s, 400.0, 12.2, 300, true),
            print(P, 10 * s + 5, 50.0, 30.0, 301, false),
            print(C, 10 * s + 3_000_000, 400.0, 12.23, 301, true),
            print(C, 11 * s + 3_000_000, 10.0, 12.25, 302, true), // exactly 1 s later: joins
            print(C, 12 * s + 3_000_001, 10.0, 12.25, 302, true), // 1 s + 1 ns: a new order
        ];
        let orders = group(&prints);
        assert_eq!(orders.len(), 3);
        assert_eq!((orders[0].contract.as_str(), orders[0].prints.len()), (C, 3));
        assert_eq!((orders[1].contract.as_str(), orders[1].prints.len()), (P, 1));
        assert_eq!(orders[2].first_ns(), 12 * s + 3_000_001);
        let o = &orders[0];
        assert_eq!(o.size(), 810.0);
        assert!((o.standard_premium() - (400.0 * 12.2 + 400.0 * 12.23 + 10.0 * 12.25) * 100.0).abs() < 1e-6);
        assert_eq!(o.exchanges(), 3);
        assert_eq!(o.kind(2), OrderKind::Sweep);
        assert_eq!(o.kind(4), OrderKind::Block, "3 venues are no sweep at 4; its $488k print is a block");
        assert_eq!(orders[1].kind(2), OrderKind::Block);
        assert_eq!(orders[2].kind(2), OrderKind::Prints, "one small ISO print on one venue");
    }

    #[test]
    fn occ_grammar() {
        assert_eq!(occ_root(P), Some("SPXW"));
        assert_eq!(expiration(C), NaiveDate::from_ymd_opt(2026, 4, 10));
        assert_eq!(expiration("O:SPY"), None);
        assert_eq!(occ_root("SPY"), None);
        let mut o = Order { contract: P.into(), prints: vec![print(P, 1, 1.0, 1.0, 1, false)] };
        o.prints[0].underlying_ticker = Some("I:SPX".into());
        assert_eq!(o.underlying_names(), ["I:SPX", "SPXW"]);
    }

    #[test]
    fn side_from_the_quote_at_the_print() {
        let o = Order { contract: C.into(), prints: vec![print(C, 100, 10.0, 2.0, 1, true)] };
        let q = |bid: f64, ask: f64, at: i64| Quote {
            bid_price: Some(bid),
            ask_price: Some(ask),
            sip_timestamp: at,
            ..Quote::default()
        };
        assert_eq!(o.side(Some(&q(1.9, 2.0, 99))), Side::Ask);
        assert_eq!(o.side(Some(&q(1.8, 1.95, 99))), Side::Ask, "through the ask");
        assert_eq!(o.side(Some(&q(2.0, 2.1, 100))), Side::Bid);
        assert_eq!(o.side(Some(&q(1.9, 2.1, 50))), Side::Mid);
        assert_eq!(o.side(Some(&q(1.9, 2.0, 101))), Side::Unknown, "a later quote is never used");
        assert_eq!(o.side(Some(&q(2.1, 2.0, 99))), Side::Unknown, "crossed");
        assert_eq!(o.side(Some(&q(0.0, 2.0, 99))), Side::Unknown, "no bid");
        assert_eq!(o.side(None), Side::Unknown);
    }

    #[test]
    fn cursor_reads_each_print_once() {
        let a = print(C, 5, 1.0, 1.0, 1, true);
        let b = print(P, 5, 1.0, 1.0, 2, true);
        let c = print(C, 4, 1.0, 1.0, 3, true);
        let start = PrintsCursor::default();
        let after_a = start.advanced([&a, &c]);
        assert!(after_a.covers(&a) && after_a.covers(&c) && !after_a.covers(&b), "same nanosecond, other print");
        let after_b = after_a.advanced([&b]);
        assert!(after_b.covers(&a) && after_b.covers(&b));
        let text = after_b.to_text();
        assert_eq!(PrintsCursor::parse(&text), Some(after_b));
        assert_eq!(PrintsCursor::parse("{}"), None);
    }

    #[test]
    fn an_order_still_filling_waits_with_every_print_after_it() {
        let s = 1_000_000_000;
        let prints = [
            print(C, 10 * s, 1.0, 1.0, 1, true),
            print(P, 11 * s, 1.0, 1.0, 1, true),
            print(C, 12 * s, 1.0, 1.0, 1, true),
        ];
        // At 12.5 s the C order of 12 s may still fill; P (11 s) is done.
        let c = complete(group(&prints), 12 * s + s / 2);
        assert_eq!(c.done.iter().map(Order::first_ns).collect::<Vec<_>>(), [10 * s, 11 * s]);
        assert_eq!(c.open_from, Some(12 * s));
        assert_eq!(c.open.iter().map(Order::settles_at).collect::<Vec<_>>(), [13 * s + 1]);
        // The P print at 11 s is within a second of 11.5 s: it waits, and so
        // does nothing before it.
        let c = complete(group(&prints[..2]), 11 * s + s / 2);
        assert_eq!(c.done.len(), 1);
        assert_eq!(c.open_from, Some(11 * s));
        let c = complete(group(&prints), 20 * s);
        assert_eq!((c.done.len(), c.open_from, c.open.len()), (3, None, 0));
    }
}
