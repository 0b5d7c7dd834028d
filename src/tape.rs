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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
        d.deserialize_map(RecordVisitor)
    }
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

enum Results {
    Chain(Vec<OptionSnapshot>),
    Contract(Box<OptionSnapshot>),
    Bars(Vec<Bar>),
    Trades(Vec<Trade>),
    Stock(Box<TickerSnapshot>),
    /// `results` met before `endpoint`.
    Later(Value),
}

struct RecordVisitor;

impl<'de> serde::de::Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a tape record")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
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
            (Endpoint::OptionChain, r) => Payload::OptionChain {
                underlying: need(underlying, "underlying")?,
                results: match r {
                    Results::Chain(v) => v,
                    Results::Later(v) => later(v)?,
                    _ => return Err(A::Error::custom("results do not match the endpoint")),
                },
            },
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
        Ok(Record { at, payload })
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
        loop {
            self.buf.clear();
            self.line += 1;
            let n = self.lines.read_line(&mut self.buf).map_err(|e| self.err(format!("cannot read: {e}")))?;
            if n == 0 {
                return Ok(None);
            }
            if !self.buf.trim().is_empty() {
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
        }
    }

    /// The next record; records must come in `at` order.
    pub fn next_record(&mut self) -> Result<Option<Record>, TapeError> {
        let Some(text) = self.next_line()? else { return Ok(None) };
        let rec: Record = serde_json::from_str(&text).map_err(|e| self.err(format!("bad record: {e}")))?;
        if self.last_at.is_some_and(|last| rec.at < last) {
            return Err(self.err(format!("record at {} is earlier than the one before it", rec.at.to_rfc3339())));
        }
        self.last_at = Some(rec.at);
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
