//! [`SqliteStore`]: durable state in one SQLite file (feature `sqlite`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, Dialect, Queries, check_identifier, check_timeout};
use crate::error::ConfigError;

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
/// use tower_otp::{CapturingMailer, Flow, OtpLayer, Secret, SqliteStore};
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
    writer: SqlitePool,
    reader: SqlitePool,
    queries: Arc<Queries>,
    timeout: Duration,
    next_sweep: Arc<AtomicU64>,
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
        Ok(Self {
            writer,
            reader,
            queries: Arc::new(Queries::new(Dialect::Sqlite, None, DEFAULT_PREFIX)),
            timeout: DEFAULT_TIMEOUT,
            next_sweep: Arc::new(AtomicU64::new(0)),
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
        self.queries = Arc::new(Queries::new(Dialect::Sqlite, None, prefix));
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
        self.timeout = timeout;
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
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    async fn prepare_migration(
        &self,
        _tx: &mut sqlx::Transaction<'static, Sqlite>,
    ) -> Result<(), crate::store::StoreError> {
        Ok(())
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("file", &self.file)
            .field("prefix", &self.queries.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

sql_store!(SqliteStore, Sqlite);
