//! One `tracing` span per gate decision: its name and fields, and
//! nothing secret in them. A small subscriber keeps every span's fields.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use http::StatusCode;
use http::header::{COOKIE, SET_COOKIE};
use tower::ServiceExt;
use tower_otp::{Flow, MemoryStore, OtpLayer, Secret, testing::CapturingMailer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const TICKET: &str = "SpanTicket-77";

type Fields = BTreeMap<String, String>;

/// Keeps the name and fields of every span, in creation order.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, Fields)>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut spans = self.0.lock().unwrap();
        let mut fields = Fields::new();
        span.record(&mut Collect(&mut fields));
        spans.push((span.metadata().name().to_owned(), fields));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.lock().unwrap();
        let (_, fields) = &mut spans[span.into_u64() as usize - 1];
        values.record(&mut Collect(fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Spans {
    /// The gate's spans so far, emptied.
    fn take(&self) -> Vec<Fields> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .filter(|(name, _)| name == "tower_otp.gate")
            .map(|(_, fields)| fields)
            .collect()
    }
}

fn get_with(path: &str, cookie: &str) -> Request {
    Request::get(path)
        .header(COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn cookies(response: &http::Response<axum::body::Body>) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(String::as_str)
}

#[tokio::test(flavor = "current_thread")]
async fn each_decision_has_one_span_with_its_outcome_and_no_secret() {
    let spans = Spans::default();
    let _guard = tracing::subscriber::set_default(spans.clone());
    let flow = Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        CapturingMailer::new(),
    );
    let layer = OtpLayer::new(flow)
        .with_ticket_path("/tickets/{ticket}")
        .unwrap()
        .with_cookie_secure(false);
    let app = Router::new()
        .route("/tickets/{ticket}", get(|| async { "ok" }))
        .route("/about", get(|| async { "about" }))
        .layer(layer);
    let path = format!("/tickets/{TICKET}");

    // First visit: the gate reads the store and sets the probe.
    let probe = app.clone().oneshot(get_with(&path, "")).await.unwrap();
    let [first] = &spans.take()[..] else {
        panic!("one span per request")
    };
    assert_eq!(field(first, "decision"), Some("lookup"));
    assert_eq!(field(first, "outcome"), Some("probe"));
    assert_eq!(
        field(first, "status"),
        Some(probe.status().as_u16().to_string()).as_deref()
    );
    let label = field(first, "ticket")
        .expect("the ticket's label")
        .to_owned();
    assert_eq!(label.len(), 8);

    // Back with the probe: claimed, passed with a device cookie.
    let claimed = app
        .clone()
        .oneshot(get_with(&path, &cookies(&probe)))
        .await
        .unwrap();
    assert_eq!(claimed.status(), StatusCode::OK);
    let [second] = &spans.take()[..] else {
        panic!("one span per request")
    };
    assert_eq!(field(second, "outcome"), Some("claim"));
    let device = cookies(&claimed);

    // The verified path: decided from the head, passed.
    let verified = app.clone().oneshot(get_with(&path, &device)).await.unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    let [third] = &spans.take()[..] else {
        panic!("one span per request")
    };
    assert_eq!(field(third, "decision"), Some("pass_verified"));
    assert_eq!(field(third, "outcome"), Some("passed"));
    assert_eq!(field(third, "status"), None);
    assert_eq!(field(third, "ticket"), Some(label.as_str()));

    // No ticket: passed untouched, and no ticket field.
    app.clone().oneshot(get_with("/about", "")).await.unwrap();
    let [fourth] = &spans.take()[..] else {
        panic!("one span per request")
    };
    assert_eq!(field(fourth, "decision"), Some("pass"));
    assert_eq!(field(fourth, "ticket"), None);

    // A malformed ticket: answered at once.
    app.clone()
        .oneshot(get_with("/tickets/%FF", ""))
        .await
        .unwrap();
    let [fifth] = &spans.take()[..] else {
        panic!("one span per request")
    };
    assert_eq!(field(fifth, "outcome"), Some("answered"));
    assert_eq!(field(fifth, "status"), Some("404"));

    // Never the ticket id, a token or a cookie value in any field.
    let token = device.split_once('=').unwrap().1;
    for fields in [first, second, third, fourth, fifth] {
        for value in fields.values() {
            assert!(!value.contains(TICKET), "{fields:?}");
            assert!(!value.contains(token), "{fields:?}");
        }
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        for name in &names {
            assert!(
                ["decision", "outcome", "status", "ticket"].contains(name),
                "{fields:?}"
            );
        }
    }
}
