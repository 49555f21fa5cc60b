//! The outbox's numbers (feature `metrics`): how many mails wait, how
//! long they waited, and what became of them. [`crate::metrics`] lists
//! them with the others.
//!
//! | Name | Kind | Labels | What |
//! |---|---|---|---|
//! | `tower_otp_outbox_depth` | gauge | | code mails waiting in this instance's outbox |
//! | `tower_otp_outbox_wait_seconds` | histogram | | from enqueue to leaving the queue |
//! | `tower_otp_outbox_mails_total` | counter | `outcome` | `sent`, `superseded` (a newer code took its place, or it was no longer live), `expired` (expired while waiting), `refused` (SMTP 5xx, code withdrawn), `failed` (every try refused for now, code withdrawn), `full` (not queued: the outbox was at capacity) |

use std::time::Duration;

/// Gauge: code mails waiting in the outbox.
pub(crate) const DEPTH: &str = "tower_otp_outbox_depth";
/// Histogram: seconds from enqueue to leaving the queue.
pub(crate) const WAIT: &str = "tower_otp_outbox_wait_seconds";
/// Counter, label `outcome`: what became of each code mail.
pub(crate) const MAILS: &str = "tower_otp_outbox_mails_total";

/// Registers the outbox metrics' descriptions with the installed recorder.
pub(crate) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(DEPTH, "Code mails waiting in the outbox.");
    describe_histogram!(
        WAIT,
        Unit::Seconds,
        "Time from enqueue to leaving the outbox."
    );
    describe_counter!(MAILS, "Code mails by what became of them.");
}

/// Sets the queue depth.
pub(crate) fn depth(waiting: usize) {
    metrics::gauge!(DEPTH).set(waiting as f64);
}

/// Records one letter's wait in the queue.
pub(crate) fn waited(wait: Duration) {
    metrics::histogram!(WAIT).record(wait.as_secs_f64());
}

/// Counts one letter by what became of it.
pub(crate) fn outcome(outcome: &'static str) {
    metrics::counter!(MAILS, "outcome" => outcome).increment(1);
}
