//! The SQL stores: [`SqliteStore`] (feature `sqlite`) and [`PostgresStore`]
//! (feature `postgres`), one implementation over `sqlx`.
//!
//! Both keep two tables (names under a configurable prefix, `otp_` by
//! default; on PostgreSQL in a configurable schema, `public` by default):
//!
//! - `otp_tickets`: one row per ticket that has anything worth keeping. The
//!   long-lived facts in columns of their own (`claimed`, `binding`,
//!   `bound_locale`, `bound_at`, `generation`, `failures`, `verified`;
//!   `claim_until`, when an unbound
//!   ticket's first-device claim lapses, indexed for the sweep), the pending
//!   challenge as one binary value
//!   (`challenge`, see `codec.rs`) with `keep_until`, the time after which
//!   nothing in it can matter (indexed, for the sweep);
//! - `otp_addresses`: the send times per counter key (a mailbox's, for its
//!   owner or for strangers, a domain's, the site's), with `keep_until`;
//!
//! and `otp_migrations`, the versions applied. Every operation is one
//! transaction that reads the rows it needs with a write lock, applies the
//! [rules](super::rules) and writes back what changed: the
//! [record contract](super::records), written once for both databases in
//! `tables.rs`.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::error::ConfigError;
use crate::locale::Locale;
use crate::store::StoreError;
use crate::store::rules::{AddressSends, TicketRecord};

/// The gauge of the connections open in the pool writes go through
/// (PostgreSQL: the pool), as of the last call (feature `metrics`).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const POOL_SIZE: &str = "tower_otp_store_pool_size";
/// The gauge of those connections that are idle.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const POOL_IDLE: &str = "tower_otp_store_pool_idle";

mod codec;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod tables;

#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use self::sqlite::{SqliteDurability, SqliteStore};

/// The table prefix unless `with_prefix` says otherwise.
const DEFAULT_PREFIX: &str = "otp_";

/// How long one store call may take unless `with_timeout` says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// How often (in the time the callers pass in) expired rows are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Rows are swept only this long after nothing in them can matter, so that
/// instances whose clocks disagree by less never sweep what another still
/// uses.
const SWEEP_GRACE: Duration = Duration::from_secs(60);

/// Rows per sweep statement, and statements per table per sweep: a sweep
/// never holds a lock on more than a batch, and never runs unbounded.
const SWEEP_BATCH: i64 = 1000;
const SWEEP_BATCHES: usize = 10;

/// Which SQL the queries are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// Checks a table prefix or schema name: lower-case ASCII letters, digits and
/// `_`, starting with a letter or `_`, at most `max` bytes. Names are also
/// quoted in every statement; this check is what keeps them from carrying
/// SQL.
fn check_identifier(name: &str, max: usize, setting: &'static str) -> Result<(), ConfigError> {
    let ok = (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            setting,
            range: "1 to 40 characters of a-z, 0-9 and _, not starting with a digit",
        })
    }
}

/// The statements of one store, built once from its dialect and names.
#[derive(Debug, Clone)]
struct Queries {
    dialect: Dialect,
    /// The migrations table, qualified and quoted.
    migrations: String,
    /// The advisory-lock name for `migrate` (PostgreSQL).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    lock_name: String,
    /// The schema to create in `migrate` when it does not exist
    /// (PostgreSQL), quoted, and as named.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    schema: Option<String>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    schema_name: Option<String>,
    prefix: String,
    tickets: String,
    addresses: String,
    state: String,
    select_ticket: String,
    lock_ticket: String,
    /// Writes a row only if there is none (PostgreSQL: `FOR UPDATE` locks
    /// no missing row, so a row two steps would create is written by the
    /// first, and the second, which finds one, starts again).
    insert_ticket: Option<String>,
    upsert_ticket: String,
    delete_ticket: String,
    lock_address: String,
    insert_address: Option<String>,
    upsert_address: String,
    delete_address: String,
    sweep_addresses: String,
    sweep_empty_tickets: String,
    sweep_challenges: String,
    sweep_lapsed_tickets: String,
    sweep_lapsed_claims: String,
    /// The store's record of itself: written when absent, replaced, read.
    init_state: String,
    replace_state: String,
    select_state: String,
}

impl Queries {
    fn new(dialect: Dialect, schema: Option<&str>, prefix: &str) -> Self {
        let qualify = |table: &str| match schema {
            Some(schema) => format!("\"{schema}\".\"{prefix}{table}\""),
            None => format!("\"{prefix}{table}\""),
        };
        let (tickets, addresses) = (qualify("tickets"), qualify("addresses"));
        let state = qualify("state");
        let pg = dialect == Dialect::Postgres;
        let for_update = if pg { " FOR UPDATE" } else { "" };
        let skip_locked = if pg { " FOR UPDATE SKIP LOCKED" } else { "" };
        let select_ticket = format!(
            "SELECT claimed, binding, generation, failures, challenge, claim_until, verified, \
             bound_locale, bound_at FROM {tickets} WHERE key = $1"
        );
        Self {
            dialect,
            migrations: qualify("migrations"),
            lock_name: format!("tower-otp migrate {}", qualify("migrations")),
            schema: schema.map(|s| format!("\"{s}\"")),
            schema_name: schema.map(str::to_owned),
            prefix: prefix.to_owned(),
            lock_ticket: format!("{select_ticket}{for_update}"),
            select_ticket,
            insert_ticket: pg.then(|| {
                format!(
                    "INSERT INTO {tickets} (key, claimed, binding, generation, failures, challenge, \
                     keep_until, claim_until, verified, bound_locale, bound_at) VALUES ($1, $2, $3, \
                     $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (key) DO NOTHING"
                )
            }),
            upsert_ticket: format!(
                "INSERT INTO {tickets} (key, claimed, binding, generation, failures, challenge, keep_until, \
                 claim_until, verified, bound_locale, bound_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (key) DO UPDATE SET \
                 claimed = excluded.claimed, binding = excluded.binding, generation = excluded.generation, \
                 failures = excluded.failures, challenge = excluded.challenge, keep_until = excluded.keep_until, \
                 claim_until = excluded.claim_until, verified = excluded.verified, \
                 bound_locale = excluded.bound_locale, bound_at = excluded.bound_at"
            ),
            delete_ticket: format!("DELETE FROM {tickets} WHERE key = $1"),
            lock_address: format!(
                "SELECT sends, keep_until FROM {addresses} WHERE key = $1{for_update}"
            ),
            insert_address: pg.then(|| {
                format!(
                    "INSERT INTO {addresses} (key, sends, keep_until) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO NOTHING"
                )
            }),
            upsert_address: format!(
                "INSERT INTO {addresses} (key, sends, keep_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET sends = excluded.sends, keep_until = excluded.keep_until"
            ),
            delete_address: format!("DELETE FROM {addresses} WHERE key = $1"),
            sweep_addresses: format!(
                "DELETE FROM {addresses} WHERE key IN (SELECT key FROM {addresses} \
                 WHERE keep_until <= $1 ORDER BY keep_until LIMIT $2{skip_locked})"
            ),
            sweep_empty_tickets: format!(
                "DELETE FROM {tickets} WHERE key IN (SELECT key FROM {tickets} \
                 WHERE keep_until <= $1 AND claimed = 0 AND binding IS NULL AND generation = 0 \
                 AND failures = 0 ORDER BY keep_until LIMIT $2{skip_locked})"
            ),
            sweep_lapsed_tickets: format!(
                "DELETE FROM {tickets} WHERE key IN (SELECT key FROM {tickets} \
                 WHERE claim_until <= $1 AND binding IS NULL AND generation = 0 AND failures = 0 \
                 AND challenge IS NULL ORDER BY claim_until LIMIT $2{skip_locked})"
            ),
            sweep_lapsed_claims: format!(
                "UPDATE {tickets} SET claimed = 0, claim_until = NULL WHERE key IN \
                 (SELECT key FROM {tickets} WHERE claim_until <= $1 AND binding IS NULL \
                 ORDER BY claim_until LIMIT $2{skip_locked})"
            ),
            init_state: format!(
                "INSERT INTO {state} (id, fingerprint, first_devices_held) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO NOTHING"
            ),
            replace_state: format!(
                "INSERT INTO {state} (id, fingerprint, first_devices_held) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, \
                 first_devices_held = excluded.first_devices_held"
            ),
            // PostgreSQL is shared by several machines: its clock comes
            // along, to compare with each instance's.
            select_state: if pg {
                format!(
                    "SELECT fingerprint, first_devices_held, \
                     CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) \
                     FROM {state} WHERE id = 1"
                )
            } else {
                format!("SELECT fingerprint, first_devices_held, NULL FROM {state} WHERE id = 1")
            },
            sweep_challenges: format!(
                "UPDATE {tickets} SET challenge = NULL, keep_until = NULL WHERE key IN \
                 (SELECT key FROM {tickets} WHERE keep_until <= $1 ORDER BY keep_until LIMIT $2{skip_locked})"
            ),
            tickets,
            addresses,
            state,
        }
    }

    /// The migrations, oldest first: (version, description, statements).
    fn migrations(&self) -> Vec<(i64, &'static str, Vec<String>)> {
        let (bytes, int, rowid) = match self.dialect {
            Dialect::Sqlite => ("BLOB", "INTEGER", " WITHOUT ROWID"),
            Dialect::Postgres => ("BYTEA", "BIGINT", ""),
        };
        let (tickets, addresses, prefix) = (&self.tickets, &self.addresses, &self.prefix);
        let state = &self.state;
        // Shipped migrations are never edited: a change is a new version.
        vec![
            (
                1,
                "tickets and address counters",
                vec![
                    format!(
                        "CREATE TABLE {tickets} (key {bytes} PRIMARY KEY, \
                     claimed {int} NOT NULL DEFAULT 0, binding TEXT, \
                     generation {int} NOT NULL DEFAULT 0, failures {int} NOT NULL DEFAULT 0, \
                     challenge {bytes}, keep_until {int}){rowid}"
                    ),
                    format!(
                        "CREATE INDEX \"{prefix}tickets_keep_until\" ON {tickets} (keep_until) \
                     WHERE keep_until IS NOT NULL"
                    ),
                    format!(
                        "CREATE TABLE {addresses} (key {bytes} PRIMARY KEY, sends {bytes} NOT NULL, \
                     keep_until {int} NOT NULL){rowid}"
                    ),
                    format!(
                        "CREATE INDEX \"{prefix}addresses_keep_until\" ON {addresses} (keep_until)"
                    ),
                ],
            ),
            (
                2,
                "claims lapse; tickets remember a verified device",
                vec![
                    format!("ALTER TABLE {tickets} ADD COLUMN claim_until {int}"),
                    format!("ALTER TABLE {tickets} ADD COLUMN verified {int} NOT NULL DEFAULT 0"),
                    format!(
                        "CREATE INDEX \"{prefix}tickets_claim_until\" ON {tickets} (claim_until) \
                     WHERE claim_until IS NOT NULL"
                    ),
                ],
            ),
            (
                3,
                "a binding keeps its owner's language and its time",
                vec![
                    format!("ALTER TABLE {tickets} ADD COLUMN bound_locale TEXT"),
                    format!("ALTER TABLE {tickets} ADD COLUMN bound_at {int}"),
                ],
            ),
            (
                4,
                "the store's record of the secret that wrote it",
                vec![format!(
                    "CREATE TABLE {state} (id {int} PRIMARY KEY, fingerprint {bytes} NOT NULL, \
                     first_devices_held {int} NOT NULL DEFAULT 0)"
                )],
            ),
        ]
    }

    fn create_migrations_table(&self) -> String {
        let int = match self.dialect {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BIGINT",
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} (version {int} PRIMARY KEY, \
             description TEXT NOT NULL, applied_at {int} NOT NULL)",
            self.migrations
        )
    }

    fn latest_version(&self) -> i64 {
        self.migrations().last().map_or(0, |m| m.0)
    }
}

/// A ticket row's columns, as read and written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TicketColumns {
    claimed: i64,
    binding: Option<String>,
    generation: i64,
    failures: i64,
    challenge: Option<Vec<u8>>,
    keep_until: Option<i64>,
    claim_until: Option<i64>,
    verified: i64,
    bound_locale: Option<String>,
    bound_at: Option<i64>,
}

type TicketRow = (
    i64,
    Option<String>,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<i64>,
    i64,
    Option<String>,
    Option<i64>,
);

fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

fn time(millis: i64) -> Timestamp {
    Timestamp::from_millis(u64::try_from(millis).unwrap_or(0))
}

impl TicketColumns {
    fn from_row(row: TicketRow) -> Self {
        let (
            claimed,
            binding,
            generation,
            failures,
            challenge,
            claim_until,
            verified,
            bound_locale,
            bound_at,
        ) = row;
        Self {
            claimed,
            binding,
            generation,
            failures,
            challenge,
            keep_until: None,
            claim_until,
            verified,
            bound_locale,
            bound_at,
        }
    }

    fn from_record(record: &TicketRecord) -> Self {
        Self {
            claimed: i64::from(record.claimed),
            binding: record.binding.as_ref().map(|a| a.as_str().to_owned()),
            generation: i64::try_from(record.generation).unwrap_or(i64::MAX),
            failures: i64::from(record.consecutive_failures),
            challenge: record.challenge.as_deref().map(codec::encode_challenge),
            keep_until: record.keep_until().map(millis),
            claim_until: record.claim_lapses_at().map(millis),
            verified: i64::from(record.verified),
            bound_locale: record.bound_locale.map(|l| l.tag().to_owned()),
            bound_at: (record.bound_at != Timestamp::default()).then(|| millis(record.bound_at)),
        }
    }

    fn to_record(&self) -> Result<TicketRecord, StoreError> {
        let corrupt = |e| StoreError::new("undecodable ticket row", e);
        let binding = match &self.binding {
            Some(text) => Some(
                EmailAddress::parse(text)
                    .map_err(|e| StoreError::new("undecodable binding in ticket row", e))?,
            ),
            None => None,
        };
        let challenge = match &self.challenge {
            Some(bytes) => Some(Box::new(codec::decode_challenge(bytes).map_err(corrupt)?)),
            None => None,
        };
        Ok(TicketRecord {
            binding,
            challenge,
            generation: u64::try_from(self.generation).unwrap_or(0),
            consecutive_failures: u32::try_from(self.failures).unwrap_or(u32::MAX),
            claimed: self.claimed != 0,
            claim_until: self.claim_until.map_or(Timestamp::default(), time),
            verified: self.verified != 0,
            // A tag this version does not know (written by a newer one)
            // reads as unknown: the notice falls back to the default.
            bound_locale: self.bound_locale.as_deref().and_then(Locale::parse),
            bound_at: self.bound_at.map_or(Timestamp::default(), time),
        })
    }

    /// Equal for what the row stores (`keep_until` follows the challenge).
    fn same_as(&self, other: &Self) -> bool {
        (
            self.claimed,
            &self.binding,
            self.generation,
            self.failures,
            &self.challenge,
            self.claim_until,
            self.verified,
            &self.bound_locale,
            self.bound_at,
        ) == (
            other.claimed,
            &other.binding,
            other.generation,
            other.failures,
            &other.challenge,
            other.claim_until,
            other.verified,
            &other.bound_locale,
            other.bound_at,
        )
    }
}

fn address_from_row(row: (Vec<u8>, i64)) -> Result<AddressSends, StoreError> {
    let sends =
        codec::decode_sends(&row.0).map_err(|e| StoreError::new("undecodable address row", e))?;
    Ok(AddressSends {
        sends,
        keep_until: Timestamp::from_millis(u64::try_from(row.1).unwrap_or(0)),
    })
}

/// The error says a table (or the schema) does not exist.
fn is_missing_table(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            // PostgreSQL: undefined_table, invalid_schema_name; SQLite: its message.
            matches!(db.code().as_deref(), Some("42P01" | "3F000"))
                || db.message().starts_with("no such table")
        }
        _ => false,
    }
}

/// The error says a lock was not had within `lock_timeout` (PostgreSQL's
/// `lock_not_available`).
fn is_lock_timeout(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03"))
}

/// A store error for a database error while locking or creating the
/// ticket's row: a lock not had in time names the ticket's row.
fn ticket_error(e: sqlx::Error) -> StoreError {
    if is_lock_timeout(&e) {
        StoreError::new(
            "the ticket's row is locked by another transaction: gave up waiting for it",
            e,
        )
    } else {
        db_error(e)
    }
}

/// A store error for a database error: an un-migrated schema says so, and
/// so do a row held locked and a pool with no connection free.
fn db_error(e: sqlx::Error) -> StoreError {
    if is_lock_timeout(&e) {
        StoreError::new(
            "a row this call needs is locked by another transaction: gave up waiting for it",
            e,
        )
    } else if is_missing_table(&e) {
        StoreError::new(
            "the database has no tower-otp tables: call migrate() first",
            e,
        )
    } else if matches!(e, sqlx::Error::PoolTimedOut) {
        StoreError::new(
            "no database connection could be had in time (every connection of the pool busy, \
             or the database unreachable)",
            e,
        )
    } else {
        StoreError::new("database error", e)
    }
}

fn timed_out(_: tokio::time::error::Elapsed) -> StoreError {
    StoreError::msg("database call timed out")
}

/// Checks a store call timeout: 1 ms to 60 s.
fn check_timeout(timeout: Duration) -> Result<(), ConfigError> {
    if timeout < Duration::from_millis(1) || timeout > Duration::from_secs(60) {
        return Err(ConfigError::OutOfRange {
            setting: "store timeout",
            range: "1 ms to 60 s",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_carry_no_sql() {
        for good in ["otp_", "tickets", "_x", "a1_b2"] {
            assert!(check_identifier(good, 40, "prefix").is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Otp",
            "otp-",
            "otp\"; DROP TABLE x; --",
            "a b",
            "ö",
            &"a".repeat(41),
        ] {
            assert!(check_identifier(bad, 40, "prefix").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_quoted_and_qualified() {
        let q = Queries::new(Dialect::Postgres, Some("shop"), "otp_");
        assert_eq!(q.tickets, "\"shop\".\"otp_tickets\"");
        assert!(q.lock_ticket.ends_with("FOR UPDATE"));
        let q = Queries::new(Dialect::Sqlite, None, "t_");
        assert_eq!(q.addresses, "\"t_addresses\"");
        assert!(!q.lock_ticket.contains("FOR UPDATE"));
        assert!(q.insert_ticket.is_none());
    }

    #[test]
    fn columns_round_trip() {
        let mut record = TicketRecord {
            claimed: true,
            generation: 3,
            consecutive_failures: 7,
            binding: Some(EmailAddress::parse("taro@example.com").unwrap()),
            bound_locale: Some(crate::Locale::ZhHant),
            bound_at: Timestamp::from_millis(1_800_000_000_000),
            ..TicketRecord::default()
        };
        record.challenge = Some(Box::default());
        let columns = TicketColumns::from_record(&record);
        let back = TicketColumns::from_record(&columns.to_record().unwrap());
        assert_eq!(back, columns);
    }
}
