//! The lifecycle checks: what happens to a store's state around its
//! operations, through a [`Backing`] the store's own test provides: a new
//! handle after a restart, the store's sweep, an outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Ctx, Instances, addr, random_code, random_ticket};
use crate::clock::Timestamp;
use crate::store::{ClaimOutcome, Store, VerifyOutcome};

/// A store's backing state as its own test holds it: what the lifecycle
/// checks need beyond the [`Store`] methods.
///
/// [`open`](Backing::open) is required; the other methods have defaults
/// that panic, so a store lists only the checks it can serve (each check
/// says what it needs), and a check listed for a backing that cannot serve
/// it fails instead of passing unchecked.
///
/// ```
/// use std::sync::Arc;
/// use tower_otp::store::Store;
/// use tower_otp::store::conformance::Backing;
/// use tower_otp::{MemoryStore, Timestamp};
///
/// /// One memory store, shared by every handle.
/// struct Memory(Arc<MemoryStore>);
///
/// #[tower_otp::async_trait]
/// impl Backing for Memory {
///     async fn open(&self) -> Arc<dyn Store> {
///         self.0.clone()
///     }
///     async fn sweep(&self, now: Timestamp) {
///         self.0.sweep(now);
///     }
///     async fn ticket_records(&self) -> u64 {
///         self.0.ticket_count() as u64
///     }
/// }
///
/// tower_otp::store_conformance_tests!(
///     lifecycle: Memory(Arc::new(MemoryStore::new())) =>
///         [sweep_keeps_long_lived_facts, lapsed_claims_are_swept]
/// );
/// ```
#[async_trait]
pub trait Backing: Send + Sync {
    /// A new handle onto the state, with connections of its own, as a
    /// restarted application instance would open it.
    async fn open(&self) -> Arc<dyn Store>;

    /// Runs the store's own sweep at `now` (the sweep checks need it).
    async fn sweep(&self, now: Timestamp) {
        let _ = now;
        panic!("this backing has no sweep: do not list the sweep checks for it");
    }

    /// How many ticket records the state holds (the sweep checks need it).
    async fn ticket_records(&self) -> u64 {
        panic!("this backing cannot count its records: do not list the sweep checks for it");
    }

    /// Makes the state unreachable, as a crash of its server would
    /// (`false`), or reachable again (`true`); the outage check needs it.
    async fn set_reachable(&self, reachable: bool) {
        let _ = reachable;
        panic!("this backing cannot be taken down: do not list the outage check for it");
    }

    /// Whether the outage of [`set_reachable`](Backing::set_reachable) is a
    /// pause that runs the calls it had queued once it answers again, so
    /// that a call which failed on its timeout may still take effect
    /// (default: `false`, a crash, where a call that failed changed nothing).
    fn runs_queued_calls(&self) -> bool {
        false
    }
}

/// What a store kept, read through a new handle (an application instance
/// restarted): the first-device claim, a binding and its lockout, a
/// revocation, a pending challenge whose code still verifies, and the
/// attempts of its round. Needs [`Backing::open`].
pub async fn reopen_keeps_everything(backing: &dyn Backing) {
    let (claimed, bound, revoked, pending) = (
        random_ticket(),
        random_ticket(),
        random_ticket(),
        random_ticket(),
    );
    let (owner, stranger) = (addr(), addr());
    let before = Instances::many([backing.open().await]);
    let ctx = Ctx::new(&before);
    assert!(matches!(
        ctx.claim(&claimed).await,
        ClaimOutcome::Claimed { .. }
    ));
    ctx.bind(&bound, &owner).await;
    let locked_until = ctx.lock_out(&bound, &owner).await;
    ctx.revoke(&revoked).await;
    ctx.revoke(&revoked).await;
    let code = ctx.issue_ok(&pending, &stranger, ctx.at(590)).await;
    ctx.wrong(&pending, ctx.at(591)).await;
    let (t0, policy) = (ctx.t0, ctx.policy.clone());
    drop(ctx);
    drop(before);

    let after = Instances::many([backing.open().await]);
    let mut ctx = Ctx::new(&after);
    (ctx.t0, ctx.policy) = (t0, policy);
    let now = ctx.at(600);
    assert!(ctx.load(&claimed, now).await.claimed, "the claim");
    let snapshot = ctx.load(&bound, now).await;
    assert_eq!(snapshot.binding, Some(owner.address), "the binding");
    assert_eq!(snapshot.locked_until, Some(locked_until), "the lockout");
    assert_eq!(ctx.load(&revoked, now).await.generation, 2, "revocations");
    let snapshot = ctx.load(&pending, now).await;
    assert_eq!(snapshot.pending, Some(stranger.address.clone()));
    assert_eq!(snapshot.attempts_used, 1, "the round's attempts");
    assert!(
        matches!(
            ctx.verify(&pending, &code, now).await,
            VerifyOutcome::Verified { .. }
        ),
        "a code sent before the restart verifies after it"
    );
}

/// The store's sweep drops what can no longer matter (a challenge nobody
/// answered, whose codes, round and sends are over) and keeps the
/// long-lived facts (a binding, a revocation). Needs [`Backing::sweep`] and
/// [`Backing::ticket_records`]; the store must expire by the times it is
/// given.
pub async fn sweep_keeps_long_lived_facts(backing: &dyn Backing) {
    let instances = Instances::many([backing.open().await]);
    let ctx = Ctx::new(&instances);
    let (pending, bound, revoked) = (random_ticket(), random_ticket(), random_ticket());
    let owner = addr();
    ctx.issue_ok(&pending, &addr(), ctx.at(0)).await;
    ctx.bind(&bound, &owner).await;
    ctx.issue_ok(&bound, &owner, ctx.at(0)).await;
    ctx.revoke(&revoked).await;
    assert_eq!(backing.ticket_records().await, 3);

    // Two hours on: every code, round and send window is over.
    let later = ctx.at(2 * 3600);
    backing.sweep(later).await;
    assert_eq!(backing.ticket_records().await, 2, "the pending ticket goes");
    let snapshot = ctx.load(&bound, later).await;
    assert_eq!(snapshot.binding, Some(owner.address), "the binding stays");
    assert!(snapshot.recent_sends.is_empty() && snapshot.pending.is_none());
    assert_eq!(ctx.load(&revoked, later).await.generation, 1);
    assert!(ctx.load(&pending, later).await.pending.is_none());
}

/// First-device claims on tickets that stay unbound are records only until
/// their lifetime passes; the sweep then removes them, and keeps a bound
/// ticket's claim for good. Needs [`Backing::sweep`] and
/// [`Backing::ticket_records`].
pub async fn lapsed_claims_are_swept(backing: &dyn Backing) {
    const CLAIMS: u64 = 200;
    let instances = Instances::many([backing.open().await]);
    let ctx = Ctx::new(&instances);
    for _ in 0..CLAIMS {
        assert!(matches!(
            ctx.claim(&random_ticket()).await,
            ClaimOutcome::Claimed { .. }
        ));
    }
    let (bound, owner) = (random_ticket(), addr());
    ctx.claim(&bound).await;
    ctx.bind(&bound, &owner).await;
    assert_eq!(backing.ticket_records().await, CLAIMS + 1);

    let lapsed = ctx.at(0) + ctx.policy.claim_lifetime + Duration::from_secs(3600);
    backing.sweep(lapsed).await;
    assert_eq!(backing.ticket_records().await, 1, "the bound ticket stays");
    let snapshot = ctx.load(&bound, lapsed).await;
    assert!(snapshot.claimed);
    assert_eq!(snapshot.binding, Some(owner.address));
}

/// While the state is unreachable every operation fails (none hangs past
/// the store's timeout); once it is back, the same handle heals by itself
/// and what was committed before is there: the claim, the code sent. A call
/// that failed changed nothing, unless the outage was a pause that
/// [runs the calls it queued](Backing::runs_queued_calls): then it may
/// take effect, at most once. Needs
/// [`Backing::set_reachable`]; the handles [`Backing::open`] gives should
/// time out within a few seconds.
pub async fn outage_fails_then_heals(backing: &dyn Backing) {
    let store = backing.open().await;
    let instances = Instances::many([store.clone()]);
    let ctx = Ctx::new(&instances);
    let (claimed, pending) = (random_ticket(), random_ticket());
    let stranger = addr();
    ctx.claim(&claimed).await;
    let code = ctx.issue_ok(&pending, &stranger, ctx.at(0)).await;

    backing.set_reachable(false).await;
    let (now, policy) = (ctx.at(10), &ctx.policy);
    let down = |what: &str, failed: bool| assert!(failed, "{what} fails while down");
    down("load", store.load(&pending, now, policy).await.is_err());
    let wrong = random_code();
    let guess = crate::store::VerifyRequest::new(&pending, &wrong, now, policy);
    down("a guess", store.verify_code(&guess).await.is_err());
    let other = random_ticket();
    let claim = crate::store::ClaimRequest::new(&other, now, policy);
    down("a claim", store.claim_first_device(&claim).await.is_err());

    backing.set_reachable(true).await;
    let started = Instant::now();
    let snapshot = loop {
        match store.load(&pending, ctx.at(20), policy).await {
            Ok(snapshot) => break snapshot,
            Err(error) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the store did not heal: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    if backing.runs_queued_calls() {
        assert!(
            snapshot.attempts_used <= 1,
            "the guess while paused counts once at most"
        );
    } else {
        assert_eq!(
            snapshot.attempts_used, 0,
            "the guess while down is not counted"
        );
        assert!(
            !ctx.load(&other, ctx.at(20)).await.claimed,
            "nothing is claimed while down"
        );
    }
    assert_eq!(snapshot.pending, Some(stranger.address), "the challenge");
    assert!(
        ctx.load(&claimed, ctx.at(20)).await.claimed,
        "the claim holds"
    );
    assert!(
        matches!(
            ctx.verify(&pending, &code, ctx.at(20)).await,
            VerifyOutcome::Verified { .. }
        ),
        "the code sent before the outage verifies after it"
    );
}
