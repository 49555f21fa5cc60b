//! A test harness: the layer around a small router, driven like browsers do,
//! with a manual clock and a capturing mailer.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_otp::{
    CapturingMailer, EmailAddress, ManualClock, MemoryStore, OtpLayer, Secret, Timestamp,
    VerifiedDevice,
};

pub const TICKET_BODY: &str = "TICKET PAGE";

/// The application behind the gate.
pub fn app() -> Router {
    Router::new()
        .route("/tickets/{ticket}", get(ticket).post(ticket))
        .route("/tickets/{ticket}/pdf", get(ticket))
        .route("/", get(|| async { "home" }))
}

async fn ticket(Path(ticket): Path<String>, device: VerifiedDevice) -> String {
    format!("{TICKET_BODY} {ticket} {}", device.device_id())
}

pub struct Harness {
    pub app: Router,
    pub clock: ManualClock,
    pub mailer: CapturingMailer,
    pub layer: OtpLayer,
}

impl Harness {
    /// The layer with insecure cookies (http in tests), default everything else.
    pub fn new() -> Self {
        Self::with(|layer| layer)
    }

    pub fn with(configure: impl FnOnce(OtpLayer) -> OtpLayer) -> Self {
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let mailer = CapturingMailer::new();
        let layer = OtpLayer::new(&Secret::random(), MemoryStore::new(), mailer.clone())
            .with_clock(clock.clone())
            .with_site_name("Test Tickets")
            .with_cookie_secure(false)
            .with_new_device_notice(false);
        let layer = configure(layer);
        Self {
            app: app().layer(layer.clone()),
            clock,
            mailer,
            layer,
        }
    }

    pub fn browser(&self) -> Browser {
        Browser {
            app: self.app.clone(),
            jar: BTreeMap::new(),
            csrf: None,
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub fn last_code(&self) -> String {
        self.mailer.last_code().expect("a code was mailed")
    }

    pub fn last_code_for(&self, address: &str) -> String {
        self.mailer
            .last_code_for(&EmailAddress::parse(address).unwrap())
            .expect("a code was mailed there")
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<cookie::Cookie<'static>> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
            .collect()
    }

    /// The device cookie this response sets, if any.
    pub fn device_cookie(&self) -> Option<cookie::Cookie<'static>> {
        self.set_cookies().into_iter().find(|c| {
            c.name().starts_with("otp-") && c.max_age() != Some(cookie::time::Duration::ZERO)
        })
    }

    pub fn is_ticket(&self) -> bool {
        self.status == StatusCode::OK && self.body.starts_with(TICKET_BODY)
    }
}

/// One browser: a cookie jar (sends every cookie it holds, whatever its Path,
/// which is stricter than a real browser) and the last CSRF token it saw.
#[derive(Clone)]
pub struct Browser {
    app: Router,
    pub jar: BTreeMap<String, String>,
    pub csrf: Option<String>,
}

impl Browser {
    pub async fn send(&mut self, request: Request<Body>) -> Reply {
        let mut request = request;
        if !self.jar.is_empty() {
            let header = self
                .jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request
                .headers_mut()
                .insert(COOKIE, header.parse().unwrap());
        }
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
        for value in parts.headers.get_all(SET_COOKIE) {
            let cookie = cookie::Cookie::parse(value.to_str().unwrap().to_owned()).unwrap();
            if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                self.jar.remove(cookie.name());
            } else {
                self.jar
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        if let Some(token) = csrf_in(&body) {
            self.csrf = Some(token);
        }
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// GET, following one redirect (the first-device probe) like a browser.
    pub async fn open(&mut self, path: &str) -> Reply {
        let reply = self.get(path).await;
        if reply.status == StatusCode::SEE_OTHER {
            let location = reply.header("location").unwrap().to_owned();
            return self.get(&location).await;
        }
        reply
    }

    pub fn request(method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header("host", "tickets.test")
    }

    /// POST a form with this browser's CSRF token (as a browser submitting the page would).
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        if let Some(token) = &self.csrf {
            form.append_pair("csrf_token", token);
        }
        let request = Self::request(Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(form.finish()))
            .unwrap();
        self.send(request).await
    }

    /// POST a form and follow the 303 like a browser.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let reply = self.post_form(path, fields).await;
        if reply.status == StatusCode::SEE_OTHER {
            assert_eq!(
                reply.header("location"),
                Some(path),
                "303 goes back to the same URL"
            );
            return self.get(path).await;
        }
        reply
    }

    pub async fn get_json(&mut self, path: &str) -> Reply {
        self.send(
            Self::request(Method::GET, path)
                .header("accept", "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn post_json(&mut self, path: &str, body: serde_json::Value) -> Reply {
        let request = Self::request(Method::POST, path)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }
}

/// The value of the hidden `csrf_token` field in a page.
pub fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf_token\"")?;
    let rest = &page[at..];
    let value = rest.find("value=\"")? + 7;
    let end = rest[value..].find('"')?;
    Some(rest[value..value + end].to_owned())
}
