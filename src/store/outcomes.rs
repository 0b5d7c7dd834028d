//! Outcome rows: opened with their alert, moved forward by the `outcomes`
//! job, marked by `oi_confirm`, read back joined with their alerts for the
//! report and the export.

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{Transaction, params};

use super::entry::{ENTRY_COLUMN_COUNT, ENTRY_COLUMNS, OutboxEntry, RawEntry};
use super::{Store, StoreError, Ts, sql_error, ts};
use crate::job::Bot;
use crate::outcomes::{Direction, Kind, Outcome, Plan, Status};

/// An outcome as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRecord {
    pub kind: Kind,
    pub direction: Direction,
    pub entry: f64,
    pub stop: f64,
    pub t1: f64,
    pub t2: Option<f64>,
    pub opened_at: DateTime<Utc>,
    pub status: Status,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `None` until a bar has been counted.
    pub mfe: Option<f64>,
    pub mae: Option<f64>,
    /// The end of the latest bar counted.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// `None` until `oi_confirm` has looked.
    pub opening_confirmed: Option<bool>,
    /// The open interest `oi_confirm` saw.
    pub oi_seen: Option<f64>,
    /// The entry is a limit order, filled only when touched after the alert.
    pub limit: bool,
    /// When the entry was filled; `None` while a limit waits (or never filled).
    pub filled_at: Option<DateTime<Utc>>,
    /// The R-multiple; `None` until filled.
    pub r_multiple: Option<f64>,
}

impl OutcomeRecord {
    /// The plan again, with the expiry the caller computes (it depends on
    /// settings, not on the row).
    pub fn plan(&self, expires_at: DateTime<Utc>) -> Plan {
        Plan {
            kind: self.kind,
            direction: self.direction,
            entry: self.entry,
            stop: self.stop,
            t1: self.t1,
            t2: self.t2,
            opened_at: self.opened_at,
            expires_at,
            limit: self.limit,
        }
    }

    /// Final and filled: counted as resolved by the report.
    pub fn is_resolved(&self) -> bool {
        self.state().is_resolved(self.limit)
    }

    /// A limit entry that expired without a fill.
    pub fn is_not_filled(&self) -> bool {
        self.state().is_not_filled(self.limit)
    }

    /// Where the measurement stands, as [`crate::outcomes::advance`] takes it.
    pub fn state(&self) -> Outcome {
        Outcome {
            status: self.status,
            mfe: self.mfe.unwrap_or(0.0),
            mae: self.mae.unwrap_or(0.0),
            resolved_at: self.resolved_at,
            last_bar_end: self.last_checked_at,
            filled_at: self.filled_at,
            r: self.r_multiple,
        }
    }
}

/// An alert, its delivery state and its outcome (none for alerts without a
/// plan).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOutcome {
    pub entry: OutboxEntry,
    pub outcome: Option<OutcomeRecord>,
}

const OUTCOME_COLUMNS: &str = "o.kind, o.direction, o.entry, o.stop, o.t1, o.t2, o.opened_at, o.status, \
     o.resolved_at, o.mfe, o.mae, o.last_checked_at, o.opening_confirmed, o.oi_seen, o.limit_entry, o.filled_at, \
     o.r_multiple";

/// Writes the open outcome of a plan ([`Outcome::start`]: a market entry
/// filled at the alert, a limit waiting); part of the alert's transaction.
pub(super) fn insert_plan(tx: &Transaction<'_>, alert_id: &str, p: &Plan) -> rusqlite::Result<usize> {
    let start = Outcome::start(p);
    tx.execute(
        "INSERT INTO outcomes (alert_id, kind, direction, entry, stop, t1, t2, status, opened_at,
                               limit_entry, filled_at, r_multiple)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?9, ?10, ?11)",
        params![
            alert_id,
            p.kind.as_str(),
            p.direction.as_str(),
            p.entry,
            p.stop,
            p.t1,
            p.t2,
            ts(p.opened_at),
            p.limit,
            start.filled_at.map(ts),
            start.r
        ],
    )
}

impl Store {
    /// Outcomes still watched (open, or a T1 win still watched for T2),
    /// oldest alert first.
    pub fn open_outcomes(&self) -> Result<Vec<AlertOutcome>, StoreError> {
        self.joined(
            "read open outcomes",
            "JOIN outcomes o ON o.alert_id = a.id WHERE o.resolved_at IS NULL ORDER BY a.at, a.rowid",
            params![],
        )
    }

    /// Every alert whose time is at or after `since` (of `bot` when given),
    /// in time order, with its outcome.
    pub fn alerts_with_outcomes(
        &self,
        since: DateTime<Utc>,
        bot: Option<Bot>,
    ) -> Result<Vec<AlertOutcome>, StoreError> {
        let mut out = Vec::new();
        self.each_alert_with_outcome(since, bot, |item| out.push(item))?;
        Ok(out)
    }

    /// [`alerts_with_outcomes`](Self::alerts_with_outcomes) handed to `f`
    /// one at a time: a report over weeks of alerts never holds them all.
    pub fn each_alert_with_outcome(
        &self,
        since: DateTime<Utc>,
        bot: Option<Bot>,
        f: impl FnMut(AlertOutcome),
    ) -> Result<(), StoreError> {
        self.joined_each(
            "read alerts with outcomes",
            "LEFT JOIN outcomes o ON o.alert_id = a.id WHERE a.at >= ?1 AND (?2 IS NULL OR a.bot = ?2)
             ORDER BY a.at, a.rowid",
            params![ts(since), bot.map(|b| b.as_str())],
            f,
        )
    }

    /// Moves an outcome forward. The guard on `resolved_at` keeps a final
    /// outcome final even if two passes race.
    pub fn update_outcome(&mut self, alert_id: &str, o: &Outcome) -> Result<(), StoreError> {
        let fail = sql_error(&self.path, "update outcome");
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE outcomes SET status = ?2, resolved_at = ?3, mfe = ?4, mae = ?5, last_checked_at = ?6,
                                     filled_at = ?7, r_multiple = ?8
                 WHERE alert_id = ?1 AND resolved_at IS NULL",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    alert_id,
                    o.status.as_str(),
                    o.resolved_at.map(ts),
                    finite(o.mfe),
                    finite(o.mae),
                    o.last_bar_end.map(ts),
                    o.filled_at.map(ts),
                    o.r.and_then(finite),
                ])
            })
            .map_err(&fail)?;
        if changed == 0 {
            log::debug!(id = alert_id, reason = "no open outcome"; "outcome_unchanged");
        }
        Ok(())
    }

    /// Records what the morning-after open-interest check found.
    pub fn set_opening_confirmed(&mut self, alert_id: &str, confirmed: bool, oi_seen: f64) -> Result<(), StoreError> {
        let fail = sql_error(&self.path, "set opening confirmed");
        let changed = self
            .conn
            .prepare_cached("UPDATE outcomes SET opening_confirmed = ?2, oi_seen = ?3 WHERE alert_id = ?1")
            .and_then(|mut stmt| stmt.execute(params![alert_id, confirmed, finite(oi_seen)]))
            .map_err(&fail)?;
        if changed == 0 {
            return Err(StoreError::UnknownAlert {
                path: self.path.clone(),
                op: "set opening confirmed",
                id: alert_id.into(),
            });
        }
        Ok(())
    }

    fn joined(
        &self,
        op: &'static str,
        tail: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<AlertOutcome>, StoreError> {
        let mut out = Vec::new();
        self.joined_each(op, tail, params, |item| out.push(item))?;
        Ok(out)
    }

    fn joined_each(
        &self,
        op: &'static str,
        tail: &str,
        params: impl rusqlite::Params,
        mut f: impl FnMut(AlertOutcome),
    ) -> Result<(), StoreError> {
        let fail = sql_error(&self.path, op);
        let columns = ENTRY_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT {columns}, {OUTCOME_COLUMNS} FROM alerts a {tail}");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&fail)?;
        let rows = stmt.query_map(params, |r| Ok((RawEntry::from_row(r)?, outcome_from(r)?))).map_err(&fail)?;
        for row in rows {
            let (raw, outcome) = row.map_err(&fail)?;
            f(AlertOutcome { entry: self.decode(raw)?, outcome });
        }
        Ok(())
    }
}

/// The outcome columns after the entry's; `None` when the join found none.
fn outcome_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<OutcomeRecord>> {
    let i = ENTRY_COLUMN_COUNT;
    let Some(kind) = r.get::<_, Option<Col<Kind>>>(i)? else { return Ok(None) };
    Ok(Some(OutcomeRecord {
        kind: kind.0,
        direction: r.get::<_, Col<Direction>>(i + 1)?.0,
        entry: r.get(i + 2)?,
        stop: r.get(i + 3)?,
        t1: r.get(i + 4)?,
        t2: r.get(i + 5)?,
        opened_at: r.get::<_, Ts>(i + 6)?.0,
        status: r.get::<_, Col<Status>>(i + 7)?.0,
        resolved_at: r.get::<_, Option<Ts>>(i + 8)?.map(|t| t.0),
        mfe: r.get(i + 9)?,
        mae: r.get(i + 10)?,
        last_checked_at: r.get::<_, Option<Ts>>(i + 11)?.map(|t| t.0),
        opening_confirmed: r.get(i + 12)?,
        oi_seen: r.get(i + 13)?,
        limit: r.get(i + 14)?,
        filled_at: r.get::<_, Option<Ts>>(i + 15)?.map(|t| t.0),
        r_multiple: r.get(i + 16)?,
    }))
}

/// SQLite stores NaN as NULL and a STRICT REAL column refuses infinities
/// in spirit: a non-finite measure is stored as unknown.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// A column spelled by a type's `as_str`, read back through its `FromStr`.
struct Col<T>(T);

impl<T: std::str::FromStr> FromSql for Col<T>
where
    T::Err: std::fmt::Display,
{
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        text.parse().map(Col).map_err(|e: T::Err| FromSqlError::Other(e.to_string().into()))
    }
}
