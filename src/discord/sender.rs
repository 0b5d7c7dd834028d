//! Posting a payload to a webhook: Discord's status codes and rate limits
//! turned into one [`Delivery`] outcome.
//!
//! Blocking and sequential: one request at a time, and every wait (a 429's
//! `retry_after`, an exhausted bucket's reset, backoff after a 5xx) goes
//! through the [`Clock`], so tests run it in simulated time and a shutdown
//! interrupts it. Only short waits are slept, within a time budget per
//! post: a longer one defers the webhook (or every webhook, for a global
//! rate limit) until its time, and posts to it end at once with "later"
//! until then, so the service's loop never stops for Discord.
//!
//! A post whose outcome is unknown (a timeout or a dropped connection after
//! the request went out: Discord may have posted it) is not repeated at
//! once: it is tried once more after [`UNKNOWN_RETRY_DELAY`], and if that
//! too ends unknown it is given up, so a channel sees at most one extra
//! copy of an alert.
//!
//! Nothing here decides what happens to the alert next; the caller maps the
//! outcome to the outbox (`sent`, `failed`, retired webhook, still
//! `pending`).

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::backoff::{self, Budget, Wait};
use crate::clock::{Clock, Waited};
use crate::http::{self, Http, HttpError, Response};
use crate::logging::Fields;

use super::webhook::Webhook;

/// Attempts per post, counting 429s, 5xx and transport failures alike.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// First backoff after a 5xx or transport failure; doubles each time.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// Longest backoff between two attempts of one post.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Total time one post's retries may take; no retry starts later.
pub const POST_BUDGET: Duration = Duration::from_secs(10);
/// How long after a post with an unknown outcome its one retry may go.
/// Long enough for a slow Discord to have finished (and for the message to
/// show in the channel), short next to `ALERT_MAX_AGE_SECONDS`.
pub const UNKNOWN_RETRY_DELAY: Duration = Duration::from_secs(30);
/// How long a webhook whose post was given up (5xx or connection failures
/// through its attempts) is left alone before the next post to it.
pub const FAILING_WEBHOOK_PAUSE: Duration = Duration::from_secs(30);
/// Posts with an unknown outcome remembered at once; the oldest is dropped
/// past this (its alert has long expired or failed).
const UNKNOWN_REMEMBERED: usize = 1024;
/// The wait after a 429 that names no duration.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest Discord message text kept from an error response.
const MAX_MESSAGE_CHARS: usize = 300;
/// Discord's JSON error code for "Unknown Webhook" (its "JSON Error Codes"
/// table; 10008 is "Unknown Message").
const UNKNOWN_WEBHOOK: i64 = 10015;
/// Recent log lines kept for `status`/`health`.
const RECENT_EVENTS: usize = 64;
/// What Discord's API reference asks a client to send as its User-Agent:
/// `DiscordBot ($url, $versionNumber)`.
pub const USER_AGENT: &str = concat!("DiscordBot (https://github.com/orakl/orakl, ", env!("CARGO_PKG_VERSION"), ")");

/// A file attached to a post (Discord's `files[n]` form part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The name the embed refers to as `attachment://{name}`.
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// How one post ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Discord accepted the message; the id when it answered with the message.
    Sent { message_id: Option<String> },
    /// 404: the webhook was deleted. Stop using it.
    WebhookGone,
    /// 404 on an edit: the message was deleted (the webhook may still be
    /// there). The edit can never be made.
    MessageGone,
    /// Discord refused this payload (a 4xx other than 404 and 429), or the
    /// request can never succeed. Retrying the same payload would not help.
    Rejected { status: u16, message: String },
    /// Not delivered this time (5xx, timeouts, connection errors, rate
    /// limits past the attempt bound, shutdown); try again on a later pass.
    RetryLater { reason: String },
}

/// A post whose outcome is unknown, by webhook id and payload digest.
#[derive(Debug, Clone, Copy)]
struct Unknown {
    /// Monotonic instant before which the post is not tried again.
    retry_at: Duration,
}

/// Posts payloads to Discord webhooks.
pub struct Sender {
    http: Http,
    clock: Arc<dyn Clock>,
    max_attempts: u32,
    backoff: Duration,
    /// Per webhook id: the monotonic instant (`clock.elapsed()`) before which
    /// the next request must not go, from an exhausted bucket's
    /// `X-RateLimit-Reset-After` or a 429's `retry_after`.
    not_before: Mutex<BTreeMap<u64, Duration>>,
    /// The same for every webhook, from a 429 flagged `global`.
    global_not_before: Mutex<Option<Duration>>,
    unknown: Mutex<BTreeMap<(u64, u64), Unknown>>,
    /// Per webhook id: the monotonic instant before which a webhook whose
    /// last post was given up is not posted to (never slept through).
    resting: Mutex<BTreeMap<u64, Duration>>,
    /// Posts that ended with an unknown outcome since start.
    unknown_total: Mutex<u64>,
    /// 429 answers since start (the metrics count them per family).
    rate_limited_total: Mutex<u64>,
    events: Mutex<VecDeque<String>>,
}

/// Where a post stands before its next request.
enum Gate {
    Go,
    /// Deferred this long (a long rate limit): no request now.
    Later(Duration),
}

impl Sender {
    pub fn new(http: Http, clock: Arc<dyn Clock>) -> Sender {
        Sender {
            http,
            clock,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: DEFAULT_BACKOFF,
            not_before: Mutex::new(BTreeMap::new()),
            global_not_before: Mutex::new(None),
            unknown: Mutex::new(BTreeMap::new()),
            resting: Mutex::new(BTreeMap::new()),
            unknown_total: Mutex::new(0),
            rate_limited_total: Mutex::new(0),
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

    /// 429 answers Discord gave since start.
    pub fn rate_limited_total(&self) -> u64 {
        *lock(&self.rate_limited_total)
    }

    /// Posts `payload` to `webhook` with `?wait=true`, retrying 429s, 5xx and
    /// connection failures up to the attempt bound and within
    /// [`POST_BUDGET`]; a post whose outcome is unknown is not retried here.
    pub fn post(&self, webhook: &Webhook, payload: &Value) -> Delivery {
        self.send(webhook, payload, None, None)
    }

    /// Whether the last post of `payload` to `webhook` ended with an
    /// unknown outcome and waits for its one retry: the caller must then
    /// post the very same payload again (a different one would not be
    /// known as a retry, and could post its alerts twice).
    pub fn awaits_unknown_retry(&self, webhook: &Webhook, payload: &Value) -> bool {
        serde_json::to_vec(payload).is_ok_and(|b| lock(&self.unknown).contains_key(&(webhook.id(), digest(&b))))
    }

    /// Posts `payload` with `file` attached, as Discord's multipart form
    /// (`payload_json` and `files[0]`), with the rules of [`Sender::post`].
    pub fn post_with_file(&self, webhook: &Webhook, payload: &Value, file: &Attachment) -> Delivery {
        self.send(webhook, payload, None, Some(file))
    }

    /// Edits message `message_id` that `webhook` posted (Discord's Edit
    /// Webhook Message, `PATCH .../messages/{id}`) to `payload`, with the
    /// post's retry rules, except that an edit whose outcome is unknown is
    /// simply retried (making the same edit twice changes nothing), and a
    /// 404 is the message deleted unless Discord names the webhook
    /// (code 10015, Unknown Webhook).
    pub fn edit(&self, webhook: &Webhook, message_id: &str, payload: &Value) -> Delivery {
        self.send(webhook, payload, Some(message_id), None)
    }

    /// A post (`edit` None) or an edit of message `edit`, with a file or not.
    fn send(&self, webhook: &Webhook, payload: &Value, edit: Option<&str>, file: Option<&Attachment>) -> Delivery {
        let json = match serde_json::to_vec(payload) {
            Ok(b) => b,
            Err(e) => {
                let message = format!("payload is not serialisable: {e}");
                self.event(
                    log::Level::Error,
                    "discord_rejected",
                    Fields::new().text("webhook", webhook.id()).int("status", 0),
                );
                return Delivery::Rejected { status: 0, message };
            }
        };
        let (content_type, body) = match file {
            None => ("application/json".to_string(), json),
            Some(f) => multipart(&json, f),
        };
        let url = match edit {
            Some(message_id) => webhook.message_url(message_id),
            None => webhook.execute_url(),
        };
        let id = webhook.id();
        let key = (id, digest(&body));
        // An earlier post of this payload may have gone through: one more
        // try, and only once its delay has passed.
        let remembered = if edit.is_some() { None } else { lock(&self.unknown).get(&key).copied() };
        let retrying_unknown = match remembered {
            Some(u) if self.clock.elapsed() < u.retry_at => {
                let secs = (u.retry_at - self.clock.elapsed()).as_secs_f64().ceil();
                return Delivery::RetryLater {
                    reason: format!("outcome of the last post unknown; its one retry is due in {secs} s"),
                };
            }
            Some(_) => true,
            None => false,
        };
        if let Some(until) = lock(&self.resting).get(&id).copied().filter(|t| *t > self.clock.elapsed()) {
            let secs = (until - self.clock.elapsed()).as_secs_f64().ceil();
            return Delivery::RetryLater { reason: format!("the webhook's last post failed; it rests {secs} s more") };
        }
        let max_attempts = if retrying_unknown { 1 } else { self.max_attempts };
        let budget = Budget::new(self.clock.elapsed(), POST_BUDGET);
        let mut failures = 0u32;
        for attempt in 1..=max_attempts {
            match self.gate(id, &budget) {
                Ok(Gate::Go) => {}
                Ok(Gate::Later(wait)) => return self.deferred(id, wait),
                Err(Waited::Shutdown) => return self.shutdown(id),
                Err(Waited::Elapsed) => return self.give_up(id, "rate limited past the post's time budget".into()),
            }
            let last = attempt == max_attempts;
            let sent_at = self.clock.elapsed();
            let headers = [("User-Agent", USER_AGENT)];
            let answer = match edit {
                Some(_) => self.http.patch_json(&url, &headers, &body),
                None => self.http.post(&url, &headers, &content_type, &body),
            };
            // A retry is only worth starting if it can also take as long.
            let took = self.clock.elapsed().saturating_sub(sent_at);
            let resp = match answer {
                Ok(r) => r,
                Err(e) if edit.is_none() && outcome_unknown(&e) => {
                    return self.unknown_outcome(key, &e, webhook, retrying_unknown);
                }
                Err(e) if !e.is_transient() => {
                    lock(&self.unknown).remove(&key);
                    let message = webhook.redact(&e.to_string());
                    let fields = Fields::new().text("webhook", id).int("status", 0).text("error", &message);
                    self.event(log::Level::Error, "discord_rejected", fields);
                    return Delivery::Rejected { status: 0, message };
                }
                Err(e) => {
                    let reason = webhook.redact(&e.to_string());
                    let fields = Fields::new()
                        .text("webhook", id)
                        .int("attempt", attempt)
                        .int("max_attempts", max_attempts)
                        .text("error", &reason);
                    self.event(log::Level::Warn, "discord_transport_error", fields);
                    failures += 1;
                    if last {
                        return self.give_up(id, format!("{reason} ({attempt} attempts)"));
                    }
                    match self.retry_pause(self.backoff_for(failures), took, &budget) {
                        Ok(()) => continue,
                        Err(Waited::Shutdown) => return self.shutdown(id),
                        Err(Waited::Elapsed) => {
                            return self.give_up(id, format!("{reason} ({attempt} attempts, time budget spent)"));
                        }
                    }
                }
            };
            self.note_bucket(id, &resp);
            match resp.status {
                200..=299 => {
                    lock(&self.unknown).remove(&key);
                    let message_id = message_id(&resp);
                    let fields = Fields::new()
                        .text("webhook", id)
                        .int("status", resp.status)
                        .text("message_id", message_id.as_deref().unwrap_or("-"))
                        .int("attempt", attempt);
                    self.event(log::Level::Info, "discord_sent", fields);
                    return Delivery::Sent { message_id };
                }
                429 => {
                    *lock(&self.rate_limited_total) += 1;
                    let (wait, global) = retry_after(&resp);
                    let fields = Fields::new()
                        .text("webhook", id)
                        .int("retry_after_ms", wait.as_millis())
                        .flag("global", global)
                        .int("attempt", attempt)
                        .int("max_attempts", max_attempts);
                    self.event(log::Level::Warn, "discord_rate_limited", fields);
                    let until = self.clock.elapsed().saturating_add(wait);
                    if global {
                        let mut g = lock(&self.global_not_before);
                        *g = Some(g.map_or(until, |t| t.max(until)));
                    } else {
                        let mut map = lock(&self.not_before);
                        let t = map.entry(id).or_insert(until);
                        *t = (*t).max(until);
                    }
                    if last {
                        return self.give_up(id, format!("rate limited (429) on all {attempt} attempts"));
                    }
                }
                404 if edit.is_some() && discord_code(&resp) != Some(UNKNOWN_WEBHOOK) => {
                    self.event(
                        log::Level::Warn,
                        "discord_message_gone",
                        Fields::new().text("webhook", id).int("status", 404),
                    );
                    return Delivery::MessageGone;
                }
                404 => {
                    lock(&self.unknown).remove(&key);
                    self.event(
                        log::Level::Error,
                        "discord_webhook_gone",
                        Fields::new().text("webhook", id).int("status", 404),
                    );
                    return Delivery::WebhookGone;
                }
                // A redirect is a misconfigured URL (redirects are never followed), so
                // like a 4xx it cannot succeed by retrying.
                status @ 300..=499 => {
                    lock(&self.unknown).remove(&key);
                    let message = error_message(&resp, webhook);
                    let fields = Fields::new().text("webhook", id).int("status", status);
                    // Discord's own error code, when its body has one.
                    let fields = match discord_code(&resp) {
                        Some(code) => fields.int("code", code),
                        None => fields,
                    };
                    self.event(log::Level::Error, "discord_rejected", fields.text("message", &message));
                    return Delivery::Rejected { status, message };
                }
                status => {
                    let fields = Fields::new()
                        .text("webhook", id)
                        .int("status", status)
                        .int("attempt", attempt)
                        .int("max_attempts", max_attempts);
                    self.event(log::Level::Warn, "discord_server_error", fields);
                    failures += 1;
                    if last {
                        return self.give_up(id, format!("server error {status} ({attempt} attempts)"));
                    }
                    match self.retry_pause(self.backoff_for(failures), took, &budget) {
                        Ok(()) => {}
                        Err(Waited::Shutdown) => return self.shutdown(id),
                        Err(Waited::Elapsed) => {
                            return self
                                .give_up(id, format!("server error {status} ({attempt} attempts, time budget spent)"));
                        }
                    }
                }
            }
        }
        // The loop returns on its last attempt; reaching here means zero
        // attempts, which `with_max_attempts` prevents.
        self.give_up(id, "no attempt made".to_string())
    }

    /// Before a request: sleeps out a short rate limit on this webhook (or
    /// on all of them) if the budget allows; a long one defers the post.
    /// `Err(Elapsed)` when the wait would overrun the budget.
    fn gate(&self, id: u64, budget: &Budget) -> Result<Gate, Waited> {
        let Some(wait) = self.rate_limit_wait(id) else { return Ok(Gate::Go) };
        match Wait::of(wait) {
            Wait::Defer(d) => Ok(Gate::Later(d)),
            Wait::Sleep(d) => {
                let fields = Fields::new().text("webhook", id).int("wait_ms", d.as_millis());
                self.event(log::Level::Info, "discord_bucket_wait", fields);
                self.pause(d, budget).map(|()| Gate::Go)
            }
        }
    }

    /// The backoff `d` before a retry, slept only if the retry, taking as
    /// long as the attempt before it (`took`), still ends within the budget:
    /// a Discord that answers 500 after 8 s is not asked twice in one post.
    fn retry_pause(&self, d: Duration, took: Duration, budget: &Budget) -> Result<(), Waited> {
        if !budget.allows(self.clock.elapsed(), d.saturating_add(took)) {
            return Err(Waited::Elapsed);
        }
        self.pause(d, budget)
    }

    /// Sleeps `d` through the clock if the post's budget allows it.
    fn pause(&self, d: Duration, budget: &Budget) -> Result<(), Waited> {
        if !budget.allows(self.clock.elapsed(), d) {
            return Err(Waited::Elapsed);
        }
        match self.clock.wait(d) {
            Waited::Elapsed => Ok(()),
            Waited::Shutdown => Err(Waited::Shutdown),
        }
    }

    /// The post may have been made: remember it, and say "later" the first
    /// time and "give up" the second, so at most one extra copy goes out.
    fn unknown_outcome(&self, key: (u64, u64), e: &HttpError, webhook: &Webhook, retried: bool) -> Delivery {
        let id = key.0;
        let total = {
            let mut t = lock(&self.unknown_total);
            *t += 1;
            *t
        };
        let what = webhook.redact(&e.to_string());
        let mut unknown = lock(&self.unknown);
        if retried {
            unknown.remove(&key);
            drop(unknown);
            let fields = Fields::new()
                .text("webhook", id)
                .text("error", &what)
                .int("unknown_total", total)
                .text("action", "give_up");
            self.event(log::Level::Error, "discord_outcome_unknown", fields);
            return Delivery::Rejected {
                status: 0,
                message: format!("outcome unknown twice ({what}); not posted again so as not to post it twice"),
            };
        }
        if unknown.len() >= UNKNOWN_REMEMBERED {
            let oldest = unknown.iter().min_by_key(|(_, u)| u.retry_at).map(|(k, _)| *k);
            if let Some(k) = oldest {
                unknown.remove(&k);
            }
        }
        let retry_at = self.clock.elapsed().saturating_add(UNKNOWN_RETRY_DELAY);
        unknown.insert(key, Unknown { retry_at });
        drop(unknown);
        let fields = Fields::new()
            .text("webhook", id)
            .text("error", &what)
            .int("unknown_total", total)
            .text("action", "retry_once")
            .int("retry_after_s", UNKNOWN_RETRY_DELAY.as_secs());
        self.event(log::Level::Warn, "discord_outcome_unknown", fields);
        Delivery::RetryLater {
            reason: format!("outcome unknown ({what}); one retry after {} s", UNKNOWN_RETRY_DELAY.as_secs()),
        }
    }

    /// A rate limit too long to sleep inside a job: no request now.
    fn deferred(&self, id: u64, wait: Duration) -> Delivery {
        let secs = wait.as_secs_f64().ceil();
        self.event(log::Level::Info, "discord_deferred", Fields::new().text("webhook", id).num("wait_s", secs));
        Delivery::RetryLater { reason: format!("rate limited; webhook deferred for {secs} s") }
    }

    /// Gives the post up for now; the webhook rests for
    /// [`FAILING_WEBHOOK_PAUSE`], so a Discord that keeps failing costs one
    /// post's time per pause, not one per alert and per pass.
    fn give_up(&self, id: u64, reason: String) -> Delivery {
        self.event(log::Level::Warn, "discord_retry_later", Fields::new().text("webhook", id).text("reason", &reason));
        if !self.clock.shutdown().is_requested() {
            lock(&self.resting).insert(id, self.clock.elapsed().saturating_add(FAILING_WEBHOOK_PAUSE));
        }
        Delivery::RetryLater { reason }
    }

    fn shutdown(&self, id: u64) -> Delivery {
        self.give_up(id, "shutdown requested".to_string())
    }

    /// 1 s, 2 s, 4 s, ... capped at [`MAX_BACKOFF`].
    fn backoff_for(&self, failures: u32) -> Duration {
        backoff::backoff(self.backoff, MAX_BACKOFF, failures.saturating_sub(1))
    }

    /// How long before the next request to this webhook may go: the later
    /// of its own limit (an exhausted bucket, a 429) and a global 429's.
    fn rate_limit_wait(&self, id: u64) -> Option<Duration> {
        let now = self.clock.elapsed();
        let own = {
            let mut map = lock(&self.not_before);
            match map.get(&id) {
                Some(until) if *until > now => Some(*until),
                Some(_) => {
                    map.remove(&id);
                    None
                }
                None => None,
            }
        };
        let global = {
            let mut g = lock(&self.global_not_before);
            match *g {
                Some(until) if until > now => Some(until),
                Some(_) => {
                    *g = None;
                    None
                }
                None => None,
            }
        };
        own.max(global).map(|until| until - now)
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
            (Some(_), _) if resp.status != 429 => {
                map.remove(&id);
            }
            _ => {}
        }
    }

    /// Logs event `name` with its typed `fields` and keeps its text line
    /// among the recent events. The only way this module logs, so the
    /// token-free rule is checked in one place.
    fn event(&self, level: log::Level, name: &str, fields: Fields) {
        crate::logging::event(level, name, &fields);
        let mut events = lock(&self.events);
        if events.len() == RECENT_EVENTS {
            events.pop_front();
        }
        events.push_back(format!("event={name} {}", fields.to_text()));
    }
}

/// A poisoned lock only means a panic elsewhere; the map is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds as Discord writes them (`2.5`); `None` for anything else (an
/// HTTP date, garbage, a negative number).
fn seconds(v: &str) -> Option<Duration> {
    backoff::seconds(v.trim().parse::<f64>().ok()?)
}

/// Whether the request may have reached Discord although no answer came:
/// a timeout or a connection lost after connecting. A refused or failed
/// connection, or a URL that cannot work, certainly posted nothing.
fn outcome_unknown(e: &HttpError) -> bool {
    matches!(e, HttpError::Timeout(_) | HttpError::Io(_) | HttpError::Protocol(_) | HttpError::TooLarge(_))
}

/// Discord's multipart form for a message with a file: the JSON payload as
/// the `payload_json` part and the file as `files[0]`. The boundary is
/// derived from the content and lengthened until it occurs in neither part,
/// so the body is the same bytes for the same message.
pub fn multipart(json: &[u8], file: &Attachment) -> (String, Vec<u8>) {
    let mut boundary = format!("orakl-{:016x}", digest(json) ^ digest(&file.bytes));
    let occurs = |b: &str| {
        let needle = b.as_bytes();
        [json, file.bytes.as_slice()].iter().any(|part| part.windows(needle.len()).any(|w| w == needle))
    };
    while occurs(&boundary) {
        boundary.push('x');
    }
    // A quote or line break in the name would break the part's header.
    let name: String = file.name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
    let mut body = Vec::with_capacity(json.len() + file.bytes.len() + 512);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"payload_json\"\r\n");
    body.extend_from_slice(b"Content-Type: application/json\r\n\r\n");
    body.extend_from_slice(json);
    body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!("Content-Disposition: form-data; name=\"files[0]\"; filename=\"{name}\"\r\n").as_bytes(),
    );
    body.extend_from_slice(format!("Content-Type: {}\r\n\r\n", file.content_type).as_bytes());
    body.extend_from_slice(&file.bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A stable digest of a payload, to know a post again on a later pass
/// (SipHash with fixed keys: the same bytes give the same digest in every
/// process).
fn digest(body: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
}

/// The wait a 429 asks for: the body's `retry_after`, else the
/// `Retry-After` header, else one second; and whether it is global.
fn retry_after(resp: &Response) -> (Duration, bool) {
    let body: Option<Value> = serde_json::from_slice(&resp.body).ok();
    let global = body.as_ref().and_then(|b| b.get("global")).and_then(Value::as_bool).unwrap_or(false)
        || resp.header("x-ratelimit-global").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let from_body = body.as_ref().and_then(|b| b.get("retry_after")).and_then(Value::as_f64).and_then(backoff::seconds);
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

/// Discord's `message` from an error body, else the status's reason phrase;
/// the token redacted before the text is cut (so no part of it survives the
/// cut), without control characters or double quotes (it goes into a
/// quoted log field).
fn error_message(resp: &Response, webhook: &Webhook) -> String {
    let from_body = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .filter(|m| !m.trim().is_empty());
    let message = from_body.unwrap_or_else(|| status_text(resp.status));
    let message: String =
        message.chars().filter(|c| !c.is_control()).map(|c| if c == '"' { '\'' } else { c }).collect();
    http::excerpt(message.as_bytes(), webhook.token(), MAX_MESSAGE_CHARS)
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
        assert_eq!(retry_after(&r).0, Duration::from_secs(1_000_000_000));
        let r = resp(429, &[], r#"{"retry_after": -3}"#);
        assert_eq!(retry_after(&r).0, Duration::from_secs(1));
    }

    #[test]
    fn error_message_falls_back_to_the_status_text() {
        let w = Webhook::parse("X", "https://discord.com/api/webhooks/1/tok").unwrap();
        assert_eq!(
            error_message(&resp(400, &[], r#"{"message":"Invalid Form Body","code":50035}"#), &w),
            "Invalid Form Body"
        );
        assert_eq!(error_message(&resp(403, &[], "<html>"), &w), "Forbidden");
        assert_eq!(error_message(&resp(418, &[], ""), &w), "HTTP 418");
    }

    #[test]
    fn error_message_redacts_a_token_straddling_the_cut() {
        let token = "CANARYTOKEN0123456789";
        let w = Webhook::parse("X", &format!("https://discord.com/api/webhooks/1/{token}")).unwrap();
        let text = format!("{}{token}", "x".repeat(MAX_MESSAGE_CHARS - 5));
        let got = error_message(&resp(400, &[], &serde_json::json!({ "message": text }).to_string()), &w);
        assert!(!got.contains("CANA"), "{got}");
        assert!(got.chars().count() <= MAX_MESSAGE_CHARS + 1, "{got}");
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
