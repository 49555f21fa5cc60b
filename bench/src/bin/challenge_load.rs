//! The challenge path under load, per store: the real layer
//! served by `axum::serve` on 127.0.0.1 (an ephemeral port), and a client of
//! `C` keep-alive connections in the same process.
//!
//! ```sh
//! OTP_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//! OTP_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//! cargo run --release -p tower-otp-bench --bin challenge_load -- \
//!   memory sqlite postgres redis
//! ```
//!
//! Each simulated user has a ticket of its own. Device A claims it first,
//! through the flow (`Flow::claim_first_device`, what the gate calls at the
//! end of the first-device round trip), before the clock starts. Then device
//! B, a browser without cookies, takes the JSON API: `send` with its own
//! address, then `verify` with the code. The sends of all users run first,
//! then the verifies, so each has its own requests per second, p50 and p99.
//! The mailer does no I/O: it keeps the latest code of each address.
//!
//! Every send must answer 200 `code_sent` and every verify 200 `verified`
//! with a device cookie; anything else is a failure, and the first few are
//! printed.
//!
//! Stores: `memory`, `sqlite` (a file in a temp dir), `postgres` (at
//! `OTP_TEST_DATABASE_URL`, in a schema of its own, dropped after) and
//! `redis` (at `OTP_TEST_REDIS_URL`, under a key prefix of its own, deleted
//! after). A store whose variable is unset, or whose feature is not built, is
//! skipped with a message.
//!
//! Options: `--users=N` (default 2,000 per store), `--clients=C` (default
//! 16), `--secs=S` (each phase stops taking new users after S seconds;
//! default 50).
//!
//! The limits are raised so that they never throttle the load: every user
//! has an address of its own (`user{n}@load{n % 50}.test`), the cap per
//! domain is 1,000,000 sends an hour and there is no site-wide cap. Each
//! ticket sends once, so the resend cooldowns never wait.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower_otp::mail::{MailError, MailKind, Mailer, OtpMail};
use tower_otp::store::Store;
use tower_otp::{EmailAddress, Flow, Limits, OtpLayer, Secret, TicketId};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Domains the addresses are spread over.
const DOMAINS: usize = 50;
/// Unexpected answers printed per store.
const SHOWN: usize = 5;

/// A mailer that keeps only the latest code per address.
#[derive(Debug, Default)]
struct LatestCodes(Mutex<HashMap<String, String>>);

impl LatestCodes {
    fn take(&self, address: &str) -> Option<String> {
        self.0.lock().unwrap().remove(address)
    }
}

#[tower_otp::async_trait]
impl Mailer for LatestCodes {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        if let MailKind::Code { code, .. } = &mail.kind {
            let mut codes = self.0.lock().unwrap();
            codes.insert(mail.to.as_str().to_owned(), code.as_str().to_owned());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Options {
    users: usize,
    clients: usize,
    phase_limit: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut options = Options {
        users: 2_000,
        clients: 16,
        phase_limit: Duration::from_secs(50),
    };
    let mut stores = Vec::new();
    for arg in std::env::args().skip(1) {
        let number = |prefix: &str| -> Result<Option<u64>, Error> {
            match arg.strip_prefix(prefix) {
                Some(n) => Ok(Some(n.parse().map_err(|_| format!("bad number: {arg}"))?)),
                None => Ok(None),
            }
        };
        if let Some(n) = number("--users=")? {
            options.users = n as usize;
        } else if let Some(n) = number("--clients=")? {
            options.clients = (n as usize).max(1);
        } else if let Some(n) = number("--secs=")? {
            options.phase_limit = Duration::from_secs(n);
        } else if ["memory", "sqlite", "postgres", "redis"].contains(&arg.as_str()) {
            stores.push(arg);
        } else {
            return Err(format!("unknown argument {arg}").into());
        }
    }
    if stores.is_empty() {
        stores = ["memory", "sqlite", "postgres", "redis"]
            .map(String::from)
            .to_vec();
    }
    println!(
        "{} users per store, {} concurrent clients, each phase at most {} s",
        options.users,
        options.clients,
        options.phase_limit.as_secs()
    );
    println!(
        "limits raised: sends per domain 1,000,000/h, no site-wide cap, \
         sends per address 1,000/h, per ticket 100/h; one address per user \
         over {DOMAINS} domains; one send per ticket, so no cooldown waits"
    );
    let mut rows = Vec::new();
    for name in &stores {
        let Some(backend) = Backend::open(name).await? else {
            continue;
        };
        eprintln!("{name}: {} users...", options.users);
        let row = run(name, backend.store(), options).await?;
        backend.clean_up().await;
        for shown in &row.unexpected {
            eprintln!("{name}: unexpected: {shown}");
        }
        rows.push(row);
    }
    println!();
    println!(
        "| store | users | send req/s | send p50 | send p99 | verify req/s | verify p50 | verify p99 | failures |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {:.0} | {} | {} | {:.0} | {} | {} | {} |",
            row.store,
            row.users,
            row.send.rate(),
            ms(row.send.percentile(0.50)),
            ms(row.send.percentile(0.99)),
            row.verify.rate(),
            ms(row.verify.percentile(0.50)),
            ms(row.verify.percentile(0.99)),
            row.failures,
        );
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One store, and what it needs removed after the run.
enum Backend {
    Memory,
    #[cfg(feature = "sqlite")]
    Sqlite(tower_otp::SqliteStore, tempfile::TempDir),
    #[cfg(feature = "postgres")]
    Postgres(tower_otp::PostgresStore, String),
    #[cfg(feature = "redis")]
    Redis(tower_otp::RedisStore, String),
}

/// The value of `var`, or `None` after saying that `store` is skipped.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn env_or_skip(var: &str, store: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Some(value.trim().to_owned()),
        _ => {
            eprintln!("{store}: skipped, {var} is not set");
            None
        }
    }
}

/// A name no earlier run used: the time and a random number.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn run_tag() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!("{secs}_{:08x}", rand::random::<u32>())
}

impl Backend {
    async fn open(name: &str) -> Result<Option<Self>, Error> {
        match name {
            "memory" => Ok(Some(Backend::Memory)),
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                let dir = tempfile::Builder::new()
                    .prefix("otp-challenge-load-")
                    .tempdir()?;
                let store = tower_otp::SqliteStore::open(dir.path().join("otp.db")).await?;
                store.migrate().await?;
                Ok(Some(Backend::Sqlite(store, dir)))
            }
            #[cfg(feature = "postgres")]
            "postgres" => {
                let Some(url) = env_or_skip("OTP_TEST_DATABASE_URL", name) else {
                    return Ok(None);
                };
                let schema = format!("otp_load_{}", run_tag());
                let store = tower_otp::PostgresStore::connect(&url)
                    .await?
                    .with_schema(&schema)?;
                store.migrate().await?;
                Ok(Some(Backend::Postgres(store, schema)))
            }
            #[cfg(feature = "redis")]
            "redis" => {
                let Some(url) = env_or_skip("OTP_TEST_REDIS_URL", name) else {
                    return Ok(None);
                };
                let prefix = format!("otp-load-{}", run_tag());
                let store = tower_otp::RedisStore::new(&url)
                    .await?
                    .with_prefix(&prefix)?;
                Ok(Some(Backend::Redis(store, prefix)))
            }
            _ => {
                eprintln!("{name}: skipped, built without the `{name}` feature");
                Ok(None)
            }
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Memory => Arc::new(tower_otp::MemoryStore::new()),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store, _) => Arc::new(store.clone()),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store, _) => Arc::new(store.clone()),
            #[cfg(feature = "redis")]
            Backend::Redis(store, _) => Arc::new(store.clone()),
        }
    }

    /// Drops the schema, deletes the keys, removes the file.
    async fn clean_up(self) {
        match self {
            Backend::Memory => {}
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store, dir) => {
                store.close().await;
                drop(dir);
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(store, schema) => {
                let drop_schema = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                if let Err(e) = tower_otp::sqlx::query(&drop_schema)
                    .execute(store.pool())
                    .await
                {
                    eprintln!("postgres: could not drop schema {schema}: {e}");
                }
                store.pool().close().await;
            }
            #[cfg(feature = "redis")]
            Backend::Redis(_, prefix) => {
                if let Err(e) = delete_keys(&prefix).await {
                    eprintln!("redis: could not delete the keys under {prefix}: {e}");
                }
            }
        }
    }
}

/// Deletes every key under `prefix`.
#[cfg(feature = "redis")]
async fn delete_keys(prefix: &str) -> Result<(), Error> {
    use tower_otp::redis;
    let url = std::env::var("OTP_TEST_REDIS_URL")?;
    let client = redis::Client::open(url.trim())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut connection)
                .await?;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(());
        }
    }
}

/// One store's results.
struct Row {
    store: String,
    users: usize,
    send: Phase,
    verify: Phase,
    failures: usize,
    unexpected: Vec<String>,
}

/// What the clients saw during one phase.
#[derive(Default)]
struct Phase {
    /// The users whose request succeeded.
    passed: Vec<usize>,
    /// Every request's latency, sorted.
    latencies: Vec<Duration>,
    /// What went wrong, per failed request.
    failed: Vec<String>,
    elapsed: Duration,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nearest rank.
    fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        self.latencies[rank - 1]
    }
}

/// Runs `job` for each of `users` on `clients` tasks, until all are done or
/// `limit` has passed (then no new user starts).
async fn phase<F, Fut>(users: Vec<usize>, clients: usize, limit: Duration, job: F) -> Phase
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let users = Arc::new(users);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (users, next, job) = (users.clone(), next.clone(), job.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Phase::default();
            while start.elapsed() < limit {
                let Some(&user) = users.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let began = Instant::now();
                let outcome = job(user).await;
                seen.latencies.push(began.elapsed());
                match outcome {
                    Ok(()) => seen.passed.push(user),
                    Err(what) => seen.failed.push(format!("user {user}: {what}")),
                }
            }
            seen
        }));
    }
    let mut all = Phase::default();
    for task in tasks {
        let seen = task.await.expect("a client task panicked");
        all.passed.extend(seen.passed);
        all.latencies.extend(seen.latencies);
        all.failed.extend(seen.failed);
    }
    all.elapsed = start.elapsed();
    all.latencies.sort_unstable();
    all.passed.sort_unstable();
    all
}

/// The server and the client for one store.
struct Target {
    client: Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    codes: Arc<LatestCodes>,
    tag: String,
}

impl Target {
    fn ticket(&self, user: usize) -> String {
        format!("load-{}-{user}", self.tag)
    }

    fn address(user: usize) -> String {
        format!("user{user}@load{}.test", user % DOMAINS)
    }

    /// POSTs a JSON action like device B's script would; the status, whether
    /// a device cookie was set, and the body.
    async fn post(
        &self,
        user: usize,
        body: serde_json::Value,
    ) -> Result<(StatusCode, bool, String), String> {
        let uri = format!("http://{}/tickets/{}", self.addr, self.ticket(user));
        let request = Request::post(uri)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let device_cookie = response.headers().get_all(SET_COOKIE).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.starts_with("otp-") && !v.contains("Max-Age=0"))
        });
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body failed: {e}"))?
            .to_bytes();
        Ok((
            status,
            device_cookie,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    }

    async fn send(&self, user: usize) -> Result<(), String> {
        let email = Self::address(user);
        let body = serde_json::json!({"action": "send", "email": email});
        let (status, _, text) = self.post(user, body).await?;
        let state = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["state"].as_str().map(str::to_owned));
        if status == StatusCode::OK && state.as_deref() == Some("code_sent") {
            Ok(())
        } else {
            Err(format!("send answered {status}: {}", clip(&text)))
        }
    }

    async fn verify(&self, user: usize) -> Result<(), String> {
        let address = EmailAddress::parse(&Self::address(user)).map_err(|e| e.to_string())?;
        let Some(code) = self.codes.take(address.as_str()) else {
            return Err("no code was mailed".into());
        };
        let body = serde_json::json!({"action": "verify", "code": code});
        let (status, device_cookie, text) = self.post(user, body).await?;
        let verified = serde_json::json!({"state": "verified"});
        let json = serde_json::from_str::<serde_json::Value>(&text).ok();
        if status == StatusCode::OK && device_cookie && json.as_ref() == Some(&verified) {
            Ok(())
        } else {
            Err(format!(
                "verify answered {status} (device cookie: {device_cookie}): {}",
                clip(&text)
            ))
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

/// One store: claims, then sends, then verifies.
async fn run(name: &str, store: Arc<dyn Store>, options: Options) -> Result<Row, Error> {
    let codes = Arc::new(LatestCodes::default());
    let limits = Limits::default()
        .with_sends_per_domain(1_000_000)?
        .with_sends_site_wide(None)?
        .with_sends_per_address(1_000)?
        .with_sends_per_ticket(100)?;
    let flow = Flow::new(&Secret::random(), store, codes.clone())
        .with_limits(limits)
        .with_site_name("Load Tickets");
    let layer = OtpLayer::new(flow.clone())
        .with_ticket_path("/tickets/{ticket}")?
        .with_cookie_secure(false);
    let app = Router::new()
        .route("/tickets/{ticket}", get(|| async { "ticket" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(options.clients)
        .build_http();
    let target = Arc::new(Target {
        client,
        addr,
        codes,
        tag: format!("{:08x}", rand::random::<u32>()),
    });
    let (clients, limit) = (options.clients, options.phase_limit);

    // Device A: every ticket claimed before the clock starts.
    let everyone: Vec<usize> = (0..options.users).collect();
    let claim = {
        let (flow, target) = (flow.clone(), target.clone());
        move |user: usize| {
            let (flow, target) = (flow.clone(), target.clone());
            async move {
                let key = flow.ticket_key(&TicketId::new(target.ticket(user)));
                match flow.claim_first_device(&key).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("the ticket was claimed already".into()),
                    Err(e) => Err(format!("claim failed: {e}")),
                }
            }
        }
    };
    let claimed = phase(everyone, clients, limit, claim).await;
    eprintln!(
        "{name}: {} tickets claimed in {:.1} s",
        claimed.passed.len(),
        claimed.elapsed.as_secs_f64()
    );

    // Device B: send, then verify.
    let send = {
        let target = target.clone();
        move |user: usize| {
            let target = target.clone();
            async move { target.send(user).await }
        }
    };
    let sent = phase(claimed.passed.clone(), clients, limit, send).await;
    let verify = {
        let target = target.clone();
        move |user: usize| {
            let target = target.clone();
            async move { target.verify(user).await }
        }
    };
    let verified = phase(sent.passed.clone(), clients, limit, verify).await;
    server.abort();

    let unexpected: Vec<String> = (claimed.failed.iter())
        .chain(&sent.failed)
        .chain(&verified.failed)
        .take(SHOWN)
        .cloned()
        .collect();
    let failures = claimed.failed.len() + sent.failed.len() + verified.failed.len();
    Ok(Row {
        store: name.to_owned(),
        users: sent.latencies.len(),
        send: sent,
        verify: verified,
        failures,
        unexpected,
    })
}
