//! Send (`issue_code`) and verify (`verify_code`) through `RedisStore` on
//! loopback, beside `MemoryStore` in the same run.
//!
//! `cargo bench -p tower-otp-bench --bench store_redis` runs criterion (time
//! per operation, operations per second), then a plain timing loop that
//! prints p50/p99 latency per operation and the Redis round trips per
//! operation, counted from `INFO commandstats` deltas on a `redis-server`
//! the bench starts for itself (from PATH) on a free loopback port. Without
//! `redis-server` it uses `OTP_TEST_REDIS_URL`, where the round-trip count
//! includes whatever else that server is doing; without either, it measures
//! the memory store only.
//!
//! Each operation uses the next ticket of a fixed pool (each with its own
//! address), and the time given to the store moves 50 ms per round, so a
//! ticket comes back only after 1,000 s of store time, when its cooldowns
//! and caps have passed.

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tower_otp::redis;
use tower_otp::store::CodeHash;
use tower_otp::store::conformance::{random_address, random_code, random_ticket};
use tower_otp::store::{
    CounterKeys, IssueOutcome, IssueRequest, Policy, Store, VerifyOutcome, VerifyRequest,
};
use tower_otp::{EmailAddress, MemoryStore, RedisStore, TicketKey, Timestamp};

/// Tickets in the pool.
const POOL: usize = 20_000;
/// Store time per round.
const STEP: Duration = Duration::from_millis(50);
/// Tasks in the concurrent benchmark.
const TASKS: usize = 4;
/// Rounds in the latency loop.
const LATENCY_ROUNDS: usize = 5_000;

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
            start: Timestamp::from_millis(1_700_000_000_000),
            rounds: AtomicU64::new(0),
        }
    }

    /// The next ticket and the time to use with it. Concurrent tasks take
    /// different tickets (the pool is far larger than the tasks).
    fn next(&self) -> (&(TicketKey, EmailAddress, CounterKeys), Timestamp) {
        let round = self.rounds.fetch_add(1, Ordering::Relaxed);
        let now = self.start + STEP * u32::try_from(round).expect("fewer than 2^32 rounds");
        (&self.pool[round as usize % POOL], now)
    }

    async fn issue(
        &self,
        (ticket, address, key): &(TicketKey, EmailAddress, CounterKeys),
        now: Timestamp,
    ) -> CodeHash {
        let code = random_code();
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
        black_box(outcome);
    }

    /// `iters` rounds of issue then verify; returns the time spent in one of them.
    async fn timed(&self, iters: u64, time_verify: bool) -> Duration {
        let mut spent = Duration::ZERO;
        for _ in 0..iters {
            let (entry, now) = self.next();
            let started = Instant::now();
            let code = self.issue(entry, now).await;
            let issued = Instant::now();
            self.verify(&entry.0, &code, now).await;
            spent += if time_verify {
                issued.elapsed()
            } else {
                issued - started
            };
        }
        spent
    }

    /// Issue+verify rounds from several tasks at once: wall time.
    async fn concurrent(self: &Arc<Self>, iters: u64) -> Duration {
        let started = Instant::now();
        let tasks: Vec<_> = (0..TASKS as u64)
            .map(|t| {
                let bench = self.clone();
                let rounds = iters / TASKS as u64 + u64::from(t < iters % TASKS as u64);
                tokio::spawn(async move {
                    for _ in 0..rounds {
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
        started.elapsed()
    }
}

/// The Redis the bench talks to: its own server, or `OTP_TEST_REDIS_URL`.
struct Server {
    url: String,
    child: Option<Child>,
    private: bool,
}

impl Server {
    fn find() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let spawned = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(child) = spawned {
            for _ in 0..200 {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Some(Self {
                url: format!("redis://127.0.0.1:{port}"),
                child: Some(child),
                private: true,
            });
        }
        let url = std::env::var("OTP_TEST_REDIS_URL").ok()?;
        Some(Self {
            url,
            child: None,
            private: false,
        })
    }

    /// Script calls so far: each is one round trip.
    async fn script_calls(&self) -> u64 {
        let client = redis::Client::open(self.url.as_str()).expect("url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut connection)
            .await
            .expect("INFO");
        info.lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                if !matches!(name, "evalsha" | "eval" | "script|load") {
                    return None;
                }
                rest.strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn criterion_benches(c: &mut Criterion, runtime: &tokio::runtime::Runtime, stores: &[Arc<Bench>]) {
    for bench in stores {
        let mut group = c.benchmark_group(bench.name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("issue_code", |b| {
            b.to_async(runtime)
                .iter_custom(|iters| async move { bench.timed(iters, false).await });
        });
        group.bench_function("verify_code", |b| {
            b.to_async(runtime)
                .iter_custom(|iters| async move { bench.timed(iters, true).await });
        });
        group.throughput(Throughput::Elements(2));
        group.bench_function("issue_verify_4_tasks", |b| {
            b.to_async(runtime)
                .iter_custom(|iters| async move { bench.concurrent(iters).await });
        });
        group.finish();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// p50/p99 of issue and verify one at a time, and round trips per operation.
async fn latency(bench: &Bench, server: Option<&Server>) {
    let name = bench.name;
    let mut issue = Vec::with_capacity(LATENCY_ROUNDS);
    let mut verify = Vec::with_capacity(LATENCY_ROUNDS);
    let calls_before = match server {
        Some(s) => s.script_calls().await,
        None => 0,
    };
    let started = Instant::now();
    for _ in 0..LATENCY_ROUNDS {
        let (entry, now) = bench.next();
        let t0 = Instant::now();
        let code = bench.issue(entry, now).await;
        let t1 = Instant::now();
        bench.verify(&entry.0, &code, now).await;
        issue.push(t1 - t0);
        verify.push(t1.elapsed());
    }
    let wall = started.elapsed();
    let trips = match server {
        Some(s) => {
            let calls = s.script_calls().await - calls_before;
            format!(
                ", round trips per operation {:.2}{}",
                calls as f64 / (2 * LATENCY_ROUNDS) as f64,
                if s.private { "" } else { " (shared server)" }
            )
        }
        None => String::new(),
    };
    issue.sort_unstable();
    verify.sort_unstable();
    println!(
        "{name}: issue_code p50 {:?} p99 {:?}; verify_code p50 {:?} p99 {:?}; {:.0} ops/s one at a time{trips}",
        percentile(&issue, 0.5),
        percentile(&issue, 0.99),
        percentile(&verify, 0.5),
        percentile(&verify, 0.99),
        (2 * LATENCY_ROUNDS) as f64 / wall.as_secs_f64(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TASKS)
        .enable_all()
        .build()
        .expect("runtime");
    let server = Server::find();
    let mut stores = vec![Arc::new(Bench::new(
        "memory_store",
        Arc::new(MemoryStore::new()),
    ))];
    match &server {
        Some(server) => {
            let store = runtime
                .block_on(RedisStore::new(&server.url))
                .expect("connect to redis")
                .with_prefix(&format!("otp-bench-{:08x}", rand::random::<u32>()))
                .expect("prefix");
            stores.push(Arc::new(Bench::new("redis_store", Arc::new(store))));
        }
        None => {
            eprintln!("no redis-server on PATH and OTP_TEST_REDIS_URL not set: memory store only")
        }
    }

    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion, &runtime, &stores);
    criterion.final_summary();

    runtime.block_on(async {
        latency(&stores[0], None).await;
        if let (Some(bench), Some(server)) = (stores.get(1), server.as_ref()) {
            latency(bench, Some(server)).await;
        }
    });
}
