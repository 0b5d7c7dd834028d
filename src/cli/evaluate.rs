//! `orakl evaluate TAPE --truth FILE`: the tape replayed exactly as
//! `orakl replay` replays it (the same function, options, environment and
//! timetable), its alerts scored against the truth file, the scorecard
//! printed as text or JSON. stdout carries only the scorecard, the same
//! bytes for the same tape, truth and options.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::replay::{ReplayOptions, replay_counted, timetable};
use super::{Cli, Failure};
use crate::config::Sources;
use crate::evaluate::{read_truth, render_json, render_text, score};
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
    let replayed = replay_counted(sources, &timetable, tape, &opts, &mut std::io::sink())?;
    let card = score(&replayed.alerts, &truth, &replayed.facts);
    let text = match format {
        ScoreFormat::Text => render_text(&card),
        ScoreFormat::Json => render_json(&card),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(Failure::runtime)
}
