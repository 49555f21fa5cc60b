//! The challenge path through a store: issue a code, then verify it.
//!
//! `cargo bench -p tower-otp-bench --bench store` reports, per issue+verify round trip, the
//! median time and the throughput in store operations per second (two per
//! round). The memory store is the baseline that shared stores are compared
//! with.
//!
//! The store holds a steady 100,000 tickets (each with its own address),
//! shared out between the tasks so that no two tasks use one ticket at once.
//! The clock given to the store moves 10 ms per round of any task, and jumps
//! ahead when a ticket comes back sooner than 1,000 s of store time after its
//! last round, so cooldowns and caps have always passed; the store's own
//! sweeping runs as it would in production.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tower_otp::store::conformance::{random_address, random_code, random_ticket};
use tower_otp::store::{
    CounterKeys, IssueOutcome, IssueRequest, Policy, Store, VerifyOutcome, VerifyRequest,
};
use tower_otp::{EmailAddress, MemoryStore, TicketKey, Timestamp};

/// Tickets in the store.
const TICKETS: usize = 100_000;
/// Store time per round.
const STEP: Duration = Duration::from_millis(10);
/// Rounds of store time between two rounds of one ticket (1,000 s).
const GAP: u64 = 100_000;
/// Tasks in the parallel benchmark.
const TASKS: u64 = 4;

struct Ticket {
    key: TicketKey,
    address: EmailAddress,
    address_key: CounterKeys,
    /// The store time of its last round, in rounds (0: none yet).
    last: AtomicU64,
}

struct Bench<S> {
    store: S,
    policy: Policy,
    pool: Vec<Ticket>,
    start: Timestamp,
    /// The store's clock, in rounds.
    clock: AtomicU64,
    /// Rounds so far per task: which of its tickets is next.
    lanes: Vec<AtomicU64>,
}

impl<S: Store> Bench<S> {
    fn new(store: S, tasks: u64) -> Self {
        let pool = (0..TICKETS)
            .map(|_| {
                let (address, address_key) = random_address();
                Ticket {
                    key: random_ticket(),
                    address,
                    address_key,
                    last: AtomicU64::new(0),
                }
            })
            .collect();
        Self {
            store,
            policy: Policy::default(),
            pool,
            start: Timestamp::from_millis(1_700_000_000_000),
            clock: AtomicU64::new(GAP),
            lanes: (0..tasks).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// One round trip for task `lane`: issue a code for its next ticket, then
    /// verify it.
    async fn round(&self, lane: usize) {
        let lane_len = self.pool.len() / self.lanes.len();
        let j = self.lanes[lane].fetch_add(1, Ordering::Relaxed) as usize;
        let ticket = &self.pool[lane * lane_len + j % lane_len];
        let mut tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let ready = ticket.last.load(Ordering::Relaxed) + GAP;
        if tick < ready {
            tick = ready;
            self.clock.fetch_max(ready, Ordering::Relaxed);
        }
        ticket.last.store(tick, Ordering::Relaxed);
        let now = self.start + STEP * u32::try_from(tick).expect("fewer than 2^32 rounds");
        let code = random_code();
        let (key, address) = (&ticket.key, &ticket.address);
        let issue = IssueRequest::new(key, address, &ticket.address_key, &code, now, &self.policy);
        let issued = self.store.issue_code(&issue).await.expect("issue");
        assert!(matches!(issued, IssueOutcome::Issued { .. }), "{issued:?}");
        let verify = VerifyRequest::new(key, &code, now, &self.policy);
        let verified = self.store.verify_code(&verify).await.expect("verify");
        assert!(
            matches!(verified, VerifyOutcome::Verified { .. }),
            "{verified:?}"
        );
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

    let bench = Bench::new(MemoryStore::new(), 1);
    group.bench_function("issue_verify", |b| {
        b.to_async(&runtime).iter(|| bench.round(0));
    });

    // The same round trips from several tasks at once: throughput under
    // contention (time per round is wall time divided by all rounds).
    let bench = Arc::new(Bench::new(MemoryStore::new(), TASKS));
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
                                bench.round(t as usize).await;
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
