//! What the service does while its state database cannot be written (a
//! full disk, an I/O error, a file made read-only under it).
//!
//! Every decision of the service is recorded before it is acted on, so a
//! store that cannot write must stop the work rather than let it be
//! repeated: an alert posted but not marked sent would be posted again on
//! every pass, and alerts that cannot be committed would be detected and
//! lost. So, from the first failed write:
//! - one `error` line says what failed and that work is paused;
//! - a post already made whose mark could not be written is remembered
//!   (and never posted again) until the mark is written;
//! - an alert that could not be committed is kept in memory (up to
//!   [`MAX_UNCOMMITTED`]) and committed when writes work again, unless it
//!   has grown older than `ALERT_MAX_AGE_SECONDS` by then;
//! - delivery and scanning pause; every later turn of the loop tries one
//!   small write, and the first that succeeds writes what was remembered,
//!   logs one line, and everything resumes;
//! - the heartbeat still runs and reports the service unhealthy.

use chrono::{DateTime, Utc};

use super::Service;
use crate::engine::Commit;
use crate::store::StoreError;

/// Alerts kept in memory while they cannot be committed; beyond this the
/// oldest are dropped (and counted in the log).
pub const MAX_UNCOMMITTED: usize = 1_000;

/// A delivery outcome that could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mark {
    /// `embed_index`: the alert's place in its message when it was posted
    /// with others.
    Sent {
        message_id: Option<String>,
        embed_index: Option<u32>,
    },
    Failed {
        reason: String,
    },
}

/// The store's write failure in force.
#[derive(Debug, Clone)]
pub(super) struct Unwritable {
    pub since: DateTime<Utc>,
    pub error: String,
}

/// What waits for the store to write again.
#[derive(Debug, Default)]
pub(super) struct WriteGuard {
    pub down: Option<Unwritable>,
    /// Posts made whose outcome is not yet recorded, by alert id.
    pub marks: std::collections::BTreeMap<String, (Mark, DateTime<Utc>)>,
    pub uncommitted: Vec<Commit>,
    /// Alerts dropped from `uncommitted` past its bound.
    pub dropped: u64,
}

impl Service {
    /// A write failed: the first failure logs the one line and pauses work.
    pub(super) fn write_failed(&mut self, op: &str, e: &StoreError) {
        if self.guard.down.is_some() {
            log::debug!(op = op, error:% = e, paused = "true"; "store_error");
            return;
        }
        log::error!(
            op = op,
            error:% = e,
            action = "delivery and scanning paused until a write succeeds";
            "store_unwritable"
        );
        self.guard.down = Some(Unwritable { since: self.now(), error: format!("{op}: {e}") });
    }

    /// Why the store cannot be written, while it cannot.
    pub(super) fn unwritable(&self) -> Option<&Unwritable> {
        self.guard.down.as_ref()
    }

    /// A post of the alerts `ids` (one message, in its order) was made
    /// but its outcome could not be recorded from `ids[from]` on: remember
    /// those so they are not posted again.
    pub(super) fn remember_marks(&mut self, ids: &[String], from: usize, mark: Mark, e: &StoreError) {
        let now = self.now();
        for (i, id) in ids.iter().enumerate().skip(from) {
            let mark = match &mark {
                Mark::Sent { message_id, .. } if ids.len() > 1 => {
                    Mark::Sent { message_id: message_id.clone(), embed_index: u32::try_from(i).ok() }
                }
                m => m.clone(),
            };
            self.guard.marks.insert(id.clone(), (mark, now));
        }
        self.write_failed("mark", e);
    }

    pub(super) fn is_marked_in_memory(&self, id: &str) -> bool {
        self.guard.marks.contains_key(id)
    }

    /// An alert that could not be committed, kept for later.
    pub(super) fn keep_uncommitted(&mut self, c: &Commit, e: &StoreError) {
        if self.guard.uncommitted.len() >= MAX_UNCOMMITTED {
            self.guard.uncommitted.remove(0);
            self.guard.dropped += 1;
        }
        self.guard.uncommitted.push(c.clone());
        self.write_failed("commit_alert", e);
    }

    /// Whether the store writes (true at once when no failure is in force).
    /// While it does not, one small write is tried; when it works, the
    /// remembered marks and alerts are written and work resumes.
    pub(super) fn store_writable(&mut self) -> bool {
        let Some(down) = self.guard.down.clone() else { return true };
        let now = self.now();
        if let Err(e) = self.store.probe_write(now) {
            log::debug!(error:% = e; "store_probe_failed");
            return false;
        }
        for (id, (mark, at)) in std::mem::take(&mut self.guard.marks) {
            let written = match &mark {
                Mark::Sent { message_id, embed_index } => {
                    self.store.mark_embed_sent(&id, message_id.as_deref(), *embed_index, at)
                }
                Mark::Failed { reason } => self.store.mark_failed(&id, reason, at),
            };
            if let Err(e) = written {
                log::debug!(op = "mark", id = id, error:% = e; "store_probe_failed");
                self.guard.marks.insert(id, (mark, at));
            }
        }
        if !self.guard.marks.is_empty() {
            return false;
        }
        let max_age = chrono::Duration::seconds(self.config.tunables.alert_max_age_seconds);
        let (mut committed, mut stale) = (0usize, 0usize);
        for c in std::mem::take(&mut self.guard.uncommitted) {
            if now - c.alert.at > max_age {
                stale += 1;
                continue;
            }
            let cooldown = crate::store::CooldownSet {
                key: c.cooldown.key.clone(),
                until: c.cooldown.until,
                premium: c.cooldown.size,
            };
            match self.store.commit_alert(&c.alert, Some(&cooldown), c.plan.as_ref(), now) {
                Ok(true) => {
                    committed += 1;
                    log::info!(bot = c.bot, id = c.alert.id, late_commit = "true"; "alert");
                }
                Ok(false) => {}
                Err(e) => {
                    log::debug!(op = "commit_alert", error:% = e; "store_probe_failed");
                    self.guard.uncommitted.push(c);
                }
            }
        }
        if !self.guard.uncommitted.is_empty() {
            return false;
        }
        log::warn!(
            paused_s = (now - down.since).num_seconds(),
            cause = down.error,
            late_commits = committed,
            too_old = stale,
            dropped = self.guard.dropped;
            "store_writable_again"
        );
        self.guard.down = None;
        self.guard.dropped = 0;
        true
    }
}
