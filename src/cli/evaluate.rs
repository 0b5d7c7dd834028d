//! `orakl evaluate TAPE --truth FILE`: the tape replayed exactly as
//! `orakl replay` replays it (the same function, options, environment and
//! timetable), its alerts scored against the truth file, the scorecard
//! printed as text or JSON. stdout carries only the scorecard, the same
//! bytes for the same tape, truth and options.

use std::io::Write;
use std::path::Path;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::replay::{ReplayOptions, replay_counted, timetable};
use super::{Cli, Failure};
use crate::config::Sources;
use crate::evaluate::{RunFacts, read_truth, render_json, render_text, score};
use crate::job::{Bot, JobName};
use crate::schedule::Timetable;
use crate::service::OutputFormat;

/// `orakl evaluate --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScoreFormat {
    /// A table per family, then what went wrong, listed.
    Text,
    /// One JSON object (fields in the README).
    Json,
}

pub(super) fn evaluate(
    cli: &Cli,
    tape: &Path,
    truth: &Path,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    format: ScoreFormat,
) -> Result<(), Failure> {
    // The truth file first: a bad line stops before a long replay.
    let truth = read_truth(truth).map_err(Failure::config)?;
    let sources = Sources::load(cli.env_file.as_deref())?;
    let timetable = timetable(cli)?;
    // The replay's own output (alerts, summary, report) is not shown: the
    // scorecard is made from the alert records themselves.
    let opts = ReplayOptions { from, to, format: OutputFormat::Text, state: cli.state.clone(), post: false };
    let mut replayed = replay_counted(sources, &timetable, tape, &opts, &mut std::io::sink())?;
    replayed.facts.visit_delay_s = visit_delays(&timetable, &replayed.facts);
    let card = score(&replayed.alerts, &replayed.updates, &truth, &replayed.facts);
    let text = match format {
        ScoreFormat::Text => render_text(&card),
        ScoreFormat::Json => render_json(&card),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(Failure::runtime)
}

/// Per family, how much later than its firing cadence one symbol may be
/// visited: a firing takes the next `batch` symbols of the watchlist, so a
/// symbol comes round every ⌈watchlist ÷ batch⌉ firings of the line.
fn visit_delays(timetable: &Timetable, facts: &RunFacts) -> BTreeMap<Bot, i64> {
    let mut delays = BTreeMap::new();
    for line in &timetable.lines {
        let JobName::Bot(bot) = line.job else { continue };
        let batch = line.batch.map_or(facts.batch, |b| b as u64).max(1);
        let rounds = facts.watchlist.div_ceil(batch).max(1);
        // The line's shortest interval over its next few firings (the
        // first may cross a night).
        let mut firings = Vec::new();
        let mut t = facts.from;
        while firings.len() < 6 {
            let Some(next) = line.next_after(t) else { break };
            firings.push(next);
            t = next;
        }
        let Some(period_s) = firings.windows(2).map(|w| (w[1] - w[0]).num_seconds()).min() else { continue };
        let delay = period_s.saturating_mul(i64::try_from(rounds - 1).unwrap_or(i64::MAX));
        let kept = delays.entry(bot).or_insert(0);
        *kept = delay.max(*kept);
    }
    delays
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::replay::BUILTIN_TIMETABLE;

    #[test]
    fn a_symbol_comes_round_every_watchlist_over_batch_firings() {
        let timetable = Timetable::parse("schedule.cron", BUILTIN_TIMETABLE).unwrap();
        // 09:30 ET: the options lines fire every 15 s, darkpool and
        // breakouts every 30 s, STRAT every minute in the first twenty of
        // each hour, 10 symbols at a time.
        let from = "2026-03-09T13:30:00Z".parse().unwrap();
        let facts = |watchlist| RunFacts { from, watchlist, batch: 10, ..RunFacts::default() };
        // 6 symbols, 10 a firing: every firing visits each one.
        assert!(visit_delays(&timetable, &facts(6)).values().all(|d| *d == 0));
        // 200 symbols: every 20th firing, 19 intervals late at worst.
        let d = visit_delays(&timetable, &facts(200));
        assert_eq!((d[&Bot::Sweeps], d[&Bot::Scalps]), (19 * 15, 19 * 15));
        assert_eq!((d[&Bot::Darkpool], d[&Bot::Breakouts], d[&Bot::Strat]), (19 * 30, 19 * 30, 19 * 60));
        // A line's own batch= wins: 11 symbols, 10 a firing → 1 interval.
        let one = Timetable::parse("t", "30 */5 4-19 * * Mon-Fri darkpool session=extended batch=10\n").unwrap();
        assert_eq!(visit_delays(&one, &RunFacts { batch: 1, ..facts(11) })[&Bot::Darkpool], 300);
    }
}
