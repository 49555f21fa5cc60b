//! The newcomer's path, written as a new user would: an axum app
//! with `/orders/{id}`, an admin route that pre-binds the purchaser's
//! address, and `oneshot` tests with `TestBrowser`, `ManualClock` and
//! `CapturingMailer`. No helper of the project's own test suite is used.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use tower_otp::{
    EmailAddress, Flow, MemoryStore, OtpLayer, Secret, TicketId, VerifiedDevice,
    testing::CapturingMailer, testing::ManualClock, testing::TestBrowser,
};

/// The application under test.
fn app(flow: Flow) -> Router {
    let orders = Router::new()
        .route(
            "/orders/{id}",
            get(
                |Path(id): Path<String>, device: VerifiedDevice| async move {
                    format!("order {id} for device {}", device.device_id())
                },
            ),
        )
        .route_layer(OtpLayer::new(flow.clone()).with_ticket_param("id"));
    let admin = Router::new()
        .route("/admin/orders/{id}/buyer", post(pre_bind))
        .with_state(flow);
    orders.merge(admin)
}

/// The admin route (behind the application's own auth in real life):
/// pre-binds the purchaser's address.
async fn pre_bind(
    State(flow): State<Flow>,
    Path(id): Path<String>,
    Json(email): Json<String>,
) -> StatusCode {
    let Ok(email) = EmailAddress::parse(&email) else {
        return StatusCode::BAD_REQUEST;
    };
    let ticket = flow.ticket_key(&TicketId::new(id));
    match flow.pre_bind(&ticket, &email).await {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

struct Site {
    app: Router,
    flow: Flow,
    clock: ManualClock,
    mailer: CapturingMailer,
}

fn site() -> Site {
    let clock = ManualClock::starting_now();
    let mailer = CapturingMailer::new();
    let flow =
        Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone()).with_clock(clock.clone());
    Site {
        app: app(flow.clone()),
        flow,
        clock,
        mailer,
    }
}

impl Site {
    fn browser(&self) -> TestBrowser<Router> {
        TestBrowser::new(self.app.clone())
            .with_mailer(self.mailer.clone())
            .with_clock(self.clock.clone())
    }
}

#[tokio::test]
async fn the_first_device_sees_its_order() {
    let site = site();
    let mut laptop = site.browser();
    assert!(
        laptop
            .open("/orders/42")
            .await
            .text()
            .starts_with("order 42")
    );
    assert!(
        laptop
            .open("/orders/42")
            .await
            .text()
            .starts_with("order 42")
    );
}

#[tokio::test]
async fn another_device_verifies_by_code_and_the_owner_is_told() {
    let site = site();
    site.browser().open("/orders/42").await;
    let mut phone = site.browser();
    assert_eq!(
        phone.open("/orders/42").await.status(),
        StatusCode::UNAUTHORIZED
    );
    phone.send_email("buyer@example.com").await;
    let code = phone.code_for("buyer@example.com").expect("a code");
    site.clock.advance(Duration::from_secs(120));
    assert!(phone.enter_code(&code).await.text().starts_with("order 42"));
    let mut tablet = site.browser();
    tablet.open("/orders/42").await;
    tablet.send_email("ignored@example.com").await; // bound: goes to the buyer
    site.clock.advance(Duration::from_secs(61));
    let code = tablet.code_for("buyer@example.com").expect("a second code");
    assert!(
        tablet
            .enter_code(&code)
            .await
            .text()
            .starts_with("order 42")
    );
    site.flow.settled().await; // the new-device notice is out
    assert_eq!(site.mailer.count(), 3, "two codes and one notice");
}

#[tokio::test]
async fn a_pre_bound_order_sends_codes_to_the_purchaser_only() {
    let site = site();
    let mut admin = site.browser();
    let reply = admin
        .post_json(
            "/admin/orders/7/buyer",
            &serde_json::json!("purchaser@example.com"),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    let mut phone = site.browser();
    let page = phone.open("/orders/7").await;
    assert_eq!(
        page.status(),
        StatusCode::UNAUTHORIZED,
        "pre-bound: nobody is trusted unasked"
    );
    phone.send_email("someone@else.example").await;
    assert!(phone.code_for("someone@else.example").is_none());
    let code = phone
        .code_for("purchaser@example.com")
        .expect("sent to the purchaser");
    assert!(phone.enter_code(&code).await.text().starts_with("order 7"));
    site.flow.settled().await;
    assert_eq!(
        site.mailer.count(),
        1,
        "the purchaser's first device is no news: no notice"
    );
}

#[tokio::test]
async fn a_json_client_walks_the_same_way() {
    let site = site();
    site.browser().open("/orders/9").await;
    let mut app = site.browser();
    assert_eq!(
        app.get_json("/orders/9").await.state().as_deref(),
        Some("email_required")
    );
    let sent = app
        .post_json(
            "/orders/9",
            &serde_json::json!({"action": "send", "email": "a@example.com"}),
        )
        .await;
    assert_eq!(sent.state().as_deref(), Some("code_sent"));
    let code = app.code_for("a@example.com").unwrap();
    let verified = app
        .post_json(
            "/orders/9",
            &serde_json::json!({"action": "verify", "code": code}),
        )
        .await;
    assert_eq!(verified.state().as_deref(), Some("verified"));
    assert!(
        app.get_json("/orders/9")
            .await
            .text()
            .starts_with("order 9")
    );
}
