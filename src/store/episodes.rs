//! Episodes and the edits of their messages (SPEC §6 "One alert per move").
//!
//! An episode is written with the hit that changed it: with its post in
//! [`Store::commit_post`], with a joining hit in [`Store::commit_update`],
//! which also writes the edit (status `pending`) and the hit's cooldown in
//! the same transaction, so a crash never leaves a hit counted without its
//! edit or an edit without its hit. Edits then go through the same states
//! as alerts: from `pending` once to `sent`, `failed` or `expired`.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::entry::{ENTRY_COLUMNS, OutboxEntry, RawEntry};
use super::outbox::{CooldownSet, upsert_episode};
use super::{Store, StoreError, Ts, bounded, sql_error, ts};
use crate::engine::episode::{Episode, Update};

/// What [`Store::commit_update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The hit, its edit, its cooldown and the episode are written.
    Committed,
    /// An edit or an alert with this id exists: the same hit was seen
    /// again; nothing changed.
    Duplicate,
    /// The episode's post is not in the outbox (it was never committed):
    /// nothing changed, and the caller forgets the episode.
    NoPost,
}

/// A pending edit, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateEntry {
    pub update: Update,
    pub created_at: DateTime<Utc>,
}

fn payload<T: serde::Serialize>(store: &Store, id: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|cause| StoreError::Payload {
        path: store.path.clone(),
        id: id.to_string(),
        cause,
    })
}

impl Store {
    /// Commits a hit that joined `episode`: its edit `update` as
    /// `pending`, the episode's new state and the hit's cooldown (held by
    /// the episode's post), in one transaction.
    pub fn commit_update(
        &mut self,
        update: &Update,
        episode: &Episode,
        cooldown: Option<&CooldownSet>,
        now: DateTime<Utc>,
    ) -> Result<Joined, StoreError> {
        let body = payload(self, &update.id, update)?;
        let state = self.episode_state(episode)?;
        let fail = sql_error(&self.path, "commit episode update");
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&fail)?;
        let post: Option<String> = tx
            .query_row("SELECT id FROM alerts WHERE id = ?1", [&update.update_of], |r| r.get(0))
            .optional()
            .map_err(&fail)?;
        if post.is_none() {
            return Ok(Joined::NoPost);
        }
        // The hit was posted before (a replay from the tape's start after a
        // restart meets it again): it is not a new hit of the episode.
        let posted: Option<String> = tx
            .query_row("SELECT id FROM alerts WHERE id = ?1", [&update.id], |r| r.get(0))
            .optional()
            .map_err(&fail)?;
        if posted.is_some() {
            return Ok(Joined::Duplicate);
        }
        let inserted = tx
            .execute(
                "INSERT INTO episode_updates (id, post_id, bot, at, created_at, status, status_at, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?5, ?6)
                 ON CONFLICT (id) DO NOTHING",
                params![update.id, update.update_of, update.bot.as_str(), ts(update.at), ts(now), body],
            )
            .map_err(&fail)?;
        if inserted == 0 {
            return Ok(Joined::Duplicate);
        }
        upsert_episode(&tx, episode, &state).map_err(&fail)?;
        if let Some(c) = cooldown {
            tx.execute(
                "INSERT INTO cooldowns (bot, key, until, premium, alert_id) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (bot, key) DO UPDATE
                 SET until = excluded.until, premium = excluded.premium, alert_id = excluded.alert_id",
                params![update.bot.as_str(), c.key, ts(c.until), c.premium, update.update_of],
            )
            .map_err(&fail)?;
        }
        tx.commit().map_err(&fail)?;
        Ok(Joined::Committed)
    }

    /// Episodes whose last hit is at or after `since`: the ones a restart
    /// at `since + EPISODE_MINUTES` keeps open.
    pub fn open_episodes(&self, since: DateTime<Utc>) -> Result<Vec<Episode>, StoreError> {
        let fail = sql_error(&self.path, "read open episodes");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT post_id, state FROM episodes WHERE last_hit_at >= ?1 ORDER BY bot, key")
            .map_err(&fail)?;
        let rows =
            stmt.query_map([ts(since)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(&fail)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, state) = row.map_err(&fail)?;
            let e = serde_json::from_str(&state).map_err(|cause| StoreError::Payload {
                path: self.path.clone(),
                id,
                cause,
            })?;
            out.push(e);
        }
        Ok(out)
    }

    /// Edits still to be made, oldest first.
    pub fn pending_updates(&self) -> Result<Vec<UpdateEntry>, StoreError> {
        self.update_rows(
            "read pending episode updates",
            "SELECT id, payload, created_at FROM episode_updates WHERE status = 'pending' ORDER BY created_at, rowid",
            None,
        )
    }

    /// The latest edit of `post_id`'s message that was made (`sent`): what
    /// the message shows of its episode, to keep when another embed of the
    /// same message is edited.
    pub fn latest_sent_update(&self, post_id: &str) -> Result<Option<Update>, StoreError> {
        let rows = self.update_rows(
            "read the latest sent episode update",
            "SELECT id, payload, created_at FROM episode_updates WHERE post_id = ?1 AND status = 'sent'
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
            Some(post_id.to_string()),
        )?;
        Ok(rows.into_iter().next().map(|e| e.update))
    }

    /// Every edit whose hit is at or after `since`, in time order (replay,
    /// `orakl evaluate`).
    pub fn updates_since(&self, since: DateTime<Utc>) -> Result<Vec<Update>, StoreError> {
        let rows = self.update_rows(
            "read episode updates",
            "SELECT id, payload, created_at FROM episode_updates WHERE at >= ?1 ORDER BY at, rowid",
            Some(ts(since)),
        )?;
        Ok(rows.into_iter().map(|e| e.update).collect())
    }

    fn update_rows(&self, op: &'static str, sql: &str, arg: Option<String>) -> Result<Vec<UpdateEntry>, StoreError> {
        let fail = sql_error(&self.path, op);
        let mut stmt = self.conn.prepare_cached(sql).map_err(&fail)?;
        let map = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Ts>(2)?));
        let rows: Vec<(String, String, Ts)> = match arg {
            Some(a) => stmt.query_map([a], map).map_err(&fail)?.collect::<Result<_, _>>(),
            None => stmt.query_map([], map).map_err(&fail)?.collect::<Result<_, _>>(),
        }
        .map_err(&fail)?;
        rows.into_iter()
            .map(|(id, body, created)| {
                let update = serde_json::from_str(&body).map_err(|cause| StoreError::Payload {
                    path: self.path.clone(),
                    id,
                    cause,
                })?;
                Ok(UpdateEntry { update, created_at: created.0 })
            })
            .collect()
    }

    /// One alert with its delivery state (an edit's post).
    pub fn alert_entry(&self, id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let fail = sql_error(&self.path, "read alert");
        let raw = self
            .conn
            .prepare_cached(&format!("SELECT {ENTRY_COLUMNS} FROM alerts WHERE id = ?1"))
            .map_err(&fail)?
            .query_row([id], RawEntry::from_row)
            .optional()
            .map_err(&fail)?;
        raw.map(|r| self.decode(r)).transpose()
    }

    /// Marks pending edits `sent` (the latest of a message's edits was
    /// made; the earlier ones are in it).
    pub fn mark_updates_sent(&mut self, ids: &[String], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.settle_updates("mark episode updates sent", ids, "status = 'sent', status_at = ?2", None, now)
    }

    /// Gives up on pending edits for good (the message was deleted, the
    /// post never went out, Discord refused the edit), keeping the reason.
    pub fn mark_updates_failed(&mut self, ids: &[String], reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.settle_updates(
            "mark episode updates failed",
            ids,
            "status = 'failed', status_at = ?2, last_error = ?3",
            Some(reason),
            now,
        )
    }

    /// Counts a try that did not deliver (a 429, a 5xx, a timeout).
    pub fn record_update_attempt(&mut self, ids: &[String], error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.settle_updates(
            "record episode update attempt",
            ids,
            "attempts = attempts + 1, last_attempt_at = ?2, last_error = ?3",
            Some(error),
            now,
        )
    }

    fn settle_updates(
        &mut self,
        op: &'static str,
        ids: &[String],
        set: &str,
        text: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let fail = sql_error(&self.path, op);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&fail)?;
        {
            let sql = format!("UPDATE episode_updates SET {set} WHERE id = ?1 AND status = 'pending'");
            let mut stmt = tx.prepare(&sql).map_err(&fail)?;
            for id in ids {
                match text {
                    Some(t) => stmt.execute(params![id, ts(now), bounded(t)]),
                    None => stmt.execute(params![id, ts(now)]),
                }
                .map_err(&fail)?;
            }
        }
        tx.commit().map_err(&fail)
    }

    /// Marks `expired` every pending edit committed before `cutoff`, as
    /// alerts expire. Returns their ids, oldest first.
    pub fn expire_updates_older_than(
        &mut self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let fail = sql_error(&self.path, "expire old episode updates");
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&fail)?;
        let ids = {
            let mut stmt = tx
                .prepare(
                    "SELECT id FROM episode_updates WHERE status = 'pending' AND created_at < ?1
                     ORDER BY created_at, rowid",
                )
                .map_err(&fail)?;
            let rows = stmt.query_map([ts(cutoff)], |r| r.get::<_, String>(0)).map_err(&fail)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(&fail)?
        };
        tx.execute(
            "UPDATE episode_updates SET status = 'expired', status_at = ?2 WHERE status = 'pending' AND created_at < ?1",
            params![ts(cutoff), ts(now)],
        )
        .map_err(&fail)?;
        tx.commit().map_err(&fail)?;
        Ok(ids)
    }
}
