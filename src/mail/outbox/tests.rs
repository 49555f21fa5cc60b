//! The outbox on its own, on Tokio's paused clock: pacing, replacement,
//! expiry, the still-wanted check, refusals, retries and capacity.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::*;
use crate::clock::{Clock, ManualClock, Timestamp};
use crate::code::{Code, CodeHash};
use crate::email::EmailAddress;
use crate::locale::Locale;
use crate::mail::{MailError, MailKind, OtpMail};

/// A mailer that notes when each address was sent to, and answers from a
/// script (then `Ok`).
#[derive(Default)]
struct Scripted {
    sent: Mutex<Vec<(String, Instant)>>,
    script: Mutex<VecDeque<Result<(), MailError>>>,
}

impl Scripted {
    fn answering(script: impl IntoIterator<Item = Result<(), MailError>>) -> Arc<Self> {
        Arc::new(Self {
            sent: Mutex::default(),
            script: Mutex::new(script.into_iter().collect()),
        })
    }

    fn sent(&self) -> Vec<(String, Instant)> {
        self.sent.lock().unwrap().clone()
    }

    fn addresses(&self) -> Vec<String> {
        self.sent().into_iter().map(|(to, _)| to).collect()
    }
}

#[async_trait]
impl Mailer for Scripted {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        self.sent
            .lock()
            .unwrap()
            .push((mail.to.as_str().to_owned(), Instant::now()));
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

/// A recall that wants what `wanted` says and counts withdrawals.
#[derive(Default)]
struct Counting {
    unwanted: AtomicBool,
    withdrawn: AtomicUsize,
}

#[async_trait]
impl Recall for Counting {
    async fn still_wanted(&self, _letter: &Letter) -> bool {
        !self.unwanted.load(Ordering::SeqCst)
    }

    async fn withdraw(&self, _letter: &Letter) {
        self.withdrawn.fetch_add(1, Ordering::SeqCst);
    }
}

fn ticket(n: u8) -> TicketKey {
    TicketKey::from_bytes([n; 16])
}

fn letter(n: u8, now: Timestamp, valid_for: Duration) -> Letter {
    let kind = MailKind::Code {
        code: Code::generate(6),
        valid_for,
    };
    let to = EmailAddress::parse(&format!("u{n}@example.com")).unwrap();
    let mail = OtpMail::new(to, kind, Locale::En, "Tickets");
    Letter::new(
        ticket(n),
        CodeHash::from_bytes([n; 32]),
        now,
        now + valid_for,
        mail,
    )
}

const FIVE_MINUTES: Duration = Duration::from_secs(300);

fn settings(rate: u32) -> OutboxSettings {
    OutboxSettings::default()
        .with_rate(rate)
        .unwrap()
        .with_retries(2, Duration::from_secs(1))
}

#[tokio::test(start_paused = true)]
async fn letters_leave_one_period_apart_when_their_eta_says() {
    let mailer = Scripted::answering([]);
    let outbox = Outbox::new(Arc::clone(&mailer), settings(10));
    let start = Instant::now();
    let now = ManualClock::starting_now().now();
    let mut etas = Vec::new();
    for n in 0..30 {
        let queued = outbox.enqueue(letter(n, now, FIVE_MINUTES)).unwrap();
        assert_eq!(queued.position, usize::from(n));
        etas.push(queued.eta);
    }
    outbox.idle().await;
    let sent = mailer.sent();
    assert_eq!(sent.len(), 30);
    for (n, ((to, at), eta)) in sent.iter().zip(&etas).enumerate() {
        assert_eq!(to, &format!("u{n}@example.com"), "first in, first out");
        assert_eq!(at.duration_since(start), *eta, "letter {n} left when told");
        assert_eq!(*eta, Duration::from_millis(100) * n as u32);
    }
    assert_eq!(outbox.status(&ticket(29)), Some(Delivery::Sent));
}

#[tokio::test(start_paused = true)]
async fn a_burst_after_a_quiet_spell_keeps_the_pace() {
    let mailer = Scripted::answering([]);
    let outbox = Outbox::new(Arc::clone(&mailer), settings(5));
    let now = ManualClock::starting_now().now();
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox.idle().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The next slot is 150 ms away: the wait says so.
    let second = outbox.enqueue(letter(2, now, FIVE_MINUTES)).unwrap();
    assert_eq!(second.eta, Duration::from_millis(150));
    let third = outbox.enqueue(letter(3, now, FIVE_MINUTES)).unwrap();
    assert_eq!(third.eta, Duration::from_millis(350));
    assert_eq!(
        outbox.status(&ticket(3)),
        Some(Delivery::Queued {
            eta: Duration::from_millis(350)
        })
    );
    outbox.idle().await;
    let sent = mailer.sent();
    let gaps: Vec<_> = sent.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert_eq!(
        gaps,
        [Duration::from_millis(200), Duration::from_millis(200)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_newer_code_takes_the_place_of_the_one_still_waiting() {
    let mailer = Scripted::answering([]);
    let outbox = Outbox::new(Arc::clone(&mailer), settings(10));
    let now = ManualClock::starting_now().now();
    // 1 leaves at once; 2 and 3 wait.
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox.enqueue(letter(2, now, FIVE_MINUTES)).unwrap();
    outbox.enqueue(letter(3, now, FIVE_MINUTES)).unwrap();
    let mut newer = letter(2, now, FIVE_MINUTES);
    newer.code = CodeHash::from_bytes([99; 32]);
    newer.mail.to = EmailAddress::parse("newer@example.com").unwrap();
    let queued = outbox.enqueue(newer).unwrap();
    assert!(queued.replaced);
    assert_eq!(queued.position, 1, "it keeps the older one's place");
    assert_eq!(outbox.len(), 3);
    outbox.idle().await;
    assert_eq!(
        mailer.addresses(),
        ["u1@example.com", "newer@example.com", "u3@example.com"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_code_that_expired_while_waiting_is_not_sent() {
    let mailer = Scripted::answering([]);
    let clock = ManualClock::starting_now();
    let outbox = Outbox::new(Arc::clone(&mailer), settings(10)).with_clock(clock.clone());
    let now = clock.now();
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox
        .enqueue(letter(2, now, Duration::from_secs(1)))
        .unwrap();
    clock.advance(Duration::from_secs(2));
    outbox.idle().await;
    assert_eq!(mailer.addresses(), ["u1@example.com"]);
    assert_eq!(outbox.status(&ticket(2)), Some(Delivery::Expired));
}

#[tokio::test(start_paused = true)]
async fn a_code_no_longer_wanted_is_not_sent() {
    let mailer = Scripted::answering([]);
    let recall = Arc::new(Counting::default());
    recall.unwanted.store(true, Ordering::SeqCst);
    let outbox = Outbox::new(Arc::clone(&mailer), settings(10)).with_recall(Arc::clone(&recall));
    let now = ManualClock::starting_now().now();
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox.idle().await;
    assert!(mailer.sent().is_empty());
    assert_eq!(outbox.status(&ticket(1)), Some(Delivery::Superseded));
    assert_eq!(recall.withdrawn.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_withdraws_the_code_without_retrying() {
    let mailer = Scripted::answering([Err(MailError::permanent("550 no such user"))]);
    let recall = Arc::new(Counting::default());
    let outbox = Outbox::new(Arc::clone(&mailer), settings(10)).with_recall(Arc::clone(&recall));
    let now = ManualClock::starting_now().now();
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox.idle().await;
    assert_eq!(mailer.sent().len(), 1, "no retry");
    assert_eq!(recall.withdrawn.load(Ordering::SeqCst), 1);
    assert_eq!(outbox.status(&ticket(1)), Some(Delivery::Refused));
}

#[tokio::test(start_paused = true)]
async fn a_refusal_for_now_is_retried_with_backoff_then_given_up() {
    let failures = (0..3).map(|_| Err(MailError::new("421 slow down")));
    let mailer = Scripted::answering(failures);
    let recall = Arc::new(Counting::default());
    let outbox = Outbox::new(Arc::clone(&mailer), settings(10)).with_recall(Arc::clone(&recall));
    let now = ManualClock::starting_now().now();
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox.idle().await;
    let sent = mailer.sent();
    let gaps: Vec<_> = sent.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert_eq!(gaps, [Duration::from_secs(1), Duration::from_secs(2)]);
    assert_eq!(recall.withdrawn.load(Ordering::SeqCst), 1);
    assert_eq!(outbox.status(&ticket(1)), Some(Delivery::Failed));
}

#[tokio::test(start_paused = true)]
async fn a_refusal_for_now_that_passes_on_retry_is_sent() {
    let mailer = Scripted::answering([Err(MailError::new("451 try later"))]);
    let recall = Arc::new(Counting::default());
    let outbox = Outbox::new(Arc::clone(&mailer), settings(10)).with_recall(Arc::clone(&recall));
    let now = ManualClock::starting_now().now();
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox.idle().await;
    assert_eq!(mailer.sent().len(), 2);
    assert_eq!(recall.withdrawn.load(Ordering::SeqCst), 0);
    assert_eq!(outbox.status(&ticket(1)), Some(Delivery::Sent));
}

#[tokio::test(start_paused = true)]
async fn a_full_outbox_refuses_with_the_wait_and_queues_nothing() {
    let mailer = Scripted::answering([]);
    let settings = settings(10).with_capacity(2).unwrap();
    let outbox = Outbox::new(Arc::clone(&mailer), settings);
    let now = ManualClock::starting_now().now();
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox.enqueue(letter(2, now, FIVE_MINUTES)).unwrap();
    match outbox.enqueue(letter(3, now, FIVE_MINUTES)) {
        Err(EnqueueError::Full { retry_after }) => {
            assert_eq!(retry_after, Duration::from_secs(1));
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(outbox.status(&ticket(3)), None, "nothing said of it");
    // A ticket already waiting still gets its newer code in.
    assert!(
        outbox
            .enqueue(letter(2, now, FIVE_MINUTES))
            .unwrap()
            .replaced
    );
    outbox.idle().await;
    assert_eq!(mailer.addresses(), ["u1@example.com", "u2@example.com"]);
}

#[tokio::test(start_paused = true)]
async fn the_outcome_is_forgotten_after_a_while() {
    let mailer = Scripted::answering([]);
    let settings = settings(10).with_remember(Duration::from_secs(60));
    let outbox = Outbox::new(Arc::clone(&mailer), settings);
    let now = ManualClock::starting_now().now();
    outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
    outbox.idle().await;
    assert_eq!(outbox.status(&ticket(1)), Some(Delivery::Sent));
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(outbox.status(&ticket(1)), None);
}

#[test]
fn outside_a_runtime_nothing_is_queued() {
    let outbox = Outbox::new(Scripted::answering([]), OutboxSettings::default());
    let now = ManualClock::starting_now().now();
    assert!(matches!(
        outbox.enqueue(letter(1, now, FIVE_MINUTES)),
        Err(EnqueueError::NoRuntime)
    ));
}

/// Counters by `name{label=value}`, histogram sample counts and gauges'
/// last values, of what `body` recorded.
#[cfg(feature = "metrics")]
fn recorded<F: Future<Output = ()>>(
    body: impl FnOnce() -> F,
) -> std::collections::HashMap<String, u64> {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    ::metrics::with_local_recorder(&recorder, || runtime.block_on(body()));
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            let value = match value {
                DebugValue::Counter(n) => n,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(value) => value.into_inner() as u64,
            };
            (name, value)
        })
        .collect()
}

#[cfg(feature = "metrics")]
#[test]
fn the_outbox_counts_what_became_of_each_mail() {
    let numbers = recorded(|| async {
        let mailer = Scripted::answering([Ok(()), Err(MailError::permanent("550 no such user"))]);
        let clock = ManualClock::starting_now();
        let settings = settings(10).with_capacity(3).unwrap();
        let outbox = Outbox::new(Arc::clone(&mailer), settings).with_clock(clock.clone());
        let now = clock.now();
        outbox.enqueue(letter(1, now, FIVE_MINUTES)).unwrap();
        outbox.enqueue(letter(2, now, FIVE_MINUTES)).unwrap();
        outbox
            .enqueue(letter(3, now, Duration::from_secs(1)))
            .unwrap();
        // A newer code for 2 replaces the waiting one; 4 finds no place.
        outbox.enqueue(letter(2, now, FIVE_MINUTES)).unwrap();
        assert!(outbox.enqueue(letter(4, now, FIVE_MINUTES)).is_err());
        clock.advance(Duration::from_secs(2));
        outbox.idle().await;
    });
    let outcome = |name: &str| {
        numbers
            .get(&format!("tower_otp_outbox_mails_total{{outcome={name}}}"))
            .copied()
    };
    assert_eq!(outcome("sent"), Some(1));
    assert_eq!(outcome("refused"), Some(1));
    assert_eq!(outcome("expired"), Some(1));
    assert_eq!(outcome("superseded"), Some(1));
    assert_eq!(outcome("full"), Some(1));
    assert_eq!(
        numbers.get("tower_otp_outbox_wait_seconds"),
        Some(&3),
        "one wait per letter that left"
    );
    assert_eq!(
        numbers.get("tower_otp_outbox_depth"),
        Some(&0),
        "the queue ended empty"
    );
}

#[tokio::test(start_paused = true)]
async fn a_code_that_would_expire_before_its_turn_is_not_queued() {
    let mailer = Scripted::answering([]);
    let outbox = Outbox::new(Arc::clone(&mailer), settings(1));
    let now = ManualClock::starting_now().now();
    let valid_for = Duration::from_millis(2_500);
    // One a second: the first leaves at once, the second in 1 s, the third
    // in 2 s, all within the codes' 2.5 s.
    for n in 1..=3 {
        let queued = outbox.enqueue(letter(n, now, valid_for)).unwrap();
        assert!(queued.eta < valid_for, "{n}: {:?}", queued.eta);
    }
    // The fourth would leave in 3 s, after its code expired: refused, with
    // the wait after which a new code would make it.
    match outbox.enqueue(letter(4, now, valid_for)) {
        Err(EnqueueError::Full { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(outbox.status(&ticket(4)), None, "nothing said of it");
    outbox.idle().await;
    assert_eq!(mailer.addresses().len(), 3);
}
