//! `orakl simulate`: determinism, a tape that reads back in Polygon's shapes,
//! internally coherent chains, a truth file covering every family, and
//! injected events that flow detection really sees.
//!
//! Days here are small (two symbols, a thin chain, a short window) so the
//! whole file runs in a few seconds of debug build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use orakl::cache::VolumeCache;
use orakl::flow::{self, FlowEvent};
use orakl::job::Bot;
use orakl::polygon::{Bar, OptionSnapshot};
use orakl::scan::observation;
use orakl::simulate::{SimError, SimOptions, SimSummary, simulate};
use orakl::tape::{Payload, Record, TapeReader};
use serde_json::Value;
use tempfile::TempDir;

/// Two symbols for thirty minutes after the open, a thin chain every 60 s.
fn small(seed: u64) -> SimOptions {
    SimOptions {
        seed,
        symbols: vec!["SPY".to_string(), "CSCO".to_string()],
        minutes: 30,
        chain_interval_seconds: 60,
        chain_scale: 0.3,
        ..SimOptions::default()
    }
}

/// Two symbols over 12:30–14:10 ET, long enough for every family: the
/// stories' hourly bars close at 13:00 and 14:00 and Bullseye needs 30
/// minutes of its own observations.
fn families(seed: u64) -> SimOptions {
    SimOptions {
        seed,
        symbols: vec!["SPY".to_string(), "CSCO".to_string()],
        start: NaiveTime::from_hms_opt(12, 30, 0).unwrap(),
        minutes: 100,
        chain_interval_seconds: 60,
        chain_scale: 0.5,
        ..SimOptions::default()
    }
}

/// Simulates into `dir`: a plain tape (the gzip path is exercised once, in
/// the read-back test) and a truth file.
fn run(dir: &TempDir, name: &str, opts: &SimOptions) -> (PathBuf, PathBuf, SimSummary) {
    let tape = dir.path().join(format!("{name}.jsonl"));
    let truth = dir.path().join(format!("{name}.truth.jsonl"));
    let summary = simulate(opts, &tape, Some(&truth)).unwrap();
    (tape, truth, summary)
}

/// The families day, simulated once for the tests that read it: its
/// records, its truth lines and its summary.
fn families_day() -> &'static (Vec<Record>, Vec<Value>, SimSummary) {
    static DAY: OnceLock<(Vec<Record>, Vec<Value>, SimSummary)> = OnceLock::new();
    DAY.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let (tape, truth, summary) = run(&dir, "families", &families(11));
        (read(&tape).1, truth_lines(&truth), summary)
    })
}

fn read(tape: &Path) -> (BTreeMap<String, Value>, Vec<Record>) {
    let reader = TapeReader::open(tape).unwrap();
    let meta = reader.header().meta.clone();
    let records = reader.collect::<Result<Vec<_>, _>>().unwrap();
    (meta, records)
}

fn truth_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn same_seed_same_bytes_and_another_seed_differs() {
    let dir = TempDir::new().unwrap();
    let (a, ta, sa) = run(&dir, "a", &small(7));
    let (b, tb, sb) = run(&dir, "b", &small(7));
    let (c, _, _) = run(&dir, "c", &small(8));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "same seed, same tape bytes");
    assert_eq!(std::fs::read(&ta).unwrap(), std::fs::read(&tb).unwrap(), "same seed, same truth bytes");
    assert_eq!(sa, sb);
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap(), "another seed, another day");
    assert_eq!(sa.bytes, std::fs::metadata(&a).unwrap().len());
    assert_eq!(sa.contracts_per_symbol.keys().collect::<Vec<_>>(), ["CSCO", "SPY"]);
    assert!(sa.contracts_per_symbol.values().all(|n| (100..=400).contains(n)), "{:?}", sa.contracts_per_symbol);
}

#[test]
fn the_tape_reads_back_with_coherent_chains_bars_and_prints() {
    let dir = TempDir::new().unwrap();
    let tape = dir.path().join("t.jsonl.gz");
    let opts = SimOptions { chain_interval_seconds: 30, ..small(3) };
    let summary = simulate(&opts, &tape, None).unwrap();
    let (meta, records) = read(&tape);
    assert_eq!(meta["source"], "simulate");
    assert_eq!(meta["seed"], 3);
    assert_eq!(meta["date"], "2026-03-09");
    assert_eq!(meta["symbols"], serde_json::json!(["SPY", "CSCO"]));
    assert_eq!(records.len() as u64, summary.records);
    let open: DateTime<Utc> = "2026-03-09T13:30:00Z".parse().unwrap();
    let end: DateTime<Utc> = "2026-03-09T14:00:00Z".parse().unwrap();
    assert!(records.iter().all(|r| r.at >= open && r.at <= end));

    let mut last_volume: BTreeMap<String, f64> = BTreeMap::new();
    let (mut chains, mut minute_bars, mut daily, mut dark, mut snapshots) = (0, 0, 0, 0, 0);
    for r in &records {
        match &r.payload {
            Payload::OptionChain { underlying, results } => {
                chains += 1;
                assert!(!results.is_empty());
                for s in results {
                    check_contract(underlying, s, &mut last_volume);
                }
            }
            Payload::Aggs { ticker, timespan, multiplier, results } if timespan == "minute" => {
                assert_eq!(*multiplier, 1);
                for b in results {
                    minute_bars += usize::from(!ticker.starts_with("O:"));
                    assert!(b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close), "{b:?}");
                    // A minute bar is recorded once it has closed.
                    assert!(b.start_ms + 60_000 <= r.at.timestamp_millis());
                }
            }
            Payload::Aggs { timespan, results, .. } => {
                assert_eq!(timespan, "day");
                assert_eq!(results.len(), 30, "30 sessions of history");
                assert!(results.windows(2).all(|w| w[0].start_ms < w[1].start_ms));
                assert!(results.iter().all(|b| b.start_ms < open.timestamp_millis()));
                daily += 1;
            }
            Payload::Trades { ticker, results } if !ticker.starts_with("O:") => {
                assert!(results.windows(2).all(|w| w[0].sip_timestamp <= w[1].sip_timestamp));
                dark += results.iter().filter(|t| t.exchange == Some(4) && t.trf_id.is_some()).count();
            }
            Payload::StockSnapshot { results, .. } => {
                snapshots += 1;
                assert!(results.last_price().is_some_and(|p| p > 0.0));
            }
            _ => {}
        }
    }
    // 30 minutes of two symbols: chains every 30 s, a stock bar and a
    // snapshot a minute.
    assert_eq!(chains, 2 * 61);
    assert_eq!(minute_bars, 2 * 30);
    assert_eq!(daily, 2);
    assert_eq!(snapshots, 2 * 31);
    assert!(dark > 20, "off-exchange prints in the sample: {dark}");
}

/// One contract of a chain snapshot: quotes, greeks and the day's trading
/// hang together, and day volume never goes down.
fn check_contract(underlying: &str, s: &OptionSnapshot, last_volume: &mut BTreeMap<String, f64>) {
    let ticker = s.ticker().unwrap().to_string();
    assert!(ticker.starts_with(&format!("O:{underlying}")), "{ticker}");
    let call = s.details.as_ref().unwrap().contract_type.as_deref() == Some("call");
    // The type letter sits after the six-digit date, whatever the root holds.
    let letter = ticker.chars().nth(2 + underlying.len() + 6).unwrap();
    assert_eq!(letter, if call { 'C' } else { 'P' }, "{ticker}");
    let q = s.last_quote.as_ref().unwrap();
    let (bid, ask) = (q.bid.unwrap(), q.ask.unwrap());
    assert!(0.0 <= bid && bid <= ask, "{ticker}: {bid} {ask}");
    assert!(s.implied_volatility.unwrap() > 0.0);
    let delta = s.greeks.as_ref().unwrap().delta.unwrap();
    assert!(delta.abs() <= 1.0);
    assert!(if call { delta > 0.0 } else { delta < 0.0 }, "{ticker}: delta {delta}");
    assert!(s.open_interest.unwrap() >= 0.0);
    assert!(s.scan_view().spot().unwrap() > 0.0);
    let volume = s.scan_view().day_volume();
    let before = last_volume.insert(ticker.clone(), volume).unwrap_or(0.0);
    assert!(volume >= before, "{ticker}: volume went from {before} to {volume}");
    if let Some(day) = &s.day {
        let (lo, hi, vwap) = (day.low.unwrap(), day.high.unwrap(), day.vwap.unwrap());
        assert!(lo <= vwap && vwap <= hi, "{ticker}: vwap {vwap} outside {lo}..{hi}");
        let t = s.last_trade.as_ref().unwrap();
        assert!(t.sip_timestamp.is_some() && t.price.is_some_and(|p| lo <= p && p <= hi));
    }
}

#[test]
fn truth_lists_a_hit_and_a_near_miss_of_every_family() {
    let (_, lines, summary) = families_day();
    assert_eq!(lines.len(), summary.events_injected);
    let bots = |l: &Value, key: &str| -> Vec<String> {
        l[key].as_array().map(|a| a.iter().map(|b| b.as_str().unwrap().to_string()).collect()).unwrap_or_default()
    };
    for bot in Bot::ALL {
        let name = bot.as_str();
        let hit = lines.iter().any(|l| l["near_miss"] == false && bots(l, "expected_bots").iter().any(|b| b == name));
        let miss = lines.iter().any(|l| {
            l["near_miss"] == true
                && bots(l, "near_miss_bots").iter().any(|b| b == name)
                && !bots(l, "expected_bots").iter().any(|b| b == name)
        });
        assert!(hit, "no clear hit for {name}: {lines:#?}");
        assert!(miss, "no near-miss for {name}: {lines:#?}");
    }
    // Ids in time order, times inside the window, options events name their contract.
    for (k, l) in lines.iter().enumerate() {
        assert_eq!(l["id"], format!("e{:02}", k + 1));
        let at: DateTime<Utc> = l["at"].as_str().unwrap().parse().unwrap();
        assert!(at >= "2026-03-09T16:30:00Z".parse::<DateTime<Utc>>().unwrap());
        assert!(at <= "2026-03-09T18:10:00Z".parse::<DateTime<Utc>>().unwrap());
        assert!(!l["why"].as_str().unwrap().is_empty());
        let options = ["golden_sweep", "sweep", "orakl_flow_repeat", "bullseye", "scalp"];
        assert_eq!(l["contract"].is_string(), options.contains(&l["kind"].as_str().unwrap()), "{l}");
    }
}

/// Massive's flags of a print, worked out from its definition.
fn massive_flags(price: f64, size: f64, conditions: &[i32]) -> Vec<&'static str> {
    let mut f = Vec::new();
    if price * size * 100.0 >= 100_000.0 {
        f.push("premium");
    }
    if size >= 1_000.0 {
        f.push("size");
    }
    if conditions.contains(&219) {
        f.push("sweep");
    }
    f
}

#[test]
fn the_unusual_trades_are_the_recorded_option_prints_that_qualify_with_their_quotes() {
    let (records, lines, summary) = families_day();
    // Option prints by record time and contract, as the trades records hold them.
    let mut trades: BTreeMap<(DateTime<Utc>, String), Vec<orakl::polygon::Trade>> = BTreeMap::new();
    let mut quotes: BTreeMap<(DateTime<Utc>, String), Vec<orakl::polygon::Quote>> = BTreeMap::new();
    let mut stream: Vec<(DateTime<Utc>, orakl::polygon::UnusualTrade)> = Vec::new();
    let mut unusual_records = 0;
    let mut first_at: Option<DateTime<Utc>> = None;
    for r in records {
        match &r.payload {
            Payload::Trades { ticker, results } if ticker.starts_with("O:") => {
                trades.entry((r.at, ticker.clone())).or_default().extend(results.iter().cloned());
            }
            Payload::Quotes { ticker, results } => {
                assert!(quotes.insert((r.at, ticker.clone()), results.clone()).is_none(), "one record per contract");
            }
            // The stream opens with an empty record at the first moment (the
            // plan has the endpoint); after it, no record without a print.
            Payload::UnusualTrades { results } if results.is_empty() => {
                assert_eq!(unusual_records, 0, "only the first record is empty");
                assert_eq!(r.at, first_at.get_or_insert(r.at).to_owned());
            }
            Payload::UnusualTrades { results } => {
                unusual_records += 1;
                assert!(results.windows(2).all(|w| w[0].sip_timestamp <= w[1].sip_timestamp), "ascending");
                stream.extend(results.iter().map(|p| (r.at, p.clone())));
            }
            _ => {}
        }
    }
    // Every qualifying recorded print is in the stream, once, and nothing else.
    let qualifying: usize = trades
        .values()
        .flatten()
        .filter(|t| !massive_flags(t.price, t.size, t.conditions.as_deref().unwrap_or(&[])).is_empty())
        .count();
    assert_eq!(stream.len(), qualifying);
    let flagged = |name: &str| stream.iter().filter(|(_, p)| p.flags.iter().any(|f| f == name)).count();
    assert!(flagged("premium") > 0 && flagged("size") > 0 && flagged("sweep") > 0, "every case occurs");
    let mut last_sequence = 0;
    for (at, p) in &stream {
        assert_eq!(p.flags, massive_flags(p.price, p.size, &p.conditions), "{p:?}");
        let same = trades.get(&(*at, p.ticker.clone())).into_iter().flatten().any(|t| {
            (t.sip_timestamp, t.price, t.size, t.exchange) == (p.sip_timestamp, p.price, p.size, p.exchange)
                && t.conditions.as_deref() == Some(&p.conditions[..])
        });
        assert!(same, "the trades endpoint lists it too: {p:?}");
        assert!(p.sip_timestamp < at.timestamp_nanos_opt().unwrap(), "printed before the record that lists it");
        let symbol = p.underlying_ticker.as_deref().unwrap();
        assert!(["SPY", "CSCO"].contains(&symbol) && p.ticker.starts_with(&format!("O:{symbol}")), "{p:?}");
        assert_eq!(p.occ_root.as_deref(), Some(symbol));
        let sequence = p.sequence_number.unwrap();
        assert!(sequence > last_sequence, "numbered through the day");
        last_sequence = sequence;
        // The quote it traded against: at or just before it, and the print
        // within it (at the ask for a buyer, the bid for a seller).
        let q = quotes
            .get(&(*at, p.ticker.clone()))
            .and_then(|qs| qs.iter().find(|q| q.sequence_number == Some(sequence)))
            .unwrap_or_else(|| panic!("no quote for {p:?}"));
        assert!(q.sip_timestamp <= p.sip_timestamp && p.sip_timestamp - q.sip_timestamp <= 1_000_000, "{q:?}");
        let (bid, ask) = (q.bid_price.unwrap(), q.ask_price.unwrap());
        assert!(bid <= p.price && p.price <= ask && bid < ask, "{p:?} in {q:?}");
    }
    assert_eq!(quotes.values().map(Vec::len).sum::<usize>(), stream.len());
    let u = &summary.realism.unusual;
    assert_eq!((u.prints as usize, u.records, u.quote_records as usize), (stream.len(), unusual_records, quotes.len()));
    assert_eq!(u.by_symbol.iter().sum::<u64>(), u.prints);

    // Option events' truth: the earliest injected print of the event (of
    // all its members for a repeat cluster), in nanoseconds.
    for l in lines.iter().filter(|l| l["contract"].is_string()) {
        let text = l["prints_at"].as_str().unwrap_or_else(|| panic!("no prints_at: {l}"));
        assert_eq!(text.len(), "2026-03-09T16:30:00.123456789Z".len(), "nanoseconds written: {text}");
        let prints_at: DateTime<Utc> = text.parse().unwrap();
        let at: DateTime<Utc> = l["at"].as_str().unwrap().parse().unwrap();
        let contract = l["contract"].as_str().unwrap();
        // Injected prints carry a sequence number; the background's do not.
        let earliest = trades
            .iter()
            .filter(|((when, c), _)| c == contract && *when == at)
            .flat_map(|(_, ts)| ts.iter().filter(|t| t.sequence_number.is_some()))
            .map(|t| t.sip_timestamp)
            .min()
            .unwrap();
        assert_eq!(prints_at.timestamp_nanos_opt(), Some(earliest), "{l}");
        assert!(prints_at < at);
    }
    assert!(lines.iter().filter(|l| !l["contract"].is_string()).all(|l| l.get("prints_at").is_none()));
}

#[test]
fn a_replay_of_the_day_serves_its_unusual_trades_and_the_quote_at_each_print() {
    use orakl::clock::{Clock, SimClock};
    use orakl::polygon::{Client, PolygonConfig, UnusualQuery};
    let dir = TempDir::new().unwrap();
    let (tape, _, summary) = run(&dir, "lane", &small(5));
    let (_, records) = read(&tape);
    let on_tape: Vec<orakl::polygon::UnusualTrade> = records
        .iter()
        .filter_map(|r| match &r.payload {
            Payload::UnusualTrades { results } => Some(results.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(on_tape.len() > 20, "{} prints in 30 minutes", on_tape.len());
    assert_eq!(on_tape.len() as u64, summary.realism.unusual.prints);
    let clock = Arc::new(SimClock::new("2026-03-09T14:00:00Z".parse().unwrap()));
    let market = orakl::replay::TapeMarket::open(&tape, clock.clone()).unwrap();
    let client = Client::with_transport(PolygonConfig::new("KEY"), clock.clone(), Box::new(market.clone())).unwrap();
    assert_eq!(client.unusual_trades(&UnusualQuery::default()).unwrap(), on_tape);
    // The lane's question for each print: the NBBO it traded against.
    for p in on_tape.iter().step_by(7) {
        let q = client.quote_at(&p.ticker, p.sip_timestamp).unwrap().unwrap();
        assert!(q.bid_price.unwrap() <= p.price && p.price <= q.ask_price.unwrap(), "{p:?} {q:?}");
        assert!(q.sip_timestamp <= p.sip_timestamp);
    }
    assert!(market.error().is_none() && clock.now() > "2026-03-09T14:00:00Z".parse::<DateTime<Utc>>().unwrap());
}

/// Flow events of one underlying's consecutive chain snapshots, keyed by
/// snapshot time, as the options scan computes them.
fn flow_events(records: &[Record], symbol: &str) -> BTreeMap<DateTime<Utc>, Vec<FlowEvent>> {
    let mut cache = VolumeCache::new(900);
    let mut out = BTreeMap::new();
    for r in records {
        if let Payload::OptionChain { underlying, results } = &r.payload
            && underlying == symbol
        {
            let obs: Vec<_> = results.iter().filter_map(|s| observation(s.into(), underlying)).collect();
            let day = r.at.with_timezone(&orakl::calendar::MARKET_TZ).date_naive();
            out.insert(r.at, flow::detect(&mut cache, &obs, r.at, day));
        }
    }
    out
}

#[test]
fn flow_detection_sees_the_golden_sweep_and_not_the_near_miss() {
    let (records, lines, _) = families_day();
    let golden: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "golden_sweep").collect();
    assert_eq!(golden.len(), 2, "{golden:#?}");
    for line in &golden {
        let symbol = line["symbol"].as_str().unwrap();
        let contract = line["contract"].as_str().unwrap();
        let at: DateTime<Utc> = line["at"].as_str().unwrap().parse().unwrap();
        let events = flow_events(records, symbol);
        let at_time = &events[&at];
        let ev = at_time.iter().find(|e| e.contract == contract).unwrap_or_else(|| panic!("no flow on {contract}"));
        assert_eq!(ev.side, orakl::alert::Side::Ask, "bought at the ask on a fresh quote");
        if line["near_miss"] == true {
            assert!((850_000.0..1_000_000.0).contains(&ev.premium), "near-miss premium {}", ev.premium);
            assert!(!line["expected_bots"].as_array().unwrap().contains(&Value::from("golden_sweeps")));
        } else {
            assert!(ev.premium >= 1_000_000.0, "golden premium {}", ev.premium);
            assert!(ev.strike_distance.unwrap() <= 0.05 && (1..=180).contains(&ev.dte));
            assert!(line["expected_bots"].as_array().unwrap().contains(&Value::from("golden_sweeps")));
        }
        // The event sits inside ordinary background trading: the contract
        // trades before it too.
        let before = events.range(..at).flat_map(|(_, e)| e);
        assert!(before.filter(|e| e.contract == contract).count() >= 1, "{contract}: no background before {at}");
        // The sweep's own prints are on the tape for the confirmation request.
        let iso: Vec<_> = records
            .iter()
            .filter_map(|r| match &r.payload {
                Payload::Trades { ticker, results } if ticker == contract && r.at == at => Some(results),
                _ => None,
            })
            .flatten()
            .filter(|t| t.conditions.as_ref().is_some_and(|c| c.contains(&219)))
            .collect();
        let exchanges: std::collections::BTreeSet<_> = iso.iter().map(|t| t.exchange).collect();
        assert!(iso.len() >= 2 && exchanges.len() >= 2, "{iso:?}");
    }
}

#[test]
fn bad_options_are_errors_that_say_what_is_wrong() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("x.jsonl");
    let date = |s: &str| s.parse::<NaiveDate>().unwrap();
    let cases: Vec<(SimOptions, &str)> = vec![
        (SimOptions { date: date("2026-03-07"), ..small(1) }, "2026-03-07 is not a trading day (the NYSE is closed)"),
        (SimOptions { date: date("2026-04-03"), ..small(1) }, "2026-04-03 is not a trading day (the NYSE is closed)"),
        (
            SimOptions { start: NaiveTime::from_hms_opt(8, 0, 0).unwrap(), ..small(1) },
            "start 08:00:00 ET is outside the regular session of 2026-03-09 (09:30 to 16:00 ET)",
        ),
        (
            SimOptions { date: date("2026-11-27"), start: NaiveTime::from_hms_opt(13, 0, 0).unwrap(), ..small(1) },
            "start 13:00:00 ET is outside the regular session of 2026-11-27 (09:30 to 13:00 ET)",
        ),
        (SimOptions { symbols: vec![], ..small(1) }, "no symbols to simulate"),
        (
            SimOptions { symbols: vec!["TOOLONGX".to_string()], ..small(1) },
            "symbol `TOOLONGX`: expected 1 to 6 letters, digits or dots",
        ),
        (SimOptions { minutes: 0, ..small(1) }, "minutes must be at least 1"),
        (SimOptions { chain_interval_seconds: 0, ..small(1) }, "chain_interval_seconds=0 outside 1..=3600"),
        (SimOptions { chain_scale: f64::NAN, ..small(1) }, "chain_scale=NaN outside 0.05..=10"),
    ];
    for (opts, want) in cases {
        let err = simulate(&opts, &out, None).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
    let unwritable = dir.path().join("missing-dir").join("t.jsonl");
    assert!(matches!(simulate(&small(1), &unwritable, None), Err(SimError::Tape(_))));
}

#[test]
fn an_early_close_ends_at_one_and_unknown_symbols_get_a_stable_profile() {
    let dir = TempDir::new().unwrap();
    let opts = SimOptions {
        date: "2026-11-27".parse().unwrap(),
        start: NaiveTime::from_hms_opt(12, 45, 0).unwrap(),
        minutes: 390,
        symbols: vec!["ZZZQ".to_string()],
        chain_scale: 0.2,
        ..SimOptions::default()
    };
    let (tape, _, _) = run(&dir, "e", &opts);
    let (meta, records) = read(&tape);
    assert_eq!(meta["minutes"], 15, "cut at the 13:00 bell");
    let last = records.last().unwrap().at;
    assert_eq!(last, "2026-11-27T18:00:00Z".parse::<DateTime<Utc>>().unwrap());
    let first_spot = records.iter().find_map(|r| match &r.payload {
        Payload::OptionChain { results, .. } => results[0].scan_view().spot(),
        _ => None,
    });
    let (tape2, _, _) = run(&dir, "e2", &SimOptions { seed: 99, ..opts });
    let (_, again) = read(&tape2);
    let spot2 = again.iter().find_map(|r| match &r.payload {
        Payload::OptionChain { results, .. } => results[0].scan_view().spot(),
        _ => None,
    });
    let (a, b) = (first_spot.unwrap(), spot2.unwrap());
    assert!((a / b - 1.0).abs() < 0.2, "the name's price level comes from its name, not the seed: {a} {b}");
}

/// The option minute bars of a tape by contract, each with the time it was
/// recorded, in tape order.
fn option_bars(records: &[Record]) -> BTreeMap<String, Vec<(DateTime<Utc>, Bar)>> {
    let mut out: BTreeMap<String, Vec<(DateTime<Utc>, Bar)>> = BTreeMap::new();
    for r in records {
        if let Payload::Aggs { ticker, multiplier, timespan, results } = &r.payload
            && ticker.starts_with("O:")
        {
            assert_eq!((*multiplier, timespan.as_str()), (1, "minute"));
            out.entry(ticker.clone()).or_default().extend(results.iter().map(|b| (r.at, b.clone())));
        }
    }
    out
}

/// Volume of `bars` starting in [from, to) (ms).
fn volume_in(bars: Option<&Vec<(DateTime<Utc>, Bar)>>, from: i64, to: i64) -> f64 {
    bars.map_or(0.0, |b| b.iter().filter(|(_, b)| (from..to).contains(&b.start_ms)).map(|(_, b)| b.volume).sum())
}

#[test]
fn option_minute_bars_are_well_formed_and_add_up_to_the_snapshots() {
    let (records, _, _) = families_day();
    let bars = option_bars(records);
    assert!(bars.len() > 100, "bars for many contracts: {}", bars.len());
    for (ticker, list) in &bars {
        let mut starts = std::collections::BTreeSet::new();
        for (at, b) in list {
            assert!(at.timestamp_millis() >= b.start_ms + 60_000, "{ticker}: bar {} recorded at {at}", b.start_ms);
            assert_eq!(b.start_ms % 60_000, 0, "{ticker}");
            assert!(b.high >= b.open.max(b.close) && b.low <= b.open.min(b.close) && b.low > 0.0, "{ticker}: {b:?}");
            let vw = b.vwap.unwrap();
            assert!(b.low <= vw && vw <= b.high, "{ticker}: {b:?}");
            assert!(b.volume >= 1.0 && b.transactions.unwrap() >= 1.0, "{ticker}: {b:?}");
            assert!(starts.insert(b.start_ms), "{ticker}: two bars start at {}", b.start_ms);
        }
    }
    // Between two snapshots (a minute apart here), each contract's day
    // volume grows by the volume of its bars in that minute; the last trade
    // is the close of its minute's bar; the bars' VWAP is the day's.
    let mut previous: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
    let (mut windows, mut traded) = (0, 0);
    for r in records {
        let Payload::OptionChain { results, .. } = &r.payload else { continue };
        let now = r.at.timestamp_millis();
        for s in results {
            let ticker = s.ticker().unwrap();
            let list = bars.get(ticker);
            let volume = s.scan_view().day_volume();
            if let Some((then, before)) = previous.insert(ticker, (now, volume)) {
                let grown = volume - before;
                assert_eq!(grown, volume_in(list, then, now), "{ticker}: day volume growth {then}..{now}");
                windows += 1;
                traded += usize::from(grown > 0.0);
            }
            assert_eq!(volume, volume_in(list, i64::MIN, now), "{ticker}: day volume at {now} is all its bars so far");
            if let Some(t) = &s.last_trade {
                let sip_ms = t.sip_timestamp.unwrap().div_euclid(1_000_000);
                assert!(sip_ms < now, "{ticker}: a print after the snapshot");
                let minute = sip_ms - sip_ms.rem_euclid(60_000);
                let bar = &list.unwrap().iter().find(|(_, b)| b.start_ms == minute).unwrap().1;
                assert_eq!(t.price, Some(bar.close), "{ticker}: last trade vs its minute's close");
                let day = s.day.as_ref().unwrap();
                let upto: Vec<&Bar> =
                    list.unwrap().iter().map(|(_, b)| b).filter(|b| b.start_ms + 60_000 <= now).collect();
                let notional: f64 = upto.iter().map(|b| b.volume * b.vwap.unwrap()).sum();
                let vwap = day.vwap.unwrap();
                assert!(
                    (notional / volume - vwap).abs() <= 2e-4,
                    "{ticker}: bars' VWAP {} vs day {vwap}",
                    notional / volume
                );
                let high = upto.iter().map(|b| b.high).fold(f64::MIN, f64::max);
                let low = upto.iter().map(|b| b.low).fold(f64::MAX, f64::min);
                assert_eq!((day.high, day.low, day.open), (Some(high), Some(low), Some(upto[0].open)), "{ticker}");
            }
        }
    }
    assert!(windows > 10_000 && traded > 1_000, "{windows} windows, {traded} with trading");
}

/// SPEC §8 on the bars after an event, written independently of the
/// simulator: (first, t2).
fn resolve(entry: f64, bars: &[&Bar]) -> (&'static str, bool) {
    let (t1, t2, stop) = (entry * 1.5 - 1e-9, entry * 2.0 - 1e-9, entry * 0.5 + 1e-9);
    let Some(k) = bars.iter().position(|b| b.low <= stop || b.high >= t1) else { return ("none", false) };
    if bars[k].low <= stop {
        return ("stop", false);
    }
    let until = bars[k..].iter().position(|b| b.low <= stop).map_or(bars.len(), |j| k + j);
    ("t1", bars[k..until].iter().any(|b| b.high >= t2))
}

#[test]
fn event_contracts_trade_every_minute_after_the_event_and_the_truth_says_how_they_went() {
    let (records, lines, _) = families_day();
    let bars = option_bars(records);
    let end_ms = "2026-03-09T18:10:00Z".parse::<DateTime<Utc>>().unwrap().timestamp_millis();
    let mut firsts = std::collections::BTreeSet::new();
    let mut options = 0;
    for line in lines.iter().filter(|l| l["contract"].is_string()) {
        options += 1;
        let contract = line["contract"].as_str().unwrap();
        let at: DateTime<Utc> = line["at"].as_str().unwrap().parse().unwrap();
        let at_ms = at.timestamp_millis();
        let list = &bars[contract];
        // A bar in every minute from the one with the event's prints (just
        // before `at`) to the last of the recording.
        let first_minute = (at_ms - 1).div_euclid(60_000) * 60_000;
        for minute in (first_minute..end_ms).step_by(60_000) {
            assert!(list.iter().any(|(_, b)| b.start_ms == minute), "{contract}: no bar at {minute} (event {at})");
        }
        // `after` agrees with the bars that start after the event's minute,
        // from the ask of the snapshot that revealed it.
        let after = &line["after"];
        let entry = after["entry"].as_f64().unwrap();
        let ask = records
            .iter()
            .find_map(|r| match &r.payload {
                Payload::OptionChain { results, .. } if r.at == at => {
                    results.iter().find(|s| s.ticker() == Some(contract)).map(|s| s.last_quote.as_ref()?.ask)
                }
                _ => None,
            })
            .flatten();
        assert_eq!(ask, Some(entry), "{contract}: entry is the ask at the event");
        let from = at_ms.div_euclid(60_000) * 60_000 + 60_000;
        let later: Vec<&Bar> = list.iter().map(|(_, b)| b).filter(|b| b.start_ms >= from).collect();
        assert_eq!(after["bars"].as_u64().unwrap() as usize, later.len(), "{contract}");
        let pct = |x: f64| ((x / entry - 1.0) * 10_000.0).round() / 100.0;
        let high = later.iter().map(|b| b.high).fold(f64::MIN, f64::max);
        let low = later.iter().map(|b| b.low).fold(f64::MAX, f64::min);
        assert_eq!(after["max_pct"].as_f64(), Some(pct(high)), "{contract}");
        assert_eq!(after["min_pct"].as_f64(), Some(pct(low)), "{contract}");
        let (first, t2) = resolve(entry, &later);
        assert_eq!((after["first"].as_str().unwrap(), after["t2"].as_bool().unwrap()), (first, t2), "{contract}");
        firsts.insert(first);
    }
    assert!(options >= 8, "{options} option events");
    assert!(firsts.contains("t1") && firsts.contains("stop"), "outcomes vary: {firsts:?}");
    // Stock events carry no `after`.
    assert!(lines.iter().filter(|l| !l["contract"].is_string()).all(|l| l.get("after").is_none()));
}

#[test]
fn a_day_trades_like_the_market_and_leaves_no_partial_tape() {
    let dir = TempDir::new().unwrap();
    let opts = SimOptions { seed: 5, minutes: 20, ..small(5) };
    let (_, _, summary) = run(&dir, "stats", &opts);
    // Written under a temporary name and renamed: nothing else is left.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["stats.jsonl", "stats.truth.jsonl"]);
    // A tape that cannot be written leaves nothing under its name.
    let missing = dir.path().join("no-such-dir").join("day.jsonl");
    assert!(simulate(&opts, &missing, None).is_err());
    assert!(!missing.exists());

    // Twenty minutes after the bell, scaled to a session by the intraday
    // profile: each figure within a factor of two of the README's sources.
    let r = &summary.realism;
    assert!(!r.whole_session);
    let (spy, csco) = (&r.symbols[0], &r.symbols[1]);
    assert_eq!((spy.symbol.as_str(), csco.symbol.as_str()), ("SPY", "CSCO"));
    assert!((4.25e6..17e6).contains(&spy.option_volume_session), "SPY {}", spy.option_volume_session);
    assert!((38_000.0..152_000.0).contains(&csco.option_volume_session), "CSCO {}", csco.option_volume_session);
    assert!((0.21..0.84).contains(&spy.zero_dte_share), "0DTE {}", spy.zero_dte_share);
    assert_eq!(csco.zero_dte_share, 0.0, "no CSCO expiry on a Monday");
    for f in &r.symbols {
        assert!((0.225..0.9).contains(&f.retail_share), "{}: retail {}", f.symbol, f.retail_share);
        assert!((0.26..1.0).contains(&f.off_exchange_share), "{}: TRF {}", f.symbol, f.off_exchange_share);
        assert!(f.open_interest > f.option_volume_session, "{}: open interest {}", f.symbol, f.open_interest);
    }
    assert!(spy.premium_prints_session[0] > spy.premium_prints_session[2], "{:?}", spy.premium_prints_session);
    assert!(r.table().lines().any(|l| l.trim_start().starts_with("SPY")), "{}", r.table());
}
