//! A Redis that stops answering (`CLIENT PAUSE … ALL`, as during a
//! failover or a long blocking command) does not stall the site: past the
//! flow's bound of store calls in flight, sends and first-device claims
//! are answered 503 with `Retry-After` at once, and devices whose ticket
//! generation the instance knows keep passing. On a `redis-server` of the
//! test's own (from `PATH`, on a free port), never the shared one.

#![cfg(feature = "redis")]

mod common;
mod needs;
mod redis_support;

use std::time::{Duration, Instant};

use axum::body::Body;
use common::{Harness, ticket_path};
use http::{Request, StatusCode};
use redis_support::PrivateRedis;
use tower::ServiceExt;
use tower_otp::redis;
use tower_otp::{RedisStore, Secret, TicketId};

const BOUND: usize = 8;

/// Pauses every client of the server for `pause`.
async fn client_pause(server: &PrivateRedis, pause: Duration) {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(pause.as_millis() as u64)
        .arg("ALL")
        .query_async(&mut connection)
        .await
        .unwrap();
}

/// Returns once the server answers a `PING` again (the pause is over).
async fn answering(server: &PrivateRedis) {
    let client = redis::Client::open(server.url()).unwrap();
    let started = Instant::now();
    loop {
        let ping = async {
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), ping).await {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "Redis answers again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_gets_fast_503s_past_the_bound_and_verified_devices_pass() {
    let Some(server) = PrivateRedis::start(&[]) else {
        return;
    };
    let store = RedisStore::new(&server.url())
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(10))
        .unwrap();
    let h = Harness::build_with_flow(
        &Secret::random(),
        store,
        |flow| flow.with_store_concurrency(BOUND).unwrap(),
        |layer| layer,
    );
    let flow = h.layer.flow().clone();
    // Verified devices, each served once (their generation is read).
    let mut devices = Vec::new();
    for i in 0..20 {
        let path = ticket_path(&format!("seat-{i}"));
        let mut browser = h.browser();
        assert!(browser.open(&path).await.is_ticket());
        assert!(browser.get(&path).await.is_ticket());
        devices.push((path.clone(), browser.cookie_header(&path).unwrap()));
    }
    h.claim("abc").await;
    let mut sender = h.browser();
    sender.get("/tickets/abc").await;

    client_pause(&server, Duration::from_secs(4)).await;
    let paused_at = Instant::now();
    let held: Vec<_> = (0..BOUND)
        .map(|i| {
            let flow = flow.clone();
            tokio::spawn(async move {
                let ticket = flow.ticket_key(&TicketId::new(format!("held-{i}")));
                flow.claim_first_device(&ticket).await
            })
        })
        .collect();
    while flow.store_calls_in_flight() < BOUND {
        assert!(paused_at.elapsed() < Duration::from_secs(2), "calls held");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let mut slowest = Duration::ZERO;
    for i in 0..10 {
        let started = Instant::now();
        let send = [("action", "send"), ("email", "a@example.com")];
        let reply = sender.post_form("/tickets/abc", &send).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
        assert_eq!(reply.header("retry-after"), Some("2"));

        let started = Instant::now();
        let reply = h.browser().open(&ticket_path(&format!("new-{i}"))).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
        assert_eq!(reply.header("retry-after"), Some("2"));
        assert!(reply.device_cookie().is_none());
    }
    // Refused past the bound: the held calls were in flight all along (the
    // loop takes milliseconds; the client gives a call up after 500 ms).
    assert_eq!(flow.store_calls_in_flight(), BOUND);
    let mut verified = Vec::new();
    for k in 0..400 {
        let (path, cookie) = &devices[k % devices.len()];
        let request = Request::get(path.as_str())
            .header("cookie", cookie.as_str())
            .body(Body::empty())
            .unwrap();
        let started = Instant::now();
        let response = h.app.clone().oneshot(request).await.unwrap();
        verified.push(started.elapsed());
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(
        paused_at.elapsed() < Duration::from_secs(4),
        "all of it while Redis was paused"
    );
    verified.sort();
    let p99 = verified[verified.len() * 99 / 100 - 1];
    eprintln!("Redis paused: slowest 503 past the bound {slowest:?}; verified p99 {p99:?}");
    assert!(slowest < Duration::from_millis(100), "{slowest:?}");
    assert!(p99 < Duration::from_millis(50), "{p99:?}");
    assert_eq!(h.mailer.count(), 0);

    // The held calls end (the client gives them up, or Redis answers), and
    // once the pause is over a send goes through.
    for call in held {
        let finished = tokio::time::timeout(Duration::from_secs(10), call).await;
        finished.expect("the held calls end").unwrap().ok();
    }
    answering(&server).await;
    assert_eq!(flow.store_calls_in_flight(), 0);
    let send = [("action", "send"), ("email", "a@example.com")];
    let reply = sender.post_form("/tickets/abc", &send).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(h.mailer.count(), 1);
}
