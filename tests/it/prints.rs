//! The market-wide prints lane through the real main loop (SPEC §14): a
//! scripted Massive on loopback serving unusual trades, quotes and the
//! contract's snapshot, a scripted Discord, a real SQLite file. A sweep is
//! posted within one poll interval plus a second of its print; a restart
//! neither repeats nor skips a print; a plan without the endpoint (403)
//! hands Sweeps and Golden Sweeps back to their snapshot path.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use orakl::clock::{Clock, SimClock};
use orakl::config::Config;
use orakl::notify::Notifier;
use orakl::schedule::Timetable;
use orakl::service::{Delivery, Service, Settings};
use orakl::store::Store;

use crate::service::{config, discord, ok_message};
use crate::support::fake_polygon::{Contract, FakePolygon, Lane, Prints, quote, unusual_print};
use crate::support::logcap;

const CALL: &str = "O:SPY260320C00600000";
const TIMETABLE: &str = "\
*/5 * 9-15 * * Mon-Fri market_prints session=regular
3,18,33,48 * 9-15 * * Mon-Fri sweeps session=regular
6,21,36,51 * 9-15 * * Mon-Fri golden_sweeps session=regular
";

fn t0() -> DateTime<Utc> {
    // Monday 2026-03-09 09:30:00 EDT.
    Utc.with_ymd_and_hms(2026, 3, 9, 13, 30, 0).unwrap()
}

fn ns(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap()
}

/// A $2.4M sweep of SPY's 600 call at the ask: four ISO prints of 600
/// contracts at $10.00 on four exchanges, 3 ms apart, from `at`.
fn sweep(at: DateTime<Utc>) -> Vec<serde_json::Value> {
    (0..4).map(|k| unusual_print(CALL, 10.0, 600.0, 300 + k, true, ns(at) + k * 3_000_000)).collect()
}

/// SPY's chain (the call, whose volume grows by each fetch's script) and
/// the lane's data: `sweeps` at the times given, the NBBO 9.90 × 10.00
/// just before each, served once `now_ns` has reached them.
fn market(
    now_ns: impl Fn() -> i64 + Send + Sync + 'static,
    sweeps_at: &[DateTime<Utc>],
    volumes: &[f64],
) -> FakePolygon {
    let call = Contract::new(CALL, true, 600.0, "2026-03-20", 600.0, volumes);
    let chains = BTreeMap::from([("SPY".to_string(), vec![call])]);
    let mut prints = Prints::default();
    for at in sweeps_at {
        prints.unusual.extend(sweep(*at));
        prints.quotes.entry(CALL.to_string()).or_default().push(quote(9.9, 10.0, ns(*at) - 50_000_000));
    }
    FakePolygon::start_with_prints(chains, BTreeMap::new(), prints, 250, now_ns)
}

/// The fake's time: the simulated clock's.
fn sim_now(clock: &Arc<SimClock>) -> impl Fn() -> i64 + Send + Sync + 'static {
    let clock = clock.clone();
    move || clock.now().timestamp_nanos_opt().unwrap_or(0)
}

fn run(cfg: Config, db: &std::path::Path, clock: Arc<SimClock>, span: Duration) -> Vec<String> {
    run_timetable(cfg, db, clock, span, TIMETABLE)
}

fn run_timetable(
    cfg: Config,
    db: &std::path::Path,
    clock: Arc<SimClock>,
    span: Duration,
    timetable: &str,
) -> Vec<String> {
    logcap::install();
    logcap::take();
    let tt = Timetable::parse("schedule.cron", timetable).unwrap();
    let settings = Settings::validate(&cfg, &tt, false).expect("settings");
    let store = Store::open(db).unwrap();
    let delivery = Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled());
    clock.shutdown_after(span);
    let mut svc = Service::new(cfg, clock.clone(), store, delivery, Notifier::disabled()).unwrap();
    svc.run(&tt);
    logcap::take_lines()
}

#[test]
fn a_sweep_on_the_tape_is_posted_within_a_poll_and_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    let printed = t0() + chrono::Duration::milliseconds(12_400);
    let market = market(sim_now(&clock), &[printed], &[5000.0]);
    let hook = discord(ok_message);
    let logs = run(config(&market.url(), &hook.url(), &[]), &db, clock.clone(), Duration::from_secs(60));
    let all = logs.join("\n");

    let store = Store::open(&db).unwrap();
    let sent = store.alerts_since(t0()).unwrap();
    let mut families: Vec<&str> = sent.iter().map(|s| s.alert.bot.as_str()).collect();
    families.sort_unstable();
    assert_eq!(families, ["golden_sweeps", "sweeps"], "{all}");
    for s in &sent {
        let a = &s.alert;
        assert_eq!(a.id, format!("{}:{CALL}:print{}", a.bot.as_str(), ns(printed)));
        assert_eq!(a.premium, Some(2_400_000.0));
        assert_eq!(a.label, "sweep confirmed: 4 ISO prints on 4 exchanges");
        assert_eq!(a.sentiment, orakl::alert::Sentiment::Bullish);
        // Polled every 5 s: the print at :12.4 is judged at :15 or :20
        // (an order less than a second old may still be filling).
        let delay = a.at - printed;
        assert!(delay <= chrono::Duration::milliseconds(6_000), "{delay} after the print");
    }
    assert_eq!(hook.requests().len(), 2, "each family posts once");

    // One read a poll (every 5 s for a minute), one snapshot and one quote
    // for the one order; the snapshot path did not run.
    let reqs = market.server.requests();
    let count = |p: &str| reqs.iter().filter(|r| r.path().starts_with(p)).count();
    assert_eq!(count("/options/v1/unusual-trades"), 12, "{all}");
    assert_eq!(count("/v3/quotes/"), 1);
    assert_eq!(count(&format!("/v3/snapshot/options/SPY/{CALL}")), 1);
    assert_eq!(market.chain_fetches("SPY"), 0, "Sweeps and Golden Sweeps are fed by the lane");
    let read = reqs.iter().find(|r| r.path() == "/options/v1/unusual-trades").unwrap();
    assert_eq!(read.query("order").as_deref(), Some("asc"));
    assert!(read.query("ticker.any_of").is_none(), "one request covers the market");
    assert!(all.contains("fed by market_prints") || store.last_runs().unwrap().iter().any(|r| r.job == "sweeps"));
    assert!(logs.iter().any(|l| l.contains("event=prints") && l.contains("alerts=2")), "{all}");
}

#[test]
fn a_restart_neither_repeats_nor_skips_a_print() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    // One sweep before the stop, one printed while the service is down.
    let first = t0() + chrono::Duration::seconds(7);
    let second = t0() + chrono::Duration::seconds(40);
    // The service reads with `sip_timestamp.lte` its own time, so the fake
    // may serve every print (two processes, two clocks).
    let market = market(|| i64::MAX, &[first, second], &[5000.0]);
    let hook = discord(ok_message);
    // Every hit posts: no episode, no cooldown between the two.
    let settings =
        [("EPISODE_MINUTES", "0"), ("SWEEPS_COOLDOWN_SECONDS", "0"), ("GOLDEN_SWEEPS_COOLDOWN_SECONDS", "0")];
    let cfg = || config(&market.url(), &hook.url(), &settings);
    run(cfg(), &db, clock.clone(), Duration::from_secs(20));
    let store = Store::open(&db).unwrap();
    assert_eq!(store.alerts_since(t0()).unwrap().len(), 2);
    let cursor = store.cursor("market_prints").unwrap().expect("the cursor is stored");
    let cursor: serde_json::Value = serde_json::from_str(&cursor).unwrap();
    let read_to = cursor["sip_timestamp"].as_i64().unwrap();
    assert_eq!(read_to, ns(first) + 9_000_000, "past the first sweep's last print");
    drop(store);
    let reads_before = market.server.requests().len();
    // Down from :20 to :60 (a new process, a new clock); the second sweep
    // prints at :40.
    let clock = Arc::new(SimClock::new(t0() + chrono::Duration::seconds(60)));
    run(cfg(), &db, clock.clone(), Duration::from_secs(20));
    // The restart resumes from the stored cursor, not from a fresh start.
    let resumed = market.server.requests()[reads_before..]
        .iter()
        .find(|r| r.path() == "/options/v1/unusual-trades")
        .and_then(|r| r.query("sip_timestamp.gte"))
        .expect("the restart reads the tape");
    assert_eq!(resumed, read_to.to_string());
    let sent = Store::open(&db).unwrap().alerts_since(t0()).unwrap();
    let ids: Vec<String> = sent.iter().map(|s| s.alert.id.clone()).collect();
    assert_eq!(sent.len(), 4, "{ids:?}");
    for at in [first, second] {
        assert_eq!(ids.iter().filter(|id| id.ends_with(&format!(":print{}", ns(at)))).count(), 2, "{ids:?}");
    }
    assert_eq!(hook.requests().len(), 4, "nothing posted twice");
}

#[test]
fn without_the_endpoint_the_sweep_families_read_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    let market = market(sim_now(&clock), &[], &[5000.0, 5000.0, 5000.0, 5000.0]);
    market.set_forbidden(Lane::UnusualTrades, true);
    let hook = discord(ok_message);
    let logs = run(config(&market.url(), &hook.url(), &[]), &db, clock.clone(), Duration::from_secs(60));
    let all = logs.join("\n");
    let reqs = market.server.requests();
    let reads = reqs.iter().filter(|r| r.path() == "/options/v1/unusual-trades").count();
    assert_eq!(reads, 1, "one 403, then the feature is off until its probe:\n{all}");
    assert_eq!(logs.iter().filter(|l| l.contains("polygon_forbidden")).count(), 1, "{all}");
    assert!(market.chain_fetches("SPY") >= 1, "the snapshot path runs:\n{all}");
    let store = Store::open(&db).unwrap();
    let runs = store.last_runs().unwrap();
    let lane = runs.iter().find(|r| r.job == "market_prints").expect("the lane ran");
    assert!(lane.detail.contains("403"), "{lane:?}");
    assert!(store.disabled_features().unwrap().iter().any(|d| d.name == "market_prints"));
}

#[test]
fn a_long_firing_does_not_hold_the_tape_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    // ORAKL Flow's 09:30:00 firing reads ten chains at one request a
    // second: it holds the loop for ten seconds. The sweep prints at :01.
    let printed = t0() + chrono::Duration::seconds(1);
    let market = market(sim_now(&clock), &[printed], &[5000.0]);
    let hook = discord(ok_message);
    let timetable = format!("0 * 9-15 * * Mon-Fri orakl_flow session=regular batch=10\n{TIMETABLE}");
    let symbols = "SPY,QQQ,IWM,AAPL,MSFT,NVDA,TSLA,AMZN,META,GOOGL";
    let cfg = config(&market.url(), &hook.url(), &[("WATCHLIST", symbols), ("POLYGON_RATE_LIMIT", "1")]);
    let logs = run_timetable(cfg, &db, clock.clone(), Duration::from_secs(30), &timetable);
    let all = logs.join("\n");
    assert!(logs.iter().any(|l| l.contains("event=scan bot=orakl_flow") && l.contains("symbols=10")), "{all}");
    let sent = Store::open(&db).unwrap().alerts_since(t0()).unwrap();
    assert_eq!(sent.len(), 2, "{all}");
    for s in &sent {
        let delay = s.alert.at - printed;
        assert!(delay <= chrono::Duration::seconds(6), "{delay} after the print:\n{all}");
    }
    assert!(!all.contains("firing_skipped"), "{all}");
}
