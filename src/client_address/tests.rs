use std::net::{IpAddr, SocketAddr};

use http::{Extensions, HeaderMap, HeaderName, HeaderValue};

use super::*;

/// How the connection's peer reaches the gate.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// No peer in the extensions.
    Unknown,
    /// `axum::extract::ConnectInfo<SocketAddr>` (or the plain extension
    /// without the `axum` feature).
    ConnectInfo(&'static str),
    /// A plain `SocketAddr` extension.
    Socket(&'static str),
}

fn extensions(peer: Peer) -> Extensions {
    let mut extensions = Extensions::new();
    let addr = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 40000);
    match peer {
        Peer::Unknown => {}
        #[cfg(feature = "axum")]
        Peer::ConnectInfo(ip) => {
            extensions.insert(axum::extract::ConnectInfo(addr(ip)));
        }
        #[cfg(not(feature = "axum"))]
        Peer::ConnectInfo(ip) => {
            extensions.insert(addr(ip));
        }
        Peer::Socket(ip) => {
            extensions.insert(addr(ip));
        }
    }
    extensions
}

fn headers(lines: &[(&str, &[u8])]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in lines {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    headers
}

const XFF: &str = "x-forwarded-for";

/// A case of the table: its name, the setting, the peer, the header lines
/// and the client address expected.
type Case<'a> = (
    &'static str,
    &'a ClientAddress,
    Peer,
    &'static [(&'static str, &'static [u8])],
    Option<&'static str>,
);

#[test]
fn client_of_table() {
    let socket = ClientAddress::socket();
    let xff =
        ClientAddress::forwarded(XFF, ["127.0.0.1", "10.0.0.0/8", "fd00::/8"]).expect("valid");
    let real_ip = ClientAddress::forwarded("X-Real-IP", ["127.0.0.1"]).expect("valid");
    let everything = ClientAddress::forwarded(XFF, ["0.0.0.0/0"]).expect("valid");
    let local = Peer::ConnectInfo("127.0.0.1");
    #[rustfmt::skip]
    let cases: &[Case<'_>] = &[
        // The socket's peer.
        ("socket v4", &socket, Peer::ConnectInfo("203.0.113.7"), &[], Some("203.0.113.7")),
        ("socket v6", &socket, Peer::ConnectInfo("2001:db8::7"), &[], Some("2001:db8::7")),
        ("plain SocketAddr extension", &socket, Peer::Socket("203.0.113.7"), &[], Some("203.0.113.7")),
        ("IPv4-mapped v6 as v4", &socket, Peer::ConnectInfo("::ffff:203.0.113.7"), &[], Some("203.0.113.7")),
        ("no socket", &socket, Peer::Unknown, &[], None),
        ("socket ignores the header", &socket, Peer::ConnectInfo("127.0.0.1"), &[(XFF, b"198.51.100.1")], Some("127.0.0.1")),
        // Behind trusted proxies.
        ("trusted proxy, 1 hop", &xff, local, &[(XFF, b"198.51.100.1")], Some("198.51.100.1")),
        ("trusted proxy, 3 hops", &xff, local, &[(XFF, b"198.51.100.1, 10.1.2.3, 10.4.5.6")], Some("198.51.100.1")),
        ("a client's own entries on the left are never reached", &xff, local, &[(XFF, b"192.0.2.9, 198.51.100.1, 10.4.5.6")], Some("198.51.100.1")),
        ("trusted v6 proxy", &xff, Peer::ConnectInfo("fd00::1"), &[(XFF, b"2001:db8::9")], Some("2001:db8::9")),
        ("trusted proxy seen as IPv4-mapped v6", &xff, Peer::ConnectInfo("::ffff:127.0.0.1"), &[(XFF, b"198.51.100.1")], Some("198.51.100.1")),
        ("plain SocketAddr peer behind a proxy", &xff, Peer::Socket("127.0.0.1"), &[(XFF, b"198.51.100.1")], Some("198.51.100.1")),
        ("IPv4-mapped v6 entry as v4", &xff, local, &[(XFF, b"::ffff:198.51.100.1")], Some("198.51.100.1")),
        ("spaces around entries", &xff, local, &[(XFF, b"  198.51.100.1  ,10.0.0.1 ")], Some("198.51.100.1")),
        // The header from anyone else.
        ("untrusted peer, spoofed header", &xff, Peer::ConnectInfo("203.0.113.7"), &[(XFF, b"198.51.100.1")], Some("203.0.113.7")),
        ("no socket, header alone", &xff, Peer::Unknown, &[(XFF, b"198.51.100.1")], None),
        // Nothing better than a trusted proxy: the last address read.
        ("all hops trusted", &xff, local, &[(XFF, b"10.0.0.1, 10.0.0.2")], Some("10.0.0.1")),
        ("every address trusted", &everything, Peer::ConnectInfo("203.0.113.7"), &[(XFF, b"198.51.100.1, 192.0.2.1")], Some("198.51.100.1")),
        ("trusted peer, no header", &xff, local, &[], Some("127.0.0.1")),
        ("trusted peer, empty header", &xff, local, &[(XFF, b"")], Some("127.0.0.1")),
        ("empty entry stops the walk", &xff, local, &[(XFF, b"198.51.100.1,,10.0.0.1")], Some("10.0.0.1")),
        ("garbage on the right stops the walk", &xff, local, &[(XFF, b"198.51.100.1, garbage")], Some("127.0.0.1")),
        ("garbage left of the client", &xff, local, &[(XFF, b"garbage, 198.51.100.1")], Some("198.51.100.1")),
        ("unknown", &xff, local, &[(XFF, b"unknown")], Some("127.0.0.1")),
        ("not visible ASCII", &xff, local, &[(XFF, b"198.51.100.1\xff")], Some("127.0.0.1")),
        ("zone id", &xff, local, &[(XFF, b"fe80::1%eth0")], Some("127.0.0.1")),
        // Ports.
        ("v4 with a port", &xff, local, &[(XFF, b"198.51.100.1:5678")], Some("198.51.100.1")),
        ("v6 with a port", &xff, local, &[(XFF, b"[2001:db8::1]:443")], Some("2001:db8::1")),
        ("bracketed v6", &xff, local, &[(XFF, b"[2001:db8::1]")], Some("2001:db8::1")),
        ("bare v6", &xff, local, &[(XFF, b"2001:db8::1")], Some("2001:db8::1")),
        ("port out of range", &xff, local, &[(XFF, b"198.51.100.1:99999")], Some("127.0.0.1")),
        ("two ports", &xff, local, &[(XFF, b"198.51.100.1:5:6")], Some("127.0.0.1")),
        ("empty port", &xff, local, &[(XFF, b"198.51.100.1:")], Some("127.0.0.1")),
        ("bracketed v4", &xff, local, &[(XFF, b"[198.51.100.1]:80")], Some("127.0.0.1")),
        // Repeated header lines: one list, the last line rightmost.
        ("repeated lines", &xff, local, &[(XFF, b"198.51.100.1"), (XFF, b"10.0.0.1, 10.0.0.2")], Some("198.51.100.1")),
        ("repeated lines, client on the last", &xff, local, &[(XFF, b"192.0.2.9"), (XFF, b"198.51.100.1")], Some("198.51.100.1")),
        // X-Real-IP: one address.
        ("x-real-ip", &real_ip, local, &[("x-real-ip", b"198.51.100.1")], Some("198.51.100.1")),
        ("x-real-ip from an untrusted peer", &real_ip, Peer::ConnectInfo("203.0.113.7"), &[("x-real-ip", b"198.51.100.1")], Some("203.0.113.7")),
        ("x-real-ip reads no other header", &real_ip, local, &[(XFF, b"198.51.100.1")], Some("127.0.0.1")),
    ];
    for (case, config, peer, lines, want) in cases {
        let got = client_of(config, &extensions(*peer), &headers(lines));
        let want = want.map(|ip| ip.parse::<IpAddr>().unwrap());
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn forwarded_refuses_what_is_not_a_proxy() {
    let refused: &[(&str, &[&str])] = &[
        ("x-forwarded-for", &["10.0.0.0/33"]),
        ("x-forwarded-for", &["::/129"]),
        ("x-forwarded-for", &["10.0.0.0/"]),
        ("x-forwarded-for", &["10.0.0.0/x"]),
        ("x-forwarded-for", &["10.0.0.0/+8"]),
        ("x-forwarded-for", &["10.0.0.0/0008"]),
        ("x-forwarded-for", &["10.0.0.0/8/8"]),
        ("x-forwarded-for", &["garbage"]),
        ("x-forwarded-for", &[""]),
        ("x-forwarded-for", &["127.0.0.1", "localhost"]),
        ("x-forwarded-for", &["[::1]"]),
        ("x-forwarded-for", &["127.0.0.1:80"]),
        ("x-forwarded-for", &[]),
        ("bad header", &["127.0.0.1"]),
        ("", &["127.0.0.1"]),
        ("Forwarded", &["127.0.0.1"]),
    ];
    for (header, proxies) in refused {
        let result = ClientAddress::forwarded(header, proxies.iter());
        assert!(
            matches!(result, Err(ConfigError::OutOfRange { .. })),
            "{header} {proxies:?}: {result:?}"
        );
    }
    let err = ClientAddress::forwarded(XFF, ["10.0.0.0/33"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a trusted proxy's prefix must be at most 32 for IPv4 and 128 for IPv6"
    );
}

#[test]
fn forwarded_accepts_addresses_and_networks() {
    let same = |a: &[&str], b: &[&str]| {
        assert_eq!(
            ClientAddress::forwarded(XFF, a).unwrap(),
            ClientAddress::forwarded(XFF, b).unwrap(),
            "{a:?} {b:?}"
        );
    };
    // Host bits name the network they are in; a single address is a /32 or /128.
    same(&["10.1.2.3/8"], &["10.0.0.0/8"]);
    same(&["127.0.0.1"], &["127.0.0.1/32"]);
    same(&["::1"], &["::1/128"]);
    same(&["fd12::1/8"], &["fd00::/8"]);
    // IPv4-mapped networks are IPv4 networks.
    same(&["::ffff:10.0.0.0/104"], &["10.0.0.0/8"]);
    same(&[" 10.0.0.0/8 "], &["10.0.0.0/8"]);
    same(&["0.0.0.0/0"], &["10.0.0.0/0"]);
    // The header's name in any case.
    assert_eq!(
        ClientAddress::forwarded("X-Forwarded-For", ["::1"]).unwrap(),
        ClientAddress::forwarded(XFF, ["::1"]).unwrap()
    );
    assert_eq!(ClientAddress::socket(), ClientAddress::default());
}

#[test]
fn networks_contain_their_addresses() {
    let cases = [
        ("10.0.0.0/8", "10.255.255.255", true),
        ("10.0.0.0/8", "11.0.0.0", false),
        ("10.0.0.0/8", "::ffff:10.0.0.1", false), // addresses are canonical before this
        ("192.168.1.0/24", "192.168.1.77", true),
        ("192.168.1.0/24", "192.168.2.1", false),
        ("0.0.0.0/0", "203.0.113.7", true),
        ("0.0.0.0/0", "2001:db8::1", false),
        ("fd00::/8", "fd12:3456::1", true),
        ("fd00::/8", "fe80::1", false),
        ("::/0", "2001:db8::1", true),
        ("::1", "::1", true),
        ("::1", "::2", false),
        ("2001:db8::/64", "2001:db8::ffff:1", true),
        ("2001:db8::/64", "2001:db8:0:1::1", false),
    ];
    for (network, ip, want) in cases {
        let network = Network::parse(network).unwrap();
        assert_eq!(
            network.contains(ip.parse().unwrap()),
            want,
            "{network:?} {ip}"
        );
    }
}

#[test]
fn the_unknown_client_warning_is_said_once() {
    let warned = AtomicBool::new(false);
    warn_unknown(&warned);
    assert!(warned.load(Ordering::Relaxed));
    warn_unknown(&warned);
    assert!(warned.load(Ordering::Relaxed));
}
