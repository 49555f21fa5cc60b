//! The challenge path through a store: issue a code, then verify it.
//!
//! `cargo bench --bench store` reports, per issue+verify round trip, the
//! median time and the throughput in store operations per second (two per
//! round). The memory store is the baseline that shared stores are compared
//! with.
//!
//! Each round uses the next ticket of a fixed pool (each with its own
//! address), and the clock given to the store moves 100 ms per round, so a
//! ticket comes back after its cooldowns and caps have passed, and the store
//! keeps a steady size (sweeping included).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tower_otp::store::conformance::{random_address, random_code, random_ticket};
use tower_otp::store::{
    AddressKey, IssueOutcome, IssueRequest, Policy, Store, VerifyOutcome, VerifyRequest,
};
use tower_otp::{EmailAddress, MemoryStore, TicketKey, Timestamp};

/// Tickets in the pool: a ticket comes back every 1,000 s of store time.
const POOL: usize = 10_000;
/// Store time per round.
const STEP: Duration = Duration::from_millis(100);
/// Tasks in the parallel benchmark.
const TASKS: u64 = 4;

struct Bench<S> {
    store: S,
    policy: Policy,
    pool: Vec<(TicketKey, EmailAddress, AddressKey)>,
    start: Timestamp,
    next: AtomicU64,
}

impl<S: Store> Bench<S> {
    fn new(store: S) -> Self {
        let pool = (0..POOL)
            .map(|_| {
                let (address, key) = random_address();
                (random_ticket(), address, key)
            })
            .collect();
        Self {
            store,
            policy: Policy::default(),
            pool,
            start: Timestamp::from_millis(1_700_000_000_000),
            next: AtomicU64::new(0),
        }
    }

    /// One round trip: issue a code for the next ticket, then verify it.
    async fn round(&self) {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let (ticket, address, key) = &self.pool[i as usize % POOL];
        let now = self.start + STEP * u32::try_from(i).expect("fewer than 2^32 rounds");
        let code = random_code();
        let issue = IssueRequest::new(ticket, address, key, &code, now, &self.policy);
        let issued = self.store.issue_code(&issue).await.expect("issue");
        assert!(matches!(issued, IssueOutcome::Issued { .. }), "{issued:?}");
        let verify = VerifyRequest::new(ticket, &code, now, &self.policy);
        let verified = self.store.verify_code(&verify).await.expect("verify");
        assert!(matches!(verified, VerifyOutcome::Verified { .. }));
        black_box(verified);
    }
}

fn memory_store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TASKS as usize)
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("memory_store");
    group.throughput(Throughput::Elements(2));

    let bench = Bench::new(MemoryStore::new());
    group.bench_function("issue_verify", |b| {
        b.to_async(&runtime).iter(|| bench.round());
    });

    // The same round trips from several tasks at once: throughput under
    // contention (time per round is wall time divided by all rounds).
    let bench = Arc::new(Bench::new(MemoryStore::new()));
    group.bench_function("issue_verify_4_tasks", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let bench = bench.clone();
            async move {
                let started = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|t| {
                        let bench = bench.clone();
                        let rounds = iters / TASKS + u64::from(t < iters % TASKS);
                        tokio::spawn(async move {
                            for _ in 0..rounds {
                                bench.round().await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("bench task");
                }
                started.elapsed()
            }
        });
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    memory_store(&mut criterion);
    criterion.final_summary();
}
