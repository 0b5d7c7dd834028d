//! Requests to Polygon, both ways: the route of every endpoint orakl calls
//! turned into a path for the client, and a URL taken apart again for the
//! recorder and the replay. One place, so the three cannot disagree on a
//! path or on how its parts are coded.

use super::{DEFAULT_BASE_URL, Endpoint};
use crate::net;

/// A request URL taken apart: decoded path segments and query pairs.
pub(crate) struct Target {
    path: String,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(String, String)>,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Target {
        let (path, query) = split_url(url);
        let segments = path.split('/').filter(|s| !s.is_empty()).map(net::decode).collect();
        let query = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (net::decode(k), net::decode(v))
            })
            .collect();
        Target { path: path.to_string(), segments, query }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `limit`: absent gives the default, above the maximum is clamped.
    pub(crate) fn limit(&self, default: usize, max: usize) -> Result<usize, String> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(0) | Err(_) => Err(format!("invalid limit {v:?}")),
                Ok(n) => Ok(n.min(max)),
            },
        }
    }

    /// The next page: this path and query with `cursor` set, on the
    /// production origin (the client re-bases it on its own).
    pub(crate) fn next_url(&self, cursor: &str) -> String {
        let mut url = format!("{DEFAULT_BASE_URL}{}?cursor={cursor}", self.path);
        for (k, v) in self.query.iter().filter(|(k, _)| k != "cursor") {
            url.push('&');
            url.push_str(&net::encode(k));
            url.push('=');
            url.push_str(&net::encode(v));
        }
        url
    }
}

/// The path and query of a URL (absolute or not), without the fragment.
pub(crate) fn split_url(url: &str) -> (&str, &str) {
    let rest = match url.split_once("://") {
        Some((_, after)) => after.find(['/', '?']).map_or("", |i| &after[i..]),
        None => url,
    };
    let rest = rest.split('#').next().unwrap_or("");
    rest.split_once('?').unwrap_or((rest, ""))
}

/// The Polygon endpoints orakl calls: a request as the client builds it
/// ([`Route::path`]) and as a recorder or a replay reads it back
/// ([`Route::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Chain {
        underlying: String,
    },
    Contract {
        underlying: String,
        contract: String,
    },
    Aggs {
        ticker: String,
        multiplier: String,
        timespan: String,
        from: String,
        to: String,
    },
    Trades {
        ticker: String,
    },
    StockSnapshot {
        ticker: String,
    },
    /// Massive's market-wide stream of unusual option prints: no symbol in
    /// the path, the contracts are a query filter.
    UnusualTrades,
    Quotes {
        ticker: String,
    },
}

impl Route {
    pub(crate) fn parse(segments: &[String]) -> Option<Route> {
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let own = |x: &str| x.to_string();
        Some(match s.as_slice() {
            ["v3", "snapshot", "options", u] => Route::Chain { underlying: own(u) },
            ["v3", "snapshot", "options", u, c] => Route::Contract { underlying: own(u), contract: own(c) },
            ["v2", "aggs", "ticker", tk, "range", m, span, from, to] => {
                Route::Aggs { ticker: own(tk), multiplier: own(m), timespan: own(span), from: own(from), to: own(to) }
            }
            ["v3", "trades", tk] => Route::Trades { ticker: own(tk) },
            ["v2", "snapshot", "locale", "us", "markets", "stocks", "tickers", tk] => {
                Route::StockSnapshot { ticker: own(tk) }
            }
            ["options", "v1", "unusual-trades"] => Route::UnusualTrades,
            ["v3", "quotes", tk] => Route::Quotes { ticker: own(tk) },
            _ => return None,
        })
    }

    /// The request path, each part percent-encoded.
    pub(crate) fn path(&self) -> String {
        let e = net::encode;
        match self {
            Route::Chain { underlying } => format!("/v3/snapshot/options/{}", e(underlying)),
            Route::Contract { underlying, contract } => {
                format!("/v3/snapshot/options/{}/{}", e(underlying), e(contract))
            }
            Route::Aggs { ticker, multiplier, timespan, from, to } => {
                format!("/v2/aggs/ticker/{}/range/{}/{}/{}/{}", e(ticker), e(multiplier), e(timespan), e(from), e(to))
            }
            Route::Trades { ticker } => format!("/v3/trades/{}", e(ticker)),
            Route::StockSnapshot { ticker } => format!("/v2/snapshot/locale/us/markets/stocks/tickers/{}", e(ticker)),
            Route::UnusualTrades => "/options/v1/unusual-trades".to_string(),
            Route::Quotes { ticker } => format!("/v3/quotes/{}", e(ticker)),
        }
    }

    /// The endpoint kind, for breakers, stats and logs.
    pub(crate) fn endpoint(&self) -> Endpoint {
        match self {
            Route::Chain { .. } => Endpoint::OptionChain,
            Route::Contract { .. } => Endpoint::OptionContract,
            Route::Aggs { .. } => Endpoint::Aggs,
            Route::Trades { .. } => Endpoint::Trades,
            Route::StockSnapshot { .. } => Endpoint::StockSnapshot,
            Route::UnusualTrades => Endpoint::UnusualTrades,
            Route::Quotes { .. } => Endpoint::Quotes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_routes() {
        let t = Target::parse(
            "https://api.polygon.io/v3/snapshot/options/I%3ASPX?limit=250&expiration_date.lte=2025-11-21#x",
        );
        assert_eq!(t.segments, ["v3", "snapshot", "options", "I:SPX"]);
        assert_eq!(t.get("limit"), Some("250"));
        assert_eq!(t.get("expiration_date.lte"), Some("2025-11-21"));
        assert!(matches!(Route::parse(&t.segments), Some(Route::Chain { underlying }) if underlying == "I:SPX"));
        assert_eq!(
            t.next_url("12-250"),
            "https://api.polygon.io/v3/snapshot/options/I%3ASPX?cursor=12-250&limit=250&expiration_date.lte=2025-11-21"
        );
        assert_eq!(split_url("http://127.0.0.1:9/v3/trades/X?a=1"), ("/v3/trades/X", "a=1"));
        assert_eq!(split_url("/v3/trades/X"), ("/v3/trades/X", ""));
        assert!(Route::parse(&Target::parse("/v1/other").segments).is_none());
        let unusual = Target::parse("https://api.massive.com/options/v1/unusual-trades?ticker.any_of=O%3AA%2CO%3AB");
        assert_eq!(Route::parse(&unusual.segments), Some(Route::UnusualTrades));
        assert_eq!(unusual.get("ticker.any_of"), Some("O:A,O:B"));
        assert!(Route::parse(&Target::parse("/options/v1/unusual-trades/x").segments).is_none());
    }

    #[test]
    fn every_route_reads_back_from_its_path() {
        let s = |x: &str| x.to_string();
        for route in [
            Route::Chain { underlying: s("I:SPX") },
            Route::Contract { underlying: s("SPY"), contract: s("O:SPY251121C00670000") },
            Route::Aggs { ticker: s("BRK.B"), multiplier: s("5"), timespan: s("minute"), from: s("1"), to: s("2") },
            Route::Trades { ticker: s("a/b") },
            Route::StockSnapshot { ticker: s("..") },
            Route::UnusualTrades,
            Route::Quotes { ticker: s("O:SPY251121C00670000") },
        ] {
            let back = Route::parse(&Target::parse(&route.path()).segments);
            assert_eq!(back.as_ref(), Some(&route), "{}", route.path());
            assert_eq!(back.map(|r| r.endpoint()), Some(route.endpoint()));
        }
    }
}
