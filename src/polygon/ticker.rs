//! The grammar of the tickers Polygon sends, checked where they enter.
//!
//! A ticker goes into log lines, alert ids, Discord embeds and the store, so
//! one that does not look like a ticker (a newline, a quote, a space, a
//! megabyte of text) is a data error of the response that carried it, never
//! a value passed on.

use serde::Deserializer;

use super::models::optional_str;

/// Longest stock or index ticker accepted (Polygon's are at most 10
/// characters after an `I:`/`X:` prefix; a little room for new ones).
const MAX_STOCK_CHARS: usize = 16;
/// Longest option ticker accepted after `O:` (an OCC symbol has at most 21).
const MAX_OPTION_CHARS: usize = 32;

/// `O:` + at most 32 upper-case letters, digits and
/// `.`: the characters of an OCC symbol (`O:SPY251121C00670000`). Its
/// structure (root, expiry, type, strike) is not required: the scan reads
/// those from the contract's details, never from the ticker, so the check
/// is about what may travel on, not about what the ticker means.
pub fn is_option_ticker(t: &str) -> bool {
    let Some(rest) = t.strip_prefix("O:") else { return false };
    let b = rest.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_OPTION_CHARS
        && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'.')
}

/// A stock or index ticker: an optional `I:` prefix, then upper-case
/// letters, digits and `.` (`BRK.B`), starting with a letter or digit.
pub fn is_stock_ticker(t: &str) -> bool {
    let body = t.strip_prefix("I:").unwrap_or(t);
    let b = body.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_STOCK_CHARS
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'.')
}

/// An optional option ticker that must follow [`is_option_ticker`].
pub(crate) fn option_ticker<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_str(d, "an option ticker", |v| checked(v, is_option_ticker(v), "option"))
}

/// An optional stock ticker that must follow [`is_stock_ticker`].
pub(crate) fn stock_ticker<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_str(d, "a stock ticker", |v| checked(v, is_stock_ticker(v), "stock"))
}

fn checked(v: &str, ok: bool, kind: &str) -> Result<Option<String>, String> {
    if ok {
        return Ok(Some(v.to_string()));
    }
    // Escaped and cut: the value is exactly what must not reach a log as is.
    let shown: String = v.chars().take(40).collect();
    Err(format!("invalid {kind} ticker {shown:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_tickers_use_only_the_characters_of_an_occ_symbol() {
        for good in ["O:SPY251121C00670000", "O:SPXW260320P05000000", "O:BRKB1251121C00670000", "O:X"] {
            assert!(is_option_ticker(good), "{good}");
        }
        for bad in [
            "O:SPY251121C00670000\nevent=forged",
            "SPY251121C00670000",
            "O:spy251121C00670000",
            "O:SPY\"251121C00670000",
            "O:SPY 251121C00670000",
            "O:SPY251121C00670000SPY251121C00670000",
            "O:",
            "",
        ] {
            assert!(!is_option_ticker(bad), "{bad:?}");
        }
    }

    #[test]
    fn stock_tickers_are_short_upper_case_words() {
        for good in ["SPY", "BRK.B", "I:SPX", "I:VIX", "A"] {
            assert!(is_stock_ticker(good), "{good}");
        }
        for bad in ["", "spy", "SPY\n", "SP Y", "I:", ".A", "A\"B", "ABCDEFGHIJKLMNOPQ"] {
            assert!(!is_stock_ticker(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_ticker_is_an_escaped_parse_error() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[serde(default, deserialize_with = "option_ticker")]
            #[allow(dead_code)]
            ticker: Option<String>,
        }
        let err = serde_json::from_str::<T>(r#"{"ticker":"O:X\nevent=forged"}"#).unwrap_err().to_string();
        assert!(err.contains(r#"invalid option ticker "O:X\nevent=forged""#), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert!(serde_json::from_str::<T>(r#"{"ticker":null}"#).is_ok());
    }
}
