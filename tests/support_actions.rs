//! Support actions through the flow: the report, unbind, rebind
//! (and the mail the old address gets, in its language), clearing a lockout,
//! forgetting a ticket, and the events each emits (masked, never a code).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower_otp::mail::MailKind;
use tower_otp::{
    EmailAddress, Flow, Limits, Locale, MemoryStore, OtpEvent, Secret, TicketId, TicketKey,
    Timestamp, flow::Rejection, flow::SendRequest, testing::CapturingMailer, testing::ManualClock,
};

struct Site {
    flow: Flow,
    mailer: CapturingMailer,
    clock: ManualClock,
    events: Arc<Mutex<Vec<OtpEvent>>>,
}

fn site() -> Site {
    let mailer = CapturingMailer::new();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
        .with_clock(clock.clone())
        .with_site_name("Support Tickets")
        .with_default_locale(Locale::En)
        .with_limits(
            Limits::default()
                .with_lockout(3, Duration::from_secs(600))
                .unwrap(),
        )
        .with_event_hook(move |event: &OtpEvent| sink.lock().unwrap().push(event.clone()));
    Site {
        flow,
        mailer,
        clock,
        events,
    }
}

impl Site {
    fn key(&self, id: &str) -> TicketKey {
        self.flow.ticket_key(&TicketId::new(id))
    }

    /// Sends a code to `email` from a page in `locale` and verifies it there.
    async fn verify_as(&self, key: &TicketKey, email: &str, locale: Locale) {
        self.flow
            .send(key, SendRequest::new(locale).with_email(email))
            .await
            .unwrap();
        let code = self.mailer.last_code().unwrap();
        self.flow.verify_in(key, &code, locale).await.unwrap();
        self.clock.advance(Duration::from_secs(600));
    }

    fn last_event(&self) -> OtpEvent {
        self.events.lock().unwrap().last().cloned().unwrap()
    }

    /// Every event so far, as `Debug` text: what logs and hooks would see.
    fn event_text(&self) -> String {
        format!("{:?}", self.events.lock().unwrap())
    }
}

fn address(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

#[tokio::test]
async fn the_report_masks_addresses_unless_asked_and_says_so() {
    let s = site();
    let key = s.key("report");
    s.flow
        .pre_bind_in(&key, &address("taro@example.com"), Locale::Ja)
        .await
        .unwrap();
    s.flow
        .send(&key, SendRequest::new(Locale::Ja))
        .await
        .unwrap();
    s.flow.verify(&key, "000000").await.unwrap_err();

    let report = s.flow.inspect(&key).await.unwrap();
    assert_eq!(report.bound_address.as_deref(), Some("t***@e***.com"));
    assert_eq!(report.bound_locale, Some(Locale::Ja));
    assert_eq!(report.bound_at, Some(s.clock_start()));
    assert!(!report.claimed, "pre-bound: no first device was trusted");
    assert_eq!(report.claim_until, None);
    assert_eq!((report.sends_in_window, report.sends_per_window), (1, 5));
    assert_eq!(report.live_codes, 1);
    assert_eq!(report.attempts_left, 4);
    assert_eq!(report.consecutive_failures, 1);
    assert_eq!(report.locked_until, None);
    assert_eq!(report.generation, 0);
    assert_eq!(
        report.next_send_at,
        Some(s.clock_start() + Duration::from_secs(60))
    );
    assert!(!report.device_verified);
    assert_eq!(report.bound_address_unmasked(), None);
    assert!(!format!("{report:?}").contains("taro@"));
    assert_eq!(
        s.last_event(),
        OtpEvent::Inspected {
            ticket: key,
            unmasked: false
        }
    );

    let full = s.flow.inspect_unmasked(&key).await.unwrap();
    assert_eq!(
        full.bound_address_unmasked(),
        Some(&address("taro@example.com"))
    );
    assert!(!format!("{full:?}").contains("taro@"), "Debug stays masked");
    assert_eq!(
        s.last_event(),
        OtpEvent::Inspected {
            ticket: key,
            unmasked: true
        }
    );

    // A first device on an unbound ticket: claimed until it lapses.
    let claimed = s.key("claimed");
    s.flow.claim_first_device(&claimed).await.unwrap();
    let report = s.flow.inspect(&claimed).await.unwrap();
    assert!(report.claimed);
    assert_eq!(
        report.claim_until,
        Some(s.flow.now() + Duration::from_secs(30 * 24 * 3600))
    );
}

impl Site {
    fn clock_start(&self) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000)
    }
}

#[tokio::test]
async fn unbind_revokes_and_the_next_verified_address_binds() {
    let s = site();
    let key = s.key("unbind");
    s.verify_as(&key, "first@example.com", Locale::Ko).await;
    let unbound = s.flow.unbind(&key).await.unwrap();
    assert_eq!(unbound.previous.as_deref(), Some("f***@e***.com"));
    assert_eq!(unbound.generation, 1);
    assert_eq!(
        s.last_event(),
        OtpEvent::Unbound {
            ticket: key,
            previous: Some("f***@e***.com".into()),
            generation: 1
        }
    );
    assert_eq!(s.flow.generation(&key).await.unwrap(), 1);
    assert_eq!(s.flow.claim_first_device(&key).await.unwrap(), None);
    let report = s.flow.inspect(&key).await.unwrap();
    assert_eq!((report.bound_address, report.bound_locale), (None, None));

    let mails = s.mailer.count();
    s.verify_as(&key, "second@example.com", Locale::Ja).await;
    s.flow.settled().await;
    assert_eq!(s.mailer.count(), mails + 1, "the code only, no notice");
    let report = s.flow.inspect_unmasked(&key).await.unwrap();
    assert_eq!(
        report.bound_address_unmasked(),
        Some(&address("second@example.com"))
    );
    assert_eq!(report.bound_locale, Some(Locale::Ja));
    assert!(!s.event_text().contains("first@"));
}

#[tokio::test]
async fn rebind_tells_the_old_address_in_its_language() {
    let s = site();
    let key = s.key("rebind");
    s.verify_as(&key, "old@example.com", Locale::Ko).await;
    let before = s.mailer.count();

    let rebound = s
        .flow
        .rebind(&key, &address("new@example.com"))
        .await
        .unwrap();
    assert_eq!(rebound.previous.as_deref(), Some("o***@e***.com"));
    assert!(rebound.changed && rebound.notified);
    assert_eq!(
        rebound.generation, 1,
        "devices under the old binding are revoked"
    );
    assert_eq!(s.flow.generation(&key).await.unwrap(), 1);
    s.flow.settled().await;
    assert_eq!(s.mailer.count(), before + 1);
    let notice = s.mailer.last().unwrap();
    assert_eq!(notice.to, address("old@example.com"));
    assert_eq!(notice.locale, Locale::Ko, "the old address's language");
    assert!(matches!(notice.kind, MailKind::Rebound { .. }));
    let rendered = notice.render();
    assert_eq!(
        rendered.subject,
        "[Support Tickets] 티켓에 등록된 이메일 주소가 변경되었습니다"
    );
    assert!(
        !rendered.text.contains("new@"),
        "the new address is not told"
    );
    assert_eq!(
        s.last_event(),
        OtpEvent::Rebound {
            ticket: key,
            previous: Some("o***@e***.com".into()),
            to: "n***@e***.com".into(),
            generation: 1,
        }
    );

    // Codes now go to the new address only; the old one's are refused.
    s.flow
        .send(
            &key,
            SendRequest::new(Locale::En).with_email("old@example.com"),
        )
        .await
        .unwrap();
    assert_eq!(s.mailer.last().unwrap().to, address("new@example.com"));

    // The same address again: nothing changes, nobody is mailed.
    let count = s.mailer.count();
    let again = s
        .flow
        .rebind(&key, &address("new@example.com"))
        .await
        .unwrap();
    assert!(!again.changed && !again.notified);
    s.flow.settled().await;
    assert_eq!(s.mailer.count(), count);

    // An owner whose language is unknown is told in the flow's default.
    let other = s.key("rebind-prebound");
    s.flow
        .pre_bind(&other, &address("buyer@example.com"))
        .await
        .unwrap();
    s.flow
        .rebind_in(&other, &address("friend@example.com"), Locale::ZhHant)
        .await
        .unwrap();
    s.flow.settled().await;
    let notice = s.mailer.last().unwrap();
    assert_eq!(
        (notice.to.as_str(), notice.locale),
        ("buyer@example.com", Locale::En)
    );
    let report = s.flow.inspect(&other).await.unwrap();
    assert_eq!(report.bound_locale, Some(Locale::ZhHant));
    assert!(!s.event_text().contains("buyer@") && !s.event_text().contains("old@"));
}

#[tokio::test]
async fn clearing_a_lockout_lets_the_owner_in() {
    let s = site();
    let key = s.key("locked");
    s.flow
        .pre_bind(&key, &address("owner@example.com"))
        .await
        .unwrap();
    s.flow
        .send(&key, SendRequest::new(Locale::En))
        .await
        .unwrap();
    let code = s.mailer.last_code().unwrap();
    for _ in 0..3 {
        let _ = s.flow.verify(&key, "000000").await;
    }
    assert!(matches!(
        s.flow.verify(&key, &code).await,
        Err(Rejection::Locked { .. })
    ));
    let until = s.flow.inspect(&key).await.unwrap().locked_until.unwrap();

    let cleared = s.flow.clear_lockout(&key).await.unwrap();
    assert_eq!(cleared.locked_until, Some(until));
    assert_eq!(
        s.last_event(),
        OtpEvent::LockoutCleared {
            ticket: key,
            locked_until: Some(until),
            consecutive_failures: 0,
        }
    );
    let report = s.flow.inspect(&key).await.unwrap();
    assert_eq!(
        (report.locked_until, report.consecutive_failures),
        (None, 0)
    );
    // The round is void and its attempts restored; the ticket's send is
    // forgotten, so the next code goes out at once (no cooldown), and works.
    assert_eq!(report.attempts_left, 5);
    assert!(matches!(
        s.flow.verify(&key, &code).await,
        Err(Rejection::NoCode)
    ));
    s.flow
        .send(&key, SendRequest::new(Locale::En))
        .await
        .expect("no cooldown after the support action");
    let fresh = s.mailer.last_code().unwrap();
    s.flow.verify(&key, &fresh).await.unwrap();
}

#[tokio::test]
async fn forgetting_a_ticket_leaves_nothing_of_it() {
    let s = site();
    let key = s.key("forget");
    s.verify_as(&key, "gone@example.com", Locale::ZhHans).await;
    let _ = s.flow.revoke_devices(&key).await.unwrap();
    assert!(s.flow.forget(&key).await.unwrap());
    assert_eq!(
        s.last_event(),
        OtpEvent::Forgotten {
            ticket: key,
            existed: true
        }
    );
    let report = s.flow.inspect_unmasked(&key).await.unwrap();
    assert!(!report.claimed && report.bound_address.is_none());
    assert_eq!(report.bound_address_unmasked(), None);
    assert_eq!((report.generation, report.sends_in_window), (0, 0));
    assert!(!s.flow.forget(&key).await.unwrap());
    assert!(!s.event_text().contains("gone@"));
}
