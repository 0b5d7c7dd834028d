//! The edits of episodes' messages, delivered after the outbox's posts in
//! the same pass: expire what is too old, then per posted alert its pending
//! edits together (Discord gets the latest; the earlier ones are in it),
//! once the post has gone out with its message id. An alert that went out
//! in a message with others is edited by re-rendering that whole message,
//! each other embed as its own latest sent edit shows it.

use super::*;
use crate::engine::episode::Update;
use crate::service::delivery::{Delivered, Embedded};
use crate::store::{AlertStatus, OutboxEntry, StoreError};

impl Service {
    /// Expires pending edits older than `ALERT_MAX_AGE_SECONDS`, then
    /// delivers the rest grouped by message, oldest first. An edit waits
    /// while its post is pending, and fails when the post never went out.
    pub(super) fn deliver_updates(&mut self) {
        let now = self.now();
        let cutoff = now - chrono::Duration::seconds(self.config.tunables.alert_max_age_seconds);
        match self.store.expire_updates_older_than(cutoff, now) {
            Ok(ids) => {
                for id in ids {
                    log::warn!(
                        id = id,
                        reason = "pending longer than ALERT_MAX_AGE_SECONDS";
                        "episode_update_expired"
                    );
                }
            }
            Err(e) => log::error!(op = "expire_updates", error:% = e; "store_error"),
        }
        let pending = match self.store.pending_updates() {
            Ok(p) => p,
            Err(e) => {
                log::error!(op = "pending_updates", error:% = e; "store_error");
                return;
            }
        };
        // Per message, in the order its first pending edit was committed.
        let mut groups: Vec<(String, Vec<Update>)> = Vec::new();
        for entry in pending {
            let u = entry.update;
            match groups.iter_mut().find(|(post, _)| *post == u.update_of) {
                Some((_, list)) => list.push(u),
                None => groups.push((u.update_of.clone(), vec![u])),
            }
        }
        for (post_id, updates) in groups {
            if self.clock.shutdown().is_requested() {
                break;
            }
            let ids: Vec<String> = updates.iter().map(|u| u.id.clone()).collect();
            let post = match self.store.alert_entry(&post_id) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    self.settle_updates(&ids, Delivered::Failed { reason: format!("alert {post_id} is unknown") });
                    continue;
                }
                Err(e) => {
                    log::error!(op = "alert_entry", id = post_id, error:% = e; "store_error");
                    continue;
                }
            };
            let delivered = match post.status {
                // An edit needs the posted message: it waits for its post.
                AlertStatus::Pending => continue,
                AlertStatus::Failed | AlertStatus::Expired => {
                    Delivered::Failed { reason: format!("alert {post_id} was never posted ({})", post.status) }
                }
                AlertStatus::Sent => {
                    let message = match self.message_embeds(&post) {
                        Ok(m) => m,
                        Err(e) => {
                            log::error!(op = "message_embeds", id = post_id, error:% = e; "store_error");
                            continue;
                        }
                    };
                    let message_id = post.message_id.as_deref();
                    self.counted(post.alert.bot, 1, |d| d.deliver_updates(&post.alert, message_id, &updates, &message))
                }
            };
            if delivered == Delivered::Stop {
                return;
            }
            self.settle_updates(&ids, delivered);
        }
    }

    /// Every embed of the message `post` went out in, in its order, each
    /// with the episode its latest edit made shows, when `post` was posted
    /// with other alerts (a batch); empty when it went alone.
    fn message_embeds(&self, post: &OutboxEntry) -> Result<Vec<Embedded>, StoreError> {
        let Some(message_id) = post.message_id.as_deref().filter(|_| post.embed_index.is_some()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in self.store.message_alerts(message_id)? {
            let update = self.store.latest_sent_update(&entry.alert.id)?;
            out.push((entry.alert, update));
        }
        Ok(out)
    }

    /// Records what became of the edits `ids` of one message.
    fn settle_updates(&mut self, ids: &[String], delivered: Delivered) {
        let now = self.now();
        let recorded = match delivered {
            Delivered::Sent { .. } => self.store.mark_updates_sent(ids, now),
            Delivered::Failed { reason } => {
                log::warn!(ids = ids.join(","), reason = reason; "episode_update_failed");
                self.store.mark_updates_failed(ids, &reason, now)
            }
            Delivered::WebhookGone { webhook, reason } => {
                if let Err(e) = self.store.retire_webhook(&webhook.to_string(), "discord answered 404", now) {
                    log::error!(op = "retire_webhook", error:% = e; "store_error");
                }
                self.store.mark_updates_failed(ids, &reason, now)
            }
            Delivered::Deferred { reason } => self.store.record_update_attempt(ids, &reason, now),
            Delivered::Skipped | Delivered::Stop => return,
        };
        if let Err(e) = recorded {
            log::error!(op = "mark_updates", ids = ids.join(","), error:% = e; "store_error");
        }
    }
}
