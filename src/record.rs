//! Record (SPEC §9): a [`Transport`] that passes every request through to
//! another one (the live [`crate::http::Http`]) unchanged and writes each
//! successful response into a market tape that [`crate::replay::TapeMarket`]
//! replays.
//!
//! - A chain, trades, aggregates, unusual-trades or quotes fetch of several
//!   pages becomes one record with every page merged. It is stamped with the time of its
//!   first page: that is when the fetch's snapshot was taken, and a replay
//!   asks for page 1 at that same simulated time (and serves the later
//!   pages from the same snapshot).
//! - A fetch whose page failed for good is not written (a chain is all or
//!   nothing). A page that failed and then succeeded on retry is kept. A
//!   trades, aggregates, unusual-trades or quotes fetch the client stopped
//!   following on purpose (`TradesQuery::max_pages`, `UnusualQuery::max_pages`,
//!   the one page of `Client::quote_at`) is written with the pages it read:
//!   its prints and quotes are real, and replay unions them.
//! - Contract and stock snapshots are one record each; 404s are not
//!   recorded (a replay answers 404 for what it has never seen).
//! - Only the endpoint, the symbol and the parsed `results` are written:
//!   no URL and no header, so the API key (which travels only in the
//!   `Authorization` header) can never reach a tape.
//!
//! The tape writer is not `Send`, so it lives on a writer thread that
//! receives each response over a bounded channel, merges pages and writes.
//! Recording problems are logged (`event=record_failed`) and never change
//! what the live request returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::http::{HttpError, Response};
use crate::polygon::models::{ChainPage, ContractResponse, Envelope, OneOrMany, StockSnapshotResponse};
use crate::polygon::route::{Route, Target, split_url};
use crate::polygon::{Bar, Quote, Trade, Transport, UnusualTrade};
use crate::tape::{Header, Payload, Record, TapeError, TapeWriter};

/// How logs name the symbol of a market-wide record (unusual trades).
const MARKET: &str = "market";

/// Responses waiting for the writer thread. When it falls this far behind,
/// requests wait for it rather than memory growing.
pub const QUEUE_MAX: usize = 256;

/// One response the writer thread is told about.
struct Exchange {
    at: DateTime<Utc>,
    /// Path and query, as the request was sent.
    target: String,
    /// `None` when no response arrived (a transport error).
    status: Option<u16>,
    /// The body of a 200; empty otherwise.
    body: Vec<u8>,
}

enum Msg {
    Exchange(Exchange),
    Finish(SyncSender<Result<u64, TapeError>>),
}

/// Wraps a transport and records what it answers.
pub struct Recorder<T: Transport> {
    inner: T,
    clock: Arc<dyn Clock>,
    tx: SyncSender<Msg>,
    /// Set once the writer is gone, so that is logged once, not per request.
    writer_gone: AtomicBool,
}

/// Closes the tape. Keep it when the [`Recorder`] goes into a client; call
/// [`RecordHandle::finish`] before exit (dropping it also closes the tape,
/// without reporting an error).
pub struct RecordHandle {
    path: String,
    tx: Option<SyncSender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Transport> Recorder<T> {
    /// Creates the tape at `path` (gzip when it ends in `.gz`) with `header`
    /// as line 1, and starts the writer.
    pub fn create(
        inner: T,
        path: &Path,
        header: &Header,
        clock: Arc<dyn Clock>,
    ) -> Result<(Recorder<T>, RecordHandle), TapeError> {
        let shown = path.display().to_string();
        let (tx, rx) = sync_channel(QUEUE_MAX);
        let (ready_tx, ready_rx) = sync_channel(1);
        let (owned_path, owned_header) = (path.to_path_buf(), header.clone());
        let thread = thread::Builder::new()
            .name("orakl-tape-writer".into())
            .spawn(move || write_tape(owned_path, &owned_header, &rx, &ready_tx))
            .map_err(|e| TapeError::File {
                path: shown.clone(),
                message: format!("cannot start the tape writer: {e}"),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(TapeError::File { path: shown, message: "the tape writer stopped unexpectedly".into() });
            }
        }
        let recorder = Recorder { inner, clock, tx: tx.clone(), writer_gone: AtomicBool::new(false) };
        Ok((recorder, RecordHandle { path: shown, tx: Some(tx), thread: Some(thread) }))
    }
}

impl<T: Transport> Transport for Recorder<T> {
    fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        let result = self.inner.get(url, headers);
        let target = Target::parse(url);
        if Route::parse(&target.segments).is_none() {
            return result;
        }
        let (path, query) = split_url(url);
        let (status, body) = match &result {
            Ok(resp) if resp.status == 200 => (Some(200), resp.body.clone()),
            Ok(resp) => (Some(resp.status), Vec::new()),
            Err(_) => (None, Vec::new()),
        };
        let target = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        let exchange = Exchange { at: self.clock.now(), target, status, body };
        if self.tx.send(Msg::Exchange(exchange)).is_err() && !self.writer_gone.swap(true, Ordering::Relaxed) {
            log::warn!(reason = "writer_stopped", action = "not_recording"; "record_failed");
        }
        result
    }
}

impl RecordHandle {
    /// Writes what is still buffered, closes the tape (the gzip trailer
    /// included) and returns the number of records written.
    pub fn finish(mut self) -> Result<u64, TapeError> {
        self.close()
    }

    fn close(&mut self) -> Result<u64, TapeError> {
        let stopped =
            || TapeError::File { path: self.path.clone(), message: "the tape writer stopped unexpectedly".into() };
        let Some(tx) = self.tx.take() else { return Err(stopped()) };
        let (reply_tx, reply_rx) = sync_channel(1);
        let result = match tx.send(Msg::Finish(reply_tx)) {
            Ok(()) => reply_rx.recv().unwrap_or_else(|_| Err(stopped())),
            Err(_) => Err(stopped()),
        };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        result
    }
}

impl Drop for RecordHandle {
    fn drop(&mut self) {
        if self.tx.is_none() {
            return;
        }
        if let Err(e) = self.close() {
            log::warn!(reason = "close", error:% = e; "record_failed");
        }
    }
}

/// The writer thread: open, then merge and write until told to finish or
/// every sender is gone.
fn write_tape(path: PathBuf, header: &Header, rx: &Receiver<Msg>, ready: &SyncSender<Result<(), TapeError>>) {
    let mut writer = match TapeWriter::create(&path, header) {
        Ok(w) => {
            let _ = ready.send(Ok(()));
            w
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut merger = Merger::default();
    let mut sink = Sink { last_at: None, failed: 0 };
    let mut out = Vec::new();
    let reply = loop {
        match rx.recv() {
            Ok(Msg::Exchange(ex)) => {
                if let Err(problem) = merger.feed(ex, &mut out) {
                    sink.failed += 1;
                    crate::logging::event(log::Level::Warn, "record_failed", &problem);
                }
                sink.write(&mut writer, &mut out);
            }
            Ok(Msg::Finish(reply)) => break Some(reply),
            Err(_) => break None,
        }
    };
    merger.finish(&mut out);
    sink.write(&mut writer, &mut out);
    let records = writer.records();
    let result = writer.finish();
    match &result {
        Ok(_) => log::info!(records = records, failed = sink.failed; "record_finished"),
        Err(e) => log::warn!(reason = "close", error:% = e; "record_failed"),
    }
    if let Some(reply) = reply {
        let _ = reply.send(result);
    }
}

struct Sink {
    last_at: Option<DateTime<Utc>>,
    failed: u64,
}

impl Sink {
    fn write(&mut self, writer: &mut TapeWriter, records: &mut Vec<Record>) {
        for mut rec in records.drain(..) {
            // The wall clock may step back (NTP); a tape must stay in order.
            if let Some(last) = self.last_at {
                rec.at = rec.at.max(last);
            }
            self.last_at = Some(rec.at);
            if let Err(e) = writer.write(&rec) {
                self.failed += 1;
                log::warn!(
                    endpoint = rec.payload.endpoint(),
                    ticker = rec.payload.symbol().unwrap_or(MARKET),
                    error:% = e;
                    "record_failed"
                );
            }
        }
    }
}

/// What decides a page's fate: its status and where the next one is.
struct PageHead {
    ok: bool,
    /// The request target of the next page, if any.
    next: Option<String>,
}

impl PageHead {
    fn of(status: Option<String>, next_url: Option<String>) -> PageHead {
        let next = next_url.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(next_target);
        PageHead { ok: succeeded(status.as_deref()), next }
    }
}

/// A fetch of several pages being put together.
struct Pending {
    /// The first page's response time.
    at: DateTime<Utc>,
    /// Path and query of the page that continues it.
    expect: String,
    /// The expected page failed; a retry may still succeed.
    failed: bool,
    payload: Payload,
}

/// Turns the sequence of responses into records: pure, so it is tested
/// without threads or files.
#[derive(Default)]
struct Merger {
    pending: Option<Pending>,
}

impl Merger {
    /// Takes one response; pushes the records it completes onto `out`. An
    /// error describes a response that could not be recorded.
    fn feed(&mut self, ex: Exchange, out: &mut Vec<Record>) -> Result<(), crate::logging::Fields> {
        let target = Target::parse(&ex.target);
        let Some(route) = Route::parse(&target.segments) else { return Ok(()) };
        let continues = self.pending.as_ref().is_some_and(|p| p.expect == ex.target);
        if !continues {
            self.abandon(out);
        }
        if ex.status != Some(200) {
            if let Some(p) = self.pending.as_mut() {
                p.failed = true;
            }
            return Ok(());
        }
        let endpoint = route.endpoint().as_str();
        let fail = |endpoint: &str, symbol: &str, why: String| {
            crate::logging::Fields::new().text("endpoint", endpoint).text("ticker", symbol).text("error", why)
        };
        match route {
            Route::Chain { underlying } => {
                let page: ChainPage = match parse(&ex.body) {
                    Ok(p) => p,
                    Err(why) => {
                        self.pending = None;
                        return Err(fail(endpoint, &underlying, why));
                    }
                };
                let results = page.results.map(OneOrMany::into_vec).unwrap_or_default();
                let fresh = Payload::OptionChain { underlying, results: Vec::new() };
                let head = PageHead::of(page.status, page.next_url);
                self.page(ex.at, continues, head, fresh, out, |p| {
                    if let Payload::OptionChain { results: all, .. } = p {
                        all.extend(results);
                    }
                });
            }
            Route::Trades { ticker } => {
                let page: Envelope<Vec<Trade>> = match parse(&ex.body) {
                    Ok(p) => p,
                    Err(why) => {
                        self.pending = None;
                        return Err(fail(endpoint, &ticker, why));
                    }
                };
                let results = page.results.unwrap_or_default();
                let fresh = Payload::Trades { ticker, results: Vec::new() };
                let head = PageHead::of(page.status, page.next_url);
                self.page(ex.at, continues, head, fresh, out, |p| {
                    if let Payload::Trades { results: all, .. } = p {
                        all.extend(results);
                    }
                });
            }
            Route::Aggs { ticker, multiplier, timespan, .. } => {
                let Ok(multiplier) = multiplier.parse::<u32>() else {
                    self.pending = None;
                    return Err(fail(endpoint, &ticker, format!("multiplier {multiplier:?} is not a number")));
                };
                let page: Envelope<Vec<Bar>> = match parse(&ex.body) {
                    Ok(p) => p,
                    Err(why) => {
                        self.pending = None;
                        return Err(fail(endpoint, &ticker, why));
                    }
                };
                let results = page.results.unwrap_or_default();
                let fresh = Payload::Aggs { ticker, multiplier, timespan, results: Vec::new() };
                let head = PageHead::of(page.status, page.next_url);
                self.page(ex.at, continues, head, fresh, out, |p| {
                    if let Payload::Aggs { results: all, .. } = p {
                        all.extend(results);
                    }
                });
            }
            Route::UnusualTrades => {
                let page: Envelope<Vec<UnusualTrade>> = match parse(&ex.body) {
                    Ok(p) => p,
                    Err(why) => {
                        self.pending = None;
                        return Err(fail(endpoint, MARKET, why));
                    }
                };
                let results = page.results.unwrap_or_default();
                let fresh = Payload::UnusualTrades { results: Vec::new() };
                let head = PageHead::of(page.status, page.next_url);
                self.page(ex.at, continues, head, fresh, out, |p| {
                    if let Payload::UnusualTrades { results: all } = p {
                        all.extend(results);
                    }
                });
            }
            Route::Quotes { ticker } => {
                let page: Envelope<Vec<Quote>> = match parse(&ex.body) {
                    Ok(p) => p,
                    Err(why) => {
                        self.pending = None;
                        return Err(fail(endpoint, &ticker, why));
                    }
                };
                let results = page.results.unwrap_or_default();
                let fresh = Payload::Quotes { ticker, results: Vec::new() };
                let head = PageHead::of(page.status, page.next_url);
                self.page(ex.at, continues, head, fresh, out, |p| {
                    if let Payload::Quotes { results: all, .. } = p {
                        all.extend(results);
                    }
                });
            }
            Route::Contract { underlying, contract } => {
                let resp: ContractResponse = parse(&ex.body).map_err(|why| fail(endpoint, &contract, why))?;
                if let (true, Some(results)) = (succeeded(resp.status.as_deref()), resp.results) {
                    out.push(Record {
                        at: ex.at,
                        payload: Payload::OptionContract { underlying, contract, results: Box::new(results) },
                    });
                }
            }
            Route::StockSnapshot { ticker } => {
                let resp: StockSnapshotResponse = parse(&ex.body).map_err(|why| fail(endpoint, &ticker, why))?;
                if let (true, Some(results)) = (succeeded(resp.status.as_deref()), resp.ticker) {
                    out.push(Record {
                        at: ex.at,
                        payload: Payload::StockSnapshot { ticker, results: Box::new(results) },
                    });
                }
            }
        }
        Ok(())
    }

    /// One page of a paginated fetch: start or continue the pending one,
    /// then write it if this was the last page.
    fn page(
        &mut self,
        at: DateTime<Utc>,
        continues: bool,
        head: PageHead,
        fresh: Payload,
        out: &mut Vec<Record>,
        add: impl FnOnce(&mut Payload),
    ) {
        if !head.ok {
            // The client fails the call on an `ERROR` body: nothing to keep.
            self.pending = None;
            return;
        }
        let mut pending = match self.pending.take() {
            Some(p) if continues => p,
            _ => Pending { at, expect: String::new(), failed: false, payload: fresh },
        };
        add(&mut pending.payload);
        match head.next {
            Some(next) => {
                pending.expect = next;
                pending.failed = false;
                self.pending = Some(pending);
            }
            None => out.push(Record { at: pending.at, payload: pending.payload }),
        }
    }

    /// The client moved on from the pending fetch. A failed fetch or a
    /// partial chain is dropped; trades, bars, unusual trades or quotes the
    /// client chose to stop reading are real data and are kept (a quote
    /// lookup reads one page of a list that goes on into the past).
    fn abandon(&mut self, out: &mut Vec<Record>) {
        let Some(p) = self.pending.take() else { return };
        let keep = !p.failed
            && matches!(
                p.payload,
                Payload::Trades { .. } | Payload::Aggs { .. } | Payload::UnusualTrades { .. } | Payload::Quotes { .. }
            );
        if keep {
            out.push(Record { at: p.at, payload: p.payload });
        } else {
            log::debug!(
                endpoint = p.payload.endpoint(),
                ticker = p.payload.symbol().unwrap_or(MARKET),
                reason = "incomplete_fetch";
                "record_dropped"
            );
        }
    }

    fn finish(&mut self, out: &mut Vec<Record>) {
        self.abandon(out);
    }
}

/// `OK`, `DELAYED` or absent; not `ERROR` / `NOT_AUTHORIZED` / `NOT_FOUND`.
fn succeeded(status: Option<&str>) -> bool {
    !matches!(status, Some("ERROR" | "NOT_AUTHORIZED" | "NOT_FOUND"))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("unexpected body: {e}"))
}

/// The request target the client will send for a `next_url`: its path and
/// query on our origin, without an `apiKey` parameter (as the client's own
/// re-basing does).
fn next_target(next_url: &str) -> String {
    let (path, query) = split_url(next_url);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| !kv.split('=').next().unwrap_or("").eq_ignore_ascii_case("apikey"))
        .collect();
    if kept.is_empty() { path.to_string() } else { format!("{path}?{}", kept.join("&")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 10, 22, 14, 30, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    fn ok(secs: i64, target: &str, body: &str) -> Exchange {
        Exchange { at: at(secs), target: target.into(), status: Some(200), body: body.as_bytes().to_vec() }
    }

    fn failed(secs: i64, target: &str, status: Option<u16>) -> Exchange {
        Exchange { at: at(secs), target: target.into(), status, body: Vec::new() }
    }

    fn chain_page(tickers: &[&str], next: Option<&str>) -> String {
        let results: Vec<String> =
            tickers.iter().map(|t| format!(r#"{{"details":{{"ticker":"O:{}"}}}}"#, t.to_ascii_uppercase())).collect();
        let next = next.map(|n| format!(r#","next_url":"https://api.polygon.io{n}""#)).unwrap_or_default();
        format!(r#"{{"status":"OK","results":[{}]{next}}}"#, results.join(","))
    }

    fn run(exchanges: Vec<Exchange>) -> Vec<String> {
        let mut m = Merger::default();
        let mut out = Vec::new();
        for ex in exchanges {
            let _ = m.feed(ex, &mut out);
        }
        m.finish(&mut out);
        out.iter()
            .map(|r| {
                let n = match &r.payload {
                    Payload::OptionChain { results, .. } => results.len(),
                    Payload::Trades { results, .. } => results.len(),
                    Payload::Aggs { results, .. } => results.len(),
                    Payload::UnusualTrades { results } => results.len(),
                    Payload::Quotes { results, .. } => results.len(),
                    _ => 1,
                };
                let symbol = r.payload.symbol().unwrap_or(MARKET);
                format!("{} {} {symbol} n={n}", r.at.format("%H:%M:%S"), r.payload.endpoint())
            })
            .collect()
    }

    const C1: &str = "/v3/snapshot/options/SPY?limit=250";
    const C2: &str = "/v3/snapshot/options/SPY?cursor=2";

    #[test]
    fn pages_merge_into_one_record_stamped_with_the_first_page() {
        let got = run(vec![ok(0, C1, &chain_page(&["a", "b"], Some(C2))), ok(1, C2, &chain_page(&["c"], None))]);
        assert_eq!(got, ["14:30:00 option_chain SPY n=3"]);
    }

    #[test]
    fn a_retried_page_is_kept_and_a_failed_chain_is_dropped() {
        let retried = run(vec![
            ok(0, C1, &chain_page(&["a"], Some(C2))),
            failed(1, C2, Some(503)),
            ok(2, C2, &chain_page(&["b"], None)),
        ]);
        assert_eq!(retried, ["14:30:00 option_chain SPY n=2"]);
        let dropped = run(vec![
            ok(0, C1, &chain_page(&["a"], Some(C2))),
            failed(1, C2, None),
            ok(5, C1, &chain_page(&["z"], None)),
        ]);
        assert_eq!(dropped, ["14:30:05 option_chain SPY n=1"]);
        assert_eq!(run(vec![ok(0, C1, &chain_page(&["a"], Some(C2)))]), Vec::<String>::new());
    }

    #[test]
    fn trades_the_client_stopped_reading_are_kept() {
        let t1 = "/v3/trades/SPY?limit=1";
        let page = r#"{"status":"OK","results":[{"price":1,"size":1,"sip_timestamp":5}],"next_url":"https://x/v3/trades/SPY?cursor=1&apiKey=K"}"#;
        let got = run(vec![
            ok(0, t1, page),
            ok(3, "/v2/snapshot/locale/us/markets/stocks/tickers/SPY", r#"{"status":"OK","ticker":{"ticker":"SPY"}}"#),
        ]);
        assert_eq!(got, ["14:30:00 trades SPY n=1", "14:30:03 stock_snapshot SPY n=1"]);
    }

    #[test]
    fn unrecorded_responses() {
        let got = run(vec![
            ok(0, "/v3/snapshot/options/SPY", r#"{"status":"ERROR","error":"bad"}"#),
            failed(1, "/v2/snapshot/locale/us/markets/stocks/tickers/ZZZ", Some(404)),
            ok(2, "/v1/marketstatus/now", "{}"),
            ok(3, "/v3/snapshot/options/SPY/O:X", r#"{"status":"OK"}"#),
        ]);
        assert_eq!(got, Vec::<String>::new());
        let mut m = Merger::default();
        let err = m.feed(ok(0, "/v3/trades/SPY", "<html>"), &mut Vec::new()).unwrap_err().to_text();
        assert!(err.starts_with("endpoint=trades ticker=SPY error=\"unexpected body"), "{err}");
    }

    #[test]
    fn unusual_trades_pages_merge_and_a_quote_lookup_is_kept() {
        let u1 = "/options/v1/unusual-trades?sort=sip_timestamp&order=asc&limit=2&sip_timestamp.gte=5";
        let u2 = "/options/v1/unusual-trades?cursor=c2&sort=sip_timestamp&order=asc&limit=2&sip_timestamp.gte=5";
        let print = |ns: i64| {
            format!(
                r#"{{"ticker":"O:SPY260313C00600000","price":4.1,"size":300,"sip_timestamp":{ns},"flags":["premium"]}}"#
            )
        };
        let page1 = format!(
            r#"{{"status":"OK","results":[{},{}],"next_url":"https://api.massive.com{u2}&apiKey=K"}}"#,
            print(5),
            print(6)
        );
        let page2 = format!(r#"{{"status":"OK","results":[{}]}}"#, print(9));
        // A quote lookup: one page whose next_url (older quotes) is not followed.
        let q = "/v3/quotes/O:SPY260313C00600000?timestamp.lte=9&order=desc&sort=timestamp&limit=1";
        let quote = r#"{"status":"OK","results":[{"bid_price":4.0,"ask_price":4.1,"sip_timestamp":8}],"next_url":"https://api.massive.com/v3/quotes/O:SPY260313C00600000?cursor=q2"}"#;
        let got = run(vec![
            ok(0, u1, &page1),
            ok(1, u2, &page2),
            ok(2, q, quote),
            // An empty stream is a record too (nothing printed then), and an
            // absent `results` is an empty one.
            ok(5, "/options/v1/unusual-trades?sort=sip_timestamp&order=asc&limit=2", r#"{"status":"OK"}"#),
        ]);
        assert_eq!(
            got,
            [
                "14:30:00 unusual_trades market n=3",
                "14:30:02 quotes O:SPY260313C00600000 n=1",
                "14:30:05 unusual_trades market n=0"
            ]
        );
        let mut m = Merger::default();
        let err = m.feed(ok(0, u1, "[]"), &mut Vec::new()).unwrap_err().to_text();
        assert!(err.starts_with("endpoint=unusual_trades ticker=market error=\"unexpected body"), "{err}");
    }

    #[test]
    fn next_targets_drop_the_origin_and_api_keys() {
        assert_eq!(next_target("https://evil:1/v3/trades/X?cursor=1&apiKey=K"), "/v3/trades/X?cursor=1");
        assert_eq!(next_target("/v3/trades/X"), "/v3/trades/X");
    }
}
