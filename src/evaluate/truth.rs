//! The truth file `orakl simulate --truth` writes: one JSON object a line,
//! each an injected event (or a near-miss) with the families expected to
//! alert on it. Only the fields the scorecard needs are read; others (the
//! event's `after`, fields a later simulator adds) are ignored, so the file
//! is a contract on these names alone.

use std::io::BufRead;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::job::Bot;

/// One line of a truth file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TruthLine {
    pub id: String,
    /// When the market showed the event (the chain, bar or print that
    /// carries it); alerts are looked for from here on.
    pub at: DateTime<Utc>,
    pub kind: String,
    /// The underlying (or the stock).
    pub symbol: String,
    /// The option contract, for option events.
    #[serde(default)]
    pub contract: Option<String>,
    /// The families that must alert on it.
    #[serde(default)]
    pub expected_bots: Vec<Bot>,
    /// Built to narrowly miss `near_miss_bots`, and it does.
    #[serde(default)]
    pub near_miss: bool,
    #[serde(default)]
    pub near_miss_bots: Vec<Bot>,
    #[serde(default)]
    pub why: String,
    /// The first print of an injected option trade, when the event has
    /// prints (the prints lane's latency is measured from it).
    #[serde(default)]
    pub prints_at: Option<DateTime<Utc>>,
}

/// A truth file that cannot be read, or a line that is not a truth line.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}:{line}: {message}")]
    Line { path: String, line: usize, message: String },
}

/// Reads every line of the truth file at `path`; blank lines are skipped.
/// The first line that is not a truth line stops the read with its
/// `FILE:LINE`.
pub fn read_truth(path: &Path) -> Result<Vec<TruthLine>, TruthError> {
    let shown = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| TruthError::File { path: shown.clone(), message: e.to_string() })?;
    parse_truth(&shown, std::io::BufReader::new(file))
}

/// [`read_truth`] on any reader; `shown` names it in errors.
pub fn parse_truth(shown: &str, input: impl BufRead) -> Result<Vec<TruthLine>, TruthError> {
    let mut lines = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let line = i + 1;
        let at = |message: String| TruthError::Line { path: shown.to_string(), line, message };
        let text = text.map_err(|e| at(e.to_string()))?;
        if text.trim().is_empty() {
            continue;
        }
        let truth: TruthLine = serde_json::from_str(&text).map_err(|e| at(format!("not a truth line ({e})")))?;
        lines.push(truth);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_and_a_bad_one_is_named_by_file_and_line() {
        let good = r#"{"id":"e01","at":"2026-03-09T15:00:00Z","kind":"sweep","symbol":"SPY","contract":"O:SPY260313C00600000","expected_bots":["sweeps","orakl_flow"],"near_miss":false,"why":"x","after":{"entry":1.0}}"#;
        let near = r#"{"id":"e02","at":"2026-03-09T15:10:00Z","kind":"darkpool","symbol":"CSCO","expected_bots":[],"near_miss":true,"near_miss_bots":["darkpool"],"why":"y"}"#;
        let read = parse_truth("t.jsonl", format!("{good}\n\n{near}\n").as_bytes()).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].expected_bots, [Bot::Sweeps, Bot::OraklFlow]);
        assert_eq!(read[0].contract.as_deref(), Some("O:SPY260313C00600000"));
        assert_eq!(
            (read[1].near_miss, read[1].near_miss_bots.as_slice(), read[1].contract.as_deref()),
            (true, &[Bot::Darkpool][..], None)
        );

        for (text, want) in [
            (format!("{good}\n{{\"id\":\"e03\"}}\n"), "t.jsonl:2: not a truth line (missing field `at`"),
            (
                format!("\n\n{}\n", good.replace("orakl_flow", "orakl_flo")),
                "t.jsonl:3: not a truth line (unknown variant `orakl_flo`",
            ),
            ("not json\n".to_string(), "t.jsonl:1: not a truth line"),
        ] {
            let err = parse_truth("t.jsonl", text.as_bytes()).unwrap_err().to_string();
            assert!(err.starts_with(want), "expected `{want}` in {err}");
        }
    }
}
