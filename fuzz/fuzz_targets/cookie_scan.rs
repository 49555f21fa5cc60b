//! The gate's one `Cookie` scan and the public `DeviceCookie::find_all`, fed
//! arbitrary header bytes: never a panic; both agree on every device value
//! made of cookie-octets; the gate's own cookies are made of cookie-octets;
//! the first of several wins for them.
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
    // The gate offers every non-empty device value to the token verifier,
    // which refuses anything but base64url and dots.
    for value in &scanned.device {
        assert!(!value.is_empty(), "an empty device value was offered");
    }
    for value in [scanned.probe, scanned.csrf, scanned.lang]
        .into_iter()
        .flatten()
    {
        assert!(cookie_octets(value.as_bytes()), "own cookie {value:?}");
    }
    // The public finder sees the same device values, in the same order,
    // except those a cookie value cannot hold (which no token is).
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
