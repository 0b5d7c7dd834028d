//! Sweeps (`sweeps`): large, aggressive flow scored 0–100.
//!
//! Rule (SPEC §6): premium ≥ `SWEEPS_MIN_PREMIUM`, DTE within
//! [`SWEEPS_MIN_DTE`, `SWEEPS_MAX_DTE`], score ≥ `MIN_SWEEP_SCORE`. The score
//! is the sum of four parts, each shown in the alert:
//!
//! - premium: min(40, 10 + 10·log2(premium/50000)), never below 0;
//! - Δvol/OI: min(25, 25·ΔV/OI); OI = 0 gives 25 (the volume is all new),
//!   an unknown OI gives 0 and the alert says so;
//! - side: ask 20, mid 8, unknown 8, bid 0;
//! - ISO sweep: 15 when the option's own trades in the window are a sweep:
//!   ISO prints on at least `SWEEPS_MIN_EXCHANGES` venues
//!   ([`Confirmation::is_sweep`]).
//!
//! With `SWEEPS_REQUIRE_ISO` (the default) the family posts only confirmed
//! sweeps: a candidate whose trades were not read, or show no sweep, is not
//! alerted. Confirmation costs a `/v3/trades` request per contract, so
//! [`needs_confirmation`] names the events worth one: those that pass the
//! premium and DTE parts and reach the minimum score with the +15 (without
//! `SWEEPS_REQUIRE_ISO`, only those that need it: an event that passes
//! without it then alerts without a request, honestly labelled unconfirmed,
//! its ISO part 0). An event that fails even with it is not worth a request.
//! The caller may still pass a confirmation it already has for any event;
//! [`evaluate`] uses it.

use crate::alert::{Alert, Side};
use crate::bots::{Confirmation, Suppressed, check_dte, check_premium, check_sweep, confirmation_label, flow_alert_id};
use crate::flow::FlowEvent;
use crate::job::Bot;

/// Thresholds, defaults from the seeds; each is an environment variable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepsConfig {
    /// `SWEEPS_MIN_PREMIUM`, dollars.
    pub min_premium: f64,
    /// `SWEEPS_MIN_DTE`, calendar days, inclusive.
    pub min_dte: i64,
    /// `SWEEPS_MAX_DTE`, calendar days, inclusive.
    pub max_dte: i64,
    /// `MIN_SWEEP_SCORE`, inclusive.
    pub min_score: f64,
    /// `SWEEPS_CONFIRM_WITH_TRADES`: whether the ISO part may be earned at
    /// the cost of a trades request.
    pub confirm_with_trades: bool,
    /// `SWEEPS_REQUIRE_ISO`: Sweeps and Golden Sweeps post only confirmed
    /// sweeps (a family named for sweeps posts sweeps); a candidate whose
    /// trades were not read or show no sweep is not alerted.
    pub require_iso: bool,
    /// `SWEEPS_MIN_EXCHANGES`: the venues a window's ISO prints must reach
    /// to be a sweep, for both families.
    pub min_exchanges: usize,
}

impl Default for SweepsConfig {
    fn default() -> Self {
        SweepsConfig {
            min_premium: 50_000.0,
            min_dte: 1,
            max_dte: 90,
            min_score: 60.0,
            confirm_with_trades: true,
            require_iso: true,
            min_exchanges: 2,
        }
    }
}

impl SweepsConfig {
    /// The thresholds as configured (validated ranges come from `SETTINGS`).
    pub fn from_config(c: &crate::config::Config) -> Self {
        SweepsConfig {
            min_premium: c.tunables.sweeps_min_premium,
            min_dte: c.tunables.sweeps_min_dte,
            max_dte: c.tunables.sweeps_max_dte,
            min_score: c.tunables.min_sweep_score,
            confirm_with_trades: c.tunables.sweeps_confirm_with_trades,
            require_iso: c.tunables.sweeps_require_iso,
            // Validated 1..=16 by `SETTINGS`.
            min_exchanges: c.tunables.sweeps_min_exchanges.max(1) as usize,
        }
    }
}

/// The premium at which the premium part is 10 points (SPEC §6's formula,
/// fixed whatever the configured minimum).
pub const PREMIUM_PIVOT: f64 = 50_000.0;
pub const PREMIUM_POINTS_MAX: f64 = 40.0;
pub const DELTA_VOL_OI_POINTS_MAX: f64 = 25.0;
pub const ISO_POINTS: f64 = 15.0;

/// Slack for the inclusive score edge: parts computed through a logarithm
/// may land a rounding step below a round score they equal.
const SCORE_EPSILON: f64 = 1e-9;

/// A scored event, passing or not, with its parts in display order.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepsHit {
    /// The sum of `score_parts`.
    pub score: f64,
    pub score_parts: Vec<(String, f64)>,
    /// The confirmation the ISO part was judged on (None: not fetched).
    pub confirmation: Option<Confirmation>,
    /// The alert's label for that confirmation.
    pub label: String,
    /// Extra lines for the alert, e.g. why a part scored 0.
    pub notes: Vec<(String, String)>,
}

/// min(40, 10 + 10·log2(premium/50000)), floored at 0 so that a small
/// premium (possible with a low configured minimum) never subtracts.
pub fn premium_points(premium: f64) -> f64 {
    let raw = 10.0 + 10.0 * (premium / PREMIUM_PIVOT).log2();
    if raw.is_nan() { 0.0 } else { raw.clamp(0.0, PREMIUM_POINTS_MAX) }
}

/// min(25, 25·ΔV/OI); 25 when OI is 0 (every contract traded is new
/// interest); None when OI is unknown, which scores 0.
pub fn delta_vol_oi_points(volume_delta: f64, open_interest: Option<f64>) -> Option<f64> {
    match open_interest {
        Some(0.0) => Some(DELTA_VOL_OI_POINTS_MAX),
        Some(oi) if oi.is_finite() && oi > 0.0 => {
            let raw = DELTA_VOL_OI_POINTS_MAX * volume_delta / oi;
            Some(if raw.is_nan() { 0.0 } else { raw.clamp(0.0, DELTA_VOL_OI_POINTS_MAX) })
        }
        _ => None,
    }
}

/// Buying at the ask is the aggressive side; mid and unknown are neutral
/// evidence; at the bid the flow is more likely selling.
pub fn side_points(side: Side) -> f64 {
    match side {
        Side::Ask => 20.0,
        Side::Mid | Side::Unknown => 8.0,
        Side::Bid => 0.0,
    }
}

/// The event's score and its parts, given what is known of its trades (the
/// ISO part only for a sweep on `cfg.min_exchanges` venues).
pub fn score(cfg: &SweepsConfig, ev: &FlowEvent, confirmation: Option<Confirmation>) -> SweepsHit {
    let mut notes = Vec::new();
    let dvol = delta_vol_oi_points(ev.volume_delta, ev.open_interest).unwrap_or_else(|| {
        notes.push(("Δvol/OI".to_string(), "unknown (no open interest), 0 points".to_string()));
        0.0
    });
    let iso = if confirmation.is_some_and(|c| c.is_sweep(cfg.min_exchanges)) { ISO_POINTS } else { 0.0 };
    let score_parts = vec![
        ("premium".to_string(), premium_points(ev.premium)),
        ("Δvol/OI".to_string(), dvol),
        ("side".to_string(), side_points(ev.side)),
        ("ISO sweep".to_string(), iso),
    ];
    let score = score_parts.iter().map(|(_, p)| p).sum();
    let label = confirmation_label(confirmation, cfg.min_exchanges);
    SweepsHit { score, score_parts, confirmation, label, notes }
}

/// The parts of the rule that need no trades: premium and DTE.
pub fn screen(cfg: &SweepsConfig, ev: &FlowEvent) -> Result<(), Suppressed> {
    check_premium(ev, cfg.min_premium)?;
    check_dte(ev, cfg.min_dte, cfg.max_dte)?;
    Ok(())
}

fn reaches(score: f64, min_score: f64) -> bool {
    score + SCORE_EPSILON >= min_score
}

/// Whether a trades request could change the decision on `ev`: confirmation
/// is enabled, the event passes premium and DTE, and it reaches the minimum
/// score with the ISO part but (unless `require_iso`, when only a confirmed
/// sweep posts) not without it.
pub fn needs_confirmation(cfg: &SweepsConfig, ev: &FlowEvent) -> bool {
    if !cfg.confirm_with_trades || screen(cfg, ev).is_err() {
        return false;
    }
    let base = score(cfg, ev, None).score;
    // Posting only sweeps, every candidate the ISO part could carry is read;
    // otherwise only those it decides.
    (cfg.require_iso || !reaches(base, cfg.min_score)) && reaches(base + ISO_POINTS, cfg.min_score)
}

/// Whether `ev` is a Sweeps alert given its (optional) confirmation, and its
/// score; otherwise the first rule it failed: premium, DTE, then (with
/// `SWEEPS_REQUIRE_ISO`) the sweep itself for an event the ISO part would
/// carry to the minimum, then the score. An event below the minimum even
/// with the ISO part is told so, whatever its trades showed.
pub fn evaluate(
    cfg: &SweepsConfig,
    ev: &FlowEvent,
    confirmation: Option<Confirmation>,
) -> Result<SweepsHit, Suppressed> {
    screen(cfg, ev)?;
    let hit = score(cfg, ev, confirmation);
    if reaches(score(cfg, ev, None).score + ISO_POINTS, cfg.min_score) {
        check_sweep(cfg.require_iso, cfg.min_exchanges, confirmation)?;
    }
    if !reaches(hit.score, cfg.min_score) {
        let parts: Vec<String> = hit.score_parts.iter().map(|(name, p)| format!("{name}={p:.2}")).collect();
        return Err(Suppressed::new(format!(
            "score={:.2} below min_score={} ({})",
            hit.score,
            cfg.min_score,
            parts.join(" ")
        )));
    }
    Ok(hit)
}

/// The Sweeps alert: every field the event knows, the score with its parts,
/// and the label the confirmation earns ("flow (unconfirmed)" without a
/// sweep).
pub fn build_alert(hit: &SweepsHit, ev: &FlowEvent) -> Alert {
    let mut a = ev.to_alert(Bot::Sweeps, flow_alert_id(Bot::Sweeps, ev));
    a.score = Some(hit.score);
    a.details.score_parts = hit.score_parts.clone();
    a.details.notes.extend(hit.notes.iter().cloned());
    a.label = hit.label.clone();
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::test_event;
    use std::collections::BTreeMap;

    const ISO: Option<Confirmation> = Some(Confirmation { iso_prints: 3, exchanges: 2, unknown_exchange: false });
    const NO_ISO: Option<Confirmation> = Some(Confirmation { iso_prints: 0, exchanges: 0, unknown_exchange: false });
    /// ISO prints on one exchange: a large fill, not a sweep.
    const ONE_VENUE: Option<Confirmation> = Some(Confirmation { iso_prints: 2, exchanges: 1, unknown_exchange: false });

    /// The score rule alone: unconfirmed events may post.
    fn scoring() -> SweepsConfig {
        SweepsConfig { require_iso: false, ..SweepsConfig::default() }
    }

    fn event(premium: f64, dte: i64, volume_delta: f64, oi: Option<f64>, side: Side) -> FlowEvent {
        let mut ev = test_event();
        ev.premium = premium;
        ev.dte = dte;
        ev.volume_delta = volume_delta;
        ev.open_interest = oi;
        ev.side = side;
        ev
    }

    /// The expected parts (premium, Δvol/OI, side, ISO) or the reason.
    type Want = Result<[f64; 4], &'static str>;

    /// `Ok(parts)` (premium, Δvol/OI, side, ISO; the score is their sum) or
    /// `Err(reason)`.
    fn check(ev: &FlowEvent, confirmation: Option<Confirmation>, want: Result<[f64; 4], &str>) {
        let got = evaluate(&scoring(), ev, confirmation);
        let ctx = format!("premium={} dte={} side={:?} confirmation={confirmation:?}", ev.premium, ev.dte, ev.side);
        match (got, want) {
            (Ok(hit), Ok(parts)) => {
                let names = ["premium", "Δvol/OI", "side", "ISO sweep"];
                assert_eq!(hit.score_parts.len(), 4, "{ctx}");
                for ((name, got), (want_name, want)) in hit.score_parts.iter().zip(names.iter().zip(parts)) {
                    assert_eq!(name, want_name, "{ctx}");
                    assert!((got - want).abs() < 1e-9, "{ctx}: part {name} = {got}, want {want}");
                }
                let sum: f64 = hit.score_parts.iter().map(|(_, p)| p).sum();
                assert_eq!(hit.score, sum, "{ctx}: score is the sum of its parts");
                assert!((hit.score - parts.iter().sum::<f64>()).abs() < 1e-9, "{ctx}: score {}", hit.score);
                assert!((0.0..=100.0).contains(&hit.score), "{ctx}");
            }
            (got, want) => {
                assert_eq!(got.map(|h| h.score_parts), want.map(|_| vec![]).map_err(Suppressed::new), "{ctx}")
            }
        }
    }

    #[test]
    fn rule_edges() {
        use Side::*;
        let cases: Vec<(FlowEvent, Option<Confirmation>, Want)> = vec![
            // Exactly 60: premium capped at 40, OI unknown, at the ask.
            (event(400_000.0, 30, 4000.0, None, Ask), None, Ok([40.0, 0.0, 20.0, 0.0])),
            (event(400_000.0, 30, 8000.0, Some(10_000.0), Bid), None, Ok([40.0, 20.0, 0.0, 0.0])),
            (
                event(400_000.0, 30, 7996.0, Some(10_000.0), Bid),
                None,
                Err("score=59.99 below min_score=60 (premium=40.00 Δvol/OI=19.99 side=0.00 ISO sweep=0.00)"),
            ),
            // Premium edge; 50k scores 10, OI = 0 scores 25.
            (event(50_000.0, 30, 4000.0, Some(0.0), Ask), ISO, Ok([10.0, 25.0, 20.0, 15.0])),
            (event(49_999.99, 30, 4000.0, Some(0.0), Ask), ISO, Err("premium=50000 below min_premium=50000")),
            (event(49_999.0, 30, 4000.0, Some(0.0), Ask), ISO, Err("premium=49999 below min_premium=50000")),
            (
                event(50_000.0, 30, 4000.0, Some(0.0), Ask),
                None,
                Err("score=55.00 below min_score=60 (premium=10.00 Δvol/OI=25.00 side=20.00 ISO sweep=0.00)"),
            ),
            // An empty confirmation earns nothing, nor do ISO prints on one
            // exchange.
            (
                event(50_000.0, 30, 4000.0, Some(0.0), Ask),
                NO_ISO,
                Err("score=55.00 below min_score=60 (premium=10.00 Δvol/OI=25.00 side=20.00 ISO sweep=0.00)"),
            ),
            (
                event(50_000.0, 30, 4000.0, Some(0.0), Ask),
                ONE_VENUE,
                Err("score=55.00 below min_score=60 (premium=10.00 Δvol/OI=25.00 side=20.00 ISO sweep=0.00)"),
            ),
            // DTE edges, inclusive.
            (event(400_000.0, 1, 4000.0, None, Ask), None, Ok([40.0, 0.0, 20.0, 0.0])),
            (event(400_000.0, 90, 4000.0, None, Ask), None, Ok([40.0, 0.0, 20.0, 0.0])),
            (event(400_000.0, 0, 4000.0, None, Ask), None, Err("dte=0 outside 1..=90")),
            (event(400_000.0, 91, 4000.0, None, Ask), None, Err("dte=91 outside 1..=90")),
            // Side points.
            (event(200_000.0, 30, 500.0, Some(1000.0), Mid), ISO, Ok([30.0, 12.5, 8.0, 15.0])),
            (event(200_000.0, 30, 500.0, Some(1000.0), Unknown), ISO, Ok([30.0, 12.5, 8.0, 15.0])),
            (event(200_000.0, 30, 500.0, Some(1000.0), Ask), None, Ok([30.0, 12.5, 20.0, 0.0])),
            // Every part capped: 100.
            (event(10_000_000.0, 30, 4000.0, Some(1000.0), Ask), ISO, Ok([40.0, 25.0, 20.0, 15.0])),
            // A negative or non-finite OI is as unknown as a missing one.
            (event(400_000.0, 30, 4000.0, Some(-1.0), Ask), None, Ok([40.0, 0.0, 20.0, 0.0])),
            (event(400_000.0, 30, 4000.0, Some(f64::NAN), Ask), None, Ok([40.0, 0.0, 20.0, 0.0])),
            (event(f64::NAN, 30, 4000.0, Some(0.0), Ask), ISO, Err("premium=NaN below min_premium=50000")),
        ];
        for (ev, confirmation, want) in cases {
            check(&ev, confirmation, want);
        }
    }

    #[test]
    fn part_formulas() {
        // (premium, points)
        for (premium, want) in [
            (50_000.0, 10.0),
            (100_000.0, 20.0),
            (400_000.0, 40.0),
            (800_000.0, 40.0),
            (25_000.0, 0.0),
            (10_000.0, 0.0),
            (0.0, 0.0),
            (f64::NAN, 0.0),
        ] {
            assert!((premium_points(premium) - want).abs() < 1e-9, "premium_points({premium})");
        }
        // (ΔV, OI, points)
        for (dv, oi, want) in [
            (100.0, Some(1000.0), Some(2.5)),
            (1000.0, Some(1000.0), Some(25.0)),
            (5000.0, Some(1000.0), Some(25.0)),
            (5.0, Some(0.0), Some(25.0)),
            (5.0, None, None),
            (5.0, Some(f64::INFINITY), None),
        ] {
            assert_eq!(delta_vol_oi_points(dv, oi), want, "dv={dv} oi={oi:?}");
        }
    }

    #[test]
    fn confirmation_only_where_it_decides() {
        use Side::*;
        let off = SweepsConfig { confirm_with_trades: false, ..SweepsConfig::default() };
        let optional = scoring();
        let default = SweepsConfig::default();
        // (config, event, needs a trades request)
        let cases = [
            // 55 without ISO, 70 with: the request decides.
            (optional, event(50_000.0, 30, 4000.0, Some(0.0), Ask), true),
            (default, event(50_000.0, 30, 4000.0, Some(0.0), Ask), true),
            // 45 + 15 is exactly 60.
            (optional, event(50_000.0, 30, 600.0, Some(1000.0), Ask), true),
            // 44.99 + 15 is still below 60.
            (optional, event(50_000.0, 30, 599.6, Some(1000.0), Ask), false),
            (default, event(50_000.0, 30, 599.6, Some(1000.0), Ask), false),
            // Already 60 without it: read only when only a sweep may post
            // (the default).
            (optional, event(400_000.0, 30, 4000.0, None, Ask), false),
            (default, event(400_000.0, 30, 4000.0, None, Ask), true),
            // Fails premium or DTE whatever the trades say.
            (default, event(49_999.0, 30, 4000.0, Some(0.0), Ask), false),
            (default, event(50_000.0, 0, 4000.0, Some(0.0), Ask), false),
            (default, event(50_000.0, 91, 4000.0, Some(0.0), Ask), false),
            // Confirmation switched off.
            (off, event(50_000.0, 30, 4000.0, Some(0.0), Ask), false),
        ];
        for (cfg, ev, want) in cases {
            assert_eq!(
                needs_confirmation(&cfg, &ev),
                want,
                "premium={} dte={} dv={} require_iso={}",
                ev.premium,
                ev.dte,
                ev.volume_delta,
                cfg.require_iso
            );
            // Whenever a request is worth it, a sweep makes the event pass and
            // no confirmation, or ISO prints on one exchange, does not.
            if want && !(cfg.require_iso && ev.premium >= 400_000.0) {
                assert!(evaluate(&cfg, &ev, ISO).is_ok());
                assert!(evaluate(&cfg, &ev, None).is_err());
                assert!(evaluate(&cfg, &ev, ONE_VENUE).is_err());
            }
        }
    }

    #[test]
    fn by_default_only_a_confirmed_sweep_posts() {
        use Side::*;
        let cfg = SweepsConfig::default();
        assert!(cfg.require_iso);
        assert_eq!(cfg.min_exchanges, 2);
        // 60 without the ISO part, 75 with it.
        let ev = event(400_000.0, 30, 4000.0, None, Ask);
        // (confirmation, score and label, or the reason)
        type Case = (Option<Confirmation>, Result<(f64, &'static str), &'static str>);
        let cases: [Case; 4] = [
            (ISO, Ok((75.0, "sweep confirmed: 3 ISO prints on 2 exchanges"))),
            (None, Err("not confirmed: trades not read (SWEEPS_REQUIRE_ISO)")),
            (NO_ISO, Err("trades show no ISO print (SWEEPS_REQUIRE_ISO)")),
            (
                ONE_VENUE,
                Err(
                    "not a sweep: 2 ISO print(s) on 1 venue(s), fewer than SWEEPS_MIN_EXCHANGES=2 (SWEEPS_REQUIRE_ISO)",
                ),
            ),
        ];
        for (confirmation, want) in cases {
            let got = evaluate(&cfg, &ev, confirmation).map(|h| (h.score, build_alert(&h, &ev).label));
            let want = want.map(|(s, l)| (s, l.to_string())).map_err(Suppressed::new);
            assert_eq!(got, want, "{confirmation:?}");
        }
        // A score that fails even with the ISO part says so first; one the
        // ISO part would carry is judged on the sweep.
        let low = event(50_000.0, 30, 599.6, Some(1000.0), Ask);
        let got = evaluate(&cfg, &low, None).unwrap_err().reason;
        assert!(got.starts_with("score=44.99 below min_score=60"), "{got}");
        let needs_iso = event(50_000.0, 30, 4000.0, Some(0.0), Ask);
        let got = evaluate(&cfg, &needs_iso, ONE_VENUE).unwrap_err().reason;
        assert!(got.starts_with("not a sweep: 2 ISO print(s) on 1 venue(s)"), "{got}");
        assert_eq!(evaluate(&cfg, &needs_iso, ISO).map(|h| h.score), Ok(70.0));
        // A higher minimum asks for more venues than two.
        let three = SweepsConfig { min_exchanges: 3, ..cfg };
        assert!(evaluate(&three, &ev, ISO).is_err());
        let four = Some(Confirmation { iso_prints: 4, exchanges: 3, unknown_exchange: false });
        assert!(evaluate(&three, &ev, four).is_ok());
    }

    #[test]
    fn alert_carries_score_and_label() {
        let unknown_oi = vec![("Δvol/OI".to_string(), "unknown (no open interest), 0 points".to_string())];
        // (event, confirmation, score, label, notes)
        let cases = [
            (
                event(200_000.0, 30, 500.0, Some(1000.0), Side::Ask),
                ISO,
                77.5,
                "sweep confirmed: 3 ISO prints on 2 exchanges",
                vec![],
            ),
            (event(400_000.0, 30, 4000.0, None, Side::Ask), None, 60.0, "flow (unconfirmed)", unknown_oi.clone()),
            (event(400_000.0, 30, 4000.0, None, Side::Ask), NO_ISO, 60.0, "flow (unconfirmed)", unknown_oi.clone()),
            (
                event(400_000.0, 30, 4000.0, None, Side::Ask),
                ONE_VENUE,
                60.0,
                "flow (unconfirmed): 2 ISO prints on 1 exchange",
                unknown_oi,
            ),
            (
                event(200_000.0, 30, 500.0, Some(0.0), Side::Ask),
                None,
                75.0,
                "flow (unconfirmed)",
                vec![("vol/OI".to_string(), "vol > OI".to_string())],
            ),
        ];
        for (mut ev, confirmation, score, label, notes) in cases {
            ev.vol_exceeds_oi = ev.open_interest == Some(0.0);
            let hit = evaluate(&scoring(), &ev, confirmation).unwrap();
            let a = build_alert(&hit, &ev);
            assert_eq!(a.id, "sweeps:O:SPY251121C00670000:20251022T143015Z");
            assert_eq!((a.bot, a.ticker.as_str(), a.premium), (Bot::Sweeps, "SPY", Some(ev.premium)));
            assert_eq!((a.score, a.label.as_str()), (Some(score), label));
            assert_eq!(a.details.score_parts, hit.score_parts);
            assert_eq!(a.details.score_parts.iter().map(|(_, p)| p).sum::<f64>(), score);
            assert_eq!(a.details.notes, notes);
            assert_eq!((a.side, a.sentiment), (ev.side, ev.sentiment));
            assert_eq!((a.entry, a.stop, a.targets), (None, None, None));
        }
    }

    #[test]
    fn reads_its_settings() {
        let defaults = crate::config::Config::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(SweepsConfig::from_config(&defaults), SweepsConfig::default());
        let vars: BTreeMap<String, String> = [
            ("SWEEPS_MIN_PREMIUM", "75000"),
            ("SWEEPS_MIN_DTE", "0"),
            ("SWEEPS_MAX_DTE", "60"),
            ("MIN_SWEEP_SCORE", "70.5"),
            ("SWEEPS_CONFIRM_WITH_TRADES", "false"),
            ("SWEEPS_REQUIRE_ISO", "false"),
            ("SWEEPS_MIN_EXCHANGES", "3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = crate::config::Config::from_vars(&vars).unwrap();
        let want = SweepsConfig {
            min_premium: 75_000.0,
            min_dte: 0,
            max_dte: 60,
            min_score: 70.5,
            confirm_with_trades: false,
            require_iso: false,
            min_exchanges: 3,
        };
        assert_eq!(SweepsConfig::from_config(&c), want);
    }
}
