//! `SqliteStore` when the machine misbehaves: with
//! [`SqliteDurability::ProcessCrash`], every write a killed process had
//! acknowledged is in the file when it is opened again; and a disk that
//! fills up fails the writes with an error that says so, until space is
//! back, when the same store writes again.
//!
//! The killed process is this test binary run again, as
//! `child_writes_until_killed`, with `OTP_SQLITE_CHILD_DB` naming the file.
//! The full disk is a small tmpfs this test mounts: it needs root (Linux),
//! and is skipped elsewhere (fails under `CI=true`).

#![cfg(feature = "sqlite")]

mod needs;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tower_otp::store::conformance::random_ticket;
use tower_otp::store::{
    BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, Policy, Store, StoreError,
};
use tower_otp::{EmailAddress, SqliteDurability, SqliteStore, TicketKey, Timestamp};

/// Where the child writes; set only in the child.
const CHILD_DB: &str = "OTP_SQLITE_CHILD_DB";

/// Writes the child acknowledges before the parent kills it.
const ACKED_BEFORE_KILL: usize = 300;

fn now() -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000)
}

fn hex(key: &TicketKey) -> String {
    key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> TicketKey {
    let mut bytes = [0; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    TicketKey::from_bytes(bytes)
}

fn address(ticket: &TicketKey) -> EmailAddress {
    EmailAddress::parse(&format!("o{}@durability.example", &hex(ticket)[..12])).unwrap()
}

/// The child: on the file `OTP_SQLITE_CHILD_DB` names, claims a ticket and
/// binds another, in turn, and prints `claimed <key>` or `bound <key>` after
/// each call returns, until it is killed. Without the variable (a plain test
/// run), it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_writes_until_killed() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let store = SqliteStore::open_with(&path, SqliteDurability::ProcessCrash)
        .await
        .unwrap();
    let policy = Policy::default();
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let ticket = random_ticket();
        let line = if i % 2 == 0 {
            let outcome = store
                .claim_first_device(&ClaimRequest::new(&ticket, now(), &policy))
                .await
                .unwrap();
            assert!(matches!(outcome, ClaimOutcome::Claimed { .. }));
            format!("claimed {}", hex(&ticket))
        } else {
            let outcome = store
                .bind(&BindRequest::new(&ticket, &address(&ticket), now()))
                .await
                .unwrap();
            assert_eq!(outcome, BindOutcome::Bound);
            format!("bound {}", hex(&ticket))
        };
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    }
}

/// A child process writes claims and bindings through a store with
/// `ProcessCrash` durability and acknowledges each on stdout; it is killed
/// (SIGKILL) while writing. Every write it acknowledged is in the file
/// when a new store opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_killed_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("otp.db");
    let store = SqliteStore::open_with(&path, SqliteDurability::ProcessCrash)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await;

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writes_until_killed", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < ACKED_BEFORE_KILL {
        let line = lines
            .next()
            .expect("the child stopped before it was killed")
            .unwrap();
        if let Some(ack) = parse_ack(&line) {
            acked.push(ack);
        }
    }
    // SIGKILL, mid-stream: the child is writing its next rows.
    child.kill().unwrap();
    // Acknowledgements already in the pipe count too.
    for line in lines {
        if let Some(ack) = parse_ack(&line.unwrap()) {
            acked.push(ack);
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed: {status:?}");

    let store = SqliteStore::open(&path).await.unwrap();
    store.ensure_migrated().await.unwrap();
    let policy = Policy::default();
    let (mut claims, mut bindings) = (0, 0);
    for (bound, ticket) in &acked {
        let snapshot = store.load(ticket, now(), &policy).await.unwrap();
        if *bound {
            assert_eq!(
                snapshot.binding,
                Some(address(ticket)),
                "{}",
                ticket.label()
            );
            bindings += 1;
        } else {
            assert!(
                snapshot.claimed,
                "an acknowledged claim is lost: {}",
                ticket.label()
            );
            claims += 1;
        }
    }
    assert!(
        claims > 0 && bindings > 0,
        "{claims} claims, {bindings} bindings"
    );
}

/// `(bound, ticket)` from a line of the child's, `None` for the test
/// harness's own lines.
fn parse_ack(line: &str) -> Option<(bool, TicketKey)> {
    let (kind, key) = line.split_once(' ')?;
    match kind {
        "claimed" => Some((false, from_hex(key))),
        "bound" => Some((true, from_hex(key))),
        _ => None,
    }
}

/// A small tmpfs, unmounted (and its directory removed) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// A tmpfs of `size` (mount's syntax: `1m`), or `None` when this
    /// process may not mount one.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tower-otp-full-")
            .tempdir()
            .unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tower-otp-full",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system at `dir` with a file, until it is full.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0xa5; 4096];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
    filler
}

async fn claim(store: &SqliteStore) -> Result<(), StoreError> {
    let policy = Policy::default();
    store
        .claim_first_device(&ClaimRequest::new(&random_ticket(), now(), &policy))
        .await
        .map(drop)
}

/// The disk under the file fills up (a 2 MiB tmpfs and a file that takes
/// what is left): writes fail with an error that names the full disk, for
/// as long as it is full; the file removed, the next write through the same
/// store succeeds, and so do the ones after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_says_so_and_heals_when_freed() {
    let Some(tmpfs) = Tmpfs::mount("2m") else {
        needs::missing("a tmpfs this test can mount (run as root on Linux)");
        return;
    };
    for durability in [SqliteDurability::PowerLoss, SqliteDurability::ProcessCrash] {
        let path = tmpfs.path().join("otp.db");
        let store = SqliteStore::open_with(&path, durability).await.unwrap();
        store.migrate().await.unwrap();
        claim(&store).await.unwrap();
        let filler = fill(tmpfs.path());
        // The WAL may still have room for a few commits: write until one fails.
        let mut written = 0;
        let error = loop {
            match claim(&store).await {
                Ok(()) => written += 1,
                Err(error) => break error,
            }
            assert!(written < 10_000, "{durability:?}: the disk never filled up");
        };
        for error in [error, claim(&store).await.unwrap_err()] {
            assert_eq!(
                error.to_string(),
                "store unavailable: the sqlite database or disk is full",
                "{durability:?}: {:?}",
                source(&error)
            );
        }
        std::fs::remove_file(&filler).unwrap();
        for _ in 0..3 {
            claim(&store).await.unwrap_or_else(|e| {
                panic!(
                    "{durability:?}: the store did not heal: {e} ({:?})",
                    source(&e)
                )
            });
        }
        let ticket = random_ticket();
        store
            .claim_first_device(&ClaimRequest::new(&ticket, now(), &Policy::default()))
            .await
            .unwrap();
        let snapshot = store
            .load(&ticket, now(), &Policy::default())
            .await
            .unwrap();
        assert!(snapshot.claimed, "{durability:?}");
        store.close().await;
        drop(store);
        for name in ["otp.db", "otp.db-wal", "otp.db-shm"] {
            let _ = std::fs::remove_file(tmpfs.path().join(name));
        }
        tokio::time::sleep(Duration::ZERO).await;
    }
}

/// The chain of sources under `error`, for a failure message.
fn source(error: &StoreError) -> Vec<String> {
    std::iter::successors(std::error::Error::source(error), |e| e.source())
        .map(ToString::to_string)
        .collect()
}
