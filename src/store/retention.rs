//! Retention: what the daily `prune` job deletes, how the file gives the
//! space back, and the alert counters that must not go down when alerts are
//! deleted.
//!
//! Run records, processing errors, open-interest readings and cooldowns
//! only matter while recent; alerts and their outcomes are the report's
//! history and are deleted only when an alert retention is set. The file is
//! in `auto_vacuum = INCREMENTAL` mode, so pages freed by a prune go back
//! to the file system by `PRAGMA incremental_vacuum` without rewriting the
//! whole file (a full `VACUUM` needs twice the space, which a full disk
//! does not have).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::{Store, StoreError, sql_error, ts};

/// The `cursors` row prefix under which the alerts deleted per bot are
/// counted, so `orakl_alerts_total` stays monotonic across pruning.
const PRUNED_PREFIX: &str = "pruned_alerts:";

/// What a prune deleted, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub runs: usize,
    pub processing_errors: usize,
    pub cooldowns: usize,
    pub open_interest: usize,
    pub alerts: usize,
    pub outcomes: usize,
    /// Episode edits (delivered or given up) and closed episodes.
    pub episodes: usize,
}

impl Pruned {
    pub fn total(&self) -> usize {
        self.runs
            + self.processing_errors
            + self.cooldowns
            + self.open_interest
            + self.alerts
            + self.outcomes
            + self.episodes
    }
}

/// SQLite's `auto_vacuum` value for INCREMENTAL.
const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// Puts the file in incremental auto-vacuum mode. A new file gets it before
/// its first table (the only time the mode can simply be set); an existing
/// file made before needs one `VACUUM` to switch, done once when the
/// service opens it.
pub(super) fn ensure_incremental_vacuum(conn: &Connection, path: &std::path::Path) -> Result<(), StoreError> {
    let fail = sql_error(path, "set auto_vacuum");
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0)).map_err(&fail)?;
    if mode == AUTO_VACUUM_INCREMENTAL {
        return Ok(());
    }
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(&fail)?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(&fail)?;
    if tables > 0 {
        conn.execute_batch("VACUUM").map_err(sql_error(path, "vacuum to switch auto_vacuum"))?;
        log::info!(path:% = path.display(), mode = "incremental", action = "vacuumed_once"; "store_auto_vacuum");
    }
    Ok(())
}

impl Store {
    /// Deletes runs (keeping each job's latest, which `status` shows),
    /// processing errors and open-interest readings from before `before`,
    /// and cooldowns that ended before it; with `alerts_before`, also the
    /// alerts (not pending ones) from before then with their outcomes and
    /// cooldowns, adding them to the per-bot pruned counts first.
    pub fn prune(
        &mut self,
        before: DateTime<Utc>,
        alerts_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Pruned, StoreError> {
        let fail = sql_error(&self.path, "prune old records");
        let cutoff = ts(before);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&fail)?;
        let mut p = Pruned {
            runs: tx
                .execute(
                    "DELETE FROM runs AS r WHERE finished_at < ?1
                     AND id <> (SELECT id FROM runs WHERE job = r.job ORDER BY started_at DESC, id DESC LIMIT 1)",
                    [&cutoff],
                )
                .map_err(&fail)?,
            processing_errors: tx.execute("DELETE FROM processing_errors WHERE at < ?1", [&cutoff]).map_err(&fail)?,
            cooldowns: tx.execute("DELETE FROM cooldowns WHERE until < ?1", [&cutoff]).map_err(&fail)?,
            open_interest: tx.execute("DELETE FROM open_interest WHERE recorded_at < ?1", [&cutoff]).map_err(&fail)?,
            // An episode closes EPISODE_MINUTES after its last hit: one
            // untouched for the whole retention window is long closed.
            episodes: tx
                .execute("DELETE FROM episode_updates WHERE at < ?1 AND status <> 'pending'", [&cutoff])
                .map_err(&fail)?
                + tx.execute("DELETE FROM episodes WHERE last_hit_at < ?1", [&cutoff]).map_err(&fail)?,
            ..Pruned::default()
        };
        if let Some(alerts_before) = alerts_before {
            let cutoff = ts(alerts_before);
            let old = "SELECT id FROM alerts WHERE at < ?1 AND status <> 'pending'";
            // Counted before they go, so the totals never go down.
            tx.execute(
                &format!(
                    "INSERT INTO cursors (name, value, updated_at)
                     SELECT '{PRUNED_PREFIX}' || bot, CAST(count(*) AS TEXT), ?2 FROM alerts
                     WHERE at < ?1 AND status <> 'pending' GROUP BY bot
                     ON CONFLICT (name) DO UPDATE SET
                       value = CAST(CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER) AS TEXT),
                       updated_at = excluded.updated_at"
                ),
                params![cutoff, ts(now)],
            )
            .map_err(&fail)?;
            p.cooldowns +=
                tx.execute(&format!("DELETE FROM cooldowns WHERE alert_id IN ({old})"), [&cutoff]).map_err(&fail)?;
            p.outcomes =
                tx.execute(&format!("DELETE FROM outcomes WHERE alert_id IN ({old})"), [&cutoff]).map_err(&fail)?;
            // The episodes and edits of the alerts that go (their foreign keys).
            p.episodes += tx
                .execute(&format!("DELETE FROM episode_updates WHERE post_id IN ({old})"), [&cutoff])
                .map_err(&fail)?;
            p.episodes +=
                tx.execute(&format!("DELETE FROM episodes WHERE post_id IN ({old})"), [&cutoff]).map_err(&fail)?;
            p.alerts =
                tx.execute("DELETE FROM alerts WHERE at < ?1 AND status <> 'pending'", [&cutoff]).map_err(&fail)?;
        }
        tx.commit().map_err(&fail)?;
        Ok(p)
    }

    /// Gives the pages freed by deletes back to the file system; returns
    /// the pages freed.
    pub fn incremental_vacuum(&mut self) -> Result<i64, StoreError> {
        let fail = sql_error(&self.path, "incremental vacuum");
        let free = |conn: &Connection| conn.pragma_query_value(None, "freelist_count", |r| r.get::<_, i64>(0));
        let before = free(&self.conn).map_err(&fail)?;
        // The pragma frees pages as its statement is stepped: step it to
        // the end (one `execute` would free only the first).
        let mut stmt = self.conn.prepare("PRAGMA incremental_vacuum").map_err(&fail)?;
        let mut rows = stmt.query([]).map_err(&fail)?;
        while rows.next().map_err(&fail)?.is_some() {}
        drop(rows);
        drop(stmt);
        Ok(before - free(&self.conn).map_err(&fail)?)
    }

    /// Alerts ever committed per bot: those in the table plus those pruned,
    /// so the count never goes down (`orakl_alerts_total`).
    pub fn alert_totals_by_bot(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut totals = self.alert_counts_by_bot(None)?;
        let fail = sql_error(&self.path, "read pruned alert counts");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT substr(name, ?2), value FROM cursors WHERE name LIKE ?1 ORDER BY name")
            .map_err(&fail)?;
        let prefix_len = i64::try_from(PRUNED_PREFIX.len() + 1).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![format!("{PRUNED_PREFIX}%"), prefix_len], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(&fail)?;
        for row in rows {
            let (bot, n) = row.map_err(&fail)?;
            *totals.entry(bot).or_default() += n.parse::<u64>().unwrap_or(0);
        }
        Ok(totals)
    }
}
