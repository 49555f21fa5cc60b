//! `PostgresStore` on a real PostgreSQL: the conformance suite through two
//! stores (two pools of several connections, like two application
//! instances), migrations, the sweep, durability and two gates as one site
//! at `OTP_TEST_DATABASE_URL` (read at run time; each test in a schema of its
//! own, dropped after), and an outage of a server the test runs itself.

#![cfg(feature = "postgres")]

mod common;
#[path = "sql_support/lockout.rs"]
mod lockout;
mod needs;
mod sql_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Browser, Harness, ticket_path};
use http::StatusCode;
use lockout::lock_out;
use sql_support::{Guarded, PrivatePostgres, Schema, pg_handles, pg_url};
use tower_otp::store::conformance::{Instances, random_address, random_code, random_ticket};
use tower_otp::store::{BindRequest, ClaimRequest, IssueOutcome, IssueRequest, Policy, Store};
use tower_otp::{
    CapturingMailer, Clock, EmailAddress, Flow, ManualClock, OtpLayer, PostgresStore, Secret,
    Timestamp,
};

tower_otp::store_conformance_tests!(instances: match pg_url() {
    Some(url) => Instances::many(pg_handles(&url, 2).await),
    None => return,
});

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

#[tokio::test]
async fn sweep_drops_expired_rows_and_keeps_long_lived_facts() {
    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    let store = schema.store().await;
    let policy = Policy::default();
    let taro = EmailAddress::parse("taro@example.com").unwrap();
    let (pending, bound) = (random_ticket(), random_ticket());
    store
        .bind(&BindRequest::new(&bound, &taro, Timestamp::from_millis(1)))
        .await
        .unwrap();
    for (ticket, address) in [(pending, random_address().0), (bound, taro.clone())] {
        let (code, key) = (random_code(), random_address().1);
        let request = IssueRequest::new(&ticket, &address, &key, &code, t(0), &policy);
        let outcome = store.issue_code(&request).await.unwrap();
        assert!(
            matches!(outcome, IssueOutcome::Issued { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(store.sweep(t(3600 + 59)).await.unwrap(), 0);
    // Three counters (the stranger's mailbox and domain, the owner's), the
    // pending ticket's row, the bound ticket's challenge.
    assert_eq!(store.sweep(t(3600 + 61)).await.unwrap(), 5);
    assert_eq!(count(&store, &schema, "otp_addresses").await, 0);
    assert_eq!(count(&store, &schema, "otp_tickets").await, 1);
    let snapshot = store.load(&bound, t(3700), &policy).await.unwrap();
    assert_eq!(snapshot.binding, Some(taro));
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

/// One application instance on `store`: its own layer and mailer; keys
/// from `secret`, time from `clock`.
fn instance(secret: &Secret, store: impl Store, clock: &ManualClock) -> Harness {
    let mailer = CapturingMailer::new();
    let flow = Flow::new(secret, store, mailer.clone())
        .with_clock(clock.clone())
        .with_site_name("Test Tickets")
        .with_new_device_notice(false);
    let layer = OtpLayer::new(flow)
        .with_ticket_path("/tickets/{ticket}")
        .unwrap()
        .with_cookie_secure(false);
    Harness {
        app: common::app().layer(layer.clone()),
        clock: clock.clone(),
        mailer,
        layer,
    }
}

/// The same browser (cookie jar and page) talking to another instance.
fn through(instance: &Harness, browser: &Browser) -> Browser {
    let mut moved = instance.browser();
    moved.jar = browser.jar.clone();
    moved.csrf = browser.csrf.clone();
    moved
}

/// Bound and locked out, every connection closed and the store dropped; a
/// new store on the same database: still bound, still locked, and a
/// stranger's browser gets the challenge.
#[tokio::test]
async fn bindings_and_lockouts_survive_a_new_store() {
    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    let secret = Secret::random();
    let id = "durable-pg";
    let path = ticket_path(id);
    let then = {
        let store = schema.store().await;
        let gate = Harness::build(&secret, store.clone(), |l| l);
        gate.claim(id).await;
        let (mut phone, code) = gate.sent(id, "taro@example.com").await;
        let reply = phone
            .post_form(&path, &[("action", "verify"), ("code", &code)])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        lock_out(&gate, id).await;
        assert!(gate.state(id).await.locked_until.is_some());
        store.pool().close().await;
        gate.clock.now()
    };
    let gate = Harness::build(&secret, Guarded::new(schema.store().await, schema), |l| l);
    gate.clock.set(then);
    gate.advance(Duration::from_secs(120));
    assert!(gate.state(id).await.locked_until.is_some(), "still locked");
    let mut stranger = gate.browser();
    let page = stranger.open(&path).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(
        !page.body.contains(r#"type="email""#),
        "bound: no address field"
    );
    gate.advance(Duration::from_secs(3600));
    let page = stranger.open(&path).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("t***@e***.com"), "{}", page.body);
}

#[tokio::test]
async fn two_instances_behave_as_one_site() {
    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    let secret = Secret::random();
    let clock = ManualClock::new(t(0));
    let a = instance(&secret, schema.store().await, &clock);
    let b = instance(&secret, schema.store().await, &clock);
    let path = ticket_path("shared");
    let t = path.as_str();

    // Claimed through A: B trusts no second first device.
    let mut owner = a.browser();
    assert!(owner.open(t).await.is_ticket());
    let mut scanner = b.browser();
    let page = scanner.open(t).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(through(&b, &owner).get(t).await.is_ticket());

    // Sent through B, verified through A.
    let mut phone = b.browser();
    phone.get(t).await;
    phone
        .submit(t, &[("action", "send"), ("email", "taro@example.com")])
        .await;
    assert_eq!((a.mailer.count(), b.mailer.count()), (0, 1));
    let code = b.last_code_for("taro@example.com");
    clock.advance(Duration::from_secs(30));
    let mut phone = through(&a, &phone);
    assert!(phone.get(t).await.body.contains("t***@e***.com"));
    let reply = phone
        .post_form(t, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(through(&b, &phone).get(t).await.is_ticket());

    // Bound through A, as B sees it; B's cooldown holds on A.
    let mut laptop = b.browser();
    let page = laptop.get(t).await;
    assert!(!page.body.contains(r#"type="email""#));
    let reply = through(&a, &laptop)
        .post_form(t, &[("action", "send")])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
}

/// A PostgreSQL of the test's own, stopped (as a crash would) mid-flow and
/// started again: 503 and nothing counted while down, verified devices keep
/// passing, the same store heals, and what was committed before is there.
#[tokio::test]
async fn an_outage_fails_closed_and_heals() {
    let Some(server) = PrivatePostgres::start() else {
        return;
    };
    let store = PostgresStore::connect(&server.url())
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(1500))
        .unwrap();
    store.migrate().await.unwrap();
    let clock = ManualClock::new(t(0));
    let gate = instance(&Secret::random(), Arc::new(store), &clock);
    let path = ticket_path("outage");
    let t = path.as_str();
    let mut owner = gate.browser();
    assert!(owner.open(t).await.is_ticket());
    let mut phone = gate.browser();
    phone.get(t).await;
    phone
        .submit(t, &[("action", "send"), ("email", "hanako@example.com")])
        .await;
    let code = gate.last_code_for("hanako@example.com");
    assert_eq!(gate.state("outage").await.attempts_left, 5);

    server.stop();
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
    let reply = phone
        .post_form(t, &[("action", "verify"), ("code", "000000")])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
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
        1,
        "nothing is sent while the store is down"
    );
    for _ in 0..3 {
        assert!(
            owner.get(t).await.is_ticket(),
            "verified devices keep passing"
        );
    }

    server.resume();
    let started = Instant::now();
    let state = loop {
        match gate.layer.flow().challenge(&gate.key("outage")).await {
            Ok(state) => break state,
            Err(_) => {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the store did not come back"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    eprintln!("store back {:?} after PostgreSQL", started.elapsed());
    assert_eq!(
        state.attempts_left, 5,
        "the guess during the outage was not counted"
    );
    // The claim made before the crash holds, and the code sent before it works.
    assert_eq!(stranger.get(t).await.status, StatusCode::UNAUTHORIZED);
    phone.get(t).await;
    let reply = phone
        .post_form(t, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(phone.get(t).await.is_ticket());
}

/// Claims on unbound tickets are rows only until their
/// lifetime passes; the sweep removes them and keeps bound tickets.
/// Measured: rows before and after.
#[tokio::test]
async fn unbound_claims_are_swept_after_their_lifetime() {
    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    let store = schema.store().await;
    let policy = Policy::default();
    const N: i64 = 500;
    for _ in 0..N {
        store
            .claim_first_device(&ClaimRequest::new(&random_ticket(), t(0), &policy))
            .await
            .unwrap();
    }
    let bound = random_ticket();
    store
        .claim_first_device(&ClaimRequest::new(&bound, t(0), &policy))
        .await
        .unwrap();
    store
        .bind(&BindRequest::new(
            &bound,
            &EmailAddress::parse("taro@example.com").unwrap(),
            Timestamp::from_millis(1),
        ))
        .await
        .unwrap();
    let before = count(&store, &schema, "otp_tickets").await;
    assert_eq!(before, N + 1);
    let lapse = t(0) + policy.claim_lifetime;
    assert_eq!(
        store.sweep(lapse + Duration::from_secs(59)).await.unwrap(),
        0
    );
    assert_eq!(
        store.sweep(lapse + Duration::from_secs(61)).await.unwrap(),
        N as u64
    );
    let after = count(&store, &schema, "otp_tickets").await;
    eprintln!("postgres: {before} ticket rows after {N} unbound claims, {after} after the sweep");
    assert_eq!(after, 1, "the bound ticket stays");
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
