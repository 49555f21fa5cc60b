//! A small order site for the family, hand-off and transfer tests: orders
//! of seats behind the layer, the hand-off and transfer routes an
//! application would write, over a [`StoreTap`] on a memory store.
//!
//! Routes (every one behind the layer):
//! - `GET /orders/{order}`, `GET /orders/{order}/seats/{n}`: a page naming
//!   the ticket;
//! - `POST /orders/{order}/seats/{n}/companion` (body: the address) and
//!   `…/cancel`: a hand-off and its cancellation, acts of the order's holder
//!   (they name the order);
//! - `POST /orders/{order}/transfer` (body: the address), `…/transfer/confirm`
//!   (body: the code), `…/transfer/cancel`: the owner's steps (the order);
//! - `GET|POST /orders/{order}/accept`: the recipient's page and acceptance
//!   (the ticket [`Flow::transfer_id`] names).
//!
//! Every act answers `200 done` or a refusal's status and code.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use http::StatusCode;
use tower_otp::family::{HandOffError, HandOffRules, Membership, SeatState};
use tower_otp::testing::{CapturingMailer, ManualClock, StoreTap, TestBrowser};
use tower_otp::transfer::{TransferError, TransferRules};
use tower_otp::{
    EmailAddress, Flow, Locale, MemoryStore, OtpLayer, Secret, TicketId, VerifiedDevice,
};

pub(crate) const ORIGIN: &str = "http://shop.test";
pub(crate) const BUYER: &str = "taro@example.com";
pub(crate) const FRIEND: &str = "hanako@example.com";

/// The ticket a path names: `/orders/{order}` the order,
/// `/orders/{order}/seats/{n}` the seat `{order}-{n}`; a seat's hand-off and
/// its cancellation, and the transfer's steps, the order; the acceptance
/// page, the order's transfer id.
fn ticket_of(flow: &Flow, parts: &http::request::Parts) -> Option<TicketId> {
    let mut pieces = parts.uri.path().strip_prefix("/orders/")?.split('/');
    let order = TicketId::new(pieces.next()?);
    match (pieces.next(), pieces.next(), pieces.next()) {
        (None, ..) | (Some("transfer"), ..) => Some(order),
        (Some("accept"), None, _) => Some(flow.transfer_id(&order)),
        (Some("seats"), Some(n), None) => Some(TicketId::new(format!("{}-{n}", order.as_str()))),
        (Some("seats"), Some(_), Some(_)) => Some(order),
        _ => None,
    }
}

/// Seats `{order}-{n}` of order `{order}`; seat 1 is the holder's own.
pub(crate) fn families(id: &TicketId) -> Option<Membership> {
    let (order, n) = id.as_str().rsplit_once('-')?;
    let member = Membership::new(TicketId::new(order), format!("/orders/{order}"));
    Some(if n == "1" {
        member.holders_own()
    } else {
        member
    })
}

pub(crate) struct Site {
    pub(crate) app: Router,
    pub(crate) flow: Flow,
    pub(crate) mailer: CapturingMailer,
    pub(crate) clock: ManualClock,
}

async fn page(device: VerifiedDevice) -> String {
    format!("ticket page of {}", device.ticket().as_str())
}

async fn companion(
    State(flow): State<Flow>,
    Path((order, n)): Path<(String, String)>,
    device: VerifiedDevice,
    body: String,
) -> (StatusCode, String) {
    let seat = TicketId::new(format!("{order}-{n}"));
    let link = format!("{ORIGIN}/orders/{order}/seats/{n}");
    let to = EmailAddress::parse(&body).unwrap();
    let handed = flow.hand_off(&device, &seat, &to, &link, Locale::Ja).await;
    hand_off_answer(handed.map(|_| ()))
}

async fn cancel(
    State(flow): State<Flow>,
    Path((order, n)): Path<(String, String)>,
    device: VerifiedDevice,
) -> (StatusCode, String) {
    let seat = TicketId::new(format!("{order}-{n}"));
    hand_off_answer(flow.cancel_hand_off(&device, &seat).await)
}

fn hand_off_answer(result: Result<(), HandOffError>) -> (StatusCode, String) {
    match result {
        Ok(()) => (StatusCode::OK, "done".into()),
        Err(HandOffError::Refused(refusal)) => (refusal.status(), refusal.code().into()),
        Err(HandOffError::Store(_)) => (StatusCode::SERVICE_UNAVAILABLE, "store".into()),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "other".into()),
    }
}

fn transfer_answer<T>(result: Result<T, TransferError>) -> (StatusCode, String) {
    match result {
        Ok(_) => (StatusCode::OK, "done".into()),
        Err(TransferError::Refused(refusal)) => (refusal.status(), refusal.code().into()),
        Err(TransferError::Code(rejection)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            rejection.error_code().to_owned(),
        ),
        Err(TransferError::Store(_)) => (StatusCode::SERVICE_UNAVAILABLE, "store".into()),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "other".into()),
    }
}

async fn transfer(
    State(flow): State<Flow>,
    Path(order): Path<String>,
    device: VerifiedDevice,
    body: String,
) -> (StatusCode, String) {
    let to = EmailAddress::parse(&body).unwrap();
    let order = TicketId::new(order);
    transfer_answer(flow.start_transfer(&device, &order, &to, Locale::En).await)
}

async fn confirm(
    State(flow): State<Flow>,
    Path(order): Path<String>,
    device: VerifiedDevice,
    body: String,
) -> (StatusCode, String) {
    let link = format!("{ORIGIN}/orders/{order}/accept");
    let order = TicketId::new(order);
    transfer_answer(
        flow.confirm_transfer(&device, &order, &body, &link, Locale::En)
            .await,
    )
}

async fn cancel_transfer(
    State(flow): State<Flow>,
    Path(order): Path<String>,
    device: VerifiedDevice,
) -> (StatusCode, String) {
    transfer_answer(flow.cancel_transfer(&device, &TicketId::new(order)).await)
}

async fn accept(
    State(flow): State<Flow>,
    Path(order): Path<String>,
    device: VerifiedDevice,
) -> (StatusCode, String) {
    transfer_answer(flow.accept_transfer(&device, &TicketId::new(order)).await)
}

/// The site's rules.
#[derive(Default)]
pub(crate) struct Rules {
    pub(crate) hand_off: HandOffRules,
    pub(crate) transfer: TransferRules,
}

impl Site {
    /// A site over `store`, as one instance of several sharing it.
    pub(crate) fn on(
        store: StoreTap<Arc<MemoryStore>>,
        clock: ManualClock,
        secret: &Secret,
        rules: Rules,
    ) -> Self {
        let mailer = CapturingMailer::new();
        let flow = Flow::new(secret, store, mailer.clone())
            .with_clock(clock.clone())
            .with_ticket_families(families)
            .with_hand_off_rules(rules.hand_off)
            .with_transfer_rules(rules.transfer);
        let source_flow = flow.clone();
        let layer = OtpLayer::new(flow.clone())
            .with_ticket_source(move |parts: &http::request::Parts| ticket_of(&source_flow, parts))
            .with_cookie_secure(false);
        let app = Router::new()
            .route("/orders/{order}", get(page))
            .route("/orders/{order}/seats/{n}", get(page))
            .route("/orders/{order}/seats/{n}/companion", post(companion))
            .route("/orders/{order}/seats/{n}/cancel", post(cancel))
            .route("/orders/{order}/transfer", post(transfer))
            .route("/orders/{order}/transfer/confirm", post(confirm))
            .route("/orders/{order}/transfer/cancel", post(cancel_transfer))
            .route("/orders/{order}/accept", get(page).post(accept))
            .route_layer(layer)
            .with_state(flow.clone());
        Site {
            app,
            flow,
            mailer,
            clock,
        }
    }

    /// A site of its own, with these rules.
    pub(crate) fn with(rules: Rules) -> Self {
        let store = StoreTap::new(Arc::new(MemoryStore::new()));
        Self::on(store, ManualClock::starting_now(), &Secret::random(), rules)
    }

    /// A site of its own, with the default rules.
    pub(crate) fn new() -> Self {
        Self::with(Rules::default())
    }

    pub(crate) fn browser(&self) -> TestBrowser<Router> {
        TestBrowser::new(self.app.clone())
            .with_origin(ORIGIN)
            .with_mailer(self.mailer.clone())
            .with_clock(self.clock.clone())
    }

    /// Sells `order`, pre-bound to the buyer.
    pub(crate) async fn sell(&self, order: &str) {
        let key = self.flow.ticket_key(&TicketId::new(order));
        let buyer = EmailAddress::parse(BUYER).unwrap();
        self.flow.pre_bind(&key, &buyer).await.unwrap();
    }

    /// A browser verified on `path` by a code mailed to `address` (the
    /// ticket's binding).
    pub(crate) async fn verified(&self, path: &str, address: &str) -> TestBrowser<Router> {
        let mut b = self.browser();
        let page = b.open(path).await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED, "{}", page.text());
        let page = b.verify_by_mail(address).await;
        assert_eq!(page.status(), StatusCode::OK, "{}", page.text());
        b
    }

    /// The buyer's browser, verified on `order` by a code.
    pub(crate) async fn holder(&self, order: &str) -> TestBrowser<Router> {
        self.verified(&format!("/orders/{order}"), BUYER).await
    }

    /// POSTs `body` as text from this site's origin: the answer's status and text.
    pub(crate) async fn post(
        &self,
        b: &mut TestBrowser<Router>,
        path: &str,
        body: &str,
    ) -> (StatusCode, String) {
        let request = b
            .builder(http::Method::POST, path)
            .header("content-type", "text/plain")
            .header("origin", ORIGIN)
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_owned(),
            )))
            .unwrap();
        let reply = b.send(request).await;
        (reply.status(), reply.text().to_owned())
    }

    pub(crate) async fn states(&self, order: &str, n: u32) -> Vec<SeatState> {
        let seats: Vec<_> = (1..=n)
            .map(|i| TicketId::new(format!("{order}-{i}")))
            .collect();
        self.flow.seat_states(&seats).await.unwrap()
    }
}
