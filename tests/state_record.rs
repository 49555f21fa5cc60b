//! The store's state record on every real store: a flow with another secret
//! is refused at start and serves nothing, a deliberate hand-over holds first
//! devices, and a store that lost its record is noticed. SQLite on a temp
//! file, PostgreSQL in a schema of its own, Redis and Redis Cluster under a
//! prefix of their own (addresses from `OTP_TEST_DATABASE_URL`,
//! `OTP_TEST_REDIS_URL`, `OTP_TEST_REDIS_CLUSTER_URLS`; see `tests/needs`).

mod common;
mod needs;
#[cfg(feature = "redis")]
mod redis_support;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_support;

use std::sync::Arc;
use std::time::Duration;

use common::Harness;
use http::StatusCode;
use tower_otp::store::Store;
use tower_otp::{Secret, StateError};

const T: &str = "/tickets/abc";

/// Two processes with different secrets on `store`, one after the other;
/// then the store handed over on purpose.
async fn another_secret_is_refused(name: &str, store: Arc<dyn Store>) {
    let old = Secret::random();
    let first = Harness::build(&old, store.clone(), |l| l);
    let check = first.layer.flow().check_state().await.unwrap();
    assert!(check.new_store && !check.first_devices_held, "{name}");
    first.claim("abc").await;

    let other = Harness::build(&Secret::random(), store.clone(), |l| l);
    assert!(
        matches!(
            other.layer.flow().check_state().await,
            Err(StateError::OtherSecret)
        ),
        "{name}"
    );
    let reply = other.browser().open(T).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{name}");
    assert!(reply.device_cookie().is_none(), "{name}");

    // The same secret again: the store's, as before.
    let again = Harness::build(&old, store.clone(), |l| l);
    let check = again.layer.flow().check_state().await.unwrap();
    assert!(!check.new_store, "{name}");
    assert_eq!(
        again.browser().open(T).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Handed over: the new secret's, first devices held; the old refused.
    let new = Harness::build(&Secret::random(), store.clone(), |l| l);
    new.layer.flow().adopt_store(&old).await.unwrap();
    assert!(
        new.layer
            .flow()
            .check_state()
            .await
            .unwrap()
            .first_devices_held
    );
    assert_eq!(
        new.browser().open("/tickets/fresh").await.status,
        StatusCode::UNAUTHORIZED,
        "{name}: held"
    );
    again.advance(Duration::from_secs(10));
    assert_eq!(
        again.browser().open("/tickets/fresh").await.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{name}: the old secret refused"
    );
    new.layer.flow().trust_first_devices().await.unwrap();
    assert!(
        new.browser().open("/tickets/fresh").await.is_ticket(),
        "{name}"
    );
}

#[test]
fn memory() {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store: Arc<dyn Store> = Arc::new(tower_otp::MemoryStore::new());
        another_secret_is_refused("memory", store).await;
    });
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite() {
    let (_dir, path) = sql_support::temp_db();
    let store: Arc<dyn Store> = Arc::new(sql_support::sqlite_at(&path).await);
    another_secret_is_refused("sqlite", store).await;
    // A restart: a new store on the same file, another secret.
    let reopened: Arc<dyn Store> = Arc::new(sql_support::sqlite_at(&path).await);
    let flow = Harness::build(&Secret::random(), reopened, |l| l);
    assert!(matches!(
        flow.layer.flow().check_state().await,
        Err(StateError::OtherSecret)
    ));
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres() {
    let Some(url) = sql_support::pg_url() else {
        return;
    };
    let schema = sql_support::Schema::new(&url);
    let store = sql_support::Guarded::new(schema.store().await, schema.clone());
    another_secret_is_refused("postgres", Arc::new(store)).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_single_node() {
    let Some(url) = redis_support::single_url() else {
        return;
    };
    let prefix = format!("{}-state-single", *redis_support::RUN_PREFIX);
    let store = redis_support::single_store(&url)
        .await
        .with_prefix(&prefix)
        .unwrap();
    another_secret_is_refused("redis", Arc::new(store)).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_cluster() {
    let Some(urls) = redis_support::cluster_urls() else {
        return;
    };
    let prefix = format!("{}-state-cluster", *redis_support::RUN_PREFIX);
    let store = redis_support::cluster_store(&urls)
        .await
        .with_prefix(&prefix)
        .unwrap();
    another_secret_is_refused("redis cluster", Arc::new(store)).await;
}
