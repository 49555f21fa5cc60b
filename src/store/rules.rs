//! The rules of the [`Store`](super::Store) contract, written once, as pure
//! functions over a ticket's record and an address's send counter.
//!
//! A store that can lock a ticket (and, for `issue_code`, its address) for the
//! length of one operation reads the records, calls one function here and
//! writes the records back: [`MemoryStore`](super::MemoryStore) under its shard
//! locks, the SQL stores inside one transaction. Nothing here does I/O, reads
//! a clock or allocates more than the records need; `now` and the policy come
//! from the caller. (The Redis store keeps the same rules in Lua, one script
//! per operation; the conformance suite keeps them equal.)

use std::time::Duration;

use super::{
    AddressKey, BindOutcome, BindRequest, ClaimOutcome, ClaimRequest, CodeRecord, IssueOutcome,
    IssueRequest, LockoutCleared, Policy, RebindOutcome, RestartOutcome, SendBudget,
    TicketSnapshot, UnbindOutcome, VerifyOutcome, VerifyRequest,
};
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::locale::Locale;

/// What a store keeps per ticket: the long-lived facts inline, the challenge
/// boxed so that tickets without one stay small.
#[derive(Debug, Clone, Default)]
pub(crate) struct TicketRecord {
    pub(crate) binding: Option<EmailAddress>,
    pub(crate) challenge: Option<Box<Challenge>>,
    pub(crate) generation: u64,
    /// While unbound, the first-device claim lapses then (the default:
    /// never, as for claims kept before claims expired).
    pub(crate) claim_until: Timestamp,
    /// Consecutive failures across rounds; survives the challenge (a success
    /// or a lockout resets it).
    pub(crate) consecutive_failures: u32,
    /// When the current binding was made (the default: not recorded, as
    /// for bindings made before it was).
    pub(crate) bound_at: Timestamp,
    pub(crate) claimed: bool,
    /// A device was verified by a code on this ticket.
    pub(crate) verified: bool,
    /// The language the bound address last used (see
    /// [`TicketSnapshot::bound_locale`](super::TicketSnapshot::bound_locale)).
    pub(crate) bound_locale: Option<Locale>,
}

/// The pending challenge of a ticket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Challenge {
    /// Where the current codes were sent (the pending address, or the binding).
    pub(crate) address: Option<EmailAddress>,
    /// The current codes, oldest first (expired ones stay until the next
    /// issue, so that a verify can say "expired").
    pub(crate) codes: Vec<CodeRecord>,
    /// This ticket's sends, oldest first (those before the window are pruned
    /// at the next issue).
    pub(crate) sends: Vec<Timestamp>,
    /// The round continues until every code it issued has expired, including
    /// codes since dropped by `restart` or an address change: neither resets
    /// the attempt budget.
    pub(crate) round_until: Timestamp,
    /// New devices are locked out until then.
    pub(crate) locked_until: Timestamp,
    /// Nothing here can matter after this time: a sweep may drop it.
    pub(crate) keep_until: Timestamp,
    /// Wrong entries in this round.
    pub(crate) attempts: u32,
    /// The round's budget is spent; its codes are void.
    pub(crate) exhausted: bool,
}

/// The sends to one address (by its key) across tickets.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressSends {
    /// Sends to this address, oldest first.
    pub(crate) sends: Vec<Timestamp>,
    /// Nothing here can matter after this time.
    pub(crate) keep_until: Timestamp,
}

impl TicketRecord {
    /// Nothing worth keeping: the store may delete the record.
    pub(crate) fn is_empty(&self) -> bool {
        !self.claimed
            && !self.verified
            && self.binding.is_none()
            && self.challenge.is_none()
            && self.generation == 0
            && self.consecutive_failures == 0
    }

    /// When the challenge can be dropped, if there is one.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn keep_until(&self) -> Option<Timestamp> {
        self.challenge.as_ref().map(|c| c.keep_until)
    }

    /// Drops the challenge once nothing in it can matter at `now` (its codes
    /// and its round have expired, no send is left in the window, no lockout
    /// runs), and a lapsed first-device claim. Returns whether it dropped
    /// anything.
    pub(crate) fn sweep(&mut self, now: Timestamp) -> bool {
        let expired = self.challenge.as_ref().is_some_and(|c| now >= c.keep_until);
        if expired {
            self.challenge = None;
        }
        let lapsed = self.claimed && !self.claim_live(now);
        if lapsed {
            self.claimed = false;
            self.claim_until = Timestamp::default();
        }
        expired || lapsed
    }

    /// The first-device claim holds at `now`: it was made, and the ticket is
    /// bound (a binding keeps it for good), or it never lapses, or it has not
    /// lapsed yet.
    pub(crate) fn claim_live(&self, now: Timestamp) -> bool {
        self.claimed
            && (self.binding.is_some()
                || self.claim_until == Timestamp::default()
                || now < self.claim_until)
    }

    /// When the claim lapses, if it can (a live claim on an unbound ticket).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn claim_lapses_at(&self) -> Option<Timestamp> {
        (self.claimed && self.binding.is_none() && self.claim_until != Timestamp::default())
            .then_some(self.claim_until)
    }

    fn locked_until(&self, now: Timestamp) -> Option<Timestamp> {
        let until = self.challenge.as_ref()?.locked_until;
        (now < until).then_some(until)
    }

    /// Drops the challenge when nothing in it is left.
    fn tidy(&mut self) {
        if self.challenge.as_ref().is_some_and(|c| c.is_empty()) {
            self.challenge = None;
        }
    }
}

impl Challenge {
    fn is_empty(&self) -> bool {
        self.address.is_none()
            && self.codes.is_empty()
            && self.sends.is_empty()
            && self.attempts == 0
            && !self.exhausted
            && self.locked_until == Timestamp::default()
            && self.round_until == Timestamp::default()
    }

    fn live_codes(&self, now: Timestamp) -> impl Iterator<Item = &CodeRecord> {
        self.codes
            .iter()
            .filter(move |c| !self.exhausted && now < c.expires_at)
    }

    fn clear_codes(&mut self) {
        self.codes = Vec::new();
    }

    fn extend_keep(&mut self, until: Timestamp) {
        self.keep_until = self.keep_until.max(until);
    }
}

impl AddressSends {
    /// No send is counted: the store may delete the counter.
    pub(crate) fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }

    /// Nothing here can matter at `now`.
    pub(crate) fn expired(&self, now: Timestamp) -> bool {
        now >= self.keep_until
    }
}

/// One send counter an issue checks and counts in, with its cap and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    pub(crate) key: AddressKey,
    pub(crate) cap: u32,
    pub(crate) name: SendBudget,
}

/// The counters across tickets that [`issue`] checks, in order: the owner's
/// when the ticket is bound to `r.address`, else the strangers' (mailbox,
/// domain when it has a budget, and the site when it has one); then the
/// client's when it is known and has a budget. A store locks these (in any
/// fixed order) and passes them to [`issue`] or [`withdraw`] in this order.
pub(crate) fn budgets(ticket: &TicketRecord, r: &IssueRequest<'_>) -> Vec<Budget> {
    let (p, keys) = (r.policy, r.keys);
    let budget = |key, cap, name| Budget { key, cap, name };
    let mut out = Vec::with_capacity(4);
    if ticket.binding.as_ref() == Some(r.address) {
        out.push(budget(keys.owner, p.sends_per_address, SendBudget::Owner));
    } else {
        out.push(budget(
            keys.mailbox,
            p.sends_per_address,
            SendBudget::Mailbox,
        ));
        if let Some(domain) = keys.domain {
            out.push(budget(domain, p.sends_per_domain, SendBudget::Domain));
        }
        if p.sends_site_wide > 0 {
            out.push(budget(keys.site, p.sends_site_wide, SendBudget::Site));
        }
    }
    let client_cap = p.client_cap();
    if let Some(client) = keys.client
        && client_cap > 0
    {
        out.push(budget(client, client_cap, SendBudget::Client));
    }
    out
}

/// Whether `at` lies in the window of length `window` that ends at `now`
/// (`now - window`, exclusive, to `now`).
fn in_window(at: Timestamp, window: Duration, now: Timestamp) -> bool {
    at + window > now
}

/// Removes the last occurrence of `at` from `times`.
fn remove_time(times: &mut Vec<Timestamp>, at: Timestamp) {
    if let Some(i) = times.iter().rposition(|t| *t == at) {
        times.remove(i);
    }
}

/// Pushes without the doubling growth of `Vec`: these lists are short.
fn push_exact<T>(list: &mut Vec<T>, item: T) {
    list.reserve_exact(1);
    list.push(item);
}

/// [`Store::load`](super::Store::load): the ticket as pages see it at `now`.
pub(crate) fn load(ticket: &TicketRecord, now: Timestamp, policy: &Policy) -> TicketSnapshot {
    let claimed = ticket.claim_live(now);
    let mut snapshot = TicketSnapshot {
        claimed,
        claim_until: ticket.claim_lapses_at().filter(|_| claimed),
        binding: ticket.binding.clone(),
        bound_locale: ticket.binding.as_ref().and(ticket.bound_locale),
        bound_at: ticket
            .binding
            .as_ref()
            .and((ticket.bound_at != Timestamp::default()).then_some(ticket.bound_at)),
        device_verified: ticket.verified,
        generation: ticket.generation,
        consecutive_failures: ticket.consecutive_failures,
        ..TicketSnapshot::default()
    };
    if let Some(c) = &ticket.challenge {
        if ticket.binding.is_none() {
            snapshot.pending = c.address.clone();
        }
        snapshot.live_codes = c.live_codes(now).copied().collect();
        snapshot.attempts_used = c.attempts;
        snapshot.exhausted = c.exhausted;
        snapshot.locked_until = ticket.locked_until(now);
        snapshot.recent_sends = c
            .sends
            .iter()
            .copied()
            .filter(|t| in_window(*t, policy.send_window, now))
            .collect();
        snapshot.had_codes = !c.exhausted && !c.codes.is_empty() && snapshot.live_codes.is_empty();
    }
    snapshot
}

/// [`Store::claim_first_device`](super::Store::claim_first_device), with the
/// client's counter when the request names one
/// ([`ClaimRequest::counter`]).
pub(crate) fn claim(
    ticket: &mut TicketRecord,
    counter: Option<&mut AddressSends>,
    r: &ClaimRequest<'_>,
) -> ClaimOutcome {
    let now = r.now;
    if ticket.claim_live(now) || ticket.binding.is_some() {
        return ClaimOutcome::Refused;
    }
    if let (Some(counter), Some((_, cap))) = (counter, r.counter()) {
        let window = r.policy.send_window;
        counter.sends.retain(|t| in_window(*t, window, now));
        let cap = cap as usize;
        if counter.sends.len() >= cap {
            let oldest = counter.sends[counter.sends.len() - cap];
            return ClaimOutcome::Throttled {
                retry_at: oldest + window,
            };
        }
        push_exact(&mut counter.sends, now);
        counter.keep_until = counter.keep_until.max(now + window);
    }
    ticket.claimed = true;
    ticket.claim_until = now + r.lifetime();
    ClaimOutcome::Claimed {
        generation: ticket.generation,
    }
}

/// [`Store::bind`](super::Store::bind).
pub(crate) fn bind(ticket: &mut TicketRecord, r: &BindRequest<'_>) -> BindOutcome {
    match &ticket.binding {
        Some(bound) => BindOutcome::AlreadyBound {
            same: bound == r.address,
        },
        None => {
            set_binding(ticket, r.address.clone(), r.locale, r.now);
            BindOutcome::Bound
        }
    }
}

/// Makes `address` the binding, made at `now`, with its owner's language.
fn set_binding(
    ticket: &mut TicketRecord,
    address: EmailAddress,
    locale: Option<Locale>,
    now: Timestamp,
) {
    ticket.binding = Some(address);
    ticket.bound_locale = locale;
    ticket.bound_at = now;
}

/// [`Store::issue_code`](super::Store::issue_code), with the counters of
/// [`budgets`] (same order). The counters are pruned to the window; the
/// caller may delete those left [empty](AddressSends::is_empty).
pub(crate) fn issue(
    ticket: &mut TicketRecord,
    counters: &mut [AddressSends],
    r: &IssueRequest<'_>,
) -> IssueOutcome {
    let (now, policy) = (r.now, r.policy);
    match &ticket.binding {
        Some(bound) if bound != r.address => return IssueOutcome::BoundElsewhere,
        None if r.expect_bound => return IssueOutcome::NotBound,
        _ => {}
    }
    if let Some(until) = ticket.locked_until(now) {
        return IssueOutcome::Locked { until };
    }
    let challenge = ticket.challenge.get_or_insert_with(Box::default);
    challenge
        .sends
        .retain(|t| in_window(*t, policy.send_window, now));
    if let Some(at) = policy.next_send_at(&challenge.sends)
        && now < at
    {
        ticket.tidy();
        return IssueOutcome::TicketThrottled { retry_at: at };
    }
    let budgets = budgets(ticket, r);
    debug_assert_eq!(budgets.len(), counters.len(), "the counters of budgets()");
    for (counter, budget) in counters.iter_mut().zip(&budgets) {
        counter
            .sends
            .retain(|t| in_window(*t, policy.send_window, now));
        let cap = budget.cap as usize;
        if counter.sends.len() >= cap {
            let retry_at = counter
                .sends
                .get(counter.sends.len() - cap)
                .map_or(now, |t| *t + policy.send_window);
            ticket.tidy();
            return IssueOutcome::AddressThrottled {
                retry_at,
                budget: budget.name,
            };
        }
    }
    for counter in counters.iter_mut() {
        push_exact(&mut counter.sends, now);
        counter.keep_until = counter.keep_until.max(now + policy.send_window);
    }
    let challenge = ticket.challenge.get_or_insert_with(Box::default);

    if challenge.address.as_ref() != Some(r.address) {
        // A new pending address (or, on a bound ticket, codes sent before the
        // binding to another address, which are void).
        challenge.clear_codes();
        challenge.address = Some(r.address.clone());
    }
    if challenge.exhausted || now >= challenge.round_until {
        challenge.attempts = 0;
        challenge.exhausted = false;
        challenge.round_until = now;
    }
    challenge.codes.retain(|c| now < c.expires_at);
    let keep = policy.live_codes.max(1) as usize;
    while challenge.codes.len() >= keep {
        challenge.codes.remove(0);
    }
    let expires_at = now + policy.code_ttl;
    push_exact(
        &mut challenge.codes,
        CodeRecord::new(*r.code, now, expires_at),
    );
    challenge.round_until = challenge.round_until.max(expires_at);
    push_exact(&mut challenge.sends, now);
    challenge.extend_keep(expires_at.max(now + policy.send_window));
    let next_send_at = policy.next_send_at(&challenge.sends).unwrap_or(now);
    let attempts_used = challenge.attempts;
    IssueOutcome::Issued {
        expires_at,
        next_send_at,
        bound: ticket.binding.is_some(),
        attempts_used,
    }
}

/// [`Store::withdraw_code`](super::Store::withdraw_code): takes back the code
/// and the send counted at `r.now`, for the ticket and in the counters of
/// [`budgets`].
pub(crate) fn withdraw(
    ticket: &mut TicketRecord,
    counters: &mut [AddressSends],
    r: &IssueRequest<'_>,
) {
    if let Some(challenge) = ticket.challenge.as_mut() {
        if let Some(i) = challenge.codes.iter().rposition(|c| c.hash.ct_eq(r.code)) {
            challenge.codes.remove(i);
        }
        remove_time(&mut challenge.sends, r.now);
    }
    ticket.tidy();
    for counter in counters {
        remove_time(&mut counter.sends, r.now);
    }
}

/// [`Store::verify_code`](super::Store::verify_code).
pub(crate) fn verify(ticket: &mut TicketRecord, r: &VerifyRequest<'_>) -> VerifyOutcome {
    let (now, policy) = (r.now, r.policy);
    if let Some(until) = ticket.locked_until(now) {
        return VerifyOutcome::Locked { until };
    }
    let Some(challenge) = ticket.challenge.as_mut() else {
        return VerifyOutcome::NoCode;
    };
    if challenge.exhausted {
        return VerifyOutcome::Exhausted;
    }
    if challenge.live_codes(now).next().is_none() {
        return if challenge.codes.is_empty() {
            VerifyOutcome::NoCode
        } else {
            VerifyOutcome::Expired
        };
    }
    // Compare against every live code, without stopping at a match.
    let matched = challenge
        .live_codes(now)
        .fold(false, |found, c| found | c.hash.ct_eq(r.code));
    let void = match (&ticket.binding, &challenge.address) {
        (Some(bound), Some(sent_to)) => bound != sent_to,
        (_, None) => true,
        (None, Some(_)) => false,
    };
    if matched && !void {
        let address = challenge.address.take().expect("checked above");
        challenge.clear_codes();
        challenge.attempts = 0;
        challenge.exhausted = false;
        challenge.round_until = Timestamp::default();
        ticket.consecutive_failures = 0;
        let earlier_device = ticket.claim_live(now) || ticket.verified;
        ticket.verified = true;
        let newly_bound = ticket.binding.is_none();
        let previous_locale = if newly_bound {
            set_binding(ticket, address.clone(), r.locale, now);
            None
        } else {
            let previous = ticket.bound_locale;
            ticket.bound_locale = r.locale.or(previous);
            previous
        };
        ticket.tidy();
        return VerifyOutcome::Verified {
            address,
            newly_bound,
            earlier_device,
            generation: ticket.generation,
            previous_locale,
        };
    }
    challenge.attempts = challenge.attempts.saturating_add(1);
    ticket.consecutive_failures = ticket.consecutive_failures.saturating_add(1);
    let attempts_left = policy.max_attempts.saturating_sub(challenge.attempts);
    if attempts_left == 0 {
        challenge.exhausted = true;
        challenge.clear_codes();
    }
    let mut locked_until = None;
    if ticket.consecutive_failures >= policy.lockout_threshold {
        let until = now + policy.lockout_duration;
        challenge.locked_until = until;
        challenge.extend_keep(until);
        ticket.consecutive_failures = 0;
        locked_until = Some(until);
    }
    VerifyOutcome::Wrong {
        attempts_left,
        locked_until,
    }
}

/// [`Store::restart`](super::Store::restart).
pub(crate) fn restart(ticket: &mut TicketRecord) -> RestartOutcome {
    if ticket.binding.is_some() {
        return RestartOutcome::Bound;
    }
    drop_pending(ticket);
    RestartOutcome::Restarted
}

/// Forgets the pending address and its codes; the rest of the challenge stays.
fn drop_pending(ticket: &mut TicketRecord) {
    if let Some(challenge) = ticket.challenge.as_mut() {
        challenge.address = None;
        challenge.clear_codes();
    }
    ticket.tidy();
}

/// [`Store::unbind`](super::Store::unbind).
pub(crate) fn unbind(ticket: &mut TicketRecord) -> UnbindOutcome {
    let previous = ticket.binding.take();
    ticket.bound_locale = None;
    ticket.bound_at = Timestamp::default();
    ticket.verified = false;
    // Claimed for good: no browser becomes a first device after an unbind.
    ticket.claimed = true;
    ticket.claim_until = Timestamp::default();
    drop_pending(ticket);
    UnbindOutcome {
        previous,
        generation: revoke(ticket),
    }
}

/// [`Store::withdraw_binding`](super::Store::withdraw_binding): when the
/// ticket is bound, no device was verified on it and its generation is
/// `generation`, what [`unbind`] does, and the new generation; else `None`,
/// and the record is left as it was.
pub(crate) fn withdraw_binding(ticket: &mut TicketRecord, generation: u64) -> Option<u64> {
    if ticket.binding.is_none() || ticket.verified || ticket.generation != generation {
        return None;
    }
    Some(unbind(ticket).generation)
}

/// [`Store::rebind`](super::Store::rebind).
pub(crate) fn rebind(ticket: &mut TicketRecord, r: &BindRequest<'_>) -> RebindOutcome {
    if ticket.binding.as_ref() == Some(r.address) {
        return RebindOutcome::Unchanged;
    }
    let previous = ticket.binding.take();
    let previous_locale = previous.as_ref().and(ticket.bound_locale);
    set_binding(ticket, r.address.clone(), r.locale, r.now);
    // The devices verified so far were the previous owner's: the new
    // owner's first one is not news to anyone.
    ticket.verified = false;
    // So were the sends: the new owner's first code is not held back by
    // the resend cooldown of codes the previous owner asked for.
    if let Some(challenge) = ticket.challenge.as_mut() {
        challenge.sends = Vec::new();
    }
    drop_pending(ticket);
    RebindOutcome::Rebound {
        previous,
        previous_locale,
        generation: revoke(ticket),
    }
}

/// [`Store::clear_lockout`](super::Store::clear_lockout): ends the lockout
/// and gives the ticket its way in back: the failure count, the round (its
/// codes are void, its attempts restored) and the ticket's sends of the
/// window are reset, so the next send goes out at once.
pub(crate) fn clear_lockout(ticket: &mut TicketRecord, now: Timestamp) -> LockoutCleared {
    let cleared = LockoutCleared {
        locked_until: ticket.locked_until(now),
        consecutive_failures: ticket.consecutive_failures,
    };
    ticket.consecutive_failures = 0;
    if let Some(challenge) = ticket.challenge.as_mut() {
        challenge.locked_until = Timestamp::default();
        challenge.clear_codes();
        challenge.sends = Vec::new();
        challenge.attempts = 0;
        challenge.exhausted = false;
        challenge.round_until = Timestamp::default();
    }
    ticket.tidy();
    cleared
}

/// [`Store::revoke_devices`](super::Store::revoke_devices): the new generation.
pub(crate) fn revoke(ticket: &mut TicketRecord) -> u64 {
    ticket.generation = ticket.generation.saturating_add(1);
    ticket.generation
}

#[cfg(test)]
mod tests;
