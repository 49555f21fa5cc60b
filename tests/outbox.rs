//! The outbox against a real SMTP conversation on 127.0.0.1: two instances
//! (two outboxes over one store) take a burst of sends, pace themselves
//! under a sink that throttles like a mail provider, send every code still
//! wanted and none superseded, and tell waits that come true; a mail the
//! server refuses has its code withdrawn and the page says so; a full
//! outbox refuses the send and says why.
//!
//! The burst's scale comes from `OTP_OUTBOX_SCALE`,
//! `sends/seconds/rate/per_ticket`: that many sends spread over that many
//! seconds, to a sink that accepts `rate` messages a second (each instance
//! sends at half of it), about `per_ticket` sends per ticket (every tenth
//! send is also resent at once). The default, `200/1/100/4`, runs in a few
//! seconds; the on-sale scale, 2,000 tickets in 10 s to a provider that
//! takes 10 a second (200 s to drain), is
//!
//! ```text
//! OTP_OUTBOX_SCALE=2000/10/10/1 cargo test --all-features --test outbox -- --nocapture burst
//! ```
#![cfg(all(feature = "smtp", feature = "test-util"))]

mod smtp_sink;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tower_otp::mail::outbox::{Delivery, EnqueueError, Letter, Outbox, OutboxSettings, Recall};
use tower_otp::mail::{Code, MailKind, OtpMail};
use tower_otp::pages::{DefaultPages, Notice, PageContext, PageKind, Pages};
use tower_otp::store::{
    AddressKey, CodeHash, CounterKeys, IssueOutcome, IssueRequest, Policy, Store,
};
use tower_otp::testing::CapturingMailer;
use tower_otp::{
    Clock, EmailAddress, Flow, Locale, MemoryStore, Secret, SmtpMailer, SystemClock, TicketKey,
    flow::Rejection,
};

use self::smtp_sink::{Sink, SinkSettings};

/// A store's policy that lets a ticket be sent to as often as the burst
/// asks (the budgets are not what is tested here).
fn open_policy() -> Policy {
    let mut policy = Policy::default();
    policy.cooldowns = vec![Duration::ZERO];
    policy.sends_per_ticket = 100_000;
    policy.sends_per_address = 100_000;
    policy.sends_per_domain = 100_000;
    policy.sends_site_wide = 0;
    policy.sends_per_client = 0;
    policy
}

fn ticket(k: u32) -> TicketKey {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&k.to_be_bytes());
    bytes[15] = 0xAA;
    TicketKey::from_bytes(bytes)
}

/// The send counters of ticket `k`'s address.
fn counter_keys(ticket: &TicketKey) -> CounterKeys {
    let mailbox = AddressKey::from_bytes(*ticket.as_bytes());
    let mut owner = *ticket.as_bytes();
    owner[15] = 0xBB;
    CounterKeys::new(
        mailbox,
        AddressKey::from_bytes(owner),
        AddressKey::from_bytes([1; 16]),
        AddressKey::from_bytes([2; 16]),
    )
}

/// The outbox's questions answered from the shared store, as the flow
/// answers them: wanted while the code is the ticket's newest live one.
/// Notes when each code was last found wanted.
struct StoreCheck {
    store: Arc<MemoryStore>,
    policy: Policy,
    wanted_at: Mutex<HashMap<[u8; 32], Instant>>,
}

#[async_trait]
impl Recall for StoreCheck {
    async fn still_wanted(&self, letter: &Letter) -> bool {
        let now = SystemClock.now();
        let snapshot = self
            .store
            .load(&letter.ticket, now, &self.policy)
            .await
            .unwrap();
        let wanted = snapshot
            .live_codes
            .last()
            .is_some_and(|newest| newest.hash.ct_eq(&letter.code));
        if wanted {
            self.wanted_at
                .lock()
                .unwrap()
                .insert(*letter.code.as_bytes(), Instant::now());
        }
        wanted
    }

    async fn withdraw(&self, letter: &Letter) {
        let keys = counter_keys(&letter.ticket);
        let request = IssueRequest::new(
            &letter.ticket,
            &letter.mail.to,
            &keys,
            &letter.code,
            letter.issued_at,
            &self.policy,
        );
        self.store.withdraw_code(&request).await.unwrap();
    }
}

/// One instance: an outbox over its own SMTP connection pool.
fn instance(sink: &Sink, check: &Arc<StoreCheck>, settings: OutboxSettings) -> Outbox<SmtpMailer> {
    let mailer = SmtpMailer::from_url(&sink.url(), "noreply@tickets.example").unwrap();
    Outbox::new(mailer, settings).with_recall(Arc::clone(check))
}

/// Issues a code for ticket `k` in the store and builds its letter; the
/// mail's hint names the ticket and the version, so the sink can tell them
/// apart.
async fn issue(check: &StoreCheck, k: u32, version: u32, to: &str) -> (Letter, String, Instant) {
    let ticket = ticket(k);
    let address = EmailAddress::parse(to).unwrap();
    let keys = counter_keys(&ticket);
    let mut hash = [0u8; 32];
    hash[..4].copy_from_slice(&k.to_be_bytes());
    hash[4..8].copy_from_slice(&version.to_be_bytes());
    let hash = CodeHash::from_bytes(hash);
    let now = SystemClock.now();
    let request = IssueRequest::new(&ticket, &address, &keys, &hash, now, &check.policy);
    let outcome = check.store.issue_code(&request).await.unwrap();
    let IssueOutcome::Issued { expires_at, .. } = outcome else {
        panic!("not issued: {outcome:?}");
    };
    let issued = Instant::now();
    let hint = format!("[ticket-{k}-version-{version}]");
    let kind = MailKind::Code {
        code: Code::generate(6),
        valid_for: check.policy.code_ttl,
    };
    let mail =
        OtpMail::new(address, kind, Locale::En, "Tickets").with_ticket_hint(Some(hint.clone()));
    (
        Letter::new(ticket, hash, now, expires_at, mail),
        hint,
        issued,
    )
}

/// `OTP_OUTBOX_SCALE` = `sends/seconds/rate/per_ticket`.
fn scale() -> (u32, f64, u32, u32) {
    let raw = std::env::var("OTP_OUTBOX_SCALE").unwrap_or_else(|_| "200/1/100/4".into());
    let parts: Vec<&str> = raw.split('/').collect();
    assert_eq!(
        parts.len(),
        4,
        "OTP_OUTBOX_SCALE is sends/seconds/rate/per_ticket, got {raw:?}"
    );
    (
        parts[0].parse().unwrap(),
        parts[1].parse().unwrap(),
        parts[2].parse().unwrap(),
        parts[3].parse().unwrap(),
    )
}

/// One send of the burst.
struct Sent {
    ticket: u32,
    version: u32,
    hint: String,
    hash: [u8; 32],
    issued: Instant,
    enqueued: Instant,
    eta: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_over_two_instances_sends_every_wanted_code_at_the_pace_and_wait_it_said() {
    let (sends, seconds, rate, per_ticket) = scale();
    // The provider's throttle: `rate` a second, with 100 ms of slack (at
    // least 3 messages) for the jitter of the SMTP round trips.
    let sink = smtp_sink::start(SinkSettings {
        rate,
        burst: (rate / 10).max(3),
        ..SinkSettings::default()
    })
    .await;
    let check = Arc::new(StoreCheck {
        store: Arc::new(MemoryStore::new()),
        policy: open_policy(),
        wanted_at: Mutex::default(),
    });
    // Each instance gets half the provider's rate.
    let settings = OutboxSettings::default().with_rate(rate / 2).unwrap();
    let outboxes = [
        instance(&sink, &check, settings.clone()),
        instance(&sink, &check, settings),
    ];
    // An odd number of tickets, `per_ticket` sends each: a ticket's sends
    // take turns between the instances, so a newer code is often issued
    // through one instance while the older one waits in the other (the
    // store check drops it); every tenth send is also resent at once
    // through the same instance (the queue replaces it).
    let tickets = (sends / per_ticket.max(1)) | 1;
    let spacing = Duration::from_secs_f64(seconds / f64::from(sends));
    let start = Instant::now();
    let mut versions: HashMap<u32, u32> = HashMap::new();
    let mut log: Vec<Sent> = Vec::new();
    let (mut full, mut replaced) = (0, 0);
    for i in 0..sends {
        tokio::time::sleep_until(start + spacing * i).await;
        let k = i % tickets;
        let outbox = &outboxes[(i % 2) as usize];
        let repeats = if i % 10 == 0 { 2 } else { 1 };
        for _ in 0..repeats {
            let version = versions.entry(k).or_default();
            *version += 1;
            let (letter, hint, issued) =
                issue(&check, k, *version, &format!("buyer{k}@example.com")).await;
            let hash = *letter.code.as_bytes();
            let enqueued = Instant::now();
            match outbox.enqueue(letter) {
                Ok(queued) => {
                    replaced += usize::from(queued.replaced);
                    log.push(Sent {
                        ticket: k,
                        version: *version,
                        hint,
                        hash,
                        issued,
                        enqueued,
                        eta: queued.eta,
                    });
                }
                Err(EnqueueError::Full { .. }) => full += 1,
                Err(other) => panic!("{other}"),
            }
        }
    }
    let burst = start.elapsed();
    for outbox in &outboxes {
        outbox.idle().await;
    }
    let drained = start.elapsed();

    let received = sink.received();
    let mut arrivals: HashMap<&str, Vec<Instant>> = HashMap::new();
    for mail in &received {
        let hint = log
            .iter()
            .find(|s| mail.text.contains(&s.hint))
            .map(|s| s.hint.as_str())
            .unwrap_or_else(|| panic!("a mail the burst did not send: {:?}", mail.rcpt_to));
        arrivals.entry(hint).or_default().push(mail.at);
    }
    let wanted_at = check.wanted_at.lock().unwrap().clone();
    let newest: HashMap<u32, u32> = versions.clone();
    let issued_at: HashMap<(u32, u32), Instant> = log
        .iter()
        .map(|s| ((s.ticket, s.version), s.issued))
        .collect();

    let (mut superseded, mut older_sent, mut errors) = (0, 0, Vec::new());
    for sent in &log {
        let arrived = arrivals.get(sent.hint.as_str()).map_or(0, Vec::len);
        assert!(arrived <= 1, "{} arrived {arrived} times", sent.hint);
        if sent.version == newest[&sent.ticket] {
            assert_eq!(arrived, 1, "the newest code {} never arrived", sent.hint);
            let at = arrivals[sent.hint.as_str()][0];
            let real = at.duration_since(sent.enqueued);
            errors.push((real, sent.eta));
        } else if arrived == 1 {
            older_sent += 1;
            // An older code arrives only if it had left before the newer
            // one was issued.
            let asked = *wanted_at
                .get(&sent.hash)
                .unwrap_or_else(|| panic!("{} was sent without asking the store", sent.hint));
            let newer = issued_at[&(sent.ticket, sent.version + 1)];
            assert!(
                asked < newer,
                "{} was sent after a newer code was issued",
                sent.hint
            );
        } else {
            superseded += 1;
        }
    }
    assert_eq!(full, 0, "the default capacity holds the burst");
    assert!(
        superseded > 0,
        "the burst superseded no code: it tests nothing"
    );
    assert_eq!(
        sink.throttled.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the outboxes went faster than the provider's rate"
    );
    // The shown wait comes true: within 20% (or 150 ms, for the waits of a
    // few milliseconds that the SMTP round trip dominates).
    let mut worst = 0.0_f64;
    for (real, eta) in &errors {
        let error = real.as_secs_f64() - eta.as_secs_f64();
        let allowed = (real.as_secs_f64() * 0.2).max(0.15);
        assert!(error.abs() <= allowed, "told {eta:?}, it took {real:?}");
        if real.as_secs_f64() >= 1.0 {
            worst = worst.max(error.abs() / real.as_secs_f64());
        }
    }
    let longest = errors
        .iter()
        .map(|(real, _)| *real)
        .max()
        .unwrap_or_default();
    let mean = errors
        .iter()
        .map(|(r, e)| (r.as_secs_f64() - e.as_secs_f64()).abs())
        .sum::<f64>()
        / errors.len().max(1) as f64;
    println!(
        "outbox burst: {} sends ({} letters) over {burst:.2?} through 2 instances at {}/s each; \
         sink {rate}/s; {} mails arrived, {superseded} superseded not sent ({replaced} replaced in \
         the queue, the rest dropped by the store check), {older_sent} older codes sent before a \
         newer one was issued, 0 throttled; \
         drained after {drained:.2?}; longest wait {longest:.2?}; |eta - real| mean {:.3} s, \
         worst {:.1}% of waits of 1 s or more",
        sends,
        log.len(),
        rate / 2,
        received.len(),
        mean,
        worst * 100.0,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mail_withdraws_its_code_and_the_page_says_so() {
    let sink = smtp_sink::start(SinkSettings::default()).await;
    let store = Arc::new(MemoryStore::new());
    let check = Arc::new(StoreCheck {
        store: Arc::clone(&store),
        policy: Policy::default(),
        wanted_at: Mutex::default(),
    });
    let outbox = instance(&sink, &check, OutboxSettings::default());
    let (letter, _, _) = issue(&check, 1, 1, "bounce@example.com").await;
    let key = letter.ticket;
    let before = store
        .load(&key, SystemClock.now(), &check.policy)
        .await
        .unwrap();
    assert_eq!(before.live_codes.len(), 1);
    assert_eq!(before.recent_sends.len(), 1);

    outbox.enqueue(letter).unwrap();
    outbox.idle().await;

    assert_eq!(sink.refused.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(outbox.status(&key), Some(Delivery::Refused));
    let after = store
        .load(&key, SystemClock.now(), &check.policy)
        .await
        .unwrap();
    assert!(
        after.live_codes.is_empty(),
        "the refused code was withdrawn"
    );
    assert!(after.recent_sends.is_empty(), "and its send is not counted");

    // The next page says the mail server refused it, and offers to send again.
    let flow = Flow::new(
        &Secret::random(),
        Arc::clone(&store),
        CapturingMailer::new(),
    );
    let challenge = flow.challenge(&key).await.unwrap();
    let page = PageContext::new(PageKind::Challenge, Locale::En, "/t/1", "csrf", "nonce")
        .with_challenge(&challenge)
        .with_delivery(outbox.status(&key));
    let html = DefaultPages::new().render(&page);
    assert!(
        html.contains("The mail server refused the e-mail to"),
        "{html}"
    );
    assert!(!html.contains("We sent a one-time password"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_refuses_the_send_and_says_why() {
    let sink = smtp_sink::start(SinkSettings::default()).await;
    let check = Arc::new(StoreCheck {
        store: Arc::new(MemoryStore::new()),
        policy: open_policy(),
        wanted_at: Mutex::default(),
    });
    let settings = OutboxSettings::default()
        .with_rate(1)
        .unwrap()
        .with_capacity(2)
        .unwrap();
    let outbox = instance(&sink, &check, settings);
    // The first leaves at once; two wait; the fourth finds no place.
    let mut waits = Vec::new();
    for k in 0..3 {
        let (letter, _, _) = issue(&check, k, 1, &format!("buyer{k}@example.com")).await;
        waits.push(outbox.enqueue(letter).unwrap().eta);
        if k == 0 {
            // Let the worker take it, so two places are left.
            while !outbox.is_empty() {
                tokio::task::yield_now().await;
            }
        }
    }
    let (letter, _, _) = issue(&check, 3, 1, "buyer3@example.com").await;
    let refused = outbox.enqueue(letter).unwrap_err();
    let EnqueueError::Full { retry_after } = refused else {
        panic!("expected Full, got {refused:?}");
    };
    assert_eq!(retry_after, Duration::from_secs(1));
    assert_eq!(
        outbox.status(&ticket(3)),
        None,
        "nothing is said to be on its way"
    );
    assert!(
        waits[2] > Duration::from_millis(1500),
        "the second waiting leaves in about 2 s: {waits:?}"
    );

    // The visitor is told no code was issued, and when to try again.
    let rejection = Rejection::OutboxFull { retry_after };
    assert_eq!(rejection.error_code(), "outbox_full");
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(1)));
    let page = PageContext::new(PageKind::Unavailable, Locale::En, "/t/1", "csrf", "nonce")
        .with_notice(Notice::Rejected(&rejection));
    let html = DefaultPages::new().render(&page);
    assert!(
        html.contains("Too many e-mails are waiting to be sent"),
        "{html}"
    );
    assert!(!html.contains("We sent"), "{html}");
}
