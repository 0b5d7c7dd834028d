//! The Polygon client against a real loopback HTTP server, and the models
//! against every vendored recorded response.
//!
//! Waits (rate limit, backoff, `Retry-After`) run on a `SimClock`, so they
//! cost no real time and the tests assert the simulated time they consumed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use orakl::alert::ContractType;
use orakl::clock::{Clock, SimClock};
use orakl::http::HttpError;
use orakl::notify::Notifier;
use orakl::polygon::models::{
    AggsPage, ChainPage, ContractResponse, Greeks, OneOrMany, StockSnapshotResponse, TradesPage,
};
use orakl::polygon::{ChainQuery, Client, Feature, PolygonConfig, PolygonError, TradesQuery, UnusualQuery};

use crate::support::fake_http::{FakeServer, Recorded, Reply};
use crate::support::fake_polygon::{self, FakePolygon, Lane, Prints};
use crate::support::fixture_models::{
    ConditionsPage, ExchangesPage, LastTradeResponse, OptionsContractResponse, OptionsContractsPage, QuotesPage,
    StockSnapshotsResponse, UniversalSnapshotPage,
};

const KEY: &str = "CANARY-KEY-123";

fn sim_clock() -> Arc<SimClock> {
    Arc::new(SimClock::new(Utc.with_ymd_and_hms(2025, 10, 22, 14, 30, 0).unwrap()))
}

/// A client for `server` on `clock` with the default settings except a short
/// global timeout, then whatever `tweak` changes.
fn client_with(server: &FakeServer, clock: &Arc<SimClock>, tweak: impl FnOnce(&mut PolygonConfig)) -> Client {
    let mut config =
        PolygonConfig { base_url: server.url(), timeout: Duration::from_millis(2000), ..PolygonConfig::new(KEY) };
    tweak(&mut config);
    Client::new(config, clock.clone(), Notifier::disabled()).expect("valid config")
}

fn client(server: &FakeServer, clock: &Arc<SimClock>) -> Client {
    client_with(server, clock, |_| {})
}

fn contract(ticker: &str, kind: &str, strike: f64) -> Value {
    json!({
        "break_even_price": strike + 1.5,
        "day": {"change": 0.1, "change_percent": 5.0, "close": 1.5, "high": 1.6, "low": 1.2, "open": 1.3,
                "previous_close": 1.4, "volume": 1200.0, "vwap": 1.45, "last_updated": 1761143400000000000i64},
        "details": {"contract_type": kind, "exercise_style": "american", "expiration_date": "2025-11-21",
                    "shares_per_contract": 100, "strike_price": strike, "ticker": ticker},
        "greeks": {"delta": 0.5, "gamma": 0.01, "theta": -0.02, "vega": 0.3},
        "implied_volatility": 0.2,
        "last_quote": {"ask": 1.55, "ask_size": 10.0, "bid": 1.45, "bid_size": 12.0, "midpoint": 1.5,
                       "last_updated": 1761143400000000000i64, "timeframe": "REAL-TIME"},
        "last_trade": {"price": 1.55, "size": 5.0, "sip_timestamp": 1761143400000000000i64, "exchange": 309,
                       "conditions": [219], "timeframe": "REAL-TIME"},
        "open_interest": 4000.0,
        "underlying_asset": {"ticker": "SPY", "price": 670.0, "change_to_break_even": 1.5,
                             "last_updated": 1761143400000000000i64, "timeframe": "REAL-TIME"}
    })
}

fn page(results: Value, next_url: Option<&str>) -> String {
    let mut body = json!({"status": "OK", "request_id": "r1", "results": results});
    if let Some(n) = next_url {
        body["next_url"] = json!(n);
    }
    body.to_string()
}

fn ok_chain_page() -> Reply {
    Reply::json(200, page(json!([contract("O:SPY251121C00670000", "call", 670.0)]), None))
}

fn ok_trades_page() -> Reply {
    Reply::json(200, page(json!([{"price": 670.0, "size": 100.0, "sip_timestamp": 1761143400000000000i64}]), None))
}

/// The request number (0-based) the server is answering.
fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn assert_key_absent(text: &str) {
    assert!(!text.contains(KEY), "api key leaked into: {text}");
}

fn assert_requests_clean(server: &FakeServer) {
    for r in server.requests() {
        assert_eq!(r.header("authorization"), Some(format!("Bearer {KEY}").as_str()), "{}", r.target);
        assert_key_absent(&r.target);
    }
}

fn assert_error_clean(e: &PolygonError) {
    assert_key_absent(&e.to_string());
    assert_key_absent(&format!("{e:?}"));
    assert!(!e.to_string().contains("127.0.0.1"), "url in error: {e}");
}

// ---------------------------------------------------------------- pagination

#[test]
fn chain_follows_next_url_merges_pages_and_sends_the_key_only_in_the_header() {
    let server = FakeServer::start(|r: &Recorded| match r.query("cursor").as_deref() {
        None => Reply::json(
            200,
            page(
                json!([
                    contract("O:SPY251121C00670000", "call", 670.0),
                    contract("O:SPY251121P00670000", "put", 670.0)
                ]),
                // A foreign host: the client must re-base it onto its own.
                Some("https://api.massive.com/v3/snapshot/options/SPY?cursor=P2"),
            ),
        ),
        Some("P2") => Reply::json(
            200,
            page(
                json!([contract("O:SPY251121C00680000", "call", 680.0)]),
                Some("https://api.polygon.io/v3/snapshot/options/SPY?cursor=P3"),
            ),
        ),
        Some("P3") => Reply::json(200, page(json!([contract("O:SPY251121P00660000", "put", 660.0)]), None)),
        Some(_) => Reply::status(400),
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let lte = NaiveDate::from_ymd_opt(2025, 11, 21).unwrap();
    let chain = c.option_chain("SPY", &ChainQuery { expiration_date_lte: Some(lte), ..Default::default() }).unwrap();

    let tickers: Vec<_> = chain.iter().map(|s| s.ticker().unwrap()).collect();
    assert_eq!(
        tickers,
        ["O:SPY251121C00670000", "O:SPY251121P00670000", "O:SPY251121C00680000", "O:SPY251121P00660000"]
    );
    assert_eq!(chain[1].contract_type(), Some(ContractType::Put));
    assert_eq!(chain[0].scan_view().spot(), Some(670.0));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].path(), "/v3/snapshot/options/SPY");
    assert_eq!(reqs[0].query("limit").as_deref(), Some("250"));
    assert_eq!(reqs[0].query("expiration_date.lte").as_deref(), Some("2025-11-21"));
    assert_eq!(reqs[1].target, "/v3/snapshot/options/SPY?cursor=P2");
    assert_eq!(reqs[2].target, "/v3/snapshot/options/SPY?cursor=P3");
    assert_requests_clean(&server);

    let stats = c.stats();
    let s = &stats.endpoints["option_chain"];
    assert_eq!((s.pages, s.calls_ok, s.requests["200"]), (3, 1, 3));
    assert!(s.bytes_received > 0);
    // Three requests at 5/s with a burst of one: two spacings of 200 ms.
    assert!(clock.elapsed() >= Duration::from_millis(400), "{:?}", clock.elapsed());
}

#[test]
fn chain_filters_go_into_the_query() {
    let server = FakeServer::start(|_: &Recorded| ok_chain_page());
    let clock = sim_clock();
    let c = client(&server, &clock);
    let q = ChainQuery {
        expiration_date_gte: NaiveDate::from_ymd_opt(2025, 10, 22),
        expiration_date_lte: NaiveDate::from_ymd_opt(2025, 12, 19),
        contract_type: Some(ContractType::Call),
        strike_price_gte: Some(600.0),
        strike_price_lte: Some(700.5),
    };
    c.option_chain("SPY", &q).unwrap();
    let r = &server.requests()[0];
    assert_eq!(
        r.target,
        "/v3/snapshot/options/SPY?limit=250&expiration_date.gte=2025-10-22&expiration_date.lte=2025-12-19\
         &contract_type=call&strike_price.gte=600&strike_price.lte=700.5"
    );
}

#[test]
fn a_failing_second_page_fails_the_whole_chain() {
    for (name, page2) in [
        ("500 forever", Reply::html(500, "<html>boom</html>")),
        ("garbage", Reply::json(200, "{\"results\": [ {\"details\": tru")),
    ] {
        let server = FakeServer::start(move |r: &Recorded| match r.query("cursor") {
            None => {
                Reply::json(200, page(json!([contract("O:A", "call", 1.0)]), Some("/v3/snapshot/options/SPY?cursor=2")))
            }
            Some(_) => page2.clone(),
        });
        let clock = sim_clock();
        let c = client_with(&server, &clock, |c| c.max_retries = 2);
        let err = c.option_chain("SPY", &ChainQuery::default()).unwrap_err();
        assert_error_clean(&err);
        assert!(err.to_string().starts_with("option_chain SPY: "), "{name}: {err}");
        match name {
            "500 forever" => {
                assert!(matches!(err, PolygonError::Status { status: 500, attempts: 3, .. }), "{err:?}");
                assert_eq!(server.count(), 1 + 3);
            }
            _ => {
                assert!(matches!(err, PolygonError::BadBody { .. }), "{err:?}");
                assert_eq!(server.count(), 2, "a bad body is not retried");
            }
        }
        assert_eq!(c.stats().endpoints["option_chain"].calls_failed, 1);
    }
}

#[test]
fn a_looping_next_url_is_bounded() {
    // The same cursor again and again: caught at the first repeat.
    let server = FakeServer::start(|_: &Recorded| {
        Reply::json(200, page(json!([]), Some("https://api.polygon.io/v3/trades/SPY?cursor=same")))
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let err = c.trades("SPY", &TradesQuery::default()).unwrap_err();
    assert!(matches!(err, PolygonError::BadBody { .. }), "{err:?}");
    assert_eq!(server.count(), 2);

    // A fresh cursor every time: stopped by the page bound.
    let n = counter();
    let server = FakeServer::start({
        let n = n.clone();
        move |_: &Recorded| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            Reply::json(200, page(json!([]), Some(&format!("/v3/trades/SPY?cursor=c{i}"))))
        }
    });
    let c = client_with(&server, &clock, |c| c.max_pages = 5);
    let err = c.trades("SPY", &TradesQuery::default()).unwrap_err();
    assert!(matches!(err, PolygonError::TooManyPages { max: 5, .. }), "{err:?}");
    assert_eq!(server.count(), 5);
}

#[test]
fn next_url_api_key_parameter_is_dropped() {
    let server = FakeServer::start(|r: &Recorded| match r.query("cursor") {
        None => Reply::json(200, page(json!([]), Some(&format!("https://x/v3/trades/SPY?apiKey={KEY}&cursor=2")))),
        Some(_) => Reply::json(200, page(json!([]), None)),
    });
    let clock = sim_clock();
    client(&server, &clock).trades("SPY", &TradesQuery::default()).unwrap();
    assert_eq!(server.requests()[1].target, "/v3/trades/SPY?cursor=2");
    assert_requests_clean(&server);
}

// ------------------------------------------------------------------ retries

#[test]
fn a_429_with_retry_after_is_honoured_on_the_clock() {
    let n = counter();
    let server = FakeServer::start({
        let n = n.clone();
        move |_: &Recorded| match n.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::json(429, r#"{"status":"ERROR","error":"too many requests"}"#).with_header("Retry-After", "4"),
            _ => ok_chain_page(),
        }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    assert_eq!(c.option_chain("SPY", &ChainQuery::default()).unwrap().len(), 1);
    assert_eq!(server.count(), 2);
    let spent = clock.elapsed();
    assert!(spent >= Duration::from_secs(4) && spent < Duration::from_secs(5), "{spent:?}");
    let stats = c.stats();
    let s = &stats.endpoints["option_chain"];
    assert_eq!((s.requests["429"], s.requests["200"], s.retries), (1, 1, 1));
    assert_eq!(stats.retry_wait_ms, 4000);
}

/// A `Retry-After` too long to sleep is never slept inside the call: the
/// call fails at once and the endpoint's circuit stays open until then
/// (capped), while the other endpoints go on; then one trial call.
#[test]
fn a_long_retry_after_opens_the_endpoint_circuit_instead_of_sleeping() {
    for told in ["999999", "86400", "6"] {
        let n = counter();
        let server = FakeServer::start({
            let n = n.clone();
            move |r: &Recorded| {
                if r.path().starts_with("/v3/snapshot/options/") && n.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Reply::status(503).with_header("Retry-After", told);
                }
                if r.path().starts_with("/v3/snapshot/options/") { ok_chain_page() } else { ok_trades_page() }
            }
        });
        let clock = sim_clock();
        let c = client_with(&server, &clock, |c| c.retry_after_max = Duration::from_secs(120));
        let err = c.option_chain("SPY", &ChainQuery::default()).unwrap_err();
        assert!(matches!(err, PolygonError::Status { status: 503, attempts: 1, .. }), "{err:?}");
        // Not a moment slept: the loop goes on.
        assert!(clock.elapsed() < Duration::from_secs(1), "{told}: slept {:?}", clock.elapsed());
        assert_eq!(c.open_circuits(), ["option_chain"]);
        let pause: u64 = told.parse::<u64>().unwrap().min(120);
        let err = c.option_chain("SPY", &ChainQuery::default()).unwrap_err();
        assert!(
            matches!(err, PolygonError::CircuitOpen { retry_in_secs, .. } if retry_in_secs == pause),
            "{told}: {err:?}"
        );
        assert_eq!(server.count(), 1, "{told}: no request while the circuit is open");
        // Another endpoint is not held up.
        c.trades("SPY", &TradesQuery::default()).unwrap();
        clock.wait(Duration::from_secs(pause));
        assert_eq!(c.option_chain("SPY", &ChainQuery::default()).unwrap().len(), 1);
        assert!(c.open_circuits().is_empty());
    }
}

/// The retries of one request stop when the next would start past the
/// request's time budget, whatever the retry count allows.
#[test]
fn retries_stop_at_the_request_time_budget() {
    let server = FakeServer::start(|_: &Recorded| Reply::status(500));
    let clock = sim_clock();
    let c = client_with(&server, &clock, |c| {
        c.max_retries = 10;
        c.retry_budget = Duration::from_secs(7);
    });
    let err = c.option_chain("SPY", &ChainQuery::default()).unwrap_err();
    // Waits 1, 2, 4 fit in 7 s; the next (8 s) would not.
    assert!(matches!(err, PolygonError::Status { status: 500, attempts: 4, .. }), "{err:?}");
    assert_eq!(server.count(), 4);
    assert_eq!(clock.elapsed(), Duration::from_secs(7));
}

#[test]
fn a_429_without_retry_after_backs_off_exponentially() {
    let n = counter();
    let server = FakeServer::start({
        let n = n.clone();
        move |_: &Recorded| match n.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Reply::status(429),
            _ => ok_chain_page(),
        }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    c.option_chain("SPY", &ChainQuery::default()).unwrap();
    assert_eq!(server.count(), 3);
    // 1 s, then 2 s; the token bucket refilled meanwhile.
    assert_eq!(clock.elapsed(), Duration::from_secs(3));
}

#[test]
fn server_errors_then_success() {
    let n = counter();
    let server = FakeServer::start({
        let n = n.clone();
        move |_: &Recorded| match n.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::html(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
            1 => Reply::status(503),
            _ => ok_chain_page(),
        }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    assert_eq!(c.option_chain("SPY", &ChainQuery::default()).unwrap().len(), 1);
    assert_eq!(server.count(), 3);
    assert_eq!(c.stats().endpoints["option_chain"].retries, 2);
}

#[test]
fn server_errors_forever_give_up_after_one_plus_max_retries() {
    let server = FakeServer::start(|_: &Recorded| Reply::html(502, "<html><body>Bad Gateway</body></html>"));
    let clock = sim_clock();
    let c = client_with(&server, &clock, |c| c.max_retries = 3);
    let err = c.aggs("SPY", 1, "minute", 1_761_000_000_000i64, 1_761_100_000_000i64).unwrap_err();
    assert_eq!(server.count(), 4);
    assert!(matches!(err, PolygonError::Status { status: 502, attempts: 4, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("aggs SPY 1/minute: http 502 after 4 attempt(s)"), "{text}");
    assert!(text.contains("Bad Gateway"), "{text}");
    assert!(err.is_transient());
    // Backoff 1 + 2 + 4 s.
    assert_eq!(clock.elapsed(), Duration::from_secs(7));
}

#[test]
fn a_truncated_body_or_a_reset_is_retried() {
    let n = counter();
    let server = FakeServer::start({
        let n = n.clone();
        move |_: &Recorded| match n.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::Truncated { status: 200, body: b"{\"results\":[".to_vec(), declared_len: 500 },
            1 => Reply::Reset,
            _ => ok_chain_page(),
        }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    assert_eq!(c.option_chain("SPY", &ChainQuery::default()).unwrap().len(), 1);
    assert_eq!(server.count(), 3);
    assert_eq!(c.stats().endpoints["option_chain"].requests["error"], 2);
}

#[test]
fn a_stalled_or_dripping_body_ends_in_a_timeout_error() {
    for reply in [
        Reply::Stall { status: 200, len: 5000 },
        Reply::Drip { status: 200, body: page(json!([]), None).into_bytes(), every: Duration::from_millis(40) },
    ] {
        let server = FakeServer::start(move |_: &Recorded| reply.clone());
        let clock = sim_clock();
        let c = client_with(&server, &clock, |c| {
            c.timeout = Duration::from_millis(300);
            c.max_retries = 0;
        });
        let err = c.stock_snapshot("SPY").unwrap_err();
        assert!(matches!(err, PolygonError::Transport { error: HttpError::Timeout(_), attempts: 1, .. }), "{err:?}");
        assert!(err.to_string().starts_with("stock_snapshot SPY: timed out"), "{err}");
        assert_error_clean(&err);
    }
}

#[test]
fn shutdown_interrupts_a_retry_wait() {
    let server = FakeServer::start(|_: &Recorded| Reply::status(429).with_header("Retry-After", "4"));
    let clock = sim_clock();
    clock.shutdown_after(Duration::from_secs(2));
    let c = client(&server, &clock);
    let err = c.option_chain("SPY", &ChainQuery::default()).unwrap_err();
    assert!(matches!(err, PolygonError::Shutdown { .. }), "{err:?}");
    assert_eq!(server.count(), 1);
    assert_eq!(clock.elapsed(), Duration::from_secs(2));
}

// ------------------------------------------------------------ bodies

/// A 6 MB gzip body that inflates to 6.4 GB: the body limit counts decoded
/// bytes, so reading stops at the limit (memory stays bounded by it), the
/// call fails with one clear error, and the body is not fetched again.
#[test]
fn a_gzip_bomb_is_cut_at_the_decoded_limit_and_not_retried() {
    let bomb = Reply::gzip_bomb(200, 6400);
    let server = FakeServer::start(move |_: &Recorded| bomb.clone());
    let clock = sim_clock();
    let c = client_with(&server, &clock, |c| c.max_retries = 3);
    let started = std::time::Instant::now();
    let err = c.option_chain("SPY", &ChainQuery::default()).unwrap_err();
    assert!(matches!(err, PolygonError::Transport { error: HttpError::TooLarge(_), attempts: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("larger than 33554432 bytes (after decoding)"), "{err}");
    assert_eq!(server.count(), 1, "an oversize body is not downloaded again");
    assert!(started.elapsed() < Duration::from_secs(20), "read far past the limit: {:?}", started.elapsed());
    assert_error_clean(&err);
}

#[test]
fn garbage_and_html_bodies_are_bad_bodies_named_by_endpoint() {
    for (body, fragment) in [
        ("this is not json", "this is not json"),
        ("<!DOCTYPE html><html><head><title>Maintenance</title></head></html>", "<!DOCTYPE html>"),
        ("", "EOF"),
        ("[1,2,3]", "invalid type"),
    ] {
        let server = FakeServer::start(move |_: &Recorded| Reply::html(200, body));
        let clock = sim_clock();
        let c = client(&server, &clock);
        let err = c.trades("O:SPY251121C00670000", &TradesQuery::default()).unwrap_err();
        let PolygonError::BadBody { endpoint, detail } = &err else { panic!("{err:?}") };
        assert_eq!(endpoint, "trades O:SPY251121C00670000");
        assert!(detail.contains(fragment), "{detail}");
        assert!(detail.len() < 300, "{detail}");
        assert_eq!(server.count(), 1);
        assert_error_clean(&err);
    }
}

#[test]
fn delayed_status_and_null_or_missing_results() {
    let server = FakeServer::start(|r: &Recorded| match r.path() {
        "/v3/snapshot/options/SPY" => Reply::json(
            200,
            json!({"status": "DELAYED", "request_id": "x",
                   "results": [contract("O:SPY251121C00670000", "call", 670.0)]})
            .to_string(),
        ),
        p if p.starts_with("/v3/snapshot/options/QQQ") => {
            Reply::json(200, r#"{"status":"OK","request_id":"x","results":null}"#)
        }
        p if p.starts_with("/v2/aggs") => {
            Reply::json(200, r#"{"ticker":"SPY","queryCount":0,"resultsCount":0,"adjusted":true,"status":"OK"}"#)
        }
        _ => Reply::json(200, r#"{"status":"OK","request_id":"x","results":null}"#),
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    assert_eq!(c.option_chain("SPY", &ChainQuery::default()).unwrap().len(), 1);
    assert!(c.option_chain("QQQ", &ChainQuery::default()).unwrap().is_empty());
    let day = NaiveDate::from_ymd_opt(2025, 10, 25).unwrap();
    assert!(c.aggs("SPY", 1, "day", day, day).unwrap().is_empty());
    assert!(c.trades("SPY", &TradesQuery::default()).unwrap().is_empty());
    assert!(c.option_contract("SPY", "O:SPY251121C00670000").unwrap().is_none());
}

#[test]
fn an_error_status_inside_a_200_body_is_a_bad_body() {
    let server = FakeServer::start(|_: &Recorded| {
        Reply::json(200, r#"{"status":"ERROR","request_id":"x","error":"internal hiccup"}"#)
    });
    let clock = sim_clock();
    let err = client(&server, &clock).trades("SPY", &TradesQuery::default()).unwrap_err();
    assert!(matches!(&err, PolygonError::BadBody { detail, .. } if detail.contains("internal hiccup")), "{err:?}");
}

#[test]
fn gzip_replies_decode() {
    let server = FakeServer::start(|_: &Recorded| ok_chain_page().gzipped());
    let clock = sim_clock();
    let c = client(&server, &clock);
    assert_eq!(c.option_chain("SPY", &ChainQuery::default()).unwrap().len(), 1);
    let r = &server.requests()[0];
    assert!(r.header("accept-encoding").is_some_and(|v| v.contains("gzip")), "{:?}", r.headers);
}

// ------------------------------------------------------------ endpoints

#[test]
fn option_contract_object_results_and_404() {
    let server = FakeServer::start(|r: &Recorded| match r.path() {
        "/v3/snapshot/options/SPY/O:SPY251121C00670000" => Reply::json(
            200,
            json!({"status": "OK", "request_id": "x", "results": contract("O:SPY251121C00670000", "call", 670.0)})
                .to_string(),
        ),
        _ => Reply::json(404, r#"{"status":"NOT_FOUND","request_id":"x","message":"not found"}"#),
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let snap = c.option_contract("SPY", "O:SPY251121C00670000").unwrap().unwrap();
    assert_eq!(snap.strike(), Some(670.0));
    assert_eq!(snap.expiration(), NaiveDate::from_ymd_opt(2025, 11, 21));
    assert_eq!(snap.open_interest, Some(4000.0));
    assert!(c.option_contract("SPY", "O:SPY251121C00999000").unwrap().is_none());
    // The colon stays as it is in the path segment, as Polygon expects.
    assert_eq!(server.requests()[0].target, "/v3/snapshot/options/SPY/O:SPY251121C00670000");
    assert!(c.open_circuits().is_empty());
}

#[test]
fn aggs_path_query_and_pages() {
    let server = FakeServer::start(|r: &Recorded| {
        let bar = |t: i64| json!({"t": t, "o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 1000.0, "vw": 1.2, "n": 10.0});
        match r.query("cursor") {
            None => Reply::json(
                200,
                page(
                    json!([bar(1_761_139_800_000), bar(1_761_140_100_000)]),
                    Some("/v2/aggs/ticker/SPY/range/5/minute/2025-10-22/2025-10-23?cursor=AG"),
                ),
            ),
            Some(_) => Reply::json(200, page(json!([bar(1_761_140_400_000)]), None)),
        }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let (from, to) = (NaiveDate::from_ymd_opt(2025, 10, 22).unwrap(), NaiveDate::from_ymd_opt(2025, 10, 23).unwrap());
    let bars = c.aggs("SPY", 5, "minute", from, to).unwrap();
    assert_eq!(
        bars.iter().map(|b| b.start_ms).collect::<Vec<_>>(),
        [1_761_139_800_000, 1_761_140_100_000, 1_761_140_400_000]
    );
    assert_eq!(
        server.requests()[0].target,
        "/v2/aggs/ticker/SPY/range/5/minute/2025-10-22/2025-10-23?adjusted=true&sort=asc&limit=50000"
    );

    let err = c.aggs("SPY", 5, "fortnight", from, to).unwrap_err();
    assert!(matches!(err, PolygonError::InvalidRequest { .. }), "{err:?}");
    assert_eq!(server.count(), 2, "an invalid request makes no request");
}

#[test]
fn trades_query_pages_and_page_cap() {
    let server = FakeServer::start(|r: &Recorded| {
        let trade = |ts: i64| {
            json!({"conditions": [219], "exchange": 302, "id": ts.to_string(), "price": 1.5,
                                     "sip_timestamp": ts, "size": 10.0, "sequence_number": 1})
        };
        match r.query("cursor").as_deref() {
            None => Reply::json(
                200,
                page(json!([trade(100), trade(200)]), Some("/v3/trades/O:SPY251121C00670000?cursor=T2")),
            ),
            Some("T2") => {
                Reply::json(200, page(json!([trade(300)]), Some("/v3/trades/O:SPY251121C00670000?cursor=T3")))
            }
            Some(_) => Reply::json(200, page(json!([trade(400)]), None)),
        }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let q = TradesQuery { timestamp_gt: Some(1_761_143_400_000_000_000), ..Default::default() };
    let trades = c.trades("O:SPY251121C00670000", &q).unwrap();
    assert_eq!(trades.iter().map(|t| t.sip_timestamp).collect::<Vec<_>>(), [100, 200, 300, 400]);
    assert_eq!(trades[0].conditions.as_deref(), Some(&[219][..]));
    let first = &server.requests()[0];
    assert_eq!(
        first.target,
        "/v3/trades/O:SPY251121C00670000?order=asc&sort=timestamp&limit=50000&timestamp.gt=1761143400000000000"
    );

    // With a page cap the call returns the ascending prefix.
    let capped = c.trades("O:SPY251121C00670000", &TradesQuery { max_pages: Some(2), ..Default::default() }).unwrap();
    assert_eq!(capped.iter().map(|t| t.sip_timestamp).collect::<Vec<_>>(), [100, 200, 300]);
    assert_eq!(server.count(), 3 + 2);
}

#[test]
fn stock_snapshot_and_unknown_ticker() {
    let server = FakeServer::start(|r: &Recorded| {
        match r.path() {
        "/v2/snapshot/locale/us/markets/stocks/tickers/SPY" => Reply::json(
            200,
            json!({"status": "OK", "request_id": "x", "ticker": {
                "ticker": "SPY", "todaysChange": 1.5, "todaysChangePerc": 0.2, "updated": 1761143400000000000i64,
                "day": {"o": 668.0, "h": 672.0, "l": 667.0, "c": 670.0, "v": 5.0e7, "vw": 669.5},
                "prevDay": {"o": 660.0, "h": 669.0, "l": 659.0, "c": 668.5, "v": 6.0e7, "vw": 664.0},
                "min": {"av": 5.0e7, "t": 1761143340000i64, "n": 120, "o": 669.9, "h": 670.1, "l": 669.8, "c": 670.0, "v": 9000, "vw": 670.0},
                "lastTrade": {"c": null, "i": "1", "p": 670.01, "s": 100, "t": 1761143400000000000i64, "x": 4},
                "lastQuote": {"P": 670.02, "S": 2, "p": 670.0, "s": 3, "t": 1761143400000000000i64}
            }})
            .to_string(),
        ),
        _ => Reply::json(404, r#"{"status":"NOT_FOUND","message":"Ticker not found."}"#),
    }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let snap = c.stock_snapshot("SPY").unwrap().unwrap();
    assert_eq!(snap.last_price(), Some(670.01));
    assert_eq!(snap.prev_day.and_then(|d| d.close), Some(668.5));
    assert!(snap.last_trade.unwrap().conditions.is_none());
    assert!(c.stock_snapshot("NOPE").unwrap().is_none());
}

// ------------------------------------------------------------ prints lane

/// 2026-03-09 14:30:00 UTC in nanoseconds.
const T0: i64 = 1_773_066_600_000_000_000;
const CALL: &str = "O:SPY260313C00600000";

/// A simulated clock at `T0`, where the prints lane's tests happen.
fn clock_at_t0() -> Arc<SimClock> {
    Arc::new(SimClock::new(Utc.timestamp_nanos(T0)))
}

#[test]
fn unusual_trades_send_the_filters_follow_pages_and_come_back_ascending() {
    // The server ignores `order` (newest first on each page) and writes
    // the second record in the other spelling, with an RFC 3339 time.
    let server = FakeServer::start(|r: &Recorded| {
        match r.query("cursor").as_deref() {
        None => Reply::json(
            200,
            json!({"status": "OK", "request_id": "u1", "results": [
                {"ticker": CALL, "underlying_ticker": "SPY", "occ_root": "SPY", "price": 4.1, "size": 300,
                 "exchange": 302, "conditions": [219], "sip_timestamp": T0 + 3_000, "flags": ["premium", "sweep"],
                 "sequence_number": 3},
                {"options_ticker": CALL, "underlying": "SPY", "root": "SPY", "price": 4.0, "size": 1200.0,
                 "exchange": 313, "conditions": null, "sip_timestamp": "2026-03-09T14:30:00.000001000Z",
                 "flags": ["premium", "size"], "sequence_number": 1}
            ], "next_url": "https://api.massive.com/options/v1/unusual-trades?cursor=U2&sort=sip_timestamp&order=asc&limit=1000"})
            .to_string(),
        ),
        Some("U2") => Reply::json(
            200,
            json!({"status": "OK", "results": [
                {"ticker": CALL, "price": 4.1, "size": 40, "conditions": [219], "sip_timestamp": T0 + 2_000,
                 "flags": ["sweep"], "sequence_number": 2},
                {"ticker": CALL, "price": 4.1, "size": 50, "conditions": [219], "sip_timestamp": T0 + 1_000,
                 "flags": ["sweep"], "sequence_number": 9}
            ]})
            .to_string(),
        ),
        Some(_) => Reply::status(400),
    }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let q = UnusualQuery {
        sip_timestamp_gte: Some(T0),
        sip_timestamp_lte: Some(T0 + 60_000_000_000),
        tickers: vec![CALL.to_string(), "O:SPY260313P00590000".to_string()],
        ..Default::default()
    };
    let prints = c.unusual_trades(&q).unwrap();
    let seen: Vec<(i64, Option<i64>)> = prints.iter().map(|p| (p.sip_timestamp - T0, p.sequence_number)).collect();
    // Ascending; the two prints of one nanosecond in the order they came.
    assert_eq!(seen, [(1_000, Some(1)), (1_000, Some(9)), (2_000, Some(2)), (3_000, Some(3))]);
    assert_eq!(prints[0].ticker, CALL);
    assert_eq!((prints[0].occ_root.as_deref(), prints[0].underlying_ticker.as_deref()), (Some("SPY"), Some("SPY")));
    assert!(prints[0].conditions.is_empty());
    assert_eq!(prints[3].flags, ["premium", "sweep"]);
    let targets: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        [
            format!(
                "/options/v1/unusual-trades?sort=sip_timestamp&order=asc&limit=1000&sip_timestamp.gte={T0}&sip_timestamp.lte={}&ticker.any_of=O:SPY260313C00600000%2CO:SPY260313P00590000",
                T0 + 60_000_000_000
            ),
            "/options/v1/unusual-trades?cursor=U2&sort=sip_timestamp&order=asc&limit=1000".to_string(),
        ]
    );
    assert_requests_clean(&server);
    let stats = c.stats();
    let s = &stats.endpoints["unusual_trades"];
    assert_eq!((s.pages, s.calls_ok, s.requests.get("200").copied()), (2, 1, Some(2)));
}

#[test]
fn unusual_trades_pages_of_the_fake_the_page_cap_and_refused_queries() {
    let clock = clock_at_t0();
    let now = clock.clone();
    // Five prints before the clock's time and one a minute after it (the
    // token bucket moves the clock 200 ms a request).
    let at = |k: i32| T0 + i64::from(k - 5) * 1_000;
    let mut prints: Vec<Value> = (0..5)
        .map(|k| fake_polygon::unusual_print(CALL, 4.0 + f64::from(k), 300.0, 302 + i64::from(k), k % 2 == 0, at(k)))
        .collect();
    prints.push(fake_polygon::unusual_print(CALL, 4.0, 2_000.0, 302, false, T0 + 60_000_000_000));
    let fake = FakePolygon::start_with_prints(
        Default::default(),
        Default::default(),
        Prints { unusual: prints, ..Default::default() },
        250,
        move || orakl::clock::unix_nanos(now.now()),
    );
    let c = client(&fake.server, &clock);
    let all = c.unusual_trades(&UnusualQuery { limit: Some(2), ..Default::default() }).unwrap();
    assert_eq!(all.iter().map(|p| p.sip_timestamp).collect::<Vec<_>>(), (0..5).map(at).collect::<Vec<_>>());
    assert_eq!(all[0].flags, ["premium", "sweep"]);
    assert_eq!(fake.server.count(), 3, "pages of 2, 2 and 1");
    // A page cap returns the ascending prefix; a resumed cursor the rest.
    let prefix = c.unusual_trades(&UnusualQuery { limit: Some(2), max_pages: Some(1), ..Default::default() }).unwrap();
    assert_eq!(prefix.len(), 2);
    let rest = UnusualQuery { sip_timestamp_gte: Some(prefix[1].sip_timestamp), ..Default::default() };
    assert_eq!(c.unusual_trades(&rest).unwrap().len(), 4);
    // A print the clock has not reached is not served; a filter that
    // matches nothing is an empty answer.
    let later = UnusualQuery { sip_timestamp_gte: Some(T0), ..Default::default() };
    assert!(c.unusual_trades(&later).unwrap().is_empty());
    clock.advance(Duration::from_secs(60));
    let block = c.unusual_trades(&later).unwrap();
    assert_eq!((block.len(), block[0].flags.as_slice()), (1, &["premium".to_string(), "size".to_string()][..]));
    let other = UnusualQuery { tickers: vec!["O:SPY260313P00590000".into()], ..Default::default() };
    assert!(c.unusual_trades(&other).unwrap().is_empty());

    let before = fake.server.count();
    for (bad, why) in [
        (UnusualQuery { limit: Some(0), ..Default::default() }, "limit must be 1..=50000"),
        (UnusualQuery { limit: Some(50_001), ..Default::default() }, "limit must be 1..=50000"),
        (UnusualQuery { max_pages: Some(0), ..Default::default() }, "max_pages must be at least 1"),
        (UnusualQuery { tickers: vec!["O:A,O:B".into()], ..Default::default() }, "contain no comma"),
        (UnusualQuery { tickers: vec![" ".into()], ..Default::default() }, "non-empty"),
    ] {
        let err = c.unusual_trades(&bad).unwrap_err();
        assert!(matches!(err, PolygonError::InvalidRequest { .. }) && err.to_string().contains(why), "{err}");
        assert!(err.to_string().starts_with("unusual_trades "), "{err}");
    }
    assert_eq!(fake.server.count(), before, "a refused query sends nothing");
}

#[test]
fn unusual_trades_null_or_absent_results_are_empty() {
    let bodies = [
        r#"{"status":"OK","request_id":"a","results":[]}"#,
        r#"{"status":"OK","request_id":"b","results":null}"#,
        r#"{"status":"DELAYED","request_id":"c"}"#,
    ];
    let n = counter();
    let k = n.clone();
    let server = FakeServer::start(move |_: &Recorded| Reply::json(200, bodies[k.fetch_add(1, Ordering::SeqCst) % 3]));
    let clock = sim_clock();
    let c = client(&server, &clock);
    for _ in 0..3 {
        assert!(c.unusual_trades(&UnusualQuery::default()).unwrap().is_empty());
    }
    assert_eq!(n.load(Ordering::SeqCst), 3);
    // A body that is not the stream's JSON is a bad body named by the endpoint.
    let garbage = FakeServer::start(|_: &Recorded| Reply::json(200, r#"{"results":[{"ticker":"O:X"}]}"#));
    let err = client(&garbage, &clock).unusual_trades(&UnusualQuery::default()).unwrap_err();
    assert!(matches!(err, PolygonError::BadBody { .. }), "{err:?}");
    assert!(err.to_string().starts_with("unusual_trades market: unexpected response body: missing field"), "{err}");
}

#[test]
fn quote_at_asks_for_the_latest_quote_at_or_before_the_print() {
    let clock = clock_at_t0();
    let now = clock.clone();
    let quotes = vec![
        fake_polygon::quote(4.0, 4.1, T0 - 2_000),
        fake_polygon::quote(4.05, 4.15, T0 - 1_000),
        fake_polygon::quote(4.2, 4.3, T0 + 5_000),
    ];
    let fake = FakePolygon::start_with_prints(
        Default::default(),
        Default::default(),
        Prints { quotes: [(CALL.to_string(), quotes)].into(), ..Default::default() },
        250,
        move || orakl::clock::unix_nanos(now.now()),
    );
    let c = client(&fake.server, &clock);
    let q = c.quote_at(CALL, T0).unwrap().unwrap();
    assert_eq!((q.bid_price, q.ask_price, q.sip_timestamp), (Some(4.05), Some(4.15), T0 - 1_000));
    assert_eq!(q.ask_exchange, Some(302));
    assert_eq!(
        fake.server.requests()[0].target,
        format!("/v3/quotes/{CALL}?timestamp.lte={T0}&order=desc&sort=timestamp&limit=1")
    );
    // Exactly at a quote's time is at or before it; before the first
    // quote there is none; an unknown contract has none.
    assert_eq!(c.quote_at(CALL, T0 - 2_000).unwrap().map(|q| q.sip_timestamp), Some(T0 - 2_000));
    assert_eq!(c.quote_at(CALL, T0 - 2_001).unwrap(), None);
    assert_eq!(c.quote_at("O:SPY260313P00590000", T0).unwrap(), None);
    // One page each: the next_url to older quotes is never followed.
    assert_eq!(fake.server.count(), 4);
    assert_eq!(c.stats().endpoints["quotes"].pages, 4);

    // A server that ignores `order` and the bound is not believed.
    let careless = FakeServer::start(|_: &Recorded| {
        Reply::json(
            200,
            json!({"status": "OK", "results": [
                {"bid_price": 1.0, "ask_price": 1.1, "sip_timestamp": T0 - 9},
                {"bid_price": 1.2, "ask_price": 1.3, "sip_timestamp": T0 - 5},
                {"bid_price": 9.0, "ask_price": 9.9, "sip_timestamp": T0 + 1}
            ]})
            .to_string(),
        )
    });
    let q = client(&careless, &clock).quote_at(CALL, T0).unwrap().unwrap();
    assert_eq!((q.bid_price, q.sip_timestamp), (Some(1.2), T0 - 5));
    let missing = FakeServer::start(|_: &Recorded| Reply::json(404, r#"{"status":"NOT_FOUND"}"#));
    assert_eq!(client(&missing, &clock).quote_at(CALL, T0).unwrap(), None);
    let err = client(&missing, &clock).quote_at(" ", T0).unwrap_err();
    assert!(matches!(err, PolygonError::InvalidRequest { .. }), "{err:?}");
}

#[test]
fn a_plan_without_the_prints_lane_switches_off_its_features_only() {
    let capturing = capture::install();
    capture::take();
    let clock = clock_at_t0();
    let now = clock.clone();
    let fake = FakePolygon::start_with_prints(
        Default::default(),
        [(CALL.to_string(), vec![fake_polygon::iso_print(302, 10.0, T0 - 1)])].into(),
        Prints {
            unusual: vec![fake_polygon::unusual_print(CALL, 4.1, 300.0, 302, true, T0 - 1)],
            quotes: [(CALL.to_string(), vec![fake_polygon::quote(4.0, 4.1, T0 - 2)])].into(),
        },
        250,
        move || orakl::clock::unix_nanos(now.now()),
    );
    fake.set_forbidden(Lane::UnusualTrades, true);
    let c = client(&fake.server, &clock);
    let first = c.unusual_trades(&UnusualQuery::default()).unwrap_err();
    assert!(matches!(first, PolygonError::Forbidden { feature: "market_prints", .. }), "{first:?}");
    assert!(!first.is_transient() && !first.is_config());
    assert_eq!(first.endpoint(), Some(orakl::polygon::Endpoint::UnusualTrades));
    // Off: no request, with or without a filter, until the back-off ends.
    let count = fake.server.count();
    let filtered = UnusualQuery { tickers: vec![CALL.into()], ..Default::default() };
    assert!(matches!(c.unusual_trades(&filtered), Err(PolygonError::Forbidden { .. })));
    assert_eq!(fake.server.count(), count);
    assert_eq!(c.disabled_features(), ["market_prints"]);
    assert!(c.is_disabled(Feature::MarketPrints) && !c.is_disabled(Feature::OptionQuotes));
    // Quotes and the snapshot path's option trades are other features.
    assert!(c.quote_at(CALL, T0).unwrap().is_some());
    assert_eq!(c.trades(CALL, &TradesQuery::default()).unwrap().len(), 1);
    // The quotes endpoint forbidden too: its own switch, its own warning.
    fake.set_forbidden(Lane::Quotes, true);
    assert!(matches!(c.quote_at(CALL, T0), Err(PolygonError::Forbidden { feature: "option_quotes", .. })));
    assert_eq!(c.disabled_features(), ["market_prints", "option_quotes"]);
    // The plan is upgraded: the probes after the back-off bring both back.
    fake.set_forbidden(Lane::UnusualTrades, false);
    fake.set_forbidden(Lane::Quotes, false);
    clock.advance(Duration::from_secs(29 * 60));
    assert!(c.unusual_trades(&UnusualQuery::default()).is_err(), "still backing off");
    clock.advance(Duration::from_secs(60));
    assert_eq!(c.unusual_trades(&UnusualQuery::default()).unwrap().len(), 1);
    assert!(c.disabled_features() == ["option_quotes"], "{:?}", c.disabled_features());
    assert!(c.quote_at(CALL, T0).unwrap().is_some());
    assert!(c.disabled_features().is_empty());

    if capturing {
        let lines = capture::take();
        let warns: Vec<_> =
            lines.iter().filter(|(l, m)| *l == log::Level::Warn && m.contains("polygon_forbidden")).collect();
        assert_eq!(warns.len(), 2, "{warns:?}");
        assert!(warns[0].1.contains("endpoint=unusual_trades") && warns[0].1.contains("feature=market_prints"));
        assert!(warns[1].1.contains("endpoint=quotes") && warns[1].1.contains("feature=option_quotes"));
        assert!(lines.iter().any(|(_, m)| m.contains("event=polygon_feature_restored feature=market_prints")));
    } else {
        eprintln!("another logger is installed; the one-warning check was skipped");
    }
}

// ------------------------------------------------------------ 401 / 403

#[test]
fn unauthorized_is_a_configuration_error_and_not_retried() {
    let server = FakeServer::start(|_: &Recorded| {
        Reply::json(401, r#"{"status":"ERROR","request_id":"x","error":"Unknown API Key"}"#)
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let err = c.option_chain("SPY", &ChainQuery::default()).unwrap_err();
    assert!(matches!(err, PolygonError::Unauthorized { .. }), "{err:?}");
    assert!(err.is_config());
    assert!(err.to_string().contains("option_chain SPY: api key rejected (401)"), "{err}");
    assert_eq!(server.count(), 1);
    assert_eq!(clock.elapsed(), Duration::ZERO);
    assert!(c.open_circuits().is_empty(), "a bad key says nothing about the server");
}

#[test]
fn forbidden_disables_the_feature_with_one_warning() {
    let capturing = capture::install();
    capture::take();
    // Stock trades are forbidden until the plan is upgraded (the flag);
    // option trades (sweep confirmation) are in the plan.
    let upgraded = Arc::new(AtomicBool::new(false));
    let up = upgraded.clone();
    let server = FakeServer::start(move |r: &Recorded| {
        if r.path().starts_with("/v3/trades/O:") {
            Reply::json(200, r#"{"status":"OK","results":[]}"#)
        } else if r.path().starts_with("/v3/trades") && !up.load(Ordering::SeqCst) {
            Reply::json(
                403,
                r#"{"status":"NOT_AUTHORIZED","request_id":"x","message":"You are not entitled to this data."}"#,
            )
        } else if r.path().starts_with("/v3/trades") {
            Reply::json(200, r#"{"status":"OK","results":[]}"#)
        } else {
            ok_chain_page()
        }
    });
    let clock = sim_clock();
    let c = client(&server, &clock);
    let first = c.trades("SPY", &TradesQuery::default()).unwrap_err();
    assert!(matches!(first, PolygonError::Forbidden { feature: "stock_trades", .. }), "{first:?}");
    assert_eq!(server.count(), 1);
    let second = c.trades("QQQ", &TradesQuery::default()).unwrap_err();
    assert!(matches!(second, PolygonError::Forbidden { feature: "stock_trades", .. }), "{second:?}");
    assert!(second.to_string().starts_with("trades QQQ: "), "{second}");
    assert_eq!(server.count(), 1, "a disabled feature makes no request");
    assert_eq!(c.disabled_features(), ["stock_trades"]);
    assert!(c.is_disabled(Feature::StockTrades));
    // Option trades are another feature of the same endpoint: still on.
    assert!(c.trades("O:SPY260320C00600000", &TradesQuery::default()).unwrap().is_empty());
    assert!(!c.is_disabled(Feature::SweepConfirmation));
    // Other endpoints keep working.
    assert_eq!(c.option_chain("SPY", &ChainQuery::default()).unwrap().len(), 1);

    // After the back-off (30 minutes by default) one call probes again: a
    // 403 starts another back-off; once the plan includes the data, the
    // probe succeeds and the feature is back by itself.
    clock.advance(Duration::from_secs(29 * 60));
    assert!(c.trades("SPY", &TradesQuery::default()).is_err());
    let before = server.count();
    clock.advance(Duration::from_secs(60));
    assert!(matches!(c.trades("SPY", &TradesQuery::default()), Err(PolygonError::Forbidden { .. })));
    assert_eq!(server.count(), before + 1, "one probe");
    assert!(c.trades("SPY", &TradesQuery::default()).is_err());
    assert_eq!(server.count(), before + 1, "a failed probe starts a new back-off");
    upgraded.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(30 * 60));
    assert!(c.trades("SPY", &TradesQuery::default()).unwrap().is_empty(), "the probe succeeds");
    assert!(c.disabled_features().is_empty());
    assert!(c.trades("QQQ", &TradesQuery::default()).unwrap().is_empty());

    if capturing {
        let lines = capture::take();
        let warns: Vec<_> =
            lines.iter().filter(|(l, m)| *l == log::Level::Warn && m.contains("polygon_forbidden")).collect();
        assert_eq!(warns.len(), 1, "{warns:?}");
        assert!(warns[0].1.contains("endpoint=trades"), "{warns:?}");
        assert!(warns[0].1.contains("feature=stock_trades"), "{warns:?}");
        assert!(lines.iter().any(|(_, m)| m.contains("event=polygon_feature_restored feature=stock_trades")));
    } else {
        eprintln!("another logger is installed; the one-warning check was skipped");
    }
}

// ------------------------------------------------------------ circuit breaker

#[test]
fn circuit_opens_fails_fast_and_half_opens_after_the_cooldown() {
    let healthy = Arc::new(AtomicBool::new(false));
    let server = FakeServer::start({
        let healthy = healthy.clone();
        move |r: &Recorded| {
            if r.path().starts_with("/v2/aggs") && !healthy.load(Ordering::SeqCst) {
                Reply::status(500)
            } else {
                Reply::json(200, page(json!([]), None))
            }
        }
    });
    let clock = sim_clock();
    let c = client_with(&server, &clock, |c| {
        c.max_retries = 0;
        c.breaker_failures = 3;
        c.breaker_cooldown = Duration::from_secs(60);
    });
    let day = NaiveDate::from_ymd_opt(2025, 10, 22).unwrap();
    for _ in 0..3 {
        assert!(matches!(c.aggs("SPY", 1, "day", day, day), Err(PolygonError::Status { status: 500, .. })));
    }
    assert_eq!(c.open_circuits(), ["aggs"]);
    assert_eq!(server.count(), 3);

    let err = c.aggs("SPY", 1, "day", day, day).unwrap_err();
    assert!(matches!(err, PolygonError::CircuitOpen { .. }), "{err:?}");
    assert!(err.to_string().starts_with("aggs SPY 1/day: circuit open"), "{err}");
    assert_eq!(server.count(), 3, "an open circuit makes no request");
    // Other endpoints have their own breakers.
    c.trades("SPY", &TradesQuery::default()).unwrap();
    assert_eq!(server.count(), 4);

    // Still failing after the cooldown: the trial call re-opens it.
    clock.advance(Duration::from_secs(60));
    assert!(matches!(c.aggs("SPY", 1, "day", day, day), Err(PolygonError::Status { status: 500, .. })));
    assert_eq!(server.count(), 5);
    assert!(matches!(c.aggs("SPY", 1, "day", day, day), Err(PolygonError::CircuitOpen { .. })));
    assert_eq!(server.count(), 5);

    // Healthy again: the next trial closes it.
    healthy.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(60));
    assert!(c.aggs("SPY", 1, "day", day, day).unwrap().is_empty());
    assert!(c.open_circuits().is_empty());
    assert!(c.aggs("SPY", 1, "day", day, day).unwrap().is_empty());
    assert_eq!(server.count(), 7);
    assert_eq!(c.stats().endpoints["aggs"].calls_skipped, 2);
}

// ------------------------------------------------------------ rate limit

#[test]
fn every_request_waits_for_the_token_bucket_on_the_clock() {
    let clock = sim_clock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = FakeServer::start({
        let (clock, seen) = (clock.clone(), seen.clone());
        move |_: &Recorded| {
            seen.lock().unwrap().push(clock.elapsed());
            Reply::json(200, r#"{"status":"OK","ticker":{"ticker":"SPY"}}"#)
        }
    });
    let c = client(&server, &clock);
    for _ in 0..12 {
        c.stock_snapshot("SPY").unwrap();
    }
    let times = seen.lock().unwrap().clone();
    assert_eq!(times.len(), 12);
    // 5/s with a burst of one: eleven spacings of 200 ms.
    let total = clock.elapsed();
    assert!(total >= Duration::from_millis(2200) && total < Duration::from_millis(2300), "{total:?}");
    // Any six consecutive requests span at least a second: never more than
    // five in a one-second window.
    for w in times.windows(6) {
        assert!(w[5] - w[0] >= Duration::from_millis(999), "{times:?}");
    }
    assert!(c.stats().rate_limit_wait_ms >= 2199);
}

#[test]
fn retries_take_tokens_too() {
    let clock = sim_clock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = FakeServer::start({
        let (clock, seen) = (clock.clone(), seen.clone());
        move |_: &Recorded| {
            seen.lock().unwrap().push(clock.elapsed());
            Reply::status(429).with_header("Retry-After", "0")
        }
    });
    let c = client_with(&server, &clock, |c| c.max_retries = 4);
    c.stock_snapshot("SPY").unwrap_err();
    let times = seen.lock().unwrap().clone();
    assert_eq!(times.len(), 5);
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= Duration::from_millis(199), "{times:?}");
    }
}

/// A contract ticker with a newline in it (a forged log line waiting to
/// happen) is a data error of the page that carried it: the call fails
/// with an escaped message, and no log line or error holds a raw newline.
#[test]
fn a_ticker_with_a_newline_is_a_data_error_not_a_log_line() {
    let installed = crate::support::logcap::install();
    crate::support::logcap::take();
    let hostile = "O:SPY251121C00670000\nevent=forged level=ERROR";
    let server =
        FakeServer::start(move |_: &Recorded| Reply::json(200, page(json!([contract(hostile, "call", 670.0)]), None)));
    let clock = sim_clock();
    let c = client(&server, &clock);
    let err = c.option_chain("SPY", &ChainQuery::default()).unwrap_err();
    assert!(matches!(err, PolygonError::BadBody { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(r#"invalid option ticker "O:SPY251121C00670000\nevent=forged"#), "{text}");
    assert!(!text.contains('\n'), "{text}");
    assert_eq!(server.count(), 1, "a bad body is not fetched again at once");
    // A stock snapshot's ticker follows the stock grammar.
    let server =
        FakeServer::start(|_: &Recorded| Reply::json(200, r#"{"status":"OK","ticker":{"ticker":"SPY\n\u001b[2J"}}"#));
    let err = client(&server, &clock).stock_snapshot("SPY").unwrap_err();
    assert!(err.to_string().contains("invalid stock ticker"), "{err}");
    if installed {
        for line in crate::support::logcap::take_lines() {
            assert!(!line.contains('\n') && !line.contains('\u{1b}'), "raw control character in {line:?}");
        }
    }
}

// ------------------------------------------------------------ secrets

/// A server echoing the key at every offset around the 80-character cut of
/// an error excerpt (in an error body, in garbage, in a JSON error field):
/// not one 4-character piece of the key is in any error.
#[test]
fn a_key_straddling_the_excerpt_cut_is_redacted_whole() {
    let server = FakeServer::start(|r: &Recorded| {
        let at: usize = r.query("strike_price.gte").and_then(|v| v.parse().ok()).unwrap_or(0);
        let pad = "p".repeat(at);
        let key = r.header("authorization").unwrap_or("").trim_start_matches("Bearer ").to_string();
        match r.query("expiration_date.gte").as_deref() {
            Some("2025-01-01") => Reply::html(500, &format!("{pad}{key} trailing text")),
            Some("2025-01-02") => Reply::html(200, &format!("{pad}{key} trailing text")),
            _ => Reply::json(400, json!({ "error": format!("{pad}{key} trailing text") }).to_string()),
        }
    });
    let clock = sim_clock();
    let c = client_with(&server, &clock, |c| {
        c.max_retries = 0;
        c.breaker_failures = 0;
    });
    let mut canary_chars = 0;
    for at in 60..90 {
        for day in ["2025-01-01", "2025-01-02", "2025-01-03"] {
            let query = ChainQuery {
                strike_price_gte: Some(at as f64),
                expiration_date_gte: Some(day.parse().unwrap()),
                ..ChainQuery::default()
            };
            let err = c.option_chain("SPY", &query).unwrap_err();
            let text = format!("{err} {err:?}");
            for w in KEY.as_bytes().windows(4) {
                if text.contains(std::str::from_utf8(w).unwrap()) {
                    canary_chars += 1;
                }
            }
        }
    }
    assert_eq!(canary_chars, 0, "pieces of the key in errors");
}

#[test]
fn the_key_never_appears_in_errors_debug_or_targets() {
    let server = FakeServer::start(|r: &Recorded| match r.path() {
        "/v3/snapshot/options/A" => Reply::json(401, format!(r#"{{"error":"bad key {KEY}"}}"#)),
        "/v3/snapshot/options/B" => Reply::json(403, r#"{"status":"NOT_AUTHORIZED"}"#),
        "/v3/snapshot/options/C" => Reply::html(500, &format!("<html>echo Authorization: Bearer {KEY}</html>")),
        "/v3/snapshot/options/D" => Reply::html(200, &format!("garbage {KEY} garbage")),
        _ => Reply::json(200, format!(r#"{{"results":[],"next_url":"https://evil/v3/x?apiKey={KEY}&cursor=1"}}"#)),
    });
    let clock = sim_clock();
    let c = client_with(&server, &clock, |c| c.max_retries = 1);
    let mut errors = Vec::new();
    // B (a 403) switches the chain off, so it goes last.
    for u in ["A", "C", "D", "E", "B"] {
        errors.push(c.option_chain(u, &ChainQuery::default()).unwrap_err());
    }
    for e in &errors {
        assert_error_clean(e);
    }
    assert!(matches!(errors[0], PolygonError::Unauthorized { .. }), "{:?}", errors[0]);
    assert!(errors[1].to_string().contains("[redacted]"), "{}", errors[1]);
    assert!(errors[2].to_string().contains("[redacted]"), "{}", errors[2]);
    assert!(matches!(errors[4], PolygonError::Forbidden { .. }), "{:?}", errors[4]);
    assert_requests_clean(&server);
    assert_key_absent(&format!("{c:?}"));
    assert_key_absent(&format!("{:?}", PolygonConfig::new(KEY)));
    assert_key_absent(&serde_json::to_string(&c.stats()).unwrap());
}

#[test]
fn bad_configuration_is_refused_without_echoing_the_key() {
    let clock = sim_clock();
    let make = |tweak: Tweak| {
        let mut config = PolygonConfig::new(KEY);
        tweak(&mut config);
        Client::new(config, clock.clone(), Notifier::disabled())
    };
    let cases: [(&str, Tweak); 5] = [
        ("empty key", |c| c.api_key.clear()),
        ("key with a newline", |c| c.api_key = format!("{KEY}\r\nX-Evil: 1")),
        ("plain http to a remote host", |c| c.base_url = "http://api.polygon.io".into()),
        ("a base path", |c| c.base_url = "https://api.polygon.io/v3".into()),
        ("zero rate", |c| c.rate_per_sec = 0),
    ];
    for (name, tweak) in cases {
        let err = make(tweak).unwrap_err();
        assert!(matches!(err, PolygonError::Config(_)), "{name}: {err:?}");
        assert!(err.is_config());
        assert_error_clean(&err);
    }
    assert!(make(|_| {}).is_ok());
}

type Tweak = fn(&mut PolygonConfig);

// ------------------------------------------------------------ fixtures

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read fixtures") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Parses one recorded response into the model of its endpoint and checks a
/// few fields. The values are the SDKs' illustrative mocks, so the checks
/// are about shapes, not market sense.
fn check_fixture(name: &str, text: &str) {
    let aapl_call = "O:AAPL230616C00150000";
    match name {
        n if n.starts_with("HISTORICAL_") && n.contains("v3__snapshot__options__AAPL") => {
            // The first version of this mock held one object in `results`.
            let p: ChainPage = parse(n, text);
            let Some(OneOrMany::One(s)) = p.results else { panic!("{n}: expected an object") };
            assert_eq!(s.ticker(), Some(aapl_call));
            assert!(s.last_trade.is_none() && s.fmv.is_none(), "{n}");
            assert!(s.greeks.unwrap().delta.is_some());
        }
        n if n.contains("v3__snapshot__options__AAPL__O_") => {
            let p: ContractResponse = parse(n, text);
            let s = p.results.expect("results object");
            assert_eq!(s.ticker(), Some(aapl_call), "{n}");
            assert_eq!(s.contract_type(), Some(ContractType::Call));
            assert_eq!(s.expiration(), NaiveDate::from_ymd_opt(2023, 6, 16));
            assert_eq!(s.scan_view().multiplier(), 100.0);
            assert!(s.scan_view().spot().is_some() && s.implied_volatility.is_some() && s.last_quote.is_some(), "{n}");
        }
        n if n.contains("page1_with_next_url") => {
            let p: ChainPage = parse(n, text);
            assert!(p.next_url.as_deref().is_some_and(|u| u.contains("cursor=")), "{n}");
            let chain = p.results.expect("results").into_vec();
            assert_eq!(chain.len(), 3);
            for s in &chain {
                assert_eq!(s.greeks, Some(Greeks::default()), "{n}: greeks {{}} is all None");
                assert!(s.implied_volatility.is_none());
                assert_eq!(s.contract_type(), Some(ContractType::Call));
                assert_eq!(s.last_quote.as_ref().and_then(|q| q.timeframe.as_deref()), Some("DELAYED"));
            }
        }
        n if n.starts_with("v3__snapshot__options__AAPL") => {
            let p: ChainPage = parse(n, text);
            let Some(OneOrMany::Many(chain)) = p.results else { panic!("{n}: expected an array") };
            assert_eq!(chain.len(), 1);
            assert_eq!(chain[0].last_trade.as_ref().and_then(|t| t.price), Some(29.25));
            assert_eq!(chain[0].scan_view().day_volume(), 8.0);
        }
        n if n.starts_with("v3__snapshot") => {
            let p: UniversalSnapshotPage = parse(n, text);
            let items = p.results.expect("results");
            assert_eq!(items[0].kind.as_deref(), Some("options"));
            assert_eq!(items[0].details.as_ref().and_then(|d| d.contract_type()), Some(ContractType::Call));
            let missing = items.last().unwrap();
            assert_eq!(missing.error.as_deref(), Some("NOT_FOUND"), "{n}");
            assert_eq!(missing.ticker.as_deref(), Some("TSLAAPL"));
        }
        n if n.starts_with("v2__aggs__ticker__AAPL__prev") => {
            let p: AggsPage = parse(n, text);
            let bars = p.results.expect("results");
            assert_eq!(bars[0].ticker.as_deref(), Some("AAPL"));
            assert!(bars[0].transactions.is_some());
        }
        n if n.starts_with("v2__aggs") => {
            let p: AggsPage = parse(n, text);
            let bars = p.results.expect("results");
            assert_eq!(bars.len(), 2, "{n}");
            // Milliseconds: 13 digits for these dates.
            assert!(bars.iter().all(|b| (1e12 as i64..1e13 as i64).contains(&b.start_ms)), "{n}");
            assert_eq!(p.results_count, Some(2.0));
            assert_eq!(p.next_url.is_some(), n.contains("limit-2"), "{n}");
        }
        n if n.starts_with("v3__trades") => {
            let p: TradesPage = parse(n, text);
            let trades = p.results.expect("results");
            assert_eq!(trades.len(), 2, "{n}");
            assert!(trades.iter().all(|t| t.size > 0.0 && t.sip_timestamp > 1e18 as i64));
            if n.contains("limit-2.json") {
                assert_eq!((trades[0].trf_id, trades[0].correction), (Some(3), Some(1)), "{n}");
            } else {
                assert!(trades[0].trf_id.is_none() && p.next_url.is_some(), "{n}");
            }
        }
        n if n.contains("tickers__tickers-") => {
            let p: StockSnapshotsResponse = parse(n, text);
            let t = p.tickers.expect("tickers");
            assert_eq!(t.len(), 2);
            let msft = &t[1];
            assert_eq!(msft.ticker.as_deref(), Some("MSFT"));
            let trade = msft.last_trade.as_ref().unwrap();
            assert!(trade.conditions.is_none(), "{n}: no `c` at all");
            assert_eq!(trade.size, Some(100.0));
        }
        n if n.starts_with("v2__snapshot__locale__us__markets__stocks__tickers__AAPL") => {
            let p: StockSnapshotResponse = parse(n, text);
            let t = p.ticker.expect("ticker");
            let trade = t.last_trade.as_ref().unwrap();
            if n.contains("BCAT") {
                assert_eq!(t.ticker.as_deref(), Some("BCAT"));
                assert_eq!(trade.exchange, Some(4));
                assert_eq!(trade.conditions.as_deref(), Some(&[14, 41][..]));
            } else {
                assert_eq!(t.ticker.as_deref(), Some("AAPL"));
                assert!(trade.conditions.is_none(), "{n}: lastTrade.c is null");
            }
            assert!(t.prev_day.as_ref().and_then(|d| d.close).is_some());
            assert!(t.min.as_ref().and_then(|m| m.accumulated_volume).is_some());
            assert!(t.last_quote.as_ref().and_then(|q| q.ask).is_some());
            assert!(t.last_price().is_some());
        }
        n if n.starts_with("v2__last__trade") => {
            let p: LastTradeResponse = parse(n, text);
            let t = p.results.expect("results");
            assert_eq!(t.ticker.as_deref(), Some("AAPL"));
            assert!(t.price.is_some() && t.sip_timestamp.is_some(), "{n}");
        }
        n if n.starts_with("v3__quotes") => {
            let p: QuotesPage = parse(n, text);
            assert!(!p.results.expect("results").is_empty());
            assert!(p.next_url.is_some());
        }
        n if n.starts_with("v3__reference__conditions") => {
            let p: ConditionsPage = parse(n, text);
            assert_eq!(p.results.expect("results").len() as f64, p.count.unwrap());
        }
        n if n.starts_with("v3__reference__exchanges") => {
            let p: ExchangesPage = parse(n, text);
            let trfs = p.results.expect("results").iter().filter(|e| e.id == 4).count();
            assert!(trfs >= 2, "{n}: the FINRA TRFs share id 4");
        }
        n if n.starts_with("v3__reference__options__contracts__O") => {
            let p: OptionsContractResponse = parse(n, text);
            let c = p.results.expect("results");
            assert_eq!(c.ticker.as_deref(), Some("O:EVRI240119C00002500"));
            assert_eq!(c.strike_price, Some(2.5));
            assert_eq!(c.contract_type(), Some(ContractType::Call));
        }
        n if n.starts_with("v3__reference__options__contracts") => {
            let p: OptionsContractsPage = parse(n, text);
            assert!(!p.results.expect("results").is_empty());
            assert_eq!(p.next_url.is_some(), !n.contains("cursor-"), "{n}");
        }
        n => panic!("no model mapped for fixture {n}; add it to check_fixture"),
    }
}

#[test]
fn every_recorded_polygon_response_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/polygon");
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.sort();
    assert!(files.len() >= 20, "fixtures missing: {files:?}");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        check_fixture(&name, &text);
    }
}

// ------------------------------------------------------------ log capture

use crate::support::logcap as capture;

/// One loopback rule for every setting that may use plain http: the
/// configuration check, the Polygon base URL and a Discord webhook agree on
/// every spelling (they once differed on IPv6).
#[test]
fn config_polygon_and_discord_agree_on_loopback() {
    for (host, loopback) in [
        ("127.0.0.1:8080", true),
        ("localhost:9", true),
        ("[::1]:9", true),
        ("[0:0:0:0:0:0:0:1]:9", true),
        ("127.9.9.9", true),
        ("[::2]:9", false),
        ("10.0.0.1", false),
        ("localhost.evil.com", false),
        ("127.0.0.1.evil.com", false),
    ] {
        let url = format!("http://{host}");
        let config = orakl::config::is_loopback_host(host);
        let polygon = Client::new(
            PolygonConfig { base_url: url.clone(), ..PolygonConfig::new(KEY) },
            sim_clock(),
            Notifier::disabled(),
        )
        .is_ok();
        let discord = orakl::discord::Webhook::parse("W", &format!("{url}/api/webhooks/1/tok")).is_ok();
        assert_eq!((config, polygon, discord), (loopback, loopback, loopback), "{host}");
    }
}
