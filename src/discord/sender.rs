//! Posting a payload to a webhook: Discord's status codes and rate limits
//! turned into one [`Delivery`] outcome.
//!
//! Blocking and sequential: one request at a time, and every wait (a 429's
//! `retry_after`, an exhausted bucket's reset, backoff after a 5xx) goes
//! through the [`Clock`], so tests run it in simulated time and a shutdown
//! interrupts it. Nothing here decides what happens to the alert next; the
//! caller maps the outcome to the outbox (`sent`, `failed`, retired webhook,
//! still `pending`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::clock::{Clock, Waited};
use crate::http::{Http, Response};

use super::webhook::Webhook;

/// Attempts per post, counting 429s, 5xx and transport failures alike.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// First backoff after a 5xx or transport failure; doubles each time.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// No single wait longer than this: a server asking for more is treated as
/// asking for this much, and the bounded attempts end the post soon after.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// The wait after a 429 that names no duration.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest Discord message text kept from an error response.
const MAX_MESSAGE_CHARS: usize = 300;
/// Recent log lines kept for `status`/`health`.
const RECENT_EVENTS: usize = 64;

/// How one post ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Discord accepted the message; the id when it answered with the message.
    Sent { message_id: Option<String> },
    /// 404: the webhook was deleted. Stop using it.
    WebhookGone,
    /// Discord refused this payload (a 4xx other than 404 and 429), or the
    /// request can never succeed. Retrying the same payload would not help.
    Rejected { status: u16, message: String },
    /// Not delivered this time (5xx, timeouts, connection errors, rate
    /// limits past the attempt bound, shutdown); try again on a later pass.
    RetryLater { reason: String },
}

/// Posts payloads to Discord webhooks.
pub struct Sender {
    http: Http,
    clock: Arc<dyn Clock>,
    max_attempts: u32,
    backoff: Duration,
    /// Per webhook id: the monotonic instant (`clock.elapsed()`) before which
    /// the next request must not go, from `X-RateLimit-Reset-After` when the
    /// bucket reported none remaining.
    not_before: Mutex<BTreeMap<u64, Duration>>,
    events: Mutex<VecDeque<String>>,
}

impl Sender {
    pub fn new(http: Http, clock: Arc<dyn Clock>) -> Sender {
        Sender {
            http,
            clock,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: DEFAULT_BACKOFF,
            not_before: Mutex::new(BTreeMap::new()),
            events: Mutex::new(VecDeque::new()),
        }
    }

    /// Bounds the requests one post may make (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Sender {
        self.max_attempts = n.max(1);
        self
    }

    /// The first backoff after a server or transport failure.
    pub fn with_backoff(mut self, first: Duration) -> Sender {
        self.backoff = first;
        self
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The most recent log lines this sender wrote, oldest first, for
    /// `status`/`health` output. Like the logs, they show webhooks by id only.
    pub fn recent_events(&self) -> Vec<String> {
        lock(&self.events).iter().cloned().collect()
    }

    /// Posts `payload` to `webhook` with `?wait=true`, retrying 429s, 5xx and
    /// transport failures up to the attempt bound.
    pub fn post(&self, webhook: &Webhook, payload: &Value) -> Delivery {
        let body = match serde_json::to_vec(payload) {
            Ok(b) => b,
            Err(e) => {
                let message = format!("payload is not serialisable: {e}");
                self.event(log::Level::Error, &format!("event=discord_rejected webhook={} status=0", webhook.id()));
                return Delivery::Rejected { status: 0, message };
            }
        };
        let url = webhook.execute_url();
        let id = webhook.id();
        let mut failures = 0u32;
        for attempt in 1..=self.max_attempts {
            if let Some(wait) = self.bucket_wait(id) {
                self.event(
                    log::Level::Info,
                    &format!("event=discord_bucket_wait webhook={id} wait_ms={}", wait.as_millis()),
                );
                if self.clock.wait(wait) == Waited::Shutdown {
                    return self.shutdown(id);
                }
            }
            let last = attempt == self.max_attempts;
            let result = self.http.post_json(&url, &[], &body);
            let resp = match result {
                Ok(r) => r,
                Err(e) if !e.is_transient() => {
                    let message = webhook.redact(&e.to_string());
                    self.event(
                        log::Level::Error,
                        &format!("event=discord_rejected webhook={id} status=0 error=\"{message}\""),
                    );
                    return Delivery::Rejected { status: 0, message };
                }
                Err(e) => {
                    let reason = webhook.redact(&e.to_string());
                    self.event(
                        log::Level::Warn,
                        &format!(
                            "event=discord_transport_error webhook={id} attempt={attempt}/{} error=\"{reason}\"",
                            self.max_attempts
                        ),
                    );
                    if last {
                        return self.give_up(id, format!("{reason} ({attempt} attempts)"));
                    }
                    failures += 1;
                    if self.clock.wait(self.backoff_for(failures)) == Waited::Shutdown {
                        return self.shutdown(id);
                    }
                    continue;
                }
            };
            self.note_bucket(id, &resp);
            match resp.status {
                200..=299 => {
                    let message_id = message_id(&resp);
                    self.event(
                        log::Level::Info,
                        &format!(
                            "event=discord_sent webhook={id} status={} message_id={} attempt={attempt}",
                            resp.status,
                            message_id.as_deref().unwrap_or("-")
                        ),
                    );
                    return Delivery::Sent { message_id };
                }
                429 => {
                    let (wait, global) = retry_after(&resp);
                    self.event(
                        log::Level::Warn,
                        &format!(
                            "event=discord_rate_limited webhook={id} retry_after_ms={} global={global} attempt={attempt}/{}",
                            wait.as_millis(),
                            self.max_attempts
                        ),
                    );
                    if last {
                        return self.give_up(id, format!("rate limited (429) on all {attempt} attempts"));
                    }
                    if self.clock.wait(wait) == Waited::Shutdown {
                        return self.shutdown(id);
                    }
                }
                404 => {
                    self.event(log::Level::Error, &format!("event=discord_webhook_gone webhook={id} status=404"));
                    return Delivery::WebhookGone;
                }
                // A redirect is a misconfigured URL (redirects are never followed), so
                // like a 4xx it cannot succeed by retrying.
                status @ 300..=499 => {
                    let message = webhook.redact(&error_message(&resp));
                    let code = discord_code(&resp).map_or_else(|| "-".to_string(), |c| c.to_string());
                    self.event(
                        log::Level::Error,
                        &format!(
                            "event=discord_rejected webhook={id} status={status} code={code} message=\"{message}\""
                        ),
                    );
                    return Delivery::Rejected { status, message };
                }
                status => {
                    self.event(
                        log::Level::Warn,
                        &format!(
                            "event=discord_server_error webhook={id} status={status} attempt={attempt}/{}",
                            self.max_attempts
                        ),
                    );
                    if last {
                        return self.give_up(id, format!("server error {status} ({attempt} attempts)"));
                    }
                    failures += 1;
                    if self.clock.wait(self.backoff_for(failures)) == Waited::Shutdown {
                        return self.shutdown(id);
                    }
                }
            }
        }
        // The loop returns on its last attempt; reaching here means zero
        // attempts, which `with_max_attempts` prevents.
        self.give_up(id, "no attempt made".to_string())
    }

    fn give_up(&self, id: u64, reason: String) -> Delivery {
        self.event(log::Level::Warn, &format!("event=discord_retry_later webhook={id} reason=\"{reason}\""));
        Delivery::RetryLater { reason }
    }

    fn shutdown(&self, id: u64) -> Delivery {
        self.give_up(id, "shutdown requested".to_string())
    }

    /// 1 s, 2 s, 4 s, ... capped at [`MAX_WAIT`].
    fn backoff_for(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(MAX_WAIT)
    }

    /// How long to wait before the next request to this webhook, if its
    /// bucket was reported empty and has not reset yet.
    fn bucket_wait(&self, id: u64) -> Option<Duration> {
        let mut map = lock(&self.not_before);
        let until = *map.get(&id)?;
        let now = self.clock.elapsed();
        if until <= now {
            map.remove(&id);
            return None;
        }
        Some(until - now)
    }

    /// Remembers an exhausted bucket; any other answer clears the record.
    fn note_bucket(&self, id: u64, resp: &Response) {
        let remaining = resp.header("x-ratelimit-remaining").and_then(|v| v.trim().parse::<f64>().ok());
        let reset_after = resp.header("x-ratelimit-reset-after").and_then(seconds);
        let mut map = lock(&self.not_before);
        match (remaining, reset_after) {
            (Some(r), Some(after)) if r <= 0.0 => {
                map.insert(id, self.clock.elapsed() + after);
            }
            (Some(_), _) => {
                map.remove(&id);
            }
            _ => {}
        }
    }

    /// Logs `line` and keeps it among the recent events. The only way this
    /// module logs, so the token-free rule is checked in one place.
    fn event(&self, level: log::Level, line: &str) {
        log::log!(level, "{line}");
        let mut events = lock(&self.events);
        if events.len() == RECENT_EVENTS {
            events.pop_front();
        }
        events.push_back(line.to_string());
    }
}

/// A poisoned lock only means a panic elsewhere; the map is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds as Discord writes them (`2.5`), bounded to `0..=MAX_WAIT`;
/// `None` for anything else (an HTTP date, garbage, a negative number).
fn seconds(v: &str) -> Option<Duration> {
    let s = v.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::from_secs_f64(s.min(MAX_WAIT.as_secs_f64())))
}

/// The wait a 429 asks for: the body's `retry_after`, else the
/// `Retry-After` header, else one second; and whether it is global.
fn retry_after(resp: &Response) -> (Duration, bool) {
    let body: Option<Value> = serde_json::from_slice(&resp.body).ok();
    let global = body.as_ref().and_then(|b| b.get("global")).and_then(Value::as_bool).unwrap_or(false)
        || resp.header("x-ratelimit-global").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let from_body = body
        .as_ref()
        .and_then(|b| b.get("retry_after"))
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(MAX_WAIT.as_secs_f64())));
    let wait = from_body.or_else(|| resp.header("retry-after").and_then(seconds)).unwrap_or(DEFAULT_RETRY_AFTER);
    (wait, global)
}

/// The created message's id from a `wait=true` answer; `None` for a 204 or
/// an unexpected body (the message was still accepted).
fn message_id(resp: &Response) -> Option<String> {
    let v: Value = serde_json::from_slice(&resp.body).ok()?;
    let id = match v.get("id")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// Discord's `message` from an error body, else the status's reason phrase.
fn error_message(resp: &Response) -> String {
    let from_body = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .filter(|m| !m.trim().is_empty());
    let message = from_body.unwrap_or_else(|| status_text(resp.status));
    let message: String = message.chars().filter(|c| !c.is_control()).collect();
    super::embed::truncate(&message.replace('"', "'"), MAX_MESSAGE_CHARS)
}

/// Discord's numeric error code (e.g. 50035), for the log line.
fn discord_code(resp: &Response) -> Option<i64> {
    serde_json::from_slice::<Value>(&resp.body).ok()?.get("code")?.as_i64()
}

fn status_text(status: u16) -> String {
    let text = match status {
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        _ => return format!("HTTP {status}"),
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn retry_after_prefers_the_body_then_the_header_then_one_second() {
        let r = resp(429, &[("retry-after", "7")], r#"{"retry_after": 2.5, "global": true}"#);
        assert_eq!(retry_after(&r), (Duration::from_millis(2500), true));
        let r = resp(429, &[("retry-after", "7")], "");
        assert_eq!(retry_after(&r), (Duration::from_secs(7), false));
        let r = resp(429, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], "");
        assert_eq!(retry_after(&r), (Duration::from_secs(1), false));
        let r = resp(429, &[], r#"{"retry_after": 1e9}"#);
        assert_eq!(retry_after(&r).0, MAX_WAIT);
        let r = resp(429, &[], r#"{"retry_after": -3}"#);
        assert_eq!(retry_after(&r).0, Duration::from_secs(1));
    }

    #[test]
    fn error_message_falls_back_to_the_status_text() {
        assert_eq!(
            error_message(&resp(400, &[], r#"{"message":"Invalid Form Body","code":50035}"#)),
            "Invalid Form Body"
        );
        assert_eq!(error_message(&resp(403, &[], "<html>")), "Forbidden");
        assert_eq!(error_message(&resp(418, &[], "")), "HTTP 418");
    }

    #[test]
    fn message_id_is_a_snowflake_or_nothing() {
        assert_eq!(
            message_id(&resp(200, &[], r#"{"id":"1234567890123456789"}"#)).as_deref(),
            Some("1234567890123456789")
        );
        assert_eq!(message_id(&resp(200, &[], r#"{"id":"abc"}"#)), None);
        assert_eq!(message_id(&resp(204, &[], "")), None);
    }
}
