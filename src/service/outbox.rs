//! The outbox delivery pass: expire what is too old, deliver the rest
//! oldest first, record what the delivery said.

use super::*;
use crate::service::delivery::Delivered;
use crate::service::write_guard;

impl Service {
    /// Expires pending alerts older than `ALERT_MAX_AGE_SECONDS`, then
    /// delivers the rest oldest first.
    pub fn deliver_outbox(&mut self) {
        // Nothing is posted that could not be marked sent.
        if !self.store_writable() {
            return;
        }
        let now = self.now();
        let cutoff = now - chrono::Duration::seconds(self.config.tunables.alert_max_age_seconds);
        match self.store.expire_pending_older_than(cutoff, now) {
            Ok(ids) => {
                for id in ids {
                    log::warn!(id = id, reason = "pending longer than ALERT_MAX_AGE_SECONDS"; "alert_expired");
                }
            }
            Err(e) => log::error!(op = "expire", error:% = e; "store_error"),
        }
        let mut pending = match self.store.pending_alerts() {
            Ok(p) => p,
            Err(e) => {
                log::error!(op = "pending_alerts", error:% = e; "store_error");
                return;
            }
        };
        self.delivery.begin_pass();
        // Oldest first, those for a failing webhook after the rest.
        pending.sort_by_key(|e| self.delivery.failing(&e.alert));
        // A slow Discord cannot hold the loop: once a turn has spent its
        // budget, the rest waits for the next turn (oldest first again).
        let turn_ends = self.clock.elapsed().saturating_add(seconds(self.config.tunables.delivery_budget_seconds));
        for entry in pending {
            if self.clock.shutdown().is_requested() {
                break;
            }
            if self.clock.elapsed() >= turn_ends {
                log::info!(left_pending = "true"; "delivery_turn_budget_spent");
                break;
            }
            if self.is_marked_in_memory(&entry.alert.id) {
                continue;
            }
            let alert = entry.alert;
            let limited = self.delivery.rate_limited();
            let delivered = self.delivery.deliver(&alert);
            let limited = self.delivery.rate_limited().saturating_sub(limited);
            self.counters.delivered(self.delivery.posts(), alert.bot, &delivered, limited);
            let now = self.now();
            let (recorded, mark) = match delivered {
                Delivered::Sent { message_id } => (
                    self.store.mark_sent(&alert.id, message_id.as_deref(), now),
                    Some(write_guard::Mark::Sent { message_id }),
                ),
                Delivered::Failed { reason } => {
                    (self.store.mark_failed(&alert.id, &reason, now), Some(write_guard::Mark::Failed { reason }))
                }
                Delivered::WebhookGone { webhook, reason } => {
                    if let Err(e) = self.store.retire_webhook(&webhook.to_string(), "discord answered 404", now) {
                        log::error!(op = "retire_webhook", error:% = e; "store_error");
                    }
                    (self.store.mark_failed(&alert.id, &reason, now), Some(write_guard::Mark::Failed { reason }))
                }
                Delivered::Deferred { reason } => (self.store.record_attempt(&alert.id, &reason, now), None),
                Delivered::Skipped => continue,
                Delivered::Stop => return,
            };
            match (recorded, mark) {
                (Ok(()), _) => {}
                // Posted (or refused) but not recorded: remembered, never
                // posted again, and the pass stops until the store writes.
                (Err(e), Some(mark)) => {
                    self.remember_mark(&alert.id, mark, &e);
                    return;
                }
                (Err(e), None) => log::error!(op = "mark", id = alert.id, error:% = e; "store_error"),
            }
        }
        self.deliver_updates();
    }
}
