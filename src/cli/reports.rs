//! `orakl report` and `orakl export`: the outcomes of past alerts, read
//! from the state database.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Cli, EXIT_USAGE, Failure};
use crate::clock::{Clock, Shutdown, SystemClock};
use crate::job::Bot;
use crate::outcomes::Period;
use crate::{export, outcomes, service};

/// `orakl export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON array.
    Json,
}

/// `orakl report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// The tables and the method, as the weekly report shows them.
    Text,
    /// One JSON object.
    Json,
    /// The groups as RFC 4180 CSV with a header row.
    Csv,
}

/// The range `orakl report` covers, as given on the command line.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub days: u32,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl Range {
    /// The period: `since..=until` as whole ET dates; without `since`, the
    /// `days` days before the end of `until` (or before `now`).
    fn period(&self, now: DateTime<Utc>) -> Result<Period, Failure> {
        let usage = |msg: String| Failure { code: EXIT_USAGE, error: anyhow::anyhow!(msg) };
        let Some(since) = self.since else {
            let Some(d) = self.until else { return Ok(Period::last_days(now, self.days)) };
            let end = Period::dates(d, d).ok_or_else(|| usage(format!("--until {d}: no such time in ET")))?.until;
            return Ok(Period { since: end - chrono::Duration::days(i64::from(self.days)), until: end });
        };
        let until = self.until.unwrap_or_else(|| now.with_timezone(&crate::calendar::MARKET_TZ).date_naive());
        if since > until {
            return Err(usage(format!("--since {since} is after --until {until}")));
        }
        Period::dates(since, until).ok_or_else(|| usage(format!("--since {since} --until {until}: no such time in ET")))
    }
}

/// Prints the report of a period (by default the last 7 days, as the
/// `weekly_report` job posts it) in `format`, and writes its chart to
/// `chart` when asked.
pub(super) fn report(cli: &Cli, range: Range, format: ReportFormat, chart: Option<&Path>) -> Result<(), Failure> {
    let now = SystemClock::new(Shutdown::new()).now();
    let period = range.period(now)?;
    let (config, store) = super::open_existing_state(cli)?;
    let report = service::build_report_for(&store, &config, &period).map_err(Failure::runtime)?;
    service::warn_flagged(&report);
    const TITLE: &str = "orakl report";
    if let Some(path) = chart {
        let png =
            crate::chart::report_png(&report, TITLE, &period).map_err(|e| Failure::runtime(anyhow::anyhow!(e)))?;
        crate::atomic_file::write(path, &png)
            .map_err(|e| Failure::runtime(anyhow::anyhow!("--chart {}: {e}", path.display())))?;
    }
    super::print_out(&match format {
        ReportFormat::Text => outcomes::render_report_for(&report, TITLE, &period),
        ReportFormat::Json => outcomes::report_json(&report, &period),
        ReportFormat::Csv => outcomes::report_csv(&report),
    })
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
