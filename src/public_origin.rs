//! The site's public origin: the scheme and host browsers use, as the
//! operator names it (never read from a request).

use std::net::Ipv6Addr;

use crate::error::ConfigError;

/// An origin in the form browsers send in `Origin`: `https://host` or
/// `https://host:port`, lower-cased, the host in ASCII (IDNA), without the
/// scheme's default port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicOrigin {
    origin: String,
    https: bool,
}

impl PublicOrigin {
    /// Parses `https://tickets.example` (or `http://`, a port, a trailing
    /// `/`). Refused: other schemes, user info, a path, a query, a fragment,
    /// a malformed host or port.
    pub(crate) fn parse(origin: &str) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::out_of_range(
                "public origin",
                "a scheme (https or http) and a host, with an optional port and nothing \
                 after it, such as https://tickets.example",
            )
        };
        let (scheme, rest) = origin.split_once("://").ok_or_else(bad)?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad()),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty()
            || authority
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "/?#@\\".contains(c))
        {
            return Err(bad());
        }
        let (host, port) = split_port(authority).ok_or_else(bad)?;
        let host = ascii_host(host).ok_or_else(bad)?;
        let default_port = if https { 443 } else { 80 };
        let scheme = if https { "https" } else { "http" };
        let origin = match port {
            Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
            _ => format!("{scheme}://{host}"),
        };
        Ok(Self { origin, https })
    }

    /// `https://host[:port]`, as a browser's `Origin` header spells it.
    pub(crate) fn as_str(&self) -> &str {
        &self.origin
    }

    /// Whether the site is served over HTTPS.
    pub(crate) fn is_https(&self) -> bool {
        self.https
    }
}

/// `host` and `port` of `host[:port]` or `[v6][:port]`; `None` for a port
/// that is not 1-65535.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let port_from = |text: &str| {
        let ok = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| text.parse::<u16>().ok())
            .flatten()
            .filter(|p| *p != 0)
    };
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(port_from(rest.strip_prefix(':')?)?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port_from(port)?))),
        None => Some((authority, None)),
    }
}

/// The host in the ASCII form browsers put in `Origin`: an IPv6 address in
/// brackets, compressed; a domain (or IPv4 address) lower-cased, in IDNA
/// (`xn--`) form, of labels of letters, digits and hyphens.
fn ascii_host(host: &str) -> Option<String> {
    if let Some(v6) = host.strip_prefix('[') {
        let address: Ipv6Addr = v6.strip_suffix(']')?.parse().ok()?;
        return Some(format!("[{address}]"));
    }
    let ascii = idna::domain_to_ascii(host).ok()?;
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    (ascii.len() <= 253 && ascii.split('.').all(label_ok)).then_some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_read_as_browsers_send_them() {
        let cases = [
            ("https://tickets.example", "https://tickets.example", true),
            ("https://tickets.example/", "https://tickets.example", true),
            ("HTTPS://Tickets.EXAMPLE", "https://tickets.example", true),
            (
                "https://tickets.example:443",
                "https://tickets.example",
                true,
            ),
            (
                "https://tickets.example:8443",
                "https://tickets.example:8443",
                true,
            ),
            ("http://localhost:8080", "http://localhost:8080", false),
            ("http://tickets.example:80", "http://tickets.example", false),
            ("https://127.0.0.1:3443", "https://127.0.0.1:3443", true),
            ("https://[::1]:3443", "https://[::1]:3443", true),
            ("https://[0:0::1]", "https://[::1]", true),
            (
                "https://チケット.example",
                "https://xn--rck5ahu.example",
                true,
            ),
        ];
        for (input, want, https) in cases {
            let origin = PublicOrigin::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(origin.as_str(), want, "{input}");
            assert_eq!(origin.is_https(), https, "{input}");
        }
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        let cases = [
            "",
            "tickets.example",
            "//tickets.example",
            "https://",
            "https:///",
            "ftp://tickets.example",
            "wss://tickets.example",
            "https://tickets.example/tickets",
            "https://tickets.example//",
            "https://tickets.example?x=1",
            "https://tickets.example#top",
            "https://user@tickets.example",
            "https://user:pass@tickets.example",
            "https://tickets.example:",
            "https://tickets.example:0",
            "https://tickets.example:65536",
            "https://tickets.example:+443",
            "https://tickets.example:44a",
            "https://tickets .example",
            "https://tickets.example\r\nX: y",
            " https://tickets.example",
            "https://tickets..example",
            "https://tickets.example.",
            "https://-tickets.example",
            "https://tickets_x.example",
            "https://tickets\\.example",
            "https://[::1",
            "https://[nope]",
            "https://[::1]x",
            "https://[::1]:",
        ];
        for input in cases {
            let err = PublicOrigin::parse(input).expect_err(input);
            assert!(
                err.to_string().starts_with("public origin must be"),
                "{input}: {err}"
            );
        }
    }
}
