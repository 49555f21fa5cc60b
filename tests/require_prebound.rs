//! `Flow::with_require_prebound(true)`: an unbound ticket takes no address
//! typed on a device that is not its first, in HTML (every language) and in
//! JSON, through the layer and without it; pre-bound tickets and first
//! devices work as before; off (the default), the first verified address is
//! bound, as in the seed.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use tower::ServiceExt;
use tower::util::BoxCloneService;
use tower_otp::pages::Texts;
use tower_otp::{
    EmailAddress, FirstDevice, Flow, Locale, MemoryStore, OtpLayer, Secret, TicketId,
    VerifiedDevice, flow::ChallengeState, flow::Rejection, flow::SendRequest,
    testing::CapturingMailer, testing::ManualClock, testing::TestBrowser,
};

const T: &str = "/tickets/forwarded-1";
const ID: &str = "forwarded-1";
const STRANGER: &str = "stranger@example.com";
const BUYER: &str = "buyer@example.com";

type App = BoxCloneService<Request<Full<Bytes>>, http::Response<Body>, Infallible>;

/// One site over one store: the layer serves `flow` with the setting on or
/// off as `strict` says at each request (a deploy that turns it on while a
/// stranger's page is open).
struct Site {
    app: App,
    /// The flow with the setting on.
    flow: Flow,
    strict: Arc<AtomicBool>,
    clock: ManualClock,
    mailer: CapturingMailer,
}

fn router(flow: Flow, mode: FirstDevice) -> Router {
    Router::new()
        .route(
            "/tickets/{ticket}",
            get(|device: VerifiedDevice| async move {
                format!("TICKET {}", device.ticket().as_str())
            }),
        )
        .route_layer(
            OtpLayer::new(flow)
                .with_ticket_param("ticket")
                .with_first_device(mode),
        )
}

fn site_with(strict: bool, mode: FirstDevice) -> Site {
    let clock = ManualClock::starting_now();
    let mailer = CapturingMailer::new();
    let lenient =
        Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone()).with_clock(clock.clone());
    // A clone shares the store and the keys (CSRF tokens included).
    let flow = lenient.clone().with_require_prebound(true);
    let (on, off) = (router(flow.clone(), mode), router(lenient, mode));
    let strict = Arc::new(AtomicBool::new(strict));
    let switch = Arc::clone(&strict);
    let app = tower::service_fn(move |request: Request<Full<Bytes>>| {
        let router = if switch.load(Ordering::SeqCst) {
            on.clone()
        } else {
            off.clone()
        };
        async move { router.oneshot(request).await }
    });
    Site {
        app: BoxCloneService::new(app),
        flow,
        strict,
        clock,
        mailer,
    }
}

fn site() -> Site {
    site_with(true, FirstDevice::Trust)
}

impl Site {
    fn browser(&self) -> TestBrowser<App> {
        TestBrowser::new(self.app.clone())
            .with_mailer(self.mailer.clone())
            .with_clock(self.clock.clone())
    }

    fn strict(&self, on: bool) {
        self.strict.store(on, Ordering::SeqCst);
    }

    /// The masked bound and pending addresses of the ticket.
    async fn addresses(&self) -> (Option<String>, Option<String>) {
        let report = self
            .flow
            .inspect(&self.flow.ticket_key(&TicketId::new(ID)))
            .await
            .unwrap();
        (report.bound_address, report.pending_address)
    }

    async fn first_device(&self) -> TestBrowser<App> {
        let mut laptop = self.browser();
        let page = laptop.open(T).await;
        assert_eq!(page.text(), format!("TICKET {ID}"), "the first device");
        laptop
    }
}

fn lang_of(page: &str) -> &str {
    let at = page.find("<html lang=\"").expect("an html element") + 12;
    &page[at..at + page[at..].find('"').unwrap()]
}

/// What the pages escape in a text (`'` and `"` in these strings).
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('\'', "&#39;")
        .replace('"', "&#34;")
}

/// The refusal page in `locale`: 403, no form, what to do instead.
fn assert_refused_page(page: &tower_otp::testing::TestResponse, locale: Locale, ctx: &str) {
    assert_eq!(
        page.status(),
        StatusCode::FORBIDDEN,
        "{ctx}: {}",
        page.text()
    );
    let html = page.text();
    assert_eq!(lang_of(html), locale.tag(), "{ctx}");
    let t = Texts::for_locale(locale);
    assert!(
        html.contains(&escaped(&t.err_not_prebound)),
        "{ctx}: says what to do\n{html}"
    );
    assert!(html.contains(r#"role="alert""#), "{ctx}");
    assert!(!html.contains("<form"), "{ctx}: nothing to type or send");
    assert_eq!(page.header("cache-control"), Some("no-store"), "{ctx}");
}

#[tokio::test]
async fn a_stranger_on_an_unbound_ticket_is_refused_in_every_language() {
    for locale in Locale::ALL {
        let ctx = locale.tag();
        let site = site();
        site.first_device().await;
        let mut stranger = site.browser().with_header("accept-language", locale.tag());
        // The page itself: nothing to type.
        assert_refused_page(&stranger.open(T).await, locale, ctx);

        // A page shown before the setting was on still posts its form: Send
        // is refused, nothing is mailed, nothing is pending.
        site.strict(false);
        let form = stranger.open(T).await;
        assert_eq!(form.status(), StatusCode::UNAUTHORIZED, "{ctx}");
        assert!(form.text().contains(r#"name="email""#), "{ctx}");
        site.strict(true);
        let sent = stranger.send_email(STRANGER).await;
        assert_refused_page(&sent, locale, ctx);
        assert_eq!(site.mailer.count(), 0, "{ctx}: no mail");
        assert_eq!(site.addresses().await, (None, None), "{ctx}");

        // Confirm, with whatever code: refused before it is looked at.
        let verified = stranger
            .submit(&[("action", "verify"), ("code", "123456")])
            .await;
        assert_refused_page(&verified, locale, ctx);
        assert_eq!(site.addresses().await, (None, None), "{ctx}: nothing bound");
    }
}

#[tokio::test]
async fn a_stranger_on_an_unbound_ticket_is_refused_in_json() {
    let site = site();
    site.first_device().await;
    let mut client = site.browser();
    let page = client.get_json(T).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN, "{}", page.text());
    let body = page.json();
    assert_eq!(body["error"], "not_prebound");
    assert_eq!(body["state"], "not_prebound");
    assert_eq!(body["bound"], false);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("open it from the link in your purchase e-mail, or ask the seller"),
        "{body}"
    );
    for action in [
        json!({"action": "send", "email": STRANGER}),
        json!({"action": "resend"}),
        json!({"action": "verify", "code": "123456"}),
    ] {
        let reply = client.post_json(T, &action).await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{action}");
        assert_eq!(reply.json()["error"], "not_prebound", "{action}");
        assert_eq!(reply.json()["state"], "not_prebound", "{action}");
    }
    assert_eq!(site.mailer.count(), 0, "no mail");
    assert_eq!(site.addresses().await, (None, None), "nothing bound");
}

/// A code sent before the setting was on (or by an instance without it)
/// binds nobody once it is on: verify reads the binding first.
#[tokio::test]
async fn a_code_sent_before_the_setting_binds_nobody() {
    let site = site();
    site.first_device().await;
    site.strict(false);
    let mut stranger = site.browser();
    stranger.open(T).await;
    stranger.send_email(STRANGER).await;
    let code = stranger.code_for(STRANGER).expect("sent while off");
    site.strict(true);
    let reply = stranger
        .post_json(T, &json!({"action": "verify", "code": code}))
        .await;
    assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{}", reply.text());
    assert_eq!(reply.json()["error"], "not_prebound");
    let (bound, _) = site.addresses().await;
    assert_eq!(bound, None, "nothing bound");
    assert_ne!(
        stranger.open(T).await.status(),
        StatusCode::OK,
        "no device cookie"
    );
}

#[tokio::test]
async fn the_flow_refuses_without_http_too() {
    let site = site();
    let ticket = site.flow.ticket_key(&TicketId::new("app-driven"));
    assert_eq!(
        site.flow.challenge(&ticket).await.unwrap().state,
        ChallengeState::NotPrebound
    );
    let typed = SendRequest::new(Locale::En).with_email(STRANGER);
    assert!(matches!(
        site.flow.send(&ticket, typed).await,
        Err(Rejection::NotPrebound)
    ));
    assert!(matches!(
        site.flow.verify(&ticket, "123456").await,
        Err(Rejection::NotPrebound)
    ));
    assert_eq!(site.mailer.count(), 0);
    assert_eq!(Rejection::NotPrebound.error_code(), "not_prebound");
}

#[tokio::test]
async fn a_pre_bound_tickets_owner_verifies() {
    let site = site();
    let ticket = site.flow.ticket_key(&TicketId::new(ID));
    site.flow
        .pre_bind(&ticket, &EmailAddress::parse(BUYER).unwrap())
        .await
        .unwrap();
    let mut phone = site.browser();
    let page = phone.open(T).await;
    assert_eq!(
        page.status(),
        StatusCode::UNAUTHORIZED,
        "pre-bound: challenged"
    );
    assert_eq!(
        phone.get_json(T).await.json()["state"],
        "send_required",
        "the bound address, no address field"
    );
    // A typed address is ignored: the code goes to the buyer.
    phone.open(T).await;
    phone.send_email(STRANGER).await;
    assert!(phone.code_for(STRANGER).is_none());
    let code = phone.code_for(BUYER).expect("sent to the buyer");
    assert_eq!(phone.enter_code(&code).await.text(), format!("TICKET {ID}"));
    // And another device of the buyer, later.
    site.clock.advance(Duration::from_secs(301));
    let mut tablet = site.browser();
    tablet.open(T).await;
    tablet.resend().await;
    let code = tablet.code_for(BUYER).expect("a second code");
    assert_eq!(
        tablet.enter_code(&code).await.text(),
        format!("TICKET {ID}")
    );
}

#[tokio::test]
async fn the_first_device_is_still_trusted() {
    let site = site();
    let mut laptop = site.first_device().await;
    assert_eq!(laptop.open(T).await.text(), format!("TICKET {ID}"), "again");
    // Confirm mode: one tap, as before.
    let site = site_with(true, FirstDevice::Confirm);
    let mut laptop = site.browser();
    assert_eq!(laptop.open(T).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(laptop.confirm().await.text(), format!("TICKET {ID}"));
    // Then the second device is refused.
    assert_eq!(site.browser().open(T).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn off_the_first_verified_address_owns_the_ticket() {
    let site = site_with(false, FirstDevice::Trust);
    assert!(
        !Flow::new(
            &Secret::random(),
            MemoryStore::new(),
            CapturingMailer::new()
        )
        .requires_prebound(),
        "off by default"
    );
    site.first_device().await;
    // The forwarded link: a stranger types their own address, and owns it.
    let mut stranger = site.browser();
    assert_eq!(stranger.open(T).await.status(), StatusCode::UNAUTHORIZED);
    stranger.send_email(STRANGER).await;
    let code = stranger.code_for(STRANGER).unwrap();
    assert_eq!(
        stranger.enter_code(&code).await.text(),
        format!("TICKET {ID}")
    );
    let (bound, _) = site.addresses().await;
    assert_eq!(bound.as_deref(), Some("s***@e***.com"));
    // The buyer's next device now needs the stranger's mailbox.
    site.clock.advance(Duration::from_secs(301));
    let mut phone = site.browser();
    phone.open(T).await;
    phone.send_email(BUYER).await;
    assert!(phone.code_for(BUYER).is_none());
    assert_eq!(
        site.mailer.messages().len(),
        2,
        "both codes to the stranger"
    );
}
