//! The engine does not start blind: the flow statistics it hands the store
//! on day 1 change day 2's first figures after a restart.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::alert::{Alert, ContractType};
use crate::config::Config;
use crate::engine::{Answer, Decision, Engine, Need, Rules, Step};
use crate::flow::{Observation, QuotePoint, TradePoint};
use crate::job::Bot;
use crate::unusual::DayStats;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

fn engine() -> Engine {
    // Sweeps posts here without a trades request: unconfirmed flow, which
    // only a family not limited to sweeps may post.
    let vars: BTreeMap<String, String> =
        [("WATCHLIST", "SPY"), ("SWEEPS_CONFIRM_WITH_TRADES", "false"), ("SWEEPS_REQUIRE_ISO", "false")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let config = Config::from_vars(&vars).expect("config");
    Engine::new(Rules::from_config(&config).expect("rules"))
}

/// `n` SPY calls expiring `expiry`, each with day volume `volume(i)`,
/// traded at the ask of 5.00 at `now`.
fn chain(n: usize, expiry: NaiveDate, now: DateTime<Utc>, volume: impl Fn(usize) -> f64) -> Vec<Observation> {
    let ns = now.timestamp_nanos_opt().unwrap_or_default();
    (0..n)
        .map(|i| {
            let strike = 600.0 + i as f64;
            let ticker = format!("O:SPY{}C{:08}", expiry.format("%y%m%d"), (strike * 1000.0) as i64);
            let mut o = Observation::new(ticker, "SPY", Some(ContractType::Call), strike, expiry);
            o.volume = volume(i);
            o.last_trade = Some(TradePoint { price: 5.0, size: 1.0, at_ns: ns });
            o.quote = Some(QuotePoint { bid: 4.95, ask: 5.0, at_ns: ns });
            o.open_interest = Some(1000.0);
            o.spot = Some(610.0);
            o
        })
        .collect()
}

/// Runs one Sweeps task (a later run must be past the chain cache's 30 s) on SPY at `now` with `chain` as the snapshot and
/// `history` as the store's answer; the stored statistics and the alerts.
fn run(
    engine: &mut Engine,
    now: DateTime<Utc>,
    chain: Vec<Observation>,
    history: &[DayStats],
) -> (Vec<DayStats>, Vec<Alert>) {
    let mut task = engine.start(Bot::Sweeps, "SPY");
    let (mut saved, mut alerts) = (Vec::new(), Vec::new());
    let mut chain = Some(chain);
    for _ in 0..10_000 {
        match engine.poll(&mut task, now) {
            Step::Need(Need::FlowHistory { before, .. }) => {
                let rows = history.iter().filter(|s| s.date < before).cloned().collect();
                task.answer(Answer::FlowHistory(rows));
            }
            Step::Need(Need::Chain { .. }) => {
                let observations = chain.take().unwrap_or_default();
                task.answer(Answer::Chain { contracts: observations.len(), observations });
            }
            Step::Need(Need::Cooldown { .. }) => task.answer(Answer::Cooldown(None)),
            Step::Need(_) => task.answer(Answer::Unavailable),
            Step::Decided(Decision::SaveFlowStats(s)) => saved.push(s),
            Step::Decided(Decision::Commit(c)) => alerts.push(c.alert),
            Step::Decided(_) => {}
            Step::Done(_) => break,
        }
    }
    (saved, alerts)
}

/// Day 2's first event: one contract of a fresh chain trades $500k.
fn day_two(history: &[DayStats]) -> Vec<String> {
    let mut engine = engine();
    let (d2, open) = (NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default(), t("2026-03-10T13:35:00Z"));
    let expiry = d2 + Duration::days(30);
    run(&mut engine, open, chain(3, expiry, open, |_| 100.0), history);
    let later = open + Duration::seconds(45);
    let (_, alerts) =
        run(&mut engine, later, chain(3, expiry, later, |i| if i == 0 { 1100.0 } else { 100.0 }), history);
    alerts.into_iter().next().map(|a| a.details.unusual).unwrap_or_default()
}

#[test]
fn day_one_statistics_rank_day_two_first_flow() {
    // Day 1: 80 contracts each trade a few lots, the day's flow.
    let mut engine = engine();
    let (d1, open) = (NaiveDate::from_ymd_opt(2026, 3, 9).unwrap_or_default(), t("2026-03-09T13:35:00Z"));
    let expiry = d1 + Duration::days(31);
    let (saved, _) = run(&mut engine, open, chain(80, expiry, open, |_| 10.0), &[]);
    assert!(saved.is_empty(), "a baseline scan has no flow to store");
    let later = open + Duration::seconds(45);
    let (saved, _) = run(&mut engine, later, chain(80, expiry, later, |i| 10.0 + (i % 7 + 1) as f64), &[]);
    assert_eq!(saved.len(), 1);
    assert_eq!((saved[0].date, saved[0].premiums.total()), (d1, 80));

    // Day 2 after a restart: with day 1 read back, the first event already
    // stands against the underlying's flow; without it, nothing to say.
    let blind = day_two(&[]);
    let informed = day_two(&saved);
    assert!(!blind.iter().any(|l| l.contains("sessions")), "{blind:?}");
    assert!(informed.contains(&"top 1% of SPY flow over 2 sessions".to_string()), "{informed:?}");
}
