//! One browser holding many tickets: small cookies, each scoped to its own
//! ticket, so a request carries only the cookie that matters (checklist 7.5).

mod common;

use axum::body::Body;
use common::{Browser, Harness, ticket_path};
use cookie::Cookie;
use http::{Method, StatusCode};

/// RFC 6265 §5.1.4 path-match: does a cookie with `cookie_path` go with a request for `path`?
fn path_matches(cookie_path: &str, path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

/// Verifies `id` in `b` by code (the ticket's first device is someone else);
/// returns the device cookie it got.
async fn verify(h: &Harness, b: &mut Browser, id: &str, email: &str) -> Cookie<'static> {
    h.claim(id).await;
    let path = ticket_path(id);
    b.get(&path).await;
    let reply = b
        .post_form(&path, &[("action", "send"), ("email", email)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{id}: {}", reply.body);
    let code = h.last_code_for(email);
    let reply = b
        .post_form(&path, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{id}: {}", reply.body);
    // (`__Secure-otp-…` when Secure, `otp-…` otherwise.)
    reply
        .set_cookies()
        .into_iter()
        .find(|c| c.name().contains("otp-") && !c.value().is_empty())
        .expect("a device cookie")
}

#[tokio::test]
async fn twenty_tickets_in_one_browser_each_send_one_small_cookie() {
    let h = Harness::new();
    let mut b = h.browser();
    let ids: Vec<String> = (1..=20).map(|i| format!("t{i}")).collect();
    let mut cookies = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        // One address per ticket (a person's tickets may share one; the per-address cap is 10 an hour).
        let cookie = verify(&h, &mut b, id, &format!("p{i}@example.com")).await;
        assert_eq!(cookie.path(), Some(ticket_path(id).as_str()), "{id}");
        assert_eq!(cookie.domain(), None);
        assert_eq!(cookie.http_only(), Some(true));
        let size = cookie.name().len() + cookie.value().len();
        assert!(size < 3500, "{id}: {size} bytes");
        cookies.push(cookie);
    }
    let mut names: Vec<&str> = cookies.iter().map(Cookie::name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 20, "one cookie name per ticket");

    // All twenty sent at once (by a client that ignores Path) stay under a
    // proxy's 8 KB, and each ticket still opens among them.
    let all: Vec<String> = cookies
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    let all = all.join("; ");
    assert!(all.len() < 8 * 1024, "{} bytes", all.len());
    for id in &ids {
        let reply = Browser::on(h.app.clone())
            .send_with(
                Method::GET,
                &ticket_path(id),
                &[("cookie", &all)],
                Body::empty(),
            )
            .await;
        assert!(reply.is_ticket(), "{id}");
    }

    // A real browser sends only the cookies whose Path matches: exactly one per ticket
    // (`/tickets/t1` does not match `/tickets/t10`), and it opens the ticket.
    for (id, own) in ids.iter().zip(&cookies) {
        for path in [ticket_path(id), format!("{}/pdf", ticket_path(id))] {
            let sent: Vec<&Cookie<'_>> = cookies
                .iter()
                .filter(|c| path_matches(c.path().unwrap(), &path))
                .collect();
            assert_eq!(sent.len(), 1, "{path}: {:?}", sent);
            assert_eq!(sent[0].name(), own.name(), "{path}");
            let mut real = Browser::on(h.app.clone());
            real.set_cookie(own.name(), own.value());
            assert!(real.get(&path).await.is_ticket(), "{path}");
        }
    }
}

#[tokio::test]
async fn the_largest_cookie_stays_small() {
    // The longest ticket id the layer accepts, Secure names, a long lifetime.
    let h = Harness::with(|l| {
        l.with_cookie_secure(true)
            .with_device_lifetime(std::time::Duration::from_secs(400 * 24 * 3600))
            .unwrap()
    });
    let id = "x".repeat(256);
    let mut b = h.browser();
    let cookie = verify(&h, &mut b, &id, "a@example.com").await;
    assert!(cookie.name().starts_with("__Secure-"));
    assert_eq!(cookie.secure(), Some(true));
    let size = cookie.name().len() + cookie.value().len();
    assert!(size < 3500, "{size} bytes");
    assert!(size < 600, "{size} bytes: the claims hold no ticket id");
    assert!(!cookie.value().contains(&id[..16]));
    // A longer id is not a ticket the layer serves.
    let reply = b.get(&ticket_path(&"x".repeat(257))).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
