//! Recall on simulated truth: a simulated slice of a day is replayed by the
//! real binary; every injected clear hit must produce its expected bots'
//! alerts and no near-miss may fire the bot it was sized to miss. The same
//! tape replayed twice gives byte-identical stdout. Per-bot recall and
//! precision are printed (`--nocapture`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, NaiveTime, Utc};
use orakl::simulate::{SimOptions, TruthEvent, simulate};
use serde_json::Value;

/// How long after an injected event its alert may come: the options bots
/// see the chain that carries it within 30 s (later flow on the same
/// contract is another event), the stock bots run every 5 minutes, STRAT
/// once an hour after the trigger bar closes.
fn match_window(bot: &str) -> chrono::Duration {
    match bot {
        "orakl_flow" | "sweeps" | "golden_sweeps" | "bullseye" | "scalps" => chrono::Duration::minutes(2),
        _ => chrono::Duration::minutes(65),
    }
}

fn replay(dir: &Path, tape: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_orakl"))
        .current_dir(dir)
        .env_clear()
        .args(["replay", "--format", "jsonl"])
        .arg(tape)
        .output()
        .expect("run orakl replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

struct AlertKey {
    bot: String,
    ticker: String,
    contract: Option<String>,
    at: DateTime<Utc>,
}

fn matches(a: &AlertKey, t: &TruthEvent, bot: &str) -> bool {
    let same_instrument = match &t.contract {
        Some(c) => a.contract.as_deref() == Some(c.as_str()),
        None => a.ticker == t.symbol,
    };
    a.bot == bot && same_instrument && a.at >= t.at && a.at <= t.at + match_window(bot)
}

#[test]
fn every_injected_hit_fires_its_bots_and_no_near_miss_does() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("day.jsonl");
    let truth_path = dir.path().join("truth.jsonl");
    // Two symbols over 12:30–14:10 ET: every family has a hit and a near-miss.
    let opts = SimOptions {
        seed: 11,
        symbols: vec!["SPY".into(), "CSCO".into()],
        start: NaiveTime::from_hms_opt(12, 30, 0).unwrap(),
        minutes: 100,
        ..SimOptions::default()
    };
    simulate(&opts, &tape, Some(&truth_path)).unwrap();
    let truth: Vec<TruthEvent> =
        std::fs::read_to_string(&truth_path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();

    let stdout = replay(dir.path(), &tape);
    assert_eq!(replay(dir.path(), &tape), stdout, "the same tape replays to byte-identical stdout");

    let alerts: Vec<AlertKey> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            AlertKey {
                bot: v["bot"].as_str().unwrap().to_string(),
                ticker: v["ticker"].as_str().unwrap().to_string(),
                contract: v["contract"].as_str().map(str::to_string),
                at: v["at"].as_str().unwrap().parse().unwrap(),
            }
        })
        .collect();

    // (bot) → (expected, found, near-misses, near-misses that fired)
    let mut per_bot: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut failures = Vec::new();
    for t in &truth {
        if !t.near_miss {
            for bot in &t.expected_bots {
                let found = alerts.iter().any(|a| matches(a, t, bot));
                let e = per_bot.entry(bot.clone()).or_default();
                e[0] += 1;
                if found {
                    e[1] += 1;
                } else {
                    failures.push(format!("{} {} {:?}: expected {bot}, no alert", t.id, t.kind, t.contract));
                }
            }
        }
        for bot in &t.near_miss_bots {
            let fired = alerts.iter().any(|a| matches(a, t, bot));
            let e = per_bot.entry(bot.clone()).or_default();
            e[2] += 1;
            if fired {
                e[3] += 1;
                failures.push(format!("{} {} {:?}: near-miss fired {bot}", t.id, t.kind, t.contract));
            }
        }
    }
    println!("bot            recall   near-misses silent   alerts (matched to an injected event)");
    for (bot, [expected, found, near, fired]) in &per_bot {
        let total = alerts.iter().filter(|a| &a.bot == bot).count();
        let matched = alerts.iter().filter(|a| &a.bot == bot && truth.iter().any(|t| matches(a, t, bot))).count();
        println!("{bot:<14} {found}/{expected}      {}/{near}                  {total} ({matched})", near - fired);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let families: Vec<&String> = per_bot.keys().collect();
    assert_eq!(families.len(), 8, "every family is exercised: {families:?}");
}
