//! [`TestBrowser`]: a browser profile over any service, for applications' own tests.

use std::fmt;
use std::future::poll_fn;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower_service::Service;

use super::jar::Jar;
use crate::clock::{Clock, SystemClock};
use crate::email::EmailAddress;
use crate::error::BoxError;
use crate::mail::capture::CapturingMailer;

/// How many redirects [`TestBrowser::open`] follows, as a browser's limit would.
const MAX_REDIRECTS: usize = 10;

/// One browser profile driving a service in a test: a cookie jar that
/// honours `Path`, `Max-Age`, `Secure` and the `__Secure-`/`__Host-`
/// prefixes, the first-device round trip, the gate's forms with their CSRF
/// token, and same-origin `Origin`/`Host` headers (feature `test-util`).
///
/// Build one per profile (the first device, a phone, a mail app's in-app
/// browser): each has its own jar over a clone of the same service. A clone
/// of a `TestBrowser` is a copy of the profile (its jar, its headers, the
/// page it shows) that goes its own way from then on.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_otp::{testing::CapturingMailer, Flow, testing::ManualClock, MemoryStore, OtpLayer, Secret, testing::TestBrowser};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mailer = CapturingMailer::new();
/// let clock = ManualClock::starting_now();
/// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone()).with_clock(clock.clone());
/// let app = Router::new()
///     .route("/orders/{id}", get(|| async { "your order" }))
///     .route_layer(OtpLayer::new(flow.clone()).with_ticket_param("id"));
///
/// let mut laptop = TestBrowser::new(app.clone());
/// assert_eq!(laptop.open("/orders/42").await.text(), "your order"); // the first device
///
/// let mut phone = TestBrowser::new(app).with_mailer(mailer).with_clock(clock);
/// assert_eq!(phone.open("/orders/42").await.status(), 401); // the challenge page
/// phone.send_email("buyer@example.com").await;
/// let code = phone.code_for("buyer@example.com").expect("a code was mailed");
/// assert_eq!(phone.enter_code(&code).await.text(), "your order");
/// flow.settled().await; // background mail (the new-device notice) is out
/// # });
/// ```
#[derive(Clone)]
pub struct TestBrowser<S> {
    service: S,
    origin: String,
    host: String,
    secure: bool,
    jar: Jar,
    clock: Arc<dyn Clock>,
    headers: HeaderMap,
    mailer: Option<CapturingMailer>,
    /// The URL of the last page shown, where forms post.
    url: Option<String>,
    csrf: Option<String>,
    /// The connection's peer, put in every request's extensions.
    client: Option<SocketAddr>,
}

impl<S> fmt::Debug for TestBrowser<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestBrowser")
            .field("origin", &self.origin)
            .field("url", &self.url)
            .field("cookies", &self.jar.names())
            .finish_non_exhaustive()
    }
}

/// The jar, read and changed by hand: what a test does to a profile that no
/// page does (forge or tamper with a cookie, carry a jar to another server).
impl<S> TestBrowser<S> {
    /// The value of the cookie `name` this browser would send to `path`.
    pub fn cookie(&self, name: &str, path: &str) -> Option<&str> {
        self.jar.get(name, path, self.secure, self.clock.now())
    }

    /// The `Cookie` header this browser would send to `path`, if any: for a
    /// request made with another client (a load generator, a raw socket)
    /// on this profile's behalf.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret, testing::TestBrowser};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    /// let app = Router::new()
    ///     .route("/orders/{id}", get(|| async { "your order" }))
    ///     .route_layer(OtpLayer::new(flow).with_ticket_param("id"));
    /// let mut laptop = TestBrowser::new(app);
    /// assert_eq!(laptop.cookie_header("/orders/42"), None);
    /// laptop.open("/orders/42").await; // the first device: a device cookie
    /// let to_42 = laptop.cookie_header("/orders/42").expect("its cookies");
    /// let to_7 = laptop.cookie_header("/orders/7").unwrap_or_default();
    /// assert!(to_42.contains(&to_7), "the same, but for the device cookie");
    /// assert!(to_42.len() > to_7.len(), "the device cookie is scoped to its ticket");
    /// # });
    /// ```
    pub fn cookie_header(&self, path: &str) -> Option<String> {
        self.jar.header(path, self.secure, self.clock.now())
    }

    /// The names of the cookies in the jar, whatever their path (one that
    /// has expired stays listed until a response replaces it).
    pub fn cookie_names(&self) -> Vec<&str> {
        self.jar.names()
    }

    /// Puts the cookie `name=value` in the jar as a script on the page would
    /// (`Path=/`, until the profile is closed; `Secure` on an `https`
    /// origin), replacing the one of that name on `Path=/`: a forged cookie,
    /// or one a test stands in for.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tower_otp::testing::TestBrowser;
    ///
    /// let mut browser = TestBrowser::new(Router::<()>::new().route("/", get(|| async { "" })));
    /// browser.set_cookie("otp_lang", "ja");
    /// assert_eq!(browser.cookie("otp_lang", "/tickets/abc"), Some("ja"));
    /// browser.remove_cookie("otp_lang", "/tickets/abc");
    /// assert!(browser.cookie_names().is_empty());
    /// ```
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        let secure = if self.secure { "; Secure" } else { "" };
        let set = format!("{name}={value}; Path=/{secure}");
        self.jar.store(&set, "/", self.secure, self.clock.now());
    }

    /// Removes every cookie `name` this browser would send to `path`, as an
    /// expired `Set-Cookie` for each would: the browser dropped it.
    pub fn remove_cookie(&mut self, name: &str, path: &str) {
        let secure = if self.secure { "; Secure" } else { "" };
        let now = self.clock.now();
        // The paths whose cookies a request to `path` carries: `path`
        // itself, and each prefix that ends before or at a `/`.
        let mut scopes = vec![path.to_owned()];
        for (at, _) in path.match_indices('/') {
            scopes.push(path[..=at].to_owned());
            if at > 0 {
                scopes.push(path[..at].to_owned());
            }
        }
        for scope in scopes {
            let expired = format!("{name}=; Path={scope}; Max-Age=0{secure}");
            self.jar.store(&expired, &scope, self.secure, now);
        }
    }

    /// Forgets every cookie (as a private window does when it is closed).
    pub fn clear_cookies(&mut self) {
        self.jar = Jar::default();
    }

    /// Replaces this browser's jar with a copy of `other`'s: the same
    /// profile against another service (a second instance behind the load
    /// balancer, a deployment with rotated keys).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use axum::{Router, routing::get};
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret, testing::TestBrowser};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// // Two instances of one site: one secret, one store.
    /// let (secret, store) = (Secret::random(), Arc::new(MemoryStore::new()));
    /// let instance = || {
    ///     let flow = Flow::new(&secret, Arc::clone(&store), CapturingMailer::new());
    ///     Router::new()
    ///         .route("/orders/{id}", get(|| async { "your order" }))
    ///         .route_layer(OtpLayer::new(flow).with_ticket_param("id"))
    /// };
    /// let mut on_a = TestBrowser::new(instance());
    /// assert_eq!(on_a.open("/orders/42").await.text(), "your order"); // the first device
    /// let mut on_b = TestBrowser::new(instance());
    /// on_b.copy_cookies_from(&on_a);
    /// assert_eq!(on_b.get("/orders/42").await.text(), "your order");
    /// # });
    /// ```
    pub fn copy_cookies_from<T>(&mut self, other: &TestBrowser<T>) {
        self.jar = other.jar.clone();
    }
}

impl<S, B> TestBrowser<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: fmt::Debug,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    /// A fresh profile on `https://tickets.test`, with an empty jar.
    pub fn new(service: S) -> Self {
        Self {
            service,
            origin: "https://tickets.test".to_owned(),
            host: "tickets.test".to_owned(),
            secure: true,
            jar: Jar::default(),
            clock: Arc::new(SystemClock),
            headers: HeaderMap::new(),
            mailer: None,
            url: None,
            csrf: None,
            client: None,
        }
    }

    /// The origin the browser believes it is on (default
    /// `https://tickets.test`). Over `http://`, `Secure` and prefixed cookies
    /// are neither stored nor sent, as in a browser: pair it with
    /// `OtpLayer::with_cookie_secure(false)`.
    ///
    /// # Panics
    /// When `origin` is not `http://host` or `https://host`.
    pub fn with_origin(mut self, origin: &str) -> Self {
        let (scheme, host) = origin
            .split_once("://")
            .expect("an origin such as https://host");
        assert!(
            matches!(scheme, "http" | "https") && !host.contains('/'),
            "an origin such as https://host"
        );
        self.secure = scheme == "https";
        self.host = host.to_owned();
        self.origin = origin.to_owned();
        self
    }

    /// The clock that expires cookies by their `Max-Age` (default: the system
    /// clock). Pass the flow's `ManualClock` so cookies age with the server.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sends this header on every request (for example `Accept-Language`).
    ///
    /// # Panics
    /// On a name or value that is not a valid header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).expect("a header name");
        self.headers
            .insert(name, HeaderValue::try_from(value).expect("a header value"));
        self
    }

    /// Connects from `ip`: every request this browser sends carries
    /// `axum::extract::ConnectInfo(SocketAddr::new(ip, 40000))` in its
    /// extensions, as a server started with
    /// `into_make_service_with_connect_info::<SocketAddr>()` adds (without
    /// the `axum` feature, the plain `SocketAddr`). The gate reads the
    /// client's address there ([`ClientAddress`](crate::ClientAddress)).
    /// Default: none, as a service called directly has.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv6Addr};
    /// use axum::{Router, routing::get};
    /// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret, testing::TestBrowser};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mailer = CapturingMailer::new();
    /// let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
    /// let app = Router::new()
    ///     .route("/orders/{id}", get(|| async { "your order" }))
    ///     .route_layer(OtpLayer::new(flow).with_ticket_param("id"));
    /// TestBrowser::new(app.clone()).open("/orders/42").await; // the first device
    ///
    /// let client = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7));
    /// let mut phone = TestBrowser::new(app).with_mailer(mailer).with_client_address(client);
    /// assert_eq!(phone.open("/orders/42").await.status(), 401);
    /// phone.send_email("buyer@example.com").await; // counted against 2001:db8::/64
    /// assert!(phone.code_for("buyer@example.com").is_some());
    /// # });
    /// ```
    pub fn with_client_address(mut self, ip: IpAddr) -> Self {
        self.client = Some(SocketAddr::new(ip, 40000));
        self
    }

    /// Where [`code_for`](TestBrowser::code_for) reads the codes this browser is sent.
    pub fn with_mailer(mut self, mailer: CapturingMailer) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// The latest code mailed to `address`, if a mailer was given and a code was sent.
    pub fn code_for(&self, address: &str) -> Option<String> {
        let address = EmailAddress::parse(address).ok()?;
        self.mailer.as_ref()?.last_code_for(&address)
    }

    /// GET `path`, following redirects on this origin like a browser (the
    /// first-device round trip included). A redirect loop ends at the limit
    /// with the last redirect as the answer.
    pub async fn open(&mut self, path: &str) -> TestResponse {
        let mut response = self.get(path).await;
        for _ in 0..MAX_REDIRECTS {
            match response.same_origin_redirect(&self.origin) {
                Some(location) => response = self.get(&location).await,
                None => break,
            }
        }
        response
    }

    /// GET `path`, without following a redirect.
    pub async fn get(&mut self, path: &str) -> TestResponse {
        let request = self.builder(Method::GET, path).body(Full::default());
        self.send(request.expect("a valid request")).await
    }

    /// Sends the code to `email` from the page last shown (Send), and follows the answer.
    pub async fn send_email(&mut self, email: &str) -> TestResponse {
        self.submit(&[("action", "send"), ("email", email)]).await
    }

    /// Presses Resend on the page last shown.
    pub async fn resend(&mut self) -> TestResponse {
        self.submit(&[("action", "resend")]).await
    }

    /// Types `code` and presses Confirm on the page last shown.
    pub async fn enter_code(&mut self, code: &str) -> TestResponse {
        self.submit(&[("action", "verify"), ("code", code)]).await
    }

    /// Opens the link last mailed to `address` (a seat handed over, a
    /// transfer offered: [`CapturingMailer::link_for`]) as the person who
    /// got the mail would, following redirects on this origin.
    ///
    /// # Panics
    /// When no mailer was given, no link reached `address`, or the link is
    /// on another origin than this browser's.
    pub async fn open_mailed_link(&mut self, address: &str) -> TestResponse {
        let link = self
            .mailer
            .as_ref()
            .expect("a mailer (with_mailer)")
            .link_for(address)
            .unwrap_or_else(|| panic!("no link was mailed to {address}"));
        let path = link
            .strip_prefix(self.origin.as_str())
            .filter(|path| path.starts_with('/'))
            .unwrap_or_else(|| panic!("{link} is not on {}", self.origin))
            .to_owned();
        self.open(&path).await
    }

    /// Verifies this browser by mail from the challenge page last shown:
    /// sends a code to `address` (a bound ticket's codes go to its binding,
    /// whatever is typed: give that one), reads it from the mailer given
    /// with [`with_mailer`](Self::with_mailer), types it and follows the
    /// answer, normally to the ticket's page.
    ///
    /// # Panics
    /// When no mailer was given, or no code reached `address`.
    pub async fn verify_by_mail(&mut self, address: &str) -> TestResponse {
        self.send_email(address).await;
        let code = self
            .code_for(address)
            .unwrap_or_else(|| panic!("no code was mailed to {address}"));
        self.enter_code(&code).await
    }

    /// Starts over with another address (unbound tickets).
    pub async fn restart(&mut self) -> TestResponse {
        self.submit(&[("action", "restart")]).await
    }

    /// Taps the first-device button (`FirstDevice::Confirm`).
    pub async fn confirm(&mut self) -> TestResponse {
        self.submit(&[("action", "confirm")]).await
    }

    /// Posts the form of the page last shown with these fields and its CSRF
    /// token, then follows the `303` like a browser.
    ///
    /// # Panics
    /// When no page was shown yet.
    pub async fn submit(&mut self, fields: &[(&str, &str)]) -> TestResponse {
        let url = self
            .url
            .clone()
            .expect("open a page before submitting its form");
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        if let Some(token) = &self.csrf {
            form.append_pair("csrf_token", token);
        }
        let request = self
            .builder(Method::POST, &url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ORIGIN, self.origin.as_str())
            .header("sec-fetch-site", "same-origin")
            .body(Full::from(form.finish()))
            .expect("a valid request");
        let response = self.send(request).await;
        match response.same_origin_redirect(&self.origin) {
            Some(location) if response.status() == StatusCode::SEE_OTHER => {
                self.open(&location).await
            }
            _ => response,
        }
    }

    /// GET `path` as the JSON API (`Accept: application/json`).
    pub async fn get_json(&mut self, path: &str) -> TestResponse {
        let request = self
            .builder(Method::GET, path)
            .header(ACCEPT, "application/json")
            .body(Full::default());
        self.send(request.expect("a valid request")).await
    }

    /// POST `body` to `path` as the JSON API.
    pub async fn post_json(&mut self, path: &str, body: &serde_json::Value) -> TestResponse {
        let request = self
            .builder(Method::POST, path)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .header(ORIGIN, self.origin.as_str())
            .body(Full::from(body.to_string()));
        self.send(request.expect("a valid request")).await
    }

    /// A request builder with this browser's `Host` and headers (its cookies
    /// are added by [`send`](TestBrowser::send)).
    pub fn builder(&self, method: Method, path: &str) -> http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
    }

    /// Sends `request` with the cookies that apply to its path (and the
    /// client address, [`with_client_address`](TestBrowser::with_client_address)),
    /// stores the cookies the answer sets, and remembers the page (its URL
    /// and CSRF token). The body is any the service takes and goes to it as
    /// it is, unread: a request whose body trickles or never ends tests the
    /// layer's body timeout.
    ///
    /// # Panics
    /// When the service fails or its body cannot be read.
    pub async fn send<Q>(&mut self, mut request: Request<Q>) -> TestResponse
    where
        S: Service<Request<Q>, Response = Response<B>>,
        <S as Service<Request<Q>>>::Error: fmt::Debug,
    {
        let path = request.uri().path().to_owned();
        let now = self.clock.now();
        if let Some(header) = self.jar.header(&path, self.secure, now) {
            request.headers_mut().insert(
                COOKIE,
                HeaderValue::try_from(header).expect("cookie octets"),
            );
        }
        if let Some(peer) = self.client {
            #[cfg(feature = "axum")]
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            #[cfg(not(feature = "axum"))]
            request.extensions_mut().insert(peer);
        }
        let url = request
            .uri()
            .path_and_query()
            .map_or(path.clone(), |pq| pq.as_str().to_owned());
        let method = request.method().clone();
        poll_fn(|cx| Service::<Request<Q>>::poll_ready(&mut self.service, cx))
            .await
            .expect("the service is ready");
        let response = Service::<Request<Q>>::call(&mut self.service, request)
            .await
            .expect("the service answers");
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(Into::into)
            .expect("a readable body")
            .to_bytes();
        for value in parts.headers.get_all(SET_COOKIE) {
            if let Ok(value) = value.to_str() {
                self.jar.store(value, &path, self.secure, now);
            }
        }
        let response = TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        if method == Method::GET && !response.is_json() {
            self.url = Some(url);
            self.csrf = response
                .csrf_token()
                .map(str::to_owned)
                .or(self.csrf.take());
        }
        response
    }
}

/// A response as a [`TestBrowser`] saw it, body read whole.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        &self.body
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The gate's JSON `state` (or `error`), for JSON answers.
    pub fn state(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        let state = value.get("error").or_else(|| value.get("state"))?;
        state.as_str().map(str::to_owned)
    }

    /// The `csrf_token` of the page's form, if it shows one.
    pub fn csrf_token(&self) -> Option<&str> {
        let at = self.body.find("name=\"csrf_token\"")?;
        let rest = &self.body[at..];
        let value = rest.find("value=\"")? + 7;
        let end = rest[value..].find('"')?;
        Some(&rest[value..value + end])
    }

    fn is_json(&self) -> bool {
        self.header(CONTENT_TYPE.as_str())
            .is_some_and(|t| t.starts_with("application/json"))
    }

    /// The path of a redirect to `origin` (or a relative one).
    fn same_origin_redirect(&self, origin: &str) -> Option<String> {
        if !self.status.is_redirection() {
            return None;
        }
        let location = self.header(LOCATION.as_str())?;
        let path = location.strip_prefix(origin).unwrap_or(location);
        path.starts_with('/').then(|| path.to_owned())
    }
}
