//! `orakl status` and `orakl health`, the real binary against a state file
//! written through the store: what the tables say and the exit codes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use orakl::alert::Alert;
use orakl::health::{self, ApiWindow, Inputs};
use orakl::job::Bot;
use orakl::metrics::{CacheUsage, EndpointUsage, OutboxUsage, Snapshot};
use orakl::store::{CooldownSet, RunRecord, RunResult, Store};
use serde_json::Value;

/// Every job fires at any hour, so whether a bot is stale does not depend
/// on when the test runs.
const TIMETABLE: &str = "\
*/15 * * * * * sweeps    session=any
0    * * * * * heartbeat session=any
";

fn orakl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orakl"))
        .current_dir(dir)
        .env_clear()
        .args(["--schedule", "schedule.cron", "--state", "state.db"])
        .args(args)
        .output()
        .expect("run orakl");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn run(job: &str, at: DateTime<Utc>, result: RunResult) -> RunRecord {
    RunRecord {
        job: job.into(),
        scheduled_for: at,
        started_at: at,
        finished_at: at,
        result,
        detail: format!("{job} detail"),
    }
}

fn snapshot(now: DateTime<Utc>, open_circuits: &[&str], window: ApiWindow) -> Snapshot {
    let open: Vec<String> = open_circuits.iter().map(|s| s.to_string()).collect();
    Snapshot {
        at: now,
        started_at: now - Duration::hours(1),
        api: BTreeMap::from([(
            "option_chain".to_string(),
            EndpointUsage {
                requests: BTreeMap::from([("200".to_string(), 10), ("429".to_string(), 2)]),
                pages: 10,
                retries: 2,
            },
        )]),
        window,
        caches: BTreeMap::from([("chain".to_string(), CacheUsage { entries: 1, hits: 3, misses: 1 })]),
        outbox: OutboxUsage::default(),
        alerts_by_bot: BTreeMap::new(),
        budget_suppressed: BTreeMap::from([("scalps".to_string(), 3)]),
        delivery: BTreeMap::new(),
        skipped_firings: BTreeMap::new(),
        job_durations: BTreeMap::new(),
        last_success: BTreeMap::new(),
        open_circuits: open.clone(),
        disabled_features: vec![],
        retired_webhooks: vec![],
        health: health::assess(&Inputs { open_circuits: open, ..Default::default() }),
    }
}

/// A state file where the service looks alive: the heartbeat and sweeps
/// ran moments ago.
fn workdir(snap: Option<Snapshot>, runs: &[RunRecord]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schedule.cron"), TIMETABLE).unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    for r in runs {
        store.record_run(r).unwrap();
    }
    if let Some(s) = snap {
        store.save_snapshot(s.at, &serde_json::to_string(&s).unwrap()).unwrap();
    }
    dir
}

fn alive(now: DateTime<Utc>) -> Vec<RunRecord> {
    vec![
        run("heartbeat", now - Duration::seconds(10), RunResult::Ok),
        run("sweeps", now - Duration::seconds(5), RunResult::Ok),
    ]
}

#[test]
fn health_prints_the_score_as_json_and_exits_by_status() {
    let now = Utc::now();
    let quiet = ApiWindow { requests: 40, failed: 0 };
    let failing = ApiWindow { requests: 40, failed: 40 };
    // (case, snapshot, runs, exit code, score, the components that cost)
    type Case = (&'static str, Option<Snapshot>, Vec<RunRecord>, i32, u64, &'static str);
    let cases: Vec<Case> = vec![
        ("all well", Some(snapshot(now, &[], quiet)), alive(now), 0, 100, ""),
        ("an open circuit", Some(snapshot(now, &["option_chain"], quiet)), alive(now), 1, 75, "circuits"),
        ("every request failing", Some(snapshot(now, &[], failing)), alive(now), 1, 60, "api_errors"),
        (
            "sweeps failing for five minutes",
            Some(snapshot(now, &[], quiet)),
            vec![
                run("heartbeat", now - Duration::seconds(10), RunResult::Ok),
                run("sweeps", now - Duration::minutes(5), RunResult::Ok),
                run("sweeps", now - Duration::minutes(1), RunResult::Error),
            ],
            1,
            75,
            "staleness",
        ),
        (
            "the service stopped an hour ago",
            Some(snapshot(now - Duration::hours(1), &[], quiet)),
            vec![
                run("heartbeat", now - Duration::hours(1), RunResult::Ok),
                run("sweeps", now - Duration::hours(1), RunResult::Ok),
            ],
            2,
            15,
            "heartbeat staleness",
        ),
        // Before the first heartbeat it cannot be judged: "starting",
        // UNKNOWN in the monitoring-plugin convention.
        ("the service never ran", None, vec![], 3, 15, "heartbeat staleness"),
    ];
    for (name, snap, runs, code, score, costly) in cases {
        let dir = workdir(snap, &runs);
        let (got, stdout, stderr) = orakl(dir.path(), &["health"]);
        let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{name}: {e}\n{stdout}\n{stderr}"));
        assert_eq!((got, v["score"].as_u64()), (code, Some(score)), "{name}:\n{stdout}\n{stderr}");
        let status = ["healthy", "degraded", "unhealthy", "starting"][code as usize];
        assert_eq!(v["status"], status, "{name}");
        if code > 0 {
            assert!(stderr.contains(&format!("health: {status} (score {score})")), "{name}: {stderr}");
        }
        for (component, c) in v["components"].as_object().unwrap() {
            let penalty = c["penalty"].as_u64().unwrap();
            assert_eq!(penalty > 0, costly.split(' ').any(|c| c == component), "{name}: {component} {c}");
        }
    }
}

/// Whatever keeps `health` from judging exits 3 (UNKNOWN), never 2
/// (CRITICAL) nor the usual 78 or 2 of a configuration or usage error.
#[test]
fn health_that_cannot_judge_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schedule.cron"), "0 */5 * * * * heartbeat session=any\n").unwrap();
    let (code, _, err) = orakl(dir.path(), &["health"]);
    assert_eq!(code, 3, "no state file: {err}");
    let (code, _, err) = orakl(dir.path(), &["health", "--no-such-option"]);
    assert_eq!(code, 3, "a usage error: {err}");
    let (code, _, _) = orakl(dir.path(), &["status", "--no-such-option"]);
    assert_eq!(code, 2, "other commands keep the usage code");
}

#[test]
fn status_prints_jobs_alerts_outbox_usage_caches_and_problems() {
    let now = Utc::now();
    let dir = workdir(Some(snapshot(now, &[], ApiWindow::default())), &alive(now));
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let mut a = Alert::new(format!("sweeps:O:SPY260320C00600000:{}", now.timestamp()), Bot::Sweeps, now, "SPY");
    a.contract = Some("O:SPY260320C00600000".into());
    let cd = CooldownSet { key: "O:SPY260320C00600000".into(), until: now + Duration::minutes(15), premium: Some(1e5) };
    assert!(store.commit_alert(&a, Some(&cd), None, now).unwrap());
    store.record_error(now, "golden_sweeps", Some("SPY"), "option_chain SPY: HTTP 502").unwrap();
    store.retire_webhook("123456789012345678", "discord answered 404", now).unwrap();
    store.disable_feature("trades", "HTTP 403: plan does not include trades", now).unwrap();
    drop(store);

    let (code, out, err) = orakl(dir.path(), &["status"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "health: 50 degraded",
        "-25 features: disabled (403): trades",
        "-25 webhooks: retired (404): 123456789012345678",
        "jobs (timetable schedule.cron)",
        "sweeps detail",
        "alerts today",
        "pending 1  sent 0  failed 0  expired 0",
        "option_chain  200=10 429=2        10     2",
        "chain  0.750     3     1       1",
        "trades since",
        "webhook 123456789012345678 since",
        "golden_sweeps SPY: option_chain SPY: HTTP 502",
        "suppressed by the hourly alert budget since start: scalps 3",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let sweeps_today = out.lines().find(|l| l.trim_start().starts_with("sweeps ") && l.trim_end().ends_with(" 1"));
    assert!(sweeps_today.is_some(), "one sweeps alert today:\n{out}");
    let heartbeat_row = out.lines().find(|l| l.trim_start().starts_with("heartbeat ")).unwrap();
    assert!(heartbeat_row.contains(" ok "), "{heartbeat_row}");
}

#[test]
fn status_and_health_refuse_a_state_file_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schedule.cron"), TIMETABLE).unwrap();
    // `health` answers UNKNOWN (3) as a monitoring plugin must.
    for (cmd, want) in [("status", 78), ("health", 3)] {
        let (code, _, err) = orakl(dir.path(), &[cmd]);
        assert_eq!(code, want, "{cmd}: {err}");
        assert!(err.contains("state.db does not exist"), "{cmd}: {err}");
        assert!(!dir.path().join("state.db").exists(), "{cmd} must not create the file");
    }
}

/// A service that runs until killed, on `state.db` in `dir`: the heartbeat
/// every second, nothing that needs Polygon or Discord.
fn start_service(dir: &Path) -> (Reaper, std::io::Lines<std::io::BufReader<std::process::ChildStderr>>) {
    use std::io::BufRead;
    let mut child = Reaper(
        Command::new(env!("CARGO_BIN_EXE_orakl"))
            .current_dir(dir)
            .env_clear()
            .env("RUST_LOG", "info")
            .args(["--schedule", "schedule.cron", "--state", "state.db", "run"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(child.0.stderr.take().unwrap()).lines();
    // The lock is taken before the start line: block until it is logged.
    let started = lines.by_ref().map_while(Result::ok).any(|l| l.contains("event=start"));
    assert!(started, "the service did not start");
    (child, lines)
}

/// Kills the child if a test fails before it is done with it.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_second_instance_on_one_state_database_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schedule.cron"), "* * * * * * heartbeat session=any\n").unwrap();
    let (mut service, _log) = start_service(dir.path());
    let pid = service.0.id();

    // Everything that would deliver or scan is refused, with the holder named.
    for args in [&["run", "--once"][..], &["run"], &["run", "--dry-run"], &["record", "day.tape"]] {
        let (code, out, err) = orakl(dir.path(), args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains(&format!("is in use by another orakl process (PID {pid};")), "{args:?}: {err}");
        assert!(err.contains("state.db.lock"), "{args:?}: {err}");
    }
    assert!(!dir.path().join("day.tape").exists(), "a refused record writes no tape");

    // What only reads works beside it.
    let (code, out, err) = orakl(dir.path(), &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("heartbeat"), "{out}");
    let (code, out, err) = orakl(dir.path(), &["health"]);
    assert!((0..=3).contains(&code), "{err}");
    assert!(serde_json::from_str::<Value>(&out).is_ok(), "{out}");
    for args in [&["report"][..], &["export"], &["backup", "copy.db"]] {
        let (code, _, err) = orakl(dir.path(), args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    assert!(Store::open(&dir.path().join("copy.db")).unwrap().integrity_check().unwrap().is_empty());

    // kill -9: the kernel drops the lock with the process, so a restart
    // is never blocked by a stale lock.
    service.0.kill().unwrap();
    service.0.wait().unwrap();
    let (code, _, err) = orakl(dir.path(), &["run", "--once"]);
    assert_eq!(code, 0, "{err}");
}

/// The read-only commands as a user who may read the state but not write
/// it or its directory: `nobody` when the tests run as root (who may write
/// anything), else this user once the permissions are taken away.
fn orakl_as_reader(dir: &Path, args: &[&str]) -> (i32, String, String) {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(env!("CARGO_BIN_EXE_orakl"));
    c.current_dir(dir).env_clear().args(["--schedule", "schedule.cron", "--state", "state.db"]).args(args);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        c.uid(65534).gid(65534);
    }
    let out = c.output().expect("run orakl");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn read_only_commands_work_on_a_state_file_the_user_cannot_write() {
    let now = Utc::now();
    let dir = workdir(Some(snapshot(now, &[], ApiWindow::default())), &alive(now));
    let out_dir = tempfile::tempdir().unwrap();
    set_mode(out_dir.path(), 0o777);
    let copy = out_dir.path().join("copy.db");
    let copy_arg = copy.display().to_string();
    let commit = |store: &mut Store, n: i64| {
        let at = now - Duration::seconds(n);
        let a = Alert::new(format!("sweeps:O:SPY260320C00600000:{}", at.timestamp()), Bot::Sweeps, at, "SPY");
        assert!(store.commit_alert(&a, None, None, now).unwrap());
    };
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    commit(&mut store, 2);
    drop(store);

    // (case, a writer holds the file open with its -wal and -shm)
    for (case, writer) in [("service stopped", false), ("service running", true)] {
        let mut live = writer.then(|| Store::open(&dir.path().join("state.db")).unwrap());
        if let Some(store) = &mut live {
            // Committed after the reader's file was last checkpointed: only
            // a read through the -wal sees it.
            commit(store, 1);
        }
        set_mode(&dir.path().join("state.db"), 0o444);
        set_mode(dir.path(), 0o555);
        let before = listing(dir.path());
        let alerts = if writer { 2 } else { 1 };
        let (code, out, err) = orakl_as_reader(dir.path(), &["status"]);
        assert_eq!(code, 0, "{case}: {err}");
        assert!(out.contains(&format!("pending {alerts}  sent 0")), "{case}: {out}");
        let (code, out, err) = orakl_as_reader(dir.path(), &["health"]);
        assert!((0..=3).contains(&code) && out.contains("\"score\""), "{case}: {code} {out}{err}");
        let (code, out, err) = orakl_as_reader(dir.path(), &["export", "--format", "json"]);
        assert_eq!(code, 0, "{case}: {err}");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().len(), alerts, "{case}");
        let (code, _, err) = orakl_as_reader(dir.path(), &["report"]);
        assert_eq!(code, 0, "{case}: {err}");
        let (code, _, err) = orakl_as_reader(dir.path(), &["backup", &copy_arg]);
        assert_eq!(code, 0, "{case}: {err}");
        assert_eq!(Store::open(&copy).unwrap().outbox_counts().unwrap().pending, alerts as u64, "{case}");
        // Reading created nothing beside the database.
        assert_eq!(listing(dir.path()), before, "{case}");
        set_mode(dir.path(), 0o755);
        set_mode(&dir.path().join("state.db"), 0o644);
        drop(live);
    }
}

/// Issue 17.9: alerts that expire during a Discord outage (500 for the
/// whole run) and alerts Discord refuses (400) lower the health score and
/// show in `status`; the heartbeat keeps its every firing meanwhile.
#[test]
fn a_discord_outage_with_expired_and_refused_alerts_lowers_health_and_shows_in_status() {
    use crate::support::fake_http::{FakeServer, Reply};
    use orakl::clock::SimClock;
    use orakl::config::Config;
    use orakl::notify::Notifier;
    use orakl::schedule::Timetable;
    use orakl::service::{Delivery, Service, Settings};

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schedule.cron"), TIMETABLE).unwrap();
    let db = dir.path().join("state.db");
    // Half a minute past a minute, half an hour ago: the simulated run ends
    // about now, so `status` (on the real clock) sees it as recent, and the
    // heartbeat (every five minutes) fires six times in it.
    let ago = Utc::now() - Duration::minutes(30);
    let start = ago - Duration::seconds(ago.timestamp() % 60) + Duration::seconds(30);
    let clock = Arc::new(SimClock::new(start));
    let down = FakeServer::start(|_| Reply::json(500, r#"{"message":"Internal Server Error"}"#));
    let refuses = FakeServer::start(|_| Reply::json(400, r#"{"message":"Invalid Form Body","code":50035}"#));
    let vars: BTreeMap<String, String> = [
        ("SWEEPS_WEBHOOK", format!("{}/api/webhooks/523456789012345678/CANARYdownTOKEN", down.url())),
        ("GOLDEN_SWEEPS_WEBHOOK", format!("{}/api/webhooks/623456789012345678/CANARY400TOKEN", refuses.url())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let cfg = Config::from_vars(&vars).unwrap();

    let mut store = Store::open(&db).unwrap();
    for (i, bot) in [Bot::Sweeps, Bot::Sweeps, Bot::Sweeps, Bot::GoldenSweeps, Bot::GoldenSweeps].iter().enumerate() {
        let a = Alert::new(format!("{bot}:O:SPY260320C0060{i}000:{}", start.timestamp()), *bot, start, "SPY");
        assert!(store.commit_alert(&a, None, None, start).unwrap());
    }
    let tt = Timetable::parse("schedule.cron", "0 */5 * * * * heartbeat session=any\n").unwrap();
    let settings = Settings::validate(&cfg, &tt, false).unwrap();
    let delivery = Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled());
    clock.shutdown_after(std::time::Duration::from_secs(30 * 60));
    let mut svc = Service::new(cfg, clock.clone(), store, delivery, Notifier::disabled()).unwrap();
    svc.run(&tt);
    drop(svc);

    // The heartbeat was not starved: all six firings ran.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let beats: i64 = conn
        .query_row("SELECT count(*) FROM runs WHERE job = 'heartbeat' AND result = 'ok'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(beats, 6);
    drop(conn);
    assert!(down.count() >= 3, "the outage was tried on every pass: {}", down.count());
    // Golden Sweeps' two alerts went as one message (a backlog), refused
    // once for both.
    assert_eq!(refuses.count(), 1, "a 400 is not retried");

    // The heartbeat's own score: every alert of the hour lost.
    let store = Store::open(&db).unwrap();
    let counts = store.outbox_counts().unwrap();
    assert_eq!((counts.sent, counts.failed, counts.expired, counts.pending), (0, 2, 3, 0));
    let snap: Snapshot = serde_json::from_str(&store.snapshot().unwrap().unwrap().1).unwrap();
    let delivery = &snap.health.components["delivery"];
    assert_eq!(delivery.penalty, 60, "{delivery:?}");
    assert_eq!(delivery.detail, "last 60 min: 0 sent, 2 failed, 3 expired");
    assert_eq!((snap.health.score, snap.health.status), (40, health::Status::Unhealthy), "{:#?}", snap.health);
    drop(store);

    // From outside: the same score, and status lists what was lost and why.
    let (code, out, err) = orakl(dir.path(), &["health"]);
    assert_eq!(code, 2, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["components"]["delivery"]["penalty"], 60, "{out}");
    assert_eq!((v["delivery"]["failed"].as_u64(), v["delivery"]["expired"].as_u64()), (Some(2), Some(3)), "{out}");
    let (code, out, err) = orakl(dir.path(), &["status"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "-60 delivery: last 60 min: 0 sent, 2 failed, 3 expired",
        "last 60 min: sent 0  failed 2  expired 3",
        "undelivered alerts (last 60 min, newest first, at most 10)",
        "failed golden_sweeps golden_sweeps:O:SPY260320C00603000",
        ": discord 400: Invalid Form Body",
        "expired sweeps sweeps:O:SPY260320C00600000",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}
