//! The gate's one `Cookie` scan and the public `DeviceCookie::find_all`, fed
//! arbitrary header bytes: never a panic; both agree on every device value;
//! every value found is made of cookie-octets; the first of several wins for
//! the gate's own cookies.
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
    for value in &scanned.device {
        assert!(cookie_octets(value), "device value {value:?}");
    }
    for value in [scanned.probe, scanned.csrf, scanned.lang]
        .into_iter()
        .flatten()
    {
        assert!(cookie_octets(value.as_bytes()), "own cookie {value:?}");
    }
    // The public finder sees the same device values, in the same order.
    let public: Vec<&[u8]> = DeviceCookie::find_all(&headers, DEVICE)
        .map(str::as_bytes)
        .collect();
    assert_eq!(public, scanned.device);
    // The probe is the first probe value that is well formed.
    let probe = __fuzz::probe_name(secure);
    let first = DeviceCookie::find(&headers, probe);
    if let Some(first) = first {
        assert!(scanned.probe.is_some(), "probe {first:?} missed");
    }
});
