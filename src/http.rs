//! Blocking HTTP transport: the only module that names `ureq`.
//!
//! The Polygon client and the Discord sender both speak through [`Http`], so
//! the transport rules live once: a global per-request timeout (a stalled or
//! byte-a-second server cannot hang the loop), gzip, no redirects (a bearer
//! token must never follow a redirect to another host), non-2xx statuses
//! returned as data (a 429's body and headers stay readable), and error
//! messages that never repeat the URL (a webhook URL carries its token).

use std::time::Duration;

use crate::notify::Notifier;

/// Largest body we keep, counted after gzip decoding. A chain page of 250
/// contracts is well under 1 MB and a full 50,000-trade page about 10 MB;
/// anything near this is a misbehaving server, not data. ureq's own limit
/// counts the bytes on the wire, below its gzip decoder, so a small
/// compressed body could still inflate without bound: the limit is applied
/// here, to what the decoder hands out.
const MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;
/// Bytes read from the decoder at a time.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text, lossily; for error messages and logs.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Transport failures. None of them carries the request URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    /// The connection failed after it was made: the request may have been
    /// received (for a POST, its outcome is unknown).
    #[error("i/o error: {0}")]
    Io(String),
    #[error("response body larger than {0} bytes (after decoding)")]
    TooLarge(u64),
    #[error("invalid url")]
    BadUrl,
    #[error("protocol error: {0}")]
    Protocol(String),
    /// What answers in place of a server failed for good (a replay's tape
    /// is malformed): no retry can help, and it says nothing about the
    /// endpoint's health.
    #[error("{0}")]
    Source(String),
}

impl HttpError {
    /// Worth another attempt later (as opposed to a request that can never work).
    pub fn is_transient(&self) -> bool {
        !matches!(self, HttpError::BadUrl | HttpError::Source(_))
    }

    /// Worth repeating the same request at once. An oversize body is not:
    /// the server would most likely send it again, and downloading (and
    /// decoding) it again is exactly the cost the limit is there to stop.
    pub fn retry_now(&self) -> bool {
        !matches!(self, HttpError::BadUrl | HttpError::TooLarge(_) | HttpError::Source(_))
    }
}

pub struct Http {
    agent: ureq::Agent,
    timeout: Duration,
    notifier: Notifier,
}

impl Http {
    /// `timeout` bounds each request from connect to the last body byte.
    pub fn new(timeout: Duration, notifier: Notifier) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("orakl/", env!("CARGO_PKG_VERSION")))
            .build();
        Self { agent: config.into(), timeout, notifier }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        self.notifier.watchdog();
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req.call())
    }

    /// POST of `body` as `content_type` (a JSON body, a multipart form).
    /// A `User-Agent` among `headers` replaces the agent's own.
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        content_type: &str,
        body: &[u8],
    ) -> Result<Response, HttpError> {
        self.notifier.watchdog();
        let mut req = self.agent.post(url).header("Content-Type", content_type);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req.send(body))
    }

    /// PATCH with a JSON body (Discord's edit of a posted message).
    pub fn patch_json(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, HttpError> {
        self.notifier.watchdog();
        let mut req = self.agent.patch(url).header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req.send(body))
    }

    fn finish(&self, result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Response, HttpError> {
        let mut resp = result.map_err(|e| self.map_error(e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let reader = resp.body_mut().as_reader();
        let body = read_limited(reader, MAX_BODY_BYTES).map_err(|e| match e {
            ReadError::TooLarge => HttpError::TooLarge(MAX_BODY_BYTES),
            ReadError::Io(e) => self.map_io(e),
        })?;
        Ok(Response { status, headers, body })
    }

    /// ureq hands its own errors back through `std::io::Error` from a reader.
    /// A refused or unroutable connection is a `Connect` error: nothing was
    /// sent, which a POST's caller needs to know (see `Io`).
    fn map_io(&self, e: std::io::Error) -> HttpError {
        use std::io::ErrorKind as K;
        match e.downcast::<ureq::Error>() {
            Ok(inner) => self.map_error(inner),
            Err(e) => match e.kind() {
                K::TimedOut => HttpError::Timeout(self.timeout),
                K::ConnectionRefused | K::AddrNotAvailable | K::HostUnreachable | K::NetworkUnreachable => {
                    HttpError::Connect(e.kind().to_string())
                }
                kind => HttpError::Io(kind.to_string()),
            },
        }
    }

    /// Maps ureq's errors to ours by kind. The text of ureq's own messages is
    /// not reused wholesale because some of them quote the URL.
    fn map_error(&self, e: ureq::Error) -> HttpError {
        match e {
            ureq::Error::Timeout(_) => HttpError::Timeout(self.timeout),
            ureq::Error::HostNotFound => HttpError::Connect("host not found".into()),
            ureq::Error::ConnectionFailed => HttpError::Connect("connection refused or unreachable".into()),
            ureq::Error::Io(io) => self.map_io(io),
            ureq::Error::BodyExceedsLimit(n) => HttpError::TooLarge(n),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => HttpError::BadUrl,
            ureq::Error::Decompress(_, io) => HttpError::Io(format!("gzip: {}", io.kind())),
            ureq::Error::Tls(msg) => HttpError::Connect(format!("tls: {msg}")),
            ureq::Error::Rustls(err) => HttpError::Connect(format!("tls: {err}")),
            ureq::Error::Protocol(p) => HttpError::Protocol(p.to_string()),
            other => HttpError::Protocol(kind_name(&other)),
        }
    }
}

/// Every occurrence of `secret` in `text` replaced, for anything that came
/// back from a server (which may echo a header or a URL) and is about to be
/// logged or stored.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() { text.to_string() } else { text.replace(secret, "[redacted]") }
}

/// The first `max_chars` characters of a server's text with `secret`
/// redacted, and `…` when something was cut. Redacted before it is cut, so
/// a secret straddling the cut cannot survive in part. Reads only a window
/// of the body: each kept character uses at most 4 bytes, or a share of a
/// redacted secret, so a secret that begins past the window would begin
/// past the cut too; a body of megabytes is not copied for ten words.
pub fn excerpt(bytes: &[u8], secret: &str, max_chars: usize) -> String {
    let window = max_chars.saturating_mul(4 + secret.len()).saturating_add(secret.len());
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(window)]);
    let clean = redact(&text, secret);
    let mut short: String = clean.chars().take(max_chars).collect();
    if bytes.len() > window || clean.chars().nth(max_chars).is_some() {
        short.push('…');
    }
    short
}

enum ReadError {
    TooLarge,
    Io(std::io::Error),
}

/// Reads `reader` to its end, failing as soon as more than `limit` bytes
/// come out of it. The buffer never holds more than `limit` bytes, so
/// memory is bounded by the limit whatever the server sends, and the rest
/// of an oversize body is never read.
fn read_limited(mut reader: impl std::io::Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(body),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        if body.len() as u64 + n as u64 > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

/// A short, URL-free name for the remaining ureq error kinds.
fn kind_name(e: &ureq::Error) -> String {
    let dbg = format!("{e:?}");
    dbg.split(['(', ' ', '{']).next().unwrap_or("error").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_counts_what_the_reader_hands_out() {
        let body = vec![b'x'; 200_000];
        assert_eq!(read_limited(&body[..], 200_000).ok(), Some(body.clone()));
        assert!(matches!(read_limited(&body[..], 199_999), Err(ReadError::TooLarge)));
    }

    #[test]
    fn a_secret_straddling_the_cut_is_redacted_whole() {
        let secret = "CANARYKEY0123456789";
        for at in 60..90 {
            let text = format!("{}{secret} tail", "a".repeat(at));
            let got = excerpt(text.as_bytes(), secret, 80);
            for w in secret.as_bytes().windows(4) {
                let w = std::str::from_utf8(w).unwrap_or("");
                assert!(!got.contains(w), "at {at}: {got}");
            }
            assert!(got.chars().count() <= 81, "{got}");
        }
        assert_eq!(excerpt(b"short", secret, 80), "short");
        assert_eq!(excerpt(b"abcdef", "", 3), "abc…");
    }
}
