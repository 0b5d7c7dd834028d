//! The commands behind `main`: argument parsing, the exit-code contract
//! (0 ok, 1 runtime failure, 2 usage, 78 configuration; `orakl health`
//! answers in the monitoring-plugin convention instead, see [`ops`]), and
//! wiring the real clock, client, store and sender into the service.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::{Clock, Shutdown, SystemClock};
use crate::config::{Config, ConfigError, Sources};
use crate::http::Http;
use crate::notify::Notifier;
use crate::polygon::Client;
use crate::record::Recorder;
use crate::schedule::Timetable;
use crate::service::{self, OutputFormat, Settings};
use crate::store::Store;
use crate::tape::Header;

mod evaluate;
mod help;
mod interrupt;
mod once;
mod ops;
mod replay;
mod reports;
mod simulate;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CONFIG: i32 = 78;

#[derive(Debug, Parser)]
#[command(name = "orakl", version, about = "Options-flow alert service for US equities (Polygon.io → Discord)")]
pub struct Cli {
    /// The timetable.
    #[arg(long, global = true, default_value = "schedule.cron", help_heading = help::GLOBAL)]
    pub schedule: PathBuf,
    /// The SQLite state file (default: STATE_DB_PATH or state/bot_state.db).
    #[arg(long, global = true, help_heading = help::GLOBAL)]
    pub state: Option<PathBuf>,
    /// A .env file to load (default: ./.env when it exists).
    #[arg(long, global = true, help_heading = help::GLOBAL)]
    pub env_file: Option<PathBuf>,
    /// Log more: -v info, -vv debug, -vvv trace (over the command's default,
    /// warn for demo, replay, simulate and evaluate, info otherwise).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = help::GLOBAL)]
    pub verbose: u8,
    /// Log less: -q errors only, -qq nothing.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = help::GLOBAL)]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: walk the timetable until SIGTERM; SIGHUP re-reads the
    /// timetable and WATCHLIST_FILE between jobs (`systemctl reload orakl`).
    Run {
        /// Print alerts instead of posting them (no webhooks needed; a
        /// separate state file unless --state is given).
        #[arg(long)]
        dry_run: bool,
        /// Run every job in the timetable once, now, then exit (1 when any
        /// job failed). `weekly_report` is left out unless --with-report.
        #[arg(long)]
        once: bool,
        /// With --once: also run `weekly_report` (posts the report).
        #[arg(long, requires = "once")]
        with_report: bool,
        /// Output of --dry-run alerts: text cards, or one JSON object per
        /// line (then stdout holds nothing else; a printed report goes to
        /// stderr).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Also record every API response into this tape.
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Validate the configuration, timetable, webhooks and state directory;
    /// print the resolved configuration and the next firings.
    Check,
    /// Print every NYSE session of a year: `DATE OPEN CLOSE` in ET.
    Calendar {
        /// The year (default: this year).
        year: Option<i32>,
    },
    /// Replay a market tape through the real scheduler, bots, store and
    /// outbox under a simulated clock; alerts are printed, never posted.
    Replay {
        /// The tape (JSON Lines; gzip when it ends in .gz).
        tape: PathBuf,
        /// Start here instead of the tape's first record (RFC 3339).
        #[arg(long)]
        from: Option<DateTime<Utc>>,
        /// Stop here instead of the tape's last record (RFC 3339).
        #[arg(long)]
        to: Option<DateTime<Utc>>,
        /// Alerts as text cards followed by the summary and report, or as
        /// one JSON object per line (then stdout holds only those lines; the
        /// summary and report go to stderr).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Also post the alerts to the configured Discord webhooks (a test
        /// channel), through the outbox as the live service does.
        #[arg(long)]
        post: bool,
    },
    /// Replay a tape as `replay` does and score its alerts against the
    /// truth file of its injected events: recall, precision, fan-out,
    /// plans, direction, channel load, skipped firings, API use.
    Evaluate {
        /// The tape (JSON Lines; gzip when it ends in .gz).
        tape: PathBuf,
        /// The truth file `orakl simulate --truth` wrote for the tape.
        #[arg(long)]
        truth: PathBuf,
        /// Start here instead of the tape's first record (RFC 3339).
        #[arg(long)]
        from: Option<DateTime<Utc>>,
        /// Stop here instead of the tape's last record (RFC 3339).
        #[arg(long)]
        to: Option<DateTime<Utc>>,
        /// The scorecard as text tables or as one JSON object.
        #[arg(long, value_enum, default_value_t = evaluate::ScoreFormat::Text)]
        format: evaluate::ScoreFormat,
    },
    /// Run the service in dry-run mode and record every API response into a
    /// tape that `replay` accepts.
    Record {
        /// The tape to write (gzip when it ends in .gz).
        tape: PathBuf,
    },
    /// Write a realistic synthetic market day as a tape (same seed and
    /// options → the same bytes).
    Simulate {
        /// The random seed: the same seed and options give the same tape.
        #[arg(long)]
        seed: u64,
        /// A trading day (default 2026-03-09).
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Underlyings, comma separated (default SPY,QQQ,AAPL,TSLA,NVDA,CSCO).
        #[arg(long)]
        symbols: Option<String>,
        /// Minutes from the open (default 390, the whole session).
        #[arg(long)]
        minutes: Option<u32>,
        /// The tape to write (gzip when it ends in .gz).
        #[arg(long)]
        out: PathBuf,
        /// Also write the injected events and the bots expected to fire.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Also print the day's realism figures (README, "Simulator realism").
        #[arg(long)]
        stats: bool,
    },
    /// Simulate a built-in day and replay it: the product on built-in data.
    Demo,
    /// Copy the state database with SQLite's online backup API.
    Backup {
        /// Destination file.
        path: PathBuf,
    },
    /// Print the state of the service: jobs, alerts today, outbox, API
    /// usage, caches, disabled features, retired webhooks, recent errors.
    Status,
    /// Print the health score as JSON; exit as a monitoring plugin does:
    /// 0 OK (healthy), 1 WARNING (degraded), 2 CRITICAL (unhealthy),
    /// 3 UNKNOWN (starting: no heartbeat yet, or the state cannot be read).
    Health,
    /// Print the performance report of the alerts of the last N days, or of
    /// a date range; optionally write the weekly report's chart as a PNG.
    Report {
        /// How many days back (alerts at or after now − N days); without
        /// --since, the range ends at --until or now.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
        /// First trading date of the range (YYYY-MM-DD, ET), replacing --days.
        #[arg(long)]
        since: Option<NaiveDate>,
        /// Last trading date of the range (YYYY-MM-DD, ET, included); default today.
        #[arg(long)]
        until: Option<NaiveDate>,
        /// text: the tables and the method; json: one object with the period,
        /// every group's figures and the flagged symbols; csv: the groups.
        #[arg(long, value_enum, default_value_t = reports::ReportFormat::Text)]
        format: reports::ReportFormat,
        /// Also write the chart the weekly report posts to Discord (PNG) here.
        #[arg(long, value_name = "FILE")]
        chart: Option<PathBuf>,
    },
    /// Write alerts joined with their outcomes as CSV or JSON.
    Export {
        /// CSV with a header row, or one JSON array.
        #[arg(long, value_enum, default_value_t = reports::ExportFormat::Csv)]
        format: reports::ExportFormat,
        /// Only alerts on or after this date (YYYY-MM-DD, ET trading date).
        #[arg(long)]
        since: Option<NaiveDate>,
        /// Only this bot's alerts (e.g. sweeps).
        #[arg(long)]
        bot: Option<String>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a shell completion script (e.g. `orakl completions bash >
    /// /etc/bash_completion.d/orakl`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `orakl man | man -l -`), or write one
    /// page per command into a directory.
    Man {
        /// Write orakl.1, orakl-run.1, … into this directory instead.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

impl ValueEnum for OutputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[OutputFormat::Text, OutputFormat::Jsonl]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            OutputFormat::Text => "text",
            OutputFormat::Jsonl => "jsonl",
        }))
    }
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn config(e: impl Into<anyhow::Error>) -> Self {
        Failure { code: EXIT_CONFIG, error: e.into() }
    }
    pub fn runtime(e: impl Into<anyhow::Error>) -> Self {
        Failure { code: EXIT_FAILURE, error: e.into() }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::config(e)
    }
}

/// Parses the process arguments, runs the command, returns the exit code.
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match help::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return EXIT_OK;
            }
            // A monitoring plugin's 2 means CRITICAL: `health` called wrong
            // says UNKNOWN instead.
            return if help::subcommand(&args).as_deref() == Some("health") { ops::EXIT_UNKNOWN } else { EXIT_USAGE };
        }
    };
    crate::logging::set_shift(i8::try_from(i16::from(cli.verbose) - i16::from(cli.quiet)).unwrap_or(0));
    match run_command(cli) {
        Ok(()) => EXIT_OK,
        Err(f) => {
            eprintln!("orakl: {}", crate::echo::cap(&format!("{:#}", f.error)));
            f.code
        }
    }
}

fn run_command(cli: Cli) -> Result<(), Failure> {
    if matches!(cli.command, Command::Replay { .. } | Command::Demo | Command::Evaluate { .. }) {
        interrupt::install()?;
    }
    match &cli.command {
        Command::Calendar { year } => {
            let year =
                year.unwrap_or_else(|| crate::calendar::trading_date(SystemClock::new(Shutdown::new()).now()).year());
            if !(1900..=2200).contains(&year) {
                return Err(Failure { code: EXIT_USAGE, error: anyhow::anyhow!("year {year} is outside 1900..=2200") });
            }
            print_out(&crate::calendar::format_year(year))
        }
        Command::Check => check(&cli),
        Command::Run { dry_run, once, with_report, format, record } => {
            let once = once.then_some(*with_report);
            run(&cli, *dry_run, once, *format, record.as_deref())
        }
        Command::Record { tape } => run(&cli, true, None, OutputFormat::Text, Some(tape)),
        Command::Replay { tape, from, to, format, post } => replay::replay(&cli, tape, *from, *to, *format, *post),
        Command::Evaluate { tape, truth, from, to, format } => {
            evaluate::evaluate(&cli, tape, truth, *from, *to, *format)
        }
        Command::Backup { path } => backup(&cli, path),
        Command::Status => ops::status(&cli),
        Command::Health => ops::health(&cli),
        Command::Report { days, since, until, format, chart } => reports::report(
            &cli,
            reports::Range { days: *days, since: *since, until: *until },
            *format,
            chart.as_deref(),
        ),
        Command::Export { format, since, bot, out } => {
            reports::export(&cli, *format, *since, bot.as_deref(), out.as_deref())
        }
        Command::Simulate { seed, date, symbols, minutes, out, truth, stats } => {
            simulate::run_simulate(&simulate::SimulateArgs {
                seed: *seed,
                date: *date,
                symbols: symbols.as_deref(),
                minutes: *minutes,
                out,
                truth: truth.as_deref(),
                stats: *stats,
            })
        }
        Command::Demo => simulate::demo(),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut help::command(), "orakl", &mut out);
            print_out(&String::from_utf8_lossy(&out))
        }
        Command::Man { out_dir } => help::man(out_dir.as_deref()),
    }
}

fn print_out(s: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).and_then(|_| out.flush()).map_err(Failure::runtime)
}

/// Loads and validates everything a command needs, logging set up. A
/// variable that looks like a misspelled setting is an error when `strict`
/// (`check`), else a warning.
fn load(cli: &Cli, strict: bool) -> Result<(Config, Timetable), Failure> {
    let sources = Sources::load(cli.env_file.as_deref())?;
    let config = Config::from_vars(&sources.vars)?;
    crate::logging::init(config.log_format, crate::logging::Verbosity::Service);
    for w in &sources.warnings {
        crate::logging::event(log::Level::Warn, "config_unknown_var", w);
    }
    let unknown = crate::unknown_vars::find(sources.vars.keys().map(String::as_str), &crate::config::known_vars());
    if strict && !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        return Err(Failure::config(anyhow::anyhow!("{}", list.join("; "))));
    }
    for u in &unknown {
        let mut fields = crate::logging::Fields::new().text("var", crate::echo::cap(&u.var));
        if let Some(k) = u.did_you_mean {
            fields = fields.text("did_you_mean", k);
        }
        crate::logging::event(log::Level::Warn, "config_unknown_var", &fields);
    }
    let timetable = Timetable::load(&cli.schedule).map_err(Failure::config)?;
    Ok((config, timetable))
}

fn state_path(cli: &Cli, config: &Config, dry_run: bool) -> PathBuf {
    if let Some(p) = &cli.state {
        return p.clone();
    }
    if dry_run {
        // A dry run must not set cooldowns in the real state file.
        let stem =
            config.state_db_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or("bot_state".into());
        return config.state_db_path.with_file_name(format!("{stem}-dry-run.db"));
    }
    config.state_db_path.clone()
}

fn check(cli: &Cli) -> Result<(), Failure> {
    let (config, timetable) = load(cli, true)?;
    Settings::validate(&config, &timetable, false)?;
    if let Some(key) = &config.polygon_api_key {
        // `run` builds its client from these settings: what the client
        // refuses (a key with a space in it), `check` refuses too.
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::new(Shutdown::new()));
        Client::new(service::polygon_config(&config, key.expose()), clock, Notifier::disabled())
            .map_err(|e| Failure::config(anyhow::anyhow!("POLYGON_API_KEY or POLYGON_BASE_URL: {e}")))?;
    }
    let state = state_path(cli, &config, false);
    Store::open(&state).map_err(|e| Failure::config(anyhow::anyhow!("state: {e}")))?;

    let clock = SystemClock::new(Shutdown::new());
    let mut out = String::new();
    out.push_str("configuration:\n");
    for l in config.describe() {
        out.push_str(&format!("  {l}\n"));
    }
    out.push_str(&format!("  state database: {} (writable)\n", state.display()));
    out.push_str(&format!("timetable: {} ({} lines)\n", timetable.path, timetable.lines.len()));
    out.push_str(&service::describe_timetable(&timetable, clock.now(), 3));
    out.push_str("ok\n");
    print_out(&out)
}

/// `once` is `Some(with_report)` for `run --once`.
fn run(
    cli: &Cli,
    dry_run: bool,
    once: Option<bool>,
    format: OutputFormat,
    record: Option<&Path>,
) -> Result<(), Failure> {
    let (config, timetable) = load(cli, false)?;
    let settings = Settings::validate(&config, &timetable, dry_run)?;
    let state = state_path(cli, &config, dry_run);
    // Held until the process ends: a second process on this file would post
    // the same alerts again (SPEC §11).
    let _instance = crate::store::InstanceLock::acquire(&state).map_err(Failure::runtime)?;
    let store = Store::open(&state).map_err(|e| Failure::config(anyhow::anyhow!("state: {e}")))?;

    let shutdown = Shutdown::new();
    service::install_signal_handlers(&shutdown).map_err(Failure::runtime)?;
    let notifier = Notifier::from_env();
    if let Some(interval) = notifier.watchdog_interval() {
        // A request blocks the only thread; it must end well before systemd
        // gives up on the watchdog.
        let t = &config.tunables;
        for (var, secs) in [
            ("POLYGON_TIMEOUT_SECONDS", t.polygon_timeout_seconds),
            ("DISCORD_TIMEOUT_SECONDS", t.discord_timeout_seconds),
        ] {
            if crate::config::seconds(secs) * 2 >= interval {
                return Err(Failure::config(anyhow::anyhow!(
                    "{var}: {secs} s is not below half of the systemd watchdog interval ({} s)",
                    interval.as_secs()
                )));
            }
        }
    }
    let mut system_clock = SystemClock::new(shutdown);
    if let Some(interval) = notifier.watchdog_interval() {
        let n = notifier.clone();
        system_clock = system_clock.with_tick(interval / 4, move || n.watchdog());
    }
    let clock: Arc<dyn Clock> = Arc::new(system_clock);
    let delivery = if dry_run {
        service::Delivery::print(format, Box::new(std::io::stdout()))
    } else {
        service::Delivery::discord(&config, &settings, clock.clone(), notifier.clone())
    };
    let (client, recording) = match (&config.polygon_api_key, record) {
        (Some(key), Some(tape)) => {
            let http = Http::new(crate::config::seconds(config.tunables.polygon_timeout_seconds), notifier.clone());
            let meta = BTreeMap::from([
                ("source".to_string(), serde_json::json!("record")),
                ("started".to_string(), serde_json::json!(clock.now().to_rfc3339())),
                ("symbols".to_string(), serde_json::json!(config.watchlist)),
            ]);
            let (recorder, handle) = Recorder::create(http, tape, &Header::new(meta), clock.clone())
                .map_err(|e| Failure::config(anyhow::anyhow!("--record: {e}")))?;
            let pc = service::polygon_config(&config, key.expose());
            let client = Client::with_transport(pc, clock.clone(), Box::new(recorder)).map_err(Failure::config)?;
            (Some(client), Some(handle))
        }
        (None, Some(_)) => {
            return Err(Failure::config(anyhow::anyhow!("POLYGON_API_KEY: not set; there is nothing to record")));
        }
        (Some(key), None) => {
            let pc = service::polygon_config(&config, key.expose());
            (Some(Client::new(pc, clock.clone(), notifier.clone()).map_err(Failure::config)?), None)
        }
        (None, None) => (None, None),
    };
    let mut svc = service::Service::with_client(config, clock.clone(), store, delivery, notifier.clone(), client)
        .map_err(Failure::config)?;
    svc.startup_probe().map_err(|e| match e {
        // A rejected key stops the service as a configuration error.
        service::StartError::Unauthorized(_) => Failure::config(e),
    })?;
    log::info!(
        version = env!("CARGO_PKG_VERSION"),
        dry_run = dry_run,
        once = once.is_some(),
        jobs = timetable.lines.len(),
        state:% = state.display();
        "start"
    );
    let stats = match once {
        Some(with_report) => svc.run_once(&once::timetable(&timetable, with_report)),
        None => svc.run(&timetable),
    };
    log::info!(
        fired = stats.fired,
        gated = stats.gated,
        skipped_late = stats.skipped_late,
        errors = stats.errors;
        "stop"
    );
    if let Some(handle) = recording {
        let records = handle.finish().map_err(Failure::runtime)?;
        log::info!(records = records; "tape_written");
    }
    if once.is_some() { once::outcome(&stats) } else { Ok(()) }
}

/// The configuration and the existing state database, for the commands
/// that read what a service wrote (a missing file is a configuration error,
/// not an empty answer).
fn open_existing_state(cli: &Cli) -> Result<(Config, Store), Failure> {
    let sources = Sources::load(cli.env_file.as_deref())?;
    let config = Config::from_vars(&sources.vars)?;
    crate::logging::init(config.log_format, crate::logging::Verbosity::Service);
    let state = state_path(cli, &config, false);
    if !state.is_file() {
        // Opening would create an empty database and report on nothing.
        return Err(Failure::config(anyhow::anyhow!(
            "state: {} does not exist (has the service run? --state or STATE_DB_PATH names the file)",
            state.display()
        )));
    }
    // Read-only: these commands run beside the service, and as users who
    // may read the file but not write it.
    let store = Store::open_read_only(&state).map_err(|e| Failure::config(anyhow::anyhow!("state: {e}")))?;
    Ok((config, store))
}

fn backup(cli: &Cli, dest: &Path) -> Result<(), Failure> {
    let (_, store) = open_existing_state(cli)?;
    store.backup_to(dest).map_err(Failure::runtime)?;
    print_out(&format!("backed up {} to {}\n", store.path().display(), dest.display()))
}

/// Replaces the default action of SIGTERM and SIGINT: the first one calls
/// `f` with its number, on the one thread that waits for signals.
fn on_signal(f: impl FnOnce(i32) + Send + 'static) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            f(sig);
        }
    })?;
    Ok(())
}
