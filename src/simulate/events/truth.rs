//! The truth file: one line per injected event with the bots expected to
//! fire, and for an option event what its contract did afterwards (SPEC §8's
//! levels read from its minute bars).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::pricing::round_dp;
use crate::job::Bot;
use crate::polygon::Bar;

/// One line of the truth file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthEvent {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub symbol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    pub expected_bots: Vec<String>,
    pub near_miss: bool,
    /// The bots this event was sized to narrowly miss.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub near_miss_bots: Vec<String>,
    pub why: String,
    /// Option events: what the contract's minute bars show after the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<After>,
    /// Dark-pool events: the print's size in shares (background blocks on
    /// the same symbol alert too; the size tells the event's alert apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    /// Option events: the `sip_timestamp` of the earliest of the event's
    /// injected prints (a repeat cluster's: of all its members'), written
    /// with nanoseconds, so print → alert latency can be measured from the
    /// print rather than from the snapshot that shows it. Absent for
    /// events without injected option prints (and in older truth files).
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "rfc3339_nanos")]
    pub prints_at: Option<DateTime<Utc>>,
}

/// `2026-03-09T14:49:29.912345678Z`: always nine digits, where chrono's own
/// form drops trailing zeros.
fn rfc3339_nanos<S: serde::Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        None => s.serialize_none(),
    }
}

/// What an option event's contract did after it, read from its recorded
/// 1-minute bars the way SPEC §8 resolves an options alert: entry is the
/// ask in the snapshot that reveals the event (what an alert at that moment
/// enters at); only bars that start after the event's minute count (never
/// the event minute itself); T1 is +50%, T2 +100%, the stop −50%; the first
/// bar to touch a level decides, a bar touching both the stop and T1 counts
/// as stopped, and T2 upgrades a T1 when a bar reaches it before any bar
/// touches the stop. Levels are compared with a 1e-9 slack (a bar at
/// exactly +50% is a touch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct After {
    pub entry: f64,
    /// Bars after the event's minute (to the end of the recording).
    pub bars: usize,
    /// Highest high and lowest low over those bars, percent from entry
    /// (2 decimals); absent without bars.
    pub max_pct: Option<f64>,
    pub min_pct: Option<f64>,
    /// `t1`, `stop` or `none`.
    pub first: String,
    pub t2: bool,
}

/// SPEC §8's default option levels (`OUTCOME_T1_PCT`, `OUTCOME_T2_PCT`,
/// `OUTCOME_STOP_PCT`).
pub const AFTER_T1: f64 = 0.5;

pub const AFTER_T2: f64 = 1.0;

pub const AFTER_STOP: f64 = 0.5;

/// [`After`] from `entry` and the bars after the event's minute, in time
/// order.
pub fn after_event(entry: f64, bars: &[Bar]) -> After {
    const SLACK: f64 = 1e-9;
    let t1 = entry * (1.0 + AFTER_T1) - SLACK;
    let t2 = entry * (1.0 + AFTER_T2) - SLACK;
    let stop = entry * (1.0 - AFTER_STOP) + SLACK;
    let mut first = "none";
    let mut upgraded = false;
    for b in bars {
        let stopped = b.low <= stop;
        match first {
            "none" if stopped => first = "stop",
            "none" if b.high >= t1 => {
                first = "t1";
                upgraded = b.high >= t2;
            }
            "t1" if stopped => break,
            "t1" if b.high >= t2 => upgraded = true,
            _ => {}
        }
        if first == "stop" || upgraded {
            break;
        }
    }
    let pct = |x: f64| round_dp((x / entry - 1.0) * 100.0, 2);
    let high = bars.iter().map(|b| b.high).reduce(f64::max);
    let low = bars.iter().map(|b| b.low).reduce(f64::min);
    After {
        entry,
        bars: bars.len(),
        max_pct: high.map(pct),
        min_pct: low.map(pct),
        first: first.to_string(),
        t2: upgraded,
    }
}

impl TruthEvent {
    /// A line about one bot, decided from the bars or the prints alone: it
    /// expects `bot` when `expected`; `near` marks an event built to narrowly
    /// miss it, which is a near-miss only if the bot does not fire after all.
    pub(super) fn about(
        at: DateTime<Utc>,
        kind: &str,
        symbol: &str,
        bot: Bot,
        expected: bool,
        near: bool,
        why: String,
    ) -> Self {
        let bots = || vec![bot.as_str().to_string()];
        TruthEvent {
            id: String::new(),
            at,
            kind: kind.to_string(),
            symbol: symbol.to_string(),
            contract: None,
            expected_bots: if expected { bots() } else { vec![] },
            near_miss: near && !expected,
            near_miss_bots: if near { bots() } else { vec![] },
            why,
            after: None,
            size: None,
            prints_at: None,
        }
    }
}

/// Marks the dark-pool truth line of `symbol` at `at` as held back by the
/// cooldown of a background block at `block_at`, which the scan alerts on
/// first.
pub fn held_back(truth: &mut [TruthEvent], symbol: &str, at: DateTime<Utc>, block_at: DateTime<Utc>) {
    for line in truth.iter_mut().filter(|l| l.kind == "darkpool" && l.symbol == symbol && l.at == at) {
        if line.expected_bots.is_empty() {
            continue;
        }
        line.expected_bots.clear();
        let when = block_at.with_timezone(&crate::calendar::MARKET_TZ).format("%H:%M:%S");
        line.why.push_str(&format!(
            "; held back: a background off-exchange block at {when} ET holds the Darkpool cooldown (DARKPOOL_COOLDOWN_SECONDS 900)"
        ));
    }
}
