//! `SmtpMailer` against a real SMTP conversation on 127.0.0.1: a tiny sink,
//! written here, that speaks just enough SMTP and keeps what it receives.
#![cfg(feature = "smtp")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tower_otp::mail::{Code, MailKind, Mailer, OtpMail};
use tower_otp::{EmailAddress, Locale, SmtpMailer, Timestamp};

/// One message as the sink received it.
#[derive(Debug, Clone)]
struct Received {
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

/// A running sink: its address, what it received so far, and how many
/// connections it accepted.
struct Sink {
    addr: std::net::SocketAddr,
    inbox: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
}

impl Sink {
    fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }
}

/// Starts the sink.
async fn sink() -> Sink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (shared, accepted) = (Arc::clone(&inbox), Arc::clone(&connections));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(session(stream, Arc::clone(&shared)));
        }
    });
    Sink {
        addr,
        inbox,
        connections,
    }
}

async fn session(stream: tokio::net::TcpStream, inbox: Arc<Mutex<Vec<Received>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    reply(&mut write, "220 sink.test ESMTP\r\n").await;
    let mut current = Received {
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: String::new(),
    };
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
                current.mail_from = command;
                reply(&mut write, "250 OK\r\n").await;
            }
            "RCPT" => {
                current.rcpt_to.push(command);
                reply(&mut write, "250 OK\r\n").await;
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
                    // Undo dot-stuffing.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                current.data = data;
                inbox.lock().unwrap().push(current.clone());
                current.rcpt_to.clear();
                reply(&mut write, "250 queued\r\n").await;
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
    w.write_all(s.as_bytes()).await.unwrap();
}

/// A MIME part: its headers (lower-cased names) and decoded body.
struct Part {
    content_type: String,
    body: String,
}

/// Splits a `multipart/*` message into its decoded parts.
fn parts(data: &str) -> (String, Vec<Part>) {
    let (head, body) = data.split_once("\r\n\r\n").expect("header block");
    let boundary = head
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a multipart boundary");
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for chunk in body.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let (part_head, part_body) = chunk
            .trim_start_matches("\r\n")
            .split_once("\r\n\r\n")
            .unwrap();
        let header = |name: &str| {
            part_head
                .split("\r\n")
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let decoded = match header("Content-Transfer-Encoding").as_str() {
            "base64" => {
                let compact: String = part_body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .unwrap(),
                )
                .unwrap()
            }
            "quoted-printable" => quoted_printable(part_body),
            _ => part_body.to_owned(),
        };
        out.push(Part {
            content_type: header("Content-Type"),
            body: decoded,
        });
    }
    (head.to_owned(), out)
}

fn quoted_printable(s: &str) -> String {
    let mut bytes = Vec::new();
    let raw = s.replace("=\r\n", "");
    let mut it = raw.bytes();
    while let Some(b) = it.next() {
        if b == b'=' {
            let hex = [it.next().unwrap(), it.next().unwrap()];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).unwrap()
}

/// The values of a header, unfolded.
fn header(head: &str, name: &str) -> Vec<String> {
    head.replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .split("\r\n")
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
        .collect()
}

/// Decodes RFC 2047 `=?utf-8?b?...?=` words (what lettre writes for non-ASCII).
/// The space between two encoded words is not part of the text.
fn decode_words(value: &str) -> String {
    let mut out = Vec::new();
    let mut previous_encoded = false;
    for (i, word) in value.split(' ').enumerate() {
        let encoded = word
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="));
        if i > 0 && !(previous_encoded && encoded.is_some()) {
            out.push(b' ');
        }
        match encoded {
            Some(b64) => out.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            ),
            None => out.extend(word.bytes()),
        }
        previous_encoded = encoded.is_some();
    }
    String::from_utf8(out).unwrap()
}

fn code_mail(locale: Locale, code: &str) -> OtpMail {
    let kind = MailKind::Code {
        code: Code::normalize(code, 6).unwrap(),
        valid_for: Duration::from_secs(300),
    };
    OtpMail::new(
        EmailAddress::parse("Taro@Example.COM").unwrap(),
        kind,
        locale,
        "Example Tickets",
    )
    .with_site_origin(Some("https://tickets.example".into()))
    .with_ticket_hint(Some("Summer Live, seat A-12".into()))
}

#[tokio::test]
async fn smtp_mailer_delivers_a_multipart_code_mail_to_a_loopback_server() {
    let sink = sink().await;
    let url = format!("smtp://{}", sink.addr);
    let mailer = SmtpMailer::from_url(&url, "noreply@tickets.example").unwrap();

    mailer.send(&code_mail(Locale::En, "482913")).await.unwrap();
    // The pool takes the connection back in a task of its own, spawned as
    // the send lets go of it: let that task run (this runtime has one thread).
    tokio::task::yield_now().await;
    // A second message reuses the pooled connection.
    mailer.send(&code_mail(Locale::Ja, "105729")).await.unwrap();
    assert_eq!(sink.connections.load(Ordering::SeqCst), 1, "one connection");

    let received = sink.received();
    assert_eq!(received.len(), 2);
    for (message, code, subject, text_marker) in [
        (
            &received[0],
            "482913",
            "[Example Tickets] Your one-time password",
            "valid for 5 minutes",
        ),
        (
            &received[1],
            "105729",
            "[Example Tickets] ワンタイムパスワード",
            "5分間",
        ),
    ] {
        assert_eq!(message.mail_from, "MAIL FROM:<noreply@tickets.example>");
        assert_eq!(message.rcpt_to, ["RCPT TO:<Taro@example.com>"]);
        let (head, parts) = parts(&message.data);
        assert_eq!(header(&head, "To"), ["Taro@example.com"]);
        assert!(header(&head, "Cc").is_empty() && header(&head, "Bcc").is_empty());
        assert_eq!(
            header(&head, "From"),
            ["\"Example Tickets\" <noreply@tickets.example>"]
        );
        let subjects = header(&head, "Subject");
        assert_eq!(subjects.len(), 1);
        assert_eq!(decode_words(&subjects[0]), subject, "{}", subjects[0]);
        assert!(!head.contains(code), "the code must not be in any header");
        assert!(header(&head, "Content-Type")[0].starts_with("multipart/alternative"));
        assert_eq!(parts.len(), 2);
        assert!(parts[0].content_type.starts_with("text/plain"));
        assert!(parts[1].content_type.starts_with("text/html"));
        for part in &parts {
            assert!(part.body.contains(code), "{}", part.body);
            assert!(part.body.contains(text_marker), "{}", part.body);
            assert!(part.body.contains("Summer Live, seat A-12"));
        }
        assert!(!parts[1].body.contains("href"));
    }
}

#[tokio::test]
async fn smtp_mailer_sends_the_new_device_notice() {
    let sink = sink().await;
    let mailer = SmtpMailer::from_url(
        &format!("smtp://{}", sink.addr),
        "Tickets <noreply@tickets.example>",
    )
    .unwrap();
    let kind = MailKind::NewDevice {
        at: Timestamp::from_millis(1_754_051_696_000),
    };
    let mail = OtpMail::new(
        EmailAddress::parse("taro@example.com").unwrap(),
        kind,
        Locale::En,
        "Example Tickets",
    );
    mailer.send(&mail).await.unwrap();
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, ["RCPT TO:<taro@example.com>"]);
    let (head, parts) = parts(&received[0].data);
    assert_eq!(parts.len(), 2);
    assert_eq!(header(&head, "From"), ["Tickets <noreply@tickets.example>"]);
    assert_eq!(
        header(&head, "Subject"),
        ["[Example Tickets] A new device was verified for your ticket"]
    );
    for part in &parts {
        assert!(part.body.contains("2025-08-01 12:34 UTC"), "{}", part.body);
    }
}

/// The error's sources, joined: what a log line would carry.
fn causes(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(" / ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

#[tokio::test]
async fn a_refused_connection_is_a_mail_error() {
    // Bind then drop a listener: nothing listens on that port any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mailer = SmtpMailer::builder(&format!("smtp://{addr}"), "noreply@tickets.example")
        .with_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let error = mailer
        .send(&code_mail(Locale::En, "482913"))
        .await
        .unwrap_err();
    let chain = causes(&error);
    assert!(chain.starts_with("mail delivery failed / "), "{chain}");
    assert!(chain.contains("Connection refused"), "{chain}");
}

/// A server that accepts and never answers: the send fails on its timeouts.
/// Real time is the point (the mailer's own timers on a TCP connection), so
/// the bounds are wide for a loaded machine: not before the 300 ms command
/// timeout, and within 30 s (the send timeout is 1 s).
#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts connections and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let command_timeout = Duration::from_millis(300);
    let mailer = SmtpMailer::builder(&format!("smtp://{addr}"), "noreply@tickets.example")
        .with_timeout(command_timeout)
        .with_send_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    let sent = tokio::time::timeout(
        Duration::from_secs(30),
        mailer.send(&code_mail(Locale::En, "482913")),
    )
    .await;
    let waited = start.elapsed();
    let error = sent
        .unwrap_or_else(|_| panic!("no timeout: still waiting after {waited:?}"))
        .unwrap_err();
    assert!(waited >= command_timeout, "failed after only {waited:?}");
    let chain = causes(&error);
    assert!(chain.contains("timed out"), "{chain}");
}
