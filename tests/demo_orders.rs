//! The demo's orders (`examples/support/demo_app.rs`): `POST /buy` sells an
//! order of 1 to 6 seats pre-bound to the buyer, 303 to `/orders/{order}`;
//! one code opens the order and every seat of it; the holder hands a seat
//! to a companion, who is mailed its link and verifies with their own
//! address, while the holder is challenged on it from then on; a hand-off
//! not yet received is cancelled; the holder's own seat is never handed
//! over; the whole order is transferred (a code to its address confirms,
//! the recipient accepts on their own device) or the transfer cancelled;
//! forms from another site are refused.
#![cfg(feature = "axum")]

#[path = "../examples/support/demo_app.rs"]
mod demo_app;

use axum::Router;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use tower_otp::ticket::Found;
use tower_otp::{
    Flow, Locale, MemoryStore, OtpLayer, Secret, TicketId, testing::CapturingMailer,
    testing::ManualClock, testing::TestBrowser, testing::TestResponse,
};

const ORIGIN: &str = "http://127.0.0.1:3000";
const BUYER: &str = "hanako.buyer@example.com";
const FRIEND: &str = "taro.friend@example.com";

struct Demo {
    app: Router,
    flow: Flow,
    mailer: CapturingMailer,
    clock: ManualClock,
}

fn demo() -> Demo {
    let mailer = CapturingMailer::new();
    let clock = ManualClock::starting_now();
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    let flow = demo_app::configure_flow(flow).with_clock(clock.clone());
    let otp = demo_app::configure(OtpLayer::new(flow.clone())).with_cookie_secure(false);
    Demo {
        app: demo_app::router(otp),
        flow,
        mailer,
        clock,
    }
}

impl Demo {
    fn browser(&self) -> TestBrowser<Router> {
        TestBrowser::new(self.app.clone())
            .with_origin(ORIGIN)
            .with_mailer(self.mailer.clone())
            .with_clock(self.clock.clone())
    }

    /// A new order of `seats` seats bought by [`BUYER`], and the buyer's
    /// browser with it open (after the code sent to the buyer).
    async fn bought(&self, seats: &str) -> (String, TestBrowser<Router>) {
        let mut buyer = self.browser();
        let order = order_of(
            &buy(
                &mut buyer,
                Some(ORIGIN),
                &[("email", BUYER), ("seats", seats)],
            )
            .await,
        );
        let page = buyer.open(&format!("/orders/{order}")).await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED, "pre-bound: a code");
        buyer.resend().await;
        let code = buyer.code_for(BUYER).expect("the code goes to the buyer");
        let page = buyer.enter_code(&code).await;
        assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
        (order, buyer)
    }
}

/// `POST /buy` with these fields and this `Origin` (none: `None`).
async fn buy(
    browser: &mut TestBrowser<Router>,
    origin: Option<&str>,
    fields: &[(&str, &str)],
) -> TestResponse {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = browser
        .builder(Method::POST, "/buy")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    browser
        .send(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
}

/// A form of the order pages, posted as the browser posts it (same-origin
/// `Origin` and `Sec-Fetch-Site`), its `303` followed.
async fn post(
    browser: &mut TestBrowser<Router>,
    path: &str,
    fields: &[(&str, &str)],
) -> TestResponse {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let request = browser
        .builder(Method::POST, path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let reply = browser.send(request).await;
    match reply.header("location") {
        Some(location) if reply.status() == StatusCode::SEE_OTHER => {
            let location = location.to_owned();
            browser.open(&location).await
        }
        _ => reply,
    }
}

/// The order a purchase redirected to.
fn order_of(reply: &TestResponse) -> String {
    assert_eq!(reply.status(), StatusCode::SEE_OTHER, "{}", reply.text());
    let location = reply.header("location").expect("a Location");
    let id = location.strip_prefix("/orders/").expect("an order URL");
    assert_eq!(
        id.len(),
        28,
        "96 random bits, the seats and a 66-bit tag: {id}"
    );
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{id}"
    );
    id.to_owned()
}

fn verified(page: &TestResponse) -> bool {
    page.status() == StatusCode::OK && page.text().contains("data-verified")
}

#[tokio::test]
async fn three_seats_bought_open_with_one_code() {
    let demo = demo();
    let (order, mut buyer) = demo.bought("3").await;
    let page = buyer.open(&format!("/orders/{order}")).await;
    let html = page.text();
    for n in 1..=3 {
        assert!(
            html.contains(&format!("href=\"/orders/{order}/seats/{n}\"")),
            "seat {n}: {html}"
        );
    }
    assert!(
        !html.contains(&format!("/orders/{order}/seats/4")),
        "{html}"
    );
    // Seats 2 and 3 can be handed over; seat 1 is the holder's own.
    assert!(html.contains(&format!("action=\"/orders/{order}/seats/2/companion\"")));
    assert!(!html.contains(&format!("action=\"/orders/{order}/seats/1/companion\"")));
    assert!(html.contains(&format!("action=\"/orders/{order}/transfer\"")));

    let mails = demo.mailer.count();
    for n in 1..=3 {
        let seat = buyer.open(&format!("/orders/{order}/seats/{n}")).await;
        assert!(
            verified(&seat),
            "seat {n} opens with no new code: {}",
            seat.text()
        );
        assert!(seat.text().contains(&format!("<code>{order}-{n}</code>")));
    }
    assert_eq!(demo.mailer.count(), mails, "no new code");
    let bound = demo
        .flow
        .inspect(&demo.flow.ticket_key(&TicketId::new(order.as_str())))
        .await
        .unwrap()
        .bound_address;
    assert_eq!(bound.as_deref(), Some("h***@e***.com"));

    // Whoever else holds the links needs the buyer's mailbox.
    let mut stranger = demo.browser();
    for path in [
        format!("/orders/{order}"),
        format!("/orders/{order}/seats/2"),
    ] {
        assert_eq!(
            stranger.open(&path).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_number_of_seats_is_1_to_6_and_1_when_missing() {
    let demo = demo();
    for seats in [
        "0",
        "7",
        "",
        "abc",
        "-1",
        "01",
        "2.0",
        " 3",
        "３",
        "99999999999",
    ] {
        let reply = buy(
            &mut demo.browser(),
            Some(ORIGIN),
            &[("email", BUYER), ("seats", seats)],
        )
        .await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{seats:?}");
        assert!(reply.header("location").is_none(), "{seats:?}");
        assert!(
            reply.text().contains("<html lang=\"ja\""),
            "a page, in the default language"
        );
    }
    assert_eq!(demo.mailer.count(), 0);
    let one = order_of(&buy(&mut demo.browser(), Some(ORIGIN), &[("email", BUYER)]).await);
    assert_eq!(demo_app::order_seats(&demo.flow, &one), Some(1));
    let six = order_of(
        &buy(
            &mut demo.browser(),
            Some(ORIGIN),
            &[("email", BUYER), ("seats", "6")],
        )
        .await,
    );
    assert_eq!(demo_app::order_seats(&demo.flow, &six), Some(6));
}

#[tokio::test]
async fn a_cross_origin_purchase_or_order_form_is_refused() {
    let demo = demo();
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let reply = buy(
            &mut demo.browser(),
            origin,
            &[("email", BUYER), ("seats", "2")],
        )
        .await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{origin:?}");
        assert!(reply.header("location").is_none());
    }
    // The holder's own device, lured to post from another site.
    let (order, mut buyer) = demo.bought("2").await;
    let mails = demo.mailer.count();
    for path in [
        format!("/orders/{order}/seats/2/companion"),
        format!("/orders/{order}/cancel"),
        format!("/orders/{order}/transfer"),
    ] {
        let request = buyer
            .builder(Method::POST, &path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://evil.example")
            .body(Full::new(Bytes::from("email=mallory%40example.com&seat=2")))
            .unwrap();
        let reply = buyer.send(request).await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(demo.mailer.count(), mails, "nothing mailed");
    let page = buyer.open(&format!("/orders/{order}")).await;
    assert!(!page.text().contains("m***@"), "nothing handed over");
}

#[tokio::test]
async fn a_seat_handed_to_a_companion_is_theirs_once_they_verify() {
    let demo = demo();
    let (order, mut buyer) = demo.bought("3").await;
    let seat2 = format!("/orders/{order}/seats/2");
    let page = post(
        &mut buyer,
        &format!("{seat2}/companion"),
        &[("email", FRIEND)],
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert!(
        page.text().contains("t***@e***.com"),
        "pending, masked: {}",
        page.text()
    );
    assert!(
        page.text()
            .contains(&format!("action=\"/orders/{order}/cancel\""))
    );

    // The companion's mail has the seat's link.
    let link = demo
        .mailer
        .link_for(FRIEND)
        .expect("the companion is mailed");
    assert_eq!(link, format!("{ORIGIN}{seat2}"));
    // The holder is challenged on that seat now, and only that one.
    assert_eq!(buyer.open(&seat2).await.status(), StatusCode::UNAUTHORIZED);
    assert!(verified(
        &buyer.open(&format!("/orders/{order}/seats/3")).await
    ));

    // The companion opens the link and verifies with their own address.
    let mut friend = demo.browser();
    let path = link.strip_prefix(ORIGIN).unwrap();
    assert_eq!(friend.open(path).await.status(), StatusCode::UNAUTHORIZED);
    friend.resend().await;
    assert!(
        friend
            .code_for(BUYER)
            .is_none_or(|c| Some(c) == buyer.code_for(BUYER))
    );
    let code = friend.code_for(FRIEND).expect("a code to the companion");
    let seat = friend.enter_code(&code).await;
    assert!(verified(&seat), "{}", seat.text());
    assert!(seat.text().contains(&format!("<code>{order}-2</code>")));
    // Their seat page does not send them to the order, which is not theirs.
    assert!(!seat.text().contains(&format!("href=\"/orders/{order}\"")));
    let holders = buyer.open(&format!("/orders/{order}/seats/3")).await;
    assert!(
        holders
            .text()
            .contains(&format!("href=\"/orders/{order}\""))
    );
    // Their device opens that seat, not the order nor another seat.
    assert_eq!(
        friend.open(&format!("/orders/{order}")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        friend
            .open(&format!("/orders/{order}/seats/3"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // The order page says it was received; no cancel any more.
    let page = buyer.open(&format!("/orders/{order}")).await;
    assert!(page.text().contains("state received"), "{}", page.text());
    let cancel = post(
        &mut buyer,
        &format!("/orders/{order}/cancel"),
        &[("seat", "2")],
    )
    .await;
    assert_eq!(cancel.status(), StatusCode::CONFLICT, "{}", cancel.text());
}

#[tokio::test]
async fn a_hand_off_is_cancelled_before_it_is_received() {
    let demo = demo();
    let (order, mut buyer) = demo.bought("2").await;
    let seat2 = format!("/orders/{order}/seats/2");
    post(
        &mut buyer,
        &format!("{seat2}/companion"),
        &[("email", FRIEND)],
    )
    .await;
    assert_eq!(buyer.open(&seat2).await.status(), StatusCode::UNAUTHORIZED);

    let page = post(
        &mut buyer,
        &format!("/orders/{order}/cancel"),
        &[("seat", "2")],
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("role=\"status\""), "{}", page.text());
    assert!(!page.text().contains("t***@"), "{}", page.text());
    assert!(
        verified(&buyer.open(&seat2).await),
        "the seat is the holder's again"
    );

    // The companion's link no longer gets them in: the seat is the order's.
    let mut friend = demo.browser();
    assert_eq!(friend.open(&seat2).await.status(), StatusCode::UNAUTHORIZED);
    friend.send_email(FRIEND).await;
    assert!(
        friend.code_for(FRIEND).is_none(),
        "no code to the companion"
    );
}

#[tokio::test]
async fn the_holders_own_seat_is_never_handed_over() {
    let demo = demo();
    let (order, mut buyer) = demo.bought("2").await;
    let reply = post(
        &mut buyer,
        &format!("/orders/{order}/seats/1/companion"),
        &[("email", FRIEND)],
    )
    .await;
    assert_eq!(reply.status(), StatusCode::CONFLICT, "{}", reply.text());
    assert!(reply.text().contains("role=\"alert\""));
    assert!(demo.mailer.link_for(FRIEND).is_none());
    // A client that asks for JSON gets the refusal's code and text.
    let request = buyer
        .builder(Method::POST, &format!("/orders/{order}/seats/1/companion"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("accept-language", "ko")
        .header("origin", ORIGIN)
        .body(Full::new(Bytes::from(format!("email={FRIEND}"))))
        .unwrap();
    let reply = buyer.send(request).await;
    assert_eq!(reply.status(), StatusCode::CONFLICT);
    assert_eq!(reply.json()["error"], "own_seat");
    assert_eq!(
        reply.json()["message"],
        tower_otp::family::HandOffRefusal::OwnSeat.message(tower_otp::Locale::Ko)
    );
    assert!(verified(
        &buyer.open(&format!("/orders/{order}/seats/1")).await
    ));
    // Nor is a seat typed with a bad address.
    let reply = post(
        &mut buyer,
        &format!("/orders/{order}/seats/2/companion"),
        &[("email", "not an address")],
    )
    .await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn orders_and_seats_it_did_not_sell_are_not_found() {
    let demo = demo();
    let (order, mut buyer) = demo.bought("2").await;
    let mut altered = order.clone().into_bytes();
    altered[16] = b'3'; // three seats claimed where the tag says two
    let altered = String::from_utf8(altered).unwrap();
    for path in [
        format!("/orders/{altered}"),
        format!("/orders/{order}/seats/3"),
        format!("/orders/{order}/seats/0"),
        format!("/orders/{order}/seats/02"),
        "/orders/made-up-order".to_owned(),
        "/orders/made-up-order/seats/1".to_owned(),
    ] {
        let reply = buyer.open(&path).await;
        assert_eq!(reply.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(reply.header("set-cookie").is_none(), "{path}: no cookie");
    }
}

#[tokio::test]
async fn an_order_is_transferred_once_confirmed_and_accepted() {
    let demo = demo();
    let (order, mut buyer) = demo.bought("2").await;
    let order_path = format!("/orders/{order}");
    let page = post(
        &mut buyer,
        &format!("{order_path}/transfer"),
        &[("email", FRIEND)],
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("t***@e***.com"), "{}", page.text());
    assert!(page.text().contains("/transfer/confirm"), "the code's form");
    assert!(
        demo.mailer.link_for(FRIEND).is_none(),
        "not before the code"
    );

    // A wrong code, then the one mailed to the order's address.
    let wrong = post(
        &mut buyer,
        &format!("{order_path}/transfer/confirm"),
        &[("code", "000000")],
    )
    .await;
    let code = buyer
        .code_for(BUYER)
        .expect("a confirmation code to the buyer");
    if code != "000000" {
        assert_eq!(
            wrong.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong.text()
        );
    }
    let page = post(
        &mut buyer,
        &format!("{order_path}/transfer/confirm"),
        &[("code", &code)],
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert!(
        page.text().contains("/transfer/cancel"),
        "cancellable until accepted"
    );
    let link = demo
        .mailer
        .link_for(FRIEND)
        .expect("the recipient is mailed");
    assert_eq!(link, format!("{ORIGIN}{order_path}/accept"));

    // The recipient verifies on the acceptance page, and accepts.
    let mut friend = demo.browser();
    let accept = link.strip_prefix(ORIGIN).unwrap();
    assert_eq!(friend.open(accept).await.status(), StatusCode::UNAUTHORIZED);
    friend.resend().await;
    let code = friend.code_for(FRIEND).expect("a code to the recipient");
    let page = friend.enter_code(&code).await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert!(
        page.text().contains(&format!("action=\"{accept}\"")),
        "{}",
        page.text()
    );
    let page = post(&mut friend, accept, &[]).await;
    assert_eq!(
        page.status(),
        StatusCode::UNAUTHORIZED,
        "the order asks the new owner's code"
    );
    // (A new code to the same address waits for the resend cooldown.)
    demo.clock.advance(std::time::Duration::from_secs(61));
    friend.resend().await;
    let code = friend.code_for(FRIEND).unwrap();
    let page = friend.enter_code(&code).await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert!(verified(
        &friend.open(&format!("{order_path}/seats/1")).await
    ));

    // The old owner's devices are signed out.
    assert_eq!(
        buyer.open(&order_path).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let bound = demo
        .flow
        .inspect(&demo.flow.ticket_key(&TicketId::new(order.as_str())))
        .await
        .unwrap()
        .bound_address;
    assert_eq!(bound.as_deref(), Some("t***@e***.com"));
}

#[tokio::test]
async fn a_transfer_is_cancelled_before_it_is_accepted() {
    let demo = demo();
    let (order, mut buyer) = demo.bought("1").await;
    let order_path = format!("/orders/{order}");
    post(
        &mut buyer,
        &format!("{order_path}/transfer"),
        &[("email", FRIEND)],
    )
    .await;
    let page = post(&mut buyer, &format!("{order_path}/transfer/cancel"), &[]).await;
    assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("role=\"status\""), "{}", page.text());
    assert!(
        page.text()
            .contains(&format!("action=\"{order_path}/transfer\"")),
        "can start again"
    );
    // A code for a cancelled transfer confirms nothing.
    let code = buyer.code_for(BUYER).unwrap();
    let reply = post(
        &mut buyer,
        &format!("{order_path}/transfer/confirm"),
        &[("code", &code)],
    )
    .await;
    assert_eq!(reply.status(), StatusCode::CONFLICT, "{}", reply.text());
    assert!(demo.mailer.link_for(FRIEND).is_none());
    // The acceptance page is the gate's: no device of the recipient's passes.
    let mut friend = demo.browser();
    let page = friend.open(&format!("{order_path}/accept")).await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED, "{}", page.text());
    assert!(friend.code_for(FRIEND).is_none());
}

#[tokio::test]
async fn the_pages_speak_the_browsers_language() {
    let demo = demo();
    for locale in Locale::ALL {
        let mut browser = demo.browser().with_header("accept-language", locale.tag());
        let home = browser.open("/").await;
        assert!(
            home.text()
                .contains(&format!("<html lang=\"{}\"", locale.tag()))
        );
        assert!(
            !home.text().contains("[A-Za-z0-9_-]"),
            "no raw pattern on the home page"
        );
        let ticket = browser
            .open(&format!("/tickets/lang-{}", locale.tag()))
            .await;
        assert!(verified(&ticket));
        assert!(
            ticket
                .text()
                .contains(&format!("<html lang=\"{}\"", locale.tag()))
        );
        let csp = ticket.header("content-security-policy").unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
    }
}

#[tokio::test]
async fn a_language_link_chooses_the_language_and_it_is_kept() {
    let demo = demo();
    let mut browser = demo.browser().with_header("accept-language", "en");
    let home = browser.open("/").await;
    assert!(home.text().contains("<html lang=\"en\""));
    for locale in Locale::ALL {
        let link = format!(
            "href=\"?otp_lang={}\" hreflang=\"{}\"",
            locale.tag(),
            locale.tag()
        );
        assert!(home.text().contains(&link), "{link}");
    }
    let home = browser.open("/?otp_lang=ko").await;
    assert!(home.text().contains("<html lang=\"ko\""));
    assert!(
        home.text()
            .contains("hreflang=\"ko\" lang=\"ko\" aria-current=\"true\"")
    );
    assert_eq!(browser.cookie("otp_lang", "/"), Some("ko"));
    // Kept: the shop, a ticket, and the gate's own pages speak it.
    assert!(browser.open("/").await.text().contains("<html lang=\"ko\""));
    let ticket = browser.open("/tickets/language-kept").await;
    assert!(verified(&ticket) && ticket.text().contains("<html lang=\"ko\""));
    let mut other = demo.browser().with_header("accept-language", "en");
    other.set_cookie("otp_lang", "ko");
    let gate = other.open("/tickets/language-kept").await;
    assert_eq!(gate.status(), StatusCode::UNAUTHORIZED);
    assert!(gate.text().contains("<html lang=\"ko\""), "{}", gate.text());
    // A tag it does not know changes nothing.
    assert!(
        browser
            .open("/?otp_lang=xx")
            .await
            .text()
            .contains("<html lang=\"ko\"")
    );
}

#[test]
fn the_order_source_names_the_order_or_the_seat() {
    let flow = demo_app::configure_flow(Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        CapturingMailer::new(),
    ));
    let order = demo_app::new_order_id(&flow, 3);
    let source = demo_app::OrderSource::new(flow.clone());
    let scope = format!("/orders/{order}");
    let named = |path: &str| match source.find_in_path(path) {
        Found::Ticket(found) => Some((
            found.id.as_str().to_owned(),
            found.cookie_path(path).to_owned(),
        )),
        _ => None,
    };
    #[rustfmt::skip]
    let cases: &[(String, Option<String>)] = &[
        (format!("/orders/{order}"), Some(order.clone())),
        (format!("/orders/{order}/transfer"), Some(order.clone())),
        (format!("/orders/{order}/cancel"), Some(order.clone())),
        (format!("/orders/{order}/transfer/confirm"), Some(order.clone())),
        (format!("/orders/{order}/transfer/cancel"), Some(order.clone())),
        (format!("/orders/{order}/accept"), Some(format!("{order}~transfer"))),
        (format!("/orders/{order}/seats/1"), Some(format!("{order}-1"))),
        (format!("/orders/{order}/seats/3/companion"), Some(format!("{order}-3"))),
        (format!("/orders/{order}/seats/4"), None),
        (format!("/orders/{order}/seats/1/other"), None),
        (format!("/orders/{order}/other"), None),
        ("/orders/AAAAAAAAAAAAAAAA3AAAAAAAAAAA".to_owned(), None),
    ];
    for (path, want) in cases {
        let got = named(path);
        assert_eq!(got.as_ref().map(|(id, _)| id), want.as_ref(), "{path}");
        if let Some((_, cookie_path)) = got {
            assert_eq!(cookie_path, scope, "{path}");
        }
    }
    assert_eq!(source.find_in_path("/tickets/x"), Found::None);
    // The seats of an order are members of its family; seat 1 is the holder's own.
    let seat = |n: u8| flow.membership(&TicketId::new(format!("{order}-{n}")));
    assert!(seat(1).unwrap().is_holders_own());
    assert!(!seat(2).unwrap().is_holders_own());
    assert_eq!(seat(3).unwrap().family().as_str(), order);
    assert_eq!(seat(3).unwrap().cookie_path(), scope);
    assert!(seat(4).is_none());
    assert!(flow.membership(&TicketId::new(order.as_str())).is_none());
}
