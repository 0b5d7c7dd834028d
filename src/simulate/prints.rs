//! The simulated day's stream of Massive's unusual option trades
//! (`/options/v1/unusual-trades`) and the NBBO at each of its prints
//! (`/v3/quotes/{ticker}`): what the market-wide prints lane polls.
//!
//! A print qualifies as Massive defines it: a premium (price × size × 100)
//! of $100,000 or more, 1,000 contracts or more, or an intermarket sweep
//! (condition 219). Its `flags` name each case it meets, in that order:
//! `premium`, `size`, `sweep` (Massive's page says the list names every
//! case, not how; these are the names orakl writes and reads).
//!
//! The stream is drawn from the option prints the tape records as trades,
//! so the two endpoints agree: every injected print, and the background's
//! prints of 100 contracts or $50,000 or more. What it is not:
//!
//! - The background books smaller prints in aggregate, so the real
//!   stream's many small sweeps (ISO prints of a few lots) are not in it:
//!   the simulated stream is its large part.
//! - A background ISO print is one print on one exchange (the background
//!   already draws 30–35% of its prints of 100 contracts or more as ISO).
//!   A real sweep prints on several venues at once, but split into 2–4
//!   legs on distinct exchanges the background's sweeps are confirmed by
//!   the snapshot path's trades request too: on seed 7 Sweeps went from 3
//!   alerts to 148 and Golden Sweeps from 1 to 26, none of them injected.
//!   So only the injected sweeps span several venues, and the lane's
//!   background noise is single-venue ISO prints, large prints and blocks.
//!
//! How much: seed 7's default day (six symbols, 14.4 million contracts)
//! lists 5,670 prints (3,715 `premium`, 339 `size`, 2,825 `sweep`).
//! Intrinio's unusual-activity feed (sweeps, blocks and large trades, a
//! sweep counted once) yields "50-80K records" on a typical day for all
//! symbols (OpenBB's Intrinio provider docs, `derivatives.options.unusual`),
//! of OCC's 58.5 million contracts a day (2025 year to date through
//! September); at the six symbols' quarter of that volume, 12,000–20,000.
//! The simulated stream is 2–3.5× thinner: its missing part is the small
//! sweeps above.
//!
//! Each qualifying print's quote is the one the chain priced the interval
//! at, which is what the print paid: at the ask for a buyer, at the bid for
//! a seller, between for a midpoint fill. Its time is 1 ms before the
//! print's (a quote that has stood a moment), and its sizes and venues are
//! a fixed function of the print's number (no draw: the day's other
//! streams do not depend on them).

use super::chain::OPTION_EXCHANGES;
use super::realism::UnusualTally;
use crate::polygon::{Quote, Trade, UnusualTrade};
use crate::tape::Payload;

/// Massive's thresholds.
pub const PREMIUM_USD: f64 = 100_000.0;
pub const SIZE_CONTRACTS: f64 = 1_000.0;
pub const ISO_CONDITION: i32 = 219;

/// How long a print's quote has stood before it.
const QUOTE_AGE_NS: i64 = 1_000_000;

/// The cases an option print meets, as its `flags` name them; empty when it
/// does not qualify.
pub fn flags(price: f64, size: f64, conditions: &[i32]) -> Vec<String> {
    let mut out = Vec::new();
    if price * size * 100.0 >= PREMIUM_USD {
        out.push("premium".to_string());
    }
    if size >= SIZE_CONTRACTS {
        out.push("size".to_string());
    }
    if conditions.contains(&ISO_CONDITION) {
        out.push("sweep".to_string());
    }
    out
}

/// One option print of the interval, with where it traded and the quote it
/// traded against.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Index of the symbol, for the tally and the order of the quotes.
    pub sym: usize,
    pub contract: usize,
    pub ticker: String,
    pub underlying: String,
    pub trade: Trade,
    pub bid: f64,
    pub ask: f64,
}

/// The day's stream so far: the next sequence number and the counts.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// The last sequence number given (numbers go up through the day in
    /// SIP-time order: each interval's prints precede the next's).
    sequence: i64,
    pub tally: UnusualTally,
}

impl Stream {
    /// The records of one chain time: one `unusual_trades` record with the
    /// interval's qualifying prints across all symbols, in SIP-time order
    /// (prints of one nanosecond in the order given), and one `quotes`
    /// record per contract that printed one, by symbol and contract. No
    /// qualifying print: no record.
    pub fn records(&mut self, candidates: Vec<Candidate>) -> Vec<Payload> {
        let mut qualifying: Vec<(Candidate, Vec<String>)> = candidates
            .into_iter()
            .filter_map(|c| {
                let flags = flags(c.trade.price, c.trade.size, c.trade.conditions.as_deref().unwrap_or(&[]));
                (!flags.is_empty()).then_some((c, flags))
            })
            .collect();
        if qualifying.is_empty() {
            return Vec::new();
        }
        qualifying.sort_by_key(|(c, _)| c.trade.sip_timestamp);
        let mut prints = Vec::with_capacity(qualifying.len());
        let mut quotes: std::collections::BTreeMap<(usize, usize), (String, Vec<Quote>)> = Default::default();
        for (c, flags) in qualifying {
            self.sequence += 1;
            let seq = self.sequence;
            self.tally.count(c.sym, &flags);
            let t = &c.trade;
            prints.push(UnusualTrade {
                ticker: c.ticker.clone(),
                underlying_ticker: Some(c.underlying.clone()),
                occ_root: Some(c.underlying.replace('.', "")),
                price: t.price,
                size: t.size,
                exchange: t.exchange,
                conditions: t.conditions.clone().unwrap_or_default(),
                sip_timestamp: t.sip_timestamp,
                flags,
                id: None,
                sequence_number: Some(seq),
            });
            let quote = nbbo(c.bid, c.ask, t.sip_timestamp - QUOTE_AGE_NS, seq);
            quotes.entry((c.sym, c.contract)).or_insert_with(|| (c.ticker, Vec::new())).1.push(quote);
        }
        self.tally.records += 1;
        self.tally.quote_records += quotes.len() as u64;
        let mut out = vec![Payload::UnusualTrades { results: prints }];
        out.extend(quotes.into_values().map(|(ticker, results)| Payload::Quotes { ticker, results }));
        out
    }
}

/// A quote of `bid` × `ask` at `at_ns`, numbered `seq`; sizes of 10 to 199
/// contracts and two venues picked by the number.
fn nbbo(bid: f64, ask: f64, at_ns: i64, seq: i64) -> Quote {
    let pick = |k: i64| OPTION_EXCHANGES[k.rem_euclid(OPTION_EXCHANGES.len() as i64) as usize];
    Quote {
        ask_exchange: Some(pick(seq * 5 + 1)),
        ask_price: Some(ask),
        ask_size: Some(10.0 + (seq * 37).rem_euclid(190) as f64),
        bid_exchange: Some(pick(seq * 11 + 3)),
        bid_price: Some(bid),
        bid_size: Some(10.0 + (seq * 53).rem_euclid(190) as f64),
        sequence_number: Some(seq),
        sip_timestamp: at_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_each_case_a_print_meets() {
        // Worked by hand: 250 × $4 × 100 = $100,000 exactly; 249 lots fall
        // short by $400; 1,000 lots at $0.05 are only $5,000.
        let cases: [(f64, f64, &[i32], &[&str]); 7] = [
            (4.0, 250.0, &[209], &["premium"]),
            (4.0, 249.0, &[209], &[]),
            (0.05, 1_000.0, &[227], &["size"]),
            (0.05, 999.0, &[232], &[]),
            (0.5, 10.0, &[219], &["sweep"]),
            (2.0, 1_500.0, &[209, 219], &["premium", "size", "sweep"]),
            (12.0, 90.0, &[], &["premium"]),
        ];
        for (price, size, conditions, want) in cases {
            assert_eq!(flags(price, size, conditions), want, "{price} x {size} {conditions:?}");
        }
    }

    fn candidate(sym: usize, contract: usize, at_ns: i64, price: f64, size: f64, conditions: Vec<i32>) -> Candidate {
        Candidate {
            sym,
            contract,
            ticker: format!("O:SPY260313C00{}000", 600 + contract),
            underlying: "SPY".into(),
            trade: Trade {
                conditions: Some(conditions),
                exchange: Some(302),
                price,
                size,
                sip_timestamp: at_ns,
                ..Trade::default()
            },
            bid: price - 0.05,
            ask: price,
        }
    }

    #[test]
    fn one_record_of_the_interval_and_a_quote_record_per_contract() {
        let mut stream = Stream::default();
        assert_eq!(stream.records(vec![candidate(0, 1, 5, 1.0, 10.0, vec![209])]), []);
        let got = stream.records(vec![
            candidate(1, 2, 300, 4.0, 400.0, vec![209]),
            candidate(0, 1, 200, 1.0, 40.0, vec![219]),
            candidate(0, 1, 100, 1.0, 20.0, vec![209]),
            candidate(0, 3, 200, 0.1, 5_000.0, vec![219]),
        ]);
        let [
            Payload::UnusualTrades { results },
            Payload::Quotes { ticker: q0, results: r0 },
            Payload::Quotes { ticker: q1, results: r1 },
            Payload::Quotes { ticker: q2, results: r2 },
        ] = got.as_slice()
        else {
            panic!("{got:?}")
        };
        let seen: Vec<(i64, f64, Vec<String>, Option<i64>)> =
            results.iter().map(|p| (p.sip_timestamp, p.size, p.flags.clone(), p.sequence_number)).collect();
        let s = |x: &[&str]| x.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        assert_eq!(
            seen,
            [
                (200, 40.0, s(&["sweep"]), Some(1)),
                (200, 5_000.0, s(&["size", "sweep"]), Some(2)),
                (300, 400.0, s(&["premium"]), Some(3)),
            ]
        );
        assert_eq!(
            (results[0].underlying_ticker.as_deref(), results[0].occ_root.as_deref()),
            (Some("SPY"), Some("SPY"))
        );
        // Quotes by symbol, then contract; each at 1 ms before its print.
        assert_eq!([q0.as_str(), q1, q2], ["O:SPY260313C00601000", "O:SPY260313C00603000", "O:SPY260313C00602000"]);
        assert_eq!((r0.len(), r1.len(), r2.len()), (1, 1, 1));
        assert_eq!((r0[0].bid_price, r0[0].ask_price, r0[0].sip_timestamp), (Some(0.95), Some(1.0), 200 - 1_000_000));
        assert_eq!(r2[0].sequence_number, Some(3));
        assert_eq!((stream.tally.prints, stream.tally.records, stream.tally.quote_records), (3, 1, 3));
        assert_eq!((stream.tally.premium, stream.tally.size, stream.tally.sweep), (1, 1, 2));
        assert_eq!(stream.tally.by_symbol, [2, 1]);
    }
}
