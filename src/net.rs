//! Network addresses, the one place for their rules: which hosts count as
//! loopback (the only ones plain `http` may reach, since our requests carry
//! secrets), what an origin (`scheme://host[:port]`) is made of, and how
//! text is percent-coded in a URL. Used by the configuration check, the
//! Polygon client, the Discord webhook parser and the replay's router.

use std::fmt;
use std::net::IpAddr;

/// Why an origin was refused. Callers word it for their own setting and
/// never repeat the value (a webhook URL carries its token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// Not `scheme://...`, or a scheme other than `https` and `http`.
    Scheme,
    NoHost,
    /// `user@host`: credentials never go in a URL of ours.
    UserInfo,
    /// A port that is not a number in 0..=65535, or junk after `[v6]`.
    Port,
    /// Spaces or control characters in the host.
    BadChars,
    /// Plain `http` to a host that is not loopback.
    Insecure,
}

/// `scheme://host[:port]`, scheme and host in lower case, an IPv6 host in
/// its brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}://{}:{p}", self.scheme, self.host),
            None => write!(f, "{}://{}", self.scheme, self.host),
        }
    }
}

/// Splits `url` into its origin and the rest (path, query and fragment, as
/// written). `https` anywhere; `http` only to a loopback host.
pub fn origin(url: &str) -> Result<(Origin, &str), AddressError> {
    let (scheme, rest) = url.split_once("://").ok_or(AddressError::Scheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(AddressError::Scheme);
    }
    let (authority, rest) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(AddressError::UserInfo);
    }
    if authority.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
        return Err(AddressError::BadChars);
    }
    let (host, port) = split_host_port(authority).ok_or(AddressError::Port)?;
    if host.is_empty() {
        return Err(AddressError::NoHost);
    }
    let host = host.to_ascii_lowercase();
    if scheme == "http" && !is_loopback(&host) {
        return Err(AddressError::Insecure);
    }
    Ok((Origin { scheme, host, port }, rest))
}

/// Whether `authority` (`host[:port]`, `[v6][:port]`) names a loopback
/// host: `localhost`, 127.0.0.0/8 or `::1`, in any spelling of the address.
pub fn is_loopback_authority(authority: &str) -> bool {
    split_host_port(authority).is_some_and(|(host, _)| is_loopback(host))
}

/// Whether a host (`localhost`, `127.0.0.1`, `[::1]`) is loopback.
/// `localhost.evil.com` and `127.0.0.1.evil.com` are not.
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Splits `host[:port]` or `[v6][:port]`; `None` when the port is not a
/// number or something follows the brackets.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        let host = &authority[..end + 2];
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return None,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    match port {
        None => Some((host, None)),
        Some(p) => p.parse::<u16>().ok().map(|p| (host, Some(p))),
    }
}

/// Percent-encodes one path segment or query value. Letters, digits,
/// `-._~` and `:` stay as they are: Polygon's option and index tickers
/// (`O:SPY251121C00670000`, `I:SPX`) carry a colon, which RFC 3986 allows
/// and the API expects unescaped. A value of only dots is escaped so that
/// it can never mean "this" or "parent directory".
pub fn encode(s: &str) -> String {
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

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays, and
/// bytes that are not UTF-8 become U+FFFD.
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_in_every_spelling_and_nothing_else() {
        for (authority, want) in [
            ("127.0.0.1:80", true),
            ("localhost", true),
            ("LOCALHOST:1", true),
            ("[::1]:9000", true),
            ("[0:0:0:0:0:0:0:1]", true),
            ("127.5.5.5", true),
            ("10.0.0.1", false),
            ("example.com", false),
            ("localhost.evil.com", false),
            ("127.0.0.1.evil.com", false),
            ("[::2]", false),
            ("[::1]x", false),
        ] {
            assert_eq!(is_loopback_authority(authority), want, "{authority}");
        }
    }

    #[test]
    fn origins() {
        let (o, rest) = origin("HTTP://[::1]:8080/api?x#f").unwrap();
        assert_eq!((o.to_string(), rest), ("http://[::1]:8080".to_string(), "/api?x#f"));
        let (o, rest) = origin("https://Discord.com").unwrap();
        assert_eq!((o.to_string(), rest), ("https://discord.com".to_string(), ""));
        for (url, err) in [
            ("ftp://x", AddressError::Scheme),
            ("x", AddressError::Scheme),
            ("https:///p", AddressError::NoHost),
            ("https://u:p@h", AddressError::UserInfo),
            ("https://h:99999", AddressError::Port),
            ("https://h :1", AddressError::BadChars),
            ("http://example.com", AddressError::Insecure),
            ("http://127.0.0.1.evil.com", AddressError::Insecure),
        ] {
            assert_eq!(origin(url).err(), Some(err), "{url}");
        }
    }

    #[test]
    fn percent_coding_round_trips() {
        assert_eq!(encode("O:SPY251121C00670000"), "O:SPY251121C00670000");
        assert_eq!(encode("BRK.B"), "BRK.B");
        assert_eq!(encode("a/b c?d#e%"), "a%2Fb%20c%3Fd%23e%25");
        assert_eq!(encode(".."), "%2E%2E");
        for s in ["a/b c?d#e%", "..", "O:X", "é&="] {
            assert_eq!(decode(&encode(s)), s);
        }
        assert_eq!(decode("100%"), "100%");
    }
}
