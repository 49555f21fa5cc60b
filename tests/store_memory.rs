//! `MemoryStore`: the conformance suite, and what only the memory store does
//! (sweeping, memory per pending challenge).

use std::sync::Arc;
use std::time::Duration;

use tower_otp::store::conformance::{Instances, random_address, random_code, random_ticket};
use tower_otp::store::{
    BindRequest, ClaimRequest, IssueOutcome, IssueRequest, Policy, RestartOutcome, Store,
    VerifyOutcome, VerifyRequest,
};
use tower_otp::{EmailAddress, MemoryStore, TicketKey, Timestamp};

tower_otp::store_conformance_tests!(MemoryStore::new());

/// The same suite through two handles onto one store, with few shards so
/// tickets share locks.
mod two_handles {
    use super::*;

    tower_otp::store_conformance_tests!(instances: {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::with_shards(2));
        Instances::many([shared.clone(), shared])
    });
}

/// The lifecycle checks a memory store can serve: its sweep. (It keeps
/// nothing through a restart, and has no server to lose.)
mod lifecycle {
    use super::*;
    use tower_otp::store::conformance::Backing;

    /// One store behind every handle.
    struct Memory(Arc<MemoryStore>);

    #[tower_otp::async_trait]
    impl Backing for Memory {
        async fn open(&self) -> Arc<dyn Store> {
            self.0.clone()
        }
        async fn sweep(&self, now: Timestamp) {
            self.0.sweep(now);
        }
        async fn ticket_records(&self) -> u64 {
            self.0.ticket_count() as u64
        }
    }

    tower_otp::store_conformance_tests!(
        lifecycle: Memory(Arc::new(MemoryStore::new())) =>
            [sweep_keeps_long_lived_facts, lapsed_claims_are_swept]
    );
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000) + Duration::from_secs(secs)
}

async fn issue(
    store: &MemoryStore,
    ticket: &TicketKey,
    now: Timestamp,
) -> tower_otp::store::CodeHash {
    let (address, key) = random_address();
    let code = random_code();
    let policy = Policy::default();
    let request = IssueRequest::new(ticket, &address, &key, &code, now, &policy);
    let outcome = store.issue_code(&request).await.unwrap();
    assert!(
        matches!(outcome, IssueOutcome::Issued { .. }),
        "{outcome:?}"
    );
    code
}

/// A wrong guess.
async fn guess(
    store: &MemoryStore,
    ticket: &TicketKey,
    now: Timestamp,
    policy: &Policy,
) -> VerifyOutcome {
    let code = random_code();
    let request = VerifyRequest::new(ticket, &code, now, policy);
    store.verify_code(&request).await.unwrap()
}

#[tokio::test]
async fn sweep_drops_expired_challenges_but_keeps_long_lived_facts() {
    let store = MemoryStore::new();
    let policy = Policy::default();
    let address = EmailAddress::parse("taro@example.com").unwrap();

    // A pending challenge that is never answered.
    let pending = random_ticket();
    issue(&store, &pending, t(0)).await;
    // A claimed ticket with a failed attempt (the consecutive count is long-lived).
    let claimed = random_ticket();
    store
        .claim_first_device(&ClaimRequest::new(&claimed, t(0), &policy))
        .await
        .unwrap();
    issue(&store, &claimed, t(0)).await;
    let outcome = guess(&store, &claimed, t(1), &policy).await;
    assert!(
        matches!(
            outcome,
            VerifyOutcome::Wrong {
                attempts_left: 4,
                locked_until: None
            }
        ),
        "{outcome:?}"
    );
    // A bound, revoked ticket.
    let bound = random_ticket();
    store
        .bind(&BindRequest::new(
            &bound,
            &address,
            Timestamp::from_millis(1),
        ))
        .await
        .unwrap();
    store.revoke_devices(&bound).await.unwrap();
    issue_to(&store, &bound, &address, t(0)).await;

    assert_eq!(store.ticket_count(), 3);
    assert_eq!(store.challenge_count(), 3);
    // Strangers' sends count per mailbox and per domain; the owner's once.
    assert_eq!(store.address_count(), 2 + 2 + 1);

    // Codes have expired, but the sends are still in the window.
    store.sweep(t(3599));
    assert_eq!(store.challenge_count(), 3);
    let s = store.load(&pending, t(3599), &policy).await.unwrap();
    assert!(s.had_codes);

    // An hour after the sends nothing of the challenges matters.
    store.sweep(t(3600));
    assert_eq!(store.challenge_count(), 0);
    assert_eq!(store.address_count(), 0);
    assert_eq!(store.ticket_count(), 2, "the unanswered ticket is gone");

    let s = store.load(&claimed, t(3600), &policy).await.unwrap();
    assert!(s.claimed);
    assert_eq!(s.consecutive_failures, 1);
    assert_eq!((s.attempts_used, s.recent_sends.len()), (0, 0));
    let s = store.load(&bound, t(3600), &policy).await.unwrap();
    assert_eq!((s.binding, s.generation), (Some(address), 1));
    assert!(!s.had_codes && s.live_codes.is_empty());
}

async fn issue_to(store: &MemoryStore, ticket: &TicketKey, address: &EmailAddress, now: Timestamp) {
    let (_, key) = random_address();
    let policy = Policy::default();
    let code = random_code();
    let request = IssueRequest::new(ticket, address, &key, &code, now, &policy);
    let outcome = store.issue_code(&request).await.unwrap();
    assert!(
        matches!(outcome, IssueOutcome::Issued { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn sweep_keeps_the_round_budget_and_the_lockout() {
    let store = MemoryStore::new();
    let mut policy = Policy::default();
    // Sends leave the window before the codes expire, to isolate the round.
    policy.send_window = Duration::from_secs(60);
    policy.code_ttl = Duration::from_secs(300);
    policy.lockout_threshold = 3;
    let ticket = random_ticket();
    let (address, key) = random_address();
    let code = random_code();
    let request = IssueRequest::new(&ticket, &address, &key, &code, t(0), &policy);
    let outcome = store.issue_code(&request).await.unwrap();
    assert!(
        matches!(outcome, IssueOutcome::Issued { .. }),
        "{outcome:?}"
    );
    for left in [4, 3] {
        let outcome = guess(&store, &ticket, t(1), &policy).await;
        let wrong = VerifyOutcome::Wrong {
            attempts_left: left,
            locked_until: None,
        };
        assert_eq!(outcome, wrong);
    }
    assert_eq!(
        store.restart(&ticket, t(2)).await.unwrap(),
        RestartOutcome::Restarted
    );
    // At 120 s no send is in the window, but the round's code would still be live:
    // its spent attempts must survive.
    store.sweep(t(120));
    let s = store.load(&ticket, t(120), &policy).await.unwrap();
    assert_eq!(s.attempts_used, 2);

    // The third failure locks for an hour; the sweep keeps the lock.
    let code = random_code();
    let request = IssueRequest::new(&ticket, &address, &key, &code, t(120), &policy);
    let outcome = store.issue_code(&request).await.unwrap();
    assert!(
        matches!(outcome, IssueOutcome::Issued { .. }),
        "{outcome:?}"
    );
    let outcome = guess(&store, &ticket, t(121), &policy).await;
    let until = t(121) + policy.lockout_duration;
    assert!(matches!(outcome, VerifyOutcome::Wrong { locked_until: Some(u), .. } if u == until));
    store.sweep(until - Duration::from_millis(1));
    let s = store.load(&ticket, t(1000), &policy).await.unwrap();
    assert_eq!(s.locked_until, Some(until));
    store.sweep(until);
    assert_eq!(store.challenge_count(), 0);
    assert_eq!(store.ticket_count(), 0, "no long-lived fact: gone");
}

#[tokio::test]
async fn operations_sweep_their_shard_as_time_passes() {
    let store = MemoryStore::with_shards(1);
    for _ in 0..100 {
        issue(&store, &random_ticket(), t(0)).await;
    }
    assert_eq!(store.ticket_count(), 100);
    // Any operation an hour later, with the time it is given, sweeps the shard.
    let policy = Policy::default();
    store
        .load(&random_ticket(), t(3600), &policy)
        .await
        .unwrap();
    assert_eq!(store.ticket_count(), 0);
    assert_eq!(
        store.address_count(),
        200,
        "address shards sweep on their own use (a mailbox and a domain counter per send)"
    );
    issue(&store, &random_ticket(), t(3600)).await;
    assert_eq!(store.address_count(), 2);
}

#[test]
fn debug_shows_no_state() {
    assert_eq!(
        format!("{:?}", MemoryStore::new()),
        "MemoryStore { shards: 64, .. }"
    );
}

// ---------------------------------------------------------------------------
// Memory per pending challenge, and per long-lived ticket record.
//
// Measured as the growth of the heap (the bytes allocated and not freed,
// counted by dhat's allocator) while the store takes N records, in a child
// process of this test binary so that no other test's allocations are
// counted:
// - `pending`: N pending challenges, each a distinct ticket with one code sent
//   to a distinct address (so the per-address counters are paid too);
// - `bound`: N claimed tickets bound to distinct addresses, no challenge.
// The count is the store's own, exact for a given N: unlike the process's
// resident memory, it does not depend on what the allocator had in reserve
// or on the pages the kernel has touched. The allocator's own overhead per
// block is not in it. `MEMORY_PROBE=pending:1000000 cargo test --release
// --test store_memory memory_probe -- --ignored --nocapture` prints the
// figure for a million.

/// dhat's allocator counts the heap in the probe's process (the project
/// forbids `unsafe`, so a hand-written counting allocator is out). It only
/// counts while a profiler runs: in the probe, nowhere else.
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const PROBE_ENV: &str = "MEMORY_PROBE";

/// Bytes on the heap now.
fn heap_bytes() -> u64 {
    dhat::HeapStats::get().curr_bytes as u64
}

#[test]
#[ignore = "run by memory_per_record in a process of its own"]
fn memory_probe() {
    let probe = std::env::var(PROBE_ENV).unwrap_or_else(|_| format!("pending:{PROBE_RECORDS}"));
    let (kind, n) = probe.split_once(':').expect("kind:count");
    let n: u64 = n.parse().expect("a count");
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let policy = Policy::default();
    runtime.block_on(async {
        // Warm the store's code paths.
        issue(&store, &random_ticket(), t(0)).await;
        // Made before the count: what the loop makes for each record is freed
        // in it, or kept by the store.
        let records: Vec<_> = (0..n)
            .map(|_| (random_ticket(), random_address(), random_code()))
            .collect();
        let before = heap_bytes();
        for (ticket, (address, key), code) in &records {
            if kind == "bound" {
                store
                    .claim_first_device(&ClaimRequest::new(ticket, t(1), &policy))
                    .await
                    .unwrap();
                store
                    .bind(&BindRequest::new(
                        ticket,
                        address,
                        Timestamp::from_millis(1),
                    ))
                    .await
                    .unwrap();
            } else {
                let request = IssueRequest::new(ticket, address, key, code, t(1), &policy);
                store.issue_code(&request).await.unwrap();
            }
        }
        let after = heap_bytes();
        assert_eq!(store.ticket_count() as u64, n + 1);
        assert!(after > before, "the store holds {n} records in no memory");
        println!(
            "bytes_per_record={} kind={kind} records={n}",
            (after - before) / n
        );
    });
}

/// Runs the probe in a child process and returns its figure.
fn probe(kind: &str, n: u64) -> u64 {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "memory_probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, format!("{kind}:{n}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "probe failed: {stdout}");
    let bytes = stdout
        .lines()
        .find_map(|l| l.split_once("bytes_per_record="))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no figure in {stdout}"));
    eprintln!("memory store: {bytes} bytes per {kind} record ({n} records)");
    bytes
}

/// Records per probe: enough that the maps' growth is spread thin, few
/// enough that dhat (which takes a backtrace per allocation) is quick.
const PROBE_RECORDS: u64 = 20_000;
/// Heap bytes per pending challenge: 506 when the budget was set, plus
/// about 20 %. The floor is what any such record holds at the least (its
/// ticket key, a code hash, an address), so a probe that counts nothing fails.
const PENDING_MIN: u64 = 100;
const PENDING_MAX: u64 = 608;
/// Heap bytes per bound ticket: 169 when the budget was set, plus about
/// 20 %; the floor as above (a ticket key and an address).
const BOUND_MIN: u64 = 40;
const BOUND_MAX: u64 = 203;

#[test]
fn memory_per_record() {
    let pending = probe("pending", PROBE_RECORDS);
    assert!(
        (PENDING_MIN..=PENDING_MAX).contains(&pending),
        "{pending} bytes per pending challenge"
    );
    let bound = probe("bound", PROBE_RECORDS);
    assert!(
        (BOUND_MIN..=BOUND_MAX).contains(&bound),
        "{bound} bytes per bound ticket"
    );
}

/// Claims on unbound tickets (two GETs on any id) are records only until
/// their lifetime passes; bound tickets stay. Measured: records before and
/// after.
#[tokio::test]
async fn unbound_claims_lapse_and_are_swept() {
    let store = MemoryStore::new();
    let policy = Policy::default();
    const N: usize = 10_000;
    for _ in 0..N {
        store
            .claim_first_device(&ClaimRequest::new(&random_ticket(), t(0), &policy))
            .await
            .unwrap();
    }
    let bound = random_ticket();
    store
        .claim_first_device(&ClaimRequest::new(&bound, t(0), &policy))
        .await
        .unwrap();
    let taro = EmailAddress::parse("taro@example.com").unwrap();
    store
        .bind(&BindRequest::new(&bound, &taro, Timestamp::from_millis(1)))
        .await
        .unwrap();
    assert_eq!(store.ticket_count(), N + 1);
    let lapse = t(0) + policy.claim_lifetime;
    store.sweep(lapse - Duration::from_millis(1));
    assert_eq!(store.ticket_count(), N + 1);
    store.sweep(lapse);
    eprintln!(
        "memory: {} records after {N} unbound claims, {} after the sweep",
        N + 1,
        store.ticket_count()
    );
    assert_eq!(store.ticket_count(), 1, "the bound ticket stays");
    let s = store.load(&bound, lapse, &policy).await.unwrap();
    assert!(s.claimed && s.binding == Some(taro));
}
