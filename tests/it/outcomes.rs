//! Outcomes against simulated truth: the simulator records what each
//! injected option's contract did after the event (`after` in the truth
//! file: entry, first of +50%/−50%, T2); the replayed service must measure
//! the same from the tape's minute bars, and its report must count the same.

use std::collections::BTreeMap;

use orakl::config::Config;
use orakl::job::Bot;
use orakl::outcomes::{Kind, Status};
use orakl::store::Store;

use crate::recall::{AlertKey, matches};
use crate::support::sim_day;

/// The status the truth's `after` implies for an option plan at the
/// default levels.
fn implied(first: &str, t2: bool) -> Status {
    match (first, t2) {
        ("t1", true) => Status::T2,
        ("t1", false) => Status::T1,
        ("stop", _) => Status::Stopped,
        _ => Status::Open,
    }
}

#[test]
fn replayed_outcomes_match_the_injected_price_paths() {
    let day = sim_day::demo_slice();
    let store = Store::open(&day.state).unwrap();
    let items = store.alerts_with_outcomes(chrono::DateTime::<chrono::Utc>::MIN_UTC, None).unwrap();
    assert!(!items.is_empty());

    // Per premium bot: (alerts, matched, [t1 or better, t2, stopped]) from the truth.
    let mut expected: BTreeMap<Bot, (usize, usize, [usize; 3])> = BTreeMap::new();
    let mut compared = 0;
    for item in &items {
        let a = &item.entry.alert;
        let Some(kind) = Kind::of(a.bot) else {
            assert!(item.outcome.is_none(), "{}: a darkpool alert has no outcome", a.id);
            continue;
        };
        let o = item.outcome.as_ref().unwrap_or_else(|| panic!("{}: alert with a plan has an outcome", a.id));
        assert_eq!(o.kind, kind, "{}", a.id);
        if kind != Kind::Premium {
            continue;
        }
        let e = expected.entry(a.bot).or_default();
        e.0 += 1;
        let key = AlertKey {
            bot: a.bot.to_string(),
            ticker: a.ticker.clone(),
            contract: a.contract.clone(),
            at: a.at,
            size: a.size,
        };
        let Some((t, after)) =
            day.truth.iter().filter(|t| matches(&key, t, a.bot.as_str())).find_map(|t| Some((t, t.after.as_ref()?)))
        else {
            continue;
        };
        e.1 += 1;
        let want = implied(&after.first, after.t2);
        println!(
            "{} {} {}: entry {} (truth {}), {} (truth {} t2={}), mfe {:?}, mae {:?}",
            a.bot,
            t.id,
            a.contract.as_deref().unwrap_or("-"),
            o.entry,
            after.entry,
            o.status,
            after.first,
            after.t2,
            o.mfe,
            o.mae
        );
        assert!((o.entry - after.entry).abs() < 1e-9, "{}: entry {} vs the truth's {}", t.id, o.entry, after.entry);
        assert_eq!(o.status, want, "{}: {:?}", t.id, after);
        if let Some(max) = after.max_pct {
            // A resolved outcome stops watching (at T2, or the stop); the
            // truth's maximum runs to the end of the tape.
            let mfe = o.mfe.unwrap();
            if want == Status::Open {
                assert!((mfe * 100.0 - max.max(0.0)).abs() < 0.01, "{}: mfe {mfe} vs max {max}%", t.id);
            } else {
                assert!(mfe * 100.0 <= max.max(0.0) + 0.01, "{}: mfe {mfe} vs max {max}%", t.id);
            }
        }
        // The report counts final outcomes only: a T1 without T2 is a win
        // once resolved (stopped after T1, or its days over), not while it
        // is still watched for T2 at the tape's end.
        e.2[0] += usize::from(want == Status::T2 || (want == Status::T1 && o.is_resolved()));
        e.2[1] += usize::from(want == Status::T2);
        e.2[2] += usize::from(want == Status::Stopped);
        compared += 1;
    }
    assert!(compared >= 3, "the slice's option events were compared: {compared}");

    // The report counts the stored outcomes, family by family; those were
    // held against the truth above wherever an injected event explains the
    // alert. (On the demo day background flow fires alongside the injected
    // events, so no family is made of injected events alone and the report
    // cannot be held against the truth directly.)
    let mut stored: BTreeMap<Bot, (usize, [usize; 3])> = BTreeMap::new();
    for item in &items {
        let Some(o) = item.outcome.as_ref().filter(|o| o.kind == Kind::Premium) else { continue };
        let e = stored.entry(item.entry.alert.bot).or_default();
        e.0 += 1;
        // The report counts final outcomes only: a T1 still watched for T2
        // is not resolved yet.
        let resolved = o.is_resolved();
        e.1[0] += usize::from(resolved && matches!(o.status, Status::T1 | Status::T2));
        e.1[1] += usize::from(resolved && o.status == Status::T2);
        e.1[2] += usize::from(resolved && o.status == Status::Stopped);
    }
    let config = Config::from_vars(&BTreeMap::new()).unwrap();
    let end = items.iter().map(|i| i.entry.alert.at).max().unwrap();
    let report = orakl::service::build_report(&store, &config, end, 2).unwrap();
    for (bot, (alerts, [wins, t2, stopped])) in &stored {
        let s = &report.by_bot[bot];
        assert_eq!(s.alerts, *alerts, "{bot}");
        assert_eq!((s.wins, s.t2, s.stopped), (*wins, *t2, *stopped), "{bot}: report vs stored outcomes");
    }
    let resolved: usize = stored.values().map(|(_, [wins, _, stopped])| wins + stopped).sum();
    assert!(stored.len() >= 2 && resolved >= 3, "the report was compared on resolved alerts: {stored:?}");
    // Families whose every alert answers an injected event are also held
    // against the truth's counts directly.
    for (bot, (alerts, matched, counts)) in &expected {
        if alerts == matched {
            let s = &report.by_bot[bot];
            assert_eq!((s.wins, s.t2, s.stopped), (counts[0], counts[1], counts[2]), "{bot}: report vs truth");
        }
    }
}

// ---------------------------------------------------------------------------
// The jobs through the real loop, a loopback Polygon and Discord, a real file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use orakl::alert::Alert;
use orakl::clock::{Clock, SimClock};
use orakl::notify::Notifier;
use orakl::outcomes::{OutcomeParams, plan_for};
use orakl::schedule::Timetable;
use orakl::service::{Delivery, Service, Settings};
use serde_json::{Value, json};

use crate::support::fake_http::{FakeServer, Recorded, Reply};
use crate::support::logcap;

const OPTION: &str = "O:SPY260320C00600000";

/// An ET wall-clock time on Monday 2026-03-09 (EDT, UTC−4).
fn et(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, h + 4, m, s).unwrap()
}

/// Minute bars per ticker, answered as `/v2/aggs` does: bars starting
/// within the inclusive millisecond bounds that have closed by `now`.
/// Single-contract snapshots answer with the open interest in `oi` (404
/// for a contract it does not know). Every request is kept.
struct Market {
    server: FakeServer,
}

type Bars = BTreeMap<String, Vec<(DateTime<Utc>, [f64; 4])>>;

impl Market {
    fn start(clock: Arc<SimClock>, bars: Bars, oi: BTreeMap<String, f64>) -> Market {
        let server = FakeServer::start(move |req: &Recorded| {
            let path = req.path().to_string();
            let parts: Vec<&str> = path.split('/').collect();
            if let ["", "v2", "aggs", "ticker", ticker, "range", "1", "minute", from, to] = parts.as_slice() {
                let (from, to): (i64, i64) = (from.parse().unwrap(), to.parse().unwrap());
                let now = clock.now();
                let results: Vec<Value> = bars
                    .get(*ticker)
                    .into_iter()
                    .flatten()
                    .filter(|(start, _)| {
                        let ms = start.timestamp_millis();
                        ms >= from && ms <= to && *start + chrono::Duration::minutes(1) <= now
                    })
                    .map(|(start, [o, h, l, c])| {
                        json!({"t": start.timestamp_millis(), "o": o, "h": h, "l": l, "c": c, "v": 10.0})
                    })
                    .collect();
                let n = results.len();
                return Reply::json(200, json!({"status": "OK", "resultsCount": n, "results": results}).to_string());
            }
            if let ["", "v3", "snapshot", "options", _underlying, contract] = parts.as_slice() {
                return match oi.get(*contract) {
                    Some(x) => Reply::json(
                        200,
                        json!({"status": "OK", "results": {"open_interest": x, "details": {"ticker": contract}}})
                            .to_string(),
                    ),
                    None => Reply::json(404, r#"{"status":"NOT_FOUND","message":"not found"}"#),
                };
            }
            Reply::json(404, r#"{"status":"NOT_FOUND","message":"not found"}"#)
        });
        Market { server }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }
}

fn config_with(polygon: &str, extra: &[(&str, String)]) -> Config {
    let mut vars: BTreeMap<String, String> = BTreeMap::from([
        ("POLYGON_API_KEY".to_string(), "key".to_string()),
        ("POLYGON_BASE_URL".to_string(), polygon.to_string()),
        ("WATCHLIST".to_string(), "SPY".to_string()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.clone());
    }
    Config::from_vars(&vars).unwrap()
}

/// Runs `timetable` from the clock's time for `span` on the state at `db`.
fn run(cfg: Config, db: &std::path::Path, clock: &Arc<SimClock>, timetable: &str, span: Duration, dry: bool) {
    let tt = Timetable::parse("schedule.cron", timetable).unwrap();
    let settings = Settings::validate(&cfg, &tt, dry).unwrap();
    let delivery = if dry {
        Delivery::print(orakl::service::OutputFormat::Text, Box::new(std::io::sink()))
    } else {
        Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled())
    };
    clock.shutdown_after(span);
    let mut svc = Service::new(cfg, clock.clone(), Store::open(db).unwrap(), delivery, Notifier::disabled()).unwrap();
    svc.run(&tt);
}

fn option_alert(id: &str, bot: Bot, at: DateTime<Utc>, contract: &str) -> Alert {
    let mut a = Alert::new(id.to_string(), bot, at, "SPY");
    a.contract = Some(contract.to_string());
    a.expiration = Some(chrono::NaiveDate::from_ymd_opt(2026, 3, 20).unwrap());
    a.avg_price = Some(2.0);
    a.premium = Some(200_000.0);
    a.volume_delta = Some(800.0);
    a.open_interest = Some(1000.0);
    a.score = Some(85.0);
    a
}

/// Commits `alert` with the plan it publishes (the quote for premium plans).
fn commit(store: &mut Store, alert: &Alert, quote: Option<(f64, f64)>) {
    let params = OutcomeParams { t1_pct: 0.5, t2_pct: 1.0, stop_pct: 0.5, max_days: 5 };
    let plan = plan_for(alert, quote, &params);
    assert!(store.commit_alert(alert, None, plan.as_ref(), alert.at).unwrap());
}

fn outcome_of(store: &Store, id: &str) -> orakl::store::OutcomeRecord {
    let items = store.alerts_with_outcomes(DateTime::<Utc>::MIN_UTC, None).unwrap();
    items.into_iter().find(|i| i.entry.alert.id == id).and_then(|i| i.outcome).expect("outcome row")
}

#[test]
fn the_outcomes_job_resolves_from_bars_after_the_alert_and_only_fetches_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut store = Store::open(&db).unwrap();
    // A sweep at 10:00:30 entering at the ask, 2.00: stop 1.00, T1 3.00, T2 4.00.
    commit(&mut store, &option_alert("opt", Bot::Sweeps, et(10, 0, 30), OPTION), Some((1.9, 2.0)));
    // A long breakout on SPY: entry 600, stop 595, T1 605, T2 610.
    let mut b = Alert::new("stock".into(), Bot::Breakouts, et(10, 0, 30), "SPY");
    (b.entry, b.stop, b.targets) = (Some(600.0), Some(595.0), Some(vec![605.0, 610.0]));
    commit(&mut store, &b, None);
    drop(store);

    let bars: Bars = BTreeMap::from([
        (
            OPTION.to_string(),
            vec![
                (et(9, 59, 0), [2.0, 9.0, 0.1, 2.0]),  // before the alert: never counts
                (et(10, 0, 0), [2.0, 9.0, 0.1, 2.0]),  // the alert's own minute: never counts
                (et(10, 5, 0), [2.0, 2.5, 1.8, 2.4]),  // MFE 25%, MAE 10%
                (et(10, 40, 0), [2.4, 3.2, 2.3, 3.1]), // T1
                (et(11, 10, 0), [1.5, 1.6, 0.9, 1.0]), // the stop after T1: final, still a win
            ],
        ),
        ("SPY".to_string(), vec![(et(10, 20, 0), [600.0, 604.0, 594.0, 596.0])]), // stop first
    ]);
    let clock = Arc::new(SimClock::new(et(10, 1, 0)));
    let market = Market::start(clock.clone(), bars, BTreeMap::new());
    let timetable = "0 */30 9-16 * * Mon-Fri outcomes session=any\n";
    run(config_with(&market.server.url(), &[]), &db, &clock, timetable, Duration::from_secs(95 * 60), true);

    let store = Store::open(&db).unwrap();
    let opt = outcome_of(&store, "opt");
    assert_eq!(opt.status, Status::T1);
    assert_eq!(opt.resolved_at, Some(et(11, 11, 0)), "the stop after T1 ends the watch");
    assert!((opt.mfe.unwrap() - 0.6).abs() < 1e-9, "{:?}", opt.mfe);
    assert!((opt.mae.unwrap() - 0.55).abs() < 1e-9, "{:?}", opt.mae);
    let stock = outcome_of(&store, "stock");
    assert_eq!((stock.status, stock.resolved_at), (Status::Stopped, Some(et(10, 21, 0))));

    // 10:30 both instruments; 11:00 and 11:30 the option only, each from
    // where the last pass stopped; after that nothing is open.
    let asked: Vec<(String, i64)> = market
        .requests()
        .iter()
        .map(|r| {
            let p: Vec<&str> = r.path().split('/').collect();
            (p[4].to_string(), p[8].parse().unwrap())
        })
        .collect();
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    assert_eq!(
        asked,
        vec![
            (OPTION.to_string(), ms(et(10, 0, 30))),
            ("SPY".to_string(), ms(et(10, 0, 30))),
            (OPTION.to_string(), ms(et(10, 6, 0))),
            (OPTION.to_string(), ms(et(10, 41, 0))),
        ]
    );
}

#[test]
fn the_outcomes_job_spends_at_most_its_request_budget_and_the_rest_go_first_next_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut store = Store::open(&db).unwrap();
    commit(&mut store, &option_alert("opt", Bot::Sweeps, et(10, 0, 30), OPTION), Some((1.9, 2.0)));
    let mut b = Alert::new("stock".into(), Bot::Breakouts, et(10, 0, 30), "SPY");
    (b.entry, b.stop, b.targets) = (Some(600.0), Some(595.0), Some(vec![605.0, 610.0]));
    commit(&mut store, &b, None);
    drop(store);
    let bars: Bars = BTreeMap::from([
        (OPTION.to_string(), vec![(et(10, 5, 0), [2.0, 2.5, 1.8, 2.4])]),
        ("SPY".to_string(), vec![(et(10, 5, 0), [600.0, 601.0, 599.0, 600.5])]),
    ]);
    let clock = Arc::new(SimClock::new(et(10, 1, 0)));
    let market = Market::start(clock.clone(), bars, BTreeMap::new());
    let timetable = "0 */30 9-16 * * Mon-Fri outcomes session=any\n";
    let cfg = config_with(&market.server.url(), &[("OUTCOMES_MAX_REQUESTS", "1".to_string())]);
    run(cfg, &db, &clock, timetable, Duration::from_secs(65 * 60), true);

    // 10:30: one request (the option, first by ticker), SPY left; 11:00:
    // SPY first (now the least recently checked), then nothing left to
    // spend on the option.
    let asked: Vec<String> =
        market.requests().iter().map(|r| r.path().split('/').nth(4).unwrap().to_string()).collect();
    assert_eq!(asked, [OPTION, "SPY"]);
    let store = Store::open(&db).unwrap();
    let runs = store.last_runs().unwrap();
    let run = runs.iter().find(|r| r.job == "outcomes").unwrap();
    assert!(run.detail.contains("instruments=2") && run.detail.contains("deferred=1"), "{}", run.detail);
}

#[test]
fn oi_confirm_marks_opening_flow_of_the_previous_session_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut store = Store::open(&db).unwrap();
    let (opened, closed, expired) = ("O:SPY260320C00600000", "O:SPY260320P00590000", "O:SPY260309C00600000");
    commit(&mut store, &option_alert("opened", Bot::Sweeps, et(11, 0, 0), opened), Some((1.9, 2.0)));
    commit(&mut store, &option_alert("closed", Bot::GoldenSweeps, et(11, 5, 0), closed), Some((1.9, 2.0)));
    let mut gone = option_alert("gone", Bot::OraklFlow, et(11, 10, 0), expired);
    gone.expiration = Some(chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap());
    commit(&mut store, &gone, Some((1.9, 2.0)));
    // Friday's alert is not the previous session's: left alone.
    let friday = option_alert("friday", Bot::Sweeps, et(11, 0, 0) - chrono::Duration::days(3), opened);
    commit(&mut store, &friday, Some((1.9, 2.0)));
    drop(store);

    // ΔOI 500 ≥ 400 (half of 800) opens; ΔOI 100 does not; the expired
    // contract is unknown to Polygon.
    let oi = BTreeMap::from([(opened.to_string(), 1500.0), (closed.to_string(), 1100.0)]);
    // Tuesday 08:59:50 ET to past the 09:00 firing.
    let clock = Arc::new(SimClock::new(et(8, 59, 50) + chrono::Duration::days(1)));
    let market = Market::start(clock.clone(), Bars::new(), oi);
    let timetable = "0 0 9 * * Mon-Fri oi_confirm session=trading_day\n";
    run(config_with(&market.server.url(), &[]), &db, &clock, timetable, Duration::from_secs(120), true);

    let store = Store::open(&db).unwrap();
    let o = outcome_of(&store, "opened");
    assert_eq!((o.opening_confirmed, o.oi_seen), (Some(true), Some(1500.0)));
    let c = outcome_of(&store, "closed");
    assert_eq!((c.opening_confirmed, c.oi_seen), (Some(false), Some(1100.0)));
    assert_eq!(outcome_of(&store, "gone").opening_confirmed, None);
    assert_eq!(outcome_of(&store, "friday").opening_confirmed, None);
    let tuesday = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    assert_eq!(store.open_interest(opened, tuesday).unwrap(), Some(1500.0));
    assert_eq!(market.requests().len(), 3, "one request per contract of the session");

    let report =
        orakl::service::build_report(&store, &Config::from_vars(&BTreeMap::new()).unwrap(), et(12, 0, 0), 1).unwrap();
    assert_eq!((report.total.confirmed, report.total.confirm_checked), (1, 2));
}

#[test]
fn the_weekly_report_is_posted_to_the_reports_webhook_and_flags_weak_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut store = Store::open(&db).unwrap();
    // 20 stopped plans on XYZ (flagged at the defaults: 20 resolved, T1
    // rate 0 < 20%), one T1 on SPY.
    let friday = et(11, 0, 0) - chrono::Duration::days(3);
    for i in 0..20 {
        let mut a = option_alert(&format!("x{i}"), Bot::Sweeps, friday + chrono::Duration::minutes(i), OPTION);
        a.ticker = "XYZ".into();
        commit(&mut store, &a, Some((1.9, 2.0)));
        let stopped = orakl::outcomes::Outcome {
            status: Status::Stopped,
            mfe: 0.1,
            mae: 0.5,
            resolved_at: Some(friday + chrono::Duration::hours(1)),
            last_bar_end: Some(friday + chrono::Duration::hours(1)),
            filled_at: Some(friday + chrono::Duration::minutes(i)),
            r: Some(-1.0),
        };
        store.update_outcome(&a.id, &stopped).unwrap();
    }
    commit(&mut store, &option_alert("spy", Bot::Sweeps, friday, OPTION), Some((1.9, 2.0)));
    drop(store);

    let posts = Arc::new(Mutex::new(Vec::new()));
    let seen = posts.clone();
    let discord = FakeServer::start(move |req: &Recorded| {
        seen.lock().unwrap().push((req.path().to_string(), req.body_json()));
        Reply::json(200, r#"{"id":"1","channel_id":"2"}"#)
    });
    let reports = format!("{}/api/webhooks/222222222222222222/reports-token", discord.url());
    // Monday 07:59:50 ET, past the 08:00 firing.
    let clock = Arc::new(SimClock::new(et(7, 59, 50)));
    logcap::install();
    logcap::take();
    let cfg = config_with("http://127.0.0.1:9", &[("REPORTS_WEBHOOK", reports)]);
    run(cfg, &db, &clock, "0 0 8 * * Mon weekly_report session=any\n", Duration::from_secs(60), false);
    let logs = logcap::take_lines();

    let posts = posts.lock().unwrap();
    assert_eq!(posts.len(), 1, "one report");
    let (path, payload) = &posts[0];
    assert_eq!(path, "/api/webhooks/222222222222222222/reports-token");
    assert_eq!(crate::discord::schema_errors(payload), Vec::<String>::new(), "{payload:#}");
    assert!(orakl::discord::check_limits(payload).is_empty());
    let description = payload["embeds"][0]["description"].as_str().unwrap();
    assert!(description.contains("sweeps") && description.contains("XYZ"), "{description}");
    let flagged = description.split("Flagged for review").nth(1).unwrap();
    assert!(flagged.contains("XYZ") && !flagged.contains("SPY"), "{flagged}");
    assert!(payload["embeds"][0]["footer"]["text"].as_str().unwrap().starts_with("Method: win = T1"));
    // The chart rides along as the embed's image, the date range in the title.
    assert_eq!(payload["embeds"][0]["image"]["url"], "attachment://report.png");
    assert!(payload["embeds"][0]["title"].as_str().unwrap().starts_with("orakl weekly report · "), "{payload:#}");
    assert!(
        logs.iter().any(|l| l.contains("event=symbol_flagged ticker=XYZ resolved=20")),
        "a warn line names the flagged symbol: {logs:#?}"
    );
}

// ---------------------------------------------------------------------------
// `orakl report` and `orakl export`, the real binary on a real file.

fn orakl(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_orakl"))
        .current_dir(dir)
        .env_clear()
        .args(args)
        .output()
        .expect("run orakl")
}

/// Three alerts whose text needs quoting, one with a resolved outcome, one
/// without a plan.
fn export_fixture(db: &std::path::Path) {
    let mut store = Store::open(db).unwrap();
    let mut a = option_alert("a1", Bot::Sweeps, et(10, 0, 30), OPTION);
    a.label = "Sweep, \"big\" one".into();
    commit(&mut store, &a, Some((1.9, 2.0)));
    let t1 = orakl::outcomes::Outcome {
        status: Status::T2,
        mfe: 1.25,
        mae: 0.1,
        resolved_at: Some(et(11, 0, 0)),
        last_bar_end: Some(et(11, 0, 0)),
        filled_at: Some(et(10, 0, 30)),
        r: Some(2.0),
    };
    store.update_outcome("a1", &t1).unwrap();
    let mut d = Alert::new("d1".into(), Bot::Darkpool, et(10, 5, 0), "SPY");
    d.label = "dark pool print\nsecond line".into();
    (d.size, d.price, d.notional) = (Some(50_000.0), Some(600.0), Some(3e7));
    commit(&mut store, &d, None);
    let b = option_alert("b1", Bot::GoldenSweeps, et(10, 0, 30) + chrono::Duration::days(1), OPTION);
    commit(&mut store, &b, Some((1.9, 2.0)));
}

#[test]
fn export_csv_and_json_carry_the_same_rows_and_survive_a_parser() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    export_fixture(&db);
    let state = db.to_str().unwrap();

    let csv_out = orakl(dir.path(), &["export", "--format", "csv", "--state", state]);
    assert!(csv_out.status.success(), "{}", String::from_utf8_lossy(&csv_out.stderr));
    let json_out = orakl(dir.path(), &["export", "--format", "json", "--state", state]);
    assert!(json_out.status.success(), "{}", String::from_utf8_lossy(&json_out.stderr));

    let mut reader = csv::Reader::from_reader(csv_out.stdout.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, orakl::export::columns());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let json: Vec<Value> = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(json.len(), 3);
    for (row, obj) in rows.iter().zip(&json) {
        for (i, column) in header.iter().enumerate() {
            let want = match &obj[column] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            assert_eq!(row.get(i).unwrap(), want, "column {column}");
        }
    }
    let first = &json[0];
    assert_eq!(first["label"], "Sweep, \"big\" one");
    assert_eq!(
        (first["outcome"].as_str(), first["outcome_entry"].as_f64(), first["t2"].as_f64()),
        (Some("t2"), Some(2.0), Some(4.0))
    );
    // The alert's cells are its JSONL line's values.
    assert_eq!((first["premium"].as_f64(), first["volume_delta"].as_f64()), (Some(200_000.0), Some(800.0)));
    assert_eq!(first["at"].as_str(), serde_json::to_value(et(10, 0, 30)).unwrap().as_str());
    assert_eq!(json[1]["label"], "dark pool print\nsecond line");
    assert_eq!((json[1]["bot"].as_str(), &json[1]["outcome"]), (Some("darkpool"), &Value::Null));
    // Darkpool's print in its own columns, not in the option ones.
    assert_eq!((json[1]["shares"].as_i64(), json[1]["notional"].as_f64()), (Some(50_000), Some(3e7)));
    assert_eq!(json[1]["premium"], Value::Null);
    // The quoting is RFC 4180's, byte for byte.
    let text = String::from_utf8(csv_out.stdout).unwrap();
    assert!(text.contains(",\"Sweep, \"\"big\"\" one\","), "{text}");
    assert!(text.contains(",\"dark pool print\nsecond line\","), "{text}");
    assert!(text.ends_with("\r\n"));

    // Filters: a bot, a date (ET), and a bot that does not exist.
    let only = |args: &[&str]| {
        let mut all = vec!["export", "--format", "json", "--state", state];
        all.extend_from_slice(args);
        let out = orakl(dir.path(), &all);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        v.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(only(&["--bot", "golden_sweeps"]), vec!["b1"]);
    assert_eq!(only(&["--since", "2026-03-10"]), vec!["b1"]);
    assert_eq!(only(&["--since", "2026-03-09", "--bot", "sweeps"]), vec!["a1"]);
    let bad = orakl(dir.path(), &["export", "--bot", "nope", "--state", state]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown bot `nope`"));

    // --out writes the same bytes to a file.
    let file = dir.path().join("alerts.csv");
    let out = orakl(dir.path(), &["export", "--state", state, "--out", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn report_prints_the_tables_and_the_method_and_needs_an_existing_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    export_fixture(&db);
    let out = orakl(dir.path(), &["report", "--days", "3650", "--state", db.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("orakl report · "), "{text}");
    let line = |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap().split_whitespace().collect::<Vec<_>>();
    // A T2 on a premium plan (entry 2.0, stop 1.0, T2 4.0): +2R.
    assert_eq!(
        line("sweeps"),
        ["sweeps", "1", "1", "0", "100.0%", "100.0%", "0.0%", "+2.00", "+2.00", "125.0%", "10.0%", "-"]
    );
    assert_eq!(line("darkpool")[1..3], ["1", "0"]);
    assert!(text.contains("Method: win = T1 touched before the stop"));

    let missing = orakl(dir.path(), &["report", "--state", dir.path().join("nope.db").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

#[test]
fn report_takes_a_date_range_json_csv_and_writes_its_chart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    export_fixture(&db);
    let state = db.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["report", "--state", state];
        all.extend_from_slice(args);
        orakl(dir.path(), &all)
    };
    // One day, in the title; the alerts of other days are not counted.
    let out = run(&["--since", "2026-03-10", "--until", "2026-03-10"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("orakl report · 2026-03-10\n"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("golden_sweeps ")), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("sweeps ")), "{text}");

    let chart = dir.path().join("week.png");
    let out = run(&[
        "--since",
        "2026-03-09",
        "--until",
        "2026-03-15",
        "--format",
        "json",
        "--chart",
        chart.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["since"], "2026-03-09T04:00:00Z");
    assert_eq!(v["until"], "2026-03-16T04:00:00Z");
    let group = |name: &str| v["groups"].as_array().unwrap().iter().find(|g| g["group"] == name).cloned().unwrap();
    assert_eq!((group("sweeps")["section"].as_str(), group("sweeps")["alerts"].as_u64()), (Some("bot"), Some(1)));
    assert_eq!(group("sweeps")["expectancy_r"].as_f64(), Some(2.0));
    assert_eq!(group("all")["section"], "all");
    let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(&chart).unwrap()));
    let info = decoder.read_info().expect("a valid PNG").info().clone();
    assert_eq!((info.width, info.height), (orakl::chart::WIDTH, orakl::chart::HEIGHT));

    let out = run(&["--since", "2026-03-09", "--format", "csv"]);
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("section,group,alerts,resolved,unfilled,t1_rate"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("bot,sweeps,1,1,0,1.0000,")), "{csv}");

    // A range that ends before it starts is a usage error.
    let bad = run(&["--since", "2026-03-10", "--until", "2026-03-09"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is after --until"));
}

#[test]
fn a_weekly_report_discord_could_not_take_is_posted_by_a_later_heartbeat_and_a_refused_one_is_not() {
    // (Discord's answers in order, requests expected, whether the report is still due)
    let cases: [(&[u16], usize, bool); 3] = [
        // Down for the job's two attempts, up for the next heartbeat's.
        (&[503, 503, 200], 3, false),
        // Refused: the same payload would be refused again.
        (&[400], 1, false),
        // Down all along: the job and the heartbeats at 08:05, 08:10 and
        // 08:15 each try twice (the webhook rests 30 s after the job's, so
        // the 08:00 heartbeat does not); still due after the run.
        (&[503; 20], 8, true),
    ];
    for (answers, want_requests, still_due) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let mut store = Store::open(&db).unwrap();
        commit(&mut store, &option_alert("a", Bot::Sweeps, et(11, 0, 0) - chrono::Duration::days(3), OPTION), None);
        drop(store);
        let n = Arc::new(Mutex::new(0usize));
        let seen = n.clone();
        let script = answers.to_vec();
        let discord = FakeServer::start(move |_req: &Recorded| {
            let mut k = seen.lock().unwrap();
            let status = script.get(*k).copied().unwrap_or(200);
            *k += 1;
            match status {
                200 => Reply::json(200, r#"{"id":"1","channel_id":"2"}"#),
                400 => Reply::json(400, r#"{"code":50006,"message":"Cannot send an empty message"}"#),
                s => Reply::status(s),
            }
        });
        let reports = format!("{}/api/webhooks/222222222222222222/reports-token", discord.url());
        let clock = Arc::new(SimClock::new(et(7, 59, 50)));
        let cfg = config_with(
            "http://127.0.0.1:9",
            &[("REPORTS_WEBHOOK", reports), ("DISCORD_MAX_ATTEMPTS", "2".to_string())],
        );
        let timetable = "0 0 8 * * Mon weekly_report session=any\n0 */5 * * * * heartbeat session=any\n";
        // Through the 08:05, 08:10 and 08:15 heartbeats.
        run(cfg, &db, &clock, timetable, Duration::from_secs(16 * 60), false);
        assert_eq!(*n.lock().unwrap(), want_requests, "{answers:?}");
        let due = Store::open(&db).unwrap().cursor("weekly_report_due").unwrap();
        assert_eq!(due.is_some(), still_due, "{answers:?}");
    }
}
