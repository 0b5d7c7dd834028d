//! Discord delivery: embeds checked against Discord's own request schema and
//! limits, webhook URL parsing, and the sender against a fake Discord on
//! loopback with a simulated clock.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use orakl::alert::{Alert, ContractType, Details, Sentiment, Side};
use orakl::clock::{Clock, SimClock};
use orakl::discord::embed::{GREEN, GREY, RED, truncate};
use orakl::discord::{Delivery, Sender, Webhook, WebhookError, check_limits, render, render_text};
use orakl::http::Http;
use orakl::job::Bot;
use orakl::notify::Notifier;

use crate::support::fake_http::{FakeServer, Recorded, Reply, form_parts};
use crate::support::json_schema::Validator;

/// A token that must never show up in anything the code produces.
const CANARY: &str = "CANARYt0ken_sEcReT-9f8e7d";
const HOOK_ID: u64 = 123456789012345678;

// ---------------------------------------------------------------- alerts

fn at() -> DateTime<Utc> {
    "2025-10-22T14:30:05Z".parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// An options flow alert with every field a bot can fill.
fn full_options_alert() -> Alert {
    let mut a = Alert::new("golden_sweeps:O:SPY251121C00670000:20251022T143005".into(), Bot::GoldenSweeps, at(), "SPY");
    a.contract = Some("O:SPY251121C00670000".into());
    a.contract_type = Some(ContractType::Call);
    a.strike = Some(670.0);
    a.expiration = Some(date("2025-11-21"));
    a.dte = Some(30);
    a.spot = Some(662.31);
    a.premium = Some(1_250_000.0);
    a.volume_delta = Some(2500.0);
    a.avg_price = Some(5.0);
    a.open_interest = Some(12_000.0);
    a.side = Side::Ask;
    a.sentiment = Sentiment::Bullish;
    a.score = Some(58.0);
    a.label = "sweep confirmed: 4 ISO prints on 3 exchanges".into();
    a.entry = Some(5.1);
    a.stop = Some(2.55);
    a.targets = Some(vec![7.65, 10.2]);
    a.details = Details {
        quote: Some((4.9, 5.1)),
        day_volume: Some(4200.0),
        iv: Some(0.182),
        prob_itm: Some(0.412),
        strike_distance: Some(0.0116),
        vol_oi: Some(0.35),
        delta_vol_oi: Some(0.2083),
        score_parts: vec![("premium".into(), 58.0)],
        unusual: vec!["7.0× this contract's usual volume for 30 s".into()],
        notes: vec![("repeat".into(), "3rd hit in 30 min · $2,100,000 total".into())],
    };
    a
}

/// A flow alert that knows almost nothing, with non-finite numbers where a
/// buggy upstream might leave them.
fn sparse_options_alert() -> Alert {
    let mut a = Alert::new("sweeps:O:QQQ251024P00600000:1".into(), Bot::Sweeps, at(), "QQQ");
    a.contract_type = Some(ContractType::Put);
    a.premium = Some(f64::NAN);
    a.spot = Some(f64::INFINITY);
    a.volume_delta = Some(120.0);
    a.open_interest = Some(0.0);
    a.sentiment = Sentiment::Bearish; // but no side: must not be shown as bearish
    a.label = "flow (unconfirmed)".into();
    a
}

/// A stock setup with a plan.
fn stock_alert_with_plan() -> Alert {
    let mut a = Alert::new("strat:AAPL:60m:2-1-2:20251022T1400".into(), Bot::Strat, at(), "AAPL");
    a.sentiment = Sentiment::Bullish;
    a.pattern = Some("2-1-2 bullish (60m)".into());
    a.entry = Some(231.5);
    a.stop = Some(229.8);
    a.targets = Some(vec![234.9]);
    a.rsi = Some(61.24);
    a.atr = Some(3.4);
    a.price = Some(231.2);
    a.label = "STRAT 2-1-2 continuation".into();
    a
}

fn darkpool_alert() -> Alert {
    let mut a = Alert::new("darkpool:AAPL:print-8842".into(), Bot::Darkpool, at(), "AAPL");
    a.sentiment = Sentiment::Bullish; // dark prints have no direction: must render grey
    a.size = Some(250_000.0);
    a.price = Some(229.87);
    a.notional = Some(57_467_500.0);
    a.label = "dark pool print".into();
    a.details.notes = vec![("vs VWAP".into(), "+0.4%".into()), ("Dark volume at level".into(), "1.2M shares".into())];
    a
}

/// Everything too long at once: a 2000-character label, 40 long notes,
/// multi-byte text everywhere, an absurd alert id.
fn pathological_alert() -> Alert {
    let mut a = full_options_alert();
    a.id = format!("golden_sweeps:{}", "ID🚀".repeat(900));
    a.ticker = "ÉTF🚀".repeat(80);
    a.label = "é🚀 sweeps ".repeat(200);
    assert_eq!(a.label.chars().count(), 2000);
    a.details.notes = (0..40).map(|i| (format!("Note {i} ünïcödé"), format!("{i}: {}", "ß€🚀x".repeat(100)))).collect();
    a
}

fn realistic_alerts() -> Vec<(&'static str, Alert)> {
    vec![
        ("full options", full_options_alert()),
        ("sparse options", sparse_options_alert()),
        ("stock with plan", stock_alert_with_plan()),
        ("darkpool", darkpool_alert()),
        ("pathological", pathological_alert()),
    ]
}

// ---------------------------------------------------------------- schema

fn schema_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/discord/execute-webhook-schema.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema fixture")).expect("schema is JSON")
    })
}

fn request_schema() -> &'static Value {
    let s = &schema_doc()["operation"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(s.is_object(), "request body schema not found in the fixture");
    s
}

pub fn schema_errors(payload: &Value) -> Vec<String> {
    Validator::new(schema_doc()).strict().validate(request_schema(), payload)
}

fn embed(payload: &Value) -> &Value {
    &payload["embeds"][0]
}

fn field<'a>(payload: &'a Value, name: &str) -> Option<&'a str> {
    embed(payload)["fields"].as_array()?.iter().find(|f| f["name"] == name).and_then(|f| f["value"].as_str())
}

fn field_names(payload: &Value) -> Vec<String> {
    embed(payload)["fields"]
        .as_array()
        .map(|fs| fs.iter().map(|f| f["name"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

fn total_chars(payload: &Value) -> usize {
    let e = embed(payload);
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    len(&e["title"])
        + len(&e["description"])
        + len(&e["footer"]["text"])
        + len(&e["author"]["name"])
        + e["fields"].as_array().map_or(0, |fs| fs.iter().map(|f| len(&f["name"]) + len(&f["value"])).sum())
}

#[test]
fn every_rendered_payload_fits_discords_schema_and_limits() {
    for (name, alert) in realistic_alerts() {
        let payload = render(&alert);
        assert_eq!(schema_errors(&payload), Vec::<String>::new(), "{name}: {payload:#}");
        assert_eq!(check_limits(&payload), Vec::<String>::new(), "{name}");
        assert_eq!(payload["allowed_mentions"], json!({"parse": []}), "{name}");
        assert_eq!(payload["embeds"].as_array().map(Vec::len), Some(1), "{name}");
        let text = payload.to_string();
        for bad in ["NaN", "None", "null", "inf"] {
            assert!(!text.contains(bad), "{name}: payload contains {bad}: {text}");
        }
    }
}

#[test]
fn the_schema_checker_catches_what_discord_would_refuse() {
    let ok = json!({"username": "Sweeps", "embeds": [{"title": "t", "fields": [{"name": "a", "value": "b"}]}]});
    assert_eq!(schema_errors(&ok), Vec::<String>::new());
    let cases = [
        (json!({"embeds": [{"title": "x".repeat(257)}]}), "more than maxLength 256"),
        (json!({"embeds": [{"color": 16777216}]}), "violates maximum"),
        (json!({"embeds": [{"color": "green"}]}), "expected type"),
        (json!({"embeds": [{"fields": [{"name": "a"}]}]}), "missing required property `value`"),
        (json!({"embeds": (0..11).map(|_| json!({})).collect::<Vec<_>>()}), "more than maxItems 10"),
        (json!({"username": ""}), "fewer than minLength 1"),
        (json!({"allowed_mentions": {"parse": ["everybody"]}}), "matches none of oneOf"),
        (json!({"embeds": [{"colour": 1}]}), "property `colour` is not in the schema"),
    ];
    for (payload, expected) in cases {
        let errors = schema_errors(&payload);
        assert!(errors.iter().any(|e| e.contains(expected)), "{payload}: expected {expected:?} in {errors:#?}");
    }
    // Field limits count characters, not bytes: 256 four-byte emoji fit a title.
    assert_eq!(schema_errors(&json!({"embeds": [{"title": "🚀".repeat(256)}]})), Vec::<String>::new());
}

#[test]
fn check_limits_reports_each_violation() {
    let fields: Vec<Value> = (0..26).map(|i| json!({"name": format!("f{i}"), "value": "v"})).collect();
    let payload = json!({
        "username": "",
        "embeds": [{
            "title": "t".repeat(257),
            "description": "d".repeat(4097),
            "fields": fields,
            "footer": {"text": "f".repeat(2049)},
            "author": {"name": "a".repeat(257)},
        }],
    });
    let v = check_limits(&payload);
    for expected in [
        "username is empty",
        "embeds[0].title is 257 characters (limit 256)",
        "embeds[0].description is 4097 characters (limit 4096)",
        "embeds[0] has 26 fields (limit 25)",
        "embeds[0].footer.text is 2049 characters (limit 2048)",
        "embeds[0].author.name is 257 characters (limit 256)",
        "embeds total",
    ] {
        assert!(v.iter().any(|e| e.contains(expected)), "expected {expected:?} in {v:#?}");
    }
    let blank =
        json!({"embeds": [{"fields": [{"name": "x", "value": " "}, {"name": "y", "value": "z".repeat(1025)}]}]});
    assert_eq!(
        check_limits(&blank),
        ["embeds[0].fields[0].value is empty", "embeds[0].fields[1].value is 1025 characters (limit 1024)"]
    );
    let many: Vec<Value> = (0..11).map(|_| json!({"title": "x"})).collect();
    assert_eq!(check_limits(&json!({"embeds": many})), ["11 embeds (limit 10)"]);
    // The 6000 total spans all embeds of the message.
    let big: Vec<Value> = (0..2).map(|_| json!({"description": "d".repeat(3001)})).collect();
    assert_eq!(check_limits(&json!({"embeds": big})), ["embeds total 6002 characters (limit 6000)"]);
}

#[test]
fn a_full_options_alert_renders_as_a_compact_card() {
    let payload = render(&full_options_alert());
    let expected = json!({
        "username": "Golden Sweeps",
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": "Golden Sweeps · SPY 670C 2025-11-21",
            "description": "2,500 @ $5.00 · $1.25M · ASK · 30 DTE · 1.2% OTM",
            "color": 0x2ECC71,
            "timestamp": "2025-10-22T14:30:05Z",
            "footer": {"text": "golden_sweeps:O:SPY251121C00670000:20251022T143005 · not financial advice"},
            "fields": [
                {"name": "Bid × Ask", "value": "$4.90 × $5.10", "inline": true},
                {"name": "Day Volume", "value": "4,200", "inline": true},
                {"name": "Open Interest", "value": "12,000", "inline": true},
                {"name": "Vol/OI", "value": "Δ 0.21× · day 0.35×", "inline": true},
                {"name": "Spot", "value": "$662.31", "inline": true},
                {"name": "IV · P(ITM)", "value": "18.2% · 41.2%", "inline": true},
                {"name": "Score", "value": "58/100\npremium 58", "inline": true},
                {"name": "Unusual", "value": "7.0× this contract's usual volume for 30 s", "inline": false},
                {"name": "Label", "value": "sweep confirmed: 4 ISO prints on 3 exchanges", "inline": false},
                {"name": "Plan (Option)", "value": "Long · Entry $5.10 · Stop $2.55 · Targets $7.65 → $10.20", "inline": false},
            ],
        }],
    });
    assert_eq!(payload, expected, "{payload:#}");
}

/// Every word of a field name starts with a capital (or a symbol), but the
/// short joining words.
fn is_title_case(name: &str) -> bool {
    const MINOR: [&str; 13] = ["a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "vs"];
    name.split(' ').enumerate().all(|(i, w)| {
        let first = w.chars().next();
        first.is_none_or(|c| !c.is_lowercase()) || (i > 0 && MINOR.contains(&w))
    })
}

#[test]
fn every_card_is_compact_title_case_and_repeats_nothing() {
    let mut with_notes = full_options_alert();
    with_notes.details.notes.push(("vol/OI".into(), "vol > OI".into()));
    let mut alerts = realistic_alerts();
    alerts.push(("with notes", with_notes));
    for (name, alert) in alerts {
        let payload = render(&alert);
        let e = embed(&payload);
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        assert!(fields.len() <= 10, "{name}: {} fields", fields.len());
        let headline: Vec<&str> = e["description"].as_str().unwrap_or("").split(" · ").collect();
        let mut seen: Vec<&str> = Vec::new();
        for f in &fields {
            let (n, v) = (f["name"].as_str().unwrap(), f["value"].as_str().unwrap());
            assert!(is_title_case(n), "{name}: field name {n:?} is not Title Case");
            assert!(!seen.contains(&v) && !headline.contains(&v), "{name}: {n} repeats {v:?}");
            seen.push(v);
        }
        assert!(check_limits(&payload).is_empty(), "{name}: {:?}", check_limits(&payload));
    }
    // The notes that do survive keep their words, names in Title Case.
    let mut a = stock_alert_with_plan();
    a.details.notes = vec![("dark volume at level".into(), "1.2M shares".into())];
    assert_eq!(field(&render(&a), "Notes"), Some("Dark Volume at Level: 1.2M shares"));
    assert!(!is_title_case("day volume") && is_title_case("Dark Volume at Level"));
}

#[test]
fn unknown_values_are_omitted_not_printed() {
    let payload = render(&sparse_options_alert());
    // Without ISO prints it is flow, not a sweep, whatever the family.
    assert_eq!(embed(&payload)["title"], "Unusual Flow · QQQ P");
    assert_eq!(payload["username"], "Unusual Flow");
    assert_eq!(field_names(&payload), ["Open Interest", "Vol/OI", "Label"]);
    assert_eq!(field(&payload, "Vol/OI"), Some("vol > OI"));
    assert_eq!(field(&payload, "Open Interest"), Some("0"));
    assert_eq!(embed(&payload)["description"], "120 contracts · side unknown");

    // An alert with nothing but its identity still renders a valid embed.
    let bare = Alert::new("sweeps:X:1".into(), Bot::Sweeps, at(), "X");
    let payload = render(&bare);
    assert_eq!(field_names(&payload), Vec::<String>::new());
    assert_eq!(schema_errors(&payload), Vec::<String>::new());
    assert_eq!(check_limits(&payload), Vec::<String>::new());
}

#[test]
fn stock_alerts_show_their_pattern_and_plan() {
    let payload = render(&stock_alert_with_plan());
    assert_eq!(embed(&payload)["title"], "STRAT · AAPL");
    assert_eq!(embed(&payload)["description"], "2-1-2 bullish (60m) · $231.20");
    assert_eq!(field_names(&payload), ["Indicators", "Label", "Plan (Underlying)"], "{payload:#}");
    assert_eq!(field(&payload, "Plan (Underlying)"), Some("Long · Entry $231.50 · Stop $229.80 · Target $234.90"));
    assert_eq!(field(&payload, "Indicators"), Some("RSI 61.2 · ATR $3.40"));

    let payload = render(&darkpool_alert());
    assert_eq!(embed(&payload)["title"], "Darkpool · AAPL");
    assert_eq!(embed(&payload)["description"], "250,000 sh @ $229.87 · $57.5M · dark pool print · no direction");
    // The label says what the headline says: it is not repeated.
    assert_eq!(field_names(&payload), ["Notes"]);
    assert_eq!(field(&payload, "Notes"), Some("Vs VWAP: +0.4%\nDark Volume at Level: 1.2M shares"));
}

#[test]
fn colour_follows_the_sentiment_that_may_honestly_be_shown() {
    let with = |bot: Bot, side: Side, sentiment: Sentiment| {
        let mut a = Alert::new("x".into(), bot, at(), "SPY");
        a.side = side;
        a.sentiment = sentiment;
        render(&a)["embeds"][0]["color"].as_u64()
    };
    let cases = [
        (Bot::Sweeps, Side::Ask, Sentiment::Bullish, GREEN),
        (Bot::Sweeps, Side::Ask, Sentiment::Bearish, RED),
        (Bot::Sweeps, Side::Mid, Sentiment::Neutral, GREY),
        // No side: an options alert cannot claim a direction.
        (Bot::Sweeps, Side::Unknown, Sentiment::Bullish, GREY),
        // Dark prints never carry a direction.
        (Bot::Darkpool, Side::Unknown, Sentiment::Bearish, GREY),
        // Stock setups take their direction from the pattern, not a side.
        (Bot::Breakouts, Side::Unknown, Sentiment::Bearish, RED),
        (Bot::Strat, Side::Unknown, Sentiment::Bullish, GREEN),
    ];
    for (bot, side, sentiment, colour) in cases {
        assert_eq!(with(bot, side, sentiment), Some(u64::from(colour)), "{bot} {side:?} {sentiment:?}");
    }
}

#[test]
fn an_oversize_alert_is_shortened_not_rejected() {
    let alert = pathological_alert();
    let payload = render(&alert);
    assert_eq!(check_limits(&payload), Vec::<String>::new());
    let e = embed(&payload);
    let fields = e["fields"].as_array().unwrap();
    assert!(fields.len() <= 25);
    assert!(total_chars(&payload) <= 6000, "total {}", total_chars(&payload));

    // The numbers a trader acts on survive; the notes go first.
    let names = field_names(&payload);
    for kept in ["Score", "Plan (Option)", "Label"] {
        assert!(names.iter().any(|n| n == kept), "{kept} dropped: {names:?}");
    }
    assert!(!names.iter().any(|n| n == "Notes"), "{names:?}");

    // Truncated texts end in "…" and are cut on character boundaries.
    let label = field(&payload, "Label").unwrap();
    // At most 1024; a cut just after a space drops the space too.
    assert!((1020..=1024).contains(&label.chars().count()), "{}", label.chars().count());
    assert!(label.ends_with('…') && !label.ends_with(" …"));
    assert!(alert.label.starts_with(label.trim_end_matches('…')));
    let title = e["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 256);
    assert!(title.ends_with('…'));
    let footer = e["footer"]["text"].as_str().unwrap();
    assert_eq!(footer.chars().count(), 2048);
    assert!(footer.ends_with("… · not financial advice"), "{footer}");
}

#[test]
fn truncation_keeps_multibyte_text_whole() {
    // Multi-byte text that fits in characters is left alone, however many bytes.
    let mut a = full_options_alert();
    a.label = "🚀".repeat(1000);
    assert_eq!(field(&render(&a), "Label"), Some("🚀".repeat(1000).as_str()));

    // Cuts at every position land on character boundaries.
    let text = "aé🚀ß€ 語".repeat(40);
    for max in 1..60 {
        let t = truncate(&text, max);
        assert!(t.chars().count() <= max, "{max}: {t}");
        assert!(t.ends_with('…'));
        assert!(text.starts_with(t.trim_end_matches('…')));
    }
}

#[test]
fn dry_run_text_is_plain_and_deterministic() {
    let text = render_text(&full_options_alert());
    assert_eq!(text, render_text(&full_options_alert()));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Golden Sweeps · SPY 670C 2025-11-21");
    assert_eq!(lines[1], "2,500 @ $5.00 · $1.25M · ASK · 30 DTE · 1.2% OTM");
    assert!(lines.contains(&"  Bid × Ask: $4.90 × $5.10"), "{text}");
    assert!(lines.contains(&"  Score: 58/100"), "{text}");
    assert!(lines.contains(&"    premium 58"), "{text}");
    assert_eq!(
        lines.last(),
        Some(&"  golden_sweeps:O:SPY251121C00670000:20251022T143005 · not financial advice · 2025-10-22T14:30:05Z")
    );
    for (name, alert) in realistic_alerts() {
        let text = render_text(&alert);
        assert!(!text.contains("NaN") && !text.contains("None") && !text.contains("inf"), "{name}: {text}");
    }
    // No limit applies to a terminal: the pathological label is printed whole.
    assert!(render_text(&pathological_alert()).contains(&pathological_alert().label));
}

// ---------------------------------------------------------------- webhooks

#[test]
fn webhook_urls_are_parsed_and_checked() {
    let ok = |url: &str| Webhook::parse("SWEEPS_WEBHOOK", url).map(|w| (w.id(), w.execute_url()));
    let err = |url: &str| Webhook::parse("SWEEPS_WEBHOOK", url).map(|w| w.id()).unwrap_err();
    let var = || "SWEEPS_WEBHOOK".to_string();

    let accepted = [
        (format!("https://discord.com/api/webhooks/{HOOK_ID}/{CANARY}"), HOOK_ID),
        (format!("https://discord.com/api/v10/webhooks/{HOOK_ID}/{CANARY}"), HOOK_ID),
        (format!("  https://discord.com/api/webhooks/{HOOK_ID}/{CANARY}/\n"), HOOK_ID),
        (format!("http://127.0.0.1:8080/api/webhooks/1/{CANARY}"), 1),
        (format!("http://127.9.8.7/api/webhooks/2/{CANARY}"), 2),
        (format!("http://localhost:1234/api/webhooks/3/{CANARY}"), 3),
        (format!("http://[::1]:1234/api/webhooks/4/{CANARY}"), 4),
    ];
    for (url, id) in accepted {
        let (got, exec) = ok(&url).unwrap_or_else(|e| panic!("{url:?}: {e}"));
        assert_eq!(got, id, "{url}");
        assert!(exec.ends_with(&format!("/webhooks/{id}/{CANARY}?wait=true")), "{exec}");
    }

    let refused = [
        ("", WebhookError::Empty { var: var() }),
        (&format!("http://example.com/api/webhooks/1/{CANARY}"), WebhookError::Insecure { var: var() }),
        (&format!("http://10.0.0.1/api/webhooks/1/{CANARY}"), WebhookError::Insecure { var: var() }),
        (&format!("ftp://discord.com/api/webhooks/1/{CANARY}"), WebhookError::Scheme { var: var() }),
        (&format!("discord.com/api/webhooks/1/{CANARY}"), WebhookError::Scheme { var: var() }),
        (&format!("https://{CANARY}@discord.com/api/webhooks/1/x"), WebhookError::UserInfo { var: var() }),
        ("https://discord.com/api/webhooks/123", WebhookError::MissingToken { var: var() }),
        ("https://discord.com/api/webhooks/123/", WebhookError::MissingToken { var: var() }),
        (&format!("https://discord.com/api/webhooks/abc/{CANARY}"), WebhookError::Id { var: var() }),
        // Id and token swapped: the token is in the id's place and must not be echoed.
        (&format!("https://discord.com/api/webhooks/{CANARY}/123"), WebhookError::Id { var: var() }),
        (&format!("https://discord.com/webhooks/1/{CANARY}"), WebhookError::Path { var: var() }),
        (&format!("https://discord.com/api/webhooks/1/{CANARY}/github"), WebhookError::Path { var: var() }),
        (&format!("https://discord.com/api/webhooks/1/{CANARY}%20"), WebhookError::Token { var: var() }),
        (&format!("https://discord.com/api/webhooks/1/{CANARY}?thread_id=x"), WebhookError::ThreadId { var: var() }),
        (&format!("https:///api/webhooks/1/{CANARY}"), WebhookError::NoHost { var: var() }),
    ];
    for (url, expected) in refused {
        let e = err(url);
        assert_eq!(e, expected, "{url}");
        let shown = format!("{e} {e:?}");
        assert!(shown.contains("SWEEPS_WEBHOOK"), "{shown}");
        assert!(!shown.contains(CANARY), "token leaked: {shown}");
        assert!(!shown.contains("discord.com"), "url leaked: {shown}");
    }
}

#[test]
fn a_webhook_shows_only_its_id() {
    let w =
        Webhook::parse("X", &format!("https://discord.com/api/webhooks/{HOOK_ID}/{CANARY}?thread_id=42&wait=false"))
            .unwrap();
    assert_eq!(format!("{w}"), format!("webhook {HOOK_ID}"));
    assert_eq!(format!("{w:?}"), format!("webhook {HOOK_ID}"));
    assert_eq!(format!("{:?}", Some(&w)), format!("Some(webhook {HOOK_ID})"));
    assert_eq!(w.execute_url(), format!("https://discord.com/api/webhooks/{HOOK_ID}/{CANARY}?wait=true&thread_id=42"));
}

// ---------------------------------------------------------------- sender

/// A fake Discord that answers with `replies` in turn (repeating the last)
/// and records the simulated time of each request.
struct FakeDiscord {
    server: FakeServer,
    times: Arc<Mutex<Vec<Duration>>>,
}

impl FakeDiscord {
    fn start(clock: &Arc<SimClock>, replies: Vec<Reply>) -> FakeDiscord {
        let times = Arc::new(Mutex::new(Vec::new()));
        let n = AtomicUsize::new(0);
        let (clock, t) = (clock.clone(), times.clone());
        let server = FakeServer::start(move |_: &Recorded| {
            t.lock().unwrap().push(clock.elapsed());
            let i = n.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
            replies[i].clone()
        });
        FakeDiscord { server, times }
    }

    fn webhook(&self, id: u64) -> Webhook {
        Webhook::parse("SWEEPS_WEBHOOK", &format!("{}/api/webhooks/{id}/{CANARY}", self.server.url())).unwrap()
    }

    /// Simulated seconds at which each request arrived.
    fn times(&self) -> Vec<f64> {
        self.times.lock().unwrap().iter().map(Duration::as_secs_f64).collect()
    }
}

fn sim_clock() -> Arc<SimClock> {
    Arc::new(SimClock::new(at()))
}

fn sender_with_timeout(clock: &Arc<SimClock>, timeout: Duration) -> Sender {
    let clock: Arc<dyn Clock> = clock.clone();
    Sender::new(Http::new(timeout, Notifier::disabled()), clock)
}

fn sender(clock: &Arc<SimClock>) -> Sender {
    sender_with_timeout(clock, Duration::from_secs(5))
}

fn payload() -> Value {
    render(&full_options_alert())
}

/// Nothing the sender returns or logs may contain the token or the URL path.
fn assert_no_secrets(delivery: &Delivery, sender: &Sender) {
    let shown = format!("{delivery:?}");
    assert!(!shown.contains(CANARY) && !shown.contains("/api/webhooks"), "secret in {shown}");
    for line in sender.recent_events() {
        assert!(!line.contains(CANARY) && !line.contains("/api/webhooks"), "secret in log line {line}");
        assert!(line.starts_with("event=discord_"), "not a key=value event: {line}");
    }
}

fn ok_message() -> Reply {
    Reply::json(200, r#"{"id":"1300000000000000001","type":0,"channel_id":"1"}"#)
}

fn rate_limited(retry_after: f64) -> Reply {
    Reply::json(
        429,
        format!(r#"{{"message":"You are being rate limited.","retry_after":{retry_after},"global":false}}"#),
    )
}

fn sent(id: &str) -> Delivery {
    Delivery::Sent { message_id: Some(id.to_string()) }
}

/// One scripted exchange: the replies, what `post` returns, and the
/// simulated times at which the requests arrived.
fn check(replies: Vec<Reply>, expected: Delivery, expected_times: &[f64]) {
    let clock = sim_clock();
    let discord = FakeDiscord::start(&clock, replies);
    let sender = sender(&clock);
    let delivery = sender.post(&discord.webhook(HOOK_ID), &payload());
    assert_eq!(delivery, expected);
    assert_eq!(discord.times(), expected_times);
    assert_no_secrets(&delivery, &sender);
}

#[test]
fn a_200_is_sent_with_the_message_id_and_the_request_is_right() {
    let clock = sim_clock();
    let discord = FakeDiscord::start(&clock, vec![ok_message()]);
    let sender = sender(&clock);
    let delivery = sender.post(&discord.webhook(HOOK_ID), &payload());
    assert_eq!(delivery, sent("1300000000000000001"));
    let reqs = discord.server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path(), format!("/api/webhooks/{HOOK_ID}/{CANARY}"));
    assert_eq!(r.query("wait").as_deref(), Some("true"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("user-agent"),
        Some(concat!("DiscordBot (https://github.com/orakl/orakl, ", env!("CARGO_PKG_VERSION"), ")"))
    );
    assert_eq!(r.body_json(), payload());
    assert_eq!(clock.elapsed(), Duration::ZERO);
    let events = sender.recent_events();
    assert_eq!(
        events,
        [format!("event=discord_sent webhook={HOOK_ID} status=200 message_id=1300000000000000001 attempt=1")]
    );
    assert_no_secrets(&delivery, &sender);
}

#[test]
fn a_report_goes_out_as_a_multipart_form_with_its_chart() {
    use orakl::outcomes::{Period, ReportParams, summarize};
    let clock = sim_clock();
    let discord = FakeDiscord::start(&clock, vec![ok_message()]);
    let sender = sender(&clock);
    let report = summarize(&[], &ReportParams { min_obs: 20, min_win: 0.2 });
    let period = Period::dates(date("2025-10-20"), date("2025-10-26")).unwrap();
    let (payload, chart) =
        orakl::discord::report_message(&report, "orakl weekly report", &period, "2025-10-27T12:00:00Z");
    let chart = chart.expect("a chart");
    // The chart's bytes hold the boundary's prefix: it must be lengthened.
    let mut tricky = chart.clone();
    tricky.bytes.extend_from_slice(b"--orakl-");
    let delivery = sender.post_with_file(&discord.webhook(HOOK_ID), &payload, &tricky);
    assert_eq!(delivery, sent("1300000000000000001"));
    let r = &discord.server.requests()[0];
    assert_eq!(r.query("wait").as_deref(), Some("true"));
    assert!(r.header("user-agent").unwrap().starts_with("DiscordBot ("));
    let content_type = r.header("content-type").unwrap();
    assert!(content_type.starts_with("multipart/form-data; boundary="), "{content_type}");
    let parts = form_parts(content_type, &r.body);
    assert_eq!(parts.len(), 2);
    assert!(parts[0].0.contains(r#"name="payload_json""#), "{}", parts[0].0);
    let json: Value = serde_json::from_slice(&parts[0].1).unwrap();
    assert_eq!(json, payload);
    assert_eq!(json["embeds"][0]["image"]["url"], "attachment://report.png");
    assert_eq!(json["embeds"][0]["title"], "orakl weekly report · 2025-10-20 – 2025-10-26");
    assert!(parts[1].0.contains(r#"name="files[0]"; filename="report.png""#), "{}", parts[1].0);
    assert!(parts[1].0.contains("Content-Type: image/png"), "{}", parts[1].0);
    assert_eq!(parts[1].1, tricky.bytes);
    // The file is a PNG of the chart's size.
    let decoder = png::Decoder::new(std::io::Cursor::new(chart.bytes));
    let info = decoder.read_info().expect("a valid PNG").info().clone();
    assert_eq!((info.width, info.height), (orakl::chart::WIDTH, orakl::chart::HEIGHT));
}

#[test]
fn status_codes_map_to_deliveries() {
    check(vec![Reply::status(204)], Delivery::Sent { message_id: None }, &[0.0]);
    check(vec![Reply::json(200, "not json")], Delivery::Sent { message_id: None }, &[0.0]);
    check(vec![Reply::json(404, r#"{"message":"Unknown Webhook","code":10015}"#)], Delivery::WebhookGone, &[0.0]);
    check(
        vec![Reply::json(400, r#"{"message":"Invalid Form Body","code":50035,"errors":{"embeds":{}}}"#)],
        Delivery::Rejected { status: 400, message: "Invalid Form Body".into() },
        &[0.0],
    );
    check(
        vec![Reply::html(403, "<html>forbidden</html>")],
        Delivery::Rejected { status: 403, message: "Forbidden".into() },
        &[0.0],
    );
    // A server that echoes the URL back gets its echo scrubbed.
    check(
        vec![Reply::json(401, format!(r#"{{"message":"bad token {CANARY}"}}"#))],
        Delivery::Rejected { status: 401, message: "bad token [redacted]".into() },
        &[0.0],
    );
}

#[test]
fn a_429_waits_as_long_as_discord_asks_then_retries() {
    // retry_after in the body, as a float.
    check(vec![rate_limited(2.5), ok_message()], sent("1300000000000000001"), &[0.0, 2.5]);
    // Only a Retry-After header.
    check(
        vec![Reply::status(429).with_header("Retry-After", "3"), ok_message()],
        sent("1300000000000000001"),
        &[0.0, 3.0],
    );
    // Nothing at all: one second.
    check(vec![Reply::status(429), ok_message()], sent("1300000000000000001"), &[0.0, 1.0]);
    // A wait too long to sleep in a job defers the webhook instead.
    check(
        vec![rate_limited(86_400.0), ok_message()],
        Delivery::RetryLater { reason: "rate limited; webhook deferred for 86400 s".into() },
        &[0.0],
    );
}

/// Discord asking for a long wait (`retry_after` 1e9, `Retry-After:
/// 999999`) costs the loop no time: the webhook is deferred until then
/// (every webhook, for a global limit) and later posts to it end at once.
#[test]
fn a_long_rate_limit_defers_the_webhook_and_a_global_one_every_webhook() {
    for (reply, global) in [
        (rate_limited(1e9), false),
        (Reply::status(429).with_header("Retry-After", "999999"), false),
        (Reply::json(429, r#"{"message":"You are being rate limited.","retry_after":600,"global":true}"#), true),
    ] {
        let clock = sim_clock();
        let discord = FakeDiscord::start(&clock, vec![reply, ok_message()]);
        let sender = sender(&clock);
        let (hook, other) = (discord.webhook(HOOK_ID), discord.webhook(HOOK_ID + 1));
        let first = sender.post(&hook, &payload());
        assert!(matches!(&first, Delivery::RetryLater { reason } if reason.contains("deferred")), "{first:?}");
        let again = sender.post(&hook, &payload());
        assert!(matches!(&again, Delivery::RetryLater { reason } if reason.contains("deferred")), "{again:?}");
        let elsewhere = sender.post(&other, &payload());
        if global {
            assert!(matches!(&elsewhere, Delivery::RetryLater { .. }), "{elsewhere:?}");
            assert_eq!(discord.times(), [0.0], "a global limit holds every webhook");
            clock.wait(Duration::from_secs(600));
            assert_eq!(sender.post(&other, &payload()), sent("1300000000000000001"));
            assert_eq!(discord.times(), [0.0, 600.0]);
        } else {
            assert_eq!(elsewhere, sent("1300000000000000001"), "another webhook is not held");
            assert_eq!(discord.times(), [0.0, 0.0]);
        }
        assert_eq!(clock.elapsed(), if global { Duration::from_secs(600) } else { Duration::ZERO });
        assert_no_secrets(&first, &sender);
    }
}

/// Discord took the post but answered after the timeout (or dropped the
/// connection): the post may be in the channel. It is tried once more,
/// only after a delay, and then given up: at most one extra copy.
#[test]
fn a_post_with_an_unknown_outcome_is_retried_once_after_a_delay() {
    for reply in [Reply::Stall { status: 200, len: 100 }, Reply::Reset] {
        let clock = sim_clock();
        let discord = FakeDiscord::start(&clock, vec![reply]);
        let sender = sender_with_timeout(&clock, Duration::from_millis(200));
        let hook = discord.webhook(HOOK_ID);
        let mut outcomes = Vec::new();
        // The outbox's passes: one every 10 simulated seconds for 5 minutes.
        for _ in 0..30 {
            let d = sender.post(&hook, &payload());
            let done = !matches!(d, Delivery::RetryLater { .. });
            outcomes.push(d);
            if done {
                break;
            }
            clock.wait(Duration::from_secs(10));
        }
        assert_eq!(discord.times(), [0.0, 30.0], "two requests in all, the second after the delay");
        let last = outcomes.last().unwrap();
        assert!(
            matches!(last, Delivery::Rejected { status: 0, message } if message.contains("outcome unknown twice")),
            "{last:?}"
        );
        assert!(sender.recent_events().iter().any(|e| e.contains("unknown_total=2")), "{:?}", sender.recent_events());
        assert_no_secrets(last, &sender);
        // Another payload is not held by this one.
        let discord2 = FakeDiscord::start(&clock, vec![ok_message()]);
        assert_eq!(
            sender.post(&discord2.webhook(HOOK_ID), &render(&sparse_options_alert())),
            sent("1300000000000000001")
        );
    }
}

#[test]
fn rate_limits_count_toward_the_attempt_bound() {
    check(
        vec![rate_limited(2.0)],
        Delivery::RetryLater { reason: "rate limited (429) on all 4 attempts".into() },
        &[0.0, 2.0, 4.0, 6.0],
    );
}

#[test]
fn server_errors_are_retried_with_backoff_then_left_for_later() {
    check(
        vec![Reply::json(500, "{}")],
        Delivery::RetryLater { reason: "server error 500 (4 attempts)".into() },
        &[0.0, 1.0, 3.0, 7.0],
    );
    check(vec![Reply::status(502), Reply::status(503), ok_message()], sent("1300000000000000001"), &[0.0, 1.0, 3.0]);
}

#[test]
fn the_attempt_bound_is_configurable() {
    let clock = sim_clock();
    let discord = FakeDiscord::start(&clock, vec![Reply::status(500)]);
    let sender = sender(&clock).with_max_attempts(2);
    let delivery = sender.post(&discord.webhook(HOOK_ID), &payload());
    assert_eq!(delivery, Delivery::RetryLater { reason: "server error 500 (2 attempts)".into() });
    assert_eq!(discord.times(), [0.0, 1.0]);
}

#[test]
fn an_exhausted_bucket_delays_the_next_request_to_that_webhook_only() {
    let clock = sim_clock();
    let empty_bucket =
        ok_message().with_header("X-RateLimit-Remaining", "0").with_header("X-RateLimit-Reset-After", "3");
    let fresh_bucket =
        ok_message().with_header("X-RateLimit-Remaining", "4").with_header("X-RateLimit-Reset-After", "2");
    let discord = FakeDiscord::start(&clock, vec![empty_bucket, fresh_bucket]);
    let sender = sender(&clock);
    let (hook, other) = (discord.webhook(HOOK_ID), discord.webhook(HOOK_ID + 1));

    assert_eq!(sender.post(&hook, &payload()), sent("1300000000000000001"));
    // Another webhook has its own bucket: no wait.
    assert_eq!(sender.post(&other, &payload()), sent("1300000000000000001"));
    // The same webhook waits out the reset first.
    assert_eq!(sender.post(&hook, &payload()), sent("1300000000000000001"));
    // The bucket had room again: no further wait.
    assert_eq!(sender.post(&hook, &payload()), sent("1300000000000000001"));
    assert_eq!(discord.times(), [0.0, 0.0, 3.0, 3.0]);
    assert!(sender.recent_events().contains(&format!("event=discord_bucket_wait webhook={HOOK_ID} wait_ms=3000")));
}

#[test]
fn a_429_with_an_empty_bucket_is_not_waited_out_twice() {
    let limited =
        rate_limited(2.0).with_header("X-RateLimit-Remaining", "0").with_header("X-RateLimit-Reset-After", "2");
    check(vec![limited, ok_message()], sent("1300000000000000001"), &[0.0, 2.0]);
}

#[test]
fn shutdown_during_a_wait_leaves_the_alert_for_later() {
    let clock = sim_clock();
    clock.shutdown_after(Duration::from_secs(1));
    let discord = FakeDiscord::start(&clock, vec![rate_limited(5.0), ok_message()]);
    let sender = sender(&clock);
    let delivery = sender.post(&discord.webhook(HOOK_ID), &payload());
    assert_eq!(delivery, Delivery::RetryLater { reason: "shutdown requested".into() });
    assert_eq!(discord.times(), [0.0]);
    assert_eq!(clock.elapsed(), Duration::from_secs(1));
}

#[test]
fn a_stalled_response_times_out_and_is_left_for_later() {
    let clock = sim_clock();
    let discord = FakeDiscord::start(&clock, vec![Reply::Stall { status: 200, len: 100 }]);
    let sender = sender_with_timeout(&clock, Duration::from_millis(200)).with_max_attempts(2);
    let delivery = sender.post(&discord.webhook(HOOK_ID), &payload());
    match &delivery {
        Delivery::RetryLater { reason } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("expected RetryLater, got {other:?}"),
    }
    assert_eq!(discord.times(), [0.0], "an unknown outcome is not retried at once");
    assert_no_secrets(&delivery, &sender);
}

#[test]
fn a_refused_connection_is_left_for_later_without_the_url() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let clock = sim_clock();
    let sender = sender(&clock).with_max_attempts(3);
    let hook =
        Webhook::parse("SWEEPS_WEBHOOK", &format!("http://127.0.0.1:{port}/api/webhooks/{HOOK_ID}/{CANARY}")).unwrap();
    let delivery = sender.post(&hook, &payload());
    match &delivery {
        Delivery::RetryLater { reason } => assert!(reason.contains("(3 attempts)"), "{reason}"),
        other => panic!("expected RetryLater, got {other:?}"),
    }
    assert_eq!(clock.elapsed(), Duration::from_secs(3));
    assert_no_secrets(&delivery, &sender);
    assert!(!format!("{delivery:?}").contains(&port.to_string()), "{delivery:?}");
}

#[test]
fn discord_code_never_reads_the_os_clock_or_names_ureq() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/discord");
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        files += 1;
        for banned in ["ureq", "Instant::now", "SystemTime", "Utc::now", "thread::sleep", "Local::now"] {
            assert!(!text.contains(banned), "{} mentions {banned}", path.display());
        }
    }
    assert!(files >= 4);
}
