//! E-mail addresses: validation before lettre sees them, canonical form, masking.
//!
//! The rules follow the security checklist (5.3, 6.4): trim, refuse control
//! and invisible characters, ≤ 254 bytes, a bare `local@domain` (no display
//! name, no quoted local part, no IP or domain literal), the domain mapped
//! through IDNA (UTS #46, strict) to lower-case ASCII, and a final check by
//! `lettre::Address`. The canonical form is what tower-otp compares and binds.

use std::fmt;
use std::net::IpAddr;

/// The longest address accepted, in bytes ([`EmailAddress::MAX_BYTES`]).
const MAX_ADDRESS_BYTES: usize = 254;

/// The longest local part accepted, in bytes (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_BYTES: usize = 64;

/// A validated, canonical, bare e-mail address (`local@domain`). Never a
/// display name.
///
/// The canonical form keeps the local part as typed (it may be
/// case-sensitive) and writes the domain in lower-case ASCII, international
/// domains in punycode. Two addresses are equal when their canonical forms
/// are; no provider-specific rewriting (dots, `+tags`) is done.
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
/// assert_eq!(a.masked(), "T***@e***.com");
/// assert_eq!(EmailAddress::parse("user@bücher.de")?.as_str(), "user@xn--bcher-kva.de");
/// assert!(EmailAddress::parse("a@b.c\r\nBcc: x@y.z").is_err());
/// assert!(EmailAddress::parse("\"Evil\" <a@b.c>").is_err());
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
    /// A control or invisible character (CR, LF, NUL, line separator,
    /// zero-width or bidi formatting characters, ...).
    #[error("the address contains a control character")]
    ControlCharacter,
    /// Not a bare `local@domain` address (display names, quotes, brackets,
    /// spaces, IP literals, a domain without a dot, ...).
    #[error("not a valid e-mail address")]
    Invalid,
}

impl EmailAddress {
    /// The longest address accepted, in bytes (RFC 5321 path limit), before
    /// and after the domain is converted to punycode.
    ///
    /// ```
    /// use tower_otp::EmailAddress;
    ///
    /// let long = format!("{}@example.com", "a".repeat(EmailAddress::MAX_BYTES));
    /// assert!(EmailAddress::parse(&long).is_err());
    /// ```
    pub const MAX_BYTES: usize = MAX_ADDRESS_BYTES;

    /// Validates and canonicalises what a person typed.
    ///
    /// Full-width ASCII (`ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ`, typed with a Japanese
    /// IME) is read as ASCII first; every rule then applies to the result.
    /// The local part must be ASCII (a dot-atom): international local parts
    /// need SMTPUTF8 all the way and have no single canonical form. Parsing a
    /// canonical address again gives the same address.
    ///
    /// # Errors
    /// An [`AddressError`] saying what is wrong.
    ///
    /// ```
    /// use tower_otp::{AddressError, EmailAddress};
    ///
    /// assert_eq!(EmailAddress::parse("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ")?.as_str(), "taro@example.com");
    /// assert_eq!(EmailAddress::parse("a@[127.0.0.1]"), Err(AddressError::Invalid));
    /// assert_eq!(EmailAddress::parse("a\0@b.c"), Err(AddressError::ControlCharacter));
    /// # Ok::<(), AddressError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        // Bound the work before any allocation or Unicode processing.
        if input.len() > 4 * MAX_ADDRESS_BYTES {
            return Err(AddressError::TooLong);
        }
        let trimmed = input.trim_matches([' ', '\t', '\u{3000}', '\u{a0}']);
        if trimmed.is_empty() {
            return Err(AddressError::Empty);
        }
        if trimmed.chars().any(is_control_or_invisible) {
            return Err(AddressError::ControlCharacter);
        }
        let typed: String = trimmed.chars().map(fold_full_width).collect();
        if typed.len() > MAX_ADDRESS_BYTES {
            return Err(AddressError::TooLong);
        }
        let (local, domain) = typed.split_once('@').ok_or(AddressError::Invalid)?;
        if !is_dot_atom(local) || local.len() > MAX_LOCAL_BYTES {
            return Err(AddressError::Invalid);
        }
        let domain = canonical_domain(domain)?;
        let address = format!("{local}@{domain}");
        if address.len() > MAX_ADDRESS_BYTES {
            return Err(AddressError::TooLong);
        }
        if address.parse::<lettre::Address>().is_err() {
            return Err(AddressError::Invalid);
        }
        Ok(Self(address))
    }

    /// The canonical address.
    ///
    /// ```
    /// # use tower_otp::EmailAddress;
    /// assert_eq!(EmailAddress::parse("A.B@EXAMPLE.jp")?.as_str(), "A.B@example.jp");
    /// # Ok::<(), tower_otp::AddressError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with most characters hidden, to show on pages and in
    /// logs, always in the same shape: the first character of the local
    /// part, `***@`, the first character of the domain, `***.`, then the
    /// last label of the domain (`t***@e***.com`). Enough for the owner to
    /// recognise their address; no length of the local part or the domain
    /// shows, nor how many labels the domain has.
    ///
    /// ```
    /// # use tower_otp::EmailAddress;
    /// assert_eq!(EmailAddress::parse("taro.yamada@example.com")?.masked(), "t***@e***.com");
    /// assert_eq!(EmailAddress::parse("t@ex.com")?.masked(), "t***@e***.com");
    /// assert_eq!(EmailAddress::parse("a@mail.example.co.jp")?.masked(), "a***@m***.jp");
    /// # Ok::<(), tower_otp::AddressError>(())
    /// ```
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        // A canonical domain always has a dot: the last label is never empty.
        let tld = domain.rsplit_once('.').map_or("", |(_, tld)| tld);
        let mut out = String::with_capacity(10 + tld.len());
        out.extend(local.chars().next());
        out.push_str("***@");
        out.extend(domain.chars().next());
        out.push_str("***.");
        out.push_str(tld);
        out
    }
}

impl EmailAddress {
    /// The domain (lower-case ASCII, punycode for international domains).
    ///
    /// ```
    /// # use tower_otp::EmailAddress;
    /// assert_eq!(EmailAddress::parse("Taro@Example.COM")?.domain(), "example.com");
    /// # Ok::<(), tower_otp::AddressError>(())
    /// ```
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// The mailbox this address reaches however it is spelled: what send
    /// limits count by. Mail still goes to the address as typed.
    ///
    /// - the local part is lower-cased (RFC 5321 lets it be case-sensitive,
    ///   but no mainstream provider is; two people whose addresses differ
    ///   only by case would at worst share a send limit);
    /// - a `+tag` is dropped (`taro+x@` → `taro@`): every major provider
    ///   delivers subaddresses to the base mailbox. `-` is not treated as a
    ///   separator: where it is one, it is a per-site setting, and
    ///   `john-smith@` is a mailbox of its own far more often;
    /// - at `gmail.com` and `googlemail.com` (one mailbox at either), dots
    ///   in the local part are dropped and the domain is `gmail.com`: Gmail
    ///   documents that it ignores them, so `t.a.r.o@gmail.com` has 2ⁿ
    ///   spellings of one inbox. Other domains (Google Workspace included)
    ///   cannot be known to ignore dots; what their spellings reach is bounded
    ///   by the per-domain budget instead.
    ///
    /// ```
    /// # use tower_otp::EmailAddress;
    /// let mailbox = |a: &str| EmailAddress::parse(a).unwrap().mailbox();
    /// assert_eq!(mailbox("Taro+Tickets@Example.com"), "taro@example.com");
    /// assert_eq!(mailbox("T.A.R.O+x@GoogleMail.com"), "taro@gmail.com");
    /// assert_eq!(mailbox("t.aro@example.com"), "t.aro@example.com");
    /// assert_eq!(mailbox("john-smith@example.com"), "john-smith@example.com");
    /// ```
    pub fn mailbox(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let base = local.split_once('+').map_or(local, |(base, _)| base);
        // `+x@` has an empty base: the whole local part is then the mailbox.
        let base = if base.is_empty() { local } else { base };
        let mut out = String::with_capacity(self.0.len());
        let gmail = matches!(domain, "gmail.com" | "googlemail.com");
        out.extend(
            base.chars()
                .filter(|c| !(gmail && *c == '.'))
                .map(|c| c.to_ascii_lowercase()),
        );
        out.push('@');
        out.push_str(if gmail { "gmail.com" } else { domain });
        out
    }

    /// Whether [`mailbox`](Self::mailbox) folds every spelling of a mailbox
    /// at this provider into one: true for the large providers whose
    /// aliasing rules are published and have no second separator (Gmail's
    /// dots and `+` tags, the `+` tags of Outlook and iCloud, and the
    /// Japanese carriers' mail, which has no aliases). Sends to these need
    /// no per-domain budget: the per-mailbox one already bounds each inbox,
    /// and a domain budget there would let strangers stop a whole provider's
    /// codes. Any other domain (catch-all domains, `-` tags as at Yahoo) may
    /// spell one inbox many ways, and keeps its per-domain budget.
    pub(crate) fn spellings_known(&self) -> bool {
        matches!(
            self.mailbox_domain(),
            "gmail.com"
                | "outlook.com"
                | "outlook.jp"
                | "hotmail.com"
                | "hotmail.co.jp"
                | "live.com"
                | "live.jp"
                | "msn.com"
                | "icloud.com"
                | "docomo.ne.jp"
                | "ezweb.ne.jp"
                | "au.com"
                | "softbank.ne.jp"
                | "i.softbank.jp"
        )
    }

    /// The domain send limits count by: [`domain`](Self::domain), with
    /// `googlemail.com` read as `gmail.com`.
    ///
    /// ```
    /// # use tower_otp::EmailAddress;
    /// assert_eq!(EmailAddress::parse("a@googlemail.com")?.mailbox_domain(), "gmail.com");
    /// # Ok::<(), tower_otp::AddressError>(())
    /// ```
    pub fn mailbox_domain(&self) -> &str {
        match self.domain() {
            "googlemail.com" => "gmail.com",
            domain => domain,
        }
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

/// Characters never accepted anywhere in an address: C0/C1 controls
/// (CR, LF, NUL, DEL, NEL ...), line and paragraph separators, and invisible
/// formatting characters that could hide what an address really is.
fn is_control_or_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'                  // soft hyphen
            | '\u{034f}'                // combining grapheme joiner
            | '\u{061c}'                // Arabic letter mark
            | '\u{115f}' | '\u{1160}'   // Hangul fillers
            | '\u{180e}'                // Mongolian vowel separator
            | '\u{200b}'..='\u{200f}'   // zero-width characters, LRM, RLM
            | '\u{2028}'..='\u{202e}'   // line/paragraph separators, bidi embeddings
            | '\u{2060}'..='\u{206f}'   // word joiner, invisible operators, bidi isolates
            | '\u{3164}' | '\u{ffa0}'   // Hangul fillers
            | '\u{fe00}'..='\u{fe0f}'   // variation selectors
            | '\u{feff}'                // byte order mark
            | '\u{fff9}'..='\u{fffb}'   // interlinear annotations
        )
}

/// Full-width ASCII (U+FF01..U+FF5E) to ASCII.
fn fold_full_width(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c),
        _ => c,
    }
}

/// RFC 5322 dot-atom of ASCII `atext`: no quotes, no spaces, no empty atoms.
/// `=?` is refused too, so no part of a header can read as an RFC 2047
/// encoded word to a lenient mail client.
fn is_dot_atom(local: &str) -> bool {
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    !local.is_empty()
        && !local.contains("=?")
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.bytes().all(atext))
}

/// The domain in lower-case ASCII (punycode for international labels),
/// refusing literals, IP addresses, single labels and numeric top-level labels.
fn canonical_domain(domain: &str) -> Result<String, AddressError> {
    if domain.starts_with('[') || domain.parse::<IpAddr>().is_ok() {
        return Err(AddressError::Invalid);
    }
    // Strict UTS #46: lower-cases and maps, checks bidi and joiner rules,
    // LDH only (STD3), hyphen placement, DNS lengths (label ≤ 63, name ≤ 253).
    let ascii = idna::domain_to_ascii_strict(domain).map_err(|_| AddressError::Invalid)?;
    let mut labels = ascii.split('.');
    let top = labels.next_back().unwrap_or_default();
    if labels.next().is_none() || ascii.split('.').any(str::is_empty) {
        return Err(AddressError::Invalid);
    }
    if top.bytes().all(|b| b.is_ascii_digit()) || ascii.parse::<IpAddr>().is_ok() {
        return Err(AddressError::Invalid);
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Locale;
    use crate::mail::message::build_message;
    use crate::mail::{Code, MailKind, OtpMail};
    use proptest::prelude::*;

    #[test]
    fn hostile_inputs_are_refused() {
        use AddressError::*;
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("{}@{}.com", "a".repeat(60), "b".repeat(240));
        let long_300 = "a".repeat(300);
        let long_label = format!("a@{}.com", "b".repeat(64));
        let cases: &[(&str, &str, AddressError)] = &[
            ("header injection", "a@b.c\r\nBcc: x@y.z", ControlCharacter),
            ("bare LF", "a@b.c\nBcc: x@y.z", ControlCharacter),
            ("trailing CRLF", "a@b.co\r\n", ControlCharacter),
            ("display name", "\"Evil\" <a@b.c>", Invalid),
            ("display name, unquoted", "Evil <a@b.co>", Invalid),
            ("angle brackets only", "<a@b.co>", Invalid),
            (
                "quoted local part with CRLF",
                "\"a\r\nb\"@x.com",
                ControlCharacter,
            ),
            ("quoted local part", "\"a b\"@x.com", Invalid),
            ("quoted local part, no space", "\"ab\"@x.com", Invalid),
            ("IPv4 literal", "a@[127.0.0.1]", Invalid),
            ("IPv6 literal", "a@[IPv6:::1]", Invalid),
            ("bare IPv4", "a@127.0.0.1", Invalid),
            ("numeric top-level label", "a@example.123", Invalid),
            ("300 characters", &long_300, TooLong),
            ("300 characters with @", &long_total, TooLong),
            ("local part over 64", &long_local, Invalid),
            ("domain label over 63", &long_label, Invalid),
            ("empty", "", Empty),
            ("spaces only", "   ", Empty),
            ("ideographic spaces only", "\u{3000}\u{3000}", Empty),
            ("inner space", "a b@c.com", Invalid),
            ("space before @", "ab @c.com", Invalid),
            ("no dot in domain", "a@b", Invalid),
            ("no local part", "@b.c", Invalid),
            ("empty domain label", "a@.c", Invalid),
            ("nothing after @", "a@", Invalid),
            ("empty first label", "a@.co", Invalid),
            ("empty middle label", "a@b..co", Invalid),
            ("trailing dot", "a@b.co.", Invalid),
            ("no @", "ab.co", Invalid),
            ("two @", "a@b@c.co", Invalid),
            ("NUL", "a\0@b.co", ControlCharacter),
            ("NUL at the end", "a@b.co\0", ControlCharacter),
            ("DEL", "a\u{7f}@b.co", ControlCharacter),
            ("NEL", "a@b.co\u{85}x", ControlCharacter),
            (
                "line separator",
                "a@b.co\u{2028}Bcc: x@y.z",
                ControlCharacter,
            ),
            ("paragraph separator", "a\u{2029}@b.co", ControlCharacter),
            ("zero-width space", "a\u{200b}@b.co", ControlCharacter),
            ("right-to-left override", "a@\u{202e}oc.b", ControlCharacter),
            (
                "soft hyphen in domain",
                "a@ex\u{ad}ample.com",
                ControlCharacter,
            ),
            ("byte order mark", "\u{feff}a@b.co", ControlCharacter),
            ("leading dot", ".a@b.co", Invalid),
            ("trailing dot in local part", "a.@b.co", Invalid),
            ("double dot", "a..b@c.co", Invalid),
            ("comment", "a(x)@b.co", Invalid),
            ("comma list", "a@b.co,c@d.co", Invalid),
            ("semicolon list", "a@b.co;c@d.co", Invalid),
            ("colon (group syntax)", "g:a@b.co;", Invalid),
            ("backslash", "a\\b@c.co", Invalid),
            ("non-ASCII local part", "たろう@example.jp", Invalid),
            ("underscore in domain", "a@b_c.com", Invalid),
            ("leading hyphen label", "a@-b.com", Invalid),
            ("trailing hyphen label", "a@b-.com", Invalid),
            ("full-width header injection", "a@b.co＼r＼n", Invalid),
            ("full-width display name", "＂Evil＂ ＜a@b.co＞", Invalid),
            ("encoded word", "=?utf-8?q?a?=@b.co", Invalid),
            ("encoded word inside", "x=?utf-8?b?QQ==?=@b.co", Invalid),
        ];
        for (name, input, want) in cases {
            assert_eq!(EmailAddress::parse(input), Err(*want), "{name}: {input:?}");
        }
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("User@Example.COM", "User@example.com"),
            ("  user@example.com\t", "user@example.com"),
            ("\u{3000}user@example.com\u{3000}", "user@example.com"),
            ("user@bücher.de", "user@xn--bcher-kva.de"),
            ("user@BÜCHER.de", "user@xn--bcher-kva.de"),
            ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
            ("user@XN--BCHER-KVA.DE", "user@xn--bcher-kva.de"),
            ("ｕｓｅｒ＠ｅｘａｍｐｌｅ．ｃｏｍ", "user@example.com"),
            ("taro@例え.jp", "taro@xn--r8jz45g.jp"),
            (
                "first.last+tag@sub.example.co.jp",
                "first.last+tag@sub.example.co.jp",
            ),
            ("o'brien@example.ie", "o'brien@example.ie"),
            (
                "a!#$%&'*+-/?^_`{|}~=z@example.com",
                "a!#$%&'*+-/?^_`{|}~=z@example.com",
            ),
        ];
        for (input, want) in cases {
            let got = EmailAddress::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got.as_str(), want, "{input:?}");
            let again = EmailAddress::parse(got.as_str()).unwrap();
            assert_eq!(again, got, "parsing {want:?} again");
        }
    }

    #[test]
    fn comparison_uses_the_canonical_form() {
        let parse = |s| EmailAddress::parse(s).unwrap();
        assert_eq!(parse("User@Example.COM"), parse("User@example.com"));
        assert_eq!(parse("user@bücher.de"), parse("user@xn--bcher-kva.de"));
        // The local part may be case-sensitive: no rewriting.
        assert_ne!(parse("User@example.com"), parse("user@example.com"));
        // A homoglyph domain (Cyrillic "е") is a different domain.
        assert_ne!(parse("user@\u{0435}xample.com"), parse("user@example.com"));
        assert!(parse("user@\u{0435}xample.com").as_str().contains("xn--"));
    }

    #[test]
    fn masking_reveals_only_first_characters_and_no_length() {
        let long_local = "a".repeat(64);
        let long_domain = format!("a@{}.{}.org", "a".repeat(63), "b".repeat(60));
        let cases: &[(&str, &str)] = &[
            ("taro@example.com", "t***@e***.com"),
            ("t@e.com", "t***@e***.com"),
            ("t@ex.com", "t***@e***.com"),
            ("taro.yamada.long.name@example.com", "t***@e***.com"),
            ("taro@example-with-a-very-long-name.com", "t***@e***.com"),
            ("taro@mail.example.com", "t***@m***.com"),
            ("taro@a.b.c.d.example.com", "t***@a***.com"),
            ("someone.long@mail.example.org", "s***@m***.org"),
            ("a@a.org", "a***@a***.org"),
            (&long_domain, "a***@a***.org"),
            ("a@b.co.jp", "a***@b***.jp"),
            ("user@bücher.de", "u***@x***.de"),
            ("Taro@Example.COM", "T***@e***.com"),
        ];
        for (input, want) in cases {
            let a = EmailAddress::parse(input).unwrap();
            assert_eq!(a.masked(), *want, "{input}");
            assert_eq!(format!("{a:?}"), format!("EmailAddress({want})"));
        }
        let long = EmailAddress::parse(&format!("{long_local}@example.com")).unwrap();
        assert_eq!(long.masked(), "a***@e***.com");
    }

    proptest! {
        /// Whatever the lengths, the mask has one shape: only the top-level
        /// label's length shows.
        #[test]
        fn masks_have_one_shape(
            local in "[a-z][a-z0-9.]{0,40}[a-z]",
            labels in prop::collection::vec("[a-z][a-z0-9]{0,30}", 1..5),
            tld in "[a-z]{2,6}",
        ) {
            let input = format!("{local}@{}.{tld}", labels.join("."));
            prop_assume!(!local.contains(".."));
            let Ok(a) = EmailAddress::parse(&input) else { return Ok(()) };
            let want = format!("{}***@{}***.{tld}", &local[..1], &labels[0][..1]);
            prop_assert_eq!(a.masked(), want);
        }
    }

    fn header_block(bytes: &[u8]) -> String {
        let text = String::from_utf8(bytes.to_vec()).expect("message is ASCII/UTF-8");
        let (head, _body) = text
            .split_once("\r\n\r\n")
            .expect("a blank line ends the headers");
        head.to_owned()
    }

    fn mail_to(to: EmailAddress) -> OtpMail {
        let kind = MailKind::Code {
            code: Code::generate(6),
            valid_for: std::time::Duration::from_secs(300),
        };
        OtpMail::new(to, kind, Locale::Ja, "Ticket Site")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Checklist 5.3: whatever a person types, an accepted address gives a
        /// message with exactly one `To:`, no `Cc:`/`Bcc:`, and one header block.
        #[test]
        fn accepted_addresses_make_one_recipient_messages(
            input in prop_oneof![
                "[ \t\r\n\0\"<>()\\[\\],;:@.a-zA-Z0-9!#$%&'*+/=?^_`{|}~\u{2028}\u{3000}ü-]{0,40}",
                "[a-zA-Z0-9.+_-]{1,20}[\r\n\u{2028}\0 ]?@[a-zA-Zü0-9-]{1,12}\\.[a-zA-Z]{2,6}(\r\n[A-Za-z]{2,5}: [a-z@.]{1,10})?",
                "\"?[a-z\r\n ]{1,8}\"?@[a-z]{1,8}\\.[a-z]{2,3}",
                "[A-Za-z ]{0,8} ?<[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,3}>",
            ]
        ) {
            let Ok(to) = EmailAddress::parse(&input) else { return Ok(()) };
            prop_assert!(!to.as_str().contains(['\r', '\n', '\0', ' ', '<', '>', '"', ',']));
            let again = EmailAddress::parse(to.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&to));
            let from = "Ticket Site <noreply@tickets.example>".parse().unwrap();
            let message = build_message(&mail_to(to.clone()), &from).unwrap();
            let head = header_block(&message.formatted());
            let mut to_headers = 0;
            for line in head.split("\r\n") {
                prop_assert!(!line.is_empty(), "blank line inside the header block");
                prop_assert!(!line.contains(['\r', '\n']), "bare CR or LF in {:?}", line);
                if line.starts_with([' ', '\t']) {
                    continue; // folded continuation
                }
                let (name, value) = line.split_once(':').expect("a header line");
                let name = name.to_ascii_lowercase();
                prop_assert!(name != "cc" && name != "bcc", "{}", line);
                if name == "to" {
                    to_headers += 1;
                    prop_assert_eq!(value.trim(), to.as_str());
                }
            }
            prop_assert_eq!(to_headers, 1);
        }
    }
}
