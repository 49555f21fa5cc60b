//! What the SQL store tests share: stores in temp files and throwaway
//! schemas that are removed after the test, the PostgreSQL URL from the
//! environment, and a PostgreSQL server of the test's own.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tower_otp::Timestamp;
use tower_otp::store::Store;
use tower_otp::store::conformance::Backing;
use tower_otp::testing::StoreTap;

use crate::needs;

pub const PG_ENV: &str = "OTP_TEST_DATABASE_URL";

/// `store`, holding `guard` (a temp dir, a schema) until the last clone is
/// dropped.
pub fn guarded<S>(store: S, guard: impl Send + Sync + 'static) -> StoreTap<S> {
    StoreTap::new(store).holding(guard)
}

// ---------------------------------------------------------------------------
// SQLite.

#[cfg(feature = "sqlite")]
#[allow(unused_imports)]
pub use self::sqlite::*;

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use tower_otp::SqliteStore;

    /// A new temp dir (removed when dropped) and the path of a database file in it.
    pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix("tower-otp-sqlite-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("otp.db");
        (dir, path)
    }

    /// A migrated store on `path`.
    pub async fn sqlite_at(path: &Path) -> SqliteStore {
        let store = SqliteStore::open(path).await.expect("open sqlite");
        store.migrate().await.expect("migrate");
        store
    }

    /// A new file as the lifecycle checks see it: each handle its own
    /// `SqliteStore` on the file, the sweep, the rows.
    pub struct SqliteBacking {
        dir: Arc<tempfile::TempDir>,
        path: PathBuf,
    }

    impl SqliteBacking {
        pub fn new() -> Self {
            let (dir, path) = temp_db();
            Self {
                dir: Arc::new(dir),
                path,
            }
        }
    }

    #[tower_otp::async_trait]
    impl Backing for SqliteBacking {
        async fn open(&self) -> Arc<dyn Store> {
            Arc::new(guarded(sqlite_at(&self.path).await, self.dir.clone()))
        }
        async fn sweep(&self, now: Timestamp) {
            let store = sqlite_at(&self.path).await;
            store.sweep(now).await.expect("sweep");
            store.close().await;
        }
        async fn ticket_records(&self) -> u64 {
            let url = format!("sqlite://{}", self.path.display());
            let pool = tower_otp::sqlx::SqlitePool::connect(&url).await.unwrap();
            let (n,): (i64,) = tower_otp::sqlx::query_as("SELECT COUNT(*) FROM otp_tickets")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n as u64
        }
    }

    /// `n` handles, each its own `SqliteStore` (its own connections) on one
    /// new file, which is removed with the last handle.
    pub async fn sqlite_handles(n: usize) -> Vec<Arc<dyn Store>> {
        let (dir, path) = temp_db();
        let dir = Arc::new(dir);
        let mut handles: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..n {
            handles.push(Arc::new(guarded(sqlite_at(&path).await, dir.clone())));
        }
        handles
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL.

#[cfg(feature = "postgres")]
#[allow(unused_imports)]
pub use self::postgres::*;

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use tower_otp::PostgresStore;

    /// The PostgreSQL URL, or `None` when it is not set (which fails the
    /// test under CI, see `tests/needs`).
    pub fn pg_url() -> Option<String> {
        match std::env::var(PG_ENV) {
            Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
            _ => {
                needs::missing(&format!(
                    "PostgreSQL: {PG_ENV} not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
                ));
                None
            }
        }
    }

    /// A schema of this test's own, dropped (with everything in it) when
    /// the last holder lets go.
    pub struct Schema {
        pub url: String,
        pub name: String,
    }

    impl Schema {
        pub fn new(url: &str) -> Arc<Self> {
            Arc::new(Self {
                url: url.to_owned(),
                name: format!(
                    "otp_test_{}_{:08x}",
                    std::process::id(),
                    rand::random::<u32>()
                ),
            })
        }

        /// A migrated store in this schema, with its own pool.
        pub async fn store(&self) -> PostgresStore {
            let store = PostgresStore::connect(&self.url)
                .await
                .expect("connect to postgres")
                .with_schema(&self.name)
                .unwrap();
            store.migrate().await.expect("migrate");
            store
        }
    }

    /// A schema of its own as the lifecycle checks see it: each handle its
    /// own `PostgresStore` (and pool), the sweep, the rows.
    pub struct PgBacking {
        schema: Arc<Schema>,
    }

    impl PgBacking {
        pub fn new(url: &str) -> Self {
            Self {
                schema: Schema::new(url),
            }
        }
    }

    #[tower_otp::async_trait]
    impl Backing for PgBacking {
        async fn open(&self) -> Arc<dyn Store> {
            Arc::new(guarded(self.schema.store().await, self.schema.clone()))
        }
        async fn sweep(&self, now: Timestamp) {
            let store = self.schema.store().await;
            store.sweep(now).await.expect("sweep");
            store.pool().close().await;
        }
        async fn ticket_records(&self) -> u64 {
            let store = self.schema.store().await;
            let sql = format!("SELECT COUNT(*) FROM \"{}\".otp_tickets", self.schema.name);
            let (n,): (i64,) = tower_otp::sqlx::query_as(&sql)
                .fetch_one(store.pool())
                .await
                .unwrap();
            store.pool().close().await;
            n as u64
        }
    }

    /// A PostgreSQL server of the test's own as the outage check sees it:
    /// stopped (as a crash would) and started again.
    pub struct PrivatePgBacking {
        server: PrivatePostgres,
    }

    impl PrivatePgBacking {
        /// `None` when no server can be run (which fails under CI).
        pub fn start() -> Option<Self> {
            PrivatePostgres::start().map(|server| Self { server })
        }
    }

    #[tower_otp::async_trait]
    impl Backing for PrivatePgBacking {
        async fn open(&self) -> Arc<dyn Store> {
            let store = PostgresStore::connect(&self.server.url())
                .await
                .expect("connect to the private postgres")
                .with_timeout(Duration::from_millis(1500))
                .unwrap();
            store.migrate().await.expect("migrate");
            Arc::new(store)
        }
        async fn set_reachable(&self, reachable: bool) {
            if reachable {
                self.server.resume();
            } else {
                self.server.stop();
            }
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            let (url, name) = (self.url.clone(), self.name.clone());
            // Drop cannot await: a thread with a runtime of its own.
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        let pool = tower_otp::sqlx::PgPool::connect(&url).await?;
                        tower_otp::sqlx::query(&format!(
                            "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
                        ))
                        .execute(&pool)
                        .await?;
                        pool.close().await;
                        Ok::<_, tower_otp::sqlx::Error>(())
                    })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop test schema {}: {dropped:?}", self.name);
            }
        }
    }

    /// `n` handles in one new schema, each its own store and pool (like `n`
    /// application instances); the schema is dropped with the last.
    pub async fn pg_handles(url: &str, n: usize) -> Vec<Arc<dyn Store>> {
        let schema = Schema::new(url);
        let mut handles: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..n {
            handles.push(Arc::new(guarded(schema.store().await, schema.clone())));
        }
        handles
    }
}

// ---------------------------------------------------------------------------
// A PostgreSQL server of the test's own.

/// A PostgreSQL cluster in a temp dir on a free loopback port (trust auth,
/// user `postgres`), which the test may stop (as a crash would) and start
/// again. Made with `initdb` and `pg_ctl` from the installed server; as root,
/// they run as the `postgres` user (initdb refuses root).
pub struct PrivatePostgres {
    pub port: u16,
    settings: Vec<String>,
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_user: Option<String>,
}

impl PrivatePostgres {
    /// Starts one, or returns `None` when it cannot (which fails the test
    /// under CI, see `tests/needs`).
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts one with extra settings (`name=value`, as `-c` options).
    pub fn start_with(settings: &[&str]) -> Option<Self> {
        let Some(bin) = server_bin() else {
            needs::missing(
                "a PostgreSQL server of the test's own: no initdb under /usr/lib/postgresql/*/bin",
            );
            return None;
        };
        let as_user = is_root().then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new()
            .prefix("tower-otp-pg-")
            .tempdir()
            .unwrap();
        if let Some(user) = &as_user {
            let owned = Command::new("chown")
                .args(["-R", user])
                .arg(dir.path())
                .status();
            if !matches!(owned, Ok(s) if s.success()) {
                needs::missing(&format!(
                    "a PostgreSQL server of the test's own: running as root and cannot hand \
                     a temp dir to user {user} ({owned:?})"
                ));
                return None;
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self {
            port,
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            bin,
            dir,
            as_user,
        };
        let data = server.data();
        let init = server
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output();
        if !matches!(&init, Ok(out) if out.status.success()) {
            let why = match &init {
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            needs::missing(&format!(
                "a PostgreSQL server of the test's own: initdb failed: {}",
                why.trim()
            ));
            return None;
        }
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn resume(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-w", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(status.success(), "pg_ctl start failed");
        let address: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let started = Instant::now();
        while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "postgres did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server at once (`-m immediate`: no shutdown checkpoint, as
    /// a crash would; it recovers from its WAL when started again).
    pub fn stop(&self) {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl stop");
        assert!(status.success(), "pg_ctl stop failed");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The newest installed server's `bin` directory.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
