//! Replay and record (SPEC §9): the live Polygon client in front of a
//! `TapeMarket` answers from a tape with what was known at each simulated
//! time, and a `Recorder` in front of a loopback Polygon writes a tape that
//! replays to the same answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use orakl::alert::ContractType;
use orakl::clock::{Clock, SimClock};
use orakl::http::Http;
use orakl::notify::Notifier;
use orakl::polygon::{
    Bar, ChainQuery, Client, OptionSnapshot, PolygonConfig, Quote, TickerSnapshot, Trade, TradesQuery, Transport,
    UnusualQuery, UnusualTrade,
};
use orakl::record::Recorder;
use orakl::replay::{TapeMarket, tape_symbols};
use orakl::tape::{ChainLabel, Header, Payload, Record, TapeWriter};

use crate::support::fake_http::{FakeServer, Recorded, Reply};
use crate::support::fake_polygon::{self, Contract, FakePolygon, Prints, iso_print};

const KEY: &str = "CANARY-KEY-123";
const PROD: &str = "https://api.polygon.io";

/// 10:30 ET on a Wednesday.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 22, 14, 30, 0).unwrap()
}

fn secs(s: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(s)
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 10, d).unwrap()
}

fn write_tape(dir: &Path, name: &str, records: &[Record]) -> PathBuf {
    let path = dir.join(name);
    let header = Header::new(BTreeMap::from([("source".to_string(), json!("test"))]));
    let mut w = TapeWriter::create(&path, &header).unwrap();
    for r in records {
        w.write(r).unwrap();
    }
    w.finish().unwrap();
    path
}

/// The live client on a simulated clock, answered by the tape.
fn replay(path: &Path, start: DateTime<Utc>) -> (Arc<SimClock>, Client, TapeMarket) {
    let clock = Arc::new(SimClock::new(start));
    let market = TapeMarket::open(path, clock.clone()).unwrap();
    let client = Client::with_transport(PolygonConfig::new(KEY), clock.clone(), Box::new(market.clone())).unwrap();
    (clock, client, market)
}

fn move_to(clock: &SimClock, t: DateTime<Utc>) {
    let now = clock.now();
    assert!(t >= now, "the clock only moves forward: {now} -> {t}");
    clock.advance((t - now).to_std().unwrap());
}

/// A request straight to the transport, for what the client does not send.
fn raw(market: &TapeMarket, target: &str) -> (u16, Value) {
    let resp = market.get(&format!("{PROD}{target}"), &[]).unwrap();
    (resp.status, serde_json::from_slice(&resp.body).unwrap())
}

fn option(ticker: &str, kind: &str, strike: f64, expiration: &str, volume: f64) -> OptionSnapshot {
    serde_json::from_value(json!({
        "details": {"ticker": ticker, "contract_type": kind, "strike_price": strike, "expiration_date": expiration},
        "day": {"volume": volume},
    }))
    .unwrap()
}

fn chain(at: DateTime<Utc>, underlying: &str, results: Vec<OptionSnapshot>) -> Record {
    Record { at, payload: Payload::OptionChain { underlying: underlying.into(), results } }
}

fn aggs(at: DateTime<Utc>, ticker: &str, multiplier: u32, timespan: &str, results: Vec<Bar>) -> Record {
    Record { at, payload: Payload::Aggs { ticker: ticker.into(), multiplier, timespan: timespan.into(), results } }
}

fn trades(at: DateTime<Utc>, ticker: &str, results: Vec<Trade>) -> Record {
    Record { at, payload: Payload::Trades { ticker: ticker.into(), results } }
}

fn stock(at: DateTime<Utc>, ticker: &str, price: f64) -> Record {
    let results: TickerSnapshot =
        serde_json::from_value(json!({"ticker": ticker, "lastTrade": {"p": price, "s": 100}})).unwrap();
    Record { at, payload: Payload::StockSnapshot { ticker: ticker.into(), results: Box::new(results) } }
}

fn unusual(at: DateTime<Utc>, results: Vec<UnusualTrade>) -> Record {
    Record { at, payload: Payload::UnusualTrades { results } }
}

fn quotes(at: DateTime<Utc>, ticker: &str, results: Vec<Quote>) -> Record {
    Record { at, payload: Payload::Quotes { ticker: ticker.into(), results } }
}

/// An unusual print of `size` contracts at $4, numbered `seq`.
fn print(ticker: &str, at: DateTime<Utc>, size: f64, seq: i64) -> UnusualTrade {
    UnusualTrade {
        ticker: ticker.into(),
        underlying_ticker: Some("SPY".into()),
        price: 4.0,
        size,
        exchange: Some(302),
        conditions: vec![219],
        sip_timestamp: ns(at),
        flags: vec!["sweep".into()],
        sequence_number: Some(seq),
        ..UnusualTrade::default()
    }
}

fn nbbo(at: DateTime<Utc>, bid: f64, ask: f64) -> Quote {
    Quote { bid_price: Some(bid), ask_price: Some(ask), sip_timestamp: ns(at), ..Quote::default() }
}

fn trade(id: Option<&str>, at: DateTime<Utc>, price: f64, size: f64) -> Trade {
    Trade { id: id.map(str::to_string), sip_timestamp: ns(at), price, size, exchange: Some(4), ..Trade::default() }
}

/// A 1-minute bar whose values follow `i`, so aggregates can be checked.
fn minute(start: DateTime<Utc>, i: f64) -> Bar {
    Bar {
        start_ms: start.timestamp_millis(),
        open: 100.0 + i,
        high: 101.0 + i,
        low: 99.0 + i,
        close: 100.5 + i,
        volume: 10.0 * (i + 1.0),
        vwap: Some(100.2 + i),
        ..Bar::default()
    }
}

fn volumes(chain: &[OptionSnapshot]) -> Vec<(String, f64)> {
    chain.iter().map(|c| (c.ticker().unwrap_or("?").to_string(), c.scan_view().day_volume())).collect()
}

fn starts(bars: &[Bar]) -> Vec<String> {
    bars.iter()
        .map(|b| DateTime::from_timestamp_millis(b.start_ms).unwrap().format("%m-%d %H:%M").to_string())
        .collect()
}

#[test]
fn the_chain_is_the_latest_record_at_or_before_t() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(
        dir.path(),
        "t.jsonl",
        &[
            chain(secs(0), "SPY", vec![option("O:A", "call", 670.0, "2025-11-21", 1.0)]),
            chain(secs(60), "SPY", vec![option("O:A", "call", 670.0, "2025-11-21", 2.0)]),
        ],
    );
    let (clock, client, market) = replay(&path, secs(-10));
    let q = ChainQuery::default();
    assert_eq!(volumes(&client.option_chain("SPY", &q).unwrap()), Vec::<(String, f64)>::new());
    move_to(&clock, secs(59));
    assert_eq!(volumes(&client.option_chain("SPY", &q).unwrap()), [("O:A".to_string(), 1.0)]);
    move_to(&clock, secs(60));
    assert_eq!(volumes(&client.option_chain("SPY", &q).unwrap()), [("O:A".to_string(), 2.0)]);
    assert_eq!(market.records_applied(), 2);
    assert!(market.exhausted());
}

#[test]
fn chains_are_filtered_as_the_api_filters_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut contracts = Vec::new();
    for exp in ["2025-10-24", "2025-11-21", "2025-12-19"] {
        for strike in [660.0, 670.0, 680.0] {
            for kind in ["call", "put"] {
                let name = format!("O:{}{}{}", &exp[5..7], &kind[..1].to_uppercase(), strike);
                contracts.push(option(&name, kind, strike, exp, 1.0));
            }
        }
    }
    let path = write_tape(dir.path(), "t.jsonl", &[chain(secs(0), "SPY", contracts)]);
    let (_clock, client, market) = replay(&path, secs(1));
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let cases: Vec<(ChainQuery, &str)> = vec![
        (ChainQuery::default(), "18 contracts"),
        (
            ChainQuery { expiration_date_lte: Some(d("2025-11-21")), ..ChainQuery::default() },
            "10C660 10P660 10C670 10P670 10C680 10P680 11C660 11P660 11C670 11P670 11C680 11P680",
        ),
        (
            ChainQuery {
                expiration_date_gte: Some(d("2025-11-01")),
                contract_type: Some(ContractType::Put),
                strike_price_gte: Some(665.0),
                strike_price_lte: Some(675.0),
                ..ChainQuery::default()
            },
            "11P670 12P670",
        ),
        (
            ChainQuery {
                expiration_date_lte: Some(d("2025-10-24")),
                contract_type: Some(ContractType::Call),
                strike_price_gte: Some(670.0),
                ..ChainQuery::default()
            },
            "10C670 10C680",
        ),
        (ChainQuery { expiration_date_lte: Some(d("2025-10-23")), ..ChainQuery::default() }, ""),
    ];
    for (query, want) in cases {
        let got: Vec<String> =
            client.option_chain("SPY", &query).unwrap().iter().map(|c| c.ticker().unwrap()[2..].to_string()).collect();
        let got = if got.len() == 18 { "18 contracts".to_string() } else { got.join(" ") };
        assert_eq!(got, want, "{query:?}");
    }
    // The strict and exact forms the client does not send.
    let names = |body: &Value| -> String {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["details"]["ticker"].as_str().unwrap()[2..])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (status, body) = raw(
        &market,
        "/v3/snapshot/options/SPY?limit=250&expiration_date.gt=2025-10-24&expiration_date.lt=2025-12-19&strike_price=680",
    );
    assert_eq!((status, names(&body).as_str()), (200, "11C680 11P680"));
    let (status, body) =
        raw(&market, "/v3/snapshot/options/SPY?strike_price.gt=670&strike_price.lt=690&contract_type=call");
    assert_eq!((status, names(&body).as_str()), (200, "10C680 11C680 12C680"));
    // Polygon's default page is 10 contracts.
    let (_, body) = raw(&market, "/v3/snapshot/options/SPY");
    assert_eq!(body["results"].as_array().unwrap().len(), 10);
    assert!(body["next_url"].as_str().unwrap().starts_with("https://api.polygon.io/v3/snapshot/options/SPY?cursor="));
    let (status, body) = raw(&market, "/v3/snapshot/options/SPY?strike_price.gte=cheap");
    assert_eq!((status, body["status"].as_str()), (400, Some("ERROR")));
}

#[test]
fn a_600_contract_chain_costs_three_requests_of_bucket_time() {
    let dir = tempfile::tempdir().unwrap();
    let contracts: Vec<OptionSnapshot> =
        (0..600).map(|i| option(&format!("O:SPY{i:04}"), "call", 500.0 + f64::from(i), "2025-11-21", 1.0)).collect();
    let path = write_tape(dir.path(), "t.jsonl", &[chain(secs(0), "SPY", contracts.clone())]);
    let (clock, client, _market) = replay(&path, secs(0));
    let before = clock.elapsed();
    let got = client.option_chain("SPY", &ChainQuery::default()).unwrap();
    assert_eq!(got, contracts, "every contract, in the tape's order");
    let stats = client.stats();
    let chain_stats = &stats.endpoints["option_chain"];
    assert_eq!(chain_stats.requests.get("200"), Some(&3));
    assert_eq!(chain_stats.pages, 3);
    // Default 5 requests/s, burst 1: pages at 0, 0.2 and 0.4 s.
    let spent = clock.elapsed() - before;
    assert!(spent >= Duration::from_millis(2 * 1000 / 5), "{spent:?}");
}

#[test]
fn later_pages_come_from_the_snapshot_of_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let three = |v: f64| (0..3).map(|i| option(&format!("O:{i}"), "call", 600.0, "2025-11-21", v)).collect();
    let path =
        write_tape(dir.path(), "t.jsonl", &[chain(secs(0), "SPY", three(1.0)), chain(secs(1), "SPY", three(2.0))]);
    let (clock, _client, market) = replay(&path, secs(0));
    let vols = |body: &Value| -> Vec<f64> {
        body["results"].as_array().unwrap().iter().map(|c| c["day"]["volume"].as_f64().unwrap()).collect()
    };
    let (_, first) = raw(&market, "/v3/snapshot/options/SPY?limit=2");
    assert_eq!(vols(&first), [1.0, 1.0]);
    let next = first["next_url"].as_str().unwrap().strip_prefix(PROD).unwrap().to_string();
    move_to(&clock, secs(5));
    let (_, second) = raw(&market, &next);
    assert_eq!(vols(&second), [1.0], "page 2 of the snapshot page 1 came from");
    assert!(second.get("next_url").is_none());
    let (_, fresh) = raw(&market, "/v3/snapshot/options/SPY?limit=2");
    assert_eq!(vols(&fresh), [2.0, 2.0]);
    // A finished pagination's snapshot, no longer the latest, is gone.
    let (status, body) = raw(&market, &next);
    assert_eq!(status, 400, "{body}");
}

#[test]
fn bars_are_only_those_closed_by_t_and_later_records_replace_earlier_bars() {
    let dir = tempfile::tempdir().unwrap();
    let mut revised = minute(secs(0), 5.0);
    revised.close = 200.0;
    let path = write_tape(
        dir.path(),
        "t.jsonl",
        &[
            aggs(
                secs(30),
                "SPY",
                1,
                "minute",
                vec![minute(secs(-120), 0.0), minute(secs(-60), 1.0), minute(secs(0), 2.0)],
            ),
            aggs(secs(90), "SPY", 1, "minute", vec![revised, minute(secs(60), 3.0)]),
        ],
    );
    let (clock, client, _market) = replay(&path, secs(30));
    let get = || client.aggs("SPY", 1, "minute", day(22), day(22)).unwrap();
    // The bar that started at t-30s is still open.
    assert_eq!(starts(&get()), ["10-22 14:28", "10-22 14:29"]);
    move_to(&clock, secs(60));
    assert_eq!(starts(&get()), ["10-22 14:28", "10-22 14:29", "10-22 14:30"]);
    assert_eq!(get()[2].close, 102.5);
    move_to(&clock, secs(120));
    let bars = get();
    assert_eq!(starts(&bars), ["10-22 14:28", "10-22 14:29", "10-22 14:30", "10-22 14:31"]);
    assert_eq!(bars[2].close, 200.0, "the later record's bar replaced the earlier one");
    assert_eq!(client.aggs("SPY", 1, "minute", day(21), day(21)).unwrap(), []);
}

#[test]
fn five_minute_hour_and_day_bars_are_built_from_one_minute_bars() {
    let dir = tempfile::tempdir().unwrap();
    let yesterday_open = Utc.with_ymd_and_hms(2025, 10, 21, 13, 30, 0).unwrap();
    let yesterday: Vec<Bar> =
        (0..3).map(|i| minute(yesterday_open + chrono::Duration::minutes(i), 10.0 * i as f64)).collect();
    let today: Vec<Bar> = (0..15).map(|i| minute(secs(60 * i), i as f64)).collect();
    let path = write_tape(
        dir.path(),
        "t.jsonl",
        &[
            aggs(Utc.with_ymd_and_hms(2025, 10, 21, 20, 0, 0).unwrap(), "SPY", 1, "minute", yesterday),
            aggs(secs(15 * 60), "SPY", 1, "minute", today.clone()),
        ],
    );
    let (clock, client, market) = replay(&path, secs(15 * 60));

    let five = client.aggs("SPY", 5, "minute", day(22), day(22)).unwrap();
    assert_eq!(starts(&five), ["10-22 14:30", "10-22 14:35", "10-22 14:40"]);
    let first = &five[0];
    assert_eq!((first.open, first.high, first.low, first.close, first.volume), (100.0, 105.0, 99.0, 104.5, 150.0));
    let traded: f64 = today[..5].iter().map(|b| b.vwap.unwrap() * b.volume).sum();
    assert_eq!(first.vwap, Some(traded / 150.0));
    assert_eq!(first.start_ms, t0().timestamp_millis());

    // Millisecond bounds are inclusive and apply to the built bar's start.
    let ms = |s: i64| secs(s).timestamp_millis();
    assert_eq!(starts(&client.aggs("SPY", 5, "minute", ms(300), ms(600)).unwrap()), ["10-22 14:35", "10-22 14:40"]);

    // The 14:00 UTC hour has not closed at 14:45; yesterday's 13:00 has.
    let hours = client.aggs("SPY", 1, "hour", day(21), day(22)).unwrap();
    assert_eq!(starts(&hours), ["10-21 13:00"]);
    assert_eq!((hours[0].open, hours[0].close, hours[0].volume), (100.0, 120.5, 10.0 + 110.0 + 210.0));

    // A day bar (stamped at ET midnight) only once its ET date has ended.
    let days = client.aggs("SPY", 1, "day", day(21), day(22)).unwrap();
    assert_eq!(starts(&days), ["10-21 04:00"]);
    assert_eq!((days[0].open, days[0].high, days[0].low, days[0].close), (100.0, 121.0, 99.0, 120.5));

    // sort and limit, and an empty range without a `results` key.
    let (_, body) = raw(&market, "/v2/aggs/ticker/SPY/range/5/minute/2025-10-22/2025-10-22?sort=desc&limit=1");
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    assert_eq!(body["results"][0]["t"], json!(secs(600).timestamp_millis()));
    let (status, body) = raw(&market, "/v2/aggs/ticker/SPY/range/5/minute/2025-10-20/2025-10-20");
    assert_eq!((status, body.get("results"), &body["resultsCount"]), (200, None, &json!(0)));

    move_to(&clock, Utc.with_ymd_and_hms(2025, 10, 23, 4, 0, 0).unwrap());
    let days = client.aggs("SPY", 1, "day", day(21), day(22)).unwrap();
    assert_eq!(starts(&days), ["10-21 04:00", "10-22 04:00"]);
    assert_eq!((days[1].open, days[1].close, days[1].volume), (100.0, 114.5, (1..=15).map(|i| 10.0 * i as f64).sum()));
    let hours = client.aggs("SPY", 1, "hour", day(22), day(22)).unwrap();
    assert_eq!(starts(&hours), ["10-22 14:00"]);
}

#[test]
fn trades_are_the_union_after_timestamp_gt_and_at_or_before_t() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(
        dir.path(),
        "t.jsonl",
        &[
            trades(
                secs(0),
                "SPY",
                vec![trade(Some("a"), secs(-50), 670.0, 100.0), trade(Some("b"), secs(-40), 670.1, 200.0)],
            ),
            trades(
                secs(60),
                "SPY",
                vec![
                    trade(Some("b"), secs(-40), 670.1, 200.0),
                    trade(None, secs(20), 670.2, 300.0),
                    trade(Some("c"), secs(30), 670.3, 400.0),
                    trade(Some("e"), secs(70), 670.5, 600.0),
                ],
            ),
            trades(
                secs(61),
                "SPY",
                vec![trade(None, secs(20), 670.2, 300.0), trade(Some("d"), secs(50), 670.4, 500.0)],
            ),
        ],
    );
    let (clock, client, _market) = replay(&path, secs(10));
    let sizes = |q: &TradesQuery| -> Vec<f64> { client.trades("SPY", q).unwrap().iter().map(|t| t.size).collect() };
    let after = TradesQuery { timestamp_gt: Some(ns(secs(-45))), ..TradesQuery::default() };
    assert_eq!(sizes(&after), [200.0], "what the first record knew, after the window start");
    move_to(&clock, secs(61));
    assert_eq!(sizes(&after), [200.0, 300.0, 400.0, 500.0], "deduplicated by id, else by the print; none after t");
    let from_b =
        TradesQuery { timestamp_gte: Some(ns(secs(-40))), timestamp_lt: Some(ns(secs(30))), ..TradesQuery::default() };
    assert_eq!(sizes(&from_b), [200.0, 300.0]);
    move_to(&clock, secs(70));
    assert_eq!(sizes(&after), [200.0, 300.0, 400.0, 500.0, 600.0]);
    // Pages of two, each a request through the bucket, give the same prints.
    let before = client.stats().endpoints["trades"].pages;
    assert_eq!(sizes(&TradesQuery { limit: Some(2), ..after.clone() }), [200.0, 300.0, 400.0, 500.0, 600.0]);
    assert_eq!(client.stats().endpoints["trades"].pages - before, 3);
}

const CALL_A: &str = "O:SPY251121C00670000";
const CALL_B: &str = "O:SPY251121P00660000";

#[test]
fn unusual_trades_are_those_known_at_t_filtered_ascending_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(
        dir.path(),
        "t.jsonl.gz",
        &[
            unusual(secs(0), vec![print(CALL_A, secs(-20), 100.0, 1), print(CALL_B, secs(-10), 200.0, 2)]),
            // A later poll repeats the last print (its cursor was `gte` its
            // time) and brings two more, one out of order.
            unusual(
                secs(30),
                vec![
                    print(CALL_A, secs(25), 400.0, 4),
                    print(CALL_B, secs(-10), 200.0, 2),
                    print(CALL_A, secs(5), 300.0, 3),
                ],
            ),
            unusual(secs(60), vec![print(CALL_B, secs(50), 500.0, 5)]),
            // A market-wide poll that found nothing new.
            unusual(secs(90), vec![]),
        ],
    );
    let (clock, client, market) = replay(&path, secs(-5));
    let sizes = |q: &UnusualQuery| -> Vec<f64> { client.unusual_trades(q).unwrap().iter().map(|p| p.size).collect() };
    let all = UnusualQuery::default();
    // Before the tape's first unusual-trades record the replay answers as
    // a plan without the endpoint: 403.
    let before = client.unusual_trades(&all).unwrap_err();
    assert!(matches!(before, orakl::polygon::PolygonError::Forbidden { .. }), "{before}");
    client.restore_disabled(orakl::polygon::Feature::MarketPrints, std::time::Duration::from_secs(3600), String::new());
    move_to(&clock, secs(10));
    assert_eq!(sizes(&all), [100.0, 200.0], "the +5 s print's record comes at 30 s");
    move_to(&clock, secs(30));
    assert_eq!(sizes(&all), [100.0, 200.0, 300.0, 400.0], "ascending, the repeat dropped");
    let window = UnusualQuery {
        sip_timestamp_gte: Some(ns(secs(-10))),
        sip_timestamp_lte: Some(ns(secs(5))),
        ..UnusualQuery::default()
    };
    assert_eq!(sizes(&window), [200.0, 300.0]);
    let only_b = UnusualQuery { tickers: vec![CALL_B.into()], ..UnusualQuery::default() };
    assert_eq!(sizes(&only_b), [200.0]);
    let both = UnusualQuery { tickers: vec![CALL_B.into(), CALL_A.into()], ..UnusualQuery::default() };
    assert_eq!(sizes(&both), [100.0, 200.0, 300.0, 400.0]);
    // Pages of one: the cursor pins the first page's time, so a print that
    // arrives while the client pages (50 s, known at 60 s) is not slipped in.
    move_to(&clock, secs(59) + chrono::Duration::milliseconds(700));
    let before = client.stats().endpoints["unusual_trades"].pages;
    let paged = client.unusual_trades(&UnusualQuery { limit: Some(1), ..UnusualQuery::default() }).unwrap();
    assert!(clock.now() > secs(60), "four pages through the bucket took past 60 s: {}", clock.now());
    assert_eq!(paged.iter().map(|p| p.size).collect::<Vec<_>>(), [100.0, 200.0, 300.0, 400.0]);
    assert_eq!(client.stats().endpoints["unusual_trades"].pages - before, 4);
    assert_eq!(sizes(&all), [100.0, 200.0, 300.0, 400.0, 500.0]);

    // What the client does not send: the other filters, descending order,
    // and requests the endpoint would refuse.
    let sizes_of = |body: &Value| -> Vec<f64> {
        body["results"].as_array().unwrap().iter().map(|p| p["size"].as_f64().unwrap()).collect()
    };
    let q = |query: &str| raw(&market, &format!("/options/v1/unusual-trades?{query}"));
    assert_eq!(sizes_of(&q("order=desc&limit=2").1), [500.0, 400.0]);
    assert!(q("order=desc&limit=2").1["next_url"].as_str().unwrap().contains("/options/v1/unusual-trades?cursor="));
    assert_eq!(sizes_of(&q(&format!("sip_timestamp={}", ns(secs(5)))).1), [300.0]);
    assert_eq!(sizes_of(&q(&format!("sip_timestamp.gt={}", ns(secs(5)))).1), [400.0, 500.0]);
    assert_eq!(sizes_of(&q(&format!("sip_timestamp.lt={}", ns(secs(5)))).1), [100.0, 200.0]);
    assert_eq!(sizes_of(&q(&format!("ticker={CALL_A}")).1), [100.0, 300.0, 400.0]);
    assert_eq!(sizes_of(&q(&format!("ticker.gt={CALL_A}")).1), [200.0, 500.0]);
    assert_eq!(sizes_of(&q("ticker=O:NOPE").1), Vec::<f64>::new());
    let first = &q("limit=1").1["results"][0];
    assert_eq!(first["flags"], json!(["sweep"]), "the record as the tape holds it");
    assert_eq!(first["sequence_number"], json!(1));
    for bad in ["order=up", "sort=size", "limit=0", "sip_timestamp.gte=soon", "cursor=x"] {
        assert_eq!(q(bad).0, 400, "{bad}");
    }
    assert!(market.error().is_none());
}

#[test]
fn quotes_answer_the_nbbo_at_or_before_a_time_as_known_at_t() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(
        dir.path(),
        "t.jsonl",
        &[
            quotes(secs(0), CALL_A, vec![nbbo(secs(-30), 3.9, 4.0), nbbo(secs(-5), 4.0, 4.1)]),
            quotes(secs(30), CALL_A, vec![nbbo(secs(-5), 4.0, 4.1), nbbo(secs(20), 4.2, 4.3)]),
            quotes(secs(30), CALL_B, vec![nbbo(secs(10), 1.0, 1.1)]),
        ],
    );
    let (clock, client, market) = replay(&path, secs(1));
    let bid_at = |s: i64| client.quote_at(CALL_A, ns(secs(s))).unwrap().and_then(|q| q.bid_price);
    assert_eq!(bid_at(-31), None, "before the first quote");
    assert_eq!(bid_at(-30), Some(3.9));
    assert_eq!(bid_at(0), Some(4.0));
    assert_eq!(bid_at(25), Some(4.0), "the 20 s quote is known at 30 s only");
    assert_eq!(client.quote_at(CALL_B, ns(secs(25))).unwrap(), None);
    move_to(&clock, secs(30));
    assert_eq!(bid_at(25), Some(4.2));
    assert_eq!(client.quote_at(CALL_B, ns(secs(25))).unwrap().and_then(|q| q.ask_price), Some(1.1));
    assert_eq!(client.quote_at("O:SPY251121C00999000", ns(secs(25))).unwrap(), None);
    // Other orders and windows, answered simply: every quote, deduplicated.
    let bids = |query: &str| -> Vec<f64> {
        let (status, body) = raw(&market, &format!("/v3/quotes/{CALL_A}?{query}"));
        assert_eq!(status, 200, "{query}: {body}");
        body["results"].as_array().unwrap().iter().map(|q| q["bid_price"].as_f64().unwrap()).collect()
    };
    assert_eq!(bids(""), [3.9, 4.0, 4.2]);
    assert_eq!(bids("order=desc&sort=timestamp"), [4.2, 4.0, 3.9]);
    assert_eq!(bids(&format!("timestamp.gte={}&limit=1", ns(secs(-5)))), [4.0]);
    assert_eq!(raw(&market, &format!("/v3/quotes/{CALL_A}?sort=sip_timestamp")).0, 400);
    assert!(market.error().is_none());
}

#[test]
fn a_recorded_prints_session_replays_to_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let at = |s: i64| ns(secs(s));
    let prints = Prints {
        unusual: (0..7)
            .map(|k| {
                let ticker = if k % 3 == 0 { CALL_B } else { CALL_A };
                fake_polygon::unusual_print(
                    ticker,
                    4.0,
                    100.0 * f64::from(k + 1),
                    302 + i64::from(k % 3),
                    k % 2 == 0,
                    at(20 * i64::from(k) - 30),
                )
            })
            .collect(),
        quotes: BTreeMap::from([(
            CALL_A.to_string(),
            (0..10)
                .map(|k| {
                    fake_polygon::quote(
                        3.9 + 0.01 * f64::from(k),
                        4.0 + 0.01 * f64::from(k),
                        at(15 * i64::from(k) - 40),
                    )
                })
                .collect(),
        )]),
    };
    let clock = Arc::new(SimClock::new(secs(0)));
    let fake_clock = clock.clone();
    let fake =
        FakePolygon::start_with_prints(BTreeMap::new(), BTreeMap::new(), prints, 250, move || ns(fake_clock.now()));
    let path = dir.path().join("lane.jsonl.gz");
    let http = Http::new(Duration::from_secs(5), Notifier::disabled());
    let header = Header::new(BTreeMap::from([("source".to_string(), json!("record"))]));
    let (recorder, handle) = Recorder::create(http, &path, &header, clock.clone()).unwrap();
    let live = live_client(fake.url(), &clock, Box::new(recorder));
    // A poll every 30 s from a cursor at the last print's time (`gte`,
    // so each poll repeats it), in pages of two, and the quote at each
    // new print of CALL_A.
    let lane = |client: &Client, clock: &SimClock| -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = at(-60);
        for round in 0..5 {
            move_to(clock, secs(30 * round));
            let q = UnusualQuery { sip_timestamp_gte: Some(cursor), limit: Some(2), ..UnusualQuery::default() };
            let got = client.unusual_trades(&q).unwrap();
            for p in got.iter().filter(|p| p.sip_timestamp > cursor || round == 0) {
                let quote =
                    if p.ticker == CALL_A { client.quote_at(&p.ticker, p.sip_timestamp).unwrap() } else { None };
                out.push(format!(
                    "{round} {} {} {:?}",
                    p.ticker,
                    p.size,
                    quote.map(|q| (q.bid_price, q.sip_timestamp))
                ));
            }
            cursor = got.last().map_or(cursor, |p| p.sip_timestamp);
        }
        out
    };
    let recorded = lane(&live, &clock);
    assert_eq!(recorded.len(), 7, "every print once, each of CALL_A's with its quote: {recorded:?}");
    assert!(recorded[1].ends_with("Some((Some(3.92), 1761143390000000000))"), "{recorded:?}");
    drop(live);
    assert!(handle.finish().unwrap() >= 8);
    let (clock, client, market) = replay(&path, secs(0));
    assert_eq!(lane(&client, &clock), recorded);
    assert!(market.error().is_none());
    let (_, symbols, _, _) = tape_symbols(&path).unwrap();
    assert!(symbols.is_empty(), "neither the market-wide stream nor option quotes are watchlist symbols: {symbols:?}");
}

/// The answers of a fixed call sequence at fixed times, as text.
fn observe(path: &Path, times: &[i64]) -> Vec<String> {
    let (clock, client, market) = replay(path, secs(times[0]));
    let mut out = Vec::new();
    for &s in times {
        move_to(&clock, secs(s));
        out.push(format!("{s} chain {:?}", client.option_chain("SPY", &ChainQuery::default())));
        move_to(&clock, secs(s) + chrono::Duration::seconds(1));
        out.push(format!("{s} bars {:?}", client.aggs("SPY", 1, "minute", day(22), day(22))));
        out.push(format!("{s} 5m {:?}", client.aggs("SPY", 5, "minute", day(22), day(22))));
        let q = TradesQuery { timestamp_gt: Some(ns(secs(-600))), ..TradesQuery::default() };
        out.push(format!("{s} trades {:?}", client.trades("SPY", &q)));
        out.push(format!("{s} stock {:?}", client.stock_snapshot("SPY")));
    }
    assert!(market.error().is_none());
    out
}

#[test]
fn a_record_later_in_the_tape_never_changes_an_earlier_answer() {
    let dir = tempfile::tempdir().unwrap();
    let early = vec![
        chain(secs(0), "SPY", vec![option("O:A", "call", 670.0, "2025-11-21", 1.0)]),
        aggs(secs(0), "SPY", 1, "minute", vec![minute(secs(-120), 0.0), minute(secs(-60), 1.0)]),
        trades(secs(0), "SPY", vec![trade(Some("a"), secs(-100), 670.0, 100.0)]),
        stock(secs(0), "SPY", 670.0),
        aggs(secs(40), "SPY", 1, "minute", vec![minute(secs(-60), 1.5), minute(secs(0), 2.0)]),
    ];
    let mut full = early.clone();
    full.extend([
        // Each would change an answer at or before 60 s if it leaked.
        chain(secs(61), "SPY", vec![option("O:A", "call", 670.0, "2025-11-21", 9.0)]),
        aggs(secs(61), "SPY", 1, "minute", vec![minute(secs(-120), 9.0), minute(secs(0), 9.0), minute(secs(60), 9.0)]),
        trades(secs(61), "SPY", vec![trade(Some("late"), secs(-30), 671.0, 900.0)]),
        stock(secs(61), "SPY", 699.0),
    ]);
    let short = write_tape(dir.path(), "early.jsonl", &early);
    let long = write_tape(dir.path(), "full.jsonl.gz", &full);
    let times = [-5, 0, 30, 40, 59];
    let (a, b) = (observe(&short, &times), observe(&long, &times));
    assert_eq!(a, b);
    // And the later records do arrive on time.
    let after = observe(&long, &[61]);
    assert!(after[0].contains("volume: Some(9.0)"), "{}", after[0]);
    assert!(after[3].contains("900.0"), "{}", after[3]);
}

#[test]
fn what_the_tape_does_not_know_is_empty_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(
        dir.path(),
        "t.jsonl",
        &[chain(secs(0), "SPY", vec![option("O:A", "call", 670.0, "2025-11-21", 1.0)])],
    );
    let (_clock, client, market) = replay(&path, secs(1));
    assert_eq!(client.option_chain("QQQ", &ChainQuery::default()).unwrap(), []);
    assert_eq!(client.option_contract("QQQ", "O:QQQ251121C00600000").unwrap(), None);
    assert_eq!(client.aggs("QQQ", 1, "minute", day(22), day(22)).unwrap(), []);
    assert_eq!(client.aggs("SPY", 1, "day", day(1), day(22)).unwrap(), []);
    assert_eq!(client.trades("QQQ", &TradesQuery::default()).unwrap(), []);
    assert_eq!(client.stock_snapshot("QQQ").unwrap(), None);
    let (status, body) = raw(&market, "/v1/marketstatus/now");
    assert_eq!((status, body["status"].as_str()), (404, Some("NOT_FOUND")));
    let stats = client.stats();
    assert_eq!(stats.requests_failed(), 0);
    assert_eq!(stats.endpoints.values().map(|e| e.calls_failed).sum::<u64>(), 0);
}

#[test]
fn a_single_contract_is_the_latest_of_its_own_record_and_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let ticker = "O:SPY251121C00670000";
    let own = Record {
        at: secs(0),
        payload: Payload::OptionContract {
            underlying: "SPY".into(),
            contract: ticker.into(),
            results: Box::new(option(ticker, "call", 670.0, "2025-11-21", 5.0)),
        },
    };
    let path = write_tape(
        dir.path(),
        "t.jsonl",
        &[
            own,
            chain(secs(30), "SPY", vec![option(ticker, "call", 670.0, "2025-11-21", 7.0)]),
            stock(secs(30), "SPY", 671.0),
        ],
    );
    let (clock, client, _market) = replay(&path, secs(-1));
    assert_eq!(client.option_contract("SPY", ticker).unwrap(), None);
    assert_eq!(client.stock_snapshot("SPY").unwrap(), None);
    move_to(&clock, secs(10));
    assert_eq!(client.option_contract("SPY", ticker).unwrap().map(|c| c.scan_view().day_volume()), Some(5.0));
    move_to(&clock, secs(40));
    assert_eq!(client.option_contract("SPY", ticker).unwrap().map(|c| c.scan_view().day_volume()), Some(7.0));
    assert_eq!(client.option_contract("SPY", "O:SPY251121P00670000").unwrap(), None);
    let snap = client.stock_snapshot("SPY").unwrap().unwrap();
    assert_eq!((snap.ticker.as_deref(), snap.last_price()), (Some("SPY"), Some(671.0)));
}

#[test]
fn a_malformed_line_stops_the_replay_naming_tape_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(dir.path(), "t.jsonl", &[chain(secs(0), "SPY", vec![])]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"at\":\"2025-10-22T14:31:00Z\",\"endpoint\":\"trades\",\"ticker\":\n");
    std::fs::write(&path, text).unwrap();
    let (clock, client, market) = replay(&path, secs(-10));
    // Streaming: the bad line 3 is not read while line 2 is still ahead.
    assert_eq!(client.option_chain("SPY", &ChainQuery::default()).unwrap(), []);
    assert!(market.error().is_none());
    move_to(&clock, secs(0));
    let err = client.option_chain("SPY", &ChainQuery::default()).unwrap_err().to_string();
    let want = format!("{}:3: bad record", path.display());
    assert!(err.contains(&want), "{err}");
    assert!(market.error().unwrap().to_string().starts_with(&want));
    assert!(client.stock_snapshot("SPY").is_err(), "every later request fails too");
    // A tape error is not an API fault: no retry, no circuit.
    let stats = client.stats();
    assert_eq!(stats.endpoints["option_chain"].retries, 0);
    assert_eq!(stats.retry_wait_ms, 0);
    for _ in 0..10 {
        assert!(client.option_chain("SPY", &ChainQuery::default()).unwrap_err().to_string().contains(&want));
    }
    assert!(client.open_circuits().is_empty(), "{:?}", client.open_circuits());

    let bad_header = dir.path().join("h.jsonl");
    std::fs::write(&bad_header, "{\"tape\":\"other\",\"version\":1}\n").unwrap();
    let clock = Arc::new(SimClock::new(t0()));
    let err = TapeMarket::open(&bad_header, clock).err().unwrap().to_string();
    assert_eq!(err, format!("{}:1: not an orakl market tape (`tape` is `other`)", bad_header.display()));
}

#[test]
fn tape_symbols_gives_the_watchlist_and_the_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(
        dir.path(),
        "t.jsonl.gz",
        &[
            chain(secs(0), "SPY", vec![]),
            trades(secs(5), "O:SPY251121C00670000", vec![]),
            aggs(secs(6), "I:SPX", 1, "minute", vec![]),
            stock(secs(7), "QQQ", 600.0),
            unusual(secs(8), vec![print(CALL_A, secs(7), 100.0, 1)]),
            quotes(secs(8), CALL_A, vec![nbbo(secs(7), 4.0, 4.1)]),
            trades(secs(9), "IWM", vec![]),
        ],
    );
    let (header, symbols, first, last) = tape_symbols(&path).unwrap();
    assert_eq!(header.meta["source"], json!("test"));
    assert_eq!(symbols.into_iter().collect::<Vec<_>>(), ["I:SPX", "IWM", "QQQ", "SPY"]);
    assert_eq!((first, last), (secs(0), secs(9)));
    let empty = write_tape(dir.path(), "e.jsonl", &[]);
    assert_eq!(tape_symbols(&empty).unwrap_err().to_string(), format!("{}: the tape has no records", empty.display()));
}

fn live_client(url: String, clock: &Arc<SimClock>, transport: Box<dyn Transport>) -> Client {
    let config = PolygonConfig { base_url: url, max_retries: 1, ..PolygonConfig::new(KEY) };
    Client::with_transport(config, clock.clone(), transport).unwrap()
}

/// Each call at its own time, so both runs ask at the same instants however
/// many pages the live server needed.
fn session(client: &Client, clock: &SimClock, option: &str) -> Vec<String> {
    let mut out = Vec::new();
    for round in 0..3 {
        let base = 120 * round;
        move_to(clock, secs(base));
        out.push(format!("{base} chain {:?}", client.option_chain("SPY", &ChainQuery::default())));
        move_to(clock, secs(base + 10));
        let q = TradesQuery {
            timestamp_gt: Some(ns(secs(-100))),
            timestamp_lte: Some(ns(clock.now())),
            ..TradesQuery::default()
        };
        out.push(format!("{base} trades {:?}", client.trades(option, &q)));
        move_to(clock, secs(base + 20));
        out.push(format!("{base} aggs {:?}", client.aggs("SPY", 1, "minute", day(22), day(22))));
        move_to(clock, secs(base + 30));
        out.push(format!("{base} stock {:?}", client.stock_snapshot("SPY")));
    }
    out
}

#[test]
fn a_recorded_session_replays_to_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let option = "O:SPY251121C00670000";
    let contracts: Vec<Contract> = (0..5)
        .map(|i| {
            let strike = 660.0 + 5.0 * f64::from(i);
            let ticker = format!("O:SPY251121C00{}000", strike as u32);
            Contract::new(&ticker, true, strike, "2025-11-21", 670.0, &[100.0 * f64::from(i + 1), 900.0, 2000.0])
        })
        .collect();
    let prints = vec![
        iso_print(300, 50.0, ns(secs(-90))),
        iso_print(301, 60.0, ns(secs(5))),
        iso_print(302, 70.0, ns(secs(200))),
        iso_print(303, 80.0, ns(secs(1000))),
    ];
    let clock = Arc::new(SimClock::new(secs(0)));
    let fake_clock = clock.clone();
    let fake = FakePolygon::start(
        BTreeMap::from([("SPY".to_string(), contracts)]),
        BTreeMap::from([(option.to_string(), prints)]),
        2,
        move || ns(fake_clock.now()),
    );
    let path = dir.path().join("day.jsonl.gz");
    let http = Http::new(Duration::from_secs(5), Notifier::disabled());
    let header = Header::new(BTreeMap::from([("source".to_string(), json!("record"))]));
    let (recorder, handle) = Recorder::create(http, &path, &header, clock.clone()).unwrap();
    let live = live_client(fake.url(), &clock, Box::new(recorder));
    let recorded = session(&live, &clock, option);
    assert_eq!(fake.chain_fetches("SPY"), 3);
    assert_eq!(live.stats().endpoints["option_chain"].pages, 9, "5 contracts in pages of 2");
    drop(live);
    assert_eq!(handle.finish().unwrap(), 9, "3 chains, 3 trades, 3 aggs; no 404 snapshot");

    let text = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()).read_to_string(&mut s).unwrap();
        s
    };
    assert!(!text.contains(KEY), "the API key never reaches a tape");
    assert!(!text.contains("127.0.0.1"), "nor a URL");

    let (clock, client, market) = replay(&path, secs(0));
    let replayed = session(&client, &clock, option);
    assert_eq!(recorded, replayed);
    assert!(recorded[0].contains("volume: Some(100.0)") && recorded[4].contains("volume: Some(900.0)"), "{recorded:?}");
    assert!(!recorded[5].contains("size: 70.0") && recorded[9].contains("size: 70.0"), "{recorded:?}");
    assert!(!recorded[9].contains("size: 80.0"), "{}", recorded[9]);
    assert_eq!(client.stats().endpoints["option_chain"].pages, 3, "one page of 250 per chain");
    assert!(market.exhausted());
}

#[test]
fn the_recorder_writes_complete_fetches_only_and_never_breaks_the_live_call() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(|req: &Recorded| {
        let cursor = req.query("cursor");
        match (req.path(), cursor.as_deref()) {
            ("/v3/snapshot/options/SPY", None) => Reply::json(
                200,
                r#"{"status":"OK","results":[{"details":{"ticker":"O:A"}}],"next_url":"https://api.polygon.io/v3/snapshot/options/SPY?cursor=p2"}"#,
            ),
            ("/v3/snapshot/options/SPY", Some(_)) => Reply::json(500, r#"{"status":"ERROR","error":"down"}"#),
            ("/v3/trades/SPY", None) => Reply::json(
                200,
                r#"{"status":"OK","results":[{"price":1,"size":2,"sip_timestamp":3,"id":"x"}],"next_url":"https://api.polygon.io/v3/trades/SPY?cursor=t2"}"#,
            ),
            ("/v2/snapshot/locale/us/markets/stocks/tickers/SPY", _) => {
                Reply::json(200, r#"{"status":"OK","ticker":{"ticker":"SPY","lastTrade":{"p":670.0}}}"#)
            }
            ("/v3/trades/BAD", _) => Reply::json(200, "not json"),
            _ => Reply::json(404, r#"{"status":"NOT_FOUND"}"#),
        }
    });
    let clock = Arc::new(SimClock::new(secs(0)));
    let path = dir.path().join("t.jsonl");
    let http = Http::new(Duration::from_secs(5), Notifier::disabled());
    let (recorder, handle) = Recorder::create(http, &path, &Header::new(BTreeMap::new()), clock.clone()).unwrap();
    let client = live_client(server.url(), &clock, Box::new(recorder));
    assert!(client.option_chain("SPY", &ChainQuery::default()).is_err(), "page 2 fails for good");
    let prefix = client.trades("SPY", &TradesQuery { max_pages: Some(1), ..TradesQuery::default() }).unwrap();
    assert_eq!(prefix.len(), 1);
    assert!(client.trades("BAD", &TradesQuery::default()).is_err(), "the client reports the body, not the recorder");
    assert_eq!(client.stock_snapshot("SPY").unwrap().and_then(|s| s.last_price()), Some(670.0));
    assert_eq!(client.stock_snapshot("ZZZ").unwrap(), None);
    drop(client);
    assert_eq!(handle.finish().unwrap(), 2);
    let text = std::fs::read_to_string(&path).unwrap();
    let endpoints: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            format!("{} {}", v["endpoint"].as_str().unwrap(), v["results"])
        })
        .collect();
    assert_eq!(
        endpoints,
        [
            r#"trades [{"id":"x","price":1.0,"sip_timestamp":3,"size":2.0}]"#,
            r#"stock_snapshot {"lastTrade":{"p":670.0},"ticker":"SPY"}"#
        ]
    );
    assert!(server.requests().iter().all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}")[..])));
    let (_, symbols, _, _) = tape_symbols(&path).unwrap();
    assert_eq!(symbols.into_iter().collect::<Vec<_>>(), ["SPY"]);
}

/// A tape of two hours: every minute a SPY chain of 60 contracts (700 every
/// 20 minutes, a line longer than a block) and a QQQ chain of 40, the
/// minute bars of 20 option contracts and of the stock, trades that repeat
/// the last minute's, and a stock snapshot — 1.5 MB of lines.
fn busy_tape() -> Vec<Record> {
    let mut records = Vec::new();
    for m in 0..120i64 {
        let at = secs(60 * m);
        let n = if m % 20 == 0 { 700 } else { 60 };
        let contracts = (0..n)
            .map(|i| {
                let exp = ["2025-10-24", "2025-11-21", "2026-06-18"][i % 3];
                let kind = if i % 2 == 0 { "call" } else { "put" };
                option(&format!("O:SPY{i:05}{m:03}"), kind, 600.0 + i as f64, exp, (m * 10 + i as i64) as f64)
            })
            .collect();
        records.push(chain(at, "SPY", contracts));
        let other = (0..40).map(|i| option(&format!("O:QQQ{i:05}{m:03}"), "call", 500.0, "2025-11-21", i as f64));
        records.push(chain(at, "QQQ", other.collect()));
        for c in 0..20 {
            let bar = minute(at - chrono::Duration::minutes(1), (m + c) as f64);
            records.push(aggs(at, &format!("O:SPY{c:05}"), 1, "minute", vec![bar]));
        }
        records.push(aggs(at, "SPY", 1, "minute", vec![minute(at - chrono::Duration::minutes(1), m as f64)]));
        let prints =
            [m - 1, m].iter().map(|k| trade(Some(&format!("t{k}")), secs(60 * k - 30), 600.0, *k as f64)).collect();
        records.push(trades(at, "SPY", prints));
        records.push(stock(at, "SPY", 600.0 + m as f64));
    }
    records
}

/// What a run of requests through the transport answers, at set times.
fn answers(path: &Path) -> Vec<String> {
    let (clock, _client, market) = replay(path, secs(-1));
    let mut out = Vec::new();
    let mut ask = |target: &str| {
        let resp = market.get(&format!("{PROD}{target}"), &[]).unwrap();
        out.push(format!("{} {target} {}", resp.status, String::from_utf8(resp.body).unwrap()));
    };
    for m in [0i64, 7, 20, 21, 59, 60, 61, 119, 130] {
        move_to(&clock, secs(60 * m + 5));
        // SPY then QQQ, twice: from the second round the gzip tape's next
        // chain is inflated ahead on the prefetch thread.
        for _ in 0..2 {
            ask("/v3/snapshot/options/SPY?limit=250&expiration_date.lte=2025-11-21");
            ask("/v3/snapshot/options/QQQ?limit=250");
        }
        ask(&format!("/v3/snapshot/options/SPY?limit=250&cursor={}-250", 2 + 25 * m.min(119)));
        ask("/v3/snapshot/options/SPY?limit=5&contract_type=put&strike_price.gte=610");
        // Option bars: first asked at minute 59 (read back from the tape),
        // then kept; one series is asked only at the end.
        if m >= 59 {
            ask("/v2/aggs/ticker/O:SPY00003/range/1/minute/2025-10-22/2025-10-22");
        }
        ask("/v2/aggs/ticker/SPY/range/5/minute/2025-10-22/2025-10-22?sort=desc&limit=3");
        ask(&format!("/v3/trades/SPY?timestamp.gt={}&limit=3", ns(secs(60 * m - 200))));
        ask(&format!("/v3/snapshot/options/SPY/O:SPY00001{:03}", m.min(119)));
        ask("/v2/snapshot/locale/us/markets/stocks/tickers/SPY");
    }
    ask("/v2/aggs/ticker/O:SPY00017/range/1/minute/2025-10-22/2025-10-22?limit=2");
    assert!(market.exhausted() && market.error().is_none());
    out
}

#[test]
fn a_plain_a_blocked_gzip_and_a_one_member_gzip_tape_answer_alike() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let records = busy_tape();
    let plain = write_tape(dir.path(), "t.jsonl", &records);
    let blocked = write_tape(dir.path(), "t.gz", &records);
    let text = std::fs::read(&plain).unwrap();
    assert!(text.len() > 1_500_000, "{}", text.len());

    // The writer's gzip is members of whole lines, 64 KiB at most unless
    // one line is longer; any gzip reader sees the plain file.
    let gz = std::fs::read(&blocked).unwrap();
    let mut input = std::io::BufReader::new(gz.as_slice());
    let (mut members, mut joined) = (0, Vec::new());
    while !input.fill_buf().unwrap().is_empty() {
        let mut member = Vec::new();
        flate2::bufread::GzDecoder::new(&mut input).read_to_end(&mut member).unwrap();
        assert!(member.ends_with(b"\n"), "member {members} ends inside a line");
        let lines = member.iter().filter(|&&b| b == b'\n').count();
        assert!(member.len() <= 64 * 1024 || lines == 1, "member {members}: {} bytes, {lines} lines", member.len());
        joined.extend_from_slice(&member);
        members += 1;
    }
    assert_eq!(joined, text);
    assert!(members > 20, "{members}");
    let mut zcat = Vec::new();
    flate2::read::MultiGzDecoder::new(gz.as_slice()).read_to_end(&mut zcat).unwrap();
    assert_eq!(zcat, text);

    // A gzip of the whole file in one member (as `gzip t.jsonl` makes):
    // its lines cannot be found again in it, so they are spilled.
    let single = dir.path().join("one.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&text).unwrap();
    std::fs::write(&single, enc.finish().unwrap()).unwrap();

    let want = answers(&plain);
    assert_eq!(want.len(), 9 * 10 + 5 + 1, "{}", want.len());
    assert!(want.iter().all(|a| a.starts_with("200 ")), "{:#?}", want.iter().find(|a| !a.starts_with("200 ")));
    // Spot checks of what the answers say.
    let bars_late = want.iter().find(|a| a.contains("O:SPY00003/range") && a.contains("\"count\":60")).is_some();
    assert!(bars_late, "the series first asked at minute 59 has the 60 bars closed by then");
    assert!(want.last().unwrap().contains("\"count\":2"), "{}", want.last().unwrap());
    assert_eq!(answers(&blocked), want);
    let spill_prefix = format!("orakl-spill-{}-", std::process::id());
    assert_eq!(answers(&single), want);
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&spill_prefix))
        .collect();
    assert!(left.is_empty(), "the spill file is unlinked at once: {left:?}");
}

#[test]
fn a_gzip_tape_cut_short_answers_up_to_the_cut_then_names_where_it_ends() {
    // A recording killed mid-write: the last member is incomplete.
    let dir = tempfile::tempdir().unwrap();
    let records = busy_tape();
    let path = write_tape(dir.path(), "t.gz", &records);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let (clock, _client, market) = replay(&path, secs(-1));
    let chain = |m: &TapeMarket| m.get(&format!("{PROD}/v3/snapshot/options/QQQ?limit=250"), &[]);
    move_to(&clock, secs(60 * 60 + 5));
    let early = chain(&market).unwrap();
    assert_eq!(early.status, 200);
    assert!(String::from_utf8(early.body).unwrap().contains("O:QQQ00000060"), "the chain of minute 60");
    move_to(&clock, secs(60 * 130));
    let err = chain(&market).unwrap_err().to_string();
    assert!(err.contains(&format!("{}:", path.display())), "{err}");
    assert!(market.error().is_some());
}

/// The offsets of the chain members of an orakl `.gz` tape, with their
/// labels.
fn chain_members(bytes: &[u8]) -> Vec<(usize, ChainLabel)> {
    (0..bytes.len().saturating_sub(4))
        .filter(|&i| bytes[i..i + 4] == [0x1f, 0x8b, 0x08, 0x04])
        .filter_map(|i| Some((i, ChainLabel::read(&bytes[i..])?)))
        .collect()
}

#[test]
fn a_chain_member_is_stepped_over_and_its_line_is_checked_against_its_label_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(dir.path(), "t.gz", &busy_tape());
    let mut bytes = std::fs::read(&path).unwrap();
    let members = chain_members(&bytes);
    // Every chain record is labelled: 120 minutes of SPY and QQQ chains.
    assert_eq!(members.len(), 240);
    assert!(members.iter().all(|(_, l)| l.underlying == "SPY" || l.underlying == "QQQ"));
    // Relabel the QQQ chain of minute 30 as another symbol of the same
    // length (the header has no CRC; the member still inflates).
    let (at, _) = members.iter().find(|(_, l)| l.underlying == "QQQ" && l.at == secs(60 * 30)).unwrap();
    let name = at + bytes[*at..].windows(3).position(|w| w == b"QQQ").unwrap();
    bytes[name..name + 3].copy_from_slice(b"QQX");
    assert_eq!(ChainLabel::read(&bytes[*at..]).unwrap().underlying, "QQX");
    std::fs::write(&path, &bytes).unwrap();

    let (clock, _client, market) = replay(&path, secs(-1));
    move_to(&clock, secs(60 * 29));
    let (status, body) = raw(&market, "/v3/snapshot/options/QQQ?limit=250");
    assert_eq!((status, body["results"].as_array().unwrap().len()), (200, 40));
    move_to(&clock, secs(60 * 30 + 5));
    let err = market.get(&format!("{PROD}/v3/snapshot/options/QQX?limit=250"), &[]).unwrap_err().to_string();
    // 25 records a minute after the header line; QQQ's chain is the second.
    assert!(err.contains(&format!("{}:{}", path.display(), 1 + 30 * 25 + 2)), "{err}");
    assert!(err.contains("a chain of QQQ") && err.contains("label says QQX"), "{err}");
    assert!(market.error().is_some());
}

#[test]
fn a_chain_label_longer_than_the_tape_stops_the_replay_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tape(dir.path(), "t.gz", &busy_tape());
    let mut bytes = std::fs::read(&path).unwrap();
    let members = chain_members(&bytes);
    let (at, label) = &members[10];
    // The member's length is the first field of the label's data.
    let len_at = at + 16 + 1;
    assert_eq!(u32::from_le_bytes(bytes[len_at..len_at + 4].try_into().unwrap()), label.member_len);
    bytes[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let (clock, _client, market) = replay(&path, secs(-1));
    move_to(&clock, secs(60 * 119));
    let err = market.get(&format!("{PROD}/v3/snapshot/options/SPY?limit=250"), &[]).unwrap_err().to_string();
    assert!(err.contains("says it is 4294967295 bytes long"), "{err}");
    // The 11th chain is SPY's of minute 5: 25 records a minute after the header line.
    assert_eq!((label.underlying.as_str(), label.at), ("SPY", secs(60 * 5)));
    assert!(err.contains(&format!("{}:{}", path.display(), 1 + 5 * 25 + 1)), "{err}");
}

#[test]
fn a_chain_label_cut_by_the_readers_buffer_is_still_read() {
    use std::io::Write;
    // The header line, blank lines as filler (stored, so their size is
    // exact), then a labelled chain member that starts 20 bytes before the
    // reader's 64 KiB buffer ends: the label is cut where the buffer ends.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.gz");
    let member = |text: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        gz.write_all(text).unwrap();
        gz.finish().unwrap()
    };
    let header = Header::new(BTreeMap::from([("source".to_string(), json!("test"))]));
    let mut bytes = member(format!("{}\n", serde_json::to_string(&header).unwrap()).as_bytes());
    let target = (1 << 16) - 20;
    let mut filler = 60_000;
    while bytes.len() + member(&vec![b'\n'; filler]).len() != target {
        filler += 1;
    }
    bytes.extend(member(&vec![b'\n'; filler]));
    assert_eq!(bytes.len(), target);
    // The line is QQQ's chain; its label says QQX: only a reader that read
    // the label (and stepped over the member) indexes it as QQX.
    let rec = chain(secs(0), "QQQ", vec![option("O:QQQ251121C00500000", "call", 500.0, "2025-11-21", 5.0)]);
    let line = format!("{}\n", serde_json::to_string(&rec).unwrap());
    bytes.extend(ChainLabel::member(secs(0), "QQX", line.as_bytes()).unwrap().unwrap());
    std::fs::write(&path, &bytes).unwrap();

    let (clock, _client, market) = replay(&path, secs(-1));
    move_to(&clock, secs(5));
    let err = market.get(&format!("{PROD}/v3/snapshot/options/QQX?limit=250"), &[]).unwrap_err().to_string();
    assert!(err.contains("label says QQX"), "{err}");
    assert!(err.contains(&format!("{}:{}", path.display(), 2 + filler)), "{err}");
}

/// A tape whose header states its span (as `simulate` writes it), with one
/// record that jumped forward past that span: the replay runs over the
/// stated span, so the record would never be reached and the records after
/// it never applied. It must stop with exit 78 naming the line, as a
/// recorded tape does; and the tape error is not retried as an API error.
#[test]
fn a_record_that_jumps_past_the_stated_span_stops_the_replay_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schedule.cron"), "3,18,33,48 * 9-15 * * Mon-Fri sweeps session=regular\n").unwrap();
    // Monday 2026-03-09, 9:30 to 9:40 ET.
    let at = |m: i64| Utc.with_ymd_and_hms(2026, 3, 9, 13, 30, 0).unwrap() + chrono::Duration::minutes(m);
    let mut header = Header::new(BTreeMap::from([("source".to_string(), json!("test"))]));
    header.set_contents(&orakl::tape::Contents {
        symbols: ["SPY".to_string()].into(),
        first_at: at(0),
        last_at: at(10),
    });
    let path = dir.path().join("day.tape");
    let mut w = TapeWriter::create(&path, &header).unwrap();
    for r in [
        chain(at(0), "SPY", vec![]),
        chain(at(1), "SPY", vec![]),
        chain(at(2), "SPY", vec![]),
        chain(at(5), "SPY", vec![]),
        chain(at(10), "SPY", vec![]),
    ] {
        w.write(&r).unwrap();
    }
    w.finish().unwrap();
    // The writer refuses records out of order: the jump is made by hand.
    let text = std::fs::read_to_string(&path).unwrap();
    let jumped = text.replacen("2026-03-09T13:32:00Z", "2026-03-09T23:30:00Z", 1);
    assert_ne!(text, jumped, "{text}");
    std::fs::write(&path, jumped).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orakl"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["replay", "day.tape"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("day.tape:4: record at 2026-03-09T23:30:00+00:00 is outside the span"), "{err}");
    for noise in ["polygon_retry", "circuit_open"] {
        assert!(!err.contains(noise), "a tape error went through the API retry machinery: {err}");
    }
}
