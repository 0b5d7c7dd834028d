//! The logger: one event per record, its fields carried through `log`'s
//! key-value API (`log::info!(bot = %bot, alerts = n; "scan")`), the message
//! being the event's name. Three ways to write a record, one set of fields:
//!
//! - text (the default): `TIME LEVEL event=scan bot=sweeps alerts=3`, a
//!   string value in quotes when it holds a space, a quote, `=` or a
//!   control character ([`quoted`]), so no value can start a forged line or
//!   a forged field;
//! - JSON (`ORAKL_LOG_FORMAT=json`): one object per line, the fields typed
//!   as they were logged (a count is a number, an error text a string);
//! - the systemd journal, when stderr is the journal stream
//!   (`JOURNAL_STREAM` names stderr's device and inode, systemd.exec(5)):
//!   the level as the entry's priority and every field as a journal field
//!   (`BOT=sweeps`, `EVENT=scan`), the text form as its `MESSAGE`.
//!
//! The level: `RUST_LOG` when set, else `info` for the service and `warn`
//! for the one-shot commands ([`Verbosity`]); `-v`/`-q` move it a step per
//! flag and, when given, win over `RUST_LOG`'s default level.
//!
//! Each line is stamped by a [`Clock`]: the system clock, or the simulated
//! clock of a replay ([`stamp_with`]), so a replay's log reads in market
//! time. While a progress bar is on screen, lines are printed above it
//! ([`progress`]).

use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::atomic::{AtomicI8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use log::kv::{self, Source, VisitSource, VisitValue};

use crate::clock::{Clock, Shutdown, SystemClock};
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

/// Who is logging, which sets the level when `RUST_LOG` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `run`, `check`, `record` and the state readers: every event at info,
    /// the service's journal.
    Service,
    /// `replay`, `demo`, `simulate`, `evaluate`: warn (SPEC §10), since
    /// their product is stdout and a replayed day logs thousands of scans.
    OneShot,
}

impl Verbosity {
    fn default_level(self) -> log::LevelFilter {
        match self {
            Verbosity::Service => log::LevelFilter::Info,
            Verbosity::OneShot => log::LevelFilter::Warn,
        }
    }
}

/// `-v` counts up, `-q` down; set once by `main` before any logger exists.
static SHIFT: AtomicI8 = AtomicI8::new(0);

/// Records the `-v`/`-q` count (`verbose - quiet`).
pub fn set_shift(shift: i8) {
    SHIFT.store(shift, Ordering::Relaxed);
}

/// `base` moved `shift` steps (`Off` … `Trace`), saturating at both ends.
pub fn shifted(base: log::LevelFilter, shift: i8) -> log::LevelFilter {
    const STEPS: [log::LevelFilter; 6] = [
        log::LevelFilter::Off,
        log::LevelFilter::Error,
        log::LevelFilter::Warn,
        log::LevelFilter::Info,
        log::LevelFilter::Debug,
        log::LevelFilter::Trace,
    ];
    let at = STEPS.iter().position(|l| *l == base).unwrap_or(3) as i32;
    STEPS[(at + i32::from(shift)).clamp(0, 5) as usize]
}

/// The filter: `RUST_LOG`'s directives, with `-v`/`-q` (when given) moving
/// the default level from `verbosity`'s.
fn filter(verbosity: Verbosity, shift: i8, rust_log: Option<&str>) -> env_filter::Filter {
    let mut b = env_filter::Builder::new();
    let level = shifted(verbosity.default_level(), shift);
    match rust_log.filter(|s| !s.trim().is_empty()) {
        Some(spec) if shift == 0 => {
            b.filter_level(level);
            b.parse(spec);
        }
        Some(spec) => {
            // Module directives stay; the flags set the default level.
            b.parse(spec);
            b.filter_level(level);
        }
        None => {
            b.filter_level(level);
        }
    }
    b.build()
}

/// Where a line's time comes from.
fn stamp_clock() -> &'static RwLock<Arc<dyn Clock>> {
    static STAMP: OnceLock<RwLock<Arc<dyn Clock>>> = OnceLock::new();
    STAMP.get_or_init(|| RwLock::new(Arc::new(SystemClock::new(Shutdown::new()))))
}

/// Stamps log lines with `clock`'s time from now on (a replay's simulated
/// clock: its lines then read as the market day they replay).
pub fn stamp_with(clock: Arc<dyn Clock>) {
    *stamp_clock().write().unwrap_or_else(|p| p.into_inner()) = clock;
}

fn now() -> chrono::DateTime<chrono::Utc> {
    stamp_clock().read().unwrap_or_else(|p| p.into_inner()).now()
}

/// The progress bar on screen, if any: log lines are printed above it
/// rather than glued to it.
static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// A progress bar on stderr, shown only when stderr is a terminal (else
/// hidden: a pipe or the journal gets no bar). Log lines go above it while
/// it lives; dropping it clears it.
pub struct Progress(indicatif::ProgressBar);

/// A bar of `len` steps labelled `what`.
pub fn progress(what: &str, len: u64) -> Progress {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("#>-");
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
    Progress(bar)
}

impl Progress {
    /// Moves the bar to `pos` of its length, with `msg` beside it.
    pub fn set(&self, pos: u64, msg: impl Into<std::borrow::Cow<'static, str>>) {
        self.0.set_position(pos);
        self.0.set_message(msg);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Writes one line to stderr, above the progress bar when one is shown.
fn write_stderr(line: &str) {
    let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
    };
    match bar {
        Some(bar) if !bar.is_hidden() => bar.suspend(write),
        _ => write(),
    }
}

/// How records leave the process.
enum Sink {
    Text,
    Json,
    Journal(systemd_journal_logger::JournalLog),
}

struct Logger {
    filter: env_filter::Filter,
    sink: Sink,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        !is_quiet_target(m.target()) && self.filter.enabled(m)
    }

    fn log(&self, r: &log::Record) {
        if is_quiet_target(r.target()) || !self.filter.matches(r) {
            return;
        }
        match &self.sink {
            Sink::Text => write_stderr(&text_line(now(), r)),
            Sink::Json => write_stderr(&json_line(now(), r)),
            Sink::Journal(journal) => {
                // The journal stamps and prioritises the entry itself; the
                // message is the text form, the fields go along as fields.
                let message = message(r);
                let fields = WithEvent { event: Some(message_event(r)).filter(|m| is_event_name(m)), record: r };
                let sent = journal.journal_send(
                    &log::Record::builder()
                        .args(format_args!("{message}"))
                        .level(r.level())
                        .target(r.target())
                        .module_path(r.module_path())
                        .file(r.file())
                        .line(r.line())
                        .key_values(&fields)
                        .build(),
                );
                // A journal that stopped taking entries must not swallow
                // them: stderr still reaches it, or whoever reads the stream.
                if sent.is_err() {
                    write_stderr(&text_line(now(), r));
                }
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the logger once per process (a second call, as tests calling
/// into the CLI twice make, is harmless).
pub fn init(format: LogFormat, verbosity: Verbosity) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(verbosity, SHIFT.load(Ordering::Relaxed), rust_log.as_deref());
    let journal = systemd_journal_logger::connected_to_journal()
        .then(|| systemd_journal_logger::JournalLog::new().ok())
        .flatten();
    let sink = match (journal, format) {
        (Some(j), _) => Sink::Journal(j.with_syslog_identifier("orakl".to_string())),
        (None, LogFormat::Text) => Sink::Text,
        (None, LogFormat::Json) => Sink::Json,
    };
    let max = filter.filter();
    if log::set_boxed_logger(Box::new(Logger { filter, sink })).is_ok() {
        log::set_max_level(max);
    }
}

/// Fields gathered at run time, for an event whose fields are also a job's
/// run-record detail (`health=97 status=healthy …`): one list gives both
/// the typed log fields ([`event`]) and the detail text ([`Fields::text`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(&'static str, Field)>);

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Int(i64),
    Num(f64),
    Text(String),
    Bool(bool),
}

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    /// A count or an id (`usize`, `u64`, `u128` milliseconds, …).
    pub fn int(mut self, key: &'static str, value: impl TryInto<i64>) -> Fields {
        self.0.push((key, Field::Int(value.try_into().unwrap_or(i64::MAX))));
        self
    }

    /// A measure.
    pub fn num(mut self, key: &'static str, value: f64) -> Fields {
        self.0.push((key, Field::Num(value)));
        self
    }

    pub fn text(mut self, key: &'static str, value: impl fmt::Display) -> Fields {
        self.0.push((key, Field::Text(value.to_string())));
        self
    }

    pub fn flag(mut self, key: &'static str, value: bool) -> Fields {
        self.0.push((key, Field::Bool(value)));
        self
    }

    /// Another list's fields after these.
    pub fn extend(mut self, other: Fields) -> Fields {
        self.0.extend(other.0);
        self
    }

    /// `key=value …` as a text log line writes them.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = self.visit(&mut TextFields(&mut out));
        out.trim_start().to_string()
    }
}

impl Source for Fields {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        for (k, v) in &self.0 {
            let value = match v {
                Field::Int(i) => kv::Value::from(*i),
                Field::Num(x) => kv::Value::from(*x),
                Field::Text(s) => kv::Value::from(s.as_str()),
                Field::Bool(b) => kv::Value::from(*b),
            };
            visitor.visit_pair(kv::Key::from(*k), value)?;
        }
        Ok(())
    }
}

/// Logs event `name` with `fields` at `level`, as `log::info!(…; "name")`
/// would from the caller's module.
#[track_caller]
pub fn event(level: log::Level, name: &str, fields: &Fields) {
    if level > log::max_level() {
        return;
    }
    let caller = std::panic::Location::caller();
    log::logger().log(
        &log::Record::builder()
            .args(format_args!("{name}"))
            .level(level)
            .target("orakl")
            .module_path_static(Some("orakl"))
            .file(Some(caller.file()))
            .line(Some(caller.line()))
            .key_values(fields)
            .build(),
    );
}

/// The record's fields with its event first, for the journal
/// (`EVENT=scan`).
struct WithEvent<'a, 'r> {
    event: Option<String>,
    record: &'a log::Record<'r>,
}

fn message_event(r: &log::Record) -> String {
    r.args().to_string()
}

impl Source for WithEvent<'_, '_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        if let Some(event) = &self.event {
            visitor.visit_pair(kv::Key::from("event"), kv::Value::from(event.as_str()))?;
        }
        self.record.key_values().visit(visitor)
    }
}

/// An event's name is a word of lowercase letters, digits and `_`;
/// anything else in the message slot is free text.
fn is_event_name(m: &str) -> bool {
    !m.is_empty() && m.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The record as a text log holds it, without time and level:
/// `event=scan bot=sweeps alerts=3`. Control characters are escaped, so
/// one record is one line whatever its values contain.
pub fn message(r: &log::Record) -> String {
    let mut out = String::new();
    let msg = r.args().to_string();
    if is_event_name(&msg) {
        out.push_str("event=");
        out.push_str(&msg);
    } else {
        out.push_str(&text_message(&msg));
    }
    let mut v = TextFields(&mut out);
    let _ = r.key_values().visit(&mut v);
    out
}

/// `TIME LEVEL event=… fields…` and a newline.
pub fn text_line(at: chrono::DateTime<chrono::Utc>, r: &log::Record) -> String {
    format!("{} {:<5} {}\n", stamp(at), r.level(), message(r))
}

/// One JSON object and a newline: `ts`, `level`, `event` (or `msg` for
/// free text), then the fields with their types.
pub fn json_line(at: chrono::DateTime<chrono::Utc>, r: &log::Record) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("ts".into(), stamp(at).into());
    obj.insert("level".into(), r.level().as_str().to_ascii_lowercase().into());
    let msg = r.args().to_string();
    let key = if is_event_name(&msg) { "event" } else { "msg" };
    obj.insert(key.into(), msg.into());
    let _ = r.key_values().visit(&mut JsonFields(&mut obj));
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

fn stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

struct TextFields<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for TextFields<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let _ = write!(self.0, " {key}=");
        let mut typed = Typed::None;
        value.visit(&mut typed)?;
        match typed {
            Typed::Str(s) => {
                if needs_quotes(&s) {
                    let _ = write!(self.0, "{}", quoted(&s));
                } else {
                    self.0.push_str(&s);
                }
            }
            Typed::None => self.0.push_str("none"),
            Typed::Json(v) => {
                let _ = write!(self.0, "{v}");
            }
        }
        Ok(())
    }
}

struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let mut typed = Typed::None;
        value.visit(&mut typed)?;
        let v = match typed {
            Typed::Str(s) => serde_json::Value::String(s),
            Typed::None => serde_json::Value::Null,
            Typed::Json(v) => v,
        };
        self.0.insert(key.to_string(), v);
        Ok(())
    }
}

/// A field's value with its type kept: numbers and booleans as JSON
/// values, anything else as its text.
enum Typed {
    None,
    Str(String),
    Json(serde_json::Value),
}

impl<'v> VisitValue<'v> for Typed {
    fn visit_any(&mut self, value: kv::Value) -> Result<(), kv::Error> {
        *self = Typed::Str(value.to_string());
        Ok(())
    }
    fn visit_null(&mut self) -> Result<(), kv::Error> {
        *self = Typed::None;
        Ok(())
    }
    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        *self = Typed::Json(value.into());
        Ok(())
    }
    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        *self = Typed::Json(value.into());
        Ok(())
    }
    fn visit_u128(&mut self, value: u128) -> Result<(), kv::Error> {
        // Milliseconds from `as_millis()`: a number while JSON can hold it.
        *self = match u64::try_from(value) {
            Ok(v) => Typed::Json(v.into()),
            Err(_) => Typed::Str(value.to_string()),
        };
        Ok(())
    }
    fn visit_i128(&mut self, value: i128) -> Result<(), kv::Error> {
        *self = match i64::try_from(value) {
            Ok(v) => Typed::Json(v.into()),
            Err(_) => Typed::Str(value.to_string()),
        };
        Ok(())
    }
    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        // JSON has no NaN or infinity: those are written as text.
        *self = match serde_json::Number::from_f64(value) {
            Some(n) => Typed::Json(serde_json::Value::Number(n)),
            None => Typed::Str(value.to_string()),
        };
        Ok(())
    }
    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        *self = Typed::Json(value.into());
        Ok(())
    }
    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        *self = Typed::Str(value.to_string());
        Ok(())
    }
}

/// A text value needs quotes when, bare, it would not read back as one
/// value: empty, or holding a space, a quote, `=`, `\` or a control
/// character.
fn needs_quotes(s: &str) -> bool {
    s.is_empty() || s.chars().any(|c| c == ' ' || c == '"' || c == '=' || c == '\\' || c.is_control())
}

/// `x` rounded to `decimals` places, for fields whose noise digits say
/// nothing (a score, a rate).
pub fn decimals(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
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

#[cfg(test)]
mod tests {
    use super::*;
    use log::kv::Value;

    fn at() -> chrono::DateTime<chrono::Utc> {
        "2026-03-09T14:30:05.250Z".parse().expect("instant")
    }

    /// Renders one record with `fields` through `f`.
    fn render(
        f: fn(chrono::DateTime<chrono::Utc>, &log::Record) -> String,
        msg: fmt::Arguments,
        fields: &[(&str, Value)],
    ) -> String {
        let r = log::Record::builder().args(msg).level(log::Level::Warn).key_values(&fields).build();
        f(at(), &r)
    }

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
    fn json_fields_keep_their_types_and_quotes() {
        let error = "page 2: \"bad\" gateway\nevent=forged";
        let fields = [
            ("bot", Value::from("sweeps")),
            ("alerts", Value::from(0u64)),
            ("delta", Value::from(-3i64)),
            ("ms", Value::from(2400u128)),
            ("score", Value::from(81.5f64)),
            ("dry_run", Value::from(true)),
            ("error", Value::from(error)),
            ("missing", Value::null()),
        ];
        let line = render(json_line, format_args!("scan"), &fields);
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(
            v,
            serde_json::json!({
                "ts": "2026-03-09T14:30:05.250Z", "level": "warn", "event": "scan", "bot": "sweeps",
                "alerts": 0, "delta": -3, "ms": 2400, "score": 81.5, "dry_run": true, "error": error, "missing": null,
            })
        );
    }

    #[test]
    fn text_values_cannot_forge_lines_or_fields() {
        let hostile = "O:SPY\nevent=forged level=ERROR \"x\\y\u{1b}[2J";
        let fields = [("ticker", Value::from(hostile)), ("n", Value::from(1u64)), ("bot", Value::from("sweeps"))];
        let line = render(text_line, format_args!("scan"), &fields);
        assert_eq!(
            line,
            "2026-03-09T14:30:05.250Z WARN  event=scan ticker=\"O:SPY\\nevent=forged level=ERROR \\\"x\\\\y\\u{1b}[2J\" n=1 bot=sweeps\n"
        );
        // Free text in the message slot stays on one line too.
        let line = render(text_line, format_args!("a\nb\r\u{7}"), &[]);
        assert_eq!(line, "2026-03-09T14:30:05.250Z WARN  a\\nb\\r\\u{7}\n");
        for (s, want) in [("", true), ("a b", true), ("a=b", true), ("O:SPY260320C00600000", false), ("1.5", false)] {
            assert_eq!(needs_quotes(s), want, "{s:?}");
        }
    }

    /// What the journal gets besides the message: the event, then every
    /// field (journald upper-cases the names: `EVENT=scan`, `BOT=sweeps`).
    #[test]
    fn journal_fields_lead_with_the_event() {
        struct Collect(Vec<(String, String)>);
        impl<'kvs> VisitSource<'kvs> for Collect {
            fn visit_pair(&mut self, k: kv::Key<'kvs>, v: kv::Value<'kvs>) -> Result<(), kv::Error> {
                self.0.push((k.to_string(), v.to_string()));
                Ok(())
            }
        }
        let fields = [("bot", Value::from("sweeps")), ("alerts", Value::from(2u64))];
        let pairs = |msg: fmt::Arguments| {
            let r = log::Record::builder().args(msg).key_values(&fields).build();
            let with = WithEvent { event: Some(message_event(&r)).filter(|m| is_event_name(m)), record: &r };
            let mut c = Collect(Vec::new());
            with.visit(&mut c).expect("visit");
            c.0
        };
        let want = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(pairs(format_args!("scan")), want(&[("event", "scan"), ("bot", "sweeps"), ("alerts", "2")]));
        // Free text is the message only, never an EVENT field.
        assert_eq!(pairs(format_args!("a library said so")), want(&[("bot", "sweeps"), ("alerts", "2")]));
    }

    #[test]
    fn run_time_fields_are_typed_and_give_the_detail_text() {
        let f = Fields::new().int("alerts", 3usize).num("rate", 0.25).text("reason", "budget spent").flag("ok", true);
        assert_eq!(f.to_text(), "alerts=3 rate=0.25 reason=\"budget spent\" ok=true");
        let r = log::Record::builder().args(format_args!("outcomes")).key_values(&f).build();
        let v: serde_json::Value = serde_json::from_str(&json_line(at(), &r)).expect("json");
        assert_eq!((v["alerts"].as_u64(), v["rate"].as_f64(), v["ok"].as_bool()), (Some(3), Some(0.25), Some(true)));
    }

    #[test]
    fn flags_move_the_level_and_win_over_rust_log() {
        use log::LevelFilter::*;
        for (v, shift, rust_log, want) in [
            (Verbosity::OneShot, 0, None, Warn),
            (Verbosity::Service, 0, None, Info),
            (Verbosity::OneShot, 1, None, Info),
            (Verbosity::OneShot, 2, None, Debug),
            (Verbosity::OneShot, -1, None, Error),
            (Verbosity::OneShot, -5, None, Off),
            (Verbosity::Service, 9, None, Trace),
            (Verbosity::OneShot, 0, Some("debug"), Debug),
            (Verbosity::OneShot, -1, Some("debug"), Error),
            (Verbosity::Service, 0, Some(""), Info),
        ] {
            assert_eq!(filter(v, shift, rust_log).filter(), want, "{v:?} {shift} {rust_log:?}");
        }
    }
}
