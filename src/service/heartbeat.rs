//! The heartbeat job: computes the health score, keeps a snapshot of the
//! counters in the state database (for `orakl status` and `orakl health`,
//! which run as other processes), refreshes `METRICS_FILE`, and logs one
//! line with the health and the counters.

use std::collections::BTreeMap;

use super::{Service, request_count};
use crate::health::{self, ApiWindow, Live, Vantage};
use crate::logging::Fields;
use crate::metrics::{self, CacheUsage, EndpointUsage, OutboxUsage, Snapshot};
use crate::runner::JobResult;

impl Service {
    pub(super) fn heartbeat(&mut self) -> JobResult {
        let now = self.now();
        self.sweep_volume_cache(now);
        self.retry_weekly_report();
        let (snapshot, recent) = self.take_snapshot(now);
        match serde_json::to_string(&snapshot) {
            // A store that cannot write has said so once already.
            Ok(_) if self.unwritable().is_some() => {}
            Ok(json) => {
                if let Err(e) = self.store.save_snapshot(now, &json) {
                    log::error!(op = "save_snapshot", error:% = e; "store_error");
                }
            }
            Err(e) => log::error!(error:% = e; "snapshot_encode_failed"),
        }
        self.write_metrics(&snapshot);

        let o = &snapshot.outbox;
        let cache_rate = |name: &str| snapshot.caches.get(name).map_or(0.0, CacheUsage::hit_rate);
        let requests = self.polygon.as_ref().map_or(0, |c| request_count(&c.stats()));
        let h = &snapshot.health;
        let penalties: Vec<String> = h
            .components
            .iter()
            .filter(|(_, c)| c.penalty > 0)
            .map(|(name, c)| format!("{name}:{}", c.penalty))
            .collect();
        let fields = Fields::new()
            .int("health", h.score)
            .text("status", h.status.as_str())
            .text("penalties", penalties.join(","))
            .int("uptime_s", snapshot.uptime_s())
            .int("outbox_pending", o.pending)
            .int("outbox_sent", o.sent)
            .int("outbox_failed", o.failed)
            .int("outbox_expired", o.expired)
            .int("volume_cache_entries", self.engine.cache_entries().0)
            .num("volume_cache_hit_rate", crate::logging::decimals(cache_rate("volume"), 3))
            .num("chain_cache_hit_rate", crate::logging::decimals(cache_rate("chain"), 3))
            .int("requests", requests)
            .int("window_requests", snapshot.window.requests)
            .int("window_failed", snapshot.window.failed)
            .int("recent_failed", recent.failed)
            .int("recent_expired", recent.expired)
            .text("disabled_features", snapshot.disabled_features.join(","))
            .text("open_circuits", snapshot.open_circuits.join(","))
            .int("retired_webhooks", snapshot.retired_webhooks.len());
        let level = if h.status == health::Status::Healthy { log::Level::Info } else { log::Level::Warn };
        crate::logging::event(level, "heartbeat", &fields);
        let detail = fields.to_text();
        let alerts: u64 = snapshot.alerts_by_bot.values().sum();
        self.notifier.status(&format!(
            "{}; health {} ({}); {alerts} alerts; outbox {} pending",
            self.running_status(),
            h.score,
            h.status.as_str(),
            o.pending
        ));
        JobResult::Ok(detail)
    }

    /// `METRICS_FILE`, when set, from `snapshot`. Mode 0644 whatever the
    /// umask (the unit's is 0077): node_exporter runs as another user.
    fn write_metrics(&self, snapshot: &Snapshot) {
        if let Some(path) = &self.config.metrics_file {
            if let Err(e) = crate::atomic_file::write_mode(path, metrics::render(snapshot).as_bytes(), 0o644) {
                log::warn!(path:% = path.display(), error:% = e; "metrics_write_failed");
            }
        }
    }

    /// The metrics once more as the loop ends (shutdown, or `run --once`
    /// done), so they do not stay at the last heartbeat's values.
    pub(super) fn write_metrics_at_exit(&mut self) {
        if self.config.metrics_file.is_some() {
            let (snapshot, _) = self.take_snapshot(self.now());
            self.write_metrics(&snapshot);
        }
    }

    /// Everything the heartbeat reports, read from the client, the caches
    /// and the store, and the alerts that left the outbox lately. A store
    /// read that fails leaves its part empty (and is logged): the heartbeat
    /// must not fail for want of one number. Health inputs that cannot be
    /// read make the service unhealthy.
    fn take_snapshot(&self, now: chrono::DateTime<chrono::Utc>) -> (Snapshot, crate::store::Settled) {
        let uptime = self.clock.elapsed().saturating_sub(self.started);
        let started_at = now - chrono::Duration::from_std(uptime).unwrap_or_default();
        let logged = |op: &str, e: crate::store::StoreError| log::error!(op = op, error:% = e; "store_error");

        let mut api: BTreeMap<String, EndpointUsage> = BTreeMap::new();
        let mut open_circuits = Vec::new();
        let mut disabled: Vec<String> = Vec::new();
        if let Some(client) = &self.polygon {
            for (endpoint, e) in client.stats().endpoints {
                api.insert(
                    endpoint.to_string(),
                    EndpointUsage { requests: e.requests, pages: e.pages, retries: e.retries },
                );
            }
            open_circuits = client.open_circuits().into_iter().map(str::to_string).collect();
            disabled.extend(client.disabled_features().into_iter().map(str::to_string));
        }

        let previous = self.store.snapshot().ok().flatten().and_then(|(_, json)| serde_json::from_str(&json).ok());
        let window = api_window(&api, started_at, previous.as_ref());

        let counts = self.store.outbox_counts().unwrap_or_else(|e| {
            logged("outbox_counts", e);
            Default::default()
        });
        let oldest = self.store.oldest_pending().unwrap_or_else(|e| {
            logged("oldest_pending", e);
            None
        });
        let outbox = OutboxUsage {
            pending: counts.pending,
            sent: counts.sent,
            failed: counts.failed,
            expired: counts.expired,
            oldest_pending_age_s: oldest.map(|t| (now - t).num_seconds().max(0)),
        };
        let mut alerts_by_bot: BTreeMap<String, u64> =
            crate::job::Bot::ALL.iter().map(|b| (b.as_str().to_string(), 0)).collect();
        match self.store.alert_totals_by_bot() {
            Ok(c) => alerts_by_bot.extend(c),
            Err(e) => logged("alert_totals_by_bot", e),
        }
        let last_success = self.store.last_successes().unwrap_or_else(|e| {
            logged("last_successes", e);
            BTreeMap::new()
        });

        let mut caches = BTreeMap::new();
        let ((v, c), (volume_entries, chain_entries)) = (self.engine.cache_stats(), self.engine.cache_entries());
        caches.insert(
            "volume".to_string(),
            CacheUsage { entries: volume_entries as u64, hits: v.hits, misses: v.misses },
        );
        caches
            .insert("chain".to_string(), CacheUsage { entries: chain_entries as u64, hits: c.hits, misses: c.misses });

        // A bot is stale when firings its timetable lines say were due since
        // its last success (and since this process started) came and went:
        // the same inputs, by the same function, as `orakl health` from outside.
        let live = Live {
            api: window,
            open_circuits: open_circuits.clone(),
            disabled_features: disabled.clone(),
            started_at: Some(started_at),
        };
        let lines = self.timetable.as_ref().map_or(&[][..], |t| &t.lines[..]);
        let (health, retired_webhooks, disabled_features, recent) =
            match health::gather(&self.store, lines, live, Vantage::Inside, now) {
                Ok(mut inputs) => {
                    inputs.store_unwritable = self.unwritable().map(|d| d.error.clone());
                    (health::assess(&inputs), inputs.retired_webhooks, inputs.disabled_features, inputs.delivery)
                }
                Err(e) => {
                    let health = health::store_unreadable(&e);
                    logged("health_inputs", e);
                    let retired = self.delivery.retired_webhooks().iter().map(u64::to_string).collect();
                    (health, retired, disabled, Default::default())
                }
            };
        let snapshot = Snapshot {
            at: now,
            started_at,
            api,
            window,
            caches,
            outbox,
            alerts_by_bot,
            budget_suppressed: self.budget.suppressed(),
            delivery: self.counters.delivery.clone(),
            skipped_firings: self.counters.skipped_firings.clone(),
            job_durations: self.counters.job_durations.clone(),
            last_success,
            open_circuits,
            disabled_features,
            retired_webhooks,
            health,
        };
        (snapshot, recent)
    }
}

/// The requests since the previous heartbeat of this process, or since start
/// when the previous snapshot is from another process (its start differs, or
/// a counter went down).
fn api_window(
    api: &BTreeMap<String, EndpointUsage>,
    started_at: chrono::DateTime<chrono::Utc>,
    previous: Option<&Snapshot>,
) -> ApiWindow {
    let now = metrics::api_totals(api);
    let Some(prev) = previous else { return now };
    // The start is derived from wall time, which may have been stepped, so
    // allow some play; a restart within a minute is caught by the counters.
    let same_process = (prev.started_at - started_at).num_seconds().abs() <= 60;
    let before = prev.api_totals();
    if same_process && before.requests <= now.requests && before.failed <= now.failed {
        ApiWindow { requests: now.requests - before.requests, failed: now.failed - before.failed }
    } else {
        now
    }
}
