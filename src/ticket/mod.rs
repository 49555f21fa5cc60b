//! Where a request names its ticket: the types a custom
//! [`TicketSource`] returns. Applications pick a source
//! with [`OtpLayer::with_ticket_param`](crate::OtpLayer::with_ticket_param),
//! [`with_ticket_path`](crate::OtpLayer::with_ticket_path) or
//! [`with_ticket_source`](crate::OtpLayer::with_ticket_source).

mod cache;
pub(crate) mod id;
#[cfg(feature = "axum")]
mod param;
pub(crate) mod source;

pub(crate) use self::cache::TicketKeyer;
pub(crate) use self::id::{TicketId, TicketKey};
#[cfg(feature = "axum")]
pub(crate) use self::source::PathParam;
pub use self::source::{Found, NoTicketSource, TicketMatch};
pub(crate) use self::source::{PathPattern, TicketSource};
