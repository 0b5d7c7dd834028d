//! Recall on simulated truth: a simulated slice of a day is replayed by the
//! real binary; every injected clear hit must produce its expected bots'
//! alerts and no near-miss may fire the bot it was sized to miss. The same
//! tape replayed twice gives byte-identical stdout. Per-bot recall and
//! precision are printed (`--nocapture`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use orakl::simulate::TruthEvent;
use serde_json::Value;

use crate::support::sim_day;

/// How long after an injected event its alert may come: the options bots
/// see the chain that carries it within 30 s (later flow on the same
/// contract is another event), the stock bots run every 5 minutes, STRAT
/// once an hour after the trigger bar closes.
fn match_window(bot: &str) -> chrono::Duration {
    match bot {
        "orakl_flow" | "sweeps" | "golden_sweeps" | "bullseye" | "scalps" => chrono::Duration::minutes(2),
        "darkpool" => chrono::Duration::minutes(6),
        _ => chrono::Duration::minutes(65),
    }
}

/// What identifies an alert when matching it to an injected event.
pub struct AlertKey {
    pub bot: String,
    pub ticker: String,
    pub contract: Option<String>,
    pub at: DateTime<Utc>,
    /// A stock print's size (dark-pool alerts).
    pub size: Option<f64>,
}

/// Whether alert `a` of `bot` answers the injected event `t`. Background
/// blocks alert on the event's symbol too: a dark-pool event is answered by
/// the alert on its own print (its size).
pub fn matches(a: &AlertKey, t: &TruthEvent, bot: &str) -> bool {
    let same_instrument = match &t.contract {
        Some(c) => a.contract.as_deref() == Some(c.as_str()),
        None => a.ticker == t.symbol && (t.size.is_none() || a.size == t.size),
    };
    a.bot == bot && same_instrument && a.at >= t.at && a.at <= t.at + match_window(bot)
}

#[test]
fn every_injected_hit_fires_its_bots_and_no_near_miss_does() {
    let day = sim_day::demo_slice();
    let (truth, stdout) = (&day.truth, &day.stdout);
    let again = sim_day::replay(&day.dir, &day.tape, &day.schedule, None);
    assert_eq!(&again, stdout, "the same tape replays to byte-identical stdout");

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
                size: v["size"].as_f64(),
            }
        })
        .collect();

    // (bot) → (expected, found, near-misses, near-misses that fired)
    let mut per_bot: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut failures = Vec::new();
    for t in truth {
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
