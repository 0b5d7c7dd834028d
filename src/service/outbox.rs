//! The outbox delivery pass: expire what is too old, deliver the rest
//! oldest first, record what the delivery said.

use super::*;
use crate::service::delivery::Delivered;

impl Service {
    /// Expires pending alerts older than `ALERT_MAX_AGE_SECONDS`, then
    /// delivers the rest oldest first.
    pub fn deliver_outbox(&mut self) {
        let now = self.now();
        let cutoff = now - chrono::Duration::seconds(self.config.tunables.alert_max_age_seconds);
        match self.store.expire_pending_older_than(cutoff, now) {
            Ok(ids) => {
                for id in ids {
                    log::warn!("event=alert_expired id={id} reason=\"pending longer than ALERT_MAX_AGE_SECONDS\"");
                }
            }
            Err(e) => log::error!("event=store_error op=expire error=\"{e}\""),
        }
        let pending = match self.store.pending_alerts() {
            Ok(p) => p,
            Err(e) => {
                log::error!("event=store_error op=pending_alerts error=\"{e}\"");
                return;
            }
        };
        self.delivery.begin_pass();
        for entry in pending {
            if self.clock.shutdown().is_requested() {
                break;
            }
            let alert = entry.alert;
            let delivered = self.delivery.deliver(&alert);
            let now = self.now();
            let recorded = match delivered {
                Delivered::Sent { message_id } => self.store.mark_sent(&alert.id, message_id.as_deref(), now),
                Delivered::Failed { reason } => self.store.mark_failed(&alert.id, &reason, now),
                Delivered::WebhookGone { webhook, reason } => {
                    if let Err(e) = self.store.retire_webhook(&webhook.to_string(), "discord answered 404", now) {
                        log::error!("event=store_error op=retire_webhook error=\"{e}\"");
                    }
                    self.store.mark_failed(&alert.id, &reason, now)
                }
                Delivered::Deferred { reason } => self.store.record_attempt(&alert.id, &reason, now),
                Delivered::Skipped => continue,
                Delivered::Stop => return,
            };
            if let Err(e) = recorded {
                log::error!("event=store_error op=mark id={} error=\"{e}\"", alert.id);
            }
        }
        self.deliver_updates();
    }
}
