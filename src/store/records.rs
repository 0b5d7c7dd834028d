//! The smaller records: cursors, open-interest history, job runs,
//! processing errors, retired webhooks and disabled API features.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, Ts, bounded, sql_error, ts};

/// How a scheduled run of a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunResult {
    Ok,
    Error,
    /// Not run: the market was closed, a previous run still held the job,
    /// or the firing was missed while the service was down.
    Skipped,
}

impl RunResult {
    pub const ALL: [RunResult; 3] = [RunResult::Ok, RunResult::Error, RunResult::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Ok => "ok",
            RunResult::Error => "error",
            RunResult::Skipped => "skipped",
        }
    }
}

impl fmt::Display for RunResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunResult {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RunResult::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| format!("unknown run result `{s}`"))
    }
}

impl ToSql for RunResult {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for RunResult {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

/// One run of a timetable job. The job is kept as text so a record of a
/// job that a later build renamed still reads back.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub job: String,
    pub scheduled_for: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub result: RunResult,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingError {
    pub at: DateTime<Utc>,
    pub component: String,
    pub symbol: Option<String>,
    pub message: String,
}

/// A retired webhook (Discord answered 404) or a disabled API feature (the
/// plan does not include it: HTTP 403), with when and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Disabled {
    /// The webhook's numeric id or the feature's name.
    pub name: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

impl Store {
    pub fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        let fail = sql_error(&self.path, "read cursor");
        self.conn
            .prepare_cached("SELECT value FROM cursors WHERE name = ?1")
            .map_err(&fail)?
            .query_row([name], |r| r.get(0))
            .optional()
            .map_err(&fail)
    }

    pub fn set_cursor(&mut self, name: &str, value: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO cursors (name, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| stmt.execute(params![name, value, ts(now)]))
            .map(drop)
            .map_err(sql_error(&self.path, "set cursor"))
    }

    /// Forgets a cursor; forgetting one that is not set is not an error.
    pub fn clear_cursor(&mut self, name: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM cursors WHERE name = ?1")
            .and_then(|mut stmt| stmt.execute([name]))
            .map(drop)
            .map_err(sql_error(&self.path, "clear cursor"))
    }

    /// Records the open interest of `contract` as published for `date`; a
    /// second reading for the same day replaces the first.
    pub fn record_open_interest(
        &mut self,
        contract: &str,
        date: NaiveDate,
        oi: f64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO open_interest (contract, date, oi, recorded_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (contract, date) DO UPDATE SET oi = excluded.oi, recorded_at = excluded.recorded_at",
            )
            .and_then(|mut stmt| stmt.execute(params![contract, date.to_string(), oi, ts(now)]))
            .map(drop)
            .map_err(sql_error(&self.path, "record open interest"))
    }

    pub fn open_interest(&self, contract: &str, date: NaiveDate) -> Result<Option<f64>, StoreError> {
        let fail = sql_error(&self.path, "read open interest");
        self.conn
            .prepare_cached("SELECT oi FROM open_interest WHERE contract = ?1 AND date = ?2")
            .map_err(&fail)?
            .query_row(params![contract, date.to_string()], |r| r.get(0))
            .optional()
            .map_err(&fail)
    }

    pub fn record_run(&mut self, run: &RunRecord) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO runs (job, scheduled_for, started_at, finished_at, result, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    run.job,
                    ts(run.scheduled_for),
                    ts(run.started_at),
                    ts(run.finished_at),
                    run.result,
                    bounded(&run.detail),
                ])
            })
            .map(drop)
            .map_err(sql_error(&self.path, "record run"))
    }

    /// The latest run of each job that has run, by job name.
    pub fn last_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let fail = sql_error(&self.path, "read last runs");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT job, scheduled_for, started_at, finished_at, result, detail FROM runs AS r
                 WHERE id = (SELECT id FROM runs WHERE job = r.job ORDER BY started_at DESC, id DESC LIMIT 1)
                 ORDER BY job",
            )
            .map_err(&fail)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunRecord {
                    job: r.get(0)?,
                    scheduled_for: r.get::<_, Ts>(1)?.0,
                    started_at: r.get::<_, Ts>(2)?.0,
                    finished_at: r.get::<_, Ts>(3)?.0,
                    result: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(&fail)?;
        rows.collect::<Result<_, _>>().map_err(&fail)
    }

    /// Keeps a failure that was logged and skipped, for `orakl status`.
    pub fn record_error(
        &mut self,
        now: DateTime<Utc>,
        component: &str,
        symbol: Option<&str>,
        message: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO processing_errors (at, component, symbol, message) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut stmt| stmt.execute(params![ts(now), component, symbol, bounded(message)]))
            .map(drop)
            .map_err(sql_error(&self.path, "record processing error"))
    }

    /// The newest `limit` processing errors, newest first.
    pub fn recent_errors(&self, limit: usize) -> Result<Vec<ProcessingError>, StoreError> {
        let fail = sql_error(&self.path, "read processing errors");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, component, symbol, message FROM processing_errors ORDER BY at DESC, id DESC LIMIT ?1",
            )
            .map_err(&fail)?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(ProcessingError {
                    at: r.get::<_, Ts>(0)?.0,
                    component: r.get(1)?,
                    symbol: r.get(2)?,
                    message: r.get(3)?,
                })
            })
            .map_err(&fail)?;
        rows.collect::<Result<_, _>>().map_err(&fail)
    }

    /// Stops using a webhook Discord says no longer exists. The first
    /// retirement stands; a repeat changes nothing.
    pub fn retire_webhook(&mut self, webhook_id: &str, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO webhooks_retired (webhook_id, at, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT (webhook_id) DO NOTHING",
            )
            .and_then(|mut stmt| stmt.execute(params![webhook_id, ts(now), bounded(reason)]))
            .map(drop)
            .map_err(sql_error(&self.path, "retire webhook"))
    }

    /// Retired webhooks, oldest retirement first.
    pub fn retired_webhooks(&self) -> Result<Vec<Disabled>, StoreError> {
        self.disabled(
            "read retired webhooks",
            "SELECT webhook_id, at, reason FROM webhooks_retired ORDER BY at, webhook_id",
        )
    }

    /// Stops calling an API feature the plan does not include. The first
    /// record stands; a repeat changes nothing.
    pub fn disable_feature(&mut self, name: &str, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO features_disabled (name, at, reason) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
            )
            .and_then(|mut stmt| stmt.execute(params![name, ts(now), bounded(reason)]))
            .map(drop)
            .map_err(sql_error(&self.path, "disable feature"))
    }

    /// A disabled feature works again (its probe succeeded).
    pub fn enable_feature(&mut self, name: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM features_disabled WHERE name = ?1")
            .and_then(|mut stmt| stmt.execute([name]))
            .map(drop)
            .map_err(sql_error(&self.path, "enable feature"))
    }

    /// Disabled features, oldest first.
    pub fn disabled_features(&self) -> Result<Vec<Disabled>, StoreError> {
        self.disabled("read disabled features", "SELECT name, at, reason FROM features_disabled ORDER BY at, name")
    }

    fn disabled(&self, op: &'static str, sql: &str) -> Result<Vec<Disabled>, StoreError> {
        let fail = sql_error(&self.path, op);
        let mut stmt = self.conn.prepare_cached(sql).map_err(&fail)?;
        let rows = stmt
            .query_map([], |r| Ok(Disabled { name: r.get(0)?, at: r.get::<_, Ts>(1)?.0, reason: r.get(2)? }))
            .map_err(&fail)?;
        rows.collect::<Result<_, _>>().map_err(&fail)
    }
}
