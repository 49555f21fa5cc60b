//! The metrics the flow records through the `metrics` facade: names, labels,
//! and that the verified path records none.
#![cfg(feature = "metrics")]

mod stall_support;

use std::collections::HashMap;
use std::sync::Arc;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower_otp::metrics::names;
use tower_otp::store::Store;
use tower_otp::testing::{StoreCall, StoreTap};
use tower_otp::{
    Flow, Locale, MemoryStore, Secret, TicketId, Timestamp, flow::SendRequest,
    testing::CapturingMailer, testing::ManualClock,
};

/// Runs `body` on a current-thread runtime with a recorder of its own, and
/// returns what was recorded: counters by `name{label=value}`, histogram
/// sample counts and gauges' last values the same way.
fn recorded<F: Future<Output = ()>>(body: impl FnOnce() -> F) -> HashMap<String, u64> {
    let recorder = DebuggingRecorder::new();
    let snapshotter: Snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(body()));
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            let value = match value {
                DebugValue::Counter(n) => n,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(value) => {
                    let value = value.into_inner();
                    assert!(value >= 0.0 && value.fract() == 0.0, "{name}: {value}");
                    value as u64
                }
            };
            (name, value)
        })
        .collect()
}

fn flow(store: impl Store, mailer: CapturingMailer) -> Flow {
    flow_at(
        store,
        mailer,
        ManualClock::new(Timestamp::from_millis(1_800_000_000_000)),
    )
}

fn flow_at(store: impl Store, mailer: CapturingMailer, clock: ManualClock) -> Flow {
    Flow::new(&Secret::random(), store, mailer).with_clock(clock)
}

#[test]
fn a_challenge_records_sends_verifications_and_latencies() {
    let seen = recorded(|| async {
        let mailer = CapturingMailer::new();
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let flow = flow_at(MemoryStore::new(), mailer.clone(), clock.clone());
        let ticket = flow.ticket_key(&TicketId::new("m-1"));
        flow.claim_first_device(&ticket).await.unwrap();
        flow.send(
            &ticket,
            SendRequest::new(Locale::En).with_email("hanako@example.jp"),
        )
        .await
        .unwrap();
        let code = mailer.last_code().unwrap();
        let wrong = if code.as_str() == "000000" {
            "111111"
        } else {
            "000000"
        };
        assert!(flow.verify(&ticket, wrong).await.is_err());
        assert!(flow.verify(&ticket, "not a code").await.is_err());
        flow.verify(&ticket, code.as_str()).await.unwrap();
        // A second device of the bound ticket: its owner gets a notice.
        clock.advance(std::time::Duration::from_secs(120));
        flow.send(&ticket, SendRequest::new(Locale::En))
            .await
            .unwrap();
        let code = mailer.last_code().unwrap();
        flow.verify(&ticket, code.as_str()).await.unwrap();
        flow.settled().await;
        // A code left to expire.
        clock.advance(std::time::Duration::from_secs(600));
        flow.send(&ticket, SendRequest::new(Locale::En))
            .await
            .unwrap();
        clock.advance(std::time::Duration::from_secs(301));
        assert!(flow.verify(&ticket, code.as_str()).await.is_err());
    });
    let expect = [
        (names::FIRST_DEVICE_CLAIMS.to_owned(), 1),
        (names::CODES_SENT.to_owned(), 3),
        (format!("{}{{outcome=verified}}", names::VERIFICATIONS), 2),
        (format!("{}{{outcome=wrong}}", names::VERIFICATIONS), 1),
        (format!("{}{{outcome=invalid}}", names::VERIFICATIONS), 1),
        (format!("{}{{outcome=expired}}", names::VERIFICATIONS), 1),
        (
            format!("{}{{op=claim_first_device}}", names::STORE_DURATION),
            1,
        ),
        (format!("{}{{op=issue_code}}", names::STORE_DURATION), 3),
        (format!("{}{{op=verify_code}}", names::STORE_DURATION), 4),
        (format!("{}{{kind=code}}", names::MAIL_DURATION), 3),
        (format!("{}{{kind=notice}}", names::MAIL_DURATION), 1),
    ];
    for (name, count) in expect {
        assert_eq!(seen.get(&name), Some(&count), "{name} in {seen:#?}");
    }
    assert!(
        !seen.keys().any(|k| k.contains("errors")),
        "no errors: {seen:#?}"
    );
    for key in seen.keys() {
        assert!(!key.contains("example"), "no address in a label: {key}");
        assert!(!key.contains("m-1"), "no ticket in a label: {key}");
    }
}

#[test]
fn mailer_and_store_failures_are_counted_by_kind_and_operation() {
    let seen = recorded(|| async {
        let mailer = CapturingMailer::new();
        mailer.set_failing(true);
        let flow = flow(MemoryStore::new(), mailer);
        let ticket = flow.ticket_key(&TicketId::new("m-2"));
        let request = SendRequest::new(Locale::En).with_email("taro@example.com");
        assert!(flow.send(&ticket, request).await.is_err());

        let down = flow_over_down_store();
        assert!(down.challenge(&ticket).await.is_err());
    });
    assert_eq!(
        seen.get(&format!("{}{{kind=code}}", names::MAIL_ERRORS)),
        Some(&1),
        "{seen:#?}"
    );
    assert_eq!(
        seen.get(&format!("{}{{op=load}}", names::STORE_ERRORS)),
        Some(&1),
        "{seen:#?}"
    );
    assert_eq!(seen.get(names::CODES_SENT), None, "{seen:#?}");
}

#[test]
fn describe_gives_each_metric_a_description_and_latencies_a_unit() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tower_otp::metrics::describe();
        metrics::counter!(names::CODES_SENT).increment(1);
        metrics::histogram!(names::STORE_DURATION, "op" => "load").record(0.001);
    });
    let snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(snapshot.len(), 2);
    for (key, unit, description, _) in snapshot {
        assert!(description.is_some(), "{key:?} is described");
        if key.key().name() == names::STORE_DURATION {
            assert_eq!(unit, Some(metrics::Unit::Seconds));
        }
    }
}

/// A flow over a store whose backend is unreachable: every call fails but
/// the store's record of itself (so that the operation after it is the one
/// that fails and is counted).
fn flow_over_down_store() -> Flow {
    let store = StoreTap::new(MemoryStore::new());
    for call in StoreCall::ALL {
        if call != StoreCall::State {
            store.fail(call);
        }
    }
    flow(store, CapturingMailer::new())
}

/// Each support action is counted by its name, its store call is
/// timed, and the rebind notice counts as a notice.
#[test]
fn support_actions_are_counted_by_action() {
    let seen = recorded(|| async {
        let flow = flow(MemoryStore::new(), CapturingMailer::new());
        let ticket = flow.ticket_key(&TicketId::new("m-support"));
        let address = |s: &str| tower_otp::EmailAddress::parse(s).unwrap();
        flow.pre_bind(&ticket, &address("old@example.com"))
            .await
            .unwrap();
        flow.inspect(&ticket).await.unwrap();
        flow.inspect_unmasked(&ticket).await.unwrap();
        flow.rebind(&ticket, &address("new@example.com"))
            .await
            .unwrap();
        flow.clear_lockout(&ticket).await.unwrap();
        flow.unbind(&ticket).await.unwrap();
        flow.forget(&ticket).await.unwrap();
        flow.settled().await;
    });
    let action = |a: &str| format!("{}{{action={a}}}", names::SUPPORT_ACTIONS);
    for (name, n) in [
        (action("inspect"), 2),
        (action("rebind"), 1),
        (action("clear_lockout"), 1),
        (action("unbind"), 1),
        (action("forget"), 1),
        (format!("{}{{op=rebind}}", names::STORE_DURATION), 1),
        (format!("{}{{op=forget}}", names::STORE_DURATION), 1),
        (format!("{}{{kind=notice}}", names::MAIL_DURATION), 1),
    ] {
        assert_eq!(seen.get(&name), Some(&n), "{name} in {seen:?}");
    }
}

/// Each refused send is counted under the budget that refused it, and each
/// wrong entry under its place in the ticket's round: guesses spread over
/// many tickets stay at `1`, an attack on one ticket climbs.
#[test]
fn refusals_name_their_budget_and_wrong_codes_their_place() {
    let seen = recorded(|| async {
        let mailer = CapturingMailer::new();
        let flow = flow(MemoryStore::new(), mailer.clone());
        let client = std::net::IpAddr::from([192, 0, 2, 1]);
        let send = |id: &str, to: &'static str| {
            let (flow, ticket) = (flow.clone(), flow.ticket_key(&TicketId::new(id)));
            async move {
                let request = SendRequest::new(Locale::En)
                    .with_email(to)
                    .with_client(Some(client));
                flow.send(&ticket, request).await
            }
        };
        send("b-1", "one@example.jp").await.unwrap();
        assert!(send("b-1", "one@example.jp").await.is_err(), "ticket");
        for k in 2..5 {
            send(&format!("b-{k}"), "two@example.jp").await.unwrap();
        }
        assert!(send("b-5", "three@example.jp").await.is_err(), "client");
        // Five wrong entries on one ticket, one on each of three others.
        let wrong = |to: &str| {
            let address = tower_otp::EmailAddress::parse(to).unwrap();
            let code = mailer.last_code_for(&address).unwrap();
            if code.as_str() == "000000" {
                "111111"
            } else {
                "000000"
            }
            .to_owned()
        };
        let ticket = flow.ticket_key(&TicketId::new("b-1"));
        for _ in 0..5 {
            let refused = flow.verify(&ticket, &wrong("one@example.jp")).await;
            assert!(refused.is_err());
        }
        for k in 0..3 {
            let ticket = flow.ticket_key(&TicketId::new(format!("c-{k}")));
            let to = format!("spread{k}@example.jp");
            let request = SendRequest::new(Locale::En).with_email(&to);
            flow.send(&ticket, request).await.unwrap();
            assert!(flow.verify(&ticket, &wrong(&to)).await.is_err());
        }
    });
    let count = |name: &str, label: &str| seen.get(&format!("{name}{{{label}}}")).copied();
    assert_eq!(count(names::SENDS_THROTTLED, "budget=ticket"), Some(1));
    assert_eq!(count(names::SENDS_THROTTLED, "budget=client"), Some(1));
    assert_eq!(count(names::WRONG_CODES, "attempt=5"), Some(1));
    assert_eq!(count(names::WRONG_CODES, "attempt=2"), Some(1));
    assert_eq!(
        count(names::WRONG_CODES, "attempt=1"),
        Some(4),
        "one per ticket"
    );
    assert!(
        !seen.contains_key(names::SENDS_THROTTLED),
        "never without its budget: {seen:#?}"
    );
}

/// Store calls in flight are a gauge (back to zero once they are done), and
/// a call refused at once past the bound is counted by its operation.
#[test]
fn calls_in_flight_and_calls_refused_past_the_bound_are_measured() {
    let seen = recorded(|| async {
        let store = stall_support::Stall::new();
        let flow = flow(Arc::clone(&store), CapturingMailer::new())
            .with_store_concurrency(1)
            .unwrap();
        let ticket = flow.ticket_key(&TicketId::new("m-busy"));
        flow.claim_first_device(&ticket).await.unwrap();
        store.pause(true);
        let held = tokio::spawn({
            let flow = flow.clone();
            async move { flow.claim_first_device(&ticket).await }
        });
        while store.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..3 {
            assert!(flow.challenge(&ticket).await.is_err(), "refused at once");
        }
        assert!(flow.revoke_devices(&ticket).await.is_err());
        store.pause(false);
        held.await.unwrap().unwrap();
        assert_eq!(flow.store_calls_in_flight(), 0);
    });
    let busy = |op: &str| {
        seen.get(&format!("{}{{op={op}}}", names::STORE_BUSY))
            .copied()
    };
    assert_eq!(busy("load"), Some(3), "{seen:#?}");
    assert_eq!(busy("revoke_devices"), Some(1), "{seen:#?}");
    assert_eq!(seen.get(names::STORE_IN_FLIGHT), Some(&0), "{seen:#?}");
    assert!(
        !seen.contains_key(names::STORE_BUSY),
        "never without its op"
    );
}

/// A SQL store tells how many connections its pool has open, and how many
/// of them are idle.
#[cfg(feature = "sqlite")]
#[test]
fn a_sql_store_reports_its_pool() {
    let seen = recorded(|| async {
        let dir = tempfile::tempdir().unwrap();
        let store = tower_otp::SqliteStore::open(dir.path().join("otp.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let flow = flow(store, CapturingMailer::new());
        let ticket = flow.ticket_key(&TicketId::new("m-pool"));
        flow.claim_first_device(&ticket).await.unwrap();
        flow.challenge(&ticket).await.unwrap();
    });
    let size = seen.get(names::STORE_POOL_SIZE).copied();
    let idle = seen.get(names::STORE_POOL_IDLE).copied();
    assert!(size.is_some_and(|n| n >= 1), "{seen:#?}");
    assert!(idle.is_some_and(|n| n <= size.unwrap()), "{seen:#?}");
}
