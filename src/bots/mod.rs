//! The alert families' rules, one module per bot, and what they share:
//! deterministic alert ids, near-miss reasons and sweep confirmation from an
//! option's own trades. All pure: the engine ([`crate::engine`]) runs them,
//! with the cooldown policy, on data the shell fetched.

pub mod breakouts;
pub mod bullseye;
pub mod darkpool;
pub mod golden_sweeps;
pub mod orakl_flow;
pub mod scalps;
pub mod strat;
pub mod sweeps;

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::alert::{Plan, Sentiment};
use crate::flow::{FlowEvent, UNCONFIRMED_LABEL};
use crate::job::Bot;

/// OPRA trade condition 219: intermarket sweep order (ISO).
pub const ISO_CONDITION: i64 = 219;

/// A deterministic alert id, `bot:instrument:event_key`, so the same event can
/// never be stored or posted twice (the outbox's primary key).
pub fn alert_id(bot: Bot, instrument: &str, event_key: &str) -> String {
    format!("{}:{instrument}:{event_key}", bot.as_str())
}

/// An instant as an id component: `20251022T143005Z` (second resolution; two
/// snapshots of one symbol are never less than a second apart).
pub fn time_key(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The id of `bot`'s alert on a flow event: the contract and the snapshot
/// time that revealed the volume.
pub fn flow_alert_id(bot: Bot, ev: &FlowEvent) -> String {
    alert_id(bot, &ev.contract, &time_key(ev.observed_at))
}

/// The id of `bot`'s alert on an order read from the trade tape: the
/// contract and its first print's SIP time, the same however often the
/// prints are read.
pub fn order_alert_id(bot: Bot, contract: &str, first_ns: i64) -> String {
    alert_id(bot, contract, &format!("print{first_ns}"))
}

/// A computed strike distance of exactly the limit (5% as 33.6/672) may
/// land a hair above it in floating point; that still counts as inside.
const DISTANCE_EPSILON: f64 = 1e-12;

/// Where a triggered setup can still be entered, given the spot at the
/// alert: its own trigger level while the spot has not reached it, else the
/// spot (the trigger fired earlier; a trader acting on the alert can only
/// buy or sell at the market now, and measuring from the old trigger would
/// credit the alert with a move that happened before it). A spot already at
/// the target or the stop leaves no trade. Returns the entry and, when the
/// spot replaced it, the passed trigger level.
pub fn market_entry(
    bullish: bool,
    spot: Option<f64>,
    trigger: f64,
    stop: f64,
    target: f64,
) -> Result<(f64, Option<f64>), Suppressed> {
    let Some(spot) = spot.filter(|s| s.is_finite() && *s > 0.0) else {
        return Ok((trigger, None));
    };
    let s = if bullish { 1.0 } else { -1.0 };
    if s * (spot - target) >= 0.0 {
        return Err(Suppressed::new(format!("target {target} already reached (spot {spot})")));
    }
    if s * (spot - stop) <= 0.0 {
        return Err(Suppressed::new(format!("stop {stop} already hit (spot {spot})")));
    }
    Ok(if s * (spot - trigger) > 0.0 { (spot, Some(trigger)) } else { (trigger, None) })
}

/// The direction an options family publishes: the side-derived sentiment
/// (SPEC §5: a call bought at the ask or a put sold at the bid is bullish, a
/// put bought at the ask or a call sold at the bid bearish). A fill at the
/// mid or without a usable quote has no direction, so no directional plan.
/// `Ok(true)` is bullish.
pub fn trade_direction(ev: &FlowEvent) -> Result<bool, Suppressed> {
    match ev.sentiment {
        Sentiment::Bullish => Ok(true),
        Sentiment::Bearish => Ok(false),
        Sentiment::Neutral => Err(Suppressed::new(format!("no trade direction (side {:?})", ev.side).to_lowercase())),
    }
}

/// `plan` as it is published, when it is worth taking: its levels on the
/// price tick of [`crate::alert::tick`] — the entry to the nearest tick, the
/// stop toward the entry and the targets away from it, so rounding never
/// lowers the reward:risk a trader reads — and its reward:risk at that entry
/// ([`Plan::meets`]) at least `min_reward_risk` (`MIN_REWARD_RISK`).
/// Otherwise why not, with the levels.
pub fn plan_worth_taking(plan: &Plan, min_reward_risk: f64) -> Result<Plan, Suppressed> {
    let Some(first) = plan.targets.first().copied() else {
        return Err(Suppressed::new("plan without a target"));
    };
    let (long, _) = Plan::shape(plan.entry, plan.stop, first);
    // Long: the stop rounds up toward the entry, the targets up away from
    // it; short: both down.
    let outward = |x: f64| tick_rounded(x, long);
    let published = Plan {
        entry: crate::alert::tick(plan.entry),
        stop: outward(plan.stop),
        targets: plan.targets.iter().map(|t| outward(*t)).collect(),
    };
    if published.meets(min_reward_risk) {
        return Ok(published);
    }
    let rr = published
        .reward_risk()
        .map_or_else(|| "none (the stop is not on the losing side of the entry)".to_string(), |r| format!("{r:.2}"));
    Err(Suppressed::new(format!(
        "reward:risk {rr} below min_reward_risk={min_reward_risk} (entry {} stop {} target {})",
        published.entry,
        published.stop,
        published.targets.first().copied().unwrap_or(f64::NAN)
    )))
}

/// Ticks per dollar at `price`, as [`crate::alert::tick`] rounds: cents from
/// $1 up, hundredths of a cent below.
fn ticks_per_dollar(price: f64) -> f64 {
    if price.abs() >= 1.0 { 100.0 } else { 10_000.0 }
}

/// `price` on its tick, rounded up or down. A price already on the tick
/// (up to floating-point noise) stays where it is.
fn tick_rounded(price: f64, up: bool) -> f64 {
    const NOISE: f64 = 1e-6;
    let per = ticks_per_dollar(price);
    let ticks = price * per;
    let r = if up { (ticks - NOISE).ceil() } else { (ticks + NOISE).floor() };
    r / per
}

/// The options rules' shared checks, with the messages the logs show.
pub fn check_premium(ev: &FlowEvent, min_premium: f64) -> Result<(), Suppressed> {
    if ev.premium.is_nan() || ev.premium < min_premium {
        return Err(Suppressed::new(format!("premium={:.0} below min_premium={:.0}", ev.premium, min_premium)));
    }
    Ok(())
}

/// DTE within `min..=max`, both inclusive.
pub fn check_dte(ev: &FlowEvent, min_dte: i64, max_dte: i64) -> Result<(), Suppressed> {
    if ev.dte < min_dte || ev.dte > max_dte {
        return Err(Suppressed::new(format!("dte={} outside {min_dte}..={max_dte}", ev.dte)));
    }
    Ok(())
}

/// Strike distance known and at most `max` (inclusive); returns it.
pub fn check_strike_distance(ev: &FlowEvent, max: f64) -> Result<f64, Suppressed> {
    let Some(distance) = ev.strike_distance else {
        return Err(Suppressed::new("strike_distance unknown (no spot)"));
    };
    if distance.is_nan() || distance > max + DISTANCE_EPSILON {
        return Err(Suppressed::new(format!("strike_distance={distance:.4} above max_strike_distance={max}")));
    }
    Ok(distance)
}

/// Why a candidate did not become an alert; logged at `debug` so a threshold
/// can be tuned from the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// `key=value` text naming the failed rule, e.g.
    /// `premium=999999 below min_premium=1000000`.
    pub reason: String,
}

impl Suppressed {
    pub fn new(reason: impl Into<String>) -> Self {
        Suppressed { reason: reason.into() }
    }
}

impl fmt::Display for Suppressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// One option trade from `/v3/trades/O:...`, in the units confirmation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionPrint {
    pub conditions: Vec<i64>,
    pub exchange: Option<i64>,
    pub size: f64,
    /// Nanoseconds since the epoch.
    pub sip_timestamp: i64,
}

/// How much of the window's trading was intermarket sweeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confirmation {
    /// Prints carrying condition 219.
    pub iso_prints: usize,
    /// Distinct exchange ids among those prints.
    pub exchanges: usize,
    /// Some of those prints carry no exchange id.
    pub unknown_exchange: bool,
}

impl Confirmation {
    /// The venues the ISO prints reached: the distinct exchanges, and the
    /// prints without an exchange id as one more at most (they may all be
    /// one venue, and may be one already counted).
    pub fn venues(&self) -> usize {
        self.exchanges + usize::from(self.unknown_exchange)
    }

    /// The one rule of what a sweep is: an intermarket sweep is one order
    /// routed across several venues at once, so its ISO prints reach at
    /// least `min_exchanges` (`SWEEPS_MIN_EXCHANGES`) of them. A lone ISO
    /// print on one exchange is a large order's fill, not a sweep.
    pub fn is_sweep(&self, min_exchanges: usize) -> bool {
        self.iso_prints > 0 && self.venues() >= min_exchanges.max(1)
    }

    /// The alert's honest label: `sweep confirmed: 4 ISO prints on 3
    /// exchanges` for a sweep; ISO prints on fewer venues are flow, and the
    /// label says what the trades showed (`flow (unconfirmed): 1 ISO print
    /// on 1 exchange`); no ISO print at all is plain unconfirmed flow.
    pub fn label(&self, min_exchanges: usize) -> String {
        if self.iso_prints == 0 {
            return UNCONFIRMED_LABEL.to_string();
        }
        let prints = if self.iso_prints == 1 { "print" } else { "prints" };
        let venues = match (self.exchanges, self.unknown_exchange) {
            (0, _) => "on an unknown exchange".to_string(),
            (1, false) => "on 1 exchange".to_string(),
            (n, false) => format!("on {n} exchanges"),
            (n, true) => format!("on {} exchanges (1 unknown)", n + 1),
        };
        let seen = format!("{} ISO {prints} {venues}", self.iso_prints);
        if self.is_sweep(min_exchanges) {
            format!("{CONFIRMED_LABEL}: {seen}")
        } else {
            format!("{UNCONFIRMED_LABEL}: {seen}")
        }
    }
}

/// How every confirmed sweep's label begins.
const CONFIRMED_LABEL: &str = "sweep confirmed";

/// How a block's label begins: an order from the trade tape whose one print
/// alone is large, not a sweep (the prints lane, `orders::OrderKind::Block`).
pub const BLOCK_LABEL: &str = "block";

/// Whether an alert's label says its order was a block.
pub fn label_is_block(label: &str) -> bool {
    label.starts_with(BLOCK_LABEL)
}

/// Whether an alert's label says ISO prints confirmed a sweep: only then may
/// its title call it one (SPEC §5).
pub fn label_confirms_sweep(label: &str) -> bool {
    label.starts_with(CONFIRMED_LABEL)
}

/// Sweeps and Golden Sweeps post sweeps: with `required`
/// (`SWEEPS_REQUIRE_ISO`) a candidate posts only when its trades were read
/// and show a sweep on at least `min_exchanges` venues. Trades not read
/// (confirmation off; the engine names the cap and a failed request itself)
/// are no confirmation either. Without `required` anything posts, labelled
/// by what is known.
pub fn check_sweep(required: bool, min_exchanges: usize, confirmation: Option<Confirmation>) -> Result<(), Suppressed> {
    if !required {
        return Ok(());
    }
    match confirmation {
        Some(c) if c.is_sweep(min_exchanges) => Ok(()),
        Some(c) if c.iso_prints == 0 => Err(Suppressed::new("trades show no ISO print (SWEEPS_REQUIRE_ISO)")),
        Some(c) => Err(Suppressed::new(format!(
            "not a sweep: {} ISO print(s) on {} venue(s), fewer than SWEEPS_MIN_EXCHANGES={min_exchanges} (SWEEPS_REQUIRE_ISO)",
            c.iso_prints,
            c.venues()
        ))),
        None => Err(Suppressed::new("not confirmed: trades not read (SWEEPS_REQUIRE_ISO)")),
    }
}

/// The label for an alert whose trades may not have been fetched.
pub fn confirmation_label(confirmation: Option<Confirmation>, min_exchanges: usize) -> String {
    confirmation.map_or_else(|| UNCONFIRMED_LABEL.to_string(), |c| c.label(min_exchanges))
}

/// Counts the ISO prints among `trades` (already narrowed to the window since
/// the previous observation by the request) and the exchanges they hit.
pub fn sweep_confirmation(trades: &[OptionPrint]) -> Confirmation {
    let iso: Vec<&OptionPrint> = trades.iter().filter(|t| t.conditions.contains(&ISO_CONDITION)).collect();
    let exchanges: BTreeSet<i64> = iso.iter().filter_map(|t| t.exchange).collect();
    Confirmation {
        iso_prints: iso.len(),
        exchanges: exchanges.len(),
        unknown_exchange: iso.iter().any(|t| t.exchange.is_none()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ids_are_deterministic() {
        let cases = [
            (
                Bot::GoldenSweeps,
                "O:SPY251121C00670000",
                "2025-10-22T14:30:05Z",
                "golden_sweeps:O:SPY251121C00670000:20251022T143005Z",
            ),
            (
                Bot::Sweeps,
                "O:SPXW251022P05800000",
                "2025-10-22T19:59:59.900Z",
                "sweeps:O:SPXW251022P05800000:20251022T195959Z",
            ),
        ];
        for (bot, instrument, t, want) in cases {
            assert_eq!(alert_id(bot, instrument, &time_key(at(t))), want);
        }
        assert_eq!(alert_id(Bot::Darkpool, "SPY", "print-12345"), "darkpool:SPY:print-12345");
    }

    fn print(conditions: &[i64], exchange: Option<i64>) -> OptionPrint {
        OptionPrint { conditions: conditions.to_vec(), exchange, size: 10.0, sip_timestamp: 0 }
    }

    #[test]
    fn sweep_confirmation_table() {
        // (prints, iso prints, venues, is a sweep at the default minimum of 2, label)
        let cases = [
            (vec![], 0, 0, false, "flow (unconfirmed)"),
            (vec![print(&[209], Some(1)), print(&[], Some(2))], 0, 0, false, "flow (unconfirmed)"),
            // One ISO print on one exchange is a fill, not a sweep.
            (vec![print(&[219], Some(5))], 1, 1, false, "flow (unconfirmed): 1 ISO print on 1 exchange"),
            (
                vec![print(&[219], Some(5)), print(&[219], Some(5)), print(&[209], Some(7))],
                2,
                1,
                false,
                "flow (unconfirmed): 2 ISO prints on 1 exchange",
            ),
            (
                vec![print(&[219], Some(5)), print(&[209, 219], Some(7))],
                2,
                2,
                true,
                "sweep confirmed: 2 ISO prints on 2 exchanges",
            ),
            (
                vec![
                    print(&[219], Some(5)),
                    print(&[209, 219], Some(7)),
                    print(&[219], Some(5)),
                    print(&[219], Some(9)),
                    print(&[233], Some(11)),
                ],
                4,
                3,
                true,
                "sweep confirmed: 4 ISO prints on 3 exchanges",
            ),
            // Prints without an exchange id are one unknown venue at most.
            (
                vec![print(&[219], None), print(&[219], None)],
                2,
                1,
                false,
                "flow (unconfirmed): 2 ISO prints on an unknown exchange",
            ),
            (
                vec![print(&[219], None), print(&[219], Some(4)), print(&[219], None)],
                3,
                2,
                true,
                "sweep confirmed: 3 ISO prints on 2 exchanges (1 unknown)",
            ),
        ];
        for (prints, iso, venues, sweep, label) in cases {
            let c = sweep_confirmation(&prints);
            assert_eq!((c.iso_prints, c.venues(), c.is_sweep(2), c.label(2).as_str()), (iso, venues, sweep, label));
            assert_eq!(label_confirms_sweep(&c.label(2)), sweep, "{c:?}");
            // A minimum of 1 is any ISO print; above the venues seen, none.
            assert_eq!(c.is_sweep(1), iso > 0, "{c:?}");
            assert!(!c.is_sweep(venues + 1), "{c:?}");
        }
        assert_eq!(confirmation_label(None, 2), "flow (unconfirmed)");
        let one = Confirmation { iso_prints: 1, exchanges: 1, unknown_exchange: false };
        assert_eq!(one.label(1), "sweep confirmed: 1 ISO print on 1 exchange");
        assert!(!label_confirms_sweep("flow (unconfirmed), 3 hits at the ask in 30 min totalling $60,000"));
    }

    #[test]
    fn direction_is_the_sentiment() {
        use crate::alert::Side;
        let mut ev = crate::flow::test_event();
        assert_eq!(trade_direction(&ev), Ok(true));
        (ev.side, ev.sentiment) = (Side::Bid, Sentiment::Bearish);
        assert_eq!(trade_direction(&ev), Ok(false));
        for side in [Side::Mid, Side::Unknown] {
            (ev.side, ev.sentiment) = (side, Sentiment::Neutral);
            let want = format!("no trade direction (side {side:?})").to_lowercase();
            assert_eq!(trade_direction(&ev), Err(Suppressed::new(want)));
        }
    }

    #[test]
    fn published_plans_round_without_losing_reward() {
        let plan = |entry: f64, stop: f64, targets: &[f64]| Plan { entry, stop, targets: targets.to_vec() };
        // (plan, min, published levels or reason)
        let cases: Vec<(Plan, f64, Result<Plan, &str>)> = vec![
            // Exactly 1:1 stays 1:1 after rounding: the stop toward the
            // entry, the target away from it (a nearest rounding would make
            // this 1.00 of reward against 1.01 of risk).
            (plan(100.0, 98.995, &[101.005]), 1.0, Ok(plan(100.0, 99.0, &[101.01]))),
            (plan(100.0, 101.005, &[98.995]), 1.0, Ok(plan(100.0, 101.0, &[98.99]))),
            // Already on the tick: unchanged.
            (plan(421.85, 417.85, &[425.85, 429.85]), 1.0, Ok(plan(421.85, 417.85, &[425.85, 429.85]))),
            // Below a dollar the tick is a hundredth of a cent.
            (plan(0.5, 0.45004, &[0.55001]), 1.0, Ok(plan(0.5, 0.4501, &[0.5501]))),
            // 0.04 of reward for 2.57 of risk (a passed trigger entered at
            // the market) is no plan.
            (
                plan(674.62, 677.19, &[674.52]),
                1.0,
                Err("reward:risk 0.04 below min_reward_risk=1 (entry 674.62 stop 677.19 target 674.52)"),
            ),
            (plan(100.0, 99.0, &[101.5]), 1.5, Ok(plan(100.0, 99.0, &[101.5]))),
            (
                plan(100.0, 99.0, &[101.49]),
                1.5,
                Err("reward:risk 1.49 below min_reward_risk=1.5 (entry 100 stop 99 target 101.49)"),
            ),
            (
                plan(100.0, 100.0, &[101.0]),
                1.0,
                Err(
                    "reward:risk none (the stop is not on the losing side of the entry) below min_reward_risk=1 (entry 100 stop 100 target 101)",
                ),
            ),
            (plan(100.0, 99.0, &[]), 1.0, Err("plan without a target")),
        ];
        for (p, min, want) in cases {
            let got = plan_worth_taking(&p, min).map_err(|s| s.reason);
            assert_eq!(got, want.map_err(str::to_string), "{p:?} min {min}");
        }
        // The tick is alert::tick's.
        for x in [0.123456, 0.99994, 1.0, 12.345, 674.625] {
            assert_eq!(
                crate::alert::tick(x) * ticks_per_dollar(x),
                (crate::alert::tick(x) * ticks_per_dollar(x)).round()
            );
        }
    }

    #[test]
    fn a_sweep_family_posts_only_confirmed_sweeps_when_required() {
        let sweep = Some(Confirmation { iso_prints: 3, exchanges: 2, unknown_exchange: false });
        let one_venue = Some(Confirmation { iso_prints: 2, exchanges: 1, unknown_exchange: false });
        let none = Some(Confirmation::default());
        // (required, min exchanges, confirmation, reason or Ok)
        let cases = [
            (true, 2, sweep, Ok(())),
            (
                true,
                3,
                sweep,
                Err(
                    "not a sweep: 3 ISO print(s) on 2 venue(s), fewer than SWEEPS_MIN_EXCHANGES=3 (SWEEPS_REQUIRE_ISO)",
                ),
            ),
            (
                true,
                2,
                one_venue,
                Err(
                    "not a sweep: 2 ISO print(s) on 1 venue(s), fewer than SWEEPS_MIN_EXCHANGES=2 (SWEEPS_REQUIRE_ISO)",
                ),
            ),
            (true, 1, one_venue, Ok(())),
            (true, 2, none, Err("trades show no ISO print (SWEEPS_REQUIRE_ISO)")),
            // Trades not read are no confirmation.
            (true, 2, None, Err("not confirmed: trades not read (SWEEPS_REQUIRE_ISO)")),
            (false, 2, None, Ok(())),
            (false, 2, none, Ok(())),
            (false, 2, one_venue, Ok(())),
        ];
        for (required, min, c, want) in cases {
            let got = check_sweep(required, min, c).map_err(|s| s.reason);
            assert_eq!(got, want.map_err(str::to_string), "required {required} min {min} {c:?}");
        }
    }

    #[test]
    fn suppressed_displays_its_reason() {
        assert_eq!(Suppressed::new("dte=0 outside 1..=180").to_string(), "dte=0 outside 1..=180");
    }
}
