//! What operations asks of the store: the heartbeat's snapshot, each job's
//! last successful run, the outbox backlog's age, alert counts per bot and
//! how recent alerts left the outbox.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{AlertStatus, Store, StoreError, Ts, sql_error, ts};

/// How many alerts left `pending` in a window, by how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub sent: u64,
    pub failed: u64,
    pub expired: u64,
}

/// An alert that was never delivered: Discord refused it (`failed`) or it
/// waited too long (`expired`).
#[derive(Debug, Clone, PartialEq)]
pub struct Undelivered {
    pub id: String,
    pub bot: String,
    pub status: AlertStatus,
    /// When it left `pending`.
    pub at: DateTime<Utc>,
    /// The last error of its delivery, if a try was made.
    pub reason: Option<String>,
}

impl Store {
    /// Replaces the heartbeat's snapshot (a JSON document the store does not
    /// interpret).
    pub fn save_snapshot(&mut self, at: DateTime<Utc>, payload: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO heartbeat_snapshot (id, at, payload) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at, payload = excluded.payload",
            )
            .and_then(|mut stmt| stmt.execute(params![ts(at), payload]))
            .map(drop)
            .map_err(sql_error(&self.path, "save heartbeat snapshot"))
    }

    /// The latest heartbeat snapshot and when it was taken.
    pub fn snapshot(&self) -> Result<Option<(DateTime<Utc>, String)>, StoreError> {
        let fail = sql_error(&self.path, "read heartbeat snapshot");
        self.conn
            .prepare_cached("SELECT at, payload FROM heartbeat_snapshot WHERE id = 1")
            .map_err(&fail)?
            .query_row([], |r| Ok((r.get::<_, Ts>(0)?.0, r.get(1)?)))
            .optional()
            .map_err(&fail)
    }

    /// Per job, the firing (its scheduled instant) of its latest successful run.
    pub fn last_successes(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        let fail = sql_error(&self.path, "read last successful runs");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT job, max(scheduled_for) FROM runs WHERE result = 'ok' GROUP BY job ORDER BY job")
            .map_err(&fail)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Ts>(1)?.0))).map_err(&fail)?;
        rows.collect::<Result<_, _>>().map_err(&fail)
    }

    /// When the oldest pending alert was committed.
    pub fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let fail = sql_error(&self.path, "read oldest pending alert");
        self.conn
            .prepare_cached("SELECT min(created_at) FROM alerts WHERE status = 'pending'")
            .map_err(&fail)?
            .query_row([], |r| r.get::<_, Option<Ts>>(0))
            .map(|t| t.map(|t| t.0))
            .map_err(&fail)
    }

    /// Alerts per bot whose own time is at or after `since` (every alert
    /// when `since` is `None`).
    pub fn alert_counts_by_bot(&self, since: Option<DateTime<Utc>>) -> Result<BTreeMap<String, u64>, StoreError> {
        let fail = sql_error(&self.path, "count alerts by bot");
        let since = since.map_or_else(String::new, ts);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bot, count(*) FROM alerts WHERE at >= ?1 GROUP BY bot ORDER BY bot")
            .map_err(&fail)?;
        let rows = stmt.query_map([since], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?))).map_err(&fail)?;
        rows.collect::<Result<_, _>>().map_err(&fail)
    }

    /// The alerts that left `pending` at or after `since`, by status.
    pub fn settled_since(&self, since: DateTime<Utc>) -> Result<Settled, StoreError> {
        let fail = sql_error(&self.path, "count settled alerts");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT status, count(*) FROM alerts WHERE status_at >= ?1 GROUP BY status")
            .map_err(&fail)?;
        let rows =
            stmt.query_map([ts(since)], |r| Ok((r.get::<_, AlertStatus>(0)?, r.get::<_, u64>(1)?))).map_err(&fail)?;
        let mut settled = Settled::default();
        for row in rows {
            match row.map_err(&fail)? {
                (AlertStatus::Sent, n) => settled.sent = n,
                (AlertStatus::Failed, n) => settled.failed = n,
                (AlertStatus::Expired, n) => settled.expired = n,
                (AlertStatus::Pending, _) => {}
            }
        }
        Ok(settled)
    }

    /// The alerts that failed or expired at or after `since`, newest first,
    /// at most `limit`.
    pub fn undelivered_since(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Undelivered>, StoreError> {
        let fail = sql_error(&self.path, "read undelivered alerts");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, bot, status, status_at, last_error FROM alerts
                 WHERE status IN ('failed', 'expired') AND status_at >= ?1
                 ORDER BY status_at DESC, rowid DESC LIMIT ?2",
            )
            .map_err(&fail)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![ts(since), limit], |r| {
                Ok(Undelivered {
                    id: r.get(0)?,
                    bot: r.get(1)?,
                    status: r.get(2)?,
                    at: r.get::<_, Ts>(3)?.0,
                    reason: r.get(4)?,
                })
            })
            .map_err(&fail)?;
        rows.collect::<Result<_, _>>().map_err(&fail)
    }
}
