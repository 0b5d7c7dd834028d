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

/// Largest body we read. A chain page of 250 contracts is well under 1 MB;
/// anything near this is a misbehaving server, not data.
const MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

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
    #[error("i/o error: {0}")]
    Io(String),
    #[error("response body larger than {0} bytes")]
    TooLarge(u64),
    #[error("invalid url")]
    BadUrl,
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl HttpError {
    /// Worth another attempt later (as opposed to a request that can never work).
    pub fn is_transient(&self) -> bool {
        !matches!(self, HttpError::BadUrl)
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

    pub fn post_json(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, HttpError> {
        self.notifier.watchdog();
        let mut req = self.agent.post(url).header("Content-Type", "application/json");
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
        let body = resp.body_mut().with_config().limit(MAX_BODY_BYTES).read_to_vec().map_err(|e| self.map_error(e))?;
        Ok(Response { status, headers, body })
    }

    /// Maps ureq's errors to ours by kind. The text of ureq's own messages is
    /// not reused wholesale because some of them quote the URL.
    fn map_error(&self, e: ureq::Error) -> HttpError {
        match e {
            ureq::Error::Timeout(_) => HttpError::Timeout(self.timeout),
            ureq::Error::HostNotFound => HttpError::Connect("host not found".into()),
            ureq::Error::ConnectionFailed => HttpError::Connect("connection refused or unreachable".into()),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => HttpError::Timeout(self.timeout),
            ureq::Error::Io(io) => HttpError::Io(io.kind().to_string()),
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

/// A short, URL-free name for the remaining ureq error kinds.
fn kind_name(e: &ureq::Error) -> String {
    let dbg = format!("{e:?}");
    dbg.split(['(', ' ', '{']).next().unwrap_or("error").to_string()
}
