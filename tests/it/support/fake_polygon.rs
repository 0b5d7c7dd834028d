//! A scripted Polygon on loopback: option chains whose contracts' day
//! volume follows a per-fetch script, paginated with `next_url` (and one
//! contract's snapshot as the latest fetch shows it), plus
//! option trades for sweep confirmation, and the prints lane's data:
//! Massive's unusual trades and option quotes ([`Prints`]), each of which
//! can be switched to 403 (a plan without them). Anything else answers 404.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The prints lane's data the fake serves.
#[derive(Debug, Clone, Default)]
pub struct Prints {
    /// `/options/v1/unusual-trades` records (see [`unusual_print`]), in any
    /// order. A print is served once the clock has reached its
    /// `sip_timestamp` (a live API cannot show a print that has not
    /// happened), filtered by `sip_timestamp`, `ticker` and
    /// `ticker.any_of`, sorted as asked, `limit` per page (1000 without
    /// one) with a `next_url` cursor.
    pub unusual: Vec<Value>,
    /// `/v3/quotes/{ticker}` records per option ticker (see [`quote`]),
    /// served the same way on `timestamp`.
    pub quotes: BTreeMap<String, Vec<Value>>,
}

/// Which of the prints lane's endpoints answer 403 (the plan lacks them).
#[derive(Default)]
struct Forbidden {
    unusual: AtomicBool,
    quotes: AtomicBool,
}

pub struct FakePolygon {
    pub server: FakeServer,
    state: Arc<Mutex<State>>,
    forbidden: Arc<Forbidden>,
}

/// The prints lane's endpoints, to forbid or allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    UnusualTrades,
    Quotes,
}

const FORBIDDEN: &str = r#"{"status":"NOT_AUTHORIZED","request_id":"x","message":"You are not entitled to this data. Please upgrade your plan."}"#;

impl FakePolygon {
    /// `chains`: contracts per underlying; `trades`: `/v3/trades` results
    /// per ticker; `page_size`: contracts per chain page.
    pub fn start(
        chains: BTreeMap<String, Vec<Contract>>,
        trades: BTreeMap<String, Vec<Value>>,
        page_size: usize,
        now_ns: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> FakePolygon {
        Self::start_with_prints(chains, trades, Prints::default(), page_size, now_ns)
    }

    /// As [`FakePolygon::start`], also serving the prints lane's `prints`.
    pub fn start_with_prints(
        chains: BTreeMap<String, Vec<Contract>>,
        trades: BTreeMap<String, Vec<Value>>,
        prints: Prints,
        page_size: usize,
        now_ns: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> FakePolygon {
        let state = Arc::new(Mutex::new(State::default()));
        let forbidden = Arc::new(Forbidden::default());
        let (st, off) = (state.clone(), forbidden.clone());
        let server = FakeServer::start(move |req: &Recorded| {
            let path = req.path().to_string();
            if path == "/options/v1/unusual-trades" {
                if off.unusual.load(Ordering::SeqCst) {
                    return Reply::json(403, FORBIDDEN);
                }
                let tickers: Option<Vec<String>> = match (req.query("ticker"), req.query("ticker.any_of")) {
                    (Some(one), _) => Some(vec![one]),
                    (None, Some(list)) => Some(list.split(',').map(str::to_string).collect()),
                    (None, None) => None,
                };
                let known: Vec<&Value> = prints
                    .unusual
                    .iter()
                    .filter(|p| p["sip_timestamp"].as_i64().is_some_and(|ts| ts <= now_ns()))
                    .filter(|p| tickers.as_ref().is_none_or(|all| all.iter().any(|t| p["ticker"].as_str() == Some(t))))
                    .collect();
                return list_page(req, &path, "sip_timestamp", known);
            }
            if let Some(ticker) = path.strip_prefix("/v3/quotes/") {
                if off.quotes.load(Ordering::SeqCst) {
                    return Reply::json(403, FORBIDDEN);
                }
                let known: Vec<&Value> = prints
                    .quotes
                    .get(ticker)
                    .into_iter()
                    .flatten()
                    .filter(|q| q["sip_timestamp"].as_i64().is_some_and(|ts| ts <= now_ns()))
                    .collect();
                return list_page(req, &path, "timestamp", known);
            }
            // One contract's snapshot (`/v3/snapshot/options/SPY/O:SPY...`):
            // as the chain's latest fetch shows it, without counting a fetch.
            if let Some((u, ticker)) = path.strip_prefix("/v3/snapshot/options/").and_then(|r| r.split_once('/')) {
                let st = st.lock().unwrap();
                let fetch = st.fetches.get(u).copied().unwrap_or(1).max(1) - 1;
                let found = chains.get(u).into_iter().flatten().find(|c| c.ticker == ticker);
                return match found {
                    Some(c) => {
                        Reply::json(200, json!({"status": "OK", "results": c.snapshot(fetch, now_ns())}).to_string())
                    }
                    None => Reply::json(404, r#"{"status":"NOT_FOUND","message":"not found"}"#),
                };
            }
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
        FakePolygon { server, state, forbidden }
    }

    /// Makes `lane` answer 403 (`true`) or serve again (`false`).
    pub fn set_forbidden(&self, lane: Lane, forbidden: bool) {
        let flag = match lane {
            Lane::UnusualTrades => &self.forbidden.unusual,
            Lane::Quotes => &self.forbidden.quotes,
        };
        flag.store(forbidden, Ordering::SeqCst);
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

/// A page of `items` (JSON records with a `sip_timestamp`) as Polygon's v3
/// lists serve one: filtered on `field` (`field`, `.gt`, `.gte`, `.lt`,
/// `.lte`, nanoseconds), sorted by time (`order=desc` reverses; ties keep
/// the given order), `limit` per page (1000 by default) and a `next_url`
/// whose `cursor` is the offset of the next page.
fn list_page(req: &Recorded, path: &str, field: &str, mut items: Vec<&Value>) -> Reply {
    let bound = |op: &str| req.query(&format!("{field}{op}")).and_then(|v| v.parse::<i64>().ok());
    let (eq, gt, gte, lt, lte) = (bound(""), bound(".gt"), bound(".gte"), bound(".lt"), bound(".lte"));
    items.retain(|v| {
        let ts = v["sip_timestamp"].as_i64().unwrap_or(0);
        eq.is_none_or(|b| ts == b)
            && gt.is_none_or(|b| ts > b)
            && gte.is_none_or(|b| ts >= b)
            && lt.is_none_or(|b| ts < b)
            && lte.is_none_or(|b| ts <= b)
    });
    items.sort_by_key(|v| v["sip_timestamp"].as_i64().unwrap_or(0));
    if req.query("order").as_deref() == Some("desc") {
        items.reverse();
    }
    let limit: usize = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(1000).max(1);
    let offset: usize = req.query("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let page: Vec<&Value> = items.iter().skip(offset).take(limit).copied().collect();
    let mut body = json!({"status": "OK", "request_id": "fake", "results": page});
    if offset + limit < items.len() {
        // The rest of the query travels in the cursor's URL, as Polygon's does.
        let query = req.target.split_once('?').map_or("", |(_, q)| q);
        let rest: Vec<&str> = query.split('&').filter(|kv| !kv.starts_with("cursor=") && !kv.is_empty()).collect();
        let mut next = format!("https://api.polygon.io{path}?cursor={}", offset + limit);
        for kv in rest {
            next.push('&');
            next.push_str(kv);
        }
        body["next_url"] = json!(next);
    }
    Reply::json(200, body.to_string())
}

/// An unusual-trades record as Massive documents it (`flags` worked out
/// from the thresholds: `premium` for $100,000 or more, `size` for 1,000
/// contracts or more, `sweep` for an ISO print).
pub fn unusual_print(ticker: &str, price: f64, size: f64, exchange: i64, iso: bool, sip_timestamp: i64) -> Value {
    // OCC: the root, then 6 digits of expiry, C or P and 8 of strike.
    let body = ticker.trim_start_matches("O:");
    let root = &body[..body.len().saturating_sub(15)];
    let mut flags = Vec::new();
    if price * size * 100.0 >= 100_000.0 {
        flags.push("premium");
    }
    if size >= 1000.0 {
        flags.push("size");
    }
    if iso {
        flags.push("sweep");
    }
    json!({"ticker": ticker, "underlying_ticker": root, "occ_root": root, "price": price, "size": size,
           "exchange": exchange, "conditions": [if iso { 219 } else { 209 }], "sip_timestamp": sip_timestamp,
           "flags": flags, "sequence_number": sip_timestamp % 1_000_000})
}

/// An option NBBO as `/v3/quotes` sends it.
pub fn quote(bid: f64, ask: f64, sip_timestamp: i64) -> Value {
    json!({"bid_price": bid, "bid_size": 20, "bid_exchange": 313, "ask_price": ask, "ask_size": 30,
           "ask_exchange": 302, "sequence_number": sip_timestamp % 1_000_000, "sip_timestamp": sip_timestamp})
}
