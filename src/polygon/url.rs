//! URL pieces for the Polygon client: which origins may receive the bearer
//! token (by the rules of [`crate::net`]), and how a server's `next_url` is
//! re-based onto the configured origin.

use crate::net::{self, AddressError};

/// Checks a base URL and returns its origin, `scheme://host[:port]`.
///
/// Only the origin is kept: Polygon's paths (including every `next_url`) are
/// absolute, so a base path could only be lost or doubled. Plain `http` is
/// accepted only to a loopback host (tests, a local replay server), because
/// the API key travels in a header that `http` would expose.
pub fn origin(base_url: &str) -> Result<String, String> {
    let (origin, rest) = net::origin(base_url.trim()).map_err(|e| match e {
        AddressError::Scheme => "base url must be an https:// url".to_string(),
        AddressError::NoHost => "base url has no host".into(),
        AddressError::UserInfo => "base url must not carry credentials".into(),
        AddressError::Port => "base url has an invalid port".into(),
        AddressError::BadChars => "base url host contains spaces or control characters".into(),
        AddressError::Insecure => "plain http is allowed only to a loopback host; use https".into(),
    })?;
    if !rest.is_empty() && rest != "/" {
        return Err("base url must not have a path, query or fragment".into());
    }
    Ok(origin.to_string())
}

/// Turns a server's `next_url` into a request target (path and query) for
/// the configured origin.
///
/// The path and query are kept verbatim (the cursor is opaque), but the
/// scheme and host are not trusted: a response must never be able to send
/// the bearer token to another host. An `apiKey` query parameter, which some
/// proxies echo back, is dropped so that the key never sits in a URL.
pub fn next_target(next_url: &str) -> Result<String, String> {
    let next = next_url.trim();
    let after_origin = match next.split_once("://") {
        Some((_, rest)) => match rest.find(['/', '?', '#']) {
            Some(i) => &rest[i..],
            None => "",
        },
        None => next,
    };
    let without_fragment = after_origin.split('#').next().unwrap_or("");
    if !without_fragment.starts_with('/') {
        return Err("next_url has no absolute path".into());
    }
    if without_fragment.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control() || !c.is_ascii()) {
        return Err("next_url contains characters that are not allowed in a url".into());
    }
    let (path, query) = match without_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (without_fragment, None),
    };
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| !kv.split('=').next().unwrap_or("").eq_ignore_ascii_case("apikey"))
        .collect();
    if kept.is_empty() { Ok(path.to_string()) } else { Ok(format!("{path}?{}", kept.join("&"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("https://api.polygon.io", Ok("https://api.polygon.io")),
            ("https://API.polygon.io/", Ok("https://api.polygon.io")),
            ("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080")),
            ("http://localhost:9", Ok("http://localhost:9")),
            ("http://[::1]:9", Ok("http://[::1]:9")),
            ("http://api.polygon.io", Err(())),
            ("https://api.polygon.io/v3", Err(())),
            ("https://user:pw@api.polygon.io", Err(())),
            ("ftp://api.polygon.io", Err(())),
            ("api.polygon.io", Err(())),
            ("https://", Err(())),
        ];
        for (input, want) in cases {
            let got = origin(input);
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{input}"),
                Err(()) => assert!(got.is_err(), "{input} gave {got:?}"),
            }
        }
    }

    #[test]
    fn next_targets() {
        let cases: &[(&str, Result<&str, ()>)] = &[
            (
                "https://api.massive.com/v3/snapshot/options/AAPL?cursor=YXA9MSZhcz0m",
                Ok("/v3/snapshot/options/AAPL?cursor=YXA9MSZhcz0m"),
            ),
            ("https://evil.example:444/v3/trades/X?cursor=c", Ok("/v3/trades/X?cursor=c")),
            ("/v3/trades/X?cursor=c#frag", Ok("/v3/trades/X?cursor=c")),
            ("https://h/v3/x?apiKey=SECRET&cursor=c", Ok("/v3/x?cursor=c")),
            ("https://h/v3/x?APIKEY=SECRET", Ok("/v3/x")),
            ("https://h", Err(())),
            ("https://h?cursor=c", Err(())),
            ("https://h/v3/x?cursor=a b", Err(())),
            ("cursor=abc", Err(())),
        ];
        for (input, want) in cases {
            let got = next_target(input);
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{input}"),
                Err(()) => assert!(got.is_err(), "{input} gave {got:?}"),
            }
        }
    }
}
