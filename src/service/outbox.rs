//! The outbox delivery pass: expire what is too old, deliver the rest
//! oldest first, record what the delivery said.

use super::*;
use crate::service::delivery::Delivered;
use crate::service::write_guard;

impl Service {
    /// One delivery (`send`) of `alerts` alerts of `bot`, counted for the
    /// metrics with the 429s it met.
    pub(super) fn counted(
        &mut self,
        bot: Bot,
        alerts: u64,
        send: impl FnOnce(&mut Delivery) -> Delivered,
    ) -> Delivered {
        let limited = self.delivery.rate_limited();
        let delivered = send(&mut self.delivery);
        let limited = self.delivery.rate_limited().saturating_sub(limited);
        self.counters.delivered(self.delivery.posts(), bot, &delivered, alerts, limited);
        delivered
    }

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
        let alerts: Vec<Alert> =
            pending.into_iter().map(|e| e.alert).filter(|a| !self.is_marked_in_memory(&a.id)).collect();
        // A webhook's backlog goes out as few messages (up to 10 embeds
        // each); the answer to a message is the answer for all its alerts.
        let batches = self.delivery.plan(alerts);
        // A slow Discord cannot hold the loop: once a turn has spent its
        // budget, the rest waits for the next turn (oldest first again).
        let turn_ends = self.clock.elapsed().saturating_add(seconds(self.config.tunables.delivery_budget_seconds));
        for batch in batches {
            if self.clock.shutdown().is_requested() {
                break;
            }
            if self.clock.elapsed() >= turn_ends {
                log::info!(left_pending = "true"; "delivery_turn_budget_spent");
                break;
            }
            let Some(bot) = batch.first().map(|a| a.bot) else { continue };
            let ids: Vec<String> = batch.iter().map(|a| a.id.clone()).collect();
            let delivered = self.counted(bot, ids.len() as u64, |d| d.deliver(&batch));
            let now = self.now();
            let (recorded, mark) = match delivered {
                Delivered::Sent { message_id } => (
                    self.store.mark_batch_sent(&ids, message_id.as_deref(), now).map_err(|e| (0, e)),
                    Some(write_guard::Mark::Sent { message_id, embed_index: None }),
                ),
                Delivered::Failed { reason } => (
                    self.mark_each(&ids, |s, id| s.mark_failed(id, &reason, now)),
                    Some(write_guard::Mark::Failed { reason }),
                ),
                Delivered::WebhookGone { webhook, reason } => {
                    if let Err(e) = self.store.retire_webhook(&webhook.to_string(), "discord answered 404", now) {
                        log::error!(op = "retire_webhook", error:% = e; "store_error");
                    }
                    (
                        self.mark_each(&ids, |s, id| s.mark_failed(id, &reason, now)),
                        Some(write_guard::Mark::Failed { reason }),
                    )
                }
                Delivered::Deferred { reason } => {
                    (self.mark_each(&ids, |s, id| s.record_attempt(id, &reason, now)), None)
                }
                Delivered::Skipped => continue,
                Delivered::Stop => return,
            };
            match (recorded, mark) {
                (Ok(()), _) => {}
                // Posted (or refused) but not recorded: remembered, never
                // posted again, and the pass stops until the store writes.
                (Err((from, e)), Some(mark)) => {
                    self.remember_marks(&ids, from, mark, &e);
                    return;
                }
                (Err((_, e)), None) => log::error!(op = "mark", id = ids.join(","), error:% = e; "store_error"),
            }
        }
        self.deliver_updates();
    }

    /// Writes one alert's mark per id of a batch, stopping at the first
    /// failure, which it returns with the index of its id (the ids before
    /// it are written).
    fn mark_each(
        &mut self,
        ids: &[String],
        mut mark: impl FnMut(&mut crate::store::Store, &str) -> Result<(), crate::store::StoreError>,
    ) -> Result<(), (usize, crate::store::StoreError)> {
        for (i, id) in ids.iter().enumerate() {
            mark(&mut self.store, id).map_err(|e| (i, e))?;
        }
        Ok(())
    }
}
