//! The health score (SPEC §12): 0–100 from the API error rate, the staleness
//! of each bot's last successful scan in session, the age of the outbox
//! backlog, alerts that failed or expired lately, open circuits, retired
//! webhooks and disabled features.
//!
//! The heartbeat (inside the service) and `orakl health`/`orakl status`
//! (other processes, reading the state database) gather the inputs with the
//! one function [`gather`]; what only the running service knows comes in as
//! [`Live`] (from outside: the heartbeat's last snapshot). Turning inputs
//! into a score ([`assess`]) is pure. Each component costs a penalty; the
//! score is 100 minus their sum. A penalty of [`DEGRADED_PENALTY`] on its own makes the service
//! degraded, so any one real problem (an open circuit, a dead bot, a deleted
//! webhook) shows, while small blips (a few failed requests) do not.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::job::JobName;
use crate::schedule::Line;
use crate::store::{Settled, Store, StoreError};

/// A score at or above this is healthy.
pub const HEALTHY_MIN: u32 = 80;
/// A score at or above this (and below [`HEALTHY_MIN`]) is degraded; below
/// it, unhealthy.
pub const DEGRADED_MIN: u32 = 50;
/// The penalty that turns a perfect score into a degraded one.
pub const DEGRADED_PENALTY: u32 = 100 - HEALTHY_MIN + 5;

/// An error rate up to this is normal for a public API (a stray 5xx or 429).
pub const ERROR_RATE_FREE: f64 = 0.05;
/// At this error rate the API component costs its whole weight.
pub const ERROR_RATE_FULL: f64 = 0.5;
const API_WEIGHT: f64 = 40.0;

/// Fewer requests than this in the window say too little to judge a rate by
/// (two failures out of three requests is noise); they cost at most the
/// degraded-free part of the API weight.
pub const MIN_REQUESTS_TO_JUDGE: u64 = 10;

/// A pending alert younger than this is simply on its way.
pub const BACKLOG_FREE_SECONDS: i64 = 60;
/// At this age a pending alert is about to expire unposted
/// (`ALERT_MAX_AGE_SECONDS`' default): the backlog costs its whole weight.
pub const BACKLOG_FULL_SECONDS: i64 = 900;
const BACKLOG_WEIGHT: f64 = 40.0;

/// How far back failed and expired alerts count against the score: long
/// enough that an operator's look an hour after an outage still sees it.
pub const DELIVERY_WINDOW_MINUTES: i64 = 60;

/// A job has to miss this many firings in a row to be stale: one firing
/// skipped because an earlier job ran long is the timetable working.
pub const STALE_MIN_MISSED: u32 = 2;
/// A firing counts as missed only once this long has passed after it, the
/// time a firing may take to start and finish (a slow chain, retries).
pub const STALE_SLACK_SECONDS: i64 = 60;
/// How far back firings are counted: enough to tell stale from fresh, and a
/// bound on the work.
pub const STALE_LOOKBACK_HOURS: i64 = 6;
/// Bound on the firings examined per job.
const MAX_FIRINGS_EXAMINED: u32 = 5_000;

/// The API requests of the window the rate is judged on (since the previous
/// heartbeat, or since start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiWindow {
    pub requests: u64,
    /// No response, a 429 or a 5xx.
    pub failed: u64,
}

impl ApiWindow {
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.failed as f64 / self.requests as f64 }
    }
}

/// How a job stands against its timetable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    pub job: String,
    pub last_ok: Option<DateTime<Utc>>,
    /// Gated firings that came and went (plus the slack) after the last
    /// successful run, in the lookback window.
    pub missed: u32,
    /// The first of those firings.
    pub missed_since: Option<DateTime<Utc>>,
}

impl Freshness {
    pub fn is_stale(&self) -> bool {
        self.missed >= STALE_MIN_MISSED
    }
}

/// Counts the firings of `lines` (one job's lines) that its session gates
/// allow and that should have run by `now` but came after `last_ok`.
/// Firings before `floor` (the service's start, the lookback) are not held
/// against the job. Outside its session a job has no due firings, so it is
/// never stale there.
pub fn freshness(
    job: &str,
    lines: &[&Line],
    last_ok: Option<DateTime<Utc>>,
    floor: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Freshness {
    let lookback = now - Duration::hours(STALE_LOOKBACK_HOURS);
    let from = [Some(floor), Some(lookback), last_ok].into_iter().flatten().max().unwrap_or(lookback);
    let due_by = now - Duration::seconds(STALE_SLACK_SECONDS);
    let mut firings = Vec::new();
    for line in lines {
        let mut t = from;
        for _ in 0..MAX_FIRINGS_EXAMINED {
            match line.next_gated_after(t) {
                Some(f) if f <= due_by => {
                    firings.push(f);
                    t = f;
                }
                _ => break,
            }
        }
    }
    firings.sort();
    firings.dedup();
    Freshness {
        job: job.to_string(),
        last_ok,
        missed: u32::try_from(firings.len()).unwrap_or(u32::MAX),
        missed_since: firings.first().copied(),
    }
}

/// Everything the score is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    pub api: ApiWindow,
    /// One per bot in the timetable.
    pub bots: Vec<Freshness>,
    /// The heartbeat job, when the score is computed from outside the
    /// service: a heartbeat that stopped means the service stopped.
    pub heartbeat: Option<Freshness>,
    pub pending: u64,
    /// Age of the oldest pending alert.
    pub oldest_pending_age_s: Option<i64>,
    /// The alerts that left the outbox in the last
    /// [`DELIVERY_WINDOW_MINUTES`], by how.
    pub delivery: Settled,
    pub open_circuits: Vec<String>,
    pub retired_webhooks: Vec<String>,
    pub disabled_features: Vec<String>,
    /// Why the state database cannot be written, while it cannot (only the
    /// service knows; from outside, its heartbeat stops being saved).
    pub store_unwritable: Option<String>,
}

/// A store that cannot write pauses delivery and scanning: unhealthy.
pub const STORE_UNWRITABLE_PENALTY: u32 = 100 - DEGRADED_MIN + 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Status {
    pub fn from_score(score: u32) -> Status {
        if score >= HEALTHY_MIN {
            Status::Healthy
        } else if score >= DEGRADED_MIN {
            Status::Degraded
        } else {
            Status::Unhealthy
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// `orakl health`'s answer in the monitoring-plugin convention (Nagios,
/// Icinga, Sensu): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Judged(Status),
    /// No heartbeat has ever been recorded: a service that has just started
    /// (or never ran) cannot be judged yet.
    Starting,
}

impl Verdict {
    /// The verdict on `health`, given the heartbeat as judged from outside
    /// (`None` from inside the service, which is running by definition).
    pub fn of(health: &Health, heartbeat: Option<&Freshness>) -> Verdict {
        match heartbeat {
            Some(hb) if hb.last_ok.is_none() => Verdict::Starting,
            _ => Verdict::Judged(health.status),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Judged(s) => s.as_str(),
            Verdict::Starting => "starting",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Judged(Status::Healthy) => 0,
            Verdict::Judged(Status::Degraded) => 1,
            Verdict::Judged(Status::Unhealthy) => 2,
            Verdict::Starting => 3,
        }
    }
}

/// One component: its penalty and what it saw, for the JSON and the logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub penalty: u32,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub score: u32,
    pub status: Status,
    /// By name: `api_errors`, `staleness`, `outbox_backlog`, `delivery`,
    /// `circuits`, `webhooks`, `features`, `store_writes` while the service
    /// cannot write its state, and `heartbeat` when judged from outside
    /// (`store` alone when the inputs could not be read).
    pub components: BTreeMap<String, Component>,
}

/// The score from its inputs.
pub fn assess(inputs: &Inputs) -> Health {
    let mut components = BTreeMap::new();
    components.insert("api_errors".to_string(), api_component(&inputs.api));
    components.insert("staleness".to_string(), staleness_component(&inputs.bots));
    components.insert("outbox_backlog".to_string(), backlog_component(inputs.pending, inputs.oldest_pending_age_s));
    components.insert("delivery".to_string(), delivery_component(&inputs.delivery));
    components.insert("circuits".to_string(), list_component(&inputs.open_circuits, DEGRADED_PENALTY, 10, "open"));
    components.insert(
        "webhooks".to_string(),
        list_component(&inputs.retired_webhooks, DEGRADED_PENALTY, 10, "retired (404)"),
    );
    components.insert(
        "features".to_string(),
        list_component(&inputs.disabled_features, DEGRADED_PENALTY, 5, "disabled (403)"),
    );
    if let Some(hb) = &inputs.heartbeat {
        components.insert("heartbeat".to_string(), heartbeat_component(hb));
    }
    if let Some(why) = &inputs.store_unwritable {
        let detail = format!("the state database cannot be written ({why}): delivery and scanning paused");
        components.insert("store_writes".to_string(), Component { penalty: STORE_UNWRITABLE_PENALTY, detail });
    }
    let penalty: u32 = components.values().map(|c| c.penalty).sum();
    let score = 100u32.saturating_sub(penalty);
    Health { score, status: Status::from_score(score), components }
}

fn api_component(api: &ApiWindow) -> Component {
    let rate = api.error_rate();
    let share = ((rate - ERROR_RATE_FREE) / (ERROR_RATE_FULL - ERROR_RATE_FREE)).clamp(0.0, 1.0);
    let mut penalty = (share * API_WEIGHT).round() as u32;
    if api.requests < MIN_REQUESTS_TO_JUDGE {
        penalty = penalty.min(100 - HEALTHY_MIN);
    }
    Component { penalty, detail: format!("{} of {} requests failed ({:.1}%)", api.failed, api.requests, rate * 100.0) }
}

fn staleness_component(bots: &[Freshness]) -> Component {
    let stale: Vec<&Freshness> = bots.iter().filter(|b| b.is_stale()).collect();
    if stale.is_empty() {
        return Component { penalty: 0, detail: format!("{} bots current", bots.len()) };
    }
    // The first stale bot degrades; all of them stale is unhealthy.
    let extra = 60 - DEGRADED_PENALTY;
    let others = (bots.len().max(2) - 1) as u32;
    let penalty = DEGRADED_PENALTY + extra * (stale.len() as u32 - 1) / others;
    let names: Vec<String> = stale.iter().map(|b| format!("{} (missed {})", b.job, b.missed)).collect();
    Component { penalty, detail: format!("stale: {}", names.join(", ")) }
}

fn backlog_component(pending: u64, oldest_age_s: Option<i64>) -> Component {
    let Some(age) = oldest_age_s else {
        return Component { penalty: 0, detail: "no pending alerts".to_string() };
    };
    let share = (age - BACKLOG_FREE_SECONDS) as f64 / (BACKLOG_FULL_SECONDS - BACKLOG_FREE_SECONDS) as f64;
    let penalty = (share.clamp(0.0, 1.0) * BACKLOG_WEIGHT).round() as u32;
    Component { penalty, detail: format!("{pending} pending, oldest {age} s") }
}

/// An alert that failed or expired is one the channel never got: the first
/// degrades, and the larger their share of what left the outbox, the worse
/// (all of them lost is unhealthy).
fn delivery_component(d: &Settled) -> Component {
    let lost = d.failed + d.expired;
    let detail =
        format!("last {DELIVERY_WINDOW_MINUTES} min: {} sent, {} failed, {} expired", d.sent, d.failed, d.expired);
    if lost == 0 {
        return Component { penalty: 0, detail };
    }
    let share = lost as f64 / (lost + d.sent) as f64;
    let penalty = DEGRADED_PENALTY + (f64::from(60 - DEGRADED_PENALTY) * share).round() as u32;
    Component { penalty, detail }
}

fn list_component(items: &[String], first: u32, each_more: u32, what: &str) -> Component {
    if items.is_empty() {
        return Component { penalty: 0, detail: "none".to_string() };
    }
    let penalty = (first + each_more * (items.len() as u32 - 1)).min(60);
    Component { penalty, detail: format!("{what}: {}", items.join(", ")) }
}

fn heartbeat_component(hb: &Freshness) -> Component {
    if hb.last_ok.is_none() {
        // Said apart from a stopped service: the first heartbeat has not
        // run yet (the verdict is then "starting").
        return Component {
            penalty: if hb.is_stale() { 100 - DEGRADED_MIN + 10 } else { 0 },
            detail: format!("no heartbeat recorded yet (missed {}): the service is starting", hb.missed),
        };
    }
    if hb.is_stale() {
        let since = hb.last_ok.map_or("never".to_string(), |t| t.to_rfc3339());
        return Component {
            penalty: 100 - DEGRADED_MIN + 10,
            detail: format!("no heartbeat since {since} (missed {}): the service is not running", hb.missed),
        };
    }
    Component { penalty: 0, detail: "the service is running".to_string() }
}

/// What only the running service knows. From outside the service it comes
/// from the heartbeat's last snapshot (nothing, before the first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    /// The API requests of the window judged.
    pub api: ApiWindow,
    pub open_circuits: Vec<String>,
    /// Features the client switched off (the store keeps them too).
    pub disabled_features: Vec<String>,
    /// When the service started: firings before it are not its bots' fault.
    pub started_at: Option<DateTime<Utc>>,
}

/// Who is asking, which decides whether the heartbeat itself is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vantage {
    /// The heartbeat job, inside the service.
    Inside,
    /// `orakl health` and `orakl status`: a heartbeat that stopped means the
    /// service stopped.
    Outside,
}

/// The score's inputs: `live` and the state database, judged against the
/// timetable's `lines` at `now`. The one place they are put together.
pub fn gather(
    store: &Store,
    lines: &[Line],
    live: Live,
    vantage: Vantage,
    now: DateTime<Utc>,
) -> Result<Inputs, StoreError> {
    let last_ok = store.last_successes()?;
    let lookback = now - Duration::hours(STALE_LOOKBACK_HOURS);
    let bot_floor = live.started_at.unwrap_or(lookback);
    let mut by_job: BTreeMap<JobName, Vec<&Line>> = BTreeMap::new();
    for line in lines {
        by_job.entry(line.job).or_default().push(line);
    }
    let mut bots = Vec::new();
    let mut heartbeat = None;
    for (job, lines) in &by_job {
        let name = job.as_str();
        let last = last_ok.get(name).copied();
        match job {
            JobName::Bot(_) => bots.push(freshness(name, lines, last, bot_floor, now)),
            JobName::Heartbeat if vantage == Vantage::Outside => {
                heartbeat = Some(freshness(name, lines, last, lookback, now));
            }
            _ => {}
        }
    }
    let mut disabled: BTreeSet<String> = store.disabled_features()?.into_iter().map(|d| d.name).collect();
    disabled.extend(live.disabled_features);
    Ok(Inputs {
        api: live.api,
        bots,
        heartbeat,
        pending: store.outbox_counts()?.pending,
        oldest_pending_age_s: store.oldest_pending()?.map(|t| (now - t).num_seconds().max(0)),
        delivery: store.settled_since(now - Duration::minutes(DELIVERY_WINDOW_MINUTES))?,
        open_circuits: live.open_circuits,
        retired_webhooks: store.retired_webhooks()?.into_iter().map(|d| d.name).collect(),
        disabled_features: disabled.into_iter().collect(),
        store_unwritable: None,
    })
}

/// The health of a service whose inputs could not be read from its own
/// state database: nothing it reports can be trusted.
pub fn store_unreadable(error: &StoreError) -> Health {
    let detail = format!("the health inputs cannot be read: {error}");
    let components = BTreeMap::from([("store".to_string(), Component { penalty: 100, detail })]);
    Health { score: 0, status: Status::Unhealthy, components }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::schedule::Timetable;

    fn fresh(job: &str) -> Freshness {
        Freshness { job: job.into(), last_ok: None, missed: 0, missed_since: None }
    }

    fn stale(job: &str, missed: u32) -> Freshness {
        Freshness { missed, ..fresh(job) }
    }

    fn eight(stale_n: usize) -> Vec<Freshness> {
        (0..8).map(|i| if i < stale_n { stale(&format!("b{i}"), 5) } else { fresh(&format!("b{i}")) }).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scores_and_statuses() {
        let api = |requests, failed| ApiWindow { requests, failed };
        // (case, inputs, score, status)
        let cases: Vec<(&str, Inputs, u32, Status)> = vec![
            ("all quiet", Inputs::default(), 100, Status::Healthy),
            ("5% errors are free", Inputs { api: api(100, 5), ..Default::default() }, 100, Status::Healthy),
            ("20% errors", Inputs { api: api(100, 20), ..Default::default() }, 87, Status::Healthy),
            ("30% errors", Inputs { api: api(100, 30), ..Default::default() }, 78, Status::Degraded),
            ("every request failing", Inputs { api: api(100, 100), ..Default::default() }, 60, Status::Degraded),
            (
                "three of three failing says little",
                Inputs { api: api(3, 3), ..Default::default() },
                80,
                Status::Healthy,
            ),
            ("one stale bot", Inputs { bots: eight(1), ..Default::default() }, 75, Status::Degraded),
            ("four stale bots", Inputs { bots: eight(4), ..Default::default() }, 60, Status::Degraded),
            ("every bot stale", Inputs { bots: eight(8), ..Default::default() }, 40, Status::Unhealthy),
            (
                "one missed firing is not staleness",
                Inputs { bots: vec![stale("sweeps", 1)], ..Default::default() },
                100,
                Status::Healthy,
            ),
            (
                "a young backlog",
                Inputs { pending: 3, oldest_pending_age_s: Some(45), ..Default::default() },
                100,
                Status::Healthy,
            ),
            (
                "a backlog near expiry",
                Inputs { pending: 3, oldest_pending_age_s: Some(900), ..Default::default() },
                60,
                Status::Degraded,
            ),
            (
                "one alert refused among many degrades",
                Inputs { delivery: Settled { sent: 99, failed: 1, expired: 0 }, ..Default::default() },
                75,
                Status::Degraded,
            ),
            (
                "half the alerts lost",
                Inputs { delivery: Settled { sent: 10, failed: 4, expired: 6 }, ..Default::default() },
                57,
                Status::Degraded,
            ),
            (
                "a Discord outage: every alert expired",
                Inputs { delivery: Settled { sent: 0, failed: 0, expired: 21 }, ..Default::default() },
                40,
                Status::Unhealthy,
            ),
            (
                "sent alerts cost nothing",
                Inputs { delivery: Settled { sent: 50, failed: 0, expired: 0 }, ..Default::default() },
                100,
                Status::Healthy,
            ),
            (
                "an open circuit degrades",
                Inputs { open_circuits: strings(&["option_chain"]), ..Default::default() },
                75,
                Status::Degraded,
            ),
            (
                "a retired webhook degrades",
                Inputs { retired_webhooks: strings(&["123"]), ..Default::default() },
                75,
                Status::Degraded,
            ),
            (
                "a disabled feature degrades",
                Inputs { disabled_features: strings(&["stock_trades"]), ..Default::default() },
                75,
                Status::Degraded,
            ),
            (
                "the state database cannot be written",
                Inputs { store_unwritable: Some("database or disk is full".into()), ..Default::default() },
                40,
                Status::Unhealthy,
            ),
            (
                "the heartbeat stopped",
                Inputs { heartbeat: Some(stale("heartbeat", 3)), ..Default::default() },
                40,
                Status::Unhealthy,
            ),
            (
                "Polygon down: errors, open circuit, stale bots",
                Inputs {
                    api: api(50, 50),
                    open_circuits: strings(&["option_chain"]),
                    bots: eight(8),
                    ..Default::default()
                },
                0,
                Status::Unhealthy,
            ),
        ];
        for (name, inputs, score, status) in cases {
            let h = assess(&inputs);
            assert_eq!((h.score, h.status), (score, status), "{name}: {:#?}", h.components);
        }
    }

    #[test]
    fn status_boundaries_and_exit_codes() {
        let cases = [(100, 0), (80, 0), (79, 1), (50, 1), (49, 2), (0, 2)];
        let running =
            Freshness { job: "heartbeat".into(), last_ok: Some(utc(14, 0, 0)), missed: 0, missed_since: None };
        for (score, code) in cases {
            let h = Health { score, status: Status::from_score(score), components: BTreeMap::new() };
            assert_eq!(Verdict::of(&h, Some(&running)).exit_code(), code, "score {score}");
            assert_eq!(Verdict::of(&h, None).exit_code(), code, "score {score}, inside");
        }
        // Before the first heartbeat: "starting", UNKNOWN, whatever the score.
        let never = Freshness { last_ok: None, missed: 9, ..running };
        for score in [100, 0] {
            let h = Health { score, status: Status::from_score(score), components: BTreeMap::new() };
            let v = Verdict::of(&h, Some(&never));
            assert_eq!((v.as_str(), v.exit_code()), ("starting", 3), "score {score}");
        }
        assert!(heartbeat_component(&never).detail.contains("starting"));
    }

    fn utc(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        // Monday 2026-03-09 (EDT, UTC−4).
        Utc.with_ymd_and_hms(2026, 3, 9, h, m, s).unwrap()
    }

    #[test]
    fn freshness_counts_due_firings_in_session_only() {
        let tt = Timetable::parse(
            "t",
            "3,18,33,48 * 9-15 * * Mon-Fri sweeps session=regular\n0 */5 * * * * heartbeat session=any\n",
        )
        .unwrap();
        let sweeps = [&tt.lines[0]];
        let open = utc(13, 30, 0);
        // (case, last_ok, floor, now, missed)
        let cases = [
            ("ran 10 s ago", Some(utc(14, 0, 3)), open, utc(14, 0, 13), 0),
            ("one firing past its slack", Some(utc(14, 0, 3)), open, utc(14, 1, 20), 1),
            ("the next firing still within its slack", Some(utc(14, 0, 3)), open, utc(14, 1, 10), 0),
            ("five minutes without a success", Some(utc(14, 0, 3)), open, utc(14, 5, 3), 16),
            ("never ran, service started at 14:00", None, utc(14, 0, 0), utc(14, 2, 0), 4),
            ("before the open nothing is due", None, utc(12, 0, 0), utc(13, 29, 0), 0),
            ("after the close nothing new is due", Some(utc(19, 59, 48)), open, utc(23, 0, 0), 0),
        ];
        for (name, last_ok, floor, now, missed) in cases {
            let f = freshness("sweeps", &sweeps, last_ok, floor, now);
            assert_eq!(f.missed, missed, "{name}: {f:?}");
        }
        // Saturday: the market is closed all day.
        let sat = Utc.with_ymd_and_hms(2026, 3, 14, 16, 0, 0).unwrap();
        let f = freshness("sweeps", &sweeps, None, sat - Duration::hours(5), sat);
        assert_eq!(f.missed, 0);
        // The heartbeat runs every day: a day-old heartbeat is stale.
        let hb = [&tt.lines[1]];
        let f = freshness("heartbeat", &hb, Some(sat - Duration::days(1)), sat - Duration::days(2), sat);
        assert!(f.is_stale(), "{f:?}");
        assert_eq!(f.missed_since, Some(sat - Duration::hours(STALE_LOOKBACK_HOURS) + Duration::minutes(5)));
    }
}
