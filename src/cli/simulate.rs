//! `orakl simulate` (a synthetic market day as a tape) and `orakl demo`
//! (a built-in simulated day replayed with dry-run delivery).

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::replay::{BUILTIN_TIMETABLE, ReplayOptions, run_replay};
use super::{EXIT_USAGE, Failure};
use crate::config::Sources;
use crate::schedule::Timetable;
use crate::service::OutputFormat;
use crate::simulate::{SimError, SimOptions, SimSummary, simulate};

/// The demo's day: fixed, so every machine shows the same alerts.
pub const DEMO_SEED: u64 = 11;

/// Two symbols over 12:30–14:10 ET: long enough for every family (the
/// hourly bars close at 13:00 and 14:00, Bullseye's momentum needs 30
/// minutes of its own observations), short enough to read and to run in
/// seconds. A whole day is `orakl simulate` + `orakl replay`.
fn demo_options() -> SimOptions {
    SimOptions {
        seed: DEMO_SEED,
        symbols: vec!["SPY".to_string(), "CSCO".to_string()],
        start: chrono::NaiveTime::from_hms_opt(12, 30, 0).unwrap_or_default(),
        minutes: 100,
        ..SimOptions::default()
    }
}

pub(super) struct SimulateArgs<'a> {
    pub seed: u64,
    pub date: Option<NaiveDate>,
    pub symbols: Option<&'a str>,
    pub minutes: Option<u32>,
    pub out: &'a Path,
    pub truth: Option<&'a Path>,
    /// Print the realism figures after the summary.
    pub stats: bool,
}

fn options(a: &SimulateArgs) -> SimOptions {
    let mut o = SimOptions { seed: a.seed, ..SimOptions::default() };
    if let Some(d) = a.date {
        o.date = d;
    }
    if let Some(s) = a.symbols {
        o.symbols = s.split(',').map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect();
    }
    if let Some(m) = a.minutes {
        o.minutes = m;
    }
    o
}

fn sim_failure(e: SimError) -> Failure {
    match e {
        SimError::NotATradingDay { .. } | SimError::StartOutsideSession { .. } | SimError::Invalid(_) => {
            Failure { code: EXIT_USAGE, error: e.into() }
        }
        SimError::Tape(_) | SimError::Io { .. } => Failure::runtime(e),
    }
}

fn describe(seed: u64, opts: &SimOptions, s: &SimSummary, out: &Path) -> String {
    let contracts: Vec<String> = s.contracts_per_symbol.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(
        "simulated {} seed={seed}: {} records, {} injected events, {} bytes → {}\n  contracts per symbol: {}\n",
        opts.date,
        s.records,
        s.events_injected,
        s.bytes,
        out.display(),
        contracts.join(", ")
    )
}

pub(super) fn run_simulate(a: &SimulateArgs) -> Result<(), Failure> {
    crate::logging::init(crate::config::LogFormat::Text, crate::logging::Verbosity::OneShot);
    let opts = options(a);
    let summary = simulate(&opts, a.out, a.truth).map_err(sim_failure)?;
    let mut text = describe(a.seed, &opts, &summary, a.out);
    if a.stats {
        text.push_str(&summary.realism.table());
    }
    super::print_out(&text)
}

/// Simulates the built-in day into a temporary tape and replays it through
/// the real service, printing the alerts and the summary. The environment
/// is not read: the demo shows the defaults on built-in data.
pub(super) fn demo() -> Result<(), Failure> {
    let dir = TempDir::new().map_err(Failure::runtime)?;
    let tape = dir.0.join("demo.tape.gz");
    let opts = demo_options();
    let summary = simulate(&opts, &tape, None).map_err(sim_failure)?;
    super::interrupt::check()?;
    let mut out = std::io::stdout().lock();
    let head = describe(DEMO_SEED, &opts, &summary, Path::new("(temporary tape)"));
    out.write_all(head.as_bytes()).and_then(|_| out.write_all(b"\n")).map_err(Failure::runtime)?;
    let timetable = Timetable::parse("(built-in schedule.cron)", BUILTIN_TIMETABLE).map_err(Failure::config)?;
    let ropts = ReplayOptions { from: None, to: None, format: OutputFormat::Text, state: None, post: false };
    run_replay(Sources::default(), &timetable, &tape, &ropts, &mut out)
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let base = std::env::temp_dir();
        for n in 0u32..1000 {
            let p = base.join(format!("orakl-demo-{}-{n}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return Ok(TempDir(p));
            }
        }
        Err(std::io::Error::other("cannot create a temporary directory"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
