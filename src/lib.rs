//! Device verification for ticket URLs, by e-mailed one-time password, as a
//! Tower layer.
//!
//! A *ticket* is anything a URL grants: an e-ticket, a booking, a download.
//! [`OtpLayer`] wraps any router (axum or a plain `tower::Service`). The first
//! browser that opens a ticket is trusted; any other browser gets a built-in
//! challenge page (Japanese, English, Simplified and Traditional Chinese,
//! Korean) that e-mails a 6-digit one-time password, valid 5 minutes. The
//! first verified address is bound to the
//! ticket for good, unless the application pre-bound its buyer's
//! ([`Flow::pre_bind`]; [`Flow::with_require_prebound`] refuses typed
//! addresses for the tickets it did not). Once verified, the browser holds a
//! signed device cookie for that ticket and passes without any store I/O.
//!
//! Reopening the link (in a mail app's in-app browser, a reload, another
//! browser) never invalidates a code that was sent: codes belong to the
//! ticket, not to the browser that asked.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_otp::{Flow, MemoryStore, OtpLayer, Secret, VerifiedDevice};
//! # use tower_otp::testing::CapturingMailer as SmtpMailer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = Secret::random(); // production: Secret::from_hex(&std::env::var("OTP_SECRET")?)?
//! let mailer = SmtpMailer::new(); // production: SmtpMailer::from_url("smtps://user:pass@smtp.example.com", "tickets@example.com")?
//! let flow = Flow::new(&secret, MemoryStore::new(), mailer).with_site_name("Example Tickets");
//!
//! let app: Router = Router::new()
//!     .route("/tickets/{ticket}", get(|device: VerifiedDevice| async move {
//!         format!("ticket {} on a verified device", device.ticket().as_str())
//!     }))
//!     .route_layer(OtpLayer::new(flow).with_ticket_param("ticket"))
//!     .route("/", get(|| async { "home: names no ticket, outside the group" }));
//! # Ok(()) }
//! ```
//!
//! Take [`VerifiedDevice`] in every protected handler: a handler that the
//! layer does not wrap then answers 500 instead of serving the ticket.
//!
//! # How it works
//!
//! For every request the layer sees, in order:
//!
//! 0. the layer cannot find its ticket where it was put (a route of a
//!    `with_ticket_param` group without that parameter, a layer wrapped
//!    around a router from outside) → 500 and an error log that names the
//!    fix, never the inner service; a layer never told where the ticket is
//!    does not compile;
//! 1. no ticket in the request → passed on untouched;
//! 2. a valid device cookie for this ticket → passed on, with a
//!    [`VerifiedDevice`] request extension (no store I/O);
//! 3. the ticket was never claimed nor bound → the first device: after a
//!    cookie round-trip (never on HEAD or prefetch), it is trusted and gets
//!    its device cookie ([`FirstDevice`] has a one-tap and a never-trust mode);
//! 4. otherwise the gate answers and the inner service never sees the
//!    request: a challenge page (401), or a gate action POSTed to the same
//!    URL (`send`, `resend`, `verify`, `restart`), answered with 303 to the
//!    same URL. `Accept: application/json` gives the same in JSON.
//!
//! The state of each ticket's challenge lives in a [`Store`](store::Store):
//! [`SqliteStore`] in one process (durable), `PostgresStore` or `RedisStore`
//! for several instances, [`MemoryStore`] for tests. The
//! rules (defaults in [`Limits`]): codes are 6 digits from a CSPRNG, stored
//! only as keyed hashes, the last 3 stay valid, 5 wrong entries per round
//! across all codes and browsers, new devices locked out for an hour after 20
//! consecutive failures, resend cooldowns of 60, 120 then 300 seconds, at most
//! 5 sends per ticket and 10 per address per hour.
//!
//! # Security
//!
//! tower-otp proves control of the mailbox bound to a ticket. E-mail is not
//! an authenticator in NIST SP 800-63B's sense: this is device verification
//! for a bearer URL, not multi-factor authentication. See `SECURITY.md` for
//! the deliberate differences from the usual OTP guidance.
//!
//! - Device cookies are HS256 JWTs (`typ: device+jwt`, pinned algorithm, key
//!   ring with rotation), `HttpOnly`, `Secure`, `SameSite=Lax`, scoped to the
//!   ticket's path, holding no personal data.
//! - Gate responses carry `Cache-Control: no-store`, a strict CSP with a
//!   per-response nonce, `Referrer-Policy: no-referrer`, `nosniff`.
//! - Forms carry a CSRF token tied to the browser; cross-site POSTs are
//!   refused (Fetch Metadata, then `Origin`).
//! - Logs never hold a code, a token, a raw ticket id or a full address.
//! - The gate fails closed: when the store or the mailer fails, unverified
//!   browsers get a 503/502 page, while verified browsers keep passing.
//!
//! # Deployment
//!
//! Every instance needs the same [`Secret`] (store keys, code hashes and the
//! default device key derive from it). Serve over HTTPS: device cookies are
//! `Secure` unless [`OtpLayer::with_cookie_secure`] turns that off for local
//! development. Several instances need a shared store.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | yes | [`VerifiedDevice`] as an extractor, [`PathParam`] |
//! | `smtp` | yes | [`SmtpMailer`] (lettre, tokio, rustls) |
//! | `sqlite` | yes | `SqliteStore`: durable state in one SQLite file (the embedded default) |
//! | `postgres` | no | `PostgresStore`: durable state in PostgreSQL, shared by several instances |
//! | `redis` | no | `RedisStore` for Redis and Redis Cluster |
//! | `metrics` | yes | counters and latencies through the `metrics` facade ([`metrics`] lists them) |
//! | `test-util` | no | [`testing`]: `ManualClock`, `CapturingMailer`, `TestBrowser` (drives a layer as a browser would, cookies and all), `StoreTap`; the store conformance suite |

#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod client_address;
mod clock;
mod code;
mod config;
mod decision;
pub mod device;
mod email;
mod error;
mod events;
mod extract;
pub mod family;
pub mod flow;
mod future;
mod gate;
mod layer;
mod locale;
pub mod mail;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod pages;
mod pass;
mod proto;
mod public_origin;
mod revocation;
mod secret;
#[cfg(feature = "serve")]
pub mod serve;
mod service;
mod slot;
pub mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod ticket;
pub mod transfer;

// Thin wrappers over private parsers for the targets in `fuzz/` (`cargo fuzz`
// sets `--cfg fuzzing`); not public API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz;

pub use async_trait::async_trait;

// The middleware's face: what an application names.
pub use self::body::GateBody;
pub use self::client_address::ClientAddress;
pub use self::decision::FirstDevice;
#[cfg(feature = "axum")]
pub use self::extract::MissingVerifiedDevice;
pub use self::extract::VerifiedDevice;
pub use self::future::ResponseFuture;
pub use self::layer::OtpLayer;
pub use self::revocation::Revocation;
pub use self::service::OtpService;
pub use self::ticket::id::{TicketId, TicketKey};
#[cfg(feature = "axum")]
pub use self::ticket::source::PathParam;
pub use self::ticket::source::{PathPattern, TicketSource};

// The flow and what its methods take and return.
pub use self::email::{AddressError, EmailAddress};
pub use self::events::{EventHook, OtpEvent};
pub use self::flow::{Flow, Limits};
pub use self::locale::Locale;

// Keys, time and errors.
pub use self::clock::{Clock, SystemClock, Timestamp};
pub use self::device::claims::DeviceId;
pub use self::device::keyring::{DeviceKey, KeyRing};
pub use self::error::{BoxError, ConfigError};
pub use self::secret::{KeyError, Secret};

// The stores and mailers an application picks from; the rest of each lives
// in `store` and `mail`.
#[cfg(feature = "smtp")]
pub use self::mail::smtp::SmtpMailer;
pub use self::store::memory::MemoryStore;
#[cfg(feature = "redis")]
pub use self::store::redis::RedisStore;
#[cfg(feature = "postgres")]
pub use self::store::sql::PostgresStore;
#[cfg(feature = "sqlite")]
pub use self::store::sql::{SqliteDurability, SqliteStore};

// Crates in the public API.
pub use cookie;
#[cfg(feature = "redis")]
pub use redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sqlx;
