//! Store round trips per step, counted through a [`StoreTap`]: the first
//! device costs one store call per HTTP request it is made of, a send and a
//! verify one each, and what a stale instance remembers never sends a code
//! where the store would not.

mod common;

use common::{Browser, Harness, ticket_path};
use http::StatusCode;
use serde_json::json;
use tower_otp::testing::{StoreCall, StoreTap};
use tower_otp::{Flow, MemoryStore, Secret};

/// The ticket store calls made so far (the state record's checks left out:
/// they are the flow's, once in a while, not a request's).
fn ticket_calls(store: &StoreTap<MemoryStore>) -> u64 {
    store.total_calls() - store.calls(StoreCall::State)
}

/// Runs `step` and returns the ticket store calls it made.
async fn calls_of<T>(store: &StoreTap<MemoryStore>, step: impl Future<Output = T>) -> (T, u64) {
    let before = ticket_calls(store);
    let out = step.await;
    (out, ticket_calls(store) - before)
}

fn harness() -> (Harness, StoreTap<MemoryStore>) {
    let store = StoreTap::new(MemoryStore::new());
    let harness = Harness::build(&Secret::random(), store.clone(), |l| l);
    (harness, store)
}

#[tokio::test]
async fn the_first_device_costs_one_call_per_request() {
    let (h, store) = harness();
    let path = ticket_path("first");
    let mut device = h.browser();
    let (probe, calls) = calls_of(&store, device.get(&path)).await;
    assert_eq!(probe.status, StatusCode::SEE_OTHER);
    assert_eq!(calls, 1, "the probe reads the ticket once");
    let location = probe.header("location").unwrap().to_owned();
    let (claimed, calls) = calls_of(&store, device.get(&location)).await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{claimed:?}");
    assert_eq!(calls, 1, "the claim is the request's one call");
    assert_eq!(store.calls(StoreCall::ClaimFirstDevice), 1);
    let (page, calls) = calls_of(&store, device.get(&path)).await;
    assert!(page.is_ticket(), "{page:?}");
    assert_eq!(calls, 0, "the verified device passes without the store");
}

#[tokio::test]
async fn a_send_and_a_verify_are_one_call_each() {
    let (h, store) = harness();
    h.claim("seat").await;
    let path = ticket_path("seat");
    let mut b = h.browser();
    let (page, calls) = calls_of(&store, b.get(&path)).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls, 1, "the challenge page reads the ticket once");

    let send = [("action", "send"), ("email", "minji@example.com")];
    let (sent, calls) = calls_of(&store, b.post_form(&path, &send)).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(calls, 1, "a send is its issue");
    assert_eq!(store.calls(StoreCall::IssueCode), 1);

    b.get(&path).await;
    let code = h.last_code_for("minji@example.com");
    let verify = [("action", "verify"), ("code", code.as_str())];
    let (verified, calls) = calls_of(&store, b.post_form(&path, &verify)).await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER, "{}", verified.body);
    assert_eq!(calls, 1, "a verify is its check");
    let (ticket, calls) = calls_of(&store, b.get(&path)).await;
    assert!(ticket.is_ticket(), "{ticket:?}");
    assert_eq!(calls, 0);

    // A resend to the address now bound, after the cooldown: one call again.
    h.advance(std::time::Duration::from_secs(60));
    let mut other = h.browser();
    other.get(&path).await;
    let (resent, calls) = calls_of(&store, other.post_form(&path, &[("action", "send")])).await;
    assert_eq!(resent.status, StatusCode::SEE_OTHER, "{}", resent.body);
    assert_eq!(calls, 1);
    assert_eq!(h.mailer.count(), 2);
}

#[tokio::test]
async fn the_json_answer_after_a_send_is_the_store_s_word_without_a_read() {
    let (h, store) = harness();
    h.claim("json").await;
    let path = ticket_path("json");
    let mut b = h.browser();
    b.get_json(&path).await;
    let body = json!({"action": "send", "email": "minji@example.com"});
    let (sent, calls) = calls_of(&store, b.post_json(&path, body)).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(calls, 1, "the answer is built from the issue");
    assert_eq!(
        sent.json(),
        json!({
            "state": "code_sent",
            "bound": false,
            "masked_email": "m***@e***.com",
            "expires_in": 300,
            "resend_in": 60,
            "attempts_left": 5,
            "locked_until": null,
        })
    );
    // The same as a read of the ticket says, field by field.
    let (read, _) = calls_of(&store, b.get_json(&path)).await;
    assert_eq!(read.json(), sent.json());

    // A wrong code, then a resend in the same round: the answer keeps the count.
    let wrong = b.post_json(&path, json!({"action": "verify", "code": "000000"}));
    assert_eq!(wrong.await.json()["error"], "invalid_code");
    h.advance(std::time::Duration::from_secs(60));
    let (resent, calls) = calls_of(&store, b.post_json(&path, json!({"action": "resend"}))).await;
    assert_eq!(calls, 1, "{}", resent.body);
    assert_eq!(resent.json()["attempts_left"], 4, "{}", resent.body);
    assert_eq!(resent.json()["resend_in"], 120, "{}", resent.body);
    let read = b.get_json(&path).await;
    assert_eq!(read.json(), resent.json());
}

/// A second instance that never read the ticket reads it once, then sends.
#[tokio::test]
async fn an_instance_that_never_read_the_ticket_reads_it_first() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let a = Harness::build(&secret, store.clone(), |l| l);
    a.claim("pair").await;
    let (mut owner, code) = a.sent("pair", "owner@example.com").await;
    let verify = [("action", "verify"), ("code", code.as_str())];
    owner.post_form(&ticket_path("pair"), &verify).await;
    let b = Harness::build(&secret, store.clone(), |l| l);
    b.advance(std::time::Duration::from_secs(60));
    let mut stranger = Browser::on(b.app.clone());
    let path = ticket_path("pair");
    // The page came from instance A; the send lands on B.
    let mut on_a = Browser::on(a.app.clone());
    on_a.get(&path).await;
    stranger.copy_cookies_from(&on_a);
    stranger.csrf = on_a.csrf.clone();
    let send = [("action", "send"), ("email", "someone@example.com")];
    let (sent, calls) = calls_of(&store, stranger.post_form(&path, &send)).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(calls, 2, "a read, then the issue");
    let mails = b.mailer.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to.as_str(), "owner@example.com", "the binding's");
}

/// What an instance remembers is checked by the store: after support
/// unbinds a ticket on another instance, a send on this one does not go to
/// the address that was bound.
#[tokio::test]
async fn a_remembered_binding_the_store_no_longer_holds_sends_nothing_to_it() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let a = Harness::build(&secret, store.clone(), |l| l);
    a.claim("gone").await;
    let (mut owner, code) = a.sent("gone", "owner@example.com").await;
    let path = ticket_path("gone");
    owner
        .post_form(&path, &[("action", "verify"), ("code", code.as_str())])
        .await;
    let mut b = a.browser();
    b.get(&path).await; // A now remembers the binding.
    let support = Harness::build(&secret, store.clone(), |l| l);
    support
        .layer
        .flow()
        .unbind(&support.key("gone"))
        .await
        .expect("unbind");
    let mails = a.mailer.count();
    let (resend, calls) = calls_of(&store, b.post_form(&path, &[("action", "send")])).await;
    // The refused issue, the read that finds no address, and the read of
    // the page that says so.
    assert_eq!(calls, 3, "{}", resend.body);
    assert_eq!(
        resend.status,
        StatusCode::BAD_REQUEST,
        "an address is asked for"
    );
    assert_eq!(a.mailer.count(), mails, "no code to the old binding");
    assert_eq!(
        store.calls(StoreCall::IssueCode),
        2,
        "one send, one refusal"
    );
}

/// A remembered "unbound" that is stale: the ticket was bound on another
/// instance meanwhile. A typed address is then not used: the code goes to
/// the binding, as the store says.
#[tokio::test]
async fn a_remembered_unbound_ticket_bound_elsewhere_sends_to_the_binding() {
    let secret = Secret::random();
    let store = StoreTap::new(MemoryStore::new());
    let a = Harness::build(&secret, store.clone(), |l| l);
    a.claim("late").await;
    let path = ticket_path("late");
    let mut stranger = a.browser();
    stranger.get(&path).await; // A remembers: unbound.
    let b = Harness::build(&secret, store.clone(), |l| l);
    let (mut owner, code) = b.sent("late", "owner@example.com").await;
    owner
        .post_form(&path, &[("action", "verify"), ("code", code.as_str())])
        .await;
    b.advance(std::time::Duration::from_secs(300));
    a.advance(std::time::Duration::from_secs(300));
    let send = [("action", "send"), ("email", "stranger@example.com")];
    let sent = stranger.post_form(&path, &send).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let mails = a.mailer.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to.as_str(), "owner@example.com");
}

/// With pre-bound addresses required, a verify on a ticket this instance
/// knows bound is still one call.
#[tokio::test]
async fn a_verify_under_required_prebinding_is_one_call() {
    let store = StoreTap::new(MemoryStore::new());
    let h = Harness::build_with_flow(
        &Secret::random(),
        store.clone(),
        |flow: Flow| flow.with_require_prebound(true),
        |l| l,
    );
    let key = h.key("pre");
    h.layer
        .flow()
        .pre_bind(
            &key,
            &tower_otp::EmailAddress::parse("owner@example.com").unwrap(),
        )
        .await
        .expect("bind");
    let path = ticket_path("pre");
    let mut b = h.browser();
    b.get(&path).await;
    let (sent, calls) = calls_of(&store, b.post_form(&path, &[("action", "send")])).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(calls, 1);
    b.get(&path).await;
    let code = h.last_code_for("owner@example.com");
    let verify = [("action", "verify"), ("code", code.as_str())];
    let (verified, calls) = calls_of(&store, b.post_form(&path, &verify)).await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER, "{}", verified.body);
    assert_eq!(calls, 1);
}
