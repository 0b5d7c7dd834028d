//! ORAKL Flow counts a repeat only when the hit is unusual for its
//! contract: routine prints on a busy contract never add up to "bought
//! again and again", while the same buys on a quiet contract do.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::alert::{Alert, ContractType};
use crate::config::Config;
use crate::engine::{Answer, Decision, Engine, Need, Rules, Step};
use crate::flow::{Observation, QuotePoint, TradePoint};
use crate::job::Bot;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

fn engine() -> Engine {
    let vars: BTreeMap<String, String> =
        [("WATCHLIST", "SPY")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = Config::from_vars(&vars).expect("config");
    Engine::new(Rules::from_config(&config).expect("rules"))
}

/// One in-the-money SPY call (strike 600, spot 610, 20 days) with day
/// volume `volume` and open interest `oi`, last traded at the ask of 12.00
/// at `now`.
fn contract(volume: f64, oi: f64, now: DateTime<Utc>) -> Vec<Observation> {
    let expiry = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap_or_default();
    let ns = now.timestamp_nanos_opt().unwrap_or_default();
    let mut o = Observation::new("O:SPY260329C00600000", "SPY", Some(ContractType::Call), 600.0, expiry);
    o.volume = volume;
    o.last_trade = Some(TradePoint { price: 12.0, size: 1.0, at_ns: ns });
    o.quote = Some(QuotePoint { bid: 11.9, ask: 12.0, at_ns: ns });
    o.open_interest = Some(oi);
    o.iv = Some(0.2);
    o.delta = Some(0.75);
    o.spot = Some(610.0);
    vec![o]
}

/// One ORAKL Flow task on SPY at `now` with `chain` as the snapshot; the
/// alerts it commits.
fn run(engine: &mut Engine, now: DateTime<Utc>, chain: Vec<Observation>) -> Vec<Alert> {
    let mut task = engine.start(Bot::OraklFlow, "SPY");
    let mut alerts = Vec::new();
    let mut chain = Some(chain);
    for _ in 0..10_000 {
        match engine.poll(&mut task, now) {
            Step::Need(Need::FlowHistory { .. }) => task.answer(Answer::FlowHistory(Vec::new())),
            Step::Need(Need::Chain { .. }) => {
                let observations = chain.take().unwrap_or_default();
                task.answer(Answer::Chain { contracts: observations.len(), observations });
            }
            Step::Need(Need::Cooldown { .. }) => task.answer(Answer::Cooldown(None)),
            Step::Need(_) => task.answer(Answer::Unavailable),
            Step::Decided(Decision::Commit(c)) => alerts.push(c.alert),
            Step::Decided(_) => {}
            Step::Done(_) => break,
        }
    }
    alerts
}

/// A baseline snapshot at 10:30 ET with day volume `start` on a contract
/// with `oi` open, then one snapshot per volume step 45 s apart (each step
/// $24k and more at the ask); the alerts of the last.
fn day(start: f64, oi: f64, steps: &[f64]) -> Vec<Alert> {
    let mut engine = engine();
    let mut now = t("2026-03-09T14:30:00Z");
    let mut volume = start;
    run(&mut engine, now, contract(volume, oi, now));
    let mut last = Vec::new();
    for step in steps {
        now += Duration::seconds(45);
        volume += step;
        last = run(&mut engine, now, contract(volume, oi, now));
    }
    last
}

#[test]
fn repeats_are_hits_unusual_for_their_contract() {
    // A quiet contract (10 lots by 10:30, 1,000 open): three 40-lot buys
    // are each far above its pace (40× and more) and 4% of its open
    // interest, and the third is a repeat signal.
    let quiet = day(10.0, 1_000.0, &[40.0, 40.0, 40.0]);
    assert_eq!(quiet.len(), 1, "{quiet:?}");
    assert!(quiet[0].label.contains("3 hits at the ask"), "{}", quiet[0].label);
    // The same buys on a deep contract (50,000 open) are far above its pace
    // too, but each is 0.08% of what is open: no repeat of anything.
    assert!(day(10.0, 50_000.0, &[40.0, 40.0, 40.0]).is_empty());
    // A busy one (20,000 lots by 10:30, ~170 a snapshot): two routine 20-lot
    // buys do not count, so one unusual 20,000-lot buy after them is no
    // repeat of anything.
    assert!(day(20_000.0, 50_000.0, &[20.0, 20.0, 20_000.0]).is_empty());
    // Three unusual buys on the busy contract are.
    assert_eq!(day(20_000.0, 50_000.0, &[20_000.0, 20_000.0, 20_000.0]).len(), 1);
}
