//! The operations of the SQL stores, written once for both databases.
//!
//! `sql_store!(Type, Database)` implements [`Store`](crate::Store),
//! `migrate`, `ensure_migrated` and `sweep` for a store type that has the
//! fields `writer` and `reader` (pools), `queries`, `timeout` and
//! `next_sweep`, and an inherent `async fn begin(&self)` that opens a write
//! transaction (`BEGIN IMMEDIATE` on SQLite, `BEGIN` on PostgreSQL, where the
//! `SELECT … FOR UPDATE` of the rows takes the locks).
//!
//! Each write operation is one transaction:
//!
//! 1. lock the ticket's row (PostgreSQL: when it does not exist, insert an
//!    empty one and lock that, so that two first writers of a ticket queue on
//!    its row too), and for `issue_code`/`withdraw_code` then the address's
//!    row: always ticket first, then address, so two operations never wait
//!    on each other in a cycle;
//! 2. apply the rule from [`rules`](crate::store::rules);
//! 3. write back only what changed (a refused send or a guess while locked
//!    out writes nothing), delete a row left empty;
//! 4. commit.

macro_rules! sql_store {
    ($store:ident, $db:ident) => {
        mod operations {
        use std::sync::atomic::Ordering;

        use super::$store;
        use sqlx::$db;

        use async_trait::async_trait;
        use sqlx::Transaction;

        use crate::clock::Timestamp;
        use crate::store::rules::{self, AddressSends, TicketRecord};
        use crate::store::sql::{
            SWEEP_BATCH, SWEEP_BATCHES, SWEEP_GRACE, SWEEP_INTERVAL, TicketColumns, TicketRow,
            address_from_row, codec, db_error, is_missing_table, millis, timed_out,
        };
        use crate::store::{
            AddressKey, BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, IssueOutcome,
            IssueRequest, LockoutCleared, Policy, RebindOutcome, RestartOutcome, StateChange, StateFingerprint,
            StateRead, StateRecord, Store, StoreError, TicketSnapshot, UnbindOutcome, VerifyOutcome,
            VerifyRequest,
        };
        use crate::ticket::TicketKey;

        /// A ticket row read under its lock.
        struct Locked {
            record: TicketRecord,
            before: TicketColumns,
            /// The row exists (it may be a stub this transaction inserted).
            exists: bool,
        }

        impl $store {
            /// Reads the ticket's row under its lock. With `create`, and on a
            /// database where a missing row cannot be locked (PostgreSQL), an
            /// empty row is inserted first when there is none.
            async fn lock_ticket(
                &self,
                tx: &mut Transaction<'static, $db>,
                key: &TicketKey,
                create: bool,
            ) -> Result<Locked, StoreError> {
                let q = &*self.queries;
                let key = key.as_bytes().as_slice();
                let mut row: Option<TicketRow> = sqlx::query_as(&q.lock_ticket)
                    .bind(key)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                if let (None, Some(stub), true) = (&row, &q.stub_ticket, create) {
                    sqlx::query(stub)
                        .bind(key)
                        .execute(&mut **tx)
                        .await
                        .map_err(db_error)?;
                    row = sqlx::query_as(&q.lock_ticket)
                        .bind(key)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db_error)?;
                }
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
                tx: &mut Transaction<'static, $db>,
                key: &TicketKey,
                locked: &Locked,
            ) -> Result<(), StoreError> {
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
                    return Ok(());
                }
                let after = TicketColumns::from_record(&locked.record);
                if locked.exists && after.same_as(&locked.before) {
                    return Ok(());
                }
                sqlx::query(&q.upsert_ticket)
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
                Ok(())
            }

            /// The address's counter under its lock: (counter, encoded before, row exists).
            async fn lock_address(
                &self,
                tx: &mut Transaction<'static, $db>,
                key: &AddressKey,
            ) -> Result<(AddressSends, Vec<u8>, bool), StoreError> {
                let q = &*self.queries;
                let key = key.as_bytes().as_slice();
                let mut row: Option<(Vec<u8>, i64)> = sqlx::query_as(&q.lock_address)
                    .bind(key)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                if let (None, Some(stub)) = (&row, &q.stub_address) {
                    sqlx::query(stub)
                        .bind(key)
                        .bind(Vec::<u8>::new())
                        .execute(&mut **tx)
                        .await
                        .map_err(db_error)?;
                    row = sqlx::query_as(&q.lock_address)
                        .bind(key)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db_error)?;
                }
                match row {
                    Some(row) => {
                        let before = row.0.clone();
                        Ok((address_from_row(row)?, before, true))
                    }
                    None => Ok((AddressSends::default(), Vec::new(), false)),
                }
            }

            async fn write_address(
                &self,
                tx: &mut Transaction<'static, $db>,
                key: &AddressKey,
                (counter, before, exists): (AddressSends, Vec<u8>, bool),
            ) -> Result<(), StoreError> {
                let q = &*self.queries;
                let key = key.as_bytes().as_slice();
                if counter.is_empty() {
                    if exists {
                        sqlx::query(&q.delete_address)
                            .bind(key)
                            .execute(&mut **tx)
                            .await
                            .map_err(db_error)?;
                    }
                    return Ok(());
                }
                let sends = codec::encode_sends(&counter.sends);
                if exists && sends == before {
                    return Ok(());
                }
                sqlx::query(&q.upsert_address)
                    .bind(key)
                    .bind(sends)
                    .bind(millis(counter.keep_until))
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            /// One transaction on one ticket: lock, apply `rule`, write back.
            async fn on_ticket<T: Send>(
                &self,
                key: &TicketKey,
                now: Option<Timestamp>,
                rule: impl Fn(&mut TicketRecord) -> T + Send + Sync,
            ) -> Result<T, StoreError> {
                let work = async {
                    let mut tx = self.begin().await.map_err(db_error)?;
                    let mut locked = self.lock_ticket(&mut tx, key, false).await?;
                    if !locked.exists && self.queries.stub_ticket.is_some() {
                        // No row to lock. A rule that leaves an unknown ticket
                        // as it is (a guess, a restart on a ticket nobody
                        // touched) has nothing to write: answer from the empty
                        // record, creating no row. Otherwise make and lock one.
                        let mut probe = TicketRecord::default();
                        let out = rule(&mut probe);
                        if probe.is_empty() {
                            tx.commit().await.map_err(db_error)?;
                            return Ok(out);
                        }
                        locked = self.lock_ticket(&mut tx, key, true).await?;
                    }
                    let out = rule(&mut locked.record);
                    self.write_ticket(&mut tx, key, &locked).await?;
                    tx.commit().await.map_err(db_error)?;
                    Ok(out)
                };
                let out = tokio::time::timeout(self.timeout, work)
                    .await
                    .map_err(timed_out)?;
                if let Some(now) = now {
                    self.maybe_sweep(now);
                }
                out
            }

            /// One transaction on a ticket and the counters of
            /// [`rules::budgets`] (locked after the ticket, in ascending key
            /// order, so two transactions never wait on each other in a cycle).
            async fn on_ticket_and_counters<T: Send>(
                &self,
                r: &IssueRequest<'_>,
                rule: impl FnOnce(&mut TicketRecord, &mut [AddressSends]) -> T + Send,
            ) -> Result<T, StoreError> {
                let work = async {
                    let mut tx = self.begin().await.map_err(db_error)?;
                    let mut locked = self.lock_ticket(&mut tx, r.ticket, true).await?;
                    let budgets = rules::budgets(&locked.record, r);
                    let mut order: Vec<usize> = (0..budgets.len()).collect();
                    order.sort_by_key(|&i| *budgets[i].key.as_bytes());
                    let mut rows: Vec<Option<(AddressSends, Vec<u8>, bool)>> =
                        budgets.iter().map(|_| None).collect();
                    for &i in &order {
                        rows[i] = Some(self.lock_address(&mut tx, &budgets[i].key).await?);
                    }
                    let mut rows: Vec<_> = rows.into_iter().map(|r| r.expect("locked above")).collect();
                    let mut counters: Vec<AddressSends> =
                        rows.iter_mut().map(|r| std::mem::take(&mut r.0)).collect();
                    let out = rule(&mut locked.record, &mut counters);
                    self.write_ticket(&mut tx, r.ticket, &locked).await?;
                    for ((budget, row), counter) in budgets.iter().zip(rows).zip(counters) {
                        self.write_address(&mut tx, &budget.key, (counter, row.1, row.2))
                            .await?;
                    }
                    tx.commit().await.map_err(db_error)?;
                    Ok(out)
                };
                let out = tokio::time::timeout(self.timeout, work)
                    .await
                    .map_err(timed_out)?;
                self.maybe_sweep(r.now);
                out
            }

            /// Starts a sweep in the background when one is due at `now`
            /// (at most one per [`SWEEP_INTERVAL`] of the callers' time per
            /// store handle).
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
                let store = self.clone();
                tokio::spawn(async move {
                    match store.sweep(now).await {
                        Ok(0) => {}
                        Ok(rows) => tracing::debug!(rows, "tower-otp: swept expired rows"),
                        Err(error) => tracing::warn!(%error, "tower-otp: sweep failed"),
                    }
                });
            }

            /// Removes what can no longer matter at `now` (less a minute of
            /// grace for clocks that disagree): expired address counters,
            /// expired challenges, and first-device claims that lapsed on
            /// unbound tickets (a ticket row with nothing else is deleted;
            /// its claim, binding, generation and failure count stay
            /// otherwise). Each statement touches at most 1,000 rows, and one
            /// call runs at most 10 per table, so no lock is held long and
            /// nothing runs unbounded; returns how many rows it changed.
            ///
            /// The store does this by itself, in the background, at most once
            /// a minute of the times its callers pass in; call it to sweep on
            /// your own schedule.
            ///
            /// # Errors
            /// A [`StoreError`] when the database fails.
            pub async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
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
                            .map_err(db_error)?
                            .rows_affected();
                        total += rows;
                        if rows < SWEEP_BATCH as u64 {
                            break;
                        }
                    }
                }
                Ok(total)
            }

            /// Creates or updates the tables to the schema this version of
            /// tower-otp needs, in one transaction (concurrent calls from
            /// several instances are safe: they queue). Nothing else ever
            /// creates or alters a table: call it at start, or from a
            /// deployment step with a role that may create tables.
            ///
            /// # Errors
            /// A [`StoreError`] when the database fails, the role may not
            /// create the tables, or the database was migrated by a newer
            /// version of tower-otp.
            pub async fn migrate(&self) -> Result<(), StoreError> {
                let q = &*self.queries;
                let mut tx = self.begin().await.map_err(db_error)?;
                self.prepare_migration(&mut tx).await?;
                sqlx::query(&q.create_migrations_table())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let current = self.version(&mut *tx).await?;
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

            /// Checks that [`migrate`](Self::migrate) has brought the
            /// database to the schema this version needs, without changing
            /// anything: for an application that migrates in a separate
            /// deployment step and wants a clear error at start.
            ///
            /// # Errors
            /// A [`StoreError`] that says what is wrong: not migrated,
            /// migrations pending, migrated by a newer version, or the
            /// database failed.
            pub async fn ensure_migrated(&self) -> Result<(), StoreError> {
                let mut conn = self.reader.acquire().await.map_err(db_error)?;
                let current = self.version(&mut *conn).await?;
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
            async fn version(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
            ) -> Result<i64, StoreError> {
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

        #[async_trait]
        impl Store for $store {
            async fn load(
                &self,
                ticket: &TicketKey,
                now: Timestamp,
                policy: &Policy,
            ) -> Result<TicketSnapshot, StoreError> {
                let read = sqlx::query_as::<_, TicketRow>(&self.queries.select_ticket)
                    .bind(ticket.as_bytes().as_slice())
                    .fetch_optional(&self.reader);
                let row = tokio::time::timeout(self.timeout, read)
                    .await
                    .map_err(timed_out)?
                    .map_err(db_error)?;
                match row {
                    Some(row) => Ok(rules::load(
                        &TicketColumns::from_row(row).to_record()?,
                        now,
                        policy,
                    )),
                    None => Ok(TicketSnapshot::default()),
                }
            }

            async fn claim_first_device(
                &self,
                request: &ClaimRequest<'_>,
            ) -> Result<ClaimOutcome, StoreError> {
                let Some((key, _)) = request.counter() else {
                    return self
                        .on_ticket(request.ticket, Some(request.now), |t| {
                            rules::claim(t, None, request)
                        })
                        .await;
                };
                // The ticket, then the client's counter, in one transaction
                // (the order every operation locks in).
                let work = async {
                    let mut tx = self.begin().await.map_err(db_error)?;
                    let mut locked = self.lock_ticket(&mut tx, request.ticket, true).await?;
                    let mut row = self.lock_address(&mut tx, &key).await?;
                    let out = rules::claim(&mut locked.record, Some(&mut row.0), request);
                    self.write_ticket(&mut tx, request.ticket, &locked).await?;
                    self.write_address(&mut tx, &key, row).await?;
                    tx.commit().await.map_err(db_error)?;
                    Ok(out)
                };
                let out = tokio::time::timeout(self.timeout, work)
                    .await
                    .map_err(timed_out)?;
                self.maybe_sweep(request.now);
                out
            }

            async fn bind(&self, request: &BindRequest<'_>) -> Result<BindOutcome, StoreError> {
                self.on_ticket(request.ticket, None, |t| rules::bind(t, request))
                    .await
            }

            async fn issue_code(
                &self,
                request: &IssueRequest<'_>,
            ) -> Result<IssueOutcome, StoreError> {
                self.on_ticket_and_counters(request, |t, c| rules::issue(t, c, request))
                    .await
            }

            async fn withdraw_code(&self, request: &IssueRequest<'_>) -> Result<(), StoreError> {
                self.on_ticket_and_counters(request, |t, c| rules::withdraw(t, c, request))
                    .await
            }

            async fn verify_code(
                &self,
                request: &VerifyRequest<'_>,
            ) -> Result<VerifyOutcome, StoreError> {
                self.on_ticket(request.ticket, Some(request.now), |t| {
                    rules::verify(t, request)
                })
                .await
            }

            async fn restart(
                &self,
                ticket: &TicketKey,
                now: Timestamp,
            ) -> Result<RestartOutcome, StoreError> {
                self.on_ticket(ticket, Some(now), rules::restart).await
            }

            async fn revoke_devices(&self, ticket: &TicketKey) -> Result<u64, StoreError> {
                self.on_ticket(ticket, None, rules::revoke).await
            }

            async fn unbind(
                &self,
                ticket: &TicketKey,
                now: Timestamp,
            ) -> Result<UnbindOutcome, StoreError> {
                self.on_ticket(ticket, Some(now), rules::unbind).await
            }

            async fn rebind(
                &self,
                request: &BindRequest<'_>,
            ) -> Result<RebindOutcome, StoreError> {
                self.on_ticket(request.ticket, Some(request.now), |t| rules::rebind(t, request))
                    .await
            }

            async fn clear_lockout(
                &self,
                ticket: &TicketKey,
                now: Timestamp,
            ) -> Result<LockoutCleared, StoreError> {
                self.on_ticket(ticket, Some(now), |t| rules::clear_lockout(t, now))
                    .await
            }

            async fn forget(&self, ticket: &TicketKey) -> Result<bool, StoreError> {
                // One statement: atomic on its own.
                let delete = sqlx::query(&self.queries.delete_ticket)
                    .bind(ticket.as_bytes().as_slice())
                    .execute(&self.writer);
                let done = tokio::time::timeout(self.timeout, delete)
                    .await
                    .map_err(timed_out)?
                    .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn state(&self, change: StateChange) -> Result<StateRead, StoreError> {
                let q = &*self.queries;
                let (statement, record) = match change {
                    StateChange::Init(record) => (&q.init_state, record),
                    StateChange::Replace(record) => (&q.replace_state, record),
                };
                let work = async {
                    let mut tx = self.begin().await.map_err(db_error)?;
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
                        written: done.rows_affected() > 0,
                        store_time: clock
                            .and_then(|ms| u64::try_from(ms).ok())
                            .map(Timestamp::from_millis),
                    })
                };
                tokio::time::timeout(self.timeout, work)
                    .await
                    .map_err(timed_out)?
            }
        }
        }
    };
}
