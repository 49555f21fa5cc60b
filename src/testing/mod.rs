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

use crate::device::DeviceClaims;
use crate::extract::VerifiedDevice;
use crate::flow::Flow;
use crate::ticket::TicketId;

/// A device verified on `ticket` now, as the layer hands it to a handler
/// behind it (`VerifiedDevice` extractor): for tests of handlers that act
/// for a ticket's holder, such as [`Flow::hand_off`]. It is not a cookie:
/// nothing in the store changes.
///
/// ```
/// use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, Secret, TicketId};
///
/// let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
/// let device = tower_otp::testing::verified_device(&flow, &TicketId::new("A7x9Qz"));
/// assert_eq!(device.ticket_key(), &flow.ticket_key(&TicketId::new("A7x9Qz")));
/// ```
pub fn verified_device(flow: &Flow, ticket: &TicketId) -> VerifiedDevice {
    let now = flow.now();
    let claims = DeviceClaims {
        device_id: crate::DeviceId::from_bytes(rand::random()),
        issued_at: now,
        expires_at: now + std::time::Duration::from_secs(3600),
        generation: 0,
    };
    VerifiedDevice::new(ticket.clone(), flow.ticket_key(ticket), claims)
}
