//! How the background of a simulated options market trades: the sizes of
//! its prints and the side they take.
//!
//! Sizes come in four classes, each with its share of the day's contracts
//! (README, "Simulator realism"): retail-size prints of 1–10 contracts carry
//! about 45% of the volume, 11–99 lots 27%, 100–999 lots 20% and blocks of
//! 1,000 or more 8%. Small prints are too many to draw one by one on a
//! day of millions of contracts, so a chain books each class's prints in a
//! span as one aggregate (count, volume and notional drawn to match) and
//! draws one by one only the prints large enough to matter on their own.
//!
//! Sides persist and lean with the underlying: a symbol's buying pressure
//! is an AR(1) state pushed by the underlying's move over each span, so
//! calls are bought at the ask more while the stock rises (and puts while
//! it falls), and a lean lasts for minutes.

use super::rng::Rng;

/// One class of print sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeClass {
    /// Share of the day's contracts traded in prints of this class.
    pub share: f64,
    /// Smallest and largest print, contracts.
    pub lo: f64,
    pub hi: f64,
    /// Mean and variance of one print's size (of the draw below).
    pub mean: f64,
    pub var: f64,
    /// Chance that a print of this class is an intermarket sweep (ISO).
    pub iso: f64,
}

/// Retail-size prints: 1 to 10 contracts, ones, fives and tens the usual
/// round sizes.
const SMALL: [(f64, f64); 10] = [
    (1.0, 0.30),
    (2.0, 0.17),
    (3.0, 0.10),
    (4.0, 0.08),
    (5.0, 0.10),
    (6.0, 0.05),
    (7.0, 0.03),
    (8.0, 0.03),
    (9.0, 0.02),
    (10.0, 0.12),
];

/// The classes, smallest first. The larger three draw evenly in the log
/// between their bounds: mean (hi − lo)/ln(hi/lo), second moment
/// (hi² − lo²)/(2 ln(hi/lo)).
pub const CLASSES: [SizeClass; 4] = [
    SizeClass { share: 0.45, lo: 1.0, hi: 10.0, mean: 3.89, var: 9.3379, iso: 0.03 },
    SizeClass { share: 0.27, lo: 11.0, hi: 99.0, mean: 40.046, var: 599.15, iso: 0.12 },
    SizeClass { share: 0.20, lo: 100.0, hi: 1_000.0, mean: 390.86, var: 62_204.0, iso: 0.30 },
    SizeClass { share: 0.08, lo: 1_000.0, hi: 10_000.0, mean: 3_908.6, var: 6_220_400.0, iso: 0.35 },
];

/// One print's size in class `k`, contracts.
pub fn draw_size(k: usize, rng: &mut Rng) -> f64 {
    let Some(c) = CLASSES.get(k) else { return 1.0 };
    if k == 0 {
        let mut u = rng.f64();
        for (size, p) in SMALL {
            if u < p {
                return size;
            }
            u -= p;
        }
        return 10.0;
    }
    let x = c.lo * (c.hi / c.lo).powf(rng.f64());
    // Large prints are round: to 10 contracts from 100, 50 from 1,000.
    let unit = if x >= 1_000.0 {
        50.0
    } else if x >= 100.0 {
        10.0
    } else {
        1.0
    };
    ((x / unit).round() * unit).clamp(c.lo, c.hi)
}

/// The total size of `n` prints of class `k`: drawn one by one for a few,
/// by the normal approximation of their sum for many (kept within the
/// bounds `n` prints can reach).
pub fn total_size(k: usize, n: u64, rng: &mut Rng) -> f64 {
    let Some(c) = CLASSES.get(k) else { return 0.0 };
    if n <= 8 {
        return (0..n).map(|_| draw_size(k, rng)).sum();
    }
    let n = n as f64;
    (n * c.mean + (n * c.var).sqrt() * rng.normal()).round().clamp(n * c.lo, n * c.hi)
}

/// A span's split of background volume by side: shares at the ask and at
/// the bid (the rest between, at the midpoint).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SideMix {
    pub ask: f64,
    pub bid: f64,
}

impl SideMix {
    /// The side of one print: 0 ask, 1 bid, 2 midpoint.
    pub fn draw(&self, rng: &mut Rng) -> usize {
        let u = rng.f64();
        if u < self.ask {
            0
        } else if u < self.ask + self.bid {
            1
        } else {
            2
        }
    }
}

/// A symbol's buying pressure through the day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pressure {
    /// The AR(1) state; calls lean to the ask when it is positive.
    x: f64,
    last_spot: Option<f64>,
}

impl Pressure {
    /// Each span keeps this much of the previous lean: with 30-second
    /// spans a lean halves in about two minutes.
    const KEEP: f64 = 0.85;
    const NOISE: f64 = 0.45;
    /// How hard a one-standard-deviation move of the underlying pushes.
    const PUSH: f64 = 0.6;

    pub fn new() -> Pressure {
        Pressure { x: 0.0, last_spot: None }
    }

    /// Advances over a span of `seconds` ending with the underlying at
    /// `spot`; `daily_vol` scales its move. Returns the move in standard
    /// deviations (0 for the first span).
    pub fn step(&mut self, spot: f64, seconds: u32, daily_vol: f64, rng: &mut Rng) -> f64 {
        let sd = daily_vol * (f64::from(seconds.max(1)) / 23_400.0).sqrt();
        let z = match self.last_spot {
            Some(prev) if prev > 0.0 && spot > 0.0 && sd > 0.0 => ((spot / prev).ln() / sd).clamp(-4.0, 4.0),
            _ => 0.0,
        };
        self.last_spot = Some(spot);
        self.x = Self::KEEP * self.x + Self::NOISE * rng.normal() + Self::PUSH * z;
        z
    }

    /// The side mix of calls (`call`) or puts now: 42% at the ask and 36% at
    /// the bid on balance, tilted up to 20 points by the lean (puts the other
    /// way).
    pub fn mix(&self, call: bool) -> SideMix {
        let tilt = 0.2 * self.x.tanh() * if call { 1.0 } else { -1.0 };
        SideMix { ask: 0.42 + tilt, bid: 0.36 - tilt }
    }
}

impl Default for Pressure {
    fn default() -> Self {
        Pressure::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_draws_within_its_bounds_with_its_stated_mean() {
        let mut rng = Rng::new(5);
        for (k, c) in CLASSES.iter().enumerate() {
            let n = 40_000;
            let draws: Vec<f64> = (0..n).map(|_| draw_size(k, &mut rng)).collect();
            assert!(draws.iter().all(|s| (c.lo..=c.hi).contains(s)), "class {k}");
            let mean = draws.iter().sum::<f64>() / f64::from(n);
            assert!((mean / c.mean - 1.0).abs() < 0.03, "class {k}: mean {mean} vs {}", c.mean);
            let var = draws.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / f64::from(n);
            assert!((var / c.var - 1.0).abs() < 0.1, "class {k}: variance {var} vs {}", c.var);
        }
        let shares: f64 = CLASSES.iter().map(|c| c.share).sum();
        assert!((shares - 1.0).abs() < 1e-12);
    }

    #[test]
    fn many_prints_sum_like_their_draws() {
        let mut rng = Rng::new(9);
        let total: f64 = (0..2_000).map(|_| total_size(1, 50, &mut rng)).sum();
        let mean = total / 2_000.0 / 50.0;
        assert!((mean / CLASSES[1].mean - 1.0).abs() < 0.02, "{mean}");
        assert_eq!(total_size(2, 0, &mut rng), 0.0);
    }

    #[test]
    fn buying_pressure_leans_with_the_underlying_and_persists() {
        let mut rng = Rng::new(1);
        let mut p = Pressure::new();
        p.step(100.0, 30, 0.02, &mut rng);
        // A run of up-moves pushes calls to the ask and puts to the bid.
        let mut spot = 100.0;
        for _ in 0..10 {
            spot *= 1.002;
            p.step(spot, 30, 0.02, &mut rng);
        }
        assert!(p.mix(true).ask > 0.5 && p.mix(false).ask < 0.34, "{:?} {:?}", p.mix(true), p.mix(false));
        let m = p.mix(true);
        assert!(m.ask + m.bid <= 1.0 && m.ask > 0.0 && m.bid > 0.0);
    }
}
