//! A webhook's backlog goes out as few messages: up to 10 embeds and 6000
//! characters each, every alert of a message marked sent with its id and
//! its place, an episode's edit re-rendering the whole message, and a
//! failed message leaving all its alerts pending for one later delivery.
//! The whole service runs on the simulated clock against a loopback
//! Discord; the alerts are committed to the store before it starts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orakl::alert::{Alert, ContractType, Side};
use orakl::clock::SimClock;
use orakl::config::Config;
use orakl::discord::{check_limits, pack, render, render_batch, render_message_update};
use orakl::engine::episode::{Episode, TopContract, Update};
use orakl::job::Bot;
use orakl::notify::Notifier;
use orakl::schedule::Timetable;
use orakl::service::{Delivered, Delivery, Service, Settings};
use orakl::store::{AlertStatus, Joined, Store};
use serde_json::Value;

use crate::discord::schema_errors;
use crate::service::{TOKEN, ok_message, t0};
use crate::support::fake_http::{FakeServer, Recorded, Reply};
use crate::support::logcap;

const HOOK: &str = "123456789012345678";

/// A Sweeps alert on its own contract, committed at `t0()`.
fn alert(i: usize) -> Alert {
    let contract = format!("O:SPY260320C00{:03}000", 600 + i);
    let mut a = Alert::new(format!("sweeps:{contract}:{i}"), Bot::Sweeps, t0(), "SPY");
    a.contract = Some(contract);
    a.contract_type = Some(ContractType::Call);
    a.strike = Some(600.0 + i as f64);
    a.spot = Some(598.5);
    a.premium = Some(250_000.0 + 1000.0 * i as f64);
    a.volume_delta = Some(500.0);
    a.avg_price = Some(5.0);
    a.side = Side::Ask;
    a.label = "flow (unconfirmed)".into();
    a
}

fn commit(db: &std::path::Path, alerts: &[Alert]) {
    let mut store = Store::open(db).unwrap();
    for a in alerts {
        assert!(store.commit_alert(a, None, None, t0()).unwrap());
    }
}

/// Runs the service (the heartbeat only: no scan commits anything) from
/// `start` for `span` against the Discord at `discord`; returns the logs.
fn run(db: &std::path::Path, discord: &str, start: DateTime<Utc>, span: Duration) -> Vec<String> {
    let vars: BTreeMap<String, String> =
        [("DISCORD_WEBHOOK_URL".to_string(), format!("{discord}/api/webhooks/{HOOK}/{TOKEN}"))].into();
    let cfg = Config::from_vars(&vars).unwrap();
    let tt = Timetable::parse("schedule.cron", "0 */5 * * * * heartbeat session=any\n").unwrap();
    let settings = Settings::validate(&cfg, &tt, false).unwrap();
    let clock = Arc::new(SimClock::new(start));
    let delivery = Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled());
    logcap::install();
    logcap::take();
    clock.shutdown_after(span);
    let mut svc = Service::new(cfg, clock.clone(), Store::open(db).unwrap(), delivery, Notifier::disabled()).unwrap();
    svc.run(&tt);
    logcap::take_lines()
}

/// The alert ids a request's embeds carry, from their footers.
fn embed_ids(req: &Recorded) -> Vec<String> {
    let body = req.body_json();
    body["embeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["footer"]["text"].as_str().unwrap().split(" · ").next().unwrap().to_string())
        .collect()
}

/// An alert id with its message id and place among the message's embeds.
type Mark = (String, Option<String>, Option<u32>);

/// Every alert's mark and status.
fn marks(db: &std::path::Path) -> (Vec<Mark>, Vec<AlertStatus>) {
    let store = Store::open(db).unwrap();
    let entries = store.alerts_since(t0()).unwrap();
    let marks = entries.iter().map(|e| (e.alert.id.clone(), e.message_id.clone(), e.embed_index)).collect();
    (marks, entries.iter().map(|e| e.status).collect())
}

#[test]
fn a_backlog_of_12_goes_out_as_two_messages_of_10_and_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let alerts: Vec<Alert> = (0..12).map(alert).collect();
    commit(&db, &alerts);
    let hook = crate::service::discord(ok_message);
    let logs = run(&db, &hook.url(), t0(), Duration::from_secs(10));

    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2, "{}", logs.join("\n"));
    let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(embed_ids(&reqs[0]), ids[..10]);
    assert_eq!(embed_ids(&reqs[1]), ids[10..]);
    for r in &reqs {
        let body = r.body_json();
        assert_eq!(check_limits(&body), Vec::<String>::new());
        assert_eq!(schema_errors(&body), Vec::<String>::new());
        assert_eq!(body["username"], "Unusual Flow");
    }
    // Each embed is the alert's own, as it would be posted alone.
    assert_eq!(reqs[1].body_json()["embeds"][1], render(&alerts[11])["embeds"][0]);

    let (marks, statuses) = marks(&db);
    assert!(statuses.iter().all(|s| *s == AlertStatus::Sent), "{statuses:?}");
    let want: Vec<Mark> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (message, index) = if i < 10 { (0, i) } else { (1, i - 10) };
            (id.clone(), Some(format!("99000000000000{message:04}")), Some(index as u32))
        })
        .collect();
    assert_eq!(marks, want);
    let sent: Vec<&String> = logs.iter().filter(|l| l.contains("event=message_sent")).collect();
    assert_eq!(sent.len(), 2, "{}", logs.join("\n"));
    assert!(sent[0].contains("bot=sweeps") && sent[0].contains(&format!("webhook={HOOK}")), "{}", sent[0]);
    assert!(sent[0].contains("embeds=10") && sent[1].contains("embeds=2"), "{sent:?}");
}

#[test]
fn a_single_pending_alert_goes_alone_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let a = alert(0);
    commit(&db, std::slice::from_ref(&a));
    let hook = crate::service::discord(ok_message);
    run(&db, &hook.url(), t0(), Duration::from_secs(10));
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body_json(), render(&a));
    let (marks, statuses) = marks(&db);
    assert_eq!(statuses, [AlertStatus::Sent]);
    assert_eq!(marks, [(a.id.clone(), Some("990000000000000000".to_string()), None)]);
}

/// An episode's hit on `post` at `at`: its edit and the episode.
fn hit(post: &Alert, at: DateTime<Utc>, hits: u32) -> (Update, Episode) {
    let contract = post.contract.clone().unwrap();
    let total = post.premium.unwrap() * f64::from(hits);
    let update = Update {
        update_of: post.id.clone(),
        id: format!("{}:hit{hits}", post.id),
        bot: post.bot,
        at,
        ticker: post.ticker.clone(),
        contract: Some(contract.clone()),
        hits,
        premium_total: Some(total),
        top_contracts: vec![TopContract { contract: contract.clone(), premium: total, hits }],
    };
    let episode = Episode {
        bot: post.bot,
        key: contract.clone(),
        ticker: post.ticker.clone(),
        opened_at: post.at,
        last_hit_at: at,
        post_id: post.id.clone(),
        hits,
        total: Some(total),
        posted: post.premium,
        posted_at: Some(post.at),
        contracts: update.top_contracts.clone(),
    };
    (update, episode)
}

fn edit_server() -> FakeServer {
    let posts = std::sync::atomic::AtomicUsize::new(0);
    FakeServer::start(move |req: &Recorded| match req.method.as_str() {
        "PATCH" => Reply::json(200, r#"{"id":"990000000000000000","channel_id":"1"}"#),
        _ => ok_message(posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst)),
    })
}

#[test]
fn an_edit_of_the_third_alert_of_a_batch_re_renders_the_whole_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let alerts: Vec<Alert> = (0..5).map(alert).collect();
    commit(&db, &alerts);
    let hook = edit_server();
    run(&db, &hook.url(), t0(), Duration::from_secs(5));

    // A second hit joins the third alert's episode.
    let at = t0() + chrono::Duration::seconds(60);
    let (update, episode) = hit(&alerts[2], at, 2);
    assert_eq!(Store::open(&db).unwrap().commit_update(&update, &episode, None, at).unwrap(), Joined::Committed);
    let logs = run(&db, &hook.url(), at, Duration::from_secs(5));
    let reqs = hook.requests();
    let methods: Vec<&str> = reqs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PATCH"], "{}", logs.join("\n"));
    assert!(reqs[1].path().ends_with("/messages/990000000000000000"), "{}", reqs[1].path());
    let posted = reqs[0].body_json()["embeds"].as_array().unwrap().clone();
    let edited = reqs[1].body_json();
    assert!(edited.get("username").is_none(), "an edit cannot rename the sender");
    assert_eq!(check_limits(&edited), Vec::<String>::new());
    let edited_embeds = edited["embeds"].as_array().unwrap().clone();
    assert_eq!(edited_embeds.len(), 5, "{edited:#}");
    for (i, (before, after)) in posted.iter().zip(&edited_embeds).enumerate() {
        if i == 2 {
            assert_ne!(before, after);
            assert_eq!(after, &render_message_update(&[(&alerts[2], Some(&update))])["embeds"][0]);
        } else {
            assert_eq!(before, after, "embed {i} is unchanged");
        }
    }

    // Then a hit on the first: its edit keeps the third's episode.
    let at2 = at + chrono::Duration::seconds(60);
    let (first, episode) = hit(&alerts[0], at2, 2);
    assert_eq!(Store::open(&db).unwrap().commit_update(&first, &episode, None, at2).unwrap(), Joined::Committed);
    run(&db, &hook.url(), at2, Duration::from_secs(5));
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 3);
    let again = reqs[2].body_json()["embeds"].as_array().unwrap().clone();
    assert_eq!(again[2], edited_embeds[2], "the third keeps its episode");
    assert_eq!(again[0], render_message_update(&[(&alerts[0], Some(&first))])["embeds"][0]);
    assert_eq!(again[1..2], posted[1..2]);
    assert_eq!(again[3..], posted[3..]);
    assert!(Store::open(&db).unwrap().pending_updates().unwrap().is_empty());
}

/// Discord refuses the first message for now (503 on every attempt, then a
/// 429 asking a minute): all its alerts stay pending, and once Discord
/// takes the message each alert has gone out exactly once.
#[test]
fn a_5xx_or_429_on_a_batch_leaves_all_its_alerts_pending_and_they_go_out_once() {
    type Script = fn(usize) -> Reply;
    let failures: [(&str, Script); 2] = [
        ("503", |n| if n < 4 { Reply::json(503, r#"{"message":"upstream unavailable"}"#) } else { ok_message(n) }),
        ("429", |n| {
            if n < 1 {
                Reply::json(429, r#"{"message":"You are being rate limited.","retry_after":60,"global":false}"#)
            } else {
                ok_message(n)
            }
        }),
    ];
    for (what, reply) in failures {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let alerts: Vec<Alert> = (0..3).map(alert).collect();
        commit(&db, &alerts);
        let hook = crate::service::discord(reply);
        // First only as long as the failures take: everything still pending.
        let logs = run(&db, &hook.url(), t0(), Duration::from_secs(20));
        let failed = hook.count();
        assert!(failed >= 1, "{what}: {}", logs.join("\n"));
        assert!(logs.iter().any(|l| l.contains("event=alert_deferred") && l.contains("embeds=3")), "{what}");
        let store = Store::open(&db).unwrap();
        let pending = store.pending_alerts().unwrap();
        assert_eq!(pending.len(), 3, "{what}: {}", logs.join("\n"));
        assert!(pending.iter().all(|e| e.attempts >= 1), "{what}: {pending:?}");
        drop(store);

        // Later (past the 429's minute and the webhook's rest): delivered.
        let logs = run(&db, &hook.url(), t0() + chrono::Duration::seconds(90), Duration::from_secs(10));
        let reqs = hook.requests();
        let ok: Vec<String> = reqs[failed..].iter().flat_map(embed_ids).collect();
        let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
        assert_eq!(ok, ids, "{what}: each alert once: {}", logs.join("\n"));
        for r in &reqs[..failed] {
            assert_eq!(embed_ids(r), ids, "{what}: the failed message carried the whole batch");
        }
        let (marks, statuses) = marks(&db);
        assert!(statuses.iter().all(|s| *s == AlertStatus::Sent), "{what}: {statuses:?}");
        assert!(marks.iter().all(|(_, m, _)| m.as_deref() == Some(&format!("99000000000000{failed:04}")[..])));
    }
}

/// Packing and rendering: a message never exceeds 10 embeds or 6000
/// characters, with or without episodes on its embeds.
#[test]
fn batches_stay_within_discords_message_limits() {
    assert_eq!(pack(&[100; 12]), [10, 2]);
    assert_eq!(pack(&[3000, 3000, 1]), [2, 1]);
    assert_eq!(pack(&[2500, 2500, 2500]), [2, 1]);
    assert_eq!(pack(&[6000, 1]), [1, 1]);
    assert_eq!(pack(&[]), Vec::<usize>::new());
    // Long alerts: a large label and notes fill each embed.
    let alerts: Vec<Alert> = (0..10)
        .map(|i| {
            let mut a = alert(i);
            a.label = "a long label ".repeat(70);
            a.details.notes = vec![("why".into(), "x".repeat(900))];
            a
        })
        .collect();
    let sizes: Vec<usize> = alerts.iter().map(orakl::discord::embed::embed_chars).collect();
    let parts = pack(&sizes);
    assert!(parts.len() > 1, "{sizes:?}");
    let mut rest = alerts.iter();
    for n in parts {
        let batch: Vec<Alert> = rest.by_ref().take(n).cloned().collect();
        let body = render_batch(&batch);
        assert_eq!(check_limits(&body), Vec::<String>::new(), "{n}");
        // Every embed with an episode: the edit is trimmed to fit as well.
        let updates: Vec<Update> = batch.iter().map(|a| hit(a, t0(), 9).0).collect();
        let embeds: Vec<(&Alert, Option<&Update>)> = batch.iter().zip(&updates).map(|(a, u)| (a, Some(u))).collect();
        let edit = render_message_update(&embeds);
        assert_eq!(check_limits(&edit), Vec::<String>::new(), "{n}");
        assert_eq!(edit["embeds"].as_array().map(Vec::len), Some(n));
    }
    let body: Value = render_batch(&alerts[..1]);
    assert_eq!(body, render(&alerts[0]));
}

/// A message whose outcome is unknown (Discord took it, maybe, but
/// answered after the timeout) is retried once, after its delay, as the
/// very same message, even when more alerts are pending by then: the alerts
/// that arrived meanwhile go in a message of their own, so none goes out
/// in two messages.
#[test]
fn a_batch_with_an_unknown_outcome_is_retried_as_the_same_message() {
    let n = std::sync::atomic::AtomicUsize::new(0);
    let hook = FakeServer::start(move |_: &Recorded| match n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
        0 => Reply::Stall { status: 200, len: 100 },
        k => ok_message(k),
    });
    let vars: BTreeMap<String, String> = [
        ("DISCORD_WEBHOOK_URL".to_string(), format!("{}/api/webhooks/{HOOK}/{TOKEN}", hook.url())),
        ("DISCORD_TIMEOUT_SECONDS".to_string(), "1".to_string()),
    ]
    .into();
    let cfg = Config::from_vars(&vars).unwrap();
    let tt = Timetable::parse("schedule.cron", "0 */5 * * * * heartbeat session=any\n").unwrap();
    let settings = Settings::validate(&cfg, &tt, false).unwrap();
    let clock = Arc::new(SimClock::new(t0()));
    let mut delivery = Delivery::discord(&cfg, &settings, clock.clone(), Notifier::disabled());
    let alerts: Vec<Alert> = (0..3).map(alert).collect();
    let ids = |batches: &[Vec<Alert>]| -> Vec<Vec<String>> {
        batches.iter().map(|b| b.iter().map(|a| a.id.clone()).collect()).collect()
    };

    let first = delivery.plan(alerts[..2].to_vec());
    assert_eq!(ids(&first), [vec![alerts[0].id.clone(), alerts[1].id.clone()]]);
    let answer = delivery.deliver(&first[0]);
    assert!(matches!(answer, Delivered::Deferred { .. }), "{answer:?}");

    clock.advance(Duration::from_secs(31));
    delivery.begin_pass();
    let second = delivery.plan(alerts.clone());
    assert_eq!(ids(&second), [vec![alerts[0].id.clone(), alerts[1].id.clone()], vec![alerts[2].id.clone()]]);
    for b in &second {
        assert!(matches!(delivery.deliver(b), Delivered::Sent { .. }));
    }
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].body, reqs[0].body, "the one retry is the same message");
    assert_eq!(embed_ids(&reqs[2]), [alerts[2].id.clone()]);
    // Once its outcome is known, the batch is planned like any other.
    assert_eq!(ids(&delivery.plan(alerts.clone())).len(), 1);
}
