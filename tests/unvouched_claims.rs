//! Claims of ticket ids no validator vouches for: each client may make a
//! bounded number an hour, and one that nothing follows lapses after a day
//! (its first device's cookie with it); a layer with a validator keeps the
//! full claim lifetime.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tower_otp::store::SendBudget;
use tower_otp::{
    Flow, Limits, MemoryStore, OtpEvent, OtpLayer, Secret, TicketId, Timestamp,
    testing::CapturingMailer, testing::ManualClock, testing::TestBrowser,
};

struct Site {
    app: Router,
    clock: ManualClock,
    flow: Flow,
    events: Arc<Mutex<Vec<OtpEvent>>>,
}

fn site(validator: bool, limits: Limits) -> Site {
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let flow = Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        CapturingMailer::new(),
    )
    .with_clock(clock.clone())
    .with_limits(limits)
    .with_event_hook(move |e: &OtpEvent| sink.lock().unwrap().push(e.clone()));
    let mut layer = OtpLayer::new(flow.clone()).with_ticket_param("id");
    if validator {
        layer = layer.with_ticket_validator(|id: &TicketId| id.as_str().starts_with("sold-"));
    }
    let app = Router::new()
        .route("/t/{id}", get(|| async { "TICKET" }))
        .route_layer(layer);
    Site {
        app,
        clock,
        flow,
        events,
    }
}

impl Site {
    fn browser(&self, ip: IpAddr) -> TestBrowser<Router> {
        TestBrowser::new(self.app.clone())
            .with_clock(self.clock.clone())
            .with_client_address(ip)
    }

    fn claims_refused(&self) -> Vec<SendBudget> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                OtpEvent::ClaimThrottled { budget, .. } => Some(*budget),
                _ => None,
            })
            .collect()
    }
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))
}

#[tokio::test]
async fn one_client_claims_a_bounded_number_of_made_up_ids() {
    let s = site(
        false,
        Limits::default()
            .with_unvouched_claims(Duration::from_secs(86_400), Some(5))
            .unwrap(),
    );
    let mut script = s.browser(ip(1));
    for k in 0..5 {
        let page = script.open(&format!("/t/junk-{k}")).await;
        assert_eq!(page.text(), "TICKET", "claim {k}");
    }
    // The sixth made-up id from the same client is not trusted: challenged,
    // and nothing is kept for it.
    let page = script.open("/t/junk-5").await;
    assert_eq!(page.status(), 401);
    let kept = |id: &str| {
        let key = s.flow.ticket_key(&TicketId::new(id));
        let flow = s.flow.clone();
        async move { !flow.challenge(&key).await.unwrap().claimable }
    };
    assert!(kept("junk-0").await);
    assert!(!kept("junk-5").await, "nothing kept for the refused claim");
    assert_eq!(s.claims_refused(), vec![SendBudget::Client]);
    // Another client is trusted as usual.
    let page = s.browser(ip(2)).open("/t/junk-5").await;
    assert_eq!(page.text(), "TICKET");
}

#[tokio::test]
async fn an_unvouched_claim_and_its_cookie_last_a_day() {
    let s = site(false, Limits::default());
    let mut first = s.browser(ip(1));
    assert_eq!(first.open("/t/made-up").await.text(), "TICKET");
    // Within the day, the first device passes; a second browser is challenged.
    s.clock.advance(Duration::from_secs(23 * 3600));
    assert_eq!(first.get("/t/made-up").await.text(), "TICKET");
    assert_eq!(s.browser(ip(2)).open("/t/made-up").await.status(), 401);
    // After it, the claim has lapsed: whoever comes first is trusted
    // again; and the first device's cookie has expired with the claim, so
    // the ticket never has two first devices at once.
    s.clock.advance(Duration::from_secs(3600));
    assert_eq!(s.browser(ip(3)).open("/t/made-up").await.text(), "TICKET");
    assert_eq!(first.get("/t/made-up").await.status(), 401);
}

#[tokio::test]
async fn a_validator_vouches_for_the_full_lifetime_and_no_count() {
    let s = site(
        true,
        Limits::default()
            .with_unvouched_claims(Duration::from_secs(3600), Some(1))
            .unwrap(),
    );
    let mut buyer = s.browser(ip(1));
    for k in 0..3 {
        assert_eq!(buyer.open(&format!("/t/sold-{k}")).await.text(), "TICKET");
    }
    assert!(s.claims_refused().is_empty());
    // Thirty days on, the vouched claim and its cookie still hold.
    s.clock.advance(Duration::from_secs(29 * 86_400));
    assert_eq!(buyer.get("/t/sold-0").await.text(), "TICKET");
    assert_eq!(s.browser(ip(2)).open("/t/sold-0").await.status(), 401);
    // An id the validator refuses is not a ticket at all.
    assert_eq!(s.browser(ip(3)).open("/t/junk").await.status(), 404);
}

/// A client's claims and its sends are two budgets: opening many made-up
/// ids spends none of its sends.
#[tokio::test]
async fn claims_spend_none_of_the_clients_sends() {
    let s = site(false, Limits::default());
    let mut walker = s.browser(ip(9));
    for k in 0..10 {
        assert_eq!(walker.open(&format!("/t/own-{k}")).await.text(), "TICKET");
    }
    // Another browser from the same client sends four codes (its budget).
    for k in 0..4 {
        let mut phone = s.browser(ip(9));
        let page = phone.open(&format!("/t/own-{k}")).await;
        assert_eq!(page.status(), 401);
        let sent = phone.send_email(&format!("w{k}@example.net")).await;
        assert_eq!(sent.status(), 401, "the code page, {k}: {}", sent.text());
    }
    assert!(s.claims_refused().is_empty());
    let sends_refused = s
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, OtpEvent::SendThrottled { .. }))
        .count();
    assert_eq!(sends_refused, 0);
}
