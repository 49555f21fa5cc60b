//! Slow and refused requests: the gate puts a deadline on reading its own
//! body, and a refused POST leaves the connection usable (its small body
//! is read) or says `Connection: close`.

mod common;

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use common::Harness;
use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: &str = "/tickets/abc";

/// A body that sends `first` and then never another byte (a slow client).
fn trickle(first: &'static str) -> Body {
    let head =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) });
    Body::from_stream(futures_util::StreamExt::chain(
        head,
        futures_util::stream::pending(),
    ))
}

#[tokio::test(start_paused = true)]
async fn a_body_that_trickles_is_cut_off_with_408() {
    // Time is paused: tokio jumps to the deadline as soon as nothing else can run.
    let h = Harness::with(|l| l.with_body_timeout(Duration::from_secs(3)).unwrap());
    h.claim("abc").await;
    for (content_type, json) in [
        ("application/x-www-form-urlencoded", false),
        ("application/json", true),
    ] {
        let mut b = h.browser();
        b.get(T).await;
        let accept = if json {
            "application/json"
        } else {
            "text/html"
        };
        let started = tokio::time::Instant::now();
        let reply = b
            .send_with(
                Method::POST,
                T,
                &[
                    ("content-type", content_type),
                    ("accept", accept),
                    ("sec-fetch-site", "same-origin"),
                    ("content-length", "40"),
                ],
                trickle("action=send&email=a"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT, "{}", reply.body);
        assert_eq!(reply.header("connection"), Some("close"));
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(3),
            "cut at the deadline"
        );
        if json {
            assert_eq!(reply.json()["error"], "timeout");
        }
    }
    assert_eq!(h.mailer.count(), 0, "nothing was sent");
}

#[tokio::test]
async fn the_body_timeout_has_a_range() {
    for bad in [
        Duration::ZERO,
        Duration::from_millis(50),
        Duration::from_secs(61),
    ] {
        let flow = tower_otp::Flow::new(
            &tower_otp::Secret::random(),
            tower_otp::MemoryStore::new(),
            tower_otp::testing::CapturingMailer::new(),
        );
        assert!(
            tower_otp::OtpLayer::new(flow)
                .with_body_timeout(bad)
                .is_err(),
            "{bad:?}"
        );
    }
}

/// One HTTP/1.1 response read off `stream`: its status line and headers, body skipped.
async fn read_response(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await {
            Ok(Ok(1)) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(head)
}

#[tokio::test]
async fn a_refused_post_leaves_the_connection_usable() {
    let h = Harness::new();
    h.claim("abc").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Refused before its body is looked at: a cross-site POST, and a wrong
    // media type. The body follows the headers in its own write; the gate
    // reads it (within the limit and the deadline) before answering.
    let body = format!("action=send&email=a%40example.com&pad={}", "x".repeat(3000));
    for headers in [
        "Sec-Fetch-Site: cross-site\r\nContent-Type: application/x-www-form-urlencoded",
        "Sec-Fetch-Site: same-origin\r\nContent-Type: text/plain",
    ] {
        let head = format!(
            "POST {T} HTTP/1.1\r\nHost: tickets.test\r\n{headers}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        tokio::task::yield_now().await;
        stream.write_all(body.as_bytes()).await.unwrap();
        let head = read_response(&mut stream).await.expect("an answer");
        assert!(
            head.starts_with("HTTP/1.1 403") || head.starts_with("HTTP/1.1 415"),
            "{head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
    }
    // The same connection still serves the next request.
    let request = format!("GET {T} HTTP/1.1\r\nHost: tickets.test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_response(&mut stream)
        .await
        .expect("the connection was kept");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    // A body over the limit is not read: the answer says the connection closes.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {T} HTTP/1.1\r\nHost: tickets.test\r\nSec-Fetch-Site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_response(&mut stream).await.expect("an answer");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    server.abort();
}
