//! Rows of the security checklist (mapped in SECURITY.md) that had no test
//! of their own. Each test names its row.

mod common;

use std::fs;
use std::path::Path;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::json;

use common::{Browser, Harness, ticket_path};

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// `(major, minor, patch)` of every locked version of `name`.
fn locked_versions(lock: &str, name: &str) -> Vec<(u64, u64, u64)> {
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &lock[at + needle.len()..];
            let version = &rest[..rest.find('"').unwrap()];
            let mut parts = version.split(['.', '-']).map(|p| p.parse().unwrap_or(0));
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        })
        .collect()
}

/// Rows 5.2, 8.7, 8.11: patched lettre (≥0.11.22, no `boring-tls`),
/// jsonwebtoken ≥10.3.0 (CVE-2026-25537) with the `aws_lc_rs` backend (no `rsa`).
#[test]
fn row_5_2_8_7_8_11_dependency_floors() {
    let lock = read("Cargo.lock");
    let lettre = locked_versions(&lock, "lettre");
    assert!(
        !lettre.is_empty() && lettre.iter().all(|v| *v >= (0, 11, 22)),
        "{lettre:?}"
    );
    let jwt = locked_versions(&lock, "jsonwebtoken");
    assert!(
        !jwt.is_empty() && jwt.iter().all(|v| *v >= (10, 3, 0)),
        "{jwt:?}"
    );
    assert!(
        locked_versions(&lock, "boring").is_empty(),
        "boring-tls is never linked"
    );
    let manifest = read("Cargo.toml");
    let jwt_line = manifest
        .lines()
        .find(|l| l.starts_with("jsonwebtoken"))
        .unwrap();
    assert!(jwt_line.contains("aws_lc_rs") && jwt_line.contains("default-features = false"));
    let lettre_line = manifest.lines().find(|l| l.starts_with("lettre")).unwrap();
    assert!(!lettre_line.contains("boring") && !manifest.contains("lettre/boring"));
    assert!(!manifest.contains("sendmail-transport"));
}

/// Row 8.10: no unverified decoding anywhere in the library.
#[test]
fn row_8_10_no_insecure_decode_in_the_library() {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files += 1;
                let text = fs::read_to_string(&path).unwrap();
                for banned in ["insecure_decode", "dangerous::", "decode_header("] {
                    assert!(!text.contains(banned), "{} uses {banned}", path.display());
                }
            }
        }
    }
    assert!(files > 20, "the walk found the sources");
}

/// Row 3.4: limits are keyed on the ticket: a new `X-Forwarded-For` (or
/// `X-Real-IP`, `Forwarded`) on every guess buys no fresh budget.
#[tokio::test]
async fn row_3_4_rotating_forwarded_for_buys_no_budget() {
    let h = Harness::new();
    h.claim("xff").await;
    let (_, code) = h.sent("xff", "a@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let path = ticket_path("xff");
    let mut statuses = Vec::new();
    for i in 0..8 {
        let ip = format!("203.0.113.{i}");
        let request = Browser::request(Method::POST, &path)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("x-forwarded-for", ip.as_str())
            .header("x-real-ip", ip.as_str())
            .header("forwarded", format!("for={ip}"))
            .body(Body::from(
                json!({"action": "verify", "code": wrong}).to_string(),
            ))
            .unwrap();
        statuses.push(h.browser().send(request).await.status);
    }
    let evaluated = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!(evaluated, 5, "{statuses:?}");
    assert_eq!(statuses[7], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.state("xff").await.attempts_left, 0);
}

/// Row 7.10: a code in the query string is never read: the GET answers the
/// challenge page, consumes nothing, counts nothing and sets no device cookie.
#[tokio::test]
async fn row_7_10_a_code_in_the_url_is_ignored() {
    let h = Harness::new();
    h.claim("query").await;
    let (_, code) = h.sent("query", "a@example.com").await;
    let before = h.state("query").await;
    for query in [
        format!("?action=verify&code={code}"),
        format!("?code={code}"),
        format!("?otp={code}&action=verify"),
    ] {
        let mut b = h.browser();
        let reply = b.get(&format!("{}{query}", ticket_path("query"))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{query}");
        assert!(reply.device_cookie().is_none(), "{query}");
        assert!(!reply.is_ticket());
        let reply = b
            .post_form(&format!("{}{query}", ticket_path("query")), &[])
            .await;
        assert!(reply.device_cookie().is_none(), "POST {query}");
        assert!(!reply.is_ticket());
    }
    let after = h.state("query").await;
    assert_eq!(before.attempts_left, after.attempts_left);
    assert_eq!(before.state, after.state);
    // The code is still good: nothing consumed it.
    let mut b = h.browser();
    b.get(&ticket_path("query")).await;
    let reply = b
        .submit(
            &ticket_path("query"),
            &[("action", "verify"), ("code", code.as_str())],
        )
        .await;
    assert!(reply.is_ticket(), "{reply:?}");
}

/// Row 11.1: every method on every protected route, without a cookie, is
/// answered by the gate, never by the ticket handler. The routes answer
/// every method (so a method the gate let through would be served, not
/// refused by the router), and the gate's own answer is expected exactly:
/// the challenge page (401) for every method but POST, which is a gate
/// action, refused (415) for a body that is neither a form nor JSON.
#[tokio::test]
async fn row_11_1_every_method_on_every_protected_route_is_gated() {
    use axum::routing::any;

    async fn any_method(method: Method) -> String {
        format!("{} {method}", common::TICKET_BODY)
    }
    let h = Harness::new();
    let unguarded = axum::Router::new()
        .route("/tickets/{ticket}", any(any_method))
        .route("/tickets/{ticket}/pdf", any(any_method))
        .route("/tickets/{ticket}/", any(any_method));
    let guarded = unguarded.clone().layer(h.layer.clone());
    h.claim("matrix").await;
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
        Method::from_bytes(b"PROPFIND").unwrap(),
        Method::from_bytes(b"MKCOL").unwrap(),
    ];
    let request = |method: &Method, path: &str| {
        Request::builder()
            .method(method.clone())
            .uri(path)
            .header("host", "tickets.test")
            .body(Body::empty())
            .unwrap()
    };
    let mut checked = 0;
    for path in ["/tickets/matrix", "/tickets/matrix/pdf", "/tickets/matrix/"] {
        for method in &methods {
            // Without the gate, the route serves this method.
            let served = Browser::on(unguarded.clone())
                .send(request(method, path))
                .await;
            assert_eq!(served.status, StatusCode::OK, "{method} {path} unguarded");

            let reply = Browser::on(guarded.clone())
                .send(request(method, path))
                .await;
            let expected = if *method == Method::POST {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(reply.status, expected, "{method} {path}: {reply:?}");
            assert!(
                !reply.body.contains(common::TICKET_BODY),
                "{method} {path}: {reply:?}"
            );
            assert!(reply.device_cookie().is_none(), "{method} {path}");
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * methods.len());
}

/// Row 5.5: the mail names the configured origin, never the request's
/// `Host` or `X-Forwarded-Host`.
#[tokio::test]
async fn row_5_5_the_mail_uses_the_configured_origin_not_the_host_header() {
    let h = Harness::build_with_flow(
        &tower_otp::Secret::random(),
        tower_otp::MemoryStore::new(),
        |flow| flow.with_site_origin("https://tickets.example"),
        |layer| layer,
    );
    h.claim("host").await;
    let mut b = h.browser();
    let path = ticket_path("host");
    b.get(&path).await;
    let request = Browser::request(Method::POST, &path)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("x-forwarded-host", "evil.example")
        .body(Body::from(
            json!({"action": "send", "email": "a@example.com"}).to_string(),
        ))
        .unwrap();
    let mut request = request;
    request
        .headers_mut()
        .insert("host", "evil.example".parse().unwrap());
    let reply = b.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mail = h.mailer.last().expect("a mail was sent");
    assert_eq!(mail.site_origin.as_deref(), Some("https://tickets.example"));
    assert!(!format!("{mail:?}").contains("evil"));
}
