//! Log set-up: `env_logger` with `RUST_LOG` (default `info`), one event per
//! line. Messages are `event=name key=value ...`; with
//! `ORAKL_LOG_FORMAT=json` each line is one JSON object whose keys are those
//! fields, so `jq` works as well as `grep`.

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
    let logger = b.build();
    let max = logger.filter();
    // A second init (tests calling into the CLI twice) is harmless.
    if log::set_boxed_logger(Box::new(Filtered(logger))).is_ok() {
        log::set_max_level(max);
    }
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
    fn key_value_fields() {
        let got = fields("event=scan bot=sweeps error=\"page 2: timed out\" alerts=3 loose words");
        let want = [("event", "scan"), ("bot", "sweeps"), ("error", "page 2: timed out"), ("alerts", "3")];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }
}
