//! Device verification for ticket URLs, by e-mailed one-time password, as a
//! Tower layer.
//!
//! A *ticket* is anything a URL grants: an e-ticket, a booking, a download.
//! [`OtpLayer`] wraps any router (axum or a plain `tower::Service`). The first
//! browser that opens a ticket is trusted; any other browser gets a built-in
//! challenge page (Japanese and English) that e-mails a 6-digit one-time
//! password, valid 5 minutes. The first verified address is bound to the
//! ticket for good. Once verified, the browser holds a signed device cookie
//! for that ticket and passes without any store I/O.
//!
//! Reopening the link (in a mail app's in-app browser, a reload, another
//! browser) never invalidates a code that was sent: codes belong to the
//! ticket, not to the browser that asked.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_otp::{MemoryStore, OtpLayer, Secret, VerifiedDevice};
//! # use tower_otp::CapturingMailer as SmtpMailer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = Secret::random(); // production: Secret::from_hex(&std::env::var("OTP_SECRET")?)?
//! let mailer = SmtpMailer::new(); // production: SmtpMailer::from_url("smtps://user:pass@smtp.example.com", "tickets@example.com")?
//! let otp = OtpLayer::new(&secret, MemoryStore::new(), mailer).with_site_name("Example Tickets");
//!
//! let app: Router = Router::new()
//!     .route("/tickets/{ticket}", get(|device: VerifiedDevice| async move {
//!         format!("ticket {} on a verified device", device.ticket().as_str())
//!     }))
//!     .route_layer(otp.with_ticket_param("ticket"));
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! For every request the layer sees, in order:
//!
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
//! The state of each ticket's challenge lives in a [`Store`]
//! ([`MemoryStore`] in one process; `RedisStore` for several instances). The
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
//! | `redis` | no | `RedisStore` for Redis and Redis Cluster |
//! | `test-util` | no | [`ManualClock`], [`CapturingMailer`], the store conformance suite |

#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod clock;
mod code;
mod config;
mod decision;
mod device;
mod events;
mod flow;
mod gate;
mod layer;
mod locale;
pub mod mail;
pub mod pages;
mod secret;
mod service;
pub mod store;
mod ticket;
mod verified;
mod web;

pub use async_trait::async_trait;

pub use self::body::ResponseBody;
#[cfg(any(test, feature = "test-util"))]
pub use self::clock::ManualClock;
pub use self::clock::{Clock, SystemClock, Timestamp};
pub use self::code::{Code, CodeFormatError, CodeHash, MAX_CODE_DIGITS, MIN_CODE_DIGITS};
pub use self::decision::FirstDevice;
pub use self::device::{
    CookieName, DeviceClaims, DeviceConfigError, DeviceCookie, DeviceId, DeviceKey, DeviceTokens,
    IssuedToken, KeyRing, MAX_DEVICE_LIFETIME, MAX_LEEWAY, TokenError,
};
pub use self::events::{EventHook, OtpEvent};
pub use self::flow::{
    Challenge, ChallengeState, ConfigError, Flow, Limits, Rejection, SendRequest, Sent, Verified,
};
pub use self::layer::OtpLayer;
pub use self::locale::Locale;
#[cfg(any(test, feature = "test-util"))]
pub use self::mail::CapturingMailer;
pub use self::mail::{AddressError, EmailAddress, MailError, MailKind, Mailer, OtpMail};
pub use self::mail::{FileMailer, RenderedMail};
#[cfg(feature = "smtp")]
pub use self::mail::{SmtpConfigError, SmtpMailer, SmtpMailerBuilder};
pub use self::pages::{
    BrandingError, DefaultPages, MAX_LOGO_URL_BYTES, Notice, PageContext, PageKind, Pages,
    RequestProblem, Texts,
};
pub use self::secret::{KeyError, MIN_KEY_BYTES, Secret};
pub use self::service::{OtpService, ResponseFuture};
#[cfg(feature = "postgres")]
pub use self::store::PostgresStore;
#[cfg(feature = "redis")]
pub use self::store::RedisStore;
#[cfg(feature = "sqlite")]
pub use self::store::SqliteStore;
pub use self::store::{MemoryStore, Store, StoreError};
#[cfg(feature = "axum")]
pub use self::ticket::PathParam;
pub use self::ticket::{Found, PathPattern, TicketId, TicketKey, TicketMatch, TicketSource};
pub use self::verified::VerifiedDevice;
pub use cookie;
#[cfg(feature = "redis")]
pub use redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sqlx;
