//! The alert outbox and the cooldowns it sets.
//!
//! An alert is written as `pending` in the same transaction that sets its
//! cooldown, and only then sent, so a crash can never leave a cooldown
//! without its alert or an alert posted without a record of it. From
//! `pending` an alert moves once, to `sent`, `failed` or `expired`.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Params, TransactionBehavior, params};

use super::entry::{AlertStatus, ENTRY_COLUMNS, OutboxEntry, RawEntry};
use super::{Store, StoreError, Ts, bounded, sql_error, ts};
use crate::alert::Alert;
use crate::engine::episode::Episode;
use crate::job::Bot;
use crate::outcomes::Plan;

/// The cooldown an alert sets for its bot, written with the alert.
#[derive(Debug, Clone, PartialEq)]
pub struct CooldownSet {
    pub key: String,
    pub until: DateTime<Utc>,
    /// The premium that fired, so a much larger repeat can break through.
    pub premium: Option<f64>,
}

/// A cooldown as stored; whether it still holds is the caller's decision
/// against its own `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cooldown {
    pub until: DateTime<Utc>,
    pub premium: Option<f64>,
    pub alert_id: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
    pub expired: u64,
}

impl Store {
    /// Writes `alert` as `pending`, sets its cooldown (for the alert's bot)
    /// and opens the outcome of its `plan`, in one transaction. Returns
    /// false, changing nothing, when an alert with the same id already
    /// exists: the same event never fires twice, and the first alert's
    /// cooldown and outcome stand.
    pub fn commit_alert(
        &mut self,
        alert: &Alert,
        cooldown: Option<&CooldownSet>,
        plan: Option<&Plan>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.commit_post(alert, cooldown, plan, None, now)
    }

    /// [`Store::commit_alert`], with the episode the alert posts for (a
    /// new episode, or an escalation of one) written in the same
    /// transaction.
    pub fn commit_post(
        &mut self,
        alert: &Alert,
        cooldown: Option<&CooldownSet>,
        plan: Option<&Plan>,
        episode: Option<&Episode>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let state = episode.map(|e| self.episode_state(e)).transpose()?;
        let payload = serde_json::to_string(alert).map_err(|cause| StoreError::Payload {
            path: self.path.clone(),
            id: alert.id.clone(),
            cause,
        })?;
        let fail = sql_error(&self.path, "commit alert");
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&fail)?;
        let inserted = tx
            .execute(
                "INSERT INTO alerts (id, bot, ticker, contract, at, created_at, status, status_at, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?6, ?7)
                 ON CONFLICT (id) DO NOTHING",
                params![alert.id, alert.bot.as_str(), alert.ticker, alert.contract, ts(alert.at), ts(now), payload],
            )
            .map_err(&fail)?;
        if inserted == 0 {
            return Ok(false);
        }
        if let Some(c) = cooldown {
            tx.execute(
                "INSERT INTO cooldowns (bot, key, until, premium, alert_id) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (bot, key) DO UPDATE
                 SET until = excluded.until, premium = excluded.premium, alert_id = excluded.alert_id",
                params![alert.bot.as_str(), c.key, ts(c.until), c.premium, alert.id],
            )
            .map_err(&fail)?;
        }
        if let Some(p) = plan {
            super::outcomes::insert_plan(&tx, &alert.id, p).map_err(&fail)?;
        }
        if let (Some(e), Some(state)) = (episode, &state) {
            upsert_episode(&tx, e, state).map_err(&fail)?;
        }
        tx.commit().map_err(&fail)?;
        Ok(true)
    }

    /// The episode's state as stored text (checked before a transaction
    /// opens, so a payload error never leaves one half done).
    pub(super) fn episode_state(&self, episode: &Episode) -> Result<String, StoreError> {
        serde_json::to_string(episode).map_err(|cause| StoreError::Payload {
            path: self.path.clone(),
            id: episode.post_id.clone(),
            cause,
        })
    }

    pub fn cooldown(&self, bot: Bot, key: &str) -> Result<Option<Cooldown>, StoreError> {
        let fail = sql_error(&self.path, "read cooldown");
        self.conn
            .prepare_cached("SELECT until, premium, alert_id FROM cooldowns WHERE bot = ?1 AND key = ?2")
            .map_err(&fail)?
            .query_row(params![bot.as_str(), key], |r| {
                Ok(Cooldown { until: r.get::<_, Ts>(0)?.0, premium: r.get(1)?, alert_id: r.get(2)? })
            })
            .optional()
            .map_err(&fail)
    }

    /// Alerts still to be sent, oldest first.
    pub fn pending_alerts(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.entries(
            "read pending alerts",
            &format!("SELECT {ENTRY_COLUMNS} FROM alerts WHERE status = 'pending' ORDER BY created_at, rowid"),
            [],
        )
    }

    /// Every alert whose own time is at or after `since`, in time order,
    /// with its delivery state (for reports and exports).
    pub fn alerts_since(&self, since: DateTime<Utc>) -> Result<Vec<OutboxEntry>, StoreError> {
        self.entries(
            "read alerts",
            &format!("SELECT {ENTRY_COLUMNS} FROM alerts WHERE at >= ?1 ORDER BY at, rowid"),
            [ts(since)],
        )
    }

    pub fn alert_status(&self, id: &str) -> Result<Option<AlertStatus>, StoreError> {
        let fail = sql_error(&self.path, "read alert status");
        self.conn
            .prepare_cached("SELECT status FROM alerts WHERE id = ?1")
            .map_err(&fail)?
            .query_row([id], |r| r.get(0))
            .optional()
            .map_err(&fail)
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let fail = sql_error(&self.path, "count alerts");
        let mut stmt =
            self.conn.prepare_cached("SELECT status, count(*) FROM alerts GROUP BY status").map_err(&fail)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, AlertStatus>(0)?, r.get::<_, u64>(1)?))).map_err(&fail)?;
        let mut counts = OutboxCounts::default();
        for row in rows {
            let (status, n) = row.map_err(&fail)?;
            match status {
                AlertStatus::Pending => counts.pending = n,
                AlertStatus::Sent => counts.sent = n,
                AlertStatus::Failed => counts.failed = n,
                AlertStatus::Expired => counts.expired = n,
            }
        }
        Ok(counts)
    }

    /// Counts a try of a pending alert that did not deliver (a 429, a 5xx, a
    /// timeout) and keeps its error for `status`.
    pub fn record_attempt(&mut self, id: &str, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.leave_pending(
            "record delivery attempt",
            id,
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, last_attempt_at = ?3
             WHERE id = ?1 AND status = 'pending'",
            params![id, bounded(error), ts(now)],
        )
    }

    pub fn mark_sent(&mut self, id: &str, message_id: Option<&str>, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.mark_embed_sent(id, message_id, None, now)
    }

    /// Marks `id` sent as embed `embed_index` of message `message_id` (None:
    /// posted alone).
    pub fn mark_embed_sent(
        &mut self,
        id: &str,
        message_id: Option<&str>,
        embed_index: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.leave_pending("mark alert sent", id, MARK_SENT, params![id, message_id, ts(now), embed_index])
    }

    /// Marks the alerts `ids`, posted together as the embeds of one message
    /// in this order, sent with the message's id, all or none: one
    /// transaction, so a crash leaves the whole batch pending (and posted
    /// again, the window between Discord's 200 and the commit) or sent.
    /// A single id is an alert posted alone ([`Store::mark_sent`]).
    pub fn mark_batch_sent(
        &mut self,
        ids: &[String],
        message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let [id] = ids {
            return self.mark_sent(id, message_id, now);
        }
        let op = "mark batch sent";
        let fail = sql_error(&self.path, op);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&fail)?;
        let mut unchanged = None;
        {
            let mut stmt = tx.prepare_cached(MARK_SENT).map_err(&fail)?;
            for (i, id) in ids.iter().enumerate() {
                let index = u32::try_from(i).ok();
                if stmt.execute(params![id, message_id, ts(now), index]).map_err(&fail)? != 1 {
                    unchanged = Some(id.clone());
                    break;
                }
            }
        }
        if let Some(id) = unchanged {
            // Rolled back (the transaction is dropped): nothing of the
            // batch is marked, as for a single alert.
            drop(tx);
            return Err(self.not_left_pending(op, &id)?);
        }
        tx.commit().map_err(&fail)
    }

    /// The alerts posted together in message `message_id` (a batch), in the
    /// message's order; empty for a message that posted one alert alone.
    pub fn message_alerts(&self, message_id: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        self.entries(
            "read a message's alerts",
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM alerts WHERE message_id = ?1 AND embed_index IS NOT NULL
                 ORDER BY embed_index"
            ),
            [message_id],
        )
    }

    /// Gives up on an alert for good (a 4xx other than 429, a retired
    /// webhook, retries exhausted), keeping the reason.
    pub fn mark_failed(&mut self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.leave_pending(
            "mark alert failed",
            id,
            "UPDATE alerts SET status = 'failed', status_at = ?3, last_error = ?2
             WHERE id = ?1 AND status = 'pending'",
            params![id, bounded(reason), ts(now)],
        )
    }

    pub fn mark_expired(&mut self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.leave_pending(
            "mark alert expired",
            id,
            "UPDATE alerts SET status = 'expired', status_at = ?2 WHERE id = ?1 AND status = 'pending'",
            params![id, ts(now)],
        )
    }

    /// Marks `expired` every pending alert committed before `cutoff`: news
    /// that old is no longer worth posting. Returns their ids, oldest first.
    pub fn expire_pending_older_than(
        &mut self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let fail = sql_error(&self.path, "expire old pending alerts");
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&fail)?;
        let ids = {
            let mut stmt = tx
                .prepare(
                    "SELECT id FROM alerts WHERE status = 'pending' AND created_at < ?1 ORDER BY created_at, rowid",
                )
                .map_err(&fail)?;
            let rows = stmt.query_map([ts(cutoff)], |r| r.get::<_, String>(0)).map_err(&fail)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(&fail)?
        };
        tx.execute(
            "UPDATE alerts SET status = 'expired', status_at = ?2 WHERE status = 'pending' AND created_at < ?1",
            params![ts(cutoff), ts(now)],
        )
        .map_err(&fail)?;
        tx.commit().map_err(&fail)?;
        Ok(ids)
    }

    /// Runs an update guarded by `status = 'pending'`; when it touches no
    /// row, says whether the alert is missing or already settled.
    fn leave_pending(&mut self, op: &'static str, id: &str, sql: &str, params: impl Params) -> Result<(), StoreError> {
        let changed = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .map_err(sql_error(&self.path, op))?;
        if changed == 1 {
            return Ok(());
        }
        Err(self.not_left_pending(op, id)?)
    }

    /// Why a pending-guarded update of `id` touched no row: the alert is
    /// missing or already settled.
    fn not_left_pending(&self, op: &'static str, id: &str) -> Result<StoreError, StoreError> {
        Ok(match self.alert_status(id)? {
            None => StoreError::UnknownAlert { path: self.path.clone(), op, id: id.to_string() },
            Some(status) => StoreError::NotPending { path: self.path.clone(), op, id: id.to_string(), status },
        })
    }

    fn entries(&self, op: &'static str, sql: &str, params: impl Params) -> Result<Vec<OutboxEntry>, StoreError> {
        let fail = sql_error(&self.path, op);
        let mut stmt = self.conn.prepare_cached(sql).map_err(&fail)?;
        let rows = stmt.query_map(params, RawEntry::from_row).map_err(&fail)?;
        let mut entries = Vec::new();
        for row in rows {
            entries.push(self.decode(row.map_err(&fail)?)?);
        }
        Ok(entries)
    }
}

const MARK_SENT: &str =
    "UPDATE alerts SET status = 'sent', status_at = ?3, sent_at = ?3, message_id = ?2, embed_index = ?4
     WHERE id = ?1 AND status = 'pending'";

/// Writes (or replaces) `episode` inside `tx`.
pub(super) fn upsert_episode(
    tx: &rusqlite::Transaction<'_>,
    episode: &Episode,
    state: &str,
) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO episodes (bot, key, post_id, last_hit_at, state) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (bot, key) DO UPDATE
         SET post_id = excluded.post_id, last_hit_at = excluded.last_hit_at, state = excluded.state",
        params![episode.bot.as_str(), episode.key, episode.post_id, ts(episode.last_hit_at), state],
    )
}
