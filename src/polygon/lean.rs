//! A chain contract as the options scan reads it: only the fields an
//! [`Observation`](crate::flow::Observation) takes. Everything else Polygon
//! sends with a contract (gamma, theta and vega, quote sizes and exchanges,
//! trade conditions, the day's open and close, break-even, ...) is skipped
//! by the parser rather than read into numbers and strings, and the type is
//! read without allocating. Chains are most of what the service parses:
//! this is the model of that hot path; [`OptionSnapshot`] is the whole one.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

use super::models::{OptionSnapshot, iso_date, optional_str, parse_contract_type};
use crate::alert::ContractType;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChainContract {
    #[serde(default)]
    pub details: Option<LeanDetails>,
    #[serde(default)]
    pub day: Option<LeanDay>,
    #[serde(default)]
    pub greeks: Option<LeanGreeks>,
    #[serde(default)]
    pub implied_volatility: Option<f64>,
    #[serde(default)]
    pub last_quote: Option<LeanQuote>,
    #[serde(default)]
    pub last_trade: Option<LeanTrade>,
    #[serde(default)]
    pub open_interest: Option<f64>,
    #[serde(default)]
    pub underlying_asset: Option<LeanUnderlying>,
}

impl ChainContract {
    /// Shares per contract, 100 when Polygon does not say.
    pub fn multiplier(&self) -> f64 {
        self.details.as_ref().and_then(|d| d.shares_per_contract).filter(|m| *m > 0.0).unwrap_or(100.0)
    }

    /// Day volume; a contract that has not traded today has none, i.e. 0.
    pub fn day_volume(&self) -> f64 {
        self.day.as_ref().and_then(|d| d.volume).unwrap_or(0.0)
    }

    /// Spot of the underlying: `price` for stocks, `value` for indices.
    pub fn spot(&self) -> Option<f64> {
        let u = self.underlying_asset.as_ref()?;
        u.price.or(u.value)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LeanDetails {
    /// Call or put; None for Polygon's rare "other" (as
    /// [`OptionSnapshot::contract_type`]).
    #[serde(default, deserialize_with = "contract_type")]
    pub contract_type: Option<ContractType>,
    #[serde(default, deserialize_with = "iso_date")]
    pub expiration_date: Option<NaiveDate>,
    #[serde(default)]
    pub shares_per_contract: Option<f64>,
    #[serde(default)]
    pub strike_price: Option<f64>,
    #[serde(default, deserialize_with = "super::ticker::option_ticker")]
    pub ticker: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LeanDay {
    #[serde(default)]
    pub high: Option<f64>,
    #[serde(default)]
    pub low: Option<f64>,
    #[serde(default)]
    pub volume: Option<f64>,
    #[serde(default)]
    pub vwap: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LeanGreeks {
    #[serde(default)]
    pub delta: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LeanQuote {
    #[serde(default)]
    pub ask: Option<f64>,
    #[serde(default)]
    pub bid: Option<f64>,
    #[serde(default)]
    pub last_updated: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LeanTrade {
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default)]
    pub sip_timestamp: Option<i64>,
    #[serde(default)]
    pub size: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LeanUnderlying {
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default)]
    pub value: Option<f64>,
}

/// An optional `call`/`put` read from the text as it is.
fn contract_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ContractType>, D::Error> {
    optional_str(d, "a string", |v| Ok(parse_contract_type(v)))
}

impl OptionSnapshot {
    /// What the options scan reads of it (multiplier, day volume and spot
    /// with their defaults are read there). Written here, beside the lean
    /// model, so that `models` does not depend on `lean`: the dependency
    /// runs one way.
    pub fn scan_view(&self) -> ChainContract {
        self.into()
    }
}

/// The same fields of the whole model (a contract fetched on its own, a
/// simulated chain): what the scan would have read of its JSON.
impl From<&OptionSnapshot> for ChainContract {
    fn from(s: &OptionSnapshot) -> ChainContract {
        ChainContract {
            details: s.details.as_ref().map(|d| LeanDetails {
                contract_type: d.contract_type(),
                expiration_date: d.expiration_date,
                shares_per_contract: d.shares_per_contract,
                strike_price: d.strike_price,
                ticker: d.ticker.clone(),
            }),
            day: s.day.as_ref().map(|d| LeanDay { high: d.high, low: d.low, volume: d.volume, vwap: d.vwap }),
            greeks: s.greeks.as_ref().map(|g| LeanGreeks { delta: g.delta }),
            implied_volatility: s.implied_volatility,
            last_quote: s.last_quote.as_ref().map(|q| LeanQuote {
                ask: q.ask,
                bid: q.bid,
                last_updated: q.last_updated,
            }),
            last_trade: s.last_trade.as_ref().map(|t| LeanTrade {
                price: t.price,
                sip_timestamp: t.sip_timestamp,
                size: t.size,
            }),
            open_interest: s.open_interest,
            underlying_asset: s.underlying_asset.as_ref().map(|u| LeanUnderlying { price: u.price, value: u.value }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fixture contract and a full live-shaped one read the same
    /// through the lean model as through the whole one.
    #[test]
    fn the_lean_model_reads_what_the_whole_one_reads() {
        let texts = [
            r#"{"break_even_price":671.5,"day":{"change":1.2,"change_percent":0.5,"close":9.3,"high":9.9,"last_updated":1,"low":8.1,"open":8.5,"previous_close":8.0,"volume":1234,"vwap":9.05},"details":{"contract_type":"call","exercise_style":"american","expiration_date":"2026-03-20","shares_per_contract":100,"strike_price":662,"ticker":"O:SPY260320C00662000"},"fmv":9.2,"greeks":{"delta":0.61,"gamma":0.02,"theta":-0.4,"vega":0.3},"implied_volatility":0.27,"last_quote":{"ask":9.3,"ask_exchange":301,"ask_size":10,"bid":9.1,"bid_exchange":302,"bid_size":12,"last_updated":1773063000000000000,"midpoint":9.2,"timeframe":"REAL-TIME"},"last_trade":{"conditions":[209,219],"exchange":301,"price":9.2,"sip_timestamp":1773062999000000000,"size":5,"timeframe":"REAL-TIME"},"open_interest":2005,"underlying_asset":{"change_to_break_even":0.4,"last_updated":1,"price":671.12,"ticker":"SPY","timeframe":"REAL-TIME"}}"#,
            r#"{"details":{"contract_type":"PUT","expiration_date":"2026-03-20","strike_price":5000.0,"ticker":"O:SPXW260320P05000000"},"greeks":{},"underlying_asset":{"value":5100.5}}"#,
            r#"{"details":{"contract_type":"other","ticker":"O:X251121C00001000"},"greeks":null,"day":null}"#,
            r#"{}"#,
        ];
        for text in texts {
            let whole: OptionSnapshot = serde_json::from_str(text).unwrap();
            let lean: ChainContract = serde_json::from_str(text).unwrap();
            assert_eq!(lean, ChainContract::from(&whole), "{text}");
        }
        // A bad value in a field the scan reads is an error in both.
        for bad in [
            r#"{"details":{"strike_price":"abc"}}"#,
            r#"{"details":{"ticker":"O:SPY
event=x"}}"#,
        ] {
            assert!(serde_json::from_str::<OptionSnapshot>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<ChainContract>(bad).is_err(), "{bad}");
        }
    }
}
