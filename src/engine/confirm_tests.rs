//! Sweeps and Golden Sweeps post confirmed sweeps only (the default): the
//! engine's confirmation stage on one $2M event, whatever the trades request
//! answers — a sweep, ISO prints on one exchange, a failure — and when the
//! firing's allowance is spent. Nothing unconfirmed is ever committed.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::alert::ContractType;
use crate::config::Config;
use crate::engine::{Answer, Decision, Engine, Need, Rules, Step};
use crate::flow::{Observation, QuotePoint, TradePoint};
use crate::job::Bot;
use crate::polygon::Trade;

const CALL: &str = "O:SPY260409C00610000";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

/// The defaults, relative gates off (one contract has no flow to compare
/// with), and `extra`; the prints lane's tests use it too.
pub(super) fn engine(extra: &[(&str, &str)]) -> Engine {
    let mut vars: BTreeMap<String, String> = [
        ("WATCHLIST", "SPY"),
        ("SWEEPS_MIN_VOLUME_MULTIPLE", "0"),
        ("SWEEPS_MAX_FLOW_SHARE", "1"),
        ("SWEEPS_MIN_DELTA_VOI", "0"),
        ("GOLDEN_MIN_VOLUME_MULTIPLE", "0"),
        ("GOLDEN_MAX_FLOW_SHARE", "1"),
        ("GOLDEN_MIN_DELTA_VOI", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_vars(&vars).expect("config");
    Engine::new(Rules::from_config(&config).expect("rules"))
}

/// SPY's 610 call at `volume`, last traded at the ask of 5.00 at `now`.
fn chain(volume: f64, now: DateTime<Utc>) -> Vec<Observation> {
    let ns = now.timestamp_nanos_opt().unwrap_or_default();
    let expiry = NaiveDate::from_ymd_opt(2026, 4, 9).unwrap_or_default();
    let mut o = Observation::new(CALL.to_string(), "SPY", Some(ContractType::Call), 610.0, expiry);
    o.volume = volume;
    o.last_trade = Some(TradePoint { price: 5.0, size: 1.0, at_ns: ns });
    o.quote = Some(QuotePoint { bid: 4.95, ask: 5.0, at_ns: ns });
    o.open_interest = Some(100_000.0);
    o.spot = Some(608.0);
    vec![o]
}

fn iso(exchange: Option<i32>) -> Trade {
    Trade { conditions: Some(vec![219]), exchange, price: 5.0, size: 2000.0, ..Trade::default() }
}

/// One firing of `bot` on SPY at `now`: the trades requests it made and
/// what it decided on the call (committed labels, suppression reasons).
fn fire(engine: &mut Engine, bot: Bot, now: DateTime<Utc>, volume: f64, trades: &Answer) -> (usize, Vec<String>) {
    engine.start_firing(now);
    let mut task = engine.start(bot, "SPY");
    let (mut requests, mut out) = (0, Vec::new());
    let mut chain = Some(chain(volume, now));
    for _ in 0..1000 {
        match engine.poll(&mut task, now) {
            Step::Need(Need::Chain { .. }) => {
                let observations = chain.take().unwrap_or_default();
                task.answer(Answer::Chain { contracts: observations.len(), observations });
            }
            Step::Need(Need::Cooldown { .. }) => task.answer(Answer::Cooldown(None)),
            Step::Need(Need::OptionTrades { contract, .. }) => {
                assert_eq!(contract, CALL);
                requests += 1;
                task.answer(trades.clone());
            }
            Step::Need(_) => task.answer(Answer::Unavailable),
            Step::Decided(Decision::Commit(c)) => out.push(format!("alert: {}", c.alert.label)),
            Step::Decided(Decision::Suppressed { reason, .. }) => out.push(reason),
            Step::Decided(_) => {}
            Step::Done(_) => break,
        }
    }
    (requests, out)
}

/// A baseline scan, then 4,000 contracts at $5 ($2M, Sweeps score 75
/// without the ISO part, a Golden Sweep) 45 s later.
fn decide(bot: Bot, extra: &[(&str, &str)], trades: Answer) -> (usize, Vec<String>) {
    let mut e = engine(extra);
    let open = t("2026-03-10T14:00:00Z");
    fire(&mut e, bot, open, 1000.0, &trades);
    fire(&mut e, bot, open + Duration::seconds(45), 5000.0, &trades)
}

#[test]
fn only_a_confirmed_sweep_is_committed_by_default() {
    let sweep = Answer::Trades(vec![iso(Some(302)), iso(Some(303))]);
    let one_exchange = Answer::Trades(vec![iso(Some(302)), iso(Some(302))]);
    let unknown_and_one = Answer::Trades(vec![iso(None), iso(Some(302))]);
    let not_a_sweep =
        "not a sweep: 2 ISO print(s) on 1 venue(s), fewer than SWEEPS_MIN_EXCHANGES=2 (SWEEPS_REQUIRE_ISO)";
    let failed = "not confirmed: the trades request failed (SWEEPS_REQUIRE_ISO)";
    let spent = "not confirmed: SWEEPS_MAX_CONFIRMATIONS spent this firing (SWEEPS_REQUIRE_ISO)";
    // (bot, settings, the trades request's answer, requests, decisions)
    type Case<'a> = (Bot, Vec<(&'a str, &'a str)>, Answer, usize, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (Bot::Sweeps, vec![], sweep.clone(), 1, vec!["alert: sweep confirmed: 2 ISO prints on 2 exchanges"]),
        (Bot::GoldenSweeps, vec![], sweep.clone(), 1, vec!["alert: sweep confirmed: 2 ISO prints on 2 exchanges"]),
        (
            Bot::Sweeps,
            vec![],
            unknown_and_one,
            1,
            vec!["alert: sweep confirmed: 2 ISO prints on 2 exchanges (1 unknown)"],
        ),
        (Bot::Sweeps, vec![], one_exchange.clone(), 1, vec![not_a_sweep]),
        (Bot::GoldenSweeps, vec![], one_exchange.clone(), 1, vec![not_a_sweep]),
        (Bot::Sweeps, vec![], Answer::Unavailable, 1, vec![failed]),
        (Bot::GoldenSweeps, vec![], Answer::Unavailable, 1, vec![failed]),
        (Bot::Sweeps, vec![("SWEEPS_MAX_CONFIRMATIONS", "0")], sweep.clone(), 0, vec![spent]),
        (Bot::GoldenSweeps, vec![("SWEEPS_MAX_CONFIRMATIONS", "0")], sweep.clone(), 0, vec![spent]),
        // One exchange is a sweep at a minimum of 1.
        (
            Bot::Sweeps,
            vec![("SWEEPS_MIN_EXCHANGES", "1")],
            one_exchange.clone(),
            1,
            vec!["alert: sweep confirmed: 2 ISO prints on 1 exchange"],
        ),
        // Without SWEEPS_REQUIRE_ISO, Sweeps (75 without the ISO part) asks
        // nothing; Golden Sweeps asks, to label honestly, and posts what a
        // failed request or a one-exchange answer leaves unconfirmed.
        (Bot::Sweeps, vec![("SWEEPS_REQUIRE_ISO", "false")], sweep.clone(), 0, vec!["alert: flow (unconfirmed)"]),
        (
            Bot::GoldenSweeps,
            vec![("SWEEPS_REQUIRE_ISO", "false")],
            Answer::Unavailable,
            1,
            vec!["alert: flow (unconfirmed)"],
        ),
        (
            Bot::GoldenSweeps,
            vec![("SWEEPS_REQUIRE_ISO", "false")],
            one_exchange,
            1,
            vec!["alert: flow (unconfirmed): 2 ISO prints on 1 exchange"],
        ),
    ];
    for (bot, extra, trades, want_requests, want) in cases {
        let ctx = format!("{bot:?} {extra:?} {trades:?}");
        let (requests, got) = decide(bot, &extra, trades);
        assert_eq!(requests, want_requests, "{ctx}");
        assert_eq!(got, want, "{ctx}");
    }
}
