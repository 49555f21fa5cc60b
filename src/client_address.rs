//! [`ClientAddress`]: where the gate finds the address of the client that
//! asks for a code, for the flow's per-client send budget.
//!
//! By default it is the peer of the TCP connection, which the server puts
//! in the request's extensions. Behind a reverse proxy that peer is the
//! proxy, and the client is named in a header the proxy sets
//! (`X-Forwarded-For`, `X-Real-IP`); that header is believed only as far as
//! the proxies the operator names as trusted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use http::{Extensions, HeaderMap, HeaderName};

use crate::error::ConfigError;

/// Where the gate finds the client's address, which the flow's per-client
/// send budget counts sends by (IPv6 clients by their /64 network). Set
/// with [`OtpLayer::with_client_address`](crate::OtpLayer::with_client_address);
/// the default is [`ClientAddress::socket`].
///
/// The address comes from the connection's peer, which the server must put
/// in the request's extensions: with axum, serve the app with
/// `into_make_service_with_connect_info::<SocketAddr>()`, which adds
/// `axum::extract::ConnectInfo<SocketAddr>`; with hyper or another server,
/// insert the peer's `std::net::SocketAddr` itself. When no peer is known,
/// no client address is either: the per-client budget does not apply, and
/// the layer logs a warning the first time it sends a code that way.
///
/// ```
/// use tower_otp::ClientAddress;
///
/// // Served directly: the connection's peer is the client.
/// let direct = ClientAddress::socket();
/// assert_eq!(direct, ClientAddress::default());
///
/// // Behind nginx on the same machine, or a load balancer in 10.0.0.0/8.
/// let proxied = ClientAddress::forwarded("x-forwarded-for", ["127.0.0.1", "::1", "10.0.0.0/8"])?;
/// # drop(proxied);
/// # Ok::<(), tower_otp::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientAddress {
    source: Source,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Source {
    /// The connection's peer.
    #[default]
    Socket,
    /// The header's addresses, walked from the right past trusted proxies.
    Forwarded {
        header: HeaderName,
        trusted: Vec<Network>,
    },
}

impl ClientAddress {
    /// The peer of the TCP connection: the default, for an application that
    /// browsers reach directly.
    ///
    /// The gate reads `axum::extract::ConnectInfo<SocketAddr>` (feature
    /// `axum`, present when the app is served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`), else a plain
    /// `std::net::SocketAddr` request extension (for hyper or another
    /// server, inserted by the application). An IPv4 client seen through an
    /// IPv6 socket (`::ffff:203.0.113.7`) counts as its IPv4 address.
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// use axum::{Router, routing::get};
    /// use tower_otp::{testing::CapturingMailer, ClientAddress, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// # async fn serve() -> std::io::Result<()> {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let otp = OtpLayer::new(flow).with_ticket_param("id").with_client_address(ClientAddress::socket());
    /// let app: Router = Router::new().route("/t/{id}", get(|| async { "ticket" })).route_layer(otp);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    /// # }
    /// ```
    pub fn socket() -> Self {
        Self::default()
    }

    /// The address a reverse proxy reports in `header`, believed only as
    /// far as `trusted_proxies` (IP addresses such as `"::1"`, or CIDR
    /// networks such as `"10.0.0.0/8"` and `"fd00::/8"`).
    ///
    /// `header` lists addresses, one (`x-real-ip`) or several separated by
    /// commas (`x-forwarded-for`, on one line or several), each proxy
    /// appending the address it received the request from. The gate starts
    /// from the connection's peer (read as [`socket`](ClientAddress::socket)
    /// does) and, while the address it holds is a trusted proxy, steps to
    /// the next address from the right end of the list; the first address
    /// that is not a trusted proxy is the client. So:
    ///
    /// - a peer that is not a trusted proxy is the client, and the header
    ///   is ignored: a client cannot name another address by sending it;
    /// - a client's own entries, on the left of what the proxies append,
    ///   are never reached;
    /// - when every address is a trusted proxy, or the walk meets an entry
    ///   that is not an address (garbage, `unknown`, an empty header), the
    ///   last address read, a trusted proxy's own, is the client: those
    ///   requests share that one budget rather than escaping it;
    /// - with no peer known, no address is: the header alone cannot be
    ///   trusted.
    ///
    /// Entries may carry a port (`203.0.113.7:5678`, `[2001:db8::7]:5678`),
    /// which is dropped. A network given with host bits (`10.1.2.3/8`)
    /// means the network they are in (`10.0.0.0/8`). The `Forwarded` header
    /// (`for=...`) is a different syntax and is not read.
    ///
    /// ```
    /// use tower_otp::{testing::CapturingMailer, ClientAddress, Flow, MemoryStore, OtpLayer, Secret};
    ///
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let nginx = ClientAddress::forwarded("x-forwarded-for", ["127.0.0.1", "::1"])?;
    /// let otp = OtpLayer::new(flow).with_client_address(nginx);
    /// assert!(ClientAddress::forwarded("x-forwarded-for", ["10.0.0.0/33"]).is_err());
    /// # drop(otp);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a header name that is not one (or is
    /// `Forwarded`), no trusted proxy, or a proxy that is not an IP address
    /// or a network, or whose prefix is over 32 (IPv4) or 128 (IPv6).
    pub fn forwarded(
        header: &str,
        trusted_proxies: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Self, ConfigError> {
        let header = HeaderName::from_bytes(header.trim().as_bytes())
            .ok()
            .filter(|name| *name != http::header::FORWARDED)
            .ok_or_else(|| {
                ConfigError::out_of_range(
                    "the client address header",
                    "a header name that lists addresses, such as x-forwarded-for or x-real-ip \
                     (Forwarded is not read)",
                )
            })?;
        let trusted = trusted_proxies
            .into_iter()
            .map(|proxy| Network::parse(proxy.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if trusted.is_empty() {
            return Err(ConfigError::out_of_range(
                "the trusted proxies",
                "at least one IP address or network, such as 127.0.0.1 or 10.0.0.0/8",
            ));
        }
        Ok(Self {
            source: Source::Forwarded { header, trusted },
        })
    }
}

/// The client's address under `config`, from the request's extensions (the
/// connection's peer) and headers; `None` when no peer is known.
pub(crate) fn client_of(
    config: &ClientAddress,
    extensions: &Extensions,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer(extensions)?;
    match &config.source {
        Source::Socket => Some(peer),
        Source::Forwarded { header, trusted } => Some(walk(peer, headers, header, trusted)),
    }
}

/// Logs, the first time `warned` is unset, that a code is sent with no
/// client address known, and how to give one. The address is never logged.
pub(crate) fn warn_unknown(warned: &AtomicBool) {
    if !warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "tower-otp sends codes or trusts first devices with no client address known, so \
             the per-client budgets are off: serve the app with into_make_service_with_connect_info::<SocketAddr>() \
             (or insert the peer's SocketAddr as a request extension), and behind a reverse \
             proxy set OtpLayer::with_client_address(ClientAddress::forwarded(..))"
        );
    }
}

/// The connection's peer, IPv4-mapped IPv6 addresses as IPv4.
fn peer(extensions: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip().to_canonical());
    }
    extensions
        .get::<SocketAddr>()
        .map(|addr| addr.ip().to_canonical())
}

/// From `peer`, steps right to left through `header`'s addresses while the
/// one held is a trusted proxy; stops at an entry that is not an address.
fn walk(peer: IpAddr, headers: &HeaderMap, header: &HeaderName, trusted: &[Network]) -> IpAddr {
    let mut hops = headers
        .get_all(header)
        .iter()
        .rev()
        // A value that is not visible ASCII is one bad entry.
        .flat_map(|value| value.to_str().unwrap_or("").rsplit(','));
    let mut current = peer;
    while trusted.iter().any(|network| network.contains(current)) {
        match hops.next().and_then(hop) {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// One entry of the list: an address, with or without a port
/// (`1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]`, `[::1]:5678`).
fn hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return v6
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| IpAddr::V6(ip).to_canonical());
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (v4, port) = entry.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && text.parse::<u16>().is_ok()
}

/// An IP network: its address with the host bits cleared, and its prefix.
/// IPv4-mapped IPv6 networks are kept as IPv4, as addresses are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `fd00::/8`, or one address (`::1`).
    fn parse(text: &str) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::out_of_range(
                "a trusted proxy",
                "an IP address or a network, such as 127.0.0.1, ::1, 10.0.0.0/8 or fd00::/8",
            )
        };
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix > max {
            return Err(ConfigError::out_of_range(
                "a trusted proxy's prefix",
                "at most 32 for IPv4 and 128 for IPv6",
            ));
        }
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        Ok(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

/// `ip` with all but its first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    let host_bits = |width: u8| u32::from(width - prefix.min(width));
    match ip {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(host_bits(32)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(host_bits(128)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}

#[cfg(test)]
mod tests;
