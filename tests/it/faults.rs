//! Faults through the whole service loop on the simulated clock: a loopback
//! Polygon that answers with every kind of failure (429 bursts with
//! `Retry-After`, 5xx, an HTML error page, truncated and garbage JSON, a
//! reset, a stall and a one-byte drip past the timeout, a failing second
//! page, then a two-minute outage that opens the circuit), and loopback
//! Discords that answer 429 with `retry_after`, 500, 400 and 404.
//!
//! The single faults, one client call at a time, are tested in `polygon`
//! and `discord`; here the question is what the service does with them:
//! it keeps running, loses no alert, posts none twice, waits as long as it
//! is asked to, and its heartbeat reports the right health. The same run
//! checks the secrets canary on what the heartbeat writes (the metrics
//! file, the snapshot in the database) and on `orakl status`/`health`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use orakl::clock::{Clock, SimClock};
use orakl::config::Config;
use orakl::notify::Notifier;
use orakl::schedule::Timetable;
use orakl::service::{Delivery, Service, Settings};
use orakl::store::{AlertStatus, Store};
use serde_json::{Value, json};

use crate::support::fake_http::{FakeServer, Recorded, Reply};
use crate::support::logcap;

pub(crate) const KEY: &str = "CANARY-FAULTS-KEY-9f3e";
const GOLDEN_TOKEN: &str = "CANARYgoldenTOKEN-77";
const SWEEPS_TOKEN: &str = "CANARYsweepsTOKEN-88";
const GOLDEN_HOOK: &str = "323456789012345678";
const SWEEPS_HOOK: &str = "423456789012345678";

pub(crate) const TIMETABLE: &str = "\
3,18,33,48 * 9-15 * * Mon-Fri sweeps        session=regular
6,21,36,51 * 9-15 * * Mon-Fri golden_sweeps session=regular
0          * *    * * *       heartbeat     session=any
";

pub(crate) fn et(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    // Monday 2026-03-09, EDT (UTC−4).
    Utc.with_ymd_and_hms(2026, 3, 9, h + 4, m, s).unwrap()
}

/// Three calls; each one's day volume jumps by 2,000 contracts ($2M at
/// $10) at its instant: before the outage, inside it, and after it.
pub(crate) fn contracts() -> Vec<(&'static str, DateTime<Utc>)> {
    vec![
        ("O:SPY260320C00600000", et(9, 31, 0)),
        ("O:SPY260320C00605000", et(9, 33, 30)),
        ("O:SPY260320C00610000", et(9, 38, 0)),
    ]
}

pub(crate) fn snapshot(ticker: &str, jump: DateTime<Utc>, now: DateTime<Utc>) -> Value {
    let strike: f64 = ticker[ticker.len() - 8..].parse::<f64>().unwrap() / 1000.0;
    let volume = if now >= jump { 3000.0 } else { 1000.0 };
    let ns = now.timestamp_nanos_opt().unwrap();
    json!({
        "details": {"ticker": ticker, "contract_type": "call", "exercise_style": "american",
                    "expiration_date": "2026-03-20", "shares_per_contract": 100, "strike_price": strike},
        "day": {"volume": volume, "vwap": 10.0, "low": 9.0, "high": 11.0, "open": 10.0, "close": 10.0},
        "last_trade": {"price": 10.0, "size": 10, "sip_timestamp": ns, "exchange": 302},
        "last_quote": {"bid": 9.9, "ask": 10.0, "midpoint": 9.95, "last_updated": ns},
        "open_interest": 5000,
        "implied_volatility": 0.2,
        "greeks": {"delta": 0.5, "gamma": 0.01, "theta": -0.05, "vega": 0.2},
        "underlying_asset": {"ticker": "SPY", "price": 602.0},
    })
}

/// One fault of the script: what to answer, to how many eligible requests
/// in a row, and whether only a follow-up page is eligible.
struct Fault {
    name: &'static str,
    times: usize,
    second_page_only: bool,
    reply: fn() -> Reply,
}

fn script() -> Vec<Fault> {
    let f = |name, times, second_page_only, reply| Fault { name, times, second_page_only, reply };
    vec![
        f("429 burst with Retry-After: 2", 3, false, || {
            Reply::json(429, r#"{"status":"ERROR","error":"too many requests"}"#).with_header("retry-after", "2")
        }),
        f("503", 1, false, || Reply::json(503, r#"{"status":"ERROR","error":"unavailable"}"#)),
        f("HTML 502 page", 1, false, || Reply::html(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")),
        f("truncated JSON", 1, false, || Reply::Truncated {
            status: 200,
            body: br#"{"status":"OK","results":[{"details":"#.to_vec(),
            declared_len: 4000,
        }),
        f("garbage JSON", 1, false, || Reply::json(200, "{\"status\":\"OK\",\"results\":[{]]}}} not json")),
        f("connection reset", 1, false, || Reply::Reset),
        f("stall past the timeout", 1, false, || Reply::Stall { status: 200, len: 5000 }),
        f("one-byte drip past the timeout", 1, false, || Reply::Drip {
            status: 200,
            body: vec![b' '; 400],
            every: Duration::from_millis(10),
        }),
        f("second page fails every retry", 4, true, || Reply::json(500, r#"{"status":"ERROR"}"#)),
    ]
}

const OUTAGE: (u32, u32) = (33, 35);

#[derive(Default)]
struct PolygonLog {
    /// (simulated time, target, what was answered)
    requests: Vec<(DateTime<Utc>, String, String)>,
    next_fault: usize,
    fault_left: usize,
    next_eligible: usize,
}

fn polygon(clock: Arc<SimClock>) -> (FakeServer, Arc<Mutex<PolygonLog>>) {
    polygon_with(clock, script(), true, Vec::new())
}

/// The scripted Polygon: `faults` served in turn, the outage if asked for,
/// and wall-clock `jumps` (at, by) applied by the first request at or after
/// `at`, as an NTP step or a resume from suspend would hit a running service.
fn polygon_with(
    clock: Arc<SimClock>,
    faults: Vec<Fault>,
    outage: bool,
    jumps: Vec<(DateTime<Utc>, chrono::Duration)>,
) -> (FakeServer, Arc<Mutex<PolygonLog>>) {
    let log = Arc::new(Mutex::new(PolygonLog::default()));
    let st = log.clone();
    let jumps = Mutex::new(jumps);
    let server = FakeServer::start(move |req: &Recorded| {
        {
            let mut jumps = jumps.lock().unwrap();
            if let Some(i) = jumps.iter().position(|(at, _)| clock.now() >= *at) {
                clock.jump_wall(jumps.remove(i).1);
            }
        }
        let now = clock.now();
        let mut st = st.lock().unwrap();
        let n = st.requests.len();
        let cursor = req.query("cursor");
        let in_outage = outage && now >= et(9, OUTAGE.0, 0) && now < et(9, OUTAGE.1, 0);
        // The baseline fetch (the first requests) is left alone: without
        // it there is nothing to measure flow against.
        let mut answer: Option<(String, Reply)> = None;
        if in_outage {
            answer = Some(("outage 503".into(), Reply::html(503, "<html>Service Unavailable</html>")));
        } else if n >= 4 && n >= st.next_eligible {
            if let Some(f) = faults.get(st.next_fault) {
                if !f.second_page_only || cursor.is_some() {
                    if st.fault_left == 0 {
                        st.fault_left = f.times;
                    }
                    st.fault_left -= 1;
                    answer = Some((f.name.to_string(), (f.reply)()));
                    if st.fault_left == 0 {
                        st.next_fault += 1;
                        st.next_eligible = n + 4;
                    }
                }
            }
        }
        let (what, reply) = answer.unwrap_or_else(|| ("ok".into(), ok_reply(req, now)));
        st.requests.push((now, req.target.clone(), what));
        reply
    });
    (server, log)
}

pub(crate) fn ok_reply(req: &Recorded, now: DateTime<Utc>) -> Reply {
    let path = req.path();
    if path == "/v3/snapshot/options/SPY" {
        let page: usize = req.query("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
        let all = contracts();
        let (ticker, jump) = all[page];
        let mut body = json!({"status": "OK", "results": [snapshot(ticker, jump, now)]});
        if page + 1 < all.len() {
            body["next_url"] = json!(format!("https://api.polygon.io/v3/snapshot/options/SPY?cursor={}", page + 1));
        }
        return Reply::json(200, body.to_string());
    }
    if path.starts_with("/v3/trades/") || path.starts_with("/v2/aggs/") {
        return Reply::json(200, r#"{"status":"OK","results":[]}"#);
    }
    Reply::json(404, r#"{"status":"NOT_FOUND"}"#)
}

/// A Discord webhook answering the n-th post with `reply(n, body)`, noting
/// the simulated time and the alert id of each post.
pub(crate) struct Hook {
    pub(crate) server: FakeServer,
    pub(crate) posts: Arc<Mutex<Vec<Post>>>,
}

/// (simulated time, alert id, status answered)
pub(crate) type Post = (DateTime<Utc>, String, u16);

pub(crate) fn hook(clock: Arc<SimClock>, reply: fn(usize, &str) -> Reply) -> Hook {
    let posts = Arc::new(Mutex::new(Vec::new()));
    let log = posts.clone();
    let n = AtomicUsize::new(0);
    let server = FakeServer::start(move |req: &Recorded| {
        // One record per embed: a backlog's alerts share a message.
        let ids = req.alert_ids();
        let id = ids.first().cloned().unwrap_or_else(|| "?".to_string());
        let r = reply(n.fetch_add(1, Ordering::SeqCst), &id);
        let status = match &r {
            Reply::Full { status, .. } => *status,
            _ => 0,
        };
        log.lock().unwrap().extend(ids.into_iter().map(|id| (clock.now(), id, status)));
        r
    });
    Hook { server, posts }
}

fn golden_reply(n: usize, id: &str) -> Reply {
    if id.contains("C00610000") {
        return Reply::json(400, r#"{"message":"Invalid Form Body","code":50035}"#);
    }
    match n {
        0 => Reply::json(429, r#"{"message":"You are being rate limited.","retry_after":2.5,"global":false}"#),
        1 => Reply::json(500, r#"{"message":"Internal Server Error"}"#),
        _ => Reply::json(200, format!(r#"{{"id":"55{n:016}","channel_id":"1"}}"#)),
    }
}

pub(crate) fn ok_reply_discord(n: usize, _: &str) -> Reply {
    Reply::json(200, format!(r#"{{"id":"66{n:016}","channel_id":"1"}}"#))
}

fn gone_reply(_: usize, _: &str) -> Reply {
    Reply::json(404, r#"{"message":"Unknown Webhook","code":10015}"#)
}

fn config(polygon: &str, golden: &str, sweeps: &str, metrics: &Path) -> Config {
    config_with(polygon, golden, sweeps, metrics, &[])
}

pub(crate) fn config_with(polygon: &str, golden: &str, sweeps: &str, metrics: &Path, extra: &[(&str, &str)]) -> Config {
    let vars: BTreeMap<String, String> = [
        ("POLYGON_API_KEY", KEY.to_string()),
        ("POLYGON_BASE_URL", polygon.to_string()),
        ("POLYGON_TIMEOUT_SECONDS", "1".to_string()),
        ("WATCHLIST", "SPY".to_string()),
        ("GOLDEN_SWEEPS_WEBHOOK", format!("{golden}/api/webhooks/{GOLDEN_HOOK}/{GOLDEN_TOKEN}")),
        ("SWEEPS_WEBHOOK", format!("{sweeps}/api/webhooks/{SWEEPS_HOOK}/{SWEEPS_TOKEN}")),
        // These markets serve no option trades: the alerts the faults act on
        // are unconfirmed flow, which only SWEEPS_REQUIRE_ISO=false posts.
        ("SWEEPS_CONFIRM_WITH_TRADES", "false".to_string()),
        ("SWEEPS_REQUIRE_ISO", "false".to_string()),
        // Not what this test is about: its contracts trade 1,000 lots in the
        // first minute, and a jump seen after an outage stands against that
        // pace over the whole gap.
        ("GOLDEN_MIN_VOLUME_MULTIPLE", "0".to_string()),
        ("SWEEPS_MIN_VOLUME_MULTIPLE", "0".to_string()),
        ("METRICS_FILE", metrics.display().to_string()),
        // Every hit an alert: these tests count posts under faults (edits
        // under faults are tests/it/episodes.rs's).
        ("EPISODE_MINUTES", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    .collect();
    Config::from_vars(&vars).expect("valid config")
}

/// `TIMETABLE` run by the live service (Discord delivery, a fresh store at
/// `db`) on `clock` until `run_for` of simulated time has passed.
fn run_service(cfg: Config, clock: &Arc<SimClock>, db: &Path, run_for: Duration) -> orakl::runner::LoopStats {
    let tt = Timetable::parse("schedule.cron", TIMETABLE).unwrap();
    let settings = Settings::validate(&cfg, &tt, false).expect("settings");
    let delivery = Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled());
    clock.shutdown_after(run_for);
    let mut svc = Service::new(cfg, clock.clone(), Store::open(db).unwrap(), delivery, Notifier::disabled()).unwrap();
    svc.run(&tt)
}

fn assert_no_secrets(what: &str, text: &str) {
    for secret in [KEY, GOLDEN_TOKEN, SWEEPS_TOKEN] {
        assert!(!text.contains(secret), "{what} leaks a secret:\n{text}");
    }
}

#[test]
fn the_service_rides_out_polygon_and_discord_faults_and_reports_its_health() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let metrics = dir.path().join("orakl.prom");
    let start = et(9, 29, 50);
    let clock = Arc::new(SimClock::new(start));
    let (poly, poly_log) = polygon(clock.clone());
    let golden = hook(clock.clone(), golden_reply);
    let gone = hook(clock.clone(), gone_reply);
    let cfg = config(&poly.url(), &golden.server.url(), &gone.server.url(), &metrics);

    logcap::install();
    logcap::take();
    let stats = run_service(cfg, &clock, &db, Duration::from_secs(12 * 60 + 30));
    let logs = logcap::take_lines();
    let all_logs = logs.join("\n");

    // Every fault of the script was served, and the outage.
    let requests = poly_log.lock().unwrap().requests.clone();
    let mut served: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, what) in &requests {
        *served.entry(what.clone()).or_default() += 1;
    }
    for f in script() {
        assert_eq!(served.get(f.name), Some(&f.times), "{}: {served:?}", f.name);
    }
    assert!(served.get("outage 503").is_some_and(|n| *n >= 5), "{served:?}");
    let injected: usize = served.iter().filter(|(k, _)| k.as_str() != "ok").map(|(_, n)| n).sum();

    // Retry-After was honoured on the simulated clock: the request after each
    // 429 came at least 2 s later.
    for w in requests.windows(2) {
        if w[0].2.starts_with("429") {
            assert!(w[1].0 - w[0].0 >= chrono::Duration::seconds(2), "{:?} then {:?}", w[0], w[1]);
        }
    }

    // The loop kept going: every minute's heartbeat and every firing ran.
    let store = Store::open(&db).unwrap();
    let runs = store.last_runs().unwrap();
    let last = |job: &str| runs.iter().find(|r| r.job == job).map(|r| r.scheduled_for);
    assert_eq!(last("heartbeat"), Some(et(9, 42, 0)), "{runs:?}");
    assert_eq!(last("golden_sweeps"), Some(et(9, 42, 6)), "{runs:?}");
    assert!(stats.errors > 0 && stats.fired > 100, "{stats:?}");
    // One summary line per scan, and the scans that failed say so.
    let scans = logs.iter().filter(|l| l.contains("event=scan bot=golden_sweeps ")).count();
    assert_eq!(scans as u64, (12 * 60 + 20) / 15, "{all_logs}");

    // No alert lost, none posted twice: each jump made one golden sweep and
    // one sweeps alert; the golden ones were posted once each (the 400 one
    // failed with Discord's message, never retried); the sweeps webhook was
    // deleted, so its first post retired it and nothing else was sent there.
    let alerts = store.alerts_since(start).unwrap();
    let by: BTreeMap<(String, String), (AlertStatus, Option<String>)> = alerts
        .iter()
        .map(|e| {
            ((e.alert.bot.as_str().to_string(), e.alert.contract.clone().unwrap()), (e.status, e.last_error.clone()))
        })
        .collect();
    for (contract, _) in contracts() {
        for bot in ["golden_sweeps", "sweeps"] {
            assert!(by.contains_key(&(bot.to_string(), contract.to_string())), "{bot} {contract} lost: {by:#?}");
        }
    }
    assert_eq!(alerts.len(), 6, "{by:#?}");
    let golden_posts = golden.posts.lock().unwrap().clone();
    let ok_posts: Vec<&String> = golden_posts.iter().filter(|p| p.2 == 200).map(|p| &p.1).collect();
    assert_eq!(ok_posts.len(), 2, "{golden_posts:?}");
    assert_eq!(ok_posts.iter().collect::<BTreeSet<_>>().len(), 2, "posted twice: {golden_posts:?}");
    let rejected: Vec<_> = golden_posts.iter().filter(|p| p.2 == 400).collect();
    assert_eq!(rejected.len(), 1, "a 400 is not retried: {golden_posts:?}");
    for (key, (status, err)) in &by {
        match (key.0.as_str(), key.1.ends_with("C00610000")) {
            ("golden_sweeps", false) => assert_eq!(*status, AlertStatus::Sent, "{key:?}"),
            ("golden_sweeps", true) => {
                assert_eq!(*status, AlertStatus::Failed, "{key:?}");
                assert!(err.as_deref().is_some_and(|e| e.contains("Invalid Form Body")), "{err:?}");
            }
            _ => assert_eq!(*status, AlertStatus::Failed, "{key:?} {err:?}"),
        }
    }
    assert_eq!(gone.posts.lock().unwrap().len(), 1, "a deleted webhook is called once");
    // retry_after (2.5 s, in the body) was waited out before the next try.
    assert!(golden_posts[1].0 - golden_posts[0].0 >= chrono::Duration::milliseconds(2500), "{golden_posts:?}");

    // Health: the outage showed (errors, the open circuit, the bots falling
    // behind) and the end state counts the deleted webhook and the alerts
    // that never reached a channel (4 of 6 in the last hour: 3 to the
    // deleted webhook, 1 refused with 400).
    let heartbeats: Vec<&String> = logs.iter().filter(|l| l.contains("event=heartbeat ")).collect();
    assert_eq!(heartbeats.len(), 13, "{all_logs}");
    let during = heartbeats.iter().find(|l| l.contains("open_circuits=option_chain ")).expect("an open circuit");
    assert!(during.contains("status=unhealthy"), "{during}");
    assert!(during.starts_with("WARN"), "{during}");
    let end = heartbeats.last().unwrap();
    assert!(end.contains("status=unhealthy penalties=delivery:48,webhooks:25 "), "{end}");
    let snapshot: orakl::metrics::Snapshot = serde_json::from_str(&store.snapshot().unwrap().unwrap().1).unwrap();
    assert_eq!(snapshot.health.score, 27);
    assert_eq!(snapshot.retired_webhooks, [SWEEPS_HOOK]);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(orakl::metrics::check_exposition(&text), Vec::<String>::new(), "{text}");
    assert!(text.contains("orakl_health_score 27\n"), "{text}");
    assert!(text.contains("orakl_api_requests_total{endpoint=\"option_chain\",status=\"429\"} 3\n"), "{text}");
    assert!(text.contains("orakl_retired_webhooks 1\n"), "{text}");

    // The canary secrets are nowhere: logs, metrics, the database (and its
    // snapshot), and what status and health print.
    assert_no_secrets("the logs", &all_logs);
    assert_no_secrets("the metrics file", &text);
    drop(store);
    for suffix in ["", "-wal"] {
        let bytes = std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default();
        assert_no_secrets("the database", &String::from_utf8_lossy(&bytes));
    }
    for cmd in ["status", "health"] {
        let out = Command::new(env!("CARGO_BIN_EXE_orakl"))
            .current_dir(dir.path())
            .env_clear()
            .env("POLYGON_API_KEY", KEY)
            .env("EPISODE_MINUTES", "0")
            .env("DISCORD_WEBHOOK_URL", format!("http://127.0.0.1:9/api/webhooks/{GOLDEN_HOOK}/{GOLDEN_TOKEN}"))
            .arg("--state")
            .arg(&db)
            .arg(cmd)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_no_secrets(cmd, &text);
        assert!(text.contains(SWEEPS_HOOK), "{cmd} names the retired webhook by id:\n{text}");
    }
    println!(
        "faults: {injected} Polygon faults injected over {} requests ({served:?}); Discord: {} golden posts \
         ({} ok, 1 429, 1 500, 1 400), 1 post to a deleted webhook; 6 alerts, none lost, none posted twice",
        requests.len(),
        golden_posts.len(),
        ok_posts.len()
    );
}

#[test]
fn wall_clock_steps_replay_nothing_and_keep_cooldowns() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let start = et(9, 29, 50);
    let clock = Arc::new(SimClock::new(start));
    // At 09:32 the wall clock steps back five minutes (it then passes 09:31,
    // the first contract's jump, a second time); at 09:40 it leaps ten
    // minutes ahead.
    let jumps = vec![(et(9, 32, 0), chrono::Duration::minutes(-5)), (et(9, 40, 0), chrono::Duration::minutes(10))];
    let (poly, _) = polygon_with(clock.clone(), Vec::new(), false, jumps);
    let golden = hook(clock.clone(), ok_reply_discord);
    let sweeps = hook(clock.clone(), ok_reply_discord);
    let cfg = config(&poly.url(), &golden.server.url(), &sweeps.server.url(), &dir.path().join("m.prom"));

    logcap::install();
    logcap::take();
    run_service(cfg, &clock, &db, Duration::from_secs(20 * 60));
    let logs = logcap::take_lines().join("\n");
    assert_eq!(logs.matches("event=wall_clock_stepped_back").count(), 1, "{logs}");
    // The leap skips the firings it jumped over: one line per timetable line.
    assert_eq!(logs.matches("event=firing_skipped").count(), 3, "{logs}");

    // Every (job, instant) ran once: nothing replayed after the step back.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let dup: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT job, scheduled_for FROM runs GROUP BY job, scheduled_for HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dup, 0);

    // Each jump alerted once per bot and was posted once; the first
    // contract's cooldown is the one its alert set, untouched by the second
    // pass over 09:31.
    let store = Store::open(&db).unwrap();
    let alerts = store.alerts_since(start - chrono::Duration::hours(1)).unwrap();
    let keys: BTreeSet<(String, String)> =
        alerts.iter().map(|e| (e.alert.bot.as_str().to_string(), e.alert.contract.clone().unwrap())).collect();
    assert_eq!(keys.len(), alerts.len(), "one alert per bot and contract: {keys:?}");
    assert_eq!(alerts.len(), 6, "{keys:?}");
    let posted: Vec<String> = golden.posts.lock().unwrap().iter().map(|p| p.1.clone()).collect();
    assert_eq!(posted.len(), posted.iter().collect::<BTreeSet<_>>().len(), "{posted:?}");
    assert_eq!(posted.len(), 3);
    let first = alerts
        .iter()
        .find(|e| e.alert.bot == orakl::job::Bot::GoldenSweeps && e.alert.contract.as_deref() == Some(contracts()[0].0))
        .unwrap();
    let cd = store.cooldown(orakl::job::Bot::GoldenSweeps, contracts()[0].0).unwrap().unwrap();
    assert_eq!(cd.alert_id, first.alert.id);
    assert_eq!(cd.until, first.created_at + chrono::Duration::seconds(900));
}

fn late_reply(_: usize, _: &str) -> Reply {
    // Accepted (as far as anyone can tell) but answered after the timeout.
    Reply::Stall { status: 200, len: 60 }
}

/// A Discord that takes every post but answers after the timeout: each
/// post's outcome is unknown. The service posts each alert at most twice
/// (once, then one retry after a delay), then gives it up, instead of
/// posting it again on every pass; the other webhook is not held up.
#[test]
fn a_discord_that_answers_late_gets_at_most_one_extra_copy_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(et(9, 29, 50)));
    let (poly, _) = polygon_with(clock.clone(), Vec::new(), false, Vec::new());
    let golden = hook(clock.clone(), late_reply);
    let sweeps = hook(clock.clone(), ok_reply_discord);
    let cfg_vars = config_with(
        &poly.url(),
        &golden.server.url(),
        &sweeps.server.url(),
        &dir.path().join("m.prom"),
        &[("DISCORD_TIMEOUT_SECONDS", "1")],
    );
    run_service(cfg_vars, &clock, &db, Duration::from_secs(20 * 60));

    let posts = golden.posts.lock().unwrap().clone();
    let mut per_alert: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    for (at, id, _) in &posts {
        per_alert.entry(id.clone()).or_default().push(*at);
    }
    assert_eq!(per_alert.len(), 3, "{per_alert:?}");
    for (id, times) in &per_alert {
        assert_eq!(times.len(), 2, "{id}: one post and one retry: {times:?}");
        assert!(times[1] - times[0] >= chrono::Duration::seconds(30), "{id}: the retry waits: {times:?}");
    }
    let store = Store::open(&db).unwrap();
    for e in store.alerts_since(et(8, 0, 0)).unwrap() {
        if e.alert.bot == orakl::job::Bot::GoldenSweeps {
            assert_eq!(e.status, AlertStatus::Failed, "{}", e.alert.id);
        }
    }
    assert_eq!(sweeps.posts.lock().unwrap().len(), 3, "the other webhook delivers as usual");
}

fn rate_limited_forever(_: usize, _: &str) -> Reply {
    Reply::json(429, r#"{"message":"You are being rate limited.","retry_after":1e9,"global":true}"#)
}

/// Discord asks for a billion-second wait (globally) and Polygon, once, for
/// `Retry-After: 999999`: neither is slept inside a job. Every firing still
/// scans on time (within 15 s of its minute), nothing is skipped as late,
/// Discord is asked once and then left alone, and Polygon's chain endpoint
/// is paused rather than slept through.
#[test]
fn long_rate_limits_never_stop_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(et(9, 29, 50)));
    let faults = vec![Fault {
        name: "429 with Retry-After: 999999",
        times: 1,
        second_page_only: false,
        reply: || Reply::json(429, r#"{"status":"ERROR"}"#).with_header("retry-after", "999999"),
    }];
    let (poly, poly_log) = polygon_with(clock.clone(), faults, false, Vec::new());
    let golden = hook(clock.clone(), rate_limited_forever);
    let sweeps = hook(clock.clone(), rate_limited_forever);
    let cfg = config(&poly.url(), &golden.server.url(), &sweeps.server.url(), &dir.path().join("m.prom"));
    logcap::install();
    logcap::take();
    run_service(cfg, &clock, &db, Duration::from_secs(20 * 60));
    let logs = logcap::take_lines().join("\n");

    assert_eq!(logs.matches("event=firing_skipped").count(), 0, "{logs}");
    let requests = poly_log.lock().unwrap().requests.clone();
    assert!(requests.iter().any(|(_, _, what)| what.starts_with("429")), "the fault was served");
    // Every scan starts at its firing (seconds 3, 6, 18, 21, ... of the
    // timetable), so no wait held the loop; the chain endpoint pauses for
    // the capped Retry-After (120 s) and then scans again.
    let firsts: Vec<DateTime<Utc>> =
        requests.iter().filter(|(_, target, _)| target.contains("limit=250")).map(|(at, _, _)| *at).collect();
    for at in &firsts {
        let late_ms = (at.timestamp_millis() % 15_000) - if at.timestamp() % 15 < 6 { 3_000 } else { 6_000 };
        assert!((0..1_000).contains(&late_ms), "a scan started {late_ms} ms after its firing: {at}");
    }
    let gaps: Vec<i64> = firsts.windows(2).map(|w| (w[1] - w[0]).num_seconds()).collect();
    let longest = gaps.iter().copied().max().unwrap_or(0);
    assert!((120..=130).contains(&longest), "longest pause of the chain endpoint {longest} s: {gaps:?}");
    assert_eq!(gaps.iter().filter(|g| **g > 30).count(), 1, "{gaps:?}");
    // One post per webhook, then every alert waits for the limit to lift.
    let posts = golden.posts.lock().unwrap().len() + sweeps.posts.lock().unwrap().len();
    assert_eq!(posts, 1, "a global limit holds every webhook");
    assert!(logs.contains("event=polygon_circuit_open endpoint=option_chain"), "{logs}");
}
