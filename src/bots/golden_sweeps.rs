//! Golden Sweeps (`golden_sweeps`): seven-figure flow near the money.
//!
//! Rule (SPEC §6): premium ≥ `GOLDEN_MIN_PREMIUM`, DTE within
//! [`GOLDEN_MIN_DTE`, `GOLDEN_MAX_DTE`], strike distance ≤
//! `GOLDEN_MAX_STRIKE_DISTANCE`. Score min(100, 50 + 25·log2(premium/1e6)).
//! The outcome plan in premium terms is added by the outcomes feature.
//! With `SWEEPS_REQUIRE_ISO` (the default) only a confirmed sweep posts: the
//! engine asks for the option's trades and [`crate::bots::check_sweep`]
//! judges them, with the Sweeps family's `SWEEPS_MIN_EXCHANGES`.

use crate::alert::Alert;
use crate::bots::{
    Confirmation, Suppressed, check_dte, check_premium, check_strike_distance, confirmation_label, flow_alert_id,
};
use crate::flow::FlowEvent;
use crate::job::Bot;

/// Thresholds, defaults from the seeds; each is an environment variable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoldenConfig {
    /// `GOLDEN_MIN_PREMIUM`, dollars.
    pub min_premium: f64,
    /// `GOLDEN_MIN_DTE`, calendar days, inclusive.
    pub min_dte: i64,
    /// `GOLDEN_MAX_DTE`, calendar days, inclusive.
    pub max_dte: i64,
    /// `GOLDEN_MAX_STRIKE_DISTANCE`, a fraction of spot, inclusive.
    pub max_strike_distance: f64,
}

impl Default for GoldenConfig {
    fn default() -> Self {
        GoldenConfig { min_premium: 1_000_000.0, min_dte: 1, max_dte: 180, max_strike_distance: 0.05 }
    }
}

/// A qualifying event's score and its parts, in display order.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenHit {
    pub score: f64,
    pub score_parts: Vec<(String, f64)>,
}

impl GoldenConfig {
    /// The `GOLDEN_*` settings (SPEC §6).
    pub fn from_config(c: &crate::config::Config) -> Self {
        GoldenConfig {
            min_premium: c.tunables.golden_min_premium,
            min_dte: c.tunables.golden_min_dte,
            max_dte: c.tunables.golden_max_dte,
            max_strike_distance: c.tunables.golden_max_strike_distance,
        }
    }
}

/// Whether `ev` is a Golden Sweep, and its score; otherwise the first rule it
/// failed.
pub fn evaluate(cfg: &GoldenConfig, ev: &FlowEvent) -> Result<GoldenHit, Suppressed> {
    check_premium(ev, cfg.min_premium)?;
    check_dte(ev, cfg.min_dte, cfg.max_dte)?;
    check_strike_distance(ev, cfg.max_strike_distance)?;
    Ok(score(ev.premium))
}

/// min(100, 50 + 25·log2(premium/1e6)), floored at 0 for configurations with
/// a minimum below $1M. The premium part is what remains after the base, so
/// the parts shown always add up to the score.
pub fn score(premium: f64) -> GoldenHit {
    let raw = 50.0 + 25.0 * (premium / 1e6).log2();
    let score = if raw.is_nan() { 0.0 } else { raw.clamp(0.0, 100.0) };
    GoldenHit { score, score_parts: vec![("base".to_string(), 50.0), ("premium".to_string(), score - 50.0)] }
}

/// The Golden Sweeps alert for `ev`: every field the event knows, the score
/// with its parts and the honest sweep label (a sweep on at least
/// `min_exchanges` venues).
pub fn build_alert(hit: &GoldenHit, ev: &FlowEvent, confirmation: Option<Confirmation>, min_exchanges: usize) -> Alert {
    let mut a = ev.to_alert(Bot::GoldenSweeps, flow_alert_id(Bot::GoldenSweeps, ev));
    a.score = Some(hit.score);
    a.details.score_parts = hit.score_parts.clone();
    a.label = confirmation_label(confirmation, min_exchanges);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{ContractType, Sentiment, Side};
    use crate::flow::test_event;

    fn event(premium: f64, dte: i64, distance: Option<f64>) -> FlowEvent {
        let mut ev = test_event();
        ev.premium = premium;
        ev.dte = dte;
        ev.strike_distance = distance;
        ev
    }

    /// `Ok(score)` or `Err(reason)`.
    fn check(ev: FlowEvent, want: Result<f64, &str>) {
        let got = evaluate(&GoldenConfig::default(), &ev).map(|h| h.score).map_err(|s| s.reason);
        assert_eq!(
            got,
            want.map_err(str::to_string),
            "premium={} dte={} dist={:?}",
            ev.premium,
            ev.dte,
            ev.strike_distance
        );
    }

    #[test]
    fn rule_edges() {
        let cases = [
            (event(1_000_000.0, 30, Some(0.01)), Ok(50.0)),
            (event(999_999.0, 30, Some(0.01)), Err("premium=999999 below min_premium=1000000")),
            (event(1_000_000.0, 1, Some(0.01)), Ok(50.0)),
            (event(1_000_000.0, 180, Some(0.01)), Ok(50.0)),
            (event(1_000_000.0, 0, Some(0.01)), Err("dte=0 outside 1..=180")),
            (event(1_000_000.0, 181, Some(0.01)), Err("dte=181 outside 1..=180")),
            (event(1_000_000.0, 30, Some(0.05)), Ok(50.0)),
            // 33.6/672 is 5% computed from prices, a rounding step either side of 0.05.
            (event(1_000_000.0, 30, Some(33.6 / 672.0)), Ok(50.0)),
            (event(1_000_000.0, 30, Some(0.0501)), Err("strike_distance=0.0501 above max_strike_distance=0.05")),
            (event(1_000_000.0, 30, None), Err("strike_distance unknown (no spot)")),
            (event(1_000_000.0, 30, Some(f64::NAN)), Err("strike_distance=NaN above max_strike_distance=0.05")),
        ];
        for (ev, want) in cases {
            check(ev, want);
        }
    }

    #[test]
    fn score_table() {
        // (premium, score, premium part)
        let cases = [
            (1_000_000.0, 50.0, 0.0),
            (2_000_000.0, 75.0, 25.0),
            (4_000_000.0, 100.0, 50.0),
            (8_000_000.0, 100.0, 50.0),
            (1_414_213.562_373_095, 62.5, 12.5),
            (100_000.0, 0.0, -50.0),
        ];
        for (premium, want, part) in cases {
            let h = score(premium);
            assert!((h.score - want).abs() < 1e-9, "score({premium}) = {}", h.score);
            assert_eq!(h.score_parts[0], ("base".to_string(), 50.0));
            assert_eq!(h.score_parts[1].0, "premium");
            assert!((h.score_parts[1].1 - part).abs() < 1e-9, "part({premium}) = {}", h.score_parts[1].1);
        }
    }

    #[test]
    fn alert_carries_every_field() {
        let ev = event(2_000_000.0, 30, Some(0.015));
        let hit = evaluate(&GoldenConfig::default(), &ev).unwrap();
        let confirmed = Confirmation { iso_prints: 4, exchanges: 3, unknown_exchange: false };
        let one_venue = Confirmation { iso_prints: 1, exchanges: 1, unknown_exchange: false };
        let cases = [
            (Some(confirmed), "sweep confirmed: 4 ISO prints on 3 exchanges"),
            (Some(one_venue), "flow (unconfirmed): 1 ISO print on 1 exchange"),
            (None, "flow (unconfirmed)"),
        ];
        for (confirmation, label) in cases {
            let a = build_alert(&hit, &ev, confirmation, 2);
            assert_eq!(a.id, "golden_sweeps:O:SPY251121C00670000:20251022T143015Z");
            assert_eq!((a.bot, a.at, a.ticker.as_str()), (Bot::GoldenSweeps, ev.observed_at, "SPY"));
            assert_eq!(a.contract.as_deref(), Some("O:SPY251121C00670000"));
            assert_eq!(
                (a.contract_type, a.strike, a.expiration),
                (Some(ContractType::Call), Some(670.0), Some(ev.expiration))
            );
            assert_eq!((a.dte, a.spot), (Some(30), Some(660.0)));
            assert_eq!(
                (a.premium, a.volume_delta, a.avg_price, a.open_interest),
                (Some(2_000_000.0), Some(4000.0), Some(5.0), Some(1000.0))
            );
            assert_eq!((a.side, a.sentiment), (Side::Ask, Sentiment::Bullish));
            assert_eq!((a.score, a.label.as_str()), (Some(75.0), label));
            assert_eq!(a.details.score_parts, vec![("base".to_string(), 50.0), ("premium".to_string(), 25.0)]);
            assert_eq!(
                (a.details.iv, a.details.prob_itm, a.details.strike_distance, a.details.vol_oi, a.details.delta_vol_oi),
                (Some(0.2), Some(0.3), Some(0.015), Some(5.0), Some(4.0))
            );
            assert_eq!((a.entry, a.stop, a.targets), (None, None, None));
        }
    }
}
