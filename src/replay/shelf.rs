//! Where the replay finds a record's line again: blocks read back from the
//! tape (or the spill file) through a small cache, and the indexes of the
//! bars and trades records, which are looked up by ticker when asked for
//! rather than kept.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use chrono::{DateTime, Utc};

use super::feed::{Block, Loc, Source};
use crate::tape::{RawChain, ReplayPayload, ReplayRecord};

/// Inflated blocks kept for the next request: the chain being paged
/// through (the newest block stays whatever its size), and the bars and
/// trades blocks of the last lookups.
const CACHE_BYTES: usize = 2 << 20;

/// A fixed 64-bit hash (the same in every run) of what names a series or a
/// trades ticker.
pub(super) fn key_hash(key: &impl Hash) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// One bars record: the low half of its series' hash, its block (an index
/// into `blocks`) and where its line starts there. A lookup reads the lines
/// whose hash matches and checks the key itself. (Hundreds of thousands of
/// option series have a record or two each: an entry per series would cost
/// more than the records' 12 bytes.)
struct BarsRef {
    hash: u32,
    block: u32,
    start: u32,
}

/// One trades record: its block (an index into `blocks`), where its line
/// starts there, and its trades' `sip_timestamp` range. 24 bytes: a
/// 200-symbol day has ~100,000.
struct TradesRef {
    block: u32,
    start: u32,
    lo: i64,
    hi: i64,
}

pub(super) struct Shelf {
    tape: File,
    ahead: Prefetch,
    spill: Option<Arc<File>>,
    cache: VecDeque<(Block, Arc<String>)>,
    cached: usize,
    /// The blocks that hold bars and trades records, in tape order.
    blocks: Vec<Block>,
    bars: Vec<BarsRef>,
    /// Per ticker, in tape order: a trades request reads back the records
    /// that reach into its window.
    trades: HashMap<String, Vec<TradesRef>>,
    /// The chain index the prefetch thread made with the block it read
    /// last, until the market takes it.
    indexed: Option<(Block, Result<ChainIndex, String>)>,
}

impl Shelf {
    pub fn open(tape: &Path) -> std::io::Result<Shelf> {
        let file = File::open(tape)?;
        Ok(Shelf {
            ahead: Prefetch::start(file.try_clone()?),
            tape: file,
            spill: None,
            cache: VecDeque::new(),
            cached: 0,
            blocks: Vec::new(),
            bars: Vec::new(),
            trades: HashMap::new(),
            indexed: None,
        })
    }

    pub fn set_spill(&mut self, spill: Arc<File>) {
        self.spill = Some(spill);
    }

    /// `block`'s index in `blocks` (records come in tape order, so it is
    /// the last one or a new one).
    fn block_index(&mut self, block: Block) -> u32 {
        if self.blocks.last() != Some(&block) {
            self.blocks.push(block);
        }
        u32::try_from(self.blocks.len() - 1).unwrap_or(u32::MAX)
    }

    /// Indexes a bars record by its series' hash.
    pub fn note_bars(&mut self, loc: Loc, hash: u64) {
        let block = self.block_index(loc.block);
        self.bars.push(BarsRef { hash: hash as u32, block, start: loc.start });
    }

    /// The bars records whose series hashes to `hash`, in tape order.
    pub fn bars_of(&self, hash: u64) -> Vec<(Block, u32)> {
        let low = hash as u32;
        self.places(self.bars.iter().filter(|r| r.hash == low).map(|r| (r.block, r.start)))
    }

    /// Blocks (by index into `blocks`) and line starts as blocks and starts.
    fn places(&self, refs: impl Iterator<Item = (u32, u32)>) -> Vec<(Block, u32)> {
        refs.filter_map(|(block, start)| Some((*self.blocks.get(block as usize)?, start))).collect()
    }

    /// Indexes a trades record (`lo > hi`: it has no trades).
    pub fn note_trades(&mut self, ticker: &str, loc: Loc, lo: i64, hi: i64) {
        if lo <= hi {
            let place = TradesRef { block: self.block_index(loc.block), start: loc.start, lo, hi };
            match self.trades.get_mut(ticker) {
                Some(refs) => refs.push(place),
                None => {
                    self.trades.insert(ticker.to_string(), vec![place]);
                }
            }
        }
    }

    /// The trades records of `ticker` with trades in `[lo, hi]`, in tape
    /// order: their blocks and where their lines start.
    pub fn trades_of(&self, ticker: &str, lo: i64, hi: i64) -> Vec<(Block, u32)> {
        let refs = self.trades.get(ticker).map(Vec::as_slice).unwrap_or_default();
        self.places(refs.iter().filter(|r| r.lo <= hi && r.hi >= lo).map(|r| (r.block, r.start)))
    }

    /// Starts inflating a member that is likely to be asked for next (the
    /// chain the service asked for after this one last time), on the
    /// prefetch thread, while the service parses what it has.
    pub fn prefetch(&mut self, loc: Loc, index: bool) {
        let block = loc.block;
        if block.source == Source::TapeMember && !self.cache.iter().any(|(b, _)| *b == block) {
            // A member of one line inflates to about the line.
            self.ahead.ask(block, loc.len as usize, index);
        }
    }

    /// The chain index of `line`, the line of a chain record in `block`:
    /// the one the prefetch thread made when it read the block, else made
    /// here.
    pub fn chain_index(&mut self, block: Block, line: &str) -> Result<ChainIndex, String> {
        match self.indexed.take() {
            Some((b, index)) if b == block => index,
            _ => index_chain(line),
        }
    }

    /// A block's contents, read (and inflated) once while it stays cached.
    pub fn block(&mut self, block: Block) -> Result<Arc<String>, String> {
        if let Some(pos) = self.cache.iter().position(|(b, _)| *b == block) {
            let hit = self.cache.remove(pos).map(|(_, text)| text).unwrap_or_default();
            self.cache.push_back((block, hit.clone()));
            return Ok(hit);
        }
        // What the prefetch thread made of it, if it was asked to; a failed
        // prefetch is read here again, and fails here if it must.
        let text = match self.ahead.take(block) {
            Some((text, index)) => {
                self.indexed = index.map(|index| (block, index));
                Arc::new(text)
            }
            None => Arc::new(self.load(block)?),
        };
        self.cached += text.len();
        self.cache.push_back((block, text.clone()));
        while self.cached > CACHE_BYTES && self.cache.len() > 1 {
            if let Some((_, old)) = self.cache.pop_front() {
                self.cached -= old.len();
            }
        }
        Ok(text)
    }

    /// The line a record is on (without its newline).
    pub fn line(&mut self, loc: Loc) -> Result<(Arc<String>, std::ops::Range<usize>), String> {
        let text = self.block(loc.block)?;
        let start = loc.start as usize;
        let end = (start + loc.len as usize).min(text.len());
        let end = if text.as_bytes().get(end.wrapping_sub(1)) == Some(&b'\n') { end - 1 } else { end };
        if start > end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            return Err(format!("the line at byte {start} of a block is not where the tape had it"));
        }
        Ok((text, start..end))
    }

    /// The line that starts at `start` of a block (without its newline).
    pub fn line_at(&mut self, block: Block, start: u32) -> Result<(Arc<String>, std::ops::Range<usize>), String> {
        let text = self.block(block)?;
        let start = start as usize;
        let rest = text.as_bytes().get(start..).ok_or("a record beyond its block")?;
        let end = start + memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        if !text.is_char_boundary(start) {
            return Err(format!("the line at byte {start} of a block is not where the tape had it"));
        }
        Ok((text, start..end))
    }

    fn load(&self, block: Block) -> Result<String, String> {
        let file = match block.source {
            Source::TapeMember | Source::Tape => &self.tape,
            Source::Spill => self.spill.as_deref().ok_or("the spill file is not open")?,
        };
        load(file, block)
    }
}

/// Reads a block from `file` (a member of the tape, or a byte range of the
/// tape or the spill file) and inflates it if it is a member.
fn load(file: &File, block: Block) -> Result<String, String> {
    let len = usize::try_from(block.len).map_err(|_| "a block too large".to_string())?;
    let mut raw = vec![0u8; len];
    file.read_exact_at(&mut raw, block.offset).map_err(|e| format!("cannot read the tape again: {e}"))?;
    let bytes = match block.source {
        Source::TapeMember => {
            // The member's last four bytes are its inflated size (mod 2^32):
            // room for exactly that, no doubling.
            let size = raw.get(len.saturating_sub(4)..).and_then(|t| t.try_into().ok()).map(u32::from_le_bytes);
            let mut out = Vec::with_capacity(size.unwrap_or(0) as usize);
            flate2::read::GzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .map_err(|e| format!("cannot inflate the tape again: {e}"))?;
            out
        }
        Source::Tape | Source::Spill => raw,
    };
    String::from_utf8(bytes).map_err(|e| format!("the tape changed while replayed: {e}"))
}

/// A block read ahead: its text, and the chain index of its line when
/// that was asked for too.
struct Loaded {
    block: Block,
    /// What it was expected to weigh when asked for.
    size: usize,
    text: Result<String, String>,
    index: Option<Result<ChainIndex, String>>,
}

/// How many blocks the prefetch thread may hold or work on at once: the
/// next few chains of the walk. One was not enough: a small chain is
/// parsed sooner than the large one after it can be inflated and indexed.
pub(super) const PREFETCH_DEPTH: usize = 3;

/// And how much text they may come to: one large chain, or several small
/// ones.
const PREFETCH_BYTES: usize = 3 << 20;

/// A thread that inflates members ahead of being asked for (and indexes
/// the chain in them, if asked). Only the time it takes changes: what a
/// request gets is the member's text and the index made of it either way,
/// so a replay stays byte-identical whatever the thread's timing.
struct Prefetch {
    /// None if the thread could not start: everything is read in line.
    asks: Option<Sender<(Block, usize, bool)>>,
    done: Option<Receiver<Loaded>>,
    /// Asked for and not yet back with their expected sizes, in the order
    /// asked (the thread's order).
    pending: VecDeque<(Block, usize)>,
    /// Back and not yet taken, oldest first.
    ready: VecDeque<Loaded>,
    /// The expected sizes of `pending` and `ready`.
    held: usize,
}

impl Prefetch {
    fn start(tape: File) -> Prefetch {
        let (asks, inbox) = channel::<(Block, usize, bool)>();
        let (outbox, done) = channel();
        let spawned = std::thread::Builder::new().name("orakl-tape-prefetch".into()).spawn(move || {
            // Ends when the shelf (and with it `asks`) is dropped.
            for (block, size, index) in inbox {
                let text = load(&tape, block);
                let index = match (&text, index) {
                    (Ok(text), true) => Some(index_chain(text.strip_suffix('\n').unwrap_or(text))),
                    _ => None,
                };
                if outbox.send(Loaded { block, size, text, index }).is_err() {
                    return;
                }
            }
        });
        let (asks, done) = match spawned {
            Ok(_) => (Some(asks), Some(done)),
            Err(_) => (None, None),
        };
        Prefetch { asks, done, pending: VecDeque::new(), ready: VecDeque::new(), held: 0 }
    }

    fn ask(&mut self, block: Block, size: usize, index: bool) {
        self.collect(None);
        if self.pending.iter().any(|(b, _)| *b == block) || self.ready.iter().any(|l| l.block == block) {
            return;
        }
        // Guesses never taken make room for new ones.
        let full = |p: &Prefetch| p.pending.len() + p.ready.len() >= PREFETCH_DEPTH || p.held + size > PREFETCH_BYTES;
        while full(self) {
            let Some(old) = self.ready.pop_front() else { break };
            self.held -= old.size;
        }
        // One block is always let through, however large.
        if full(self) && !self.pending.is_empty() {
            return;
        }
        if let Some(asks) = &self.asks
            && asks.send((block, size, index)).is_ok()
        {
            self.pending.push_back((block, size));
            self.held += size;
        }
    }

    /// What the thread made of the block if it was asked for (waiting for
    /// it to finish). A failed read gives None: the caller reads it again.
    fn take(&mut self, block: Block) -> Option<(String, Option<Result<ChainIndex, String>>)> {
        if self.pending.iter().any(|(b, _)| *b == block) {
            self.collect(Some(block));
        }
        let at = self.ready.iter().position(|l| l.block == block)?;
        let loaded = self.ready.remove(at)?;
        self.held -= loaded.size;
        match loaded {
            Loaded { text: Ok(text), index, .. } => Some((text, index)),
            Loaded { text: Err(_), .. } => None,
        }
    }

    /// Moves what the thread has finished to `ready`, first waiting until
    /// `until` is among it, if given.
    fn collect(&mut self, until: Option<Block>) {
        let Some(done) = self.done.as_ref() else { return };
        while let Some(&(next, size)) = self.pending.front() {
            let got = if until.is_some_and(|b| self.pending.iter().any(|(p, _)| *p == b)) {
                done.recv().ok()
            } else {
                match done.try_recv() {
                    Ok(got) => Some(got),
                    Err(TryRecvError::Empty) => return,
                    Err(TryRecvError::Disconnected) => None,
                }
            };
            self.pending.pop_front();
            match got {
                Some(loaded) => {
                    debug_assert_eq!(loaded.block, next);
                    self.ready.push_back(loaded);
                }
                // The thread is gone: nothing more will come.
                None => {
                    self.held -= size;
                    self.held -= self.pending.drain(..).map(|(_, s)| s).sum::<usize>();
                }
            }
        }
    }
}

/// A chain record's contract index, with what the line says it is.
pub(super) struct ChainIndex {
    pub at: DateTime<Utc>,
    pub underlying: String,
    pub contracts: RawChain,
}

/// Reads a chain record's `line` into its index.
pub(super) fn index_chain(line: &str) -> Result<ChainIndex, String> {
    match ReplayRecord::parse(line).map_err(|e| format!("bad record: {e}"))? {
        ReplayRecord { at, payload: ReplayPayload::OptionChain { underlying, results } } => {
            Ok(ChainIndex { at, underlying, contracts: results })
        }
        ReplayRecord { payload: ReplayPayload::Other(p), .. } => {
            Err(format!("a {} record where the tape's label said a chain", p.endpoint()))
        }
    }
}
