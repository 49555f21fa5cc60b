//! The spike of a ticket release, on every store: `N` tickets opened by `N`
//! first devices, then `N/10` second devices that ask for a code and enter
//! it, each step compared with its store's raw single-operation rate
//! measured in the same run at the same concurrency (BENCHMARKS.md,
//! "Spike").
//!
//! ```sh
//! OTP_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//! OTP_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//! OTP_TEST_REDIS_CLUSTER_URLS=redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003 \
//! cargo run --release -p tower-otp-bench --bin spike -- --tickets=20000 --csv=docs/spike.csv
//! cargo run --release -p tower-otp-bench --bin spike -- plot docs/spike.csv docs/spike.svg
//! ```
//!
//! The design load is one million ticket links opened within ten minutes
//! (about 1,700 first-device claims a second, in bursts), a tenth of them
//! from a second device that needs a code (about 170 mails a second).
//!
//! # What runs
//!
//! In process: the real `OtpLayer` over a one-route axum router, called
//! with `tower::ServiceExt::oneshot` from `C` tasks on Tokio's multi-thread
//! runtime (one worker per core). In process rather than over HTTP because
//! the ratio asked for is the step's rate over the store's raw rate, and
//! the raw rate is taken in process: over loopback on a small host the
//! kernel's TCP path and the HTTP client would take most of the cores and
//! the ratio would measure them, not the layer and its store calls
//! (`challenge_load` measures the challenge path over HTTP).
//!
//! Per store, in order:
//!
//! 1. **limit**: the store's raw single operation, by `C` tasks for
//!    `--raw-secs` (see `backend.rs` for each store's); measured again
//!    after the steps, and the better of the two is the limit (a shared
//!    host's speed drifts);
//! 2. **claim**: `N` first devices, each a GET that earns the probe cookie
//!    and its redirect, then the GET with the probe cookie that claims the
//!    ticket and sets the device cookie;
//! 3. **send**: `N/10` second devices POST the JSON `send` with an address
//!    of their own;
//! 4. **verify**: the same devices POST the JSON `verify` with the code the
//!    mailer kept (a mailer that delivers nothing and keeps the latest code
//!    per address).
//!
//! The store sits in a `StoreTap`, which counts its calls: each step's
//! store calls, by method, are printed. The limits are raised so that none
//! throttles the spike (one address per second device over 50 domains;
//! 1,000,000 sends per domain an hour, no site-wide cap); the requests
//! carry no client address, as a service called directly has, so no
//! per-client budget applies.
//!
//! The table gives each step's rate, p50 and p99 latency, and store
//! calls; this process's CPU time per step (user and system, from
//! `/proc/self/stat` in 10 ms clock ticks, so read it at thousands of
//! steps): what the layer, the client side of the store and the runtime
//! cost, which bounds a step when the store does not; the store server's
//! CPU time per step where it tells (Redis: `INFO CPU`, summed over the
//! nodes); the limit, with the same two CPU times per raw operation; the
//! ratio to the limit; and the rate over the design load's (`× design`:
//! claims over 1,700 a second, sends and verifies over 170).
//!
//! Any step that fails (an answer other than the one a browser needs next),
//! or a phase that did not run every step, makes the run exit with status 1
//! after the table: CI runs it at small `N` for that, never for speed.
//!
//! Options: the stores to run (`memory sqlite postgres redis
//! redis-cluster`, default all; PostgreSQL, Redis and Redis Cluster read
//! `OTP_TEST_DATABASE_URL`, `OTP_TEST_REDIS_URL` and
//! `OTP_TEST_REDIS_CLUSTER_URLS`, and are skipped when theirs is unset,
//! except under `CI=true`), `--tickets=N` (default 10,000), `--concurrency=C`
//! (default 32), `--raw-secs=S` (default 2), `--csv=FILE` (the table as CSV,
//! which `spike plot CSV SVG` draws).

mod backend;
mod device;
mod load;
mod plot;

use std::sync::Arc;
use std::time::Duration;

use tower_otp::testing::{StoreCall, StoreTap};
use tower_otp::{Flow, Limits, Secret};

use self::backend::Backend;
use self::device::{LatestCodes, Site};
use self::load::{Phase, Until};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The spike's steps, in order.
const STEPS: [&str; 3] = ["claim", "send", "verify"];

#[derive(Debug, Clone)]
struct Options {
    stores: Vec<String>,
    tickets: usize,
    concurrency: usize,
    raw: Duration,
    csv: Option<String>,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, Error> {
        let mut options = Options {
            stores: Vec::new(),
            tickets: 10_000,
            concurrency: 32,
            raw: Duration::from_secs(2),
            csv: None,
        };
        for arg in args {
            let number = |prefix: &str| -> Result<Option<f64>, Error> {
                match arg.strip_prefix(prefix) {
                    Some(n) => Ok(Some(n.parse().map_err(|_| format!("bad number: {arg}"))?)),
                    None => Ok(None),
                }
            };
            if let Some(n) = number("--tickets=")? {
                options.tickets = (n as usize).max(10);
            } else if let Some(n) = number("--concurrency=")? {
                options.concurrency = (n as usize).max(1);
            } else if let Some(n) = number("--raw-secs=")? {
                options.raw = Duration::from_secs_f64(n.max(0.01));
            } else if let Some(path) = arg.strip_prefix("--csv=") {
                options.csv = Some(path.to_owned());
            } else if backend::NAMES.contains(&arg.as_str()) {
                options.stores.push(arg);
            } else {
                return Err(format!("unknown argument {arg}").into());
            }
        }
        if options.stores.is_empty() {
            options.stores = backend::NAMES.map(String::from).to_vec();
        }
        Ok(options)
    }
}

/// One step's result on one store.
#[derive(Debug)]
struct Row {
    store: String,
    step: &'static str,
    expected: usize,
    phase: Phase,
    /// Store calls per step.
    calls: f64,
    /// This process's CPU time per step (user and system, all threads).
    cpu: Option<Duration>,
    /// The store server's CPU time per step, where it tells.
    server: Option<Duration>,
    /// The store's raw single operation.
    limit: Limit,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.phase.rate() / self.limit.rate.max(1e-9)
    }

    /// The rate over the design load's: 1,700 claims a second, 170 sends
    /// and as many verifies.
    fn design(&self) -> f64 {
        let target = if self.step == "claim" { 1_700.0 } else { 170.0 };
        self.phase.rate() / target
    }

    /// This process's CPU time per step, in microseconds (NaN: not known).
    fn cpu_us(&self) -> f64 {
        micros(self.cpu)
    }

    /// This process's CPU time per raw operation, in microseconds.
    fn limit_cpu_us(&self) -> f64 {
        micros(self.limit.cpu)
    }

    /// The store server's CPU time per step and per raw operation, in
    /// microseconds (NaN where it does not tell).
    fn server_us(&self) -> (f64, f64) {
        (micros(self.server), micros(self.limit.server))
    }

    /// Failed steps, and steps that never ran.
    fn errors(&self) -> usize {
        self.phase.failures + self.expected.saturating_sub(self.phase.count())
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("plot") {
        let input = args.nth(1).unwrap_or_else(|| "docs/spike.csv".into());
        let output = args.next().unwrap_or_else(|| "docs/spike.svg".into());
        return plot::draw(&input, &output);
    }
    let options = Options::parse(args)?;
    println!(
        "{} tickets per store ({} second devices), {} concurrent tasks on {} worker threads; \
         limits measured for {:.1} s",
        options.tickets,
        options.tickets / 10,
        options.concurrency,
        tokio::runtime::Handle::current().metrics().num_workers(),
        options.raw.as_secs_f64(),
    );
    println!("design load: 1,700 claims/s, 170 sends/s (1,000,000 tickets in 10 minutes)");
    let mut rows = Vec::new();
    for name in &options.stores {
        let Some(backend) = Backend::open(name).await? else {
            continue;
        };
        let backend = Arc::new(backend);
        let result = spike(name, backend.clone(), &options).await;
        if let Ok(backend) = Arc::try_unwrap(backend) {
            backend.clean_up().await;
        }
        rows.extend(result?);
    }
    print_table(&rows);
    if let Some(path) = &options.csv {
        write_csv(path, &rows)?;
        println!("written: {path}");
    }
    let errors: usize = rows.iter().map(Row::errors).sum();
    if errors > 0 {
        eprintln!("{errors} steps failed or did not run");
        std::process::exit(1);
    }
    Ok(())
}

/// Store calls so far, by method.
fn calls(tap: &StoreTap<Arc<dyn tower_otp::store::Store>>) -> Vec<u64> {
    StoreCall::ALL.iter().map(|&call| tap.calls(call)).collect()
}

/// The calls made since `before`, per step: the total, and by method.
fn calls_since(
    tap: &StoreTap<Arc<dyn tower_otp::store::Store>>,
    before: &[u64],
    steps: usize,
) -> (f64, String) {
    let now = calls(tap);
    let per = |n: u64| n as f64 / steps.max(1) as f64;
    let mut by_method = Vec::new();
    let mut total = 0;
    for ((call, after), before) in StoreCall::ALL.iter().zip(&now).zip(before) {
        let n = after - before;
        total += n;
        if n > 0 {
            by_method.push(format!("{call:?} {:.2}", per(n)));
        }
    }
    (per(total), by_method.join(", "))
}

/// The store's raw single operation, by `tasks` tasks for `secs`: its rate,
/// and the CPU time per operation of this process and of the store's
/// server.
async fn limit(
    name: &str,
    backend: &Arc<Backend>,
    tasks: usize,
    secs: Duration,
) -> Result<Limit, Error> {
    let server_before = backend.server_cpu().await;
    let cpu_before = cpu_time();
    let shared = backend.clone();
    let raw = load::run(tasks, Until::Elapsed(secs), move |i| {
        let backend = shared.clone();
        async move { backend.raw(i).await }
    })
    .await;
    if raw.failures > 0 {
        return Err(format!("{name}: the raw operation failed: {:?}", raw.shown).into());
    }
    let cpu = per(cpu_before, cpu_time(), raw.count());
    let server = per(server_before, backend.server_cpu().await, raw.count());
    eprintln!(
        "{name}: limit {:.0} ops/s (p50 {}, p99 {}; CPU per op {}, the server's {})",
        raw.rate(),
        ms(raw.percentile(0.5)),
        ms(raw.percentile(0.99)),
        shown_us(micros(cpu)),
        shown_us(micros(server)),
    );
    Ok(Limit {
        rate: raw.rate(),
        cpu,
        server,
    })
}

/// A store's raw single-operation rate, and the CPU time per operation of
/// this process and of the store's server (where it tells).
#[derive(Debug, Clone, Copy, Default)]
struct Limit {
    rate: f64,
    cpu: Option<Duration>,
    server: Option<Duration>,
}

/// The time spent from `before` to `after`, per each of `count` operations.
fn per(before: Option<Duration>, after: Option<Duration>, count: usize) -> Option<Duration> {
    let spent = after?.checked_sub(before?)?;
    Some(spent.div_f64(count.max(1) as f64))
}

/// The CPU time this process has used so far (user and system), where
/// Linux tells it; `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command's closing parenthesis; utime and stime
    // are the 14th and 15th of the line, in clock ticks (100 a second).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The limit, then the three steps, then the limit again, on one store.
async fn spike(name: &str, backend: Arc<Backend>, options: &Options) -> Result<Vec<Row>, Error> {
    let tasks = options.concurrency;
    let before = limit(name, &backend, tasks, options.raw).await?;

    let tap = StoreTap::new(backend.store());
    let codes = Arc::new(LatestCodes::default());
    let limits = Limits::default()
        .with_sends_per_domain(1_000_000)?
        .with_sends_site_wide(None)?;
    let flow = Flow::new(&Secret::random(), tap.clone(), codes.clone())
        .with_limits(limits)
        .with_site_name("Spike Tickets");
    let site = Site::new(flow.clone())?;
    // One ticket outside the count first: the flow's first store call
    // checks the state key, which no step should pay.
    site.claim(options.tickets + 1)
        .await
        .map_err(|e| format!("{name}: the warm-up claim failed: {e}"))?;

    let second = options.tickets / 10;
    let mut rows = Vec::new();
    for step in STEPS {
        let before = calls(&tap);
        let server_before = backend.server_cpu().await;
        let cpu_before = cpu_time();
        let expected = if step == "claim" {
            options.tickets
        } else {
            second
        };
        let site = site.clone();
        let codes = codes.clone();
        let phase = load::run(tasks, Until::Done(expected), move |i| {
            let (site, codes) = (site.clone(), codes.clone());
            async move {
                match step {
                    "claim" => site.claim(i).await,
                    "send" => site.send(i).await,
                    _ => site.verify(i, &codes).await,
                }
            }
        })
        .await;
        flow.settled().await;
        let cpu = per(cpu_before, cpu_time(), phase.count());
        let server = per(server_before, backend.server_cpu().await, phase.count());
        let (calls, by_method) = calls_since(&tap, &before, phase.count());
        eprintln!(
            "{name}: {step}: {} in {:.2} s, {calls:.2} store calls each ({by_method})",
            phase.count(),
            phase.elapsed.as_secs_f64()
        );
        for shown in &phase.shown {
            eprintln!("{name}: {step} failed: {shown}");
        }
        rows.push(Row {
            store: name.to_owned(),
            step,
            expected,
            phase,
            calls,
            cpu,
            server,
            limit: Limit::default(),
        });
    }
    // The limit again after the steps: on a shared host the store's rate
    // drifts, and the better of the two is the limit the steps are held to.
    let after = limit(name, &backend, tasks, options.raw).await?;
    let limit = if after.rate > before.rate {
        after
    } else {
        before
    };
    for row in &mut rows {
        row.limit = limit;
    }
    Ok(rows)
}

/// Microseconds for the table: `–` where not known.
fn shown_us(us: f64) -> String {
    if us.is_nan() {
        "–".to_owned()
    } else {
        format!("{us:.1} µs")
    }
}

fn micros(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| store | step | steps | per s | p50 | p99 | store calls | CPU per step | server CPU per step | limit (ops/s) | CPU per op | server CPU per op | ratio | × design | failures |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {:.2} | {} | {} | {:.0} | {} | {} | {:.3} | {:.1} | {} |",
            row.store,
            row.step,
            row.phase.count(),
            row.phase.rate(),
            ms(row.phase.percentile(0.50)),
            ms(row.phase.percentile(0.99)),
            row.calls,
            shown_us(row.cpu_us()),
            shown_us(row.server_us().0),
            row.limit.rate,
            shown_us(row.limit_cpu_us()),
            shown_us(row.server_us().1),
            row.ratio(),
            row.design(),
            row.errors(),
        );
    }
}

fn write_csv(path: &str, rows: &[Row]) -> Result<(), Error> {
    let mut out = String::from(
        "store,step,steps,rate,p50_ms,p99_ms,calls,cpu_us,server_cpu_us,limit,limit_cpu_us,limit_server_cpu_us,ratio,design,failures\n",
    );
    for row in rows {
        out.push_str(&format!(
            "{},{},{},{:.0},{:.3},{:.3},{:.2},{:.0},{:.0},{:.0},{:.2},{:.2},{:.4},{:.2},{}\n",
            row.store,
            row.step,
            row.phase.count(),
            row.phase.rate(),
            row.phase.percentile(0.50).as_secs_f64() * 1000.0,
            row.phase.percentile(0.99).as_secs_f64() * 1000.0,
            row.calls,
            row.cpu_us(),
            row.server_us().0,
            row.limit.rate,
            row.limit_cpu_us(),
            row.server_us().1,
            row.ratio(),
            row.design(),
            row.errors(),
        ));
    }
    std::fs::write(path, out)?;
    Ok(())
}
