//! `orakl export`: alerts joined with their outcomes as CSV (RFC 4180, a
//! header row) or as one JSON array. Both formats come from the same list
//! of named cells, so they always carry the same columns.

use serde_json::{Map, Value, json};

use crate::store::AlertOutcome;

/// The columns, in order: the alert, its delivery, its outcome.
pub const COLUMNS: [&str; 28] = [
    "id",
    "bot",
    "at",
    "ticker",
    "contract",
    "contract_type",
    "strike",
    "expiration",
    "side",
    "sentiment",
    "score",
    "premium",
    "volume",
    "price",
    "label",
    "delivery",
    "outcome_kind",
    "direction",
    "entry",
    "stop",
    "t1",
    "t2",
    "outcome",
    "resolved_at",
    "mfe",
    "mae",
    "opening_confirmed",
    "oi_seen",
];

/// One alert's cells, in [`COLUMNS`] order; `null` where a value does not
/// apply (a stock alert has no strike, an alert without a plan no outcome).
pub fn cells(item: &AlertOutcome) -> [Value; 28] {
    let a = &item.entry.alert;
    let o = item.outcome.as_ref();
    let time = |t: chrono::DateTime<chrono::Utc>| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let num = |x: Option<f64>| x.filter(|x| x.is_finite()).map_or(Value::Null, |x| json!(x));
    let text = |s: Option<&str>| s.map_or(Value::Null, |s| json!(s));
    [
        json!(a.id),
        json!(a.bot.as_str()),
        time(a.at),
        json!(a.ticker),
        text(a.contract.as_deref()),
        // The enums' own serde names, as in the JSONL alert lines.
        json!(a.contract_type),
        num(a.strike),
        a.expiration.map_or(Value::Null, |d| json!(d.to_string())),
        json!(a.side),
        json!(a.sentiment),
        num(a.score),
        num(a.premium.or(a.notional)),
        num(a.volume_delta.or(a.size)),
        num(a.avg_price.or(a.price)),
        json!(a.label),
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
    ]
}

/// RFC 4180: CRLF line ends, a header row, fields quoted when they hold a
/// comma, a quote or a line break, quotes doubled.
pub fn to_csv(items: &[AlertOutcome]) -> String {
    let mut out = csv_line(COLUMNS.iter().map(|c| c.to_string()));
    for item in items {
        out.push_str(&csv_line(cells(item).iter().map(csv_text)));
    }
    out
}

/// A JSON array of objects keyed by [`COLUMNS`], one per alert.
pub fn to_json(items: &[AlertOutcome]) -> String {
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let map: Map<String, Value> = COLUMNS.iter().map(|c| c.to_string()).zip(cells(item)).collect();
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
}
