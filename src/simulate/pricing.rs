//! Option pricing for the simulated chains: Black–Scholes with r = 0 and no
//! dividends (the same assumptions `flow::prob_itm` makes, so a simulated
//! contract's P(ITM) agrees with its delta), a volatility smile with put
//! skew, exchange tick sizes and the OCC ticker.
//!
//! Everything here is a pure function with no randomness: the planner can
//! compute the price an injected trade will print at before the day is run.

use chrono::{Datelike, NaiveDate};

use crate::flow::norm_cdf;

pub const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// The shortest time to expiry priced, one minute: at the bell an option is
/// worth its intrinsic value and the greeks stop being defined.
pub const MIN_T_YEARS: f64 = 60.0 / SECONDS_PER_YEAR;

/// Price and greeks per share. Theta is per calendar day, vega per volatility
/// point (Polygon's conventions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bs {
    pub price: f64,
    pub delta: f64,
    pub gamma: f64,
    pub theta: f64,
    pub vega: f64,
}

pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Black–Scholes with r = q = 0.
pub fn black_scholes(call: bool, spot: f64, strike: f64, vol: f64, t_years: f64) -> Bs {
    let t = t_years.max(MIN_T_YEARS);
    let vol = vol.max(1e-4);
    let sqrt_t = t.sqrt();
    let sd = vol * sqrt_t;
    let d1 = ((spot / strike).ln() + 0.5 * sd * sd) / sd;
    let d2 = d1 - sd;
    let pdf = norm_pdf(d1);
    let (price, delta) = if call {
        (spot * norm_cdf(d1) - strike * norm_cdf(d2), norm_cdf(d1))
    } else {
        (strike * norm_cdf(-d2) - spot * norm_cdf(-d1), norm_cdf(d1) - 1.0)
    };
    // Floating cancellation can leave a deep in-the-money price a hair under
    // intrinsic value; an option is never worth less than exercising it.
    let intrinsic = if call { spot - strike } else { strike - spot }.max(0.0);
    Bs {
        price: price.max(intrinsic),
        delta,
        gamma: pdf / (spot * sd),
        theta: -spot * pdf * vol / (2.0 * sqrt_t) / 365.0,
        vega: spot * pdf * sqrt_t / 100.0,
    }
}

/// The implied volatility of a strike: the at-the-money level (a little
/// higher for the shortest expiries, as event risk crowds into them), plus
/// skew (puts richer than calls) and curvature in standardised moneyness
/// ln(K/S)/(σ√T), bounded so that a 0DTE wing late in the day stays finite.
pub fn smile_iv(atm_vol: f64, spot: f64, strike: f64, t_years: f64) -> f64 {
    let t = t_years.max(MIN_T_YEARS);
    let days = t * 365.0;
    let atm = atm_vol * (1.0 + 0.18 * (-days / 7.0).exp());
    let m = ((strike / spot).ln() / (atm * t.sqrt())).clamp(-4.0, 4.0);
    (atm * (1.0 - 0.09 * m + 0.035 * m * m)).clamp(0.4 * atm_vol, 3.0 * atm_vol)
}

/// The quoting increment at `price`: penny-pilot classes quote in pennies
/// below $3 and nickels above; SPY and QQQ quote in pennies throughout.
pub fn tick_size(price: f64, penny_all: bool) -> f64 {
    if penny_all || price < 3.0 { 0.01 } else { 0.05 }
}

/// `x` rounded to `dp` decimal places (a clean shortest decimal when
/// serialised).
pub fn round_dp(x: f64, dp: i32) -> f64 {
    let m = 10f64.powi(dp);
    (x * m).round() / m
}

pub fn cents(x: f64) -> f64 {
    round_dp(x, 2)
}

/// `x` rounded to `digits` significant digits (greeks span many magnitudes).
pub fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let k = digits - 1 - x.abs().log10().floor() as i32;
    if k >= 0 {
        let m = 10f64.powi(k);
        (x * m).round() / m
    } else {
        let m = 10f64.powi(-k);
        (x / m).round() * m
    }
}

/// Multiples of `step` at or below / at or above `x`, cleaned to cents. The
/// small slack absorbs binary representation error (0.1 + 0.2).
pub fn floor_to(x: f64, step: f64) -> f64 {
    cents((x / step + 1e-9).floor() * step)
}

pub fn ceil_to(x: f64, step: f64) -> f64 {
    cents((x / step - 1e-9).ceil() * step)
}

/// The OCC option symbol with Polygon's `O:` prefix, e.g.
/// `O:SPY260320C00600000` (strike in thousandths, eight digits).
pub fn occ_ticker(root: &str, expiration: NaiveDate, call: bool, strike: f64) -> String {
    format!(
        "O:{root}{:02}{:02}{:02}{}{:08}",
        expiration.year() % 100,
        expiration.month(),
        expiration.day(),
        if call { 'C' } else { 'P' },
        (strike * 1000.0).round() as i64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn black_scholes_known_values_and_parity() {
        // S = K = 100, σ = 20%, T = 1, r = 0: C = P = 7.9656.
        let c = black_scholes(true, 100.0, 100.0, 0.2, 1.0);
        let p = black_scholes(false, 100.0, 100.0, 0.2, 1.0);
        assert!(close(c.price, 7.965567, 1e-5), "{}", c.price);
        assert!(close(p.price, 7.965567, 1e-5), "{}", p.price);
        assert!(close(c.delta, 0.539828, 1e-5) && close(p.delta, -0.460172, 1e-5));
        assert!(close(c.gamma, 0.019848, 1e-5) && close(c.vega, 0.396953, 1e-5));
        assert!(close(c.theta, -3.969526 / 365.0, 1e-7));
        // Put–call parity with r = 0: C − P = S − K for every strike.
        for k in [80.0, 95.0, 100.0, 120.0] {
            let c = black_scholes(true, 100.0, k, 0.3, 0.25);
            let p = black_scholes(false, 100.0, k, 0.3, 0.25);
            assert!(close(c.price - p.price, 100.0 - k, 1e-9), "strike {k}");
            assert!(close(c.delta - p.delta, 1.0, 1e-12));
        }
        // At the bell: intrinsic value, delta 0 or 1.
        let c = black_scholes(true, 101.0, 100.0, 0.2, 0.0);
        assert!(close(c.price, 1.0, 1e-6) && close(c.delta, 1.0, 1e-6));
    }

    #[test]
    fn smile_has_put_skew_and_stays_bounded() {
        let t = 30.0 / 365.0;
        let atm = smile_iv(0.2, 100.0, 100.0, t);
        assert!(smile_iv(0.2, 100.0, 90.0, t) > atm, "puts richer");
        assert!(smile_iv(0.2, 100.0, 130.0, t) > smile_iv(0.2, 100.0, 110.0, t) * 0.9);
        for k in [1.0, 50.0, 100.0, 200.0, 10_000.0] {
            let v = smile_iv(0.2, 100.0, k, 0.0);
            assert!(v.is_finite() && (0.08..=0.6).contains(&v), "{k}: {v}");
        }
    }

    #[test]
    fn rounding_and_tickers() {
        assert_eq!(round_sig(0.000123456, 4), 0.0001235);
        assert_eq!(round_sig(-1234.5678, 4), -1235.0);
        assert_eq!(round_sig(0.0, 4), 0.0);
        assert_eq!(floor_to(1.2345, 0.05), 1.2);
        assert_eq!(ceil_to(1.2345, 0.05), 1.25);
        assert_eq!(ceil_to(0.3, 0.1), 0.3);
        assert_eq!(tick_size(2.99, false), 0.01);
        assert_eq!(tick_size(3.0, false), 0.05);
        assert_eq!(tick_size(30.0, true), 0.01);
        let d = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap_or_default();
        assert_eq!(occ_ticker("SPY", d, true, 600.0), "O:SPY260320C00600000");
        assert_eq!(occ_ticker("CSCO", d, false, 77.5), "O:CSCO260320P00077500");
    }
}
