//! What the service counts for the metrics beyond the store's tables:
//! Discord's answers per family, skipped firings and job durations. Since
//! start, like the API counters.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::job::Bot;
use crate::metrics::{DeliveryCounts, JobDurations};
use crate::service::delivery::Delivered;

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub delivery: BTreeMap<String, DeliveryCounts>,
    pub skipped_firings: BTreeMap<String, u64>,
    pub job_durations: BTreeMap<String, JobDurations>,
}

impl Counters {
    /// One delivery call for `bot` (one message: `alerts` alerts posted
    /// together, or one alert's edit): its answer, which counts for each
    /// alert, and the 429s it met on the way. Printed output (a dry run, a
    /// replay) is not Discord: not counted.
    pub fn delivered(&mut self, posts: bool, bot: Bot, answer: &Delivered, alerts: u64, rate_limited: u64) {
        if !posts {
            return;
        }
        let c = self.delivery.entry(bot.as_str().to_string()).or_default();
        c.rate_limited += rate_limited;
        match answer {
            Delivered::Sent { .. } => {
                c.sent += alerts;
                c.messages += 1;
            }
            Delivered::Failed { .. } | Delivered::WebhookGone { .. } => c.failed += alerts,
            Delivered::Deferred { .. } => c.deferred += alerts,
            Delivered::Skipped | Delivered::Stop => {}
        }
    }

    pub fn skipped(&mut self, job: &str, missed: u64) {
        *self.skipped_firings.entry(job.to_string()).or_default() += missed;
    }

    pub fn ran(&mut self, job: &str, took: Duration) {
        self.job_durations.entry(job.to_string()).or_default().add(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_counted_by_answer_and_only_when_posting() {
        let mut c = Counters::default();
        let sent = Delivered::Sent { message_id: None };
        c.delivered(true, Bot::Sweeps, &sent, 1, 2);
        // A message of 3 alerts: 3 alerts sent, 1 message.
        c.delivered(true, Bot::Sweeps, &sent, 3, 0);
        c.delivered(true, Bot::Sweeps, &Delivered::Failed { reason: "400".into() }, 1, 0);
        c.delivered(true, Bot::Sweeps, &Delivered::WebhookGone { webhook: 1, reason: "404".into() }, 1, 0);
        c.delivered(true, Bot::Sweeps, &Delivered::Deferred { reason: "429".into() }, 2, 3);
        c.delivered(true, Bot::Sweeps, &Delivered::Skipped, 1, 0);
        c.delivered(false, Bot::Scalps, &sent, 1, 0);
        assert_eq!(
            c.delivery,
            BTreeMap::from([(
                "sweeps".to_string(),
                DeliveryCounts { sent: 4, messages: 2, failed: 2, deferred: 2, rate_limited: 5 }
            )])
        );
    }
}
