//! What a ticket family costs the verified path: the same device cookie
//! on an order's own page and on one of its seats (a member, whose
//! hand-off state comes from the instance's cache), beside the route with
//! no layer, in the same run, with the ratios printed at the end.
//!
//! `cargo bench -p tower-otp-bench --bench family -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use criterion::Criterion;
use http::StatusCode;
use http::header::COOKIE;
use tower::{Service, ServiceExt};
use tower_otp::family::Membership;
use tower_otp::testing::{CapturingMailer, TestBrowser};
use tower_otp::{Flow, MemoryStore, OtpLayer, Secret, TicketId};

const GROUP: &str = "family";

/// `/orders/{order}` names the order, `/orders/{order}/seats/{n}` the seat.
fn ticket_of(parts: &http::request::Parts) -> Option<TicketId> {
    let rest = parts.uri.path().strip_prefix("/orders/")?;
    Some(match rest.split_once("/seats/") {
        Some((order, n)) => TicketId::new(format!("{order}-{n}")),
        None => TicketId::new(rest),
    })
}

fn routes() -> Router {
    Router::new()
        .route("/orders/{order}", get(|| async { "ok" }))
        .route("/orders/{order}/seats/{n}", get(|| async { "ok" }))
}

fn app() -> Router {
    let flow = Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        CapturingMailer::new(),
    )
    .with_ticket_families(|id: &TicketId| {
        let (order, _) = id.as_str().rsplit_once('-')?;
        Some(Membership::new(
            TicketId::new(order),
            format!("/orders/{order}"),
        ))
    });
    let layer = OtpLayer::new(flow)
        .with_ticket_source(ticket_of)
        .with_cookie_secure(false);
    routes().route_layer(layer)
}

fn get_with(path: &str, cookie: &str) -> Request {
    Request::get(path)
        .header(COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = app();
    // The order's first device: one cookie, scoped to the order's pages.
    let cookie = rt.block_on(async {
        let mut browser = TestBrowser::new(app.clone()).with_origin("http://shop.test");
        let page = browser.open("/orders/A7x9Qz").await;
        assert_eq!(page.status(), StatusCode::OK);
        let page = browser.open("/orders/A7x9Qz/seats/2").await;
        assert_eq!(page.status(), StatusCode::OK);
        browser.cookie_header("/orders/A7x9Qz/seats/2").unwrap()
    });
    let variants = [
        ("bare_seat", routes(), "/orders/A7x9Qz/seats/2"),
        ("order", app.clone(), "/orders/A7x9Qz"),
        ("seat", app, "/orders/A7x9Qz/seats/2"),
    ];
    let mut group = c.benchmark_group(GROUP);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut medians = Vec::new();
    for (name, app, path) in variants {
        let mut app = app.with_state::<()>(());
        let mut times = Vec::new();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    rt.block_on(async {
                        let response = ServiceExt::<Request>::ready(&mut app)
                            .await
                            .unwrap()
                            .call(get_with(path, &cookie))
                            .await
                            .unwrap();
                        assert_eq!(response.status(), StatusCode::OK, "{name}");
                        black_box(response)
                    });
                }
                let took = start.elapsed();
                times.push(took.as_nanos() as f64 / iters as f64);
                took
            })
        });
        times.sort_by(f64::total_cmp);
        medians.push((name, times[times.len() / 2]));
    }
    group.finish();
    c.final_summary();
    let bare = medians[0].1;
    println!("\nroute        median ns   ratio to the bare route");
    for (name, ns) in &medians {
        println!("{name:12} {ns:9.0}   {:5.2}x", ns / bare);
    }
    let (order, seat) = (medians[1].1, medians[2].1);
    println!("a seat over its order's own page: {:.3}x", seat / order);
}
