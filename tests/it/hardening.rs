//! The service under the faults that remained after the first round of
//! hardening, each through the live loop on the simulated clock against
//! loopback fakes:
//! - a state database that cannot be written (a full disk), mid-firing and
//!   between a post and its "sent" mark;
//! - a 403 that switches off one feature, which comes back by itself;
//! - a slow Polygon (one firing's requests have a time budget) and a Discord
//!   that answers 500 after 8 s (delivery has a time budget per loop turn,
//!   and the heartbeat is not starved);
//! - sixty simulated days of retention.
//!
//! A full disk is simulated with SQLite triggers that a second connection
//! adds to every table (`RAISE(ABORT, 'database or disk is full')`) and
//! drops again: every write of the service fails, as on a real full disk
//! where each append to the `-wal` file fails. `PRAGMA max_page_count` was
//! not used because it only fails writes that need a new page, so an
//! in-place update such as the "sent" mark would still succeed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use orakl::clock::{Clock, Shutdown, SimClock, Waited};
use orakl::config::Config;
use orakl::notify::Notifier;
use orakl::schedule::Timetable;
use orakl::service::{Delivery, Service, Settings};
use orakl::store::{AlertStatus, Store};
use serde_json::json;

use crate::faults::{KEY, config_with, contracts, et, ok_reply, snapshot};
use crate::support::fake_http::{FakeServer, Recorded, Reply};
use crate::support::logcap;

/// A simulated clock that calls `on_wait` with the time after every wait:
/// how a test acts at a simulated instant when no request reaches a fake
/// server (a paused service makes none).
struct HookedClock {
    inner: Arc<SimClock>,
    on_wait: Box<dyn Fn(DateTime<Utc>) + Send + Sync>,
}

impl Clock for HookedClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }
    fn elapsed(&self) -> Duration {
        self.inner.elapsed()
    }
    fn wait(&self, d: Duration) -> Waited {
        let w = self.inner.wait(d);
        (self.on_wait)(self.inner.now());
        w
    }
    fn shutdown(&self) -> &Shutdown {
        self.inner.shutdown()
    }
}

/// `timetable` run by the live service with Discord delivery, on `clock`,
/// for `run_for` of simulated time.
fn run(cfg: Config, timetable: &str, clock: Arc<dyn Clock>, sim: &SimClock, store: Store, run_for: Duration) {
    let tt = Timetable::parse("schedule.cron", timetable).unwrap();
    let settings = Settings::validate(&cfg, &tt, false).expect("settings");
    let delivery = Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled());
    sim.shutdown_after(run_for);
    // Nothing here survives a power cut: commits need not reach the disk.
    store.scratch().unwrap();
    let mut svc = Service::new(cfg, clock, store, delivery, Notifier::disabled()).unwrap();
    svc.run(&tt);
}

/// Timed entries shared with a fake server's thread.
type Shared<T> = Arc<Mutex<Vec<(DateTime<Utc>, T)>>>;

/// A Discord webhook whose handler gets each post's alert id; the posts
/// (simulated time, alert id, status) are kept.
struct Hook {
    server: FakeServer,
    #[allow(clippy::type_complexity)]
    posts: Arc<Mutex<Vec<(DateTime<Utc>, String, u16)>>>,
}

fn hook(clock: Arc<SimClock>, reply: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Hook {
    let posts = Arc::new(Mutex::new(Vec::new()));
    let log = posts.clone();
    let server = FakeServer::start(move |req: &Recorded| {
        // One record per embed: a backlog's alerts share a message.
        let ids = req.alert_ids();
        let id = ids.first().cloned().unwrap_or_else(|| "?".to_string());
        let r = reply(&id);
        let status = match &r {
            Reply::Full { status, .. } => *status,
            _ => 0,
        };
        log.lock().unwrap().extend(ids.into_iter().map(|id| (clock.now(), id, status)));
        r
    });
    Hook { server, posts }
}

/// `orakl CMD` from another process on the state file `db`, in `dir`, with
/// a key and a webhook set and nothing else from the environment.
fn orakl_in(dir: &Path, db: &Path, cmd: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_orakl"))
        .current_dir(dir)
        .env_clear()
        .env("POLYGON_API_KEY", KEY)
        .env("DISCORD_WEBHOOK_URL", "http://127.0.0.1:9/api/webhooks/1/x")
        .arg("--state")
        .arg(db)
        .arg(cmd)
        .output()
        .unwrap()
}

fn discord_ok() -> Reply {
    Reply::json(200, r#"{"id":"660000000000000001","channel_id":"1"}"#)
}

fn cfg(polygon: &str, golden: &str, sweeps: &str, dir: &Path, extra: &[(&str, &str)]) -> Config {
    config_with(polygon, golden, sweeps, &dir.join("orakl.prom"), extra)
}

// ------------------------------------------------------------ full disk

const TABLES: [&str; 13] = [
    "alerts",
    "cooldowns",
    "outcomes",
    "cursors",
    "open_interest",
    "runs",
    "processing_errors",
    "webhooks_retired",
    "features_disabled",
    "heartbeat_snapshot",
    "flow_history",
    "episodes",
    "episode_updates",
];

/// Every write to the database at `db` fails from now on, for every
/// connection, until [`disk_freed`].
fn disk_full(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    for t in TABLES {
        for op in ["INSERT", "UPDATE", "DELETE"] {
            conn.execute_batch(&format!(
                "CREATE TRIGGER full_{t}_{op} BEFORE {op} ON {t} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
            ))
            .unwrap();
        }
    }
}

fn disk_freed(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    for t in TABLES {
        for op in ["INSERT", "UPDATE", "DELETE"] {
            conn.execute_batch(&format!("DROP TRIGGER IF EXISTS full_{t}_{op};")).unwrap();
        }
    }
}

/// The disk fills twice: once while a firing fetches the chain that holds
/// the 09:33:30 jump (its alert cannot be committed), space returns at
/// 09:35; then while Discord takes the post of the 09:38 jump (it is posted,
/// but the "sent" mark cannot be written), space returns at 09:40. Each time
/// one error line says why, scanning and delivery pause (no request to
/// Polygon, no post), the heartbeat says unhealthy, and when space returns
/// the kept alert is committed and posted and the remembered mark written:
/// every alert is posted exactly once.
#[test]
fn a_full_disk_pauses_the_work_and_nothing_is_posted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let sim = Arc::new(SimClock::new(et(9, 29, 50)));
    let filled: Arc<Mutex<Vec<DateTime<Utc>>>> = Arc::default();

    let chain_times: Arc<Mutex<Vec<DateTime<Utc>>>> = Arc::default();
    let (c, db2, f2, first_fill) = (sim.clone(), db.clone(), filled.clone(), Arc::new(AtomicBool::new(false)));
    let times = chain_times.clone();
    let poly = FakeServer::start(move |req: &Recorded| {
        let now = c.now();
        if req.path().starts_with("/v3/snapshot/options/") && req.query("cursor").is_none() {
            times.lock().unwrap().push(now);
            if now >= et(9, 33, 30) && !first_fill.swap(true, Ordering::SeqCst) {
                disk_full(&db2);
                f2.lock().unwrap().push(now);
            }
        }
        ok_reply(req, now)
    });
    let hook_fill = |sim: Arc<SimClock>, db: std::path::PathBuf, filled: Arc<Mutex<Vec<DateTime<Utc>>>>| {
        let done = AtomicBool::new(false);
        let s = sim.clone();
        hook(sim, move |id: &str| {
            if id.contains("C00610000") && !done.swap(true, Ordering::SeqCst) {
                disk_full(&db);
                filled.lock().unwrap().push(s.now());
            }
            discord_ok()
        })
    };
    let golden = hook_fill(sim.clone(), db.clone(), filled.clone());
    let sweeps = hook_fill(sim.clone(), db.clone(), filled.clone());

    let (db3, freed) = (db.clone(), Arc::new(Mutex::new(vec![et(9, 35, 0), et(9, 40, 0)])));
    let clock: Arc<dyn Clock> = Arc::new(HookedClock {
        inner: sim.clone(),
        on_wait: Box::new(move |now| {
            let mut freed = freed.lock().unwrap();
            if freed.first().is_some_and(|t| now >= *t) {
                freed.remove(0);
                disk_freed(&db3);
            }
        }),
    });
    logcap::install();
    logcap::take();
    let config = cfg(&poly.url(), &golden.server.url(), &sweeps.server.url(), dir.path(), &[]);
    run(config, crate::faults::TIMETABLE, clock, &sim, Store::open(&db).unwrap(), Duration::from_secs(13 * 60));
    let logs = logcap::take_lines();
    let all = logs.join("\n");

    let filled = filled.lock().unwrap().clone();
    assert_eq!(filled.len(), 2, "both fills happened: {filled:?}\n{all}");
    // One error line per fill, one line when space returns.
    assert_eq!(logs.iter().filter(|l| l.contains("event=store_unwritable")).count(), 2, "{all}");
    assert_eq!(logs.iter().filter(|l| l.contains("event=store_writable_again")).count(), 2, "{all}");
    assert_eq!(logs.iter().filter(|l| l.contains("event=store_error")).count(), 0, "{all}");
    // Scanning paused: no chain fetch from the fill until space returned.
    let times = chain_times.lock().unwrap().clone();
    for (from, to) in [(filled[0], et(9, 35, 0)), (filled[1], et(9, 40, 0))] {
        let during: Vec<_> = times.iter().filter(|t| **t > from && **t < to).collect();
        assert!(during.is_empty(), "chain fetched while the disk was full ({from}..{to}): {during:?}");
        assert!(times.iter().any(|t| *t >= to && *t < to + chrono::Duration::seconds(20)), "resumed after {to}");
    }
    // The heartbeat said unhealthy while the disk was full.
    let during = logs.iter().find(|l| l.contains("event=heartbeat") && l.contains("store_writes:")).expect("{all}");
    assert!(during.contains("status=unhealthy"), "{during}");

    // Every alert posted exactly once, and every alert in the store sent.
    let mut posted: Vec<String> = Vec::new();
    for h in [&golden, &sweeps] {
        posted.extend(h.posts.lock().unwrap().iter().map(|p| p.1.clone()));
    }
    let distinct: BTreeSet<&String> = posted.iter().collect();
    assert_eq!(distinct.len(), posted.len(), "posted twice: {posted:?}");
    let store = Store::open(&db).unwrap();
    let alerts = store.alerts_since(et(8, 0, 0)).unwrap();
    for e in &alerts {
        assert_eq!(e.status, AlertStatus::Sent, "{} {:?}", e.alert.id, e.last_error);
        assert!(distinct.contains(&e.alert.id), "{} never posted", e.alert.id);
    }
    assert_eq!(alerts.len(), posted.len());
    // The alert whose commit failed was kept and committed when space returned.
    assert!(all.contains("late_commit=true"), "{all}");
    let sweeps_contracts: BTreeSet<String> = alerts
        .iter()
        .filter(|e| e.alert.bot == orakl::job::Bot::Sweeps)
        .filter_map(|e| e.alert.contract.clone())
        .collect();
    let want: BTreeSet<String> = contracts().iter().map(|(c, _)| c.to_string()).collect();
    assert_eq!(sweeps_contracts, want, "no sweeps alert lost");
    println!("full disk: fills at {filled:?}; {} alerts, each posted once", alerts.len());
}

// ------------------------------------------------------------ 403 per feature

const FEATURE_TIMETABLE: &str = "\
3,18,33,48 * 9-15 * * Mon-Fri sweeps        session=regular
0          * *    * * *       heartbeat     session=any
";

/// A 403 on the chain switches off the option chains (health degraded,
/// `status` and `health` say which and why, from another process), and
/// nothing else; after the back-off (2 minutes here) one call probes it,
/// and when the plan includes the data again the feature comes back by
/// itself, also across a restart.
#[test]
fn a_403_switches_off_one_feature_until_a_probe_finds_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    // The fake's clock is swapped for the restart.
    let current: Arc<Mutex<Arc<SimClock>>> = Arc::new(Mutex::new(Arc::new(SimClock::new(et(9, 29, 50)))));
    let requests: Shared<u16> = Arc::default();
    let (c, log) = (current.clone(), requests.clone());
    let poly = FakeServer::start(move |req: &Recorded| {
        let now = c.lock().unwrap().now();
        let chain = req.path().starts_with("/v3/snapshot/options/");
        let forbidden = chain && now >= et(9, 31, 0) && now < et(9, 36, 0);
        if chain && req.query("cursor").is_none() {
            log.lock().unwrap().push((now, if forbidden { 403 } else { 200 }));
        }
        if forbidden {
            Reply::json(403, r#"{"status":"NOT_AUTHORIZED","message":"You are not entitled to this data."}"#)
        } else {
            ok_reply(req, now)
        }
    });
    let sim = current.lock().unwrap().clone();
    let golden = hook(sim.clone(), |_: &str| discord_ok());
    let sweeps = hook(sim.clone(), |_: &str| discord_ok());
    let extra = [("POLYGON_FEATURE_REPROBE_MINUTES", "2")];
    logcap::install();
    logcap::take();
    let config = cfg(&poly.url(), &golden.server.url(), &sweeps.server.url(), dir.path(), &extra);
    // Until 09:33:50: off at 09:31:03, probed (403 again) at 09:33:18.
    let clock: Arc<dyn Clock> = sim.clone();
    run(config.clone(), FEATURE_TIMETABLE, clock, &sim, Store::open(&db).unwrap(), Duration::from_secs(240));
    let first_logs = logcap::take_lines().join("\n");
    assert_eq!(first_logs.matches("event=polygon_forbidden").count(), 1, "{first_logs}");
    assert!(first_logs.contains("feature=option_chains"), "{first_logs}");
    let hb = first_logs.lines().rfind(|l| l.contains("event=heartbeat")).unwrap().to_string();
    assert!(hb.contains("features:25"), "{hb}");
    assert!(!hb.contains("status=healthy"), "{hb}");
    let chain_403: Vec<DateTime<Utc>> = requests.lock().unwrap().iter().filter(|r| r.1 == 403).map(|r| r.0).collect();
    assert_eq!(chain_403.len(), 2, "one 403, then one probe after the back-off: {chain_403:?}");
    assert!(chain_403[1] - chain_403[0] >= chrono::Duration::minutes(2), "{chain_403:?}");

    // From another process: which feature, why, and the health it costs.
    let orakl = |cmd: &str| orakl_in(dir.path(), &db, cmd);
    let status = orakl("status");
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(text.contains("option_chains since"), "{text}");
    assert!(text.contains("HTTP 403 on option_chain SPY"), "{text}");
    let health = orakl("health");
    let out: serde_json::Value = serde_json::from_slice(&health.stdout).unwrap();
    assert_eq!(out["components"]["features"]["penalty"], json!(25), "{out}");
    assert_ne!(health.status.code(), Some(0), "{out}");

    // A restart keeps the switch: one probe (its back-off from 09:31 has
    // passed), 403 again; the next, after 09:36, finds the chains back.
    let sim = Arc::new(SimClock::new(et(9, 34, 0)));
    *current.lock().unwrap() = sim.clone();
    requests.lock().unwrap().clear();
    let clock: Arc<dyn Clock> = sim.clone();
    run(config, FEATURE_TIMETABLE, clock, &sim, Store::open(&db).unwrap(), Duration::from_secs(6 * 60 + 10));
    let logs = logcap::take_lines().join("\n");
    let seen = requests.lock().unwrap().clone();
    let forbidden: Vec<_> = seen.iter().filter(|r| r.1 == 403).collect();
    assert_eq!(forbidden.len(), 1, "{seen:?}");
    let first_ok = seen.iter().find(|r| r.1 == 200).expect("the chains came back").0;
    assert!(first_ok >= et(9, 36, 0) && first_ok <= et(9, 36, 30), "{seen:?}");
    assert!(seen.iter().filter(|r| r.1 == 200).count() >= 7, "{seen:?}");
    assert!(logs.contains("event=polygon_feature_restored feature=option_chains"), "{logs}");
    let store = Store::open(&db).unwrap();
    assert!(store.disabled_features().unwrap().is_empty());
    let hb = logs.lines().rfind(|l| l.contains("event=heartbeat")).unwrap().to_string();
    assert!(hb.contains("disabled_features=\"\""), "{hb}");
    assert!(!hb.contains("features:"), "{hb}");
}

// ------------------------------------------------------------ time budgets

const SYMBOLS: [&str; 6] = ["SPY", "QQQ", "IWM", "DIA", "AAPL", "MSFT"];

/// A quiet one-contract chain for `symbol` (no jump), in `pages` pages.
fn quiet_chain(req: &Recorded, symbol: &str, pages: usize, now: DateTime<Utc>) -> Reply {
    let page: usize = req.query("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let ticker = format!("O:{symbol}260320C0060{page}000");
    let mut contract = snapshot(&ticker, now + chrono::Duration::days(1), now);
    contract["underlying_asset"]["ticker"] = json!(symbol);
    let mut body = json!({"status": "OK", "results": [contract]});
    if page + 1 < pages {
        body["next_url"] = json!(format!("https://api.polygon.io/v3/snapshot/options/{symbol}?cursor={}", page + 1));
    }
    Reply::json(200, body.to_string())
}

/// One symbol's chain comes in three pages of 6 s each (18 s a fetch; the
/// others are quick). The firing's budget (5 s of the server's time) stops
/// it after the first slow page; the symbols it had not reached go first
/// next time, the slow one last. No firing is skipped, every symbol is
/// scanned, and the longest stretch without a chain fetch of a healthy
/// symbol stays under 15 s.
#[test]
fn a_slow_symbol_cannot_hold_a_firing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let sim = Arc::new(SimClock::new(et(9, 29, 50)));
    let fetches: Shared<String> = Arc::default();
    let (c, log) = (sim.clone(), fetches.clone());
    let poly = FakeServer::start(move |req: &Recorded| {
        let path = req.path().to_string();
        if let Some(symbol) = path.strip_prefix("/v3/snapshot/options/") {
            if symbol == "QQQ" {
                c.advance(Duration::from_secs(6));
                return quiet_chain(req, symbol, 3, c.now());
            }
            if req.query("cursor").is_none() {
                log.lock().unwrap().push((c.now(), symbol.to_string()));
            }
            return quiet_chain(req, symbol, 1, c.now());
        }
        ok_reply(req, c.now())
    });
    let golden = hook(sim.clone(), |_: &str| discord_ok());
    let sweeps = hook(sim.clone(), |_: &str| discord_ok());
    let watchlist = SYMBOLS.join(",");
    let extra = [("WATCHLIST", watchlist.as_str()), ("OPTIONS_BATCH", "6"), ("CHAIN_CACHE_TTL_SECONDS", "0")];
    logcap::install();
    logcap::take();
    let config = cfg(&poly.url(), &golden.server.url(), &sweeps.server.url(), dir.path(), &extra);
    let clock: Arc<dyn Clock> = sim.clone();
    run(config, crate::faults::TIMETABLE, clock, &sim, Store::open(&db).unwrap(), Duration::from_secs(10 * 60));
    let logs = logcap::take_lines().join("\n");

    assert_eq!(logs.matches("event=firing_skipped").count(), 0, "{logs}");
    assert!(logs.contains("event=firing_deferred bot=sweeps reason=budget_spent"), "{logs}");
    let fetches = fetches.lock().unwrap().clone();
    let open: Vec<DateTime<Utc>> = fetches.iter().map(|f| f.0).filter(|t| *t >= et(9, 30, 0)).collect();
    let gaps: Vec<i64> = open.windows(2).map(|w| (w[1] - w[0]).num_milliseconds()).collect();
    let longest = gaps.iter().copied().max().unwrap_or(i64::MAX);
    assert!(longest < 15_000, "a healthy symbol went {longest} ms without a scan");
    for s in SYMBOLS.iter().filter(|s| **s != "QQQ") {
        let n = fetches.iter().filter(|f| f.1 == *s).count();
        assert!(n >= 20, "{s} scanned {n} times in 10 minutes");
    }
    println!("slow symbol: {} healthy chain fetches, longest gap {longest} ms", open.len());
}

/// Discord answers every post with a 500 after 8 s. A post is not retried
/// when the retry could not finish in its budget, the webhook then rests
/// 30 s, and a turn of the loop delivers for at most 5 s: the heartbeat
/// runs every time (5 in 20 minutes), no firing is skipped, and the alerts
/// that expire meanwhile cost health and show in `status`.
#[test]
fn a_discord_that_fails_slowly_does_not_starve_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let sim = Arc::new(SimClock::new(et(9, 29, 50)));
    let (poly_clock, fetch_clock) = (sim.clone(), Arc::new(Mutex::new(Vec::new())));
    let fetch_log = fetch_clock.clone();
    let poly = FakeServer::start(move |req: &Recorded| {
        if req.path().starts_with("/v3/snapshot/options/") && req.query("cursor").is_none() {
            fetch_log.lock().unwrap().push(poly_clock.now());
        }
        ok_reply(req, poly_clock.now())
    });
    let slow = |sim: Arc<SimClock>| {
        let c = sim.clone();
        hook(sim, move |_: &str| {
            c.advance(Duration::from_secs(8));
            Reply::json(500, r#"{"message":"Internal Server Error"}"#)
        })
    };
    let golden = slow(sim.clone());
    let sweeps = slow(sim.clone());
    // A scan every 1.5 s on average, as the shipped timetable's options bots.
    let timetable = "\
*/3 * 9-15 * * Mon-Fri sweeps        session=regular
1/3 * 9-15 * * Mon-Fri golden_sweeps session=regular
0   */5 * * * *        heartbeat     session=any
";
    logcap::install();
    logcap::take();
    // Every firing fetches its chain, so the fetches show each scan.
    let extra = [("CHAIN_CACHE_TTL_SECONDS", "0")];
    let config = cfg(&poly.url(), &golden.server.url(), &sweeps.server.url(), dir.path(), &extra);
    let clock: Arc<dyn Clock> = sim.clone();
    run(config, timetable, clock, &sim, Store::open(&db).unwrap(), Duration::from_secs(20 * 60 + 20));
    let logs = logcap::take_lines();
    let all = logs.join("\n");

    let heartbeats: Vec<&String> = logs.iter().filter(|l| l.contains("event=heartbeat ")).collect();
    assert_eq!(heartbeats.len(), 5, "{all}");
    assert_eq!(all.matches("event=firing_skipped").count(), 0, "{all}");
    let fetches = fetch_clock.lock().unwrap().clone();
    let longest = fetches.windows(2).map(|w| (w[1] - w[0]).num_milliseconds()).max().unwrap_or(i64::MAX);
    let slow: Vec<_> = fetches.windows(2).filter(|w| (w[1] - w[0]).num_seconds() >= 15).collect();
    let posts: Vec<_> =
        golden.posts.lock().unwrap().iter().chain(sweeps.posts.lock().unwrap().iter()).map(|p| p.0).collect();
    assert!(longest < 15_000, "{longest} ms without a scan: {slow:?} posts {posts:?}");
    // Each post took 8 s and was not retried; each webhook rested between.
    // (Only Sweeps alerts: without the chain cache the Golden Sweeps scan
    // a second later measures no flow.)
    assert!(!sweeps.posts.lock().unwrap().is_empty());
    for h in [&golden, &sweeps] {
        let mut posts = h.posts.lock().unwrap().clone();
        // A message of several alerts is one post.
        posts.dedup_by_key(|p| p.0);
        for w in posts.windows(2) {
            assert!(w[1].0 - w[0].0 >= chrono::Duration::seconds(30), "{posts:?}");
        }
    }
    // The alerts expired unposted; the last heartbeat counts them.
    let last = heartbeats.last().unwrap();
    assert!(last.contains("delivery:") && last.contains("status=unhealthy"), "{last}");
    let out = orakl_in(dir.path(), &db, "status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("expired"), "{text}");
    let store = Store::open(&db).unwrap();
    let expired = store.alerts_since(et(8, 0, 0)).unwrap().iter().filter(|e| e.status == AlertStatus::Expired).count();
    assert!(expired >= 2, "{expired}");
}

// ------------------------------------------------------------ retention

/// Sixty simulated days of a service whose only jobs are the heartbeat
/// (every 30 minutes, a run record and a snapshot each) and the daily prune,
/// with `RETENTION_DAYS=10` and `ALERT_RETENTION_DAYS=20`, starting with
/// 2,000 sent alerts. The file grows for the first days, drops when the
/// alerts go (day 20), and is flat from then on; the alert counters in
/// the metrics do not go down.
#[test]
fn sixty_days_of_retention_keep_the_file_flat() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let start = et(9, 0, 0);
    let sim = Arc::new(SimClock::new(start));
    let mut store = Store::open(&db).unwrap();
    store.scratch().unwrap();
    for i in 0..2000 {
        let at = start - chrono::Duration::minutes(i);
        let mut a = orakl::alert::Alert::new(format!("sweeps:seed:{i}"), orakl::job::Bot::Sweeps, at, "SPY");
        a.contract = Some("O:SPY260320C00600000".into());
        assert!(store.commit_alert(&a, None, None, at).unwrap());
        store.mark_sent(&a.id, None, at).unwrap();
    }
    let pages: Arc<Mutex<BTreeMap<i64, i64>>> = Arc::default();
    let (sample, db2) = (pages.clone(), db.clone());
    let clock: Arc<dyn Clock> = Arc::new(HookedClock {
        inner: sim.clone(),
        on_wait: Box::new(move |now| {
            let day = (now - start).num_days();
            let mut pages = sample.lock().unwrap();
            pages.entry(day).or_insert_with(|| {
                let conn = rusqlite::Connection::open(&db2).unwrap();
                conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap()
            });
        }),
    });
    let timetable = "0 */30 * * * * heartbeat session=any\n0 30 3 * * * prune session=any\n";
    let extra = [("RETENTION_DAYS", "10"), ("ALERT_RETENTION_DAYS", "20")];
    let config = cfg("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9", dir.path(), &extra);
    logcap::install();
    logcap::take();
    run(config, timetable, clock, &sim, store, Duration::from_secs(60 * 86_400));
    let prunes: Vec<String> = logcap::take_lines().into_iter().filter(|l| l.contains("prune")).take(30).collect();
    println!("{}", prunes.join("\n"));

    let pages = pages.lock().unwrap().clone();
    let at = |d: i64| pages[&d];
    println!("page count by day: {pages:?}");
    assert!(at(9) > at(1), "the runs grow the file at first: {pages:?}");
    assert!(at(25) < at(15), "the alerts' pages went back to the file system: {pages:?}");
    let tail: Vec<i64> = (25..60).map(at).collect();
    let (lo, hi) = (tail.iter().min().unwrap(), tail.iter().max().unwrap());
    assert!(hi - lo <= 3, "flat after the retention window: {tail:?}");

    let store = Store::open(&db).unwrap();
    assert_eq!(store.alerts_since(start - chrono::Duration::days(30)).unwrap().len(), 0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let runs: i64 = conn.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)).unwrap();
    assert!(runs <= 11 * 49, "{runs} run records kept");
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, 2, "incremental");
    let metrics = std::fs::read_to_string(dir.path().join("orakl.prom")).unwrap();
    assert!(metrics.contains("orakl_alerts_total{bot=\"sweeps\"} 2000\n"), "{metrics}");
}

/// A database made before incremental vacuum (auto_vacuum NONE, with
/// tables) is switched over, once, when the service opens it.
#[test]
fn an_existing_database_is_switched_to_incremental_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE leftover (x TEXT); INSERT INTO leftover VALUES ('a'), ('b');",
        )
        .unwrap();
        let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, 0);
    }
    let store = Store::open(&db).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, 2);
    let n: i64 = conn.query_row("SELECT count(*) FROM leftover", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2, "nothing lost");
}
