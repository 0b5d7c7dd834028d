//! What can go wrong talking to Polygon. Every message names the endpoint and
//! the symbol (`option_chain SPY: ...`) and never the API key or a URL.

use crate::http::HttpError;

use super::Endpoint;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolygonError {
    /// Bad settings, found before any request (exit 78 at startup).
    #[error("invalid polygon configuration: {0}")]
    Config(String),
    /// The request itself cannot be built (an unknown timespan, an empty ticker).
    #[error("{endpoint}: invalid request: {detail}")]
    InvalidRequest { endpoint: String, detail: String },
    /// 401: a configuration error, never retried.
    #[error("{endpoint}: api key rejected (401); check POLYGON_API_KEY")]
    Unauthorized { endpoint: String },
    /// 403: the plan does not include this data. The feature stays off
    /// until a later call probes it after a back-off; meanwhile calls fail
    /// with this without a request.
    #[error("{endpoint}: not included in the api plan (403); {feature} off until probed again")]
    Forbidden { endpoint: String, feature: &'static str },
    /// The endpoint's circuit breaker is open; no request was made.
    #[error("{endpoint}: circuit open after repeated failures; next try in {retry_in_secs} s")]
    CircuitOpen { endpoint: String, retry_in_secs: u64 },
    /// A non-success status: a 429 or 5xx after all retries, or another 4xx.
    #[error("{endpoint}: http {status} after {attempts} attempt(s){}", detail_suffix(.detail))]
    Status { endpoint: String, status: u16, attempts: u32, detail: Option<String> },
    /// The connection, the TLS handshake or the read failed (after retries).
    #[error("{endpoint}: {error} after {attempts} attempt(s)")]
    Transport { endpoint: String, error: HttpError, attempts: u32 },
    /// A body that is not the expected JSON: garbage, truncated, an HTML page.
    #[error("{endpoint}: unexpected response body: {detail}")]
    BadBody { endpoint: String, detail: String },
    /// The server kept handing out `next_url`s past the page bound.
    #[error("{endpoint}: more than {max} pages; giving up")]
    TooManyPages { endpoint: String, max: usize },
    /// The time budget the caller set for server time (one firing's) is
    /// spent: no request was started, the work waits for the next firing.
    #[error("{endpoint}: not started: the firing's time budget is spent")]
    BudgetSpent { endpoint: String },
    /// Shutdown was requested while waiting (rate limit, backoff).
    #[error("{endpoint}: interrupted by shutdown")]
    Shutdown { endpoint: String },
    /// The clock did not move while the rate limiter waited on it.
    #[error("{endpoint}: rate limiter made no progress; the clock is not advancing")]
    ClockStuck { endpoint: String },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
}

impl PolygonError {
    /// A configuration problem: fix the settings, don't retry (exit 78).
    pub fn is_config(&self) -> bool {
        matches!(self, PolygonError::Config(_) | PolygonError::Unauthorized { .. })
    }

    /// Worth trying again on a later firing.
    pub fn is_transient(&self) -> bool {
        match self {
            PolygonError::Status { status, .. } => *status == 429 || *status >= 500,
            PolygonError::Transport { error, .. } => error.is_transient(),
            PolygonError::CircuitOpen { .. }
            | PolygonError::BadBody { .. }
            | PolygonError::TooManyPages { .. }
            | PolygonError::BudgetSpent { .. } => true,
            _ => false,
        }
    }

    /// Whether a call that ended in this error counts as a failure of the
    /// endpoint for its circuit breaker. Problems of ours (bad key, plan,
    /// bad request) or a shutdown say nothing about the server's health.
    pub(crate) fn trips_breaker(&self) -> bool {
        match self {
            PolygonError::Status { status, .. } => *status == 429 || *status >= 500,
            PolygonError::Transport { error, .. } => !matches!(error, HttpError::Source(_)),
            PolygonError::BadBody { .. } | PolygonError::TooManyPages { .. } => true,
            _ => false,
        }
    }

    /// The endpoint kind named in the message, for logs and metrics.
    pub fn endpoint(&self) -> Option<Endpoint> {
        let text = match self {
            PolygonError::Config(_) => return None,
            PolygonError::InvalidRequest { endpoint, .. }
            | PolygonError::Unauthorized { endpoint }
            | PolygonError::Forbidden { endpoint, .. }
            | PolygonError::CircuitOpen { endpoint, .. }
            | PolygonError::Status { endpoint, .. }
            | PolygonError::Transport { endpoint, .. }
            | PolygonError::BadBody { endpoint, .. }
            | PolygonError::TooManyPages { endpoint, .. }
            | PolygonError::Shutdown { endpoint }
            | PolygonError::BudgetSpent { endpoint }
            | PolygonError::ClockStuck { endpoint } => endpoint,
        };
        let kind = text.split(' ').next().unwrap_or("");
        Endpoint::ALL.into_iter().find(|e| e.as_str() == kind)
    }
}
