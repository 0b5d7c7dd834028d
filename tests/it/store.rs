//! The SQLite state against real files in a temporary directory.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use orakl::alert::Alert;
use orakl::job::Bot;
use orakl::store::{
    AlertStatus, Cooldown, CooldownSet, Disabled, OutboxCounts, Pragmas, ProcessingError, RunRecord, RunResult,
    SCHEMA_VERSION, Store, StoreError,
};
use rusqlite::Connection;
use tempfile::TempDir;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn alert(id: &str, bot: Bot, at: &str) -> Alert {
    let mut a = Alert::new(id.to_string(), bot, t(at), "SPY");
    a.contract = Some("O:SPY251121C00670000".to_string());
    a.premium = Some(250_000.0);
    a.label = "sweep confirmed: 4 ISO prints on 3 exchanges".to_string();
    a
}

fn cooldown_set(key: &str, until: &str, premium: Option<f64>) -> CooldownSet {
    CooldownSet { key: key.to_string(), until: t(until), premium }
}

/// A fresh store in its own directory, at a path whose directory does not
/// exist yet.
fn fresh() -> (TempDir, PathBuf, Store) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("state").join("bot_state.db");
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

/// A plain connection that bypasses the store, to look at what is really
/// in the file.
fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn user_version(path: &Path) -> i64 {
    raw(path).pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
}

fn table_names(path: &Path) -> Vec<String> {
    let conn = raw(path);
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn a_fresh_file_is_created_and_migrated() {
    let (_dir, path, store) = fresh();
    assert!(path.is_file());
    assert_eq!(SCHEMA_VERSION, 6);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(
        table_names(&path),
        [
            "alerts",
            "cooldowns",
            "cursors",
            "episode_updates",
            "episodes",
            "features_disabled",
            "flow_history",
            "heartbeat_snapshot",
            "open_interest",
            "outcomes",
            "processing_errors",
            "runs",
            "webhooks_retired"
        ]
    );
    assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new());
}

#[test]
fn wal_synchronous_full_and_foreign_keys_are_really_set() {
    let (_dir, path, store) = fresh();
    assert_eq!(
        store.pragmas().unwrap(),
        Pragmas {
            journal_mode: "wal".to_string(),
            synchronous: "full".to_string(),
            foreign_keys: true,
            busy_timeout_ms: 5000
        }
    );
    // WAL is a property of the file, so an unrelated connection sees it too.
    let mode: String = raw(&path).pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn reopening_keeps_the_data_and_the_version() {
    let (_dir, path, mut store) = fresh();
    let now = t("2025-10-22T14:30:06Z");
    let a = alert("sweeps:O:SPY251121C00670000:1", Bot::Sweeps, "2025-10-22T14:30:05Z");
    assert!(
        store.commit_alert(&a, Some(&cooldown_set("SPY:C", "2025-10-22T15:00:00Z", Some(1e5))), None, now).unwrap()
    );
    store.set_cursor("darkpool:SPY", "1761143405000000000", now).unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let pending = store.pending_alerts().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].alert, a);
    assert_eq!(store.cooldown(Bot::Sweeps, "SPY:C").unwrap().unwrap().alert_id, a.id);
    assert_eq!(store.cursor("darkpool:SPY").unwrap().as_deref(), Some("1761143405000000000"));
}

#[test]
fn a_file_of_unknown_schema_version_is_refused_and_left_untouched() {
    for found in [SCHEMA_VERSION + 1, 99, -1] {
        let (_dir, path, store) = fresh();
        drop(store);
        raw(&path).pragma_update(None, "user_version", found).unwrap();

        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::UnknownVersion { found: f, known: SCHEMA_VERSION, .. } if f == found),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("schema version {found}")), "{msg}");
        assert_eq!(user_version(&path), found);
    }
}

#[test]
fn a_file_that_is_not_a_database_is_refused_naming_the_path() {
    let cases: [(&str, Vec<u8>); 3] = [
        ("notes.txt", b"STATE_DB_PATH=/var/lib/orakl/state.db\n".to_vec()),
        ("noise.bin", vec![0xAB; 8192]),
        ("alerts.json", br#"{"alerts": [{"id": "x", "bot": "sweeps"}]}"#.repeat(40)),
    ];
    for (name, bytes) in cases {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();

        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("not a sqlite database"), "{msg}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
    }
}

#[test]
fn commit_alert_writes_the_alert_and_its_cooldown_together() {
    let (_dir, path, mut store) = fresh();
    let now = t("2025-10-22T14:30:06.250Z");
    let a = alert("golden_sweeps:O:SPY251121C00670000:7", Bot::GoldenSweeps, "2025-10-22T14:30:05Z");
    let set = cooldown_set("O:SPY251121C00670000", "2025-10-22T15:30:05Z", Some(1_250_000.0));
    assert!(store.commit_alert(&a, Some(&set), None, now).unwrap());

    assert_eq!(
        store.cooldown(Bot::GoldenSweeps, "O:SPY251121C00670000").unwrap(),
        Some(Cooldown { until: set.until, premium: Some(1_250_000.0), alert_id: a.id.clone() })
    );
    // A cooldown belongs to the alert's bot only.
    assert_eq!(store.cooldown(Bot::Sweeps, "O:SPY251121C00670000").unwrap(), None);
    let pending = store.pending_alerts().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, AlertStatus::Pending);
    assert_eq!(pending[0].created_at, now);
    assert_eq!(pending[0].attempts, 0);

    // Times are UTC text with milliseconds and a Z, so they sort as text.
    let (created_at, at, bot): (String, String, String) = raw(&path)
        .query_row("SELECT created_at, at, bot FROM alerts", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!(
        (created_at.as_str(), at.as_str(), bot.as_str()),
        ("2025-10-22T14:30:06.250Z", "2025-10-22T14:30:05.000Z", "golden_sweeps")
    );

    // Without a cooldown the alert alone is written.
    let b = alert("golden_sweeps:O:SPY251121P00600000:1", Bot::GoldenSweeps, "2025-10-22T14:31:00Z");
    assert!(store.commit_alert(&b, None, None, now).unwrap());
    assert_eq!(store.outbox_counts().unwrap().pending, 2);
}

#[test]
fn a_duplicate_alert_id_changes_nothing_and_the_first_cooldown_stands() {
    let (_dir, _path, mut store) = fresh();
    let first = alert("sweeps:O:SPY251121C00670000:1", Bot::Sweeps, "2025-10-22T14:30:05Z");
    let first_cd = cooldown_set("SPY:C", "2025-10-22T15:00:00Z", Some(100_000.0));
    assert!(store.commit_alert(&first, Some(&first_cd), None, t("2025-10-22T14:30:06Z")).unwrap());

    let mut again = first.clone();
    again.premium = Some(9_999_999.0);
    let again_cd = cooldown_set("SPY:C", "2025-10-22T18:00:00Z", Some(9_999_999.0));
    assert!(!store.commit_alert(&again, Some(&again_cd), None, t("2025-10-22T14:45:00Z")).unwrap());

    assert_eq!(
        store.cooldown(Bot::Sweeps, "SPY:C").unwrap(),
        Some(Cooldown { until: first_cd.until, premium: Some(100_000.0), alert_id: first.id.clone() })
    );
    let pending = store.pending_alerts().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].alert, first);
    assert_eq!(pending[0].created_at, t("2025-10-22T14:30:06Z"));

    // A new alert on the same key takes the cooldown over.
    let next = alert("sweeps:O:SPY251121C00670000:2", Bot::Sweeps, "2025-10-22T15:10:00Z");
    let next_cd = cooldown_set("SPY:C", "2025-10-22T15:40:00Z", None);
    assert!(store.commit_alert(&next, Some(&next_cd), None, t("2025-10-22T15:10:01Z")).unwrap());
    assert_eq!(
        store.cooldown(Bot::Sweeps, "SPY:C").unwrap(),
        Some(Cooldown { until: next_cd.until, premium: None, alert_id: next.id.clone() })
    );
}

#[test]
fn commit_alert_writes_nothing_when_the_cooldown_cannot_be_written() {
    let (_dir, path, mut store) = fresh();
    // A trigger stands in for any failure between the two writes.
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER refuse_cooldowns BEFORE INSERT ON cooldowns BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        )
        .unwrap();
    let a = alert("scalps:SPY:1", Bot::Scalps, "2025-10-22T14:30:05Z");
    let err = store
        .commit_alert(&a, Some(&cooldown_set("SPY", "2025-10-22T14:45:00Z", None)), None, t("2025-10-22T14:30:06Z"))
        .unwrap_err();
    assert!(matches!(err, StoreError::Sql { op: "commit alert", .. }), "{err:?}");
    assert!(err.to_string().contains("commit alert"), "{err}");
    assert_eq!(store.alert_status(&a.id).unwrap(), None);
    assert_eq!(store.outbox_counts().unwrap(), OutboxCounts::default());
    assert_eq!(store.cooldown(Bot::Scalps, "SPY").unwrap(), None);
}

#[derive(Clone, Copy)]
enum Step {
    Attempt(&'static str),
    Sent(Option<&'static str>),
    Failed(&'static str),
    Expired,
}

/// Applies `steps` to a freshly committed alert and describes the outcome:
/// the final row, and the error of the first refused step, if any.
fn transitions(steps: &[Step]) -> String {
    let (_dir, _path, mut store) = fresh();
    let a = alert("bullseye:SPY:1", Bot::Bullseye, "2025-10-22T14:30:05Z");
    store.commit_alert(&a, None, None, t("2025-10-22T14:30:05Z")).unwrap();
    let mut refused = None;
    for (i, step) in steps.iter().enumerate() {
        let now = t("2025-10-22T14:31:00Z") + chrono::Duration::seconds(i as i64);
        let result = match *step {
            Step::Attempt(e) => store.record_attempt(&a.id, e, now),
            Step::Sent(m) => store.mark_sent(&a.id, m, now),
            Step::Failed(r) => store.mark_failed(&a.id, r, now),
            Step::Expired => store.mark_expired(&a.id, now),
        };
        if let Err(e) = result {
            assert!(matches!(e, StoreError::NotPending { .. }), "{e:?}");
            refused.get_or_insert(format!(
                "refused: {}",
                e.to_string().split(": ").skip(1).collect::<Vec<_>>().join(": ")
            ));
        }
    }
    let entry = store.alerts_since(t("2025-10-22T00:00:00Z")).unwrap().remove(0);
    let counts = store.outbox_counts().unwrap();
    let mut out = format!(
        "{} attempts={} last_error={:?} message_id={:?} sent_at={:?} counts={}/{}/{}/{}",
        entry.status,
        entry.attempts,
        entry.last_error,
        entry.message_id,
        entry.sent_at.map(|t| t.to_rfc3339()),
        counts.pending,
        counts.sent,
        counts.failed,
        counts.expired,
    );
    if let Some(r) = refused {
        out.push_str(&format!(" {r}"));
    }
    out
}

#[test]
fn an_alert_leaves_pending_once() {
    use Step::*;
    let cases: &[(&[Step], &str)] = &[
        (&[], "pending attempts=0 last_error=None message_id=None sent_at=None counts=1/0/0/0"),
        (
            &[Sent(Some("1290000000000000001"))],
            "sent attempts=0 last_error=None message_id=Some(\"1290000000000000001\") \
             sent_at=Some(\"2025-10-22T14:31:00+00:00\") counts=0/1/0/0",
        ),
        (
            &[Attempt("429 retry_after=1.5"), Attempt("timeout"), Sent(None)],
            "sent attempts=2 last_error=Some(\"timeout\") message_id=None \
             sent_at=Some(\"2025-10-22T14:31:02+00:00\") counts=0/1/0/0",
        ),
        (
            &[Failed("400 Invalid Form Body")],
            "failed attempts=0 last_error=Some(\"400 Invalid Form Body\") message_id=None sent_at=None \
             counts=0/0/1/0",
        ),
        (&[Expired], "expired attempts=0 last_error=None message_id=None sent_at=None counts=0/0/0/1"),
        (
            &[Sent(Some("1")), Failed("late 500")],
            "sent attempts=0 last_error=None message_id=Some(\"1\") sent_at=Some(\"2025-10-22T14:31:00+00:00\") \
             counts=0/1/0/0 refused: mark alert failed: alert bullseye:SPY:1 is sent, not pending",
        ),
        (
            &[Expired, Sent(Some("2"))],
            "expired attempts=0 last_error=None message_id=None sent_at=None counts=0/0/0/1 \
             refused: mark alert sent: alert bullseye:SPY:1 is expired, not pending",
        ),
        (
            &[Failed("404 Unknown Webhook"), Attempt("retry")],
            "failed attempts=0 last_error=Some(\"404 Unknown Webhook\") message_id=None sent_at=None \
             counts=0/0/1/0 refused: record delivery attempt: alert bullseye:SPY:1 is failed, not pending",
        ),
    ];
    for (steps, expected) in cases {
        assert_eq!(transitions(steps), *expected);
    }
}

#[test]
fn settling_an_unknown_alert_is_an_error_naming_it() {
    let (_dir, path, mut store) = fresh();
    let now = t("2025-10-22T14:30:05Z");
    let errors = [
        store.mark_sent("nope", Some("1"), now).unwrap_err(),
        store.mark_failed("nope", "x", now).unwrap_err(),
        store.mark_expired("nope", now).unwrap_err(),
        store.record_attempt("nope", "x", now).unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, StoreError::UnknownAlert { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("no alert with id nope") && msg.contains(&path.display().to_string()), "{msg}");
    }
}

#[test]
fn pending_alerts_come_oldest_first_and_counts_follow_the_status() {
    let (_dir, _path, mut store) = fresh();
    // Committed out of their own time order: the queue follows commit time.
    let ids = ["sweeps:C", "sweeps:A", "sweeps:B", "sweeps:D"];
    for (i, id) in ids.iter().enumerate() {
        let now = t("2025-10-22T14:30:00Z") + chrono::Duration::seconds(10 * i as i64);
        store.commit_alert(&alert(id, Bot::Sweeps, "2025-10-22T14:00:00Z"), None, None, now).unwrap();
    }
    let order: Vec<String> = store.pending_alerts().unwrap().into_iter().map(|e| e.alert.id).collect();
    assert_eq!(order, ids);

    let now = t("2025-10-22T14:35:00Z");
    store.mark_sent("sweeps:A", Some("1"), now).unwrap();
    store.mark_failed("sweeps:B", "400", now).unwrap();
    store.mark_expired("sweeps:D", now).unwrap();
    assert_eq!(store.outbox_counts().unwrap(), OutboxCounts { pending: 1, sent: 1, failed: 1, expired: 1 });
    let order: Vec<String> = store.pending_alerts().unwrap().into_iter().map(|e| e.alert.id).collect();
    assert_eq!(order, ["sweeps:C"]);
    let statuses: Vec<Option<AlertStatus>> = ["sweeps:A", "sweeps:B", "sweeps:C", "sweeps:D", "sweeps:E"]
        .iter()
        .map(|id| store.alert_status(id).unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            Some(AlertStatus::Sent),
            Some(AlertStatus::Failed),
            Some(AlertStatus::Pending),
            Some(AlertStatus::Expired),
            None
        ]
    );
}

#[test]
fn expiry_touches_only_pending_alerts_committed_before_the_cutoff() {
    let (_dir, _path, mut store) = fresh();
    // (id, committed at, settled as)
    let rows: [(&str, &str, Option<AlertStatus>); 6] = [
        ("old-pending-1", "2025-10-22T14:00:00Z", None),
        ("old-pending-2", "2025-10-22T14:10:00Z", None),
        ("old-sent", "2025-10-22T14:05:00Z", Some(AlertStatus::Sent)),
        ("old-failed", "2025-10-22T14:06:00Z", Some(AlertStatus::Failed)),
        ("at-cutoff", "2025-10-22T14:15:00Z", None),
        ("young", "2025-10-22T14:20:00Z", None),
    ];
    for (id, committed, settled) in rows {
        store.commit_alert(&alert(id, Bot::OraklFlow, committed), None, None, t(committed)).unwrap();
        match settled {
            Some(AlertStatus::Sent) => store.mark_sent(id, Some("9"), t(committed)).unwrap(),
            Some(AlertStatus::Failed) => store.mark_failed(id, "400", t(committed)).unwrap(),
            _ => {}
        }
    }
    let expired = store.expire_pending_older_than(t("2025-10-22T14:15:00Z"), t("2025-10-22T14:30:00Z")).unwrap();
    assert_eq!(expired, ["old-pending-1", "old-pending-2"]);
    let statuses: Vec<(&str, AlertStatus)> =
        rows.iter().map(|(id, _, _)| (*id, store.alert_status(id).unwrap().unwrap())).collect();
    assert_eq!(
        statuses,
        [
            ("old-pending-1", AlertStatus::Expired),
            ("old-pending-2", AlertStatus::Expired),
            ("old-sent", AlertStatus::Sent),
            ("old-failed", AlertStatus::Failed),
            ("at-cutoff", AlertStatus::Pending),
            ("young", AlertStatus::Pending),
        ]
    );
    // A second pass finds nothing more to do.
    assert!(store.expire_pending_older_than(t("2025-10-22T14:15:00Z"), t("2025-10-22T14:31:00Z")).unwrap().is_empty());
}

#[test]
fn alerts_since_filters_on_the_alert_time_and_carries_the_status() {
    let (_dir, _path, mut store) = fresh();
    let now = t("2025-10-24T12:00:00Z");
    for (id, at) in [("a", "2025-10-20T14:00:00Z"), ("b", "2025-10-22T14:00:00Z"), ("c", "2025-10-21T14:00:00Z")] {
        store.commit_alert(&alert(id, Bot::Strat, at), None, None, now).unwrap();
    }
    store.mark_sent("b", None, now).unwrap();
    let got: Vec<(String, AlertStatus)> =
        store.alerts_since(t("2025-10-21T00:00:00Z")).unwrap().into_iter().map(|e| (e.alert.id, e.status)).collect();
    assert_eq!(got, [("c".to_string(), AlertStatus::Pending), ("b".to_string(), AlertStatus::Sent)]);
}

#[test]
fn cursors_and_open_interest_round_trip() {
    let (_dir, _path, mut store) = fresh();
    let now = t("2025-10-22T14:30:00Z");
    assert_eq!(store.cursor("darkpool:SPY").unwrap(), None);
    store.set_cursor("darkpool:SPY", "100", now).unwrap();
    store.set_cursor("darkpool:QQQ", "7", now).unwrap();
    store.set_cursor("darkpool:SPY", "250", now).unwrap();
    assert_eq!(store.cursor("darkpool:SPY").unwrap().as_deref(), Some("250"));
    assert_eq!(store.cursor("darkpool:QQQ").unwrap().as_deref(), Some("7"));

    let day = NaiveDate::from_ymd_opt(2025, 10, 22).unwrap();
    let next = day.succ_opt().unwrap();
    let contract = "O:SPY251121C00670000";
    assert_eq!(store.open_interest(contract, day).unwrap(), None);
    store.record_open_interest(contract, day, 12_000.0, now).unwrap();
    store.record_open_interest(contract, next, 15_500.0, now).unwrap();
    store.record_open_interest(contract, day, 12_345.0, now).unwrap();
    assert_eq!(store.open_interest(contract, day).unwrap(), Some(12_345.0));
    assert_eq!(store.open_interest(contract, next).unwrap(), Some(15_500.0));
    assert_eq!(store.open_interest("O:QQQ251121C00600000", day).unwrap(), None);
}

fn run(job: &str, started: &str, result: RunResult, detail: &str) -> RunRecord {
    let started_at = t(started);
    RunRecord {
        job: job.to_string(),
        scheduled_for: started_at,
        started_at,
        finished_at: started_at + chrono::Duration::milliseconds(1500),
        result,
        detail: detail.to_string(),
    }
}

#[test]
fn last_runs_keep_the_latest_run_of_each_job() {
    let (_dir, _path, mut store) = fresh();
    assert!(store.last_runs().unwrap().is_empty());
    let runs = [
        run("sweeps", "2025-10-22T14:30:00Z", RunResult::Ok, "3 alerts"),
        run("sweeps", "2025-10-22T14:31:00Z", RunResult::Error, "polygon: 502"),
        run("heartbeat", "2025-10-22T14:00:00Z", RunResult::Ok, ""),
        run("weekly_report", "2025-10-18T20:00:00Z", RunResult::Skipped, "missed while down"),
        // Recorded late, but not the latest.
        run("sweeps", "2025-10-22T14:29:00Z", RunResult::Ok, "0 alerts"),
    ];
    for r in &runs {
        store.record_run(r).unwrap();
    }
    assert_eq!(store.last_runs().unwrap(), [runs[2].clone(), runs[1].clone(), runs[3].clone()]);
}

#[test]
fn processing_errors_come_back_newest_first_and_bounded() {
    let (_dir, _path, mut store) = fresh();
    let long = "x".repeat(10_000);
    let rows = [
        ("2025-10-22T14:30:00Z", "polygon", Some("SPY"), "502 bad gateway"),
        ("2025-10-22T14:32:00Z", "discord", None, "429"),
        ("2025-10-22T14:31:00Z", "flow", Some("QQQ"), long.as_str()),
    ];
    for (at, component, symbol, message) in rows {
        store.record_error(t(at), component, symbol, message).unwrap();
    }
    let got = store.recent_errors(2).unwrap();
    assert_eq!(
        got[0],
        ProcessingError {
            at: t("2025-10-22T14:32:00Z"),
            component: "discord".to_string(),
            symbol: None,
            message: "429".to_string()
        }
    );
    assert_eq!((got.len(), got[1].symbol.as_deref(), got[1].message.len()), (2, Some("QQQ"), 2000));
    assert_eq!(store.recent_errors(10).unwrap().len(), 3);
    assert!(store.recent_errors(0).unwrap().is_empty());
}

#[test]
fn retired_webhooks_and_disabled_features_keep_the_first_record() {
    let (_dir, path, mut store) = fresh();
    store.retire_webhook("1290000000000000001", "404 Unknown Webhook", t("2025-10-22T14:30:00Z")).unwrap();
    store.retire_webhook("1290000000000000001", "404 again", t("2025-10-22T15:00:00Z")).unwrap();
    store.retire_webhook("1180000000000000002", "404 Unknown Webhook", t("2025-10-22T14:40:00Z")).unwrap();
    store.disable_feature("options_trades", "403 NOT_AUTHORIZED", t("2025-10-22T13:30:00Z")).unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    let d =
        |name: &str, at: &str, reason: &str| Disabled { name: name.to_string(), at: t(at), reason: reason.to_string() };
    assert_eq!(
        store.retired_webhooks().unwrap(),
        [
            d("1290000000000000001", "2025-10-22T14:30:00Z", "404 Unknown Webhook"),
            d("1180000000000000002", "2025-10-22T14:40:00Z", "404 Unknown Webhook"),
        ]
    );
    assert_eq!(store.disabled_features().unwrap(), [d("options_trades", "2025-10-22T13:30:00Z", "403 NOT_AUTHORIZED")]);
}

#[test]
fn pruning_drops_old_history_but_keeps_alerts_and_each_jobs_latest_run() {
    let (_dir, _path, mut store) = fresh();
    let a = alert("sweeps:1", Bot::Sweeps, "2025-09-01T14:00:00Z");
    store
        .commit_alert(&a, Some(&cooldown_set("SPY", "2025-09-01T15:00:00Z", None)), None, t("2025-09-01T14:00:00Z"))
        .unwrap();
    let b = alert("sweeps:2", Bot::Sweeps, "2025-10-22T14:00:00Z");
    store
        .commit_alert(&b, Some(&cooldown_set("QQQ", "2025-10-22T15:00:00Z", None)), None, t("2025-10-22T14:00:00Z"))
        .unwrap();
    let runs = [
        run("sweeps", "2025-09-01T14:00:00Z", RunResult::Ok, ""),
        run("sweeps", "2025-10-22T14:00:00Z", RunResult::Ok, ""),
        run("weekly_report", "2025-09-06T20:00:00Z", RunResult::Ok, ""),
    ];
    for r in &runs {
        store.record_run(r).unwrap();
    }
    store.record_error(t("2025-09-01T14:00:00Z"), "polygon", None, "old").unwrap();
    store.record_error(t("2025-10-22T14:00:00Z"), "polygon", None, "new").unwrap();

    let pruned = store.prune(t("2025-10-01T00:00:00Z"), None, t("2025-10-22T15:00:00Z")).unwrap();
    // One run, one error, one cooldown; alerts are kept without an alert retention.
    assert_eq!((pruned.runs, pruned.processing_errors, pruned.cooldowns, pruned.alerts), (1, 1, 1, 0));
    assert_eq!(store.last_runs().unwrap(), [runs[1].clone(), runs[2].clone()]);
    let messages: Vec<String> = store.recent_errors(10).unwrap().into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["new"]);
    assert_eq!(store.cooldown(Bot::Sweeps, "SPY").unwrap(), None);
    assert!(store.cooldown(Bot::Sweeps, "QQQ").unwrap().is_some());
    assert_eq!(store.outbox_counts().unwrap().pending, 2);
    assert!(store.integrity_check().unwrap().is_empty());
}

/// Fills a store with one of everything.
fn populate(store: &mut Store) {
    let now = t("2025-10-22T14:30:06Z");
    for i in 0..20 {
        let a = alert(&format!("orakl_flow:O:SPY251121C00670000:{i}"), Bot::OraklFlow, "2025-10-22T14:30:05Z");
        store
            .commit_alert(&a, Some(&cooldown_set(&format!("k{i}"), "2025-10-22T15:00:00Z", Some(5e5))), None, now)
            .unwrap();
    }
    store.mark_sent("orakl_flow:O:SPY251121C00670000:0", Some("1"), now).unwrap();
    store.set_cursor("darkpool:SPY", "42", now).unwrap();
    store
        .record_open_interest("O:SPY251121C00670000", NaiveDate::from_ymd_opt(2025, 10, 22).unwrap(), 1e4, now)
        .unwrap();
    store.record_run(&run("orakl_flow", "2025-10-22T14:30:00Z", RunResult::Ok, "20 alerts")).unwrap();
    store.record_error(now, "polygon", Some("SPY"), "timeout").unwrap();
    store.retire_webhook("1", "404", now).unwrap();
    store.disable_feature("trades", "403", now).unwrap();
}

#[test]
fn a_backup_opens_holds_every_row_and_is_sound() {
    let (dir, _path, mut store) = fresh();
    populate(&mut store);
    let dest = dir.path().join("backups").join("orakl-2025-10-22.db");
    // An older backup at the same place is replaced.
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, b"yesterday's backup").unwrap();

    store.backup_to(&dest).unwrap();
    // The live store keeps working after the backup.
    store.set_cursor("darkpool:QQQ", "1", t("2025-10-22T14:31:00Z")).unwrap();

    // A backup is one self-contained file, not a WAL database missing its log.
    let mode: String = raw(&dest).pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
    let copy = Store::open(&dest).unwrap();
    assert!(copy.integrity_check().unwrap().is_empty());
    assert_eq!(copy.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(copy.outbox_counts().unwrap(), OutboxCounts { pending: 19, sent: 1, failed: 0, expired: 0 });
    assert_eq!(copy.pending_alerts().unwrap(), store.pending_alerts().unwrap());
    assert_eq!(copy.cooldown(Bot::OraklFlow, "k7").unwrap(), store.cooldown(Bot::OraklFlow, "k7").unwrap());
    assert_eq!(copy.cursor("darkpool:SPY").unwrap().as_deref(), Some("42"));
    assert_eq!(copy.cursor("darkpool:QQQ").unwrap(), None);
    assert_eq!(copy.last_runs().unwrap(), store.last_runs().unwrap());
    assert_eq!(copy.recent_errors(5).unwrap(), store.recent_errors(5).unwrap());
    assert_eq!(copy.retired_webhooks().unwrap(), store.retired_webhooks().unwrap());
    assert_eq!(copy.disabled_features().unwrap(), store.disabled_features().unwrap());
    assert!(!with_suffix(&dest, ".partial").exists());
}

#[test]
fn a_backup_onto_the_live_file_is_refused() {
    let (dir, path, mut store) = fresh();
    populate(&mut store);
    let before = store.outbox_counts().unwrap();
    let aliases = [
        path.clone(),
        dir.path().join("state").join(".").join("bot_state.db"),
        dir.path().join("state").join("..").join("state").join("bot_state.db"),
        with_suffix(&path, "-wal"),
    ];
    for dest in aliases {
        let err = store.backup_to(&dest).unwrap_err();
        assert!(matches!(err, StoreError::BackupOntoLive { .. }), "{}: {err:?}", dest.display());
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.outbox_counts().unwrap(), before);
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn integrity_check_reports_a_dangling_reference() {
    let (_dir, path, store) = fresh();
    drop(store);
    // Any tool an operator points at the file may have foreign keys off.
    let conn = raw(&path);
    conn.pragma_update(None, "foreign_keys", false).unwrap();
    conn
        .execute(
            "INSERT INTO cooldowns (bot, key, until, premium, alert_id) VALUES ('sweeps', 'SPY', '2025-10-22T15:00:00.000Z', NULL, 'ghost')",
            [],
        )
        .unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), ["foreign key: a cooldowns row refers to a missing alerts row"]);
}

/// What `kill -9` leaves behind is exactly what the OS holds for the files
/// at that instant; a copy of the database and its `-wal`, taken while the
/// store is still open and another writer is mid-transaction, is that state.
#[test]
fn committed_alerts_survive_a_crash_at_any_instant() {
    let (dir, path, mut store) = fresh();
    populate(&mut store);
    let now = t("2025-10-22T14:40:00Z");
    let last = alert("sweeps:last", Bot::Sweeps, "2025-10-22T14:40:00Z");
    store.commit_alert(&last, Some(&cooldown_set("SPY", "2025-10-22T15:10:00Z", None)), None, now).unwrap();

    // A second connection sees every commit while the store is open.
    let other = raw(&path);
    let seen: i64 = other.query_row("SELECT count(*) FROM alerts", [], |r| r.get(0)).unwrap();
    assert_eq!(seen, 21);

    // That connection then dies mid-transaction.
    other
        .execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO cursors (name, value, updated_at) VALUES ('uncommitted', 'x', '2025-10-22T14:41:00.000Z');
             UPDATE alerts SET status = 'sent';",
        )
        .unwrap();
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    for suffix in ["", "-wal"] {
        let from = with_suffix(&path, suffix);
        // The commits are still in the log, not yet checkpointed into the main file.
        assert!(from.metadata().unwrap().len() > 0, "{} is empty", from.display());
        std::fs::copy(&from, with_suffix(&crashed.join("bot_state.db"), suffix)).unwrap();
    }
    drop(other);
    drop(store);

    let recovered = Store::open(&crashed.join("bot_state.db")).unwrap();
    assert!(recovered.integrity_check().unwrap().is_empty());
    assert_eq!(recovered.outbox_counts().unwrap(), OutboxCounts { pending: 20, sent: 1, failed: 0, expired: 0 });
    assert_eq!(recovered.alert_status("sweeps:last").unwrap(), Some(AlertStatus::Pending));
    assert_eq!(recovered.cooldown(Bot::Sweeps, "SPY").unwrap().map(|c| c.alert_id), Some(last.id));
    assert_eq!(recovered.cursor("uncommitted").unwrap(), None);
    assert_eq!(recovered.cursor("darkpool:SPY").unwrap().as_deref(), Some("42"));
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

// ---------------------------------------------------------------- outcomes

fn premium_plan(at: &str) -> orakl::outcomes::Plan {
    use orakl::outcomes::{Direction, Kind, Plan};
    Plan {
        kind: Kind::Premium,
        direction: Direction::Long,
        entry: 2.0,
        stop: 1.0,
        t1: 3.0,
        t2: Some(4.0),
        opened_at: t(at),
        expires_at: t("2025-11-21T21:00:00Z"),
        limit: false,
    }
}

#[test]
fn an_outcome_is_opened_with_its_alert_and_only_once() {
    use orakl::outcomes::Status;
    let (_dir, _path, mut store) = fresh();
    let a = alert("a", Bot::Sweeps, "2025-10-22T14:30:05Z");
    let plan = premium_plan("2025-10-22T14:30:05Z");
    assert!(store.commit_alert(&a, None, Some(&plan), t("2025-10-22T14:30:06Z")).unwrap());
    // The same event again: nothing changes, the first plan stands.
    let mut other = plan;
    other.entry = 9.0;
    assert!(!store.commit_alert(&a, None, Some(&other), t("2025-10-22T14:31:00Z")).unwrap());
    let open = store.open_outcomes().unwrap();
    assert_eq!(open.len(), 1);
    let o = open[0].outcome.as_ref().unwrap();
    assert_eq!(o.plan(plan.expires_at), plan);
    assert_eq!((o.status, o.mfe, o.resolved_at, o.opening_confirmed), (Status::Open, None, None, None));
    // A market entry is filled at the alert, at 0R.
    assert_eq!((o.limit, o.filled_at, o.r_multiple), (false, Some(plan.opened_at), Some(0.0)));
    // An alert without a plan has no outcome row.
    store
        .commit_alert(&alert("b", Bot::Darkpool, "2025-10-22T14:40:00Z"), None, None, t("2025-10-22T14:40:00Z"))
        .unwrap();
    let all = store.alerts_with_outcomes(t("2025-10-22T00:00:00Z"), None).unwrap();
    assert_eq!(
        all.iter().map(|i| (i.entry.alert.id.as_str(), i.outcome.is_some())).collect::<Vec<_>>(),
        [("a", true), ("b", false)]
    );
    let only = store.alerts_with_outcomes(t("2025-10-22T00:00:00Z"), Some(Bot::Darkpool)).unwrap();
    assert_eq!(only.len(), 1);
}

#[test]
fn a_limit_entry_is_stored_unfilled_until_its_fill() {
    use orakl::outcomes::{Outcome, Status};
    let (_dir, _path, mut store) = fresh();
    let a = alert("a", Bot::Sweeps, "2025-10-22T14:30:05Z");
    let plan = orakl::outcomes::Plan { limit: true, ..premium_plan("2025-10-22T14:30:05Z") };
    store.commit_alert(&a, None, Some(&plan), t("2025-10-22T14:30:06Z")).unwrap();
    let o = store.open_outcomes().unwrap().remove(0).outcome.unwrap();
    assert_eq!((o.limit, o.filled_at, o.r_multiple), (true, None, None));
    assert_eq!(o.plan(plan.expires_at), plan);
    assert!(!o.is_resolved() && !o.is_not_filled());
    let filled = Outcome {
        filled_at: Some(t("2025-10-22T14:40:00Z")),
        r: Some(0.25),
        last_bar_end: Some(t("2025-10-22T14:40:00Z")),
        ..o.state()
    };
    store.update_outcome("a", &filled).unwrap();
    let o = store.open_outcomes().unwrap().remove(0).outcome.unwrap();
    assert_eq!((o.filled_at, o.r_multiple), (Some(t("2025-10-22T14:40:00Z")), Some(0.25)));
    let t2 = Outcome { status: Status::T2, resolved_at: Some(t("2025-10-22T15:00:00Z")), r: Some(2.0), ..filled };
    store.update_outcome("a", &t2).unwrap();
    let row = store.alerts_with_outcomes(t("2025-10-22T00:00:00Z"), None).unwrap().remove(0).outcome.unwrap();
    assert!(row.is_resolved() && !row.is_not_filled());
    assert_eq!(row.r_multiple, Some(2.0));

    // One never filled: final, not resolved.
    let b = alert("b", Bot::Sweeps, "2025-10-22T14:31:05Z");
    store.commit_alert(&b, None, Some(&plan), t("2025-10-22T14:31:06Z")).unwrap();
    let never = Outcome { status: Status::Expired, resolved_at: Some(plan.expires_at), ..Outcome::start(&plan) };
    store.update_outcome("b", &never).unwrap();
    let row = store.alerts_with_outcomes(t("2025-10-22T00:00:00Z"), None).unwrap().remove(1).outcome.unwrap();
    assert!(row.is_not_filled() && !row.is_resolved());
}

#[test]
fn a_final_outcome_stays_final() {
    use orakl::outcomes::{Outcome, Status};
    let (_dir, _path, mut store) = fresh();
    let a = alert("a", Bot::Sweeps, "2025-10-22T14:30:05Z");
    store.commit_alert(&a, None, Some(&premium_plan("2025-10-22T14:30:05Z")), t("2025-10-22T14:30:06Z")).unwrap();
    let watched = Outcome {
        status: Status::T1,
        mfe: 0.6,
        mae: 0.1,
        resolved_at: None,
        last_bar_end: Some(t("2025-10-22T15:00:00Z")),
        filled_at: Some(t("2025-10-22T14:30:05Z")),
        r: Some(1.0),
    };
    store.update_outcome("a", &watched).unwrap();
    assert_eq!(store.open_outcomes().unwrap().len(), 1, "a T1 still watched for T2 stays open");
    let done = Outcome { status: Status::T2, resolved_at: Some(t("2025-10-22T15:30:00Z")), ..watched };
    store.update_outcome("a", &done).unwrap();
    assert!(store.open_outcomes().unwrap().is_empty());
    let late = Outcome { status: Status::Stopped, resolved_at: Some(t("2025-10-22T16:00:00Z")), ..watched };
    store.update_outcome("a", &late).unwrap();
    let row = store.alerts_with_outcomes(t("2025-10-22T00:00:00Z"), None).unwrap().remove(0).outcome.unwrap();
    assert_eq!((row.status, row.mfe, row.mae), (Status::T2, Some(0.6), Some(0.1)));

    store.set_opening_confirmed("a", true, 1500.0).unwrap();
    let row = store.alerts_with_outcomes(t("2025-10-22T00:00:00Z"), None).unwrap().remove(0).outcome.unwrap();
    assert_eq!((row.opening_confirmed, row.oi_seen), (Some(true), Some(1500.0)));
    assert!(matches!(store.set_opening_confirmed("nope", true, 1.0), Err(StoreError::UnknownAlert { .. })));
    assert!(store.integrity_check().unwrap().is_empty());
}

/// The store's parts do not import each other in a circle: each names its
/// siblings through `super::sibling::` paths, and those edges form no cycle
/// (the outbox and the outcome queries both read alert rows from `entry`).
#[test]
fn the_store_modules_import_each_other_without_a_cycle() {
    use std::collections::{BTreeMap, BTreeSet};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name != "mod" {
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    assert!(files.len() >= 6 && files.contains_key("entry"), "{:?}", files.keys());
    let edges: BTreeMap<&str, BTreeSet<&str>> = files
        .iter()
        .map(|(name, text)| {
            let uses = files.keys().filter(|other| *other != name && text.contains(&format!("super::{other}::")));
            (name.as_str(), uses.map(String::as_str).collect())
        })
        .collect();
    assert!(edges["outbox"].contains("entry") && edges["outcomes"].contains("entry"), "{edges:?}");
    // Depth-first: a module met again while still on the path is a cycle.
    fn visit<'a>(
        m: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(m) {
            return;
        }
        assert!(!path.contains(&m), "import cycle: {} -> {m}", path.join(" -> "));
        path.push(m);
        for next in &edges[m] {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
}

/// A message's alerts are marked sent together or not at all: one of them
/// no longer pending leaves the others pending, and the error names it.
#[test]
fn a_batch_is_marked_sent_all_or_nothing_with_each_alerts_place() {
    let (_dir, _path, mut store) = fresh();
    let now = t("2025-10-22T14:30:06Z");
    let ids: Vec<String> = (0..3).map(|i| format!("sweeps:O:SPY251121C0067{i}000:1")).collect();
    for id in &ids {
        assert!(store.commit_alert(&alert(id, Bot::Sweeps, "2025-10-22T14:30:05Z"), None, None, now).unwrap());
    }
    store.mark_sent(&ids[2], Some("7"), now).unwrap();
    let err = store.mark_batch_sent(&ids, Some("8"), now).unwrap_err();
    assert!(matches!(&err, StoreError::NotPending { id, .. } if *id == ids[2]), "{err}");
    assert_eq!(store.pending_alerts().unwrap().len(), 2, "nothing of the batch was marked");
    store.mark_batch_sent(&ids[..2], Some("8"), now).unwrap();
    let places: Vec<(Option<String>, Option<u32>)> =
        store.message_alerts("8").unwrap().into_iter().map(|e| (e.message_id, e.embed_index)).collect();
    assert_eq!(places, [(Some("8".to_string()), Some(0)), (Some("8".to_string()), Some(1))]);
    // A message of one alert is no batch.
    assert!(store.message_alerts("7").unwrap().is_empty());
}
