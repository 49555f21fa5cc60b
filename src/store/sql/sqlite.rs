//! [`SqliteStore`]: durable state in one SQLite file (feature `sqlite`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Pool, Sqlite, Transaction};

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

/// SQLite's primary result code for "database or disk is full"
/// (`SQLITE_FULL`); extended codes keep it in their low byte.
const SQLITE_FULL: i64 = 13;

/// What a commit of a [`SqliteStore`] survives. The file is in WAL mode
/// either way; the choice is SQLite's `synchronous` setting, applied to
/// every connection the store opens (the writer and the readers).
///
/// The default is [`PowerLoss`](Self::PowerLoss), the safest for a security
/// gate: with [`ProcessCrash`](Self::ProcessCrash), a power cut or an
/// operating-system crash may undo the last commits, and what they undo is
/// security state. A lost first-device claim or binding lets the next
/// stranger to open the link become the first device, or bind the ticket to
/// their address; a lost wrong guess gives a guesser their attempt back.
/// Choose `ProcessCrash` where the machine's power and kernel are not the
/// risk you guard against (or a lost minute of state is acceptable) and the
/// write rate matters: each commit then costs no wait for the disk.
///
/// ```no_run
/// use tower_otp::{SqliteDurability, SqliteStore};
///
/// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
/// let store = SqliteStore::open_with("otp.db", SqliteDurability::ProcessCrash).await?;
/// assert_eq!(store.durability(), SqliteDurability::ProcessCrash);
/// assert_eq!(SqliteDurability::default(), SqliteDurability::PowerLoss);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SqliteDurability {
    /// A committed operation survives the process being killed (WAL and
    /// `synchronous = NORMAL`): the commit is in the operating system's
    /// hands when the call returns, but is written to the disk only at the
    /// next checkpoint, so the last ones may be lost on power loss or an
    /// operating-system crash. The database itself stays consistent.
    ProcessCrash,
    /// A committed operation survives power loss and an operating-system
    /// crash too (WAL and `synchronous = FULL`): every commit waits for the
    /// disk to confirm it. The default.
    #[default]
    PowerLoss,
}

impl SqliteDurability {
    fn synchronous(self) -> SqliteSynchronous {
        match self {
            Self::ProcessCrash => SqliteSynchronous::Normal,
            Self::PowerLoss => SqliteSynchronous::Full,
        }
    }
}

/// Keeps challenge state in one SQLite file: durable, for one process, no
/// server to run. The embedded default.
///
/// What a restart of the application would forget with
/// [`MemoryStore`](crate::MemoryStore) stays: first-device claims, bindings,
/// lockouts, revocations and the sends counted. The file is in WAL mode, and
/// by default with `synchronous = FULL`, so a committed binding survives a
/// crash of the process and of the machine ([`SqliteDurability`] says what
/// the other choice trades).
///
/// A disk that fills up fails the writes (the error says "the sqlite
/// database or disk is full"; the layer answers 503) and the store heals by
/// itself once space is back: a connection whose transaction SQLite ended
/// on such a failure is closed when it goes back to the pool, and the next
/// call opens a new one.
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
    durability: SqliteDurability,
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
        Self::open_with(path, SqliteDurability::default()).await
    }

    /// [`open`](Self::open) with the durability of its commits chosen
    /// ([`open`](Self::open) takes the default,
    /// [`SqliteDurability::PowerLoss`]).
    ///
    /// # Errors
    /// A [`StoreError`](crate::store::StoreError) when the file cannot be opened or created.
    ///
    /// ```
    /// use tower_otp::{SqliteDurability, SqliteStore};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("otp-doc-durability-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let store = SqliteStore::open_with(dir.join("otp.db"), SqliteDurability::ProcessCrash)
    ///     .await
    ///     .unwrap();
    /// store.migrate().await.unwrap();
    /// assert_eq!(store.durability(), SqliteDurability::ProcessCrash);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # });
    /// ```
    pub async fn open_with(
        path: impl AsRef<Path>,
        durability: SqliteDurability,
    ) -> Result<Self, crate::store::StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::with_options(options, durability).await
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
        Self::connect_with(url, SqliteDurability::default()).await
    }

    /// [`connect`](Self::connect) with the durability of its commits chosen
    /// ([`connect`](Self::connect) takes the default,
    /// [`SqliteDurability::PowerLoss`]).
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    ///
    /// ```no_run
    /// use tower_otp::{SqliteDurability, SqliteStore};
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// let store =
    ///     SqliteStore::connect_with("sqlite://otp.db?mode=rwc", SqliteDurability::PowerLoss).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(
        url: &str,
        durability: SqliteDurability,
    ) -> Result<Self, crate::store::StoreError> {
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
        Self::with_options(options, durability).await
    }

    async fn with_options(
        options: SqliteConnectOptions,
        durability: SqliteDurability,
    ) -> Result<Self, crate::store::StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(durability.synchronous())
            .busy_timeout(Duration::from_secs(5));
        let file: Arc<str> = options.get_filename().to_string_lossy().into();
        let pool = |connections| {
            SqlitePoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(DEFAULT_TIMEOUT)
                .after_release(fit_for_reuse)
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
            durability,
        })
    }

    /// What a commit survives, as chosen when the store was opened.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// let store = tower_otp::SqliteStore::open("otp.db").await?;
    /// assert_eq!(store.durability(), tower_otp::SqliteDurability::PowerLoss);
    /// # Ok(()) }
    /// ```
    pub fn durability(&self) -> SqliteDurability {
        self.durability
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
        self.tables.migrate().await.map_err(named)
    }

    /// Checks that [`migrate`](Self::migrate) has brought the database to
    /// the schema this version needs, without changing anything.
    ///
    /// # Errors
    /// A [`StoreError`] that says what is wrong: not migrated, migrations
    /// pending, migrated by a newer version, or the database failed.
    pub async fn ensure_migrated(&self) -> Result<(), StoreError> {
        self.tables.ensure_migrated().await.map_err(named)
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
        self.tables.sweep(now).await.map_err(named)
    }
}

/// Whether a connection going back to the pool may serve the next call: not
/// when it is still inside a transaction once the rollback of a dropped
/// transaction has run.
///
/// SQLite ends a transaction by itself on some failures (a full disk among
/// them); the rollback `sqlx` then sends fails ("no transaction is active")
/// and `sqlx` goes on counting the connection as inside a transaction, so
/// that every later `BEGIN IMMEDIATE` on it is refused, whatever the disk.
/// Such a connection is closed here, and the pool opens a fresh one for the
/// next call.
fn fit_for_reuse(
    conn: &mut SqliteConnection,
    _: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if !conn.is_in_transaction() {
            return Ok(true);
        }
        // A dropped transaction's rollback is queued: let it run.
        conn.ping().await?;
        if conn.is_in_transaction() {
            tracing::warn!(
                "tower-otp: a sqlite connection was left inside a transaction; closing it"
            );
            return Ok(false);
        }
        Ok(true)
    })
}

/// `error`, named for what an operator can act on when SQLite said what it
/// was: a full database or disk.
fn named(error: StoreError) -> StoreError {
    let full = std::iter::successors(std::error::Error::source(&error), |e| e.source())
        .filter_map(|e| e.downcast_ref::<sqlx::Error>())
        .any(|e| match e {
            sqlx::Error::Database(db) => db
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .is_some_and(|code| code & 0xff == SQLITE_FULL),
            _ => false,
        });
    if full {
        StoreError::new("the sqlite database or disk is full", error)
    } else {
        error
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
        Ok(read(
            self.tables.read(ticket).await.map_err(named)?.as_ref(),
        ))
    }

    async fn update<T: Send>(
        &self,
        ticket: &TicketKey,
        now: Option<Timestamp>,
        counters: impl for<'r> Fn(&'r TicketRecord) -> Vec<AddressKey> + Send + Sync,
        rule: impl for<'r, 'c> Fn(&'r mut TicketRecord, &'c mut [AddressSends]) -> T + Send + Sync,
    ) -> Result<T, StoreError> {
        self.tables
            .update(ticket, now, counters, rule)
            .await
            .map_err(named)
    }

    async fn remove(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
        self.tables.remove(ticket).await.map_err(named)
    }

    async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        self.tables.state(change).await.map_err(named)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("file", &self.file)
            .field("durability", &self.durability)
            .field("prefix", &self.tables.queries.prefix)
            .field("timeout", &self.tables.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClaimRequest, Policy, Store};

    /// `PRAGMA synchronous` and `PRAGMA journal_mode` of the writer and of
    /// every reader, all held at once (so each is its own connection).
    async fn pragmas(store: &SqliteStore) -> Vec<(i64, String)> {
        let mut held = vec![store.tables.writer.acquire().await.unwrap()];
        for _ in 0..READERS {
            held.push(store.tables.reader.acquire().await.unwrap());
        }
        let mut seen = Vec::new();
        for conn in &mut held {
            let (synchronous,): (i64,) = sqlx::query_as("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            let (journal,): (String,) = sqlx::query_as("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            seen.push((synchronous, journal));
        }
        seen
    }

    /// Each choice, and the default, is what every connection of the store
    /// reports: `synchronous` 1 (NORMAL) or 2 (FULL), in WAL mode.
    #[tokio::test]
    async fn every_connection_has_the_chosen_durability() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otp.db");
        let cases = [
            (SqliteStore::open(&path).await.unwrap(), 2),
            (
                SqliteStore::open_with(&path, SqliteDurability::PowerLoss)
                    .await
                    .unwrap(),
                2,
            ),
            (
                SqliteStore::open_with(&path, SqliteDurability::ProcessCrash)
                    .await
                    .unwrap(),
                1,
            ),
            (
                SqliteStore::connect_with(
                    &format!("sqlite://{}", path.display()),
                    SqliteDurability::ProcessCrash,
                )
                .await
                .unwrap(),
                1,
            ),
            (
                SqliteStore::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .unwrap(),
                2,
            ),
        ];
        for (store, synchronous) in cases {
            let seen = pragmas(&store).await;
            assert_eq!(seen.len(), 1 + READERS as usize);
            for (level, journal) in seen {
                assert_eq!(level, synchronous, "{store:?}");
                assert_eq!(journal, "wal", "{store:?}");
            }
            store.close().await;
        }
    }

    /// A first-device claim on a new ticket: a small write.
    async fn claim(store: &SqliteStore) -> Result<(), StoreError> {
        let ticket = TicketKey::from_bytes(rand::random());
        let now = Timestamp::from_millis(1_800_000_000_000);
        let policy = Policy::default();
        store
            .claim_first_device(&ClaimRequest::new(&ticket, now, &policy))
            .await
            .map(drop)
    }

    /// A database that can grow no more (`max_page_count`, SQLite's own
    /// "database or disk is full") fails every write with an error that
    /// names it; once it may grow again, the next write succeeds on the same
    /// store.
    #[tokio::test]
    async fn a_full_database_says_so_and_heals_when_it_may_grow() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("otp.db"))
            .create_if_missing(true)
            .pragma("max_page_count", "40");
        let store = SqliteStore::with_options(options, SqliteDurability::ProcessCrash)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let mut written = 0;
        let error = loop {
            match claim(&store).await {
                Ok(()) => written += 1,
                Err(error) => break error,
            }
            assert!(written < 100_000, "the database never filled up");
        };
        assert!(written > 0);
        assert_eq!(
            error.to_string(),
            "store unavailable: the sqlite database or disk is full"
        );
        // Still full: a write fails as the first did, or fits where a row
        // was freed (the rows are spread over the pages by their random
        // keys).
        for _ in 0..20 {
            if let Err(error) = claim(&store).await {
                assert_eq!(
                    error.to_string(),
                    "store unavailable: the sqlite database or disk is full"
                );
            }
        }
        // Room again: the limit lifted on the writer's connection.
        let mut writer = store.tables.writer.acquire().await.unwrap();
        sqlx::query("PRAGMA max_page_count = 1000000")
            .execute(&mut *writer)
            .await
            .unwrap();
        drop(writer);
        claim(&store).await.unwrap();
        claim(&store).await.unwrap();
    }
}
