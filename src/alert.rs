//! An alert: what a bot found, in one self-contained record.
//!
//! The same value is stored in the outbox (as JSON), rendered into a Discord
//! embed, and printed as the JSONL record of `--dry-run --format jsonl` and
//! `replay --format jsonl`. Field order here is the JSONL key order.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::job::Bot;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractType {
    Call,
    Put,
}

impl ContractType {
    /// "C" or "P", as in a trader's shorthand `SPY 450C`.
    pub fn letter(self) -> char {
        match self {
            ContractType::Call => 'C',
            ContractType::Put => 'P',
        }
    }
}

/// Where the trade printed relative to the quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Ask,
    Mid,
    Bid,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Bullish,
    Bearish,
    Neutral,
}

/// A trade plan in the terms the bot publishes it (option premium for flow
/// bots, underlying price for the others).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub entry: f64,
    pub stop: f64,
    pub targets: Vec<f64>,
}

/// Below this, two prices are one (a 1:1 plan at cent ticks is 1:1, not
/// 0.999999…).
pub const PRICE_EPSILON: f64 = 1e-9;

impl Plan {
    /// A plan's direction and reward:risk at its stated entry, from the
    /// entry, the stop and the first target: long when the target is above
    /// the entry (or, with the target at the entry, the stop below it). The
    /// reward:risk is `|T1 − entry| ÷ |entry − stop|`, and `None` when the stop
    /// sits at or beyond the entry on the target's side (no risk to size).
    /// One rule for the bots that publish plans and for `orakl evaluate`.
    pub fn shape(entry: f64, stop: f64, first_target: f64) -> (bool, Option<f64>) {
        let long = if first_target != entry { first_target > entry } else { stop < entry };
        let sign = if long { 1.0 } else { -1.0 };
        let (reward, risk) = ((first_target - entry) * sign, (entry - stop) * sign);
        // The reward is never negative (the direction is the target's side);
        // abs() only turns the −0 of a short plan whose target is its entry into 0.
        (long, (risk > 0.0).then(|| (reward / risk).abs()))
    }

    /// This plan's reward:risk at its entry (see [`Plan::shape`]); `None`
    /// without a target or a risk.
    pub fn reward_risk(&self) -> Option<f64> {
        Plan::shape(self.entry, self.stop, *self.targets.first()?).1
    }

    /// At least `min` reward for each unit of risk (within [`PRICE_EPSILON`]).
    pub fn meets(&self, min: f64) -> bool {
        self.reward_risk().is_some_and(|rr| rr >= min - PRICE_EPSILON)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic: bot + instrument + the event that fired it, so the
    /// same event can never be stored (or posted) twice.
    pub id: String,
    pub bot: Bot,
    pub at: DateTime<Utc>,
    /// The underlying (or the stock, for stock bots).
    pub ticker: String,
    pub contract: Option<String>,
    pub contract_type: Option<ContractType>,
    pub strike: Option<f64>,
    pub expiration: Option<NaiveDate>,
    pub dte: Option<i64>,
    pub spot: Option<f64>,
    pub premium: Option<f64>,
    pub volume_delta: Option<f64>,
    pub avg_price: Option<f64>,
    pub open_interest: Option<f64>,
    pub side: Side,
    pub sentiment: Sentiment,
    pub score: Option<f64>,
    /// Honest label, e.g. "sweep confirmed: 4 ISO prints on 3 exchanges",
    /// "flow (unconfirmed)", "dark pool print".
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsi: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notional: Option<f64>,
    /// Display-only details for the embed.
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

/// Values shown in the embed that are not part of the JSONL contract's
/// required keys (kept in the record all the same, so the outbox row alone
/// can re-render the embed after a restart).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Details {
    /// The contract's quote when the alert fired (bid, ask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<(f64, f64)>,
    /// The contract's volume for the day so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_volume: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iv: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prob_itm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strike_distance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vol_oi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_vol_oi: Option<f64>,
    /// Each part of the score, in display order: ("premium", 27.5), ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub score_parts: Vec<(String, f64)>,
    /// How unusual the event is for its own contract and underlying, in
    /// plain words ("7× this contract's usual volume for 30 s"), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unusual: Vec<String>,
    /// Free-form extra lines (repeat count, entry timing, ...), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<(String, String)>,
}

impl Details {
    pub fn is_empty(&self) -> bool {
        *self == Details::default()
    }
}

impl Alert {
    /// A blank alert of `bot` for `ticker` at `at`; bots fill in the rest.
    pub fn new(id: String, bot: Bot, at: DateTime<Utc>, ticker: &str) -> Self {
        Alert {
            id,
            bot,
            at,
            ticker: ticker.to_string(),
            contract: None,
            contract_type: None,
            strike: None,
            expiration: None,
            dte: None,
            spot: None,
            premium: None,
            volume_delta: None,
            avg_price: None,
            open_interest: None,
            side: Side::Unknown,
            sentiment: Sentiment::Neutral,
            score: None,
            label: String::new(),
            entry: None,
            stop: None,
            targets: None,
            pattern: None,
            rsi: None,
            atr: None,
            size: None,
            price: None,
            notional: None,
            details: Details::default(),
        }
    }

    /// Publishes `plan` on the alert, its levels rounded to the price tick
    /// a trader would enter (the outcome is then measured at exactly the
    /// published levels).
    pub fn with_plan(mut self, plan: &Plan) -> Self {
        self.entry = Some(tick(plan.entry));
        self.stop = Some(tick(plan.stop));
        self.targets = Some(plan.targets.iter().map(|t| tick(*t)).collect());
        self
    }

    /// One line of `--format jsonl`. The key order is the struct's, so the
    /// output is byte-identical for identical alerts.
    pub fn to_jsonl(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// A stock price rounded to its tick: cents from $1 up, hundredths of a
/// cent below (SEC Rule 612's sub-penny allowance).
pub fn tick(price: f64) -> f64 {
    let per_dollar = if price.abs() >= 1.0 { 100.0 } else { 10_000.0 };
    (price * per_dollar).round() / per_dollar
}

/// A number without trailing zeros: 450 → "450", 452.5 → "452.5".
pub fn fmt_num(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Dollars with thousands separators and no cents: 1234567.8 → "1,234,568".
pub fn fmt_money(x: f64) -> String {
    let neg = x < 0.0;
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if neg { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_numbers_read_naturally() {
        assert_eq!(fmt_money(1_234_567.8), "1,234,568");
        assert_eq!(fmt_money(999.0), "999");
        assert_eq!(fmt_money(-50_000.0), "-50,000");
        assert_eq!(fmt_num(450.0), "450");
        assert_eq!(fmt_num(452.5), "452.5");
    }

    #[test]
    fn jsonl_has_the_contract_keys_and_round_trips() {
        let at = "2025-10-22T14:30:05Z".parse().unwrap();
        let a = Alert::new("golden_sweeps:O:SPY251121C00670000:1".into(), Bot::GoldenSweeps, at, "SPY");
        let line = a.to_jsonl();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for k in [
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
        ] {
            assert!(v.get(k).is_some(), "missing key {k} in {line}");
        }
        assert_eq!(v["at"], "2025-10-22T14:30:05Z");
        let back: Alert = serde_json::from_str(&line).unwrap();
        assert_eq!(back, a);
    }
}
