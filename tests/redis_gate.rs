//! Gates sharing one Redis: two application instances behave as one site
//! (on one node and on a cluster), and an outage fails closed and heals by
//! itself.
//!
//! The two-instance tests read `OTP_TEST_REDIS_URL` and
//! `OTP_TEST_REDIS_CLUSTER_URLS` at run time; the fault
//! test runs a `redis-server` of its own (from PATH) on a free port, so it can
//! stop it without disturbing anyone. Each says why when it is skipped.

#![cfg(feature = "redis")]

mod common;
mod needs;
mod redis_support;
mod two_sites;

use std::time::{Duration, Instant};

use http::StatusCode;
use redis_support::{PrivateRedis, cluster_store, cluster_urls, single_store, single_url};
use tower_otp::{RedisStore, Secret};
use two_sites::{clock, instance};

/// Two gates on two store connections to the single node behave as one site.
#[tokio::test]
async fn two_instances_behave_as_one_site() {
    let Some(url) = single_url() else { return };
    two_sites::two_instances_behave_as_one_site(single_store(&url).await, single_store(&url).await)
        .await;
}

/// The same on a Redis Cluster.
#[tokio::test]
async fn two_instances_on_a_cluster_behave_as_one_site() {
    let Some(urls) = cluster_urls() else { return };
    two_sites::two_instances_behave_as_one_site(
        cluster_store(&urls).await,
        cluster_store(&urls).await,
    )
    .await;
}

#[tokio::test]
async fn an_outage_fails_closed_and_heals() {
    let Some(mut server) = PrivateRedis::start(&[]) else {
        return;
    };
    let store = RedisStore::new(&server.url())
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .unwrap();
    let clock = clock();
    let gate = instance(&Secret::random(), store, &clock);
    let t = "/tickets/outage";
    let mut owner = gate.browser();
    assert!(owner.open(t).await.is_ticket());

    server.stop();
    // Unverified requests get the 503 page or `unavailable`, never the ticket.
    let mut stranger = gate.browser();
    let reply = stranger.get_json(t).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.json()["error"], "unavailable");
    let reply = stranger.get(t).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!reply.is_ticket());
    let reply = stranger
        .post_json(
            t,
            serde_json::json!({"action": "send", "email": "a@example.com"}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(
        gate.mailer.count(),
        0,
        "nothing is sent while the store is down"
    );
    // The verified device keeps passing: its cookie needs no store.
    for _ in 0..3 {
        assert!(owner.get(t).await.is_ticket());
    }

    // Redis comes back (empty: this one keeps nothing); the same app heals.
    server.resume();
    let started = Instant::now();
    let t = "/tickets/after-outage";
    let mut first = gate.browser();
    loop {
        let reply = first.get(t).await;
        if reply.status != StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(
                reply.status,
                StatusCode::SEE_OTHER,
                "the first-device probe"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the store did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("store back {:?} after Redis", started.elapsed());
    assert!(first.get(t).await.is_ticket());
    let mut second = gate.browser();
    assert_eq!(second.get(t).await.status, StatusCode::UNAUTHORIZED);
    second
        .submit(t, &[("action", "send"), ("email", "hanako@example.com")])
        .await;
    let code = gate.last_code_for("hanako@example.com");
    let page = second
        .submit(t, &[("action", "verify"), ("code", &code)])
        .await;
    assert!(page.is_ticket(), "{page:?}");
    assert!(owner.get("/tickets/outage").await.is_ticket());
}
