//! The layer's `Cookie` reads, fed arbitrary header bytes: never a panic;
//! the device cookie's scan offers exactly the values a reading of every
//! pair finds (split at `;`, trimmed, unquoted, empty ones skipped); the
//! public `DeviceCookie::find_all` answers those made of cookie-octets; the
//! gate's own cookies are made of cookie-octets; the first of several wins
//! for them.
#![no_main]

use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_otp::__fuzz;
use tower_otp::device::DeviceCookie;

const DEVICE: &str = "otp-AQEBAQEBAQEBAQEB";

fn cookie_octets(v: &[u8]) -> bool {
    !v.is_empty()
        && v.iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

/// Every value of `name`, reading each pair of each header in turn.
fn by_pairs<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
    let mut values = Vec::new();
    for header in headers.get_all(COOKIE) {
        for pair in header.as_bytes().split(|&b| b == b';') {
            let Some(value) = pair
                .trim_ascii()
                .strip_prefix(name.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
            else {
                continue;
            };
            let value = match value {
                [b'"', inner @ .., b'"'] => inner,
                _ => value,
            };
            if !value.is_empty() {
                values.push(value);
            }
        }
    }
    values
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let secure = flags & 1 == 1;
    // Several `Cookie` headers, split at NUL bytes (which a header cannot hold).
    let mut headers = HeaderMap::new();
    for part in rest.split(|&b| b == 0) {
        if let Ok(value) = HeaderValue::from_bytes(part) {
            headers.append(COOKIE, value);
        }
    }
    let scanned = __fuzz::scan_cookies(&headers, DEVICE.as_bytes(), secure);
    // The scan jumps from one occurrence of the name's prefix to the next,
    // yet finds what a reading of every pair finds.
    assert_eq!(scanned.device, by_pairs(&headers, DEVICE));
    for value in [scanned.probe, scanned.csrf, scanned.lang]
        .into_iter()
        .flatten()
    {
        assert!(cookie_octets(value.as_bytes()), "own cookie {value:?}");
    }
    // The public finder answers the device values a cookie value can hold.
    let public: Vec<&[u8]> = DeviceCookie::find_all(&headers, DEVICE)
        .map(str::as_bytes)
        .collect();
    let octets: Vec<&[u8]> = scanned
        .device
        .iter()
        .copied()
        .filter(|v| cookie_octets(v))
        .collect();
    assert_eq!(public, octets);
    // The probe is the first probe value that is well formed.
    let probe = __fuzz::probe_name(secure);
    let first = DeviceCookie::find(&headers, probe);
    if let Some(first) = first {
        assert!(scanned.probe.is_some(), "probe {first:?} missed");
    }
});
