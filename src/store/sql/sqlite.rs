//! [`SqliteStore`]: durable state in one SQLite file (feature `sqlite`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite, Transaction};

use super::tables::{Backend, Tables};
use super::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, Dialect, Queries, check_identifier, check_timeout};
use crate::clock::Timestamp;
use crate::error::ConfigError;
use crate::store::records::RecordStore;
use crate::store::rules::{AddressSends, TicketRecord};
use crate::store::{AddressKey, StateChange, StateRead, StoreError};
use crate::ticket::TicketKey;

/// Readers in the pool beside the one writer.
const READERS: u32 = 4;

/// Keeps challenge state in one SQLite file: durable, for one process, no
/// server to run. The embedded default.
///
/// What a restart of the application would forget with
/// [`MemoryStore`](crate::MemoryStore) stays: first-device claims, bindings,
/// lockouts, revocations and the sends counted. The file is in WAL mode with
/// `synchronous = FULL`, so a committed binding survives a crash of the
/// process and of the machine.
///
/// # How it works
///
/// Every operation is one transaction that applies the shared
/// [rules](crate::store::Store) to the ticket's row (and, for sends, the
/// address's row). Writes go through one connection and start with
/// `BEGIN IMMEDIATE`, which takes SQLite's write lock at once: concurrent
/// operations queue for the connection instead of failing or retrying, and
/// another process writing the same file waits up to the busy timeout (5 s).
/// Reads (`load`, every challenge page) use up to four more connections and,
/// in WAL mode, never wait for a writer. Expired rows are removed by a
/// bounded [`sweep`](SqliteStore::sweep), run in the background at most once
/// a minute.
///
/// Nothing is created behind your back: [`migrate`](SqliteStore::migrate)
/// creates the tables (call it at start); before that, every operation fails
/// with an error that says so. The file itself is created by
/// [`open`](SqliteStore::open).
///
/// Several processes may open the same file (they queue for the write lock),
/// but not over a network file system; application instances on several
/// machines need `PostgresStore` (feature `postgres`) or Redis.
///
/// ```no_run
/// use tower_otp::{testing::CapturingMailer, Flow, OtpLayer, Secret, SqliteStore};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqliteStore::open("/var/lib/tickets/otp.db").await?;
/// store.migrate().await?;
/// let flow = Flow::new(&Secret::random(), store, CapturingMailer::new());
/// let layer = OtpLayer::new(flow).with_ticket_param("ticket");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    tables: Tables<Sqlite>,
    file: Arc<str>,
}

impl SqliteStore {
    /// Opens the SQLite file at `path`, creating an empty file if there is
    /// none (the tables come from [`migrate`](SqliteStore::migrate)).
    ///
    /// # Errors
    /// A [`StoreError`](crate::store::StoreError) when the file cannot be opened or created.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("otp-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let store = tower_otp::SqliteStore::open(dir.join("otp.db")).await.unwrap();
    /// store.migrate().await.unwrap();
    /// store.ensure_migrated().await.unwrap();
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # });
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, crate::store::StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::with_options(options).await
    }

    /// Opens a database by URL: `sqlite://path/to/file.db` (the file must
    /// exist) or `sqlite://path/to/file.db?mode=rwc` (created when missing).
    /// In-memory databases are refused: they would forget everything, which
    /// is what this store is for not doing.
    ///
    /// # Errors
    /// A [`StoreError`](crate::store::StoreError) when the URL is invalid or names an
    /// in-memory database, or the file cannot be opened.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// let store = tower_otp::SqliteStore::connect("sqlite://otp.db?mode=rwc").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, crate::store::StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| crate::store::StoreError::new("invalid sqlite url", e))?;
        let name = options.get_filename().to_string_lossy();
        let in_memory = name.is_empty()
            || name == ":memory:"
            || name.starts_with("file:sqlx-in-memory")
            || url.contains("mode=memory");
        if in_memory {
            return Err(crate::store::StoreError::msg(
                "an in-memory sqlite database is not durable: name a file",
            ));
        }
        Self::with_options(options).await
    }

    async fn with_options(options: SqliteConnectOptions) -> Result<Self, crate::store::StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let file: Arc<str> = options.get_filename().to_string_lossy().into();
        let pool = |connections| {
            SqlitePoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(DEFAULT_TIMEOUT)
        };
        let writer = pool(1)
            .connect_with(options.clone())
            .await
            .map_err(|e| crate::store::StoreError::new("cannot open the sqlite database", e))?;
        let reader = pool(READERS)
            .connect_with(options.create_if_missing(false))
            .await
            .map_err(|e| crate::store::StoreError::new("cannot open the sqlite database", e))?;
        let queries = Queries::new(Dialect::Sqlite, None, DEFAULT_PREFIX);
        Ok(Self {
            tables: Tables::new(writer, reader, queries),
            file,
        })
    }

    /// Names the tables `{prefix}tickets`, `{prefix}addresses` and
    /// `{prefix}migrations` (default prefix: `otp_`).
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] unless the prefix is 1 to 40 characters of
    /// `a-z`, `0-9` and `_`, not starting with a digit.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("otp-doc-prefix-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let store = tower_otp::SqliteStore::open(dir.join("app.db")).await.unwrap();
    /// let store = store.with_prefix("tickets_otp_").unwrap();
    /// assert!(store.clone().with_prefix("x\"; DROP TABLE orders; --").is_err());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # });
    /// ```
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        check_identifier(prefix, 40, "table prefix")?;
        self.tables.queries = Arc::new(Queries::new(Dialect::Sqlite, None, prefix));
        Ok(self)
    }

    /// How long one store call may take, waiting for the write lock
    /// included (default: 3 s); past it, the call fails (the layer answers
    /// 503).
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 ms to 60 s.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let store = tower_otp::SqliteStore::open("otp.db").await?.with_timeout(Duration::from_secs(1))?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        check_timeout(timeout)?;
        self.tables.timeout = timeout;
        Ok(self)
    }

    /// Closes every connection (they also close when the last clone is
    /// dropped).
    ///
    /// ```no_run
    /// # async fn demo(store: tower_otp::SqliteStore) {
    /// store.close().await;
    /// # }
    /// ```
    pub async fn close(&self) {
        self.tables.writer.close().await;
        self.tables.reader.close().await;
    }

    /// Creates or updates the tables to the schema this version of
    /// tower-otp needs, in one transaction (concurrent calls queue). Nothing
    /// else ever creates or alters a table: call it at start.
    ///
    /// # Errors
    /// A [`StoreError`] when the database fails, or was migrated by a newer
    /// version of tower-otp.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.tables.migrate().await
    }

    /// Checks that [`migrate`](Self::migrate) has brought the database to
    /// the schema this version needs, without changing anything.
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
    /// most 1,000 rows and one call runs at most 10 per table, so no lock is
    /// held long; returns how many rows it changed.
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

impl Backend for Sqlite {
    fn begin(pool: &Pool<Self>) -> BoxFuture<'_, Result<Transaction<'static, Self>, sqlx::Error>> {
        Box::pin(pool.begin_with("BEGIN IMMEDIATE"))
    }

    fn prepare_migration<'a>(
        _: &'a mut Transaction<'static, Self>,
        _: &'a Queries,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

#[async_trait]
impl RecordStore for SqliteStore {
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

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("file", &self.file)
            .field("prefix", &self.tables.queries.prefix)
            .field("timeout", &self.tables.timeout)
            .finish_non_exhaustive()
    }
}
