//! The order routes of the demo (behind the order gate, see
//! `demo_app.rs`'s `OrderSource`): an order and its seats, a seat handed to
//! a companion and the hand-off cancelled, the whole order transferred (its
//! owner's code, its recipient's acceptance) or the transfer cancelled.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_otp::family::{HandOffError, SeatState};
use tower_otp::flow::Rejection;
use tower_otp::transfer::{TransferError, TransferRefusal, TransferStatus};
use tower_otp::{EmailAddress, Locale, TicketId, VerifiedDevice};

use super::look::{self, esc};
use super::texts::{DemoTexts, fill};
use super::{
    Pass, SHOP_EVENT, Shop, busy, cross_origin, field, not_found, order_seats, pass_page,
    same_origin, seat_ids, seat_number, seat_place,
};

/// `/orders/{order}/seats/{n}` (behind the gate, as the seat): one seat.
pub(super) async fn seat_page(
    State(shop): State<Shop>,
    Path((order, n)): Path<(String, String)>,
    headers: HeaderMap,
    device: VerifiedDevice,
) -> Response {
    let locale = look::locale(&headers);
    let t = DemoTexts::for_locale(locale);
    let (Some(seats), Some(n)) = (order_seats(&shop.flow, &order), seat_number(&n)) else {
        return not_found(locale);
    };
    let id = format!("{order}-{n}");
    let place = seat_place(n);
    let order_path = format!("/orders/{order}");
    // A companion's device opens this seat only; the holder's, the order.
    let holder = *device.ticket_key() == shop.flow.ticket_key(&TicketId::new(order.as_str()));
    let pass = Pass {
        id: &id,
        event: SHOP_EVENT,
        of: Some(fill(
            t.seat_of,
            &[("n", &n.to_string()), ("total", &seats.to_string())],
        )),
        place: &place,
        back: if holder {
            (&order_path, t.back_to_order)
        } else {
            ("/", t.back_to_shop)
        },
    };
    pass_page(locale, &pass, &device)
}

#[derive(Deserialize)]
pub(super) struct OrderQuery {
    done: Option<String>,
    seat: Option<String>,
}

/// `/orders/{order}` (behind the gate, as the order): its seats, each with
/// its state, and the holder's forms: hand a seat to a companion, cancel a
/// hand-off not yet received, transfer the order.
pub(super) async fn order_page(
    State(shop): State<Shop>,
    Path(order): Path<String>,
    Query(query): Query<OrderQuery>,
    headers: HeaderMap,
    _device: VerifiedDevice,
) -> Response {
    let locale = look::locale(&headers);
    let t = DemoTexts::for_locale(locale);
    let Some(seats) = order_seats(&shop.flow, &order) else {
        return not_found(locale);
    };
    let states = match shop.flow.seat_states(&seat_ids(&order, seats)).await {
        Ok(states) => Some(states),
        Err(error) => {
            tracing::error!(%error, "seat states unavailable");
            None
        }
    };
    let seat_text = |n: u8| fill(t.seat_name, &[("n", &n.to_string())]);
    let mut main = format!(
        "<h1>{title}</h1>\n<p class=\"lead\">{intro}</p>\n",
        title = esc(t.order_title),
        intro = esc(&fill(
            t.order_intro,
            &[("total", &seats.to_string()), ("event", SHOP_EVENT)]
        )),
    );
    let noted = query
        .seat
        .as_deref()
        .and_then(seat_number)
        .filter(|n| *n <= seats);
    match (query.done.as_deref(), noted) {
        // Said while the seat is still handed over (not after a cancel).
        (Some("handed"), Some(n)) => {
            if let Some(SeatState::Pending { to } | SeatState::Received { to }) =
                states.as_ref().map(|s| &s[usize::from(n) - 1])
            {
                main.push_str(&format!(
                    "<p class=\"done\" role=\"status\">{}</p>\n",
                    esc(&fill(t.handed, &[("n", &n.to_string()), ("to", to)]))
                ));
            }
        }
        (Some("cancelled"), Some(n)) => main.push_str(&format!(
            "<p class=\"done\" role=\"status\">{}</p>\n",
            esc(&fill(t.cancelled, &[("n", &n.to_string())]))
        )),
        (Some("transfer_cancelled"), _) => main.push_str(&format!(
            "<p class=\"done\" role=\"status\">{}</p>\n",
            esc(t.transfer_cancelled)
        )),
        (Some("accepted"), _) => main.push_str(&format!(
            "<p class=\"done\" role=\"status\">{}</p>\n",
            esc(t.accepted)
        )),
        _ => {}
    }
    if states.is_none() {
        main.push_str(&format!(
            "<p class=\"notice\" role=\"alert\">{}</p>\n",
            esc(t.states_unavailable)
        ));
    }
    main.push_str(&format!(
        "<h2>{}</h2>\n<ul class=\"seats\">\n",
        esc(t.seats_title)
    ));
    for n in 1..=seats {
        let state = states.as_ref().map(|s| &s[usize::from(n) - 1]);
        let (class, label) = match state {
            Some(SeatState::Pending { to }) => ("pending", fill(t.state_pending, &[("to", to)])),
            Some(SeatState::Received { to }) => ("received", fill(t.state_received, &[("to", to)])),
            _ => ("yours", t.state_yours.to_owned()),
        };
        main.push_str(&format!(
            "<li class=\"card\" aria-labelledby=\"seat-{n}\">\n<div class=\"seat-head\">\
             <h3 id=\"seat-{n}\"><a href=\"/orders/{order}/seats/{n}\">{name}</a></h3>\
             <span class=\"state {class}\">{label}</span></div>\n<p class=\"small\">{place}</p>\n",
            name = esc(&seat_text(n)),
            label = esc(&label),
            place = esc(&seat_place(n)),
        ));
        match state {
            Some(SeatState::Family) if n > 1 => main.push_str(&format!(
                "<form method=\"post\" action=\"/orders/{order}/seats/{n}/companion\">\n\
                 <label for=\"companion-{n}\">{label}</label>\n\
                 <input type=\"email\" name=\"email\" id=\"companion-{n}\" autocomplete=\"off\" required autocapitalize=\"off\" spellcheck=\"false\">\n\
                 <button type=\"submit\">{button}</button>\n</form>\n",
                label = esc(t.companion_label),
                button = esc(t.hand_off_button),
            )),
            Some(SeatState::Pending { .. }) => main.push_str(&format!(
                "<form method=\"post\" action=\"/orders/{order}/cancel\">\n\
                 <input type=\"hidden\" name=\"seat\" value=\"{n}\">\n\
                 <button type=\"submit\" aria-describedby=\"seat-{n}\">{button}</button>\n</form>\n",
                button = esc(t.cancel_button),
            )),
            _ => {}
        }
        main.push_str("</li>\n");
    }
    main.push_str("</ul>\n");
    let status = shop
        .flow
        .transfer_status(&TicketId::new(order.as_str()))
        .await;
    main.push_str(&transfer_section(t, &order, status));
    main.push_str(&format!("<p><a href=\"/\">{}</a></p>", esc(t.back_to_shop)));
    look::page(StatusCode::OK, locale, t.order_title, &main)
}

/// `POST /orders/{order}/seats/{n}/companion` (behind the gate, as the
/// seat; form field `email`): hands seat `n` to a companion, who is mailed
/// the seat's link, then answers 303 to the order.
pub(super) async fn companion(
    State(shop): State<Shop>,
    Path((order, n)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    device: VerifiedDevice,
    body: Bytes,
) -> Response {
    let locale = look::locale(&headers);
    let t = DemoTexts::for_locale(locale);
    let order_path = format!("/orders/{order}");
    let Some(origin) = same_origin(&headers, &uri, shop.public_origin.as_deref()) else {
        return cross_origin(locale, &order_path);
    };
    let Some(n) = seat_number(&n) else {
        return not_found(locale);
    };
    let email = field(&body, "email").unwrap_or_default();
    let Ok(to) = EmailAddress::parse(&email) else {
        return look::message(
            StatusCode::BAD_REQUEST,
            locale,
            t.error_title,
            t.bad_email,
            (&order_path, t.back),
        );
    };
    let seat = TicketId::new(format!("{order}-{n}"));
    let link = format!("{origin}/orders/{order}/seats/{n}");
    match shop.flow.hand_off(&device, &seat, &to, &link, locale).await {
        Ok(_) => Redirect::to(&format!("{order_path}?done=handed&seat={n}")).into_response(),
        Err(error) => hand_off_failed(&headers, locale, &order_path, error),
    }
}

/// `POST /orders/{order}/cancel` (behind the gate, as the order; form
/// field `seat`): takes back a seat handed to a companion who has not
/// opened it yet, then answers 303 to the order.
pub(super) async fn cancel(
    State(shop): State<Shop>,
    Path(order): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    device: VerifiedDevice,
    body: Bytes,
) -> Response {
    let locale = look::locale(&headers);
    let order_path = format!("/orders/{order}");
    if same_origin(&headers, &uri, shop.public_origin.as_deref()).is_none() {
        return cross_origin(locale, &order_path);
    }
    let seats = order_seats(&shop.flow, &order).unwrap_or(0);
    let Some(n) = field(&body, "seat")
        .as_deref()
        .and_then(seat_number)
        .filter(|n| *n <= seats)
    else {
        return not_found(locale);
    };
    let seat = TicketId::new(format!("{order}-{n}"));
    match shop.flow.cancel_hand_off(&device, &seat).await {
        Ok(()) => Redirect::to(&format!("{order_path}?done=cancelled&seat={n}")).into_response(),
        Err(error) => hand_off_failed(&headers, locale, &order_path, error),
    }
}

/// The page of a hand-off or cancellation that did not happen: the rule
/// that refused it, in the holder's language, or a store that failed.
fn hand_off_failed(
    headers: &HeaderMap,
    locale: Locale,
    order_path: &str,
    error: HandOffError,
) -> Response {
    let t = DemoTexts::for_locale(locale);
    match error {
        HandOffError::Refused(refusal) => {
            tracing::info!(reason = refusal.code(), "hand-off refused");
            look::refusal(
                headers,
                refusal.status(),
                locale,
                refusal.code(),
                t.error_title,
                refusal.message(locale),
                (order_path, t.back_to_order),
            )
        }
        error => {
            tracing::error!(%error, "hand-off failed: store unavailable");
            busy(locale, order_path)
        }
    }
}

/// The order page's part on transfers, as `status` says they stand: the
/// form that starts one; the confirmation code's form while one waits for
/// it; the recipient's address once they were mailed the link; a
/// cancellation's button until they accept.
fn transfer_section(
    t: &DemoTexts,
    order: &str,
    status: Result<TransferStatus, tower_otp::store::StoreError>,
) -> String {
    let mut out = format!("<h2>{}</h2>\n", esc(t.transfer_title));
    let cancel = format!(
        "<form method=\"post\" action=\"/orders/{order}/transfer/cancel\">\n\
         <button type=\"submit\">{}</button>\n</form>\n",
        esc(t.cancel_transfer_button)
    );
    match status {
        Err(error) => {
            tracing::error!(%error, "transfer status unavailable");
            out.push_str(&format!(
                "<p class=\"notice\" role=\"alert\">{}</p>\n",
                esc(t.busy)
            ));
        }
        Ok(status) => match status.pending {
            Some(pending) if !pending.confirmed => {
                out.push_str(&format!(
                    "<p>{}</p>\n<form method=\"post\" action=\"/orders/{order}/transfer/confirm\">\n\
                     <label for=\"transfer-code\">{label}</label>\n\
                     <input name=\"code\" id=\"transfer-code\" autocomplete=\"one-time-code\" inputmode=\"numeric\" required autocapitalize=\"off\" spellcheck=\"false\">\n\
                     <button type=\"submit\" class=\"primary\">{button}</button>\n</form>\n",
                    esc(&fill(t.transfer_pending_code, &[("to", &pending.to)])),
                    label = esc(t.code_label),
                    button = esc(t.confirm_transfer_button),
                ));
                out.push_str(&cancel);
            }
            Some(pending) => {
                out.push_str(&format!(
                    "<p>{}</p>\n",
                    esc(&fill(t.transfer_pending_confirmed, &[("to", &pending.to)]))
                ));
                out.push_str(&cancel);
            }
            None if status.done >= status.cap => {
                out.push_str(&format!("<p>{}</p>\n", esc(t.transfer_no_more)));
            }
            None => out.push_str(&format!(
                "<p class=\"small\">{body}</p>\n\
                 <form method=\"post\" action=\"/orders/{order}/transfer\">\n\
                 <label for=\"transfer\">{label}</label>\n\
                 <input type=\"email\" name=\"email\" id=\"transfer\" autocomplete=\"off\" required autocapitalize=\"off\" spellcheck=\"false\">\n\
                 <button type=\"submit\">{button}</button>\n</form>\n",
                body = esc(t.transfer_body),
                label = esc(t.transfer_label),
                button = esc(t.transfer_button),
            )),
        },
    }
    out
}

/// `POST /orders/{order}/transfer` (behind the gate, as the order; form
/// field `email`): starts giving the whole order to that address; a code
/// goes to the order's own address to confirm it. Answers 303 to the
/// order, whose page then asks for that code.
pub(super) async fn transfer(
    State(shop): State<Shop>,
    Path(order): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    device: VerifiedDevice,
    body: Bytes,
) -> Response {
    let locale = look::locale(&headers);
    let t = DemoTexts::for_locale(locale);
    let order_path = format!("/orders/{order}");
    if same_origin(&headers, &uri, shop.public_origin.as_deref()).is_none() {
        return cross_origin(locale, &order_path);
    }
    let email = field(&body, "email").unwrap_or_default();
    let Ok(to) = EmailAddress::parse(&email) else {
        return look::message(
            StatusCode::BAD_REQUEST,
            locale,
            t.error_title,
            t.bad_email,
            (&order_path, t.back),
        );
    };
    let id = TicketId::new(order.as_str());
    match shop.flow.start_transfer(&device, &id, &to, locale).await {
        Ok(_) => Redirect::to(&order_path).into_response(),
        // The confirmation code was not sent (its send limits, the mailer).
        Err(TransferError::Code(rejection)) => {
            tracing::warn!(reason = rejection.error_code(), "transfer code not sent");
            let status = match rejection {
                Rejection::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let code = rejection.error_code();
            let back = (order_path.as_str(), t.back);
            look::refusal(&headers, status, locale, code, t.error_title, t.busy, back)
        }
        Err(error) => transfer_failed(&headers, locale, &order_path, error),
    }
}

/// `POST /orders/{order}/transfer/confirm` (behind the gate, as the order;
/// form field `code`): confirms the transfer with the code mailed to the
/// order's address; its recipient is mailed the link of the acceptance
/// page. Answers 303 to the order.
pub(super) async fn confirm_transfer(
    State(shop): State<Shop>,
    Path(order): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    device: VerifiedDevice,
    body: Bytes,
) -> Response {
    let locale = look::locale(&headers);
    let order_path = format!("/orders/{order}");
    let Some(origin) = same_origin(&headers, &uri, shop.public_origin.as_deref()) else {
        return cross_origin(locale, &order_path);
    };
    let code = field(&body, "code").unwrap_or_default();
    let link = format!("{origin}/orders/{order}/accept");
    let id = TicketId::new(order.as_str());
    match shop
        .flow
        .confirm_transfer(&device, &id, &code, &link, locale)
        .await
    {
        Ok(()) => Redirect::to(&order_path).into_response(),
        Err(error) => transfer_failed(&headers, locale, &order_path, error),
    }
}

/// `POST /orders/{order}/transfer/cancel` (behind the gate, as the order):
/// cancels the transfer under way until its recipient accepts it.
pub(super) async fn cancel_transfer(
    State(shop): State<Shop>,
    Path(order): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    device: VerifiedDevice,
) -> Response {
    let locale = look::locale(&headers);
    let order_path = format!("/orders/{order}");
    if same_origin(&headers, &uri, shop.public_origin.as_deref()).is_none() {
        return cross_origin(locale, &order_path);
    }
    let id = TicketId::new(order.as_str());
    match shop.flow.cancel_transfer(&device, &id).await {
        Ok(()) => Redirect::to(&format!("{order_path}?done=transfer_cancelled")).into_response(),
        Err(error) => transfer_failed(&headers, locale, &order_path, error),
    }
}

/// `/orders/{order}/accept` (behind the gate, as the order's transfer
/// offer: its recipient verifies with a code to their own address): what
/// is given, and the button that accepts it.
pub(super) async fn accept_page(
    State(shop): State<Shop>,
    Path(order): Path<String>,
    headers: HeaderMap,
    _device: VerifiedDevice,
) -> Response {
    let locale = look::locale(&headers);
    let t = DemoTexts::for_locale(locale);
    let Some(seats) = order_seats(&shop.flow, &order) else {
        return not_found(locale);
    };
    // Only a transfer confirmed by its owner is offered.
    match shop
        .flow
        .transfer_status(&TicketId::new(order.as_str()))
        .await
    {
        Ok(status) if status.pending.as_ref().is_some_and(|p| p.confirmed) => {}
        Ok(_) => {
            let refusal = TransferRefusal::NoTransfer;
            return look::message(
                refusal.status(),
                locale,
                t.accept_title,
                refusal.message(locale),
                ("/", t.back_to_shop),
            );
        }
        Err(error) => {
            tracing::error!(%error, "transfer status unavailable");
            return busy(locale, "/");
        }
    }
    let main = format!(
        "<h1>{title}</h1>\n<p>{body}</p>\n<form method=\"post\" action=\"/orders/{order}/accept\">\n\
         <button type=\"submit\" class=\"primary\">{button}</button>\n</form>",
        title = esc(t.accept_title),
        body = esc(&fill(
            t.accept_body,
            &[("total", &seats.to_string()), ("event", SHOP_EVENT)]
        )),
        button = esc(t.accept_button),
    );
    look::page(StatusCode::OK, locale, t.accept_title, &main)
}

/// `POST /orders/{order}/accept` (behind the gate, as the transfer offer):
/// the order becomes the recipient's (every earlier device signed out);
/// answers 303 to the order, which then opens with a code to their address.
pub(super) async fn accept(
    State(shop): State<Shop>,
    Path(order): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    device: VerifiedDevice,
) -> Response {
    let locale = look::locale(&headers);
    let accept_path = format!("/orders/{order}/accept");
    if same_origin(&headers, &uri, shop.public_origin.as_deref()).is_none() {
        return cross_origin(locale, &accept_path);
    }
    let id = TicketId::new(order.as_str());
    match shop.flow.accept_transfer(&device, &id).await {
        Ok(_) => Redirect::to(&format!("/orders/{order}?done=accepted")).into_response(),
        Err(error) => transfer_failed(&headers, locale, &accept_path, error),
    }
}

/// The page of a transfer's step that did not happen: the rule that
/// refused it or what was wrong with the code, in the person's language,
/// or a store that failed.
fn transfer_failed(
    headers: &HeaderMap,
    locale: Locale,
    back: &str,
    error: TransferError,
) -> Response {
    let t = DemoTexts::for_locale(locale);
    let (status, code, text) = match error {
        TransferError::Refused(refusal) => {
            tracing::info!(reason = refusal.code(), "transfer refused");
            (refusal.status(), refusal.code(), refusal.message(locale))
        }
        TransferError::Code(
            rejection @ (Rejection::WrongCode { .. } | Rejection::InvalidCode(_)),
        ) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            rejection.error_code(),
            t.transfer_code_wrong,
        ),
        TransferError::Code(rejection @ Rejection::Throttled { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            rejection.error_code(),
            t.busy,
        ),
        TransferError::Code(rejection) => {
            tracing::info!(reason = rejection.error_code(), "transfer code refused");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                rejection.error_code(),
                t.transfer_code_failed,
            )
        }
        error => {
            tracing::error!(%error, "transfer failed: store unavailable");
            return busy(locale, back);
        }
    };
    look::refusal(
        headers,
        status,
        locale,
        code,
        t.error_title,
        text,
        (back, t.back),
    )
}
