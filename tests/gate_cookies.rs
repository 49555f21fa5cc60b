//! Every `Set-Cookie` the gate writes holds only the attributes it meant to
//! write, whatever the request path holds (issue 11, finding 3: a `;` in the
//! ticket path once became `Domain=` and `SameSite=None` on the probe cookie).

mod common;

use common::Harness;
use http::StatusCode;
use tower_otp::FirstDevice;

/// Paths a hostile link could carry, each under the ticket pattern.
const HOSTILE: &[&str] = &[
    "/tickets/x1;Domain=127.0.0.1;SameSite=None",
    "/tickets/x1;%20Domain=evil.example",
    "/tickets/x1%3BDomain=evil.example",
    "/tickets/x1;Secure=0;HttpOnly=0",
    "/tickets/x1;Path=/;Max-Age=999999999",
    "/tickets/x1,Domain=evil.example",
    "/tickets/x1%0d%0aSet-Cookie:%20a=b",
    "/tickets/x1%09Domain=evil",
    "/tickets/%E2%80%A8x1",
    "/tickets/x1\"Domain=evil\"",
    "/tickets/x1;/pdf",
];

/// The attributes a gate cookie may carry, by name (lower case).
fn assert_only_our_attributes(set_cookie: &str, request_path: &str) {
    let mut parts = set_cookie.split(';').map(str::trim);
    let pair = parts.next().unwrap();
    assert!(pair.contains('='), "{set_cookie}");
    for attribute in parts {
        let (name, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        match name.to_ascii_lowercase().as_str() {
            "httponly" | "secure" => assert!(value.is_empty(), "{set_cookie}"),
            "samesite" => assert_eq!(value, "Lax", "{set_cookie}"),
            "max-age" => assert!(value.parse::<u64>().is_ok(), "{set_cookie}"),
            "path" => {
                assert!(value.starts_with('/'), "{set_cookie}");
                assert!(
                    request_path.starts_with(value),
                    "Path {value} is not a prefix of {request_path}: {set_cookie}"
                );
                assert!(!value.contains([';', ',', ' ', '"']), "{set_cookie}");
            }
            other => panic!("attribute {other:?} the gate never writes: {set_cookie}"),
        }
    }
}

#[tokio::test]
async fn hostile_paths_never_become_cookie_attributes() {
    for mode in [
        FirstDevice::Trust,
        FirstDevice::Challenge,
        FirstDevice::Confirm,
    ] {
        for secure in [false, true] {
            let h = Harness::with(|l| l.with_first_device(mode).with_cookie_secure(secure));
            for path in HOSTILE {
                let mut b = h.browser();
                // The probe, the CSRF and language cookies, the claim's device
                // cookie and the probe's removal: every response of the round trip.
                let mut replies = vec![b.get(path).await];
                replies.push(b.get(path).await);
                let with_lang = format!("{path}?otp_lang=ja");
                replies.push(b.get(&with_lang).await);
                for reply in &replies {
                    assert_ne!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
                    for value in reply.headers.get_all("set-cookie") {
                        let value = value.to_str().unwrap();
                        let raw_path = path.split('?').next().unwrap();
                        assert_only_our_attributes(value, raw_path);
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn a_hostile_path_still_claims_and_verifies_its_own_ticket_only() {
    // The device cookie then reaches the whole site (`Path=/`), which is
    // safe: it opens only the ticket it names.
    let h = Harness::new();
    let hostile = "/tickets/x1;Domain=127.0.0.1;SameSite=None";
    let mut b = h.browser();
    assert!(b.open(hostile).await.is_ticket());
    assert!(b.get(hostile).await.is_ticket());
    let other = b.get("/tickets/x1").await;
    assert_ne!(
        other.status,
        StatusCode::OK,
        "another ticket stays closed: {other:?}"
    );
    let mut stranger = h.browser();
    assert_eq!(stranger.get(hostile).await.status, StatusCode::UNAUTHORIZED);
}
