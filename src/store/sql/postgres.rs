//! [`PostgresStore`]: durable state in PostgreSQL, shared by every instance
//! of an application (feature `postgres`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Pool, Postgres, Transaction};

use super::tables::{Backend, Tables};
use super::{
    DEFAULT_PREFIX, DEFAULT_TIMEOUT, Dialect, Queries, check_identifier, check_timeout, db_error,
};
use crate::clock::Timestamp;
use crate::error::ConfigError;
use crate::store::records::RecordStore;
use crate::store::rules::{AddressSends, TicketRecord};
use crate::store::{AddressKey, StateChange, StateRead, StoreError};
use crate::ticket::TicketKey;

/// Connections in the pool that [`PostgresStore::connect`] builds.
const CONNECTIONS: u32 = 10;

/// Keeps challenge state in PostgreSQL: durable, backed up with your data,
/// shared by every instance of an application.
///
/// Instances behind a load balancer that share one database behave as one
/// site: a first device claimed through one is known to all, a code sent
/// through one verifies through another. Device cookies need no store (every
/// instance only needs the same [`Secret`](crate::Secret) or key ring).
///
/// # How it works
///
/// Every write is one transaction in `READ COMMITTED` that locks the
/// ticket's row with `SELECT … FOR UPDATE` (and, for sends, then the
/// address's row), applies the shared [rules](crate::store::Store) and writes
/// back what changed. A ticket without a row gets an empty one first
/// (`INSERT … ON CONFLICT DO NOTHING`), so that concurrent first writers
/// queue on it too; an operation that would leave it empty (a guess on a
/// ticket nobody touched) creates none. Operations on one ticket run one after another; other
/// tickets never wait. A read (`load`, every challenge page) is one plain
/// `SELECT`. Expired rows are removed by a bounded
/// [`sweep`](PostgresStore::sweep) (`SKIP LOCKED`, batches of 1,000), run in
/// the background at most once a minute.
///
/// A write waits for a row another transaction holds for at most a sixth
/// of the call's timeout (`SET LOCAL lock_timeout`: 500 ms at the default
/// 3 s), then fails with an error that says the ticket's row is locked. A
/// row held by a session that stalled inside its transaction thus keeps
/// only the callers on its own ticket waiting, briefly: it never holds the
/// pool's connections for the call's whole timeout, and other tickets go
/// on.
///
/// Times come from the application's [`Clock`](crate::Clock), never from
/// the database server; instances should keep their clocks NTP-synced.
///
/// # What it needs from the server
///
/// PostgreSQL 12 or later, reached at its primary (read-write) address:
/// every operation writes. A role that may create tables in the schema for
/// [`migrate`](PostgresStore::migrate) (and create the schema, if it does not
/// exist yet); afterwards, `SELECT`, `INSERT`, `UPDATE` and `DELETE` on the
/// three tables are enough. TLS follows the URL's `sslmode` (rustls, with the
/// Mozilla root certificates; `sslmode=verify-full&sslrootcert=…` for a
/// private CA). See `docs/sql.md`.
///
/// # Failures
///
/// Every call has a timeout (3 s by default, [`with_timeout`](PostgresStore::with_timeout));
/// a timeout or a database error becomes a [`StoreError`](crate::store::StoreError)
/// that keeps its source, and the layer answers 503 (it fails closed). The
/// pool tests each connection before use and opens new ones once the
/// database is back: nothing to restart.
///
/// ```no_run
/// use tower_otp::{testing::CapturingMailer, Flow, OtpLayer, PostgresStore, Secret};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://tickets@db.internal/shop?sslmode=verify-full")
///     .await?
///     .with_schema("otp")?;
/// store.migrate().await?;
/// let flow = Flow::new(&Secret::random(), store, CapturingMailer::new());
/// let layer = OtpLayer::new(flow).with_ticket_param("ticket");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    tables: Tables<Postgres>,
    schema: Arc<str>,
    /// `host:port/database`, never a password, for `Debug`.
    target: Arc<str>,
}

impl PostgresStore {
    /// Connects a pool of up to 10 connections to the database at `url`
    /// (`postgres://user[:password]@host[:port]/database[?sslmode=…]`) and
    /// checks that it answers.
    ///
    /// # Errors
    /// A [`StoreError`](crate::store::StoreError) when the URL is invalid or the
    /// database cannot be reached within 3 seconds.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// let store = tower_otp::PostgresStore::connect("postgres://postgres@127.0.0.1/test").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, crate::store::StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| crate::store::StoreError::new("invalid postgres url", e))?;
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(DEFAULT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        Ok(Self::from_pool(pool))
    }

    /// Like [`connect`](PostgresStore::connect), without waiting for the
    /// database: the pool connects on first use, so a process can start
    /// (and answer 503) while the database is still unreachable, and serve
    /// as soon as it is back. Pair it with
    /// [`migrate_until_done`](PostgresStore::migrate_until_done) in a
    /// background task.
    ///
    /// # Errors
    /// A [`StoreError`](crate::store::StoreError) when the URL is invalid.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// // Nothing listens on port 9: the store is made all the same.
    /// let store = tower_otp::PostgresStore::connect_lazy("postgres://postgres@127.0.0.1:9/test")?;
    /// # drop(store);
    /// # Ok::<(), tower_otp::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub fn connect_lazy(url: &str) -> Result<Self, crate::store::StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| crate::store::StoreError::new("invalid postgres url", e))?;
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(DEFAULT_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self::from_pool(pool))
    }

    /// Runs [`migrate`](PostgresStore::migrate) until it succeeds, waiting
    /// `every` between tries and logging each failure: for a process that
    /// starts before its database is reachable
    /// ([`connect_lazy`](PostgresStore::connect_lazy)). Meanwhile every
    /// operation fails, so the gate answers 503 and passes nothing.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// use std::time::Duration;
    ///
    /// let store = tower_otp::PostgresStore::connect_lazy("postgres://tickets@db.internal/shop")?;
    /// tokio::spawn({
    ///     let store = store.clone();
    ///     async move { store.migrate_until_done(Duration::from_secs(2)).await }
    /// });
    /// # Ok(()) }
    /// ```
    pub async fn migrate_until_done(&self, every: Duration) {
        let mut tries = 0u32;
        loop {
            match self.migrate().await {
                Ok(()) => {
                    if tries > 0 {
                        tracing::info!(tries, "tower-otp: the database is reachable and migrated");
                    }
                    return;
                }
                Err(error) => {
                    tries += 1;
                    tracing::warn!(%error, tries, "tower-otp: cannot migrate the database yet; answering 503 meanwhile");
                    tokio::time::sleep(every).await;
                }
            }
        }
    }

    /// A store over a pool you built (your own size, timeouts, TLS or
    /// connection settings). It should test connections before use (sqlx's
    /// default) so that it heals after a database restart.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_otp::sqlx::postgres::PgPoolOptions;
    ///
    /// let pool = PgPoolOptions::new().max_connections(4).connect("postgres://127.0.0.1/shop").await?;
    /// let store = tower_otp::PostgresStore::from_pool(pool);
    /// # Ok(()) }
    /// ```
    pub fn from_pool(pool: PgPool) -> Self {
        let options = pool.connect_options();
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let queries = Queries::new(Dialect::Postgres, Some("public"), DEFAULT_PREFIX);
        Self {
            tables: Tables::new(pool.clone(), pool, queries),
            schema: "public".into(),
            target: target.into(),
        }
    }

    /// Puts the tables in `schema` (default: `public`); [`migrate`](PostgresStore::migrate)
    /// creates it when it does not exist.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] unless the name is 1 to 40 characters of
    /// `a-z`, `0-9` and `_`, not starting with a digit.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = tower_otp::PostgresStore::connect("postgres://127.0.0.1/shop").await?.with_schema("otp")?;
    /// # Ok(()) }
    /// ```
    pub fn with_schema(mut self, schema: &str) -> Result<Self, ConfigError> {
        check_identifier(schema, 40, "postgres schema")?;
        let prefix = &self.tables.queries.prefix;
        self.tables.queries = Arc::new(Queries::new(Dialect::Postgres, Some(schema), prefix));
        self.schema = schema.into();
        Ok(self)
    }

    /// Names the tables `{prefix}tickets`, `{prefix}addresses` and
    /// `{prefix}migrations` (default prefix: `otp_`).
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] unless the prefix is 1 to 40 characters of
    /// `a-z`, `0-9` and `_`, not starting with a digit.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = tower_otp::PostgresStore::connect("postgres://127.0.0.1/shop").await?.with_prefix("gate_")?;
    /// # Ok(()) }
    /// ```
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        check_identifier(prefix, 40, "table prefix")?;
        self.tables.queries = Arc::new(Queries::new(Dialect::Postgres, Some(&self.schema), prefix));
        Ok(self)
    }

    /// How long one store call may take (default: 3 s); past it, the call
    /// fails (the layer answers 503).
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 ms to 60 s.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let store = tower_otp::PostgresStore::connect("postgres://127.0.0.1/shop").await?
    ///     .with_timeout(Duration::from_millis(500))?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        check_timeout(timeout)?;
        self.tables.timeout = timeout;
        Ok(self)
    }

    /// The pool (to share it with your own queries, or to close it).
    ///
    /// ```no_run
    /// # async fn demo(store: tower_otp::PostgresStore) {
    /// store.pool().close().await;
    /// # }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.tables.writer
    }

    /// Creates or updates the tables to the schema this version of
    /// tower-otp needs, in one transaction (concurrent calls from several
    /// instances are safe: they queue on an advisory lock). Nothing else
    /// ever creates or alters a table: call it at start, or from a
    /// deployment step with a role that may create tables.
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails, the role may not create the
    /// tables, or the database was migrated by a newer version of tower-otp.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.tables.migrate().await
    }

    /// Checks that [`migrate`](Self::migrate) has brought the database to
    /// the schema this version needs, without changing anything: for an
    /// application that migrates in a separate deployment step and wants a
    /// clear error at start.
    ///
    /// # Errors
    /// A [`StoreError`] that says what is wrong: not migrated, migrations
    /// pending, migrated by a newer version, or the database failed.
    pub async fn ensure_migrated(&self) -> Result<(), StoreError> {
        self.tables.ensure_migrated().await
    }

    /// Removes what can no longer matter at `now` (less a minute of grace
    /// for clocks that disagree): expired address counters, expired
    /// challenges, and first-device claims that lapsed on unbound tickets (a
    /// ticket row with nothing else is deleted). Each statement touches at
    /// most 1,000 rows (`SKIP LOCKED`) and one call runs at most 10 per
    /// table, so no lock is held long; returns how many rows it changed.
    ///
    /// The store does this by itself, in the background, at most once a
    /// minute of the times its callers pass in; call it to sweep on your own
    /// schedule.
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails.
    pub async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.tables.sweep(now).await
    }
}

impl Backend for Postgres {
    fn begin(pool: &Pool<Self>) -> BoxFuture<'_, Result<Transaction<'static, Self>, sqlx::Error>> {
        Box::pin(pool.begin())
    }

    /// `BEGIN` and the transaction's `lock_timeout`, in one round trip.
    fn begin_write(
        pool: &Pool<Self>,
        lock_wait: Duration,
    ) -> BoxFuture<'_, Result<Transaction<'static, Self>, sqlx::Error>> {
        let millis = lock_wait.as_millis().max(1);
        Box::pin(pool.begin_with(format!("BEGIN; SET LOCAL lock_timeout = '{millis}ms'")))
    }

    /// Serialises concurrent migrations and creates the schema if missing
    /// (only then: creating needs a right that using does not).
    fn prepare_migration<'a>(
        tx: &'a mut Transaction<'static, Self>,
        queries: &'a Queries,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(&queries.lock_name)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            let Some((quoted, name)) = queries.schema.as_ref().zip(queries.schema_name.as_ref())
            else {
                return Ok(());
            };
            let exists: Option<(i32,)> =
                sqlx::query_as("SELECT 1 FROM pg_namespace WHERE nspname = $1")
                    .bind(name)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
            if exists.is_none() {
                sqlx::query(&format!("CREATE SCHEMA {quoted}"))
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Ok(())
        })
    }

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

#[async_trait]
impl RecordStore for PostgresStore {
    async fn read<T: Send>(
        &self,
        ticket: &TicketKey,
        _: Timestamp,
        read: impl for<'r> FnOnce(Option<&'r TicketRecord>) -> T + Send,
    ) -> Result<T, StoreError> {
        Ok(read(self.tables.read(ticket).await?.as_ref()))
    }

    async fn update<T: Send>(
        &self,
        ticket: &TicketKey,
        now: Option<Timestamp>,
        counters: impl for<'r> Fn(&'r TicketRecord) -> Vec<AddressKey> + Send + Sync,
        rule: impl for<'r, 'c> Fn(&'r mut TicketRecord, &'c mut [AddressSends]) -> T + Send + Sync,
    ) -> Result<T, StoreError> {
        self.tables.update(ticket, now, counters, rule).await
    }

    async fn remove(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        self.tables.remove(ticket).await
    }

    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        self.tables.state(change).await
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .field("prefix", &self.tables.queries.prefix)
            .field("timeout", &self.tables.timeout)
            .finish_non_exhaustive()
    }
}
