//! URL pieces for the Polygon client, written by hand because they are few
//! and the rules are ours: which origins may receive the bearer token, how a
//! ticker becomes a path segment, and how a server's `next_url` is re-based
//! onto the configured origin.

/// Checks a base URL and returns its origin, `scheme://host[:port]`.
///
/// Only the origin is kept: Polygon's paths (including every `next_url`) are
/// absolute, so a base path could only be lost or doubled. Plain `http` is
/// accepted only to a loopback host (tests, a local replay server), because
/// the API key travels in a header that `http` would expose.
pub fn origin(base_url: &str) -> Result<String, String> {
    let base = base_url.trim();
    let (scheme, rest) = base.split_once("://").ok_or("base url needs a scheme (https://...)")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(format!("base url scheme must be https, not {scheme}"));
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !path.is_empty() && path != "/" {
        return Err("base url must not have a path, query or fragment".into());
    }
    if authority.is_empty() {
        return Err("base url has no host".into());
    }
    if authority.contains('@') {
        return Err("base url must not carry credentials".into());
    }
    if authority.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
        return Err("base url host contains spaces or control characters".into());
    }
    if scheme == "http" && !is_loopback(authority) {
        return Err("plain http is allowed only to a loopback host; use https".into());
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

fn is_loopback(authority: &str) -> bool {
    // Strip the port: `[::1]:8080`, `127.0.0.1:8080`, `localhost`.
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let host = host.to_ascii_lowercase();
    host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Percent-encodes one path segment. Letters, digits, `-._~` and `:` stay as
/// they are: Polygon's option and index tickers (`O:SPY251121C00670000`,
/// `I:SPX`) carry a colon, which RFC 3986 allows in a path segment and which
/// the API expects unescaped. A segment of only dots is escaped so that it
/// can never mean "parent directory".
pub fn segment(s: &str) -> String {
    let all_dots = !s.is_empty() && s.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b':') || (b == b'.' && !all_dots);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    fn segments() {
        assert_eq!(segment("O:SPY251121C00670000"), "O:SPY251121C00670000");
        assert_eq!(segment("I:SPX"), "I:SPX");
        assert_eq!(segment("BRK.B"), "BRK.B");
        assert_eq!(segment("a/b c?d#e%"), "a%2Fb%20c%3Fd%23e%25");
        assert_eq!(segment(".."), "%2E%2E");
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
