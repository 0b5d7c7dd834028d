//! `orakl report` and `orakl export`: the outcomes of past alerts, read
//! from the state database.

use std::path::Path;

use chrono::NaiveDate;

use super::{Cli, Failure};

/// `orakl export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON array.
    Json,
}

pub(super) fn report(_cli: &Cli, _days: u32) -> Result<(), Failure> {
    Err(Failure::runtime(anyhow::anyhow!("report: not built yet")))
}

pub(super) fn export(
    _cli: &Cli,
    _format: ExportFormat,
    _since: Option<NaiveDate>,
    _bot: Option<&str>,
    _out: Option<&Path>,
) -> Result<(), Failure> {
    Err(Failure::runtime(anyhow::anyhow!("export: not built yet")))
}
