//! Every `Set-Cookie` the gate writes holds only the attributes it meant to
//! write, whatever the request path holds (a `;` in the ticket path once
//! became `Domain=` and `SameSite=None` on the probe cookie); and a ticket
//! URL whose path cannot be a cookie's `Path` gets no cookie at all (it once
//! got them on `Path=/`, so every such visit grew every later request to the
//! whole site).

mod common;

use axum::body::Body;
use common::{Browser, Harness};
use http::{Method, StatusCode};
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

/// The paths of [`HOSTILE`] that cannot be a cookie's `Path` as the browser
/// sent them (a raw `;`, `,` or `"`), and a plain id with a comma: the gate
/// sets no cookie on them, since the only scope left would be the whole site.
const UNSCOPABLE: &[&str] = &[
    "/tickets/x1;Domain=127.0.0.1;SameSite=None",
    "/tickets/x1;%20Domain=evil.example",
    "/tickets/x1;Secure=0;HttpOnly=0",
    "/tickets/x1;Path=/;Max-Age=999999999",
    "/tickets/x1,Domain=evil.example",
    "/tickets/x1\"Domain=evil\"",
    "/tickets/x1;/pdf",
    "/tickets/a,b",
];

/// The same characters percent-encoded, as browsers may send them: paths a
/// cookie can be scoped to, naming ids with `;`, `,` and `"`.
const SCOPABLE: &[&str] = &[
    "/tickets/x1%3BDomain=evil.example",
    "/tickets/a%2Cb",
    "/tickets/x1%22Domain=evil%22",
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

/// Asserts that `reply` sets no cookie.
fn assert_no_cookie(reply: &common::Reply, what: &str) {
    let set: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert!(set.is_empty(), "{what}: {set:?}");
}

/// The ticket id a path under the test pattern names, when it needs no decoding.
fn plain_id(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/tickets/")?;
    let id = rest.split('/').next()?;
    (!id.contains('%')).then_some(id)
}

#[tokio::test]
async fn an_unscopable_ticket_path_gets_no_cookie_and_no_mail() {
    for mode in [
        FirstDevice::Trust,
        FirstDevice::Challenge,
        FirstDevice::Confirm,
    ] {
        for secure in [false, true] {
            let h = Harness::with(|l| l.with_first_device(mode).with_cookie_secure(secure));
            for path in UNSCOPABLE {
                let what = format!("{mode:?} secure={secure} {path}");
                let mut b = h.browser();
                let page = b.get(path).await;
                assert_no_cookie(&page, &format!("GET {what}"));
                assert_eq!(page.status, StatusCode::NOT_FOUND, "GET {what}");
                let lang = b.get(&format!("{path}?otp_lang=ja")).await;
                assert_no_cookie(&lang, &format!("GET ?otp_lang {what}"));
                // The probe's return, marked, and with the probe cookie this
                // ticket's probe would have set.
                let marked = b.get(&format!("{path}?otp_probe=1")).await;
                assert_no_cookie(&marked, &format!("probe mark {what}"));
                if let Some(id) = plain_id(path) {
                    let key = h.key(id);
                    let name = if secure {
                        "__Secure-otp_probe"
                    } else {
                        "otp_probe"
                    };
                    let mut forged = h.browser();
                    forged.set_cookie(name, &key.as_str()[..16]);
                    let back = forged.get(&format!("{path}?otp_probe=1")).await;
                    assert_no_cookie(&back, &format!("probe return {what}"));
                    assert!(!back.is_ticket(), "probe return {what}: {back:?}");
                }
                let json = b.get_json(path).await;
                assert_no_cookie(&json, &format!("GET JSON {what}"));
                let send = b
                    .post_form(path, &[("action", "send"), ("email", "a@example.com")])
                    .await;
                assert_no_cookie(&send, &format!("POST send {what}"));
                let send = b
                    .post_json(
                        path,
                        serde_json::json!({ "action": "send", "email": "a@example.com" }),
                    )
                    .await;
                assert_no_cookie(&send, &format!("POST JSON send {what}"));
                assert!(
                    b.cookie_names().is_empty(),
                    "{what}: {:?}",
                    b.cookie_names()
                );
            }
            assert_eq!(h.mailer.count(), 0, "{mode:?}: no code is mailed");
        }
    }
}

#[tokio::test]
async fn sixty_unscopable_tickets_add_nothing_to_the_jar() {
    for mode in [FirstDevice::Trust, FirstDevice::Challenge] {
        let h = Harness::with(|l| l.with_first_device(mode));
        let mut b = h.browser();
        for i in 0..60 {
            let path = format!("/tickets/bloat{i};x");
            b.open(&path).await;
            b.submit(&path, &[("action", "send"), ("email", "a@example.com")])
                .await;
        }
        assert!(
            b.cookie_names().is_empty(),
            "{mode:?}: {:?}",
            b.cookie_names()
        );
        assert_eq!(h.mailer.count(), 0, "{mode:?}");
    }
}

#[tokio::test]
async fn scoped_paths_keep_their_own_path() {
    for path in SCOPABLE.iter().chain(&["/tickets/abc"]) {
        let h = Harness::new();
        let mut b = h.browser();
        let probe = b.get(path).await;
        let cookies = probe.set_cookies();
        let probe_cookie = cookies.iter().find(|c| c.name() == "otp_probe");
        assert_eq!(
            probe_cookie.and_then(|c| c.path()),
            Some(*path),
            "{path}: {cookies:?}"
        );
        let location = probe.header("location").unwrap().to_owned();
        let claimed = b.get(&location).await;
        let device = claimed.device_cookie().expect("a device cookie");
        assert_eq!(device.path(), Some(*path), "{path}");
    }
    // The CSRF cookie stays site-wide on a page the gate can scope.
    let h = Harness::with(|l| l.with_first_device(FirstDevice::Challenge));
    let page = h.browser().get("/tickets/abc").await;
    let csrf = page
        .set_cookies()
        .into_iter()
        .find(|c| c.name() == "otp_csrf");
    assert_eq!(
        csrf.and_then(|c| c.path().map(str::to_owned)),
        Some("/".into())
    );
}

#[tokio::test]
async fn an_encoded_separator_claims_only_its_own_ticket() {
    // `%3B` is the id's `;` as a browser may send it: a path a cookie can
    // be scoped to, so the ticket works and its cookie stays on its path.
    let h = Harness::new();
    let encoded = "/tickets/x1%3BDomain=127.0.0.1%3BSameSite=None";
    let mut b = h.browser();
    assert!(b.open(encoded).await.is_ticket());
    assert!(b.get(encoded).await.is_ticket());
    // Not even were its cookie sent to `/tickets/x1`.
    let cookie = b.cookie_header(encoded).expect("the ticket's cookie");
    let other = Browser::on(h.app.clone())
        .send_with(
            Method::GET,
            "/tickets/x1",
            &[("cookie", &cookie)],
            Body::empty(),
        )
        .await;
    assert_ne!(
        other.status,
        StatusCode::OK,
        "another ticket stays closed: {other:?}"
    );
    let mut stranger = h.browser();
    assert_eq!(stranger.get(encoded).await.status, StatusCode::UNAUTHORIZED);
}
