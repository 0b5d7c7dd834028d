//! The whole service through the real main loop on the simulated clock:
//! a scripted Polygon and a scripted Discord on loopback (real HTTP), a real
//! SQLite file, the real client, detector, bot rule, outbox and sender.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use orakl::clock::{Clock, SimClock};
use orakl::config::Config;
use orakl::notify::Notifier;
use orakl::schedule::Timetable;
use orakl::service::{Delivery, OutputFormat, Service, Settings};
use orakl::store::{AlertStatus, Store};
use serde_json::Value;

use crate::support::fake_http::{FakeServer, Recorded, Reply};
use crate::support::fake_polygon::{Contract, FakePolygon, iso_print};
use crate::support::logcap;

const KEY: &str = "CANARY-KEY-123";
pub(crate) const TOKEN: &str = "CANARYTOKENabc";
const CALL: &str = "O:SPY260320C00600000";
const TIMETABLE: &str = "6,21,36,51 * 9-15 * * Mon-Fri golden_sweeps session=regular\n0 */5 * * * * heartbeat\n";

pub(crate) fn t0() -> DateTime<Utc> {
    // Monday 2026-03-09 09:29:50 EDT.
    Utc.with_ymd_and_hms(2026, 3, 9, 13, 29, 50).unwrap()
}

/// SPY's chain: one call whose volume follows `volumes` per fetch (on page
/// 1) and one quiet put (on page 2).
fn spy_market(clock: Arc<SimClock>, volumes: &[f64]) -> FakePolygon {
    let call = Contract::new(CALL, true, 600.0, "2026-03-20", 600.0, volumes);
    let put = Contract::new("O:SPY260320P00550000", false, 550.0, "2026-03-20", 600.0, &[200.0]);
    let chains = BTreeMap::from([("SPY".to_string(), vec![call, put])]);
    // One ISO print before the 09:30:06–09:30:36 window, then a sweep (ISO
    // prints on two exchanges) inside it and inside each 30 s window after.
    let at = |s: i64| (t0() + chrono::Duration::seconds(s)).timestamp_nanos_opt().unwrap();
    let mut prints = vec![iso_print(302, 5.0, at(0))];
    prints.extend(
        (0..20).flat_map(|k| [iso_print(302, 1000.0, at(20 + 30 * k)), iso_print(303, 1000.0, at(30 + 30 * k))]),
    );
    let trades = BTreeMap::from([(CALL.to_string(), prints)]);
    FakePolygon::start(chains, trades, 1, move || clock.now().timestamp_nanos_opt().unwrap_or(0))
}

/// A Discord webhook endpoint answering with `reply(n)` for the n-th post.
pub(crate) fn discord(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> FakeServer {
    let n = AtomicUsize::new(0);
    FakeServer::start(move |_req: &Recorded| reply(n.fetch_add(1, Ordering::SeqCst)))
}

pub(crate) fn ok_message(n: usize) -> Reply {
    Reply::json(200, format!(r#"{{"id":"99000000000000{n:04}","channel_id":"1"}}"#))
}

pub(crate) fn config(polygon: &str, discord: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: BTreeMap<String, String> = [
        ("POLYGON_API_KEY", KEY.to_string()),
        ("POLYGON_BASE_URL", polygon.to_string()),
        ("WATCHLIST", "SPY".to_string()),
        ("DISCORD_WEBHOOK_URL", format!("{discord}/api/webhooks/123456789012345678/{TOKEN}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_vars(&vars).expect("valid config")
}

/// Runs the service from `start` for `span` of simulated time on the store
/// at `db`; returns the captured log lines.
pub(crate) fn run_service(
    cfg: Config,
    db: &std::path::Path,
    clock: Arc<SimClock>,
    span: Duration,
    print: Option<(OutputFormat, SharedBuf)>,
) -> Vec<String> {
    run_timetable(cfg, db, clock, span, print, TIMETABLE)
}

/// [`run_service`] with another timetable.
fn run_timetable(
    cfg: Config,
    db: &std::path::Path,
    clock: Arc<SimClock>,
    span: Duration,
    print: Option<(OutputFormat, SharedBuf)>,
    timetable: &str,
) -> Vec<String> {
    logcap::install();
    logcap::take();
    let tt = Timetable::parse("schedule.cron", timetable).unwrap();
    let settings = Settings::validate(&cfg, &tt, print.is_some()).expect("settings");
    let store = Store::open(db).unwrap();
    let delivery = match print {
        Some((format, buf)) => Delivery::print(format, Box::new(buf)),
        None => Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled()),
    };
    clock.shutdown_after(span);
    let mut svc = Service::new(cfg, clock.clone(), store, delivery, Notifier::disabled()).unwrap();
    svc.run(&tt);
    logcap::take_lines()
}

#[derive(Clone, Default)]
pub(crate) struct SharedBuf(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_no_secrets(what: &str, text: &str) {
    assert!(!text.contains(KEY) && !text.contains(TOKEN), "{what} leaks a secret:\n{text}");
}

#[test]
fn a_golden_sweep_is_detected_once_confirmed_committed_and_posted_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    // Fetch 1 is the baseline; fetch 2 adds 2,000 contracts at $10 ($2M);
    // later fetches add 100 ($100k, below the minimum).
    let market = spy_market(clock.clone(), &[1000.0, 3000.0, 3100.0, 3200.0, 3300.0, 3400.0]);
    let hook = discord(ok_message);
    let logs = run_service(config(&market.url(), &hook.url(), &[]), &db, clock.clone(), Duration::from_secs(180), None);

    // Fetches at 09:30:06, :36, 09:31:06, :36, 09:32:06, :36 (30 s chain cache
    // shared by the 15 s firings), each of 2 pages, plus one trades request.
    assert_eq!(market.chain_fetches("SPY"), 6, "logs:\n{}", logs.join("\n"));
    let reqs = market.server.requests();
    let trade_reqs: Vec<&Recorded> = reqs.iter().filter(|r| r.path().starts_with("/v3/trades/")).collect();
    assert_eq!(trade_reqs.len(), 1);
    let window_start = Utc.with_ymd_and_hms(2026, 3, 9, 13, 30, 6).unwrap().timestamp_nanos_opt().unwrap();
    assert_eq!(trade_reqs[0].query("timestamp.gt"), Some(window_start.to_string()));
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
        assert_no_secrets("a polygon request target", &r.target);
        if r.path().starts_with("/v3/snapshot/options/") && r.query("cursor").is_none() {
            assert_eq!(r.query("expiration_date.lte").as_deref(), Some("2026-09-05"), "{}", r.target);
        }
    }

    let posts = hook.requests();
    assert_eq!(posts.len(), 1, "exactly one alert posted");
    assert!(posts[0].target.contains("wait=true"), "{}", posts[0].target);
    let body = posts[0].body_json();
    let embed = &body["embeds"][0];
    assert_eq!(embed["title"], "Golden Sweeps · SPY 600C 2026-03-20");
    let fields: Vec<String> = embed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}: {}", f["name"].as_str().unwrap(), f["value"].as_str().unwrap()))
        .collect();
    let all = fields.join("\n");
    assert!(all.contains("sweep confirmed: 2 ISO prints on 2 exchanges"), "{all}");
    assert!(embed["description"].as_str().unwrap().contains("$2M"), "premium shown: {embed}");

    let store = Store::open(&db).unwrap();
    let counts = store.outbox_counts().unwrap();
    assert_eq!((counts.pending, counts.sent, counts.failed, counts.expired), (0, 1, 0, 0));
    let sent = store.alerts_since(t0()).unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id.as_deref(), Some("990000000000000000"));
    assert_eq!(sent[0].alert.premium, Some(2_000_000.0));
    let cd = store.cooldown(orakl::job::Bot::GoldenSweeps, CALL).unwrap().expect("cooldown set with the alert");
    assert_eq!(cd.alert_id, sent[0].alert.id);
    let runs = store.last_runs().unwrap();
    assert!(runs.iter().any(|r| r.job == "golden_sweeps"), "{runs:?}");
    assert!(runs.iter().any(|r| r.job == "heartbeat"), "{runs:?}");
    assert!(store.integrity_check().unwrap().is_empty());

    assert!(logs.iter().any(|l| l.contains("event=scan bot=golden_sweeps symbols=1")), "{}", logs.join("\n"));
    assert!(logs.iter().any(|l| l.contains("event=alert bot=golden_sweeps")));
    assert!(logs.iter().any(|l| l.contains("event=heartbeat")));
    assert_no_secrets("the logs", &logs.join("\n"));
    let db_dump = std::fs::read(&db).unwrap();
    assert_no_secrets("the database", &String::from_utf8_lossy(&db_dump));
}

#[test]
fn discord_down_keeps_the_alert_pending_and_a_restart_delivers_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    let market = spy_market(clock.clone(), &[1000.0, 3000.0, 3100.0]);
    let down = discord(|_| Reply::json(503, r#"{"message":"upstream unavailable"}"#));
    let logs = run_service(config(&market.url(), &down.url(), &[]), &db, clock.clone(), Duration::from_secs(70), None);
    // Each outbox pass tries the alert at most DISCORD_MAX_ATTEMPTS (4)
    // times, then defers its webhook to a later pass (and it rests 30 s):
    // the posts are exactly four per pass that posted, never more.
    let passes = logs.iter().filter(|l| l.contains("event=alert_deferred")).count();
    assert!(passes >= 1, "the alert was deferred: {}", logs.join("\n"));
    let posts = down.count();
    assert!(posts >= 4 && posts % 4 == 0 && posts <= 4 * passes, "bounded retries: {posts} over {passes} passes");
    let store = Store::open(&db).unwrap();
    let pending = store.pending_alerts().unwrap();
    assert_eq!(pending.len(), 1, "the alert is kept, not lost");
    assert!(pending[0].attempts >= 1);
    drop(store);

    // Five minutes later the service restarts (a new process: a new clock)
    // with Discord back: the pending alert is delivered at start-up, and the
    // first poll is only a baseline (the volume cache is in memory), so
    // nothing new alerts.
    let clock = Arc::new(SimClock::new(clock.now() + chrono::Duration::seconds(300)));
    let up = discord(ok_message);
    let logs = run_service(config(&market.url(), &up.url(), &[]), &db, clock.clone(), Duration::from_secs(20), None);
    assert_eq!(up.count(), 1, "{}", logs.join("\n"));
    let store = Store::open(&db).unwrap();
    let c = store.outbox_counts().unwrap();
    assert_eq!((c.pending, c.sent), (0, 1));
}

#[test]
fn a_restart_after_the_max_age_expires_pending_alerts_instead_of_posting_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    let market = spy_market(clock.clone(), &[1000.0, 3000.0, 3100.0]);
    let down = discord(|_| Reply::status(500));
    run_service(config(&market.url(), &down.url(), &[]), &db, clock.clone(), Duration::from_secs(70), None);

    let clock = Arc::new(SimClock::new(clock.now() + chrono::Duration::seconds(1200)));
    let up = discord(ok_message);
    let logs = run_service(config(&market.url(), &up.url(), &[]), &db, clock.clone(), Duration::from_secs(5), None);
    assert_eq!(up.count(), 0, "an alert older than ALERT_MAX_AGE_SECONDS is never posted");
    assert!(logs.iter().any(|l| l.contains("event=alert_expired")), "{}", logs.join("\n"));
    let c = Store::open(&db).unwrap().outbox_counts().unwrap();
    assert_eq!((c.pending, c.expired), (0, 1));
}

#[test]
fn a_deleted_webhook_is_retired_and_never_called_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    // Two alerts: $2M at fetch 2 and $4M at fetch 3 (≥ 2× breaks the cooldown
    // and, escalations not waiting, posts).
    let market = spy_market(clock.clone(), &[1000.0, 3000.0, 7000.0, 7000.0]);
    let gone = discord(|_| Reply::json(404, r#"{"message":"Unknown Webhook","code":10015}"#));
    let now = [("EPISODE_ESCALATION_MINUTES", "0")];
    let logs =
        run_service(config(&market.url(), &gone.url(), &now), &db, clock.clone(), Duration::from_secs(100), None);
    assert_eq!(gone.count(), 1, "{}", logs.join("\n"));
    let store = Store::open(&db).unwrap();
    let c = store.outbox_counts().unwrap();
    assert_eq!((c.pending, c.sent, c.failed), (0, 0, 2));
    let retired = store.retired_webhooks().unwrap();
    assert_eq!(retired.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["123456789012345678"]);
    assert!(logs.iter().any(|l| l.contains("event=webhook_retired bot=golden_sweeps webhook=123456789012345678")));
    assert_no_secrets("the logs", &logs.join("\n"));
}

#[test]
fn dry_run_prints_the_jsonl_record_and_posts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dry.db");
    let clock = Arc::new(SimClock::new(t0()));
    let market = spy_market(clock.clone(), &[1000.0, 3000.0, 3100.0]);
    let out = SharedBuf::default();
    let cfg = config(&market.url(), "http://127.0.0.1:9", &[]);
    run_service(cfg, &db, clock, Duration::from_secs(60), Some((OutputFormat::Jsonl, out.clone())));
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    // Shown with `--nocapture`: the README points here to watch the pipeline.
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["bot"], "golden_sweeps");
    assert_eq!(v["ticker"], "SPY");
    assert_eq!(v["contract"], CALL);
    assert_eq!(v["contract_type"], "call");
    assert_eq!(v["premium"], 2_000_000.0);
    assert_eq!(v["volume_delta"], 2000.0);
    assert_eq!(v["side"], "ask");
    assert_eq!(v["sentiment"], "bullish");
    assert_eq!(v["dte"], 11);
    assert_eq!(v["at"], "2026-03-09T13:30:36Z");
    let store = Store::open(&db).unwrap();
    let id = v["id"].as_str().unwrap();
    assert_eq!(store.alert_status(id).unwrap(), Some(AlertStatus::Sent));
}

#[test]
fn a_failing_second_page_discards_the_whole_chain_and_the_loop_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    // Page 1 is fine and points at page 2, which is an HTML error page.
    let polygon = FakeServer::start(|req: &Recorded| {
        if req.query("cursor").is_some() {
            return Reply::html(502, "<html><body>Bad Gateway</body></html>");
        }
        if req.path().starts_with("/v3/snapshot/options/") {
            return Reply::json(
                200,
                r#"{"status":"OK","results":[],"next_url":"https://api.polygon.io/v3/snapshot/options/SPY?cursor=2"}"#,
            );
        }
        Reply::json(404, "{}")
    });
    let hook = discord(ok_message);
    let cfg = config(&polygon.url(), &hook.url(), &[("POLYGON_MAX_RETRIES", "1")]);
    let logs = run_service(cfg, &db, clock, Duration::from_secs(70), None);
    assert_eq!(hook.count(), 0);
    let store = Store::open(&db).unwrap();
    let errors = store.recent_errors(10).unwrap();
    assert!(!errors.is_empty(), "{}", logs.join("\n"));
    assert!(errors.iter().all(|e| e.component == "golden_sweeps" && e.symbol.as_deref() == Some("SPY")), "{errors:?}");
    assert!(errors[0].message.contains("option_chain SPY"), "{errors:?}");
    let runs = store.last_runs().unwrap();
    let golden = runs.iter().find(|r| r.job == "golden_sweeps").unwrap();
    assert_eq!(golden.result, orakl::store::RunResult::Error, "{golden:?}");
    assert!(runs.iter().any(|r| r.job == "heartbeat" && r.result == orakl::store::RunResult::Ok));
    assert!(logs.iter().any(|l| l.contains("event=scan_symbol_failed bot=golden_sweeps ticker=SPY")));
    assert_no_secrets("the logs", &logs.join("\n"));
}

/// A TRF print of `size` shares of SPY at `secs` after t0.
fn dark_print(id: &str, size: f64, secs: i64) -> Value {
    let ts = (t0() + chrono::Duration::seconds(secs)).timestamp_nanos_opt().unwrap();
    serde_json::json!({"id": id, "exchange": 4, "trf_id": 202, "price": 600.0, "size": size,
                       "sip_timestamp": ts, "conditions": [41]})
}

/// Runs the service on a darkpool-only timetable (every 5 minutes at :30)
/// from `clock` for `span` seconds. The fake market has no daily bars: the
/// relative gate is off.
fn run_darkpool(db: &std::path::Path, polygon: &str, discord: &str, clock: Arc<SimClock>, span: u64) {
    let cfg = config(polygon, discord, &[("DARKPOOL_MIN_ADV_FRACTION", "0")]);
    let tt = Timetable::parse("schedule.cron", "30 */5 4-19 * * Mon-Fri darkpool session=extended\n").unwrap();
    let settings = Settings::validate(&cfg, &tt, false).unwrap();
    let delivery = Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled());
    clock.shutdown_after(Duration::from_secs(span));
    let mut svc = Service::new(cfg, clock.clone(), Store::open(db).unwrap(), delivery, Notifier::disabled()).unwrap();
    svc.run(&tt);
}

/// The darkpool scans resume from their cursor across a restart, and the
/// family's cooldown (default 900 s, per symbol) holds across it too: a
/// second SPY print at 1.6× the first inside the cooldown does not alert,
/// one at 2× does (SPEC §6).
#[test]
fn darkpool_resumes_from_its_cursor_after_a_restart_without_realerting() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let trades = BTreeMap::from([(
        "SPY".to_string(),
        vec![
            dark_print("a", 50_000.0, 20),
            dark_print("b", 9_000.0, 30),    // below DARKPOOL_MIN_SIZE
            dark_print("c", 80_000.0, 400),  // after the first scan; 1.6× a: cooldown
            dark_print("d", 100_000.0, 410), // 2× a: breaks through the cooldown
        ],
    )]);
    let clock = Arc::new(SimClock::new(t0()));
    let c2 = clock.clone();
    let market = FakePolygon::start(BTreeMap::new(), trades, 250, move || c2.now().timestamp_nanos_opt().unwrap_or(0));
    let hook = discord(ok_message);
    let run = |clock: Arc<SimClock>, span: u64| run_darkpool(&db, &market.url(), &hook.url(), clock, span);
    // 09:29:50 → 09:34:00: the 09:30:30 scan sees print a (alert) and b (too small).
    run(clock.clone(), 250);
    assert_eq!(hook.count(), 1);
    // A restart at 09:36: the 09:40:30 scan resumes from the cursor; print a
    // does not alert again, print c is inside a's cooldown at 1.6× its
    // notional, print d at 2× alerts.
    let clock = Arc::new(SimClock::new(t0() + chrono::Duration::seconds(370)));
    run(clock, 300);
    assert_eq!(hook.count(), 2);
    let posts = hook.requests();
    let titles: Vec<String> =
        posts.iter().map(|p| p.body_json()["embeds"][0]["title"].as_str().unwrap().to_string()).collect();
    assert!(titles.iter().all(|t| t.starts_with("Darkpool · SPY")), "{titles:?}");
    for p in &posts {
        let e = &p.body_json()["embeds"][0];
        assert_eq!(e["color"], 0x95A5A6, "dark prints carry no direction: grey");
    }
    let trade_reqs: Vec<Recorded> =
        market.server.requests().into_iter().filter(|r| r.path() == "/v3/trades/SPY").collect();
    assert_eq!(trade_reqs.len(), 2);
    let first_print_ns = (t0() + chrono::Duration::seconds(30)).timestamp_nanos_opt().unwrap();
    assert_eq!(trade_reqs[1].query("timestamp.gte"), Some(first_print_ns.to_string()), "resumed from the cursor");
    let store = Store::open(&db).unwrap();
    assert_eq!(store.outbox_counts().unwrap().sent, 2);
    let ids: Vec<String> = store.alerts_since(t0()).unwrap().into_iter().map(|e| e.alert.id).collect();
    assert_eq!(ids, ["darkpool:SPY:a", "darkpool:SPY:d"]);
}

/// A dark print whose alert could not be committed is read again: the scan's
/// cursor moves only after its alerts are committed (Darkpool's alerts wait
/// for the hour's budget until the symbol's scan ends, and the cursor waits
/// with them), so a kill or a failed write in between loses no alert.
#[test]
fn a_dark_prints_cursor_moves_only_after_its_alert_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let trades = BTreeMap::from([(
        "SPY".to_string(),
        vec![
            dark_print("a", 50_000.0, 20),
            dark_print("d", 100_000.0, 410), // 2× a: breaks through the cooldown
        ],
    )]);
    let clock = Arc::new(SimClock::new(t0()));
    let c2 = clock.clone();
    let market = FakePolygon::start(BTreeMap::new(), trades, 250, move || c2.now().timestamp_nanos_opt().unwrap_or(0));
    let hook = discord(ok_message);
    let run = |clock: Arc<SimClock>, span: u64| run_darkpool(&db, &market.url(), &hook.url(), clock, span);
    let cursor = || Store::open(&db).unwrap().cursor("darkpool:SPY").unwrap();
    // 09:29:50 → 09:34:00: the 09:30:30 scan alerts print a and keeps its cursor.
    run(clock.clone(), 250);
    assert_eq!(hook.count(), 1);
    let after_a = cursor();
    assert!(after_a.is_some());
    // The store now refuses new alerts (every other write goes through).
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TRIGGER no_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'no'); END;")
        .unwrap();
    // 09:36 → 09:41: the 09:40:30 scan finds print d; its commit fails, and
    // the cursor stays where a left it.
    run(Arc::new(SimClock::new(t0() + chrono::Duration::seconds(370))), 300);
    assert_eq!(hook.count(), 1);
    assert_eq!(cursor(), after_a, "the cursor did not move past the lost alert");
    conn.execute_batch("DROP TRIGGER no_alerts;").unwrap();
    drop(conn);
    // 09:41:30 → 09:46: the 09:45:30 scan reads print d again and alerts.
    run(Arc::new(SimClock::new(t0() + chrono::Duration::seconds(700))), 300);
    assert_eq!(hook.count(), 2);
    let ids: Vec<String> =
        Store::open(&db).unwrap().alerts_since(t0()).unwrap().into_iter().map(|e| e.alert.id).collect();
    assert_eq!(ids, ["darkpool:SPY:a", "darkpool:SPY:d"]);
    assert_ne!(cursor(), after_a);
}

/// The premiums of the golden-sweep alerts posted for a call whose day
/// volume follows `volumes` across chain fetches (one fetch per 30 s).
fn golden_premiums(volumes: &[f64], fetches: u64) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SimClock::new(t0()));
    let market = spy_market(clock.clone(), volumes);
    let hook = discord(ok_message);
    let span = Duration::from_secs(16 + 30 * (fetches - 1) + 5);
    // The cooldown alone: with episodes on, a breakthrough would be an
    // escalation reporting the episode's summed premium.
    let cfg = config(&market.url(), &hook.url(), &[("EPISODE_MINUTES", "0")]);
    run_service(cfg, &dir.path().join("s.db"), clock, span, None);
    assert_eq!(market.chain_fetches("SPY") as u64, fetches);
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    store.alerts_since(t0()).unwrap().iter().filter_map(|e| e.alert.premium).collect()
}

#[test]
fn multi_poll_scenarios_through_the_loop() {
    // (day volume per fetch, premiums alerted)
    let cases: &[(&[f64], &[f64])] = &[
        // The first observation is only a baseline, however large.
        (&[50_000.0, 50_000.0], &[]),
        // $2M, then $2M again inside the cooldown (suppressed), then $8M (≥ 2×: alerts).
        (&[1000.0, 3000.0, 5000.0, 13_000.0], &[2_000_000.0, 8_000_000.0]),
        // A lagging replica reports less: ignored, and the next delta is
        // measured from the higher baseline (10,000 contracts, not 10,500).
        (&[1000.0, 3000.0, 2500.0, 13_000.0], &[2_000_000.0, 10_000_000.0]),
    ];
    for (volumes, want) in cases {
        let got = golden_premiums(volumes, volumes.len() as u64);
        assert_eq!(got, *want, "volumes {volumes:?}");
    }
}

#[test]
fn implausible_flow_is_a_data_error_never_an_alert() {
    // (day volume per fetch, what the error says). The first is the 1e15
    // day-volume jump that once posted a "$1,000,000,000,000,000,000"
    // Golden Sweep; the second is $400M (under the premium bound) on a
    // volume change above 20x the contract's scale (OI 5,000, its earlier
    // 1,000, the quiet put's 200) and above the 250,000 floor.
    let cases: &[(&[f64], &str)] = &[
        (&[1000.0, 1e15], "implausible premium="),
        (&[1000.0, 401_001.0], "implausible volume_delta=400001 above 20x the contract's scale=5000"),
    ];
    for (volumes, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let clock = Arc::new(SimClock::new(t0()));
        let market = spy_market(clock.clone(), volumes);
        let hook = discord(ok_message);
        let span = Duration::from_secs(16 + 30 + 5);
        let logs = run_service(config(&market.url(), &hook.url(), &[]), &db, clock, span, None);
        assert_eq!(market.chain_fetches("SPY"), 2);
        assert!(hook.requests().is_empty(), "nothing posted for {volumes:?}");
        let store = Store::open(&db).unwrap();
        assert!(store.alerts_since(t0()).unwrap().is_empty(), "no alert for {volumes:?}");
        let errors = store.recent_errors(10).unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].component.as_str(), errors[0].symbol.as_deref()), ("plausibility", Some("SPY")));
        assert!(errors[0].message.starts_with(&format!("{CALL}: {want}")), "{}", errors[0].message);
        let warns: Vec<&String> = logs.iter().filter(|l| l.contains("event=implausible_data")).collect();
        assert_eq!(warns.len(), 1, "one warn line: {}", logs.join("\n"));
        assert!(warns[0].contains("WARN") && warns[0].contains(CALL), "{}", warns[0]);
    }
}

/// SPY's chain as in [`spy_market`], the call last traded between bid and
/// ask (a mid fill), so Sweeps needs the ISO part to reach its minimum.
fn spy_market_mid_fill(clock: Arc<SimClock>, volumes: &[f64]) -> FakePolygon {
    let mut call = Contract::new(CALL, true, 600.0, "2026-03-20", 600.0, volumes);
    call.price = 9.95;
    let chains = BTreeMap::from([("SPY".to_string(), vec![call])]);
    let at = |s: i64| (t0() + chrono::Duration::seconds(s)).timestamp_nanos_opt().unwrap();
    let trades =
        BTreeMap::from([(CALL.to_string(), vec![iso_print(302, 1000.0, at(20)), iso_print(303, 1000.0, at(30))])]);
    FakePolygon::start(chains, trades, 1, move || clock.now().timestamp_nanos_opt().unwrap_or(0))
}

#[test]
fn one_confirmation_serves_sweeps_and_golden_sweeps_and_the_cap_bounds_them() {
    // Sweeps fires first on the $1.99M event (score 40 + 10 + 8 = 58 without
    // the ISO part, so it asks); Golden Sweeps reads the same scan 3 s later
    // and reuses the answer. With no allowance neither asks: Sweeps stays
    // below its minimum, Golden Sweeps alerts unconfirmed.
    let timetable = "3,18,33,48 * 9-15 * * Mon-Fri sweeps session=regular\n\
                     6,21,36,51 * 9-15 * * Mon-Fri golden_sweeps session=regular\n";
    // (SWEEPS_MAX_CONFIRMATIONS, SWEEPS_REQUIRE_ISO, trades requests, alerts
    // and labels): posting only sweeps, what the cap left unread is not posted.
    let confirmed = "sweep confirmed: 2 ISO prints on 2 exchanges";
    type Case<'a> = (&'a str, &'a str, usize, Vec<(&'a str, &'a str)>);
    let cases: [Case; 4] = [
        ("3", "false", 1, vec![("sweeps", confirmed), ("golden_sweeps", confirmed)]),
        ("0", "false", 0, vec![("golden_sweeps", "flow (unconfirmed)")]),
        ("3", "true", 1, vec![("sweeps", confirmed), ("golden_sweeps", confirmed)]),
        ("0", "true", 0, vec![]),
    ];
    for (cap, require, requests, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let clock = Arc::new(SimClock::new(t0()));
        let market = spy_market_mid_fill(clock.clone(), &[1000.0, 3000.0]);
        let hook = discord(ok_message);
        let cfg =
            config(&market.url(), &hook.url(), &[("SWEEPS_MAX_CONFIRMATIONS", cap), ("SWEEPS_REQUIRE_ISO", require)]);
        let logs = run_timetable(cfg, &db, clock, Duration::from_secs(50), None, timetable);
        let trades = market.server.requests().iter().filter(|r| r.path().starts_with("/v3/trades/")).count();
        assert_eq!(trades, requests, "cap {cap} require {require}: {}", logs.join("\n"));
        let store = Store::open(&db).unwrap();
        let got: Vec<(String, String)> = store
            .alerts_since(t0())
            .unwrap()
            .iter()
            .map(|e| (e.alert.bot.as_str().to_string(), e.alert.label.clone()))
            .collect();
        let want: Vec<(String, String)> = want.iter().map(|(b, l)| (b.to_string(), l.to_string())).collect();
        assert_eq!(got, want, "cap {cap} require {require}");
        if cap == "0" {
            assert!(
                logs.iter().any(|l| l.contains("event=scan bot=sweeps") && l.contains("unconfirmed_over_cap=1")),
                "{}",
                logs.join("\n")
            );
        }
    }
}

#[test]
fn the_hourly_budget_keeps_the_highest_score_of_a_firing_and_counts_the_rest() {
    // Two calls in one fetch: $2M (score 75) first in the chain, $4M (score
    // 100) second. A budget of one keeps the $4M one; 0 is no budget.
    let call2 = "O:SPY260320C00610000";
    let hook = discord(ok_message);
    // (budget, alerted contracts, suppressed log lines)
    for (budget, want, suppressed) in [("1", vec![call2], 1), ("0", vec![call2, CALL], 0)] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let clock = Arc::new(SimClock::new(t0()));
        let c1 = Contract::new(CALL, true, 600.0, "2026-03-20", 600.0, &[1000.0, 3000.0]);
        let c2 = Contract::new(call2, true, 610.0, "2026-03-20", 600.0, &[1000.0, 5000.0]);
        let ns = clock.clone();
        let chains = BTreeMap::from([("SPY".to_string(), vec![c1, c2])]);
        let market =
            FakePolygon::start(chains, BTreeMap::new(), 1, move || ns.now().timestamp_nanos_opt().unwrap_or(0));
        // Without confirmations the candidates post as unconfirmed flow,
        // the larger first (a snapshot's hits are judged largest first);
        // without episodes the smaller one is a post of its own, which the
        // budget then holds back (with them it would join the larger's
        // episode and never reach the budget).
        let extra = [
            ("GOLDEN_SWEEPS_MAX_ALERTS_PER_HOUR", budget),
            ("EPISODE_MINUTES", "0"),
            ("SWEEPS_CONFIRM_WITH_TRADES", "false"),
            ("SWEEPS_REQUIRE_ISO", "false"),
        ];
        let cfg = config(&market.url(), &hook.url(), &extra);
        // Through the 09:35 heartbeat, whose snapshot `status` and the
        // metrics read.
        let logs = run_service(cfg, &db, clock, Duration::from_secs(5 * 60 + 15), None);
        let store = Store::open(&db).unwrap();
        let got: Vec<String> =
            store.alerts_since(t0()).unwrap().iter().filter_map(|e| e.alert.contract.clone()).collect();
        assert_eq!(got, want, "budget {budget}: {}", logs.join("\n"));
        let lines = logs.iter().filter(|l| l.contains("event=budget_suppressed bot=golden_sweeps")).count();
        assert_eq!(lines, suppressed, "budget {budget}");
        let (_, json) = store.snapshot().unwrap().expect("a heartbeat snapshot");
        let snap: orakl::metrics::Snapshot = serde_json::from_str(&json).unwrap();
        let counted = snap.budget_suppressed.get("golden_sweeps").copied().unwrap_or(0);
        assert_eq!(counted, suppressed as u64, "budget {budget}");
    }
}
