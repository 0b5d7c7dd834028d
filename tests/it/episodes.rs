//! One alert per move through the whole service: the first hit of an
//! episode is posted, a later hit edits the posted message (PATCH with the
//! stored message id) through the outbox of edits, an escalation posts
//! again, a restart resumes the open episode and its pending edits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use orakl::clock::{Clock, SimClock};
use orakl::service::OutputFormat;
use orakl::store::Store;

use crate::service::{SharedBuf, TOKEN, config, ok_message, run_service, t0};
use crate::support::fake_http::{FakeServer, Recorded, Reply};
use crate::support::fake_polygon::{Contract, FakePolygon};

const CALL: &str = "O:SPY260320C00600000";
const CALL2: &str = "O:SPY260320C00605000";
const CALL3: &str = "O:SPY260320C00595000";
const CALL4: &str = "O:SPY260320C00610000";
const WEBHOOK: &str = "/api/webhooks/123456789012345678";
/// These markets serve no option trades: the hits are unconfirmed flow,
/// which Golden Sweeps posts only without SWEEPS_REQUIRE_ISO.
const UNCONFIRMED: (&str, &str) = ("SWEEPS_REQUIRE_ISO", "false");

/// SPY calls whose day volumes follow the scripts (one value per chain
/// fetch; fetches at 09:30:06, :36, 09:31:06, ...): $10 a contract, so
/// 1,000 contracts are $1M, a Golden Sweeps hit.
fn market(clock: Arc<SimClock>, scripts: &[(&str, f64, &[f64])]) -> FakePolygon {
    market_on(Arc::new(Mutex::new(clock)), scripts)
}

/// [`market`] on the clock in `clock`, which a restart replaces (a new
/// process has a new clock; the market's quotes follow it).
fn market_on(clock: Arc<Mutex<Arc<SimClock>>>, scripts: &[(&str, f64, &[f64])]) -> FakePolygon {
    let contracts =
        scripts.iter().map(|(t, strike, v)| Contract::new(t, true, *strike, "2026-03-20", 600.0, v)).collect();
    let chains = BTreeMap::from([("SPY".to_string(), contracts)]);
    let now = move || clock.lock().unwrap().now().timestamp_nanos_opt().unwrap_or(0);
    FakePolygon::start(chains, BTreeMap::new(), 10, now)
}

/// A Discord whose posts get ids from `ok_message` and whose edits answer
/// `edit(n)` for the n-th edit.
fn discord(edit: impl Fn(usize) -> Reply + Send + Sync + 'static) -> FakeServer {
    let (posts, edits) = (AtomicUsize::new(0), AtomicUsize::new(0));
    FakeServer::start(move |req: &Recorded| match req.method.as_str() {
        "PATCH" => edit(edits.fetch_add(1, Ordering::SeqCst)),
        _ => ok_message(posts.fetch_add(1, Ordering::SeqCst)),
    })
}

fn edited(n: usize) -> Reply {
    let _ = n;
    Reply::json(200, r#"{"id":"990000000000000000","channel_id":"1"}"#)
}

fn methods(hook: &FakeServer) -> Vec<String> {
    hook.requests().iter().map(|r| format!("{} {}", r.method, r.path().replace(TOKEN, "T"))).collect()
}

fn episode_field(req: &Recorded) -> String {
    let body = req.body_json();
    assert!(body.get("username").is_none(), "an edit cannot rename the sender: {body}");
    let f = &body["embeds"][0]["fields"][0];
    assert!(f["name"].as_str().unwrap().starts_with("Episode"), "{body}");
    f["value"].as_str().unwrap().to_string()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn a_later_hit_edits_the_posted_message_with_its_stored_id_and_a_doubling_posts_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    // Fetch 2 (09:30:36): $2M on CALL posts. Fetch 3: $1M on CALL2 joins
    // ($3M < 2 × $2M). Fetch 4: $1M on CALL3 brings the episode to $4M,
    // twice the post, but a minute after it (EPISODE_ESCALATION_MINUTES 3):
    // an edit. Fetch 8 (09:33:36, exactly three minutes after the post):
    // $1M on CALL4, and the $5M episode escalates.
    let quiet_until = |fetch: usize| -> Vec<f64> {
        let mut v = vec![1000.0; fetch - 1];
        v.push(2000.0);
        v
    };
    let (call3, call4) = (quiet_until(4), quiet_until(8));
    let m = market(
        clock.clone(),
        &[
            (CALL, 600.0, &[1000.0, 3000.0]),
            (CALL2, 605.0, &[1000.0, 1000.0, 2000.0]),
            (CALL3, 595.0, &call3),
            (CALL4, 610.0, &call4),
        ],
    );
    let hook = discord(edited);
    let logs = run_service(config(&m.url(), &hook.url(), &[UNCONFIRMED]), &db, clock, Duration::from_secs(400), None);
    let (wh, edit) = (format!("POST {WEBHOOK}/T"), format!("PATCH {WEBHOOK}/T/messages/990000000000000000"));
    assert_eq!(methods(&hook), [wh.clone(), edit.clone(), edit, wh], "{}", logs.join("\n"));
    let reqs = hook.requests();
    let episode = episode_field(&reqs[1]);
    assert!(episode.contains("2 hits · $3,000,000 in all"), "{episode}");
    assert!(episode.contains(CALL) && episode.contains(CALL2), "{episode}");
    // The post's own embed is kept under the episode.
    assert_eq!(reqs[1].body_json()["embeds"][0]["title"], reqs[0].body_json()["embeds"][0]["title"]);

    let store = Store::open(&db).unwrap();
    let posts = store.alerts_since(t0()).unwrap();
    let premiums: Vec<Option<f64>> = posts.iter().map(|e| e.alert.premium).collect();
    // The escalation reports the summed premium, so the scorecard sees a doubling.
    assert_eq!(premiums, [Some(2_000_000.0), Some(5_000_000.0)]);
    let updates = store.updates_since(t0()).unwrap();
    assert_eq!(updates.len(), 2);
    assert_eq!((updates[0].update_of.as_str(), updates[0].hits), (posts[0].alert.id.as_str(), 2));
    assert!(store.pending_updates().unwrap().is_empty());
    // The joining hit set its contract's cooldown, held by the post.
    let cd = store.cooldown(orakl::job::Bot::GoldenSweeps, CALL2).unwrap().expect("cooldown of the joined hit");
    assert_eq!(cd.alert_id, posts[0].alert.id);
    // One outcome per episode: the escalation opens none.
    let outcomes = store.alerts_with_outcomes(t0(), None).unwrap();
    assert_eq!(outcomes.iter().filter(|o| o.outcome.is_some()).count(), 1);
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn the_hits_of_one_snapshot_are_judged_largest_first_so_the_move_posts_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    // Fetch 2: $1M on CALL, $1M on CALL2 and $2.5M on CALL4, which sorts
    // last in the chain. In chain order CALL would post and CALL2 escalate
    // ($2M = 2 × $1M); largest first, CALL4 posts and the others join
    // ($4.5M < 2 × $2.5M).
    let m = market(
        clock.clone(),
        &[(CALL, 600.0, &[1000.0, 2000.0]), (CALL2, 605.0, &[1000.0, 2000.0]), (CALL4, 610.0, &[1000.0, 3500.0])],
    );
    let hook = discord(edited);
    let logs = run_service(config(&m.url(), &hook.url(), &[UNCONFIRMED]), &db, clock, Duration::from_secs(80), None);
    let posts = methods(&hook).iter().filter(|m| m.starts_with("POST")).count();
    assert_eq!(posts, 1, "{:?}\n{}", methods(&hook), logs.join("\n"));
    let store = Store::open(&db).unwrap();
    let alerts = store.alerts_since(t0()).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].alert.contract.as_deref(), Some(CALL4));
    assert_eq!(alerts[0].alert.premium, Some(2_500_000.0));
    let updates = store.updates_since(t0()).unwrap();
    assert_eq!(updates.iter().map(|u| u.hits).max(), Some(3));
}

#[test]
fn an_edit_survives_discord_down_and_a_restart_and_the_restarted_service_edits_the_same_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    let market_clock = Arc::new(Mutex::new(clock.clone()));
    let m = market_on(
        market_clock.clone(),
        &[
            (CALL, 600.0, &[1000.0, 4000.0]),
            (CALL2, 605.0, &[1000.0, 1000.0, 2000.0]),
            (CALL3, 595.0, &[1000.0, 1000.0, 1000.0, 1000.0, 1000.0, 2000.0]),
        ],
    );
    // Edits fail: the committed edit stays pending, tried again each pass.
    let down = discord(|_| Reply::json(503, r#"{"message":"upstream unavailable"}"#));
    let logs =
        run_service(config(&m.url(), &down.url(), &[UNCONFIRMED]), &db, clock.clone(), Duration::from_secs(80), None);
    let posts = methods(&down).iter().filter(|m| m.starts_with("POST")).count();
    assert_eq!(posts, 1, "{}", logs.join("\n"));
    assert!(methods(&down).iter().any(|m| m.starts_with("PATCH")), "{}", logs.join("\n"));
    let store = Store::open(&db).unwrap();
    assert_eq!(store.pending_updates().unwrap().len(), 1, "the edit is kept, not lost");
    drop(store);

    // A new process a minute later: the pending edit goes out at start-up,
    // and a new hit joins the restored episode (an edit, not a post).
    let clock = Arc::new(SimClock::new(clock.now() + chrono::Duration::seconds(50)));
    *market_clock.lock().unwrap() = clock.clone();
    let up = discord(edited);
    let logs = run_service(config(&m.url(), &up.url(), &[UNCONFIRMED]), &db, clock, Duration::from_secs(70), None);
    let wh = format!("{WEBHOOK}/T/messages/990000000000000000");
    assert_eq!(methods(&up), [format!("PATCH {wh}"), format!("PATCH {wh}")], "{}", logs.join("\n"));
    assert!(episode_field(&up.requests()[1]).starts_with("3 hits · $5,000,000 in all"));
    let store = Store::open(&db).unwrap();
    assert!(store.pending_updates().unwrap().is_empty());
    assert_eq!(store.updates_since(t0()).unwrap().len(), 2);
    assert_eq!(store.alerts_since(t0()).unwrap().len(), 1, "the restart did not open a new episode");
}

#[test]
fn a_deleted_message_fails_its_edits_without_retiring_the_webhook_and_several_edits_coalesce() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    // Two joining hits in the same fetch: one edit carries both. A third
    // hit a fetch later finds the message deleted.
    let m = market(
        clock.clone(),
        &[
            (CALL, 600.0, &[1000.0, 5000.0]),
            (CALL2, 605.0, &[1000.0, 1000.0, 2000.0]),
            (CALL3, 595.0, &[1000.0, 1000.0, 2000.0]),
            (CALL4, 610.0, &[1000.0, 1000.0, 1000.0, 2000.0]),
        ],
    );
    let gone = discord(|n| match n {
        0 => edited(n),
        _ => Reply::json(404, r#"{"message":"Unknown Message","code":10008}"#),
    });
    let logs = run_service(config(&m.url(), &gone.url(), &[UNCONFIRMED]), &db, clock, Duration::from_secs(110), None);
    let wh = format!("{WEBHOOK}/T");
    let patch = format!("PATCH {wh}/messages/990000000000000000");
    assert_eq!(methods(&gone), [format!("POST {wh}"), patch.clone(), patch], "{}", logs.join("\n"));
    assert!(episode_field(&gone.requests()[1]).starts_with("3 hits · $6,000,000 in all"));
    let store = Store::open(&db).unwrap();
    assert!(store.retired_webhooks().unwrap().is_empty(), "a deleted message is not a deleted webhook");
    assert!(store.pending_updates().unwrap().is_empty(), "a deleted message's edit is not retried");
    assert_eq!(store.updates_since(t0()).unwrap().len(), 3);
}

#[test]
fn printed_output_shows_each_update_as_its_own_line_naming_the_alert_it_updates() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SimClock::new(t0()));
    let m = market(clock.clone(), &[(CALL, 600.0, &[1000.0, 3000.0]), (CALL2, 605.0, &[1000.0, 1000.0, 2000.0])]);
    let buf = SharedBuf::default();
    let cfg = config(&m.url(), "http://127.0.0.1:9", &[UNCONFIRMED]);
    run_service(
        cfg,
        &dir.path().join("s.db"),
        clock,
        Duration::from_secs(80),
        Some((OutputFormat::Jsonl, buf.clone())),
    );
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    let update = &lines[1];
    assert_eq!(update["update_of"], lines[0]["id"]);
    let raw = out.lines().nth(1).unwrap();
    let keys = ["update_of", "id", "bot", "at", "ticker", "contract", "hits", "premium_total", "top_contracts"];
    let places: Vec<usize> = keys.iter().map(|k| raw.find(&format!("\"{k}\":")).expect(k)).collect();
    assert!(places.windows(2).all(|w| w[0] < w[1]) && places[0] == 1, "keys in order: {raw}");
    assert_eq!((update["hits"].as_u64(), update["premium_total"].as_f64()), (Some(2), Some(3_000_000.0)));
    assert_eq!(update["at"].as_str().map(at), Some(at("2026-03-09T13:31:06Z")));
}

#[test]
fn a_hit_joining_a_post_the_hourly_budget_still_holds_edits_it_once_committed() {
    // One fetch brings $2M on CALL and $1M on CALL2: the first posts, the
    // second joins its episode in the same firing, while the budget holds
    // the post until the firing ends; the edit must follow the post, not
    // find it missing and forget the episode (which would post the next hit).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(SimClock::new(t0()));
    let m =
        market(clock.clone(), &[(CALL, 600.0, &[1000.0, 3000.0]), (CALL2, 605.0, &[1000.0, 2000.0, 2000.0, 2500.0])]);
    let hook = discord(edited);
    let cfg = config(&m.url(), &hook.url(), &[UNCONFIRMED, ("GOLDEN_SWEEPS_MAX_ALERTS_PER_HOUR", "5")]);
    let logs = run_service(cfg, &db, clock, Duration::from_secs(110), None);
    let wh = format!("{WEBHOOK}/T");
    assert_eq!(
        methods(&hook),
        [format!("POST {wh}"), format!("PATCH {wh}/messages/990000000000000000")],
        "{}",
        logs.join("\n")
    );
    assert!(!logs.iter().any(|l| l.contains("event=episode_forgotten")), "{}", logs.join("\n"));
}
