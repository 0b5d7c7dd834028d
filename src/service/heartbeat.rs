//! The heartbeat job: one log line with the service's health and counters.

use super::{Service, request_count};
use crate::runner::JobResult;

impl Service {
    pub(super) fn heartbeat(&mut self) -> JobResult {
        let now = self.now();
        self.sweep_volume_cache(now);
        let outbox = self.store.outbox_counts().unwrap_or_default();
        let vc = self.volume.stats();
        let cc = self.chains.stats();
        let (requests, disabled, open) = match &self.polygon {
            Some(c) => (request_count(&c.stats()), c.disabled_features().join(","), c.open_circuits().join(",")),
            None => (0, String::new(), String::new()),
        };
        let uptime = (self.clock.elapsed() - self.started).as_secs();
        let detail = format!(
            "uptime_s={uptime} outbox_pending={} outbox_sent={} outbox_failed={} outbox_expired={} \
             volume_cache_entries={} volume_cache_hit_rate={:.3} chain_cache_hit_rate={:.3} requests={requests} \
             disabled_features=\"{disabled}\" open_circuits=\"{open}\" retired_webhooks={}",
            outbox.pending,
            outbox.sent,
            outbox.failed,
            outbox.expired,
            self.volume.len(),
            vc.hit_rate(),
            cc.hit_rate(),
            self.retired_webhooks.len(),
        );
        log::info!("event=heartbeat {detail}");
        JobResult::Ok(detail)
    }
}
