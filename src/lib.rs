//! Device verification for ticket URLs, by e-mailed one-time password, as a
//! Tower layer.
//!
//! (Crate documentation is written with the layer; see the README.)

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
#[cfg(feature = "redis")]
pub use self::store::RedisStore;
pub use self::store::{MemoryStore, Store, StoreError};
#[cfg(feature = "axum")]
pub use self::ticket::PathParam;
pub use self::ticket::{Found, PathPattern, TicketId, TicketKey, TicketMatch, TicketSource};
pub use self::verified::VerifiedDevice;
pub use cookie;
#[cfg(feature = "redis")]
pub use redis;
