//! The tables of a SQL store, and the one transaction each step is: written
//! once, generic over the database.
//!
//! [`Tables::update`] is the [record contract](crate::store::records)'s
//! step:
//!
//! 1. lock the ticket's row (PostgreSQL: when it does not exist, insert an
//!    empty one and lock that, so that two first writers of a ticket queue on
//!    its row too), then the counters' rows, in ascending key order: always
//!    ticket first, then counters, so two steps never wait on each other in
//!    a cycle;
//! 2. apply the rule;
//! 3. write back only what changed (a refused send or a guess while locked
//!    out writes nothing), delete a row left empty;
//! 4. commit.
//!
//! What differs between the databases is the SQL text ([`Queries`]) and
//! [`Backend`]: how a write transaction begins and what a migration
//! prepares.
//!
//! A write waits for a row another transaction holds locked for at most
//! [`Tables::lock_wait`], a sixth of the call's timeout (PostgreSQL:
//! `lock_timeout`), then fails with an error that says the ticket's row is
//! locked: one row held for long (a session that stalled inside a
//! transaction) keeps the callers on its own ticket waiting briefly, and
//! never holds the pool's connections for the whole timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type};

use super::{
    Queries, SWEEP_BATCH, SWEEP_BATCHES, SWEEP_GRACE, SWEEP_INTERVAL, TicketColumns, TicketRow,
    address_from_row, codec, db_error, is_missing_table, millis, ticket_error, timed_out,
};
use crate::clock::Timestamp;
use crate::store::rules::{AddressSends, TicketRecord};
use crate::store::{AddressKey, StateChange, StateFingerprint, StateRead, StateRecord, StoreError};
use crate::ticket::TicketKey;

/// What one database does its own way.
pub(super) trait Backend: Database {
    /// Opens a write transaction (SQLite: `BEGIN IMMEDIATE`, which takes the
    /// write lock at once; PostgreSQL: `BEGIN`, where `SELECT … FOR UPDATE`
    /// takes the row locks).
    fn begin(pool: &Pool<Self>) -> BoxFuture<'_, Result<Transaction<'static, Self>, sqlx::Error>>;

    /// Opens a write transaction whose row locks wait at most `lock_wait`
    /// (PostgreSQL: `SET LOCAL lock_timeout`, sent with `BEGIN` in one
    /// round trip). By default [`begin`](Backend::begin): SQLite takes its
    /// one write lock in `BEGIN IMMEDIATE`, under the call's timeout.
    fn begin_write(
        pool: &Pool<Self>,
        lock_wait: Duration,
    ) -> BoxFuture<'_, Result<Transaction<'static, Self>, sqlx::Error>> {
        let _ = lock_wait;
        Self::begin(pool)
    }

    /// Runs first in a migration's transaction (PostgreSQL: serialises
    /// concurrent migrations and creates the schema when it is missing).
    fn prepare_migration<'a>(
        tx: &'a mut Transaction<'static, Self>,
        queries: &'a Queries,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// A SQL store's pools, statements and settings.
pub(super) struct Tables<DB: Database> {
    pub(super) writer: Pool<DB>,
    pub(super) reader: Pool<DB>,
    pub(super) queries: Arc<Queries>,
    pub(super) timeout: Duration,
    pub(super) next_sweep: Arc<AtomicU64>,
}

impl<DB: Database> Clone for Tables<DB> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            reader: self.reader.clone(),
            queries: self.queries.clone(),
            timeout: self.timeout,
            next_sweep: self.next_sweep.clone(),
        }
    }
}

impl<DB: Database> Tables<DB> {
    /// How long a write waits for a row another transaction holds locked:
    /// a sixth of the call's timeout (500 ms at the default 3 s), at least
    /// 1 ms. The rows of this store are held for a few milliseconds by a
    /// healthy transaction, so only a transaction that stalled holds one
    /// that long.
    pub(super) fn lock_wait(&self) -> Duration {
        (self.timeout / 6).max(Duration::from_millis(1))
    }

    /// Records the write pool's connections (feature `metrics`): `size`
    /// open, `idle` of them idle.
    fn record_pool(&self) {
        #[cfg(feature = "metrics")]
        {
            ::metrics::gauge!(super::POOL_SIZE).set(f64::from(self.writer.size()));
            ::metrics::gauge!(super::POOL_IDLE).set(self.writer.num_idle() as f64);
        }
    }

    /// Tables over `writer` (one connection on SQLite) and `reader`.
    pub(super) fn new(writer: Pool<DB>, reader: Pool<DB>, queries: Queries) -> Self {
        Self {
            writer,
            reader,
            queries: Arc::new(queries),
            timeout: super::DEFAULT_TIMEOUT,
            next_sweep: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// A ticket row read under its lock.
struct Locked {
    record: TicketRecord,
    before: TicketColumns,
    /// The row exists.
    exists: bool,
}

/// How many times a step starts again because a row it would create was
/// created meanwhile; each loss means another step made progress.
const CREATION_RACES: usize = 8;

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Done,
    /// The row it would create was created meanwhile: nothing written.
    Raced,
}

fn written(rows_affected: u64) -> Written {
    if rows_affected == 0 {
        Written::Raced
    } else {
        Written::Done
    }
}

/// A counter's row read under its lock.
struct LockedCounter {
    before: Vec<u8>,
    exists: bool,
}

impl<DB> Tables<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Vec<u8>>: Encode<'q, DB> + Type<DB>,
    for<'r> TicketRow: FromRow<'r, DB::Row>,
    for<'r> (Vec<u8>, i64): FromRow<'r, DB::Row>,
    for<'r> (Vec<u8>, i64, Option<i64>): FromRow<'r, DB::Row>,
    for<'r> (Option<i64>,): FromRow<'r, DB::Row>,
{
    /// Reads the ticket's row under its lock. With `create`, and on a
    /// database where a missing row cannot be locked (PostgreSQL), an empty
    /// row is inserted first when there is none.
    async fn lock_ticket(
        &self,
        tx: &mut Transaction<'static, DB>,
        key: &TicketKey,
    ) -> Result<Locked, StoreError> {
        let row: Option<TicketRow> = sqlx::query_as(&self.queries.lock_ticket)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&mut **tx)
            .await
            .map_err(ticket_error)?;
        let exists = row.is_some();
        let before = row.map(TicketColumns::from_row).unwrap_or_default();
        Ok(Locked {
            record: before.to_record()?,
            before,
            exists,
        })
    }

    async fn write_ticket(
        &self,
        tx: &mut Transaction<'static, DB>,
        key: &TicketKey,
        locked: &Locked,
    ) -> Result<Written, StoreError> {
        let q = &*self.queries;
        let key = key.as_bytes().as_slice();
        if locked.record.is_empty() {
            if locked.exists {
                sqlx::query(&q.delete_ticket)
                    .bind(key)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            return Ok(Written::Done);
        }
        let after = TicketColumns::from_record(&locked.record);
        if locked.exists && after.same_as(&locked.before) {
            return Ok(Written::Done);
        }
        let statement = match (&q.insert_ticket, locked.exists) {
            (Some(insert), false) => insert,
            _ => &q.upsert_ticket,
        };
        let done = sqlx::query(statement)
            .bind(key)
            .bind(after.claimed)
            .bind(after.binding)
            .bind(after.generation)
            .bind(after.failures)
            .bind(after.challenge)
            .bind(after.keep_until)
            .bind(after.claim_until)
            .bind(after.verified)
            .bind(after.bound_locale)
            .bind(after.bound_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(written(DB::rows_affected(&done)))
    }

    /// The counter's row under its lock, if there is one (a missing row is
    /// created by the write, which tells whether another step created it
    /// first).
    async fn lock_counter(
        &self,
        tx: &mut Transaction<'static, DB>,
        key: &AddressKey,
    ) -> Result<(AddressSends, LockedCounter), StoreError> {
        let q = &*self.queries;
        let key = key.as_bytes().as_slice();
        let row: Option<(Vec<u8>, i64)> = sqlx::query_as(&q.lock_address)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => {
                let before = row.0.clone();
                let counter = address_from_row(row)?;
                let exists = true;
                Ok((counter, LockedCounter { before, exists }))
            }
            None => Ok((
                AddressSends::default(),
                LockedCounter {
                    before: Vec::new(),
                    exists: false,
                },
            )),
        }
    }

    async fn write_counter(
        &self,
        tx: &mut Transaction<'static, DB>,
        key: &AddressKey,
        counter: &AddressSends,
        locked: &LockedCounter,
    ) -> Result<Written, StoreError> {
        let q = &*self.queries;
        let key = key.as_bytes().as_slice();
        if counter.is_empty() {
            if locked.exists {
                sqlx::query(&q.delete_address)
                    .bind(key)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            return Ok(Written::Done);
        }
        let sends = codec::encode_sends(&counter.sends);
        if locked.exists && sends == locked.before {
            return Ok(Written::Done);
        }
        let statement = match (&q.insert_address, locked.exists) {
            (Some(insert), false) => insert,
            _ => &q.upsert_address,
        };
        let done = sqlx::query(statement)
            .bind(key)
            .bind(sends)
            .bind(millis(counter.keep_until))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(written(DB::rows_affected(&done)))
    }

    /// The ticket's row as stored, read without a lock.
    pub(super) async fn read(&self, key: &TicketKey) -> Result<Option<TicketRecord>, StoreError> {
        self.record_pool();
        let read = sqlx::query_as::<_, TicketRow>(&self.queries.select_ticket)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&self.reader);
        let row = tokio::time::timeout(self.timeout, read)
            .await
            .map_err(timed_out)?
            .map_err(db_error)?;
        row.map(|row| TicketColumns::from_row(row).to_record())
            .transpose()
    }

    /// One transaction: see the [module documentation](self).
    pub(super) async fn update<T: Send>(
        &self,
        key: &TicketKey,
        now: Option<Timestamp>,
        counters: impl for<'r> Fn(&'r TicketRecord) -> Vec<AddressKey> + Send + Sync,
        rule: impl for<'r, 'c> Fn(&'r mut TicketRecord, &'c mut [AddressSends]) -> T + Send + Sync,
    ) -> Result<T, StoreError> {
        self.record_pool();
        let work = async {
            for _ in 0..CREATION_RACES {
                if let Some(out) = self.update_once(key, &counters, &rule).await? {
                    return Ok(out);
                }
            }
            Err(StoreError::msg(
                "rows this step would create were created by other steps again and again",
            ))
        };
        let out = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(timed_out)?;
        if let Some(now) = now {
            self.maybe_sweep(now);
        }
        out
    }

    /// One try of [`update`](Self::update): `None` when a row it would
    /// create was created meanwhile by another transaction (rolled back; the
    /// next try finds and locks that row).
    async fn update_once<T: Send>(
        &self,
        key: &TicketKey,
        counters: &(impl for<'r> Fn(&'r TicketRecord) -> Vec<AddressKey> + Send + Sync),
        rule: &(impl for<'r, 'c> Fn(&'r mut TicketRecord, &'c mut [AddressSends]) -> T + Send + Sync),
    ) -> Result<Option<T>, StoreError> {
        let mut tx = DB::begin_write(&self.writer, self.lock_wait())
            .await
            .map_err(db_error)?;
        let mut locked = self.lock_ticket(&mut tx, key).await?;
        // Counters are locked, and written, in one order: their keys'.
        let keys = counters(&locked.record);
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| *keys[i].as_bytes());
        let mut rows: Vec<Option<(AddressSends, LockedCounter)>> =
            keys.iter().map(|_| None).collect();
        for &i in &order {
            rows[i] = Some(self.lock_counter(&mut tx, &keys[i]).await?);
        }
        let (mut sends, rows): (Vec<AddressSends>, Vec<LockedCounter>) =
            rows.into_iter().map(|r| r.expect("locked above")).unzip();
        let out = rule(&mut locked.record, &mut sends);
        if self.write_ticket(&mut tx, key, &locked).await? == Written::Raced {
            return Ok(None);
        }
        for &i in &order {
            if self
                .write_counter(&mut tx, &keys[i], &sends[i], &rows[i])
                .await?
                == Written::Raced
            {
                return Ok(None);
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(Some(out))
    }

    /// Deletes the ticket's row, in one statement; returns whether there
    /// was one.
    pub(super) async fn remove(&self, key: &TicketKey) -> Result<bool, StoreError> {
        self.record_pool();
        let delete = sqlx::query(&self.queries.delete_ticket)
            .bind(key.as_bytes().as_slice())
            .execute(&self.writer);
        let done = tokio::time::timeout(self.timeout, delete)
            .await
            .map_err(timed_out)?
            .map_err(db_error)?;
        Ok(DB::rows_affected(&done) > 0)
    }

    /// [`Store::state`](crate::store::Store::state): one transaction.
    pub(super) async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
        let q = &*self.queries;
        let (statement, record) = match change {
            StateChange::Init(record) => (&q.init_state, record),
            StateChange::Replace(record) => (&q.replace_state, record),
        };
        self.record_pool();
        let work = async {
            let mut tx = DB::begin_write(&self.writer, self.lock_wait())
                .await
                .map_err(db_error)?;
            let done = sqlx::query(statement)
                .bind(record.fingerprint.as_bytes().as_slice())
                .bind(i64::from(record.first_devices_held))
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            let (fingerprint, held, clock): (Vec<u8>, i64, Option<i64>) =
                sqlx::query_as(&q.select_state)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            let fingerprint = <[u8; 16]>::try_from(fingerprint)
                .map_err(|_| StoreError::msg("malformed state record in the database"))?;
            Ok(StateRead {
                record: StateRecord {
                    fingerprint: StateFingerprint::from_bytes(fingerprint),
                    first_devices_held: held != 0,
                },
                written: DB::rows_affected(&done) > 0,
                store_time: clock
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(Timestamp::from_millis),
            })
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(timed_out)?
    }

    /// Starts a sweep in the background when one is due at `now` (at most
    /// one per [`SWEEP_INTERVAL`] of the callers' time per store handle).
    fn maybe_sweep(&self, now: Timestamp) {
        let due = self.next_sweep.load(Ordering::Relaxed);
        if now.as_millis() < due {
            return;
        }
        let next = (now + SWEEP_INTERVAL).as_millis();
        if self
            .next_sweep
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let tables = self.clone();
        tokio::spawn(async move {
            match tables.sweep(now).await {
                Ok(0) => {}
                Ok(rows) => tracing::debug!(rows, "tower-otp: swept expired rows"),
                Err(error) => tracing::warn!(%error, "tower-otp: sweep failed"),
            }
        });
    }

    /// The stores' `sweep`: removes what can no longer matter at `now`,
    /// less [`SWEEP_GRACE`], in bounded batches; returns the rows changed.
    pub(super) async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        let q = &*self.queries;
        let cutoff = millis(now - SWEEP_GRACE);
        let mut total = 0;
        for statement in [
            &q.sweep_addresses,
            &q.sweep_empty_tickets,
            &q.sweep_challenges,
            &q.sweep_lapsed_tickets,
            &q.sweep_lapsed_claims,
        ] {
            for _ in 0..SWEEP_BATCHES {
                let rows = sqlx::query(statement)
                    .bind(cutoff)
                    .bind(SWEEP_BATCH)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                let rows = DB::rows_affected(&rows);
                total += rows;
                if rows < SWEEP_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// The stores' `migrate`: every migration not yet applied, in one
    /// transaction.
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        let q = &*self.queries;
        let mut tx = DB::begin(&self.writer).await.map_err(db_error)?;
        DB::prepare_migration(&mut tx, q).await?;
        sqlx::query(&q.create_migrations_table())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let current = self.version(&mut tx).await?;
        if current > q.latest_version() {
            return Err(StoreError::msg(
                "the database was migrated by a newer version of tower-otp",
            ));
        }
        let applied_at = millis(Timestamp::from_system_time(std::time::SystemTime::now()));
        for (version, description, statements) in q.migrations() {
            if version <= current {
                continue;
            }
            for statement in statements {
                sqlx::query(&statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            sqlx::query(&format!(
                "INSERT INTO {} (version, description, applied_at) VALUES ($1, $2, $3)",
                q.migrations
            ))
            .bind(version)
            .bind(description)
            .bind(applied_at)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            tracing::info!(version, description, "tower-otp: migrated the database");
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    /// The stores' `ensure_migrated`: the schema is the one this version
    /// needs, or an error that says what is wrong.
    pub(super) async fn ensure_migrated(&self) -> Result<(), StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db_error)?;
        let current = self.version(&mut conn).await?;
        let latest = self.queries.latest_version();
        if current == 0 {
            Err(StoreError::msg(
                "the database has no tower-otp tables: call migrate() first",
            ))
        } else if current < latest {
            Err(StoreError::msg(
                "the database needs tower-otp migrations: call migrate()",
            ))
        } else if current > latest {
            Err(StoreError::msg(
                "the database was migrated by a newer version of tower-otp",
            ))
        } else {
            Ok(())
        }
    }

    /// The schema version applied (0: none).
    async fn version(&self, conn: &mut DB::Connection) -> Result<i64, StoreError> {
        let sql = format!("SELECT MAX(version) FROM {}", self.queries.migrations);
        match sqlx::query_as::<_, (Option<i64>,)>(&sql)
            .fetch_one(&mut *conn)
            .await
        {
            Ok((version,)) => Ok(version.unwrap_or(0)),
            Err(e) if is_missing_table(&e) => Ok(0),
            Err(e) => Err(db_error(e)),
        }
    }
}
