//! The market tape (SPEC §9): JSON Lines, gzip when the name ends in `.gz`.
//! Line 1 is a header; every other line is one recorded response, in `at`
//! order, whose `results` is the Polygon payload unchanged.
//!
//! ```text
//! {"tape":"orakl-market-tape","version":1,"source":"simulate","seed":7}
//! {"at":"2025-10-22T14:30:05Z","endpoint":"option_chain","underlying":"SPY","results":[...]}
//! {"at":"2025-10-22T14:30:05Z","endpoint":"unusual_trades","results":[...Massive's unusual option trades...]}
//! {"at":"2025-10-22T14:30:05Z","endpoint":"quotes","ticker":"O:SPY251121C00670000","results":[...]}
//! ```
//!
//! The last two (the prints lane's) came after version 1 was fixed; a tape
//! without them is the same version 1 tape, so the version stays.
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

mod label;

pub use label::ChainLabel;

use crate::polygon::models::plain_date;
use crate::polygon::{Bar, Endpoint, OptionSnapshot, Quote, TickerSnapshot, Trade, UnusualTrade};

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
    /// Reads and checks a tape's first line.
    pub fn parse(line: &str) -> Result<Header, String> {
        let header: Header = serde_json::from_str(line).map_err(|e| format!("not a tape header: {e}"))?;
        if header.tape != MAGIC {
            return Err(format!("not an orakl market tape (`tape` is `{}`)", header.tape));
        }
        if header.version != VERSION {
            return Err(format!("tape version {} is not supported (this build reads {VERSION})", header.version));
        }
        Ok(header)
    }

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
/// [`Payload::symbol`], option tickers such as `O:SPY251121C00670000` and
/// the market-wide unusual trades left out) and the `at` of the first and
/// of the last record.
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
    /// Massive's unusual option trades, all pages merged. Market-wide: the
    /// record names no symbol (the prints name their contracts).
    UnusualTrades {
        results: Vec<UnusualTrade>,
    },
    /// One option's quotes (NBBO) from `/v3/quotes/{ticker}`.
    Quotes {
        ticker: String,
        results: Vec<Quote>,
    },
}

impl Payload {
    /// The symbol the record is about (underlying or ticker); None for the
    /// market-wide unusual trades, which are about no one symbol.
    pub fn symbol(&self) -> Option<&str> {
        match self {
            Payload::OptionChain { underlying, .. } | Payload::OptionContract { underlying, .. } => Some(underlying),
            Payload::Aggs { ticker, .. }
            | Payload::Trades { ticker, .. }
            | Payload::StockSnapshot { ticker, .. }
            | Payload::Quotes { ticker, .. } => Some(ticker),
            Payload::UnusualTrades { .. } => None,
        }
    }

    /// The endpoint's name, as logs and metrics name it ([`Endpoint::as_str`],
    /// which a test holds equal to the tape's `endpoint` tag).
    pub fn endpoint(&self) -> &'static str {
        let kind = match self {
            Payload::OptionChain { .. } => Endpoint::OptionChain,
            Payload::OptionContract { .. } => Endpoint::OptionContract,
            Payload::Aggs { .. } => Endpoint::Aggs,
            Payload::Trades { .. } => Endpoint::Trades,
            Payload::StockSnapshot { .. } => Endpoint::StockSnapshot,
            Payload::UnusualTrades { .. } => Endpoint::UnusualTrades,
            Payload::Quotes { .. } => Endpoint::Quotes,
        };
        kind.as_str()
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
    pub fn symbol(&self) -> Option<&str> {
        match self {
            ReplayPayload::OptionChain { underlying, .. } => Some(underlying),
            ReplayPayload::Other(p) => p.symbol(),
        }
    }
}

impl ReplayRecord {
    /// Reads one record's line. A chain's contracts are located in `line`
    /// (see [`RawChain::text`]); the caller keeps where the line is.
    pub fn parse(line: &str) -> serde_json::Result<ReplayRecord> {
        let mut rec: ReplayRecord = serde_json::from_str(line)?;
        if let ReplayPayload::OptionChain { results, .. } = &mut rec.payload {
            results.anchor(line);
        }
        Ok(rec)
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

/// A chain's contracts as the tape holds them: where each one's JSON is in
/// the record's line, and its expiration, which the chain endpoint filters
/// on. The text itself is not kept: the replay reads the line again from
/// the tape when the chain is asked for, so a day's chains need not fit in
/// memory, and a page is the tape's own text copied, never a model written
/// back.
#[derive(Debug, Default, Clone)]
pub struct RawChain {
    /// The contracts' text when it is not the line's own: `results` came
    /// before `endpoint`, was read as a [`Value`], and is written here.
    owned: Option<Box<str>>,
    /// True once `start`s are offsets into the line (or `owned`); while
    /// deserialising they are addresses into the text being read.
    anchored: bool,
    contracts: Vec<RawContract>,
}

/// One contract of a [`RawChain`]: where its JSON is, and its
/// `details.expiration_date`. The other fields the endpoint can filter on
/// (strike, type) are read from the text when a query asks for them.
#[derive(Debug, Clone, Copy)]
pub struct RawContract {
    start: usize,
    len: u32,
    pub expiration: Option<NaiveDate>,
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

    /// The JSON object of one contract, exactly as on the tape; `line` is
    /// the record's line the chain was read from.
    pub fn text<'a>(&'a self, line: &'a str, c: &RawContract) -> &'a str {
        let source = self.owned.as_deref().unwrap_or(line);
        source.get(c.start..c.start + c.len as usize).unwrap_or("{}")
    }

    /// The contract whose `details.ticker` is `ticker`, as JSON text. The
    /// text search only narrows the candidates; the ticker itself is read.
    pub fn find<'a>(&'a self, line: &'a str, ticker: &str) -> Option<&'a str> {
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
        self.contracts.iter().map(|c| self.text(line, c)).filter(|text| text.contains(ticker)).find(|text| {
            serde_json::from_str::<Only>(text).ok().and_then(|o| o.details?.ticker).is_some_and(|t| t == ticker)
        })
    }

    /// Turns the addresses taken while reading `line` into offsets in it.
    /// Every contract was borrowed from `line`, so each lies inside it.
    fn anchor(&mut self, line: &str) {
        if !self.anchored {
            let base = line.as_ptr() as usize;
            for c in &mut self.contracts {
                c.start -= base;
            }
            self.anchored = true;
        }
    }

    fn push(&mut self, start: usize, json: &str) -> serde_json::Result<()> {
        let len = u32::try_from(json.len()).map_err(|_| serde::de::Error::custom("a contract over 4 GiB"))?;
        self.contracts.push(RawContract { start, len, expiration: expiration_of(json)? });
        Ok(())
    }
}

/// The fields a chain query can filter on, read from a contract's text
/// when the fast path of [`expiration_of`] cannot be taken, or when a query
/// filters on strike or type. Named as the model so that a contract that is
/// not an object reads as the model's error would.
#[derive(Deserialize)]
#[serde(rename = "OptionSnapshot")]
pub struct ContractIndex {
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

impl ContractIndex {
    /// `details.strike_price` and `details.contract_type` of a contract's
    /// JSON; both `None` when it has no `details` or cannot be read.
    pub fn strike_and_type(json: &str) -> (Option<f64>, Option<String>) {
        match serde_json::from_str::<ContractIndex>(json).ok().and_then(|i| i.details) {
            Some(d) => (d.strike_price, d.contract_type),
            None => (None, None),
        }
    }
}

/// `details.expiration_date` of a contract's JSON (already checked to be
/// valid JSON). A chain has thousands of contracts, so the key is looked
/// for as text first: `"expiration_date":"` can only be a key followed by a
/// string (inside a JSON string its quotes would be escaped), and Polygon's
/// snapshot has it in `details` alone. When it is absent, repeated or not a
/// plain date, the contract is read properly instead.
fn expiration_of(json: &str) -> serde_json::Result<Option<NaiveDate>> {
    const KEY: &[u8] = b"\"expiration_date\":\"";
    // Built once: building a searcher costs more than one contract's search.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let b = json.as_bytes();
    if let Some(i) = FINDER.find(b) {
        let rest = &b[i + KEY.len()..];
        if rest.len() > 10 && rest[10] == b'"' && FINDER.find(&rest[10..]).is_none() {
            if let Some(d) = plain_date(&rest[..10]) {
                return Ok(Some(d));
            }
        }
    }
    let index: ContractIndex = serde_json::from_str(json)?;
    Ok(index.details.and_then(|d| d.expiration_date))
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
                // Borrowed from the line being read: its address is kept
                // until `anchor` makes it an offset into that line.
                while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                    let json = raw.get();
                    chain.push(json.as_ptr() as usize, json).map_err(A::Error::custom)?;
                }
                chain.contracts.shrink_to_fit();
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
    // The line's text of each contract is not at hand: the value's own JSON
    // is kept instead, and the offsets point into it.
    fn from_value(v: Value) -> serde_json::Result<Self> {
        use serde::de::Error;
        let Value::Array(items) = v else {
            return Err(serde_json::Error::custom(format!("invalid type: {v}, expected a sequence")));
        };
        let mut text = String::new();
        let mut chain = RawChain { anchored: true, ..RawChain::default() };
        for item in items {
            let json = item.to_string();
            chain.push(text.len(), &json)?;
            text.push_str(&json);
        }
        chain.owned = Some(text.into_boxed_str());
        Ok(chain)
    }
}

/// A record's time and the symbol it is about ([`Payload::symbol`]; None
/// for a market-wide record).
pub type RecordHead = (DateTime<Utc>, Option<String>);

/// A record's time and symbol, for [`TapeReader::next_head`].
struct Head {
    at: DateTime<Utc>,
    symbol: Option<String>,
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
                Some(f.underlying.ok_or_else(|| D::Error::missing_field("underlying"))?)
            }
            Endpoint::Aggs | Endpoint::Trades | Endpoint::StockSnapshot | Endpoint::Quotes => {
                Some(f.ticker.ok_or_else(|| D::Error::missing_field("ticker"))?)
            }
            Endpoint::UnusualTrades => None,
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

enum Results<C> {
    Chain(C),
    Contract(Box<OptionSnapshot>),
    Bars(Vec<Bar>),
    Trades(Vec<Trade>),
    Stock(Box<TickerSnapshot>),
    Unusual(Vec<UnusualTrade>),
    Quotes(Vec<Quote>),
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
                        Some(Endpoint::UnusualTrades) => Results::Unusual(map.next_value()?),
                        Some(Endpoint::Quotes) => Results::Quotes(map.next_value()?),
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
            (Endpoint::UnusualTrades, r) => Payload::UnusualTrades {
                results: match r {
                    Results::Unusual(v) => v,
                    Results::Later(v) => later(v)?,
                    _ => return Err(A::Error::custom("results do not match the endpoint")),
                },
            },
            (Endpoint::Quotes, r) => Payload::Quotes {
                ticker: need(ticker, "ticker")?,
                results: match r {
                    Results::Quotes(v) => v,
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

/// A `.gz` name: the tape is gzip.
pub(crate) fn is_gzip(path: &Path) -> bool {
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
        r.header = Header::parse(&first).map_err(|m| r.err(m))?;
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
    pub fn next_head(&mut self) -> Result<Option<RecordHead>, TapeError> {
        let head = self.next_parsed(|h: &Head| h.at)?;
        Ok(head.map(|h| (h.at, h.symbol)))
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

/// Lines a gzip tape puts in one gzip member.
pub const BLOCK_BYTES: usize = 64 * 1024;

/// A line at least this long is a gzip member of its own: reading it back
/// then inflates that line alone, not the 64 KiB around it, and a line
/// this long compresses well enough by itself (a chain; a minute of a
/// stock's trades, read back by the replay an hour's worth at a time).
pub const LONE_BYTES: usize = 1024;

/// A tape being written. Records must be written in `at` order.
///
/// A `.gz` tape is written as a series of gzip members (RFC 1952 allows any
/// number; `zcat` and every gzip reader read them as one stream), each
/// holding whole lines: up to [`BLOCK_BYTES`] of short ones, or one line of
/// [`LONE_BYTES`] or more alone. A reader can then come back to a record later by the
/// offset of its member and inflate just that member, which is how the
/// replay answers from a tape larger than its memory.
pub struct TapeWriter {
    path: PathBuf,
    out: BufWriter<File>,
    gzip: bool,
    /// The lines of the member being gathered (gzip only).
    block: Vec<u8>,
    last_at: Option<DateTime<Utc>>,
    records: u64,
}

impl TapeWriter {
    pub fn create(path: &Path, header: &Header) -> Result<TapeWriter, TapeError> {
        let shown = path.display().to_string();
        let file = File::create(path).map_err(|e| TapeError::File { path: shown, message: e.to_string() })?;
        let mut w = TapeWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 16, file),
            gzip: is_gzip(path),
            block: Vec::new(),
            last_at: None,
            records: 0,
        };
        // The struct itself, not a `Value`: a `Value` sorts its keys, and the
        // header must start with `tape` and `version`.
        w.write_json(header)?;
        Ok(w)
    }

    fn io_err(&self, message: String) -> TapeError {
        TapeError::File { path: self.path.display().to_string(), message }
    }

    fn write_json<T: Serialize>(&mut self, v: &T) -> Result<(), TapeError> {
        self.write_line(v, None)
    }

    /// Writes `v` as a line; in a `.gz` tape a long line is a member of its
    /// own, labelled with `chain` (its time and underlying) when it is a
    /// chain record, so a replay can step over it ([`ChainLabel`]).
    fn write_line<T: Serialize>(&mut self, v: &T, chain: Option<(DateTime<Utc>, &str)>) -> Result<(), TapeError> {
        let mut line = serde_json::to_vec(v).map_err(|e| self.io_err(e.to_string()))?;
        line.push(b'\n');
        if !self.gzip {
            return self.out.write_all(&line).map_err(|e| self.io_err(e.to_string()));
        }
        if !self.block.is_empty() && self.block.len() + line.len() > BLOCK_BYTES {
            self.flush_block()?;
        }
        if line.len() >= LONE_BYTES {
            self.flush_block()?;
            let labelled = match chain {
                Some((at, underlying)) => {
                    ChainLabel::member(at, underlying, &line).map_err(|e| self.io_err(e.to_string()))?
                }
                None => None,
            };
            return match labelled {
                Some(member) => self.out.write_all(&member).map_err(|e| self.io_err(e.to_string())),
                None => {
                    self.block = line;
                    self.flush_block()
                }
            };
        }
        self.block.extend_from_slice(&line);
        Ok(())
    }

    /// Writes the gathered lines as one gzip member.
    fn flush_block(&mut self) -> Result<(), TapeError> {
        if self.block.is_empty() {
            return Ok(());
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let member = gz.write_all(&self.block).and_then(|()| gz.finish()).map_err(|e| self.io_err(e.to_string()))?;
        self.block.clear();
        self.out.write_all(&member).map_err(|e| self.io_err(e.to_string()))
    }

    pub fn write(&mut self, rec: &Record) -> Result<(), TapeError> {
        if self.last_at.is_some_and(|last| rec.at < last) {
            return Err(self.io_err(format!("record at {} written after a later one", rec.at.to_rfc3339())));
        }
        self.last_at = Some(rec.at);
        self.records += 1;
        let chain = match &rec.payload {
            Payload::OptionChain { underlying, .. } => Some((rec.at, underlying.as_str())),
            _ => None,
        };
        self.write_line(rec, chain)
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes the last member and flushes.
    pub fn finish(mut self) -> Result<u64, TapeError> {
        self.flush_block()?;
        self.out.flush().map_err(|e| self.io_err(e.to_string()))?;
        Ok(self.records)
    }
}

impl Drop for TapeWriter {
    // As the gzip encoder did when dropped: what was written is not lost
    // for want of `finish` (errors have nowhere to go here).
    fn drop(&mut self) {
        let _ = self.flush_block();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tape's `endpoint` tag and the name logs and metrics use are one
    /// name per endpoint.
    #[test]
    fn the_tape_tag_is_the_endpoint_name() {
        let s = |x: &str| x.to_string();
        let payloads = [
            Payload::OptionChain { underlying: s("SPY"), results: vec![] },
            Payload::OptionContract { underlying: s("SPY"), contract: s("O:X"), results: Box::default() },
            Payload::Aggs { ticker: s("SPY"), multiplier: 1, timespan: s("day"), results: vec![] },
            Payload::Trades { ticker: s("SPY"), results: vec![] },
            Payload::StockSnapshot { ticker: s("SPY"), results: Box::default() },
            Payload::UnusualTrades { results: vec![] },
            Payload::Quotes { ticker: s("O:X"), results: vec![] },
        ];
        let mut names: Vec<&str> = Vec::new();
        for payload in payloads {
            let json = serde_json::to_value(&payload).unwrap();
            assert_eq!(json["endpoint"].as_str(), Some(payload.endpoint()));
            names.push(payload.endpoint());
        }
        assert_eq!(names, crate::polygon::Endpoint::ALL.map(|e| e.as_str()));
    }

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
    fn a_raw_chain_locates_each_contract_in_its_line() {
        let results = r#"[{"details":{"contract_type":"call","expiration_date":"2025-11-21","strike_price":670,"ticker":"O:SPY251121C00670000"},"greeks":{"gamma":7.159999999999996e-280},"day":{"volume":12,"last_updated":1773062999581000000},"last_quote":{"ask":12345678901234567,"bid":2.70}},{"details":{"contract_type":"CALL","expiration_date":"2025-11-2"}},{"details":{"expiration_date":"2026-01-16"},"note":"\"expiration_date\":\"1999-01-01\""},{}]"#;
        let line = format!(
            r#"{{"at":"2025-10-22T14:30:05Z","endpoint":"option_chain","underlying":"SPY","results":{results}}}"#
        );
        let rec = ReplayRecord::parse(&line).unwrap();
        let ReplayPayload::OptionChain { underlying, results: chain } = rec.payload else { panic!("not a chain") };
        assert_eq!((underlying.as_str(), chain.len()), ("SPY", 4));
        let items: Vec<&RawValue> = serde_json::from_str(results).unwrap();
        for (c, item) in chain.contracts().iter().zip(&items) {
            // The tape's own text, byte for byte: numbers are not rewritten.
            assert_eq!(chain.text(&line, c), item.get());
        }
        let dates: Vec<Option<NaiveDate>> = chain.contracts().iter().map(|c| c.expiration).collect();
        // The second date is not a plain `YYYY-MM-DD`: read properly (and
        // refused by the model's date type, so absent is not what it reads
        // as — see below); the third's key also appears inside a string.
        assert_eq!(dates[0], NaiveDate::from_ymd_opt(2025, 11, 21));
        assert_eq!(dates[2], NaiveDate::from_ymd_opt(2026, 1, 16));
        assert_eq!(dates[3], None);
        assert_eq!(
            ContractIndex::strike_and_type(chain.text(&line, &chain.contracts()[0])),
            (Some(670.0), Some("call".to_string()))
        );
        let first = chain.text(&line, &chain.contracts()[0]);
        assert_eq!(chain.find(&line, "O:SPY251121C00670000"), Some(first));
        assert_eq!(chain.find(&line, "O:SPY251121C0067"), None);

        // `results` before `endpoint`: the contracts' text is kept.
        let later = format!(
            r#"{{"results":{results},"at":"2025-10-22T14:30:05Z","underlying":"SPY","endpoint":"option_chain"}}"#
        );
        let ReplayPayload::OptionChain { results: kept, .. } = ReplayRecord::parse(&later).unwrap().payload else {
            panic!("not a chain")
        };
        assert_eq!(kept.len(), 4);
        assert_eq!(kept.contracts()[2].expiration, NaiveDate::from_ymd_opt(2026, 1, 16));
        assert!(kept.text("", &kept.contracts()[0]).contains("O:SPY251121C00670000"));
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

    /// The prints lane's two records: their JSON shapes, and a read back
    /// that gives the same models, whichever key comes first.
    #[test]
    fn unusual_trades_and_quotes_records_round_trip() {
        let at = "2026-03-09T14:30:30Z".parse::<DateTime<Utc>>().unwrap();
        let print: UnusualTrade = serde_json::from_str(
            r#"{"ticker":"O:SPY260313C00600000","underlying_ticker":"SPY","occ_root":"SPY","price":4.1,"size":300.0,
                "exchange":302,"conditions":[219],"sip_timestamp":1773066629123456789,"flags":["premium","sweep"],
                "sequence_number":7}"#,
        )
        .unwrap();
        let quote = Quote {
            ask_price: Some(4.1),
            bid_price: Some(4.0),
            ask_size: Some(40.0),
            bid_size: Some(25.0),
            ask_exchange: Some(302),
            bid_exchange: Some(313),
            sequence_number: Some(6),
            sip_timestamp: 1_773_066_629_000_000_000,
        };
        let records = [
            Record { at, payload: Payload::UnusualTrades { results: vec![print] } },
            Record { at, payload: Payload::Quotes { ticker: "O:SPY260313C00600000".into(), results: vec![quote] } },
        ];
        let lines: Vec<String> = records.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        assert_eq!(
            lines[0],
            r#"{"at":"2026-03-09T14:30:30Z","endpoint":"unusual_trades","results":[{"ticker":"O:SPY260313C00600000","underlying_ticker":"SPY","occ_root":"SPY","price":4.1,"size":300.0,"exchange":302,"conditions":[219],"sip_timestamp":1773066629123456789,"flags":["premium","sweep"],"sequence_number":7}]}"#
        );
        assert_eq!(
            lines[1],
            r#"{"at":"2026-03-09T14:30:30Z","endpoint":"quotes","ticker":"O:SPY260313C00600000","results":[{"ask_exchange":302,"ask_price":4.1,"ask_size":40.0,"bid_exchange":313,"bid_price":4.0,"bid_size":25.0,"sequence_number":6,"sip_timestamp":1773066629000000000}]}"#
        );
        let h = r#"{"tape":"orakl-market-tape","version":1}"#;
        assert_eq!(read_all(&format!("{h}\n{}\n{}\n", lines[0], lines[1])).unwrap(), records);
        // `results` first: read through a value, to the same models.
        let without = lines[0].replacen(r#""endpoint":"unusual_trades","#, "", 1);
        let swapped = format!(r#"{},"endpoint":"unusual_trades"}}"#, &without[..without.len() - 1]);
        assert_eq!(read_all(&format!("{h}\n{swapped}\n")).unwrap(), records[..1]);
        // A market-wide record names no symbol; a quotes record its option.
        assert_eq!(records[0].payload.symbol(), None);
        assert_eq!(records[1].payload.symbol(), Some("O:SPY260313C00600000"));
        let mut reader = TapeReader::from_reader(
            "TAPE",
            Box::new(std::io::Cursor::new(format!("{h}\n{}\n{}\n", lines[0], lines[1]))),
        )
        .unwrap();
        assert_eq!(reader.next_head().unwrap(), Some((at, None)));
        assert_eq!(reader.next_head().unwrap(), Some((at, Some("O:SPY260313C00600000".to_string()))));
        let no_ticker = r#"{"at":"2026-03-09T14:30:30Z","endpoint":"quotes","results":[]}"#;
        assert!(read_all(&format!("{h}\n{no_ticker}\n")).unwrap_err().to_string().contains("missing field `ticker`"));
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
