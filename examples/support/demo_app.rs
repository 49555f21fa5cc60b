//! The demo's e-ticket site: its routes, its sample tickets and how it
//! configures the layer. Shared by `examples/demo.rs` and the browser tests
//! (`tests/browser.rs`), which serve this same router on 127.0.0.1.

#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use tower_otp::ticket::NoTicketSource;
use tower_otp::{Flow, Locale, OtpLayer, PathParam, VerifiedDevice};

pub(crate) const SAMPLE_TICKETS: [(&str, &str, &str); 3] = [
    (
        "A7x9Qz-2026-LIVE",
        "Tokyo Dome — Winter Live",
        "Gate 3 · Block B · Row 12 · Seat 34",
    ),
    (
        "kb-Yokohama-0412",
        "Yokohama Arena — Spring Tour",
        "Floor · Block C4 · Seat 101",
    ),
    (
        "Osaka_Jazz_88",
        "Osaka Jazz Night",
        "Balcony · Row 2 · Seat 8",
    ),
];

/// The demo's settings of the flow: the site name, and Japanese as the
/// fallback language.
pub(crate) fn configure_flow(flow: Flow) -> Flow {
    flow.with_site_name("Demo Tickets")
        .with_default_locale(Locale::Ja)
}

/// The demo's settings of the layer: the ticket route parameter, and each
/// sample ticket's event as the pages' ticket hint.
pub(crate) fn configure(layer: OtpLayer<NoTicketSource>) -> OtpLayer<PathParam> {
    layer
        .with_ticket_param("ticket")
        .with_ticket_hint(|ticket| {
            SAMPLE_TICKETS
                .iter()
                .find(|(id, _, _)| *id == ticket.as_str())
                .map(|(_, event, _)| (*event).to_owned())
        })
}

/// The site: `/` lists the sample tickets, `/tickets/{ticket}` (behind `otp`)
/// shows one.
pub(crate) fn router(otp: OtpLayer<PathParam>) -> Router {
    Router::new()
        .route("/tickets/{ticket}", get(ticket_page))
        .route_layer(otp)
        .route("/", get(index))
}

async fn index() -> Html<String> {
    let items: String = SAMPLE_TICKETS
        .iter()
        .map(|(id, event, _)| {
            format!("<li><a href=\"/tickets/{id}\">{event}</a> <code>{id}</code></li>")
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Demo Tickets</title><h1>Demo Tickets</h1><p>Open a ticket here, then open the same link in another \
         browser: it asks for a one-time password, printed in the demo's terminal.</p><ul>{items}</ul>\
         <p>Any id of <code>[A-Za-z0-9_-]{{1,64}}</code> works: <code>/tickets/your-own-id</code>.</p></html>"
    ))
}

fn valid_ticket(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn ticket_page(Path(ticket): Path<String>, device: VerifiedDevice) -> Response {
    if !valid_ticket(&ticket) {
        return (StatusCode::NOT_FOUND, "no such ticket").into_response();
    }
    let (event, seat) = SAMPLE_TICKETS
        .iter()
        .find(|(id, _, _)| *id == ticket)
        .map_or(("Demo Event", "General admission"), |(_, event, seat)| {
            (*event, *seat)
        });
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>{event}</title><h1>{event}</h1><p>{seat}</p>{qr}<p>Ticket <code>{ticket}</code></p>\
         <p><small>This browser is verified (device {device}).</small></p><p><a href=\"/\">All tickets</a></p></html>",
        qr = qr_picture(&ticket),
        device = device.device_id(),
    ))
    .into_response()
}

/// A QR-like picture drawn from a hash of the ticket id (decorative).
fn qr_picture(ticket: &str) -> String {
    let mut bits = Vec::with_capacity(441);
    let mut block = Sha256::digest(ticket.as_bytes());
    while bits.len() < 441 {
        bits.extend(
            block
                .iter()
                .flat_map(|byte| (0..8).map(move |i| byte >> i & 1 == 1)),
        );
        block = Sha256::digest(block);
    }
    // The three finder squares of a QR code, then hash bits.
    let finder_at = |x: usize, y: usize| {
        [(0, 0), (14, 0), (0, 14)].into_iter().find_map(|(fx, fy)| {
            let (dx, dy) = (x.wrapping_sub(fx), y.wrapping_sub(fy));
            (dx < 8 && dy < 8).then_some((dx, dy))
        })
    };
    let mut path = String::new();
    for y in 0..21 {
        for x in 0..21 {
            let on = match finder_at(x, y) {
                Some((dx, dy)) => {
                    dx < 7
                        && dy < 7
                        && (dx % 6 == 0
                            || dy % 6 == 0
                            || ((2..=4).contains(&dx) && (2..=4).contains(&dy)))
                }
                None => bits[y * 21 + x],
            };
            if on {
                path.push_str(&format!("M{x} {y}h1v1h-1z"));
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-2 -2 25 25\" width=\"200\" height=\"200\" \
         role=\"img\" aria-label=\"ticket code\"><rect x=\"-2\" y=\"-2\" width=\"25\" height=\"25\" \
         fill=\"#fff\"/><path d=\"{path}\"/></svg>"
    )
}
