//! ORAKL Flow (`orakl_flow`): the same contract bought again and again.
//!
//! Rule (SPEC §6): premium ≥ `MIN_PREMIUM`, DTE within [`ORAKL_FLOW_MIN_DTE`,
//! `ORAKL_FLOW_MAX_DTE`], P(ITM) ≥ `ORAKL_FLOW_MIN_ITM_PROBABILITY` (an
//! unknown P(ITM) fails), and the event is at least the
//! `REPEAT_SIGNAL_THRESHOLD`-th qualifying event on the same contract within
//! `REPEAT_WINDOW_MINUTES`.
//!
//! Only events that pass the first three parts count as repeats: a string of
//! small or far-out-of-the-money prints is not the conviction this bot looks
//! for, so it must not help a later print over the threshold.
//!
//! Repeats count same-side hits only: buys at the ask with buys at the ask,
//! sells at the bid with sells at the bid. A fill between bid and ask or
//! without a usable quote says nothing about who was aggressive, so it is no
//! repeat of either direction and never fires. Counting every fill together
//! let one contract be alerted bullish, neutral and bearish within minutes
//! (a put bought, traded at the mid, then sold); counted per side, an
//! alert's sentiment is the side its hits agree on.
//!
//! After an alert the count is not reset. The next qualifying events on the
//! contract keep counting (the 4th, 5th, ... within the window still meet the
//! threshold), and the bot's per-contract cooldown in the store decides
//! whether they alert again (SPEC §6: not inside the cooldown unless the
//! premium doubles). Resetting would make the count an alert shows depend on
//! when the previous alert happened rather than on the flow in the window.
//!
//! SPEC §6 defines no score for this bot, so its alerts carry none; the
//! outcome plan in premium terms is added by the outcomes feature.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::alert::{Alert, Side, fmt_money};
use crate::bots::{Suppressed, check_dte, check_premium, flow_alert_id};
use crate::flow::{FlowEvent, UNCONFIRMED_LABEL};
use crate::job::Bot;

/// Thresholds, defaults from the seeds; each is an environment variable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OraklFlowConfig {
    /// `MIN_PREMIUM`, dollars.
    pub min_premium: f64,
    /// `ORAKL_FLOW_MIN_DTE`, calendar days, inclusive.
    pub min_dte: i64,
    /// `ORAKL_FLOW_MAX_DTE`, calendar days, inclusive.
    pub max_dte: i64,
    /// `REPEAT_SIGNAL_THRESHOLD`: qualifying events needed within the window,
    /// this one included.
    pub repeat_threshold: usize,
    /// `REPEAT_WINDOW_MINUTES`, inclusive at the old end.
    pub repeat_window_minutes: i64,
    /// `ORAKL_FLOW_MIN_ITM_PROBABILITY`, inclusive.
    pub min_itm_probability: f64,
}

impl Default for OraklFlowConfig {
    fn default() -> Self {
        OraklFlowConfig {
            min_premium: 10_000.0,
            min_dte: 1,
            max_dte: 45,
            repeat_threshold: 3,
            repeat_window_minutes: 30,
            min_itm_probability: 0.5,
        }
    }
}

impl OraklFlowConfig {
    /// The thresholds as configured (validated ranges come from `SETTINGS`).
    pub fn from_config(c: &crate::config::Config) -> Self {
        OraklFlowConfig {
            min_premium: c.tunables.min_premium,
            min_dte: c.tunables.orakl_flow_min_dte,
            max_dte: c.tunables.orakl_flow_max_dte,
            repeat_threshold: c.tunables.repeat_signal_threshold.max(1) as usize,
            repeat_window_minutes: c.tunables.repeat_window_minutes,
            min_itm_probability: c.tunables.orakl_flow_min_itm_probability,
        }
    }

    /// The repeat window as a duration, for [`RepeatTracker::new`].
    pub fn window(&self) -> Duration {
        Duration::minutes(self.repeat_window_minutes)
    }
}

/// At most this many qualifying events are kept per contract. The count
/// shown saturates there; far more than any threshold the settings allow.
pub const MAX_HITS_PER_CONTRACT: usize = 256;

/// At most this many contracts are tracked; beyond it the contract whose
/// latest event is oldest is forgotten first. Whole watchlists of active
/// chains fit with room to spare.
pub const MAX_CONTRACTS: usize = 20_000;

/// The aggressive side of a directional fill: the only fills that repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FillSide {
    /// Bought at the ask.
    Ask,
    /// Sold at the bid.
    Bid,
}

impl FillSide {
    /// The directional side of `side`; mid and unknown fills have none.
    pub fn of(side: Side) -> Option<FillSide> {
        match side {
            Side::Ask => Some(FillSide::Ask),
            Side::Bid => Some(FillSide::Bid),
            Side::Mid | Side::Unknown => None,
        }
    }

    /// `ask` / `bid`, for the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FillSide::Ask => "ask",
            FillSide::Bid => "bid",
        }
    }

    /// "at the ask" / "at the bid", as the alert words it.
    pub fn words(self) -> &'static str {
        match self {
            FillSide::Ask => "at the ask",
            FillSide::Bid => "at the bid",
        }
    }
}

/// A contract and the side its hits filled at: what repeats are counted by.
type RepeatKey = (String, FillSide);

/// Qualifying events per contract and side within the repeat window: the
/// bot's memory between scans. Kept in a `BTreeMap` so eviction order is
/// deterministic.
#[derive(Debug, Clone, PartialEq)]
pub struct RepeatTracker {
    window: Duration,
    /// Per contract and side, (observed_at, premium) in time order, none
    /// older than the window before the latest one recorded.
    hits: BTreeMap<RepeatKey, Vec<(DateTime<Utc>, f64)>>,
}

impl RepeatTracker {
    pub fn new(window: Duration) -> Self {
        RepeatTracker { window, hits: BTreeMap::new() }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// (contract, side) pairs currently tracked.
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// Records one qualifying event filled at `side` and returns how many
    /// qualifying events of that side the contract had in [at − window, at],
    /// this one included, and their summed premium.
    ///
    /// Recording the same (contract, side, at) twice counts it once, so
    /// evaluating an event again (a retried scan) cannot inflate the count.
    /// A premium that is not finite is not recorded: it would poison the sum
    /// for the whole window.
    pub fn record(&mut self, contract: &str, side: FillSide, at: DateTime<Utc>, premium: f64) -> (usize, f64) {
        let since = at - self.window;
        let key = (contract.to_string(), side);
        if !self.hits.contains_key(&key) && self.hits.len() >= MAX_CONTRACTS {
            self.prune(at);
            if self.hits.len() >= MAX_CONTRACTS {
                self.evict_stalest();
            }
        }
        let entries = self.hits.entry(key).or_default();
        entries.retain(|(t, _)| *t >= since);
        if premium.is_finite() && !entries.iter().any(|(t, _)| *t == at) {
            // Events arrive in time order in practice; inserting in place
            // keeps the list sorted even when one does not.
            let pos = entries.partition_point(|(t, _)| *t < at);
            entries.insert(pos, (at, premium));
            if entries.len() > MAX_HITS_PER_CONTRACT {
                entries.remove(0);
            }
        }
        let counted = entries.iter().filter(|(t, _)| *t >= since && *t <= at);
        counted.fold((0, 0.0), |(n, sum), (_, p)| (n + 1, sum + p))
    }

    /// Forgets contracts with no event in [now − window, now]; the engine
    /// calls it once per scan so quiet contracts do not accumulate.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let since = now - self.window;
        self.hits.retain(|_, entries| entries.last().is_some_and(|(t, _)| *t >= since));
    }

    fn evict_stalest(&mut self) {
        let stalest =
            self.hits.iter().min_by_key(|(_, entries)| entries.last().map(|(t, _)| *t)).map(|(key, _)| key.clone());
        if let Some(key) = stalest {
            self.hits.remove(&key);
        }
    }
}

/// A qualifying event that met the repeat threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct OraklFlowHit {
    /// The side every counted hit filled at (the alert's sentiment follows).
    pub side: FillSide,
    /// Qualifying events of that side on the contract within the window,
    /// this one included.
    pub hits: usize,
    /// Their summed premium, dollars.
    pub premium_sum: f64,
    pub window: Duration,
}

/// The parts of the rule that need no memory: a directional fill, premium,
/// DTE and P(ITM). Only events that pass these count toward repeats, each
/// with the hits of its own side.
pub fn qualifies(cfg: &OraklFlowConfig, ev: &FlowEvent) -> Result<FillSide, Suppressed> {
    let Some(side) = FillSide::of(ev.side) else {
        return Err(Suppressed::new(
            format!("side={:?} is no repeat of a direction (only ask or bid fills count)", ev.side).to_lowercase(),
        ));
    };
    check_premium(ev, cfg.min_premium)?;
    check_dte(ev, cfg.min_dte, cfg.max_dte)?;
    let Some(p) = ev.prob_itm else {
        return Err(Suppressed::new("prob_itm unknown (no iv or delta)"));
    };
    if p.is_nan() || p < cfg.min_itm_probability {
        return Err(Suppressed::new(format!("prob_itm={p:.4} below min_itm_probability={}", cfg.min_itm_probability)));
    }
    Ok(side)
}

/// Whether `ev` fires ORAKL Flow. A qualifying event is recorded in
/// `tracker` whether or not it reaches the threshold, so that it counts
/// toward the next ones.
pub fn evaluate(
    cfg: &OraklFlowConfig,
    ev: &FlowEvent,
    tracker: &mut RepeatTracker,
) -> Result<OraklFlowHit, Suppressed> {
    let side = qualifies(cfg, ev)?;
    let (hits, premium_sum) = tracker.record(&ev.contract, side, ev.observed_at, ev.premium);
    if hits < cfg.repeat_threshold {
        return Err(Suppressed::new(format!(
            "repeat_hits={hits} side={} below repeat_threshold={} within {}m (premium_sum={:.0})",
            side.as_str(),
            cfg.repeat_threshold,
            tracker.window().num_minutes(),
            premium_sum
        )));
    }
    Ok(OraklFlowHit { side, hits, premium_sum, window: tracker.window() })
}

/// The ORAKL Flow alert: every field the event knows, and the repeat count
/// (all on one side, named) with its summed premium in the label and the
/// notes. The label stays an honest "flow": this bot does not fetch trades
/// to confirm sweeps.
pub fn build_alert(hit: &OraklFlowHit, ev: &FlowEvent) -> Alert {
    let mut a = ev.to_alert(Bot::OraklFlow, flow_alert_id(Bot::OraklFlow, ev));
    let minutes = hit.window.num_minutes();
    let sum = fmt_money(hit.premium_sum);
    let side = hit.side.words();
    a.label = format!("{UNCONFIRMED_LABEL}, {} hits {side} in {minutes} min totalling ${sum}", hit.hits);
    a.details.notes.push(("repeat hits".to_string(), format!("{} {side} in {minutes} min", hit.hits)));
    a.details.notes.push(("repeat premium".to_string(), format!("${sum}")));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Sentiment;
    use crate::flow::test_event;

    const T0: &str = "2025-10-22T14:00:00Z";

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// One event on `contract`, `minutes` (may be fractional) after T0.
    fn event(contract: &str, minutes: f64, premium: f64, dte: i64, prob_itm: Option<f64>) -> FlowEvent {
        let mut ev = test_event();
        ev.contract = contract.to_string();
        ev.observed_at = at(T0) + Duration::milliseconds((minutes * 60_000.0) as i64);
        ev.previous_at = ev.observed_at - Duration::seconds(15);
        ev.premium = premium;
        ev.dte = dte;
        ev.prob_itm = prob_itm;
        ev
    }

    /// A qualifying event on the test contract.
    fn q(minutes: f64, premium: f64) -> FlowEvent {
        event("O:SPY251121C00670000", minutes, premium, 30, Some(0.6))
    }

    /// A qualifying event on the test contract filled at `side`, with the
    /// sentiment that side gives a call.
    fn filled(minutes: f64, side: Side) -> FlowEvent {
        let mut ev = q(minutes, 10_000.0);
        ev.side = side;
        ev.sentiment = match side {
            Side::Ask => Sentiment::Bullish,
            Side::Bid => Sentiment::Bearish,
            Side::Mid | Side::Unknown => Sentiment::Neutral,
        };
        ev
    }

    /// The test call sold at the bid.
    fn sold(minutes: f64, premium: f64) -> FlowEvent {
        FlowEvent { premium, ..filled(minutes, Side::Bid) }
    }

    /// One evaluation's expected (hits, premium_sum) or reason.
    type Want<'a> = Result<(usize, f64), &'a str>;

    /// Feeds `events` in order to one fresh tracker; each expectation is
    /// `Ok((hits, premium_sum))` or `Err(reason)`.
    fn check(events: &[FlowEvent], want: &[Want]) {
        let cfg = OraklFlowConfig::default();
        let mut tracker = RepeatTracker::new(cfg.window());
        let got: Vec<Result<(usize, f64), String>> = events
            .iter()
            .map(|ev| evaluate(&cfg, ev, &mut tracker).map(|h| (h.hits, h.premium_sum)).map_err(|s| s.reason))
            .collect();
        let want: Vec<Result<(usize, f64), String>> = want.iter().map(|w| w.map_err(str::to_string)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn single_event_edges() {
        let below =
            |hits: usize, sum: &str| format!("repeat_hits={hits} side=ask below repeat_threshold=3 within 30m ({sum})");
        let one = below(1, "premium_sum=10000");
        let cases: Vec<(FlowEvent, String)> = vec![
            (q(0.0, 10_000.0), one.clone()),
            (q(0.0, 9_999.99), "premium=10000 below min_premium=10000".into()),
            (q(0.0, 9_999.0), "premium=9999 below min_premium=10000".into()),
            (event("O:X", 0.0, 10_000.0, 1, Some(0.6)), one.clone()),
            (event("O:X", 0.0, 10_000.0, 45, Some(0.6)), one.clone()),
            (event("O:X", 0.0, 10_000.0, 0, Some(0.6)), "dte=0 outside 1..=45".into()),
            (event("O:X", 0.0, 10_000.0, 46, Some(0.6)), "dte=46 outside 1..=45".into()),
            (event("O:X", 0.0, 10_000.0, 30, Some(0.5)), one.clone()),
            (event("O:X", 0.0, 10_000.0, 30, Some(0.4999)), "prob_itm=0.4999 below min_itm_probability=0.5".into()),
            (event("O:X", 0.0, 10_000.0, 30, None), "prob_itm unknown (no iv or delta)".into()),
            (event("O:X", 0.0, 10_000.0, 30, Some(f64::NAN)), "prob_itm=NaN below min_itm_probability=0.5".into()),
        ];
        for (ev, reason) in cases {
            check(&[ev], &[Err(reason.as_str())]);
        }
    }

    #[test]
    fn repeats_table() {
        let r = |hits: usize, sum: f64| {
            format!("repeat_hits={hits} side=ask below repeat_threshold=3 within 30m (premium_sum={sum:.0})")
        };
        let (r1, r2) = (r(1, 10_000.0), r(2, 30_000.0));
        let other = |minutes: f64| event("O:SPY251121P00650000", minutes, 50_000.0, 30, Some(0.6));
        let cases: Vec<(Vec<FlowEvent>, Vec<Want>)> = vec![
            // The third qualifying event fires; the fourth keeps counting.
            (
                vec![q(0.0, 10_000.0), q(10.0, 20_000.0), q(20.0, 30_000.0), q(25.0, 40_000.0)],
                vec![Err(&r1), Err(&r2), Ok((3, 60_000.0)), Ok((4, 100_000.0))],
            ),
            // The window is inclusive at its old end: exactly 30 minutes apart counts.
            (vec![q(0.0, 10_000.0), q(15.0, 20_000.0), q(30.0, 30_000.0)], vec![Err(&r1), Err(&r2), Ok((3, 60_000.0))]),
            // A second later the first event has left the window.
            (
                vec![q(0.0, 10_000.0), q(15.0, 20_000.0), q(30.0 + 1.0 / 60.0, 30_000.0)],
                vec![
                    Err(&r1),
                    Err(&r2),
                    Err("repeat_hits=2 side=ask below repeat_threshold=3 within 30m (premium_sum=50000)"),
                ],
            ),
            // A non-qualifying event in between does not count.
            (
                vec![q(0.0, 10_000.0), q(5.0, 9_000.0), q(10.0, 20_000.0)],
                vec![Err(&r1), Err("premium=9000 below min_premium=10000"), Err(&r2)],
            ),
            (
                vec![q(0.0, 10_000.0), event("O:SPY251121C00670000", 5.0, 50_000.0, 30, Some(0.2)), q(10.0, 20_000.0)],
                vec![Err(&r1), Err("prob_itm=0.2000 below min_itm_probability=0.5"), Err(&r2)],
            ),
            // Contracts are counted separately.
            (
                vec![q(0.0, 10_000.0), other(1.0), q(2.0, 20_000.0), other(3.0)],
                vec![
                    Err(&r1),
                    Err("repeat_hits=1 side=ask below repeat_threshold=3 within 30m (premium_sum=50000)"),
                    Err(&r2),
                    Err("repeat_hits=2 side=ask below repeat_threshold=3 within 30m (premium_sum=100000)"),
                ],
            ),
            // Evaluating the same event again does not count it twice.
            (
                vec![q(0.0, 10_000.0), q(10.0, 20_000.0), q(10.0, 20_000.0), q(20.0, 30_000.0)],
                vec![Err(&r1), Err(&r2), Err(&r2), Ok((3, 60_000.0))],
            ),
            // Same-side hits only: a sale at the bid does not repeat buys at
            // the ask (it counts with other sales), and a mid or unknown fill
            // repeats no direction at all.
            (
                vec![q(0.0, 10_000.0), sold(5.0, 20_000.0), q(10.0, 20_000.0), sold(12.0, 30_000.0)],
                vec![
                    Err(&r1),
                    Err("repeat_hits=1 side=bid below repeat_threshold=3 within 30m (premium_sum=20000)"),
                    Err(&r2),
                    Err("repeat_hits=2 side=bid below repeat_threshold=3 within 30m (premium_sum=50000)"),
                ],
            ),
            (
                vec![q(0.0, 10_000.0), filled(5.0, Side::Mid), filled(6.0, Side::Unknown), q(10.0, 20_000.0)],
                vec![
                    Err(&r1),
                    Err("side=mid is no repeat of a direction (only ask or bid fills count)"),
                    Err("side=unknown is no repeat of a direction (only ask or bid fills count)"),
                    Err(&r2),
                ],
            ),
            (
                vec![sold(0.0, 10_000.0), q(1.0, 10_000.0), sold(2.0, 10_000.0), q(3.0, 10_000.0), sold(4.0, 10_000.0)],
                vec![
                    Err("repeat_hits=1 side=bid below repeat_threshold=3 within 30m (premium_sum=10000)"),
                    Err(&r1),
                    Err("repeat_hits=2 side=bid below repeat_threshold=3 within 30m (premium_sum=20000)"),
                    Err("repeat_hits=2 side=ask below repeat_threshold=3 within 30m (premium_sum=20000)"),
                    Ok((3, 30_000.0)),
                ],
            ),
            // After a quiet spell the count starts over.
            (
                vec![q(0.0, 10_000.0), q(1.0, 20_000.0), q(2.0, 30_000.0), q(40.0, 10_000.0)],
                vec![Err(&r1), Err(&r2), Ok((3, 60_000.0)), Err(&r1)],
            ),
        ];
        for (events, want) in cases {
            check(&events, &want);
        }
    }

    #[test]
    fn tracker_prunes_and_stays_bounded() {
        let mut t = RepeatTracker::new(Duration::minutes(30));
        assert!(t.is_empty());
        assert_eq!(t.record("A", FillSide::Ask, at(T0), 1.0), (1, 1.0));
        assert_eq!(t.record("B", FillSide::Ask, at(T0) + Duration::minutes(20), 2.0), (1, 2.0));
        // An out-of-order event is kept in order and counts only what precedes it.
        assert_eq!(t.record("A", FillSide::Ask, at(T0) - Duration::minutes(5), 4.0), (1, 4.0));
        assert_eq!(t.record("A", FillSide::Ask, at(T0) + Duration::minutes(1), 8.0), (3, 13.0));
        assert_eq!(t.record("A", FillSide::Ask, at(T0) + Duration::minutes(2), f64::NAN), (3, 13.0));
        t.prune(at(T0) + Duration::minutes(45));
        assert_eq!(t.len(), 1, "A's last event is 44 min old, B's 25 min");
        t.prune(at(T0) + Duration::minutes(51));
        assert!(t.is_empty());
        for i in 0..(MAX_HITS_PER_CONTRACT + 10) {
            t.record("C", FillSide::Ask, at(T0) + Duration::seconds(i as i64), 1.0);
        }
        assert_eq!(t.record("C", FillSide::Ask, at(T0) + Duration::seconds(1000), 1.0).0, MAX_HITS_PER_CONTRACT);
        // Milliseconds apart, so all are inside the window and the cap, not
        // pruning, has to make room.
        for i in 0..(MAX_CONTRACTS + 5) {
            t.record(&format!("K{i:05}"), FillSide::Ask, at(T0) + Duration::milliseconds(i as i64), 1.0);
        }
        assert_eq!(t.len(), MAX_CONTRACTS);
    }

    #[test]
    fn alert_shows_the_repeats() {
        let cfg = OraklFlowConfig::default();
        let mut tracker = RepeatTracker::new(cfg.window());
        let events = [q(0.0, 10_000.0), q(10.0, 20_000.0), q(20.0, 1_234_567.0)];
        let results: Vec<_> = events.iter().map(|ev| evaluate(&cfg, ev, &mut tracker)).collect();
        let hit = results[2].clone().unwrap();
        let a = build_alert(&hit, &events[2]);
        assert_eq!(a.id, "orakl_flow:O:SPY251121C00670000:20251022T142000Z");
        assert_eq!((a.bot, a.ticker.as_str(), a.premium), (Bot::OraklFlow, "SPY", Some(1_234_567.0)));
        assert_eq!(a.label, "flow (unconfirmed), 3 hits at the ask in 30 min totalling $1,264,567");
        assert_eq!(
            a.details.notes,
            vec![
                ("repeat hits".to_string(), "3 at the ask in 30 min".to_string()),
                ("repeat premium".to_string(), "$1,264,567".to_string())
            ]
        );
        assert_eq!((a.score, a.entry, a.stop, a.targets), (None, None, None, None));
        assert_eq!(a.sentiment, events[2].sentiment);
    }

    #[test]
    fn reads_its_settings() {
        let defaults = crate::config::Config::from_vars(&BTreeMap::new()).unwrap();
        assert_eq!(OraklFlowConfig::from_config(&defaults), OraklFlowConfig::default());
        let vars: BTreeMap<String, String> = [
            ("MIN_PREMIUM", "25000"),
            ("ORAKL_FLOW_MIN_DTE", "2"),
            ("ORAKL_FLOW_MAX_DTE", "30"),
            ("REPEAT_SIGNAL_THRESHOLD", "5"),
            ("REPEAT_WINDOW_MINUTES", "60"),
            ("ORAKL_FLOW_MIN_ITM_PROBABILITY", "0.4"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = crate::config::Config::from_vars(&vars).unwrap();
        let want = OraklFlowConfig {
            min_premium: 25_000.0,
            min_dte: 2,
            max_dte: 30,
            repeat_threshold: 5,
            repeat_window_minutes: 60,
            min_itm_probability: 0.4,
        };
        assert_eq!(OraklFlowConfig::from_config(&c), want);
        assert_eq!(want.window(), Duration::hours(1));
    }
}
