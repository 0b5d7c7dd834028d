//! The schema, as a list of forward-only steps. Step `i` takes a file from
//! `user_version` `i` to `i + 1`; a released step is never edited, a change
//! is a new step appended at the end.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const MIGRATIONS: &[&str] = &[V1, V2, V3, super::flow_history::SCHEMA, V5, V6];

/// Every table is STRICT so a wrongly typed value is an error at the write,
/// not a surprise at a later read. Times are RFC 3339 UTC text (see the
/// module docs), dates `YYYY-MM-DD`.
const V1: &str = "
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY NOT NULL,
    bot             TEXT NOT NULL,
    ticker          TEXT NOT NULL,
    contract        TEXT,
    at              TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'expired')),
    status_at       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_attempt_at TEXT,
    last_error      TEXT,
    message_id      TEXT,
    sent_at         TEXT,
    payload         TEXT NOT NULL
) STRICT;
CREATE INDEX alerts_by_status ON alerts (status, created_at);
CREATE INDEX alerts_by_at ON alerts (at);

CREATE TABLE cooldowns (
    bot      TEXT NOT NULL,
    key      TEXT NOT NULL,
    until    TEXT NOT NULL,
    premium  REAL,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    PRIMARY KEY (bot, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX cooldowns_by_alert ON cooldowns (alert_id);

CREATE TABLE outcomes (
    alert_id          TEXT PRIMARY KEY NOT NULL REFERENCES alerts (id),
    kind              TEXT NOT NULL CHECK (kind IN ('premium', 'underlying')),
    direction         TEXT NOT NULL CHECK (direction IN ('long', 'short')),
    entry             REAL NOT NULL,
    stop              REAL NOT NULL,
    t1                REAL NOT NULL,
    t2                REAL,
    status            TEXT NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 't1', 't2', 'stopped', 'expired')),
    opened_at         TEXT NOT NULL,
    resolved_at       TEXT,
    mfe               REAL,
    mae               REAL,
    last_checked_at   TEXT,
    opening_confirmed INTEGER CHECK (opening_confirmed IN (0, 1)),
    oi_seen           REAL
) STRICT;
CREATE INDEX outcomes_by_status ON outcomes (status);

CREATE TABLE cursors (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE open_interest (
    contract    TEXT NOT NULL,
    date        TEXT NOT NULL,
    oi          REAL NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (contract, date)
) STRICT, WITHOUT ROWID;

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    job           TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    result        TEXT NOT NULL CHECK (result IN ('ok', 'error', 'skipped')),
    detail        TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX runs_by_job ON runs (job, started_at);

CREATE TABLE processing_errors (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    component TEXT NOT NULL,
    symbol    TEXT,
    message   TEXT NOT NULL
) STRICT;
CREATE INDEX processing_errors_by_at ON processing_errors (at);

CREATE TABLE webhooks_retired (
    webhook_id TEXT PRIMARY KEY NOT NULL,
    at         TEXT NOT NULL,
    reason     TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE features_disabled (
    name   TEXT PRIMARY KEY NOT NULL,
    at     TEXT NOT NULL,
    reason TEXT NOT NULL
) STRICT, WITHOUT ROWID;
";

/// The heartbeat's latest view of the service (API usage, caches, health),
/// one row, for `orakl status` and `orakl health` in other processes; and
/// an index for "each job's last successful run" (health's staleness).
const V2: &str = "
CREATE TABLE heartbeat_snapshot (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    at      TEXT NOT NULL,
    payload TEXT NOT NULL
) STRICT;
CREATE INDEX runs_by_job_result ON runs (job, result, scheduled_for);
";

/// Limit entries (filled only when touched after the alert) and R-multiples.
/// Every plan stored before this step was measured from its alert: filled then.
const V3: &str = "
ALTER TABLE outcomes ADD COLUMN limit_entry INTEGER NOT NULL DEFAULT 0 CHECK (limit_entry IN (0, 1));
ALTER TABLE outcomes ADD COLUMN filled_at TEXT;
ALTER TABLE outcomes ADD COLUMN r_multiple REAL;
UPDATE outcomes SET filled_at = opened_at;
";

/// One alert per move (SPEC §6): each family's open episodes (the state
/// as JSON, keyed like the engine's book) and the edits of their posted
/// messages, an outbox of their own with the alerts' delivery states.
const V5: &str = "
CREATE TABLE episodes (
    bot         TEXT NOT NULL,
    key         TEXT NOT NULL,
    post_id     TEXT NOT NULL REFERENCES alerts (id),
    last_hit_at TEXT NOT NULL,
    state       TEXT NOT NULL,
    PRIMARY KEY (bot, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX episodes_by_last_hit ON episodes (last_hit_at);

CREATE TABLE episode_updates (
    id              TEXT PRIMARY KEY NOT NULL,
    post_id         TEXT NOT NULL REFERENCES alerts (id),
    bot             TEXT NOT NULL,
    at              TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'expired')),
    status_at       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_attempt_at TEXT,
    last_error      TEXT,
    payload         TEXT NOT NULL
) STRICT;
CREATE INDEX episode_updates_by_status ON episode_updates (status, created_at);
CREATE INDEX episode_updates_by_at ON episode_updates (at);
CREATE INDEX episode_updates_by_post ON episode_updates (post_id);
";

/// Several alerts posted in one message (a backlog batched, up to 10
/// embeds): each keeps the message's id and its place among the message's
/// embeds, so an edit of one re-renders the whole message in its order.
/// NULL for an alert posted alone, as every alert before this step was.
const V6: &str = "
ALTER TABLE alerts ADD COLUMN embed_index INTEGER CHECK (embed_index BETWEEN 0 AND 9);
CREATE INDEX alerts_by_message ON alerts (message_id) WHERE message_id IS NOT NULL;
";

/// Refuses a file whose version this build does not know, rather than
/// reading (or worse, writing) a schema it does not understand.
pub(super) fn check_version(path: &Path, found: i64) -> Result<(), StoreError> {
    if (0..=SCHEMA_VERSION).contains(&found) {
        Ok(())
    } else {
        Err(StoreError::UnknownVersion { path: path.to_path_buf(), found, known: SCHEMA_VERSION })
    }
}

/// Applies the missing steps, each in its own transaction with the version
/// bump, so a crash leaves the file at a whole version. The version is read
/// again under the write lock because another process may have migrated
/// the file meanwhile.
pub(super) fn run(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        let opening = |cause| StoreError::opening(path, cause);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(opening)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(opening)?;
        check_version(path, version)?;
        let Some(step) = usize::try_from(version).ok().and_then(|i| MIGRATIONS.get(i)) else {
            return Ok(());
        };
        let next = version + 1;
        let fail = |cause| StoreError::Migrate { path: path.to_path_buf(), version: next, cause };
        tx.execute_batch(step).map_err(fail)?;
        tx.pragma_update(None, "user_version", next).map_err(fail)?;
        tx.commit().map_err(fail)?;
        log::info!(path:% = path.display(), version = next; "store_migrated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file written by the previous version, with an alert posted alone,
    /// upgrades in place: the alert keeps its message id, with no place in
    /// a batch.
    #[test]
    fn a_version_5_file_upgrades_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        let mut conn = Connection::open(&path).unwrap();
        for (i, step) in MIGRATIONS[..5].iter().enumerate() {
            conn.execute_batch(step).unwrap();
            conn.pragma_update(None, "user_version", i as i64 + 1).unwrap();
        }
        conn.execute(
            "INSERT INTO alerts (id, bot, ticker, at, created_at, status, status_at, message_id, payload)
             VALUES ('a', 'sweeps', 'SPY', 't', 't', 'sent', 't', '42', '{}')",
            [],
        )
        .unwrap();
        run(&mut conn, &path).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let row: (String, Option<i64>) = conn
            .query_row("SELECT message_id, embed_index FROM alerts WHERE id = 'a'", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(row, ("42".to_string(), None));
    }
}
