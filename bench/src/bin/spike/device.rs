//! The devices of the spike, as requests through the real `OtpLayer` over a
//! trivial router, in process: the first device's two GETs (the probe's
//! redirect, then the claim), and the second device's JSON `send` and
//! `verify`. Each checks the answer a browser would need, so a step that
//! does not do what it should counts as a failure.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_otp::mail::{MailError, MailKind, Mailer, OtpMail};
use tower_otp::{Flow, OtpLayer};

/// The route the tickets live on.
const ROUTE: &str = "/tickets/{ticket}";

/// A mailer that delivers nothing and keeps the latest code per address,
/// where the second device reads it (a lookup, however many were sent).
#[derive(Debug, Default)]
pub(crate) struct LatestCodes(Mutex<HashMap<String, String>>);

impl LatestCodes {
    /// The latest code mailed to `address`, taken out.
    pub(crate) fn take(&self, address: &str) -> Option<String> {
        self.0.lock().unwrap().remove(address)
    }
}

#[tower_otp::async_trait]
impl Mailer for LatestCodes {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        if let MailKind::Code { code, .. } = &mail.kind {
            let mut codes = self.0.lock().unwrap();
            codes.insert(mail.to.as_str().to_owned(), code.as_str().to_owned());
        }
        Ok(())
    }
}

/// The site: one route behind the layer, and how its tickets are named.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    app: Router,
    /// Distinguishes this run's tickets from any earlier run's.
    tag: String,
}

impl Site {
    /// The route `/tickets/{ticket}` answering "ticket", behind `flow`'s
    /// layer (plain HTTP cookies: the requests carry no scheme).
    pub(crate) fn new(flow: Flow) -> Result<Self, tower_otp::ConfigError> {
        let layer = OtpLayer::new(flow)
            .with_ticket_path(ROUTE)?
            .with_cookie_secure(false);
        let app = Router::new()
            .route(ROUTE, get(|| async { "ticket" }))
            .layer(layer);
        let tag = format!("{:08x}", rand::random::<u32>());
        Ok(Self { app, tag })
    }

    fn path(&self, ticket: usize) -> String {
        format!("/tickets/spike-{}-{ticket}", self.tag)
    }

    /// The second device's address for `ticket`, over 50 domains.
    pub(crate) fn address(ticket: usize) -> String {
        format!("fan{ticket}@spike{}.test", ticket % 50)
    }

    async fn call(&self, request: Request<Body>) -> Result<Response<Body>, String> {
        self.app
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| format!("the service failed: {e}"))
    }

    /// The first device opens `ticket`: a GET that earns the probe cookie
    /// and its redirect, then the GET with the probe cookie that claims and
    /// sets the device cookie.
    pub(crate) async fn claim(&self, ticket: usize) -> Result<(), String> {
        let path = self.path(ticket);
        let first = self.call(html_get(&path, None)).await?;
        if first.status() != StatusCode::SEE_OTHER {
            return Err(format!("the first GET answered {}", first.status()));
        }
        let location = header(&first, LOCATION).ok_or("the probe has no Location")?;
        let probe = set_cookies(&first)
            .find(|c| c.starts_with("otp_probe="))
            .ok_or("the probe set no probe cookie")?;
        let second = self.call(html_get(&location, Some(&probe))).await?;
        let device = set_cookies(&second).any(|c| c.starts_with("otp-"));
        if second.status().is_redirection() && device {
            Ok(())
        } else {
            Err(format!(
                "the claim answered {} (device cookie: {device})",
                second.status()
            ))
        }
    }

    /// The second device asks for a code for its address (JSON API).
    pub(crate) async fn send(&self, ticket: usize) -> Result<(), String> {
        let body = serde_json::json!({"action": "send", "email": Self::address(ticket)});
        let (status, _, json) = self.post(ticket, body).await?;
        if status == StatusCode::OK && json["state"] == "code_sent" {
            Ok(())
        } else {
            Err(format!("send answered {status}: {}", clip(&json)))
        }
    }

    /// The second device enters the code it was mailed (JSON API).
    pub(crate) async fn verify(&self, ticket: usize, codes: &LatestCodes) -> Result<(), String> {
        let address =
            tower_otp::EmailAddress::parse(&Self::address(ticket)).map_err(|e| e.to_string())?;
        let code = codes.take(address.as_str()).ok_or("no code was mailed")?;
        let body = serde_json::json!({"action": "verify", "code": code});
        let (status, device, json) = self.post(ticket, body).await?;
        if status == StatusCode::OK && device && json["state"] == "verified" {
            Ok(())
        } else {
            Err(format!(
                "verify answered {status} (device cookie: {device}): {}",
                clip(&json)
            ))
        }
    }

    /// POSTs a JSON action; the status, whether a device cookie was set,
    /// and the body.
    async fn post(
        &self,
        ticket: usize,
        body: serde_json::Value,
    ) -> Result<(StatusCode, bool, serde_json::Value), String> {
        let request = Request::post(self.path(ticket))
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .map_err(|e| e.to_string())?;
        let response = self.call(request).await?;
        let status = response.status();
        let device = set_cookies(&response).any(|c| c.starts_with("otp-"));
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("the body failed: {e}"))?
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status, device, json))
    }
}

fn html_get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path).header(ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.body(Body::empty()).expect("a valid request")
}

fn header<B>(response: &Response<B>, name: http::HeaderName) -> Option<String> {
    let value = response.headers().get(name)?.to_str().ok()?;
    Some(value.to_owned())
}

/// The `name=value` of each cookie set that is not a removal, as a
/// browser would send it back.
fn set_cookies<B>(response: &Response<B>) -> impl Iterator<Item = String> + '_ {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.contains("Max-Age=0"))
        .filter_map(|v| v.split(';').next().map(str::to_owned))
}

fn clip(json: &serde_json::Value) -> String {
    json.to_string().chars().take(200).collect()
}
