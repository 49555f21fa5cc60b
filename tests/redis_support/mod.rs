//! What the Redis tests share: the servers' URLs (read at run time), a key
//! prefix per run, and a private `redis-server` a test may stop and start.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tower_otp::RedisStore;
use tower_otp::redis::{self, AsyncCommands};
use tower_otp::store::Store;
use tower_otp::store::conformance::Backing;

use crate::needs;

pub const SINGLE_ENV: &str = "OTP_TEST_REDIS_URL";
pub const CLUSTER_ENV: &str = "OTP_TEST_REDIS_CLUSTER_URLS";

/// Test prefixes start with this, then the run's start (Unix seconds).
const TEST_PREFIX: &str = "otp-test-";

/// A prefix for this test process, so that runs never see each other's keys.
pub static RUN_PREFIX: LazyLock<String> = LazyLock::new(|| {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("{TEST_PREFIX}{secs}-{:08x}", rand::random::<u32>())
});

/// The single-node URL, or `None` when it is not set (which fails the test
/// under CI, see `tests/needs`).
pub fn single_url() -> Option<String> {
    match std::env::var(SINGLE_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            needs::missing(&format!(
                "Redis: {SINGLE_ENV} not set (e.g. redis://127.0.0.1:6379)"
            ));
            None
        }
    }
}

/// The cluster URLs, or `None` when they are not set (which fails the test
/// under CI, see `tests/needs`).
pub fn cluster_urls() -> Option<Vec<String>> {
    match std::env::var(CLUSTER_ENV) {
        Ok(urls) if !urls.trim().is_empty() => Some(
            urls.split(',')
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty())
                .collect(),
        ),
        _ => {
            needs::missing(&format!(
                "a Redis Cluster: {CLUSTER_ENV} not set (.ci/redis-cluster.sh starts one \
                 and prints the value)"
            ));
            None
        }
    }
}

/// A store on the single node, under this run's prefix.
pub async fn single_store(url: &str) -> RedisStore {
    sweep_old_runs(&[url.to_owned()]).await;
    RedisStore::new(url)
        .await
        .expect("connect to OTP_TEST_REDIS_URL")
        .with_prefix(&RUN_PREFIX)
        .unwrap()
}

/// A store on the cluster, under this run's prefix.
pub async fn cluster_store(urls: &[String]) -> RedisStore {
    sweep_old_runs(urls).await;
    RedisStore::cluster(urls)
        .await
        .expect("connect to OTP_TEST_REDIS_CLUSTER_URLS")
        .with_prefix(&RUN_PREFIX)
        .unwrap()
}

/// Deletes what test runs that started more than an hour ago left behind
/// (claims and bindings have no TTL), once per process and node.
async fn sweep_old_runs(urls: &[String]) {
    static DONE: tokio::sync::Mutex<Vec<String>> = tokio::sync::Mutex::const_new(Vec::new());
    let mut done = DONE.lock().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for url in urls {
        if done.contains(url) {
            continue;
        }
        done.push(url.clone());
        let Ok(client) = redis::Client::open(url.as_str()) else {
            continue;
        };
        let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
            continue;
        };
        let mut cursor: u64 = 0;
        loop {
            let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{TEST_PREFIX}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
            else {
                break;
            };
            for key in keys {
                let started = key[TEST_PREFIX.len()..]
                    .split('-')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok());
                if started.is_some_and(|s| s + 3600 < now) {
                    // One key at a time: on a cluster node, keys differ in slot.
                    let _: redis::RedisResult<()> = connection.del(&key).await;
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
}

/// A single node or a cluster as the lifecycle checks see it: each handle
/// its own store (and connections) under one prefix of its own.
pub struct RedisBacking {
    urls: Vec<String>,
    cluster: bool,
    prefix: String,
}

impl RedisBacking {
    /// The single node, or `None` when it is not configured.
    pub fn single() -> Option<Self> {
        Some(Self::new(vec![single_url()?], false))
    }

    /// The cluster, or `None` when it is not configured.
    pub fn cluster() -> Option<Self> {
        Some(Self::new(cluster_urls()?, true))
    }

    fn new(urls: Vec<String>, cluster: bool) -> Self {
        let prefix = format!("{}-life-{:08x}", *RUN_PREFIX, rand::random::<u32>());
        Self {
            urls,
            cluster,
            prefix,
        }
    }
}

#[tower_otp::async_trait]
impl Backing for RedisBacking {
    async fn open(&self) -> Arc<dyn Store> {
        let store = if self.cluster {
            cluster_store(&self.urls).await
        } else {
            single_store(&self.urls[0]).await
        };
        Arc::new(store.with_prefix(&self.prefix).unwrap())
    }
}

/// A private `redis-server` as the outage check sees it: frozen (SIGSTOP:
/// nothing answers, connections stay open) and thawed.
pub struct PrivateRedisBacking {
    server: PrivateRedis,
}

impl PrivateRedisBacking {
    /// `None` when `redis-server` is not on `PATH` (which fails under CI).
    pub fn start() -> Option<Self> {
        PrivateRedis::start(&[]).map(|server| Self { server })
    }
}

#[tower_otp::async_trait]
impl Backing for PrivateRedisBacking {
    async fn open(&self) -> Arc<dyn Store> {
        let store = RedisStore::new(&self.server.url())
            .await
            .expect("connect to the private redis")
            .with_timeout(Duration::from_millis(300))
            .unwrap();
        Arc::new(store)
    }
    async fn set_reachable(&self, reachable: bool) {
        self.server.freeze(!reachable);
    }
    fn runs_queued_calls(&self) -> bool {
        true
    }
}

/// A `redis-server` of the test's own on a free loopback port, which the test
/// may stop and start again on the same port.
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one, or returns `None` when `redis-server` is not on `PATH`
    /// (which fails the test under CI, see `tests/needs`).
    pub fn start(extra: &[&str]) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            needs::missing("a Redis server of the test's own: redis-server is not on PATH");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("tower-otp-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port,
            dir,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            child: None,
        };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and waits until it listens.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let address: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let started = Instant::now();
        while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGKILL, as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("running").id();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// `INFO commandstats` calls per command (`evalsha`, `hincrby`...).
    pub async fn command_calls(&self) -> std::collections::HashMap<String, u64> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut connection)
            .await
            .unwrap();
        info.lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest
                    .strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
