//! How unusual a flow event is for its own contract and underlying (SPEC
//! §5 "Unusual is relative"), the relative gates of the five options
//! families, and the plain words an alert says it in.
//!
//! A dollar threshold alone cannot tell SPY's routine churn from a small
//! cap's opening bet, so each event carries three relative figures, all
//! learned from the market as it runs:
//!
//! - the **volume multiple**: ΔV against the contract's own usual volume
//!   for the interval it traded in. The usual rate is the contract's day
//!   volume at the previous observation per elapsed session second, with a
//!   prior of [`PRIOR_VOLUME`] contracts over [`PRIOR_SECONDS`] so the first
//!   minutes of the day and a contract that has barely traded do not divide
//!   by almost nothing;
//! - the **premium rank**: the share of the underlying's flow events today,
//!   and over the previous sessions kept in the store, at or above this
//!   event's premium ([`book::FlowBook`]);
//! - **Δvol/OI and day vol/OI**, from detection.
//!
//! Pure: no clock, no IO. The engine fills the premium rank after each
//! detection pass and checks [`gate`] in its cheap screening step, the one
//! place where the five families' relative gates are applied.

pub mod book;
#[cfg(test)]
mod repeat_tests;
#[cfg(test)]
mod restart_tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::bots::Suppressed;
use crate::config::Tunables;
use crate::flow::{self, FlowEvent};
use crate::job::Bot;

pub use book::{DayStats, FlowBook, Histogram, PremiumRank};

/// The prior's weight in seconds of session: until a contract has traded
/// for about this long, its own volume is not trusted alone.
pub const PRIOR_SECONDS: f64 = 1800.0;
/// The prior's volume over [`PRIOR_SECONDS`]: one contract a minute, the
/// pace of a contract that barely trades, so a few lots on a dead contract
/// are not "1000× usual".
pub const PRIOR_VOLUME: f64 = 30.0;

/// Shares of the underlying's flow below this are said in words.
const SAY_SHARE_BELOW: f64 = 0.05;
/// Volume multiples from this up are said in words.
const SAY_MULTIPLE_FROM: f64 = 2.0;

/// How unusual one flow event is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Unusualness {
    /// ΔV over the contract's usual volume for the interval.
    pub volume_multiple: f64,
    /// The interval ΔV traded in, seconds.
    pub interval_seconds: f64,
    /// The premium against the underlying's flow (filled by the engine).
    pub premium: PremiumRank,
}

/// ΔV over the contract's usual volume for the interval from `previous_at`
/// to `observed_at`: `previous_volume` (the day volume then) per second of
/// session elapsed by then, smoothed by the prior. Before the open, or
/// without a session, the elapsed time is 0 and the prior alone speaks.
pub fn volume_multiple(
    previous_volume: f64,
    volume_delta: f64,
    previous_at: DateTime<Utc>,
    observed_at: DateTime<Utc>,
    session_open: Option<DateTime<Utc>>,
) -> (f64, f64) {
    let interval = ((observed_at - previous_at).num_milliseconds() as f64 / 1000.0).max(1.0);
    let elapsed = session_open.map_or(0.0, |open| ((previous_at - open).num_milliseconds() as f64 / 1000.0).max(0.0));
    (usual_multiple(previous_volume, volume_delta, interval, elapsed), interval)
}

/// The volume multiple from plain numbers: `volume_delta` traded in
/// `interval_s` seconds against `previous_volume` traded in the `elapsed_s`
/// session seconds before it, smoothed by the prior. The one formula the
/// engine and the simulator's rule oracle share.
pub fn usual_multiple(previous_volume: f64, volume_delta: f64, interval_s: f64, elapsed_s: f64) -> f64 {
    let usual_rate = (previous_volume.max(0.0) + PRIOR_VOLUME) / (elapsed_s.max(0.0) + PRIOR_SECONDS);
    volume_delta / (usual_rate * interval_s.max(1.0))
}

/// One family's relative gates (each off at its neutral value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// ΔV at least this many times the contract's usual volume for the
    /// interval (`<PREFIX>_MIN_VOLUME_MULTIPLE`; 0 is off).
    pub min_volume_multiple: f64,
    /// The premium within this top share of the underlying's flow, today
    /// and over the stored sessions (`<PREFIX>_MAX_FLOW_SHARE`; 1 is off).
    /// Not judged while the underlying has too few events to rank.
    pub max_flow_share: f64,
    /// Δvol/OI at least this (`<PREFIX>_MIN_DELTA_VOI`; 0 is off). A
    /// contract without open interest ("vol > OI") passes.
    pub min_delta_voi: f64,
}

impl Gate {
    pub const OFF: Gate = Gate { min_volume_multiple: 0.0, max_flow_share: 1.0, min_delta_voi: 0.0 };
}

/// The five options families' relative gates.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    by_bot: BTreeMap<Bot, Gate>,
}

impl Gates {
    pub fn from_tunables(t: &Tunables) -> Gates {
        let g = |min_volume_multiple, max_flow_share, min_delta_voi| Gate {
            min_volume_multiple,
            max_flow_share,
            min_delta_voi,
        };
        let by_bot = BTreeMap::from([
            (
                Bot::OraklFlow,
                g(t.orakl_flow_min_volume_multiple, t.orakl_flow_max_flow_share, t.orakl_flow_min_delta_voi),
            ),
            (Bot::Sweeps, g(t.sweeps_min_volume_multiple, t.sweeps_max_flow_share, t.sweeps_min_delta_voi)),
            (Bot::GoldenSweeps, g(t.golden_min_volume_multiple, t.golden_max_flow_share, t.golden_min_delta_voi)),
            (Bot::Bullseye, g(t.bullseye_min_volume_multiple, t.bullseye_max_flow_share, t.bullseye_min_delta_voi)),
            (Bot::Scalps, g(t.scalps_min_volume_multiple, t.scalps_max_flow_share, t.scalps_min_delta_voi)),
        ]);
        Gates { by_bot }
    }

    /// `bot`'s gate; every gate off for a family without one.
    pub fn of(&self, bot: Bot) -> Gate {
        self.by_bot.get(&bot).copied().unwrap_or(Gate::OFF)
    }

    /// Every gate off.
    #[cfg(test)]
    pub fn off() -> Gates {
        Gates { by_bot: BTreeMap::new() }
    }

    #[cfg(test)]
    pub fn with(mut self, bot: Bot, gate: Gate) -> Gates {
        self.by_bot.insert(bot, gate);
        self
    }
}

/// Ranks each event's premium against `underlying`'s flow before this scan
/// and counts them in; the underlying's statistics when they are due for
/// the store. Nothing is ranked before the book holds the history of the
/// events' date (the engine reads it before fetching the chain).
pub fn rank_premiums(
    book: &mut FlowBook,
    underlying: &str,
    events: &mut [FlowEvent],
    now: DateTime<Utc>,
) -> Option<DayStats> {
    let date = events.first()?.trading_date;
    if book.needs_history(date) {
        return None;
    }
    let premiums: Vec<f64> = events.iter().map(|e| e.premium).collect();
    for (ev, rank) in events.iter_mut().zip(book.rank_and_record(underlying, &premiums)) {
        ev.unusual.premium = rank;
    }
    book.due_for_save(underlying, now)
}

/// `bot`'s relative gates on `ev`: the one place they are checked, before
/// the family's own rule. The reason names the figure and the setting.
pub fn gate(bot: Bot, ev: &FlowEvent, gates: &Gates) -> Result<(), Suppressed> {
    let g = gates.of(bot);
    let u = &ev.unusual;
    if u.volume_multiple < g.min_volume_multiple {
        return Err(Suppressed::new(format!(
            "volume_multiple={:.1} below min_volume_multiple={}",
            u.volume_multiple, g.min_volume_multiple
        )));
    }
    if let Some(dvoi) = ev.delta_vol_oi
        && dvoi < g.min_delta_voi
    {
        return Err(Suppressed::new(format!("delta_vol_oi={dvoi:.3} below min_delta_voi={}", g.min_delta_voi)));
    }
    if let Some(share) = flow_share(&u.premium)
        && share > g.max_flow_share
    {
        return Err(Suppressed::new(format!("flow_share={share:.4} above max_flow_share={}", g.max_flow_share)));
    }
    Ok(())
}

/// The share of the underlying's flow at or above the event: over the
/// stored sessions and today when there are stored sessions, else today's.
fn flow_share(r: &PremiumRank) -> Option<f64> {
    r.sessions_share.or(r.today_share)
}

/// The plain words for the alert's "Unusual" field, most telling first:
/// the contract's volume against its usual, the premium against the
/// underlying's flow today and over the stored sessions, volume against
/// open interest.
pub fn lines(ev: &FlowEvent) -> Vec<String> {
    let u = &ev.unusual;
    let symbol = flow::display_symbol(&ev.underlying);
    let mut out = Vec::new();
    if u.volume_multiple.is_finite() && u.volume_multiple >= SAY_MULTIPLE_FROM {
        out.push(format!(
            "{}× this contract's usual volume for {}",
            multiple(u.volume_multiple),
            span(u.interval_seconds)
        ));
    }
    let p = &u.premium;
    if p.largest_today {
        out.push(format!("largest {symbol} flow of the day so far"));
    } else if let Some(s) = p.today_share.filter(|s| *s < SAY_SHARE_BELOW) {
        out.push(format!("top {} of {symbol} flow today", top(s)));
    }
    if let Some(s) = p.sessions_share.filter(|s| *s < SAY_SHARE_BELOW) {
        out.push(format!("top {} of {symbol} flow over {} sessions", top(s), p.sessions + 1));
    }
    if ev.vol_exceeds_oi {
        out.push("volume above open interest (OI 0)".to_string());
    } else if let Some(r) = ev.vol_oi.filter(|r| *r >= 1.0) {
        out.push(format!("volume {}× open interest", multiple(r)));
    }
    out
}

/// 7, 12, 3.2, 1,250.
fn multiple(x: f64) -> String {
    if x < 10.0 { format!("{x:.1}") } else { crate::alert::fmt_money(x.round()) }
}

/// 15 s, 4 min 45 s, 1 h 5 min.
fn span(seconds: f64) -> String {
    let s = seconds.round().max(1.0) as i64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// A share of the flow as the top percentage it falls in: 0.3 % → "1%",
/// 2.4 % → "3%" (rounded up, never flattering).
fn top(share: f64) -> String {
    format!("{}%", ((share * 100.0).ceil() as i64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::test_event;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn multiple_against_the_contracts_own_pace_with_a_prior() {
        let open = Some(t("2026-03-09T13:30:00Z"));
        // 5,370 contracts in the first hour: with the prior's 30 over 30
        // minutes, 5,400 in 5,400 s, a pace of 1 a second; 150 in 30 s is 5×.
        let (m, i) = volume_multiple(5370.0, 150.0, t("2026-03-09T14:30:00Z"), t("2026-03-09T14:30:30Z"), open);
        assert!((m - 5.0).abs() < 1e-9, "{m}");
        assert_eq!(i, 30.0);
        // At the open the prior alone: 30 contracts per 30 minutes.
        let (m, _) = volume_multiple(0.0, 60.0, t("2026-03-09T13:30:00Z"), t("2026-03-09T13:31:00Z"), open);
        assert!((m - 60.0).abs() < 1e-9, "{m}");
        // Before the open the elapsed time does not go negative.
        let (m2, _) = volume_multiple(0.0, 60.0, t("2026-03-09T13:00:00Z"), t("2026-03-09T13:01:00Z"), open);
        assert_eq!(m, m2);
    }

    fn gate_of(min_volume_multiple: f64, max_flow_share: f64, min_delta_voi: f64) -> Gates {
        Gates::off().with(Bot::Sweeps, Gate { min_volume_multiple, max_flow_share, min_delta_voi })
    }

    #[test]
    fn each_gate_suppresses_with_its_figure() {
        let mut ev = test_event();
        ev.unusual.volume_multiple = 4.0;
        ev.delta_vol_oi = Some(0.05);
        ev.unusual.premium.today_share = Some(0.02);
        assert!(gate(Bot::Sweeps, &ev, &gate_of(4.0, 0.02, 0.05)).is_ok());
        let why = |g| gate(Bot::Sweeps, &ev, &g).err().map(|s| s.reason).unwrap_or_default();
        assert_eq!(why(gate_of(5.0, 1.0, 0.0)), "volume_multiple=4.0 below min_volume_multiple=5");
        assert_eq!(why(gate_of(0.0, 1.0, 0.1)), "delta_vol_oi=0.050 below min_delta_voi=0.1");
        assert_eq!(why(gate_of(0.0, 0.01, 0.0)), "flow_share=0.0200 above max_flow_share=0.01");
        // Stored sessions, when there are some, outrank today alone.
        ev.unusual.premium.sessions_share = Some(0.005);
        assert!(gate(Bot::Sweeps, &ev, &gate_of(0.0, 0.01, 0.0)).is_ok());
        // Without a rank (too few events) and without OI, those gates pass.
        ev.unusual.premium = PremiumRank::default();
        ev.delta_vol_oi = None;
        assert!(gate(Bot::Sweeps, &ev, &gate_of(0.0, 0.01, 0.5)).is_ok());
    }

    #[test]
    fn plain_words() {
        let mut ev = test_event();
        ev.unusual.volume_multiple = 7.04;
        ev.unusual.interval_seconds = 30.0;
        ev.unusual.premium =
            PremiumRank { today_share: Some(0.0), largest_today: true, sessions_share: Some(0.003), sessions: 4 };
        ev.vol_oi = Some(3.2);
        assert_eq!(
            lines(&ev),
            vec![
                "7.0× this contract's usual volume for 30 s",
                "largest SPY flow of the day so far",
                "top 1% of SPY flow over 5 sessions",
                "volume 3.2× open interest",
            ]
        );
        ev.unusual.volume_multiple = 1.5;
        ev.unusual.premium = PremiumRank { today_share: Some(0.024), ..PremiumRank::default() };
        ev.vol_oi = None;
        ev.vol_exceeds_oi = true;
        assert_eq!(lines(&ev), vec!["top 3% of SPY flow today", "volume above open interest (OI 0)"]);
        ev.unusual.volume_multiple = 1250.4;
        ev.unusual.interval_seconds = 285.0;
        ev.vol_exceeds_oi = false;
        ev.unusual.premium = PremiumRank::default();
        assert_eq!(lines(&ev), vec!["1,250× this contract's usual volume for 4 min 45 s"]);
    }
}
