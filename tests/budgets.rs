//! Send budgets no stranger can spend for someone else: a provider is never
//! switched off, strangers' sends never delay an owner, one client cannot
//! spend a ticket's sends, and every refusal names its budget. Through the
//! flow, then through the layer (the client as the gate reads it).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, post_send};
use http::StatusCode;
use tower_otp::store::SendBudget;
use tower_otp::{
    ClientAddress, EmailAddress, Flow, Limits, Locale, MemoryStore, OtpEvent, Secret, TicketId,
    TicketKey, Timestamp, flow::Rejection, flow::SendRequest, testing::CapturingMailer,
    testing::ManualClock,
};

struct Site {
    flow: Flow,
    mailer: CapturingMailer,
    clock: ManualClock,
    events: Arc<Mutex<Vec<OtpEvent>>>,
}

impl Site {
    fn new(limits: Limits) -> Self {
        let mailer = CapturingMailer::new();
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
            .with_clock(clock.clone())
            .with_limits(limits)
            .with_new_device_notice(false)
            .with_event_hook(move |e: &OtpEvent| sink.lock().unwrap().push(e.clone()));
        Self {
            flow,
            mailer,
            clock,
            events,
        }
    }

    fn ticket(&self, id: &str) -> TicketKey {
        self.flow.ticket_key(&TicketId::new(id))
    }

    /// A send to `email` (or to the binding, with `None`) asked by `client`.
    async fn send(
        &self,
        ticket: &TicketKey,
        email: Option<&str>,
        client: IpAddr,
    ) -> Result<(), Rejection> {
        let mut request = SendRequest::new(Locale::En).with_client(Some(client));
        if let Some(email) = email {
            request = request.with_email(email);
        }
        self.flow.send(ticket, request).await.map(drop)
    }

    /// The budgets named by the refusals so far, oldest first.
    fn refused_by(&self) -> Vec<SendBudget> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                OtpEvent::SendThrottled { budget, .. } => Some(*budget),
                _ => None,
            })
            .collect()
    }
}

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xCB00_7100 + n))
}

/// 110 anonymous sends to 11 throw-away Gmail mailboxes, from as many
/// clients as it takes, leave Gmail open to the next new user: Gmail's
/// spellings are all known, so it has no domain budget to fill. A domain
/// whose spellings are not known keeps its budget, and its refusal says so.
#[tokio::test]
async fn strangers_cannot_switch_off_a_provider() {
    let site = Site::new(Limits::default());
    let mut sent = 0;
    for k in 0..110u32 {
        let ticket = site.ticket(&format!("junk-{k}"));
        let to = format!("throwaway{}@gmail.com", k % 11);
        site.send(&ticket, Some(&to), v4(k / 4)).await.unwrap();
        sent += 1;
    }
    assert_eq!(sent, 110);
    let newcomer = site.ticket("newcomer");
    site.send(&newcomer, Some("hanako.yamada@gmail.com"), v4(999))
        .await
        .expect("a new Gmail user is not refused");
    assert!(site.refused_by().is_empty());

    // A catch-all domain keeps its budget: 100 an hour, then refused as `domain`.
    for k in 0..100u32 {
        let ticket = site.ticket(&format!("catch-all-{k}"));
        let to = format!("x{k}@catch-all.example");
        site.send(&ticket, Some(&to), v4(1000 + k / 4))
            .await
            .unwrap();
    }
    let refused = site
        .send(
            &site.ticket("one-more"),
            Some("y@catch-all.example"),
            v4(2000),
        )
        .await;
    assert!(
        matches!(refused, Err(Rejection::Throttled { .. })),
        "{refused:?}"
    );
    assert_eq!(site.refused_by(), vec![SendBudget::Domain]);
}

/// Sends to a bound ticket's address through other tickets start no wait
/// for its owner, even with a one-second cooldown: the owner's ticket
/// answers as if nothing had been sent.
#[tokio::test]
async fn strangers_sends_start_no_wait_for_the_owner() {
    let limits = Limits::default()
        .with_resend_cooldowns(vec![Duration::from_secs(1)])
        .unwrap();
    let site = Site::new(limits);
    let owner = EmailAddress::parse("owner@example.com").unwrap();
    let mine = site.ticket("owners-ticket");
    site.flow.pre_bind(&mine, &owner).await.unwrap();
    for k in 0..8u32 {
        let theirs = site.ticket(&format!("stranger-{k}"));
        site.send(&theirs, Some("Owner+x@example.com"), v4(k / 4))
            .await
            .unwrap();
    }
    let before = site.mailer.count();
    site.send(&mine, None, v4(500))
        .await
        .expect("no cooldown for the owner");
    assert_eq!(site.mailer.count(), before + 1);
    let challenge = site.flow.challenge(&mine).await.unwrap();
    assert_eq!(
        challenge.resend_in(),
        Duration::from_secs(1),
        "its own first cooldown"
    );
    assert!(site.refused_by().is_empty());
}

/// A link holder spends the client's budget, not the ticket's: one client
/// gets 4 of a ticket's 5 sends an hour, so the owner (another client) still
/// gets a code. A holder with two clients can spend all 5; the support
/// action then gives the owner a code at once.
#[tokio::test]
async fn a_link_holder_cannot_spend_a_tickets_sends() {
    let site = Site::new(Limits::default());
    let owner = EmailAddress::parse("owner@example.com").unwrap();
    let ticket = site.ticket("shared-link");
    site.flow.pre_bind(&ticket, &owner).await.unwrap();
    let attacker = IpAddr::V6("2001:db8:1:2::1".parse::<Ipv6Addr>().unwrap());
    // Within the /64, every address is the same client.
    let same_net = IpAddr::V6("2001:db8:1:2:dead:beef:0:7".parse::<Ipv6Addr>().unwrap());
    for (k, wait) in [0u64, 60, 120, 300].into_iter().enumerate() {
        site.clock.advance(Duration::from_secs(wait));
        let from = if k % 2 == 0 { attacker } else { same_net };
        site.send(&ticket, None, from).await.unwrap();
    }
    site.clock.advance(Duration::from_secs(300));
    assert!(site.send(&ticket, None, same_net).await.is_err());
    assert_eq!(site.refused_by(), vec![SendBudget::Client]);
    site.send(&ticket, None, v4(1))
        .await
        .expect("the owner's client still gets the ticket's fifth send");
    assert_eq!(site.mailer.messages_to(&owner).len(), 5);

    // The ticket's budget is spent now: the owner waits...
    site.clock.advance(Duration::from_secs(300));
    assert!(site.send(&ticket, None, v4(2)).await.is_err());
    assert_eq!(
        site.refused_by(),
        vec![SendBudget::Client, SendBudget::Ticket]
    );
    // ...until support clears the ticket: the next code goes out at once.
    site.flow.clear_lockout(&ticket).await.unwrap();
    site.send(&ticket, None, v4(2))
        .await
        .expect("support restores the owner's way in");
    assert_eq!(site.mailer.messages_to(&owner).len(), 6);
}

/// Checklist 4.1, per IP: one client's sends across tickets and addresses
/// stop at the client cap (below the ticket's, the mailbox's, the domain's);
/// a send with no known client is not counted there.
#[tokio::test]
async fn row_4_1_sends_per_client_are_capped() {
    let site = Site::new(Limits::default());
    let client = v4(7);
    for k in 0..4u32 {
        let ticket = site.ticket(&format!("t-{k}"));
        site.send(&ticket, Some(&format!("p{k}@example.net")), client)
            .await
            .unwrap();
    }
    let before = site.mailer.count();
    let refused = site
        .send(&site.ticket("t-4"), Some("p4@example.net"), client)
        .await;
    let Err(Rejection::Throttled { retry_after }) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(retry_after, Duration::from_secs(3600));
    assert_eq!(site.mailer.count(), before, "nothing mailed");
    assert_eq!(site.refused_by(), vec![SendBudget::Client]);
    // Another client, and a send whose client is not known, go through.
    site.send(&site.ticket("t-5"), Some("p5@example.net"), v4(8))
        .await
        .unwrap();
    site.flow
        .send(
            &site.ticket("t-6"),
            SendRequest::new(Locale::En).with_email("p6@example.net"),
        )
        .await
        .unwrap();
    // The hour over, the client may send again.
    site.clock.advance(Duration::from_secs(3600));
    site.send(&site.ticket("t-4"), Some("p4@example.net"), client)
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// Through the layer.

/// Checklist 3.4 and 16.2: a new `X-Forwarded-For` on every send from an
/// untrusted peer buys no budget: the client is the peer, and its fifth
/// send is refused whatever the header says.
#[tokio::test]
async fn row_3_4_rotating_forwarded_for_from_an_untrusted_peer_buys_no_sends() {
    let h = Harness::new();
    let peer = v4(9);
    let mut statuses = Vec::new();
    for k in 0..6u32 {
        let id = format!("xff-{k}");
        h.claim(&id).await;
        let spoof = format!("198.51.100.{k}");
        let mut browser = h
            .test_browser()
            .with_client_address(peer)
            .with_header("x-forwarded-for", &spoof)
            .with_header("x-real-ip", &spoof);
        let to = format!("p{k}@example.net");
        let sent = post_send(&mut browser, &format!("/tickets/{id}"), Some(&to)).await;
        statuses.push(sent.status());
    }
    let refused = StatusCode::TOO_MANY_REQUESTS;
    assert_eq!(
        statuses,
        [
            StatusCode::SEE_OTHER,
            StatusCode::SEE_OTHER,
            StatusCode::SEE_OTHER,
            StatusCode::SEE_OTHER,
            refused,
            refused
        ]
    );
}

/// Behind a trusted proxy, the client is the address the proxy appended:
/// each client has its own budget, and an entry the client wrote itself
/// (the leftmost) changes nothing.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget() {
    let proxy = ClientAddress::forwarded("x-forwarded-for", ["127.0.0.1"]).unwrap();
    let h = Harness::with(|layer| layer.with_client_address(proxy));
    let send = |k: u32, client: &str| {
        let id = format!("px-{client}-{k}");
        let forwarded = format!("203.0.113.{k}, {client}");
        let h = &h;
        async move {
            h.claim(&id).await;
            let mut browser = h
                .test_browser()
                .with_client_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .with_header("x-forwarded-for", &forwarded);
            let to = format!("q{k}@example.net");
            post_send(&mut browser, &format!("/tickets/{id}"), Some(&to))
                .await
                .status()
        }
    };
    for k in 0..4 {
        assert_eq!(
            send(k, "198.51.100.1").await,
            StatusCode::SEE_OTHER,
            "send {k}"
        );
    }
    assert_eq!(send(4, "198.51.100.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        send(5, "198.51.100.2").await,
        StatusCode::SEE_OTHER,
        "another client"
    );
}

/// Through the layer, with a one-second cooldown: after strangers sent codes
/// to the owner's address through their own tickets, the owner's new device
/// gets its code at once (no 429, no `Retry-After`).
#[tokio::test]
async fn the_owners_page_answers_at_once_after_strangers_sends() {
    let limits = Limits::default()
        .with_resend_cooldowns(vec![Duration::from_secs(1)])
        .unwrap();
    let h = Harness::build_with_flow(
        &Secret::random(),
        MemoryStore::new(),
        |flow| flow.with_limits(limits),
        |layer| layer,
    );
    let owner = EmailAddress::parse("owner@example.com").unwrap();
    h.layer
        .flow()
        .pre_bind(&h.key("mine"), &owner)
        .await
        .unwrap();
    for k in 0..3u32 {
        let id = format!("theirs-{k}");
        h.claim(&id).await;
        let mut stranger = h.test_browser().with_client_address(v4(k));
        let sent = post_send(
            &mut stranger,
            &format!("/tickets/{id}"),
            Some("owner@example.com"),
        )
        .await;
        assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    }
    let mut device = h.test_browser().with_client_address(v4(50));
    let sent = post_send(&mut device, "/tickets/mine", None).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER, "{}", sent.text());
    assert!(sent.header("retry-after").is_none());
    assert_eq!(
        h.mailer.messages_to(&owner).len(),
        4,
        "three strangers', one the owner's"
    );
}
