//! Samples of the simulated market for measuring orakl (`benches/`): one
//! symbol's chain as the chain endpoint would return it at chosen moments,
//! and a large watchlist with the spread of chain sizes a real one has.
//!
//! Both are built from the same parts as `simulate` (profiles, random walk,
//! chain, background trading), so what a benchmark parses and detects on
//! has the simulator's shape and the simulator's trading.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::chain::Chain;
use super::market::{self, Day};
use super::rng::Rng;
use super::{MAX_CHAIN_SCALE, MIN_CHAIN_SCALE, SimError};
use crate::polygon::OptionSnapshot;

/// Background trading before a sampled moment runs in steps this long, as
/// the recording's does before its first moment.
const STEP_S: u32 = 300;

/// The chain of `symbol` (sized by `scale`, as `SimOptions::chain_scale`)
/// at each of `seconds` after the opening bell of `date`, in the order
/// given (which must be ascending): what `/v3/snapshot/options/{symbol}`
/// would return then, all pages merged. Day volume grows between the
/// moments by the simulator's background trading, so the second snapshot
/// measured against the first is a realistic poll.
pub fn chain_snapshots(
    seed: u64,
    date: NaiveDate,
    symbol: &str,
    scale: f64,
    seconds: &[u32],
) -> Result<Vec<Vec<OptionSnapshot>>, SimError> {
    let day = Day::new(date).ok_or(SimError::NotATradingDay { date })?;
    check_scale(symbol, scale)?;
    if seconds.windows(2).any(|w| w[1] < w[0]) || seconds.iter().any(|s| *s > day.session_s) {
        return Err(SimError::Invalid(format!("seconds must ascend within the session (0..={})", day.session_s)));
    }
    let mut rng = Rng::new(seed);
    let profile = market::profile(symbol);
    let (path, _) = market::generate_path(&profile, &day, None, &mut rng);
    let spot_at = |t: u32| path.get(t as usize).or(path.last()).copied().unwrap_or(profile.spot);
    let mut chain = Chain::build(&profile, &day, spot_at(0), scale, &mut rng.fork());
    let weights = Chain::weights(&day);
    let mut bg = rng.fork();
    let mut traded_to = 0u32;
    let mut out = Vec::with_capacity(seconds.len());
    for &t in seconds {
        while traded_to < t {
            let next = (traded_to + STEP_S).min(t);
            chain.price_all(spot_at(next), next);
            chain.background(&day, traded_to, next, &weights, &mut bg);
            traded_to = next;
        }
        chain.price_all(spot_at(t), t);
        let snaps = chain.snapshot(&day, t, spot_at(t));
        out.push(snaps.clone());
        chain.restore(snaps);
        // Minute bars are not part of a chain snapshot; drop them.
        chain.take_bars(t);
    }
    Ok(out)
}

/// How many contracts each `(symbol, scale)` lists on `date` (at the
/// profile's price level; the day's open moves it a little).
pub fn chain_sizes(date: NaiveDate, symbols: &[(String, f64)]) -> Result<Vec<usize>, SimError> {
    let day = Day::new(date).ok_or(SimError::NotATradingDay { date })?;
    symbols.iter().map(|(s, scale)| check_scale(s, *scale).map(|_| listed(&day, s, *scale))).collect()
}

fn listed(day: &Day, symbol: &str, scale: f64) -> usize {
    let p = market::profile(symbol);
    // The count does not depend on the draws (they only set open interest).
    Chain::build(&p, day, p.spot, scale, &mut Rng::new(0)).len()
}

fn check_scale(symbol: &str, scale: f64) -> Result<(), SimError> {
    if scale.is_finite() && (MIN_CHAIN_SCALE..=MAX_CHAIN_SCALE).contains(&scale) {
        Ok(())
    } else {
        Err(SimError::Invalid(format!("chain_scale of {symbol}={scale} outside {MIN_CHAIN_SCALE}..={MAX_CHAIN_SCALE}")))
    }
}

/// The big chains of the benchmark watchlist: index ETFs and the most
/// traded single names list thousands of contracts.
const LARGE: [(&str, usize); 6] =
    [("SPY", 8_000), ("QQQ", 7_000), ("TSLA", 6_000), ("NVDA", 5_000), ("AAPL", 3_500), ("CSCO", 1_200)];

/// A watchlist of `n` symbols with chain scales for `SimOptions::chain_scales`,
/// shaped like a real options watchlist: SPY, QQQ, TSLA and NVDA at
/// 5,000–8,000 contracts, AAPL and CSCO at their usual sizes, then made-up
/// three-letter names (their profiles come from a hash of the name) with
/// one in ten at 2,000–3,500 contracts and the rest at 200–1,500 (evenly
/// in the log, so most are a few hundred). The same `n` always gives the
/// same list; each scale is the one whose listing comes closest to the
/// target size on `date`. What each name trades comes from its profile (the
/// volume tiers of README's "Simulator realism"), not from its chain's size.
pub fn benchmark_watchlist(n: usize, date: NaiveDate) -> Result<BTreeMap<String, f64>, SimError> {
    let day = Day::new(date).ok_or(SimError::NotATradingDay { date })?;
    let mut rng = Rng::new(0x006f_7261_6b6c);
    let mut targets: Vec<(String, usize)> = LARGE.iter().take(n).map(|(s, c)| (s.to_string(), *c)).collect();
    let mut k: u32 = 0;
    while targets.len() < n {
        let name = three_letters(k);
        k += 1;
        if targets.iter().any(|(s, _)| *s == name) || market::DEFAULT_SYMBOLS.contains(&name.as_str()) {
            continue;
        }
        let size = if targets.len() % 10 == 0 {
            rng.range(2_000.0, 3_500.0)
        } else {
            (rng.range(200f64.ln(), 1_500f64.ln())).exp()
        };
        targets.push((name, size.round() as usize));
    }
    Ok(targets.into_iter().map(|(s, size)| (s.clone(), scale_for(&day, &s, size))).collect())
}

/// The `k`-th made-up name: distinct three-letter roots for k < 26³
/// (7,919 is prime to 26³, so the walk visits every root once).
fn three_letters(k: u32) -> String {
    let mut x = (k.wrapping_mul(7_919).wrapping_add(1_234)) % (26 * 26 * 26);
    let mut s = String::with_capacity(3);
    for _ in 0..3 {
        s.insert(0, char::from(b'A' + (x % 26) as u8));
        x /= 26;
    }
    s
}

/// The scale (two decimals) whose chain comes closest to `target` contracts.
fn scale_for(day: &Day, symbol: &str, target: usize) -> f64 {
    // The count grows with the scale, in steps: bisect, then keep the closer
    // end.
    let (mut lo, mut hi) = (MIN_CHAIN_SCALE, MAX_CHAIN_SCALE);
    for _ in 0..14 {
        let mid = (lo + hi) / 2.0;
        if listed(day, symbol, mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (lo, hi) = ((lo * 100.0).floor() / 100.0, (hi * 100.0).ceil() / 100.0);
    let (lo, hi) = (lo.max(MIN_CHAIN_SCALE), hi.min(MAX_CHAIN_SCALE));
    let gap = |s: f64| listed(day, symbol, s).abs_diff(target);
    if gap(lo) <= gap(hi) { lo } else { hi }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()
    }

    #[test]
    fn the_benchmark_watchlist_has_a_few_huge_chains_and_many_small_ones() {
        let list = benchmark_watchlist(200, date()).unwrap();
        assert_eq!(list.len(), 200);
        let sized: Vec<(String, f64)> = list.into_iter().collect();
        let sizes = chain_sizes(date(), &sized).unwrap();
        let huge = sizes.iter().filter(|n| (4_500..=8_500).contains(*n)).count();
        let small = sizes.iter().filter(|n| **n <= 1_600).count();
        assert!((4..=5).contains(&huge), "{sizes:?}");
        assert!(small >= 150, "{sizes:?}");
        assert!(sizes.iter().all(|n| *n >= 150), "{sizes:?}");
    }

    #[test]
    fn snapshots_grow_in_volume_between_moments() {
        let snaps = chain_snapshots(3, date(), "CSCO", 0.5, &[3_600, 3_630]).unwrap();
        assert_eq!(snaps.len(), 2);
        assert_eq!(snaps[0].len(), snaps[1].len());
        let volume = |s: &[OptionSnapshot]| s.iter().map(|c| c.scan_view().day_volume()).sum::<f64>();
        assert!(volume(&snaps[1]) > volume(&snaps[0]), "background trading adds volume");
        assert!(chain_snapshots(3, date(), "CSCO", 0.5, &[20, 10]).is_err());
    }
}
