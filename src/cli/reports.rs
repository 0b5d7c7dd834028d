//! `orakl report` and `orakl export`: the outcomes of past alerts, read
//! from the state database.

use std::path::Path;

use chrono::{NaiveDate, Utc};

use super::{Cli, EXIT_USAGE, Failure};
use crate::clock::{Clock, Shutdown, SystemClock};
use crate::job::Bot;
use crate::{export, outcomes, service};

/// `orakl export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON array.
    Json,
}

/// Prints the report of the last `days` days, as the `weekly_report` job
/// posts it.
pub(super) fn report(cli: &Cli, days: u32) -> Result<(), Failure> {
    let (config, store) = super::open_existing_state(cli)?;
    let now = SystemClock::new(Shutdown::new()).now();
    let report = service::build_report(&store, &config, now, days).map_err(Failure::runtime)?;
    service::warn_flagged(&report);
    super::print_out(&outcomes::render_report(&report, "orakl report", days))
}

/// Writes the alerts (on or after `since`, of `bot`) with their outcomes.
pub(super) fn export(
    cli: &Cli,
    format: ExportFormat,
    since: Option<NaiveDate>,
    bot: Option<&str>,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let bot = bot
        .map(|b| {
            b.parse::<Bot>().map_err(|e| {
                let known: Vec<&str> = Bot::ALL.iter().map(|b| b.as_str()).collect();
                Failure { code: EXIT_USAGE, error: anyhow::anyhow!("--bot: {e}; one of {}", known.join(", ")) }
            })
        })
        .transpose()?;
    // A date is a trading date in ET: from its midnight in New York.
    let since = match since {
        None => chrono::DateTime::<Utc>::MIN_UTC,
        Some(d) => crate::calendar::et_midnight(d)
            .ok_or_else(|| Failure { code: EXIT_USAGE, error: anyhow::anyhow!("--since {d}: no such time in ET") })?,
    };
    let (_, store) = super::open_existing_state(cli)?;
    let items = store.alerts_with_outcomes(since, bot).map_err(Failure::runtime)?;
    let text = match format {
        ExportFormat::Csv => export::to_csv(&items).map_err(Failure::runtime)?,
        ExportFormat::Json => export::to_json(&items).map_err(Failure::runtime)?,
    };
    match out {
        None => super::print_out(&text),
        Some(path) => crate::atomic_file::write(path, text.as_bytes())
            .map_err(|e| Failure::runtime(anyhow::anyhow!("--out {}: {e}", path.display()))),
    }
}
