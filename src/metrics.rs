//! What the heartbeat saw, kept in the state database for `orakl status` and
//! `orakl health` (separate processes), and rendered as the Prometheus
//! textfile (`METRICS_FILE`, for node_exporter's textfile collector).
//!
//! The rendering is pure; the heartbeat writes it with
//! [`crate::atomic_file::write`], so a scraper never reads a half-written file. [`check_exposition`] holds the
//! text format's rules (the ones `promtool check metrics` enforces) so tests
//! can hold every rendering to them without promtool installed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::health::{ApiWindow, Health};

/// One endpoint's API usage since the service started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointUsage {
    /// Requests by HTTP status (`"200"`, `"429"`) or `"error"` (no response).
    pub requests: BTreeMap<String, u64>,
    pub pages: u64,
    pub retries: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheUsage {
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
}

impl CacheUsage {
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 { 0.0 } else { self.hits as f64 / lookups as f64 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxUsage {
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
    pub expired: u64,
    pub oldest_pending_age_s: Option<i64>,
}

/// What Discord made of this process's posts and edits for one family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    /// Alerts (and edits) delivered.
    pub sent: u64,
    /// Discord requests that delivered them: a backlog's alerts share one
    /// message (up to 10 embeds).
    #[serde(default)]
    pub messages: u64,
    /// Refused for good (a rejected payload, a deleted webhook).
    pub failed: u64,
    /// Not delivered this time; tried again later.
    pub deferred: u64,
    /// 429 answers while delivering (each retried or deferred).
    pub rate_limited: u64,
}

/// How long one job's firings took since start (clock time: simulated in
/// replays).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct JobDurations {
    pub count: u64,
    pub seconds: f64,
    pub last_seconds: f64,
}

impl JobDurations {
    pub fn add(&mut self, seconds: f64) {
        self.count += 1;
        self.seconds += seconds;
        self.last_seconds = seconds;
    }
}

/// The heartbeat's view of the service at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub at: DateTime<Utc>,
    /// When this process started: a snapshot from the same process has the
    /// same value, so counters can be compared across heartbeats.
    pub started_at: DateTime<Utc>,
    /// By endpoint, since start.
    pub api: BTreeMap<String, EndpointUsage>,
    /// The requests since the previous heartbeat of the same process (or
    /// since start): the window the health score judges.
    pub window: ApiWindow,
    /// `volume` and `chain`.
    pub caches: BTreeMap<String, CacheUsage>,
    pub outbox: OutboxUsage,
    /// Every alert committed, by bot.
    pub alerts_by_bot: BTreeMap<String, u64>,
    /// Alerts the hourly budget suppressed since start, by bot.
    #[serde(default)]
    pub budget_suppressed: BTreeMap<String, u64>,
    /// Discord deliveries since start, by bot (empty when alerts are printed).
    #[serde(default)]
    pub delivery: BTreeMap<String, DeliveryCounts>,
    /// Firings skipped because they were late past the grace period, by job.
    #[serde(default)]
    pub skipped_firings: BTreeMap<String, u64>,
    /// Time spent in each job since start.
    #[serde(default)]
    pub job_durations: BTreeMap<String, JobDurations>,
    /// Each job's last successful run.
    pub last_success: BTreeMap<String, DateTime<Utc>>,
    pub open_circuits: Vec<String>,
    pub disabled_features: Vec<String>,
    pub retired_webhooks: Vec<String>,
    pub health: Health,
}

impl Snapshot {
    /// Requests and failures (no response, 429, 5xx) over every endpoint.
    pub fn api_totals(&self) -> ApiWindow {
        api_totals(&self.api)
    }

    pub fn uptime_s(&self) -> i64 {
        (self.at - self.started_at).num_seconds().max(0)
    }
}

/// Requests and failures (no response, 429, 5xx) in per-endpoint counters.
pub fn api_totals(api: &BTreeMap<String, EndpointUsage>) -> ApiWindow {
    let mut w = ApiWindow::default();
    for (status, n) in api.values().flat_map(|e| e.requests.iter()) {
        w.requests += n;
        if status == "error" || status == "429" || status.starts_with('5') {
            w.failed += n;
        }
    }
    w
}

/// The Prometheus text exposition of a snapshot.
pub fn render(s: &Snapshot) -> String {
    let mut out = Exposition::default();
    out.family("orakl_build_info", "gauge", "The running orakl's version (always 1).");
    out.sample("orakl_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    out.family("orakl_api_requests_total", "counter", "Polygon API requests since start by endpoint and HTTP status.");
    for (endpoint, e) in &s.api {
        for (status, n) in &e.requests {
            out.sample("orakl_api_requests_total", &[("endpoint", endpoint), ("status", status)], *n as f64);
        }
    }
    out.family("orakl_api_pages_total", "counter", "Polygon response pages parsed since start by endpoint.");
    for (endpoint, e) in &s.api {
        out.sample("orakl_api_pages_total", &[("endpoint", endpoint)], e.pages as f64);
    }
    out.family("orakl_api_retries_total", "counter", "Polygon requests repeated after a 429, 5xx or timeout.");
    for (endpoint, e) in &s.api {
        out.sample("orakl_api_retries_total", &[("endpoint", endpoint)], e.retries as f64);
    }
    out.family("orakl_api_window_error_ratio", "gauge", "Share of failed API requests since the previous heartbeat.");
    out.sample("orakl_api_window_error_ratio", &[], s.window.error_rate());

    out.family("orakl_alerts_total", "counter", "Alerts committed to the outbox, by bot.");
    for (bot, n) in &s.alerts_by_bot {
        out.sample("orakl_alerts_total", &[("bot", bot)], *n as f64);
    }
    out.family(
        "orakl_alerts_suppressed_total",
        "counter",
        "Alerts over their family's hourly budget since start, by bot.",
    );
    for (bot, n) in &s.budget_suppressed {
        out.sample("orakl_alerts_suppressed_total", &[("bot", bot)], *n as f64);
    }
    out.family(
        "orakl_discord_deliveries_total",
        "counter",
        "Alerts posted and edits made through Discord since start, by bot and result (sent, failed, deferred).",
    );
    for (bot, d) in &s.delivery {
        for (result, n) in [("sent", d.sent), ("failed", d.failed), ("deferred", d.deferred)] {
            out.sample("orakl_discord_deliveries_total", &[("bot", bot), ("result", result)], n as f64);
        }
    }
    out.family(
        "orakl_discord_messages_total",
        "counter",
        "Discord messages posted or edited since start, by bot (a backlog's alerts share one message).",
    );
    for (bot, d) in &s.delivery {
        out.sample("orakl_discord_messages_total", &[("bot", bot)], d.messages as f64);
    }
    out.family("orakl_discord_rate_limited_total", "counter", "HTTP 429 answers from Discord since start, by bot.");
    for (bot, d) in &s.delivery {
        out.sample("orakl_discord_rate_limited_total", &[("bot", bot)], d.rate_limited as f64);
    }
    out.family("orakl_outbox_alerts", "gauge", "Alerts in the outbox by delivery status.");
    let o = &s.outbox;
    for (status, n) in [("pending", o.pending), ("sent", o.sent), ("failed", o.failed), ("expired", o.expired)] {
        out.sample("orakl_outbox_alerts", &[("status", status)], n as f64);
    }
    out.family("orakl_outbox_oldest_pending_age_seconds", "gauge", "Age of the oldest pending alert (0 when none).");
    out.sample("orakl_outbox_oldest_pending_age_seconds", &[], o.oldest_pending_age_s.unwrap_or(0) as f64);

    out.family("orakl_cache_entries", "gauge", "Entries held by each cache.");
    for (cache, c) in &s.caches {
        out.sample("orakl_cache_entries", &[("cache", cache)], c.entries as f64);
    }
    out.family("orakl_cache_hits_total", "counter", "Cache lookups that found a usable entry.");
    for (cache, c) in &s.caches {
        out.sample("orakl_cache_hits_total", &[("cache", cache)], c.hits as f64);
    }
    out.family("orakl_cache_misses_total", "counter", "Cache lookups that found nothing usable.");
    for (cache, c) in &s.caches {
        out.sample("orakl_cache_misses_total", &[("cache", cache)], c.misses as f64);
    }

    out.family(
        "orakl_firings_skipped_total",
        "counter",
        "Firings skipped since start because they were later than SCHEDULE_GRACE_SECONDS, by job.",
    );
    for (job, n) in &s.skipped_firings {
        out.sample("orakl_firings_skipped_total", &[("job", job)], *n as f64);
    }
    out.family("orakl_job_duration_seconds", "summary", "Time spent running each job since start.");
    for (job, d) in &s.job_durations {
        out.sample("orakl_job_duration_seconds_sum", &[("job", job)], d.seconds);
        out.sample("orakl_job_duration_seconds_count", &[("job", job)], d.count as f64);
    }
    out.family("orakl_job_last_duration_seconds", "gauge", "How long each job's latest firing took.");
    for (job, d) in &s.job_durations {
        out.sample("orakl_job_last_duration_seconds", &[("job", job)], d.last_seconds);
    }
    out.family("orakl_last_success_timestamp_seconds", "gauge", "Unix time of each job's last successful run.");
    for (job, t) in &s.last_success {
        out.sample("orakl_last_success_timestamp_seconds", &[("job", job)], unix_seconds(*t));
    }
    out.family("orakl_open_circuits", "gauge", "Polygon endpoints whose circuit breaker is open.");
    out.sample("orakl_open_circuits", &[], s.open_circuits.len() as f64);
    out.family("orakl_disabled_features", "gauge", "API features disabled because the plan lacks them (403).");
    out.sample("orakl_disabled_features", &[], s.disabled_features.len() as f64);
    out.family("orakl_retired_webhooks", "gauge", "Discord webhooks retired because Discord answered 404.");
    out.sample("orakl_retired_webhooks", &[], s.retired_webhooks.len() as f64);

    out.family("orakl_health_score", "gauge", "Health score 0-100 (80+ healthy, 50-79 degraded, below 50 unhealthy).");
    out.sample("orakl_health_score", &[], s.health.score as f64);
    out.family("orakl_health_penalty", "gauge", "Points each health component takes off the score.");
    for (name, c) in &s.health.components {
        out.sample("orakl_health_penalty", &[("component", name)], c.penalty as f64);
    }
    out.family("orakl_uptime_seconds", "gauge", "Seconds since the service started.");
    out.sample("orakl_uptime_seconds", &[], s.uptime_s() as f64);
    out.family("orakl_heartbeat_timestamp_seconds", "gauge", "Unix time of the heartbeat that wrote this file.");
    out.sample("orakl_heartbeat_timestamp_seconds", &[], unix_seconds(s.at));
    out.text
}

fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
            let _ = write!(self.text, "{{{}}}", parts.join(","));
        }
        let _ = writeln!(self.text, " {}", format_value(value));
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() }
    } else {
        format!("{v}")
    }
}

/// Label values escape backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text escapes backslash and newline (a quote stays as it is).
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Problems with `text` as a Prometheus text exposition, by line: the
/// parser's rules (names, label syntax and escapes, values, one TYPE and
/// one HELP per family before its samples, families not interleaved, no
/// duplicate series) and `promtool check metrics`' lints (help text present,
/// counters named `_total` and only counters, no colons). Empty when sound.
pub fn check_exposition(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if text.is_empty() || !text.ends_with('\n') {
        problems.push("the text must end with a newline".to_string());
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut with_samples: BTreeSet<String> = BTreeSet::new();
    let mut closed: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series: BTreeSet<String> = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut bad = |m: String| problems.push(format!("line {n}: {m}"));
        if line.is_empty() {
            bad("empty line".into());
            continue;
        }
        let family = if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name, arg) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
            match keyword {
                "HELP" | "TYPE" => {
                    if !is_metric_name(name) {
                        bad(format!("bad metric name `{name}`"));
                        continue;
                    }
                    if with_samples.contains(name) {
                        bad(format!("{keyword} for `{name}` after its samples"));
                    }
                    if keyword == "HELP" {
                        if !helps.insert(name.to_string()) {
                            bad(format!("second HELP for `{name}`"));
                        }
                        if let Err(m) = check_help_escapes(arg.unwrap_or("")) {
                            bad(m);
                        }
                        if arg.is_none_or(|h| h.trim().is_empty()) {
                            bad(format!("`{name}` has no help text"));
                        }
                    } else {
                        let kind = arg.unwrap_or("");
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                            bad(format!("unknown type `{kind}` for `{name}`"));
                        }
                        if types.insert(name.to_string(), kind.to_string()).is_some() {
                            bad(format!("second TYPE for `{name}`"));
                        }
                        if kind == "counter" && !name.ends_with("_total") {
                            bad(format!("counter `{name}` should end in _total"));
                        }
                        if kind != "counter" && name.ends_with("_total") {
                            bad(format!("non-counter `{name}` should not end in _total"));
                        }
                    }
                    name.to_string()
                }
                _ => continue,
            }
        } else if line.starts_with('#') {
            continue;
        } else {
            match parse_sample(line) {
                Err(m) => {
                    bad(m);
                    continue;
                }
                Ok((name, labels, value)) => {
                    let fam = family_of(&name, &types);
                    if !types.contains_key(&fam) {
                        bad(format!("sample of `{name}` without a TYPE line"));
                    }
                    if !helps.contains(&fam) {
                        bad(format!("`{fam}` has no help text"));
                    }
                    if types.get(&fam).is_some_and(|k| k == "counter") && (value.is_nan() || value < 0.0) {
                        bad(format!("counter `{name}` has a negative or NaN value"));
                    }
                    let mut sorted = labels.clone();
                    sorted.sort();
                    let key = format!("{name}{sorted:?}");
                    if !series.insert(key) {
                        bad(format!("duplicate series `{name}` {labels:?}"));
                    }
                    with_samples.insert(fam.clone());
                    fam
                }
            }
        };
        if current.as_deref() != Some(family.as_str()) {
            if closed.contains(&family) {
                problems.push(format!("line {n}: family `{family}` continues after another family began"));
            }
            if let Some(prev) = current.take() {
                closed.insert(prev);
            }
            current = Some(family);
        }
    }
    for name in &helps {
        if name.contains(':') {
            problems.push(format!("`{name}`: colons are reserved for recording rules"));
        }
    }
    problems
}

/// The family a sample belongs to: histograms and summaries carry suffixes.
fn family_of(name: &str, types: &BTreeMap<String, String>) -> String {
    for suffix in ["_bucket", "_count", "_sum"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).is_some_and(|k| k == "histogram" || k == "summary") {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    !s.starts_with("__")
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_help_escapes(help: &str) -> Result<(), String> {
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
            return Err("HELP text has an escape other than \\\\ or \\n".to_string());
        }
    }
    Ok(())
}

type Labels = Vec<(String, String)>;

/// `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str) -> Result<(String, Labels, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample needs a value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name `{name}`"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut s = after;
        loop {
            s = s.trim_start();
            if let Some(r) = s.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = s.find('=').ok_or("label without `=`")?;
            let key = s[..eq].trim();
            if !is_label_name(key) {
                return Err(format!("bad label name `{key}`"));
            }
            if labels.iter().any(|(k, _)| k == key) {
                return Err(format!("label `{key}` given twice"));
            }
            let v = s[eq + 1..].strip_prefix('"').ok_or("label value must be quoted")?;
            let (value, r) = unescape_label(v)?;
            labels.push((key.to_string(), value));
            s = r.trim_start();
            if let Some(r) = s.strip_prefix(',') {
                s = r;
            } else if !s.starts_with('}') {
                return Err("expected `,` or `}` after a label".to_string());
            }
        }
    }
    let mut fields = rest.split(' ').filter(|f| !f.is_empty());
    let value = fields.next().ok_or("a sample needs a value")?;
    let value = parse_value(value).ok_or_else(|| format!("bad value `{value}`"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|_| format!("bad timestamp `{ts}`"))?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp".to_string());
    }
    Ok((name.to_string(), labels, value))
}

/// A quoted label value up to its closing quote; returns it and the rest.
fn unescape_label(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                _ => return Err("label value has an escape other than \\\\, \\\" or \\n".to_string()),
            },
            c => out.push(c),
        }
    }
    Err("label value without a closing quote".to_string())
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if s.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::health::{self, Inputs};

    fn snapshot() -> Snapshot {
        let at = Utc.with_ymd_and_hms(2026, 3, 9, 14, 0, 0).unwrap();
        let usage = |pairs: &[(&str, u64)], pages| EndpointUsage {
            requests: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            pages,
            retries: 1,
        };
        let open = vec!["trades".to_string()];
        Snapshot {
            at,
            started_at: at - chrono::Duration::minutes(30),
            api: BTreeMap::from([
                ("option_chain".to_string(), usage(&[("200", 120), ("429", 3), ("error", 1)], 240)),
                ("trades".to_string(), usage(&[("200", 4), ("503", 5)], 4)),
            ]),
            window: ApiWindow { requests: 20, failed: 2 },
            caches: BTreeMap::from([
                ("chain".to_string(), CacheUsage { entries: 2, hits: 90, misses: 10 }),
                ("volume".to_string(), CacheUsage { entries: 900, hits: 5000, misses: 400 }),
            ]),
            outbox: OutboxUsage { pending: 1, sent: 7, failed: 1, expired: 0, oldest_pending_age_s: Some(12) },
            alerts_by_bot: BTreeMap::from([("golden_sweeps".to_string(), 2), ("sweeps".to_string(), 7)]),
            budget_suppressed: BTreeMap::from([("scalps".to_string(), 4)]),
            delivery: BTreeMap::from([(
                "sweeps".to_string(),
                DeliveryCounts { sent: 7, messages: 5, failed: 1, deferred: 2, rate_limited: 3 },
            )]),
            skipped_firings: BTreeMap::from([("golden_sweeps".to_string(), 2)]),
            job_durations: BTreeMap::from([(
                "sweeps".to_string(),
                JobDurations { count: 4, seconds: 10.5, last_seconds: 2.25 },
            )]),
            last_success: BTreeMap::from([("sweeps".to_string(), at - chrono::Duration::seconds(12))]),
            open_circuits: open.clone(),
            disabled_features: vec![],
            retired_webhooks: vec![],
            health: health::assess(&Inputs { open_circuits: open, ..Default::default() }),
        }
    }

    #[test]
    fn a_rendering_passes_the_format_rules_and_carries_every_counter() {
        let text = render(&snapshot());
        assert_eq!(check_exposition(&text), Vec::<String>::new(), "{text}");
        for want in [
            "orakl_api_requests_total{endpoint=\"option_chain\",status=\"429\"} 3\n",
            "orakl_api_requests_total{endpoint=\"trades\",status=\"503\"} 5\n",
            "orakl_api_pages_total{endpoint=\"option_chain\"} 240\n",
            "orakl_alerts_total{bot=\"sweeps\"} 7\n",
            "orakl_alerts_suppressed_total{bot=\"scalps\"} 4\n",
            "orakl_outbox_alerts{status=\"pending\"} 1\n",
            "orakl_cache_hits_total{cache=\"volume\"} 5000\n",
            "orakl_cache_entries{cache=\"chain\"} 2\n",
            "orakl_last_success_timestamp_seconds{job=\"sweeps\"} 1773064788\n",
            "orakl_health_score 75\n",
            "orakl_health_penalty{component=\"circuits\"} 25\n",
            "orakl_open_circuits 1\n",
            "orakl_uptime_seconds 1800\n",
            "orakl_api_window_error_ratio 0.1\n",
            &format!("orakl_build_info{{version=\"{}\"}} 1\n", env!("CARGO_PKG_VERSION")),
            "orakl_discord_deliveries_total{bot=\"sweeps\",result=\"sent\"} 7\n",
            "orakl_discord_deliveries_total{bot=\"sweeps\",result=\"failed\"} 1\n",
            "orakl_discord_deliveries_total{bot=\"sweeps\",result=\"deferred\"} 2\n",
            "orakl_discord_rate_limited_total{bot=\"sweeps\"} 3\n",
            "orakl_discord_messages_total{bot=\"sweeps\"} 5\n",
            "orakl_firings_skipped_total{job=\"golden_sweeps\"} 2\n",
            "orakl_job_duration_seconds_sum{job=\"sweeps\"} 10.5\n",
            "orakl_job_duration_seconds_count{job=\"sweeps\"} 4\n",
            "orakl_job_last_duration_seconds{job=\"sweeps\"} 2.25\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = snapshot();
        s.alerts_by_bot.insert("we\"ird\\bot\nname".to_string(), 1);
        let text = render(&s);
        assert!(text.contains(r#"orakl_alerts_total{bot="we\"ird\\bot\nname"} 1"#), "{text}");
        assert_eq!(check_exposition(&text), Vec::<String>::new());
    }

    #[test]
    fn the_checker_refuses_what_promtool_refuses() {
        let head = "# HELP a_total A.\n# TYPE a_total counter\n";
        // (case, text, expected problem fragment; "" = sound)
        let cases = [
            ("sound", format!("{head}a_total 1\n"), ""),
            ("sound with labels and timestamp", format!("{head}a_total{{x=\"1\",y=\"\\\"\"}} 1 1700000000000\n"), ""),
            ("no trailing newline", format!("{head}a_total 1"), "newline"),
            ("no TYPE", "# HELP b B.\nb 1\n".to_string(), "without a TYPE"),
            ("no HELP", "# TYPE b gauge\nb 1\n".to_string(), "no help text"),
            ("second TYPE", format!("{head}# TYPE a_total counter\na_total 1\n"), "second TYPE"),
            ("TYPE after samples", "# HELP b B.\nb 1\n# TYPE b gauge\n".to_string(), "after its samples"),
            ("counter without _total", "# HELP c C.\n# TYPE c counter\nc 1\n".to_string(), "should end in _total"),
            ("gauge with _total", "# HELP c_total C.\n# TYPE c_total gauge\nc_total 1\n".to_string(), "non-counter"),
            ("duplicate series", format!("{head}a_total{{x=\"1\"}} 1\na_total{{x=\"1\"}} 2\n"), "duplicate series"),
            (
                "same labels reordered",
                format!("{head}a_total{{x=\"1\",y=\"2\"}} 1\na_total{{y=\"2\",x=\"1\"}} 2\n"),
                "duplicate",
            ),
            ("bad name", "# HELP 1a A.\n".to_string(), "bad metric name"),
            ("bad label name", format!("{head}a_total{{1x=\"1\"}} 1\n"), "bad label name"),
            ("reserved label name", format!("{head}a_total{{__x=\"1\"}} 1\n"), "bad label name"),
            ("bad escape", format!("{head}a_total{{x=\"\\t\"}} 1\n"), "escape"),
            ("unquoted label", format!("{head}a_total{{x=1}} 1\n"), "quoted"),
            ("bad value", format!("{head}a_total one\n"), "bad value"),
            ("negative counter", format!("{head}a_total -1\n"), "negative"),
            (
                "interleaved families",
                format!("{head}a_total{{x=\"1\"}} 1\n# HELP b B.\n# TYPE b gauge\nb 1\na_total{{x=\"2\"}} 1\n"),
                "continues after",
            ),
            ("empty line", format!("{head}\na_total 1\n"), "empty line"),
            ("colon", "# HELP a:b_total A.\n# TYPE a:b_total counter\na:b_total 1\n".to_string(), "colons"),
        ];
        for (name, text, want) in cases {
            let problems = check_exposition(&text);
            if want.is_empty() {
                assert!(problems.is_empty(), "{name}: {problems:?}");
            } else {
                assert!(problems.iter().any(|p| p.contains(want)), "{name}: want {want:?}, got {problems:?}");
            }
        }
    }
}
