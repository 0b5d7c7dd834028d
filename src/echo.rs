//! What an error message may echo of the user's input. Messages quote the
//! value that was wrong (`` `fast` is not a whole number``), and a value may
//! be anything: a 10 MB token pasted into a variable would be printed in
//! full, burying the message and filling the journal. Every error the
//! command line prints passes through [`cap`].

use std::borrow::Cow;

/// A word (a run without whitespace) longer than this is cut: longer than
/// any path, URL or name an error needs to show.
const MAX_WORD_CHARS: usize = 200;
/// How much of a cut word is kept.
const KEPT_WORD_CHARS: usize = 64;
/// A whole message longer than this is cut.
const MAX_MESSAGE_CHARS: usize = 4000;

/// `text` with each overlong word and the whole cut to their bounds; each
/// cut says how many bytes it dropped.
pub fn cap(text: &str) -> Cow<'_, str> {
    let long_word = text.split_whitespace().any(|w| w.chars().nth(MAX_WORD_CHARS).is_some());
    if !long_word && text.chars().nth(MAX_MESSAGE_CHARS).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let space = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        out.push_str(&rest[..space]);
        rest = &rest[space..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push_str(&cut(&rest[..end], MAX_WORD_CHARS, KEPT_WORD_CHARS));
        rest = &rest[end..];
    }
    Cow::Owned(cut(&out, MAX_MESSAGE_CHARS, MAX_MESSAGE_CHARS).into_owned())
}

/// `s` when it has at most `max` characters, else its first `keep` and a
/// note of what was dropped.
fn cut(s: &str, max: usize, keep: usize) -> Cow<'_, str> {
    if s.chars().nth(max).is_none() {
        return Cow::Borrowed(s);
    }
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    Cow::Owned(format!("{}…[{} more bytes]", &s[..end], s.len() - end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_and_long_messages_are_cut() {
        let token = "x".repeat(10_000_000);
        let msg = format!("POLYGON_RATE_LIMIT: `{token}` is not a whole number");
        let got = cap(&msg);
        let want = format!("POLYGON_RATE_LIMIT: `{}…[9999938 more bytes] is not a whole number", "x".repeat(63));
        assert_eq!(got, want);

        let path = format!("/var/lib/orakl/{}.db", "a".repeat(150));
        let msg = format!("cannot open state database {path}: disk I/O error");
        assert_eq!(cap(&msg), msg, "a long path is still shown whole");

        let words = "word ".repeat(2000);
        let got = cap(&words);
        assert_eq!(got.chars().count(), MAX_MESSAGE_CHARS + "…[6000 more bytes]".chars().count());
        assert!(got.ends_with("…[6000 more bytes]"), "{}", &got[got.len() - 40..]);

        let multibyte = format!("bad `{}`", "é".repeat(300));
        let got = cap(&multibyte);
        assert_eq!(got, format!("bad `{}…[475 more bytes]", "é".repeat(63)));
    }
}
