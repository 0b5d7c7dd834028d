//! The real binary as a user runs it: exit codes, messages, `check`,
//! `calendar`, `backup`, `run --once --dry-run`, and SIGTERM.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::fake_http::{FakeServer, Reply};
use crate::support::fake_polygon::{Contract, FakePolygon};

const KEY: &str = "CANARY-KEY-CLI";
const TOKEN: &str = "CANARYTOKENcli";

fn orakl(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_orakl"));
    c.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let Output { status, stdout, stderr } = orakl(dir, env, args).output().expect("run orakl");
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into(), String::from_utf8_lossy(&stderr).into())
}

/// Kills the child if a test fails before it exits, so no service outlives
/// its test.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workdir(timetable: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schedule.cron"), timetable).unwrap();
    dir
}

const HEARTBEAT_ONLY: &str = "0 */5 * * * * heartbeat\n";
const GOLDEN: &str = "6,21,36,51 * 9-15 * * Mon-Fri golden_sweeps session=regular\n0 */5 * * * * heartbeat\n";

fn webhook(base: &str) -> String {
    format!("{base}/api/webhooks/123456789012345678/{TOKEN}")
}

/// (expected exit code, expected stderr fragment, env, timetable)
type Case<'a> = (i32, &'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn configuration_mistakes_exit_78_naming_what_and_where() {
    let cases: &[Case] = &[
        (78, "schedule.cron:2:3: bad minute field `61`", &[], "0 * * * * * heartbeat\n0 61 * * * * heartbeat\n"),
        (78, "schedule.cron:1:13: unknown job `sweep`", &[], "0 * * * * * sweep\n"),
        (78, "POLYGON_RATE_LIMIT: `fast` is not a whole number", &[("POLYGON_RATE_LIMIT", "fast")], HEARTBEAT_ONLY),
        (78, "STRAT_PATTERNS: unknown pattern `2-2-2`", &[("STRAT_PATTERNS", "3-1-2,2-2-2")], HEARTBEAT_ONLY),
        (78, "POLYGON_API_KEY: not set; job `golden_sweeps`", &[("WATCHLIST", "SPY")], GOLDEN),
        (78, "WATCHLIST: empty", &[("POLYGON_API_KEY", KEY)], GOLDEN),
        (
            78,
            "GOLDEN_SWEEPS_WEBHOOK: not set (nor DISCORD_WEBHOOK_URL), but job `golden_sweeps` is in the timetable",
            &[("POLYGON_API_KEY", KEY), ("WATCHLIST", "SPY")],
            GOLDEN,
        ),
        (
            78,
            "DISCORD_WEBHOOK_URL:",
            &[
                ("POLYGON_API_KEY", KEY),
                ("WATCHLIST", "SPY"),
                ("DISCORD_WEBHOOK_URL", "http://example.com/api/webhooks/1/CANARYTOKENcli"),
            ],
            GOLDEN,
        ),
        (
            0,
            "",
            &[
                ("POLYGON_API_KEY", KEY),
                ("WATCHLIST", "SPY"),
                ("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/123456789012345678/CANARYTOKENcli"),
            ],
            GOLDEN,
        ),
    ];
    for (code, fragment, env, timetable) in cases {
        let dir = workdir(timetable);
        let (got, stdout, stderr) = run(dir.path(), env, &["check"]);
        assert_eq!(got, *code, "env {env:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(stderr.contains(fragment), "expected `{fragment}` in:\n{stderr}");
        for out in [&stdout, &stderr] {
            assert!(!out.contains(KEY) && !out.contains(TOKEN), "secret in output:\n{out}");
        }
        if *code == 0 {
            assert!(stdout.contains("POLYGON_API_KEY=<set, redacted>"), "{stdout}");
            assert!(stdout.contains("line 1: golden_sweeps session=regular: next "), "{stdout}");
            assert!(stdout.ends_with("ok\n"), "{stdout}");
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = workdir(HEARTBEAT_ONLY);
    let (code, _, stderr) = run(dir.path(), &[], &["frobnicate"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(dir.path(), &[], &["calendar", "99999"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn calendar_prints_every_session_of_the_year() {
    let dir = workdir(HEARTBEAT_ONLY);
    let (code, out, _) = run(dir.path(), &[], &["calendar", "2026"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 251);
    assert_eq!(lines[0], "2026-01-02 09:30 16:00");
    assert!(lines.contains(&"2026-11-27 09:30 13:00"));
    assert!(!out.contains("2026-04-03"), "Good Friday is closed");
}

#[test]
fn dotenv_file_and_credentials_directory_are_read() {
    let dir = workdir(GOLDEN);
    std::fs::write(dir.path().join(".env"), "WATCHLIST=SPY,QQQ\nPOLYGON_API_KEY=from-dotenv\n").unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("discord_webhook_url"), webhook("https://discord.com")).unwrap();
    let creds_s = creds.display().to_string();
    let (code, out, err) = run(dir.path(), &[("CREDENTIALS_DIRECTORY", &creds_s)], &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("WATCHLIST (WATCHLIST): 2 symbols: SPY,QQQ"), "{out}");
    assert!(out.contains("GOLDEN_SWEEPS_WEBHOOK=<from DISCORD_WEBHOOK_URL, redacted>"), "{out}");
}

#[test]
fn backup_copies_the_state_online() {
    let dir = workdir(HEARTBEAT_ONLY);
    let state = dir.path().join("state/bot_state.db");
    orakl::store::Store::open(&state).unwrap();
    let (code, out, err) = run(dir.path(), &[], &["backup", "copy.db"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backed up"), "{out}");
    let copy = orakl::store::Store::open(&dir.path().join("copy.db")).unwrap();
    assert!(copy.integrity_check().unwrap().is_empty());
    let (code, _, err) = run(dir.path(), &[], &["--state", "missing.db", "backup", "x.db"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("missing.db does not exist"), "{err}");
}

/// `run --dry-run --once --format jsonl`: the printed weekly report goes
/// to stderr, stdout keeps only JSON lines (none here: no alerts).
#[test]
fn a_jsonl_dry_run_prints_its_report_to_stderr() {
    let dir = workdir("0 0 16 * * Fri weekly_report\n0 */5 * * * * heartbeat\n");
    let args = ["run", "--dry-run", "--once", "--with-report", "--format", "jsonl"];
    let (code, out, err) = run(dir.path(), &[], &args);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "{out}");
    assert!(!out.contains("weekly report"), "{out}");
    assert!(err.contains("orakl weekly report"), "{err}");
    // In text mode the report is the output.
    let (code, out, err) = run(dir.path(), &[], &["run", "--dry-run", "--once", "--with-report"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("orakl weekly report"), "{out}");
}

#[test]
fn completions_and_man_pages_come_from_the_command_definition() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &[], &["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("_orakl()") && out.contains("--with-report"), "{out}");
    let (code, out, _) = run(dir.path(), &[], &["completions", "zsh"]);
    assert!(code == 0 && out.starts_with("#compdef orakl"), "{out}");
    let (code, _, err) = run(dir.path(), &[], &["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = run(dir.path(), &[], &["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(".TH orakl 1") && out.contains("completions"), "{out}");
    let (code, _, err) = run(dir.path(), &[], &["man", "--out-dir", "man1"]);
    assert_eq!(code, 0, "{err}");
    for page in ["orakl.1", "orakl-run.1", "orakl-health.1"] {
        assert!(dir.path().join("man1").join(page).is_file(), "{page}");
    }
}

#[test]
fn a_rejected_api_key_stops_run_at_startup_with_78() {
    let polygon = FakeServer::start(|_| Reply::json(401, r#"{"status":"ERROR","error":"Unknown API Key"}"#));
    let dir = workdir(GOLDEN);
    let url = polygon.url();
    let env = [("POLYGON_API_KEY", KEY), ("POLYGON_BASE_URL", url.as_str()), ("WATCHLIST", "SPY")];
    let (code, _, err) = run(dir.path(), &env, &["run", "--dry-run", "--once"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("api key rejected (401)"), "{err}");
    assert!(!err.contains(KEY));
}

#[test]
fn run_once_dry_run_walks_every_job_and_keeps_a_separate_state_file() {
    let call = Contract::new("O:SPY260320C00600000", true, 600.0, "2026-03-20", 600.0, &[1000.0]);
    let market = FakePolygon::start(BTreeMap::from([("SPY".into(), vec![call])]), BTreeMap::new(), 250, || 0);
    let dir = workdir(GOLDEN);
    let url = market.url();
    let env =
        [("POLYGON_API_KEY", KEY), ("POLYGON_BASE_URL", url.as_str()), ("WATCHLIST", "SPY"), ("RUST_LOG", "info")];
    let (code, _, err) = run(dir.path(), &env, &["run", "--dry-run", "--once", "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("event=scan bot=golden_sweeps symbols=1"), "{err}");
    assert!(err.contains("event=heartbeat"), "{err}");
    assert_eq!(market.chain_fetches("SPY"), 1);
    assert!(dir.path().join("state/bot_state-dry-run.db").is_file());
    assert!(!dir.path().join("state/bot_state.db").exists(), "a dry run never touches the real state");
    assert!(!err.contains(KEY));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = workdir(HEARTBEAT_ONLY);
    let (code, _, err) = run(dir.path(), &[("ORAKL_LOG_FORMAT", "json")], &["run", "--dry-run", "--once"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty());
    let mut heartbeats = 0;
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["ts"].is_string() && v["level"].is_string() && v["event"].is_string(), "{l}");
        // Typed fields: counts are numbers, not the strings a re-parsed
        // message would give.
        if v["event"] == "heartbeat" {
            heartbeats += 1;
            assert!(v["health"].is_u64() && v["outbox_pending"].is_u64() && v["status"].is_string(), "{l}");
        }
    }
    assert_eq!(heartbeats, 1, "{err}");
}

#[test]
fn sigterm_stops_a_running_service_with_exit_0() {
    let dir = workdir("* * * * * * heartbeat\n");
    let mut child = Reaper(
        orakl(dir.path(), &[("RUST_LOG", "info")], &["run", "--dry-run"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    // Block until the service has started and run one job: no sleeping.
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("event=heartbeat") {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("event=start")), "{seen:?}");
    let kill = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("event=signal")), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("event=stop")), "{rest:?}");
}

/// systemd's side of `Type=notify`: a datagram socket in `NOTIFY_SOCKET`.
#[test]
fn notify_protocol_ready_watchdog_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = workdir("* * * * * * heartbeat\n");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    // A guard against a hang, not a pause: each read returns as soon as a datagram arrives.
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let sock_s = sock_path.display().to_string();
    let env = [
        ("NOTIFY_SOCKET", sock_s.as_str()),
        ("WATCHDOG_USEC", "4000000"),
        ("POLYGON_TIMEOUT_SECONDS", "1"),
        ("DISCORD_TIMEOUT_SECONDS", "1"),
    ];
    let mut child = Reaper(
        orakl(dir.path(), &env, &["run", "--dry-run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let mut buf = [0u8; 512];
    let mut recv = || {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut got = vec![recv()];
    while got.iter().filter(|m| m.contains("WATCHDOG=1")).count() < 2 {
        got.push(recv());
    }
    assert!(got[0].contains("READY=1"), "{got:?}");
    Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    while !got.last().unwrap().contains("STOPPING=1") {
        got.push(recv());
    }
    assert_eq!(child.0.wait().unwrap().code(), Some(0), "{got:?}");
}

#[test]
fn timeouts_longer_than_half_the_watchdog_are_refused() {
    let dir = workdir(HEARTBEAT_ONLY);
    let sock = dir.path().join("n.sock");
    let _listener = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    let s = sock.display().to_string();
    let (code, _, err) =
        run(dir.path(), &[("NOTIFY_SOCKET", &s), ("WATCHDOG_USEC", "10000000")], &["run", "--dry-run", "--once"]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("POLYGON_TIMEOUT_SECONDS: 10 s is not below half of the systemd watchdog interval (10 s)"),
        "{err}"
    );
}

#[test]
fn a_malformed_tape_stops_replay_with_tape_line_and_78() {
    let dir = workdir(HEARTBEAT_ONLY);
    let header = r#"{"tape":"orakl-market-tape","version":1}"#;
    let good = r#"{"at":"2026-03-09T14:30:00Z","endpoint":"trades","ticker":"SPY","results":[]}"#;
    let cases = [
        (
            format!("{header}\n{good}\n{{\"at\":\"2026-03-09T14:31:00Z\",\"endpoint\":\"trades\"\n"),
            "day.tape:3: bad record",
        ),
        ("not json\n".to_string(), "day.tape:1: not a tape header"),
        (format!("{header}\n"), "the tape has no records"),
    ];
    for (text, want) in cases {
        std::fs::write(dir.path().join("day.tape"), text).unwrap();
        let (code, out, err) = run(dir.path(), &[], &["replay", "day.tape"]);
        assert_eq!(code, 78, "{err}");
        assert!(err.contains(want), "expected `{want}` in {err}");
        assert!(out.is_empty(), "{out}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The smoke test tells the truth: a failed job is exit 1 (naming how many
/// failed), and the weekly report is posted only with --with-report.
#[test]
fn run_once_exits_1_when_a_job_failed_and_posts_the_report_only_when_asked() {
    let discord = FakeServer::start(|_| Reply::json(200, r#"{"id":"1"}"#));
    let url = discord.url();
    let hook = webhook(&url);
    let report_line = "0 0 8 * * Mon weekly_report session=any\n";
    // (case, polygon answers, extra flags, exit code, stderr fragment, reports posted)
    let ok = FakeServer::start(|_| Reply::json(200, r#"{"status":"OK","results":[]}"#));
    let down = FakeServer::start(|_| Reply::json(500, r#"{"status":"ERROR"}"#));
    type OnceCase<'a> = (&'a str, &'a FakeServer, &'a [&'a str], i32, &'a str, usize);
    let cases: [OnceCase; 4] = [
        ("all jobs ok", &ok, &[], 0, "", 0),
        ("with the report", &ok, &["--with-report"], 0, "", 1),
        ("polygon down", &down, &[], 1, "run --once: 1 of 2 jobs failed", 0),
        ("polygon down, with the report", &down, &["--with-report"], 1, "run --once: 1 of 3 jobs failed", 1),
    ];
    for (case, polygon, flags, code, fragment, reports) in cases {
        let dir = workdir(&format!("{GOLDEN}{report_line}"));
        let purl = polygon.url();
        let env = [
            ("POLYGON_API_KEY", KEY),
            ("POLYGON_BASE_URL", purl.as_str()),
            ("POLYGON_MAX_RETRIES", "0"),
            ("WATCHLIST", "SPY"),
            ("DISCORD_WEBHOOK_URL", hook.as_str()),
        ];
        let before = discord.count();
        let args: Vec<&str> = ["run", "--once"].iter().chain(flags).copied().collect();
        let (got, out, err) = run(dir.path(), &env, &args);
        assert_eq!(got, code, "{case}:\n{out}\n{err}");
        assert!(err.contains(fragment), "{case}: expected `{fragment}` in\n{err}");
        assert_eq!(discord.count() - before, reports, "{case}: reports posted");
    }
    let (code, _, err) = run(workdir(GOLDEN).path(), &[], &["run", "--with-report"]);
    assert_eq!(code, 2, "--with-report belongs to --once: {err}");
}

/// A misspelled setting fails `check` with "did you mean" and is a warning
/// in `run`; what `run` refuses, `check` refuses; a byte-order mark is
/// ignored in every file; an empty timetable is an error; an error message
/// never echoes a huge token in full.
#[test]
fn check_catches_typos_and_refuses_what_run_refuses() {
    let typo = [("SWEEPS_MIN_PREMUIM", "60000")];
    let dir = workdir(HEARTBEAT_ONLY);
    let (code, out, err) = run(dir.path(), &typo, &["check"]);
    assert_eq!(code, 78, "{out}{err}");
    assert!(
        err.contains("SWEEPS_MIN_PREMUIM: orakl reads no such variable; did you mean SWEEPS_MIN_PREMIUM?"),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), &typo, &["run", "--dry-run", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("event=config_unknown_var var=SWEEPS_MIN_PREMUIM did_you_mean=SWEEPS_MIN_PREMIUM"), "{err}");
    let (code, out, err) = run(dir.path(), &[("HOME", "/root"), ("LANG", "C.UTF-8")], &["check"]);
    assert_eq!(code, 0, "other programs' variables are none of check's business: {out}{err}");

    // What run refuses at start-up, check refuses too (both exit 78).
    let polygon = FakeServer::start(|_| Reply::json(200, r#"{"status":"OK","results":[]}"#));
    let url = polygon.url();
    let hook = webhook("https://discord.com");
    let env = [
        ("POLYGON_API_KEY", "two words"),
        ("POLYGON_BASE_URL", url.as_str()),
        ("WATCHLIST", "SPY"),
        ("DISCORD_WEBHOOK_URL", hook.as_str()),
    ];
    let dir = workdir(GOLDEN);
    for args in [&["check"][..], &["run", "--once", "--dry-run"]] {
        let (code, _, err) = run(dir.path(), &env, args);
        assert_eq!(code, 78, "{args:?}: {err}");
        assert!(err.contains("api key contains spaces"), "{args:?}: {err}");
    }

    // A byte-order mark starts each file: all three are read as without it.
    let dir = workdir(&format!("\u{feff}{GOLDEN}"));
    std::fs::write(dir.path().join(".env"), "\u{feff}WATCHLIST_FILE=watchlist.txt\n").unwrap();
    std::fs::write(dir.path().join("watchlist.txt"), "\u{feff}SPY\nQQQ\n").unwrap();
    let env = [("POLYGON_API_KEY", KEY), ("DISCORD_WEBHOOK_URL", hook.as_str())];
    let (code, out, err) = run(dir.path(), &env, &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 symbols: SPY,QQQ"), "{out}");

    // An empty timetable is an error, not an idle service.
    let dir = workdir("# everything commented out\n# 0 */5 * * * * heartbeat\n");
    for args in [&["check"][..], &["run", "--dry-run"]] {
        let (code, _, err) = run(dir.path(), &[], args);
        assert_eq!(code, 78, "{args:?}: {err}");
        assert!(err.contains("schedule.cron: no jobs: every line is blank or a comment"), "{args:?}: {err}");
    }

    // A 10 MB token in each file is cut in the message that quotes it.
    let token = "7".repeat(10 << 20);
    let cases = [
        (".env", format!("POLYGON_RATE_LIMIT={token}x\n"), "POLYGON_RATE_LIMIT: `7777"),
        ("watchlist.txt", format!("SPY\n{token}\n"), "watchlist.txt:2: `7777"),
        ("schedule.cron", format!("0 {token} * * * * heartbeat\n"), "schedule.cron:1:3: bad minute field `7777"),
    ];
    for (file, text, fragment) in cases {
        let dir = workdir(HEARTBEAT_ONLY);
        std::fs::write(dir.path().join(".env"), "WATCHLIST_FILE=watchlist.txt\n").unwrap();
        std::fs::write(dir.path().join("watchlist.txt"), "SPY\n").unwrap();
        std::fs::write(dir.path().join(file), text).unwrap();
        let (code, _, err) = run(dir.path(), &[], &["check"]);
        assert_eq!(code, 78, "{file}: {}", &err[..err.len().min(500)]);
        assert!(err.len() < 1000, "{file}: {} bytes of error: {}", err.len(), &err[..500]);
        assert!(err.contains(fragment) && err.contains("more bytes]"), "{file}: {err}");
    }
}

/// Ctrl-C or SIGTERM during `replay`, `demo` or `evaluate` stops the replay
/// and removes its temporary database (and the demo's tape directory): the
/// exit code is 128 + the signal, and the temporary directory is left empty.
#[test]
fn a_signal_during_a_replay_removes_its_temporary_files() {
    let dir = workdir(HEARTBEAT_ONLY);
    std::fs::remove_file(dir.path().join("schedule.cron")).unwrap();
    let (code, _, err) = run(
        dir.path(),
        &[],
        &["simulate", "--seed", "7", "--minutes", "30", "--out", "t.jsonl.gz", "--truth", "truth.jsonl"],
    );
    assert_eq!(code, 0, "{err}");
    let cases: [(&[&str], &str, i32); 3] = [
        (&["replay", "t.jsonl.gz"], "-INT", 130),
        (&["demo"], "-TERM", 143),
        (&["evaluate", "t.jsonl.gz", "--truth", "truth.jsonl"], "-INT", 130),
    ];
    for (args, signal, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let tmp_s = tmp.path().display().to_string();
        let mut child = Reaper(
            orakl(dir.path(), &[("TMPDIR", tmp_s.as_str()), ("RUST_LOG", "info")], args)
                .stderr(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let pid = child.0.id().to_string();
        let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
        // The first scan means the replay loop runs. Reading then stops, so
        // the replay soon blocks on its full stderr pipe and cannot finish
        // before the signal: no race, no sleep.
        for line in lines.by_ref() {
            if line.unwrap().contains("event=scan") {
                break;
            }
        }
        let during: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(during.iter().any(|n| n.starts_with(&format!("orakl-replay-{pid}"))), "{args:?}: {during:?}");
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = child.0.wait().unwrap();
        let tail = rest.iter().rev().take(3).collect::<Vec<_>>();
        assert_eq!(status.code(), Some(expected), "{args:?}: {tail:?}");
        assert!(rest.iter().any(|l| l.contains("interrupted by SIG")), "{args:?}: {tail:?}");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{args:?} left {left:?} in TMPDIR");
    }
}

/// `replay --state FILE` writes into FILE, so it is refused while another
/// process holds that file's lock (as `run` is), naming the holder.
#[test]
fn replay_on_a_state_file_in_use_is_refused_naming_the_holder() {
    let dir = workdir(HEARTBEAT_ONLY);
    let state = dir.path().join("state.db");
    let held = orakl::store::InstanceLock::acquire(&state).unwrap();
    let (code, _, err) = run(dir.path(), &[], &["replay", "missing.jsonl", "--state", "state.db"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in use by another orakl process"), "{err}");
    assert!(err.contains(&format!("PID {}", std::process::id())), "{err}");
    drop(held);
    // Free again: the replay gets as far as the tape.
    let (code, _, err) = run(dir.path(), &[], &["replay", "missing.jsonl", "--state", "state.db"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("missing.jsonl") && !err.contains("in use"), "{err}");
}

/// The one-shot commands log at warn unless RUST_LOG says otherwise: a
/// replayed day's stdout is its product, and info would add a line per scan.
#[test]
fn one_shot_commands_log_at_warn_unless_rust_log_says_otherwise() {
    let dir = workdir(HEARTBEAT_ONLY);
    std::fs::remove_file(dir.path().join("schedule.cron")).unwrap();
    let sim = ["simulate", "--seed", "7", "--minutes", "5", "--symbols", "SPY", "--out", "t.jsonl.gz"];
    let (code, _, err) = run(dir.path(), &[], &sim[..]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(dir.path(), &[], &["replay", "t.jsonl.gz"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("summary"), "{out}");
    let info = |err: &str| err.lines().filter(|l| l.contains(" INFO ")).count();
    assert_eq!(info(&err), 0, "{err}");
    assert!(!err.contains("replay_done"), "{err}");
    let (code, _, err) = run(dir.path(), &[("RUST_LOG", "info")], &["replay", "t.jsonl.gz"]);
    assert_eq!(code, 0, "{err}");
    assert!(info(&err) > 10 && err.contains("event=scan"), "{err}");
    // -v raises the level by one; the wall time is an event, its line
    // stamped with the simulated day's time like every replayed line.
    let (code, _, err) = run(dir.path(), &[], &["-v", "replay", "t.jsonl.gz"]);
    assert_eq!(code, 0, "{err}");
    assert!(info(&err) > 10, "{err}");
    let done = err.lines().find(|l| l.contains("event=replay_done")).unwrap_or_else(|| panic!("{err}"));
    assert!(done.starts_with("2026-03-09T") && done.contains(" wall_s="), "{done}");
    // -q: errors only.
    let (code, _, err) = run(dir.path(), &[("RUST_LOG", "info")], &["replay", "-q", "t.jsonl.gz"]);
    assert_eq!((code, err.as_str()), (0, ""));
}

/// `--format jsonl`: stdout is JSON lines and nothing else (the summary and
/// report go to stderr), so `replay … | jq` reads every line; JSON logs
/// carry typed fields.
#[test]
fn jsonl_stdout_is_only_json_lines_and_json_logs_are_typed() {
    let dir = workdir(HEARTBEAT_ONLY);
    std::fs::remove_file(dir.path().join("schedule.cron")).unwrap();
    let sim = ["simulate", "--seed", "11", "--minutes", "60", "--symbols", "SPY,CSCO", "--out", "t.jsonl.gz"];
    let (code, _, err) = run(dir.path(), &[], &sim[..]);
    assert_eq!(code, 0, "{err}");
    let env = [("ORAKL_LOG_FORMAT", "json")];
    let (code, out, err) = run(dir.path(), &env, &["replay", "-v", "t.jsonl.gz", "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty(), "the day has alerts");
    for (n, line) in out.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line {}: {e}: {line}", n + 1));
        assert!(v["id"].is_string() && v["bot"].is_string(), "{line}");
    }
    assert!(err.contains("\nsummary\n") && err.contains("report"), "{err}");
    let logs: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line: {e}: {l}")))
        .collect();
    let scan = logs.iter().find(|v| v["event"] == "scan").unwrap_or_else(|| panic!("{err}"));
    assert!(scan["bot"].is_string() && scan["requests"].is_u64() && scan["ms"].is_u64(), "{scan}");
    let done = logs.iter().find(|v| v["event"] == "replay_done").unwrap_or_else(|| panic!("{err}"));
    assert!(done["wall_s"].is_number() && done["simulated_s"].as_f64() > Some(0.0), "{done}");
}
