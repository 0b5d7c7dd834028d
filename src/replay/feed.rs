//! The replay's reader thread: reads the tape once, in order, and hands
//! each record over with where its line is ([`Loc`]), so that the market
//! can keep an index instead of the data and read a line again when a
//! request needs it.
//!
//! Where a line can be found again:
//!
//! - a `.gz` tape written by orakl is a series of gzip members of whole
//!   lines ([`crate::tape::TapeWriter`]): the member's offset in the file
//!   and the line's place in what it inflates to. A chain record's member
//!   says in its header what it holds ([`ChainLabel`]), and is stepped
//!   over, not inflated: its line is read, and its JSON checked, when the
//!   chain is first asked for;
//! - a plain tape: the line's offset in the file;
//! - any other gzip (one member for the whole day, say, or members that
//!   split lines): there is no cheap way back, so the lines of such members
//!   are copied into a spill file that was unlinked as soon as it was
//!   created (nothing is left behind, even after a kill), and found there.
//!
//! Records go out a block at a time, once the block they are in is
//! complete: a member when it ends, in a plain file or the spill file up to
//! [`BLOCK_BYTES`] of lines (a longer line alone).

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};

use chrono::{DateTime, Utc};

use super::prints::Arriving;
use crate::polygon::{Bar, OptionSnapshot, TickerSnapshot};
use crate::tape::{
    BLOCK_BYTES, ChainLabel, Header, Payload, RawChain, RawContract, ReplayPayload, ReplayRecord, TapeError, is_gzip,
};

/// What the records read ahead of the simulated time may weigh in memory
/// (roughly: their models and chain indexes). Ahead is what lets the reader
/// work while the service does. On an orakl `.gz` tape a chain weighs
/// next to nothing (its member is stepped over), and what is ahead is
/// mostly bars: 1 MiB kept the 200-symbol day as fast as 4 MiB, ~5 MB
/// smaller.
pub(super) const READ_AHEAD_BYTES: usize = 1 << 20;

/// The same once the reader has read a chain's line itself (a plain tape,
/// another tool's gzip, an orakl tape from before chain labels): chains
/// then carry their indexes, and a burst of them recorded at one instant
/// (~3 MB for 200 symbols) must fit, or the reader and the service take
/// turns through it (28.8 s instead of ~25 s for the 200-symbol day).
const INDEXED_READ_AHEAD_BYTES: usize = 4 << 20;

/// Enough of a member's first bytes to hold any label orakl writes (its
/// underlying is at most 255 bytes).
const LABEL_HEAD: usize = 512;

/// A member larger than this with more than one line is not a block of an
/// orakl tape: its lines go to the spill file.
const MEMBER_MAX: u64 = 1 << 20;

/// The file a block is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Source {
    /// A gzip member of the tape: inflate it.
    TapeMember,
    /// A byte range of a plain tape.
    Tape,
    /// A byte range of the spill file.
    Spill,
}

/// A block: what is read back in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Block {
    pub source: Source,
    pub offset: u64,
    /// Bytes in the file (compressed, for a member).
    pub len: u32,
}

/// Where a record's line is: `len` bytes at `start` of its block's
/// contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Loc {
    pub block: Block,
    pub start: u32,
    pub len: u32,
}

/// A record as the market takes it: what it keeps in memory, with where
/// the rest is.
pub(super) struct Arrival {
    pub at: DateTime<Utc>,
    /// The record's line number, which also names a chain snapshot.
    pub line: usize,
    pub loc: Loc,
    pub what: What,
}

pub(super) enum What {
    /// A chain's contracts located in the line, with their expirations;
    /// None when the reader stepped over a labelled member (the line is
    /// indexed when the chain is first asked for).
    Chain {
        underlying: String,
        contracts: Option<RawChain>,
    },
    Contract {
        underlying: String,
        contract: String,
        snapshot: Box<OptionSnapshot>,
    },
    Stock {
        ticker: String,
        snapshot: Box<TickerSnapshot>,
    },
    /// The bars themselves: kept when the series is being asked for.
    Bars {
        ticker: String,
        multiplier: u32,
        timespan: String,
        bars: Vec<Bar>,
    },
    /// Only the range of `sip_timestamp`s: trades are read back when asked
    /// for (`lo > hi` when the record has none).
    Trades {
        ticker: String,
        lo: i64,
        hi: i64,
    },
    /// Unusual trades and quotes are few: kept whole, as the JSON the
    /// replay answers with ([`super::prints`]).
    Unusual {
        prints: Vec<Arriving>,
    },
    Quotes {
        ticker: String,
        quotes: Vec<Arriving>,
    },
}

impl What {
    fn of(payload: ReplayPayload) -> What {
        match payload {
            ReplayPayload::OptionChain { underlying, results } => What::Chain { underlying, contracts: Some(results) },
            ReplayPayload::Other(Payload::OptionChain { underlying, .. }) => {
                // Not produced by `ReplayRecord`; an empty chain if it were.
                What::Chain { underlying, contracts: Some(RawChain::default()) }
            }
            ReplayPayload::Other(Payload::OptionContract { underlying, contract, results }) => {
                What::Contract { underlying, contract, snapshot: results }
            }
            ReplayPayload::Other(Payload::StockSnapshot { ticker, results }) => {
                What::Stock { ticker, snapshot: results }
            }
            ReplayPayload::Other(Payload::Aggs { ticker, multiplier, timespan, results }) => {
                What::Bars { ticker, multiplier, timespan, bars: results }
            }
            ReplayPayload::Other(Payload::Trades { ticker, results }) => {
                let lo = results.iter().map(|t| t.sip_timestamp).min().unwrap_or(i64::MAX);
                let hi = results.iter().map(|t| t.sip_timestamp).max().unwrap_or(i64::MIN);
                What::Trades { ticker, lo, hi }
            }
            ReplayPayload::Other(Payload::UnusualTrades { results }) => {
                What::Unusual { prints: results.iter().map(Arriving::print).collect() }
            }
            ReplayPayload::Other(Payload::Quotes { ticker, results }) => {
                What::Quotes { ticker, quotes: results.iter().map(Arriving::quote).collect() }
            }
        }
    }
}

pub(super) enum Feed {
    Header(Header),
    /// The spill file, sent before the first record that is in it.
    Spill(Arc<File>),
    /// The records of one block, in tape order (one message per block, not
    /// per record), and their weight against [`READ_AHEAD_BYTES`].
    Records(Vec<Arrival>, usize),
    Failed(TapeError),
    End,
}

/// The records in flight between the threads, against
/// the read-ahead limit: the reader waits while over it, the market gives
/// back what it takes, and closes it when it goes (the reader then stops).
#[derive(Default)]
pub(super) struct Budget {
    /// Bytes in flight, and whether the market is gone.
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl Budget {
    /// Waits for room for `weight` under `limit` (always granted when
    /// nothing is in flight); false once the market is gone.
    fn take(&self, weight: usize, limit: usize) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while !state.1 && state.0 > 0 && state.0 + weight > limit {
            state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.0 += weight;
        !state.1
    }

    pub fn give_back(&self, weight: usize) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 = state.0.saturating_sub(weight);
        self.freed.notify_all();
    }

    pub fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.freed.notify_all();
    }
}

/// Roughly what an arrival holds in memory.
fn weight(a: &Arrival) -> usize {
    use std::mem::size_of;
    size_of::<Arrival>()
        + match &a.what {
            What::Chain { underlying, contracts } => {
                underlying.len() + contracts.as_ref().map_or(0, RawChain::len) * size_of::<RawContract>()
            }
            What::Contract { .. } => size_of::<OptionSnapshot>() + 64,
            What::Stock { .. } => size_of::<TickerSnapshot>() + 64,
            What::Bars { ticker, timespan, bars, .. } => ticker.len() + timespan.len() + bars.len() * size_of::<Bar>(),
            What::Trades { ticker, .. } => ticker.len(),
            What::Unusual { prints } => {
                prints.iter().map(|p| size_of::<Arriving>() + p.ticker.len() + p.json.len()).sum()
            }
            What::Quotes { ticker, quotes } => {
                ticker.len() + quotes.iter().map(|q| size_of::<Arriving>() + q.json.len()).sum::<usize>()
            }
        }
}

/// Runs on the reader thread until the tape ends, a line is bad, or the
/// market is dropped (a send fails).
pub(super) fn read_tape(path: &Path, tx: &Sender<Feed>, budget: &Budget) {
    let mut reader = Reader::new(path, tx, budget);
    let outcome = match File::open(path) {
        Err(e) => Err(reader.file_err(e.to_string())),
        Ok(file) if is_gzip(path) => reader.read_members(file),
        Ok(file) => reader.read_plain(file),
    };
    let last = match outcome {
        Ok(()) if reader.header.is_none() => {
            Feed::Failed(reader.line_err("empty tape: the first line must be the header".into()))
        }
        Ok(()) => Feed::End,
        Err(Stop::Failed(e)) => Feed::Failed(e),
        Err(Stop::Gone) => return,
    };
    let _ = tx.send(last);
}

/// Why reading stopped early.
enum Stop {
    Failed(TapeError),
    /// The market was dropped.
    Gone,
}

/// A record read, waiting for its block to be complete.
struct Pending {
    at: DateTime<Utc>,
    line: usize,
    start: u64,
    len: u64,
    what: What,
}

/// Lines gathered into one block of a plain file (the tape or the spill).
struct Gathering {
    source: Source,
    offset: u64,
    len: u64,
    pending: Vec<Pending>,
}

struct Reader<'a> {
    path: PathBuf,
    tx: &'a Sender<Feed>,
    budget: &'a Budget,
    /// [`READ_AHEAD_BYTES`], or [`INDEXED_READ_AHEAD_BYTES`] once a chain
    /// came with its index.
    ahead_limit: Cell<usize>,
    header: Option<Header>,
    /// The span the header states (`first_at`, `last_at`), when it does.
    stated: Option<(DateTime<Utc>, DateTime<Utc>)>,
    line: usize,
    last_at: Option<DateTime<Utc>>,
    buf: Vec<u8>,
    spill: Option<(Arc<File>, u64)>,
    spilled: Option<Gathering>,
}

impl<'a> Reader<'a> {
    fn new(path: &Path, tx: &'a Sender<Feed>, budget: &'a Budget) -> Reader<'a> {
        Reader {
            path: path.to_path_buf(),
            tx,
            budget,
            ahead_limit: Cell::new(READ_AHEAD_BYTES),
            header: None,
            stated: None,
            line: 0,
            last_at: None,
            buf: Vec::with_capacity(1 << 16),
            spill: None,
            spilled: None,
        }
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    fn file_err(&self, message: String) -> Stop {
        Stop::Failed(TapeError::File { path: self.shown(), message })
    }

    fn line_err(&self, message: String) -> TapeError {
        TapeError::Line { path: self.shown(), line: self.line, message }
    }

    fn send(&self, feed: Feed) -> Result<(), Stop> {
        self.tx.send(feed).map_err(|_| Stop::Gone)
    }

    /// Reads the line in `buf` (numbered `self.line`): the header first,
    /// then records. None for the header and blank lines.
    fn parse(&mut self) -> Result<Option<(DateTime<Utc>, What)>, Stop> {
        let text =
            std::str::from_utf8(&self.buf).map_err(|e| Stop::Failed(self.line_err(format!("not UTF-8: {e}"))))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        if self.header.is_none() {
            let header = Header::parse(text).map_err(|m| Stop::Failed(self.line_err(m)))?;
            self.send(Feed::Header(header.clone()))?;
            self.stated = header.contents().map(|c| (c.first_at, c.last_at));
            self.header = Some(header);
            return Ok(None);
        }
        let rec = ReplayRecord::parse(text).map_err(|e| Stop::Failed(self.line_err(format!("bad record: {e}"))))?;
        self.in_order(rec.at)?;
        Ok(Some((rec.at, What::of(rec.payload))))
    }

    /// Takes the time of the record on `self.line`: records come in `at`
    /// order, within the span the header states. A replay of a tape whose
    /// header states its span runs over that span, so a record that jumped
    /// past its end would never be reached, and the records after it (in
    /// order again) never applied: the replay would end early and clean.
    fn in_order(&mut self, at: DateTime<Utc>) -> Result<(), Stop> {
        if self.last_at.is_some_and(|last| at < last) {
            let message = format!("record at {} is earlier than the one before it", at.to_rfc3339());
            return Err(Stop::Failed(self.line_err(message)));
        }
        if let Some((first, last)) = self.stated.filter(|(first, last)| at < *first || at > *last) {
            let message = format!(
                "record at {} is outside the span the header states ({} to {})",
                at.to_rfc3339(),
                first.to_rfc3339(),
                last.to_rfc3339()
            );
            return Err(Stop::Failed(self.line_err(message)));
        }
        self.last_at = Some(at);
        Ok(())
    }

    /// Reads and parses the next line: None at the end, else its length and
    /// its record (None for the header and blank lines).
    fn next_line(&mut self, input: &mut impl BufRead) -> Result<Option<(u64, Option<Pending>)>, Stop> {
        let n = self.read_line(input)?;
        if n == 0 {
            return Ok(None);
        }
        self.check_len(n)?;
        let record = self.parse()?.map(|(at, what)| Pending { at, line: self.line, start: 0, len: n, what });
        Ok(Some((n, record)))
    }

    fn read_line(&mut self, input: &mut impl BufRead) -> Result<u64, Stop> {
        self.buf.clear();
        let n = input
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| Stop::Failed(self.line_err(format!("cannot read: {e}"))))?;
        if n > 0 {
            self.line += 1;
        }
        Ok(n as u64)
    }

    fn release(&self, block: Block, pending: Vec<Pending>) -> Result<(), Stop> {
        if pending.is_empty() {
            return Ok(());
        }
        let records: Vec<Arrival> = pending
            .into_iter()
            .map(|p| {
                // A block is at most MEMBER_MAX or one line, and a line over
                // 4 GiB is refused when it is read: both fit.
                let loc = Loc { block, start: p.start as u32, len: p.len as u32 };
                Arrival { at: p.at, line: p.line, loc, what: p.what }
            })
            .collect();
        if records.iter().any(|r| matches!(r.what, What::Chain { contracts: Some(_), .. })) {
            self.ahead_limit.set(INDEXED_READ_AHEAD_BYTES);
        }
        let weight = records.iter().map(weight).sum();
        if !self.budget.take(weight, self.ahead_limit.get()) {
            return Err(Stop::Gone);
        }
        self.send(Feed::Records(records, weight))
    }

    /// A block is at most [`MEMBER_MAX`] or one line, which `check_len`
    /// keeps under 4 GiB.
    fn block_len(&self, n: u64) -> Result<u32, Stop> {
        u32::try_from(n).map_err(|_| Stop::Failed(self.line_err("a block over 4 GiB".into())))
    }

    fn check_len(&self, n: u64) -> Result<(), Stop> {
        if n > u64::from(u32::MAX) {
            return Err(Stop::Failed(self.line_err("a line over 4 GiB".into())));
        }
        Ok(())
    }

    // -- a plain tape ------------------------------------------------------

    fn read_plain(&mut self, file: File) -> Result<(), Stop> {
        let mut input = BufReader::with_capacity(1 << 16, file);
        let mut block = Gathering::new(Source::Tape, 0);
        loop {
            let (n, record) = match self.next_line(&mut input) {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(stop) => {
                    // The records before the bad line still count.
                    self.close(block)?;
                    return Err(stop);
                }
            };
            block = self.gather(block, n, record)?;
        }
        self.close(block)
    }

    /// Adds a line of `n` bytes (and its record, if any) to `block`,
    /// closing the block first when the line would make it too long;
    /// returns the block to go on with.
    fn gather(&self, mut block: Gathering, n: u64, record: Option<Pending>) -> Result<Gathering, Stop> {
        if block.len > 0 && block.len + n > BLOCK_BYTES as u64 {
            let next = Gathering::new(block.source, block.offset + block.len);
            self.close(std::mem::replace(&mut block, next))?;
        }
        if let Some(mut p) = record {
            p.start = block.len;
            block.pending.push(p);
        }
        block.len += n;
        Ok(block)
    }

    fn close(&self, block: Gathering) -> Result<(), Stop> {
        let b = Block { source: block.source, offset: block.offset, len: self.block_len(block.len)? };
        self.release(b, block.pending)
    }

    // -- a gzip tape -------------------------------------------------------

    fn read_members(&mut self, file: File) -> Result<(), Stop> {
        let len = file.metadata().map_err(|e| self.file_err(e.to_string()))?.len();
        let mut input = BufReader::with_capacity(1 << 16, Counted { inner: file, read: 0, len });
        let mut open_line = false;
        loop {
            let start = input.get_ref().read - input.buffer().len() as u64;
            let more = input.fill_buf().map_err(|e| Stop::Failed(self.line_err(format!("cannot read: {e}"))))?;
            if more.is_empty() {
                break;
            }
            if open_line {
                return Err(Stop::Failed(self.line_err(
                    "the line goes on in the next gzip member; replay the tape decompressed (gunzip) instead".into(),
                )));
            }
            // Records (not the header) may be labelled chains; a label cut
            // by the end of the buffer is read from the file.
            let label = match self.header.is_some().then(|| ChainLabel::read(more)) {
                Some(None) if more.len() < LABEL_HEAD => {
                    let mut head = [0u8; LABEL_HEAD];
                    let n = input.get_ref().inner.read_at(&mut head, start).unwrap_or(0);
                    ChainLabel::read(&head[..n])
                }
                label => label.flatten(),
            };
            if let Some(label) = label {
                self.step_over(&mut input, start, label)?;
                continue;
            }
            let member = self.read_member(&mut input)?;
            open_line = member.open_line;
            if let Some(pending) = member.pending {
                let end = input.get_ref().read - input.buffer().len() as u64;
                let len = self.block_len(end - start)?;
                self.release(Block { source: Source::TapeMember, offset: start, len }, pending)?;
            }
        }
        match self.spilled.take() {
            Some(block) => self.close(block),
            None => Ok(()),
        }
    }

    /// Passes a labelled chain member (at `start` of the file) without
    /// inflating it: the label says what the market needs until the chain
    /// is asked for. A label that does not fit the file stops the replay
    /// here; one that lies about the line is found when the line is read.
    fn step_over(&mut self, input: &mut BufReader<Counted>, start: u64, label: ChainLabel) -> Result<(), Stop> {
        self.line += 1;
        let end = start + u64::from(label.member_len);
        if end > input.get_ref().len {
            return Err(Stop::Failed(self.line_err(format!(
                "the gzip member at byte {start} says it is {} bytes long; the tape is cut short or damaged",
                label.member_len
            ))));
        }
        self.in_order(label.at)?;
        input
            .seek_relative(i64::from(label.member_len))
            .map_err(|e| Stop::Failed(self.line_err(format!("cannot read: {e}"))))?;
        let what = What::Chain { underlying: label.underlying, contracts: None };
        let record = Pending { at: label.at, line: self.line, start: 0, len: u64::from(label.line_len), what };
        let block = Block { source: Source::TapeMember, offset: start, len: label.member_len };
        self.release(block, vec![record])
    }

    /// Reads one member's lines. Its records wait for the member's end,
    /// when its length is known; a member that turns out not to be a block
    /// (too long, or a line that does not end in it) goes to the spill file
    /// instead, and `pending` is None.
    fn read_member(&mut self, input: &mut impl BufRead) -> Result<Member, Stop> {
        let mut member = BufReader::with_capacity(1 << 16, flate2::bufread::GzDecoder::new(input));
        // The member's lines so far with their records, kept while they may
        // still have to be spilled (a chain's line is moved, not copied).
        let mut lines: Vec<(Vec<u8>, Option<Pending>)> = Vec::new();
        let mut size = 0u64;
        let mut spilling = false;
        let mut open_line = false;
        loop {
            let (n, record) = match self.next_line(&mut member) {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(stop) => {
                    // The records before the bad line still count; their
                    // member cannot be read back whole, so they are spilled.
                    for (text, record) in std::mem::take(&mut lines) {
                        self.spill_line(&text, record)?;
                    }
                    if let Some(block) = self.spilled.take() {
                        self.close(block)?;
                    }
                    return Err(stop);
                }
            };
            open_line = self.buf.last() != Some(&b'\n');
            if !spilling && !lines.is_empty() && size + n > MEMBER_MAX {
                spilling = true;
                for (text, record) in std::mem::take(&mut lines) {
                    self.spill_line(&text, record)?;
                }
            }
            let text = if n as usize >= BLOCK_BYTES { std::mem::take(&mut self.buf) } else { self.buf.clone() };
            if spilling {
                self.spill_line(&text, record)?;
            } else {
                lines.push((text, record));
                size += n;
            }
        }
        let pending = (!spilling).then(|| {
            let mut start = 0u64;
            let mut out = Vec::with_capacity(lines.len());
            for (text, record) in lines {
                if let Some(mut p) = record {
                    p.start = start;
                    out.push(p);
                }
                start += text.len() as u64;
            }
            out
        });
        Ok(Member { pending, open_line })
    }

    /// Appends one line to the spill file, with its record if it has one.
    fn spill_line(&mut self, text: &[u8], record: Option<Pending>) -> Result<(), Stop> {
        if self.spill.is_none() {
            // Unlinked from the start: it lives as long as the open handles,
            // and a killed replay leaves nothing on the disk.
            let file = tempfile::tempfile().map_err(|e| self.file_err(format!("cannot create a spill file: {e}")))?;
            let file = Arc::new(file);
            self.send(Feed::Spill(file.clone()))?;
            self.spill = Some((file, 0));
            self.spilled = Some(Gathering::new(Source::Spill, 0));
        }
        let Some((file, end)) = self.spill.as_mut() else { return Err(Stop::Gone) };
        let written = file.write_all_at(text, *end);
        *end += text.len() as u64;
        written.map_err(|e| self.file_err(format!("cannot write the spill file: {e}")))?;
        let block = self.spilled.take().ok_or(Stop::Gone)?;
        self.spilled = Some(self.gather(block, text.len() as u64, record)?);
        Ok(())
    }
}

/// What [`Reader::read_member`] read.
struct Member {
    pending: Option<Vec<Pending>>,
    /// The last line did not end in a newline.
    open_line: bool,
}

impl Gathering {
    fn new(source: Source, offset: u64) -> Gathering {
        Gathering { source, offset, len: 0, pending: Vec::new() }
    }
}

/// Counts the bytes read from the file, so that a member's offset is known.
struct Counted {
    inner: File,
    /// The position in the file.
    read: u64,
    /// The file's length when opened.
    len: u64,
}

impl Seek for Counted {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.read = self.inner.seek(pos)?;
        Ok(self.read)
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}
