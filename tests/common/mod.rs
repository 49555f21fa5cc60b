//! A test harness: the layer around a small router, driven like browsers do,
//! with a manual clock and a capturing mailer.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use http::header::SET_COOKIE;
use http::{HeaderMap, Method, Request, StatusCode};
use tower_otp::testing::StoreTap;
use tower_otp::{
    EmailAddress, Flow, MemoryStore, OtpLayer, PathPattern, Secret, Timestamp, VerifiedDevice,
    testing::CapturingMailer, testing::ManualClock, testing::TestBrowser, testing::TestResponse,
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

/// The layer every harness builds: the test pattern `/tickets/{ticket}`.
pub type Layer = OtpLayer<PathPattern>;

pub struct Harness {
    pub app: Router,
    pub clock: ManualClock,
    pub mailer: CapturingMailer,
    pub layer: OtpLayer<PathPattern>,
}

impl Harness {
    /// The layer with insecure cookies (http in tests), default everything else.
    pub fn new() -> Self {
        Self::with(|layer| layer)
    }

    pub fn with(configure: impl FnOnce(Layer) -> Layer) -> Self {
        Self::build(&Secret::random(), MemoryStore::new(), configure)
    }

    pub fn browser(&self) -> Browser {
        Browser::on(self.app.clone())
    }

    /// A [`TestBrowser`] profile on this harness: its mailer, its clock, plain HTTP.
    pub fn test_browser(&self) -> TestBrowser<Router> {
        TestBrowser::new(self.app.clone())
            .with_origin("http://tickets.test")
            .with_mailer(self.mailer.clone())
            .with_clock(self.clock.clone())
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

/// One browser of the crate's tests: a [`TestBrowser`] (its cookie jar,
/// how a request is sent and its answer read) on `https://tickets.test`, so
/// it keeps every cookie the layer sets, `Secure` or not. On it, the tests'
/// own way of asking: requests built exactly as each test says (`get` sends
/// no `Host`), forms posted to any path with whatever token `csrf` holds
/// (the last one any answer showed), redirects followed only on `303`.
#[derive(Clone)]
pub struct Browser {
    inner: TestBrowser<Router>,
    pub csrf: Option<String>,
}

impl std::ops::Deref for Browser {
    type Target = TestBrowser<Router>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Browser {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl From<TestResponse> for Reply {
    fn from(response: TestResponse) -> Self {
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().to_owned(),
        }
    }
}

impl Browser {
    /// Sends `request` through the [`TestBrowser`] (cookies that apply to
    /// its path, those the answer sets stored), and keeps the answer's CSRF
    /// token, if it shows one.
    pub async fn send(&mut self, request: Request<Body>) -> Reply {
        let response = self.inner.send(request).await;
        if let Some(token) = response.csrf_token() {
            self.csrf = Some(token.to_owned());
        }
        response.into()
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// GET, following redirects (the first-device round trip) like a browser.
    pub async fn open(&mut self, path: &str) -> Reply {
        let mut reply = self.get(path).await;
        for _ in 0..5 {
            if reply.status != StatusCode::SEE_OTHER {
                break;
            }
            let location = reply.header("location").unwrap().to_owned();
            reply = self.get(&location).await;
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
        let request = Self::request(Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(self.form_body(fields)))
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
        let headers = [("host", "tickets.test"), ("accept", "application/json")];
        self.send_with(Method::GET, path, &headers, Body::empty())
            .await
    }

    pub async fn post_json(&mut self, path: &str, body: serde_json::Value) -> Reply {
        self.post_json_with(path, &[], body).await
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

// ---------------------------------------------------------------------------
// Helpers added for the gate suites (tests/gate_*.rs).

/// Opens `path` (its challenge page) and posts Send for `email` (or, with
/// `None`, Send to the bound address), without following the answer.
pub async fn post_send(
    browser: &mut TestBrowser<Router>,
    path: &str,
    email: Option<&str>,
) -> TestResponse {
    let page = browser.open(path).await;
    assert_eq!(
        page.status(),
        StatusCode::UNAUTHORIZED,
        "{path}: the challenge"
    );
    let token = page.csrf_token().expect("the page's form").to_owned();
    let form = match email {
        Some(email) => format!(
            "action=send&email={}&csrf_token={token}",
            email.replace('@', "%40")
        ),
        None => format!("action=resend&csrf_token={token}"),
    };
    let request = browser
        .builder(Method::POST, path)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ORIGIN, "http://tickets.test")
        .header("sec-fetch-site", "same-origin")
        .body(http_body_util::Full::<bytes::Bytes>::from(form))
        .expect("a valid request");
    browser.send(request).await
}

/// Where the first-device probe redirects `path`: the same URL, marked.
pub fn probe_location(path: &str) -> String {
    let join = if path.contains('?') { '&' } else { '?' };
    format!("{path}{join}otp_probe=1")
}

/// The path of a ticket under the default pattern.
pub fn ticket_path(id: &str) -> String {
    format!("/tickets/{id}")
}

impl Harness {
    /// A harness over `store`, keyed by `secret` (so two harnesses sharing a
    /// secret accept each other's device cookies).
    pub fn build(
        secret: &Secret,
        store: impl tower_otp::store::Store,
        configure: impl FnOnce(Layer) -> Layer,
    ) -> Self {
        Self::build_with_flow(secret, store, |flow| flow, configure)
    }

    /// A harness whose flow is configured too (site name, limits, hooks).
    pub fn build_with_flow(
        secret: &Secret,
        store: impl tower_otp::store::Store,
        flow: impl FnOnce(Flow) -> Flow,
        configure: impl FnOnce(Layer) -> Layer,
    ) -> Self {
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let mailer = CapturingMailer::new();
        let base = Flow::new(secret, store, mailer.clone())
            .with_clock(clock.clone())
            .with_site_name("Test Tickets")
            .with_new_device_notice(false);
        let layer = OtpLayer::new(flow(base))
            .with_ticket_path("/tickets/{ticket}")
            .expect("the test pattern is valid")
            .with_cookie_secure(false);
        let layer = configure(layer);
        Self {
            app: app().layer(layer.clone()),
            clock,
            mailer,
            layer,
        }
    }

    /// The store key of a ticket id.
    pub fn key(&self, id: &str) -> tower_otp::TicketKey {
        self.layer.flow().ticket_key(&tower_otp::TicketId::new(id))
    }

    /// The ticket's challenge as the store has it now.
    pub async fn state(&self, id: &str) -> tower_otp::flow::Challenge {
        self.layer
            .flow()
            .challenge(&self.key(id))
            .await
            .expect("memory store")
    }

    /// Claims `id` with a throwaway first device, so later browsers are challenged.
    pub async fn claim(&self, id: &str) -> Browser {
        let mut owner = self.browser();
        let reply = owner.open(&ticket_path(id)).await;
        assert!(reply.is_ticket(), "first device claims {id}: {reply:?}");
        owner
    }

    /// A browser on `id`'s challenge page that sent a code to `email`; returns
    /// the browser and the code.
    pub async fn sent(&self, id: &str, email: &str) -> (Browser, String) {
        let path = ticket_path(id);
        let mut b = self.browser();
        b.get(&path).await;
        let reply = b
            .post_form(&path, &[("action", "send"), ("email", email)])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "send: {}", reply.body);
        b.get(&path).await;
        let code = self.last_code_for(email);
        (b, code)
    }
}

impl Browser {
    /// A browser (empty jar) on any router.
    pub fn on(app: Router) -> Self {
        Browser {
            inner: TestBrowser::new(app),
            csrf: None,
        }
    }

    /// The same browser's cookies on another router (another instance, a
    /// deployment with other keys).
    pub fn copy_cookies_from(&mut self, other: &Browser) {
        self.inner.copy_cookies_from(&other.inner);
    }

    /// This browser's cookies alone, held on no service: what stays with
    /// the browser once the server it used is gone.
    pub fn jar_copy(&self) -> Browser {
        let mut copy = Browser::on(Router::new());
        copy.copy_cookies_from(self);
        copy
    }

    /// The value of the first cookie whose name starts with `prefix` that a
    /// request to `path` would carry.
    pub fn cookie_starting(&self, prefix: &str, path: &str) -> Option<String> {
        let names: Vec<String> = self.cookie_names().into_iter().map(str::to_owned).collect();
        names
            .iter()
            .filter(|name| name.starts_with(prefix))
            .find_map(|name| self.cookie(name, path).map(str::to_owned))
    }

    /// Drops every cookie whose name contains `part` that a request to
    /// `path` would carry.
    pub fn remove_cookies_containing(&mut self, part: &str, path: &str) {
        let names: Vec<String> = self
            .cookie_names()
            .into_iter()
            .filter(|name| name.contains(part))
            .map(str::to_owned)
            .collect();
        for name in names {
            self.remove_cookie(&name, path);
        }
    }

    /// A request to `path` with exactly these extra headers (and this browser's cookies).
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(body).unwrap()).await
    }

    /// A form body with these fields and this browser's CSRF token.
    pub fn form_body(&self, fields: &[(&str, &str)]) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        if let Some(token) = &self.csrf {
            form.append_pair("csrf_token", token);
        }
        form.finish()
    }

    /// POST a JSON body with these headers besides `Accept`/`Content-Type: application/json`.
    pub async fn post_json_with(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: serde_json::Value,
    ) -> Reply {
        let mut all = vec![
            ("host", "tickets.test"),
            ("accept", "application/json"),
            ("content-type", "application/json"),
        ];
        all.extend_from_slice(headers);
        self.send_with(Method::POST, path, &all, Body::from(body.to_string()))
            .await
    }
}

/// Every `nonce="..."` attribute value in a page.
pub fn nonces_in(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(at) = rest.find("nonce=\"") {
        let value = &rest[at + 7..];
        let end = value.find('"').unwrap_or(value.len());
        out.push(value[..end].to_owned());
        rest = &value[end..];
    }
    out
}

/// A page with its per-response values (nonces, CSRF tokens) blanked, for comparing.
pub fn stable(page: &str) -> String {
    let mut out = page.to_owned();
    for nonce in nonces_in(page) {
        out = out.replace(&nonce, "NONCE");
    }
    if let Some(token) = csrf_in(page) {
        out = out.replace(&token, "CSRF");
    }
    out
}

/// The directives of a `Content-Security-Policy` header: name → values.
pub fn csp_directives(csp: &str) -> BTreeMap<String, Vec<String>> {
    csp.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next().unwrap().to_ascii_lowercase();
            (name, words.map(str::to_owned).collect())
        })
        .collect()
}

/// A store that fails every call (the database is down).
pub fn failing_store() -> StoreTap<MemoryStore> {
    let store = StoreTap::new(MemoryStore::new());
    store.set_down(true);
    store
}

// ---------------------------------------------------------------------------
// Logs.

/// A log sink for one test.
#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    /// Captures this thread's `tracing` records at WARN and above (the
    /// tests run on a current-thread runtime).
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        Self::capture_at(tracing::Level::WARN)
    }

    /// Captures this thread's `tracing` records at `level` and above.
    pub fn capture_at(level: tracing::Level) -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        (logs.clone(), tracing::subscriber::set_default(subscriber))
    }

    pub fn warnings(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains("WARN"))
            .map(str::to_owned)
            .collect()
    }

    pub fn errors(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains("ERROR"))
            .map(str::to_owned)
            .collect()
    }
}

impl Logs {
    /// Everything captured, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
