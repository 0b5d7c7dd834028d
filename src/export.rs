//! `orakl export`: alerts joined with their outcomes as CSV (RFC 4180, a
//! header row) or as one JSON array. Both formats come from the same list
//! of named cells, so they always carry the same columns.
//!
//! The alert's cells are its JSONL line (the `Alert` serde shape, the same
//! key names and values as `--format jsonl`), without `details` (display
//! values of the embed); the delivery and outcome columns follow.

use serde_json::{Map, Value, json};

use crate::store::AlertOutcome;

/// The alert's JSONL keys in their order, `details` left out. A test holds
/// this list to the serde shape of a fully filled `Alert`.
pub const ALERT_COLUMNS: [&str; 27] = [
    "id",
    "bot",
    "at",
    "ticker",
    "contract",
    "contract_type",
    "strike",
    "expiration",
    "dte",
    "spot",
    "premium",
    "volume_delta",
    "avg_price",
    "open_interest",
    "side",
    "sentiment",
    "score",
    "label",
    "entry",
    "stop",
    "targets",
    "pattern",
    "rsi",
    "atr",
    "size",
    "price",
    "notional",
];

/// After the alert: its delivery state and its outcome. The outcome's
/// levels are `outcome_entry`/`outcome_stop` because `entry`/`stop` are the
/// levels the alert published.
pub const OUTCOME_COLUMNS: [&str; 13] = [
    "delivery",
    "outcome_kind",
    "direction",
    "outcome_entry",
    "outcome_stop",
    "t1",
    "t2",
    "outcome",
    "resolved_at",
    "mfe",
    "mae",
    "opening_confirmed",
    "oi_seen",
];

/// Every column, in order.
pub fn columns() -> impl Iterator<Item = &'static str> {
    ALERT_COLUMNS.iter().chain(OUTCOME_COLUMNS.iter()).copied()
}

/// One alert's cells, in [`columns`] order; `null` where a value does not
/// apply (a stock alert has no strike, an alert without a plan no outcome).
pub fn cells(item: &AlertOutcome) -> Vec<Value> {
    let a = &item.entry.alert;
    // An alert always serialises (plain data); `Null` keeps the row's shape.
    let line = match serde_json::to_value(a) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let o = item.outcome.as_ref();
    let time = |t: chrono::DateTime<chrono::Utc>| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let num = |x: Option<f64>| x.filter(|x| x.is_finite()).map_or(Value::Null, |x| json!(x));
    let text = |s: Option<&str>| s.map_or(Value::Null, |s| json!(s));
    let mut row: Vec<Value> = ALERT_COLUMNS.iter().map(|c| line.get(*c).cloned().unwrap_or(Value::Null)).collect();
    row.extend([
        json!(item.entry.status.as_str()),
        text(o.map(|o| o.kind.as_str())),
        text(o.map(|o| o.direction.as_str())),
        num(o.map(|o| o.entry)),
        num(o.map(|o| o.stop)),
        num(o.map(|o| o.t1)),
        num(o.and_then(|o| o.t2)),
        text(o.map(|o| o.status.as_str())),
        o.and_then(|o| o.resolved_at).map_or(Value::Null, time),
        num(o.and_then(|o| o.mfe)),
        num(o.and_then(|o| o.mae)),
        o.and_then(|o| o.opening_confirmed).map_or(Value::Null, |c| json!(c)),
        num(o.and_then(|o| o.oi_seen)),
    ]);
    row
}

/// RFC 4180: CRLF line ends, a header row, fields quoted when they hold a
/// comma, a quote or a line break, quotes doubled.
pub fn to_csv(items: &[AlertOutcome]) -> String {
    let mut out = csv_line(columns().map(str::to_string));
    for item in items {
        out.push_str(&csv_line(cells(item).iter().map(csv_text)));
    }
    out
}

/// A JSON array of objects keyed by [`columns`], one per alert.
pub fn to_json(items: &[AlertOutcome]) -> String {
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let map: Map<String, Value> = columns().map(str::to_string).zip(cells(item)).collect();
            Value::Object(map)
        })
        .collect();
    // Serialising a Value cannot fail; the fallback keeps the output valid.
    let mut s = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_string());
    s.push('\n');
    s
}

fn csv_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_line(fields: impl Iterator<Item = String>) -> String {
    let mut line = fields.map(|f| csv_field(&f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\r', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let cases = [
            ("plain", "plain"),
            ("", ""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("cr\rhere", "\"cr\rhere\""),
            ("it's; fine", "it's; fine"),
        ];
        for (input, want) in cases {
            assert_eq!(csv_field(input), want, "{input:?}");
        }
    }

    #[test]
    fn a_line_ends_in_crlf() {
        assert_eq!(csv_line(["a".to_string(), "b,c".to_string()].into_iter()), "a,\"b,c\"\r\n");
    }

    #[test]
    fn cells_render_as_csv_text() {
        assert_eq!(csv_text(&Value::Null), "");
        assert_eq!(csv_text(&json!("x")), "x");
        assert_eq!(csv_text(&json!(1.5)), "1.5");
        assert_eq!(csv_text(&json!(true)), "true");
    }

    /// The alert's columns are its JSONL keys: a fully filled alert
    /// serialises to exactly `ALERT_COLUMNS` (and `details`), in order.
    #[test]
    fn alert_columns_are_the_jsonl_keys() {
        let at = chrono::DateTime::from_timestamp(1_773_072_000, 0).expect("instant");
        let mut a = crate::alert::Alert::new("x".into(), crate::job::Bot::Sweeps, at, "SPY");
        a.contract = Some("O:SPY260320C00600000".into());
        a.contract_type = Some(crate::alert::ContractType::Call);
        a.expiration = chrono::NaiveDate::from_ymd_opt(2026, 3, 20);
        (a.strike, a.dte, a.spot, a.premium, a.volume_delta) =
            (Some(600.0), Some(11), Some(598.0), Some(1e5), Some(9.0));
        (a.avg_price, a.open_interest, a.score) = (Some(2.0), Some(10.0), Some(80.0));
        (a.entry, a.stop, a.targets, a.pattern) = (Some(2.0), Some(1.0), Some(vec![3.0]), Some("2-1-2".into()));
        (a.rsi, a.atr, a.size, a.price, a.notional) = (Some(50.0), Some(1.0), Some(5.0), Some(2.0), Some(10.0));
        a.details.iv = Some(0.3);
        let text = a.to_jsonl();
        let Ok(Value::Object(line)) = serde_json::from_str::<Value>(&text) else { panic!("an object: {text}") };
        let mut keys: Vec<&str> = line.keys().map(String::as_str).filter(|k| *k != "details").collect();
        let mut want = ALERT_COLUMNS.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
        // The columns follow the line's key order.
        let at_key = |k: &str| text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} in {text}"));
        assert!(ALERT_COLUMNS.windows(2).all(|w| at_key(w[0]) < at_key(w[1])), "{text}");
        let entry = crate::store::OutboxEntry {
            alert: a,
            status: crate::store::AlertStatus::Sent,
            created_at: at,
            attempts: 0,
            last_attempt_at: None,
            last_error: None,
            message_id: None,
            sent_at: None,
        };
        let item = crate::store::AlertOutcome { entry, outcome: None };
        let row = cells(&item);
        for (i, c) in ALERT_COLUMNS.iter().enumerate() {
            assert_eq!(row[i], line[*c], "{c}");
        }
    }
}
