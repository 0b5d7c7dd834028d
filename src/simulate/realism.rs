//! The realism figures of a simulated day (`orakl simulate --stats`): what
//! the day traded, measured on everything the simulator drew (the tape holds
//! the aggregates and a sample of the prints), in the terms the public
//! figures of README's "Simulator realism" table use.

use std::fmt::Write as _;

/// What one symbol's option chain traded through the day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionTally {
    /// Contracts traded in contracts expiring today.
    pub zero_dte_volume: f64,
    /// Background prints, and their contracts: all of them, and those in
    /// retail-size prints (10 contracts or fewer) and in ISO prints.
    pub prints: f64,
    pub background_volume: f64,
    pub retail_volume: f64,
    pub iso_volume: f64,
    /// Background prints of at least $50,000, $250,000 and $1,000,000.
    pub premium_prints: [u64; 3],
    /// Contracts traded per minute since the bell (every print).
    pub minute_volume: Vec<f64>,
    /// Per background span: the net share of call volume bought at the ask
    /// (ask − bid over all), and the underlying's move in standard
    /// deviations over the span.
    pub leans: Vec<(f64, f64)>,
}

/// Premium thresholds of `premium_prints`.
pub const PREMIUM_TIERS: [f64; 3] = [50_000.0, 250_000.0, 1_000_000.0];

impl OptionTally {
    /// One background print drawn on its own.
    pub fn print(&mut self, size: f64, price: f64, iso: bool, retail: bool) {
        self.bulk(size, size * price, 1, if iso { size } else { 0.0 }, retail);
        let premium = size * price * 100.0;
        for (k, tier) in PREMIUM_TIERS.iter().enumerate() {
            if premium >= *tier {
                self.premium_prints[k] += 1;
            }
        }
    }

    /// `n` background prints booked as one (none reaches a premium tier).
    pub fn bulk(&mut self, volume: f64, _notional: f64, n: u64, iso_volume: f64, retail: bool) {
        self.prints += n as f64;
        self.background_volume += volume;
        self.iso_volume += iso_volume;
        if retail {
            self.retail_volume += volume;
        }
    }

    pub fn lean(&mut self, net_ask: f64, z: f64) {
        self.leans.push((net_ask, z));
    }

    pub fn add_minute(&mut self, minute: usize, volume: f64) {
        if self.minute_volume.len() <= minute {
            self.minute_volume.resize(minute + 1, 0.0);
        }
        self.minute_volume[minute] += volume;
    }
}

/// The day's stream of unusual option trades (`simulate::prints`): what a
/// market-wide prints lane would read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnusualTally {
    /// Qualifying prints, and those flagged `premium`, `size`, `sweep` (a
    /// print may carry several).
    pub prints: u64,
    pub premium: u64,
    pub size: u64,
    pub sweep: u64,
    /// Prints per symbol, in the day's symbol order.
    pub by_symbol: Vec<u64>,
    /// `unusual_trades` and `quotes` records written.
    pub records: u64,
    pub quote_records: u64,
}

impl UnusualTally {
    pub fn count(&mut self, sym: usize, flags: &[String]) {
        self.prints += 1;
        for f in flags {
            match f.as_str() {
                "premium" => self.premium += 1,
                "size" => self.size += 1,
                "sweep" => self.sweep += 1,
                _ => {}
            }
        }
        if self.by_symbol.len() <= sym {
            self.by_symbol.resize(sym + 1, 0);
        }
        self.by_symbol[sym] += 1;
    }
}

/// What one symbol's stock traded (all of it, modelled minute by minute).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StockTally {
    pub volume: f64,
    pub off_exchange: f64,
    pub prints: f64,
    pub blocks: u64,
}

/// One symbol's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolFigures {
    pub symbol: String,
    /// Option contracts traded from the bell to the end of the recording,
    /// and that scaled to a whole session by the intraday profile.
    pub option_volume: f64,
    pub option_volume_session: f64,
    pub open_interest: f64,
    pub zero_dte_share: f64,
    pub retail_share: f64,
    pub iso_share: f64,
    /// Background prints of $50K, $250K and $1M or more, per whole session.
    pub premium_prints_session: [f64; 3],
    /// Lag-1 autocorrelation of the calls' net buying across spans, and its
    /// correlation with the underlying's move.
    pub side_persistence: f64,
    pub side_vs_underlying: f64,
    /// Lag-1 autocorrelation of the underlying's absolute 1-minute returns.
    pub vol_clustering: f64,
    pub off_exchange_share: f64,
    /// Blocks (10,000 shares or more) per print.
    pub block_share: f64,
}

/// The realism figures of a day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Realism {
    pub symbols: Vec<SymbolFigures>,
    /// Share of all option volume in the first and the last hour (over the
    /// minutes the day traded; meaningful for a whole session).
    pub first_last_hour_share: f64,
    /// Whether the day ran from the bell to the close.
    pub whole_session: bool,
    /// The unusual-trades stream the tape holds (over the recorded span,
    /// not scaled).
    pub unusual: UnusualTally,
}

/// Pearson correlation of the pairs; 0 when undefined.
pub fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    if pairs.len() < 3 {
        return 0.0;
    }
    let (mx, my) = pairs.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    if sxx <= 0.0 || syy <= 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Lag-1 autocorrelation of a series.
pub fn autocorrelation(xs: &[f64]) -> f64 {
    let pairs: Vec<(f64, f64)> = xs.windows(2).map(|w| (w[0], w[1])).collect();
    correlation(&pairs)
}

/// Lag-1 autocorrelation of the absolute 1-minute log returns of a path
/// sampled every second.
pub fn vol_clustering(path: &[f64], from_s: usize, to_s: usize) -> f64 {
    let closes: Vec<f64> = (from_s..=to_s.min(path.len().saturating_sub(1))).step_by(60).map(|s| path[s]).collect();
    let abs: Vec<f64> = closes.windows(2).filter(|w| w[0] > 0.0).map(|w| (w[1] / w[0]).ln().abs()).collect();
    autocorrelation(&abs)
}

impl Realism {
    /// The figures as a table, one symbol a line.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "realism ({}):",
            if self.whole_session { "whole session" } else { "partial session: volumes scaled to a whole one" }
        );
        let _ = writeln!(
            s,
            "  {:<6} {:>11} {:>11} {:>6} {:>6} {:>7} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}",
            "symbol",
            "opt vol/day",
            "open int",
            "OI/vol",
            "0DTE",
            "<=10lot",
            "ISO",
            "$50K",
            "$250K",
            "$1M",
            "sideAC",
            "side~u",
            "volAC",
            "TRF",
            "blocks%"
        );
        for f in &self.symbols {
            let _ = writeln!(
                s,
                "  {:<6} {:>11.0} {:>11.0} {:>6.2} {:>5.1}% {:>6.1}% {:>4.1}% {:>6.0} {:>6.0} {:>6.0} {:>6.2} {:>6.2} {:>6.2} {:>5.1}% {:>7.4}",
                f.symbol,
                f.option_volume_session,
                f.open_interest,
                f.open_interest / f.option_volume_session.max(1.0),
                100.0 * f.zero_dte_share,
                100.0 * f.retail_share,
                100.0 * f.iso_share,
                f.premium_prints_session[0],
                f.premium_prints_session[1],
                f.premium_prints_session[2],
                f.side_persistence,
                f.side_vs_underlying,
                f.vol_clustering,
                100.0 * f.off_exchange_share,
                100.0 * f.block_share
            );
        }
        let _ = writeln!(s, "  option volume in the first and last hour: {:.1}%", 100.0 * self.first_last_hour_share);
        let u = &self.unusual;
        let by_symbol: Vec<String> = self
            .symbols
            .iter()
            .zip(&u.by_symbol)
            .filter(|(_, n)| **n > 0)
            .map(|(f, n)| format!("{} {n}", f.symbol))
            .collect();
        let _ = writeln!(
            s,
            "  unusual trades on the tape: {} prints (premium {}, size {}, sweep {}) in {} records, {} quote records{}",
            u.prints,
            u.premium,
            u.size,
            u.sweep,
            u.records,
            u.quote_records,
            if by_symbol.is_empty() { String::new() } else { format!("; {}", by_symbol.join(", ")) }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations_of_known_series() {
        assert!((correlation(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]) - 1.0).abs() < 1e-12);
        assert!((correlation(&[(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]) + 1.0).abs() < 1e-12);
        assert_eq!(correlation(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), 0.0, "no spread in x");
        // Alternating: perfectly anti-persistent.
        assert!((autocorrelation(&[1.0, -1.0, 1.0, -1.0, 1.0]) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_print_counts_into_every_tier_it_reaches() {
        let mut t = OptionTally::default();
        t.print(1_000.0, 3.0, true, false); // $300,000
        t.print(5.0, 1.0, false, true); // $500
        assert_eq!(t.premium_prints, [1, 1, 0]);
        assert_eq!((t.prints, t.background_volume, t.iso_volume, t.retail_volume), (2.0, 1_005.0, 1_000.0, 5.0));
    }
}
