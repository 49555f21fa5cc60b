//! A real nginx in front of the demo's router, with TLS, configured by the
//! README's "Behind a reverse proxy" section: the nginx configuration is
//! read from the README itself, with only its ports and certificate paths
//! replaced, so the documented configuration is the tested one.
//!
//! The demo's router (`examples/support/demo_app.rs`, set up as the demo
//! does with `OTP_PUBLIC_ORIGIN`) is served in-process on a free loopback
//! port with a capturing mailer. nginx runs in the foreground (`daemon off`,
//! one process) from a temporary prefix holding its configuration, pid,
//! logs and a self-signed certificate made with the `openssl` command; it is
//! killed when the test ends. A client that trusts that certificate (hyper
//! over rustls) then walks a first device, a second device's challenge,
//! send and verify, and a plain-HTTP request to the application's own port.
//!
//! Needs `nginx` (`OTP_TEST_NGINX`, else `PATH`) and `openssl` (`PATH`).
//! Without them the test prints a `SKIPPED` line, except under CI
//! (`CI=true`, see `tests/needs`), where it fails; `.ci/run` installs
//! Debian's `nginx` and `openssl`. Nothing runs as a system service.

#[path = "../examples/support/demo_app.rs"]
mod demo_app;
mod needs;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tower_otp::{EmailAddress, Flow, MemoryStore, OtpLayer, Secret, testing::CapturingMailer};

/// The name the README's configuration serves, and the certificate's.
const SERVER_NAME: &str = "tickets.example";
const TICKET: &str = "/tickets/A7x9Qz-2026-LIVE";
/// What marks the demo's ticket page, shown to a verified browser (in any language).
const VERIFIED: &str = "data-verified";
const BUYER: &str = "buyer@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_with_tls_in_front_of_the_demo() {
    let Some(site) = Site::start().await else {
        return;
    };

    // The first device, over HTTPS through nginx: trusted, with a Secure
    // device cookie.
    let mut laptop = site.browser();
    let reply = laptop.get(TICKET).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "the probe: {reply:?}");
    let marked = reply.location();
    let reply = laptop.get(&marked).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "the claim: {reply:?}");
    let cookie = reply.device_cookie().expect("a device cookie");
    assert_eq!(cookie.secure(), Some(true), "{cookie}");
    assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    let reply = laptop.get(TICKET).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains(VERIFIED));
    // nginx overwrites a client's X-Forwarded-Proto with the scheme it saw.
    let reply = laptop
        .send(Method::GET, TICKET, &[("x-forwarded-proto", "http")], "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");

    // A second device is challenged.
    let mut phone = site.browser();
    let page = phone.get(TICKET).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{page:?}");
    let token = csrf_in(&page.body).expect("a CSRF token in the form");

    // A form POSTed from the proxy's upstream origin (the Host nginx sends)
    // is another site's, even with the page's token.
    let upstream = format!("http://{}", site.app);
    let refused = phone
        .post_form(&upstream, &[("action", "send"), ("email", BUYER)], &token)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert_eq!(site.mailer.count(), 0);

    // Send, from the page's own origin: the public one.
    let sent = phone
        .post_form(
            &site.public_origin,
            &[("action", "send"), ("email", BUYER)],
            &token,
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "send: {sent:?}");
    assert_eq!(sent.location(), TICKET);
    let page = phone.get(TICKET).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let token = csrf_in(&page.body).expect("a CSRF token in the form");
    let code = site
        .mailer
        .last_code_for(&EmailAddress::parse(BUYER).unwrap())
        .expect("a code was mailed");

    // Verify: the device cookie is Secure, and the ticket opens.
    let verified = phone
        .post_form(
            &site.public_origin,
            &[("action", "verify"), ("code", &code)],
            &token,
        )
        .await;
    assert_eq!(
        verified.status,
        StatusCode::SEE_OTHER,
        "verify: {verified:?}"
    );
    let cookie = verified.device_cookie().expect("a device cookie");
    assert_eq!(cookie.secure(), Some(true), "{cookie}");
    let reply = phone.get(TICKET).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains(VERIFIED));

    // Straight to the application's port over plain HTTP, past nginx: no
    // X-Forwarded-Proto, so not HTTPS. A 308 to the public origin, even
    // with a verified device's cookie; nothing served, nothing set.
    let cookies = phone.cookie_header();
    let direct = plain_http(
        site.app,
        TICKET,
        &[("host", &site.app.to_string()), ("cookie", &cookies)],
    )
    .await;
    assert_eq!(direct.status, StatusCode::PERMANENT_REDIRECT, "{direct:?}");
    assert_eq!(direct.location(), format!("{}{TICKET}", site.public_origin));
    assert!(!direct.body.contains(VERIFIED));
    assert!(direct.headers.get(SET_COOKIE).is_none());

    // nginx's own plain-HTTP server sends browsers to HTTPS.
    let reply = plain_http(site.nginx_http, TICKET, &[("host", SERVER_NAME)]).await;
    assert_eq!(reply.status, StatusCode::MOVED_PERMANENTLY, "{reply:?}");
    assert_eq!(reply.location(), format!("https://{SERVER_NAME}{TICKET}"));
}

// ---------------------------------------------------------------------------
// The site: the demo's router behind nginx.

struct Site {
    /// `https://tickets.example:<port>`: what browsers use.
    public_origin: String,
    /// The application's own port (plain HTTP).
    app: SocketAddr,
    nginx_https: SocketAddr,
    nginx_http: SocketAddr,
    tls: TlsConnector,
    mailer: CapturingMailer,
    _nginx: Nginx,
}

impl Site {
    /// nginx in front of the demo, or `None` (said) without nginx or openssl.
    async fn start() -> Option<Site> {
        let Some(nginx) = executable("OTP_TEST_NGINX", "nginx") else {
            needs::missing(
                "nginx: not found (set OTP_TEST_NGINX, or put nginx on PATH; \
                 .ci/run installs Debian's nginx)",
            );
            return None;
        };
        let Some(openssl) = executable("OTP_TEST_OPENSSL", "openssl") else {
            needs::missing(
                "nginx: the openssl command, to make the test's certificate, is not on PATH \
                 (.ci/run installs Debian's openssl)",
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("tower-otp-nginx-")
            .tempdir()
            .unwrap();
        let cert_der = certificate(&openssl, dir.path());

        // The demo's router, set up as `OTP_PUBLIC_ORIGIN` sets up the demo.
        let (nginx_https, nginx_http) = (free_port(), free_port());
        let public_origin = format!("https://{SERVER_NAME}:{}", nginx_https.port());
        let mailer = CapturingMailer::new();
        let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
        let otp = demo_app::configure(OtpLayer::new(demo_app::configure_flow(flow)));
        let otp = demo_app::behind_proxy(otp, &public_origin).expect("a valid origin");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, demo_app::router(otp)).await.unwrap();
        });

        let conf = nginx_conf(dir.path(), nginx_https, nginx_http, app);
        let nginx = Nginx::start(&nginx, dir, &conf, nginx_https);

        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(cert_der)).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Some(Site {
            public_origin,
            app,
            nginx_https,
            nginx_http,
            tls: TlsConnector::from(Arc::new(config)),
            mailer,
            _nginx: nginx,
        })
    }

    /// A browser profile on the public origin: an empty cookie jar.
    fn browser(&self) -> Browser<'_> {
        Browser {
            site: self,
            jar: BTreeMap::new(),
        }
    }
}

/// nginx, in the foreground, killed on drop (with its prefix directory).
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(program: &Path, dir: tempfile::TempDir, conf: &str, https: SocketAddr) -> Nginx {
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let error_log = dir.path().join("error.log");
        // -e: its own error log from the start (before the configuration
        // is read, nginx would open the system's).
        let child = Command::new(program)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(&error_log)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let mut nginx = Nginx { child, dir };
        let started = Instant::now();
        while TcpStream::connect(https).is_err() {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                panic!(
                    "nginx exited ({status}): {}\n{conf}",
                    std::fs::read_to_string(&error_log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nginx did not listen: {}",
                std::fs::read_to_string(&error_log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("error.log"));
            eprintln!("nginx's error log:\n{}", log.unwrap_or_default());
        }
    }
}

/// The README's nginx configuration with this test's ports and
/// certificate, inside the main context nginx needs to run from `dir`.
fn nginx_conf(dir: &Path, https: SocketAddr, http: SocketAddr, app: SocketAddr) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Behind a reverse proxy\n")
        .nth(1)
        .expect("the README has a \"Behind a reverse proxy\" section");
    let block = section
        .split("```nginx\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("an nginx block in that section");
    let d = dir.display();
    let mut servers = block.to_owned();
    for (from, to) in [
        ("listen 443 ssl;".to_owned(), format!("listen {https} ssl;")),
        ("listen 80;".to_owned(), format!("listen {http};")),
        (
            "/etc/letsencrypt/live/tickets.example/fullchain.pem".to_owned(),
            format!("{d}/cert.pem"),
        ),
        (
            "/etc/letsencrypt/live/tickets.example/privkey.pem".to_owned(),
            format!("{d}/key.pem"),
        ),
        (
            "proxy_pass http://127.0.0.1:3000;".to_owned(),
            format!("proxy_pass http://{app};"),
        ),
    ] {
        assert_eq!(
            servers.matches(&from).count(),
            1,
            "the README's nginx block has `{from}` once (keep this test in step with it)"
        );
        servers = servers.replace(&from, &to);
    }
    // One process, no system paths: its pid, logs and temporary files are
    // all under `dir`.
    format!(
        "master_process off;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         access_log {d}/access.log;\n\
         client_body_temp_path {d}/client_body;\n\
         proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\n\
         scgi_temp_path {d}/scgi;\n\
         {servers}\n\
         }}\n"
    )
}

/// A self-signed certificate for `tickets.example` (`cert.pem`, `key.pem`
/// in `dir`), made with the openssl command; returns it in DER.
fn certificate(openssl: &Path, dir: &Path) -> Vec<u8> {
    let req = dir.join("req.cnf");
    std::fs::write(
        &req,
        format!(
            "[req]\ndistinguished_name = dn\nx509_extensions = ext\nprompt = no\n\
             [dn]\nCN = {SERVER_NAME}\n\
             [ext]\nbasicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:{SERVER_NAME}\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(openssl)
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", openssl.display()));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-config",
        "req.cnf",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "2",
    ]);
    run(&[
        "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
    ]);
    std::fs::read(dir.join("cert.der")).unwrap()
}

// ---------------------------------------------------------------------------
// The client.

/// A response, read whole.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> String {
        let location = self.headers.get(LOCATION).expect("a Location");
        location.to_str().unwrap().to_owned()
    }

    /// The device cookie this response sets, if any.
    fn device_cookie(&self) -> Option<cookie::Cookie<'static>> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
            .find(|c| c.name().contains("otp-") && !c.value().is_empty())
    }
}

/// A browser on the public origin: HTTPS through nginx, a cookie jar.
struct Browser<'a> {
    site: &'a Site,
    jar: BTreeMap<String, String>,
}

impl Browser<'_> {
    async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], "").await
    }

    /// POSTs the gate's form from a page on `origin` (a browser without
    /// Fetch Metadata: `Origin` decides).
    async fn post_form(&mut self, origin: &str, fields: &[(&str, &str)], token: &str) -> Reply {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        form.append_pair("csrf_token", token);
        let headers = [
            (ORIGIN.as_str(), origin),
            (CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded"),
        ];
        self.send(Method::POST, TICKET, &headers, &form.finish())
            .await
    }

    fn cookie_header(&self) -> String {
        let pairs: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("; ")
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let site = self.site;
        let tcp = tokio::net::TcpStream::connect(site.nginx_https)
            .await
            .unwrap();
        let name = ServerName::try_from(SERVER_NAME).unwrap();
        let tls = site.tls.connect(name, tcp).await.expect("a TLS handshake");
        let host = format!("{SERVER_NAME}:{}", site.nginx_https.port());
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, host);
        if !self.jar.is_empty() {
            request = request.header(COOKIE, self.cookie_header());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let reply = exchange(TokioIo::new(tls), request, body).await;
        for value in reply.headers.get_all(SET_COOKIE) {
            let cookie = cookie::Cookie::parse(value.to_str().unwrap().to_owned()).unwrap();
            if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                self.jar.remove(cookie.name());
            } else {
                self.jar
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        reply
    }
}

/// A GET over plain HTTP to `addr`, with exactly these headers.
async fn plain_http(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    exchange(TokioIo::new(tcp), request, "").await
}

/// One request on a fresh HTTP/1.1 connection.
async fn exchange<I>(io: I, request: http::request::Builder, body: &str) -> Reply
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The value of the gate form's hidden `csrf_token` field.
fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf_token\"")?;
    let rest = &page[at..];
    let value = rest.find("value=\"")? + 7;
    let end = rest[value..].find('"')?;
    Some(rest[value..value + end].to_owned())
}

/// An executable named by `var`, else `name` on `PATH` (or in `/usr/sbin`,
/// where Debian puts nginx and a user's `PATH` may not reach).
fn executable(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A free loopback address (the port is free when asked; nginx takes it
/// right after).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
