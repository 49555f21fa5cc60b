//! Ticket families and hand-offs through the layer: one verification opens
//! every seat of an order; a seat handed to a companion is the companion's
//! (the holder is challenged on it, the companion verifies on their own
//! device); each rule of a hand-off is answered by its own refusal; another
//! instance sees a hand-off within the revocation TTL; a seat whose state
//! cannot be read is not served.
#![cfg(all(feature = "axum", feature = "test-util"))]

mod orders_support;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use orders_support::{BUYER, FRIEND, Rules, Site};
use tower_otp::family::{HandOffError, HandOffRefusal, HandOffRules, SeatState};
use tower_otp::testing::{ManualClock, StoreCall, StoreTap};
use tower_otp::{EmailAddress, Locale, MemoryStore, Secret, TicketId};

fn site() -> Site {
    Site::new()
}

fn site_rules(hand_off: HandOffRules) -> Site {
    Site::with(Rules {
        hand_off,
        ..Rules::default()
    })
}

fn site_with(
    store: StoreTap<Arc<MemoryStore>>,
    clock: ManualClock,
    secret: &Secret,
    hand_off: HandOffRules,
) -> Site {
    Site::on(
        store,
        clock,
        secret,
        Rules {
            hand_off,
            ..Rules::default()
        },
    )
}

/// One store, one clock, one secret: the instances of one site.
struct Deployment {
    secret: Secret,
    store: StoreTap<Arc<MemoryStore>>,
    clock: ManualClock,
}

impl Deployment {
    fn new() -> Self {
        Self {
            secret: Secret::random(),
            store: StoreTap::new(Arc::new(MemoryStore::new())),
            clock: ManualClock::starting_now(),
        }
    }

    /// An instance of the site: a second process, or one restarted.
    fn instance(&self) -> Site {
        site_with(
            self.store.clone(),
            self.clock.clone(),
            &self.secret,
            HandOffRules::default(),
        )
    }
}

#[tokio::test]
async fn one_verification_opens_every_seat_of_the_order() {
    let s = site();
    s.sell("ord1").await;
    let mut holder = s.holder("ord1").await;
    let mails = s.mailer.count();
    for n in 1..=4 {
        let seat = holder.open(&format!("/orders/ord1/seats/{n}")).await;
        assert_eq!(seat.status(), StatusCode::OK, "seat {n}: {}", seat.text());
        assert_eq!(seat.text(), format!("ticket page of ord1-{n}"));
    }
    assert_eq!(s.mailer.count(), mails, "no new code for the other seats");
    // Verified on a seat first: the order opens too. (The order's one
    // challenge: its resend cooldown first.)
    s.clock.advance(Duration::from_secs(60));
    let mut other = s.browser();
    let page = other.open("/orders/ord1/seats/3").await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    // The code goes to the order's binding, whatever is typed.
    assert!(other.verify_by_mail(BUYER).await.status().is_success());
    assert_eq!(other.open("/orders/ord1").await.status(), StatusCode::OK);
    assert_eq!(
        other.open("/orders/ord1/seats/2").await.status(),
        StatusCode::OK
    );
    // One cookie for the family, scoped to the order's pages.
    let names = other.cookie_names();
    let device_cookies: Vec<_> = names.iter().filter(|n| n.starts_with("otp-")).collect();
    assert_eq!(device_cookies.len(), 1, "{names:?}");
    assert!(other.cookie(device_cookies[0], "/orders/ord1").is_some());
    // Another order is another family.
    assert_eq!(
        other.get("/orders/ord2/seats/2").await.status(),
        StatusCode::SEE_OTHER,
        "an unclaimed order's first device is probed"
    );
}

#[tokio::test]
async fn a_handed_seat_is_the_companions_and_the_holder_is_challenged_on_it() {
    let s = site();
    s.sell("ord").await;
    let mut holder = s.holder("ord").await;
    let (status, body) = s
        .post(&mut holder, "/orders/ord/seats/2/companion", FRIEND)
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));
    // The companion's mail carries the seat's link, in the holder's choice of language.
    let mail = s.mailer.last().unwrap();
    assert_eq!(mail.to.as_str(), FRIEND);
    assert_eq!(mail.locale, Locale::Ja);
    assert_eq!(
        s.mailer.link_for(FRIEND).as_deref(),
        Some("http://shop.test/orders/ord/seats/2")
    );
    assert!(
        matches!(&s.states("ord", 3).await[..], [SeatState::Family, SeatState::Pending { to }, SeatState::Family] if to.starts_with("h"))
    );

    // The holder: challenged on seat 2 (a code would go to the companion), not on seat 3.
    let seat2 = holder.open("/orders/ord/seats/2").await;
    assert_eq!(seat2.status(), StatusCode::UNAUTHORIZED, "{}", seat2.text());
    let before = s.mailer.count();
    holder.send_email(BUYER).await;
    assert_eq!(
        s.mailer.last().unwrap().to.as_str(),
        FRIEND,
        "the seat's codes go to the companion"
    );
    assert_eq!(s.mailer.count(), before + 1);
    assert_eq!(
        holder.open("/orders/ord/seats/3").await.status(),
        StatusCode::OK
    );

    // The companion, on their own device.
    let mut friend = s.browser();
    let page = friend.open_mailed_link(FRIEND).await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    let page = friend.verify_by_mail(FRIEND).await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert_eq!(page.text(), "ticket page of ord-2");
    assert!(matches!(
        &s.states("ord", 2).await[1],
        SeatState::Received { .. }
    ));
    // The companion opens only their seat.
    assert_eq!(
        friend.open("/orders/ord/seats/3").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        friend.open("/orders/ord").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A received seat: not cancelled, not handed on, not handed again.
    let (status, body) = s.post(&mut holder, "/orders/ord/seats/2/cancel", "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::CONFLICT, "already_received")
    );
    let jiro = "jiro@example.com";
    let (status, body) = s
        .post(&mut holder, "/orders/ord/seats/2/companion", jiro)
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::CONFLICT, "already_handed_over")
    );
    // The companion's device is the seat's, not the order's: the gate
    // challenges its hand-off; the flow refuses it too.
    let (status, body) = s
        .post(&mut friend, "/orders/ord/seats/2/companion", jiro)
        .await;
    assert!(status.is_client_error() && body != "done", "{status}");
    let device = tower_otp::testing::verified_device(&s.flow, &TicketId::new("ord-2"));
    let jiro = EmailAddress::parse(jiro).unwrap();
    let link = "http://shop.test/orders/ord/seats/2";
    let refused = s
        .flow
        .hand_off(&device, &TicketId::new("ord-2"), &jiro, link, Locale::En)
        .await;
    assert!(matches!(
        refused,
        Err(HandOffError::Refused(HandOffRefusal::ReceivedSeat))
    ));
}

#[tokio::test]
async fn each_rule_has_its_own_refusal() {
    let deadline = Arc::new(std::sync::Mutex::new(None));
    let closes = Arc::clone(&deadline);
    let rules = HandOffRules::default()
        .with_cancellations(1)
        .with_deadline(move |_| *closes.lock().unwrap())
        .with_check(|ask| !ask.seat.as_str().ends_with("-6"));
    let s = site_rules(rules);
    s.sell("ord").await;
    let mut holder = s.holder("ord").await;
    let post = |path: &'static str, body: &'static str| (path, body);
    for ((path, body), (status, code)) in [
        (
            post("/orders/ord/seats/1/companion", FRIEND),
            (StatusCode::CONFLICT, "own_seat"),
        ),
        (
            post("/orders/ord/seats/6/companion", FRIEND),
            (StatusCode::FORBIDDEN, "refused_by_site"),
        ),
        (
            post("/orders/ord/seats/3/cancel", ""),
            (StatusCode::CONFLICT, "not_handed_over"),
        ),
        (
            post("/orders/ord/seats/3/companion", FRIEND),
            (StatusCode::OK, "done"),
        ),
        (
            post("/orders/ord/seats/3/companion", "jiro@example.com"),
            (StatusCode::CONFLICT, "already_handed_over"),
        ),
        (
            post("/orders/ord/seats/3/cancel", ""),
            (StatusCode::OK, "done"),
        ),
        (
            post("/orders/ord/seats/3/companion", "jiro@example.com"),
            (StatusCode::OK, "done"),
        ),
        (
            post("/orders/ord/seats/3/cancel", ""),
            (StatusCode::CONFLICT, "too_many_cancellations"),
        ),
    ] {
        assert_eq!(
            s.post(&mut holder, path, body).await,
            (status, code.to_owned()),
            "{path} {body}"
        );
    }
    // After a cancellation, the seat is the family's again.
    *deadline.lock().unwrap() = Some(s.flow.now());
    let (status, body) = s
        .post(&mut holder, "/orders/ord/seats/4/companion", FRIEND)
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::CONFLICT, "closed"));

    // A stranger's device is not the holder's: the gate stops it first.
    let mut stranger = s.browser();
    let (status, _) = s
        .post(&mut stranger, "/orders/ord/seats/5/companion", FRIEND)
        .await;
    assert_ne!(status, StatusCode::OK);
    assert!(matches!(s.states("ord", 5).await[4], SeatState::Family));

    // Directly: a ticket of no family, a device of another order, a bad link.
    let device = tower_otp::testing::verified_device(&s.flow, &TicketId::new("other"));
    let friend = EmailAddress::parse(FRIEND).unwrap();
    let refusal = |r: Result<_, HandOffError>| match r {
        Err(HandOffError::Refused(refusal)) => refusal,
        other => panic!("{other:?}"),
    };
    let link = "http://shop.test/orders/ord/seats/5";
    let seat5 = TicketId::new("ord-5");
    assert_eq!(
        refusal(
            s.flow
                .hand_off(&device, &TicketId::new("plain"), &friend, link, Locale::En)
                .await
        ),
        HandOffRefusal::NotInFamily
    );
    assert_eq!(
        refusal(
            s.flow
                .hand_off(&device, &seat5, &friend, link, Locale::En)
                .await
        ),
        HandOffRefusal::NotTheHolder
    );
    *deadline.lock().unwrap() = None;
    let device = tower_otp::testing::verified_device(&s.flow, &TicketId::new("ord"));
    for bad in [
        "javascript:alert(1)",
        "/orders/ord/seats/5",
        "http://shop.test/a b",
        "",
    ] {
        assert_eq!(
            refusal(
                s.flow
                    .hand_off(&device, &seat5, &friend, bad, Locale::En)
                    .await
            ),
            HandOffRefusal::BadLink,
            "{bad}"
        );
    }
    assert!(
        s.flow
            .hand_off(&device, &seat5, &friend, link, Locale::En)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_cancelled_hand_off_gives_the_seat_back_and_signs_the_companion_out() {
    let s = site();
    s.sell("ord").await;
    let mut holder = s.holder("ord").await;
    assert_eq!(
        s.post(&mut holder, "/orders/ord/seats/2/companion", FRIEND)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        holder.open("/orders/ord/seats/2").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.post(&mut holder, "/orders/ord/seats/2/cancel", "")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        holder.open("/orders/ord/seats/2").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        s.states("ord", 2).await,
        vec![SeatState::Family, SeatState::Family]
    );
    // The link the companion got now leads to the order's challenge: a
    // code to the holder's address (after the order's resend cooldown).
    s.clock.advance(Duration::from_secs(60));
    let mut friend = s.browser();
    assert_eq!(
        friend.open("/orders/ord/seats/2").await.status(),
        StatusCode::UNAUTHORIZED
    );
    friend.send_email(FRIEND).await;
    assert_eq!(s.mailer.last().unwrap().to.as_str(), BUYER);
}

#[tokio::test]
async fn another_instance_sees_a_hand_off_within_the_revocation_ttl() {
    let site = Deployment::new();
    let clock = site.clock.clone();
    let one = site.instance();
    let two = site.instance();
    one.sell("ord").await;
    let mut holder = one.holder("ord").await;
    // The holder opens seat 2 on instance two: it reads the seat (not handed).
    let mut on_two = two.browser();
    on_two.copy_cookies_from(&holder);
    assert_eq!(
        on_two.open("/orders/ord/seats/2").await.status(),
        StatusCode::OK
    );

    assert_eq!(
        one.post(&mut holder, "/orders/ord/seats/2/companion", FRIEND)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        holder.open("/orders/ord/seats/2").await.status(),
        StatusCode::UNAUTHORIZED,
        "at once on the instance that handed it"
    );
    // Instance two trusts its reading for the TTL (5 s by default), then
    // reads it again in the background: the TTL plus one read.
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        on_two.open("/orders/ord/seats/2").await.status(),
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(1));
    on_two.open("/orders/ord/seats/2").await;
    two.flow.settled().await;
    assert_eq!(
        on_two.open("/orders/ord/seats/2").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_stalled_store_rides_on_the_last_reading_for_a_minute_then_fails_closed() {
    let site = Deployment::new();
    let (store, clock) = (site.store.clone(), site.clock.clone());
    let one = site.instance();
    one.sell("ord").await;
    let mut holder = one.holder("ord").await;
    assert_eq!(
        holder.open("/orders/ord/seats/2").await.status(),
        StatusCode::OK
    );
    store.fail(StoreCall::Load);
    // Past the TTL, the reading (and the family's generation) still serve
    // while the store does not answer...
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        holder.open("/orders/ord/seats/2").await.status(),
        StatusCode::OK
    );
    one.flow.settled().await;
    // ...up to a minute: then the seat is not served unchecked.
    clock.advance(Duration::from_secs(31));
    let page = holder.open("/orders/ord/seats/2").await;
    assert_eq!(
        page.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.text()
    );
    store.pass(StoreCall::Load);
    assert_eq!(
        holder.open("/orders/ord/seats/2").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_seat_whose_state_cannot_be_read_is_not_served() {
    let site = Deployment::new();
    let store = site.store.clone();
    let one = site.instance();
    one.sell("ord").await;
    let holder = one.holder("ord").await;
    // A new instance (a restart): it has read no seat yet.
    let two = site.instance();
    let mut b = two.browser();
    b.copy_cookies_from(&holder);
    store.fail(StoreCall::Load);
    let page = b.open("/orders/ord/seats/2").await;
    assert_eq!(
        page.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.text()
    );
    assert!(page.header("retry-after").is_some());
    store.pass(StoreCall::Load);
    assert_eq!(b.open("/orders/ord/seats/2").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_companions_for_one_seat_one_wins() {
    let s = site();
    s.sell("ord").await;
    let device = tower_otp::testing::verified_device(&s.flow, &TicketId::new("ord"));
    for round in 0..50 {
        let seat = TicketId::new(format!("ord-{}", round + 2));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (flow, device, seat) = (s.flow.clone(), device.clone(), seat.clone());
                tokio::spawn(async move {
                    let to = EmailAddress::parse(&format!("friend{i}@example.com")).unwrap();
                    let link = "http://shop.test/orders/ord/seats/x";
                    flow.hand_off(&device, &seat, &to, link, Locale::En).await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                Err(HandOffError::Refused(HandOffRefusal::AlreadyHandedOver)) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
}

#[tokio::test]
async fn a_seat_costs_one_read_per_ttl_and_the_verified_path_none() {
    let store = StoreTap::new(Arc::new(MemoryStore::new()));
    let clock = ManualClock::starting_now();
    let s = site_with(
        store.clone(),
        clock.clone(),
        &Secret::random(),
        HandOffRules::default(),
    );
    s.sell("ord").await;
    let mut holder = s.holder("ord").await;
    let calls = || store.total_calls() - store.calls(StoreCall::State);
    for n in 2..=4 {
        let path = format!("/orders/ord/seats/{n}");
        let before = calls();
        assert_eq!(holder.open(&path).await.status(), StatusCode::OK);
        assert_eq!(
            calls() - before,
            1,
            "seat {n}: one read of whether it was handed"
        );
        let before = calls();
        assert_eq!(holder.open(&path).await.status(), StatusCode::OK);
        assert_eq!(calls() - before, 0, "seat {n}: then none");
    }
    // The order's own page names no seat: nothing to read.
    let before = calls();
    assert_eq!(holder.open("/orders/ord").await.status(), StatusCode::OK);
    assert_eq!(calls() - before, 0);
}

#[tokio::test]
async fn a_seat_read_as_handed_takes_no_typed_address_after_it_was_taken_back() {
    let site = Deployment::new();
    let clock = site.clock.clone();
    let one = site.instance();
    let two = site.instance();
    one.sell("ord").await;
    let mut holder = one.holder("ord").await;
    assert_eq!(
        one.post(&mut holder, "/orders/ord/seats/2/companion", FRIEND)
            .await
            .0,
        StatusCode::OK
    );
    // Instance two reads the seat as handed; instance one takes it back.
    let mut stranger = two.browser();
    assert_eq!(
        stranger.open("/orders/ord/seats/2").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        one.post(&mut holder, "/orders/ord/seats/2/cancel", "")
            .await
            .0,
        StatusCode::OK
    );
    // Within its TTL, instance two still gates the seat as its own ticket,
    // now unbound: a typed address is refused, nothing is mailed or bound.
    let mails = two.mailer.count();
    let page = stranger.send_email("mallory@example.net").await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN, "{}", page.text());
    assert_eq!(two.mailer.count(), mails);
    let seat = one.flow.ticket_key(&TicketId::new("ord-2"));
    assert_eq!(one.flow.inspect(&seat).await.unwrap().bound_address, None);
    // Past it, the seat is the order's again (and past the order's resend
    // cooldown, so that its code goes out).
    clock.advance(Duration::from_secs(61));
    stranger.open("/orders/ord/seats/2").await;
    two.flow.settled().await;
    stranger.open("/orders/ord/seats/2").await;
    let page = stranger.send_email("mallory@example.net").await;
    assert!(page.status().is_client_error());
    assert_eq!(
        two.mailer.last().unwrap().to.as_str(),
        BUYER,
        "the order's codes go to its buyer"
    );
}

/// `/tickets/{ticket}` for every ticket, the seats of an order among them:
/// the family is the application's knowledge, not the URL's.
#[tokio::test]
async fn a_family_works_whatever_the_url_shape() {
    use axum::routing::get;
    use tower_otp::testing::{CapturingMailer, TestBrowser};
    use tower_otp::{Flow, OtpLayer, VerifiedDevice};

    let mailer = CapturingMailer::new();
    let clock = ManualClock::starting_now();
    // Seats `s-101`, `s-102`, `s-103` were sold together as order `o-7`.
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone())
        .with_clock(clock.clone())
        .with_ticket_families(|id: &TicketId| {
            ["s-101", "s-102", "s-103"]
                .contains(&id.as_str())
                .then(|| tower_otp::family::Membership::new(TicketId::new("o-7"), "/tickets"))
        });
    let order = flow.ticket_key(&TicketId::new("o-7"));
    flow.pre_bind(&order, &EmailAddress::parse(BUYER).unwrap())
        .await
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/tickets/{ticket}",
            get(|device: VerifiedDevice| async move { device.ticket().as_str().to_owned() }),
        )
        .route_layer(
            OtpLayer::new(flow.clone())
                .with_ticket_param("ticket")
                .with_cookie_secure(false),
        );
    let mut b = TestBrowser::new(app)
        .with_origin("http://shop.test")
        .with_mailer(mailer.clone())
        .with_clock(clock);
    assert_eq!(
        b.open("/tickets/s-102").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(b.verify_by_mail(BUYER).await.text(), "s-102");
    let mails = mailer.count();
    assert_eq!(b.open("/tickets/s-101").await.text(), "s-101");
    assert_eq!(b.open("/tickets/s-103").await.text(), "s-103");
    assert_eq!(mailer.count(), mails, "one code for the three seats");
    // Another ticket under the same path is not in the family: its first
    // device is probed, not let through on the family's cookie.
    assert_eq!(
        b.get("/tickets/s-104").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellations_that_meet_take_one_back_and_count_once() {
    let s = site();
    s.sell("ord").await;
    let device = tower_otp::testing::verified_device(&s.flow, &TicketId::new("ord"));
    let friend = EmailAddress::parse(FRIEND).unwrap();
    for round in 0..30 {
        let seat = TicketId::new(format!("ord-{}", round + 2));
        let link = "http://shop.test/orders/ord/seats/x";
        s.flow
            .hand_off(&device, &seat, &friend, link, Locale::En)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (flow, device, seat) = (s.flow.clone(), device.clone(), seat.clone());
                tokio::spawn(async move { flow.cancel_hand_off(&device, &seat).await })
            })
            .collect();
        let mut cancelled = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => cancelled += 1,
                Err(HandOffError::Refused(HandOffRefusal::NotHandedOver)) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(cancelled, 1, "round {round}");
        let key = s.flow.ticket_key(&seat);
        assert_eq!(
            s.flow.generation(&key).await.unwrap(),
            1,
            "one cancellation counted"
        );
    }
}

#[tokio::test]
async fn a_hand_off_stands_when_its_mail_fails() {
    let s = site();
    s.sell("ord").await;
    let device = tower_otp::testing::verified_device(&s.flow, &TicketId::new("ord"));
    let friend = EmailAddress::parse(FRIEND).unwrap();
    s.mailer.set_failing(true);
    let link = "http://shop.test/orders/ord/seats/2";
    let handed = s
        .flow
        .hand_off(&device, &TicketId::new("ord-2"), &friend, link, Locale::En)
        .await
        .unwrap();
    assert!(!handed.mailed, "the caller is told the mail did not go");
    // The seat is the companion's all the same: the link from the holder
    // is all they need.
    assert!(matches!(
        s.states("ord", 2).await[1],
        SeatState::Pending { .. }
    ));
}
