//! `tower_otp::serve`, as the demo serves with it, closes every connection
//! that holds no request in progress within its bounds: silent TCP, an HTTP/2
//! preface and nothing more, HTTP/1 headers trickled and never finished, and
//! a keep-alive connection left idle. Hundreds of them at once do not stop
//! it from serving tickets meanwhile.
#![cfg(feature = "axum")]

#[path = "../examples/support/demo_app.rs"]
mod demo_app;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower_otp::serve;
use tower_otp::{Flow, MemoryStore, OtpLayer, Secret, testing::CapturingMailer};

/// Small bounds, so the test takes seconds.
const BOUNDS: serve::Bounds = serve::Bounds {
    header_read: Duration::from_secs(1),
    first_request: Duration::from_secs(1),
    idle: Duration::from_secs(1),
    h2_keep_alive: Duration::from_secs(1),
    drain: Duration::from_secs(1),
};

/// Every bad connection is closed by then: its bound, the drain, and slack
/// for a loaded machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(5);

/// The demo's router on a memory store, served on a free loopback port.
async fn start() -> SocketAddr {
    let flow = Flow::new(
        &Secret::random(),
        MemoryStore::new(),
        CapturingMailer::new(),
    );
    let flow = demo_app::configure_flow(flow);
    let otp = demo_app::configure(OtpLayer::new(flow)).with_cookie_secure(false);
    let listener = serve::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve::serve(
        listener,
        demo_app::router(otp),
        BOUNDS,
        std::future::pending(),
    ));
    addr
}

/// The status of `GET path` on a connection of its own, and the cookies
/// it sets.
async fn get(addr: SocketAddr, path: &str) -> u16 {
    get_with(addr, path, "").await.0
}

/// `GET path` sending `cookie`: the status and the cookies set.
async fn get_with(addr: SocketAddr, path: &str, cookie: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let cookies = response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix("set-cookie: "))
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    (status, cookies)
}

/// A first device opens a ticket: its device cookie, then the ticket (200).
async fn open_ticket(addr: SocketAddr, path: &str) {
    let (status, cookies) = get_with(addr, path, "").await;
    assert_eq!(status, 303, "the first visit sets the device cookie");
    let (status, _) = get_with(addr, path, &cookies).await;
    assert_eq!(status, 200, "the verified device gets its ticket");
}

/// Reads `stream` until the server closes it; how long that took.
async fn until_closed(mut stream: impl AsyncRead + Unpin, opened: Instant) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return opened.elapsed(),
            Ok(_) => {}
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Bad {
    /// Connects and sends nothing.
    Silent,
    /// Sends the HTTP/2 connection preface, then nothing.
    H2Preface,
    /// Starts an HTTP/1 request and trickles header lines, never the end.
    Trickle,
    /// One request with keep-alive, answered, then nothing.
    IdleKeepAlive,
}

/// Opens one `kind` of connection; how long the server kept it open.
async fn bad(addr: SocketAddr, kind: Bad) -> Duration {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    match kind {
        Bad::Silent => until_closed(stream, opened).await,
        Bad::H2Preface => {
            stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .unwrap();
            until_closed(stream, opened).await
        }
        Bad::Trickle => {
            let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let (read, mut write) = stream.into_split();
            let trickle = tokio::spawn(async move {
                while write.write_all(b"X-Slow: 1\r\n").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            let took = until_closed(read, opened).await;
            trickle.abort();
            took
        }
        Bad::IdleKeepAlive => {
            let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            until_closed(stream, opened).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_request_are_closed_within_their_bounds() {
    let addr = start().await;
    assert_eq!(get(addr, "/").await, 200, "the home page");

    let mut held = tokio::task::JoinSet::new();
    for i in 0..400 {
        let kind = [
            Bad::Silent,
            Bad::H2Preface,
            Bad::Trickle,
            Bad::IdleKeepAlive,
        ][i % 4];
        held.spawn(async move { (kind, bad(addr, kind).await) });
    }

    // Meanwhile, tickets are served: a first device opens its ticket.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let id = format!("demo-serve-{}", started.elapsed().as_millis());
        open_ticket(addr, &format!("/tickets/{id}")).await;
        assert_eq!(get(addr, "/").await, 200, "the home page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut longest = std::collections::BTreeMap::new();
    let all = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(done) = held.join_next().await {
            let (kind, open_for) = done.unwrap();
            let entry = longest.entry(format!("{kind:?}")).or_insert(Duration::ZERO);
            *entry = (*entry).max(open_for);
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "connections still open after 20 s (longest closed so far: {longest:?})"
    );
    eprintln!("longest open, by kind: {longest:?}");
    for (kind, open_for) in &longest {
        assert!(
            *open_for <= CLOSED_WITHIN,
            "a {kind} connection stayed open {open_for:?} (bound {CLOSED_WITHIN:?}): {longest:?}"
        );
    }
    assert_eq!(longest.len(), 4, "{longest:?}");
    assert_eq!(get(addr, "/").await, 200, "still serving");
}
