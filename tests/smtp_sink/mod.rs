//! A small SMTP server on 127.0.0.1 for the outbox tests: it speaks just
//! enough SMTP, throttles like a mail provider (`421` beyond its rate),
//! refuses some recipients for good (`550`), and keeps what it accepts with
//! the time it came.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// One accepted message: its recipients, its decoded text, and when.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) rcpt_to: Vec<String>,
    pub(crate) text: String,
    pub(crate) at: Instant,
}

/// How the sink answers.
#[derive(Debug, Clone)]
pub(crate) struct SinkSettings {
    /// Messages accepted per second (a token bucket refilled at this rate).
    pub(crate) rate: u32,
    /// Messages accepted at once before the rate applies.
    pub(crate) burst: u32,
    /// Recipients whose address starts with this are refused for good (`550`).
    pub(crate) refuse_prefix: &'static str,
}

impl Default for SinkSettings {
    fn default() -> Self {
        Self {
            rate: 10,
            burst: 3,
            refuse_prefix: "bounce",
        }
    }
}

/// A running sink.
pub(crate) struct Sink {
    pub(crate) addr: std::net::SocketAddr,
    inbox: Arc<Mutex<Vec<Received>>>,
    /// Messages answered `421` because they came faster than the rate.
    pub(crate) throttled: Arc<AtomicUsize>,
    /// Recipients answered `550`.
    pub(crate) refused: Arc<AtomicUsize>,
}

impl Sink {
    pub(crate) fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }

    /// The URL an `SmtpMailer` sends to.
    pub(crate) fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }
}

/// A token bucket: `rate` a second, up to `burst` at once.
struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Starts the sink.
pub(crate) async fn start(settings: SinkSettings) -> Sink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Sink {
        addr,
        inbox: Arc::default(),
        throttled: Arc::default(),
        refused: Arc::default(),
    };
    let shared = Shared {
        inbox: Arc::clone(&sink.inbox),
        throttled: Arc::clone(&sink.throttled),
        refused: Arc::clone(&sink.refused),
        bucket: Arc::new(Mutex::new(Bucket {
            tokens: f64::from(settings.burst),
            at: Instant::now(),
            rate: f64::from(settings.rate),
            burst: f64::from(settings.burst),
        })),
        refuse_prefix: settings.refuse_prefix,
    };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(session(stream, shared.clone()));
        }
    });
    sink
}

#[derive(Clone)]
struct Shared {
    inbox: Arc<Mutex<Vec<Received>>>,
    throttled: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    bucket: Arc<Mutex<Bucket>>,
    refuse_prefix: &'static str,
}

async fn session(stream: tokio::net::TcpStream, shared: Shared) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    reply(&mut write, "220 sink.test ESMTP\r\n").await;
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => reply(&mut write, "250-sink.test\r\n250 8BITMIME\r\n").await,
            "MAIL" => {
                rcpt_to.clear();
                reply(&mut write, "250 OK\r\n").await;
            }
            "RCPT" => {
                let to = command
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map_or(String::new(), |(to, _)| to.to_owned());
                if to.starts_with(shared.refuse_prefix) {
                    shared.refused.fetch_add(1, Ordering::SeqCst);
                    reply(&mut write, "550 5.1.1 no such mailbox\r\n").await;
                } else {
                    rcpt_to.push(to);
                    reply(&mut write, "250 OK\r\n").await;
                }
            }
            "DATA" => {
                reply(&mut write, "354 go ahead\r\n").await;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                if shared.bucket.lock().unwrap().take() {
                    shared.inbox.lock().unwrap().push(Received {
                        rcpt_to: std::mem::take(&mut rcpt_to),
                        text: text_of(&data),
                        at: Instant::now(),
                    });
                    reply(&mut write, "250 queued\r\n").await;
                } else {
                    shared.throttled.fetch_add(1, Ordering::SeqCst);
                    reply(&mut write, "421 4.7.0 too many messages, slow down\r\n").await;
                }
            }
            "RSET" | "NOOP" => reply(&mut write, "250 OK\r\n").await,
            "QUIT" => {
                reply(&mut write, "221 bye\r\n").await;
                return;
            }
            _ => reply(&mut write, "502 not implemented\r\n").await,
        }
    }
}

async fn reply(w: &mut tokio::net::tcp::OwnedWriteHalf, s: &str) {
    // A client that gave up may have closed its side.
    let _ = w.write_all(s.as_bytes()).await;
}

/// The decoded `text/plain` part of a `multipart/alternative` message.
fn text_of(data: &str) -> String {
    let Some((head, body)) = data.split_once("\r\n\r\n") else {
        return String::new();
    };
    let Some(boundary) = head
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    else {
        return body.to_owned();
    };
    let delimiter = format!("--{boundary}");
    for chunk in body.split(&delimiter).skip(1) {
        let Some((part_head, part_body)) = chunk.trim_start_matches("\r\n").split_once("\r\n\r\n")
        else {
            continue;
        };
        let lower = part_head.to_ascii_lowercase();
        if !lower.contains("text/plain") {
            continue;
        }
        if lower.contains("content-transfer-encoding: base64") {
            let compact: String = part_body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap_or_default();
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        if lower.contains("content-transfer-encoding: quoted-printable") {
            return quoted_printable(part_body);
        }
        return part_body.to_owned();
    }
    String::new()
}

fn quoted_printable(s: &str) -> String {
    let mut bytes = Vec::new();
    let raw = s.replace("=\r\n", "");
    let mut it = raw.bytes();
    while let Some(b) = it.next() {
        if b == b'=' {
            let hex = [it.next().unwrap_or(b'0'), it.next().unwrap_or(b'0')];
            bytes.push(
                u8::from_str_radix(std::str::from_utf8(&hex).unwrap_or("00"), 16).unwrap_or(0),
            );
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
