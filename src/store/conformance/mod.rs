//! The conformance suite every [`Store`] runs (feature `test-util`).
//!
//! Each rule of the [contract](super) is a named check: a `pub async fn`
//! taking the [`Instances`] under test. The races spawn real parallel tasks
//! (run them on a multi-thread runtime) that all start behind one
//! [`tokio::sync::Barrier`], and repeat [`RACE_ROUNDS`] times.
//!
//! The simplest use is one line in a test file, which expands to one
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per check
//! (the test crate needs `tokio` with the `macros` and `rt-multi-thread`
//! features):
//!
//! ```
//! tower_otp::store_conformance_tests!(tower_otp::MemoryStore::new());
//! ```
//!
//! A shared store (Redis, Postgres) passes several handles, each with its own
//! connection, as several application instances would hold them; the
//! expression may `.await`:
//!
//! ```
//! use std::sync::Arc;
//! use tower_otp::store::{Store, conformance::Instances};
//!
//! async fn two_instances() -> Instances {
//!     // Two handles onto one backing store; a Redis store would connect twice.
//!     let shared: Arc<dyn Store> = Arc::new(tower_otp::MemoryStore::new());
//!     Instances::many([shared.clone(), shared])
//! }
//!
//! tower_otp::store_conformance_tests!(instances: two_instances().await);
//! ```
//!
//! # Design
//!
//! Checks take `&Instances`: a list of `Arc<dyn Store>` handles onto the
//! same state. Sequential checks spread their calls over the handles in
//! turn (a code issued through one handle is verified through the next), and
//! race task `i` uses handle `i % n`. Trait objects keep the checks free of
//! type parameters, so the macro and [`run_all`] work for any store.
//!
//! Every check works on fresh random ticket keys and addresses, and passes
//! times that start at the current system time and only move forward within
//! the check (some jump hours ahead), so a backing store that expires records
//! on its own clock (Redis TTLs) may serve many checks at once. A store that
//! expires by the times it is given, like [`MemoryStore`](crate::MemoryStore),
//! needs one per check: the macro builds a new `Instances` for every test.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::Barrier;

use super::{
    AddressKey, BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, CounterKeys, IssueOutcome,
    IssueRequest, LockoutCleared, Policy, RebindOutcome, RestartOutcome, SendBudget, StateChange,
    StateFingerprint, StateRecord, Store, TicketSnapshot, UnbindOutcome, VerifyOutcome,
    VerifyRequest,
};
use crate::clock::Timestamp;
use crate::code::CodeHash;
use crate::email::EmailAddress;
use crate::locale::Locale;
use crate::ticket::TicketKey;

mod lifecycle;

pub use self::lifecycle::{
    Backing, lapsed_claims_are_swept, outage_fails_then_heals, reopen_keeps_everything,
    sweep_keeps_long_lived_facts,
};

/// How many times each race is run.
pub const RACE_ROUNDS: usize = 10;

/// The store under test: one or more handles onto the same shared state.
///
/// ```
/// use tower_otp::store::conformance::Instances;
///
/// let instances = Instances::one(tower_otp::MemoryStore::new());
/// assert_eq!(instances.len(), 1);
/// ```
pub struct Instances {
    handles: Vec<Arc<dyn Store>>,
    next: AtomicUsize,
}

impl Instances {
    /// A single handle.
    pub fn one(store: impl Store) -> Self {
        Self::many([Arc::new(store) as Arc<dyn Store>])
    }

    /// Several handles onto the same backing state, like several application
    /// instances sharing one store.
    ///
    /// # Panics
    /// If `handles` is empty.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_otp::store::{Store, conformance::Instances};
    ///
    /// let shared: Arc<dyn Store> = Arc::new(tower_otp::MemoryStore::new());
    /// assert_eq!(Instances::many([shared.clone(), shared]).len(), 2);
    /// ```
    pub fn many(handles: impl IntoIterator<Item = Arc<dyn Store>>) -> Self {
        let handles: Vec<_> = handles.into_iter().collect();
        assert!(!handles.is_empty(), "Instances needs at least one handle");
        Self {
            handles,
            next: AtomicUsize::new(0),
        }
    }

    /// How many handles there are.
    ///
    /// ```
    /// # use tower_otp::store::conformance::Instances;
    /// assert_eq!(Instances::one(tower_otp::MemoryStore::new()).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Always false: there is at least one handle.
    ///
    /// ```
    /// # use tower_otp::store::conformance::Instances;
    /// assert!(!Instances::one(tower_otp::MemoryStore::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Handle `i % len`.
    ///
    /// ```
    /// # use tower_otp::store::conformance::Instances;
    /// let instances = Instances::one(tower_otp::MemoryStore::new());
    /// let _store = instances.handle(7);
    /// ```
    pub fn handle(&self, i: usize) -> Arc<dyn Store> {
        self.handles[i % self.handles.len()].clone()
    }

    /// The next handle in turn.
    fn next(&self) -> &dyn Store {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &*self.handles[i % self.handles.len()]
    }
}

impl std::fmt::Debug for Instances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instances")
            .field("handles", &self.handles.len())
            .finish()
    }
}

/// A fresh random ticket key.
///
/// ```
/// let a = tower_otp::store::conformance::random_ticket();
/// assert_ne!(a, tower_otp::store::conformance::random_ticket());
/// ```
pub fn random_ticket() -> TicketKey {
    TicketKey::from_bytes(rand::random())
}

/// A fresh random code hash.
///
/// ```
/// let a = tower_otp::store::conformance::random_code();
/// assert!(!a.ct_eq(&tower_otp::store::conformance::random_code()));
/// ```
pub fn random_code() -> CodeHash {
    CodeHash::from_bytes(rand::random())
}

/// A fresh random address and fresh random counter keys (its mailbox and
/// domain counters are its own).
///
/// ```
/// let (address, _keys) = tower_otp::store::conformance::random_address();
/// assert!(address.as_str().ends_with("@conformance.example"));
/// ```
pub fn random_address() -> (EmailAddress, CounterKeys) {
    let address = EmailAddress::parse(&format!(
        "c{:016x}@conformance.example",
        rand::random::<u64>()
    ))
    .expect("a valid address");
    let key = || AddressKey::from_bytes(rand::random());
    (address, CounterKeys::new(key(), key(), key(), key()))
}

/// The counter keys of `address` as a flow derives them (from its
/// [mailbox](EmailAddress::mailbox) and domain), under a fixed test key and
/// with a site key of `site`: spellings of one mailbox share their keys.
///
/// ```
/// use tower_otp::EmailAddress;
/// use tower_otp::store::conformance::counter_keys;
///
/// let a = EmailAddress::parse("Taro+x@example.com").unwrap();
/// let b = EmailAddress::parse("taro@example.com").unwrap();
/// assert_eq!(counter_keys(&a, b"s"), counter_keys(&b, b"s"));
/// ```
pub fn counter_keys(address: &EmailAddress, site: &[u8]) -> CounterKeys {
    let hmac = crate::secret::HmacKey::new(b"tower-otp conformance counter keys");
    let key = |parts: &[&[u8]]| {
        let full = hmac.sign(parts);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&full[..16]);
        AddressKey::from_bytes(bytes)
    };
    let mailbox = address.mailbox();
    CounterKeys::new(
        key(&[b"mailbox", mailbox.as_bytes()]),
        key(&[b"owner", mailbox.as_bytes()]),
        key(&[b"domain", address.mailbox_domain().as_bytes()]),
        key(&[b"site", site]),
    )
}

/// Runs every check in turn (the macro runs them as separate tests).
///
/// ```no_run
/// # async fn f() {
/// use tower_otp::store::conformance::{Instances, run_all};
///
/// run_all(&Instances::one(tower_otp::MemoryStore::new())).await;
/// # }
/// ```
pub async fn run_all(instances: &Instances) {
    macro_rules! run_each {
        (($i:expr) $($name:ident)*) => {
            $( $name($i).await; )*
        };
    }
    crate::__store_conformance_checks!([run_each](instances));
}

/// Expands to one test per conformance check for a store.
///
/// `store_conformance_tests!(expr)` builds the store with `expr` (which may
/// `.await`) in every test; `store_conformance_tests!(instances: expr)` takes
/// an [`Instances`](crate::store::conformance::Instances) expression instead,
/// for a shared store reached through several handles.
/// `store_conformance_tests!(lifecycle: expr => [check, …])` runs the named
/// lifecycle checks (a restart, the sweep, an outage) on the
/// [`Backing`](crate::store::conformance::Backing) `expr` builds. The tests are
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`, so the
/// calling crate needs `tokio` with `macros` and `rt-multi-thread`.
///
/// ```
/// tower_otp::store_conformance_tests!(tower_otp::MemoryStore::new());
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    (lifecycle: $backing:expr => [$($check:ident),* $(,)?] $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let backing = $backing;
                $crate::store::conformance::$check(&backing).await;
            }
        )*
    };
    (instances: $instances:expr $(,)?) => {
        $crate::__store_conformance_checks!([$crate::__store_conformance_emit]($instances));
    };
    ($store:expr $(,)?) => {
        $crate::store_conformance_tests!(
            instances: $crate::store::conformance::Instances::one($store)
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_emit {
    (($instances:expr) $($name:ident)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let instances = $instances;
                $crate::store::conformance::$name(&instances).await;
            }
        )*
    };
}

/// The list of checks, handed to the macro `[path]` after its arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_checks {
    ([$($callback:tt)*] $args:tt) => {
        $($callback)*! { $args
            claim_succeeds_once
            claim_refused_when_bound
            bind_if_unbound
            issue_refused_when_bound_elsewhere
            issue_expecting_a_binding
            issued_tells_binding_and_round
            issue_cooldown_grows
            issue_ticket_hourly_cap
            issue_address_cap_across_tickets
            issue_refused_while_locked
            resend_carries_attempts
            new_round_after_codes_expire
            new_round_after_exhaustion
            restart_keeps_attempts
            restart_refused_when_bound
            pending_address_replaced
            code_void_when_bound_elsewhere
            last_codes_stay_valid
            codes_valid_until_own_expiry
            expiry_is_exact
            wrong_codes_count_down
            missing_codes_not_counted
            lockout_after_consecutive_failures
            lock_refuses_right_code_identically
            success_resets_failures_and_binds
            code_is_bound_to_its_ticket
            withdraw_refunds_the_send
            revoke_bumps_generation
            load_shows_everything
            unknown_ticket_is_empty
            race_wrong_guesses
            race_right_guesses
            race_binds
            race_verify_against_bind
            race_claims
            race_sends
            race_address_cap
            race_client_cap
            race_unvouched_claims
            mailbox_cap_counts_every_spelling
            domain_budget_no_spelling_escapes
            site_budget_when_set
            owner_sends_not_starved_by_strangers
            owner_sends_invisible_to_strangers
            bound_tickets_answer_alike
            owner_budget_bounds_bound_tickets
            withdraw_refunds_every_counter
            claim_lapses_while_unbound
            claim_kept_once_bound
            verify_reports_earlier_device
            bound_locale_remembered
            unbind_forgets_the_binding_and_revokes
            unbind_keeps_the_guards
            rebind_moves_the_binding
            race_rebinds
            race_verify_against_rebind
            withdraw_binding_unbinds_and_revokes
            withdraw_binding_refused_changes_nothing
            race_verify_against_withdraw_binding
            clear_lockout_ends_it
            client_budget_spans_tickets
            domain_without_budget_is_not_counted
            unvouched_claims_count_per_client
            forget_deletes_the_ticket
            state_record_written_once
        }
    };
}

// ---------------------------------------------------------------------------
// Helpers.

/// One check's view: the handles, a policy and the start time.
struct Ctx<'a> {
    instances: &'a Instances,
    policy: Policy,
    t0: Timestamp,
}

/// An address with its counter keys.
struct Addr {
    address: EmailAddress,
    key: CounterKeys,
}

fn addr() -> Addr {
    let (address, key) = random_address();
    Addr { address, key }
}

/// `text` as an address, with the keys a flow would derive for it; `site`
/// names the site counter.
fn spelled(text: &str, site: &[u8]) -> Addr {
    let address = EmailAddress::parse(text).expect("a valid address");
    let key = counter_keys(&address, site);
    Addr { address, key }
}

/// A random name for a mailbox, a domain or a site, so that checks sharing a
/// backing store never share a counter.
fn fresh() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl<'a> Ctx<'a> {
    fn new(instances: &'a Instances) -> Self {
        Self {
            instances,
            policy: Policy::default(),
            t0: Timestamp::from_system_time(SystemTime::now()),
        }
    }

    fn with_policy(mut self, change: impl FnOnce(&mut Policy)) -> Self {
        change(&mut self.policy);
        self
    }

    /// `t0` plus `secs` seconds.
    fn at(&self, secs: u64) -> Timestamp {
        self.t0 + Duration::from_secs(secs)
    }

    /// `t0` plus `millis` milliseconds.
    fn at_ms(&self, millis: u64) -> Timestamp {
        self.t0 + Duration::from_millis(millis)
    }

    fn store(&self) -> &dyn Store {
        self.instances.next()
    }

    async fn claim(&self, t: &TicketKey) -> ClaimOutcome {
        self.store()
            .claim_first_device(&ClaimRequest::new(t, self.at(0), &self.policy))
            .await
            .expect("claim_first_device")
    }

    async fn bind(&self, t: &TicketKey, a: &Addr) -> BindOutcome {
        let request = BindRequest::new(t, &a.address, self.at(0));
        self.store().bind(&request).await.expect("bind")
    }

    async fn issue(
        &self,
        t: &TicketKey,
        a: &Addr,
        code: &CodeHash,
        now: Timestamp,
    ) -> IssueOutcome {
        let request = IssueRequest::new(t, &a.address, &a.key, code, now, &self.policy);
        self.store().issue_code(&request).await.expect("issue_code")
    }

    /// Issues at `t0` only while `t` is bound to `a`.
    async fn issue_to_binding(&self, t: &TicketKey, a: &Addr) -> IssueOutcome {
        let code = random_code();
        let request = IssueRequest::new(t, &a.address, &a.key, &code, self.at(0), &self.policy);
        self.store()
            .issue_code(&request.expecting_binding())
            .await
            .expect("issue_code")
    }

    /// Issues and insists that it worked; returns the code.
    async fn issue_ok(&self, t: &TicketKey, a: &Addr, now: Timestamp) -> CodeHash {
        let code = random_code();
        let outcome = self.issue(t, a, &code, now).await;
        assert!(
            matches!(outcome, IssueOutcome::Issued { .. }),
            "expected Issued, got {outcome:?}"
        );
        code
    }

    async fn withdraw(&self, t: &TicketKey, a: &Addr, code: &CodeHash, now: Timestamp) {
        let request = IssueRequest::new(t, &a.address, &a.key, code, now, &self.policy);
        self.store()
            .withdraw_code(&request)
            .await
            .expect("withdraw_code");
    }

    async fn verify(&self, t: &TicketKey, code: &CodeHash, now: Timestamp) -> VerifyOutcome {
        let request = VerifyRequest::new(t, code, now, &self.policy);
        self.store()
            .verify_code(&request)
            .await
            .expect("verify_code")
    }

    async fn wrong(&self, t: &TicketKey, now: Timestamp) -> VerifyOutcome {
        self.verify(t, &random_code(), now).await
    }

    async fn load(&self, t: &TicketKey, now: Timestamp) -> TicketSnapshot {
        self.store().load(t, now, &self.policy).await.expect("load")
    }

    async fn restart(&self, t: &TicketKey, now: Timestamp) -> RestartOutcome {
        self.store().restart(t, now).await.expect("restart")
    }

    async fn unbind(&self, t: &TicketKey, now: Timestamp) -> UnbindOutcome {
        self.store().unbind(t, now).await.expect("unbind")
    }

    async fn rebind(
        &self,
        t: &TicketKey,
        a: &Addr,
        now: Timestamp,
        locale: Option<Locale>,
    ) -> RebindOutcome {
        let request = BindRequest::new(t, &a.address, now).with_locale(locale);
        self.store().rebind(&request).await.expect("rebind")
    }

    async fn withdraw_binding(
        &self,
        t: &TicketKey,
        now: Timestamp,
        generation: u64,
    ) -> Option<u64> {
        self.store()
            .withdraw_binding(t, now, generation)
            .await
            .expect("withdraw_binding")
    }

    async fn clear_lockout(&self, t: &TicketKey, now: Timestamp) -> LockoutCleared {
        self.store()
            .clear_lockout(t, now)
            .await
            .expect("clear_lockout")
    }

    async fn forget(&self, t: &TicketKey) -> bool {
        self.store().forget(t).await.expect("forget")
    }

    async fn revoke(&self, t: &TicketKey) -> u64 {
        self.store()
            .revoke_devices(t)
            .await
            .expect("revoke_devices")
    }

    /// Three codes, sent at 0, 60 and 180 s (the default cooldowns).
    async fn issue_at_0_60_180(&self, t: &TicketKey, a: &Addr) -> Vec<CodeHash> {
        let mut codes = Vec::new();
        for send in [0, 60, 180] {
            codes.push(self.issue_ok(t, a, self.at(send)).await);
        }
        codes
    }

    /// Four rounds of five wrong entries (sends at 0, 60, 180 and 480 s):
    /// the 20th consecutive failure locks new devices out. Returns the
    /// lockout's end. Needs the default policy.
    async fn lock_out(&self, t: &TicketKey, a: &Addr) -> Timestamp {
        let mut failures = 0;
        for send_at in [0, 60, 180, 480] {
            self.issue_ok(t, a, self.at(send_at)).await;
            for left in (0..5).rev() {
                failures += 1;
                let now = self.at(send_at + 1);
                let outcome = self.wrong(t, now).await;
                let locked_until = (failures == 20).then(|| now + self.policy.lockout_duration);
                assert_eq!(
                    outcome,
                    VerifyOutcome::Wrong {
                        attempts_left: left,
                        locked_until
                    },
                    "failure {failures}"
                );
            }
        }
        self.at(481) + self.policy.lockout_duration
    }
}

/// Verified, on a ticket where no device was claimed or verified before.
fn verified(address: &Addr, newly_bound: bool, generation: u64) -> VerifyOutcome {
    VerifyOutcome::Verified {
        address: address.address.clone(),
        newly_bound,
        earlier_device: false,
        generation,
        previous_locale: None,
    }
}

/// Verified, on a ticket where a device was claimed or verified before.
fn verified_again(address: &Addr, newly_bound: bool, generation: u64) -> VerifyOutcome {
    VerifyOutcome::Verified {
        address: address.address.clone(),
        newly_bound,
        earlier_device: true,
        generation,
        previous_locale: None,
    }
}

fn wrong(attempts_left: u32) -> VerifyOutcome {
    VerifyOutcome::Wrong {
        attempts_left,
        locked_until: None,
    }
}

fn hashes(snapshot: &TicketSnapshot) -> Vec<[u8; 32]> {
    snapshot
        .live_codes
        .iter()
        .map(|c| *c.hash.as_bytes())
        .collect()
}

/// Runs `n` tasks at once: each is built by `task(i, handle i)`, spawned, and
/// waits on one barrier before it starts.
async fn race<T, Fut>(
    instances: &Instances,
    n: usize,
    task: impl Fn(usize, Arc<dyn Store>) -> Fut,
) -> Vec<T>
where
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let joins: Vec<_> = (0..n)
        .map(|i| {
            let work = task(i, instances.handle(i));
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for join in joins {
        out.push(join.await.expect("a race task panicked"));
    }
    out
}

// ---------------------------------------------------------------------------
// First device and binding.

/// The first claim of a ticket wins; every later one is refused.
pub async fn claim_succeeds_once(instances: &Instances) {
    let cx = Ctx::new(instances);
    let t = random_ticket();
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Claimed { generation: 0 });
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Refused);
    assert!(cx.load(&t, cx.at(0)).await.claimed);
}

/// A bound ticket has no first device.
pub async fn claim_refused_when_bound(instances: &Instances) {
    let cx = Ctx::new(instances);
    let t = random_ticket();
    assert_eq!(cx.bind(&t, &addr()).await, BindOutcome::Bound);
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Refused);
    assert!(!cx.load(&t, cx.at(0)).await.claimed);
}

/// `bind` binds only an unbound ticket, and says whether the binding is the same.
pub async fn bind_if_unbound(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    assert_eq!(cx.bind(&t, &a).await, BindOutcome::Bound);
    assert_eq!(
        cx.bind(&t, &a).await,
        BindOutcome::AlreadyBound { same: true }
    );
    assert_eq!(
        cx.bind(&t, &b).await,
        BindOutcome::AlreadyBound { same: false }
    );
    assert_eq!(cx.load(&t, cx.at(0)).await.binding, Some(a.address));
}

// ---------------------------------------------------------------------------
// Issuing.

/// A bound ticket sends only to its binding; a refused send counts nothing.
pub async fn issue_refused_when_bound_elsewhere(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    cx.bind(&t, &a).await;
    let outcome = cx.issue(&t, &b, &random_code(), cx.at(0)).await;
    assert_eq!(outcome, IssueOutcome::BoundElsewhere);
    let s = cx.load(&t, cx.at(0)).await;
    assert!(s.recent_sends.is_empty() && s.live_codes.is_empty());
    cx.issue_ok(&t, &a, cx.at(0)).await;
}

/// A send that expects a binding is refused on an unbound ticket, with
/// nothing issued, counted or made pending; on a ticket bound to its address
/// it issues, and on one bound elsewhere it is refused as any send is.
pub async fn issue_expecting_a_binding(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    let outcome = cx.issue_to_binding(&t, &a).await;
    assert_eq!(outcome, IssueOutcome::NotBound);
    let s = cx.load(&t, cx.at(0)).await;
    assert!(
        s.recent_sends.is_empty() && s.live_codes.is_empty(),
        "{s:?}"
    );
    assert_eq!(s.pending, None, "nothing is made pending");
    // Nothing was counted against the address either: its own cap is whole.
    let capped = Ctx::new(instances).with_policy(|p| p.sends_per_address = 1);
    capped.issue_ok(&random_ticket(), &a, capped.at(0)).await;
    cx.bind(&t, &b).await;
    let outcome = cx.issue_to_binding(&t, &a).await;
    assert_eq!(outcome, IssueOutcome::BoundElsewhere);
    let outcome = cx.issue_to_binding(&t, &b).await;
    assert!(
        matches!(outcome, IssueOutcome::Issued { bound: true, .. }),
        "{outcome:?}"
    );
}

/// An issued code says whether the ticket is bound and how many wrong codes
/// its round already holds (a resend within the round keeps them).
pub async fn issued_tells_binding_and_round(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let first = cx.issue(&t, &a, &random_code(), cx.at(0)).await;
    assert!(
        matches!(
            first,
            IssueOutcome::Issued {
                bound: false,
                attempts_used: 0,
                ..
            }
        ),
        "{first:?}"
    );
    cx.wrong(&t, cx.at(10)).await;
    cx.wrong(&t, cx.at(20)).await;
    let resent = cx.issue(&t, &a, &random_code(), cx.at(60)).await;
    assert!(
        matches!(
            resent,
            IssueOutcome::Issued {
                bound: false,
                attempts_used: 2,
                ..
            }
        ),
        "{resent:?}"
    );
    let (u, owner) = (random_ticket(), addr());
    cx.bind(&u, &owner).await;
    let bound = cx.issue(&u, &owner, &random_code(), cx.at(0)).await;
    assert!(
        matches!(bound, IssueOutcome::Issued { bound: true, .. }),
        "{bound:?}"
    );
}

/// The cooldown after the 1st, 2nd and 3rd send is 60, 120 and 300 s, and
/// the last one repeats.
pub async fn issue_cooldown_grows(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let sends = [(0, 60), (60, 180), (180, 480), (480, 780)];
    for (send, next) in sends {
        if send > 0 {
            let outcome = cx
                .issue(&t, &a, &random_code(), cx.at_ms(send * 1000 - 1))
                .await;
            assert_eq!(
                outcome,
                IssueOutcome::TicketThrottled {
                    retry_at: cx.at(send)
                },
                "1 ms before {send} s"
            );
        }
        let outcome = cx.issue(&t, &a, &random_code(), cx.at(send)).await;
        assert_eq!(
            outcome,
            IssueOutcome::Issued {
                expires_at: cx.at(send + 300),
                next_send_at: cx.at(next),
                bound: false,
                attempts_used: 0,
            },
            "at {send} s"
        );
    }
}

/// At most 5 sends per ticket in an hour; the 6th waits for the oldest to
/// leave the window.
pub async fn issue_ticket_hourly_cap(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    for send in [0, 60, 180, 480, 780] {
        cx.issue_ok(&t, &a, cx.at(send)).await;
    }
    for now in [cx.at(1080), cx.at_ms(3_599_999)] {
        let outcome = cx.issue(&t, &a, &random_code(), now).await;
        assert_eq!(
            outcome,
            IssueOutcome::TicketThrottled {
                retry_at: cx.at(3600)
            }
        );
    }
    let outcome = cx.issue(&t, &a, &random_code(), cx.at(3600)).await;
    // The window now holds 60..3600: the cap holds until 60 leaves it, and
    // the cooldown after a 5th send is 300 s.
    assert_eq!(
        outcome,
        IssueOutcome::Issued {
            expires_at: cx.at(3900),
            next_send_at: cx.at(3900),
            bound: false,
            attempts_used: 0,
        }
    );
}

/// At most 10 sends per address in an hour, across tickets.
pub async fn issue_address_cap_across_tickets(instances: &Instances) {
    let cx = Ctx::new(instances);
    let shared = addr();
    for k in 0..10 {
        cx.issue_ok(&random_ticket(), &shared, cx.at(k)).await;
    }
    let t = random_ticket();
    let outcome = cx.issue(&t, &shared, &random_code(), cx.at(10)).await;
    assert_eq!(
        outcome,
        IssueOutcome::AddressThrottled {
            retry_at: cx.at(3600),
            budget: SendBudget::Mailbox,
        }
    );
    // The refused send counted nothing against the ticket.
    assert!(cx.load(&t, cx.at(10)).await.recent_sends.is_empty());
    cx.issue_ok(&t, &addr(), cx.at(10)).await;
    let outcome = cx
        .issue(
            &random_ticket(),
            &shared,
            &random_code(),
            cx.at_ms(3_599_999),
        )
        .await;
    assert_eq!(
        outcome,
        IssueOutcome::AddressThrottled {
            retry_at: cx.at(3600),
            budget: SendBudget::Mailbox,
        }
    );
    cx.issue_ok(&random_ticket(), &shared, cx.at(3600)).await;
}

/// No code is sent while new devices are locked out.
pub async fn issue_refused_while_locked(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let until = cx.lock_out(&t, &a).await;
    let outcome = cx.issue(&t, &a, &random_code(), cx.at(1000)).await;
    assert_eq!(outcome, IssueOutcome::Locked { until });
    cx.issue_ok(&t, &a, until).await;
}

// ---------------------------------------------------------------------------
// Rounds and the attempt budget.

/// A resend while a code is live keeps the round's attempts.
pub async fn resend_carries_attempts(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let first = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(cx.wrong(&t, cx.at(1)).await, wrong(4));
    assert_eq!(cx.wrong(&t, cx.at(2)).await, wrong(3));
    cx.issue_ok(&t, &a, cx.at(60)).await;
    let s = cx.load(&t, cx.at(60)).await;
    assert_eq!((s.attempts_used, s.live_codes.len()), (2, 2));
    assert_eq!(cx.wrong(&t, cx.at(61)).await, wrong(2));
    assert_eq!(
        cx.verify(&t, &first, cx.at(62)).await,
        verified(&a, true, 0)
    );
}

/// Once every code of the round has expired, the next send starts a new round.
pub async fn new_round_after_codes_expire(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    cx.issue_ok(&t, &a, cx.at(0)).await;
    cx.wrong(&t, cx.at(1)).await;
    cx.wrong(&t, cx.at(2)).await;
    cx.issue_ok(&t, &a, cx.at(300)).await;
    let s = cx.load(&t, cx.at(300)).await;
    assert_eq!((s.attempts_used, s.consecutive_failures), (0, 2));
    assert_eq!(cx.wrong(&t, cx.at(301)).await, wrong(4));
}

/// An exhausted round voids its codes; the next send starts a new round.
pub async fn new_round_after_exhaustion(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let first = cx.issue_ok(&t, &a, cx.at(0)).await;
    for left in (0..5).rev() {
        assert_eq!(cx.wrong(&t, cx.at(1)).await, wrong(left));
    }
    assert_eq!(
        cx.verify(&t, &first, cx.at(2)).await,
        VerifyOutcome::Exhausted
    );
    let s = cx.load(&t, cx.at(2)).await;
    assert!(s.exhausted && s.live_codes.is_empty() && !s.had_codes);
    let second = cx.issue_ok(&t, &a, cx.at(60)).await;
    let s = cx.load(&t, cx.at(60)).await;
    assert_eq!((s.attempts_used, s.exhausted), (0, false));
    assert_eq!(hashes(&s), vec![*second.as_bytes()]);
    // The first code stays void.
    assert_eq!(cx.verify(&t, &first, cx.at(61)).await, wrong(4));
    assert_eq!(
        cx.verify(&t, &second, cx.at(62)).await,
        verified(&a, true, 0)
    );
}

/// Restart forgets the pending address and codes but not the attempts,
/// which carry into the next send while the round's codes would be live.
pub async fn restart_keeps_attempts(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    let first = cx.issue_ok(&t, &a, cx.at(0)).await;
    for _ in 0..3 {
        cx.wrong(&t, cx.at(1)).await;
    }
    assert_eq!(cx.restart(&t, cx.at(10)).await, RestartOutcome::Restarted);
    let s = cx.load(&t, cx.at(10)).await;
    assert_eq!(s.pending, None);
    assert!(s.live_codes.is_empty());
    assert_eq!(s.attempts_used, 3);
    assert_eq!(s.recent_sends, vec![cx.at(0)]);
    assert_eq!(
        cx.verify(&t, &first, cx.at(11)).await,
        VerifyOutcome::NoCode
    );
    cx.issue_ok(&t, &b, cx.at(60)).await;
    let s = cx.load(&t, cx.at(60)).await;
    assert_eq!(s.pending, Some(b.address.clone()));
    assert_eq!(s.attempts_used, 3);
    assert_eq!(cx.wrong(&t, cx.at(61)).await, wrong(1));
    assert_eq!(cx.wrong(&t, cx.at(62)).await, wrong(0));
}

/// A bound ticket cannot start over; its codes stay.
pub async fn restart_refused_when_bound(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    cx.bind(&t, &a).await;
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(cx.restart(&t, cx.at(1)).await, RestartOutcome::Bound);
    assert_eq!(cx.verify(&t, &code, cx.at(2)).await, verified(&a, false, 0));
}

/// Sending to a new address on an unbound ticket replaces the pending address
/// and drops the old codes.
pub async fn pending_address_replaced(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    let code_a = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(cx.load(&t, cx.at(0)).await.pending, Some(a.address.clone()));
    let code_b = cx.issue_ok(&t, &b, cx.at(60)).await;
    let s = cx.load(&t, cx.at(60)).await;
    assert_eq!(s.pending, Some(b.address.clone()));
    assert_eq!(hashes(&s), vec![*code_b.as_bytes()]);
    assert_eq!(cx.verify(&t, &code_a, cx.at(61)).await, wrong(4));
    assert_eq!(
        cx.verify(&t, &code_b, cx.at(62)).await,
        verified(&b, true, 0)
    );
    assert_eq!(cx.load(&t, cx.at(62)).await.binding, Some(b.address));
}

/// A code sent to an address that is not the binding is void, and counted.
pub async fn code_void_when_bound_elsewhere(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(cx.bind(&t, &b).await, BindOutcome::Bound);
    assert_eq!(cx.verify(&t, &code, cx.at(1)).await, wrong(4));
    let s = cx.load(&t, cx.at(1)).await;
    assert_eq!((s.binding, s.pending), (Some(b.address), None));
}

// ---------------------------------------------------------------------------
// Live codes and expiry.

/// The last 3 codes stay valid; a 4th send drops the oldest.
pub async fn last_codes_stay_valid(instances: &Instances) {
    let cx = Ctx::new(instances).with_policy(|p| p.cooldowns = vec![Duration::from_secs(1)]);
    for k in 0..4 {
        let (t, a) = (random_ticket(), addr());
        let mut codes = Vec::new();
        for send in 0..4 {
            codes.push(cx.issue_ok(&t, &a, cx.at(send)).await);
        }
        let s = cx.load(&t, cx.at(4)).await;
        let want: Vec<_> = codes[1..].iter().map(|c| *c.as_bytes()).collect();
        assert_eq!(hashes(&s), want);
        let outcome = cx.verify(&t, &codes[k], cx.at(4)).await;
        if k == 0 {
            assert_eq!(outcome, wrong(4), "the dropped oldest code");
        } else {
            assert_eq!(outcome, verified(&a, true, 0), "code {k}");
        }
    }
}

/// Each code stays valid until its own expiry, not the newest one's.
pub async fn codes_valid_until_own_expiry(instances: &Instances) {
    let cx = Ctx::new(instances);

    let (t, a) = (random_ticket(), addr());
    let codes = cx.issue_at_0_60_180(&t, &a).await;
    assert_eq!(cx.load(&t, cx.at_ms(299_999)).await.live_codes.len(), 3);
    assert_eq!(cx.load(&t, cx.at(300)).await.live_codes.len(), 2);
    assert_eq!(cx.verify(&t, &codes[0], cx.at(300)).await, wrong(4));
    assert_eq!(
        cx.verify(&t, &codes[1], cx.at_ms(359_999)).await,
        verified(&a, true, 0)
    );

    let (t, a) = (random_ticket(), addr());
    let codes = cx.issue_at_0_60_180(&t, &a).await;
    assert_eq!(cx.verify(&t, &codes[1], cx.at(360)).await, wrong(4));
    assert_eq!(
        cx.verify(&t, &codes[2], cx.at_ms(479_999)).await,
        verified(&a, true, 0)
    );

    let (t, a) = (random_ticket(), addr());
    let codes = cx.issue_at_0_60_180(&t, &a).await;
    assert_eq!(
        cx.verify(&t, &codes[2], cx.at(480)).await,
        VerifyOutcome::Expired
    );
    let s = cx.load(&t, cx.at(480)).await;
    assert!(s.had_codes && s.live_codes.is_empty());
    assert_eq!(s.attempts_used, 0);
}

/// A code is valid 1 ms before `code_ttl` and expired at it; an expired code
/// is not counted.
pub async fn expiry_is_exact(instances: &Instances) {
    let cx = Ctx::new(instances);
    let a = addr();
    let ttl = cx.policy.code_ttl.as_millis() as u64;

    let t = random_ticket();
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(cx.load(&t, cx.at_ms(ttl - 1)).await.live_codes.len(), 1);
    assert_eq!(
        cx.verify(&t, &code, cx.at_ms(ttl - 1)).await,
        verified(&a, true, 0)
    );

    let t = random_ticket();
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at_ms(ttl)).await,
        VerifyOutcome::Expired
    );
    assert_eq!(cx.wrong(&t, cx.at_ms(ttl)).await, VerifyOutcome::Expired);
    let s = cx.load(&t, cx.at_ms(ttl)).await;
    assert!(s.had_codes && s.live_codes.is_empty());
    assert_eq!((s.attempts_used, s.consecutive_failures), (0, 0));
}

// ---------------------------------------------------------------------------
// Verifying.

/// Wrong entries count down; after 5 even the right code is refused, uncounted.
pub async fn wrong_codes_count_down(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    for left in (0..5).rev() {
        assert_eq!(cx.wrong(&t, cx.at(1)).await, wrong(left));
    }
    assert_eq!(
        cx.verify(&t, &code, cx.at(2)).await,
        VerifyOutcome::Exhausted
    );
    assert_eq!(cx.wrong(&t, cx.at(2)).await, VerifyOutcome::Exhausted);
    let s = cx.load(&t, cx.at(2)).await;
    assert_eq!((s.attempts_used, s.consecutive_failures), (5, 5));
    assert!(s.exhausted && s.live_codes.is_empty());
}

/// Without any code there is nothing to count.
pub async fn missing_codes_not_counted(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    assert_eq!(cx.wrong(&t, cx.at(0)).await, VerifyOutcome::NoCode);
    cx.claim(&t).await;
    assert_eq!(cx.wrong(&t, cx.at(0)).await, VerifyOutcome::NoCode);
    cx.issue_ok(&t, &a, cx.at(0)).await;
    cx.restart(&t, cx.at(1)).await;
    assert_eq!(cx.wrong(&t, cx.at(2)).await, VerifyOutcome::NoCode);
    let s = cx.load(&t, cx.at(2)).await;
    assert_eq!((s.attempts_used, s.consecutive_failures), (0, 0));
    assert!(!s.had_codes);
}

/// 20 consecutive failures across rounds lock new devices out for the
/// lockout duration; the count then restarts.
pub async fn lockout_after_consecutive_failures(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let until = cx.lock_out(&t, &a).await;
    let s = cx.load(&t, cx.at(481)).await;
    assert_eq!(s.locked_until, Some(until));
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(
        cx.wrong(&t, cx.at(482)).await,
        VerifyOutcome::Locked { until }
    );
    let before_end = until - Duration::from_millis(1);
    assert_eq!(
        cx.wrong(&t, before_end).await,
        VerifyOutcome::Locked { until }
    );
    assert_eq!(cx.load(&t, until).await.locked_until, None);
    let code = cx.issue_ok(&t, &a, until).await;
    assert_eq!(cx.verify(&t, &code, until).await, verified(&a, true, 0));
}

/// A lockout refuses the right code exactly as it refuses a wrong one, and
/// ends after its duration.
pub async fn lock_refuses_right_code_identically(instances: &Instances) {
    let cx = Ctx::new(instances).with_policy(|p| p.lockout_threshold = 7);
    let (t, a) = (random_ticket(), addr());
    cx.issue_ok(&t, &a, cx.at(0)).await;
    for _ in 0..5 {
        cx.wrong(&t, cx.at(1)).await;
    }
    let code = cx.issue_ok(&t, &a, cx.at(60)).await;
    assert_eq!(cx.wrong(&t, cx.at(61)).await, wrong(4));
    let until = cx.at(61) + cx.policy.lockout_duration;
    assert_eq!(
        cx.wrong(&t, cx.at(61)).await,
        VerifyOutcome::Wrong {
            attempts_left: 3,
            locked_until: Some(until)
        }
    );
    let right = cx.verify(&t, &code, cx.at(62)).await;
    let wrong_one = cx.wrong(&t, cx.at(62)).await;
    assert_eq!(right, VerifyOutcome::Locked { until });
    assert_eq!(right, wrong_one);
    let s = cx.load(&t, cx.at(62)).await;
    assert_eq!((s.attempts_used, s.live_codes.len()), (2, 1));
    assert_eq!(
        cx.issue(&t, &a, &random_code(), cx.at(62)).await,
        IssueOutcome::Locked { until }
    );
    let code = cx.issue_ok(&t, &a, until).await;
    assert_eq!(cx.verify(&t, &code, until).await, verified(&a, true, 0));
}

/// Success clears the challenge and the failure count, binds, and keeps the
/// send times; a code verifies only once.
pub async fn success_resets_failures_and_binds(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    cx.issue_ok(&t, &a, cx.at(0)).await;
    for _ in 0..5 {
        cx.wrong(&t, cx.at(1)).await;
    }
    let code = cx.issue_ok(&t, &a, cx.at(60)).await;
    cx.wrong(&t, cx.at(61)).await;
    cx.wrong(&t, cx.at(61)).await;
    assert_eq!(cx.load(&t, cx.at(61)).await.consecutive_failures, 7);
    assert_eq!(cx.verify(&t, &code, cx.at(62)).await, verified(&a, true, 0));
    let s = cx.load(&t, cx.at(62)).await;
    assert_eq!(s.binding, Some(a.address.clone()));
    assert_eq!(s.pending, None);
    assert!(s.live_codes.is_empty() && !s.exhausted && !s.had_codes);
    assert_eq!((s.attempts_used, s.consecutive_failures), (0, 0));
    assert_eq!(s.recent_sends, vec![cx.at(0), cx.at(60)]);
    assert_eq!(cx.verify(&t, &code, cx.at(63)).await, VerifyOutcome::NoCode);
    let code = cx.issue_ok(&t, &a, cx.at(180)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at(181)).await,
        verified_again(&a, false, 0)
    );
}

/// A code issued for one ticket never verifies another.
pub async fn code_is_bound_to_its_ticket(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t1, t2, a) = (random_ticket(), random_ticket(), addr());
    let code = cx.issue_ok(&t1, &a, cx.at(0)).await;
    assert_eq!(cx.verify(&t2, &code, cx.at(1)).await, VerifyOutcome::NoCode);
    cx.issue_ok(&t2, &a, cx.at(1)).await;
    assert_eq!(cx.verify(&t2, &code, cx.at(2)).await, wrong(4));
    assert_eq!(cx.verify(&t1, &code, cx.at(3)).await, verified(&a, true, 0));
}

/// Withdrawing a code whose mail failed removes it and the sends it counted,
/// for the ticket and the address, and nothing else.
pub async fn withdraw_refunds_the_send(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let first = cx.issue_ok(&t, &a, cx.at(0)).await;
    cx.withdraw(&t, &a, &first, cx.at(0)).await;
    let s = cx.load(&t, cx.at(0)).await;
    assert!(s.recent_sends.is_empty() && s.live_codes.is_empty());
    assert_eq!(cx.verify(&t, &first, cx.at(0)).await, VerifyOutcome::NoCode);

    // A second try at once is a first send again; a later failure takes back
    // only its own code and send.
    let second = cx.issue_ok(&t, &a, cx.at(0)).await;
    cx.wrong(&t, cx.at(1)).await;
    let third = cx.issue_ok(&t, &a, cx.at(60)).await;
    cx.withdraw(&t, &a, &third, cx.at(60)).await;
    let s = cx.load(&t, cx.at(60)).await;
    assert_eq!(hashes(&s), vec![*second.as_bytes()]);
    assert_eq!(s.recent_sends, vec![cx.at(0)]);
    assert_eq!(s.attempts_used, 1);
    assert_eq!(cx.verify(&t, &third, cx.at(61)).await, wrong(3));
    assert_eq!(
        cx.verify(&t, &second, cx.at(62)).await,
        verified(&a, true, 0)
    );

    // The address counter: 10 sends, one withdrawn, leaves room for one more.
    let shared = addr();
    let mut last = None;
    for k in 0..10 {
        let t = random_ticket();
        last = Some((t, cx.issue_ok(&t, &shared, cx.at(100 + k)).await));
    }
    let outcome = cx
        .issue(&random_ticket(), &shared, &random_code(), cx.at(110))
        .await;
    assert!(matches!(outcome, IssueOutcome::AddressThrottled { .. }));
    let (t, code) = last.expect("ten sends");
    cx.withdraw(&t, &shared, &code, cx.at(109)).await;
    cx.issue_ok(&random_ticket(), &shared, cx.at(110)).await;
}

/// Revoking devices bumps the generation that claims and verifications report.
pub async fn revoke_bumps_generation(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    assert_eq!(cx.revoke(&t).await, 1);
    assert_eq!(cx.revoke(&t).await, 2);
    assert_eq!(cx.load(&t, cx.at(0)).await.generation, 2);
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Claimed { generation: 2 });
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at(1)).await,
        verified_again(&a, true, 2)
    );
    assert_eq!(cx.revoke(&t).await, 3);
    let s = cx.load(&t, cx.at(2)).await;
    assert_eq!((s.generation, s.binding), (3, Some(a.address)));
}

/// `load` shows what pages and decisions need, and changes nothing.
pub async fn load_shows_everything(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let s = cx.load(&t, cx.at(0)).await;
    assert!(!s.claimed && s.binding.is_none() && s.pending.is_none());
    assert!(s.live_codes.is_empty() && s.recent_sends.is_empty());
    assert_eq!(
        (s.generation, s.attempts_used, s.consecutive_failures),
        (0, 0, 0)
    );
    assert!(!s.exhausted && !s.had_codes && s.locked_until.is_none());

    let first = cx.issue_ok(&t, &a, cx.at(0)).await;
    let second = random_code();
    let IssueOutcome::Issued { next_send_at, .. } = cx.issue(&t, &a, &second, cx.at(60)).await
    else {
        panic!("the second send is due at 60 s");
    };
    cx.wrong(&t, cx.at(61)).await;
    for _ in 0..2 {
        let s = cx.load(&t, cx.at(61)).await;
        assert_eq!(s.pending, Some(a.address.clone()));
        assert_eq!(s.live_codes.len(), 2);
        let (c1, c2) = (&s.live_codes[0], &s.live_codes[1]);
        assert!(c1.hash.ct_eq(&first) && c2.hash.ct_eq(&second));
        assert_eq!((c1.issued_at, c1.expires_at), (cx.at(0), cx.at(300)));
        assert_eq!((c2.issued_at, c2.expires_at), (cx.at(60), cx.at(360)));
        assert_eq!((s.attempts_used, s.consecutive_failures), (1, 1));
        assert_eq!(s.recent_sends, vec![cx.at(0), cx.at(60)]);
        assert_eq!(cx.policy.next_send_at(&s.recent_sends), Some(next_send_at));
        assert_eq!(next_send_at, cx.at(180));
        assert!(!s.exhausted && !s.had_codes && s.locked_until.is_none());
    }
    // Sends leave the window after an hour.
    let s = cx.load(&t, cx.at(3660)).await;
    assert!(s.recent_sends.is_empty() && s.live_codes.is_empty());
    // Loading consumed nothing.
    let t2 = random_ticket();
    let code = cx.issue_ok(&t2, &a, cx.at(3660)).await;
    cx.load(&t2, cx.at(3661)).await;
    assert_eq!(
        cx.verify(&t2, &code, cx.at(3662)).await,
        verified(&a, true, 0)
    );
}

/// An unknown ticket reads as the default and no call creates anything.
pub async fn unknown_ticket_is_empty(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    assert_eq!(cx.wrong(&t, cx.at(0)).await, VerifyOutcome::NoCode);
    assert_eq!(cx.restart(&t, cx.at(0)).await, RestartOutcome::Restarted);
    cx.withdraw(&t, &a, &random_code(), cx.at(0)).await;
    let s = cx.load(&t, cx.at(0)).await;
    assert!(!s.claimed && s.binding.is_none() && s.live_codes.is_empty());
    assert_eq!((s.generation, s.attempts_used), (0, 0));
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Claimed { generation: 0 });
}

// ---------------------------------------------------------------------------
// Races.

/// 200 parallel wrong guesses: exactly `max_attempts` are evaluated, the
/// rest are refused as exhausted.
pub async fn race_wrong_guesses(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let (t, a) = (random_ticket(), addr());
        cx.issue_ok(&t, &a, cx.at(0)).await;
        let (now, policy) = (cx.at(1), cx.policy.clone());
        let outcomes = race(instances, 200, |_, store| {
            let policy = policy.clone();
            async move {
                let code = random_code();
                let request = VerifyRequest::new(&t, &code, now, &policy);
                store.verify_code(&request).await.expect("verify_code")
            }
        })
        .await;
        let mut left: Vec<u32> = outcomes
            .iter()
            .filter_map(|o| match o {
                VerifyOutcome::Wrong { attempts_left, .. } => Some(*attempts_left),
                _ => None,
            })
            .collect();
        left.sort_unstable();
        let exhausted = outcomes
            .iter()
            .filter(|o| **o == VerifyOutcome::Exhausted)
            .count();
        assert_eq!(left, vec![0, 1, 2, 3, 4], "round {round}");
        assert_eq!(exhausted, 195, "round {round}");
        let s = cx.load(&t, now).await;
        assert_eq!((s.attempts_used, s.consecutive_failures), (5, 5));
    }
}

/// 50 parallel right guesses: exactly one succeeds.
pub async fn race_right_guesses(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let (t, a) = (random_ticket(), addr());
        let code = cx.issue_ok(&t, &a, cx.at(0)).await;
        let (now, policy) = (cx.at(1), cx.policy.clone());
        let outcomes = race(instances, 50, |_, store| {
            let policy = policy.clone();
            async move {
                let request = VerifyRequest::new(&t, &code, now, &policy);
                store.verify_code(&request).await.expect("verify_code")
            }
        })
        .await;
        let wins = outcomes
            .iter()
            .filter(|o| **o == verified(&a, true, 0))
            .count();
        let none = outcomes
            .iter()
            .filter(|o| **o == VerifyOutcome::NoCode)
            .count();
        assert_eq!((wins, none), (1, 49), "round {round}: {outcomes:?}");
        assert_eq!(cx.load(&t, now).await.binding, Some(a.address));
    }
}

/// 50 parallel binds of different addresses: exactly one binds.
pub async fn race_binds(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let (t, now) = (random_ticket(), cx.at(0));
        let addresses: Arc<Vec<Addr>> = Arc::new((0..50).map(|_| addr()).collect());
        let outcomes = race(instances, 50, |i, store| {
            let addresses = addresses.clone();
            async move {
                let request = BindRequest::new(&t, &addresses[i].address, now);
                store.bind(&request).await.expect("bind")
            }
        })
        .await;
        let winners: Vec<usize> = (0..50)
            .filter(|i| outcomes[*i] == BindOutcome::Bound)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}");
        let losers = outcomes
            .iter()
            .filter(|o| **o == BindOutcome::AlreadyBound { same: false })
            .count();
        assert_eq!(losers, 49, "round {round}");
        let s = cx.load(&t, cx.at(0)).await;
        assert_eq!(s.binding, Some(addresses[winners[0]].address.clone()));
    }
}

/// A verification and a bind of another address at once: exactly one binds.
pub async fn race_verify_against_bind(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let (t, a, b) = (random_ticket(), addr(), addr());
        let code = cx.issue_ok(&t, &a, cx.at(0)).await;
        let (now, policy) = (cx.at(1), cx.policy.clone());
        let b_address = b.address.clone();
        let outcomes = race(instances, 2, |i, store| {
            let policy = policy.clone();
            let b_address = b_address.clone();
            async move {
                if i == 0 {
                    let request = VerifyRequest::new(&t, &code, now, &policy);
                    let outcome = store.verify_code(&request).await.expect("verify_code");
                    (Some(outcome), None)
                } else {
                    (
                        None,
                        Some(
                            store
                                .bind(&BindRequest::new(&t, &b_address, now))
                                .await
                                .expect("bind"),
                        ),
                    )
                }
            }
        })
        .await;
        let verify = outcomes[0].0.clone().expect("the verify task");
        let bind = outcomes[1].1.clone().expect("the bind task");
        let binding = cx.load(&t, now).await.binding;
        if verify == verified(&a, true, 0) {
            assert_eq!(bind, BindOutcome::AlreadyBound { same: false });
            assert_eq!(binding, Some(a.address));
        } else {
            assert_eq!(verify, wrong(4), "round {round}");
            assert_eq!(bind, BindOutcome::Bound, "round {round}");
            assert_eq!(binding, Some(b.address));
        }
    }
}

/// 50 parallel first-device claims: exactly one wins.
pub async fn race_claims(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let t = random_ticket();
        let (now, policy) = (cx.at(0), cx.policy.clone());
        let outcomes = race(instances, 50, |_, store| {
            let policy = policy.clone();
            async move {
                store
                    .claim_first_device(&ClaimRequest::new(&t, now, &policy))
                    .await
                    .expect("claim")
            }
        })
        .await;
        let wins = outcomes
            .iter()
            .filter(|o| **o == ClaimOutcome::Claimed { generation: 0 })
            .count();
        assert_eq!(wins, 1, "round {round}");
    }
}

/// 50 parallel sends for one ticket: exactly one is issued (the cooldown
/// refuses the rest).
pub async fn race_sends(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let (t, a) = (random_ticket(), Arc::new(addr()));
        let (now, policy) = (cx.at(0), cx.policy.clone());
        let outcomes = race(instances, 50, |_, store| {
            let (policy, a) = (policy.clone(), a.clone());
            async move {
                let code = random_code();
                let request = IssueRequest::new(&t, &a.address, &a.key, &code, now, &policy);
                let outcome = store.issue_code(&request).await.expect("issue_code");
                (outcome, code)
            }
        })
        .await;
        let issued: Vec<_> = outcomes
            .iter()
            .filter(|(o, _)| matches!(o, IssueOutcome::Issued { .. }))
            .collect();
        assert_eq!(issued.len(), 1, "round {round}");
        let throttled = outcomes
            .iter()
            .filter(|(o, _)| {
                *o == IssueOutcome::TicketThrottled {
                    retry_at: cx.at(60),
                }
            })
            .count();
        assert_eq!(throttled, 49, "round {round}");
        let s = cx.load(&t, now).await;
        assert_eq!(s.recent_sends, vec![now]);
        assert_eq!(hashes(&s), vec![*issued[0].1.as_bytes()]);
    }
}

/// How many of `outcomes` were issued, and how many were exactly `refusal`.
fn issued_and(outcomes: &[IssueOutcome], refusal: IssueOutcome) -> (usize, usize) {
    let issued = outcomes
        .iter()
        .filter(|o| matches!(o, IssueOutcome::Issued { .. }))
        .count();
    let refused = outcomes.iter().filter(|o| **o == refusal).count();
    (issued, refused)
}

/// 50 parallel sends to one address from 50 tickets: exactly 10 are issued.
pub async fn race_address_cap(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let a = Arc::new(addr());
        let (now, policy) = (cx.at(0), cx.policy.clone());
        let outcomes = race(instances, 50, |_, store| {
            let (policy, a) = (policy.clone(), a.clone());
            async move {
                let (t, code) = (random_ticket(), random_code());
                let request = IssueRequest::new(&t, &a.address, &a.key, &code, now, &policy);
                store.issue_code(&request).await.expect("issue_code")
            }
        })
        .await;
        let refusal = IssueOutcome::AddressThrottled {
            retry_at: now + cx.policy.send_window,
            budget: SendBudget::Mailbox,
        };
        assert_eq!(issued_and(&outcomes, refusal), (10, 40), "round {round}");
    }
}

/// 50 parallel sends from one client, each through its own ticket to its
/// own address: exactly [`Policy::client_cap`] are issued, every other one
/// is refused by the client's budget.
pub async fn race_client_cap(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let client = AddressKey::from_bytes(rand::random());
        let (now, policy) = (cx.at(0), cx.policy.clone());
        let outcomes = race(instances, 50, |_, store| {
            let policy = policy.clone();
            async move {
                let a = addr();
                let keys = a.key.with_client(Some(client));
                let (t, code) = (random_ticket(), random_code());
                let request = IssueRequest::new(&t, &a.address, &keys, &code, now, &policy);
                store.issue_code(&request).await.expect("issue_code")
            }
        })
        .await;
        let refusal = IssueOutcome::AddressThrottled {
            retry_at: now + cx.policy.send_window,
            budget: SendBudget::Client,
        };
        let cap = cx.policy.client_cap() as usize;
        assert_eq!(
            issued_and(&outcomes, refusal),
            (cap, 50 - cap),
            "round {round}"
        );
    }
}

/// 50 parallel unvouched claims from one client, each of its own ticket:
/// exactly the client's budget of such claims succeeds, the rest are
/// refused, claiming nothing.
pub async fn race_unvouched_claims(instances: &Instances) {
    let cx = Ctx::new(instances).with_policy(|p| p.unvouched_claims_per_client = 7);
    for round in 0..RACE_ROUNDS {
        let client = AddressKey::from_bytes(rand::random());
        let (now, policy) = (cx.at(0), cx.policy.clone());
        let outcomes = race(instances, 50, |_, store| {
            let policy = policy.clone();
            async move {
                let t = random_ticket();
                let request = ClaimRequest::new(&t, now, &policy).unvouched(Some(client));
                let outcome = store
                    .claim_first_device(&request)
                    .await
                    .expect("claim_first_device");
                let claimed = store.load(&t, now, &policy).await.expect("load").claimed;
                (outcome, claimed)
            }
        })
        .await;
        let claimed = outcomes
            .iter()
            .filter(|(o, kept)| matches!(o, ClaimOutcome::Claimed { .. }) && *kept)
            .count();
        let throttled = outcomes
            .iter()
            .filter(|(o, kept)| {
                *o == ClaimOutcome::Throttled {
                    retry_at: now + cx.policy.send_window,
                } && !*kept
            })
            .count();
        assert_eq!((claimed, throttled), (7, 43), "round {round}");
    }
}

// ---------------------------------------------------------------------------
// Counters across tickets: per mailbox whatever its spelling, per domain, per
// site, and strangers' sends counted apart from the owner's.

/// Sends `a` a code through a fresh unbound ticket at `now`.
async fn stranger_send(cx: &Ctx<'_>, a: &Addr, now: Timestamp) -> IssueOutcome {
    cx.issue(&random_ticket(), a, &random_code(), now).await
}

/// Case and `+tag` spellings of one mailbox, each through its own ticket,
/// share one cap: 10 are issued, every later one is refused until the
/// oldest leaves the window.
pub async fn mailbox_cap_counts_every_spelling(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (name, domain, site) = (fresh(), format!("d{}.example", fresh()), fresh());
    let spellings: Vec<Addr> = (0..30)
        .map(|k| {
            let local = match k % 3 {
                0 => format!("Victim{name}"),
                1 => format!("victim{name}+{k}"),
                _ => format!("VICTIM{name}+Tag{k}"),
            };
            spelled(&format!("{local}@{domain}"), site.as_bytes())
        })
        .collect();
    let mut issued = 0;
    for (k, a) in spellings.iter().enumerate() {
        match stranger_send(&cx, a, cx.at(k as u64)).await {
            IssueOutcome::Issued { .. } => issued += 1,
            refused => assert_eq!(
                refused,
                IssueOutcome::AddressThrottled {
                    retry_at: cx.at(3600),
                    budget: SendBudget::Mailbox,
                },
                "spelling {k}"
            ),
        }
    }
    assert_eq!(issued, 10);
    let outcome = stranger_send(&cx, &spellings[29], cx.at(3600)).await;
    assert!(
        matches!(outcome, IssueOutcome::Issued { .. }),
        "{outcome:?}"
    );
}

/// Different mailboxes of one domain (a catch-all inbox) share the domain
/// budget.
pub async fn domain_budget_no_spelling_escapes(instances: &Instances) {
    let cx = Ctx::new(instances).with_policy(|p| p.sends_per_domain = 20);
    let (domain, site) = (format!("d{}.example", fresh()), fresh());
    for k in 0..20 {
        let a = spelled(&format!("u{k}x{}@{domain}", fresh()), site.as_bytes());
        cx.issue_ok(&random_ticket(), &a, cx.at(k)).await;
    }
    let a = spelled(&format!("other{}@{domain}", fresh()), site.as_bytes());
    assert_eq!(
        stranger_send(&cx, &a, cx.at(20)).await,
        IssueOutcome::AddressThrottled {
            retry_at: cx.at(3600),
            budget: SendBudget::Domain,
        }
    );
    // The refusal counted nothing: the mailbox's own counter is untouched.
    let elsewhere = spelled(&format!("other{}@d{}.example", fresh(), fresh()), b"x");
    cx.issue_ok(&random_ticket(), &elsewhere, cx.at(21)).await;
}

/// With a site-wide budget, sends to any domain share it; without one
/// (the default), they do not.
pub async fn site_budget_when_set(instances: &Instances) {
    let site = fresh();
    let mailbox = |k: u32| spelled(&format!("u{k}@d{}.example", fresh()), site.as_bytes());
    let unset = Ctx::new(instances);
    for k in 0..15 {
        unset
            .issue_ok(&random_ticket(), &mailbox(k), unset.at(0))
            .await;
    }
    let cx = Ctx::new(instances).with_policy(|p| p.sends_site_wide = 15);
    let site = fresh();
    let mailbox = |k: u32| spelled(&format!("u{k}@d{}.example", fresh()), site.as_bytes());
    for k in 0..15 {
        cx.issue_ok(&random_ticket(), &mailbox(k), cx.at(1)).await;
    }
    assert_eq!(
        stranger_send(&cx, &mailbox(99), cx.at(2)).await,
        IssueOutcome::AddressThrottled {
            retry_at: cx.at(3601),
            budget: SendBudget::Site,
        }
    );
}

/// Strangers filling a mailbox's count through their own tickets never stop
/// its owner's codes on the ticket bound to it.
pub async fn owner_sends_not_starved_by_strangers(instances: &Instances) {
    let cx = Ctx::new(instances);
    let a = spelled(&format!("owner{}@d{}.example", fresh(), fresh()), b"s");
    let t = random_ticket();
    cx.bind(&t, &a).await;
    for k in 0..10 {
        cx.issue_ok(&random_ticket(), &a, cx.at(k)).await;
    }
    assert!(matches!(
        stranger_send(&cx, &a, cx.at(10)).await,
        IssueOutcome::AddressThrottled { .. }
    ));
    let code = cx.issue_ok(&t, &a, cx.at(11)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at(12)).await,
        verified(&a, false, 0)
    );
}

/// The owner's sends through the bound ticket do not show in
/// what strangers can count (10 stranger sends still go through after them).
pub async fn owner_sends_invisible_to_strangers(instances: &Instances) {
    let cx = Ctx::new(instances);
    let a = spelled(&format!("owner{}@d{}.example", fresh(), fresh()), b"s");
    let t = random_ticket();
    cx.bind(&t, &a).await;
    for send in [0, 60, 180, 480, 780] {
        cx.issue_ok(&t, &a, cx.at(send)).await;
    }
    for k in 0..10 {
        cx.issue_ok(&random_ticket(), &a, cx.at(800 + k)).await;
    }
    assert_eq!(
        stranger_send(&cx, &a, cx.at(810)).await,
        IssueOutcome::AddressThrottled {
            retry_at: cx.at(4400),
            budget: SendBudget::Mailbox,
        }
    );
}

/// A ticket bound to a mailbox whose strangers' count is full
/// answers a send exactly as a ticket bound to another mailbox does, so the
/// count does not say which mailbox a ticket is bound to.
pub async fn bound_tickets_answer_alike(instances: &Instances) {
    let cx = Ctx::new(instances);
    let a = spelled(&format!("guess{}@d{}.example", fresh(), fresh()), b"s");
    let b = spelled(&format!("other{}@d{}.example", fresh(), fresh()), b"s");
    let (ta, tb) = (random_ticket(), random_ticket());
    cx.bind(&ta, &a).await;
    cx.bind(&tb, &b).await;
    for k in 0..10 {
        cx.issue_ok(&random_ticket(), &a, cx.at(k)).await;
    }
    let outcome_a = cx.issue(&ta, &a, &random_code(), cx.at(20)).await;
    let outcome_b = cx.issue(&tb, &b, &random_code(), cx.at(20)).await;
    assert_eq!(outcome_a, outcome_b);
    assert_eq!(
        outcome_a,
        IssueOutcome::Issued {
            expires_at: cx.at(320),
            next_send_at: cx.at(80),
            bound: true,
            attempts_used: 0,
        }
    );
}

/// Tickets bound to one mailbox share the owner's budget: sends through
/// bound tickets stay capped too.
pub async fn owner_budget_bounds_bound_tickets(instances: &Instances) {
    let cx = Ctx::new(instances);
    let a = spelled(&format!("Owner{}@d{}.example", fresh(), fresh()), b"s");
    let same = spelled(&a.address.as_str().to_ascii_lowercase(), b"s");
    let tickets: Vec<TicketKey> = (0..4).map(|_| random_ticket()).collect();
    for (k, t) in tickets.iter().enumerate() {
        cx.bind(t, if k % 2 == 0 { &a } else { &same }).await;
    }
    let mut issued = 0;
    for (round, send) in [0, 60, 180].into_iter().enumerate() {
        for (k, t) in tickets.iter().enumerate() {
            let to = if k % 2 == 0 { &a } else { &same };
            let now = cx.at(send + k as u64);
            match cx.issue(t, to, &random_code(), now).await {
                IssueOutcome::Issued { .. } => issued += 1,
                refused => assert_eq!(
                    refused,
                    IssueOutcome::AddressThrottled {
                        retry_at: cx.at(3600),
                        budget: SendBudget::Owner,
                    },
                    "round {round}, ticket {k}"
                ),
            }
        }
    }
    assert_eq!(issued, 10);
}

/// An undelivered code gives back its send in every counter it was counted
/// in.
pub async fn withdraw_refunds_every_counter(instances: &Instances) {
    let cx = Ctx::new(instances).with_policy(|p| {
        p.sends_per_domain = 3;
        p.sends_site_wide = 3;
    });
    let (domain, site) = (format!("d{}.example", fresh()), fresh());
    let a = spelled(&format!("w{}@{domain}", fresh()), site.as_bytes());
    for k in 0..3 {
        let t = random_ticket();
        let code = cx.issue_ok(&t, &a, cx.at(k)).await;
        if k == 2 {
            cx.withdraw(&t, &a, &code, cx.at(k)).await;
        }
    }
    // One send left in the mailbox, the domain and the site counters.
    cx.issue_ok(&random_ticket(), &a, cx.at(5)).await;
    assert!(matches!(
        stranger_send(&cx, &a, cx.at(6)).await,
        IssueOutcome::AddressThrottled { .. }
    ));
}

// ---------------------------------------------------------------------------
// Claims that lead nowhere lapse, so unknown ticket ids leave no record
// forever.

/// An unbound ticket's claim lasts `claim_lifetime`; then the ticket is
/// unclaimed again and may be claimed anew.
pub async fn claim_lapses_while_unbound(instances: &Instances) {
    let cx = Ctx::new(instances);
    let t = random_ticket();
    let life = cx.policy.claim_lifetime;
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Claimed { generation: 0 });
    let last = cx.at(0) + life - Duration::from_millis(1);
    assert!(cx.load(&t, last).await.claimed);
    let refused = cx
        .store()
        .claim_first_device(&ClaimRequest::new(&t, last, &cx.policy))
        .await;
    assert_eq!(refused.expect("claim"), ClaimOutcome::Refused);
    assert_eq!(cx.load(&t, last).await.claim_until, Some(cx.at(0) + life));
    let lapsed = cx.at(0) + life;
    let s = cx.load(&t, lapsed).await;
    assert!(!s.claimed && s.claim_until.is_none());
    let again = cx
        .store()
        .claim_first_device(&ClaimRequest::new(&t, lapsed, &cx.policy))
        .await;
    assert_eq!(
        again.expect("claim"),
        ClaimOutcome::Claimed { generation: 0 }
    );
}

/// A binding keeps the claim for good.
pub async fn claim_kept_once_bound(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    cx.claim(&t).await;
    cx.bind(&t, &a).await;
    let later = cx.at(0) + cx.policy.claim_lifetime * 2;
    let s = cx.load(&t, later).await;
    assert!(s.claimed);
    assert_eq!(s.binding, Some(a.address));
}

// ---------------------------------------------------------------------------
// The new-device notice.

/// `earlier_device` says whether another device had the ticket before: not
/// for the first device to verify a pre-bound ticket, yes for the next, and
/// yes for any verification after a first-device claim.
pub async fn verify_reports_earlier_device(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    cx.bind(&t, &a).await;
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(cx.verify(&t, &code, cx.at(1)).await, verified(&a, false, 0));
    let code = cx.issue_ok(&t, &a, cx.at(60)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at(61)).await,
        verified_again(&a, false, 0)
    );

    let (t, a) = (random_ticket(), addr());
    cx.claim(&t).await;
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at(1)).await,
        verified_again(&a, true, 0)
    );
}

// ---------------------------------------------------------------------------
// The owner's language and the binding's time.

/// The bound locale: given at `bind`, set when a code binds, replaced by the
/// page of each later verification that names one; `Verified` reports it as
/// it was before. The binding keeps the time it was made.
pub async fn bound_locale_remembered(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let request = BindRequest::new(&t, &a.address, cx.at(0)).with_locale(Some(Locale::Ja));
    assert_eq!(
        cx.store().bind(&request).await.expect("bind"),
        BindOutcome::Bound
    );
    let s = cx.load(&t, cx.at(1)).await;
    assert_eq!(
        (s.bound_locale, s.bound_at),
        (Some(Locale::Ja), Some(cx.at(0)))
    );
    let verify_in = |code: CodeHash, now: Timestamp, locale: Option<Locale>| {
        let policy = cx.policy.clone();
        let store = cx.store();
        async move {
            let request = VerifyRequest::new(&t, &code, now, &policy).with_locale(locale);
            store.verify_code(&request).await.expect("verify_code")
        }
    };
    let code = cx.issue_ok(&t, &a, cx.at(10)).await;
    let previous = |outcome: VerifyOutcome| match outcome {
        VerifyOutcome::Verified {
            previous_locale, ..
        } => previous_locale,
        other => panic!("expected Verified, got {other:?}"),
    };
    assert_eq!(
        previous(verify_in(code, cx.at(11), Some(Locale::Ko)).await),
        Some(Locale::Ja)
    );
    let s = cx.load(&t, cx.at(12)).await;
    assert_eq!(
        (s.bound_locale, s.bound_at),
        (Some(Locale::Ko), Some(cx.at(0)))
    );
    let code = cx.issue_ok(&t, &a, cx.at(100)).await;
    assert_eq!(
        previous(verify_in(code, cx.at(101), None).await),
        Some(Locale::Ko)
    );
    assert_eq!(cx.load(&t, cx.at(102)).await.bound_locale, Some(Locale::Ko));

    // A code that binds: no previous language, the page's is remembered, and
    // the binding's time is the verification's.
    let (t2, b) = (random_ticket(), addr());
    let code = cx.issue_ok(&t2, &b, cx.at(200)).await;
    let request =
        VerifyRequest::new(&t2, &code, cx.at(201), &cx.policy).with_locale(Some(Locale::ZhHant));
    assert_eq!(
        previous(cx.store().verify_code(&request).await.expect("verify")),
        None
    );
    let s = cx.load(&t2, cx.at(202)).await;
    assert_eq!(s.binding, Some(b.address));
    assert_eq!(
        (s.bound_locale, s.bound_at),
        (Some(Locale::ZhHant), Some(cx.at(201)))
    );
    assert!(s.device_verified);
    // A pre-bind without a language leaves it unknown.
    let (t3, c) = (random_ticket(), addr());
    cx.bind(&t3, &c).await;
    let s = cx.load(&t3, cx.at(1)).await;
    assert_eq!((s.bound_locale, s.bound_at), (None, Some(cx.at(0))));
    assert!(!s.device_verified);
}

// ---------------------------------------------------------------------------
// Support actions.

/// `unbind` forgets the binding, its language and time, and the pending
/// codes, moves the generation, and leaves the ticket claimed for good: no
/// first device, and the next verified address is bound.
pub async fn unbind_forgets_the_binding_and_revokes(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    let request = BindRequest::new(&t, &a.address, cx.at(0)).with_locale(Some(Locale::Ko));
    cx.store().bind(&request).await.expect("bind");
    let stale = cx.issue_ok(&t, &a, cx.at(0)).await;
    let outcome = cx.unbind(&t, cx.at(1)).await;
    assert_eq!(
        (outcome.previous, outcome.generation),
        (Some(a.address.clone()), 1)
    );
    let s = cx.load(&t, cx.at(2)).await;
    assert!(s.binding.is_none() && s.bound_locale.is_none() && s.bound_at.is_none());
    assert!(s.pending.is_none() && s.live_codes.is_empty());
    assert!(s.claimed && s.claim_until.is_none() && !s.device_verified);
    assert_eq!(s.generation, 1);
    assert_eq!(s.recent_sends, vec![cx.at(0)], "the sends stay");
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Refused, "no first device");
    assert_eq!(cx.verify(&t, &stale, cx.at(3)).await, VerifyOutcome::NoCode);
    let code = cx.issue_ok(&t, &b, cx.at(60)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at(61)).await,
        verified_again(&b, true, 1)
    );
    assert_eq!(cx.load(&t, cx.at(62)).await.binding, Some(b.address));
    // An unknown ticket: nothing was bound; the generation still moves.
    let fresh = random_ticket();
    let outcome = cx.unbind(&fresh, cx.at(0)).await;
    assert_eq!((outcome.previous, outcome.generation), (None, 1));
}

/// `unbind` keeps what guards against abuse: a running lockout, the failure
/// count and the round's attempts.
pub async fn unbind_keeps_the_guards(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    cx.bind(&t, &a).await;
    let until = cx.lock_out(&t, &a).await;
    cx.unbind(&t, cx.at(500)).await;
    let s = cx.load(&t, cx.at(501)).await;
    assert_eq!(s.locked_until, Some(until));
    assert!(s.binding.is_none());
    let (u, b) = (random_ticket(), addr());
    cx.issue_ok(&u, &b, cx.at(0)).await;
    cx.wrong(&u, cx.at(1)).await;
    cx.wrong(&u, cx.at(2)).await;
    cx.unbind(&u, cx.at(3)).await;
    let s = cx.load(&u, cx.at(4)).await;
    assert_eq!((s.attempts_used, s.consecutive_failures), (2, 2));
}

/// `rebind` replaces the binding in one step, drops the pending codes, and
/// reports the old address and its language; the same address changes
/// nothing; an unbound ticket is bound.
pub async fn rebind_moves_the_binding(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    let request = BindRequest::new(&t, &a.address, cx.at(0)).with_locale(Some(Locale::Ja));
    cx.store().bind(&request).await.expect("bind");
    let stale = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(
        cx.rebind(&t, &b, cx.at(10), Some(Locale::Ko)).await,
        RebindOutcome::Rebound {
            previous: Some(a.address.clone()),
            previous_locale: Some(Locale::Ja),
            generation: 1,
        }
    );
    let s = cx.load(&t, cx.at(11)).await;
    assert_eq!(s.binding, Some(b.address.clone()));
    assert_eq!(
        (s.bound_locale, s.bound_at),
        (Some(Locale::Ko), Some(cx.at(10)))
    );
    assert!(s.live_codes.is_empty());
    assert!(
        s.recent_sends.is_empty(),
        "the old address's sends are forgotten with it"
    );
    assert_eq!(s.generation, 1, "devices are revoked");
    assert_eq!(
        cx.verify(&t, &stale, cx.at(12)).await,
        VerifyOutcome::NoCode
    );
    assert_eq!(
        cx.issue(&t, &a, &random_code(), cx.at(100)).await,
        IssueOutcome::BoundElsewhere
    );
    assert_eq!(
        cx.rebind(&t, &b, cx.at(20), None).await,
        RebindOutcome::Unchanged
    );
    assert_eq!(cx.load(&t, cx.at(21)).await.bound_locale, Some(Locale::Ko));
    let code = cx.issue_ok(&t, &b, cx.at(100)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at(101)).await,
        VerifyOutcome::Verified {
            address: b.address.clone(),
            newly_bound: false,
            earlier_device: false,
            generation: 1,
            previous_locale: Some(Locale::Ko),
        }
    );
    // Unbound: bound by the rebind, nothing before.
    let u = random_ticket();
    assert_eq!(
        cx.rebind(&u, &a, cx.at(0), None).await,
        RebindOutcome::Rebound {
            previous: None,
            previous_locale: None,
            generation: 1,
        }
    );
    assert_eq!(cx.load(&u, cx.at(1)).await.binding, Some(a.address));
}

/// 20 parallel rebinds of different addresses: each takes its turn, so the
/// previous addresses they report form one chain from the first binding to
/// the last, and each moves the generation once.
pub async fn race_rebinds(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS {
        let (t, first, now) = (random_ticket(), addr(), cx.at(0));
        cx.bind(&t, &first).await;
        let addresses: Arc<Vec<Addr>> = Arc::new((0..20).map(|_| addr()).collect());
        let outcomes = race(instances, 20, |i, store| {
            let addresses = addresses.clone();
            async move {
                let request = BindRequest::new(&t, &addresses[i].address, now);
                store.rebind(&request).await.expect("rebind")
            }
        })
        .await;
        let mut generations = Vec::new();
        let mut previous: Vec<EmailAddress> = outcomes
            .into_iter()
            .map(|o| match o {
                RebindOutcome::Rebound {
                    previous: Some(p),
                    generation,
                    ..
                } => {
                    generations.push(generation);
                    p
                }
                other => panic!("round {round}: {other:?}"),
            })
            .collect();
        generations.sort_unstable();
        assert_eq!(generations, (1..=20).collect::<Vec<u64>>(), "round {round}");
        let last = cx.load(&t, now).await.binding.expect("bound");
        // Every address bound along the way was replaced exactly once, but
        // the last one.
        let mut bound: Vec<EmailAddress> = addresses.iter().map(|a| a.address.clone()).collect();
        bound.push(first.address.clone());
        bound.retain(|a| *a != last);
        previous.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        bound.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        assert_eq!(previous, bound, "round {round}");
    }
}

/// A verification of a live code sent to the binding and a `rebind` to
/// another address at once. The binding always ends at the new address, at
/// the generation the rebind reports. Either the code verified first, at an
/// older generation (that device is signed out by the rebind), or the rebind
/// dropped the code and the verification finds none. Either way no device
/// counts as verified on the new binding, and the new address's own code
/// then verifies at the rebind's generation.
pub async fn race_verify_against_rebind(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS * 5 {
        let (t, a, b) = (random_ticket(), addr(), addr());
        cx.bind(&t, &a).await;
        let code = cx.issue_ok(&t, &a, cx.at(0)).await;
        let (now, policy) = (cx.at(1), cx.policy.clone());
        let b_address = b.address.clone();
        let outcomes = race(instances, 2, |i, store| {
            let policy = policy.clone();
            let b_address = b_address.clone();
            async move {
                if i == 0 {
                    let request = VerifyRequest::new(&t, &code, now, &policy);
                    let outcome = store.verify_code(&request).await.expect("verify_code");
                    (Some(outcome), None)
                } else {
                    let request = BindRequest::new(&t, &b_address, now);
                    let outcome = store.rebind(&request).await.expect("rebind");
                    (None, Some(outcome))
                }
            }
        })
        .await;
        let verify = outcomes[0].0.clone().expect("the verify task");
        let rebind = outcomes[1].1.clone().expect("the rebind task");
        let s = cx.load(&t, now).await;
        assert_eq!(s.binding, Some(b.address.clone()), "round {round}");
        let generation = match rebind {
            RebindOutcome::Rebound {
                previous: Some(ref previous),
                generation,
                ..
            } if *previous == a.address => generation,
            other => panic!("round {round}: {other:?}"),
        };
        assert_eq!(s.generation, generation, "round {round}");
        assert!(s.live_codes.is_empty(), "round {round}");
        match verify {
            VerifyOutcome::Verified {
                ref address,
                newly_bound: false,
                generation: signed_in,
                ..
            } if *address == a.address => {
                assert!(signed_in < generation, "round {round}: {verify:?}");
            }
            other => assert_eq!(other, VerifyOutcome::NoCode, "round {round}"),
        }
        // Whichever came first, no device counts as verified on the new
        // binding, and the new address's own code signs in at the final
        // generation.
        assert!(!s.device_verified, "round {round}");
        let fresh = cx.issue_ok(&t, &b, cx.at(100)).await;
        match cx.verify(&t, &fresh, cx.at(101)).await {
            VerifyOutcome::Verified {
                ref address,
                newly_bound: false,
                generation: signed_in,
                ..
            } if *address == b.address => assert_eq!(signed_in, generation, "round {round}"),
            other => panic!("round {round}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Withdrawing a binding no device has used.

/// `withdraw_binding` on a ticket bound, unverified and at the generation
/// given does what `unbind` does (the binding, its language and time and
/// the pending codes are gone, the ticket is claimed for good and not
/// verified, the sends stay) and returns the new generation; the binding is
/// then gone, so a second call is refused.
pub async fn withdraw_binding_unbinds_and_revokes(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a, b) = (random_ticket(), addr(), addr());
    let request = BindRequest::new(&t, &a.address, cx.at(0)).with_locale(Some(Locale::Ja));
    cx.store().bind(&request).await.expect("bind");
    assert_eq!(cx.revoke(&t).await, 1);
    let stale = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(cx.withdraw_binding(&t, cx.at(1), 1).await, Some(2));
    let s = cx.load(&t, cx.at(2)).await;
    assert!(s.binding.is_none() && s.bound_locale.is_none() && s.bound_at.is_none());
    assert!(s.pending.is_none() && s.live_codes.is_empty());
    assert!(s.claimed && s.claim_until.is_none() && !s.device_verified);
    assert_eq!(s.generation, 2, "device tokens issued before stop passing");
    assert_eq!(s.recent_sends, vec![cx.at(0)], "the sends stay");
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Refused, "no first device");
    assert_eq!(cx.verify(&t, &stale, cx.at(3)).await, VerifyOutcome::NoCode);
    assert_eq!(cx.withdraw_binding(&t, cx.at(4), 2).await, None, "unbound");
    assert_eq!(cx.load(&t, cx.at(5)).await.generation, 2);
    // The next verified address is bound, as after an unbind.
    let code = cx.issue_ok(&t, &b, cx.at(60)).await;
    assert_eq!(
        cx.verify(&t, &code, cx.at(61)).await,
        verified_again(&b, true, 2)
    );
    // A ticket bound by `bind` alone, generation 0 (never revoked).
    let (u, c) = (random_ticket(), addr());
    cx.bind(&u, &c).await;
    assert_eq!(cx.withdraw_binding(&u, cx.at(1), 0).await, Some(1));
    let s = cx.load(&u, cx.at(2)).await;
    assert!(s.binding.is_none() && s.claimed);
    assert_eq!(s.generation, 1);
}

/// `withdraw_binding` is refused, changing nothing, on an unknown ticket
/// (no record is made for it), on an unbound one, at another generation,
/// and once a device was verified on the binding.
pub async fn withdraw_binding_refused_changes_nothing(instances: &Instances) {
    let cx = Ctx::new(instances);
    // Unknown: nothing is stored, so `forget` finds nothing.
    let t = random_ticket();
    assert_eq!(cx.withdraw_binding(&t, cx.at(0), 0).await, None);
    assert!(!cx.forget(&t).await, "no record was made");
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Claimed { generation: 0 });

    // Unbound, claimed, with a pending code: all of it stays.
    let (t, a) = (random_ticket(), addr());
    cx.claim(&t).await;
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert_eq!(cx.withdraw_binding(&t, cx.at(1), 0).await, None);
    let s = cx.load(&t, cx.at(2)).await;
    assert_eq!(s.pending, Some(a.address.clone()));
    assert_eq!((s.live_codes.len(), s.generation), (1, 0));
    assert!(s.claimed && s.claim_until.is_some());
    assert_eq!(
        cx.verify(&t, &code, cx.at(3)).await,
        verified_again(&a, true, 0)
    );

    // Bound at generation 1: another generation is refused.
    let (t, a) = (random_ticket(), addr());
    cx.bind(&t, &a).await;
    cx.revoke(&t).await;
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    for other in [0, 2, u64::MAX] {
        assert_eq!(cx.withdraw_binding(&t, cx.at(1), other).await, None);
    }
    let s = cx.load(&t, cx.at(2)).await;
    assert_eq!((s.binding, s.generation), (Some(a.address.clone()), 1));
    assert!(!s.claimed && !s.device_verified && s.live_codes.len() == 1);

    // A device verified a code sent to the binding: refused, still bound.
    assert_eq!(cx.verify(&t, &code, cx.at(3)).await, verified(&a, false, 1));
    assert_eq!(cx.withdraw_binding(&t, cx.at(4), 1).await, None);
    let s = cx.load(&t, cx.at(5)).await;
    assert_eq!((s.binding, s.generation), (Some(a.address), 1));
    assert!(s.device_verified);
}

/// A verification of a live code sent to the binding and a
/// `withdraw_binding` at once: exactly one wins. Either the code verifies
/// and the withdrawal is refused (the ticket stays bound), or the binding
/// is withdrawn and the code no longer verifies.
pub async fn race_verify_against_withdraw_binding(instances: &Instances) {
    let cx = Ctx::new(instances);
    for round in 0..RACE_ROUNDS * 5 {
        let (t, a) = (random_ticket(), addr());
        cx.bind(&t, &a).await;
        let code = cx.issue_ok(&t, &a, cx.at(0)).await;
        let (now, policy) = (cx.at(1), cx.policy.clone());
        let outcomes = race(instances, 2, |i, store| {
            let policy = policy.clone();
            async move {
                if i == 0 {
                    let request = VerifyRequest::new(&t, &code, now, &policy);
                    let outcome = store.verify_code(&request).await.expect("verify_code");
                    (Some(outcome), None)
                } else {
                    let outcome = store.withdraw_binding(&t, now, 0).await;
                    (None, Some(outcome.expect("withdraw_binding")))
                }
            }
        })
        .await;
        let verify = outcomes[0].0.clone().expect("the verify task");
        let withdrawn = outcomes[1].1.expect("the withdraw task");
        let s = cx.load(&t, now).await;
        if verify == verified(&a, false, 0) {
            assert_eq!(withdrawn, None, "round {round}");
            assert_eq!(s.binding, Some(a.address), "round {round}");
            assert!(s.device_verified && s.generation == 0, "round {round}");
        } else {
            assert_eq!(verify, VerifyOutcome::NoCode, "round {round}");
            assert_eq!(withdrawn, Some(1), "round {round}");
            assert!(s.binding.is_none() && !s.device_verified, "round {round}");
            assert_eq!(s.generation, 1, "round {round}");
        }
    }
}

/// `clear_lockout` ends a running lockout and resets the failure count,
/// reporting both; the right code then verifies.
pub async fn clear_lockout_ends_it(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    let until = cx.lock_out(&t, &a).await;
    let cleared = cx.clear_lockout(&t, cx.at(500)).await;
    // The lockout restarted the count.
    assert_eq!(
        (cleared.locked_until, cleared.consecutive_failures),
        (Some(until), 0)
    );
    let s = cx.load(&t, cx.at(501)).await;
    assert!(s.locked_until.is_none());
    // The fifth send of the hour, after the 300 s cooldown.
    let code = cx.issue_ok(&t, &a, cx.at(780)).await;
    cx.wrong(&t, cx.at(781)).await;
    cx.wrong(&t, cx.at(782)).await;
    // The ticket's five sends of the hour are spent: no send before 3600.
    assert!(matches!(
        cx.issue(&t, &a, &random_code(), cx.at(783)).await,
        IssueOutcome::TicketThrottled { .. }
    ));
    let cleared = cx.clear_lockout(&t, cx.at(783)).await;
    assert_eq!(
        (cleared.locked_until, cleared.consecutive_failures),
        (None, 2)
    );
    // The round is void and restored, the ticket's sends forgotten.
    let s = cx.load(&t, cx.at(784)).await;
    assert_eq!((s.consecutive_failures, s.attempts_used), (0, 0));
    assert!(s.live_codes.is_empty() && s.recent_sends.is_empty() && !s.exhausted);
    assert_eq!(
        cx.verify(&t, &code, cx.at(784)).await,
        VerifyOutcome::NoCode
    );
    // The next code goes out at once, and works.
    let fresh_code = cx.issue_ok(&t, &a, cx.at(785)).await;
    assert_eq!(
        cx.verify(&t, &fresh_code, cx.at(786)).await,
        verified(&a, true, 0)
    );
    // Nothing to clear.
    let cleared = cx.clear_lockout(&t, cx.at(787)).await;
    assert_eq!(cleared, LockoutCleared::default());
}

/// A known client's sends count in its own counter, whatever the ticket and
/// the address, at [`Policy::client_cap`]: the refusal names it, counts
/// nothing elsewhere, and another client is not refused.
pub async fn client_budget_spans_tickets(instances: &Instances) {
    let cx = Ctx::new(instances);
    let client = AddressKey::from_bytes(rand::random());
    let from = |a: Addr, client: AddressKey| Addr {
        key: a.key.with_client(Some(client)),
        address: a.address,
    };
    let owner = from(addr(), client);
    let bound = random_ticket();
    cx.bind(&bound, &owner).await;
    // Four sends from one client: two strangers', one owner's, one more.
    cx.issue_ok(&random_ticket(), &from(addr(), client), cx.at(0))
        .await;
    cx.issue_ok(&random_ticket(), &from(addr(), client), cx.at(1))
        .await;
    cx.issue_ok(&bound, &owner, cx.at(2)).await;
    let victim = from(addr(), client);
    cx.issue_ok(&random_ticket(), &victim, cx.at(3)).await;
    let t = random_ticket();
    assert_eq!(
        cx.issue(&t, &victim, &random_code(), cx.at(4)).await,
        IssueOutcome::AddressThrottled {
            retry_at: cx.at(3600),
            budget: SendBudget::Client,
        }
    );
    assert!(cx.load(&t, cx.at(4)).await.recent_sends.is_empty());
    // The refusal counted nothing in the mailbox: nine more strangers'
    // sends from other clients reach it (ten with the one above), then its
    // own cap refuses.
    let victim_keys = |_| Addr {
        address: victim.address.clone(),
        key: victim
            .key
            .with_client(Some(AddressKey::from_bytes(rand::random()))),
    };
    for k in 0..9 {
        cx.issue_ok(&random_ticket(), &victim_keys(k), cx.at(5 + k))
            .await;
    }
    assert_eq!(
        cx.issue(&random_ticket(), &victim_keys(9), &random_code(), cx.at(14))
            .await,
        IssueOutcome::AddressThrottled {
            retry_at: cx.at(3603),
            budget: SendBudget::Mailbox,
        }
    );
    // Without a client key, no client budget applies.
    cx.issue_ok(&random_ticket(), &addr(), cx.at(20)).await;
    // The client's count frees up as its sends leave the window.
    cx.issue_ok(&random_ticket(), &from(addr(), client), cx.at(3600))
        .await;
}

/// A claim of an id no validator vouched for lasts
/// `unvouched_claim_lifetime`, and counts against its client's budget of such
/// claims: at the cap it is refused (`Throttled`), claiming and counting
/// nothing; a refused claim (already claimed) counts nothing; vouched claims
/// and claims of unknown clients are not counted.
pub async fn unvouched_claims_count_per_client(instances: &Instances) {
    let cx = Ctx::new(instances).with_policy(|p| p.unvouched_claims_per_client = 2);
    let client = AddressKey::from_bytes(rand::random());
    let claim = |t: TicketKey, at: u64, client: Option<AddressKey>, vouched: bool| {
        let cx = &cx;
        async move {
            let request = ClaimRequest::new(&t, cx.at(at), &cx.policy);
            let request = if vouched {
                request
            } else {
                request.unvouched(client)
            };
            cx.store()
                .claim_first_device(&request)
                .await
                .expect("claim_first_device")
        }
    };
    let first = random_ticket();
    assert_eq!(
        claim(first, 0, Some(client), false).await,
        ClaimOutcome::Claimed { generation: 0 }
    );
    let s = cx.load(&first, cx.at(1)).await;
    assert_eq!(s.claim_until, Some(cx.at(86_400)), "a day, not thirty");
    assert_eq!(
        claim(first, 1, Some(client), false).await,
        ClaimOutcome::Refused
    );
    assert!(matches!(
        claim(random_ticket(), 2, Some(client), false).await,
        ClaimOutcome::Claimed { .. }
    ));
    let third = random_ticket();
    assert_eq!(
        claim(third, 3, Some(client), false).await,
        ClaimOutcome::Throttled {
            retry_at: cx.at(3600)
        }
    );
    assert!(!cx.load(&third, cx.at(4)).await.claimed, "nothing claimed");
    // Vouched claims and unknown clients are not counted, nor refused.
    assert!(matches!(
        claim(random_ticket(), 5, Some(client), true).await,
        ClaimOutcome::Claimed { .. }
    ));
    assert!(matches!(
        claim(random_ticket(), 6, None, false).await,
        ClaimOutcome::Claimed { .. }
    ));
    // Another client is not refused; the window moves on.
    let other = AddressKey::from_bytes(rand::random());
    assert!(matches!(
        claim(random_ticket(), 7, Some(other), false).await,
        ClaimOutcome::Claimed { .. }
    ));
    assert!(matches!(
        claim(third, 3600, Some(client), false).await,
        ClaimOutcome::Claimed { .. }
    ));
    // The short claim lapses: the ticket is unclaimed again.
    assert!(!cx.load(&first, cx.at(86_400)).await.claimed);
}

/// A domain without a budget (`CounterKeys::without_domain`) counts
/// strangers' sends only per mailbox: many mailboxes of it are not refused.
pub async fn domain_without_budget_is_not_counted(instances: &Instances) {
    let cx = Ctx::new(instances).with_policy(|p| p.sends_per_domain = 3);
    let domain = format!("d{}.example", fresh());
    for k in 0..6 {
        let mut a = spelled(&format!("u{k}@{domain}"), b"s");
        a.key = a.key.without_domain();
        cx.issue_ok(&random_ticket(), &a, cx.at(k)).await;
    }
    let a = spelled(&format!("u9@{domain}"), b"s");
    cx.issue_ok(&random_ticket(), &a, cx.at(10)).await;
}

/// `forget` deletes everything kept under the ticket: it reads as new.
pub async fn forget_deletes_the_ticket(instances: &Instances) {
    let cx = Ctx::new(instances);
    let (t, a) = (random_ticket(), addr());
    cx.claim(&t).await;
    let code = cx.issue_ok(&t, &a, cx.at(0)).await;
    assert!(matches!(
        cx.verify(&t, &code, cx.at(1)).await,
        VerifyOutcome::Verified { .. }
    ));
    cx.revoke(&t).await;
    cx.issue_ok(&t, &a, cx.at(60)).await;
    cx.wrong(&t, cx.at(61)).await;
    assert!(cx.forget(&t).await);
    let s = cx.load(&t, cx.at(62)).await;
    assert!(!s.claimed && s.binding.is_none() && s.bound_at.is_none() && !s.device_verified);
    assert!(s.live_codes.is_empty() && s.recent_sends.is_empty() && s.pending.is_none());
    assert_eq!(
        (s.generation, s.attempts_used, s.consecutive_failures),
        (0, 0, 0)
    );
    assert!(!cx.forget(&t).await, "nothing left");
    assert_eq!(cx.claim(&t).await, ClaimOutcome::Claimed { generation: 0 });
    // Another ticket is untouched.
    let (u, b) = (random_ticket(), addr());
    cx.bind(&u, &b).await;
    assert!(!cx.forget(&random_ticket()).await);
    assert_eq!(cx.load(&u, cx.at(0)).await.binding, Some(b.address));
}

/// A random state record.
fn random_state(held: bool) -> StateRecord {
    StateRecord {
        fingerprint: StateFingerprint::from_bytes(rand::random()),
        first_devices_held: held,
    }
}

/// The store's state record (the check needs a store of its own: it starts
/// from none): of 50 instances starting at once with different secrets,
/// exactly one writes its record and all read that one; `Init` never
/// changes a record, `Replace` always does, and every handle reads it.
pub async fn state_record_written_once(instances: &Instances) {
    let records: Vec<StateRecord> = (0..50).map(|i| random_state(i % 2 == 1)).collect();
    let reads = race(instances, 50, |i, store| {
        let record = records[i];
        async move { store.state(StateChange::Init(record)).await.expect("state") }
    })
    .await;
    let written: Vec<_> = reads.iter().filter(|r| r.written).collect();
    assert_eq!(written.len(), 1, "exactly one instance writes the record");
    let winner = written[0].record;
    assert!(
        records.contains(&winner),
        "the record is one that was given"
    );
    assert!(
        reads.iter().all(|r| r.record == winner),
        "all read the winner's"
    );

    let cx = Ctx::new(instances);
    let again = cx.store().state(StateChange::Init(random_state(false)));
    let again = again.await.expect("state");
    assert_eq!(again.record, winner, "Init keeps the record there is");
    assert!(!again.written);
    let replaced = random_state(!winner.first_devices_held);
    let read = cx.store().state(StateChange::Replace(replaced));
    let read = read.await.expect("state");
    assert_eq!((read.record, read.written), (replaced, true));
    for _ in 0..instances.len() {
        let read = cx.store().state(StateChange::Init(winner));
        assert_eq!(
            read.await.expect("state").record,
            replaced,
            "every handle reads it"
        );
    }
}
