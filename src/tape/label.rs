//! The label an orakl tape puts in the gzip header of a chain record's own
//! member: the record's time and underlying, and the lengths of the member
//! and of the line. Chains are nearly all of a tape's bytes (97% of a
//! simulated day), and a replay asks for each at most a few times, so its
//! reader steps over a labelled member without inflating it and leaves the
//! line to be read when it is asked for.
//!
//! The label is an RFC 1952 extra field (`FEXTRA`) with one subfield, `Oc`;
//! gzip readers skip extra fields they do not know, so the tape is still
//! one ordinary gzip stream. A member without one is read as before.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::clock::unix_nanos;

/// The subfield's two-byte ID (`SI1`, `SI2`).
const ID: [u8; 2] = *b"Oc";
const LAYOUT: u8 = 1;
/// Bytes before the subfield's data: the fixed header (ID1 ID2 CM FLG
/// MTIME XFL OS, 10), `XLEN` (2), then `SI1 SI2 LEN` (4).
const DATA_AT: usize = 16;
/// The data before the underlying: layout (1), member length (4), line
/// length (4), time in Unix nanoseconds (8), underlying length (1).
const FIXED: usize = 18;
const FLG_FEXTRA: u8 = 0x04;

/// What a labelled member holds: one chain record's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLabel {
    pub at: DateTime<Utc>,
    pub underlying: String,
    /// The whole member in the file, header to trailer.
    pub member_len: u32,
    /// The line with its newline: what the member inflates to.
    pub line_len: u32,
}

impl ChainLabel {
    /// `line` (with its newline) as one gzip member labelled with `at` and
    /// `underlying`; None when they cannot be labelled (an underlying over
    /// 255 bytes, a time outside 1678–2262, a line or member over 4 GiB),
    /// and the caller writes an unlabelled member.
    pub fn member(at: DateTime<Utc>, underlying: &str, line: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
        let (Ok(name_len), Ok(line_len)) = (u8::try_from(underlying.len()), u32::try_from(line.len())) else {
            return Ok(None);
        };
        let at_ns = unix_nanos(at);
        if DateTime::from_timestamp_nanos(at_ns) != at {
            return Ok(None);
        }
        let mut data = Vec::with_capacity(FIXED + underlying.len());
        data.push(LAYOUT);
        data.extend_from_slice(&0u32.to_le_bytes()); // the member's length, set below
        data.extend_from_slice(&line_len.to_le_bytes());
        data.extend_from_slice(&at_ns.to_le_bytes());
        data.push(name_len);
        data.extend_from_slice(underlying.as_bytes());
        let mut extra = Vec::with_capacity(4 + data.len());
        extra.extend_from_slice(&ID);
        extra.extend_from_slice(&(data.len() as u16).to_le_bytes());
        extra.extend_from_slice(&data);
        let mut gz = flate2::GzBuilder::new().extra(extra).write(Vec::new(), flate2::Compression::default());
        gz.write_all(line)?;
        let mut member = gz.finish()?;
        let Ok(member_len) = u32::try_from(member.len()) else { return Ok(None) };
        // The header has no CRC (no FHCRC), so it can be patched.
        member[DATA_AT + 1..DATA_AT + 5].copy_from_slice(&member_len.to_le_bytes());
        debug_assert_eq!(ChainLabel::read(&member).map(|l| l.member_len), Some(member_len));
        Ok(Some(member))
    }

    /// The label at the start of `head` (the first bytes of a member), if
    /// the member has one and `head` holds all of it. Anything else (no
    /// label, another layout, a header cut short by the buffer) is None:
    /// the member is then read and inflated like any other.
    pub fn read(head: &[u8]) -> Option<ChainLabel> {
        let [0x1f, 0x8b, 0x08, flags, ..] = *head else { return None };
        if flags & FLG_FEXTRA == 0 {
            return None;
        }
        let xlen = usize::from(u16::from_le_bytes(head.get(10..12)?.try_into().ok()?));
        let mut fields = head.get(12..12 + xlen)?;
        while fields.len() >= 4 {
            let len = usize::from(u16::from_le_bytes([fields[2], fields[3]]));
            let data = fields.get(4..4 + len)?;
            if fields[..2] == ID {
                // A member holds at least its header, the data and the
                // 8-byte trailer; a line has at least its newline.
                let label = ChainLabel::parse(data)?;
                let least = 12 + xlen + 8;
                return (label.member_len as usize > least && label.line_len > 0).then_some(label);
            }
            fields = &fields[4 + len..];
        }
        None
    }

    fn parse(data: &[u8]) -> Option<ChainLabel> {
        if data.len() < FIXED || data[0] != LAYOUT {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let at_ns = i64::from_le_bytes(data[9..17].try_into().ok()?);
        let name = data.get(FIXED..FIXED + usize::from(data[17]))?;
        Some(ChainLabel {
            at: DateTime::from_timestamp_nanos(at_ns),
            underlying: String::from_utf8(name.to_vec()).ok()?,
            member_len: u32_at(1),
            line_len: u32_at(5),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_labelled_member_is_ordinary_gzip_and_its_label_reads_back() {
        let at: DateTime<Utc> = "2026-03-09T14:30:05.250Z".parse().unwrap();
        let line = format!("{{\"at\":\"2026-03-09T14:30:05.250Z\",\"results\":[{}]}}\n", "1,".repeat(500) + "1");
        let member = ChainLabel::member(at, "I:SPX", line.as_bytes()).unwrap().unwrap();
        let label = ChainLabel::read(&member).unwrap();
        assert_eq!(
            label,
            ChainLabel { at, underlying: "I:SPX".into(), member_len: member.len() as u32, line_len: line.len() as u32 }
        );
        // Any gzip reader sees the line, and only the line.
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(member.as_slice()).read_to_string(&mut text).unwrap();
        assert_eq!(text, line);
        // A header cut short anywhere (the reader's buffer ends), or one
        // without the subfield, has no label.
        for cut in 0..DATA_AT + FIXED + 5 {
            assert_eq!(ChainLabel::read(&member[..cut]), None, "cut at {cut}");
        }
        let mut plain = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        plain.write_all(line.as_bytes()).unwrap();
        assert_eq!(ChainLabel::read(&plain.finish().unwrap()), None);
        let other =
            flate2::GzBuilder::new().extra(b"Xy\x02\x00ab".to_vec()).write(Vec::new(), flate2::Compression::default());
        assert_eq!(ChainLabel::read(&other.finish().unwrap()), None);
    }

    #[test]
    fn what_cannot_be_labelled_is_not() {
        let at: DateTime<Utc> = "2026-03-09T14:30:05Z".parse().unwrap();
        assert_eq!(ChainLabel::member(at, &"X".repeat(256), b"{}\n").unwrap(), None);
        let far: DateTime<Utc> = "2300-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(ChainLabel::member(far, "SPY", b"{}\n").unwrap(), None);
    }
}
