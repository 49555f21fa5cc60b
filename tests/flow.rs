//! The flow without HTTP: send, verify, restart, events, notices, mail failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower_otp::mail::MailKind;
use tower_otp::{
    CapturingMailer, ChallengeState, EmailAddress, Flow, Locale, ManualClock, MemoryStore,
    OtpEvent, Rejection, Secret, SendRequest, TicketId, Timestamp,
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
    assert_eq!(sent.to, "h***@e******.jp");
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
    for _ in 0..100 {
        if mailer.count() == 3 {
            break;
        }
        tokio::task::yield_now().await;
    }
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
