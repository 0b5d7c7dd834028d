//! Where the replay finds a record's line again: blocks read back from the
//! tape (or the spill file) through a small cache, and an index of the
//! bars and trades records, which are looked up by ticker when asked for
//! rather than kept.

use std::collections::VecDeque;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::feed::{Block, Loc, Source};

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

/// The bars and trades records of one block: for each, the low half of its
/// key's hash and where its line starts. A lookup reads the lines whose
/// hash matches and checks the key itself.
struct Indexed {
    block: Block,
    records: Vec<(u32, u32)>,
    /// The range of the block's trades' `sip_timestamp`s (lo > hi: none).
    sip: (i64, i64),
}

pub(super) struct Shelf {
    tape: File,
    spill: Option<Arc<File>>,
    cache: VecDeque<(Block, Arc<String>)>,
    cached: usize,
    index: Vec<Indexed>,
}

impl Shelf {
    pub fn open(tape: &Path) -> std::io::Result<Shelf> {
        Ok(Shelf { tape: File::open(tape)?, spill: None, cache: VecDeque::new(), cached: 0, index: Vec::new() })
    }

    pub fn set_spill(&mut self, spill: Arc<File>) {
        self.spill = Some(spill);
    }

    /// Indexes a bars or trades record (`sip`: its trades' range).
    pub fn note(&mut self, loc: Loc, hash: u64, sip: Option<(i64, i64)>) {
        if self.index.last().is_none_or(|i| i.block != loc.block) {
            self.index.push(Indexed { block: loc.block, records: Vec::new(), sip: (i64::MAX, i64::MIN) });
        }
        if let Some(last) = self.index.last_mut() {
            last.records.push((hash as u32, loc.start));
            if let Some((lo, hi)) = sip {
                last.sip = (last.sip.0.min(lo), last.sip.1.max(hi));
            }
        }
    }

    /// The indexed records whose key hashes to `hash`, in tape order; with
    /// `sip`, only in blocks whose trades reach into that window.
    pub fn lookup(&self, hash: u64, sip: Option<(i64, i64)>) -> Vec<(Block, u32)> {
        let low = hash as u32;
        self.index
            .iter()
            .filter(|i| sip.is_none_or(|(lo, hi)| i.sip.0 <= hi && i.sip.1 >= lo))
            .flat_map(|i| i.records.iter().filter(|(h, _)| *h == low).map(|(_, start)| (i.block, *start)))
            .collect()
    }

    /// A block's contents, read (and inflated) once while it stays cached.
    pub fn block(&mut self, block: Block) -> Result<Arc<String>, String> {
        if let Some(pos) = self.cache.iter().position(|(b, _)| *b == block) {
            let hit = self.cache.remove(pos).map(|(_, text)| text).unwrap_or_default();
            self.cache.push_back((block, hit.clone()));
            return Ok(hit);
        }
        let text = Arc::new(self.load(block)?);
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
        let len = usize::try_from(block.len).map_err(|_| "a block too large".to_string())?;
        let mut raw = vec![0u8; len];
        file.read_exact_at(&mut raw, block.offset).map_err(|e| format!("cannot read the tape again: {e}"))?;
        let bytes = match block.source {
            Source::TapeMember => {
                // The member's last four bytes are its inflated size (mod
                // 2^32): room for exactly that, no doubling.
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
}
