//! Address validation and normalisation: never a panic; an accepted address
//! holds no control, space or non-printing character, fits 254 bytes, has a
//! lower-case domain, and parses again to itself (idempotent); its masked
//! form never shows the whole local part or domain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_otp::{EmailAddress, MAX_ADDRESS_BYTES};

fuzz_target!(|input: &str| {
    let Ok(address) = EmailAddress::parse(input) else {
        return;
    };
    let text = address.as_str();
    assert!(text.len() <= MAX_ADDRESS_BYTES);
    assert!(
        !text.chars().any(|c| c.is_control() || c.is_whitespace()),
        "{text:?}"
    );
    let (local, domain) = text.rsplit_once('@').expect("one @");
    assert!(!local.is_empty() && !domain.is_empty());
    assert!(local.is_ascii(), "{text:?}");
    assert_eq!(domain, domain.to_lowercase(), "{text:?}");
    assert!(!text.contains(['<', '>', '"', '(', ')', ',', ';', '[', ']', '\\']));
    let again = EmailAddress::parse(text).expect("canonical address parses again");
    assert_eq!(again, address, "parse is idempotent");
    // The masked form shows the first character of the local part only.
    let masked = address.masked();
    let first = local.chars().next().expect("non-empty");
    assert!(masked.starts_with(&format!("{first}***@")), "{masked:?}");
});
