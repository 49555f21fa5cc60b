//! Helpers for applications' own tests (feature `test-util`): a browser
//! that drives your router ([`TestBrowser`]), a clock moved by hand
//! ([`ManualClock`]), a mailer that keeps the codes ([`CapturingMailer`]),
//! and a store a test can count and take down ([`StoreTap`]). The store
//! conformance suite is in [`store::conformance`](crate::store::conformance).

mod browser;
mod jar;
mod tap;

pub use self::browser::{TestBrowser, TestResponse};
pub use self::tap::{StoreCall, StoreTap};
pub use crate::clock::ManualClock;
pub use crate::mail::capture::CapturingMailer;
