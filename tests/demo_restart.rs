//! The demo's default store survives the whole process: a ticket claimed and
//! bound through one run of the demo binary, which is then killed (as a
//! crash would), is still claimed and bound in the next run on the same
//! SQLite file: a stranger's browser gets the challenge, not the ticket.
//!
//! The test builds the demo (`cargo build --example demo`, with this test's
//! features) and talks HTTP/1.0 to it on a free loopback port.

#![cfg(all(feature = "sqlite", feature = "axum", feature = "smtp"))]

mod demo_binary;

use demo_binary::demo_binary;
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One run of the demo, with what it printed so far.
struct Demo {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
}

impl Demo {
    fn start(binary: &Path, database: &Path, secret: &str) -> Self {
        Self::start_with(binary, database, secret, 1)
    }

    /// A run whose header read deadline is `header_timeout_secs`.
    fn start_with(binary: &Path, database: &Path, secret: &str, header_timeout_secs: u64) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(binary)
            .env("OTP_DEMO_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "OTP_DATABASE_URL",
                format!("sqlite://{}?mode=rwc", database.display()),
            )
            .env("OTP_SECRET", secret)
            .env(
                "OTP_HEADER_READ_TIMEOUT_SECS",
                header_timeout_secs.to_string(),
            )
            // Two demos run at once here: no fixed metrics port to fight over.
            .env("OTP_METRICS_ADDR", "off")
            .env("RUST_LOG", "warn")
            .env_remove("OTP_REDIS_URL")
            .env_remove("OTP_SMTP_URL")
            .env_remove("OTP_MAIL_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo");
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stdout.take().unwrap());
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the demo did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            output,
        }
    }

    /// The code in the `n`-th "one-time password" line the demo printed
    /// (waits for it).
    fn code(&self, n: usize) -> String {
        let started = Instant::now();
        loop {
            let codes: Vec<String> = self
                .output
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains("one-time password for"))
                .filter_map(|l| {
                    let (_, rest) = l.split_once("com: ")?;
                    Some(rest.split_whitespace().next()?.to_owned())
                })
                .collect();
            if let Some(code) = codes.get(n) {
                return code.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no code printed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (SIGKILL, no shutdown).
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser: a cookie jar and the last page's CSRF token.
#[derive(Default)]
struct Browser {
    jar: BTreeMap<String, String>,
    csrf: Option<String>,
}

struct Reply {
    status: u16,
    body: String,
}

impl Browser {
    async fn request(
        &mut self,
        demo: &Demo,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Reply {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            body.append_pair(k, v);
        }
        if method == "POST"
            && let Some(token) = &self.csrf
        {
            body.append_pair("csrf_token", token);
        }
        let body = body.finish();
        let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: text/html\r\n",
            port = demo.port
        );
        if !cookies.is_empty() {
            request.push_str(&format!("Cookie: {}\r\n", cookies.join("; ")));
        }
        if method == "POST" {
            request.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nSec-Fetch-Site: same-origin\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", demo.port))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.trim().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if value.to_ascii_lowercase().contains("max-age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), v.to_owned());
            }
        }
        if let Some(token) = common::csrf_in(body) {
            self.csrf = Some(token);
        }
        Reply {
            status,
            body: body.to_owned(),
        }
    }

    async fn get(&mut self, demo: &Demo, path: &str) -> Reply {
        self.request(demo, "GET", path, &[]).await
    }

    async fn post(&mut self, demo: &Demo, path: &str, form: &[(&str, &str)]) -> Reply {
        self.request(demo, "POST", path, form).await
    }
}

const VERIFIED: &str = "data-verified";

#[tokio::test]
async fn a_bound_ticket_survives_a_crash_of_the_demo() {
    let binary = demo_binary();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("demo.db");
    let secret = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let path = "/tickets/restart-test";

    let demo = Demo::start(&binary, &database, &secret);
    let mut owner = Browser::default();
    assert_eq!(owner.get(&demo, path).await.status, 303, "the probe");
    let page = owner.get(&demo, path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(VERIFIED), "the first device");

    let mut phone = Browser::default();
    assert_eq!(phone.get(&demo, path).await.status, 401);
    let reply = phone
        .post(
            &demo,
            path,
            &[("action", "send"), ("email", "taro@example.com")],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let page = phone.get(&demo, path).await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains(r#"autocomplete="one-time-code""#));
    let code = demo.code(0);
    let reply = phone
        .post(&demo, path, &[("action", "verify"), ("code", &code)])
        .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert!(phone.get(&demo, path).await.body.contains(VERIFIED));
    demo.kill();

    // A new process on the same file.
    let demo = Demo::start(&binary, &database, &secret);
    let mut stranger = Browser::default();
    let page = stranger.get(&demo, path).await;
    assert_eq!(
        page.status, 401,
        "challenged, not trusted as the first device"
    );
    assert!(page.body.contains("t***@e***.com"), "{}", page.body);
    assert!(
        !page.body.contains(r#"type="email""#),
        "bound: no address field"
    );
    let page = stranger.get(&demo, path).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(phone.get(&demo, path).await.body.contains(VERIFIED));
    assert!(owner.get(&demo, path).await.body.contains(VERIFIED));
}

/// Whether the server has closed `stream`, asked without waiting: a
/// non-blocking read answers end-of-file once it has, and would-block while
/// the connection is open and quiet.
fn closed_by_server(stream: &std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the server wrote to a half-sent request"),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
        Err(e) => panic!("{e}"),
    }
}

/// The demo serves as a production server should, with a deadline on
/// reading request headers: a client that sends half its headers and stops
/// is disconnected once the deadline passes, and others are served while it
/// still holds its connection.
///
/// Real time is the point here (the server's own timer on a TCP connection),
/// so the bounds are wide for a loaded machine: the deadline is 3 s, the
/// request served meanwhile has all of it, and the cut may come up to 30 s
/// late; it may not come early.
#[tokio::test]
async fn the_demo_disconnects_a_client_that_trickles_its_headers() {
    const DEADLINE: Duration = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start_with(
        &demo_binary(),
        &dir.path().join("demo.db"),
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        DEADLINE.as_secs(),
    );
    // The server's deadline cannot start before the connection does.
    let connecting = Instant::now();
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", demo.port)).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    slow.set_nonblocking(true).unwrap();
    assert!(!closed_by_server(&slow), "open before the others' request");

    let page = Browser::default().get(&demo, "/").await;
    assert_eq!(page.status, 200, "others are served meanwhile");
    assert!(
        !closed_by_server(&slow),
        "cut before the others were served, {:?} after connecting (deadline {DEADLINE:?})",
        connecting.elapsed()
    );

    // Then it is cut: wait for end-of-file, for at most the deadline and 30 s.
    let bound = DEADLINE + Duration::from_secs(30);
    slow.set_nonblocking(false).unwrap();
    slow.set_read_timeout(Some(bound)).unwrap();
    let cut = tokio::task::spawn_blocking(move || {
        let mut rest = Vec::new();
        slow.read_to_end(&mut rest).map(|_| connecting.elapsed())
    })
    .await
    .unwrap();
    let after = match cut {
        Ok(after) => after,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => connecting.elapsed(),
        Err(e) => panic!("not cut within {bound:?}: {e}"),
    };
    assert!(
        after >= DEADLINE && after < bound,
        "cut after {after:?}, not at the {DEADLINE:?} header deadline"
    );
}
