//! The shipped unit file passes `systemd-analyze verify` without warnings
//! and rates 2.0 or lower in `systemd-analyze security`. `.ci/run` installs
//! systemd-analyze on a machine without it.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../../systemd/orakl.service");

/// The unit with ExecStart pointing at the binary under test, so `verify`
/// can check that the command exists and is executable.
fn unit_in(dir: &Path) -> std::path::PathBuf {
    let unit = UNIT.replace("/usr/local/bin/orakl", env!("CARGO_BIN_EXE_orakl"));
    let path = dir.join("orakl.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn unit_file_has_the_required_settings() {
    for needle in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "EnvironmentFile=",
        "LoadCredential=polygon_api_key:",
        "StateDirectory=orakl",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "ExecReload=/bin/kill -HUP $MAINPID\n",
        "UMask=0077",
        "Environment=METRICS_FILE=/run/orakl/orakl.prom\n",
        "RuntimeDirectory=orakl\n",
        "RuntimeDirectoryMode=0755\n",
    ] {
        assert!(UNIT.contains(needle), "unit lacks `{}`", needle.trim());
    }
}

/// `Documentation=` names files the README's install steps put there.
#[test]
fn the_documentation_the_unit_names_is_installed_by_the_readme() {
    let readme = include_str!("../../README.md");
    let docs: Vec<&str> = UNIT.lines().filter_map(|l| l.strip_prefix("Documentation=")).collect();
    assert!(!docs.is_empty(), "the unit names no documentation");
    for doc in docs.iter().flat_map(|d| d.split_whitespace()) {
        let path = doc.strip_prefix("file://").unwrap_or_else(|| panic!("`{doc}`: not a file the install creates"));
        let step = format!("README.md {path}\n");
        assert!(readme.contains(&step), "README's install steps do not create {path}");
    }
}

#[test]
fn systemd_analyze_verify_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());
    let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().expect("systemd-analyze is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.trim().is_empty(), "verify:\n{text}");
}

#[test]
fn systemd_analyze_security_rates_two_or_lower() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no score in `{line}`"));
    assert!(score <= 2.0, "exposure {score}: {line}");
}

/// Kills the child if a test fails before it is done with it.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Reaper, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &child.0.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

/// The service as systemd runs it: `UMask=0077`, a notify socket, a
/// watchdog meant for another process, `METRICS_FILE` and
/// `WATCHLIST_FILE`. SIGHUP re-reads the timetable and the watchlist (a bad
/// file keeps the old ones and the service running), `STATUS=` lines tell
/// `systemctl status` what it runs, and the metrics file it leaves, written
/// again at shutdown, is readable by others and passes `promtool check
/// metrics` (Debian's `prometheus` package; `.ci/run` installs it).
#[test]
fn sighup_reloads_status_lines_tell_and_the_metrics_pass_promtool() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("schedule.cron"), "* * * * * * heartbeat session=any\n").unwrap();
    std::fs::write(path("watchlist.txt"), "SPY\nQQQ\n").unwrap();
    std::fs::create_dir(path("metrics")).unwrap();
    let sock = UnixDatagram::bind(path("notify.sock")).unwrap();
    // A guard against a hang, not a pause: each read returns as soon as a datagram arrives.
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let child = Reaper(
        Command::new("sh")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NOTIFY_SOCKET", path("notify.sock"))
            // sd_watchdog_enabled(3): a watchdog for another process is not ours.
            .env("WATCHDOG_USEC", "30000000")
            .env("WATCHDOG_PID", "1")
            .env("METRICS_FILE", path("metrics/orakl.prom"))
            .env("WATCHLIST_FILE", "watchlist.txt")
            .args(["-c", "umask 077 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_orakl"))
            .args(["--schedule", "schedule.cron", "--state", "state.db", "run", "--dry-run"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut seen: Vec<String> = Vec::new();
    let mut until = |what: &str| -> String {
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.recv(&mut buf).unwrap_or_else(|e| panic!("waiting for {what}: {e}; got {seen:?}"));
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.push(m.clone());
            if m.contains(what) {
                return m;
            }
        }
    };

    let ready = until("READY=1");
    assert!(ready.contains("STATUS=running: 1 timetable lines, 2 symbols"), "{ready}");
    let beat = until("STATUS=running: 1 timetable lines, 2 symbols; health 100 (healthy)");
    assert!(beat.contains("outbox 0 pending"), "{beat}");

    // A timetable that does not parse: the old one runs on.
    std::fs::write(path("schedule.cron"), "* * * * * * heartbeat session=any\nevery minute: sweeps\n").unwrap();
    signal(&child, "HUP");
    let reloading = until("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let failed = until("READY=1");
    assert!(failed.contains("running: 1 timetable lines, 2 symbols; reload failed"), "{failed}");
    assert!(failed.contains("schedule.cron:2"), "{failed}");

    // A watchlist with a bad symbol: refused as at start-up.
    std::fs::write(path("watchlist.txt"), "SPY\nnot a symbol\n").unwrap();
    std::fs::write(path("schedule.cron"), "* * * * * * heartbeat session=any\n0 0 3 * * * prune\n").unwrap();
    signal(&child, "HUP");
    let failed = until("READY=1");
    assert!(failed.contains("reload failed") && failed.contains("watchlist.txt:2"), "{failed}");

    // Both good: the new timetable and watchlist run.
    let mut f = std::fs::File::create(path("watchlist.txt")).unwrap();
    f.write_all(b"SPY\nQQQ\nIWM\n").unwrap();
    drop(f);
    signal(&child, "HUP");
    let reloaded = until("READY=1");
    assert!(reloaded.contains("STATUS=running: 2 timetable lines, 3 symbols"), "{reloaded}");
    until("STATUS=running: 2 timetable lines, 3 symbols; health");

    // The shutdown writes the metrics again.
    std::fs::remove_file(path("metrics/orakl.prom")).unwrap();
    let mut child = child;
    signal(&child, "TERM");
    until("STOPPING=1");
    assert_eq!(child.0.wait().unwrap().code(), Some(0), "{seen:?}");
    assert!(!seen.iter().any(|m| m.contains("WATCHDOG=1")), "{seen:?}");

    let metrics = path("metrics/orakl.prom");
    let mode = std::fs::metadata(&metrics).expect("the metrics written at shutdown").permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains(&format!("orakl_build_info{{version=\"{}\"}} 1\n", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("orakl_job_duration_seconds_count{job=\"heartbeat\"}"), "{text}");
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).unwrap())
        .output()
        .expect("promtool is installed (Debian's prometheus package)");
    let said = format!("{}{}", String::from_utf8_lossy(&promtool.stdout), String::from_utf8_lossy(&promtool.stderr));
    assert!(promtool.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}\n{text}");
}
