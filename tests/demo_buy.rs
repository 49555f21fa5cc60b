//! The demo's purchase (`POST /buy` in `examples/support/demo_app.rs`): a new
//! random order, pre-bound to the buyer's address, 303 to it; a cross-origin
//! or `null` `Origin` is refused; with `OTP_REQUIRE_PREBOUND=1`'s setting, an
//! id it did not sell opens on its first browser only. (Its seats:
//! `tests/demo_orders.rs`.)
#![cfg(feature = "axum")]

#[path = "../examples/support/demo_app.rs"]
mod demo_app;

use axum::Router;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use tower_otp::pages::Texts;
use tower_otp::{
    Flow, Locale, MemoryStore, OtpLayer, Secret, TicketId, testing::CapturingMailer,
    testing::ManualClock, testing::TestBrowser, testing::TestResponse,
};

const ORIGIN: &str = "http://127.0.0.1:3000";
const BUYER: &str = "Hanako.Buyer@example.com";

struct Demo {
    app: Router,
    flow: Flow,
    mailer: CapturingMailer,
    clock: ManualClock,
}

/// The demo's router over a memory store, as `examples/demo.rs` builds it
/// (the setting as `OTP_REQUIRE_PREBOUND` would set it).
fn demo(require_prebound: bool) -> Demo {
    demo_with(require_prebound, false)
}

/// [`demo`], with `OTP_DEMO_SOLD_ONLY`'s setting too.
fn demo_with(require_prebound: bool, sold_only: bool) -> Demo {
    let mailer = CapturingMailer::new();
    let clock = ManualClock::starting_now();
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    let flow = demo_app::configure_flow(flow)
        .with_clock(clock.clone())
        .with_require_prebound(require_prebound);
    let otp = demo_app::configure(OtpLayer::new(flow.clone())).with_cookie_secure(false);
    let otp = if sold_only {
        demo_app::sold_only(otp)
    } else {
        otp
    };
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

    /// The masked address bound to ticket `id`.
    async fn bound(&self, id: &str) -> Option<String> {
        let key = self.flow.ticket_key(&TicketId::new(id));
        self.flow.inspect(&key).await.unwrap().bound_address
    }
}

/// `POST /buy` with this `Origin` (none: `None`).
async fn buy(browser: &mut TestBrowser<Router>, origin: Option<&str>, email: &str) -> TestResponse {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("email", email)
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

/// The order id a purchase redirected to.
fn bought(reply: &TestResponse) -> String {
    assert_eq!(reply.status(), StatusCode::SEE_OTHER, "{}", reply.text());
    let location = reply.header("location").expect("a Location");
    let id = location.strip_prefix("/orders/").expect("an order URL");
    assert_eq!(
        id.len(),
        28,
        "96 random bits, the seats, a 66-bit tag: {id}"
    );
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{id}"
    );
    id.to_owned()
}

#[tokio::test]
async fn the_home_page_offers_the_purchase_form() {
    let demo = demo(false);
    let home = demo.browser().open("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text();
    assert!(html.contains("<form method=post action=/buy>"), "{html}");
    assert!(
        html.contains("<input type=email name=email required"),
        "{html}"
    );
    assert!(html.contains("<select name=seats"), "{html}");
    assert!(
        html.contains("<html lang=\"ja\""),
        "the demo's default language"
    );
}

#[tokio::test]
async fn buying_answers_303_to_a_new_order_bound_to_the_buyer() {
    let demo = demo(false);
    let mut buyer = demo.browser();
    let first = bought(&buy(&mut buyer, Some(ORIGIN), BUYER).await);
    let second = bought(&buy(&mut demo.browser(), Some(ORIGIN), BUYER).await);
    assert_ne!(first, second, "a new id each time");
    assert_eq!(demo.bound(&first).await.as_deref(), Some("H***@e***.com"));

    // The buyer follows the redirect: pre-bound, so even the buying browser
    // confirms by a code, sent to the address bought with.
    let path = format!("/orders/{first}");
    let page = buyer.open(&path).await;
    assert_eq!(
        page.status(),
        StatusCode::UNAUTHORIZED,
        "no first-device trust"
    );
    buyer.send_email("someone-else@example.com").await;
    assert!(buyer.code_for("someone-else@example.com").is_none());
    let code = buyer.code_for(BUYER).expect("the code goes to the buyer");
    let ticket = buyer.enter_code(&code).await;
    assert_eq!(ticket.status(), StatusCode::OK);
    assert!(
        ticket
            .text()
            .contains(&format!("href=\"/orders/{first}/seats/1\""))
    );

    // Whoever else holds the link needs the buyer's mailbox.
    let mut stranger = demo.browser();
    assert_eq!(
        stranger.open(&path).await.status(),
        StatusCode::UNAUTHORIZED
    );
    stranger.send_email("stranger@example.com").await;
    assert!(stranger.code_for("stranger@example.com").is_none());
    assert_eq!(demo.bound(&first).await.as_deref(), Some("H***@e***.com"));
}

#[tokio::test]
async fn a_cross_origin_or_null_origin_purchase_is_refused() {
    let demo = demo(false);
    for origin in [
        Some("https://evil.example"),
        Some("null"),
        Some("http://127.0.0.1:3001"),
        Some("https://127.0.0.1:3000.evil.example"),
        None,
    ] {
        let reply = buy(&mut demo.browser(), origin, BUYER).await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{origin:?}");
        assert!(reply.header("location").is_none(), "{origin:?}");
    }
    assert_eq!(demo.mailer.count(), 0);
    // The same site over HTTPS (behind a proxy) is the same origin.
    let reply = buy(&mut demo.browser(), Some("https://127.0.0.1:3000"), BUYER).await;
    bought(&reply);
}

#[tokio::test]
async fn a_purchase_needs_a_valid_address() {
    let demo = demo(false);
    for email in ["", "not an address", "a@b@example.com"] {
        let reply = buy(&mut demo.browser(), Some(ORIGIN), email).await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{email:?}");
        assert!(reply.header("location").is_none());
    }
}

#[test]
fn require_prebound_is_off_unless_the_environment_says_1() {
    assert_eq!(demo_app::require_prebound(None), Ok(false));
    assert_eq!(demo_app::require_prebound(Some("0")), Ok(false));
    assert_eq!(demo_app::require_prebound(Some("1")), Ok(true));
    assert_eq!(demo_app::require_prebound(Some(" true ")), Ok(true));
    assert!(demo_app::require_prebound(Some("yes")).is_err());
    assert_eq!(demo_app::sold_only_setting(None), Ok(false));
    assert_eq!(demo_app::sold_only_setting(Some("1")), Ok(true));
    let error = demo_app::sold_only_setting(Some("on")).unwrap_err();
    assert!(error.starts_with("OTP_DEMO_SOLD_ONLY"), "{error}");
}

#[tokio::test]
async fn an_id_it_did_not_sell_is_bound_on_first_verify_by_default() {
    // As `examples/demo.rs` starts without OTP_REQUIRE_PREBOUND.
    let demo = demo(demo_app::require_prebound(None).unwrap());
    let path = "/tickets/try-any-id";
    let says = demo_app::texts::DemoTexts::for_locale(Locale::Ja).demo_event;
    assert!(demo.browser().open(path).await.text().contains(says));
    let mut other = demo.browser();
    assert_eq!(other.open(path).await.status(), StatusCode::UNAUTHORIZED);
    other.send_email("visitor@example.com").await;
    let code = other.code_for("visitor@example.com").unwrap();
    assert_eq!(other.enter_code(&code).await.status(), StatusCode::OK);
    assert_eq!(
        demo.bound("try-any-id").await.as_deref(),
        Some("v***@e***.com")
    );
}

#[tokio::test]
async fn with_require_prebound_an_unsold_id_opens_on_its_first_browser_only() {
    let demo = demo(true);
    let path = "/tickets/try-any-id";
    let first = demo.browser().open(path).await;
    assert_eq!(
        first.status(),
        StatusCode::OK,
        "the first browser is trusted"
    );
    let mut other = demo.browser();
    let page = other.open(path).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    // In the demo's fallback language (Japanese): where to open it instead.
    let says = Texts::for_locale(Locale::Ja).err_not_prebound;
    assert!(page.text().contains(says.as_ref()), "{}", page.text());
    assert_eq!(demo.bound("try-any-id").await, None);
    assert_eq!(demo.mailer.count(), 0);

    // An order it sold opens for its buyer as before.
    let id = bought(&buy(&mut demo.browser(), Some(ORIGIN), BUYER).await);
    let mut phone = demo.browser();
    let path = format!("/orders/{id}");
    assert_eq!(phone.open(&path).await.status(), StatusCode::UNAUTHORIZED);
    phone.resend().await;
    let code = phone.code_for(BUYER).expect("sent to the buyer");
    assert_eq!(phone.enter_code(&code).await.status(), StatusCode::OK);
}

/// Behind a proxy that rewrites `Host` (`OTP_PUBLIC_ORIGIN`): the purchase
/// takes the public origin, never the `Host` the proxy sends.
#[tokio::test]
async fn behind_a_proxy_the_purchase_takes_the_public_origin() {
    let mailer = CapturingMailer::new();
    let flow = demo_app::configure_flow(Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        mailer.clone(),
    ));
    let otp = demo_app::configure(OtpLayer::new(flow));
    let otp = demo_app::behind_proxy(otp, "https://tickets.example").unwrap();
    let app = demo_app::router(otp);
    // The proxy's request: Host is the upstream address the browser never saw.
    let mut browser = TestBrowser::new(app).with_origin(ORIGIN);
    let reply = buy(&mut browser, Some("https://tickets.example"), BUYER).await;
    assert_eq!(reply.status(), StatusCode::SEE_OTHER, "{}", reply.text());
    for wrong in [ORIGIN, "http://tickets.example", "https://evil.example"] {
        let reply = buy(&mut browser, Some(wrong), BUYER).await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{wrong}");
    }
}

/// `OTP_DEMO_SOLD_ONLY=1`: a sold order and the samples open; a made-up id,
/// one with a forged or altered tag, or a sold id under another secret is
/// `404` with no cookie and nothing stored. Off, a made-up id opens on its
/// first browser.
#[tokio::test]
async fn sold_only_answers_the_tickets_it_sold_and_nothing_else() {
    let demo = demo_with(false, true);
    let mut buyer = demo.browser();
    let sold = bought(&buy(&mut buyer, Some(ORIGIN), BUYER).await);
    let page = buyer.open(&format!("/orders/{sold}")).await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED, "pre-bound: a code");
    let page = buyer.open(&format!("/tickets/{sold}")).await;
    assert_eq!(
        page.status(),
        StatusCode::UNAUTHORIZED,
        "sold: a ticket too"
    );
    let sample = demo.browser().open("/tickets/A7x9Qz-2026-LIVE").await;
    assert_eq!(sample.status(), StatusCode::OK, "the samples exist");

    let mut altered = sold.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let elsewhere = {
        let other = demo_with(false, true);
        bought(&buy(&mut other.browser(), Some(ORIGIN), BUYER).await)
    };
    for id in [
        "made-up-id",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAA2AAAAAAAAAAA",
        &altered,
        &elsewhere,
    ] {
        let mut stranger = demo.browser();
        for path in [format!("/tickets/{id}"), format!("/orders/{id}")] {
            let page = stranger.open(&path).await;
            assert_eq!(page.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(page.header("set-cookie").is_none(), "{path}: no cookie");
        }
        let page = stranger.open(&format!("/tickets/{id}")).await;
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{id}");
        assert!(page.header("set-cookie").is_none(), "{id}: no cookie");
        let key = demo.flow.ticket_key(&TicketId::new(id));
        assert!(
            demo.flow.challenge(&key).await.unwrap().claimable,
            "{id}: nothing stored"
        );
    }

    // Off, a made-up id opens on its first browser.
    let open = demo_with(false, false);
    let page = open.browser().open("/tickets/made-up-id").await;
    assert_eq!(page.status(), StatusCode::OK);
}
