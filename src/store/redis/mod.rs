//! The Redis store (feature `redis`): shared state for several application
//! instances, on one Redis node or a Redis Cluster.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;

use self::connection::Connection;
use self::keys::Keys;
use self::scripts::SCRIPTS;
use super::StoreError;
use crate::error::ConfigError;

mod connection;
mod keys;
mod operations;
mod persistence;
mod scripts;

/// How long connecting may take in [`RedisStore::new`] and [`RedisStore::cluster`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps challenge state in Redis, shared by every instance of an application.
///
/// Every [`Store`](crate::store::Store) operation is one Lua script, run atomically by Redis in one
/// round trip (`EVALSHA`; the script is loaded again by itself after a Redis
/// restart). On Redis Cluster the per-address send counter lives in another
/// slot than the ticket, so [`issue_code`](crate::store::Store::issue_code) is then two
/// scripts (see [Cluster](#cluster)).
///
/// # Key layout
///
/// With the default prefix `otp` and a ticket key `T` (the 22-character
/// [`TicketKey`](crate::TicketKey) text, never the ticket id):
///
/// | key | type | TTL | holds |
/// |---|---|---|---|
/// | `otp:{T}:rec` | hash | none (while it holds only a claim: until the claim lapses) | first-device claim, binding, generation, consecutive failures, a verified device |
/// | `otp:{T}:chal` | string | until nothing in it can matter | pending address, codes, round, sends, lockout |
/// | `otp:{T}:undo:…` | string | 60 s | undo data of a split issue (Cluster only) |
/// | `otp:addr:{A}` | string | an hour after the last send | send times of one counter: a mailbox's (its owner's or strangers'), a domain's, the site's (`A`: hex of its key) |
///
/// The `{T}` hash tag puts every key of a ticket in one slot. The long-lived
/// record has no TTL, so an eviction policy of the `volatile-*` family never
/// picks it; use `volatile-lru`, `volatile-ttl` or `noeviction`, never
/// `allkeys-*`. See `docs/redis.md` for persistence and deployment.
///
/// # Time
///
/// The scripts apply the rules with the `now` the caller passes (the
/// application's [`Clock`](crate::Clock)), as the [`Store`](crate::store::Store) contract says; a
/// manual clock in tests therefore works. Redis only makes records vanish:
/// each write sets a relative TTL (`PX`) of "until it can no longer matter,
/// plus a minute", so expiry does not depend on Redis's clock agreeing with
/// the application's. Instances that share a store should keep their clocks
/// NTP-synced: a skew of a few seconds shifts code validity and cooldowns by
/// that much, nothing more.
///
/// # Cluster
///
/// A ticket's keys share a slot, but each send counter has its own, and a
/// script can only touch one slot. On a cluster (or with
/// [`with_per_slot_scripts`](RedisStore::with_per_slot_scripts)),
/// `issue_code` therefore runs the ticket's checks and records the code in
/// one script, then counts each counter in a script of its own; if one is at
/// its cap, the counts taken are given back and a last script puts the
/// ticket back exactly as it was. In the one
/// round trip between the first and the last, a concurrent send for the same
/// ticket may be refused by the cooldown of a send that is then taken back,
/// and if another request changed the ticket meanwhile only the code and its
/// send are taken back (as after an undelivered mail). The address cap
/// itself is exact. `withdraw_code` runs its two halves concurrently.
///
/// # Failures
///
/// Every call has a timeout ([`DEFAULT_TIMEOUT`](RedisStore::DEFAULT_TIMEOUT), see
/// [`with_timeout`](RedisStore::with_timeout)); a timeout or a Redis error
/// becomes a [`StoreError`] that keeps its source, and the layer answers 503
/// (it fails closed). The connection comes back by itself once Redis does.
///
/// # Code comparison
///
/// The scripts compare code hashes with Lua string equality, which is not
/// constant time. The values compared are HMAC-SHA256 outputs of the typed
/// code under a server key, so how long a comparison takes can tell an
/// attacker at most how many leading bytes of two keyed hashes agree, which
/// says nothing about the code; every guess is also counted against the
/// attempt budget.
///
/// ```no_run
/// use tower_otp::{testing::CapturingMailer, Flow, OtpLayer, RedisStore, Secret};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::new("redis://127.0.0.1:6379").await?.with_prefix("tickets-otp")?;
/// let flow = Flow::new(&Secret::random(), store, CapturingMailer::new());
/// let layer = OtpLayer::new(flow).with_ticket_param("ticket");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    keys: Keys,
    timeout: Duration,
    per_slot: bool,
    /// The nodes connected to, as `host:port` (never a password), for `Debug`.
    nodes: Arc<[String]>,
    /// The servers keep their data over a restart (read at connect; `true`
    /// for a connection built elsewhere, whose servers were not asked).
    persists: bool,
}

impl RedisStore {
    /// How long one store call may take unless
    /// [`with_timeout`](RedisStore::with_timeout) says otherwise: one second.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Connects to one Redis node (`redis://[user:password@]host:port[/db]`),
    /// and loads the scripts.
    ///
    /// The connection is a [`ConnectionManager`]: it reconnects by itself
    /// after Redis restarts.
    ///
    /// # Errors
    /// A [`StoreError`] when the URL is invalid or Redis cannot be reached
    /// within 5 seconds.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// let store = tower_otp::RedisStore::new("redis://127.0.0.1:6379").await?;
    /// # Ok(()) }
    /// ```
    pub async fn new(url: &str) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(url).map_err(|e| StoreError::new("invalid redis url", e))?;
        let node = client.get_connection_info().addr().to_string();
        let info = client.get_connection_info().clone();
        // No response timeout of the client's own: every call is bounded by
        // the store's timeout (`with_timeout`), which is then the one in force.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Self::DEFAULT_TIMEOUT))
            .set_response_timeout(None)
            .set_max_delay(Duration::from_secs(1));
        let manager = tokio::time::timeout(
            CONNECT_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|e| StoreError::new("connecting to redis timed out", e))?
        .map_err(|e| StoreError::new("could not connect to redis", e))?;
        let store = Self::from_manager(manager);
        let persists = persistence::all_persist(std::slice::from_ref(&info)).await;
        let store = Self {
            nodes: Arc::new([node]),
            persists,
            ..store
        };
        store.load_scripts().await?;
        Ok(store)
    }

    /// Connects to a Redis Cluster through some of its nodes (each a
    /// `redis://` URL), and loads the scripts on every primary.
    ///
    /// # Errors
    /// A [`StoreError`] when a URL is invalid or the cluster cannot be
    /// reached within 5 seconds.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// let store = tower_otp::RedisStore::cluster([
    ///     "redis://127.0.0.1:7001",
    ///     "redis://127.0.0.1:7002",
    ///     "redis://127.0.0.1:7003",
    /// ])
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn cluster<I, U>(urls: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = U>,
        U: AsRef<str>,
    {
        let mut nodes = Vec::new();
        let mut infos = Vec::new();
        for url in urls {
            let client = redis::Client::open(url.as_ref())
                .map_err(|e| StoreError::new("invalid redis url", e))?;
            nodes.push(client.get_connection_info().addr().to_string());
            infos.push(client.get_connection_info().clone());
        }
        let client = ClusterClientBuilder::new(infos.clone())
            .connection_timeout(Self::DEFAULT_TIMEOUT)
            .retries(3)
            .max_retry_wait(500)
            .build()
            .map_err(|e| StoreError::new("invalid redis cluster settings", e))?;
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_connection())
            .await
            .map_err(|e| StoreError::new("connecting to redis timed out", e))?
            .map_err(|e| StoreError::new("could not connect to redis", e))?;
        let persists = persistence::all_persist(&infos).await;
        let store = Self {
            nodes: nodes.into(),
            persists,
            ..Self::from_cluster(connection)
        };
        store.load_scripts().await?;
        Ok(store)
    }

    /// A store over a connection manager you built (to set your own
    /// reconnection or TLS settings). The scripts are loaded on first use.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_otp::redis::aio::ConnectionManager;
    ///
    /// let client = tower_otp::redis::Client::open("redis://127.0.0.1:6379")?;
    /// let manager = ConnectionManager::new(client).await?;
    /// let store = tower_otp::RedisStore::from_manager(manager);
    /// # Ok(()) }
    /// ```
    pub fn from_manager(manager: ConnectionManager) -> Self {
        Self::with_connection(Connection::Single(manager), false)
    }

    /// A store over a Redis Cluster connection you built. The scripts are
    /// loaded on first use; `issue_code` takes the per-slot form.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = tower_otp::redis::cluster::ClusterClient::new(vec!["redis://127.0.0.1:7001"])?;
    /// let store = tower_otp::RedisStore::from_cluster(client.get_async_connection().await?);
    /// # Ok(()) }
    /// ```
    pub fn from_cluster(connection: ClusterConnection) -> Self {
        Self::with_connection(Connection::Cluster(connection), true)
    }

    fn with_connection(connection: Connection, per_slot: bool) -> Self {
        Self {
            connection,
            keys: Keys::default(),
            timeout: Self::DEFAULT_TIMEOUT,
            per_slot,
            nodes: Arc::new([]),
            persists: true,
        }
    }

    /// Puts every key under `prefix` (default `otp`), so that several
    /// applications or environments can share one Redis.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] unless the prefix is 1 to 64 printable
    /// ASCII characters without braces (a brace would move the hash tag).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = tower_otp::RedisStore::new("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_prefix("staging:otp")?;
    /// assert_eq!(store.prefix(), "staging:otp");
    /// # Ok(()) }
    /// ```
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        self.keys = Keys::new(prefix)?;
        Ok(self)
    }

    /// How long one store call may take (default [`DEFAULT_TIMEOUT`](RedisStore::DEFAULT_TIMEOUT), one
    /// second) before it fails and the layer answers 503.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 ms to 60 s.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    ///
    /// let store = tower_otp::RedisStore::new("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_timeout(Duration::from_millis(300))?;
    /// assert_eq!(store.timeout(), Duration::from_millis(300));
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        if timeout < Duration::from_millis(1) || timeout > Duration::from_secs(60) {
            return Err(ConfigError::OutOfRange {
                setting: "redis timeout",
                range: "between 1 ms and 60 s",
            });
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// Makes every script touch a single hash slot, as on a cluster (default:
    /// off for one node, on for a cluster). Turn it on behind a proxy that
    /// shards keys but refuses multi-slot scripts; see
    /// [Cluster](RedisStore#cluster) for what it changes.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = tower_otp::RedisStore::new("redis://proxy.internal:6379")
    ///     .await?
    ///     .with_per_slot_scripts(true);
    /// # Ok(()) }
    /// ```
    pub fn with_per_slot_scripts(mut self, on: bool) -> Self {
        self.per_slot = on;
        self
    }

    /// The key prefix.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// let store = tower_otp::RedisStore::new("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.prefix(), "otp");
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// The timeout of one call.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tower_otp::store::StoreError> {
    /// let store = tower_otp::RedisStore::new("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.timeout(), tower_otp::RedisStore::DEFAULT_TIMEOUT);
    /// # Ok(()) }
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Loads every script (`SCRIPT LOAD`, on every primary of a cluster), so
    /// that the first calls take one round trip. [`new`](RedisStore::new)
    /// and [`cluster`](RedisStore::cluster) do it; scripts missing later
    /// (after a restart) are loaded again by the call that needs them.
    ///
    /// # Errors
    /// A [`StoreError`] when Redis cannot be reached.
    ///
    /// ```no_run
    /// # async fn demo(store: tower_otp::RedisStore) -> Result<(), tower_otp::store::StoreError> {
    /// store.load_scripts().await?;
    /// # Ok(()) }
    /// ```
    pub async fn load_scripts(&self) -> Result<(), StoreError> {
        for script in SCRIPTS.all() {
            let mut connection = self.connection.clone();
            self.bounded(script.load_async(&mut connection)).await?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "connection",
                &match self.connection {
                    Connection::Single(_) => "single node",
                    Connection::Cluster(_) => "cluster",
                },
            )
            .field("nodes", &self.nodes)
            .field("prefix", &self.keys.prefix())
            .field("timeout", &self.timeout)
            .field("per_slot_scripts", &self.per_slot)
            .finish()
    }
}
