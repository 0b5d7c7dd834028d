//! Log set-up: `env_logger` with `RUST_LOG` (default `info`, `warn` for
//! the one-shot commands: [`Verbosity`]), one event per line. Messages are
//! `event=name key=value ...`; with `ORAKL_LOG_FORMAT=json` each line is
//! one JSON object whose keys are those fields, so `jq` works as well as
//! `grep`.
//!
//! A value that came from outside (an error text, a server's message) is
//! written with [`quoted`]; and whatever a message holds, a text line never
//! carries a raw control character ([`text_message`]), so no value can
//! start a forged line or hide in a terminal escape.

use std::fmt;

use std::io::Write;

use crate::config::LogFormat;

/// Libraries whose own log records are dropped whatever `RUST_LOG` says:
/// ureq logs full request URLs at debug level, and a webhook URL carries its
/// token. Their failures reach our logs as our own error events instead.
const QUIET_TARGETS: [&str; 3] = ["ureq", "rustls", "webpki"];

/// True for records that must never be written (see [`QUIET_TARGETS`]).
pub fn is_quiet_target(target: &str) -> bool {
    QUIET_TARGETS
        .iter()
        .any(|q| target == *q || target.strip_prefix(q).is_some_and(|r| r.starts_with("::") || r.starts_with('_')))
}

/// Wraps env_logger to drop the quiet targets before formatting.
struct Filtered(env_logger::Logger);

impl log::Log for Filtered {
    fn enabled(&self, m: &log::Metadata) -> bool {
        !is_quiet_target(m.target()) && self.0.enabled(m)
    }
    fn log(&self, r: &log::Record) {
        if !is_quiet_target(r.target()) {
            self.0.log(r);
        }
    }
    fn flush(&self) {
        self.0.flush();
    }
}

/// Who is logging, which sets the level when `RUST_LOG` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `run`, `check`, `record` and the state readers: every event at info,
    /// the service's journal.
    Service,
    /// `replay`, `demo`, `evaluate`: warn (SPEC §10), since their product is
    /// stdout and a replayed day logs thousands of scans.
    OneShot,
}

impl Verbosity {
    fn default_filter(self) -> &'static str {
        match self {
            Verbosity::Service => "info",
            Verbosity::OneShot => "warn",
        }
    }
}

/// Installs the logger; `RUST_LOG` wins over `verbosity`'s level.
pub fn init(format: LogFormat, verbosity: Verbosity) {
    let filter = env_logger::Env::default().default_filter_or(verbosity.default_filter());
    let mut b = env_logger::Builder::from_env(filter);
    match format {
        LogFormat::Text => {
            b.format(|buf, rec| {
                writeln!(buf, "{} {:<5} {}", buf.timestamp_millis(), rec.level(), text_message(&rec.args().to_string()))
            });
        }
        LogFormat::Json => {
            b.format(|buf, rec| {
                let mut obj = serde_json::Map::new();
                obj.insert("ts".into(), buf.timestamp_millis().to_string().into());
                obj.insert("level".into(), rec.level().as_str().to_ascii_lowercase().into());
                let msg = rec.args().to_string();
                for (k, v) in fields(&msg) {
                    obj.insert(k, v.into());
                }
                obj.insert("msg".into(), msg.into());
                writeln!(buf, "{}", serde_json::Value::Object(obj))
            });
        }
    }
    let logger = b.build();
    let max = logger.filter();
    // A second init (tests calling into the CLI twice) is harmless.
    if log::set_boxed_logger(Box::new(Filtered(logger))).is_ok() {
        log::set_max_level(max);
    }
}

/// A field value as a text log writes it: in double quotes, with `"` and
/// `\` escaped and control characters written as escapes (`\n`, `\u{1b}`),
/// so the value ends where its quotes end and on the line it began.
pub fn quoted(value: &str) -> Quoted<'_> {
    Quoted(value)
}

pub struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c => write_char(f, c)?,
            }
        }
        f.write_str("\"")
    }
}

/// One character with control characters escaped.
fn write_char(f: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\n' => f.write_str("\\n"),
        '\r' => f.write_str("\\r"),
        '\t' => f.write_str("\\t"),
        c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32),
        c => f.write_char(c),
    }
}

/// A message as a text log line holds it: control characters escaped, so
/// one record is always one line whatever its values contain.
pub fn text_message(msg: &str) -> String {
    if !msg.chars().any(char::is_control) {
        return msg.to_string();
    }
    let mut out = String::with_capacity(msg.len() + 8);
    for c in msg.chars() {
        // Writing to a String cannot fail.
        let _ = write_char(&mut out, c);
    }
    out
}

/// Splits `key=value key="quoted value"` into pairs; words without `=` are
/// left to the `msg` field. A quoted value may hold `\"` and `\\` (as
/// [`quoted`] writes them), read back as `"` and `\`.
pub fn fields(msg: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = msg.trim_start();
    while !rest.is_empty() {
        let word_end = rest.find(' ').unwrap_or(rest.len());
        let Some(eq) = rest[..word_end].find('=') else {
            rest = rest[word_end..].trim_start();
            continue;
        };
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            unquote(q)
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push((key.to_string(), value));
        }
        rest = next.trim_start();
    }
    out
}

/// The value of a quoted field up to its closing quote, unescaped, and the
/// text after it.
fn unquote(q: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = q.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &q[i + 1..]),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, 't')) => value.push('\t'),
                Some((_, e @ ('"' | '\\'))) => value.push(e),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => value.push('\\'),
            },
            c => value.push(c),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_targets_that_log_urls_are_quiet() {
        for (t, quiet) in [
            ("ureq", true),
            ("ureq_proto::client", true),
            ("rustls::conn", true),
            ("orakl::service", false),
            ("ureqx", false),
        ] {
            assert_eq!(is_quiet_target(t), quiet, "{t}");
        }
    }

    #[test]
    fn values_cannot_forge_lines_or_fields() {
        let hostile = "O:SPY\nevent=forged level=ERROR \"x\\y\u{1b}[2J";
        let line = format!("event=scan ticker={} n=1", quoted(hostile));
        assert_eq!(line, r#"event=scan ticker="O:SPY\nevent=forged level=ERROR \"x\\y\u{1b}[2J" n=1"#);
        assert!(!text_message(&line).contains('\n'));
        let got = fields(&line);
        assert_eq!(got[1], ("ticker".to_string(), "O:SPY\nevent=forged level=ERROR \"x\\y\\u{1b}[2J".to_string()));
        assert_eq!(got[2], ("n".to_string(), "1".to_string()));
        // A message built without `quoted` still stays on one line.
        assert_eq!(text_message("a\nb\r\u{7}"), "a\\nb\\r\\u{7}");
    }

    #[test]
    fn key_value_fields() {
        let got = fields("event=scan bot=sweeps error=\"page 2: timed out\" alerts=3 loose words");
        let want = [("event", "scan"), ("bot", "sweeps"), ("error", "page 2: timed out"), ("alerts", "3")];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }
}
