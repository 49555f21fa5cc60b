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
use tower_otp::{Secret, flow::StateError};

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
    let store = sql_support::guarded(schema.store().await, schema.clone());
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

/// A copy of the SQLite file at `path`, as a backup would take it.
#[cfg(feature = "sqlite")]
async fn backup(path: &std::path::Path, to: &std::path::Path) {
    let url = format!("sqlite://{}", path.display());
    let pool = tower_otp::sqlx::SqlitePool::connect(&url).await.unwrap();
    tower_otp::sqlx::query(&format!("VACUUM INTO '{}'", to.display()))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// The file at `path` replaced by the backup (the process stopped).
#[cfg(feature = "sqlite")]
fn restore(backup: &std::path::Path, path: &std::path::Path) {
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(backup, path).unwrap();
}

/// The restore runbook (docs/sql.md, "Restoring a backup"): everything done
/// since the backup was taken is gone from the store, and the runbook's
/// steps make sure none of it reopens: no stranger is trusted as the first
/// device of a ticket sold since, a device revoked since stays revoked.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_restored_backup_reopens_nothing_after_the_runbook() {
    let secret = Secret::random();
    let (dir, path) = sql_support::temp_db();
    let copy = dir.path().join("backup.db");
    let buyer = tower_otp::EmailAddress::parse("buyer@example.com").unwrap();
    let owner = tower_otp::EmailAddress::parse("owner@example.com").unwrap();

    let before = Harness::build(&secret, sql_support::sqlite_at(&path).await, |l| l);
    let flow = before.layer.flow();
    flow.pre_bind(&before.key("abc"), &owner).await.unwrap();
    // A second device on abc, verified by code to the owner.
    let (mut device, code) = before.sent("abc", "owner@example.com").await;
    assert!(
        device
            .submit(T, &[("action", "verify"), ("code", &code)])
            .await
            .is_ticket()
    );
    backup(&path, &copy).await;
    // After the backup: a ticket sold, its buyer's first device, and the
    // owner asks support to sign out the device on abc.
    flow.pre_bind(&before.key("sold"), &buyer).await.unwrap();
    let revoked = flow.revoke_devices(&before.key("abc")).await.unwrap();
    assert!(revoked.enforced);
    // The process stops (the browser's jar stays with the browser).
    let jar = device.jar_copy();
    drop((before, device));

    // Without the runbook, the restored store reopens both.
    let check = dir.path().join("check.db");
    std::fs::copy(&copy, &check).unwrap();
    let careless = Harness::build(&secret, sql_support::sqlite_at(&check).await, |l| l);
    assert!(
        careless.browser().open("/tickets/sold").await.is_ticket(),
        "a stranger is the sold ticket's first device"
    );
    let mut again = common::Browser::on(careless.app.clone());
    again.copy_cookies_from(&jar);
    assert!(again.get(T).await.is_ticket(), "the revoked device passes");
    drop((careless, again));

    // The runbook, before the restored store serves anyone.
    restore(&copy, &path);
    let after = Harness::build(&secret, sql_support::sqlite_at(&path).await, |l| l);
    let flow = after.layer.flow();
    // 1. Hold first devices: every device verifies by code meanwhile.
    flow.hold_first_devices().await.unwrap();
    assert_eq!(
        after.browser().open("/tickets/sold").await.status,
        StatusCode::UNAUTHORIZED
    );
    // 2. Apply again what was done since the backup: the orders' bindings,
    //    the support log's revocations and rebinds.
    flow.pre_bind(&after.key("sold"), &buyer).await.unwrap();
    let _ = flow.revoke_devices(&after.key("abc")).await.unwrap();
    // 3. Trust first devices again.
    flow.trust_first_devices().await.unwrap();

    let stranger = after.browser().open("/tickets/sold").await;
    assert_eq!(
        stranger.status,
        StatusCode::UNAUTHORIZED,
        "bound to its buyer"
    );
    let mut revoked_device = common::Browser::on(after.app.clone());
    revoked_device.copy_cookies_from(&jar);
    assert_eq!(revoked_device.get(T).await.status, StatusCode::UNAUTHORIZED);
    // A ticket nobody sold is anyone's to try, as before.
    assert!(after.browser().open("/tickets/unsold").await.is_ticket());
}

/// The system clock, moved by `offset_ms`: an instance whose clock is off.
struct Offset(i64);

impl tower_otp::Clock for Offset {
    fn now(&self) -> tower_otp::Timestamp {
        let real = tower_otp::Clock::now(&tower_otp::SystemClock).as_millis();
        tower_otp::Timestamp::from_millis(real.saturating_add_signed(self.0))
    }
}

/// Instances whose clocks are 20 s ahead, an hour ahead or 20 s behind a
/// shared store's refuse loudly (at start, and 503 at the gate); one within
/// a second serves. Expiry, cooldowns and lockouts then never depend on
/// which instance answers.
async fn skewed_clocks_are_refused(name: &str, store: Arc<dyn Store>) {
    use tower_otp::{Flow, OtpLayer, testing::CapturingMailer};
    let secret = Secret::random();
    let gate = |clock: Offset| {
        let flow = Flow::new(&secret, store.clone(), CapturingMailer::new()).with_clock(clock);
        let layer = OtpLayer::new(flow.clone())
            .with_ticket_path("/tickets/{ticket}")
            .unwrap()
            .with_cookie_secure(false);
        (flow, common::app().layer(layer))
    };
    let (flow, app) = gate(Offset(0));
    flow.check_state().await.unwrap();
    assert!(
        common::Browser::on(app).open(T).await.is_ticket(),
        "{name}: on time"
    );
    for offset in [20_000, 3_600_000, -20_000] {
        let (flow, app) = gate(Offset(offset));
        match flow.check_state().await {
            Err(StateError::ClockSkew { skew_ms }) => {
                assert!(
                    (skew_ms - offset).abs() < 2_000,
                    "{name}: {skew_ms} for {offset}"
                );
            }
            other => panic!("{name}: {offset} ms off: {other:?}"),
        }
        let reply = common::Browser::on(app).open("/tickets/other").await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{name}: {offset}"
        );
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_clock_skew() {
    let Some(url) = sql_support::pg_url() else {
        return;
    };
    let schema = sql_support::Schema::new(&url);
    let store = sql_support::guarded(schema.store().await, schema.clone());
    skewed_clocks_are_refused("postgres", Arc::new(store)).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_clock_skew() {
    let Some(url) = redis_support::single_url() else {
        return;
    };
    let prefix = format!("{}-state-skew", *redis_support::RUN_PREFIX);
    let store = redis_support::single_store(&url)
        .await
        .with_prefix(&prefix)
        .unwrap();
    skewed_clocks_are_refused("redis", Arc::new(store)).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_cluster_clock_skew() {
    let Some(urls) = redis_support::cluster_urls() else {
        return;
    };
    let prefix = format!("{}-state-skew", *redis_support::RUN_PREFIX);
    let store = redis_support::cluster_store(&urls)
        .await
        .with_prefix(&prefix)
        .unwrap();
    skewed_clocks_are_refused("redis cluster", Arc::new(store)).await;
}
