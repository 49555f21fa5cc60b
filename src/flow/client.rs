//! The client a send is counted by: an IPv4 address, or an IPv6 /64.

use std::net::IpAddr;

/// The bytes that name `ip`'s client for the per-client budget: the four
/// octets of an IPv4 address (an IPv4-mapped IPv6 address is read as the
/// IPv4 address), or the first 64 bits of an IPv6 address (one subscriber's
/// network: a client with a /64 may use any of its addresses). A leading tag
/// keeps the two kinds apart.
pub(crate) fn client_network(ip: IpAddr) -> ([u8; 9], usize) {
    let mut out = [0u8; 9];
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&v4.octets());
            (out, 5)
        }
        IpAddr::V6(v6) => {
            out[0] = 6;
            out[1..9].copy_from_slice(&v6.octets()[..8]);
            (out, 9)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_network;

    fn net(ip: &str) -> Vec<u8> {
        let (bytes, len) = client_network(ip.parse().unwrap());
        bytes[..len].to_vec()
    }

    #[test]
    fn one_client_per_ipv4_address_and_per_ipv6_64() {
        let cases = [
            // (a, b, same client)
            ("203.0.113.7", "203.0.113.7", true),
            ("203.0.113.7", "203.0.113.8", false),
            ("::ffff:203.0.113.7", "203.0.113.7", true),
            ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true),
            ("2001:db8:1:2::1", "2001:db8:1:3::1", false),
            ("::cb00:7107", "203.0.113.7", false),
            ("0.0.0.4", "4::", false),
        ];
        for (a, b, same) in cases {
            assert_eq!(net(a) == net(b), same, "{a} vs {b}");
        }
    }
}
