//! Counters for `orakl status` and the metrics file. Maps are `BTreeMap`s so
//! that every rendering is in a stable order.

use serde::Serialize;
use std::collections::BTreeMap;

use super::Endpoint;

/// A snapshot of the client's counters since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub endpoints: BTreeMap<&'static str, EndpointStats>,
    /// Clock time spent waiting for the token bucket.
    pub rate_limit_wait_ms: u64,
    /// Clock time spent waiting between retries (backoff and `Retry-After`).
    pub retry_wait_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndpointStats {
    /// HTTP requests by status code (`"200"`, `"429"`) or `"error"` when no
    /// response arrived (timeout, connection failure).
    pub requests: BTreeMap<String, u64>,
    /// Pages parsed successfully.
    pub pages: u64,
    /// Requests repeated after a 429, a 5xx or a transport error.
    pub retries: u64,
    /// Decoded body bytes received.
    pub bytes_received: u64,
    /// Calls (a whole chain counts once) that succeeded / failed.
    pub calls_ok: u64,
    pub calls_failed: u64,
    /// Calls refused without a request: circuit open or feature disabled.
    pub calls_skipped: u64,
}

impl Stats {
    pub(crate) fn endpoint(&mut self, e: Endpoint) -> &mut EndpointStats {
        self.endpoints.entry(e.as_str()).or_default()
    }

    /// All HTTP requests made, any endpoint, any outcome.
    pub fn requests_total(&self) -> u64 {
        self.endpoints.values().flat_map(|e| e.requests.values()).sum()
    }

    /// Requests that got no response or a 429/5xx: the API error rate's
    /// numerator for the health score.
    pub fn requests_failed(&self) -> u64 {
        self.endpoints
            .values()
            .flat_map(|e| e.requests.iter())
            .filter(|(status, _)| status.as_str() == "error" || status.as_str() == "429" || status.starts_with('5'))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn pages_total(&self) -> u64 {
        self.endpoints.values().map(|e| e.pages).sum()
    }

    pub fn retries_total(&self) -> u64 {
        self.endpoints.values().map(|e| e.retries).sum()
    }

    pub fn bytes_total(&self) -> u64 {
        self.endpoints.values().map(|e| e.bytes_received).sum()
    }
}
