//! The market tape (SPEC §9): JSON Lines, gzip when the name ends in `.gz`.
//! Line 1 is a header; every other line is one recorded response, in `at`
//! order, whose `results` is the Polygon payload unchanged.
//!
//! ```text
//! {"tape":"orakl-market-tape","version":1,"source":"simulate","seed":7}
//! {"at":"2025-10-22T14:30:05Z","endpoint":"option_chain","underlying":"SPY","results":[...]}
//! ```
//!
//! Reading streams (a day's tape does not fit in the memory budget) and
//! every error names `TAPE:LINE`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::polygon::{Bar, OptionSnapshot, TickerSnapshot, Trade};

pub const MAGIC: &str = "orakl-market-tape";
pub const VERSION: u32 = 1;

/// Line 1 of a tape. Fields beyond the two required ones describe where the
/// tape came from (`source`, `seed`, `date`, `symbols`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub tape: String,
    pub version: u32,
    #[serde(flatten)]
    pub meta: BTreeMap<String, Value>,
}

impl Header {
    pub fn new(meta: BTreeMap<String, Value>) -> Header {
        Header { tape: MAGIC.to_string(), version: VERSION, meta }
    }

    /// States what the records hold, under [`CONTENTS_KEY`]. Only a writer
    /// that knows it before writing the first record can say it (the
    /// simulator plans the whole day first; a live recording cannot know
    /// its end).
    pub fn set_contents(&mut self, contents: &Contents) {
        let at = |t: DateTime<Utc>| serde_json::to_value(t).unwrap_or(Value::Null);
        let symbols: Vec<Value> = contents.symbols.iter().map(|s| Value::from(s.as_str())).collect();
        let object = serde_json::Map::from_iter([
            ("first_at".to_string(), at(contents.first_at)),
            ("last_at".to_string(), at(contents.last_at)),
            ("symbols".to_string(), Value::Array(symbols)),
        ]);
        self.meta.insert(CONTENTS_KEY.to_string(), Value::Object(object));
    }

    /// What the header says the records hold; None when it does not say,
    /// or says it in a shape this build does not read (then a pass over the
    /// records finds it).
    pub fn contents(&self) -> Option<Contents> {
        let object = self.meta.get(CONTENTS_KEY)?.as_object()?;
        let at = |key: &str| serde_json::from_value::<DateTime<Utc>>(object.get(key)?.clone()).ok();
        let (first_at, last_at) = (at("first_at")?, at("last_at")?);
        let mut symbols = BTreeSet::new();
        for s in object.get("symbols")?.as_array()? {
            symbols.insert(s.as_str()?.to_string());
        }
        (first_at <= last_at).then_some(Contents { symbols, first_at, last_at })
    }
}

/// The header key of [`Contents`].
pub const CONTENTS_KEY: &str = "records";

/// What a pass over a tape's records finds: the symbols they are about (as
/// [`Payload::symbol`], option tickers such as `O:SPY251121C00670000` left
/// out) and the `at` of the first and of the last record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub symbols: BTreeSet<String>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// One recorded response, keyed by the request that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "endpoint", rename_all = "snake_case")]
pub enum Payload {
    /// A whole chain, all pages merged.
    OptionChain {
        underlying: String,
        results: Vec<OptionSnapshot>,
    },
    // Boxed: one snapshot is large next to the other variants' vectors.
    OptionContract {
        underlying: String,
        contract: String,
        results: Box<OptionSnapshot>,
    },
    Aggs {
        ticker: String,
        multiplier: u32,
        timespan: String,
        results: Vec<Bar>,
    },
    Trades {
        ticker: String,
        results: Vec<Trade>,
    },
    StockSnapshot {
        ticker: String,
        results: Box<TickerSnapshot>,
    },
}

impl Payload {
    /// The symbol the record is about (underlying or ticker).
    pub fn symbol(&self) -> &str {
        match self {
            Payload::OptionChain { underlying, .. } | Payload::OptionContract { underlying, .. } => underlying,
            Payload::Aggs { ticker, .. } | Payload::Trades { ticker, .. } | Payload::StockSnapshot { ticker, .. } => {
                ticker
            }
        }
    }

    pub fn endpoint(&self) -> &'static str {
        match self {
            Payload::OptionChain { .. } => "option_chain",
            Payload::OptionContract { .. } => "option_contract",
            Payload::Aggs { .. } => "aggs",
            Payload::Trades { .. } => "trades",
            Payload::StockSnapshot { .. } => "stock_snapshot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub payload: Payload,
}

// Hand-written: the derived form of a flattened, internally tagged enum
// first buffers the whole record into serde's generic `Content` tree and
// then copies it into the models, which made reading a chain record several
// times slower than parsing its JSON and held a second copy of it in
// memory. Tapes put `endpoint` before `results` (the writer does, and the
// SPEC's examples do), so `results` goes straight into its type; a tape
// with `results` first still reads, through a `serde_json::Value`.
impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (at, parts) = d.deserialize_map(RecordVisitor::<Vec<OptionSnapshot>>(PhantomData))?;
        let payload = match parts {
            Parts::Chain { underlying, results } => Payload::OptionChain { underlying, results },
            Parts::Other(p) => p,
        };
        Ok(Record { at, payload })
    }
}

/// A record as the replay keeps it: a chain's contracts stay the tape's
/// JSON text ([`RawChain`]); every other payload is read into its models.
#[derive(Debug)]
pub struct ReplayRecord {
    pub at: DateTime<Utc>,
    pub payload: ReplayPayload,
}

#[derive(Debug)]
pub enum ReplayPayload {
    OptionChain { underlying: String, results: RawChain },
    Other(Payload),
}

impl ReplayPayload {
    /// The symbol the record is about, as [`Payload::symbol`].
    pub fn symbol(&self) -> &str {
        match self {
            ReplayPayload::OptionChain { underlying, .. } => underlying,
            ReplayPayload::Other(p) => p.symbol(),
        }
    }
}

impl<'de> Deserialize<'de> for ReplayRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (at, parts) = d.deserialize_map(RecordVisitor::<RawChain>(PhantomData))?;
        let payload = match parts {
            Parts::Chain { underlying, results } => ReplayPayload::OptionChain { underlying, results },
            Parts::Other(p) => ReplayPayload::Other(p),
        };
        Ok(ReplayRecord { at, payload })
    }
}

/// A chain's contracts, back to back as the tape wrote them, with what the
/// chain endpoint filters on. Answering a page from this is copying text:
/// no contract is ever parsed into an [`OptionSnapshot`] or serialised
/// again, and the text is the tape's own, so the client reads the same
/// numbers from it as from the tape.
#[derive(Debug, Default)]
pub struct RawChain {
    text: String,
    contracts: Vec<RawContract>,
}

/// One contract of a [`RawChain`]: where its JSON is, and its `details`
/// fields that the chain endpoint's query parameters test.
#[derive(Debug)]
pub struct RawContract {
    start: usize,
    end: usize,
    pub expiration: Option<NaiveDate>,
    pub strike: Option<f64>,
    pub kind: ContractKind,
}

/// `details.contract_type`, kept without an allocation for the usual two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractKind {
    Absent,
    Call,
    Put,
    Other(Box<str>),
}

impl ContractKind {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ContractKind::Absent => None,
            ContractKind::Call => Some("call"),
            ContractKind::Put => Some("put"),
            ContractKind::Other(s) => Some(s),
        }
    }
}

impl RawChain {
    pub fn len(&self) -> usize {
        self.contracts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.contracts.is_empty()
    }

    pub fn contracts(&self) -> &[RawContract] {
        &self.contracts
    }

    /// The JSON object of one contract, exactly as on the tape.
    pub fn text(&self, c: &RawContract) -> &str {
        &self.text[c.start..c.end]
    }

    /// The contract whose `details.ticker` is `ticker`, as JSON text. The
    /// text search only narrows the candidates; the ticker itself is read.
    pub fn find(&self, ticker: &str) -> Option<&str> {
        #[derive(Deserialize)]
        struct Only {
            #[serde(default)]
            details: Option<OnlyDetails>,
        }
        #[derive(Deserialize)]
        struct OnlyDetails {
            #[serde(default)]
            ticker: Option<String>,
        }
        self.contracts.iter().map(|c| self.text(c)).filter(|text| text.contains(ticker)).find(|text| {
            serde_json::from_str::<Only>(text).ok().and_then(|o| o.details?.ticker).is_some_and(|t| t == ticker)
        })
    }
}

/// What the chain endpoint filters on, read from a contract's text; every
/// other field is skipped without being converted. Named as the model so
/// that a contract that is not an object reads as the model's error would.
#[derive(Deserialize)]
#[serde(rename = "OptionSnapshot")]
struct ContractIndex {
    #[serde(default)]
    details: Option<IndexDetails>,
}

#[derive(Deserialize)]
#[serde(rename = "OptionDetails")]
struct IndexDetails {
    #[serde(default)]
    contract_type: Option<String>,
    #[serde(default)]
    expiration_date: Option<NaiveDate>,
    #[serde(default)]
    strike_price: Option<f64>,
}

impl RawChain {
    /// Adds one contract's JSON, with the numbers `rewrite` names written as
    /// the models would have written them.
    fn push(&mut self, json: &str, rewrite: Rewrite) -> serde_json::Result<()> {
        let index: ContractIndex = serde_json::from_str(json)?;
        let details =
            index.details.unwrap_or(IndexDetails { contract_type: None, expiration_date: None, strike_price: None });
        let kind = match details.contract_type {
            None => ContractKind::Absent,
            Some(k) if k == "call" => ContractKind::Call,
            Some(k) if k == "put" => ContractKind::Put,
            Some(k) => ContractKind::Other(k.into_boxed_str()),
        };
        let start = self.text.len();
        write_numbers_as_models(json, rewrite, &mut self.text);
        self.contracts.push(RawContract {
            start,
            end: self.text.len(),
            expiration: details.expiration_date,
            strike: details.strike_price,
            kind,
        });
        Ok(())
    }
}

/// Which number tokens [`write_numbers_as_models`] rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rewrite {
    /// Any that the client might not read as the models' value written back.
    Inexact,
    /// Only long integers (the text is a `Value`'s, whose floats are
    /// written back already).
    LongIntegers,
}

/// The integer fields of a contract snapshot that can be long: their text
/// is read as an integer, never through an `f64`.
const INTEGER_KEYS: [&str; 2] = ["last_updated", "sip_timestamp"];

/// Copies a contract's JSON to `out`, writing the numbers that could read
/// differently from before as the models wrote them back.
///
/// Before, a contract was read into its model (serde_json's float reading,
/// which is exact only for up to 15 digits and small powers of ten), and
/// the page the client read was that model written back (shortest
/// round-trip digits). For a number with at most 15 significant digits, at
/// most 15 of them after the point and no exponent, both readings are
/// exact, so the tape's text gives the client the same `f64`. Anything else
/// (`7.159999999999996e-280`, 17-digit greeks) is read here once and
/// written as the model would have written it: the client then reads what
/// it read before. Long integers in integer fields are left alone.
fn write_numbers_as_models(json: &str, rewrite: Rewrite, out: &mut String) {
    let b = json.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    // The last string met: the key of a number that follows it.
    let mut key: (usize, usize) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                key = (start, i.min(b.len()));
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                let (mut digits, mut after_point, mut leading, mut point, mut exponent) = (0, 0, true, false, false);
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    match b[i] {
                        b'.' => point = true,
                        b'e' | b'E' => exponent = true,
                        b'0'..=b'9' if !exponent => {
                            // Leading zeros are not significant digits.
                            if b[i] != b'0' || !leading {
                                leading = false;
                                digits += 1;
                            }
                            if point {
                                after_point += 1;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let integer = !point && !exponent;
                let long = digits > 15 || after_point > 15 || exponent;
                let rewrite_it = match rewrite {
                    Rewrite::Inexact => long,
                    Rewrite::LongIntegers => integer && long,
                } && !(integer && INTEGER_KEYS.contains(&&json[key.0..key.1]));
                let read = if rewrite_it { serde_json::from_str::<f64>(&json[start..i]).ok() } else { None };
                if let Some(v) = read {
                    out.push_str(&json[copied..start]);
                    // A finite f64 always serialises.
                    out.push_str(&serde_json::to_string(&v).unwrap_or_else(|_| json[start..i].to_string()));
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&json[copied..]);
}

impl<'de> Deserialize<'de> for RawChain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawChain;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawChain, A::Error> {
                use serde::de::Error;
                let mut chain = RawChain::default();
                // Borrowed from the line being read: one copy, into `text`.
                while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                    chain.push(raw.get(), Rewrite::Inexact).map_err(A::Error::custom)?;
                }
                chain.text.shrink_to_fit();
                Ok(chain)
            }
        }
        d.deserialize_seq(V)
    }
}

/// How a chain's `results` met before `endpoint` (held as a [`Value`]) is
/// turned into the chain's form.
trait ChainResults: DeserializeOwned {
    fn from_value(v: Value) -> serde_json::Result<Self>;
}

impl ChainResults for Vec<OptionSnapshot> {
    fn from_value(v: Value) -> serde_json::Result<Self> {
        serde_json::from_value(v)
    }
}

impl ChainResults for RawChain {
    // Text is needed; the value's own JSON is what the models would have
    // written back.
    fn from_value(v: Value) -> serde_json::Result<Self> {
        use serde::de::Error;
        let Value::Array(items) = v else {
            return Err(serde_json::Error::custom(format!("invalid type: {v}, expected a sequence")));
        };
        let mut chain = RawChain::default();
        for item in items {
            chain.push(&item.to_string(), Rewrite::LongIntegers)?;
        }
        Ok(chain)
    }
}

/// A record's time and symbol, for [`TapeReader::next_head`].
struct Head {
    at: DateTime<Utc>,
    symbol: String,
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // `results` is required as in a record, and skipped.
        #[derive(Deserialize)]
        struct Fields {
            at: DateTime<Utc>,
            endpoint: Endpoint,
            underlying: Option<String>,
            ticker: Option<String>,
            #[allow(dead_code)]
            results: serde::de::IgnoredAny,
        }
        let f = Fields::deserialize(d)?;
        let symbol = match f.endpoint {
            Endpoint::OptionChain | Endpoint::OptionContract => {
                f.underlying.ok_or_else(|| D::Error::missing_field("underlying"))?
            }
            Endpoint::Aggs | Endpoint::Trades | Endpoint::StockSnapshot => {
                f.ticker.ok_or_else(|| D::Error::missing_field("ticker"))?
            }
        };
        Ok(Head { at: f.at, symbol })
    }
}

/// A record as read: a chain's contracts as `C`, anything else a payload.
enum Parts<C> {
    Chain { underlying: String, results: C },
    Other(Payload),
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    At,
    Endpoint,
    Underlying,
    Contract,
    Ticker,
    Multiplier,
    Timespan,
    Results,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Endpoint {
    OptionChain,
    OptionContract,
    Aggs,
    Trades,
    StockSnapshot,
}

enum Results<C> {
    Chain(C),
    Contract(Box<OptionSnapshot>),
    Bars(Vec<Bar>),
    Trades(Vec<Trade>),
    Stock(Box<TickerSnapshot>),
    /// `results` met before `endpoint`.
    Later(Value),
}

struct RecordVisitor<C>(PhantomData<C>);

impl<'de, C: ChainResults> serde::de::Visitor<'de> for RecordVisitor<C> {
    type Value = (DateTime<Utc>, Parts<C>);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a tape record")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let (mut at, mut endpoint, mut results) = (None, None, None);
        let (mut underlying, mut contract, mut ticker, mut multiplier, mut timespan) = (None, None, None, None, None);
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::At => at = Some(map.next_value::<DateTime<Utc>>()?),
                Field::Endpoint => endpoint = Some(map.next_value::<Endpoint>()?),
                Field::Underlying => underlying = Some(map.next_value::<String>()?),
                Field::Contract => contract = Some(map.next_value::<String>()?),
                Field::Ticker => ticker = Some(map.next_value::<String>()?),
                Field::Multiplier => multiplier = Some(map.next_value::<u32>()?),
                Field::Timespan => timespan = Some(map.next_value::<String>()?),
                Field::Results => {
                    results = Some(match endpoint {
                        Some(Endpoint::OptionChain) => Results::Chain(map.next_value()?),
                        Some(Endpoint::OptionContract) => Results::Contract(map.next_value()?),
                        Some(Endpoint::Aggs) => Results::Bars(map.next_value()?),
                        Some(Endpoint::Trades) => Results::Trades(map.next_value()?),
                        Some(Endpoint::StockSnapshot) => Results::Stock(map.next_value()?),
                        None => Results::Later(map.next_value()?),
                    })
                }
                Field::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let at = at.ok_or_else(|| A::Error::missing_field("at"))?;
        let endpoint = endpoint.ok_or_else(|| A::Error::missing_field("endpoint"))?;
        let results = results.ok_or_else(|| A::Error::missing_field("results"))?;
        fn later<T: serde::de::DeserializeOwned, E: Error>(v: Value) -> Result<T, E> {
            serde_json::from_value(v).map_err(E::custom)
        }
        let need = |v: Option<String>, name: &'static str| v.ok_or_else(|| A::Error::missing_field(name));
        let payload = match (endpoint, results) {
            (Endpoint::OptionChain, r) => {
                return Ok((
                    at,
                    Parts::Chain {
                        underlying: need(underlying, "underlying")?,
                        results: match r {
                            Results::Chain(v) => v,
                            Results::Later(v) => C::from_value(v).map_err(A::Error::custom)?,
                            _ => return Err(A::Error::custom("results do not match the endpoint")),
                        },
                    },
                ));
            }
            (Endpoint::OptionContract, r) => Payload::OptionContract {
                underlying: need(underlying, "underlying")?,
                contract: need(contract, "contract")?,
                results: match r {
                    Results::Contract(v) => v,
                    Results::Later(v) => later(v)?,
                    _ => return Err(A::Error::custom("results do not match the endpoint")),
                },
            },
            (Endpoint::Aggs, r) => Payload::Aggs {
                ticker: need(ticker, "ticker")?,
                multiplier: multiplier.ok_or_else(|| A::Error::missing_field("multiplier"))?,
                timespan: need(timespan, "timespan")?,
                results: match r {
                    Results::Bars(v) => v,
                    Results::Later(v) => later(v)?,
                    _ => return Err(A::Error::custom("results do not match the endpoint")),
                },
            },
            (Endpoint::Trades, r) => Payload::Trades {
                ticker: need(ticker, "ticker")?,
                results: match r {
                    Results::Trades(v) => v,
                    Results::Later(v) => later(v)?,
                    _ => return Err(A::Error::custom("results do not match the endpoint")),
                },
            },
            (Endpoint::StockSnapshot, r) => Payload::StockSnapshot {
                ticker: need(ticker, "ticker")?,
                results: match r {
                    Results::Stock(v) => v,
                    Results::Later(v) => later(v)?,
                    _ => return Err(A::Error::custom("results do not match the endpoint")),
                },
            },
        };
        Ok((at, Parts::Other(payload)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}:{line}: {message}")]
    Line { path: String, line: usize, message: String },
}

/// A tape being read, one record at a time.
pub struct TapeReader {
    path: String,
    lines: Box<dyn BufRead>,
    line: usize,
    header: Header,
    last_at: Option<DateTime<Utc>>,
    buf: String,
}

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

impl TapeReader {
    pub fn open(path: &Path) -> Result<TapeReader, TapeError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| TapeError::File { path: shown.clone(), message: e.to_string() })?;
        let reader: Box<dyn BufRead> = if is_gzip(path) {
            Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(file)))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        Self::from_reader(&shown, reader)
    }

    /// Reads from any source; `path` names it in errors.
    pub fn from_reader(path: &str, lines: Box<dyn BufRead>) -> Result<TapeReader, TapeError> {
        let mut r = TapeReader {
            path: path.to_string(),
            lines,
            line: 0,
            header: Header::new(BTreeMap::new()),
            last_at: None,
            buf: String::new(),
        };
        let Some(first) = r.next_line()? else {
            return Err(r.err("empty tape: the first line must be the header".into()));
        };
        let header: Header = serde_json::from_str(&first).map_err(|e| r.err(format!("not a tape header: {e}")))?;
        if header.tape != MAGIC {
            return Err(r.err(format!("not an orakl market tape (`tape` is `{}`)", header.tape)));
        }
        if header.version != VERSION {
            return Err(r.err(format!("tape version {} is not supported (this build reads {VERSION})", header.version)));
        }
        r.header = header;
        Ok(r)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The number of the line last read (1 is the header).
    pub fn line(&self) -> usize {
        self.line
    }

    fn err(&self, message: String) -> TapeError {
        TapeError::Line { path: self.path.clone(), line: self.line, message }
    }

    /// The next non-blank line, or None at the end.
    fn next_line(&mut self) -> Result<Option<String>, TapeError> {
        Ok(if self.next_line_in_buf()? { Some(std::mem::take(&mut self.buf)) } else { None })
    }

    /// Reads the next non-blank line into `buf`, whose capacity is kept from
    /// line to line (a chain line is megabytes); false at the end.
    fn next_line_in_buf(&mut self) -> Result<bool, TapeError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let n = self.lines.read_line(&mut self.buf).map_err(|e| self.err(format!("cannot read: {e}")))?;
            if n == 0 {
                return Ok(false);
            }
            if !self.buf.trim().is_empty() {
                return Ok(true);
            }
        }
    }

    /// The next record; records must come in `at` order.
    pub fn next_record(&mut self) -> Result<Option<Record>, TapeError> {
        self.next_parsed(|r: &Record| r.at)
    }

    /// The next record's time and symbol (as [`Payload::symbol`]), its
    /// `results` checked as JSON but not read: a pass over a tape for its
    /// span and symbols.
    pub fn next_head(&mut self) -> Result<Option<(DateTime<Utc>, String)>, TapeError> {
        let head = self.next_parsed(|h: &Head| h.at)?;
        Ok(head.map(|h| (h.at, h.symbol)))
    }

    /// The next record with a chain's contracts left as text (see
    /// [`RawChain`]): what the replay keeps, read without converting a
    /// chain's numbers.
    pub fn next_replay_record(&mut self) -> Result<Option<ReplayRecord>, TapeError> {
        self.next_parsed(|r: &ReplayRecord| r.at)
    }

    fn next_parsed<T: DeserializeOwned>(&mut self, at: impl Fn(&T) -> DateTime<Utc>) -> Result<Option<T>, TapeError> {
        if !self.next_line_in_buf()? {
            return Ok(None);
        }
        let rec: T = serde_json::from_str(&self.buf).map_err(|e| self.err(format!("bad record: {e}")))?;
        let rec_at = at(&rec);
        if self.last_at.is_some_and(|last| rec_at < last) {
            return Err(self.err(format!("record at {} is earlier than the one before it", rec_at.to_rfc3339())));
        }
        self.last_at = Some(rec_at);
        Ok(Some(rec))
    }
}

impl Iterator for TapeReader {
    type Item = Result<Record, TapeError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// A tape being written. Records must be written in `at` order.
pub struct TapeWriter {
    path: PathBuf,
    out: Box<dyn Write>,
    last_at: Option<DateTime<Utc>>,
    records: u64,
}

impl TapeWriter {
    pub fn create(path: &Path, header: &Header) -> Result<TapeWriter, TapeError> {
        let shown = path.display().to_string();
        let file = File::create(path).map_err(|e| TapeError::File { path: shown, message: e.to_string() })?;
        let out: Box<dyn Write> = if is_gzip(path) {
            Box::new(BufWriter::new(flate2::write::GzEncoder::new(file, flate2::Compression::default())))
        } else {
            Box::new(BufWriter::new(file))
        };
        let mut w = TapeWriter { path: path.to_path_buf(), out, last_at: None, records: 0 };
        // The struct itself, not a `Value`: a `Value` sorts its keys, and the
        // header must start with `tape` and `version`.
        w.write_json(header)?;
        Ok(w)
    }

    fn io_err(&self, message: String) -> TapeError {
        TapeError::File { path: self.path.display().to_string(), message }
    }

    fn write_json<T: Serialize>(&mut self, v: &T) -> Result<(), TapeError> {
        let mut line = serde_json::to_vec(v).map_err(|e| self.io_err(e.to_string()))?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(|e| self.io_err(e.to_string()))
    }

    pub fn write(&mut self, rec: &Record) -> Result<(), TapeError> {
        if self.last_at.is_some_and(|last| rec.at < last) {
            return Err(self.io_err(format!("record at {} written after a later one", rec.at.to_rfc3339())));
        }
        self.last_at = Some(rec.at);
        self.records += 1;
        self.write_json(rec)
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and closes (the gzip trailer is written on drop of the encoder).
    pub fn finish(mut self) -> Result<u64, TapeError> {
        self.out.flush().map_err(|e| self.io_err(e.to_string()))?;
        let n = self.records;
        drop(self.out);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let chain: Vec<OptionSnapshot> = serde_json::from_str(
            r#"[{"details":{"ticker":"O:SPY251121C00670000","contract_type":"call","strike_price":670,"expiration_date":"2025-11-21"},"day":{"volume":12}}]"#,
        )
        .unwrap();
        vec![
            Record {
                at: at("2025-10-22T14:30:05Z"),
                payload: Payload::OptionChain { underlying: "SPY".into(), results: chain },
            },
            Record {
                at: at("2025-10-22T14:30:05Z"),
                payload: Payload::Aggs {
                    ticker: "SPY".into(),
                    multiplier: 1,
                    timespan: "minute".into(),
                    results: serde_json::from_str(r#"[{"t":1761143400000,"o":1,"h":2,"l":0.5,"c":1.5,"v":100}]"#)
                        .unwrap(),
                },
            },
        ]
    }

    #[test]
    fn round_trip_plain_and_gzip_with_the_spec_key_order() {
        let dir = std::env::temp_dir().join(format!("orakl-tape-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["t.jsonl", "t.jsonl.gz"] {
            let p = dir.join(name);
            let header = Header::new(BTreeMap::from([("seed".to_string(), Value::from(7))]));
            let mut w = TapeWriter::create(&p, &header).unwrap();
            for r in sample() {
                w.write(&r).unwrap();
            }
            assert_eq!(w.finish().unwrap(), 2);
            let r = TapeReader::open(&p).unwrap();
            assert_eq!(r.header().meta["seed"], 7);
            let got: Vec<Record> = r.collect::<Result<_, _>>().unwrap();
            assert_eq!(got, sample());
        }
        let text = std::fs::read_to_string(dir.join("t.jsonl")).unwrap();
        assert!(text.starts_with(r#"{"tape":"orakl-market-tape","version":1,"seed":7}"#), "{text}");
        let second = text.lines().nth(1).unwrap();
        assert!(
            second.starts_with(
                r#"{"at":"2025-10-22T14:30:05Z","endpoint":"option_chain","underlying":"SPY","results":["#
            ),
            "{second}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_raw_chain_reads_as_the_models_written_back() {
        let text = r#"[{"details":{"contract_type":"call","expiration_date":"2025-11-21","strike_price":670,"ticker":"O:SPY251121C00670000"},"greeks":{"gamma":7.159999999999996e-280,"theta":-2.0550000000000002e-55,"vega":0.0123},"day":{"volume":12,"last_updated":1773062999581000000},"last_quote":{"ask":12345678901234567,"bid":2.70}},{"details":{"contract_type":"CALL"}},{}]"#;
        let chain: RawChain = serde_json::from_str(text).unwrap();
        assert_eq!(chain.len(), 3);
        let models: Vec<OptionSnapshot> = serde_json::from_str(text).unwrap();
        for (c, model) in chain.contracts().iter().zip(&models) {
            // What the client reads from the kept text is, bit for bit, what
            // it read from the model written back.
            let written = serde_json::to_string(model).unwrap();
            let from_raw: Value = serde_json::from_str(chain.text(c)).unwrap();
            let from_model: Value = serde_json::from_str(&written).unwrap();
            let a: OptionSnapshot = serde_json::from_value(from_raw).unwrap();
            let b: OptionSnapshot = serde_json::from_value(from_model).unwrap();
            assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        }
        let first = &chain.contracts()[0];
        assert!(chain.text(first).contains(r#""last_updated":1773062999581000000"#), "{}", chain.text(first));
        assert!(chain.text(first).contains(r#""bid":2.70"#), "short numbers stay the tape's text");
        assert_eq!((first.strike, first.kind.as_str()), (Some(670.0), Some("call")));
        assert_eq!(first.expiration, NaiveDate::from_ymd_opt(2025, 11, 21));
        assert_eq!(chain.contracts()[1].kind, ContractKind::Other("CALL".into()));
        assert_eq!((chain.contracts()[2].kind.as_str(), chain.contracts()[2].strike), (None, None));
        assert_eq!(chain.find("O:SPY251121C00670000"), Some(chain.text(first)));
        assert_eq!(chain.find("O:SPY251121C0067"), None);

        let later = RawChain::from_value(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(later.len(), 3);
        assert!(serde_json::from_str::<RawChain>(r#"[{"details":{"strike_price":"x"}}]"#).is_err());
        assert!(serde_json::from_str::<RawChain>("null").is_err());
    }

    #[test]
    fn the_header_states_the_contents_or_says_nothing() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let contents = Contents {
            symbols: BTreeSet::from(["SPY".to_string(), "QQQ".to_string()]),
            first_at: at("2026-03-09T13:30:00Z"),
            last_at: at("2026-03-09T20:00:00Z"),
        };
        let mut header = Header::new(BTreeMap::new());
        assert_eq!(header.contents(), None);
        header.set_contents(&contents);
        let text = serde_json::to_string(&header).unwrap();
        assert_eq!(
            text,
            r#"{"tape":"orakl-market-tape","version":1,"records":{"first_at":"2026-03-09T13:30:00Z","last_at":"2026-03-09T20:00:00Z","symbols":["QQQ","SPY"]}}"#
        );
        assert_eq!(serde_json::from_str::<Header>(&text).unwrap().contents(), Some(contents));
        for odd in [
            r#"{"tape":"orakl-market-tape","version":1,"records":7}"#,
            r#"{"tape":"orakl-market-tape","version":1,"records":{"first_at":"2026-03-09T13:30:00Z","symbols":[]}}"#,
            r#"{"tape":"orakl-market-tape","version":1,"records":{"first_at":"2026-03-09T20:00:00Z","last_at":"2026-03-09T13:30:00Z","symbols":[]}}"#,
            r#"{"tape":"orakl-market-tape","version":1,"records":{"first_at":"2026-03-09T13:30:00Z","last_at":"2026-03-09T13:30:00Z","symbols":[1]}}"#,
        ] {
            assert_eq!(serde_json::from_str::<Header>(odd).unwrap().contents(), None, "{odd}");
        }
    }

    fn read_all(text: &str) -> Result<Vec<Record>, TapeError> {
        TapeReader::from_reader("TAPE", Box::new(std::io::Cursor::new(text.to_string())))?.collect()
    }

    #[test]
    fn malformed_tapes_name_the_line() {
        let h = r#"{"tape":"orakl-market-tape","version":1}"#;
        let cases = [
            ("", "TAPE:1: empty tape: the first line must be the header"),
            ("{}\n", "TAPE:1: not a tape header: missing field `tape` at line 1 column 2"),
            ("{\"tape\":\"other\",\"version\":1}\n", "TAPE:1: not an orakl market tape (`tape` is `other`)"),
            (
                "{\"tape\":\"orakl-market-tape\",\"version\":2}\n",
                "TAPE:1: tape version 2 is not supported (this build reads 1)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(read_all(text).unwrap_err().to_string(), want);
        }
        let bad = format!("{h}\n\n{{\"at\":\"2025-10-22T14:30:05Z\",\"endpoint\":\"nope\"}}\n");
        let e = read_all(&bad).unwrap_err().to_string();
        assert!(e.starts_with("TAPE:3: bad record: unknown variant `nope`"), "{e}");
        // `results` before `endpoint` still reads (the slow way).
        let swapped = format!(
            "{h}\n{{\"results\":[{{\"t\":1761143400000,\"o\":1,\"h\":2,\"l\":0.5,\"c\":1.5,\"v\":100}}],\"at\":\"2025-10-22T14:30:05Z\",\"ticker\":\"SPY\",\"multiplier\":1,\"timespan\":\"minute\",\"endpoint\":\"aggs\",\"extra\":{{\"x\":[1]}}}}\n"
        );
        assert_eq!(read_all(&swapped).unwrap(), sample()[1..]);
        let order = format!(
            "{h}\n{{\"at\":\"2025-10-22T14:31:00Z\",\"endpoint\":\"trades\",\"ticker\":\"SPY\",\"results\":[]}}\n{{\"at\":\"2025-10-22T14:30:00Z\",\"endpoint\":\"trades\",\"ticker\":\"SPY\",\"results\":[]}}\n"
        );
        assert_eq!(
            read_all(&order).unwrap_err().to_string(),
            "TAPE:3: record at 2025-10-22T14:30:00+00:00 is earlier than the one before it"
        );
    }
}
