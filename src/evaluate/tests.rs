//! The scoring on hand-built alerts and truth lines; every expected figure
//! is worked out by hand in the comments, never read back from the code.
//! The day is 2026-03-09 (EDT, UTC−4): 14:00Z is 10:00 ET.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::alert::Alert;

fn at(hms: &str) -> DateTime<Utc> {
    let t = chrono::NaiveTime::parse_from_str(hms, "%H:%M:%S").unwrap();
    Utc.from_utc_datetime(&chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap().and_time(t))
}

fn alert(bot: Bot, ticker: &str, contract: Option<&str>, hms: &str) -> Alert {
    let id = format!("{}:{ticker}:{}:{hms}", bot.as_str(), contract.unwrap_or("-"));
    let mut a = Alert::new(id, bot, at(hms), ticker);
    a.contract = contract.map(str::to_string);
    a
}

fn flow(bot: Bot, contract: &str, hms: &str, premium: f64, sentiment: Sentiment) -> Alert {
    let mut a = alert(bot, "SPY", Some(contract), hms);
    a.premium = Some(premium);
    a.sentiment = sentiment;
    a
}

fn planned(bot: Bot, hms: &str, sentiment: Sentiment, entry: f64, stop: f64, target: f64) -> Alert {
    let mut a = alert(bot, "SPY", None, hms);
    a.sentiment = sentiment;
    a.entry = Some(entry);
    a.stop = Some(stop);
    a.targets = Some(vec![target, target + (target - entry)]);
    a.pattern = Some("2-1-2 bull".into());
    a
}

fn truth(id: &str, hms: &str, symbol: &str, contract: Option<&str>, expected: &[Bot], near: &[Bot]) -> TruthLine {
    TruthLine {
        id: id.into(),
        at: at(hms),
        kind: "test".into(),
        symbol: symbol.into(),
        contract: contract.map(str::to_string),
        expected_bots: expected.to_vec(),
        near_miss: !near.is_empty(),
        near_miss_bots: near.to_vec(),
        why: String::new(),
        prints_at: None,
    }
}

fn facts() -> RunFacts {
    RunFacts { from: at("13:30:00"), to: at("20:00:00"), ..RunFacts::default() }
}

#[test]
fn matching_windows_and_instruments() {
    let sweep = truth("e1", "14:00:00", "SPY", Some("C1"), &[Bot::Sweeps], &[]);
    let dark = truth("e2", "14:00:00", "CSCO", None, &[Bot::Darkpool], &[]);
    let strat = truth("e3", "14:00:00", "CSCO", None, &[Bot::Strat], &[]);
    let cases = [
        // The options window is [at, at + 2 min], both edges inclusive.
        (alert(Bot::Sweeps, "SPY", Some("C1"), "14:00:00"), &sweep, Bot::Sweeps, true),
        (alert(Bot::Sweeps, "SPY", Some("C1"), "14:02:00"), &sweep, Bot::Sweeps, true),
        (alert(Bot::Sweeps, "SPY", Some("C1"), "14:02:01"), &sweep, Bot::Sweeps, false),
        (alert(Bot::Sweeps, "SPY", Some("C1"), "13:59:59"), &sweep, Bot::Sweeps, false),
        // Another contract of the underlying, or another underlying.
        (alert(Bot::Sweeps, "SPY", Some("C2"), "14:00:30"), &sweep, Bot::Sweeps, false),
        (alert(Bot::Sweeps, "QQQ", Some("C1"), "14:00:30"), &sweep, Bot::Sweeps, false),
        // The alert must be of the family asked about.
        (alert(Bot::OraklFlow, "SPY", Some("C1"), "14:00:30"), &sweep, Bot::Sweeps, false),
        // Darkpool and Breakouts: 2 minutes too; no contract to compare.
        (alert(Bot::Darkpool, "CSCO", None, "14:02:00"), &dark, Bot::Darkpool, true),
        (alert(Bot::Darkpool, "CSCO", None, "14:02:01"), &dark, Bot::Darkpool, false),
        // STRAT: 65 minutes (an hourly job after the trigger bar closes).
        (alert(Bot::Strat, "CSCO", None, "15:05:00"), &strat, Bot::Strat, true),
        (alert(Bot::Strat, "CSCO", None, "15:05:01"), &strat, Bot::Strat, false),
    ];
    for (a, t, bot, want) in cases {
        assert_eq!(matches(&a, t, bot, match_window(bot, Duration::zero())), want, "{} against {}", a.id, t.id);
    }
    // 200 symbols, 10 a firing: a symbol comes round every 20 firings, so
    // STRAT (hourly) may see it 19 hours late: 65 min + 19 h.
    let late = alert(Bot::Strat, "CSCO", None, "14:00:00");
    let mut late = late;
    late.at = at("14:00:00") + Duration::hours(20) + Duration::minutes(5);
    assert!(!matches(&late, &strat, Bot::Strat, match_window(Bot::Strat, Duration::zero())));
    assert!(matches(&late, &strat, Bot::Strat, match_window(Bot::Strat, Duration::hours(19))));
    // The same through the scorecard, whose windows come from the run.
    let lines = [strat.clone()];
    assert_eq!(score(std::slice::from_ref(&late), &[], &lines, &facts()).recall.recalled, 0);
    let mut run = facts();
    run.visit_delay_s.insert(Bot::Strat, 19 * 3600);
    let card = score(&[late], &[], &lines, &run);
    assert_eq!((card.recall.recalled, card.recall.match_window_s[&Bot::Strat]), (1, 65 * 60 + 19 * 3600));
    assert_eq!(card.recall.match_window_s[&Bot::Sweeps], 120);
}

/// A small day: two events (one alerted by one of its two families), two
/// near-misses (one fired), a line that expects nothing, six alerts.
fn small_day() -> (Vec<Alert>, Vec<TruthLine>) {
    let truth = vec![
        truth("e1", "14:00:00", "SPY", Some("C1"), &[Bot::Sweeps, Bot::OraklFlow], &[]),
        truth("e2", "14:30:00", "CSCO", None, &[Bot::Darkpool], &[]),
        truth("e3", "15:00:00", "SPY", Some("C3"), &[], &[Bot::GoldenSweeps]),
        truth("e4", "15:10:00", "SPY", Some("C4"), &[], &[Bot::Sweeps]),
        truth("e5", "15:20:00", "SPY", None, &[], &[]),
    ];
    let mut dark = alert(Bot::Darkpool, "CSCO", None, "14:31:30");
    dark.notional = Some(2_000_000.0);
    let alerts = vec![
        flow(Bot::Sweeps, "C1", "14:00:15", 100_000.0, Sentiment::Bullish), // a1: ties e1
        flow(Bot::Sweeps, "C1", "14:01:00", 150_000.0, Sentiment::Bullish), // a2: ties e1; < 2 × a1
        flow(Bot::Sweeps, "C2", "14:05:00", 300_000.0, Sentiment::Bullish), // a3: other contract; = 2 × a2
        flow(Bot::Sweeps, "C4", "15:10:20", 60_000.0, Sentiment::Bearish),  // a4: the near-miss e4 fired
        dark,                                                               // a5: ties e2
        flow(Bot::Sweeps, "C5", "15:13:00", 70_000.0, Sentiment::Bullish),  // a6: flips a4's direction
    ];
    (alerts, truth)
}

#[test]
fn recall_near_misses_and_precision_on_a_small_day() {
    let (alerts, truth) = small_day();
    let card = score(&alerts, &[], &truth, &facts());

    // Events are e1 and e2 (e3 and e4 are near-misses, e5 expects nothing);
    // e1 is recalled by sweeps (a1, 15 s after it) but not by orakl_flow,
    // e2 by darkpool (a5, 1 min 30 s = 90 s after it).
    assert_eq!((card.recall.events, card.recall.recalled, card.recall.lines_without_expectation), (2, 2, 1));
    let fam = |b: Bot| card.recall.by_family[&b].clone();
    assert_eq!((fam(Bot::Sweeps).expected, fam(Bot::Sweeps).alerted, fam(Bot::Sweeps).latency_max_s), (1, 1, Some(15)));
    assert_eq!(
        (fam(Bot::OraklFlow).expected, fam(Bot::OraklFlow).alerted, fam(Bot::OraklFlow).latency_max_s),
        (1, 0, None)
    );
    assert_eq!(fam(Bot::Darkpool).latency_median_s, Some(90.0));
    assert_eq!(card.recall.missed.len(), 1);
    let missed = &card.recall.missed[0];
    assert_eq!(
        (missed.id.as_str(), missed.missing.as_slice(), missed.alerted.as_slice()),
        ("e1", &[Bot::OraklFlow][..], &[Bot::Sweeps][..])
    );

    // e4 fired (a4: sweeps on C4 20 s after it); e3 stayed silent.
    assert_eq!((card.near_misses.lines, card.near_misses.fired), (2, 1));
    assert_eq!(card.near_misses.fired_lines[0].id, "e4");
    assert_eq!(card.near_misses.by_family[&Bot::GoldenSweeps], NearMissFamily { lines: 1, fired: 0 });
    assert_eq!(card.near_misses.by_family[&Bot::Sweeps], NearMissFamily { lines: 1, fired: 1 });

    // Sweeps: 5 alerts, tied a1 and a2 (a3 is another contract, a4 a
    // near-miss, a6 nothing) → 2/5 = 0.4; darkpool 1/1; in all 3/6 = 0.5.
    assert_eq!(card.precision[&Bot::Sweeps], Precision { alerts: 5, tied: 2, precision: Some(0.4) });
    assert_eq!(card.precision[&Bot::Darkpool], Precision { alerts: 1, tied: 1, precision: Some(1.0) });
    assert_eq!(card.precision[&Bot::Scalps], Precision { alerts: 0, tied: 0, precision: None });
    assert_eq!(card.precision_total, Precision { alerts: 6, tied: 3, precision: Some(0.5) });
    assert_eq!(card.alerts.total, 6);
    assert_eq!(card.alerts.by_family[&Bot::Sweeps], 5);
    assert_eq!(card.alerts.by_day.len(), 1);
}

#[test]
fn fan_out_counts_pairs_without_a_twofold_escalation() {
    let (alerts, truth) = small_day();
    let card = score(&alerts, &[], &truth, &facts());
    // The bullish SPY sweeps stream is a1 14:00:15 $100k, a2 14:01:00
    // $150k, a3 14:05:00 $300k, a6 15:13:00 $70k:
    // (a1, a2): 45 s apart, 150k < 2 × 100k → a pair;
    // (a1, a3): 300k ≥ 200k → escalation; (a2, a3): 300k = 2 × 150k →
    // escalation (twice is enough); a6 is 68 min after a3 → outside.
    // a4 is bearish (another stream); a5 is alone on CSCO.
    assert_eq!((card.fanout.pairs, card.fanout.alerts_in_pairs), (1, 1));
    assert_eq!(card.fanout.by_family[&Bot::Sweeps], FanoutFamily { pairs: 1, alerts_in_pairs: 1 });

    // Three more $100k bullish sweeps at 14:20:00, 14:27:00 and 14:35:01:
    // (a3 $300k 14:05, 14:20:00) is 15 min exactly → a pair (inclusive);
    // (14:20, 14:27) → a pair; (a3, 14:27) is 22 min → outside;
    // (14:20, 14:35:01) is 15 min 1 s → outside; (14:27, 14:35:01) → a pair.
    // 1 + 3 = 4 pairs, each of the three new alerts in one.
    let mut more = alerts.clone();
    for hms in ["14:20:00", "14:27:00", "14:35:01"] {
        more.push(flow(Bot::Sweeps, "C9", hms, 100_000.0, Sentiment::Bullish));
    }
    let card = score(&more, &[], &truth, &facts());
    assert_eq!((card.fanout.pairs, card.fanout.alerts_in_pairs), (4, 4));

    // Scalps without premiums: the same setup twice is a pair; a new setup
    // (another stop) is an escalation.
    let scalps = vec![
        planned(Bot::Scalps, "14:00:00", Sentiment::Bullish, 100.0, 99.0, 101.0),
        planned(Bot::Scalps, "14:05:00", Sentiment::Bullish, 100.2, 98.0, 101.0),
        planned(Bot::Scalps, "14:14:00", Sentiment::Bullish, 100.1, 99.0, 101.0),
    ];
    // (1, 2): stops 99 vs 98 → new setup; (1, 3): same pattern, stop 99
    // and target 101 → a pair; (2, 3): stops differ → new setup.
    let card = score(&scalps, &[], &[], &facts());
    assert_eq!(card.fanout.by_family[&Bot::Scalps], FanoutFamily { pairs: 1, alerts_in_pairs: 1 });
}

#[test]
fn reward_risk_and_direction_of_published_plans() {
    let alerts = vec![
        // p1: reward 1, risk 1 → exactly 1.0, not below.
        planned(Bot::Scalps, "14:00:00", Sentiment::Bullish, 100.0, 99.0, 101.0),
        // p2: reward 1, risk 2 → 0.5, below.
        planned(Bot::Scalps, "14:20:00", Sentiment::Bullish, 100.0, 98.0, 101.0),
        // p3: 2.57 either side of 673.10 at cent ticks: 1:1, though the
        // float ratio is 0.99999999999996 → not below.
        planned(Bot::Scalps, "14:40:00", Sentiment::Bullish, 673.10, 670.53, 675.67),
        // p4: bearish sentiment, long plan (target above entry): reward 1,
        // risk 2 → 0.5 below, and a contradiction.
        planned(Bot::Bullseye, "14:00:00", Sentiment::Bearish, 50.0, 48.0, 51.0),
        // p5: neutral sentiment, short plan: reward 3, risk 1 → 3.0.
        planned(Bot::Strat, "14:00:00", Sentiment::Neutral, 20.0, 21.0, 17.0),
        // p6: a long plan whose stop is above its entry → invalid.
        planned(Bot::Breakouts, "14:00:00", Sentiment::Bullish, 10.0, 10.5, 11.0),
        // p7: bullish with a short plan (target under entry): reward 2,
        // risk 1 → 2.0, not below, a contradiction.
        planned(Bot::Strat, "15:00:00", Sentiment::Bullish, 30.0, 31.0, 28.0),
        // p8: a short plan (stop above) whose target is its entry: reward
        // 0, risk 1 → 0 (not −0), below.
        planned(Bot::Strat, "15:30:00", Sentiment::Bearish, 30.0, 31.0, 30.0),
    ];
    let card = score(&alerts, &[], &[], &facts());
    // 8 plans; below 1R: p2, p4, p8; invalid: p6.
    assert_eq!((card.plans.published, card.plans.below_1r, card.plans.invalid), (8, 3, 1));
    let listed: Vec<(&str, Option<f64>)> =
        card.plans.below_1r_alerts.iter().map(|r| (r.ticker.as_str(), r.reward_risk)).collect();
    // In alert order, (time, id): p6 and p4 at 14:00 ("breakouts:..." sorts
    // before "bullseye:..."), p2 at 14:20, p8 at 15:30.
    assert_eq!(listed, [("SPY", None), ("SPY", Some(0.5)), ("SPY", Some(0.5)), ("SPY", Some(0.0))]);
    let bots: Vec<Bot> = card.plans.below_1r_alerts.iter().map(|r| r.bot).collect();
    assert_eq!(bots, [Bot::Breakouts, Bot::Bullseye, Bot::Scalps, Bot::Strat]);
    // Scalps: ratios 1.0, 0.5, 1.0 → min 0.5, median 1.0.
    let scalps = &card.plans.by_family[&Bot::Scalps];
    assert_eq!(
        (scalps.published, scalps.below_1r, scalps.min_reward_risk, scalps.median_reward_risk),
        (3, 1, Some(0.5), Some(1.0))
    );
    // STRAT: 3.0, 2.0 and 0 → median 2.0, min 0 (a positive zero).
    let strat = &card.plans.by_family[&Bot::Strat];
    assert_eq!((strat.median_reward_risk, strat.min_reward_risk), (Some(2.0), Some(0.0)));
    assert!(strat.min_reward_risk.is_some_and(f64::is_sign_positive));
    assert_eq!(card.plans.by_family[&Bot::Breakouts].invalid, 1);

    // Contradictions: p4 (bearish, long) and p7 (bullish, short); p5 is a
    // plan under a neutral sentiment.
    assert_eq!((card.direction.contradictions, card.direction.neutral_with_plan), (2, 1));
    let rows: Vec<(Bot, &str)> = card.direction.contradiction_alerts.iter().map(|c| (c.bot, c.plan)).collect();
    assert_eq!(rows, [(Bot::Bullseye, "long"), (Bot::Strat, "short")]);
}

#[test]
fn direction_flips_within_five_minutes() {
    let (alerts, truth) = small_day();
    // Sweeps on SPY in time order: bullish a1, a2, a3 (14:00–14:05), bearish
    // a4 at 15:10:20 (65 min after a3: no flip), bullish a6 at 15:13:00
    // (2 min 40 s after a4: a flip).
    let card = score(&alerts, &[], &truth, &facts());
    assert_eq!(card.direction.flips, 1);
    // A bearish alert 5 min 1 s after a6 is not a flip; one 5 min after is.
    let mut late = alerts.clone();
    late.push(flow(Bot::Sweeps, "C6", "15:18:01", 70_000.0, Sentiment::Bearish));
    assert_eq!(score(&late, &[], &truth, &facts()).direction.flips, 1);
    let mut edge = alerts;
    edge.push(flow(Bot::Sweeps, "C6", "15:18:00", 70_000.0, Sentiment::Bearish));
    assert_eq!(score(&edge, &[], &truth, &facts()).direction.flips, 2);
}

#[test]
fn channel_minutes_against_discords_limits() {
    let mut alerts = Vec::new();
    // 31 Scalps alerts one a second from 14:00:00 to 14:00:30: minute 14:00
    // holds 31 (> 30: one minute over); 2-second slots hold 2 each (the
    // last, 14:00:30, holds 1).
    for s in 0..31 {
        alerts.push(alert(Bot::Scalps, "SPY", Some(&format!("C{s}")), &format!("14:00:{s:02}")));
    }
    // 6 at 14:01:10: one 2-second slot of 6 (> 5: one slot over).
    for k in 0..6 {
        alerts.push(alert(Bot::Scalps, "SPY", Some(&format!("D{k}")), "14:01:10"));
    }
    // 30 in minute 14:05, two seconds apart: exactly the limit, not over.
    for k in 0..30 {
        alerts.push(alert(Bot::Scalps, "SPY", Some(&format!("E{k}")), &format!("14:05:{:02}", 2 * k)));
    }
    alerts.push(alert(Bot::Darkpool, "CSCO", None, "14:00:00"));
    let card = score(&alerts, &[], &[], &facts());
    let scalps = &card.channels.by_family[&Bot::Scalps];
    assert_eq!((scalps.peak_per_minute, scalps.peak_minute, scalps.minutes_over_limit), (31, Some(at("14:00:00")), 1));
    assert_eq!((scalps.peak_per_2s, scalps.slots_over_2s_limit), (6, 1));
    assert_eq!(card.channels.by_family[&Bot::Darkpool].peak_per_minute, 1);
    assert_eq!(card.channels.minutes_over_limit, 1);
}

#[test]
fn noise_late_alerts_repeats_unconfirmed_and_implausible() {
    // 19:44:59Z is 15:44:59 EDT: before the cutoff; 19:45:00Z is on it.
    let mut golden = flow(Bot::GoldenSweeps, "C2", "15:00:00", 600_000_000.0, Sentiment::Bullish);
    golden.label = crate::flow::UNCONFIRMED_LABEL.to_string();
    let mut confirmed = flow(Bot::Sweeps, "C2", "15:01:00", 80_000.0, Sentiment::Bullish);
    confirmed.label = "sweep confirmed: 3 ISO prints on 2 exchanges".into();
    // ISO prints on one exchange are not a sweep either.
    let mut one_venue = flow(Bot::Sweeps, "C3", "15:04:00", 80_000.0, Sentiment::Bullish);
    one_venue.label = "flow (unconfirmed): 1 ISO print on 1 exchange".into();
    let alerts = vec![
        one_venue,
        alert(Bot::Scalps, "SPY", Some("C1"), "19:44:59"),
        alert(Bot::Scalps, "SPY", Some("C1"), "19:45:00"),
        alert(Bot::Darkpool, "SPY", None, "19:59:00"),
        golden,
        confirmed,
        flow(Bot::Sweeps, "C2", "15:02:00", 80_000.0, Sentiment::Bullish),
        flow(Bot::Sweeps, "C2", "15:03:00", 80_000.0, Sentiment::Bullish),
    ];
    let card = score(&alerts, &[], &[], &facts());
    assert_eq!(card.noise.after_cutoff, BTreeMap::from([(Bot::Scalps, 1), (Bot::Darkpool, 1)]));
    // Scalps on C1 twice, Sweeps on C2 three times (golden's C2 once is
    // another family) → 2 repeated, at most 3.
    assert_eq!((card.noise.repeat_contracts, card.noise.max_alerts_one_contract), (2, 3));
    // The golden sweep and the one-exchange Sweeps alert carry an
    // unconfirmed label (the two plain sweeps have no label at all, the
    // third is confirmed).
    assert_eq!((card.noise.unconfirmed_sweeps, card.noise.implausible_premium), (2, 1));
}

#[test]
fn the_scorecard_is_the_same_bytes_whatever_the_alerts_order() {
    let (alerts, truth) = small_day();
    let mut reversed = alerts.clone();
    reversed.reverse();
    let (a, b) = (score(&alerts, &[], &truth, &facts()), score(&reversed, &[], &truth, &facts()));
    assert_eq!(render_json(&a), render_json(&b));
    assert_eq!(render_text(&a), render_text(&b));
    // The JSON's top-level fields, as the README documents them (a parsed
    // object lists its keys sorted).
    let v: serde_json::Value = serde_json::from_str(&render_json(&a)).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let want = [
        "alerts",
        "channels",
        "direction",
        "fanout",
        "near_misses",
        "noise",
        "plans",
        "precision",
        "precision_total",
        "recall",
        "run",
        "version",
    ];
    assert_eq!(keys, want);
    assert_eq!(v["recall"]["missed"][0]["missing"][0], "orakl_flow");
    assert_eq!(v["precision"]["sweeps"]["precision"], 0.4);
    // The text names what went wrong.
    let text = render_text(&a);
    assert!(text.contains("e1 10:00:00 test SPY C1 — no orakl_flow (alerted: sweeps)"), "{text}");
    assert!(text.contains("e4 11:10:00 test SPY C4 — by sweeps"), "{text}");
}

#[test]
fn updates_are_counted_per_family_and_named_beside_an_event_they_answer_but_are_not_alerts() {
    // The post answers nothing; the update's hit is the event's contract,
    // 30 s after it (inside the 2-minute window).
    let post = flow(Bot::Sweeps, "C0", "14:00:00", 100_000.0, Sentiment::Bullish);
    let update = |id: &str, contract: &str, hms: &str| Update {
        update_of: post.id.clone(),
        id: id.into(),
        bot: Bot::Sweeps,
        at: at(hms),
        ticker: "SPY".into(),
        contract: Some(contract.into()),
        hits: 2,
        premium_total: Some(150_000.0),
        top_contracts: Vec::new(),
    };
    let updates = [update("u1", "C1", "14:05:30"), update("u2", "C2", "14:06:00")];
    let truth = [truth("e1", "14:05:00", "SPY", Some("C1"), &[Bot::Sweeps], &[])];
    let card = score(std::slice::from_ref(&post), &updates, &truth, &facts());
    assert_eq!((card.alerts.total, card.alerts.updates), (1, 2));
    assert_eq!(card.alerts.updates_by_family[&Bot::Sweeps], 2);
    assert_eq!(card.alerts.updates_by_family[&Bot::Scalps], 0);
    // Still missed (recall is over posts), and said to have joined an episode.
    assert_eq!(card.recall.recalled, 0);
    assert_eq!((card.recall.by_family[&Bot::Sweeps].alerted, card.recall.by_family[&Bot::Sweeps].updated), (0, 1));
    assert_eq!(card.recall.missed[0].updated, [Bot::Sweeps]);
    assert_eq!(card.precision[&Bot::Sweeps].alerts, 1);
    let text = render_text(&card);
    assert!(text.contains("joined an open episode: sweeps"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&render_json(&card)).unwrap();
    assert_eq!(json["alerts"]["updates"], 2);
}

#[test]
fn an_event_that_joined_the_post_of_its_own_move_is_recalled_by_that_post() {
    // One move, two contracts of the same instant: the larger hit posts,
    // the event's contract joins its episode. The post is the move's
    // alert: it answers the event and is tied.
    let post = flow(Bot::Scalps, "C0", "14:05:01", 100_000.0, Sentiment::Bullish);
    let joined = Update {
        update_of: post.id.clone(),
        id: "u1".into(),
        bot: Bot::Scalps,
        at: at("14:05:01"),
        ticker: "SPY".into(),
        contract: Some("C1".into()),
        hits: 2,
        premium_total: Some(110_000.0),
        top_contracts: Vec::new(),
    };
    let truth = [truth("e1", "14:05:00", "SPY", Some("C1"), &[Bot::Scalps], &[])];
    let card = score(std::slice::from_ref(&post), std::slice::from_ref(&joined), &truth, &facts());
    assert_eq!(card.recall.recalled, 1);
    let fam = &card.recall.by_family[&Bot::Scalps];
    assert_eq!((fam.alerted, fam.by_move, fam.updated), (1, 1, 0));
    assert!(card.recall.missed.is_empty());
    assert_eq!(card.precision[&Bot::Scalps].tied, 1);
    // The same update of a post made before the event: folded into an
    // earlier move, still missed.
    let earlier = flow(Bot::Scalps, "C0", "14:04:00", 100_000.0, Sentiment::Bullish);
    let folded = Update { update_of: earlier.id.clone(), ..joined.clone() };
    let card = score(std::slice::from_ref(&earlier), std::slice::from_ref(&folded), &truth, &facts());
    assert_eq!(card.recall.recalled, 0);
    assert_eq!(card.recall.missed[0].updated, [Bot::Scalps]);
    assert_eq!(card.precision[&Bot::Scalps].tied, 0);
    // Another family's post of the same id shape answers nothing.
    let other = flow(Bot::Sweeps, "C0", "14:05:01", 100_000.0, Sentiment::Bullish);
    let card = score(std::slice::from_ref(&other), std::slice::from_ref(&joined), &truth, &facts());
    assert_eq!(card.recall.recalled, 0);
}

#[test]
fn alerts_of_one_instant_pair_only_when_neither_escalates_the_other() {
    // A post of $100K and, in the same firing, its episode's escalation
    // reporting $250K: whichever id sorts first, no pair.
    let post = flow(Bot::Sweeps, "C9", "14:00:00", 100_000.0, Sentiment::Bullish);
    let escalation = flow(Bot::Sweeps, "C1", "14:00:00", 250_000.0, Sentiment::Bullish);
    assert!(escalation.id < post.id, "the escalation sorts first");
    assert_eq!(score(&[post.clone(), escalation], &[], &[], &facts()).fanout.pairs, 0);
    // Two of one instant, neither 2x the other: one pair.
    let close = flow(Bot::Sweeps, "C1", "14:00:00", 150_000.0, Sentiment::Bullish);
    assert_eq!(score(&[post, close], &[], &[], &facts()).fanout.pairs, 1);
}

#[test]
fn print_latency_is_measured_from_the_first_print() {
    // Three sweeps printed 100 ms before their snapshot second; alerted 2,
    // 4 and 9 seconds after it.
    let mut truth_lines = Vec::new();
    let mut alerts = Vec::new();
    for (k, (hms, alerted)) in
        [("14:00:00", "14:00:02"), ("14:10:00", "14:10:04"), ("14:20:00", "14:20:09")].iter().enumerate()
    {
        let contract = format!("C{k}");
        let mut t = truth(&format!("e{k}"), hms, "SPY", Some(&contract), &[Bot::Sweeps], &[]);
        t.prints_at = Some(at(hms) - Duration::milliseconds(100));
        truth_lines.push(t);
        alerts.push(flow(Bot::Sweeps, &contract, alerted, 100_000.0, Sentiment::Bullish));
    }
    // An event without prints is not in the figure.
    truth_lines.push(truth("e9", "15:00:00", "SPY", Some("C9"), &[Bot::Sweeps], &[]));
    alerts.push(flow(Bot::Sweeps, "C9", "15:00:30", 100_000.0, Sentiment::Bullish));
    let card = score(&alerts, &[], &truth_lines, &facts());
    let p = card.recall.by_family[&Bot::Sweeps].print_latency.clone().expect("measured");
    assert_eq!((p.events, p.p50_s, p.p95_s, p.max_s), (3, 4.1, 9.1, 9.1));
    assert!(!card.recall.by_family.contains_key(&Bot::Darkpool));
}
