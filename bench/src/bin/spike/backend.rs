//! The stores of the spike: how each is opened (in a place of its own, so
//! runs never meet), what is removed after it, and its raw single-operation
//! rate, the limit the spike's steps are compared with:
//!
//! - memory: `MemoryStore::load` of a ticket it does not hold;
//! - SQLite and PostgreSQL: a one-row `INSERT … ON CONFLICT DO UPDATE`,
//!   committed, through a pool like the store's (SQLite: its one writer
//!   connection on the same file, `synchronous = FULL`; PostgreSQL: the
//!   store's own pool);
//! - Redis and Redis Cluster: an `EVALSHA` of an empty script, through a
//!   connection like the store's (a connection manager, or a cluster
//!   connection; each call names a key of its own, so a cluster spreads
//!   them over its slots).

use std::sync::Arc;

use tower_otp::store::Store;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The store names the spike knows, in the order it runs them.
pub(crate) const NAMES: [&str; 5] = ["memory", "sqlite", "postgres", "redis", "redis-cluster"];

/// One store, what its raw operation needs, and what to remove after it.
pub(crate) enum Backend {
    Memory(Arc<tower_otp::MemoryStore>),
    #[cfg(feature = "sqlite")]
    Sqlite {
        store: tower_otp::SqliteStore,
        raw: tower_otp::sqlx::SqlitePool,
        dir: tempfile::TempDir,
    },
    #[cfg(feature = "postgres")]
    Postgres {
        store: tower_otp::PostgresStore,
        schema: String,
    },
    #[cfg(feature = "redis")]
    Redis {
        store: tower_otp::RedisStore,
        raw: redis_raw::Raw,
        urls: Vec<String>,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backend")
    }
}

/// The value of `var`; unset, `None` after saying that `store` is skipped,
/// or an error under `CI=true` (CI has every server: a missing one is a
/// broken job, not a skip).
#[cfg(any(feature = "postgres", feature = "redis"))]
fn env_or_skip(var: &str, store: &str) -> Result<Option<String>, Error> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Ok(Some(value.trim().to_owned())),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            Err(format!("{store}: {var} is not set (CI=true)").into())
        }
        _ => {
            eprintln!("{store}: skipped, {var} is not set");
            Ok(None)
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
    /// Opens the store `name`, or `None` when it is skipped.
    pub(crate) async fn open(name: &str) -> Result<Option<Self>, Error> {
        match name {
            "memory" => Ok(Some(Backend::Memory(Arc::new(
                tower_otp::MemoryStore::new(),
            )))),
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                let dir = tempfile::Builder::new().prefix("otp-spike-").tempdir()?;
                let file = dir.path().join("otp.db");
                let store = tower_otp::SqliteStore::open(&file).await?;
                store.migrate().await?;
                let raw = sql_raw::sqlite_pool(&file).await?;
                Ok(Some(Backend::Sqlite { store, raw, dir }))
            }
            #[cfg(feature = "postgres")]
            "postgres" => {
                let Some(url) = env_or_skip("OTP_TEST_DATABASE_URL", name)? else {
                    return Ok(None);
                };
                let schema = format!("otp_spike_{}", run_tag());
                let store = tower_otp::PostgresStore::connect(&url)
                    .await?
                    .with_schema(&schema)?;
                store.migrate().await?;
                sql_raw::postgres_table(store.pool(), &schema).await?;
                Ok(Some(Backend::Postgres { store, schema }))
            }
            #[cfg(feature = "redis")]
            "redis" | "redis-cluster" => {
                let urls: Vec<String> = if name == "redis" {
                    let Some(url) = env_or_skip("OTP_TEST_REDIS_URL", name)? else {
                        return Ok(None);
                    };
                    vec![url]
                } else {
                    let Some(urls) = env_or_skip("OTP_TEST_REDIS_CLUSTER_URLS", name)? else {
                        return Ok(None);
                    };
                    urls.split(',').map(|u| u.trim().to_owned()).collect()
                };
                let prefix = format!("otp-spike-{}", run_tag());
                let store = if name == "redis" {
                    tower_otp::RedisStore::new(&urls[0]).await?
                } else {
                    tower_otp::RedisStore::cluster(&urls).await?
                };
                let store = store.with_prefix(&prefix)?;
                let raw = redis_raw::Raw::connect(&urls, name == "redis-cluster", &prefix).await?;
                Ok(Some(Backend::Redis { store, raw, urls }))
            }
            _ if NAMES.contains(&name) => {
                eprintln!("{name}: skipped, built without its feature");
                Ok(None)
            }
            _ => Err(format!("unknown store {name}").into()),
        }
    }

    /// The store, for the flow.
    pub(crate) fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Memory(store) => store.clone(),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite { store, .. } => Arc::new(store.clone()),
            #[cfg(feature = "postgres")]
            Backend::Postgres { store, .. } => Arc::new(store.clone()),
            #[cfg(feature = "redis")]
            Backend::Redis { store, .. } => Arc::new(store.clone()),
        }
    }

    /// The store's raw single operation, number `i` of the run.
    pub(crate) async fn raw(&self, i: usize) -> Result<(), String> {
        match self {
            Backend::Memory(store) => {
                use tower_otp::store::Policy;
                use tower_otp::{TicketKey, Timestamp};
                let mut bytes = [0xA5; 16];
                bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
                let now = Timestamp::from_millis(1_800_000_000_000);
                let snapshot = store
                    .load(&TicketKey::from_bytes(bytes), now, &Policy::default())
                    .await
                    .map_err(|e| e.to_string())?;
                std::hint::black_box(snapshot);
                Ok(())
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite { raw, .. } => sql_raw::sqlite_upsert(raw, i).await,
            #[cfg(feature = "postgres")]
            Backend::Postgres { store, schema } => {
                sql_raw::postgres_upsert(store.pool(), schema, i).await
            }
            #[cfg(feature = "redis")]
            Backend::Redis { raw, .. } => raw.evalsha(i).await,
        }
    }

    /// The CPU time the store's server has used so far, where it tells
    /// (Redis's `INFO CPU`, summed over the nodes); `None` for the others.
    pub(crate) async fn server_cpu(&self) -> Option<std::time::Duration> {
        match self {
            #[cfg(feature = "redis")]
            Backend::Redis { urls, .. } => {
                let mut total = std::time::Duration::ZERO;
                for url in urls {
                    total += redis_raw::server_cpu(url).await.ok()?;
                }
                Some(total)
            }
            _ => None,
        }
    }

    /// Closes the store and removes what the run left: the file, the
    /// schema, the keys.
    pub(crate) async fn clean_up(self) {
        match self {
            Backend::Memory(_) => {}
            #[cfg(feature = "sqlite")]
            Backend::Sqlite { store, raw, dir } => {
                raw.close().await;
                store.close().await;
                drop(dir);
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres { store, schema } => {
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
            Backend::Redis { store, urls, .. } => {
                for url in &urls {
                    if let Err(e) = redis_raw::delete_keys(url, store.prefix()).await {
                        eprintln!("redis: could not delete the keys under the run's prefix: {e}");
                    }
                }
            }
        }
    }
}

/// The SQL stores' raw operation: a one-row upsert, committed.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_raw {
    use super::Error;

    /// The table both create: `k` the operation's number.
    const TABLE: &str = "spike_raw (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)";

    /// A pool of one writer connection on `file`, set as the store sets its
    /// own (WAL, `synchronous = FULL`), and the table.
    #[cfg(feature = "sqlite")]
    pub(super) async fn sqlite_pool(
        file: &std::path::Path,
    ) -> Result<tower_otp::sqlx::SqlitePool, Error> {
        use tower_otp::sqlx::sqlite::{
            SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
        };
        let options = SqliteConnectOptions::new()
            .filename(file)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        tower_otp::sqlx::query(&format!("CREATE TABLE {TABLE}"))
            .execute(&pool)
            .await?;
        Ok(pool)
    }

    #[cfg(feature = "sqlite")]
    pub(super) async fn sqlite_upsert(
        pool: &tower_otp::sqlx::SqlitePool,
        i: usize,
    ) -> Result<(), String> {
        tower_otp::sqlx::query(
            "INSERT INTO spike_raw (k, v) VALUES (?1, 1) \
             ON CONFLICT (k) DO UPDATE SET v = spike_raw.v + 1",
        )
        .bind(i as i64)
        .execute(pool)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
    }

    #[cfg(feature = "postgres")]
    pub(super) async fn postgres_table(
        pool: &tower_otp::sqlx::PgPool,
        schema: &str,
    ) -> Result<(), Error> {
        tower_otp::sqlx::query(&format!("CREATE TABLE \"{schema}\".{TABLE}"))
            .execute(pool)
            .await?;
        Ok(())
    }

    #[cfg(feature = "postgres")]
    pub(super) async fn postgres_upsert(
        pool: &tower_otp::sqlx::PgPool,
        schema: &str,
        i: usize,
    ) -> Result<(), String> {
        let statement = format!(
            "INSERT INTO \"{schema}\".spike_raw AS t (k, v) VALUES ($1, 1) \
             ON CONFLICT (k) DO UPDATE SET v = t.v + 1"
        );
        tower_otp::sqlx::query(&statement)
            .bind(i as i64)
            .execute(pool)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Redis's raw operation, and the removal of a run's keys.
#[cfg(feature = "redis")]
mod redis_raw {
    use tower_otp::redis::aio::ConnectionManager;
    use tower_otp::redis::cluster::ClusterClient;
    use tower_otp::redis::cluster_async::ClusterConnection;
    use tower_otp::redis::{self, Script, Value};

    use super::Error;

    /// A connection like the store's, and the empty script.
    pub(crate) struct Raw {
        connection: Connection,
        script: Script,
        prefix: String,
    }

    #[derive(Clone)]
    enum Connection {
        Single(ConnectionManager),
        Cluster(ClusterConnection),
    }

    impl Raw {
        pub(super) async fn connect(
            urls: &[String],
            cluster: bool,
            prefix: &str,
        ) -> Result<Self, Error> {
            let connection = if cluster {
                let client = ClusterClient::new(urls.to_vec())?;
                Connection::Cluster(client.get_async_connection().await?)
            } else {
                let client = redis::Client::open(urls[0].as_str())?;
                Connection::Single(ConnectionManager::new(client).await?)
            };
            Ok(Self {
                connection,
                script: Script::new(""),
                prefix: prefix.to_owned(),
            })
        }

        /// `EVALSHA` of the empty script with one key, `i`'s own.
        pub(super) async fn evalsha(&self, i: usize) -> Result<(), String> {
            let mut invocation = self.script.prepare_invoke();
            invocation.key(format!("{}:raw:{{{i}}}", self.prefix));
            let result: Result<Value, _> = match self.connection.clone() {
                Connection::Single(mut c) => invocation.invoke_async(&mut c).await,
                Connection::Cluster(mut c) => invocation.invoke_async(&mut c).await,
            };
            result.map(drop).map_err(|e| e.to_string())
        }
    }

    /// The CPU time (user and system) of the server at `url`, from `INFO CPU`.
    pub(super) async fn server_cpu(url: &str) -> Result<std::time::Duration, Error> {
        let client = redis::Client::open(url)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO")
            .arg("CPU")
            .query_async(&mut connection)
            .await?;
        let mut seconds = 0.0;
        for line in info.lines() {
            if let Some((name, value)) = line.trim().split_once(':')
                && (name == "used_cpu_user" || name == "used_cpu_sys")
            {
                seconds += value.parse::<f64>()?;
            }
        }
        Ok(std::time::Duration::from_secs_f64(seconds))
    }

    /// Deletes every key under `prefix` on the node at `url`, one `DEL` per
    /// key (a cluster node refuses a `DEL` of keys in several slots).
    pub(super) async fn delete_keys(url: &str, prefix: &str) -> Result<(), Error> {
        let client = redis::Client::open(url)?;
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
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("DEL").arg(key).ignore();
                }
                let () = pipe.query_async(&mut connection).await?;
            }
            cursor = next;
            if cursor == 0 {
                return Ok(());
            }
        }
    }
}
