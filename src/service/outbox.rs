//! The outbox delivery pass: expire what is too old, post (or print) the
//! rest oldest first, record what Discord said.

use std::collections::BTreeSet;

use super::*;

impl Service {
    /// Expires pending alerts older than `ALERT_MAX_AGE_SECONDS`, then
    /// delivers the rest oldest first. A webhook that answers "later" is not
    /// tried again in the same pass, so one bad webhook cannot stall the loop.
    pub fn deliver_outbox(&mut self) {
        let now = self.now();
        let cutoff = now - chrono::Duration::seconds(self.config.int("ALERT_MAX_AGE_SECONDS"));
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
        let mut deferred: BTreeSet<u64> = BTreeSet::new();
        for entry in pending {
            if self.clock.shutdown().is_requested() {
                break;
            }
            let alert = entry.alert;
            let now = self.now();
            let outcome = match &mut self.delivery {
                Delivery::Print { format, out } => {
                    let text = match format {
                        OutputFormat::Text => format!("{}\n", discord::render_text(&alert)),
                        OutputFormat::Jsonl => format!("{}\n", alert.to_jsonl()),
                    };
                    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                        Ok(()) => self.store.mark_sent(&alert.id, None, now),
                        Err(e) => {
                            log::error!("event=print_failed id={} error=\"{e}\"", alert.id);
                            return;
                        }
                    }
                }
                Delivery::Discord { sender, webhooks, .. } => {
                    let Some(webhook) = webhooks.get(&alert.bot) else {
                        let r = format!("no webhook configured for {}", alert.bot.webhook_var());
                        log::error!("event=delivery_failed id={} reason=\"{r}\"", alert.id);
                        let _ = self.store.mark_failed(&alert.id, &r, now);
                        continue;
                    };
                    let id = webhook.id();
                    if self.retired_webhooks.contains(&id) {
                        let r = format!("webhook {id} was deleted (404)");
                        log::error!("event=delivery_failed id={} webhook={id} reason=\"{r}\"", alert.id);
                        let _ = self.store.mark_failed(&alert.id, &r, now);
                        continue;
                    }
                    if deferred.contains(&id) {
                        continue;
                    }
                    match sender.post(webhook, &discord::render(&alert)) {
                        discord::Delivery::Sent { message_id } => {
                            log::info!("event=alert_sent id={} webhook={id}", alert.id);
                            self.store.mark_sent(&alert.id, message_id.as_deref(), now)
                        }
                        discord::Delivery::WebhookGone => {
                            log::error!(
                                "event=webhook_retired webhook={id} var={} reason=404",
                                alert.bot.webhook_var()
                            );
                            self.retired_webhooks.insert(id);
                            let _ = self.store.retire_webhook(&id.to_string(), "discord answered 404", now);
                            self.store.mark_failed(&alert.id, &format!("webhook {id} was deleted (404)"), now)
                        }
                        discord::Delivery::Rejected { status, message } => {
                            log::error!(
                                "event=alert_rejected id={} webhook={id} status={status} message=\"{message}\"",
                                alert.id
                            );
                            self.store.mark_failed(&alert.id, &format!("discord {status}: {message}"), now)
                        }
                        discord::Delivery::RetryLater { reason } => {
                            log::warn!("event=alert_deferred id={} webhook={id} reason=\"{reason}\"", alert.id);
                            deferred.insert(id);
                            self.store.record_attempt(&alert.id, &reason, now)
                        }
                    }
                }
            };
            if let Err(e) = outcome {
                log::error!("event=store_error op=mark id={} error=\"{e}\"", alert.id);
            }
        }
    }
}
