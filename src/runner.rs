//! The deterministic main loop: walk the timetable, run each due job in
//! turn, wait through the clock until the next firing.
//!
//! Rules (SPEC §3): jobs never overlap (one thread, one job at a time); a
//! firing later than the grace period is skipped, never caught up, with one
//! warn line per run of misses; each (job, UTC instant) fires at most once,
//! even if the wall clock steps back; waits are capped so a wall-clock step
//! is noticed within a minute; a shutdown request ends the loop between jobs;
//! a reload request (SIGHUP) swaps the timetable between jobs.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, Waited};
use crate::job::JobName;
use crate::notify::Notifier;
use crate::schedule::{Line, Timetable};

/// The longest single wait, so wall-clock steps are noticed promptly.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Bound on how many missed firings one skip line walks over (a month of a
/// 15-second job): the loop must terminate whatever the wall clock did.
const MAX_SKIP_WALK: usize = 200_000;

/// How one job firing went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    Ok(String),
    Error(String),
}

/// What the loop drives. The service implements it for real; tests
/// implement it to record firings.
pub trait Jobs {
    /// Runs one firing of `line`'s job, scheduled for `scheduled`.
    fn run(&mut self, line: &Line, scheduled: DateTime<Utc>) -> JobResult;
    /// Called after every job and before every wait: the place to deliver
    /// pending alerts, so posting never waits for the next firing.
    fn between(&mut self) {}
    /// A reload was requested: the timetable to walk from now on, or `None`
    /// to keep the current one (a bad new file must not stop the service).
    fn reload(&mut self) -> Option<Timetable> {
        None
    }
    /// `missed` firings of `line`'s job came and went unrun (late past the
    /// grace period).
    fn skipped(&mut self, _line: &Line, _missed: u64) {}
    /// Whether `line`'s job has already done, since `due`, the work of its
    /// firing at `due` (the prints lane polls inside long firings): a late
    /// firing so covered is not a missed one.
    fn covered(&self, _line: &Line, _due: DateTime<Utc>) -> bool {
        false
    }
}

pub struct LoopOptions {
    pub grace: Duration,
}

/// Counters of one loop run, for the exit log line and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoopStats {
    pub fired: u64,
    pub gated: u64,
    pub skipped_late: u64,
    pub errors: u64,
}

/// Runs until shutdown is requested on the clock.
pub fn run_loop(
    clock: &dyn Clock,
    timetable: &Timetable,
    opts: &LoopOptions,
    notifier: &Notifier,
    jobs: &mut dyn Jobs,
) -> LoopStats {
    let mut stats = LoopStats::default();
    let mut timetable = timetable.clone();
    let start = clock.now();
    // Just before now, so a firing at exactly the start instant runs.
    let origin = start - chrono::Duration::milliseconds(1);
    // Each line's next firing. It only moves forward (computed from the
    // instant last considered), so a wall clock stepping back replays nothing.
    let mut next: Vec<Option<DateTime<Utc>>> = timetable.lines.iter().map(|l| l.next_after(origin)).collect();
    // The latest firing considered (run, gated or skipped): firings are taken
    // earliest first, so every firing before it has been dealt with.
    let mut considered = origin;
    let mut fired: BTreeSet<(DateTime<Utc>, JobName)> = BTreeSet::new();
    let grace = chrono::Duration::from_std(opts.grace).unwrap_or(chrono::Duration::MAX);
    let mut prev_now = start;

    loop {
        if clock.shutdown().is_requested() {
            break;
        }
        if clock.shutdown().take_reload() {
            if let Some(t) = jobs.reload() {
                // The new lines walk on from the last firing considered (a
                // job already run at that instant is not run again: `fired`),
                // or from the grace period ago: a line just added has no
                // missed firings to report.
                let from = considered.max(clock.now() - grace) - chrono::Duration::milliseconds(1);
                next = t.lines.iter().map(|l| l.next_after(from)).collect();
                timetable = t;
            }
        }
        notifier.watchdog();
        let now = clock.now();
        if now < prev_now - chrono::Duration::seconds(1) {
            log::warn!(by_s = (prev_now - now).num_seconds(); "wall_clock_stepped_back");
        }
        prev_now = now;

        // The earliest next firing; ties go to the earlier line, so the
        // order is the timetable's and deterministic.
        let Some((i, due)) =
            next.iter().enumerate().filter_map(|(i, t)| t.map(|t| (i, t))).min_by_key(|&(i, t)| (t, i))
        else {
            if clock.idle(MAX_WAIT) == Waited::Shutdown {
                break;
            }
            continue;
        };
        if due > now {
            let wait = (due - now).to_std().unwrap_or(Duration::ZERO).min(MAX_WAIT);
            if clock.idle(wait) == Waited::Shutdown {
                break;
            }
            continue;
        }

        let line = &timetable.lines[i];
        considered = considered.max(due);
        let late = now - due;
        if late > grace && jobs.covered(line, due) {
            next[i] = line.next_after(due);
            continue;
        }
        if late > grace {
            let (missed, last) = walk_missed(line, due, now, grace);
            log::warn!(
                job = line.job,
                line = line.line,
                missed = missed,
                late_by_s = late.num_seconds(),
                first = due.to_rfc3339(),
                last = last.to_rfc3339();
                "firing_skipped"
            );
            stats.skipped_late += missed as u64;
            jobs.skipped(line, missed as u64);
            considered = considered.max(last);
            next[i] = line.next_after(last);
            continue;
        }
        next[i] = line.next_after(due);

        if !line.session.allows(due) {
            stats.gated += 1;
            continue;
        }
        if !fired.insert((due, line.job)) {
            // The same job on two lines at the same instant: once is enough.
            continue;
        }
        // Forget instants older than a day; they can never come up again
        // because every line's next firing only moves forward.
        while fired.first().is_some_and(|(t, _)| *t < due - chrono::Duration::days(1)) {
            fired.pop_first();
        }

        stats.fired += 1;
        if let JobResult::Error(_) = jobs.run(line, due) {
            stats.errors += 1;
        }
        jobs.between();
    }
    notifier.stopping();
    stats
}

/// Walks from the first missed firing `first` over every later firing that
/// is also past the grace period at `now`; returns (count, last missed).
fn walk_missed(
    line: &Line,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> (usize, DateTime<Utc>) {
    let mut count = 1;
    let mut last = first;
    while count < MAX_SKIP_WALK {
        match line.next_after(last) {
            Some(t) if now - t > grace => {
                last = t;
                count += 1;
            }
            _ => break,
        }
    }
    (count, last)
}

/// `run --once`: every job in the timetable one time, now, in timetable
/// order, ignoring times and sessions (a smoke test of a configuration).
pub fn run_once(clock: &dyn Clock, timetable: &Timetable, jobs: &mut dyn Jobs) -> LoopStats {
    let mut stats = LoopStats::default();
    let mut seen = BTreeSet::new();
    for line in &timetable.lines {
        if clock.shutdown().is_requested() {
            break;
        }
        if !seen.insert(line.job) {
            continue;
        }
        stats.fired += 1;
        if let JobResult::Error(_) = jobs.run(line, clock.now()) {
            stats.errors += 1;
        }
        jobs.between();
    }
    stats
}
