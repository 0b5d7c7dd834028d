//! orakl's performance against SPEC §13, on simulated market data.
//!
//! ```sh
//! cargo bench --bench perf                      # throughput, api, cache
//! cargo bench --bench perf -- throughput        # one section
//! cargo bench --bench perf -- tape day200.tape.gz   # the 200-symbol day for benches/replay.sh
//! cargo bench --bench perf -- tape day200.tape.gz 300 day200.truth.jsonl   # and its truth file
//! ```
//!
//! Sections:
//!
//! - `throughput`: chain JSON in pages of 250 (Polygon's
//!   `/v3/snapshot/options/{underlying}` shape, made by the simulator):
//!   parse alone, and parse + observations + flow detection of a second
//!   poll against the first poll's volume-cache baseline; MB/s and
//!   contracts/s on one core, median of `ORAKL_BENCH_ITERS` runs (7).
//! - `api`: requests and pages of one pass over the 200-symbol watchlist:
//!   this design (one fetch per symbol narrowed to the largest DTE any
//!   options bot needs) against the minimum and a design where every
//!   options bot fetches its own chain; pass time at 5 and 50 requests/s.
//! - `cache`: heap bytes per volume-cache entry (a counting allocator),
//!   and the cache through a simulated day of passes.
//! - `tape`: writes the 200-symbol day (see `benches/replay.sh`).
//!
//! Timings read the OS clock here, in the benchmark; the product never does
//! outside `clock.rs`. Nothing here is asserted: numbers are printed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::de::DeserializeSeed;

use orakl::cache::{VolumeCache, VolumeEntry};
use orakl::calendar;
use orakl::flow::{self, FlowParams, Observation};
use orakl::polygon::OptionSnapshot;
use orakl::polygon::lean::ChainContract;
use orakl::polygon::models::{ChainPage, Envelope, OneOrMany, PageSeed};
use orakl::scan;
use orakl::simulate::{self, SimOptions};

/// Counts live heap bytes, so a data structure's memory can be read off
/// exactly (RSS moves in pages and keeps freed memory).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SEED: u64 = 7;
const WATCHLIST: usize = 200;
const PAGE: usize = 250;
/// The options bots' largest `*_MAX_DTE` by default (Golden Sweeps).
const MAX_DTE: i64 = 180;
/// Each options bot's `(name, MIN_DTE, MAX_DTE)` defaults.
const BOTS: [(&str, i64, i64); 5] =
    [("orakl_flow", 1, 45), ("sweeps", 1, 90), ("golden_sweeps", 1, 180), ("bullseye", 1, 5), ("scalps", 0, 7)];

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 9).unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let iters: usize = std::env::var("ORAKL_BENCH_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(7).max(1);
    println!("orakl perf: seed={SEED} date={} iterations={iters}", date());
    match args.first().map(String::as_str) {
        Some("tape") => {
            let out = args.get(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("day200.tape.gz"));
            let interval = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
            // A truth file of the injected events, for `orakl evaluate`.
            let truth = args.get(3).map(PathBuf::from);
            tape(&out, interval, truth.as_deref());
        }
        Some("throughput") => throughput(iters),
        Some("api") => api(),
        Some("cache") => cache(),
        Some(other) => eprintln!("unknown section `{other}` (throughput, api, cache, tape OUT [INTERVAL_S [TRUTH]])"),
        None => {
            throughput(iters);
            api();
            cache();
        }
    }
}

// ---------------------------------------------------------------------------
// Throughput.

/// One symbol's chain at two polls, as the JSON pages the API sends.
struct Sample {
    symbol: String,
    contracts: usize,
    first: Vec<Vec<u8>>,
    second: Vec<Vec<u8>>,
}

/// Pages of `PAGE` contracts in the chain endpoint's envelope, `next_url`
/// on every page but the last.
fn pages(symbol: &str, snaps: &[OptionSnapshot]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[OptionSnapshot]> = snaps.chunks(PAGE).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(k, chunk)| {
            let page: Envelope<OneOrMany<OptionSnapshot>> = Envelope {
                status: Some("OK".into()),
                request_id: Some(format!("{:032x}", k as u128 * 0x9e37_79b9_7f4a_7c15)),
                results: Some(OneOrMany::Many(chunk.to_vec())),
                next_url: (k + 1 < n).then(|| {
                    format!("https://api.polygon.io/v3/snapshot/options/{symbol}?cursor=YXA9{}&limit=250", k + 1)
                }),
                ..Envelope::default()
            };
            serde_json::to_vec(&page).unwrap_or_default()
        })
        .collect()
}

/// Every field the live API sends on a real-time plan, which the simulator
/// leaves out because orakl does not read them: the same contracts, the
/// bytes a live page carries.
fn full_shape(symbol: &str, snaps: &mut [OptionSnapshot], at_ns: i64) {
    for s in snaps {
        let spot = s.scan_view().spot().unwrap_or(0.0);
        if let Some(d) = s.details.as_mut() {
            d.exercise_style = Some("american".into());
            d.shares_per_contract = Some(100.0);
        }
        let strike = s.strike().unwrap_or(0.0);
        let call = s.contract_type() == Some(orakl::alert::ContractType::Call);
        if let Some(q) = s.last_quote.as_mut() {
            let (bid, ask) = (q.bid.unwrap_or(0.0), q.ask.unwrap_or(0.0));
            q.ask_size = Some(10.0 + (ask * 7.0).floor());
            q.bid_size = Some(12.0 + (bid * 5.0).floor());
            q.ask_exchange = Some(316);
            q.bid_exchange = Some(313);
            q.midpoint = Some(((bid + ask) / 2.0 * 1e4).round() / 1e4);
            q.timeframe = Some("REAL-TIME".into());
            let mid = (bid + ask) / 2.0;
            s.break_even_price = Some(if call { strike + mid } else { strike - mid });
        }
        if let Some(d) = s.day.as_mut() {
            let (open, close) = (d.open.unwrap_or(0.0), d.close.unwrap_or(0.0));
            d.change = Some(((close - open) * 100.0).round() / 100.0);
            d.change_percent = Some(if open > 0.0 { ((close / open - 1.0) * 1e4).round() / 100.0 } else { 0.0 });
            d.last_updated = Some(at_ns);
            d.previous_close = Some(open);
        }
        if let Some(t) = s.last_trade.as_mut() {
            t.timeframe = Some("REAL-TIME".into());
        }
        let be = s.break_even_price.unwrap_or(spot);
        s.underlying_asset = Some(orakl::polygon::models::UnderlyingAsset {
            change_to_break_even: Some(((be - spot) * 100.0).round() / 100.0),
            last_updated: Some(at_ns),
            price: Some(spot),
            ticker: Some(symbol.to_string()),
            timeframe: Some("REAL-TIME".into()),
            value: None,
        });
    }
}

/// The chains measured: one of each size class of the benchmark watchlist.
fn samples(full: bool) -> Vec<Sample> {
    let list = simulate::benchmark_watchlist(WATCHLIST, date()).unwrap_or_default();
    // 10:30 ET, then 30 s later: one chain-cache TTL, the busiest cadence.
    let (t0, t1) = (3_600, 3_630);
    let mut out = Vec::new();
    let picks: Vec<(String, f64)> = ["SPY", "AAPL", "CSCO"]
        .iter()
        .map(|s| (s.to_string(), list.get(*s).copied().unwrap_or(1.0)))
        .chain(
            list.iter()
                .filter(|(s, _)| !simulate::DEFAULT_SYMBOLS.contains(&s.as_str()))
                .take(3)
                .map(|(s, v)| (s.clone(), *v)),
        )
        .collect();
    for (symbol, scale) in picks {
        let Ok(mut polls) = simulate::chain_snapshots(SEED, date(), &symbol, scale, &[t0, t1]) else { continue };
        if full {
            let open_ns = calendar::session(date()).map(|s| s.open.timestamp()).unwrap_or(0) * 1_000_000_000;
            for (p, t) in polls.iter_mut().zip([t0, t1]) {
                full_shape(&symbol, p, open_ns + i64::from(t) * 1_000_000_000);
            }
        }
        let contracts = polls[0].len();
        out.push(Sample { contracts, first: pages(&symbol, &polls[0]), second: pages(&symbol, &polls[1]), symbol });
    }
    out
}

fn parse_chain(pages: &[Vec<u8>]) -> Vec<OptionSnapshot> {
    let mut out = Vec::new();
    for p in pages {
        let page: ChainPage = serde_json::from_slice(p).unwrap_or_default();
        if let Some(r) = page.results {
            out.extend(r.into_vec());
        }
    }
    out
}

/// The service's path: each page read through the scan's lean model
/// straight into observations (`PageSeed`, as `Client::option_chain_map`).
fn observations(pages: &[Vec<u8>], symbol: &str) -> Vec<Observation> {
    let (mut out, mut read) = (Vec::new(), 0);
    let mut keep = |c: ChainContract| scan::observation(c, symbol);
    for p in pages {
        let seed = PageSeed { keep: &mut keep, out: &mut out, read: &mut read, item: PhantomData };
        let mut de = serde_json::Deserializer::from_slice(p);
        let _ = seed.deserialize(&mut de);
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of `iters` runs of `f`, each given fresh input from `setup`.
fn time<S, T>(iters: usize, mut setup: impl FnMut() -> S, mut f: impl FnMut(S) -> T) -> f64 {
    let mut runs = Vec::with_capacity(iters);
    for _ in 0..iters {
        let input = setup();
        let t = Instant::now();
        let out = f(input);
        runs.push(t.elapsed().as_secs_f64());
        drop(std::hint::black_box(out));
    }
    median(runs)
}

fn throughput(iters: usize) {
    for (shape, full) in [("simulator", false), ("full live shape", true)] {
        let samples = samples(full);
        let bytes: usize = samples.iter().map(|s| s.second.iter().map(Vec::len).sum::<usize>()).sum();
        let contracts: usize = samples.iter().map(|s| s.contracts).sum();
        let pages: usize = samples.iter().map(|s| s.second.len()).sum();
        println!(
            "\n== throughput: chain JSON, {shape}: {} chains ({}), {contracts} contracts, {pages} pages, {:.1} MB a poll ({:.0} bytes/contract)",
            samples.len(),
            samples.iter().map(|s| format!("{} {}", s.symbol, s.contracts)).collect::<Vec<_>>().join(", "),
            bytes as f64 / 1e6,
            bytes as f64 / contracts as f64
        );
        let now0 = calendar::session(date()).map(|s| s.open).unwrap_or_default() + Duration::seconds(3_600);
        let now1 = now0 + Duration::seconds(30);
        let report = |what: &str, secs: f64| {
            println!(
                "  {what:<44} {:>8.1} MB/s {:>10.0} contracts/s {:>7.0} ns/contract",
                bytes as f64 / 1e6 / secs,
                contracts as f64 / secs,
                secs * 1e9 / contracts as f64
            );
        };
        let parse = time(iters, || (), |_| samples.iter().map(|s| parse_chain(&s.second).len()).sum::<usize>());
        report("parse (serde_json into the whole models)", parse);
        let observe =
            time(iters, || (), |_| samples.iter().map(|s| observations(&s.second, &s.symbol).len()).sum::<usize>());
        report("parse + observations (the scan's lean model)", observe);
        // The baseline: the first poll through detection, untimed.
        let mut baseline = VolumeCache::default();
        for s in &samples {
            flow::detect(&mut baseline, &observations(&s.first, &s.symbol), now0, date());
        }
        let params = FlowParams::default();
        let mut events = 0;
        let detect = time(
            iters,
            || baseline.clone(),
            |mut cache| {
                let mut n = 0;
                for s in &samples {
                    let obs = observations(&s.second, &s.symbol);
                    n += flow::detect_with(&mut cache, &params, &obs, now1, date()).events.len();
                }
                events = n;
                cache
            },
        );
        report("parse + observations + detect (2nd poll)", detect);
        let first = time(iters, VolumeCache::default, |mut cache| {
            for s in &samples {
                flow::detect(&mut cache, &observations(&s.first, &s.symbol), now0, date());
            }
            cache
        });
        report("parse + observations + detect (1st poll)", first);
        println!("  flow events on the 2nd poll: {events}");
    }
}

// ---------------------------------------------------------------------------
// API cost.

/// Each watchlist symbol's listing: (symbol, expirations' DTE per contract).
fn watchlist_dtes() -> Vec<(String, Vec<i64>)> {
    let list = simulate::benchmark_watchlist(WATCHLIST, date()).unwrap_or_default();
    list.iter()
        .filter_map(|(s, scale)| {
            let snaps = simulate::chain_snapshots(SEED, date(), s, *scale, &[0]).ok()?.pop()?;
            let dtes = snaps.iter().filter_map(|c| c.expiration()).map(|e| (e - date()).num_days()).collect();
            Some((s.clone(), dtes))
        })
        .collect()
}

fn pages_for(n: usize) -> usize {
    n.div_ceil(PAGE).max(1)
}

fn api() {
    let chains = watchlist_dtes();
    let total: usize = chains.iter().map(|(_, d)| d.len()).sum();
    let in_scope = |lo: i64, hi: i64| -> Vec<usize> {
        chains.iter().map(|(_, d)| d.iter().filter(|x| (lo..=hi).contains(*x)).count()).collect()
    };
    let narrowed = in_scope(0, MAX_DTE);
    let sizes: Vec<usize> = chains.iter().map(|(_, d)| d.len()).collect();
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    println!(
        "\n== api: one pass over {} symbols, {total} contracts listed (largest {:?}, median {}, smallest {})",
        chains.len(),
        &sorted[sorted.len().saturating_sub(5)..],
        sorted[sorted.len() / 2],
        sorted[0]
    );
    let min_pages: usize = narrowed.iter().map(|n| pages_for(*n)).sum();
    let rows: Vec<(&str, usize, usize)> = vec![
        ("minimum: Σ ⌈in-scope/250⌉ (expiration ≤ today+180 d)", chains.len(), min_pages),
        ("orakl: one fetch per symbol, narrowed, shared by 5 bots", chains.len(), min_pages),
        ("one fetch per symbol, not narrowed", chains.len(), sizes.iter().map(|n| pages_for(*n)).sum()),
        (
            "naive: each options bot its own chain, narrowed to its DTE",
            chains.len() * BOTS.len(),
            BOTS.iter().map(|(_, lo, hi)| in_scope(*lo, *hi).iter().map(|n| pages_for(*n)).sum::<usize>()).sum(),
        ),
        (
            "naive: each options bot its own whole chain",
            chains.len() * BOTS.len(),
            BOTS.len() * sizes.iter().map(|n| pages_for(*n)).sum::<usize>(),
        ),
    ];
    println!("  in scope: {} of {total} contracts", narrowed.iter().sum::<usize>());
    println!("  {:<58} {:>8} {:>8} {:>10} {:>10}", "design", "fetches", "pages", "at 5/s", "at 50/s");
    for (what, fetches, pages) in rows {
        // Every page is one request through the token bucket.
        println!("  {what:<58} {fetches:>8} {pages:>8} {:>9.0}s {:>9.1}s", pages as f64 / 5.0, pages as f64 / 50.0);
    }
    println!(
        "  (a pass is the watchlist covered once by the round robin; with batch=B a firing every 15 s takes \
         {} firings = {} s, so pages/15 s must stay under 75 at 5/s)",
        chains.len().div_ceil(10),
        chains.len().div_ceil(10) * 15
    );
}

// ---------------------------------------------------------------------------
// Volume cache memory.

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cache() {
    let list = simulate::benchmark_watchlist(WATCHLIST, date()).unwrap_or_default();
    // Every contract in scope of every symbol, as the scan tracks them.
    let mut tickers: Vec<Vec<String>> = Vec::new();
    for (s, scale) in &list {
        let Ok(mut polls) = simulate::chain_snapshots(SEED, date(), s, *scale, &[0]) else { continue };
        let snaps = polls.pop().unwrap_or_default();
        tickers.push(
            snaps
                .iter()
                .filter(|c| c.expiration().is_some_and(|e| (e - date()).num_days() <= MAX_DTE))
                .filter_map(|c| c.ticker().map(str::to_string))
                .collect(),
        );
    }
    let n: usize = tickers.iter().map(Vec::len).sum();
    let open: DateTime<Utc> = calendar::session(date()).map(|s| s.open).unwrap_or_default();
    println!("\n== cache: volume cache of {} symbols, {n} contracts in scope", tickers.len());
    println!(
        "  sizes: an entry is its ticker as a number within its root's table (8 bytes) and volume, VWAP and \
         time (24 bytes); VolumeEntry as handed out {} bytes; (for scale: OptionSnapshot {} bytes + strings)",
        std::mem::size_of::<VolumeEntry>(),
        std::mem::size_of::<OptionSnapshot>()
    );

    let before = live();
    let allocs_before = ALLOCS.load(Ordering::Relaxed);
    let mut cache = VolumeCache::default();
    cache.roll_date(date());
    for (k, list) in tickers.iter().enumerate() {
        for t in list {
            let entry = VolumeEntry { volume: k as f64, vwap: Some(1.0), at: open };
            cache.set(t, entry);
        }
    }
    let bytes = live() - before;
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs_before;
    println!(
        "  full: {} entries, {:.1} MB heap = {:.0} bytes/entry ({} allocations; glibc adds ~8-16 bytes to each)",
        cache.len(),
        bytes as f64 / 1e6,
        bytes as f64 / cache.len().max(1) as f64,
        allocs
    );
    drop(cache);

    // A day of passes: the watchlist in batches of 10 every 15 s (one pass
    // every 300 s), the sweep every 60 s as the scan runs it; at 12:00 the
    // last 50 symbols leave the watchlist (their entries must go within a
    // TTL), and the next session's first scan rolls the date.
    let mut cache = VolumeCache::default();
    let base = live();
    let mut rows = Vec::new();
    let mut last_sweep = open;
    let session_s = 23_400;
    let mut cursor = 0usize;
    for step in 0..=(session_s / 15) {
        let now = open + Duration::seconds(step * 15);
        let active = if now >= open + Duration::seconds(9_000) { tickers.len() - 50 } else { tickers.len() };
        if now - last_sweep >= Duration::seconds(60) {
            cache.roll_date(date());
            cache.sweep(now);
            last_sweep = now;
        }
        cache.roll_date(date());
        for k in 0..10 {
            let sym = (cursor + k) % active;
            for t in &tickers[sym] {
                let prev = cache.get(t, now).map_or(0.0, |e| e.volume);
                cache.set(t, VolumeEntry { volume: prev + 1.0, vwap: Some(1.0), at: now });
            }
        }
        cursor = (cursor + 10) % active;
        if step % 120 == 0 || step == 600 + 60 || step == 600 + 80 {
            rows.push((now, cache.len(), live() - base));
        }
    }
    let next_open = calendar::next_trading_day(date())
        .and_then(calendar::session)
        .map(|s| s.open)
        .unwrap_or(open + Duration::days(1));
    cache.roll_date(calendar::trading_date(next_open));
    rows.push((next_open, cache.len(), live() - base));
    println!("  through the day ({} symbols until 12:00 ET, {} after):", tickers.len(), tickers.len() - 50);
    for (at, len, bytes) in rows {
        println!(
            "    {}  {:>7} entries  {:>6.1} MB heap",
            at.with_timezone(&calendar::MARKET_TZ).format("%a %H:%M"),
            len,
            bytes as f64 / 1e6
        );
    }
    let stats = cache.stats();
    println!(
        "  evictions {} (expired or a new trading date), peak RSS of this process {} kB",
        stats.evictions,
        vm_hwm_kb().unwrap_or(0)
    );
}

// ---------------------------------------------------------------------------
// The 200-symbol day.

fn tape(out: &std::path::Path, interval: u32, truth: Option<&std::path::Path>) {
    let list = simulate::benchmark_watchlist(WATCHLIST, date()).unwrap_or_default();
    let opts = SimOptions {
        seed: SEED,
        date: date(),
        symbols: list.keys().cloned().collect(),
        chain_interval_seconds: interval,
        chain_scales: list.clone(),
        ..SimOptions::default()
    };
    println!("simulating {} symbols, chains every {interval} s, into {}", list.len(), out.display());
    let t = Instant::now();
    match simulate::simulate(&opts, out, truth) {
        Ok(s) => {
            let sizes: BTreeMap<String, usize> = s.contracts_per_symbol;
            let total: usize = sizes.values().sum();
            println!(
                "{} records, {} contracts in {} chains, {:.1} MB, {:.0} s",
                s.records,
                total,
                sizes.len(),
                s.bytes as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
        }
        Err(e) => eprintln!("simulate: {e}"),
    }
}
