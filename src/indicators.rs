//! Technical indicators as plain functions over closed bars: Wilder's RSI and
//! ATR (J. Welles Wilder, "New Concepts in Technical Trading Systems", 1978).
//!
//! Both use Wilder's smoothing: the first value is the simple mean of the
//! first `period` inputs, and each later one is `(prev·(n−1) + x) / n`. The
//! seed matters: an indicator seeded differently (from the first value, or
//! with an EMA's 2/(n+1)) drifts from the published numbers for dozens of
//! bars, which is why the tests pin the first values too.
//!
//! Callers pass closed bars only (`bars::closed`), oldest first; nothing here
//! knows the time. Any non-finite input gives no value rather than a NaN
//! that would compare false against every threshold.

use crate::bars::Bar;

/// Wilder's smoothing of `xs`: element k is the smoothed value as of
/// `xs[period - 1 + k]`. Empty when there are fewer than `period` inputs.
fn wilder(xs: &[f64], period: usize) -> Vec<f64> {
    if period == 0 || xs.len() < period {
        return Vec::new();
    }
    let n = period as f64;
    let seed = xs[..period].iter().sum::<f64>() / n;
    let mut out = Vec::with_capacity(xs.len() - period + 1);
    out.push(seed);
    let mut avg = seed;
    for &x in &xs[period..] {
        avg = (avg * (n - 1.0) + x) / n;
        out.push(avg);
    }
    out
}

/// RSI from average gain and average loss. A window without losses is 100
/// (Wilder's definition, RS is infinite); one without any movement is 50,
/// neither overbought nor oversold, rather than a division by zero.
fn rsi_from(avg_gain: f64, avg_loss: f64) -> f64 {
    if avg_loss == 0.0 {
        return if avg_gain == 0.0 { 50.0 } else { 100.0 };
    }
    100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
}

/// RSI(`period`) after each close: element k is the RSI as of
/// `closes[period + k]` (the first needs `period` changes, so `period + 1`
/// closes). Empty when there are too few closes, `period` is 0, or a close
/// is not finite.
pub fn rsi_wilder_series(closes: &[f64], period: usize) -> Vec<f64> {
    if period == 0 || closes.len() < period + 1 || closes.iter().any(|c| !c.is_finite()) {
        return Vec::new();
    }
    let changes: Vec<f64> = closes.windows(2).map(|w| w[1] - w[0]).collect();
    let gains: Vec<f64> = changes.iter().map(|d| d.max(0.0)).collect();
    let losses: Vec<f64> = changes.iter().map(|d| (-d).max(0.0)).collect();
    wilder(&gains, period).into_iter().zip(wilder(&losses, period)).map(|(g, l)| rsi_from(g, l)).collect()
}

/// RSI(`period`) as of the last close, Wilder's smoothing; see
/// [`rsi_wilder_series`].
pub fn rsi_wilder(closes: &[f64], period: usize) -> Option<f64> {
    rsi_wilder_series(closes, period).last().copied()
}

/// True range of `bar` given the previous close: the largest of the bar's
/// range and its distances from that close, so that a gap counts as range.
/// Without a previous close (the series' first bar) it is the bar's range.
pub fn true_range(bar: &Bar, prev_close: Option<f64>) -> f64 {
    let range = bar.high - bar.low;
    match prev_close {
        None => range,
        Some(pc) => range.max((bar.high - pc).abs()).max((bar.low - pc).abs()),
    }
}

/// ATR(`period`) after each bar: element k is the ATR as of
/// `bars[period - 1 + k]`. The first bar's true range is its high − low (it
/// has no previous close), and the seed is the mean of the first `period`
/// true ranges. Empty when there are too few bars, `period` is 0, or a price
/// is not finite.
pub fn atr_wilder_series(bars: &[Bar], period: usize) -> Vec<f64> {
    let finite = bars.iter().all(|b| b.high.is_finite() && b.low.is_finite() && b.close.is_finite());
    if period == 0 || bars.len() < period || !finite {
        return Vec::new();
    }
    let prev_closes = std::iter::once(None).chain(bars.iter().map(|b| Some(b.close)));
    let ranges: Vec<f64> = bars.iter().zip(prev_closes).map(|(b, pc)| true_range(b, pc)).collect();
    wilder(&ranges, period)
}

/// ATR(`period`) as of the last bar, Wilder's smoothing; see
/// [`atr_wilder_series`].
pub fn atr_wilder(bars: &[Bar], period: usize) -> Option<f64> {
    atr_wilder_series(bars, period).last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    fn bars(hlc: &[(f64, f64, f64)]) -> Vec<Bar> {
        let t0: DateTime<Utc> = "2025-07-01T13:30:00Z".parse().expect("test instant");
        hlc.iter()
            .enumerate()
            .map(|(i, &(high, low, close))| Bar {
                start: t0 + Duration::days(i as i64),
                end: t0 + Duration::days(i as i64) + Duration::hours(6),
                open: close,
                high,
                low,
                close,
                volume: 1.0,
                vwap: None,
            })
            .collect()
    }

    fn check(got: &[f64], want: &[f64], tolerance: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: {got:?}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tolerance, "{what}[{i}]: got {g}, want {w}");
        }
    }

    /// The closes of StockCharts' ChartSchool RSI worksheet (cs-rsi.xls,
    /// QQQQ, 14 Dec 2009 – 1 Feb 2010), as printed there (to the cent).
    const QQQQ_CLOSES: [f64; 33] = [
        44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28, 46.28, 46.00,
        46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18, 44.22, 44.57, 43.42, 42.66,
        43.13,
    ];

    #[test]
    fn rsi_matches_the_references() {
        // Reference 1, exact: an independent implementation in Python with
        // exact rationals (fractions.Fraction) that evaluates Wilder's
        // smoothing in its unrolled form, seed·((n−1)/n)^m + Σ (1/n)·((n−1)/n)^(t−j)·x_j,
        // instead of the recursion used here; printed to 10 decimals.
        let exact = [
            70.4641350211,
            66.2496185536,
            66.4809418347,
            69.3468531629,
            66.2947126589,
            57.9150206701,
            62.8807183100,
            63.2087887183,
            56.0115847895,
            62.3399293109,
            54.6709713777,
            50.3868151951,
            40.0194237913,
            41.4926354042,
            41.9024296785,
            45.4994972387,
            37.3227783134,
            33.0904825727,
            37.7887719821,
        ];
        check(&rsi_wilder_series(&QQQQ_CLOSES, 14), &exact, 1e-9, "rsi vs exact");
        // Reference 2, published: the RSI column of the same StockCharts
        // worksheet. Its closes are rounded for display (45.42 − 45.10 shows
        // as a 0.33 change), so its RSI differs from one computed from the
        // printed closes by up to 0.071; a wrong seed or smoothing misses by
        // whole points.
        let stockcharts = [
            70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46, 41.87,
            45.46, 37.30, 33.08, 37.77,
        ];
        check(&rsi_wilder_series(&QQQQ_CLOSES, 14), &stockcharts, 0.075, "rsi vs stockcharts");
        assert_eq!(rsi_wilder(&QQQQ_CLOSES, 14), rsi_wilder_series(&QQQQ_CLOSES, 14).last().copied());
    }

    #[test]
    fn rsi_seeding_and_edges() {
        // Worked by hand, period 3. Changes +1, −0.5, +1.5, −1. Seed: gain
        // (1 + 0 + 1.5)/3 = 5/6, loss 0.5/3 = 1/6, RS 5, RSI 100 − 100/6 = 250/3.
        // Next: gain (5/6·2 + 0)/3 = 5/9, loss (1/6·2 + 1)/3 = 4/9, RS 5/4,
        // RSI 100 − 100/(9/4) = 500/9.
        let cases: [(&[f64], usize, &[f64]); 9] = [
            (&[10.0, 11.0, 10.5, 12.0, 11.0], 3, &[250.0 / 3.0, 500.0 / 9.0]),
            (&[10.0, 11.0, 10.5, 12.0], 3, &[250.0 / 3.0]),
            // Too short for the first value: period + 1 closes are needed.
            (&[10.0, 11.0, 10.5], 3, &[]),
            (&[1.0, 2.0, 3.0, 4.0, 5.0], 3, &[100.0, 100.0]),
            (&[5.0, 4.0, 3.0, 2.0, 1.0], 3, &[0.0, 0.0]),
            (&[7.0, 7.0, 7.0, 7.0], 3, &[50.0]),
            // Losses only in the seed (RSI 0), then a gain as large: both
            // averages become (1·1 + 0)/2 = 1/2, RSI 50.
            (&[3.0, 2.0, 1.0, 2.0], 2, &[0.0, 50.0]),
            (&[1.0, 2.0, 3.0], 0, &[]),
            (&[1.0, f64::NAN, 3.0, 4.0], 2, &[]),
        ];
        for (closes, period, want) in cases {
            check(&rsi_wilder_series(closes, period), want, 1e-9, &format!("rsi{period} {closes:?}"));
        }
        assert_eq!(rsi_wilder(&[1.0, 2.0], 3), None);
    }

    /// A 20-bar daily series with gaps both ways (bar 9 opens above the
    /// previous close, bar 11 trades below it), so every branch of the true
    /// range is exercised.
    const HLC: [(f64, f64, f64); 20] = [
        (48.70, 47.79, 48.16),
        (48.72, 48.14, 48.61),
        (48.90, 48.39, 48.75),
        (48.87, 48.37, 48.63),
        (48.82, 48.24, 48.74),
        (49.05, 48.64, 49.03),
        (49.20, 48.94, 49.07),
        (49.35, 48.86, 49.32),
        (49.92, 49.50, 49.91),
        (50.19, 49.87, 50.13),
        (50.12, 49.20, 49.53),
        (49.66, 48.90, 49.50),
        (49.88, 49.43, 49.75),
        (50.19, 49.73, 50.03),
        (50.36, 49.26, 50.31),
        (50.57, 50.09, 50.52),
        (50.65, 50.30, 50.41),
        (50.43, 49.21, 49.34),
        (49.63, 48.98, 49.37),
        (50.33, 49.61, 50.23),
    ];

    #[test]
    fn atr_matches_the_reference() {
        let series = bars(&HLC);
        // True ranges and ATR(14) from the same independent Python/Fraction
        // implementation as the RSI reference (unrolled Wilder smoothing,
        // TR as max of the three distances, the first bar's TR = high − low).
        let ranges = [
            0.91, 0.58, 0.51, 0.50, 0.58, 0.41, 0.26, 0.49, 0.60, 0.32, 0.93, 0.76, 0.45, 0.46, 1.10, 0.48, 0.35, 1.22,
            0.65, 0.96,
        ];
        let prev = std::iter::once(None).chain(series.iter().map(|b| Some(b.close)));
        let got: Vec<f64> = series.iter().zip(prev).map(|(b, pc)| true_range(b, pc)).collect();
        check(&got, &ranges, 1e-9, "true range");
        let atr14 = [0.5542857143, 0.5932653061, 0.5851749271, 0.5683767180, 0.6149212382, 0.6174268640, 0.6418963737];
        check(&atr_wilder_series(&series, 14), &atr14, 1e-9, "atr14");
        assert_eq!(atr_wilder(&series, 14), atr_wilder_series(&series, 14).last().copied());
    }

    /// (bars as high/low/close, period, ATR series)
    type AtrCase<'a> = (&'a [(f64, f64, f64)], usize, &'a [f64]);

    #[test]
    fn atr_seeding_and_edges() {
        // Worked by hand, period 3. TRs: 1 (first bar, 10 − 9), 1.5 (11 − 9.5,
        // a gap up), 1.8 (|9.0 − 10.8|, a gap down), 2.8 (|12 − 9.2|).
        // Seed (1 + 1.5 + 1.8)/3 = 43/30; next (43/30·2 + 2.8)/3 = 17/9.
        let small: [(f64, f64, f64); 4] = [(10.0, 9.0, 9.5), (11.0, 10.0, 10.8), (10.5, 9.0, 9.2), (12.0, 11.5, 11.8)];
        let cases: [AtrCase; 6] = [
            (&small, 3, &[43.0 / 30.0, 17.0 / 9.0]),
            (&small[..3], 3, &[43.0 / 30.0]),
            (&small[..2], 3, &[]),
            (&small, 1, &[1.0, 1.5, 1.8, 2.8]),
            (&small, 0, &[]),
            (&[(1.0, f64::NAN, 1.0), (2.0, 1.0, 1.5)], 1, &[]),
        ];
        for (hlc, period, want) in cases {
            check(&atr_wilder_series(&bars(hlc), period), want, 1e-12, &format!("atr{period} {hlc:?}"));
        }
        assert_eq!(atr_wilder(&[], 14), None);
    }
}
