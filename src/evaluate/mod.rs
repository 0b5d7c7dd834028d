//! `orakl evaluate` (SPEC §9): how a replayed day's alerts score against the
//! truth file of the injected events. [`score`] is a plain function of the
//! alerts, the truth lines and the facts of the run; the CLI shell
//! (`cli/evaluate.rs`) replays the tape exactly as `orakl replay` does and
//! renders the [`Scorecard`] as text or JSON ([`render`]).
//!
//! The definitions, one place each (the README's "Scoring a day" says the
//! same for traders):
//!
//! - **Match.** An alert of family B answers a truth line when it is on the
//!   line's symbol (the alert's underlying), on the line's contract when
//!   the line names one and B is an options family, and at or after the
//!   line's `at` and no later than `at` + B's [`match_window`] (which grows
//!   when a firing visits only a batch of the watchlist).
//! - **Recall.** A truth line that is not a near-miss and names expected
//!   families is an injected event; it is recalled by family B when an
//!   alert of B matches it, and recalled when any of its families did.
//!   One alert per move (SPEC §6): when the event's own hit joined an
//!   episode whose post itself matches the line's symbol and time (same
//!   family, at or after the line's `at`, within the window), that post
//!   is the move's alert and answers the event too (counted apart as
//!   `by_move`). An event whose hit joined an episode posted before it
//!   (opened by other flow) is still missed.
//! - **Near-miss fired.** A near-miss line fired when an alert of one of its
//!   `near_miss_bots` matches it.
//! - **Tied.** An alert is tied when it matches an injected event that
//!   expects its family. Several alerts may tie to one event (fan-out counts
//!   the repeats); precision is tied ÷ alerts, per family.
//! - **Direction.** Bullish or bearish from the alert's sentiment; a
//!   neutral alert with a plan takes the plan's direction (long when the
//!   first target is above the entry, short when below); anything else is
//!   neutral.
//! - **Fan-out.** Every pair of alerts of one family on one underlying in
//!   one direction, the later within [`FANOUT_WINDOW_MINUTES`] of the
//!   earlier (inclusive), that is not an escalation: the later's premium
//!   (a dark print's notional) is under twice the earlier's, or either is
//!   unknown; for Scalps and STRAT a new setup (another pattern, stop or
//!   first target) is an escalation too. Two alerts of the same instant
//!   have no later one: they pair only when neither escalates the other.
//! - **Updates.** Hits that joined an open episode and edited its message
//!   (SPEC §6 "One alert per move") are counted per family beside the
//!   alerts, which are the posts; every other figure is over the posts. An
//!   event answered only by an update of an episode posted before it is
//!   still missed, and named as having joined an open episode.
//! - **Reward:risk** of a published plan (entry, stop, targets) at its
//!   stated entry: |first target − entry| ÷ the loss to the stop; below 1.0
//!   by more than 1e-9 counts as below 1R; a stop at or beyond the entry on
//!   the target's side is an invalid plan.
//! - **Contradiction.** A plan whose direction is against the sentiment
//!   (bearish with a long plan, bullish with a short one); a plan under a
//!   neutral sentiment is counted apart.
//! - **Channel load.** Each family posts to its own webhook (one channel):
//!   alerts per UTC minute of their `at` against Discord's 30 messages a
//!   minute per channel, and per 2-second slot against 5 requests per
//!   2 seconds per webhook.

mod render;
mod truth;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use crate::alert::{Alert, Sentiment};
// Direction (`Some(true)` bullish, `Some(false)` bearish, `None` neutral),
// the size an escalation is measured on (the premium, else a print's
// notional) and the Scalps/STRAT setup (the pattern and the setup bar's
// levels) are the episode book's: one rule for the alerts' episodes and
// for the scorecard that judges them.
use crate::calendar::MARKET_TZ;
use crate::engine::episode::{Update, direction, setup, size};
use crate::flow::UNCONFIRMED_LABEL;
use crate::job::Bot;

pub use render::{render_json, render_text};
pub use truth::{TruthError, TruthLine, parse_truth, read_truth};

/// Version of the JSON scorecard's field set; raised when a field changes
/// meaning or goes away (added fields keep it).
pub const SCORECARD_VERSION: u32 = 1;
/// Fan-out pairs: the later alert at most this long after the earlier.
pub const FANOUT_WINDOW_MINUTES: i64 = 15;
/// A later alert with at least this multiple of the earlier's premium is
/// an escalation, not fan-out.
pub const ESCALATION_MULTIPLE: f64 = crate::engine::episode::ESCALATION_MULTIPLE;
/// Plans whose reward:risk is below this are counted.
pub const MIN_REWARD_RISK: f64 = 1.0;
/// Consecutive alerts of one family on one underlying this close in
/// opposite directions are a flip.
pub const FLIP_WINDOW_MINUTES: i64 = 5;
/// Discord: 30 messages a minute per channel (the limit Discord's staff
/// named for a channel in discord-api-docs issue #367) ...
pub const CHANNEL_LIMIT_PER_MINUTE: u64 = 30;
/// ... and 5 requests per 2 seconds per webhook (the same thread; the
/// bucket the webhook's rate-limit headers report).
pub const WEBHOOK_LIMIT_PER_2S: u64 = 5;
/// Alerts at or after this ET time are counted as late in the day (no new
/// Scalps after it: SPEC §6 `SCALPS_EOD_CUTOFF`).
pub const LATE_CUTOFF_ET: (u32, u32) = (15, 45);
/// A premium above this is implausible data (SPEC §5), never an alert.
pub const IMPLAUSIBLE_PREMIUM_USD: f64 = 500_000_000.0;
/// Floats compared against a threshold (reward:risk 1.0) with this slack,
/// so a plan of exactly 1:1 at cent ticks is not "below".
const EPSILON: f64 = crate::alert::PRICE_EPSILON;

/// How long after a truth line's `at` an alert of `bot` may come and still
/// answer it: the family's cadence in the shipped timetable when every
/// symbol is visited at every firing — the options families run every 15 s
/// and see a chain within one firing, Darkpool and Breakouts every 30 s
/// (two minutes leave room for a chain or a print fetched just before the
/// event's, and keep another alert on the symbol from claiming the line);
/// STRAT in the first minutes of each hour, after the trigger bar has
/// closed — plus `visit_delay`, how much later a symbol comes round when a
/// firing takes only a batch of the watchlist ([`RunFacts::visit_delay_s`]).
pub fn match_window(bot: Bot, visit_delay: Duration) -> Duration {
    let base = match bot {
        Bot::OraklFlow
        | Bot::Sweeps
        | Bot::GoldenSweeps
        | Bot::Bullseye
        | Bot::Scalps
        | Bot::Darkpool
        | Bot::Breakouts => Duration::minutes(2),
        Bot::Strat => Duration::minutes(65),
    };
    base + visit_delay
}

/// What the replay itself counted (not in the alerts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunFacts {
    /// The replayed span.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Timetable firings that ran, and those skipped as later than the
    /// grace period (the loop's `firing_skipped` events).
    pub firings: u64,
    pub firings_skipped_late: u64,
    pub job_errors: u64,
    /// Polygon requests and pages, all endpoints, then per endpoint.
    pub requests: u64,
    pub pages: u64,
    pub by_endpoint: BTreeMap<String, EndpointCount>,
    /// Symbols replayed, and how many a firing takes by default
    /// (`OPTIONS_BATCH`; a timetable line's `batch=` overrides it).
    pub watchlist: u64,
    pub batch: u64,
    /// Per family: how much later than its firing cadence one symbol may
    /// be visited, (⌈watchlist ÷ batch⌉ − 1) × the interval between the
    /// family's firings (0 when one firing takes the whole watchlist).
    pub visit_delay_s: BTreeMap<Bot, i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndpointCount {
    pub requests: u64,
    pub pages: u64,
}

// ---------------------------------------------------------------------------
// The scorecard.

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    pub version: u32,
    pub run: RunFacts,
    pub alerts: AlertCounts,
    pub recall: Recall,
    pub near_misses: NearMisses,
    pub precision: BTreeMap<Bot, Precision>,
    pub precision_total: Precision,
    pub fanout: Fanout,
    pub plans: Plans,
    pub direction: DirectionChecks,
    pub channels: Channels,
    pub noise: Noise,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertCounts {
    /// Posts: messages the families sent (an episode's first hit, and its
    /// escalations).
    pub total: u64,
    /// Every family, zeros included.
    pub by_family: BTreeMap<Bot, u64>,
    /// Episode updates: hits that joined an open episode and edited its
    /// message instead of posting, in all and per family (zeros included).
    pub updates: u64,
    pub updates_by_family: BTreeMap<Bot, u64>,
    /// ET trading date → family → alerts (families with alerts only).
    pub by_day: BTreeMap<NaiveDate, BTreeMap<Bot, u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recall {
    /// Per family, how long after an event its alert may come.
    pub match_window_s: BTreeMap<Bot, i64>,
    /// Injected events (not near-misses, at least one expected family).
    pub events: u64,
    /// Events alerted by at least one of their families.
    pub recalled: u64,
    /// Per family: (event, family) pairs expected and alerted, and the
    /// delay from the event's `at` to the first matching alert.
    pub by_family: BTreeMap<Bot, FamilyRecall>,
    /// Events some expected family did not alert, in truth-file order.
    pub missed: Vec<MissedEvent>,
    /// Truth lines that are neither events nor near-misses (nothing
    /// expected of them).
    pub lines_without_expectation: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FamilyRecall {
    pub expected: u64,
    pub alerted: u64,
    /// Of `alerted`, those answered by the post of their move: the
    /// event's hit joined the episode that post opened within the window.
    pub by_move: u64,
    /// Expected but not alerted, yet answered by an episode update (the
    /// event's hit joined an episode that was already open and edited its
    /// message): seen, but not posted.
    pub updated: u64,
    pub latency_median_s: Option<f64>,
    pub latency_max_s: Option<i64>,
    /// From the event's first print (its truth line's `prints_at`) to the
    /// first matching alert, over the alerted events that carry one: the
    /// prints lane's promise is one poll interval plus a second (SPEC §13).
    pub print_latency: Option<PrintLatency>,
}

/// Print → alert delays of a family's alerted events, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrintLatency {
    pub events: u64,
    pub p50_s: f64,
    pub p95_s: f64,
    pub max_s: f64,
}

impl PrintLatency {
    /// Nearest-rank percentiles of `delays_ms` (None when empty).
    fn of(mut delays_ms: Vec<i64>) -> Option<PrintLatency> {
        delays_ms.sort_unstable();
        let n = delays_ms.len();
        let rank = |q: f64| delays_ms[((q * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1000.0;
        (n > 0).then(|| PrintLatency { events: n as u64, p50_s: rank(0.5), p95_s: rank(0.95), max_s: rank(1.0) })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissedEvent {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub symbol: String,
    pub contract: Option<String>,
    /// The expected families that did not alert.
    pub missing: Vec<Bot>,
    /// The expected families that did.
    pub alerted: Vec<Bot>,
    /// Of the missing families, those whose episode update answers the
    /// event (it joined an open episode instead of posting).
    pub updated: Vec<Bot>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearMisses {
    pub lines: u64,
    pub fired: u64,
    /// Per family named in `near_miss_bots`: lines, and lines it fired on.
    pub by_family: BTreeMap<Bot, NearMissFamily>,
    pub fired_lines: Vec<FiredNearMiss>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NearMissFamily {
    pub lines: u64,
    pub fired: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiredNearMiss {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub symbol: String,
    pub contract: Option<String>,
    /// The near-miss families that alerted on it.
    pub fired_by: Vec<Bot>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Precision {
    pub alerts: u64,
    pub tied: u64,
    /// tied ÷ alerts (4 decimals); null without alerts.
    pub precision: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fanout {
    pub window_minutes: i64,
    pub pairs: u64,
    /// Alerts that are the later half of at least one pair (an episode
    /// would have folded them into an update).
    pub alerts_in_pairs: u64,
    pub by_family: BTreeMap<Bot, FanoutFamily>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FanoutFamily {
    pub pairs: u64,
    pub alerts_in_pairs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plans {
    pub published: u64,
    pub below_1r: u64,
    pub invalid: u64,
    pub by_family: BTreeMap<Bot, FamilyPlans>,
    /// The plans below 1R (and the invalid ones), in alert order.
    pub below_1r_alerts: Vec<PlanRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FamilyPlans {
    pub published: u64,
    pub below_1r: u64,
    pub invalid: u64,
    pub min_reward_risk: Option<f64>,
    pub median_reward_risk: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    pub id: String,
    pub bot: Bot,
    pub at: DateTime<Utc>,
    pub ticker: String,
    pub contract: Option<String>,
    pub entry: f64,
    pub stop: f64,
    pub target: f64,
    /// Null for an invalid plan.
    pub reward_risk: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectionChecks {
    /// Plans against their alert's sentiment.
    pub contradictions: u64,
    /// Plans published under a neutral sentiment.
    pub neutral_with_plan: u64,
    /// Consecutive alerts of one family on one underlying within
    /// [`FLIP_WINDOW_MINUTES`] pointing opposite ways.
    pub flips: u64,
    pub flip_window_minutes: i64,
    pub contradiction_alerts: Vec<ContradictionRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContradictionRow {
    pub id: String,
    pub bot: Bot,
    pub at: DateTime<Utc>,
    pub ticker: String,
    pub contract: Option<String>,
    pub sentiment: Sentiment,
    /// `long` or `short`.
    pub plan: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channels {
    pub limit_per_minute: u64,
    pub limit_per_2s: u64,
    /// Minutes (summed over channels) with more alerts than the limit.
    pub minutes_over_limit: u64,
    pub by_family: BTreeMap<Bot, ChannelLoad>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChannelLoad {
    pub peak_per_minute: u64,
    /// The first minute with the peak (UTC, start of the minute).
    pub peak_minute: Option<DateTime<Utc>>,
    pub minutes_over_limit: u64,
    pub peak_per_2s: u64,
    pub slots_over_2s_limit: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Noise {
    /// `HH:MM` ET.
    pub late_cutoff_et: String,
    /// Alerts at or after the cutoff, per family (families with any).
    pub after_cutoff: BTreeMap<Bot, u64>,
    /// Contracts alerted more than once by one family, and the most alerts
    /// one contract got from one family.
    pub repeat_contracts: u64,
    pub max_alerts_one_contract: u64,
    /// Sweeps and Golden Sweeps alerts without ISO confirmation.
    pub unconfirmed_sweeps: u64,
    /// Alerts with a premium above [`IMPLAUSIBLE_PREMIUM_USD`].
    pub implausible_premium: u64,
}

// ---------------------------------------------------------------------------
// Scoring.

/// Scores `alerts` (any order) against `truth`; `updates` (the episode
/// updates of the run) are counted beside them, and nothing else is
/// measured on them: every other figure is over the posts.
pub fn score(alerts: &[Alert], updates: &[Update], truth: &[TruthLine], run: &RunFacts) -> Scorecard {
    let mut alerts: Vec<&Alert> = alerts.iter().collect();
    alerts.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let windows = windows(run);
    let (recall, tied) = recall_and_ties(&alerts, updates, truth, &windows);
    let near_misses = near_misses(&alerts, truth, &windows);
    let mut precision: BTreeMap<Bot, Precision> = Bot::ALL.iter().map(|b| (*b, Precision::default())).collect();
    for (a, is_tied) in alerts.iter().zip(&tied) {
        let p = precision.entry(a.bot).or_default();
        p.alerts += 1;
        p.tied += u64::from(*is_tied);
    }
    let mut precision_total = Precision::default();
    for p in precision.values_mut() {
        p.precision = ratio(p.tied, p.alerts);
        precision_total.alerts += p.alerts;
        precision_total.tied += p.tied;
    }
    precision_total.precision = ratio(precision_total.tied, precision_total.alerts);
    Scorecard {
        version: SCORECARD_VERSION,
        run: run.clone(),
        alerts: alert_counts(&alerts, updates),
        recall,
        near_misses,
        precision,
        precision_total,
        fanout: fanout(&alerts),
        plans: plans(&alerts),
        direction: direction_checks(&alerts),
        channels: channels(&alerts),
        noise: noise(&alerts),
    }
}

/// Each family's match window in this run.
fn windows(run: &RunFacts) -> BTreeMap<Bot, Duration> {
    Bot::ALL
        .iter()
        .map(|&b| {
            let delay = run.visit_delay_s.get(&b).copied().unwrap_or(0).max(0);
            (b, match_window(b, Duration::seconds(delay)))
        })
        .collect()
}

/// Whether alert `a` answers truth line `t` as family `bot` within
/// `window` (see the module doc).
pub fn matches(a: &Alert, t: &TruthLine, bot: Bot, window: Duration) -> bool {
    let same_contract = match (&t.contract, bot.is_options()) {
        (Some(c), true) => a.contract.as_deref() == Some(c.as_str()),
        _ => true,
    };
    a.bot == bot && a.ticker == t.symbol && same_contract && a.at >= t.at && a.at <= t.at + window
}

/// Whether episode update `u` answers truth line `t` as family `bot`: the
/// match rule of [`matches`] on the joining hit's underlying, contract and
/// time.
fn update_matches(u: &Update, t: &TruthLine, bot: Bot, window: Duration) -> bool {
    let same_contract = match (&t.contract, bot.is_options()) {
        (Some(c), true) => u.contract.as_deref() == Some(c.as_str()),
        _ => true,
    };
    u.bot == bot && u.ticker == t.symbol && same_contract && u.at >= t.at && u.at <= t.at + window
}

/// The post of the move event `t` joined as family `bot`: the index of the
/// alert whose episode an update answering `t` edited, when that post is
/// itself on the line's symbol within its window (it opened the move
/// `t` is part of, not an earlier one the event was folded into).
fn move_post(alerts: &[&Alert], updates: &[Update], t: &TruthLine, bot: Bot, window: Duration) -> Option<usize> {
    updates.iter().filter(|u| update_matches(u, t, bot, window)).find_map(|u| {
        alerts.iter().position(|a| {
            a.id == u.update_of && a.bot == bot && a.ticker == t.symbol && a.at >= t.at && a.at <= t.at + window
        })
    })
}

fn is_event(t: &TruthLine) -> bool {
    !t.near_miss && !t.expected_bots.is_empty()
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| round(n as f64 / d as f64, 4))
}

fn round(x: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (x * k).round() / k
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn alert_counts(alerts: &[&Alert], updates: &[Update]) -> AlertCounts {
    let mut by_family: BTreeMap<Bot, u64> = Bot::ALL.iter().map(|b| (*b, 0)).collect();
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<Bot, u64>> = BTreeMap::new();
    for a in alerts {
        *by_family.entry(a.bot).or_default() += 1;
        *by_day.entry(crate::calendar::trading_date(a.at)).or_default().entry(a.bot).or_default() += 1;
    }
    let mut updates_by_family: BTreeMap<Bot, u64> = Bot::ALL.iter().map(|b| (*b, 0)).collect();
    for u in updates {
        *updates_by_family.entry(u.bot).or_default() += 1;
    }
    AlertCounts { total: alerts.len() as u64, by_family, updates: updates.len() as u64, updates_by_family, by_day }
}

/// Recall per event and family, and which alerts are tied (by index).
fn recall_and_ties(
    alerts: &[&Alert],
    updates: &[Update],
    truth: &[TruthLine],
    windows: &BTreeMap<Bot, Duration>,
) -> (Recall, Vec<bool>) {
    let mut tied = vec![false; alerts.len()];
    let mut by_family: BTreeMap<Bot, FamilyRecall> = BTreeMap::new();
    let mut latencies: BTreeMap<Bot, Vec<i64>> = BTreeMap::new();
    let mut print_latencies: BTreeMap<Bot, Vec<i64>> = BTreeMap::new();
    let mut missed = Vec::new();
    let (mut events, mut recalled) = (0, 0);
    for t in truth.iter().filter(|t| is_event(t)) {
        events += 1;
        let (mut alerted, mut missing, mut updated) = (Vec::new(), Vec::new(), Vec::new());
        for &bot in &t.expected_bots {
            let fam = by_family.entry(bot).or_default();
            fam.expected += 1;
            // Alerts are in time order: the first match is the earliest.
            let mut first = None;
            let window = windows.get(&bot).copied().unwrap_or_default();
            for (i, a) in alerts.iter().enumerate() {
                if matches(a, t, bot, window) {
                    tied[i] = true;
                    first.get_or_insert(a.at);
                }
            }
            if first.is_none()
                && let Some(i) = move_post(alerts, updates, t, bot, window)
            {
                tied[i] = true;
                fam.by_move += 1;
                first = Some(alerts[i].at);
            }
            match first {
                Some(at) => {
                    fam.alerted += 1;
                    latencies.entry(bot).or_default().push((at - t.at).num_seconds());
                    if let Some(printed) = t.prints_at {
                        print_latencies.entry(bot).or_default().push((at - printed).num_milliseconds());
                    }
                    alerted.push(bot);
                }
                None => {
                    missing.push(bot);
                    if updates.iter().any(|u| update_matches(u, t, bot, window)) {
                        fam.updated += 1;
                        updated.push(bot);
                    }
                }
            }
        }
        if !alerted.is_empty() {
            recalled += 1;
        }
        if !missing.is_empty() {
            missed.push(MissedEvent {
                id: t.id.clone(),
                at: t.at,
                kind: t.kind.clone(),
                symbol: t.symbol.clone(),
                contract: t.contract.clone(),
                missing,
                alerted,
                updated,
            });
        }
    }
    for (bot, l) in latencies {
        let fam = by_family.entry(bot).or_default();
        fam.latency_max_s = l.iter().copied().max();
        fam.latency_median_s = median(l.into_iter().map(|s| s as f64).collect());
    }
    for (bot, l) in print_latencies {
        by_family.entry(bot).or_default().print_latency = PrintLatency::of(l);
    }
    let lines_without_expectation = truth.iter().filter(|t| !t.near_miss && t.expected_bots.is_empty()).count() as u64;
    let match_window_s = windows.iter().map(|(b, w)| (*b, w.num_seconds())).collect();
    let recall = Recall { match_window_s, events, recalled, by_family, missed, lines_without_expectation };
    (recall, tied)
}

fn near_misses(alerts: &[&Alert], truth: &[TruthLine], windows: &BTreeMap<Bot, Duration>) -> NearMisses {
    let mut lines = 0;
    let mut fired_lines = Vec::new();
    let mut by_family: BTreeMap<Bot, NearMissFamily> = BTreeMap::new();
    for t in truth.iter().filter(|t| t.near_miss) {
        lines += 1;
        let mut fired_by = Vec::new();
        for &bot in &t.near_miss_bots {
            let fam = by_family.entry(bot).or_default();
            fam.lines += 1;
            let window = windows.get(&bot).copied().unwrap_or_default();
            if alerts.iter().any(|a| matches(a, t, bot, window)) {
                fam.fired += 1;
                fired_by.push(bot);
            }
        }
        if !fired_by.is_empty() {
            fired_lines.push(FiredNearMiss {
                id: t.id.clone(),
                at: t.at,
                kind: t.kind.clone(),
                symbol: t.symbol.clone(),
                contract: t.contract.clone(),
                fired_by,
            });
        }
    }
    NearMisses { lines, fired: fired_lines.len() as u64, by_family, fired_lines }
}

/// A published plan's direction and reward:risk at its entry.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PlanView {
    entry: f64,
    stop: f64,
    target: f64,
    long: bool,
    /// None when the stop is at or beyond the entry on the target's side.
    reward_risk: Option<f64>,
}

fn plan_of(a: &Alert) -> Option<PlanView> {
    let (entry, stop, target) = (a.entry?, a.stop?, *a.targets.as_ref()?.first()?);
    let (long, reward_risk) = crate::alert::Plan::shape(entry, stop, target);
    Some(PlanView { entry, stop, target, long, reward_risk })
}

fn escalates(later: &Alert, earlier: &Alert) -> bool {
    let bigger = match (size(later), size(earlier)) {
        (Some(l), Some(e)) => l >= ESCALATION_MULTIPLE * e,
        _ => false,
    };
    bigger || setup(later) != setup(earlier)
}

/// The alerts of each (family, underlying, direction), in time order.
fn streams<'a>(alerts: &[&'a Alert]) -> BTreeMap<(Bot, &'a str, Option<bool>), Vec<&'a Alert>> {
    let mut by_key: BTreeMap<(Bot, &str, Option<bool>), Vec<&Alert>> = BTreeMap::new();
    for a in alerts {
        by_key.entry((a.bot, a.ticker.as_str(), direction(a))).or_default().push(a);
    }
    by_key
}

fn fanout(alerts: &[&Alert]) -> Fanout {
    let window = Duration::minutes(FANOUT_WINDOW_MINUTES);
    let mut by_family: BTreeMap<Bot, FanoutFamily> = Bot::ALL.iter().map(|b| (*b, FanoutFamily::default())).collect();
    for ((bot, _, _), stream) in streams(alerts) {
        let fam = by_family.entry(bot).or_default();
        for (j, later) in stream.iter().enumerate() {
            // Two alerts of one instant have no "later" (their order is the
            // ids'): they pair only when neither escalates the other.
            let repeats = |e: &&&Alert| !escalates(later, e) && (e.at < later.at || !escalates(e, later));
            let pairs = stream[..j].iter().filter(|e| later.at - e.at <= window).filter(repeats).count() as u64;
            fam.pairs += pairs;
            fam.alerts_in_pairs += u64::from(pairs > 0);
        }
    }
    let pairs = by_family.values().map(|f| f.pairs).sum();
    let alerts_in_pairs = by_family.values().map(|f| f.alerts_in_pairs).sum();
    Fanout { window_minutes: FANOUT_WINDOW_MINUTES, pairs, alerts_in_pairs, by_family }
}

fn plans(alerts: &[&Alert]) -> Plans {
    let mut by_family: BTreeMap<Bot, FamilyPlans> = BTreeMap::new();
    let mut ratios: BTreeMap<Bot, Vec<f64>> = BTreeMap::new();
    let mut rows = Vec::new();
    for a in alerts {
        let Some(p) = plan_of(a) else { continue };
        let fam = by_family.entry(a.bot).or_default();
        fam.published += 1;
        let below = match p.reward_risk {
            Some(rr) => {
                ratios.entry(a.bot).or_default().push(rr);
                rr < MIN_REWARD_RISK - EPSILON
            }
            None => {
                fam.invalid += 1;
                true
            }
        };
        if below {
            fam.below_1r += u64::from(p.reward_risk.is_some());
            rows.push(PlanRow {
                id: a.id.clone(),
                bot: a.bot,
                at: a.at,
                ticker: a.ticker.clone(),
                contract: a.contract.clone(),
                entry: p.entry,
                stop: p.stop,
                target: p.target,
                reward_risk: p.reward_risk.map(|rr| round(rr, 3)),
            });
        }
    }
    for (bot, r) in ratios {
        let fam = by_family.entry(bot).or_default();
        fam.min_reward_risk = r.iter().copied().min_by(f64::total_cmp).map(|x| round(x, 3));
        fam.median_reward_risk = median(r).map(|x| round(x, 3));
    }
    Plans {
        published: by_family.values().map(|f| f.published).sum(),
        below_1r: by_family.values().map(|f| f.below_1r).sum(),
        invalid: by_family.values().map(|f| f.invalid).sum(),
        by_family,
        below_1r_alerts: rows,
    }
}

fn direction_checks(alerts: &[&Alert]) -> DirectionChecks {
    let mut rows = Vec::new();
    let mut neutral_with_plan = 0;
    for a in alerts {
        let Some(p) = plan_of(a) else { continue };
        let against = match a.sentiment {
            Sentiment::Bullish => !p.long,
            Sentiment::Bearish => p.long,
            Sentiment::Neutral => {
                neutral_with_plan += 1;
                false
            }
        };
        if against {
            rows.push(ContradictionRow {
                id: a.id.clone(),
                bot: a.bot,
                at: a.at,
                ticker: a.ticker.clone(),
                contract: a.contract.clone(),
                sentiment: a.sentiment,
                plan: if p.long { "long" } else { "short" },
            });
        }
    }
    // Flips: consecutive directional alerts of one family on one underlying.
    let mut last: BTreeMap<(Bot, &str), (DateTime<Utc>, bool)> = BTreeMap::new();
    let mut flips = 0;
    for a in alerts {
        let Some(up) = direction(a) else { continue };
        let key = (a.bot, a.ticker.as_str());
        if let Some((at, prev)) = last.get(&key)
            && *prev != up
            && a.at - *at <= Duration::minutes(FLIP_WINDOW_MINUTES)
        {
            flips += 1;
        }
        last.insert(key, (a.at, up));
    }
    DirectionChecks {
        contradictions: rows.len() as u64,
        neutral_with_plan,
        flips,
        flip_window_minutes: FLIP_WINDOW_MINUTES,
        contradiction_alerts: rows,
    }
}

fn channels(alerts: &[&Alert]) -> Channels {
    let mut per_minute: BTreeMap<(Bot, i64), u64> = BTreeMap::new();
    let mut per_slot: BTreeMap<(Bot, i64), u64> = BTreeMap::new();
    for a in alerts {
        let ms = a.at.timestamp_millis();
        *per_minute.entry((a.bot, ms.div_euclid(60_000))).or_default() += 1;
        *per_slot.entry((a.bot, ms.div_euclid(2_000))).or_default() += 1;
    }
    let mut by_family: BTreeMap<Bot, ChannelLoad> = Bot::ALL.iter().map(|b| (*b, ChannelLoad::default())).collect();
    for ((bot, minute), n) in per_minute {
        let load = by_family.entry(bot).or_default();
        if n > load.peak_per_minute {
            load.peak_per_minute = n;
            load.peak_minute = DateTime::from_timestamp(minute * 60, 0);
        }
        load.minutes_over_limit += u64::from(n > CHANNEL_LIMIT_PER_MINUTE);
    }
    for ((bot, _), n) in per_slot {
        let load = by_family.entry(bot).or_default();
        load.peak_per_2s = load.peak_per_2s.max(n);
        load.slots_over_2s_limit += u64::from(n > WEBHOOK_LIMIT_PER_2S);
    }
    Channels {
        limit_per_minute: CHANNEL_LIMIT_PER_MINUTE,
        limit_per_2s: WEBHOOK_LIMIT_PER_2S,
        minutes_over_limit: by_family.values().map(|l| l.minutes_over_limit).sum(),
        by_family,
    }
}

fn noise(alerts: &[&Alert]) -> Noise {
    let (h, m) = LATE_CUTOFF_ET;
    let cutoff = NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
    let mut after_cutoff: BTreeMap<Bot, u64> = BTreeMap::new();
    let mut per_contract: BTreeMap<(Bot, &str), u64> = BTreeMap::new();
    let (mut unconfirmed_sweeps, mut implausible_premium) = (0, 0);
    for a in alerts {
        if a.at.with_timezone(&MARKET_TZ).time() >= cutoff {
            *after_cutoff.entry(a.bot).or_default() += 1;
        }
        if let Some(c) = &a.contract {
            *per_contract.entry((a.bot, c.as_str())).or_default() += 1;
        }
        // Plain unconfirmed flow, and ISO prints on too few exchanges to be
        // a sweep ("flow (unconfirmed): 1 ISO print on 1 exchange").
        if matches!(a.bot, Bot::Sweeps | Bot::GoldenSweeps) && a.label.starts_with(UNCONFIRMED_LABEL) {
            unconfirmed_sweeps += 1;
        }
        if a.premium.is_some_and(|p| p > IMPLAUSIBLE_PREMIUM_USD) {
            implausible_premium += 1;
        }
    }
    Noise {
        late_cutoff_et: format!("{h:02}:{m:02}"),
        after_cutoff,
        repeat_contracts: per_contract.values().filter(|n| **n > 1).count() as u64,
        max_alerts_one_contract: per_contract.values().copied().max().unwrap_or(0),
        unconfirmed_sweeps,
        implausible_premium,
    }
}

#[cfg(test)]
mod tests;
