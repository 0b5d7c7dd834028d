//! Record a live run (real HTTP against the loopback fake Polygon), replay
//! the tape, and get the same alerts, byte for byte.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use orakl::clock::{Clock, SimClock};
use orakl::config::Config;
use orakl::http::Http;
use orakl::notify::Notifier;
use orakl::polygon::{Client, Transport};
use orakl::record::Recorder;
use orakl::replay::TapeMarket;
use orakl::schedule::Timetable;
use orakl::service::{Delivery, OutputFormat, Service, polygon_config};
use orakl::store::Store;
use orakl::tape::Header;

use crate::support::fake_polygon::{Contract, FakePolygon, iso_print};

const TIMETABLE: &str = "0,15,30,45 * 9-15 * * Mon-Fri orakl_flow session=regular\n\
                         3,18,33,48 * 9-15 * * Mon-Fri sweeps session=regular\n\
                         6,21,36,51 * 9-15 * * Mon-Fri golden_sweeps session=regular\n";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, 13, 29, 50).unwrap()
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn config(base: &str) -> Config {
    let vars: BTreeMap<String, String> =
        [("POLYGON_API_KEY", "CANARY-KEY-RT"), ("POLYGON_BASE_URL", base), ("WATCHLIST", "SPY")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    Config::from_vars(&vars).unwrap()
}

/// Runs the service for `span` from t0 on `transport`; returns the JSONL alerts.
fn run(
    cfg: Config,
    db: &std::path::Path,
    clock: Arc<SimClock>,
    transport: Box<dyn Transport>,
    span: Duration,
) -> String {
    let out = Buf::default();
    let client = Client::with_transport(polygon_config(&cfg, "CANARY-KEY-RT"), clock.clone(), transport).unwrap();
    let delivery = Delivery::print(OutputFormat::Jsonl, Box::new(out.clone()));
    clock.shutdown_after(span);
    let mut svc = Service::with_client(
        cfg,
        clock.clone(),
        Store::open(db).unwrap(),
        delivery,
        Notifier::disabled(),
        Some(client),
    )
    .unwrap();
    svc.run(&Timetable::parse("schedule.cron", TIMETABLE).unwrap());
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn a_recorded_live_run_replays_to_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("day.tape.gz");
    let clock = Arc::new(SimClock::new(t0()));
    // A contract that trades $2M at the ask on its second fetch and keeps
    // trading $60k a fetch after that, with ISO prints on two exchanges
    // inside each window (a sweep).
    let mut call = Contract::new("O:SPY260320C00600000", true, 600.0, "2026-03-20", 610.0, &[]);
    call.volumes = (0..20).map(|i| if i == 0 { 1000.0 } else { 3000.0 + 60.0 * i as f64 }).collect();
    let at = |s: i64| (t0() + chrono::Duration::seconds(s)).timestamp_nanos_opt().unwrap();
    let prints = (0..12)
        .flat_map(|k| {
            [iso_print(302 + (k % 3), 500.0, at(20 + 30 * k)), iso_print(303 + (k % 3), 500.0, at(25 + 30 * k))]
        })
        .collect();
    let c2 = clock.clone();
    let market = FakePolygon::start(
        BTreeMap::from([("SPY".to_string(), vec![call])]),
        BTreeMap::from([("O:SPY260320C00600000".to_string(), prints)]),
        250,
        move || c2.now().timestamp_nanos_opt().unwrap_or(0),
    );
    let span = Duration::from_secs(300);

    let http = Http::new(Duration::from_secs(5), Notifier::disabled());
    let (recorder, handle) = Recorder::create(http, &tape, &Header::new(BTreeMap::new()), clock.clone()).unwrap();
    let live = run(config(&market.url()), &dir.path().join("live.db"), clock, Box::new(recorder), span);
    handle.finish().unwrap();
    assert!(!live.is_empty(), "the live run alerts");

    let clock = Arc::new(SimClock::new(t0()));
    let tape_market = TapeMarket::open(&tape, clock.clone()).unwrap();
    let replayed = run(
        config("https://api.polygon.io"),
        &dir.path().join("replay.db"),
        clock,
        Box::new(tape_market.clone()),
        span,
    );
    assert!(tape_market.error().is_none());
    assert_eq!(replayed, live, "replay must reproduce the live alerts");
    let bots: Vec<String> = live
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["bot"].as_str().unwrap().to_string())
        .collect();
    assert!(bots.contains(&"golden_sweeps".to_string()) && bots.contains(&"sweeps".to_string()), "{bots:?}");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&tape).unwrap()),
        &mut text,
    )
    .unwrap();
    assert!(!text.contains("CANARY-KEY-RT"), "the key is never recorded");
}
