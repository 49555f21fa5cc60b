//! E-mail addresses: validation before lettre sees them, canonical form, masking.

use std::fmt;

/// The longest address accepted, in bytes (RFC 5321 path limit).
pub const MAX_ADDRESS_BYTES: usize = 254;

/// A validated, canonical, bare e-mail address (`local@domain`, domain
/// lower-cased). Never a display name.
///
/// `Debug` masks the address; use [`EmailAddress::as_str`] where the full
/// address is needed (the `To` header) and [`EmailAddress::masked`] anywhere
/// it is shown or logged.
///
/// ```
/// use tower_otp::EmailAddress;
///
/// let a = EmailAddress::parse("  Taro@Example.COM ")?;
/// assert_eq!(a.as_str(), "Taro@example.com");
/// assert_eq!(a.masked(), "T***@e******.com");
/// assert!(EmailAddress::parse("a@b.c\r\nBcc: x@y.z").is_err());
/// # Ok::<(), tower_otp::AddressError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Nothing was entered.
    #[error("no address was entered")]
    Empty,
    /// Longer than 254 bytes.
    #[error("the address is longer than {MAX_ADDRESS_BYTES} bytes")]
    TooLong,
    /// A control character (CR, LF, NUL, ...).
    #[error("the address contains a control character")]
    ControlCharacter,
    /// Not a bare `local@domain` address (display names, quotes, brackets, spaces).
    #[error("not a valid e-mail address")]
    Invalid,
}

impl EmailAddress {
    /// Validates and canonicalises what a person typed.
    ///
    /// # Errors
    /// An [`AddressError`] saying what is wrong.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\u{3000}');
        if trimmed.is_empty() {
            return Err(AddressError::Empty);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(AddressError::ControlCharacter);
        }
        if trimmed.len() > MAX_ADDRESS_BYTES {
            return Err(AddressError::TooLong);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(AddressError::Invalid)?;
        let bad = |c: char| c.is_whitespace() || "<>\"(),:;[]\\@".contains(c);
        if local.is_empty() || local.len() > 64 || local.contains(bad) {
            return Err(AddressError::Invalid);
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(AddressError::Invalid);
        }
        let domain = domain.to_ascii_lowercase();
        if domain.is_empty()
            || !domain.contains('.')
            || domain.split('.').any(|label| {
                label.is_empty()
                    || label.len() > 63
                    || label.starts_with('-')
                    || label.ends_with('-')
                    || !label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
            })
        {
            return Err(AddressError::Invalid);
        }
        let address = format!("{local}@{domain}");
        if address.parse::<lettre::Address>().is_err() {
            return Err(AddressError::Invalid);
        }
        Ok(Self(address))
    }

    /// The canonical address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with most characters hidden: `t***@e******.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
        let mut out = String::with_capacity(self.0.len() + 4);
        out.extend(local.chars().next());
        out.push_str("***@");
        let mut host_chars = host.chars();
        out.extend(host_chars.next());
        out.extend(host_chars.map(|_| '*'));
        if !tld.is_empty() {
            out.push('.');
            out.push_str(tld);
        }
        out
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}
