//! Device verification for ticket URLs, by e-mailed one-time password, as a
//! Tower layer.
//!
//! (Crate documentation is written with the layer; see the README.)

#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod code;
mod device;
mod locale;
pub mod mail;
mod secret;
pub mod store;
mod ticket;

#[cfg(any(test, feature = "test-util"))]
pub use self::clock::ManualClock;
pub use self::clock::{Clock, SystemClock, Timestamp};
pub use self::code::{Code, CodeFormatError, CodeHash, MAX_CODE_DIGITS, MIN_CODE_DIGITS};
pub use self::device::{
    CookieName, DeviceClaims, DeviceConfigError, DeviceCookie, DeviceId, DeviceKey, DeviceTokens,
    IssuedToken, KeyRing, MAX_DEVICE_LIFETIME, MAX_LEEWAY, TokenError,
};
pub use self::locale::Locale;
pub use self::mail::{AddressError, EmailAddress, MailError, MailKind, Mailer, OtpMail};
pub use self::secret::{KeyError, MIN_KEY_BYTES, Secret};
pub use self::store::{MemoryStore, Store, StoreError};
pub use self::ticket::{TicketId, TicketKey};
pub use cookie;
