//! Polygon.io (Massive) REST API: typed models and the client.
//!
//! - `models` — response shapes; nearly every field optional, as the API sends them.
//! - `lean` — a chain contract with only what the options scan reads (the hot path).
//! - `client` — [`Client`]: token bucket, retries, circuit breakers, 403 switches, pages.
//! - `feature` — what a 403 switches off (a feature, not an endpoint kind) and its re-probe.
//! - `breaker`, `rate`, `url` — the client's pure parts: breaker state, the
//!   clock-driven token bucket, URL building (backoff and `Retry-After` are
//!   [`crate::backoff`], shared with the Discord sender).
//! - `route` — request ⇄ URL for every endpoint, shared by the client, `record` and `replay`.
//! - `ticker` — the option and stock ticker grammar, checked as responses are read.
//! - `stats`, `error` — counters for status/metrics, and [`PolygonError`].

mod breaker;
mod client;
mod error;
pub mod feature;
pub mod lean;
pub mod models;
mod rate;
pub(crate) mod route;
mod stats;
pub mod ticker;
mod url;

pub use client::{AggBound, ChainQuery, Client, DEFAULT_BASE_URL, PolygonConfig, TradesQuery, Transport, UnusualQuery};
pub use error::PolygonError;
pub use feature::Feature;
pub use models::{Bar, Greeks, OptionSnapshot, Quote, TickerSnapshot, Trade, UnusualTrade};
pub use rate::{GateError, RateGate};
pub use stats::{EndpointStats, Stats};

/// The endpoint kinds orakl calls. Each has its own circuit breaker; a 403
/// switches off a [`Feature`] (the endpoint for one asset class).
///
/// Its names ([`Endpoint::as_str`]) are also the tape's `endpoint` tags,
/// read by serde under the same spelling (a test holds the two equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    OptionChain,
    OptionContract,
    Aggs,
    Trades,
    StockSnapshot,
    /// Massive's market-wide `/options/v1/unusual-trades`.
    UnusualTrades,
    /// `/v3/quotes/{ticker}`: an option's NBBO at a print.
    Quotes,
}

impl Endpoint {
    pub const ALL: [Endpoint; 7] = [
        Endpoint::OptionChain,
        Endpoint::OptionContract,
        Endpoint::Aggs,
        Endpoint::Trades,
        Endpoint::StockSnapshot,
        Endpoint::UnusualTrades,
        Endpoint::Quotes,
    ];

    /// The name used in logs, errors, metrics and tapes.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::OptionChain => "option_chain",
            Endpoint::OptionContract => "option_contract",
            Endpoint::Aggs => "aggs",
            Endpoint::Trades => "trades",
            Endpoint::StockSnapshot => "stock_snapshot",
            Endpoint::UnusualTrades => "unusual_trades",
            Endpoint::Quotes => "quotes",
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_reads_each_endpoint_by_its_name() {
        for e in Endpoint::ALL {
            let read: Endpoint = serde_json::from_value(serde_json::json!(e.as_str())).unwrap();
            assert_eq!(read, e);
        }
    }
}
