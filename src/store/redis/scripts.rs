//! The Lua scripts (one per operation) and the decoding of their replies.
//!
//! Each script is the shared prelude (`lua/prelude.lua`) followed by its own
//! body. `redis::Script` sends `EVALSHA` and, on `NOSCRIPT` (a restarted or
//! flushed server), loads the script and retries.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{Script, ScriptInvocation, Value};

use super::keys::unhex;
use crate::clock::Timestamp;
use crate::code::CodeHash;
use crate::email::EmailAddress;
use crate::locale::Locale;
use crate::store::{
    BindOutcome, ClaimOutcome, CodeRecord, IssueOutcome, IssueRequest, LockoutCleared, Policy,
    RebindOutcome, SendBudget, StateFingerprint, StateRead, StateRecord, StoreError,
    TicketSnapshot, UnbindOutcome, VerifyOutcome,
};

macro_rules! script {
    ($file:literal) => {
        concat!(
            include_str!("lua/prelude.lua"),
            "\n",
            include_str!(concat!("lua/", $file))
        )
    };
}

/// Every script, built (and hashed) once.
pub(super) struct Scripts {
    pub(super) load: Script,
    pub(super) claim: Script,
    pub(super) bind: Script,
    pub(super) issue: Script,
    pub(super) issue_ticket: Script,
    pub(super) undo_issue: Script,
    pub(super) take_address: Script,
    pub(super) withdraw: Script,
    pub(super) withdraw_ticket: Script,
    pub(super) withdraw_address: Script,
    pub(super) verify: Script,
    pub(super) restart: Script,
    pub(super) revoke: Script,
    pub(super) withdraw_binding: Script,
    pub(super) unbind: Script,
    pub(super) rebind: Script,
    pub(super) clear_lockout: Script,
    pub(super) forget: Script,
    pub(super) state: Script,
}

pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    load: Script::new(script!("load.lua")),
    claim: Script::new(script!("claim.lua")),
    bind: Script::new(script!("bind.lua")),
    issue: Script::new(script!("issue.lua")),
    issue_ticket: Script::new(script!("issue_ticket.lua")),
    undo_issue: Script::new(script!("undo_issue.lua")),
    take_address: Script::new(script!("take_address.lua")),
    withdraw: Script::new(script!("withdraw.lua")),
    withdraw_ticket: Script::new(script!("withdraw_ticket.lua")),
    withdraw_address: Script::new(script!("withdraw_address.lua")),
    verify: Script::new(script!("verify.lua")),
    restart: Script::new(script!("restart.lua")),
    revoke: Script::new(script!("revoke.lua")),
    withdraw_binding: Script::new(script!("withdraw_binding.lua")),
    unbind: Script::new(script!("unbind.lua")),
    rebind: Script::new(script!("rebind.lua")),
    clear_lockout: Script::new(script!("clear_lockout.lua")),
    forget: Script::new(script!("forget.lua")),
    state: Script::new(script!("state.lua")),
});

impl Scripts {
    pub(super) fn all(&self) -> [&Script; 19] {
        [
            &self.load,
            &self.claim,
            &self.bind,
            &self.issue,
            &self.issue_ticket,
            &self.undo_issue,
            &self.take_address,
            &self.withdraw,
            &self.withdraw_ticket,
            &self.withdraw_address,
            &self.verify,
            &self.restart,
            &self.revoke,
            &self.withdraw_binding,
            &self.unbind,
            &self.rebind,
            &self.clear_lockout,
            &self.forget,
            &self.state,
        ]
    }
}

/// Milliseconds, as the scripts take them.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Appends what `budgets()` in the prelude reads after the policy: whether
/// the domain has a budget, and the client's cap (0 when the client is not
/// known).
pub(super) fn budget_args(invocation: &mut ScriptInvocation<'_>, r: &IssueRequest<'_>) {
    let client_cap = if r.keys.client.is_some() {
        r.policy.client_cap()
    } else {
        0
    };
    invocation
        .arg(if r.keys.domain.is_some() { "1" } else { "0" })
        .arg(client_cap);
}

/// Appends the policy as `policy()` in the prelude reads it.
pub(super) fn policy_args(invocation: &mut ScriptInvocation<'_>, policy: &Policy) {
    let cooldowns = policy
        .cooldowns
        .iter()
        .map(|d| millis(*d).to_string())
        .collect::<Vec<_>>()
        .join(",");
    invocation
        .arg(millis(policy.code_ttl))
        .arg(policy.live_codes)
        .arg(millis(policy.send_window))
        .arg(policy.sends_per_ticket)
        .arg(policy.sends_per_address)
        .arg(policy.sends_per_domain)
        .arg(policy.sends_site_wide)
        .arg(cooldowns);
}

fn unexpected() -> StoreError {
    StoreError::msg("unexpected reply from redis")
}

fn items(value: Value) -> Result<Vec<Value>, StoreError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(unexpected()),
    }
}

fn int(value: &Value) -> Result<i64, StoreError> {
    match value {
        Value::Int(n) => Ok(*n),
        _ => Err(unexpected()),
    }
}

fn uint(value: &Value) -> Result<u64, StoreError> {
    u64::try_from(int(value)?).map_err(|_| unexpected())
}

fn u32_of(value: &Value) -> Result<u32, StoreError> {
    u32::try_from(int(value)?).map_err(|_| unexpected())
}

fn time(value: &Value) -> Result<Timestamp, StoreError> {
    uint(value).map(Timestamp::from_millis)
}

fn bytes(value: &Value) -> Result<&[u8], StoreError> {
    match value {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.as_bytes()),
        _ => Err(unexpected()),
    }
}

/// An address the scripts stored; empty means none.
fn address(value: &Value) -> Result<Option<EmailAddress>, StoreError> {
    let raw = bytes(value)?;
    if raw.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(raw).map_err(|_| unexpected())?;
    EmailAddress::parse(text)
        .map(Some)
        .map_err(|e| StoreError::new("unreadable address in redis", e))
}

/// A language tag the scripts stored; empty (or one this version does not
/// know, written by a newer one) means none.
fn locale(value: &Value) -> Result<Option<Locale>, StoreError> {
    let raw = bytes(value)?;
    Ok(std::str::from_utf8(raw).ok().and_then(Locale::parse))
}

/// The outcome's tag and its fields.
fn tagged(value: Value) -> Result<(String, Vec<Value>), StoreError> {
    let mut items = items(value)?;
    if items.is_empty() {
        return Err(unexpected());
    }
    let tag = String::from_utf8(bytes(&items.remove(0))?.to_vec()).map_err(|_| unexpected())?;
    Ok((tag, items))
}

pub(super) fn snapshot(value: Value) -> Result<TicketSnapshot, StoreError> {
    let fields = items(value)?;
    let [
        claimed,
        binding,
        generation,
        failures,
        pending,
        attempts,
        exhausted,
        locked,
        sends,
        codes,
        had_codes,
        lapses,
        bound_locale,
        bound_at,
        verified,
    ] = <[Value; 15]>::try_from(fields).map_err(|_| unexpected())?;
    let live_codes = items(codes)?
        .chunks_exact(3)
        .map(|c| {
            let hash = unhex::<32>(bytes(&c[0])?).ok_or_else(unexpected)?;
            Ok(CodeRecord::new(
                CodeHash::from_bytes(hash),
                time(&c[1])?,
                time(&c[2])?,
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    let locked = uint(&locked)?;
    let when = |v: &Value| -> Result<Option<Timestamp>, StoreError> {
        let ms = uint(v)?;
        Ok((ms > 0).then_some(Timestamp::from_millis(ms)))
    };
    Ok(TicketSnapshot {
        claimed: int(&claimed)? == 1,
        claim_until: when(&lapses)?,
        binding: address(&binding)?,
        bound_locale: locale(&bound_locale)?,
        bound_at: when(&bound_at)?,
        device_verified: int(&verified)? == 1,
        generation: uint(&generation)?,
        pending: address(&pending)?,
        live_codes,
        attempts_used: u32_of(&attempts)?,
        exhausted: int(&exhausted)? == 1,
        consecutive_failures: u32_of(&failures)?,
        locked_until: (locked > 0).then_some(Timestamp::from_millis(locked)),
        recent_sends: items(sends)?.iter().map(time).collect::<Result<_, _>>()?,
        had_codes: int(&had_codes)? == 1,
    })
}

pub(super) fn claim(value: Value) -> Result<ClaimOutcome, StoreError> {
    match items(value)?.as_slice() {
        [won, generation] if int(won)? == 1 => Ok(ClaimOutcome::Claimed {
            generation: uint(generation)?,
        }),
        [refused] if int(refused)? == 0 => Ok(ClaimOutcome::Refused),
        [throttled, retry] if int(throttled)? == 2 => Ok(ClaimOutcome::Throttled {
            retry_at: time(retry)?,
        }),
        _ => Err(unexpected()),
    }
}

pub(super) fn bind(value: Value) -> Result<BindOutcome, StoreError> {
    match int(&value)? {
        0 => Ok(BindOutcome::Bound),
        1 => Ok(BindOutcome::AlreadyBound { same: false }),
        2 => Ok(BindOutcome::AlreadyBound { same: true }),
        _ => Err(unexpected()),
    }
}

/// The outcome of `issue.lua`.
pub(super) fn issue(value: Value) -> Result<IssueOutcome, StoreError> {
    issue_ticket(value).map(|(outcome, _)| outcome)
}

/// The outcome of `issue.lua` or `issue_ticket.lua`, and whether the
/// owner's counter applies (the ticket is bound to the address).
pub(super) fn issue_ticket(value: Value) -> Result<(IssueOutcome, bool), StoreError> {
    let (tag, fields) = tagged(value)?;
    let outcome = match (tag.as_str(), fields.as_slice()) {
        ("issued", [expires, next, bound, attempts]) => {
            let bound = int(bound)? == 1;
            let issued = IssueOutcome::Issued {
                expires_at: time(expires)?,
                next_send_at: time(next)?,
                bound,
                attempts_used: u32::try_from(int(attempts)?).map_err(|_| unexpected())?,
            };
            return Ok((issued, bound));
        }
        ("not_bound", []) => IssueOutcome::NotBound,
        ("ticket", [retry]) => IssueOutcome::TicketThrottled {
            retry_at: time(retry)?,
        },
        ("address", [retry, budget]) => IssueOutcome::AddressThrottled {
            retry_at: time(retry)?,
            budget: std::str::from_utf8(bytes(budget)?)
                .ok()
                .and_then(SendBudget::from_name)
                .ok_or_else(unexpected)?,
        },
        ("locked", [until]) => IssueOutcome::Locked {
            until: time(until)?,
        },
        ("bound", []) => IssueOutcome::BoundElsewhere,
        _ => return Err(unexpected()),
    };
    Ok((outcome, false))
}

/// The outcome of `take_address.lua`: `None` when the send was counted, else
/// when a send to the address will be allowed.
pub(super) fn take_address(value: Value) -> Result<Option<Timestamp>, StoreError> {
    let (tag, fields) = tagged(value)?;
    match (tag.as_str(), fields.as_slice()) {
        ("ok", []) => Ok(None),
        ("address", [retry, _]) => Ok(Some(time(retry)?)),
        _ => Err(unexpected()),
    }
}

pub(super) fn verify(value: Value) -> Result<VerifyOutcome, StoreError> {
    let (tag, fields) = tagged(value)?;
    match (tag.as_str(), fields.as_slice()) {
        ("verified", [bound, newly, generation, earlier, previous]) => {
            Ok(VerifyOutcome::Verified {
                address: address(bound)?.ok_or_else(unexpected)?,
                newly_bound: int(newly)? == 1,
                earlier_device: int(earlier)? == 1,
                generation: uint(generation)?,
                previous_locale: locale(previous)?,
            })
        }
        ("wrong", [left, locked]) => {
            let locked = uint(locked)?;
            Ok(VerifyOutcome::Wrong {
                attempts_left: u32_of(left)?,
                locked_until: (locked > 0).then_some(Timestamp::from_millis(locked)),
            })
        }
        ("expired", []) => Ok(VerifyOutcome::Expired),
        ("nocode", []) => Ok(VerifyOutcome::NoCode),
        ("exhausted", []) => Ok(VerifyOutcome::Exhausted),
        ("locked", [until]) => Ok(VerifyOutcome::Locked {
            until: time(until)?,
        }),
        _ => Err(unexpected()),
    }
}

/// The outcome of `withdraw_binding.lua`: the new generation, or `None`
/// (-1) when the binding was not withdrawn.
pub(super) fn withdraw_binding(value: Value) -> Result<Option<u64>, StoreError> {
    match int(&value)? {
        -1 => Ok(None),
        _ => uint(&value).map(Some),
    }
}

/// The outcome of `unbind.lua`.
pub(super) fn unbind(value: Value) -> Result<UnbindOutcome, StoreError> {
    match items(value)?.as_slice() {
        [previous, generation] => Ok(UnbindOutcome {
            previous: address(previous)?,
            generation: uint(generation)?,
        }),
        _ => Err(unexpected()),
    }
}

/// The outcome of `rebind.lua`.
pub(super) fn rebind(value: Value) -> Result<RebindOutcome, StoreError> {
    let (tag, fields) = tagged(value)?;
    match (tag.as_str(), fields.as_slice()) {
        ("unchanged", []) => Ok(RebindOutcome::Unchanged),
        ("rebound", [previous, previous_locale, generation]) => Ok(RebindOutcome::Rebound {
            previous: address(previous)?,
            previous_locale: locale(previous_locale)?,
            generation: uint(generation)?,
        }),
        _ => Err(unexpected()),
    }
}

/// The outcome of `clear_lockout.lua`.
pub(super) fn clear_lockout(value: Value) -> Result<LockoutCleared, StoreError> {
    match items(value)?.as_slice() {
        [locked, failures] => {
            let locked = uint(locked)?;
            Ok(LockoutCleared {
                locked_until: (locked > 0).then_some(Timestamp::from_millis(locked)),
                consecutive_failures: u32_of(failures)?,
            })
        }
        _ => Err(unexpected()),
    }
}

/// The state record as `state.lua` keeps it: `1 <fingerprint hex> <held 0|1>`.
pub(super) fn encode_state(record: &StateRecord) -> String {
    format!(
        "1 {} {}",
        record.fingerprint.to_hex(),
        u8::from(record.first_devices_held)
    )
}

/// `state.lua`'s reply: the record held and whether the call wrote it.
pub(super) fn state(reply: Value) -> Result<StateRead, StoreError> {
    let bad = || StoreError::msg("unexpected state record in redis");
    let Value::Array(items) = reply else {
        return Err(bad());
    };
    let [
        Value::BulkString(record),
        Value::Int(written),
        Value::BulkString(secs),
        Value::BulkString(micros),
    ] = items.as_slice()
    else {
        return Err(bad());
    };
    let number = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(bad)
    };
    let store_time = Timestamp::from_millis(number(secs)? * 1000 + number(micros)? / 1000);
    let text = std::str::from_utf8(record).map_err(|_| bad())?;
    let mut fields = text.split(' ');
    let (Some("1"), Some(hex), Some(held), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad());
    };
    let fingerprint = StateFingerprint::from_hex(hex).ok_or_else(bad)?;
    let first_devices_held = match held {
        "0" => false,
        "1" => true,
        _ => return Err(bad()),
    };
    Ok(StateRead {
        record: StateRecord {
            fingerprint,
            first_devices_held,
        },
        written: *written == 1,
        store_time: Some(store_time),
    })
}
