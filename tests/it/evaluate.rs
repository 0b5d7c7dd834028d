//! `orakl evaluate` end to end: a hand-built tape on which one bot fires,
//! a truth file that expects it (and something that does not happen), the
//! real binary, and the scorecard worked out by hand.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use orakl::polygon::OptionSnapshot;
use orakl::tape::{Header, Payload, Record, TapeWriter};

const CALL: &str = "O:SPY260320C00600000";
const PUT: &str = "O:SPY260320P00590000";

/// 10:00 ET on Monday 2026-03-09 (EDT).
fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, 14, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

/// A liquid $10 contract, 11 days from expiry, quoted 9.90 × 10.00, its
/// last trade at the ask at `at`, 400 open.
fn contract(ticker: &str, call: bool, strike: f64, volume: f64, at: DateTime<Utc>) -> OptionSnapshot {
    let ns = at.timestamp_nanos_opt().unwrap();
    serde_json::from_value(json!({
        "details": {"ticker": ticker, "contract_type": if call { "call" } else { "put" },
                    "exercise_style": "american", "expiration_date": "2026-03-20",
                    "shares_per_contract": 100, "strike_price": strike},
        "day": {"volume": volume, "vwap": 10.0, "low": 9.0, "high": 11.0, "open": 10.0, "close": 10.0},
        "last_trade": {"price": 10.0, "size": 10, "sip_timestamp": ns, "exchange": 302},
        "last_quote": {"bid": 9.9, "ask": 10.0, "midpoint": 9.95, "last_updated": ns},
        "open_interest": 400.0,
        "implied_volatility": 0.2,
        "greeks": {"delta": if call { 0.6 } else { -0.4 }, "gamma": 0.01, "theta": -0.05, "vega": 0.2},
        "underlying_asset": {"ticker": "SPY", "price": 610.0},
    }))
    .unwrap()
}

/// SPY's chain every minute from 10:00 to 10:12 ET. The call's day volume
/// is 1,000 until 10:02, when 500 more trade at the ask at $10: a $500,000
/// premium, ΔV/OI 1.25, as ISO prints on two exchanges: a confirmed sweep
/// for the Sweeps rule (premium part min(40, 10 + 10·log2(500k/50k)) = 40,
/// ΔV/OI part 25, ask 20, ISO 15: 100 ≥ 60), and nothing else fires:
/// under $1M (Golden Sweeps), one hit (ORAKL Flow needs 3), 11 DTE (over
/// Bullseye's 5 and Scalps' 7). The put never trades.
fn write_tape(path: &Path) {
    let header = Header::new(BTreeMap::from([("source".to_string(), json!("test"))]));
    let mut w = TapeWriter::create(path, &header).unwrap();
    for m in 0..=12 {
        if m == 2 {
            let iso = |exchange: i32, ms: i64| orakl::polygon::Trade {
                conditions: Some(vec![219]),
                exchange: Some(exchange),
                price: 10.0,
                size: 250.0,
                sip_timestamp: (t(2) - chrono::Duration::milliseconds(ms)).timestamp_nanos_opt().unwrap(),
                ..Default::default()
            };
            let results = vec![iso(302, 40), iso(303, 30)];
            w.write(&Record { at: t(2), payload: Payload::Trades { ticker: CALL.into(), results } }).unwrap();
        }
        let call_volume = if m < 2 { 1000.0 } else { 1500.0 };
        let results = vec![contract(CALL, true, 600.0, call_volume, t(m)), contract(PUT, false, 590.0, 200.0, t(m))];
        w.write(&Record { at: t(m), payload: Payload::OptionChain { underlying: "SPY".into(), results } }).unwrap();
    }
    w.finish().unwrap();
}

/// e01: the sweep, expected of Sweeps and (wrongly, to show a family that
/// misses) of ORAKL Flow; e02: the same print as a Golden Sweeps
/// near-miss; e03: a put sweep that never happens.
const TRUTH: &str = concat!(
    r#"{"id":"e01","at":"2026-03-09T14:02:00Z","kind":"sweep","symbol":"SPY","contract":"O:SPY260320C00600000","expected_bots":["sweeps","orakl_flow"],"near_miss":false,"why":"500 calls at the ask"}"#,
    "\n",
    r#"{"id":"e02","at":"2026-03-09T14:02:00Z","kind":"golden_sweep","symbol":"SPY","contract":"O:SPY260320C00600000","expected_bots":[],"near_miss":true,"near_miss_bots":["golden_sweeps"],"why":"under $1M"}"#,
    "\n",
    r#"{"id":"e03","at":"2026-03-09T14:06:00Z","kind":"sweep","symbol":"SPY","contract":"O:SPY260320P00590000","expected_bots":["sweeps"],"near_miss":false,"why":"never prints"}"#,
    "\n",
);

/// `orakl ARGS` in `dir` with a clean environment (no schedule.cron there:
/// the built-in timetable): (exit code, stdout, stderr).
fn orakl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orakl")).current_dir(dir).env_clear().args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn evaluate_scores_a_hand_built_day() {
    let dir = tempfile::tempdir().unwrap();
    write_tape(&dir.path().join("day.tape.gz"));
    std::fs::write(dir.path().join("truth.jsonl"), TRUTH).unwrap();

    let (code, json_out, err) =
        orakl(dir.path(), &["evaluate", "day.tape.gz", "--truth", "truth.jsonl", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let card: Value = serde_json::from_str(&json_out).unwrap();

    // One alert: Sweeps on the call, bullish (a call bought at the ask).
    assert_eq!(card["alerts"]["total"], 1);
    assert_eq!(card["alerts"]["by_family"]["sweeps"], 1);
    assert_eq!(card["alerts"]["by_day"], json!({"2026-03-09": {"sweeps": 1}}));
    // Events e01 and e03; e01 recalled (by Sweeps), e03 not. Per family:
    // Sweeps 1 of 2 (e01 yes, e03 no), ORAKL Flow 0 of 1.
    assert_eq!((card["recall"]["events"].as_u64(), card["recall"]["recalled"].as_u64()), (Some(2), Some(1)));
    assert_eq!(card["recall"]["by_family"]["sweeps"]["expected"], 2);
    assert_eq!(card["recall"]["by_family"]["sweeps"]["alerted"], 1);
    assert_eq!(card["recall"]["by_family"]["orakl_flow"]["alerted"], 0);
    let missed: Vec<(String, Value, Value)> = card["recall"]["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap().to_string(), m["missing"].clone(), m["alerted"].clone()))
        .collect();
    assert_eq!(
        missed,
        [
            ("e01".to_string(), json!(["orakl_flow"]), json!(["sweeps"])),
            ("e03".to_string(), json!(["sweeps"]), json!([]))
        ]
    );
    // The chain of 10:02:00 is first fetched by the orakl_flow firing at
    // 10:02:00 (its :00 second); the flow event is observed then and Sweeps
    // alerts on it at its 10:02:03 firing with the observation's time: 0 s.
    assert_eq!(card["recall"]["by_family"]["sweeps"]["latency_max_s"], 0);
    // e02, Golden Sweeps' near-miss, stayed silent.
    assert_eq!((card["near_misses"]["lines"].as_u64(), card["near_misses"]["fired"].as_u64()), (Some(1), Some(0)));
    // Precision 1 of 1; nothing else to count.
    assert_eq!(card["precision"]["sweeps"], json!({"alerts": 1, "tied": 1, "precision": 1.0}));
    assert_eq!(card["precision_total"]["precision"], 1.0);
    assert_eq!(card["fanout"]["pairs"], 0);
    assert_eq!((card["plans"]["published"].as_u64(), card["direction"]["contradictions"].as_u64()), (Some(0), Some(0)));
    assert_eq!(card["channels"]["by_family"]["sweeps"]["peak_per_minute"], 1);
    assert_eq!(card["channels"]["minutes_over_limit"], 0);
    assert_eq!(card["noise"]["unconfirmed_sweeps"], 0);
    assert_eq!(card["run"]["firings_skipped_late"], 0);
    assert_eq!(
        (card["run"]["from"].as_str(), card["run"]["to"].as_str()),
        (Some("2026-03-09T14:00:00Z"), Some("2026-03-09T14:12:00Z"))
    );

    // The replay behind it is `orakl replay`'s: the same alert and the
    // same requests and pages as its summary.
    let (code, replay_out, err) = orakl(dir.path(), &["replay", "day.tape.gz", "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    // In jsonl mode stdout is the alert lines alone; the summary is on stderr.
    let alerts: Vec<&str> = replay_out.lines().collect();
    assert_eq!(alerts.len(), 1, "{replay_out}");
    assert!(alerts[0].contains(r#""bot":"sweeps""#) && alerts[0].contains(CALL), "{}", alerts[0]);
    let requests = format!(
        "  requests    {} ({} pages)",
        card["run"]["requests"].as_u64().unwrap(),
        card["run"]["pages"].as_u64().unwrap()
    );
    assert!(err.lines().any(|l| l == requests), "`{requests}` in\n{err}");

    // Byte-identical for the same tape and options; the text names the miss.
    let (_, again, _) = orakl(dir.path(), &["evaluate", "day.tape.gz", "--truth", "truth.jsonl", "--format", "json"]);
    assert_eq!(again, json_out);
    let (code, text, _) = orakl(dir.path(), &["evaluate", "day.tape.gz", "--truth", "truth.jsonl"]);
    assert_eq!(code, 0);
    assert!(text.contains("e03 10:06:00 sweep SPY O:SPY260320P00590000 — no sweeps"), "{text}");
    assert!(
        text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["sweeps", "1", "0", "1", "1.000", "1/2", "-", "0", "-", "1", "0"]),
        "{text}"
    );

    // --to before the sweep: the same replay cut short, nothing alerted.
    let (code, cut, err) = orakl(
        dir.path(),
        &["evaluate", "day.tape.gz", "--truth", "truth.jsonl", "--format", "json", "--to", "2026-03-09T14:01:30Z"],
    );
    assert_eq!(code, 0, "{err}");
    let cut: Value = serde_json::from_str(&cut).unwrap();
    assert_eq!((cut["alerts"]["total"].as_u64(), cut["recall"]["recalled"].as_u64()), (Some(0), Some(0)));
}

#[test]
fn a_bad_truth_or_tape_line_exits_78_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_tape(&dir.path().join("day.tape.gz"));
    let first = TRUTH.lines().next().unwrap();
    std::fs::write(dir.path().join("bad.jsonl"), format!("{first}\n{{\"id\":\"e02\"}}\n")).unwrap();
    let (code, out, err) = orakl(dir.path(), &["evaluate", "day.tape.gz", "--truth", "bad.jsonl"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("bad.jsonl:2: not a truth line (missing field `at`"), "{err}");
    assert!(out.is_empty(), "{out}");

    let (code, _, err) = orakl(dir.path(), &["evaluate", "day.tape.gz", "--truth", "missing.jsonl"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("missing.jsonl: "), "{err}");

    std::fs::write(dir.path().join("truth.jsonl"), TRUTH).unwrap();
    let header = r#"{"tape":"orakl-market-tape","version":1}"#;
    let good = r#"{"at":"2026-03-09T14:00:00Z","endpoint":"trades","ticker":"SPY","results":[]}"#;
    let broken = format!("{header}\n{good}\n{{\"at\":\"2026-03-09T14:01:00Z\",\"endpoint\":\"trades\"\n");
    std::fs::write(dir.path().join("bad.tape"), broken).unwrap();
    let (code, out, err) = orakl(dir.path(), &["evaluate", "bad.tape", "--truth", "truth.jsonl"]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("bad.tape:3: bad record"), "{err}");
    assert!(out.is_empty(), "{out}");

    let (code, _, _) = orakl(dir.path(), &["evaluate", "day.tape.gz"]);
    assert_eq!(code, 2, "--truth is required");
}
