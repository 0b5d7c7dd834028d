//! A Discord webhook, parsed once from its URL.
//!
//! The URL's last path segment is a bearer secret: anyone holding it can post
//! to the channel. So a [`Webhook`] shows itself (Display, Debug, errors,
//! logs) only as its numeric id, and parse errors say what is wrong without
//! repeating any part of the value.

use std::fmt;

use crate::net::{self, AddressError};

/// Why a webhook URL was refused. Every message names the variable and never
/// contains the URL, the token or the id as written (a swapped id and token
/// would otherwise leak the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("{var} is empty")]
    Empty { var: String },
    #[error("{var} must be an https:// url (http:// only to a loopback host)")]
    Scheme { var: String },
    #[error("{var} uses http:// to a non-loopback host; use https:// (http is only for 127.0.0.0/8, ::1, localhost)")]
    Insecure { var: String },
    #[error("{var} has no host")]
    NoHost { var: String },
    #[error("{var} must not contain user info (`user@`) before the host")]
    UserInfo { var: String },
    #[error("{var} has an invalid port")]
    Port { var: String },
    #[error("{var} has spaces or control characters in its host")]
    Host { var: String },
    #[error("{var} path must be /api/webhooks/{{id}}/{{token}}")]
    Path { var: String },
    #[error("{var} webhook id must be numeric")]
    Id { var: String },
    #[error("{var} is missing the webhook token after the id")]
    MissingToken { var: String },
    #[error("{var} webhook token contains characters other than letters, digits, `-` and `_`")]
    Token { var: String },
    #[error("{var} thread_id must be numeric")]
    ThreadId { var: String },
}

/// A parsed execute-webhook endpoint.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Webhook {
    id: u64,
    /// `scheme://host[:port]`, lower-cased scheme and host.
    origin: String,
    /// The path as given, up to and including the token (no trailing slash).
    path: String,
    thread_id: Option<u64>,
    /// Kept separately so server text can be scrubbed of it.
    token: String,
}

impl Webhook {
    /// Parses the value of environment variable `var`. Surrounding whitespace
    /// (a trailing newline from a credentials file) is ignored.
    pub fn parse(var: &str, url: &str) -> Result<Webhook, WebhookError> {
        let err_var = || var.to_string();
        let url = url.trim();
        if url.is_empty() {
            return Err(WebhookError::Empty { var: err_var() });
        }
        let (origin, rest) = net::origin(url).map_err(|e| match e {
            AddressError::Scheme => WebhookError::Scheme { var: err_var() },
            AddressError::NoHost => WebhookError::NoHost { var: err_var() },
            AddressError::UserInfo => WebhookError::UserInfo { var: err_var() },
            AddressError::Port => WebhookError::Port { var: err_var() },
            AddressError::BadChars => WebhookError::Host { var: err_var() },
            AddressError::Insecure => WebhookError::Insecure { var: err_var() },
        })?;
        // The fragment never reaches the server; drop it first.
        let rest = rest.split('#').next().unwrap_or("");
        let (path, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };

        let (id, token, path) = parse_path(path).map_err(|e| e.with_var(var))?;
        let thread_id = match query {
            Some(q) => parse_thread_id(q).map_err(|_| WebhookError::ThreadId { var: err_var() })?,
            None => None,
        };
        Ok(Webhook { id, origin: origin.to_string(), path, thread_id, token })
    }

    /// The webhook's numeric id: the only part of it that may be shown.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The thread this webhook posts into, if the URL named one.
    pub fn thread_id(&self) -> Option<u64> {
        self.thread_id
    }

    /// The URL to POST to: `?wait=true` so Discord answers with the message
    /// (and its id) instead of an empty 204, plus the thread if any.
    pub fn execute_url(&self) -> String {
        let mut url = format!("{}{}?wait=true", self.origin, self.path);
        if let Some(t) = self.thread_id {
            url.push_str(&format!("&thread_id={t}"));
        }
        url
    }

    /// The URL to PATCH to edit message `message_id` that this webhook
    /// posted (Discord's Edit Webhook Message), in the webhook's thread if
    /// it has one.
    pub fn message_url(&self, message_id: &str) -> String {
        let mut url = format!("{}{}/messages/{message_id}", self.origin, self.path);
        if let Some(t) = self.thread_id {
            url.push_str(&format!("?thread_id={t}"));
        }
        url
    }

    /// `text` with every occurrence of the token replaced, for anything that
    /// came back from a server and is about to be logged or stored.
    pub fn redact(&self, text: &str) -> String {
        crate::http::redact(text, &self.token)
    }

    /// The secret, for redacting server text before it is cut.
    pub(super) fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Display for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "webhook {}", self.id)
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "webhook {}", self.id)
    }
}

/// Path problems before the variable name is known.
enum PathError {
    Shape,
    Id,
    MissingToken,
    Token,
}

impl PathError {
    fn with_var(self, var: &str) -> WebhookError {
        let var = var.to_string();
        match self {
            PathError::Shape => WebhookError::Path { var },
            PathError::Id => WebhookError::Id { var },
            PathError::MissingToken => WebhookError::MissingToken { var },
            PathError::Token => WebhookError::Token { var },
        }
    }
}

/// Accepts `/api/webhooks/{id}/{token}` and `/api/v{N}/webhooks/{id}/{token}`,
/// with at most a trailing slash. Anything after the token is refused: the
/// `/slack` and `/github` suffixes are different endpoints with other bodies.
fn parse_path(path: &str) -> Result<(u64, String, String), PathError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = trimmed.split('/').collect();
    // segments[0] is the empty string before the leading slash.
    let rest = match segments.as_slice() {
        ["", "api", "webhooks", rest @ ..] => rest,
        ["", "api", version, "webhooks", rest @ ..] if is_api_version(version) => rest,
        _ => return Err(PathError::Shape),
    };
    let (id, token) = match rest {
        [id] => (*id, ""),
        [id, token] => (*id, *token),
        _ => return Err(PathError::Shape),
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PathError::Id);
    }
    let id = id.parse::<u64>().map_err(|_| PathError::Id)?;
    if token.is_empty() {
        return Err(PathError::MissingToken);
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(PathError::Token);
    }
    Ok((id, token.to_string(), trimmed.to_string()))
}

fn is_api_version(s: &str) -> bool {
    s.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Keeps `thread_id`; drops `wait` (the sender always sets it) and any other
/// parameter, which the execute endpoint would not use for our JSON body.
fn parse_thread_id(query: &str) -> Result<Option<u64>, ()> {
    let mut thread = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "thread_id" {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            thread = Some(v.parse::<u64>().map_err(|_| ())?);
        }
    }
    Ok(thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_keeps_port_and_ipv6_brackets() {
        let w = Webhook::parse("X", "http://[::1]:8080/api/webhooks/1/t").unwrap();
        assert_eq!(w.execute_url(), "http://[::1]:8080/api/webhooks/1/t?wait=true");
        let w =
            Webhook::parse("X", "HTTPS://Discord.com/api/v10/webhooks/42/abc_DEF-1/?wait=false&thread_id=7").unwrap();
        assert_eq!(w.execute_url(), "https://discord.com/api/v10/webhooks/42/abc_DEF-1?wait=true&thread_id=7");
        assert_eq!(w.thread_id(), Some(7));
        assert_eq!(w.message_url("99"), "https://discord.com/api/v10/webhooks/42/abc_DEF-1/messages/99?thread_id=7");
    }

    #[test]
    fn suffixed_endpoints_and_bad_ports_are_refused() {
        let e = Webhook::parse("X", "https://discord.com/api/webhooks/1/tok/slack").unwrap_err();
        assert_eq!(e, WebhookError::Path { var: "X".into() });
        let e = Webhook::parse("X", "https://discord.com:99999/api/webhooks/1/tok").unwrap_err();
        assert_eq!(e, WebhookError::Port { var: "X".into() });
        let e = Webhook::parse("X", "http://127.0.0.1.evil.com/api/webhooks/1/tok").unwrap_err();
        assert_eq!(e, WebhookError::Insecure { var: "X".into() });
    }

    #[test]
    fn redact_scrubs_the_token() {
        let w = Webhook::parse("X", "https://discord.com/api/webhooks/1/s3cr3t").unwrap();
        assert_eq!(w.redact("bad s3cr3t here"), "bad [redacted] here");
    }
}
