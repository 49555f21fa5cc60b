//! The outbox as a site uses it: two instances (two flows with an outbox
//! each, over one store) take a burst of sends through `Flow::send`, some
//! tickets sent to again on the other instance at once; an SMTP sink that
//! throttles like a mail provider receives every code still valid, none that
//! a newer code superseded before it left, and each at about the wait the
//! send answered with.
//!
//! `OTP_OUTBOX_FLOW_SCALE=sends/rate` sets the scale (default `150/60`: 150
//! tickets to a sink that accepts 60 messages a second, so a few seconds).
#![cfg(all(feature = "smtp", feature = "test-util"))]

mod smtp_sink;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tower_otp::mail::outbox::{Delivery, OutboxSettings};
use tower_otp::{
    Flow, Limits, Locale, MemoryStore, Secret, SmtpMailer, TicketId,
    flow::{Rejection, SendRequest},
};

use self::smtp_sink::SinkSettings;

fn scale() -> (u32, u32) {
    let raw = std::env::var("OTP_OUTBOX_FLOW_SCALE").unwrap_or_else(|_| "150/60".into());
    let (sends, rate) = raw
        .split_once('/')
        .expect("OTP_OUTBOX_FLOW_SCALE is sends/rate");
    (sends.parse().unwrap(), rate.parse().unwrap())
}

/// Budgets wide enough for the burst: what is tested is the mail.
fn limits() -> Limits {
    Limits::default()
        .with_resend_cooldowns([Duration::ZERO])
        .unwrap()
        .with_sends_site_wide(None)
        .unwrap()
        .with_sends_per_domain(100_000)
        .unwrap()
        .with_sends_per_client(None)
        .unwrap()
}

/// One code sent: to whom, when, the wait the send answered with, and
/// whether a newer code replaced it at once.
struct Sent {
    to: String,
    at: Instant,
    eta: Duration,
    replaced: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_mail_every_valid_code_none_superseded_at_the_wait_they_said() {
    let (sends, rate) = scale();
    let sink = smtp_sink::start(SinkSettings {
        rate,
        burst: (rate / 10).max(3),
        ..SinkSettings::default()
    })
    .await;
    let secret = Secret::random();
    let store = Arc::new(MemoryStore::new());
    // Each instance takes half of the provider's rate.
    let instance = || {
        let mailer = SmtpMailer::from_url(&sink.url(), "noreply@tickets.example").unwrap();
        let outbox = OutboxSettings::default().with_rate(rate / 2).unwrap();
        Flow::new(&secret, Arc::clone(&store), mailer)
            .with_limits(limits())
            .with_outbox(outbox)
    };
    let (a, b) = (instance(), instance());
    let started = Instant::now();
    let mut sent: Vec<Sent> = Vec::new();
    // Codes that a newer code for the same ticket superseded, with the time
    // the newer one was issued.
    let mut superseded: HashMap<String, Instant> = HashMap::new();
    let mut refused = 0;
    for k in 0..sends {
        let to = format!("buyer{k}@example.com");
        let ticket = a.ticket_key(&TicketId::new(format!("T{k}")));
        let request = SendRequest::new(Locale::En).with_email(&to);
        let first = match a.send(&ticket, request).await {
            Ok(first) => first,
            // Truthful: the outbox is so long that the code would expire
            // before its mail leaves, and the send says so.
            Err(Rejection::OutboxFull { .. }) => {
                refused += 1;
                continue;
            }
            Err(other) => panic!("send: {other:?}"),
        };
        let eta = first.delivery.eta().expect("queued");
        assert!(eta < Duration::from_secs(300), "a wait the code survives");
        sent.push(Sent {
            to: to.clone(),
            at: Instant::now(),
            eta,
            replaced: false,
        });
        if k % 5 == 0 {
            // Sent again at once, from the other instance: the first code,
            // if still waiting, is not mailed.
            let again = match b.send(&ticket, SendRequest::new(Locale::En)).await {
                Ok(again) => again,
                Err(Rejection::OutboxFull { .. }) => {
                    refused += 1;
                    continue;
                }
                Err(other) => panic!("resend: {other:?}"),
            };
            let at = Instant::now();
            let index = sent.len() - 1;
            sent[index].replaced = true;
            superseded.insert(to.clone(), at);
            sent.push(Sent {
                to: to.clone(),
                at,
                eta: again.delivery.eta().expect("queued"),
                replaced: false,
            });
        }
    }
    a.settled().await;
    b.settled().await;
    let received = sink.received();
    assert_eq!(
        sink.throttled.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "kept the pace"
    );

    // Every ticket's last code arrived: once.
    let mut by_address: HashMap<String, Vec<&smtp_sink::Received>> = HashMap::new();
    for mail in &received {
        by_address
            .entry(mail.rcpt_to[0].clone())
            .or_default()
            .push(mail);
    }
    let mut errors = Vec::new();
    let mut arrived_superseded = 0;
    for s in sent.iter().filter(|s| !s.replaced) {
        let Some(mails) = by_address.get(&s.to) else {
            panic!("no mail reached {}", s.to);
        };
        let last = mails.iter().max_by_key(|m| m.at).unwrap();
        // The shown wait came true, within 20% (or 150 ms for short waits).
        let real = last.at.saturating_duration_since(s.at);
        let error = real.abs_diff(s.eta);
        if error > (s.eta / 5).max(Duration::from_millis(150)) {
            errors.push(format!("{}: said {:?}, took {real:?}", s.to, s.eta));
        }
        if let Some(newer_at) = superseded.get(&s.to) {
            // The older of the two arrived only if it left before the newer
            // one was issued (the store's check just before sending).
            if mails.len() > 1 {
                arrived_superseded += 1;
                let first = mails.iter().min_by_key(|m| m.at).unwrap();
                assert!(
                    first.at <= *newer_at + Duration::from_millis(500),
                    "{}: a superseded code left after its successor was issued",
                    s.to
                );
            }
            assert!(mails.len() <= 2, "{}: {} mails", s.to, mails.len());
        } else {
            assert_eq!(mails.len(), 1, "{}: one code, one mail", s.to);
        }
    }
    let resent = superseded.len();
    eprintln!(
        "{sends} tickets ({resent} sent again on the other instance) to a sink at {rate}/s: \
         {} mails in {:?}, {arrived_superseded} superseded codes had left before their \
         successor, {} waits off by more than 20%, {refused} sends refused (the code would \
         have expired before its turn)",
        received.len(),
        started.elapsed(),
        errors.len()
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        arrived_superseded < resent,
        "superseded codes still waiting were not mailed"
    );
    if sends <= 1_000 {
        assert_eq!(refused, 0, "nothing refused at this scale");
    }
    assert!(matches!(
        a.delivery(&a.ticket_key(&TicketId::new("T1"))),
        Some(Delivery::Sent)
    ));
}
