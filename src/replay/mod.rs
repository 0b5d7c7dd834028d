//! Replay (SPEC §9): a [`Transport`] that answers the Polygon client's
//! requests from a market tape, with what was known at the simulated time
//! of each request.
//!
//! The client in front of it is the live one: pagination through
//! `next_url`, the token bucket, retries and counters work unchanged, so a
//! replay spends simulated time exactly as the live service would. What the
//! tape cannot answer gets an empty result, never an error; only an unknown
//! path is a 404, and only a malformed tape is a transport error.
//!
//! The tape is streamed, never loaded: a helper thread ([`feed`]) reads
//! ahead by at most [`feed::READ_AHEAD_BYTES`] of records, and a request at time `t`
//! applies the records with `at <= t` to the state below, in order. A
//! record later in the tape can therefore never change an answer before
//! its time.
//!
//! What the state keeps in memory is an index, not the market: a day of
//! 200 symbols is gigabytes of JSON. Records are read again from the tape
//! when asked for ([`shelf`]):
//!
//! - the latest chain per underlying: where its line is, and each
//!   contract's place in it and expiration (16 bytes a contract); a page is
//!   the line read back and its contracts' text copied;
//! - the latest contract snapshot per contract and stock snapshot per
//!   ticker, as models (one each, replaced);
//! - bars: every series that has been asked for, packed in memory and kept
//!   up to date as records arrive; any other series only as an entry in
//!   the index of its block, read back the first time it is asked for;
//! - trades: per ticker, where each record is and the range of its trades'
//!   times; a trades request reads back the records that reach into its
//!   window and merges them.
//!
//! The parts: this module holds the market state and its handlers;
//! [`feed`] reads the tape, [`shelf`] reads records back, [`trades`] keeps
//! the trade books, [`prints`] the unusual trades and quotes, [`bars`] builds bars from minutes, [`packed`] stores
//! bar series, [`query`] reads a request's parameters and [`reply`] writes
//! Polygon's response shapes. Requests are taken apart by
//! [`crate::polygon::route`], shared with the client and the recorder.
//!
mod bars;
mod feed;
mod packed;
mod prints;
mod query;
mod reply;
mod shelf;
mod trades;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use serde::Serialize;

use crate::calendar;
use crate::clock::{Clock, unix_nanos};
use crate::http::{HttpError, Response};
use crate::polygon::route::{Route, Target};
use crate::polygon::{Bar, OptionSnapshot, Quote, TickerSnapshot, Trade, Transport, UnusualTrade};
use crate::tape::{
    ContractIndex, Header, Payload, RawChain, RawContract, ReplayPayload, ReplayRecord, TapeError, TapeReader,
};

use bars::*;
use feed::{Arrival, Budget, Feed, Loc, What};
use packed::*;
use prints::{TickerFilter, TimeBook, check_sort, descending, time_page};
use query::*;
use reply::*;
use shelf::{Shelf, key_hash};
use trades::*;

/// Chains pinned by outstanding cursors. A client pages through one chain
/// at a time, so more than a few means abandoned paginations.
pub const PINNED_MAX: usize = 16;
/// The host written into `next_url`s; the client re-bases them anyway.
const REQUEST_ID: &str = "replay";
const CHAIN_LIMIT_DEFAULT: usize = 10;
const CHAIN_LIMIT_MAX: usize = 250;
const TRADES_LIMIT_DEFAULT: usize = 1000;
const TRADES_LIMIT_MAX: usize = 50_000;
const AGGS_LIMIT_DEFAULT: usize = 5000;
const AGGS_LIMIT_MAX: usize = 50_000;
/// Polygon's v3 list defaults, which the unusual-trades endpoint is taken
/// to follow (its page names none) and the quotes endpoint does.
const PRINTS_LIMIT_DEFAULT: usize = 1000;
const PRINTS_LIMIT_MAX: usize = 50_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// What [`tape_symbols`] finds: the header, the underlyings and tickers
/// (option tickers left out), and the first and last `at`.
pub type TapeSpan = (Header, BTreeSet<String>, DateTime<Utc>, DateTime<Utc>);

/// One streaming pass over a tape: its header, the symbols it is about
/// (chain and contract underlyings, bar, trade and snapshot tickers, but
/// not option tickers such as `O:SPY251121C00670000`, whose trades confirm
/// sweeps, nor the underlyings of the market-wide unusual trades, which
/// are the whole market's) and the span of its records, so that `orakl replay` can default
/// the watchlist and the time range to the tape's. A tape without records
/// is an error: there is nothing to replay.
pub fn tape_symbols(path: &Path) -> Result<TapeSpan, TapeError> {
    let mut reader = TapeReader::open(path)?;
    let mut symbols = BTreeSet::new();
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    // Only each record's time and symbol: its results are skipped, not
    // read (a bad value inside them stops the replay when it reaches that
    // line instead).
    while let Some((at, symbol)) = reader.next_head()? {
        span = Some(span.map_or((at, at), |(first, _)| (first, at)));
        if let Some(symbol) = symbol.filter(|s| !s.starts_with("O:") && !symbols.contains(s)) {
            symbols.insert(symbol);
        }
    }
    let Some((first, last)) = span else {
        return Err(TapeError::File { path: path.display().to_string(), message: "the tape has no records".into() });
    };
    Ok((reader.header().clone(), symbols, first, last))
}

/// What [`tape_symbols`] would find, read from the header when the tape's
/// writer stated it there ([`Header::contents`]), so that a replay does not
/// inflate and scan the whole tape once before replaying it; else the pass.
pub fn tape_span(path: &Path) -> Result<TapeSpan, TapeError> {
    let header = TapeReader::open(path)?.header().clone();
    match header.contents() {
        Some(c) => {
            Ok((header, c.symbols.into_iter().filter(|s| !s.starts_with("O:")).collect(), c.first_at, c.last_at))
        }
        None => tape_symbols(path),
    }
}

/// The market as a tape saw it, answering requests at `clock.now()`.
///
/// Clones share one tape and one state: keep a clone to ask [`error`]
/// after handing the other to [`crate::polygon::Client::with_transport`].
///
/// [`error`]: TapeMarket::error
#[derive(Clone)]
pub struct TapeMarket {
    clock: Arc<dyn Clock>,
    header: Arc<Header>,
    market: Arc<Mutex<Market>>,
}

impl TapeMarket {
    /// Opens the tape and checks its header; records are read as simulated
    /// time reaches them.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<TapeMarket, TapeError> {
        let (header, feed, budget) = spawn_reader(path.to_path_buf())?;
        let shelf = Shelf::open(path)
            .map_err(|e| TapeError::File { path: path.display().to_string(), message: e.to_string() })?;
        let market = Market::new(path.display().to_string(), feed, budget, shelf);
        Ok(TapeMarket { clock, header: Arc::new(header), market: Arc::new(Mutex::new(market)) })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The first malformed line met (`TAPE:LINE: ...`). Once set, every
    /// request fails with it: the replay must stop, not go on with a gap.
    /// Reads the tape up to the clock's time first, so that a replay that
    /// made no request since its last records (or none at all) still finds
    /// a malformed line among them.
    pub fn error(&self) -> Option<TapeError> {
        let mut market = self.lock();
        market.advance(self.clock.now());
        market.error.as_ref().map(copy_error)
    }

    /// Records applied so far (those with `at` at or before the latest
    /// request's time).
    pub fn records_applied(&self) -> u64 {
        self.lock().applied
    }

    /// True once the whole tape has been read and applied.
    pub fn exhausted(&self) -> bool {
        let m = self.lock();
        m.feed.is_none() && m.ahead.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Market> {
        // A panic elsewhere while holding the lock leaves data that is still
        // consistent record by record; keep answering.
        self.market.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Transport for TapeMarket {
    fn get(&self, url: &str, _headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        let t = self.clock.now();
        let mut market = self.lock();
        market.advance(t);
        // A malformed tape is not a server fault: the client neither retries
        // it nor counts it against the endpoint's circuit.
        if let Some(e) = &market.error {
            return Err(HttpError::Source(e.to_string()));
        }
        let response = market.answer(url, t);
        match &market.error {
            // The tape could not be read back.
            Some(e) => Err(HttpError::Source(e.to_string())),
            None => Ok(response),
        }
    }
}

fn copy_error(e: &TapeError) -> TapeError {
    match e {
        TapeError::File { path, message } => TapeError::File { path: path.clone(), message: message.clone() },
        TapeError::Line { path, line, message } => {
            TapeError::Line { path: path.clone(), line: *line, message: message.clone() }
        }
    }
}

// ---------------------------------------------------------------------------
// The reader thread.

fn spawn_reader(path: PathBuf) -> Result<(Header, Receiver<Feed>, Arc<Budget>), TapeError> {
    let shown = path.display().to_string();
    let stopped = |what: &str| TapeError::File { path: shown.clone(), message: format!("the tape reader {what}") };
    let (tx, rx) = channel();
    let budget = Arc::new(Budget::default());
    let reader_budget = budget.clone();
    thread::Builder::new()
        .name("orakl-tape-reader".into())
        .spawn(move || feed::read_tape(&path, &tx, &reader_budget))
        .map_err(|e| stopped(&format!("could not start: {e}")))?;
    match rx.recv() {
        Ok(Feed::Header(h)) => Ok((h, rx, budget)),
        Ok(Feed::Failed(e)) => Err(e),
        _ => Err(stopped("stopped unexpectedly")),
    }
}

// ---------------------------------------------------------------------------
// The state: what was known at the latest request's time.

/// One chain record, named by its line so a cursor can find it again.
struct Chain {
    line: usize,
    at: DateTime<Utc>,
    underlying: String,
    loc: Loc,
    /// Set when the reader read the line, else when the chain is first
    /// asked for ([`Market::contracts_of`]).
    contracts: OnceLock<RawChain>,
}

type SeriesKey = (String, u32, String);

struct Market {
    /// The tape, as errors name it.
    path: String,
    /// None once the tape has ended or failed.
    feed: Option<Receiver<Feed>>,
    budget: Arc<Budget>,
    /// Records read but not yet due, in tape order.
    ahead: VecDeque<Arrival>,
    error: Option<TapeError>,
    applied: u64,
    shelf: Shelf,
    chains: BTreeMap<String, Arc<Chain>>,
    pinned: BTreeMap<usize, Arc<Chain>>,
    contracts: BTreeMap<(String, String), (DateTime<Utc>, OptionSnapshot)>,
    stocks: BTreeMap<String, TickerSnapshot>,
    /// The series asked for so far, kept up to date as records arrive.
    bars: BTreeMap<SeriesKey, Series>,
    /// The hash of every series with a record so far: whether a series
    /// exists or must be built from minutes is known without reading it.
    series: HashSet<u64>,
    /// The underlying whose chain was asked for last, and for each
    /// underlying the one asked for after it: a service walks its watchlist
    /// in order, so the next chain can be inflated while this one is read.
    last_chain: Option<String>,
    next_chain: HashMap<String, String>,
    /// Every unusual trade applied so far.
    unusual: TimeBook,
    /// Whether the tape has shown an unusual-trades record by now, even an
    /// empty one: a tape without them stands for a plan without the
    /// endpoint, and is answered as one (403).
    unusual_seen: bool,
    /// Every quote applied so far, per option ticker.
    quotes: BTreeMap<String, TimeBook>,
}

impl Drop for Market {
    // The reader thread may be waiting for room: let it stop.
    fn drop(&mut self) {
        self.budget.close();
    }
}

/// What a request could not be answered with: a bad request (400), or a
/// record the tape no longer gives back, which stops the replay.
enum Refusal {
    BadRequest(String),
    Tape(TapeError),
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal::BadRequest(message)
    }
}

impl Market {
    fn new(path: String, feed: Receiver<Feed>, budget: Arc<Budget>, shelf: Shelf) -> Market {
        Market {
            path,
            feed: Some(feed),
            budget,
            ahead: VecDeque::new(),
            error: None,
            applied: 0,
            shelf,
            chains: BTreeMap::new(),
            pinned: BTreeMap::new(),
            contracts: BTreeMap::new(),
            stocks: BTreeMap::new(),
            bars: BTreeMap::new(),
            series: HashSet::new(),
            last_chain: None,
            next_chain: HashMap::new(),
            unusual: TimeBook::default(),
            unusual_seen: false,
            quotes: BTreeMap::new(),
        }
    }

    /// Applies every record with `at <= t`, reading no further than the
    /// first record after `t`.
    fn advance(&mut self, t: DateTime<Utc>) {
        loop {
            if self.ahead.is_empty() {
                let msg = match &self.feed {
                    Some(feed) => feed.recv(),
                    None => return,
                };
                match msg {
                    Ok(Feed::Records(records, weight)) => {
                        self.budget.give_back(weight);
                        self.ahead = records.into();
                    }
                    Ok(Feed::Spill(file)) => self.shelf.set_spill(file),
                    Ok(Feed::End) => {
                        self.feed = None;
                        return;
                    }
                    Ok(Feed::Failed(e)) => {
                        self.error = Some(e);
                        self.feed = None;
                        return;
                    }
                    Ok(Feed::Header(_)) | Err(_) => {
                        self.error = Some(TapeError::File {
                            path: self.path.clone(),
                            message: "the tape reader stopped unexpectedly".into(),
                        });
                        self.feed = None;
                        return;
                    }
                }
                continue;
            }
            if self.ahead.front().is_some_and(|rec| rec.at > t) {
                return;
            }
            if let Some(rec) = self.ahead.pop_front() {
                self.apply(rec);
            }
        }
    }

    fn apply(&mut self, arrival: Arrival) {
        self.applied += 1;
        let Arrival { at, line, loc, what } = arrival;
        match what {
            What::Chain { underlying, contracts } => {
                let contracts = contracts.map(OnceLock::from).unwrap_or_default();
                let chain = Chain { line, at, underlying: underlying.as_str().into(), loc, contracts };
                self.chains.insert(underlying.as_str().into(), Arc::new(chain));
            }
            What::Contract { underlying, contract, snapshot } => {
                self.contracts.insert((underlying, contract), (at, *snapshot));
            }
            What::Stock { ticker, snapshot } => {
                // Copied here, as a chain's name is: kept for a minute or
                // more, the reader's copy would pin pages of its arena.
                self.stocks.insert(ticker.as_str().into(), TickerSnapshot::clone(&snapshot));
            }
            What::Bars { ticker, multiplier, timespan, bars } => {
                let key = (ticker, multiplier, timespan);
                let hash = key_hash(&key);
                self.series.insert(hash);
                self.shelf.note_bars(loc, hash);
                if let Some(series) = self.bars.get_mut(&key) {
                    for bar in bars {
                        series.insert(bar);
                    }
                }
            }
            What::Trades { ticker, lo, hi } => self.shelf.note_trades(&ticker, loc, lo, hi),
            What::Unusual { prints } => {
                self.unusual_seen = true;
                self.unusual.add(unix_nanos(at), prints)
            }
            What::Quotes { ticker, quotes } => self.quotes.entry(ticker).or_default().add(unix_nanos(at), quotes),
        }
    }

    /// Records the tape failing to give back a record: the replay stops.
    fn tape_failed(&self, line: Option<usize>, message: String) -> Refusal {
        let path = self.path.clone();
        Refusal::Tape(match line {
            Some(line) => TapeError::Line { path, line, message },
            None => TapeError::File { path, message },
        })
    }

    fn answer(&mut self, url: &str, t: DateTime<Utc>) -> Response {
        let target = Target::parse(url);
        let Some(route) = Route::parse(&target.segments) else {
            return reply(404, &Status { status: "NOT_FOUND", request_id: REQUEST_ID, message: "unknown path" });
        };
        let result = match &route {
            Route::Chain { underlying } => self.chain(underlying, &target),
            Route::Contract { underlying, contract } => self.contract(underlying, contract),
            Route::Aggs { ticker, multiplier, timespan, from, to } => {
                self.aggs(ticker, multiplier, timespan, from, to, &target, t)
            }
            Route::Trades { ticker } => self.trades(ticker, &target, t),
            Route::StockSnapshot { ticker } => Ok(self.stock(ticker)),
            Route::UnusualTrades => self.unusual_trades(&target, t),
            Route::Quotes { ticker } => self.quotes(ticker, &target, t),
        };
        match result {
            Ok(response) => response,
            Err(Refusal::BadRequest(message)) => {
                reply(400, &ErrorBody { status: "ERROR", request_id: REQUEST_ID, error: message })
            }
            Err(Refusal::Tape(e)) => {
                let response = reply(500, &ErrorBody { status: "ERROR", request_id: REQUEST_ID, error: e.to_string() });
                self.error = Some(e);
                response
            }
        }
    }

    /// A chain's line, read back from the tape.
    fn chain_line(&mut self, chain: &Chain) -> Result<(Arc<String>, std::ops::Range<usize>), Refusal> {
        self.shelf.line(chain.loc).map_err(|m| self.tape_failed(Some(chain.line), m))
    }

    /// The chain's contract index, made from its `line` the first time it
    /// is needed when the reader stepped over the record (by the prefetch
    /// thread, if it read this chain ahead). The line must be the record
    /// its member's label announced.
    fn contracts_of<'c>(&mut self, chain: &'c Chain, line: &str) -> Result<&'c RawChain, Refusal> {
        if let Some(contracts) = chain.contracts.get() {
            return Ok(contracts);
        }
        let index = self.shelf.chain_index(chain.loc.block, line).map_err(|m| self.tape_failed(Some(chain.line), m))?;
        if index.at != chain.at || index.underlying != chain.underlying {
            let message = format!(
                "the line is a chain of {} at {}, but its gzip member's label says {} at {}",
                index.underlying,
                index.at.to_rfc3339(),
                chain.underlying,
                chain.at.to_rfc3339()
            );
            return Err(self.tape_failed(Some(chain.line), message));
        }
        // Copied here: made on the prefetch thread, the index would be
        // kept in that thread's malloc arena among the chain texts it
        // frees, and pin their pages.
        Ok(chain.contracts.get_or_init(|| index.contracts.clone()))
    }

    // -- option chain ------------------------------------------------------

    fn chain(&mut self, underlying: &str, q: &Target) -> Result<Response, Refusal> {
        let limit = q.limit(CHAIN_LIMIT_DEFAULT, CHAIN_LIMIT_MAX)?;
        let filter = ChainFilter::parse(q)?;
        let (chain, offset) = match q.get("cursor") {
            Some(cursor) => {
                let (line, offset) = parse_cursor(cursor).ok_or_else(|| format!("invalid cursor {cursor:?}"))?;
                let line = usize::try_from(line).map_err(|_| format!("invalid cursor {cursor:?}"))?;
                let current = self.chains.get(underlying).filter(|c| c.line == line);
                let chain = current.or_else(|| self.pinned.get(&line)).cloned();
                (chain.ok_or_else(|| format!("cursor {cursor:?} has expired"))?, offset)
            }
            None => {
                if let Some(before) = self.last_chain.replace(underlying.to_string())
                    && before != underlying
                {
                    self.next_chain.insert(before, underlying.to_string());
                }
                match self.chains.get(underlying) {
                    Some(chain) => (chain.clone(), 0),
                    None => return Ok(raw_page_reply(std::iter::empty(), None)),
                }
            }
        };
        let (text, range) = self.chain_line(&chain)?;
        let line = &text[range];
        let contracts = self.contracts_of(&chain, line)?;
        if q.get("cursor").is_none() {
            // The next chains of the walk are inflated (and indexed) while
            // this one is paged through and parsed.
            let mut at = underlying;
            for _ in 0..shelf::PREFETCH_DEPTH {
                let Some(next) = self.next_chain.get(at).filter(|u| *u != underlying) else { break };
                if let Some(chain) = self.chains.get(next) {
                    self.shelf.prefetch(chain.loc, chain.contracts.get().is_none());
                }
                at = next;
            }
        }
        let matching: Vec<&RawContract> =
            contracts.contracts().iter().filter(|c| filter.accepts(c, contracts.text(line, c))).collect();
        let end = offset.saturating_add(limit).min(matching.len());
        let page = matching.get(offset..end).unwrap_or_default().iter().map(|c| contracts.text(line, c));
        let next = if end < matching.len() {
            if !self.pinned.contains_key(&chain.line) {
                if self.pinned.len() >= PINNED_MAX {
                    self.pinned.pop_first();
                }
                self.pinned.insert(chain.line, chain.clone());
            }
            Some(q.next_url(&format!("{}-{end}", chain.line)))
        } else {
            self.pinned.remove(&chain.line);
            None
        };
        Ok(raw_page_reply(page, next))
    }

    // -- single contract ---------------------------------------------------

    /// The later of the contract's own record and its entry in the latest
    /// chain (both are the same snapshot data in the API); 404 if neither.
    fn contract(&mut self, underlying: &str, contract: &str) -> Result<Response, Refusal> {
        let own = self.contracts.get(&(underlying.to_string(), contract.to_string())).cloned();
        // The chain is read back only when it is newer than the contract's
        // own record (or there is none).
        let chain = self.chains.get(underlying).filter(|c| own.as_ref().is_none_or(|(at, _)| c.at > *at)).cloned();
        if let Some(chain) = chain {
            let (text, range) = self.chain_line(&chain)?;
            let line = &text[range];
            if let Some(json) = self.contracts_of(&chain, line)?.find(line, contract) {
                return Ok(raw_one_reply(json));
            }
        }
        Ok(match own {
            Some((_, snapshot)) => reply(200, &One { status: "OK", request_id: REQUEST_ID, results: &snapshot }),
            None => reply(404, &Status { status: "NOT_FOUND", request_id: REQUEST_ID, message: "contract not found" }),
        })
    }

    // -- stock snapshot ----------------------------------------------------

    fn stock(&self, ticker: &str) -> Response {
        #[derive(Serialize)]
        struct StockBody<'a> {
            status: &'static str,
            request_id: &'static str,
            ticker: &'a TickerSnapshot,
        }
        match self.stocks.get(ticker) {
            Some(snapshot) => reply(200, &StockBody { status: "OK", request_id: REQUEST_ID, ticker: snapshot }),
            None => reply(404, &Status { status: "NOT_FOUND", request_id: REQUEST_ID, message: "Ticker not found." }),
        }
    }

    // -- aggregates --------------------------------------------------------

    /// The series, read back from the tape the first time it is asked for
    /// and kept from then on (records that arrive later are added as they
    /// come). Empty when the tape has no record of it yet.
    fn series(&mut self, key: &SeriesKey) -> Result<&Series, Refusal> {
        if !self.bars.contains_key(key) {
            let mut series = Series::default();
            for (block, start) in self.shelf.bars_of(key_hash(key)) {
                let (text, range) = self.shelf.line_at(block, start).map_err(|m| self.tape_failed(None, m))?;
                let rec = ReplayRecord::parse(&text[range])
                    .map_err(|e| self.tape_failed(None, format!("a record read back is not the one read: {e}")))?;
                if let ReplayPayload::Other(Payload::Aggs { ticker, multiplier, timespan, results }) = rec.payload
                    && (&ticker, multiplier, &timespan) == (&key.0, key.1, &key.2)
                {
                    for bar in results {
                        series.insert(bar);
                    }
                }
            }
            self.bars.insert(key.clone(), series);
        }
        self.bars.get(key).ok_or_else(|| self.tape_failed(None, "a series vanished".into()))
    }

    #[allow(clippy::too_many_arguments)]
    fn aggs(
        &mut self,
        ticker: &str,
        multiplier: &str,
        timespan: &str,
        from: &str,
        to: &str,
        q: &Target,
        t: DateTime<Utc>,
    ) -> Result<Response, Refusal> {
        let mult: u32 =
            multiplier.parse().ok().filter(|m| *m >= 1).ok_or_else(|| format!("invalid multiplier {multiplier:?}"))?;
        let span = Span::parse(timespan).ok_or_else(|| format!("invalid timespan {timespan:?}"))?;
        let from_ms = agg_bound(from, false).ok_or_else(|| format!("invalid from {from:?}"))?;
        let to_ms = agg_bound(to, true).ok_or_else(|| format!("invalid to {to:?}"))?;
        let desc = match q.get("sort") {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(format!("invalid sort {other:?}").into()),
        };
        let limit = q.limit(AGGS_LIMIT_DEFAULT, AGGS_LIMIT_MAX)?;
        let t_ms = t.timestamp_millis();
        let own: SeriesKey = (ticker.to_string(), mult, timespan.to_string());
        let minutes: SeriesKey = (ticker.to_string(), 1, "minute".to_string());
        let mut bars: Vec<Bar> = if from_ms > to_ms {
            Vec::new()
        } else if self.series.contains(&key_hash(&own)) {
            let mut bars = self.series(&own)?.within(from_ms, to_ms);
            bars.retain(|bar| bar_end_ms(bar.start_ms, mult, span).is_some_and(|end| end <= t_ms));
            bars
        } else if self.series.contains(&key_hash(&minutes)) {
            let minutes = self.series(&minutes)?;
            match span {
                Span::Minute => build_fixed(minutes, i64::from(mult) * MINUTE_MS, from_ms, to_ms, t_ms),
                Span::Hour => build_fixed(minutes, i64::from(mult) * HOUR_MS, from_ms, to_ms, t_ms),
                Span::Day if mult == 1 => build_days(minutes, from_ms, to_ms, t_ms),
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        if desc {
            bars.reverse();
        }
        bars.truncate(limit);
        #[derive(Serialize)]
        struct AggsBody<'a> {
            ticker: &'a str,
            #[serde(rename = "queryCount")]
            query_count: usize,
            #[serde(rename = "resultsCount")]
            results_count: usize,
            adjusted: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            results: Option<Vec<Bar>>,
            status: &'static str,
            request_id: &'static str,
            count: usize,
        }
        let n = bars.len();
        Ok(reply(
            200,
            &AggsBody {
                ticker,
                query_count: n,
                results_count: n,
                adjusted: true,
                // As the API: an empty range has no `results` key at all.
                results: (n > 0).then_some(bars),
                status: "OK",
                request_id: REQUEST_ID,
                count: n,
            },
        ))
    }

    // -- trades ------------------------------------------------------------

    fn trades(&mut self, ticker: &str, q: &Target, t: DateTime<Utc>) -> Result<Response, Refusal> {
        let limit = q.limit(TRADES_LIMIT_DEFAULT, TRADES_LIMIT_MAX)?;
        let desc = match q.get("order") {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(format!("invalid order {other:?}").into()),
        };
        let (lo, hi) = trade_window(q)?;
        // A cursor pins the time of its first page, so later pages neither
        // gain trades that arrived since nor shift under the offset.
        let (cap_ns, offset) = match q.get("cursor") {
            Some(cursor) => parse_cursor(cursor).ok_or_else(|| format!("invalid cursor {cursor:?}"))?,
            None => (unix_nanos(t).max(0) as u64, 0),
        };
        let cap_ns = i64::try_from(cap_ns).unwrap_or(i64::MAX);
        let hi = hi.min(cap_ns);
        if lo > hi {
            return Ok(raw_page_reply(std::iter::empty(), None));
        }
        // The union of the ticker's records that reach into the window,
        // merged in tape order as they arrived.
        let mut book = TradeBook::default();
        for (block, start) in self.shelf.trades_of(ticker, lo, hi) {
            let (text, range) = self.shelf.line_at(block, start).map_err(|m| self.tape_failed(None, m))?;
            let rec = ReplayRecord::parse(&text[range])
                .map_err(|e| self.tape_failed(None, format!("a record read back is not the one read: {e}")))?;
            if let ReplayPayload::Other(Payload::Trades { ticker: of, results }) = rec.payload
                && of == ticker
            {
                let arriving = results.iter().filter(|t| (lo..=hi).contains(&t.sip_timestamp)).map(ArrivingTrade::of);
                book.add(unix_nanos(rec.at), arriving.collect());
            }
        }
        let matching: Vec<&str> =
            book.within(lo, hi).iter().filter(|k| k.known_ns <= cap_ns).map(|k| &*k.json).collect();
        Ok(prints::page_reply_at(q, matching, desc, offset, limit, cap_ns))
    }
}

impl Market {
    // -- the prints lane ---------------------------------------------------

    /// Massive's unusual trades known at `t` (their record's `at <= t`),
    /// filtered by `sip_timestamp` and `ticker` as the endpoint documents,
    /// in ascending time unless `order=desc`, paged with `limit` and a
    /// `next_url` cursor. None in the window: an empty `results`; none on the
    /// tape yet: a 403, as a plan without the endpoint answers.
    fn unusual_trades(&self, q: &Target, t: DateTime<Utc>) -> Result<Response, Refusal> {
        if !self.unusual_seen {
            // So a tape recorded on a plan without the endpoint (or written
            // before it existed) replays as that plan ran: the prints lane
            // off, Sweeps and Golden Sweeps on their snapshot path.
            let message = "NOT_AUTHORIZED: this tape holds no unusual trades (a plan without the endpoint)";
            return Ok(reply(403, &Status { status: "NOT_AUTHORIZED", request_id: REQUEST_ID, message }));
        }
        let limit = q.limit(PRINTS_LIMIT_DEFAULT, PRINTS_LIMIT_MAX)?;
        check_sort(q, "sip_timestamp")?;
        let desc = descending(q)?;
        let window = time_window(q, "sip_timestamp")?;
        let tickers = TickerFilter::parse(q);
        time_page(Some(&self.unusual), q, t, window, desc, limit, |k| tickers.accepts(&k.ticker))
    }

    /// An option's quotes known at `t`, in the `timestamp` window, in
    /// ascending time unless `order=desc`: `timestamp.lte=NS&order=desc&limit=1`
    /// is the NBBO at or before `NS`.
    fn quotes(&self, ticker: &str, q: &Target, t: DateTime<Utc>) -> Result<Response, Refusal> {
        let limit = q.limit(PRINTS_LIMIT_DEFAULT, PRINTS_LIMIT_MAX)?;
        check_sort(q, "timestamp")?;
        let desc = descending(q)?;
        let window = trade_window(q)?;
        time_page(self.quotes.get(ticker), q, t, window, desc, limit, |_| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(start_ms: i64, o: f64, h: f64, l: f64, c: f64, v: f64, vw: Option<f64>) -> Bar {
        Bar { start_ms, open: o, high: h, low: l, close: c, volume: v, vwap: vw, ..Bar::default() }
    }

    #[test]
    fn merges_bars_as_the_api_builds_them() {
        let a = bar(0, 10.0, 12.0, 9.0, 11.0, 100.0, Some(10.5));
        let b = bar(60_000, 11.0, 13.0, 10.0, 12.5, 300.0, Some(12.0));
        let m = merge_bars(0, &[&a, &b]).unwrap();
        assert_eq!((m.open, m.high, m.low, m.close, m.volume), (10.0, 13.0, 9.0, 12.5, 400.0));
        assert_eq!(m.vwap, Some((10.5 * 100.0 + 12.0 * 300.0) / 400.0));
        let idle = bar(0, 1.0, 1.0, 1.0, 1.0, 0.0, None);
        assert_eq!(merge_bars(0, &[&idle]).unwrap().vwap, None);
        assert_eq!(merge_bars(0, &[]), None);
    }

    #[test]
    fn extreme_ranges_are_empty_not_a_panic() {
        let mut minutes = Series::default();
        minutes.insert(bar(0, 1.0, 1.0, 1.0, 1.0, 1.0, None));
        assert_eq!(build_fixed(&minutes, 5 * MINUTE_MS, i64::MIN, i64::MAX, i64::MAX).len(), 1);
        assert_eq!(build_fixed(&minutes, 5 * MINUTE_MS, i64::MAX, i64::MIN, i64::MAX), []);
        assert_eq!(build_days(&minutes, i64::MIN, i64::MAX, i64::MAX).len(), 1);
        assert_eq!(build_days(&minutes, i64::MAX, i64::MIN, i64::MAX), []);
        assert_eq!(bar_end_ms(i64::MAX, u32::MAX, Span::Hour), None);
    }

    #[test]
    fn raw_replies_are_the_serialised_envelopes() {
        let items = [r#"{"open_interest":5.0}"#, r#"{"details":{"ticker":"O:X"}}"#];
        let values: Vec<serde_json::Value> = items.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
        for next in [None, Some("https://api.polygon.io/v3/x?cursor=1-2&a=\"b\"".to_string())] {
            let raw = raw_page_reply(items.iter().copied(), next.clone());
            assert_eq!(raw.body, page_reply(values.iter().collect(), next).body);
        }
        assert_eq!(raw_page_reply(std::iter::empty(), None).body, page_reply::<Trade>(Vec::new(), None).body);
        let one = One { status: "OK", request_id: REQUEST_ID, results: &values[0] };
        assert_eq!(raw_one_reply(items[0]).body, reply(200, &one).body);
    }

    #[test]
    fn bars_pack_only_when_they_read_back_identically() {
        let plain = bar(60_000, 2.7, 2.74, 2.66, 2.7, 12.0, Some(2.6867));
        let packed = PackedBar::pack(&plain).unwrap();
        assert_eq!(packed.unpack(), plain);
        let counted = Bar { transactions: Some(5.0), ..plain.clone() };
        assert_eq!(PackedBar::pack(&counted).unwrap().unpack(), counted);
        for odd in [0.1 + 0.2, -0.0, 1e300, 2.5e-5, f64::from(i32::MAX)] {
            assert!(PackedBar::pack(&bar(0, odd, 1.0, 1.0, 1.0, 1.0, None)).is_none(), "{odd}");
        }
        assert!(PackedBar::pack(&bar(0, 1.0, 1.0, 1.0, 1.0, 0.5, None)).is_none());
        assert!(PackedBar::pack(&Bar { otc: Some(true), ..plain.clone() }).is_none());

        // A bar that does not pack turns the series plain, keeping order and
        // replacing a bar with the same start.
        let mut series = Series::default();
        series.insert(bar(120_000, 1.0, 1.0, 1.0, 1.0, 1.0, None));
        series.insert(plain.clone());
        series.insert(bar(0, 0.1 + 0.2, 1.0, 0.1, 1.0, 1.0, None));
        series.insert(bar(120_000, 3.0, 3.0, 3.0, 3.0, 3.0, None));
        assert!(matches!(series, Series::Plain(_)));
        let all = series.within(i64::MIN, i64::MAX);
        assert_eq!(all.iter().map(|b| b.start_ms).collect::<Vec<_>>(), [0, 60_000, 120_000]);
        assert_eq!((all[0].open, all[1].clone(), all[2].open), (0.1 + 0.2, plain, 3.0));
        assert_eq!(series.within(60_000, 60_000).len(), 1);
        assert_eq!(series.within(1, 59_999), []);
    }

    #[test]
    fn calendar_bars_end_at_et_midnight_across_dst() {
        // 2025-11-02 is the fall-back day: 25 hours long in New York.
        let d = NaiveDate::from_ymd_opt(2025, 11, 2).unwrap();
        let start = et_midnight_ms(d).unwrap();
        assert_eq!(bar_end_ms(start, 1, Span::Day), Some(start + 25 * HOUR_MS));
        assert_eq!(bar_end_ms(start, 5, Span::Minute), Some(start + 5 * MINUTE_MS));
        assert_eq!(agg_bound("2025-11-02", false), Some(start));
        assert_eq!(agg_bound("2025-11-02", true), Some(start + 25 * HOUR_MS - 1));
        assert_eq!(agg_bound("1700000000000", true), Some(1_700_000_000_000));
        assert_eq!(agg_bound("soon", true), None);
    }

    #[test]
    fn cursors() {
        assert_eq!(parse_cursor("7-250"), Some((7, 250)));
        assert_eq!(parse_cursor("7"), None);
    }

    fn trade(id: Option<&str>, sip_ns: i64, price: f64, size: f64, exchange: Option<i32>) -> Trade {
        Trade { id: id.map(str::to_string), sip_timestamp: sip_ns, price, size, exchange, ..Trade::default() }
    }

    /// The trades a window holds as the book before this one kept them: a
    /// set of keys and a tree by (timestamp, arrival).
    #[derive(Default)]
    struct TreeBook {
        seen: HashSet<TradeKey>,
        by_time: BTreeMap<(i64, u64), (i64, Trade)>,
        arrivals: u64,
    }

    impl TreeBook {
        fn add(&mut self, known_ns: i64, trades: &[Trade]) {
            for t in trades {
                let key = TradeKey::of(t);
                if self.seen.insert(key) {
                    self.by_time.insert((t.sip_timestamp, self.arrivals), (known_ns, t.clone()));
                    self.arrivals += 1;
                }
            }
        }

        fn within(&self, lo: i64, hi: i64, cap_ns: i64) -> Vec<String> {
            if lo > hi {
                return Vec::new();
            }
            self.by_time
                .range((lo, 0)..=(hi, u64::MAX))
                .filter(|(_, (known, _))| *known <= cap_ns)
                .map(|(_, (_, t))| serde_json::to_string(t).unwrap())
                .collect()
        }
    }

    #[test]
    fn the_trade_book_keeps_what_the_tree_kept() {
        let records: Vec<(i64, Vec<Trade>)> = vec![
            (10, vec![trade(Some("1"), 100, 1.5, 10.0, Some(4)), trade(Some("2"), 100, 1.6, 5.0, Some(4))]),
            // A repeat by id (even at another time), one on another exchange,
            // a print without an id and its repeat in the same record.
            (
                20,
                vec![
                    trade(Some("1"), 105, 9.9, 1.0, Some(4)),
                    trade(Some("1"), 100, 1.5, 10.0, Some(7)),
                    trade(None, 90, 0.1 + 0.2, 3.0, None),
                    trade(None, 90, 0.1 + 0.2, 3.0, None),
                    trade(None, 90, 0.30000000000000004, 3.0, None),
                    trade(None, 90, 0.3, 3.0, None),
                ],
            ),
            // Out of order, descending, ties with kept trades.
            (30, vec![trade(Some("9"), 120, 2.0, 1.0, None), trade(Some("8"), 100, 2.0, 1.0, None)]),
            (30, vec![trade(Some("7"), 50, 2.0, 1.0, None), trade(None, 90, 0.3, 3.0, None)]),
            (40, vec![]),
        ];
        let (mut book, mut tree) = (TradeBook::default(), TreeBook::default());
        for (known, trades) in &records {
            book.add(*known, trades.iter().map(ArrivingTrade::of).collect());
            tree.add(*known, trades);
            for (lo, hi) in [(i64::MIN, i64::MAX), (90, 100), (100, 100), (101, 119), (121, 10)] {
                for cap in [0, 10, 20, 30, i64::MAX] {
                    let kept: Vec<String> =
                        book.within(lo, hi).iter().filter(|k| k.known_ns <= cap).map(|k| k.json.to_string()).collect();
                    assert_eq!(kept, tree.within(lo, hi, cap), "window {lo}..={hi} known by {cap}");
                }
            }
        }
        let order: Vec<i64> = book.trades.iter().map(|k| k.sip_ns).collect();
        assert_eq!(order, [50, 90, 90, 100, 100, 100, 100, 120]);
    }

    #[test]
    fn trade_windows() {
        let w = |q: &str| trade_window(&Target::parse(&format!("/v3/trades/X?{q}")));
        assert_eq!(w(""), Ok((i64::MIN, i64::MAX)));
        assert_eq!(w("timestamp.gt=10&timestamp.lte=20"), Ok((11, 20)));
        assert_eq!(w("timestamp.gte=10&timestamp.lt=20"), Ok((10, 19)));
        assert_eq!(w("timestamp=15"), Ok((15, 15)));
        assert!(w("timestamp.gt=soon").is_err());
        let day = NaiveDate::from_ymd_opt(2025, 10, 22).unwrap();
        let midnight_ns = et_midnight_ms(day).unwrap() * 1_000_000;
        assert_eq!(w("timestamp=2025-10-22"), Ok((midnight_ns, midnight_ns + 24 * HOUR_MS * 1_000_000 - 1)));
    }
}
