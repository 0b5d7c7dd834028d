//! `orakl export`: alerts joined with their outcomes, one [`Row`] each,
//! written as CSV (RFC 4180 through the `csv` crate: a header row, CRLF,
//! quotes only where needed) or as one JSON array. Both are the same serde
//! shape, so they always carry the same columns with the same values.
//!
//! Money is rounded to cents (a premium summed from prints carries float
//! noise such as `10919.999999999993`), counts to whole numbers, ratios to
//! four places. Darkpool's shares, price and notional have columns of their
//! own; the option figures the JSONL line has (dte, spot, open interest,
//! IV, probability ITM, pattern) are here too.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::alert::{ContractType, Sentiment, Side};
use crate::job::Bot;
use crate::store::AlertOutcome;

/// One exported alert. Field order is column order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: String,
    pub bot: Bot,
    pub at: DateTime<Utc>,
    pub ticker: String,
    pub contract: Option<String>,
    pub contract_type: Option<ContractType>,
    pub strike: Option<f64>,
    pub expiration: Option<NaiveDate>,
    pub dte: Option<i64>,
    pub spot: Option<f64>,
    pub premium: Option<f64>,
    pub volume_delta: Option<i64>,
    pub avg_price: Option<f64>,
    pub open_interest: Option<i64>,
    pub iv: Option<f64>,
    pub prob_itm: Option<f64>,
    pub side: Side,
    pub sentiment: Sentiment,
    pub score: Option<f64>,
    pub label: String,
    pub pattern: Option<String>,
    /// The published plan, in the bot's terms (option premium for the
    /// flow bots, the underlying's price for the others).
    pub entry: Option<f64>,
    pub stop: Option<f64>,
    pub target_1: Option<f64>,
    pub target_2: Option<f64>,
    pub target_3: Option<f64>,
    pub rsi: Option<f64>,
    pub atr: Option<f64>,
    /// Darkpool: the print's shares, price and notional.
    pub shares: Option<i64>,
    pub price: Option<f64>,
    pub notional: Option<f64>,
    /// The outbox state: pending, sent, failed, expired.
    pub delivery: &'static str,
    pub outcome_kind: Option<&'static str>,
    pub direction: Option<&'static str>,
    /// The outcome's levels (`entry`/`stop` are the levels published).
    pub outcome_entry: Option<f64>,
    pub outcome_stop: Option<f64>,
    pub t1: Option<f64>,
    pub t2: Option<f64>,
    pub outcome: Option<&'static str>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Maximum favourable and adverse excursions, fractions of the entry.
    pub mfe: Option<f64>,
    pub mae: Option<f64>,
    pub r_multiple: Option<f64>,
    pub opening_confirmed: Option<bool>,
    pub oi_seen: Option<i64>,
}

/// To `places` decimals; a value that is not finite is left out.
fn round(x: Option<f64>, places: i32) -> Option<f64> {
    x.filter(|x| x.is_finite()).map(|x| crate::logging::decimals(x, places))
}

fn cents(x: Option<f64>) -> Option<f64> {
    round(x, 2)
}

fn whole(x: Option<f64>) -> Option<i64> {
    // Counts (contracts, shares) are whole in the data; the cast saturates.
    x.filter(|x| x.is_finite()).map(|x| x.round() as i64)
}

impl Row {
    pub fn of(item: &AlertOutcome) -> Row {
        let a = &item.entry.alert;
        let o = item.outcome.as_ref();
        let target = |i: usize| cents(a.targets.as_ref().and_then(|t| t.get(i).copied()));
        Row {
            id: a.id.clone(),
            bot: a.bot,
            at: a.at,
            ticker: a.ticker.clone(),
            contract: a.contract.clone(),
            contract_type: a.contract_type,
            strike: cents(a.strike),
            expiration: a.expiration,
            dte: a.dte,
            spot: cents(a.spot),
            premium: cents(a.premium),
            volume_delta: whole(a.volume_delta),
            avg_price: cents(a.avg_price),
            open_interest: whole(a.open_interest),
            iv: round(a.details.iv, 4),
            prob_itm: round(a.details.prob_itm, 4),
            side: a.side,
            sentiment: a.sentiment,
            score: round(a.score, 1),
            label: a.label.clone(),
            pattern: a.pattern.clone(),
            entry: cents(a.entry),
            stop: cents(a.stop),
            target_1: target(0),
            target_2: target(1),
            target_3: target(2),
            rsi: round(a.rsi, 1),
            atr: cents(a.atr),
            shares: whole(a.size),
            price: cents(a.price),
            notional: cents(a.notional),
            delivery: item.entry.status.as_str(),
            outcome_kind: o.map(|o| o.kind.as_str()),
            direction: o.map(|o| o.direction.as_str()),
            outcome_entry: cents(o.map(|o| o.entry)),
            outcome_stop: cents(o.map(|o| o.stop)),
            t1: cents(o.map(|o| o.t1)),
            t2: cents(o.and_then(|o| o.t2)),
            outcome: o.map(|o| o.status.as_str()),
            resolved_at: o.and_then(|o| o.resolved_at),
            mfe: round(o.and_then(|o| o.mfe), 4),
            mae: round(o.and_then(|o| o.mae), 4),
            r_multiple: round(o.and_then(|o| o.r_multiple), 2),
            opening_confirmed: o.and_then(|o| o.opening_confirmed),
            oi_seen: whole(o.and_then(|o| o.oi_seen)),
        }
    }
}

/// The column names, in order: [`Row`]'s fields.
pub fn columns() -> Vec<String> {
    // The names come from the serde shape itself, so they cannot drift.
    let blank = AlertOutcome {
        entry: crate::store::OutboxEntry {
            alert: crate::alert::Alert::new(String::new(), Bot::Sweeps, DateTime::<Utc>::MIN_UTC, ""),
            status: crate::store::AlertStatus::Pending,
            created_at: DateTime::<Utc>::MIN_UTC,
            attempts: 0,
            last_attempt_at: None,
            last_error: None,
            message_id: None,
            embed_index: None,
            sent_at: None,
        },
        outcome: None,
    };
    // The CSV writer's header row: the field names in declaration order.
    let mut w = csv::Writer::from_writer(Vec::new());
    if w.serialize(Row::of(&blank)).is_err() {
        return Vec::new();
    }
    let bytes = w.into_inner().unwrap_or_default();
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    r.headers().map(|h| h.iter().map(str::to_string).collect()).unwrap_or_default()
}

/// RFC 4180: a header row, CRLF line ends, fields quoted when they hold a
/// comma, a quote or a line break, quotes doubled.
pub fn to_csv(items: &[AlertOutcome]) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    if items.is_empty() {
        // Serialising writes the header with the first row; none: by hand.
        w.write_record(columns())?;
    }
    for item in items {
        w.serialize(Row::of(item))?;
    }
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A JSON array of [`Row`] objects.
pub fn to_json(items: &[AlertOutcome]) -> Result<String, serde_json::Error> {
    let rows: Vec<Row> = items.iter().map(Row::of).collect();
    let mut s = serde_json::to_string_pretty(&rows)?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(a: crate::alert::Alert) -> AlertOutcome {
        let entry = crate::store::OutboxEntry {
            created_at: a.at,
            alert: a,
            status: crate::store::AlertStatus::Sent,
            attempts: 0,
            last_attempt_at: None,
            last_error: None,
            message_id: None,
            embed_index: None,
            sent_at: None,
        };
        AlertOutcome { entry, outcome: None }
    }

    #[test]
    fn money_is_in_cents_and_darkpool_has_its_own_columns() {
        let at = chrono::DateTime::from_timestamp(1_773_072_000, 0).expect("instant");
        let mut a = crate::alert::Alert::new("s1".into(), Bot::Sweeps, at, "SPY");
        // Summed from prints: 10,920 with float noise.
        (a.premium, a.volume_delta, a.spot, a.dte) =
            (Some(10_919.999_999_999_993), Some(39.0), Some(598.456), Some(11));
        (a.details.iv, a.details.prob_itm, a.pattern) = (Some(0.312_345_6), Some(0.45), Some("2-1-2".into()));
        a.targets = Some(vec![3.333_333, 4.5]);
        let mut d = crate::alert::Alert::new("d1".into(), Bot::Darkpool, at, "SPY");
        (d.size, d.price, d.notional) = (Some(50_000.0), Some(600.123), Some(30_006_150.000_000_004));
        let csv = to_csv(&[item(a), item(d)]).expect("csv");
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = r.headers().expect("header").iter().map(str::to_string).collect();
        assert_eq!(header, columns());
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
        let cell = |row: usize, col: &str| rows[row][header.iter().position(|h| h == col).expect(col)].to_string();
        let want = [
            ("premium", "10920.0"),
            ("volume_delta", "39"),
            ("spot", "598.46"),
            ("dte", "11"),
            ("iv", "0.3123"),
            ("prob_itm", "0.45"),
            ("pattern", "2-1-2"),
            ("target_1", "3.33"),
            ("target_2", "4.5"),
            ("target_3", ""),
            ("shares", ""),
        ];
        for (col, v) in want {
            assert_eq!(cell(0, col), v, "{col}");
        }
        for (col, v) in [("shares", "50000"), ("price", "600.12"), ("notional", "30006150.0"), ("premium", "")] {
            assert_eq!(cell(1, col), v, "darkpool {col}");
        }
        assert!(csv.ends_with("\r\n") && csv.lines().count() == 3, "{csv}");
    }

    #[test]
    fn an_empty_export_still_has_its_header() {
        let csv = to_csv(&[]).expect("csv");
        assert_eq!(csv, format!("{}\r\n", columns().join(",")));
        assert_eq!(to_json(&[]).expect("json"), "[]\n");
    }
}
