//! One-time codes: generation, input normalisation, keyed hashing.

use std::fmt;

use rand::Rng;
use subtle::ConstantTimeEq;

use crate::secret::HmacKey;
use crate::ticket::TicketKey;

/// The shortest code allowed (NIST SP 800-63B: at least 6 digits).
pub(crate) const MIN_CODE_DIGITS: u8 = 6;
/// The longest code allowed.
pub(crate) const MAX_CODE_DIGITS: u8 = 12;

/// A one-time code in clear: only ever handed to a [`Mailer`](crate::mail::Mailer).
///
/// `Debug` never shows the digits, and there is no `PartialEq`: codes are
/// compared only as keyed hashes, in constant time.
///
/// ```
/// use tower_otp::mail::Code;
///
/// let code = Code::generate(6);
/// assert_eq!(code.as_str().len(), 6);
/// assert_eq!(format!("{code:?}"), "Code(REDACTED)");
/// ```
#[derive(Clone)]
pub struct Code(String);

impl Code {
    /// A fresh code of `digits` decimal digits (clamped to 6..=12) from the
    /// thread-local CSPRNG, each digit uniform, leading zeros kept.
    pub fn generate(digits: u8) -> Self {
        let digits = digits.clamp(MIN_CODE_DIGITS, MAX_CODE_DIGITS);
        let mut rng = rand::rng();
        // `random_range` samples without modulo bias.
        let code = (0..digits)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
        Self(code)
    }

    /// The digits, for the e-mail body.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Normalises what a person typed: spaces (including the ideographic space)
    /// and hyphens are dropped, full-width digits `０`-`９` become `0`-`9`.
    ///
    /// # Errors
    /// [`CodeFormatError`] if anything else remains or the length is not `digits`.
    ///
    /// ```
    /// use tower_otp::mail::Code;
    ///
    /// assert_eq!(Code::normalize("１２３ ４５-６", 6).unwrap().as_str(), "123456");
    /// assert!(Code::normalize("12345a", 6).is_err());
    /// ```
    pub fn normalize(input: &str, digits: u8) -> Result<Self, CodeFormatError> {
        if input.len() > 64 {
            return Err(CodeFormatError {
                expected_digits: digits,
            });
        }
        let mut out = String::with_capacity(usize::from(digits));
        for c in input.chars() {
            match c {
                ' '
                | '\u{3000}'
                | '-'
                | '\u{2010}'..='\u{2015}'
                | '\u{2212}'
                | '\u{30FC}'
                | '\u{FF0D}'
                | '\t' => {}
                '0'..='9' => out.push(c),
                '\u{FF10}'..='\u{FF19}' => {
                    out.push(char::from(b'0' + (u32::from(c) - 0xFF10) as u8));
                }
                _ => {
                    return Err(CodeFormatError {
                        expected_digits: digits,
                    });
                }
            }
        }
        if out.len() != usize::from(digits) {
            return Err(CodeFormatError {
                expected_digits: digits,
            });
        }
        Ok(Self(out))
    }

    /// The keyed hash stored in place of the code: HMAC-SHA256 over the ticket
    /// key and the digits, under the code key derived from the secret.
    pub(crate) fn hash(&self, key: &HmacKey, ticket: &TicketKey) -> CodeHash {
        CodeHash(key.sign(&[ticket.as_bytes(), self.0.as_bytes()]))
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(REDACTED)")
    }
}

/// What a person typed was not a code: wrong length or a character that is
/// neither a digit, a space nor a hyphen. Counts as nothing against the
/// attempt budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a code is {expected_digits} digits")]
pub struct CodeFormatError {
    /// How many digits a code has.
    pub expected_digits: u8,
}

/// The stored form of a code: a 32-byte keyed hash. Compares in constant time.
#[derive(Clone, Copy)]
pub struct CodeHash([u8; 32]);

impl CodeHash {
    /// A code hash from its bytes (for stores).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &CodeHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Secret, TicketId};

    #[test]
    fn generated_codes_are_digits_of_the_requested_length() {
        for digits in [0u8, 6, 8, 12, 40] {
            let want = usize::from(digits.clamp(MIN_CODE_DIGITS, MAX_CODE_DIGITS));
            for _ in 0..1000 {
                let c = Code::generate(digits);
                assert_eq!(c.as_str().len(), want);
                assert!(c.as_str().bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }

    /// Chi-square over 10^6 codes, per digit position: 9 degrees of freedom,
    /// p < 1e-6 is a statistic above 45.4 (checklist 1.1).
    #[test]
    fn digits_are_uniform_in_every_position() {
        let mut counts = [[0u64; 10]; 6];
        for _ in 0..1_000_000 {
            let c = Code::generate(6);
            for (pos, b) in c.as_str().bytes().enumerate() {
                counts[pos][usize::from(b - b'0')] += 1;
            }
        }
        for (pos, row) in counts.iter().enumerate() {
            let expected = 100_000.0;
            let chi2: f64 = row
                .iter()
                .map(|&n| (n as f64 - expected).powi(2) / expected)
                .sum();
            assert!(chi2 < 45.4, "position {pos}: chi2 = {chi2}, counts {row:?}");
        }
        // Leading zeros are kept: about a tenth of the codes start with 0.
        let leading_zero = counts[0][0] as f64 / 1_000_000.0;
        assert!((0.09..0.11).contains(&leading_zero));
    }

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("123456", Some("123456")),
            (" 123 456 ", Some("123456")),
            ("123-456", Some("123456")),
            ("１２３４５６", Some("123456")),
            ("１２３\u{3000}４５６", Some("123456")),
            ("012345", Some("012345")),
            ("12345", None),
            ("1234567", None),
            ("12345a", None),
            ("123456\n", None),
            ("١٢٣٤٥٦", None), // Arabic-Indic digits are not accepted
            ("", None),
            (&"1".repeat(100), None),
        ];
        for (input, want) in cases {
            let got = Code::normalize(input, 6).ok();
            assert_eq!(got.as_ref().map(Code::as_str), *want, "{input:?}");
        }
    }

    #[test]
    fn hash_is_keyed_by_ticket_and_compares_in_constant_time() {
        let secret = Secret::random();
        let key = HmacKey::new(&secret.derive("code"));
        let tkey = HmacKey::new(&secret.derive("ticket"));
        let a = TicketKey::derive(&tkey, &TicketId::new("a"));
        let b = TicketKey::derive(&tkey, &TicketId::new("b"));
        let code = Code::normalize("123456", 6).unwrap();
        assert!(code.hash(&key, &a).ct_eq(&code.hash(&key, &a)));
        assert!(!code.hash(&key, &a).ct_eq(&code.hash(&key, &b)));
        let other = Code::normalize("123457", 6).unwrap();
        assert!(!code.hash(&key, &a).ct_eq(&other.hash(&key, &a)));
        assert_eq!(format!("{:?}", code.hash(&key, &a)), "CodeHash(..)");
    }
}
