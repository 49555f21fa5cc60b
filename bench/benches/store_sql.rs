//! Send (`issue_code`) and verify (`verify_code`) through `SqliteStore` and
//! `PostgresStore`, beside `MemoryStore` in the same run.
//!
//! `cargo bench -p tower-otp-bench --bench store_sql` prints, per store:
//! p50/p99 latency of each operation one at a time, throughput of issue +
//! verify rounds from 4 tasks at once, and (PostgreSQL) the SQL statements
//! per operation. PostgreSQL is a server the bench starts for itself on a
//! free loopback port (`fsync = on`), and the statements are counted in the
//! log of a second one (`log_statement = all`).
//! Without a server binary it uses `OTP_TEST_DATABASE_URL` (in a schema of
//! its own, dropped after) and counts nothing. SQLite runs on a temp file
//! with its durable settings (WAL, `synchronous = FULL`): a write waits for
//! the disk.
//!
//! `ROUNDS` (default 2,000) sets the rounds per measurement. Each operation
//! uses the next ticket of a pool (each with its own address), and the time
//! given to the store moves 50 ms per round, so a ticket comes back only
//! after its cooldowns and caps have passed.
//!
//! Then the two [`SqliteDurability`] choices in the same run: first-device
//! claims per second from `CLAIM_TASKS` tasks at once (default 16), each
//! claim on a new ticket, on two files side by side, in `CLAIM_RUNS`
//! runs (default 9) of `CLAIMS` claims each (default 2,000), the two
//! choices back to back in each run; the median rates, and the median of
//! the runs' ratios. `STORE_SQL=durability` runs only this
//! part (no PostgreSQL).

#[path = "../../tests/needs/mod.rs"]
mod needs;
#[path = "../../tests/sql_support/mod.rs"]
mod sql_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tower_otp::store::conformance::{random_address, random_code, random_ticket};
use tower_otp::store::{
    ClaimOutcome, ClaimRequest, CodeHash, CounterKeys, IssueOutcome, IssueRequest, Policy, Store,
    VerifyOutcome, VerifyRequest,
};
use tower_otp::{
    EmailAddress, MemoryStore, PostgresStore, SqliteDurability, SqliteStore, TicketKey, Timestamp,
};

/// Tickets in the pool.
const POOL: usize = 20_000;
/// Store time per round.
const STEP: Duration = Duration::from_millis(50);
/// Tasks in the concurrent measurement.
const TASKS: usize = 4;

struct Bench {
    name: &'static str,
    store: Arc<dyn Store>,
    policy: Policy,
    pool: Vec<(TicketKey, EmailAddress, CounterKeys)>,
    start: Timestamp,
    rounds: AtomicU64,
}

impl Bench {
    fn new(name: &'static str, store: Arc<dyn Store>) -> Self {
        let pool = (0..POOL)
            .map(|_| {
                let (address, key) = random_address();
                (random_ticket(), address, key)
            })
            .collect();
        Self {
            name,
            store,
            policy: Policy::default(),
            pool,
            start: Timestamp::from_system_time(std::time::SystemTime::now()),
            rounds: AtomicU64::new(0),
        }
    }

    fn next(&self) -> (&(TicketKey, EmailAddress, CounterKeys), Timestamp) {
        let round = self.rounds.fetch_add(1, Ordering::Relaxed);
        let now = self.start + STEP * u32::try_from(round).expect("fewer than 2^32 rounds");
        (&self.pool[round as usize % POOL], now)
    }

    async fn issue(
        &self,
        entry: &(TicketKey, EmailAddress, CounterKeys),
        now: Timestamp,
    ) -> CodeHash {
        let code = random_code();
        let (ticket, address, key) = entry;
        let request = IssueRequest::new(ticket, address, key, &code, now, &self.policy);
        let outcome = self.store.issue_code(&request).await.expect("issue");
        assert!(
            matches!(outcome, IssueOutcome::Issued { .. }),
            "{outcome:?}"
        );
        code
    }

    async fn verify(&self, ticket: &TicketKey, code: &CodeHash, now: Timestamp) {
        let request = VerifyRequest::new(ticket, code, now, &self.policy);
        let outcome = self.store.verify_code(&request).await.expect("verify");
        assert!(
            matches!(outcome, VerifyOutcome::Verified { .. }),
            "{outcome:?}"
        );
    }

    /// p50/p99 of issue and verify one at a time.
    async fn latency(&self, rounds: usize) -> String {
        let (mut issue, mut verify) = (Vec::new(), Vec::new());
        let started = Instant::now();
        for _ in 0..rounds {
            let (entry, now) = self.next();
            let t0 = Instant::now();
            let code = self.issue(entry, now).await;
            let t1 = Instant::now();
            self.verify(&entry.0, &code, now).await;
            issue.push(t1 - t0);
            verify.push(t1.elapsed());
        }
        let wall = started.elapsed();
        issue.sort_unstable();
        verify.sort_unstable();
        format!(
            "issue_code p50 {:?} p99 {:?}; verify_code p50 {:?} p99 {:?}; {:.0} ops/s one at a time",
            percentile(&issue, 0.5),
            percentile(&issue, 0.99),
            percentile(&verify, 0.5),
            percentile(&verify, 0.99),
            (2 * rounds) as f64 / wall.as_secs_f64(),
        )
    }

    /// Issue + verify rounds from several tasks at once: operations per second.
    async fn throughput(self: &Arc<Self>, rounds: usize) -> f64 {
        let started = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let bench = self.clone();
                let n = rounds / TASKS + usize::from(t < rounds % TASKS);
                tokio::spawn(async move {
                    for _ in 0..n {
                        let (entry, now) = bench.next();
                        let code = bench.issue(entry, now).await;
                        bench.verify(&entry.0, &code, now).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("bench task");
        }
        (2 * rounds) as f64 / started.elapsed().as_secs_f64()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Statements the server logged so far.
fn statements(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("LOG:  statement: ") || l.contains("LOG:  execute "))
        .count()
}

/// Statements per operation, on a store whose tickets and addresses already
/// have rows (a resend, a verify), and for a first write to a new ticket.
async fn count_statements(store: &PostgresStore, server: &sql_support::PrivatePostgres) {
    let policy = Policy::default();
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    let (ticket, (address, key)) = (random_ticket(), random_address());
    let settle = || async {
        // Let a background sweep (at most one a minute of store time) finish.
        tokio::time::sleep(Duration::from_millis(300)).await;
        statements(&server.log())
    };
    let before = settle().await;
    let code = random_code();
    let request = IssueRequest::new(&ticket, &address, &key, &code, now, &policy);
    store.issue_code(&request).await.unwrap();
    // The first write of a store handle also starts a sweep (three statements).
    let new_rows = settle().await - before - 3;

    let later = now + Duration::from_secs(61);
    // An operation at `later` on another ticket starts the sweep that is due
    // then (three statements, at most once a minute), so that it is not
    // counted below.
    let wrong = random_code();
    store
        .verify_code(&VerifyRequest::new(
            &random_ticket(),
            &wrong,
            later,
            &policy,
        ))
        .await
        .unwrap();
    let before = settle().await;
    store.load(&ticket, later, &policy).await.unwrap();
    let load = settle().await - before;
    let code = random_code();
    let request = IssueRequest::new(&ticket, &address, &key, &code, later, &policy);
    store.issue_code(&request).await.unwrap();
    let resend = settle().await - before - load;
    let before = settle().await;
    let wrong = random_code();
    store
        .verify_code(&VerifyRequest::new(&ticket, &wrong, later, &policy))
        .await
        .unwrap();
    let wrong_verify = settle().await - before;
    let before = settle().await;
    store
        .verify_code(&VerifyRequest::new(&ticket, &code, later, &policy))
        .await
        .unwrap();
    let right_verify = settle().await - before;
    let before = settle().await;
    store
        .verify_code(&VerifyRequest::new(&ticket, &code, later, &policy))
        .await
        .unwrap();
    let nothing_to_write = settle().await - before;
    println!(
        "postgres_store statements per operation (BEGIN and COMMIT included; sqlx sends BEGIN with \
         the first statement, and pings the connection before each use): load {load}, issue_code \
         {resend} (first send to a new ticket and address: {new_rows}), verify_code wrong {wrong_verify}, \
         right {right_verify}, refused without a change {nothing_to_write}"
    );
}

/// First-device claims per second: `claims` claims, each on a new ticket,
/// from `tasks` tasks at once.
async fn claim_rate(store: &Arc<SqliteStore>, claims: usize, tasks: usize) -> f64 {
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks + 1));
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = store.clone();
            let barrier = barrier.clone();
            let n = claims / tasks + usize::from(t < claims % tasks);
            let tickets: Vec<TicketKey> = (0..n).map(|_| random_ticket()).collect();
            tokio::spawn(async move {
                let policy = Policy::default();
                barrier.wait().await;
                for ticket in &tickets {
                    let request = ClaimRequest::new(ticket, now, &policy);
                    let outcome = store.claim_first_device(&request).await.expect("claim");
                    assert!(
                        matches!(outcome, ClaimOutcome::Claimed { .. }),
                        "{outcome:?}"
                    );
                }
            })
        })
        .collect();
    barrier.wait().await;
    let started = Instant::now();
    for handle in handles {
        handle.await.expect("claim task");
    }
    claims as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The claim rate of each [`SqliteDurability`], in alternating runs on two
/// files side by side, and the ratio of the medians.
async fn durability(dir: &std::path::Path) {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (claims, runs, tasks) = (
        env("CLAIMS", 2_000),
        env("CLAIM_RUNS", 9),
        env("CLAIM_TASKS", 16),
    );
    let choices = [SqliteDurability::PowerLoss, SqliteDurability::ProcessCrash];
    let mut stores = Vec::new();
    for (i, choice) in choices.into_iter().enumerate() {
        let store = SqliteStore::open_with(dir.join(format!("claims-{i}.db")), choice)
            .await
            .expect("sqlite");
        store.migrate().await.expect("migrate");
        // Warm-up: the files' first pages, the connections.
        claim_rate(&Arc::new(store.clone()), claims / 10 + 1, tasks).await;
        stores.push(Arc::new(store));
    }
    let mut rates = vec![Vec::new(); choices.len()];
    for run in 0..runs {
        // Alternate which choice goes first.
        for k in 0..choices.len() {
            let i = (k + run) % choices.len();
            rates[i].push(claim_rate(&stores[i], claims, tasks).await);
        }
    }
    // Each run's two rates are measured back to back: their ratio holds
    // when the machine's load drifts between runs.
    let ratios: Vec<f64> = rates[1].iter().zip(&rates[0]).map(|(a, b)| a / b).collect();
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, 0.0_f64), |(l, h), &r| (l.min(r), h.max(r)));
    for (choice, rates) in choices.iter().zip(rates) {
        println!(
            "sqlite_store {choice:?}: {:.0} first-device claims/s from {tasks} tasks \
             (median of {runs} runs of {claims})",
            median(rates)
        );
    }
    println!(
        "sqlite_store ProcessCrash / PowerLoss claim rate: {:.2}x (median of the runs' ratios; \
         {low:.2}x to {high:.2}x)",
        median(ratios)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; this harness has no filters.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TASKS)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        if std::env::var("STORE_SQL").is_ok_and(|only| only == "durability") {
            durability(dir.path()).await;
            return;
        }
        let sqlite = SqliteStore::open(dir.path().join("bench.db")).await.expect("sqlite");
        sqlite.migrate().await.expect("migrate");

        // Durable as in production (the tests' servers run with fsync off).
        let server = sql_support::PrivatePostgres::start_with(&["fsync=on"]);
        let mut schema = None;
        let postgres = match &server {
            Some(server) => {
                let store = PostgresStore::connect(&server.url()).await.expect("connect");
                store.migrate().await.expect("migrate");
                Some(store)
            }
            None => match std::env::var("OTP_TEST_DATABASE_URL") {
                Ok(url) => {
                    let s = sql_support::Schema::new(&url);
                    let store = s.store().await;
                    schema = Some(s);
                    Some(store)
                }
                Err(_) => {
                    eprintln!("no PostgreSQL server binary and OTP_TEST_DATABASE_URL not set: no postgres_store");
                    None
                }
            },
        };

        let mut stores = vec![
            Arc::new(Bench::new("memory_store", Arc::new(MemoryStore::new()))),
            Arc::new(Bench::new("sqlite_store", Arc::new(sqlite))),
        ];
        if let Some(store) = &postgres {
            stores.push(Arc::new(Bench::new("postgres_store", Arc::new(store.clone()))));
        }
        for bench in &stores {
            // A short warm-up, then the measurements.
            bench.latency(rounds / 10).await;
            let latency = bench.latency(rounds).await;
            let throughput = bench.throughput(rounds).await;
            println!(
                "{}: {latency}; {throughput:.0} ops/s from {TASKS} tasks",
                bench.name
            );
        }
        durability(dir.path()).await;
        // Statements are counted on a second server that logs each one.
        if let Some(counter) = sql_support::PrivatePostgres::start_with(&["log_statement=all"]) {
            let store = PostgresStore::connect(&counter.url()).await.expect("connect");
            store.migrate().await.expect("migrate");
            count_statements(&store, &counter).await;
        }
        drop(stores);
        drop(schema);
    });
}
