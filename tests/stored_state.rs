//! What each store actually writes, read back raw after a real flow.
//!
//! For every store (memory, SQLite, PostgreSQL, Redis on one node with either
//! form of `issue_code`, Redis Cluster), a gate over it goes through: a first
//! device claims the ticket; another browser has a code sent to an address,
//! a second one after the cooldown, and types a wrong one; then the right one
//! (the address is bound); a third browser has a code sent to the bound
//! address and types a wrong one. After the wrong guess and again at the end,
//! everything the store holds is dumped: every row of every table of the
//! store (every column, as bytes) and, for SQLite, the database files
//! themselves; every Redis key under the test's prefix, with every value of
//! every type; for the memory store, what its public API shows.
//!
//! The dump must hold:
//! - no ticket id: tickets are named by keyed hashes;
//! - no code, neither one mailed nor one typed: codes are kept as keyed
//!   hashes (security checklist row 1.3);
//! - no normalised mailbox (`zed.quill@example.org`): send counters are
//!   named by keyed hashes;
//! - the address (as typed, its local part, lower-cased, its domain) only
//!   where the store keeps it by design, documented in `docs/sql.md` and
//!   `docs/redis.md`: the binding and the pending challenge (on Redis also
//!   the short-lived undo copy of it), because the flow mails codes and
//!   notices to it and support can show it unmasked; never in a key, a
//!   counter or another column.
//!
//! Each dump must also hold something of every kind of state the flow made
//! at that point (claim, challenge, counters, binding), so an empty or
//! misdirected dump cannot pass.

mod common;
mod needs;
#[cfg(feature = "redis")]
mod redis_support;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Browser, Harness, ticket_path};
use http::StatusCode;
use tower_otp::store::{Policy, Store};
use tower_otp::{Clock, MemoryStore, Secret};

/// The ticket id: long and odd enough never to occur by chance.
const TICKET: &str = "T-stored-9f3k2";
/// The address typed on the challenge page (already canonical: the domain is
/// lower-case).
const ADDRESS: &str = "Zed.Quill+probe@example.org";
/// Its local part and its domain.
const LOCAL_PART: &str = "Zed.Quill+probe";
const DOMAIN: &str = "example.org";
/// The mailbox its sends are counted for (`EmailAddress::mailbox`).
const MAILBOX: &str = "zed.quill@example.org";

/// One value the store wrote.
struct Entry {
    /// What it is, as the expectations name it: a table's column
    /// (`otp_tickets.binding`), a Redis key's kind or hash field
    /// (`chal`, `rec.bound`), `key name`, `file`...
    kind: String,
    /// Where exactly, for failure messages (a row, a key): never the value.
    place: String,
    bytes: Vec<u8>,
}

/// Everything a store holds at one moment.
#[derive(Default)]
struct Dump(Vec<Entry>);

impl Dump {
    fn push(
        &mut self,
        kind: impl Into<String>,
        place: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) {
        self.0.push(Entry {
            kind: kind.into(),
            place: place.into(),
            bytes: bytes.into(),
        });
    }
}

/// What a store is expected to hold.
struct Layout<'a> {
    /// The only kinds of entry an address may appear in.
    address_kinds: &'a [&'a str],
    /// Kinds that must hold something while the first codes are pending.
    pending: &'a [&'a str],
    /// Kinds that must hold something once bound, a new code pending.
    bound: &'a [&'a str],
}

/// Runs the flow on `gate`, checking `dump()` against `layout` after the
/// wrong guess and at the end.
async fn check_store(
    store: &str,
    gate: &Harness,
    layout: &Layout<'_>,
    dump: impl AsyncFn() -> Dump,
) {
    let mut codes = Vec::new();
    let (phone, right) = pending(gate, &mut codes).await;
    assert_holds_no_secrets(
        store,
        "pending",
        &dump().await,
        &codes,
        layout,
        layout.pending,
    );
    bound(gate, phone, &right, &mut codes).await;
    assert_holds_no_secrets(store, "bound", &dump().await, &codes, layout, layout.bound);
}

/// A first device claims the ticket; another browser has a code sent to
/// [`ADDRESS`], a second one after the cooldown, and types a wrong code.
/// Returns that browser and the last code mailed; `codes` gets every code
/// mailed or typed.
async fn pending(gate: &Harness, codes: &mut Vec<String>) -> (Browser, String) {
    let path = ticket_path(TICKET);
    gate.claim(TICKET).await;
    let (mut phone, first) = gate.sent(TICKET, ADDRESS).await;
    codes.push(first);
    gate.advance(Duration::from_secs(61));
    let reply = phone.post_form(&path, &[("action", "resend")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "resend");
    assert_eq!(gate.mailer.count(), 2, "a second code was mailed");
    let right = gate.last_code_for(ADDRESS);
    codes.push(right.clone());
    guess_wrong(gate, &mut phone, codes).await;
    (phone, right)
}

/// `phone` types the `right` code (the address is bound); a third browser
/// has a code sent to the bound address and types a wrong one.
async fn bound(gate: &Harness, mut phone: Browser, right: &str, codes: &mut Vec<String>) {
    let path = ticket_path(TICKET);
    let reply = phone
        .post_form(&path, &[("action", "verify"), ("code", right)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "verify");
    assert!(phone.get(&path).await.is_ticket(), "verified");
    assert!(gate.state(TICKET).await.bound, "bound");

    // Past the second cooldown (120 s).
    gate.advance(Duration::from_secs(301));
    let mut laptop = gate.browser();
    laptop.get(&path).await;
    let reply = laptop.post_form(&path, &[("action", "send")]).await;
    assert_eq!(
        reply.status,
        StatusCode::SEE_OTHER,
        "send to the bound address"
    );
    assert_eq!(gate.mailer.count(), 3, "a third code was mailed");
    codes.push(gate.last_code_for(ADDRESS));
    guess_wrong(gate, &mut laptop, codes).await;
}

/// `browser` types a code that is none of `codes`, which it then joins.
async fn guess_wrong(gate: &Harness, browser: &mut Browser, codes: &mut Vec<String>) {
    let last: u32 = codes.last().expect("a code").parse().expect("digits");
    let wrong = (1..)
        .map(|i| format!("{:06}", (last + 500_000 + i) % 1_000_000))
        .find(|c| !codes.contains(c))
        .expect("a free code");
    let before = gate.state(TICKET).await.attempts_left;
    let reply = browser
        .post_form(
            &ticket_path(TICKET),
            &[("action", "verify"), ("code", &wrong)],
        )
        .await;
    assert!(
        !reply.is_ticket() && reply.device_cookie().is_none(),
        "a wrong code"
    );
    assert_eq!(
        gate.state(TICKET).await.attempts_left,
        before - 1,
        "counted"
    );
    codes.push(wrong);
}

/// What must never be in a store, or only in `allowed` kinds of entry.
struct Needle<'a> {
    what: String,
    bytes: &'a [u8],
    is_code: bool,
    allowed: &'a [&'a str],
}

/// Asserts that `dump` holds every kind in `expected`, no ticket id, no
/// code of `codes`, no mailbox, and the address only in the layout's
/// address kinds. Failure messages name the needle and where it was found,
/// never its value.
fn assert_holds_no_secrets(
    store: &str,
    stage: &str,
    dump: &Dump,
    codes: &[String],
    layout: &Layout<'_>,
    expected: &[&str],
) {
    assert!(!dump.0.is_empty(), "{store} ({stage}): the dump is empty");
    let kinds: BTreeSet<&str> = dump
        .0
        .iter()
        .filter(|e| !e.bytes.is_empty())
        .map(|e| e.kind.as_str())
        .collect();
    for kind in expected {
        assert!(
            kinds.contains(kind),
            "{store} ({stage}): nothing stored as {kind}; the dump holds {kinds:?}"
        );
    }

    let lower = ADDRESS.to_ascii_lowercase();
    let mut needles = vec![
        Needle {
            what: "the ticket id".into(),
            bytes: TICKET.as_bytes(),
            is_code: false,
            allowed: &[],
        },
        Needle {
            what: "the normalised mailbox".into(),
            bytes: MAILBOX.as_bytes(),
            is_code: false,
            allowed: &[],
        },
    ];
    for (what, text) in [
        ("the address", ADDRESS),
        ("the address's local part", LOCAL_PART),
        ("the address in lower case", lower.as_str()),
        ("the address's domain", DOMAIN),
    ] {
        needles.push(Needle {
            what: what.into(),
            bytes: text.as_bytes(),
            is_code: false,
            allowed: layout.address_kinds,
        });
    }
    for (i, code) in codes.iter().enumerate() {
        needles.push(Needle {
            what: format!("code #{} of the flow", i + 1),
            bytes: code.as_bytes(),
            is_code: true,
            allowed: &[],
        });
    }

    let mut found = Vec::new();
    for entry in &dump.0 {
        for needle in &needles {
            let hit = if needle.is_code {
                holds_code(&entry.bytes, needle.bytes)
            } else {
                holds_ignoring_case(&entry.bytes, needle.bytes)
            };
            if hit && !needle.allowed.contains(&entry.kind.as_str()) {
                found.push(format!("{} in {}", needle.what, entry.place));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{store} ({stage}) stores what it must not:\n  {}",
        found.join("\n  ")
    );
}

/// Whether `hay` holds `needle`, ASCII case ignored.
fn holds_ignoring_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether `hay` holds `code` as a token of its own.
///
/// A plain search for six digits is not enough: every store writes 13-digit
/// millisecond times, and Redis writes digests in hex, where any six given
/// digits turn up by chance (over the hundreds of times and hex digests a
/// dump holds, about one run in a few thousand). So:
/// - in a text value (UTF-8 without a NUL: Redis values and key names,
///   text and integer columns), the code must have no letter or digit on
///   either side: not a part of a longer number, nor of a hex or base64 run,
///   where digests live; a code set apart by any punctuation or space is
///   found;
/// - in a binary value (a blob, a database file), any byte may stand next
///   to a code written into it, so only digits on either side rule a match
///   out; digests are raw bytes there, and six given digits among random
///   bytes (1 in 256⁶ per position) never occur by chance.
fn holds_code(hay: &[u8], code: &[u8]) -> bool {
    let text = std::str::from_utf8(hay).is_ok() && !hay.contains(&0);
    let apart = |b: Option<&u8>| match b {
        None => true,
        Some(b) if text => !b.is_ascii_alphanumeric(),
        Some(b) => !b.is_ascii_digit(),
    };
    hay.windows(code.len()).enumerate().any(|(at, w)| {
        w == code
            && apart(at.checked_sub(1).and_then(|i| hay.get(i)))
            && apart(hay.get(at + code.len()))
    })
}

/// The matchers find what they look for, and a code only as a token.
#[test]
fn the_matchers_find_codes_set_apart_and_text_in_any_case() {
    let code = b"042917";
    // Text: apart from letters and digits.
    assert!(holds_code(b"042917", code));
    assert!(holds_code(b"abc:042917,1800000000000", code));
    assert!(holds_code(b"x|042917|Zed", code));
    assert!(!holds_code(b"1800000042917", code), "a part of a time");
    assert!(!holds_code(b"0420429170", code));
    assert!(!holds_code(b"9fa042917be0", code), "a part of a hex digest");
    assert!(!holds_code(b"Rb2QI6042917Y_C5", code), "a part of base64");
    // Binary: apart from digits only.
    assert!(holds_code(b"\0\x01g042917\0\0", code));
    assert!(holds_code(b"\xffA042917z\0", code));
    assert!(!holds_code(b"\0\x0110042917\0", code), "a longer number");
    assert!(holds_ignoring_case(
        b"..zed.quill+PROBE@Example.org..",
        ADDRESS.as_bytes()
    ));
    assert!(!holds_ignoring_case(
        b"Zed.Quill@example.org",
        ADDRESS.as_bytes()
    ));
}

// ---------------------------------------------------------------------------
// The stores.

/// The memory store keeps typed records (code hashes as `CodeHash`,
/// addresses as `EmailAddress`) and shows them only through the `Store`
/// API and its counts; its `Debug` shows no state. The dump is what
/// `load` returns for the ticket, field by field, plus `Debug` and the
/// counts.
#[tokio::test]
async fn memory_store() {
    let store = Arc::new(MemoryStore::new());
    let gate = Harness::build(&Secret::random(), store.clone(), |l| l);
    let layout = Layout {
        address_kinds: &["binding", "pending"],
        pending: &[
            "pending",
            "live code",
            "tickets",
            "challenges",
            "address counters",
        ],
        bound: &["binding", "live code", "challenges", "address counters"],
    };
    let dump = async || {
        let now = gate.clock.now();
        let snapshot = store
            .load(&gate.key(TICKET), now, &Policy::default())
            .await
            .expect("load");
        let mut dump = Dump::default();
        dump.push("debug", "Debug of the store", format!("{store:?}"));
        dump.push("debug", "Debug of the snapshot", format!("{snapshot:?}"));
        if let Some(binding) = &snapshot.binding {
            dump.push("binding", "the binding", binding.as_str());
        }
        if let Some(pending) = &snapshot.pending {
            dump.push("pending", "the pending address", pending.as_str());
        }
        for (i, code) in snapshot.live_codes.iter().enumerate() {
            let place = format!("live code {}", i + 1);
            dump.push("live code", place.as_str(), code.hash.as_bytes().to_vec());
            let times = format!(
                "{} {}",
                code.issued_at.as_millis(),
                code.expires_at.as_millis()
            );
            dump.push("live code", place, times);
        }
        for (name, count) in [
            ("tickets", store.ticket_count()),
            ("challenges", store.challenge_count()),
            ("address counters", store.address_count()),
        ] {
            if count > 0 {
                dump.push(name, name, count.to_string());
            }
        }
        dump
    };
    check_store("MemoryStore", &gate, &layout, dump).await;
}

/// What both SQL stores must hold, their tables under the default prefix.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const SQL_PENDING: &[&str] = &[
    "otp_tickets.key",
    "otp_tickets.claimed",
    "otp_tickets.challenge",
    "otp_addresses.key",
    "otp_addresses.sends",
    "otp_migrations.version",
];
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const SQL_BOUND: &[&str] = &[
    "otp_tickets.binding",
    "otp_tickets.challenge",
    "otp_addresses.sends",
];

/// The rows of `table`, its columns `names` each selected as bytes (or NULL).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn push_rows<R: tower_otp::sqlx::Row>(dump: &mut Dump, table: &str, names: &[String], rows: &[R])
where
    for<'r> Option<Vec<u8>>:
        tower_otp::sqlx::Decode<'r, R::Database> + tower_otp::sqlx::Type<R::Database>,
    usize: tower_otp::sqlx::ColumnIndex<R>,
{
    for (i, row) in rows.iter().enumerate() {
        for (j, name) in names.iter().enumerate() {
            let value: Option<Vec<u8>> = row.try_get(j).expect("a column as bytes");
            if let Some(bytes) = value {
                dump.push(
                    format!("{table}.{name}"),
                    format!("{table}.{name}, row {}", i + 1),
                    bytes,
                );
            }
        }
    }
}

/// SQLite: every row of every table in the file (`sqlite_master`), each
/// column cast to a blob (text as its bytes, integers as their decimal
/// text, blobs as they are), and the bytes of the database, WAL and shared
/// memory files, where a value once written could linger in a free page.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_store() {
    use sql_support::{sqlite_at, temp_db};
    use tower_otp::sqlx::{self, SqlitePool};

    let (dir, path) = temp_db();
    let gate = Harness::build(&Secret::random(), sqlite_at(&path).await, |l| l);
    let pending = [SQL_PENDING, &["file"]].concat();
    let layout = Layout {
        address_kinds: &["otp_tickets.binding", "otp_tickets.challenge", "file"],
        pending: &pending,
        bound: SQL_BOUND,
    };
    let dump = async || {
        let pool = SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
            .await
            .expect("open the file");
        let mut dump = Dump::default();
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(&pool)
                .await
                .unwrap();
        for (table,) in tables {
            let names: Vec<(String,)> =
                sqlx::query_as("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                    .bind(&table)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            let names: Vec<String> = names.into_iter().map(|(n,)| n).collect();
            let columns: Vec<String> = names
                .iter()
                .map(|n| format!("CAST(\"{n}\" AS BLOB)"))
                .collect();
            let rows = sqlx::query(&format!("SELECT {} FROM \"{table}\"", columns.join(", ")))
                .fetch_all(&pool)
                .await
                .unwrap();
            push_rows(&mut dump, &table, &names, &rows);
        }
        pool.close().await;
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let file = file.unwrap();
            let name = file.file_name().to_string_lossy().into_owned();
            dump.push(
                "file",
                format!("the file {name}"),
                std::fs::read(file.path()).unwrap(),
            );
        }
        dump
    };
    check_store("SqliteStore", &gate, &layout, dump).await;
}

/// PostgreSQL, in a schema of the test's own: every row of every table the
/// catalog lists in it, `bytea` columns as their bytes, every other column
/// as its text form.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_store() {
    use sql_support::{Schema, pg_url};
    use tower_otp::sqlx;

    let Some(url) = pg_url() else { return };
    let schema = Schema::new(&url);
    let store = schema.store().await;
    let gate = Harness::build(&Secret::random(), store.clone(), |l| l);
    let layout = Layout {
        address_kinds: &["otp_tickets.binding", "otp_tickets.challenge"],
        pending: SQL_PENDING,
        bound: SQL_BOUND,
    };
    let dump = async || {
        let pool = store.pool();
        let mut dump = Dump::default();
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = $1 ORDER BY 1",
        )
        .bind(&schema.name)
        .fetch_all(pool)
        .await
        .unwrap();
        for (table,) in tables {
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            )
            .bind(&schema.name)
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap();
            let select: Vec<String> = columns
                .iter()
                .map(|(name, kind)| match kind.as_str() {
                    "bytea" => format!("\"{name}\""),
                    _ => format!("convert_to(\"{name}\"::text, 'UTF8')"),
                })
                .collect();
            let rows = sqlx::query(&format!(
                "SELECT {} FROM \"{}\".\"{table}\"",
                select.join(", "),
                schema.name
            ))
            .fetch_all(pool)
            .await
            .unwrap();
            let names: Vec<String> = columns.into_iter().map(|(n, _)| n).collect();
            push_rows(&mut dump, &table, &names, &rows);
        }
        dump
    };
    check_store("PostgresStore", &gate, &layout, dump).await;
}

#[cfg(feature = "redis")]
const REDIS_ADDRESS_KINDS: &[&str] = &["rec.bound", "chal", "undo"];
#[cfg(feature = "redis")]
const REDIS_BOUND: &[&str] = &["rec.bound", "rec.verified", "chal", "addr"];

/// The kind of a key under `prefix`: `rec`, `chal`, `undo` (a ticket's),
/// `addr` (a send counter's), or `other`.
#[cfg(feature = "redis")]
fn redis_kind(prefix: &str, key: &str) -> &'static str {
    let rest = key.strip_prefix(prefix).unwrap_or(key);
    if rest.starts_with(":addr:") {
        return "addr";
    }
    match rest.rsplit_once("}:").map(|(_, tail)| tail) {
        Some("rec") => "rec",
        Some("chal") => "chal",
        Some(tail) if tail.starts_with("undo:") => "undo",
        _ => "other",
    }
}

/// Every key under `prefix` on every node of `urls` (a replica's copy read
/// once), its name and whatever its type holds.
#[cfg(feature = "redis")]
async fn redis_dump(urls: &[String], prefix: &str) -> Dump {
    use std::collections::BTreeMap;
    use tower_otp::redis::{self, AsyncCommands};

    let mut dump = Dump::default();
    let mut seen = BTreeSet::new();
    for url in urls {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        // A cluster node then answers for the keys it holds (a single node
        // refuses the command: that changes nothing).
        let _: redis::RedisResult<()> = redis::cmd("READONLY").query_async(&mut c).await;
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await
                .unwrap();
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for key in keys {
            if !seen.insert(key.clone()) {
                continue;
            }
            let kind = redis_kind(prefix, &key);
            dump.push("key name", format!("the key name {key}"), key.as_bytes());
            let place = format!("{key} ({kind})");
            let kind_of: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap();
            match kind_of.as_str() {
                "string" => {
                    let value: Vec<u8> = c.get(&key).await.unwrap();
                    dump.push(kind, place, value);
                }
                "hash" => {
                    let fields: BTreeMap<String, Vec<u8>> = c.hgetall(&key).await.unwrap();
                    for (field, value) in fields {
                        dump.push(
                            format!("{kind} field"),
                            format!("{place}, a field name"),
                            field.as_bytes(),
                        );
                        dump.push(
                            format!("{kind}.{field}"),
                            format!("{place}, field {field}"),
                            value,
                        );
                    }
                }
                "set" => {
                    let members: Vec<Vec<u8>> = c.smembers(&key).await.unwrap();
                    for member in members {
                        dump.push(kind, format!("{place}, a member"), member);
                    }
                }
                "list" => {
                    let items: Vec<Vec<u8>> = c.lrange(&key, 0, -1).await.unwrap();
                    for item in items {
                        dump.push(kind, format!("{place}, an item"), item);
                    }
                }
                "zset" => {
                    let members: Vec<(Vec<u8>, String)> =
                        c.zrange_withscores(&key, 0, -1).await.unwrap();
                    for (member, score) in members {
                        dump.push(kind, format!("{place}, a member"), member);
                        dump.push(kind, format!("{place}, a score"), score.as_bytes());
                    }
                }
                // Expired between SCAN and TYPE: nothing left to read.
                "none" => {}
                other => panic!("{place} is a {other}, which this dump cannot read"),
            }
        }
    }
    dump
}

/// A prefix of this test's own under the run's prefix, so the tests of
/// this file never see each other's keys.
#[cfg(feature = "redis")]
fn redis_prefix(test: &str) -> String {
    format!("{}-{test}", *redis_support::RUN_PREFIX)
}

/// Redis, one node, every operation one script.
#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_single_node() {
    let Some(url) = redis_support::single_url() else {
        return;
    };
    let prefix = redis_prefix("single");
    let store = redis_support::single_store(&url)
        .await
        .with_prefix(&prefix)
        .unwrap();
    let gate = Harness::build(&Secret::random(), store, |l| l);
    let layout = Layout {
        address_kinds: REDIS_ADDRESS_KINDS,
        pending: &["key name", "rec.claimed", "chal", "addr"],
        bound: REDIS_BOUND,
    };
    let urls = [url];
    check_store("RedisStore", &gate, &layout, async || {
        redis_dump(&urls, &prefix).await
    })
    .await;
}

/// Redis, one node, `issue_code` in its per-slot form (as on a cluster),
/// which also writes undo records.
#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_single_node_per_slot_scripts() {
    let Some(url) = redis_support::single_url() else {
        return;
    };
    let prefix = redis_prefix("per-slot");
    let store = redis_support::single_store(&url)
        .await
        .with_prefix(&prefix)
        .unwrap()
        .with_per_slot_scripts(true);
    let gate = Harness::build(&Secret::random(), store, |l| l);
    let layout = Layout {
        address_kinds: REDIS_ADDRESS_KINDS,
        pending: &["key name", "rec.claimed", "chal", "undo", "addr"],
        bound: REDIS_BOUND,
    };
    let urls = [url];
    check_store(
        "RedisStore (per-slot scripts)",
        &gate,
        &layout,
        async || redis_dump(&urls, &prefix).await,
    )
    .await;
}

/// Redis Cluster: the keys of every node.
#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_cluster() {
    let Some(urls) = redis_support::cluster_urls() else {
        return;
    };
    let prefix = redis_prefix("cluster");
    let store = redis_support::cluster_store(&urls)
        .await
        .with_prefix(&prefix)
        .unwrap();
    let gate = Harness::build(&Secret::random(), store, |l| l);
    let layout = Layout {
        address_kinds: REDIS_ADDRESS_KINDS,
        pending: &["key name", "rec.claimed", "chal", "undo", "addr"],
        bound: REDIS_BOUND,
    };
    check_store("RedisStore (cluster)", &gate, &layout, async || {
        redis_dump(&urls, &prefix).await
    })
    .await;
}
