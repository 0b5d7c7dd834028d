//! The prints lane's task against a scripted shell: what it asks for and in
//! which order, what it commits, and where its cursor goes (SPEC §14).

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::alert::{ContractType, Sentiment, Side};
use crate::engine::confirm_tests::engine;
use crate::engine::{Answer, Decision, Engine, Need, Step};
use crate::flow::Observation;
use crate::polygon::{Quote, UnusualTrade};

const CALL: &str = "O:SPY260410C00675000";
const AAPL: &str = "O:AAPL260410C00250000";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

fn ns(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or_default()
}

/// A sweep of `contract`: `parts` ISO prints of `size` at `price`, 3 ms
/// apart on distinct exchanges, the first at `at`.
fn sweep(contract: &str, at: DateTime<Utc>, parts: usize, size: f64, price: f64) -> Vec<UnusualTrade> {
    (0..parts)
        .map(|k| UnusualTrade {
            ticker: contract.to_string(),
            price,
            size,
            exchange: Some(300 + k as i32),
            conditions: vec![219],
            sip_timestamp: ns(at) + k as i64 * 3_000_000,
            flags: vec!["sweep".into()],
            sequence_number: Some(ns(at) + k as i64),
            ..UnusualTrade::default()
        })
        .collect()
}

/// SPY's 675 call after the order: day volume 5,000, OI 40,000, spot 674.
fn context(contract: &str) -> Observation {
    let expiry = NaiveDate::from_ymd_opt(2026, 4, 10).unwrap_or_default();
    let mut o = Observation::new(contract.to_string(), "SPY", Some(ContractType::Call), 675.0, expiry);
    o.volume = 5_000.0;
    o.open_interest = Some(40_000.0);
    o.spot = Some(674.0);
    o.iv = Some(0.2);
    o.delta = Some(0.5);
    o
}

/// The scripted shell: the stored cursor, the endpoint's prints, the NBBO.
struct Shell {
    cursor: Option<String>,
    prints: Vec<UnusualTrade>,
    quote: (f64, f64),
}

/// What one poll asked for and decided.
#[derive(Debug, Default)]
struct Poll {
    needs: Vec<String>,
    commits: Vec<crate::engine::Commit>,
    /// Hits that joined an open episode: (family, contract).
    joined: Vec<(crate::job::Bot, String)>,
    suppressed: Vec<String>,
}

fn poll(engine: &mut Engine, shell: &mut Shell, now: DateTime<Utc>) -> Poll {
    let mut task = engine.start_prints();
    let mut out = Poll::default();
    for _ in 0..10_000 {
        match engine.poll(&mut task, now) {
            Step::Need(need) => {
                let (name, answer) = match &need {
                    Need::FlowHistory { .. } => ("history".to_string(), Answer::FlowHistory(Vec::new())),
                    Need::Cursor { key } => {
                        assert_eq!(key, "market_prints");
                        ("cursor".to_string(), Answer::Cursor(shell.cursor.clone()))
                    }
                    Need::UnusualTrades { from_ns, until_ns, .. } => {
                        let read = shell
                            .prints
                            .iter()
                            .filter(|p| (*from_ns..=*until_ns).contains(&p.sip_timestamp))
                            .cloned()
                            .collect();
                        ("prints".to_string(), Answer::Prints(read))
                    }
                    Need::Contract { underlying, contract } => (
                        format!("contract {underlying} {contract}"),
                        Answer::Contract(Some(Box::new(context(contract)))),
                    ),
                    Need::Quote { contract, at_ns } => {
                        let q = Quote {
                            bid_price: Some(shell.quote.0),
                            ask_price: Some(shell.quote.1),
                            sip_timestamp: at_ns - 1_000,
                            ..Quote::default()
                        };
                        (format!("quote {contract}"), Answer::Quote(Some(q)))
                    }
                    Need::Cooldown { bot, .. } => (format!("cooldown {bot}"), Answer::Cooldown(None)),
                    other => panic!("unexpected need {other:?}"),
                };
                out.needs.push(name);
                task.answer(answer);
            }
            Step::Decided(Decision::Commit(c)) => out.commits.push(*c),
            Step::Decided(Decision::Update(j)) => {
                out.joined.push((j.bot, j.update.contract.clone().unwrap_or_default()))
            }
            Step::Decided(Decision::Suppressed { bot, reason, .. }) => out.suppressed.push(format!("{bot}: {reason}")),
            Step::Decided(Decision::SetCursor { key, text }) => {
                assert_eq!(key, "market_prints");
                shell.cursor = Some(text);
            }
            Step::Decided(_) => {}
            Step::Done(_) => return out,
        }
    }
    panic!("the task did not end")
}

#[test]
fn a_sweep_from_the_tape_alerts_both_families_with_exact_figures() {
    let mut e = engine(&[]);
    let at = t("2026-03-10T15:28:29.910Z");
    // 4 × 400 contracts at $12.23: $1,956,800, on 4 exchanges.
    let mut shell = Shell { cursor: None, prints: sweep(CALL, at, 4, 400.0, 12.23), quote: (12.1, 12.23) };
    let p = poll(&mut e, &mut shell, at + Duration::seconds(4));
    assert_eq!(
        p.needs,
        [
            "history",
            "cursor",
            "prints",
            "contract SPY O:SPY260410C00675000",
            "quote O:SPY260410C00675000",
            "cooldown golden_sweeps",
            "cooldown sweeps"
        ]
    );
    assert_eq!(p.commits.len(), 2, "{:?}", p.suppressed);
    for c in &p.commits {
        let a = &c.alert;
        assert_eq!(a.id, format!("{}:{CALL}:print{}", c.bot.as_str(), ns(at)));
        assert_eq!(a.premium, Some(1_956_800.0));
        assert_eq!(a.volume_delta, Some(1_600.0));
        assert_eq!((a.side, a.sentiment), (Side::Ask, Sentiment::Bullish));
        assert_eq!(a.label, "sweep confirmed: 4 ISO prints on 4 exchanges");
        assert_eq!(a.at, at + Duration::seconds(4), "the alert is as of the poll that read it");
        assert!(a.details.notes.iter().any(|(k, v)| k == "trade tape" && v.starts_with("sweep of 4 print(s)")));
    }
    // Read again: nothing is judged twice.
    let again = poll(&mut e, &mut shell, at + Duration::seconds(9));
    assert_eq!(again.needs, ["cursor", "prints"]);
    assert!(again.commits.is_empty());
}

#[test]
fn an_order_still_filling_waits_for_the_next_poll() {
    let mut e = engine(&[]);
    let at = t("2026-03-10T15:28:29.500Z");
    let mut shell = Shell { cursor: None, prints: sweep(CALL, at, 4, 400.0, 12.23), quote: (12.1, 12.23) };
    // Half a second after the last print, more may join: nothing is judged
    // and the cursor stays before the order.
    let first = poll(&mut e, &mut shell, at + Duration::milliseconds(500));
    assert_eq!(first.needs, ["history", "cursor", "prints"]);
    assert!(first.commits.is_empty() && shell.cursor.is_none());
    let later = poll(&mut e, &mut shell, at + Duration::seconds(5));
    assert_eq!(later.commits.len(), 2);
}

#[test]
fn cheap_rules_need_no_request_and_scope_filters_quietly() {
    let mut e = engine(&[]);
    let at = t("2026-03-10T15:00:00Z");
    let mut prints = sweep(CALL, at, 1, 10.0, 3.0); // $3,000: under both floors
    // A block: one print of 2,000 contracts on one exchange, not a sweep.
    prints.extend(sweep(CALL, at + Duration::seconds(10), 1, 2_000.0, 12.0));
    prints[1].conditions = vec![209];
    // Outside the watchlist.
    prints.extend(sweep(AAPL, at + Duration::seconds(20), 4, 400.0, 12.0));
    let mut shell = Shell { cursor: None, prints, quote: (11.9, 12.0) };
    let p = poll(&mut e, &mut shell, at + Duration::seconds(30));
    assert_eq!(p.needs, ["history", "cursor", "prints"]);
    assert_eq!(
        p.suppressed,
        ["sweeps: premium 3000 below 50000", "sweeps: trades show no ISO print (SWEEPS_REQUIRE_ISO)"]
    );
    assert!(p.commits.is_empty());
    // The cursor moved past all three, the AAPL print too.
    let cursor = crate::orders::PrintsCursor::parse(shell.cursor.as_deref().unwrap_or_default()).unwrap_or_default();
    assert_eq!(cursor.sip_timestamp, ns(at + Duration::seconds(20)) + 9_000_000);

    // Market scope takes AAPL up (its context is the scripted SPY one).
    let mut e = engine(&[("PRINTS_SCOPE", "market")]);
    shell.cursor = None;
    let p = poll(&mut e, &mut shell, at + Duration::seconds(30));
    assert!(p.needs.contains(&format!("quote {AAPL}")), "{:?}", p.needs);
}

#[test]
fn lookups_past_the_cap_wait_with_the_cursor_before_them() {
    let mut e = engine(&[("PRINTS_MAX_LOOKUPS", "1")]);
    let at = t("2026-03-10T15:00:00Z");
    let mut prints = sweep(CALL, at, 4, 400.0, 12.23);
    let other = "O:SPY260410C00680000";
    prints.extend(sweep(other, at + Duration::seconds(3), 4, 400.0, 12.23));
    let mut shell = Shell { cursor: None, prints, quote: (12.1, 12.23) };
    let first = poll(&mut e, &mut shell, at + Duration::seconds(10));
    assert_eq!(first.commits.iter().filter(|c| c.alert.contract.as_deref() == Some(CALL)).count(), 2);
    assert_eq!(first.commits.len(), 2);
    let cursor = crate::orders::PrintsCursor::parse(shell.cursor.as_deref().unwrap_or_default()).unwrap_or_default();
    assert!(cursor.sip_timestamp < ns(at + Duration::seconds(3)), "the deferred order stays ahead of the cursor");
    // The same move (SPY calls) a few seconds on: it joins the episodes.
    let second = poll(&mut e, &mut shell, at + Duration::seconds(15));
    assert!(second.commits.is_empty());
    assert_eq!(second.joined.len(), 2);
    assert!(second.joined.iter().all(|(_, c)| c == other));
}

#[test]
fn the_side_is_the_quote_at_the_print() {
    let mut e = engine(&[]);
    let at = t("2026-03-10T15:00:00Z");
    // Sold at the bid: a call sold is bearish; Sweeps' score loses its 20
    // side points (40 + 1 + 0 + 15 = 56 < 60), Golden posts it bearish.
    let mut shell = Shell { cursor: None, prints: sweep(CALL, at, 4, 400.0, 12.1), quote: (12.1, 12.3) };
    let p = poll(&mut e, &mut shell, at + Duration::seconds(5));
    assert_eq!(p.commits.len(), 1, "{:?}", p.suppressed);
    assert_eq!(p.commits[0].bot, crate::job::Bot::GoldenSweeps);
    assert_eq!((p.commits[0].alert.side, p.commits[0].alert.sentiment), (Side::Bid, Sentiment::Bearish));
    assert!(p.suppressed.iter().any(|s| s.starts_with("sweeps: score")), "{:?}", p.suppressed);
}

/// Where the task's first read starts, from a stored cursor.
fn first_read(stored: Option<String>, at: DateTime<Utc>) -> Option<i64> {
    let mut e = engine(&[]);
    let mut task = e.start_prints();
    let mut stored = stored;
    for _ in 0..10 {
        match e.poll(&mut task, at) {
            Step::Need(Need::UnusualTrades { from_ns, .. }) => return Some(from_ns),
            Step::Need(Need::Cursor { .. }) => task.answer(Answer::Cursor(stored.take())),
            Step::Need(_) => task.answer(Answer::FlowHistory(Vec::new())),
            _ => {}
        }
    }
    None
}

#[test]
fn only_a_cursor_of_today_not_ahead_of_the_clock_is_resumed() {
    let at = t("2026-03-10T15:00:00Z");
    let cursor = |when: DateTime<Utc>| {
        Some(crate::orders::PrintsCursor { sip_timestamp: ns(when), ..Default::default() }.to_text())
    };
    let fresh = Some(ns(at - Duration::minutes(5)));
    assert_eq!(first_read(cursor(at - Duration::seconds(30)), at), Some(ns(at - Duration::seconds(30))));
    assert_eq!(first_read(cursor(at - Duration::days(1)), at), fresh, "yesterday's prints are history");
    // Ahead of the clock (a replay started again from earlier, a clock
    // stepped back): read again from a first read's start.
    assert_eq!(first_read(cursor(at + Duration::minutes(2)), at), fresh);
    assert_eq!(first_read(None, at), fresh);
    assert_eq!(first_read(Some("not a cursor".into()), at), fresh);
}

#[test]
fn a_block_posts_only_when_the_families_may_post_more_than_sweeps() {
    let at = t("2026-03-10T15:00:00Z");
    // One print of 2,000 contracts at the ask, $2.4M: a block, not a sweep.
    let mut prints = sweep(CALL, at, 1, 2_000.0, 12.0);
    prints[0].conditions = vec![209];
    let mut e = engine(&[]);
    let mut shell = Shell { cursor: None, prints: prints.clone(), quote: (11.9, 12.0) };
    let p = poll(&mut e, &mut shell, at + Duration::seconds(5));
    assert!(p.commits.is_empty());
    assert_eq!(p.needs, ["history", "cursor", "prints"], "rejected before any request");
    let mut e = engine(&[("SWEEPS_REQUIRE_ISO", "false")]);
    let mut shell = Shell { cursor: None, prints, quote: (11.9, 12.0) };
    let p = poll(&mut e, &mut shell, at + Duration::seconds(5));
    assert_eq!(p.commits.len(), 2, "{:?}", p.suppressed);
    for c in &p.commits {
        assert_eq!(c.alert.label, "block: 1 print (largest 2000 contracts) on 1 exchange(s)");
        assert!(!crate::bots::label_confirms_sweep(&c.alert.label));
    }
}

#[test]
fn a_print_published_a_moment_late_is_still_read() {
    let mut e = engine(&[]);
    let t0 = t("2026-03-10T15:00:00Z");
    // At 15:00:10 the tape shows a print at :09.7 outside the watchlist
    // (taken up at once, no order to wait for); the sweep at :09.5 reaches
    // the feed only after that poll. The cursor stays a second back, so the
    // next read finds it.
    let other = sweep(AAPL, t0 + Duration::milliseconds(9_700), 1, 500.0, 10.0);
    let mut shell = Shell { cursor: None, prints: other, quote: (12.1, 12.23) };
    let first = poll(&mut e, &mut shell, t0 + Duration::seconds(10));
    assert!(first.commits.is_empty() && first.suppressed.is_empty());
    shell.prints.extend(sweep(CALL, t0 + Duration::milliseconds(9_500), 4, 400.0, 12.23));
    let second = poll(&mut e, &mut shell, t0 + Duration::seconds(15));
    assert_eq!(second.commits.len(), 2, "{:?} {:?}", second.needs, second.suppressed);
}
