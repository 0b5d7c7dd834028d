//! The whole service's memory with a 200-symbol watchlist (SPEC §13: under
//! 64 MB RSS): the release `orakl run --dry-run` against a loopback Polygon
//! that serves the benchmark watchlist's simulated chains (SPY, QQQ, TSLA
//! and NVDA at 5,000–8,000 contracts, most names at hundreds), page by page
//! as the API does, narrowed by `expiration_date.lte`, with day volume
//! growing from poll to poll so flow detection has work to do.
//!
//! ```sh
//! cargo bench --bench service            # 240 s of service time
//! cargo bench --bench service -- 600     # longer
//! ```
//!
//! The five options bots fire one per second (batch 20 on their shared
//! walk, so a pass over 200 symbols takes 50 s), the heartbeat every
//! minute; `POLYGON_RATE_LIMIT=50`. This is denser than the shipped
//! timetable, so the service reaches its steady state (every in-scope
//! contract in the volume cache) within the first pass. The child's RSS is
//! sampled every second from /proc; its peak (VmHWM) is read before the
//! SIGTERM. Numbers are printed, never asserted.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use orakl::calendar;
use orakl::simulate;

const SEED: u64 = 7;
const WATCHLIST: usize = 200;
const PAGE: usize = 250;
/// Snapshots per symbol, 5 minutes apart: poll k is answered with snapshot
/// min(k, SNAPSHOTS − 1).
const SNAPSHOTS: usize = 6;

/// One contract of one snapshot: its expiration (for the narrowing) and
/// its JSON.
type Contract = (NaiveDate, String);

struct Market {
    /// Per symbol: the snapshots, oldest first.
    chains: BTreeMap<String, Vec<Vec<Contract>>>,
    /// Per symbol: chain fetches so far (page-1 requests).
    polls: std::sync::Mutex<BTreeMap<String, usize>>,
    pages: AtomicU64,
    bytes: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(240);
    // Chains dated on the service's own trading date, so every DTE the bots
    // compute is what the simulator meant.
    let mut date = calendar::trading_date(Utc::now());
    while !calendar::is_trading_day(date) {
        date = date.succ_opt().expect("a later date");
    }
    println!("orakl service bench: seed={SEED} date={date} watchlist={WATCHLIST} seconds={seconds}");

    let t0 = Instant::now();
    let list = simulate::benchmark_watchlist(WATCHLIST, date).expect("benchmark watchlist");
    let times: Vec<u32> = (0..SNAPSHOTS as u32).map(|k| 3_600 + 300 * k).collect();
    let mut chains = BTreeMap::new();
    let mut contracts = 0;
    for (symbol, scale) in &list {
        let snaps = simulate::chain_snapshots(SEED, date, symbol, *scale, &times).expect("chain");
        contracts += snaps.first().map_or(0, Vec::len);
        let snaps: Vec<Vec<Contract>> = snaps
            .into_iter()
            .map(|s| s.iter().filter_map(|c| Some((c.expiration()?, serde_json::to_string(c).ok()?))).collect())
            .collect();
        chains.insert(symbol.clone(), snaps);
    }
    println!("  market: {} symbols, {contracts} contracts, built in {:.1} s", chains.len(), t0.elapsed().as_secs_f64());
    let market =
        Arc::new(Market { chains, polls: Default::default(), pages: AtomicU64::new(0), bytes: AtomicU64::new(0) });

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    {
        let market = market.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let market = market.clone();
                std::thread::spawn(move || serve(stream, &market));
            }
        });
    }

    let dir = std::env::temp_dir().join(format!("orakl-service-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let schedule = dir.join("schedule.cron");
    let bots = ["orakl_flow", "sweeps", "golden_sweeps", "bullseye", "scalps"];
    let mut timetable: String =
        bots.iter().enumerate().map(|(k, b)| format!("{k}/5 * * * * * {b} session=any batch=20\n")).collect();
    timetable.push_str("30 * * * * * heartbeat session=any\n");
    std::fs::write(&schedule, timetable).expect("schedule");
    let watchlist: Vec<&str> = list.keys().map(String::as_str).collect();

    let mut child = Command::new(env!("CARGO_BIN_EXE_orakl"))
        .current_dir(&dir)
        .env_clear()
        .env("POLYGON_API_KEY", "bench")
        .env("POLYGON_BASE_URL", &base)
        .env("POLYGON_RATE_LIMIT", "50")
        .env("WATCHLIST", watchlist.join(","))
        .env("RUST_LOG", "warn")
        .arg("--schedule")
        .arg(&schedule)
        .arg("--state")
        .arg(dir.join("state.db"))
        .args(["run", "--dry-run", "--format", "jsonl"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start orakl");
    let pid = child.id();
    let start = Instant::now();
    let mut samples: Vec<(u64, u64)> = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("orakl exited early: {status}");
            break;
        }
        if let Some(kb) = proc_kb(pid, "VmRSS:") {
            samples.push((start.elapsed().as_secs(), kb));
        }
    }
    let hwm = proc_kb(pid, "VmHWM:");
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let out = child.wait_with_output().expect("wait for orakl");
    let skipped = String::from_utf8_lossy(&out.stderr).matches("event=firing_skipped").count();

    let polls = market.polls.lock().map(|p| p.values().sum::<usize>()).unwrap_or(0);
    let passes = polls as f64 / WATCHLIST as f64;
    println!(
        "  served: {polls} chain fetches ({passes:.1} passes), {} pages, {:.0} MB of JSON",
        market.pages.load(Ordering::Relaxed),
        market.bytes.load(Ordering::Relaxed) as f64 / 1e6
    );
    println!("  RSS of `orakl run` (kB), sampled every second:");
    for (t, kb) in samples.iter().filter(|(t, _)| t % 30 == 0) {
        println!("    {t:>4} s  {kb:>7}");
    }
    if let Some((_, last)) = samples.last() {
        println!("  last sample {last} kB");
    }
    println!("  peak RSS (VmHWM) {} kB; late firings skipped {skipped}; exit {}", hwm.unwrap_or(0), out.status);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A field of /proc/PID/status in kB.
fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// Answers requests on one keep-alive connection until the client closes it.
fn serve(stream: TcpStream, market: &Market) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // Headers up to the blank line; a GET has no body.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("/");
        let body = answer(target, market);
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(body.as_bytes())).is_err() {
            return;
        }
    }
}

fn answer(target: &str, market: &Market) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='));
    let Some(symbol) = path.strip_prefix("/v3/snapshot/options/") else {
        // Bars, trades, stock snapshots: nothing to say (the options bots
        // get their spot from the chain).
        return r#"{"status":"OK","request_id":"bench","results":[]}"#.to_string();
    };
    let Some(snaps) = market.chains.get(symbol) else {
        return r#"{"status":"OK","request_id":"bench","results":[]}"#.to_string();
    };
    let cursor: usize = param("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let lte = param("expiration_date.lte").and_then(|d| d.parse::<NaiveDate>().ok());
    let poll = {
        let mut polls = market.polls.lock().expect("polls");
        let n = polls.entry(symbol.to_string()).or_default();
        if cursor == 0 {
            *n += 1;
        }
        (*n).max(1) - 1
    };
    let snap = &snaps[poll.min(snaps.len() - 1)];
    let in_scope: Vec<&str> =
        snap.iter().filter(|(e, _)| lte.is_none_or(|l| *e <= l)).map(|(_, json)| json.as_str()).collect();
    let page: Vec<&str> = in_scope.iter().skip(cursor * PAGE).take(PAGE).copied().collect();
    let mut body = format!(r#"{{"status":"OK","request_id":"bench","results":[{}]"#, page.join(","));
    if (cursor + 1) * PAGE < in_scope.len() {
        let mut next = format!("/v3/snapshot/options/{symbol}?cursor={}", cursor + 1);
        if let Some(l) = lte {
            next.push_str(&format!("&expiration_date.lte={l}"));
        }
        body.push_str(&format!(r#","next_url":"https://api.polygon.io{next}""#));
    }
    body.push('}');
    market.pages.fetch_add(1, Ordering::Relaxed);
    market.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    body
}
