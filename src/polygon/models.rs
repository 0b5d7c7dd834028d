//! Typed shapes of the Polygon (Massive) REST responses orakl reads.
//!
//! Polygon leaves fields out freely: greeks are absent or `{}` for deep
//! in-the-money contracts, quotes and trades depend on the plan, an index
//! underlying carries `value` instead of `price`, and a `results` key may be
//! `null` or missing. So nearly every field is an `Option`, unknown fields are
//! ignored, and counts and sizes are `f64` because the API sends `100.0` as
//! readily as `100`. Timestamps are Unix nanoseconds (`i64`), except the
//! aggregate bar start `t`, which is milliseconds.
//!
//! The models also serialise back to the same field names (absent values are
//! left out), so a tape or a simulated chain written from them reads like the
//! API's own JSON.

use std::fmt;
use std::marker::PhantomData;

use chrono::NaiveDate;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::alert::ContractType;

/// The wrapper around every v2/v3 list or single-object response.
///
/// `T` is `Vec<Item>` for lists and `Item` for single-object endpoints. A
/// `results` key that is `null` or missing gives `None`: an empty result,
/// not an error.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Envelope<T> {
    /// `OK`, or `DELAYED` on a delayed-data plan (also a success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<T>,
    /// The next page, if any. Its host is not trusted: the client re-bases it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
    #[serde(rename = "resultsCount", skip_serializing_if = "Option::is_none")]
    pub results_count: Option<f64>,
    #[serde(rename = "queryCount", skip_serializing_if = "Option::is_none")]
    pub query_count: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjusted: Option<bool>,
    /// Error text on failed requests (`{"status":"ERROR","error":"..."}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl<T> Default for Envelope<T> {
    fn default() -> Self {
        Self {
            status: None,
            request_id: None,
            results: None,
            next_url: None,
            count: None,
            results_count: None,
            query_count: None,
            adjusted: None,
            error: None,
            message: None,
        }
    }
}

/// One page of an option chain. The first published version of this
/// endpoint's mock carried a single object in `results`; both shapes parse.
pub type ChainPage = Envelope<OneOrMany<OptionSnapshot>>;
/// `/v3/snapshot/options/{underlying}/{contract}`: `results` is one object.
pub type ContractResponse = Envelope<OptionSnapshot>;
/// `/v2/aggs/ticker/...`: an empty range has no `results` key at all.
pub type AggsPage = Envelope<Vec<Bar>>;
/// `/v3/trades/{ticker}`.
pub type TradesPage = Envelope<Vec<Trade>>;

/// A `results` value that is either a list or a single object.
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrMany<T> {
    One(Box<T>),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![*t],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OneOrMany::One(t) => t.serialize(s),
            OneOrMany::Many(v) => v.serialize(s),
        }
    }
}

// Hand-written rather than `#[serde(untagged)]` so that a bad field inside a
// contract reports the real serde error (field and column), not "data did
// not match any variant".
impl<'de, T: DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array or an object")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| OneOrMany::One(Box::new(t)))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// What a paginated list response says besides its results.
#[derive(Debug, Default)]
pub struct PageMeta {
    pub status: Option<String>,
    pub next_url: Option<String>,
    pub error: Option<String>,
    pub message: Option<String>,
}

/// Reads an [`Envelope`] of [`OneOrMany`] results, handing each result to
/// `keep` as soon as it is read and pushing what it returns onto `out`:
/// a page of 250 contracts is never held as models (816 bytes each), only as
/// what the caller keeps of them. `read` counts the results.
pub struct PageSeed<'a, T, U, F> {
    pub keep: &'a mut F,
    pub out: &'a mut Vec<U>,
    pub read: &'a mut usize,
    pub item: PhantomData<T>,
}

impl<'de, T: DeserializeOwned, U, F: FnMut(T) -> Option<U>> de::DeserializeSeed<'de> for PageSeed<'_, T, U, F> {
    type Value = PageMeta;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PageMeta, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned, U, F: FnMut(T) -> Option<U>> Visitor<'de> for PageSeed<'_, T, U, F> {
    type Value = PageMeta;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageMeta, A::Error> {
        let mut meta = PageMeta::default();
        let mut items = Some(self);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "status" => meta.status = map.next_value()?,
                "next_url" => meta.next_url = map.next_value()?,
                "error" => meta.error = map.next_value()?,
                "message" => meta.message = map.next_value()?,
                "results" => match items.take() {
                    Some(seed) => map.next_value_seed(Results(seed))?,
                    None => return Err(de::Error::duplicate_field("results")),
                },
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(meta)
    }
}

/// The `results` value of a [`PageSeed`]: a list, one object, or null.
struct Results<'a, T, U, F>(PageSeed<'a, T, U, F>);

impl<'de, T: DeserializeOwned, U, F: FnMut(T) -> Option<U>> de::DeserializeSeed<'de> for Results<'_, T, U, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned, U, F: FnMut(T) -> Option<U>> Visitor<'de> for Results<'_, T, U, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array or an object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let PageSeed { keep, out, read, .. } = self.0;
        while let Some(item) = seq.next_element::<T>()? {
            *read += 1;
            out.extend(keep(item));
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let PageSeed { keep, out, read, .. } = self.0;
        let item = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
        *read += 1;
        out.extend(keep(item));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// One option contract in a chain or single-contract snapshot.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct OptionSnapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_even_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<OptionDay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<OptionDetails>,
    /// Polygon's fair market value (Business plans only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmv: Option<f64>,
    /// Absent or `{}` when Polygon cannot compute them.
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
}

impl OptionSnapshot {
    /// The option ticker, e.g. `O:SPY251121C00670000`.
    pub fn ticker(&self) -> Option<&str> {
        self.details.as_ref()?.ticker.as_deref()
    }

    /// Call or put from `details.contract_type` (never from the ticker
    /// string); `None` for Polygon's rare "other" or a missing type.
    pub fn contract_type(&self) -> Option<ContractType> {
        self.details.as_ref()?.contract_type()
    }

    pub fn strike(&self) -> Option<f64> {
        self.details.as_ref()?.strike_price
    }

    pub fn expiration(&self) -> Option<NaiveDate> {
        self.details.as_ref()?.expiration_date
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct OptionDetails {
    /// `call`, `put` or (rarely) `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercise_style: Option<String>,
    #[serde(default, deserialize_with = "iso_date", skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares_per_contract: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strike_price: Option<f64>,
    #[serde(default, deserialize_with = "super::ticker::option_ticker", skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    /// Only in the universal snapshot, which has no `ticker` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlying_ticker: Option<String>,
}

/// ASCII digits (at most 19) as a number; None if any byte is not a digit.
pub(crate) fn ascii_number(digits: &[u8]) -> Option<u64> {
    if digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &c| c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0')))
}

/// `YYYY-MM-DD` with ASCII digits, as a date; None for anything else.
pub(crate) fn plain_date(s: &[u8]) -> Option<NaiveDate> {
    let digits = |r: std::ops::Range<usize>| ascii_number(&s[r]).and_then(|n| u32::try_from(n).ok());
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(digits(0..4)?).ok()?, digits(5..7)?, digits(8..10)?)
}

/// An optional date as chrono reads it, with the usual `YYYY-MM-DD` read
/// without chrono's general parser: every contract of every chain has one,
/// and the general parser was a tenth of reading a chain.
pub(crate) fn iso_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    optional_str(d, "a date", |v| match plain_date(v.as_bytes()) {
        Some(date) => Ok(Some(date)),
        None => v.parse::<NaiveDate>().map(Some).map_err(|e| e.to_string()),
    })
}

/// An optional string field read by `read` from the text as it is (no
/// `String` is made); null or missing is None.
pub(crate) fn optional_str<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    read: fn(&str) -> Result<Option<T>, String>,
) -> Result<Option<T>, D::Error> {
    struct V<T>(&'static str, fn(&str) -> Result<Option<T>, String>);
    impl<'de, T> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            (self.1)(v).map_err(E::custom)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
    }
    d.deserialize_option(V(expecting, read))
}

impl OptionDetails {
    pub fn contract_type(&self) -> Option<ContractType> {
        parse_contract_type(self.contract_type.as_deref()?)
    }
}

pub(crate) fn parse_contract_type(s: &str) -> Option<ContractType> {
    if s.eq_ignore_ascii_case("call") {
        Some(ContractType::Call)
    } else if s.eq_ignore_ascii_case("put") {
        Some(ContractType::Put)
    } else {
        None
    }
}

/// The contract's current-day bar.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct OptionDay {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// Nanoseconds (one SDK mock has milliseconds; treat as opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_close: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vwap: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Greeks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vega: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct OptionQuote {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_exchange: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_exchange: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_size: Option<f64>,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub midpoint: Option<f64>,
    /// `REAL-TIME` or `DELAYED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct OptionTrade {
    /// OPRA condition codes (219 = intermarket sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<i32>,
    /// Universal snapshot only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Universal snapshot only, in place of `sip_timestamp`. Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct UnderlyingAsset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_to_break_even: Option<f64>,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<i64>,
    /// Stock underlyings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    /// Index underlyings (`I:SPX`) carry `value` instead of `price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// One aggregate bar as Polygon sends it. The start `t` is Unix
/// **milliseconds**. Rules read `bars::Bar` (built by
/// `bars::Bar::from_polygon`, which adds the end and checks the numbers).
/// `SnapshotBar` and `MinuteBar` below are other wire objects (every field
/// optional, zeros before the open, `av`), not bars a rule reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Bar {
    #[serde(rename = "t")]
    pub start_ms: i64,
    #[serde(rename = "o")]
    pub open: f64,
    #[serde(rename = "h")]
    pub high: f64,
    #[serde(rename = "l")]
    pub low: f64,
    #[serde(rename = "c")]
    pub close: f64,
    #[serde(rename = "v", default)]
    pub volume: f64,
    #[serde(rename = "vw", default, skip_serializing_if = "Option::is_none")]
    pub vwap: Option<f64>,
    /// Number of transactions.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<f64>,
    /// Only in `/prev` responses.
    #[serde(rename = "T", default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otc: Option<bool>,
}

/// One print from `/v3/trades`. Timestamps are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Trade {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<i32>,
    /// 4 is FINRA's TRF (off-exchange, "dark") for stocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_timestamp: Option<i64>,
    pub price: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
    pub sip_timestamp: i64,
    pub size: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tape: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trf_id: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trf_timestamp: Option<i64>,
}

/// One record of Massive's `GET /options/v1/unusual-trades`: an option
/// trade of $100,000 premium or more, 1,000 contracts or more, or an
/// intermarket sweep (condition 219), with the `flags` naming each case it
/// meets.
///
/// Massive's page names the record's contents (options ticker, underlying,
/// OCC root, price, size, exchange, conditions, SIP timestamp, flags) but
/// its stored copy does not show every key's spelling, so the plausible
/// spellings are all read: `ticker` or `options_ticker`, `underlying_ticker`
/// or `underlying`, `occ_root` or `root`; `sip_timestamp` as Unix
/// nanoseconds or as RFC 3339 text. The record is written back with the
/// first spelling of each and nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct UnusualTrade {
    /// The option ticker, `O:SPY260123C00687000`.
    #[serde(alias = "options_ticker", alias = "option_ticker")]
    pub ticker: String,
    #[serde(default, alias = "underlying", skip_serializing_if = "Option::is_none")]
    pub underlying_ticker: Option<String>,
    #[serde(default, alias = "root", skip_serializing_if = "Option::is_none")]
    pub occ_root: Option<String>,
    pub price: f64,
    pub size: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<i32>,
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<i32>,
    #[serde(deserialize_with = "nanos_or_rfc3339")]
    pub sip_timestamp: i64,
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// The trade's id or sequence number, when the record carries one: with
    /// the timestamp they tell two prints of one nanosecond apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
}

/// One quote from `/v3/quotes/{ticker}` (options: the NBBO). Timestamps are
/// nanoseconds.
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
    pub sequence_number: Option<i64>,
    pub sip_timestamp: i64,
}

/// A list that may come as `null`.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A timestamp as Unix nanoseconds (an integer, or a float the API wrote
/// as one) or as RFC 3339 text.
fn nanos_or_rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Int(i64),
        Float(f64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Int(n) => Ok(n),
        Either::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        Either::Float(f) => Err(de::Error::custom(format!("timestamp {f} is not whole nanoseconds"))),
        Either::Text(s) => chrono::DateTime::parse_from_rfc3339(&s)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .ok_or_else(|| de::Error::custom(format!("timestamp {s:?} is neither nanoseconds nor RFC 3339"))),
    }
}

/// `/v2/snapshot/locale/us/markets/stocks/tickers/{ticker}`: the snapshot is
/// under `ticker`, not `results`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct StockSnapshotResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<TickerSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct TickerSnapshot {
    #[serde(default, deserialize_with = "super::ticker::stock_ticker", skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<SnapshotBar>,
    #[serde(rename = "prevDay", default, skip_serializing_if = "Option::is_none")]
    pub prev_day: Option<SnapshotBar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<MinuteBar>,
    #[serde(rename = "lastTrade", default, skip_serializing_if = "Option::is_none")]
    pub last_trade: Option<SnapshotTrade>,
    #[serde(rename = "lastQuote", default, skip_serializing_if = "Option::is_none")]
    pub last_quote: Option<SnapshotQuote>,
    #[serde(rename = "todaysChange", default, skip_serializing_if = "Option::is_none")]
    pub todays_change: Option<f64>,
    #[serde(rename = "todaysChangePerc", default, skip_serializing_if = "Option::is_none")]
    pub todays_change_perc: Option<f64>,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmv: Option<f64>,
}

impl TickerSnapshot {
    /// The latest known price: last trade, else today's close, else the
    /// minute bar's close (pre-market snapshots lack some of these).
    pub fn last_price(&self) -> Option<f64> {
        self.last_trade
            .as_ref()
            .and_then(|t| t.price)
            .or_else(|| self.day.as_ref().and_then(|d| d.close).filter(|c| *c > 0.0))
            .or_else(|| self.min.as_ref().and_then(|m| m.close))
    }
}

/// `day` and `prevDay` of a stock snapshot. Zeros before the open.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SnapshotBar {
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub open: Option<f64>,
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub close: Option<f64>,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    #[serde(rename = "vw", default, skip_serializing_if = "Option::is_none")]
    pub vwap: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otc: Option<bool>,
}

/// `min` of a stock snapshot: the latest minute bar.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct MinuteBar {
    /// Accumulated day volume.
    #[serde(rename = "av", default, skip_serializing_if = "Option::is_none")]
    pub accumulated_volume: Option<f64>,
    /// Bar start, milliseconds.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<f64>,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub open: Option<f64>,
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub close: Option<f64>,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    #[serde(rename = "vw", default, skip_serializing_if = "Option::is_none")]
    pub vwap: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otc: Option<bool>,
}

/// `lastTrade` of a stock snapshot. `c` may be `null`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SnapshotTrade {
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<i32>>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    /// Nanoseconds.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub sip_timestamp: Option<i64>,
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<i32>,
}

/// `lastQuote` of a stock snapshot: upper case is the ask, lower the bid.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SnapshotQuote {
    #[serde(rename = "P", default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<f64>,
    #[serde(rename = "S", default, skip_serializing_if = "Option::is_none")]
    pub ask_size: Option<f64>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub bid: Option<f64>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub bid_size: Option<f64>,
    /// Nanoseconds.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub sip_timestamp: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_greeks_object_is_all_none() {
        let s: OptionSnapshot = serde_json::from_str(r#"{"greeks":{},"details":{"contract_type":"put"}}"#).unwrap();
        assert_eq!(s.greeks, Some(Greeks::default()));
        assert_eq!(s.contract_type(), Some(ContractType::Put));
    }

    #[test]
    fn results_null_absent_object_and_array() {
        let null: ChainPage = serde_json::from_str(r#"{"status":"OK","results":null}"#).unwrap();
        assert!(null.results.is_none());
        let absent: AggsPage = serde_json::from_str(r#"{"status":"DELAYED","resultsCount":0}"#).unwrap();
        assert!(absent.results.is_none());
        let one: ChainPage = serde_json::from_str(r#"{"results":{"open_interest":3}}"#).unwrap();
        assert_eq!(one.results.unwrap().into_vec().len(), 1);
        let many: ChainPage = serde_json::from_str(r#"{"results":[{},{}]}"#).unwrap();
        assert_eq!(many.results.unwrap().into_vec().len(), 2);
    }

    #[test]
    fn a_page_seed_reads_what_the_envelope_reads_keeping_as_it_goes() {
        use serde::de::DeserializeSeed;
        // Keeps the open interest of contracts that have one.
        let read_page = |json: &str| {
            let (mut out, mut read) = (Vec::new(), 0);
            let mut keep = |s: OptionSnapshot| s.open_interest;
            let seed = PageSeed { keep: &mut keep, out: &mut out, read: &mut read, item: PhantomData };
            let mut de = serde_json::Deserializer::from_str(json);
            seed.deserialize(&mut de).and_then(|meta| de.end().map(|()| (meta, out, read)))
        };
        let (meta, out, read) =
            read_page(r#"{"status":"OK","request_id":"r","results":[{"open_interest":3},{},{"open_interest":5}],"next_url":"https://x/2","count":3}"#)
                .unwrap();
        assert_eq!((meta.status.as_deref(), meta.next_url.as_deref()), (Some("OK"), Some("https://x/2")));
        assert_eq!((out, read), (vec![3.0, 5.0], 3));
        let (_, out, read) = read_page(r#"{"results":{"open_interest":7}}"#).unwrap();
        assert_eq!((out, read), (vec![7.0], 1));
        for empty in [r#"{"status":"OK","results":null}"#, r#"{"status":"DELAYED"}"#] {
            assert_eq!(read_page(empty).map(|(_, out, read)| (out.len(), read)).unwrap(), (0, 0));
        }
        let (meta, ..) = read_page(r#"{"status":"ERROR","error":"bad key","message":"m"}"#).unwrap();
        assert_eq!((meta.error.as_deref(), meta.message.as_deref()), (Some("bad key"), Some("m")));
        let bad = read_page(r#"{"results":[{"open_interest":"many"}]}"#).unwrap_err();
        assert!(bad.to_string().contains("invalid type"), "{bad}");
        assert!(read_page(r#"{"results":[],"results":[]}"#).is_err(), "a second results key");
        assert!(read_page(r#"{"results":[]} trailing"#).is_err());
    }

    #[test]
    fn expiration_dates_read_as_chrono_reads_them() {
        let read = |json: &str| serde_json::from_str::<OptionDetails>(json).map(|d| d.expiration_date);
        for text in ["2025-11-21", "2025-1-2", "2025-11-21x", "2025-02-30", "21-11-2025", ""] {
            let json = format!(r#"{{"expiration_date":"{text}"}}"#);
            let chrono = text.parse::<NaiveDate>();
            match read(&json) {
                Ok(got) => assert_eq!(got, Some(chrono.unwrap()), "{text}"),
                Err(e) => {
                    assert!(chrono.is_err() && e.to_string().contains(&chrono.unwrap_err().to_string()), "{text}")
                }
            }
        }
        assert_eq!(read(r#"{"expiration_date":null}"#).unwrap(), None);
        assert_eq!(read("{}").unwrap(), None);
        assert!(read(r#"{"expiration_date":20251121}"#).is_err());
    }

    #[test]
    fn a_bad_field_inside_a_contract_names_the_field() {
        let err = serde_json::from_str::<ChainPage>(r#"{"results":[{"open_interest":"many"}]}"#).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }

    #[test]
    fn index_underlying_uses_value_and_multiplier_defaults() {
        let s: OptionSnapshot =
            serde_json::from_str(r#"{"underlying_asset":{"ticker":"I:SPX","value":5800.5},"details":{}}"#).unwrap();
        assert_eq!(s.scan_view().spot(), Some(5800.5));
        assert_eq!(s.scan_view().multiplier(), 100.0);
        assert_eq!(s.scan_view().day_volume(), 0.0);
        assert_eq!(s.contract_type(), None);
    }

    #[test]
    fn serialises_back_without_absent_fields() {
        let s = OptionSnapshot { open_interest: Some(5.0), ..Default::default() };
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"open_interest":5.0}"#);
        let b = Bar { start_ms: 1, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: 10.0, ..Default::default() };
        assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"t":1,"o":1.0,"h":2.0,"l":0.5,"c":1.5,"v":10.0}"#);
    }
    #[test]
    fn unusual_trade_reads_both_spellings_and_writes_one() {
        let nanos: UnusualTrade = serde_json::from_str(
            r#"{"ticker":"O:SPY260123C00687000","underlying_ticker":"SPY","occ_root":"SPY","price":4.1,
                "size":300,"exchange":65,"conditions":[219],"sip_timestamp":1768919400123456789,
                "flags":["premium","sweep"],"unknown_key":1}"#,
        )
        .unwrap();
        let text: UnusualTrade = serde_json::from_str(
            r#"{"options_ticker":"O:SPY260123C00687000","underlying":"SPY","root":"SPY","price":4.1,
                "size":300.0,"exchange":65,"conditions":[219],"sip_timestamp":"2026-01-20T14:30:00.123456789Z",
                "flags":["premium","sweep"]}"#,
        )
        .unwrap();
        assert_eq!(nanos, text);
        assert_eq!(nanos.sip_timestamp, 1_768_919_400_123_456_789);
        let written = serde_json::to_string(&nanos).unwrap();
        assert!(written.contains(r#""ticker":"O:SPY260123C00687000""#) && written.contains(r#""occ_root":"SPY""#));
        assert_eq!(serde_json::from_str::<UnusualTrade>(&written).unwrap(), nanos);
        // Lists may be null; a timestamp must be one.
        let bare: UnusualTrade = serde_json::from_str(
            r#"{"ticker":"O:X","price":1,"size":1000,"conditions":null,"flags":null,"sip_timestamp":5}"#,
        )
        .unwrap();
        assert!(bare.conditions.is_empty() && bare.flags.is_empty() && bare.exchange.is_none());
        let bad = serde_json::from_str::<UnusualTrade>(r#"{"ticker":"O:X","price":1,"size":1,"sip_timestamp":"noon"}"#);
        assert!(bad.unwrap_err().to_string().contains("neither nanoseconds nor RFC 3339"));
    }
}
