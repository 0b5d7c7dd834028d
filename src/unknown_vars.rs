//! Misspelled settings (SPEC §10). systemd's `EnvironmentFile=` hands every
//! line to the process as a variable, so `SWEEPS_MIN_PREMUIM=60000` would
//! otherwise be silently ignored and the default used. A variable orakl does
//! not read is reported when it looks like one of orakl's: it starts with a
//! prefix orakl's names use, or it is one edit (a letter added, dropped,
//! changed, or two neighbours swapped) from a name orakl reads. Everything
//! else in the environment (`PATH`, `HOME`, ...) is none of its business.
//! `run` warns; `check` fails with exit 78.

use std::fmt;

/// The first words of orakl's variable names that nothing else is likely to
/// use: the product, its two services, the alert families and reports.
const PREFIXES: &[&str] = &[
    "ORAKL_",
    "POLYGON_",
    "DISCORD_",
    "SWEEPS_",
    "GOLDEN_",
    "BULLSEYE_",
    "SCALPS_",
    "DARKPOOL_",
    "BREAKOUT",
    "STRAT_",
    "OUTCOME_",
    "PERFORMANCE_",
    "REPORTS_",
    "WATCHLIST",
];

/// The longest suggestion still worth making: further than this, the name
/// is not a typo of the suggested one.
const MAX_SUGGESTION_EDITS: usize = 3;

/// A variable orakl does not read that looks like one of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub var: String,
    /// The closest name orakl reads, when it is close.
    pub did_you_mean: Option<&'static str>,
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let var = crate::echo::cap(&self.var);
        match self.did_you_mean {
            Some(name) => write!(f, "{var}: orakl reads no such variable; did you mean {name}?"),
            None => write!(f, "{var}: orakl reads no such variable (see the README's configuration section)"),
        }
    }
}

/// The variables among `names` that look like orakl's but are not in
/// `known`, in the order given.
pub fn find<'a>(names: impl IntoIterator<Item = &'a str>, known: &[&'static str]) -> Vec<Unknown> {
    let mut out = Vec::new();
    for var in names {
        if known.contains(&var) {
            continue;
        }
        let upper = var.to_ascii_uppercase();
        let closest = known.iter().map(|k| (distance(&upper, k), *k)).min();
        let one_edit = closest.is_some_and(|(d, _)| d <= 1);
        if !one_edit && !PREFIXES.iter().any(|p| upper.starts_with(p)) {
            continue;
        }
        let did_you_mean = closest.filter(|&(d, _)| d <= MAX_SUGGESTION_EDITS).map(|(_, k)| k);
        out.push(Unknown { var: var.to_string(), did_you_mean });
    }
    out
}

/// The edits (insert, delete, substitute, swap two neighbours) that turn
/// `a` into `b` (the optimal string alignment distance), counted in bytes:
/// variable names are ASCII, and anything else is far from all of them.
/// Past [`MAX_SUGGESTION_EDITS`] the exact number does not matter, so very
/// different lengths return early.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > MAX_SUGGESTION_EDITS {
        return MAX_SUGGESTION_EDITS + 1;
    }
    // Three rows of the dynamic-programming table: two back for a swap.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            row[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        // (a, b, edits), worked out by hand.
        let cases = [
            ("SWEEPS_MIN_PREMIUM", "SWEEPS_MIN_PREMIUM", 0),
            ("SWEEPS_MIN_PREMUIM", "SWEEPS_MIN_PREMIUM", 1), // U and I swapped
            ("SWEEPS_MIN_PREMIU", "SWEEPS_MIN_PREMIUM", 1),  // M dropped
            ("SWEEPS_MIN_PREMIUMS", "SWEEPS_MIN_PREMIUM", 1), // S added
            ("SWEEPS_MAX_PREMIUM", "SWEEPS_MIN_PREMIUM", 2), // A→I, X→N
            ("ABC", "CBA", 2),
            ("", "ABC", 3),
            ("A", "ABCDEFGH", 4), // capped: too far to matter
        ];
        for (a, b, want) in cases {
            assert_eq!(distance(a, b), want, "{a} → {b}");
            assert_eq!(distance(b, a), want, "{b} → {a}");
        }
    }

    #[test]
    fn finds_what_looks_like_ours() {
        let known = crate::config::known_vars();
        // (variable, reported, suggestion)
        let cases = [
            ("SWEEPS_MIN_PREMUIM", true, Some("SWEEPS_MIN_PREMIUM")),
            ("sweeps_min_premium", true, Some("SWEEPS_MIN_PREMIUM")),
            ("GOLDEN_SWEEP_WEBHOOK", true, Some("GOLDEN_SWEEPS_WEBHOOK")),
            ("MIN_PREMUIM", true, Some("MIN_PREMIUM")),
            ("WATCHLISTS", true, Some("WATCHLIST")),
            ("STATE_DB_PAHT", true, Some("STATE_DB_PATH")),
            ("POLYGON_SECRET", true, None),
            ("ORAKL_NEW_FEATURE", true, None),
            ("SWEEPS_MIN_PREMIUM", false, None),
            ("RUST_LOG", false, None),
            ("PATH", false, None),
            ("HOME", false, None),
            ("NOTIFY_SOCKET", false, None),
            ("CREDENTIALS_DIRECTORY", false, None),
            ("MAX_SPREAD", false, None),
        ];
        for (var, reported, suggestion) in cases {
            let got = find([var], &known);
            assert_eq!(got.len(), usize::from(reported), "{var}: {got:?}");
            if let Some(u) = got.first() {
                assert_eq!(u.did_you_mean, suggestion, "{var}");
            }
        }
    }

    #[test]
    fn every_webhook_is_under_a_prefix() {
        for b in crate::job::Bot::ALL {
            assert!(PREFIXES.iter().any(|p| b.webhook_var().starts_with(p)), "{}", b.webhook_var());
        }
    }
}
