//! Log set-up: `env_logger` with `RUST_LOG` (default `info`), one event per
//! line. Messages are `event=name key=value ...`; with
//! `ORAKL_LOG_FORMAT=json` each line is one JSON object whose keys are those
//! fields, so `jq` works as well as `grep`.

use std::io::Write;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    match format {
        LogFormat::Text => {
            b.format(|buf, rec| writeln!(buf, "{} {:<5} {}", buf.timestamp_millis(), rec.level(), rec.args()));
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
    // A second init (tests calling into the CLI twice) is harmless.
    let _ = b.try_init();
}

/// Splits `key=value key="quoted value"` into pairs; words without `=` are
/// left to the `msg` field.
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
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_fields() {
        let got = fields("event=scan bot=sweeps error=\"page 2: timed out\" alerts=3 loose words");
        let want = [("event", "scan"), ("bot", "sweeps"), ("error", "page 2: timed out"), ("alerts", "3")];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }
}
