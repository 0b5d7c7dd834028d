//! `orakl status` and `orakl health`: what an operator asks a running (or
//! stopped) service, answered from the state database. Both are separate
//! processes from the service: what only the service knows (API usage,
//! caches, open circuits) comes from the snapshot its heartbeat keeps in the
//! database; the rest (runs, outbox, errors) is read live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{Cli, Failure};
use crate::calendar::{self, MARKET_TZ};
use crate::clock::{Clock, Shutdown, SystemClock};
use crate::health::{self, Freshness, Health, Inputs, Live, Vantage};
use crate::job::JobName;
use crate::metrics::Snapshot;
use crate::schedule::{Line, Timetable};
use crate::store::Store;

/// Recent processing errors shown by `status`.
const RECENT_ERRORS: usize = 10;
/// Recent failed or expired alerts shown by `status`.
const RECENT_UNDELIVERED: usize = 10;
/// A run's detail is cut to this many characters in the jobs table.
const DETAIL_CHARS: usize = 70;

pub(super) fn status(cli: &Cli) -> Result<(), Failure> {
    let ctx = Context::open(cli)?;
    let now = SystemClock::new(Shutdown::new()).now();
    let text = render_status(&ctx, now).map_err(Failure::runtime)?;
    super::print_out(&text)
}

/// `orakl health`'s exit code when it cannot judge: the monitoring-plugin
/// convention's UNKNOWN (its 0, 1 and 2 are OK, WARNING and CRITICAL, see
/// [`health::Verdict`]).
pub const EXIT_UNKNOWN: i32 = 3;

pub(super) fn health(cli: &Cli) -> Result<(), Failure> {
    // Whatever keeps the score from being judged (no state file, an
    // unreadable one) is UNKNOWN, never a code that means a health state.
    let unknown = |f: Failure| Failure { code: EXIT_UNKNOWN, error: f.error };
    let ctx = Context::open(cli).map_err(unknown)?;
    let now = SystemClock::new(Shutdown::new()).now();
    let report = assess(&ctx, now).map_err(|e| unknown(Failure::runtime(e)))?;
    let verdict = health::Verdict::of(&report.health, report.inputs.heartbeat.as_ref());
    let mut json = report.to_json(&ctx, now);
    json["status"] = verdict.as_str().into();
    let mut text = serde_json::to_string_pretty(&json).map_err(|e| unknown(Failure::runtime(e)))?;
    text.push('\n');
    super::print_out(&text).map_err(unknown)?;
    match verdict.exit_code() {
        0 => Ok(()),
        code => Err(Failure {
            code,
            error: anyhow::anyhow!("health: {} (score {})", verdict.as_str(), report.health.score),
        }),
    }
}

/// The state database and the timetable, opened for reading.
struct Context {
    store: Store,
    state: PathBuf,
    timetable: Timetable,
    snapshot: Option<Snapshot>,
}

impl Context {
    fn open(cli: &Cli) -> Result<Context, Failure> {
        let (_, store) = super::open_existing_state(cli)?;
        let timetable = super::replay::timetable(cli)?;
        let state = store.path().to_path_buf();
        let snapshot = match store.snapshot().map_err(Failure::runtime)? {
            Some((_, json)) => match serde_json::from_str::<Snapshot>(&json) {
                Ok(s) => Some(s),
                Err(e) => {
                    log::warn!(error:% = e; "snapshot_unreadable");
                    None
                }
            },
            None => None,
        };
        Ok(Context { store, state, timetable, snapshot })
    }

    /// Each job's lines, in timetable order of first appearance.
    fn lines_by_job(&self) -> BTreeMap<JobName, Vec<&Line>> {
        let mut by_job: BTreeMap<JobName, Vec<&Line>> = BTreeMap::new();
        for line in &self.timetable.lines {
            by_job.entry(line.job).or_default().push(line);
        }
        by_job
    }
}

/// The health score with what it was computed from.
struct Report {
    health: Health,
    inputs: Inputs,
    heartbeat_at: Option<DateTime<Utc>>,
}

impl Report {
    fn to_json(&self, ctx: &Context, now: DateTime<Utc>) -> serde_json::Value {
        let i = &self.inputs;
        let freshness = |f: &Freshness| {
            json!({
                "job": f.job,
                "last_success": f.last_ok.map(rfc3339),
                "missed_firings": f.missed,
                "missed_since": f.missed_since.map(rfc3339),
                "stale": f.is_stale(),
            })
        };
        json!({
            "score": self.health.score,
            "status": self.health.status.as_str(),
            "at": rfc3339(now),
            "state": ctx.state.display().to_string(),
            "timetable": ctx.timetable.path,
            "components": self.health.components,
            "api": {
                "window_requests": i.api.requests,
                "window_failed": i.api.failed,
                "error_rate": i.api.error_rate(),
            },
            "bots": i.bots.iter().map(freshness).collect::<Vec<_>>(),
            "heartbeat": {
                "last": self.heartbeat_at.map(rfc3339),
                "age_s": self.heartbeat_at.map(|t| (now - t).num_seconds()),
                "stale": i.heartbeat.as_ref().map(Freshness::is_stale),
            },
            "outbox": { "pending": i.pending, "oldest_pending_age_s": i.oldest_pending_age_s },
            "delivery": {
                "window_minutes": health::DELIVERY_WINDOW_MINUTES,
                "sent": i.delivery.sent,
                "failed": i.delivery.failed,
                "expired": i.delivery.expired,
            },
            "open_circuits": i.open_circuits,
            "retired_webhooks": i.retired_webhooks,
            "disabled_features": i.disabled_features,
        })
    }
}

/// The score as seen from outside the service: what only the service
/// knows (the API window, open circuits, when it started) from its last
/// heartbeat, the rest from the database now, through the same function
/// the heartbeat uses; the heartbeat is judged too (a silent heartbeat
/// means a stopped service).
fn assess(ctx: &Context, now: DateTime<Utc>) -> anyhow::Result<Report> {
    let live = match &ctx.snapshot {
        Some(s) => Live {
            api: s.window,
            open_circuits: s.open_circuits.clone(),
            disabled_features: s.disabled_features.clone(),
            started_at: Some(s.started_at),
        },
        None => Live::default(),
    };
    let inputs = health::gather(&ctx.store, &ctx.timetable.lines, live, Vantage::Outside, now)?;
    Ok(Report { health: health::assess(&inputs), inputs, heartbeat_at: ctx.snapshot.as_ref().map(|s| s.at) })
}

fn et(t: DateTime<Utc>) -> String {
    t.with_timezone(&MARKET_TZ).format("%Y-%m-%d %H:%M:%S %Z").to_string()
}

fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn render_status(ctx: &Context, now: DateTime<Utc>) -> anyhow::Result<String> {
    let mut s = String::new();
    let report = assess(ctx, now)?;
    s.push_str(&format!("orakl status at {} — state {}\n", et(now), display(&ctx.state)));
    s.push_str(&format!("health: {} {} (details: orakl health)\n", report.health.score, report.health.status.as_str()));
    for (name, c) in report.health.components.iter().filter(|(_, c)| c.penalty > 0) {
        s.push_str(&format!("  -{} {name}: {}\n", c.penalty, c.detail));
    }

    // Jobs: every job of the timetable, and any job that ran but is no longer in it.
    s.push_str(&format!("\njobs (timetable {})\n", ctx.timetable.path));
    let runs: BTreeMap<String, crate::store::RunRecord> =
        ctx.store.last_runs()?.into_iter().map(|r| (r.job.clone(), r)).collect();
    let by_job = ctx.lines_by_job();
    let mut jobs: Vec<String> = by_job.keys().map(|j| j.as_str().to_string()).collect();
    jobs.extend(runs.keys().filter(|j| !jobs.contains(j)).cloned().collect::<Vec<_>>());
    let mut rows = vec![[
        "job".to_string(),
        "last run".to_string(),
        "result".to_string(),
        "next run".to_string(),
        "detail".to_string(),
    ]];
    for job in &jobs {
        let run = runs.get(job);
        let next = job
            .parse::<JobName>()
            .ok()
            .and_then(|j| by_job.get(&j))
            .and_then(|lines| lines.iter().filter_map(|l| l.next_gated_after(now)).min());
        rows.push([
            job.clone(),
            run.map_or("never".into(), |r| et(r.started_at)),
            run.map_or("-".into(), |r| r.result.to_string()),
            match next {
                Some(t) => et(t),
                None if by_job.keys().any(|j| j.as_str() == job) => "none in 15 days".into(),
                None => "not in the timetable".into(),
            },
            run.map_or(String::new(), |r| cut(&r.detail, DETAIL_CHARS)),
        ]);
    }
    s.push_str(&table(&rows));

    let today = calendar::trading_date(now);
    let midnight = calendar::et_midnight(today).unwrap_or(now - Duration::days(1));
    let today_counts = ctx.store.alert_counts_by_bot(Some(midnight))?;
    s.push_str(&format!("\nalerts today ({today} ET)\n"));
    let mut rows = vec![["bot".to_string(), "alerts".to_string()]];
    for bot in crate::job::Bot::ALL {
        rows.push([bot.as_str().to_string(), today_counts.get(bot.as_str()).copied().unwrap_or(0).to_string()]);
    }
    s.push_str(&table(&rows));

    let c = ctx.store.outbox_counts()?;
    s.push_str(&format!(
        "\noutbox\n  pending {}  sent {}  failed {}  expired {}",
        c.pending, c.sent, c.failed, c.expired
    ));
    match report.inputs.oldest_pending_age_s {
        Some(age) => s.push_str(&format!("  (oldest pending {age} s)\n")),
        None => s.push('\n'),
    }
    let d = &report.inputs.delivery;
    s.push_str(&format!(
        "  last {} min: sent {}  failed {}  expired {}\n",
        health::DELIVERY_WINDOW_MINUTES,
        d.sent,
        d.failed,
        d.expired
    ));
    let since = now - Duration::minutes(health::DELIVERY_WINDOW_MINUTES);
    let undelivered = ctx.store.undelivered_since(since, RECENT_UNDELIVERED)?;
    let lines = undelivered.iter().map(|u| {
        let reason = u.reason.as_deref().map(|r| format!(": {}", cut(r, 120))).unwrap_or_default();
        format!("{} {} {} {}{reason}", et(u.at), u.status, u.bot, u.id)
    });
    section(
        &mut s,
        &format!(
            "undelivered alerts (last {} min, newest first, at most {RECENT_UNDELIVERED})",
            health::DELIVERY_WINDOW_MINUTES
        ),
        lines,
    );

    match &ctx.snapshot {
        None => s.push_str("\napi usage and caches: no heartbeat recorded yet\n"),
        Some(snap) => {
            s.push_str(&format!("\napi usage since {} (heartbeat at {})\n", et(snap.started_at), et(snap.at)));
            let mut rows = vec![[
                "endpoint".to_string(),
                "requests by status".to_string(),
                "pages".to_string(),
                "retries".to_string(),
            ]];
            for (endpoint, e) in &snap.api {
                let by_status: Vec<String> = e.requests.iter().map(|(k, v)| format!("{k}={v}")).collect();
                rows.push([endpoint.clone(), by_status.join(" "), e.pages.to_string(), e.retries.to_string()]);
            }
            if rows.len() == 1 {
                s.push_str("  no requests\n");
            } else {
                s.push_str(&table(&rows));
            }
            s.push_str("\ncaches\n");
            let mut rows = vec![[
                "cache".to_string(),
                "hit rate".to_string(),
                "hits".to_string(),
                "misses".to_string(),
                "entries".to_string(),
            ]];
            for (name, c) in &snap.caches {
                rows.push([
                    name.clone(),
                    format!("{:.3}", c.hit_rate()),
                    c.hits.to_string(),
                    c.misses.to_string(),
                    c.entries.to_string(),
                ]);
            }
            s.push_str(&table(&rows));
            if !snap.open_circuits.is_empty() {
                s.push_str(&format!("\nopen circuits: {}\n", snap.open_circuits.join(", ")));
            }
            let over: Vec<String> = snap.budget_suppressed.iter().map(|(b, n)| format!("{b} {n}")).collect();
            if !over.is_empty() {
                s.push_str(&format!("\nsuppressed by the hourly alert budget since start: {}\n", over.join(", ")));
            }
        }
    }

    let disabled = ctx.store.disabled_features()?;
    let lines = disabled.iter().map(|d| format!("{} since {}: {}", d.name, et(d.at), d.reason));
    section(&mut s, "disabled features (403)", lines);
    s.push_str(&prints_lane(ctx, &disabled)?);
    let retired = ctx.store.retired_webhooks()?;
    let lines = retired.iter().map(|d| format!("webhook {} since {}: {}", d.name, et(d.at), d.reason));
    section(&mut s, "retired webhooks (404)", lines);
    let errors = ctx.store.recent_errors(RECENT_ERRORS)?;
    let lines = errors.iter().map(|e| {
        let symbol = e.symbol.as_ref().map(|s| format!(" {s}")).unwrap_or_default();
        format!("{} {}{symbol}: {}", et(e.at), e.component, cut(&e.message, 200))
    });
    section(&mut s, &format!("recent processing errors (newest first, at most {RECENT_ERRORS})"), lines);
    Ok(s)
}

/// The prints lane's line: off (not in the timetable), off by a 403 (the
/// sweep families run on snapshots), or where its cursor stands.
fn prints_lane(ctx: &Context, disabled: &[crate::store::Disabled]) -> anyhow::Result<String> {
    let scheduled = ctx.timetable.lines.iter().any(|l| l.job == crate::job::JobName::MarketPrints);
    let forbidden = disabled.iter().any(|d| d.name == crate::polygon::Feature::MarketPrints.as_str());
    let state = if !scheduled {
        "off: no market_prints line in the timetable; Sweeps and Golden Sweeps read snapshots".to_string()
    } else if forbidden {
        "off: the plan lacks /options/v1/unusual-trades (403); Sweeps and Golden Sweeps read snapshots".to_string()
    } else {
        let cursor = ctx.store.cursor(crate::engine::PRINTS_CURSOR_KEY)?;
        let read = cursor.as_deref().and_then(crate::orders::PrintsCursor::parse).map_or_else(
            || "nothing read yet".to_string(),
            |c| format!("read to {}", et(DateTime::from_timestamp_nanos(c.sip_timestamp))),
        );
        format!("on: Sweeps and Golden Sweeps from the trade tape; {read}")
    };
    Ok(format!(
        "
prints lane
  {state}
"
    ))
}

/// A titled list of lines, indented by two, or `none`.
fn section(s: &mut String, title: &str, lines: impl Iterator<Item = String>) {
    s.push_str(&format!("\n{title}\n"));
    let before = s.len();
    for line in lines {
        s.push_str(&format!("  {line}\n"));
    }
    if s.len() == before {
        s.push_str("  none\n");
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Left-aligned columns, two spaces apart, indented by two.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(" ");
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            line.push(' ');
            line.push_str(cell);
            if i + 1 < N {
                line.push_str(&" ".repeat(w - cell.chars().count() + 1));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
