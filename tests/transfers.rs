//! Transfers through the layer: the owner starts, confirms with a code
//! sent to the bound address (a stolen cookie alone gives nothing away),
//! the recipient accepts on their own device, the binding moves, every
//! earlier device is challenged, both are told; the cap, the site's check,
//! cancellation until accepted; acceptance against a concurrent verify; a
//! store that fails half-way loses nothing.
#![cfg(all(feature = "axum", feature = "test-util"))]

mod orders_support;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use orders_support::{BUYER, FRIEND, Rules, Site};
use tower_otp::mail::MailKind;
use tower_otp::testing::{ManualClock, StoreCall, StoreTap};
use tower_otp::transfer::{TransferError, TransferRefusal, TransferRules};
use tower_otp::{EmailAddress, Locale, MemoryStore, Secret, TicketId, VerifiedDevice};

/// The transfer code last mailed to the buyer.
fn transfer_code(s: &Site) -> String {
    let buyer = EmailAddress::parse(BUYER).unwrap();
    let mail = s
        .mailer
        .messages_to(&buyer)
        .into_iter()
        .rev()
        .find(|m| matches!(m.kind, MailKind::TransferCode { .. }))
        .expect("a transfer code to the owner");
    match mail.kind {
        MailKind::TransferCode { code, .. } => code.as_str().to_owned(),
        _ => unreachable!(),
    }
}

/// `order` sold to the buyer, its transfer to the friend started and
/// confirmed through the flow: the owner's device, and the recipient's
/// verified on the acceptance page.
async fn offered(s: &Site, order: &TicketId) -> (VerifiedDevice, VerifiedDevice) {
    let buyer = EmailAddress::parse(BUYER).unwrap();
    let friend = EmailAddress::parse(FRIEND).unwrap();
    s.flow
        .pre_bind(&s.flow.ticket_key(order), &buyer)
        .await
        .unwrap();
    let owner = tower_otp::testing::verified_device(&s.flow, order);
    s.flow
        .start_transfer(&owner, order, &friend, Locale::En)
        .await
        .unwrap();
    let code = transfer_code(s);
    s.flow
        .confirm_transfer(&owner, order, &code, "http://shop.test/accept", Locale::En)
        .await
        .unwrap();
    let recipient = tower_otp::testing::verified_device(&s.flow, &s.flow.transfer_id(order));
    (owner, recipient)
}

#[tokio::test]
async fn a_transfer_end_to_end() {
    let s = Site::new();
    s.sell("ord").await;
    let mut owner = s.holder("ord").await;
    s.clock.advance(Duration::from_secs(60));
    let mut owner_phone = s.holder("ord").await;

    let (status, body) = s.post(&mut owner, "/orders/ord/transfer", FRIEND).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));
    // The code went to the owner, saying to whom; nothing to the recipient yet.
    let mail = s.mailer.last().unwrap();
    assert_eq!(mail.to.as_str(), BUYER);
    assert!(
        matches!(&mail.kind, MailKind::TransferCode { to, .. } if to == &EmailAddress::parse(FRIEND).unwrap().masked())
    );
    assert_eq!(s.mailer.link_for(FRIEND), None);
    let status = s.flow.transfer_status(&TicketId::new("ord")).await.unwrap();
    assert!(!status.pending.as_ref().unwrap().confirmed);

    let code = transfer_code(&s);
    let (status, body) = s
        .post(&mut owner, "/orders/ord/transfer/confirm", &code)
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));
    let link = s.mailer.link_for(FRIEND).expect("the recipient's link");
    assert_eq!(link, "http://shop.test/orders/ord/accept");
    assert!(
        s.flow
            .transfer_status(&TicketId::new("ord"))
            .await
            .unwrap()
            .pending
            .unwrap()
            .confirmed
    );
    // Until accepted, the ticket is the owner's.
    assert_eq!(owner.open("/orders/ord").await.status(), StatusCode::OK);

    // The recipient, on their own device: the acceptance page asks them for
    // a code to their own address.
    let mut friend = s.browser();
    let page = friend.open_mailed_link(FRIEND).await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED, "{}", page.text());
    let page = friend.verify_by_mail(FRIEND).await;
    assert_eq!(page.text(), "ticket page of ord~transfer");
    let (status, body) = s.post(&mut friend, "/orders/ord/accept", "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));

    // Every earlier device is challenged; the ticket's codes go to the recipient.
    for device in [&mut owner, &mut owner_phone] {
        let page = device.open("/orders/ord").await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        owner.open("/orders/ord/seats/2").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // At once: the previous owner's resend cooldown went with their binding.
    let page = friend.open("/orders/ord").await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    let page = friend.verify_by_mail(FRIEND).await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert_eq!(
        friend.open("/orders/ord/seats/3").await.status(),
        StatusCode::OK
    );
    // Both were told; the new owner's first device is no news to them.
    s.flow.settled().await;
    let friend_mails = s.mailer.messages_to(&EmailAddress::parse(FRIEND).unwrap());
    assert!(
        !friend_mails
            .iter()
            .any(|m| matches!(m.kind, MailKind::NewDevice { .. }))
    );
    for address in [BUYER, FRIEND] {
        let to = EmailAddress::parse(address).unwrap();
        let told = s
            .mailer
            .messages_to(&to)
            .iter()
            .any(|m| matches!(m.kind, MailKind::Transferred { .. }));
        assert!(told, "{address}");
    }
    let status = s.flow.transfer_status(&TicketId::new("ord")).await.unwrap();
    assert_eq!((status.pending, status.done, status.cap), (None, 1, 1));
    // One transfer by default: the new owner cannot give it on.
    let (status, body) = s
        .post(&mut friend, "/orders/ord/transfer", "jiro@example.com")
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::CONFLICT, "too_many_transfers")
    );
}

#[tokio::test]
async fn a_stolen_cookie_alone_gives_nothing_away() {
    let s = Site::new();
    s.sell("ord").await;
    let owner = s.holder("ord").await;
    let mut thief = s.browser();
    thief.copy_cookies_from(&owner);
    let thief_address = "thief@example.net";
    let (status, _) = s
        .post(&mut thief, "/orders/ord/transfer", thief_address)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.mailer.last().unwrap().to.as_str(),
        BUYER,
        "the code goes to the owner"
    );
    // Guessing locks the confirmation like any code.
    let mut outcomes = Vec::new();
    for guess in 0..12 {
        let (status, body) = s
            .post(
                &mut thief,
                "/orders/ord/transfer/confirm",
                &format!("{:06}", 111_111 * (guess % 9 + 1)),
            )
            .await;
        outcomes.push((status, body));
    }
    assert!(
        outcomes
            .iter()
            .all(|(status, _)| *status == StatusCode::UNPROCESSABLE_ENTITY),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|(_, code)| code == "locked" || code == "too_many_attempts"),
        "{outcomes:?}"
    );
    // The thief, verified as the recipient, cannot accept an unconfirmed transfer.
    let mut thief_phone = s.verified("/orders/ord/accept", thief_address).await;
    let (status, body) = s.post(&mut thief_phone, "/orders/ord/accept", "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::CONFLICT, "not_confirmed")
    );
    let key = s.flow.ticket_key(&TicketId::new("ord"));
    assert_eq!(
        s.flow.inspect(&key).await.unwrap().bound_address,
        Some(EmailAddress::parse(BUYER).unwrap().masked())
    );
    // The owner sees it under way and cancels it.
    let mut owner = owner;
    let (status, _) = s.post(&mut owner, "/orders/ord/transfer/cancel", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.flow
            .transfer_status(&TicketId::new("ord"))
            .await
            .unwrap()
            .pending,
        None
    );
}

#[tokio::test]
async fn cancelled_until_accepted_and_every_rule_refuses_on_its_own() {
    let s = Site::with(Rules {
        transfer: TransferRules::default()
            .with_cap(3)
            .with_check(|ask| !ask.to.as_str().ends_with("@resale.example")),
        ..Rules::default()
    });
    s.sell("ord").await;
    let mut owner = s.holder("ord").await;
    for ((path, body), (status, code)) in [
        (
            ("/orders/ord/transfer", BUYER),
            (StatusCode::BAD_REQUEST, "same_address"),
        ),
        (
            ("/orders/ord/transfer", "x@resale.example"),
            (StatusCode::FORBIDDEN, "refused_by_site"),
        ),
        (
            ("/orders/ord/transfer/cancel", ""),
            (StatusCode::CONFLICT, "no_transfer"),
        ),
        (
            ("/orders/ord/transfer/confirm", "123456"),
            (StatusCode::CONFLICT, "no_transfer"),
        ),
    ] {
        assert_eq!(
            s.post(&mut owner, path, body).await,
            (status, code.to_owned()),
            "{path} {body}"
        );
    }
    let (status, _) = s.post(&mut owner, "/orders/ord/transfer", FRIEND).await;
    assert_eq!(status, StatusCode::OK);
    let code = transfer_code(&s);
    assert_eq!(
        s.post(&mut owner, "/orders/ord/transfer/confirm", &code)
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = s
        .post(&mut owner, "/orders/ord/transfer", "jiro@example.com")
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::CONFLICT, "already_under_way")
    );
    // The recipient verified on the acceptance page; the owner cancels first.
    let mut friend = s.verified("/orders/ord/accept", FRIEND).await;
    assert_eq!(
        s.post(&mut owner, "/orders/ord/transfer/cancel", "")
            .await
            .0,
        StatusCode::OK
    );
    // The recipient's device on the acceptance page was signed out with the offer.
    let (status, _) = s.post(&mut friend, "/orders/ord/accept", "").await;
    assert_ne!(status, StatusCode::OK);
    let device =
        tower_otp::testing::verified_device(&s.flow, &s.flow.transfer_id(&TicketId::new("ord")));
    let refused = s.flow.accept_transfer(&device, &TicketId::new("ord")).await;
    assert!(
        matches!(
            refused,
            Err(TransferError::Refused(TransferRefusal::NoTransfer))
        ),
        "{refused:?}"
    );
    assert_eq!(owner.open("/orders/ord").await.status(), StatusCode::OK);

    // Directly: the owner's device only; the recipient's device only; a bad link.
    let order = TicketId::new("ord");
    let friend_address = EmailAddress::parse(FRIEND).unwrap();
    let other = tower_otp::testing::verified_device(&s.flow, &TicketId::new("other"));
    let refusal = |r: Result<(), TransferError>| match r {
        Err(TransferError::Refused(refusal)) => refusal,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refusal(
            s.flow
                .start_transfer(&other, &order, &friend_address, Locale::En)
                .await
                .map(|_| ())
        ),
        TransferRefusal::NotTheOwner
    );
    assert_eq!(
        refusal(s.flow.accept_transfer(&other, &order).await.map(|_| ())),
        TransferRefusal::NotTheRecipient
    );
    let owner_device = tower_otp::testing::verified_device(&s.flow, &order);
    s.clock.advance(Duration::from_secs(60));
    s.flow
        .start_transfer(&owner_device, &order, &friend_address, Locale::En)
        .await
        .unwrap();
    let code = transfer_code(&s);
    assert_eq!(
        refusal(
            s.flow
                .confirm_transfer(
                    &owner_device,
                    &order,
                    &code,
                    "javascript:alert(1)",
                    Locale::En
                )
                .await
        ),
        TransferRefusal::BadLink
    );
    // A ticket nobody bound has no address to confirm with.
    let claimed = tower_otp::testing::verified_device(&s.flow, &TicketId::new("unbound"));
    assert_eq!(
        refusal(
            s.flow
                .start_transfer(
                    &claimed,
                    &TicketId::new("unbound"),
                    &friend_address,
                    Locale::En
                )
                .await
                .map(|_| ())
        ),
        TransferRefusal::NotBound
    );
}

#[tokio::test]
async fn a_family_is_transferred_whole_and_its_handed_seats_stay_with_the_companions() {
    let s = Site::new();
    s.sell("ord").await;
    let mut owner = s.holder("ord").await;
    assert_eq!(
        s.post(
            &mut owner,
            "/orders/ord/seats/2/companion",
            "jiro@example.com"
        )
        .await
        .0,
        StatusCode::OK
    );
    // Started from a seat's id: the family's transfer.
    let device = tower_otp::testing::verified_device(&s.flow, &TicketId::new("ord"));
    let to = EmailAddress::parse(FRIEND).unwrap();
    s.flow
        .start_transfer(&device, &TicketId::new("ord-3"), &to, Locale::En)
        .await
        .unwrap();
    let code = transfer_code(&s);
    s.flow
        .confirm_transfer(
            &device,
            &TicketId::new("ord"),
            &code,
            "http://shop.test/orders/ord/accept",
            Locale::En,
        )
        .await
        .unwrap();
    let mut friend = s.verified("/orders/ord/accept", FRIEND).await;
    assert_eq!(
        s.post(&mut friend, "/orders/ord/accept", "").await.0,
        StatusCode::OK
    );
    assert_eq!(
        owner.open("/orders/ord/seats/3").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let states = s.states("ord", 3).await;
    assert!(
        matches!(&states[1], tower_otp::family::SeatState::Pending { .. }),
        "{states:?}"
    );
    let seat2 = s.flow.ticket_key(&TicketId::new("ord-2"));
    assert_eq!(
        s.flow.inspect(&seat2).await.unwrap().bound_address,
        Some(EmailAddress::parse("jiro@example.com").unwrap().masked())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acceptance_against_a_concurrent_verify_leaves_no_earlier_device() {
    let s = Site::new();
    let buyer = EmailAddress::parse(BUYER).unwrap();
    let friend = EmailAddress::parse(FRIEND).unwrap();
    for round in 0..30 {
        let order = TicketId::new(format!("race{round}"));
        let key = s.flow.ticket_key(&order);
        let (_, recipient) = offered(&s, &order).await;
        // The owner's other browser has a code for the ticket, typed as the recipient accepts.
        s.flow
            .send(&key, tower_otp::flow::SendRequest::new(Locale::En))
            .await
            .unwrap();
        let login = s.mailer.last_code_for(&buyer).unwrap();
        let verify = {
            let (flow, login) = (s.flow.clone(), login.clone());
            tokio::spawn(async move { flow.verify(&key, &login).await })
        };
        let accept = {
            let (flow, order) = (s.flow.clone(), order.clone());
            tokio::spawn(async move { flow.accept_transfer(&recipient, &order).await })
        };
        let (verified, accepted) = (verify.await.unwrap(), accept.await.unwrap());
        let accepted = accepted.expect("the acceptance goes through");
        let generation = s.flow.generation(&key).await.unwrap();
        assert_eq!(generation, accepted.generation, "round {round}");
        if let Ok(verified) = verified {
            assert!(
                verified.generation < generation,
                "round {round}: a device verified for the old owner must be signed out"
            );
        }
        assert_eq!(
            s.flow.inspect(&key).await.unwrap().bound_address,
            Some(friend.masked()),
            "round {round}"
        );
        s.clock.advance(Duration::from_secs(3600));
    }
}

#[tokio::test]
async fn a_store_that_fails_half_way_loses_nothing() {
    let store = StoreTap::new(Arc::new(MemoryStore::new()));
    let clock = ManualClock::starting_now();
    let s = Site::on(store.clone(), clock, &Secret::random(), Rules::default());
    s.sell("ord").await;
    let mut owner = s.holder("ord").await;
    assert_eq!(
        s.post(&mut owner, "/orders/ord/transfer", FRIEND).await.0,
        StatusCode::OK
    );
    let code = transfer_code(&s);
    assert_eq!(
        s.post(&mut owner, "/orders/ord/transfer/confirm", &code)
            .await
            .0,
        StatusCode::OK
    );
    let mut friend = s.verified("/orders/ord/accept", FRIEND).await;
    // The binding cannot move: the acceptance fails, the transfer stands.
    store.fail(StoreCall::Rebind);
    let (status, body) = s.post(&mut friend, "/orders/ord/accept", "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "store")
    );
    assert_eq!(owner.open("/orders/ord").await.status(), StatusCode::OK);
    let pending = s
        .flow
        .transfer_status(&TicketId::new("ord"))
        .await
        .unwrap()
        .pending;
    assert!(pending.is_some_and(|p| p.confirmed));
    store.pass(StoreCall::Rebind);
    let (status, body) = s.post(&mut friend, "/orders/ord/accept", "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));
    assert_eq!(
        owner.open("/orders/ord").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acceptance_and_a_cancellation_that_meet_one_wins_whole() {
    let s = Site::new();
    let buyer = EmailAddress::parse(BUYER).unwrap();
    let friend = EmailAddress::parse(FRIEND).unwrap();
    let (mut accepted, mut cancelled) = (0, 0);
    for round in 0..40 {
        let order = TicketId::new(format!("meet{round}"));
        let key = s.flow.ticket_key(&order);
        let (owner, recipient) = offered(&s, &order).await;
        let accept = {
            let (flow, order) = (s.flow.clone(), order.clone());
            tokio::spawn(async move { flow.accept_transfer(&recipient, &order).await })
        };
        let cancel = {
            let (flow, order) = (s.flow.clone(), order.clone());
            tokio::spawn(async move { flow.cancel_transfer(&owner, &order).await })
        };
        let (accept, cancel) = (accept.await.unwrap(), cancel.await.unwrap());
        let bound = s.flow.inspect(&key).await.unwrap().bound_address;
        match (&accept, &cancel) {
            (Ok(_), Err(TransferError::Refused(TransferRefusal::NoTransfer))) => {
                accepted += 1;
                assert_eq!(bound, Some(friend.masked()), "round {round}");
            }
            (Err(TransferError::Refused(TransferRefusal::NoTransfer)), Ok(())) => {
                cancelled += 1;
                assert_eq!(bound, Some(buyer.masked()), "round {round}");
            }
            other => panic!("round {round}: {other:?}"),
        }
        let status = s.flow.transfer_status(&order).await.unwrap();
        assert_eq!(status.pending, None, "round {round}");
        s.clock.advance(Duration::from_secs(3600));
    }
    println!("acceptances {accepted}, cancellations {cancelled}");
}

#[tokio::test]
async fn a_confirmation_code_that_cannot_be_mailed_is_withdrawn() {
    let s = Site::new();
    s.sell("ord").await;
    let order = TicketId::new("ord");
    let owner = tower_otp::testing::verified_device(&s.flow, &order);
    let friend = EmailAddress::parse(FRIEND).unwrap();
    s.mailer.set_failing(true);
    let failed = s
        .flow
        .start_transfer(&owner, &order, &friend, Locale::En)
        .await;
    assert!(
        matches!(
            failed,
            Err(TransferError::Code(tower_otp::flow::Rejection::MailFailed(
                _
            )))
        ),
        "{failed:?}"
    );
    // The send was given back: the next start goes out at once, with no
    // cooldown to wait.
    s.mailer.set_failing(false);
    s.flow
        .start_transfer(&owner, &order, &friend, Locale::En)
        .await
        .unwrap();
    assert!(!transfer_code(&s).is_empty());
}
