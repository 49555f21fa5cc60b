//! Load and abuse, bounded, on loopback: one ticket served by the real layer
//! (`axum::serve` on 127.0.0.1, an ephemeral port) takes 10,000 challenge
//! requests and 1,000 parallel wrong-code verifies while its verified device
//! keeps requesting. Checks: the attempt budget holds (exactly the configured
//! number of wrong guesses evaluated, the rest 429, and the right code then
//! refused), every challenge request answers 401, the verified device is
//! served every time, the process's RSS grows by a bounded amount, no task
//! panics. Prints the verified device's latency (p50/p99/max) and the RSS.
//!
//! Ignored in the normal suite (it takes tens of seconds in debug builds);
//! run it with:
//!
//! ```text
//! cargo test --release --test load -- --ignored --nocapture
//! ```
//!
//! Bounded: a fixed number of requests, loopback only, and a 120 s deadline.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;

use common::{Harness, TICKET_BODY, ticket_path};

const CHALLENGES: usize = 10_000;
const CHALLENGE_CONNECTIONS: usize = 32;
const VERIFIES: usize = 1_000;
const DEADLINE: Duration = Duration::from_secs(120);
/// The default wrong entries per round (`Limits::default`: 5 per ticket).
const BUDGET: usize = 5;
/// RSS growth allowed across the whole run.
const RSS_BOUND_KIB: u64 = 64 * 1024;

/// One keep-alive HTTP/1.1 connection to the server under test; reopened
/// when the server answers `Connection: close`.
struct Conn {
    addr: std::net::SocketAddr,
    stream: BufReader<TcpStream>,
    closed: bool,
    reopened: usize,
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Conn {
    async fn connect(addr: std::net::SocketAddr) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(addr).await.expect("loopback connect");
        stream.set_nodelay(true).unwrap();
        BufReader::new(stream)
    }

    async fn open(addr: std::net::SocketAddr) -> Self {
        Self {
            addr,
            stream: Self::connect(addr).await,
            closed: false,
            reopened: 0,
        }
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: tickets.test\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if self.closed {
            self.stream = Self::connect(self.addr).await;
            self.closed = false;
            self.reopened += 1;
        }
        // One write, as a browser sends a small request; with
        // OTP_LOAD_SPLIT_WRITES=1 the head and the body go out in two writes.
        // Split writes once met resets here, in 2 runs of 4: the listener's
        // accept queue (1,024) overflowed under the 1,000 clients that connect
        // at once (`nstat`: TcpExtListenOverflows in every run, TcpOutRsts in
        // the failing ones). With the queue at 4,096 (`listen()` below): no
        // overflow and no reset in 5 runs of 5. The gate was not the cause.
        let stream = self.stream.get_mut();
        if std::env::var_os("OTP_LOAD_SPLIT_WRITES").is_some() {
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(body).await.unwrap();
        } else {
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(body);
            stream.write_all(&bytes).await.unwrap();
        }
        self.read().await
    }

    async fn read(&mut self) -> Answer {
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {line:?}"));
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                "connection" => self.closed |= value.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await.unwrap();
                let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await.unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await.unwrap();
        }
        Answer { status, body }
    }
}

/// A loopback listener whose accept queue holds the 1,000 verify clients
/// that connect at once (`TcpListener::bind` asks for 1,024, and the
/// challenge clients are there too): an overflowing queue drops handshakes,
/// and clients then see resets.
fn listen() -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse().unwrap())?;
    socket.listen(4096)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: cargo test --release --test load -- --ignored --nocapture"]
async fn ten_thousand_challenges_and_a_thousand_parallel_verifies_on_loopback() {
    tokio::time::timeout(DEADLINE, run())
        .await
        .expect("the load test finishes within its deadline");
}

async fn run() {
    let harness = Harness::new();
    let owner = harness.claim("load").await;
    let (_, code) = harness.sent("load", "owner@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" }.to_owned();
    let owner_cookie: String = owner
        .cookie_header(&ticket_path("load"))
        .unwrap_or_default();

    let listener = listen().unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, harness.app.clone()).into_future());
    let path = ticket_path("load");

    // Warm up (allocator, pages, connections), then measure RSS.
    let mut warm = Conn::open(addr).await;
    for _ in 0..200 {
        assert_eq!(warm.send("GET", &path, &[], b"").await.status, 401);
    }
    let rss_before = rss_kib();

    // The verified device keeps requesting until the abuse is over.
    let stop = Arc::new(AtomicBool::new(false));
    let verified = {
        let (stop, path, cookie) = (stop.clone(), path.clone(), owner_cookie.clone());
        tokio::spawn(async move {
            let mut conn = Conn::open(addr).await;
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answer = conn.send("GET", &path, &[("cookie", &cookie)], b"").await;
                latencies.push(started.elapsed());
                assert_eq!(answer.status, 200, "the verified device is served");
                assert!(answer.body.starts_with(TICKET_BODY.as_bytes()));
            }
            latencies
        })
    };

    let started = Instant::now();
    // 10,000 challenge requests from new devices over keep-alive connections.
    let challenges: Vec<_> = (0..CHALLENGE_CONNECTIONS)
        .map(|i| {
            let path = path.clone();
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                let n = CHALLENGES / CHALLENGE_CONNECTIONS
                    + usize::from(i < CHALLENGES % CHALLENGE_CONNECTIONS);
                for _ in 0..n {
                    let answer = conn
                        .send("GET", &path, &[("accept", "text/html")], b"")
                        .await;
                    assert_eq!(answer.status, 401, "a new device is challenged");
                }
                (n, conn.reopened)
            })
        })
        .collect();

    // 1,000 wrong guesses at once, each on its own connection.
    let barrier = Arc::new(Barrier::new(VERIFIES));
    let body = json!({"action": "verify", "code": wrong}).to_string();
    let verifies: Vec<_> = (0..VERIFIES)
        .map(|_| {
            let (barrier, path, body) = (barrier.clone(), path.clone(), body.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                barrier.wait().await;
                let headers = [
                    ("content-type", "application/json"),
                    ("accept", "application/json"),
                ];
                conn.send("POST", &path, &headers, body.as_bytes())
                    .await
                    .status
            })
        })
        .collect();

    let (mut challenged, mut reopened) = (0, 0);
    for task in challenges {
        let (n, r) = task.await.expect("no panic in a challenge client");
        challenged += n;
        reopened += r;
    }
    let (mut evaluated, mut refused) = (0, 0);
    for task in verifies {
        match task.await.expect("no panic in a verify client") {
            422 => evaluated += 1,
            429 => refused += 1,
            other => panic!("unexpected status {other} for a wrong guess"),
        }
    }
    let abuse_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = verified.await.expect("no panic in the verified device");
    let rss_after = rss_kib();

    // The right code is now refused: the round's budget is spent.
    let mut conn = Conn::open(addr).await;
    let right = json!({"action": "verify", "code": code}).to_string();
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let after = conn.send("POST", &path, &headers, right.as_bytes()).await;
    server.abort();

    latencies.sort();
    println!(
        "load: {challenged} challenges + {VERIFIES} parallel verifies in {abuse_time:?} \
         ({:.0} req/s); wrong guesses evaluated {evaluated}, refused {refused}; \
         challenge connections reopened after `Connection: close`: {reopened}",
        (challenged + VERIFIES) as f64 / abuse_time.as_secs_f64()
    );
    println!(
        "load: verified device {} requests meanwhile, p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    println!(
        "load: RSS before {rss_before} KiB, after {rss_after} KiB (growth {} KiB, bound {RSS_BOUND_KIB} KiB)",
        rss_after.saturating_sub(rss_before)
    );

    assert_eq!(challenged, CHALLENGES);
    assert_eq!(
        evaluated, BUDGET,
        "exactly the budget of wrong guesses was evaluated"
    );
    assert_eq!(refused, VERIFIES - BUDGET);
    assert_eq!(harness.state("load").await.attempts_left, 0);
    assert_eq!(
        after.status, 429,
        "the right code is refused once the budget is spent"
    );
    assert!(
        !latencies.is_empty(),
        "the verified device was served meanwhile"
    );
    assert!(
        rss_after.saturating_sub(rss_before) < RSS_BOUND_KIB,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}
