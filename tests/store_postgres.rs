//! `PostgresStore` on a real PostgreSQL: the conformance suite through two
//! stores (two pools of several connections, like two application
//! instances), its lifecycle checks (a restart, the sweep), migrations and
//! two gates as one site at `OTP_TEST_DATABASE_URL` (read at run time; each
//! test in a schema of its own, dropped after), and the outage check on a
//! server the test runs itself.

#![cfg(feature = "postgres")]

mod common;
mod needs;
mod sql_support;
mod two_sites;

use std::sync::Arc;
use std::time::Duration;

use common::ticket_path;
use http::StatusCode;
use sql_support::{PrivatePostgres, Schema, pg_handles, pg_url};
use tower_otp::store::conformance::{Instances, random_code, random_ticket};
use tower_otp::store::{ClaimRequest, Policy, Store};
use tower_otp::{PostgresStore, Secret, Timestamp, testing::ManualClock};
use two_sites::instance;

tower_otp::store_conformance_tests!(instances: match pg_url() {
    Some(url) => Instances::many(pg_handles(&url, 2).await),
    None => return,
});

/// A restart (a new store and pool on the schema) and the sweep, in a
/// schema of their own.
mod lifecycle {
    use super::*;

    tower_otp::store_conformance_tests!(
        lifecycle: match pg_url() {
            Some(url) => sql_support::PgBacking::new(&url),
            None => return,
        } => [reopen_keeps_everything, sweep_keeps_long_lived_facts, lapsed_claims_are_swept]
    );
}

/// A PostgreSQL of the test's own, stopped (as a crash would) and started
/// again under the store's feet.
mod outage {
    use super::*;

    tower_otp::store_conformance_tests!(
        lifecycle: match sql_support::PrivatePgBacking::start() {
            Some(backing) => backing,
            None => return,
        } => [outage_fails_then_heals]
    );
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000) + Duration::from_secs(secs)
}

async fn count(store: &PostgresStore, schema: &Schema, table: &str) -> i64 {
    let (n,): (i64,) = tower_otp::sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM \"{}\".\"{table}\"",
        schema.name
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    n
}

#[tokio::test]
async fn migrations_are_explicit_idempotent_and_concurrent() {
    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    let store = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_schema(&schema.name)
        .unwrap();
    // Nothing exists until migrate() is called, and operations say so.
    let error = store.ensure_migrated().await.unwrap_err();
    assert!(error.to_string().contains("migrate()"), "{error}");
    let error = store
        .claim_first_device(&ClaimRequest::new(
            &random_ticket(),
            t(0),
            &Policy::default(),
        ))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("migrate()"), "{error}");
    let (exists,): (bool,) =
        tower_otp::sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(&schema.name)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(!exists, "no schema created behind the application's back");

    // Three instances starting at once: one migrates, the others wait and find it done.
    let other = store.clone().with_prefix("otp_").unwrap();
    let third = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_schema(&schema.name)
        .unwrap();
    let (a, b, c) = tokio::join!(store.migrate(), other.migrate(), third.migrate());
    a.unwrap();
    b.unwrap();
    c.unwrap();
    store.ensure_migrated().await.unwrap();
    assert_eq!(count(&store, &schema, "otp_migrations").await, 4);
    assert!(store.clone().with_schema("public; DROP").is_err());
}

/// Guesses and restarts on tickets nobody touched leave no row behind (a
/// scanner cannot make the table grow); a claim makes one.
#[tokio::test]
async fn operations_that_change_nothing_create_no_row() {
    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    let store = schema.store().await;
    let policy = Policy::default();
    for _ in 0..5 {
        let (ticket, code) = (random_ticket(), random_code());
        let outcome = store
            .verify_code(&tower_otp::store::VerifyRequest::new(
                &ticket,
                &code,
                t(0),
                &policy,
            ))
            .await
            .unwrap();
        assert_eq!(outcome, tower_otp::store::VerifyOutcome::NoCode);
        store.restart(&ticket, t(0)).await.unwrap();
    }
    assert_eq!(count(&store, &schema, "otp_tickets").await, 0);
    store
        .claim_first_device(&ClaimRequest::new(&random_ticket(), t(0), &policy))
        .await
        .unwrap();
    assert_eq!(count(&store, &schema, "otp_tickets").await, 1);
}

/// Two gates on two stores (two pools) in one schema behave as one site.
#[tokio::test]
async fn two_instances_behave_as_one_site() {
    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    two_sites::two_instances_behave_as_one_site(schema.store().await, schema.store().await).await;
}

/// A process that starts before its database is reachable: it answers 503
/// (nothing passes, no first device is trusted) while `migrate_until_done`
/// retries, and serves once the database is up.
#[tokio::test]
async fn a_database_down_at_start_answers_503_until_it_is_up() {
    let Some(server) = PrivatePostgres::start() else {
        return;
    };
    server.stop();
    let store = PostgresStore::connect_lazy(&server.url())
        .unwrap()
        .with_timeout(Duration::from_millis(1500))
        .unwrap();
    let migrating = tokio::spawn({
        let store = store.clone();
        async move { store.migrate_until_done(Duration::from_millis(100)).await }
    });
    let clock = ManualClock::new(t(0));
    let gate = instance(&Secret::random(), Arc::new(store), &clock);
    let path = ticket_path("late-db");
    let reply = gate.browser().open(&path).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.device_cookie().is_none());

    server.resume();
    // Real time is the point here (the pool's reconnects and the retries):
    // poll with a generous deadline, never a fixed sleep.
    tokio::time::timeout(Duration::from_secs(60), migrating)
        .await
        .expect("migrated once the database is up")
        .unwrap();
    assert!(gate.browser().open(&path).await.is_ticket());
}

/// One ticket's row held `FOR UPDATE` by another session (one that stalled
/// inside its transaction) holds only that ticket: operations on it give up
/// after the lock wait (a sixth of the store's timeout) with an error that
/// names the lock, never the pool; operations on other tickets, many at
/// once, all succeed meanwhile; once the lock is released the ticket works
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_ticket_row_holds_its_own_ticket_only() {
    use tower_otp::sqlx::{Connection, PgConnection};

    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    let store = schema.store().await;
    let policy = Policy::default();
    let locked = random_ticket();
    store
        .claim_first_device(&ClaimRequest::new(&locked, t(0), &policy))
        .await
        .unwrap();

    // Another session takes the row and holds it.
    let mut other = PgConnection::connect(&url).await.unwrap();
    let mut holder = other.begin().await.unwrap();
    tower_otp::sqlx::query(&format!(
        "SELECT key FROM \"{}\".\"otp_tickets\" WHERE key = $1 FOR UPDATE",
        schema.name
    ))
    .bind(locked.as_bytes().as_slice())
    .fetch_one(&mut *holder)
    .await
    .unwrap();

    // Twenty operations on the locked ticket, and two hundred on others,
    // all at once, on the store's pool of ten connections.
    let on_locked = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let policy = Policy::default();
            let request = ClaimRequest::new(&locked, t(1), &policy);
            let outcome = store.claim_first_device(&request).await;
            (outcome, started.elapsed())
        })
    });
    let on_others = (0..200).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let ticket = random_ticket();
            let policy = Policy::default();
            let outcome = if i % 2 == 0 {
                store
                    .claim_first_device(&ClaimRequest::new(&ticket, t(1), &policy))
                    .await
                    .map(drop)
            } else {
                store.load(&ticket, t(1), &policy).await.map(drop)
            };
            (outcome, started.elapsed())
        })
    });
    let (on_locked, on_others): (Vec<_>, Vec<_>) =
        (on_locked.collect::<Vec<_>>(), on_others.collect::<Vec<_>>());
    let mut slowest_other = Duration::ZERO;
    for task in on_others {
        let (outcome, took) = task.await.unwrap();
        outcome.expect("another ticket is served");
        slowest_other = slowest_other.max(took);
    }
    let mut slowest_locked = Duration::ZERO;
    for task in on_locked {
        let (outcome, took) = task.await.unwrap();
        let error = outcome
            .expect_err("the locked ticket cannot be written")
            .to_string();
        assert!(error.contains("the ticket's row is locked"), "{error}");
        assert!(
            !error.contains("pool") && !error.contains("timed out"),
            "{error}"
        );
        slowest_locked = slowest_locked.max(took);
    }
    eprintln!(
        "row held: slowest refusal on it {slowest_locked:?}, slowest other ticket {slowest_other:?}"
    );
    // The lock wait is 500 ms (a sixth of the 3 s timeout); each of the
    // pool's connections is held that long at most, so everything is
    // answered well before the store's timeout (the margin is for a loaded
    // 2-core machine: about 1.5 s is usual).
    assert!(
        slowest_locked < Duration::from_millis(2_700),
        "{slowest_locked:?}"
    );
    assert!(
        slowest_other < Duration::from_millis(2_700),
        "{slowest_other:?}"
    );

    holder.rollback().await.unwrap();
    let outcome = store
        .claim_first_device(&ClaimRequest::new(&locked, t(2), &policy))
        .await;
    assert!(outcome.is_ok(), "the ticket works again: {outcome:?}");
}
