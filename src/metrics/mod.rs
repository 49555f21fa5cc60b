//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`, on by default).
//!
//! The crate records; the application chooses where the numbers go by
//! installing a recorder (Prometheus, StatsD, …) before it builds its
//! [`Flow`](crate::Flow). Without a recorder every call is a no-op. Nothing is
//! recorded on the verified path: a device that passes with its cookie costs
//! no metric call.
//!
//! Labels are few and fixed (an operation name, an outcome), never a ticket,
//! an address or a code, so a time series stays a time series.
//!
//! | Name | Kind | Labels | What |
//! |---|---|---|---|
//! | `tower_otp_first_device_claims_total` | counter | | first devices trusted |
//! | `tower_otp_claims_throttled_total` | counter | `budget` | first-device claims of ids no validator vouched for, refused by a limit (`client`) |
//! | `tower_otp_codes_sent_total` | counter | | codes handed to the mailer |
//! | `tower_otp_sends_throttled_total` | counter | `budget` | sends refused by a limit: `ticket` (its cooldown or its sends per hour), `owner`, `mailbox`, `domain`, `site`, `client` (see [`SendBudget`](crate::store::SendBudget)) |
//! | `tower_otp_verifications_total` | counter | `outcome` | code entries: `verified`; `wrong` (counted against the round); refused uncounted: `expired`, `no_code`, `exhausted`, `locked`, `invalid` (not a code) |
//! | `tower_otp_wrong_codes_total` | counter | `attempt` | wrong entries by their place in the ticket's round: `1` to `10`. Guesses spread over many tickets are all `1`; an attack on one ticket climbs to the round's limit, then locks it |
//! | `tower_otp_lockouts_total` | counter | | tickets locked for new devices |
//! | `tower_otp_devices_revoked_total` | counter | | revocations (support or application) |
//! | `tower_otp_support_actions_total` | counter | `action` | operator actions on a ticket |
//! | `tower_otp_transfers_total` | counter | `outcome` | steps of transfers: `started`, `confirmed`, `accepted`, `cancelled`, or the refusal's code (as [`TransferRefusal::code`](crate::transfer::TransferRefusal::code)) |
//! | `tower_otp_hand_offs_total` | counter | `outcome` | seats handed from a family to a companion: `handed_over`, `cancelled`, or the refusal's code (`own_seat`, `already_handed_over`, … as [`HandOffRefusal::code`](crate::family::HandOffRefusal::code)) |
//! | `tower_otp_store_duration_seconds` | histogram | `op` | each store call, successful or not |
//! | `tower_otp_store_errors_total` | counter | `op` | store calls that failed |
//! | `tower_otp_store_in_flight` | gauge | | the flows' store calls in flight now (each flow holds at most [`Flow::with_store_concurrency`](crate::Flow::with_store_concurrency)) |
//! | `tower_otp_store_busy_total` | counter | `op` | store calls refused because the flow's bound of calls in flight was reached and no place freed up within 50 ms (the gate answered 503 with `Retry-After`) |
//! | `tower_otp_store_pool_size` | gauge | | SQL stores: connections open in the pool writes go through (PostgreSQL: the pool), as of the last call |
//! | `tower_otp_store_pool_idle` | gauge | | SQL stores: of those, connections idle, as of the last call: `0` with the size at its maximum means calls wait for a connection |
//! | `tower_otp_mail_duration_seconds` | histogram | `kind` | each mail handed to the mailer: `code` (a code: to verify a device, or to confirm a transfer), `notice` (a new device, a rebinding, a transfer), `link` (a seat handed over, a transfer offered) |
//! | `tower_otp_mail_errors_total` | counter | `kind` | mails the mailer refused |
//! | `tower_otp_outbox_depth` | gauge | | code mails waiting in this instance's outbox ([`Flow::with_outbox`](crate::Flow::with_outbox)) |
//! | `tower_otp_outbox_wait_seconds` | histogram | | from a code mail's enqueue to its leaving the outbox |
//! | `tower_otp_outbox_mails_total` | counter | `outcome` | what became of each queued code mail: `sent`, `superseded`, `expired`, `refused` (SMTP 5xx, code withdrawn), `failed` (refused for now on every try, code withdrawn), `full` (not queued) |
//!
//! `op` is the [`Store`](crate::store::Store) method (`load`,
//! `claim_first_device`, `issue_code`, `verify_code`, …); `action` is the
//! support action: `inspect`, `unbind`, `rebind`, `clear_lockout`, `forget`
//! (revocations have their own counter).
//!
//! ```
//! // With any recorder installed first, e.g. metrics-exporter-prometheus:
//! // let handle = PrometheusBuilder::new().install_recorder()?;
//! tower_otp::metrics::describe();
//! ```

mod mailer;
mod store;

pub(crate) use self::mailer::MeteredMailer;
pub(crate) use self::store::MeteredStore;

use std::time::Instant;

/// Names of the metrics, for dashboards and tests.
pub mod names {
    /// Counter: first devices trusted.
    pub const FIRST_DEVICE_CLAIMS: &str = "tower_otp_first_device_claims_total";
    /// Counter, label `budget`: unvouched first-device claims refused by a limit.
    pub const CLAIMS_THROTTLED: &str = "tower_otp_claims_throttled_total";
    /// Counter: codes handed to the mailer.
    pub const CODES_SENT: &str = "tower_otp_codes_sent_total";
    /// Counter, label `budget`: sends refused by a limit.
    pub const SENDS_THROTTLED: &str = "tower_otp_sends_throttled_total";
    /// Counter, label `attempt`: wrong entries by their place in the round.
    pub const WRONG_CODES: &str = "tower_otp_wrong_codes_total";
    /// Counter, label `outcome`: code entries.
    pub const VERIFICATIONS: &str = "tower_otp_verifications_total";
    /// Counter: tickets locked for new devices.
    pub const LOCKOUTS: &str = "tower_otp_lockouts_total";
    /// Counter: revocations of a ticket's devices.
    pub const DEVICES_REVOKED: &str = "tower_otp_devices_revoked_total";
    /// Counter, label `action`: operator actions on a ticket.
    pub const SUPPORT_ACTIONS: &str = "tower_otp_support_actions_total";
    /// Counter, label `outcome`: seat hand-offs and their cancellations.
    pub const HAND_OFFS: &str = "tower_otp_hand_offs_total";
    /// Counter, label `outcome`: the steps of transfers.
    pub const TRANSFERS: &str = "tower_otp_transfers_total";
    /// Histogram, label `op`: store call latency in seconds.
    pub const STORE_DURATION: &str = "tower_otp_store_duration_seconds";
    /// Counter, label `op`: failed store calls.
    pub const STORE_ERRORS: &str = "tower_otp_store_errors_total";
    /// Gauge: store calls in flight.
    pub const STORE_IN_FLIGHT: &str = "tower_otp_store_in_flight";
    /// Counter, label `op`: store calls refused, the bound of calls
    /// in flight being reached.
    pub const STORE_BUSY: &str = "tower_otp_store_busy_total";
    /// Gauge: SQL stores, connections open in the pool.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub const STORE_POOL_SIZE: &str = crate::store::sql::POOL_SIZE;
    /// Gauge: SQL stores, idle connections in the pool.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub const STORE_POOL_IDLE: &str = crate::store::sql::POOL_IDLE;
    /// Histogram, label `kind`: mailer latency in seconds.
    pub const MAIL_DURATION: &str = "tower_otp_mail_duration_seconds";
    /// Counter, label `kind`: mails the mailer refused.
    pub const MAIL_ERRORS: &str = "tower_otp_mail_errors_total";
    /// Gauge: code mails waiting in the outbox.
    pub const OUTBOX_DEPTH: &str = crate::mail::outbox::metrics::DEPTH;
    /// Histogram: seconds from enqueue to leaving the outbox.
    pub const OUTBOX_WAIT: &str = crate::mail::outbox::metrics::WAIT;
    /// Counter, label `outcome`: what became of each queued code mail.
    pub const OUTBOX_MAILS: &str = crate::mail::outbox::metrics::MAILS;
}

/// Registers a description and unit for every metric with the installed
/// recorder. Call it once, after installing the recorder; recording works
/// without it.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    crate::mail::outbox::metrics::describe();
    describe_counter!(names::FIRST_DEVICE_CLAIMS, "First devices trusted.");
    describe_counter!(
        names::CLAIMS_THROTTLED,
        "Unvouched first-device claims refused by a limit, by budget."
    );
    describe_counter!(names::CODES_SENT, "Codes handed to the mailer.");
    describe_counter!(
        names::SENDS_THROTTLED,
        "Sends refused by a limit, by budget."
    );
    describe_counter!(
        names::WRONG_CODES,
        "Wrong code entries, by their place in the ticket's round."
    );
    describe_counter!(names::VERIFICATIONS, "Code entries, by outcome.");
    describe_counter!(names::LOCKOUTS, "Tickets locked for new devices.");
    describe_counter!(names::DEVICES_REVOKED, "Revocations of a ticket's devices.");
    describe_counter!(names::SUPPORT_ACTIONS, "Operator actions on a ticket.");
    describe_counter!(names::TRANSFERS, "Steps of ticket transfers, by outcome.");
    describe_counter!(
        names::HAND_OFFS,
        "Seat hand-offs to companions and their cancellations, by outcome."
    );
    describe_histogram!(
        names::STORE_DURATION,
        Unit::Seconds,
        "Store call latency, by operation."
    );
    describe_counter!(names::STORE_ERRORS, "Failed store calls, by operation.");
    describe_gauge!(names::STORE_IN_FLIGHT, "Store calls in flight.");
    describe_counter!(
        names::STORE_BUSY,
        "Store calls refused because the bound of calls in flight was reached, by operation."
    );
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    {
        describe_gauge!(
            names::STORE_POOL_SIZE,
            "SQL stores: connections open in the pool."
        );
        describe_gauge!(
            names::STORE_POOL_IDLE,
            "SQL stores: idle connections in the pool."
        );
    }
    describe_histogram!(
        names::MAIL_DURATION,
        Unit::Seconds,
        "Mailer latency, by kind of mail."
    );
    describe_counter!(names::MAIL_ERRORS, "Mails the mailer refused, by kind.");
}

/// Adds one to the counter `name`.
pub(crate) fn increment(name: &'static str) {
    metrics::counter!(name).increment(1);
}

/// Adds one to the counter `name`, labelled `label = value`.
pub(crate) fn increment_with(name: &'static str, label: &'static str, value: &'static str) {
    metrics::counter!(name, label => value).increment(1);
}

/// One more store call in flight.
pub(crate) fn store_call_started() {
    metrics::gauge!(names::STORE_IN_FLIGHT).increment(1.0);
}

/// One store call fewer in flight.
pub(crate) fn store_call_ended() {
    metrics::gauge!(names::STORE_IN_FLIGHT).decrement(1.0);
}

/// Counts one store call of `op` refused (the bound was reached).
pub(crate) fn store_busy(op: &'static str) {
    metrics::counter!(names::STORE_BUSY, "op" => op).increment(1);
}

/// Counts one wrong entry by its place in the round (1 to 10; beyond, `10`).
pub(crate) fn wrong_code(attempt: u32) {
    const PLACES: [&str; 10] = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
    let place = PLACES[(attempt.clamp(1, 10) - 1) as usize];
    metrics::counter!(names::WRONG_CODES, "attempt" => place).increment(1);
}

/// Counts one code entry by its outcome.
pub(crate) fn verification(outcome: &'static str) {
    metrics::counter!(names::VERIFICATIONS, "outcome" => outcome).increment(1);
}

/// Times one call and records its latency (and its failure) under `label`.
pub(crate) async fn timed<T, E>(
    duration: &'static str,
    errors: &'static str,
    key: &'static str,
    label: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let start = Instant::now();
    let result = call.await;
    metrics::histogram!(duration, key => label).record(start.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!(errors, key => label).increment(1);
    }
    result
}
