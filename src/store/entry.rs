//! An alert row as the outbox keeps it: its delivery status, and the entry
//! read back. The outbox writes these rows and the outcome queries join
//! them; both read them through here, so neither depends on the other.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::{Store, StoreError, Ts};
use crate::alert::Alert;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertStatus {
    Pending,
    Sent,
    Failed,
    Expired,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 4] =
        [AlertStatus::Pending, AlertStatus::Sent, AlertStatus::Failed, AlertStatus::Expired];

    /// The name stored in the database and shown in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Sent => "sent",
            AlertStatus::Failed => "failed",
            AlertStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AlertStatus::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| format!("unknown alert status `{s}`"))
    }
}

impl ToSql for AlertStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for AlertStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

/// An alert with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub alert: Alert,
    pub status: AlertStatus,
    /// When the alert was committed; its age decides whether a restart
    /// still delivers it.
    pub created_at: DateTime<Utc>,
    /// Tries that did not deliver (see [`Store::record_attempt`]).
    pub attempts: u32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Discord's id of the posted message.
    pub message_id: Option<String>,
    /// The alert's place among the embeds of its message when it was posted
    /// with others (a batch); None when it was posted alone.
    pub embed_index: Option<u32>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The columns [`RawEntry::from_row`] reads, in its order; a query may
/// select more after them.
pub(super) const ENTRY_COLUMNS: &str =
    "id, payload, status, created_at, attempts, last_attempt_at, last_error, message_id, sent_at, embed_index";

/// How many columns [`ENTRY_COLUMNS`] holds.
pub(super) const ENTRY_COLUMN_COUNT: usize = 10;

/// A row before its JSON payload is decoded, which needs a [`StoreError`]
/// naming the alert rather than a column-conversion error.
pub(super) struct RawEntry {
    id: String,
    payload: String,
    status: AlertStatus,
    created_at: Ts,
    attempts: u32,
    last_attempt_at: Option<Ts>,
    last_error: Option<String>,
    message_id: Option<String>,
    sent_at: Option<Ts>,
    embed_index: Option<u32>,
}

impl RawEntry {
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
        Ok(RawEntry {
            id: r.get(0)?,
            payload: r.get(1)?,
            status: r.get(2)?,
            created_at: r.get(3)?,
            attempts: r.get(4)?,
            last_attempt_at: r.get(5)?,
            last_error: r.get(6)?,
            message_id: r.get(7)?,
            sent_at: r.get(8)?,
            embed_index: r.get(9)?,
        })
    }
}

impl Store {
    /// The entry of a row read with [`ENTRY_COLUMNS`] first.
    pub(super) fn decode(&self, raw: RawEntry) -> Result<OutboxEntry, StoreError> {
        let alert = serde_json::from_str(&raw.payload).map_err(|cause| StoreError::Payload {
            path: self.path.clone(),
            id: raw.id.clone(),
            cause,
        })?;
        Ok(OutboxEntry {
            alert,
            status: raw.status,
            created_at: raw.created_at.0,
            attempts: raw.attempts,
            last_attempt_at: raw.last_attempt_at.map(|t| t.0),
            last_error: raw.last_error,
            message_id: raw.message_id,
            embed_index: raw.embed_index,
            sent_at: raw.sent_at.map(|t| t.0),
        })
    }
}
