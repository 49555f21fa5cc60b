//! The flow without HTTP: send, verify, restart, events, notices, mail failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower_otp::mail::MailKind;
use tower_otp::{
    EmailAddress, Flow, Locale, MemoryStore, OtpEvent, Secret, TicketId, Timestamp,
    flow::ChallengeState, flow::Rejection, flow::SendRequest, testing::CapturingMailer,
    testing::ManualClock,
};

fn flow() -> (
    Flow,
    CapturingMailer,
    ManualClock,
    Arc<Mutex<Vec<OtpEvent>>>,
) {
    let mailer = CapturingMailer::new();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
        .with_clock(clock.clone())
        .with_site_name("Flow Tickets")
        .with_default_locale(Locale::Ja)
        .with_event_hook(move |event: &OtpEvent| sink.lock().unwrap().push(event.clone()));
    (flow, mailer, clock, events)
}

fn send(email: &str) -> SendRequest<'_> {
    SendRequest::new(Locale::Ja).with_email(email)
}

#[tokio::test]
async fn send_then_verify_binds_and_emits_events() {
    let (flow, mailer, _clock, events) = flow();
    let ticket = flow.ticket_key(&TicketId::new("t-1"));
    assert_eq!(
        flow.challenge(&ticket).await.unwrap().state,
        ChallengeState::EmailRequired
    );
    let sent = flow
        .send(
            &ticket,
            send("hanako@example.jp").with_ticket_hint(Some("Live 2026")),
        )
        .await
        .unwrap();
    assert_eq!(sent.to, "h***@e***.jp");
    let mail = mailer.last().unwrap();
    assert_eq!(mail.locale, Locale::Ja);
    assert_eq!(mail.ticket_hint.as_deref(), Some("Live 2026"));
    assert_eq!(mail.site_name, "Flow Tickets");
    let challenge = flow.challenge(&ticket).await.unwrap();
    assert_eq!(challenge.state, ChallengeState::CodeSent);
    assert_eq!(challenge.expires_in(), Duration::from_secs(300));
    assert_eq!(challenge.resend_in(), Duration::from_secs(60));
    let verified = flow
        .verify(&ticket, &mailer.last_code().unwrap())
        .await
        .unwrap();
    assert!(verified.newly_bound);
    let challenge = flow.challenge(&ticket).await.unwrap();
    assert!(challenge.bound);
    assert_eq!(challenge.state, ChallengeState::SendRequired);
    let events = events.lock().unwrap();
    assert!(matches!(events[0], OtpEvent::CodeSent { .. }));
    assert!(matches!(
        events[1],
        OtpEvent::Verified {
            newly_bound: true,
            ..
        }
    ));
}

#[tokio::test]
async fn input_errors_count_nothing() {
    let (flow, mailer, _clock, _) = flow();
    let ticket = flow.ticket_key(&TicketId::new("t-2"));
    assert!(matches!(
        flow.send(&ticket, SendRequest::new(Locale::En)).await,
        Err(Rejection::AddressRequired)
    ));
    assert!(matches!(
        flow.send(&ticket, send("not an address")).await,
        Err(Rejection::InvalidAddress(_))
    ));
    assert!(matches!(
        flow.send(&ticket, send("a@b.c\r\nBcc: x@y.z")).await,
        Err(Rejection::InvalidAddress(_))
    ));
    assert_eq!(mailer.count(), 0);
    flow.send(&ticket, send("a@example.com")).await.unwrap();
    for typo in ["12345", "abcdef", "1234567", ""] {
        assert!(
            matches!(
                flow.verify(&ticket, typo).await,
                Err(Rejection::InvalidCode(_))
            ),
            "{typo}"
        );
    }
    assert_eq!(
        flow.challenge(&ticket).await.unwrap().attempts_left,
        5,
        "format errors are not attempts"
    );
}

#[tokio::test]
async fn a_mail_failure_issues_nothing_and_counts_nothing() {
    let (flow, mailer, _clock, events) = flow();
    let ticket = flow.ticket_key(&TicketId::new("t-3"));
    mailer.set_failing(true);
    assert!(matches!(
        flow.send(&ticket, send("a@example.com")).await,
        Err(Rejection::MailFailed(_))
    ));
    let challenge = flow.challenge(&ticket).await.unwrap();
    assert_eq!(
        challenge.state,
        ChallengeState::SendRequired,
        "the address stays pending"
    );
    assert_eq!(
        challenge.resend_in(),
        Duration::ZERO,
        "no cooldown was started"
    );
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(OtpEvent::MailFailed { .. })
    ));
    mailer.set_failing(false);
    flow.send(&ticket, send("a@example.com"))
        .await
        .expect("an immediate retry is allowed");
    assert!(matches!(
        flow.verify(&ticket, "000000").await,
        Err(Rejection::WrongCode { .. }) | Ok(_)
    ));
}

#[tokio::test]
async fn a_new_device_on_a_bound_ticket_notifies_the_bound_address() {
    let (flow, mailer, clock, _) = flow();
    let ticket = flow.ticket_key(&TicketId::new("t-4"));
    flow.send(&ticket, send("owner@example.com")).await.unwrap();
    flow.verify(&ticket, &mailer.last_code().unwrap())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3600));
    flow.send(&ticket, send("someone.else@example.com"))
        .await
        .unwrap();
    let owner = EmailAddress::parse("owner@example.com").unwrap();
    assert_eq!(
        mailer.last().unwrap().to,
        owner,
        "bound tickets mail only the bound address"
    );
    let verified = flow
        .verify(&ticket, &mailer.last_code().unwrap())
        .await
        .unwrap();
    assert!(!verified.newly_bound);
    // The notice is sent on a spawned task.
    flow.settled().await;
    assert_eq!(mailer.count(), 3);
    let notice = mailer.last().unwrap();
    assert_eq!(notice.to, owner);
    assert_eq!(notice.locale, Locale::Ja, "the flow's default locale");
    assert!(matches!(notice.kind, MailKind::NewDevice { .. }));
    let rendered = notice.render();
    assert!(
        !rendered
            .text
            .chars()
            .collect::<String>()
            .contains(&mailer.last_code().unwrap_or_default())
    );
}

#[tokio::test]
async fn pre_bound_tickets_have_no_first_device_and_mail_only_their_address() {
    let (flow, mailer, _clock, _) = flow();
    let ticket = flow.ticket_key(&TicketId::new("t-5"));
    let buyer = EmailAddress::parse("buyer@example.com").unwrap();
    flow.pre_bind(&ticket, &buyer).await.unwrap();
    assert_eq!(flow.claim_first_device(&ticket).await.unwrap(), None);
    flow.send(&ticket, send("attacker@evil.test"))
        .await
        .unwrap();
    assert_eq!(mailer.last().unwrap().to, buyer);
    assert!(matches!(flow.restart(&ticket).await, Err(Rejection::Bound)));
}

#[tokio::test]
async fn revoking_devices_bumps_the_generation() {
    let (flow, _mailer, _clock, _) = flow();
    let ticket = flow.ticket_key(&TicketId::new("t-6"));
    assert_eq!(flow.claim_first_device(&ticket).await.unwrap(), Some(0));
    let revoked = flow.revoke_devices(&ticket).await.unwrap();
    assert_eq!(revoked.generation, 1);
    assert!(!revoked.enforced, "no layer checks revocation");
    assert_eq!(flow.generation(&ticket).await.unwrap(), 1);
}

/// The first device to verify a pre-bound ticket is its
/// purchaser's, not news: no notice. The next device is: one notice.
#[tokio::test]
async fn the_first_device_of_a_pre_bound_ticket_gets_no_new_device_notice() {
    let (flow, mailer, clock, _) = flow();
    let ticket = flow.ticket_key(&TicketId::new("t-prebound"));
    let buyer = EmailAddress::parse("buyer@example.com").unwrap();
    flow.pre_bind(&ticket, &buyer).await.unwrap();
    flow.send(&ticket, SendRequest::new(Locale::Ja))
        .await
        .unwrap();
    let verified = flow
        .verify(&ticket, &mailer.last_code().unwrap())
        .await
        .unwrap();
    assert!(!verified.newly_bound);
    flow.settled().await;
    let notices = |mailer: &CapturingMailer| {
        mailer
            .messages()
            .iter()
            .filter(|m| matches!(m.kind, MailKind::NewDevice { .. }))
            .count()
    };
    assert_eq!(notices(&mailer), 0, "the purchaser's own first device");
    assert_eq!(mailer.count(), 1, "the code only");

    clock.advance(Duration::from_secs(120));
    flow.send(&ticket, SendRequest::new(Locale::Ja))
        .await
        .unwrap();
    flow.verify(&ticket, &mailer.last_code().unwrap())
        .await
        .unwrap();
    flow.settled().await;
    assert_eq!(notices(&mailer), 1, "a second device is news");
    assert_eq!(mailer.last().unwrap().to, buyer);
}

/// On a ticket whose first device was trusted, the device that
/// binds an address is the second one; the one after that is news.
#[tokio::test]
async fn a_claimed_first_device_counts_as_an_earlier_device() {
    let (flow, mailer, clock, _) = flow();
    let ticket = flow.ticket_key(&TicketId::new("t-claimed"));
    assert_eq!(flow.claim_first_device(&ticket).await.unwrap(), Some(0));
    flow.send(&ticket, send("owner@example.com")).await.unwrap();
    let verified = flow
        .verify(&ticket, &mailer.last_code().unwrap())
        .await
        .unwrap();
    assert!(
        verified.newly_bound,
        "binding: the new address's own device"
    );
    flow.settled().await;
    assert_eq!(mailer.count(), 1);
    clock.advance(Duration::from_secs(120));
    flow.send(&ticket, SendRequest::new(Locale::Ja))
        .await
        .unwrap();
    flow.verify(&ticket, &mailer.last_code().unwrap())
        .await
        .unwrap();
    flow.settled().await;
    assert!(matches!(
        mailer.last().unwrap().kind,
        MailKind::NewDevice { .. }
    ));
}

/// Case and `+tag` spellings of one mailbox, across
/// many tickets, reach it at most 10 times an hour; each mail goes to the
/// address as typed.
#[tokio::test]
async fn spellings_of_one_mailbox_share_its_send_cap() {
    let (flow, mailer, clock, _) = flow();
    let mut refused = 0;
    for k in 0..63 {
        let typed = match k % 4 {
            0 => format!("Victim+{k}@Example.com"),
            1 => "VICTIM@example.com".to_owned(),
            2 => format!("victim+t{k}@example.com"),
            _ => format!("vIcTiM+{k}@EXAMPLE.COM"),
        };
        let ticket = flow.ticket_key(&TicketId::new(format!("any-{k}")));
        match flow.send(&ticket, send(&typed)).await {
            Ok(_) => {
                let to = mailer.last().unwrap().to;
                assert_eq!(to, EmailAddress::parse(&typed).unwrap(), "mailed as typed");
            }
            Err(Rejection::Throttled { retry_after }) => {
                assert!(retry_after > Duration::from_secs(3500), "{retry_after:?}");
                refused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
        clock.advance(Duration::from_millis(50));
    }
    assert_eq!(mailer.count(), 10);
    assert_eq!(refused, 53);
    // Gmail's dots and googlemail.com are one mailbox too.
    for k in 0..11 {
        let typed = format!(
            "{}@{}",
            ["t.aro", "ta.ro", "T.A.R.O"][k % 3],
            ["gmail.com", "googlemail.com"][k % 2]
        );
        let ticket = flow.ticket_key(&TicketId::new(format!("gmail-{k}")));
        let outcome = flow.send(&ticket, send(&typed)).await;
        assert_eq!(outcome.is_ok(), k < 10, "send {k}: {outcome:?}");
    }
}

/// Strangers who fill a mailbox's count through their
/// own tickets (a) learn nothing of its owner's sends, (b) cannot tell
/// which ticket it is bound to, and (c) never stop its owner's codes.
#[tokio::test]
async fn strangers_cannot_read_or_starve_an_owners_count() {
    let (flow, mailer, clock, _) = flow();
    let owner = EmailAddress::parse("owner@example.com").unwrap();
    let mine = flow.ticket_key(&TicketId::new("owners-ticket"));
    let other = flow.ticket_key(&TicketId::new("someone-elses"));
    flow.pre_bind(&mine, &owner).await.unwrap();
    flow.pre_bind(&other, &EmailAddress::parse("other@example.com").unwrap())
        .await
        .unwrap();
    // (a) The owner receives 5 codes through the bound ticket...
    for _ in 0..5 {
        flow.send(&mine, SendRequest::new(Locale::Ja))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(300));
    }
    // ... and a stranger can still make 10 sends: none of the owner's show.
    let mut strangers = 0;
    for k in 0..12 {
        let ticket = flow.ticket_key(&TicketId::new(format!("stranger-{k}")));
        if flow
            .send(&ticket, send("Owner+probe@example.com"))
            .await
            .is_ok()
        {
            strangers += 1;
        }
    }
    assert_eq!(strangers, 10);
    clock.advance(Duration::from_secs(3600));
    for k in 0..10 {
        let ticket = flow.ticket_key(&TicketId::new(format!("filler-{k}")));
        flow.send(&ticket, send("OWNER@example.com")).await.unwrap();
    }
    let full = flow.ticket_key(&TicketId::new("filler-11"));
    assert!(matches!(
        flow.send(&full, send("owner@example.com")).await,
        Err(Rejection::Throttled { .. })
    ));
    // (b) and (c): the owner's ticket and another bound ticket answer alike.
    let a = flow
        .send(&mine, SendRequest::new(Locale::Ja))
        .await
        .unwrap();
    let b = flow
        .send(&other, SendRequest::new(Locale::Ja))
        .await
        .unwrap();
    assert_eq!((a.expires_at, a.resend_at), (b.expires_at, b.resend_at));
    assert!(mailer.last_code_for(&owner).is_some());
    assert_eq!(
        mailer.messages_to(&owner).len(),
        5 + 1,
        "the owner's codes arrive"
    );
}
