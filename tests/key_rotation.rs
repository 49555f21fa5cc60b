//! Rotating the device-token key, step by step as the README says, on the
//! flow's clock: cookies minted under the old key pass during the overlap
//! and are refused once it is retired; new cookies use the new key.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Browser, app};
use http::StatusCode;
use tower_otp::{
    DeviceKey, Flow, KeyRing, MemoryStore, OtpLayer, Secret, Timestamp, testing::CapturingMailer,
    testing::ManualClock,
};

const T: &str = "/tickets/abc";
const OLD: &str = "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f";
const NEW: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// One deployment: the same store and clock, this key ring.
/// The application vouches for its ticket ids (as a shop's would), so a
/// first device's claim and cookie last the full lifetime across the days
/// the rotation takes.
fn deploy(flow: &Flow, ring: KeyRing) -> axum::Router {
    let layer = OtpLayer::new(flow.clone())
        .with_ticket_path("/tickets/{ticket}")
        .unwrap()
        .with_ticket_validator(|_: &tower_otp::TicketId| true)
        .with_cookie_secure(false)
        .with_key_ring(ring);
    app().layer(layer)
}

/// The same browser (its cookie jar) on another deployment.
fn moved(browser: &Browser, app: &axum::Router) -> Browser {
    let mut moved = Browser::on(app.clone());
    moved.copy_cookies_from(browser);
    moved
}

/// The `kid` of the device cookie a browser holds.
fn kid(browser: &Browser) -> String {
    let token = browser.cookie_starting("otp-", T).expect("a device cookie");
    let header = URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotating_the_device_key_step_by_step() {
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let mailer = CapturingMailer::new();
    let flow =
        Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone()).with_clock(clock.clone());
    let old = || DeviceKey::from_hex("k1", OLD).unwrap();
    let new = || DeviceKey::from_hex("k2", NEW).unwrap();

    // Before: every instance signs with k1. The first device gets a k1 cookie.
    let v1 = deploy(&flow, KeyRing::new(old()));
    let mut first = Browser::on(v1.clone());
    assert!(first.open(T).await.is_ticket());
    assert_eq!(kid(&first), "k1");

    // Step 1: add k2 as accepted everywhere, still signing with k1.
    let v2 = deploy(&flow, KeyRing::new(old()).with_previous(new()).unwrap());
    assert!(moved(&first, &v2).get(T).await.is_ticket());

    // Step 2: make k2 current, keep k1 accepted: old cookies pass, new ones are k2.
    let v3 = deploy(&flow, KeyRing::new(new()).with_previous(old()).unwrap());
    clock.advance(Duration::from_secs(24 * 3600));
    let mut on_v3 = moved(&first, &v3);
    assert!(
        on_v3.get(T).await.is_ticket(),
        "a k1 cookie passes during the overlap"
    );
    assert_eq!(kid(&on_v3), "k1", "passing does not re-mint the cookie");
    let mut second = Browser::on(v3.clone());
    second.get(T).await;
    second
        .submit(T, &[("action", "send"), ("email", "a@example.com")])
        .await;
    let code = mailer.last_code().expect("a code was mailed");
    let page = second
        .submit(T, &[("action", "verify"), ("code", &code)])
        .await;
    assert!(page.is_ticket(), "{page:?}");
    assert_eq!(kid(&second), "k2", "new cookies use the new key");

    // Step 3: retire k1 (the README says: once the device lifetime has passed,
    // so no unexpired k1 cookie is left; here a day later, to show that
    // retirement alone refuses them).
    clock.advance(Duration::from_secs(24 * 3600));
    let v4 = deploy(&flow, KeyRing::new(new()));
    let refused = moved(&first, &v4).get(T).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "an unexpired k1 cookie is refused"
    );
    assert!(
        moved(&second, &v4).get(T).await.is_ticket(),
        "k2 cookies pass"
    );
}
