//! Scalps (`scalps`): near-the-money short-dated flow that lines up with an
//! intraday Strat trigger on the underlying.
//!
//! Rule (SPEC §6): premium ≥ `SCALPS_MIN_PREMIUM`, DTE within
//! [`SCALPS_MIN_DTE`, `SCALPS_MAX_DTE`], strike distance ≤
//! `SCALPS_MAX_STRIKE_DISTANCE`, and on the underlying's 5-minute bars a
//! Strat trigger (2-1-2, 3-1-2, 1-2-2 or 2-2) in the trade's direction among
//! the last 3 closed bars — bullish for calls, bearish for puts — with
//! RSI(`SCALPS_RSI_PERIOD`, Wilder) in [50, 70] for calls and [30, 50] for
//! puts. The bands are inclusive at both edges: 50 is the neutral line both
//! directions may start from, and 70/30 are where the usual overbought and
//! oversold readings begin, so a reading exactly there is still in play.
//!
//! The trigger must be fresh (issue #16): the flow's print comes after the
//! trigger bar closed and at most `SCALPS_MAX_TRIGGER_AGE_SECONDS` (≤ 300)
//! later, so the trigger is the latest closed bar when the flow comes. Among
//! the last 3 bars the SPEC allows, an older trigger admitted every
//! qualifying print for up to 15 minutes; the flow that confirms a trigger
//! comes as it fires.
//!
//! The bars, the Strat detector and the RSI live elsewhere; the caller fills
//! a [`ScalpContext`] from them, after [`screen`] has passed (the bars cost a
//! request). The plan is the setup's own, in underlying terms: entry at the
//! trigger level, stop at the setup bar's other extreme, target 2:1 — except
//! that a spot already past the trigger is the entry (the trade can only be
//! taken at the market now), and a spot already at the target or the stop
//! is no scalp.
//!
//! The trade's direction is its sentiment ([`bots::trade_direction`]): a
//! call sold at the bid is a bearish trade with a short plan, and a fill
//! without a side is no scalp. Every published plan has reward:risk of at
//! least `MIN_REWARD_RISK` at the entry it publishes ([`ScalpEntry`]): a
//! setup entered at the market after its trigger passed keeps less of the
//! 2:1 the more the spot ran, and once the market entry no longer holds it
//! the plan is a limit order back at the trigger instead — which outcomes
//! count only if the price touches it after the alert, so the plan never
//! takes credit for the run it missed ([`bots::plan_worth_taking`]). No new
//! scalp from
//! `SCALPS_EOD_CUTOFF` (ET, default 15:45) on: a same-day setup alerted in
//! the last minutes has no session left to reach its target.
//!
//! SPEC §6 defines no score for this bot, so its alerts carry none.

use chrono::{DateTime, TimeDelta, Timelike, Utc};

use crate::alert::{Alert, Plan, Sentiment};
use crate::bots::{
    self, Suppressed, check_dte, check_premium, check_strike_distance, flow_alert_id, market_entry, plan_worth_taking,
};
use crate::calendar::MARKET_TZ;
use crate::flow::FlowEvent;
use crate::job::Bot;
use crate::strat::Pattern;

/// Thresholds, defaults from the seeds; each is an environment variable.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalpsConfig {
    /// `SCALPS_MIN_PREMIUM`, dollars.
    pub min_premium: f64,
    /// `SCALPS_MIN_DTE`, calendar days, inclusive.
    pub min_dte: i64,
    /// `SCALPS_MAX_DTE`, calendar days, inclusive.
    pub max_dte: i64,
    /// `SCALPS_MAX_STRIKE_DISTANCE`, a fraction of spot, inclusive.
    pub max_strike_distance: f64,
    /// `SCALPS_RSI_PERIOD`: the period the caller computes RSI with.
    pub rsi_period: usize,
    /// `SCALPS_EOD_CUTOFF`: no new scalp from this ET time on, in minutes
    /// after midnight.
    pub eod_cutoff_minutes: i64,
    /// `MIN_REWARD_RISK`: the least reward:risk a published plan has.
    pub min_reward_risk: f64,
    /// `SCALPS_MAX_TRIGGER_AGE_SECONDS`: the flow must be observed at most
    /// this long after its trigger bar closed (inclusive).
    pub max_trigger_age_seconds: i64,
    /// `SCALPS_MIN_VOLUME_PACE`: the trigger bar's volume at least this many
    /// times the stock's usual volume for five minutes (0 is off).
    pub min_volume_pace: f64,
    /// `SCALPS_PATTERNS`: the Strat triggers a scalp may ride, in
    /// [`Pattern::PRIORITY`] order.
    pub patterns: Vec<Pattern>,
}

/// `SCALPS_PATTERNS`' default: the 3-1-2 alone. On 5-minute bars the other
/// triggers are everyday bars, not setups (see the README's Scalps section).
pub const DEFAULT_PATTERNS: [Pattern; 1] = [Pattern::ThreeOneTwo];

/// Parses `SCALPS_PATTERNS`, a comma list of the Scalps triggers (3-1-2,
/// 2-1-2, 1-2-2, 2-2).
pub fn parse_patterns(value: &str) -> Result<Vec<Pattern>, String> {
    crate::strat::parse_patterns(value, &Pattern::SCALPS)
}

impl Default for ScalpsConfig {
    fn default() -> Self {
        ScalpsConfig {
            min_premium: 2_000.0,
            min_dte: 0,
            max_dte: 7,
            max_strike_distance: 0.03,
            rsi_period: 14,
            eod_cutoff_minutes: 15 * 60 + 45,
            min_reward_risk: 1.0,
            max_trigger_age_seconds: 300,
            min_volume_pace: crate::bots::strat::DEFAULT_MIN_VOLUME_PACE,
            patterns: DEFAULT_PATTERNS.to_vec(),
        }
    }
}

impl ScalpsConfig {
    /// The thresholds as configured (validated ranges come from `SETTINGS`).
    pub fn from_config(c: &crate::config::Config) -> Self {
        ScalpsConfig {
            min_premium: c.tunables.scalps_min_premium,
            min_dte: c.tunables.scalps_min_dte,
            max_dte: c.tunables.scalps_max_dte,
            max_strike_distance: c.tunables.scalps_max_strike_distance,
            rsi_period: c.tunables.scalps_rsi_period.max(1) as usize,
            eod_cutoff_minutes: c.tunables.scalps_eod_cutoff,
            min_reward_risk: c.tunables.min_reward_risk,
            max_trigger_age_seconds: c.tunables.scalps_max_trigger_age_seconds,
            min_volume_pace: c.tunables.scalps_min_volume_pace,
            patterns: c.scalps_patterns.clone(),
        }
    }
}

/// RSI band for calls, inclusive.
pub const CALL_RSI: (f64, f64) = (50.0, 70.0);
/// RSI band for puts, inclusive.
pub const PUT_RSI: (f64, f64) = (30.0, 50.0);

/// A Strat trigger the detector found among the last 3 closed 5-minute bars,
/// with its levels in underlying terms and when its bar closed.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// The detector's pattern.
    pub pattern: Pattern,
    /// The trigger bar broke up (2U) rather than down (2D).
    pub bullish: bool,
    /// The setup bar's high (bullish) or low (bearish).
    pub entry: f64,
    /// The setup bar's other extreme.
    pub stop: f64,
    /// 2:1 reward to risk from the entry.
    pub target: f64,
    /// When the trigger bar closed: the setup exists from then on.
    pub closed_at: DateTime<Utc>,
    /// The trigger bar's volume against the stock's usual for five minutes
    /// (`bots::strat::volume_pace`); None without 20 sessions of history.
    pub volume_pace: Option<f64>,
}

/// What the underlying's 5-minute bars say, filled in by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScalpContext {
    /// RSI(period, Wilder) on closed bars; None with too few bars.
    pub rsi: Option<f64>,
    /// The most recent trigger among the last 3 closed bars, if any.
    pub trigger: Option<Trigger>,
}

impl ScalpContext {
    /// The context for `ev` from the symbol's latest trigger each way: the
    /// trigger must point the trade's way (its sentiment), so a neutral
    /// trade has none. [`evaluate`] checks the same agreement again for a
    /// context built by hand.
    pub fn for_event(ev: &FlowEvent, rsi: Option<f64>, bull: Option<&Trigger>, bear: Option<&Trigger>) -> Self {
        let trigger = match ev.sentiment {
            Sentiment::Bullish => bull.cloned(),
            Sentiment::Bearish => bear.cloned(),
            Sentiment::Neutral => None,
        };
        ScalpContext { rsi, trigger }
    }
}

/// How a scalp's plan is entered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScalpEntry {
    /// On a move through the trigger, which the spot has not reached.
    Trigger,
    /// At the market (the spot): it had passed the `trigger` and still
    /// held `MIN_REWARD_RISK` from there.
    Market { trigger: f64 },
    /// A limit order back at the trigger: the `spot` had run past it too far
    /// for a market entry to hold `MIN_REWARD_RISK`.
    Limit { spot: f64 },
}

/// A scalp: the trigger it rode and its plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalpsHit {
    pub pattern: Pattern,
    pub bullish: bool,
    /// When the trigger bar closed.
    pub closed_at: DateTime<Utc>,
    /// Seconds from that close to the flow's print.
    pub age: f64,
    pub rsi: f64,
    /// Underlying terms: entry, stop, targets [target], on the tick.
    pub plan: Plan,
    pub entry: ScalpEntry,
}

/// The parts of the rule that need no bars: the cutoff, premium, DTE,
/// strike distance.
pub fn screen(cfg: &ScalpsConfig, ev: &FlowEvent) -> Result<(), Suppressed> {
    let et = ev.observed_at.with_timezone(&MARKET_TZ);
    if i64::from(et.hour() * 60 + et.minute()) >= cfg.eod_cutoff_minutes {
        let cutoff = format!("{:02}:{:02}", cfg.eod_cutoff_minutes / 60, cfg.eod_cutoff_minutes % 60);
        return Err(Suppressed::new(format!("et_time={} at or after eod_cutoff={cutoff}", et.format("%H:%M"))));
    }
    check_premium(ev, cfg.min_premium)?;
    check_dte(ev, cfg.min_dte, cfg.max_dte)?;
    check_strike_distance(ev, cfg.max_strike_distance)?;
    Ok(())
}

fn direction(bullish: bool) -> &'static str {
    if bullish { "bullish" } else { "bearish" }
}

/// The flow rides the trigger only as it fires: its print must come after
/// the trigger bar closed and at most `SCALPS_MAX_TRIGGER_AGE_SECONDS` after
/// that (inclusive). Flow from before the close came before the setup
/// existed; flow long after it is the background trading on, not the
/// trigger's confirmation. The setting is at most one bar (300 s), so a
/// fresh trigger is the latest closed 5-minute bar when the print comes.
///
/// The print is the contract's last trade in the snapshot, the one that
/// gave the event its side (and so its direction): its SIP time says when
/// the flow came whatever the pace the bot looks at the chain (every 30 s
/// with a few symbols, every ~5 minutes with 200), where the span between
/// two looks would not.
///
/// The flow's age (seconds after the close) when fresh.
fn fresh(cfg: &ScalpsConfig, ev: &FlowEvent, t: &Trigger) -> Result<f64, Suppressed> {
    let et = |at: DateTime<Utc>| at.with_timezone(&MARKET_TZ).format("%H:%M:%S%.3f ET").to_string();
    let Some(printed) = ev.last_trade.map(|tr| DateTime::from_timestamp_nanos(tr.at_ns)) else {
        return Err(Suppressed::new("no last trade to time the flow against its trigger"));
    };
    if printed <= t.closed_at {
        return Err(Suppressed::new(format!(
            "flow printed at {}, before its trigger bar closed at {}",
            et(printed),
            et(t.closed_at)
        )));
    }
    let age = printed - t.closed_at;
    if age > TimeDelta::seconds(cfg.max_trigger_age_seconds) {
        return Err(Suppressed::new(format!(
            "trigger {} closed at {}, {} s before the flow printed: stale (SCALPS_MAX_TRIGGER_AGE_SECONDS={})",
            t.pattern.as_str(),
            et(t.closed_at),
            age.num_milliseconds() as f64 / 1000.0,
            cfg.max_trigger_age_seconds
        )));
    }
    Ok(age.num_milliseconds() as f64 / 1000.0)
}

/// Whether `ev` is a scalp given the underlying's bars; otherwise the first
/// rule it failed.
pub fn evaluate(cfg: &ScalpsConfig, ev: &FlowEvent, ctx: &ScalpContext) -> Result<ScalpsHit, Suppressed> {
    screen(cfg, ev)?;
    let Some(t) = &ctx.trigger else {
        return Err(Suppressed::new("no strat trigger in the last 3 closed 5m bars"));
    };
    // The trade's direction is its sentiment (a call bought at the ask is
    // bullish, a call sold at the bid bearish); without a side there is no
    // direction to agree with, so no scalp. The RSI band follows it: the
    // call band for a bullish trade, the put band for a bearish one.
    let wants_bullish = bots::trade_direction(ev)?;
    let (kind, (rsi_lo, rsi_hi)) = if wants_bullish { ("bullish trade", CALL_RSI) } else { ("bearish trade", PUT_RSI) };
    if t.bullish != wants_bullish {
        return Err(Suppressed::new(format!(
            "trigger {} is {}, a {kind} needs {}",
            t.pattern.as_str(),
            direction(t.bullish),
            direction(wants_bullish)
        )));
    }
    // Only the configured triggers (3-2-2 never: SPEC §6 lists it for the
    // STRAT bot, not for scalps).
    if !cfg.patterns.contains(&t.pattern) {
        let names: Vec<&str> = cfg.patterns.iter().map(|p| p.as_str()).collect();
        return Err(Suppressed::new(format!(
            "pattern {} is not in SCALPS_PATTERNS ({})",
            t.pattern.as_str(),
            names.join(", ")
        )));
    }
    let age = fresh(cfg, ev, t)?;
    // The same volume gate as STRAT's: a break on ordinary volume is the
    // 5-minute chart's everyday back-and-forth, not a setup.
    crate::bots::strat::check_volume_pace(t.volume_pace, cfg.min_volume_pace, "SCALPS_MIN_VOLUME_PACE")?;
    // A trigger whose levels do not bracket the entry in its direction has
    // no risk to size or no reward to take; publishing it would mislead.
    let ordered =
        if t.bullish { t.stop < t.entry && t.entry < t.target } else { t.target < t.entry && t.entry < t.stop };
    if !ordered {
        return Err(Suppressed::new(format!(
            "trigger levels out of order (entry={} stop={} target={})",
            t.entry, t.stop, t.target
        )));
    }
    let Some(rsi) = ctx.rsi else {
        return Err(Suppressed::new("rsi unknown (too few bars)"));
    };
    if rsi.is_nan() || rsi < rsi_lo || rsi > rsi_hi {
        return Err(Suppressed::new(format!("rsi={rsi:.2} outside {rsi_lo}..={rsi_hi} for a {kind}")));
    }
    let (entry, passed_trigger) = market_entry(t.bullish, ev.spot, t.entry, t.stop, t.target)?;
    let setup =
        |entry: f64| plan_worth_taking(&Plan { entry, stop: t.stop, targets: vec![t.target] }, cfg.min_reward_risk);
    let (plan, entry) = match (setup(entry), passed_trigger) {
        (Ok(plan), None) => (plan, ScalpEntry::Trigger),
        (Ok(plan), Some(trigger)) => (plan, ScalpEntry::Market { trigger }),
        // The spot ran too far for the market: a limit back at the trigger.
        (Err(_), Some(trigger)) => (setup(trigger)?, ScalpEntry::Limit { spot: entry }),
        (Err(s), None) => return Err(s),
    };
    Ok(ScalpsHit { pattern: t.pattern, bullish: t.bullish, closed_at: t.closed_at, age, rsi, plan, entry })
}

/// The Scalps alert: every field the event knows, the setup's plan in
/// underlying terms, the pattern and the RSI. The label stays an honest
/// "flow": this bot does not fetch trades.
pub fn build_alert(hit: &ScalpsHit, ev: &FlowEvent) -> Alert {
    let mut a = ev.to_alert(Bot::Scalps, flow_alert_id(Bot::Scalps, ev)).with_plan(&hit.plan);
    a.pattern = Some(hit.pattern.as_str().to_string());
    a.rsi = Some(hit.rsi);
    a.details.notes.push((
        "setup".to_string(),
        format!(
            "{} {} on the 5m bar closed {}, flow {:.0} s after; RSI {:.1}",
            hit.pattern.as_str(),
            direction(hit.bullish),
            hit.closed_at.with_timezone(&MARKET_TZ).format("%H:%M ET"),
            hit.age,
            hit.rsi
        ),
    ));
    // The levels are the plan fields; this says how the entry is taken.
    let through = if hit.bullish { "above" } else { "below" };
    let entry = match hit.entry {
        ScalpEntry::Trigger => format!("on a move {through} {:.2} (the trigger)", hit.plan.entry),
        ScalpEntry::Market { trigger } => {
            format!("at the market {:.2} (trigger {trigger:.2} already passed)", hit.plan.entry)
        }
        ScalpEntry::Limit { spot } => format!(
            "limit at {:.2}, the trigger: spot {spot:.2} ran too far past it to enter at the market; counts only if touched after the alert",
            hit.plan.entry
        ),
    };
    a.details.notes.push(("entry".to_string(), entry));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Sentiment;
    use crate::alert::{ContractType, Side};
    use crate::flow::{TradePoint, test_event};
    use std::collections::BTreeMap;

    /// A call that passes the flow part: $5k, 2 DTE, 1% from spot, its last
    /// trade 10 s after the test triggers' bar closed.
    fn call() -> FlowEvent {
        let mut ev = test_event();
        ev.premium = 5_000.0;
        ev.dte = 2;
        ev.strike_distance = Some(0.01);
        printed(ev, "2025-10-22T14:30:10Z")
    }

    /// `ev` with its last trade at `at`.
    fn printed(mut ev: FlowEvent, at: &str) -> FlowEvent {
        let at_ns = self::at(at).timestamp_nanos_opt().unwrap();
        ev.observation.last_trade = ev.last_trade.map(|t| TradePoint { at_ns, ..t });
        ev
    }

    fn put() -> FlowEvent {
        let mut ev = call();
        ev.contract = "O:SPY251024P00655000".to_string();
        ev.contract_type = ContractType::Put;
        ev.sentiment = Sentiment::Bearish;
        // Between the bearish trigger's stop (660) and its entry (658.5).
        ev.spot = Some(659.0);
        ev
    }

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        s.parse().unwrap()
    }

    /// When the test triggers' bar closed: 15 s before the test event was
    /// observed (14:30:15Z), a fresh trigger.
    fn closed() -> DateTime<Utc> {
        at("2025-10-22T14:30:00Z")
    }

    /// The bullish 2-1-2 context, its bar closed at `closed_at`.
    fn bull_closed(closed_at: &str) -> ScalpContext {
        ctx(Some(60.0), Some(Trigger { closed_at: at(closed_at), ..bull("2-1-2").unwrap() }))
    }

    fn with(mut ev: FlowEvent, f: impl FnOnce(&mut FlowEvent)) -> FlowEvent {
        f(&mut ev);
        ev
    }

    fn pattern(name: &str) -> Pattern {
        Pattern::PRIORITY.into_iter().find(|p| p.as_str() == name).expect("a pattern name")
    }

    fn bull(name: &str) -> Option<Trigger> {
        Some(Trigger {
            pattern: pattern(name),
            bullish: true,
            entry: 661.2,
            stop: 659.8,
            target: 664.0,
            closed_at: closed(),
            volume_pace: Some(2.5),
        })
    }

    fn bear(name: &str) -> Option<Trigger> {
        Some(Trigger {
            pattern: pattern(name),
            bullish: false,
            entry: 658.5,
            stop: 660.0,
            target: 655.5,
            closed_at: closed(),
            volume_pace: Some(2.5),
        })
    }

    fn ctx(rsi: Option<f64>, trigger: Option<Trigger>) -> ScalpContext {
        ScalpContext { rsi, trigger }
    }

    /// The rule with every Scalps trigger allowed (the default allows the
    /// 3-1-2 alone; most cases here use a 2-1-2).
    fn all() -> ScalpsConfig {
        ScalpsConfig { patterns: Pattern::SCALPS.to_vec(), ..ScalpsConfig::default() }
    }

    /// The expected (entry, stop, target) or reason.
    type Want = Result<(f64, f64, f64), &'static str>;

    /// `Ok((entry, stop, target))` or `Err(reason)`.
    fn check(ev: &FlowEvent, ctx: &ScalpContext, want: Want) {
        let got = evaluate(&all(), ev, ctx)
            .map(|h| (h.plan.entry, h.plan.stop, h.plan.targets.clone()))
            .map_err(|s| s.reason);
        let want = want.map(|(e, s, t)| (e, s, vec![t])).map_err(str::to_string);
        assert_eq!(got, want, "{} {ctx:?}", ev.contract);
    }

    #[test]
    fn the_trigger_bar_needs_volume() {
        let long = Ok((661.2, 659.8, 664.0));
        let paced = |pace| ctx(Some(60.0), Some(Trigger { volume_pace: pace, ..bull("2-1-2").unwrap() }));
        check(&call(), &paced(Some(2.0)), long);
        check(
            &call(),
            &paced(Some(1.4)),
            Err("trigger bar volume 1.40x the usual pace, below min_volume_pace=2 (SCALPS_MIN_VOLUME_PACE)"),
        );
        // Without 20 sessions of history the gate does not judge.
        check(&call(), &paced(None), long);
    }

    #[test]
    fn rule_edges() {
        let long = Ok((661.2, 659.8, 664.0));
        let short = Ok((658.5, 660.0, 655.5));
        let ok = ctx(Some(60.0), bull("2-1-2"));
        let cases: Vec<(FlowEvent, ScalpContext, Want)> = vec![
            (call(), ok.clone(), long),
            // The spot against the trigger's levels: past the trigger the
            // plan enters at the spot while that still holds 1R; at the
            // target or the stop, no trade.
            (with(call(), |e| e.spot = Some(661.5)), ok.clone(), Ok((661.5, 659.8, 664.0))),
            // 1:1 exactly at 661.90; a cent further is below 1R.
            (with(call(), |e| e.spot = Some(661.9)), ok.clone(), Ok((661.9, 659.8, 664.0))),
            (with(call(), |e| e.spot = Some(661.91)), ok.clone(), long),
            // Too far past for the market: a limit back at the trigger.
            (with(call(), |e| e.spot = Some(662.5)), ok.clone(), long),
            (with(call(), |e| e.spot = Some(664.0)), ok.clone(), Err("target 664 already reached (spot 664)")),
            (with(call(), |e| e.spot = Some(659.8)), ok.clone(), Err("stop 659.8 already hit (spot 659.8)")),
            (with(call(), |e| e.spot = None), ok.clone(), long),
            (with(put(), |e| e.spot = Some(658.0)), ctx(Some(40.0), bear("2-1-2")), Ok((658.0, 660.0, 655.5))),
            (with(put(), |e| e.spot = Some(657.0)), ctx(Some(40.0), bear("2-1-2")), short),
            (
                with(put(), |e| e.spot = Some(655.5)),
                ctx(Some(40.0), bear("2-1-2")),
                Err("target 655.5 already reached (spot 655.5)"),
            ),
            // No new scalp from the cutoff (15:45 ET) on, in either offset.
            (
                printed(with(call(), |e| e.observed_at = at("2025-10-22T19:44:59Z")), "2025-10-22T19:44:50Z"),
                bull_closed("2025-10-22T19:44:30Z"),
                long,
            ),
            (
                with(call(), |e| e.observed_at = at("2025-10-22T19:45:00Z")),
                ok.clone(),
                Err("et_time=15:45 at or after eod_cutoff=15:45"),
            ),
            (
                printed(with(call(), |e| e.observed_at = at("2025-12-03T20:44:59Z")), "2025-12-03T20:44:50Z"),
                bull_closed("2025-12-03T20:44:30Z"),
                long,
            ),
            (
                with(call(), |e| e.observed_at = at("2025-12-03T20:59:57Z")),
                ok.clone(),
                Err("et_time=15:59 at or after eod_cutoff=15:45"),
            ),
            // Premium.
            (with(call(), |e| e.premium = 2_000.0), ok.clone(), long),
            (with(call(), |e| e.premium = 1_999.0), ok.clone(), Err("premium=1999 below min_premium=2000")),
            // DTE, inclusive.
            (with(call(), |e| e.dte = 0), ok.clone(), long),
            (with(call(), |e| e.dte = 7), ok.clone(), long),
            (with(call(), |e| e.dte = 8), ok.clone(), Err("dte=8 outside 0..=7")),
            (with(call(), |e| e.dte = -1), ok.clone(), Err("dte=-1 outside 0..=7")),
            // Strike distance, inclusive.
            (with(call(), |e| e.strike_distance = Some(0.03)), ok.clone(), long),
            (with(call(), |e| e.strike_distance = Some(19.8 / 660.0)), ok.clone(), long),
            (
                with(call(), |e| e.strike_distance = Some(0.0301)),
                ok.clone(),
                Err("strike_distance=0.0301 above max_strike_distance=0.03"),
            ),
            (with(call(), |e| e.strike_distance = None), ok.clone(), Err("strike_distance unknown (no spot)")),
            // The trigger: present, in the trade's direction, a scalp pattern, sane levels.
            (call(), ctx(Some(60.0), None), Err("no strat trigger in the last 3 closed 5m bars")),
            (call(), ctx(Some(60.0), bear("2-1-2")), Err("trigger 2-1-2 is bearish, a bullish trade needs bullish")),
            // The direction is the trade's: a call sold at the bid is bearish,
            // and without a side there is no direction at all.
            (
                with(call(), |e| (e.side, e.sentiment) = (Side::Bid, Sentiment::Bearish)),
                ok.clone(),
                Err("trigger 2-1-2 is bullish, a bearish trade needs bearish"),
            ),
            (
                with(call(), |e| (e.side, e.sentiment, e.spot) = (Side::Bid, Sentiment::Bearish, Some(659.0))),
                ctx(Some(40.0), bear("2-1-2")),
                short,
            ),
            (
                with(call(), |e| (e.side, e.sentiment) = (Side::Mid, Sentiment::Neutral)),
                ok.clone(),
                Err("no trade direction (side mid)"),
            ),
            (put(), ctx(Some(40.0), bull("2-1-2")), Err("trigger 2-1-2 is bullish, a bearish trade needs bearish")),
            (call(), ctx(Some(60.0), bull("3-1-2")), long),
            (call(), ctx(Some(60.0), bull("1-2-2")), long),
            (call(), ctx(Some(60.0), bull("2-2")), long),
            (
                call(),
                ctx(Some(60.0), bull("3-2-2")),
                Err("pattern 3-2-2 is not in SCALPS_PATTERNS (3-1-2, 2-1-2, 1-2-2, 2-2)"),
            ),
            (
                call(),
                ctx(Some(60.0), Some(Trigger { stop: 661.2, ..bull("2-1-2").unwrap() })),
                Err("trigger levels out of order (entry=661.2 stop=661.2 target=664)"),
            ),
            (
                put(),
                ctx(Some(40.0), Some(Trigger { target: 659.0, ..bear("2-1-2").unwrap() })),
                Err("trigger levels out of order (entry=658.5 stop=660 target=659)"),
            ),
            // RSI bands, inclusive.
            (call(), ctx(Some(50.0), bull("2-1-2")), long),
            (call(), ctx(Some(70.0), bull("2-1-2")), long),
            (call(), ctx(Some(49.99), bull("2-1-2")), Err("rsi=49.99 outside 50..=70 for a bullish trade")),
            (call(), ctx(Some(70.01), bull("2-1-2")), Err("rsi=70.01 outside 50..=70 for a bullish trade")),
            (call(), ctx(None, bull("2-1-2")), Err("rsi unknown (too few bars)")),
            (call(), ctx(Some(f64::NAN), bull("2-1-2")), Err("rsi=NaN outside 50..=70 for a bullish trade")),
            (put(), ctx(Some(30.0), bear("2-1-2")), short),
            (put(), ctx(Some(50.0), bear("3-1-2")), short),
            (put(), ctx(Some(29.99), bear("2-1-2")), Err("rsi=29.99 outside 30..=50 for a bearish trade")),
            (put(), ctx(Some(50.01), bear("2-1-2")), Err("rsi=50.01 outside 30..=50 for a bearish trade")),
        ];
        for (ev, ctx, want) in cases {
            check(&ev, &ctx, want);
        }
    }

    #[test]
    fn a_scalp_rides_a_fresh_trigger() {
        // (the flow's last trade, the trigger bar's close,
        // SCALPS_MAX_TRIGGER_AGE_SECONDS, the reason if not a scalp);
        // 14:30Z is 10:30 ET.
        let cases = [
            ("14:30:10", "14:30:00", 60, None),
            ("14:31:00", "14:30:00", 60, None),
            (
                "14:31:00.001",
                "14:30:00",
                60,
                Some(
                    "trigger 2-1-2 closed at 10:30:00.000 ET, 60.001 s before the flow printed: stale (SCALPS_MAX_TRIGGER_AGE_SECONDS=60)",
                ),
            ),
            (
                "14:40:00",
                "14:30:00",
                60,
                Some(
                    "trigger 2-1-2 closed at 10:30:00.000 ET, 600 s before the flow printed: stale (SCALPS_MAX_TRIGGER_AGE_SECONDS=60)",
                ),
            ),
            ("14:35:00", "14:30:00", 300, None),
            (
                "14:35:00.001",
                "14:30:00",
                300,
                Some(
                    "trigger 2-1-2 closed at 10:30:00.000 ET, 300.001 s before the flow printed: stale (SCALPS_MAX_TRIGGER_AGE_SECONDS=300)",
                ),
            ),
            // A print at the close belongs to the trigger bar: before the setup existed.
            ("14:30:00.001", "14:30:00", 60, None),
            (
                "14:30:00",
                "14:30:00",
                60,
                Some("flow printed at 10:30:00.000 ET, before its trigger bar closed at 10:30:00.000 ET"),
            ),
            (
                "14:29:59.5",
                "14:30:00",
                60,
                Some("flow printed at 10:29:59.500 ET, before its trigger bar closed at 10:30:00.000 ET"),
            ),
        ];
        let z = |hms: &str| format!("2025-10-22T{hms}Z");
        for (last_trade, closed_at, max_trigger_age_seconds, want) in cases {
            let cfg = ScalpsConfig { max_trigger_age_seconds, ..all() };
            let ev = printed(call(), &z(last_trade));
            let got = evaluate(&cfg, &ev, &bull_closed(&z(closed_at))).map(|_| ()).map_err(|s| s.reason);
            assert_eq!(
                got,
                want.map_or(Ok(()), |w| Err(w.to_string())),
                "{last_trade} closed {closed_at} max {max_trigger_age_seconds}"
            );
        }
        // Without a last trade nothing says when the flow came.
        let ev = with(call(), |e| e.observation.last_trade = None);
        let got = evaluate(&all(), &ev, &bull_closed(&z("14:30:00"))).map_err(|s| s.reason);
        assert_eq!(got.map(|_| ()), Err("no last trade to time the flow against its trigger".to_string()));
    }

    #[test]
    fn every_entry_holds_the_minimum_reward_risk() {
        // (spot, MIN_REWARD_RISK, entry or reason): the trigger's 2:1 from
        // 661.20 with the stop at 659.80.
        let cases = [
            (661.0, 1.0, Ok((661.2, ScalpEntry::Trigger))),
            (661.5, 1.0, Ok((661.5, ScalpEntry::Market { trigger: 661.2 }))),
            (661.5, 1.4, Ok((661.5, ScalpEntry::Market { trigger: 661.2 }))),
            (661.5, 1.5, Ok((661.2, ScalpEntry::Limit { spot: 661.5 }))),
            (663.9, 1.0, Ok((661.2, ScalpEntry::Limit { spot: 663.9 }))),
            (661.0, 2.5, Err("reward:risk 2.00 below min_reward_risk=2.5 (entry 661.2 stop 659.8 target 664)")),
            (661.5, 2.5, Err("reward:risk 2.00 below min_reward_risk=2.5 (entry 661.2 stop 659.8 target 664)")),
        ];
        for (spot, min_reward_risk, want) in cases {
            let cfg = ScalpsConfig { min_reward_risk, ..all() };
            let got = evaluate(&cfg, &with(call(), |e| e.spot = Some(spot)), &ctx(Some(60.0), bull("2-1-2")));
            if let Ok(hit) = &got {
                assert!(hit.plan.meets(min_reward_risk), "{spot} {min_reward_risk}: {:?}", hit.plan);
            }
            let got = got.map(|h| (h.plan.entry, h.entry)).map_err(|s| s.reason);
            assert_eq!(got, want.map_err(str::to_string), "spot {spot} min {min_reward_risk}");
        }
    }

    #[test]
    fn alert_carries_the_setup() {
        // (event, context, entry, stop, target, notes)
        let cases = [
            (
                call(),
                ctx(Some(58.3), bull("2-1-2")),
                (661.2, 659.8, 664.0),
                [
                    "2-1-2 bullish on the 5m bar closed 10:30 ET, flow 10 s after; RSI 58.3",
                    "on a move above 661.20 (the trigger)",
                ],
            ),
            (
                put(),
                ctx(Some(41.0), bear("3-1-2")),
                (658.5, 660.0, 655.5),
                [
                    "3-1-2 bearish on the 5m bar closed 10:30 ET, flow 10 s after; RSI 41.0",
                    "on a move below 658.50 (the trigger)",
                ],
            ),
            (
                with(call(), |e| e.spot = Some(661.5)),
                ctx(Some(58.3), bull("2-1-2")),
                (661.5, 659.8, 664.0),
                [
                    "2-1-2 bullish on the 5m bar closed 10:30 ET, flow 10 s after; RSI 58.3",
                    "at the market 661.50 (trigger 661.20 already passed)",
                ],
            ),
            (
                with(put(), |e| e.spot = Some(657.0)),
                ctx(Some(41.0), bear("2-1-2")),
                (658.5, 660.0, 655.5),
                [
                    "2-1-2 bearish on the 5m bar closed 10:30 ET, flow 10 s after; RSI 41.0",
                    "limit at 658.50, the trigger: spot 657.00 ran too far past it to enter at the market; counts only if touched after the alert",
                ],
            ),
        ];
        for (ev, ctx, (entry, stop, target), notes) in cases {
            let hit = evaluate(&all(), &ev, &ctx).unwrap();
            let a = build_alert(&hit, &ev);
            assert_eq!(a.id, format!("scalps:{}:20251022T143015Z", ev.contract));
            assert_eq!((a.bot, a.ticker.as_str(), a.label.as_str()), (Bot::Scalps, "SPY", "flow (unconfirmed)"));
            assert_eq!((a.entry, a.stop, a.targets.clone()), (Some(entry), Some(stop), Some(vec![target])));
            assert_eq!((a.pattern.as_deref(), a.rsi), (ctx.trigger.as_ref().map(|t| t.pattern.as_str()), ctx.rsi));
            assert_eq!((a.side, a.sentiment, a.score), (ev.side, ev.sentiment, None));
            let want: Vec<(String, String)> =
                ["setup", "entry"].iter().zip(notes).map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(a.details.notes, want);
        }
    }

    #[test]
    fn only_the_configured_patterns() {
        // The default: the 3-1-2 alone.
        let default = ScalpsConfig::default();
        let got = |cfg: &ScalpsConfig, name: &str| {
            evaluate(cfg, &call(), &ctx(Some(60.0), bull(name))).map(|h| h.pattern.as_str()).map_err(|s| s.reason)
        };
        assert_eq!(got(&default, "3-1-2"), Ok("3-1-2"));
        for name in ["2-1-2", "1-2-2", "2-2", "3-2-2"] {
            let want = format!("pattern {name} is not in SCALPS_PATTERNS (3-1-2)");
            assert_eq!(got(&default, name), Err(want));
        }
        let two_two = ScalpsConfig { patterns: vec![Pattern::TwoTwo], ..ScalpsConfig::default() };
        assert_eq!(got(&two_two, "2-2"), Ok("2-2"));
        assert_eq!(got(&two_two, "3-1-2"), Err("pattern 3-1-2 is not in SCALPS_PATTERNS (2-2)".to_string()));

        // (SCALPS_PATTERNS, the patterns in priority order, or the error)
        let cases: [(&str, Result<Vec<&str>, &str>); 7] = [
            ("3-1-2", Ok(vec!["3-1-2"])),
            ("2-2, 3-1-2,2-2", Ok(vec!["3-1-2", "2-2"])),
            ("2-2,1-2-2,2-1-2,3-1-2", Ok(vec!["3-1-2", "2-1-2", "1-2-2", "2-2"])),
            ("3-2-2", Err("unknown pattern `3-2-2` (known: 3-1-2, 2-1-2, 1-2-2, 2-2)")),
            ("3-1-2,312", Err("unknown pattern `312` (known: 3-1-2, 2-1-2, 1-2-2, 2-2)")),
            ("", Err("no pattern given (known: 3-1-2, 2-1-2, 1-2-2, 2-2)")),
            (" , ", Err("no pattern given (known: 3-1-2, 2-1-2, 1-2-2, 2-2)")),
        ];
        for (raw, want) in cases {
            let got = parse_patterns(raw).map(|ps| ps.iter().map(|p| p.as_str()).collect::<Vec<_>>());
            assert_eq!(got, want.map_err(str::to_string), "{raw:?}");
        }
        // Through the configuration: a bad list stops the start (exit 78).
        let vars = |v: &str| BTreeMap::from([("SCALPS_PATTERNS".to_string(), v.to_string())]);
        let c = crate::config::Config::from_vars(&vars("2-1-2,3-1-2")).unwrap();
        assert_eq!(ScalpsConfig::from_config(&c).patterns, vec![Pattern::ThreeOneTwo, Pattern::TwoOneTwo]);
        assert!(c.describe().contains(&"SCALPS_PATTERNS=3-1-2,2-1-2".to_string()));
        let defaults = crate::config::Config::from_vars(&BTreeMap::new()).unwrap();
        assert!(defaults.describe().contains(&"SCALPS_PATTERNS=3-1-2 (default)".to_string()));
        let e = crate::config::Config::from_vars(&vars("3-2-2")).unwrap_err();
        assert_eq!(e.to_string(), "SCALPS_PATTERNS: unknown pattern `3-2-2` (known: 3-1-2, 2-1-2, 1-2-2, 2-2)");
    }

    #[test]
    fn the_trigger_age_is_at_most_one_bar() {
        let age = |raw: &str| {
            let vars = BTreeMap::from([("SCALPS_MAX_TRIGGER_AGE_SECONDS".to_string(), raw.to_string())]);
            crate::config::Config::from_vars(&vars).map(|c| ScalpsConfig::from_config(&c).max_trigger_age_seconds)
        };
        assert_eq!(age("1").unwrap(), 1);
        assert_eq!(age("300").unwrap(), 300);
        for bad in ["0", "301", "60s", "-5"] {
            let e = age(bad).unwrap_err().to_string();
            assert!(e.contains("SCALPS_MAX_TRIGGER_AGE_SECONDS"), "{bad}: {e}");
        }
    }

    #[test]
    fn reads_its_settings() {
        let defaults = crate::config::Config::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(ScalpsConfig::from_config(&defaults), ScalpsConfig::default());
        let vars: BTreeMap<String, String> = [
            ("SCALPS_MIN_PREMIUM", "3000"),
            ("SCALPS_MIN_DTE", "1"),
            ("SCALPS_MAX_DTE", "3"),
            ("SCALPS_MAX_STRIKE_DISTANCE", "0.02"),
            ("SCALPS_RSI_PERIOD", "9"),
            ("SCALPS_EOD_CUTOFF", "15:30"),
            ("MIN_REWARD_RISK", "1.5"),
            ("SCALPS_MAX_TRIGGER_AGE_SECONDS", "120"),
            ("SCALPS_PATTERNS", "2-2,3-1-2"),
            ("SCALPS_MIN_VOLUME_PACE", "1.5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = crate::config::Config::from_vars(&vars).unwrap();
        let want = ScalpsConfig {
            min_premium: 3_000.0,
            min_dte: 1,
            max_dte: 3,
            max_strike_distance: 0.02,
            rsi_period: 9,
            eod_cutoff_minutes: 15 * 60 + 30,
            min_reward_risk: 1.5,
            max_trigger_age_seconds: 120,
            min_volume_pace: 1.5,
            patterns: vec![Pattern::ThreeOneTwo, Pattern::TwoTwo],
        };
        assert_eq!(ScalpsConfig::from_config(&c), want);
    }
}
