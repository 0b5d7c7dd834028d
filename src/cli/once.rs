//! `run --once`, the smoke test of a configuration (SPEC §10): what it
//! runs and what its exit code says.

use super::{EXIT_FAILURE, Failure};
use crate::job::JobName;
use crate::runner::LoopStats;
use crate::schedule::Timetable;

/// The timetable `--once` walks: every job, except `weekly_report` unless
/// `with_report` (`--with-report`). A smoke test run on a Tuesday must not
/// post a report to the channel its readers get on Fridays.
pub(super) fn timetable(full: &Timetable, with_report: bool) -> Timetable {
    let mut t = full.clone();
    if !with_report {
        let before = t.lines.len();
        t.lines.retain(|l| l.job != JobName::WeeklyReport);
        if t.lines.len() < before {
            log::info!(job = "weekly_report", reason = "posted only with --with-report"; "once_skips");
        }
    }
    t
}

/// Success only when every job it ran succeeded: a smoke test whose jobs
/// failed must not exit 0.
pub(super) fn outcome(stats: &LoopStats) -> Result<(), Failure> {
    if stats.errors == 0 {
        return Ok(());
    }
    Err(Failure {
        code: EXIT_FAILURE,
        error: anyhow::anyhow!(
            "run --once: {} of {} jobs failed (their errors are in the log above and in `orakl status`)",
            stats.errors,
            stats.fired
        ),
    })
}
