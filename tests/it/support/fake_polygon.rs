//! A scripted Polygon on loopback: option chains whose contracts' day
//! volume follows a per-fetch script, paginated with `next_url`, plus
//! option trades for sweep confirmation. Anything else answers 404.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::fake_http::{FakeServer, Recorded, Reply};

/// One contract of a chain. `volumes[n]` is its day volume on the n-th
/// fetch of the chain (the last value repeats).
#[derive(Debug, Clone)]
pub struct Contract {
    pub ticker: String,
    pub call: bool,
    pub strike: f64,
    pub expiration: String,
    pub spot: f64,
    pub volumes: Vec<f64>,
    pub price: f64,
    pub bid: f64,
    pub ask: f64,
    pub open_interest: f64,
    pub iv: Option<f64>,
    pub delta: Option<f64>,
}

impl Contract {
    /// A liquid near-the-money contract priced at $10.
    pub fn new(ticker: &str, call: bool, strike: f64, expiration: &str, spot: f64, volumes: &[f64]) -> Contract {
        Contract {
            ticker: ticker.to_string(),
            call,
            strike,
            expiration: expiration.to_string(),
            spot,
            volumes: volumes.to_vec(),
            price: 10.0,
            bid: 9.9,
            ask: 10.0,
            open_interest: 5000.0,
            iv: Some(0.2),
            delta: Some(if call { 0.5 } else { -0.5 }),
        }
    }

    fn snapshot(&self, fetch: usize, now_ns: i64) -> Value {
        let v = self.volumes.get(fetch).or(self.volumes.last()).copied().unwrap_or(0.0);
        let mut s = json!({
            "details": {
                "ticker": self.ticker,
                "contract_type": if self.call { "call" } else { "put" },
                "exercise_style": "american",
                "expiration_date": self.expiration,
                "shares_per_contract": 100,
                "strike_price": self.strike,
            },
            "day": {"volume": v, "vwap": self.price, "low": self.price * 0.9, "high": self.price * 1.1,
                    "open": self.price, "close": self.price},
            "last_trade": {"price": self.price, "size": 10, "sip_timestamp": now_ns, "exchange": 302},
            "last_quote": {"bid": self.bid, "ask": self.ask, "midpoint": (self.bid + self.ask) / 2.0,
                           "last_updated": now_ns},
            "open_interest": self.open_interest,
            "underlying_asset": {"ticker": "SPY", "price": self.spot},
        });
        if let Some(iv) = self.iv {
            s["implied_volatility"] = json!(iv);
        }
        s["greeks"] = match self.delta {
            Some(d) => json!({"delta": d, "gamma": 0.01, "theta": -0.05, "vega": 0.2}),
            None => json!({}),
        };
        s
    }
}

#[derive(Default)]
struct State {
    /// Page-1 fetches so far, per underlying.
    fetches: BTreeMap<String, usize>,
}

pub struct FakePolygon {
    pub server: FakeServer,
    state: Arc<Mutex<State>>,
}

impl FakePolygon {
    /// `chains`: contracts per underlying; `trades`: `/v3/trades` results
    /// per ticker; `page_size`: contracts per chain page.
    pub fn start(
        chains: BTreeMap<String, Vec<Contract>>,
        trades: BTreeMap<String, Vec<Value>>,
        page_size: usize,
        now_ns: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> FakePolygon {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let server = FakeServer::start(move |req: &Recorded| {
            let path = req.path().to_string();
            if let Some(u) = path.strip_prefix("/v3/snapshot/options/") {
                let Some(contracts) = chains.get(u) else {
                    return Reply::json(200, r#"{"status":"OK","results":[]}"#);
                };
                let mut st = st.lock().unwrap();
                let page: usize = req.query("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
                if page == 0 {
                    *st.fetches.entry(u.to_string()).or_default() += 1;
                }
                let fetch = st.fetches.get(u).copied().unwrap_or(1) - 1;
                let chunk: Vec<Value> = contracts
                    .iter()
                    .skip(page * page_size)
                    .take(page_size)
                    .map(|c| c.snapshot(fetch, now_ns()))
                    .collect();
                let mut body = json!({"status": "OK", "request_id": format!("req-{fetch}-{page}"), "results": chunk});
                if (page + 1) * page_size < contracts.len() {
                    // A real next_url names the production host; the client
                    // must follow its path and query against its own base URL.
                    body["next_url"] =
                        json!(format!("https://api.polygon.io/v3/snapshot/options/{u}?cursor={}", page + 1));
                }
                return Reply::json(200, body.to_string());
            }
            if let Some(t) = path.strip_prefix("/v3/trades/") {
                // Filter by the time window as the API does.
                let bound = |k: &str| req.query(k).and_then(|v| v.parse::<i64>().ok());
                let (gt, gte, lte) = (bound("timestamp.gt"), bound("timestamp.gte"), bound("timestamp.lte"));
                let results: Vec<Value> = trades
                    .get(t)
                    .into_iter()
                    .flatten()
                    .filter(|tr| {
                        let ts = tr["sip_timestamp"].as_i64().unwrap_or(0);
                        gt.is_none_or(|g| ts > g) && gte.is_none_or(|g| ts >= g) && lte.is_none_or(|l| ts <= l)
                    })
                    .cloned()
                    .collect();
                return Reply::json(200, json!({"status": "OK", "results": results}).to_string());
            }
            if path.starts_with("/v2/aggs/") {
                return Reply::json(200, r#"{"status":"OK","resultsCount":0,"adjusted":true}"#);
            }
            Reply::json(404, r#"{"status":"NOT_FOUND","message":"not found"}"#)
        });
        FakePolygon { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// How many times the chain of `underlying` was fetched (page 1 requests).
    pub fn chain_fetches(&self, underlying: &str) -> usize {
        self.state.lock().unwrap().fetches.get(underlying).copied().unwrap_or(0)
    }
}

/// An intermarket-sweep print (OPRA condition 219) on `exchange`.
pub fn iso_print(exchange: i64, size: f64, sip_timestamp: i64) -> Value {
    json!({"conditions": [219], "exchange": exchange, "price": 10.0, "size": size,
           "sip_timestamp": sip_timestamp, "id": format!("t{exchange}-{sip_timestamp}")})
}
