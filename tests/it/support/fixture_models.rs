//! Response models of Polygon endpoints orakl does not call, kept to read
//! the vendored recorded responses in the fixture tests (they document
//! what the API sends beside what orakl reads). The service's own models
//! are `orakl::polygon::models`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use orakl::alert::ContractType;
use orakl::polygon::models::{
    Envelope, Greeks, OptionDetails, OptionQuote, OptionTrade, TickerSnapshot, UnderlyingAsset,
};

/// `/v3/quotes/{ticker}`.
pub type QuotesPage = Envelope<Vec<Quote>>;
/// `/v2/last/trade/{ticker}`.
pub type LastTradeResponse = Envelope<LastTrade>;
/// `/v3/reference/conditions`.
pub type ConditionsPage = Envelope<Vec<Condition>>;
/// `/v3/reference/exchanges`.
pub type ExchangesPage = Envelope<Vec<Exchange>>;
/// `/v3/reference/options/contracts` (list) and `.../{contract}` (object).
pub type OptionsContractsPage = Envelope<Vec<OptionsContract>>;
pub type OptionsContractResponse = Envelope<OptionsContract>;
/// `/v3/snapshot` (universal snapshot).
pub type UniversalSnapshotPage = Envelope<Vec<UniversalSnapshot>>;

/// `/v2/snapshot/locale/us/markets/stocks/tickers?tickers=A,B`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct StockSnapshotsResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tickers: Option<Vec<TickerSnapshot>>,
}

/// `/v2/last/trade/{ticker}`: single-letter keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct LastTrade {
    #[serde(rename = "T", default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<i32>>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<i32>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub trf_timestamp: Option<i64>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub trf_id: Option<i32>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub sip_timestamp: Option<i64>,
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<i32>,
    #[serde(rename = "y", default, skip_serializing_if = "Option::is_none")]
    pub participant_timestamp: Option<i64>,
    #[serde(rename = "z", default, skip_serializing_if = "Option::is_none")]
    pub tape: Option<i32>,
}

/// One NBBO quote from `/v3/quotes`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Quote {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_exchange: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_exchange: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicators: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tape: Option<i32>,
}

/// A trade or quote condition from `/v3/reference/conditions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Condition {
    pub id: i32,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_types: Option<Vec<String>>,
    /// SIP name → that SIP's code for this condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_mapping: Option<std::collections::BTreeMap<String, String>>,
}

/// An exchange, TRF or SIP from `/v3/reference/exchanges`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Exchange {
    pub id: i32,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acronym: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_mic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A contract from the reference endpoint `/v3/reference/options/contracts`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct OptionsContract {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercise_style: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_exchange: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares_per_contract: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strike_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlying_ticker: Option<String>,
}

impl OptionsContract {
    pub fn contract_type(&self) -> Option<ContractType> {
        match self.contract_type.as_deref()?.to_ascii_lowercase().as_str() {
            "call" => Some(ContractType::Call),
            "put" => Some(ContractType::Put),
            _ => None,
        }
    }
}

/// One item of the universal snapshot `/v3/snapshot`. An item for a ticker
/// Polygon does not know carries only `ticker`, `error` and `message`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct UniversalSnapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    /// `stocks`, `options`, `indices`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_status: Option<String>,
    /// Per-item failure, e.g. `NOT_FOUND`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<OptionDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_even_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmv: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeks: Option<Greeks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implied_volatility: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_quote: Option<OptionQuote>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trade: Option<OptionTrade>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_interest: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlying_asset: Option<UnderlyingAsset>,
    /// Indices only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// The `session` block of a universal snapshot item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Session {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_trading_change: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_trading_change_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_trading_change: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_trading_change_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_close: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
}
