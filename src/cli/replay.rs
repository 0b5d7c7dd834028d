//! `orakl replay`: the real scheduler, bots, store and outbox on a
//! simulated clock, answered from a tape; alerts printed, and posted to the
//! configured webhooks only with `--post`.
//! stdout (alerts, then the summary and report) is byte-identical for the
//! same tape and options. With `--format jsonl` stdout holds only the alert
//! lines (a pipe into `jq` reads nothing else) and the summary and report go
//! to stderr. The wall time is a log event (`event=replay_done`, shown with
//! `-v`), and log lines are stamped with the simulated time.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::America::New_York;

use super::{Cli, Failure};
use crate::clock::{Clock, Shutdown, SimClock, SystemClock};
use crate::config::{Config, Sources};
use crate::evaluate::{EndpointCount, RunFacts};
use crate::job::Bot;
use crate::notify::Notifier;
use crate::polygon::Client;
use crate::replay::{TapeMarket, tape_span};
use crate::schedule::Timetable;
use crate::service::{self, Delivery, OutputFormat, Service, Settings};
use crate::store::{OutboxEntry, Store};

/// The timetable shipped with the project, used by `replay` and `demo`
/// when no `schedule.cron` is at hand.
pub const BUILTIN_TIMETABLE: &str = include_str!("../../schedule.cron");

/// The timetable from `--schedule`, or the built-in one when the default
/// path does not exist (a replay needs no deployment files).
pub(super) fn timetable(cli: &Cli) -> Result<Timetable, Failure> {
    if cli.schedule == Path::new("schedule.cron") && !cli.schedule.exists() {
        return Timetable::parse("(built-in schedule.cron)", BUILTIN_TIMETABLE).map_err(Failure::config);
    }
    Timetable::load(&cli.schedule).map_err(Failure::config)
}

/// What a replay needs besides the tape and the timetable.
pub(super) struct ReplayOptions {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub format: OutputFormat,
    /// `--state`, else a fresh temporary database.
    pub state: Option<PathBuf>,
    /// `--post`: deliver through the Discord sender instead of printing.
    pub post: bool,
}

pub(super) fn replay(
    cli: &Cli,
    tape: &Path,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    format: OutputFormat,
    post: bool,
) -> Result<(), Failure> {
    let sources = Sources::load(cli.env_file.as_deref())?;
    let timetable = timetable(cli)?;
    let opts = ReplayOptions { from, to, format, state: cli.state.clone(), post };
    let mut out = std::io::stdout().lock();
    run_replay(sources, &timetable, tape, &opts, &mut out)
}

/// What a replay leaves besides its output: the alerts in time order and
/// what the run counted (for `orakl evaluate`).
pub(super) struct Replayed {
    pub alerts: Vec<crate::alert::Alert>,
    /// Episode updates (hits that edited a posted message), in time order.
    pub updates: Vec<crate::engine::Update>,
    pub facts: RunFacts,
}

/// Replays `tape` and writes alerts and the summary to `out`.
pub(super) fn run_replay(
    sources: Sources,
    timetable: &Timetable,
    tape: &Path,
    opts: &ReplayOptions,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    replay_counted(sources, timetable, tape, opts, out).map(drop)
}

/// [`run_replay`], returning the alerts and what the run counted.
pub(super) fn replay_counted(
    mut sources: Sources,
    timetable: &Timetable,
    tape: &Path,
    opts: &ReplayOptions,
    out: &mut dyn Write,
) -> Result<Replayed, Failure> {
    // The wall time covers the whole replay, reading the tape's symbols and
    // span included (from its header, or a pass over its records).
    let wall = SystemClock::new(Shutdown::new());
    let shown = tape.display().to_string();
    // A replay on a given state file writes alerts and cooldowns into it:
    // beside a service on that file it would corrupt what the service
    // delivers (SPEC §11), so it takes the service's lock first.
    let _instance = match &opts.state {
        Some(state) => Some(crate::store::InstanceLock::acquire(state).map_err(Failure::runtime)?),
        None => None,
    };
    let (_header, symbols, first, last) = tape_span(tape).map_err(Failure::config)?;
    super::interrupt::check()?;

    // A replay needs no key and reaches no network: the transport is the
    // tape. The watchlist defaults to the tape's symbols; WATCHLIST narrows.
    let vars = &mut sources.vars;
    vars.insert("POLYGON_API_KEY".into(), "replay".into());
    vars.insert("POLYGON_BASE_URL".into(), crate::polygon::DEFAULT_BASE_URL.into());
    vars.remove("WATCHLIST_FILE");
    let watchlist: Vec<String> = match vars.get("WATCHLIST").filter(|w| !w.trim().is_empty()) {
        Some(w) => {
            let wanted: Vec<String> = w.split(',').map(|s| s.trim().to_ascii_uppercase()).collect();
            symbols.iter().filter(|s| wanted.contains(s)).cloned().collect()
        }
        None => symbols.iter().cloned().collect(),
    };
    if watchlist.is_empty() {
        return Err(Failure::config(anyhow::anyhow!("WATCHLIST: none of its symbols are on the tape {shown}")));
    }
    vars.insert("WATCHLIST".into(), watchlist.join(","));
    let config = Config::from_vars(vars)?;
    crate::logging::init(config.log_format, crate::logging::Verbosity::OneShot);
    for w in &sources.warnings {
        crate::logging::event(log::Level::Warn, "config_unknown_var", w);
    }
    let settings = Settings::validate(&config, timetable, !opts.post)?;

    let start = opts.from.unwrap_or(first);
    let end = opts.to.unwrap_or(last);
    if end < start {
        return Err(Failure { code: super::EXIT_USAGE, error: anyhow::anyhow!("--to is before --from") });
    }
    let temp = TempDb::new();
    let state = opts.state.clone().unwrap_or_else(|| temp.path.clone());
    let store = Store::open(&state).map_err(|e| Failure::config(anyhow::anyhow!("state: {e}")))?;
    if opts.state.is_none() {
        store.scratch().map_err(|e| Failure::config(anyhow::anyhow!("state: {e}")))?;
    }

    let sim = Arc::new(SimClock::new(start));
    super::interrupt::listen(sim.shutdown());
    sim.shutdown_after((end - start).to_std().unwrap_or_default());
    let clock: Arc<dyn Clock> = sim.clone();
    // A replayed day's log reads in the day's own time.
    crate::logging::stamp_with(clock.clone());
    let market = TapeMarket::open(tape, clock.clone()).map_err(Failure::config)?;
    let pc = service::polygon_config(&config, "replay");
    let client = Client::with_transport(pc, clock.clone(), Box::new(market.clone())).map_err(Failure::config)?;
    let buffer = SharedOut::default();
    let delivery = if opts.post {
        // Retry-After and rate-limit waits pass on the simulated clock, so a
        // replay posts as fast as the webhook answers.
        Delivery::discord(&config, &settings, clock.clone(), Notifier::disabled())
    } else {
        Delivery::print(opts.format, Box::new(buffer.clone()))
    };
    let mut svc = Service::with_client(config, clock.clone(), store, delivery, Notifier::disabled(), Some(client))
        .map_err(Failure::config)?;

    // A progress bar on a terminal only, on stderr (log lines print above
    // it): stdout stays the byte-identical record of the replay.
    let bar = Arc::new(crate::logging::progress("replay", u64::try_from((end - start).num_seconds()).unwrap_or(0)));
    {
        let bar = bar.clone();
        let mut shown = start;
        svc.set_progress(Box::new(move |t| {
            // Once a simulated minute: the bar moves, the replay stays fast.
            if t - shown < chrono::Duration::seconds(60) {
                return;
            }
            shown = t;
            let at = t.with_timezone(&New_York).format("%H:%M %Z").to_string();
            bar.set(u64::try_from((t - start).num_seconds()).unwrap_or(0), at);
        }));
    }
    let loop_stats = svc.run(timetable);
    svc.set_progress(Box::new(|_| {}));
    drop(bar);
    // Stopped by a signal: the error return drops the service (closing the
    // store), then the temporary database.
    super::interrupt::check()?;
    let wall_elapsed = wall.elapsed();
    if let Some(e) = market.error() {
        return Err(Failure::config(e));
    }

    buffer.release(out).map_err(Failure::runtime)?;
    let entries = svc.store().alerts_since(start - chrono::Duration::days(1)).map_err(Failure::runtime)?;
    let updates = svc.store().updates_since(start - chrono::Duration::days(1)).map_err(Failure::runtime)?;
    let summary = summarize(&svc, &entries, &updates, start, end);
    // The outcomes as the last `outcomes` firing of the replay left them.
    let days = u32::try_from((end - start).num_days() + 1).unwrap_or(u32::MAX);
    let report = service::build_report(svc.store(), svc.config(), end, days).map_err(Failure::runtime)?;
    service::warn_flagged(&report);
    let report = crate::outcomes::render_report(&report, "report", days);
    // For a person: after the alerts in text mode, beside them in jsonl.
    let mut stderr = std::io::stderr().lock();
    let tail: &mut dyn Write = match opts.format {
        OutputFormat::Text => out,
        OutputFormat::Jsonl => &mut stderr,
    };
    tail.write_all(summary.as_bytes())
        .and_then(|_| tail.write_all(b"\n"))
        .and_then(|_| tail.write_all(report.as_bytes()))
        .and_then(|_| tail.flush())
        .map_err(Failure::runtime)?;
    drop(stderr);
    let span_s = (end - start).num_milliseconds().max(0) as f64 / 1000.0;
    let wall_s = wall_elapsed.as_secs_f64();
    let speed = if wall_s > 0.0 { span_s / wall_s } else { 0.0 };
    log::info!(
        wall_s = crate::logging::decimals(wall_s, 2),
        simulated_s = crate::logging::decimals(span_s, 0),
        times_real_time = crate::logging::decimals(speed, 0);
        "replay_done"
    );
    let mut facts = RunFacts {
        from: start,
        to: end,
        firings: loop_stats.fired,
        firings_skipped_late: loop_stats.skipped_late,
        job_errors: loop_stats.errors,
        watchlist: svc.config().watchlist.len() as u64,
        batch: u64::try_from(svc.config().tunables.options_batch).unwrap_or(1),
        ..RunFacts::default()
    };
    if let Some(client) = svc.polygon() {
        let stats = client.stats();
        (facts.requests, facts.pages) = (stats.requests_total(), stats.pages_total());
        for (endpoint, e) in &stats.endpoints {
            let count = EndpointCount { requests: e.requests.values().sum(), pages: e.pages };
            facts.by_endpoint.insert(endpoint.to_string(), count);
        }
    }
    Ok(Replayed { alerts: entries.into_iter().map(|e| e.alert).collect(), updates, facts })
}

/// The summary printed after the alerts: deterministic for a tape.
fn summarize(
    svc: &Service,
    entries: &[OutboxEntry],
    updates: &[crate::engine::Update],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    let mut by_bot: BTreeMap<Bot, u64> = Bot::ALL.iter().map(|b| (*b, 0)).collect();
    for entry in entries {
        *by_bot.entry(entry.alert.bot).or_default() += 1;
    }
    let total: u64 = by_bot.values().sum();
    let et = |t: DateTime<Utc>| t.with_timezone(&New_York).format("%Y-%m-%d %H:%M:%S %Z").to_string();
    let mut s = String::from("\nsummary\n");
    s.push_str(&format!("  simulated   {} → {} ({} s)\n", et(start), et(end), (end - start).num_seconds()));
    s.push_str(&format!("  alerts      {total}\n"));
    for (bot, n) in &by_bot {
        s.push_str(&format!("    {:<16}{n}\n", bot.as_str()));
    }
    // Hits that joined an open episode edited its message instead.
    if !updates.is_empty() {
        let mut by_bot: BTreeMap<Bot, u64> = BTreeMap::new();
        for u in updates {
            *by_bot.entry(u.bot).or_default() += 1;
        }
        let list: Vec<String> = by_bot.iter().map(|(b, n)| format!("{} {n}", b.as_str())).collect();
        s.push_str(&format!("  updates     {} ({})\n", updates.len(), list.join(", ")));
    }
    if let Some(client) = svc.polygon() {
        let stats = client.stats();
        s.push_str(&format!("  requests    {} ({} pages)\n", stats.requests_total(), stats.pages_total()));
        for (endpoint, e) in &stats.endpoints {
            let n: u64 = e.requests.values().sum();
            if n > 0 {
                s.push_str(&format!("    {endpoint:<16}{n} requests, {} pages\n", e.pages));
            }
        }
    }
    let (volume, chain) = svc.cache_stats();
    s.push_str(&format!(
        "  cache       volume hit rate {:.3} ({} hits, {} misses), chain hit rate {:.3} ({} hits, {} misses)\n",
        volume.hit_rate(),
        volume.hits,
        volume.misses,
        chain.hit_rate(),
        chain.hits,
        chain.misses
    ));
    s
}

/// Collects printed alerts so they reach stdout in one piece, after the run
/// (a replay that fails prints none): in an unlinked temporary file, since
/// a busy day's alerts are megabytes, or in memory when no file can be
/// made.
#[derive(Clone)]
struct SharedOut(Arc<std::sync::Mutex<Withheld>>);

enum Withheld {
    File(std::io::BufWriter<std::fs::File>),
    Memory(Vec<u8>),
}

impl Default for SharedOut {
    fn default() -> Self {
        let held = match tempfile::tempfile() {
            Ok(file) => Withheld::File(std::io::BufWriter::new(file)),
            Err(_) => Withheld::Memory(Vec::new()),
        };
        SharedOut(Arc::new(std::sync::Mutex::new(held)))
    }
}

impl SharedOut {
    fn lock(&self) -> std::sync::MutexGuard<'_, Withheld> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what was withheld to `out` (once, when the run is over).
    fn release(&self, out: &mut dyn Write) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        match &mut *self.lock() {
            Withheld::Memory(bytes) => out.write_all(&std::mem::take(bytes)),
            Withheld::File(held) => {
                held.flush()?;
                let file = held.get_mut();
                file.seek(SeekFrom::Start(0))?;
                std::io::copy(file, out).map(drop)
            }
        }
    }
}

impl Write for SharedOut {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match &mut *self.lock() {
            Withheld::File(held) => held.write_all(b)?,
            Withheld::Memory(bytes) => bytes.extend_from_slice(b),
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A state file that exists for one replay and is removed afterwards.
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn new() -> TempDb {
        let dir = std::env::temp_dir();
        let path = (0u32..)
            .map(|n| dir.join(format!("orakl-replay-{}-{n}.db", std::process::id())))
            .find(|p| !p.exists())
            .unwrap_or_else(|| dir.join("orakl-replay.db"));
        TempDb { path }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}
