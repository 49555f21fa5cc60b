//! The client's address on the gate's sends: a browser that connects with a
//! peer address and one without both get their code, and the layer says
//! once when it sends with no address known. Which address is the client's
//! (the socket's peer, past trusted proxies) is the table in
//! `src/client_address/tests.rs`.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{Harness, Logs, post_send};
use http::StatusCode;
use tower_otp::ClientAddress;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7));
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Also the warning of a send (or an unvouched claim) with no client
/// address: said once per layer, and only then. (One test: `tracing` may miss an event whose callsite a
/// test on another thread registers at the same moment.)
#[tokio::test]
async fn a_send_with_a_client_address_and_one_without_both_succeed() {
    // Vouched-for ids: the throwaway first devices' claims (made with no
    // address) are not counted per client, so only the sends can warn.
    let h = Harness::with(|layer| layer.with_ticket_validator(|_: &tower_otp::TicketId| true));
    let (logs, _guard) = Logs::capture();
    let warned = |logs: &Logs| {
        logs.warnings()
            .iter()
            .filter(|line| line.contains("no client address known"))
            .count()
    };
    let cases = [
        ("v4", Some(V4), "v4@example.com", 0),
        ("v6", Some(V6), "v6@example.com", 0),
        ("none", None, "none@example.com", 1),
        ("again", None, "again@example.com", 1),
    ];
    for (ticket, client, email, warnings) in cases {
        let path = format!("/tickets/{ticket}");
        h.claim(ticket).await;
        let mut browser = h.test_browser();
        if let Some(ip) = client {
            browser = browser.with_client_address(ip);
        }
        let sent = post_send(&mut browser, &path, Some(email)).await;
        assert_eq!(
            sent.status(),
            StatusCode::SEE_OTHER,
            "{ticket}: {}",
            sent.text()
        );
        assert_eq!(sent.header("location"), Some(path.as_str()), "{ticket}");
        let code = browser.code_for(email).expect("a code was mailed");
        let verified = browser.enter_code(&code).await;
        assert!(verified.text().starts_with(common::TICKET_BODY), "{ticket}");
        assert_eq!(warned(&logs), warnings, "{ticket}: {}", logs.text());
    }
    assert!(
        logs.text().contains("into_make_service_with_connect_info"),
        "the warning says how to give an address"
    );

    // A first-device claim of an id no validator vouches for, with no
    // address known, says so too, once per layer.
    let unvouched = Harness::new();
    unvouched.claim("first").await;
    unvouched.claim("second").await;
    assert_eq!(warned(&logs), 2, "{}", logs.text());
}

#[tokio::test]
async fn a_send_behind_a_trusted_proxy_succeeds() {
    let proxy = ClientAddress::forwarded("x-forwarded-for", ["127.0.0.1"]).expect("valid");
    // Vouched-for ids: the throwaway first device (no address) does not
    // warn, which would race the warning test's capture on another thread.
    let h = Harness::with(|layer| {
        layer
            .with_client_address(proxy)
            .with_ticket_validator(|_: &tower_otp::TicketId| true)
    });
    h.claim("abc").await;
    let mut browser = h
        .test_browser()
        .with_client_address(PROXY)
        .with_header("x-forwarded-for", "198.51.100.1");
    let sent = post_send(&mut browser, "/tickets/abc", Some("buyer@example.com")).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER, "{}", sent.text());
    assert!(browser.code_for("buyer@example.com").is_some());
}
