//! `RedisStore` against a real Redis: the conformance suite on one node (both
//! forms of `issue_code`) and on a Redis Cluster, each through two store
//! instances with their own connections, plus what only Redis has: key
//! layout and TTLs, round trips per operation, timeouts, secrets in `Debug`.
//!
//! The servers come from the environment at run time:
//! `OTP_TEST_REDIS_URL` (one node) and `OTP_TEST_REDIS_CLUSTER_URLS`
//! (comma-separated cluster nodes, see `.ci/redis-cluster.sh`). A test whose
//! server is not configured says so and passes.

#![cfg(feature = "redis")]

mod needs;
mod redis_support;

use std::sync::Arc;
use std::time::Duration;

use redis_support::{PrivateRedis, cluster_store, cluster_urls, single_store, single_url};
use tower_otp::redis::{self, AsyncCommands};
use tower_otp::store::conformance::{Instances, random_address, random_code, random_ticket};
use tower_otp::store::{
    BindRequest, ClaimRequest, IssueOutcome, IssueRequest, Policy, Store, TicketSnapshot,
    VerifyOutcome, VerifyRequest,
};
use tower_otp::{EmailAddress, RedisStore, TicketKey, Timestamp};

/// Two instances on the single node, each with its own connection, under a
/// prefix of each form's own (the state record check starts from none).
async fn single_instances(per_slot: bool) -> Option<Instances> {
    let url = single_url()?;
    let form = if per_slot { "per-slot" } else { "whole" };
    let prefix = format!("{}-{form}", *redis_support::RUN_PREFIX);
    let mut handles: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..2 {
        let store = single_store(&url)
            .await
            .with_prefix(&prefix)
            .unwrap()
            .with_per_slot_scripts(per_slot);
        handles.push(Arc::new(store));
    }
    Some(Instances::many(handles))
}

/// Two instances on the cluster, each with its own connections.
async fn cluster_instances() -> Option<Instances> {
    let urls = cluster_urls()?;
    let mut handles: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..2 {
        handles.push(Arc::new(cluster_store(&urls).await));
    }
    Some(Instances::many(handles))
}

/// One node, every operation one script (`issue_code` included).
mod single_node {
    use super::*;

    tower_otp::store_conformance_tests!(instances: match single_instances(false).await {
        Some(instances) => instances,
        None => return,
    });
}

/// One node, `issue_code` in its per-slot form (as on a cluster).
mod single_node_per_slot {
    use super::*;

    tower_otp::store_conformance_tests!(instances: match single_instances(true).await {
        Some(instances) => instances,
        None => return,
    });
}

/// A Redis Cluster of three primaries.
mod cluster {
    use super::*;

    tower_otp::store_conformance_tests!(instances: match cluster_instances().await {
        Some(instances) => instances,
        None => return,
    });
}

/// A restart (new stores and connections under the same prefix), on the
/// single node and on the cluster, and an outage of a private node.
mod lifecycle {
    use super::*;

    mod single_node {
        use super::*;

        tower_otp::store_conformance_tests!(
            lifecycle: match redis_support::RedisBacking::single() {
                Some(backing) => backing,
                None => return,
            } => [reopen_keeps_everything]
        );
    }

    mod cluster {
        use super::*;

        tower_otp::store_conformance_tests!(
            lifecycle: match redis_support::RedisBacking::cluster() {
                Some(backing) => backing,
                None => return,
            } => [reopen_keeps_everything]
        );
    }

    mod private_node {
        use super::*;

        tower_otp::store_conformance_tests!(
            lifecycle: match redis_support::PrivateRedisBacking::start() {
                Some(backing) => backing,
                None => return,
            } => [outage_fails_then_heals]
        );
    }
}

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

async fn issue(
    store: &RedisStore,
    ticket: &TicketKey,
    address: &EmailAddress,
    key: &tower_otp::store::CounterKeys,
    at: Timestamp,
) -> (IssueOutcome, tower_otp::store::CodeHash) {
    let code = random_code();
    let policy = Policy::default();
    let request = IssueRequest::new(ticket, address, key, &code, at, &policy);
    (store.issue_code(&request).await.unwrap(), code)
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The records are where the documentation says, the long-lived one without
/// a TTL, the challenge and the address counter until an hour (plus a
/// minute) after the send.
#[tokio::test]
async fn key_layout_and_ttls() {
    let Some(url) = single_url() else { return };
    let store = single_store(&url).await;
    let prefix = store.prefix().to_owned();
    let mut redis = raw(&url).await;
    let (ticket, (address, key)) = (random_ticket(), random_address());
    let (outcome, code) = issue(&store, &ticket, &address, &key, now()).await;
    assert!(matches!(outcome, IssueOutcome::Issued { .. }));
    let policy = Policy::default();
    let verify = VerifyRequest::new(&ticket, &code, now(), &policy);
    assert!(matches!(
        store.verify_code(&verify).await.unwrap(),
        VerifyOutcome::Verified { .. }
    ));

    let t = ticket.as_str();
    let record = format!("{prefix}:{{{t}}}:rec");
    let challenge = format!("{prefix}:{{{t}}}:chal");
    let hex: String = key
        .mailbox
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let counter = format!("{prefix}:addr:{{{hex}}}");
    let bound: Option<String> = redis.hget(&record, "bound").await.unwrap();
    assert_eq!(bound.as_deref(), Some(address.as_str()));
    let ttl: i64 = redis.pttl(&record).await.unwrap();
    assert_eq!(ttl, -1, "the long-lived record has no TTL");
    // The challenge keeps the send times for the hour's window.
    let hour_and_grace = 3_660_000;
    for key in [&challenge, &counter] {
        let ttl: i64 = redis.pttl(key).await.unwrap();
        assert!(
            (hour_and_grace - 10_000..=hour_and_grace).contains(&ttl),
            "{key}: {ttl}"
        );
    }
    let undo: Vec<String> = redis
        .keys(format!("{prefix}:{{{t}}}:undo:*"))
        .await
        .unwrap();
    assert!(undo.is_empty(), "one node never needs undo data");
}

/// A send refused by the address cap leaves the ticket exactly as it was, in
/// both forms of `issue_code` (the per-slot one puts it back).
#[tokio::test]
async fn address_refusal_leaves_the_ticket_as_it_was() {
    let Some(url) = single_url() else { return };
    for per_slot in [false, true] {
        let store = single_store(&url).await.with_per_slot_scripts(per_slot);
        let t0 = now();
        let policy = Policy::default();
        let (ticket, (pending, pending_key)) = (random_ticket(), random_address());
        let (outcome, code) = issue(&store, &ticket, &pending, &pending_key, t0).await;
        assert!(matches!(outcome, IssueOutcome::Issued { .. }));
        let guess = random_code();
        let wrong = VerifyRequest::new(&ticket, &guess, t0, &policy);
        let outcome = store.verify_code(&wrong).await.unwrap();
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
        let before = store.load(&ticket, t0, &policy).await.unwrap();

        // Another address, at its cap through other tickets.
        let (busy, busy_key) = random_address();
        for _ in 0..10 {
            let (outcome, _) = issue(&store, &random_ticket(), &busy, &busy_key, t0).await;
            assert!(matches!(outcome, IssueOutcome::Issued { .. }));
        }
        let later = t0 + Duration::from_secs(60);
        let (outcome, refused) = issue(&store, &ticket, &busy, &busy_key, later).await;
        assert!(
            matches!(outcome, IssueOutcome::AddressThrottled { .. }),
            "{outcome:?}"
        );
        let after = store.load(&ticket, later, &policy).await.unwrap();
        assert_same(&before, &after, per_slot);
        let verify = VerifyRequest::new(&ticket, &code, later, &policy);
        assert!(
            matches!(
                store.verify_code(&verify).await.unwrap(),
                VerifyOutcome::Verified { ref address, .. } if *address == pending
            ),
            "per_slot: {per_slot}"
        );
        // Undo data is removed once used, and otherwise expires within a minute.
        let mut redis = raw(&url).await;
        let pattern = format!("{}:{{{}}}:undo:", store.prefix(), ticket.as_str());
        let refused_hex: String = refused.as_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let undo: Vec<String> = redis.keys(format!("{pattern}*")).await.unwrap();
        assert!(
            !undo.contains(&format!("{pattern}{refused_hex}")),
            "{undo:?}"
        );
        assert_eq!(undo.len(), usize::from(per_slot), "{undo:?}");
        for key in undo {
            let ttl: i64 = redis.pttl(&key).await.unwrap();
            assert!((1..=60_000).contains(&ttl), "{key}: {ttl}");
        }
    }
}

fn assert_same(a: &TicketSnapshot, b: &TicketSnapshot, per_slot: bool) {
    let hashes = |s: &TicketSnapshot| -> Vec<[u8; 32]> {
        s.live_codes.iter().map(|c| *c.hash.as_bytes()).collect()
    };
    assert_eq!(a.pending, b.pending, "per_slot: {per_slot}");
    assert_eq!(hashes(a), hashes(b), "per_slot: {per_slot}");
    assert_eq!(a.recent_sends, b.recent_sends, "per_slot: {per_slot}");
    assert_eq!(
        (a.attempts_used, a.consecutive_failures),
        (b.attempts_used, b.consecutive_failures),
        "per_slot: {per_slot}"
    );
}

/// Each operation is one round trip: one `EVALSHA` (or one `HINCRBY`).
#[tokio::test]
async fn one_round_trip_per_operation() {
    let Some(server) = PrivateRedis::start(&[]) else {
        return;
    };
    let store = RedisStore::new(&server.url()).await.unwrap();
    let policy = Policy::default();
    let (ticket, (address, key)) = (random_ticket(), random_address());
    let code = random_code();
    let t0 = now();
    let issue = IssueRequest::new(&ticket, &address, &key, &code, t0, &policy);
    let verify = VerifyRequest::new(&ticket, &code, t0, &policy);

    let mut counts = Vec::new();
    for step in 0..8 {
        let before = server.command_calls().await;
        match step {
            0 => drop(store.load(&ticket, t0, &policy).await.unwrap()),
            1 => drop(
                store
                    .claim_first_device(&ClaimRequest::new(&ticket, t0, &policy))
                    .await
                    .unwrap(),
            ),
            2 => drop(store.issue_code(&issue).await.unwrap()),
            3 => store.withdraw_code(&issue).await.unwrap(),
            4 => drop(store.issue_code(&issue).await.unwrap()),
            5 => drop(store.verify_code(&verify).await.unwrap()),
            6 => drop(store.restart(&ticket, t0).await.unwrap()),
            _ => drop(store.revoke_devices(&ticket).await.unwrap()),
        }
        let after = server.command_calls().await;
        let delta = |name: &str| {
            after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
        };
        // (Commands a script runs are counted too; revoke_devices is a script.)
        let trips = delta("evalsha") + delta("eval") + delta("script|load");
        counts.push(trips);
    }
    assert_eq!(counts, vec![1; 8], "round trips per operation");
}

/// A Redis that stops answering makes calls fail after the timeout, with
/// the cause kept; once it answers again, so does the store.
///
/// Real time is the point (the store's own timer on a frozen server), so the
/// bounds are wide for a loaded machine: the call may not fail before its
/// 200 ms, and must within 10 s (without a timeout it would wait forever);
/// after the server resumes, calls are retried until one succeeds, for up
/// to 30 s, instead of sleeping a fixed time and hoping.
#[tokio::test]
async fn a_stalled_redis_times_out() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let Some(server) = PrivateRedis::start(&[]) else {
        return;
    };
    let store = RedisStore::new(&server.url())
        .await
        .unwrap()
        .with_timeout(TIMEOUT)
        .unwrap();
    let policy = Policy::default();
    let ticket = random_ticket();
    store.load(&ticket, now(), &policy).await.unwrap();
    server.freeze(true);
    let started = std::time::Instant::now();
    let stalled =
        tokio::time::timeout(Duration::from_secs(10), store.load(&ticket, now(), &policy)).await;
    let waited = started.elapsed();
    server.freeze(false);
    let error = stalled
        .unwrap_or_else(|_| panic!("no timeout: still waiting after {waited:?}"))
        .unwrap_err();
    assert!(waited >= TIMEOUT, "failed before the timeout: {waited:?}");
    assert_eq!(error.to_string(), "store unavailable: redis call timed out");
    assert!(
        std::error::Error::source(&error).is_some(),
        "keeps its source"
    );
    let resumed = std::time::Instant::now();
    loop {
        match store.load(&ticket, now(), &policy).await {
            Ok(snapshot) => {
                assert_eq!(snapshot.generation, 0);
                break;
            }
            Err(error) => {
                assert!(
                    resumed.elapsed() < Duration::from_secs(30),
                    "still failing 30 s after the server resumed: {error}"
                );
                assert!(
                    error.to_string().starts_with("store unavailable"),
                    "{error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A password in the URL never shows in `Debug`, nor in a connection error.
#[tokio::test]
async fn debug_and_errors_hide_the_password() {
    let Some(server) = PrivateRedis::start(&["--requirepass", "s3cret-pw"]) else {
        return;
    };
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", server.port);
    let store = RedisStore::new(&url).await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(
        debug.contains(&format!("127.0.0.1:{}", server.port)),
        "{debug}"
    );
    assert!(debug.contains("prefix: \"otp\""), "{debug}");

    let url = format!("redis://:wrong-pw@127.0.0.1:{}", server.port);
    let error = RedisStore::new(&url).await.unwrap_err();
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(" / {cause}"));
        source = cause.source();
    }
    assert!(!chain.contains("wrong-pw"), "{chain}");
}

/// Prefixes that would break the hash tags, and timeouts out of range, are refused.
#[tokio::test]
async fn settings_are_checked() {
    let Some(url) = single_url() else { return };
    let store = RedisStore::new(&url).await.unwrap();
    assert_eq!(store.prefix(), "otp");
    assert_eq!(store.timeout(), RedisStore::DEFAULT_TIMEOUT);
    let refused = |result: Result<RedisStore, tower_otp::ConfigError>| match result {
        Ok(store) => panic!("accepted: {store:?}"),
        Err(error) => error.to_string(),
    };
    let prefix = "redis key prefix must be 1 to 64 printable ASCII characters without braces";
    for bad in ["a{b}", "a}", "", "a b", &"p".repeat(65)] {
        assert_eq!(refused(store.clone().with_prefix(bad)), prefix, "{bad:?}");
    }
    let timeout = "redis timeout must be between 1 ms and 60 s";
    for bad in [
        Duration::ZERO,
        Duration::from_micros(999),
        Duration::from_millis(60_001),
    ] {
        assert_eq!(refused(store.clone().with_timeout(bad)), timeout, "{bad:?}");
    }
    for good in [Duration::from_millis(1), Duration::from_secs(60)] {
        assert_eq!(store.clone().with_timeout(good).unwrap().timeout(), good);
    }
    assert_eq!(
        store
            .clone()
            .with_prefix(&"p".repeat(64))
            .unwrap()
            .prefix()
            .len(),
        64
    );
    let store = store.with_prefix("app:otp").unwrap();
    assert_eq!(store.prefix(), "app:otp");
}

/// Redis memory per pending challenge (one code sent to one address, the
/// address counter included) and per bound ticket, from `used_memory` on a
/// server of the test's own.
#[tokio::test]
async fn memory_per_record() {
    let Some(server) = PrivateRedis::start(&[]) else {
        return;
    };
    let store = RedisStore::new(&server.url()).await.unwrap();
    let mut redis = raw(&server.url()).await;
    async fn used(redis: &mut redis::aio::MultiplexedConnection) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(redis)
            .await
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
    const N: u64 = 10_000;
    let t0 = now();
    let before = used(&mut redis).await;
    for _ in 0..N {
        let (address, key) = random_address();
        let (outcome, _) = issue(&store, &random_ticket(), &address, &key, t0).await;
        assert!(matches!(outcome, IssueOutcome::Issued { .. }));
    }
    let pending = (used(&mut redis).await - before) / N;
    let before = used(&mut redis).await;
    for _ in 0..N {
        let ticket = random_ticket();
        store
            .claim_first_device(&ClaimRequest::new(&ticket, t0, &Policy::default()))
            .await
            .unwrap();
        store
            .bind(&BindRequest::new(
                &ticket,
                &random_address().0,
                Timestamp::from_millis(1),
            ))
            .await
            .unwrap();
    }
    let bound = (used(&mut redis).await - before) / N;
    eprintln!("redis store: {pending} bytes per pending challenge, {bound} per bound ticket");
    assert!(pending <= 1024, "{pending} bytes per pending challenge");
    assert!(bound <= 512, "{bound} bytes per bound ticket");
}

/// The least-privilege ACL user that `docs/redis.md` recommends is enough.
#[tokio::test]
async fn works_as_a_least_privilege_acl_user() {
    let Some(server) = PrivateRedis::start(&[]) else {
        return;
    };
    let mut admin = raw(&server.url()).await;
    let rule = "on >otp-pw ~otp:* resetchannels -@all +evalsha +script|load +hincrby \
                +get +set +del +hget +hset +hmget +hdel +hexists +hlen +pexpire +persist +ping";
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("otp-app")
        .arg(rule.split_whitespace().collect::<Vec<_>>())
        .query_async(&mut admin)
        .await
        .unwrap();
    let url = format!("redis://otp-app:otp-pw@127.0.0.1:{}", server.port);
    let store = RedisStore::new(&url).await.unwrap();
    let instances = Instances::one(store);
    tower_otp::store::conformance::success_resets_failures_and_binds(&instances).await;
    tower_otp::store::conformance::withdraw_refunds_the_send(&instances).await;
    tower_otp::store::conformance::revoke_bumps_generation(&instances).await;
    tower_otp::store::conformance::restart_keeps_attempts(&instances).await;
    tower_otp::store::conformance::load_shows_everything(&instances).await;
    tower_otp::store::conformance::lockout_after_consecutive_failures(&instances).await;
    tower_otp::store::conformance::claim_lapses_while_unbound(&instances).await;
    tower_otp::store::conformance::claim_kept_once_bound(&instances).await;
    tower_otp::store::conformance::verify_reports_earlier_device(&instances).await;
    tower_otp::store::conformance::owner_sends_not_starved_by_strangers(&instances).await;
}

/// A first-device claim on an unbound ticket leaves no key forever. The
/// record that holds only a claim lapses with it (the claim lifetime plus a
/// minute); a binding, a revocation or a verified device keeps the record
/// for good. Measured on a server of its own: 10,000 claims, every key with
/// a TTL, and the memory they take until it runs out.
#[tokio::test]
async fn unbound_claims_expire() {
    let Some(server) = PrivateRedis::start(&[]) else {
        return;
    };
    let store = RedisStore::new(&server.url()).await.unwrap();
    let mut redis = raw(&server.url()).await;
    let policy = Policy::default();
    let life = i64::try_from(policy.claim_lifetime.as_millis()).unwrap() + 60_000;
    let record = |t: &TicketKey| format!("otp:{{{}}}:rec", t.as_str());

    let claimed = random_ticket();
    store
        .claim_first_device(&ClaimRequest::new(&claimed, now(), &policy))
        .await
        .unwrap();
    let ttl: i64 = redis.pttl(record(&claimed)).await.unwrap();
    assert!((life - 10_000..=life).contains(&ttl), "{ttl}");

    let bound = random_ticket();
    store
        .claim_first_device(&ClaimRequest::new(&bound, now(), &policy))
        .await
        .unwrap();
    store
        .bind(&BindRequest::new(
            &bound,
            &random_address().0,
            Timestamp::from_millis(1),
        ))
        .await
        .unwrap();
    let ttl: i64 = redis.pttl(record(&bound)).await.unwrap();
    assert_eq!(ttl, -1, "a binding is kept for good");

    let revoked = random_ticket();
    store
        .claim_first_device(&ClaimRequest::new(&revoked, now(), &policy))
        .await
        .unwrap();
    store.revoke_devices(&revoked).await.unwrap();
    let ttl: i64 = redis.pttl(record(&revoked)).await.unwrap();
    assert_eq!(ttl, -1, "a revocation generation is kept for good");

    // A pre-revoked ticket that is then claimed keeps its record too.
    let ttl: i64 = {
        let t = random_ticket();
        store.revoke_devices(&t).await.unwrap();
        store
            .claim_first_device(&ClaimRequest::new(&t, now(), &policy))
            .await
            .unwrap();
        redis.pttl(record(&t)).await.unwrap()
    };
    assert_eq!(ttl, -1);

    let keys_without_ttl = r"local n = 0
        for _, k in ipairs(redis.call('KEYS', 'otp:*')) do
          if redis.call('PTTL', k) < 0 then n = n + 1 end
        end
        return n";
    let permanent = |redis: &mut redis::aio::MultiplexedConnection| {
        let mut redis = redis.clone();
        async move {
            let n: i64 = redis::cmd("EVAL")
                .arg(keys_without_ttl)
                .arg(0)
                .query_async(&mut redis)
                .await
                .unwrap();
            n
        }
    };
    let before: i64 = permanent(&mut redis).await;
    const N: i64 = 10_000;
    for _ in 0..N {
        let ticket = random_ticket();
        store
            .claim_first_device(&ClaimRequest::new(&ticket, now(), &policy))
            .await
            .unwrap();
    }
    let after = permanent(&mut redis).await;
    assert_eq!(after, before, "no claim left a key without a TTL");
    let keys: i64 = redis::cmd("DBSIZE").query_async(&mut redis).await.unwrap();
    eprintln!(
        "redis store: {N} unbound claims: {keys} keys, {} without a TTL (the 3 bound/revoked above)",
        after
    );
}

/// The store says whether it survives a restart from the server's own
/// settings: a Redis that keeps nothing on disk is not durable, so a layer
/// that trusts first devices over it warns.
#[tokio::test]
async fn durability_comes_from_the_servers_settings() {
    for (extra, durable) in [
        (&[][..], false),
        (&["--appendonly", "yes"][..], true),
        (&["--save", "3600 1"][..], true),
    ] {
        let Some(server) = PrivateRedis::start(extra) else {
            return;
        };
        let store = RedisStore::new(&server.url()).await.unwrap();
        assert_eq!(store.is_durable(), durable, "{extra:?}");
    }
}
