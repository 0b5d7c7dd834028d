//! Each underlying's flow statistics per trading date (the distribution of
//! its flow events' premiums), so the premium rank of a restart or a new
//! day starts from the previous sessions instead of from nothing.
//!
//! Small and bounded: one row per underlying and date, a few hundred bytes
//! of bucket counts; a read keeps the last few dates and drops older ones.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use super::{Store, StoreError, sql_error, ts};
use crate::unusual::{DayStats, Histogram};

/// The table (schema step 3).
pub(super) const SCHEMA: &str = "
CREATE TABLE flow_history (
    underlying TEXT NOT NULL,
    date       TEXT NOT NULL,
    events     INTEGER NOT NULL CHECK (events >= 0),
    max        REAL NOT NULL,
    buckets    TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (underlying, date)
) STRICT, WITHOUT ROWID;
CREATE INDEX flow_history_by_date ON flow_history (date);
";

impl Store {
    /// Stores an underlying's statistics for its date, replacing what was
    /// stored for that date before (the day's figures only grow).
    pub fn save_flow_stats(&mut self, s: &DayStats, now: DateTime<Utc>) -> Result<(), StoreError> {
        let h = &s.premiums;
        self.conn
            .prepare_cached(
                "INSERT INTO flow_history (underlying, date, events, max, buckets, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (underlying, date) DO UPDATE SET events = excluded.events, max = excluded.max,
                 buckets = excluded.buckets, updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    s.underlying,
                    s.date.to_string(),
                    i64::try_from(h.total()).unwrap_or(i64::MAX),
                    h.max(),
                    h.to_text(),
                    ts(now)
                ])
            })
            .map(drop)
            .map_err(sql_error(&self.path, "save flow statistics"))
    }

    /// The statistics of the last `sessions` stored dates before `before`,
    /// every underlying, by date then underlying. Rows older than those
    /// dates are deleted: the table holds at most `sessions` past dates
    /// (and today's). A row whose buckets do not read is skipped.
    pub fn flow_history(&mut self, before: NaiveDate, sessions: usize) -> Result<Vec<DayStats>, StoreError> {
        let before_text = before.to_string();
        let limit = i64::try_from(sessions).unwrap_or(i64::MAX);
        let dates: Vec<String> = {
            let fail = sql_error(&self.path, "read flow history dates");
            let mut stmt = self
                .conn
                .prepare_cached("SELECT DISTINCT date FROM flow_history WHERE date < ?1 ORDER BY date DESC LIMIT ?2")
                .map_err(&fail)?;
            let rows = stmt.query_map(params![before_text, limit], |r| r.get(0)).map_err(&fail)?;
            rows.collect::<Result<_, _>>().map_err(&fail)?
        };
        // Everything before the oldest kept date (or before `before` when
        // none is kept) goes.
        let oldest = dates.last().cloned().unwrap_or_else(|| before_text.clone());
        self.conn
            .prepare_cached("DELETE FROM flow_history WHERE date < ?1")
            .and_then(|mut stmt| stmt.execute([&oldest]))
            .map_err(sql_error(&self.path, "prune flow history"))?;
        let fail = sql_error(&self.path, "read flow history");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT underlying, date, max, buckets FROM flow_history WHERE date >= ?1 AND date < ?2
                 ORDER BY date, underlying",
            )
            .map_err(&fail)?;
        let rows = stmt
            .query_map(params![oldest, before_text], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, f64>(2)?, r.get::<_, String>(3)?))
            })
            .map_err(&fail)?;
        let mut out = Vec::new();
        for row in rows {
            let (underlying, date, max, buckets) = row.map_err(&fail)?;
            match (date.parse::<NaiveDate>(), Histogram::from_text(&buckets, max)) {
                (Ok(date), Some(premiums)) => out.push(DayStats { underlying, date, premiums }),
                _ => {
                    log::warn!(
                        underlying = underlying,
                        date = date,
                        reason = "unreadable row";
                        "flow_history_skipped"
                    )
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    fn stats(underlying: &str, date: &str, premiums: &[f64]) -> DayStats {
        let mut h = Histogram::default();
        for p in premiums {
            h.add(*p);
        }
        DayStats { underlying: underlying.into(), date: d(date), premiums: h }
    }

    #[test]
    fn keeps_the_last_sessions_and_prunes_the_rest() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::CreateDir { dir: "tmp".into(), cause: e })?;
        let mut store = Store::open(&dir.path().join("s.db"))?;
        let now: DateTime<Utc> = "2026-03-12T20:00:00Z".parse().unwrap_or_default();
        for date in ["2026-03-05", "2026-03-06", "2026-03-09", "2026-03-10", "2026-03-11"] {
            store.save_flow_stats(&stats("SPY", date, &[1000.0]), now)?;
        }
        // A later save of the same date replaces the row.
        store.save_flow_stats(&stats("SPY", "2026-03-11", &[1000.0, 2e6]), now)?;
        store.save_flow_stats(&stats("QQQ", "2026-03-11", &[5000.0]), now)?;
        store.save_flow_stats(&stats("SPY", "2026-03-12", &[7.0]), now)?;

        let got = store.flow_history(d("2026-03-12"), 2)?;
        let keys: Vec<(String, String, u64)> =
            got.iter().map(|s| (s.underlying.clone(), s.date.to_string(), s.premiums.total())).collect();
        assert_eq!(
            keys,
            vec![
                ("SPY".into(), "2026-03-10".into(), 1),
                ("QQQ".into(), "2026-03-11".into(), 1),
                ("SPY".into(), "2026-03-11".into(), 2),
            ]
        );
        assert_eq!(got[2].premiums.max(), 2e6);
        // The older dates are gone; today's row stays.
        assert_eq!(store.flow_history(d("2026-03-12"), 60)?.len(), 3);
        assert_eq!(store.flow_history(d("2026-03-13"), 60)?.len(), 4);
        Ok(())
    }
}
