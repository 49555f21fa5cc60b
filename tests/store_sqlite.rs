//! `SqliteStore` on real files: the conformance suite (one store, and two
//! stores on one file as two processes would hold it), its lifecycle checks
//! (a restart, the sweep), migrations, the sweep's grace and its running by
//! itself, and exact counts from many tasks.

#![cfg(feature = "sqlite")]

mod common;
mod needs;
mod sql_support;
mod two_sites;

use std::sync::Arc;
use std::time::Duration;

use sql_support::{sqlite_at, sqlite_handles, temp_db};
use tower_otp::store::conformance::{Instances, random_address, random_code, random_ticket};
use tower_otp::store::{
    BindRequest, ClaimRequest, IssueOutcome, IssueRequest, Policy, Store, VerifyOutcome,
    VerifyRequest,
};
use tower_otp::{EmailAddress, SqliteStore, Timestamp};

tower_otp::store_conformance_tests!(instances: Instances::many(sqlite_handles(1).await));

/// Two stores on one file, each with its own connections.
mod two_stores_one_file {
    use super::*;

    tower_otp::store_conformance_tests!(instances: Instances::many(sqlite_handles(2).await));
}

/// A restart (a new store on the file) and the sweep, on a file of their own.
mod lifecycle {
    use super::*;

    tower_otp::store_conformance_tests!(
        lifecycle: sql_support::SqliteBacking::new() =>
            [reopen_keeps_everything, sweep_keeps_long_lived_facts, lapsed_claims_are_swept]
    );
}

/// Two gates on two stores on one file (as two processes would open it)
/// behave as one site.
#[tokio::test]
async fn two_instances_behave_as_one_site() {
    let (_dir, path) = temp_db();
    two_sites::two_instances_behave_as_one_site(sqlite_at(&path).await, sqlite_at(&path).await)
        .await;
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000) + Duration::from_secs(secs)
}

async fn count(store_path: &std::path::Path, table: &str) -> i64 {
    let pool = tower_otp::sqlx::SqlitePool::connect(&format!("sqlite://{}", store_path.display()))
        .await
        .unwrap();
    let (n,): (i64,) = tower_otp::sqlx::query_as(&format!("SELECT COUNT(*) FROM \"{table}\""))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test]
async fn an_unmigrated_database_says_so_and_migrate_is_idempotent() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    let error = store.ensure_migrated().await.unwrap_err();
    assert!(error.to_string().contains("migrate()"), "{error}");
    let error = store
        .bind(&BindRequest::new(
            &random_ticket(),
            &random_address().0,
            Timestamp::from_millis(1),
        ))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("migrate()"), "{error}");
    let error = store
        .load(&random_ticket(), t(0), &Policy::default())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("migrate()"), "{error}");

    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ensure_migrated().await.unwrap();
    assert_eq!(count(&path, "otp_migrations").await, 4);
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let (_dir, path) = temp_db();
    let store = sqlite_at(&path).await;
    let pool = tower_otp::sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    tower_otp::sqlx::query(
        "INSERT INTO otp_migrations (version, description, applied_at) VALUES (999, 'future', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let error = store.migrate().await.unwrap_err();
    assert!(error.to_string().contains("newer"), "{error}");
    let error = store.ensure_migrated().await.unwrap_err();
    assert!(error.to_string().contains("newer"), "{error}");
}

#[tokio::test]
async fn prefixes_keep_stores_apart_in_one_file() {
    let (_dir, path) = temp_db();
    let a = sqlite_at(&path).await;
    let b = SqliteStore::open(&path)
        .await
        .unwrap()
        .with_prefix("other_")
        .unwrap();
    b.migrate().await.unwrap();
    let ticket = random_ticket();
    let (address, _) = random_address();
    a.bind(&BindRequest::new(
        &ticket,
        &address,
        Timestamp::from_millis(1),
    ))
    .await
    .unwrap();
    let policy = Policy::default();
    assert_eq!(
        a.load(&ticket, t(0), &policy).await.unwrap().binding,
        Some(address)
    );
    assert!(
        b.load(&ticket, t(0), &policy)
            .await
            .unwrap()
            .binding
            .is_none()
    );
    assert_eq!(count(&path, "other_tickets").await, 0);
    assert_eq!(count(&path, "otp_tickets").await, 1);
    for bad in ["", "Otp", "x; DROP TABLE otp_tickets", "a\"b", "1x"] {
        let error = a.clone().with_prefix(bad).map(drop).unwrap_err();
        assert!(
            error.to_string().starts_with("table prefix must be"),
            "{bad:?}: {error}"
        );
    }
    for memory in [
        "sqlite::memory:",
        "sqlite://?mode=memory",
        "sqlite://:memory:",
    ] {
        let error = SqliteStore::connect(memory).await.map(drop).unwrap_err();
        assert!(
            error.to_string().contains("not durable"),
            "{memory}: {error}"
        );
    }
}

/// The sweep removes what can no longer matter (by the callers' time) and
/// keeps the long-lived facts.
#[tokio::test]
async fn sweep_drops_expired_rows_and_keeps_long_lived_facts() {
    let (_dir, path) = temp_db();
    let store = sqlite_at(&path).await;
    let policy = Policy::default();
    let taro = EmailAddress::parse("taro@example.com").unwrap();
    let issue = async |ticket, address: &EmailAddress| {
        let (_, key) = random_address();
        let code = random_code();
        let request = IssueRequest::new(&ticket, address, &key, &code, t(0), &policy);
        let outcome = store.issue_code(&request).await.unwrap();
        assert!(
            matches!(outcome, IssueOutcome::Issued { .. }),
            "{outcome:?}"
        );
    };
    // A pending challenge nobody answers, and a bound ticket with one.
    let pending = random_ticket();
    issue(pending, &random_address().0).await;
    let bound = random_ticket();
    store
        .bind(&BindRequest::new(&bound, &taro, Timestamp::from_millis(1)))
        .await
        .unwrap();
    issue(bound, &taro).await;
    assert_eq!(count(&path, "otp_tickets").await, 2);
    // The stranger's send counts for its mailbox and its domain; the
    // owner's for the owner.
    assert_eq!(count(&path, "otp_addresses").await, 3);

    // Within the send window (and its minute of grace): nothing goes.
    assert_eq!(store.sweep(t(3600 + 59)).await.unwrap(), 0);
    assert_eq!(count(&path, "otp_tickets").await, 2);
    // After: the counters and the pending ticket go, the binding stays.
    assert_eq!(store.sweep(t(3600 + 61)).await.unwrap(), 5);
    assert_eq!(count(&path, "otp_addresses").await, 0);
    assert_eq!(count(&path, "otp_tickets").await, 1);
    let snapshot = store.load(&bound, t(3700), &policy).await.unwrap();
    assert_eq!(snapshot.binding, Some(taro));
    assert!(snapshot.recent_sends.is_empty());
    assert_eq!(
        store
            .load(&pending, t(3700), &policy)
            .await
            .unwrap()
            .pending,
        None
    );
}

/// The store sweeps by itself, in the background, once the times its
/// callers pass have moved past what can still matter.
#[tokio::test]
async fn the_store_sweeps_by_itself_as_time_passes() {
    let (_dir, path) = temp_db();
    let store = sqlite_at(&path).await;
    let policy = Policy::default();
    let (ticket, (address, key), code) = (random_ticket(), random_address(), random_code());
    let request = IssueRequest::new(&ticket, &address, &key, &code, t(0), &policy);
    store.issue_code(&request).await.unwrap();
    assert_eq!(count(&path, "otp_addresses").await, 2);
    // Hours later, any write starts a sweep (it runs after the call returns).
    store
        .claim_first_device(&ClaimRequest::new(&random_ticket(), t(0), &policy))
        .await
        .unwrap();
    let other = random_ticket();
    store.restart(&other, t(3 * 3600)).await.unwrap();
    // The claim stays; the counter and the expired challenge's row go. The
    // sweep is a task the store spawns, with no handle to wait on: poll the
    // rows, for up to 30 s of real time on a loaded machine.
    let started = std::time::Instant::now();
    while (
        count(&path, "otp_addresses").await,
        count(&path, "otp_tickets").await,
    ) != (0, 1)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no background sweep"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let snapshot = store.load(&ticket, t(3 * 3600), &policy).await.unwrap();
    assert!(snapshot.pending.is_none() && snapshot.recent_sends.is_empty());
}

/// Parallel guesses from many tasks on one file count exactly: 64 tasks on
/// four worker threads, each with its own handle onto the file (as
/// processes would hold it), start together behind a barrier; exactly the
/// round's five are counted wrong (one per attempts-left value) and every
/// other guess finds the round spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_from_many_tasks_count_exactly() {
    const TASKS: usize = 64;
    let (_dir, path) = temp_db();
    let stores = [
        Arc::new(sqlite_at(&path).await),
        Arc::new(sqlite_at(&path).await),
    ];
    let policy = Policy::default();
    let ticket = random_ticket();
    let (address, key) = random_address();
    let code = random_code();
    let now = t(0);
    let issued = stores[0]
        .issue_code(&IssueRequest::new(
            &ticket, &address, &key, &code, now, &policy,
        ))
        .await
        .unwrap();
    assert!(matches!(issued, IssueOutcome::Issued { .. }), "{issued:?}");
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            let policy = policy.clone();
            let barrier = barrier.clone();
            let guess = random_code();
            assert!(!guess.ct_eq(&code));
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .verify_code(&VerifyRequest::new(&ticket, &guess, now, &policy))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut left = Vec::new();
    let mut exhausted = 0;
    for task in tasks {
        match task.await.unwrap() {
            VerifyOutcome::Wrong {
                attempts_left,
                locked_until: None,
            } => left.push(attempts_left),
            VerifyOutcome::Exhausted => exhausted += 1,
            other => panic!("{other:?}"),
        }
    }
    left.sort_unstable();
    assert_eq!(left, [0, 1, 2, 3, 4], "one wrong guess per attempt");
    assert_eq!(exhausted, TASKS - 5);
    let snapshot = stores[1].load(&ticket, now, &policy).await.unwrap();
    assert_eq!(snapshot.attempts_used, policy.max_attempts);
    assert_eq!(snapshot.consecutive_failures, policy.max_attempts);
}

/// A database at schema version 2 (as an earlier release left it) with a
/// bound ticket: `ensure_migrated` asks for migrations, `migrate` adds the
/// binding's language and time (version 3) and the state record's table
/// (version 4), and the binding survives with both unknown.
#[tokio::test]
async fn version_2_data_survives_migration_3() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let (ticket, taro) = (random_ticket(), random_address().0);
    store
        .bind(&BindRequest::new(&ticket, &taro, t(0)))
        .await
        .unwrap();
    store.close().await;
    // Back to version 2: what versions 3 and 4 added, and their records, removed.
    let pool = tower_otp::sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for statement in [
        "ALTER TABLE otp_tickets DROP COLUMN bound_locale",
        "ALTER TABLE otp_tickets DROP COLUMN bound_at",
        "DROP TABLE otp_state",
        "DELETE FROM otp_migrations WHERE version IN (3, 4)",
    ] {
        tower_otp::sqlx::query(statement)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let store = SqliteStore::open(&path).await.unwrap();
    let error = store.ensure_migrated().await.unwrap_err();
    assert!(error.to_string().contains("migrations"), "{error}");
    store.migrate().await.unwrap();
    store.ensure_migrated().await.unwrap();
    assert_eq!(count(&path, "otp_migrations").await, 4);
    assert_eq!(
        count(&path, "otp_state").await,
        0,
        "the table is back, empty"
    );
    let s = store.load(&ticket, t(1), &Policy::default()).await.unwrap();
    assert_eq!(s.binding, Some(taro));
    assert_eq!((s.bound_locale, s.bound_at), (None, None));
}
