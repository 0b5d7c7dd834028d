//! The Polygon REST client: one token bucket, retries with backoff, a circuit
//! breaker per endpoint, 403 feature switches and pagination.
//!
//! Every request, including each page and each retry, first takes a token
//! from the bucket; every wait (token, backoff, `Retry-After`) goes through
//! the [`Clock`], so a replay on a simulated clock spends time exactly as the
//! live service would, and a shutdown interrupts it. The API key travels only
//! in the `Authorization` header; no URL, log line, error or `Debug` output
//! contains it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;

use crate::alert::ContractType;
use crate::backoff::{self, Budget, Wait};
use crate::clock::{Clock, Waited};
use crate::http::{self, Http, HttpError, Response};
use crate::logging::quoted;
use crate::notify::Notifier;

use super::breaker::{Admission, Breaker, Transition};
use super::feature::{Feature, Gate, Switches};
use super::models::{
    Bar, ContractResponse, Envelope, OptionSnapshot, PageSeed, Quote, StockSnapshotResponse, TickerSnapshot, Trade,
    UnusualTrade,
};
use super::rate::{GateError, RateGate};
use super::route::Route;
use super::stats::Stats;
use super::{Endpoint, PolygonError, url};

pub const DEFAULT_BASE_URL: &str = "https://api.polygon.io";
/// The chain endpoint's largest page.
const CHAIN_PAGE_LIMIT: u32 = 250;
/// The aggregates and trades endpoints' largest page.
const MAX_PAGE_LIMIT: u32 = 50_000;
/// Unusual trades per page when the caller does not say. Massive's page
/// for the endpoint names no default or maximum; this is Polygon's v3 list
/// default (trades, quotes), and a day's stream (thousands of records in a
/// busy hour) still comes in a few pages.
const UNUSUAL_PAGE_LIMIT: u32 = 1_000;
/// How much of an unexpected body an error message quotes.
const EXCERPT_CHARS: usize = 80;
const TIMESPANS: [&str; 8] = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"];

/// Settings of the client. `Debug` redacts the key.
#[derive(Clone)]
pub struct PolygonConfig {
    /// `https://host[:port]`; plain `http` only to loopback.
    pub base_url: String,
    pub api_key: String,
    /// Token bucket rate (requests per second).
    pub rate_per_sec: u64,
    /// Most requests the bucket lets through at once (1..=rate). The default
    /// of 1 spaces requests evenly, so no 1-second window ever holds more
    /// than `rate_per_sec` of them; a larger burst would allow up to
    /// `burst + rate_per_sec` in a window right after an idle spell.
    pub burst: u64,
    /// Global per-request timeout, connect to last body byte.
    pub timeout: Duration,
    /// Retries after the first attempt for 429, 5xx and transport errors.
    pub max_retries: u32,
    /// First backoff; doubles per retry up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Cap on a server's `Retry-After`. A `Retry-After` longer than
    /// [`backoff::LONGEST_INLINE_WAIT`] is not slept: it opens the
    /// endpoint's circuit for that long (at most this).
    pub retry_after_max: Duration,
    /// Total time one request's retries may take: no retry starts later
    /// than this after the first attempt.
    pub retry_budget: Duration,
    /// Consecutive failed calls that open an endpoint's circuit (0: never).
    pub breaker_failures: u32,
    /// How long an open circuit refuses calls before one trial call.
    pub breaker_cooldown: Duration,
    /// Bound on pages per call, against a server that loops its `next_url`.
    pub max_pages: usize,
    /// How long a feature switched off by a 403 stays off before one call
    /// probes it again.
    pub feature_reprobe: Duration,
}

impl PolygonConfig {
    /// The defaults, against the production API.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key: api_key.into(),
            rate_per_sec: 5,
            burst: 1,
            timeout: Duration::from_secs(15),
            max_retries: 3,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(120),
            retry_budget: Duration::from_secs(10),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(60),
            max_pages: 400,
            feature_reprobe: Duration::from_secs(30 * 60),
        }
    }
}

impl fmt::Debug for PolygonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.api_key.is_empty() { "(empty)" } else { "[redacted]" };
        f.debug_struct("PolygonConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &key)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("burst", &self.burst)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("retry_after_max", &self.retry_after_max)
            .field("retry_budget", &self.retry_budget)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("max_pages", &self.max_pages)
            .field("feature_reprobe", &self.feature_reprobe)
            .finish()
    }
}

/// Filters for the option chain. Polygon applies them server-side, so they
/// cut pages, not just rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainQuery {
    pub expiration_date_gte: Option<NaiveDate>,
    /// Today + the largest DTE any enabled bot needs.
    pub expiration_date_lte: Option<NaiveDate>,
    pub contract_type: Option<ContractType>,
    pub strike_price_gte: Option<f64>,
    pub strike_price_lte: Option<f64>,
}

/// A range for `/v3/trades`. Timestamps are Unix nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TradesQuery {
    pub timestamp_gt: Option<i64>,
    pub timestamp_gte: Option<i64>,
    pub timestamp_lt: Option<i64>,
    pub timestamp_lte: Option<i64>,
    /// Trades per page, 1..=50000 (default 50000).
    pub limit: Option<u32>,
    /// Stop after this many pages and return what was read. Trades come in
    /// ascending time, so that is a prefix the caller can resume after its
    /// last `sip_timestamp` (use `timestamp_gte` and dedup by id, since a
    /// page may end inside a run of equal timestamps). Without it, running
    /// past the client's page bound is an error.
    pub max_pages: Option<usize>,
}

/// Filters for Massive's `/options/v1/unusual-trades`. Timestamps are Unix
/// nanoseconds.
///
/// The endpoint's page documents the filters (`ticker`, `ticker.any_of`,
/// `ticker.gt/gte/lt/lte`, `sip_timestamp` and its range) but not paging,
/// sorting or the page size; the client follows Polygon's v3 conventions
/// for them (`limit`, `sort`, `order`, `next_url`), as every other list
/// endpoint it reads does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnusualQuery {
    pub sip_timestamp_gte: Option<i64>,
    pub sip_timestamp_lte: Option<i64>,
    /// `ticker.any_of` (option tickers); empty: every contract.
    pub tickers: Vec<String>,
    /// Records per page, 1..=50000; default 1000 (Polygon's v3 list
    /// default: the endpoint documents none).
    pub limit: Option<u32>,
    /// Stop after this many pages and return what was read: a prefix in
    /// ascending time (when the server honours `order=asc`), which the
    /// caller resumes from its last `sip_timestamp` with
    /// `sip_timestamp_gte` (dropping the prints it already has: a page may
    /// end inside a run of equal timestamps). Without it, running past the
    /// client's page bound is an error.
    pub max_pages: Option<usize>,
}

/// An end of an aggregates range: a date or a Unix millisecond timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggBound {
    Date(NaiveDate),
    Millis(i64),
}

impl From<NaiveDate> for AggBound {
    fn from(d: NaiveDate) -> Self {
        AggBound::Date(d)
    }
}

impl From<i64> for AggBound {
    fn from(ms: i64) -> Self {
        AggBound::Millis(ms)
    }
}

impl fmt::Display for AggBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AggBound::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            AggBound::Millis(ms) => write!(f, "{ms}"),
        }
    }
}

/// How requests leave the process. [`Http`] in production; a replay or a
/// test may answer from elsewhere and still get the client's pagination,
/// rate limiting, retries and accounting.
pub trait Transport: Send {
    fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError>;
}

impl Transport for Http {
    fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        Http::get(self, url, headers)
    }
}

/// One API call as errors and logs name it.
struct Call {
    kind: Endpoint,
    ticker: String,
    /// `option_chain SPY`, `aggs SPY 5/minute`: the prefix of error messages.
    label: String,
}

impl Call {
    fn new(kind: Endpoint, ticker: &str, extra: Option<String>) -> Self {
        let label = match extra {
            Some(x) => format!("{} {ticker} {x}", kind.as_str()),
            None => format!("{} {ticker}", kind.as_str()),
        };
        Self { kind, ticker: ticker.to_string(), label }
    }
}

pub struct Client {
    transport: Box<dyn Transport>,
    clock: Arc<dyn Clock>,
    gate: RateGate,
    /// `scheme://host[:port]` of the configured base URL; every request and
    /// every `next_url` goes here and nowhere else.
    origin: String,
    /// `Bearer <key>`.
    authorization: String,
    config: PolygonConfig,
    breakers: RefCell<BTreeMap<Endpoint, Breaker>>,
    features: RefCell<Switches>,
    stats: RefCell<Stats>,
    /// Time spent on the server's account since start: in requests and in
    /// the retry waits it caused (not in the token bucket, which is the
    /// pace orakl sets itself).
    server_time: Cell<Duration>,
    /// No attempt starts once `server_time` has reached this (a firing's
    /// budget, set by the caller).
    server_time_limit: Cell<Option<Duration>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("disabled", &self.disabled_features())
            .field("open_circuits", &self.open_circuits())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client speaking HTTP with the configured global timeout.
    pub fn new(config: PolygonConfig, clock: Arc<dyn Clock>, notifier: Notifier) -> Result<Self, PolygonError> {
        let http = Http::new(config.timeout, notifier);
        Self::with_transport(config, clock, Box::new(http))
    }

    pub fn with_transport(
        config: PolygonConfig,
        clock: Arc<dyn Clock>,
        transport: Box<dyn Transport>,
    ) -> Result<Self, PolygonError> {
        let origin = url::origin(&config.base_url).map_err(PolygonError::Config)?;
        if config.api_key.is_empty() {
            return Err(PolygonError::Config("api key is empty".into()));
        }
        // It goes into a header line: anything else would corrupt the request.
        if !config.api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PolygonError::Config("api key contains spaces, control or non-ascii characters".into()));
        }
        if config.max_pages == 0 {
            return Err(PolygonError::Config("max pages must be at least 1".into()));
        }
        let gate = RateGate::new(config.rate_per_sec, config.burst, clock.clone()).map_err(PolygonError::Config)?;
        let features = RefCell::new(Switches::new(config.feature_reprobe));
        Ok(Self {
            transport,
            clock,
            gate,
            origin,
            authorization: format!("Bearer {}", config.api_key),
            config,
            breakers: RefCell::new(BTreeMap::new()),
            features,
            stats: RefCell::new(Stats::default()),
            server_time: Cell::new(Duration::ZERO),
            server_time_limit: Cell::new(None),
        })
    }

    /// The whole chain of `underlying`, every page merged. All or nothing: if
    /// any page fails, the error comes back and none of the chain.
    pub fn option_chain(&self, underlying: &str, query: &ChainQuery) -> Result<Vec<OptionSnapshot>, PolygonError> {
        self.option_chain_map(underlying, query, Some).map(|(all, _)| all)
    }

    /// As [`Client::option_chain`], with each contract turned into what the
    /// caller keeps (or dropped) as its page arrives, so that a chain of
    /// thousands of contracts is never held whole as models; also returns
    /// how many contracts were read. Still all or nothing: a failed page
    /// fails the call.
    pub fn option_chain_map<T: DeserializeOwned, U>(
        &self,
        underlying: &str,
        query: &ChainQuery,
        keep: impl FnMut(T) -> Option<U>,
    ) -> Result<(Vec<U>, usize), PolygonError> {
        let route = Route::Chain { underlying: underlying.to_string() };
        let call = Call::new(route.endpoint(), underlying, None);
        self.run(&call, || {
            non_empty(&call, underlying)?;
            let mut target = format!("{}?limit={CHAIN_PAGE_LIMIT}", route.path());
            if let Some(d) = query.expiration_date_gte {
                target.push_str(&format!("&expiration_date.gte={}", d.format("%Y-%m-%d")));
            }
            if let Some(d) = query.expiration_date_lte {
                target.push_str(&format!("&expiration_date.lte={}", d.format("%Y-%m-%d")));
            }
            if let Some(t) = query.contract_type {
                target.push_str(match t {
                    ContractType::Call => "&contract_type=call",
                    ContractType::Put => "&contract_type=put",
                });
            }
            for (name, value) in
                [("strike_price.gte", query.strike_price_gte), ("strike_price.lte", query.strike_price_lte)]
            {
                if let Some(v) = value {
                    if !v.is_finite() {
                        return Err(invalid(&call, format!("{name} is not a finite number")));
                    }
                    target.push_str(&format!("&{name}={v}"));
                }
            }
            self.paginate_map(&call, target, None, keep)
        })
    }

    /// One contract's snapshot; `None` when Polygon does not know it (404).
    pub fn option_contract(&self, underlying: &str, contract: &str) -> Result<Option<OptionSnapshot>, PolygonError> {
        let route = Route::Contract { underlying: underlying.to_string(), contract: contract.to_string() };
        let call = Call::new(route.endpoint(), contract, None);
        self.run(&call, || {
            non_empty(&call, underlying)?;
            non_empty(&call, contract)?;
            let target = route.path();
            let Some(body) = self.fetch(&call, &target, true)? else { return Ok(None) };
            let resp: ContractResponse = self.parse(&call, &body)?;
            self.check_status(&call, resp.status.as_deref(), resp.error.as_deref().or(resp.message.as_deref()))?;
            self.stats.borrow_mut().endpoint(call.kind).pages += 1;
            Ok(resp.results)
        })
    }

    /// Aggregate bars in ascending time; `t` is milliseconds. An empty range
    /// is an empty vector.
    pub fn aggs(
        &self,
        ticker: &str,
        multiplier: u32,
        timespan: &str,
        from: impl Into<AggBound>,
        to: impl Into<AggBound>,
    ) -> Result<Vec<Bar>, PolygonError> {
        let (from, to): (AggBound, AggBound) = (from.into(), to.into());
        let route = Route::Aggs {
            ticker: ticker.to_string(),
            multiplier: multiplier.to_string(),
            timespan: timespan.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        };
        let call = Call::new(route.endpoint(), ticker, Some(format!("{multiplier}/{timespan}")));
        self.run(&call, || {
            non_empty(&call, ticker)?;
            if multiplier == 0 {
                return Err(invalid(&call, "multiplier must be at least 1".into()));
            }
            if !TIMESPANS.contains(&timespan) {
                return Err(invalid(&call, format!("unknown timespan, expected one of {}", TIMESPANS.join(", "))));
            }
            let target = format!("{}?adjusted=true&sort=asc&limit={MAX_PAGE_LIMIT}", route.path());
            self.paginate(&call, target, None)
        })
    }

    /// Trades (stock or option prints) in ascending time, every page merged.
    pub fn trades(&self, ticker: &str, query: &TradesQuery) -> Result<Vec<Trade>, PolygonError> {
        let route = Route::Trades { ticker: ticker.to_string() };
        let call = Call::new(route.endpoint(), ticker, None);
        self.run(&call, || {
            non_empty(&call, ticker)?;
            let limit = query.limit.unwrap_or(MAX_PAGE_LIMIT);
            if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
                return Err(invalid(&call, format!("limit must be 1..={MAX_PAGE_LIMIT}")));
            }
            if query.max_pages == Some(0) {
                return Err(invalid(&call, "max_pages must be at least 1".into()));
            }
            let mut target = format!("{}?order=asc&sort=timestamp&limit={limit}", route.path());
            for (name, value) in [
                ("timestamp.gt", query.timestamp_gt),
                ("timestamp.gte", query.timestamp_gte),
                ("timestamp.lt", query.timestamp_lt),
                ("timestamp.lte", query.timestamp_lte),
            ] {
                if let Some(ns) = value {
                    target.push_str(&format!("&{name}={ns}"));
                }
            }
            self.paginate(&call, target, query.max_pages)
        })
    }

    /// Massive's unusual option trades matching `q`, every page merged,
    /// sorted ascending by `sip_timestamp` (records of one nanosecond in the
    /// order they came): the request asks for ascending order, and a server
    /// that ignores it must not hand the caller a cursor from the middle.
    pub fn unusual_trades(&self, q: &UnusualQuery) -> Result<Vec<UnusualTrade>, PolygonError> {
        let route = Route::UnusualTrades;
        let scope = match q.tickers.as_slice() {
            [] => "market".to_string(),
            [one] => one.clone(),
            many => format!("{}_contracts", many.len()),
        };
        let call = Call::new(route.endpoint(), &scope, None);
        self.run(&call, || {
            let limit = q.limit.unwrap_or(UNUSUAL_PAGE_LIMIT);
            if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
                return Err(invalid(&call, format!("limit must be 1..={MAX_PAGE_LIMIT}")));
            }
            if q.max_pages == Some(0) {
                return Err(invalid(&call, "max_pages must be at least 1".into()));
            }
            // A comma inside a ticker would split it in `ticker.any_of`.
            if q.tickers.iter().any(|t| t.trim().is_empty() || t.contains(',')) {
                return Err(invalid(&call, "tickers must be non-empty and contain no comma".into()));
            }
            let mut target = format!("{}?sort=sip_timestamp&order=asc&limit={limit}", route.path());
            for (name, value) in
                [("sip_timestamp.gte", q.sip_timestamp_gte), ("sip_timestamp.lte", q.sip_timestamp_lte)]
            {
                if let Some(ns) = value {
                    target.push_str(&format!("&{name}={ns}"));
                }
            }
            if !q.tickers.is_empty() {
                target.push_str(&format!("&ticker.any_of={}", crate::net::encode(&q.tickers.join(","))));
            }
            let mut prints: Vec<UnusualTrade> = self.paginate(&call, target, q.max_pages)?;
            // Stable: prints of one nanosecond keep the server's order.
            prints.sort_by_key(|p| p.sip_timestamp);
            Ok(prints)
        })
    }

    /// The NBBO of option `contract` at or just before `at_ns`:
    /// `/v3/quotes/{contract}?timestamp.lte=at_ns&order=desc&sort=timestamp&limit=1`,
    /// one page (its `next_url` leads to older quotes, not wanted). None when
    /// there is none (or the contract is unknown, 404). Of what comes back,
    /// the latest quote at or before `at_ns` is taken, so a server that
    /// ignores `order` or the bound is not believed blindly.
    pub fn quote_at(&self, contract: &str, at_ns: i64) -> Result<Option<Quote>, PolygonError> {
        let route = Route::Quotes { ticker: contract.to_string() };
        let call = Call::new(route.endpoint(), contract, None);
        self.run(&call, || {
            non_empty(&call, contract)?;
            let target = format!("{}?timestamp.lte={at_ns}&order=desc&sort=timestamp&limit=1", route.path());
            let Some(body) = self.fetch(&call, &target, true)? else { return Ok(None) };
            let page: Envelope<Vec<Quote>> = self.parse(&call, &body)?;
            self.check_status(&call, page.status.as_deref(), page.error.as_deref().or(page.message.as_deref()))?;
            self.stats.borrow_mut().endpoint(call.kind).pages += 1;
            // The first of the latest, in the order they came.
            let mut latest: Option<Quote> = None;
            for q in page.results.unwrap_or_default().into_iter().filter(|q| q.sip_timestamp <= at_ns) {
                if latest.as_ref().is_none_or(|best| q.sip_timestamp > best.sip_timestamp) {
                    latest = Some(q);
                }
            }
            Ok(latest)
        })
    }

    /// A stock's snapshot; `None` when Polygon does not know the ticker.
    pub fn stock_snapshot(&self, ticker: &str) -> Result<Option<TickerSnapshot>, PolygonError> {
        let route = Route::StockSnapshot { ticker: ticker.to_string() };
        let call = Call::new(route.endpoint(), ticker, None);
        self.run(&call, || {
            non_empty(&call, ticker)?;
            let target = route.path();
            let Some(body) = self.fetch(&call, &target, true)? else { return Ok(None) };
            let resp: StockSnapshotResponse = self.parse(&call, &body)?;
            self.check_status(&call, resp.status.as_deref(), resp.error.as_deref().or(resp.message.as_deref()))?;
            self.stats.borrow_mut().endpoint(call.kind).pages += 1;
            Ok(resp.ticker)
        })
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.stats.borrow().clone()
    }

    /// Time spent waiting on the server since start (requests and the retry
    /// waits they caused), on the client's clock.
    pub fn server_time(&self) -> Duration {
        self.server_time.get()
    }

    /// From now on no request (attempt or page) starts once
    /// [`Client::server_time`] has reached `limit`; `None` lifts the limit.
    /// A firing sets it so that a slow server cannot hold it for minutes.
    pub fn set_server_time_limit(&self, limit: Option<Duration>) {
        self.server_time_limit.set(limit);
    }

    /// Features switched off by a 403, for the heartbeat and health.
    pub fn disabled_features(&self) -> Vec<&'static str> {
        self.features.borrow().off().into_iter().map(|(f, _)| f.as_str()).collect()
    }

    /// Features switched off by a 403, each with why, for the state
    /// database (`orakl status`).
    pub fn disabled_feature_reasons(&self) -> Vec<(Feature, String)> {
        self.features.borrow().off()
    }

    pub fn is_disabled(&self, feature: Feature) -> bool {
        self.features.borrow().is_off(feature)
    }

    /// Switches a feature off as a previous process recorded it, `age` ago:
    /// it is probed once its back-off has passed, not at once, so a restart
    /// loop cannot hammer a forbidden endpoint.
    pub fn restore_disabled(&self, feature: Feature, age: Duration, reason: String) {
        let mut switches = self.features.borrow_mut();
        let probe_in = switches.reprobe().saturating_sub(age);
        switches.restore_off(feature, self.clock.elapsed(), probe_in, reason);
    }

    /// Endpoint kinds whose circuit is open (or awaiting its trial call):
    /// while any is, the service reports itself degraded.
    pub fn open_circuits(&self) -> Vec<&'static str> {
        self.breakers.borrow().iter().filter(|(_, b)| b.is_open()).map(|(e, _)| e.as_str()).collect()
    }

    /// The feature switch and the circuit breaker around one call, and its
    /// outcome in the counters.
    fn run<R>(&self, call: &Call, body: impl FnOnce() -> Result<R, PolygonError>) -> Result<R, PolygonError> {
        let feature = Feature::of(call.kind, &call.ticker);
        let gate = self.features.borrow().admit(feature, self.clock.elapsed());
        match gate {
            Gate::Allowed => {}
            Gate::Probe => {
                log::info!(
                    feature = feature,
                    endpoint = call.kind.as_str(),
                    ticker = call.ticker;
                    "polygon_feature_probe"
                )
            }
            Gate::Off => {
                self.stats.borrow_mut().endpoint(call.kind).calls_skipped += 1;
                return Err(PolygonError::Forbidden { endpoint: call.label.clone(), feature: feature.as_str() });
            }
        }
        let admission = self.breaker(call.kind, |b| b.admit(self.clock.elapsed()));
        match admission {
            Admission::Allowed => {}
            Admission::Trial => {
                log::info!(
                    endpoint = call.kind.as_str(),
                    ticker = call.ticker,
                    action = "trial_call";
                    "polygon_circuit_half_open"
                )
            }
            Admission::Rejected { retry_in } => {
                self.stats.borrow_mut().endpoint(call.kind).calls_skipped += 1;
                let retry_in_secs = retry_in.as_secs() + u64::from(retry_in.subsec_nanos() > 0);
                return Err(PolygonError::CircuitOpen { endpoint: call.label.clone(), retry_in_secs });
            }
        }
        let result = body();
        let transition = match &result {
            Ok(_) => {
                self.stats.borrow_mut().endpoint(call.kind).calls_ok += 1;
                if gate == Gate::Probe && self.features.borrow_mut().on_success(feature) {
                    log::warn!(
                        feature = feature,
                        endpoint = call.kind.as_str(),
                        ticker = call.ticker;
                        "polygon_feature_restored"
                    );
                }
                self.breaker(call.kind, |b| b.on_success())
            }
            Err(e) => {
                self.stats.borrow_mut().endpoint(call.kind).calls_failed += 1;
                if e.trips_breaker() {
                    self.breaker(call.kind, |b| b.on_failure(self.clock.elapsed()))
                } else {
                    Transition::None
                }
            }
        };
        match transition {
            Transition::Opened => {
                log::warn!(
                    endpoint = call.kind.as_str(),
                    ticker = call.ticker,
                    failures = self.config.breaker_failures,
                    cooldown_s = self.config.breaker_cooldown.as_secs();
                    "polygon_circuit_open"
                )
            }
            Transition::Closed => {
                log::info!(endpoint = call.kind.as_str(), ticker = call.ticker; "polygon_circuit_closed")
            }
            Transition::None => {}
        }
        result
    }

    fn breaker<T>(&self, kind: Endpoint, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut breakers = self.breakers.borrow_mut();
        let b = breakers
            .entry(kind)
            .or_insert_with(|| Breaker::new(self.config.breaker_failures, self.config.breaker_cooldown));
        f(b)
    }

    /// Follows `next_url` page by page and merges the results. Any failed
    /// page fails the whole call.
    fn paginate<T: DeserializeOwned>(
        &self,
        call: &Call,
        first: String,
        page_cap: Option<usize>,
    ) -> Result<Vec<T>, PolygonError> {
        self.paginate_map(call, first, page_cap, Some).map(|(all, _)| all)
    }

    /// Follows `next_url` from `first`, passing each result to `keep` as its
    /// page arrives; the kept ones and how many results were read.
    fn paginate_map<T: DeserializeOwned, U>(
        &self,
        call: &Call,
        first: String,
        page_cap: Option<usize>,
        mut keep: impl FnMut(T) -> Option<U>,
    ) -> Result<(Vec<U>, usize), PolygonError> {
        let max_pages = self.config.max_pages;
        let mut out = Vec::new();
        let mut read = 0usize;
        let mut seen = BTreeSet::new();
        let mut target = first;
        let mut pages = 0usize;
        loop {
            // Finish the request in flight on shutdown, but start no new page.
            if pages > 0 && self.clock.shutdown().is_requested() {
                return Err(PolygonError::Shutdown { endpoint: call.label.clone() });
            }
            let body = self.fetch(call, &target, false)?.ok_or_else(|| PolygonError::Status {
                endpoint: call.label.clone(),
                status: 404,
                attempts: 1,
                detail: None,
            })?;
            let seed = PageSeed { keep: &mut keep, out: &mut out, read: &mut read, item: PhantomData::<T> };
            let page = self.parse_seed(call, &body, seed)?;
            drop(body);
            self.check_status(call, page.status.as_deref(), page.error.as_deref().or(page.message.as_deref()))?;
            pages += 1;
            self.stats.borrow_mut().endpoint(call.kind).pages += 1;
            let Some(next) = page.next_url.filter(|n| !n.trim().is_empty()) else { return Ok((out, read)) };
            if page_cap.is_some_and(|cap| pages >= cap) {
                log::info!(
                    endpoint = call.kind.as_str(),
                    ticker = call.ticker,
                    pages = pages,
                    results = read,
                    action = "return_prefix";
                    "polygon_page_cap"
                );
                return Ok((out, read));
            }
            if pages >= max_pages {
                return Err(PolygonError::TooManyPages { endpoint: call.label.clone(), max: max_pages });
            }
            target = url::next_target(&next)
                .map_err(|d| PolygonError::BadBody { endpoint: call.label.clone(), detail: d })?;
            if !seen.insert(target.clone()) {
                return Err(PolygonError::BadBody {
                    endpoint: call.label.clone(),
                    detail: "next_url repeats an earlier page".into(),
                });
            }
        }
    }

    /// One request with its retries. `Ok(None)` is a 404 when the caller
    /// treats "not found" as an answer.
    fn fetch(&self, call: &Call, target: &str, not_found_ok: bool) -> Result<Option<Vec<u8>>, PolygonError> {
        let full_url = format!("{}{target}", self.origin);
        let headers = [("Authorization", self.authorization.as_str()), ("Accept", "application/json")];
        let max_retries = self.config.max_retries;
        let budget = Budget::new(self.clock.elapsed(), self.config.retry_budget);
        let mut attempt: u32 = 0;
        loop {
            if self.server_time_limit.get().is_some_and(|limit| self.server_time.get() >= limit) {
                return Err(PolygonError::BudgetSpent { endpoint: call.label.clone() });
            }
            self.take_token(call)?;
            let attempts = attempt + 1;
            let sent_at = self.clock.elapsed();
            let answer = self.transport.get(&full_url, &headers);
            self.spend(sent_at);
            let (wait, what) = match answer {
                Ok(resp) => {
                    {
                        let mut stats = self.stats.borrow_mut();
                        let s = stats.endpoint(call.kind);
                        *s.requests.entry(resp.status.to_string()).or_default() += 1;
                        s.bytes_received += resp.body.len() as u64;
                    }
                    match resp.status {
                        200..=299 => return Ok(Some(resp.body)),
                        404 if not_found_ok => return Ok(None),
                        401 => {
                            log::error!(
                                endpoint = call.kind.as_str(),
                                ticker = call.ticker,
                                status = "401",
                                action = "check_api_key";
                                "polygon_unauthorized"
                            );
                            return Err(PolygonError::Unauthorized { endpoint: call.label.clone() });
                        }
                        403 => return Err(self.forbid(call)),
                        429 | 500..=599 if attempt < max_retries => match self.retry_wait(&resp, attempt) {
                            Wait::Sleep(wait)
                                if budget.allows(self.clock.elapsed(), wait) && self.within_limit(wait) =>
                            {
                                (wait, resp.status.to_string())
                            }
                            // The firing's budget has no room for the wait the server asked
                            // for: the endpoint pauses until then, so the next call honours it.
                            Wait::Sleep(wait) if resp.header("retry-after").is_some() => {
                                return Err(self.defer(call, &resp, attempts, wait));
                            }
                            Wait::Sleep(_) => return Err(self.status_error(call, &resp, attempts)),
                            Wait::Defer(wait) => return Err(self.defer(call, &resp, attempts, wait)),
                        },
                        status => {
                            debug_assert_eq!(status, resp.status);
                            return Err(self.status_error(call, &resp, attempts));
                        }
                    }
                }
                Err(error) => {
                    *self.stats.borrow_mut().endpoint(call.kind).requests.entry("error".into()).or_default() += 1;
                    let wait = backoff::backoff(self.config.backoff_base, self.config.backoff_max, attempt);
                    if !error.retry_now()
                        || attempt >= max_retries
                        || !budget.allows(self.clock.elapsed(), wait)
                        || !self.within_limit(wait)
                    {
                        return Err(PolygonError::Transport { endpoint: call.label.clone(), error, attempts });
                    }
                    (wait, quoted(&error.to_string()).to_string())
                }
            };
            log::warn!(
                endpoint = call.kind.as_str(),
                ticker = call.ticker,
                cause = what,
                attempt = attempts,
                max_retries = max_retries,
                wait_ms = wait.as_millis();
                "polygon_retry"
            );
            {
                let mut stats = self.stats.borrow_mut();
                stats.retry_wait_ms += wait.as_millis() as u64;
                stats.endpoint(call.kind).retries += 1;
            }
            let waited_from = self.clock.elapsed();
            let waited = self.clock.wait(wait);
            self.spend(waited_from);
            if waited == Waited::Shutdown {
                return Err(PolygonError::Shutdown { endpoint: call.label.clone() });
            }
            attempt += 1;
        }
    }

    /// Whether a retry after `wait` still starts within the caller's limit
    /// on server time. When it does not, the call ends with the failure it
    /// has (so the circuit breaker counts it), not with `BudgetSpent`.
    fn within_limit(&self, wait: Duration) -> bool {
        self.server_time_limit.get().is_none_or(|limit| self.server_time.get().saturating_add(wait) < limit)
    }

    /// Adds the time since `from` to the server's account.
    fn spend(&self, from: Duration) {
        let spent = self.clock.elapsed().saturating_sub(from);
        self.server_time.set(self.server_time.get().saturating_add(spent));
    }

    fn take_token(&self, call: &Call) -> Result<(), PolygonError> {
        match self.gate.acquire() {
            Ok(waited) => {
                self.stats.borrow_mut().rate_limit_wait_ms += waited.as_millis() as u64;
                Ok(())
            }
            Err(GateError::Shutdown) => Err(PolygonError::Shutdown { endpoint: call.label.clone() }),
            Err(GateError::Stuck) => Err(PolygonError::ClockStuck { endpoint: call.label.clone() }),
        }
    }

    /// The server's `Retry-After` on a 429 or 503, else backoff. A long
    /// `Retry-After` is to be deferred, not slept.
    fn retry_wait(&self, resp: &Response, attempt: u32) -> Wait {
        let told = match resp.status {
            429 | 503 => resp.header("retry-after").and_then(|v| backoff::retry_after(v, self.clock.now())),
            _ => None,
        };
        match told {
            Some(d) => Wait::of(d),
            None => Wait::Sleep(backoff::backoff(self.config.backoff_base, self.config.backoff_max, attempt)),
        }
    }

    fn status_error(&self, call: &Call, resp: &Response, attempts: u32) -> PolygonError {
        PolygonError::Status {
            endpoint: call.label.clone(),
            status: resp.status,
            attempts,
            detail: self.error_detail(&resp.body),
        }
    }

    /// A `Retry-After` too long to sleep inside a job: the endpoint's
    /// circuit opens until then (capped by `retry_after_max`), so every call
    /// to it fails fast and the other endpoints and jobs go on.
    fn defer(&self, call: &Call, resp: &Response, attempts: u32, told: Duration) -> PolygonError {
        let pause = told.min(self.config.retry_after_max);
        let until = self.clock.elapsed().saturating_add(pause);
        if self.breaker(call.kind, |b| b.open_until(until)) == Transition::Opened {
            log::warn!(
                endpoint = call.kind.as_str(),
                ticker = call.ticker,
                status = resp.status,
                retry_after_s = told.as_secs(),
                cooldown_s = pause.as_secs();
                "polygon_circuit_open"
            );
        }
        self.status_error(call, resp, attempts)
    }

    /// Switches off the feature this call served (not the endpoint kind:
    /// options and stock data are sold apart) until its back-off has
    /// passed, with one warning each time it goes off.
    fn forbid(&self, call: &Call) -> PolygonError {
        let feature = Feature::of(call.kind, &call.ticker);
        let minutes = self.config.feature_reprobe.as_secs() / 60;
        let reason = format!(
            "HTTP 403 on {}: the plan does not include this data; probed again every {minutes} min",
            call.label
        );
        if self.features.borrow_mut().forbid(feature, self.clock.elapsed(), reason) {
            log::warn!(
                endpoint = call.kind.as_str(),
                ticker = call.ticker,
                status = "403",
                feature = feature,
                action = "disabled",
                reprobe_min = minutes;
                "polygon_forbidden"
            );
        }
        PolygonError::Forbidden { endpoint: call.label.clone(), feature: feature.as_str() }
    }

    /// A 2xx body may still report a failure in its `status` field.
    fn check_status(&self, call: &Call, status: Option<&str>, message: Option<&str>) -> Result<(), PolygonError> {
        match status {
            Some("ERROR") => Err(PolygonError::BadBody {
                endpoint: call.label.clone(),
                detail: format!("status ERROR: {}", self.excerpt(message.unwrap_or("").as_bytes())),
            }),
            Some("NOT_AUTHORIZED") => Err(self.forbid(call)),
            _ => Ok(()),
        }
    }

    fn parse<T: DeserializeOwned>(&self, call: &Call, body: &[u8]) -> Result<T, PolygonError> {
        self.parse_seed(call, body, PhantomData::<T>)
    }

    fn parse_seed<'de, S: serde::de::DeserializeSeed<'de>>(
        &self,
        call: &Call,
        body: &'de [u8],
        seed: S,
    ) -> Result<S::Value, PolygonError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v)).map_err(|e| PolygonError::BadBody {
            endpoint: call.label.clone(),
            detail: format!(
                "{}; body starts {}",
                http::excerpt(e.to_string().as_bytes(), &self.config.api_key, EXCERPT_CHARS * 2),
                self.excerpt(body)
            ),
        })
    }

    /// Polygon's error text from an error body, else its first characters.
    fn error_detail(&self, body: &[u8]) -> Option<String> {
        if body.is_empty() {
            return None;
        }
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            error: Option<String>,
            message: Option<String>,
        }
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody { error: Some(text), .. }) | Ok(ErrorBody { message: Some(text), .. }) => {
                Some(self.excerpt(text.as_bytes()))
            }
            _ => Some(self.excerpt(body)),
        }
    }

    /// At most [`EXCERPT_CHARS`] characters, quoted and escaped so that a
    /// body cannot break a log line, with the key redacted before the cut
    /// (a key straddling the cut would otherwise survive in part).
    fn excerpt(&self, bytes: &[u8]) -> String {
        format!("{:?}", http::excerpt(bytes, &self.config.api_key, EXCERPT_CHARS))
    }
}

fn non_empty(call: &Call, value: &str) -> Result<(), PolygonError> {
    if value.trim().is_empty() { Err(invalid(call, "empty ticker".into())) } else { Ok(()) }
}

fn invalid(call: &Call, detail: String) -> PolygonError {
    PolygonError::InvalidRequest { endpoint: call.label.clone(), detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_redacts_the_key() {
        let c = PolygonConfig::new("CANARY-KEY-123");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("CANARY"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn agg_bounds_render_as_polygon_expects() {
        assert_eq!(AggBound::from(NaiveDate::from_ymd_opt(2025, 1, 2).unwrap()).to_string(), "2025-01-02");
        assert_eq!(AggBound::from(1_700_000_000_000i64).to_string(), "1700000000000");
    }
}
