//! The demo's Prometheus endpoint shows what the flow recorded. One test in
//! its own binary: it installs the process-wide recorder.
#![cfg(all(feature = "metrics", feature = "axum"))]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_otp::{
    Flow, Locale, MemoryStore, Secret, TicketId, flow::SendRequest, testing::CapturingMailer,
};

#[path = "../examples/support/prometheus.rs"]
#[allow(dead_code)]
mod prometheus;

#[tokio::test]
async fn metrics_endpoint_renders_the_flows_counters_in_prometheus_text() {
    let handle = prometheus::install().expect("the only recorder of this process");
    let mailer = CapturingMailer::new();
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    let ticket = flow.ticket_key(&TicketId::new("prom-1"));
    flow.send(
        &ticket,
        SendRequest::new(Locale::En).with_email("hanako@example.jp"),
    )
    .await
    .unwrap();
    flow.verify(&ticket, mailer.last_code().unwrap().as_str())
        .await
        .unwrap();

    let response = prometheus::router(handle)
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for line in [
        "# HELP tower_otp_codes_sent_total Codes handed to the mailer.",
        "tower_otp_codes_sent_total 1",
        "tower_otp_verifications_total{outcome=\"verified\"} 1",
        "# TYPE tower_otp_store_duration_seconds summary",
        "tower_otp_store_duration_seconds_count{op=\"issue_code\"} 1",
        "tower_otp_mail_duration_seconds_count{kind=\"code\"} 1",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(!text.contains("hanako"), "no address in the metrics");
}
